//! The lake sink's config keys, read and checked once when a task opens.

use connectd_sdk::{Config, Configurable, ConnectorError};
use parquet::basic::{Compression, GzipLevel};

use crate::columns::Kind;
use crate::file::{Format, KafkaColumn};
use crate::partitioner::{Extractor, Partitioner, parse_path_format, parse_timezone};

/// lake-sink's keys.
#[derive(Configurable)]
#[config(deny_unknown_keys)]
pub struct LakeSinkConfig {
    /// Where the lake is: a folder (relative to the connector file's folder, or
    /// `file:///abs/path`), `s3://bucket/prefix`, `hdfs://namenode:port/path`,
    /// `gs://bucket/prefix`, `az://container/prefix`. The connector reaches nothing outside it
    /// (in a local folder, objects reached through a symbolic link are refused and left out of
    /// listings).
    #[config(key = "store.url")]
    #[grant(store_url)]
    pub store_url: String,
    /// Comma-separated topics to read.
    pub topics: Vec<String>,
    /// The folder under `store.url` every topic's folder is in.
    #[config(key = "topics.dir", default = "topics")]
    pub topics_dir: String,
    /// `parquet` or `json` (JSON lines: each value as it came, one a line); Confluent's
    /// `...ParquetFormat` / `...JsonFormat` names work too.
    #[config(key = "format.class", default = "parquet")]
    pub format_class: FormatClass,
    /// `snappy`, `gzip`, `lz4` (LZ4_RAW) or `none`. `zstd` is refused: its C library does not
    /// build for WebAssembly.
    #[config(key = "parquet.codec", default = "snappy")]
    pub parquet_codec: Codec,
    /// Records per Parquet row group.
    #[config(key = "parquet.row.group.records", default = 100000, minimum = 1)]
    pub row_group_records: usize,
    /// Records of a partition after which all its files are completed.
    #[config(key = "flush.size", default = 100000, minimum = 1)]
    pub flush_size: u64,
    /// Complete a partition's files when a record's time is this far (ms) past the first
    /// record's in them.
    #[config(key = "rotate.interval.ms", minimum = 1, default_doc = "none")]
    pub rotate_interval_ms: Option<i64>,
    /// Complete a partition's files this long (ms, wall clock) after their first record came,
    /// so a quiet topic still lands; not repeatable after a crash.
    #[config(key = "rotate.schedule.interval.ms", minimum = 1, default_doc = "none")]
    pub rotate_schedule_ms: Option<i64>,
    /// Complete a file once its encoded size reaches this (checked at row group ends).
    #[config(key = "rotate.size.bytes", default = 268435456, minimum = 1)]
    pub rotate_size_bytes: u64,
    /// `default` (`partition=<n>`), `field` (`<field>=<value>`), `time` (`path.format`);
    /// Confluent's `DefaultPartitioner`, `FieldPartitioner`, `TimeBasedPartitioner` names work
    /// too.
    #[config(key = "partitioner.class", default = "default")]
    pub partitioner_class: PartitionerClass,
    /// Comma-separated fields (nested with dots) to make folders of; values are escaped as
    /// Hive does, a missing or null one is `__HIVE_DEFAULT_PARTITION__`.
    #[config(key = "partition.field.name", default_doc = "required by `field`")]
    pub partition_field_name: Option<Vec<String>>,
    /// Joda-style folders, e.g. `'dt'=YYYY-MM-dd/'hr'=HH`: quoted text, `YYYY`, `MM`, `dd`,
    /// `HH`, `mm`, `ss`.
    #[config(key = "path.format", default_doc = "required by `time`")]
    pub path_format: Option<String>,
    /// Floor each time to this many ms (in `timezone`) before formatting.
    #[config(key = "partition.duration.ms", default = 0, minimum = 0)]
    pub partition_duration_ms: i64,
    /// The time of a record: `Record` (its Kafka timestamp), `RecordField`
    /// (`timestamp.field`), `Wallclock` (when it is written; not repeatable).
    #[config(key = "timestamp.extractor", default = "Record")]
    pub timestamp_extractor: ExtractorName,
    /// The value's field (nested with dots) holding the time: ms since the epoch or an RFC
    /// 3339 string.
    #[config(key = "timestamp.field", default_doc = "required by `RecordField`")]
    pub timestamp_field: Option<String>,
    /// The time zone of `path.format`: `UTC` or an IANA name such as `America/New_York`.
    #[config(default = "UTC")]
    pub timezone: String,
    /// Folders one partition may have open at once.
    #[config(key = "partitioner.max.open.files", default = 64, minimum = 1)]
    pub max_open_files: usize,
    /// The value schema as JSON: `{"id": "int64", "at": "timestamp", "tags": ["string"],
    /// "geo": {"lat": "float64"}}` with types `boolean`, `int32`, `int64`, `float64`, `string`,
    /// `timestamp` (ms or RFC 3339 in the record); a field not declared is a bad record.
    #[config(default_doc = "inferred")]
    pub schema: Option<String>,
    /// Comma-separated Kafka columns to add after the value's: `topic`, `partition`,
    /// `offset`, `timestamp`, `key`, `headers` (as `kafka_topic`, ...; keys and headers as
    /// UTF-8 text).
    #[config(key = "kafka.columns", default_doc = "none")]
    pub kafka_columns: Option<Vec<String>>,
    /// A record with a null value (a tombstone): `ignore` skips it, `fail` makes it a bad
    /// record.
    #[config(key = "behavior.on.null.values", default = "ignore")]
    pub behavior_on_null_values: OnNull,
    /// The bucket's region.
    #[config(key = "s3.region", default_doc = "`AWS_REGION`, else `us-east-1`")]
    pub s3_region: Option<String>,
    /// An S3-compatible server, e.g. `http://127.0.0.1:9000` (MinIO, moto); one the worker
    /// lists in worker.toml `store_s3_endpoints`.
    #[config(key = "s3.endpoint", default_doc = "AWS")]
    pub s3_endpoint: Option<String>,
    /// `bucket` in the path rather than the host name.
    #[config(key = "s3.path.style.access.enabled", default = true)]
    pub s3_path_style: bool,
    /// The access key (without it, the `AWS_*` environment, then the `aws.profile` profile
    /// of `~/.aws/credentials`).
    #[config(key = "aws.access.key.id", default_doc = "`AWS_ACCESS_KEY_ID`", secret)]
    pub aws_access_key_id: Option<String>,
    /// The secret key; put it in `${env:...}` or `${file:...}`.
    #[config(
        key = "aws.secret.access.key",
        default_doc = "`AWS_SECRET_ACCESS_KEY`",
        secret
    )]
    pub aws_secret_access_key: Option<String>,
    /// A session token for temporary keys.
    #[config(key = "aws.session.token", default_doc = "`AWS_SESSION_TOKEN`", secret)]
    pub aws_session_token: Option<String>,
    /// The profile to read keys from; one the worker lists in worker.toml
    /// `store_aws_profiles`.
    #[config(key = "aws.profile", default_doc = "`AWS_PROFILE`, else `default`")]
    pub aws_profile: Option<String>,
}

/// `format.class`.
#[derive(Configurable, Debug, Clone, Copy, PartialEq, Eq)]
pub enum FormatClass {
    #[config(alias = "io.confluent.connect.s3.format.parquet.ParquetFormat")]
    Parquet,
    #[config(alias = "io.confluent.connect.s3.format.json.JsonFormat")]
    Json,
}

/// `parquet.codec`.
#[derive(Configurable, Debug, Clone, Copy, PartialEq, Eq)]
pub enum Codec {
    Snappy,
    Gzip,
    Lz4,
    #[config(alias = "uncompressed")]
    None,
    Zstd,
}

/// `partitioner.class`.
#[derive(Configurable, Debug, Clone, Copy, PartialEq, Eq)]
pub enum PartitionerClass {
    #[config(
        alias = "DefaultPartitioner",
        alias = "io.confluent.connect.storage.partitioner.DefaultPartitioner"
    )]
    Default,
    #[config(
        alias = "FieldPartitioner",
        alias = "io.confluent.connect.storage.partitioner.FieldPartitioner"
    )]
    Field,
    #[config(
        alias = "TimeBasedPartitioner",
        alias = "io.confluent.connect.storage.partitioner.TimeBasedPartitioner"
    )]
    Time,
}

/// `timestamp.extractor`.
#[derive(Configurable, Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExtractorName {
    #[config(name = "Record")]
    Record,
    #[config(name = "RecordField")]
    RecordField,
    #[config(name = "Wallclock")]
    Wallclock,
}

/// `behavior.on.null.values`.
#[derive(Configurable, Debug, Clone, Copy, PartialEq, Eq)]
pub enum OnNull {
    Ignore,
    Fail,
}

/// Key families handed to the host's `object-store` open as options (the host knows which
/// keys of them exist, and refuses the others naming them).
const STORE_OPTION_PREFIXES: &[&str] = &["s3.", "aws."];

/// Everything a task needs from its config.
#[derive(Debug, Clone)]
pub struct Settings {
    pub store_url: String,
    pub store_options: Vec<(String, String)>,
    pub topics_dir: String,
    pub format: Format,
    pub row_group_records: usize,
    pub flush_size: u64,
    pub rotate_interval_ms: Option<i64>,
    pub rotate_schedule_ms: Option<i64>,
    pub rotate_size_bytes: u64,
    pub partitioner: Partitioner,
    pub extractor: Extractor,
    pub max_open_files: usize,
    /// The declared value schema; `None` infers it from the records.
    pub schema: Option<Kind>,
    pub kafka_columns: Vec<KafkaColumn>,
    pub fail_on_null: bool,
}

fn invalid(key: &str, message: impl std::fmt::Display) -> ConnectorError {
    ConnectorError::InvalidConfig(format!("key `{key}`: {message}"))
}

/// A list of dotted field names as paths.
fn paths(list: &[String]) -> Vec<Vec<String>> {
    list.iter()
        .map(|f| f.split('.').map(str::to_string).collect())
        .collect()
}

impl Settings {
    /// The keys parsed, then the checks that span keys (a partitioner's own keys) or need
    /// more than a type (paths, time zones, schemas).
    pub fn read(config: &Config) -> Result<Settings, ConnectorError> {
        let keys: LakeSinkConfig = config.parse()?;
        let store_options: Vec<(String, String)> = config
            .pairs()
            .iter()
            .filter(|(k, _)| STORE_OPTION_PREFIXES.iter().any(|p| k.starts_with(p)))
            .cloned()
            .collect();
        let topics_dir = keys.topics_dir.trim_matches('/').to_string();
        if topics_dir.is_empty() || topics_dir.split('/').any(|s| s.is_empty() || s == "..") {
            return Err(invalid(
                "topics.dir",
                "expected a relative folder such as topics",
            ));
        }
        let compression = match keys.parquet_codec {
            Codec::Snappy => Compression::SNAPPY,
            Codec::Gzip => Compression::GZIP(GzipLevel::default()),
            Codec::Lz4 => Compression::LZ4_RAW,
            Codec::None => Compression::UNCOMPRESSED,
            Codec::Zstd => {
                return Err(invalid(
                    "parquet.codec",
                    "zstd is not available: its C library does not build for WebAssembly; use snappy, gzip, lz4 or none",
                ));
            }
        };
        let format = match keys.format_class {
            FormatClass::Parquet => Format::Parquet(compression),
            FormatClass::Json => Format::Json,
        };
        let extractor = match keys.timestamp_extractor {
            ExtractorName::Record => Extractor::Record,
            ExtractorName::Wallclock => Extractor::Wallclock,
            ExtractorName::RecordField => {
                let field = keys.timestamp_field.as_deref().ok_or_else(|| {
                    invalid("timestamp.field", "missing: timestamp.extractor = RecordField reads the time from this field of the value")
                })?;
                Extractor::Field(field.split('.').map(str::to_string).collect())
            }
        };
        let partitioner = match keys.partitioner_class {
            PartitionerClass::Default => Partitioner::Default,
            PartitionerClass::Field => {
                let names = paths(keys.partition_field_name.as_deref().unwrap_or_default());
                if names.is_empty() {
                    return Err(invalid(
                        "partition.field.name",
                        "missing: the field partitioner needs the fields to split by (comma-separated)",
                    ));
                }
                Partitioner::Field(names)
            }
            PartitionerClass::Time => {
                let format = keys.path_format.as_deref().ok_or_else(|| {
                    invalid("path.format", "missing: the time partitioner needs a format such as 'dt'=YYYY-MM-dd/'hr'=HH")
                })?;
                Partitioner::Time {
                    format: parse_path_format(format).map_err(|e| invalid("path.format", e))?,
                    duration_ms: keys.partition_duration_ms,
                    timezone: parse_timezone(&keys.timezone).map_err(|e| invalid("timezone", e))?,
                }
            }
        };
        let schema = match &keys.schema {
            Some(text) => Some(crate::infer::declared(text).map_err(|e| invalid("schema", e))?),
            None => None,
        };
        let mut kafka_columns = Vec::new();
        for name in keys.kafka_columns.iter().flatten() {
            let Some(c) = KafkaColumn::ALL.into_iter().find(|c| c.key() == name) else {
                return Err(invalid(
                    "kafka.columns",
                    format!(
                        "{name:?}: expected some of topic, partition, offset, timestamp, key, headers"
                    ),
                ));
            };
            kafka_columns.push(c);
        }
        Ok(Settings {
            store_url: keys.store_url,
            store_options,
            topics_dir,
            format,
            row_group_records: keys.row_group_records,
            flush_size: keys.flush_size,
            rotate_interval_ms: keys.rotate_interval_ms,
            rotate_schedule_ms: keys.rotate_schedule_ms,
            rotate_size_bytes: keys.rotate_size_bytes,
            partitioner,
            extractor,
            max_open_files: keys.max_open_files,
            schema,
            kafka_columns,
            fail_on_null: keys.behavior_on_null_values == OnNull::Fail,
        })
    }
}

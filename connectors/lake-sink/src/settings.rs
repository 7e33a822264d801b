//! The lake sink's config keys, read and checked once when a task opens.

use connectd_sdk::{Config, ConnectorError};
use parquet::basic::{Compression, GzipLevel};

use crate::columns::Kind;
use crate::file::{Format, KafkaColumn};
use crate::partitioner::{Extractor, Partitioner, parse_path_format, parse_timezone};

/// The config schema (JSON Schema) the worker checks before a task opens.
pub const SCHEMA: &str = r#"{"type":"object","required":["store.url","topics"],"additionalProperties":false,
"patternProperties":{"^hdfs\\.":{"type":"string"}},
"properties":{
"store.url":{"type":"string","x-connectd-grant":"store-url"},
"topics":{"type":"string"},
"topics.dir":{"type":"string","default":"topics"},
"format.class":{"enum":["parquet","json"],"default":"parquet"},
"parquet.codec":{"enum":["snappy","gzip","lz4","none","zstd"],"default":"snappy"},
"parquet.row.group.records":{"type":"integer","minimum":1,"default":100000},
"flush.size":{"type":"integer","minimum":1,"default":100000},
"rotate.interval.ms":{"type":"integer","minimum":1},
"rotate.schedule.interval.ms":{"type":"integer","minimum":1},
"rotate.size.bytes":{"type":"integer","minimum":1,"default":268435456},
"partitioner.class":{"type":"string","default":"default"},
"partition.field.name":{"type":"string"},
"path.format":{"type":"string"},
"partition.duration.ms":{"type":"integer","minimum":0,"default":0},
"timestamp.extractor":{"enum":["Record","RecordField","Wallclock"],"default":"Record"},
"timestamp.field":{"type":"string"},
"timezone":{"type":"string","default":"UTC"},
"partitioner.max.open.files":{"type":"integer","minimum":1,"default":64},
"schema":{"type":"string"},
"kafka.columns":{"type":"string"},
"behavior.on.null.values":{"enum":["ignore","fail"],"default":"ignore"},
"s3.region":{"type":"string"},
"s3.endpoint":{"type":"string"},
"s3.path.style.access.enabled":{"type":"boolean","default":true},
"aws.access.key.id":{"type":"string"},
"aws.secret.access.key":{"type":"string"},
"aws.session.token":{"type":"string"},
"aws.profile":{"type":"string"}}}"#;

/// Key families handed to the host's `object-store` open as options (the host knows which
/// keys of them exist, and refuses the others naming them).
const STORE_OPTION_PREFIXES: &[&str] = &["s3.", "aws.", "hdfs."];

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

fn positive(config: &Config, key: &str) -> Result<Option<i64>, ConnectorError> {
    match config.get(key) {
        None => Ok(None),
        Some(v) => match v.trim().parse::<i64>() {
            Ok(n) if n > 0 => Ok(Some(n)),
            _ => Err(invalid(key, format!("{v:?} is not a positive integer"))),
        },
    }
}

fn fields(list: &str) -> Vec<Vec<String>> {
    list.split(',')
        .map(str::trim)
        .filter(|f| !f.is_empty())
        .map(|f| f.split('.').map(str::to_string).collect())
        .collect()
}

impl Settings {
    pub fn read(config: &Config) -> Result<Settings, ConnectorError> {
        let store_url = config.required("store.url")?.to_string();
        let store_options: Vec<(String, String)> = config
            .pairs()
            .iter()
            .filter(|(k, _)| STORE_OPTION_PREFIXES.iter().any(|p| k.starts_with(p)))
            .cloned()
            .collect();
        let topics_dir = config
            .get("topics.dir")
            .unwrap_or("topics")
            .trim_matches('/')
            .to_string();
        if topics_dir.is_empty() || topics_dir.split('/').any(|s| s.is_empty() || s == "..") {
            return Err(invalid(
                "topics.dir",
                "expected a relative folder such as topics",
            ));
        }
        let compression = match config.get("parquet.codec").unwrap_or("snappy") {
            "snappy" => Compression::SNAPPY,
            "gzip" => Compression::GZIP(GzipLevel::default()),
            "lz4" => Compression::LZ4_RAW,
            "none" | "uncompressed" => Compression::UNCOMPRESSED,
            "zstd" => {
                return Err(invalid(
                    "parquet.codec",
                    "zstd is not available: its C library does not build for WebAssembly; use snappy, gzip, lz4 or none",
                ));
            }
            other => {
                return Err(invalid(
                    "parquet.codec",
                    format!("{other:?}: expected snappy, gzip, lz4 or none"),
                ));
            }
        };
        let format = match config.get("format.class").unwrap_or("parquet") {
            "parquet" | "io.confluent.connect.s3.format.parquet.ParquetFormat" => {
                Format::Parquet(compression)
            }
            "json" | "io.confluent.connect.s3.format.json.JsonFormat" => Format::Json,
            other => {
                return Err(invalid(
                    "format.class",
                    format!("{other:?}: expected parquet or json"),
                ));
            }
        };
        let extractor = match config.get("timestamp.extractor").unwrap_or("Record") {
            "Record" => Extractor::Record,
            "Wallclock" => Extractor::Wallclock,
            "RecordField" => {
                let field = config.get("timestamp.field").ok_or_else(|| {
                    invalid("timestamp.field", "missing: timestamp.extractor = RecordField reads the time from this field of the value")
                })?;
                Extractor::Field(field.split('.').map(str::to_string).collect())
            }
            other => {
                return Err(invalid(
                    "timestamp.extractor",
                    format!("{other:?}: expected Record, RecordField or Wallclock"),
                ));
            }
        };
        let class = config.get("partitioner.class").unwrap_or("default");
        let short = class.rsplit('.').next().unwrap_or(class);
        let partitioner = match short {
            "default" | "DefaultPartitioner" => Partitioner::Default,
            "field" | "FieldPartitioner" => {
                let names = config
                    .get("partition.field.name")
                    .map(fields)
                    .unwrap_or_default();
                if names.is_empty() {
                    return Err(invalid(
                        "partition.field.name",
                        "missing: the field partitioner needs the fields to split by (comma-separated)",
                    ));
                }
                Partitioner::Field(names)
            }
            "time" | "TimeBasedPartitioner" => {
                let format = config.get("path.format").ok_or_else(|| {
                    invalid("path.format", "missing: the time partitioner needs a format such as 'dt'=YYYY-MM-dd/'hr'=HH")
                })?;
                Partitioner::Time {
                    format: parse_path_format(format).map_err(|e| invalid("path.format", e))?,
                    duration_ms: config.parse_or("partition.duration.ms", 0i64)?,
                    timezone: parse_timezone(config.get("timezone").unwrap_or("UTC"))
                        .map_err(|e| invalid("timezone", e))?,
                }
            }
            other => {
                return Err(invalid(
                    "partitioner.class",
                    format!(
                        "{other:?}: expected default, field or time (or Confluent's DefaultPartitioner, FieldPartitioner, TimeBasedPartitioner)"
                    ),
                ));
            }
        };
        let schema = match config.get("schema") {
            Some(text) => Some(crate::infer::declared(text).map_err(|e| invalid("schema", e))?),
            None => None,
        };
        let mut kafka_columns = Vec::new();
        for name in config
            .get("kafka.columns")
            .unwrap_or("")
            .split(',')
            .map(str::trim)
        {
            if name.is_empty() {
                continue;
            }
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
        let fail_on_null = match config.get("behavior.on.null.values").unwrap_or("ignore") {
            "ignore" => false,
            "fail" => true,
            other => {
                return Err(invalid(
                    "behavior.on.null.values",
                    format!("{other:?}: expected ignore or fail"),
                ));
            }
        };
        let count = |key: &str, default: u64| -> Result<u64, ConnectorError> {
            Ok(positive(config, key)?.map_or(default, |n| n as u64))
        };
        Ok(Settings {
            store_url,
            store_options,
            topics_dir,
            format,
            row_group_records: count("parquet.row.group.records", 100_000)? as usize,
            flush_size: count("flush.size", 100_000)?,
            rotate_interval_ms: positive(config, "rotate.interval.ms")?,
            rotate_schedule_ms: positive(config, "rotate.schedule.interval.ms")?,
            rotate_size_bytes: count("rotate.size.bytes", 256 << 20)?,
            partitioner,
            extractor,
            max_open_files: count("partitioner.max.open.files", 64)? as usize,
            schema,
            kafka_columns,
            fail_on_null,
        })
    }
}

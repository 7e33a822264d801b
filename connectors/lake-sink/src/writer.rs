//! The files of one topic partition: which file each record goes to, when files rotate, and
//! what offset the group may commit.
//!
//! Exactly-once rests on one rule: every decision is a function of the records from the
//! offset the group last committed, and the commit only ever names an offset where this
//! partition had no file open. A replay after a crash then starts from an empty state, meets
//! the same records and cuts the same files, under the same names
//! (`<topic>+<partition>+<first offset>`): it overwrites what the crashed run completed with
//! the same bytes and completes what it did not. So rotation closes every file of the
//! partition at once (Confluent's S3 sink does the same), except a schema change or the size
//! cap, which close one file at a point the records decide. Wall-clock rotation
//! (`rotate.schedule.interval.ms`) and the wall-clock extractor are not repeatable, as in
//! Confluent's sink.

use connectd_sdk::object_store::{Bucket, StoreError};
use connectd_sdk::{ConnectorError, SinkRecordRef};
use serde_json::Value;

use crate::columns::{Kind, Misfit};
use crate::file::{FileError, OpenFile};
use crate::infer::{Node, infer, merge};
use crate::partitioner::{Extractor, time_of};
use crate::settings::Settings;

/// One topic partition's writer.
pub struct PartitionWriter {
    topic: String,
    partition: i32,
    files: Vec<OpenFile>,
    /// The offset after the last record handled (records below it are not taken twice when
    /// the host puts a batch again record by record).
    next_offset: Option<i64>,
    /// The first offset of the records in the open files, counted for `flush.size`, and the
    /// first one's time (for `rotate.interval.ms`) and the wall clock when it came.
    segment: Option<Segment>,
    /// A reusable folder buffer.
    folder: String,
    /// Where in `files` the last record went (checked before use: files come and go).
    last_file: usize,
}

struct Segment {
    start: i64,
    records: u64,
    first_time: i64,
    opened_ms: i64,
}

/// The wall clock in milliseconds.
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

/// A store error while writing: the open files are lost with it, so the task restarts and the
/// group replays them from the committed offset.
fn store_failed(what: &str, e: StoreError) -> ConnectorError {
    ConnectorError::Fatal(format!("{what}: {e}"))
}

fn file_error(what: &str, e: FileError) -> ConnectorError {
    match e {
        FileError::Store(e) => store_failed(what, e),
        FileError::Encode(m) => ConnectorError::Fatal(format!("{what}: {m}")),
        FileError::Misfit(m) => ConnectorError::BadRecord(m.to_string()),
    }
}

impl PartitionWriter {
    pub fn new(topic: &str, partition: i32) -> PartitionWriter {
        PartitionWriter {
            topic: topic.to_string(),
            partition,
            files: Vec::new(),
            next_offset: None,
            segment: None,
            folder: String::new(),
            last_file: 0,
        }
    }

    /// Whether this is the writer of `topic`'s `partition`.
    pub fn is(&self, topic: &str, partition: i32) -> bool {
        self.partition == partition && self.topic == topic
    }

    /// The offset the group may commit: the first offset of the open files, or, with none
    /// open, the offset after the last record handled.
    pub fn committable(&self) -> Option<i64> {
        self.segment.as_ref().map(|s| s.start).or(self.next_offset)
    }

    fn object_name(&self, settings: &Settings, folder: &str, start: i64) -> String {
        format!(
            "{}/{}/{folder}/{}+{}+{start:020}.{}",
            settings.topics_dir,
            self.topic,
            self.topic,
            self.partition,
            settings.format.extension()
        )
    }

    /// Completes every open file of the partition.
    pub fn rotate_all(&mut self, settings: &Settings) -> Result<(), ConnectorError> {
        for file in std::mem::take(&mut self.files) {
            let name = self.object_name(settings, &file.folder, file.start_offset);
            file.complete()
                .map_err(|e| file_error(&format!("completing {name}"), e))?;
        }
        self.segment = None;
        Ok(())
    }

    /// Completes the files if `rotate.schedule.interval.ms` has passed since the segment's
    /// first record came.
    pub fn rotate_on_schedule(&mut self, settings: &Settings) -> Result<(), ConnectorError> {
        if let (Some(interval), Some(segment)) = (settings.rotate_schedule_ms, &self.segment)
            && now_ms() - segment.opened_ms >= interval
        {
            self.rotate_all(settings)?;
        }
        Ok(())
    }

    /// Gives up the open files (the task is closing without a flush).
    pub fn abort(&mut self) {
        for file in std::mem::take(&mut self.files) {
            file.abort();
        }
    }

    /// Handles one record of this partition. A bad record's message names the partition
    /// and offset.
    pub fn put(
        &mut self,
        settings: &Settings,
        bucket: &Bucket,
        record: &SinkRecordRef<'_>,
    ) -> Result<(), ConnectorError> {
        self.take(settings, bucket, record).map_err(|e| match e {
            ConnectorError::BadRecord(m) => ConnectorError::BadRecord(format!(
                "{}-{} offset {}: {m}",
                self.topic,
                self.partition,
                record.offset()
            )),
            other => other,
        })
    }

    fn take(
        &mut self,
        settings: &Settings,
        bucket: &Bucket,
        record: &SinkRecordRef<'_>,
    ) -> Result<(), ConnectorError> {
        let offset = record.offset();
        if self.next_offset.is_some_and(|next| offset < next) {
            return Ok(());
        }
        let Some(json) = record.value() else {
            if settings.fail_on_null {
                return Err(ConnectorError::BadRecord(
                    "a null value (tombstone); set behavior.on.null.values = ignore to skip them"
                        .into(),
                ));
            }
            self.next_offset = Some(offset + 1);
            return Ok(());
        };
        let json = crate::unwrap_envelope(json);
        let json = json.as_ref();
        let bad = ConnectorError::BadRecord;
        let parsed: Option<Value> = if settings.partitioner.reads_fields()
            || matches!(settings.extractor, Extractor::Field(_))
        {
            Some(serde_json::from_slice(json).map_err(|e| bad(format!("not JSON: {e}")))?)
        } else {
            None
        };
        let time = match &settings.extractor {
            Extractor::Record => record.timestamp_ms(),
            Extractor::Wallclock => now_ms(),
            Extractor::Field(path) => {
                time_of(parsed.as_ref().expect("parsed"), path).map_err(bad)?
            }
        };
        // A record this much later than the open files' first starts new files.
        if let (Some(s), Some(interval)) = (&self.segment, settings.rotate_interval_ms)
            && time - s.first_time >= interval
        {
            self.rotate_all(settings)?;
        }
        let mut folder = std::mem::take(&mut self.folder);
        settings
            .partitioner
            .path(self.partition, time, parsed.as_ref(), &mut folder);
        let result = self.append(settings, bucket, record, json, &folder, offset);
        self.folder = folder;
        result?;
        let segment = self.segment.get_or_insert(Segment {
            start: offset,
            records: 0,
            first_time: time,
            opened_ms: now_ms(),
        });
        segment.records += 1;
        self.next_offset = Some(offset + 1);
        if segment.records >= settings.flush_size {
            self.rotate_all(settings)?;
        }
        Ok(())
    }

    /// Appends to the folder's file, opening or widening it as needed.
    fn append(
        &mut self,
        settings: &Settings,
        bucket: &Bucket,
        record: &SinkRecordRef<'_>,
        json: &[u8],
        folder: &str,
        offset: i64,
    ) -> Result<(), ConnectorError> {
        // Most records go to the folder the one before went to.
        let last =
            Some(self.last_file).filter(|&i| self.files.get(i).is_some_and(|f| f.folder == folder));
        let index = match last.or_else(|| self.files.iter().position(|f| f.folder == folder)) {
            Some(i) => i,
            None => {
                if self.files.len() >= settings.max_open_files {
                    self.rotate_all(settings)?;
                }
                let schema = self.schema_for(settings, json, None)?;
                self.open(settings, bucket, folder, offset, schema)?
            }
        };
        let misfit = match self.files[index].push(record, json) {
            Ok(()) => None,
            Err(FileError::Misfit(m)) => Some(m),
            Err(e) => return Err(file_error("writing", e)),
        };
        let index = match misfit {
            None => index,
            Some(Misfit::Invalid(m)) => return Err(ConnectorError::BadRecord(m)),
            Some(misfit) => {
                // A new field (or a null column's first value): a new file with the wider
                // schema; a type change: the record is refused.
                let current = self.files[index].schema.clone();
                let wider = self.schema_for(settings, json, Some((&current, misfit)))?;
                let old = self.files.remove(index);
                let name = self.object_name(settings, folder, old.start_offset);
                old.complete()
                    .map_err(|e| file_error(&format!("completing {name}"), e))?;
                let i = self.open(settings, bucket, folder, offset, wider)?;
                self.files[i]
                    .push(record, json)
                    .map_err(|e| file_error("writing", e))?;
                i
            }
        };
        self.last_file = index;
        // Row groups end at fixed record counts, so the size cap is checked at the same
        // records in a replay.
        let file = &mut self.files[index];
        let group_full = file.row_group_full(settings.row_group_records);
        if !settings.format.is_json() && (group_full || file.chunk_full()) {
            file.encode().map_err(|e| file_error("encoding", e))?;
            if group_full {
                file.row_group_ended();
            }
        }
        if (group_full || settings.format.is_json()) && file.bytes() >= settings.rotate_size_bytes {
            let file = self.files.remove(index);
            file.complete()
                .map_err(|e| file_error("completing a full file", e))?;
        }
        Ok(())
    }

    /// The schema for a new file: the declared one, or the record's inferred one widened
    /// from `current` (the schema of the file it did not fit, and why).
    fn schema_for(
        &self,
        settings: &Settings,
        json: &[u8],
        current: Option<(&Kind, Misfit)>,
    ) -> Result<Kind, ConnectorError> {
        if let Some(declared) = &settings.schema {
            return match current {
                None => Ok(declared.clone()),
                Some((_, Misfit::NewField(f))) => Err(ConnectorError::BadRecord(format!(
                    "field {f} is not in the declared schema"
                ))),
                Some((_, m)) => Err(ConnectorError::BadRecord(m.to_string())),
            };
        }
        let value =
            Node::parse(json).map_err(|e| ConnectorError::BadRecord(format!("not JSON: {e}")))?;
        let kind = match infer(&value) {
            Kind::Struct(f) if !f.is_empty() => Kind::Struct(f),
            Kind::Null if matches!(value, Node::Object(_)) => {
                return Err(ConnectorError::BadRecord(
                    "an empty object: no field to write".into(),
                ));
            }
            other => {
                return Err(ConnectorError::BadRecord(format!(
                    "the value is {} where a JSON object was expected",
                    other.name()
                )));
            }
        };
        match current {
            None => Ok(kind),
            Some((schema, _)) => merge(schema, &kind, "").map_err(|m| {
                ConnectorError::BadRecord(format!(
                    "{m} (a field may gain fields and nulls may gain a type, but not change it)"
                ))
            }),
        }
    }

    fn open(
        &mut self,
        settings: &Settings,
        bucket: &Bucket,
        folder: &str,
        offset: i64,
        schema: Kind,
    ) -> Result<usize, ConnectorError> {
        let name = self.object_name(settings, folder, offset);
        let upload = bucket
            .upload(&name)
            .map_err(|e| store_failed(&format!("starting {name}"), e))?;
        let file = OpenFile::create(
            upload,
            folder.to_string(),
            offset,
            schema,
            &settings.kafka_columns,
            settings.format,
            settings.row_group_records,
        )
        .map_err(|e| file_error(&format!("starting {name}"), e))?;
        self.files.push(file);
        Ok(self.files.len() - 1)
    }
}

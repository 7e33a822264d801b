//! One file being written: rows gathered in typed columns, encoded as Parquet (row group by
//! row group) or JSON lines, and streamed to an upload that becomes visible only when the file
//! is complete.

use std::io::Write;
use std::sync::Arc;

use arrow_array::{Array, ArrayRef, RecordBatch, StructArray};
use arrow_schema::{Field, Schema};
use connectd_sdk::SinkRecordRef;
use connectd_sdk::object_store::{StoreError, Upload};
use parquet::arrow::ArrowWriter;
use parquet::basic::Compression;
use parquet::file::properties::WriterProperties;

use crate::columns::{Column, Kind, Misfit};
use crate::dictionary;

/// Bytes gathered before they are handed to the upload (the host sends 5 MiB parts).
const HANDOFF_BYTES: usize = 4 << 20;

/// The file format (`format.class`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Parquet(Compression),
    Json,
}

impl Format {
    pub fn is_json(self) -> bool {
        self == Format::Json
    }

    /// The file name extension.
    pub fn extension(self) -> &'static str {
        match self {
            Format::Parquet(_) => "parquet",
            Format::Json => "json",
        }
    }
}

/// The optional Kafka columns (`kafka.columns`), in the order they are written, after the
/// value's fields.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KafkaColumn {
    Topic,
    Partition,
    Offset,
    Timestamp,
    Key,
    Headers,
}

impl KafkaColumn {
    pub const ALL: [KafkaColumn; 6] = [
        KafkaColumn::Topic,
        KafkaColumn::Partition,
        KafkaColumn::Offset,
        KafkaColumn::Timestamp,
        KafkaColumn::Key,
        KafkaColumn::Headers,
    ];

    /// The name in `kafka.columns`.
    pub fn key(self) -> &'static str {
        match self {
            KafkaColumn::Topic => "topic",
            KafkaColumn::Partition => "partition",
            KafkaColumn::Offset => "offset",
            KafkaColumn::Timestamp => "timestamp",
            KafkaColumn::Key => "key",
            KafkaColumn::Headers => "headers",
        }
    }

    /// The column's name in the file.
    pub fn column(self) -> String {
        format!("kafka_{}", self.key())
    }

    fn kind(self) -> Kind {
        match self {
            KafkaColumn::Topic | KafkaColumn::Key => Kind::String,
            KafkaColumn::Partition => Kind::Int32,
            KafkaColumn::Offset => Kind::Int64,
            KafkaColumn::Timestamp => Kind::Timestamp,
            KafkaColumn::Headers => Kind::List(Box::new(Kind::Struct(vec![
                ("key".into(), Kind::String),
                ("value".into(), Kind::String),
            ]))),
        }
    }

    /// Appends the record's value of this column (keys and header values as UTF-8, invalid
    /// bytes replaced).
    fn push(self, column: &mut Column, record: &SinkRecordRef<'_>) {
        match (self, column) {
            (KafkaColumn::Topic, c) => c.push_str(record.topic()),
            (KafkaColumn::Key, c) => match record.key() {
                Some(k) => c.push_str(&String::from_utf8_lossy(k)),
                None => c.push_null(),
            },
            (KafkaColumn::Partition, Column::Int32(x, v)) => {
                x.push(record.partition());
                v.push(true);
            }
            (KafkaColumn::Offset, Column::Int64(x, v)) => {
                x.push(record.offset());
                v.push(true);
            }
            (KafkaColumn::Timestamp, Column::Timestamp(x, v)) => {
                x.push(record.timestamp_ms());
                v.push(true);
            }
            (
                KafkaColumn::Headers,
                Column::List {
                    offsets,
                    item,
                    valid,
                },
            ) => {
                if let Column::Struct {
                    children, valid: v, ..
                } = item.as_mut()
                {
                    for (k, value) in record.headers() {
                        children[0].push_str(&String::from_utf8_lossy(k));
                        children[1].push_str(&String::from_utf8_lossy(value));
                        v.push(true);
                    }
                }
                offsets.push(item.len() as i32);
                valid.push(true);
            }
            _ => {}
        }
    }
}

/// The upload a file streams into, in large pieces.
struct Uploader {
    upload: Option<Upload>,
    pending: Vec<u8>,
    /// The first store error: `Write` can only carry text.
    error: Option<StoreError>,
    written: u64,
}

impl Uploader {
    fn hand_off(&mut self) -> std::io::Result<()> {
        if self.pending.is_empty() {
            return Ok(());
        }
        let result = match self.upload.as_mut() {
            Some(u) => u.write(&self.pending),
            None => Err(StoreError::Other("the upload is closed".into())),
        };
        self.pending.clear();
        result.map_err(|e| {
            let text = e.to_string();
            self.error.get_or_insert(e);
            std::io::Error::other(text)
        })
    }

    /// An uploader with nothing behind it.
    fn closed() -> Uploader {
        Uploader {
            upload: None,
            pending: Vec::new(),
            error: None,
            written: 0,
        }
    }

    /// Gives the upload up: nothing becomes visible.
    fn abort(&mut self) {
        if let Some(u) = self.upload.take() {
            let _ = u.abort();
        }
    }

    fn complete(mut self) -> Result<(), StoreError> {
        if let Err(e) = self.hand_off() {
            return Err(self
                .error
                .take()
                .unwrap_or(StoreError::Other(e.to_string())));
        }
        match self.upload.take() {
            Some(u) => u.complete(),
            None => Ok(()),
        }
    }
}

impl Write for Uploader {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.pending.extend_from_slice(buf);
        self.written += buf.len() as u64;
        if self.pending.len() >= HANDOFF_BYTES {
            self.hand_off()?;
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

enum Output {
    /// A Parquet file whose encoder starts with the first chunk, which decides its dictionaries.
    ParquetFirstChunk {
        uploader: Uploader,
        compression: Compression,
        row_group_records: usize,
    },
    Parquet(Box<ArrowWriter<Uploader>>),
    Json(Uploader),
}

/// Rows handed to the Parquet encoder at a time (see [`OpenFile::chunk_full`]).
const ENCODE_ROWS: usize = 8192;
/// JSON bytes that hand the rows gathered to the encoder sooner (large records).
const ENCODE_BYTES: usize = 4 << 20;

/// A file of one topic partition in one folder, from its first offset on.
pub struct OpenFile {
    /// Its folder (the partitioner's path).
    pub folder: String,
    /// Its first record's offset.
    pub start_offset: i64,
    /// Records in it.
    pub records: u64,
    /// The schema of the values in it.
    pub schema: Kind,
    rows: Column,
    kafka: Vec<(KafkaColumn, Column)>,
    arrow_schema: Arc<Schema>,
    /// Rows in the row group being gathered.
    group_rows: usize,
    /// JSON bytes of the rows gathered and not yet handed to the encoder.
    gathered_bytes: usize,
    output: Output,
}

/// What went wrong with a file.
pub enum FileError {
    /// The record does not fit the file's schema.
    Misfit(Misfit),
    /// The store failed.
    Store(StoreError),
    /// The encoder failed.
    Encode(String),
}

impl OpenFile {
    /// Starts a file written to `upload`, with the value fields of `schema` (a struct) and the
    /// `kafka` columns.
    pub fn create(
        upload: Upload,
        folder: String,
        start_offset: i64,
        schema: Kind,
        kafka: &[KafkaColumn],
        format: Format,
        row_group_records: usize,
    ) -> Result<OpenFile, FileError> {
        let uploader = Uploader {
            upload: Some(upload),
            ..Uploader::closed()
        };
        let Kind::Struct(fields) = &schema else {
            return Err(FileError::Encode(
                "a file's schema must be an object".into(),
            ));
        };
        let mut arrow_fields: Vec<Field> = fields
            .iter()
            .map(|(n, k)| Field::new(n, k.data_type(), true))
            .collect();
        arrow_fields.extend(
            kafka
                .iter()
                .map(|c| Field::new(c.column(), c.kind().data_type(), true)),
        );
        let arrow_schema = Arc::new(Schema::new(arrow_fields));
        let output = match format {
            Format::Parquet(compression) => Output::ParquetFirstChunk {
                uploader,
                compression,
                row_group_records,
            },
            Format::Json => Output::Json(uploader),
        };
        Ok(OpenFile {
            folder,
            start_offset,
            records: 0,
            rows: Column::new(&schema),
            schema,
            kafka: kafka.iter().map(|c| (*c, Column::new(&c.kind()))).collect(),
            arrow_schema,
            group_rows: 0,
            gathered_bytes: 0,
            output,
        })
    }

    /// Appends a record whose value is `json`. A misfit leaves the file as it was.
    pub fn push(&mut self, record: &SinkRecordRef<'_>, json: &[u8]) -> Result<(), FileError> {
        self.rows.push_json(json).map_err(FileError::Misfit)?;
        if let Output::Json(out) = &mut self.output {
            write_json_line(out, record, json, &self.kafka).map_err(|e| self.store_error(e))?;
            self.rows.truncate(0);
        } else {
            for (c, column) in &mut self.kafka {
                c.push(column, record);
            }
            self.group_rows += 1;
            self.gathered_bytes += json.len();
        }
        self.records += 1;
        Ok(())
    }

    /// Whether the rows gathered make a whole row group, to hand to the encoder now.
    pub fn row_group_full(&self, row_group_records: usize) -> bool {
        self.group_rows >= row_group_records
    }

    /// Whether the rows gathered are a chunk to hand to the encoder: every `ENCODE_ROWS` rows
    /// of a row group, or sooner once they hold `ENCODE_BYTES` of JSON. Both count from the
    /// row group's start, so the encoder gets the same chunks in a replay whatever the
    /// batches were, and cuts the same pages (its page and dictionary limits are checked
    /// per call).
    pub fn chunk_full(&self) -> bool {
        self.rows.len() >= ENCODE_ROWS || self.gathered_bytes >= ENCODE_BYTES
    }

    /// The encoder has the whole row group: the next rows start another.
    pub fn row_group_ended(&mut self) {
        self.group_rows = 0;
    }

    /// Hands the gathered rows to the encoder (which writes a row group once it holds
    /// `row_group_records` rows): at a chunk's or a row group's end, and at completion.
    pub fn encode(&mut self) -> Result<(), FileError> {
        if self.output.is_json() || self.rows.len() == 0 {
            return Ok(());
        }
        self.gathered_bytes = 0;
        let values = self.rows.finish();
        let values = values
            .as_any()
            .downcast_ref::<StructArray>()
            .expect("a file's rows are an object")
            .clone();
        let len = values.len();
        let (_, mut arrays, _) = values.into_parts();
        let mut arrays: Vec<ArrayRef> = std::mem::take(&mut arrays);
        arrays.extend(self.kafka.iter_mut().map(|(_, c)| c.finish()));
        let batch = if arrays.is_empty() {
            RecordBatch::new_empty(self.arrow_schema.clone())
        } else {
            RecordBatch::try_new(self.arrow_schema.clone(), arrays)
                .map_err(|e| FileError::Encode(e.to_string()))?
        };
        debug_assert_eq!(batch.num_rows(), len);
        let writer = self.output.parquet_writer(&batch)?;
        let result = writer.write(&batch);
        result.map_err(|e| {
            let uploader_error = writer.inner_mut().error.take();
            match uploader_error {
                Some(s) => FileError::Store(s),
                None => FileError::Encode(e.to_string()),
            }
        })
    }

    /// Bytes encoded so far (for Parquet, the completed row groups).
    pub fn bytes(&self) -> u64 {
        match &self.output {
            Output::ParquetFirstChunk { .. } => 0,
            Output::Parquet(w) => w.bytes_written() as u64,
            Output::Json(u) => u.written,
        }
    }

    /// Finishes the file and makes it visible, whole.
    pub fn complete(mut self) -> Result<(), FileError> {
        self.encode()?;
        let writer = match self.output {
            Output::Parquet(writer) => *writer,
            // No rows: a file with no row groups, as the encoder writes it.
            Output::ParquetFirstChunk {
                uploader,
                compression,
                row_group_records,
            } => {
                let empty = RecordBatch::new_empty(self.arrow_schema.clone());
                start_parquet(uploader, compression, row_group_records, &empty)?
            }
            Output::Json(u) => return u.complete().map_err(FileError::Store),
        };
        let uploader = writer
            .into_inner()
            .map_err(|e| FileError::Encode(e.to_string()))?;
        uploader.complete().map_err(FileError::Store)
    }

    /// Gives the file up: nothing becomes visible.
    pub fn abort(mut self) {
        self.output.uploader().abort();
    }

    fn store_error(&mut self, e: std::io::Error) -> FileError {
        let stored = self.output.uploader().error.take();
        stored.map_or_else(|| FileError::Encode(e.to_string()), FileError::Store)
    }
}

impl Output {
    fn is_json(&self) -> bool {
        matches!(self, Output::Json(_))
    }

    fn uploader(&mut self) -> &mut Uploader {
        match self {
            Output::ParquetFirstChunk { uploader, .. } | Output::Json(uploader) => uploader,
            Output::Parquet(w) => w.inner_mut(),
        }
    }

    /// The Parquet encoder, started on the file's first chunk. Only for Parquet files.
    fn parquet_writer(
        &mut self,
        first_chunk: &RecordBatch,
    ) -> Result<&mut ArrowWriter<Uploader>, FileError> {
        if let Output::ParquetFirstChunk { .. } = self
            && let Output::ParquetFirstChunk {
                uploader,
                compression,
                row_group_records,
            } = std::mem::replace(self, Output::Json(Uploader::closed()))
        {
            let writer = start_parquet(uploader, compression, row_group_records, first_chunk)?;
            *self = Output::Parquet(Box::new(writer));
        }
        let Output::Parquet(writer) = self else {
            unreachable!("encode hands rows only to Parquet files")
        };
        Ok(writer)
    }
}

/// Starts a Parquet encoder whose dictionaries `first_chunk` decides (see
/// [`crate::dictionary`]).
fn start_parquet(
    uploader: Uploader,
    compression: Compression,
    row_group_records: usize,
    first_chunk: &RecordBatch,
) -> Result<ArrowWriter<Uploader>, FileError> {
    let props = WriterProperties::builder()
        .set_compression(compression)
        .set_max_row_group_row_count(Some(row_group_records))
        .set_max_row_group_bytes(None);
    let props = dictionary::choose(props, first_chunk).build();
    ArrowWriter::try_new(uploader, first_chunk.schema(), Some(props))
        .map_err(|e| FileError::Encode(e.to_string()))
}

/// Writes one JSON line: the value as it came (re-serialized only if it spans lines), with
/// the Kafka columns as its first fields.
fn write_json_line(
    out: &mut Uploader,
    record: &SinkRecordRef<'_>,
    json: &[u8],
    kafka: &[(KafkaColumn, Column)],
) -> std::io::Result<()> {
    let owned;
    let mut json = json.trim_ascii();
    if json.contains(&b'\n') {
        let value: serde_json::Value =
            serde_json::from_slice(json).map_err(std::io::Error::other)?;
        owned = serde_json::to_vec(&value).map_err(std::io::Error::other)?;
        json = &owned;
    }
    if kafka.is_empty() {
        out.write_all(json)?;
    } else {
        let mut fields = serde_json::Map::new();
        for (c, _) in kafka {
            let v = match c {
                KafkaColumn::Topic => record.topic().into(),
                KafkaColumn::Partition => record.partition().into(),
                KafkaColumn::Offset => record.offset().into(),
                KafkaColumn::Timestamp => record.timestamp_ms().into(),
                KafkaColumn::Key => record
                    .key()
                    .map(|k| String::from_utf8_lossy(k).into_owned())
                    .into(),
                KafkaColumn::Headers => record
                    .headers()
                    .map(|(k, v)| {
                        serde_json::json!({"key": String::from_utf8_lossy(k), "value": String::from_utf8_lossy(v)})
                    })
                    .collect::<Vec<_>>()
                    .into(),
            };
            fields.insert(c.column(), v);
        }
        let prefix = serde_json::to_vec(&fields).map_err(std::io::Error::other)?;
        // `{"kafka_...": ...` then the value's own fields after its `{`.
        let inner = &json[1..];
        out.write_all(&prefix[..prefix.len() - 1])?;
        if inner.trim_ascii_start().first() != Some(&b'}') {
            out.write_all(b",")?;
        }
        out.write_all(inner)?;
    }
    out.write_all(b"\n")
}

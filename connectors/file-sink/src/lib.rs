//! `file-sink`: appends each record's value to a file, one record per line, like Kafka
//! Connect's FileStreamSink.
//!
//! Config keys:
//! - `file` (required): the file to append to, created if missing (the host grants its
//!   directory read-write, and nothing else).
//! - `topics` (required, used by the host): comma-separated topics to read.
//!
//! Delivery: records reach the file in `put`, and `flush` fsyncs it; the host commits the
//! consumer-group offsets only after `flush`. After a crash, the records after the last commit
//! are delivered again, so the file may repeat an uncommitted tail (at-least-once).

use std::fs::{File, OpenOptions};
use std::io::{BufWriter, Write};

use connectd_sdk::{Config, ConnectorError, Descriptor, Sink, SinkRecord};

const SCHEMA: &str = r#"{"type":"object","required":["file","topics"],"properties":{"file":{"type":"string","x-connectd-grant":"write-parent"},"topics":{"type":"string"}}}"#;

/// The file sink task.
pub struct FileSink {
    path: String,
    out: BufWriter<File>,
}

impl Sink for FileSink {
    fn describe() -> Descriptor {
        Descriptor::sink("file-sink", env!("CARGO_PKG_VERSION"), SCHEMA)
    }

    fn open(config: Config) -> Result<Self, ConnectorError> {
        let path = config.required("file")?.to_string();
        let file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .map_err(|e| {
                ConnectorError::InvalidConfig(format!(
                    "key `file`: cannot open {path} for appending: {e}"
                ))
            })?;
        Ok(FileSink {
            path,
            out: BufWriter::with_capacity(1 << 20, file),
        })
    }

    fn put(&mut self, batch: Vec<SinkRecord>) -> Result<(), ConnectorError> {
        for record in batch {
            self.out
                .write_all(record.value.as_deref().unwrap_or_default())
                .and_then(|_| self.out.write_all(b"\n"))
                .map_err(|e| ConnectorError::Retryable(format!("writing {}: {e}", self.path)))?;
        }
        Ok(())
    }

    fn flush(&mut self) -> Result<(), ConnectorError> {
        self.out
            .flush()
            .and_then(|_| self.out.get_ref().sync_data())
            .map_err(|e| ConnectorError::Retryable(format!("flushing {}: {e}", self.path)))
    }
}

connectd_sdk::export_sink!(FileSink);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_one_line_per_record() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("out.txt");
        let mut sink = FileSink::open(Config::from_pairs([
            ("file", path.to_str().unwrap()),
            ("topics", "t"),
        ]))
        .unwrap();
        let rec = |v: &str| SinkRecord {
            value: Some(v.as_bytes().to_vec()),
            ..Default::default()
        };
        sink.put(vec![rec("a"), rec("b")]).unwrap();
        sink.flush().unwrap();
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "a\nb\n");
    }
}

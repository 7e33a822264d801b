//! `file-sink`: appends each record's value to a file, one record per line, like Kafka
//! Connect's FileStreamSink.
//!
//! Config keys: [`FileSinkConfig`].
//!
//! Delivery: records reach the file in `put`, and `flush` fsyncs it; the host commits the
//! consumer-group offsets only after `flush`. After a crash, the records after the last commit
//! are delivered again, so the file may repeat an uncommitted tail (at-least-once).

use connectd_sdk::files::Appender;
use connectd_sdk::{Config, Configurable, ConnectorError, Descriptor, Sink, SinkBatch};

/// file-sink's keys.
#[derive(Configurable)]
pub struct FileSinkConfig {
    /// The file each record's value is appended to, one a line; created if missing, with its
    /// folder. Relative paths start at the connector file's folder.
    #[grant(write_parent)]
    pub file: String,
    /// Comma-separated topics to read.
    pub topics: Vec<String>,
}

/// Most bytes of whole lines gathered into one append (one system call on the host).
const BUFFER: usize = 1 << 20;

/// The file sink task. Lines are gathered and appended whole, in one write each, through the
/// host's `files` interface: several tasks (`tasks.max`) may share one file without splitting
/// a line (a single line longer than the buffer goes out in one write of its own).
pub struct FileSink {
    path: String,
    file: Appender,
    pending: Vec<u8>,
}

impl FileSink {
    fn write_pending(&mut self) -> Result<(), ConnectorError> {
        self.file
            .append(&self.pending)
            .map_err(|e| ConnectorError::Retryable(format!("writing {}: {e}", self.path)))?;
        self.pending.clear();
        Ok(())
    }
}

impl Sink for FileSink {
    fn describe() -> Descriptor {
        Descriptor::sink(
            "file-sink",
            env!("CARGO_PKG_VERSION"),
            &FileSinkConfig::schema(),
        )
    }

    fn open(config: Config) -> Result<Self, ConnectorError> {
        let FileSinkConfig { file: path, .. } = config.parse()?;
        let file = Appender::open(&path).map_err(|e| {
            ConnectorError::InvalidConfig(format!(
                "key `file`: cannot open {path} for appending: {e}"
            ))
        })?;
        Ok(FileSink {
            path,
            file,
            pending: Vec::with_capacity(BUFFER),
        })
    }

    fn put(&mut self, batch: &SinkBatch) -> Result<(), ConnectorError> {
        for record in batch.iter() {
            let value = record.value().unwrap_or_default();
            if !self.pending.is_empty() && self.pending.len() + value.len() + 1 > BUFFER {
                self.write_pending()?;
            }
            self.pending.extend_from_slice(value);
            self.pending.push(b'\n');
        }
        Ok(())
    }

    fn flush(&mut self) -> Result<(), ConnectorError> {
        self.write_pending()?;
        self.file
            .sync()
            .map_err(|e| ConnectorError::Retryable(format!("flushing {}: {e}", self.path)))
    }
}

connectd_sdk::export_sink!(FileSink);

#[cfg(test)]
mod tests {
    use connectd_sdk::SinkRecord;

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
        sink.put(&[rec("a"), rec("b")].iter().collect()).unwrap();
        sink.flush().unwrap();
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "a\nb\n");
    }
}

//! A test-only sink: appends each record's value to `file`, one a line, as file-sink does,
//! except that while `fail = true` every `put` fails with a retryable error (a database that
//! is down, say). The tests stop, pause and restart it mid-failure and count every record.

use connectd_sdk::files::Appender;
use connectd_sdk::{Config, Configurable, ConnectorError, Descriptor, Sink, SinkBatch};

/// The flaky sink's keys.
#[derive(Configurable)]
pub struct FlakySinkConfig {
    /// The file each record's value is appended to.
    #[grant(write_parent)]
    pub file: String,
    /// Comma-separated topics to read.
    pub topics: Vec<String>,
    /// Fail every `put` with a retryable error.
    #[config(default = false)]
    pub fail: bool,
}

/// The task: an open file, and whether to fail.
pub struct FlakySink {
    file: Appender,
    fail: bool,
    pending: Vec<u8>,
}

impl Sink for FlakySink {
    fn describe() -> Descriptor {
        Descriptor::sink(
            "flaky-sink",
            env!("CARGO_PKG_VERSION"),
            &FlakySinkConfig::schema(),
        )
    }

    fn open(config: Config) -> Result<Self, ConnectorError> {
        let FlakySinkConfig { file, fail, .. } = config.parse()?;
        let file = Appender::open(&file)
            .map_err(|e| ConnectorError::InvalidConfig(format!("key `file`: {e}")))?;
        Ok(FlakySink {
            file,
            fail,
            pending: Vec::new(),
        })
    }

    fn put(&mut self, batch: &SinkBatch) -> Result<(), ConnectorError> {
        if self.fail {
            return Err(ConnectorError::Retryable(
                "flaky-sink: failing on purpose (fail = true)".into(),
            ));
        }
        for record in batch.iter() {
            self.pending
                .extend_from_slice(record.value().unwrap_or_default());
            self.pending.push(b'\n');
        }
        Ok(())
    }

    fn flush(&mut self) -> Result<(), ConnectorError> {
        self.file
            .append(&self.pending)
            .and_then(|()| self.file.sync())
            .map_err(|e| ConnectorError::Retryable(format!("flaky-sink: {e}")))?;
        self.pending.clear();
        Ok(())
    }
}

connectd_sdk::export_sink!(FlakySink);

//! `console-sink`: prints each record's value to the worker's stdout, one per line.
//!
//! Config keys: [`ConsoleSinkConfig`]. The host grants it the worker's stdout (the
//! `#[grant(stdout)]` of its keys) and nothing else.

use std::io::Write;

use connectd_sdk::{Config, Configurable, ConnectorError, Descriptor, Sink, SinkBatch};

/// console-sink's keys.
#[derive(Configurable)]
#[grant(stdout)]
pub struct ConsoleSinkConfig {
    /// Comma-separated topics to read.
    pub topics: Vec<String>,
    /// Print `key<TAB>value` (a missing key as `null`) instead of the value alone.
    #[config(key = "print.key", default = false)]
    pub print_key: bool,
}

/// The console sink task.
pub struct ConsoleSink {
    print_key: bool,
}

impl Sink for ConsoleSink {
    fn describe() -> Descriptor {
        Descriptor::sink(
            "console-sink",
            env!("CARGO_PKG_VERSION"),
            &ConsoleSinkConfig::schema(),
        )
    }

    fn open(config: Config) -> Result<Self, ConnectorError> {
        let ConsoleSinkConfig { print_key, .. } = config.parse()?;
        Ok(ConsoleSink { print_key })
    }

    fn put(&mut self, batch: &SinkBatch) -> Result<(), ConnectorError> {
        let mut out = std::io::stdout().lock();
        for r in batch.iter() {
            if self.print_key {
                out.write_all(r.key().unwrap_or(b"null"))
                    .and_then(|_| out.write_all(b"\t"))
                    .map_err(|e| ConnectorError::Retryable(e.to_string()))?;
            }
            out.write_all(r.value().unwrap_or_default())
                .and_then(|_| out.write_all(b"\n"))
                .map_err(|e| ConnectorError::Retryable(e.to_string()))?;
        }
        Ok(())
    }

    fn flush(&mut self) -> Result<(), ConnectorError> {
        std::io::stdout()
            .flush()
            .map_err(|e| ConnectorError::Retryable(e.to_string()))
    }
}

connectd_sdk::export_sink!(ConsoleSink);

//! `console-sink`: prints each record's value to the worker's stdout, one per line.
//!
//! Config keys:
//! - `topics` (required, used by the host): comma-separated topics to read.
//! - `print.key` (default false): print `key<TAB>value`.
//!
//! The host grants it the worker's stdout (the `x-connectd-grant: stdout` in its schema) and
//! nothing else.

use std::io::Write;

use connectd_sdk::{Config, ConnectorError, Descriptor, Sink, SinkBatch};

const SCHEMA: &str = r#"{"type":"object","required":["topics"],"x-connectd-grant":"stdout","properties":{"topics":{"type":"string"},"print.key":{"type":"boolean"}}}"#;

/// The console sink task.
pub struct ConsoleSink {
    print_key: bool,
}

impl Sink for ConsoleSink {
    fn describe() -> Descriptor {
        Descriptor::sink("console-sink", env!("CARGO_PKG_VERSION"), SCHEMA)
    }

    fn open(config: Config) -> Result<Self, ConnectorError> {
        Ok(ConsoleSink {
            print_key: config.parse_or("print.key", false)?,
        })
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

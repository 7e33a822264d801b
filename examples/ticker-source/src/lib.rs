//! A custom source connector written from scratch: every `interval.ms` it emits
//! `{"tick":N,"message":"..."}`, and after a restart it goes on from the last stored N.
//! Build it with `cargo build --release --target wasm32-wasip2 -p ticker-source` and drop
//! `target/wasm32-wasip2/release/ticker_source.wasm` into the worker's `plugin_dir`.

use std::time::{Duration, Instant};

use connectd_sdk::{Config, ConnectorError, Descriptor, Resume, Source, SourceBatch, SourceRecord};

pub struct Ticker {
    next: u64,
    every: Duration,
    message: String,
    last: Option<Instant>,
}

impl Source for Ticker {
    fn describe() -> Descriptor {
        let schema = r#"{"type":"object","required":["topic"],"properties":{"interval.ms":{"type":"integer"},"message":{"type":"string"}}}"#;
        Descriptor::source("ticker", "0.1.0", schema)
    }

    fn open(config: Config, resume: Resume) -> Result<Self, ConnectorError> {
        // The stored position is the next tick number, as text.
        let next = resume
            .position(b"ticker")
            .and_then(|p| String::from_utf8_lossy(p).parse().ok());
        Ok(Ticker {
            next: next.unwrap_or(0),
            every: Duration::from_millis(config.parse_or("interval.ms", 1000)?),
            message: config.get("message").unwrap_or("tick").to_string(),
            last: None,
        })
    }

    fn poll(&mut self, _max: u32, batch: &mut SourceBatch) -> Result<(), ConnectorError> {
        if self.last.is_some_and(|t| t.elapsed() < self.every) {
            return Ok(()); // not yet: the host polls again shortly
        }
        self.last = Some(Instant::now());
        let n = self.next;
        self.next += 1;
        let value = format!(r#"{{"tick":{n},"message":{:?}}}"#, self.message);
        let position = self.next.to_string().into_bytes();
        batch.push(SourceRecord::new(
            value.into_bytes(),
            b"ticker".to_vec(),
            position,
        ));
        Ok(())
    }
}

connectd_sdk::export_source!(Ticker);

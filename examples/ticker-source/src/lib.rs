//! A custom source connector written from scratch: every `interval.ms` it emits
//! `{"tick":N,"message":"..."}`, and after a restart it goes on from the last stored N.
//! Build it with `cargo build --release --target wasm32-wasip2 -p ticker-source` and drop
//! `target/wasm32-wasip2/release/ticker_source.wasm` into the worker's `plugin_dir`.

use std::time::{Duration, Instant};

use connectd_sdk::{
    Config, Configurable, ConnectorError, Descriptor, Resume, Source, SourceBatch, SourceRecord,
};

/// The ticker's keys: each field's doc comment is the key's documentation.
#[derive(Configurable)]
pub struct TickerConfig {
    /// The topic the ticks go to.
    pub topic: String,
    /// Milliseconds between ticks.
    #[config(key = "interval.ms", default = 1000, minimum = 1)]
    pub interval_ms: u64,
    /// The text in every tick.
    #[config(default = "tick")]
    pub message: String,
}

pub struct Ticker {
    next: u64,
    every: Duration,
    message: String,
    last: Option<Instant>,
}

impl Source for Ticker {
    fn describe() -> Descriptor {
        Descriptor::source("ticker", "0.1.0", &TickerConfig::schema())
    }

    fn open(config: Config, resume: Resume) -> Result<Self, ConnectorError> {
        let TickerConfig {
            interval_ms,
            message,
            ..
        } = config.parse()?;
        // The stored position is the next tick number, as text.
        let next = resume
            .position(b"ticker")
            .and_then(|p| String::from_utf8_lossy(p).parse().ok());
        Ok(Ticker {
            next: next.unwrap_or(0),
            every: Duration::from_millis(interval_ms),
            message,
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

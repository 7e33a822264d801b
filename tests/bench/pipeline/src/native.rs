//! The SDK's connector types as the host's native plugins: the same code a component runs,
//! called directly, so the benchmark measures what the WebAssembly boundary costs. A panic is
//! caught and becomes a trap, as a component's would.

use std::panic::{AssertUnwindSafe, catch_unwind};

use connectd_host::native::{NativeSink, NativeSource};
use connectd_host::{Plugin, TaskError};
use connectd_records::{Offset, SinkBatch, SourceBatch, TopicPartition};
use connectd_sdk as sdk;

fn task_error(e: sdk::ConnectorError) -> TaskError {
    match e {
        sdk::ConnectorError::InvalidConfig(m) => TaskError::InvalidConfig(m),
        sdk::ConnectorError::Retryable(m) => TaskError::Retryable(m),
        sdk::ConnectorError::Fatal(m) => TaskError::Fatal(m),
        sdk::ConnectorError::BadRecord(m) => TaskError::BadRecord(m),
    }
}

/// Runs connector code, turning a panic into a trap as a component's would be.
fn guarded<R>(f: impl FnOnce() -> Result<R, sdk::ConnectorError>) -> Result<R, TaskError> {
    match catch_unwind(AssertUnwindSafe(f)) {
        Ok(r) => r.map_err(task_error),
        Err(_) => Err(TaskError::Trap("native connector panicked".into())),
    }
}

struct Source<T>(T);

impl<T: sdk::Source + Send> NativeSource for Source<T> {
    fn poll(&mut self, max: u32) -> Result<SourceBatch, TaskError> {
        let mut batch = SourceBatch::default();
        guarded(|| self.0.poll(max, &mut batch))?;
        Ok(batch)
    }

    fn commit(&mut self, positions: Vec<(Vec<u8>, Vec<u8>)>) -> Result<(), TaskError> {
        guarded(|| self.0.commit(positions))
    }
}

struct Sink<T>(T);

impl<T: sdk::Sink + Send> NativeSink for Sink<T> {
    fn put(&mut self, batch: &SinkBatch) -> Result<(), TaskError> {
        guarded(|| self.0.put(batch))
    }

    fn flush(&mut self) -> Result<Option<Vec<(TopicPartition, Offset)>>, TaskError> {
        guarded(|| self.0.flush())?;
        Ok(self.0.pre_commit())
    }
}

/// The source type `T`, compiled in.
pub fn source<T: sdk::Source + Send>() -> Plugin {
    Plugin::native_source(
        T::describe(),
        Box::new(|config, resume| {
            let task = guarded(|| T::open(sdk::Config::from_pairs(config), resume.into()))?;
            Ok(Box::new(Source(task)) as Box<dyn NativeSource>)
        }),
    )
}

/// The sink type `T`, compiled in.
pub fn sink<T: sdk::Sink + Send>() -> Plugin {
    Plugin::native_sink(
        T::describe(),
        Box::new(|config| {
            let task = guarded(|| T::open(sdk::Config::from_pairs(config)))?;
            Ok(Box::new(Sink(task)) as Box<dyn NativeSink>)
        }),
    )
}

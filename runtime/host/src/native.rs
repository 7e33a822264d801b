//! Connectors compiled into the process instead of loaded as components: the same
//! `connectd-sdk` types, called directly, with no sandbox (no memory limit, no CPU deadline, no
//! capability checks; a panic is caught and becomes a trap). They exist to measure what the
//! WebAssembly boundary costs, with everything else in the worker the same. The worker never
//! loads them from `plugin_dir`.

use std::panic::{AssertUnwindSafe, catch_unwind};

use connectd_sdk as sdk;

use connectd_records::{Offset, SinkBatch, SourceBatch, TopicPartition};

use crate::TaskError;

/// A source connector behind a trait object.
pub(crate) trait DynSource: Send {
    fn poll(&mut self, max: u32) -> Result<SourceBatch, TaskError>;
    fn commit(&mut self, positions: Vec<(Vec<u8>, Vec<u8>)>) -> Result<(), TaskError>;
}

/// A sink connector behind a trait object.
pub(crate) trait DynSink: Send {
    fn put(&mut self, batch: &SinkBatch) -> Result<(), TaskError>;
    fn flush(&mut self) -> Result<Option<Vec<(TopicPartition, Offset)>>, TaskError>;
}

type Config = Vec<(String, String)>;
type Positions = Vec<(Vec<u8>, Vec<u8>)>;
pub(crate) type OpenSource =
    Box<dyn Fn(Config, Positions) -> Result<Box<dyn DynSource>, TaskError> + Send + Sync>;
pub(crate) type OpenSink = Box<dyn Fn(Config) -> Result<Box<dyn DynSink>, TaskError> + Send + Sync>;

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

impl<T: sdk::Source + Send> DynSource for Source<T> {
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

impl<T: sdk::Sink + Send> DynSink for Sink<T> {
    fn put(&mut self, batch: &SinkBatch) -> Result<(), TaskError> {
        guarded(|| self.0.put(batch))
    }

    fn flush(&mut self) -> Result<Option<Vec<(TopicPartition, Offset)>>, TaskError> {
        guarded(|| self.0.flush())?;
        Ok(self.0.pre_commit())
    }
}

pub(crate) fn open_source<T: sdk::Source + Send>() -> OpenSource {
    Box::new(|config, resume| {
        let task = guarded(|| T::open(sdk::Config::from_pairs(config), resume.into()))?;
        Ok(Box::new(Source(task)) as Box<dyn DynSource>)
    })
}

pub(crate) fn open_sink<T: sdk::Sink + Send>() -> OpenSink {
    Box::new(|config| {
        let task = guarded(|| T::open(sdk::Config::from_pairs(config)))?;
        Ok(Box::new(Sink(task)) as Box<dyn DynSink>)
    })
}

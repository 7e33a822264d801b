//! Connectors compiled into the process instead of loaded as components, behind two small
//! traits, called directly with no sandbox (no memory limit, no CPU deadline, no capability
//! checks). They exist to measure what the WebAssembly boundary costs, with everything else in
//! the worker the same: the benchmark (`tests/bench/pipeline`) adapts the SDK's connector types
//! to these traits, so the host does not depend on the guest SDK. The worker never loads them
//! from `plugin_dir`.

use connectd_records::{Offset, SinkBatch, SourceBatch, TopicPartition};

use crate::TaskError;

/// A source connector compiled into the process.
pub trait NativeSource: Send {
    /// Up to `max` new records.
    fn poll(&mut self, max: u32) -> Result<SourceBatch, TaskError>;
    /// Records up to these positions are durable.
    fn commit(&mut self, positions: Vec<(Vec<u8>, Vec<u8>)>) -> Result<(), TaskError>;
}

/// A sink connector compiled into the process.
pub trait NativeSink: Send {
    /// Takes a batch.
    fn put(&mut self, batch: &SinkBatch) -> Result<(), TaskError>;
    /// Makes what was put durable; the offsets the group may commit (`None`: all put).
    fn flush(&mut self) -> Result<Option<Vec<(TopicPartition, Offset)>>, TaskError>;
}

/// A task's config pairs.
pub type Config = Vec<(String, String)>;
/// Each source partition's stored position.
pub type Positions = Vec<(Vec<u8>, Vec<u8>)>;
/// Opens a native source task.
pub type OpenSource =
    Box<dyn Fn(Config, Positions) -> Result<Box<dyn NativeSource>, TaskError> + Send + Sync>;
/// Opens a native sink task.
pub type OpenSink = Box<dyn Fn(Config) -> Result<Box<dyn NativeSink>, TaskError> + Send + Sync>;

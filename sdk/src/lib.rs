//! The guest SDK for connectd connectors.
//!
//! A connector author writes a plain Rust type, implements [`Source`], [`Sink`] or
//! [`Transform`], and calls [`export_source!`], [`export_sink!`] or [`export_transform!`].
//! Built for `wasm32-wasip2`, the crate is a WebAssembly
//! component implementing the WIT package `connectd:connector@0.1.0` (see `wit/` at the
//! repository root); built natively, the same type is an ordinary Rust value, for unit tests and
//! for measuring the WebAssembly overhead.
//!
//! The WIT bindings stay private: connectors see only the types below.
//!
//! ```
//! use connectd_sdk::{Config, Configurable, ConnectorError, Descriptor, PollRecords, Resume, Source, SourceBatch};
//!
//! /// The counter's keys, declared once: the schema, the parser and the docs come from here.
//! #[derive(Configurable)]
//! struct CounterConfig {
//!     /// The topic the numbers go to.
//!     topic: String,
//!     /// The first number.
//!     #[config(default = 0, minimum = 0)]
//!     start: u64,
//! }
//!
//! struct Counter { next: u64 }
//!
//! impl Source for Counter {
//!     fn describe() -> Descriptor {
//!         Descriptor::source("counter", "0.1.0", &CounterConfig::schema())
//!     }
//!     fn open(config: Config, resume: Resume) -> Result<Self, ConnectorError> {
//!         let CounterConfig { start, .. } = config.parse()?;
//!         // This task's own source partition, and where it got to before.
//!         let partition = format!("counter-{}", config.task_id());
//!         let next = resume
//!             .position(partition.as_bytes())
//!             .map_or(start, |p| u64::from_be_bytes(p.try_into().unwrap()));
//!         Ok(Counter { next })
//!     }
//!     fn poll(&mut self, max: u32, batch: &mut SourceBatch) -> Result<(), ConnectorError> {
//!         for n in self.next..self.next + u64::from(max) {
//!             batch.push_value(n.to_string().as_bytes(), b"counter-0", &(n + 1).to_be_bytes());
//!         }
//!         self.next += u64::from(max);
//!         Ok(())
//!     }
//! }
//! // connectd_sdk::export_source!(Counter);   // in the connector crate
//! let mut c = Counter::open(Config::from_pairs([("topic", "numbers")]), Resume::default()).unwrap();
//! assert_eq!(c.poll_records(3).unwrap().len(), 3);
//! ```

mod config_map;
mod error;
pub mod files;
#[cfg(any(target_arch = "wasm32", test))]
mod mem;
pub mod object_store;
mod resume;
pub mod sql;

#[cfg(target_arch = "wasm32")]
#[doc(hidden)]
pub mod __private;

pub use config_map::Config;
/// Config declarations: `#[derive(Configurable)]` on a struct of keys (see [`config`]).
pub use connectd_config as config;
pub use connectd_config::Configurable;
pub use connectd_records::{
    ConnectRecord, Descriptor, Header, HeaderSpan, Kind, Offset, SinkBatch, SinkEntry, SinkRecord,
    SinkRecordRef, SourceBatch, SourceEntry, SourcePartitionIndex, SourceRecord, Span,
    TopicPartition,
};
#[doc(hidden)]
pub use connectd_records::{SinkColumns, SourceColumns};
pub use error::ConnectorError;
pub use resume::Resume;

/// A source connector task: reads from outside, returns records.
pub trait Source: Sized + 'static {
    /// Name, version, kind and config schema.
    fn describe() -> Descriptor;

    /// Starts a task. `resume` holds the last stored position of each source partition
    /// (empty on the first start; [`Resume::position`] looks one up). Which task of
    /// `tasks.max` this is: [`Config::task_id`].
    fn open(config: Config, resume: Resume) -> Result<Self, ConnectorError>;

    /// Adds up to `max` new records to `batch` (empty when called); adds none when there is
    /// nothing new. Push owned records with [`SourceBatch::push`], or, for a connector that
    /// moves a lot of data, write them straight into the batch with
    /// [`SourceBatch::push_value`] and its friends, with no allocation per record.
    fn poll(&mut self, max: u32, batch: &mut SourceBatch) -> Result<(), ConnectorError>;

    /// Records up to these positions are durable in their topics and the positions are
    /// stored: a restart resumes after them. Default: nothing to do.
    fn commit(&mut self, _positions: Vec<(Vec<u8>, Vec<u8>)>) -> Result<(), ConnectorError> {
        Ok(())
    }
}

/// A sink connector task: receives records, writes them out.
pub trait Sink: Sized + 'static {
    /// Name, version, kind and config schema.
    fn describe() -> Descriptor;

    /// Starts a task. Which task of `tasks.max` this is: [`Config::task_id`].
    fn open(config: Config) -> Result<Self, ConnectorError>;

    /// Takes a batch, in offset order within each partition. Read its records in place with
    /// [`SinkBatch::iter`], or owned with [`SinkBatch::to_records`].
    fn put(&mut self, batch: &SinkBatch) -> Result<(), ConnectorError>;

    /// Makes everything put so far durable; the host commits offsets only after this is ok.
    fn flush(&mut self) -> Result<(), ConnectorError>;

    /// Kafka Connect's `preCommit`, asked right after a successful [`Sink::flush`]: the
    /// offsets the host may commit, per topic partition (the next offset a restart reads).
    /// `None` (the default) commits everything put so far. A sink that keeps records in open
    /// files across flushes returns the first offset of its oldest open file per partition,
    /// so a restart replays exactly what no completed file holds.
    fn pre_commit(&mut self) -> Option<Vec<(TopicPartition, Offset)>> {
        None
    }
}

/// [`Source::poll`] with owned records: for tests of a connector built natively.
pub trait PollRecords: Source {
    /// Up to `max` new records, owned.
    fn poll_records(&mut self, max: u32) -> Result<Vec<SourceRecord>, ConnectorError> {
        let mut batch = SourceBatch::default();
        self.poll(max, &mut batch)?;
        Ok(batch.to_records())
    }
}

impl<T: Source> PollRecords for T {}

/// A record transform (Kafka Connect's single message transform).
pub trait Transform: Sized + 'static {
    /// Name, version, kind and config schema.
    fn describe() -> Descriptor;

    /// Opens an instance with its `transforms.<alias>.*` keys (prefix removed).
    fn open(config: Config) -> Result<Self, ConnectorError>;

    /// The changed record, `None` to drop it, or an error for this record alone
    /// ([`ConnectorError::BadRecord`] when the record is at fault). On a source the record has
    /// no partition or offset yet.
    fn apply(&mut self, record: ConnectRecord) -> Result<Option<ConnectRecord>, ConnectorError>;
}

/// Exports a [`Source`] implementation as the component's source connector.
/// Does nothing when not building for WebAssembly.
#[macro_export]
macro_rules! export_source {
    ($t:ty) => {
        #[cfg(target_arch = "wasm32")]
        type __ConnectdSourceComponent = $crate::__private::Component<$t>;
        #[cfg(target_arch = "wasm32")]
        $crate::__private::source::__export_source_connector!(__ConnectdSourceComponent);
    };
}

/// Exports a [`Sink`] implementation as the component's sink connector.
/// Does nothing when not building for WebAssembly.
#[macro_export]
macro_rules! export_sink {
    ($t:ty) => {
        #[cfg(target_arch = "wasm32")]
        type __ConnectdSinkComponent = $crate::__private::Component<$t>;
        #[cfg(target_arch = "wasm32")]
        $crate::__private::sink::__export_sink_connector!(__ConnectdSinkComponent);
    };
}

/// Exports a [`Transform`] implementation as the component's transform.
/// Does nothing when not building for WebAssembly.
#[macro_export]
macro_rules! export_transform {
    ($t:ty) => {
        #[cfg(target_arch = "wasm32")]
        type __ConnectdTransformComponent = $crate::__private::Component<$t>;
        #[cfg(target_arch = "wasm32")]
        $crate::__private::transform::__export_transform_connector!(__ConnectdTransformComponent);
    };
}

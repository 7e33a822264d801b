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
//! use connectd_sdk::{Config, ConnectorError, Descriptor, Source, SourceRecord};
//!
//! struct Counter { next: u64, topic: String }
//!
//! impl Source for Counter {
//!     fn describe() -> Descriptor {
//!         Descriptor::source("counter", "0.1.0", r#"{"type":"object","required":["topic"]}"#)
//!     }
//!     fn open(config: Config, resume: Vec<(Vec<u8>, Vec<u8>)>) -> Result<Self, ConnectorError> {
//!         let topic = config.required("topic")?.to_string();
//!         let next = resume.first().map(|(_, p)| u64::from_be_bytes(p[..8].try_into().unwrap())).unwrap_or(0);
//!         Ok(Counter { next, topic })
//!     }
//!     fn poll(&mut self, max: u32) -> Result<Vec<SourceRecord>, ConnectorError> {
//!         let records = (0..max as u64).map(|i| {
//!             let n = self.next + i;
//!             SourceRecord::new(n.to_string().into_bytes(), b"counter".to_vec(), (n + 1).to_be_bytes().to_vec())
//!         }).collect();
//!         self.next += max as u64;
//!         Ok(records)
//!     }
//! }
//! // connectd_sdk::export_source!(Counter);   // in the connector crate
//! let mut c = Counter::open(Config::from_pairs([("topic", "numbers")]), vec![]).unwrap();
//! assert_eq!(c.poll(3).unwrap().len(), 3);
//! ```

mod config;
mod error;
pub mod files;

#[cfg(target_arch = "wasm32")]
#[doc(hidden)]
pub mod __private;

pub use config::Config;
pub use connectd_records::{
    ConnectRecord, Descriptor, Header, HeaderSpan, Kind, SinkBatch, SinkEntry, SinkRecord,
    SinkRecordRef, SourceBatch, SourceEntry, SourcePartitionIndex, SourceRecord, Span,
};
#[doc(hidden)]
pub use connectd_records::{SinkColumns, SourceColumns};
pub use error::ConnectorError;

/// A source connector task: reads from outside, returns records.
pub trait Source: Sized + 'static {
    /// Name, version, kind and config schema.
    fn describe() -> Descriptor;

    /// Starts a task. `resume` holds the last stored position of each source partition
    /// (empty on the first start).
    fn open(config: Config, resume: Vec<(Vec<u8>, Vec<u8>)>) -> Result<Self, ConnectorError>;

    /// Up to `max` new records; an empty vector when there is nothing new.
    fn poll(&mut self, max: u32) -> Result<Vec<SourceRecord>, ConnectorError>;

    /// Up to `max` new records, added to `batch` (empty when called). This is what the host
    /// calls; the default adds what [`Source::poll`] returns. A connector that moves a lot of
    /// data overrides it to write records straight into the batch
    /// ([`SourceBatch::push_value`]), with no allocation per record.
    fn poll_batch(&mut self, max: u32, batch: &mut SourceBatch) -> Result<(), ConnectorError> {
        for record in self.poll(max)? {
            batch.push(record);
        }
        Ok(())
    }

    /// Records up to these positions are durable in their topics. Default: nothing to do.
    fn commit(&mut self, _positions: Vec<(Vec<u8>, Vec<u8>)>) -> Result<(), ConnectorError> {
        Ok(())
    }
}

/// A sink connector task: receives records, writes them out.
pub trait Sink: Sized + 'static {
    /// Name, version, kind and config schema.
    fn describe() -> Descriptor;

    /// Starts a task.
    fn open(config: Config) -> Result<Self, ConnectorError>;

    /// Takes a batch, in offset order within each partition.
    fn put(&mut self, batch: Vec<SinkRecord>) -> Result<(), ConnectorError>;

    /// What the host calls with each batch; the default hands [`Sink::put`] owned records. A
    /// connector that moves a lot of data overrides it to read the records in place
    /// ([`SinkBatch::iter`]).
    fn put_batch(&mut self, batch: &SinkBatch) -> Result<(), ConnectorError> {
        self.put(batch.to_records())
    }

    /// Makes everything put so far durable; the host commits offsets only after this is ok.
    fn flush(&mut self) -> Result<(), ConnectorError>;
}

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

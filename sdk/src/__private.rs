//! Generated WIT bindings and the adapters from the SDK traits to them. Not public API: the
//! export macros are the only users.

use std::cell::{Cell, RefCell};
use std::marker::PhantomData;

use crate::{Config, ConnectorError, Sink, SinkBatch, SinkColumns, Source, SourceBatch, Transform};

pub mod source {
    wit_bindgen::generate!({
        world: "source-connector",
        path: "../wit",
        pub_export_macro: true,
        export_macro_name: "__export_source_connector",
        default_bindings_module: "connectd_sdk::__private::source",
    });
}

pub mod transform {
    wit_bindgen::generate!({
        world: "transform-connector",
        path: "../wit",
        pub_export_macro: true,
        export_macro_name: "__export_transform_connector",
        default_bindings_module: "connectd_sdk::__private::transform",
    });
}

pub mod sink {
    wit_bindgen::generate!({
        world: "sink-connector",
        path: "../wit",
        pub_export_macro: true,
        export_macro_name: "__export_sink_connector",
        default_bindings_module: "connectd_sdk::__private::sink",
    });
}

/// The component type the export macros register, for connector type `T`.
pub struct Component<T>(PhantomData<T>);

/// A task resource wrapping the connector value (WIT resources are called through `&self`).
pub struct Task<T> {
    inner: RefCell<T>,
    /// Sizes of the last source batch (data bytes, records), to allocate the next one whole
    /// instead of growing it step by step.
    last_poll: Cell<(usize, usize)>,
}

impl<T> Task<T> {
    fn new(inner: T) -> Self {
        Task {
            inner: RefCell::new(inner),
            last_poll: Cell::new((0, 0)),
        }
    }
}

macro_rules! conversions {
    ($conv:ident, $m:ident) => {
        // Each world uses a part of these.
        #[allow(dead_code)]
        mod $conv {
            use super::*;
            use crate::__private::$m::connectd::connector::types as w;

            pub fn error(e: ConnectorError) -> w::Error {
                match e {
                    ConnectorError::InvalidConfig(m) => w::Error::InvalidConfig(m),
                    ConnectorError::Retryable(m) => w::Error::Retryable(m),
                    ConnectorError::Fatal(m) => w::Error::Fatal(m),
                    ConnectorError::BadRecord(m) => w::Error::BadRecord(m),
                }
            }

            pub fn config(c: w::Config) -> Config {
                Config::from_pairs(c)
            }

            connectd_records::wit_conversions!(w);
        }
    };
}
conversions!(source_conv, source);
conversions!(sink_conv, sink);
conversions!(transform_conv, transform);

mod source_impl {
    use super::source::connectd::connector::types as w;
    use super::source::exports::connectd::connector::source::{Guest, GuestSourceTask, SourceTask};
    use super::*;

    impl<T: Source> Guest for Component<T> {
        type SourceTask = Task<T>;
        fn describe() -> w::Descriptor {
            super::source_conv::descriptor_out(T::describe())
        }
    }

    impl<T: Source> GuestSourceTask for Task<T> {
        fn open(
            config: w::Config,
            resume: Vec<(Vec<u8>, Vec<u8>)>,
        ) -> Result<SourceTask, w::Error> {
            T::open(super::source_conv::config(config), resume.into())
                .map(|t| SourceTask::new(Task::new(t)))
                .map_err(super::source_conv::error)
        }

        fn poll(&self, max: u32) -> Result<w::SourceBatch, w::Error> {
            let (bytes, records) = self.last_poll.get();
            let mut batch = SourceBatch {
                data: Vec::with_capacity(bytes),
                records: Vec::with_capacity(records),
                ..Default::default()
            };
            self.inner
                .borrow_mut()
                .poll(max, &mut batch)
                .map_err(super::source_conv::error)?;
            self.last_poll.set((batch.data.len(), batch.records.len()));
            let c = batch.into_columns();
            Ok(w::SourceBatch {
                data: c.data,
                topic: c.topic,
                key: c.key,
                value: c.value,
                header_range: c.header_range,
                headers: c.headers,
                timestamp: c.timestamp,
                source_partition: c.source_partition,
                source_position: c.source_position,
                source_partitions: c.source_partitions,
                topics: c.topics,
            })
        }

        fn commit(&self, positions: Vec<(Vec<u8>, Vec<u8>)>) -> Result<(), w::Error> {
            self.inner
                .borrow_mut()
                .commit(positions)
                .map_err(super::source_conv::error)
        }
    }
}

mod sink_impl {
    use super::sink::connectd::connector::types as w;
    use super::sink::exports::connectd::connector::sink::{
        Guest, GuestSinkTask, PartitionOffset, SinkTask,
    };
    use super::*;

    impl<T: Sink> Guest for Component<T> {
        type SinkTask = Task<T>;
        fn describe() -> w::Descriptor {
            super::sink_conv::descriptor_out(T::describe())
        }
    }

    impl<T: Sink> GuestSinkTask for Task<T> {
        fn open(config: w::Config) -> Result<SinkTask, w::Error> {
            T::open(super::sink_conv::config(config))
                .map(|t| SinkTask::new(Task::new(t)))
                .map_err(super::sink_conv::error)
        }

        fn put(&self, batch: w::SinkBatch) -> Result<(), w::Error> {
            let batch = SinkBatch::from_columns(SinkColumns {
                data: batch.data,
                topic: batch.topic,
                partition: batch.partition,
                offset: batch.offset,
                timestamp: batch.timestamp,
                key: batch.key,
                value: batch.value,
                header_range: batch.header_range,
                headers: batch.headers,
                topics: batch.topics,
            })
            .map_err(|e| w::Error::Fatal(format!("malformed batch from the host: {e}")))?;
            self.inner
                .borrow_mut()
                .put(&batch)
                .map_err(super::sink_conv::error)
        }

        fn flush(&self) -> Result<Option<Vec<PartitionOffset>>, w::Error> {
            let mut sink = self.inner.borrow_mut();
            sink.flush().map_err(super::sink_conv::error)?;
            Ok(sink.pre_commit().map(|offsets| {
                offsets
                    .into_iter()
                    .map(|(tp, offset)| PartitionOffset {
                        topic: tp.topic,
                        partition: tp.partition,
                        offset: offset.0,
                    })
                    .collect()
            }))
        }
    }
}

mod transform_impl {
    use super::transform::connectd::connector::types as w;
    use super::transform::exports::connectd::connector::transform::{
        Guest, GuestTransformer, Transformer,
    };
    use super::transform_conv as conv;
    use super::*;

    impl<T: Transform> Guest for Component<T> {
        type Transformer = Task<T>;
        fn describe() -> w::Descriptor {
            conv::descriptor_out(T::describe())
        }
    }

    impl<T: Transform> GuestTransformer for Task<T> {
        fn open(config: w::Config) -> Result<Transformer, w::Error> {
            T::open(conv::config(config))
                .map(|t| Transformer::new(Task::new(t)))
                .map_err(conv::error)
        }

        fn apply(
            &self,
            batch: Vec<w::ConnectRecord>,
        ) -> Vec<Result<Option<w::ConnectRecord>, w::Error>> {
            let mut t = self.inner.borrow_mut();
            batch
                .into_iter()
                .map(|r| {
                    t.apply(conv::connect_record_in(r))
                        .map(|r| r.map(conv::connect_record_out))
                        .map_err(conv::error)
                })
                .collect()
        }
    }
}

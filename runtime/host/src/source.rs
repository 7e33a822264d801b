//! Source tasks: the `source-connector` world.

use wasmtime::Store;

use connectd_records::{SourceBatch, SourceColumns};

use crate::TaskError;
use crate::bindings::source as bindings;
use crate::instance::Instance;
use crate::native::NativeSource;
use crate::store::TaskState;

pub(crate) type Pre = bindings::SourceConnectorPre<TaskState>;

/// One running source task: a component instance with its own store, or a native connector.
pub struct SourceTask(Inner);

enum Inner {
    Wasm(WasmSourceTask),
    Native(Box<dyn NativeSource>),
}

impl SourceTask {
    pub(crate) fn native(task: Box<dyn NativeSource>) -> Self {
        SourceTask(Inner::Native(task))
    }

    pub(crate) fn open(
        pre: &Pre,
        store: Store<TaskState>,
        ticks: u64,
        config: Vec<(String, String)>,
        resume: Vec<(Vec<u8>, Vec<u8>)>,
    ) -> Result<Self, TaskError> {
        WasmSourceTask::open(pre, store, ticks, config, resume).map(|t| SourceTask(Inner::Wasm(t)))
    }

    /// Up to `max` new records.
    pub fn poll(&mut self, max: u32) -> Result<SourceBatch, TaskError> {
        match &mut self.0 {
            Inner::Wasm(t) => t.poll(max),
            Inner::Native(t) => t.poll(max),
        }
    }

    /// Tells the task these positions are durable.
    pub fn commit(&mut self, positions: Vec<(Vec<u8>, Vec<u8>)>) -> Result<(), TaskError> {
        match &mut self.0 {
            Inner::Wasm(t) => t.commit(positions),
            Inner::Native(t) => t.commit(positions),
        }
    }
}

/// A source component instance.
struct WasmSourceTask(Instance<bindings::SourceConnector>);

impl WasmSourceTask {
    fn open(
        pre: &Pre,
        store: Store<TaskState>,
        ticks: u64,
        config: Vec<(String, String)>,
        resume: Vec<(Vec<u8>, Vec<u8>)>,
    ) -> Result<Self, TaskError> {
        Instance::open(
            store,
            ticks,
            |store| pre.instantiate(store),
            |b, store| {
                b.connectd_connector_source()
                    .source_task()
                    .call_open(store, &config, &resume)
            },
        )
        .map(WasmSourceTask)
    }

    fn poll(&mut self, max: u32) -> Result<SourceBatch, TaskError> {
        let batch = self.0.call(|b, store, task| {
            b.connectd_connector_source()
                .source_task()
                .call_poll(store, task, max)
        })?;
        SourceBatch::from_columns(SourceColumns {
            data: batch.data,
            topic: batch.topic,
            key: batch.key,
            value: batch.value,
            header_range: batch.header_range,
            headers: batch.headers,
            timestamp: batch.timestamp,
            source_partition: batch.source_partition,
            source_position: batch.source_position,
            source_partitions: batch.source_partitions,
            topics: batch.topics,
        })
        .map_err(|e| TaskError::Fatal(format!("poll returned a malformed batch: {e}")))
    }

    fn commit(&mut self, positions: Vec<(Vec<u8>, Vec<u8>)>) -> Result<(), TaskError> {
        self.0.call(|b, store, task| {
            b.connectd_connector_source()
                .source_task()
                .call_commit(store, task, &positions)
        })
    }
}

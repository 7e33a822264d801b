//! Sink tasks: the `sink-connector` world.

use wasmtime::Store;

use connectd_records::{Offset, SinkBatch, TopicPartition};

use crate::TaskError;
use crate::bindings::{sink as bindings, wit};
use crate::instance::Instance;
use crate::native::NativeSink;
use crate::store::TaskState;

pub(crate) type Pre = bindings::SinkConnectorPre<TaskState>;

/// One running sink task: a component instance with its own store, or a native connector.
pub struct SinkTask(Inner);

enum Inner {
    Wasm(WasmSinkTask),
    Native(Box<dyn NativeSink>),
}

impl SinkTask {
    pub(crate) fn native(task: Box<dyn NativeSink>) -> Self {
        SinkTask(Inner::Native(task))
    }

    pub(crate) fn open(
        pre: &Pre,
        store: Store<TaskState>,
        ticks: u64,
        config: Vec<(String, String)>,
    ) -> Result<Self, TaskError> {
        WasmSinkTask::open(pre, store, ticks, config).map(|t| SinkTask(Inner::Wasm(t)))
    }

    /// Hands a batch to the task. A component borrows the batch's `data` buffer for the call
    /// (it is copied into the component's memory from there) and gives it back, so the batch
    /// is as it was afterwards, whatever the outcome.
    pub fn put(&mut self, batch: &mut SinkBatch) -> Result<(), TaskError> {
        match &mut self.0 {
            Inner::Wasm(t) => t.put(batch),
            Inner::Native(t) => t.put(batch),
        }
    }

    /// Makes everything put so far durable, and returns what the group may commit: `None`
    /// for everything put so far, or the offset to commit per topic partition (Kafka
    /// Connect's `preCommit`), for a sink that keeps records in open files across flushes.
    pub fn flush(&mut self) -> Result<Option<Vec<(TopicPartition, Offset)>>, TaskError> {
        match &mut self.0 {
            Inner::Wasm(t) => t.flush(),
            Inner::Native(t) => t.flush(),
        }
    }
}

/// A sink component instance.
struct WasmSinkTask(Instance<bindings::SinkConnector>);

impl WasmSinkTask {
    fn open(
        pre: &Pre,
        store: Store<TaskState>,
        ticks: u64,
        config: Vec<(String, String)>,
    ) -> Result<Self, TaskError> {
        Instance::open(
            store,
            ticks,
            |store| pre.instantiate(store),
            |b, store| {
                b.connectd_connector_sink()
                    .sink_task()
                    .call_open(store, &config)
            },
        )
        .map(WasmSinkTask)
    }

    fn put(&mut self, batch: &mut SinkBatch) -> Result<(), TaskError> {
        let c = batch.to_columns_without_data();
        let columns = wit::SinkBatch {
            data: std::mem::take(&mut batch.data),
            topic: c.topic,
            partition: c.partition,
            offset: c.offset,
            timestamp: c.timestamp,
            key: c.key,
            value: c.value,
            header_range: c.header_range,
            headers: c.headers,
            topics: c.topics,
        };
        let result = self.0.call(|b, store, task| {
            b.connectd_connector_sink()
                .sink_task()
                .call_put(store, task, &columns)
        });
        batch.data = columns.data;
        result
    }

    fn flush(&mut self) -> Result<Option<Vec<(TopicPartition, Offset)>>, TaskError> {
        let offsets = self.0.call(|b, store, task| {
            b.connectd_connector_sink()
                .sink_task()
                .call_flush(store, task)
        })?;
        Ok(offsets.map(|offsets| {
            offsets
                .into_iter()
                .map(|o| (TopicPartition::new(o.topic, o.partition), Offset(o.offset)))
                .collect()
        }))
    }
}

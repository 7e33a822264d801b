//! Sink tasks: the `sink-connector` world.

use wasmtime::Store;
use wasmtime::component::ResourceAny;

use connectd_records::{Offset, SinkBatch, TopicPartition};

use crate::TaskError;
use crate::bindings::{sink as bindings, task_error, trap_in, wit};
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

struct WasmSinkTask {
    store: Store<TaskState>,
    instance: bindings::SinkConnector,
    task: ResourceAny,
    ticks: u64,
}

impl WasmSinkTask {
    fn open(
        pre: &Pre,
        mut store: Store<TaskState>,
        ticks: u64,
        config: Vec<(String, String)>,
    ) -> Result<Self, TaskError> {
        let instance = pre.instantiate(&mut store).map_err(trap_in(&store))?;
        crate::arm_deadline(&mut store, ticks);
        let task = instance
            .connectd_connector_sink()
            .sink_task()
            .call_open(&mut store, &config)
            .map_err(trap_in(&store))?
            .map_err(task_error)?;
        Ok(WasmSinkTask {
            store,
            instance,
            task,
            ticks,
        })
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
        crate::arm_deadline(&mut self.store, self.ticks);
        let result = self
            .instance
            .connectd_connector_sink()
            .sink_task()
            .call_put(&mut self.store, self.task, &columns);
        batch.data = columns.data;
        result.map_err(trap_in(&self.store))?.map_err(task_error)
    }

    fn flush(&mut self) -> Result<Option<Vec<(TopicPartition, Offset)>>, TaskError> {
        crate::arm_deadline(&mut self.store, self.ticks);
        let offsets = self
            .instance
            .connectd_connector_sink()
            .sink_task()
            .call_flush(&mut self.store, self.task)
            .map_err(trap_in(&self.store))?
            .map_err(task_error)?;
        Ok(offsets.map(|offsets| {
            offsets
                .into_iter()
                .map(|o| (TopicPartition::new(o.topic, o.partition), Offset(o.offset)))
                .collect()
        }))
    }
}

//! Source tasks: the `source-connector` world.

use wasmtime::Store;
use wasmtime::component::ResourceAny;

use connectd_records::{SourceBatch, SourceColumns};

use crate::TaskError;
use crate::bindings::{source as bindings, task_error, trap_in};
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

struct WasmSourceTask {
    store: Store<TaskState>,
    instance: bindings::SourceConnector,
    task: ResourceAny,
    ticks: u64,
}

impl WasmSourceTask {
    fn open(
        pre: &Pre,
        mut store: Store<TaskState>,
        ticks: u64,
        config: Vec<(String, String)>,
        resume: Vec<(Vec<u8>, Vec<u8>)>,
    ) -> Result<Self, TaskError> {
        let instance = pre.instantiate(&mut store).map_err(trap_in(&store))?;
        crate::arm_deadline(&mut store, ticks);
        let task = instance
            .connectd_connector_source()
            .source_task()
            .call_open(&mut store, &config, &resume)
            .map_err(trap_in(&store))?
            .map_err(task_error)?;
        Ok(WasmSourceTask {
            store,
            instance,
            task,
            ticks,
        })
    }

    fn poll(&mut self, max: u32) -> Result<SourceBatch, TaskError> {
        crate::arm_deadline(&mut self.store, self.ticks);
        let batch = self
            .instance
            .connectd_connector_source()
            .source_task()
            .call_poll(&mut self.store, self.task, max)
            .map_err(trap_in(&self.store))?
            .map_err(task_error)?;
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
        crate::arm_deadline(&mut self.store, self.ticks);
        self.instance
            .connectd_connector_source()
            .source_task()
            .call_commit(&mut self.store, self.task, &positions)
            .map_err(trap_in(&self.store))?
            .map_err(task_error)
    }
}

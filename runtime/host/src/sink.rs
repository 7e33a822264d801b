//! Sink tasks: the `sink-connector` world.

use wasmtime::Store;
use wasmtime::component::ResourceAny;

use crate::TaskError;
use crate::bindings::{sink as bindings, sink_record_out, task_error, trap, wit};
use crate::native::DynSink;
use crate::store::TaskState;

/// A record read from a topic: handed to a sink task, or to a transform.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SinkRecord {
    /// Topic it was read from.
    pub topic: String,
    /// Partition.
    pub partition: i32,
    /// Offset.
    pub offset: i64,
    /// Key.
    pub key: Option<Vec<u8>>,
    /// Value.
    pub value: Option<Vec<u8>>,
    /// Headers.
    pub headers: Vec<(String, Vec<u8>)>,
    /// Timestamp, ms since the Unix epoch.
    pub timestamp_ms: i64,
}

pub(crate) type Pre = bindings::SinkConnectorPre<TaskState>;

/// One running sink task: a component instance with its own store, or a native connector.
pub struct SinkTask(Inner);

enum Inner {
    Wasm(WasmSinkTask),
    Native(Box<dyn DynSink>),
}

impl SinkTask {
    pub(crate) fn native(task: Box<dyn DynSink>) -> Self {
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

    /// Hands a batch to the task.
    pub fn put(&mut self, batch: Vec<SinkRecord>) -> Result<(), TaskError> {
        match &mut self.0 {
            Inner::Wasm(t) => t.put(batch),
            Inner::Native(t) => t.put(batch),
        }
    }

    /// Makes everything put so far durable.
    pub fn flush(&mut self) -> Result<(), TaskError> {
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
        let instance = pre.instantiate(&mut store).map_err(trap)?;
        store.set_epoch_deadline(ticks);
        let task = instance
            .connectd_connector_sink()
            .sink_task()
            .call_open(&mut store, &config)
            .map_err(trap)?
            .map_err(task_error)?;
        Ok(WasmSinkTask {
            store,
            instance,
            task,
            ticks,
        })
    }

    fn put(&mut self, batch: Vec<SinkRecord>) -> Result<(), TaskError> {
        let batch: Vec<wit::SinkRecord> = batch.into_iter().map(sink_record_out).collect();
        self.store.set_epoch_deadline(self.ticks);
        self.instance
            .connectd_connector_sink()
            .sink_task()
            .call_put(&mut self.store, self.task, &batch)
            .map_err(trap)?
            .map_err(task_error)
    }

    fn flush(&mut self) -> Result<(), TaskError> {
        self.store.set_epoch_deadline(self.ticks);
        self.instance
            .connectd_connector_sink()
            .sink_task()
            .call_flush(&mut self.store, self.task)
            .map_err(trap)?
            .map_err(task_error)
    }
}

//! Source tasks: the `source-connector` world.

use wasmtime::Store;
use wasmtime::component::ResourceAny;

use crate::TaskError;
use crate::bindings::{source as bindings, task_error, trap};
use crate::native::DynSource;
use crate::store::TaskState;

/// A record a source task returned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceRecord {
    /// Target topic, or `None` for the connector's `topic`.
    pub topic: Option<String>,
    /// Key.
    pub key: Option<Vec<u8>>,
    /// Value.
    pub value: Option<Vec<u8>>,
    /// Headers.
    pub headers: Vec<(String, Vec<u8>)>,
    /// Timestamp, ms since the Unix epoch.
    pub timestamp_ms: Option<i64>,
    /// Source partition (opaque).
    pub source_partition: Vec<u8>,
    /// Resume position (opaque).
    pub source_position: Vec<u8>,
}

pub(crate) type Pre = bindings::SourceConnectorPre<TaskState>;

/// One running source task: a component instance with its own store, or a native connector.
pub struct SourceTask(Inner);

enum Inner {
    Wasm(WasmSourceTask),
    Native(Box<dyn DynSource>),
}

impl SourceTask {
    pub(crate) fn native(task: Box<dyn DynSource>) -> Self {
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
    pub fn poll(&mut self, max: u32) -> Result<Vec<SourceRecord>, TaskError> {
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
        let instance = pre.instantiate(&mut store).map_err(trap)?;
        store.set_epoch_deadline(ticks);
        let task = instance
            .connectd_connector_source()
            .source_task()
            .call_open(&mut store, &config, &resume)
            .map_err(trap)?
            .map_err(task_error)?;
        Ok(WasmSourceTask {
            store,
            instance,
            task,
            ticks,
        })
    }

    fn poll(&mut self, max: u32) -> Result<Vec<SourceRecord>, TaskError> {
        self.store.set_epoch_deadline(self.ticks);
        let records = self
            .instance
            .connectd_connector_source()
            .source_task()
            .call_poll(&mut self.store, self.task, max)
            .map_err(trap)?
            .map_err(task_error)?;
        Ok(records
            .into_iter()
            .map(|r| SourceRecord {
                topic: r.topic,
                key: r.key,
                value: r.value,
                headers: r.headers.into_iter().map(|h| (h.key, h.value)).collect(),
                timestamp_ms: r.timestamp_ms,
                source_partition: r.source_partition,
                source_position: r.source_position,
            })
            .collect())
    }

    fn commit(&mut self, positions: Vec<(Vec<u8>, Vec<u8>)>) -> Result<(), TaskError> {
        self.store.set_epoch_deadline(self.ticks);
        self.instance
            .connectd_connector_source()
            .source_task()
            .call_commit(&mut self.store, self.task, &positions)
            .map_err(trap)?
            .map_err(task_error)
    }
}

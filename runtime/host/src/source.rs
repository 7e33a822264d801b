//! Source connectors: the `source-connector` world, a pre-instantiated plugin and its tasks.

use std::path::Path;

use wasmtime::component::{Component, Linker, ResourceAny};
use wasmtime::{Engine, Store};

use crate::store::{Grants, Limits, TaskState};
use crate::{Descriptor, Error, Kind, Result, TaskError};

mod bindings {
    wasmtime::component::bindgen!({
        world: "source-connector",
        path: "../../wit",
    });
}

use bindings::connectd::connector::types as wit;

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

pub(crate) struct Plugin {
    engine: Engine,
    pre: bindings::SourceConnectorPre<TaskState>,
    descriptor: Descriptor,
}

fn convert_descriptor(d: wit::Descriptor) -> Descriptor {
    Descriptor {
        name: d.name,
        version: d.version,
        kind: match d.kind {
            wit::Kind::Source => Kind::Source,
            wit::Kind::Sink => Kind::Sink,
            wit::Kind::Transform => Kind::Transform,
        },
        config_schema: d.config_schema,
    }
}

fn task_error(e: wit::Error) -> TaskError {
    match e {
        wit::Error::InvalidConfig(m) => TaskError::InvalidConfig(m),
        wit::Error::Retryable(m) => TaskError::Retryable(m),
        wit::Error::Fatal(m) => TaskError::Fatal(m),
    }
}

fn trap(e: wasmtime::Error) -> TaskError {
    match e.downcast_ref::<wasmtime::Trap>() {
        Some(wasmtime::Trap::Interrupt) => {
            TaskError::Trap("CPU deadline exceeded (limits: call timeout)".into())
        }
        Some(t) => TaskError::Trap(format!("{t}: {e:#}")),
        None => TaskError::Trap(format!("{e:#}")),
    }
}

impl Plugin {
    pub(crate) fn new(engine: &Engine, component: Component, path: &Path) -> Result<Self> {
        let mut linker = Linker::<TaskState>::new(engine);
        wasmtime_wasi::p2::add_to_linker_sync(&mut linker)
            .map_err(|e| Error::Engine(e.to_string()))?;
        let invalid = |reason: String| Error::InvalidPlugin {
            path: path.to_path_buf(),
            reason,
        };
        let instance_pre = linker.instantiate_pre(&component).map_err(|e| {
            invalid(format!(
                "imports something the host does not provide: {e:#}"
            ))
        })?;
        let pre = bindings::SourceConnectorPre::new(instance_pre).map_err(|e| {
            invalid(format!(
                "does not export the connectd:connector/source interface: {e:#}"
            ))
        })?;
        // Ask it to describe itself in a throwaway store with no grants.
        let mut store = Store::new(
            engine,
            TaskState::new(&Grants::default(), &Limits::default())
                .map_err(|e| invalid(e.to_string()))?,
        );
        store.limiter(|s| &mut s.limits);
        store.set_epoch_deadline(Limits::default().deadline_ticks());
        let instance = pre
            .instantiate(&mut store)
            .map_err(|e| invalid(format!("failed to start: {e:#}")))?;
        let descriptor = instance
            .connectd_connector_source()
            .call_describe(&mut store)
            .map_err(|e| invalid(format!("describe failed: {e:#}")))?;
        Ok(Plugin {
            engine: engine.clone(),
            pre,
            descriptor: convert_descriptor(descriptor),
        })
    }

    pub(crate) fn descriptor(&self) -> &Descriptor {
        &self.descriptor
    }

    pub(crate) fn open(
        &self,
        config: Vec<(String, String)>,
        resume: Vec<(Vec<u8>, Vec<u8>)>,
        grants: &Grants,
        limits: &Limits,
    ) -> Result<SourceTask, TaskError> {
        let mut store = Store::new(&self.engine, TaskState::new(grants, limits)?);
        store.limiter(|s| &mut s.limits);
        store.epoch_deadline_trap();
        store.set_epoch_deadline(limits.deadline_ticks());
        let instance = self.pre.instantiate(&mut store).map_err(trap)?;
        store.set_epoch_deadline(limits.deadline_ticks());
        let task = instance
            .connectd_connector_source()
            .source_task()
            .call_open(&mut store, &config, &resume)
            .map_err(trap)?
            .map_err(task_error)?;
        Ok(SourceTask {
            store,
            instance,
            task,
            ticks: limits.deadline_ticks(),
        })
    }
}

/// One running source task, with its own store.
pub struct SourceTask {
    store: Store<TaskState>,
    instance: bindings::SourceConnector,
    task: ResourceAny,
    ticks: u64,
}

impl SourceTask {
    /// Up to `max` new records.
    pub fn poll(&mut self, max: u32) -> Result<Vec<SourceRecord>, TaskError> {
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

    /// Tells the task these positions are durable.
    pub fn commit(&mut self, positions: Vec<(Vec<u8>, Vec<u8>)>) -> Result<(), TaskError> {
        self.store.set_epoch_deadline(self.ticks);
        self.instance
            .connectd_connector_source()
            .source_task()
            .call_commit(&mut self.store, self.task, &positions)
            .map_err(trap)?
            .map_err(task_error)
    }
}

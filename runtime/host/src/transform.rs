//! Transforms: the `transform-connector` world.

use wasmtime::Store;
use wasmtime::component::ResourceAny;

use connectd_records::ConnectRecord;

use crate::TaskError;
use crate::bindings::{
    connect_record_in, connect_record_out, task_error, transform as bindings, trap_in,
};
use crate::store::TaskState;

pub(crate) type Pre = bindings::TransformConnectorPre<TaskState>;

/// One open transform instance, with its own store.
pub struct Transformer {
    store: Store<TaskState>,
    instance: bindings::TransformConnector,
    transformer: ResourceAny,
    ticks: u64,
}

impl Transformer {
    pub(crate) fn open(
        pre: &Pre,
        mut store: Store<TaskState>,
        ticks: u64,
        config: Vec<(String, String)>,
    ) -> Result<Self, TaskError> {
        let instance = pre.instantiate(&mut store).map_err(trap_in(&store))?;
        crate::arm_deadline(&mut store, ticks);
        let transformer = instance
            .connectd_connector_transform()
            .transformer()
            .call_open(&mut store, &config)
            .map_err(trap_in(&store))?
            .map_err(task_error)?;
        Ok(Transformer {
            store,
            instance,
            transformer,
            ticks,
        })
    }

    /// Transforms a batch: one answer per record, in order (`Ok(None)`: dropped). The outer
    /// error is a trap, after which the instance is unusable.
    #[allow(clippy::type_complexity)]
    pub fn apply(
        &mut self,
        batch: Vec<ConnectRecord>,
    ) -> Result<Vec<Result<Option<ConnectRecord>, TaskError>>, TaskError> {
        let batch: Vec<_> = batch.into_iter().map(connect_record_out).collect();
        crate::arm_deadline(&mut self.store, self.ticks);
        let out = self
            .instance
            .connectd_connector_transform()
            .transformer()
            .call_apply(&mut self.store, self.transformer, &batch)
            .map_err(trap_in(&self.store))?;
        Ok(out
            .into_iter()
            .map(|r| r.map(|r| r.map(connect_record_in)).map_err(task_error))
            .collect())
    }
}

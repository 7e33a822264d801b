//! Transforms: the `transform-connector` world.

use wasmtime::Store;

use connectd_records::ConnectRecord;

use crate::TaskError;
use crate::bindings::{connect_record_in, connect_record_out, task_error, transform as bindings};
use crate::instance::Instance;
use crate::store::TaskState;

pub(crate) type Pre = bindings::TransformConnectorPre<TaskState>;

/// One open transform instance, with its own store.
pub struct Transformer(Instance<bindings::TransformConnector>);

impl Transformer {
    pub(crate) fn open(
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
                b.connectd_connector_transform()
                    .transformer()
                    .call_open(store, &config)
            },
        )
        .map(Transformer)
    }

    /// Transforms a batch: one answer per record, in order (`Ok(None)`: dropped). The outer
    /// error is a trap, after which the instance is unusable.
    #[allow(clippy::type_complexity)]
    pub fn apply(
        &mut self,
        batch: Vec<ConnectRecord>,
    ) -> Result<Vec<Result<Option<ConnectRecord>, TaskError>>, TaskError> {
        let batch: Vec<_> = batch.into_iter().map(connect_record_out).collect();
        let out = self.0.call_raw(|b, store, transformer| {
            b.connectd_connector_transform()
                .transformer()
                .call_apply(store, transformer, &batch)
        })?;
        Ok(out
            .into_iter()
            .map(|r| r.map(|r| r.map(connect_record_in)).map_err(task_error))
            .collect())
    }
}

//! One component instance of any connector world, in a store of its own: what every call into
//! a guest does the same way, written once. A call arms the task's CPU deadline (with no
//! database wait counted yet), maps a trap to [`TaskError::Trap`] with the panic message the
//! guest printed, and maps the guest's own error to what the worker should do next.

use wasmtime::Store;
use wasmtime::component::ResourceAny;

use crate::TaskError;
use crate::bindings::{task_error, trap_in, wit};
use crate::store::TaskState;

/// An instance of a world's bindings `B`, and the resource its `open` returned (the task, or
/// the transformer).
pub(crate) struct Instance<B> {
    store: Store<TaskState>,
    bindings: B,
    resource: ResourceAny,
    /// The CPU deadline of one call, in epoch ticks.
    ticks: u64,
}

/// What a guest call returns: a trap, or the guest's answer.
type Call<T> = wasmtime::Result<T>;

impl<B> Instance<B> {
    /// Instantiates the component in `store` and calls its `open`.
    pub(crate) fn open(
        mut store: Store<TaskState>,
        ticks: u64,
        instantiate: impl FnOnce(&mut Store<TaskState>) -> Call<B>,
        open: impl FnOnce(&B, &mut Store<TaskState>) -> Call<Result<ResourceAny, wit::Error>>,
    ) -> Result<Self, TaskError> {
        let bindings = instantiate(&mut store).map_err(trap_in(&store))?;
        crate::arm_deadline(&mut store, ticks);
        let resource = open(&bindings, &mut store)
            .map_err(trap_in(&store))?
            .map_err(task_error)?;
        Ok(Instance {
            store,
            bindings,
            resource,
            ticks,
        })
    }

    /// Calls the guest, whose answer may be its own error.
    pub(crate) fn call<T>(
        &mut self,
        f: impl FnOnce(&B, &mut Store<TaskState>, ResourceAny) -> Call<Result<T, wit::Error>>,
    ) -> Result<T, TaskError> {
        self.call_raw(f)?.map_err(task_error)
    }

    /// Calls the guest, mapping only a trap (for answers that hold their own errors).
    pub(crate) fn call_raw<T>(
        &mut self,
        f: impl FnOnce(&B, &mut Store<TaskState>, ResourceAny) -> Call<T>,
    ) -> Result<T, TaskError> {
        crate::arm_deadline(&mut self.store, self.ticks);
        f(&self.bindings, &mut self.store, self.resource).map_err(trap_in(&self.store))
    }
}

//! The generated bindings of both connector worlds (sharing one set of `types`), and the
//! conversions every task kind uses.

use crate::TaskError;

pub(crate) mod source {
    wasmtime::component::bindgen!({
        world: "source-connector",
        path: "../../wit",
    });
}

pub(crate) mod sink {
    wasmtime::component::bindgen!({
        world: "sink-connector",
        path: "../../wit",
        with: {
            "connectd:connector/types": crate::bindings::source::connectd::connector::types,
            "connectd:connector/sql": crate::bindings::source::connectd::connector::sql,
        },
    });
}

pub(crate) mod transform {
    wasmtime::component::bindgen!({
        world: "transform-connector",
        path: "../../wit",
        with: { "connectd:connector/types": crate::bindings::source::connectd::connector::types },
    });
}

pub(crate) use source::connectd::connector::types as wit;

pub(crate) fn task_error(e: wit::Error) -> TaskError {
    match e {
        wit::Error::InvalidConfig(m) => TaskError::InvalidConfig(m),
        wit::Error::Retryable(m) => TaskError::Retryable(m),
        wit::Error::Fatal(m) => TaskError::Fatal(m),
        wit::Error::BadRecord(m) => TaskError::BadRecord(m),
    }
}

connectd_records::wit_conversions!(wit);

/// [`trap`], with the panic message the guest printed (if it panicked) added to the reason.
pub(crate) fn trap_in(
    store: &wasmtime::Store<crate::store::TaskState>,
) -> impl FnOnce(wasmtime::Error) -> TaskError + use<> {
    let stderr = store.data().stderr.clone();
    move |e| match (trap(e), stderr.panic_message()) {
        (TaskError::Trap(reason), Some(panic)) => TaskError::Trap(format!("{reason}: {panic}")),
        (other, _) => other,
    }
}

/// Turns a wasmtime error into a short reason: what limit was hit, or the trap itself (the
/// wasm backtrace goes to the debug log).
pub(crate) fn trap(e: wasmtime::Error) -> TaskError {
    tracing::debug!(error = ?e, "guest trapped");
    let chain = format!("{e:?}");
    match e.downcast_ref::<wasmtime::Trap>() {
        Some(wasmtime::Trap::Interrupt) => {
            TaskError::Trap("CPU deadline exceeded (limits: call timeout)".into())
        }
        _ if chain.contains("memory limit exceeded") => TaskError::Trap(
            e.chain()
                .map(|c| c.to_string())
                .find(|m| m.contains("memory limit exceeded"))
                .unwrap_or_else(|| "memory limit exceeded (limits: memory)".into()),
        ),
        Some(t) => TaskError::Trap(t.to_string()),
        // Only an interface the host did not link traps as an unknown import.
        None => match crate::CAPABILITIES
            .iter()
            .find(|c| chain.contains("unknown import") && chain.contains(c.interface))
        {
            Some(c) => TaskError::Fatal(format!(
                "the plugin called {}, but this connectd was built without the `{}` capability; build it with `cargo build --release -p connectd --features {}` (on by default)",
                c.interface, c.name, c.name
            )),
            None => TaskError::Trap(e.root_cause().to_string()),
        },
    }
}

//! Runs a WASI command component (a program with `main`) on the engine connectors get, for
//! benchmarks that compare guest code with the same code built natively: what the component
//! model and Cranelift cost a piece of code, with no connector interface around it.

use std::path::Path;

use wasmtime::component::{Component, Linker, ResourceTable};
use wasmtime_wasi::{WasiCtx, WasiCtxBuilder, WasiCtxView, WasiView};

use crate::{Error, Result, engine_config};

struct CommandState {
    wasi: WasiCtx,
    table: ResourceTable,
}

impl WasiView for CommandState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

/// Runs `wasm`'s `main` with `args` (the first is the program's name), its standard output
/// and error the process's. It gets no files, network or environment. Compiled every call
/// (no cache); the epoch checks are compiled in as for connectors, and never interrupt it.
pub fn run_command(wasm: &Path, args: &[String]) -> Result<()> {
    let engine_error = |e: wasmtime::Error| Error::Engine(format!("{e:#}"));
    let engine = wasmtime::Engine::new(&engine_config()).map_err(engine_error)?;
    let component = Component::from_file(&engine, wasm).map_err(|e| Error::InvalidPlugin {
        path: wasm.to_path_buf(),
        reason: format!("{e:#}"),
    })?;
    let mut linker = Linker::<CommandState>::new(&engine);
    wasmtime_wasi::p2::add_to_linker_sync(&mut linker).map_err(engine_error)?;
    let wasi = WasiCtxBuilder::new()
        .inherit_stdout()
        .inherit_stderr()
        .args(args)
        .build();
    let mut store = wasmtime::Store::new(
        &engine,
        CommandState {
            wasi,
            table: ResourceTable::new(),
        },
    );
    // Nothing advances this engine's epoch: the deadline is never reached.
    store.set_epoch_deadline(1);
    let command =
        wasmtime_wasi::p2::bindings::sync::Command::instantiate(&mut store, &component, &linker)
            .map_err(|e| Error::InvalidPlugin {
                path: wasm.to_path_buf(),
                reason: format!("not a WASI command: {e:#}"),
            })?;
    let failed = |reason: String| Error::CommandFailed {
        path: wasm.to_path_buf(),
        reason,
    };
    match command.wasi_cli_run().call_run(&mut store) {
        Ok(Ok(())) => Ok(()),
        Ok(Err(())) => Err(failed("exited with a failure".into())),
        Err(e) => Err(failed(format!("trapped: {e:#}"))),
    }
}

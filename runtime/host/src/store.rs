//! Per-task store data: the WASI context built from the connector's grants, the resource
//! table, and the memory limiter.

use std::path::PathBuf;
use std::time::Duration;

use wasmtime::component::ResourceTable;
use wasmtime::{StoreLimits, StoreLimitsBuilder};
use wasmtime_wasi::{FsPerms, WasiCtx, WasiCtxBuilder, WasiCtxView, WasiView};

use crate::TaskError;

/// Capabilities granted to one connector, from its config. Nothing else is reachable.
#[derive(Debug, Clone, Default)]
pub struct Grants {
    /// Directories the guest may read: (host path, path the guest sees).
    pub read_dirs: Vec<(PathBuf, String)>,
    /// Directories the guest may read and write: (host path, path the guest sees).
    pub write_dirs: Vec<(PathBuf, String)>,
    /// The guest's stdout is the worker's (for console output).
    pub stdout: bool,
}

/// Resource limits of one task.
#[derive(Debug, Clone)]
pub struct Limits {
    /// Largest linear memory the guest may grow to.
    pub memory_bytes: usize,
    /// CPU time one call (open, poll, put, flush, ...) may take before it traps.
    pub call_timeout: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            memory_bytes: 256 << 20,
            call_timeout: Duration::from_secs(10),
        }
    }
}

impl Limits {
    pub(crate) fn deadline_ticks(&self) -> u64 {
        (self.call_timeout.as_millis() / crate::EPOCH_TICK.as_millis()).max(1) as u64
    }
}

pub(crate) struct TaskState {
    wasi: WasiCtx,
    pub(crate) table: ResourceTable,
    /// The read-write directories, for the host's `files` interface.
    pub(crate) write_dirs: Vec<(PathBuf, String)>,
    pub(crate) limits: StoreLimits,
}

impl WasiView for TaskState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

impl TaskState {
    pub(crate) fn new(grants: &Grants, limits: &Limits) -> Result<Self, TaskError> {
        let mut wasi = WasiCtxBuilder::new();
        // Tasks run on threads of their own, synchronously: file reads, opens and syncs may
        // block the calling thread instead of a round trip through tokio's blocking pool.
        // (wasmtime-wasi 48 still sends output-stream writes through that pool.)
        wasi.allow_blocking_current_thread(true);
        for (host, guest) in &grants.read_dirs {
            wasi.preopened_dir(host, guest, FsPerms::ReadOnly)
                .map_err(|e| {
                    TaskError::Grant(format!("read-only directory {}: {e}", host.display()))
                })?;
        }
        for (host, guest) in &grants.write_dirs {
            wasi.preopened_dir(host, guest, FsPerms::ReadWrite)
                .map_err(|e| TaskError::Grant(format!("directory {}: {e}", host.display())))?;
        }
        if grants.stdout {
            wasi.inherit_stdout();
        }
        Ok(TaskState {
            wasi: wasi.build(),
            table: ResourceTable::new(),
            write_dirs: grants.write_dirs.clone(),
            limits: StoreLimitsBuilder::new()
                .memory_size(limits.memory_bytes)
                .instances(4)
                .trap_on_grow_failure(true)
                .build(),
        })
    }
}

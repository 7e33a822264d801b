//! Per-task store data: the WASI context built from the connector's grants, the resource
//! table, and the limiter that bounds the task's memory as a whole.

use std::collections::VecDeque;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use wasmtime::ResourceLimiter;
use wasmtime::component::ResourceTable;
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
    /// SQL connection URLs the guest may open (the `sql` interface), secrets resolved.
    pub sql_urls: Vec<String>,
    /// Object store locations the guest may open (the `object-store` interface).
    pub store_urls: Vec<String>,
    /// What the worker lets the guest's store options name.
    pub store_policy: Arc<StorePolicy>,
}

/// What the worker lets a connector's object-store options name (worker.toml): where
/// requests go and under which identity are the worker's to choose, not a plugin's, which
/// could otherwise send requests signed with the worker's credentials to a host of its own.
#[derive(Debug, Clone, Default)]
pub struct StorePolicy {
    /// The `s3.endpoint` values a connector may use (S3-compatible servers); none: AWS only.
    pub s3_endpoints: Vec<String>,
    /// The `aws.profile` values a connector may use; none: `AWS_PROFILE` or `default` only.
    pub aws_profiles: Vec<String>,
    /// Hadoop client settings for every `hdfs://` location (a connector sets none).
    pub hdfs_settings: std::collections::BTreeMap<String, String>,
}

/// Resource limits of one task.
#[derive(Debug, Clone)]
pub struct Limits {
    /// The most memory the task may hold: all its linear memories together, plus its tables
    /// (at [`TABLE_ELEMENT_BYTES`] an element), however many of each its modules declare.
    pub memory_bytes: usize,
    /// CPU time one call (open, poll, put, flush, ...) may take before it traps.
    pub call_timeout: Duration,
    /// The longest one call may wait, in all, on databases and object stores (time not
    /// counted against `call_timeout`); past it the waiting host call fails as a connection
    /// error, so a task that is stopped finishes its call within this bound.
    pub wait_timeout: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            memory_bytes: 256 << 20,
            call_timeout: Duration::from_secs(10),
            wait_timeout: Duration::from_secs(60),
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
    /// The end of what the guest wrote to stderr, for the panic message of a trap.
    pub(crate) stderr: StderrTail,
    pub(crate) table: ResourceTable,
    /// The read-write directories, for the host's `files` interface.
    pub(crate) write_dirs: Vec<(PathBuf, String)>,
    /// The runtime the capabilities' client libraries (SQL drivers, object stores) run on:
    /// the binary's, handed down through [`crate::Host::new`]; the task's thread blocks on it
    /// (`None` for a host made without one: a capability call then fails).
    #[cfg_attr(not(any(feature = "sql", feature = "object-store")), allow(dead_code))]
    pub(crate) io: Option<tokio::runtime::Handle>,
    /// The URLs the `sql` interface may open.
    #[cfg(feature = "sql")]
    pub(crate) sql_urls: Vec<String>,
    /// The locations the `object-store` interface may open.
    #[cfg(feature = "object-store")]
    pub(crate) store_urls: Vec<String>,
    /// What their options may name.
    #[cfg(feature = "object-store")]
    pub(crate) store_policy: Arc<StorePolicy>,
    /// Epoch ticks the current call spent blocked in the host waiting on a database: the
    /// deadline is extended by them, so the CPU deadline counts the guest's own time.
    pub(crate) waited_ticks: u64,
    /// How long the current call has waited in the host so far, against `wait_timeout`.
    #[cfg_attr(not(any(feature = "sql", feature = "object-store")), allow(dead_code))]
    pub(crate) call_waited: Duration,
    #[cfg_attr(not(any(feature = "sql", feature = "object-store")), allow(dead_code))]
    pub(crate) wait_timeout: Duration,
    pub(crate) limits: TaskLimiter,
}

/// Why a wait in the host ended without the future's output.
#[cfg(any(feature = "sql", feature = "object-store"))]
pub(crate) enum Waited {
    /// The client library panicked: its message.
    Panicked(String),
    /// The call used up its `wait_timeout`: what to tell the guest.
    TimedOut(String),
}

/// The last [`StderrTail::KEEP`] bytes a guest wrote to stderr. A Rust guest that panics
/// prints its message there just before it traps, so the task's FAILED status can say what
/// the plugin said, not only "unreachable". Older output is dropped, so a chatty plugin
/// costs a bounded amount of memory, and writes never fail.
#[derive(Clone, Default)]
pub(crate) struct StderrTail(Arc<Mutex<VecDeque<u8>>>);

impl StderrTail {
    const KEEP: usize = 4096;

    fn push(&self, bytes: &[u8]) {
        let mut tail = self.0.lock().unwrap_or_else(|e| e.into_inner());
        let bytes = &bytes[bytes.len().saturating_sub(Self::KEEP)..];
        let overflow = (tail.len() + bytes.len()).saturating_sub(Self::KEEP);
        tail.drain(..overflow);
        tail.extend(bytes);
    }

    /// The message of the last panic written, with where it happened, at most 512 bytes:
    /// Rust prints `thread '...' panicked at src/lib.rs:7:5:` and the message on the lines
    /// after it.
    pub(crate) fn panic_message(&self) -> Option<String> {
        let tail = self.0.lock().unwrap_or_else(|e| e.into_inner());
        let bytes: Vec<u8> = tail.iter().copied().collect();
        let text = String::from_utf8_lossy(&bytes);
        let at = text.rfind("panicked at ")?;
        let rest = &text[at + "panicked at ".len()..];
        let (place, message) = rest.split_once(":\n").unwrap_or((rest, ""));
        let message = message.split("\nnote: ").next().unwrap_or_default().trim();
        let mut out = format!("the plugin panicked at {place}: {message}");
        if out.len() > 512 {
            let mut end = 509;
            while !out.is_char_boundary(end) {
                end -= 1;
            }
            out.truncate(end);
            out.push_str("...");
        }
        Some(out)
    }
}

impl wasmtime_wasi::cli::IsTerminal for StderrTail {
    fn is_terminal(&self) -> bool {
        false
    }
}

impl wasmtime_wasi::cli::StdoutStream for StderrTail {
    fn p2_stream(&self) -> Box<dyn wasmtime_wasi::p2::OutputStream> {
        Box::new(self.clone())
    }

    fn async_stream(&self) -> Box<dyn tokio::io::AsyncWrite + Send + Sync> {
        Box::new(self.clone())
    }
}

impl wasmtime_wasi::p2::OutputStream for StderrTail {
    fn write(&mut self, bytes: bytes::Bytes) -> wasmtime_wasi::p2::StreamResult<()> {
        self.push(&bytes);
        Ok(())
    }

    fn flush(&mut self) -> wasmtime_wasi::p2::StreamResult<()> {
        Ok(())
    }

    fn check_write(&mut self) -> wasmtime_wasi::p2::StreamResult<usize> {
        Ok(1 << 20)
    }
}

#[wasmtime_wasi::async_trait]
impl wasmtime_wasi::p2::Pollable for StderrTail {
    async fn ready(&mut self) {}
}

impl tokio::io::AsyncWrite for StderrTail {
    fn poll_write(
        self: std::pin::Pin<&mut Self>,
        _: &mut std::task::Context<'_>,
        buf: &[u8],
    ) -> std::task::Poll<std::io::Result<usize>> {
        self.push(buf);
        std::task::Poll::Ready(Ok(buf.len()))
    }

    fn poll_flush(
        self: std::pin::Pin<&mut Self>,
        _: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::task::Poll::Ready(Ok(()))
    }

    fn poll_shutdown(
        self: std::pin::Pin<&mut Self>,
        _: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::task::Poll::Ready(Ok(()))
    }
}

/// What one table element costs the host, for the memory limit.
pub const TABLE_ELEMENT_BYTES: usize = 8;

/// Bounds a task's memories and tables together. wasmtime's `StoreLimits` bounds each linear
/// memory on its own, so a module declaring many memories (or growing tables) could take many
/// times the limit; this one counts every byte granted in the store against one budget.
/// Memories and tables never shrink, so the sum of the growth granted is what is held.
pub(crate) struct TaskLimiter {
    limit: usize,
    used: usize,
}

impl TaskLimiter {
    fn new(limit: usize) -> TaskLimiter {
        TaskLimiter { limit, used: 0 }
    }

    fn grant(&mut self, what: &str, more: usize) -> wasmtime::Result<bool> {
        let total = self.used.saturating_add(more);
        if total > self.limit {
            // An error (not `Ok(false)`) traps the guest at once, with this message, even
            // where the guest would have handled a failed `memory.grow`.
            return Err(wasmtime::Error::msg(format!(
                "memory limit exceeded (limits: memory): growing a {what} would make the task hold {total} bytes of {}",
                self.limit
            )));
        }
        self.used = total;
        Ok(true)
    }
}

impl ResourceLimiter for TaskLimiter {
    fn memory_growing(
        &mut self,
        current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        self.grant("memory", desired.saturating_sub(current))
    }

    fn table_growing(
        &mut self,
        current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        let elements = desired.saturating_sub(current);
        self.grant("table", elements.saturating_mul(TABLE_ELEMENT_BYTES))
    }

    /// A component is a handful of core instances; a task has one component.
    fn instances(&self) -> usize {
        4
    }
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
    /// Runs `f` on the I/O runtime, blocking this thread, and counts the wait as time the
    /// guest did not spend computing (given back to its CPU deadline), but against the call's
    /// `wait_timeout`: past it, `f` is dropped (cancelling its request) and the call gets
    /// [`Waited::TimedOut`]. A panic inside `f` (a client library's `unwrap` on what it was
    /// given) is caught and returned as its text, for the caller to make an error of the call
    /// rather than the end of the task's thread.
    #[cfg(any(feature = "sql", feature = "object-store"))]
    pub(crate) fn block_on<T>(&mut self, f: impl Future<Output = T>) -> Result<T, Waited> {
        let started = std::time::Instant::now();
        let io = self
            .io
            .clone()
            .ok_or_else(|| Waited::Panicked("the host was given no I/O runtime".into()))?;
        let left = self.wait_timeout.saturating_sub(self.call_waited);
        // In the runtime's context, so what a timed-out future drops (a pooled connection
        // going back to its pool) can reach the runtime.
        let _context = io.enter();
        let out = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            io.block_on(tokio::time::timeout(left, f))
        }))
        .map_err(|panic| {
            Waited::Panicked(
                panic
                    .downcast_ref::<String>()
                    .cloned()
                    .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
                    .unwrap_or_default(),
            )
        });
        let waited = started.elapsed();
        self.call_waited += waited;
        let ticks = waited.as_millis() / crate::EPOCH_TICK.as_millis();
        self.waited_ticks = self.waited_ticks.saturating_add(ticks as u64);
        out?.map_err(|_| {
            Waited::TimedOut(format!(
                "timed out: this call waited {} ms in all on the database or object store (worker.toml task_wait_timeout_ms)",
                self.wait_timeout.as_millis()
            ))
        })
    }

    pub(crate) fn new(
        grants: &Grants,
        limits: &Limits,
        io: Option<tokio::runtime::Handle>,
    ) -> Result<Self, TaskError> {
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
        let stderr = StderrTail::default();
        wasi.stderr(stderr.clone());
        Ok(TaskState {
            wasi: wasi.build(),
            stderr,
            table: ResourceTable::new(),
            write_dirs: grants.write_dirs.clone(),
            io,
            #[cfg(feature = "sql")]
            sql_urls: grants.sql_urls.clone(),
            #[cfg(feature = "object-store")]
            store_urls: grants.store_urls.clone(),
            #[cfg(feature = "object-store")]
            store_policy: grants.store_policy.clone(),
            waited_ticks: 0,
            call_waited: Duration::ZERO,
            wait_timeout: limits.wait_timeout,
            limits: TaskLimiter::new(limits.memory_bytes),
        })
    }
}

#[cfg(test)]
mod tests {
    use wasm_encoder::{
        CodeSection, ExportKind, ExportSection, Function, FunctionSection, Instruction,
        MemorySection, MemoryType, Module, RefType, TableSection, TableType, TypeSection, ValType,
    };
    use wasmtime::{Engine, Instance, Store};

    use super::*;

    /// A core module with four one-page memories and a table, exporting `grow_memory(index,
    /// pages)` and `grow_table(elements)`, both returning what `memory.grow`/`table.grow` do.
    fn module() -> Vec<u8> {
        let mut types = TypeSection::new();
        types
            .ty()
            .function([ValType::I32, ValType::I32], [ValType::I32]);
        types.ty().function([ValType::I32], [ValType::I32]);
        let mut functions = FunctionSection::new();
        functions.function(0);
        functions.function(1);
        let mut tables = TableSection::new();
        tables.table(TableType {
            element_type: RefType::FUNCREF,
            table64: false,
            minimum: 0,
            maximum: None,
            shared: false,
        });
        let mut memories = MemorySection::new();
        for _ in 0..4 {
            memories.memory(MemoryType {
                minimum: 1,
                maximum: None,
                memory64: false,
                shared: false,
                page_size_log2: None,
            });
        }
        let mut exports = ExportSection::new();
        exports.export("grow_memory", ExportKind::Func, 0);
        exports.export("grow_table", ExportKind::Func, 1);
        let mut code = CodeSection::new();
        // grow_memory: a branch per memory index, each growing that memory.
        let mut grow = Function::new([]);
        for index in 0..4u32 {
            grow.instruction(&Instruction::LocalGet(0));
            grow.instruction(&Instruction::I32Const(index as i32));
            grow.instruction(&Instruction::I32Eq);
            grow.instruction(&Instruction::If(wasm_encoder::BlockType::Empty));
            grow.instruction(&Instruction::LocalGet(1));
            grow.instruction(&Instruction::MemoryGrow(index));
            grow.instruction(&Instruction::Return);
            grow.instruction(&Instruction::End);
        }
        grow.instruction(&Instruction::I32Const(-1));
        grow.instruction(&Instruction::End);
        code.function(&grow);
        let mut table = Function::new([]);
        table.instruction(&Instruction::RefNull(wasm_encoder::HeapType::FUNC));
        table.instruction(&Instruction::LocalGet(0));
        table.instruction(&Instruction::TableGrow(0));
        table.instruction(&Instruction::End);
        code.function(&table);
        let mut module = Module::new();
        module
            .section(&types)
            .section(&functions)
            .section(&tables)
            .section(&memories)
            .section(&exports)
            .section(&code);
        module.finish()
    }

    fn instance(limit: usize) -> (Store<TaskLimiter>, Instance) {
        let engine = Engine::default();
        let module = wasmtime::Module::new(&engine, module()).unwrap();
        let mut store = Store::new(&engine, TaskLimiter::new(limit));
        store.limiter(|l| l);
        let instance = Instance::new(&mut store, &module, &[]).unwrap();
        (store, instance)
    }

    const PAGE: usize = 64 << 10;

    /// Four memories of 16 pages each would be 4 MiB; the task's limit is 3 MiB for all of
    /// them together, where a per-memory limit would have let each reach 3 MiB.
    #[test]
    fn memories_count_together() {
        let (mut store, instance) = instance(3 << 20);
        let grow = instance
            .get_typed_func::<(i32, i32), i32>(&mut store, "grow_memory")
            .unwrap();
        for index in 0..2 {
            assert_eq!(
                grow.call(&mut store, (index, 15)).unwrap(),
                1,
                "memory {index}"
            );
        }
        let err = grow.call(&mut store, (2, 15)).unwrap_err();
        let message = format!("{err:?}");
        assert!(
            message.contains("memory limit exceeded")
                && message.contains(&format!("of {}", 3 << 20)),
            "{message}"
        );
        assert_eq!(store.data().used, 2 * 16 * PAGE + 2 * PAGE);
    }

    #[test]
    fn stderr_keeps_a_bounded_tail_and_finds_the_panic() {
        let tail = StderrTail::default();
        tail.push(&vec![b'x'; 10_000]);
        tail.push(b"thread '<unnamed>' panicked at src/lib.rs:7:5:\nno config\nnote: run with `RUST_BACKTRACE=1`\n");
        assert_eq!(tail.0.lock().unwrap().len(), StderrTail::KEEP);
        assert_eq!(
            tail.panic_message().as_deref(),
            Some("the plugin panicked at src/lib.rs:7:5: no config")
        );
        tail.push(&vec![b'y'; 10_000]);
        assert_eq!(tail.panic_message(), None, "an old panic scrolled out");
    }

    /// Table elements count against the same budget.
    #[test]
    fn tables_count_too() {
        let (mut store, instance) = instance(4 * PAGE + 100_000 * TABLE_ELEMENT_BYTES);
        let grow = instance
            .get_typed_func::<i32, i32>(&mut store, "grow_table")
            .unwrap();
        assert_eq!(grow.call(&mut store, 100_000).unwrap(), 0);
        let err = grow.call(&mut store, 1).unwrap_err();
        assert!(format!("{err:?}").contains("growing a table"), "{err:?}");
    }
}

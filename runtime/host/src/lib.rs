//! The plugin host: everything wasmtime lives in this crate, and no wasmtime type leaves it.
//!
//! - One [`Host`] per worker: the engine, one epoch ticker for every guest, and the on-disk
//!   cache of compiled components (keyed by the SHA-256 of the `.wasm`).
//! - A [`Plugin`] is one loaded component, pre-instantiated once; it reports its
//!   [`Descriptor`] (name, version, kind, config schema).
//! - Records and batches are [`connectd_records`] types on both sides of every call.
//! - Each task gets its own `Store`: its WASI context holds only the capabilities its connector
//!   was granted ([`Grants`]: preopened directories, nothing else: no network, no environment),
//!   a memory limit, and a CPU deadline per call ([`Limits`]). A guest that loops, allocates
//!   without bound or panics traps; the trap becomes a [`TaskError`] for that task alone.

mod bindings;
mod cache;
#[cfg(feature = "bench")]
mod command;
mod files;
mod instance;
pub mod native;
#[cfg(feature = "object-store")]
mod object_store;
mod sink;
mod source;
#[cfg(feature = "sql")]
mod sql;
mod store;
mod transform;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

#[cfg(feature = "bench")]
pub use command::run_command;
use connectd_records::Descriptor;
pub use sink::SinkTask;
pub use source::SourceTask;
pub use store::{Grants, Limits, StorePolicy, TABLE_ELEMENT_BYTES};
pub use transform::Transformer;

/// A capability a plugin may be granted beyond files and stdout.
#[derive(Debug, Clone, Copy)]
pub struct Capability {
    /// Its name: the cargo feature of `connectd-host` that builds it.
    pub name: &'static str,
    /// The WIT interface it implements.
    pub interface: &'static str,
    /// Whether this build has it.
    pub built: bool,
}

/// Every capability, built or not.
pub const CAPABILITIES: &[Capability] = &[
    Capability {
        name: "sql",
        interface: "connectd:connector/sql",
        built: cfg!(feature = "sql"),
    },
    Capability {
        name: "object-store",
        interface: "connectd:connector/object-store",
        built: cfg!(feature = "object-store"),
    },
];

/// How often the shared epoch advances; CPU deadlines are counted in these ticks.
pub const EPOCH_TICK: Duration = Duration::from_millis(10);

/// Errors from loading plugins.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The file is not a usable connector component.
    #[error("{path}: {reason}")]
    InvalidPlugin {
        /// The `.wasm` file.
        path: PathBuf,
        /// What is wrong, and what was expected.
        reason: String,
    },
    /// Reading or caching failed.
    #[error("{context}: {source}")]
    Io {
        /// What was being done.
        context: String,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The engine could not be set up.
    #[error("wasmtime engine: {0}")]
    Engine(String),
    /// A command component ([`run_command`]) trapped or exited with a failure.
    #[error("{path}: {reason}")]
    CommandFailed {
        /// The `.wasm` file.
        path: PathBuf,
        /// The trap, or its exit.
        reason: String,
    },
}

/// Errors from one task's calls, by what the worker should do next.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TaskError {
    /// The connector refused its config (name the key).
    #[error("invalid config: {0}")]
    InvalidConfig(String),
    /// Transient; retry with backoff.
    #[error("retryable: {0}")]
    Retryable(String),
    /// The connector gave up.
    #[error("fatal: {0}")]
    Fatal(String),
    /// One record cannot be handled; the task is fine (see `errors.tolerance`).
    #[error("bad record: {0}")]
    BadRecord(String),
    /// The guest trapped: CPU deadline, memory limit, panic or a host-side failure. The task's
    /// store is unusable afterwards.
    #[error("plugin trapped: {0}")]
    Trap(String),
    /// A capability in the grants could not be set up (e.g. a directory that does not exist).
    #[error("grant: {0}")]
    Grant(String),
}

/// Result with the host's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// The wasmtime engine, its epoch ticker and the component cache.
pub struct Host {
    engine: wasmtime::Engine,
    io: tokio::runtime::Handle,
    cache_dir: PathBuf,
    stop: Arc<AtomicBool>,
    /// The capabilities plugins are linked against: those this build has, less any
    /// [`Host::leave_out`] named.
    linked: Vec<&'static str>,
}

/// The engine's settings: components, and epoch checks for CPU deadlines.
fn engine_config() -> wasmtime::Config {
    let mut config = wasmtime::Config::new();
    config.wasm_component_model(true).epoch_interruption(true);
    // `CONNECTD_WASM_PERFMAP=1` writes /tmp/perf-<pid>.map, so `perf report` names the
    // functions of connector components.
    if std::env::var_os("CONNECTD_WASM_PERFMAP").is_some() {
        config.profiler(wasmtime::ProfilingStrategy::PerfMap);
    }
    config
}

impl Host {
    /// A host whose compiled components are cached in `cache_dir`, and whose capabilities'
    /// clients (SQL drivers, object stores) run on `io`: the binary's runtime, handed down.
    /// Tasks call from threads of their own and block on it; they must not be its workers.
    pub fn new(cache_dir: &Path, io: tokio::runtime::Handle) -> Result<Self> {
        let engine =
            wasmtime::Engine::new(&engine_config()).map_err(|e| Error::Engine(e.to_string()))?;
        std::fs::create_dir_all(cache_dir).map_err(|e| Error::Io {
            context: format!("creating {}", cache_dir.display()),
            source: e,
        })?;
        let stop = Arc::new(AtomicBool::new(false));
        let (ticker_engine, ticker_stop) = (engine.clone(), stop.clone());
        std::thread::Builder::new()
            .name("connectd-epoch".into())
            .spawn(move || {
                while !ticker_stop.load(Ordering::Relaxed) {
                    std::thread::sleep(EPOCH_TICK);
                    ticker_engine.increment_epoch();
                }
            })
            .map_err(|e| Error::Io {
                context: "starting the epoch ticker".into(),
                source: e,
            })?;
        Ok(Host {
            engine,
            io,
            cache_dir: cache_dir.to_path_buf(),
            stop,
            linked: CAPABILITIES
                .iter()
                .filter(|c| c.built)
                .map(|c| c.name)
                .collect(),
        })
    }

    /// This host, linking plugins loaded from now on as a build without `capability` would:
    /// a call into it fails the task, naming the feature. It lets one build test what a
    /// smaller build does.
    pub fn leave_out(mut self, capability: &str) -> Self {
        self.linked.retain(|name| *name != capability);
        self
    }

    /// Loads a connector component (compiling it, or reading the cached compilation),
    /// pre-instantiates it, and asks it to describe itself.
    pub fn load(&self, wasm: &Path) -> Result<Plugin> {
        let component = cache::load(&self.engine, &self.cache_dir, wasm)?;
        let invalid = |reason: String| Error::InvalidPlugin {
            path: wasm.to_path_buf(),
            reason,
        };
        let mut linker = wasmtime::component::Linker::<store::TaskState>::new(&self.engine);
        wasmtime_wasi::p2::add_to_linker_sync(&mut linker)
            .map_err(|e| Error::Engine(e.to_string()))?;
        bindings::sink::connectd::connector::files::add_to_linker::<
            _,
            wasmtime::component::HasSelf<_>,
        >(&mut linker, |state| state)
        .map_err(|e| Error::Engine(e.to_string()))?;
        #[cfg(feature = "object-store")]
        if self.linked.contains(&"object-store") {
            bindings::sink::connectd::connector::object_store::add_to_linker::<
                _,
                wasmtime::component::HasSelf<_>,
            >(&mut linker, |state| state)
            .map_err(|e| Error::Engine(e.to_string()))?;
        }
        #[cfg(feature = "sql")]
        if self.linked.contains(&"sql") {
            bindings::source::connectd::connector::sql::add_to_linker::<
                _,
                wasmtime::component::HasSelf<_>,
            >(&mut linker, |state| state)
            .map_err(|e| Error::Engine(e.to_string()))?;
        }
        if self.linked.len() < CAPABILITIES.len() {
            // Every SDK plugin imports the capabilities its kind may use; where one is not
            // linked, its functions trap when called (the trap names the feature), and the
            // rest of the plugin runs.
            linker
                .define_unknown_imports_as_traps(&component)
                .map_err(|e| Error::Engine(e.to_string()))?;
        }
        let instance_pre = linker.instantiate_pre(&component).map_err(|e| {
            invalid(format!(
                "imports something the host does not provide: {e:#}"
            ))
        })?;
        // Describe it in a throwaway store with no grants.
        let limits = Limits::default();
        let mut store = self
            .store(&Grants::default(), &limits)
            .map_err(|e| invalid(e.to_string()))?;
        let (kind, described) = if let Ok(pre) = source::Pre::new(instance_pre.clone()) {
            let d = pre
                .instantiate(&mut store)
                .and_then(|i| i.connectd_connector_source().call_describe(&mut store));
            (PluginKind::Source(pre), d)
        } else if let Ok(pre) = sink::Pre::new(instance_pre.clone()) {
            let d = pre
                .instantiate(&mut store)
                .and_then(|i| i.connectd_connector_sink().call_describe(&mut store));
            (PluginKind::Sink(pre), d)
        } else if let Ok(pre) = transform::Pre::new(instance_pre) {
            let d = pre
                .instantiate(&mut store)
                .and_then(|i| i.connectd_connector_transform().call_describe(&mut store));
            (PluginKind::Transform(pre), d)
        } else {
            return Err(invalid("exports none of connectd:connector/source, sink or transform (build it with connectd-sdk's export_source!, export_sink! or export_transform!)".into()));
        };
        let descriptor = bindings::descriptor_in(
            described.map_err(|e| invalid(format!("describe failed: {e:#}")))?,
        );
        Ok(Plugin {
            engine: self.engine.clone(),
            io: Some(self.io.clone()),
            kind,
            descriptor,
        })
    }

    fn store(
        &self,
        grants: &Grants,
        limits: &Limits,
    ) -> Result<wasmtime::Store<store::TaskState>, TaskError> {
        new_store(&self.engine, Some(&self.io), grants, limits)
    }
}

fn new_store(
    engine: &wasmtime::Engine,
    io: Option<&tokio::runtime::Handle>,
    grants: &Grants,
    limits: &Limits,
) -> Result<wasmtime::Store<store::TaskState>, TaskError> {
    let mut store =
        wasmtime::Store::new(engine, store::TaskState::new(grants, limits, io.cloned())?);
    store.limiter(|s| &mut s.limits);
    // At the deadline, time the call spent waiting on a database in the host is given back
    // once; a guest that computed that long traps.
    store.epoch_deadline_callback(|mut ctx| {
        let waited = std::mem::take(&mut ctx.data_mut().waited_ticks);
        if waited > 0 {
            Ok(wasmtime::UpdateDeadline::Continue(waited))
        } else {
            Err(wasmtime::Trap::Interrupt.into())
        }
    });
    store.set_epoch_deadline(limits.deadline_ticks());
    Ok(store)
}

impl Drop for Host {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

enum PluginKind {
    Source(source::Pre),
    Sink(sink::Pre),
    Transform(transform::Pre),
    NativeSource(native::OpenSource),
    NativeSink(native::OpenSink),
}

/// A loaded, pre-instantiated connector component (or a native connector, see
/// [`Plugin::native_source`]).
pub struct Plugin {
    engine: wasmtime::Engine,
    /// The host's I/O runtime (`None` for a native plugin, which has no store).
    io: Option<tokio::runtime::Handle>,
    kind: PluginKind,
    descriptor: Descriptor,
}

impl Plugin {
    /// A source connector compiled into this process, run without the sandbox: for measuring
    /// what the WebAssembly boundary costs, everything else being equal (see [`native`]).
    pub fn native_source(descriptor: Descriptor, open: native::OpenSource) -> Plugin {
        Plugin {
            engine: wasmtime::Engine::default(),
            io: None,
            kind: PluginKind::NativeSource(open),
            descriptor,
        }
    }

    /// A sink connector compiled into this process, run without the sandbox.
    pub fn native_sink(descriptor: Descriptor, open: native::OpenSink) -> Plugin {
        Plugin {
            engine: wasmtime::Engine::default(),
            io: None,
            kind: PluginKind::NativeSink(open),
            descriptor,
        }
    }

    /// What the connector says about itself.
    pub fn descriptor(&self) -> &Descriptor {
        &self.descriptor
    }

    /// Opens a source task with its own store, capabilities and limits.
    pub fn open_source(
        &self,
        config: Vec<(String, String)>,
        resume: Vec<(Vec<u8>, Vec<u8>)>,
        grants: &Grants,
        limits: &Limits,
    ) -> Result<SourceTask, TaskError> {
        let pre = match &self.kind {
            PluginKind::Source(pre) => pre,
            PluginKind::NativeSource(open) => return open(config, resume).map(SourceTask::native),
            _ => {
                return Err(TaskError::InvalidConfig(format!(
                    "plugin {:?} is not a source connector",
                    self.descriptor.name
                )));
            }
        };
        SourceTask::open(
            pre,
            new_store(&self.engine, self.io.as_ref(), grants, limits)?,
            limits.deadline_ticks(),
            config,
            resume,
        )
    }

    /// Opens a sink task with its own store, capabilities and limits.
    pub fn open_sink(
        &self,
        config: Vec<(String, String)>,
        grants: &Grants,
        limits: &Limits,
    ) -> Result<SinkTask, TaskError> {
        let pre = match &self.kind {
            PluginKind::Sink(pre) => pre,
            PluginKind::NativeSink(open) => return open(config).map(SinkTask::native),
            _ => {
                return Err(TaskError::InvalidConfig(format!(
                    "plugin {:?} is not a sink connector",
                    self.descriptor.name
                )));
            }
        };
        SinkTask::open(
            pre,
            new_store(&self.engine, self.io.as_ref(), grants, limits)?,
            limits.deadline_ticks(),
            config,
        )
    }

    /// Opens a transform instance with its own store and limits (and no capabilities).
    pub fn open_transform(
        &self,
        config: Vec<(String, String)>,
        limits: &Limits,
    ) -> Result<Transformer, TaskError> {
        let PluginKind::Transform(pre) = &self.kind else {
            return Err(TaskError::InvalidConfig(format!(
                "plugin {:?} is not a transform",
                self.descriptor.name
            )));
        };
        Transformer::open(
            pre,
            new_store(&self.engine, self.io.as_ref(), &Grants::default(), limits)?,
            limits.deadline_ticks(),
            config,
        )
    }
}

/// Starts a call's CPU deadline: `ticks` from now, with no database wait counted yet.
pub(crate) fn arm_deadline(store: &mut wasmtime::Store<store::TaskState>, ticks: u64) {
    store.data_mut().waited_ticks = 0;
    store.data_mut().call_waited = std::time::Duration::ZERO;
    store.set_epoch_deadline(ticks);
}

/// The I/O runtime the unit tests hand to task states, as the binary hands its own to the
/// host (one file serves the unit and the integration tests).
#[cfg(test)]
#[path = "../tests/all/io.rs"]
mod tests_io;
#[cfg(test)]
pub(crate) use tests_io::io as tests_io;

//! worker.toml: what `connectd --config` reads.
//!
//! Relative paths in the file are resolved against the file's own directory, so a config
//! works the same from any working directory.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use connectd_broker::BrokerConfig;
use serde::Deserialize;

/// The whole worker.toml.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WorkerFile {
    /// `[worker]`: where this worker keeps its state.
    pub worker: WorkerSection,
    /// `[broker]`: the embedded broker (every key has a default).
    #[serde(default)]
    pub broker: BrokerConfig,
}

/// The `[worker]` section.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WorkerSection {
    /// Directory for topic data and broker metadata. Created if missing.
    pub data_dir: PathBuf,
    /// Folder of connector plugins (`.wasm` components). With `connectors_dir`, runs connectors.
    #[serde(default)]
    pub plugin_dir: Option<PathBuf>,
    /// Folder of connector configs, one `.toml` per connector.
    #[serde(default)]
    pub connectors_dir: Option<PathBuf>,
    /// Memory limit of each connector task, in bytes. Default 256 MiB.
    #[serde(default = "default_task_memory_bytes")]
    pub task_memory_bytes: usize,
    /// CPU time one call into a connector may take before it is stopped, in ms. Default 10000.
    #[serde(default = "default_task_call_timeout_ms")]
    pub task_call_timeout_ms: u64,
}

fn default_task_memory_bytes() -> usize {
    256 << 20
}

fn default_task_call_timeout_ms() -> u64 {
    10_000
}

impl WorkerFile {
    /// Reads and validates a worker.toml, naming the file and the key on errors.
    pub fn load(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("reading worker config {}", path.display()))?;
        let mut file: WorkerFile = toml::from_str(&text)
            .map_err(|e| anyhow::anyhow!("{}: {}", path.display(), e.to_string().trim_end()))?;
        let base = path.parent().unwrap_or(Path::new("."));
        for dir in [
            Some(&mut file.worker.data_dir),
            file.worker.plugin_dir.as_mut(),
            file.worker.connectors_dir.as_mut(),
        ]
        .into_iter()
        .flatten()
        {
            if dir.is_relative() {
                *dir = base.join(&*dir);
            }
        }
        if file.worker.plugin_dir.is_some() != file.worker.connectors_dir.is_some() {
            anyhow::bail!(
                "{}: [worker] needs both plugin_dir and connectors_dir to run connectors (or neither)",
                path.display()
            );
        }
        if file.broker.mode == connectd_broker::BrokerMode::Kafka {
            anyhow::bail!(
                "{}: [broker] mode = \"kafka\" is not available in this version; use mode = \"embedded\" (the default)",
                path.display()
            );
        }
        Ok(file)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_keys_are_named() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("worker.toml");
        std::fs::write(
            &path,
            "[worker]\ndata_dir = \"d\"\n[broker]\nlisten = \"127.0.0.1:1\"\nlisten_port = 3\n",
        )
        .unwrap();
        let err = WorkerFile::load(&path).unwrap_err().to_string();
        assert!(
            err.contains("worker.toml") && err.contains("listen_port"),
            "{err}"
        );
    }

    #[test]
    fn relative_data_dir_follows_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("worker.toml");
        std::fs::write(&path, "[worker]\ndata_dir = \"d\"\n").unwrap();
        assert_eq!(
            WorkerFile::load(&path).unwrap().worker.data_dir,
            dir.path().join("d")
        );
    }
}

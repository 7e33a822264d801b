//! The supervisor's plugins: `plugin_dir`'s `.wasm` files, loaded, reloaded when they
//! change and unloaded when removed, and the built-in ones given in code; and how the names in
//! a connector's config find them.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::SystemTime;

use connectd_host::Plugin;
use connectd_records::Kind;

use super::Supervisor;
use crate::connectors::config::ConnectorConfig;
use crate::error::{Error, Result};
use crate::tasks::transform_stage::TransformSpec;

pub(super) struct LoadedPlugin {
    /// File length and modification time when loaded.
    fingerprint: (u64, Option<SystemTime>),
    pub plugin: Arc<Plugin>,
    /// Bumped on every reload of this file.
    pub generation: u64,
}

fn fingerprint(path: &Path) -> (u64, Option<SystemTime>) {
    std::fs::metadata(path)
        .map(|m| (m.len(), m.modified().ok()))
        .unwrap_or((0, None))
}

/// A connector's plugin and its transforms' plugins, found.
pub(super) struct Found {
    pub plugin: Arc<Plugin>,
    pub transforms: Vec<TransformSpec>,
    /// The generation of its plugin, then of each transform's plugin: when one changes, the
    /// connector restarts on the new version.
    pub generations: Vec<u64>,
}

impl Supervisor {
    /// Every loaded plugin (plugin_dir's, then the built-in ones).
    pub(crate) fn plugins(&self) -> Vec<Arc<Plugin>> {
        let mut all: Vec<(&PathBuf, &LoadedPlugin)> = self.plugins.iter().collect();
        all.sort_by_key(|(path, _)| *path);
        all.into_iter()
            .chain(self.builtins.iter())
            .map(|(_, p)| p.plugin.clone())
            .collect()
    }

    /// Adds a plugin given in code under `name` (looked up like a `plugin_dir/<name>.wasm`).
    pub(crate) fn add_builtin(&mut self, name: &str, plugin: Arc<Plugin>) {
        self.builtins.insert(
            PathBuf::from(format!("<builtin>/{name}")),
            LoadedPlugin {
                fingerprint: (0, None),
                plugin,
                generation: self.next_generation,
            },
        );
        self.next_generation += 1;
    }

    /// Loads what is new or changed in `plugin_dir` and unloads what was removed.
    pub(super) fn reconcile_plugins(&mut self) {
        let files = files_with_extension(&self.settings.plugin_dir, "wasm").unwrap_or_else(|e| {
            tracing::error!(error = %e, "cannot list plugin_dir");
            Vec::new()
        });
        self.plugins.retain(|path, _| {
            let keep = files.contains(path);
            if !keep {
                tracing::info!(plugin = %path.display(), "plugin removed");
            }
            keep
        });
        for file in files {
            let fp = fingerprint(&file);
            if self.plugins.get(&file).is_some_and(|p| p.fingerprint == fp) {
                continue;
            }
            let replacing = self.plugins.contains_key(&file);
            match self.host.load(&file) {
                Ok(plugin) => {
                    let d = plugin.descriptor();
                    tracing::info!(plugin = %file.display(), connector = %d.name, version = %d.version, kind = ?d.kind, replacing, "loaded plugin");
                    self.plugins.insert(
                        file,
                        LoadedPlugin {
                            fingerprint: fp,
                            plugin: Arc::new(plugin),
                            generation: self.next_generation,
                        },
                    );
                    self.next_generation += 1;
                }
                // A broken file leaves the previous version (if any) running.
                Err(e) => {
                    tracing::error!(error = %e, "plugin failed to load; keeping whatever version was loaded before")
                }
            }
        }
    }

    /// The plugin a connector names: its file stem in plugin_dir, or the name it describes
    /// itself with.
    pub(super) fn find_plugin(&self, name: &str) -> Option<&LoadedPlugin> {
        let all = || self.plugins.iter().chain(self.builtins.iter());
        let by_stem =
            all().find(|(path, _)| path.file_stem().and_then(|s| s.to_str()) == Some(name));
        by_stem
            .or_else(|| all().find(|(_, p)| p.plugin.descriptor().name == name))
            .map(|(_, p)| p)
    }

    /// The plugins a connector config names: a source or a sink for `plugin`, a transform for
    /// each of its `transforms`. The error names the key and what is loaded.
    pub(super) fn find(&self, config: &ConnectorConfig) -> Result<Found, String> {
        let origin = &config.origin;
        let Some(loaded) = self.find_plugin(&config.plugin) else {
            let known: Vec<String> = self
                .plugins()
                .iter()
                .map(|p| p.descriptor().name.clone())
                .collect();
            return Err(format!(
                "{origin}: key `plugin`: no plugin {:?} in {} (available: {}; GET /connector-plugins lists them)",
                config.plugin,
                self.settings.plugin_dir.display(),
                known.join(", ")
            ));
        };
        if loaded.plugin.descriptor().kind == Kind::Transform {
            return Err(format!(
                "{origin}: key `plugin`: {:?} is a transform; name it in a connector's `transforms`, not as a connector",
                config.plugin
            ));
        }
        let mut found = Found {
            plugin: loaded.plugin.clone(),
            transforms: Vec::new(),
            generations: vec![loaded.generation],
        };
        for t in &config.transforms {
            let key = format!("transforms.{}.type", t.alias);
            let Some(loaded) = self.find_plugin(&t.plugin) else {
                return Err(format!(
                    "{origin}: key `{key}`: no transform plugin {:?} in {}",
                    t.plugin,
                    self.settings.plugin_dir.display()
                ));
            };
            if loaded.plugin.descriptor().kind != Kind::Transform {
                return Err(format!(
                    "{origin}: key `{key}`: plugin {:?} is a {:?} connector, not a transform",
                    t.plugin,
                    loaded.plugin.descriptor().kind
                ));
            }
            found.transforms.push(TransformSpec {
                config: t.clone(),
                plugin: loaded.plugin.clone(),
            });
            found.generations.push(loaded.generation);
        }
        Ok(found)
    }
}

/// The files in `dir` ending in `.ext`, sorted.
pub(super) fn files_with_extension(dir: &Path, ext: &str) -> Result<Vec<PathBuf>> {
    let entries = std::fs::read_dir(dir).map_err(|e| Error::Io {
        context: format!("reading {}", dir.display()),
        source: e,
    })?;
    let mut files: Vec<PathBuf> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == ext))
        .collect();
    files.sort();
    Ok(files)
}

//! The connectors that should exist: one per file in `connectors_dir` and one per
//! REST-created config in `connectd-configs` (scaled out, the files reach the topic first and
//! every worker runs from it), each keyed by its name, with its origin.
//!
//! Each config is read and checked once: a config that is as it was (same origin, same keys as
//! written) keeps what was made of it, and one the REST API has just checked is taken as
//! checked. Its `${...}` references are resolved only when it starts.

use std::collections::BTreeMap;
use std::path::PathBuf;

use connectd_records::{ConnectorName, Kind};

use super::Supervisor;
use super::plugins::files_with_extension;
use crate::connectors::config::{ConnectorConfig, Origin, read_file};
use crate::error::{Error, Result};
use crate::state::configs::TargetState;

/// A connector the worker knows of, running or not.
#[derive(Debug, Clone)]
pub struct KnownConnector {
    /// Where it comes from.
    pub origin: Origin,
    /// Its config as written (`${...}` references unresolved); empty if it could not be read.
    pub config: BTreeMap<String, String>,
    /// Its plugin's kind, once the plugin is found.
    pub kind: Option<Kind>,
    /// Its `tasks.max`.
    pub tasks_max: u32,
    /// What it should be doing.
    pub target: TargetState,
}

/// A connector that should exist.
pub(super) struct Desired {
    /// Its name (for a file that could not be read, the file's stem).
    pub name: String,
    pub origin: Origin,
    /// Its config as written.
    pub raw: BTreeMap<String, String>,
    /// The config, or why it is not valid.
    pub config: Result<ConnectorConfig>,
}

impl Supervisor {
    /// A config as its origin gives it: what was made of it before if it is unchanged (the
    /// running connector's, or the one the REST API just checked), else read.
    fn parse(&self, origin: Origin, name: &str, raw: BTreeMap<String, String>) -> Desired {
        let same = |c: &ConnectorConfig| c.origin == origin && c.raw == raw;
        let before = self
            .running
            .values()
            .map(|r| &r.config)
            .chain(self.accepted.values().map(|p| &p.config))
            .find(|c| same(c));
        let config = match before {
            Some(config) => Ok(config.clone()),
            None => ConnectorConfig::from_values(&origin, name, raw.clone()),
        };
        Desired {
            name: config
                .as_ref()
                .map_or_else(|_| name.to_string(), |c| c.name.to_string()),
            origin,
            raw,
            config,
        }
    }

    /// Every connector that should exist now: the files, then the stored REST configs.
    fn desired(&mut self) -> Vec<Desired> {
        let files =
            files_with_extension(&self.settings.connectors_dir, "toml").unwrap_or_else(|e| {
                tracing::error!(error = %e, "cannot list connectors_dir");
                Vec::new()
            });
        let mut desired: Vec<Desired> = Vec::new();
        for file in files {
            let stem = file
                .file_stem()
                .and_then(|s| s.to_str())
                .unwrap_or_default()
                .to_string();
            let origin = Origin::File(file.clone());
            let mut one = match read_file(&file) {
                Ok(raw) => self.parse(origin, &stem, raw),
                Err(e) => Desired {
                    name: stem.clone(),
                    origin,
                    raw: BTreeMap::new(),
                    config: Err(e),
                },
            };
            // Names are unique: the first file (in name order) keeps it.
            if let Ok(config) = &one.config
                && let Some(first) = desired
                    .iter()
                    .find(|d| d.config.as_ref().is_ok_and(|c| c.name == config.name))
            {
                one.config = Err(Error::config(
                    &one.origin,
                    "name",
                    format!(
                        "connector {} is already defined by {}; give this one another name",
                        config.name, first.origin
                    ),
                ));
                one.name = stem;
            }
            desired.push(one);
        }
        if self.assigned.is_some() {
            // Scaled out: the group runs what connectd-configs holds; files go there first.
            self.publish_files(&desired);
            desired.retain(|d| d.config.is_err());
        }
        let file_names: Vec<String> = desired
            .iter()
            .filter(|d| d.config.is_ok())
            .map(|d| d.name.clone())
            .collect();
        for (name, stored) in self.configs.connectors() {
            if file_names.contains(&name) {
                tracing::warn!(connector = %name, "a connector file has the name of a REST-created connector; the file's runs");
                continue;
            }
            let origin = match stored.file {
                Some(file) => Origin::File(PathBuf::from(file)),
                None => Origin::Rest(name.clone()),
            };
            desired.push(self.parse(origin, &name, stored.properties));
        }
        desired
    }

    /// Brings the running connectors in line with the desired set.
    pub(super) fn reconcile_connectors(&mut self) {
        let desired = self.desired();
        let mut accepted = std::mem::take(&mut self.accepted);
        // Gone (file removed, connector deleted): stop their connectors.
        let gone: Vec<ConnectorName> = self
            .running
            .keys()
            .filter(|name| !desired.iter().any(|d| d.name == name.as_str()))
            .cloned()
            .collect();
        for name in gone {
            self.stop_connector(&name);
        }
        // Whatever status a connector that is gone left (running or not) is forgotten.
        let forgotten: Vec<String> = self
            .status
            .snapshot()
            .into_keys()
            .map(|key| key.split('/').next().unwrap_or_default().to_string())
            .filter(|name| !desired.iter().any(|d| d.name == *name))
            .collect();
        for name in forgotten {
            self.status.remove(&name);
        }
        let mut known = BTreeMap::new();
        for Desired {
            name,
            origin,
            raw,
            config,
        } in desired
        {
            let target = self.configs.target(&name);
            let (kind, tasks_max) = match &config {
                Ok(c) => (
                    self.find_plugin(&c.plugin)
                        .map(|p| p.plugin.descriptor().kind),
                    c.tasks_max,
                ),
                Err(_) => (None, 0),
            };
            let running_elsewhere = ConnectorName::new(&name).ok().and_then(|n| {
                self.running
                    .get(&n)
                    .filter(|r| r.config.origin != origin)
                    .map(|r| r.config.origin.clone())
            });
            known.insert(
                name.clone(),
                KnownConnector {
                    origin,
                    config: raw,
                    kind,
                    tasks_max,
                    target,
                },
            );
            match config {
                Ok(config) => {
                    let prepared = accepted
                        .remove(config.name.as_str())
                        .filter(|p| p.config == config);
                    self.reconcile_one(config, target, prepared);
                }
                // A config that fails under a name another origin's connector runs as (a
                // broken file whose stem is that name, a second file with a taken name) must
                // not stop it or take its status: it is reported in the log.
                Err(e) => match running_elsewhere {
                    Some(other) => {
                        tracing::error!(connector = %name, runs_from = %other, error = %e, "a connector config failed under a name that another connector runs as")
                    }
                    None => {
                        if let Ok(name) = ConnectorName::new(&name) {
                            self.stop_connector(&name);
                        }
                        self.failed(&name, "", e.to_string());
                    }
                },
            }
        }
        self.known = known;
    }
}

//! A connector's config file: one TOML file per connector in `connectors_dir`.
//!
//! The file is a flat table, as a Kafka Connect connector config is a flat map of strings:
//!
//! ```toml
//! plugin = "file-source"        # the plugin: plugin_dir/<plugin>.wasm (Kafka Connect's connector.class)
//! topic = "lines"
//! "tasks.max" = 1
//! file = "/var/log/app.log"     # everything else goes to the connector
//! ```
//!
//! `name` defaults to the file stem. Values may be strings, integers, floats or booleans.
//! `${env:NAME}` and `${file:/path}` in a string are replaced by an environment variable or a
//! file's contents (trailing newline trimmed), so secrets stay out of the file.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use crate::{Error, Result};

/// Keys the worker reads itself; every other key is passed to the connector.
pub const WORKER_KEYS: &[&str] = &[
    "name",
    "plugin",
    "connector.class",
    "tasks.max",
    "poll.batch.size",
];

/// A validated connector config.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConnectorConfig {
    /// Connector name (unique per worker).
    pub name: String,
    /// Plugin name: `plugin_dir/<plugin>.wasm`.
    pub plugin: String,
    /// Kafka Connect's `tasks.max`.
    pub tasks_max: u32,
    /// Most records one poll may return.
    pub poll_batch_size: u32,
    /// The file it came from.
    pub file: PathBuf,
    /// Every key, secrets resolved (the connector sees this).
    pub values: BTreeMap<String, String>,
}

impl ConnectorConfig {
    /// Reads and validates a connector file.
    pub fn load(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| Error::config(path, "", format!("cannot read: {e}")))?;
        let table: toml::Table = toml::from_str(&text).map_err(|e| {
            Error::config(
                path,
                "",
                format!("not valid TOML: {}", e.to_string().trim()),
            )
        })?;
        let mut values = BTreeMap::new();
        for (key, value) in table {
            let raw = match value {
                toml::Value::String(s) => s,
                toml::Value::Integer(i) => i.to_string(),
                toml::Value::Float(f) => f.to_string(),
                toml::Value::Boolean(b) => b.to_string(),
                other => {
                    return Err(Error::config(
                        path,
                        &key,
                        format!(
                            "expected a string, number or boolean, got a {}",
                            other.type_str()
                        ),
                    ));
                }
            };
            values.insert(
                key.clone(),
                resolve_secrets(&raw).map_err(|reason| Error::config(path, &key, reason))?,
            );
        }
        let stem = path
            .file_stem()
            .and_then(|s| s.to_str())
            .unwrap_or_default()
            .to_string();
        let name = values.get("name").cloned().unwrap_or(stem);
        if name.is_empty()
            || !name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
        {
            return Err(Error::config(
                path,
                "name",
                format!("expected letters, digits, '-', '_' or '.', got {name:?}"),
            ));
        }
        let plugin = values
            .get("plugin")
            .or_else(|| values.get("connector.class"))
            .cloned()
            .ok_or_else(|| Error::config(path, "plugin", "missing: name the plugin to run, e.g. plugin = \"file-source\" (plugin_dir/<plugin>.wasm)".into()))?;
        let positive = |key: &str, default: u32| -> Result<u32> {
            match values.get(key) {
                None => Ok(default),
                Some(v) => v.parse::<u32>().ok().filter(|n| *n > 0).ok_or_else(|| {
                    Error::config(path, key, format!("expected a positive integer, got {v:?}"))
                }),
            }
        };
        let tasks_max = positive("tasks.max", 1)?;
        let poll_batch_size = positive("poll.batch.size", 1000)?;
        Ok(ConnectorConfig {
            name,
            plugin,
            tasks_max,
            poll_batch_size,
            file: path.to_path_buf(),
            values,
        })
    }

    /// The pairs handed to the connector (worker keys removed).
    pub fn connector_pairs(&self) -> Vec<(String, String)> {
        self.values
            .iter()
            .filter(|(k, _)| !WORKER_KEYS.contains(&k.as_str()))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect()
    }
}

/// Replaces `${env:NAME}` and `${file:/path}` references.
fn resolve_secrets(raw: &str) -> Result<String, String> {
    let mut out = String::new();
    let mut rest = raw;
    while let Some(start) = rest.find("${") {
        out.push_str(&rest[..start]);
        let end = rest[start..]
            .find('}')
            .ok_or_else(|| format!("unterminated ${{...}} in {raw:?}"))?
            + start;
        let reference = &rest[start + 2..end];
        let value = if let Some(name) = reference.strip_prefix("env:") {
            std::env::var(name).map_err(|_| format!("environment variable {name} is not set"))?
        } else if let Some(file) = reference.strip_prefix("file:") {
            std::fs::read_to_string(file)
                .map_err(|e| format!("cannot read secret file {file}: {e}"))?
                .trim_end_matches(['\n', '\r'])
                .to_string()
        } else {
            return Err(format!(
                "unknown reference ${{{reference}}}: use ${{env:NAME}} or ${{file:/path}}"
            ));
        };
        out.push_str(&value);
        rest = &rest[end + 1..];
    }
    out.push_str(rest);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load(text: &str) -> Result<ConnectorConfig> {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("lines.toml");
        std::fs::write(&path, text).unwrap();
        ConnectorConfig::load(&path)
    }

    #[test]
    fn flat_keys_defaults_and_secrets() {
        unsafe { std::env::set_var("CONNECTD_TEST_SECRET", "s3cret") };
        let c = load("plugin = \"file-source\"\ntopic = \"lines\"\n\"tasks.max\" = 2\npassword = \"${env:CONNECTD_TEST_SECRET}\"\n").unwrap();
        assert_eq!(
            (c.name.as_str(), c.plugin.as_str(), c.tasks_max),
            ("lines", "file-source", 2)
        );
        assert_eq!(c.values["password"], "s3cret");
        assert!(
            c.connector_pairs()
                .iter()
                .all(|(k, _)| k != "plugin" && k != "tasks.max")
        );
    }

    #[test]
    fn errors_name_the_file_and_key() {
        let e = load("topic = \"x\"\n").unwrap_err().to_string();
        assert!(e.contains("lines.toml") && e.contains("plugin"), "{e}");
        let e = load("plugin = \"p\"\n\"tasks.max\" = 0\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains("tasks.max"), "{e}");
        let e = load("plugin = \"p\"\nx = [1]\n").unwrap_err().to_string();
        assert!(e.contains("`x`") || e.contains(" x:"), "{e}");
        let e = load("plugin = = \n").unwrap_err().to_string();
        assert!(e.contains("TOML"), "{e}");
        let e = load("plugin = \"p\"\npw = \"${env:CONNECTD_DEFINITELY_UNSET}\"\n")
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("pw") && e.contains("CONNECTD_DEFINITELY_UNSET"),
            "{e}"
        );
    }
}

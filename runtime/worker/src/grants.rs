//! The capabilities a connector is granted, read from its plugin's config schema
//! (`x-connectd-grant`, written by `#[grant(...)]` on a key of its `#[derive(Configurable)]`
//! struct): read-only or read-write access to the folder of a path, a database URL, a storage
//! location, stdout. Nothing else is reachable from the sandbox.

use std::path::{Path, PathBuf};

use connectd_config::Grant;
use connectd_host::Grants;

use crate::connectors::config::{ConnectorConfig, Origin};
use crate::paths::resolved;

/// A `sqlite://` URL with a relative path made absolute against `base` (the connector file's
/// folder), its folder created; any other URL as it is.
fn sqlite_absolute(base: &Path, url: &str) -> String {
    let Some(rest) = url.strip_prefix("sqlite://") else {
        return url.to_string();
    };
    let path = rest.split('?').next().unwrap_or_default();
    if path.is_empty() || path.starts_with('/') || path.starts_with(':') {
        return url.to_string();
    }
    let absolute = std::path::absolute(base.join(rest)).unwrap_or_else(|_| base.join(rest));
    if let Some(parent) = std::path::absolute(base.join(path))
        .ok()
        .as_deref()
        .and_then(Path::parent)
    {
        let _ = std::fs::create_dir_all(parent);
    }
    format!("sqlite://{}", absolute.display())
}

/// A store location as the host opens it: URLs as they are, a local path (or `file://`
/// path) made absolute against the connector file's folder.
fn local_store_absolute(base: &Path, value: &str) -> String {
    if value.contains("://") && !value.starts_with("file://") {
        return value.to_string();
    }
    let path = value.strip_prefix("file://").unwrap_or(value);
    let absolute = std::path::absolute(base.join(path)).unwrap_or_else(|_| base.join(path));
    absolute.to_string_lossy().into_owned()
}

/// The path on this machine a granted value reaches: the folder of a file, a SQLite
/// database's folder, a local store location. `None`: no path (a network URL, `:memory:`).
/// A SQLite URL is taken only in the one form whose path reads as written
/// (`sqlite://path`): the driver also takes `sqlite:path` and percent-decodes the path, so a
/// check of the text would not be a check of the file.
fn reached(kind: Option<Grant>, base: &Path, value: &str) -> Result<Option<PathBuf>, String> {
    Ok(match kind {
        Some(Grant::SqlUrl) => {
            let Some(rest) = value.strip_prefix("sqlite:") else {
                return Ok(None);
            };
            if rest == ":memory:" {
                return Ok(None);
            }
            let Some(rest) = rest.strip_prefix("//") else {
                return Err("a SQLite URL here is sqlite://<path>".into());
            };
            let path = rest.split('?').next().unwrap_or_default();
            if path.contains('%') {
                return Err("a SQLite path here takes no percent-escapes".into());
            }
            if path.is_empty() || path.starts_with(':') {
                return Ok(None);
            }
            base.join(path).parent().map(Path::to_path_buf)
        }
        Some(Grant::StoreUrl) => {
            if value.contains("://") && !value.starts_with("file://") {
                return Ok(None);
            }
            Some(base.join(value.strip_prefix("file://").unwrap_or(value)))
        }
        Some(Grant::ReadParent | Grant::WriteParent) => {
            base.join(value).parent().map(Path::to_path_buf)
        }
        _ => None,
    })
}

/// Refuses a connector created through the REST API whose granted paths reach outside
/// `allowed` (worker.toml `[worker] grant_allowed_paths`): whoever reaches the API does not
/// thereby choose which of the worker's files a plugin reads or writes. Connector files are
/// trusted (their author has the file system already). Values holding `${...}` references
/// are checked once resolved (`resolved_only`: skip them now).
pub(crate) fn check_grant_paths(
    schema: &str,
    connector: &ConnectorConfig,
    base: &Path,
    allowed: &[PathBuf],
    resolved_only: bool,
) -> Result<(), String> {
    if !matches!(connector.origin, Origin::Rest(_)) {
        return Ok(());
    }
    let Ok(schema) = serde_json::from_str::<serde_json::Value>(schema) else {
        return Ok(());
    };
    let Some(properties) = schema.get("properties").and_then(|p| p.as_object()) else {
        return Ok(());
    };
    for (key, spec) in properties {
        let kind = spec
            .get("x-connectd-grant")
            .and_then(|g| g.as_str())
            .and_then(Grant::from_name);
        let Some(value) = connector.values.get(key) else {
            continue;
        };
        if resolved_only && value.contains("${") {
            continue;
        }
        let folders = if allowed.is_empty() {
            "none".to_string()
        } else {
            let list: Vec<String> = allowed.iter().map(|a| a.display().to_string()).collect();
            list.join(", ")
        };
        let refused = |why: String| {
            format!(
                "{}: key `{key}`: {why}; a connector created through the REST API may use only the folders worker.toml [worker] grant_allowed_paths lists ({folders}), or be written as a file in connectors_dir",
                connector.origin
            )
        };
        let Some(path) = reached(kind, base, value).map_err(refused)? else {
            continue;
        };
        let real = resolved(&path);
        if !allowed.iter().any(|a| real.starts_with(resolved(a))) {
            return Err(refused(format!("{} is outside them", real.display())));
        }
    }
    Ok(())
}

/// The capabilities a connector's own schema asks for, from its config values. Granted paths
/// that are relative are resolved against `base`, the connector file's folder (and passed to
/// the connector absolute), so a config works from any working directory. A connector created
/// through the REST API is refused paths outside `allowed` ([`check_grant_paths`]).
pub(crate) fn grants_for(
    schema: &str,
    mut connector: ConnectorConfig,
    base: &Path,
    allowed: &[PathBuf],
) -> Result<(ConnectorConfig, Grants), String> {
    check_grant_paths(schema, &connector, base, allowed, false)?;
    let mut grants = Grants::default();
    let Ok(schema) = serde_json::from_str::<serde_json::Value>(schema) else {
        return Ok((connector, grants));
    };
    let grant_of = |spec: &serde_json::Value| {
        spec.get("x-connectd-grant")
            .and_then(|g| g.as_str())
            .map(|name| (name.to_string(), Grant::from_name(name)))
    };
    if let Some((_, Some(Grant::Stdout))) = grant_of(&schema) {
        grants.stdout = true;
    }
    let Some(properties) = schema.get("properties").and_then(|p| p.as_object()) else {
        return Ok((connector, grants));
    };
    for (key, spec) in properties {
        let (Some((name, kind)), Some(value)) = (grant_of(spec), connector.values.get(key)) else {
            continue;
        };
        if kind == Some(Grant::SqlUrl) {
            let url = sqlite_absolute(base, value);
            connector.values.insert(key.clone(), url.clone());
            grants.sql_urls.push(url);
            continue;
        }
        if kind == Some(Grant::StoreUrl) {
            let url = local_store_absolute(base, value);
            connector.values.insert(key.clone(), url.clone());
            grants.store_urls.push(url);
            continue;
        }
        let absolute = std::path::absolute(base.join(value)).unwrap_or_else(|_| base.join(value));
        connector
            .values
            .insert(key.clone(), absolute.to_string_lossy().into_owned());
        let Some(parent) = absolute.parent().filter(|p| !p.as_os_str().is_empty()) else {
            continue;
        };
        // The host opens the folder the check resolved, not the name again.
        let entry = |parent: &Path| (resolved(parent), parent.to_string_lossy().into_owned());
        match kind {
            Some(Grant::ReadParent) => grants.read_dirs.push(entry(parent)),
            Some(Grant::WriteParent) => {
                // A sink's output folder may not exist yet; the grant needs it.
                if let Err(e) = std::fs::create_dir_all(parent) {
                    tracing::warn!(connector = %connector.name, dir = %parent.display(), error = %e, "cannot create granted directory");
                }
                grants.write_dirs.push(entry(parent))
            }
            _ => {
                tracing::warn!(connector = %connector.name, key = %key, grant = %name, "unknown x-connectd-grant; granting nothing")
            }
        }
    }
    Ok((connector, grants))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn relative_sqlite_urls_resolve_against_the_connector_folder() {
        let dir = tempfile::tempdir().unwrap();
        let base = dir.path();
        assert_eq!(
            sqlite_absolute(base, "sqlite://out/orders.db?mode=rwc"),
            format!("sqlite://{}/out/orders.db?mode=rwc", base.display())
        );
        assert!(
            base.join("out").is_dir(),
            "the database's folder is created"
        );
        for kept in [
            "sqlite:///var/lib/x.db",
            "sqlite://:memory:",
            "postgres://u@h/db",
        ] {
            assert_eq!(sqlite_absolute(base, kept), kept);
        }
    }
}

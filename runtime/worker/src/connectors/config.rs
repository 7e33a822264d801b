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
//! Transforms and error handling use Kafka Connect's keys (quoted, since they hold dots):
//!
//! ```toml
//! transforms = "errorsOnly,hideCard"           # applied in this order
//! "transforms.errorsOnly.type" = "filter"      # a transform plugin in plugin_dir
//! "transforms.errorsOnly.field" = "level"      # everything else under the alias goes to it
//! "transforms.errorsOnly.pattern" = "^error$"
//! "transforms.hideCard.type" = "fields"
//! "transforms.hideCard.mask.fields" = "card"
//! "errors.tolerance" = "all"                   # skip bad records instead of failing
//! "errors.deadletterqueue.topic.name" = "dlq"  # and keep them here, the error in headers
//! ```
//!
//! `name` defaults to the file stem. Values may be strings, integers, floats or booleans.
//! `${env:NAME}` and `${file:/path}` in the connector's own keys (and its transforms') are
//! replaced by an environment variable or a file's contents when the connector starts
//! ([`ConnectorConfig::resolve`], [`super::secrets`]), so secrets stay out of the file; the
//! keys the worker reads itself (`tasks.max`, `errors.*`, ...) take no references. Reading and
//! checking a config never resolves one, so no answer to it can carry a secret.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use connectd_config::Configurable;
use connectd_records::ConnectorName;

use super::secrets::{ConfigProviders, Secrets, has_reference};
use crate::error::{Error, Result};

/// Where a connector's config comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Origin {
    /// A file in `connectors_dir` (scaled out: maybe another worker's, published to the group).
    File(PathBuf),
    /// The REST API, under this name (stored in `connectd-configs`).
    Rest(String),
}

impl Origin {
    /// The folder relative paths in the config resolve against: the file's, or
    /// `connectors_dir` for a REST-created connector.
    pub fn folder<'a>(&'a self, connectors_dir: &'a Path) -> &'a Path {
        match self {
            Origin::File(path) => path.parent().unwrap_or(connectors_dir),
            Origin::Rest(_) => connectors_dir,
        }
    }

    /// The file, for a connector that comes from one.
    pub fn file(&self) -> Option<&Path> {
        match self {
            Origin::File(path) => Some(path),
            Origin::Rest(_) => None,
        }
    }
}

/// How errors name it: the file's path, or `connector <name> (REST)`.
impl std::fmt::Display for Origin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Origin::File(path) => path.display().fmt(f),
            Origin::Rest(name) => write!(f, "connector {name} (REST)"),
        }
    }
}

/// A connector file's flat table as strings (numbers and booleans as their text), as
/// written: `${...}` references are not resolved.
pub fn read_file(path: &Path) -> Result<BTreeMap<String, String>> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| Error::config(&path.display(), "", format!("cannot read: {e}")))?;
    let table: toml::Table = toml::from_str(&text).map_err(|e| {
        Error::config(
            &path.display(),
            "",
            format!("not valid TOML: {}", e.to_string().trim()),
        )
    })?;
    let mut raw = BTreeMap::new();
    for (key, value) in table {
        let value = scalar_text(&value).ok_or_else(|| {
            Error::config(
                &path.display(),
                &key,
                format!(
                    "expected a string, number or boolean, got a {}",
                    value.type_str()
                ),
            )
        })?;
        raw.insert(key, value);
    }
    Ok(raw)
}

/// A TOML string, number or boolean as the text a flat string map holds (`None` for arrays,
/// tables and dates).
pub fn scalar_text(value: &toml::Value) -> Option<String> {
    match value {
        toml::Value::String(s) => Some(s.clone()),
        toml::Value::Integer(i) => Some(i.to_string()),
        toml::Value::Float(f) => Some(f.to_string()),
        toml::Value::Boolean(b) => Some(b.to_string()),
        _ => None,
    }
}

/// The keys the worker reads from every connector config (Kafka Connect's connector-level
/// keys); every other key goes to the connector. `connectd plugins describe --worker` prints
/// them, and the README's table is generated from here.
#[derive(Configurable, Debug)]
pub struct ConnectorKeys {
    /// The plugin: its file stem in `plugin_dir`, or the name it describes itself with
    /// (`file-source`).
    #[config(default_doc = "required")]
    pub plugin: Option<String>,
    /// Kafka Connect's name for `plugin`.
    #[config(key = "connector.class", default_doc = "`plugin`")]
    pub connector_class: Option<String>,
    /// Connector name; sinks consume as the group `connect-<name>`.
    #[config(default_doc = "the file stem")]
    pub name: Option<String>,
    /// Tasks to run; a sink's task i of n owns the partitions p with p % n = i.
    #[config(key = "tasks.max", default = 1, minimum = 1)]
    pub tasks_max: u32,
    /// Most records one source poll may return.
    #[config(key = "poll.batch.size", default = 1000, minimum = 1)]
    pub poll_batch_size: u32,
    /// Comma-separated aliases of a transform chain, applied in order between the connector and
    /// its topics.
    #[config(default_doc = "none")]
    pub transforms: Option<Vec<String>>,
    /// `transforms.<alias>.type` names the transform plugin of an alias (`filter`, `fields`,
    /// `route`, or your own); every other `transforms.<alias>.<key>` is a key of that transform.
    #[config(prefix = "transforms.", key = "transforms.<alias>.<key>")]
    pub transform_keys: Vec<(String, String)>,
    /// `none`: a bad record fails the task. `all`: it is skipped (and dead-lettered).
    #[config(key = "errors.tolerance", default = "none")]
    pub errors_tolerance: Tolerance,
    /// Topic for skipped records (needs `errors.tolerance = "all"`); created with 1
    /// partition.
    #[config(key = "errors.deadletterqueue.topic.name", default_doc = "none")]
    pub dlq_topic: Option<String>,
    /// Add `__connect.errors.{topic,partition,offset,connector.name,task.id,stage,class.name,exception.class.name,exception.message}`
    /// headers to dead letters. Kafka Connect defaults to `false`; a dead letter without its
    /// reason is rarely wanted.
    #[config(key = "errors.deadletterqueue.context.headers.enable", default = true)]
    pub dlq_context_headers: bool,
    /// Ms to retry a retryable error (poll, put, flush, produce, commit) before the task fails;
    /// `-1` retries until it works, `0` not at all.
    #[config(key = "errors.retry.timeout", default = -1, minimum = -1)]
    pub retry_timeout_ms: i64,
    /// Longest wait between retries (they start at 100 ms and double).
    #[config(key = "errors.retry.delay.max.ms", default = 60000, minimum = 1)]
    pub retry_delay_max_ms: u64,
    /// Log each skipped record with its error.
    #[config(key = "errors.log.enable", default = false)]
    pub log_enable: bool,
    /// Accepted for Kafka Connect's configs; one broker keeps one replica.
    #[config(
        key = "errors.deadletterqueue.topic.replication.factor",
        default_doc = "1"
    )]
    pub dlq_replication_factor: Option<String>,
    /// Accepted for Kafka Connect's configs; records' contents are never logged.
    #[config(key = "errors.log.include.messages", default = false)]
    pub log_include_messages: bool,
}

/// `errors.tolerance`.
#[derive(Configurable, Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tolerance {
    None,
    All,
}

/// The family of keys the worker owns whole: a key in it that [`ConnectorKeys`] does not
/// declare is a typo, not the connector's.
const WORKER_FAMILY: &str = "errors.";

/// Whether the worker reads `key` itself (one of [`ConnectorKeys`], or of the `transforms.*`
/// and `errors.*` families), so it is not the connector's to check.
pub fn is_worker_key(key: &str) -> bool {
    key.starts_with(WORKER_FAMILY) || ConnectorKeys::declaration().key(key).is_some()
}

/// The connector keys the worker reads too: a source's `topic` (created, shown as an active
/// topic, in metrics) and a sink's `topics` (its group's partitions, lag metrics).
const TOPIC_KEYS: &[&str] = &["topic", "topics"];

/// Whether the worker reads `key`'s value itself (a worker key other than a transform's own
/// `transforms.<alias>.<key>`, which goes to the transform, or a topic key), so it takes no
/// `${...}` reference: it would name a topic, a metric or an error after a secret.
fn read_by_worker(key: &str) -> bool {
    let transform_own = key
        .strip_prefix("transforms.")
        .and_then(|rest| rest.split_once('.'))
        .is_some_and(|(_, k)| k != "type");
    (is_worker_key(key) && !transform_own) || TOPIC_KEYS.contains(&key)
}

/// One step of a connector's transform chain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TransformConfig {
    /// Its alias in `transforms`.
    pub alias: String,
    /// The transform plugin (`transforms.<alias>.type`).
    pub plugin: String,
    /// Its `transforms.<alias>.*` keys with the prefix removed (`type` excluded).
    pub config: Vec<(String, String)>,
}

/// Kafka Connect's `errors.*` settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ErrorPolicy {
    /// `errors.tolerance`: `none` (default) fails the task on a bad record; `all` skips it.
    pub tolerate_all: bool,
    /// `errors.retry.timeout` (ms): how long a retryable error is retried before the task
    /// fails. `-1` (the default) retries until it works, as Kafka Connect does for a
    /// connector's retriable exceptions; `0` does not retry.
    pub retry_timeout_ms: i64,
    /// `errors.retry.delay.max.ms`: the longest wait between retries. Default 60000.
    pub retry_delay_max_ms: u64,
    /// `errors.deadletterqueue.topic.name`: where skipped records go (with
    /// `errors.tolerance = "all"`). Unset: they are only counted and, with `errors.log.enable`,
    /// logged.
    pub dlq_topic: Option<String>,
    /// `errors.deadletterqueue.context.headers.enable`: add the `__connect.errors.*` headers
    /// saying where the record came from and why it failed. Default `true` (Kafka Connect's
    /// default is `false`; a dead letter without its reason is rarely what anyone wants).
    pub dlq_context_headers: bool,
    /// `errors.log.enable`: log every skipped record's error. Default `false`.
    pub log_enable: bool,
}

/// A validated connector config.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConnectorConfig {
    /// Connector name (unique per worker), checked where it is made.
    pub name: ConnectorName,
    /// Plugin name: `plugin_dir/<plugin>.wasm`.
    pub plugin: String,
    /// Kafka Connect's `tasks.max`.
    pub tasks_max: u32,
    /// Most records one poll may return.
    pub poll_batch_size: u32,
    /// The transform chain, in order.
    pub transforms: Vec<TransformConfig>,
    /// What happens on errors.
    pub errors: ErrorPolicy,
    /// Where it comes from.
    pub origin: Origin,
    /// Every key as the connector gets it: as written until [`ConnectorConfig::resolve`],
    /// then with its references resolved (and, once granted, paths made absolute).
    pub values: BTreeMap<String, String>,
    /// Every key as written, `${env:}` and `${file:}` references unresolved (what the REST
    /// API shows, and what tells whether a config changed).
    pub raw: BTreeMap<String, String>,
    /// The values the references resolved to (none before [`ConnectorConfig::resolve`]),
    /// hidden wherever the worker writes text (logs, status, dead-letter headers).
    secrets: Secrets,
}

impl ConnectorConfig {
    /// Reads and validates a connector file.
    pub fn load(path: &Path) -> Result<Self> {
        let raw = read_file(path)?;
        let stem = path
            .file_stem()
            .and_then(|s| s.to_str())
            .unwrap_or_default()
            .to_string();
        Self::from_values(&Origin::File(path.to_path_buf()), &stem, raw)
    }

    /// Validates a connector config given as a flat map of strings (as Kafka Connect's REST
    /// API takes one); its references stay unresolved. `origin` names where it came from in
    /// errors; `name` is used unless the map has a `name`.
    pub fn from_values(origin: &Origin, name: &str, raw: BTreeMap<String, String>) -> Result<Self> {
        let path = origin;
        if let Some(key) = raw
            .iter()
            .find(|(k, v)| read_by_worker(k) && has_reference(v))
            .map(|(k, _)| k)
        {
            return Err(Error::config(
                path,
                key,
                "the worker reads this key as written: ${env:} and ${file:} go in the connector's own keys and its transforms'".into(),
            ));
        }
        let values = raw.clone();
        let pairs: Vec<(String, String)> = values
            .iter()
            .filter(|(k, _)| is_worker_key(k))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        let keys = ConnectorKeys::from_pairs(&pairs)
            .map_err(|problems| Error::config(path, "", problems.to_string()))?;
        let name = ConnectorName::new(keys.name.clone().unwrap_or_else(|| name.to_string()))
            .map_err(|e| Error::config(path, "name", e.to_string()))?;
        let plugin = keys.plugin.clone().or_else(|| keys.connector_class.clone())
            .ok_or_else(|| Error::config(path, "plugin", "missing: name the plugin to run, e.g. plugin = \"file-source\" (plugin_dir/<plugin>.wasm)".into()))?;
        let transforms = transforms(path, &keys)?;
        let errors = error_policy(path, &keys, &pairs)?;
        Ok(ConnectorConfig {
            name,
            plugin,
            tasks_max: keys.tasks_max,
            poll_batch_size: keys.poll_batch_size,
            transforms,
            errors,
            origin: origin.clone(),
            values,
            raw,
            secrets: Secrets::default(),
        })
    }

    /// This config as its connector starts with it: every `${env:}` and `${file:}` reference
    /// in its values and its transforms' resolved by `providers`. The error names where the
    /// config comes from and the key, never a value.
    pub fn resolve(&self, providers: &ConfigProviders) -> std::result::Result<Self, String> {
        let (values, secrets) = providers
            .resolve(&self.raw)
            .map_err(|reason| format!("{}: {reason}", self.origin))?;
        let mut resolved = self.clone();
        for t in &mut resolved.transforms {
            for (key, value) in &mut t.config {
                if let Some(v) = values.get(&format!("transforms.{}.{key}", t.alias)) {
                    value.clone_from(v);
                }
            }
        }
        resolved.values = values;
        resolved.secrets = secrets;
        Ok(resolved)
    }

    /// `text` with every resolved secret replaced by `[hidden]` (see [`Secrets::redact`]).
    pub fn redact(&self, text: &str) -> String {
        self.secrets.redact(text)
    }

    /// The pairs handed to the connector (worker keys removed).
    pub fn connector_pairs(&self) -> Vec<(String, String)> {
        self.values
            .iter()
            .filter(|(k, _)| !is_worker_key(k))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect()
    }
}

fn transforms(path: &Origin, keys: &ConnectorKeys) -> Result<Vec<TransformConfig>> {
    let aliases = keys.transforms.as_deref().unwrap_or_default();
    let mut chain = Vec::new();
    for alias in aliases {
        let prefix = format!("transforms.{alias}.");
        let of_alias = || {
            keys.transform_keys
                .iter()
                .filter_map(|(k, v)| Some((k.strip_prefix(&prefix)?, v)))
        };
        let plugin = of_alias()
            .find(|(k, _)| *k == "type")
            .map(|(_, v)| v.clone())
            .ok_or_else(|| {
                Error::config(
                    path,
                    &format!("{prefix}type"),
                    format!("missing: name the transform plugin for {alias:?}, e.g. \"filter\""),
                )
            })?;
        let config = of_alias()
            .filter(|(k, _)| *k != "type")
            .map(|(k, v)| (k.to_string(), v.clone()))
            .collect();
        chain.push(TransformConfig {
            alias: alias.to_string(),
            plugin,
            config,
        });
    }
    // A `transforms.<alias>.*` key whose alias is not listed is almost always a typo.
    for (key, _) in &keys.transform_keys {
        let alias = key["transforms.".len()..]
            .split('.')
            .next()
            .unwrap_or_default();
        if !aliases.iter().any(|a| a == alias) {
            return Err(Error::config(
                path,
                key,
                format!(
                    "transform {alias:?} is not listed in `transforms` ({:?})",
                    aliases.join(",")
                ),
            ));
        }
    }
    Ok(chain)
}

fn error_policy(
    path: &Origin,
    keys: &ConnectorKeys,
    pairs: &[(String, String)],
) -> Result<ErrorPolicy> {
    let declared = ConnectorKeys::declaration();
    if let Some((key, _)) = pairs
        .iter()
        .find(|(k, _)| k.starts_with(WORKER_FAMILY) && declared.key(k).is_none())
    {
        let known: Vec<&str> = declared
            .keys
            .iter()
            .map(|k| k.name)
            .filter(|k| k.starts_with(WORKER_FAMILY))
            .collect();
        return Err(Error::config(
            path,
            key,
            format!("unknown errors.* key; known: {}", known.join(", ")),
        ));
    }
    let policy = ErrorPolicy {
        tolerate_all: keys.errors_tolerance == Tolerance::All,
        retry_timeout_ms: keys.retry_timeout_ms,
        retry_delay_max_ms: keys.retry_delay_max_ms,
        dlq_topic: keys.dlq_topic.clone().filter(|t| !t.is_empty()),
        dlq_context_headers: keys.dlq_context_headers,
        log_enable: keys.log_enable,
    };
    if policy.dlq_topic.is_some() && !policy.tolerate_all {
        return Err(Error::config(
            path,
            "errors.deadletterqueue.topic.name",
            "a dead letter queue needs errors.tolerance = \"all\" (with \"none\" the task fails on the first bad record)".into(),
        ));
    }
    Ok(policy)
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
    fn worker_keys_and_families_are_not_the_connectors() {
        for key in [
            "name",
            "tasks.max",
            "transforms",
            "transforms.a.type",
            "errors.tolerance",
        ] {
            assert!(is_worker_key(key), "{key}");
        }
        for key in ["topics", "store.url", "errorsx", "transformsx"] {
            assert!(!is_worker_key(key), "{key}");
        }
    }

    #[test]
    fn flat_keys_defaults_and_secrets() {
        unsafe { std::env::set_var("CONNECTD_TEST_SECRET", "s3cret") };
        let c = load(concat!(
            "plugin = \"file-source\"\ntopic = \"lines\"\n\"tasks.max\" = 2\n",
            "password = \"${env:CONNECTD_TEST_SECRET}\"\nformat = \"t-${field}\"\n",
            "transforms = \"m\"\n\"transforms.m.type\" = \"fields\"\n",
            "\"transforms.m.key\" = \"k-${env:CONNECTD_TEST_SECRET}\"\n",
        ))
        .unwrap();
        assert_eq!(
            (c.name.as_str(), c.plugin.as_str(), c.tasks_max),
            ("lines", "file-source", 2)
        );
        assert_eq!(
            c.values["password"], "${env:CONNECTD_TEST_SECRET}",
            "a read config resolves nothing"
        );
        let providers = ConfigProviders::new(vec![], Some("CONNECTD_TEST_SECRET")).unwrap();
        let started = c.resolve(&providers).unwrap();
        assert_eq!(started.values["password"], "s3cret");
        assert_eq!(
            started.values["format"], "t-${field}",
            "not a provider reference"
        );
        assert_eq!(
            started.transforms[0].config,
            vec![("key".into(), "k-s3cret".into())]
        );
        assert_eq!(started.redact("pw s3cret"), "pw [hidden]");
        assert_eq!(
            started.raw, c.raw,
            "what the REST API shows stays as written"
        );
        let unknown = load("plugin = \"p\"\ntopic = \"t\"\nx = \"${vault:k}\"\n")
            .unwrap()
            .resolve(&providers)
            .unwrap_err();
        assert!(
            unknown.contains("unknown reference ${vault:k}"),
            "{unknown}"
        );
        assert!(
            c.connector_pairs()
                .iter()
                .all(|(k, _)| k != "plugin" && k != "tasks.max")
        );
    }

    /// The keys the worker reads itself take no reference: an error about their value could
    /// only quote it.
    #[test]
    fn worker_keys_take_no_references() {
        for (key, value) in [
            ("\"tasks.max\"", "${env:HOME}"),
            ("\"errors.tolerance\"", "${file:/etc/hostname}"),
            ("plugin", "x${env:HOME}"),
            ("transforms", "${env:HOME}"),
            ("\"transforms.a.type\"", "${env:HOME}"),
            ("topic", "t-${env:HOME}"),
            ("topics", "${file:/etc/hostname}"),
        ] {
            let line = format!("{key} = \"{value}\"\n");
            let text = if key == "plugin" {
                line
            } else {
                format!("plugin = \"p\"\n{line}")
            };
            let e = load(&text).unwrap_err().to_string();
            assert!(
                e.contains(&format!("`{}`", key.trim_matches('"'))) && e.contains("as written"),
                "{key}: {e}"
            );
        }
    }

    #[test]
    fn transforms_and_error_policy() {
        let c = load(concat!(
            "plugin = \"file-sink\"\ntransforms = \"a, b\"\n",
            "\"transforms.a.type\" = \"filter\"\n\"transforms.a.pattern\" = \"x\"\n",
            "\"transforms.b.type\" = \"fields\"\n\"transforms.b.mask.fields\" = \"card\"\n",
            "\"errors.tolerance\" = \"all\"\n\"errors.deadletterqueue.topic.name\" = \"dlq\"\n",
        ))
        .unwrap();
        assert_eq!(c.transforms.len(), 2);
        assert_eq!(c.transforms[0].plugin, "filter");
        assert_eq!(c.transforms[0].config, vec![("pattern".into(), "x".into())]);
        assert_eq!(
            c.transforms[1].config,
            vec![("mask.fields".into(), "card".into())]
        );
        assert!(c.errors.tolerate_all && c.errors.dlq_topic.as_deref() == Some("dlq"));
        assert!(c.connector_pairs().is_empty(), "{:?}", c.connector_pairs());
        for (text, key) in [
            ("transforms = \"a\"\n", "transforms.a.type"),
            ("\"transforms.z.type\" = \"filter\"\n", "transforms.z.type"),
            ("\"errors.tolerance\" = \"some\"\n", "errors.tolerance"),
            (
                "\"errors.deadletterqueue.topic.name\" = \"d\"\n",
                "errors.deadletterqueue.topic.name",
            ),
            ("\"errors.retry.timout\" = 5\n", "errors.retry.timout"),
        ] {
            let e = load(&format!("plugin = \"p\"\n{text}"))
                .unwrap_err()
                .to_string();
            assert!(e.contains(&format!("`{key}`")), "{text}: {e}");
        }
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
            .unwrap()
            .resolve(&ConfigProviders::new(vec![], Some("CONNECTD_.*")).unwrap())
            .unwrap_err();
        assert!(
            e.contains("pw") && e.contains("CONNECTD_DEFINITELY_UNSET"),
            "{e}"
        );
    }
}

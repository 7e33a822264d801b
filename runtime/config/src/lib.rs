//! A connector's config keys, declared once.
//!
//! A connector (or the worker) writes one struct and derives [`Configurable`] on it. The
//! derive yields, from that one declaration:
//!
//! - the parser from the flat string map Kafka Connect configs are ([`Configurable::from_pairs`]):
//!   every value arrives as text (`"tasks.max": "3"` over REST, `"tasks.max" = 3` in a TOML
//!   file becomes `"3"`), so both parse the same way; defaults, bounds and choices are checked
//!   there, and every problem is reported at once, naming its key;
//! - the JSON Schema the plugin describes itself with ([`Configurable::schema`]), which the
//!   worker checks a config against before any task opens, and which carries the capability
//!   grants (`x-connectd-grant`) the worker reads;
//! - the documentation: each field's doc comment is its key's description, in the schema and
//!   in the tables `connectd plugins describe` prints (and the README holds).
//!
//! ```
//! use connectd_config::Configurable;
//!
//! #[derive(Configurable, Debug)]
//! struct TailConfig {
//!     /// The file to tail.
//!     #[grant(read_parent)]
//!     file: String,
//!     /// Most lines one poll returns.
//!     #[config(key = "batch.size", default = 1000, minimum = 1)]
//!     batch_size: u32,
//!     /// Where the lines go.
//!     #[config(default = "keep")]
//!     action: Action,
//! }
//!
//! #[derive(Configurable, Debug, PartialEq)]
//! enum Action {
//!     Keep,
//!     #[config(alias = "discard")]
//!     Drop,
//! }
//!
//! let pairs = [("file".to_string(), "/tmp/a".to_string()), ("batch.size".into(), "5".into())];
//! let config = TailConfig::from_pairs(&pairs).unwrap();
//! assert_eq!((config.batch_size, config.action), (5, Action::Keep));
//!
//! let bad = [("batch.size".to_string(), "0".to_string())];
//! let problems = TailConfig::from_pairs(&bad).unwrap_err();
//! assert_eq!(problems.to_string(), "key `batch.size`: expected at least 1; key `file`: missing; the plugin requires it");
//! assert!(TailConfig::schema().contains(r#""x-connectd-grant":"read-parent""#));
//! ```
//!
//! The field attributes:
//!
//! | attribute | meaning |
//! | --- | --- |
//! | `#[config(key = "batch.size")]` | the key; default: the field's name with `_` as `.` |
//! | `#[config(default = 1000)]` | the value when the key is unset, written as a user would write it |
//! | `#[config(default_doc = "AWS_REGION, else us-east-1")]` | the default column's text, for a default decided elsewhere |
//! | `#[config(secret)]` | a secret (`x-connectd-secret`): a REST-created connector may fill only these with `${env:}`/`${file:}` |
//! | `#[config(minimum = 1)]`, `#[config(maximum = 10)]` | bounds of a number |
//! | `#[config(prefix = "hdfs.")]` | a family of keys, on a `Vec<(String, String)>` field: every key starting with the prefix, the prefix kept; with `key = "hdfs.<hadoop key>"`, the name the docs show |
//! | `#[config(alias = "discard")]` | on an enum variant: another name it is accepted under |
//! | `#[grant(read_parent)]` and friends | the capability the value asks the host for (below) |
//!
//! A field of type `Option<T>` is optional with no default; any other field without a default
//! is required. On the struct, `#[config(deny_unknown_keys)]` refuses keys it does not declare
//! and `#[grant(stdout)]` asks for the worker's standard output.

extern crate self as connectd_config;

mod json;
mod value;

pub use connectd_config_derive::Configurable;
pub use value::{ConfigValue, comma_list};

/// How a key's value is written (its JSON Schema type).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ValueType {
    /// Any text.
    String,
    /// A whole number.
    Integer,
    /// A number.
    Number,
    /// `true` or `false`.
    Boolean,
    /// Comma-separated text (Kafka Connect's `LIST` type).
    List,
    /// One of the names (aliases included).
    Choice(&'static [&'static str]),
}

/// A capability a key's value (or the whole plugin) asks the host for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Grant {
    /// Read-only access to the folder holding the file the value names.
    ReadParent,
    /// Read-write access to the folder holding the file the value names (created if missing).
    WriteParent,
    /// The database the value's URL names, through the host's `sql` interface.
    SqlUrl,
    /// The storage location the value names, through the host's `object-store` interface.
    StoreUrl,
    /// The worker's standard output (a whole-plugin grant).
    Stdout,
}

impl Grant {
    /// Its name in a schema's `x-connectd-grant`.
    pub fn name(self) -> &'static str {
        match self {
            Grant::ReadParent => "read-parent",
            Grant::WriteParent => "write-parent",
            Grant::SqlUrl => "sql-url",
            Grant::StoreUrl => "store-url",
            Grant::Stdout => "stdout",
        }
    }

    /// The grant named `name` in a schema.
    pub fn from_name(name: &str) -> Option<Grant> {
        [
            Grant::ReadParent,
            Grant::WriteParent,
            Grant::SqlUrl,
            Grant::StoreUrl,
            Grant::Stdout,
        ]
        .into_iter()
        .find(|g| g.name() == name)
    }

    /// What it grants, in words, for the documentation.
    pub fn describe(self) -> &'static str {
        match self {
            Grant::ReadParent => "read-only access to the folder of the file it names",
            Grant::WriteParent => "read-write access to the folder of the file it names",
            Grant::SqlUrl => "the database it names",
            Grant::StoreUrl => "the storage location it names",
            Grant::Stdout => "the worker's standard output",
        }
    }
}

/// One declared key.
#[derive(Debug, Clone, PartialEq)]
pub struct Key {
    /// The key as written in a config (a family's prefix, for `prefix`).
    pub name: &'static str,
    /// What it means (the field's doc comment).
    pub doc: String,
    /// How its value is written.
    pub value_type: ValueType,
    /// Whether a config must set it.
    pub required: bool,
    /// The value when unset, as a user would write it.
    pub default: Option<&'static str>,
    /// The default column's text where it is not a value (decided elsewhere).
    pub default_doc: Option<&'static str>,
    /// The least value a number may take.
    pub minimum: Option<&'static str>,
    /// The greatest value a number may take.
    pub maximum: Option<&'static str>,
    /// What the value asks the host for.
    pub grant: Option<Grant>,
    /// A family of keys: every key starting with `name`.
    pub prefix: bool,
    /// A secret (a password, a key, a URL that holds one): the one kind of key a connector
    /// created through the REST API may fill with a `${env:}`/`${file:}` reference.
    pub secret: bool,
    /// How the documentation names a family (`hdfs.<hadoop key>`).
    pub doc_name: Option<&'static str>,
}

impl Key {
    /// Whether `key` is this one (or one of its family).
    pub fn matches(&self, key: &str) -> bool {
        if self.prefix {
            key.starts_with(self.name)
        } else {
            key == self.name
        }
    }
}

/// Everything a struct declares: its keys, and how it treats the rest.
#[derive(Debug, Clone, PartialEq)]
pub struct Declaration {
    /// The keys, in declaration order.
    pub keys: Vec<Key>,
    /// Keys it does not declare are refused (JSON Schema's `additionalProperties: false`).
    pub deny_unknown_keys: bool,
    /// Whole-plugin grants (`stdout`).
    pub grants: Vec<Grant>,
}

impl Declaration {
    /// The declared key (or family) `key` belongs to.
    pub fn key(&self, key: &str) -> Option<&Key> {
        self.keys.iter().find(|k| k.matches(key))
    }

    /// The JSON Schema (draft 2020-12) of a config that satisfies this declaration.
    pub fn schema(&self) -> String {
        json::schema(self)
    }
}

/// Keys the worker sets in every task's config, whatever the plugin declares: which task this
/// is, of how many, under which generation and worker.
pub const RUNTIME_KEYS: &[&str] = &["task.id", "tasks.max", "task.generation", "worker.id"];

/// One problem with one key (or with the whole config, `key` empty).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Problem {
    /// The key, as written in the config.
    pub key: String,
    /// What was expected. Never the value itself: it may be a resolved secret.
    pub expected: String,
}

impl Problem {
    /// A problem with `key`.
    pub fn new(key: impl Into<String>, expected: impl Into<String>) -> Problem {
        Problem {
            key: key.into(),
            expected: expected.into(),
        }
    }
}

/// Every problem of a config, sorted by key.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Problems(pub Vec<Problem>);

impl Problems {
    /// Adds a problem.
    pub fn push(&mut self, key: impl Into<String>, expected: impl Into<String>) {
        self.0.push(Problem::new(key, expected));
    }

    /// `Ok(value)` when no problem was found.
    pub fn into_result<T>(mut self, value: impl FnOnce() -> T) -> Result<T, Problems> {
        if self.0.is_empty() {
            Ok(value())
        } else {
            self.0.sort();
            self.0.dedup();
            Err(self)
        }
    }
}

impl std::fmt::Display for Problems {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        for (i, p) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str("; ")?;
            }
            if p.key.is_empty() {
                f.write_str(&p.expected)?;
            } else {
                write!(f, "key `{}`: {}", p.key, p.expected)?;
            }
        }
        Ok(())
    }
}

impl std::error::Error for Problems {}

impl From<Problem> for Problems {
    fn from(p: Problem) -> Problems {
        Problems(vec![p])
    }
}

/// A config struct declared with `#[derive(Configurable)]`.
pub trait Configurable: Sized {
    /// Its keys.
    fn declaration() -> Declaration;

    /// Parses and checks a flat string map (the last of repeated keys wins), reporting every
    /// problem at once.
    fn from_pairs(pairs: &[(String, String)]) -> Result<Self, Problems>;

    /// Its JSON Schema, which the plugin describes itself with.
    fn schema() -> String {
        Self::declaration().schema()
    }
}

/// Support for the derive's generated code; not for use by hand.
#[doc(hidden)]
pub mod __private {
    use super::{ConfigValue, Declaration, Problems, RUNTIME_KEYS};

    /// The last value of `key`.
    pub fn get<'a>(pairs: &'a [(String, String)], key: &str) -> Option<&'a str> {
        pairs
            .iter()
            .rev()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    /// Every pair of a family, in order.
    pub fn family(pairs: &[(String, String)], prefix: &str) -> Vec<(String, String)> {
        pairs
            .iter()
            .filter(|(k, _)| k.starts_with(prefix))
            .cloned()
            .collect()
    }

    /// The field's value: parsed from `raw`, else from the default, else `None` (recording
    /// a problem when the key is required or the text does not parse).
    pub fn field<T: ConfigValue>(
        problems: &mut Problems,
        key: &str,
        raw: Option<&str>,
        default: Option<&str>,
        required: bool,
        bounds: (Option<f64>, Option<f64>),
    ) -> Option<T> {
        let Some(text) = raw.or(default) else {
            if required {
                problems.push(key, "missing; the plugin requires it");
            }
            return None;
        };
        match T::parse(text) {
            Ok(value) => {
                if let Some(n) = value.as_f64() {
                    if let Some(min) = bounds.0.filter(|min| n < *min) {
                        problems.push(key, format!("expected at least {min}"));
                        return None;
                    }
                    if let Some(max) = bounds.1.filter(|max| n > *max) {
                        problems.push(key, format!("expected at most {max}"));
                        return None;
                    }
                }
                Some(value)
            }
            Err(expected) if raw.is_none() => {
                // A default that does not parse is the declaration's bug, not the user's.
                problems.push(
                    key,
                    format!("the declared default does not parse: {expected}"),
                );
                None
            }
            Err(expected) => {
                problems.push(key, expected);
                None
            }
        }
    }

    /// Refuses keys the declaration does not know (the worker's own task keys aside).
    pub fn unknown(problems: &mut Problems, declaration: &Declaration, pairs: &[(String, String)]) {
        for (key, _) in pairs {
            if declaration.key(key).is_none() && !RUNTIME_KEYS.contains(&key.as_str()) {
                problems.push(key.clone(), "not a key this plugin knows");
            }
        }
    }
}

#[cfg(test)]
mod tests;

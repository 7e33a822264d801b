//! `filter`: a transform that keeps or drops records, like Kafka Connect's `Filter` with a
//! predicate.
//!
//! Config keys (under `transforms.<alias>.` in a connector file): [`FilterConfig`].

use connectd_sdk::{Config, Configurable, ConnectRecord, ConnectorError, Descriptor, Transform};
use regex::Regex;

/// filter's keys.
#[derive(Configurable)]
pub struct FilterConfig {
    /// A regular expression (Rust `regex` syntax) searched for in the record's value, or in
    /// its `field`.
    pub pattern: String,
    /// A field of the JSON value, dotted for nesting (`user.country`). A string field is
    /// matched as it is, any other value as its JSON text; a missing field does not match. A
    /// value that is not JSON is a bad record.
    pub field: Option<String>,
    /// `keep`: keep matching records and drop the rest. `drop`: drop matching records and keep
    /// the rest.
    #[config(default = "keep")]
    pub action: Action,
}

/// What happens to a matching record.
#[derive(Configurable, Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    Keep,
    Drop,
}

/// The filter transform.
pub struct Filter {
    pattern: Regex,
    field: Option<Vec<String>>,
    keep_matching: bool,
}

/// The value at a dotted path of a JSON document.
pub fn lookup<'a>(doc: &'a serde_json::Value, path: &[String]) -> Option<&'a serde_json::Value> {
    path.iter().try_fold(doc, |v, key| v.get(key))
}

impl Filter {
    fn matches(&self, value: &[u8]) -> Result<bool, ConnectorError> {
        let Some(path) = &self.field else {
            return Ok(self.pattern.is_match(&String::from_utf8_lossy(value)));
        };
        let doc: serde_json::Value = serde_json::from_slice(value).map_err(|e| {
            ConnectorError::BadRecord(format!(
                "filter: value is not JSON ({e}), so field `{}` cannot be read",
                path.join(".")
            ))
        })?;
        Ok(match lookup(&doc, path) {
            None => false,
            Some(serde_json::Value::String(s)) => self.pattern.is_match(s),
            Some(other) => self.pattern.is_match(&other.to_string()),
        })
    }
}

impl Transform for Filter {
    fn describe() -> Descriptor {
        Descriptor::transform("filter", env!("CARGO_PKG_VERSION"), &FilterConfig::schema())
    }

    fn open(config: Config) -> Result<Self, ConnectorError> {
        let FilterConfig {
            pattern,
            field,
            action,
        } = config.parse()?;
        let pattern = Regex::new(&pattern).map_err(|e| {
            ConnectorError::InvalidConfig(format!("key `pattern`: not a valid regex: {e}"))
        })?;
        Ok(Filter {
            pattern,
            field: field.map(|f| f.split('.').map(str::to_string).collect()),
            keep_matching: action == Action::Keep,
        })
    }

    fn apply(&mut self, record: ConnectRecord) -> Result<Option<ConnectRecord>, ConnectorError> {
        let matched = self.matches(record.value.as_deref().unwrap_or_default())?;
        Ok((matched == self.keep_matching).then_some(record))
    }
}

connectd_sdk::export_transform!(Filter);

#[cfg(test)]
mod tests {
    use super::*;

    fn record(v: &str) -> ConnectRecord {
        ConnectRecord {
            value: Some(v.as_bytes().to_vec()),
            ..Default::default()
        }
    }

    #[test]
    fn keeps_or_drops_by_field_and_regex() {
        let mut f = Filter::open(Config::from_pairs([
            ("pattern", "^(warn|error)$"),
            ("field", "log.level"),
        ]))
        .unwrap();
        assert!(
            f.apply(record(r#"{"log":{"level":"error"}}"#))
                .unwrap()
                .is_some()
        );
        assert!(
            f.apply(record(r#"{"log":{"level":"info"}}"#))
                .unwrap()
                .is_none()
        );
        assert!(f.apply(record(r#"{"other":1}"#)).unwrap().is_none());
        assert!(matches!(
            f.apply(record("not json")),
            Err(ConnectorError::BadRecord(_))
        ));
        let mut d = Filter::open(Config::from_pairs([
            ("pattern", "secret"),
            ("action", "drop"),
        ]))
        .unwrap();
        assert!(d.apply(record("a secret line")).unwrap().is_none());
        assert!(d.apply(record("a plain line")).unwrap().is_some());
        let e = Filter::open(Config::from_pairs([("pattern", "(")]))
            .err()
            .unwrap();
        assert!(e.to_string().contains("`pattern`"), "{e}");
    }
}

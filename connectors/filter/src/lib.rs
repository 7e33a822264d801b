//! `filter`: a transform that keeps or drops records, like Kafka Connect's `Filter` with a
//! predicate.
//!
//! Config keys (under `transforms.<alias>.` in a connector file):
//! - `pattern` (required): a regular expression (Rust `regex` syntax) searched for in the
//!   record value, or in one field of it.
//! - `field`: a field of the JSON value, dotted for nested objects (`user.country`). A string
//!   field is matched as is, any other value as its JSON text. A missing field does not match.
//!   A value that is not JSON is a bad record (see `errors.tolerance`).
//! - `action`: `keep` (the default) keeps matching records and drops the rest; `drop` drops
//!   matching records and keeps the rest.

use connectd_sdk::{Config, ConnectRecord, ConnectorError, Descriptor, Transform};
use regex::Regex;

const SCHEMA: &str = r#"{"type":"object","required":["pattern"],"properties":{"pattern":{"type":"string"},"field":{"type":"string"},"action":{"enum":["keep","drop"],"default":"keep"}}}"#;

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
        Descriptor::transform("filter", env!("CARGO_PKG_VERSION"), SCHEMA)
    }

    fn open(config: Config) -> Result<Self, ConnectorError> {
        let raw = config.required("pattern")?;
        let pattern = Regex::new(raw).map_err(|e| {
            ConnectorError::InvalidConfig(format!("key `pattern`: not a valid regex: {e}"))
        })?;
        let keep_matching = match config.get("action").unwrap_or("keep") {
            "keep" => true,
            "drop" => false,
            other => {
                return Err(ConnectorError::InvalidConfig(format!(
                    "key `action`: expected \"keep\" or \"drop\", got {other:?}"
                )));
            }
        };
        Ok(Filter {
            pattern,
            field: config
                .get("field")
                .map(|f| f.split('.').map(str::to_string).collect()),
            keep_matching,
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

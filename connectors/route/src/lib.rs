//! `route`: a transform that sends each record to a topic named from a field of its JSON
//! value, like Confluent's `ExtractTopic` with a topic format as Kafka's `TimestampRouter`
//! has one.
//!
//! Config keys (under `transforms.<alias>.` in a connector file): [`RouteConfig`].
//!
//! A record whose field is missing or null keeps its topic. A value that is not JSON, or a
//! topic name Kafka would refuse (empty, longer than 249, or other than ASCII letters, digits,
//! `.`, `_` and `-`), is a bad record (see `errors.tolerance`).

use connectd_sdk::{Config, Configurable, ConnectRecord, ConnectorError, Descriptor, Transform};
use serde_json::Value;

/// route's keys.
#[derive(Configurable)]
pub struct RouteConfig {
    /// The field of the JSON value naming the topic, dotted for nesting (`user.country`). A
    /// string is used as it is, any other value as its JSON text. A missing or null field
    /// keeps the record's topic.
    pub field: String,
    /// The new topic: `${field}` stands for the field's value (and must be there), `${topic}`
    /// for the record's topic, e.g. `level.${field}` gives `level.warn`.
    #[config(key = "topic.format", default = "${field}")]
    pub topic_format: String,
}

/// The route transform.
pub struct Route {
    /// `field` as a JSON pointer (`/user/country`).
    pointer: String,
    field: String,
    format: String,
}

/// Whether Kafka accepts `name` as a topic name.
fn legal_topic(name: &str) -> bool {
    (1..=249).contains(&name.len())
        && name != "."
        && name != ".."
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
}

impl Transform for Route {
    fn describe() -> Descriptor {
        Descriptor::transform("route", env!("CARGO_PKG_VERSION"), &RouteConfig::schema())
    }

    fn open(config: Config) -> Result<Self, ConnectorError> {
        let RouteConfig {
            field,
            topic_format: format,
        } = config.parse()?;
        if field.is_empty() || field.split('.').any(str::is_empty) {
            return Err(ConnectorError::InvalidConfig(format!(
                "key `field`: expected a field name, dotted for nested objects, got {field:?}"
            )));
        }
        if !format.contains("${field}") {
            return Err(ConnectorError::InvalidConfig(format!(
                "key `topic.format`: must contain ${{field}}, got {format:?}"
            )));
        }
        let pointer = field
            .split('.')
            .map(|part| format!("/{}", part.replace('~', "~0").replace('/', "~1")))
            .collect();
        Ok(Route {
            pointer,
            field,
            format,
        })
    }

    fn apply(
        &mut self,
        mut record: ConnectRecord,
    ) -> Result<Option<ConnectRecord>, ConnectorError> {
        let raw = record.value.as_deref().unwrap_or_default();
        let doc: Value = serde_json::from_slice(raw).map_err(|e| {
            ConnectorError::BadRecord(format!(
                "route: value is not JSON ({e}), so field `{}` cannot be read",
                self.field
            ))
        })?;
        let value = match doc.pointer(&self.pointer) {
            None | Some(Value::Null) => return Ok(Some(record)),
            Some(Value::String(s)) => s.clone(),
            Some(other) => other.to_string(),
        };
        let topic = self
            .format
            .replace("${topic}", &record.topic)
            .replace("${field}", &value);
        if !legal_topic(&topic) {
            return Err(ConnectorError::BadRecord(format!(
                "route: field `{}` makes the topic {topic:?}, which is not a legal topic name (1 to 249 of ASCII letters, digits, '.', '_', '-')",
                self.field
            )));
        }
        record.topic = topic;
        Ok(Some(record))
    }
}

connectd_sdk::export_transform!(Route);

#[cfg(test)]
mod tests {
    use super::*;

    fn route(pairs: &[(&str, &str)], value: &str) -> Result<String, ConnectorError> {
        let mut r = Route::open(Config::from_pairs(pairs.iter().copied()))?;
        let record = ConnectRecord {
            topic: "events".into(),
            value: Some(value.as_bytes().to_vec()),
            ..Default::default()
        };
        Ok(r.apply(record)?.unwrap().topic)
    }

    #[test]
    fn names_the_topic_from_the_field() {
        let level = [("field", "level")];
        assert_eq!(route(&level, r#"{"level":"warn"}"#).unwrap(), "warn");
        let formatted = [("field", "a.b"), ("topic.format", "${topic}-${field}")];
        assert_eq!(
            route(&formatted, r#"{"a":{"b":7}}"#).unwrap(),
            "events-7",
            "a number as its JSON text"
        );
        assert_eq!(route(&level, r#"{"other":1}"#).unwrap(), "events");
        assert_eq!(route(&level, r#"{"level":null}"#).unwrap(), "events");
    }

    #[test]
    fn bad_values_and_bad_config_are_named() {
        let level = [("field", "level")];
        let bad = |value: &str| match route(&level, value) {
            Err(ConnectorError::BadRecord(m)) => m,
            other => panic!("{other:?}"),
        };
        assert!(bad("plain").contains("not JSON"));
        assert!(bad(r#"{"level":"a/b"}"#).contains("not a legal topic name"));
        assert!(bad(r#"{"level":""}"#).contains("\"\""));
        let e = Route::open(Config::from_pairs([("field", "x"), ("topic.format", "t")]))
            .err()
            .unwrap();
        assert!(e.to_string().contains("`topic.format`"), "{e}");
        assert!(Route::open(Config::from_pairs([("field", "a..b")])).is_err());
        assert!(Route::open(Config::from_pairs([("x", "y")])).is_err());
    }
}

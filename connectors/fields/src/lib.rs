//! `fields`: a transform that inserts and masks fields of JSON record values, like Kafka
//! Connect's `InsertField` and `MaskField` in one.
//!
//! Config keys (under `transforms.<alias>.` in a connector file): [`FieldsConfig`].
//!
//! A value that is not a JSON object is a bad record (see `errors.tolerance`). At least one
//! key must be set.

use connectd_sdk::{Config, Configurable, ConnectRecord, ConnectorError, Descriptor, Transform};
use serde_json::{Map, Value};

/// fields' keys; at least one must be set.
#[derive(Configurable)]
pub struct FieldsConfig {
    /// Comma-separated fields to mask, dotted for nesting. Each becomes `mask.replacement`, or
    /// without one its type's empty value (`""`, `0`, `false`, `[]`, `{}`) as Kafka's
    /// MaskField does. Missing fields are left alone.
    #[config(key = "mask.fields")]
    pub mask_fields: Option<Vec<String>>,
    /// The string that replaces masked values.
    #[config(key = "mask.replacement")]
    pub mask_replacement: Option<String>,
    /// Insert a field of this name holding `static.value`.
    #[config(key = "static.field")]
    pub static_field: Option<String>,
    /// The string `static.field` holds.
    #[config(key = "static.value")]
    pub static_value: Option<String>,
    /// Insert the record's topic under this field.
    #[config(key = "topic.field")]
    pub topic_field: Option<String>,
    /// Insert the record's partition under this field (`null` on a source).
    #[config(key = "partition.field")]
    pub partition_field: Option<String>,
    /// Insert the record's offset under this field (`null` on a source).
    #[config(key = "offset.field")]
    pub offset_field: Option<String>,
    /// Insert the record's timestamp under this field.
    #[config(key = "timestamp.field")]
    pub timestamp_field: Option<String>,
}

/// The fields transform.
pub struct Fields {
    mask: Vec<Vec<String>>,
    replacement: Option<String>,
    insert_static: Option<(String, String)>,
    topic_field: Option<String>,
    partition_field: Option<String>,
    offset_field: Option<String>,
    timestamp_field: Option<String>,
}

fn empty_like(v: &Value) -> Value {
    match v {
        Value::String(_) => Value::String(String::new()),
        Value::Number(_) => Value::from(0),
        Value::Bool(_) => Value::Bool(false),
        Value::Array(_) => Value::Array(Vec::new()),
        Value::Object(_) => Value::Object(Map::new()),
        Value::Null => Value::Null,
    }
}

fn mask_at(doc: &mut Value, path: &[String], replacement: Option<&str>) {
    let Some((last, parents)) = path.split_last() else {
        return;
    };
    let target = parents
        .iter()
        .try_fold(doc, |v, key| v.get_mut(key))
        .and_then(|v| v.get_mut(last));
    if let Some(v) = target {
        *v = match (replacement, &*v) {
            (Some(r), _) => Value::String(r.to_string()),
            (None, other) => empty_like(other),
        };
    }
}

impl Transform for Fields {
    fn describe() -> Descriptor {
        Descriptor::transform("fields", env!("CARGO_PKG_VERSION"), &FieldsConfig::schema())
    }

    fn open(config: Config) -> Result<Self, ConnectorError> {
        let keys: FieldsConfig = config.parse()?;
        let insert_static = match (keys.static_field, keys.static_value) {
            (Some(f), Some(v)) => Some((f, v)),
            (None, None) => None,
            (Some(_), None) => {
                return Err(ConnectorError::InvalidConfig(
                    "key `static.value`: missing; `static.field` needs a value to insert".into(),
                ));
            }
            (None, Some(_)) => {
                return Err(ConnectorError::InvalidConfig(
                    "key `static.field`: missing; `static.value` needs a field to go in".into(),
                ));
            }
        };
        let fields = Fields {
            mask: keys
                .mask_fields
                .unwrap_or_default()
                .iter()
                .map(|f| f.split('.').map(str::to_string).collect())
                .collect(),
            replacement: keys.mask_replacement,
            insert_static,
            topic_field: keys.topic_field,
            partition_field: keys.partition_field,
            offset_field: keys.offset_field,
            timestamp_field: keys.timestamp_field,
        };
        if fields.mask.is_empty()
            && fields.insert_static.is_none()
            && [
                &fields.topic_field,
                &fields.partition_field,
                &fields.offset_field,
                &fields.timestamp_field,
            ]
            .iter()
            .all(|f| f.is_none())
        {
            return Err(ConnectorError::InvalidConfig(
                "nothing to do: set `mask.fields`, `static.field`/`static.value`, or one of `topic.field`, `partition.field`, `offset.field`, `timestamp.field`".into(),
            ));
        }
        Ok(fields)
    }

    fn apply(
        &mut self,
        mut record: ConnectRecord,
    ) -> Result<Option<ConnectRecord>, ConnectorError> {
        let raw = record.value.as_deref().unwrap_or_default();
        let mut doc: Value = serde_json::from_slice(raw)
            .map_err(|e| ConnectorError::BadRecord(format!("fields: value is not JSON: {e}")))?;
        if !doc.is_object() {
            return Err(ConnectorError::BadRecord(
                "fields: value is JSON but not an object".into(),
            ));
        }
        for path in &self.mask {
            mask_at(&mut doc, path, self.replacement.as_deref());
        }
        let object = doc.as_object_mut().expect("checked above");
        if let Some((f, v)) = &self.insert_static {
            object.insert(f.clone(), Value::String(v.clone()));
        }
        let inserts = [
            (&self.topic_field, Value::String(record.topic.clone())),
            (&self.partition_field, Value::from(record.partition)),
            (&self.offset_field, Value::from(record.offset)),
            (&self.timestamp_field, Value::from(record.timestamp_ms)),
        ];
        for (field, value) in inserts {
            if let Some(f) = field {
                object.insert(f.clone(), value);
            }
        }
        record.value = Some(serde_json::to_vec(&doc).expect("a JSON value serializes"));
        Ok(Some(record))
    }
}

connectd_sdk::export_transform!(Fields);

#[cfg(test)]
mod tests {
    use super::*;

    fn apply(pairs: &[(&str, &str)], value: &str) -> Result<String, ConnectorError> {
        let mut f = Fields::open(Config::from_pairs(pairs.iter().copied()))?;
        let r = ConnectRecord {
            topic: "orders".into(),
            partition: Some(2),
            offset: Some(7),
            value: Some(value.as_bytes().to_vec()),
            ..Default::default()
        };
        Ok(String::from_utf8(f.apply(r)?.unwrap().value.unwrap()).unwrap())
    }

    #[test]
    fn masks_and_inserts() {
        let out = apply(
            &[
                ("mask.fields", "card, user.email, n"),
                ("static.field", "env"),
                ("static.value", "prod"),
                ("topic.field", "src"),
                ("offset.field", "at"),
            ],
            r#"{"card":"4111","n":5,"user":{"email":"a@b","id":1}}"#,
        )
        .unwrap();
        let v: Value = serde_json::from_str(&out).unwrap();
        assert_eq!(v["card"], "");
        assert_eq!(v["n"], 0);
        assert_eq!(v["user"]["email"], "");
        assert_eq!(v["user"]["id"], 1);
        assert_eq!(v["env"], "prod");
        assert_eq!(v["src"], "orders");
        assert_eq!(v["at"], 7);
        let out = apply(
            &[("mask.fields", "card"), ("mask.replacement", "****")],
            r#"{"card":4111}"#,
        )
        .unwrap();
        assert_eq!(out, r#"{"card":"****"}"#);
    }

    #[test]
    fn bad_records_and_bad_config_are_named() {
        assert!(matches!(
            apply(&[("mask.fields", "a")], "plain text"),
            Err(ConnectorError::BadRecord(_))
        ));
        let e = apply(&[("static.field", "x")], "{}").unwrap_err();
        assert!(e.to_string().contains("`static.value`"), "{e}");
        assert!(apply(&[], "{}").is_err());
    }
}

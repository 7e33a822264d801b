//! Schemas: inferred from a record's JSON value, widened when a record brings a new field, and
//! declared in config.

use std::fmt;

use serde::de::{self, Deserialize, MapAccess, SeqAccess, Visitor};

use crate::columns::{Kind, Misfit};

/// A JSON value with its objects' fields in the order they were written (serde_json's own
/// `Value` sorts them), so columns come in the records' order.
#[derive(Debug, Clone, PartialEq)]
pub enum Node {
    Null,
    Bool,
    Int,
    Float,
    String(String),
    Array(Vec<Node>),
    Object(Vec<(String, Node)>),
}

impl Node {
    /// Reads a JSON text.
    pub fn parse(json: &[u8]) -> Result<Node, String> {
        serde_json::from_slice(json).map_err(|e| e.to_string())
    }
}

impl<'de> Deserialize<'de> for Node {
    fn deserialize<D: de::Deserializer<'de>>(d: D) -> Result<Node, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Node;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a JSON value")
            }
            fn visit_unit<E>(self) -> Result<Node, E> {
                Ok(Node::Null)
            }
            fn visit_bool<E>(self, _: bool) -> Result<Node, E> {
                Ok(Node::Bool)
            }
            fn visit_i64<E>(self, _: i64) -> Result<Node, E> {
                Ok(Node::Int)
            }
            fn visit_u64<E>(self, _: u64) -> Result<Node, E> {
                Ok(Node::Int)
            }
            fn visit_f64<E>(self, _: f64) -> Result<Node, E> {
                Ok(Node::Float)
            }
            fn visit_str<E>(self, s: &str) -> Result<Node, E> {
                Ok(Node::String(s.to_string()))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Node, A::Error> {
                let mut items = Vec::new();
                while let Some(n) = seq.next_element()? {
                    items.push(n);
                }
                Ok(Node::Array(items))
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Node, A::Error> {
                let mut fields: Vec<(String, Node)> = Vec::new();
                while let Some((k, v)) = map.next_entry::<String, Node>()? {
                    match fields.iter_mut().find(|(n, _)| *n == k) {
                        Some(existing) => existing.1 = v,
                        None => fields.push((k, v)),
                    }
                }
                Ok(Node::Object(fields))
            }
        }
        d.deserialize_any(V)
    }
}

/// The schema of one JSON value. Integers are int64, other numbers float64; an empty object
/// or an array with only nulls tells nothing yet (null, widened later).
pub fn infer(value: &Node) -> Kind {
    match value {
        Node::Null => Kind::Null,
        Node::Bool => Kind::Boolean,
        Node::Int => Kind::Int64,
        Node::Float => Kind::Float64,
        Node::String(_) => Kind::String,
        Node::Array(items) => {
            let item = items
                .iter()
                .map(infer)
                .try_fold(Kind::Null, |a, b| merge(&a, &b, ""));
            // Items of different types cannot share a list column: leave it to `merge`, which
            // reports it when the record is appended.
            Kind::List(Box::new(item.unwrap_or(Kind::String)))
        }
        Node::Object(fields) if fields.is_empty() => Kind::Null,
        Node::Object(fields) => {
            Kind::Struct(fields.iter().map(|(k, v)| (k.clone(), infer(v))).collect())
        }
    }
}

/// The schema that holds both `current` (a file's) and `record` (a new record's): `current`
/// with the record's new fields added, and null columns given the record's type. A field whose
/// type differs is a type change (an integer into a float column is not one).
pub fn merge(current: &Kind, record: &Kind, field: &str) -> Result<Kind, Misfit> {
    match (current, record) {
        (a, b) if a == b => Ok(a.clone()),
        (a, Kind::Null) => Ok(a.clone()),
        (Kind::Null, b) => Ok(b.clone()),
        (Kind::Float64, Kind::Int64) => Ok(Kind::Float64),
        (Kind::Int32 | Kind::Timestamp, Kind::Int64) => Ok(current.clone()),
        (Kind::Timestamp, Kind::String) => Ok(Kind::Timestamp),
        (Kind::List(a), Kind::List(b)) => {
            Ok(Kind::List(Box::new(merge(a, b, &format!("{field}[]"))?)))
        }
        (Kind::Struct(a), Kind::Struct(b)) => {
            let mut fields = a.clone();
            for (name, kind) in b {
                let path = if field.is_empty() {
                    name.clone()
                } else {
                    format!("{field}.{name}")
                };
                match fields.iter_mut().find(|(n, _)| n == name) {
                    Some((_, existing)) => *existing = merge(existing, kind, &path)?,
                    None => fields.push((name.clone(), kind.clone())),
                }
            }
            Ok(Kind::Struct(fields))
        }
        (a, b) => Err(Misfit::TypeChange {
            field: field.to_string(),
            expected: a.name(),
            found: b.name(),
        }),
    }
}

/// A declared schema, from config: a JSON object of field names to types, where a type is a
/// name (`boolean`, `int32`, `int64`, `float64`, `string`, `timestamp`), an object (a struct)
/// or a one-element array (a list of that type). `long`, `int`, `double` and `float` are read
/// as their Kafka Connect names suggest.
pub fn declared(text: &str) -> Result<Kind, String> {
    let value = Node::parse(text.as_bytes()).map_err(|e| {
        format!("schema: not JSON ({e}); expected an object such as {{\"id\": \"int64\", \"tags\": [\"string\"]}}")
    })?;
    fn kind(v: &Node, at: &str) -> Result<Kind, String> {
        match v {
            Node::String(name) => Ok(match name.as_str() {
                "boolean" | "bool" => Kind::Boolean,
                "int32" | "int" => Kind::Int32,
                "int64" | "long" => Kind::Int64,
                "float64" | "double" | "float" | "float32" => Kind::Float64,
                "string" => Kind::String,
                "timestamp" => Kind::Timestamp,
                other => {
                    return Err(format!(
                        "schema: {at} has type {other:?}: expected boolean, int32, int64, float64, string, timestamp, an object or a one-element array"
                    ));
                }
            }),
            Node::Array(items) if items.len() == 1 => {
                Ok(Kind::List(Box::new(kind(&items[0], &format!("{at}[]"))?)))
            }
            Node::Object(fields) if !fields.is_empty() => Ok(Kind::Struct(
                fields
                    .iter()
                    .map(|(k, v)| {
                        let path = if at.is_empty() {
                            k.clone()
                        } else {
                            format!("{at}.{k}")
                        };
                        Ok((k.clone(), kind(v, &path)?))
                    })
                    .collect::<Result<_, String>>()?,
            )),
            _ => Err(format!(
                "schema: {} is not a type: expected a type name, an object of fields or a one-element array",
                if at.is_empty() { "the schema" } else { at }
            )),
        }
    }
    match kind(&value, "")? {
        k @ Kind::Struct(_) => Ok(k),
        _ => Err("schema: expected a JSON object of field names to types".into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::columns::Column;
    use arrow_array::{Array, Int64Array, RecordBatch, StructArray};

    fn kind(json: &str) -> Kind {
        infer(&Node::parse(json.as_bytes()).unwrap())
    }

    #[test]
    fn a_new_field_widens_and_a_type_change_names_the_field() {
        let old = kind(r#"{"id": 1, "user": {"name": "a"}, "tags": ["x"], "note": null}"#);
        let new = kind(r#"{"id": 2, "user": {"name": "b", "age": 3}, "note": "n"}"#);
        let wide = merge(&old, &new, "").unwrap();
        let Kind::Struct(fields) = &wide else {
            panic!()
        };
        assert_eq!(fields.len(), 4);
        assert_eq!(fields[3], ("note".into(), Kind::String));
        assert!(matches!(&fields[1].1, Kind::Struct(f) if f.len() == 2));

        let changed = kind(r#"{"user": {"name": 5}}"#);
        assert_eq!(
            merge(&wide, &changed, "").unwrap_err(),
            Misfit::TypeChange {
                field: "user.name".into(),
                expected: "string".into(),
                found: "int64".into()
            }
        );
        // An integer into a float column is not a change; a float into an integer one is.
        assert_eq!(merge(&Kind::Float64, &Kind::Int64, "x"), Ok(Kind::Float64));
        assert!(merge(&Kind::Int64, &Kind::Float64, "x").is_err());
    }

    #[test]
    fn columns_keep_integers_exact_and_refuse_misfits_whole() {
        let schema = kind(r#"{"id": 1, "n": {"deep": [1]}, "s": "x"}"#);
        let mut root = Column::new(&schema);
        let big = 9_007_199_254_740_993_i64; // 2^53 + 1: not a float
        root.push_json(
            format!(r#"{{"id": {big}, "n": {{"deep": [1, -2, null]}}, "s": "é\"\n"}}"#).as_bytes(),
        )
        .unwrap();
        root.push_json(br#"{"id": null}"#).unwrap();
        // A misfit deep inside leaves nothing of the row behind.
        let err = root
            .push_json(br#"{"id": 3, "n": {"deep": [1, "two"]}, "s": "y"}"#)
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            "field n.deep[1] changed type: the file's schema has int64, the record string"
        );
        assert_eq!(
            root.push_json(br#"{"id": 4, "n": {"deeper": 1}}"#)
                .unwrap_err(),
            Misfit::NewField("n.deeper".into())
        );
        assert!(matches!(
            root.push_json(b"{\"id\": 1.5}").unwrap_err(),
            Misfit::TypeChange { .. }
        ));
        assert!(matches!(
            root.push_json(b"{nope").unwrap_err(),
            Misfit::Invalid(_)
        ));
        assert_eq!(root.len(), 2);
        let array = root.finish();
        let batch = RecordBatch::from(
            array
                .as_any()
                .downcast_ref::<StructArray>()
                .unwrap()
                .clone(),
        );
        let ids = batch
            .column(0)
            .as_any()
            .downcast_ref::<Int64Array>()
            .unwrap();
        assert_eq!(ids.value(0), big);
        assert!(ids.is_null(1));
        assert_eq!(batch.num_rows(), 2);
    }

    #[test]
    fn declared_schemas_read_names_objects_and_lists() {
        let k = declared(
            r#"{"id": "long", "at": "timestamp", "tags": ["string"], "geo": {"lat": "double"}}"#,
        )
        .unwrap();
        let Kind::Struct(fields) = k else { panic!() };
        assert_eq!(fields[0].1, Kind::Int64);
        assert_eq!(fields[2].1, Kind::List(Box::new(Kind::String)));
        let err = declared(r#"{"geo": {"lat": "decimal"}}"#).unwrap_err();
        assert!(err.contains("geo.lat") && err.contains("decimal"), "{err}");
        assert!(declared("[1]").is_err());
    }
}

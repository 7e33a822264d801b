//! Rows as JSON record values and keys, and back.
//!
//! With schemas (Kafka Connect's JsonConverter default, `schemas.enable`), a record is
//! `{"schema": {"type": "struct", "fields": [...]}, "payload": {...}}`: the schema says which
//! strings are decimals, timestamps or base64 bytes, so a sink can declare and bind them
//! exactly. Without, it is the payload object alone, and a sink infers types from the values.

use serde_json::Value as Json;

use crate::types::to_json;
use crate::{Field, FieldType, Value};

/// Writes rows of one table (or its key columns) as JSON record values.
pub struct Encoder {
    /// `{"schema":...,"payload":` with schemas, else empty.
    prefix: String,
    /// Each field's name as a JSON string followed by `:`.
    names: Vec<String>,
}

impl Encoder {
    /// An encoder for rows with these fields, named `name` in the schema.
    pub fn new(name: &str, fields: &[Field], schemas: bool) -> Encoder {
        let prefix = if schemas {
            let fields: Vec<Json> = fields
                .iter()
                .map(|f| {
                    let mut field = f.ty.connect_schema();
                    field.insert("field".into(), f.name.clone().into());
                    field.insert("optional".into(), f.optional.into());
                    Json::Object(field)
                })
                .collect();
            let schema = serde_json::json!({
                "type": "struct", "name": name, "optional": false, "fields": fields
            });
            format!("{{\"schema\":{schema},\"payload\":")
        } else {
            String::new()
        };
        Encoder {
            prefix,
            names: fields
                .iter()
                .map(|f| format!("{}:", Json::String(f.name.clone())))
                .collect(),
        }
    }

    /// One row (its values in field order) as a record.
    pub fn encode(&self, values: &[Value]) -> Vec<u8> {
        let mut out = String::with_capacity(self.prefix.len() + 32 * values.len());
        out.push_str(&self.prefix);
        out.push('{');
        for (i, (name, value)) in self.names.iter().zip(values).enumerate() {
            if i > 0 {
                out.push(',');
            }
            out.push_str(name);
            out.push_str(&to_json(value).to_string());
        }
        out.push('}');
        if !self.prefix.is_empty() {
            out.push('}');
        }
        out.into_bytes()
    }
}

/// A record value or key, read back: its fields and their values.
#[derive(Debug, Clone, PartialEq)]
pub struct Decoded {
    pub fields: Vec<Field>,
    pub values: Vec<Value>,
}

/// Reads a record value or key: an envelope, a plain object, or a primitive (one field with an
/// empty name).
pub fn decode(bytes: &[u8]) -> Result<Decoded, String> {
    let json: Json = serde_json::from_slice(bytes).map_err(|e| format!("not JSON: {e}"))?;
    if let Json::Object(o) = &json
        && o.len() == 2
        && let (Some(schema), Some(payload)) = (o.get("schema"), o.get("payload"))
    {
        return decode_enveloped(schema, payload);
    }
    match json {
        Json::Object(o) => {
            let mut decoded = Decoded {
                fields: Vec::with_capacity(o.len()),
                values: Vec::with_capacity(o.len()),
            };
            for (name, v) in o {
                let ty = FieldType::infer(&v).unwrap_or(FieldType::String);
                decoded
                    .values
                    .push(ty.value(&v).map_err(|e| format!("field {name:?}: {e}"))?);
                decoded.fields.push(Field {
                    name,
                    ty,
                    optional: true,
                });
            }
            Ok(decoded)
        }
        other => {
            let ty = FieldType::infer(&other).unwrap_or(FieldType::String);
            Ok(Decoded {
                values: vec![ty.value(&other)?],
                fields: vec![Field {
                    name: String::new(),
                    ty,
                    optional: true,
                }],
            })
        }
    }
}

fn decode_enveloped(schema: &Json, payload: &Json) -> Result<Decoded, String> {
    let optional = |f: &Json| f.get("optional").and_then(Json::as_bool).unwrap_or(true);
    let Some(fields) = schema.get("fields").and_then(Json::as_array) else {
        // A primitive with a schema (a key such as {"schema":{"type":"int64"},"payload":7}).
        let ty = FieldType::from_connect(schema)?;
        return Ok(Decoded {
            values: vec![ty.value(payload)?],
            fields: vec![Field {
                name: String::new(),
                ty,
                optional: optional(schema),
            }],
        });
    };
    let mut decoded = Decoded {
        fields: Vec::with_capacity(fields.len()),
        values: Vec::with_capacity(fields.len()),
    };
    for f in fields {
        let name = f
            .get("field")
            .and_then(Json::as_str)
            .ok_or("a schema field has no \"field\" name")?;
        let ty = FieldType::from_connect(f).map_err(|e| format!("field {name:?}: {e}"))?;
        let v = payload.get(name).unwrap_or(&Json::Null);
        decoded
            .values
            .push(ty.value(v).map_err(|e| format!("field {name:?}: {e}"))?);
        decoded.fields.push(Field {
            name: name.to_string(),
            ty,
            optional: optional(f),
        });
    }
    Ok(decoded)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fields() -> Vec<Field> {
        vec![
            Field {
                name: "id".into(),
                ty: FieldType::Int64,
                optional: false,
            },
            Field {
                name: "amount".into(),
                ty: FieldType::Decimal {
                    precision: Some(25),
                    scale: Some(5),
                },
                optional: true,
            },
            Field {
                name: "blob \"x\"".into(),
                ty: FieldType::Bytes,
                optional: true,
            },
        ]
    }

    #[test]
    fn rows_round_trip_with_and_without_schemas() {
        let values = vec![
            Value::Int(9_007_199_254_740_993),
            Value::Decimal("12345678901234567890.12345".into()),
            Value::Bytes(vec![1, 2, 3]),
        ];
        let with = Encoder::new("orders", &fields(), true).encode(&values);
        let decoded = decode(&with).unwrap();
        assert_eq!(decoded.fields, fields());
        assert_eq!(decoded.values, values);

        let without = Encoder::new("orders", &fields(), false).encode(&values);
        assert_eq!(
            String::from_utf8(without.clone()).unwrap(),
            r#"{"id":9007199254740993,"amount":"12345678901234567890.12345","blob \"x\"":"AQID"}"#
        );
        let plain = decode(&without).unwrap();
        // Without a schema the types are inferred: the decimal is plain text.
        let get = |name: &str| {
            let i = plain.fields.iter().position(|f| f.name == name).unwrap();
            (&plain.fields[i].ty, &plain.values[i])
        };
        assert_eq!(
            get("id"),
            (&FieldType::Int64, &Value::Int(9_007_199_254_740_993))
        );
        assert_eq!(
            get("amount"),
            (
                &FieldType::String,
                &Value::Text("12345678901234567890.12345".into())
            )
        );
    }

    #[test]
    fn primitive_keys_decode() {
        let k = decode(br#"{"schema":{"type":"int64","optional":false},"payload":7}"#).unwrap();
        assert_eq!(k.values, vec![Value::Int(7)]);
        assert_eq!(
            decode(b"\"abc\"").unwrap().values,
            vec![Value::Text("abc".into())]
        );
        assert!(decode(b"{not json").unwrap_err().contains("not JSON"));
    }
}

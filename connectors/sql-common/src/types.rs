//! The column types both connectors agree on: what a database type reads as, how it is
//! described in a Kafka Connect schema, what an auto-created column is declared as, and how a
//! JSON field becomes a value to bind.

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use serde_json::{Value as Json, json};

use crate::{Dialect, Value};

/// A column's type, as records carry it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FieldType {
    Boolean,
    /// Every integer type: 64-bit, exact.
    Int64,
    Float64,
    String,
    /// Base64 in JSON.
    Bytes,
    /// An exact decimal, a string in JSON; precision and scale when the source knows them.
    Decimal {
        precision: Option<u32>,
        scale: Option<u32>,
    },
    /// RFC 3339 with the zone offset.
    TimestampTz,
    /// A date and time without a zone.
    Timestamp,
    Date,
    Time,
    /// A JSON document, as a string.
    Json,
}

/// A named, typed column.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Field {
    pub name: String,
    pub ty: FieldType,
    pub optional: bool,
}

/// Connect schema names for the string-encoded types (Debezium's where the meaning is the same).
const DECIMAL: &str = "connectd.sql.Decimal";
const TIMESTAMP_TZ: &str = "io.debezium.time.ZonedTimestamp";
const TIMESTAMP: &str = "connectd.sql.Timestamp";
const DATE: &str = "connectd.sql.Date";
const TIME: &str = "connectd.sql.Time";
const JSON: &str = "io.debezium.data.Json";

impl FieldType {
    /// The type of a column the database names `type_name` (a result column's type, or
    /// `information_schema.columns.data_type`).
    pub fn from_db(dialect: Dialect, type_name: &str) -> FieldType {
        let t = type_name.to_ascii_uppercase();
        let has = |s: &str| t.contains(s);
        if has("BOOL") {
            FieldType::Boolean
        } else if t == "BIGINT UNSIGNED" {
            FieldType::Decimal {
                precision: Some(20),
                scale: Some(0),
            }
        } else if has("TIMESTAMPTZ")
            || (has("WITH TIME ZONE") && has("TIMESTAMP"))
            || (dialect == Dialect::MySql && has("TIMESTAMP"))
        {
            FieldType::TimestampTz
        } else if has("TIMESTAMP") || has("DATETIME") {
            FieldType::Timestamp
        } else if has("DATE") {
            FieldType::Date
        } else if has("TIME") {
            FieldType::Time
        } else if (has("INT") && !has("INTERVAL") && !has("POINT")) || t == "OID" || t == "YEAR" {
            FieldType::Int64
        } else if has("FLOAT") || has("DOUBLE") || has("REAL") {
            FieldType::Float64
        } else if has("NUMERIC") || has("DECIMAL") {
            FieldType::Decimal {
                precision: None,
                scale: None,
            }
        } else if has("BYTEA") || has("BLOB") || has("BINARY") || t == "BIT" {
            FieldType::Bytes
        } else if has("JSON") {
            FieldType::Json
        } else {
            FieldType::String
        }
    }

    /// The type a JSON value suggests, for records without a schema (`None` for null).
    pub fn infer(value: &Json) -> Option<FieldType> {
        Some(match value {
            Json::Null => return None,
            Json::Bool(_) => FieldType::Boolean,
            Json::Number(n) if n.is_i64() => FieldType::Int64,
            Json::Number(n) if n.is_u64() => FieldType::Decimal {
                precision: Some(20),
                scale: Some(0),
            },
            Json::Number(_) => FieldType::Float64,
            Json::String(_) => FieldType::String,
            Json::Array(_) | Json::Object(_) => FieldType::Json,
        })
    }

    /// This type in a Kafka Connect schema field (without `field` and `optional`).
    pub fn connect_schema(&self) -> serde_json::Map<String, Json> {
        let (ty, name) = match self {
            FieldType::Boolean => ("boolean", None),
            FieldType::Int64 => ("int64", None),
            FieldType::Float64 => ("float64", None),
            FieldType::String => ("string", None),
            FieldType::Bytes => ("bytes", None),
            FieldType::Decimal { .. } => ("string", Some(DECIMAL)),
            FieldType::TimestampTz => ("string", Some(TIMESTAMP_TZ)),
            FieldType::Timestamp => ("string", Some(TIMESTAMP)),
            FieldType::Date => ("string", Some(DATE)),
            FieldType::Time => ("string", Some(TIME)),
            FieldType::Json => ("string", Some(JSON)),
        };
        let mut out = serde_json::Map::new();
        out.insert("type".into(), ty.into());
        if let Some(name) = name {
            out.insert("name".into(), name.into());
        }
        if let FieldType::Decimal { precision, scale } = self {
            let mut parameters = serde_json::Map::new();
            if let Some(p) = precision {
                parameters.insert("connect.decimal.precision".into(), p.to_string().into());
            }
            if let Some(s) = scale {
                parameters.insert("scale".into(), s.to_string().into());
            }
            if !parameters.is_empty() {
                out.insert("parameters".into(), parameters.into());
            }
        }
        out
    }

    /// The type a Kafka Connect schema field describes, or why it has none here.
    pub fn from_connect(field: &Json) -> Result<FieldType, String> {
        let ty = field.get("type").and_then(Json::as_str).unwrap_or_default();
        let name = field.get("name").and_then(Json::as_str);
        let parameter = |key: &str| {
            field
                .get("parameters")
                .and_then(|p| p.get(key))
                .and_then(Json::as_str)
                .and_then(|v| v.parse().ok())
        };
        Ok(match (ty, name) {
            (_, Some(DECIMAL)) => FieldType::Decimal {
                precision: parameter("connect.decimal.precision"),
                scale: parameter("scale"),
            },
            (_, Some(TIMESTAMP_TZ)) => FieldType::TimestampTz,
            (_, Some(TIMESTAMP)) => FieldType::Timestamp,
            (_, Some(DATE)) => FieldType::Date,
            (_, Some(TIME)) => FieldType::Time,
            (_, Some(JSON)) => FieldType::Json,
            ("boolean", _) => FieldType::Boolean,
            ("int8" | "int16" | "int32" | "int64", _) => FieldType::Int64,
            ("float32" | "float64", _) => FieldType::Float64,
            ("string", _) => FieldType::String,
            ("bytes", _) => FieldType::Bytes,
            ("struct" | "array" | "map", _) => FieldType::Json,
            (other, _) => return Err(format!("schema type {other:?} is not one sql-sink maps")),
        })
    }

    /// The column type `auto.create` and `auto.evolve` declare. Key columns get types a
    /// primary key may have (MySQL cannot index TEXT or BLOB whole).
    pub fn ddl(&self, dialect: Dialect, key: bool) -> String {
        use Dialect::*;
        match (self, dialect) {
            (FieldType::Boolean, _) => "BOOLEAN".into(),
            (FieldType::Int64, Sqlite) => "INTEGER".into(),
            (FieldType::Int64, _) => "BIGINT".into(),
            (FieldType::Float64, Postgres) => "DOUBLE PRECISION".into(),
            (FieldType::Float64, MySql) => "DOUBLE".into(),
            (FieldType::Float64, Sqlite) => "REAL".into(),
            (FieldType::String, MySql) if key => "VARCHAR(255)".into(),
            (FieldType::String, MySql) => "LONGTEXT".into(),
            (FieldType::String, _) => "TEXT".into(),
            (FieldType::Bytes, Postgres) => "BYTEA".into(),
            (FieldType::Bytes, MySql) if key => "VARBINARY(255)".into(),
            (FieldType::Bytes, MySql) => "LONGBLOB".into(),
            (FieldType::Bytes, Sqlite) => "BLOB".into(),
            (FieldType::Decimal { precision, scale }, Postgres) => match (precision, scale) {
                (Some(p), Some(s)) if *p >= 1 && *p <= 1000 => format!("NUMERIC({p},{s})"),
                _ => "NUMERIC".into(),
            },
            (FieldType::Decimal { precision, scale }, MySql) => {
                let s = scale.unwrap_or(30).min(30);
                let p = precision.unwrap_or(65).clamp(s.max(1), 65);
                format!("DECIMAL({p},{s})")
            }
            // TEXT affinity keeps every digit; "DEC" in the name reads it back as a decimal.
            (FieldType::Decimal { .. }, Sqlite) => "DECIMAL TEXT".into(),
            (FieldType::TimestampTz, Postgres) => "TIMESTAMPTZ".into(),
            // In UTC: MySQL's TIMESTAMP ends in 2038.
            (FieldType::TimestampTz | FieldType::Timestamp, MySql) => "DATETIME(6)".into(),
            (FieldType::TimestampTz, Sqlite) => "TIMESTAMPTZ".into(),
            (FieldType::Timestamp, _) => "TIMESTAMP".into(),
            (FieldType::Date, _) => "DATE".into(),
            (FieldType::Time, MySql) => "TIME(6)".into(),
            (FieldType::Time, _) => "TIME".into(),
            (FieldType::Json, Postgres) => "JSONB".into(),
            (FieldType::Json, MySql) => "JSON".into(),
            (FieldType::Json, Sqlite) => "TEXT".into(),
        }
    }

    /// The value to bind for JSON field `json` of this type.
    pub fn value(&self, json: &Json) -> Result<Value, String> {
        let text = || {
            json.as_str()
                .map(str::to_string)
                .ok_or_else(|| format!("expected a string, got {json}"))
        };
        Ok(match (self, json) {
            (_, Json::Null) => Value::Null,
            (FieldType::Boolean, Json::Bool(b)) => Value::Boolean(*b),
            (FieldType::Int64, Json::Number(n)) => Value::Int(
                n.as_i64()
                    .ok_or_else(|| format!("expected a 64-bit integer, got {n}"))?,
            ),
            (FieldType::Float64, Json::Number(n)) => Value::Float(n.as_f64().unwrap_or(f64::NAN)),
            (FieldType::Float64, Json::String(s)) if s == "NaN" || s.ends_with("Infinity") => {
                Value::Float(s.replace("Infinity", "inf").parse().unwrap_or(f64::NAN))
            }
            (FieldType::Decimal { .. }, Json::Number(n)) => Value::Decimal(n.to_string()),
            (FieldType::Decimal { .. }, _) => Value::Decimal(text()?),
            (FieldType::Bytes, Json::String(s)) => Value::Bytes(
                BASE64
                    .decode(s)
                    .map_err(|e| format!("expected base64 bytes: {e}"))?,
            ),
            (FieldType::TimestampTz, _) => Value::TimestampTz(text()?),
            (FieldType::Timestamp, _) => Value::Timestamp(text()?),
            (FieldType::Date, _) => Value::Date(text()?),
            (FieldType::Time, _) => Value::Time(text()?),
            (FieldType::Json, Json::String(s)) => Value::Json(s.clone()),
            (FieldType::Json, other) => Value::Json(other.to_string()),
            (FieldType::String, Json::String(s)) => Value::Text(s.clone()),
            (FieldType::String, other) => Value::Text(other.to_string()),
            (ty, other) => return Err(format!("expected {ty:?}, got {other}")),
        })
    }
}

/// `value` as a JSON record field: integers as numbers, decimals, times and JSON documents as
/// strings, bytes as base64, NaN and infinities as the strings Kafka Connect writes.
pub fn to_json(value: &Value) -> Json {
    if let Some(text) = value.as_text() {
        return json!(text);
    }
    match value {
        Value::Boolean(b) => json!(b),
        Value::Int(i) => json!(i),
        Value::Float(f) => float_text(*f).map_or_else(|| json!(f), |t| json!(t)),
        Value::Bytes(b) => json!(BASE64.encode(b)),
        _ => Json::Null,
    }
}

/// The text SQL and Kafka Connect write for a float JSON numbers cannot hold: `NaN`,
/// `Infinity`, `-Infinity`; `None` for a finite one.
pub fn float_text(f: f64) -> Option<&'static str> {
    match f {
        f if f.is_nan() => Some("NaN"),
        f if f.is_infinite() && f > 0.0 => Some("Infinity"),
        f if f.is_infinite() => Some("-Infinity"),
        _ => None,
    }
}

/// `value` with its variant, for stored positions: `{"int": 5}`, `{"timestamp-tz": "..."}`.
pub fn tagged(value: &Value) -> Json {
    let (tag, v) = match value {
        Value::Null => return Json::Null,
        Value::Boolean(b) => ("boolean", json!(b)),
        Value::Int(i) => ("int", json!(i)),
        Value::Float(f) => ("float", json!(f)),
        Value::Bytes(_) => ("bytes", to_json(value)),
        Value::Text(s) => ("text", json!(s)),
        Value::Decimal(s) => ("decimal", json!(s)),
        Value::TimestampTz(s) => ("timestamp-tz", json!(s)),
        Value::Timestamp(s) => ("timestamp", json!(s)),
        Value::Date(s) => ("date", json!(s)),
        Value::Time(s) => ("time", json!(s)),
        Value::Json(s) => ("json", json!(s)),
    };
    json!({ tag: v })
}

/// The value [`tagged`] wrote.
pub fn untagged(json: &Json) -> Option<Value> {
    let Some((tag, v)) = json.as_object().and_then(|o| o.iter().next()) else {
        return json.is_null().then_some(Value::Null);
    };
    let s = || v.as_str().map(str::to_string);
    Some(match tag.as_str() {
        "boolean" => Value::Boolean(v.as_bool()?),
        "int" => Value::Int(v.as_i64()?),
        "float" => Value::Float(v.as_f64()?),
        "bytes" => match FieldType::Bytes.value(v).ok()? {
            Value::Bytes(b) => Value::Bytes(b),
            _ => return None,
        },
        "text" => Value::Text(s()?),
        "decimal" => Value::Decimal(s()?),
        "timestamp-tz" => Value::TimestampTz(s()?),
        "timestamp" => Value::Timestamp(s()?),
        "date" => Value::Date(s()?),
        "time" => Value::Time(s()?),
        "json" => Value::Json(s()?),
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn database_types_map() {
        use Dialect::*;
        let cases = [
            (Postgres, "INT8", FieldType::Int64),
            (Postgres, "TIMESTAMPTZ", FieldType::TimestampTz),
            (Postgres, "timestamp with time zone", FieldType::TimestampTz),
            (Postgres, "TIMESTAMP", FieldType::Timestamp),
            (MySql, "TIMESTAMP", FieldType::TimestampTz),
            (MySql, "DATETIME", FieldType::Timestamp),
            (Postgres, "time without time zone", FieldType::Time),
            (Postgres, "BYTEA", FieldType::Bytes),
            (MySql, "VARBINARY", FieldType::Bytes),
            (Postgres, "interval", FieldType::String),
            (Postgres, "character varying", FieldType::String),
            (MySql, "BOOLEAN", FieldType::Boolean),
            (Postgres, "JSONB", FieldType::Json),
        ];
        for (d, name, want) in cases {
            assert_eq!(FieldType::from_db(d, name), want, "{name}");
        }
        assert!(matches!(
            FieldType::from_db(Postgres, "NUMERIC"),
            FieldType::Decimal { .. }
        ));
    }

    #[test]
    fn every_type_survives_its_connect_schema_and_json() {
        let cases = [
            (FieldType::Int64, Value::Int(i64::MAX)),
            (
                FieldType::Decimal {
                    precision: Some(30),
                    scale: Some(10),
                },
                Value::Decimal("12345678901234567890.0000000001".into()),
            ),
            (FieldType::Bytes, Value::Bytes(vec![0, 255, 10])),
            (
                FieldType::TimestampTz,
                Value::TimestampTz("2026-11-30T10:00:00.123456+01:00".into()),
            ),
            (FieldType::Json, Value::Json("{\"a\":[1,2]}".into())),
            (FieldType::String, Value::Text("ünïcode ✓".into())),
            (FieldType::Boolean, Value::Null),
        ];
        for (ty, value) in cases {
            let schema = Json::Object(ty.connect_schema());
            assert_eq!(FieldType::from_connect(&schema).unwrap(), ty);
            assert_eq!(ty.value(&to_json(&value)).unwrap(), value, "{ty:?}");
        }
        assert!(FieldType::Int64.value(&json!("7")).is_err());
        for v in [
            Value::Int(-3),
            Value::TimestampTz("2026-01-01T00:00:00.000000+00:00".into()),
            Value::Bytes(vec![9]),
            Value::Null,
        ] {
            assert_eq!(untagged(&tagged(&v)), Some(v));
        }
    }
}

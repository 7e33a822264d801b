//! Records' JSON values appended straight into typed columns, with no value tree in between:
//! serde_json reads each value and every field lands in its column, checked against the file's
//! schema. A field the schema lacks, or a value of another type, stops the record (its partial
//! row is truncated away) and says which field and why, so the caller can widen the schema or
//! send the record to the dead letter queue.
//!
//! Integers are read as integers (`visit_i64`/`visit_u64`), never through a float, so values
//! beyond 2^53 stay exact.

use std::fmt;
use std::sync::Arc;

use arrow_array::{
    ArrayRef, BooleanArray, Float64Array, Int32Array, Int64Array, ListArray, NullArray,
    StringArray, StructArray, TimestampMillisecondArray,
};
use arrow_schema::{DataType, Field, Fields, TimeUnit};
use serde::de::{self, DeserializeSeed, MapAccess, SeqAccess, Visitor};

/// A column's type: what inference finds in JSON, plus what a declared schema may add.
#[derive(Debug, Clone, PartialEq)]
pub enum Kind {
    /// Only nulls seen so far.
    Null,
    Boolean,
    Int32,
    Int64,
    Float64,
    String,
    /// Milliseconds since the epoch, UTC (from an integer or an RFC 3339 string).
    Timestamp,
    /// Fields in order.
    Struct(Vec<(String, Kind)>),
    List(Box<Kind>),
}

impl Kind {
    /// The Arrow type.
    pub fn data_type(&self) -> DataType {
        match self {
            Kind::Null => DataType::Null,
            Kind::Boolean => DataType::Boolean,
            Kind::Int32 => DataType::Int32,
            Kind::Int64 => DataType::Int64,
            Kind::Float64 => DataType::Float64,
            Kind::String => DataType::Utf8,
            Kind::Timestamp => DataType::Timestamp(TimeUnit::Millisecond, Some("UTC".into())),
            Kind::Struct(fields) => DataType::Struct(fields_of(fields)),
            Kind::List(item) => {
                DataType::List(Arc::new(Field::new("item", item.data_type(), true)))
            }
        }
    }

    /// The type's name as the config and error messages write it.
    pub fn name(&self) -> String {
        match self {
            Kind::Null => "null".into(),
            Kind::Boolean => "boolean".into(),
            Kind::Int32 => "int32".into(),
            Kind::Int64 => "int64".into(),
            Kind::Float64 => "float64".into(),
            Kind::String => "string".into(),
            Kind::Timestamp => "timestamp".into(),
            Kind::Struct(_) => "object".into(),
            Kind::List(item) => format!("list of {}", item.name()),
        }
    }
}

/// Arrow fields, all nullable.
pub fn fields_of(fields: &[(String, Kind)]) -> Fields {
    fields
        .iter()
        .map(|(name, kind)| Field::new(name, kind.data_type(), true))
        .collect()
}

/// Why a value did not fit its column.
#[derive(Debug, Clone, PartialEq)]
pub enum Misfit {
    /// An object field the schema does not have.
    NewField(String),
    /// A value of another type than the column's.
    TypeChange {
        field: String,
        expected: String,
        found: String,
    },
    /// Not JSON, or JSON that cannot be stored (duplicate key, integer out of range).
    Invalid(String),
}

impl fmt::Display for Misfit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Misfit::NewField(field) => write!(f, "new field {field}"),
            Misfit::TypeChange {
                field,
                expected,
                found,
            } => write!(
                f,
                "field {field} changed type: the file's schema has {expected}, the record {found}"
            ),
            Misfit::Invalid(m) => f.write_str(m),
        }
    }
}

impl Misfit {
    /// Prefixes the misfit's field with `name` (the enclosing field).
    fn within(&mut self, name: &str) {
        let nest = |field: &mut String| {
            *field = if field.is_empty() {
                name.to_string()
            } else if field.starts_with('[') {
                format!("{name}{field}")
            } else {
                format!("{name}.{field}")
            }
        };
        match self {
            Misfit::NewField(f) => nest(f),
            Misfit::TypeChange { field, .. } => nest(field),
            Misfit::Invalid(_) => {}
        }
    }
}

/// One column being filled: values, and a validity flag per row.
#[derive(Debug)]
pub enum Column {
    Null(usize),
    Boolean(Vec<bool>, Vec<bool>),
    Int32(Vec<i32>, Vec<bool>),
    Int64(Vec<i64>, Vec<bool>),
    Float64(Vec<f64>, Vec<bool>),
    Timestamp(Vec<i64>, Vec<bool>),
    String {
        offsets: Vec<i32>,
        data: Vec<u8>,
        valid: Vec<bool>,
    },
    Struct {
        names: Vec<String>,
        children: Vec<Column>,
        valid: Vec<bool>,
    },
    List {
        offsets: Vec<i32>,
        item: Box<Column>,
        valid: Vec<bool>,
    },
}

impl Column {
    /// An empty column of `kind`.
    pub fn new(kind: &Kind) -> Column {
        match kind {
            Kind::Null => Column::Null(0),
            Kind::Boolean => Column::Boolean(Vec::new(), Vec::new()),
            Kind::Int32 => Column::Int32(Vec::new(), Vec::new()),
            Kind::Int64 => Column::Int64(Vec::new(), Vec::new()),
            Kind::Float64 => Column::Float64(Vec::new(), Vec::new()),
            Kind::Timestamp => Column::Timestamp(Vec::new(), Vec::new()),
            Kind::String => Column::String {
                offsets: vec![0],
                data: Vec::new(),
                valid: Vec::new(),
            },
            Kind::Struct(fields) => Column::Struct {
                names: fields.iter().map(|(n, _)| n.clone()).collect(),
                children: fields.iter().map(|(_, k)| Column::new(k)).collect(),
                valid: Vec::new(),
            },
            Kind::List(item) => Column::List {
                offsets: vec![0],
                item: Box::new(Column::new(item)),
                valid: Vec::new(),
            },
        }
    }

    /// Rows so far.
    pub fn len(&self) -> usize {
        match self {
            Column::Null(n) => *n,
            Column::Boolean(_, v)
            | Column::Int32(_, v)
            | Column::Int64(_, v)
            | Column::Float64(_, v)
            | Column::Timestamp(_, v) => v.len(),
            Column::String { valid, .. }
            | Column::Struct { valid, .. }
            | Column::List { valid, .. } => valid.len(),
        }
    }

    /// Drops the rows from `len` on (a record that did not fit).
    pub fn truncate(&mut self, len: usize) {
        match self {
            Column::Null(n) => *n = (*n).min(len),
            Column::Boolean(x, v) => (x.truncate(len), v.truncate(len)).1,
            Column::Int32(x, v) => (x.truncate(len), v.truncate(len)).1,
            Column::Int64(x, v) | Column::Timestamp(x, v) => (x.truncate(len), v.truncate(len)).1,
            Column::Float64(x, v) => (x.truncate(len), v.truncate(len)).1,
            Column::String {
                offsets,
                data,
                valid,
            } => {
                if valid.len() > len {
                    data.truncate(offsets[len] as usize);
                    offsets.truncate(len + 1);
                    valid.truncate(len);
                }
            }
            Column::Struct {
                children, valid, ..
            } => {
                children.iter_mut().for_each(|c| c.truncate(len));
                valid.truncate(len);
            }
            Column::List {
                offsets,
                item,
                valid,
            } => {
                if valid.len() > len {
                    item.truncate(offsets[len] as usize);
                    offsets.truncate(len + 1);
                    valid.truncate(len);
                }
            }
        }
    }

    /// Appends a null row.
    pub fn push_null(&mut self) {
        match self {
            Column::Null(n) => *n += 1,
            Column::Boolean(x, v) => (x.push(false), v.push(false)).1,
            Column::Int32(x, v) => (x.push(0), v.push(false)).1,
            Column::Int64(x, v) | Column::Timestamp(x, v) => (x.push(0), v.push(false)).1,
            Column::Float64(x, v) => (x.push(0.0), v.push(false)).1,
            Column::String { offsets, valid, .. } | Column::List { offsets, valid, .. } => {
                offsets.push(*offsets.last().unwrap_or(&0));
                valid.push(false);
            }
            Column::Struct {
                children, valid, ..
            } => {
                children.iter_mut().for_each(Column::push_null);
                valid.push(false);
            }
        }
    }

    /// Appends one row from a JSON text. On a misfit nothing of the row stays.
    pub fn push_json(&mut self, json: &[u8]) -> Result<(), Misfit> {
        let len = self.len();
        let mut failure = None;
        // UTF-8 is checked once for the whole text, with SIMD (serde_json's byte reader
        // checks every string again, a byte at a time in a component).
        let json = simdutf8::basic::from_utf8(json)
            .map_err(|_| Misfit::Invalid("not JSON: the value is not UTF-8 text".into()))?;
        let mut de = serde_json::Deserializer::from_str(json);
        let result = Append {
            column: self,
            failure: &mut failure,
        }
        .deserialize(&mut de)
        .and_then(|()| de.end());
        result.map_err(|e| {
            self.truncate(len);
            failure.unwrap_or_else(|| Misfit::Invalid(format!("not JSON: {e}")))
        })
    }

    /// Appends the string `s` to a string column.
    pub fn push_str(&mut self, s: &str) {
        if let Column::String {
            offsets,
            data,
            valid,
        } = self
        {
            data.extend_from_slice(s.as_bytes());
            offsets.push(data.len() as i32);
            valid.push(true);
        }
    }

    /// The Arrow array; the column is left empty.
    pub fn finish(&mut self) -> ArrayRef {
        fn validity(valid: &mut Vec<bool>) -> Option<arrow_buffer::NullBuffer> {
            let valid = std::mem::take(valid);
            if valid.iter().all(|v| *v) {
                None
            } else {
                Some(arrow_buffer::NullBuffer::from(valid))
            }
        }
        match self {
            Column::Null(n) => Arc::new(NullArray::new(std::mem::take(n))),
            Column::Boolean(x, v) => {
                let values = arrow_buffer::BooleanBuffer::from(std::mem::take(x));
                Arc::new(BooleanArray::new(values, validity(v)))
            }
            Column::Int32(x, v) => Arc::new(Int32Array::new(std::mem::take(x).into(), validity(v))),
            Column::Int64(x, v) => Arc::new(Int64Array::new(std::mem::take(x).into(), validity(v))),
            Column::Float64(x, v) => {
                Arc::new(Float64Array::new(std::mem::take(x).into(), validity(v)))
            }
            Column::Timestamp(x, v) => Arc::new(
                TimestampMillisecondArray::new(std::mem::take(x).into(), validity(v))
                    .with_timezone("UTC"),
            ),
            Column::String {
                offsets,
                data,
                valid,
            } => {
                let offsets = std::mem::replace(offsets, vec![0]);
                let offsets = arrow_buffer::OffsetBuffer::new(offsets.into());
                let data = arrow_buffer::Buffer::from_vec(std::mem::take(data));
                // SAFETY: every byte came from a &str (serde_json checked it), at offsets
                // pushed after each; StringArray::new would check all of it again.
                Arc::new(unsafe { StringArray::new_unchecked(offsets, data, validity(valid)) })
            }
            Column::Struct {
                names,
                children,
                valid,
            } => {
                let arrays: Vec<ArrayRef> = children.iter_mut().map(Column::finish).collect();
                let fields: Fields = names
                    .iter()
                    .zip(&arrays)
                    .map(|(n, a)| Field::new(n, a.data_type().clone(), true))
                    .collect();
                let len = valid.len();
                let nulls = validity(valid);
                if fields.is_empty() {
                    Arc::new(StructArray::new_empty_fields(len, nulls))
                } else {
                    Arc::new(StructArray::new(fields, arrays, nulls))
                }
            }
            Column::List {
                offsets,
                item,
                valid,
            } => {
                let offsets = std::mem::replace(offsets, vec![0]);
                let offsets = arrow_buffer::OffsetBuffer::new(offsets.into());
                let values = item.finish();
                let field = Arc::new(Field::new("item", values.data_type().clone(), true));
                Arc::new(ListArray::new(field, offsets, values, validity(valid)))
            }
        }
    }

    fn kind_name(&self) -> &'static str {
        match self {
            Column::Null(_) => "null",
            Column::Boolean(..) => "boolean",
            Column::Int32(..) => "int32",
            Column::Int64(..) => "int64",
            Column::Float64(..) => "float64",
            Column::Timestamp(..) => "timestamp",
            Column::String { .. } => "string",
            Column::Struct { .. } => "object",
            Column::List { .. } => "list",
        }
    }
}

/// Appends one JSON value to a column; a misfit is left in `failure` (serde_json's error
/// type carries only text).
struct Append<'a> {
    column: &'a mut Column,
    failure: &'a mut Option<Misfit>,
}

impl Append<'_> {
    fn fail<E: de::Error>(self, misfit: Misfit) -> E {
        let text = misfit.to_string();
        *self.failure = Some(misfit);
        E::custom(text)
    }

    fn misfit<E: de::Error>(self, found: &str) -> E {
        let expected = self.column.kind_name().into();
        self.fail(Misfit::TypeChange {
            field: String::new(),
            expected,
            found: found.into(),
        })
    }

    fn int<E: de::Error>(self, n: i128) -> Result<(), E> {
        let fits = |kind: &str| Misfit::Invalid(format!("{n} does not fit {kind}"));
        match self.column {
            Column::Int64(x, v) | Column::Timestamp(x, v) => match i64::try_from(n) {
                Ok(n) => (x.push(n), v.push(true)).1,
                Err(_) => return Err(self.fail(fits("int64"))),
            },
            Column::Int32(x, v) => match i32::try_from(n) {
                Ok(n) => (x.push(n), v.push(true)).1,
                Err(_) => return Err(self.fail(fits("int32"))),
            },
            // An integer in a float column is a float: no type change.
            Column::Float64(x, v) => (x.push(n as f64), v.push(true)).1,
            _ => return Err(self.misfit("int64")),
        }
        Ok(())
    }
}

impl<'de> DeserializeSeed<'de> for Append<'_> {
    type Value = ();
    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Append<'_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "a JSON value for a {} column", self.column.kind_name())
    }

    fn visit_unit<E: de::Error>(self) -> Result<(), E> {
        self.column.push_null();
        Ok(())
    }

    fn visit_bool<E: de::Error>(self, b: bool) -> Result<(), E> {
        match self.column {
            Column::Boolean(x, v) => (x.push(b), v.push(true)).1,
            _ => return Err(self.misfit("boolean")),
        }
        Ok(())
    }

    fn visit_i64<E: de::Error>(self, n: i64) -> Result<(), E> {
        self.int(n.into())
    }

    fn visit_u64<E: de::Error>(self, n: u64) -> Result<(), E> {
        self.int(n.into())
    }

    fn visit_f64<E: de::Error>(self, n: f64) -> Result<(), E> {
        match self.column {
            Column::Float64(x, v) => (x.push(n), v.push(true)).1,
            _ => return Err(self.misfit("float64")),
        }
        Ok(())
    }

    fn visit_str<E: de::Error>(self, s: &str) -> Result<(), E> {
        match self.column {
            Column::String { .. } => self.column.push_str(s),
            Column::Timestamp(x, v) => match chrono::DateTime::parse_from_rfc3339(s) {
                Ok(t) => (x.push(t.timestamp_millis()), v.push(true)).1,
                Err(e) => {
                    return Err(self.fail(Misfit::Invalid(format!(
                        "{s:?} is not an RFC 3339 timestamp: {e}"
                    ))));
                }
            },
            _ => return Err(self.misfit("string")),
        }
        Ok(())
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        let Column::List {
            offsets,
            item,
            valid,
        } = self.column
        else {
            return Err(self.misfit("list"));
        };
        let mut index = 0;
        loop {
            let next = seq.next_element_seed(Append {
                column: item,
                failure: self.failure,
            });
            match next {
                Ok(Some(())) => index += 1,
                Ok(None) => break,
                Err(e) => {
                    if let Some(m) = self.failure.as_mut() {
                        m.within(&format!("[{index}]"));
                    }
                    return Err(e);
                }
            }
        }
        offsets.push(item.len() as i32);
        valid.push(true);
        Ok(())
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        let Column::Struct {
            names,
            children,
            valid,
        } = self.column
        else {
            return Err(self.misfit("object"));
        };
        let row = valid.len();
        // Records mostly repeat one field order: the field after the last one is tried first.
        let mut next = 0;
        while let Some(Key(key)) = map.next_key::<Key<'de>>()? {
            let expected = names.get(next).filter(|n| **n == *key).map(|_| next);
            let Some(i) = expected.or_else(|| names.iter().position(|n| *n == *key)) else {
                let misfit = Misfit::NewField(key.into_owned());
                let text = misfit.to_string();
                *self.failure = Some(misfit);
                return Err(de::Error::custom(text));
            };
            if children[i].len() > row {
                let misfit = Misfit::Invalid(format!("field {key} appears twice"));
                let text = misfit.to_string();
                *self.failure = Some(misfit);
                return Err(de::Error::custom(text));
            }
            next = i + 1;
            let appended = map.next_value_seed(Append {
                column: &mut children[i],
                failure: self.failure,
            });
            if let Err(e) = appended {
                if let Some(m) = self.failure.as_mut() {
                    m.within(&key);
                }
                return Err(e);
            }
        }
        for child in children.iter_mut().filter(|c| c.len() == row) {
            child.push_null();
        }
        valid.push(true);
        Ok(())
    }
}

/// An object's key, borrowed from the text unless it has escapes (serde's `Cow<str>` always
/// allocates a `String`: an allocation per field per record).
struct Key<'de>(std::borrow::Cow<'de, str>);

impl<'de> de::Deserialize<'de> for Key<'de> {
    fn deserialize<D: de::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct KeyVisitor;
        impl<'de> Visitor<'de> for KeyVisitor {
            type Value = Key<'de>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a field name")
            }
            fn visit_borrowed_str<E: de::Error>(self, s: &'de str) -> Result<Key<'de>, E> {
                Ok(Key(std::borrow::Cow::Borrowed(s)))
            }
            fn visit_str<E: de::Error>(self, s: &str) -> Result<Key<'de>, E> {
                Ok(Key(std::borrow::Cow::Owned(s.to_owned())))
            }
        }
        d.deserialize_str(KeyVisitor)
    }
}

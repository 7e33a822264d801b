//! What `sql-source` and `sql-sink` share: identifiers quoted for each dialect
//! ([`ident`]), the column types both sides agree on ([`FieldType`]), and SQL values as JSON
//! record fields, with Kafka Connect's `{"schema": ..., "payload": ...}` envelope ([`json`]).

pub mod catalog;
pub mod ident;
pub mod json;
mod types;

pub use connectd_sdk::sql::{Connection, Dialect, Statement, Value};
pub use connectd_sdk::sql::{Rows, SqlError};
pub use types::{Field, FieldType, float_text, tagged, to_json, untagged};

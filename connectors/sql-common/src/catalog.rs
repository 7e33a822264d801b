//! What a database says about its tables: which exist, and their columns, types, nullability
//! and primary key, from `information_schema` (PostgreSQL, MySQL) or `pragma_table_info`
//! (SQLite). Names go in as parameters, never as SQL text.

use crate::SqlError;
use crate::ident::quote;
use crate::{Connection, Dialect, Statement, Value};

/// A table: its schema (PostgreSQL schema or MySQL database; `None` is the connection's
/// current one) and name, both as the database spells them.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct TableId {
    pub schema: Option<String>,
    pub name: String,
}

impl TableId {
    /// A table in the connection's current schema.
    pub fn current(name: &str) -> TableId {
        TableId {
            schema: None,
            name: name.to_string(),
        }
    }

    /// The table as SQL: each part quoted (SQLite has one schema that matters, `main`).
    pub fn quoted(&self, dialect: Dialect) -> Result<String, String> {
        match &self.schema {
            Some(schema) if dialect != Dialect::Sqlite => Ok(format!(
                "{}.{}",
                quote(dialect, schema)?,
                quote(dialect, &self.name)?
            )),
            _ => quote(dialect, &self.name),
        }
    }
}

impl std::fmt::Display for TableId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.schema {
            Some(s) => write!(f, "{s}.{}", self.name),
            None => f.write_str(&self.name),
        }
    }
}

/// One column of a table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ColumnInfo {
    pub name: String,
    /// The general type (`information_schema.columns.data_type`; SQLite: the declared type).
    pub data_type: String,
    /// The exact type (PostgreSQL `udt_name`, MySQL `column_type`), for casts.
    pub exact_type: String,
    pub nullable: bool,
    pub primary_key: bool,
    pub precision: Option<u32>,
    pub scale: Option<u32>,
}

fn text(v: &Value) -> String {
    match v {
        Value::Text(s) | Value::Decimal(s) => s.clone(),
        Value::Int(i) => i.to_string(),
        _ => String::new(),
    }
}

fn truthy(v: &Value) -> bool {
    matches!(v, Value::Boolean(true)) || matches!(v, Value::Int(i) if *i != 0)
}

fn number(v: &Value) -> Option<u32> {
    match v {
        Value::Int(i) => u32::try_from(*i).ok(),
        Value::Decimal(s) | Value::Text(s) => s.parse().ok(),
        _ => None,
    }
}

fn schema_param(table: &TableId) -> Value {
    table.schema.clone().map_or(Value::Null, Value::Text)
}

/// Every base table the connection can see outside the system schemas, with whether it lies
/// in the current schema; sorted.
pub fn tables(conn: &Connection) -> Result<Vec<(TableId, bool)>, SqlError> {
    let sql = match conn.dialect() {
        Dialect::Postgres => {
            "SELECT CAST(table_schema AS text), CAST(table_name AS text), table_schema = current_schema() \
             FROM information_schema.tables WHERE table_type = 'BASE TABLE' \
             AND table_schema NOT IN ('pg_catalog', 'information_schema') ORDER BY 1, 2"
        }
        Dialect::MySql => {
            "SELECT CAST(table_schema AS CHAR), CAST(table_name AS CHAR), 1 \
             FROM information_schema.tables WHERE table_type = 'BASE TABLE' \
             AND table_schema = DATABASE() ORDER BY 2"
        }
        Dialect::Sqlite => {
            "SELECT 'main', name, 1 FROM sqlite_master WHERE type = 'table' \
             AND name NOT LIKE 'sqlite\\_%' ESCAPE '\\' ORDER BY name"
        }
    };
    let rows = conn.query(Statement::new(sql, vec![]))?;
    Ok(rows
        .rows
        .iter()
        .map(|r| {
            (
                TableId {
                    schema: Some(text(&r[0])),
                    name: text(&r[1]),
                },
                truthy(&r[2]),
            )
        })
        .collect())
}

/// The columns of `table` in order; empty if there is no such table.
pub fn columns(conn: &Connection, table: &TableId) -> Result<Vec<ColumnInfo>, SqlError> {
    let (sql, params) = match conn.dialect() {
        Dialect::Postgres => (
            "SELECT CAST(c.column_name AS text), CAST(c.data_type AS text), CAST(c.udt_name AS text), \
             c.is_nullable = 'YES', CAST(c.numeric_precision AS int8), CAST(c.numeric_scale AS int8), \
             EXISTS (SELECT 1 FROM information_schema.table_constraints t \
               JOIN information_schema.key_column_usage k ON k.constraint_name = t.constraint_name \
               AND k.constraint_schema = t.constraint_schema AND k.table_name = t.table_name \
               WHERE t.constraint_type = 'PRIMARY KEY' AND t.table_schema = c.table_schema \
               AND t.table_name = c.table_name AND k.column_name = c.column_name) \
             FROM information_schema.columns c \
             WHERE c.table_schema = COALESCE($1, current_schema()) AND c.table_name = $2 \
             ORDER BY c.ordinal_position",
            vec![schema_param(table), Value::Text(table.name.clone())],
        ),
        Dialect::MySql => (
            "SELECT CAST(column_name AS CHAR), CAST(data_type AS CHAR), CAST(column_type AS CHAR), \
             is_nullable = 'YES', CAST(numeric_precision AS SIGNED), CAST(numeric_scale AS SIGNED), \
             column_key = 'PRI' FROM information_schema.columns \
             WHERE table_schema = COALESCE(?, DATABASE()) AND table_name = ? ORDER BY ordinal_position",
            vec![schema_param(table), Value::Text(table.name.clone())],
        ),
        Dialect::Sqlite => (
            "SELECT name, type, type, \"notnull\" = 0, NULL, NULL, pk > 0 FROM pragma_table_info(?) ORDER BY cid",
            vec![Value::Text(table.name.clone())],
        ),
    };
    let rows = conn.query(Statement::new(sql, params))?;
    Ok(rows
        .rows
        .iter()
        .map(|r| {
            let exact_type = text(&r[2]);
            // MySQL's BOOLEAN is TINYINT(1); its unsigned BIGINT goes beyond 64 signed bits.
            let exact = exact_type.to_ascii_lowercase();
            let data_type = if exact == "tinyint(1)" {
                "boolean".to_string()
            } else if exact.starts_with("bigint") && exact.contains("unsigned") {
                "bigint unsigned".to_string()
            } else {
                text(&r[1])
            };
            ColumnInfo {
                name: text(&r[0]),
                data_type,
                exact_type,
                nullable: truthy(&r[3]),
                precision: number(&r[4]),
                scale: number(&r[5]),
                primary_key: truthy(&r[6]),
            }
        })
        .collect())
}

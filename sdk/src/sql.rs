//! SQL databases a connector reaches through the host (the `sql` WIT interface).
//!
//! In a component, [`Connection::open`] takes a URL the connector's config holds in a key its
//! schema marks `"x-connectd-grant": "sql-url"`; the host connects with sqlx (PostgreSQL,
//! MySQL/MariaDB, SQLite), pools and reconnects. Compiled natively, there is no host to ask:
//! `open` fails, and the rest of a connector (its SQL text, its record mapping) is what native
//! unit tests exercise.

/// A typed SQL value, bound as a parameter or read from a row (see `wit/sql.wit` for the text
/// forms of decimals, times and dates).
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Null,
    Boolean(bool),
    Int(i64),
    Float(f64),
    Text(String),
    Bytes(Vec<u8>),
    /// An exact decimal, written out in full.
    Decimal(String),
    /// RFC 3339 with microseconds and the zone offset.
    TimestampTz(String),
    /// `YYYY-MM-DDTHH:MM:SS.ffffff`, no zone.
    Timestamp(String),
    Date(String),
    Time(String),
    Json(String),
}

impl Value {
    /// The text of a value carried as text (text, decimals, dates and times, JSON).
    pub fn as_text(&self) -> Option<&str> {
        match self {
            Value::Text(s)
            | Value::Decimal(s)
            | Value::TimestampTz(s)
            | Value::Timestamp(s)
            | Value::Date(s)
            | Value::Time(s)
            | Value::Json(s) => Some(s),
            _ => None,
        }
    }
}

/// A result column: its name and the database's name for its type.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Column {
    pub name: String,
    pub type_name: String,
}

/// A query's result (no columns when it returned no rows).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Rows {
    pub columns: Vec<Column>,
    pub rows: Vec<Vec<Value>>,
}

/// One statement and its parameters (`$1`, `$2` for PostgreSQL; `?` for the others).
#[derive(Debug, Clone, PartialEq)]
pub struct Statement {
    pub sql: String,
    pub params: Vec<Value>,
}

impl Statement {
    pub fn new(sql: impl Into<String>, params: Vec<Value>) -> Self {
        Statement {
            sql: sql.into(),
            params,
        }
    }
}

/// Which database a connection reaches.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    Postgres,
    MySql,
    Sqlite,
}

/// Why a call failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SqlError {
    /// Unreachable, login refused, or gone away: worth retrying.
    Connection(String),
    /// The database refused the statement.
    Statement(String),
    /// The URL is not granted, or malformed.
    Denied(String),
}

impl std::fmt::Display for SqlError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SqlError::Connection(m) | SqlError::Statement(m) | SqlError::Denied(m) => {
                f.write_str(m)
            }
        }
    }
}

impl From<SqlError> for crate::ConnectorError {
    /// Connection trouble is retryable; a refused statement or URL is fatal.
    fn from(e: SqlError) -> Self {
        match e {
            SqlError::Connection(m) => crate::ConnectorError::Retryable(m),
            SqlError::Statement(m) => crate::ConnectorError::Fatal(m),
            SqlError::Denied(m) => crate::ConnectorError::InvalidConfig(m),
        }
    }
}

#[cfg(target_arch = "wasm32")]
use crate::__private::source::connectd::connector::sql as wit;

/// A pool of connections to one database, held by the host.
pub struct Connection {
    #[cfg(target_arch = "wasm32")]
    inner: wit::Connection,
    dialect: Dialect,
}

#[cfg(target_arch = "wasm32")]
impl Connection {
    /// Connects to `url` (a value of a key granted `sql-url`).
    pub fn open(url: &str) -> Result<Self, SqlError> {
        let inner = wit::Connection::open(url).map_err(error_in)?;
        let dialect = match inner.dialect() {
            wit::Dialect::Postgres => Dialect::Postgres,
            wit::Dialect::Mysql => Dialect::MySql,
            wit::Dialect::Sqlite => Dialect::Sqlite,
        };
        Ok(Connection { inner, dialect })
    }

    /// Runs a query and returns its rows.
    pub fn query(&self, statement: Statement) -> Result<Rows, SqlError> {
        let rows = self
            .inner
            .query(&statement_out(statement))
            .map_err(error_in)?;
        Ok(Rows {
            columns: rows
                .columns
                .into_iter()
                .map(|c| Column {
                    name: c.name,
                    type_name: c.type_name,
                })
                .collect(),
            rows: rows
                .rows
                .into_iter()
                .map(|r| r.into_iter().map(value_in).collect())
                .collect(),
        })
    }

    /// Runs the statements in one transaction; returns the rows each affected.
    pub fn execute(&self, statements: Vec<Statement>) -> Result<Vec<u64>, SqlError> {
        let statements: Vec<wit::Statement> = statements.into_iter().map(statement_out).collect();
        self.inner.execute(&statements).map_err(error_in)
    }

    /// Starts a transaction whose statements run in the background while the connector
    /// prepares the next ones.
    pub fn begin(&self) -> Result<Transaction, SqlError> {
        Ok(Transaction {
            inner: self.inner.begin().map_err(error_in)?,
        })
    }
}

#[cfg(target_arch = "wasm32")]
impl Transaction {
    /// Queues statements after those sent before and returns at once (with an earlier
    /// statement's error, if one failed).
    pub fn send(&self, statements: Vec<Statement>) -> Result<(), SqlError> {
        let statements: Vec<wit::Statement> = statements.into_iter().map(statement_out).collect();
        self.inner.send(&statements).map_err(error_in)
    }

    /// Waits for every statement sent, then commits.
    pub fn commit(self) -> Result<(), SqlError> {
        self.inner.commit().map_err(error_in)
    }
}

#[cfg(not(target_arch = "wasm32"))]
impl Connection {
    /// Natively there is no host to connect through.
    pub fn open(_url: &str) -> Result<Self, SqlError> {
        Err(SqlError::Denied(
            "the sql interface is the connectd host's: run this connector as a component".into(),
        ))
    }

    pub fn query(&self, _statement: Statement) -> Result<Rows, SqlError> {
        unreachable!("no native connection can be opened")
    }

    pub fn execute(&self, _statements: Vec<Statement>) -> Result<Vec<u64>, SqlError> {
        unreachable!("no native connection can be opened")
    }

    pub fn begin(&self) -> Result<Transaction, SqlError> {
        unreachable!("no native connection can be opened")
    }
}

#[cfg(not(target_arch = "wasm32"))]
impl Transaction {
    pub fn send(&self, _statements: Vec<Statement>) -> Result<(), SqlError> {
        unreachable!("no native transaction can be begun")
    }

    pub fn commit(self) -> Result<(), SqlError> {
        unreachable!("no native transaction can be begun")
    }
}

/// An open transaction (rolled back if dropped without [`Transaction::commit`]).
pub struct Transaction {
    #[cfg(target_arch = "wasm32")]
    inner: wit::Transaction,
}

impl Connection {
    /// Which database this is.
    pub fn dialect(&self) -> Dialect {
        self.dialect
    }
}

#[cfg(target_arch = "wasm32")]
fn error_in(e: wit::SqlError) -> SqlError {
    match e {
        wit::SqlError::Connection(m) => SqlError::Connection(m),
        wit::SqlError::Statement(m) => SqlError::Statement(m),
        wit::SqlError::Denied(m) => SqlError::Denied(m),
    }
}

#[cfg(target_arch = "wasm32")]
fn statement_out(s: Statement) -> wit::Statement {
    wit::Statement {
        sql: s.sql,
        params: s.params.into_iter().map(value_out).collect(),
    }
}

#[cfg(target_arch = "wasm32")]
fn value_out(v: Value) -> wit::Value {
    match v {
        Value::Null => wit::Value::Null,
        Value::Boolean(b) => wit::Value::Boolean(b),
        Value::Int(i) => wit::Value::Int(i),
        Value::Float(f) => wit::Value::Float(f),
        Value::Text(t) => wit::Value::Text(t),
        Value::Bytes(b) => wit::Value::Bytes(b),
        Value::Decimal(t) => wit::Value::Decimal(t),
        Value::TimestampTz(t) => wit::Value::TimestampTz(t),
        Value::Timestamp(t) => wit::Value::Timestamp(t),
        Value::Date(t) => wit::Value::Date(t),
        Value::Time(t) => wit::Value::Time(t),
        Value::Json(t) => wit::Value::Json(t),
    }
}

#[cfg(target_arch = "wasm32")]
fn value_in(v: wit::Value) -> Value {
    match v {
        wit::Value::Null => Value::Null,
        wit::Value::Boolean(b) => Value::Boolean(b),
        wit::Value::Int(i) => Value::Int(i),
        wit::Value::Float(f) => Value::Float(f),
        wit::Value::Text(t) => Value::Text(t),
        wit::Value::Bytes(b) => Value::Bytes(b),
        wit::Value::Decimal(t) => Value::Decimal(t),
        wit::Value::TimestampTz(t) => Value::TimestampTz(t),
        wit::Value::Timestamp(t) => Value::Timestamp(t),
        wit::Value::Date(t) => Value::Date(t),
        wit::Value::Time(t) => Value::Time(t),
        wit::Value::Json(t) => Value::Json(t),
    }
}

//! sql-source's keys, declared once.

use connectd_sdk::{Configurable, ConnectorError};

use crate::query::Mode;

/// sql-source's keys.
#[derive(Configurable)]
pub struct SqlSourceConfig {
    /// The database: `postgres://user:password@host:port/db`, `mysql://user:password@host:port/db`
    /// (MariaDB too) or `sqlite:///path/file.db` (relative paths start at the connector file's
    /// folder). Put the password in `${env:NAME}` or `${file:/path}`; it never shows in logs or
    /// status.
    #[config(key = "connection.url", secret)]
    #[grant(sql_url)]
    pub connection_url: String,
    /// `bulk`: the whole table every `poll.interval.ms`, in primary-key order. `incrementing`:
    /// rows whose `incrementing.column.name` is above the last one read (new rows).
    /// `timestamp`: rows whose `timestamp.column.name` is later than the last one read (new
    /// and changed rows; rows sharing a timestamp are read together). `timestamp+incrementing`:
    /// both, ordered by (timestamp, id): sees changes and never misses or repeats a row,
    /// however many share a timestamp.
    pub mode: ModeName,
    /// A strictly increasing column (an id), for `incrementing` and `timestamp+incrementing`.
    #[config(key = "incrementing.column.name")]
    pub incrementing_column: Option<String>,
    /// A column set on insert and on every update, for `timestamp` and
    /// `timestamp+incrementing`.
    #[config(key = "timestamp.column.name")]
    pub timestamp_column: Option<String>,
    /// Read a row only once its timestamp is this much older than the database's clock, so a
    /// transaction that commits late, with an earlier timestamp, is not skipped.
    #[config(key = "timestamp.delay.interval.ms", default = 0, minimum = 0)]
    pub timestamp_delay_ms: u64,
    /// A query to read instead of tables, e.g. `SELECT o.id, o.updated_at, c.name FROM orders o
    /// JOIN customers c ON ...`; the mode's conditions go around it; its records go to the
    /// topic `topic.prefix`. Not together with `table.include.list`.
    pub query: Option<String>,
    /// Comma-separated names (`orders`, or `schema.orders`) to read; a name no table has fails
    /// the task saying so. Tables are split across `tasks.max` tasks.
    #[config(
        key = "table.include.list",
        default_doc = "every table of the current schema"
    )]
    pub table_include: Option<Vec<String>>,
    /// Comma-separated names to leave out.
    #[config(key = "table.exclude.list", default_doc = "none")]
    pub table_exclude: Option<Vec<String>>,
    /// Table `t` goes to the topic `<topic.prefix>t`, characters a topic name cannot hold
    /// (anything but letters, digits, `.`, `_`, `-`) replaced by `_`.
    #[config(key = "topic.prefix")]
    pub topic_prefix: String,
    /// How long, in ms, a table that had nothing new waits before it is asked again.
    #[config(key = "poll.interval.ms", default = 5000, minimum = 0)]
    pub poll_interval_ms: u64,
    /// Most rows one query returns.
    #[config(key = "batch.max.rows", default = 100, minimum = 1)]
    pub batch_max_rows: u32,
    /// Values in Kafka Connect's JSON envelope, `{"schema": ..., "payload": ...}`, as its
    /// JsonConverter writes by default; `false`: the payload alone.
    #[config(key = "value.converter.schemas.enable", default = true)]
    pub value_schemas: bool,
    /// Keys in Kafka Connect's JSON envelope; `false`: the payload alone.
    #[config(key = "key.converter.schemas.enable", default = true)]
    pub key_schemas: bool,
}

/// The modes `mode` names.
#[derive(Configurable, Debug, Clone, Copy, PartialEq, Eq)]
pub enum ModeName {
    Bulk,
    Incrementing,
    Timestamp,
    #[config(name = "timestamp+incrementing")]
    TimestampIncrementing,
}

impl SqlSourceConfig {
    /// The mode with the columns it needs (a mode whose column is missing is refused, naming
    /// the key).
    pub fn mode(&self) -> Result<Mode, ConnectorError> {
        let column = |key: &str, value: &Option<String>| {
            value.clone().ok_or_else(|| {
                ConnectorError::InvalidConfig(format!(
                    "key `{key}`: missing; mode {} needs it",
                    self.mode.name()
                ))
            })
        };
        let incrementing = || column("incrementing.column.name", &self.incrementing_column);
        let timestamp = || column("timestamp.column.name", &self.timestamp_column);
        Ok(match self.mode {
            ModeName::Bulk => Mode::Bulk,
            ModeName::Incrementing => Mode::Incrementing(incrementing()?),
            ModeName::Timestamp => Mode::Timestamp(timestamp()?),
            ModeName::TimestampIncrementing => Mode::TimestampIncrementing {
                timestamp: timestamp()?,
                incrementing: incrementing()?,
            },
        })
    }
}

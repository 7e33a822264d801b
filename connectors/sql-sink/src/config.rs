//! sql-sink's keys, declared once.

use connectd_sdk::Configurable;

use crate::PkMode;
use crate::statements::InsertMode;

/// sql-sink's keys.
#[derive(Configurable)]
pub struct SqlSinkConfig {
    /// The database, as for `sql-source` (`postgres://`, `mysql://`, `sqlite://`); the
    /// password through `${env:NAME}` or `${file:/path}`.
    #[config(key = "connection.url", secret)]
    #[grant(sql_url)]
    pub connection_url: String,
    /// Comma-separated topics to read.
    pub topics: Vec<String>,
    /// The table, `${topic}` replaced by the record's topic. One identifier, quoted (a dot is
    /// part of the name), in the connection's current schema or database.
    #[config(key = "table.name.format", default = "${topic}")]
    pub table_name_format: String,
    /// `insert`; `upsert`: insert or replace the row with the same key (`ON CONFLICT ... DO
    /// UPDATE` in PostgreSQL and SQLite, `ON DUPLICATE KEY UPDATE` in MySQL), so replaying
    /// records changes nothing; `update`: update only. `upsert` and `update` need a `pk.mode`.
    #[config(key = "insert.mode", default = "insert")]
    pub insert_mode: InsertMode,
    /// Where the key comes from: `none`; `kafka` (columns `__connect_topic`,
    /// `__connect_partition`, `__connect_offset`); `record_key` (the key's fields, or the key
    /// itself when it is not an object); `record_value` (fields of the value).
    #[config(key = "pk.mode", default = "none")]
    pub pk_mode: PkMode,
    /// The key's columns: which fields of the key or value; for a key that is not an object,
    /// its column name; for `kafka`, three names instead of the defaults.
    #[config(key = "pk.fields", default_doc = "all fields")]
    pub pk_fields: Option<Vec<String>>,
    /// Create a missing table from the record's fields and key (`CREATE TABLE IF NOT
    /// EXISTS`); types from the record's schema when it has one (`connectd.sql.Decimal` with
    /// its precision and scale becomes `NUMERIC(p,s)`/`DECIMAL(p,s)`, zoned timestamps
    /// `TIMESTAMPTZ` or, in MySQL, `DATETIME(6)` in UTC), else from the values (integer
    /// `BIGINT`, other numbers `DOUBLE`, strings `TEXT`, objects and arrays JSON). MySQL tables
    /// are `utf8mb4`; SQLite keeps decimals as text (`DECIMAL TEXT`) so no digit is lost.
    #[config(key = "auto.create", default = false)]
    pub auto_create: bool,
    /// Add a nullable column for a field the table lacks.
    #[config(key = "auto.evolve", default = false)]
    pub auto_evolve: bool,
    /// A record with a null value (a tombstone) deletes the row with its key (needs `pk.mode
    /// = record_key`); otherwise tombstones are skipped.
    #[config(key = "delete.enabled", default = false)]
    pub delete_enabled: bool,
    /// Most rows one multi-row statement writes.
    #[config(key = "batch.size", default = 3000, minimum = 1)]
    pub batch_size: usize,
}

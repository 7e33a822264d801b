//! `sql-sink`: topics into tables of PostgreSQL, MySQL/MariaDB or SQLite, like Confluent's
//! JDBC sink connector, through the host's `sql` interface.
//!
//! Config keys: [`SqlSinkConfig`].
//!
//! Records are JSON: Kafka Connect's envelope, `{"schema": ..., "payload": ...}`, whose schema
//! gives exact types (decimals, zoned timestamps and bytes as `sql-source` writes them), or a
//! plain object, whose types are inferred from its values. The puts between two flushes are
//! sent on one transaction, in the background while the next rows are decoded, and `flush`
//! commits it, so the host commits offsets only for rows that are in the table; with
//! `upsert`, replaying records after a crash leaves the table as it was.

mod config;
mod statements;
mod tables;

use connectd_sdk::sql::Transaction;
use connectd_sdk::{
    Config, Configurable, ConnectorError, Descriptor, Sink, SinkBatch, SinkRecordRef,
};
use connectd_sql_common::json::{Decoded, decode};
use connectd_sql_common::{Connection, Field, FieldType, Statement, Value};

pub use config::SqlSinkConfig;
use statements::InsertMode;
use tables::Tables;

/// Where the primary key comes from (`pk.mode`).
#[derive(Configurable, Debug, Clone, Copy, PartialEq, Eq)]
pub enum PkMode {
    None,
    Kafka,
    #[config(name = "record_key")]
    RecordKey,
    #[config(name = "record_value")]
    RecordValue,
}

/// One record, ready to write.
struct Row {
    table: String,
    /// Key columns first, then the rest.
    fields: Vec<Field>,
    values: Vec<Value>,
    keys: usize,
    /// A tombstone: delete the row with these key values.
    delete: bool,
}

/// The sql-sink task.
pub struct SqlSink {
    conn: Connection,
    tables: Tables,
    table_format: String,
    insert_mode: InsertMode,
    pk_mode: PkMode,
    pk_fields: Vec<String>,
    delete_enabled: bool,
    batch_size: usize,
    /// The transaction the puts since the last flush were sent on (committed by `flush`), and
    /// whether it holds rows of an earlier put than the current one.
    open: Option<(Transaction, bool)>,
}

/// An error of the open transaction, which loses what it held: the task must restart from the
/// committed offsets (a retried put would write its own batch again, but not the earlier
/// ones).
fn lost(e: connectd_sdk::sql::SqlError) -> ConnectorError {
    ConnectorError::Fatal(format!(
        "{e} (the records since the last commit are written again when the task restarts)"
    ))
}

/// Whether two rows go to one table with the same columns (and both write or both delete):
/// they can share a statement.
fn same_shape(a: &Row, b: &Row) -> bool {
    a.table == b.table
        && a.delete == b.delete
        && a.fields
            .iter()
            .map(|f| &f.name)
            .eq(b.fields.iter().map(|f| &f.name))
}

fn bad(record: &SinkRecordRef<'_>, what: &str, e: impl std::fmt::Display) -> ConnectorError {
    ConnectorError::BadRecord(format!(
        "{}/{}@{}: {what}: {e}",
        record.topic(),
        record.partition(),
        record.offset()
    ))
}

impl SqlSink {
    /// The key columns of `record` (value `decoded` when it has one) per `pk.mode`.
    fn key(
        &self,
        record: &SinkRecordRef<'_>,
        value: Option<&Decoded>,
    ) -> Result<(Vec<Field>, Vec<Value>), ConnectorError> {
        let pick =
            |d: &Decoded, names: &[String]| -> Result<(Vec<Field>, Vec<Value>), ConnectorError> {
                let mut out = (Vec::new(), Vec::new());
                for (i, f) in d.fields.iter().enumerate() {
                    if names.is_empty() || names.contains(&f.name) {
                        out.0.push(f.clone());
                        out.1.push(d.values[i].clone());
                    }
                }
                if let Some(missing) = names.iter().find(|n| !out.0.iter().any(|f| &f.name == *n)) {
                    return Err(bad(
                        record,
                        "pk.fields",
                        format!("the record has no field {missing:?}"),
                    ));
                }
                Ok(out)
            };
        match self.pk_mode {
            PkMode::None => Ok((Vec::new(), Vec::new())),
            PkMode::Kafka => {
                let names: Vec<&str> = if self.pk_fields.len() == 3 {
                    self.pk_fields.iter().map(String::as_str).collect()
                } else {
                    vec!["__connect_topic", "__connect_partition", "__connect_offset"]
                };
                let field = |i: usize, ty| Field {
                    name: names[i].to_string(),
                    ty,
                    optional: false,
                };
                Ok((
                    vec![
                        field(0, FieldType::String),
                        field(1, FieldType::Int64),
                        field(2, FieldType::Int64),
                    ],
                    vec![
                        Value::Text(record.topic().to_string()),
                        Value::Int(record.partition().into()),
                        Value::Int(record.offset()),
                    ],
                ))
            }
            PkMode::RecordKey => {
                let bytes = record
                    .key()
                    .ok_or_else(|| bad(record, "pk.mode = record_key", "the record has no key"))?;
                let mut key = decode(bytes).map_err(|e| bad(record, "key", e))?;
                if key.fields.len() == 1 && key.fields[0].name.is_empty() {
                    let name = self.pk_fields.first().ok_or_else(|| {
                        ConnectorError::InvalidConfig(
                            "pk.mode = record_key with a key that is not an object needs `pk.fields` to name its column".into(),
                        )
                    })?;
                    key.fields[0].name = name.clone();
                    return Ok((key.fields, key.values));
                }
                pick(&key, &self.pk_fields)
            }
            PkMode::RecordValue => match value {
                Some(v) => pick(v, &self.pk_fields),
                None => Err(bad(
                    record,
                    "pk.mode = record_value",
                    "a tombstone has no value",
                )),
            },
        }
    }

    fn row(&self, record: &SinkRecordRef<'_>) -> Result<Option<Row>, ConnectorError> {
        let table = self.table_format.replace("${topic}", record.topic());
        let Some(bytes) = record.value() else {
            if !self.delete_enabled {
                return Ok(None);
            }
            let (fields, values) = self.key(record, None)?;
            let keys = fields.len();
            return Ok(Some(Row {
                table,
                fields,
                values,
                keys,
                delete: true,
            }));
        };
        let value = decode(bytes).map_err(|e| bad(record, "value", e))?;
        if value.fields.len() == 1 && value.fields[0].name.is_empty() {
            return Err(bad(
                record,
                "value",
                "expected a JSON object (or a struct with a schema)",
            ));
        }
        let (mut fields, mut values) = self.key(record, Some(&value))?;
        let keys = fields.len();
        for (f, v) in value.fields.into_iter().zip(value.values) {
            if !fields[..keys].iter().any(|k| k.name == f.name) {
                fields.push(f);
                values.push(v);
            }
        }
        Ok(Some(Row {
            table,
            fields,
            values,
            keys,
            delete: false,
        }))
    }

    /// The statements that write `rows`, consecutive rows of one table and shape (a key seen
    /// twice in one upsert starts a new statement: a statement may not change a row twice).
    fn group_statements(&self, rows: &[Row]) -> Result<Vec<Statement>, ConnectorError> {
        let first = &rows[0];
        let dialect = self.conn.dialect();
        let table = self.tables.get(&first.table).ok_or_else(|| {
            ConnectorError::Fatal(format!("table {:?} was not prepared", first.table))
        })?;
        let target = table.target(dialect);
        let names: Vec<&str> = first.fields.iter().map(|f| f.name.as_str()).collect();
        let keys = &names[..first.keys];
        let fatal = |e: String| ConnectorError::Fatal(format!("table {}: {e}", first.table));
        let mut out = Vec::new();
        if first.delete || self.insert_mode == InsertMode::Update {
            for row in rows {
                let (key, rest) = row.values.split_at(row.keys);
                let statement = if row.delete {
                    statements::delete(&target, keys, key.to_vec())
                } else {
                    statements::update(
                        &target,
                        &names[row.keys..],
                        rest.to_vec(),
                        keys,
                        key.to_vec(),
                    )
                };
                out.push(statement.map_err(fatal)?);
            }
            return Ok(out);
        }
        let mut chunk: Vec<Vec<Value>> = Vec::new();
        let mut seen = std::collections::HashSet::new();
        for row in rows {
            let key = &row.values[..row.keys];
            let repeat = self.insert_mode == InsertMode::Upsert
                && !key.is_empty()
                && !seen.insert(format!("{key:?}"));
            if repeat {
                let rows = std::mem::take(&mut chunk);
                out.push(
                    statements::insert(&target, self.insert_mode, &names, keys, rows)
                        .map_err(fatal)?,
                );
                seen.clear();
                seen.insert(format!("{key:?}"));
            }
            chunk.push(row.values.clone());
        }
        if !chunk.is_empty() {
            out.push(
                statements::insert(&target, self.insert_mode, &names, keys, chunk)
                    .map_err(fatal)?,
            );
        }
        Ok(out)
    }

    /// The most rows one statement may hold: `batch.size`, and the database's parameter limit
    /// where each value is a parameter (PostgreSQL binds an array a column).
    fn chunk_rows(&self, row: &Row) -> usize {
        let dialect = self.conn.dialect();
        let columns = row.fields.len().max(1);
        let by_params = match dialect {
            connectd_sql_common::Dialect::Postgres => usize::MAX,
            _ => connectd_sql_common::ident::max_params(dialect) / columns,
        };
        self.batch_size.min(by_params).max(1)
    }

    /// Sends a group's statements on the open transaction, beginning one if there is none.
    fn send(&mut self, rows: &[Row]) -> Result<(), ConnectorError> {
        let statements = self.group_statements(rows)?;
        if self.open.is_none() {
            // Nothing is pending yet: a database that cannot be reached is worth a retry.
            self.open = Some((self.conn.begin()?, false));
        }
        let (tx, earlier) = self.open.as_ref().expect("begun above");
        let earlier = *earlier;
        tx.send(statements).map_err(|e| {
            self.open = None;
            // With only this put's rows lost, retrying the put writes them all again.
            if earlier { lost(e) } else { e.into() }
        })
    }

    /// Commits the open transaction, if any.
    fn commit(&mut self) -> Result<(), ConnectorError> {
        match self.open.take() {
            Some((tx, _)) => tx.commit().map_err(lost),
            None => Ok(()),
        }
    }
}

impl Sink for SqlSink {
    fn describe() -> Descriptor {
        Descriptor::sink(
            "sql-sink",
            env!("CARGO_PKG_VERSION"),
            &SqlSinkConfig::schema(),
        )
    }

    fn open(config: Config) -> Result<Self, ConnectorError> {
        let SqlSinkConfig {
            connection_url,
            table_name_format,
            insert_mode,
            pk_mode,
            pk_fields,
            auto_create,
            auto_evolve,
            delete_enabled,
            batch_size,
            ..
        } = config.parse()?;
        if delete_enabled && pk_mode != PkMode::RecordKey {
            return Err(ConnectorError::InvalidConfig(
                "delete.enabled = true needs pk.mode = record_key (a tombstone has only its key)"
                    .into(),
            ));
        }
        if insert_mode != InsertMode::Insert && pk_mode == PkMode::None {
            return Err(ConnectorError::InvalidConfig(
                "insert.mode upsert and update need a primary key: set pk.mode".into(),
            ));
        }
        let conn = Connection::open(&connection_url)?;
        Ok(SqlSink {
            tables: Tables::new(auto_create, auto_evolve),
            conn,
            table_format: table_name_format,
            insert_mode,
            pk_mode,
            pk_fields: pk_fields.unwrap_or_default(),
            delete_enabled,
            batch_size,
            open: None,
        })
    }

    /// Decodes the whole batch first (a bad record fails it before anything is sent), then
    /// sends its rows, group by group, on the transaction the puts since the last flush share:
    /// the database inserts one group while the next is built, and one put while the worker
    /// reads the next.
    fn put(&mut self, batch: &SinkBatch) -> Result<(), ConnectorError> {
        let mut rows = Vec::with_capacity(batch.len());
        for record in batch.iter() {
            if let Some(row) = self.row(&record)? {
                rows.push(row);
            }
        }
        let dialect = self.conn.dialect();
        for (i, row) in rows.iter().enumerate() {
            // A row shaped like the one before needs nothing the one before did not.
            if i > 0 && same_shape(&rows[i - 1], row) {
                continue;
            }
            if !self.tables.ready(dialect, &row.table, &row.fields) {
                // DDL must not wait on the open transaction's locks: commit it first.
                self.commit()?;
                self.tables
                    .prepare(&self.conn, &row.table, &row.fields, row.keys)?;
            }
        }
        let mut start = 0;
        for end in 1..=rows.len() {
            let first = &rows[start];
            let split = end == rows.len()
                || !same_shape(first, &rows[end])
                || end - start >= self.chunk_rows(first);
            if split {
                self.send(&rows[start..end])?;
                start = end;
            }
        }
        if let Some((_, earlier)) = &mut self.open {
            *earlier = true;
        }
        Ok(())
    }

    fn flush(&mut self) -> Result<(), ConnectorError> {
        self.commit()
    }
}

connectd_sdk::export_sink!(SqlSink);

//! `sql-source`: tables of PostgreSQL, MySQL/MariaDB or SQLite into topics, like Confluent's
//! JDBC source connector, through the host's `sql` interface.
//!
//! Config keys: [`SqlSourceConfig`].
//!
//! Records: the value is the row as a JSON object, the key the primary key columns (none for a
//! table without one, or a query). Types: integers exact (64-bit), `numeric`/`decimal` as
//! strings with every digit, zoned timestamps as RFC 3339, bytes as base64, JSON as text.
//!
//! Offsets: the source partition is the table (`{"table": "schema.name"}`, or `{"query":
//! ...}`), the position the last row's incrementing and timestamp values (`bulk`: the pass and
//! row number), so a restart resumes with no gap and no repeat.

mod config;
mod query;

use std::time::{Duration, Instant};

use connectd_sdk::{
    Config, Configurable, ConnectorError, Descriptor, Resume, Source, SourceBatch, SourceRecord,
};
use connectd_sql_common::catalog::{self, ColumnInfo, TableId};
use connectd_sql_common::json::Encoder;
use connectd_sql_common::{Connection, Field, FieldType, Value};

pub use config::{ModeName, SqlSourceConfig};
pub use query::{Mode, Position};

/// What one table (or the query) is read as.
struct Stream {
    /// The table, or `None` for the query.
    table: Option<TableId>,
    /// What follows `FROM`.
    from: String,
    topic: String,
    partition: Vec<u8>,
    /// The table's columns, for types and the primary key (empty for a query).
    columns: Vec<ColumnInfo>,
    position: Position,
    due: Instant,
    /// Built from the first result's columns.
    encoders: Option<Encoders>,
}

/// How a stream's rows become records.
struct Encoders {
    value: Encoder,
    /// The key's encoder, and its columns' indexes in a row (none without a primary key).
    key: Option<(Encoder, Vec<usize>)>,
    /// Each column's type.
    types: Vec<FieldType>,
}

/// The sql-source task.
pub struct SqlSource {
    conn: Connection,
    mode: Mode,
    delay_ms: u64,
    poll_interval: Duration,
    batch_max_rows: u32,
    value_schemas: bool,
    key_schemas: bool,
    streams: Vec<Stream>,
    next: usize,
}

fn invalid(m: String) -> ConnectorError {
    ConnectorError::InvalidConfig(m)
}

/// `name` with what a Kafka topic name cannot hold (`[a-zA-Z0-9._-]` only) replaced by `_`.
pub fn topic_safe(name: &str) -> String {
    name.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-') {
                c
            } else {
                '_'
            }
        })
        .collect()
}

/// The tables this task reads: those the lists select, every `tasks.max`-th one.
fn tables(
    conn: &Connection,
    keys: &SqlSourceConfig,
    config: &Config,
) -> Result<Vec<TableId>, ConnectorError> {
    let include = keys.table_include.as_deref().unwrap_or_default();
    let exclude = keys.table_exclude.as_deref().unwrap_or_default();
    let all = catalog::tables(conn)?;
    let names = |t: &TableId| [t.name.clone(), t.to_string()];
    for wanted in include {
        if !all.iter().any(|(t, _)| names(t).contains(wanted)) {
            return Err(ConnectorError::Fatal(format!(
                "table.include.list names {wanted:?}, which is not a table this connection can see"
            )));
        }
    }
    let selected: Vec<TableId> = all
        .into_iter()
        .filter(|(t, current)| {
            let n = names(t);
            (if include.is_empty() {
                *current
            } else {
                include.iter().any(|w| n.contains(w))
            }) && !exclude.iter().any(|w| n.contains(w))
        })
        .map(|(t, _)| t)
        .collect();
    let (task, tasks) = (config.task_id() as usize, config.tasks_max() as usize);
    Ok(selected
        .into_iter()
        .enumerate()
        .filter(|(i, _)| i % tasks == task)
        .map(|(_, t)| t)
        .collect())
}

/// `value` as its column's type says: text the driver read as bytes (a binary collation), and
/// integers in a decimal column (MySQL's `bigint unsigned`).
fn coerce(value: &mut Value, ty: &FieldType) {
    match (&*value, ty) {
        (Value::Bytes(b), t) if *t != FieldType::Bytes => {
            *value = Value::Text(String::from_utf8_lossy(b).into_owned());
        }
        (Value::Int(i), FieldType::Decimal { .. }) => *value = Value::Decimal(i.to_string()),
        _ => {}
    }
}

impl Stream {
    fn fields(
        &self,
        columns: &[connectd_sdk::sql::Column],
        dialect: connectd_sql_common::Dialect,
    ) -> Vec<Field> {
        columns
            .iter()
            .map(|c| {
                // The catalog's type where there is one: MySQL's driver calls a text column
                // with a binary collation (MariaDB's JSON) a BLOB.
                let info = self.columns.iter().find(|i| i.name == c.name);
                let mut ty =
                    FieldType::from_db(dialect, info.map_or(&c.type_name, |i| &i.data_type));
                if let (FieldType::Decimal { precision, scale }, Some(info)) = (&mut ty, info) {
                    *precision = info.precision;
                    *scale = info.scale;
                }
                Field {
                    name: c.name.clone(),
                    ty,
                    optional: info.is_none_or(|i| i.nullable),
                }
            })
            .collect()
    }
}

impl SqlSource {
    /// Reads the next page of the stream at `index`; returns whether it was a full page (more
    /// may be waiting).
    fn read(
        &mut self,
        index: usize,
        max: u32,
        batch: &mut SourceBatch,
    ) -> Result<bool, ConnectorError> {
        let dialect = self.conn.dialect();
        let limit = self.batch_max_rows.min(max.max(1));
        let stream = &mut self.streams[index];
        let page = query::page(
            dialect,
            &self.mode,
            &stream.from,
            &stream.columns,
            &stream.position,
            self.delay_ms,
            limit,
        )
        .map_err(ConnectorError::InvalidConfig)?;
        let mut rows = self.conn.query(page)?;
        let full = rows.rows.len() as u32 >= limit;
        if rows.rows.is_empty() {
            if let Position::Bulk { cycle, .. } = stream.position {
                stream.position = Position::Bulk {
                    cycle: cycle + 1,
                    offset: 0,
                };
            }
            return Ok(false);
        }
        if stream.encoders.is_none() {
            let fields = stream.fields(&rows.columns, dialect);
            let name = stream
                .table
                .as_ref()
                .map_or("query".to_string(), |t| t.to_string());
            let keys: Vec<usize> = fields
                .iter()
                .enumerate()
                .filter(|(_, f)| {
                    stream
                        .columns
                        .iter()
                        .any(|c| c.primary_key && c.name == f.name)
                })
                .map(|(i, _)| i)
                .collect();
            let key_fields: Vec<Field> = keys.iter().map(|&i| fields[i].clone()).collect();
            let key = (!keys.is_empty()).then(|| {
                let encoder = Encoder::new(&format!("{name}.Key"), &key_fields, self.key_schemas);
                (encoder, keys)
            });
            stream.encoders = Some(Encoders {
                value: Encoder::new(&name, &fields, self.value_schemas),
                key,
                types: fields.iter().map(|f| f.ty.clone()).collect(),
            });
        }
        let positions = self
            .mode
            .advance(&stream.position, &rows.columns, &rows.rows)?;
        let encoders = stream.encoders.as_ref().expect("built above");
        for (row, position) in rows.rows.iter_mut().zip(positions) {
            for (v, ty) in row.iter_mut().zip(&encoders.types) {
                coerce(v, ty);
            }
            let row = &*row;
            let key = encoders.key.as_ref().map(|(k, keys)| {
                let values: Vec<Value> = keys.iter().map(|&i| row[i].clone()).collect();
                k.encode(&values)
            });
            batch.push(SourceRecord {
                topic: Some(stream.topic.clone()),
                key,
                value: Some(encoders.value.encode(row)),
                headers: Vec::new(),
                timestamp_ms: None,
                source_partition: stream.partition.clone(),
                source_position: position.to_json().into_bytes(),
            });
            stream.position = position;
        }
        // A short page ends a bulk pass; the next starts over.
        if let (false, Position::Bulk { cycle, .. }) = (full, &stream.position) {
            stream.position = Position::Bulk {
                cycle: cycle + 1,
                offset: 0,
            };
        }
        Ok(full)
    }
}

impl Source for SqlSource {
    fn describe() -> Descriptor {
        Descriptor::source(
            "sql-source",
            env!("CARGO_PKG_VERSION"),
            &SqlSourceConfig::schema(),
        )
    }

    fn open(config: Config, resume: Resume) -> Result<Self, ConnectorError> {
        let keys: SqlSourceConfig = config.parse()?;
        let mode = keys.mode()?;
        let prefix = keys.topic_prefix.clone();
        let conn = Connection::open(&keys.connection_url)?;
        let dialect = conn.dialect();
        let mut streams = Vec::new();
        let now = Instant::now();
        if let Some(q) = &keys.query {
            if keys.table_include.is_some() {
                return Err(invalid(
                    "set either `query` or `table.include.list`, not both".into(),
                ));
            }
            let partition = serde_json::json!({ "query": q }).to_string().into_bytes();
            streams.push(Stream {
                table: None,
                from: format!("({q}) AS connectd_query"),
                topic: prefix.clone(),
                position: Position::resume(&mode, resume.position(&partition)),
                partition,
                columns: Vec::new(),
                due: now,
                encoders: None,
            });
        } else {
            for table in tables(&conn, &keys, &config)? {
                let partition = serde_json::json!({ "table": table.to_string() })
                    .to_string()
                    .into_bytes();
                let from = table
                    .quoted(dialect)
                    .map_err(|e| ConnectorError::Fatal(format!("table {table}: {e}")))?;
                streams.push(Stream {
                    columns: catalog::columns(&conn, &table)?,
                    topic: format!("{prefix}{}", topic_safe(&table.name)),
                    position: Position::resume(&mode, resume.position(&partition)),
                    partition,
                    from,
                    table: Some(table),
                    due: now,
                    encoders: None,
                });
            }
        }
        Ok(SqlSource {
            conn,
            mode,
            delay_ms: keys.timestamp_delay_ms,
            poll_interval: Duration::from_millis(keys.poll_interval_ms),
            batch_max_rows: keys.batch_max_rows,
            value_schemas: keys.value_schemas,
            key_schemas: keys.key_schemas,
            streams,
            next: 0,
        })
    }

    fn poll(&mut self, max: u32, batch: &mut SourceBatch) -> Result<(), ConnectorError> {
        let now = Instant::now();
        for _ in 0..self.streams.len() {
            let index = self.next % self.streams.len();
            self.next = index + 1;
            if self.streams[index].due > now {
                continue;
            }
            let full = self.read(index, max, batch)?;
            if !full {
                self.streams[index].due = now + self.poll_interval;
            }
            if !batch.is_empty() {
                return Ok(());
            }
        }
        Ok(())
    }
}

connectd_sdk::export_source!(SqlSource);

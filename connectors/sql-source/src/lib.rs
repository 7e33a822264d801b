//! `sql-source`: tables of PostgreSQL, MySQL/MariaDB or SQLite into topics, like Confluent's
//! JDBC source connector, through the host's `sql` interface.
//!
//! Config keys:
//! - `connection.url` (required): `postgres://user:password@host:port/db`,
//!   `mysql://user:password@host:port/db` (MariaDB too) or `sqlite:///path/file.db`. Put the
//!   password in `${env:NAME}` or `${file:/path}`; it never shows in logs or status.
//! - `mode` (required): `bulk` (the whole table every `poll.interval.ms`), `incrementing` (new
//!   rows by a strictly increasing column), `timestamp` (new and updated rows by a timestamp
//!   column) or `timestamp+incrementing` (both: the only mode that sees updates and never
//!   misses or repeats a row).
//! - `incrementing.column.name`, `timestamp.column.name`: the columns those modes use.
//! - `timestamp.delay.interval.ms`: rows are read only once their timestamp is this much older
//!   than the database's clock, so rows that commit late with an earlier timestamp are not
//!   skipped. Default `0`.
//! - `query`: a query to read instead of tables (its rows go to the topic `topic.prefix`); the
//!   mode's conditions are added around it.
//! - `table.include.list`, `table.exclude.list`: comma-separated table names (`name` or
//!   `schema.name`) to read or to leave out. Default: every table in the current schema.
//!   Tables are split across `tasks.max` tasks.
//! - `topic.prefix` (required): each table goes to `<topic.prefix><table>`, with characters a
//!   topic name cannot hold replaced by `_`.
//! - `poll.interval.ms`: how often a table that had nothing new is asked again. Default `5000`.
//! - `batch.max.rows`: the most rows one query returns. Default `100`.
//! - `value.converter.schemas.enable`, `key.converter.schemas.enable`: write records in Kafka
//!   Connect's JSON envelope, `{"schema": ..., "payload": ...}` (the JsonConverter's default),
//!   or the payload alone. Default `true`.
//!
//! Records: the value is the row as a JSON object, the key the primary key columns (none for a
//! table without one, or a query). Types: integers exact (64-bit), `numeric`/`decimal` as
//! strings with every digit, zoned timestamps as RFC 3339, bytes as base64, JSON as text.
//!
//! Offsets: the source partition is the table (`{"table": "schema.name"}`, or `{"query":
//! ...}`), the position the last row's incrementing and timestamp values (`bulk`: the pass and
//! row number), so a restart resumes with no gap and no repeat.

mod query;

use std::time::{Duration, Instant};

use connectd_sdk::{Config, ConnectorError, Descriptor, Resume, Source, SourceBatch, SourceRecord};
use connectd_sql_common::catalog::{self, ColumnInfo, TableId};
use connectd_sql_common::json::Encoder;
use connectd_sql_common::{Connection, Field, FieldType, Value};

pub use query::{Mode, Position};

const SCHEMA: &str = r#"{"type":"object","required":["connection.url","mode","topic.prefix"],"properties":{
"connection.url":{"type":"string","x-connectd-grant":"sql-url"},
"mode":{"enum":["bulk","incrementing","timestamp","timestamp+incrementing"]},
"incrementing.column.name":{"type":"string"},
"timestamp.column.name":{"type":"string"},
"timestamp.delay.interval.ms":{"type":"integer","minimum":0,"default":0},
"query":{"type":"string"},
"table.include.list":{"type":"string"},
"table.exclude.list":{"type":"string"},
"topic.prefix":{"type":"string"},
"poll.interval.ms":{"type":"integer","minimum":0,"default":5000},
"batch.max.rows":{"type":"integer","minimum":1,"default":100},
"value.converter.schemas.enable":{"type":"boolean","default":true},
"key.converter.schemas.enable":{"type":"boolean","default":true}}}"#;

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

fn list(config: &Config, key: &str) -> Vec<String> {
    config
        .get(key)
        .map(|v| {
            v.split(',')
                .map(|s| s.trim().to_string())
                .filter(|s| !s.is_empty())
                .collect()
        })
        .unwrap_or_default()
}

/// The tables this task reads: those the lists select, every `tasks.max`-th one.
fn tables(conn: &Connection, config: &Config) -> Result<Vec<TableId>, ConnectorError> {
    let include = list(config, "table.include.list");
    let exclude = list(config, "table.exclude.list");
    let all = catalog::tables(conn)?;
    let names = |t: &TableId| [t.name.clone(), t.to_string()];
    for wanted in &include {
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
        Descriptor::source("sql-source", env!("CARGO_PKG_VERSION"), SCHEMA)
    }

    fn open(config: Config, resume: Resume) -> Result<Self, ConnectorError> {
        let mode = Mode::from_config(&config)?;
        let url = config.required("connection.url")?;
        let prefix = config.required("topic.prefix")?.to_string();
        let conn = Connection::open(url)?;
        let dialect = conn.dialect();
        let mut streams = Vec::new();
        let now = Instant::now();
        if let Some(q) = config.get("query") {
            if config.get("table.include.list").is_some() {
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
            for table in tables(&conn, &config)? {
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
            delay_ms: config.parse_or("timestamp.delay.interval.ms", 0)?,
            poll_interval: Duration::from_millis(config.parse_or("poll.interval.ms", 5000)?),
            batch_max_rows: config.parse_or("batch.max.rows", 100)?,
            value_schemas: config.parse_or("value.converter.schemas.enable", true)?,
            key_schemas: config.parse_or("key.converter.schemas.enable", true)?,
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

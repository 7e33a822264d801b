//! The query each mode runs for its next page, and the position each row leaves behind.
//!
//! - `incrementing`: `WHERE inc > :last ORDER BY inc LIMIT n`.
//! - `timestamp`: every row with `:last < ts <= t`, where `t` is the `n`th next timestamp:
//!   whole groups of rows that share a timestamp, so a page never ends inside one (the next
//!   page starts after `t`).
//! - `timestamp+incrementing`: `WHERE ts > :ts OR (ts = :ts AND inc > :inc) ORDER BY ts, inc
//!   LIMIT n`: exact, however many rows share a timestamp.
//! - `bulk`: `ORDER BY <primary key> LIMIT n OFFSET k`, pass after pass.
//!
//! The timestamp modes read only rows older than the database's clock minus
//! `timestamp.delay.interval.ms`, so a transaction that commits late with an earlier
//! timestamp is still read. Column names are quoted; values are parameters.

use connectd_sdk::ConnectorError;
use connectd_sdk::sql::Column;
use connectd_sql_common::catalog::ColumnInfo;
use connectd_sql_common::ident::{placeholder, quote};
use connectd_sql_common::{Dialect, Statement, Value, tagged, untagged};
use serde_json::{Value as Json, json};

/// How new rows are found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Mode {
    Bulk,
    Incrementing(String),
    Timestamp(String),
    TimestampIncrementing {
        timestamp: String,
        incrementing: String,
    },
}

/// Where a stream got to.
#[derive(Debug, Clone, PartialEq)]
pub enum Position {
    Start,
    /// Pass `cycle`, after `offset` rows of it.
    Bulk {
        cycle: u64,
        offset: u64,
    },
    Incrementing(Value),
    Timestamp(Value),
    TimestampIncrementing(Value, Value),
}

impl Mode {
    /// The position after each of `rows`.
    pub fn advance(
        &self,
        position: &Position,
        columns: &[Column],
        rows: &[Vec<Value>],
    ) -> Result<Vec<Position>, ConnectorError> {
        let index = |name: &str| {
            columns.iter().position(|c| c.name == name).ok_or_else(|| {
                ConnectorError::Fatal(format!(
                    "the rows have no column {name:?} (incrementing.column.name, timestamp.column.name)"
                ))
            })
        };
        Ok(match self {
            Mode::Bulk => {
                let (cycle, offset) = match position {
                    Position::Bulk { cycle, offset } => (*cycle, *offset),
                    _ => (0, 0),
                };
                (1..=rows.len() as u64)
                    .map(|i| Position::Bulk {
                        cycle,
                        offset: offset + i,
                    })
                    .collect()
            }
            Mode::Incrementing(c) => {
                let i = index(c)?;
                rows.iter()
                    .map(|r| Position::Incrementing(r[i].clone()))
                    .collect()
            }
            Mode::Timestamp(c) => {
                let i = index(c)?;
                rows.iter()
                    .map(|r| Position::Timestamp(r[i].clone()))
                    .collect()
            }
            Mode::TimestampIncrementing {
                timestamp,
                incrementing,
            } => {
                let (t, i) = (index(timestamp)?, index(incrementing)?);
                rows.iter()
                    .map(|r| Position::TimestampIncrementing(r[t].clone(), r[i].clone()))
                    .collect()
            }
        })
    }
}

impl Position {
    /// The position stored for `mode`, or the start.
    pub fn resume(mode: &Mode, stored: Option<&[u8]>) -> Position {
        let Some(json) = stored.and_then(|s| serde_json::from_slice::<Json>(s).ok()) else {
            return Position::Start;
        };
        let value = |key: &str| json.get(key).and_then(untagged);
        let resumed = match mode {
            Mode::Bulk => json
                .get("cycle")
                .and_then(Json::as_u64)
                .zip(json.get("offset").and_then(Json::as_u64))
                .map(|(cycle, offset)| Position::Bulk { cycle, offset }),
            Mode::Incrementing(_) => value("incrementing").map(Position::Incrementing),
            Mode::Timestamp(_) => value("timestamp").map(Position::Timestamp),
            Mode::TimestampIncrementing { .. } => value("timestamp")
                .zip(value("incrementing"))
                .map(|(t, i)| Position::TimestampIncrementing(t, i)),
        };
        resumed.unwrap_or(Position::Start)
    }

    /// The stored form.
    pub fn to_json(&self) -> String {
        match self {
            Position::Start => json!({}),
            Position::Bulk { cycle, offset } => json!({ "cycle": cycle, "offset": offset }),
            Position::Incrementing(v) => json!({ "incrementing": tagged(v) }),
            Position::Timestamp(v) => json!({ "timestamp": tagged(v) }),
            Position::TimestampIncrementing(t, i) => {
                json!({ "timestamp": tagged(t), "incrementing": tagged(i) })
            }
        }
        .to_string()
    }
}

/// Parameters in the order their placeholders appear.
struct Params {
    dialect: Dialect,
    values: Vec<Value>,
}

impl Params {
    fn bind(&mut self, v: Value) -> String {
        self.values.push(v);
        placeholder(self.dialect, self.values.len())
    }

    /// `column` is older than the database's clock minus `delay_ms`.
    fn settled(&mut self, column: &str, delay_ms: u64) -> String {
        let ms = delay_ms as i64;
        match self.dialect {
            Dialect::Postgres => {
                let p = self.bind(Value::Int(ms));
                format!(
                    "{column} < CURRENT_TIMESTAMP - CAST({p} AS double precision) * INTERVAL '1 millisecond'"
                )
            }
            Dialect::MySql => {
                let p = self.bind(Value::Int(ms * 1000));
                format!("{column} < UTC_TIMESTAMP(6) - INTERVAL {p} MICROSECOND")
            }
            Dialect::Sqlite => {
                let p = self.bind(Value::Int(ms));
                format!("julianday({column}) < julianday('now') - {p} / 86400000.0")
            }
        }
    }
}

/// The next page's query for a stream reading `from` (a quoted table or a parenthesized
/// query), or why a configured column name cannot be one.
pub fn page(
    dialect: Dialect,
    mode: &Mode,
    from: &str,
    columns: &[ColumnInfo],
    position: &Position,
    delay_ms: u64,
    limit: u32,
) -> Result<Statement, String> {
    let q = |name: &str| quote(dialect, name).map_err(|e| format!("column name: {e}"));
    let mut p = Params {
        dialect,
        values: Vec::new(),
    };
    let sql = match (mode, position) {
        (Mode::Bulk, position) => {
            let offset = match position {
                Position::Bulk { offset, .. } => *offset,
                _ => 0,
            };
            let keys: Vec<String> = columns
                .iter()
                .filter(|c| c.primary_key)
                .map(|c| q(&c.name))
                .collect::<Result<_, _>>()?;
            let order = if keys.is_empty() {
                String::new()
            } else {
                format!(" ORDER BY {}", keys.join(", "))
            };
            format!("SELECT * FROM {from}{order} LIMIT {limit} OFFSET {offset}")
        }
        (Mode::Incrementing(c), position) => {
            let c = q(c)?;
            let after = match position {
                Position::Incrementing(v) => format!("{c} > {}", p.bind(v.clone())),
                _ => format!("{c} IS NOT NULL"),
            };
            format!("SELECT * FROM {from} WHERE {after} ORDER BY {c} LIMIT {limit}")
        }
        (Mode::Timestamp(c), position) => {
            let c = q(c)?;
            let after = |p: &mut Params| match position {
                Position::Timestamp(v) => format!(" AND {c} > {}", p.bind(v.clone())),
                _ => String::new(),
            };
            let outer = after(&mut p);
            let inner = after(&mut p);
            let settled = p.settled(&c, delay_ms);
            format!(
                "SELECT * FROM {from} WHERE {c} IS NOT NULL{outer} AND {c} <= \
                 (SELECT MAX(connectd_t) FROM (SELECT {c} AS connectd_t FROM {from} \
                 WHERE {settled}{inner} ORDER BY {c} LIMIT {limit}) AS connectd_page) ORDER BY {c}"
            )
        }
        (
            Mode::TimestampIncrementing {
                timestamp,
                incrementing,
            },
            position,
        ) => {
            let (t, i) = (q(timestamp)?, q(incrementing)?);
            let settled = p.settled(&t, delay_ms);
            let after = match position {
                Position::TimestampIncrementing(tv, iv) => format!(
                    " AND ({t} > {} OR ({t} = {} AND {i} > {}))",
                    p.bind(tv.clone()),
                    p.bind(tv.clone()),
                    p.bind(iv.clone())
                ),
                _ => format!(" AND {i} IS NOT NULL"),
            };
            format!("SELECT * FROM {from} WHERE {settled}{after} ORDER BY {t}, {i} LIMIT {limit}")
        }
    };
    Ok(Statement::new(sql, p.values))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamp_incrementing_pages_resume_inside_a_shared_timestamp() {
        let mode = Mode::TimestampIncrementing {
            timestamp: "updated at".into(),
            incrementing: "id".into(),
        };
        let ts = Value::TimestampTz("2026-11-30T10:00:00.000000+00:00".into());
        let at = Position::TimestampIncrementing(ts.clone(), Value::Int(7));
        let s = page(Dialect::Postgres, &mode, "\"t\"", &[], &at, 250, 100).unwrap();
        assert_eq!(
            s.sql,
            "SELECT * FROM \"t\" WHERE \"updated at\" < CURRENT_TIMESTAMP - CAST($1 AS double precision) * INTERVAL '1 millisecond' \
             AND (\"updated at\" > $2 OR (\"updated at\" = $3 AND \"id\" > $4)) ORDER BY \"updated at\", \"id\" LIMIT 100"
        );
        assert_eq!(
            s.params,
            vec![Value::Int(250), ts.clone(), ts, Value::Int(7)]
        );
        let stored = at.to_json();
        assert_eq!(Position::resume(&mode, Some(stored.as_bytes())), at);
        assert_eq!(
            Position::resume(&Mode::Bulk, Some(stored.as_bytes())),
            Position::Start
        );
    }

    #[test]
    fn column_names_cannot_break_out() {
        let mode = Mode::Incrementing("id\"; DROP TABLE t; --".into());
        let s = page(
            Dialect::MySql,
            &mode,
            "`t`",
            &[],
            &Position::Incrementing(Value::Int(1)),
            0,
            5,
        )
        .unwrap();
        assert_eq!(
            s.sql,
            "SELECT * FROM `t` WHERE `id\"; DROP TABLE t; --` > ? ORDER BY `id\"; DROP TABLE t; --` LIMIT 5"
        );
    }
}

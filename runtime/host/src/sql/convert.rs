//! WIT values to sqlx parameters, and result cells back to WIT values, for each database.
//!
//! Reading is exact: integers stay 64-bit, `NUMERIC`/`DECIMAL` become decimal strings with
//! their scale (never through a float), zoned timestamps become RFC 3339 with
//! microseconds, and bytes stay bytes. A column of a type with no mapping is read as text if
//! the driver can, and is an error naming the column and its type otherwise.

use chrono::{DateTime, FixedOffset, NaiveDate, NaiveDateTime, NaiveTime, SecondsFormat, Utc};
use sqlx::mysql::MySqlRow;
use sqlx::postgres::{PgRow, PgTypeInfo};
use sqlx::sqlite::SqliteRow;
use sqlx::types::{BigDecimal, Uuid};
use sqlx::{Column, Row, TypeInfo, ValueRef};

use super::Pool;
use crate::bindings::source::connectd::connector::sql::{
    Column as WitColumn, Rows, SqlError, Statement, Value,
};

type Result<T> = std::result::Result<T, sqlx::Error>;

fn invalid(what: &str, text: &str, expected: &str) -> sqlx::Error {
    sqlx::Error::InvalidArgument(format!("{what} parameter {text:?} is not {expected}"))
}

fn timestamp_tz(t: &str) -> Result<DateTime<FixedOffset>> {
    DateTime::parse_from_rfc3339(t).map_err(|_| invalid("timestamp-tz", t, "RFC 3339"))
}

fn timestamp(t: &str) -> Result<NaiveDateTime> {
    NaiveDateTime::parse_from_str(t, "%Y-%m-%dT%H:%M:%S%.f")
        .or_else(|_| NaiveDateTime::parse_from_str(t, "%Y-%m-%d %H:%M:%S%.f"))
        .map_err(|_| invalid("timestamp", t, "YYYY-MM-DDTHH:MM:SS[.ffffff]"))
}

fn date(t: &str) -> Result<NaiveDate> {
    NaiveDate::parse_from_str(t, "%Y-%m-%d").map_err(|_| invalid("date", t, "YYYY-MM-DD"))
}

fn time(t: &str) -> Result<NaiveTime> {
    NaiveTime::parse_from_str(t, "%H:%M:%S%.f").map_err(|_| invalid("time", t, "HH:MM:SS[.ffffff]"))
}

fn decimal(t: &str) -> Result<BigDecimal> {
    t.parse()
        .map_err(|_| invalid("decimal", t, "a decimal number"))
}

fn json(t: &str) -> Result<serde_json::Value> {
    serde_json::from_str(t).map_err(|_| invalid("json", t, "a JSON document"))
}

fn tz_text(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Micros, false)
}

fn naive_text(t: NaiveDateTime) -> String {
    t.format("%Y-%m-%dT%H:%M:%S%.6f").to_string()
}

fn time_text(t: NaiveTime) -> String {
    t.format("%H:%M:%S%.6f").to_string()
}

/// A PostgreSQL NULL of no declared type, so the server infers it from where it is used (a
/// typed NULL would be refused by a column of another type).
struct UntypedNull;

impl sqlx::Type<sqlx::Postgres> for UntypedNull {
    fn type_info() -> PgTypeInfo {
        PgTypeInfo::with_oid(sqlx::postgres::types::Oid(0))
    }
}

impl sqlx::Encode<'_, sqlx::Postgres> for UntypedNull {
    fn encode_by_ref(
        &self,
        _: &mut sqlx::postgres::PgArgumentBuffer,
    ) -> std::result::Result<sqlx::encode::IsNull, sqlx::error::BoxDynError> {
        Ok(sqlx::encode::IsNull::Yes)
    }
}

type Query<'q, DB> = sqlx::query::Query<'q, DB, <DB as sqlx::Database>::Arguments<'q>>;

fn bind_postgres(q: Query<'_, sqlx::Postgres>, v: Value) -> Result<Query<'_, sqlx::Postgres>> {
    Ok(match v {
        Value::Null => q.bind(UntypedNull),
        Value::Boolean(b) => q.bind(b),
        Value::Int(i) => q.bind(i),
        Value::Float(f) => q.bind(f),
        Value::Text(t) => q.bind(t),
        Value::Bytes(b) => q.bind(b),
        Value::Decimal(d) => q.bind(decimal(&d)?),
        Value::TimestampTz(t) => q.bind(timestamp_tz(&t)?),
        Value::Timestamp(t) => q.bind(timestamp(&t)?),
        Value::Date(d) => q.bind(date(&d)?),
        Value::Time(t) => q.bind(time(&t)?),
        Value::Json(j) => q.bind(sqlx::types::Json(json(&j)?)),
    })
}

fn bind_mysql(q: Query<'_, sqlx::MySql>, v: Value) -> Result<Query<'_, sqlx::MySql>> {
    Ok(match v {
        Value::Null => q.bind(None::<String>),
        Value::Boolean(b) => q.bind(b),
        Value::Int(i) => q.bind(i),
        Value::Float(f) => q.bind(f),
        // MySQL converts decimal text exactly; JSON columns take text.
        Value::Text(t) | Value::Decimal(t) | Value::Json(t) => q.bind(t),
        Value::Bytes(b) => q.bind(b),
        // Sessions run in UTC (sqlx sets time_zone = '+00:00').
        Value::TimestampTz(t) => q.bind(timestamp_tz(&t)?.with_timezone(&Utc)),
        Value::Timestamp(t) => q.bind(timestamp(&t)?),
        Value::Date(d) => q.bind(date(&d)?),
        Value::Time(t) => q.bind(time(&t)?),
    })
}

fn bind_sqlite(q: Query<'_, sqlx::Sqlite>, v: Value) -> Result<Query<'_, sqlx::Sqlite>> {
    Ok(match v {
        Value::Null => q.bind(None::<String>),
        Value::Boolean(b) => q.bind(b),
        Value::Int(i) => q.bind(i),
        Value::Float(f) => q.bind(f),
        // SQLite has no date or decimal types: text keeps them exact and ordered.
        Value::Text(t)
        | Value::Decimal(t)
        | Value::Json(t)
        | Value::TimestampTz(t)
        | Value::Timestamp(t)
        | Value::Date(t)
        | Value::Time(t) => q.bind(t),
        Value::Bytes(b) => q.bind(b),
    })
}

/// PostgreSQL's binary `numeric` as text with exactly its display scale (sqlx's `BigDecimal`
/// would widen the scale to whole base-10000 digits: `1.50` as `1.5000`).
fn postgres_numeric(b: &[u8]) -> std::result::Result<String, String> {
    let at = |i: usize| -> std::result::Result<u16, String> {
        b.get(i..i + 2)
            .map(|s| u16::from_be_bytes([s[0], s[1]]))
            .ok_or_else(|| "a truncated numeric".to_string())
    };
    let (ndigits, weight, sign, dscale) = (at(0)?, at(2)? as i16, at(4)?, at(6)?);
    match sign {
        0xC000 => return Ok("NaN".into()),
        0xD000 => return Ok("Infinity".into()),
        0xF000 => return Ok("-Infinity".into()),
        _ => {}
    }
    let digits: Vec<u16> = (0..ndigits as usize)
        .map(|i| at(8 + 2 * i))
        .collect::<std::result::Result<_, _>>()?;
    // Digit i is worth 10000^(weight - i).
    let digit = |i: i32| {
        usize::try_from(i)
            .ok()
            .and_then(|i| digits.get(i))
            .copied()
            .unwrap_or(0)
    };
    let mut out = String::new();
    if sign == 0x4000 {
        out.push('-');
    }
    if weight < 0 {
        out.push('0');
    } else {
        out.push_str(&digit(0).to_string());
        for i in 1..=i32::from(weight) {
            out.push_str(&format!("{:04}", digit(i)));
        }
    }
    if dscale > 0 {
        let mut fraction = String::new();
        let mut i = i32::from(weight) + 1;
        while fraction.len() < dscale as usize {
            fraction.push_str(&format!("{:04}", digit(i)));
            i += 1;
        }
        fraction.truncate(dscale as usize);
        out.push('.');
        out.push_str(&fraction);
    }
    Ok(out)
}

/// One result cell of `row` at `i`, by the column's type.
fn postgres_cell(row: &PgRow, i: usize, ty: &str) -> Result<Value> {
    if row.try_get_raw(i)?.is_null() {
        return Ok(Value::Null);
    }
    Ok(match ty {
        "BOOL" => Value::Boolean(row.try_get(i)?),
        "INT2" => Value::Int(row.try_get::<i16, _>(i)?.into()),
        "INT4" => Value::Int(row.try_get::<i32, _>(i)?.into()),
        "INT8" => Value::Int(row.try_get(i)?),
        "OID" => Value::Int(row.try_get::<sqlx::postgres::types::Oid, _>(i)?.0.into()),
        "FLOAT4" => Value::Float(row.try_get::<f32, _>(i)?.into()),
        "FLOAT8" => Value::Float(row.try_get(i)?),
        "NUMERIC" => {
            let raw = row.try_get_raw(i)?;
            let bytes = raw.as_bytes().map_err(sqlx::Error::Decode)?;
            Value::Decimal(match raw.format() {
                sqlx::postgres::PgValueFormat::Text => String::from_utf8_lossy(bytes).into_owned(),
                sqlx::postgres::PgValueFormat::Binary => {
                    postgres_numeric(bytes).map_err(|e| sqlx::Error::Decode(e.into()))?
                }
            })
        }
        "BYTEA" => Value::Bytes(row.try_get(i)?),
        "TIMESTAMPTZ" => Value::TimestampTz(tz_text(row.try_get(i)?)),
        "TIMESTAMP" => Value::Timestamp(naive_text(row.try_get(i)?)),
        "DATE" => Value::Date(row.try_get::<NaiveDate, _>(i)?.to_string()),
        "TIME" => Value::Time(time_text(row.try_get(i)?)),
        "UUID" => Value::Text(row.try_get::<Uuid, _>(i)?.to_string()),
        "JSON" | "JSONB" => Value::Json(row.try_get::<serde_json::Value, _>(i)?.to_string()),
        _ => Value::Text(row.try_get(i)?),
    })
}

fn mysql_cell(row: &MySqlRow, i: usize, ty: &str) -> Result<Value> {
    if row.try_get_raw(i)?.is_null() {
        return Ok(Value::Null);
    }
    Ok(match ty {
        "BOOLEAN" => Value::Boolean(row.try_get(i)?),
        "TINYINT" | "SMALLINT" | "MEDIUMINT" | "INT" | "BIGINT" | "YEAR" => {
            Value::Int(row.try_get(i)?)
        }
        "TINYINT UNSIGNED" | "SMALLINT UNSIGNED" | "MEDIUMINT UNSIGNED" | "INT UNSIGNED" => {
            Value::Int(row.try_get::<u32, _>(i)?.into())
        }
        // Beyond i64, exactly, as a decimal.
        "BIGINT UNSIGNED" => {
            let n: u64 = row.try_get(i)?;
            i64::try_from(n).map_or_else(|_| Value::Decimal(n.to_string()), Value::Int)
        }
        "FLOAT" => Value::Float(row.try_get::<f32, _>(i)?.into()),
        "DOUBLE" => Value::Float(row.try_get(i)?),
        // The binary protocol sends decimals as their text, with every digit of the scale.
        "DECIMAL" => Value::Decimal(
            <String as sqlx::Decode<sqlx::MySql>>::decode(row.try_get_raw(i)?)
                .map_err(sqlx::Error::Decode)?,
        ),
        "BINARY" | "VARBINARY" | "TINYBLOB" | "BLOB" | "MEDIUMBLOB" | "LONGBLOB" | "BIT" => {
            Value::Bytes(row.try_get(i)?)
        }
        "TIMESTAMP" => Value::TimestampTz(tz_text(row.try_get(i)?)),
        "DATETIME" => Value::Timestamp(naive_text(row.try_get(i)?)),
        "DATE" => Value::Date(row.try_get::<NaiveDate, _>(i)?.to_string()),
        "TIME" => Value::Time(time_text(row.try_get(i)?)),
        "JSON" => Value::Json(row.try_get::<serde_json::Value, _>(i)?.to_string()),
        _ => Value::Text(row.try_get(i)?),
    })
}

/// SQLite values have a storage class of their own, whatever the column declares; the
/// declared type decides only booleans and decimals stored as text.
fn sqlite_cell(row: &SqliteRow, i: usize, declared: &str) -> Result<Value> {
    let raw = row.try_get_raw(i)?;
    let class = raw.type_info().name().to_string();
    drop(raw);
    let declared = declared.to_ascii_uppercase();
    Ok(match class.as_str() {
        "NULL" => Value::Null,
        "INTEGER" if declared.contains("BOOL") => Value::Boolean(row.try_get(i)?),
        "INTEGER" => Value::Int(row.try_get(i)?),
        "REAL" => Value::Float(row.try_get(i)?),
        "BLOB" => Value::Bytes(row.try_get(i)?),
        _ if declared.contains("DEC") || declared.contains("NUMERIC") => {
            Value::Decimal(row.try_get(i)?)
        }
        _ => Value::Text(row.try_get(i)?),
    })
}

fn rows<R: Row>(rows: Vec<R>, cell: impl Fn(&R, usize, &str) -> Result<Value>) -> Result<Rows> {
    let Some(first) = rows.first() else {
        return Ok(Rows {
            columns: Vec::new(),
            rows: Vec::new(),
        });
    };
    let columns: Vec<WitColumn> = first
        .columns()
        .iter()
        .map(|c| WitColumn {
            name: c.name().to_string(),
            type_name: c.type_info().name().to_string(),
        })
        .collect();
    let mut out = Vec::with_capacity(rows.len());
    for row in &rows {
        let mut values = Vec::with_capacity(columns.len());
        for (i, column) in columns.iter().enumerate() {
            values.push(cell(row, i, &column.type_name).map_err(|e| {
                sqlx::Error::Decode(
                    format!("column {:?} ({}): {e}", column.name, column.type_name).into(),
                )
            })?);
        }
        out.push(values);
    }
    Ok(Rows { columns, rows: out })
}

/// Binds every parameter of `params` to a query of `sql` with `bind`.
macro_rules! bound {
    ($sql:expr, $params:expr, $bind:path) => {{
        let mut q = sqlx::query($sql);
        for v in $params {
            q = $bind(q, v)?;
        }
        q
    }};
}

pub(super) async fn query(pool: &Pool, s: Statement) -> Result<Rows> {
    let Statement { sql, params } = s;
    match pool {
        Pool::Postgres(p) => rows(
            bound!(&sql, params, bind_postgres).fetch_all(p).await?,
            postgres_cell,
        ),
        Pool::MySql(p) => rows(
            bound!(&sql, params, bind_mysql).fetch_all(p).await?,
            mysql_cell,
        ),
        Pool::Sqlite(p) => rows(
            bound!(&sql, params, bind_sqlite).fetch_all(p).await?,
            sqlite_cell,
        ),
    }
}

/// Runs `statements` in one transaction on `pool`, binding with `bind`.
macro_rules! transaction {
    ($pool:expr, $statements:expr, $bind:path) => {{
        let mut tx = $pool.begin().await?;
        let mut affected = Vec::with_capacity($statements.len());
        for Statement { sql, params } in $statements {
            let q = bound!(&sql, params, $bind);
            affected.push(q.execute(&mut *tx).await?.rows_affected());
        }
        tx.commit().await?;
        Ok(affected)
    }};
}

pub(super) async fn execute(pool: &Pool, statements: Vec<Statement>) -> Result<Vec<u64>> {
    match pool {
        Pool::Postgres(p) => transaction!(p, statements, bind_postgres),
        Pool::MySql(p) => transaction!(p, statements, bind_mysql),
        Pool::Sqlite(p) => transaction!(p, statements, bind_sqlite),
    }
}

/// What a background transaction is asked to do.
pub(super) enum Command {
    Run(Vec<Statement>),
    Commit(tokio::sync::oneshot::Sender<std::result::Result<(), SqlError>>),
}

/// The first error of a background transaction, for the guest's next call.
pub(super) type Failed = std::sync::Arc<std::sync::Mutex<Option<SqlError>>>;

/// Runs a transaction's commands in order until it commits, or, when the guest drops it,
/// rolls back (dropping a sqlx transaction does).
macro_rules! pipeline {
    ($pool:expr, $commands:expr, $failed:expr, $password:expr, $bind:path) => {{
        let mut tx = $pool.begin().await?;
        tokio::spawn(async move {
            let (mut commands, failed, password) = ($commands, $failed, $password);
            while let Some(command) = commands.recv().await {
                match command {
                    Command::Run(statements) => {
                        if failed.lock().unwrap_or_else(|e| e.into_inner()).is_some() {
                            continue;
                        }
                        for Statement { sql, params } in statements {
                            let ran: Result<_> = async {
                                let q = bound!(&sql, params, $bind);
                                q.execute(&mut *tx).await
                            }
                            .await;
                            if let Err(e) = ran {
                                let e = super::classify(e, password.as_deref());
                                *failed.lock().unwrap_or_else(|e| e.into_inner()) = Some(e);
                                break;
                            }
                        }
                    }
                    Command::Commit(reply) => {
                        let earlier = failed.lock().unwrap_or_else(|e| e.into_inner()).take();
                        let result = match earlier {
                            Some(e) => Err(e),
                            None => tx
                                .commit()
                                .await
                                .map_err(|e| super::classify(e, password.as_deref())),
                        };
                        let _ = reply.send(result);
                        return;
                    }
                }
            }
        });
        Ok(())
    }};
}

/// Begins a transaction on `pool` (waiting for a connection and `BEGIN`), then runs what
/// `commands` brings in the background.
pub(super) async fn begin(
    pool: &Pool,
    commands: tokio::sync::mpsc::UnboundedReceiver<Command>,
    failed: Failed,
    password: Option<String>,
) -> Result<()> {
    match pool {
        Pool::Postgres(p) => pipeline!(p, commands, failed, password, bind_postgres),
        Pool::MySql(p) => pipeline!(p, commands, failed, password, bind_mysql),
        Pool::Sqlite(p) => pipeline!(p, commands, failed, password, bind_sqlite),
    }
}

#[cfg(test)]
mod tests {
    use super::postgres_numeric;

    fn numeric(ndigits: u16, weight: i16, sign: u16, dscale: u16, digits: &[u16]) -> Vec<u8> {
        let mut b = Vec::new();
        for v in [ndigits, weight as u16, sign, dscale].iter().chain(digits) {
            b.extend_from_slice(&v.to_be_bytes());
        }
        b
    }

    #[test]
    fn numerics_keep_their_scale() {
        // 12345678901234567001.0123456789 as PostgreSQL sends it.
        let b = numeric(
            8,
            4,
            0,
            10,
            &[1234, 5678, 9012, 3456, 7001, 123, 4567, 8900],
        );
        assert_eq!(
            postgres_numeric(&b).unwrap(),
            "12345678901234567001.0123456789"
        );
        assert_eq!(
            postgres_numeric(&numeric(2, 0, 0, 2, &[1, 5000])).unwrap(),
            "1.50"
        );
        assert_eq!(
            postgres_numeric(&numeric(1, -1, 0x4000, 4, &[12])).unwrap(),
            "-0.0012"
        );
        assert_eq!(postgres_numeric(&numeric(0, 0, 0, 0, &[])).unwrap(), "0");
        assert_eq!(
            postgres_numeric(&numeric(1, 1, 0, 0, &[7])).unwrap(),
            "70000"
        );
        assert_eq!(
            postgres_numeric(&numeric(0, 0, 0xC000, 0, &[])).unwrap(),
            "NaN"
        );
    }
}

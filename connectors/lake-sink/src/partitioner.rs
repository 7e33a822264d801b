//! Where a record's file goes: Hive-style `key=value` folders by Kafka partition (the
//! default), by record fields, or by time; and the time a record carries, for time folders
//! and `rotate.interval.ms`.

use std::fmt::Write;

use chrono::{Datelike, Offset, TimeZone, Timelike};
use chrono_tz::Tz;
use serde_json::Value;

/// Where a record's time comes from (`timestamp.extractor`).
#[derive(Debug, Clone, PartialEq)]
pub enum Extractor {
    /// The Kafka record's timestamp (`Record`, the default).
    Record,
    /// The worker's clock when the record is written (`Wallclock`): not repeatable, so a
    /// replay after a crash may cut files elsewhere.
    Wallclock,
    /// A field of the value (`RecordField`, `timestamp.field`): milliseconds since the epoch,
    /// or an RFC 3339 string.
    Field(Vec<String>),
}

/// One piece of a `path.format`.
#[derive(Debug, Clone, PartialEq)]
pub enum Piece {
    Text(String),
    Year,
    Month,
    Day,
    Hour,
    Minute,
    Second,
}

/// How records are spread over folders (`partitioner.class`).
#[derive(Debug, Clone)]
pub enum Partitioner {
    /// `partition=<kafka partition>`.
    Default,
    /// `<field>=<value>/...` for each of `partition.field.name`.
    Field(Vec<Vec<String>>),
    /// `path.format` applied to the record's time in `timezone`, floored to
    /// `partition.duration.ms` if set.
    Time {
        format: Vec<Piece>,
        duration_ms: i64,
        timezone: Tz,
    },
}

/// The Hive folder value for a missing or null field.
pub const HIVE_NULL: &str = "__HIVE_DEFAULT_PARTITION__";

/// Reads a Joda-style `path.format` such as `'dt'=YYYY-MM-dd/'hr'=HH`: quoted text is kept
/// as is, `YYYY`/`yyyy`, `MM`, `dd`, `HH`, `mm`, `ss` are the time's fields, and `/ = - _ .`
/// are kept; any other letter is refused.
pub fn parse_path_format(format: &str) -> Result<Vec<Piece>, String> {
    let mut pieces = Vec::new();
    let mut chars = format.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '\'' {
            let mut text = String::new();
            loop {
                match chars.next() {
                    Some('\'') => break,
                    Some(c) => text.push(c),
                    None => return Err(format!("path.format {format:?}: a quote is not closed")),
                }
            }
            pieces.push(Piece::Text(text));
        } else if c.is_ascii_alphabetic() {
            let mut run = 1;
            while chars.peek() == Some(&c) {
                chars.next();
                run += 1;
            }
            pieces.push(match (c, run) {
                ('Y' | 'y', 4) => Piece::Year,
                ('M', 2) => Piece::Month,
                ('d', 2) => Piece::Day,
                ('H', 2) => Piece::Hour,
                ('m', 2) => Piece::Minute,
                ('s', 2) => Piece::Second,
                _ => {
                    return Err(format!(
                        "path.format {format:?}: {} is not a field: use YYYY, MM, dd, HH, mm, ss, and quote text ('dt'=YYYY-MM-dd)",
                        c.to_string().repeat(run)
                    ));
                }
            });
        } else if "/=-_.".contains(c) {
            pieces.push(Piece::Text(c.to_string()));
        } else {
            return Err(format!(
                "path.format {format:?}: {c:?} is not allowed outside quotes"
            ));
        }
    }
    if pieces.is_empty() {
        return Err("path.format is empty: e.g. 'dt'=YYYY-MM-dd/'hr'=HH".into());
    }
    Ok(pieces)
}

/// Reads `timezone`: `UTC` or an IANA name such as `Europe/Paris`.
pub fn parse_timezone(name: &str) -> Result<Tz, String> {
    name.parse::<Tz>().map_err(|_| {
        format!(
            "timezone {name:?} is not a time zone: use UTC or an IANA name such as America/New_York"
        )
    })
}

/// Writes `value` as a Hive folder value: `%XX` for characters a path or Hive cannot hold.
fn escape(value: &str, out: &mut String) {
    for c in value.chars() {
        if c.is_control() || "\"#%'*/:=?\\\u{7f}{[]^".contains(c) {
            let mut buf = [0u8; 4];
            for b in c.encode_utf8(&mut buf).bytes() {
                let _ = write!(out, "%{b:02X}");
            }
        } else {
            out.push(c);
        }
    }
}

/// The field at `path` (nested with dots) of a JSON object.
pub fn field<'v>(value: &'v Value, path: &[String]) -> Option<&'v Value> {
    path.iter().try_fold(value, |v, name| v.get(name))
}

/// The time in a field: an integer (milliseconds) or an RFC 3339 string.
pub fn time_of(value: &Value, path: &[String]) -> Result<i64, String> {
    let name = path.join(".");
    match field(value, path) {
        Some(Value::Number(n)) => n
            .as_i64()
            .ok_or_else(|| format!("timestamp.field {name} is {n}: expected milliseconds")),
        Some(Value::String(s)) => chrono::DateTime::parse_from_rfc3339(s)
            .map(|t| t.timestamp_millis())
            .map_err(|e| format!("timestamp.field {name} is {s:?}: not RFC 3339 ({e})")),
        Some(other) => Err(format!(
            "timestamp.field {name} is {other}: expected milliseconds or an RFC 3339 string"
        )),
        None => Err(format!("the record has no timestamp.field {name}")),
    }
}

impl Partitioner {
    /// Whether the folders need the record's value parsed.
    pub fn reads_fields(&self) -> bool {
        matches!(self, Partitioner::Field(_))
    }

    /// Writes the folders of a record (of Kafka `partition`, at time `time`, with value
    /// `value` when [`Partitioner::reads_fields`]) to `out`, e.g. `dt=2026-11-30/hr=06`.
    pub fn path(&self, partition: i32, time: i64, value: Option<&Value>, out: &mut String) {
        out.clear();
        match self {
            Partitioner::Default => {
                let _ = write!(out, "partition={partition}");
            }
            Partitioner::Field(fields) => {
                for (i, path) in fields.iter().enumerate() {
                    if i > 0 {
                        out.push('/');
                    }
                    escape(&path.join("."), out);
                    out.push('=');
                    match value.and_then(|v| field(v, path)) {
                        None | Some(Value::Null) => out.push_str(HIVE_NULL),
                        Some(Value::String(s)) => escape(s, out),
                        Some(other) => escape(&other.to_string(), out),
                    }
                }
            }
            Partitioner::Time {
                format,
                duration_ms,
                timezone,
            } => {
                let at = timezone.timestamp_millis_opt(time).single();
                let Some(mut at) = at else {
                    out.push_str(HIVE_NULL);
                    return;
                };
                if *duration_ms > 0 {
                    // Floor in local time, so daily folders start at local midnight.
                    let local = time + at.offset().fix().local_minus_utc() as i64 * 1000;
                    let floored = time - local.rem_euclid(*duration_ms);
                    if let Some(f) = timezone.timestamp_millis_opt(floored).single() {
                        at = f;
                    }
                }
                for piece in format {
                    let _ = match piece {
                        Piece::Text(t) => {
                            out.push_str(t);
                            Ok(())
                        }
                        Piece::Year => write!(out, "{:04}", at.year()),
                        Piece::Month => write!(out, "{:02}", at.month()),
                        Piece::Day => write!(out, "{:02}", at.day()),
                        Piece::Hour => write!(out, "{:02}", at.hour()),
                        Piece::Minute => write!(out, "{:02}", at.minute()),
                        Piece::Second => write!(out, "{:02}", at.second()),
                    };
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn time(format: &str, tz: &str, duration_ms: i64) -> Partitioner {
        Partitioner::Time {
            format: parse_path_format(format).unwrap(),
            duration_ms,
            timezone: parse_timezone(tz).unwrap(),
        }
    }

    #[test]
    fn time_folders_follow_the_format_and_the_timezone() {
        // 2026-11-30T23:30:00Z
        let t = 1_796_081_400_000;
        let mut out = String::new();
        time("'dt'=YYYY-MM-dd/'hr'=HH", "UTC", 0).path(0, t, None, &mut out);
        assert_eq!(out, "dt=2026-11-30/hr=23");
        time("'dt'=YYYY-MM-dd/'hr'=HH", "Asia/Kolkata", 0).path(0, t, None, &mut out);
        assert_eq!(out, "dt=2026-12-01/hr=05");
        time(
            "'year'=YYYY/'month'=MM/'day'=dd/'hour'=HH/'minute'=mm",
            "UTC",
            15 * 60_000,
        )
        .path(0, t + 14 * 60_000, None, &mut out);
        assert_eq!(out, "year=2026/month=11/day=30/hour=23/minute=30");
        for bad in ["'dt=YYYY", "dt", "'x'=YYY", "'a' b"] {
            assert!(parse_path_format(bad).is_err(), "{bad}");
        }
        assert!(parse_timezone("Mars/Olympus").is_err());
    }

    #[test]
    fn field_folders_escape_values_and_name_nulls() {
        let p = Partitioner::Field(vec![
            vec!["region".into()],
            vec!["user".into(), "tier".into()],
        ]);
        let v: Value =
            serde_json::from_str(r#"{"region": "eu/west=1", "user": {"tier": 3}}"#).unwrap();
        let mut out = String::new();
        p.path(0, 0, Some(&v), &mut out);
        assert_eq!(out, "region=eu%2Fwest%3D1/user.tier=3");
        let v: Value = serde_json::from_str(r#"{"region": null}"#).unwrap();
        p.path(0, 0, Some(&v), &mut out);
        assert_eq!(out, format!("region={HIVE_NULL}/user.tier={HIVE_NULL}"));
        Partitioner::Default.path(7, 0, None, &mut out);
        assert_eq!(out, "partition=7");
    }

    #[test]
    fn record_field_times_are_milliseconds_or_rfc3339() {
        let v: Value =
            serde_json::from_str(r#"{"at": "2026-11-30T06:00:00+05:30", "ms": 5, "bad": true}"#)
                .unwrap();
        assert_eq!(time_of(&v, &["ms".into()]).unwrap(), 5);
        assert_eq!(time_of(&v, &["at".into()]).unwrap(), 1_795_998_600_000);
        assert!(time_of(&v, &["bad".into()]).unwrap_err().contains("bad"));
        assert!(time_of(&v, &["none".into()]).unwrap_err().contains("none"));
    }
}

//! `datagen-source`: synthetic JSON records, for demos and benchmarks, like Confluent's
//! Datagen connector.
//!
//! Each record is a JSON object such as
//! `{"id":41,"task":0,"user":"user_7","level":"info","amount":803.27,"pad":"xxxx"}` keyed by
//! its `user`. Record `n` of task `t` is always the same, so a restart that resumes at `n` regenerates
//! exactly what a crash lost.
//!
//! Config keys: [`DatagenConfig`].
//!
//! Offsets: the source partition is `datagen-<task.id>`, the position the next record number.

use std::time::Instant;

use connectd_sdk::{Config, Configurable, ConnectorError, Descriptor, Resume, Source, SourceBatch};

/// datagen-source's keys.
#[derive(Configurable)]
pub struct DatagenConfig {
    /// The topic the records go to.
    pub topic: String,
    /// Records per second per task; `0`: as fast as possible.
    #[config(default = 10, minimum = 0)]
    pub rate: f64,
    /// Records per task before it goes idle; `0`: no end.
    #[config(default = 0, minimum = 0)]
    pub iterations: u64,
    /// Pad each value with a `pad` field to at least this many bytes; `0`: no padding.
    #[config(key = "record.bytes", default = 0, minimum = 0)]
    pub record_bytes: usize,
    /// Add `"worker":"<worker id>","generation":<n>` after `task`: which worker ran the task,
    /// under which group generation (0 on a single worker). Only these differ when a task runs
    /// again elsewhere.
    #[config(key = "include.worker", default = false)]
    pub include_worker: bool,
}

const LEVELS: [&str; 4] = ["debug", "info", "warn", "error"];

/// The datagen task.
pub struct Datagen {
    /// This task's number (`task.id`), in every value.
    task: u32,
    partition: Vec<u8>,
    next: u64,
    rate: f64,
    iterations: u64,
    record_bytes: usize,
    /// `,"worker":"..","generation":n` with `include.worker`, else empty.
    worker: Vec<u8>,
    /// When the rate clock started, and the record number then.
    started: (Instant, u64),
}

/// SplitMix64: a fixed pseudo-random value per record number.
fn mix(n: u64) -> u64 {
    let mut z = n.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// Appends the decimal digits of `n`.
fn push_u64(buf: &mut Vec<u8>, mut n: u64) {
    let mut digits = [0u8; 20];
    let mut i = digits.len();
    loop {
        i -= 1;
        digits[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    buf.extend_from_slice(&digits[i..]);
}

impl Datagen {
    /// The key and value of record `n`.
    pub fn value(&self, n: u64) -> (String, Vec<u8>) {
        let mut value = Vec::new();
        let user = self.write_value(n, &mut value);
        let key = String::from_utf8(value[user].to_vec()).expect("ASCII");
        (key, value)
    }

    /// Writes the value of record `n` into `buf` (cleared first); returns where its `user`,
    /// the key, lies in it. Written by hand, not with `format!`: this is the whole per-record
    /// cost of the connector.
    fn write_value(&self, n: u64, buf: &mut Vec<u8>) -> std::ops::Range<usize> {
        let r = mix(n);
        buf.clear();
        buf.extend_from_slice(b"{\"id\":");
        push_u64(buf, n);
        buf.extend_from_slice(b",\"task\":");
        push_u64(buf, u64::from(self.task));
        buf.extend_from_slice(&self.worker);
        buf.extend_from_slice(b",\"user\":\"");
        let start = buf.len();
        buf.extend_from_slice(b"user_");
        push_u64(buf, r % 100);
        let user = start..buf.len();
        buf.extend_from_slice(b"\",\"level\":\"");
        buf.extend_from_slice(LEVELS[(r >> 8) as usize % LEVELS.len()].as_bytes());
        buf.extend_from_slice(b"\",\"amount\":");
        push_u64(buf, (r >> 16) % 1000);
        let cents = (r >> 32) % 100;
        buf.extend_from_slice(&[b'.', b'0' + (cents / 10) as u8, b'0' + (cents % 10) as u8]);
        // `,"pad":""}` is 10 bytes.
        if self.record_bytes >= buf.len() + 10 {
            let fill = self.record_bytes - buf.len() - 10;
            buf.extend_from_slice(b",\"pad\":\"");
            buf.resize(buf.len() + fill, b'x');
            buf.push(b'"');
        }
        buf.push(b'}');
        user
    }

    /// How many records are due now, at most `max`.
    fn due(&self, max: u32) -> u64 {
        let mut count = u64::from(max);
        if self.iterations > 0 {
            count = count.min(self.iterations.saturating_sub(self.next));
        }
        if self.rate > 0.0 {
            let due = self.started.1 + (self.started.0.elapsed().as_secs_f64() * self.rate) as u64;
            count = count.min(due.saturating_sub(self.next));
        }
        count
    }
}

impl Source for Datagen {
    fn describe() -> Descriptor {
        Descriptor::source(
            "datagen-source",
            env!("CARGO_PKG_VERSION"),
            &DatagenConfig::schema(),
        )
    }

    fn open(config: Config, resume: Resume) -> Result<Self, ConnectorError> {
        let DatagenConfig {
            rate,
            iterations,
            record_bytes,
            include_worker,
            ..
        } = config.parse()?;
        let partition = format!("datagen-{}", config.task_id()).into_bytes();
        let next = resume
            .position(&partition)
            .and_then(|pos| std::str::from_utf8(pos).ok()?.parse().ok())
            .unwrap_or(0);
        let worker = if include_worker {
            let id = config.get("worker.id").unwrap_or("");
            let generation: i64 = config.parse_or("task.generation", 0)?;
            let id: String = id
                .chars()
                .filter(|c| !c.is_control())
                .flat_map(|c| match c {
                    '"' | '\\' => vec!['\\', c],
                    c => vec![c],
                })
                .collect();
            format!(",\"worker\":\"{id}\",\"generation\":{generation}").into_bytes()
        } else {
            Vec::new()
        };
        Ok(Datagen {
            task: config.task_id(),
            worker,
            partition,
            next,
            rate,
            iterations,
            record_bytes,
            started: (Instant::now(), next),
        })
    }

    fn poll(&mut self, max: u32, batch: &mut SourceBatch) -> Result<(), ConnectorError> {
        let count = self.due(max);
        let mut value = Vec::with_capacity(self.record_bytes.max(64));
        let mut position = Vec::with_capacity(20);
        for n in self.next..self.next + count {
            let user = self.write_value(n, &mut value);
            position.clear();
            push_u64(&mut position, n + 1);
            batch.push_keyed(Some(&value[user]), &value, &self.partition, &position);
        }
        self.next += count;
        Ok(())
    }
}

connectd_sdk::export_source!(Datagen);

#[cfg(test)]
mod tests {
    use connectd_sdk::PollRecords;

    use super::*;

    fn open(pairs: &[(&str, &str)], resume: Vec<(Vec<u8>, Vec<u8>)>) -> Datagen {
        let pairs = [("topic", "t")].iter().chain(pairs).copied();
        Datagen::open(Config::from_pairs(pairs), resume.into()).unwrap()
    }

    #[test]
    fn padded_json_stops_at_iterations_and_resumes_exactly() {
        let mut d = open(
            &[("rate", "0"), ("iterations", "5"), ("record.bytes", "100")],
            vec![],
        );
        let first = d.poll_records(3).unwrap();
        assert_eq!(first.len(), 3);
        for r in &first {
            let v = r.value.as_ref().unwrap();
            assert_eq!(v.len(), 100, "{}", String::from_utf8_lossy(v));
            assert!(v.starts_with(b"{\"id\":") && v.ends_with(b"\"}"));
        }
        assert_eq!(d.poll_records(10).unwrap().len(), 2);
        assert!(d.poll_records(10).unwrap().is_empty());
        let resumed = open(
            &[("rate", "0"), ("record.bytes", "100")],
            vec![(b"datagen-0".to_vec(), first[1].source_position.clone())],
        )
        .poll_records(1)
        .unwrap();
        assert_eq!(resumed[0].value, first[2].value);
    }

    #[test]
    fn values_match_their_format_spelling() {
        for record_bytes in ["0", "100", "300"] {
            let d = open(&[("record.bytes", record_bytes)], vec![]);
            for n in [0u64, 1, 9, 10, 99, 12_345, u64::MAX / 3] {
                let r = mix(n);
                let user = format!("user_{}", r % 100);
                let mut want = format!(
                    "{{\"id\":{n},\"task\":0,\"user\":\"{user}\",\"level\":\"{}\",\"amount\":{}.{:02}",
                    LEVELS[(r >> 8) as usize % LEVELS.len()],
                    (r >> 16) % 1000,
                    (r >> 32) % 100
                );
                if d.record_bytes >= want.len() + 10 {
                    let fill = d.record_bytes - want.len() - 10;
                    want.push_str(&format!(",\"pad\":\"{}\"", "x".repeat(fill)));
                }
                want.push('}');
                assert_eq!(d.value(n), (user, want.into_bytes()), "record {n}");
            }
        }
    }

    #[test]
    fn rate_limits_and_bad_rate_names_the_key() {
        let mut d = open(&[("rate", "1")], vec![]);
        assert!(d.poll_records(100).unwrap().len() <= 1);
        let e = Datagen::open(Config::from_pairs([("rate", "-3")]), Resume::default())
            .err()
            .unwrap();
        assert!(e.to_string().contains("`rate`"), "{e}");
    }
}

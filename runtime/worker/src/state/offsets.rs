//! Source offsets in the internal compacted topic `connectd-offsets`, and how a restart
//! resumes with every record in its topics exactly once, whatever topics and partitions a
//! delivery spans.
//!
//! Three kinds of record, keyed by JSON arrays:
//! - `["<connector>", "<hex source partition>"]` → the position bytes: where to resume;
//! - `["<connector>", "<hex source partition>", "<topic>", <partition>]` → how many records
//!   of that source partition, up to that position, the topic partition holds (decimal,
//!   counted from the connector's first record);
//! - `["<connector>", "<topic>", <partition>, <task>]` → the end offset of that topic
//!   partition after the task's last stored write (or, before its first write there, the end
//!   it found): where a restart starts reading the partition.
//!
//! Why counts: one delivery (one poll) may go to many topic partitions, keyed records to all
//! of a topic's partitions, routed records to several topics. A crash keeps a prefix of what
//! was sent to each partition, but cuts each partition at its own place, so no single
//! position says what reached the topics. The last record of each produced batch therefore
//! carries the [`SOURCE_HEADER`]: for each source partition in the batch, the running count
//! of its records in this topic partition. In-process a batch lands whole or not at all;
//! over the wire librdkafka cuts batches of its own, so a crash can keep part of one of ours,
//! and there every record carries the header (its own source partition's count and
//! position). Positions and counts are stored together, after the records they cover are
//! durable.
//!
//! At start, [`SourceOffsets::recover`] reads every topic partition the connector wrote from
//! its stored end and finds, per (source partition, topic partition), the highest count
//! there: how many records past the stored position each partition already holds. The task
//! polls again from the stored positions, and drops, partition by partition, the records
//! already there ([`Counts`]). This needs what Kafka Connect's exactly-once sources need: a
//! source returns the same records from the same position (the file and datagen sources do),
//! and a topic's partition count does not change in between (keys would route elsewhere).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use connectd_record_batch::ProducerRecord;
use connectd_records::{ConnectorName, Header, Offset, TaskId, TopicPartition};
use serde::Deserialize;

use crate::backend::{self, Producer, Tail, TopicBackend};
use crate::clock::now_ms;
use crate::error::Result;

/// The internal topic holding source offsets.
pub const OFFSETS_TOPIC: &str = "connectd-offsets";
/// Header carrying `["<connector>", [["<hex source partition>", <count>], ...]]`.
pub const SOURCE_HEADER: &str = "connectd.source";

/// (source partition, topic partition) → a count of that source partition's records in that
/// topic partition.
pub type CountMap = HashMap<(Vec<u8>, TopicPartition), u64>;

/// A key of `connectd-offsets`, by its shape.
#[derive(Deserialize)]
#[serde(untagged)]
enum Key {
    Position(String, String),
    Count(String, String, String, i32),
    End(String, String, i32, u32),
}

#[derive(Default)]
struct State {
    /// (connector, source partition) → position.
    positions: HashMap<(String, Vec<u8>), Vec<u8>>,
    /// connector → the stored counts.
    counts: HashMap<String, CountMap>,
    /// (connector, topic partition) → (task → end offset after its last stored write).
    ends: HashMap<(String, TopicPartition), HashMap<u32, i64>>,
}

/// Where a source task resumes its counts: what was stored, and what the topics hold.
#[derive(Debug, Default)]
pub struct Counts {
    /// The counts stored with the positions the task resumes from.
    pub stored: CountMap,
    /// Where a topic partition holds more records of a source partition than `stored` says:
    /// the count it holds. The first `present - stored` records that source partition sends
    /// there again are already in the topic.
    pub present: CountMap,
    /// Source partitions to resume from the position their last record in the topics carries
    /// rather than the stored one: those whose records all go to one topic partition, so the
    /// last one there says exactly how far they got. Nothing is polled again for them, so
    /// they stay exact even when polling again would not return the same records (a table
    /// whose rows changed in between).
    pub positions: HashMap<Vec<u8>, Vec<u8>>,
}

/// Stored source positions of every connector.
pub struct SourceOffsets {
    backend: Arc<dyn TopicBackend>,
    /// Writes `connectd-offsets`; one store at a time.
    producer: Mutex<Box<dyn Producer>>,
    state: Mutex<State>,
    /// The topic's one partition.
    tp: TopicPartition,
    /// Scaled out: follows the topic, where other workers store the positions of tasks that
    /// may move here. The state then changes in the topic's order only, own writes included.
    tail: Option<Mutex<Tail>>,
}

pub(crate) fn hex(bytes: &[u8]) -> String {
    let mut out = Vec::with_capacity(2 * bytes.len());
    push_hex(&mut out, bytes);
    String::from_utf8(out).expect("hex digits are ASCII")
}

fn push_hex(out: &mut Vec<u8>, bytes: &[u8]) {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    for b in bytes {
        out.extend_from_slice(&[DIGITS[usize::from(b >> 4)], DIGITS[usize::from(b & 15)]]);
    }
}

fn unhex(s: &str) -> Option<Vec<u8>> {
    (0..s.len())
        .step_by(2)
        .map(|i| s.get(i..i + 2).and_then(|b| u8::from_str_radix(b, 16).ok()))
        .collect()
}

/// The header a produced batch's last record carries: per source partition in the batch,
/// its running count in the batch's topic partition, and the position of its last record in
/// the batch.
pub(crate) fn source_header<'a>(
    connector: &ConnectorName,
    counts: impl Iterator<Item = (&'a [u8], u64, &'a [u8])>,
) -> Header {
    let counts: Vec<(String, u64, String)> = counts
        .map(|(p, n, position)| (hex(p), n, hex(position)))
        .collect();
    Header {
        key: SOURCE_HEADER.to_string(),
        value: serde_json::to_vec(&(connector.as_str(), counts)).expect("serialises"),
    }
}

/// The start of the [`SOURCE_HEADER`] value [`source_header`] makes for `connector` and one
/// source partition, for [`record_header`].
pub(crate) fn record_header_prefix(connector: &ConnectorName, partition: &[u8]) -> Vec<u8> {
    let mut prefix = b"[".to_vec();
    serde_json::to_writer(&mut prefix, connector.as_str()).expect("serialises");
    prefix.extend_from_slice(b",[[\"");
    push_hex(&mut prefix, partition);
    prefix.extend_from_slice(b"\",");
    prefix
}

/// Writes into `out` (cleared first) the [`SOURCE_HEADER`] value [`source_header`] makes for
/// one source partition at count `n` and `position`, from its [`record_header_prefix`]: the
/// header every record of a batch that may land in part carries, so made without allocating.
pub(crate) fn record_header(prefix: &[u8], n: u64, position: &[u8], out: &mut Vec<u8>) {
    use std::io::Write as _;
    out.clear();
    out.extend_from_slice(prefix);
    write!(out, "{n},\"").expect("writes to a Vec");
    push_hex(out, position);
    out.extend_from_slice(b"\"]]]");
}

/// One source partition in a [`SOURCE_HEADER`]: with its position, or (written before
/// positions were) without.
#[derive(Deserialize)]
#[serde(untagged)]
enum HeaderEntry {
    Reached(String, u64, String),
    Counted(String, u64),
}

/// The counts (and positions) of `connector` in a [`SOURCE_HEADER`] value, if it is one of
/// its.
fn parse_header<'a>(
    connector: &str,
    value: &'a [u8],
) -> Option<impl Iterator<Item = (Vec<u8>, u64, Option<Vec<u8>>)> + 'a> {
    let (c, counts) = serde_json::from_slice::<(String, Vec<HeaderEntry>)>(value).ok()?;
    (c == connector).then(|| {
        counts.into_iter().filter_map(|entry| match entry {
            HeaderEntry::Reached(p, n, position) => Some((unhex(&p)?, n, Some(unhex(&position)?))),
            HeaderEntry::Counted(p, n) => Some((unhex(&p)?, n, None)),
        })
    })
}

fn decimal<T: std::str::FromStr>(value: &[u8]) -> Option<T> {
    std::str::from_utf8(value).ok()?.parse().ok()
}

fn record(key: Vec<u8>, value: Vec<u8>) -> ProducerRecord {
    ProducerRecord {
        key: Some(key),
        value: Some(value),
        headers: Vec::new(),
        timestamp_ms: now_ms(),
    }
}

fn count_record(connector: &str, partition: &[u8], tp: &TopicPartition, n: u64) -> ProducerRecord {
    let key = (connector, hex(partition), &tp.topic, tp.partition);
    record(
        serde_json::to_vec(&key).expect("serialises"),
        n.to_string().into_bytes(),
    )
}

fn end_record(task: &TaskId, tp: &TopicPartition, end: i64) -> ProducerRecord {
    let key = (task.connector.as_str(), &tp.topic, tp.partition, task.task);
    record(
        serde_json::to_vec(&key).expect("serialises"),
        end.to_string().into_bytes(),
    )
}

impl State {
    /// Applies one record of the topic; a `None` value (a tombstone) removes a position.
    fn apply(&mut self, key: &[u8], value: Option<Vec<u8>>) {
        match serde_json::from_slice::<Key>(key) {
            Ok(Key::Position(connector, partition)) => {
                if let Some(partition) = unhex(&partition) {
                    match value {
                        Some(v) => self.positions.insert((connector, partition), v),
                        None => self.positions.remove(&(connector, partition)),
                    };
                }
            }
            Ok(Key::Count(connector, partition, topic, p)) => {
                let n = value.as_deref().and_then(decimal);
                if let (Some(partition), Some(n)) = (unhex(&partition), n) {
                    self.counts
                        .entry(connector)
                        .or_default()
                        .insert((partition, TopicPartition::new(topic, p)), n);
                }
            }
            Ok(Key::End(connector, topic, p, task)) => {
                if let Some(end) = value.as_deref().and_then(decimal) {
                    self.ends
                        .entry((connector, TopicPartition::new(topic, p)))
                        .or_default()
                        .insert(task, end);
                }
            }
            // Another shape (an earlier release's per-connector ends): nothing to resume from.
            Err(_) => {}
        }
    }
}

impl SourceOffsets {
    /// Creates the topic if needed and replays it; `follow`: keeps following it
    /// ([`SourceOffsets::catch_up`]), for a worker of a group.
    pub fn load(backend: Arc<dyn TopicBackend>, topic: &str, follow: bool) -> Result<Self> {
        crate::state::internal_topics::ensure_internal_topic(
            backend.as_ref(),
            topic,
            "source offsets",
            "offset_storage_topic",
        )?;
        let tp = TopicPartition::new(topic, 0);
        let started = std::time::Instant::now();
        let mut state = State::default();
        let mut tail = Tail::new(backend.as_ref(), tp.clone(), Offset::ZERO)?;
        let records = tail.read_new()?;
        let replayed = records.len();
        for record in records {
            if let Some(key) = record.key.as_deref() {
                state.apply(key, record.value);
            }
        }
        tracing::info!(
            records = replayed,
            positions = state.positions.len(),
            ms = started.elapsed().as_millis() as u64,
            "loaded source offsets"
        );
        Ok(SourceOffsets {
            producer: Mutex::new(backend.producer()?),
            backend,
            state: Mutex::new(state),
            tp,
            tail: follow.then(|| Mutex::new(tail)),
        })
    }

    /// Applies what was stored since the last look, by any worker (before a task that may
    /// have run elsewhere starts here). Does nothing unless following.
    pub fn catch_up(&self) -> Result<()> {
        let Some(tail) = &self.tail else {
            return Ok(());
        };
        let mut tail = tail.lock().unwrap_or_else(|e| e.into_inner());
        let records = tail.read_new()?;
        let mut state = self.state();
        for record in records {
            if let Some(key) = record.key.as_deref() {
                state.apply(key, record.value);
            }
        }
        Ok(())
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// What `connector`'s topics hold past its stored positions (see the module docs): reads
    /// each topic partition it wrote from the lowest end any of its tasks stored.
    pub fn recover(&self, connector: &ConnectorName) -> Result<Counts> {
        let connector = connector.as_str();
        let (mut stored, starts) = {
            let state = self.state();
            let starts: Vec<(TopicPartition, i64)> = state
                .ends
                .iter()
                .filter(|((c, _), _)| c == connector)
                .filter_map(|((_, tp), by_task)| Some((tp.clone(), *by_task.values().min()?)))
                .collect();
            (
                state.counts.get(connector).cloned().unwrap_or_default(),
                starts,
            )
        };
        let mut present = CountMap::new();
        // The position at each (source partition, topic partition)'s highest count.
        let mut reached: HashMap<(Vec<u8>, TopicPartition), Option<Vec<u8>>> = HashMap::new();
        let mut scanned = Vec::new();
        for (tp, from) in starts {
            let records = backend::read_to_end(self.backend.as_ref(), &tp, Offset(from))?;
            scanned.push(format!(
                "{tp}@{from}..{}",
                records.last().map_or(from, |r| r.offset + 1)
            ));
            let headers = records
                .iter()
                .flat_map(|r| &r.headers)
                .filter(|h| h.key == SOURCE_HEADER);
            for header in headers {
                for (partition, n, position) in
                    parse_header(connector, &header.value).into_iter().flatten()
                {
                    let key = (partition, tp.clone());
                    if n > stored.get(&key).copied().unwrap_or(0) {
                        let seen = present.entry(key.clone()).or_insert(0);
                        if n >= *seen {
                            *seen = n;
                            reached.insert(key, position);
                        }
                    }
                }
            }
        }
        let mut positions = HashMap::new();
        let mut partitions: HashMap<&Vec<u8>, usize> = HashMap::new();
        for (source, _) in reached.keys().chain(stored.keys()) {
            *partitions.entry(source).or_default() += 1;
        }
        let single: Vec<(Vec<u8>, TopicPartition)> = reached
            .keys()
            .filter(|key| {
                // Only here: no other topic partition, now or stored.
                partitions[&key.0] == 1 + usize::from(stored.contains_key(*key))
            })
            .cloned()
            .collect();
        for key in single {
            if let (Some(Some(position)), Some(n)) = (reached.remove(&key), present.remove(&key)) {
                positions.insert(key.0.clone(), position);
                stored.insert(key, n);
            }
        }
        tracing::info!(
            connector,
            ahead = present.len() + positions.len(),
            resumed_from_topics = positions.len(),
            scanned = %scanned.join(","),
            "read what reached the topics after the stored source offsets"
        );
        Ok(Counts {
            stored,
            present,
            positions,
        })
    }

    /// The stored positions of one connector.
    pub fn resume(&self, connector: &ConnectorName) -> Vec<(Vec<u8>, Vec<u8>)> {
        let connector = connector.as_str();
        self.state()
            .positions
            .iter()
            .filter(|((c, _), _)| c == connector)
            .map(|((_, p), v)| (p.clone(), v.clone()))
            .collect()
    }

    /// Before `task` first writes to `topic`: stores the current end of each of its
    /// partitions that no task of the connector has an end for, so a restart reads them from
    /// there even if the task crashes before it stores anything.
    pub fn register(&self, task: &TaskId, topic: &str, partitions: i32) -> Result<()> {
        let connector = task.connector.as_str();
        let missing: Vec<TopicPartition> = {
            let state = self.state();
            (0..partitions)
                .map(|p| TopicPartition::new(topic, p))
                .filter(|tp| {
                    !state
                        .ends
                        .contains_key(&(connector.to_string(), tp.clone()))
                })
                .collect()
        };
        if missing.is_empty() {
            return Ok(());
        }
        let mut consumer = self.backend.consumer(None)?;
        let mut ends = Vec::new();
        for tp in missing {
            let end = consumer.end_offset(&tp)?.0;
            ends.push((tp, end));
        }
        self.store(task, &[], &[], &ends)
    }

    /// Durably appends `records` to the topic, then applies them.
    fn write(&self, records: Vec<ProducerRecord>) -> Result<()> {
        let mut producer = self.producer.lock().unwrap_or_else(|e| e.into_inner());
        backend::append(producer.as_mut(), &self.tp, &records)?;
        drop(producer);
        if self.tail.is_some() {
            return self.catch_up();
        }
        let mut state = self.state();
        for r in records {
            if let Some(key) = r.key {
                state.apply(&key, r.value);
            }
        }
        Ok(())
    }

    /// Durably stores, for `task`, the latest positions of its source partitions, their
    /// counts in each topic partition, and where its writes ended.
    pub fn store(
        &self,
        task: &TaskId,
        positions: &[(Vec<u8>, Vec<u8>)],
        counts: &[(Vec<u8>, TopicPartition, u64)],
        ends: &[(TopicPartition, i64)],
    ) -> Result<()> {
        let connector = task.connector.as_str();
        let mut records: Vec<ProducerRecord> = positions
            .iter()
            .map(|(p, pos)| {
                record(
                    serde_json::to_vec(&(connector, hex(p))).expect("serialises"),
                    pos.clone(),
                )
            })
            .collect();
        records.extend(
            counts
                .iter()
                .map(|(p, tp, n)| count_record(connector, p, tp, *n)),
        );
        records.extend(ends.iter().map(|(tp, end)| end_record(task, tp, *end)));
        self.write(records)
    }

    /// Sets (or, with `None`, removes) stored positions of a stopped connector (Kafka
    /// Connect's KIP-875). Everything its topics hold now is accounted for first: counts
    /// raised to what the records say and every read start moved to the current end, so the
    /// next start resumes at exactly these positions and drops nothing.
    pub fn alter(
        &self,
        connector: &ConnectorName,
        positions: &[(Vec<u8>, Option<Vec<u8>>)],
    ) -> Result<()> {
        let counts = self.recover(connector)?;
        let name = connector.as_str();
        let mut records: Vec<ProducerRecord> = Vec::new();
        for (p, pos) in positions {
            let key = serde_json::to_vec(&(name, hex(p))).expect("serialises");
            records.push(ProducerRecord {
                key: Some(key),
                value: pos.clone(),
                headers: Vec::new(),
                timestamp_ms: now_ms(),
            });
        }
        for ((p, tp), n) in counts.present {
            records.push(count_record(name, &p, &tp, n));
        }
        let ends: Vec<(TopicPartition, Vec<u32>)> = self
            .state()
            .ends
            .iter()
            .filter(|((c, _), _)| c == name)
            .map(|((_, tp), by_task)| (tp.clone(), by_task.keys().copied().collect()))
            .collect();
        let mut consumer = self.backend.consumer(None)?;
        for (tp, tasks) in ends {
            let end = consumer.end_offset(&tp)?.0;
            for task in tasks {
                let task = TaskId {
                    connector: connector.clone(),
                    task,
                };
                records.push(end_record(&task, &tp, end));
            }
        }
        self.write(records)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_record_header_is_the_source_header_of_its_one_partition() {
        let connector = ConnectorName::new("orders.v2_src-1").unwrap();
        let (partition, position) = (b"datagen-0\x00\xff".as_slice(), b"\x01\x7f12".as_slice());
        let mut out = b"left over".to_vec();
        record_header(
            &record_header_prefix(&connector, partition),
            1_234_567,
            position,
            &mut out,
        );
        let header = source_header(
            &connector,
            std::iter::once((partition, 1_234_567, position)),
        );
        assert_eq!(
            String::from_utf8_lossy(&out),
            String::from_utf8_lossy(&header.value)
        );
        let parsed: Vec<_> = parse_header("orders.v2_src-1", &out).unwrap().collect();
        assert_eq!(
            parsed,
            vec![(partition.to_vec(), 1_234_567, Some(position.to_vec()))]
        );
        assert_eq!(hex(&[0x00, 0x0f, 0xa0, 0xff]), "000fa0ff");
    }

    #[test]
    fn keys_of_each_shape_land_in_their_place() {
        let mut state = State::default();
        let c = "c";
        let key = |v: serde_json::Value| serde_json::to_vec(&v).unwrap();
        state.apply(&key(serde_json::json!([c, "0a"])), Some(b"pos".to_vec()));
        state.apply(&key(serde_json::json!([c, "0b"])), Some(b"gone".to_vec()));
        state.apply(&key(serde_json::json!([c, "0b"])), None);
        state.apply(
            &key(serde_json::json!([c, "0a", "t", 3])),
            Some(b"17".to_vec()),
        );
        state.apply(
            &key(serde_json::json!([c, "t", 3, 1])),
            Some(b"42".to_vec()),
        );
        state.apply(&key(serde_json::json!([c, "t", 3])), Some(b"99".to_vec()));
        assert_eq!(state.positions.len(), 1, "the tombstone removed 0b");
        assert_eq!(state.positions[&(c.into(), vec![10])], b"pos");
        assert_eq!(
            state.counts[c][&(vec![10], TopicPartition::new("t", 3))],
            17
        );
        assert_eq!(
            state.ends[&(c.into(), TopicPartition::new("t", 3))],
            HashMap::from([(1, 42)])
        );
    }

    #[test]
    fn headers_name_their_connector() {
        let name = ConnectorName::new("gen").unwrap();
        let header = source_header(
            &name,
            [(&b"\x01"[..], 5, &b"p5"[..]), (&b"ab"[..], 9, &b""[..])].into_iter(),
        );
        let counts: Vec<_> = parse_header("gen", &header.value).unwrap().collect();
        assert_eq!(
            counts,
            [
                (vec![1], 5, Some(b"p5".to_vec())),
                (b"ab".to_vec(), 9, Some(vec![]))
            ]
        );
        // Headers written before positions were still read.
        let old: Vec<_> = parse_header("gen", b"[\"gen\",[[\"01\",3]]]")
            .unwrap()
            .collect();
        assert_eq!(old, [(vec![1], 3, None)]);
        assert!(parse_header("other", &header.value).is_none());
        assert!(parse_header("gen", b"[\"gen\",\"0a\",\"01\"]").is_none());
    }
}

//! Source offsets in the internal compacted topic `connectd-offsets`.
//!
//! Two kinds of record, both keyed by JSON arrays:
//! - `["<connector>", "<hex source partition>"]` → the position bytes: where to resume;
//! - `["<connector>", "<topic>", <partition>]` → the end offset of that topic partition right
//!   after the connector's last checkpointed write.
//!
//! Records reach their topics before their offsets are stored, so a crash in between leaves
//! written but unrecorded records. Each delivered batch therefore carries, on the last record
//! of each source partition, a [`SOURCE_HEADER`] with (connector, source partition, position).
//! At start, [`SourceOffsets::recover`] reads each topic partition past its recorded end and
//! adopts the positions found there, so a restart resumes exactly after the last record that
//! reached a topic: nothing lost, nothing written twice.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use connectd_records::record_batch::ProducerRecord;
use connectd_records::{ConnectorName, Header, Offset, TopicPartition};

use crate::backend::{self, Producer, TopicBackend};
use crate::{Result, now_ms};

/// The internal topic holding source offsets.
pub const OFFSETS_TOPIC: &str = "connectd-offsets";
/// Header carrying `["<connector>", "<hex source partition>", "<hex position>"]`.
pub const SOURCE_HEADER: &str = "connectd.source";

#[derive(Default)]
struct State {
    /// (connector, source partition) → position.
    positions: HashMap<(String, Vec<u8>), Vec<u8>>,
    /// (connector, topic, partition) → end offset after the last checkpointed write.
    ends: HashMap<(String, String, i32), i64>,
}

/// Stored source positions of every connector.
pub struct SourceOffsets {
    backend: Arc<dyn TopicBackend>,
    /// Writes `connectd-offsets`; one store at a time.
    producer: Mutex<Box<dyn Producer>>,
    state: Mutex<State>,
}

pub(crate) fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn unhex(s: &str) -> Option<Vec<u8>> {
    (0..s.len())
        .step_by(2)
        .map(|i| s.get(i..i + 2).and_then(|b| u8::from_str_radix(b, 16).ok()))
        .collect()
}

/// The header value for one source position.
pub(crate) fn source_header(
    connector: &ConnectorName,
    partition: &[u8],
    position: &[u8],
) -> Header {
    let connector = connector.as_str();
    Header {
        key: SOURCE_HEADER.to_string(),
        value: serde_json::to_vec(&(connector, hex(partition), hex(position))).expect("serialises"),
    }
}

fn offsets_partition() -> TopicPartition {
    TopicPartition::new(OFFSETS_TOPIC, 0)
}

impl SourceOffsets {
    /// Creates the topic if needed and replays it.
    pub fn load(backend: Arc<dyn TopicBackend>) -> Result<Self> {
        backend
            .admin()
            .ensure_topic(OFFSETS_TOPIC, 1, crate::INTERNAL_TOPIC_CONFIGS)?;
        let started = std::time::Instant::now();
        let mut state = State::default();
        let records = backend::read_to_end(backend.as_ref(), &offsets_partition(), Offset::ZERO)?;
        let replayed = records.len();
        for record in records {
            let (Some(key), Some(value)) = (record.key.as_deref(), record.value) else {
                continue;
            };
            if let Ok((connector, partition)) = serde_json::from_slice::<(String, String)>(key) {
                if let Some(partition) = unhex(&partition) {
                    state.positions.insert((connector, partition), value);
                }
            } else if let Ok((connector, topic, partition)) =
                serde_json::from_slice::<(String, String, i32)>(key)
                && let Some(end) = std::str::from_utf8(&value)
                    .ok()
                    .and_then(|v| v.parse().ok())
            {
                state.ends.insert((connector, topic, partition), end);
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
        })
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Adopts the positions of records `connector` wrote to `topics` after its last checkpoint
    /// (see the module docs). Partitions it never checkpointed are read from the start.
    pub fn recover(&self, connector: &ConnectorName, topics: &[(String, i32)]) -> Result<usize> {
        let connector = connector.as_str();
        let mut adopted = 0;
        let mut scanned = Vec::new();
        for (topic, partitions) in topics {
            for partition in 0..*partitions {
                let from = self
                    .state()
                    .ends
                    .get(&(connector.to_string(), topic.clone(), partition))
                    .copied()
                    .unwrap_or(0);
                let tp = TopicPartition::new(topic.clone(), partition);
                let records = backend::read_to_end(self.backend.as_ref(), &tp, Offset(from))?;
                scanned.push(format!(
                    "{topic}/{partition}@{from}..{}",
                    records.last().map_or(from, |r| r.offset + 1)
                ));
                for record in records {
                    for header in &record.headers {
                        if header.key != SOURCE_HEADER {
                            continue;
                        }
                        let Ok((c, p, pos)) =
                            serde_json::from_slice::<(String, String, String)>(&header.value)
                        else {
                            continue;
                        };
                        if let (true, Some(p), Some(pos)) = (c == connector, unhex(&p), unhex(&pos))
                        {
                            self.state().positions.insert((c, p), pos);
                            adopted += 1;
                        }
                    }
                }
            }
        }
        tracing::info!(
            connector,
            records = adopted,
            scanned = %scanned.join(","),
            "adopted the source positions written after the last stored offsets"
        );
        Ok(adopted)
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

    /// Durably stores the latest positions of a connector and where its writes ended.
    pub fn store(
        &self,
        connector: &ConnectorName,
        latest: &[(Vec<u8>, Vec<u8>)],
        ends: &[(String, i32, i64)],
    ) -> Result<()> {
        let connector = connector.as_str();
        let record = |key: Vec<u8>, value: Vec<u8>| ProducerRecord {
            key: Some(key),
            value: Some(value),
            headers: Vec::new(),
            timestamp_ms: now_ms(),
        };
        let mut records: Vec<ProducerRecord> = latest
            .iter()
            .map(|(p, pos)| {
                record(
                    serde_json::to_vec(&(connector, hex(p))).expect("serialises"),
                    pos.clone(),
                )
            })
            .collect();
        records.extend(ends.iter().map(|(t, p, end)| {
            record(
                serde_json::to_vec(&(connector, t, p)).expect("serialises"),
                end.to_string().into_bytes(),
            )
        }));
        let mut producer = self.producer.lock().unwrap_or_else(|e| e.into_inner());
        backend::append(producer.as_mut(), &offsets_partition(), &records)?;
        let mut state = self.state();
        for (partition, position) in latest {
            state
                .positions
                .insert((connector.to_string(), partition.clone()), position.clone());
        }
        for (t, p, end) in ends {
            state
                .ends
                .insert((connector.to_string(), t.clone(), *p), *end);
        }
        Ok(())
    }
}

//! Source offsets in the internal compacted topic `connectd-offsets`: one record per
//! (connector, source partition), key = JSON `["<connector>", "<hex source partition>"]`,
//! value = the position bytes. The latest record per key wins on replay.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use crate::backend::{OutRecord, TopicBackend};
use crate::{Result, now_ms};

/// The internal topic holding source offsets.
pub const OFFSETS_TOPIC: &str = "connectd-offsets";

type Key = (String, Vec<u8>);

/// Stored source positions of every connector.
pub struct SourceOffsets {
    backend: Arc<dyn TopicBackend>,
    positions: Mutex<HashMap<Key, Vec<u8>>>,
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn unhex(s: &str) -> Option<Vec<u8>> {
    (0..s.len())
        .step_by(2)
        .map(|i| s.get(i..i + 2).and_then(|b| u8::from_str_radix(b, 16).ok()))
        .collect()
}

impl SourceOffsets {
    /// Creates the topic if needed and replays it.
    pub fn load(backend: Arc<dyn TopicBackend>) -> Result<Self> {
        backend.ensure_topic(OFFSETS_TOPIC, 1, &[("cleanup.policy", "compact")])?;
        let mut positions = HashMap::new();
        for record in backend.read_from(OFFSETS_TOPIC, 0, 0)? {
            let Some(key) = record
                .key
                .as_deref()
                .and_then(|k| serde_json::from_slice::<(String, String)>(k).ok())
            else {
                continue;
            };
            let Some(partition) = unhex(&key.1) else {
                continue;
            };
            match record.value {
                Some(v) => positions.insert((key.0, partition), v),
                None => positions.remove(&(key.0, partition)),
            };
        }
        Ok(SourceOffsets {
            backend,
            positions: Mutex::new(positions),
        })
    }

    /// The stored positions of one connector.
    pub fn resume(&self, connector: &str) -> Vec<(Vec<u8>, Vec<u8>)> {
        let positions = self.positions.lock().unwrap_or_else(|e| e.into_inner());
        positions
            .iter()
            .filter(|((c, _), _)| c == connector)
            .map(|((_, p), v)| (p.clone(), v.clone()))
            .collect()
    }

    /// Durably stores the latest positions of a connector.
    pub fn store(&self, connector: &str, latest: &[(Vec<u8>, Vec<u8>)]) -> Result<()> {
        let records: Vec<OutRecord> = latest
            .iter()
            .map(|(partition, position)| OutRecord {
                key: Some(serde_json::to_vec(&(connector, hex(partition))).expect("serialises")),
                value: Some(position.clone()),
                headers: Vec::new(),
                timestamp_ms: now_ms(),
            })
            .collect();
        self.backend.append(OFFSETS_TOPIC, 0, &records)?;
        let mut positions = self.positions.lock().unwrap_or_else(|e| e.into_inner());
        for (partition, position) in latest {
            positions.insert((connector.to_string(), partition.clone()), position.clone());
        }
        Ok(())
    }
}

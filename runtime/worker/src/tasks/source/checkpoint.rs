//! Checkpoints: what reached the topics is stored in `connectd-offsets` on an interval, and
//! then told to the plugin (`commit`).

use std::time::{Duration, Instant};

use connectd_host::{SourceTask, TaskError};
use connectd_records::{SourceBatch, TaskId, TopicPartition};

use super::{Positions, SourceTaskContext, Tally};

/// What a delivery adds to the next checkpoint once it is durable.
pub(super) struct Delivered {
    pub positions: Positions,
    pub counts: Tally,
    /// End offset of each topic partition written.
    pub ends: Vec<(TopicPartition, i64)>,
}

impl Delivered {
    /// A delivery that sent nothing and moves no position.
    pub(super) fn nothing() -> Self {
        Delivered {
            positions: Vec::new(),
            counts: Vec::new(),
            ends: Vec::new(),
        }
    }
}

/// The latest position of each source partition in a poll.
pub(super) fn polled_positions(batch: &SourceBatch) -> Positions {
    let mut last_of: Vec<Option<usize>> = vec![None; batch.source_partitions.len()];
    for (i, e) in batch.records.iter().enumerate() {
        if let Some(slot) = last_of.get_mut(e.source_partition as usize) {
            *slot = Some(i);
        }
    }
    last_of
        .iter()
        .flatten()
        .map(|&i| {
            let e = &batch.records[i];
            (
                batch.source_partition_of(e).to_vec(),
                batch.bytes(e.source_position).unwrap_or_default().to_vec(),
            )
        })
        .collect()
}

/// Tells the plugin which positions were stored, if any were. A retryable refusal is
/// ignored: the next store tells it again.
pub(super) fn commit(task: &mut SourceTask, stored: Option<Positions>) -> Result<(), TaskError> {
    match stored.map(|positions| task.commit(positions)) {
        None | Some(Ok(())) | Some(Err(TaskError::Retryable(_))) => Ok(()),
        Some(Err(e)) => Err(e),
    }
}

/// How often a source task stores its offsets in `connectd-offsets` (Kafka Connect's
/// `offset.flush.interval.ms`). Between two stores, the `connectd.source` header of each
/// produced batch already says how far each partition got, and a (re)start drops what is
/// there ([`SourceOffsets::recover`]), so the interval only bounds how much a restart polls
/// again.
const OFFSET_FLUSH_INTERVAL: Duration = Duration::from_secs(1);

/// Positions, counts and topic ends produced since the last store.
pub(super) struct Checkpoint {
    positions: Positions,
    counts: Tally,
    ends: Vec<(TopicPartition, i64)>,
    since: Instant,
}

/// Sets `key`'s value in a small list of pairs.
fn upsert<K: PartialEq, V>(list: &mut Vec<(K, V)>, key: K, value: V) {
    match list.iter_mut().find(|(k, _)| *k == key) {
        Some(entry) => entry.1 = value,
        None => list.push((key, value)),
    }
}

impl Checkpoint {
    pub(super) fn new() -> Self {
        Checkpoint {
            positions: Vec::new(),
            counts: Vec::new(),
            ends: Vec::new(),
            since: Instant::now(),
        }
    }

    pub(super) fn add(&mut self, delivered: Delivered) {
        for (p, pos) in delivered.positions {
            upsert(&mut self.positions, p, pos);
        }
        for (p, tp, n) in delivered.counts {
            match self.counts.iter_mut().find(|(q, u, _)| *q == p && *u == tp) {
                Some(entry) => entry.2 = n,
                None => self.counts.push((p, tp, n)),
            }
        }
        for (tp, end) in delivered.ends {
            upsert(&mut self.ends, tp, end);
        }
    }

    /// Stores what is pending if the interval has passed (or `now` is set); returns the
    /// positions stored.
    pub(super) fn store(
        &mut self,
        ctx: &SourceTaskContext,
        now: bool,
    ) -> Result<Option<Positions>, TaskError> {
        if self.positions.is_empty() || (!now && self.since.elapsed() < OFFSET_FLUSH_INTERVAL) {
            return Ok(None);
        }
        let task = TaskId {
            connector: ctx.connector.name.clone(),
            task: ctx.task_id,
        };
        ctx.offsets
            .store(&task, &self.positions, &self.counts, &self.ends)
            .map_err(|e| TaskError::Retryable(e.to_string()))?;
        let stored = std::mem::take(&mut self.positions);
        *self = Checkpoint::new();
        Ok(Some(stored))
    }
}

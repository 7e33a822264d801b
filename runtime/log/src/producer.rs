//! Idempotent-producer state for one partition: the last batches each producer id wrote, so a
//! retried batch is answered with its original offset instead of being written twice, and a gap
//! in sequence numbers is refused.
//!
//! The state survives restarts as Kafka's does: a snapshot written at every segment roll and
//! at clean shutdown ([`ProducerStates::snapshot`]), and the batch headers after it replayed
//! at open. A retry sent to a broker that was killed after writing the batch is still
//! answered as a duplicate.

use std::collections::{HashMap, VecDeque};

use connectd_record_batch::BatchHeader;

/// How many recent batches per producer are remembered for duplicate detection (Kafka keeps 5,
/// matching `max.in.flight.requests.per.connection`).
const RECENT_BATCHES: usize = 5;

#[derive(Debug, Clone, Copy)]
struct Written {
    first_seq: i32,
    last_seq: i32,
    base_offset: i64,
}

#[derive(Debug, Default)]
struct Producer {
    epoch: i16,
    recent: VecDeque<Written>,
}

/// What to do with an incoming batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SequenceCheck {
    /// New data: append it.
    Append,
    /// A retry of a batch already written at this base offset.
    Duplicate(i64),
    /// A sequence gap: Kafka's OUT_OF_ORDER_SEQUENCE_NUMBER.
    OutOfOrder { expected: i32, got: i32 },
    /// An epoch older than the producer's current one: Kafka's INVALID_PRODUCER_EPOCH.
    StaleEpoch,
}

#[derive(Debug, Default)]
pub(crate) struct ProducerStates {
    producers: HashMap<i64, Producer>,
}

/// Snapshot file format: this magic, the offset the state is complete up to (i64), the
/// number of producers (u32), then per producer its id (i64), epoch (i16), number of recent
/// batches (u8) and each batch's first and last sequence (i32) and base offset (i64), all
/// big-endian.
const SNAPSHOT_MAGIC: &[u8; 4] = b"CPS1";

impl ProducerStates {
    pub fn check(&self, h: &BatchHeader) -> SequenceCheck {
        if h.producer_id < 0 || h.base_sequence < 0 {
            return SequenceCheck::Append;
        }
        let Some(p) = self.producers.get(&h.producer_id) else {
            // Unknown producer (new, or its state predates a restart): accept, as Kafka does
            // once producer state has been lost.
            return SequenceCheck::Append;
        };
        if h.producer_epoch < p.epoch {
            return SequenceCheck::StaleEpoch;
        }
        if h.producer_epoch > p.epoch {
            return if h.base_sequence == 0 {
                SequenceCheck::Append
            } else {
                SequenceCheck::OutOfOrder {
                    expected: 0,
                    got: h.base_sequence,
                }
            };
        }
        if let Some(w) = p
            .recent
            .iter()
            .find(|w| w.first_seq == h.base_sequence && w.last_seq == h.last_sequence())
        {
            return SequenceCheck::Duplicate(w.base_offset);
        }
        let expected = p.recent.back().map_or(0, |w| next_seq(w.last_seq));
        if h.base_sequence != expected {
            return SequenceCheck::OutOfOrder {
                expected,
                got: h.base_sequence,
            };
        }
        SequenceCheck::Append
    }

    pub fn record(&mut self, h: &BatchHeader) {
        if h.producer_id < 0 || h.base_sequence < 0 {
            return;
        }
        let p = self.producers.entry(h.producer_id).or_default();
        if h.producer_epoch != p.epoch {
            p.epoch = h.producer_epoch;
            p.recent.clear();
        }
        if p.recent.len() == RECENT_BATCHES {
            p.recent.pop_front();
        }
        p.recent.push_back(Written {
            first_seq: h.base_sequence,
            last_seq: h.last_sequence(),
            base_offset: h.base_offset,
        });
    }
}

impl ProducerStates {
    /// The state as a snapshot file's bytes, complete up to (not including) `offset`.
    pub fn snapshot(&self, offset: i64) -> Vec<u8> {
        let mut out = Vec::with_capacity(16 + self.producers.len() * 80);
        out.extend_from_slice(SNAPSHOT_MAGIC);
        out.extend_from_slice(&offset.to_be_bytes());
        out.extend_from_slice(&(self.producers.len() as u32).to_be_bytes());
        for (id, p) in &self.producers {
            out.extend_from_slice(&id.to_be_bytes());
            out.extend_from_slice(&p.epoch.to_be_bytes());
            out.push(p.recent.len() as u8);
            for w in &p.recent {
                out.extend_from_slice(&w.first_seq.to_be_bytes());
                out.extend_from_slice(&w.last_seq.to_be_bytes());
                out.extend_from_slice(&w.base_offset.to_be_bytes());
            }
        }
        out
    }

    /// Reads a snapshot: the state and the offset it is complete up to. `None` when the bytes
    /// are not a whole snapshot (the caller then rebuilds from the log).
    pub fn from_snapshot(bytes: &[u8]) -> Option<(i64, ProducerStates)> {
        let mut r = Reader(bytes);
        if r.take::<4>()? != *SNAPSHOT_MAGIC {
            return None;
        }
        let offset = i64::from_be_bytes(r.take()?);
        let count = u32::from_be_bytes(r.take()?);
        let mut producers = HashMap::new();
        for _ in 0..count {
            let id = i64::from_be_bytes(r.take()?);
            let epoch = i16::from_be_bytes(r.take()?);
            let [n] = r.take::<1>()?;
            let mut recent = VecDeque::with_capacity(RECENT_BATCHES);
            for _ in 0..n.min(RECENT_BATCHES as u8) {
                recent.push_back(Written {
                    first_seq: i32::from_be_bytes(r.take()?),
                    last_seq: i32::from_be_bytes(r.take()?),
                    base_offset: i64::from_be_bytes(r.take()?),
                });
            }
            producers.insert(id, Producer { epoch, recent });
        }
        r.0.is_empty()
            .then_some((offset, ProducerStates { producers }))
    }
}

struct Reader<'a>(&'a [u8]);

impl Reader<'_> {
    fn take<const N: usize>(&mut self) -> Option<[u8; N]> {
        let (head, rest) = self.0.split_first_chunk::<N>()?;
        self.0 = rest;
        Some(*head)
    }
}

fn next_seq(seq: i32) -> i32 {
    if seq == i32::MAX { 0 } else { seq + 1 }
}

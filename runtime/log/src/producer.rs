//! Idempotent-producer state for one partition: the last batches each producer id wrote, so a
//! retried batch is answered with its original offset instead of being written twice, and a gap
//! in sequence numbers is refused.

use std::collections::{HashMap, VecDeque};

use connectd_records::record_batch::BatchHeader;

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

fn next_seq(seq: i32) -> i32 {
    if seq == i32::MAX { 0 } else { seq + 1 }
}

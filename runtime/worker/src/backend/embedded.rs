//! The embedded backend: the worker's roles over connectd's own broker engine, in process.
//! It uses only the engine's in-process API ([`Broker`]), never a partition log directly.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use connectd_broker::Broker;
use connectd_records::record_batch::ProducerBatch;
use connectd_records::{Offset, SinkBatch, TopicPartition};

use super::{Admin, Consumer, Producer, TopicBackend};
use crate::{Error, Result};

/// The in-process backend: connectd's embedded broker engine.
pub struct Embedded {
    broker: Arc<Broker>,
}

impl Embedded {
    /// A backend over `broker`.
    pub fn new(broker: Arc<Broker>) -> Self {
        Embedded { broker }
    }
}

fn failed(what: String) -> impl FnOnce(connectd_broker::Error) -> Error {
    move |e| Error::Backend(format!("{what}: {e}"))
}

impl TopicBackend for Embedded {
    fn admin(&self) -> &dyn Admin {
        self
    }

    fn producer(&self) -> Result<Box<dyn Producer>> {
        Ok(Box::new(EmbeddedProducer {
            broker: self.broker.clone(),
            ends: Vec::new(),
        }))
    }

    fn consumer(&self, group: Option<&str>) -> Result<Box<dyn Consumer>> {
        Ok(Box::new(EmbeddedConsumer {
            broker: self.broker.clone(),
            group: group.map(str::to_string),
            positions: Vec::new(),
        }))
    }
}

impl Admin for Embedded {
    fn ensure_topic(&self, topic: &str, partitions: i32, configs: &[(&str, &str)]) -> Result<i32> {
        let configs: BTreeMap<String, String> = configs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        self.broker
            .create_topic(topic, partitions, configs)
            .map_err(failed(format!("creating topic {topic}")))
    }

    fn partitions(&self, topic: &str) -> Result<Option<i32>> {
        Ok(self.broker.partition_count(topic))
    }
}

/// Appends now, fsyncs at [`Producer::flush`].
struct EmbeddedProducer {
    broker: Arc<Broker>,
    /// End offset of each partition written since the last flush.
    ends: Vec<(TopicPartition, Offset)>,
}

impl Producer for EmbeddedProducer {
    fn send(&mut self, tp: &TopicPartition, batch: &ProducerBatch) -> Result<()> {
        let base = self
            .broker
            .produce_deferred(tp, batch.as_bytes())
            .map_err(failed(format!("producing to {tp}")))?;
        let end = base.plus(batch.len() as i64);
        match self.ends.iter_mut().find(|(p, _)| p == tp) {
            Some(e) => e.1 = end,
            None => self.ends.push((tp.clone(), end)),
        }
        Ok(())
    }

    fn flush(&mut self) -> Result<Vec<(TopicPartition, Offset)>> {
        // One sync per partition for everything sent, not one per batch.
        for (tp, _) in &self.ends {
            self.broker
                .sync(tp)
                .map_err(failed(format!("syncing {tp}")))?;
        }
        Ok(std::mem::take(&mut self.ends))
    }
}

/// Reads the engine's logs from its own positions.
struct EmbeddedConsumer {
    broker: Arc<Broker>,
    group: Option<String>,
    positions: Vec<(TopicPartition, Offset)>,
}

impl EmbeddedConsumer {
    fn group(&self) -> Result<&str> {
        self.group
            .as_deref()
            .ok_or_else(|| Error::Backend("this consumer has no group to commit as".into()))
    }
}

impl Consumer for EmbeddedConsumer {
    fn assign(&mut self, positions: &[(TopicPartition, Offset)]) -> Result<()> {
        self.positions = positions.to_vec();
        Ok(())
    }

    fn poll(&mut self, max_bytes: usize, wait: Duration, into: &mut SinkBatch) -> Result<()> {
        let deadline = Instant::now() + wait;
        loop {
            // Read the append count first: an append after it wakes the wait below.
            let seen = self.broker.append_count();
            let mut moved = false;
            for (tp, at) in &mut self.positions {
                let next = self
                    .broker
                    .read(tp, *at, max_bytes, into)
                    .map_err(failed(format!("reading {tp}")))?;
                moved |= next != *at;
                *at = next;
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if !into.is_empty() || moved || left.is_zero() {
                return Ok(());
            }
            self.broker.wait_for_append(seen, left);
        }
    }

    fn position(&self, tp: &TopicPartition) -> Option<Offset> {
        self.positions
            .iter()
            .find(|(p, _)| p == tp)
            .map(|(_, at)| *at)
    }

    fn end_offset(&mut self, tp: &TopicPartition) -> Result<Offset> {
        if self.broker.partition_count(&tp.topic).is_none() {
            return Ok(Offset::ZERO);
        }
        self.broker
            .end_offset(tp)
            .map_err(failed(format!("reading the end of {tp}")))
    }

    fn committed(&mut self, tps: &[TopicPartition]) -> Result<Vec<Option<Offset>>> {
        let group = self.group()?;
        Ok(tps
            .iter()
            .map(|tp| self.broker.committed_offset(group, tp))
            .collect())
    }

    fn commit(&mut self, offsets: &[(TopicPartition, Offset)]) -> Result<()> {
        let group = self.group()?.to_string();
        self.broker
            .commit_offsets(&group, offsets)
            .map_err(failed(format!("committing offsets of {group}")))
    }
}

//! The embedded backend: the worker's roles over connectd's own broker engine, in process.
//! It uses only the engine's in-process API ([`Broker`]), never a partition log directly.

use std::collections::{BTreeMap, VecDeque};
use std::sync::Arc;
use std::time::{Duration, Instant};

use connectd_broker::Broker;
use connectd_record_batch::ProducerBatch;
use connectd_records::{Offset, SinkBatch, TopicPartition};

use super::{Admin, Consumer, Producer, TopicBackend};
use crate::error::{Error, Result};

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

fn failed<E: std::fmt::Display>(what: String) -> impl FnOnce(E) -> Error {
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
            durable: VecDeque::new(),
        }))
    }

    fn lands_batches_whole(&self) -> bool {
        true
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

    fn overview(&self) -> Result<super::Overview> {
        Ok(super::Overview {
            topics: self.broker.topics_overview(),
            groups: self.broker.groups_overview(),
        })
    }
}

/// Appends now, fsyncs at [`Producer::flush`].
struct EmbeddedProducer {
    broker: Arc<Broker>,
    /// End offset of each partition written since the last flush.
    ends: Vec<(TopicPartition, Offset)>,
    /// Deliveries sealed (and so flushed) and not yet reported.
    durable: VecDeque<Vec<(TopicPartition, Offset)>>,
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

    fn seal(&mut self) -> Result<()> {
        let ends = self.flush()?;
        self.durable.push_back(ends);
        Ok(())
    }

    fn durable(&mut self, _wait: Duration) -> Result<Vec<Vec<(TopicPartition, Offset)>>> {
        Ok(self.durable.drain(..).collect())
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

    fn poll(&mut self, max_bytes: usize, wait: Duration, into: &mut SinkBatch) -> Result<bool> {
        let deadline = Instant::now() + wait;
        loop {
            // Read the append count first: an append after it wakes the wait below.
            let seen = self.broker.append_count();
            let mut moved = false;
            for (tp, at) in &mut self.positions {
                let (from, batches) = self
                    .broker
                    .read(tp, *at, max_bytes)
                    .map_err(failed(format!("reading {tp}")))?;
                // Compressed batches are decompressed, control batches skipped.
                let next = match batches {
                    Some(bytes) => Offset(
                        connectd_record_batch::decode_into(
                            &bytes,
                            from.0,
                            &tp.topic,
                            tp.partition,
                            into,
                        )
                        .map_err(failed(format!("decoding {tp}")))?,
                    ),
                    None => from,
                };
                moved |= next != *at;
                *at = next;
            }
            let read = !into.is_empty() || moved;
            let left = deadline.saturating_duration_since(Instant::now());
            if read || left.is_zero() {
                return Ok(read);
            }
            self.broker.wait_for_append(seen, left);
        }
    }

    fn position(&self, tp: &TopicPartition) -> Option<Offset> {
        super::position_in(&self.positions, tp)
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

#[cfg(test)]
mod tests {
    use std::time::Instant;

    use connectd_broker::BrokerConfig;
    use connectd_record_batch::ProducerRecord;
    use connectd_records::Header;

    use super::*;
    use crate::backend::{append, read_to_end};

    /// The engine in a temporary directory, and the runtime its group coordinator needs.
    fn engine() -> (tokio::runtime::Runtime, tempfile::TempDir, Embedded) {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let dir = tempfile::tempdir().unwrap();
        let broker = {
            let _in = runtime.enter();
            Broker::open(BrokerConfig::default(), dir.path()).unwrap()
        };
        (runtime, dir, Embedded::new(broker))
    }

    fn record(value: &str) -> ProducerRecord {
        ProducerRecord {
            key: Some(b"k".to_vec()),
            value: Some(value.as_bytes().to_vec()),
            headers: vec![Header {
                key: "h".into(),
                value: b"v".to_vec(),
            }],
            timestamp_ms: 7,
        }
    }

    #[test]
    fn roles_produce_read_and_commit_through_the_engine() {
        let (_rt, _dir, backend) = engine();
        let admin = backend.admin();
        assert_eq!(admin.partitions("t").unwrap(), None);
        assert_eq!(admin.ensure_topic("t", 2, &[]).unwrap(), 2);
        assert_eq!(
            admin.ensure_topic("t", 5, &[]).unwrap(),
            2,
            "exists already"
        );
        let (p0, p1) = (TopicPartition::new("t", 0), TopicPartition::new("t", 1));
        let mut producer = backend.producer().unwrap();
        producer
            .send(
                &p0,
                &ProducerBatch::from_records(&[record("a"), record("b")]),
            )
            .unwrap();
        producer
            .send(&p1, &ProducerBatch::from_records(&[record("c")]))
            .unwrap();
        producer
            .send(&p0, &ProducerBatch::from_records(&[record("d")]))
            .unwrap();
        let mut ends = producer.flush().unwrap();
        ends.sort();
        assert_eq!(ends, [(p0.clone(), Offset(3)), (p1.clone(), Offset(1))]);
        assert_eq!(producer.flush().unwrap(), [], "nothing sent since");
        assert_eq!(
            append(producer.as_mut(), &p1, &[record("e")]).unwrap(),
            Offset(1)
        );

        let mut consumer = backend.consumer(Some("g")).unwrap();
        assert_eq!(
            consumer.committed(std::slice::from_ref(&p0)).unwrap(),
            [None]
        );
        consumer
            .assign(&[(p0.clone(), Offset(1)), (p1.clone(), Offset::ZERO)])
            .unwrap();
        let mut batch = SinkBatch::default();
        consumer
            .poll(1 << 20, Duration::from_secs(1), &mut batch)
            .unwrap();
        let got: Vec<(i32, i64, Vec<u8>)> = batch
            .iter()
            .map(|r| (r.partition(), r.offset(), r.value().unwrap().to_vec()))
            .collect();
        assert_eq!(
            got,
            [
                (0, 1, b"b".to_vec()),
                (0, 2, b"d".to_vec()),
                (1, 0, b"c".to_vec()),
                (1, 1, b"e".to_vec())
            ]
        );
        let first = batch.to_records().remove(0);
        assert_eq!((first.key, first.timestamp_ms), (Some(b"k".to_vec()), 7));
        assert_eq!(first.headers[0].value, b"v");
        assert_eq!(consumer.position(&p0), Some(Offset(3)));
        assert_eq!(consumer.end_offset(&p1).unwrap(), Offset(2));
        consumer.commit(&[(p0.clone(), Offset(3))]).unwrap();
        let mut again = backend.consumer(Some("g")).unwrap();
        assert_eq!(
            again.committed(&[p0.clone(), p1.clone()]).unwrap(),
            [Some(Offset(3)), None]
        );
        let mut no_group = backend.consumer(None).unwrap();
        assert!(no_group.commit(&[(p0.clone(), Offset(1))]).is_err());
        let replayed = read_to_end(&backend, &p0, Offset::ZERO).unwrap();
        assert_eq!(replayed.len(), 3);
    }

    #[test]
    fn a_caught_up_consumer_waits_for_the_next_send() {
        let (_rt, _dir, backend) = engine();
        backend.admin().ensure_topic("w", 1, &[]).unwrap();
        let tp = TopicPartition::new("w", 0);
        let mut consumer = backend.consumer(None).unwrap();
        consumer.assign(&[(tp.clone(), Offset::ZERO)]).unwrap();
        let mut batch = SinkBatch::default();
        let started = Instant::now();
        consumer
            .poll(1 << 20, Duration::from_millis(200), &mut batch)
            .unwrap();
        assert!(batch.is_empty());
        assert!(started.elapsed() >= Duration::from_millis(200), "it waited");
        std::thread::scope(|s| {
            s.spawn(|| {
                std::thread::sleep(Duration::from_millis(100));
                let mut producer = backend.producer().unwrap();
                append(producer.as_mut(), &tp, &[record("late")]).unwrap();
            });
            let started = Instant::now();
            consumer
                .poll(1 << 20, Duration::from_secs(30), &mut batch)
                .unwrap();
            assert_eq!(batch.len(), 1);
            assert!(
                started.elapsed() < Duration::from_secs(10),
                "woken by the send, not the timeout"
            );
        });
    }
}

//! The Kafka backend: the worker's roles over any Kafka cluster through librdkafka (the
//! `rdkafka` crate), connectd's own broker over the wire included. `[broker] mode = "kafka"`.
//!
//! - Admin: `CreateTopics` (TOPIC_ALREADY_EXISTS is success) and `Metadata`.
//! - Producer: librdkafka's idempotent producer (`acks=all`), record by record in order, with
//!   each record tagged by the delivery it belongs to; delivery reports are served from the
//!   producer's queue as soon as they arrive ([`native::MainQueue`]), so a delivery is known
//!   durable when its last record is acknowledged, while later ones are already on their way.
//! - Consumer: assigned partitions (no group membership: the worker assigns), reading from
//!   given offsets, many records a call ([`native::ConsumerQueue`]), committing with
//!   `OffsetCommit` for the sink's group.
//!
//! Any librdkafka property from worker.toml's `[kafka]` table is set on every client (security,
//! SASL, TLS, compression), after connectd's own defaults.

use std::collections::{HashMap, VecDeque};
use std::time::{Duration, Instant};

use connectd_record_batch::ProducerBatch;
use connectd_records::{Offset, SinkBatch, TopicPartition};
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer as _};
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::message::{Header, OwnedHeaders};
use rdkafka::producer::{BaseProducer, BaseRecord, DeliveryResult, Producer as _, ProducerContext};
use rdkafka::{ClientConfig, ClientContext, TopicPartitionList};

use super::{Admin, Consumer, Producer, TopicBackend, native};
use crate::error::{Error, Result};

/// How long a metadata, admin or offsets call waits for the cluster.
const TIMEOUT: Duration = Duration::from_secs(30);
/// How long [`Producer::flush`] waits for delivery reports.
const FLUSH_TIMEOUT: Duration = Duration::from_secs(120);
/// Most records a consumer takes from librdkafka's queue in one call.
const TAKE: usize = 1000;
/// How many records before a position a consumer starts fetching, dropping what is below it.
/// A Kafka broker answers a fetch from an offset inside a record batch with that whole batch,
/// and the client skips the records before the offset; tansu 0.6 answers from the next batch
/// on, and with nothing when the batch is the partition's last, so a reader resuming inside a
/// batch (a sink from its group's commit, a source's recovery from a stored end) would never
/// see the rest of it. Starting one batch early (librdkafka's producers batch at most
/// `batch.num.messages` records, 10,000 by default) gets the whole batch from such a broker
/// too. Against a broker that behaves it costs up to that many records read and dropped per
/// partition at each assignment.
const FETCH_BACK: i64 = 10_000;
/// How long a producer waits for delivery reports when librdkafka's queue is full.
const QUEUE_FULL_WAIT: Duration = Duration::from_millis(1);

fn failed(what: String) -> impl FnOnce(KafkaError) -> Error {
    move |e| Error::Backend(format!("{what}: {e}"))
}

/// A Kafka cluster reached through librdkafka.
pub struct Kafka {
    bootstrap: String,
    properties: Vec<(String, String)>,
    admin: AdminClient<DefaultClientContext>,
    /// The last overview read, and when (the status page asks every second).
    overview: std::sync::Mutex<Option<(Instant, super::Overview)>>,
}

impl Kafka {
    /// Connects to `bootstrap` (`host:port,...`) with extra librdkafka `properties`, and
    /// checks that the cluster answers, so a wrong address fails at start with its name.
    pub fn connect(bootstrap: &str, properties: Vec<(String, String)>) -> Result<Self> {
        let kafka = Kafka {
            bootstrap: bootstrap.to_string(),
            admin: Self::config_for(bootstrap, &properties, &[])
                .create()
                .map_err(failed(format!("creating an admin client for {bootstrap}")))?,
            properties,
            overview: std::sync::Mutex::new(None),
        };
        kafka
            .admin
            .inner()
            .fetch_metadata(None, Duration::from_secs(10))
            .map_err(failed(format!(
                "reaching the Kafka cluster at {bootstrap} ([broker] bootstrap_servers); is it running and reachable?"
            )))?;
        Ok(kafka)
    }

    fn config_for(
        bootstrap: &str,
        properties: &[(String, String)],
        defaults: &[(&str, &str)],
    ) -> ClientConfig {
        let mut c = ClientConfig::new();
        c.set("bootstrap.servers", bootstrap);
        c.set("client.id", "connectd-worker");
        for (k, v) in defaults {
            c.set(*k, *v);
        }
        for (k, v) in properties {
            c.set(k, v);
        }
        c
    }

    fn config(&self, defaults: &[(&str, &str)]) -> ClientConfig {
        Self::config_for(&self.bootstrap, &self.properties, defaults)
    }
}

impl TopicBackend for Kafka {
    fn admin(&self) -> &dyn Admin {
        self
    }

    fn producer(&self) -> Result<Box<dyn Producer>> {
        let producer: BaseProducer<Reports> = self
            .config(&[
                ("enable.idempotence", "true"),
                // A record that fails for good fails every later one of the producer too,
                // instead of librdkafka sending them on: a source's later deliveries never
                // land past a gap, which a restart would take for records already there.
                ("enable.gapless.guarantee", "true"),
                ("acks", "all"),
                ("linger.ms", "5"),
            ])
            .create_with_context(Reports)
            .map_err(failed("creating a producer".into()))?;
        // SAFETY: the producer (with the crate's event API on) outlives the queue: the queue
        // is declared first in KafkaProducer, so it is dropped first.
        let reports = unsafe { native::MainQueue::new(producer.client().native_ptr()) };
        Ok(Box::new(KafkaProducer {
            reports,
            producer,
            tracker: Tracker::default(),
        }))
    }

    fn lands_batches_whole(&self) -> bool {
        false
    }

    fn consumer(&self, group: Option<&str>) -> Result<Box<dyn Consumer>> {
        // A reader that never commits still needs a group id for librdkafka.
        let group_id = group
            .map(str::to_string)
            .unwrap_or_else(|| format!("connectd-reader-{}", uuid::Uuid::new_v4()));
        let consumer: BaseConsumer = self
            .config(&[
                ("group.id", group_id.as_str()),
                ("enable.auto.commit", "false"),
                ("enable.auto.offset.store", "false"),
                ("auto.offset.reset", "earliest"),
                ("enable.partition.eof", "false"),
                // librdkafka stops fetching a partition for this long once it holds more than
                // `queued.min.messages` (100,000) of its records; at its default of a second,
                // a sink that fell that far behind for a moment then waited a second for data.
                ("fetch.queue.backoff.ms", "10"),
                // A reader without a group catches up with a topic and stops (internal
                // topics, a source's scan at start): it should not wait long for more.
                (
                    "fetch.wait.max.ms",
                    if group.is_some() { "500" } else { "50" },
                ),
            ])
            .create()
            .map_err(failed("creating a consumer".into()))?;
        // SAFETY: the consumer outlives the queue: the queue is declared first in
        // KafkaConsumer, so it is dropped first.
        let queue = unsafe { native::ConsumerQueue::new(consumer.client().native_ptr()) };
        Ok(Box::new(KafkaConsumer {
            queue,
            consumer,
            positions: Vec::new(),
            fetched_from: Vec::new(),
            can_commit: group.is_some(),
        }))
    }
}

impl Admin for Kafka {
    fn ensure_topic(&self, topic: &str, partitions: i32, configs: &[(&str, &str)]) -> Result<i32> {
        let mut new = NewTopic::new(topic, partitions, TopicReplication::Fixed(-1));
        for (k, v) in configs {
            new = new.set(k, v);
        }
        let options = AdminOptions::new().operation_timeout(Some(TIMEOUT));
        // The admin client's own polling thread completes the future: no async runtime is
        // needed to wait for it (a private one would be dropped on a tokio worker at shutdown,
        // where dropping a runtime panics).
        let results = futures::executor::block_on(self.admin.create_topics([&new], &options))
            .map_err(failed(format!("creating topic {topic}")))?;
        for result in results {
            match result {
                Ok(_) | Err((_, RDKafkaErrorCode::TopicAlreadyExists)) => {}
                Err((name, code)) => {
                    return Err(Error::Backend(format!(
                        "creating topic {name}: {code}; create it yourself, or allow the worker to"
                    )));
                }
            }
        }
        // A topic just created may take a moment to show in metadata.
        for _ in 0..50 {
            if let Some(n) = self.partitions(topic)? {
                return Ok(n);
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        Err(Error::Backend(format!(
            "topic {topic} was created but does not show in metadata"
        )))
    }

    fn partitions(&self, topic: &str) -> Result<Option<i32>> {
        let metadata = self
            .admin
            .inner()
            .fetch_metadata(Some(topic), TIMEOUT)
            .map_err(failed(format!("reading metadata of {topic}")))?;
        Ok(metadata
            .topics()
            .iter()
            .find(|t| t.name() == topic && t.error().is_none() && !t.partitions().is_empty())
            .map(|t| t.partitions().len() as i32))
    }

    fn overview(&self) -> Result<super::Overview> {
        let mut cached = self.overview.lock().unwrap_or_else(|e| e.into_inner());
        if let Some((at, overview)) = cached.as_ref()
            && at.elapsed() < super::overview::REREAD
        {
            return Ok(overview.clone());
        }
        let overview = super::overview::read(self.admin.inner(), |group| {
            self.config(&[("group.id", group), ("enable.auto.commit", "false")])
                .create::<BaseConsumer>()
                .map_err(failed(format!(
                    "creating a consumer to read group {group}'s offsets"
                )))
        })
        .unwrap_or_else(|e| {
            // The page shows the connectors still; tried again after REREAD, not every call.
            tracing::warn!(error = %e, "could not read the cluster's topics for the status page");
            super::Overview::default()
        });
        *cached = Some((Instant::now(), overview.clone()));
        Ok(overview)
    }
}

/// The deliveries of one producer, oldest first: how many of each one's records await their
/// delivery report, where each partition it wrote ends, and its errors.
#[derive(Default)]
struct Tracker {
    /// The sequence number of `open[0]` (a record's delivery opaque is its delivery's number).
    first: usize,
    /// Sealed deliveries not yet reported durable, then at most one still open (unsealed).
    open: VecDeque<Delivery>,
}

#[derive(Default)]
struct Delivery {
    /// Records handed to librdkafka whose delivery report has not come.
    outstanding: usize,
    /// End offset (last offset + 1) of each partition written.
    ends: Vec<(TopicPartition, i64)>,
    /// Records not delivered, and the first one's error.
    failed: usize,
    error: Option<String>,
    /// No more records are added to it.
    sealed: bool,
}

impl Tracker {
    /// The number of the open delivery, opening one if the last is sealed.
    fn open(&mut self) -> usize {
        if self.open.back().is_none_or(|d| d.sealed) {
            self.open.push_back(Delivery::default());
        }
        self.first + self.open.len() - 1
    }

    /// Counts one record's delivery report against its delivery (the record's opaque).
    fn report(&mut self, m: &rdkafka::bindings::rd_kafka_message_t) {
        let first = self.first;
        let Some(d) = (m._private as usize)
            .checked_sub(first)
            .and_then(|i| self.open.get_mut(i))
        else {
            return; // a delivery already failed and dropped
        };
        d.outstanding = d.outstanding.saturating_sub(1);
        // SAFETY: a report served from a live producer's queue.
        let topic = unsafe { native::topic_of(m) };
        if m.err == rdkafka::bindings::rd_kafka_resp_err_t::RD_KAFKA_RESP_ERR_NO_ERROR {
            match d
                .ends
                .iter_mut()
                .find(|(tp, _)| tp.partition == m.partition && tp.topic == topic)
            {
                Some((_, end)) => *end = (*end).max(m.offset + 1),
                None => d
                    .ends
                    .push((TopicPartition::new(topic, m.partition), m.offset + 1)),
            }
        } else {
            d.failed += 1;
            d.error.get_or_insert_with(|| {
                format!("{topic}/{}: {}", m.partition, RDKafkaErrorCode::from(m.err))
            });
        }
    }

    /// Takes the sealed deliveries at the front whose every record is acknowledged, with
    /// their ends; an error for the first one that failed. One that waits does not fail:
    /// librdkafka fails its records after `message.timeout.ms` (and a new producer's records
    /// could not be told from them by the broker).
    fn take_durable(&mut self) -> Result<Vec<Vec<(TopicPartition, Offset)>>> {
        let mut done = Vec::new();
        while let Some(d) = self.open.pop_front_if(|d| d.sealed && d.outstanding == 0) {
            self.first += 1;
            if let Some(e) = d.error {
                return Err(Error::Backend(format!(
                    "{} records not delivered, e.g. {e}",
                    d.failed
                )));
            }
            done.push(
                d.ends
                    .into_iter()
                    .map(|(tp, end)| (tp, Offset(end)))
                    .collect(),
            );
        }
        Ok(done)
    }
}

/// A producer's context. Its delivery reports are served by [`KafkaProducer`] from the main
/// queue as soon as they arrive (the crate's own `poll` waits out its whole timeout); the
/// crate serves them itself only while the producer is dropped, when nobody waits for them.
struct Reports;

impl ClientContext for Reports {}

impl ProducerContext for Reports {
    type DeliveryOpaque = usize;

    fn delivery(&self, _: &DeliveryResult<'_>, _: usize) {}
}

struct KafkaProducer {
    /// The producer's main queue: declared first, so released before the client.
    reports: native::MainQueue,
    producer: BaseProducer<Reports>,
    tracker: Tracker,
}

impl KafkaProducer {
    /// Serves the delivery reports there are, waiting up to `wait` for the first.
    fn serve(&mut self, wait: Duration) {
        let tracker = &mut self.tracker;
        let millis = i32::try_from(wait.as_micros().div_ceil(1000)).unwrap_or(i32::MAX);
        self.reports.serve(millis, |m| tracker.report(m));
    }
}

impl Producer for KafkaProducer {
    fn send(&mut self, tp: &TopicPartition, batch: &ProducerBatch) -> Result<()> {
        let records = batch
            .records()
            .map_err(|e| Error::Backend(format!("reading a batch for {tp}: {e}")))?;
        let delivery = self.tracker.open();
        for r in records {
            let mut headers = OwnedHeaders::new_with_capacity(r.headers.len());
            for (k, v) in &r.headers {
                headers = headers.insert(Header {
                    key: &String::from_utf8_lossy(k),
                    value: Some(*v),
                });
            }
            let mut record = BaseRecord::with_opaque_to(&tp.topic, delivery)
                .partition(tp.partition)
                .timestamp(r.timestamp_ms)
                .headers(headers);
            if let Some(k) = r.key {
                record = record.key(k);
            }
            if let Some(v) = r.value {
                record = record.payload(v);
            }
            loop {
                match self.producer.send::<[u8], [u8]>(record) {
                    Ok(()) => break,
                    // librdkafka's queue is full: serve delivery reports until there is room.
                    Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), back)) => {
                        record = back;
                        self.serve(QUEUE_FULL_WAIT);
                    }
                    Err((e, _)) => return Err(failed(format!("producing to {tp}"))(e)),
                }
            }
            // Counted once handed over: its report can only come from a later `serve`.
            if let Some(d) = self.tracker.open.back_mut() {
                d.outstanding += 1;
            }
        }
        Ok(())
    }

    fn seal(&mut self) -> Result<()> {
        self.tracker.open();
        if let Some(d) = self.tracker.open.back_mut() {
            d.sealed = true;
        }
        Ok(())
    }

    fn durable(&mut self, wait: Duration) -> Result<Vec<Vec<(TopicPartition, Offset)>>> {
        let deadline = Instant::now() + wait;
        loop {
            self.serve(deadline.saturating_duration_since(Instant::now()));
            let done = self.tracker.take_durable()?;
            if !done.is_empty() || Instant::now() >= deadline {
                return Ok(done);
            }
        }
    }

    fn flush(&mut self) -> Result<Vec<(TopicPartition, Offset)>> {
        self.seal()?;
        let started = Instant::now();
        let mut ends: HashMap<TopicPartition, Offset> = HashMap::new();
        while !self.tracker.open.is_empty() {
            if started.elapsed() > FLUSH_TIMEOUT {
                return Err(Error::Backend(format!(
                    "records sent {} s ago are still not acknowledged",
                    FLUSH_TIMEOUT.as_secs()
                )));
            }
            for delivery in self.durable(Duration::from_millis(100))? {
                for (tp, end) in delivery {
                    let at = ends.entry(tp).or_insert(end);
                    *at = (*at).max(end);
                }
            }
        }
        Ok(ends.into_iter().collect())
    }
}

struct KafkaConsumer {
    /// The consumer's queue, read many records a call: declared first, so released before
    /// the client.
    queue: native::ConsumerQueue,
    consumer: BaseConsumer,
    positions: Vec<(TopicPartition, Offset)>,
    /// Where librdkafka was told to fetch each of `positions` from (same order), until the
    /// partition's first record kept ([`keep`]).
    fetched_from: Vec<i64>,
    can_commit: bool,
}

/// Whether to keep a record read at `offset` of a partition standing at `at`, which librdkafka
/// was told to fetch from `from` ([`FETCH_BACK`]): not the records fetched early, below the
/// position; but a record below `from` means librdkafka reset the partition to a start below
/// it (a log cut back), and is read on. The first record kept ends the early part (`from`
/// becomes [`READING`]): after it, librdkafka goes back only when it resets or truncates the
/// partition, and what it reads then is read on, as before.
fn keep(offset: i64, at: i64, from: i64) -> bool {
    offset >= at || offset < from
}

/// A partition's `from` once its early part is over: every record is kept.
const READING: i64 = i64::MAX;

/// A partition's records as the consumer reads them: its topic handle and partition, its
/// topic's index in the batch being read, and its index in the consumer's positions. Looked up
/// at the first of a run of records from one partition (the name read from librdkafka and
/// compared, once) and used for the rest.
#[derive(Clone, Copy)]
struct Looked {
    rkt: *mut rdkafka::bindings::rd_kafka_topic_t,
    partition: i32,
    topic: u32,
    position: Option<usize>,
}

fn list(offsets: &[(TopicPartition, Offset)]) -> Result<TopicPartitionList> {
    let mut tpl = TopicPartitionList::new();
    for (tp, at) in offsets {
        tpl.add_partition_offset(&tp.topic, tp.partition, rdkafka::Offset::Offset(at.0))
            .map_err(failed(format!("listing {tp}")))?;
    }
    Ok(tpl)
}

impl Consumer for KafkaConsumer {
    fn assign(&mut self, positions: &[(TopicPartition, Offset)]) -> Result<()> {
        // Each partition FETCH_BACK records early, within its log (below its start,
        // librdkafka would warn and start over). Not checked against the log's end: tansu
        // 0.6 answers a partition's end wrong (1 after one batch of 10 records). So a position
        // past the end by less than FETCH_BACK waits for that offset, as the embedded
        // backend's reader does; farther, the broker answers out of range and librdkafka
        // starts over at the log's start, as before.
        let mut early = Vec::with_capacity(positions.len());
        for (tp, at) in positions {
            let from = match at.0 {
                0 => 0,
                at => {
                    let (low, _) = self
                        .consumer
                        .fetch_watermarks(&tp.topic, tp.partition, TIMEOUT)
                        .map_err(failed(format!("reading where {tp} starts")))?;
                    (at - FETCH_BACK).max(low).max(0)
                }
            };
            early.push((tp.clone(), Offset(from)));
        }
        self.consumer
            .assign(&list(&early)?)
            .map_err(failed("assigning partitions".into()))?;
        self.fetched_from = early.iter().map(|(_, from)| from.0).collect();
        self.positions = positions.to_vec();
        Ok(())
    }

    fn poll(&mut self, max_bytes: usize, wait: Duration, into: &mut SinkBatch) -> Result<bool> {
        let budget = max_bytes.saturating_mul(self.positions.len().max(1));
        let mut bytes = 0;
        let wait = i32::try_from(wait.as_millis()).unwrap_or(i32::MAX);
        // librdkafka's batch call waits until it has all it asked for: what is there is taken
        // without waiting, and only when nothing is, one record is waited for (once).
        let (mut may_wait, mut wait_for_one) = (wait > 0, false);
        let mut error = None;
        // The partition of the record before, looked up once for the records after it from
        // the same partition.
        let mut last: Option<Looked> = None;
        // Whether librdkafka handed over any record, dropped ones included.
        let mut read = false;
        loop {
            let (positions, fetched_from) = (&mut self.positions, &mut self.fetched_from);
            let (timeout, max) = if wait_for_one { (wait, 1) } else { (0, TAKE) };
            let took = self.queue.take(timeout, max, |m| {
                if error.is_some() {
                    return; // the batch ends at an error; its records are read again
                }
                if m.err != rdkafka::bindings::rd_kafka_resp_err_t::RD_KAFKA_RESP_ERR_NO_ERROR {
                    error.get_or_insert_with(|| {
                        format!(
                            "reading {}/{}: {}",
                            // SAFETY: a live message, read within this call.
                            unsafe { native::topic_of(&m) },
                            m.partition,
                            RDKafkaErrorCode::from(m.err)
                        )
                    });
                    return;
                }
                let looked = match last {
                    Some(looked) if looked.rkt == m.rkt && looked.partition == m.partition => {
                        looked
                    }
                    _ => {
                        // SAFETY: as above.
                        let name = unsafe { native::topic_of(&m) };
                        let looked = Looked {
                            rkt: m.rkt,
                            partition: m.partition,
                            topic: into.topic_index(name),
                            position: positions.iter().position(|(tp, _)| {
                                tp.partition == m.partition && tp.topic == name
                            }),
                        };
                        last = Some(looked);
                        looked
                    }
                };
                if let Some(at) = looked.position {
                    if !keep(m.offset, positions[at].1.0, fetched_from[at]) {
                        return;
                    }
                    fetched_from[at] = READING;
                }
                // SAFETY: as above.
                let record = unsafe { native::Record::of(&m) };
                into.push_parts(
                    looked.topic,
                    m.partition,
                    m.offset,
                    record.timestamp_ms,
                    record.key,
                    record.value,
                    native::headers_of(m),
                );
                bytes += m.len + m.key_len;
                if let Some(at) = looked.position {
                    positions[at].1 = Offset(m.offset + 1);
                }
            });
            read |= took > 0;
            if bytes >= budget || error.is_some() || (took == 0 && !may_wait) {
                break;
            }
            wait_for_one = took == 0;
            may_wait = false;
        }
        match error {
            Some(e) => Err(Error::Backend(e)),
            None => Ok(read),
        }
    }

    fn position(&self, tp: &TopicPartition) -> Option<Offset> {
        super::position_in(&self.positions, tp)
    }

    fn end_offset(&mut self, tp: &TopicPartition) -> Result<Offset> {
        let (_, high) = self
            .consumer
            .fetch_watermarks(&tp.topic, tp.partition, TIMEOUT)
            .map_err(failed(format!("reading the end of {tp}")))?;
        Ok(Offset(high))
    }

    fn committed(&mut self, tps: &[TopicPartition]) -> Result<Vec<Option<Offset>>> {
        let mut tpl = TopicPartitionList::new();
        for tp in tps {
            tpl.add_partition(&tp.topic, tp.partition);
        }
        let committed = self
            .consumer
            .committed_offsets(tpl, TIMEOUT)
            .map_err(failed("reading committed offsets".into()))?;
        Ok(tps
            .iter()
            .map(|tp| {
                match committed
                    .find_partition(&tp.topic, tp.partition)
                    .map(|e| e.offset())
                {
                    Some(rdkafka::Offset::Offset(o)) if o >= 0 => Some(Offset(o)),
                    _ => None,
                }
            })
            .collect())
    }

    fn commit(&mut self, offsets: &[(TopicPartition, Offset)]) -> Result<()> {
        if !self.can_commit {
            return Err(Error::Backend(
                "this consumer has no group to commit as".into(),
            ));
        }
        self.consumer
            .commit(&list(offsets)?, CommitMode::Sync)
            .map_err(failed("committing offsets".into()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The records of `offsets` a partition at `at`, fetched from `from`, keeps (as `poll`
    /// does).
    fn kept(at: i64, from: i64, offsets: &[i64]) -> Vec<i64> {
        let (mut at, mut from) = (at, from);
        let mut out = Vec::new();
        for &offset in offsets {
            if keep(offset, at, from) {
                out.push(offset);
                at = offset + 1;
                from = READING;
            }
        }
        out
    }

    #[test]
    fn the_records_fetched_early_are_dropped() {
        assert_eq!(kept(5, 0, &[0, 1, 2, 3, 4, 5, 6]), vec![5, 6]);
        // tansu, from 5 inside a batch of 0..9: fetched from 0, its batch comes whole.
        assert_eq!(
            kept(5, 0, &(0..12).collect::<Vec<_>>()),
            (5..12).collect::<Vec<_>>()
        );
    }

    #[test]
    fn once_reading_a_start_over_is_read_on() {
        // librdkafka resets or truncates a partition read on: what it reads then is read.
        assert_eq!(kept(0, 0, &[0, 1, 2, 1, 2, 3]), vec![0, 1, 2, 1, 2, 3]);
        assert_eq!(kept(5, 0, &[4, 5, 6, 0, 1]), vec![5, 6, 0, 1]);
    }

    #[test]
    fn a_reset_below_where_it_fetched_from_is_read_on() {
        // A log cut back below where it was fetched from: librdkafka starts over lower.
        assert_eq!(kept(20_000, 10_000, &[3, 4]), vec![3, 4]);
        assert_eq!(kept(600, 600, &[0, 1, 2]), vec![0, 1, 2]);
    }
}

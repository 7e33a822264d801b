//! kill -9 during a produce with acks=all, then a restart: every acknowledged message is
//! there, at the offset it was acknowledged with, and so are the committed group offsets.
//! Repeated over several rounds so the kill lands at different moments.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::support::{Connectd, read_to_end};
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer};
use rdkafka::message::{DeliveryResult, Message};
use rdkafka::producer::{BaseRecord, ProducerContext, ThreadedProducer};
use rdkafka::{ClientContext, Offset, TopicPartitionList};

/// Records every acknowledged delivery: (partition, offset) -> value.
#[derive(Default, Clone)]
struct Acks(Arc<Mutex<HashMap<(i32, i64), String>>>);

impl ClientContext for Acks {}
impl ProducerContext for Acks {
    type DeliveryOpaque = ();
    fn delivery(&self, result: &DeliveryResult<'_>, _: ()) {
        if let Ok(m) = result {
            let value = String::from_utf8(m.payload().unwrap().to_vec()).unwrap();
            self.0
                .lock()
                .unwrap()
                .insert((m.partition(), m.offset()), value);
        }
    }
}

/// Everything `topic` holds now, by (partition, offset).
fn read_everything(c: &Connectd, topic: &str, partitions: i32) -> HashMap<(i32, i64), String> {
    read_to_end(&c.bootstrap(), topic, partitions)
        .into_iter()
        .map(|r| ((r.partition, r.offset), r.text))
        .collect()
}

#[test]
fn kill9_during_acks_all_produce_loses_nothing_acknowledged() {
    let mut c = Connectd::start("");
    c.cli(
        &[
            "topics",
            "create",
            "durable",
            "--partitions",
            "4",
            "--config",
            "segment.bytes=262144",
        ],
        None,
    );
    let acks = Acks::default();
    let mut committed: HashMap<i32, i64> = HashMap::new();
    let mut next_value = 0usize;
    for round in 0..4 {
        let acked_before = acks.0.lock().unwrap().len();
        let producer: ThreadedProducer<Acks> = c
            .client()
            .set("acks", "all")
            .set("enable.idempotence", "true")
            .set("linger.ms", "2")
            .set("message.timeout.ms", "3000")
            .create_with_context(acks.clone())
            .unwrap();
        let stop = Arc::new(AtomicBool::new(false));
        let sender = {
            let stop = stop.clone();
            let start = next_value;
            std::thread::spawn(move || {
                let mut i = start;
                while !stop.load(Ordering::Relaxed) {
                    let value = format!("round{round}-{i}-{}", "x".repeat(i % 200));
                    if producer
                        .send(BaseRecord::<(), String>::to("durable").payload(&value))
                        .is_ok()
                    {
                        i += 1;
                    } else {
                        std::thread::sleep(Duration::from_millis(1));
                    }
                    if i.is_multiple_of(50) {
                        std::thread::sleep(Duration::from_millis(1));
                    }
                }
                drop(producer);
                i
            })
        };
        // Commit group offsets for whatever is there while the producer runs.
        std::thread::sleep(Duration::from_millis(300 + 150 * round as u64));
        let group: BaseConsumer = c
            .client()
            .set("group.id", "crash-group")
            .set("enable.auto.commit", "false")
            .create()
            .unwrap();
        let mut tpl = TopicPartitionList::new();
        for p in 0..4 {
            let (_, high) = group
                .fetch_watermarks("durable", p, Duration::from_secs(10))
                .unwrap();
            tpl.add_partition_offset("durable", p, Offset::Offset(high / 2))
                .unwrap();
            committed.insert(p, high / 2);
        }
        group.commit(&tpl, CommitMode::Sync).unwrap();
        drop(group);
        std::thread::sleep(Duration::from_millis(200 + 100 * round as u64));
        // On a loaded machine the first acknowledgements can take longer than the sleeps:
        // kill only once this round has some (a kill before any would test nothing).
        let waiting = std::time::Instant::now();
        while acks.0.lock().unwrap().len() <= acked_before
            && waiting.elapsed() < Duration::from_secs(30)
        {
            std::thread::sleep(Duration::from_millis(20));
        }
        c.kill9();
        stop.store(true, Ordering::Relaxed);
        next_value = sender.join().unwrap();
        c.restart();

        let stored = read_everything(&c, "durable", 4);
        let acked = acks.0.lock().unwrap().clone();
        assert!(
            !acked.is_empty(),
            "round {round}: nothing was acknowledged before the kill"
        );
        for (key, value) in &acked {
            assert_eq!(
                stored.get(key),
                Some(value),
                "round {round}: acknowledged record at {key:?} is missing or different after kill -9"
            );
        }
        let reader: BaseConsumer = c.client().set("group.id", "crash-group").create().unwrap();
        let mut tpl = TopicPartitionList::new();
        for p in 0..4 {
            tpl.add_partition("durable", p);
        }
        let after = reader
            .committed_offsets(tpl, Duration::from_secs(10))
            .unwrap();
        for e in after.elements() {
            assert_eq!(
                e.offset(),
                Offset::Offset(committed[&e.partition()]),
                "round {round}: committed offset of partition {} after kill -9",
                e.partition()
            );
        }
        eprintln!(
            "round {round}: {} acknowledged, {} stored",
            acked.len(),
            stored.len()
        );
    }
    assert!(
        c.log_text().contains("no clean-shutdown marker"),
        "restarts after kill -9 went through recovery"
    );
}

/// An idempotent producer's retry after the broker was killed with kill -9 and restarted: the
/// same batch (same producer id, epoch and sequence) is acknowledged as a duplicate with its
/// original offset, and not appended again. The restarted broker hands out a new producer id.
#[test]
fn an_idempotent_retry_after_kill9_is_a_duplicate() {
    use connectd_record_batch::{build_batch, set_producer};
    use kafka_protocol::messages::{ApiKey, InitProducerIdRequest, InitProducerIdResponse};
    use kafka_protocol::protocol::Decodable;

    use crate::wire::{connect, produce_raw, read_response, request, send_raw};

    let mut c = Connectd::start("");
    c.cli(&["topics", "create", "retried", "--partitions", "1"], None);
    let init_producer_id = |c: &Connectd| {
        let mut s = connect(c);
        send_raw(
            &mut s,
            &request(
                ApiKey::InitProducerId,
                0,
                &InitProducerIdRequest::default().with_transactional_id(None),
            ),
        );
        let mut resp = read_response(&mut s);
        kafka_protocol::messages::ResponseHeader::decode(&mut resp, 0).unwrap();
        let answer = InitProducerIdResponse::decode(&mut resp, 0).unwrap();
        assert_eq!(answer.error_code, 0);
        (answer.producer_id.0, answer.producer_epoch)
    };
    let (id, epoch) = init_producer_id(&c);
    let batch = |seq: i32, value: &[u8]| {
        let mut b = build_batch(0, &[value, value]);
        set_producer(&mut b, id, epoch, seq);
        bytes::Bytes::from(b)
    };
    let mut s = connect(&c);
    for (seq, value) in [(0, &b"first"[..]), (2, b"second")] {
        let answer = produce_raw(&mut s, "retried", batch(seq, value));
        assert_eq!((answer.error_code, answer.base_offset), (0, i64::from(seq)));
    }

    c.kill9();
    c.restart();
    let mut s = connect(&c);
    let retry = produce_raw(&mut s, "retried", batch(2, b"second"));
    assert_eq!(
        (retry.error_code, retry.base_offset),
        (0, 2),
        "the retry is answered with the original offset"
    );
    let next = produce_raw(&mut s, "retried", batch(4, b"third"));
    assert_eq!(
        (next.error_code, next.base_offset),
        (0, 4),
        "and not appended"
    );
    let gap = produce_raw(&mut s, "retried", batch(9, b"gap"));
    assert_eq!(
        gap.error_code, 45,
        "OUT_OF_ORDER_SEQUENCE_NUMBER after the restart too"
    );
    let stored = read_everything(&c, "retried", 1);
    let mut values: Vec<_> = stored.into_iter().collect();
    values.sort();
    let values: Vec<&str> = values.iter().map(|(_, v)| v.as_str()).collect();
    assert_eq!(
        values,
        ["first", "first", "second", "second", "third", "third"]
    );
    assert_ne!(
        init_producer_id(&c).0,
        id,
        "producer ids are not reused after a restart"
    );
}

//! Every codec through a changing consumer group: 100,000 messages per codec (none, gzip,
//! snappy, lz4, zstd) over 4 partitions with the idempotent producer, consumed by a 3-member
//! group while one member leaves and another joins. Every message arrives exactly once (offsets
//! are committed on every revoke), and in order within each partition.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::support::Connectd;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::Message;
use rdkafka::producer::{BaseRecord, DefaultProducerContext, Producer, ThreadedProducer};

const CODECS: [&str; 5] = ["none", "gzip", "snappy", "lz4", "zstd"];
const PER_CODEC: usize = 100_000;
const PARTITIONS: i32 = 4;

type Seen = Arc<Mutex<Vec<(String, i32, i64, usize, &'static str)>>>;

/// Shared switches of the test's consumers.
#[derive(Clone, Default)]
struct Control {
    total: Arc<AtomicUsize>,
    /// While set, the original members consume slowly so a joining member gets work.
    slow: Arc<AtomicBool>,
}

fn member(
    c: &Connectd,
    name: &'static str,
    ctl: Control,
    seen: Seen,
    stop: Arc<AtomicBool>,
    mine_out: Arc<AtomicUsize>,
) -> std::thread::JoinHandle<usize> {
    let Control { total, slow } = ctl;
    let consumer: BaseConsumer = c
        .client()
        .set("group.id", "codec-group")
        .set("client.id", name)
        .set("auto.offset.reset", "earliest")
        .set("enable.auto.commit", "true")
        .set("enable.auto.offset.store", "false")
        .set("auto.commit.interval.ms", "200")
        .set("session.timeout.ms", "10000")
        .set("heartbeat.interval.ms", "500")
        // A short local queue, so a revoke is not stuck behind a deep prefetch while slowed.
        .set("queued.min.messages", "20")
        .set("queued.max.messages.kbytes", "64")
        .set("fetch.max.bytes", "1048576")
        .set("max.partition.fetch.bytes", "16384")
        .create()
        .unwrap();
    let topics: Vec<String> = CODECS.iter().map(|c| format!("codec-{c}")).collect();
    let topics: Vec<&str> = topics.iter().map(String::as_str).collect();
    consumer.subscribe(&topics).unwrap();
    std::thread::spawn(move || {
        let mut mine = 0usize;
        while !stop.load(Ordering::Relaxed) {
            let Some(m) = consumer.poll(Duration::from_millis(100)) else {
                continue;
            };
            let m = m.unwrap();
            let value = std::str::from_utf8(m.payload().unwrap()).unwrap();
            let index: usize = value.rsplit('-').next().unwrap().parse().unwrap();
            seen.lock().unwrap().push((
                m.topic().to_string(),
                m.partition(),
                m.offset(),
                index,
                name,
            ));
            consumer.store_offset_from_message(&m).unwrap();
            mine += 1;
            mine_out.fetch_add(1, Ordering::Relaxed);
            total.fetch_add(1, Ordering::Relaxed);
            if name != "d" && slow.load(Ordering::Relaxed) {
                std::thread::sleep(Duration::from_millis(2));
            }
        }
        // Leaving: the close commits the stored offsets and sends LeaveGroup.
        consumer.unsubscribe();
        drop(consumer);
        mine
    })
}

#[test]
fn every_codec_through_a_changing_group() {
    let c = Connectd::start("");
    for codec in CODECS {
        c.cli(
            &[
                "topics",
                "create",
                &format!("codec-{codec}"),
                "--partitions",
                &PARTITIONS.to_string(),
            ],
            None,
        );
        let producer: ThreadedProducer<DefaultProducerContext> = c
            .client()
            .set("enable.idempotence", "true")
            .set("acks", "all")
            .set("compression.codec", codec)
            .set("linger.ms", "5")
            .set("queue.buffering.max.messages", "200000")
            .create()
            .unwrap();
        let topic = format!("codec-{codec}");
        for i in 0..PER_CODEC {
            let key = format!("k{}", i % 64);
            let value = format!("{codec}-{i}");
            producer
                .send(BaseRecord::to(&topic).key(&key).payload(&value))
                .unwrap();
        }
        producer.flush(Duration::from_secs(60)).unwrap();
        assert_eq!(producer.in_flight_count(), 0);
    }

    let ctl = Control::default();
    let total = ctl.total.clone();
    let seen: Seen = Arc::new(Mutex::new(Vec::new()));
    let stops: Vec<Arc<AtomicBool>> = (0..4).map(|_| Arc::new(AtomicBool::new(false))).collect();
    let counts: Vec<Arc<AtomicUsize>> = (0..4).map(|_| Arc::new(AtomicUsize::new(0))).collect();
    ctl.slow.store(true, Ordering::Relaxed);
    let a = member(
        &c,
        "a",
        ctl.clone(),
        seen.clone(),
        stops[0].clone(),
        counts[0].clone(),
    );
    let b = member(
        &c,
        "b",
        ctl.clone(),
        seen.clone(),
        stops[1].clone(),
        counts[1].clone(),
    );
    let m3 = member(
        &c,
        "c",
        ctl.clone(),
        seen.clone(),
        stops[2].clone(),
        counts[2].clone(),
    );
    let expected = CODECS.len() * PER_CODEC;
    let start = Instant::now();
    let wait_for = |n: usize| {
        while total.load(Ordering::Relaxed) < n {
            assert!(
                start.elapsed() < Duration::from_secs(240),
                "stalled at {} of {expected}",
                total.load(Ordering::Relaxed)
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    };
    // All three members get work before the first one leaves.
    while counts[..3].iter().any(|n| n.load(Ordering::Relaxed) < 500) {
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "not every member got partitions"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    ctl.slow.store(false, Ordering::Relaxed);
    wait_for(expected / 4);
    stops[0].store(true, Ordering::Relaxed);
    let a_count = a.join().unwrap();
    wait_for(expected / 2);
    // Slow the others down until the new member has taken over some partitions.
    ctl.slow.store(true, Ordering::Relaxed);
    let d = member(
        &c,
        "d",
        ctl.clone(),
        seen.clone(),
        stops[3].clone(),
        counts[3].clone(),
    );
    while counts[3].load(Ordering::Relaxed) < 1000 {
        assert!(
            start.elapsed() < Duration::from_secs(120),
            "the joining member never got partitions"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    ctl.slow.store(false, Ordering::Relaxed);
    wait_for(expected);
    // Let any duplicate show up before stopping.
    std::thread::sleep(Duration::from_secs(2));
    for s in &stops[1..] {
        s.store(true, Ordering::Relaxed);
    }
    let counts = [
        a_count,
        b.join().unwrap(),
        m3.join().unwrap(),
        d.join().unwrap(),
    ];
    assert!(
        counts.iter().all(|n| *n > 0),
        "every member consumed something: {counts:?}"
    );

    let seen = seen.lock().unwrap();
    assert_eq!(
        seen.len(),
        expected,
        "exactly {expected} deliveries (none lost, none twice); per member {counts:?}"
    );
    let mut by_partition: HashMap<(String, i32), Vec<(i64, usize)>> = HashMap::new();
    for (topic, partition, offset, index, _) in seen.iter() {
        by_partition
            .entry((topic.clone(), *partition))
            .or_default()
            .push((*offset, *index));
    }
    let mut distinct = 0;
    for ((topic, partition), deliveries) in by_partition {
        // Delivery order within a partition is offset order, and offsets are gap-free from 0.
        assert!(
            deliveries.windows(2).all(|w| w[1].0 == w[0].0 + 1),
            "{topic}/{partition} delivered out of order or with gaps"
        );
        assert_eq!(deliveries[0].0, 0);
        // The producer's order survives: message indexes increase with offsets.
        assert!(
            deliveries.windows(2).all(|w| w[1].1 > w[0].1),
            "{topic}/{partition} reordered"
        );
        distinct += deliveries.len();
    }
    assert_eq!(distinct, expected);
}

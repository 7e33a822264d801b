//! Bad input over the wire: malformed frames, unknown API keys and versions, oversized frames,
//! corrupt batches, invalid topic names, negative partition counts, too many connections.
//! Each gets the Kafka error code or a closed connection, never a crash, and a real client
//! keeps being served throughout.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use crate::support::Connectd;
use crate::wire::{
    api_versions, ask_api_versions, connect, produce_raw, read_response, request, send_raw,
};
use bytes::BytesMut;
use kafka_protocol::messages::fetch_request::{FetchPartition, FetchTopic};
use kafka_protocol::messages::produce_request::{PartitionProduceData, TopicProduceData};
use kafka_protocol::messages::{
    ApiKey, ApiVersionsResponse, FetchRequest, ProduceRequest, RequestHeader, ResponseHeader,
    TopicName,
};
use kafka_protocol::protocol::{Decodable, Encodable, StrBytes};
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::producer::{BaseRecord, DefaultProducerContext, Producer, ThreadedProducer};
use rdkafka::types::RDKafkaErrorCode;

/// True when the broker closed the connection (EOF or reset) instead of answering.
fn closed(mut s: TcpStream) -> bool {
    let mut buf = [0u8; 4];
    match s.read(&mut buf) {
        Ok(0) => true,
        Ok(_) => false,
        // A read timeout means the broker neither answered nor closed.
        Err(e) => matches!(
            e.kind(),
            std::io::ErrorKind::ConnectionReset
                | std::io::ErrorKind::ConnectionAborted
                | std::io::ErrorKind::BrokenPipe
        ),
    }
}

/// A real client that produces to and consumes from `topic` the whole time, to show the
/// broker keeps serving while it is attacked.
struct Healthy {
    stop: Arc<AtomicBool>,
    consumed: Arc<AtomicUsize>,
    thread: std::thread::JoinHandle<()>,
}

impl Healthy {
    fn start(c: &Connectd, topic: &'static str) -> Healthy {
        let stop = Arc::new(AtomicBool::new(false));
        let consumed = Arc::new(AtomicUsize::new(0));
        let producer: ThreadedProducer<DefaultProducerContext> = c
            .client()
            .set("acks", "all")
            .set("linger.ms", "1")
            .create()
            .unwrap();
        let consumer: BaseConsumer = c
            .client()
            .set("group.id", format!("{topic}-readers"))
            .set("auto.offset.reset", "earliest")
            .create()
            .unwrap();
        consumer.subscribe(&[topic]).unwrap();
        let thread = {
            let (stop, consumed) = (stop.clone(), consumed.clone());
            std::thread::spawn(move || {
                let mut i = 0u64;
                while !stop.load(Ordering::Relaxed) {
                    let _ = producer
                        .send(BaseRecord::<(), String>::to(topic).payload(&format!("m{i}")));
                    i += 1;
                    if let Some(Ok(_)) = consumer.poll(Duration::from_millis(5)) {
                        consumed.fetch_add(1, Ordering::Relaxed);
                    }
                }
                producer.flush(Duration::from_secs(10)).unwrap();
            })
        };
        Healthy {
            stop,
            consumed,
            thread,
        }
    }

    /// Waits until the client has consumed 20 more records.
    fn wait_progress(&self, what: &str) {
        let before = self.consumed.load(Ordering::Relaxed);
        let start = Instant::now();
        while self.consumed.load(Ordering::Relaxed) < before + 20 {
            assert!(
                start.elapsed() < Duration::from_secs(30),
                "the healthy client stalled after {what}"
            );
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    fn finish(self) {
        self.stop.store(true, Ordering::Relaxed);
        self.thread.join().unwrap();
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn bad_input_is_refused_and_others_keep_being_served() {
    let c = Connectd::start("max_connections = 40\nsocket_request_max_bytes = 1048576");
    c.cli(&["topics", "create", "healthy", "--partitions", "2"], None);

    let healthy = Healthy::start(&c, "healthy");
    let wait_progress = |what: &str| healthy.wait_progress(what);
    wait_progress("start");

    // 1. Garbage bytes in a frame of sane size.
    let mut s = connect(&c);
    send_raw(&mut s, &[0xde, 0xad, 0xbe, 0xef, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
    assert!(closed(s), "garbage frame closes the connection");
    // 2. Unknown API key.
    let mut s = connect(&c);
    send_raw(&mut s, &[0x01, 0x2c, 0, 0, 0, 0, 0, 1, 0, 0]);
    assert!(closed(s), "unknown API key closes the connection");
    // 3. Unsupported version of a known API.
    let mut s = connect(&c);
    send_raw(&mut s, &[0, 3, 0, 99, 0, 0, 0, 1, 0, 0]);
    assert!(closed(s), "Metadata v99 closes the connection");
    // 4. ApiVersions with a version from the future: KIP-511 answer in v0.
    let mut s = connect(&c);
    send_raw(&mut s, &[0, 18, 0, 42, 0, 0, 0, 9, 0, 0, 0xff, 0xff]);
    let mut resp = read_response(&mut s);
    let header = ResponseHeader::decode(&mut resp, 0).unwrap();
    assert_eq!(header.correlation_id, 9);
    let versions = ApiVersionsResponse::decode(&mut resp, 0).unwrap();
    assert_eq!(versions.error_code, 35, "UNSUPPORTED_VERSION");
    assert!(
        versions
            .api_keys
            .iter()
            .any(|k| k.api_key == ApiKey::Produce as i16)
    );
    // 5. Frames over socket.request.max.bytes, and negative sizes.
    let mut s = connect(&c);
    let _ = s.write_all(&(200 * 1024 * 1024i32).to_be_bytes());
    assert!(closed(s), "oversized frame closes the connection");
    let mut s = connect(&c);
    let _ = s.write_all(&(-5i32).to_be_bytes());
    assert!(closed(s), "negative frame size closes the connection");
    // 6. A valid header with a truncated body.
    let mut s = connect(&c);
    let mut metadata = request(
        ApiKey::Metadata,
        9,
        &kafka_protocol::messages::MetadataRequest::default().with_topics(None),
    );
    metadata.truncate(metadata.len() - 2);
    metadata.extend_from_slice(&[0x7f]);
    send_raw(&mut s, &metadata);
    assert!(closed(s), "truncated body closes the connection");
    wait_progress("malformed frames");

    // 7. A produce whose batch fails its CRC gets CORRUPT_MESSAGE, on a connection that stays usable.
    let mut batch = connectd_record_batch::build_batch(1, &[b"payload"]);
    let last = batch.len() - 1;
    batch[last] ^= 0xff;
    let mut s = connect(&c);
    assert_eq!(
        produce_raw(&mut s, "healthy", batch.into()).error_code,
        2,
        "CORRUPT_MESSAGE"
    );
    assert!(
        !ask_api_versions(&mut s).api_keys.is_empty(),
        "the connection still answers"
    );

    // 8. Admin requests with bad names and counts get their Kafka error codes.
    let admin: AdminClient<DefaultClientContext> = c.client().create().unwrap();
    let opts = AdminOptions::new().operation_timeout(Some(Duration::from_secs(5)));
    let long = "x".repeat(250);
    for (name, partitions, rf, expected) in [
        ("bad/name", 1, 1, RDKafkaErrorCode::InvalidTopic),
        ("..", 1, 1, RDKafkaErrorCode::InvalidTopic),
        (long.as_str(), 1, 1, RDKafkaErrorCode::InvalidTopic),
        ("negative", -5, 1, RDKafkaErrorCode::InvalidPartitions),
        ("zero", 0, 1, RDKafkaErrorCode::InvalidPartitions),
        (
            "replicated",
            1,
            3,
            RDKafkaErrorCode::InvalidReplicationFactor,
        ),
    ] {
        let t = NewTopic::new(name, partitions, TopicReplication::Fixed(rf));
        let result = admin.create_topics([&t], &opts).await;
        match result {
            Ok(r) => assert!(
                matches!(&r[0], Err((_, code)) if *code == expected),
                "{name}: {r:?}"
            ),
            // librdkafka refuses some values itself before sending; that is a refusal too.
            Err(e) => assert!(partitions <= 0, "{name}: {e}"),
        }
    }
    let bad_config =
        NewTopic::new("bad-config", 1, TopicReplication::Fixed(1)).set("retention.ms", "forever");
    let r = admin.create_topics([&bad_config], &opts).await.unwrap();
    assert!(
        matches!(&r[0], Err((_, RDKafkaErrorCode::InvalidConfig))),
        "{r:?}"
    );
    wait_progress("bad admin requests");

    // 9. Connections beyond max.connections are closed; existing clients are unaffected.
    let extra: Vec<TcpStream> = (0..60)
        .filter_map(|_| TcpStream::connect(c.bootstrap()).ok())
        .collect();
    std::thread::sleep(Duration::from_millis(300));
    let refused = extra
        .into_iter()
        .filter(|s| {
            s.set_read_timeout(Some(Duration::from_millis(200)))
                .unwrap();
            let mut b = [0u8; 1];
            matches!((&*s).read(&mut b), Ok(0))
        })
        .count();
    assert!(
        refused >= 20,
        "connections over the limit are closed ({refused} closed)"
    );
    wait_progress("too many connections");

    healthy.finish();
    assert!(
        c.log_text().contains("unsupported API version"),
        "the broker logs why it closed a connection"
    );
}

/// Resident anonymous memory (heap and stacks, not the log's mapped files) of the connectd
/// process, in KiB.
fn rss_kib(c: &Connectd) -> u64 {
    let pid = c.child.as_ref().expect("connectd is running").id();
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let line = status.lines().find(|l| l.starts_with("RssAnon:")).unwrap();
    line.split_whitespace().nth(1).unwrap().parse().unwrap()
}

/// For every API and version the broker advertises: bodies that claim about two billion
/// entries (as an i32 count and as a compact varint), negative lengths, and truncations.
/// Each may close its connection or get an answer; the process must survive all of them,
/// answer ApiVersions, keep serving a real client, and stay within 64 MiB of its RSS.
#[tokio::test(flavor = "multi_thread")]
async fn hostile_frames_for_every_api_and_version_leave_the_broker_serving() {
    let mut c = Connectd::start("");
    c.cli(&["topics", "create", "steady", "--partitions", "1"], None);
    c.cli(&["topics", "create", "bombed", "--partitions", "1"], None);
    let healthy = Healthy::start(&c, "steady");
    healthy.wait_progress("start");
    let rss_before = rss_kib(&c);

    let claims: [&[u8]; 4] = [
        &[0x7f, 0xff, 0xff, 0xff].repeat(6),
        &[0xff, 0xff, 0xff, 0xff, 0x0f].repeat(6),
        &[0xff; 24],
        &[0x00, 0x01],
    ];
    let advertised = api_versions(&c);
    assert!(advertised.api_keys.len() >= 20, "{advertised:?}");
    let mut frames = 0;
    for api in &advertised.api_keys {
        let key = ApiKey::try_from(api.api_key).unwrap();
        for version in api.min_version..=api.max_version {
            let mut header = BytesMut::new();
            RequestHeader::default()
                .with_request_api_key(api.api_key)
                .with_request_api_version(version)
                .with_correlation_id(frames)
                .with_client_id(Some(StrBytes::from_static_str("hostile")))
                .encode(&mut header, key.request_header_version(version))
                .unwrap();
            for claim in claims {
                let mut s = connect(&c);
                s.set_read_timeout(Some(Duration::from_millis(500)))
                    .unwrap();
                send_raw(&mut s, &[&header[..], claim].concat());
                // Closed or answered: either is fine, as long as the process lives on.
                let _ = closed(s);
                frames += 1;
            }
        }
    }
    assert!(frames > 400, "only {frames} hostile frames sent");

    // A zstd batch of 100 MiB of zeros (a few KiB on the wire, valid CRC) is stored as sent;
    // a ListOffsets by timestamp, which opens the batch, stops at the decompression bound.
    let bomb_ts = 1_800_000_000_000;
    let bomb = bytes::Bytes::from(connectd_record_batch::client_batch(
        [(0, bomb_ts, None, Some(vec![0u8; 100 << 20].into()))],
        kafka_protocol::records::Compression::Zstd,
    ));
    assert!(bomb.len() < 64 << 10, "the bomb is {} bytes", bomb.len());
    assert_eq!(
        produce_raw(&mut connect(&c), "bombed", bomb).error_code,
        0,
        "the broker stores batches as sent"
    );
    let lookup: BaseConsumer = c.client().create().unwrap();
    let mut wanted = rdkafka::TopicPartitionList::new();
    wanted
        .add_partition_offset("bombed", 0, rdkafka::Offset::Offset(bomb_ts))
        .unwrap();
    let found = lookup
        .offsets_for_times(wanted, Duration::from_secs(10))
        .expect("ListOffsets by timestamp is answered");
    assert!(
        matches!(found.elements()[0].offset(), rdkafka::Offset::Offset(_)),
        "{found:?}"
    );
    assert!(
        c.log_text().contains("expands past"),
        "the bound stopped the decompression"
    );
    assert!(
        c.child.as_mut().unwrap().try_wait().unwrap().is_none(),
        "connectd died; log:\n{}",
        c.log_text()
    );
    assert!(api_versions(&c).api_keys.len() == advertised.api_keys.len());
    healthy.wait_progress("hostile frames");
    let rss_after = rss_kib(&c);
    assert!(
        rss_after < rss_before + 64 * 1024,
        "RSS grew from {rss_before} KiB to {rss_after} KiB"
    );
    healthy.finish();
    assert!(
        c.log_text().contains("does not fit its layout"),
        "the shape check refused the claims"
    );
}

/// 1,000 connections that never send a byte are closed after `connections_max_idle_ms`,
/// while a real client (connected before them) is served throughout; then new clients get in.
#[tokio::test(flavor = "multi_thread")]
async fn idle_connections_are_closed_after_the_idle_timeout() {
    let c = Connectd::start("connections_max_idle_ms = 3000\nmax_connections = 1100");
    c.cli(&["topics", "create", "lively", "--partitions", "1"], None);
    let healthy = Healthy::start(&c, "lively");
    healthy.wait_progress("start");
    let opened = Instant::now();
    let idle: Vec<TcpStream> = (0..1000)
        .map(|_| TcpStream::connect(c.bootstrap()).unwrap())
        .collect();
    healthy.wait_progress("1000 idle connections");
    // Not before the timeout...
    std::thread::sleep(Duration::from_millis(1000));
    let early = idle
        .iter()
        .filter(|s| {
            s.set_read_timeout(Some(Duration::from_millis(1))).unwrap();
            matches!((&**s).read(&mut [0u8; 1]), Ok(0))
        })
        .count();
    assert!(
        opened.elapsed() >= Duration::from_millis(2900) || early == 0,
        "{early} closed before the idle timeout"
    );
    // ...and all of them after it.
    let deadline = Instant::now() + Duration::from_secs(20);
    for s in &idle {
        let left = deadline.saturating_duration_since(Instant::now());
        s.set_read_timeout(Some(left.max(Duration::from_millis(1))))
            .unwrap();
        assert!(
            matches!((&*s).read(&mut [0u8; 1]), Ok(0)),
            "an idle connection is still open {:?} after it was opened",
            opened.elapsed()
        );
    }
    assert!(opened.elapsed() >= Duration::from_millis(3000));
    healthy.wait_progress("the idle timeout");
    assert!(!api_versions(&c).api_keys.is_empty(), "new clients get in");
    healthy.finish();
}

/// Clients that send requests and never read a response: once the first (large) fetch
/// response fills the socket, each connection may hold only its share of
/// `queued_max_request_bytes`, so its writes stop; the broker's heap stays within the budget,
/// and a real client is served throughout.
#[tokio::test(flavor = "multi_thread")]
async fn clients_that_never_read_stay_within_the_request_budget() {
    let budget: usize = 64 << 20;
    let c = Connectd::start(&format!("queued_max_request_bytes = {budget}"));
    c.cli(&["topics", "create", "fed", "--partitions", "1"], None);
    c.cli(&["topics", "create", "flooded", "--partitions", "1"], None);
    let healthy = Healthy::start(&c, "fed");
    healthy.wait_progress("start");

    // Under the topic's max.message.bytes (1 MiB).
    let payload = vec![b'x'; 768 << 10];
    let batch = bytes::Bytes::from(connectd_record_batch::build_batch(1, &[&payload[..]]));
    let mut s = connect(&c);
    for _ in 0..24 {
        assert_eq!(produce_raw(&mut s, "flooded", batch.clone()).error_code, 0);
    }
    let rss_before = rss_kib(&c);
    let sized = |frame: Vec<u8>| [&(frame.len() as i32).to_be_bytes()[..], &frame].concat();
    let produce = sized(request(
        ApiKey::Produce,
        7,
        &ProduceRequest::default()
            .with_acks(1)
            .with_timeout_ms(5000)
            .with_topic_data(vec![
                TopicProduceData::default()
                    .with_name(TopicName(StrBytes::from_static_str("flooded")))
                    .with_partition_data(vec![
                        PartitionProduceData::default()
                            .with_index(0)
                            .with_records(Some(batch)),
                    ]),
            ]),
    ));
    // 18 MiB of records in one response: more than the socket buffers take unread.
    let fetch = sized(request(
        ApiKey::Fetch,
        4,
        &FetchRequest::default()
            .with_max_wait_ms(100)
            .with_max_bytes(32 << 20)
            .with_topics(vec![
                FetchTopic::default()
                    .with_topic(TopicName(StrBytes::from_static_str("flooded")))
                    .with_partitions(vec![
                        FetchPartition::default()
                            .with_fetch_offset(0)
                            .with_partition_max_bytes(32 << 20),
                    ]),
            ]),
    ));
    let flooders: Vec<_> = (0..8)
        .map(|_| {
            let mut s = connect(&c);
            s.set_write_timeout(Some(Duration::from_secs(3))).unwrap();
            let (produce, fetch) = (produce.clone(), fetch.clone());
            std::thread::spawn(move || {
                let mut sent = 0;
                // A write that blocks for 3 s means the broker stopped reading: backpressure.
                let mut ok = s.write_all(&fetch).is_ok();
                while ok && sent < 64 {
                    ok = s.write_all(&produce).is_ok();
                    sent += usize::from(ok);
                }
                (s, sent)
            })
        })
        .collect();
    let flooders: Vec<(TcpStream, usize)> =
        flooders.into_iter().map(|t| t.join().unwrap()).collect();
    let sent: usize = flooders.iter().map(|(_, n)| n).sum();
    healthy.wait_progress("clients that never read");
    let rss_after = rss_kib(&c);
    println!(
        "never-reading clients: {sent} of 512 requests in; heap {rss_before} -> {rss_after} KiB"
    );
    assert!(
        sent < 8 * 64,
        "all {sent} produce requests went in, though no response was read"
    );
    // The budget, plus one fetch response being written per connection.
    let bound = rss_before + (budget as u64 >> 10) + 8 * 18 * 1024 + 32 * 1024;
    assert!(
        rss_after < bound,
        "heap grew from {rss_before} KiB to {rss_after} KiB (bound {bound}) with {sent} requests in"
    );
    drop(flooders);
    healthy.wait_progress("the flooders left");
    healthy.finish();
}

//! librdkafka's per-record calls, made the way its own `examples/rdkafka_performance` makes
//! them, under clients created (and configured) by the rdkafka crate: for `connectd perf`, and
//! for the worker's Kafka backend ([`ConsumerQueue`], [`MainQueue`]).
//!
//! Measured here (1 KiB records, against connectd): the crate's `BaseProducer::poll` keeps
//! waiting for its whole timeout even after a delivery report came and reads the clock per
//! event (a quarter of the producer's CPU was `clock_gettime`), and its consumer's `poll`
//! takes one record per call through the high-level consumer queue. Both made the benchmark
//! measure the client. Here records go through `rd_kafka_produce` on a topic handle made
//! once, delivery reports are served as `rd_kafka_poll` serves them, and reads use the
//! simple consumer's `rd_kafka_consume_callback_queue`, which hands over every queued record
//! in one call. The client's settings (acks, linger.ms, batch.size, fetch sizes) are the
//! rdkafka crate's configuration, unchanged.

use std::ffi::{CStr, CString, c_void};
use std::marker::PhantomData;
use std::ptr;

use rdkafka::bindings as rd;
use rdkafka::types::RDKafkaErrorCode;

use crate::error::{Error, Result};

/// Returns a backend error from a format string.
macro_rules! bail {
    ($($arg:tt)*) => {
        return Err(Error::Backend(format!($($arg)*)))
    };
}

/// `RD_KAFKA_PARTITION_UA`: let the partitioner choose (a macro in rdkafka.h, not bound).
const PARTITION_UA: i32 = -1;

/// A topic handle on a client created by the rdkafka crate; the client must outlive it.
pub struct TopicHandle {
    rk: *mut rd::rd_kafka_t,
    rkt: *mut rd::rd_kafka_topic_t,
}

impl TopicHandle {
    /// # Safety
    /// `rk` must be a live client handle that outlives the returned value.
    pub unsafe fn new(rk: *mut rd::rd_kafka_t, topic: &str) -> Result<Self> {
        let name = CString::new(topic)
            .map_err(|_| Error::Backend(format!("topic {topic:?} holds a NUL byte")))?;
        // SAFETY: `rk` is live (caller), `name` is a valid C string; a null conf means defaults.
        let rkt = unsafe { rd::rd_kafka_topic_new(rk, name.as_ptr(), ptr::null_mut()) };
        if rkt.is_null() {
            bail!("librdkafka refused topic {topic}: {}", last_error());
        }
        Ok(Self { rk, rkt })
    }

    /// Enqueues one record for the partitioner to place, without copying it (as
    /// `rdkafka_performance` does by default): librdkafka copies it into a batch when it builds
    /// one. `Ok(false)` means the local queue is full: serve delivery reports and try again.
    ///
    /// # Safety
    /// librdkafka keeps a pointer to `payload` until the record is delivered or purged, so
    /// `payload` must outlive the client.
    pub unsafe fn produce(&self, payload: &[u8]) -> Result<bool> {
        // SAFETY: `rkt` is live; without F_COPY or F_FREE librdkafka only reads `payload`,
        // which the caller keeps alive for as long as the client.
        let rc = unsafe {
            rd::rd_kafka_produce(
                self.rkt,
                PARTITION_UA,
                0,
                payload.as_ptr() as *mut c_void,
                payload.len(),
                ptr::null(),
                0,
                ptr::null_mut(),
            )
        };
        if rc == 0 {
            return Ok(true);
        }
        // SAFETY: reads librdkafka's thread-local last error.
        let err = unsafe { rd::rd_kafka_last_error() };
        if err == rd::rd_kafka_resp_err_t::RD_KAFKA_RESP_ERR__QUEUE_FULL {
            return Ok(false);
        }
        bail!("producing: {}", RDKafkaErrorCode::from(err))
    }

    /// Starts reading `partitions` from the beginning into one queue.
    pub fn consume_from_beginning(&self, partitions: &[i32]) -> Result<QueueConsumer<'_>> {
        // SAFETY: `rk` is the live client this handle was made on.
        let queue = unsafe { rd::rd_kafka_queue_new(self.rk) };
        let mut consumer = QueueConsumer {
            topic: self,
            queue,
            started: Vec::with_capacity(partitions.len()),
        };
        for &p in partitions {
            // SAFETY: `rkt` and `queue` are live; `consumer` stops `p` before destroying them.
            let rc = unsafe {
                rd::rd_kafka_consume_start_queue(
                    self.rkt,
                    p,
                    rd::RD_KAFKA_OFFSET_BEGINNING as i64,
                    queue,
                )
            };
            if rc != 0 {
                bail!("starting to consume partition {p}: {}", last_error());
            }
            consumer.started.push(p);
        }
        Ok(consumer)
    }
}

/// Partitions of one topic read into one queue (librdkafka's simple consumer).
pub struct QueueConsumer<'t> {
    topic: &'t TopicHandle,
    queue: *mut rd::rd_kafka_queue_t,
    started: Vec<i32>,
}

impl QueueConsumer<'_> {
    /// Takes everything queued, waiting up to `timeout_ms` for the first record.
    pub fn serve(&mut self, timeout_ms: i32) -> ConsumeQueueResult {
        let mut tally = ConsumeQueueResult::default();
        // SAFETY: `queue` is live; the callback only writes `tally`, which outlives the call.
        unsafe {
            rd::rd_kafka_consume_callback_queue(
                self.queue,
                timeout_ms,
                Some(count_record),
                &mut tally as *mut ConsumeQueueResult as *mut c_void,
            )
        };
        tally
    }
}

impl Drop for QueueConsumer<'_> {
    fn drop(&mut self) {
        for &p in &self.started {
            // SAFETY: `rkt` is live and `p` was started on it.
            unsafe { rd::rd_kafka_consume_stop(self.topic.rkt, p) };
        }
        // SAFETY: every partition feeding the queue has been stopped.
        unsafe { rd::rd_kafka_queue_destroy(self.queue) };
    }
}

/// Delivery reports of a producer made by the rdkafka crate (which turns librdkafka's event
/// API on: reports arrive as events on the main queue). The crate's own `poll` keeps waiting
/// until its timeout has passed even after a report came, and reads the clock per event; this
/// returns as soon as it has served what is there, as `rd_kafka_poll` does.
pub struct DeliveryReports {
    queue: MainQueue,
    /// Records the broker acknowledged.
    pub acknowledged: u64,
    /// Records that failed, and the first failure.
    pub failed: u64,
    pub first_error: Option<String>,
}

impl DeliveryReports {
    /// # Safety
    /// `rk` must be a live producer handle with the event API on, outliving the value.
    pub unsafe fn new(rk: *mut rd::rd_kafka_t) -> Self {
        Self {
            // SAFETY: as the caller promises.
            queue: unsafe { MainQueue::new(rk) },
            acknowledged: 0,
            failed: 0,
            first_error: None,
        }
    }

    /// Serves every report queued, waiting up to `timeout_ms` for the first one.
    pub fn serve(&mut self, timeout_ms: i32) {
        self.queue.serve(timeout_ms, |message| {
            if message.err == rd::rd_kafka_resp_err_t::RD_KAFKA_RESP_ERR_NO_ERROR {
                self.acknowledged += 1;
            } else {
                self.failed += 1;
                self.first_error
                    .get_or_insert_with(|| RDKafkaErrorCode::from(message.err).to_string());
            }
        });
    }
}

/// The main queue of a producer made by the rdkafka crate, where its delivery reports arrive
/// as events.
pub struct MainQueue(*mut rd::rd_kafka_queue_t);

// SAFETY: librdkafka queue handles may be used from any thread; this one is used by one at a
// time (it is not Sync).
unsafe impl Send for MainQueue {}

impl MainQueue {
    /// # Safety
    /// `rk` must be a live producer handle with the event API on, outliving the value.
    pub unsafe fn new(rk: *mut rd::rd_kafka_t) -> Self {
        // SAFETY: `rk` is live (caller); the reference is released in Drop.
        Self(unsafe { rd::rd_kafka_queue_get_main(rk) })
    }

    /// Serves every delivery report queued, calling `report` for each record, waiting up to
    /// `timeout_ms` for the first event; returns as soon as what is there is served.
    pub fn serve(&mut self, timeout_ms: i32, mut report: impl FnMut(&rd::rd_kafka_message_t)) {
        let mut timeout = timeout_ms;
        loop {
            // SAFETY: the queue is live; each event is destroyed once read.
            let event = unsafe { rd::rd_kafka_queue_poll(self.0, timeout) };
            if event.is_null() {
                return;
            }
            timeout = 0;
            // SAFETY: `event` is a live event from the queue.
            let kind = unsafe { rd::rd_kafka_event_type(event) };
            if kind == rd::RD_KAFKA_EVENT_ERROR {
                // SAFETY: an error event's string lives with the event.
                let (text, fatal) = unsafe {
                    (
                        CStr::from_ptr(rd::rd_kafka_event_error_string(event)).to_string_lossy(),
                        rd::rd_kafka_event_error_is_fatal(event) != 0,
                    )
                };
                tracing::warn!(error = %text, fatal, "librdkafka producer error");
            }
            if kind == rd::RD_KAFKA_EVENT_DR {
                loop {
                    // SAFETY: messages belong to `event`, alive until destroyed below.
                    let message = unsafe { rd::rd_kafka_event_message_next(event) };
                    let Some(message) = (unsafe { message.as_ref() }) else {
                        break;
                    };
                    report(message);
                }
            }
            // SAFETY: read and no longer used.
            unsafe { rd::rd_kafka_event_destroy(event) };
        }
    }
}

impl Drop for MainQueue {
    fn drop(&mut self) {
        // SAFETY: the reference taken in `new`.
        unsafe { rd::rd_kafka_queue_destroy(self.0) };
    }
}

/// The topic name of a message's topic handle; empty for an error that names no topic
/// (librdkafka queues some consumer errors, a group coordinator's refusal for one, without).
///
/// # Safety
/// `message` must be live, from a live client.
pub unsafe fn topic_of(message: &rd::rd_kafka_message_t) -> &str {
    if message.rkt.is_null() {
        return "";
    }
    // SAFETY: librdkafka returns the handle's NUL-terminated name, alive with the message.
    unsafe { CStr::from_ptr(rd::rd_kafka_topic_name(message.rkt)) }
        .to_str()
        .unwrap_or_default()
}

/// The queue of a high-level consumer (the rdkafka crate's `BaseConsumer`, partitions given
/// with `assign`), read many records per call (`rd_kafka_consume_batch_queue`) instead of one
/// per `poll`.
pub struct ConsumerQueue {
    queue: *mut rd::rd_kafka_queue_t,
    taken: Vec<*mut rd::rd_kafka_message_t>,
}

// SAFETY: librdkafka queue handles may be used from any thread; this one is used by one at a
// time (`&mut self`).
unsafe impl Send for ConsumerQueue {}

impl ConsumerQueue {
    /// # Safety
    /// `rk` must be a live consumer handle that outlives the returned value.
    pub unsafe fn new(rk: *mut rd::rd_kafka_t) -> Self {
        Self {
            // SAFETY: `rk` is live (caller); the reference is released in Drop.
            queue: unsafe { rd::rd_kafka_queue_get_consumer(rk) },
            taken: Vec::with_capacity(BATCH),
        }
    }

    /// Takes up to `max` records queued, and calls `each` for every one (errors included:
    /// check `err`); returns how many it took. librdkafka waits until it has `max` records or
    /// `timeout_ms` has passed, so to wait for the first record only, ask for one.
    pub fn take(&mut self, timeout_ms: i32, max: usize, mut each: impl FnMut(Taken<'_>)) -> usize {
        let max = max.clamp(1, BATCH);
        self.taken.clear();
        // SAFETY: `queue` is live; `taken` has room for `max` pointers, which librdkafka fills
        // with messages we own until destroyed below.
        let n = unsafe {
            let n = rd::rd_kafka_consume_batch_queue(
                self.queue,
                timeout_ms,
                self.taken.as_mut_ptr(),
                max,
            );
            let n = usize::try_from(n).unwrap_or(0);
            self.taken.set_len(n);
            n
        };
        for &message in &self.taken {
            // SAFETY: a live message from the queue, destroyed right after.
            unsafe {
                each(Taken {
                    message,
                    alive: PhantomData,
                });
                rd::rd_kafka_message_destroy(message);
            }
        }
        self.taken.clear();
        n
    }
}

/// A message [`ConsumerQueue::take`] took, alive for the call it is handed to: librdkafka's own
/// pointer, which reaches the private message around the public one ([`has_no_headers`]).
#[derive(Clone, Copy)]
pub struct Taken<'q> {
    message: *const rd::rd_kafka_message_t,
    alive: PhantomData<&'q rd::rd_kafka_message_t>,
}

impl std::ops::Deref for Taken<'_> {
    type Target = rd::rd_kafka_message_t;

    fn deref(&self) -> &Self::Target {
        // SAFETY: librdkafka's live message, not destroyed while `'q` lasts.
        unsafe { &*self.message }
    }
}

/// A consumed record's key, value and timestamp, borrowed from its message.
pub struct Record<'m> {
    pub key: Option<&'m [u8]>,
    /// `None` for a tombstone.
    pub value: Option<&'m [u8]>,
    /// 0 where the message has none.
    pub timestamp_ms: i64,
}

impl<'m> Record<'m> {
    /// # Safety
    /// `m` must be a live message.
    pub unsafe fn of(m: &'m rd::rd_kafka_message_t) -> Self {
        let mut kind = rd::rd_kafka_timestamp_type_t::RD_KAFKA_TIMESTAMP_NOT_AVAILABLE;
        // SAFETY: `m` is live (caller).
        let timestamp = unsafe { rd::rd_kafka_message_timestamp(m, &mut kind) };
        Record {
            // SAFETY: key and payload point at key_len and len bytes of the live message.
            key: unsafe { bytes(m.key, m.key_len) },
            value: unsafe { bytes(m.payload, m.len) },
            timestamp_ms: timestamp.max(0),
        }
    }
}

/// The headers of a consumed message, in order (the message is alive for `'q`, [`Taken`]).
pub fn headers_of<'q>(m: Taken<'q>) -> impl Iterator<Item = (&'q [u8], &'q [u8])> {
    let mut headers: *mut rd::rd_kafka_headers_t = ptr::null_mut();
    let none = has_no_headers(m);
    let m = m.message;
    // SAFETY: `m` is live for 'q (Taken); the headers belong to it.
    let found = !none
        && unsafe { rd::rd_kafka_message_headers(m, &mut headers) }
            == rd::rd_kafka_resp_err_t::RD_KAFKA_RESP_ERR_NO_ERROR;
    // The shortcut must agree with librdkafka's parse (checked in every debug build's test).
    debug_assert!(
        !none
            // SAFETY: as above.
            || unsafe { rd::rd_kafka_message_headers(m, &mut headers) }
                == rd::rd_kafka_resp_err_t::RD_KAFKA_RESP_ERR__NOENT,
        "a record told headerless has headers"
    );
    (0..).map_while(move |i| {
        if !found {
            return None;
        }
        let (mut name, mut value, mut size) = (ptr::null(), ptr::null(), 0);
        // SAFETY: `headers` belongs to the live message; name and value point into it.
        let got =
            unsafe { rd::rd_kafka_header_get_all(headers, i, &mut name, &mut value, &mut size) };
        if got != rd::rd_kafka_resp_err_t::RD_KAFKA_RESP_ERR_NO_ERROR {
            return None;
        }
        // SAFETY: a NUL-terminated name and `size` bytes of value, alive with the message.
        let name = unsafe { CStr::from_ptr(name) }.to_bytes();
        Some((
            name,
            // SAFETY: as above.
            unsafe { bytes(value as *mut c_void, size) }.unwrap_or_default(),
        ))
    })
}

/// The start of librdkafka's private `rd_kafka_msg_t` (src/rdkafka_msg.h, 2.12): the public
/// message first, then private fields up to a consumed record's unparsed header section.
#[repr(C)]
struct PrivateMessage {
    message: rd::rd_kafka_message_t,
    link: [*mut c_void; 2],
    flags: std::ffi::c_int,
    timestamp_type: std::ffi::c_int,
    timestamp: i64,
    parsed_headers: *mut c_void,
    status: std::ffi::c_int,
    broker_id: i32,
    /// `rkm_u.consumer.binhdrs`: the record's header section, its header count first.
    header_section: KafkaBytes,
}

/// librdkafka's `rd_kafkap_bytes_t` without its trailing inline bytes.
#[repr(C)]
struct KafkaBytes {
    len: i32,
    data: *const u8,
}

/// Whether a consumed record has no headers, told without librdkafka's header parse.
///
/// `rd_kafka_message_headers` parses a record's header section on every call that finds no
/// header: a buffer allocated, zeroed and freed to read a count of 0, which cost the wire
/// sink's reader 100 to 160 ns a record, 40% of its CPU (BENCHMARKS.md). A record of the v2
/// format keeps its header section right after its value, so where librdkafka's private
/// message says the section starts exactly at the end of the value (which no other layout
/// would say by chance) and is the one byte of a count of 0, the record has no headers.
/// Anything else (a tombstone, an older message format, another librdkafka's layout) answers
/// `false`, and the caller asks librdkafka. So does every librdkafka but the one whose layout
/// this mirrors (2.12): after an update the shortcut is off until the layout is read again
/// (the unit test below fails until then).
fn has_no_headers(m: Taken<'_>) -> bool {
    if !*SAME_LAYOUT
        || m.payload.is_null()
        || m.err != rd::rd_kafka_resp_err_t::RD_KAFKA_RESP_ERR_NO_ERROR
    {
        return false;
    }
    // SAFETY: a consumed message is the first field of librdkafka's rd_kafka_msg_t (this
    // version's layout, checked above), which lives inside its op, so these bytes are
    // readable through librdkafka's own pointer; the header section they name is trusted only
    // where it starts at the value's end, a byte librdkafka read as part of the record.
    unsafe {
        let private = &*m.message.cast::<PrivateMessage>();
        let value_end = m.payload.cast::<u8>().cast_const().add(m.len);
        private.parsed_headers.is_null()
            && private.header_section.len == 1
            && ptr::eq(private.header_section.data, value_end)
            && *value_end == 0
    }
}

/// Whether the librdkafka linked in is the release whose private message [`PrivateMessage`]
/// mirrors (2.12.x; `rd_kafka_version` is 0xMMmmrrxx).
static SAME_LAYOUT: std::sync::LazyLock<bool> =
    // SAFETY: a plain read of librdkafka's version.
    std::sync::LazyLock::new(|| unsafe { rd::rd_kafka_version() } >> 16 == 0x020c);

/// `len` bytes at `at`, or `None` for a null pointer.
///
/// # Safety
/// A non-null `at` must point at `len` readable bytes that outlive `'a`.
unsafe fn bytes<'a>(at: *mut c_void, len: usize) -> Option<&'a [u8]> {
    // SAFETY: as the caller promises.
    (!at.is_null()).then(|| unsafe { std::slice::from_raw_parts(at as *const u8, len) })
}

/// Most records one [`ConsumerQueue::take`] takes.
const BATCH: usize = 10_000;

impl Drop for ConsumerQueue {
    fn drop(&mut self) {
        // SAFETY: the reference taken in `new`.
        unsafe { rd::rd_kafka_queue_destroy(self.queue) };
    }
}

impl Drop for TopicHandle {
    fn drop(&mut self) {
        // SAFETY: created by rd_kafka_topic_new and not destroyed elsewhere.
        unsafe { rd::rd_kafka_topic_destroy(self.rkt) };
    }
}

/// What one `rd_kafka_consume_callback_queue` call delivered.
#[derive(Debug, Default)]
pub struct ConsumeQueueResult {
    pub records: u64,
    pub bytes: u64,
    pub error: Option<String>,
}

unsafe extern "C" fn count_record(message: *mut rd::rd_kafka_message_t, opaque: *mut c_void) {
    // SAFETY: librdkafka passes a valid message, and `opaque` is the tally passed above.
    let (message, tally) = unsafe { (&*message, &mut *(opaque as *mut ConsumeQueueResult)) };
    if message.err == rd::rd_kafka_resp_err_t::RD_KAFKA_RESP_ERR_NO_ERROR {
        tally.records += 1;
        tally.bytes += message.len as u64;
    } else if message.err != rd::rd_kafka_resp_err_t::RD_KAFKA_RESP_ERR__PARTITION_EOF {
        tally.error.get_or_insert_with(|| {
            format!(
                "partition {}: {}",
                message.partition,
                RDKafkaErrorCode::from(message.err)
            )
        });
    }
}

fn last_error() -> String {
    // SAFETY: rd_kafka_last_error reads a thread-local; rd_kafka_err2str returns a static string.
    unsafe { CStr::from_ptr(rd::rd_kafka_err2str(rd::rd_kafka_last_error())) }
        .to_string_lossy()
        .into_owned()
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, Instant};

    use rdkafka::ClientConfig;
    use rdkafka::consumer::{BaseConsumer, Consumer};
    use rdkafka::message::{Header, OwnedHeaders};
    use rdkafka::mocking::MockCluster;
    use rdkafka::producer::{BaseProducer, BaseRecord, Producer};

    use super::*;

    /// What the shortcut and librdkafka say of one consumed record.
    #[derive(Debug, PartialEq)]
    struct Seen {
        value: Option<Vec<u8>>,
        shortcut_says_none: bool,
        headers: Vec<(Vec<u8>, Vec<u8>)>,
    }

    /// Records produced by librdkafka (v2 record batches, plain and zstd-compressed) into its
    /// mock cluster and read back through [`ConsumerQueue`]: the shortcut must name exactly
    /// the headerless records with a value, and [`headers_of`] must return every header.
    #[test]
    fn the_headerless_shortcut_agrees_with_librdkafkas_parse() {
        let cluster = MockCluster::new(1).unwrap();
        for compression in ["none", "zstd"] {
            cluster.create_topic(compression, 1, 1).unwrap();
            let producer: BaseProducer = ClientConfig::new()
                .set("bootstrap.servers", cluster.bootstrap_servers())
                .set("compression.type", compression)
                .create()
                .unwrap();
            let headers = OwnedHeaders::new()
                .insert(Header {
                    key: "a",
                    value: Some("1"),
                })
                .insert(Header {
                    key: "empty",
                    value: Some(""),
                });
            let records: Vec<BaseRecord<'_, str, str>> = vec![
                BaseRecord::to(compression).key("k").payload("plain"),
                BaseRecord::to(compression)
                    .payload("with headers")
                    .headers(headers.clone()),
                BaseRecord::to(compression).key("k"),
                BaseRecord::to(compression).key("k").headers(headers),
                BaseRecord::to(compression).payload(""),
            ];
            for record in records {
                producer.send(record).map_err(|(e, _)| e).unwrap();
            }
            producer.flush(Duration::from_secs(10)).unwrap();

            let consumer: BaseConsumer = ClientConfig::new()
                .set("bootstrap.servers", cluster.bootstrap_servers())
                .set("group.id", "shortcut")
                .set("auto.offset.reset", "earliest")
                .create()
                .unwrap();
            let mut tpl = rdkafka::TopicPartitionList::new();
            tpl.add_partition_offset(compression, 0, rdkafka::Offset::Beginning)
                .unwrap();
            consumer.assign(&tpl).unwrap();
            // SAFETY: the consumer outlives the queue (dropped at the end of the iteration).
            let mut queue = unsafe { ConsumerQueue::new(consumer.client().native_ptr()) };
            let mut seen = Vec::new();
            let deadline = Instant::now() + Duration::from_secs(30);
            while seen.len() < 5 && Instant::now() < deadline {
                queue.take(100, 1, |m| {
                    if m.err != rd::rd_kafka_resp_err_t::RD_KAFKA_RESP_ERR_NO_ERROR {
                        return;
                    }
                    // SAFETY: a live consumed message, read within the call.
                    let record = unsafe { Record::of(&m) };
                    let shortcut_says_none = has_no_headers(m);
                    let headers = headers_of(m)
                        .map(|(k, v)| (k.to_vec(), v.to_vec()))
                        .collect();
                    seen.push(Seen {
                        value: record.value.map(<[u8]>::to_vec),
                        shortcut_says_none,
                        headers,
                    });
                });
            }
            let both = vec![
                (b"a".to_vec(), b"1".to_vec()),
                (b"empty".to_vec(), Vec::new()),
            ];
            let seen_as = |value: Option<&[u8]>, none: bool, headers: &Vec<_>| Seen {
                value: value.map(<[u8]>::to_vec),
                shortcut_says_none: none,
                headers: headers.clone(),
            };
            assert_eq!(
                seen,
                vec![
                    seen_as(Some(b"plain"), true, &vec![]),
                    seen_as(Some(b"with headers"), false, &both),
                    seen_as(None, false, &vec![]),
                    seen_as(None, false, &both),
                    // librdkafka does not point an empty value into the record: asked.
                    seen_as(Some(b""), false, &vec![]),
                ],
                "{compression}"
            );
            drop(queue);
        }
    }
}

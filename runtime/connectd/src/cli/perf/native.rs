//! librdkafka's per-record calls, made the way its own `examples/rdkafka_performance` makes
//! them, under clients created (and configured) by the rdkafka crate.
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
use std::ptr;

use anyhow::{Result, bail};
use rdkafka::bindings as rd;
use rdkafka::types::RDKafkaErrorCode;

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
        let name = CString::new(topic)?;
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
    queue: *mut rd::rd_kafka_queue_t,
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
            // SAFETY: `rk` is live (caller); the reference is released in Drop.
            queue: unsafe { rd::rd_kafka_queue_get_main(rk) },
            acknowledged: 0,
            failed: 0,
            first_error: None,
        }
    }

    /// Serves every report queued, waiting up to `timeout_ms` for the first one.
    pub fn serve(&mut self, timeout_ms: i32) {
        let mut timeout = timeout_ms;
        loop {
            // SAFETY: `queue` is live; each event is destroyed once read.
            let event = unsafe { rd::rd_kafka_queue_poll(self.queue, timeout) };
            if event.is_null() {
                return;
            }
            timeout = 0;
            // SAFETY: `event` is a live event from the queue.
            if unsafe { rd::rd_kafka_event_type(event) } == rd::RD_KAFKA_EVENT_DR {
                loop {
                    // SAFETY: messages belong to `event`, which is alive until destroyed below.
                    let message = unsafe { rd::rd_kafka_event_message_next(event) };
                    let Some(message) = (unsafe { message.as_ref() }) else {
                        break;
                    };
                    if message.err == rd::rd_kafka_resp_err_t::RD_KAFKA_RESP_ERR_NO_ERROR {
                        self.acknowledged += 1;
                    } else {
                        self.failed += 1;
                        self.first_error
                            .get_or_insert_with(|| RDKafkaErrorCode::from(message.err).to_string());
                    }
                }
            }
            // SAFETY: read and no longer used.
            unsafe { rd::rd_kafka_event_destroy(event) };
        }
    }
}

impl Drop for DeliveryReports {
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

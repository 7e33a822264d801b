//! `connectd perf produce|consume`: throughput tests in the spirit of Kafka's
//! `kafka-producer-perf-test` and `kafka-consumer-perf-test`, on librdkafka, so the same
//! numbers can be taken against any broker.

use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use clap::{Args, Subcommand};
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::producer::{BaseProducer, Producer};

use super::{Connection, metadata};

use connectd_worker::backend::native;

#[derive(Args, Debug)]
pub struct PerfArgs {
    #[command(flatten)]
    conn: Connection,
    #[command(subcommand)]
    action: Action,
}

#[derive(Subcommand, Debug)]
enum Action {
    /// Produce fixed-size records as fast as the broker takes them.
    Produce {
        /// Topic to write to (must exist).
        #[arg(long)]
        topic: String,
        /// How many records.
        #[arg(long = "num-records", default_value_t = 1_000_000)]
        num_records: u64,
        /// Bytes per record value.
        #[arg(long = "record-size", default_value_t = 1024)]
        record_size: usize,
        /// acks: all, 1 or 0.
        #[arg(long, default_value = "all")]
        acks: String,
        /// librdkafka linger.ms.
        #[arg(long = "linger-ms", default_value_t = 5)]
        linger_ms: u64,
        /// librdkafka batch.size (bytes).
        #[arg(long = "batch-size", default_value_t = 1_000_000)]
        batch_size: u64,
    },
    /// Read records from the beginning of every partition (or of the ones given).
    Consume {
        /// Topic to read.
        #[arg(long)]
        topic: String,
        /// Stop after this many records; default: every record in the partitions read, up
        /// to their end offsets when the command starts.
        #[arg(long)]
        messages: Option<u64>,
        /// Read only these partitions (comma-separated), so that several processes can
        /// share a topic the way the members of a group would; default: all of them.
        #[arg(long, value_delimiter = ',')]
        partitions: Vec<i32>,
    },
}

pub fn run(args: PerfArgs) -> Result<()> {
    keep_client_heap();
    match args.action {
        Action::Produce {
            topic,
            num_records,
            record_size,
            acks,
            linger_ms,
            batch_size,
        } => {
            // Records point into `payload` until delivered, so it is made before the client
            // and dropped after it.
            let payload = vec![b'x'; record_size];
            let (linger_ms, batch_size) = (linger_ms.to_string(), batch_size.to_string());
            let producer: BaseProducer = args
                .conn
                .client_config_with(&[
                    ("acks", &acks),
                    ("linger.ms", &linger_ms),
                    ("batch.size", &batch_size),
                    ("queue.buffering.max.kbytes", "1048576"),
                ])
                .create()
                .context("creating producer")?;
            let rk = producer.client().native_ptr();
            // SAFETY: `producer` owns the client handle and outlives both.
            let (handle, mut reports) = unsafe {
                (
                    native::TopicHandle::new(rk, &topic)?,
                    native::DeliveryReports::new(rk),
                )
            };
            let start = Instant::now();
            let mut last_report = Instant::now();
            for i in 0..num_records {
                // SAFETY: `payload` outlives `producer` (declared before it).
                while !unsafe { handle.produce(&payload)? } {
                    // The local queue is full: wait for acknowledgements to make room.
                    reports.serve(10);
                }
                if i % 1000 == 0 {
                    reports.serve(0);
                    if last_report.elapsed() >= Duration::from_secs(5) {
                        eprintln!(
                            "{i} records sent, {} acknowledged so far",
                            reports.acknowledged
                        );
                        last_report = Instant::now();
                    }
                }
            }
            // Done when the broker has answered for every record.
            let deadline = Instant::now() + Duration::from_secs(120);
            while reports.acknowledged + reports.failed < num_records {
                if Instant::now() > deadline {
                    bail!(
                        "only {} of {num_records} records acknowledged after 120 s",
                        reports.acknowledged
                    );
                }
                reports.serve(100);
            }
            if let Some(e) = &reports.first_error {
                bail!(
                    "{} of {num_records} records failed; the first: {e}",
                    reports.failed
                );
            }
            report(
                "produce",
                num_records,
                num_records * record_size as u64,
                start.elapsed(),
            );
        }
        Action::Consume {
            topic,
            messages,
            partitions: only,
        } => {
            // Fetch responses of at most 1 MiB (Kafka's Java consumer takes 1 MiB per
            // partition by default). librdkafka receives a response into one buffer and parses
            // it right after: at librdkafka's default 50 MB that buffer is above glibc malloc's
            // largest mmap threshold (32 MiB), so every response was a fresh mapping to fault
            // in. 8 MiB still measured slower than 1 MiB: the parse that follows the receive
            // then reads a buffer several times the size of a core's L2 cache.
            // Measured against connectd (BENCHMARKS.md): 8 MiB to 1 MiB took 8-partition
            // consume from 1.4 to 1.8 GB/s, with 1-partition consume unchanged.
            let consumer: BaseConsumer = args
                .conn
                .client_config_with(&[
                    ("group.id", "connectd-perf"),
                    ("enable.auto.commit", "false"),
                    ("fetch.max.bytes", "1048576"),
                    ("max.partition.fetch.bytes", "1048576"),
                ])
                .create()
                .context("creating consumer")?;
            let md = metadata(consumer.client(), Some(&topic), &args.conn.bootstrap)?;
            let Some(t) = md.topics().first() else {
                bail!("no metadata for {topic}")
            };
            let partitions: Vec<i32> = t.partitions().iter().map(|p| p.id()).collect();
            if let Some(p) = only.iter().find(|p| !partitions.contains(p)) {
                bail!(
                    "--partitions: {topic} has no partition {p} (it has {})",
                    partitions.len()
                );
            }
            let partitions = if only.is_empty() { partitions } else { only };
            let messages = match messages {
                Some(n) => n,
                None => records_in(&consumer, &topic, &partitions)?,
            };
            // SAFETY: `consumer` owns the client handle and outlives `handle`.
            let handle =
                unsafe { native::TopicHandle::new(consumer.client().native_ptr(), &topic)? };
            // The clock starts before the first fetch: time to first record counts too.
            let start = Instant::now();
            let mut queue = handle.consume_from_beginning(&partitions)?;
            let (mut count, mut bytes) = (0u64, 0u64);
            let mut idle = Instant::now();
            while count < messages {
                let got = queue.serve(100);
                if let Some(e) = got.error {
                    bail!("consuming {topic}: {e}");
                }
                if got.records == 0 {
                    if idle.elapsed() > Duration::from_secs(10) {
                        bail!("no record for 10 s after {count} of {messages}");
                    }
                    continue;
                }
                count += got.records;
                bytes += got.bytes;
                idle = Instant::now();
            }
            report("consume", count, bytes, start.elapsed());
        }
    }
    Ok(())
}

/// Keeps this client's freed heap for reuse instead of handing it back to the kernel.
///
/// librdkafka allocates a buffer of about 1 MiB for every fetch response it receives and every
/// batch it produces. Under glibc's default policy such buffers come and go as fresh pages: the
/// first ones are mappings of their own, and later ones grow and then trim the thread's heap,
/// so each is faulted in (and zeroed) again. That is the client's cost, not the broker's, and
/// it was the noisiest part of every measurement: 60,000-100,000 page faults per gigabyte
/// produced, and 2,000-27,000 per gigabyte consumed, varying run to run. Fixing both
/// thresholds (which also turns off glibc's sliding mmap threshold) keeps them in the heap:
/// 16,000-32,000 and about 2,300 faults (BENCHMARKS.md). The same client serves every broker.
fn keep_client_heap() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only changes glibc's allocation policy; called before any client exists.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, 64 << 20);
        libc::mallopt(libc::M_TRIM_THRESHOLD, 256 << 20);
    }
}

/// How many records `partitions` of `topic` hold now (end offset minus start offset).
fn records_in(consumer: &BaseConsumer, topic: &str, partitions: &[i32]) -> Result<u64> {
    let mut total = 0;
    for &p in partitions {
        let (low, high) = consumer
            .fetch_watermarks(topic, p, Duration::from_secs(10))
            .with_context(|| format!("reading the offsets of {topic} partition {p}"))?;
        total += (high - low).max(0) as u64;
    }
    Ok(total)
}

fn report(what: &str, records: u64, bytes: u64, elapsed: Duration) {
    let secs = elapsed.as_secs_f64().max(1e-9);
    println!(
        "{what}: {records} records, {bytes} bytes in {secs:.3} s: {:.0} records/s, {:.1} MB/s",
        records as f64 / secs,
        bytes as f64 / secs / 1e6
    );
}

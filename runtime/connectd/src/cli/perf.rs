//! `connectd perf produce|consume`: throughput tests in the spirit of Kafka's
//! `kafka-producer-perf-test` and `kafka-consumer-perf-test`, on librdkafka, so the same
//! numbers can be taken against any broker.

use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use clap::{Args, Subcommand};
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::KafkaError;
use rdkafka::producer::{BaseProducer, BaseRecord, Producer};
use rdkafka::types::RDKafkaErrorCode;
use rdkafka::{Offset, TopicPartitionList};

use super::{Connection, metadata};

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
    /// Read records from the beginning of every partition.
    Consume {
        /// Topic to read.
        #[arg(long)]
        topic: String,
        /// Stop after this many records.
        #[arg(long)]
        messages: u64,
    },
}

pub fn run(args: PerfArgs) -> Result<()> {
    match args.action {
        Action::Produce {
            topic,
            num_records,
            record_size,
            acks,
            linger_ms,
            batch_size,
        } => {
            let producer: BaseProducer = args
                .conn
                .client_config()
                .set("acks", &acks)
                .set("linger.ms", linger_ms.to_string())
                .set("batch.size", batch_size.to_string())
                .set("queue.buffering.max.kbytes", "1048576")
                .create()
                .context("creating producer")?;
            let payload = vec![b'x'; record_size];
            let start = Instant::now();
            let mut last_report = Instant::now();
            for i in 0..num_records {
                let mut record = BaseRecord::<(), [u8]>::to(&topic).payload(&payload);
                loop {
                    match producer.send(record) {
                        Ok(()) => break,
                        Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), r)) => {
                            record = r;
                            producer.poll(Duration::from_millis(1));
                        }
                        Err((e, _)) => return Err(e).context("producing"),
                    }
                }
                // Serve delivery reports in bulk; one poll per record costs more than the send.
                if i % 1024 == 0 {
                    producer.poll(Duration::ZERO);
                }
                if last_report.elapsed() >= Duration::from_secs(5) {
                    eprintln!("{i} records sent so far");
                    last_report = Instant::now();
                }
            }
            producer
                .flush(Duration::from_secs(120))
                .context("waiting for the last acknowledgements")?;
            report(
                "produce",
                num_records,
                num_records * record_size as u64,
                start.elapsed(),
            );
        }
        Action::Consume { topic, messages } => {
            let consumer: BaseConsumer = args
                .conn
                .client_config()
                .set("group.id", "connectd-perf")
                .set("enable.auto.commit", "false")
                .set("fetch.max.bytes", "52428800")
                .set("max.partition.fetch.bytes", "10485760")
                .create()?;
            let md = metadata(consumer.client(), Some(&topic), &args.conn.bootstrap)?;
            let Some(t) = md.topics().first() else {
                bail!("no metadata for {topic}")
            };
            let mut tpl = TopicPartitionList::new();
            for p in t.partitions() {
                tpl.add_partition_offset(&topic, p.id(), Offset::Beginning)?;
            }
            consumer.assign(&tpl)?;
            let (mut count, mut bytes) = (0u64, 0u64);
            let mut start = None;
            let mut idle = Instant::now();
            while count < messages {
                match consumer.poll(Duration::from_millis(100)) {
                    Some(Ok(m)) => {
                        start.get_or_insert_with(Instant::now);
                        count += 1;
                        bytes += m.payload_len() as u64;
                        idle = Instant::now();
                    }
                    Some(Err(e)) => return Err(e).context("consuming"),
                    None if idle.elapsed() > Duration::from_secs(10) => {
                        bail!("no record for 10 s after {count} of {messages}")
                    }
                    None => {}
                }
            }
            report(
                "consume",
                count,
                bytes,
                start.map(|s| s.elapsed()).unwrap_or_default(),
            );
        }
    }
    Ok(())
}

fn report(what: &str, records: u64, bytes: u64, elapsed: Duration) {
    let secs = elapsed.as_secs_f64().max(1e-9);
    println!(
        "{what}: {records} records, {bytes} bytes in {secs:.3} s: {:.0} records/s, {:.1} MB/s",
        records as f64 / secs,
        bytes as f64 / secs / 1e6
    );
}

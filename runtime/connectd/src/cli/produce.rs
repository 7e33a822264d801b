//! `connectd produce`: one record per stdin line, like `kafka-console-producer`.

use std::io::BufRead;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use anyhow::{Context, Result};
use clap::Args;
use rdkafka::ClientContext;
use rdkafka::message::DeliveryResult;
use rdkafka::producer::{BaseRecord, Producer, ProducerContext, ThreadedProducer};

use super::Connection;

#[derive(Args, Debug)]
pub struct ProduceArgs {
    #[command(flatten)]
    conn: Connection,
    /// Topic to write to.
    #[arg(long)]
    topic: String,
    /// Split each line at the first occurrence of this separator into key and value.
    #[arg(long = "key-separator")]
    key_separator: Option<String>,
    /// acks: 0, 1 or all.
    #[arg(long, default_value = "all")]
    acks: String,
    /// Compression codec: none, gzip, snappy, lz4 or zstd.
    #[arg(long = "compression", default_value = "none")]
    compression: String,
}

/// Counts delivery failures and reports the first one.
#[derive(Default)]
struct Deliveries {
    failed: AtomicU64,
}

impl ClientContext for Deliveries {}

impl ProducerContext for Deliveries {
    type DeliveryOpaque = ();
    fn delivery(&self, result: &DeliveryResult<'_>, _: ()) {
        if let Err((e, _)) = result
            && self.failed.fetch_add(1, Ordering::Relaxed) == 0
        {
            eprintln!("delivery failed: {e}");
        }
    }
}

pub fn run(args: ProduceArgs) -> Result<()> {
    let producer: ThreadedProducer<Deliveries> = args
        .conn
        .client_config_with(&[
            ("acks", &args.acks),
            ("compression.codec", &args.compression),
            (
                "enable.idempotence",
                if args.acks == "all" { "true" } else { "false" },
            ),
            ("linger.ms", "5"),
        ])
        .create_with_context(Deliveries::default())
        .context("creating producer")?;
    let stdin = std::io::stdin();
    let mut sent = 0u64;
    for line in stdin.lock().lines() {
        let line = line.context("reading stdin")?;
        let (key, value) = match &args.key_separator {
            Some(sep) => match line.split_once(sep.as_str()) {
                Some((k, v)) => (Some(k.to_string()), v.to_string()),
                None => (None, line.clone()),
            },
            None => (None, line.clone()),
        };
        let mut record = BaseRecord::<String, String>::to(&args.topic).payload(&value);
        if let Some(k) = &key {
            record = record.key(k);
        }
        let mut pending = record;
        loop {
            match producer.send(pending) {
                Ok(()) => break,
                Err((
                    rdkafka::error::KafkaError::MessageProduction(
                        rdkafka::types::RDKafkaErrorCode::QueueFull,
                    ),
                    r,
                )) => {
                    pending = r;
                    std::thread::sleep(Duration::from_millis(5));
                }
                Err((e, _)) => return Err(e).context(format!("producing to {}", args.topic)),
            }
        }
        sent += 1;
    }
    producer.flush(Duration::from_secs(30)).with_context(|| {
        format!(
            "delivering {sent} records to {} via {}",
            args.topic, args.conn.bootstrap
        )
    })?;
    let failed = producer.context().failed.load(Ordering::Relaxed);
    if failed > 0 {
        anyhow::bail!(
            "{failed} of {sent} records were not delivered to {}",
            args.topic
        );
    }
    eprintln!("produced {sent} records to {}", args.topic);
    Ok(())
}

//! `connectd consume`: print records, like `kafka-console-consumer`.

use std::io::Write;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use clap::Args;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::Message;
use rdkafka::{Offset, TopicPartitionList};

use super::{Connection, metadata};

#[derive(Args, Debug)]
pub struct ConsumeArgs {
    #[command(flatten)]
    conn: Connection,
    /// Topic to read.
    #[arg(long)]
    topic: String,
    /// Start from the earliest offset instead of the end (without a committed group offset).
    #[arg(long = "from-beginning")]
    from_beginning: bool,
    /// Exit after this many records.
    #[arg(long = "max-messages")]
    max_messages: Option<u64>,
    /// Join this consumer group and commit offsets; without it, read every partition directly.
    #[arg(long)]
    group: Option<String>,
    /// Exit when no record arrives for this long.
    #[arg(long = "timeout-ms")]
    timeout_ms: Option<u64>,
    /// Print each record's key before the value (tab-separated).
    #[arg(long = "print-key")]
    print_key: bool,
    /// Print each record's partition.
    #[arg(long = "print-partition")]
    print_partition: bool,
    /// Print each record's offset.
    #[arg(long = "print-offset")]
    print_offset: bool,
}

pub fn run(args: ConsumeArgs) -> Result<()> {
    let (group, auto_commit) = match &args.group {
        Some(g) => (g.as_str(), "true"),
        None => ("connectd-console", "false"),
    };
    let reset = if args.from_beginning {
        "earliest"
    } else {
        "latest"
    };
    let consumer: BaseConsumer = args
        .conn
        .client_config_with(&[
            ("auto.offset.reset", reset),
            ("enable.partition.eof", "false"),
            ("group.id", group),
            ("enable.auto.commit", auto_commit),
        ])
        .create()?;
    match &args.group {
        Some(_) => consumer.subscribe(&[&args.topic]).context("subscribing")?,
        None => {
            let md = metadata(consumer.client(), Some(&args.topic), &args.conn.bootstrap)?;
            let topic = md.topics().first().context("no metadata for the topic")?;
            if let Some(err) = topic.error() {
                bail!(
                    "topic {}: {}",
                    args.topic,
                    rdkafka::types::RDKafkaErrorCode::from(err)
                );
            }
            let mut tpl = TopicPartitionList::new();
            for p in topic.partitions() {
                tpl.add_partition_offset(
                    &args.topic,
                    p.id(),
                    if args.from_beginning {
                        Offset::Beginning
                    } else {
                        Offset::End
                    },
                )?;
            }
            consumer.assign(&tpl).context("assigning partitions")?;
        }
    }
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    let mut seen = 0u64;
    let mut last = Instant::now();
    while args.max_messages.is_none_or(|m| seen < m) {
        match consumer.poll(Duration::from_millis(200)) {
            None => {
                if args
                    .timeout_ms
                    .is_some_and(|t| last.elapsed() >= Duration::from_millis(t))
                {
                    break;
                }
            }
            Some(Err(e)) => eprintln!("consume error: {e}"),
            Some(Ok(m)) => {
                last = Instant::now();
                seen += 1;
                if args.print_partition {
                    write!(out, "Partition:{}\t", m.partition())?;
                }
                if args.print_offset {
                    write!(out, "Offset:{}\t", m.offset())?;
                }
                if args.print_key {
                    out.write_all(m.key().unwrap_or(b"null"))?;
                    out.write_all(b"\t")?;
                }
                out.write_all(m.payload().unwrap_or(b""))?;
                out.write_all(b"\n")?;
            }
        }
    }
    out.flush()?;
    if args.group.is_some() {
        consumer
            .commit_consumer_state(rdkafka::consumer::CommitMode::Sync)
            .ok();
        consumer.unsubscribe();
    }
    drop(consumer);
    eprintln!("Processed a total of {seen} messages");
    Ok(())
}

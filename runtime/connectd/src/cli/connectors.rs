//! `connectd connectors status`: the latest status of every connector and task, read from the
//! internal `connectd-status` topic.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use clap::{Args, Subcommand};
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::Message;
use rdkafka::{Offset, TopicPartitionList};

use super::{Connection, TIMEOUT};

/// The worker's status topic.
const STATUS_TOPIC: &str = "connectd-status";

#[derive(Args, Debug)]
pub struct ConnectorsArgs {
    #[command(flatten)]
    conn: Connection,
    #[command(subcommand)]
    action: Action,
}

#[derive(Subcommand, Debug)]
enum Action {
    /// Show each connector's and task's state (RUNNING, FAILED) and why it failed.
    Status,
}

pub fn run(args: ConnectorsArgs) -> Result<()> {
    let Action::Status = args.action;
    let consumer: BaseConsumer = args
        .conn
        .client_config_with(&[
            ("group.id", "connectd-cli-status"),
            ("enable.auto.commit", "false"),
        ])
        .create()?;
    let (_, high) = consumer
        .fetch_watermarks(STATUS_TOPIC, 0, TIMEOUT)
        .with_context(|| {
            format!(
                "reading {STATUS_TOPIC} via {}; is a connectd worker running there?",
                args.conn.bootstrap
            )
        })?;
    let mut tpl = TopicPartitionList::new();
    tpl.add_partition_offset(STATUS_TOPIC, 0, Offset::Beginning)?;
    consumer.assign(&tpl)?;
    let mut latest: BTreeMap<String, serde_json::Value> = BTreeMap::new();
    let start = Instant::now();
    let mut next = 0;
    while next < high {
        if start.elapsed() > TIMEOUT {
            bail!("timed out reading {STATUS_TOPIC} ({next} of {high} records)");
        }
        let Some(m) = consumer.poll(Duration::from_millis(100)) else {
            continue;
        };
        let m = m?;
        next = m.offset() + 1;
        let (Some(key), Some(value)) = (m.key(), m.payload()) else {
            continue;
        };
        if let Ok(v) = serde_json::from_slice(value) {
            latest.insert(String::from_utf8_lossy(key).into_owned(), v);
        }
    }
    println!("CONNECTOR\tTASK\tSTATE\tPLUGIN\tTRACE");
    for (key, v) in latest {
        let (connector, task) = key.split_once('/').unwrap_or((key.as_str(), "-"));
        let field = |name: &str| {
            v.get(name)
                .and_then(|x| x.as_str())
                .unwrap_or("")
                .to_string()
        };
        println!(
            "{connector}\t{task}\t{}\t{}\t{}",
            field("state"),
            field("plugin"),
            field("trace")
        );
    }
    Ok(())
}

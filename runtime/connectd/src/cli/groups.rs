//! `connectd groups list|describe`, like `kafka-consumer-groups`.

use anyhow::{Context, Result, bail};
use bytes::Bytes;
use clap::{Args, Subcommand};
use kafka_protocol::messages::ConsumerProtocolAssignment;
use kafka_protocol::protocol::Decodable;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::{Offset, TopicPartitionList};

use super::{Connection, TIMEOUT, metadata};

#[derive(Args, Debug)]
pub struct GroupsArgs {
    #[command(flatten)]
    conn: Connection,
    #[command(subcommand)]
    action: Action,
}

#[derive(Subcommand, Debug)]
enum Action {
    /// List consumer groups with their state.
    List,
    /// Show a group's members, assignments, committed offsets and lag.
    Describe {
        /// Group id.
        group: String,
    },
}

pub fn run(args: GroupsArgs) -> Result<()> {
    let conn = &args.conn;
    match args.action {
        Action::List => {
            let consumer: BaseConsumer = conn.client_config().create()?;
            let groups = consumer
                .fetch_group_list(None, TIMEOUT)
                .with_context(|| format!("listing groups via {}", conn.bootstrap))?;
            for g in groups.groups() {
                println!("{}\t{}", g.name(), g.state());
            }
        }
        Action::Describe { group } => {
            let consumer: BaseConsumer = conn
                .client_config_with(&[("group.id", &group), ("enable.auto.commit", "false")])
                .create()?;
            let groups = consumer
                .fetch_group_list(Some(&group), TIMEOUT)
                .with_context(|| format!("describing group {group} via {}", conn.bootstrap))?;
            let Some(info) = groups.groups().first() else {
                bail!("group {group} not found")
            };
            if info.state() == "Dead" {
                bail!("group {group} does not exist");
            }
            println!(
                "Group: {}\tState: {}\tProtocol: {}\tMembers: {}",
                info.name(),
                info.state(),
                info.protocol(),
                info.members().len()
            );
            // (topic, partition) -> member id, host, client id
            let mut owners = std::collections::HashMap::new();
            for m in info.members() {
                let Some(raw) = m.assignment().filter(|a| a.len() >= 2) else {
                    continue;
                };
                let mut buf = Bytes::copy_from_slice(raw);
                let version = i16::from_be_bytes([raw[0], raw[1]]);
                let _ = bytes::Buf::get_i16(&mut buf);
                let Ok(assignment) = ConsumerProtocolAssignment::decode(&mut buf, version) else {
                    continue;
                };
                for tp in assignment.assigned_partitions {
                    for p in tp.partitions {
                        owners.insert(
                            (tp.topic.to_string(), p),
                            (
                                m.id().to_string(),
                                m.client_host().to_string(),
                                m.client_id().to_string(),
                            ),
                        );
                    }
                }
            }
            let md = metadata(consumer.client(), None, &conn.bootstrap)?;
            let mut tpl = TopicPartitionList::new();
            for t in md.topics() {
                for p in t.partitions() {
                    tpl.add_partition(t.name(), p.id());
                }
            }
            let committed = consumer
                .committed_offsets(tpl, TIMEOUT)
                .context("reading committed offsets")?;
            println!(
                "\nTOPIC\tPARTITION\tCURRENT-OFFSET\tLOG-END-OFFSET\tLAG\tCONSUMER-ID\tHOST\tCLIENT-ID"
            );
            let mut rows: Vec<_> = committed
                .elements()
                .into_iter()
                .map(|e| (e.topic().to_string(), e.partition(), e.offset()))
                .collect();
            rows.sort_by(|a, b| (&a.0, a.1).cmp(&(&b.0, b.1)));
            for (topic, partition, offset) in rows {
                let owner = owners.get(&(topic.clone(), partition));
                let Offset::Offset(current) = offset else {
                    if let Some((id, host, client)) = owner {
                        println!("{topic}\t{partition}\t-\t-\t-\t{id}\t{host}\t{client}");
                    }
                    continue;
                };
                let (_, high) = consumer.fetch_watermarks(&topic, partition, TIMEOUT)?;
                let (id, host, client) = owner
                    .cloned()
                    .unwrap_or_else(|| ("-".into(), "-".into(), "-".into()));
                println!(
                    "{topic}\t{partition}\t{current}\t{high}\t{}\t{id}\t{host}\t{client}",
                    (high - current).max(0)
                );
            }
        }
    }
    Ok(())
}

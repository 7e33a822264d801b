//! `connectd topics create|list|describe|alter|delete`, like `kafka-topics`.

use std::collections::BTreeMap;

use anyhow::{Context, Result, bail};
use clap::{Args, Subcommand};
use rdkafka::admin::{
    AdminClient, AdminOptions, AlterConfig, ConfigSource, NewPartitions, NewTopic,
    ResourceSpecifier, TopicReplication,
};
use rdkafka::client::DefaultClientContext;
use rdkafka::consumer::{BaseConsumer, Consumer};

use super::{Connection, TIMEOUT, metadata, parse_key_value};

#[derive(Args, Debug)]
pub struct TopicsArgs {
    #[command(flatten)]
    conn: Connection,
    #[command(subcommand)]
    action: Action,
}

/// The topic a command acts on: positional, or `--topic NAME` as `kafka-topics` takes it.
#[derive(Args, Debug)]
struct Topic {
    /// Topic name.
    #[arg(
        value_name = "NAME",
        required_unless_present = "topic",
        conflicts_with = "topic"
    )]
    name: Option<String>,
    /// Topic name, as kafka-topics takes it (the same as the positional NAME).
    #[arg(long = "topic", value_name = "NAME")]
    topic: Option<String>,
}

impl Topic {
    fn name(self) -> String {
        self.name
            .or(self.topic)
            .expect("clap requires NAME or --topic")
    }
}

#[derive(Subcommand, Debug)]
enum Action {
    /// Create a topic.
    Create {
        #[command(flatten)]
        topic: Topic,
        /// Number of partitions (-1: the broker's num.partitions).
        #[arg(long, default_value_t = -1, allow_hyphen_values = true)]
        partitions: i32,
        /// Replication factor (-1: the broker's default).
        #[arg(long = "replication-factor", default_value_t = -1, allow_hyphen_values = true)]
        replication_factor: i32,
        /// Topic config, key=value (repeatable), e.g. retention.ms=86400000.
        #[arg(long = "config", value_parser = parse_key_value)]
        configs: Vec<(String, String)>,
        /// Succeed if the topic already exists.
        #[arg(long)]
        if_not_exists: bool,
    },
    /// List topic names.
    List,
    /// Describe topics: partitions, offsets and config overrides.
    Describe {
        /// Topic to describe (all if omitted).
        #[arg(value_name = "NAME", conflicts_with = "topic")]
        name: Option<String>,
        /// Topic to describe, as kafka-topics takes it (the same as the positional NAME).
        #[arg(long = "topic", value_name = "NAME")]
        topic: Option<String>,
    },
    /// Add partitions or change configs.
    Alter {
        #[command(flatten)]
        topic: Topic,
        /// New, larger partition count.
        #[arg(long)]
        partitions: Option<usize>,
        /// Set a topic config, key=value (repeatable).
        #[arg(long = "config", value_parser = parse_key_value)]
        configs: Vec<(String, String)>,
        /// Remove a topic config override (repeatable).
        #[arg(long = "delete-config")]
        delete_configs: Vec<String>,
    },
    /// Delete a topic and its data.
    Delete {
        #[command(flatten)]
        topic: Topic,
    },
}

pub fn run(args: TopicsArgs) -> Result<()> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    rt.block_on(run_async(args))
}

async fn run_async(args: TopicsArgs) -> Result<()> {
    let conn = &args.conn;
    let admin: AdminClient<DefaultClientContext> = conn
        .client_config()
        .create()
        .context("creating admin client")?;
    let opts = AdminOptions::new()
        .operation_timeout(Some(TIMEOUT))
        .request_timeout(Some(TIMEOUT));
    match args.action {
        Action::Create {
            topic,
            partitions,
            replication_factor,
            configs,
            if_not_exists,
        } => {
            let name = topic.name();
            let mut topic = NewTopic::new(
                &name,
                partitions,
                TopicReplication::Fixed(replication_factor),
            );
            for (k, v) in &configs {
                topic = topic.set(k, v);
            }
            let results = admin
                .create_topics([&topic], &opts)
                .await
                .with_context(|| format!("creating topic via {}", conn.bootstrap))?;
            for r in results {
                match r {
                    Ok(t) => println!("Created topic {t}."),
                    Err((t, rdkafka::types::RDKafkaErrorCode::TopicAlreadyExists))
                        if if_not_exists =>
                    {
                        println!("Topic {t} already exists.")
                    }
                    Err((t, code)) => bail!("creating topic {t}: {code}"),
                }
            }
        }
        Action::List => {
            let md = metadata(admin.inner(), None, &conn.bootstrap)?;
            let mut names: Vec<&str> = md.topics().iter().map(|t| t.name()).collect();
            names.sort();
            for n in names {
                println!("{n}");
            }
        }
        Action::Describe { name, topic } => {
            let name = name.or(topic);
            let consumer: BaseConsumer = conn
                .client_config_with(&[("group.id", "connectd-cli-describe")])
                .create()?;
            let md = metadata(consumer.client(), name.as_deref(), &conn.bootstrap)?;
            let mut topics: Vec<_> = md.topics().iter().collect();
            topics.sort_by_key(|t| t.name());
            for t in topics {
                if let Some(err) = t.error() {
                    bail!(
                        "topic {}: {}",
                        t.name(),
                        rdkafka::types::RDKafkaErrorCode::from(err)
                    );
                }
                let overrides = topic_overrides(&admin, &opts, t.name()).await?;
                let configs: Vec<String> =
                    overrides.iter().map(|(k, v)| format!("{k}={v}")).collect();
                println!(
                    "Topic: {}\tPartitionCount: {}\tReplicationFactor: {}\tConfigs: {}",
                    t.name(),
                    t.partitions().len(),
                    t.partitions().first().map_or(0, |p| p.replicas().len()),
                    configs.join(",")
                );
                for p in t.partitions() {
                    let (low, high) = consumer.fetch_watermarks(t.name(), p.id(), TIMEOUT)?;
                    println!(
                        "\tTopic: {}\tPartition: {}\tLeader: {}\tReplicas: {:?}\tIsr: {:?}\tLogStartOffset: {low}\tLogEndOffset: {high}",
                        t.name(),
                        p.id(),
                        p.leader(),
                        p.replicas(),
                        p.isr()
                    );
                }
            }
        }
        Action::Alter {
            topic,
            partitions,
            configs,
            delete_configs,
        } => {
            let name = topic.name();
            if partitions.is_none() && configs.is_empty() && delete_configs.is_empty() {
                bail!(
                    "nothing to alter: give --partitions N, --config key=value or --delete-config key"
                );
            }
            if let Some(n) = partitions {
                let np = NewPartitions::new(&name, n);
                for r in admin.create_partitions([&np], &opts).await? {
                    r.map_err(|(t, code)| anyhow::anyhow!("adding partitions to {t}: {code}"))?;
                }
                println!("Topic {name} now has {n} partitions.");
            }
            if !configs.is_empty() || !delete_configs.is_empty() {
                // AlterConfigs replaces every override, so start from the current ones.
                let mut merged = topic_overrides(&admin, &opts, &name).await?;
                for k in &delete_configs {
                    merged.remove(k);
                }
                merged.extend(configs);
                let mut alter = AlterConfig::new(ResourceSpecifier::Topic(&name));
                for (k, v) in &merged {
                    alter = alter.set(k, v);
                }
                for r in admin.alter_configs([&alter], &opts).await? {
                    r.map_err(|(_, code)| anyhow::anyhow!("altering configs of {name}: {code}"))?;
                }
                // librdkafka's AlterConfigs result drops per-resource errors: read back to see
                // whether the broker applied the change.
                let now = topic_overrides(&admin, &opts, &name).await?;
                if now != merged {
                    let refused: Vec<String> = merged
                        .iter()
                        .filter(|(k, v)| now.get(*k) != Some(*v))
                        .map(|(k, v)| format!("{k}={v}"))
                        .collect();
                    bail!(
                        "the broker refused the config change for topic {name} ({}); check the key names and values (`connectd topics describe {name}` shows the current ones)",
                        refused.join(", ")
                    );
                }
                println!("Updated configs of topic {name}.");
            }
        }
        Action::Delete { topic } => {
            let name = topic.name();
            for r in admin.delete_topics(&[&name], &opts).await? {
                r.map_err(|(t, code)| anyhow::anyhow!("deleting topic {t}: {code}"))?;
            }
            println!("Deleted topic {name}.");
        }
    }
    Ok(())
}

/// The topic's config overrides (entries set on the topic itself).
async fn topic_overrides(
    admin: &AdminClient<DefaultClientContext>,
    opts: &AdminOptions,
    name: &str,
) -> Result<BTreeMap<String, String>> {
    let results = admin
        .describe_configs([&ResourceSpecifier::Topic(name)], opts)
        .await?;
    let mut out = BTreeMap::new();
    for r in results {
        let resource = r.map_err(|code| anyhow::anyhow!("describing configs of {name}: {code}"))?;
        for e in resource.entries {
            if matches!(e.source, ConfigSource::DynamicTopic)
                && let Some(v) = e.value
            {
                out.insert(e.name, v);
            }
        }
    }
    Ok(out)
}

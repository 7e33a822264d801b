//! The broker engine: topics and their partition logs, consumer groups and committed
//! offsets, producer ids, and the in-process API the worker uses. No sockets: the Kafka
//! protocol server ([`crate::server`]) is a thin layer that decodes requests and calls into
//! this, and the worker's embedded topic backend calls the same methods directly.
//!
//! What it owns: the data directory (partition logs through [`connectd_log`], `__meta` with
//! committed offsets and the cluster id, the clean-shutdown marker), and the wake-ups that
//! long-polling readers wait on. What it must not touch: connectors, or any socket.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::AtomicUsize;
use std::time::Duration;

use connectd_records::{Offset, TopicPartition};
use tokio::sync::Notify;

use crate::config::BrokerConfig;
use crate::groups::{Coordinator, OffsetStore};
use crate::producer_ids::ProducerIds;
use crate::reserved::Reserved;
use crate::topics::Topics;
use crate::{Error, Result};

const CLEAN_SHUTDOWN: &str = ".clean-shutdown";

/// Opens credentials and ACLs, and sets the admin user's password.
fn open_security(config: &BrokerConfig, meta: &Path) -> Result<crate::auth::Security> {
    let credentials = crate::auth::credentials::Credentials::open(meta)?;
    let mut super_users = config.super_users.clone();
    match (&config.sasl.admin_user, &config.sasl.admin_password) {
        (Some(user), Some(password)) => {
            credentials.ensure_password(
                user,
                password,
                connectd_security::scram::DEFAULT_ITERATIONS,
            )?;
            super_users.push(connectd_security::user_principal(user));
        }
        (None, None) => {}
        _ => {
            return Err(Error::Metadata {
                path: PathBuf::from("worker.toml [broker.sasl]"),
                reason: "admin_user and admin_password go together".into(),
            });
        }
    }
    let allow_if_none = config
        .allow_everyone_if_no_acl_found
        .unwrap_or(!config.authenticates());
    Ok(crate::auth::Security {
        credentials,
        acls: crate::auth::acls::Acls::open(meta, super_users, allow_if_none)?,
        mechanisms: config.sasl.enabled_mechanisms.clone(),
    })
}

/// The broker: topics, groups and the listener configuration.
pub struct Broker {
    pub(crate) config: BrokerConfig,
    pub(crate) topics: Topics,
    pub(crate) groups: Arc<Coordinator>,
    /// Woken on every append: long-polling fetches and in-process readers wait on it.
    pub(crate) appended: Appends,
    /// The bound listeners, with the address each one's clients are told, once bound.
    pub(crate) listeners: std::sync::OnceLock<Vec<crate::listeners::Bound>>,
    /// Credentials, ACLs and SASL settings.
    pub(crate) security: crate::auth::Security,
    pub(crate) cluster_id: String,
    pub(crate) producer_ids: ProducerIds,
    data_dir: PathBuf,
    /// Open connections on every listener but the workers' own (when there are several).
    pub(crate) connections: AtomicUsize,
    /// Open connections on `worker_listener`, when there are several listeners: a pool of
    /// its own, so that clients filling the others do not lock the workers out (Kafka never
    /// refuses its inter-broker listener, KIP-402).
    pub(crate) worker_connections: AtomicUsize,
    /// Open connections by client address, for `max_connections_per_ip`.
    pub(crate) per_ip: parking_lot::Mutex<std::collections::HashMap<std::net::IpAddr, usize>>,
    /// Names only trusted clients may use through the Kafka port, once set.
    pub(crate) reserved: std::sync::OnceLock<Reserved>,
}

/// Wakes whoever waits for new data: async fetches (a [`Notify`]) and threads (a counter
/// and a condition variable).
#[derive(Default)]
pub(crate) struct Appends {
    notify: Notify,
    count: std::sync::Mutex<u64>,
    grown: std::sync::Condvar,
}

impl Appends {
    pub(crate) fn notify(&self) {
        *self.count.lock().expect("append count") += 1;
        self.grown.notify_all();
        self.notify.notify_waiters();
    }

    pub(crate) fn notified(&self) -> tokio::sync::futures::Notified<'_> {
        self.notify.notified()
    }
}

/// A topic, as the status page shows it.
#[derive(Debug, Clone, serde::Serialize)]
pub struct TopicOverview {
    /// Its name.
    pub name: String,
    /// Its partitions, in order.
    pub partitions: Vec<PartitionOverview>,
}

/// One partition's bounds.
#[derive(Debug, Clone, serde::Serialize)]
pub struct PartitionOverview {
    /// The partition number.
    pub partition: i32,
    /// The first offset still stored.
    pub log_start_offset: i64,
    /// The offset the next record gets.
    pub end_offset: i64,
}

/// A consumer group, as the status page shows it.
#[derive(Debug, Clone, serde::Serialize)]
pub struct GroupOverview {
    /// The group id.
    pub group: String,
    /// Kafka's state name (Stable, Empty, ...).
    pub state: String,
    /// Members now.
    pub members: usize,
    /// Records not yet consumed, over all its partitions.
    pub lag: i64,
    /// Each partition it committed.
    pub partitions: Vec<GroupPartition>,
}

/// One partition a group committed.
#[derive(Debug, Clone, serde::Serialize)]
pub struct GroupPartition {
    /// The topic.
    pub topic: String,
    /// The partition.
    pub partition: i32,
    /// The committed offset (next to read).
    pub committed: i64,
    /// End offset minus committed.
    pub lag: i64,
}

impl Broker {
    /// Opens the data directory (recovering partitions) and returns the engine, with no
    /// listener: topics, logs, groups and producer state behind an in-process API. Call it
    /// inside a tokio runtime (the group coordinator keeps its timers there), and run
    /// [`Broker::maintain`] for retention and time-based flushes. [`crate::BoundBroker::open`] adds the
    /// Kafka protocol server on top.
    pub fn open(config: BrokerConfig, data_dir: &Path) -> Result<Arc<Broker>> {
        std::fs::create_dir_all(data_dir)
            .map_err(|e| Error::io(format!("creating data_dir {}", data_dir.display()), e))?;
        let marker = data_dir.join(CLEAN_SHUTDOWN);
        let clean = marker.exists();
        if clean {
            std::fs::remove_file(&marker)
                .map_err(|e| Error::io(format!("removing {}", marker.display()), e))?;
        } else {
            tracing::info!(data_dir = %data_dir.display(), "no clean-shutdown marker: rescanning active segments");
        }
        let started = std::time::Instant::now();
        let topics = Topics::open(data_dir, config.topic_defaults.clone(), clean)?;
        let meta = data_dir.join("__meta");
        let offsets = OffsetStore::open(&meta)?;
        let cluster_id = load_or_create_cluster_id(&meta)?;
        tracing::info!(
            topics = topics.all().len(),
            recovery_ms = started.elapsed().as_millis() as u64,
            "broker engine open"
        );
        let producer_ids = ProducerIds::open(&meta)?;
        let security = open_security(&config, &meta)?;
        Ok(Arc::new(Broker {
            groups: Coordinator::new(
                offsets,
                Duration::from_millis(config.group_initial_rebalance_delay_ms),
            ),
            config,
            topics,
            appended: Appends::default(),
            listeners: std::sync::OnceLock::new(),
            security,
            cluster_id,
            producer_ids,
            data_dir: data_dir.to_path_buf(),
            connections: AtomicUsize::new(0),
            worker_connections: AtomicUsize::new(0),
            per_ip: Default::default(),
            reserved: std::sync::OnceLock::new(),
        }))
    }

    /// Reserves topics and groups for trusted clients of the Kafka port (see
    /// [`crate::reserved`]). Call before serving; a second call is ignored.
    pub fn reserve(&self, reserved: Reserved) {
        let _ = self.reserved.set(reserved);
    }

    /// The address clients of listener `index` are told to connect to: its advertised
    /// address, or the bound one.
    pub(crate) fn advertised(&self, index: usize) -> (String, i32) {
        match self.listeners.get().and_then(|ls| ls.get(index)) {
            Some(bound) => bound.advertised.clone(),
            None => {
                let addr = self
                    .config
                    .listen
                    .unwrap_or_else(crate::config::default_listen);
                (addr.ip().to_string(), i32::from(addr.port()))
            }
        }
    }

    /// `NAME://<what>` of every bound listener, comma-separated, for DescribeConfigs.
    pub(crate) fn listener_list(
        &self,
        what: impl Fn(&crate::listeners::Bound) -> String,
    ) -> String {
        self.listeners
            .get()
            .map(|ls| {
                ls.iter()
                    .map(|b| format!("{}://{}", b.name, what(b)))
                    .collect::<Vec<_>>()
                    .join(",")
            })
            .unwrap_or_default()
    }

    /// Retention and time-based flushes (`retention.ms`, `flush.ms`), until the task is
    /// dropped or aborted. The listener runs it; an engine without one should spawn it.
    pub async fn maintain(self: Arc<Self>) {
        background_tasks(self).await
    }

    /// In-process OffsetFetch: a consumer group's committed offset of one partition.
    pub fn committed_offset(&self, group: &str, tp: &TopicPartition) -> Option<Offset> {
        self.groups
            .offsets()
            .get(group, &tp.topic, tp.partition)
            .map(|c| Offset(c.offset))
    }

    /// In-process OffsetCommit (durable), for groups that do not run the group protocol.
    pub fn commit_offsets(&self, group: &str, commits: &[(TopicPartition, Offset)]) -> Result<()> {
        let commits = commits
            .iter()
            .map(|(tp, offset)| {
                (
                    tp.topic.clone(),
                    tp.partition,
                    crate::groups::Committed {
                        offset: offset.0,
                        leader_epoch: -1,
                        metadata: None,
                    },
                )
            })
            .collect();
        self.groups.commit(group, commits)
    }

    /// In-process produce: appends record batches (RecordBatch v2, as
    /// [`connectd_record_batch`] builds them) to one partition, makes them as durable
    /// as the topic's `flush.messages` says an acknowledged write is, and wakes waiting
    /// fetches. Returns the offset of the first record. Blocking: call it from a worker thread.
    pub fn produce(&self, tp: &TopicPartition, records: &[u8]) -> Result<Offset> {
        let base = self.produce_deferred(tp, records)?;
        self.sync(tp)?;
        Ok(base)
    }

    /// Like [`Broker::produce`], but the append is made durable, and waiting readers are
    /// woken, only by the next [`Broker::sync`] of the partition: several appends share one
    /// fsync.
    pub fn produce_deferred(&self, tp: &TopicPartition, records: &[u8]) -> Result<Offset> {
        let info = self
            .partition_log(&tp.topic, tp.partition)?
            .append(records, crate::now_ms())?;
        Ok(Offset(info.base_offset))
    }

    /// Makes every append to a partition durable, as its `flush.messages` says an
    /// acknowledged write is, then wakes waiting fetches and readers.
    pub fn sync(&self, tp: &TopicPartition) -> Result<()> {
        let log = self.partition_log(&tp.topic, tp.partition)?;
        if log.config().fsync_on_ack() {
            log.sync()?;
        }
        self.appended.notify();
        Ok(())
    }

    fn partition_log(
        &self,
        topic: &str,
        partition: i32,
    ) -> Result<Arc<connectd_log::PartitionLog>> {
        self.topics
            .get(topic)
            .and_then(|t| t.partition(partition))
            .ok_or_else(|| crate::topics::unknown_topic(&format!("{topic}/{partition}")))
    }

    /// How many appends (produce requests and in-process produces) happened so far.
    pub fn append_count(&self) -> u64 {
        *self.appended.count.lock().expect("append count")
    }

    /// Blocks until an append after the `seen`-th one ([`Broker::append_count`]), or until
    /// `timeout`: an in-process reader's long poll. Blocking: call it from a worker thread.
    pub fn wait_for_append(&self, seen: u64, timeout: std::time::Duration) {
        let count = self.appended.count.lock().expect("append count");
        let _ = self
            .appended
            .grown
            .wait_timeout_while(count, timeout, |c| *c <= seen);
    }

    /// Creates a topic (`configs` under Kafka's topic-config names) unless it exists, and
    /// returns its partition count: the existing one if someone created it first.
    pub fn create_topic(
        &self,
        name: &str,
        partitions: i32,
        configs: std::collections::BTreeMap<String, String>,
    ) -> Result<i32> {
        if let Some(t) = self.topics.get(name) {
            return Ok(t.partition_count());
        }
        match self.topics.create(name, partitions, configs, false) {
            Ok(t) => Ok(t.partition_count()),
            Err(e) => match self.topics.get(name) {
                Some(t) => Ok(t.partition_count()), // created meanwhile
                None => Err(e),
            },
        }
    }

    /// Every topic with each partition's log start and end offsets, by name.
    pub fn topics_overview(&self) -> Vec<TopicOverview> {
        let mut topics: Vec<TopicOverview> = self
            .topics
            .all()
            .iter()
            .map(|t| TopicOverview {
                name: t.name.clone(),
                partitions: t
                    .partitions()
                    .iter()
                    .enumerate()
                    .map(|(i, log)| PartitionOverview {
                        partition: i as i32,
                        log_start_offset: log.log_start_offset(),
                        end_offset: log.log_end_offset(),
                    })
                    .collect(),
            })
            .collect();
        topics.sort_by(|a, b| a.name.cmp(&b.name));
        topics
    }

    /// Every consumer group (active, or with committed offsets), with its state, members
    /// and lag per partition it committed.
    pub fn groups_overview(&self) -> Vec<GroupOverview> {
        self.groups
            .list()
            .into_iter()
            .map(|g| {
                let partitions: Vec<GroupPartition> = self
                    .groups
                    .offsets()
                    .group(&g.group)
                    .into_iter()
                    .map(|(topic, partition, committed)| {
                        let end = self
                            .end_offset(&TopicPartition::new(topic.clone(), partition))
                            .map_or(committed.offset, |e| e.0);
                        GroupPartition {
                            topic,
                            partition,
                            committed: committed.offset,
                            lag: (end - committed.offset).max(0),
                        }
                    })
                    .collect();
                GroupOverview {
                    lag: partitions.iter().map(|p| p.lag).sum(),
                    group: g.group,
                    state: g.state.to_string(),
                    members: g.members.len(),
                    partitions,
                }
            })
            .collect()
    }

    /// How many partitions `topic` has, if it exists.
    pub fn partition_count(&self, topic: &str) -> Option<i32> {
        self.topics.get(topic).map(|t| t.partition_count())
    }

    /// The log end offset of a partition (the offset the next record gets).
    pub fn end_offset(&self, tp: &TopicPartition) -> Result<Offset> {
        Ok(Offset(
            self.partition_log(&tp.topic, tp.partition)?
                .log_end_offset(),
        ))
    }

    /// In-process fetch: the stored batches of `tp` from `from` on, about `max_bytes` of
    /// them, raw, as the log holds them (the reader decodes them, with
    /// `connectd_record_batch::decode_into`), and the offset they start at. An offset below
    /// the log start reads from the log start; a partition that does not exist (yet), or has
    /// nothing new, reads no batch. Blocking: call it from a worker thread, and wait for more
    /// with [`Broker::wait_for_append`].
    pub fn read(
        &self,
        tp: &TopicPartition,
        from: Offset,
        max_bytes: usize,
    ) -> Result<(Offset, Option<bytes::Bytes>)> {
        let Some(log) = self
            .topics
            .get(&tp.topic)
            .and_then(|t| t.partition(tp.partition))
        else {
            return Ok((from, None));
        };
        let from = from.0.max(log.log_start_offset());
        Ok((Offset(from), log.read(from, max_bytes)?.records))
    }

    /// Clean shutdown: flush, persist indexes, write the clean-shutdown marker.
    pub fn shutdown(&self) -> Result<()> {
        self.topics.close()?;
        let marker = self.data_dir.join(CLEAN_SHUTDOWN);
        std::fs::write(&marker, b"")
            .map_err(|e| Error::io(format!("writing {}", marker.display()), e))?;
        tracing::info!("broker shut down cleanly");
        Ok(())
    }
}

async fn background_tasks(broker: Arc<Broker>) {
    let mut retention = tokio::time::interval(Duration::from_millis(
        broker.config.log_retention_check_interval_ms.max(10),
    ));
    let mut flush = tokio::time::interval(Duration::from_millis(100));
    // The first compaction pass waits one backoff, as Kafka's cleaner does: a worker
    // starting up replays its compacted topics first.
    let backoff = Duration::from_millis(broker.config.log_cleaner_backoff_ms.max(10));
    let mut cleaner = tokio::time::interval_at(tokio::time::Instant::now() + backoff, backoff);
    loop {
        tokio::select! {
            _ = cleaner.tick() => {
                let b = broker.clone();
                let _ = tokio::task::spawn_blocking(move || b.topics.compact(crate::now_ms())).await;
            }
            _ = retention.tick() => {
                let b = broker.clone();
                let _ = tokio::task::spawn_blocking(move || b.topics.enforce_retention(crate::now_ms())).await;
            }
            _ = flush.tick() => {
                let b = broker.clone();
                let _ = tokio::task::spawn_blocking(move || b.topics.flush_due(crate::now_ms())).await;
            }
        }
    }
}

fn load_or_create_cluster_id(meta: &Path) -> Result<String> {
    let path = meta.join("cluster-id");
    if let Ok(id) = std::fs::read_to_string(&path) {
        return Ok(id.trim().to_string());
    }
    let id = uuid::Uuid::new_v4().simple().to_string()[..22].to_string();
    crate::topics::write_atomic(&path, id.as_bytes())?;
    Ok(id)
}

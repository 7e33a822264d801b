//! Topics: their metadata (id, partition count, config overrides) and their partition logs.
//!
//! Layout under `data_dir`:
//!
//! ```text
//! <topic>-<partition>/               one connectd-log partition directory each (Kafka's naming)
//! __meta/topics/<topic>.json         {"id": "...", "partitions": N, "configs": {...}}
//! ```
//!
//! A topic exists once its meta file is written (atomically, by rename); partition directories
//! without a meta file are leftovers of an interrupted delete and are removed at start.

use std::collections::{BTreeMap, HashMap};
use std::fs;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use connectd_log::{LogConfig, PartitionLog};
use kafka_protocol::ResponseError;
use parking_lot::RwLock;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::{Error, Result};

/// Kafka's limit on topic name length.
const MAX_TOPIC_NAME_LEN: usize = 249;

/// Checks a topic name the way Kafka does: 1..=249 of `[a-zA-Z0-9._-]`, not `.` or `..`.
pub fn validate_topic_name(name: &str) -> Result<()> {
    let bad = |why: &str| {
        Err(Error::kafka(
            ResponseError::InvalidTopicException,
            format!("topic name {name:?} {why}"),
        ))
    };
    if name.is_empty() {
        return bad("is empty");
    }
    if name == "." || name == ".." {
        return bad("cannot be '.' or '..'");
    }
    if name.len() > MAX_TOPIC_NAME_LEN {
        return bad("is longer than 249 characters");
    }
    if !name
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
    {
        return bad("may only contain ASCII letters, digits, '.', '_' and '-'");
    }
    Ok(())
}

#[derive(Debug, Serialize, Deserialize)]
struct TopicMeta {
    id: Uuid,
    partitions: i32,
    #[serde(default)]
    configs: BTreeMap<String, String>,
}

/// One topic and its partitions.
#[derive(Debug)]
pub struct Topic {
    /// Topic name.
    pub name: String,
    /// Topic id (Kafka's topic UUID).
    pub id: Uuid,
    partitions: RwLock<Vec<Arc<PartitionLog>>>,
    configs: RwLock<BTreeMap<String, String>>,
}

impl Topic {
    /// The partition logs, indexed by partition number.
    pub fn partitions(&self) -> Vec<Arc<PartitionLog>> {
        self.partitions.read().clone()
    }

    /// One partition, if it exists.
    pub fn partition(&self, index: i32) -> Option<Arc<PartitionLog>> {
        usize::try_from(index)
            .ok()
            .and_then(|i| self.partitions.read().get(i).cloned())
    }

    /// Number of partitions.
    pub fn partition_count(&self) -> i32 {
        self.partitions.read().len() as i32
    }

    /// The topic's config overrides.
    pub fn config_overrides(&self) -> BTreeMap<String, String> {
        self.configs.read().clone()
    }
}

/// All topics of the broker.
#[derive(Debug)]
pub struct Topics {
    data_dir: PathBuf,
    defaults: BTreeMap<String, String>,
    topics: RwLock<HashMap<String, Arc<Topic>>>,
    /// Serialises create / delete / alter so metadata files and partitions stay consistent.
    admin: parking_lot::Mutex<()>,
}

impl Topics {
    /// Opens every topic under `data_dir`. `clean` says the last run shut down cleanly.
    pub fn open(data_dir: &Path, defaults: BTreeMap<String, String>, clean: bool) -> Result<Self> {
        // Reject bad broker-level defaults before touching anything.
        LogConfig::resolve(&defaults, &BTreeMap::new())?;
        let meta_dir = data_dir.join("__meta").join("topics");
        fs::create_dir_all(&meta_dir)
            .map_err(|e| Error::io(format!("creating {}", meta_dir.display()), e))?;
        let mut topics = HashMap::new();
        for entry in fs::read_dir(&meta_dir)
            .map_err(|e| Error::io(format!("reading {}", meta_dir.display()), e))?
        {
            let path = entry
                .map_err(|e| Error::io("reading topic metadata", e))?
                .path();
            if path.extension().is_none_or(|e| e != "json") {
                continue;
            }
            let name = path
                .file_stem()
                .and_then(|s| s.to_str())
                .unwrap_or_default()
                .to_string();
            let raw =
                fs::read(&path).map_err(|e| Error::io(format!("reading {}", path.display()), e))?;
            let meta: TopicMeta = serde_json::from_slice(&raw).map_err(|e| Error::Metadata {
                path: path.clone(),
                reason: e.to_string(),
            })?;
            let config = LogConfig::resolve(&defaults, &meta.configs)?;
            let mut partitions = Vec::with_capacity(meta.partitions as usize);
            for p in 0..meta.partitions {
                partitions.push(Arc::new(PartitionLog::open(
                    &partition_dir(data_dir, &name, p),
                    config.clone(),
                    clean,
                )?));
            }
            topics.insert(
                name.clone(),
                Arc::new(Topic {
                    name,
                    id: meta.id,
                    partitions: RwLock::new(partitions),
                    configs: RwLock::new(meta.configs),
                }),
            );
        }
        Ok(Topics {
            data_dir: data_dir.to_path_buf(),
            defaults,
            topics: RwLock::new(topics),
            admin: parking_lot::Mutex::new(()),
        })
    }

    /// A topic by name.
    pub fn get(&self, name: &str) -> Option<Arc<Topic>> {
        self.topics.read().get(name).cloned()
    }

    /// A topic by id.
    pub fn get_by_id(&self, id: Uuid) -> Option<Arc<Topic>> {
        self.topics.read().values().find(|t| t.id == id).cloned()
    }

    /// Every topic, sorted by name.
    pub fn all(&self) -> Vec<Arc<Topic>> {
        let mut v: Vec<_> = self.topics.read().values().cloned().collect();
        v.sort_by(|a, b| a.name.cmp(&b.name));
        v
    }

    /// Broker-level topic-config defaults.
    pub fn defaults(&self) -> &BTreeMap<String, String> {
        &self.defaults
    }

    /// Creates a topic. With `validate_only`, checks everything and creates nothing.
    pub fn create(
        &self,
        name: &str,
        partitions: i32,
        configs: BTreeMap<String, String>,
        validate_only: bool,
    ) -> Result<Arc<Topic>> {
        validate_topic_name(name)?;
        if partitions < 1 {
            return Err(Error::kafka(
                ResponseError::InvalidPartitions,
                format!("partition count must be at least 1, got {partitions}"),
            ));
        }
        let config = LogConfig::resolve(&self.defaults, &configs)?;
        let _admin = self.admin.lock();
        if let Some(existing) = self.get(name) {
            return Err(Error::kafka(
                ResponseError::TopicAlreadyExists,
                format!(
                    "topic {name:?} already exists with {} partitions",
                    existing.partition_count()
                ),
            ));
        }
        let id = Uuid::new_v4();
        if validate_only {
            return Ok(Arc::new(Topic {
                name: name.into(),
                id,
                partitions: RwLock::new(Vec::new()),
                configs: RwLock::new(configs),
            }));
        }
        let mut logs = Vec::new();
        for p in 0..partitions {
            let dir = partition_dir(&self.data_dir, name, p);
            // A directory left by an interrupted delete must not leak old data into the new topic.
            if dir.exists() {
                fs::remove_dir_all(&dir)
                    .map_err(|e| Error::io(format!("removing stale {}", dir.display()), e))?;
            }
            logs.push(Arc::new(PartitionLog::open(&dir, config.clone(), false)?));
        }
        self.write_meta(
            name,
            &TopicMeta {
                id,
                partitions,
                configs: configs.clone(),
            },
        )?;
        let topic = Arc::new(Topic {
            name: name.into(),
            id,
            partitions: RwLock::new(logs),
            configs: RwLock::new(configs),
        });
        self.topics.write().insert(name.into(), topic.clone());
        tracing::info!(topic = name, partitions, "created topic");
        Ok(topic)
    }

    /// Deletes a topic and its data.
    pub fn delete(&self, name: &str) -> Result<Uuid> {
        let _admin = self.admin.lock();
        let topic = self
            .topics
            .write()
            .remove(name)
            .ok_or_else(|| unknown_topic(name))?;
        let meta = self.meta_path(name);
        fs::remove_file(&meta).map_err(|e| Error::io(format!("removing {}", meta.display()), e))?;
        for p in 0..topic.partition_count() {
            let dir = partition_dir(&self.data_dir, name, p);
            if let Err(e) = fs::remove_dir_all(&dir) {
                tracing::warn!(dir = %dir.display(), error = %e, "could not remove partition directory");
            }
        }
        tracing::info!(topic = name, "deleted topic");
        Ok(topic.id)
    }

    /// Grows a topic to `count` partitions (Kafka never shrinks).
    pub fn create_partitions(&self, name: &str, count: i32, validate_only: bool) -> Result<()> {
        let _admin = self.admin.lock();
        let topic = self.get(name).ok_or_else(|| unknown_topic(name))?;
        let current = topic.partition_count();
        if count <= current {
            return Err(Error::kafka(
                ResponseError::InvalidPartitions,
                format!(
                    "topic {name:?} has {current} partitions; the new count must be larger, got {count}"
                ),
            ));
        }
        if validate_only {
            return Ok(());
        }
        let config = LogConfig::resolve(&self.defaults, &topic.config_overrides())?;
        let mut added = Vec::new();
        for p in current..count {
            added.push(Arc::new(PartitionLog::open(
                &partition_dir(&self.data_dir, name, p),
                config.clone(),
                false,
            )?));
        }
        self.write_meta(
            name,
            &TopicMeta {
                id: topic.id,
                partitions: count,
                configs: topic.config_overrides(),
            },
        )?;
        topic.partitions.write().extend(added);
        tracing::info!(topic = name, from = current, to = count, "added partitions");
        Ok(())
    }

    /// Replaces a topic's config overrides and applies them to every partition live.
    pub fn set_configs(
        &self,
        name: &str,
        configs: BTreeMap<String, String>,
        validate_only: bool,
    ) -> Result<()> {
        let _admin = self.admin.lock();
        let topic = self.get(name).ok_or_else(|| unknown_topic(name))?;
        let config = LogConfig::resolve(&self.defaults, &configs)?;
        if validate_only {
            return Ok(());
        }
        self.write_meta(
            name,
            &TopicMeta {
                id: topic.id,
                partitions: topic.partition_count(),
                configs: configs.clone(),
            },
        )?;
        for p in topic.partitions() {
            p.set_config(config.clone());
        }
        *topic.configs.write() = configs;
        tracing::info!(topic = name, "applied config change");
        Ok(())
    }

    /// Runs retention on every partition.
    pub fn enforce_retention(&self, now_ms: i64) {
        for topic in self.all() {
            for (i, p) in topic.partitions().iter().enumerate() {
                if let Err(e) = p.enforce_retention(now_ms) {
                    tracing::warn!(topic = %topic.name, partition = i, error = %e, "retention failed");
                }
            }
        }
    }

    /// A compaction pass over every partition of a compacted topic (each decides whether its
    /// dirty ratio calls for one).
    pub fn compact(&self, now_ms: i64) {
        for topic in self.all() {
            for (i, p) in topic.partitions().iter().enumerate() {
                if let Err(e) = p.compact(now_ms) {
                    tracing::warn!(topic = %topic.name, partition = i, error = %e, "compaction failed");
                }
            }
        }
    }

    /// Page-cache mode's background flush: fsyncs partitions whose `flush.ms` or
    /// `flush.messages` is due.
    pub fn flush_due(&self, now_ms: i64) {
        for topic in self.all() {
            for (i, p) in topic.partitions().iter().enumerate() {
                if let Err(e) = p.flush_if_due(now_ms) {
                    tracing::warn!(topic = %topic.name, partition = i, error = %e, "flush failed");
                }
            }
        }
    }

    /// Clean shutdown of every partition.
    pub fn close(&self) -> Result<()> {
        for topic in self.all() {
            for p in topic.partitions() {
                p.close()?;
            }
        }
        Ok(())
    }

    fn meta_path(&self, name: &str) -> PathBuf {
        self.data_dir
            .join("__meta")
            .join("topics")
            .join(format!("{name}.json"))
    }

    fn write_meta(&self, name: &str, meta: &TopicMeta) -> Result<()> {
        let path = self.meta_path(name);
        let json = serde_json::to_vec_pretty(meta).expect("topic metadata serialises");
        write_atomic(&path, &json)
    }
}

/// Writes `data` to `path` durably (temporary file, fsync, rename, fsync of the directory).
pub(crate) fn write_atomic(path: &Path, data: &[u8]) -> Result<()> {
    connectd_log::write_file_atomic(path, data).map_err(|e| write_error(path, e))
}

/// [`write_atomic`] for credentials and ACLs: readable by the broker's user alone.
pub(crate) fn write_private_atomic(path: &Path, data: &[u8]) -> Result<()> {
    connectd_log::write_private_file_atomic(path, data).map_err(|e| write_error(path, e))
}

fn write_error(path: &Path, e: connectd_log::Error) -> Error {
    match e {
        connectd_log::Error::Io(e) => Error::io(format!("writing {}", path.display()), e),
        other => Error::Log(other),
    }
}

fn partition_dir(data_dir: &Path, topic: &str, partition: i32) -> PathBuf {
    data_dir.join(format!("{topic}-{partition}"))
}

pub(crate) fn unknown_topic(name: &str) -> Error {
    Error::kafka(
        ResponseError::UnknownTopicOrPartition,
        format!("unknown topic {name:?}"),
    )
}

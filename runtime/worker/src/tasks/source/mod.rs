//! Running one source task: poll the plugin, run the transforms, produce the records, store the
//! offsets, tell the plugin. Errors follow the WIT contract: retryable errors are retried with
//! backoff (up to `errors.retry.timeout`); a bad record follows `errors.tolerance`; a fatal
//! error or a trap fails the task, which restarts itself with backoff from its stored offsets;
//! an invalid config fails it until the config changes.
//!
//! Two threads per task: the task thread polls the plugin ([`poll`]); its producer thread
//! ([`deliver`]) transforms, routes ([`route`]), encodes and sends ([`encode`]) earlier polls
//! meanwhile, each poll one delivery, and reports each delivery back once it is durable, in
//! order. In-process that is at once (the fsync is part of the send); over the wire polls keep
//! flowing while earlier ones await their acknowledgements. Positions reach `connectd-offsets`
//! and the plugin's `commit` through the [`checkpoint`], only for deliveries reported durable.
//!
//! Order of writes: the records first (fsynced), then their offsets (fsynced), then the
//! plugin's `commit`. A crash between the two writes is repaired at the next start from the
//! counts the records carry (see [`crate::state::offsets`]): the task polls again from the stored
//! positions and drops what each topic partition already holds, so every record is in its
//! topics once.

mod checkpoint;
mod encode;
mod poll;
mod route;

use std::sync::Arc;
use std::sync::atomic::AtomicBool;

use connectd_host::{Grants, Limits, Plugin, TaskError};
use connectd_records::{ConnectRecord, SourceBatch, SourceRecord, TopicPartition};

use crate::backend::{Producer, TopicBackend};
use crate::clock::now_ms;
use crate::connectors::config::ConnectorConfig;
use crate::state::internal_topics::InternalTopics;
use crate::state::offsets::SourceOffsets;
use crate::state::status::Status;
use crate::tasks::restart_loop;
use crate::tasks::retry_with_tolerance::RetryWithTolerance;
use crate::tasks::transform_stage::{Chain, Indexed, TransformSpec, Transformable};
use checkpoint::Delivered;
use route::Routing;

/// Everything one source task needs.
pub(crate) struct SourceTaskContext {
    pub connector: ConnectorConfig,
    pub task_id: u32,
    pub plugin: Arc<Plugin>,
    pub backend: Arc<dyn TopicBackend>,
    pub offsets: Arc<SourceOffsets>,
    pub status: Arc<Status>,
    pub grants: Grants,
    pub limits: Limits,
    pub transforms: Vec<TransformSpec>,
    pub stop: Arc<AtomicBool>,
    pub internal_topics: InternalTopics,
}

pub(crate) fn run(ctx: SourceTaskContext) {
    restart_loop(&ctx.connector, ctx.task_id, &ctx.status, &ctx.stop, || {
        poll::run_once(&ctx)
    });
}

/// (source partition, position) pairs.
type Positions = Vec<(Vec<u8>, Vec<u8>)>;

/// (source partition, topic partition, count of its records there): see [`crate::state::offsets`].
type Tally = Vec<(Vec<u8>, TopicPartition, u64)>;

/// Most bytes of records in one produced batch.
const BATCH_BYTES: usize = 512 << 10;

/// What the producer thread does with one poll: transforms, then routing per topic partition
/// (order kept, records the partition already holds dropped), then encoding in batches of at
/// most [`BATCH_BYTES`], then sending them as one delivery. Returns what the delivery adds to the
/// next checkpoint once the producer reports it durable (its `ends` filled in then).
fn deliver(
    ctx: &SourceTaskContext,
    default_topic: &str,
    batch: SourceBatch,
    routing: &mut Routing,
    chain: &mut Chain,
    errors: &mut RetryWithTolerance,
    producer: &mut dyn Producer,
) -> Result<Delivered, TaskError> {
    let now = now_ms();
    route::check_topics(ctx, default_topic, &batch)?;
    // The latest position of every source partition polled, whether or not its records make
    // it through the transforms.
    let positions = checkpoint::polled_positions(&batch);
    let polled = Polled {
        batch,
        default_topic,
        now,
    };
    let batch = chain.run(polled, errors)?.batch;
    let routed = routing.route(&batch, default_topic)?;
    let batches = encode::encode(ctx, &batch, routed.routes, now);
    encode::produce(ctx, producer, &batches, errors)?;
    Ok(Delivered {
        positions,
        counts: routed.counts,
        ends: Vec::new(),
    })
}

/// A poll as the transform stage sees it.
struct Polled<'a> {
    batch: SourceBatch,
    /// The connector's `topic`, for records that name none.
    default_topic: &'a str,
    /// The timestamp of records that carry none.
    now: i64,
}

impl Transformable for Polled<'_> {
    /// The records bound for their topic, with no partition or offset yet.
    fn records(&self) -> Vec<ConnectRecord> {
        let batch = &self.batch;
        batch
            .records
            .iter()
            .map(|e| {
                let r = batch.record(e);
                ConnectRecord {
                    topic: r.topic.unwrap_or_else(|| self.default_topic.to_string()),
                    partition: None,
                    offset: None,
                    key: r.key,
                    value: r.value,
                    headers: r.headers,
                    timestamp_ms: r.timestamp_ms.unwrap_or(self.now),
                }
            })
            .collect()
    }

    /// Each record kept with the source partition and position it was polled with.
    fn kept(self, kept: Vec<Indexed>) -> Self {
        let batch = &self.batch;
        let records = kept
            .into_iter()
            .map(|(i, r)| {
                let entry = &batch.records[i];
                SourceRecord {
                    topic: Some(r.topic),
                    key: r.key,
                    value: r.value,
                    headers: r.headers,
                    timestamp_ms: Some(r.timestamp_ms),
                    source_partition: batch.source_partition_of(entry).to_vec(),
                    source_position: batch
                        .bytes(entry.source_position)
                        .unwrap_or_default()
                        .to_vec(),
                }
            })
            .collect();
        Polled {
            batch: records,
            ..self
        }
    }
}

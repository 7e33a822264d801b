//! Encoding a routed poll into RecordBatches and appending them.
//!
//! Each batch describes itself: its last record carries, per source partition in it, the
//! running count of that source partition's records in the batch's topic partition (the
//! `connectd.source` header), so a restart can tell how far each partition got even if the
//! offsets were never stored. Where a batch may land in part (over the wire, librdkafka cuts
//! batches of its own), every record carries its own source partition's count: whatever
//! prefix of a batch a crash leaves, its last record says how far it got.

use std::time::Instant;

use connectd_host::TaskError;
use connectd_record_batch::{BatchBuilder, ProducerBatch};
use connectd_records::{SourceBatch, SourceEntry, Span, TopicPartition};

use super::{BATCH_BYTES, SourceTaskContext};
use crate::backend::Producer;
use crate::tasks::retry_with_tolerance::RetryWithTolerance;

/// The routed records in batches of at most [`BATCH_BYTES`] (below the broker's
/// `max.message.bytes`), in send order.
pub(super) fn encode(
    ctx: &SourceTaskContext,
    batch: &SourceBatch,
    routes: Vec<(TopicPartition, Vec<(usize, u64)>)>,
    now: i64,
) -> Vec<(TopicPartition, ProducerBatch)> {
    let mut batches = Vec::new();
    for (tp, indexes) in routes {
        let mut rest = indexes.as_slice();
        while !rest.is_empty() {
            // At least one record, then as many as fit.
            let (mut take, mut bytes) = (0, 0);
            for &(i, _) in rest {
                let size = record_size(batch, &batch.records[i]);
                if take > 0 && bytes + size > BATCH_BYTES {
                    break;
                }
                take += 1;
                bytes += size;
            }
            let (chunk, after) = rest.split_at(take);
            rest = after;
            let encoded = encode_chunk(ctx, batch, chunk, bytes, now);
            batches.push((tp.clone(), encoded));
        }
    }
    batches
}

fn record_size(batch: &SourceBatch, e: &SourceEntry) -> usize {
    let len = |s: Span| s.len.max(0) as usize;
    let headers: usize = batch
        .headers_of(e)
        .iter()
        .map(|h| len(h.key) + len(h.value) + 8)
        .sum();
    len(e.key) + len(e.value) + headers + 24
}

/// One produced batch: the records `chunk` indexes (about `bytes` of them), the last one
/// carrying the count each source partition in the batch reaches.
fn encode_chunk(
    ctx: &SourceTaskContext,
    batch: &SourceBatch,
    chunk: &[(usize, u64)],
    bytes: usize,
    now: i64,
) -> ProducerBatch {
    // Per source partition: its count and its last record's position.
    let mut reached: Vec<(u32, u64, usize)> = Vec::new();
    for &(i, n) in chunk {
        let source = batch.records[i].source_partition;
        match reached.iter_mut().find(|(s, _, _)| *s == source) {
            Some(entry) => (entry.1, entry.2) = (n, i),
            None => reached.push((source, n, i)),
        }
    }
    let header = crate::state::offsets::source_header(
        &ctx.connector.name,
        reached.iter().map(|&(s, n, i)| {
            let source = batch.source_partitions.get(s as usize);
            let position = batch.bytes(batch.records[i].source_position);
            (
                source.map_or(&[][..], Vec::as_slice),
                n,
                position.unwrap_or_default(),
            )
        }),
    );
    // Where a batch may land in part, every record's own header, from a prefix per source
    // partition.
    let every_record = !ctx.backend.lands_batches_whole();
    let mut prefixes: Vec<(u32, Vec<u8>)> = Vec::new();
    let mut own = Vec::new();
    let mut builder = BatchBuilder::with_capacity(bytes + 256);
    for (at, &(i, n)) in chunk.iter().enumerate() {
        let e = &batch.records[i];
        let last = at + 1 == chunk.len();
        if every_record && !last {
            let s = e.source_partition;
            let prefix = match prefixes.iter().position(|(p, _)| *p == s) {
                Some(k) => &prefixes[k].1,
                None => {
                    let source = batch.source_partitions.get(s as usize);
                    let prefix = crate::state::offsets::record_header_prefix(
                        &ctx.connector.name,
                        source.map_or(&[][..], Vec::as_slice),
                    );
                    prefixes.push((s, prefix));
                    &prefixes[prefixes.len() - 1].1
                }
            };
            let position = batch.bytes(e.source_position).unwrap_or_default();
            crate::state::offsets::record_header(prefix, n, position, &mut own);
        }
        let marker = match (last, every_record) {
            (true, _) => Some((header.key.as_bytes(), &header.value[..])),
            (false, true) => Some((header.key.as_bytes(), &own[..])),
            (false, false) => None,
        };
        let headers = batch
            .headers_of(e)
            .iter()
            .map(|h| {
                (
                    batch.bytes(h.key).unwrap_or_default(),
                    batch.bytes(h.value).unwrap_or_default(),
                )
            })
            .chain(marker);
        builder.push(
            e.timestamp_ms.unwrap_or(now),
            batch.bytes(e.key),
            batch.bytes(e.value),
            headers,
        );
    }
    ProducerBatch::new(builder)
}

/// Sends a poll's batches in order, retrying as `errors.retry.timeout` says, and seals them as
/// one delivery: the producer reports it durable later ([`Producer::durable`]).
pub(super) fn produce(
    ctx: &SourceTaskContext,
    producer: &mut dyn Producer,
    batches: &[(TopicPartition, ProducerBatch)],
    errors: &mut RetryWithTolerance,
) -> Result<(), TaskError> {
    let retryable = |e: crate::error::Error| TaskError::Retryable(e.to_string());
    let started = Instant::now();
    let (mut records, mut bytes) = (0, 0);
    for (tp, batch) in batches {
        errors.retry(&ctx.stop, "produce", || {
            producer.send(tp, batch).map_err(retryable)
        })?;
        records += batch.len() as u64;
        bytes += batch.as_bytes().len() as u64;
    }
    // One delivery for the whole poll, not one per batch.
    errors.retry(&ctx.stop, "produce", || producer.seal().map_err(retryable))?;
    let metrics = &errors.metrics;
    metrics.records_out.increment(records);
    metrics.bytes_out.increment(bytes);
    metrics.batch_seconds.record(started.elapsed());
    Ok(())
}

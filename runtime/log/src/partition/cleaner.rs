//! Log compaction, Kafka's log cleaner for `cleanup.policy=compact` (and `compact,delete`):
//! the closed segments keep only the latest record of each key, tombstones (null values) go
//! once older than `delete.retention.ms`, and the active segment is never touched.
//!
//! A pass runs when the dirty share of the closed segments (bytes after the last cleaned
//! offset, in `cleaner-checkpoint`) reaches `min.cleanable.dirty.ratio`, and cleans the
//! closed segments whose newest record is older than `min.compaction.lag.ms`. As Kafka's
//! cleaner does, it reads the dirty ones (from the checkpoint on) to build the key map (a
//! key's hash -> its latest offset among them), stopping once the map holds
//! [`KEY_MAP_LIMIT`] keys, then rewrites each segment up to the last one mapped that loses
//! records (a record goes when the map holds a later offset for its key) into
//! `<base>.cleaned` and swaps it in by rename under the partition lock; readers holding the
//! old file keep reading it. Segments the map did not reach wait for the next pass.
//!
//! Offsets never change: a rewritten batch keeps its base offset and offset range, and its
//! records keep their offset deltas (Kafka's v2 cleaner does the same), so a compacted log has
//! gaps. The last batch of a segment is kept, empty if all its records went, so every segment
//! still ends where the next one starts. Rewritten batches are uncompressed.
//!
//! The key map holds 16 bytes of each key's SHA-256 (as Kafka's holds an MD5), not the key:
//! its memory is bounded by the number of keys, at most [`KEY_MAP_LIMIT`] and one segment's
//! worth, however long the keys are (Kafka's `log.cleaner.dedupe.buffer.size` plays this
//! part).

use std::collections::HashMap;
use std::fs::{self, File};
use std::os::unix::fs::FileExt;
use std::path::PathBuf;
use std::sync::Arc;

use connectd_record_batch::{
    BatchHeader, HEADER_LEN, MAX_DECOMPRESSED, RecordReader, uncompressed,
};

use sha2::{Digest, Sha256};

use super::PartitionLog;
use crate::Result;
use crate::segment::{Segment, file_stem, sync_dir, write_file_atomic};

/// Where the clean part of the log ends: the offset after the last cleaned segment.
const CHECKPOINT: &str = "cleaner-checkpoint";

/// The most distinct keys one pass maps (it may pass it by one segment's keys): about 64 MB
/// of map.
pub const KEY_MAP_LIMIT: usize = 1_000_000;

/// A key as the map holds it: the first 16 bytes of its SHA-256.
type KeyHash = [u8; 16];

fn key_hash(key: &[u8]) -> KeyHash {
    let digest = Sha256::digest(key);
    let mut hash = [0u8; 16];
    hash.copy_from_slice(&digest[..16]);
    hash
}

/// What one pass did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CompactionStats {
    /// Closed segments read.
    pub segments_read: usize,
    /// Segments rewritten (those that lost records).
    pub segments_rewritten: usize,
    /// Records dropped: superseded by a later record of the same key, or expired tombstones.
    pub records_removed: u64,
    /// Bytes the partition shrank by.
    pub bytes_removed: u64,
}

/// A closed segment as the pass saw it when it started.
struct Closed {
    base: i64,
    path: PathBuf,
    file: Arc<File>,
    size: u64,
    max_timestamp: i64,
    /// The offset after its last batch.
    next_offset: i64,
}

impl PartitionLog {
    /// One compaction pass (see the module docs). Does nothing unless the topic's
    /// `cleanup.policy` includes `compact` and the dirty ratio is reached.
    pub fn compact(&self, now_ms: i64) -> Result<CompactionStats> {
        self.compact_with_key_limit(now_ms, KEY_MAP_LIMIT)
    }

    /// [`PartitionLog::compact`], its key map bounded at `key_limit` keys instead.
    pub fn compact_with_key_limit(&self, now_ms: i64, key_limit: usize) -> Result<CompactionStats> {
        let config = self.config();
        if !config.cleanup_compact {
            return Ok(CompactionStats::default());
        }
        self.check_online()?;
        let closed: Vec<Closed> = {
            let inner = self.inner.lock();
            let active = inner.active().base_offset;
            inner
                .segments
                .values()
                .filter(|s| s.base_offset != active)
                .map(|s| Closed {
                    base: s.base_offset,
                    path: s.path.clone(),
                    file: s.file.clone(),
                    size: s.size,
                    max_timestamp: s.max_timestamp,
                    next_offset: s.next_offset,
                })
                .collect()
        };
        let checkpoint = fs::read_to_string(self.dir.join(CHECKPOINT))
            .ok()
            .and_then(|t| t.trim().parse::<i64>().ok())
            .unwrap_or(i64::MIN);
        let total: u64 = closed.iter().map(|s| s.size).sum();
        let dirty: u64 = closed
            .iter()
            .filter(|s| s.base >= checkpoint)
            .map(|s| s.size)
            .sum();
        if dirty == 0 || (dirty as f64) < config.min_cleanable_dirty_ratio * total as f64 {
            return Ok(CompactionStats::default());
        }
        // Records younger than min.compaction.lag.ms stay as written: clean the oldest closed
        // segments up to the first one holding such a record.
        let lag_limit = now_ms.saturating_sub(config.min_compaction_lag_ms);
        let cleanable: Vec<&Closed> = closed
            .iter()
            .take_while(|s| s.max_timestamp <= lag_limit)
            .collect();
        let mut latest: HashMap<KeyHash, i64> = HashMap::new();
        let mut mapped = 0;
        for (i, segment) in cleanable.iter().enumerate() {
            if segment.base < checkpoint {
                continue;
            }
            if latest.len() >= key_limit.max(1) {
                break;
            }
            mapped = i + 1;
            for_each_batch(segment, |header, bytes| {
                if is_control(header) {
                    return Ok(());
                }
                let batch = uncompressed(header, bytes, MAX_DECOMPRESSED)?;
                for record in RecordReader::new(&batch, 0..batch.len(), header.record_count) {
                    let record = record?;
                    if let Some(key) = record.key {
                        let offset = header.base_offset + record.offset_delta;
                        latest.insert(key_hash(&batch[key]), offset);
                    }
                }
                Ok(())
            })?;
        }
        // The segments up to the last one mapped: the clean ones before the checkpoint lose
        // what the newly mapped ones supersede.
        let cleanable = &cleanable[..mapped];
        let Some(last) = cleanable.last() else {
            return Ok(CompactionStats::default());
        };
        let mut stats = CompactionStats {
            segments_read: cleanable.len(),
            ..Default::default()
        };
        let interval = config.index_interval_bytes as u64;
        let end_of_cleaned = last.next_offset;
        for segment in cleanable {
            // A counting pass first: most segments of a settled log lose nothing.
            let removed = filter(segment, &latest, now_ms, config.delete_retention_ms, |_| {
                Ok(())
            })?;
            if removed == 0 {
                continue;
            }
            let stem = file_stem(segment.base);
            let temp = self.dir.join(format!("{stem}.cleaned"));
            let mut out = std::io::BufWriter::new(File::create(&temp)?);
            filter(
                segment,
                &latest,
                now_ms,
                config.delete_retention_ms,
                |bytes| std::io::Write::write_all(&mut out, bytes).map_err(Into::into),
            )?;
            let out = out.into_inner().map_err(|e| e.into_error())?;
            out.sync_data()?;
            drop(out);
            // Indexed before the lock is taken, so appends wait only for the swap itself.
            let mut cleaned = Segment::open(temp.clone(), segment.base, false, true, interval)?;
            let mut inner = self.inner.lock();
            // Retention may have deleted the segment meanwhile; then the cleaned copy goes.
            let still_there = inner
                .segments
                .get(&segment.base)
                .is_some_and(|s| s.size == segment.size && s.path == segment.path);
            if !still_there {
                drop(inner);
                let _ = fs::remove_file(&temp);
                continue;
            }
            fs::rename(&temp, &segment.path)?;
            sync_dir(&self.dir)?;
            cleaned.path = segment.path.clone();
            stats.segments_rewritten += 1;
            stats.records_removed += removed;
            stats.bytes_removed += segment.size - cleaned.size;
            cleaned.write_indexes()?;
            if inner.mapped == Some(segment.base) {
                inner.mapped = None;
            }
            inner.segments.insert(segment.base, cleaned);
        }
        write_file_atomic(
            &self.dir.join(CHECKPOINT),
            end_of_cleaned.to_string().as_bytes(),
        )?;
        if stats.segments_rewritten > 0 {
            tracing::info!(
                dir = %self.dir.display(),
                segments = stats.segments_rewritten,
                records_removed = stats.records_removed,
                bytes_removed = stats.bytes_removed,
                "compacted"
            );
        }
        Ok(stats)
    }
}

fn is_control(header: &BatchHeader) -> bool {
    header.attributes & 0x20 != 0
}

/// Calls `f` with each batch of `segment` (its header and whole bytes), in order.
fn for_each_batch(
    segment: &Closed,
    mut f: impl FnMut(&BatchHeader, &[u8]) -> Result<()>,
) -> Result<()> {
    let mut position = 0u64;
    let mut head = [0u8; HEADER_LEN];
    let mut bytes = Vec::new();
    while position + HEADER_LEN as u64 <= segment.size {
        segment.file.read_exact_at(&mut head, position)?;
        let header = BatchHeader::parse(&head)?;
        bytes.resize(header.size, 0);
        segment.file.read_exact_at(&mut bytes, position)?;
        f(&header, &bytes)?;
        position += header.size as u64;
    }
    Ok(())
}

/// Passes the segment's bytes, less superseded records and expired tombstones, to `emit`
/// batch by batch; returns how many records were left out. Batches that lose nothing go out
/// as they are.
fn filter(
    segment: &Closed,
    latest: &HashMap<KeyHash, i64>,
    now_ms: i64,
    delete_retention_ms: i64,
    mut emit: impl FnMut(&[u8]) -> Result<()>,
) -> Result<u64> {
    let mut removed = 0u64;
    let mut position = 0u64;
    for_each_batch(segment, |header, bytes| {
        position += header.size as u64;
        let last_of_segment = position >= segment.size;
        if is_control(header) {
            return emit(bytes);
        }
        let batch = uncompressed(header, bytes, MAX_DECOMPRESSED)?;
        let expired_tombstones = now_ms.saturating_sub(header.max_timestamp) > delete_retention_ms;
        let mut kept: Vec<std::ops::Range<usize>> = Vec::new();
        let mut total = 0u64;
        for record in RecordReader::new(&batch, 0..batch.len(), header.record_count) {
            let record = record?;
            total += 1;
            let offset = header.base_offset + record.offset_delta;
            let keep = match &record.key {
                None => true,
                Some(key) => {
                    // Kept unless the map holds a later record of its key (a key the map
                    // did not see was last written in the clean part, or is kept as is).
                    let latest = latest.get(&key_hash(&batch[key.clone()]));
                    latest.is_none_or(|&l| l <= offset)
                        && !(record.value.is_none() && expired_tombstones)
                }
            };
            if keep {
                kept.push(record.range);
            }
        }
        removed += total - kept.len() as u64;
        if kept.len() as u64 == total {
            emit(bytes)
        } else if !kept.is_empty() || last_of_segment {
            // The last batch stays, empty if need be, so the segment keeps its offset range.
            emit(&rebuilt(&batch, &kept))
        } else {
            Ok(())
        }
    })?;
    Ok(removed)
}

/// An uncompressed batch with the header of `batch` (offset range, timestamps, producer) and
/// only the records at `kept` (ranges into `batch`, whose records section is uncompressed).
fn rebuilt(batch: &[u8], kept: &[std::ops::Range<usize>]) -> Vec<u8> {
    let mut out = batch[..HEADER_LEN].to_vec();
    for range in kept {
        out.extend_from_slice(&batch[range.clone()]);
    }
    let length = (out.len() - 12) as i32;
    out[8..12].copy_from_slice(&length.to_be_bytes());
    let attributes = i16::from_be_bytes([out[21], out[22]]) & !0x7;
    out[21..23].copy_from_slice(&attributes.to_be_bytes());
    out[57..61].copy_from_slice(&(kept.len() as i32).to_be_bytes());
    let crc = crc32c::crc32c(&out[21..]);
    out[17..21].copy_from_slice(&crc.to_be_bytes());
    out
}

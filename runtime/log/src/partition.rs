//! The log of one partition: an ordered set of segments, the offsets that bound it, the
//! idempotent-producer state, and group-committed durability.
//!
//! On-disk layout of a partition directory (Kafka's):
//!
//! ```text
//! 00000000000000000000.log        record batches, as clients sent them, base offset assigned
//! 00000000000000000000.index      sparse offset index (written when the segment is sealed)
//! 00000000000000000000.timeindex  sparse time index   (written when the segment is sealed)
//! recovery-point                  base offset of the first segment an unclean start rescans
//! log-start-offset                raised by DeleteRecords
//! ```
//!
//! Durability: [`PartitionLog::append`] writes to the page cache; [`PartitionLog::sync`] makes
//! everything appended before the call durable. Concurrent `sync` callers queue on one lock, and
//! whoever gets it fsyncs for everybody who arrived meanwhile (group commit).

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, OnceLock};

use bytes::Bytes;
use parking_lot::{Mutex, RwLock};

mod cleaner;

pub use cleaner::CompactionStats;

use crate::config::LogConfig;
use crate::producer::{ProducerStates, SequenceCheck};
use crate::segment::{Segment, sync_dir, write_file_atomic};
use crate::{Error, Result};
use connectd_record_batch::{self as batch, BatchHeader};

const RECOVERY_POINT: &str = "recovery-point";
const LOG_START_OFFSET: &str = "log-start-offset";
/// Idempotent-producer state as of the last roll or clean shutdown (see `producer`).
const PRODUCER_SNAPSHOT: &str = "producer.snapshot";
/// Timestamp-type bit in the batch attributes.
const LOG_APPEND_TIME_FLAG: i16 = 0x08;

/// Where an append landed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AppendInfo {
    /// Offset assigned to the first record.
    pub base_offset: i64,
    /// Offset of the last record.
    pub last_offset: i64,
    /// The broker's timestamp for LogAppendTime topics, else -1.
    pub log_append_time_ms: i64,
    /// The batch was a retry of one already stored; nothing was written.
    pub duplicate: bool,
}

/// Batches read from a partition, with its bounds at the time of the read.
#[derive(Debug, Clone)]
pub struct ReadInfo {
    /// Whole record batches, or `None` at the end of the log.
    pub records: Option<Bytes>,
    /// The log end offset (single replica: the high watermark).
    pub high_watermark: i64,
    /// The first offset still readable.
    pub log_start_offset: i64,
}

#[derive(Debug)]
struct Inner {
    segments: BTreeMap<i64, Segment>,
    log_start_offset: i64,
    producers: ProducerStates,
    /// The one segment allowed to keep a read mapping (see `keep_mapping`).
    mapped: Option<i64>,
}

impl Inner {
    fn active(&self) -> &Segment {
        self.segments
            .values()
            .next_back()
            .expect("a partition always has an active segment")
    }
    fn active_mut(&mut self) -> &mut Segment {
        self.segments
            .values_mut()
            .next_back()
            .expect("a partition always has an active segment")
    }
    fn next_offset(&self) -> i64 {
        self.active().next_offset
    }
    /// After a read served by segment `base`: if that read left it mapped, it becomes the one
    /// segment of this partition that keeps a mapping, and the previous one is unmapped. Mapped
    /// pages and their page tables then stay within one segment per partition however much
    /// history consumers read.
    fn keep_mapping(&mut self, base: i64) {
        if self.mapped == Some(base) || !self.segments.get(&base).is_some_and(Segment::is_mapped) {
            return;
        }
        if let Some(old) = self.mapped.and_then(|b| self.segments.get(&b)) {
            old.unmap();
        }
        self.mapped = Some(base);
    }
}

/// One partition's log.
#[derive(Debug)]
pub struct PartitionLog {
    dir: PathBuf,
    config: RwLock<Arc<LogConfig>>,
    inner: Mutex<Inner>,
    sync_lock: Mutex<()>,
    durable_offset: AtomicI64,
    /// Wall-clock time of the last completed fsync, for `flush.ms`.
    last_flush_ms: AtomicI64,
    /// Set by the first failed write or fsync: after it, what reached the disk is unknown
    /// (a failed fsync may have dropped dirty pages that a later fsync would not report), so
    /// the partition refuses reads and writes until a restart recovers it from the files.
    offline: OnceLock<String>,
}

impl PartitionLog {
    /// Opens (or creates) the partition in `dir`. `clean` says the previous run shut down
    /// cleanly, so index files can be trusted and no segment is rescanned.
    pub fn open(dir: &Path, config: LogConfig, clean: bool) -> Result<Self> {
        if !dir.exists() {
            fs::create_dir_all(dir)?;
            if let Some(parent) = dir.parent() {
                sync_dir(parent)?;
            }
        }
        let recovery_point = read_i64(&dir.join(RECOVERY_POINT)).unwrap_or(0);
        let mut bases = Vec::new();
        for entry in fs::read_dir(dir)? {
            let path = entry?.path();
            match path.extension().and_then(|e| e.to_str()) {
                Some("log") => {
                    if let Some(base) = path
                        .file_stem()
                        .and_then(|s| s.to_str())
                        .and_then(|s| s.parse::<i64>().ok())
                    {
                        bases.push((base, path));
                    }
                }
                // A temporary file, or a compacted copy whose swap never happened (the `.log` it
                // was to replace is whole).
                Some("tmp" | "cleaned") => {
                    let _ = fs::remove_file(&path);
                }
                _ => {}
            }
        }
        bases.sort();
        let interval = config.index_interval_bytes as u64;
        let mut segments: BTreeMap<i64, Segment> = BTreeMap::new();
        let mut broken = false;
        for (base, path) in bases {
            if broken {
                tracing::warn!(segment = %path.display(), "deleting segment after a truncated one");
                fs::remove_file(&path)?;
                let _ = fs::remove_file(path.with_extension("index"));
                let _ = fs::remove_file(path.with_extension("timeindex"));
                continue;
            }
            let closed = base < recovery_point;
            let segment = Segment::open(path, base, clean || closed, closed, interval)?;
            if let Some(prev) = segments.values().next_back()
                && segment.base_offset != prev.next_offset
            {
                tracing::warn!(segment = %segment.path.display(), expected = prev.next_offset, "segment does not continue the log; deleting it and later segments");
                segment.delete()?;
                broken = true;
                continue;
            }
            segments.insert(base, segment);
        }
        let stored_start = read_i64(&dir.join(LOG_START_OFFSET)).unwrap_or(0);
        if segments.is_empty() {
            segments.insert(stored_start, Segment::create(dir, stored_start)?);
        }
        let first_base = *segments.keys().next().expect("non-empty");
        let producers = recover_producers(dir, &segments)?;
        let mut inner = Inner {
            segments,
            log_start_offset: 0,
            producers,
            mapped: None,
        };
        inner.log_start_offset = first_base.max(stored_start).min(inner.next_offset());
        let end = inner.next_offset();
        Ok(PartitionLog {
            dir: dir.to_path_buf(),
            config: RwLock::new(Arc::new(config)),
            inner: Mutex::new(inner),
            sync_lock: Mutex::new(()),
            durable_offset: AtomicI64::new(end),
            last_flush_ms: AtomicI64::new(0),
            offline: OnceLock::new(),
        })
    }

    /// The directory holding this partition.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The current config.
    pub fn config(&self) -> Arc<LogConfig> {
        self.config.read().clone()
    }

    /// Replaces the config; applies from the next append or retention pass.
    pub fn set_config(&self, config: LogConfig) {
        *self.config.write() = Arc::new(config);
    }

    /// Appends the batches in `records` (one produce request's payload for this partition),
    /// assigning offsets. Validates every batch (framing, magic, CRC-32C) before writing any.
    pub fn append(&self, records: &[u8], now_ms: i64) -> Result<AppendInfo> {
        self.check_online()?;
        let appended = self.append_batches(records, now_ms);
        self.offline_on_io("append", appended)
    }

    fn append_batches(&self, records: &[u8], now_ms: i64) -> Result<AppendInfo> {
        let config = self.config();
        if records.len() as i64 > config.max_message_bytes {
            return Err(Error::RecordTooLarge {
                size: records.len(),
                max: config.max_message_bytes,
            });
        }
        let batches = batch::split_batches(records)?;
        if batches.is_empty() {
            return Err(Error::CorruptBatch("empty record set".into()));
        }
        let mut inner = self.inner.lock();
        let mut info: Option<AppendInfo> = None;
        for (header, range) in batches {
            match inner.producers.check(&header) {
                SequenceCheck::Append => {}
                SequenceCheck::Duplicate(base_offset) => {
                    let last_offset = base_offset + i64::from(header.last_offset_delta);
                    info.get_or_insert(AppendInfo {
                        base_offset,
                        last_offset,
                        log_append_time_ms: -1,
                        duplicate: true,
                    });
                    continue;
                }
                SequenceCheck::OutOfOrder { expected, got } => {
                    return Err(Error::OutOfOrderSequence {
                        producer_id: header.producer_id,
                        expected,
                        got,
                    });
                }
                SequenceCheck::StaleEpoch => {
                    return Err(Error::InvalidProducerEpoch(header.producer_id));
                }
            }
            let batch_bytes = &records[range];
            let base_offset = inner.next_offset();
            let interval = config.index_interval_bytes as u64;
            self.maybe_roll(&mut inner, &config, batch_bytes.len(), now_ms)?;
            let mut append_time = -1;
            let header = if config.log_append_time {
                let mut buf = batch_bytes.to_vec();
                batch::set_base_offset(&mut buf, base_offset);
                stamp_log_append_time(&mut buf, now_ms);
                append_time = now_ms;
                let header = BatchHeader::parse(&buf)?;
                inner.active_mut().append_parts(
                    [&buf[..8], &buf[8..]],
                    &header,
                    now_ms,
                    interval,
                )?;
                header
            } else {
                // The batch goes to disk as the client sent it, with only the base offset
                // (not covered by the CRC) replaced; no copy in memory.
                let header = BatchHeader {
                    base_offset,
                    ..header
                };
                let offset_bytes = base_offset.to_be_bytes();
                inner.active_mut().append_parts(
                    [&offset_bytes, &batch_bytes[8..]],
                    &header,
                    now_ms,
                    interval,
                )?;
                header
            };
            inner.producers.record(&header);
            let entry = info.get_or_insert(AppendInfo {
                base_offset,
                last_offset: header.last_offset(),
                log_append_time_ms: append_time,
                duplicate: false,
            });
            entry.last_offset = header.last_offset();
            entry.duplicate = false;
        }
        Ok(info.expect("at least one batch"))
    }

    fn maybe_roll(
        &self,
        inner: &mut Inner,
        config: &LogConfig,
        incoming: usize,
        now_ms: i64,
    ) -> Result<()> {
        let active = inner.active();
        let too_big =
            active.size > 0 && active.size as i64 + incoming as i64 > config.segment_bytes;
        let too_old = active
            .first_append_ms
            .is_some_and(|t| now_ms - t >= config.segment_ms);
        // Positions in the sparse index are u32.
        let index_full = active.size + incoming as u64 > u32::MAX as u64;
        if !(too_big || too_old || index_full) {
            return Ok(());
        }
        active.seal()?;
        let base = active.next_offset;
        let segment = Segment::create(&self.dir, base)?;
        inner.segments.insert(base, segment);
        write_file_atomic(
            &self.dir.join(PRODUCER_SNAPSHOT),
            &inner.producers.snapshot(base),
        )?;
        write_file_atomic(&self.dir.join(RECOVERY_POINT), base.to_string().as_bytes())?;
        tracing::debug!(dir = %self.dir.display(), base, "rolled segment");
        Ok(())
    }

    /// Makes every append that returned before this call durable (group commit).
    pub fn sync(&self) -> Result<()> {
        self.check_online()?;
        let synced = self.sync_appended();
        self.offline_on_io("fsync", synced)
    }

    fn sync_appended(&self) -> Result<()> {
        let target = self.log_end_offset();
        if self.durable_offset.load(Ordering::Acquire) >= target {
            return Ok(());
        }
        let _one_at_a_time = self.sync_lock.lock();
        if self.durable_offset.load(Ordering::Acquire) >= target {
            return Ok(()); // the fsync that just finished covered us
        }
        let (file, end) = {
            let inner = self.inner.lock();
            (inner.active().file.clone(), inner.next_offset())
        };
        file.sync_data()?;
        self.durable_offset.fetch_max(end, Ordering::AcqRel);
        self.last_flush_ms.store(now_ms(), Ordering::Release);
        Ok(())
    }

    /// Page-cache mode: fsyncs when `flush.ms` has passed since the last fsync or
    /// `flush.messages` offsets are not yet durable. Returns whether it synced.
    pub fn flush_if_due(&self, now_ms: i64) -> Result<bool> {
        let config = self.config();
        let pending = self.log_end_offset() - self.durable_offset.load(Ordering::Acquire);
        if pending <= 0 {
            return Ok(false);
        }
        let due = now_ms - self.last_flush_ms.load(Ordering::Acquire) >= config.flush_ms
            || pending >= config.flush_messages;
        if due {
            self.sync()?;
        }
        Ok(due)
    }

    /// Offset after the last record (the high watermark of a single-replica partition).
    pub fn log_end_offset(&self) -> i64 {
        self.inner.lock().next_offset()
    }

    /// First offset still readable.
    pub fn log_start_offset(&self) -> i64 {
        self.inner.lock().log_start_offset
    }

    /// Total bytes in all segments.
    pub fn size_bytes(&self) -> u64 {
        self.inner.lock().segments.values().map(|s| s.size).sum()
    }

    /// Reads whole batches from `offset`, about `max_bytes` of them.
    pub fn read(&self, offset: i64, max_bytes: usize) -> Result<ReadInfo> {
        self.check_online()?;
        let mut inner = self.inner.lock();
        let end = inner.next_offset();
        let start = inner.log_start_offset;
        if offset < start || offset > end {
            return Err(Error::OffsetOutOfRange { offset, start, end });
        }
        let mut records = None;
        for (base, segment) in inner
            .segments
            .range(..=offset)
            .next_back()
            .into_iter()
            .chain(inner.segments.range(offset + 1..))
        {
            if let Some(bytes) = segment.read(offset, max_bytes)? {
                records = Some((*base, bytes));
                break;
            }
        }
        let records = records.map(|(base, bytes)| {
            inner.keep_mapping(base);
            bytes
        });
        Ok(ReadInfo {
            records,
            high_watermark: end,
            log_start_offset: start,
        })
    }

    /// The first offset whose batch holds a timestamp at least `timestamp`, with that batch's
    /// max timestamp; `None` if every record is older.
    pub fn offset_for_timestamp(&self, timestamp: i64) -> Result<Option<(i64, i64)>> {
        let inner = self.inner.lock();
        for segment in inner.segments.values() {
            if let Some((offset, ts)) = segment.offset_for_timestamp(timestamp)? {
                return Ok(Some((offset.max(inner.log_start_offset), ts)));
            }
        }
        Ok(None)
    }

    /// Largest timestamp in the partition and the offset of the batch that holds it.
    pub fn max_timestamp(&self) -> Result<Option<(i64, i64)>> {
        let max = {
            let inner = self.inner.lock();
            inner
                .segments
                .values()
                .map(|s| s.max_timestamp)
                .max()
                .unwrap_or(-1)
        };
        if max < 0 {
            return Ok(None);
        }
        self.offset_for_timestamp(max)
    }

    /// Deletes closed segments past `retention.ms` / `retention.bytes`. Returns how many went.
    pub fn enforce_retention(&self, now_ms: i64) -> Result<usize> {
        let config = self.config();
        if !config.cleanup_delete {
            return Ok(0);
        }
        let mut inner = self.inner.lock();
        let mut total: i64 = inner.segments.values().map(|s| s.size as i64).sum();
        let mut removed = 0;
        while inner.segments.len() > 1 {
            let first = inner.segments.values().next().expect("non-empty");
            let expired = config.retention_ms >= 0
                && first.max_timestamp >= 0
                && now_ms - first.max_timestamp > config.retention_ms;
            let oversize =
                config.retention_bytes >= 0 && total - first.size as i64 >= config.retention_bytes;
            if !(expired || oversize) {
                break;
            }
            let base = first.base_offset;
            let segment = inner.segments.remove(&base).expect("present");
            total -= segment.size as i64;
            tracing::info!(dir = %self.dir.display(), base, expired, oversize, "retention deleted segment");
            segment.delete()?;
            removed += 1;
        }
        let first_base = *inner.segments.keys().next().expect("non-empty");
        inner.log_start_offset = inner.log_start_offset.max(first_base);
        Ok(removed)
    }

    /// DeleteRecords: makes `offset` the new log start (clamped to the end), dropping whole
    /// segments below it. `-1` means the high watermark. Returns the new log start offset.
    pub fn delete_records_before(&self, offset: i64) -> Result<i64> {
        let mut inner = self.inner.lock();
        let end = inner.next_offset();
        let offset = if offset == -1 { end } else { offset };
        if offset < 0 || offset > end {
            return Err(Error::OffsetOutOfRange {
                offset,
                start: inner.log_start_offset,
                end,
            });
        }
        if offset <= inner.log_start_offset {
            return Ok(inner.log_start_offset);
        }
        inner.log_start_offset = offset;
        write_file_atomic(
            &self.dir.join(LOG_START_OFFSET),
            offset.to_string().as_bytes(),
        )?;
        while inner.segments.len() > 1 {
            let first = inner.segments.values().next().expect("non-empty");
            if first.next_offset > offset {
                break;
            }
            let base = first.base_offset;
            inner.segments.remove(&base).expect("present").delete()?;
        }
        Ok(offset)
    }

    /// Clean shutdown: fsync and persist the active segment's indexes.
    pub fn close(&self) -> Result<()> {
        self.check_online()?;
        let inner = self.inner.lock();
        let snapshot = inner.producers.snapshot(inner.next_offset());
        let sealed = inner
            .active()
            .seal()
            .and_then(|()| write_file_atomic(&self.dir.join(PRODUCER_SNAPSHOT), &snapshot));
        self.offline_on_io("close", sealed)
    }

    /// Deletes the whole partition directory.
    pub fn delete(self) -> Result<()> {
        drop(self.inner);
        fs::remove_dir_all(&self.dir)?;
        if let Some(parent) = self.dir.parent() {
            sync_dir(parent)?;
        }
        Ok(())
    }

    /// Why the partition is offline, if it is.
    pub fn offline_reason(&self) -> Option<&str> {
        self.offline.get().map(String::as_str)
    }

    fn check_online(&self) -> Result<()> {
        match self.offline.get() {
            None => Ok(()),
            Some(reason) => Err(Error::Offline {
                dir: self.dir.clone(),
                reason: reason.clone(),
            }),
        }
    }

    /// Takes the partition offline if `result` is an I/O error (the first one is kept as the
    /// reason and logged), and returns the offline error in its place.
    fn offline_on_io<T>(&self, what: &str, result: Result<T>) -> Result<T> {
        match result {
            Err(Error::Io(e)) => {
                let reason = format!("a failed {what}: {e}");
                if self.offline.set(reason).is_ok() {
                    tracing::error!(dir = %self.dir.display(), error = %e, operation = what, "partition offline after a failed write or fsync; it refuses reads and writes until connectd restarts");
                }
                Err(self.check_online().expect_err("just set offline"))
            }
            other => other,
        }
    }
}

/// Producer state at open: the snapshot written at the last roll or clean shutdown, then the
/// batch headers after it. Without a usable snapshot (none yet, unreadable, or past a
/// truncated end), every segment's headers are replayed.
fn recover_producers(dir: &Path, segments: &BTreeMap<i64, Segment>) -> Result<ProducerStates> {
    let first = *segments.keys().next().expect("non-empty");
    let end = segments
        .values()
        .next_back()
        .expect("non-empty")
        .next_offset;
    let (from, mut states) = fs::read(dir.join(PRODUCER_SNAPSHOT))
        .ok()
        .and_then(|b| ProducerStates::from_snapshot(&b))
        .filter(|(offset, _)| *offset <= end)
        .unwrap_or_default();
    let from = from.max(first);
    for segment in segments.values().filter(|s| s.next_offset > from) {
        segment.for_each_header_from(from, |h| states.record(h))?;
    }
    Ok(states)
}

fn stamp_log_append_time(buf: &mut [u8], now_ms: i64) {
    let attributes = i16::from_be_bytes([buf[21], buf[22]]) | LOG_APPEND_TIME_FLAG;
    buf[21..23].copy_from_slice(&attributes.to_be_bytes());
    buf[35..43].copy_from_slice(&now_ms.to_be_bytes());
    let crc = crc32c::crc32c(&buf[21..]);
    buf[17..21].copy_from_slice(&crc.to_be_bytes());
}

/// Milliseconds since the Unix epoch (0 if the clock is before it).
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

fn read_i64(path: &Path) -> Option<i64> {
    fs::read_to_string(path).ok()?.trim().parse().ok()
}

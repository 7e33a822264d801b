//! One segment of a partition: `<base>.log` plus its sparse `<base>.index` and `<base>.timeindex`.
//!
//! Invariants:
//! - the `.log` file is a sequence of whole RecordBatch v2 frames with strictly increasing
//!   offsets from `base_offset` (after recovery truncated any torn tail), contiguous unless
//!   compaction removed records;
//! - the in-memory indexes always describe the `.log` file; their files are written only when
//!   the segment is closed (roll or clean shutdown) and are rebuilt from the `.log` otherwise;
//! - `.index` holds `(relative offset u32, position u32)` big-endian pairs, one per
//!   `index.interval.bytes` of log; `.timeindex` holds `(max timestamp so far i64, relative
//!   offset u32)` at the same points.

use std::fs::{self, File, OpenOptions};
use std::io::{IoSlice, Read, Seek, SeekFrom, Write};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use bytes::Bytes;

use crate::{Error, Result};
use connectd_record_batch::{BatchHeader, HEADER_LEN};

/// Reads at least this large are served from a mapping of the segment rather than a copy
/// (see `Segment::read_bytes`); below it (a consumer keeping up with the producers) a copy
/// is as cheap, and keeps no pages mapped.
const MAP_READS_FROM: usize = 256 * 1024;

/// A segment's mapping grows in steps of this size (see `Segment::mapping`).
const MAP_STEP: u64 = 64 << 20;

/// Bytes of a segment's mapping: the records of one read.
struct MappedRange {
    map: Arc<memmap2::Mmap>,
    start: usize,
    len: usize,
}

impl AsRef<[u8]> for MappedRange {
    fn as_ref(&self) -> &[u8] {
        &self.map[self.start..self.start + self.len]
    }
}

/// File name stem for a base offset, as Kafka names segments.
pub fn file_stem(base_offset: i64) -> String {
    format!("{base_offset:020}")
}

#[derive(Debug)]
pub(crate) struct Segment {
    pub base_offset: i64,
    pub path: PathBuf,
    pub file: Arc<File>,
    pub size: u64,
    /// Offset after the last batch (== `base_offset` when empty).
    pub next_offset: i64,
    /// Largest record timestamp stored, or -1.
    pub max_timestamp: i64,
    /// Wall-clock time of the first append, for `segment.ms`.
    pub first_append_ms: Option<i64>,
    index: Vec<(u32, u32)>,
    time_index: Vec<(i64, u32)>,
    bytes_since_index: u64,
    /// A mapping kept from earlier large reads (see `read_bytes`).
    map: parking_lot::Mutex<Option<Arc<memmap2::Mmap>>>,
}

impl Segment {
    pub fn create(dir: &Path, base_offset: i64) -> Result<Self> {
        let path = dir.join(format!("{}.log", file_stem(base_offset)));
        let file = OpenOptions::new()
            .create(true)
            .read(true)
            .append(true)
            .open(&path)?;
        // The new name must survive a power loss before records in it are acknowledged.
        sync_dir(dir)?;
        Ok(Self::empty(base_offset, path, file))
    }

    fn empty(base_offset: i64, path: PathBuf, file: File) -> Self {
        Segment {
            base_offset,
            path,
            file: Arc::new(file),
            size: 0,
            next_offset: base_offset,
            max_timestamp: -1,
            first_append_ms: None,
            index: Vec::new(),
            time_index: Vec::new(),
            bytes_since_index: 0,
            map: Default::default(),
        }
    }

    /// Opens an existing segment. With `trust_indexes`, index files written at close are loaded
    /// and only the last indexed stretch is rescanned; otherwise the whole file is scanned,
    /// and a torn or corrupt tail is truncated at the first bad batch. `closed` says the
    /// segment was sealed (fsynced at its roll) and may since have been compacted, so a
    /// forward jump in offsets is a compacted gap; in the active segment it means a damaged
    /// base offset (the CRC does not cover it), and the tail is cut there.
    pub fn open(
        path: PathBuf,
        base_offset: i64,
        trust_indexes: bool,
        closed: bool,
        index_interval: u64,
    ) -> Result<Self> {
        let file = OpenOptions::new().read(true).append(true).open(&path)?;
        let mut segment = Self::empty(base_offset, path, file);
        if trust_indexes && segment.load_indexes()? {
            return Ok(segment);
        }
        segment.recover(index_interval, closed)?;
        Ok(segment)
    }

    fn index_path(&self, ext: &str) -> PathBuf {
        self.path.with_extension(ext)
    }

    /// Loads the index files written at close. Returns false when they are missing or do not
    /// fit the log file, in which case the caller rescans.
    fn load_indexes(&mut self) -> Result<bool> {
        let (Ok(index), Ok(time_index)) = (
            fs::read(self.index_path("index")),
            fs::read(self.index_path("timeindex")),
        ) else {
            return Ok(false);
        };
        // The trailer of `.index` records the segment's end: size, next offset, max timestamp.
        if index.len() < 24 || (index.len() - 24) % 8 != 0 || time_index.len() % 12 != 0 {
            return Ok(false);
        }
        let (entries, trailer) = index.split_at(index.len() - 24);
        let size = u64::from_be_bytes(trailer[0..8].try_into().expect("8"));
        let next_offset = i64::from_be_bytes(trailer[8..16].try_into().expect("8"));
        let max_timestamp = i64::from_be_bytes(trailer[16..24].try_into().expect("8"));
        if size != self.file.metadata()?.len() {
            return Ok(false);
        }
        self.index = entries
            .chunks_exact(8)
            .map(|c| {
                (
                    u32::from_be_bytes(c[0..4].try_into().expect("4")),
                    u32::from_be_bytes(c[4..8].try_into().expect("4")),
                )
            })
            .collect();
        self.time_index = time_index
            .chunks_exact(12)
            .map(|c| {
                (
                    i64::from_be_bytes(c[0..8].try_into().expect("8")),
                    u32::from_be_bytes(c[8..12].try_into().expect("4")),
                )
            })
            .collect();
        self.size = size;
        self.next_offset = next_offset;
        self.max_timestamp = max_timestamp;
        Ok(true)
    }

    /// Writes the index files so the next clean start can skip the scan.
    pub fn write_indexes(&self) -> Result<()> {
        let mut index = Vec::with_capacity(self.index.len() * 8 + 24);
        for (rel, pos) in &self.index {
            index.extend_from_slice(&rel.to_be_bytes());
            index.extend_from_slice(&pos.to_be_bytes());
        }
        index.extend_from_slice(&self.size.to_be_bytes());
        index.extend_from_slice(&self.next_offset.to_be_bytes());
        index.extend_from_slice(&self.max_timestamp.to_be_bytes());
        let mut time_index = Vec::with_capacity(self.time_index.len() * 12);
        for (ts, rel) in &self.time_index {
            time_index.extend_from_slice(&ts.to_be_bytes());
            time_index.extend_from_slice(&rel.to_be_bytes());
        }
        write_synced(&self.index_path("index"), &index)?;
        write_synced(&self.index_path("timeindex"), &time_index)?;
        Ok(())
    }

    fn remove_index_files(&self) {
        let _ = fs::remove_file(self.index_path("index"));
        let _ = fs::remove_file(self.index_path("timeindex"));
    }

    /// Scans the whole file, validating every batch (CRC included), rebuilding the indexes and
    /// truncating at the first torn or corrupt batch.
    fn recover(&mut self, index_interval: u64, allow_gaps: bool) -> Result<()> {
        self.remove_index_files();
        let len = self.file.metadata()?.len();
        let mut data = Vec::with_capacity(len as usize);
        (&*self.file).read_to_end(&mut data)?;
        let mut pos = 0usize;
        let mut expected = self.base_offset;
        while pos < data.len() {
            let rest = &data[pos..];
            let header = match BatchHeader::parse(rest) {
                Ok(h) if h.size <= rest.len() => {
                    match BatchHeader::parse_checked(&rest[..h.size]) {
                        Ok(h) => h,
                        Err(e) => {
                            tracing::warn!(segment = %self.path.display(), position = pos, error = %e, "corrupt batch; truncating");
                            break;
                        }
                    }
                }
                Ok(h) => {
                    tracing::warn!(segment = %self.path.display(), position = pos, need = h.size, have = rest.len(), "torn batch at tail; truncating");
                    break;
                }
                Err(e) => {
                    tracing::warn!(segment = %self.path.display(), position = pos, error = %e, "unreadable batch header; truncating");
                    break;
                }
            };
            // Offsets only grow; a compacted segment has gaps (see `partition::cleaner`).
            let gap_ok = allow_gaps && header.base_offset > expected;
            if header.base_offset != expected && !gap_ok {
                tracing::warn!(segment = %self.path.display(), position = pos, expected, found = header.base_offset, "offset gap; truncating");
                break;
            }
            self.track(&header, pos as u64, index_interval);
            expected = header.last_offset() + 1;
            pos += header.size;
        }
        if (pos as u64) < len {
            self.file.set_len(pos as u64)?;
            self.file.sync_all()?;
        }
        self.size = pos as u64;
        Ok(())
    }

    /// Records a batch written at `position` in the indexes and counters.
    fn track(&mut self, header: &BatchHeader, position: u64, index_interval: u64) {
        if self.index.is_empty() || self.bytes_since_index >= index_interval {
            let rel = (header.base_offset - self.base_offset) as u32;
            self.index.push((rel, position as u32));
            let ts = self.max_timestamp.max(header.max_timestamp);
            self.time_index.push((ts, rel));
            self.bytes_since_index = 0;
        }
        self.bytes_since_index += header.size as u64;
        self.max_timestamp = self.max_timestamp.max(header.max_timestamp);
        self.next_offset = header.last_offset() + 1;
    }

    /// Appends one validated batch whose bytes are `parts` concatenated (the rewritten base
    /// offset and the rest, so the batch is never copied in memory).
    pub fn append_parts(
        &mut self,
        parts: [&[u8]; 2],
        header: &BatchHeader,
        now_ms: i64,
        index_interval: u64,
    ) -> Result<()> {
        let len = parts[0].len() + parts[1].len();
        if let Err(e) = write_all_vectored(&self.file, parts) {
            // Cut what part of the batch reached the file (a full disk, say), so the next
            // append lands at `self.size`, where the indexes and readers expect it.
            let _ = self.file.set_len(self.size);
            return Err(e.into());
        }
        let position = self.size;
        self.size += len as u64;
        self.first_append_ms.get_or_insert(now_ms);
        self.track(header, position, index_interval);
        Ok(())
    }

    /// Position of the batch that contains `offset`, or `None` if it is past the end.
    fn locate(&self, offset: i64) -> Result<Option<(u64, BatchHeader)>> {
        if offset >= self.next_offset {
            return Ok(None);
        }
        let rel = (offset.max(self.base_offset) - self.base_offset) as u32;
        let start = match self.index.partition_point(|(r, _)| *r <= rel) {
            0 => 0,
            i => self.index[i - 1].1 as u64,
        };
        self.scan_from(start, |h| h.last_offset() >= offset)
    }

    /// Calls `f` with the header of every batch holding `offset` or later, in order.
    pub fn for_each_header_from(&self, offset: i64, mut f: impl FnMut(&BatchHeader)) -> Result<()> {
        let Some((mut position, _)) = self.locate(offset)? else {
            return Ok(());
        };
        let mut buf = [0u8; HEADER_LEN];
        while position + HEADER_LEN as u64 <= self.size {
            self.file.read_exact_at(&mut buf, position)?;
            let header = BatchHeader::parse(&buf)?;
            f(&header);
            position += header.size as u64;
        }
        Ok(())
    }

    /// Walks batch headers from `position` until `stop` holds.
    fn scan_from(
        &self,
        mut position: u64,
        stop: impl Fn(&BatchHeader) -> bool,
    ) -> Result<Option<(u64, BatchHeader)>> {
        let mut buf = [0u8; HEADER_LEN];
        while position + HEADER_LEN as u64 <= self.size {
            self.file.read_exact_at(&mut buf, position)?;
            let header = BatchHeader::parse(&buf)?;
            if stop(&header) {
                return Ok(Some((position, header)));
            }
            position += header.size as u64;
        }
        Ok(None)
    }

    /// Reads whole batches starting with the one holding `offset`, up to `max_bytes` (the first
    /// batch is returned whole even when larger, as Kafka does since KIP-74).
    pub fn read(&self, offset: i64, max_bytes: usize) -> Result<Option<Bytes>> {
        let Some((position, first)) = self.locate(offset)? else {
            return Ok(None);
        };
        let available = (self.size - position) as usize;
        let want = available.min(max_bytes.max(first.size));
        let buf = self.read_bytes(position, want)?;
        // Trim to whole batches.
        let mut end = 0usize;
        while end + HEADER_LEN <= buf.len() {
            let header = BatchHeader::parse(&buf[end..])?;
            if end + header.size > buf.len() {
                break;
            }
            end += header.size;
        }
        if end == 0 {
            return Err(Error::CorruptBatch(format!(
                "{}: batch at {position} unreadable",
                self.path.display()
            )));
        }
        Ok(Some(buf.slice(..end)))
    }

    /// `len` bytes at `position`, which the caller knows are below `self.size`.
    ///
    /// Large reads (a consumer catching up) are served from a mapping of the segment instead
    /// of a copy: the response then goes from the page cache to the socket with one copy, not
    /// two, and no fresh heap pages are faulted in per read. The mapping is kept for the next
    /// read: mapping and unmapping 1 MiB per read (with its page-table and reverse-map
    /// updates) cost a quarter of the broker's CPU while consumers caught up (BENCHMARKS.md).
    /// A mapping lives as long as the segment or the last `Bytes` taken from it (until that
    /// response is written). Nothing reads past `self.size`, and the file never shrinks below
    /// it while open for reads (recovery truncates before anything reads; a failed append
    /// cuts only its own partial bytes), so a read cannot fault; a deleted segment's pages
    /// stay mapped until unmapped.
    fn read_bytes(&self, position: u64, len: usize) -> Result<Bytes> {
        if len >= MAP_READS_FROM {
            return Ok(Bytes::from_owner(MappedRange {
                map: self.mapping(position + len as u64)?,
                start: position as usize,
                len,
            }));
        }
        // Seek + read_to_end reads into spare capacity without zeroing it first. The file's
        // position is only used here, under the partition lock; appends use O_APPEND.
        let mut buf = Vec::with_capacity(len);
        let mut file = &*self.file;
        file.seek(SeekFrom::Start(position))?;
        file.take(len as u64).read_to_end(&mut buf)?;
        if buf.len() < len {
            return Err(Error::CorruptBatch(format!(
                "{}: short read at {position}",
                self.path.display()
            )));
        }
        Ok(Bytes::from(buf))
    }

    /// The kept mapping if it reaches `end`, else a new one reaching `end` rounded up to a
    /// multiple of `MAP_STEP`, past the end of the file if need be, so that reads right behind
    /// the producers remap once per step: bytes appended later show through a shared mapping.
    fn mapping(&self, end: u64) -> Result<Arc<memmap2::Mmap>> {
        let mut kept = self.map.lock();
        if let Some(map) = kept.as_ref().filter(|m| m.len() as u64 >= end) {
            return Ok(map.clone());
        }
        let len = end.div_ceil(MAP_STEP) * MAP_STEP;
        // SAFETY: only bytes below `self.size` are ever read through it (see `read_bytes`).
        let map = Arc::new(unsafe {
            memmap2::MmapOptions::new()
                .len(len as usize)
                .map(&*self.file)?
        });
        *kept = Some(map.clone());
        Ok(map)
    }

    /// Whether a read mapping is kept.
    pub fn is_mapped(&self) -> bool {
        self.map.lock().is_some()
    }

    /// Drops the kept read mapping (reads still holding its bytes keep them until written).
    pub fn unmap(&self) {
        self.map.lock().take();
    }

    /// Base offset of the first batch whose max timestamp is at least `timestamp`.
    pub fn offset_for_timestamp(&self, timestamp: i64) -> Result<Option<(i64, i64)>> {
        if self.max_timestamp < timestamp {
            return Ok(None);
        }
        // Time index entries hold the max timestamp seen up to that point; start scanning from
        // the last entry that is still below the target.
        let i = self.time_index.partition_point(|(ts, _)| *ts < timestamp);
        let start_rel = if i == 0 { 0 } else { self.time_index[i - 1].1 };
        let start = match self.index.partition_point(|(r, _)| *r <= start_rel) {
            0 => 0,
            j => self.index[j - 1].1 as u64,
        };
        Ok(self
            .scan_from(start, |h| h.max_timestamp >= timestamp)?
            .map(|(_, h)| (h.base_offset, h.max_timestamp)))
    }

    /// Closes the segment for writing: fsync and persist the indexes.
    pub fn seal(&self) -> Result<()> {
        self.file.sync_data()?;
        self.write_indexes()
    }

    pub fn delete(self) -> Result<()> {
        self.remove_index_files();
        fs::remove_file(&self.path)?;
        if let Some(dir) = self.path.parent() {
            sync_dir(dir)?;
        }
        Ok(())
    }
}

/// Writes `parts` in order at the end of the file, with one writev in the common case.
fn write_all_vectored(mut file: &File, parts: [&[u8]; 2]) -> std::io::Result<()> {
    let total = parts[0].len() + parts[1].len();
    let mut written = file.write_vectored(&[IoSlice::new(parts[0]), IoSlice::new(parts[1])])?;
    while written < total {
        let n = if written < parts[0].len() {
            file.write(&parts[0][written..])?
        } else {
            file.write(&parts[1][written - parts[0].len()..])?
        };
        if n == 0 {
            return Err(std::io::ErrorKind::WriteZero.into());
        }
        written += n;
    }
    Ok(())
}

fn write_synced(path: &Path, data: &[u8]) -> Result<()> {
    write_synced_with_mode(path, data, 0o666)
}

/// [`write_synced`] with the new file created with `mode` (less the umask).
fn write_synced_with_mode(path: &Path, data: &[u8], mode: u32) -> Result<()> {
    use std::os::unix::fs::OpenOptionsExt;
    let tmp = path.with_extension("tmp");
    let _ = fs::remove_file(&tmp); // a leftover may have other permissions
    let mut f = fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(mode)
        .open(&tmp)?;
    f.write_all(data)?;
    f.sync_data()?;
    fs::rename(&tmp, path)?;
    if let Some(dir) = path.parent() {
        sync_dir(dir)?;
    }
    Ok(())
}

/// fsyncs a directory, so the names created, renamed or removed in it survive a power loss
/// (an fsync of a file does not cover its directory entry).
pub(crate) fn sync_dir(dir: &Path) -> Result<()> {
    File::open(dir)?.sync_all()?;
    Ok(())
}

/// Writes `data` to `path` durably: a temporary file, fsync, rename, then an fsync of the
/// directory so the new name survives a power loss too.
pub fn write_file_atomic(path: &Path, data: &[u8]) -> Result<()> {
    write_synced(path, data)
}

/// [`write_file_atomic`] for secrets: the file is readable by its owner alone (0600) from the
/// moment it exists.
pub fn write_private_file_atomic(path: &Path, data: &[u8]) -> Result<()> {
    write_synced_with_mode(path, data, 0o600)
}

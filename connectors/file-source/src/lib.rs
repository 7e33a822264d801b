//! `file-source`: tails one file into a topic, one record per line, like Kafka Connect's
//! FileStreamSource and Flume's Taildir.
//!
//! Config keys: [`FileSourceConfig`].
//!
//! Resume point: the source partition is the file path; the position is the file's identity
//! (a checksum of its first line, as Vector fingerprints files) plus the byte offset after the
//! last line returned. After a restart the task continues at that offset if the file still has
//! the same identity; after a rotation (a new file at the path) or a truncation (the file is
//! shorter than the offset) it starts from the beginning of the new content. A line without its
//! final newline is not read until the newline arrives.

use std::fs::File;
use std::io::{Read, Seek, SeekFrom};

use connectd_sdk::{Config, Configurable, ConnectorError, Descriptor, Resume, Source, SourceBatch};

/// file-source's keys.
#[derive(Configurable)]
pub struct FileSourceConfig {
    /// The file to tail, one record per line. Relative paths start at the connector file's
    /// folder.
    #[grant(read_parent)]
    pub file: String,
    /// The topic the lines go to.
    pub topic: String,
    /// Most lines one poll returns.
    #[config(key = "batch.size", default = 1000, minimum = 1)]
    pub batch_size: u32,
}

/// Bytes read from the file at a time.
const READ_BYTES: usize = 1 << 20;

/// Bytes of the first line used as the file's identity.
const FINGERPRINT_BYTES: usize = 256;

/// A file-tailing source task.
pub struct FileSource {
    path: String,
    batch_size: u32,
    /// Identity of the file the offset belongs to; `None` until the file has a full first line.
    identity: Option<u64>,
    offset: u64,
    pending: Vec<u8>,
}

impl FileSource {
    /// Identity of the file now at `path`: FNV-1a of its first line (up to 256 bytes), or
    /// `None` while the file has no complete first line.
    fn current_identity(&self) -> Result<Option<u64>, ConnectorError> {
        let mut file = match File::open(&self.path) {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => {
                return Err(ConnectorError::Retryable(format!(
                    "opening {}: {e}",
                    self.path
                )));
            }
        };
        let mut head = vec![0u8; FINGERPRINT_BYTES];
        let n = read_up_to(&mut file, &mut head)
            .map_err(|e| ConnectorError::Retryable(format!("reading {}: {e}", self.path)))?;
        head.truncate(n);
        Ok(fingerprint(&head))
    }
}

fn read_up_to(file: &mut File, buf: &mut [u8]) -> std::io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match file.read(&mut buf[n..])? {
            0 => break,
            k => n += k,
        }
    }
    Ok(n)
}

fn fingerprint(head: &[u8]) -> Option<u64> {
    let end = head
        .iter()
        .position(|b| *b == b'\n')
        .map(|i| i + 1)
        .or((head.len() == FINGERPRINT_BYTES).then_some(head.len()))?;
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for b in &head[..end] {
        hash ^= u64::from(*b);
        hash = hash.wrapping_mul(0x0100_0000_01b3);
    }
    Some(hash)
}

impl Source for FileSource {
    fn describe() -> Descriptor {
        Descriptor::source(
            "file-source",
            env!("CARGO_PKG_VERSION"),
            &FileSourceConfig::schema(),
        )
    }

    fn open(config: Config, resume: Resume) -> Result<Self, ConnectorError> {
        let FileSourceConfig {
            file, batch_size, ..
        } = config.parse()?;
        let mut task = FileSource {
            path: file,
            batch_size,
            identity: None,
            offset: 0,
            pending: Vec::new(),
        };
        if let Some(pos) = resume.position(task.path.as_bytes())
            && pos.len() == 16
        {
            task.identity = Some(u64::from_be_bytes(pos[..8].try_into().expect("8 bytes")));
            task.offset = u64::from_be_bytes(pos[8..].try_into().expect("8 bytes"));
        }
        Ok(task)
    }

    fn poll(&mut self, max: u32, batch: &mut SourceBatch) -> Result<(), ConnectorError> {
        let max = max.min(self.batch_size) as usize;
        let identity = self.current_identity()?;
        let Some(identity) = identity else {
            return Ok(());
        };
        let mut file = match File::open(&self.path) {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
            Err(e) => {
                return Err(ConnectorError::Retryable(format!(
                    "opening {}: {e}",
                    self.path
                )));
            }
        };
        let len = file
            .metadata()
            .map_err(|e| ConnectorError::Retryable(format!("{}: {e}", self.path)))?
            .len();
        if self.identity != Some(identity) || len < self.offset {
            // A different file (rotation) or a shorter one (truncation): start over.
            self.identity = Some(identity);
            self.offset = 0;
            self.pending.clear();
        }
        let read_from = self.offset + self.pending.len() as u64;
        // Read on only while less than READ_BYTES is waiting, so the buffer stays small and
        // shifting out what a poll consumed stays cheap.
        let starved = self.pending.len() < READ_BYTES || !self.pending.contains(&b'\n');
        if len > read_from && starved {
            file.seek(SeekFrom::Start(read_from))
                .map_err(|e| ConnectorError::Retryable(format!("{}: {e}", self.path)))?;
            let want = (len - read_from).min(READ_BYTES as u64) as usize;
            let start = self.pending.len();
            self.pending.resize(start + want, 0);
            let n = read_up_to(&mut file, &mut self.pending[start..])
                .map_err(|e| ConnectorError::Retryable(format!("{}: {e}", self.path)))?;
            self.pending.truncate(start + n);
        }
        let mut consumed = 0usize;
        let mut position = [0u8; 16];
        position[..8].copy_from_slice(&identity.to_be_bytes());
        // Looked up once, at the first line (a poll with no line adds no partition).
        let mut partition = None;
        for _ in 0..max {
            let Some(nl) = memchr::memchr(b'\n', &self.pending[consumed..]) else {
                break;
            };
            let line = &self.pending[consumed..consumed + nl];
            let line = line.strip_suffix(b"\r").unwrap_or(line);
            consumed += nl + 1;
            self.offset += (nl + 1) as u64;
            position[8..].copy_from_slice(&self.offset.to_be_bytes());
            let partition = *partition
                .get_or_insert_with(|| batch.source_partition_index(self.path.as_bytes()));
            batch.push_value_to(partition, line, &position);
        }
        self.pending.drain(..consumed);
        Ok(())
    }
}

connectd_sdk::export_source!(FileSource);

#[cfg(test)]
mod tests {
    use std::io::Write;

    use connectd_sdk::{PollRecords, SourceRecord};

    use super::*;

    fn open(path: &std::path::Path, resume: Vec<(Vec<u8>, Vec<u8>)>) -> FileSource {
        FileSource::open(
            Config::from_pairs([("file", path.to_str().unwrap()), ("topic", "t")]),
            resume.into(),
        )
        .unwrap()
    }

    fn values(records: &[SourceRecord]) -> Vec<String> {
        records
            .iter()
            .map(|r| String::from_utf8(r.value.clone().unwrap()).unwrap())
            .collect()
    }

    #[test]
    fn follows_appends_and_waits_for_whole_lines() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("in.txt");
        let mut f = File::create(&path).unwrap();
        let mut task = open(&path, vec![]);
        assert!(task.poll_records(10).unwrap().is_empty());
        f.write_all(b"one\ntwo\nthr").unwrap();
        assert_eq!(values(&task.poll_records(10).unwrap()), ["one", "two"]);
        f.write_all(b"ee\n").unwrap();
        assert_eq!(values(&task.poll_records(10).unwrap()), ["three"]);
    }

    #[test]
    fn resumes_exactly_from_the_last_position() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("in.txt");
        std::fs::write(&path, "a\nb\nc\nd\n").unwrap();
        let mut task = open(&path, vec![]);
        let first = task.poll_records(2).unwrap();
        assert_eq!(values(&first), ["a", "b"]);
        let last = first.last().unwrap();
        let mut resumed = open(
            &path,
            vec![(last.source_partition.clone(), last.source_position.clone())],
        );
        assert_eq!(values(&resumed.poll_records(10).unwrap()), ["c", "d"]);
    }

    #[test]
    fn rotation_and_truncation_start_over() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("in.txt");
        std::fs::write(&path, "first file line\nmore\n").unwrap();
        let mut task = open(&path, vec![]);
        assert_eq!(task.poll_records(10).unwrap().len(), 2);
        std::fs::rename(&path, dir.path().join("in.txt.1")).unwrap();
        std::fs::write(&path, "second file\n").unwrap();
        assert_eq!(values(&task.poll_records(10).unwrap()), ["second file"]);
        std::fs::write(&path, "second file\n").unwrap(); // same identity, not shorter: nothing new
        assert!(task.poll_records(10).unwrap().is_empty());
        std::fs::write(&path, "x\n").unwrap(); // truncated and rewritten
        assert_eq!(values(&task.poll_records(10).unwrap()), ["x"]);
    }

    #[test]
    fn bad_config_names_the_key() {
        let err = FileSource::open(Config::from_pairs([("topic", "t")]), Resume::default())
            .err()
            .unwrap();
        assert!(err.to_string().contains("`file`"), "{err}");
        let err = FileSource::open(
            Config::from_pairs([("file", "x"), ("topic", "t"), ("batch.size", "many")]),
            Resume::default(),
        )
        .err()
        .unwrap();
        assert!(err.to_string().contains("batch.size"), "{err}");
    }
}

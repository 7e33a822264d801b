//! Producer ids for InitProducerId, never handed out twice, across restarts too.
//!
//! Kafka's controller allocates producer ids in blocks and persists the next block's start;
//! connectd does the same in `__meta/producer-ids`. A block of [`BLOCK`] ids is reserved (the
//! file is written durably) before any id in it is given out, so a crash loses at most the
//! rest of a block and never repeats an id. Ids start at 0, as on a new Kafka cluster.

use std::path::{Path, PathBuf};

use parking_lot::Mutex;

use crate::topics::write_atomic;
use crate::{Error, Result};

/// Ids reserved per write of the file.
const BLOCK: i64 = 1000;

pub(crate) struct ProducerIds {
    path: PathBuf,
    /// The next id to hand out, and the end (exclusive) of the reserved block.
    next: Mutex<(i64, i64)>,
}

impl ProducerIds {
    /// Reads the reserved end from `meta/producer-ids` (0 when there is none yet).
    pub(crate) fn open(meta: &Path) -> Result<ProducerIds> {
        let path = meta.join("producer-ids");
        let start = match std::fs::read_to_string(&path) {
            Ok(text) => text.trim().parse::<i64>().map_err(|_| Error::Metadata {
                path: path.clone(),
                reason: format!("expected the next producer id block, got {text:?}"),
            })?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => 0,
            Err(e) => return Err(Error::io(format!("reading {}", path.display()), e)),
        };
        Ok(ProducerIds {
            path,
            next: Mutex::new((start, start)),
        })
    }

    /// A producer id no earlier call, in this run or any before it, returned.
    pub(crate) fn next(&self) -> Result<i64> {
        let mut next = self.next.lock();
        let (id, end) = *next;
        if id == end {
            write_atomic(&self.path, (end + BLOCK).to_string().as_bytes())?;
            next.1 = end + BLOCK;
        }
        next.0 = id + 1;
        Ok(id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_never_repeated_across_reopens() {
        let dir = tempfile::tempdir().unwrap();
        let mut seen = std::collections::HashSet::new();
        for _ in 0..3 {
            let ids = ProducerIds::open(dir.path()).unwrap();
            for _ in 0..(BLOCK + 5) {
                assert!(seen.insert(ids.next().unwrap()), "an id came back");
            }
        }
        assert_eq!(seen.iter().min(), Some(&0));
    }
}

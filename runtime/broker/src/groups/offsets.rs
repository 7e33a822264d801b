//! Committed consumer-group offsets, persisted in an append-only JSON-lines file
//! (`__meta/consumer-offsets.jsonl`) that is replayed and compacted at start.
//!
//! Each commit is appended and fsynced before the OffsetCommit answer, so a commit that was
//! acknowledged survives kill -9. A torn last line (crash mid-write) is skipped on replay. An
//! append that fails part way (a full disk) is cut off again before the next one, so the next
//! commit never lands glued to half a line; and should a line hold such a fragment anyway,
//! replay reads the whole entry that follows it.

use std::collections::{BTreeMap, HashMap};
use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};

use parking_lot::Mutex;
use serde::{Deserialize, Serialize};

use crate::{Error, Result};

/// One committed offset.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Committed {
    /// The next offset the group will read.
    pub offset: i64,
    /// Leader epoch the client sent, or -1.
    #[serde(default = "minus_one")]
    pub leader_epoch: i32,
    /// Client metadata string.
    #[serde(default)]
    pub metadata: Option<String>,
}

fn minus_one() -> i32 {
    -1
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
enum Entry {
    Commit {
        group: String,
        topic: String,
        partition: i32,
        #[serde(flatten)]
        committed: Committed,
    },
    DeleteGroup {
        group: String,
    },
}

type GroupOffsets = BTreeMap<(String, i32), Committed>;

/// All groups' committed offsets.
#[derive(Debug)]
pub struct OffsetStore {
    path: PathBuf,
    /// The file, and its length after the last whole append.
    file: Mutex<(File, u64)>,
    offsets: Mutex<HashMap<String, GroupOffsets>>,
}

impl OffsetStore {
    /// Replays and compacts the store in `meta_dir`.
    pub fn open(meta_dir: &Path) -> Result<Self> {
        let path = meta_dir.join("consumer-offsets.jsonl");
        let mut offsets: HashMap<String, GroupOffsets> = HashMap::new();
        if let Ok(file) = File::open(&path) {
            for (n, line) in BufReader::new(file).lines().enumerate() {
                let Ok(line) = line else { break };
                match parse_line(&line) {
                    Ok(Entry::Commit {
                        group,
                        topic,
                        partition,
                        committed,
                    }) => {
                        offsets
                            .entry(group)
                            .or_default()
                            .insert((topic, partition), committed);
                    }
                    Ok(Entry::DeleteGroup { group }) => {
                        offsets.remove(&group);
                    }
                    Err(e) => {
                        tracing::warn!(file = %path.display(), line = n + 1, error = %e, "skipping unreadable offset commit (torn write?)")
                    }
                }
            }
        }
        // Compact: rewrite only the live entries.
        let mut compacted = Vec::new();
        for (group, parts) in &offsets {
            for ((topic, partition), committed) in parts {
                let entry = Entry::Commit {
                    group: group.clone(),
                    topic: topic.clone(),
                    partition: *partition,
                    committed: committed.clone(),
                };
                compacted.extend(serde_json::to_vec(&entry).expect("serialises"));
                compacted.push(b'\n');
            }
        }
        crate::topics::write_atomic(&path, &compacted)?;
        let file = OpenOptions::new()
            .append(true)
            .open(&path)
            .map_err(|e| Error::io(format!("opening {}", path.display()), e))?;
        Ok(OffsetStore {
            path,
            file: Mutex::new((file, compacted.len() as u64)),
            offsets: Mutex::new(offsets),
        })
    }

    /// Records commits durably (fsync) and then makes them visible.
    pub fn commit(&self, group: &str, commits: Vec<(String, i32, Committed)>) -> Result<()> {
        let mut buf = Vec::new();
        for (topic, partition, committed) in &commits {
            let entry = Entry::Commit {
                group: group.into(),
                topic: topic.clone(),
                partition: *partition,
                committed: committed.clone(),
            };
            buf.extend(serde_json::to_vec(&entry).expect("serialises"));
            buf.push(b'\n');
        }
        self.append(&buf)?;
        let mut offsets = self.offsets.lock();
        let g = offsets.entry(group.into()).or_default();
        for (topic, partition, committed) in commits {
            g.insert((topic, partition), committed);
        }
        Ok(())
    }

    /// The committed offset of one partition.
    pub fn get(&self, group: &str, topic: &str, partition: i32) -> Option<Committed> {
        self.offsets
            .lock()
            .get(group)?
            .get(&(topic.to_string(), partition))
            .cloned()
    }

    /// Every committed offset of a group.
    pub fn group(&self, group: &str) -> Vec<(String, i32, Committed)> {
        self.offsets
            .lock()
            .get(group)
            .map(|g| {
                g.iter()
                    .map(|((t, p), c)| (t.clone(), *p, c.clone()))
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Groups that have committed offsets.
    pub fn groups(&self) -> Vec<String> {
        self.offsets.lock().keys().cloned().collect()
    }

    /// Forgets a group's offsets. Returns whether it had any.
    pub fn delete_group(&self, group: &str) -> Result<bool> {
        let entry = Entry::DeleteGroup {
            group: group.into(),
        };
        let mut line = serde_json::to_vec(&entry).expect("serialises");
        line.push(b'\n');
        self.append(&line)?;
        Ok(self.offsets.lock().remove(group).is_some())
    }

    /// Appends whole lines and syncs them. On failure the file is cut back to where it was,
    /// so what failed leaves no fragment for the next append to land on.
    fn append(&self, buf: &[u8]) -> Result<()> {
        let mut guard = self.file.lock();
        let (file, len) = &mut *guard;
        match file.write_all(buf).and_then(|_| file.sync_data()) {
            Ok(()) => {
                *len += buf.len() as u64;
                Ok(())
            }
            Err(e) => {
                if let Err(cut) = file.set_len(*len) {
                    tracing::error!(file = %self.path.display(), error = %cut, "could not cut a failed offset commit off; the next one may be read back only from its own start");
                }
                Err(Error::io(format!("writing {}", self.path.display()), e))
            }
        }
    }
}

/// One line of the file: an entry, or, where a failed append left a fragment that the next
/// append continued, the last whole entry on the line.
fn parse_line(line: &str) -> serde_json::Result<Entry> {
    serde_json::from_str::<Entry>(line).or_else(|e| {
        line.rmatch_indices("{\"op\":")
            .filter(|(at, _)| *at > 0)
            .find_map(|(at, _)| serde_json::from_str::<Entry>(&line[at..]).ok())
            .ok_or(e)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commits_survive_reopen_and_deletes_stick() {
        let dir = tempfile::tempdir().unwrap();
        {
            let store = OffsetStore::open(dir.path()).unwrap();
            let c = |o| Committed {
                offset: o,
                leader_epoch: -1,
                metadata: Some("m".into()),
            };
            store
                .commit("g1", vec![("t".into(), 0, c(5)), ("t".into(), 1, c(7))])
                .unwrap();
            store.commit("g1", vec![("t".into(), 0, c(9))]).unwrap();
            store.commit("g2", vec![("t".into(), 0, c(1))]).unwrap();
            store.delete_group("g2").unwrap();
        }
        // A torn tail line is skipped.
        let path = dir.path().join("consumer-offsets.jsonl");
        let mut f = OpenOptions::new().append(true).open(&path).unwrap();
        f.write_all(b"{\"op\":\"commit\",\"gro").unwrap();
        let store = OffsetStore::open(dir.path()).unwrap();
        assert_eq!(store.get("g1", "t", 0).unwrap().offset, 9);
        assert_eq!(
            store.get("g1", "t", 1).unwrap().metadata.as_deref(),
            Some("m")
        );
        assert!(store.get("g2", "t", 0).is_none());
    }

    #[test]
    fn a_commit_after_a_fragment_is_read_back() {
        let dir = tempfile::tempdir().unwrap();
        let c = |o| Committed {
            offset: o,
            leader_epoch: -1,
            metadata: None,
        };
        {
            let store = OffsetStore::open(dir.path()).unwrap();
            store.commit("g", vec![("t".into(), 0, c(1))]).unwrap();
            // What an append that failed part way leaves when it cannot be cut off.
            let path = dir.path().join("consumer-offsets.jsonl");
            let mut f = OpenOptions::new().append(true).open(&path).unwrap();
            f.write_all(b"{\"op\":\"commit\",\"group\":\"g\",\"to")
                .unwrap();
            store.commit("g", vec![("t".into(), 0, c(2))]).unwrap();
        }
        let store = OffsetStore::open(dir.path()).unwrap();
        assert_eq!(store.get("g", "t", 0).unwrap().offset, 2);
    }
}

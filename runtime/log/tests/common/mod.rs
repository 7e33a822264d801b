//! Helpers shared by the log's test binaries. Each binary uses some of them.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::path::Path;

use connectd_log::{LogConfig, PartitionLog};
use connectd_record_batch::BatchHeader;
use connectd_record_batch::build_batch;

pub fn config(pairs: &[(&str, &str)]) -> LogConfig {
    let overrides: BTreeMap<String, String> = pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    LogConfig::resolve(&BTreeMap::new(), &overrides).unwrap()
}

/// The whole batches in `bytes`, each checked against its CRC.
pub fn batches(bytes: &[u8]) -> Vec<BatchHeader> {
    let mut out = Vec::new();
    let mut rest = bytes;
    while !rest.is_empty() {
        let size = BatchHeader::parse(rest).unwrap().size;
        out.push(BatchHeader::parse_checked(&rest[..size]).unwrap());
        rest = &rest[size..];
    }
    out
}

/// The offset after the last of the whole batches in `bytes`.
pub fn offset_after(bytes: &[u8]) -> i64 {
    batches(bytes).last().map_or(-1, |h| h.last_offset() + 1)
}

/// Reads every batch from `from`, returning (base offset, record count) per batch.
pub fn read_all(log: &PartitionLog, from: i64) -> Vec<(i64, i32)> {
    let mut out = Vec::new();
    let mut offset = from;
    while let Some(bytes) = log.read(offset, 64 * 1024).unwrap().records {
        offset = offset_after(&bytes);
        out.extend(
            batches(&bytes)
                .iter()
                .map(|h| (h.base_offset, h.record_count)),
        );
    }
    out
}

pub fn fill(log: &PartitionLog, batches: usize) {
    for i in 0..batches {
        let value = format!("value-{i:06}-{}", "x".repeat(i % 50));
        log.append(
            &build_batch(1_000 + i as i64, &[value.as_bytes(), b"second"]),
            1_000 + i as i64,
        )
        .unwrap();
    }
}

pub fn segment_files(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut v: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "log"))
        .collect();
    v.sort();
    v
}

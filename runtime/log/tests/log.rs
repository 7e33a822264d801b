//! Log-layer tests on real files: append/read, roll, restart, torn tails, retention,
//! idempotent-producer dedup.

mod common;

use std::collections::BTreeMap;
use std::fs::OpenOptions;
use std::os::unix::fs::FileExt;

use common::{config, fill, offset_after, read_all, segment_files};
use connectd_log::{Error, LogConfig, PartitionLog};
use connectd_record_batch::BatchHeader;
use connectd_record_batch::{build_batch, set_producer};
use rand::Rng;

#[test]
fn append_assigns_offsets_and_reads_back_across_rolls() {
    let dir = tempfile::tempdir().unwrap();
    let log = PartitionLog::open(
        dir.path(),
        config(&[("segment.bytes", "4096"), ("index.interval.bytes", "256")]),
        false,
    )
    .unwrap();
    fill(&log, 500);
    assert_eq!(log.log_end_offset(), 1000);
    assert!(
        segment_files(dir.path()).len() > 5,
        "segment.bytes=4096 must roll"
    );
    let batches = read_all(&log, 0);
    assert_eq!(batches.len(), 500);
    assert!(
        batches
            .iter()
            .enumerate()
            .all(|(i, (base, n))| *base == 2 * i as i64 && *n == 2)
    );
    // A read from the middle of a batch starts with the batch holding that offset.
    assert_eq!(read_all(&log, 501)[0].0, 500);
    // Timestamp lookup finds the first batch at or after the time.
    assert_eq!(log.offset_for_timestamp(1_100).unwrap().unwrap().0, 200);
    assert!(log.offset_for_timestamp(99_999).unwrap().is_none());
}

#[test]
fn clean_and_unclean_restarts_keep_everything() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(&[("segment.bytes", "8192")]);
    {
        let log = PartitionLog::open(dir.path(), cfg.clone(), false).unwrap();
        fill(&log, 300);
        log.sync().unwrap();
        log.close().unwrap();
    }
    let log = PartitionLog::open(dir.path(), cfg.clone(), true).unwrap();
    assert_eq!(log.log_end_offset(), 600);
    fill(&log, 10);
    drop(log); // no close: an unclean stop
    let log = PartitionLog::open(dir.path(), cfg, false).unwrap();
    assert_eq!(log.log_end_offset(), 620);
    assert_eq!(read_all(&log, 0).len(), 310);
}

#[test]
fn torn_or_corrupt_tails_at_random_positions_keep_every_complete_batch_before_the_damage() {
    let mut rng = rand::rng();
    for round in 0..40 {
        let dir = tempfile::tempdir().unwrap();
        let cfg = config(&[("segment.bytes", "16384")]);
        let mut ends = Vec::new(); // (byte end within the last segment, offsets so far)
        {
            let log = PartitionLog::open(dir.path(), cfg.clone(), false).unwrap();
            fill(&log, 200);
            log.sync().unwrap();
        }
        let files = segment_files(dir.path());
        let last = files.last().unwrap().clone();
        let data = std::fs::read(&last).unwrap();
        let base: i64 = last.file_stem().unwrap().to_str().unwrap().parse().unwrap();
        let mut pos = 0;
        while pos < data.len() {
            let h = BatchHeader::parse(&data[pos..]).unwrap();
            pos += h.size;
            ends.push((pos, h.last_offset() + 1));
        }
        let corrupt = round % 2 == 1;
        // partitionLeaderEpoch (bytes 12..16 of a batch) is covered neither by the CRC nor by
        // any check, in Kafka's format as here, so a flipped byte there goes unnoticed.
        let unprotected = |cut: usize| {
            let start = ends
                .iter()
                .rev()
                .map(|(end, _)| *end)
                .find(|end| *end <= cut)
                .unwrap_or(0);
            (12..16).contains(&(cut - start))
        };
        let mut cut = rng.random_range(0..data.len());
        while corrupt && unprotected(cut) {
            cut = rng.random_range(0..data.len());
        }
        if corrupt {
            let f = OpenOptions::new().write(true).open(&last).unwrap();
            let byte = data[cut] ^ 0x5a;
            f.write_all_at(&[byte], cut as u64).unwrap();
        } else {
            OpenOptions::new()
                .write(true)
                .open(&last)
                .unwrap()
                .set_len(cut as u64)
                .unwrap();
        }
        // A flipped byte or a truncation at `cut` leaves exactly the batches that end at or
        // before `cut`.
        let survivors_end = ends
            .iter()
            .rev()
            .find(|(end, _)| *end <= cut)
            .map(|(_, next)| *next)
            .unwrap_or(base);
        let log = PartitionLog::open(dir.path(), cfg.clone(), false).unwrap();
        assert_eq!(
            log.log_end_offset(),
            survivors_end,
            "round {round}: cut {cut} corrupt {corrupt}"
        );
        let batches = read_all(&log, 0);
        assert_eq!(
            batches.last().map(|(b, n)| b + *n as i64).unwrap_or(0),
            survivors_end
        );
        // Appends continue right after the survivors.
        let info = log.append(&build_batch(5, &[b"after"]), 5).unwrap();
        assert_eq!(info.base_offset, survivors_end);
    }
}

#[test]
fn retention_by_size_and_time_drops_old_segments() {
    let dir = tempfile::tempdir().unwrap();
    let log = PartitionLog::open(
        dir.path(),
        config(&[("segment.bytes", "4096"), ("retention.bytes", "20000")]),
        false,
    )
    .unwrap();
    fill(&log, 1000);
    let before = log.size_bytes();
    assert!(log.enforce_retention(2_000).unwrap() > 0);
    assert!(log.size_bytes() < before && log.size_bytes() >= 20000 - 4096);
    assert!(log.log_start_offset() > 0);
    assert!(matches!(
        log.read(0, 1000),
        Err(Error::OffsetOutOfRange { .. })
    ));
    log.set_config(config(&[("segment.bytes", "4096"), ("retention.ms", "10")]));
    log.enforce_retention(10_000_000).unwrap();
    assert_eq!(
        segment_files(dir.path()).len(),
        1,
        "only the active segment stays"
    );
}

#[test]
fn delete_records_moves_log_start_and_survives_restart() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(&[("segment.bytes", "4096")]);
    {
        let log = PartitionLog::open(dir.path(), cfg.clone(), false).unwrap();
        fill(&log, 100);
        assert_eq!(log.delete_records_before(77).unwrap(), 77);
        log.close().unwrap();
    }
    let log = PartitionLog::open(dir.path(), cfg, true).unwrap();
    assert_eq!(log.log_start_offset(), 77);
    assert_eq!(
        read_all(&log, 77)[0].0,
        76,
        "the batch holding 77 starts at 76"
    );
}

#[test]
fn idempotent_retry_is_not_written_twice_and_gaps_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let log = PartitionLog::open(dir.path(), LogConfig::default(), false).unwrap();
    let with_seq = |seq: i32| idempotent_batch(7, seq);
    let first = log.append(&with_seq(0), 1).unwrap();
    let retry = log.append(&with_seq(0), 1).unwrap();
    assert!(retry.duplicate && retry.base_offset == first.base_offset);
    assert_eq!(log.log_end_offset(), 2);
    assert!(matches!(
        log.append(&with_seq(5), 1),
        Err(Error::OutOfOrderSequence { expected: 2, .. })
    ));
    assert_eq!(log.append(&with_seq(2), 1).unwrap().base_offset, 2);
}

/// A two-record batch from producer `id` (epoch 0) with base sequence `seq`.
fn idempotent_batch(id: i64, seq: i32) -> Vec<u8> {
    let mut b = build_batch(1, &[b"a", b"b"]);
    set_producer(&mut b, id, 0, seq);
    b
}

/// Producer state outlives restarts: a retry after an unclean restart (no close, as after
/// kill -9) is still a duplicate, whether its batch is in the active segment (replayed from
/// headers), in a rolled one (in the snapshot), or the log closed cleanly.
#[test]
fn idempotent_retries_are_duplicates_after_restarts() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = || config(&[("segment.bytes", "1024")]);
    let log = PartitionLog::open(dir.path(), cfg(), false).unwrap();
    for seq in (0..200).step_by(2) {
        log.append(&idempotent_batch(9, seq), 1).unwrap();
    }
    assert!(
        segment_files(dir.path()).len() > 2,
        "the batches span rolls"
    );
    let end = log.log_end_offset();
    drop(log); // no close: what kill -9 leaves
    let log = PartitionLog::open(dir.path(), cfg(), false).unwrap();
    for seq in [198, 196, 190] {
        let retry = log.append(&idempotent_batch(9, seq), 1).unwrap();
        assert!(retry.duplicate, "seq {seq} after an unclean restart");
        assert_eq!(retry.base_offset, i64::from(seq));
    }
    assert!(matches!(
        log.append(&idempotent_batch(9, 204), 1),
        Err(Error::OutOfOrderSequence { expected: 200, .. })
    ));
    assert_eq!(log.log_end_offset(), end);
    log.append(&idempotent_batch(9, 200), 1).unwrap();
    log.close().unwrap();
    drop(log);
    let log = PartitionLog::open(dir.path(), cfg(), true).unwrap();
    assert!(log.append(&idempotent_batch(9, 200), 1).unwrap().duplicate);
    assert_eq!(log.log_end_offset(), end + 2);
}

/// `len` bytes of whole batches from `offset`, read in small (copied, not mapped) reads.
fn copied_reads(log: &PartitionLog, mut offset: i64, len: usize) -> Vec<u8> {
    let mut out = Vec::new();
    while out.len() < len {
        let bytes = log.read(offset, 4096).unwrap().records.unwrap();
        offset = offset_after(&bytes);
        out.extend_from_slice(&bytes);
    }
    out
}

#[test]
fn large_reads_see_appends_made_after_the_segment_was_mapped() {
    let dir = tempfile::tempdir().unwrap();
    let log = PartitionLog::open(dir.path(), config(&[]), false).unwrap();
    let value = vec![7u8; 64 * 1024];
    let append = |n: usize| {
        for i in 0..n {
            let mut v = value.clone();
            v[..8].copy_from_slice(&(i as u64).to_be_bytes());
            log.append(&build_batch(i as i64, &[&v]), i as i64).unwrap();
        }
    };
    append(100);
    // The first large read maps the segment, reaching past the end of the file.
    let first = log.read(0, 4 << 20).unwrap().records.unwrap();
    assert_eq!(first[..], copied_reads(&log, 0, first.len())[..]);
    // Appended after the mapping was made: within its reach, then past it (over 64 MiB).
    for _ in 0..12 {
        let from = log.log_end_offset();
        append(100);
        let read = log.read(from, 4 << 20).unwrap().records.unwrap();
        assert!(read.len() > 1 << 20, "read {} bytes", read.len());
        assert!(
            read[..] == copied_reads(&log, from, read.len())[..],
            "mapped read from offset {from} differs from copied reads"
        );
    }
    assert!(log.size_bytes() > 64 << 20, "{} bytes", log.size_bytes());
}

#[test]
fn a_partition_keeps_at_most_one_segment_mapped() {
    let dir = tempfile::tempdir().unwrap();
    let log =
        PartitionLog::open(dir.path(), config(&[("segment.bytes", "4194304")]), false).unwrap();
    let value = vec![3u8; 64 * 1024];
    for i in 0..400 {
        log.append(&build_batch(i, &[&value]), i).unwrap();
    }
    assert!(segment_files(dir.path()).len() >= 6);
    // Large reads through every segment, as a consumer catching up makes them.
    let mut offset = 0;
    while offset < log.log_end_offset() {
        offset = offset_after(&log.read(offset, 1 << 20).unwrap().records.unwrap());
    }
    let maps = std::fs::read_to_string("/proc/self/maps").unwrap();
    let dir_name = dir.path().to_str().unwrap();
    let mapped: Vec<&str> = maps.lines().filter(|l| l.contains(dir_name)).collect();
    assert_eq!(mapped.len(), 1, "segments still mapped: {mapped:#?}");
}

#[test]
fn large_reads_match_small_reads_and_outlive_their_segment() {
    let dir = tempfile::tempdir().unwrap();
    let log = PartitionLog::open(dir.path(), config(&[]), false).unwrap();
    fill(&log, 20_000);
    // Large enough to be served from a mapping of the segment (`MAP_READS_FROM`).
    let big = log.read(0, 8 << 20).unwrap().records.unwrap();
    assert!(big.len() > 1 << 20, "read {} bytes", big.len());
    let small = copied_reads(&log, 0, big.len());
    assert_eq!(big.len(), small.len());
    assert!(big[..] == small[..], "mapped and copied reads differ");
    // The bytes stay readable after the segment file is gone (as after retention).
    drop(log);
    std::fs::remove_dir_all(dir.path()).unwrap();
    let first = BatchHeader::parse(&big).unwrap();
    BatchHeader::parse_checked(&big[..first.size]).unwrap();
    assert_eq!(big[..], small[..]);
}

/// One record read back: (offset, key, value).
type Stored = (i64, Option<Vec<u8>>, Option<Vec<u8>>);

/// Every record of the log from offset 0.
fn records_of(log: &PartitionLog) -> Vec<Stored> {
    let mut out = Vec::new();
    let mut offset = 0;
    while let Some(bytes) = log.read(offset, 64 * 1024).unwrap().records {
        let mut batch = connectd_records::SinkBatch::default();
        offset = connectd_record_batch::decode_into(&bytes, offset, "t", 0, &mut batch).unwrap();
        out.extend(
            batch
                .to_records()
                .into_iter()
                .map(|r| (r.offset, r.key, r.value)),
        );
    }
    out
}

/// Compaction (`cleanup.policy=compact`): 30 rounds of updates to 20 keys, some batches
/// compressed and some holding several keys, end with at most one record per key in the
/// closed segments, each at the offset it was written at; the active segment is untouched;
/// the latest value of every key is what a reader replaying the log ends with; a tombstone
/// stays until `delete.retention.ms` has passed; and an unclean restart reads the same log.
#[test]
fn compaction_keeps_the_latest_record_of_each_key() {
    use bytes::Bytes;
    use connectd_record_batch::client_batch;
    use kafka_protocol::records::Compression;

    let dir = tempfile::tempdir().unwrap();
    let cfg = || {
        config(&[
            ("cleanup.policy", "compact"),
            ("segment.bytes", "4096"),
            ("min.cleanable.dirty.ratio", "0.01"),
            ("delete.retention.ms", "60000"),
        ])
    };
    let log = PartitionLog::open(dir.path(), cfg(), false).unwrap();
    let t0 = 1_800_000_000_000i64;
    let mut latest: BTreeMap<Vec<u8>, (i64, Option<Vec<u8>>)> = BTreeMap::new();
    let mut written = 0;
    let mut append = |log: &PartitionLog, round: i64, keys: &[u32], tombstone: bool| {
        let records: Vec<_> = keys
            .iter()
            .map(|k| {
                let key = format!("key-{k:02}").into_bytes();
                let value = (!tombstone).then(|| format!("key-{k:02} round {round}").into_bytes());
                (key, value)
            })
            .collect();
        let compression = if round % 3 == 0 {
            Compression::Gzip
        } else {
            Compression::None
        };
        let batch = client_batch(
            records.iter().enumerate().map(|(i, (k, v))| {
                let (key, value) = (Some(Bytes::from(k.clone())), v.clone().map(Bytes::from));
                (i as i64, t0 + round, key, value)
            }),
            compression,
        );
        let info = log.append(&batch, t0 + round).unwrap();
        for (i, (k, v)) in records.into_iter().enumerate() {
            latest.insert(k, (info.base_offset + i as i64, v));
        }
        written += keys.len();
    };
    for round in 0..30 {
        append(&log, round, &[0, 1, 2, 3, 4], false);
        for k in 5..20 {
            append(&log, round, &[k], false);
        }
    }
    append(&log, 30, &[19], true);
    for round in 31..60 {
        append(&log, round, &[0], false);
    }
    let segments = segment_files(dir.path()).len();
    assert!(segments > 5, "{segments} segments");
    let before = records_of(&log);
    assert_eq!(before.len(), written);
    let active_base = segment_files(dir.path())
        .last()
        .and_then(|p| p.file_stem()?.to_str()?.parse::<i64>().ok())
        .unwrap();

    let stats = log.compact(t0 + 100).unwrap();
    assert!(
        stats.segments_rewritten > 0 && stats.records_removed > 400,
        "{stats:?}"
    );
    let check = |log: &PartitionLog,
                 expected: &BTreeMap<Vec<u8>, (i64, Option<Vec<u8>>)>,
                 active_base: Option<i64>| {
        let after = records_of(log);
        let closed_end = active_base.unwrap_or(i64::MAX);
        let mut seen = BTreeMap::new();
        for (offset, key, _) in after.iter().filter(|(o, _, _)| *o < closed_end) {
            let key = key.clone().unwrap();
            assert!(
                seen.insert(key.clone(), *offset).is_none() || active_base.is_none(),
                "{key:?} twice below the active segment"
            );
        }
        // The active segment is untouched.
        if let Some(base) = active_base {
            let active = |records: &[Stored]| {
                records
                    .iter()
                    .filter(|(o, _, _)| *o >= base)
                    .cloned()
                    .collect::<Vec<_>>()
            };
            assert_eq!(active(&after), active(&before));
        }
        // Replaying the log gives every key its latest value, at the offset it was written at.
        let mut replayed: BTreeMap<Vec<u8>, (i64, Option<Vec<u8>>)> = BTreeMap::new();
        for (offset, key, value) in &after {
            replayed.insert(key.clone().unwrap(), (*offset, value.clone()));
        }
        assert_eq!(&replayed, expected);
        after
    };
    let after = check(&log, &latest, Some(active_base));
    assert!(
        after.len() < before.len() / 4,
        "{} of {} records left",
        after.len(),
        before.len()
    );

    // An unclean restart (no close) reads the same compacted log.
    drop(log);
    let log = PartitionLog::open(dir.path(), cfg(), false).unwrap();
    assert_eq!(records_of(&log), after);

    // Past delete.retention.ms, the tombstone goes too (it is in a closed segment by now).
    log.append(
        &client_batch(
            [(
                0,
                t0,
                Some(Bytes::from("key-00")),
                Some(Bytes::from("x".repeat(5000))),
            )],
            Compression::None,
        ),
        t0,
    )
    .unwrap();
    latest.insert(
        b"key-00".to_vec(),
        (
            log.log_end_offset() - 1,
            Some("x".repeat(5000).into_bytes()),
        ),
    );
    log.compact(t0 + 10 * 60_000).unwrap();
    latest.remove(&b"key-19"[..]);
    let last = check(&log, &latest, None);
    assert!(
        last.iter().all(|(_, _, v)| v.is_some()),
        "no tombstone is left"
    );
}

/// Compaction with a key map smaller than the log's keys (issue 29): keys of 2 KB each, 40 of
/// them written 6 times over, cleaned by passes whose map holds 8 keys at most. Each pass
/// maps only part of the dirty segments and cleans up to there; repeated passes end as one
/// unbounded pass does, with one record per key below the active segment, each the latest.
#[test]
fn compaction_with_a_small_key_map_takes_passes_and_ends_the_same() {
    use bytes::Bytes;
    use connectd_record_batch::client_batch;
    use kafka_protocol::records::Compression;

    let dir = tempfile::tempdir().unwrap();
    let log = PartitionLog::open(
        dir.path(),
        config(&[
            ("cleanup.policy", "compact"),
            ("segment.bytes", "16384"),
            ("min.cleanable.dirty.ratio", "0.01"),
        ]),
        false,
    )
    .unwrap();
    let t0 = 1_800_000_000_000i64;
    let key = |k: u32| format!("{k:04}").repeat(512).into_bytes();
    let mut latest: BTreeMap<Vec<u8>, i64> = BTreeMap::new();
    for round in 0..6 {
        for k in 0..40 {
            let batch = client_batch(
                [(
                    0,
                    t0,
                    Some(Bytes::from(key(k))),
                    Some(Bytes::from(format!("{round}"))),
                )],
                Compression::None,
            );
            let info = log.append(&batch, t0).unwrap();
            latest.insert(key(k), info.base_offset);
        }
    }
    let active_base = segment_files(dir.path())
        .last()
        .and_then(|p| p.file_stem()?.to_str()?.parse::<i64>().ok())
        .unwrap();
    let mut passes = 0;
    loop {
        let stats = log.compact_with_key_limit(t0 + 100, 8).unwrap();
        passes += 1;
        assert!(stats.segments_read > 0 || passes > 1, "{stats:?}");
        if stats.segments_rewritten == 0 && stats.segments_read == 0 {
            break;
        }
        assert!(passes < 100, "no end to compaction: {stats:?}");
    }
    assert!(
        passes > 3,
        "a map of 8 keys cleaned 240 records in {passes} passes"
    );
    let after = records_of(&log);
    let mut seen = BTreeMap::new();
    for (offset, key, _) in after.iter().filter(|(o, _, _)| *o < active_base) {
        assert!(
            seen.insert(key.clone().unwrap(), *offset).is_none(),
            "a key twice below the active segment"
        );
    }
    let mut replayed = BTreeMap::new();
    for (offset, key, _) in &after {
        replayed.insert(key.clone().unwrap(), *offset);
    }
    assert_eq!(replayed, latest);
}

//! A disk that fills up in the middle of an append: the batch fails, the part of it that
//! reached the file is cut, and the partition goes offline (it refuses reads and writes, as
//! Kafka takes a log directory offline) until a restart, after which appends land where the
//! indexes expect them. A test binary of its own: the file-size limit that stands in for the
//! full disk (RLIMIT_FSIZE) holds for the whole process.

mod common;

use common::{config, fill, read_all, segment_files};
use connectd_log::{Error, PartitionLog};
use connectd_record_batch::build_batch;

/// Files of this process cannot grow past `bytes` (writes fail with EFBIG); `None` lifts the
/// limit back to the hard limit. The hard limit stays as it was, so no privilege is needed.
fn limit_file_size(bytes: Option<libc::rlim_t>) {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: plain syscalls on a stack value.
    unsafe {
        assert_eq!(libc::getrlimit(libc::RLIMIT_FSIZE, &mut limit), 0);
        limit.rlim_cur = bytes.map_or(limit.rlim_max, |b| b.min(limit.rlim_max));
        assert_eq!(libc::setrlimit(libc::RLIMIT_FSIZE, &limit), 0);
    }
}

#[test]
fn an_append_cut_short_by_a_full_disk_leaves_no_partial_batch() {
    // SAFETY: ignoring SIGXFSZ turns "file too large" into an EFBIG error instead of a kill.
    unsafe { libc::signal(libc::SIGXFSZ, libc::SIG_IGN) };
    let dir = tempfile::tempdir().unwrap();
    let cfg = || config(&[("index.interval.bytes", "256")]);
    let log = PartitionLog::open(dir.path(), cfg(), false).unwrap();
    fill(&log, 20);
    let segment = segment_files(dir.path()).remove(0);
    let size = || std::fs::metadata(&segment).unwrap().len();
    let before = size();

    // The disk fills 100 bytes into the next batch.
    limit_file_size(Some(before + 100));
    let value = vec![b'y'; 4000];
    let failed = log.append(&build_batch(5_000, &[&value]), 5_000);
    assert!(failed.is_err(), "an append past the limit must fail");
    limit_file_size(None);
    assert_eq!(size(), before, "the failed batch's first 100 bytes are cut");
    assert_eq!(log.log_end_offset(), 40, "the failed batch took no offsets");

    // The partition is offline: what reached the disk after a failed write is not trusted
    // until a restart has recovered the log from its files.
    let refused = log
        .append(&build_batch(5_500, &[b"later"]), 5_500)
        .unwrap_err();
    assert!(
        matches!(&refused, Error::Offline { .. }) && refused.to_string().contains("append"),
        "{refused}"
    );
    assert!(matches!(log.read(0, 1 << 20), Err(Error::Offline { .. })));
    assert!(matches!(log.sync(), Err(Error::Offline { .. })));
    assert!(
        log.offline_reason().unwrap().contains("os error 27"),
        "names the cause (EFBIG): {:?}",
        log.offline_reason()
    );

    // Space again, and a restart (unclean): appends go on right after the last whole batch.
    drop(log);
    let log = PartitionLog::open(dir.path(), cfg(), false).unwrap();
    assert_eq!(log.log_end_offset(), 40);
    for i in 0..5 {
        log.append(&build_batch(6_000 + i, &[&value, b"second"]), 6_000 + i)
            .unwrap();
    }
    assert_eq!(log.log_end_offset(), 50);
    let batches = read_all(&log, 0);
    let offsets: Vec<i64> = batches.iter().map(|b| b.0).collect();
    let expected: Vec<i64> = (0..25).map(|i| i * 2).collect();
    assert_eq!(offsets, expected, "every batch, in order, none torn");

    // And a restart (unclean: no clean-shutdown marker) finds the same log.
    drop(log);
    let log = PartitionLog::open(dir.path(), cfg(), false).unwrap();
    assert_eq!(log.log_end_offset(), 50);
    assert_eq!(read_all(&log, 0), batches);
}

//! The sink built natively over a temporary folder: rotation, replay, schema widening and
//! folders. (The end-to-end tests run the component against S3 and read the files with
//! pyarrow and DuckDB.)

use std::path::Path;

use arrow_array::{Array, Int64Array, RecordBatch, StringArray};
use connectd_sdk::{Config, ConnectorError, Offset, Sink, SinkBatch, SinkRecord, TopicPartition};
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use parquet::basic::{Encoding, PageType};
use parquet::file::reader::{FileReader, SerializedFileReader};

use crate::LakeSink;

fn sink(dir: &Path, extra: &[(&str, &str)]) -> LakeSink {
    let mut pairs = vec![
        ("store.url".to_string(), dir.to_string_lossy().into_owned()),
        ("topics".to_string(), "t".to_string()),
    ];
    pairs.extend(extra.iter().map(|(k, v)| (k.to_string(), v.to_string())));
    LakeSink::open(Config::from_pairs(pairs)).unwrap()
}

fn batch(
    partition: i32,
    offsets: std::ops::Range<i64>,
    value: impl Fn(i64) -> String,
) -> SinkBatch {
    let mut b = SinkBatch::default();
    for offset in offsets {
        b.push(&SinkRecord {
            topic: "t".into(),
            partition,
            offset,
            key: Some(format!("k{offset}").into_bytes()),
            value: Some(value(offset).into_bytes()),
            headers: vec![],
            timestamp_ms: 1_796_081_400_000 + offset * 60_000,
        });
    }
    b
}

/// Every file under `dir`, relative, sorted.
fn files(dir: &Path) -> Vec<String> {
    let mut out = Vec::new();
    let mut dirs = vec![dir.to_path_buf()];
    while let Some(d) = dirs.pop() {
        for e in std::fs::read_dir(d).unwrap().flatten() {
            if e.path().is_dir() {
                dirs.push(e.path());
            } else if !e.file_name().to_string_lossy().starts_with('.') {
                out.push(
                    e.path()
                        .strip_prefix(dir)
                        .unwrap()
                        .to_string_lossy()
                        .into_owned(),
                );
            }
        }
    }
    out.sort();
    out
}

fn read(path: &Path) -> RecordBatch {
    let file = std::fs::File::open(path).unwrap();
    let reader = ParquetRecordBatchReaderBuilder::try_new(file)
        .unwrap()
        .build()
        .unwrap();
    let mut batches: Vec<RecordBatch> = reader.map(Result::unwrap).collect();
    assert_eq!(batches.len(), 1, "one batch per small file");
    batches.remove(0)
}

fn value(offset: i64) -> String {
    format!(
        r#"{{"id": {}, "name": "n{offset}", "nested": {{"x": [1, null]}}, "none": null}}"#,
        (1_i64 << 53) + offset
    )
}

#[test]
fn files_rotate_every_flush_size_records_and_commit_stops_at_the_open_file() {
    let dir = tempfile::tempdir().unwrap();
    let mut s = sink(
        dir.path(),
        &[("flush.size", "100"), ("kafka.columns", "offset,key")],
    );
    s.put(&batch(0, 0..250, value)).unwrap();
    s.flush().unwrap();
    assert_eq!(
        s.pre_commit().unwrap(),
        vec![(TopicPartition::new("t", 0), Offset(200))]
    );
    assert_eq!(
        files(dir.path()),
        vec![
            "topics/t/partition=0/t+0+00000000000000000000.parquet",
            "topics/t/partition=0/t+0+00000000000000000100.parquet",
        ]
    );
    let b = read(
        &dir.path()
            .join("topics/t/partition=0/t+0+00000000000000000100.parquet"),
    );
    assert_eq!(b.num_rows(), 100);
    let ids = b
        .column_by_name("id")
        .unwrap()
        .as_any()
        .downcast_ref::<Int64Array>()
        .unwrap();
    assert_eq!(
        ids.value(0),
        (1 << 53) + 100,
        "int64 beyond 2^53 stays exact"
    );
    let keys = b
        .column_by_name("kafka_key")
        .unwrap()
        .as_any()
        .downcast_ref::<StringArray>()
        .unwrap();
    assert_eq!(keys.value(99), "k199");
    assert_eq!(
        b.column_by_name("none").unwrap().logical_null_count(),
        100,
        "a null-only column"
    );
}

#[test]
fn a_replay_from_the_commit_rewrites_the_same_files_and_skips_what_was_put() {
    let dir = tempfile::tempdir().unwrap();
    let mut first = sink(dir.path(), &[("flush.size", "100")]);
    first.put(&batch(0, 0..150, value)).unwrap();
    // The host puts a batch again record by record after a bad record: nothing doubles.
    first.put(&batch(0, 100..160, value)).unwrap();
    first.put(&batch(0, 160..230, value)).unwrap();
    first.flush().unwrap();
    let committed = first.pre_commit().unwrap()[0].1.0;
    assert_eq!(committed, 200);
    let before: Vec<Vec<u8>> = files(dir.path())
        .iter()
        .map(|f| std::fs::read(dir.path().join(f)).unwrap())
        .collect();
    drop(first); // a crash: the open file +200 is given up, never visible

    // A replay from an older commit (0) writes the same two files, byte for byte.
    let mut again = sink(dir.path(), &[("flush.size", "100")]);
    again.put(&batch(0, 0..120, value)).unwrap();
    again.put(&batch(0, 120..300, value)).unwrap();
    let after: Vec<Vec<u8>> = files(dir.path())
        .iter()
        .take(2)
        .map(|f| std::fs::read(dir.path().join(f)).unwrap())
        .collect();
    assert_eq!(before, after);
    assert_eq!(files(dir.path()).len(), 3);
    assert!(files(dir.path()).iter().all(|f| !f.contains(".tmp")));
}

#[test]
fn a_new_field_starts_a_wider_file_and_a_type_change_is_a_bad_record() {
    let dir = tempfile::tempdir().unwrap();
    let mut s = sink(dir.path(), &[("flush.size", "1000")]);
    s.put(&batch(0, 0..10, |o| format!(r#"{{"id": {o}}}"#)))
        .unwrap();
    s.put(&batch(0, 10..20, |o| {
        format!(r#"{{"id": {o}, "extra": "e{o}"}}"#)
    }))
    .unwrap();
    let err = s
        .put(&batch(0, 20..21, |_| r#"{"id": "twenty"}"#.to_string()))
        .unwrap_err();
    let ConnectorError::BadRecord(m) = err else {
        panic!("{err:?}")
    };
    assert!(
        m.contains("t-0 offset 20") && m.contains("field id changed type"),
        "{m}"
    );
    // The rest goes on; the bad record is the host's (dead letter queue).
    s.put(&batch(0, 21..30, |o| format!(r#"{{"id": {o}}}"#)))
        .unwrap();
    s.partitions
        .values_mut()
        .for_each(|w| w.rotate_all(&s.settings).unwrap());
    let names = files(dir.path());
    assert_eq!(names.len(), 2, "{names:?}");
    let old = read(&dir.path().join(&names[0]));
    let wide = read(&dir.path().join(&names[1]));
    assert_eq!((old.num_rows(), old.num_columns()), (10, 1));
    assert_eq!((wide.num_rows(), wide.num_columns()), (19, 2));
    assert!(names[1].ends_with("+00000000000000000010.parquet"));
}

#[test]
fn time_and_field_partitioners_write_hive_folders() {
    let dir = tempfile::tempdir().unwrap();
    let mut s = sink(
        dir.path(),
        &[
            ("partitioner.class", "time"),
            ("path.format", "'dt'=YYYY-MM-dd/'hr'=HH"),
            ("flush.size", "1000"),
        ],
    );
    // One record a minute from 2026-11-30T23:30Z: 30 in hour 23, 30 the next day.
    s.put(&batch(0, 0..60, value)).unwrap();
    s.partitions
        .values_mut()
        .for_each(|w| w.rotate_all(&s.settings).unwrap());
    assert_eq!(
        files(dir.path()),
        vec![
            "topics/t/dt=2026-11-30/hr=23/t+0+00000000000000000000.parquet",
            "topics/t/dt=2026-12-01/hr=00/t+0+00000000000000000030.parquet",
        ]
    );

    let dir = tempfile::tempdir().unwrap();
    let mut s = sink(
        dir.path(),
        &[
            ("partitioner.class", "field"),
            ("partition.field.name", "kind"),
            ("format.class", "json"),
            ("partitioner.max.open.files", "2"),
        ],
    );
    s.put(&batch(1, 0..6, |o| {
        format!(r#"{{"kind": "k{}", "o": {o}}}"#, o % 3)
    }))
    .unwrap();
    s.partitions
        .values_mut()
        .for_each(|w| w.rotate_all(&s.settings).unwrap());
    let names = files(dir.path());
    // At most two folders open at once: the third closes both first.
    assert_eq!(names.len(), 6, "{names:?}");
    let lines = std::fs::read_to_string(
        dir.path()
            .join("topics/t/kind=k0/t+1+00000000000000000000.json"),
    )
    .unwrap();
    assert_eq!(lines, "{\"kind\": \"k0\", \"o\": 0}\n");
}

#[test]
fn config_mistakes_name_the_key() {
    let dir = tempfile::tempdir().unwrap();
    for (pairs, key) in [
        (vec![("parquet.codec", "zstd")], "parquet.codec"),
        (vec![("partitioner.class", "time")], "path.format"),
        (vec![("partitioner.class", "field")], "partition.field.name"),
        (
            vec![("timestamp.extractor", "RecordField")],
            "timestamp.field",
        ),
        (vec![("kafka.columns", "offset,nope")], "kafka.columns"),
        (vec![("schema", "{\"a\": \"decimal\"}")], "schema"),
        (vec![("topics.dir", "../x")], "topics.dir"),
    ] {
        let mut all = vec![
            (
                "store.url".to_string(),
                dir.path().to_string_lossy().into_owned(),
            ),
            ("topics".to_string(), "t".to_string()),
        ];
        all.extend(pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())));
        let Err(ConnectorError::InvalidConfig(m)) = LakeSink::open(Config::from_pairs(all)) else {
            panic!("{key}: accepted");
        };
        assert!(m.contains(key), "{key}: {m}");
    }
}

#[test]
fn record_time_and_size_cut_files_at_the_same_records_every_time() {
    // Records a minute apart, files of at most ten minutes of record time.
    let dir = tempfile::tempdir().unwrap();
    let mut s = sink(dir.path(), &[("rotate.interval.ms", "600000")]);
    s.put(&batch(0, 0..25, value)).unwrap();
    s.partitions
        .values_mut()
        .for_each(|w| w.rotate_all(&s.settings).unwrap());
    let starts: Vec<String> = files(dir.path())
        .iter()
        .map(|f| f[f.len() - 10..f.len() - 8].to_string())
        .collect();
    assert_eq!(starts, ["00", "10", "20"]);

    // A size cap, checked where row groups end (every 10 records): each file holds whole
    // row groups, however the records were batched.
    let whole: Vec<std::ops::Range<i64>> = std::iter::once(0..100).collect();
    let mut cuts = Vec::new();
    for batches in [whole, vec![0..7, 7..33, 33..100]] {
        let dir = tempfile::tempdir().unwrap();
        let mut s = sink(
            dir.path(),
            &[
                ("rotate.size.bytes", "2000"),
                ("parquet.row.group.records", "10"),
            ],
        );
        for b in batches {
            s.put(&batch(0, b, value)).unwrap();
        }
        s.partitions
            .values_mut()
            .for_each(|w| w.rotate_all(&s.settings).unwrap());
        let rows: Vec<usize> = files(dir.path())
            .iter()
            .map(|f| read_rows(&dir.path().join(f)))
            .collect();
        assert!(rows.len() >= 2, "{rows:?}");
        assert!(rows.iter().all(|r| r % 10 == 0), "{rows:?}");
        assert_eq!(rows.iter().sum::<usize>(), 100);
        cuts.push(rows);
    }
    assert_eq!(cuts[0], cuts[1], "the same files whatever the batches");
}

fn read_rows(path: &Path) -> usize {
    let file = std::fs::File::open(path).unwrap();
    let reader = ParquetRecordBatchReaderBuilder::try_new(file)
        .unwrap()
        .build()
        .unwrap();
    reader.map(|b| b.unwrap().num_rows()).sum()
}

#[test]
fn columns_take_keys_in_any_order_escaped_keys_and_refuse_bytes_that_are_not_utf8() {
    use crate::columns::{Column, Kind, Misfit};
    use arrow_array::cast::AsArray;
    let schema = Kind::Struct(vec![("ab".into(), Kind::Int64), ("s".into(), Kind::String)]);
    let mut rows = Column::new(&schema);
    // In order, out of order, with an escaped key (owned, not borrowed), and a missing field.
    for json in [
        r#"{"ab": 1, "s": "x"}"#,
        r#"{"s": "y", "ab": 2}"#,
        r#"{"a\u0062": 3, "s": "é"}"#,
        r#"{"s": "w"}"#,
    ] {
        assert!(rows.push_json(json.as_bytes()).is_ok(), "{json}");
    }
    match rows.push_json(b"{\"ab\": 5, \"s\": \"\xff\"}") {
        Err(Misfit::Invalid(m)) => assert!(m.contains("not UTF-8"), "{m}"),
        _ => panic!("bytes that are not UTF-8 must be refused"),
    }
    let array = rows.finish();
    let rows = array.as_struct();
    let ab = rows
        .column(0)
        .as_primitive::<arrow_array::types::Int64Type>();
    let s = rows.column(1).as_string::<i32>();
    assert_eq!(
        ab.iter().collect::<Vec<_>>(),
        [Some(1), Some(2), Some(3), None]
    );
    assert_eq!(
        s.iter().collect::<Vec<_>>(),
        [Some("x"), Some("y"), Some("é"), Some("w")]
    );
}

#[test]
fn a_file_has_the_same_bytes_whatever_the_batches_that_brought_its_records() {
    // Enough distinct text that the encoder cuts several pages and gives up its dictionary
    // (1 MiB each) inside the file: where it does so must not depend on the batches. The
    // first chunk's texts come twice each, so the file starts with a dictionary.
    let wide = |offset: i64| {
        let seed = if offset < 8192 { offset % 4096 } else { offset } as u64;
        let text: String = (0..8u64)
            .map(|k| {
                format!(
                    "{:016x}",
                    (seed * 8 + k).wrapping_mul(0x9e37_79b9_7f4a_7c15)
                )
            })
            .collect();
        format!(r#"{{"id": {offset}, "text": "{text}"}}"#)
    };
    let bytes = |sizes: &[i64]| {
        let dir = tempfile::tempdir().unwrap();
        let mut sink = sink(dir.path(), &[("flush.size", "20000")]);
        let mut start = 0;
        for size in sizes.iter().cycle() {
            let end = (start + size).min(20_000);
            sink.put(&batch(0, start..end, wide)).unwrap();
            start = end;
            if end == 20_000 {
                break;
            }
        }
        let names = files(dir.path());
        assert_eq!(names.len(), 1, "{names:?}");
        std::fs::read(dir.path().join(&names[0])).unwrap()
    };
    let whole = bytes(&[20_000]);
    assert!(whole.len() > 2_000_000, "{} bytes", whole.len());
    let reader = SerializedFileReader::new(bytes::Bytes::from(whole.clone())).unwrap();
    let text = reader.metadata().row_group(0).column(1);
    assert!(text.dictionary_page_offset().is_some(), "{text:?}");
    // The encoder gave the dictionary up inside the file: its data pages use both encodings.
    let pages = reader
        .get_row_group(0)
        .unwrap()
        .get_column_page_reader(1)
        .unwrap();
    let mut encodings: Vec<Encoding> = pages
        .map(|page| page.unwrap())
        .filter(|page| page.page_type() != PageType::DICTIONARY_PAGE)
        .map(|page| page.encoding())
        .collect();
    encodings.dedup();
    assert_eq!(encodings, [Encoding::RLE_DICTIONARY, Encoding::PLAIN]);
    assert_eq!(whole, bytes(&[777, 5000, 1]));
}

#[test]
fn nearly_unique_columns_are_written_without_a_dictionary() {
    let dir = tempfile::tempdir().unwrap();
    let mut sink = sink(dir.path(), &[("flush.size", "1000")]);
    let levels = ["info", "warn", "error"];
    sink.put(&batch(0, 0..1000, |offset| {
        let level = levels[offset as usize % 3];
        format!(r#"{{"id": {offset}, "level": "{level}", "amount": {offset}.25}}"#)
    }))
    .unwrap();
    let names = files(dir.path());
    let file = std::fs::File::open(dir.path().join(&names[0])).unwrap();
    let reader = SerializedFileReader::new(file).unwrap();
    let group = reader.metadata().row_group(0);
    let dictionary: Vec<(String, bool)> = group
        .columns()
        .iter()
        .map(|c| {
            (
                c.column_path().string(),
                c.dictionary_page_offset().is_some(),
            )
        })
        .collect();
    assert_eq!(
        dictionary,
        [
            ("id".into(), false),
            ("level".into(), true),
            ("amount".into(), false)
        ]
    );
    let rows = read(&dir.path().join(&names[0]));
    assert_eq!(rows.num_rows(), 1000);
}

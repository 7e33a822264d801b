//! The lake sink's kind of work with nothing of connectd around it: ~200-byte JSON records of
//! datagen-source's shape parsed with serde_json (a derived, borrowing struct: its fastest
//! use) into Arrow columns, handed to the Parquet encoder 8,192 rows at a time, and written as
//! snappy files of 100,000 records (row groups of the same size) into memory. No host calls,
//! no copies in, no I/O.
//!
//! ```text
//! connectd-bench-kernel <records>
//! ```
//!
//! Built natively and as a WASI command (`--target wasm32-wasip2`, which
//! `connectd-bench-pipeline kernel` runs on the engine connectors get), the two times give
//! what WebAssembly costs this code alone. Prints one JSON line.

use std::sync::Arc;
use std::time::Instant;

use arrow_array::builder::{Float64Builder, Int64Builder, StringBuilder};
use arrow_array::{ArrayRef, RecordBatch};
use arrow_schema::{DataType, Field, Schema};
use parquet::arrow::ArrowWriter;
use parquet::basic::Compression;
use parquet::file::properties::WriterProperties;
use parquet::schema::types::ColumnPath;
use serde::Deserialize;

// The SDK links this `memcmp` into every connector in place of wasi-libc's byte loop; the
// kernel links the same source, so it measures what connectors get.
#[allow(dead_code)]
#[path = "../../../../sdk/src/mem.rs"]
mod mem;

const FILE_RECORDS: usize = 100_000;
const CHUNK: usize = 8192;
const LEVELS: [&str; 4] = ["debug", "info", "warn", "error"];

#[derive(Deserialize)]
struct Row<'a> {
    id: i64,
    task: i64,
    worker: &'a str,
    user: &'a str,
    level: &'a str,
    amount: f64,
    pad: &'a str,
}

/// Record `n`, in datagen-source's shape, padded to about 200 bytes.
fn record(n: u64) -> String {
    let r = n.wrapping_mul(0x9e37_79b9_7f4a_7c15).rotate_left(29);
    let mut value = format!(
        r#"{{"id":{n},"task":0,"worker":"worker-1","user":"user_{}","level":"{}","amount":{}.{:02}"#,
        r % 100,
        LEVELS[(r >> 8) as usize % LEVELS.len()],
        (r >> 16) % 1000,
        (r >> 32) % 100
    );
    let pad = 200usize.saturating_sub(value.len() + 10);
    value.push_str(&format!(r#","pad":"{}"}}"#, "x".repeat(pad)));
    value
}

#[derive(Default)]
struct Columns {
    id: Int64Builder,
    task: Int64Builder,
    worker: StringBuilder,
    user: StringBuilder,
    level: StringBuilder,
    amount: Float64Builder,
    pad: StringBuilder,
}

impl Columns {
    fn push(&mut self, row: &Row<'_>) {
        self.id.append_value(row.id);
        self.task.append_value(row.task);
        self.worker.append_value(row.worker);
        self.user.append_value(row.user);
        self.level.append_value(row.level);
        self.amount.append_value(row.amount);
        self.pad.append_value(row.pad);
    }

    fn finish(&mut self, schema: &Arc<Schema>) -> RecordBatch {
        let columns: Vec<ArrayRef> = vec![
            Arc::new(self.id.finish()),
            Arc::new(self.task.finish()),
            Arc::new(self.worker.finish()),
            Arc::new(self.user.finish()),
            Arc::new(self.level.finish()),
            Arc::new(self.amount.finish()),
            Arc::new(self.pad.finish()),
        ];
        RecordBatch::try_new(schema.clone(), columns).expect("columns match the schema")
    }
}

fn main() {
    let records: u64 = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or_else(|| {
            eprintln!("usage: connectd-bench-kernel <records>");
            std::process::exit(2)
        });
    let field = |name: &str, t: DataType| Field::new(name, t, true);
    let schema = Arc::new(Schema::new(vec![
        field("id", DataType::Int64),
        field("task", DataType::Int64),
        field("worker", DataType::Utf8),
        field("user", DataType::Utf8),
        field("level", DataType::Utf8),
        field("amount", DataType::Float64),
        field("pad", DataType::Utf8),
    ]));
    // As lake-sink decides for these columns: the nearly unique ones are written plainly.
    let props = || {
        WriterProperties::builder()
            .set_compression(Compression::SNAPPY)
            .set_max_row_group_row_count(Some(FILE_RECORDS))
            .set_max_row_group_bytes(None)
            .set_column_dictionary_enabled(ColumnPath::from("id"), false)
            .set_column_dictionary_enabled(ColumnPath::from("amount"), false)
            .build()
    };
    let input: Vec<String> = (0..records).map(record).collect();
    let started = Instant::now();
    let (mut columns, mut rows, mut file_bytes) = (Columns::default(), 0, 0);
    let new_writer = || ArrowWriter::try_new(Vec::new(), schema.clone(), Some(props()));
    let mut writer = new_writer().expect("a writer");
    for (i, text) in input.iter().enumerate() {
        let row: Row = serde_json::from_str(text).expect("a record of the known shape");
        columns.push(&row);
        rows += 1;
        let file_end = (i + 1) % FILE_RECORDS == 0 || i + 1 == input.len();
        if rows == CHUNK || file_end {
            writer.write(&columns.finish(&schema)).expect("encoded");
            rows = 0;
        }
        if file_end {
            let done = std::mem::replace(&mut writer, new_writer().expect("a writer"));
            file_bytes += done.into_inner().expect("a whole file").len();
        }
    }
    let seconds = started.elapsed().as_secs_f64();
    println!(
        r#"{{"records":{records},"seconds":{seconds:.3},"records_per_s":{:.0},"parquet_bytes":{file_bytes}}}"#,
        records as f64 / seconds
    );
}

//! One measured run of a connector pipeline inside a real worker and embedded broker (fsync
//! on, as by default), with the connectors either as WebAssembly components or compiled in.
//!
//! ```text
//! connectd-bench-pipeline <wasm|native> <datagen|file|lake> <records> <plugin_dir> <cache_dir>
//! ```
//!
//! - `datagen`: datagen-source (100-byte JSON values, as fast as possible) into a topic; done
//!   when the topic holds every record.
//! - `file`: a file of 100-byte lines, file-source into a topic, file-sink out of it; done when
//!   the output file holds every line.
//! - `lake`: datagen-source (always compiled in) fills a topic with ~200-byte JSON records
//!   first; then lake-sink lands the topic as snappy Parquet files of 100,000 records in a
//!   local folder, or, with `CONNECTD_BENCH_S3_ENDPOINT` set (moto; bucket `bench`, keys
//!   `testing`), in S3. Timed from the sink's start until its group committed every record
//!   (which it does only once the last file is complete); the rate is the sink's alone.
//!   `CONNECTD_BENCH_LAKE_KEYS` adds lines to the sink's config (`"parquet.codec" = "none"`).
//!
//! `connectd-bench-pipeline kernel <connectd-bench-kernel.wasm> <records>` instead runs the
//! benchmark kernel (`tests/bench/kernel`, the lake sink's kind of work with no connector
//! around it) as a WASI command on the engine connectors get.
//!
//! Prints one JSON line: records/s from the worker's start, and the process's peak RSS.
//! `plugin_dir` holds `datagen-source.wasm`, `file-source.wasm` and `file-sink.wasm` (wasm
//! mode); `cache_dir` keeps compiled components between runs, so only a warm-up run compiles.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

mod native;

use anyhow::{Context, Result, bail};
use connectd_host::{Limits, Plugin};
use connectd_records::TopicPartition;
use connectd_worker::{Worker, WorkerSettings};

const RECORD_BYTES: usize = 100;
/// The lake pipeline's JSON values: about 200 bytes.
const LAKE_RECORD_BYTES: usize = 200;
/// Records per poll, and so per produced batch (Kafka Connect's sources batch similarly).
const POLL_BATCH: u32 = 10_000;

fn peak_rss_mb() -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let kb: f64 = status
        .lines()
        .find(|l| l.starts_with("VmHWM:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0.0);
    kb / 1024.0
}

/// The connectors the bench can compile in.
const NATIVE: [&str; 4] = ["datagen-source", "file-source", "file-sink", "lake-sink"];

/// One of [`NATIVE`], compiled in.
fn native_plugin(name: &str) -> Result<Plugin> {
    Ok(match name {
        "datagen-source" => native::source::<connectd_datagen_source::Datagen>(),
        "file-source" => native::source::<connectd_file_source::FileSource>(),
        "file-sink" => native::sink::<connectd_file_sink::FileSink>(),
        "lake-sink" => native::sink::<connectd_lake_sink::LakeSink>(),
        other => bail!("unknown native connector {other:?}; known: {NATIVE:?}"),
    })
}

fn write(path: &Path, text: &str) -> Result<()> {
    std::fs::write(path, text).with_context(|| format!("writing {}", path.display()))
}

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if let [kernel, wasm, records] = args.as_slice()
        && kernel == "kernel"
    {
        // connectd-bench-kernel built as a WASI command, on the engine connectors get.
        let args = ["connectd-bench-kernel".to_string(), records.clone()];
        return Ok(connectd_host::run_command(Path::new(wasm), &args)?);
    }
    let [mode, pipeline, records, plugin_dir, cache_dir] = args.as_slice() else {
        bail!(
            "usage: connectd-bench-pipeline <wasm|native> <datagen|file|lake> <records> <plugin_dir> <cache_dir>\n   or: connectd-bench-pipeline kernel <connectd-bench-kernel.wasm> <records>"
        );
    };
    let records: u64 = records.parse().context("records: expected a number")?;
    // `CONNECTD_BENCH_METRICS=1` installs the Prometheus recorder connectd's binary installs
    // (`[api] metrics = true`, the default), to measure what recording metrics costs.
    let metrics = match std::env::var("CONNECTD_BENCH_METRICS").as_deref() {
        Ok("1") => Some(connectd_api::install_metrics().map_err(anyhow::Error::msg)?),
        _ => None,
    };
    let dir = tempfile::tempdir()?;
    let root = dir.path();
    let connectors = root.join("connectors.d");
    std::fs::create_dir_all(&connectors)?;
    // `CONNECTD_BENCH_NATIVE=file-source` (comma-separated) in wasm mode compiles in just
    // those connectors, to see which side of a pipeline the WebAssembly time is spent on.
    let mut native: Vec<String> = match mode.as_str() {
        "wasm" => std::env::var("CONNECTD_BENCH_NATIVE")
            .map(|v| v.split(',').map(str::to_string).collect())
            .unwrap_or_default(),
        "native" => NATIVE.iter().map(|n| n.to_string()).collect(),
        other => bail!("mode: expected wasm or native, got {other:?}"),
    };
    if pipeline == "lake" && !native.iter().any(|n| n == "datagen-source") {
        // The topic is filled the same way in both modes: only the sink is measured.
        native.push("datagen-source".into());
    }
    let builtins = native
        .iter()
        .map(|name| Ok((name.clone(), Arc::new(native_plugin(name)?))))
        .collect::<Result<Vec<_>>>()?;
    let plugin_dir = if mode == "wasm" {
        PathBuf::from(plugin_dir)
    } else {
        let empty = root.join("no-plugins");
        std::fs::create_dir_all(&empty)?;
        empty
    };
    let output = root.join("out/out.txt");
    let want_bytes = records * (RECORD_BYTES as u64 + 1);
    match pipeline.as_str() {
        "datagen" => write(
            &connectors.join("gen.toml"),
            &format!(
                "plugin = \"datagen-source\"\ntopic = \"bench\"\nrate = 0\niterations = {records}\n\"record.bytes\" = {RECORD_BYTES}\n\"poll.batch.size\" = {POLL_BATCH}\n"
            ),
        )?,
        "file" => {
            // The input is written once per size and kept (`CONNECTD_BENCH_INPUT_DIR`), so a
            // run neither measures nor competes with the writeback of a fresh 100-MB-per-
            // million-lines file. The file-source only reads it.
            let inputs = std::env::var_os("CONNECTD_BENCH_INPUT_DIR")
                .map(PathBuf::from)
                .unwrap_or_else(|| root.join("in"));
            let input = inputs.join(format!("lines-{records}.txt"));
            if !std::fs::metadata(&input).is_ok_and(|m| m.len() == want_bytes) {
                std::fs::create_dir_all(&inputs)?;
                let partial = input.with_extension("partial");
                let mut f = std::io::BufWriter::new(std::fs::File::create(&partial)?);
                for i in 0..records {
                    let line = format!("{i:012} ");
                    writeln!(f, "{line}{}", "x".repeat(RECORD_BYTES - line.len()))?;
                }
                f.into_inner()?.sync_all()?;
                std::fs::rename(&partial, &input)?;
            }
            write(
                &connectors.join("src.toml"),
                &format!(
                    "plugin = \"file-source\"\ntopic = \"bench\"\nfile = \"{}\"\n\"poll.batch.size\" = {POLL_BATCH}\n\"batch.size\" = {POLL_BATCH}\n",
                    input.display()
                ),
            )?;
            write(
                &connectors.join("sink.toml"),
                &format!(
                    "plugin = \"file-sink\"\ntopics = \"bench\"\nfile = \"{}\"\n",
                    output.display()
                ),
            )?;
        }
        "lake" => write(
            &connectors.join("gen.toml"),
            &format!(
                "plugin = \"datagen-source\"\ntopic = \"bench\"\nrate = 0\niterations = {records}\n\"record.bytes\" = {LAKE_RECORD_BYTES}\n\"poll.batch.size\" = {POLL_BATCH}\n"
            ),
        )?,
        other => bail!("pipeline: expected datagen, file or lake, got {other:?}"),
    }
    // One runtime for the broker's maintenance and the plugins' I/O, with a worker per core of
    // this 2-core machine (the binary gives plugin I/O a runtime of its own, `connectd-io`, so
    // that it never takes the threads serving clients; no clients are served here).
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    let config = connectd_broker::BrokerConfig::default();
    // The broker engine alone: the pipeline needs no Kafka listener.
    let broker = {
        let _in_runtime = runtime.enter();
        connectd_broker::Broker::open(config, &root.join("data"))?
    };
    let maintenance = runtime.spawn(broker.clone().maintain());
    let settings = WorkerSettings {
        plugin_dir,
        connectors_dir: connectors.clone(),
        cache_dir: PathBuf::from(cache_dir),
        limits: Limits::default(),
        config_providers: Default::default(),
        grant_allowed_paths: Vec::new(),
        store_policy: Arc::new(connectd_host::StorePolicy {
            s3_endpoints: std::env::var("CONNECTD_BENCH_S3_ENDPOINT")
                .into_iter()
                .collect(),
            ..Default::default()
        }),
        worker_id: "bench".into(),
        cluster: None,
        internal_topics: Default::default(),
        io: runtime.handle().clone(),
    };
    let backend = Arc::new(connectd_worker::backend::Embedded::new(broker.clone()));
    let mut started = Instant::now();
    let worker = Worker::start_with_builtins(settings, backend, builtins)?;
    if pipeline == "lake" {
        let filled = || {
            broker
                .end_offset(&TopicPartition::new("bench", 0))
                .is_ok_and(|end| end.0 as u64 >= records)
        };
        while !filled() {
            if started.elapsed() > Duration::from_secs(600) {
                bail!("the topic is not filled after 600 s: {:?}", worker.status());
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        let store = match std::env::var("CONNECTD_BENCH_S3_ENDPOINT") {
            Ok(endpoint) if !endpoint.is_empty() => format!(
                "\"store.url\" = \"s3://bench/run-{}\"\n\"s3.endpoint\" = \"{endpoint}\"\n\"aws.access.key.id\" = \"testing\"\n\"aws.secret.access.key\" = \"testing\"\n",
                std::process::id()
            ),
            _ => format!("\"store.url\" = \"{}\"\n", root.join("lake").display()),
        };
        started = Instant::now();
        write(
            &connectors.join("lake.toml"),
            &format!(
                "plugin = \"lake-sink\"\ntopics = \"bench\"\n\"flush.size\" = 100000\n{store}"
            ),
        )?;
    }
    let done = || match pipeline.as_str() {
        "datagen" => broker
            .end_offset(&TopicPartition::new("bench", 0))
            .is_ok_and(|end| end.0 as u64 >= records),
        "lake" => broker
            .committed_offset("connect-lake", &TopicPartition::new("bench", 0))
            .is_some_and(|o| o.0 as u64 >= records),
        _ => std::fs::metadata(&output).is_ok_and(|m| m.len() >= want_bytes),
    };
    while !done() {
        if started.elapsed() > Duration::from_secs(600) {
            bail!("not done after 600 s: {:?}", worker.status());
        }
        std::thread::sleep(Duration::from_millis(2));
    }
    let seconds = started.elapsed().as_secs_f64();
    // What a scrape would see: the counters must have counted every record.
    let scraped = metrics.map(|m| m.render()).unwrap_or_default();
    if !scraped.is_empty() && !scraped.contains("connectd_task_records_out_total") {
        bail!("metrics on, but no task counters recorded:\n{scraped}");
    }
    worker.stop();
    maintenance.abort();
    broker.shutdown()?;
    println!(
        "{{\"mode\":\"{mode}\",\"pipeline\":\"{pipeline}\",\"metrics\":{},\"records\":{records},\"seconds\":{seconds:.3},\"records_per_s\":{:.0},\"peak_rss_mb\":{:.1}}}",
        !scraped.is_empty(),
        records as f64 / seconds,
        peak_rss_mb()
    );
    Ok(())
}

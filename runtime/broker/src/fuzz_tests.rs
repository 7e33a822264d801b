//! Seeded mutation fuzzing of everything the broker decodes from outside: request frames
//! ([`crate::frame::decode`]: header, shape check, kafka-protocol's body decoder) and stored
//! batches ([`connectd_record_batch::decode_into`]: bounded decompression, records
//! read in place). Every input must decode or be refused: no panic, and no single allocation
//! beyond a bound proportional to the input (a counting allocator checks), which is what an
//! abort from a huge reservation would have needed.
//!
//! Seeds are a request of every served API and version and batches in every codec; each
//! iteration applies one to four mutations: byte flips, claims of 2^31 (or -1, or 0) written
//! over a count, huge varints, truncations, duplicated and random runs. CI runs a short pass;
//! set `CONNECTD_FUZZ_ITERATIONS` for a long one (BENCHMARKS.md has a 10-million run):
//!
//! ```sh
//! CONNECTD_FUZZ_ITERATIONS=10000000 cargo test --release -p connectd-broker --lib fuzz -- --nocapture
//! ```

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::panic::{AssertUnwindSafe, catch_unwind};

use bytes::{Bytes, BytesMut};
use connectd_record_batch::{MAX_DECOMPRESSED, build_batch, client_batch, decode_into};
use connectd_records::SinkBatch;
use kafka_protocol::messages::RequestHeader;
use kafka_protocol::protocol::{Encodable, StrBytes};
use kafka_protocol::records::Compression;

use crate::frame;
use crate::shape::samples::sample;
use crate::versions::SUPPORTED;

/// The system allocator, noting the largest single allocation this thread asked for.
struct Tracking;

thread_local! {
    static LARGEST: Cell<usize> = const { Cell::new(0) };
}

fn note(size: usize) {
    let _ = LARGEST.try_with(|l| l.set(l.get().max(size)));
}

// SAFETY: every call is forwarded to `System` unchanged; the bookkeeping allocates nothing.
unsafe impl GlobalAlloc for Tracking {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        note(layout.size());
        // SAFETY: the caller's contract is the one System::alloc has.
        unsafe { System.alloc(layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        note(layout.size());
        // SAFETY: as above.
        unsafe { System.alloc_zeroed(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: as above.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        note(new_size);
        // SAFETY: as above.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static ALLOCATOR: Tracking = Tracking;

fn iterations() -> u64 {
    std::env::var("CONNECTD_FUZZ_ITERATIONS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(20_000)
}

/// xorshift64: the same inputs every run, so a failure can be replayed.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

/// Applies one to four mutations to `input`, leaving its first `keep` bytes alone most of the
/// time (the API key and version, so the mutants reach the decoders behind them).
fn mutate(rng: &mut Rng, input: &mut Vec<u8>, keep: usize) {
    const CLAIMS: [&[u8]; 7] = [
        &[0x7f, 0xff, 0xff, 0xff],
        &[0xff, 0xff, 0xff, 0xff],
        &[0x80, 0, 0, 0],
        &[0, 0, 0, 0],
        &[0xff, 0xff, 0xff, 0xff, 0x0f],
        &[0xff, 0xff],
        &[0x7f, 0xff],
    ];
    let keep = if rng.below(16) == 0 { 0 } else { keep };
    for _ in 0..1 + rng.below(4) {
        let len = input.len();
        let at = keep + rng.below(len.saturating_sub(keep) + 1);
        match rng.below(6) {
            0 if at < len => input[at] = rng.next() as u8,
            1 => {
                let claim = CLAIMS[rng.below(CLAIMS.len())];
                let end = (at + claim.len()).min(len);
                input.splice(at..end, claim.iter().copied());
            }
            2 => input.truncate(at),
            3 if at < len => {
                let end = (at + 1 + rng.below(16)).min(len);
                let run = input[at..end].to_vec();
                input.splice(at..at, run);
            }
            4 => {
                let run: Vec<u8> = (0..1 + rng.below(8)).map(|_| rng.next() as u8).collect();
                input.splice(at..at, run);
            }
            _ if at < len => input[at] ^= 1 << rng.below(8),
            _ => input.push(rng.next() as u8),
        }
    }
}

/// Runs `f` on `input`, failing with the input in hex if it panics or allocates more than
/// `bound` bytes at once.
fn run(what: &str, input: &[u8], bound: usize, f: impl FnOnce()) {
    LARGEST.with(|l| l.set(0));
    if catch_unwind(AssertUnwindSafe(f)).is_err() {
        panic!("{what} panicked on {}", hex(input));
    }
    let largest = LARGEST.with(Cell::get);
    assert!(
        largest <= bound,
        "{what} allocated {largest} bytes at once (bound {bound}) on {}",
        hex(input)
    );
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn request_seeds() -> Vec<Vec<u8>> {
    let mut seeds = Vec::new();
    for (key, _, _) in SUPPORTED {
        let (min, max) = crate::versions::supported_versions(*key).expect("served");
        for version in min..=max {
            let mut frame = BytesMut::new();
            RequestHeader::default()
                .with_request_api_key(*key as i16)
                .with_request_api_version(version)
                .with_correlation_id(1)
                .with_client_id(Some(StrBytes::from_static_str("fuzz")))
                .encode(&mut frame, key.request_header_version(version))
                .unwrap();
            frame.extend_from_slice(&sample(*key, version));
            seeds.push(frame.to_vec());
        }
    }
    seeds
}

fn batch_seeds() -> Vec<Vec<u8>> {
    let mut seeds = vec![build_batch(3, &[b"a", b"bb", b"ccc"])];
    for compression in [
        Compression::Gzip,
        Compression::Snappy,
        Compression::Lz4,
        Compression::Zstd,
    ] {
        let records = (0..5).map(|i| {
            let value = Bytes::from(vec![b'v'; 10 * i as usize]);
            (
                i,
                1_700_000_000_000 + i,
                Some(Bytes::from(format!("k{i}"))),
                Some(value),
            )
        });
        seeds.push(client_batch(records, compression));
    }
    seeds
}

/// Feeds `n` mutants of `seeds` to `decode` (true: decoded, false: refused), each allowed
/// `bound(len)` bytes in one allocation; both outcomes must occur.
fn fuzz(
    what: &str,
    seeds: &[Vec<u8>],
    seed: u64,
    keep: usize,
    bound: impl Fn(usize) -> usize,
    decode: impl Fn(Bytes) -> bool,
) {
    let mut rng = Rng(seed);
    let (mut decoded, mut refused) = (0u64, 0u64);
    let n = iterations();
    for _ in 0..n {
        let mut input = seeds[rng.below(seeds.len())].clone();
        mutate(&mut rng, &mut input, keep);
        run(what, &input, bound(input.len()), || {
            if decode(Bytes::copy_from_slice(&input)) {
                decoded += 1;
            } else {
                refused += 1;
            }
        });
    }
    println!("{what}: {n} inputs, {decoded} decoded, {refused} refused");
    assert!(
        decoded > 0 && refused > 0,
        "{decoded} decoded, {refused} refused"
    );
}

#[test]
fn fuzz_request_frames() {
    let seeds = request_seeds();
    assert!(seeds.len() > 100, "{} seeds", seeds.len());
    // Decoded structs may take a few hundred bytes per byte of input that holds them.
    fuzz(
        "frame::decode",
        &seeds,
        0x2545_f491_4f6c_dd1d,
        4,
        |len| 256 * len + (64 << 10),
        |mut frame| frame::decode(&mut frame).is_ok(),
    );
}

#[test]
fn fuzz_stored_batches() {
    // Decompression may take up to its bound, and a growing buffer doubles past it once.
    fuzz(
        "decode_into",
        &batch_seeds(),
        0x9e37_79b9_7f4a_7c15,
        0,
        |len| 2 * MAX_DECOMPRESSED + 64 * len,
        |batch| decode_into(&batch, 0, "t", 0, &mut SinkBatch::default()).is_ok(),
    );
}

#[test]
fn the_tracking_allocator_sees_a_large_reservation() {
    run("nothing", &[], usize::MAX, || {});
    LARGEST.with(|l| l.set(0));
    let v: Vec<u64> = Vec::with_capacity(1 << 20);
    assert!(LARGEST.with(Cell::get) >= 8 << 20);
    drop(v);
}

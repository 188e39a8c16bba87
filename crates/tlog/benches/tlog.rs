//! Benchmarks for `tlog`.
//!
//! `cargo bench -p tlog --bench tlog` first prints a sequencing report (64 concurrent
//! writers on a local directory, throughput and append latency, next to the ceilings
//! measured in the same run: SHA-256 of the same leaves in memory, and one fsync'd write
//! per batch), bytes on disk per entry and verification time per million entries; then
//! divan runs the micro-benchmarks (inclusion proofs from warm tiles at 10 million
//! entries, leaf hashing, checkpoint verification).
//!
//! Environment: TLOG_BENCH_DIR (where the log is written, default the system temp dir),
//! TLOG_BENCH_SECS (seconds per sequencing scenario, default 5),
//! TLOG_BENCH_SKIP_REPORT=1 (only the divan part).

use std::fs::File;
use std::io::Write as _;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use tlog::checkpoint::{Checkpoint, TrustPolicy};
use tlog::hash::leaf_hash;
use tlog::note::{KeyKind, SignerKey};
use tlog::sequencer::{Sequencer, SequencerConfig};
use tlog::storage::{DirStorage, ObjectStorage};
use tlog::tiles::{TileTree, verify_tree};

const WRITERS: usize = 64;
const ENTRY_SIZE: usize = 100;
const ORIGIN: &str = "bench.example/log";

fn key() -> SignerKey {
    SignerKey::from_seed(ORIGIN, KeyKind::Ed25519, [1; 32]).unwrap()
}

fn entry(writer: usize, i: u64) -> Vec<u8> {
    let mut e = format!("writer {writer:02} entry {i:012} ").into_bytes();
    e.resize(ENTRY_SIZE, b'.');
    e
}

struct Run {
    entries: u64,
    elapsed: Duration,
    batches: u64,
    latencies: Vec<Duration>,
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

/// 64 writers for `secs`; each keeps `in_flight` submissions of `chunk` entries pending.
fn sequencing(dir: &std::path::Path, secs: u64, chunk: usize, in_flight: usize) -> Run {
    let store = Arc::new(DirStorage::new(dir).unwrap());
    let seq = Arc::new(Sequencer::open(store, key(), ORIGIN, SequencerConfig::default()).unwrap());
    let start_size = seq.head().0;
    let start = Instant::now();
    let deadline = start + Duration::from_secs(secs);
    let latencies = Arc::new(Mutex::new(Vec::new()));
    let handles: Vec<_> = (0..WRITERS)
        .map(|w| {
            let seq = seq.clone();
            let latencies = latencies.clone();
            std::thread::spawn(move || {
                let mut mine = Vec::new();
                let mut pending = std::collections::VecDeque::new();
                let mut i = 0u64;
                loop {
                    let now = Instant::now();
                    if now < deadline && pending.len() < in_flight {
                        let batch: Vec<Vec<u8>> = (0..chunk as u64).map(|k| entry(w, i + k)).collect();
                        i += chunk as u64;
                        pending.push_back((now, seq.submit(batch).unwrap()));
                        continue;
                    }
                    let Some((t0, ticket)) = pending.pop_front() else { break };
                    ticket.wait().unwrap();
                    mine.push(t0.elapsed());
                }
                latencies.lock().unwrap().extend(mine);
            })
        })
        .collect();
    for h in handles {
        h.join().unwrap();
    }
    let elapsed = start.elapsed();
    let entries = seq.head().0 - start_size;
    let batches = seq.batches_written();
    let mut latencies = std::mem::take(&mut *latencies.lock().unwrap());
    latencies.sort();
    Run { entries, elapsed, batches, latencies }
}

fn dir_bytes(dir: &std::path::Path) -> u64 {
    let mut total = 0;
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let e = e.unwrap();
            let m = e.metadata().unwrap();
            if m.is_dir() {
                stack.push(e.path());
            } else {
                total += m.len();
            }
        }
    }
    total
}

fn report() {
    let secs: u64 = std::env::var("TLOG_BENCH_SECS").ok().and_then(|s| s.parse().ok()).unwrap_or(5);
    let base = std::env::var("TLOG_BENCH_DIR").map(std::path::PathBuf::from).unwrap_or_else(|_| std::env::temp_dir());
    let tmp = tempfile::tempdir_in(&base).unwrap();
    println!(
        "tlog sequencing report: {WRITERS} writers, {ENTRY_SIZE}-byte entries, {secs} s per scenario, log in {}",
        base.display()
    );
    let mut total_entries = 0;
    for (name, chunk, in_flight) in
        [("one entry per call, 1 in flight per writer", 1, 1), ("32-entry submissions, 8 in flight per writer", 32, 8)]
    {
        let run = sequencing(tmp.path(), secs, chunk, in_flight);
        total_entries += run.entries;
        let rate = run.entries as f64 / run.elapsed.as_secs_f64();
        let per_batch = run.entries as f64 / run.batches.max(1) as f64;
        println!(
            "  {name}: {:.0} durable entries/s ({} entries, {} batches, {:.0} entries/batch); append latency p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms",
            rate,
            run.entries,
            run.batches,
            per_batch,
            percentile(&run.latencies, 0.5).as_secs_f64() * 1e3,
            percentile(&run.latencies, 0.99).as_secs_f64() * 1e3,
            run.latencies.last().copied().unwrap_or_default().as_secs_f64() * 1e3,
        );
        // Ceiling 1: SHA-256 leaf hashes of as many entries, in memory, one thread.
        let n = run.entries.min(2_000_000);
        let entries: Vec<Vec<u8>> = (0..n).map(|i| entry((i % 64) as usize, i)).collect();
        let t = Instant::now();
        let mut acc = 0u8;
        for e in &entries {
            acc ^= leaf_hash(e).0[0];
        }
        let hash_rate = n as f64 / t.elapsed().as_secs_f64();
        std::hint::black_box(acc);
        // Ceiling 2: one fsync'd write per batch of the observed batch size.
        let batch = per_batch.max(1.0) as usize;
        let mut f = File::create(tmp.path().join("fsync-ceiling")).unwrap();
        let payload = vec![b'x'; batch * (ENTRY_SIZE + 2)];
        let rounds = 200;
        let t = Instant::now();
        for _ in 0..rounds {
            f.write_all(&payload).unwrap();
            f.sync_data().unwrap();
        }
        let fsync_rate = (rounds * batch) as f64 / t.elapsed().as_secs_f64();
        let fsync_ms = t.elapsed().as_secs_f64() * 1e3 / rounds as f64;
        std::fs::remove_file(tmp.path().join("fsync-ceiling")).unwrap();
        println!(
            "    ceilings: SHA-256 of the leaves in memory {hash_rate:.0} entries/s; one fsync'd write per {batch}-entry batch {fsync_rate:.0} entries/s ({fsync_ms:.2} ms per write)"
        );
    }
    let bytes = dir_bytes(tmp.path());
    println!(
        "  bytes on disk per entry: {:.1} ({} bytes for {} entries of {ENTRY_SIZE} bytes)",
        bytes as f64 / total_entries as f64,
        bytes,
        total_entries
    );
    let store = DirStorage::new(tmp.path()).unwrap();
    let policy = TrustPolicy { origin: None, log_key: Some(key().verifier()), witnesses: vec![], quorum: 0 };
    let t = Instant::now();
    let cp = tlog::client::open_checkpoint(&store, &policy).unwrap().checkpoint;
    let r = verify_tree(&store, cp.size, &cp.root, true).unwrap();
    let el = t.elapsed();
    println!(
        "  verify (every tile from the entries): {} entries in {:.2} s = {:.2} s per million entries",
        r.entries,
        el.as_secs_f64(),
        el.as_secs_f64() * 1e6 / r.entries as f64
    );
}

fn main() {
    if std::env::var("TLOG_BENCH_SKIP_REPORT").is_err() {
        report();
    }
    divan::main();
}

const BIG: u64 = 10_000_000;

/// A 10-million-entry log in an in-memory object store (8-byte entries), built once.
fn big_log() -> &'static (ObjectStorage, tlog::hash::Hash) {
    static LOG: OnceLock<(ObjectStorage, tlog::hash::Hash)> = OnceLock::new();
    LOG.get_or_init(|| {
        let store = Arc::new(ObjectStorage::in_memory().unwrap());
        let seq = Sequencer::open(store.clone(), key(), ORIGIN, SequencerConfig::default()).unwrap();
        let mut i = 0u64;
        while i < BIG {
            let n = (BIG - i).min(1 << 16);
            seq.append_batch((i..i + n).map(|k| k.to_be_bytes().to_vec()).collect()).unwrap();
            i += n;
        }
        let root = seq.head().1;
        drop(seq);
        let store = Arc::try_unwrap(store).unwrap();
        (store, root)
    })
}

fn sample_indexes() -> Vec<u64> {
    let mut x = 0x2545_F491_4F6C_DD1Du64;
    (0..1024)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x % BIG
        })
        .collect()
}

/// Inclusion proof at 10M entries, tiles already read and expanded (warm).
#[divan::bench]
fn inclusion_proof_from_warm_tiles_10m(bencher: divan::Bencher) {
    let (store, root) = big_log();
    let tree = TileTree::new(store, BIG);
    let idx = sample_indexes();
    for &i in &idx {
        tree.inclusion_proof(i).unwrap();
    }
    let mut k = 0;
    bencher.bench_local(|| {
        k = (k + 1) % idx.len();
        let p = tree.inclusion_proof(idx[k]).unwrap();
        std::hint::black_box(&p);
    });
    let p = tree.inclusion_proof(idx[0]).unwrap();
    let leaf = leaf_hash(&idx[0].to_be_bytes());
    tlog::merkle::verify_inclusion(&leaf, idx[0], BIG, &p, root).unwrap();
}

/// Verifying an inclusion proof at 10M entries.
#[divan::bench]
fn inclusion_proof_verify_10m(bencher: divan::Bencher) {
    let (store, root) = big_log();
    let tree = TileTree::new(store, BIG);
    let i = 1_234_567;
    let p = tree.inclusion_proof(i).unwrap();
    let leaf = leaf_hash(&i.to_be_bytes());
    bencher.bench_local(|| tlog::merkle::verify_inclusion(&leaf, i, BIG, &p, root).unwrap());
}

/// SHA-256 leaf hash of one 100-byte entry.
#[divan::bench]
fn leaf_hash_100_bytes(bencher: divan::Bencher) {
    let e = entry(0, 0);
    bencher.bench_local(|| leaf_hash(std::hint::black_box(&e)));
}

/// Opening a signed checkpoint (parse + Ed25519 verify_strict).
#[divan::bench]
fn open_checkpoint(bencher: divan::Bencher) {
    let k = key();
    let msg = Checkpoint::new(ORIGIN, 10, tlog::hash::Hash::empty_root()).sign(&k).unwrap().to_bytes();
    let policy = TrustPolicy { origin: None, log_key: Some(k.verifier()), witnesses: vec![], quorum: 0 };
    bencher.bench_local(|| policy.open(&msg).unwrap());
}

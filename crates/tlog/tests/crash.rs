//! Crash test: a child process appends under load to a directory log and is killed with
//! SIGKILL at random moments, many times. After each kill the log is reopened: every
//! acknowledged entry must be at its index, the whole tree must verify from the entries,
//! and every checkpoint seen before must be consistent with the new one (one root per
//! size).
//!
//! The child is this same test binary, run with `--ignored crash_child` and an
//! environment variable naming the log directory.

use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use tlog::checkpoint::TrustPolicy;
use tlog::hash::Hash;
use tlog::merkle;
use tlog::note::{KeyKind, SignerKey};
use tlog::sequencer::{CHECKPOINT, Sequencer, SequencerConfig};
use tlog::storage::{DirStorage, Fetch};
use tlog::tile;
use tlog::tiles::{TileTree, verify_tree};

const ORIGIN: &str = "example.com/crash-test";
const DIR_VAR: &str = "TLOG_CRASH_CHILD_DIR";
const RUN_VAR: &str = "TLOG_CRASH_CHILD_RUN";
const KILLS: usize = 60;

fn key() -> SignerKey {
    SignerKey::from_seed(ORIGIN, KeyKind::Ed25519, [9; 32]).unwrap()
}

fn entry(run: u64, thread: u64, seq: u64, k: u64) -> Vec<u8> {
    format!("run {run} thread {thread} batch {seq} entry {k}").into_bytes()
}

/// A small deterministic generator (xorshift), enough for timings and batch sizes.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

#[test]
#[ignore = "child process of crash_and_recover, not a test on its own"]
fn crash_child() {
    let Ok(dir) = std::env::var(DIR_VAR) else { return };
    let run: u64 = std::env::var(RUN_VAR).unwrap().parse().unwrap();
    let store = DirStorage::new(&dir).unwrap();
    let _lock = store.lock().unwrap();
    let seq = Arc::new(Sequencer::open(Arc::new(store), key(), ORIGIN, SequencerConfig::default()).unwrap());
    let out = Arc::new(std::sync::Mutex::new(std::io::stdout()));
    let handles: Vec<_> = (0..8u64)
        .map(|t| {
            let seq = seq.clone();
            let out = out.clone();
            std::thread::spawn(move || {
                let mut rng = Rng(0x9E37_79B9_7F4A_7C15 ^ (run << 8) ^ (t + 1));
                for s in 0.. {
                    let count = 1 + rng.next() % 20;
                    let batch: Vec<Vec<u8>> = (0..count).map(|k| entry(run, t, s, k)).collect();
                    let first = seq.append_batch(batch).unwrap();
                    let mut o = out.lock().unwrap();
                    writeln!(o, "ACK {first} {count} {run} {t} {s}").unwrap();
                    o.flush().unwrap();
                }
            })
        })
        .collect();
    for h in handles {
        h.join().unwrap();
    }
}

struct Ack {
    first: u64,
    count: u64,
    run: u64,
    thread: u64,
    seq: u64,
}

fn parse_ack(line: &str) -> Option<Ack> {
    let mut f = line.strip_prefix("ACK ")?.split(' ').map(|x| x.parse::<u64>());
    Some(Ack {
        first: f.next()?.ok()?,
        count: f.next()?.ok()?,
        run: f.next()?.ok()?,
        thread: f.next()?.ok()?,
        seq: f.next()?.ok()?,
    })
}

#[test]
fn crash_and_recover() {
    let dir = tempfile::tempdir().unwrap();
    let exe = std::env::current_exe().unwrap();
    let seed = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_nanos() as u64 | 1;
    println!("crash test seed {seed}");
    let mut rng = Rng(seed);
    let mut acked: Vec<Ack> = Vec::new();
    let mut history: Vec<(u64, Hash)> = Vec::new();
    let policy = TrustPolicy { origin: None, log_key: Some(key().verifier()), witnesses: vec![], quorum: 0 };
    let mut runs_with_acks = 0;
    for run in 0..KILLS as u64 {
        let mut child = Command::new(&exe)
            .args(["--exact", "crash_child", "--ignored", "--nocapture", "--test-threads=1"])
            .env(DIR_VAR, dir.path())
            .env(RUN_VAR, run.to_string())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let reader = std::thread::spawn(move || {
            BufReader::new(stdout).lines().map_while(Result::ok).filter_map(|l| parse_ack(&l)).collect::<Vec<_>>()
        });
        std::thread::sleep(Duration::from_millis(10 + rng.next() % 150));
        child.kill().unwrap(); // SIGKILL
        child.wait().unwrap();
        let new = reader.join().unwrap();
        if !new.is_empty() {
            runs_with_acks += 1;
        }
        acked.extend(new);

        let store = DirStorage::new(dir.path()).unwrap();
        let Some(msg) = store.get(CHECKPOINT).unwrap() else {
            assert!(acked.is_empty(), "entries acknowledged but no checkpoint");
            continue;
        };
        let cp = policy.open(&msg).unwrap().checkpoint;
        // Recompute from every entry on a quarter of the runs and the last one (the tiles
        // and the acknowledged entries are checked on every run).
        let full = run % 4 == 3 || run + 1 == KILLS as u64;
        verify_tree(&store, cp.size, &cp.root, full).unwrap_or_else(|e| panic!("run {run}: {e}"));
        // Every acknowledged entry is at its index.
        let mut bundles = std::collections::HashMap::new();
        for a in &acked {
            for k in 0..a.count {
                let index = a.first + k;
                assert!(index < cp.size, "run {run}: acknowledged index {index} beyond size {}", cp.size);
                let bp = tile::bundle_for(index / 256, cp.size).unwrap();
                let data = bundles.entry(bp).or_insert_with(|| store.get(&bp.path()).unwrap().unwrap());
                let entries = tile::parse_bundle(Some(&bp), data).unwrap();
                assert_eq!(entries[(index % 256) as usize], &entry(a.run, a.thread, a.seq, k)[..], "index {index}");
            }
        }
        // Every earlier checkpoint is consistent with this one: one root per size.
        let tree = TileTree::new(&store, cp.size);
        for (size, root) in &history {
            let proof = tree.consistency_proof(*size).unwrap();
            merkle::verify_consistency(*size, cp.size, root, &cp.root, &proof)
                .unwrap_or_else(|e| panic!("run {run}: checkpoint at size {size} no longer consistent: {e}"));
            // And the tiles still give that root at that size (partial tiles may have
            // been replaced by full ones).
            assert_eq!(&TileTree::new(&store, *size).root().unwrap(), root, "run {run}: root at size {size}");
        }
        history.push((cp.size, cp.root));
    }
    let total: u64 = acked.iter().map(|a| a.count).sum();
    println!("{KILLS} kills, {total} acknowledged entries, final size {:?}", history.last());
    assert!(runs_with_acks >= KILLS / 2, "only {runs_with_acks} runs appended anything");
    // A second process is refused while the lock is held.
    let store = DirStorage::new(dir.path()).unwrap();
    let _lock = store.lock().unwrap();
    assert!(DirStorage::new(dir.path()).unwrap().lock().is_err());
}

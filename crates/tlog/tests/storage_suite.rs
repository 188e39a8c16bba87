//! One suite run against the local directory and against the in-memory object store:
//! storage semantics, then a sequencer on top (concurrent appends, recovery, failures).

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use tlog::checkpoint::TrustPolicy;
use tlog::merkle;
use tlog::note::{KeyKind, SignerKey};
use tlog::sequencer::{CHECKPOINT, Sequencer, SequencerConfig, SequencerError};
use tlog::storage::{DirStorage, Fetch, ObjectStorage, Storage, StorageError};
use tlog::tile::{self, TilePath};
use tlog::tiles::{TileTree, verify_tree};

const ORIGIN: &str = "example.com/test-log";

fn key() -> SignerKey {
    SignerKey::from_seed(ORIGIN, KeyKind::Ed25519, [42; 32]).unwrap()
}

fn entry(t: usize, i: usize) -> Vec<u8> {
    format!("thread {t} entry {i}").into_bytes()
}

fn storage_semantics(store: &dyn Storage) {
    assert_eq!(store.get("tile/0/000").unwrap(), None);
    store.put("tile/0/000", b"first").unwrap();
    assert_eq!(store.get("tile/0/000").unwrap().as_deref(), Some(&b"first"[..]));
    store.put("tile/0/000", b"second").unwrap();
    assert_eq!(store.get("tile/0/000").unwrap().as_deref(), Some(&b"second"[..]));
    store
        .put_all(&[("a/b/c".into(), b"1".to_vec()), ("a/d".into(), b"2".to_vec()), ("top".into(), Vec::new())])
        .unwrap();
    assert_eq!(store.get("a/b/c").unwrap().as_deref(), Some(&b"1"[..]));
    assert_eq!(store.get("a/d").unwrap().as_deref(), Some(&b"2"[..]));
    assert_eq!(store.get("top").unwrap().as_deref(), Some(&b""[..]));
    store.delete_all(&["a/d".into(), "never-written".into()]).unwrap();
    assert_eq!(store.get("a/d").unwrap(), None);
    assert_eq!(store.get("a/b/c").unwrap().as_deref(), Some(&b"1"[..]));
    for bad in ["", "/abs", "a/../b", "a//b", "./a", "a/"] {
        assert!(matches!(store.put(bad, b"x"), Err(StorageError::InvalidKey(_))), "accepted {bad:?}");
        assert!(matches!(store.get(bad), Err(StorageError::InvalidKey(_))), "accepted {bad:?}");
    }
}

fn open(store: Arc<dyn Storage>) -> Sequencer {
    Sequencer::open(store, key(), ORIGIN, SequencerConfig::default()).unwrap()
}

fn check_log(store: &dyn Storage, expected: &[(u64, Vec<u8>)]) {
    let policy = TrustPolicy { origin: None, log_key: Some(key().verifier()), witnesses: vec![], quorum: 0 };
    let cp = policy.open(&store.get(CHECKPOINT).unwrap().unwrap()).unwrap().checkpoint;
    assert_eq!(cp.size as usize, expected.len());
    verify_tree(store, cp.size, &cp.root, true).unwrap();
    let tree = TileTree::new(store, cp.size);
    for (index, e) in expected.iter().step_by(37) {
        let bundle_path = tile::bundle_for(index / 256, cp.size).unwrap();
        let bundle = store.get(&bundle_path.path()).unwrap().unwrap();
        let entries = tile::parse_bundle(Some(&bundle_path), &bundle).unwrap();
        assert_eq!(entries[(index % 256) as usize], &e[..]);
        let proof = tree.inclusion_proof(*index).unwrap();
        merkle::verify_inclusion(&tlog::hash::leaf_hash(e), *index, cp.size, &proof, &cp.root).unwrap();
    }
}

/// Superseded partial tiles are deleted once the full tile is durable, and older tree
/// sizes still read (from the full tiles) with the roots their checkpoints had.
fn partial_tiles_are_pruned_and_old_sizes_still_read(store: Arc<dyn Storage>) {
    let seq = open(store.clone());
    let mut roots = Vec::new();
    for k in 0..40 {
        seq.append_batch((0..13).map(|j| entry(k, j)).collect()).unwrap();
        roots.push(seq.head());
    }
    drop(seq);
    // 520 entries: tiles 0 and 1 are full, tile 2 is partial (width 8).
    assert!(store.get("tile/0/000").unwrap().is_some());
    assert_eq!(store.get("tile/0/000.p/13").unwrap(), None, "superseded partial tile kept");
    assert_eq!(store.get("tile/entries/001.p/4").unwrap(), None, "superseded partial bundle kept");
    assert!(store.get("tile/0/002.p/8").unwrap().is_some());
    assert!(store.get("tile/entries/002.p/8").unwrap().is_some());
    for (size, root) in roots {
        assert_eq!(TileTree::new(store.as_ref(), size).root().unwrap(), root, "root at size {size}");
        verify_tree(store.as_ref(), size, &root, true).unwrap();
    }
}

fn sequencer_suite(store: Arc<dyn Storage>) {
    let threads = 16;
    let per_thread = 120;
    let mut all: Vec<(u64, Vec<u8>)> = Vec::new();
    {
        let seq = Arc::new(open(store.clone()));
        assert_eq!(seq.head().0, 0);
        let handles: Vec<_> = (0..threads)
            .map(|t| {
                let seq = seq.clone();
                std::thread::spawn(move || {
                    let mut got = Vec::new();
                    let mut i = 0;
                    while i < per_thread {
                        if i % 3 == 0 {
                            let batch: Vec<Vec<u8>> = (i..i + 5).map(|k| entry(t, k)).collect();
                            let first = seq.append_batch(batch.clone()).unwrap();
                            got.extend(batch.into_iter().enumerate().map(|(k, e)| (first + k as u64, e)));
                            i += 5;
                        } else {
                            let e = entry(t, i);
                            got.push((seq.append(e.clone()).unwrap(), e));
                            i += 1;
                        }
                    }
                    got
                })
            })
            .collect();
        for h in handles {
            all.extend(h.join().unwrap());
        }
    }
    all.sort();
    for (i, (index, _)) in all.iter().enumerate() {
        assert_eq!(*index, i as u64, "indexes are dense and unique");
    }
    check_log(store.as_ref(), &all);

    // Restart: the head is recovered and appends continue after it.
    let seq = open(store.clone());
    assert_eq!(seq.head().0, all.len() as u64);
    let big = vec![b'x'; 65_536];
    let err = seq.append(big).unwrap_err();
    assert!(err.to_string().contains("65536 bytes is larger than the limit of 65535"), "{err}");
    let max = vec![b'y'; 65_535];
    let i = seq.append(max.clone()).unwrap();
    all.push((i, max));
    for k in 0..300 {
        let e = entry(99, k);
        all.push((seq.append(e.clone()).unwrap(), e));
    }
    drop(seq);
    check_log(store.as_ref(), &all);

    // Another origin with the same storage is refused.
    let other = Sequencer::open(store.clone(), key(), "example.com/other", SequencerConfig::default());
    assert!(matches!(other, Err(SequencerError::WrongOrigin { .. })));
    // A different key does not recognise the checkpoint.
    let stranger = SignerKey::from_seed(ORIGIN, KeyKind::Ed25519, [1; 32]).unwrap();
    assert!(Sequencer::open(store.clone(), stranger, ORIGIN, SequencerConfig::default()).is_err());
}

#[test]
fn directory_storage() {
    let dir = tempfile::tempdir().unwrap();
    let store = DirStorage::new(dir.path()).unwrap();
    storage_semantics(&store);
    let log = tempfile::tempdir().unwrap();
    sequencer_suite(Arc::new(DirStorage::new(log.path()).unwrap()));
    let log = tempfile::tempdir().unwrap();
    partial_tiles_are_pruned_and_old_sizes_still_read(Arc::new(DirStorage::new(log.path()).unwrap()));
}

/// With the lock held, the directory recycles files: the same suite, then the inodes.
#[test]
fn directory_storage_recycling_files() {
    let dir = tempfile::tempdir().unwrap();
    let store = DirStorage::new(dir.path()).unwrap().recycle_after(Duration::ZERO);
    let _lock = store.lock().unwrap();
    storage_semantics(&store);
    for run in 0..2 {
        let log = tempfile::tempdir().unwrap();
        let store = Arc::new(DirStorage::new(log.path()).unwrap().recycle_after(Duration::ZERO));
        let _lock = store.lock().unwrap();
        if run == 0 {
            sequencer_suite(store);
        } else {
            partial_tiles_are_pruned_and_old_sizes_still_read(store);
        }
    }
}

#[cfg(unix)]
#[test]
fn a_locked_directory_reuses_the_inodes_it_deletes_and_replaces() {
    use std::collections::BTreeSet;
    use std::os::unix::fs::MetadataExt as _;
    let dir = tempfile::tempdir().unwrap();
    let ino = |key: &str| std::fs::metadata(dir.path().join(key)).unwrap().ino();
    let store = DirStorage::new(dir.path()).unwrap().recycle_after(Duration::from_millis(300));
    let lock = store.lock().unwrap();
    store.put("checkpoint", b"one").unwrap();
    store.put("tile/0/000.p/1", b"a").unwrap();
    store.put("tile/0/000.p/2", b"ab").unwrap();
    let old: BTreeSet<u64> = [ino("checkpoint"), ino("tile/0/000.p/1"), ino("tile/0/000.p/2")].into();
    // Replacing the checkpoint keeps its old inode; deleting keeps theirs.
    store.put("checkpoint", b"two").unwrap();
    store.delete_all(&["tile/0/000.p/1".into(), "tile/0/000.p/2".into()]).unwrap();
    assert_eq!(store.get("tile/0/000.p/1").unwrap(), None);
    assert_eq!(store.get("checkpoint").unwrap().as_deref(), Some(&b"two"[..]));
    let spares = std::fs::read_dir(dir.path().join(tlog::storage::SPARES)).unwrap().count();
    assert_eq!(spares, 3, "the replaced checkpoint and the two deleted tiles");
    // Resting spares are not rewritten: new files get new inodes.
    store.put("tile/0/003.p/1", b"z").unwrap();
    assert!(!old.contains(&ino("tile/0/003.p/1")));
    std::thread::sleep(Duration::from_millis(350));
    // New objects are written into those inodes, and read back whole.
    store.put_all(&[("tile/0/001.p/1".into(), b"x".to_vec()), ("tile/0/001.p/2".into(), b"xy".to_vec())]).unwrap();
    store.put("checkpoint", b"three, longer than before").unwrap();
    let new: BTreeSet<u64> = [ino("tile/0/001.p/1"), ino("tile/0/001.p/2")].into();
    assert!(new.is_subset(&old), "{new:?} not from {old:?}");
    assert_eq!(store.get("tile/0/001.p/2").unwrap().as_deref(), Some(&b"xy"[..]));
    assert_eq!(store.get("checkpoint").unwrap().as_deref(), Some(&b"three, longer than before"[..]));
    drop(lock);

    // A crash between keeping a replaced file's second name and the rename leaves a
    // spare that is still the live checkpoint: the next writer must not rewrite it.
    let spare_dir = dir.path().join(tlog::storage::SPARES);
    for e in std::fs::read_dir(&spare_dir).unwrap() {
        std::fs::remove_file(e.unwrap().path()).unwrap();
    }
    std::fs::hard_link(dir.path().join("checkpoint"), spare_dir.join("left-by-a-crash")).unwrap();
    let store = DirStorage::new(dir.path()).unwrap().recycle_after(Duration::ZERO);
    let _lock = store.lock().unwrap();
    assert!(!spare_dir.join("left-by-a-crash").exists());
    store.put("tile/0/002.p/1", b"new").unwrap();
    assert_eq!(store.get("checkpoint").unwrap().as_deref(), Some(&b"three, longer than before"[..]));
    assert_eq!(store.get("tile/0/002.p/1").unwrap().as_deref(), Some(&b"new"[..]));
}

/// A batch's tiles are written in place under their names (a crashed batch's leftover
/// is cut to the new length), into recycled inodes, and no temporary file is left; the
/// checkpoint after them replaces the old one whole.
#[cfg(unix)]
#[test]
fn tiles_before_a_checkpoint_are_written_in_place() {
    use std::collections::BTreeSet;
    use std::os::unix::fs::MetadataExt as _;
    let dir = tempfile::tempdir().unwrap();
    let ino = |key: &str| std::fs::metadata(dir.path().join(key)).unwrap().ino();
    let store = DirStorage::new(dir.path()).unwrap().recycle_after(Duration::ZERO);
    let _lock = store.lock().unwrap();
    store.put("checkpoint", b"one").unwrap();
    store.put_all(&[("tile/0/000.p/1".into(), vec![1; 32]), ("tile/0/000.p/2".into(), vec![2; 64])]).unwrap();
    let old: BTreeSet<u64> = [ino("tile/0/000.p/1"), ino("tile/0/000.p/2")].into();
    store.delete_all(&["tile/0/000.p/1".into(), "tile/0/000.p/2".into()]).unwrap();
    // What a crashed batch left beyond the checkpoint: longer than what replaces it.
    std::fs::create_dir_all(dir.path().join("tile/entries/000.p")).unwrap();
    std::fs::write(dir.path().join("tile/entries/000.p/3"), vec![9u8; 500]).unwrap();
    let items: Vec<(String, Vec<u8>)> = vec![
        ("tile/0/000.p/3".into(), vec![3; 96]),
        ("tile/0/000.p/4".into(), vec![4; 128]),
        ("tile/entries/000.p/3".into(), b"short".to_vec()),
    ];
    store.put_all_then(&items, ("checkpoint", b"two, covering them")).unwrap();
    for (key, data) in &items {
        assert_eq!(store.get(key).unwrap().as_deref(), Some(&data[..]), "{key}");
    }
    assert_eq!(store.get("checkpoint").unwrap().as_deref(), Some(&b"two, covering them"[..]));
    let new: BTreeSet<u64> = [ino("tile/0/000.p/3"), ino("tile/0/000.p/4")].into();
    assert_eq!(new, old, "the deleted tiles' inodes are reused");
    fn names(dir: &std::path::Path, out: &mut Vec<String>) {
        for e in std::fs::read_dir(dir).unwrap() {
            let e = e.unwrap();
            if e.file_type().unwrap().is_dir() {
                names(&e.path(), out);
            } else {
                out.push(e.file_name().to_string_lossy().into_owned());
            }
        }
    }
    let mut all = Vec::new();
    names(dir.path(), &mut all);
    assert!(!all.iter().any(|n| n.contains(".tmp-")), "{all:?}");
    // A bad key fails the batch before the checkpoint moves.
    let bad = store.put_all_then(&[("tile/../x".into(), vec![1])], ("checkpoint", b"three"));
    assert!(matches!(bad, Err(StorageError::InvalidKey(_))), "{bad:?}");
    assert_eq!(store.get("checkpoint").unwrap().as_deref(), Some(&b"two, covering them"[..]));
}

/// Many writers at once share the threads that fsync side by side.
#[test]
fn concurrent_writers_share_the_fsync_threads() {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(DirStorage::new(dir.path()).unwrap());
    std::thread::scope(|s| {
        for t in 0..6 {
            let store = store.clone();
            s.spawn(move || {
                for round in 0..20 {
                    let items: Vec<(String, Vec<u8>)> =
                        (0..5).map(|i| (format!("w{t}/r{round}/f{i}"), vec![t as u8; i + 1])).collect();
                    store.put_all_then(&items, (&format!("w{t}/checkpoint"), format!("{round}").as_bytes())).unwrap();
                    for (key, data) in &items {
                        assert_eq!(store.get(key).unwrap().as_deref(), Some(&data[..]));
                    }
                }
            });
        }
    });
    for t in 0..6 {
        assert_eq!(store.get(&format!("w{t}/checkpoint")).unwrap().as_deref(), Some(&b"19"[..]));
    }
}

/// A reader of a directory (no lock) never takes the writer's spares.
#[test]
fn an_unlocked_directory_leaves_the_spares_alone() {
    let dir = tempfile::tempdir().unwrap();
    let writer = DirStorage::new(dir.path()).unwrap();
    let _lock = writer.lock().unwrap();
    writer.put("tile/0/000.p/1", b"a").unwrap();
    writer.delete_all(&["tile/0/000.p/1".into()]).unwrap();
    let spares = || std::fs::read_dir(dir.path().join(tlog::storage::SPARES)).unwrap().count();
    assert_eq!(spares(), 1);
    let reader = DirStorage::new(dir.path()).unwrap();
    assert_eq!(reader.get("tile/0/000.p/1").unwrap(), None);
    assert_eq!(spares(), 1);
}

#[test]
fn in_memory_object_store() {
    let store = ObjectStorage::in_memory().unwrap();
    storage_semantics(&store);
    sequencer_suite(Arc::new(ObjectStorage::in_memory().unwrap()));
    partial_tiles_are_pruned_and_old_sizes_still_read(Arc::new(ObjectStorage::in_memory().unwrap()));
}

#[test]
fn directory_lock_refuses_a_second_holder() {
    let dir = tempfile::tempdir().unwrap();
    let store = DirStorage::new(dir.path()).unwrap();
    let lock = store.lock().unwrap();
    let again = DirStorage::new(dir.path()).unwrap();
    assert!(matches!(again.lock(), Err(StorageError::Locked(_))));
    drop(lock);
    again.lock().unwrap();
}

/// Storage that fails every write after a budget, to test failures at every step.
#[derive(Debug)]
struct Flaky {
    inner: ObjectStorage,
    budget: AtomicUsize,
}

impl Fetch for Flaky {
    fn get(&self, key: &str) -> Result<Option<Vec<u8>>, StorageError> {
        self.inner.get(key)
    }
}

impl Storage for Flaky {
    fn delete_all(&self, keys: &[String]) -> Result<(), StorageError> {
        self.inner.delete_all(keys)
    }
    fn put_all(&self, items: &[(String, Vec<u8>)]) -> Result<(), StorageError> {
        // Write a prefix of the items, then fail: a torn batch.
        for (key, data) in items {
            if self.budget.fetch_update(Ordering::SeqCst, Ordering::SeqCst, |b| b.checked_sub(1)).is_err() {
                return Err(StorageError::ObjectStore {
                    op: "put",
                    key: key.clone(),
                    message: "injected failure".into(),
                });
            }
            self.inner.put(key, data)?;
        }
        Ok(())
    }
}

#[test]
fn a_failed_write_acknowledges_nothing_and_the_log_recovers() {
    for budget in 0..40 {
        let flaky =
            Arc::new(Flaky { inner: ObjectStorage::in_memory().unwrap(), budget: AtomicUsize::new(1 + budget) });
        let seq = open(flaky.clone());
        let mut acked = Vec::new();
        for k in 0..200 {
            let batch: Vec<Vec<u8>> = (0..7).map(|j| entry(k, j)).collect();
            match seq.append_batch(batch.clone()) {
                Ok(first) => acked.extend(batch.into_iter().enumerate().map(|(j, e)| (first + j as u64, e))),
                Err(e) => {
                    assert!(matches!(e, SequencerError::Storage(_)), "{e}");
                    break;
                }
            }
        }
        drop(seq);
        flaky.budget.store(usize::MAX, Ordering::SeqCst);
        check_log(flaky.as_ref(), &acked);
        // It restarts and continues.
        let seq = open(flaky.clone());
        let e = entry(1000, 0);
        let i = seq.append(e.clone()).unwrap();
        assert_eq!(i, acked.len() as u64);
        acked.push((i, e));
        drop(seq);
        check_log(flaky.as_ref(), &acked);
    }
}

#[test]
fn tile_paths_written_by_the_sequencer_are_canonical() {
    let store = Arc::new(ObjectStorage::in_memory().unwrap());
    let seq = open(store.clone());
    seq.append_batch((0..70_000).map(|i| entry(0, i)).collect()).unwrap();
    drop(seq);
    for p in tile::tiles_for_size(70_000) {
        assert!(store.get(&p.path()).unwrap().is_some(), "missing {p}");
        assert_eq!(TilePath::parse(&p.path()).unwrap(), p);
    }
    assert!(store.get("tile/1/000").unwrap().is_some());
    assert!(store.get("tile/2/000.p/1").unwrap().is_some());
    assert!(store.get("tile/entries/273.p/112").unwrap().is_some());
}

#[test]
fn a_new_checkpoint_is_published_at_least_every_second_while_entries_arrive() {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(DirStorage::new(dir.path()).unwrap());
    let seq = Arc::new(open(store.clone()));
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let writers: Vec<_> = (0..8)
        .map(|t| {
            let (seq, stop) = (seq.clone(), stop.clone());
            std::thread::spawn(move || {
                let mut i = 0;
                while !stop.load(Ordering::Relaxed) {
                    seq.append(entry(t, i)).unwrap();
                    i += 1;
                }
            })
        })
        .collect();
    let start = std::time::Instant::now();
    let mut last_change = start;
    let mut last = Vec::new();
    let mut longest = std::time::Duration::ZERO;
    let mut changes = 0;
    while start.elapsed() < std::time::Duration::from_secs(3) {
        let cp = store.get(CHECKPOINT).unwrap().unwrap();
        if cp != last {
            longest = longest.max(last_change.elapsed());
            last_change = std::time::Instant::now();
            last = cp;
            changes += 1;
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    longest = longest.max(last_change.elapsed());
    stop.store(true, Ordering::Relaxed);
    for w in writers {
        w.join().unwrap();
    }
    assert!(changes >= 3, "only {changes} checkpoints seen in 3 s");
    assert!(longest < std::time::Duration::from_secs(1), "a gap of {longest:?} between checkpoints");
}

/// Tickets can be awaited (no thread held per waiter): many tasks on a two-thread runtime
/// awaiting their appends beside threads that block in `wait` get distinct, consecutive
/// indexes, and the log holds every entry where its index says.
#[test]
fn awaited_and_waited_appends_agree() {
    let dir = tempfile::tempdir().unwrap();
    let store: Arc<dyn Storage> = Arc::new(DirStorage::new(dir.path()).unwrap());
    let seq = Arc::new(open(store.clone()));
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).build().unwrap();
    let tasks: Vec<_> = (0..64)
        .map(|t| {
            let seq = seq.clone();
            runtime.spawn(async move {
                let mut got = Vec::new();
                for i in 0..5 {
                    let e = entry(t, i);
                    got.push((seq.submit(vec![e.clone()]).unwrap().await.unwrap(), e));
                }
                got
            })
        })
        .collect();
    let blocking: Vec<_> = (64..68)
        .map(|t| {
            let seq = seq.clone();
            std::thread::spawn(move || {
                (0..5).map(|i| (seq.append(entry(t, i)).unwrap(), entry(t, i))).collect::<Vec<_>>()
            })
        })
        .collect();
    let mut all: Vec<(u64, Vec<u8>)> = Vec::new();
    for t in tasks {
        all.extend(runtime.block_on(t).unwrap());
    }
    for t in blocking {
        all.extend(t.join().unwrap());
    }
    all.sort();
    assert_eq!(all.iter().map(|(i, _)| *i).collect::<Vec<_>>(), (0..340).collect::<Vec<u64>>());
    check_log(store.as_ref(), &all);
}

/// The checkpoint's name is made durable lazily, its kept copy at once: a restart after
/// the name was lost (an older checkpoint, or the bytes of a file that reused its inode)
/// goes on from the newest copy that matches the whole tree, and never from a copy whose
/// batch did not reach the disk whole.
#[test]
fn a_restart_goes_on_from_the_kept_copy_of_the_checkpoint() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("log");
    let store = || -> Arc<dyn Storage> { Arc::new(DirStorage::new(&path).unwrap()) };
    let read_cp = |p: &std::path::Path| std::fs::read(p.join(CHECKPOINT)).unwrap();
    let mut expected = Vec::new();
    let append = |seq: &Sequencer, expected: &mut Vec<(u64, Vec<u8>)>, n: usize| {
        let batch: Vec<Vec<u8>> = (0..n).map(|i| entry(expected.len(), i)).collect();
        let first = seq.append_batch(batch.clone()).unwrap();
        expected.extend(batch.into_iter().zip(first..).map(|(e, i)| (i, e)));
    };
    let seq = open(store());
    append(&seq, &mut expected, 300);
    let older = read_cp(&path);
    append(&seq, &mut expected, 5);
    append(&seq, &mut expected, 7);
    let acked = read_cp(&path);
    let copies = DirStorage::new(&path).unwrap().kept_copies(CHECKPOINT).unwrap();
    assert_eq!(copies.len(), 2, "two kept copies");
    assert!(copies.contains(&acked), "the last checkpoint has a kept copy");
    drop(seq);

    // The name fell back to an older checkpoint: the newest copy is taken up.
    std::fs::write(path.join(CHECKPOINT), &older).unwrap();
    let seq = open(store());
    assert_eq!(seq.head().0, 312);
    assert_eq!(read_cp(&path), acked, "the name is written again");
    drop(seq);
    check_log(store().as_ref(), &expected);

    // The name leads to a file that was reused (a tile's bytes): the same.
    std::fs::write(path.join(CHECKPOINT), vec![7u8; 8192]).unwrap();
    let seq = open(store());
    assert_eq!(seq.head().0, 312);
    drop(seq);

    // A copy newer than the name whose batch did not reach the disk whole (here: a batch
    // written in a copy of the log, of which only the kept copy came back) is not taken
    // up: the log goes on from the name.
    let other = dir.path().join("other");
    copy_dir(&path, &other);
    let seq =
        Sequencer::open(Arc::new(DirStorage::new(&other).unwrap()), key(), ORIGIN, SequencerConfig::default()).unwrap();
    seq.append_batch((0..9).map(|i| format!("lost {i}").into_bytes()).collect()).unwrap();
    drop(seq);
    let last = other.join(tlog::storage::LAST);
    for e in std::fs::read_dir(&last).unwrap() {
        let e = e.unwrap();
        if std::fs::read(e.path()).unwrap() == std::fs::read(other.join(CHECKPOINT)).unwrap() {
            std::fs::copy(e.path(), path.join(tlog::storage::LAST).join(e.file_name())).unwrap();
        }
    }
    let newest: Vec<u64> = DirStorage::new(&path)
        .unwrap()
        .kept_copies(CHECKPOINT)
        .unwrap()
        .iter()
        .map(|c| {
            let policy = TrustPolicy { origin: None, log_key: Some(key().verifier()), witnesses: vec![], quorum: 0 };
            policy.open(c).unwrap().checkpoint.size
        })
        .collect();
    assert!(newest.contains(&321), "{newest:?}");
    let seq = open(store());
    assert_eq!(seq.head().0, 312, "the copy without its entries and tiles is not taken up");
    drop(seq);
    // Its entries came back, but not its level-0 tile: still not taken up.
    let bring_back = |key: &str| std::fs::copy(other.join(key), path.join(key)).unwrap();
    bring_back("tile/entries/001.p/65");
    let seq = open(store());
    assert_eq!(seq.head().0, 312, "the copy without its tiles is not taken up");
    drop(seq);
    // A torn tile (the right length, other bytes) is no better.
    std::fs::write(path.join("tile/0/001.p/65"), vec![0u8; 65 * 32]).unwrap();
    let seq = open(store());
    assert_eq!(seq.head().0, 312, "the copy with a torn tile is not taken up");
    drop(seq);
    // The whole batch is there: the copy is taken up.
    bring_back("tile/0/001.p/65");
    let seq = open(store());
    assert_eq!(seq.head().0, 321, "the copy whose batch is whole is taken up");
    expected.extend((0..9).map(|i| (312 + i as u64, format!("lost {i}").into_bytes())));
    append(&seq, &mut expected, 4);
    drop(seq);
    check_log(store().as_ref(), &expected);

    // Nothing to go by: an unreadable name and no copy is an error, as before.
    std::fs::remove_dir_all(path.join(tlog::storage::LAST)).unwrap();
    std::fs::write(path.join(CHECKPOINT), b"not a checkpoint").unwrap();
    assert!(Sequencer::open(store(), key(), ORIGIN, SequencerConfig::default()).is_err());
}

/// A batch that fails after its copy was written (here: the checkpoint cannot take its
/// name) does not move on to the other slot: the copy of the last batch that succeeded is
/// kept through the next one.
#[test]
fn a_failed_batch_keeps_the_last_good_copy() {
    let dir = tempfile::tempdir().unwrap();
    let store = DirStorage::new(dir.path()).unwrap();
    let tile = |n: usize| vec![(format!("tile/0/000.p/{n}"), vec![n as u8; 32 * n])];
    store.put(CHECKPOINT, b"c0").unwrap();
    store.put_all_then(&tile(1), (CHECKPOINT, b"c1")).unwrap();
    store.put_all_then(&tile(2), (CHECKPOINT, b"c2")).unwrap();
    let copies = |s: &DirStorage| {
        let mut c: Vec<Vec<u8>> = s.kept_copies(CHECKPOINT).unwrap();
        c.sort();
        c
    };
    assert_eq!(copies(&store), vec![b"c1".to_vec(), b"c2".to_vec()]);
    // The name cannot be replaced: a directory with something in it stands there.
    let name = dir.path().join(CHECKPOINT);
    std::fs::remove_file(&name).unwrap();
    std::fs::create_dir(&name).unwrap();
    std::fs::write(name.join("in the way"), b"").unwrap();
    assert!(store.put_all_then(&tile(3), (CHECKPOINT, b"c3")).is_err());
    std::fs::remove_dir_all(&name).unwrap();
    std::fs::write(&name, b"c2").unwrap();
    // The next batch writes over the failed one's copy, not over c2's.
    store.put_all_then(&tile(3), (CHECKPOINT, b"c4")).unwrap();
    assert_eq!(copies(&store), vec![b"c2".to_vec(), b"c4".to_vec()]);
    assert_eq!(store.get(CHECKPOINT).unwrap().as_deref(), Some(&b"c4"[..]));
}

fn copy_dir(from: &std::path::Path, to: &std::path::Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        let target = to.join(e.file_name());
        if e.file_type().unwrap().is_dir() {
            copy_dir(&e.path(), &target);
        } else {
            std::fs::copy(e.path(), target).unwrap();
        }
    }
}

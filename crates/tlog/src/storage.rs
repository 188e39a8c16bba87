//! Where a log's files live: a trait with a local-directory implementation (atomic
//! renames, fsync) and an `object_store` implementation (S3, memory, ...).

use std::collections::{BTreeSet, VecDeque};
use std::fmt;
use std::fs::{self, File, OpenOptions};
use std::io::{ErrorKind, Read as _, Write as _};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use object_store::path::Path as ObjectPath;
use object_store::{ObjectStore, ObjectStoreExt as _};

/// A storage failure, naming the object and the cause.
#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    /// A key that is not a clean relative path.
    #[error("invalid storage key {0:?}")]
    InvalidKey(String),
    /// A local file system operation failed.
    #[error("{op} {path}: {source}")]
    Io {
        /// What was attempted.
        op: &'static str,
        /// The file or directory.
        path: String,
        /// The cause.
        source: std::io::Error,
    },
    /// An object store operation failed.
    #[error("object store {op} {key}: {message}")]
    ObjectStore {
        /// What was attempted.
        op: &'static str,
        /// The object key.
        key: String,
        /// The cause.
        message: String,
    },
    /// Another process holds the log's lock.
    #[error("the log at {0} is locked by another process (lock file {0}/lock)")]
    Locked(String),
}

/// A place to read a log's objects from (a directory, an object store, an HTTP server).
pub trait Fetch: Send + Sync + fmt::Debug {
    /// Reads an object; `Ok(None)` when it does not exist.
    fn get(&self, key: &str) -> Result<Option<Vec<u8>>, StorageError>;
}

/// A place to read and durably write a log's objects (checkpoint, tiles, bundles).
///
/// `put_all` replaces each object atomically (a reader sees the old or the new bytes,
/// never a mixture) and returns only when every object is durable.
pub trait Storage: Fetch {
    /// Writes several objects, each atomically, all durable on return.
    fn put_all(&self, items: &[(String, Vec<u8>)]) -> Result<(), StorageError>;
    /// Deletes objects; objects that do not exist are not an error.
    fn delete_all(&self, keys: &[String]) -> Result<(), StorageError>;
    /// Writes one object atomically and durably.
    fn put(&self, key: &str, data: &[u8]) -> Result<(), StorageError> {
        self.put_all(&[(key.to_string(), data.to_vec())])
    }
    /// Writes `items`, then `last`: `last` is never visible nor durable before every
    /// one of `items` is (a checkpoint after the tiles it covers). All durable on return.
    ///
    /// `items` are objects that nobody reads before `last` names them (tiles beyond the
    /// current checkpoint), so a backend may write them in place: until this returns, a
    /// reader who asks for one anyway may find it missing, old or partly written. `last`
    /// is replaced atomically.
    fn put_all_then(&self, items: &[(String, Vec<u8>)], last: (&str, &[u8])) -> Result<(), StorageError> {
        self.put_all(items)?;
        self.put(last.0, last.1)
    }
    /// Copies of `key` that [`Storage::put_all_then`] made durable before `key` itself (a
    /// directory keeps the last two in [`LAST`]). After a crash one of them may be newer
    /// than `key`, and its `items` may or may not all be durable: whoever reads a copy
    /// checks it against them. None by default.
    fn kept_copies(&self, key: &str) -> Result<Vec<Vec<u8>>, StorageError> {
        check_key(key)?;
        Ok(Vec::new())
    }
}

impl<S: Fetch + ?Sized> Fetch for Arc<S> {
    fn get(&self, key: &str) -> Result<Option<Vec<u8>>, StorageError> {
        (**self).get(key)
    }
}

impl<S: Storage + ?Sized> Storage for Arc<S> {
    fn put_all(&self, items: &[(String, Vec<u8>)]) -> Result<(), StorageError> {
        (**self).put_all(items)
    }
    fn delete_all(&self, keys: &[String]) -> Result<(), StorageError> {
        (**self).delete_all(keys)
    }
    fn put_all_then(&self, items: &[(String, Vec<u8>)], last: (&str, &[u8])) -> Result<(), StorageError> {
        (**self).put_all_then(items, last)
    }
    fn kept_copies(&self, key: &str) -> Result<Vec<Vec<u8>>, StorageError> {
        (**self).kept_copies(key)
    }
}

fn check_key(key: &str) -> Result<(), StorageError> {
    let ok = !key.is_empty()
        && !key.starts_with('/')
        && key.split('/').all(|c| !c.is_empty() && c != "." && c != ".." && !c.contains('\\') && !c.contains('\0'));
    if ok { Ok(()) } else { Err(StorageError::InvalidKey(key.chars().take(200).collect())) }
}

fn io_err<'a>(op: &'static str, path: &'a Path) -> impl FnOnce(std::io::Error) -> StorageError + 'a {
    move |source| StorageError::Io { op, path: path.display().to_string(), source }
}

/// A log in a local directory. Each write goes to a temporary file in the same
/// directory, is fsync'd, renamed over the target, and the directory is fsync'd.
///
/// Once [`DirStorage::lock`] is held, files are recycled rather than created and
/// deleted: a deleted object, and the file an overwrite replaces, are moved to the
/// directory [`SPARES`], and a new object's temporary file is a spare (one that has
/// rested there for the grace period, 10 s by default) renamed into place and
/// rewritten. A log's appends create and supersede several files a batch; on ext4
/// without a journal every new inode is searched for past each inode deleted in the
/// last minute, so that a node appending a few hundred batches a second spent a
/// seventh of the machine's CPU in the kernel finding inodes (BENCHMARKS.md, "node").
///
/// A reader that opened an object just before it was moved away still reads it whole:
/// a spare is not rewritten before the grace period, and [`Fetch::get`] checks after
/// reading that the name still leads to the file it read, else reads again.
#[derive(Debug)]
pub struct DirStorage {
    root: PathBuf,
    counter: AtomicU64,
    /// Batches written by [`Storage::put_all_then`]: each puts its last object's copy in
    /// slot `n % 2` of [`LAST`], so that the other slot keeps the one before.
    batches: AtomicU64,
    /// Files in [`SPARES`] with when each got there, oldest first; `None` until the
    /// lock is held (a reader of the directory never touches the writer's spares).
    spares: Mutex<Option<VecDeque<(Instant, PathBuf)>>>,
    grace: Duration,
}

/// The directory (under the log's root) of recycled files. Nothing in it is part of
/// the log.
pub const SPARES: &str = ".spare";

/// The directory (under the log's root) where [`Storage::put_all_then`] keeps durable
/// copies of its last object (the checkpoint), `NAME.0` and `NAME.1`, written in place in
/// the same round of fsyncs as the tiles; the object then takes its name without waiting
/// for its directory's fsync. Nothing in it is part of the log.
pub const LAST: &str = ".last";

/// Most spare files kept; beyond this a deleted file is unlinked.
const MAX_SPARES: usize = 16_384;

/// How long a spare rests before it is rewritten.
const SPARE_GRACE: Duration = Duration::from_secs(10);

/// An exclusive lock on a log directory, released on drop.
#[derive(Debug)]
pub struct DirLock {
    _file: File,
}

impl DirStorage {
    /// Opens (creating if needed) a directory.
    pub fn new(root: impl Into<PathBuf>) -> Result<Self, StorageError> {
        let root = root.into();
        fs::create_dir_all(&root).map_err(io_err("create directory", &root))?;
        Ok(Self {
            root,
            counter: AtomicU64::new(0),
            batches: AtomicU64::new(0),
            spares: Mutex::new(None),
            grace: SPARE_GRACE,
        })
    }

    /// Sets how long a spare file rests before it is rewritten (tests use zero).
    #[must_use]
    pub fn recycle_after(mut self, grace: Duration) -> Self {
        self.grace = grace;
        self
    }

    /// Finds the spares a previous writer left: a file with one link is kept (resting
    /// from now); one with more (a crash between linking a replaced file and replacing
    /// it) is a second name of a live file, and only that name is removed.
    fn take_up_spares(&self) -> Result<(), StorageError> {
        let dir = self.root.join(SPARES);
        fs::create_dir_all(&dir).map_err(io_err("create directory", &dir))?;
        let now = Instant::now();
        let mut found = VecDeque::new();
        for entry in fs::read_dir(&dir).map_err(io_err("list", &dir))? {
            let path = entry.map_err(io_err("list", &dir))?.path();
            let reusable = fs::symlink_metadata(&path).map(|m| m.is_file() && only_name(&m)).unwrap_or(false);
            if reusable && found.len() < MAX_SPARES {
                found.push_back((now, path));
            } else {
                let _ = fs::remove_file(&path);
            }
        }
        *self.spares.lock().unwrap_or_else(|e| e.into_inner()) = Some(found);
        Ok(())
    }

    /// The oldest spare, if recycling is on and it has rested long enough.
    fn take_spare(&self) -> Option<PathBuf> {
        let mut pool = self.spares.lock().unwrap_or_else(|e| e.into_inner());
        let pool = pool.as_mut()?;
        match pool.front() {
            Some((at, _)) if at.elapsed() >= self.grace => pool.pop_front().map(|(_, p)| p),
            _ => None,
        }
    }

    /// A new name in [`SPARES`] if recycling is on and the pool has room.
    fn spare_slot(&self) -> Option<PathBuf> {
        let pool = self.spares.lock().unwrap_or_else(|e| e.into_inner());
        let pool = pool.as_ref()?;
        (pool.len() < MAX_SPARES).then(|| {
            let n = self.counter.fetch_add(1, Ordering::Relaxed);
            self.root.join(SPARES).join(format!("{}-{n}", std::process::id()))
        })
    }

    fn give_spare(&self, path: PathBuf) {
        if let Some(pool) = self.spares.lock().unwrap_or_else(|e| e.into_inner()).as_mut() {
            pool.push_back((Instant::now(), path));
        }
    }

    /// Opens `tmp` for writing from scratch: a spare renamed there, or a new file.
    /// Returns whether a spare was used.
    fn create_tmp(&self, tmp: &Path) -> Result<(File, bool), StorageError> {
        while let Some(spare) = self.take_spare() {
            if fs::rename(&spare, tmp).is_ok() {
                let f = OpenOptions::new().write(true).truncate(true).open(tmp).map_err(io_err("open", tmp))?;
                return Ok((f, true));
            }
        }
        Ok((File::create(tmp).map_err(io_err("create", tmp))?, false))
    }

    /// The directory.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Takes the exclusive lock file `lock` so that one process at a time appends.
    pub fn lock(&self) -> Result<DirLock, StorageError> {
        let path = self.root.join("lock");
        let file =
            OpenOptions::new().create(true).truncate(false).write(true).open(&path).map_err(io_err("open", &path))?;
        match file.try_lock() {
            Ok(()) => {
                self.take_up_spares()?;
                Ok(DirLock { _file: file })
            }
            Err(fs::TryLockError::WouldBlock) => Err(StorageError::Locked(self.root.display().to_string())),
            Err(fs::TryLockError::Error(e)) => {
                Err(StorageError::Io { op: "lock", path: path.display().to_string(), source: e })
            }
        }
    }

    fn sync_dir(dir: &Path) -> Result<(), StorageError> {
        File::open(dir).and_then(|d| d.sync_all()).map_err(io_err("fsync directory", dir))
    }

    /// Creates `dir` and any missing parents, fsyncing each parent of a created directory.
    fn create_dirs(&self, dir: &Path, synced: &mut BTreeSet<PathBuf>) -> Result<(), StorageError> {
        if dir.is_dir() {
            return Ok(());
        }
        if let Some(parent) = dir.parent() {
            self.create_dirs(parent, synced)?;
        }
        match fs::create_dir(dir) {
            Ok(()) => {}
            Err(e) if e.kind() == ErrorKind::AlreadyExists => {}
            Err(e) => {
                return Err(StorageError::Io { op: "create directory", path: dir.display().to_string(), source: e });
            }
        }
        if let Some(parent) = dir.parent() {
            synced.insert(parent.to_path_buf());
        }
        Ok(())
    }
}

/// Whether a file has no other name (so rewriting it changes nothing else).
#[cfg(unix)]
fn only_name(m: &fs::Metadata) -> bool {
    use std::os::unix::fs::MetadataExt as _;
    m.nlink() == 1
}
#[cfg(not(unix))]
fn only_name(_: &fs::Metadata) -> bool {
    false
}

/// Whether `path` still names the file whose metadata is `meta`.
#[cfg(unix)]
fn still_named(path: &Path, meta: &fs::Metadata) -> bool {
    use std::os::unix::fs::MetadataExt as _;
    fs::metadata(path).is_ok_and(|now| now.dev() == meta.dev() && now.ino() == meta.ino())
}
#[cfg(not(unix))]
fn still_named(_: &Path, _: &fs::Metadata) -> bool {
    true
}

impl Fetch for DirStorage {
    fn get(&self, key: &str) -> Result<Option<Vec<u8>>, StorageError> {
        check_key(key)?;
        let path = self.root.join(key);
        // A file moved away while it was read (superseded, to be recycled) is read
        // again under its name: the bytes returned are the object's, whole.
        for _ in 0..8 {
            let mut file = match File::open(&path) {
                Ok(f) => f,
                Err(e) if matches!(e.kind(), ErrorKind::NotFound | ErrorKind::NotADirectory) => return Ok(None),
                Err(e) => return Err(StorageError::Io { op: "read", path: path.display().to_string(), source: e }),
            };
            let mut bytes = Vec::new();
            file.read_to_end(&mut bytes).map_err(io_err("read", &path))?;
            let meta = file.metadata().map_err(io_err("read", &path))?;
            if meta.len() == bytes.len() as u64 && still_named(&path, &meta) {
                return Ok(Some(bytes));
            }
        }
        Err(StorageError::Io {
            op: "read",
            path: path.display().to_string(),
            source: std::io::Error::other("the file kept changing while it was read"),
        })
    }
}

/// Most fsyncs [`DirStorage::put_all`] runs side by side (a larger write, a big batch,
/// syncs its files in rounds of this many).
const AT_ONCE: usize = 32;

/// One fsync: of a file's data, or of a directory (the names it holds).
enum SyncOne {
    Data(File, PathBuf),
    Dir(PathBuf),
}

impl SyncOne {
    fn run(self) -> Result<(), StorageError> {
        match self {
            SyncOne::Data(f, path) => f.sync_data().map_err(io_err("fsync", &path)),
            SyncOne::Dir(dir) => DirStorage::sync_dir(&dir),
        }
    }
}

/// Where the fsyncs of one call end: how many are still running, and the first error.
struct Latch {
    state: Mutex<(usize, Option<StorageError>)>,
    done: std::sync::Condvar,
}

impl Latch {
    fn finish(&self, result: Result<(), StorageError>) {
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        state.0 -= 1;
        if let Err(e) = result
            && state.1.is_none()
        {
            state.1 = Some(e);
        }
        if state.0 == 0 {
            self.done.notify_all();
        }
    }
}

/// Threads that run fsyncs side by side, kept from one call to the next (a log writes a
/// few hundred batches a second, each with several fsyncs; a thread started for each was
/// a measurable part of the writer's CPU). At most [`AT_ONCE`] threads, started as needed.
struct SyncPool {
    state: Mutex<PoolState>,
    work: std::sync::Condvar,
}

#[derive(Default)]
struct PoolState {
    jobs: VecDeque<(SyncOne, Arc<Latch>)>,
    idle: usize,
    threads: usize,
}

static SYNC_POOL: std::sync::OnceLock<Arc<SyncPool>> = std::sync::OnceLock::new();

impl SyncPool {
    fn get() -> Arc<SyncPool> {
        SYNC_POOL
            .get_or_init(|| Arc::new(SyncPool { state: Mutex::new(PoolState::default()), work: Default::default() }))
            .clone()
    }

    fn worker(self: Arc<Self>) {
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        loop {
            match state.jobs.pop_front() {
                Some((job, latch)) => {
                    drop(state);
                    latch.finish(job.run());
                    state = self.state.lock().unwrap_or_else(|e| e.into_inner());
                }
                None => {
                    state.idle += 1;
                    state = self.work.wait(state).unwrap_or_else(|e| e.into_inner());
                    state.idle -= 1;
                }
            }
        }
    }

    /// Runs every fsync side by side and returns the first error once all have ended.
    /// The caller runs one itself, and any the pool's threads have not taken when it is
    /// done (so the work ends even if no thread can be started).
    fn run_all(self: &Arc<Self>, mut jobs: Vec<SyncOne>) -> Result<(), StorageError> {
        let Some(first) = jobs.pop() else { return Ok(()) };
        if jobs.is_empty() {
            return first.run();
        }
        let latch = Arc::new(Latch { state: Mutex::new((jobs.len(), None)), done: Default::default() });
        {
            let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
            let wanted = jobs.len().saturating_sub(state.idle);
            state.jobs.extend(jobs.into_iter().map(|j| (j, latch.clone())));
            for _ in 0..wanted {
                if state.threads >= AT_ONCE {
                    break;
                }
                let pool = self.clone();
                let started = std::thread::Builder::new().name("tlog-fsync".into()).spawn(move || pool.worker());
                if started.is_err() {
                    break;
                }
                state.threads += 1;
            }
        }
        self.work.notify_all();
        let result = first.run();
        // Help with what is still queued.
        loop {
            let next = self.state.lock().unwrap_or_else(|e| e.into_inner()).jobs.pop_front();
            match next {
                Some((job, l)) => l.finish(job.run()),
                None => break,
            }
        }
        let mut state = latch.state.lock().unwrap_or_else(|e| e.into_inner());
        while state.0 > 0 {
            state = latch.done.wait(state).unwrap_or_else(|e| e.into_inner());
        }
        match (result, state.1.take()) {
            (Err(e), _) | (Ok(()), Some(e)) => Err(e),
            (Ok(()), None) => Ok(()),
        }
    }
}

/// Objects written to temporary files, not yet under their names.
#[derive(Default)]
struct Staged {
    /// Files whose data is still to be fsync'd.
    files: Vec<SyncOne>,
    /// (temporary, final) names.
    renames: Vec<(PathBuf, PathBuf)>,
    /// Directories to fsync once the renames are done.
    dirs: BTreeSet<PathBuf>,
}

impl DirStorage {
    /// Writes each item to a temporary file beside its target. Up to [`AT_ONCE`] files
    /// are left for the caller to fsync side by side; a larger write syncs each as it goes.
    fn stage(&self, items: &[(String, Vec<u8>)]) -> Result<Staged, StorageError> {
        let mut staged = Staged::default();
        for (key, data) in items {
            check_key(key)?;
            let path = self.root.join(key);
            let dir = path.parent().map(Path::to_path_buf).unwrap_or_else(|| self.root.clone());
            self.create_dirs(&dir, &mut staged.dirs)?;
            let n = self.counter.fetch_add(1, Ordering::Relaxed);
            let name = path.file_name().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default();
            let tmp = dir.join(format!(".{name}.tmp-{}-{n}", std::process::id()));
            let (mut f, reused) = self.create_tmp(&tmp)?;
            if reused {
                // The spare's removal from [`SPARES`] is made durable with the rest.
                staged.dirs.insert(self.root.join(SPARES));
            }
            f.write_all(data).map_err(io_err("write", &tmp))?;
            if items.len() <= AT_ONCE {
                staged.files.push(SyncOne::Data(f, tmp.clone()));
            } else {
                f.sync_data().map_err(io_err("fsync", &tmp))?;
            }
            staged.renames.push((tmp, path));
            staged.dirs.insert(dir);
        }
        Ok(staged)
    }

    /// Opens `path` to be written from scratch in place: a spare renamed there, or the
    /// file created (or truncated, if a crashed batch left it). Returns whether a spare
    /// was used.
    fn open_in_place(&self, path: &Path) -> Result<(File, bool), StorageError> {
        while let Some(spare) = self.take_spare() {
            if fs::rename(&spare, path).is_ok() {
                let f = OpenOptions::new().write(true).truncate(true).open(path).map_err(io_err("open", path))?;
                return Ok((f, true));
            }
        }
        let f =
            OpenOptions::new().write(true).create(true).truncate(true).open(path).map_err(io_err("create", path))?;
        Ok((f, false))
    }

    /// Writes each item in place under its own name, [`AT_ONCE`] at a time: each group
    /// but the last is fsync'd before the next is written. Returns the last group's data
    /// fsyncs and the directories whose names must be made durable.
    fn write_in_place(&self, items: &[(String, Vec<u8>)]) -> Result<(Vec<SyncOne>, BTreeSet<PathBuf>), StorageError> {
        let mut dirs = BTreeSet::new();
        let mut pending = Vec::new();
        for group in items.chunks(AT_ONCE) {
            SyncPool::get().run_all(std::mem::take(&mut pending))?;
            for (key, data) in group {
                check_key(key)?;
                let path = self.root.join(key);
                let dir = path.parent().map(Path::to_path_buf).unwrap_or_else(|| self.root.clone());
                self.create_dirs(&dir, &mut dirs)?;
                let (mut f, reused) = self.open_in_place(&path)?;
                if reused {
                    dirs.insert(self.root.join(SPARES));
                }
                f.write_all(data).map_err(io_err("write", &path))?;
                dirs.insert(dir);
                pending.push(SyncOne::Data(f, path));
            }
        }
        Ok((pending, dirs))
    }

    /// Gives staged files (their data durable) their names, then makes the names durable.
    fn publish(&self, renames: &[(PathBuf, PathBuf)], dirs: BTreeSet<PathBuf>) -> Result<(), StorageError> {
        self.rename_all(renames)?;
        SyncPool::get().run_all(dirs.into_iter().map(SyncOne::Dir).collect())
    }

    /// Gives staged files their names (not yet durable).
    fn rename_all(&self, renames: &[(PathBuf, PathBuf)]) -> Result<(), StorageError> {
        let mut spared = Vec::new();
        for (tmp, path) in renames {
            // The file this replaces (a checkpoint) keeps a name in the spares, so
            // that the rename frees no inode.
            if let Some(slot) = self.spare_slot()
                && fs::hard_link(path, &slot).is_ok()
            {
                spared.push(slot);
            }
            fs::rename(tmp, path).map_err(io_err("rename", path))?;
        }
        for slot in spared {
            self.give_spare(slot);
        }
        Ok(())
    }

    /// The two files of [`LAST`] that keep copies of `key`.
    fn last_copies(&self, key: &str) -> [PathBuf; 2] {
        let name = key.replace('/', "%2F");
        let dir = self.root.join(LAST);
        [dir.join(format!("{name}.0")), dir.join(format!("{name}.1"))]
    }
}

impl Storage for DirStorage {
    fn put_all(&self, items: &[(String, Vec<u8>)]) -> Result<(), StorageError> {
        // Every file's data is durable before any of them takes its name, and every
        // rename before this returns; the fsyncs of one step run side by side (the file
        // system commits them together rather than one after the other).
        let staged = self.stage(items)?;
        SyncPool::get().run_all(staged.files)?;
        self.publish(&staged.renames, staged.dirs)
    }

    /// One round of fsyncs: the items are written in place (nobody reads them before
    /// `last` names them), `last` in place to a copy in [`LAST`] and to a temporary file;
    /// the items' and the copy's data and the directories that gained names are synced
    /// side by side. Then the temporary file takes `last`'s name, neither its bytes nor
    /// the rename synced: the copy is durable, and it is what a restart goes by when the
    /// name was lost or leads to other bytes ([`Storage::kept_copies`]). The copies
    /// alternate, so the one before stays whole while the next is written.
    fn put_all_then(&self, items: &[(String, Vec<u8>)], last: (&str, &[u8])) -> Result<(), StorageError> {
        let (mut syncs, mut dirs) = self.write_in_place(items)?;
        // The file that takes `last`'s name is not synced: the kept copy is what is
        // durable, and a restart that finds the name unreadable goes by the copies.
        let then = self.stage(&[(last.0.to_string(), last.1.to_vec())])?;
        let n = self.batches.load(Ordering::Relaxed);
        let copy = self.last_copies(last.0)[(n % 2) as usize].clone();
        let copy_dir = self.root.join(LAST);
        self.create_dirs(&copy_dir, &mut dirs)?;
        if !copy.exists() {
            dirs.insert(copy_dir);
        }
        let mut f =
            OpenOptions::new().write(true).create(true).truncate(true).open(&copy).map_err(io_err("create", &copy))?;
        f.write_all(last.1).map_err(io_err("write", &copy))?;
        syncs.push(SyncOne::Data(f, copy));
        syncs.extend(dirs.into_iter().map(SyncOne::Dir));
        SyncPool::get().run_all(syncs)?;
        self.rename_all(&then.renames)?;
        // Only a batch that succeeded moves on to the other slot: after a failure (its
        // writer goes back to the checkpoint under the name) the next batch writes the
        // same slot, so the copy of the last checkpoint that succeeded stays whole.
        self.batches.store(n + 1, Ordering::Relaxed);
        Ok(())
    }

    fn kept_copies(&self, key: &str) -> Result<Vec<Vec<u8>>, StorageError> {
        check_key(key)?;
        let mut out = Vec::new();
        for path in self.last_copies(key) {
            match fs::read(&path) {
                Ok(bytes) => out.push(bytes),
                Err(e) if e.kind() == ErrorKind::NotFound => {}
                Err(e) => return Err(StorageError::Io { op: "read", path: path.display().to_string(), source: e }),
            }
        }
        Ok(out)
    }

    fn delete_all(&self, keys: &[String]) -> Result<(), StorageError> {
        for key in keys {
            check_key(key)?;
            let path = self.root.join(key);
            if let Some(slot) = self.spare_slot() {
                match fs::rename(&path, &slot) {
                    Ok(()) => {
                        self.give_spare(slot);
                        continue;
                    }
                    Err(e) if e.kind() == ErrorKind::NotFound => continue,
                    Err(_) => {}
                }
            }
            match fs::remove_file(&path) {
                Ok(()) => {}
                Err(e) if e.kind() == ErrorKind::NotFound => {}
                Err(e) => return Err(StorageError::Io { op: "delete", path: path.display().to_string(), source: e }),
            }
        }
        Ok(())
    }
}

/// A log in any `object_store` backend (S3-compatible stores at scale, memory in tests).
/// Object stores replace objects atomically and a successful put is durable.
pub struct ObjectStorage {
    store: Arc<dyn ObjectStore>,
    prefix: String,
    runtime: tokio::runtime::Runtime,
}

impl fmt::Debug for ObjectStorage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ObjectStorage({}, prefix {:?})", self.store, self.prefix)
    }
}

impl ObjectStorage {
    /// Wraps a store; keys are placed under `prefix` (may be empty). The calls block on
    /// an internal runtime, so they must not be made from inside an async task.
    pub fn new(store: Arc<dyn ObjectStore>, prefix: &str) -> Result<Self, StorageError> {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| StorageError::Io { op: "start runtime", path: "(object store)".into(), source: e })?;
        Ok(Self { store, prefix: prefix.trim_matches('/').to_string(), runtime })
    }

    /// An in-memory store (for tests).
    pub fn in_memory() -> Result<Self, StorageError> {
        Self::new(Arc::new(object_store::memory::InMemory::new()), "")
    }

    fn path(&self, key: &str) -> Result<ObjectPath, StorageError> {
        check_key(key)?;
        let full = if self.prefix.is_empty() { key.to_string() } else { format!("{}/{key}", self.prefix) };
        ObjectPath::parse(&full).map_err(|_| StorageError::InvalidKey(key.to_string()))
    }
}

impl Fetch for ObjectStorage {
    fn get(&self, key: &str) -> Result<Option<Vec<u8>>, StorageError> {
        let path = self.path(key)?;
        self.runtime.block_on(async {
            match self.store.get(&path).await {
                Ok(r) => match r.bytes().await {
                    Ok(b) => Ok(Some(b.to_vec())),
                    Err(e) => Err(StorageError::ObjectStore { op: "read", key: key.into(), message: e.to_string() }),
                },
                Err(object_store::Error::NotFound { .. }) => Ok(None),
                Err(e) => Err(StorageError::ObjectStore { op: "get", key: key.into(), message: e.to_string() }),
            }
        })
    }
}

impl Storage for ObjectStorage {
    fn put_all(&self, items: &[(String, Vec<u8>)]) -> Result<(), StorageError> {
        let paths = items.iter().map(|(k, _)| self.path(k)).collect::<Result<Vec<_>, _>>()?;
        self.runtime.block_on(async {
            let puts = items.iter().zip(&paths).map(|((key, data), path)| async move {
                self.store
                    .put(path, bytes::Bytes::from(data.clone()).into())
                    .await
                    .map(|_| ())
                    .map_err(|e| StorageError::ObjectStore { op: "put", key: key.clone(), message: e.to_string() })
            });
            futures::future::join_all(puts).await.into_iter().collect::<Result<Vec<()>, _>>()
        })?;
        Ok(())
    }

    fn delete_all(&self, keys: &[String]) -> Result<(), StorageError> {
        let paths = keys.iter().map(|k| self.path(k)).collect::<Result<Vec<_>, _>>()?;
        self.runtime.block_on(async {
            for (key, path) in keys.iter().zip(&paths) {
                match self.store.delete(path).await {
                    Ok(()) | Err(object_store::Error::NotFound { .. }) => {}
                    Err(e) => {
                        return Err(StorageError::ObjectStore {
                            op: "delete",
                            key: key.clone(),
                            message: e.to_string(),
                        });
                    }
                }
            }
            Ok(())
        })
    }
}

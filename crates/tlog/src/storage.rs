//! Where a log's files live: a trait with a local-directory implementation (atomic
//! renames, fsync) and an `object_store` implementation (S3, memory, ...).

use std::collections::BTreeSet;
use std::fmt;
use std::fs::{self, File, OpenOptions};
use std::io::{ErrorKind, Write as _};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

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
#[derive(Debug)]
pub struct DirStorage {
    root: PathBuf,
    counter: AtomicU64,
}

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
        Ok(Self { root, counter: AtomicU64::new(0) })
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
            Ok(()) => Ok(DirLock { _file: file }),
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

impl Fetch for DirStorage {
    fn get(&self, key: &str) -> Result<Option<Vec<u8>>, StorageError> {
        check_key(key)?;
        let path = self.root.join(key);
        match fs::read(&path) {
            Ok(b) => Ok(Some(b)),
            Err(e) if e.kind() == ErrorKind::NotFound => Ok(None),
            Err(e) if e.kind() == ErrorKind::NotADirectory => Ok(None),
            Err(e) => Err(StorageError::Io { op: "read", path: path.display().to_string(), source: e }),
        }
    }
}

/// Most fsyncs [`DirStorage::put_all`] runs side by side (a larger write, a big batch,
/// syncs its files one after the other as they are written).
const AT_ONCE: usize = 32;

/// Runs `f` on every item, side by side (one thread each beyond the first), and returns
/// the first error once all have ended.
fn each_at_once<T: Sync>(items: &[T], f: impl Fn(&T) -> Result<(), StorageError> + Sync) -> Result<(), StorageError> {
    match items {
        [] => Ok(()),
        [one] => f(one),
        [first, rest @ ..] => std::thread::scope(|scope| {
            let f = &f;
            let others: Vec<_> = rest.iter().map(|item| scope.spawn(move || f(item))).collect();
            let mut result = f(first);
            for h in others {
                let r = h.join().unwrap_or_else(|_| {
                    Err(StorageError::Io {
                        op: "fsync",
                        path: String::new(),
                        source: std::io::Error::other("a thread panicked"),
                    })
                });
                if result.is_ok() {
                    result = r;
                }
            }
            result
        }),
    }
}

impl Storage for DirStorage {
    fn put_all(&self, items: &[(String, Vec<u8>)]) -> Result<(), StorageError> {
        let mut dirs: BTreeSet<PathBuf> = BTreeSet::new();
        let mut renames = Vec::with_capacity(items.len());
        let mut files = Vec::with_capacity(items.len());
        for (key, data) in items {
            check_key(key)?;
            let path = self.root.join(key);
            let dir = path.parent().map(Path::to_path_buf).unwrap_or_else(|| self.root.clone());
            self.create_dirs(&dir, &mut dirs)?;
            let n = self.counter.fetch_add(1, Ordering::Relaxed);
            let name = path.file_name().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default();
            let tmp = dir.join(format!(".{name}.tmp-{}-{n}", std::process::id()));
            let mut f = File::create(&tmp).map_err(io_err("create", &tmp))?;
            f.write_all(data).map_err(io_err("write", &tmp))?;
            if items.len() <= AT_ONCE {
                files.push((f, tmp.clone()));
            } else {
                f.sync_data().map_err(io_err("fsync", &tmp))?;
            }
            renames.push((tmp, path));
            dirs.insert(dir);
        }
        // Every file's data is durable before any of them takes its name, and every
        // rename before this returns; the fsyncs of one step run side by side (the file
        // system commits them together rather than one after the other).
        each_at_once(&files, |(f, tmp)| f.sync_data().map_err(io_err("fsync", tmp)))?;
        drop(files);
        for (tmp, path) in &renames {
            fs::rename(tmp, path).map_err(io_err("rename", path))?;
        }
        let dirs: Vec<PathBuf> = dirs.into_iter().collect();
        for some in dirs.chunks(AT_ONCE) {
            each_at_once(some, |d| Self::sync_dir(d))?;
        }
        Ok(())
    }

    fn delete_all(&self, keys: &[String]) -> Result<(), StorageError> {
        for key in keys {
            check_key(key)?;
            let path = self.root.join(key);
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

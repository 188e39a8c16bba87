//! `custodia backup` and `custodia restore` for the embedded default (SQLite, a local blob
//! directory, the log's directory), while the node runs or not.
//!
//! A backup is one tar file: the database as of one instant (`VACUUM INTO`), then the log's
//! checkpoint, then every other file of the node's directory (tiles, entry bundles, blobs,
//! keys, accounts, configuration), and last a manifest (`custodia-backup.json`) with each
//! file's size and SHA-256. The order makes the copy consistent with a running node: an
//! event marked as logged in the database was covered by a checkpoint before the snapshot,
//! so by the checkpoint copied after it; full tiles never change and a partial tile is a
//! new file, so every tile that checkpoint needs is still there when the walk reaches it.
//! Events stored but not yet logged are logged by the node's recovery at its next start.
//!
//! A restore unpacks into a new directory, checks every file against the manifest, checks
//! the database (`PRAGMA integrity_check` and the store's invariants) and verifies the log
//! (its checkpoint's signature, every tile and entry bundle against the root); only then is
//! the directory given its name. A failed restore leaves nothing behind.

use std::io::{Read, Write as _};
use std::path::{Component, Path, PathBuf};

use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};

use crate::config::Resolved;

/// The manifest's name inside the archive; always its last entry.
pub const MANIFEST: &str = "custodia-backup.json";
/// The manifest's format.
pub const FORMAT: &str = "custodia-backup/v1";

/// One file of a backup.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct BackedUpFile {
    /// Its path relative to the node's directory (`/`-separated).
    pub path: String,
    /// Its size in bytes.
    pub size: u64,
    /// Its SHA-256, hex.
    pub sha256: String,
}

/// The manifest of a backup.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Manifest {
    /// [`FORMAT`].
    pub format: String,
    /// The node's name.
    pub node: String,
    /// When the backup was taken (Unix seconds).
    pub created: i64,
    /// The configuration file, relative to the node's directory.
    pub config: String,
    /// The database file, relative to the node's directory.
    pub database: String,
    /// The log's directory, relative to the node's directory.
    pub log_dir: String,
    /// The log's size in the copied checkpoint.
    pub log_size: u64,
    /// Every file, in archive order.
    pub files: Vec<BackedUpFile>,
}

/// Why a backup or restore failed: what and where.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct BackupError(pub String);

fn fail(what: impl std::fmt::Display) -> BackupError {
    BackupError(what.to_string())
}

fn io(path: &Path) -> impl Fn(std::io::Error) -> BackupError + '_ {
    move |e| fail(format!("{}: {e}", path.display()))
}

/// `path` relative to `base`, `/`-separated, or an error naming `key` when it lies outside.
fn inside(base: &Path, path: &Path, key: &str) -> Result<String, BackupError> {
    let abs_base = std::path::absolute(base).map_err(io(base))?;
    let abs = std::path::absolute(path).map_err(io(path))?;
    let rel = abs.strip_prefix(&abs_base).map_err(|_| {
        fail(format!(
            "{key}: {} is outside the node's directory {}; a backup covers the node's directory only",
            path.display(),
            base.display()
        ))
    })?;
    if rel.components().any(|c| !matches!(c, Component::Normal(_))) {
        return Err(fail(format!("{key}: {} must not contain '..'", path.display())));
    }
    Ok(rel.components().map(|c| c.as_os_str().to_string_lossy()).collect::<Vec<_>>().join("/"))
}

/// What the backup copied.
#[derive(Debug, Clone)]
pub struct BackupSummary {
    /// The manifest written into the archive.
    pub manifest: Manifest,
    /// The archive's size.
    pub bytes: u64,
}

/// Writes a backup of `config`'s node to `out` (which must not exist). `config_file` is
/// the configuration file it was read from.
pub async fn backup(config: &Resolved, config_file: &Path, out: &Path, now: i64) -> Result<BackupSummary, BackupError> {
    let storage = &config.config.storage;
    let Some(db) = storage.database.strip_prefix("sqlite://") else {
        return Err(fail(
            "storage.database: a PostgreSQL database is backed up with PostgreSQL's own tools (pg_dump); \
             custodia backup covers the embedded default (SQLite)",
        ));
    };
    if storage.blobs.starts_with("s3://") {
        return Err(fail(
            "storage.blobs: evidence in an S3 bucket is backed up with the bucket's own tools; \
             custodia backup covers the embedded default (a local directory)",
        ));
    }
    if out.exists() {
        return Err(fail(format!("{}: exists, refusing to overwrite", out.display())));
    }
    let base = config.base.clone();
    let base = if base.as_os_str().is_empty() { PathBuf::from(".") } else { base };
    let db_path = base.join(db);
    let db_rel = inside(&base, &db_path, "storage.database")?;
    let log_rel = inside(&base, &base.join(&storage.log_dir), "storage.log_dir")?;
    inside(&base, &base.join(&storage.blobs), "storage.blobs")?;
    let config_rel = inside(&base, config_file, "the configuration file")?;

    // 1. The database as of one instant.
    let out_dir = out.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    let work = tempfile::Builder::new().prefix(".custodia-backup-").tempdir_in(out_dir).map_err(io(out_dir))?;
    let snapshot = work.path().join("database");
    store::SqliteStore::snapshot(&db_path, &snapshot).await.map_err(|e| fail(format!("storage.database: {e}")))?;

    let base2 = base.clone();
    let out2 = out.to_path_buf();
    let work_path = work.path().to_path_buf();
    let node = config.config.node.name.clone();
    let summary = tokio::task::spawn_blocking(move || {
        write_archive(&base2, &out2, &work_path, &snapshot, &db_rel, &log_rel, &config_rel, node, now)
    })
    .await
    .map_err(fail)??;
    drop(work);
    Ok(summary)
}

#[allow(clippy::too_many_arguments)]
fn write_archive(
    base: &Path,
    out: &Path,
    work: &Path,
    snapshot: &Path,
    db_rel: &str,
    log_rel: &str,
    config_rel: &str,
    node: String,
    now: i64,
) -> Result<BackupSummary, BackupError> {
    let partial = out.with_file_name(format!(
        ".{}.partial",
        out.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default()
    ));
    let file = std::fs::OpenOptions::new().write(true).create_new(true).open(&partial).map_err(io(&partial))?;
    let result = (|| {
        let mut tar = tar::Builder::new(std::io::BufWriter::with_capacity(1 << 20, file));
        let mut files = Vec::new();
        add_file(&mut tar, snapshot, db_rel, &mut files)?;
        // 2. The checkpoint, before any tile.
        let checkpoint_rel = format!("{log_rel}/{}", tlog::sequencer::CHECKPOINT);
        let checkpoint = base.join(&checkpoint_rel);
        add_file(&mut tar, &checkpoint, &checkpoint_rel, &mut files)?;
        let cp_text = std::fs::read(&checkpoint).map_err(io(&checkpoint))?;
        let cp_text = String::from_utf8_lossy(&cp_text);
        let body = cp_text.split_once("\n\n").map(|(b, _)| format!("{b}\n")).unwrap_or_default();
        let log_size =
            tlog::checkpoint::Checkpoint::from_text(&body).map_err(|e| fail(format!("{checkpoint_rel}: {e}")))?.size;
        // 3. Everything else.
        let skip: Vec<PathBuf> = [
            db_rel.to_string(),
            format!("{db_rel}-wal"),
            format!("{db_rel}-shm"),
            format!("{db_rel}-journal"),
            checkpoint_rel.clone(),
            format!("{log_rel}/lock"),
        ]
        .iter()
        .map(|r| base.join(r))
        .collect();
        let abs_out = std::path::absolute(out).map_err(io(out))?;
        let abs_partial = std::path::absolute(&partial).map_err(io(&partial))?;
        let abs_work = std::path::absolute(work).map_err(io(work))?;
        let mut stack = vec![base.to_path_buf()];
        let mut found = Vec::new();
        while let Some(dir) = stack.pop() {
            let mut entries: Vec<_> =
                std::fs::read_dir(&dir).map_err(io(&dir))?.collect::<Result<_, _>>().map_err(io(&dir))?;
            entries.sort_by_key(std::fs::DirEntry::file_name);
            for e in entries {
                let path = e.path();
                let abs = std::path::absolute(&path).map_err(io(&path))?;
                if abs == abs_out || abs == abs_partial || abs.starts_with(&abs_work) || skip.contains(&path) {
                    continue;
                }
                let name = e.file_name().to_string_lossy().into_owned();
                // A file being written under a temporary name becomes another file.
                if name.starts_with('.') && (name.contains(".tmp-") || name.ends_with(".partial")) {
                    continue;
                }
                let kind = e.file_type().map_err(io(&path))?;
                // The log's recycled files and kept checkpoint copies are not part of it.
                if kind.is_dir() && (name == tlog::storage::SPARES || name == tlog::storage::LAST) {
                    continue;
                }
                if kind.is_dir() {
                    stack.push(path);
                } else if kind.is_file() {
                    found.push(path);
                }
            }
        }
        found.sort();
        for path in found {
            let rel = inside(base, &path, "a file")?;
            add_file(&mut tar, &path, &rel, &mut files)?;
        }
        let manifest = Manifest {
            format: FORMAT.into(),
            node,
            created: now,
            config: config_rel.to_string(),
            database: db_rel.to_string(),
            log_dir: log_rel.to_string(),
            log_size,
            files,
        };
        let json = serde_json::to_vec_pretty(&manifest).map_err(fail)?;
        let mut header = tar::Header::new_gnu();
        header.set_size(json.len() as u64);
        header.set_mode(0o600);
        header.set_mtime(u64::try_from(now).unwrap_or(0));
        header.set_cksum();
        tar.append_data(&mut header, MANIFEST, json.as_slice()).map_err(io(out))?;
        let mut writer = tar.into_inner().map_err(io(out))?;
        writer.flush().map_err(io(out))?;
        let file = writer.into_inner().map_err(|e| fail(format!("{}: {}", out.display(), e.error())))?;
        file.sync_all().map_err(io(out))?;
        Ok(manifest)
    })();
    match result {
        Ok(manifest) => {
            let bytes = std::fs::metadata(&partial).map_err(io(&partial))?.len();
            std::fs::rename(&partial, out).map_err(io(out))?;
            if let Some(dir) = out.parent().filter(|p| !p.as_os_str().is_empty()) {
                std::fs::File::open(dir).and_then(|d| d.sync_all()).map_err(io(dir))?;
            }
            Ok(BackupSummary { manifest, bytes })
        }
        Err(e) => {
            let _ = std::fs::remove_file(&partial);
            Err(e)
        }
    }
}

/// A reader that hashes what passes through it.
struct Hashing<R> {
    inner: R,
    hash: Sha256,
}

impl<R: Read> Read for Hashing<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.hash.update(&buf[..n]);
        Ok(n)
    }
}

/// Appends `path` as `rel`, exactly as many bytes as it had when we looked (files of the
/// node only grow or are replaced whole), and records its hash.
fn add_file<W: std::io::Write>(
    tar: &mut tar::Builder<W>,
    path: &Path,
    rel: &str,
    files: &mut Vec<BackedUpFile>,
) -> Result<(), BackupError> {
    let file = std::fs::File::open(path).map_err(io(path))?;
    let meta = file.metadata().map_err(io(path))?;
    let size = meta.len();
    let mut header = tar::Header::new_gnu();
    header.set_size(size);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        header.set_mode(meta.permissions().mode() & 0o777);
    }
    #[cfg(not(unix))]
    header.set_mode(0o600);
    header.set_mtime(
        meta.modified().ok().and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok()).map_or(0, |d| d.as_secs()),
    );
    header.set_cksum();
    let mut reader = Hashing { inner: file.take(size), hash: Sha256::new() };
    tar.append_data(&mut header, rel, &mut reader).map_err(io(path))?;
    files.push(BackedUpFile { path: rel.to_string(), size, sha256: hex(&reader.hash.finalize()) });
    Ok(())
}

fn hex(b: &[u8]) -> String {
    case::engine::hex(b)
}

/// What a restore checked.
#[derive(Debug, Clone)]
pub struct RestoreSummary {
    /// The backup's manifest.
    pub manifest: Manifest,
    /// Cases in the restored database.
    pub cases: u64,
    /// The restored log's size, verified.
    pub log_size: u64,
    /// Its root hash, verified.
    pub log_root: String,
}

/// Restores `archive` into `dir` (absent or empty), checking everything before `dir` gets
/// its name; on any problem nothing is left behind.
pub async fn restore(archive: &Path, dir: &Path) -> Result<RestoreSummary, BackupError> {
    if dir.exists() && std::fs::read_dir(dir).map_err(io(dir))?.next().is_some() {
        return Err(fail(format!("{}: not empty; restore into a new directory", dir.display())));
    }
    let parent = dir.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    std::fs::create_dir_all(parent).map_err(io(parent))?;
    let work = tempfile::Builder::new().prefix(".custodia-restore-").tempdir_in(parent).map_err(io(parent))?;
    let archive2 = archive.to_path_buf();
    let into = work.path().to_path_buf();
    let manifest = tokio::task::spawn_blocking(move || unpack(&archive2, &into)).await.map_err(fail)??;

    // The database: integrity and the store's invariants.
    let db = work.path().join(&manifest.database);
    let store = store::SqliteStore::open(&db, store::SqliteOptions::default())
        .await
        .map_err(|e| fail(format!("{}: {e}", manifest.database)))?;
    store.check_consistency().await.map_err(|e| fail(format!("{}: {e}", manifest.database)))?;
    let cases = count_cases(&store).await?;
    drop(store);

    // The log: the checkpoint's signature, every tile and bundle against its root.
    let log_dir = work.path().join(&manifest.log_dir);
    let vkey_path = log_dir.join(tlog::client::VKEY_FILE);
    let vkey = std::fs::read_to_string(&vkey_path).map_err(io(&vkey_path))?;
    let key = tlog::note::VerifierKey::parse(vkey.trim()).map_err(|e| fail(format!("{}: {e}", vkey_path.display())))?;
    let policy = tlog::checkpoint::TrustPolicy { origin: None, log_key: Some(key), witnesses: vec![], quorum: 0 };
    let fetch = tlog::storage::DirStorage::new(&log_dir).map_err(|e| fail(format!("{}: {e}", manifest.log_dir)))?;
    let verified = tlog::client::verify_log(&fetch, &policy, None)
        .map_err(|e| fail(format!("the log {}: {e}", manifest.log_dir)))?;
    if verified.checkpoint.size != manifest.log_size {
        return Err(fail(format!(
            "the log's checkpoint has size {}, the manifest says {}",
            verified.checkpoint.size, manifest.log_size
        )));
    }
    // Remove what a SQLite open leaves beside the file, then give the directory its name.
    for suffix in ["-wal", "-shm"] {
        let _ = std::fs::remove_file(work.path().join(format!("{}{suffix}", manifest.database)));
    }
    let work = work.keep();
    if dir.exists() {
        std::fs::remove_dir(dir).map_err(io(dir))?;
    }
    if let Err(e) = std::fs::rename(&work, dir) {
        let _ = std::fs::remove_dir_all(&work);
        return Err(fail(format!("{}: {e}", dir.display())));
    }
    Ok(RestoreSummary {
        log_size: verified.checkpoint.size,
        log_root: verified.checkpoint.root.to_hex(),
        manifest,
        cases,
    })
}

async fn count_cases(store: &store::SqliteStore) -> Result<u64, BackupError> {
    use store::Store as _;
    let mut n = 0u64;
    let mut cursor: Option<store::Cursor> = None;
    loop {
        let page = store
            .list_cases(&store::CaseFilter::default(), cursor.as_ref(), 1000)
            .await
            .map_err(|e| fail(format!("reading the restored cases: {e}")))?;
        n += page.items.len() as u64;
        match page.next {
            Some(next) => cursor = Some(next),
            None => return Ok(n),
        }
    }
}

/// Unpacks every entry under `into` (refusing paths that leave it), then checks every file
/// against the manifest, which must be the last entry.
fn unpack(archive: &Path, into: &Path) -> Result<Manifest, BackupError> {
    let file = std::fs::File::open(archive).map_err(io(archive))?;
    let mut tar = tar::Archive::new(std::io::BufReader::with_capacity(1 << 20, file));
    let mut manifest: Option<Vec<u8>> = None;
    let mut unpacked = Vec::new();
    for entry in tar.entries().map_err(io(archive))? {
        let mut entry = entry.map_err(|e| fail(format!("{}: not a custodia backup: {e}", archive.display())))?;
        if manifest.is_some() {
            return Err(fail(format!("{}: an entry follows the manifest", archive.display())));
        }
        let path = entry.path().map_err(io(archive))?.into_owned();
        let rel = path.to_string_lossy().into_owned();
        if path.components().any(|c| !matches!(c, Component::Normal(_))) || rel.is_empty() {
            return Err(fail(format!("{}: entry {rel:?} leaves the node's directory", archive.display())));
        }
        if entry.header().entry_type() != tar::EntryType::Regular {
            return Err(fail(format!("{}: entry {rel:?} is not a regular file", archive.display())));
        }
        if rel == MANIFEST {
            let mut b = Vec::new();
            entry.read_to_end(&mut b).map_err(io(archive))?;
            manifest = Some(b);
            continue;
        }
        let target = into.join(&path);
        if let Some(d) = target.parent() {
            std::fs::create_dir_all(d).map_err(io(d))?;
        }
        let mode = entry.header().mode().unwrap_or(0o600) & 0o777;
        let mut out = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&target)
            .map_err(|e| fail(format!("{}: entry {rel:?}: {e}", archive.display())))?;
        let mut hashing = Hashing { inner: &mut entry, hash: Sha256::new() };
        let size = std::io::copy(&mut hashing, &mut out).map_err(io(&target))?;
        out.sync_all().map_err(io(&target))?;
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            std::fs::set_permissions(&target, std::fs::Permissions::from_mode(mode)).map_err(io(&target))?;
        }
        #[cfg(not(unix))]
        let _ = mode;
        unpacked.push(BackedUpFile { path: rel, size, sha256: hex(&hashing.hash.finalize()) });
    }
    let manifest = manifest.ok_or_else(|| {
        fail(format!("{}: no {MANIFEST} at its end: not a custodia backup, or cut short", archive.display()))
    })?;
    let manifest: Manifest =
        serde_json::from_slice(&manifest).map_err(|e| fail(format!("{}: {MANIFEST}: {e}", archive.display())))?;
    if manifest.format != FORMAT {
        return Err(fail(format!("{}: format {:?}, expected {FORMAT:?}", archive.display(), manifest.format)));
    }
    if unpacked != manifest.files {
        let bad = manifest
            .files
            .iter()
            .find(|f| !unpacked.contains(f))
            .map(|f| format!("{} does not match its size and SHA-256 in the manifest", f.path))
            .or_else(|| {
                unpacked
                    .iter()
                    .find(|f| !manifest.files.contains(f))
                    .map(|f| format!("{} is not in the manifest", f.path))
            })
            .unwrap_or_else(|| "the files are not in the manifest's order".into());
        return Err(fail(format!("{}: {bad}", archive.display())));
    }
    Ok(manifest)
}

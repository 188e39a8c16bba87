//! Evidence blobs in an object store: a local directory (written to a temporary file, fsynced, then renamed
//! into place: a blob is either whole or absent), memory (tests), or an S3-compatible service (feature `s3`).
//!
//! Puts stream: the data is read in parts of [`BlobStore::part_size`] bytes; a blob that fits in one part is
//! written with one atomic put, a larger one with a multipart upload (S3 parts must be at least 5 MiB; the
//! default is 16 MiB), so memory use stays bounded whatever the blob's size. Every put returns the blob's
//! size and SHA-256.

use std::fmt;
use std::ops::Range;
use std::path::Path as FsPath;
use std::sync::Arc;

use bytes::Bytes;
use futures::StreamExt as _;
use futures::stream::BoxStream;
use object_store::local::LocalFileSystem;
use object_store::memory::InMemory;
use object_store::path::Path;
use object_store::{ObjectStore, ObjectStoreExt as _, PutPayload, WriteMultipart};
use sha2::{Digest as _, Sha256};
use tokio::io::{AsyncRead, AsyncReadExt as _};

use crate::error::BlobError;

/// The default size of the parts a large blob is uploaded in: 16 MiB.
pub const DEFAULT_PART_SIZE: usize = 16 << 20;

/// The smallest part size accepted (S3's minimum): 5 MiB.
const MIN_PART_SIZE: usize = 5 << 20;

/// How many parts of one upload may be in flight at once.
const UPLOAD_CONCURRENCY: usize = 2;

/// What a put stored.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BlobInfo {
    /// The blob's key.
    pub key: String,
    /// Its size in bytes.
    pub size: u64,
    /// The SHA-256 of its content.
    pub sha256: [u8; 32],
}

/// Evidence blobs, by key (`/`-separated path segments, for example `cases/<id>/evidence-1.age`).
#[derive(Clone)]
pub struct BlobStore {
    inner: Arc<dyn ObjectStore>,
    /// The same store when it is a local directory, so that a file already on disk can be moved in.
    local: Option<Arc<LocalFileSystem>>,
    part_size: usize,
    description: String,
}

impl fmt::Debug for BlobStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BlobStore").field("store", &self.description).field("part_size", &self.part_size).finish()
    }
}

impl BlobStore {
    /// Blobs as files under `dir` (created if missing), each written atomically and fsynced (with its
    /// directory) before the put returns.
    pub fn local(dir: impl AsRef<FsPath>) -> Result<BlobStore, BlobError> {
        let dir = dir.as_ref();
        std::fs::create_dir_all(dir).map_err(|e| BlobError::Config(format!("cannot create {}: {e}", dir.display())))?;
        let store = Arc::new(LocalFileSystem::new_with_prefix(dir).map_err(BlobError::Store)?.with_fsync(true));
        let mut blobs = BlobStore::wrap(store.clone(), format!("local directory {}", dir.display()));
        blobs.local = Some(store);
        Ok(blobs)
    }

    /// Blobs in memory, gone when the last clone is dropped (for tests).
    pub fn memory() -> BlobStore {
        BlobStore::wrap(Arc::new(InMemory::new()), "memory".into())
    }

    /// Any object store (for example one built by the caller with its own credentials).
    pub fn from_object_store(store: Arc<dyn ObjectStore>) -> BlobStore {
        let description = store.to_string();
        BlobStore::wrap(store, description)
    }

    /// A store named by URL: `file:///abs/dir` (as [`BlobStore::local`]), `memory://`, or, with the `s3`
    /// feature, `s3://bucket/prefix` configured by `options` (object_store's keys, for example
    /// `aws_endpoint`, `aws_region`, `aws_access_key_id`, `aws_secret_access_key`, `aws_allow_http`).
    pub fn from_url<I, K, V>(url: &str, options: I) -> Result<BlobStore, BlobError>
    where
        I: IntoIterator<Item = (K, V)>,
        K: AsRef<str>,
        V: Into<String>,
    {
        let parsed = url::Url::parse(url).map_err(|e| BlobError::Config(format!("{url:?} is not a URL: {e}")))?;
        match parsed.scheme() {
            "file" => {
                let dir = parsed
                    .to_file_path()
                    .map_err(|()| BlobError::Config(format!("{url:?} is not an absolute local path")))?;
                BlobStore::local(dir)
            }
            "memory" => Ok(BlobStore::memory()),
            "s3" | "s3a" => {
                if !cfg!(feature = "s3") {
                    return Err(BlobError::Config(format!("{url:?} needs the store crate's `s3` feature")));
                }
                let (store, prefix) = object_store::parse_url_opts(&parsed, options)
                    .map_err(|e| BlobError::Config(format!("cannot use {url:?}: {e}")))?;
                let store: Arc<dyn ObjectStore> = if prefix.as_ref().is_empty() {
                    Arc::from(store)
                } else {
                    Arc::new(object_store::prefix::PrefixStore::new(store, prefix))
                };
                Ok(BlobStore::wrap(store, format!("{}://{}", parsed.scheme(), parsed.host_str().unwrap_or(""))))
            }
            other => Err(BlobError::Config(format!("unsupported blob store scheme {other:?} in {url:?}"))),
        }
    }

    fn wrap(inner: Arc<dyn ObjectStore>, description: String) -> BlobStore {
        BlobStore { inner, local: None, part_size: DEFAULT_PART_SIZE, description }
    }

    /// Uses parts of `bytes` bytes (at least 5 MiB) for large blobs.
    pub fn with_part_size(mut self, bytes: usize) -> Result<BlobStore, BlobError> {
        if bytes < MIN_PART_SIZE {
            return Err(BlobError::Config(format!("part size {bytes} is below the minimum {MIN_PART_SIZE}")));
        }
        self.part_size = bytes;
        Ok(self)
    }

    /// The size of the parts large blobs are uploaded in.
    pub fn part_size(&self) -> usize {
        self.part_size
    }

    /// Stores everything `data` yields under `key`, replacing any blob there. Streams: at most about two
    /// parts are held in memory. If reading or writing fails, no blob is left under `key` by this put.
    pub async fn put(&self, key: &str, mut data: impl AsyncRead + Unpin + Send) -> Result<BlobInfo, BlobError> {
        let path = parse_key(key)?;
        let mut hasher = Sha256::new();
        let mut size = 0u64;
        let mut part = Vec::with_capacity(self.part_size.min(1 << 20));
        let full = fill(&mut data, &mut part, self.part_size).await?;
        if !full {
            hasher.update(&part);
            size += part.len() as u64;
            self.inner.put(&path, PutPayload::from(part)).await.map_err(BlobError::Store)?;
            return Ok(BlobInfo { key: key.to_owned(), size, sha256: hasher.finalize().into() });
        }
        let upload = self.inner.put_multipart(&path).await.map_err(BlobError::Store)?;
        let mut writer = WriteMultipart::new_with_chunk_size(upload, self.part_size);
        let streamed: Result<(), BlobError> = async {
            loop {
                hasher.update(&part);
                size += part.len() as u64;
                writer.wait_for_capacity(UPLOAD_CONCURRENCY).await.map_err(BlobError::Store)?;
                writer.put(Bytes::from(std::mem::take(&mut part)));
                if !fill(&mut data, &mut part, self.part_size).await? {
                    if !part.is_empty() {
                        hasher.update(&part);
                        size += part.len() as u64;
                        writer.put(Bytes::from(std::mem::take(&mut part)));
                    }
                    return Ok(());
                }
            }
        }
        .await;
        match streamed {
            Ok(()) => {
                writer.finish().await.map_err(BlobError::Store)?;
                Ok(BlobInfo { key: key.to_owned(), size, sha256: hasher.finalize().into() })
            }
            Err(e) => {
                // The upload is abandoned; its error matters less than the one that stopped it.
                let _ = writer.abort().await;
                Err(e)
            }
        }
    }

    /// Moves the file at `file` into the store under `key`, replacing any blob there, and returns its
    /// size. In a local directory on the same file system this is a rename (the file and the directories
    /// involved fsynced first and after): no byte is copied, so accepting a large file costs no more than
    /// a few fsyncs. Anywhere else (another file system, S3, memory) the file is streamed with
    /// [`BlobStore::put`] and then removed. Either way the blob is whole or absent; the caller has checked
    /// the content (nothing is hashed here).
    pub async fn put_file(&self, key: &str, file: &FsPath) -> Result<u64, BlobError> {
        let location = parse_key(key)?;
        if let Some(local) = &self.local {
            let target = local.path_to_filesystem(&location).map_err(BlobError::Store)?;
            let source = file.to_path_buf();
            let moved = tokio::task::spawn_blocking(move || move_durably(&source, &target))
                .await
                .map_err(|e| BlobError::Read(std::io::Error::other(e.to_string())))?;
            match moved {
                Ok(size) => return Ok(size),
                // Another file system: copy instead.
                Err(e) if e.kind() == std::io::ErrorKind::CrossesDevices => {}
                Err(e) => return Err(BlobError::Read(e)),
            }
        }
        let data = tokio::fs::File::open(file).await.map_err(BlobError::Read)?;
        let info = self.put(key, data).await?;
        tokio::fs::remove_file(file).await.map_err(BlobError::Read)?;
        Ok(info.size)
    }

    /// Stores `data` under `key` in one put.
    pub async fn put_bytes(&self, key: &str, data: Bytes) -> Result<BlobInfo, BlobError> {
        let path = parse_key(key)?;
        let sha256 = Sha256::digest(&data).into();
        let size = data.len() as u64;
        self.inner.put(&path, PutPayload::from(data)).await.map_err(BlobError::Store)?;
        Ok(BlobInfo { key: key.to_owned(), size, sha256 })
    }

    /// The blob's content as a stream of chunks, with its size.
    pub async fn get(&self, key: &str) -> Result<(u64, BoxStream<'static, Result<Bytes, BlobError>>), BlobError> {
        let path = parse_key(key)?;
        let got = self.inner.get(&path).await.map_err(|e| not_found(key, e))?;
        let size = got.meta.size;
        Ok((size, got.into_stream().map(|r| r.map_err(BlobError::Store)).boxed()))
    }

    /// The blob's content, whole, in memory.
    pub async fn get_bytes(&self, key: &str) -> Result<Bytes, BlobError> {
        let path = parse_key(key)?;
        let got = self.inner.get(&path).await.map_err(|e| not_found(key, e))?;
        got.bytes().await.map_err(BlobError::Store)
    }

    /// Bytes `range` of the blob. The range must lie within the blob (`start <= end <= size`).
    pub async fn get_range(&self, key: &str, range: Range<u64>) -> Result<Bytes, BlobError> {
        let path = parse_key(key)?;
        let size = self.size(key).await?;
        if range.start > range.end || range.end > size {
            return Err(BlobError::InvalidRange { key: key.to_owned(), start: range.start, end: range.end, size });
        }
        if range.start == range.end {
            return Ok(Bytes::new());
        }
        self.inner.get_range(&path, range).await.map_err(|e| not_found(key, e))
    }

    /// The blob's size in bytes.
    pub async fn size(&self, key: &str) -> Result<u64, BlobError> {
        let path = parse_key(key)?;
        Ok(self.inner.head(&path).await.map_err(|e| not_found(key, e))?.size)
    }

    /// Removes the blob; removing a blob that is not there is not an error.
    pub async fn delete(&self, key: &str) -> Result<(), BlobError> {
        let path = parse_key(key)?;
        match self.inner.delete(&path).await {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(e) => Err(BlobError::Store(e)),
        }
    }
}

/// Reads into `buf` (emptied first) until it holds `want` bytes (`true`) or the data ends (`false`).
async fn fill(data: &mut (impl AsyncRead + Unpin), buf: &mut Vec<u8>, want: usize) -> Result<bool, BlobError> {
    buf.clear();
    while buf.len() < want {
        let room = want - buf.len();
        buf.reserve(room.min(1 << 20));
        let n = (&mut *data).take(room as u64).read_buf(buf).await.map_err(BlobError::Read)?;
        if n == 0 {
            return Ok(false);
        }
    }
    Ok(true)
}

fn parse_key(key: &str) -> Result<Path, BlobError> {
    let invalid = |reason: String| BlobError::InvalidKey { key: key.to_owned(), reason };
    if key.is_empty() {
        return Err(invalid("empty".into()));
    }
    if key.len() > 1024 {
        return Err(invalid("longer than 1024 bytes".into()));
    }
    let path = Path::parse(key).map_err(|e| invalid(e.to_string()))?;
    // `Path::parse` accepts a leading or doubled `/` by dropping it; a key must name one place only.
    if path.as_ref() != key {
        return Err(invalid("not in canonical form (no leading, trailing or doubled '/')".into()));
    }
    if path.parts().any(|p| p.as_ref().starts_with('.') || p.as_ref().contains(['\\', '\0'])) {
        return Err(invalid("a segment starts with '.' or contains '\\'".into()));
    }
    Ok(path)
}

/// Renames `source` to `target` durably: the file's content is fsynced, missing directories above
/// `target` are created with their parents fsynced, and after the rename both directories are fsynced.
fn move_durably(source: &FsPath, target: &FsPath) -> std::io::Result<u64> {
    let file = std::fs::File::open(source)?;
    file.sync_all()?;
    let size = file.metadata()?.len();
    drop(file);
    let dir = target.parent().ok_or_else(|| std::io::Error::other("a blob path has a parent"))?;
    let mut missing = Vec::new();
    let mut up = Some(dir);
    while let Some(d) = up {
        if d.is_dir() {
            break;
        }
        missing.push(d);
        up = d.parent();
    }
    for d in missing.iter().rev() {
        match std::fs::create_dir(d) {
            Err(e) if e.kind() != std::io::ErrorKind::AlreadyExists => return Err(e),
            _ => {}
        }
        if let Some(parent) = d.parent() {
            std::fs::File::open(parent)?.sync_all()?;
        }
    }
    std::fs::rename(source, target)?;
    std::fs::File::open(dir)?.sync_all()?;
    if let Some(from) = source.parent() {
        std::fs::File::open(from)?.sync_all()?;
    }
    Ok(size)
}

fn not_found(key: &str, e: object_store::Error) -> BlobError {
    match e {
        object_store::Error::NotFound { .. } => BlobError::NotFound(key.to_owned()),
        e => BlobError::Store(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_checked() {
        for bad in ["", "/a", "a/", "a//b", "../a", "a/../b", ".hidden", "a\\b"] {
            assert!(matches!(parse_key(bad), Err(BlobError::InvalidKey { .. })), "{bad:?}");
        }
        for good in ["a", "cases/c-1/evidence-1.age", "x/y/z.bin"] {
            assert!(parse_key(good).is_ok(), "{good:?}");
        }
    }
}

//! The blob store on memory and on a local directory: streaming puts (single and multipart), reads,
//! ranges, errors, and failed puts that leave nothing behind.

use std::pin::Pin;
use std::task::{Context, Poll};

use futures::TryStreamExt as _;
use sha2::{Digest as _, Sha256};
use store::{BlobError, BlobStore};
use tokio::io::{AsyncRead, ReadBuf};

const PART: usize = 5 << 20;

fn data(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i * 31 % 251) as u8).collect()
}

/// Yields `data` in small reads, then fails if `fail` is set.
struct Source {
    data: Vec<u8>,
    pos: usize,
    fail: bool,
}

impl AsyncRead for Source {
    fn poll_read(mut self: Pin<&mut Self>, _: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<std::io::Result<()>> {
        if self.pos == self.data.len() {
            if self.fail {
                return Poll::Ready(Err(std::io::Error::other("the uploader went away")));
            }
            return Poll::Ready(Ok(()));
        }
        let n = buf.remaining().min(100_003).min(self.data.len() - self.pos);
        let start = self.pos;
        buf.put_slice(&self.data[start..start + n]);
        self.pos += n;
        Poll::Ready(Ok(()))
    }
}

async fn round_trips(store: BlobStore) {
    let store = store.with_part_size(PART).unwrap();
    for (key, len) in [
        ("cases/c1/empty", 0),
        ("cases/c1/small.age", 1000),
        ("cases/c1/exact", PART),
        ("cases/c1/large.age", 2 * PART + 12_345),
    ] {
        let bytes = data(len);
        let info = store.put(key, Source { data: bytes.clone(), pos: 0, fail: false }).await.unwrap();
        assert_eq!((info.key.as_str(), info.size), (key, len as u64));
        assert_eq!(info.sha256, <[u8; 32]>::from(Sha256::digest(&bytes)));
        assert_eq!(store.size(key).await.unwrap(), len as u64);
        let (size, stream) = store.get(key).await.unwrap();
        assert_eq!(size, len as u64);
        let chunks: Vec<bytes::Bytes> = stream.try_collect().await.unwrap();
        assert_eq!(chunks.concat(), bytes, "{key}");
        assert_eq!(store.get_bytes(key).await.unwrap(), bytes);
        if len > 10 {
            let r = store.get_range(key, 3..len as u64 - 2).await.unwrap();
            assert_eq!(&r[..], &bytes[3..len - 2]);
        }
        assert!(store.get_range(key, 0..0).await.unwrap().is_empty());
        let err = store.get_range(key, 0..len as u64 + 1).await.unwrap_err();
        assert!(matches!(err, BlobError::InvalidRange { .. }), "{err}");
        #[allow(clippy::reversed_empty_ranges)]
        let reversed = 2..1;
        assert!(matches!(store.get_range(key, reversed).await, Err(BlobError::InvalidRange { .. })));
    }
    // Replacing a blob.
    let info = store.put_bytes("cases/c1/small.age", bytes::Bytes::from_static(b"new")).await.unwrap();
    assert_eq!(info.size, 3);
    assert_eq!(store.get_bytes("cases/c1/small.age").await.unwrap(), &b"new"[..]);

    // Missing blobs and bad keys are errors with their own variants.
    assert!(matches!(store.get("cases/none").await, Err(BlobError::NotFound(_))));
    assert!(matches!(store.size("cases/none").await, Err(BlobError::NotFound(_))));
    assert!(matches!(store.get_range("cases/none", 0..1).await, Err(BlobError::NotFound(_))));
    for bad in ["", "/abs", "a//b", "../up", "a/./b"] {
        let err = store.put_bytes(bad, bytes::Bytes::new()).await.unwrap_err();
        assert!(matches!(err, BlobError::InvalidKey { .. }), "{bad:?}: {err}");
    }
    store.delete("cases/c1/exact").await.unwrap();
    store.delete("cases/c1/exact").await.unwrap();
    assert!(matches!(store.size("cases/c1/exact").await, Err(BlobError::NotFound(_))));

    // A reader that fails leaves no blob, whether the put was single or multipart.
    for (key, len) in [("cases/c2/fails-small", 1000), ("cases/c2/fails-large", 2 * PART + 1)] {
        let err = store.put(key, Source { data: data(len), pos: 0, fail: true }).await.unwrap_err();
        assert!(matches!(err, BlobError::Read(_)), "{err}");
        assert!(matches!(store.size(key).await, Err(BlobError::NotFound(_))), "{key}");
    }
}

#[tokio::test]
async fn memory_blobs() {
    round_trips(BlobStore::memory()).await;
}

#[tokio::test]
async fn local_blobs() {
    let dir = tempfile::tempdir().unwrap();
    round_trips(BlobStore::local(dir.path().join("blobs")).unwrap()).await;
    // Nothing but the blobs themselves is left in the directory (no staging files from failed puts).
    let mut left = Vec::new();
    let mut stack = vec![dir.path().join("blobs")];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(d).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
            } else {
                left.push(path.strip_prefix(dir.path()).unwrap().display().to_string());
            }
        }
    }
    left.sort();
    assert_eq!(left, ["blobs/cases/c1/empty", "blobs/cases/c1/large.age", "blobs/cases/c1/small.age"]);
}

/// `put_file` moves a file into a local store (same inode: no byte copied), streams it into any other
/// store, and in both cases removes the source and leaves the blob readable and whole.
#[tokio::test]
async fn put_file_moves_into_a_local_store_and_streams_elsewhere() {
    use std::os::unix::fs::MetadataExt as _;
    let dir = tempfile::tempdir().unwrap();
    let body = data(PART + 12_345);

    let local = BlobStore::local(dir.path().join("blobs")).unwrap();
    let source = dir.path().join("upload.part");
    std::fs::write(&source, &body).unwrap();
    let inode = std::fs::metadata(&source).unwrap().ino();
    let size = local.put_file("evidence/p1/files/a b.age", &source).await.unwrap();
    assert_eq!(size, body.len() as u64);
    assert!(!source.exists(), "the source is moved, not copied");
    assert_eq!(local.get_bytes("evidence/p1/files/a b.age").await.unwrap(), body);
    let mut moved = Vec::new();
    let mut stack = vec![dir.path().join("blobs")];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(d).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() { stack.push(path) } else { moved.push(std::fs::metadata(&path).unwrap().ino()) }
        }
    }
    assert_eq!(moved, [inode], "the blob is the uploaded file itself");
    // Replacing an existing blob works the same way.
    std::fs::write(&source, b"second").unwrap();
    local.put_file("evidence/p1/files/a b.age", &source).await.unwrap();
    assert_eq!(&local.get_bytes("evidence/p1/files/a b.age").await.unwrap()[..], b"second");

    let memory = BlobStore::memory();
    std::fs::write(&source, &body).unwrap();
    assert_eq!(memory.put_file("evidence/p1/files/a.age", &source).await.unwrap(), body.len() as u64);
    assert!(!source.exists());
    assert_eq!(memory.get_bytes("evidence/p1/files/a.age").await.unwrap(), body);

    // A bad key or a missing source is an error and moves nothing.
    std::fs::write(&source, b"x").unwrap();
    assert!(matches!(local.put_file("../x", &source).await, Err(BlobError::InvalidKey { .. })));
    assert!(source.exists());
    assert!(matches!(local.put_file("y", &dir.path().join("absent")).await, Err(BlobError::Read(_))));
}

#[tokio::test]
async fn configuration_by_url() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("file://{}", dir.path().join("by-url").display());
    let store = BlobStore::from_url(&url, Vec::<(String, String)>::new()).unwrap();
    store.put_bytes("k", bytes::Bytes::from_static(b"v")).await.unwrap();
    assert!(dir.path().join("by-url/k").exists());
    assert!(BlobStore::from_url("memory://", Vec::<(String, String)>::new()).is_ok());
    for bad in ["not a url", "ftp://host/x", "file://relative-host/x"] {
        let err = BlobStore::from_url(bad, Vec::<(String, String)>::new()).unwrap_err();
        assert!(matches!(err, BlobError::Config(_)), "{bad}: {err}");
    }
    assert!(matches!(BlobStore::memory().with_part_size(1 << 20), Err(BlobError::Config(_))));
}

/// S3 is configured from a URL and options without touching the network.
#[cfg(feature = "s3")]
#[tokio::test]
async fn s3_configuration() {
    let options = [
        ("aws_region", "eu-west-1"),
        ("aws_endpoint", "http://127.0.0.1:9"),
        ("aws_allow_http", "true"),
        ("aws_access_key_id", "test"),
        ("aws_secret_access_key", "test"),
    ];
    let store = BlobStore::from_url("s3://evidence/node-a", options).unwrap();
    assert!(format!("{store:?}").contains("s3://evidence"));
    let err = BlobStore::from_url("s3://evidence", [("aws_allow_http", "perhaps")]).unwrap_err();
    assert!(matches!(err, BlobError::Config(_)), "{err}");
}

#[cfg(not(feature = "s3"))]
#[tokio::test]
async fn s3_needs_its_feature() {
    let err = BlobStore::from_url("s3://evidence/node-a", Vec::<(String, String)>::new()).unwrap_err();
    assert!(err.to_string().contains("`s3` feature"), "{err}");
}

//! Reading a log over HTTP(S) (feature `http`): a [`Fetch`] that GETs
//! `<base URL>/<key>`, e.g. `https://log.example/checkpoint`, `.../tile/0/000`.

use std::io::Read as _;
use std::time::Duration;

use crate::storage::{Fetch, StorageError};

/// Largest object read over HTTP (a full tile is 8 KiB; a bundle at most about 16 MiB).
pub const MAX_OBJECT_SIZE: u64 = 17 << 20;

/// A read-only log at an HTTP(S) base URL.
#[derive(Debug)]
pub struct HttpFetch {
    base: String,
    client: reqwest::blocking::Client,
}

impl HttpFetch {
    /// A reader for the log published under `base` (with or without a final slash).
    pub fn new(base: &str) -> Result<Self, StorageError> {
        let client = reqwest::blocking::Client::builder()
            .timeout(Duration::from_secs(30))
            .user_agent(concat!("tlog/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| StorageError::ObjectStore {
                op: "start HTTP client",
                key: base.into(),
                message: e.to_string(),
            })?;
        Ok(Self { base: base.trim_end_matches('/').to_string(), client })
    }
}

impl Fetch for HttpFetch {
    fn get(&self, key: &str) -> Result<Option<Vec<u8>>, StorageError> {
        let url = format!("{}/{key}", self.base);
        let err = |message: String| StorageError::ObjectStore { op: "GET", key: url.clone(), message };
        // tlog-tiles: "Clients SHOULD include `gzip` and `identity` in their
        // `Accept-Encoding` headers"; a gzipped answer is decoded by the client.
        let resp = self
            .client
            .get(&url)
            .header(reqwest::header::ACCEPT_ENCODING, "gzip, identity")
            .send()
            .map_err(|e| err(e.to_string()))?;
        match resp.status().as_u16() {
            200 => {
                let mut body = Vec::new();
                resp.take(MAX_OBJECT_SIZE + 1).read_to_end(&mut body).map_err(|e| err(e.to_string()))?;
                if body.len() as u64 > MAX_OBJECT_SIZE {
                    return Err(err(format!("response larger than {MAX_OBJECT_SIZE} bytes")));
                }
                Ok(Some(body))
            }
            404 | 410 => Ok(None),
            s => Err(err(format!("HTTP status {s}"))),
        }
    }
}

/// Submits an `add-checkpoint` request body to a witness at `submission_prefix` and
/// classifies the answer (see [`crate::witness::classify_response`]): cosignature lines,
/// another old size to retry with, a root mismatch (409/422), or retry later (429).
pub fn add_checkpoint(
    client: &reqwest::blocking::Client,
    submission_prefix: &str,
    body: &[u8],
) -> Result<crate::witness::WitnessOutcome, StorageError> {
    let url = format!("{}/add-checkpoint", submission_prefix.trim_end_matches('/'));
    let err = |message: String| StorageError::ObjectStore { op: "POST", key: url.clone(), message };
    let resp = client.post(&url).body(body.to_vec()).send().map_err(|e| err(e.to_string()))?;
    let status = resp.status().as_u16();
    let content_type =
        resp.headers().get(reqwest::header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).map(str::to_string);
    let mut out = Vec::new();
    resp.take(1 << 20).read_to_end(&mut out).map_err(|e| err(e.to_string()))?;
    Ok(crate::witness::classify_response(status, content_type.as_deref(), &out))
}

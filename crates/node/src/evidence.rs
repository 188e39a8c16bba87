//! Evidence uploads: a sealed package's signed manifest first, then each `.age` file
//! streamed (never buffered whole) and resumable (`HEAD` tells how much arrived; `PUT`
//! with `Upload-Offset` continues there), capped by the manifest's sizes and the node's
//! limit, and verified against the manifest before it is accepted. A partial or
//! unverified upload never appears as evidence: only `complete` moves the files into the
//! blob store and records the production on the case.
//!
//! Downloads of accepted evidence support ranges. The node never holds a key that opens
//! the files: they are sealed to the requesting authority (age).

use std::path::{Path, PathBuf};
use std::sync::Arc;

use axum::body::Body;
use axum::extract::{Path as UrlPath, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use futures_util::StreamExt as _;
use serde::{Deserialize, Serialize};
use serde_json::json;
use sha2::{Digest, Sha256};

use crate::api::AppState;
use crate::auth;
use crate::problem::Problem;

/// What an upload knows about itself (`meta.json` in its folder).
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Meta {
    case: String,
    manifest_sha256: String,
    files: Vec<FileMeta>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct FileMeta {
    name: String,
    size: u64,
    age_size: u64,
    age_sha256: String,
}

use case::engine::hex;

fn uploads_dir(state: &AppState) -> PathBuf {
    state.config.base.join("data/uploads")
}

fn bad(status: StatusCode, kind: &'static str, title: &'static str, detail: impl Into<String>) -> Problem {
    Problem::new(status, kind, title).detail(detail)
}

fn io(e: std::io::Error) -> Problem {
    bad(StatusCode::INTERNAL_SERVER_ERROR, "storage", "Storage error", e.to_string())
}

fn valid_id(id: &str) -> bool {
    id.len() == 32 && id.bytes().all(|b| b.is_ascii_hexdigit())
}

async fn load_meta(dir: &Path) -> Result<Meta, Problem> {
    let bytes = tokio::fs::read(dir.join("meta.json")).await.map_err(|_| Problem::not_found("such upload"))?;
    serde_json::from_slice(&bytes)
        .map_err(|e| bad(StatusCode::INTERNAL_SERVER_ERROR, "storage", "Corrupt upload", e.to_string()))
}

/// A new upload for a case.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewUpload {
    /// The package's signed manifest (`MANIFEST`, as written by `custodia evidence seal`).
    manifest: String,
    /// The sealer's public identity (its `.pub` file).
    signer: String,
}

/// Start uploading a sealed evidence package for a case: the manifest is checked now.
#[utoipa::path(post, path = "/api/v1/cases/{id}/uploads", tag = "evidence", params(("id" = String, Path, description = "The case")), request_body = NewUpload, security(("bearer" = [])),
    responses((status = 201, description = "The upload's id and its files", body = Object), (status = 400, description = "Not a possible case id, or not JSON of this shape", body = Problem, content_type = "application/problem+json"), (status = 401, body = Problem, content_type = "application/problem+json"), (status = 404, body = Problem, content_type = "application/problem+json"), (status = 422, description = "The manifest does not verify", body = Problem, content_type = "application/problem+json")))]
pub async fn start(
    State(state): State<AppState>,
    headers: HeaderMap,
    UrlPath(id): UrlPath<String>,
    body: axum::body::Bytes,
) -> Response {
    async {
        let caller = auth::who(&state, &axum::http::Method::POST, &headers)?;
        let cases = state.cases.clone().ok_or_else(|| {
            bad(StatusCode::SERVICE_UNAVAILABLE, "no-store", "No case storage", "this node has no case storage open")
        })?;
        cases.get(&caller, &id, crate::clock::today()).await?;
        let req: NewUpload = serde_json::from_slice(&body)
            .map_err(|e| bad(StatusCode::BAD_REQUEST, "bad-json", "Not an upload request", e.to_string()))?;
        let signer = seal::keys::PublicIdentity::parse(&req.signer).map_err(|e| {
            bad(StatusCode::UNPROCESSABLE_ENTITY, "bad-signer", "The signer's identity is not valid", e.to_string())
                .field("signer")
        })?;
        let manifest = seal::manifest::Manifest::parse_signed(&req.manifest, &signer).map_err(|e| {
            bad(StatusCode::UNPROCESSABLE_ENTITY, "bad-manifest", "The manifest does not verify", e.to_string())
                .field("manifest")
        })?;
        let limit = state.config.config.limits.max_upload_bytes;
        let total: u64 = manifest.files.iter().map(|f| f.age_size).sum();
        if total > limit {
            return Err(bad(
                StatusCode::PAYLOAD_TOO_LARGE,
                "too-large",
                "The package is too large",
                format!("{total} bytes; this node accepts {limit}"),
            ));
        }
        let mut rnd = [0u8; 16];
        getrandom::fill(&mut rnd)
            .map_err(|e| bad(StatusCode::INTERNAL_SERVER_ERROR, "random", "No randomness", e.to_string()))?;
        let upload = hex(&rnd);
        let dir = uploads_dir(&state).join(&upload);
        tokio::fs::create_dir_all(&dir).await.map_err(io)?;
        let meta = Meta {
            case: id,
            manifest_sha256: hex(&Sha256::digest(req.manifest.as_bytes())),
            files: manifest
                .files
                .iter()
                .map(|f| FileMeta {
                    name: f.name.clone(),
                    size: f.size,
                    age_size: f.age_size,
                    age_sha256: hex(&f.age_sha256),
                })
                .collect(),
        };
        tokio::fs::write(dir.join("MANIFEST"), req.manifest.as_bytes()).await.map_err(io)?;
        tokio::fs::write(dir.join("meta.json"), serde_json::to_vec(&meta).unwrap_or_default()).await.map_err(io)?;
        let files: Vec<_> = meta
            .files
            .iter()
            .enumerate()
            .map(|(i, f)| json!({ "index": i, "name": f.name, "age_size": f.age_size, "received": 0 }))
            .collect();
        Ok((
            StatusCode::CREATED,
            axum::Json(json!({ "upload": upload, "manifest_sha256": meta.manifest_sha256, "files": files })),
        )
            .into_response())
    }
    .await
    .unwrap_or_else(IntoResponse::into_response)
}

async fn received(path: &Path) -> u64 {
    tokio::fs::metadata(path).await.map_or(0, |m| m.len())
}

fn offset_header(n: u64) -> (header::HeaderName, HeaderValue) {
    (header::HeaderName::from_static("upload-offset"), HeaderValue::from(n))
}

fn file_of(meta: &Meta, index: &str) -> Result<(usize, FileMeta), Problem> {
    let i: usize = index.parse().map_err(|_| Problem::not_found("such file in this upload"))?;
    meta.files.get(i).cloned().map(|f| (i, f)).ok_or_else(|| Problem::not_found("such file in this upload"))
}

/// How much of a file has arrived (`Upload-Offset`), to resume after a lost connection.
#[utoipa::path(head, path = "/api/v1/uploads/{upload}/files/{index}", tag = "evidence", params(("upload" = String, Path, description = "The upload"), ("index" = String, Path, description = "The file's place in the manifest, from 0")), security(("bearer" = [])),
    responses((status = 204, description = "What has arrived", headers(("Upload-Offset" = u64, description = "Bytes of the file received so far"))), (status = 401, description = "No valid credentials"), (status = 403, description = "Not allowed for this role"), (status = 404, description = "No such upload or file")))]
pub async fn offset(
    State(state): State<AppState>,
    headers: HeaderMap,
    UrlPath((upload, index)): UrlPath<(String, String)>,
) -> Response {
    async {
        auth::who(&state, &axum::http::Method::HEAD, &headers)?;
        if !valid_id(&upload) {
            return Err(Problem::not_found("such upload"));
        }
        let dir = uploads_dir(&state).join(&upload);
        let meta = load_meta(&dir).await?;
        let (i, _) = file_of(&meta, &index)?;
        Ok((StatusCode::NO_CONTENT, [offset_header(received(&dir.join(format!("{i}.part"))).await)]).into_response())
    }
    .await
    .unwrap_or_else(IntoResponse::into_response)
}

/// Files of uploads in progress, in memory: while a `PUT` or `complete` works on a file it holds
/// the file (a second one is refused with 409), and between requests the SHA-256 state of the
/// bytes that have arrived, so that `complete` need not read them again. Lost on restart; then
/// the bytes on disk are hashed again when the upload resumes or completes.
#[derive(Debug, Default)]
pub struct Uploading {
    files: std::sync::Mutex<std::collections::HashMap<(String, usize), Slot>>,
}

#[derive(Debug)]
enum Slot {
    Busy,
    Hashed(u64, Sha256),
}

/// A file held by one request; on drop it is released with `done` (the length and hash state of
/// what is on disk) or, without it, forgotten.
struct Claim {
    uploading: Arc<Uploading>,
    key: (String, usize),
    done: Option<(u64, Sha256)>,
}

impl Uploading {
    /// Holds the file, returning what was known of it; `None` if another request holds it.
    fn claim(self: &Arc<Self>, upload: &str, index: usize) -> Option<(Claim, Option<(u64, Sha256)>)> {
        let mut files = self.files.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let key = (upload.to_string(), index);
        let known = match files.insert(key.clone(), Slot::Busy) {
            Some(Slot::Busy) => return None,
            Some(Slot::Hashed(n, sha)) => Some((n, sha)),
            None => None,
        };
        Some((Claim { uploading: self.clone(), key, done: None }, known))
    }
}

impl Drop for Claim {
    fn drop(&mut self) {
        let mut files = self.uploading.files.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        match self.done.take() {
            Some((n, sha)) => files.insert(self.key.clone(), Slot::Hashed(n, sha)),
            None => files.remove(&self.key),
        };
    }
}

fn busy(name: &str) -> Problem {
    bad(
        StatusCode::CONFLICT,
        "upload-busy",
        "Another request is working on this file",
        format!("{name} is being uploaded or completed by another request; try again when it ends"),
    )
}

/// The SHA-256 state of the first `len` bytes of `path`.
fn hash_prefix(path: &Path, len: u64) -> std::io::Result<Sha256> {
    use std::io::Read as _;
    let mut sha = Sha256::new();
    if len == 0 {
        return Ok(sha);
    }
    let mut f = std::fs::File::open(path)?.take(len);
    let mut buf = vec![0u8; 1 << 16];
    loop {
        let k = f.read(&mut buf)?;
        if k == 0 {
            return Ok(sha);
        }
        sha.update(&buf[..k]);
    }
}

/// Appends bytes to a file of an upload, at `Upload-Offset` (which must be what has
/// arrived so far). The body is streamed to disk by a writer thread that hashes what it
/// writes; more than the manifest's size is refused and what was written beyond the offset
/// is cut off again.
#[utoipa::path(put, path = "/api/v1/uploads/{upload}/files/{index}", tag = "evidence", params(("upload" = String, Path, description = "The upload"), ("index" = String, Path, description = "The file's place in the manifest, from 0"), ("Upload-Offset" = Option<u64>, Header, description = "Where these bytes start: what has arrived so far (default 0)")), request_body(content = Vec<u8>, description = "The next bytes of the sealed (.age) file", content_type = "application/octet-stream"), security(("bearer" = [])),
    responses((status = 204, description = "Written", headers(("Upload-Offset" = u64, description = "Bytes of the file received so far"))), (status = 400, description = "Upload-Offset is not a number", body = Problem, content_type = "application/problem+json"), (status = 401, body = Problem, content_type = "application/problem+json"), (status = 403, body = Problem, content_type = "application/problem+json"), (status = 404, body = Problem, content_type = "application/problem+json"), (status = 409, description = "Upload-Offset is not what has arrived (the answer's Upload-Offset says what has), or another request is writing this file", body = Problem, content_type = "application/problem+json"), (status = 413, description = "More bytes than the manifest says", body = Problem, content_type = "application/problem+json")))]
pub async fn put(
    State(state): State<AppState>,
    headers: HeaderMap,
    UrlPath((upload, index)): UrlPath<(String, String)>,
    body: Body,
) -> Response {
    async {
        auth::who(&state, &axum::http::Method::PUT, &headers)?;
        if !valid_id(&upload) {
            return Err(Problem::not_found("such upload"));
        }
        let dir = uploads_dir(&state).join(&upload);
        let meta = load_meta(&dir).await?;
        let (i, file) = file_of(&meta, &index)?;
        let Some((mut claim, known)) = state.uploading.claim(&upload, i) else { return Err(busy(&file.name)) };
        let part = dir.join(format!("{i}.part"));
        let have = received(&part).await;
        let at = match headers.get("upload-offset").map(|v| v.to_str().ok().and_then(|s| s.parse::<u64>().ok())) {
            None => 0,
            Some(Some(n)) => n,
            Some(None) => {
                claim.done = known;
                return Err(bad(StatusCode::BAD_REQUEST, "bad-offset", "Upload-Offset must be a number", "")
                    .field("Upload-Offset"));
            }
        };
        if at != have {
            claim.done = known;
            let mut r = bad(
                StatusCode::CONFLICT,
                "offset-mismatch",
                "Resume from what has arrived",
                format!("{have} bytes of {} have arrived; send from there", file.name),
            )
            .field("Upload-Offset")
            .into_response();
            let (k, v) = offset_header(have);
            r.headers_mut().insert(k, v);
            return Ok(r);
        }
        // The hash state of what is on disk: kept from the last PUT, or read again (after a restart).
        let start = known.filter(|(n, _)| *n == have).map(|(_, sha)| sha);
        let (tx, mut rx) = tokio::sync::mpsc::channel::<axum::body::Bytes>(16);
        let path = part.clone();
        let writer = tokio::task::spawn_blocking(move || -> std::io::Result<(u64, Sha256)> {
            use std::io::Write as _;
            let mut sha = match start {
                Some(sha) => sha,
                None => hash_prefix(&path, have)?,
            };
            let mut f = std::fs::OpenOptions::new().create(true).append(true).open(&path)?;
            let mut n = have;
            while let Some(chunk) = rx.blocking_recv() {
                f.write_all(&chunk)?;
                sha.update(&chunk);
                n += chunk.len() as u64;
            }
            f.sync_all()?;
            Ok((n, sha))
        });
        let mut sent = have;
        let mut too_large = false;
        let mut stream = body.into_data_stream();
        while let Some(chunk) = stream.next().await {
            let Ok(chunk) = chunk else { break }; // the connection dropped: keep what arrived, the client resumes
            if sent + chunk.len() as u64 > file.age_size {
                too_large = true;
                break;
            }
            sent += chunk.len() as u64;
            if tx.send(chunk).await.is_err() {
                break; // the writer stopped: its error is reported below
            }
        }
        drop(tx);
        let written = writer
            .await
            .map_err(|e| bad(StatusCode::INTERNAL_SERVER_ERROR, "internal", "Internal error", e.to_string()))?
            .map_err(io)?;
        if too_large {
            let cut = tokio::fs::OpenOptions::new().write(true).open(&part).await.map_err(io)?;
            cut.set_len(have).await.map_err(io)?;
            cut.sync_all().await.map_err(io)?;
            return Err(bad(
                StatusCode::PAYLOAD_TOO_LARGE,
                "too-large",
                "More than the manifest says",
                format!("{} is {} bytes in the manifest", file.name, file.age_size),
            ));
        }
        let n = written.0;
        claim.done = Some(written);
        Ok((StatusCode::NO_CONTENT, [offset_header(n)]).into_response())
    }
    .await
    .unwrap_or_else(IntoResponse::into_response)
}

async fn sha256_file(path: &Path) -> Result<(u64, String), Problem> {
    let path = path.to_path_buf();
    tokio::task::spawn_blocking(move || -> std::io::Result<(u64, String)> {
        let n = std::fs::metadata(&path)?.len();
        Ok((n, hex(&hash_prefix(&path, n)?.finalize())))
    })
    .await
    .map_err(|e| bad(StatusCode::INTERNAL_SERVER_ERROR, "internal", "Internal error", e.to_string()))?
    .map_err(io)
}

/// Verifies every file against the manifest; if all match, moves the package into the
/// blob store and records its production on the case (`produce`).
#[utoipa::path(post, path = "/api/v1/uploads/{upload}/complete", tag = "evidence", params(("upload" = String, Path, description = "The upload")), security(("bearer" = [])),
    responses((status = 200, description = "Accepted: the case after `produce`", body = Object), (status = 401, body = Problem, content_type = "application/problem+json"), (status = 404, body = Problem, content_type = "application/problem+json"), (status = 409, description = "Another request is uploading or completing a file of this upload", body = Problem, content_type = "application/problem+json"), (status = 422, description = "A file is incomplete or does not match the manifest: nothing was accepted", body = Problem, content_type = "application/problem+json")))]
pub async fn complete(State(state): State<AppState>, headers: HeaderMap, UrlPath(upload): UrlPath<String>) -> Response {
    async {
        let caller = auth::who(&state, &axum::http::Method::POST, &headers)?;
        let cases = state.cases.clone().ok_or_else(|| {
            bad(StatusCode::SERVICE_UNAVAILABLE, "no-store", "No case storage", "this node has no case storage open")
        })?;
        let blobs = state.blobs.clone().ok_or_else(|| {
            bad(StatusCode::SERVICE_UNAVAILABLE, "no-blobs", "No blob storage", "this node has no blob storage open")
        })?;
        if !valid_id(&upload) {
            return Err(Problem::not_found("such upload"));
        }
        let dir = uploads_dir(&state).join(&upload);
        let meta = load_meta(&dir).await?;
        // Hold every file while it is checked and moved; if anything fails, what was known of
        // each file is kept for the next try.
        let mut claims = Vec::with_capacity(meta.files.len());
        for (i, f) in meta.files.iter().enumerate() {
            let Some((mut claim, known)) = state.uploading.claim(&upload, i) else { return Err(busy(&f.name)) };
            claim.done = known;
            claims.push(claim);
        }
        for (i, f) in meta.files.iter().enumerate() {
            let part = dir.join(format!("{i}.part"));
            let on_disk = received(&part).await;
            let (n, sha) = match &claims[i].done {
                Some((n, sha)) if *n == on_disk => (*n, hex(&sha.clone().finalize())),
                _ if part.exists() => sha256_file(&part).await?,
                _ => (0, String::new()),
            };
            if n != f.age_size {
                return Err(bad(
                    StatusCode::UNPROCESSABLE_ENTITY,
                    "incomplete",
                    "A file is incomplete",
                    format!("{}: {n} of {} bytes have arrived", f.name, f.age_size),
                )
                .field(f.name.clone()));
            }
            if sha != f.age_sha256 {
                // The bytes are wrong: drop them so that the file is sent again.
                let _ = tokio::fs::remove_file(&part).await;
                claims[i].done = None;
                return Err(bad(
                    StatusCode::UNPROCESSABLE_ENTITY,
                    "hash-mismatch",
                    "A file does not match the manifest",
                    format!("{}: SHA-256 {sha}, the manifest says {}", f.name, f.age_sha256),
                )
                .field(f.name.clone()));
            }
        }
        let prefix = format!("evidence/{}", meta.manifest_sha256);
        let manifest = tokio::fs::read(dir.join("MANIFEST")).await.map_err(io)?;
        // Which case the package belongs to: a download is an access to that case.
        blobs
            .put_bytes(&format!("{prefix}/CASE"), meta.case.clone().into_bytes().into())
            .await
            .map_err(|e| bad(StatusCode::INTERNAL_SERVER_ERROR, "blobs", "Blob storage error", e.to_string()))?;
        for (i, f) in meta.files.iter().enumerate() {
            // Checked above; a move (no copy) into a local blob store.
            blobs
                .put_file(&format!("{prefix}/files/{}.age", f.name), &dir.join(format!("{i}.part")))
                .await
                .map_err(|e| bad(StatusCode::INTERNAL_SERVER_ERROR, "blobs", "Blob storage error", e.to_string()))?;
            claims[i].done = None;
        }
        blobs
            .put_bytes(&format!("{prefix}/MANIFEST"), manifest.into())
            .await
            .map_err(|e| bad(StatusCode::INTERNAL_SERVER_ERROR, "blobs", "Blob storage error", e.to_string()))?;
        let package = case::PackageRef {
            manifest_sha256: meta.manifest_sha256.clone(),
            files: meta.files.len() as u32,
            bytes: meta.files.iter().map(|f| f.size).sum(),
        };
        let (view, events) =
            cases.command(&caller, &meta.case, &case::Command::Produce { package }, None, crate::clock::now()).await?;
        let _ = tokio::fs::remove_dir_all(&dir).await;
        Ok(axum::Json(
            json!({ "case": view, "events": events, "evidence": format!("/api/v1/evidence/{}", meta.manifest_sha256) }),
        )
        .into_response())
    }
    .await
    .unwrap_or_else(IntoResponse::into_response)
}

/// Downloads a file of an accepted package (`Range: bytes=START-END` supported). The
/// files are sealed to the requesting authority: this node cannot read them.
#[utoipa::path(get, path = "/api/v1/evidence/{manifest}/{name}", tag = "evidence", params(("manifest" = String, Path, description = "The package's manifest SHA-256 (64 hex digits)"), ("name" = String, Path, description = "MANIFEST, or a sealed file's name as the manifest lists it (it may contain /)"), ("Range" = Option<String>, Header, description = "bytes=START-END or bytes=START-")), security(("bearer" = [])),
    responses((status = 200, description = "The file (sealed: this node cannot read it)", content_type = "application/octet-stream", body = Vec<u8>), (status = 206, description = "The range asked for", content_type = "application/octet-stream", body = Vec<u8>), (status = 401, body = Problem, content_type = "application/problem+json"), (status = 403, description = "Oversight sees metadata, never evidence", body = Problem, content_type = "application/problem+json"), (status = 404, body = Problem, content_type = "application/problem+json"), (status = 416, description = "The range is outside the file", body = Problem, content_type = "application/problem+json"), (status = 503, description = "This node has no blob or case storage", body = Problem, content_type = "application/problem+json")))]
pub async fn download(
    State(state): State<AppState>,
    headers: HeaderMap,
    UrlPath((manifest, name)): UrlPath<(String, String)>,
) -> Response {
    async {
        let caller = auth::who(&state, &axum::http::Method::GET, &headers)?;
        if matches!(caller.role, case::Role::Oversight | case::Role::Administrator) {
            return Err(bad(StatusCode::FORBIDDEN, "no-evidence", "Oversight sees metadata, never evidence", ""));
        }
        let blobs = state
            .blobs
            .clone()
            .ok_or_else(|| bad(StatusCode::SERVICE_UNAVAILABLE, "no-blobs", "No blob storage", ""))?;
        if manifest.len() != 64
            || !manifest.bytes().all(|b| b.is_ascii_hexdigit())
            || seal::manifest::check_file_name(&name).is_err() && name != "MANIFEST"
        {
            return Err(Problem::not_found("such evidence"));
        }
        let key = if name == "MANIFEST" {
            format!("evidence/{manifest}/MANIFEST")
        } else {
            format!("evidence/{manifest}/files/{name}")
        };
        // Only those who may see the package's case, and each download is an access to it.
        let case_id = blobs
            .get_bytes(&format!("evidence/{manifest}/CASE"))
            .await
            .ok()
            .and_then(|b| String::from_utf8(b.to_vec()).ok())
            .ok_or_else(|| Problem::not_found("such evidence"))?;
        let cases = state.cases.clone().ok_or_else(|| {
            bad(StatusCode::SERVICE_UNAVAILABLE, "no-store", "No case storage", "this node has no case storage open")
        })?;
        cases.get(&caller, &case_id, crate::clock::today()).await.map_err(|_| Problem::not_found("such evidence"))?;
        let size = blobs.size(&key).await.map_err(|_| Problem::not_found("such evidence"))?;
        cases.record_access(&caller, &case_id, "evidence", crate::clock::now()).await?;
        let range =
            headers.get(header::RANGE).and_then(|v| v.to_str().ok()).and_then(|v| v.strip_prefix("bytes=")).map(|r| {
                let (a, b) = r.split_once('-').unwrap_or((r, ""));
                let start = a.parse::<u64>().ok();
                let end = if b.is_empty() { Some(size.saturating_sub(1)) } else { b.parse::<u64>().ok() };
                (start, end)
            });
        match range {
            None => {
                let bytes = blobs.get_bytes(&key).await.map_err(|e| {
                    bad(StatusCode::INTERNAL_SERVER_ERROR, "blobs", "Blob storage error", e.to_string())
                })?;
                Ok((
                    [
                        (header::CONTENT_TYPE, HeaderValue::from_static("application/octet-stream")),
                        (header::ACCEPT_RANGES, HeaderValue::from_static("bytes")),
                    ],
                    bytes,
                )
                    .into_response())
            }
            Some((Some(start), Some(end))) if start <= end && end < size => {
                let bytes = blobs.get_range(&key, start..end + 1).await.map_err(|e| {
                    bad(StatusCode::INTERNAL_SERVER_ERROR, "blobs", "Blob storage error", e.to_string())
                })?;
                let mut r = (StatusCode::PARTIAL_CONTENT, bytes).into_response();
                let h = r.headers_mut();
                h.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/octet-stream"));
                if let Ok(v) = HeaderValue::from_str(&format!("bytes {start}-{end}/{size}")) {
                    h.insert(header::CONTENT_RANGE, v);
                }
                Ok(r)
            }
            Some(_) => {
                let mut r = bad(
                    StatusCode::RANGE_NOT_SATISFIABLE,
                    "bad-range",
                    "Range not satisfiable",
                    format!("the file is {size} bytes"),
                )
                .into_response();
                if let Ok(v) = HeaderValue::from_str(&format!("bytes */{size}")) {
                    r.headers_mut().insert(header::CONTENT_RANGE, v);
                }
                Ok(r)
            }
        }
    }
    .await
    .unwrap_or_else(IntoResponse::into_response)
}

/// The node's blob store, from `storage.blobs` (a directory relative to the configuration,
/// or an object store URL).
pub fn open_blobs(config: &crate::Resolved) -> Result<Arc<store::BlobStore>, String> {
    let b = &config.config.storage.blobs;
    if b.contains("://") {
        store::BlobStore::from_url(b, Vec::<(String, String)>::new()).map(Arc::new).map_err(|e| e.to_string())
    } else {
        let dir = config.base.join(b);
        std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        store::BlobStore::local(&dir).map(Arc::new).map_err(|e| e.to_string())
    }
}

//! The node's transparency log, served as static paths exactly as C2SP tlog-tiles says:
//! `/log/checkpoint` (`text/plain; charset=utf-8`, cached a few seconds at most) and
//! `/log/tile/<L>/<N>[.p/<W>]`, `/log/tile/entries/<N>[.p/<W>]`
//! (`application/octet-stream`, immutable). Paths are parsed strictly, so nothing
//! outside the log's directory can be named. Entry bundles are gzipped at the HTTP layer
//! for clients that accept it ("Entry bundles SHOULD be compressed at the HTTP layer").

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};

use crate::api::AppState;
use crate::problem::Problem;

/// Cache-Control of the checkpoint: it changes, so only a few seconds.
pub const CHECKPOINT_CACHE: &str = "public, max-age=2";
/// Cache-Control of tiles and entry bundles: immutable.
pub const TILE_CACHE: &str = "public, max-age=31536000, immutable";

fn log_dir(state: &AppState) -> std::path::PathBuf {
    state.config.base.join(&state.config.config.storage.log_dir)
}

async fn read(path: std::path::PathBuf) -> Result<Vec<u8>, Problem> {
    match tokio::fs::read(&path).await {
        Ok(b) => Ok(b),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            Err(Problem::not_found("such tile or checkpoint in this log"))
        }
        Err(e) => Err(Problem::new(StatusCode::INTERNAL_SERVER_ERROR, "storage", "The log could not be read")
            .detail(e.to_string())),
    }
}

/// `GET /log/checkpoint`
pub async fn checkpoint(State(state): State<AppState>) -> Response {
    match read(log_dir(&state).join("checkpoint")).await.map(|b| match &state.witnessing {
        Some(w) => w.serving_checkpoint(&b),
        None => b,
    }) {
        Ok(b) => ([(header::CONTENT_TYPE, "text/plain; charset=utf-8"), (header::CACHE_CONTROL, CHECKPOINT_CACHE)], b)
            .into_response(),
        Err(p) => p.into_response(),
    }
}

/// The size of the log's latest durable checkpoint: the open log's head, or (a node
/// serving a log it does not append to) the size the checkpoint file states.
async fn durable_size(state: &AppState) -> Result<u64, Problem> {
    if let Some(log) = &state.log {
        return Ok(log.size());
    }
    let bytes = read(log_dir(state).join("checkpoint")).await?;
    tlog::note::Note::parse(&bytes)
        .ok()
        .and_then(|note| tlog::checkpoint::Checkpoint::from_text(&note.text).ok())
        .map(|cp| cp.size)
        .ok_or_else(|| {
            Problem::new(StatusCode::INTERNAL_SERVER_ERROR, "storage", "The log could not be read")
                .detail("the log's checkpoint file is not a checkpoint")
        })
}

/// `GET /log/tile/...`: only tiles the latest checkpoint covers (tlog-tiles clients ask
/// for no others). The writer puts a batch's tiles in place before the checkpoint that
/// covers them, so anything beyond it may be partly written, or rewritten after a crash.
pub async fn tile(State(state): State<AppState>, Path(rest): Path<String>, headers: HeaderMap) -> Response {
    let asked = format!("tile/{rest}");
    let tile = match tlog::tile::TilePath::parse(&asked) {
        Ok(t) => t,
        Err(e) => {
            return Problem::new(StatusCode::NOT_FOUND, "not-a-tile", "Not a tile path")
                .detail(e.to_string())
                .into_response();
        }
    };
    match durable_size(&state).await {
        Ok(size) if tile.covered_by(size) => {}
        Ok(size) => {
            return Problem::not_found("such tile in this log")
                .detail(format!("{} lies beyond the log's checkpoint (size {size})", tile.path()))
                .into_response();
        }
        Err(p) => return p.into_response(),
    }
    let b = match read(log_dir(&state).join(tile.path())).await {
        Ok(b) => b,
        Err(p) => return p.into_response(),
    };
    let plain = [(header::CONTENT_TYPE, "application/octet-stream"), (header::CACHE_CONTROL, TILE_CACHE)];
    if tile.kind != tlog::tile::TileKind::Entries {
        return (plain, b).into_response();
    }
    if !accepts_gzip(&headers) {
        return (plain, [(header::VARY, "Accept-Encoding")], b).into_response();
    }
    match tokio::task::spawn_blocking(move || gzip(&b).map_err(|_| b)).await {
        Ok(Ok(gz)) => {
            (plain, [(header::CONTENT_ENCODING, "gzip"), (header::VARY, "Accept-Encoding")], gz).into_response()
        }
        Ok(Err(b)) => (plain, [(header::VARY, "Accept-Encoding")], b).into_response(),
        Err(e) => {
            Problem::new(StatusCode::INTERNAL_SERVER_ERROR, "storage", "The entry bundle could not be compressed")
                .detail(e.to_string())
                .into_response()
        }
    }
}

/// Whether the request's Accept-Encoding accepts gzip: `gzip` (or `x-gzip`) with a
/// quality above 0, or else `*` with a quality above 0 (RFC 9110, 12.5.3).
fn accepts_gzip(headers: &HeaderMap) -> bool {
    let (mut gzip, mut star) = (None, None);
    let items = headers.get_all(header::ACCEPT_ENCODING).into_iter().filter_map(|v| v.to_str().ok());
    for item in items.flat_map(|v| v.split(',')) {
        let mut parts = item.split(';').map(str::trim);
        let coding = parts.next().unwrap_or("");
        let q = parts
            .find_map(|p| p.strip_prefix("q=").or_else(|| p.strip_prefix("Q=")))
            .map_or(1.0, |q| q.trim().parse::<f32>().unwrap_or(0.0));
        if coding.eq_ignore_ascii_case("gzip") || coding.eq_ignore_ascii_case("x-gzip") {
            gzip = Some(gzip.map_or(q, |g: f32| g.max(q)));
        } else if coding == "*" {
            star = Some(q);
        }
    }
    gzip.or(star).is_some_and(|q| q > 0.0)
}

fn gzip(bytes: &[u8]) -> std::io::Result<Vec<u8>> {
    use std::io::Write as _;
    let mut gz = flate2::write::GzEncoder::new(Vec::with_capacity(bytes.len() / 2), flate2::Compression::fast());
    gz.write_all(bytes)?;
    gz.finish()
}

//! An HTTP front for a [`Witness`] (feature `witness-server`): an axum router with
//! `POST /add-checkpoint` answering as C2SP tlog-witness v1.0.0 says (200 with the
//! cosignature lines, 409 with a `text/x.tlog.size` body, 400/403/404/422, 500).

use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use axum::Router;
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;

use crate::witness::{Witness, WitnessState};

/// Largest request body accepted (63 proof lines and a checkpoint with many signatures).
pub const MAX_REQUEST_SIZE: usize = 1 << 20;

/// The router: `POST /add-checkpoint`. Mount it under the witness's submission prefix.
pub fn router<S: WitnessState + 'static>(witness: Arc<Witness<S>>) -> Router {
    Router::new()
        .route("/add-checkpoint", post(add_checkpoint::<S>))
        .layer(DefaultBodyLimit::max(MAX_REQUEST_SIZE))
        .with_state(witness)
}

async fn add_checkpoint<S: WitnessState + 'static>(State(w): State<Arc<Witness<S>>>, body: Bytes) -> Response {
    let now = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
    // The state update may fsync: keep it off the async workers.
    let result = tokio::task::spawn_blocking(move || w.add_checkpoint(&body, now)).await;
    match result {
        Ok(Ok(lines)) => (StatusCode::OK, [(header::CONTENT_TYPE, "text/plain; charset=utf-8")], lines).into_response(),
        Ok(Err(e)) => {
            let status = StatusCode::from_u16(e.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
            let (ct, body) = e.body().unwrap_or(("text/plain; charset=utf-8", format!("{e}\n")));
            (status, [(header::CONTENT_TYPE, ct)], body).into_response()
        }
        Err(_) => (StatusCode::INTERNAL_SERVER_ERROR, "witness task failed\n").into_response(),
    }
}

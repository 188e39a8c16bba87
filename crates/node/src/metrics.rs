//! `GET /metrics`: Prometheus text exposition of what an operator watches: requests by
//! status class, the log's size, commitments still secret and overdue (recomputed from
//! the log), messages waiting in the outbox, cases by state.

use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};

use axum::extract::State;
use axum::http::{Request, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::api::AppState;

/// Requests answered, by status class (1xx..5xx).
pub static REQUESTS: [AtomicU64; 5] =
    [AtomicU64::new(0), AtomicU64::new(0), AtomicU64::new(0), AtomicU64::new(0), AtomicU64::new(0)];

/// Counts every answered request by its status class.
pub async fn count(req: Request<axum::body::Body>, next: Next) -> Response {
    let res = next.run(req).await;
    let class = (res.status().as_u16() / 100).clamp(1, 5) as usize - 1;
    REQUESTS[class].fetch_add(1, Ordering::Relaxed);
    res
}

/// `GET /metrics`
pub async fn metrics(State(state): State<AppState>) -> Response {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "# HELP custodia_http_requests_total Requests answered, by status class.\n# TYPE custodia_http_requests_total counter"
    );
    for (i, n) in REQUESTS.iter().enumerate() {
        let _ = writeln!(out, "custodia_http_requests_total{{class=\"{}xx\"}} {}", i + 1, n.load(Ordering::Relaxed));
    }
    if let Some(log) = state.log.clone() {
        let today = crate::clock::today();
        if let Ok(Ok((entries, size))) =
            tokio::task::spawn_blocking(move || log.entries().map(|e| (e, log.size()))).await
        {
            let s = case::commitment::statistics(entries.iter().map(Vec::as_slice), today);
            let _ = writeln!(
                out,
                "# HELP custodia_log_entries Entries in this node's transparency log.\n# TYPE custodia_log_entries gauge\ncustodia_log_entries {size}"
            );
            let _ = writeln!(
                out,
                "# HELP custodia_commitments Commitments in the log, by status.\n# TYPE custodia_commitments gauge"
            );
            let _ = writeln!(
                out,
                "custodia_commitments{{status=\"secret\"}} {}\ncustodia_commitments{{status=\"revealed\"}} {}\ncustodia_commitments{{status=\"overdue\"}} {}",
                s.secret, s.revealed, s.overdue
            );
        }
    }
    if let Some(peers) = &state.peers {
        let _ = writeln!(
            out,
            "# HELP custodia_outbox_pending Messages waiting for delivery.\n# TYPE custodia_outbox_pending gauge\ncustodia_outbox_pending {}",
            peers.pending()
        );
    }
    if let Some(cases) = &state.cases {
        let _ =
            writeln!(out, "# HELP custodia_cases Cases at this node, by kind and state.\n# TYPE custodia_cases gauge");
        for (kind, st, n) in cases.count_by_state().await.unwrap_or_default() {
            let _ = writeln!(out, "custodia_cases{{kind=\"{kind}\",state=\"{st}\"}} {n}");
        }
    }
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8")], out).into_response()
}

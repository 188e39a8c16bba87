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

/// Upper bounds (seconds) of the request latency histogram's buckets.
pub const LATENCY_BUCKETS: [f64; 11] = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0];

/// Requests by latency bucket (not cumulative; the last counts what exceeds every bound).
static LATENCY: [AtomicU64; 12] = [const { AtomicU64::new(0) }; 12];
/// The sum of every request's latency, in microseconds.
static LATENCY_SUM_US: AtomicU64 = AtomicU64::new(0);

/// Counts every answered request by its status class and latency, and logs it (tracing:
/// `debug` for success, `info` for 4xx, `warn` for 5xx; never the query or the body).
pub async fn count(req: Request<axum::body::Body>, next: Next) -> Response {
    let started = std::time::Instant::now();
    let method = req.method().clone();
    let path = req.uri().path().to_owned();
    let res = next.run(req).await;
    let elapsed = started.elapsed();
    let status = res.status().as_u16();
    let class = (status / 100).clamp(1, 5) as usize - 1;
    REQUESTS[class].fetch_add(1, Ordering::Relaxed);
    let secs = elapsed.as_secs_f64();
    let bucket = LATENCY_BUCKETS.iter().position(|b| secs <= *b).unwrap_or(LATENCY_BUCKETS.len());
    LATENCY[bucket].fetch_add(1, Ordering::Relaxed);
    LATENCY_SUM_US.fetch_add(u64::try_from(elapsed.as_micros()).unwrap_or(u64::MAX), Ordering::Relaxed);
    let ms = secs * 1000.0;
    match status {
        500.. => tracing::warn!(target: "custodia::http", %method, %path, status, ms, "request failed"),
        400..=499 => tracing::info!(target: "custodia::http", %method, %path, status, ms, "request refused"),
        _ => tracing::debug!(target: "custodia::http", %method, %path, status, ms, "request"),
    }
    res
}

/// The latency histogram in Prometheus text.
fn write_latency(out: &mut String) {
    let _ = writeln!(out, "# HELP custodia_http_request_duration_seconds Time to answer a request.");
    let _ = writeln!(out, "# TYPE custodia_http_request_duration_seconds histogram");
    let mut cumulative = 0;
    for (i, bound) in LATENCY_BUCKETS.iter().enumerate() {
        cumulative += LATENCY[i].load(Ordering::Relaxed);
        let _ = writeln!(out, "custodia_http_request_duration_seconds_bucket{{le=\"{bound}\"}} {cumulative}");
    }
    cumulative += LATENCY[LATENCY_BUCKETS.len()].load(Ordering::Relaxed);
    let _ = writeln!(out, "custodia_http_request_duration_seconds_bucket{{le=\"+Inf\"}} {cumulative}");
    let sum = LATENCY_SUM_US.load(Ordering::Relaxed) as f64 / 1e6;
    let _ = writeln!(out, "custodia_http_request_duration_seconds_sum {sum}");
    let _ = writeln!(out, "custodia_http_request_duration_seconds_count {cumulative}");
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
    write_latency(&mut out);
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
            let _ = writeln!(
                out,
                "# HELP custodia_accesses Accesses to cases committed to the log, by role.\n# TYPE custodia_accesses gauge"
            );
            for (role, n) in &s.accesses_by_role {
                let _ = writeln!(out, "custodia_accesses{{role=\"{role}\"}} {n}");
            }
        }
    }
    if let Some(peers) = &state.peers {
        let _ = writeln!(
            out,
            "# HELP custodia_outbox_pending Messages waiting for delivery.\n# TYPE custodia_outbox_pending gauge\ncustodia_outbox_pending {}",
            peers.pending()
        );
        let _ = writeln!(
            out,
            "# HELP custodia_outbox_not_acted Messages delivered that their receiver then did not act on (outbox/DEST/refused/*.refusal).\n# TYPE custodia_outbox_not_acted gauge\ncustodia_outbox_not_acted {}",
            peers.refused_after_delivery().len()
        );
    }
    let _ = writeln!(
        out,
        "# HELP custodia_role_pages_passes_total Whole passes over the cases made by the role pages.\n# TYPE custodia_role_pages_passes_total counter\ncustodia_role_pages_passes_total {}",
        state.role_pages.passes()
    );
    if let Some(cases) = &state.cases {
        let _ =
            writeln!(out, "# HELP custodia_cases Cases at this node, by kind and state.\n# TYPE custodia_cases gauge");
        for (kind, st, n) in cases.count_by_state().await.unwrap_or_default() {
            let _ = writeln!(out, "custodia_cases{{kind=\"{kind}\",state=\"{st}\"}} {n}");
        }
        let kept = cases.cache_stats();
        let _ = writeln!(
            out,
            "# HELP custodia_case_reads_total Reads of a case record, by where they were answered.\n# TYPE custodia_case_reads_total counter\ncustodia_case_reads_total{{from=\"memory\"}} {}\ncustodia_case_reads_total{{from=\"database\"}} {}",
            kept.hits, kept.misses
        );
    }
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8")], out).into_response()
}

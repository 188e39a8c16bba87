//! The web UI: server-rendered pages (askama, escaping by default), static assets served
//! from the node's own origin (no CDN), a strict Content-Security-Policy. Charts are
//! drawn by Chart.js (npm) from tables that stay in the page, so every page reads
//! correctly without JavaScript.

use askama::Template;
use axum::extract::{Path, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};

use crate::api::AppState;
use crate::problem::Problem;

/// The Content-Security-Policy of every page: only this origin's scripts and styles.
pub const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

/// One revealed event, as the public page lists it.
#[derive(Debug)]
pub struct RevealedRow {
    /// When it happened.
    pub at: String,
    /// Its kind.
    pub kind: String,
    /// The role that acted.
    pub actor: String,
    /// The case tag.
    pub case_tag: String,
}

#[derive(Template)]
#[template(path = "public.html")]
struct PublicPage {
    node_name: String,
    role: String,
    state: String,
    today: String,
    log_size: u64,
    log_key: String,
    base_url: String,
    overdue: u64,
    secret: u64,
    revealed: u64,
    invalid_reveals: u64,
    commitments: Vec<(String, u64)>,
    by_measure: Vec<(String, u64)>,
    by_state: Vec<(String, u64)>,
    decisions: Vec<(String, u64)>,
    rulings: Vec<(String, u64)>,
    revealed_events: Vec<RevealedRow>,
    checkpoint: Option<String>,
}

/// An HTML response with the page headers (CSP and friends).
pub fn page(html: String) -> Response {
    let mut res = Html(html).into_response();
    let h = res.headers_mut();
    h.insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static(CSP));
    h.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    h.insert(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    res
}

/// `GET /`: the public transparency page (no login).
pub async fn public(State(state): State<AppState>) -> Response {
    let today = crate::clock::today();
    let cfg = &state.config.config;
    let log_dir = state.config.base.join(&cfg.storage.log_dir);
    let checkpoint = tokio::fs::read_to_string(log_dir.join("checkpoint")).await.ok();
    let (entries, size, key) = match state.log.clone() {
        Some(log) => {
            match tokio::task::spawn_blocking(move || log.entries().map(|e| (e, log.size(), log.verifier_key.clone())))
                .await
            {
                Ok(Ok(x)) => x,
                Ok(Err(e)) => {
                    return Problem::new(StatusCode::INTERNAL_SERVER_ERROR, "log-read", "The log could not be read")
                        .detail(e.to_string())
                        .into_response();
                }
                Err(e) => {
                    return Problem::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", "Internal error")
                        .detail(e.to_string())
                        .into_response();
                }
            }
        }
        None => (Vec::new(), 0, String::new()),
    };
    let stats = case::commitment::statistics(entries.iter().map(Vec::as_slice), today);
    let mut revealed: Vec<RevealedRow> = case::commitment::revealed(entries.iter().map(Vec::as_slice))
        .into_iter()
        .map(|(c, e)| RevealedRow {
            at: e.at.to_string(),
            kind: c.kind,
            actor: e.actor.id().into(),
            case_tag: c.case_tag,
        })
        .collect();
    revealed.reverse();
    revealed.truncate(100);
    let p = PublicPage {
        node_name: cfg.node.name.clone(),
        role: cfg.node.role.id().replace('_', " "),
        state: cfg.node.state.clone(),
        today: today.to_string(),
        log_size: size,
        log_key: key,
        base_url: format!("http://{}", state.config.listen),
        overdue: stats.overdue,
        secret: stats.secret,
        revealed: stats.revealed,
        invalid_reveals: stats.invalid_reveals,
        commitments: stats.commitments.into_iter().collect(),
        by_measure: stats.requests_by_measure.into_iter().collect(),
        by_state: stats.requests_by_requesting_state.into_iter().collect(),
        decisions: stats.decisions_by_action.into_iter().collect(),
        rulings: stats.objection_rulings.into_iter().collect(),
        revealed_events: revealed,
        checkpoint,
    };
    match p.render() {
        Ok(html) => page(html),
        Err(e) => Problem::new(StatusCode::INTERNAL_SERVER_ERROR, "render", "The page could not be rendered")
            .detail(e.to_string())
            .into_response(),
    }
}

/// The static assets, embedded in the binary.
const ASSETS: &[(&str, &str, &[u8])] = &[
    ("custodia.css", "text/css; charset=utf-8", include_bytes!("../static/custodia.css")),
    ("charts.js", "text/javascript; charset=utf-8", include_bytes!("../static/charts.js")),
    ("vendor/chart.umd.min.js", "text/javascript; charset=utf-8", include_bytes!("../static/vendor/chart.umd.min.js")),
    ("vendor/htmx.min.js", "text/javascript; charset=utf-8", include_bytes!("../static/vendor/htmx.min.js")),
];

/// `GET /static/...`
pub async fn asset(Path(path): Path<String>) -> Response {
    match ASSETS.iter().find(|(name, _, _)| *name == path) {
        Some((_, ctype, body)) => {
            let mut res = (*body).into_response();
            let h = res.headers_mut();
            h.insert(header::CONTENT_TYPE, HeaderValue::from_static(ctype));
            h.insert(header::CACHE_CONTROL, HeaderValue::from_static("public, max-age=3600"));
            h.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
            res
        }
        None => Problem::not_found("such asset").into_response(),
    }
}

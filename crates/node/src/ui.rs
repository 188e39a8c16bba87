//! The web UI: server-rendered pages (askama, escaping by default), static assets served
//! from the node's own origin (no CDN), a strict Content-Security-Policy. Charts are
//! drawn on the server as SVG (`charts`, plotters), each with its figures as a table, so
//! every page reads correctly without JavaScript.

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
    pub at: crate::roles::When,
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
    charts: Vec<crate::charts::Chart>,
    commitments: crate::charts::Chart,
    revealed_events: Vec<RevealedRow>,
    checkpoint: crate::roles::SignedCheckpoint,
    cosigned: Option<crate::roles::SignedCheckpoint>,
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

/// `GET /`: the public transparency page (no login): the statistics and charts
/// recomputed from the log alone (kept while the log's size and the day stay the same),
/// the latest checkpoint with its cosignatures, the revealed events, and how to verify.
pub async fn public(State(state): State<AppState>) -> Response {
    let today = crate::clock::today();
    let cfg = &state.config.config;
    let (checkpoint, cosigned) = crate::roles::checkpoints(&state).await;
    let (figures, size, key) = match state.log.clone() {
        Some(log) => match state.role_pages.public(&log, today).await {
            Ok(f) => (Some(f.clone()), f.key.0, log.verifier_key.clone()),
            Err(p) => return p.into_response(),
        },
        None => (None, 0, String::new()),
    };
    let empty = crate::roles::PublicFigures { key: (0, 0), stats: Default::default(), revealed: Vec::new() };
    let f = figures.as_deref().unwrap_or(&empty);
    let stats = &f.stats;
    let revealed_events: Vec<RevealedRow> = f
        .revealed
        .iter()
        .rev()
        .take(100)
        .map(|(tag, e)| RevealedRow {
            at: crate::roles::when(e.at),
            kind: e.kind().replace('_', " "),
            actor: e.actor.id().replace('_', " "),
            case_tag: tag.clone(),
        })
        .collect();
    let commitments: Vec<(String, f64)> =
        stats.commitments.iter().map(|(k, n)| (k.replace('_', " "), *n as f64)).collect();
    let p = PublicPage {
        node_name: cfg.node.name.clone(),
        role: cfg.node.role.id().replace('_', " "),
        state: cfg.node.state.clone(),
        today: today.to_string(),
        log_size: size,
        log_key: key,
        base_url: format!(
            "{}://{}",
            if state.config.config.http.tls_cert.is_some() { "https" } else { "http" },
            state.config.listen
        ),
        overdue: stats.overdue,
        secret: stats.secret,
        revealed: stats.revealed,
        invalid_reveals: stats.invalid_reveals,
        charts: crate::roles::public_charts(f),
        commitments: crate::charts::bars("p-commitments", "Events committed, by kind", "commitments", &commitments),
        revealed_events,
        cosigned,
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
    ("time.js", "text/javascript; charset=utf-8", include_bytes!("../static/time.js")),
    ("upload.js", "text/javascript; charset=utf-8", include_bytes!("../static/upload.js")),
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

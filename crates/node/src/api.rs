//! The HTTP API under `/api/v1`, described by the OpenAPI document that this code
//! generates (utoipa) and serves at `/api/v1/openapi.json`.

use std::sync::Arc;

use axum::Json;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use utoipa::{OpenApi, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::config::Resolved;
use crate::problem::Problem;

/// Shared state of the handlers.
#[derive(Clone, Debug)]
pub struct AppState {
    /// The validated configuration.
    pub config: Arc<Resolved>,
    /// The OpenAPI document, rendered once.
    pub openapi: Arc<String>,
    /// The node's own transparency log, when it is open for appending.
    pub log: Option<Arc<crate::transparency::Transparency>>,
    /// The token registry.
    pub tokens: crate::auth::Tokens,
    /// People's accounts and sessions.
    pub users: Arc<crate::users::Users>,
    /// The cases service, when storage is open.
    pub cases: Option<Arc<crate::cases::Cases>>,
    /// Evidence blobs, when storage is open.
    pub blobs: Option<Arc<store::BlobStore>>,
    /// This node's place in the federation, when it has one.
    pub peers: Option<Arc<crate::peers::Peers>>,
    /// Witnessing (of others' logs, and of this node's by others), with a federation.
    pub witnessing: Option<Arc<crate::witnessing::Witnessing>>,
    /// What the role pages keep between requests (their pass over the cases).
    pub role_pages: Arc<crate::roles::Cache>,
    /// Files of evidence uploads in progress (who holds each, the hash of what arrived).
    pub uploading: Arc<crate::evidence::Uploading>,
}

/// A decision's outcome (POLICY.md).
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
#[allow(dead_code)]
enum Outcome {
    Admissible,
    Incomplete,
    Consult,
    Review,
    Refused,
}

/// A ground that applies to the request.
#[derive(Serialize, ToSchema)]
#[allow(dead_code)]
struct Ground {
    /// The rule's code (`no_dual_criminality`).
    code: String,
    /// How severe it is.
    level: Outcome,
    /// The article the rule rests on (`UNCC 35(2)`).
    article: String,
    /// A sentence for a person.
    detail: String,
    /// For `missing`: the absent field's path.
    field: Option<String>,
    /// For `not_party`: the State that is not bound.
    state: Option<String>,
}

/// A condition attached to an admissible or review decision.
#[derive(Serialize, ToSchema)]
#[allow(dead_code)]
struct Condition {
    /// The condition's code (`use_limitation`).
    code: String,
    /// The article it rests on.
    article: String,
    /// A sentence for a person.
    detail: String,
    /// For dated conditions: the last day (YYYY-MM-DD).
    until: Option<String>,
}

/// The decision on a request (the contract of `custodia policy check`).
#[derive(Serialize, ToSchema)]
#[allow(dead_code)]
struct Decision {
    /// The most severe level among the grounds.
    outcome: Outcome,
    /// Every ground that applies.
    grounds: Vec<Ground>,
    /// Conditions, on admissible and review outcomes only.
    conditions: Vec<Condition>,
}

/// One row of the rule table.
#[derive(Serialize, ToSchema)]
struct Rule {
    /// The code its grounds carry.
    code: &'static str,
    /// `refused`, `incomplete`, `consult`, `review`, or `condition`.
    level: String,
    /// The article.
    article: String,
    /// When it applies.
    when: &'static str,
}

/// Transparency statistics, recomputed from the node's log alone.
#[derive(Serialize, ToSchema)]
struct Statistics {
    /// The day they are computed for (UTC).
    today: String,
    /// The log's size.
    log_size: u64,
    /// The log's verifier key.
    log_key: String,
    /// Commitments by event kind.
    commitments: std::collections::BTreeMap<String, u64>,
    /// Commitments opened by a valid reveal.
    revealed: u64,
    /// Reveal entries that open nothing.
    invalid_reveals: u64,
    /// Still secret, within their (possibly extended) reveal-by date.
    secret: u64,
    /// Past their reveal-by date and not revealed: secrecy kept beyond its expiry.
    overdue: u64,
    /// Entries that are neither commitments, reveals nor accesses.
    other_entries: u64,
    /// Accesses to cases, by the role of who accessed them (every read of a case is logged).
    accesses_by_role: std::collections::BTreeMap<String, u64>,
    /// From revealed events: requests by measure.
    requests_by_measure: std::collections::BTreeMap<String, u64>,
    /// From revealed events: requests by requesting State.
    requests_by_requesting_state: std::collections::BTreeMap<String, u64>,
    /// From revealed events: decisions by action.
    decisions_by_action: std::collections::BTreeMap<String, u64>,
    /// From revealed events: objection rulings.
    objection_rulings: std::collections::BTreeMap<String, u64>,
}

/// The node's transparency statistics, recomputed now from its log (anyone can do the
/// same from the log's tiles: `case::commitment::statistics`).
#[utoipa::path(
    get,
    path = "/api/v1/transparency/statistics",
    tag = "transparency",
    responses(
        (status = 200, body = Statistics),
        (status = 503, description = "This node has no open log", body = Problem, content_type = "application/problem+json"),
    )
)]
async fn transparency_statistics(State(state): State<AppState>) -> Response {
    let Some(log) = state.log.clone() else {
        return Problem::new(StatusCode::SERVICE_UNAVAILABLE, "no-log", "This node has no open log").into_response();
    };
    let today = crate::clock::today();
    let read =
        tokio::task::spawn_blocking(move || log.entries().map(|e| (e, log.size(), log.verifier_key.clone()))).await;
    match read {
        Ok(Ok((entries, size, key))) => {
            let s = case::commitment::statistics(entries.iter().map(Vec::as_slice), today);
            Json(Statistics {
                today: today.to_string(),
                log_size: size,
                log_key: key,
                commitments: s.commitments,
                revealed: s.revealed,
                invalid_reveals: s.invalid_reveals,
                secret: s.secret,
                overdue: s.overdue,
                other_entries: s.other_entries,
                accesses_by_role: s.accesses_by_role,
                requests_by_measure: s.requests_by_measure,
                requests_by_requesting_state: s.requests_by_requesting_state,
                decisions_by_action: s.decisions_by_action,
                objection_rulings: s.objection_rulings,
            })
            .into_response()
        }
        Ok(Err(e)) => Problem::new(StatusCode::INTERNAL_SERVER_ERROR, "log-read", "The log could not be read")
            .detail(e.to_string())
            .into_response(),
        Err(e) => Problem::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", "Internal error")
            .detail(e.to_string())
            .into_response(),
    }
}

/// The node: who it is.
#[derive(Serialize, ToSchema)]
struct NodeInfo {
    /// The node's name in the federation.
    name: String,
    /// What kind of participant it is.
    role: String,
    /// Its State.
    state: String,
    /// custodia's version.
    version: &'static str,
}

struct BearerAuth;

impl utoipa::Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some("An API token from `custodia admin token create`"))
                    .build(),
            ),
        );
    }
}

#[derive(OpenApi)]
#[openapi(
    modifiers(&BearerAuth),
    // Routed by hand: a file's name may contain `/` (`{*name}` in the router).
    paths(crate::evidence::download),
    info(title = "custodia node API", description = "Cross-border requests for electronic evidence under the UNCC, ETS 185 and CETS 224, with the safeguards built in. Errors are RFC 9457 problem documents."),
    tags(
        (name = "policy", description = "Admissibility and safeguards"),
        (name = "transparency", description = "The node's public log and the statistics recomputed from it"),
        (name = "cases", description = "Cases at this node: their life, commands and events"),
        (name = "evidence", description = "Sealed evidence packages: resumable uploads verified against their manifest, downloads with ranges"),
        (name = "node", description = "This node")
    )
)]
struct ApiDoc;

/// Decide a case file (profiles + request) now: the live check of a draft.
#[utoipa::path(
    post,
    path = "/api/v1/policy/check",
    tag = "policy",
    request_body(content = String, description = "A case file (case.schema.json)", content_type = "application/json"),
    responses(
        (status = 200, description = "The decision", body = Decision),
        (status = 413, description = "The body is larger than limits.max_json_bytes", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Not a valid case file: every problem with its JSON path", body = Problem, content_type = "application/problem+json"),
    )
)]
async fn policy_check(State(state): State<AppState>, body: Result<Bytes, BytesRejection>) -> Response {
    let body = match body {
        Ok(b) => b,
        Err(rejection) => {
            let limit = state.config.config.limits.max_json_bytes;
            return Problem::new(StatusCode::PAYLOAD_TOO_LARGE, "body-too-large", "The body is too large")
                .detail(format!("{rejection}; the limit is {limit} bytes"))
                .into_response();
        }
    };
    match policy::parse_case(&body) {
        Ok(case) => Json(policy::evaluate(&case)).into_response(),
        Err(problems) => Problem::invalid_case(problems).into_response(),
    }
}

/// The rule table: every rule and condition with its article.
#[utoipa::path(get, path = "/api/v1/policy/rules", tag = "policy", responses((status = 200, body = Vec<Rule>)))]
async fn policy_rules() -> Json<Vec<Rule>> {
    let grounds = policy::rules::RULES.iter().map(|r| Rule {
        code: r.code,
        level: r.level.id().into(),
        article: r.article.to_string(),
        when: r.when,
    });
    let conditions = policy::rules::CONDITIONS.iter().map(|c| Rule {
        code: c.code,
        level: "condition".into(),
        article: c.article.to_string(),
        when: c.when,
    });
    Json(grounds.chain(conditions).collect())
}

/// Who this node is.
#[utoipa::path(get, path = "/api/v1/node", tag = "node", responses((status = 200, body = NodeInfo)))]
async fn node_info(State(state): State<AppState>) -> Json<NodeInfo> {
    let c = &state.config.config.node;
    Json(NodeInfo {
        name: c.name.clone(),
        role: c.role.id().into(),
        state: c.state.clone(),
        version: env!("CARGO_PKG_VERSION"),
    })
}

async fn openapi_json(State(state): State<AppState>) -> Response {
    ([(axum::http::header::CONTENT_TYPE, "application/json")], state.openapi.as_str().to_owned()).into_response()
}

async fn healthz() -> &'static str {
    "ok\n"
}

async fn not_found() -> Problem {
    Problem::not_found("resource")
}

/// The OpenAPI document of this API.
pub fn openapi() -> utoipa::openapi::OpenApi {
    let (_, api) = api_router().split_for_parts();
    api
}

fn api_router() -> OpenApiRouter<AppState> {
    OpenApiRouter::with_openapi(ApiDoc::openapi())
        .routes(routes!(policy_check))
        .routes(routes!(policy_rules))
        .routes(routes!(node_info))
        .routes(routes!(transparency_statistics))
        .routes(routes!(crate::api_cases::create, crate::api_cases::list))
        .routes(routes!(crate::api_cases::get))
        .routes(routes!(crate::api_cases::events))
        .routes(routes!(crate::api_cases::accesses))
        .routes(routes!(crate::api_cases::command))
        .routes(routes!(crate::evidence::start))
        .routes(routes!(crate::evidence::complete))
        .routes(routes!(crate::evidence::offset, crate::evidence::put))
}

/// The node's HTTP application, without a log open for appending (it still serves the
/// log directory's tiles) and without case storage.
pub fn app(config: Resolved) -> axum::Router {
    app_with(config, None, None, None)
}

/// The node's whole HTTP application.
pub fn app_with(
    config: Resolved,
    log: Option<Arc<crate::transparency::Transparency>>,
    cases: Option<Arc<crate::cases::Cases>>,
    blobs: Option<Arc<store::BlobStore>>,
) -> axum::Router {
    app_full(config, log, cases, blobs, None)
}

/// The node's whole HTTP application, with witnessing.
pub fn app_full(
    config: Resolved,
    log: Option<Arc<crate::transparency::Transparency>>,
    cases: Option<Arc<crate::cases::Cases>>,
    blobs: Option<Arc<store::BlobStore>>,
    witnessing: Option<Arc<crate::witnessing::Witnessing>>,
) -> axum::Router {
    let (router, api) = api_router().split_for_parts();
    let openapi = api.to_pretty_json().unwrap_or_default();
    let limit = config.config.limits.max_json_bytes;
    let tokens = crate::auth::Tokens::new(config.base.join(&config.config.storage.tokens));
    let users = Arc::new(crate::users::Users::new(config.base.join(&config.config.storage.users)));
    let peers = cases.as_ref().and_then(|c| c.peers());
    let witness = witnessing.as_ref().map(|w| tlog::witness_server::router(w.witness.clone()));
    let state = AppState {
        config: Arc::new(config),
        openapi: Arc::new(openapi),
        log,
        tokens,
        users,
        cases,
        blobs,
        peers,
        witnessing,
        role_pages: Arc::default(),
        uploading: Arc::default(),
    };
    let router = router
        .route("/api/v1/openapi.json", axum::routing::get(openapi_json))
        .route("/", axum::routing::get(crate::ui::public))
        .route("/login", axum::routing::get(crate::login::page).post(crate::login::submit))
        .route("/logout", axum::routing::post(crate::login::logout))
        .route("/me", axum::routing::get(crate::login::me))
        .route("/cases", axum::routing::get(crate::pages::list).post(crate::draft::open))
        .route("/cases/{id}", axum::routing::get(crate::pages::show).post(crate::pages::act))
        .route("/judge", axum::routing::get(crate::roles::judge))
        .route("/authority", axum::routing::get(crate::roles::authority))
        .route("/provider", axum::routing::get(crate::roles::provider))
        .route("/oversight", axum::routing::get(crate::roles::oversight))
        .route("/draft", axum::routing::get(crate::draft::draft).post(crate::draft::draft))
        .route("/static/{*path}", axum::routing::get(crate::ui::asset))
        .route("/api/v1/evidence/{manifest}/{*name}", axum::routing::get(crate::evidence::download))
        .route("/api/v1/inbox", axum::routing::post(crate::inbox::receive))
        .route("/api/v1/inbox/batch", axum::routing::post(crate::inbox::receive_batch))
        .route("/favicon.ico", axum::routing::get(|| async { StatusCode::NO_CONTENT }))
        .route("/healthz", axum::routing::get(healthz))
        .route("/metrics", axum::routing::get(crate::metrics::metrics))
        .route("/log/checkpoint", axum::routing::get(crate::log::checkpoint))
        .route("/log/tile/{*rest}", axum::routing::get(crate::log::tile))
        .route("/readyz", axum::routing::get(healthz))
        .fallback(not_found)
        .layer(axum::middleware::from_fn(crate::metrics::count))
        .layer(DefaultBodyLimit::max(limit))
        .with_state(state);
    match witness {
        Some(w) => router.nest("/witness", w),
        None => router,
    }
}

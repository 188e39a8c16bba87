//! `/api/v1/cases`: open cases, run commands on them, read them and their events.

use std::sync::Arc;

use axum::Json;
use axum::body::Bytes;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::{Value, json};
use utoipa::{IntoParams, ToSchema};

use crate::api::AppState;
use crate::auth::{self, Caller};
use crate::cases::Cases;
use crate::problem::Problem;

fn parse_json<T: serde::de::DeserializeOwned>(body: &[u8]) -> Result<T, Problem> {
    serde_json::from_slice(body).map_err(|e| {
        Problem::new(StatusCode::BAD_REQUEST, "bad-json", "The body is not what this route takes").detail(format!(
            "{e} (line {}, column {})",
            e.line(),
            e.column()
        ))
    })
}

/// A JSON body already serialized.
fn json_body(status: StatusCode, body: Bytes) -> Response {
    (status, [(axum::http::header::CONTENT_TYPE, "application/json")], body).into_response()
}

/// `{"items": [VIEW, …], "next": CURSOR}` from the views' kept JSON.
fn page_json(items: &[Arc<crate::cases::CaseView>], next: Option<&str>) -> Bytes {
    let items: Vec<Bytes> = items.iter().map(|v| v.to_json()).collect();
    let mut out = Vec::with_capacity(items.iter().map(|b| b.len() + 1).sum::<usize>() + 64);
    out.extend_from_slice(b"{\"items\":[");
    for (i, b) in items.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        out.extend_from_slice(b);
    }
    out.extend_from_slice(b"],\"next\":");
    // A string or null: writing to a Vec cannot fail.
    let _ = serde_json::to_writer(&mut out, &next);
    out.push(b'}');
    out.into()
}

fn ready(state: &AppState, method: axum::http::Method, headers: &HeaderMap) -> Result<(Arc<Cases>, Caller), Problem> {
    let caller = auth::who(state, &method, headers)?;
    let cases = state.cases.clone().ok_or_else(|| {
        Problem::new(StatusCode::SERVICE_UNAVAILABLE, "no-store", "This node has no case storage open")
    })?;
    Ok((cases, caller))
}

fn reply(r: Result<Response, Problem>) -> Response {
    r.unwrap_or_else(IntoResponse::into_response)
}

/// A new case.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewCaseBody {
    /// The case's id at this node (default: a random one).
    id: Option<String>,
    /// `requesting`, `requested` or `provider`.
    side: String,
    /// The case file: the States' profiles and the request (case.schema.json).
    #[schema(value_type = Object)]
    case_file: Value,
    /// Made through the 24/7 channel as an emergency.
    #[serde(default)]
    emergency: bool,
}

/// Open a case from a case file (the policy is evaluated at once).
#[utoipa::path(
    post,
    path = "/api/v1/cases",
    tag = "cases",
    request_body = NewCaseBody,
    security(("bearer" = [])),
    responses(
        (status = 201, description = "The case, its version and the policy's decision", body = Object),
        (status = 400, description = "Not JSON, or not this shape", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "No valid token", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "This role may not open this kind of case", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "A case with this id exists", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "The case file is not valid", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn create(State(state): State<AppState>, headers: HeaderMap, body: Bytes) -> Response {
    reply(
        async {
            let (cases, caller) = ready(&state, axum::http::Method::POST, &headers)?;
            let b: NewCaseBody = parse_json(&body)?;
            let side = case::Side::ALL.iter().copied().find(|s| s.id() == b.side).ok_or_else(|| {
                Problem::new(StatusCode::BAD_REQUEST, "bad-side", "Unknown side")
                    .detail(format!("{:?}: expected requesting, requested or provider", b.side))
                    .field("side")
            })?;
            let view = cases.create(&caller, b.id, side, &b.case_file, b.emergency, crate::clock::now()).await?;
            Ok(json_body(StatusCode::CREATED, view.to_json()))
        }
        .await,
    )
}

/// Listing parameters.
#[derive(Debug, Deserialize, IntoParams)]
pub struct ListParams {
    /// Only cases in this state.
    state: Option<String>,
    /// Where the page starts (from the previous page's `next`).
    cursor: Option<String>,
    /// How many (1 to 1000, default 50).
    #[param(minimum = 1, maximum = 1000)]
    limit: Option<u32>,
}

/// The largest page `GET /api/v1/cases` returns.
const MAX_LIMIT: u32 = 1000;

/// The listing parameters, or a problem naming the parameter at fault (never axum's
/// plain-text rejection).
fn list_params(q: Result<Query<ListParams>, QueryRejection>) -> Result<ListParams, Problem> {
    let Query(q) = q.map_err(|e| {
        let text = e.body_text();
        let field = text.split_once(": ").and_then(|(_, rest)| rest.split_once(':')).map(|(f, _)| f.to_string());
        let p = Problem::new(StatusCode::BAD_REQUEST, "invalid-query", "Invalid query parameters").detail(text);
        match field {
            Some(f) => p.field(f),
            None => p,
        }
    })?;
    if let Some(n) = q.limit
        && !(1..=MAX_LIMIT).contains(&n)
    {
        return Err(Problem::new(StatusCode::BAD_REQUEST, "invalid-query", "Invalid query parameters")
            .detail(format!("limit: {n} is outside 1 to {MAX_LIMIT}"))
            .field("limit"));
    }
    Ok(q)
}

/// The cases the caller may see, a page at a time.
#[utoipa::path(get, path = "/api/v1/cases", tag = "cases", params(ListParams), security(("bearer" = [])),
    responses((status = 200, description = "`items` and the `next` cursor", body = Object), (status = 400, description = "A bad cursor, limit or state", body = Problem, content_type = "application/problem+json"), (status = 401, body = Problem, content_type = "application/problem+json")))]
pub async fn list(
    State(state): State<AppState>,
    headers: HeaderMap,
    q: Result<Query<ListParams>, QueryRejection>,
) -> Response {
    reply(
        async {
            let (cases, caller) = ready(&state, axum::http::Method::GET, &headers)?;
            let q = list_params(q)?;
            let (items, next) =
                cases.list(&caller, q.state, q.cursor.as_deref(), q.limit.unwrap_or(50), crate::clock::today()).await?;
            Ok(json_body(StatusCode::OK, page_json(&items, next.as_deref())))
        }
        .await,
    )
}

/// One case, as the caller may see it.
#[utoipa::path(get, path = "/api/v1/cases/{id}", tag = "cases", params(("id" = String, Path, description = "The case's id")), security(("bearer" = [])),
    responses((status = 200, body = Object), (status = 400, description = "Not a possible case id", body = Problem, content_type = "application/problem+json"), (status = 401, body = Problem, content_type = "application/problem+json"), (status = 404, body = Problem, content_type = "application/problem+json")))]
pub async fn get(State(state): State<AppState>, headers: HeaderMap, Path(id): Path<String>) -> Response {
    reply(
        async {
            let (cases, caller) = ready(&state, axum::http::Method::GET, &headers)?;
            let view = cases.get(&caller, &id, crate::clock::today()).await?;
            cases.record_access(&caller, &id, "read", crate::clock::now()).await?;
            Ok(json_body(StatusCode::OK, view.to_json()))
        }
        .await,
    )
}

/// A case's events, with where each is committed in the node's log.
#[utoipa::path(get, path = "/api/v1/cases/{id}/events", tag = "cases", params(("id" = String, Path, description = "The case's id")), security(("bearer" = [])),
    responses((status = 200, body = Object), (status = 400, description = "Not a possible case id", body = Problem, content_type = "application/problem+json"), (status = 401, body = Problem, content_type = "application/problem+json"), (status = 404, body = Problem, content_type = "application/problem+json")))]
pub async fn events(State(state): State<AppState>, headers: HeaderMap, Path(id): Path<String>) -> Response {
    reply(
        async {
            let (cases, caller) = ready(&state, axum::http::Method::GET, &headers)?;
            let events = cases.events(&caller, &id).await?;
            cases.record_access(&caller, &id, "events", crate::clock::now()).await?;
            Ok(Json(events).into_response())
        }
        .await,
    )
}

/// Who accessed a case, when, as which role and to see what, with where each access is
/// committed in the node's log. Every read of a case, of its events, of this list, of its
/// evidence and of its page is such an access, recorded before it is answered.
#[utoipa::path(get, path = "/api/v1/cases/{id}/accesses", tag = "cases", params(("id" = String, Path, description = "The case's id")), security(("bearer" = [])),
    responses((status = 200, body = Object), (status = 400, description = "Not a possible case id", body = Problem, content_type = "application/problem+json"), (status = 401, body = Problem, content_type = "application/problem+json"), (status = 404, body = Problem, content_type = "application/problem+json")))]
pub async fn accesses(State(state): State<AppState>, headers: HeaderMap, Path(id): Path<String>) -> Response {
    reply(
        async {
            let (cases, caller) = ready(&state, axum::http::Method::GET, &headers)?;
            let list = cases.accesses(&caller, &id).await?;
            cases.record_access(&caller, &id, "accesses", crate::clock::now()).await?;
            Ok(Json(json!({ "items": list })).into_response())
        }
        .await,
    )
}

/// Run a command on a case (`{"command": "decide", "action": "admit", "reasons": [], "until": null}`;
/// see docs/lifecycle.md). `If-Match: VERSION` refuses the command if the case changed.
#[utoipa::path(post, path = "/api/v1/cases/{id}/commands", tag = "cases", params(("id" = String, Path, description = "The case's id")), security(("bearer" = [])),
    request_body(content = Object, description = "A command, tagged by `command`"),
    responses(
        (status = 200, description = "The case after the command, and the events it made", body = Object),
        (status = 400, description = "Not a command", body = Problem, content_type = "application/problem+json"),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Not a command for this role here", body = Problem, content_type = "application/problem+json"),
        (status = 404, body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "The case changed meanwhile", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Refused: wrong state, missing reasons, a date in the past, ...", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn command(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: Bytes,
) -> Response {
    reply(
        async {
            let (cases, caller) = ready(&state, axum::http::Method::POST, &headers)?;
            let cmd: case::Command = parse_json(&body)?;
            let expected = match headers.get("if-match") {
                None => None,
                Some(v) => Some(
                    v.to_str()
                        .ok()
                        .map(|s| s.trim().trim_matches('"'))
                        .and_then(|s| s.parse::<u64>().ok())
                        .ok_or_else(|| {
                            Problem::new(StatusCode::BAD_REQUEST, "bad-if-match", "If-Match must be the case's version")
                                .field("If-Match")
                        })?,
                ),
            };
            let (view, events) = cases.command(&caller, &id, &cmd, expected, crate::clock::now()).await?;
            let mut out = b"{\"case\":".to_vec();
            out.extend_from_slice(&view.to_json());
            out.extend_from_slice(b",\"events\":");
            serde_json::to_writer(&mut out, &events).map_err(|e| {
                Problem::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", "Internal error").detail(e.to_string())
            })?;
            out.push(b'}');
            Ok(json_body(StatusCode::OK, out.into()))
        }
        .await,
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cases::CaseView;

    #[test]
    fn kept_json_is_the_views_serialization() {
        let full = Arc::new(CaseView::new(
            3,
            json!({ "id": "c-1", "title": "a \"quoted\" name", "n": [1, 2.5, null] }),
            Some(json!({ "outcome": "admissible", "reasons": [] })),
        ));
        let meta = Arc::new(CaseView::new(1, json!({ "id": "c-2" }), None));
        for view in [&full, &meta] {
            let kept: Value = serde_json::from_slice(&view.to_json()).unwrap();
            assert_eq!(kept, serde_json::to_value(view.as_ref()).unwrap());
            // Serialized once: the same bytes again.
            assert_eq!(view.to_json().as_ptr(), view.to_json().as_ptr());
        }
        assert_eq!(&meta.to_json()[..], br#"{"version":1,"case":{"id":"c-2"}}"#);
        for (items, next) in [(vec![full.clone(), meta.clone()], Some("c1.00ff")), (vec![], None)] {
            let page: Value = serde_json::from_slice(&page_json(&items, next)).unwrap();
            assert_eq!(page, json!({ "items": items, "next": next }));
        }
    }
}

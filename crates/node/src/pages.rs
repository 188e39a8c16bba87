//! The pages for people at work, by role, server-rendered: `/cases` (the cases the role
//! may see, with their state, next deadline and what is awaited; a judge's queue, a
//! central authority's incoming requests, a provider's inbox) and `/cases/{id}` (the
//! policy's grounds with their articles, the history, and a form for each command the
//! transition table allows this role now, asking for reasons where the rule wants them).
//! Every form carries the session's CSRF token.

use askama::Template;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use case::{CommandKind, Role, State as CaseState};
use serde_json::{Value, json};

use crate::api::AppState;
use crate::problem::Problem;
use crate::users::Session;

/// One row of the case list.
#[derive(Debug)]
pub struct Row {
    id: String,
    side: String,
    state: String,
    awaited: String,
    deadline: Option<crate::roles::When>,
    secrecy: String,
}

#[derive(Template)]
#[template(path = "cases.html")]
struct CasesPage {
    node_name: String,
    me: String,
    role: String,
    rows: Vec<Row>,
    /// Only the person's own cases (a case worker's).
    own: bool,
}

/// A form for one command.
#[derive(Debug)]
pub struct ActionForm {
    pub(crate) command: String,
    pub(crate) label: String,
    pub(crate) rule: String,
    pub(crate) reasons: bool,
    pub(crate) until: bool,
    pub(crate) reference: bool,
    pub(crate) actions: Vec<String>,
    pub(crate) rulings: bool,
    pub(crate) provider: bool,
    pub(crate) grounds: bool,
    pub(crate) confidential_until: bool,
}

/// One event of the history.
#[derive(Debug)]
pub struct HistoryRow {
    seq: u64,
    at: Option<crate::roles::When>,
    actor: String,
    kind: String,
    detail: String,
    log_index: String,
}

#[derive(Template)]
#[template(path = "case.html")]
struct CasePage {
    node_name: String,
    id: String,
    state: String,
    side: String,
    outcome: String,
    grounds: Vec<(String, String, String, String)>,
    conditions: Vec<(String, String, String)>,
    secrecy: String,
    notification: String,
    deadline: Option<crate::roles::When>,
    history: Vec<HistoryRow>,
    forms: Vec<ActionForm>,
    csrf: String,
    message: String,
}

pub(crate) fn session(state: &AppState, headers: &HeaderMap) -> Option<Session> {
    crate::users::cookie(headers).and_then(|sid| state.users.session(&sid, crate::clock::now().0))
}

pub(crate) fn render(t: impl Template) -> Response {
    match t.render() {
        Ok(html) => crate::ui::page(html),
        Err(e) => Problem::new(StatusCode::INTERNAL_SERVER_ERROR, "render", "The page could not be rendered")
            .detail(e.to_string())
            .into_response(),
    }
}

/// A case's next deadline, for a page.
fn due(case: &Value) -> Option<crate::roles::When> {
    case["deadline"]["due"].as_str().and_then(case::Timestamp::parse).map(crate::roles::when)
}

/// How many cases `/cases` lists (the ones changed last).
pub const LIST_ROWS: usize = 200;

/// What a case in a state is waiting for, in words.
pub(crate) fn awaited(side: &str, state: &str) -> &'static str {
    match (side, state) {
        (_, "draft") => "the case worker: complete and send (or put before a judge)",
        (_, "awaiting_authorization") => "a judge: authorize or refuse",
        (_, "sent") => "the requested State: acknowledgement",
        (_, "acknowledged") => "the requested State: its answer",
        ("requested", "received") => "the central authority: a decision",
        ("provider", "received") => "the provider: acknowledge or object",
        (_, "incomplete") => "the requesting State: what is missing",
        (_, "consultation") => "the States: the end of the consultation",
        (_, "in_review") => "a judge: the review",
        (_, "postponed") => "the end of the postponement",
        ("requested", "admitted") => "the central authority: route it to the provider",
        ("requesting", "admitted") => "the evidence",
        (_, "routed") => "the provider: acknowledge or object",
        (_, "objected") => "a judge: rule on the objection",
        (_, "in_execution") => "the provider: hold or produce",
        (_, "preserved") => "the request for mutual legal assistance, or the hold's end",
        (_, "evidence_received") => "return or close",
        _ => "nothing",
    }
}

/// `GET /cases`
pub async fn list(State(state): State<AppState>, headers: HeaderMap) -> Response {
    let Some(s) = session(&state, &headers) else { return Redirect::to("/login").into_response() };
    let Some(cases) = state.cases.clone() else {
        return Problem::new(StatusCode::SERVICE_UNAVAILABLE, "no-store", "No case storage").into_response();
    };
    // From the role pages' pass over the cases (metadata only: no policy run per row),
    // the 200 changed last first.
    let snap = match state.role_pages.snapshot(&cases, state.log.as_ref()).await {
        Ok(x) => x,
        Err(p) => return p.into_response(),
    };
    let caller = crate::auth::Caller { name: s.name.clone(), role: s.role, token_id: "session".into() };
    let mut seen: Vec<&case::Case> = snap
        .cases
        .iter()
        .filter(|c| crate::cases::listed_for(&caller, c.case.side, c.opened_by.as_deref()))
        .map(|c| &c.case)
        .collect();
    let latest_first = |a: &&case::Case, b: &&case::Case| (b.updated_at.0, &b.id).cmp(&(a.updated_at.0, &a.id));
    if seen.len() > LIST_ROWS {
        seen.select_nth_unstable_by(LIST_ROWS, latest_first);
        seen.truncate(LIST_ROWS);
    }
    seen.sort_unstable_by(latest_first);
    let rows = seen
        .into_iter()
        .map(|c| {
            let (side, st) = (c.side.id(), c.state.id());
            Row {
                id: c.id.clone(),
                awaited: awaited(side, st).into(),
                deadline: c.deadline.map(|d| crate::roles::when(d.due)),
                secrecy: match c.secrecy {
                    case::Secrecy::Secret { until, .. } => format!("until {until}"),
                    case::Secrecy::None => "none".into(),
                    case::Secrecy::RevealDue { .. } => "reveal due".into(),
                    case::Secrecy::Revealed { .. } => "revealed".into(),
                },
                side: side.into(),
                state: st.replace('_', " "),
            }
        })
        .collect();
    render(CasesPage {
        node_name: state.config.config.node.name.clone(),
        me: s.name,
        role: s.role.id().replace('_', " "),
        rows,
        own: s.role == Role::CaseWorker,
    })
}

/// Whether a side-track command makes sense for the case as it stands (the rest of the
/// check is the engine's, on submit).
fn applies(kind: CommandKind, case: &Value) -> bool {
    let secrecy = case["secrecy"]["status"].as_str().unwrap_or("");
    let notification = case["notification"]["status"].as_str().unwrap_or("");
    match kind {
        CommandKind::Reveal => secrecy == "reveal_due",
        CommandKind::ExtendConfidentiality => secrecy == "secret",
        CommandKind::Notify => notification == "due",
        CommandKind::PostponeNotification => notification == "due" || notification == "postponed",
        CommandKind::ExtendHold => !case["hold"].is_null(),
        _ => true,
    }
}

pub(crate) fn forms_for(side: case::Side, st: CaseState, role: Role, case: &Value) -> Vec<ActionForm> {
    case::table::TRANSITIONS
        .iter()
        .filter(|t| applies(t.command, case))
        .filter(|t| {
            t.side == side
                && t.from.contains(&st)
                && t.roles.contains(&role)
                && !matches!(t.command, CommandKind::Tick | CommandKind::Create)
        })
        .map(|t| {
            use CommandKind as K;
            let k = t.command;
            ActionForm {
                command: k.id().into(),
                label: k.id().replace('_', " "),
                rule: t.rule.into(),
                reasons: matches!(
                    k,
                    K::Authorize
                        | K::RefuseAuthorization
                        | K::Decide
                        | K::ConcludeConsultation
                        | K::DecideReview
                        | K::DecideObjection
                        | K::ExtendHold
                        | K::Withdraw
                        | K::ExtendConfidentiality
                        | K::PostponeNotification
                        | K::Close
                        | K::RecordAnswer
                ),
                until: matches!(
                    k,
                    K::Decide
                        | K::ConcludeConsultation
                        | K::PlaceHold
                        | K::ExtendHold
                        | K::ExtendConfidentiality
                        | K::PostponeNotification
                        | K::RecordAnswer
                ),
                reference: k == K::Authorize,
                actions: match k {
                    K::Decide | K::RecordAnswer => {
                        vec!["admit", "return_incomplete", "consult", "review", "postpone", "refuse"]
                            .into_iter()
                            .map(String::from)
                            .collect()
                    }
                    K::ConcludeConsultation => vec!["admit".into(), "postpone".into(), "refuse".into()],
                    K::DecideReview => vec!["admit".into(), "refuse".into()],
                    _ => Vec::new(),
                },
                rulings: k == K::DecideObjection,
                provider: k == K::RouteToProvider,
                grounds: k == K::Object,
                confidential_until: matches!(k, K::ConcludeConsultation | K::RecordAnswer),
            }
        })
        .collect()
}

async fn case_page(state: &AppState, s: Session, id: &str, message: String) -> Response {
    let Some(cases) = state.cases.clone() else {
        return Problem::new(StatusCode::SERVICE_UNAVAILABLE, "no-store", "No case storage").into_response();
    };
    let caller = crate::auth::Caller { name: s.name.clone(), role: s.role, token_id: "session".into() };
    let view = match cases.get(&caller, id, crate::clock::today()).await {
        Ok(v) => v,
        Err(p) => return p.into_response(),
    };
    if let Err(p) = cases.record_access(&caller, id, "page", crate::clock::now()).await {
        return p.into_response();
    }
    let events = cases.events(&caller, id).await.unwrap_or_default();
    let c = &view.case;
    let side: case::Side = serde_json::from_value(c["side"].clone()).unwrap_or(case::Side::Requesting);
    let st: CaseState = serde_json::from_value(c["state"].clone()).unwrap_or(CaseState::Closed);
    let d = view.decision.clone().unwrap_or(Value::Null);
    let grounds = d["grounds"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|g| {
            let s = |k: &str| g[k].as_str().unwrap_or("").to_string();
            (
                s("level"),
                format!(
                    "{}{}",
                    s("code"),
                    g["field"].as_str().or(g["state"].as_str()).map(|x| format!(" {x}")).unwrap_or_default()
                ),
                s("article"),
                s("detail"),
            )
        })
        .collect();
    let conditions = d["conditions"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|g| {
            let s = |k: &str| g[k].as_str().unwrap_or("").to_string();
            (
                format!("{}{}", s("code"), g["until"].as_str().map(|u| format!(" until {u}")).unwrap_or_default()),
                s("article"),
                s("detail"),
            )
        })
        .collect();
    let history = events
        .iter()
        .map(|e| {
            let ev = &e.event;
            let mut detail = Vec::new();
            for k in ["action", "ruling", "provider", "until", "reference"] {
                if let Some(v) = ev[k].as_str() {
                    detail.push(format!("{k}: {v}"));
                }
            }
            for k in ["reasons", "grounds"] {
                for r in ev[k].as_array().into_iter().flatten() {
                    detail.push(r.as_str().unwrap_or("").to_string());
                }
            }
            HistoryRow {
                seq: ev["seq"].as_u64().unwrap_or(0),
                at: ev["at"].as_str().and_then(case::Timestamp::parse).map(crate::roles::when),
                actor: ev["actor"].as_str().unwrap_or("").replace('_', " "),
                kind: ev["kind"].as_str().unwrap_or("").replace('_', " "),
                detail: detail.join("; "),
                log_index: e.log_index.map(|i| format!("#{i}")).unwrap_or_else(|| "pending".into()),
            }
        })
        .collect();
    render(CasePage {
        node_name: state.config.config.node.name.clone(),
        id: id.into(),
        state: st.id().replace('_', " "),
        side: side.id().into(),
        outcome: d["outcome"].as_str().unwrap_or("").into(),
        grounds,
        conditions,
        secrecy: match c["secrecy"]["status"].as_str() {
            Some("secret") => format!("confidential until {}", c["secrecy"]["until"].as_str().unwrap_or("")),
            Some(x) => x.replace('_', " "),
            None => String::new(),
        },
        notification: c["notification"]["status"].as_str().unwrap_or("").replace('_', " "),
        deadline: due(c),
        history,
        forms: forms_for(side, st, s.role, c),
        csrf: s.csrf,
        message,
    })
}

/// `GET /cases/{id}`
pub async fn show(State(state): State<AppState>, headers: HeaderMap, Path(id): Path<String>) -> Response {
    let Some(s) = session(&state, &headers) else { return Redirect::to("/login").into_response() };
    case_page(&state, s, &id, String::new()).await
}

/// `POST /cases/{id}` (a form): runs one command, then shows the case again with what
/// happened or why it was refused.
pub async fn act(State(state): State<AppState>, headers: HeaderMap, Path(id): Path<String>, body: Bytes) -> Response {
    let Some(s) = session(&state, &headers) else { return Redirect::to("/login").into_response() };
    let form: std::collections::HashMap<String, String> = form_urlencoded::parse(&body).into_owned().collect();
    if form.get("csrf") != Some(&s.csrf) {
        return Problem::new(StatusCode::FORBIDDEN, "csrf", "Missing or wrong CSRF token")
            .field("csrf")
            .into_response();
    }
    let lines = |k: &str| -> Vec<String> {
        form.get(k)
            .map(|v| v.lines().map(str::trim).filter(|l| !l.is_empty()).map(String::from).collect())
            .unwrap_or_default()
    };
    let date = |k: &str| form.get(k).filter(|v| !v.is_empty()).cloned();
    let mut cmd = json!({ "command": form.get("command").cloned().unwrap_or_default() });
    let kind = cmd["command"].as_str().unwrap_or("").to_string();
    if let Some(o) = cmd.as_object_mut() {
        match kind.as_str() {
            "authorize" => {
                o.insert("reference".into(), json!(form.get("reference").cloned().unwrap_or_default()));
                o.insert("reasons".into(), json!(lines("reasons")));
            }
            "refuse_authorization" | "withdraw" | "close" => {
                o.insert("reasons".into(), json!(lines("reasons")));
            }
            "decide" | "record_answer" | "conclude_consultation" | "decide_review" => {
                o.insert("action".into(), json!(form.get("action").cloned().unwrap_or_default()));
                o.insert("reasons".into(), json!(lines("reasons")));
                if kind != "decide_review" {
                    o.insert("until".into(), json!(date("until")));
                }
                if kind == "record_answer" || kind == "conclude_consultation" {
                    o.insert("confidential_until".into(), json!(date("confidential_until")));
                }
            }
            "decide_objection" => {
                o.insert("ruling".into(), json!(form.get("ruling").cloned().unwrap_or_default()));
                o.insert("reasons".into(), json!(lines("reasons")));
            }
            "route_to_provider" => {
                o.insert("provider".into(), json!(form.get("provider").cloned().unwrap_or_default()));
            }
            "object" => {
                o.insert("grounds".into(), json!(lines("grounds")));
            }
            "place_hold" => {
                o.insert("until".into(), json!(date("until")));
            }
            "extend_hold" | "extend_confidentiality" | "postpone_notification" => {
                o.insert("until".into(), json!(date("until")));
                o.insert("reasons".into(), json!(lines("reasons")));
            }
            _ => {}
        }
    }
    let message = match serde_json::from_value::<case::Command>(cmd) {
        Err(e) => format!("Not done: {e}"),
        Ok(cmd) => match state.cases.clone() {
            None => "Not done: no case storage".into(),
            Some(cases) => {
                let caller = crate::auth::Caller { name: s.name.clone(), role: s.role, token_id: "session".into() };
                match cases.command(&caller, &id, &cmd, None, crate::clock::now()).await {
                    Ok((_, events)) => format!(
                        "Done: {}.",
                        events
                            .iter()
                            .filter_map(|e| e["kind"].as_str())
                            .collect::<Vec<_>>()
                            .join(", ")
                            .replace('_', " ")
                    ),
                    Err(p) => format!("Not done: {}", p.detail.unwrap_or(p.title.to_string())),
                }
            }
        },
    };
    case_page(&state, s, &id, message).await
}

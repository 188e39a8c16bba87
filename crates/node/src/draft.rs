//! The case worker's drafting page: a form whose policy decision is shown next to the
//! fields it concerns, each ground with its article and sentence. Without JavaScript the
//! form posts and the page comes back with the decision; with htmx, the decision panel
//! and the notes under each field update as the fields change. For a person whose role
//! opens requests (case worker, point of contact), the form's second button posts it to
//! `POST /cases` with the session's CSRF token, which opens a requesting case from the
//! draft exactly as `POST /api/v1/cases` does and goes on to the case's page; a draft
//! that is not a valid case file opens nothing and comes back with its problems.

use std::collections::BTreeMap;

use askama::Template;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{Map, Value, json};
use treaty::{Category, Conduct, Instrument, Measure};

use crate::api::AppState;
use crate::problem::Problem;

/// A ground or a problem, shown next to a field.
#[derive(Debug, Clone)]
pub struct Note {
    /// `refused`, `incomplete`, `consult`, `review`, or `invalid` for input problems.
    pub level: String,
    /// The rule's code (or the JSON path of a problem).
    pub code: String,
    /// The article, if any.
    pub article: String,
    /// The sentence.
    pub detail: String,
}

/// An option of a select or a checkbox list.
#[derive(Debug, Clone)]
pub struct Choice {
    /// The value sent.
    pub value: String,
    /// The label shown.
    pub label: String,
    /// Whether it is selected.
    pub selected: bool,
}

#[derive(Template)]
#[template(path = "draft.html")]
struct DraftPage {
    node_name: String,
    today: String,
    form: BTreeMap<String, String>,
    states_from: Vec<Choice>,
    states_to: Vec<Choice>,
    instruments: Vec<Choice>,
    measures: Vec<Choice>,
    categories: Vec<Choice>,
    conduct: Vec<Choice>,
    roles: Vec<Choice>,
    panel: Panel,
    /// The session's CSRF token, when the person may open a case from the draft.
    open_csrf: Option<String>,
    /// Whether someone is logged in (to say who may open a case).
    logged_in: bool,
    /// Why the draft was not opened as a case.
    message: String,
}

#[derive(Template)]
#[template(path = "draft_panel.html")]
struct Panel {
    outcome: Option<String>,
    by_field: BTreeMap<String, Vec<Note>>,
    general: Vec<Note>,
    conditions: Vec<Note>,
    /// When answering htmx: also replace each field's notes, out of band.
    oob: bool,
    fields: &'static [&'static str],
}

impl Panel {
    fn notes(&self, field: &str) -> Vec<Note> {
        self.by_field.get(field).cloned().unwrap_or_default()
    }
}

/// Every field that can carry notes.
const FIELDS: &[&str] = &[
    "requesting_state",
    "requested_state",
    "instrument",
    "measure",
    "requesting_authority",
    "offence.description",
    "offence.domestic_provision",
    "offence.conduct",
    "offence.max_penalty_years",
    "offence.death_penalty",
    "assurances.no_death_penalty",
    "facts",
    "data.categories",
    "data.identifiers",
    "data.custodian",
    "data.from",
    "data.to",
    "relationship",
    "necessity",
    "intends_mla",
    "preservation_ref",
    "duration_days",
    "judicial_authorization",
    "judicial_authorization.reference",
    "confidentiality.days",
    "confidentiality.indefinite",
    "subject.roles",
    "technical_assistance.undermine_security",
    "emergency",
    "emergency.justification",
];

impl DraftPage {
    fn value(&self, name: &str) -> &str {
        self.form.get(name).map_or("", String::as_str)
    }
    fn checked(&self, name: &str) -> bool {
        self.form.get(name).is_some_and(|v| v == "on" || v == "true")
    }
    fn notes(&self, field: &str) -> Vec<Note> {
        self.panel.notes(field)
    }
}

/// Template filters.
mod filters {
    /// A field name as an HTML id (`offence.conduct` -> `offence-conduct`).
    #[askama::filter_fn]
    pub fn dashed(s: impl std::fmt::Display, _: &dyn askama::Values) -> askama::Result<String> {
        Ok(s.to_string().replace('.', "-"))
    }
}

/// Which form field a ground concerns.
fn field_of(g: &policy::Ground, request_states: (&str, &str)) -> &'static str {
    match g.code {
        "missing" => g.field.unwrap_or("request"),
        "not_party" => match g.state.map(|s| s.to_string()) {
            Some(s) if s == request_states.0 => "requesting_state",
            _ => "requested_state",
        },
        "measure_unavailable" | "interception" => "measure",
        "category_not_allowed" => "data.categories",
        "out_of_scope" => "offence.max_penalty_years",
        "protected_conduct" | "authorized_testing" | "no_dual_criminality" | "security_research" => "offence.conduct",
        "security_undermining" => "technical_assistance.undermine_security",
        "confidentiality_too_long" => "confidentiality.days",
        "duration_too_long" => "duration_days",
        "death_penalty_assurance" => "assurances.no_death_penalty",
        "sensitive_subject" => "subject.roles",
        _ => "request",
    }
}

/// Reads `application/x-www-form-urlencoded`: single fields into `form`, repeated ones
/// (checkbox lists) into `lists`.
fn read_form(body: &[u8]) -> (BTreeMap<String, String>, BTreeMap<String, Vec<String>>) {
    let mut form = BTreeMap::new();
    let mut lists: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for (k, v) in form_urlencoded::parse(body) {
        let (k, v) = (k.into_owned(), v.into_owned());
        if ["offence.conduct", "data.categories", "subject.roles"].contains(&k.as_str()) {
            lists.entry(k).or_default().push(v);
        } else {
            form.insert(k, v);
        }
    }
    (form, lists)
}

/// Builds the request object of a case file from the form: empty fields are left out,
/// so that the policy says what is missing.
fn request_from(form: &BTreeMap<String, String>, lists: &BTreeMap<String, Vec<String>>) -> Value {
    let mut req = Map::new();
    let text = |k: &str| form.get(k).map(|v| v.trim().to_string()).filter(|v| !v.is_empty());
    let num = |k: &str| -> Option<Value> {
        let t = text(k)?;
        Some(
            t.parse::<u64>()
                .map(Value::from)
                .or_else(|_| t.parse::<f64>().map(Value::from))
                .unwrap_or(Value::String(t)),
        )
    };
    let on = |k: &str| form.get(k).is_some_and(|v| v == "on" || v == "true");
    let mut set = |path: &str, v: Value| {
        let mut obj = &mut req;
        let mut parts = path.split('.').peekable();
        while let Some(p) = parts.next() {
            if parts.peek().is_none() {
                obj.insert(p.to_string(), v);
                return;
            }
            obj = obj
                .entry(p.to_string())
                .or_insert_with(|| Value::Object(Map::new()))
                .as_object_mut()
                .expect("objects only");
        }
    };
    for k in [
        "instrument",
        "measure",
        "requesting_state",
        "requested_state",
        "requesting_authority",
        "facts",
        "relationship",
        "necessity",
        "preservation_ref",
        "offence.description",
        "offence.domestic_provision",
        "data.custodian",
        "data.from",
        "data.to",
        "judicial_authorization.authority",
        "judicial_authorization.reference",
        "judicial_authorization.date",
    ] {
        if let Some(v) = text(k) {
            set(k, Value::String(v));
        }
    }
    for k in ["offence.max_penalty_years", "duration_days", "confidentiality.days"] {
        if let Some(v) = num(k) {
            set(k, v);
        }
    }
    for k in [
        "offence.death_penalty",
        "intends_mla",
        "confidentiality.indefinite",
        "technical_assistance.undermine_security",
        "assurances.no_death_penalty",
    ] {
        if on(k) {
            set(k, Value::Bool(true));
        }
    }
    if on("emergency") {
        set("emergency", json!({}));
        if let Some(j) = text("emergency.justification") {
            set("emergency.justification", Value::String(j));
        }
    }
    for (k, vs) in lists {
        set(k, Value::Array(vs.iter().map(|v| Value::String(v.clone())).collect()));
    }
    if let Some(ids) = text("data.identifiers") {
        set(
            "data.identifiers",
            Value::Array(
                ids.lines().map(str::trim).filter(|l| !l.is_empty()).map(|l| Value::String(l.into())).collect(),
            ),
        );
    }
    Value::Object(req)
}

async fn profiles(state: &AppState) -> Result<Value, Problem> {
    let path = state.config.base.join(&state.config.config.storage.profiles);
    let text = tokio::fs::read(&path).await.map_err(|e| {
        Problem::new(StatusCode::SERVICE_UNAVAILABLE, "no-profiles", "The States' legal profiles are not configured")
            .detail(format!("{}: {e}", path.display()))
            .field("storage.profiles")
    })?;
    serde_json::from_slice(&text).map_err(|e| {
        Problem::new(StatusCode::SERVICE_UNAVAILABLE, "bad-profiles", "The States' legal profiles are not valid JSON")
            .detail(format!("{}: {e}", path.display()))
            .field("storage.profiles")
    })
}

/// The case file of a draft: the States' profiles (and instruments) of this node, the
/// request, as of `today`.
fn case_file(profiles: &Value, request: Value, today: treaty::Date) -> Value {
    let mut case = Map::new();
    case.insert("as_of".into(), Value::String(today.to_string()));
    if let Some(i) = profiles.get("instruments") {
        case.insert("instruments".into(), i.clone());
    }
    case.insert("states".into(), profiles.get("states").cloned().unwrap_or(Value::Object(Map::new())));
    case.insert("request".into(), request);
    Value::Object(case)
}

fn decide(profiles: &Value, request: Value, today: treaty::Date) -> Panel {
    let states = (
        request.get("requesting_state").and_then(Value::as_str).unwrap_or("").to_string(),
        request.get("requested_state").and_then(Value::as_str).unwrap_or("").to_string(),
    );
    let bytes = serde_json::to_vec(&case_file(profiles, request, today)).unwrap_or_default();
    let mut panel = Panel {
        outcome: None,
        by_field: BTreeMap::new(),
        general: Vec::new(),
        conditions: Vec::new(),
        oob: false,
        fields: FIELDS,
    };
    match policy::parse_case(&bytes) {
        Ok(c) => {
            let d = policy::evaluate(&c);
            panel.outcome = Some(d.outcome.id().into());
            for g in &d.grounds {
                let note = Note {
                    level: g.level.id().into(),
                    code: g.code.into(),
                    article: g.article.to_string(),
                    detail: g.detail.clone(),
                };
                let field = field_of(g, (&states.0, &states.1));
                panel.by_field.entry(field.into()).or_default().push(note.clone());
                panel.general.push(note);
            }
            panel.conditions = d
                .conditions
                .iter()
                .map(|c| Note {
                    level: "condition".into(),
                    code: c.code.into(),
                    article: c.article.to_string(),
                    detail: c.detail.clone(),
                })
                .collect();
        }
        Err(problems) => {
            for p in problems {
                let field = p.path.strip_prefix("request.").unwrap_or(&p.path).to_string();
                let note = Note {
                    level: "invalid".into(),
                    code: p.path.clone(),
                    article: String::new(),
                    detail: p.message.clone(),
                };
                panel.by_field.entry(field).or_default().push(note.clone());
                panel.general.push(note);
            }
        }
    }
    panel
}

fn choices(items: impl IntoIterator<Item = (String, String)>, selected: &[String]) -> Vec<Choice> {
    items.into_iter().map(|(value, label)| Choice { selected: selected.contains(&value), value, label }).collect()
}

fn html(page: impl Template) -> Response {
    match page.render() {
        Ok(s) => crate::ui::page(s),
        Err(e) => Problem::new(StatusCode::INTERNAL_SERVER_ERROR, "render", "The page could not be rendered")
            .detail(e.to_string())
            .into_response(),
    }
}

/// `GET /draft` and `POST /draft` (the form, and its decision without JavaScript);
/// `POST /draft` with `HX-Request` answers only the decision panel.
pub async fn draft(State(state): State<AppState>, headers: HeaderMap, body: Bytes) -> Response {
    let profiles = match profiles(&state).await {
        Ok(p) => p,
        Err(p) => return p.into_response(),
    };
    render_draft(&state, &headers, &profiles, &body, String::new())
}

/// The roles that open requesting cases (the transition table's `create` on the
/// requesting side).
fn opens_cases(role: case::Role) -> bool {
    case::table::TRANSITIONS
        .iter()
        .any(|t| t.side == case::Side::Requesting && t.command == case::CommandKind::Create && t.roles.contains(&role))
}

/// `POST /cases` (the drafting form, with the session's CSRF token): opens a requesting
/// case from the draft, as `POST /api/v1/cases` does (the policy runs at once; a case
/// file the policy refuses is opened as a draft like any other, its grounds on its page),
/// then goes to `/cases/{id}`. A draft that is not a valid case file, or a role that may
/// not open cases, opens nothing: the drafting page comes back with the draft, the
/// problems next to their fields and why.
pub async fn open(State(state): State<AppState>, headers: HeaderMap, body: Bytes) -> Response {
    let Some(s) = crate::pages::session(&state, &headers) else {
        return axum::response::Redirect::to("/login").into_response();
    };
    let sent = form_urlencoded::parse(&body).find(|(k, _)| k == "csrf").map(|(_, v)| v.into_owned());
    if sent.as_deref() != Some(s.csrf.as_str()) {
        return Problem::new(StatusCode::FORBIDDEN, "csrf", "Missing or wrong CSRF token")
            .field("csrf")
            .into_response();
    }
    let profiles = match profiles(&state).await {
        Ok(p) => p,
        Err(p) => return p.into_response(),
    };
    let Some(cases) = state.cases.clone() else {
        return Problem::new(StatusCode::SERVICE_UNAVAILABLE, "no-store", "No case storage").into_response();
    };
    let now = crate::clock::now();
    let (form, lists) = read_form(&body);
    let file = case_file(&profiles, request_from(&form, &lists), now.date());
    let emergency = form.get("emergency").is_some_and(|v| v == "on" || v == "true");
    let caller = crate::auth::Caller { name: s.name.clone(), role: s.role, token_id: "session".into() };
    match cases.create(&caller, None, case::Side::Requesting, &file, emergency, now).await {
        Ok(view) => {
            let id = view.case["id"].as_str().unwrap_or_default();
            let to = format!("/cases/{}", form_urlencoded::byte_serialize(id.as_bytes()).collect::<String>());
            axum::response::Redirect::to(&to).into_response()
        }
        Err(p) => {
            let why = format!("Not opened: {}", p.detail.clone().unwrap_or_else(|| p.title.to_string()));
            let mut res = render_draft(&state, &headers, &profiles, &body, why);
            *res.status_mut() = StatusCode::from_u16(p.status).unwrap_or(StatusCode::UNPROCESSABLE_ENTITY);
            res
        }
    }
}

fn render_draft(state: &AppState, headers: &HeaderMap, profiles: &Value, body: &[u8], message: String) -> Response {
    let today = crate::clock::today();
    let (mut form, lists) = read_form(body);
    form.remove("csrf");
    let posted = !body.is_empty();
    let panel = if posted {
        decide(profiles, request_from(&form, &lists), today)
    } else {
        Panel {
            outcome: None,
            by_field: BTreeMap::new(),
            general: Vec::new(),
            conditions: Vec::new(),
            oob: false,
            fields: FIELDS,
        }
    };
    if headers.contains_key("hx-request") {
        return html(Panel { oob: true, ..panel });
    }
    let session = crate::pages::session(state, headers);
    let codes: Vec<String> =
        profiles.get("states").and_then(Value::as_object).map(|m| m.keys().cloned().collect()).unwrap_or_default();
    let name = |code: &String| {
        let n = profiles["states"][code]["name"].as_str().unwrap_or("");
        if n.is_empty() { code.clone() } else { format!("{code}: {n}") }
    };
    form.entry("instrument".into()).or_insert_with(|| "uncc".into());
    let pick = |k: &str| form.get(k).cloned().into_iter().collect::<Vec<_>>();
    let page = DraftPage {
        node_name: state.config.config.node.name.clone(),
        today: today.to_string(),
        states_from: choices(codes.iter().map(|c| (c.clone(), name(c))), &pick("requesting_state")),
        states_to: choices(codes.iter().map(|c| (c.clone(), name(c))), &pick("requested_state")),
        instruments: choices(Instrument::ALL.iter().map(|i| (i.id().into(), i.title().into())), &pick("instrument")),
        measures: choices(Measure::ALL.iter().map(|m| (m.id().into(), m.title().into())), &pick("measure")),
        categories: choices(
            Category::ALL.iter().map(|c| (c.id().into(), c.id().into())),
            lists.get("data.categories").map_or(&[][..], Vec::as_slice),
        ),
        conduct: choices(
            Conduct::ALL.iter().map(|c| (c.id().into(), c.id().replace('_', " "))),
            lists.get("offence.conduct").map_or(&[][..], Vec::as_slice),
        ),
        roles: choices(
            policy::case::SubjectRole::ALL.iter().map(|r| (r.id().into(), r.title().into())),
            lists.get("subject.roles").map_or(&[][..], Vec::as_slice),
        ),
        form,
        panel,
        open_csrf: session.as_ref().filter(|s| opens_cases(s.role)).map(|s| s.csrf.clone()),
        logged_in: session.is_some(),
        message,
    };
    html(page)
}

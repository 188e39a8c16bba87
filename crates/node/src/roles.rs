//! The main page of each role, server-rendered from the cases service (the `case`
//! lifecycle's commands run through the forms of `/cases/{id}`, never here):
//!
//! - `/judge`: the judge's queue: authorizations, objections, reviews, confidentiality
//!   orders that end soon (an extension needs reasons, UNCC 40(20)) and notifications due
//!   (a postponement needs reasons); each item with the policy's grounds, the case's
//!   history and the decision's form, which asks for reasons;
//! - `/authority`: the central authority's incoming requests with the policy decision and
//!   the decision form (admit, consult, postpone, refuse: reasons, UNCC 40(24));
//! - `/provider`: the provider's inbox of routed requests, the objection form, holds with
//!   the days left (UNCC 42(7)), and the evidence upload that resumes after a lost
//!   connection;
//! - `/oversight`: statistics with charts, the node's log and its witnesses.
//!
//! Each page refuses the other roles (403) and sends people without a session to
//! `/login`. The queues and statistics come from one pass over the node's cases
//! ([`crate::cases::Cases::scan`]), kept while the node's log keeps its size: every change
//! to a case appends a commitment carrying the case's tag to the log, so a pass stays true
//! until the size moves, and then only the cases the new entries name are read again.

use std::collections::BTreeMap;
use std::sync::Arc;

use askama::Template;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use case::{Role, Secrecy, Side, State as CaseState, Timestamp};
use serde_json::Value;

use crate::api::AppState;
use crate::cases::Scanned;
use crate::charts::{self, Chart};
use crate::pages::ActionForm;
use crate::problem::Problem;
use crate::users::Session;

/// How many items of one queue are shown in full (grounds, history, form); the rest are
/// listed with a link to their case.
pub const SHOWN_IN_FULL: usize = 10;

/// How many items of one queue are listed at all (the rest are counted, and found in
/// `/cases`).
pub const LISTED: usize = 50;

/// Confidentiality orders that end within this many days are put before the judge.
pub const SECRECY_WINDOW_DAYS: i64 = 30;

/// One pass over the node's cases, at a log size.
#[derive(Debug)]
pub struct Snapshot {
    /// The log's size when the pass began.
    pub log_size: u64,
    /// The cases (shared with the pass it was brought up to date from, so that a log
    /// that grew by entries naming no case, the pages' own accesses, copies nothing).
    pub cases: Arc<Vec<Arc<Scanned>>>,
    /// Each case's tag in the log, to its place in `cases` (shared likewise).
    pub tags: Arc<std::collections::HashMap<String, usize>>,
}

/// The public page's figures, at a log size and a day.
#[derive(Debug)]
pub struct PublicFigures {
    /// (log size, day) they were computed for.
    pub key: (u64, i64),
    /// The statistics recomputed from the log.
    pub stats: case::commitment::Statistics,
    /// Revealed events: (case tag, event), oldest first.
    pub revealed: Vec<(String, case::Event)>,
}

/// What the role pages keep between requests.
#[derive(Debug, Default)]
pub struct Cache {
    scan: tokio::sync::Mutex<Option<Arc<Snapshot>>>,
    public: tokio::sync::Mutex<Option<Arc<PublicFigures>>>,
    refreshing: std::sync::atomic::AtomicBool,
    /// The oversight page's charts and figures for (log size, day).
    oversight: tokio::sync::Mutex<Option<Counted>>,
    /// Whole passes over the cases made so far (`/metrics`).
    passes: std::sync::atomic::AtomicU64,
}

/// The oversight page's charts and headline figures, for (log size, day).
type Counted = ((u64, i64), Arc<(Vec<Chart>, Figures)>);

impl Cache {
    /// The current pass over the cases: the kept one while the log has not grown; after
    /// it grew, the kept one with the cases that the new entries commit to read again
    /// (and new cases added); a whole new pass when that cannot be done (no kept pass, a
    /// new case not found after the newest known one). One at a time.
    pub async fn snapshot(
        &self,
        cases: &crate::cases::Cases,
        log: Option<&Arc<crate::transparency::Transparency>>,
    ) -> Result<Arc<Snapshot>, Problem> {
        let mut kept = self.scan.lock().await;
        let size = cases.log_size();
        if let Some(s) = kept.as_ref() {
            if s.log_size == size {
                return Ok(s.clone());
            }
            if let Some(log) = log
                && s.log_size < size
                && let Some(next) = Self::update(s, size, cases, log).await?
            {
                let next = Arc::new(next);
                *kept = Some(next.clone());
                return Ok(next);
            }
        }
        let previous = kept.as_ref().map(|s| s.cases.as_slice()).unwrap_or(&[]);
        self.passes.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let all = cases.scan(previous).await?;
        let tags = all.iter().enumerate().map(|(i, c)| (cases.tag_of(&c.case.id), i)).collect();
        let s = Arc::new(Snapshot { log_size: size, cases: Arc::new(all), tags: Arc::new(tags) });
        *kept = Some(s.clone());
        Ok(s)
    }

    /// How many whole passes over the cases [`Cache::snapshot`] has made: one at the first
    /// page, then none while the log grows by what the pages can bring up to date from its
    /// new entries (their own accesses among them).
    pub fn passes(&self) -> u64 {
        self.passes.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// `s` brought to log size `size` from the log's new entries alone, or none.
    async fn update(
        s: &Snapshot,
        size: u64,
        cases: &crate::cases::Cases,
        log: &Arc<crate::transparency::Transparency>,
    ) -> Result<Option<Snapshot>, Problem> {
        let (l, from) = (log.clone(), s.log_size);
        let Ok(Ok(entries)) = tokio::task::spawn_blocking(move || l.entries_since(from)).await else { return Ok(None) };
        let mut changed: Vec<String> =
            entries.iter().filter_map(|e| case::commitment::Commitment::parse(e).ok()).map(|c| c.case_tag).collect();
        changed.sort();
        changed.dedup();
        let mut next = Snapshot { log_size: size, cases: s.cases.clone(), tags: s.tags.clone() };
        let mut unknown = Vec::new();
        for tag in changed {
            match next.tags.get(&tag) {
                Some(&i) => match cases.scan_one(&next.cases[i].case.id).await? {
                    Some(c) => Arc::make_mut(&mut next.cases)[i] = c,
                    None => return Ok(None),
                },
                None => unknown.push(tag),
            }
        }
        if !unknown.is_empty() {
            // New cases: created after the newest one known (a clock set back finds none,
            // and the whole pass is made again).
            let newest = next.cases.iter().map(|c| c.case.created_at.0).max().unwrap_or(i64::MIN);
            let known = |id: &str| next.tags.contains_key(&cases.tag_of(id));
            for c in cases.scan_since(newest, &known).await? {
                let tag = cases.tag_of(&c.case.id);
                Arc::make_mut(&mut next.tags).insert(tag.clone(), next.cases.len());
                Arc::make_mut(&mut next.cases).push(c);
                unknown.retain(|t| *t != tag);
            }
            if !unknown.is_empty() {
                return Ok(None);
            }
        }
        Ok(Some(next))
    }

    /// Case `s` as `caller` may see it, with the policy's decision for `today`: from the
    /// cache while the case's version and the day stay the same.
    pub async fn view(
        &self,
        cases: &crate::cases::Cases,
        caller: &crate::auth::Caller,
        s: &Scanned,
        today: treaty::Date,
    ) -> Result<Arc<crate::cases::CaseView>, Problem> {
        // A view kept for the version this pass read saves reading the case again.
        if let Some(view) = crate::cases::view_for(caller.role, s.case.side)
            && let Some(v) = cases.kept_view(&s.case.id, s.version, today, view)
        {
            return Ok(v);
        }
        cases.get(caller, &s.case.id, today).await
    }

    /// The public figures for the log's current size and `today`. The first time they
    /// are computed at once; after that, figures for an older size are served while new
    /// ones are computed in the background (the page names the size they are for).
    pub async fn public(
        self: &Arc<Self>,
        log: &Arc<crate::transparency::Transparency>,
        today: treaty::Date,
    ) -> Result<Arc<PublicFigures>, Problem> {
        let key = (log.size(), today.days_since_epoch());
        let kept = self.public.lock().await.clone();
        match kept {
            Some(p) if p.key == key => Ok(p),
            Some(p) => {
                if !self.refreshing.swap(true, std::sync::atomic::Ordering::AcqRel) {
                    let (me, log) = (self.clone(), log.clone());
                    tokio::spawn(async move {
                        if let Ok(f) = Self::figures(&log, today).await {
                            *me.public.lock().await = Some(Arc::new(f));
                        }
                        me.refreshing.store(false, std::sync::atomic::Ordering::Release);
                    });
                }
                Ok(p)
            }
            None => {
                let f = Arc::new(Self::figures(log, today).await?);
                *self.public.lock().await = Some(f.clone());
                Ok(f)
            }
        }
    }

    async fn figures(
        log: &Arc<crate::transparency::Transparency>,
        today: treaty::Date,
    ) -> Result<PublicFigures, Problem> {
        let l = log.clone();
        let (size, entries) = tokio::task::spawn_blocking(move || {
            let size = l.size();
            l.entries().map(|e| (size, e))
        })
        .await
        .map_err(|e| {
            Problem::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", "Internal error").detail(e.to_string())
        })?
        .map_err(|e| {
            Problem::new(StatusCode::INTERNAL_SERVER_ERROR, "log-read", "The log could not be read")
                .detail(e.to_string())
        })?;
        let stats = case::commitment::statistics(entries.iter().map(Vec::as_slice), today);
        let revealed = case::commitment::revealed(entries.iter().map(Vec::as_slice))
            .into_iter()
            .map(|(c, e)| (c.case_tag, e))
            .collect();
        Ok(PublicFigures { key: (size.min(entries.len() as u64), today.days_since_epoch()), stats, revealed })
    }
}

/// An instant as pages show it: UTC in the page (the zone every deadline is counted in);
/// `static/time.js` adds the reader's own zone.
#[derive(Debug, Clone)]
pub struct When {
    /// RFC 3339, for `<time datetime>`.
    pub iso: String,
    /// `2026-12-01 10:00 UTC`.
    pub utc: String,
}

/// `ts` for a page.
pub fn when(ts: Timestamp) -> When {
    let iso = ts.to_string();
    let utc = format!("{} {} UTC", &iso[..10.min(iso.len())], iso.get(11..16).unwrap_or(""));
    When { iso, utc }
}

/// The main page of `role`, and the words for it.
pub fn main_page(role: Role) -> (&'static str, &'static str) {
    match role {
        Role::Judge => ("/judge", "your queue"),
        Role::CentralAuthority => ("/authority", "incoming requests"),
        Role::ProviderLegal => ("/provider", "your inbox"),
        Role::Oversight => ("/oversight", "statistics"),
        _ => ("/cases", "your cases"),
    }
}

#[derive(Template)]
#[template(path = "forbidden.html")]
struct Forbidden {
    node_name: String,
    me: String,
    role: String,
    page_for: String,
    home: &'static str,
    home_label: &'static str,
}

/// The session, if its role may see this page; else the answer to give (login, or 403).
fn admit(state: &AppState, headers: &HeaderMap, allowed: &[Role], page_for: &str) -> Result<Session, Box<Response>> {
    let Some(s) = crate::pages::session(state, headers) else {
        return Err(Box::new(Redirect::to("/login").into_response()));
    };
    if allowed.contains(&s.role) {
        return Ok(s);
    }
    let (home, home_label) = main_page(s.role);
    let mut r = crate::pages::render(Forbidden {
        node_name: state.config.config.node.name.clone(),
        me: s.name,
        role: s.role.id().replace('_', " "),
        page_for: page_for.into(),
        home,
        home_label,
    });
    *r.status_mut() = StatusCode::FORBIDDEN;
    Err(Box::new(r))
}

fn no_store() -> Response {
    Problem::new(StatusCode::SERVICE_UNAVAILABLE, "no-store", "No case storage").into_response()
}

/// The header every role page shares.
#[derive(Debug)]
pub struct Head {
    node_name: String,
    me: String,
    role: String,
    csrf: String,
    today: String,
}

fn head(state: &AppState, s: &Session) -> Head {
    Head {
        node_name: state.config.config.node.name.clone(),
        me: s.name.clone(),
        role: s.role.id().replace('_', " "),
        csrf: s.csrf.clone(),
        today: crate::clock::today().to_string(),
    }
}

/// One ground of the policy, for a page.
#[derive(Debug, Clone)]
pub struct GroundRow {
    level: String,
    code: String,
    article: String,
    detail: String,
}

/// One event of a case's history, for a page.
#[derive(Debug, Clone)]
pub struct EventRow {
    at: When,
    kind: String,
}

/// One item of a queue.
#[derive(Debug)]
pub struct Item {
    /// A prefix for the ids of its form's fields (unique in the page).
    key: String,
    id: String,
    /// What is asked of the reader.
    asked: String,
    /// Since when it waits.
    since: When,
    /// The deadline, if the case has one.
    deadline: Option<When>,
    /// Days left (holds, confidentiality orders).
    days_left: Option<i64>,
    /// A line about the case (State, measure, provider...).
    about: String,
    /// Shown in full: the policy's outcome, grounds, history and forms.
    full: bool,
    outcome: String,
    grounds: Vec<GroundRow>,
    conditions: Vec<GroundRow>,
    history: Vec<EventRow>,
    forms: Vec<ActionForm>,
    /// Whether this item offers the evidence upload.
    upload: bool,
}

/// One queue of a page.
#[derive(Debug)]
pub struct Queue {
    id: &'static str,
    title: &'static str,
    /// The rule behind it, with its article.
    rule: &'static str,
    empty: &'static str,
    items: Vec<Item>,
    /// How many in all (more than shown when over the limit).
    total: usize,
}

fn created_body(s: &Scanned) -> Option<&Value> {
    s.events.iter().find(|e| e.kind == "created").map(|e| &e.body)
}

fn about(s: &Scanned) -> String {
    let mut parts = Vec::new();
    if let Some(b) = created_body(s) {
        let g = |k: &str| b[k].as_str().unwrap_or("").to_string();
        parts.push(format!("{} → {}", g("requesting_state"), g("requested_state")));
        parts.push(g("measure").replace('_', " "));
        parts.push(g("instrument"));
    }
    if s.case.emergency {
        parts.push("emergency".into());
    }
    if let Some(p) = &s.case.provider {
        parts.push(format!("provider {p}"));
    }
    match s.case.secrecy {
        Secrecy::Secret { until, .. } => parts.push(format!("confidential until {until}")),
        Secrecy::RevealDue { since } => parts.push(format!("secrecy ended {since}: reveal due")),
        _ => {}
    }
    parts.retain(|p| !p.trim().is_empty());
    parts.join(" · ")
}

/// The accesses of a page (every case it shows in full), being committed to the log and
/// stored while the page is built: one append for the whole page.
struct Accesses(Option<tokio::task::JoinHandle<Result<(), Problem>>>);

/// Starts committing the accesses of a page that shows in full the first
/// [`SHOWN_IN_FULL`] cases of each of `queues` (as [`queue`] does), so that the durable
/// append runs while the page is built and rendered. Nothing of the page is answered
/// before it ends ([`answer`]).
fn commit_accesses(state: &AppState, caller: &crate::auth::Caller, queues: &[&[&Scanned]]) -> Accesses {
    let Some(cases) = state.cases.clone() else { return Accesses(None) };
    let ids: Vec<String> =
        queues.iter().flat_map(|q| q.iter().take(SHOWN_IN_FULL)).map(|s| s.case.id.clone()).collect();
    let caller = caller.clone();
    Accesses(Some(tokio::spawn(async move { cases.record_accesses(&caller, &ids, "page", crate::clock::now()).await })))
}

/// Answers `page` once its accesses ([`commit_accesses`]) are committed to the log and
/// stored; if that failed, the page is not answered.
async fn answer(accesses: Accesses, page: Response) -> Response {
    if let Some(task) = accesses.0 {
        match task.await {
            Ok(Ok(())) => {}
            Ok(Err(p)) => return p.into_response(),
            Err(e) => {
                return Problem::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", "Internal error")
                    .detail(format!("recording the accesses: {e}"))
                    .into_response();
            }
        }
    }
    page
}

/// Builds the queue `id` from `cases` (already filtered and sorted), showing the first
/// [`SHOWN_IN_FULL`] in full, with the forms of `commands` that the role may give now.
#[allow(clippy::too_many_arguments)]
async fn queue(
    state: &AppState,
    caller: &crate::auth::Caller,
    id: &'static str,
    title: &'static str,
    rule: &'static str,
    empty: &'static str,
    asked: &(dyn Fn(&Scanned) -> String + Sync),
    cases: Vec<&Scanned>,
    commands: &[case::CommandKind],
    today: treaty::Date,
) -> Queue {
    let total = cases.len();
    // What is shown in full (the policy, the history) is an access to the case: the page
    // has started committing them (`commit_accesses`, all queues in one append) and is
    // answered only once they are in the log and stored (`answer`).
    let recorded = state.cases.is_some();
    let mut items = Vec::new();
    for (i, s) in cases.into_iter().enumerate().take(LISTED) {
        let c = &s.case;
        let since = c.updated_at;
        let mut item = Item {
            key: format!("{id}{i}"),
            id: c.id.clone(),
            asked: asked(s),
            since: when(since),
            deadline: c.deadline.map(|d| when(d.due)),
            days_left: match (id, c.hold, c.secrecy) {
                ("holds", Some(h), _) => Some(h.until.days_since_epoch() - today.days_since_epoch()),
                ("secrecy", _, Secrecy::Secret { until, .. }) => {
                    Some(until.days_since_epoch() - today.days_since_epoch())
                }
                _ => None,
            },
            about: about(s),
            full: recorded && i < SHOWN_IN_FULL,
            outcome: String::new(),
            grounds: Vec::new(),
            conditions: Vec::new(),
            history: Vec::new(),
            forms: Vec::new(),
            upload: false,
        };
        if item.full {
            if let Some(cases) = &state.cases
                && let Ok(view) = state.role_pages.view(cases, caller, s, today).await
            {
                let d = view.decision.clone().unwrap_or(Value::Null);
                item.outcome = d["outcome"].as_str().unwrap_or("").into();
                item.grounds = d["grounds"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .map(|g| {
                        let f = |k: &str| g[k].as_str().unwrap_or("").to_string();
                        GroundRow {
                            level: f("level"),
                            code: format!(
                                "{}{}",
                                f("code"),
                                g["field"]
                                    .as_str()
                                    .or(g["state"].as_str())
                                    .map(|x| format!(" {x}"))
                                    .unwrap_or_default()
                            ),
                            article: f("article"),
                            detail: f("detail"),
                        }
                    })
                    .collect();
                item.conditions = d["conditions"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .map(|g| {
                        let f = |k: &str| g[k].as_str().unwrap_or("").to_string();
                        GroundRow {
                            level: String::new(),
                            code: format!(
                                "{}{}",
                                f("code"),
                                g["until"].as_str().map(|u| format!(" until {u}")).unwrap_or_default()
                            ),
                            article: f("article"),
                            detail: f("detail"),
                        }
                    })
                    .collect();
                item.forms = crate::pages::forms_for(c.side, c.state, caller.role, &view.case)
                    .into_iter()
                    .filter(|f| commands.iter().any(|k| k.id() == f.command))
                    .collect();
                item.upload = caller.role == Role::ProviderLegal
                    && c.side == Side::Provider
                    && matches!(c.state, CaseState::InExecution | CaseState::Preserved);
            }
            item.history = s
                .events
                .iter()
                .map(|e| EventRow { at: when(Timestamp(e.at)), kind: e.kind.replace('_', " ") })
                .collect();
        }
        items.push(item);
    }
    Queue { id, title, rule, empty, items, total }
}

fn caller_of(s: &Session) -> crate::auth::Caller {
    crate::auth::Caller { name: s.name.clone(), role: s.role, token_id: "session".into() }
}

fn visible(snap: &Snapshot, role: Role) -> impl Iterator<Item = &Scanned> {
    snap.cases.iter().map(|s| &**s).filter(move |s| crate::cases::view_for(role, s.case.side).is_some())
}

#[derive(Template)]
#[template(path = "queue.html")]
struct QueuePage {
    head: Head,
    title: String,
    intro: String,
    queues: Vec<Queue>,
}

/// `GET /judge`: the judge's queue.
pub async fn judge(State(state): State<AppState>, headers: HeaderMap) -> Response {
    let s = match admit(&state, &headers, &[Role::Judge], "judges") {
        Ok(s) => s,
        Err(r) => return *r,
    };
    let Some(cases) = state.cases.clone() else { return no_store() };
    let snap = match state.role_pages.snapshot(&cases, state.log.as_ref()).await {
        Ok(x) => x,
        Err(p) => return p.into_response(),
    };
    let today = crate::clock::today();
    let caller = caller_of(&s);
    let in_state = |st: CaseState| -> Vec<&Scanned> {
        let mut v: Vec<&Scanned> = visible(&snap, s.role).filter(|x| x.case.state == st).collect();
        v.sort_by_key(|x| (x.case.deadline.map_or(i64::MAX, |d| d.due.0), x.case.updated_at.0));
        v
    };
    use case::CommandKind as K;
    let authorizations = in_state(CaseState::AwaitingAuthorization);
    let objections: Vec<&Scanned> =
        in_state(CaseState::Objected).into_iter().filter(|x| x.case.side == Side::Requested).collect();
    let reviews = in_state(CaseState::InReview);
    let horizon = today.days_since_epoch() + SECRECY_WINDOW_DAYS;
    let mut secret: Vec<&Scanned> = visible(&snap, s.role)
        .filter(|x| x.case.side != Side::Provider)
        .filter(|x| matches!(x.case.secrecy, Secrecy::Secret { until, .. } if until.days_since_epoch() <= horizon))
        .collect();
    secret.sort_by_key(|x| match x.case.secrecy {
        Secrecy::Secret { until, .. } => until.days_since_epoch(),
        _ => i64::MAX,
    });
    let mut notify: Vec<&Scanned> = visible(&snap, s.role)
        .filter(|x| x.case.side != Side::Provider && matches!(x.case.notification, case::Notification::Due { .. }))
        .collect();
    notify.sort_by_key(|x| x.case.updated_at.0);
    let accesses = commit_accesses(&state, &caller, &[&authorizations, &objections, &reviews, &secret, &notify]);
    let mut queues = Vec::new();
    queues.push(
        queue(
            &state,
            &caller,
            "authorizations",
            "Authorizations",
            "Authorize or refuse, with reasons: the policy asks for a judicial authorization (UNCC 24).",
            "No request awaits your authorization.",
            &|_| "authorize or refuse this request".into(),
            authorizations,
            &[K::Authorize, K::RefuseAuthorization],
            today,
        )
        .await,
    );
    queues.push(
        queue(
            &state,
            &caller,
            "objections",
            "Objections of providers",
            "Rule on the provider's objection, with reasons; an objection is never dropped.",
            "No objection awaits your ruling.",
            &|_| "rule on the provider's objection".into(),
            objections,
            &[K::DecideObjection],
            today,
        )
        .await,
    );
    queues.push(
        queue(
            &state,
            &caller,
            "reviews",
            "Reviews",
            "Admit or refuse after independent review, with reasons (UNCC 24).",
            "No request awaits your review.",
            &|_| "review this request".into(),
            reviews,
            &[K::DecideReview],
            today,
        )
        .await,
    );
    queues.push(
        queue(
            &state,
            &caller,
            "secrecy",
            "Confidentiality orders ending within 30 days",
            "Extend only for reasons, to a later date that is not past (UNCC 40(20)); otherwise the order ends and what was committed is revealed.",
            "No confidentiality order ends within 30 days.",
            &|x| match x.case.secrecy {
                Secrecy::Secret { until, .. } => format!("extend the confidentiality order, or let it end on {until}"),
                _ => String::new(),
            },
            secret,
            &[K::ExtendConfidentiality],
            today,
        )
        .await,
    );
    queues.push(
        queue(
            &state,
            &caller,
            "notifications",
            "Notifications due",
            "The person concerned is told now, unless you postpone it, with reasons, to a date.",
            "No notification is due.",
            &|_| "postpone the notification, or let it go".into(),
            notify,
            &[K::PostponeNotification],
            today,
        )
        .await,
    );
    let page = crate::pages::render(QueuePage {
        head: head(&state, &s),
        title: "Your queue".into(),
        intro: "Every decision asks for reasons; each item shows the policy's grounds with their articles and the case's history.".into(),
        queues,
    });
    answer(accesses, page).await
}

/// `GET /authority`: the central authority's incoming requests.
pub async fn authority(State(state): State<AppState>, headers: HeaderMap) -> Response {
    let s = match admit(&state, &headers, &[Role::CentralAuthority], "central authorities") {
        Ok(s) => s,
        Err(r) => return *r,
    };
    let Some(cases) = state.cases.clone() else { return no_store() };
    let snap = match state.role_pages.snapshot(&cases, state.log.as_ref()).await {
        Ok(x) => x,
        Err(p) => return p.into_response(),
    };
    let today = crate::clock::today();
    let caller = caller_of(&s);
    let requested = |st: CaseState| -> Vec<&Scanned> {
        let mut v: Vec<&Scanned> =
            visible(&snap, s.role).filter(|x| x.case.side == Side::Requested && x.case.state == st).collect();
        v.sort_by_key(|x| (x.case.deadline.map_or(i64::MAX, |d| d.due.0), x.case.updated_at.0));
        v
    };
    use case::CommandKind as K;
    let (incoming, consultation, postponed, admitted, evidence) = (
        requested(CaseState::Received),
        requested(CaseState::Consultation),
        requested(CaseState::Postponed),
        requested(CaseState::Admitted),
        requested(CaseState::EvidenceReceived),
    );
    let accesses = commit_accesses(&state, &caller, &[&incoming, &consultation, &postponed, &admitted, &evidence]);
    let mut queues = Vec::new();
    queues.push(
        queue(
            &state,
            &caller,
            "incoming",
            "Incoming requests to decide",
            "Admit, return as incomplete, consult, put to a judge's review, postpone or refuse: reasons for every refusal and postponement (UNCC 40(21)-(27)).",
            "No incoming request awaits a decision.",
            &|_| "decide on this request".into(),
            incoming,
            &[K::Decide],
            today,
        )
        .await,
    );
    queues.push(
        queue(
            &state,
            &caller,
            "consultation",
            "In consultation",
            "Consult before refusing or postponing (UNCC 40(27)); conclude with reasons.",
            "No consultation is open.",
            &|_| "conclude the consultation".into(),
            consultation,
            &[K::ConcludeConsultation],
            today,
        )
        .await,
    );
    queues.push(
        queue(
            &state,
            &caller,
            "postponed",
            "Postponed",
            "Resume when the postponement's reason has passed (UNCC 40(26)).",
            "No request is postponed.",
            &|x| {
                format!(
                    "resume{}",
                    x.case.postponed_until.map(|d| format!(" (postponed until {d})")).unwrap_or_default()
                )
            },
            postponed,
            &[K::Resume],
            today,
        )
        .await,
    );
    queues.push(
        queue(
            &state,
            &caller,
            "admitted",
            "Admitted: route to the provider",
            "Name the provider that holds the data; it may object, and its objection goes to a judge.",
            "No admitted request waits to be routed.",
            &|_| "route to the provider".into(),
            admitted,
            &[K::RouteToProvider],
            today,
        )
        .await,
    );
    queues.push(
        queue(
            &state,
            &caller,
            "evidence",
            "Evidence received: return it",
            "The package goes back to the requesting State, sealed to it: this node cannot read it.",
            "No evidence waits to be returned.",
            &|_| "return the evidence".into(),
            evidence,
            &[K::Return],
            today,
        )
        .await,
    );
    let page = crate::pages::render(QueuePage {
        head: head(&state, &s),
        title: "Incoming requests".into(),
        intro: "Each request with the policy's decision under this State's profile; every refusal and postponement carries reasons.".into(),
        queues,
    });
    answer(accesses, page).await
}

/// `GET /provider`: the provider's inbox.
pub async fn provider(State(state): State<AppState>, headers: HeaderMap) -> Response {
    let s = match admit(&state, &headers, &[Role::ProviderLegal], "provider legal teams") {
        Ok(s) => s,
        Err(r) => return *r,
    };
    let Some(cases) = state.cases.clone() else { return no_store() };
    let snap = match state.role_pages.snapshot(&cases, state.log.as_ref()).await {
        Ok(x) => x,
        Err(p) => return p.into_response(),
    };
    let today = crate::clock::today();
    let caller = caller_of(&s);
    let mine = |sts: &[CaseState]| -> Vec<&Scanned> {
        let mut v: Vec<&Scanned> =
            visible(&snap, s.role).filter(|x| x.case.side == Side::Provider && sts.contains(&x.case.state)).collect();
        v.sort_by_key(|x| (x.case.deadline.map_or(i64::MAX, |d| d.due.0), x.case.updated_at.0));
        v
    };
    use case::CommandKind as K;
    let mut holds = mine(&[CaseState::Preserved]);
    holds.sort_by_key(|x| x.case.hold.map_or(i64::MAX, |h| h.until.days_since_epoch()));
    let (inbox, execution, objected) =
        (mine(&[CaseState::Received]), mine(&[CaseState::InExecution]), mine(&[CaseState::Objected]));
    let accesses = commit_accesses(&state, &caller, &[&inbox, &execution, &holds, &objected]);
    let queues = vec![
        queue(
            &state,
            &caller,
            "inbox",
            "Routed requests",
            "Acknowledge, or object with your grounds (overbroad, unlawful, technically impossible): a judge of the requested State rules on every objection.",
            "No routed request awaits you.",
            &|_| "acknowledge or object".into(),
            inbox,
            &[K::ProviderAcknowledge, K::Object],
            today,
        )
        .await,
        queue(
            &state,
            &caller,
            "execution",
            "To execute",
            "Place a hold of at least 60 days (UNCC 42(7)), upload the sealed evidence, or object.",
            "Nothing to execute.",
            &|_| "preserve, produce or object".into(),
            execution,
            &[K::PlaceHold, K::Object],
            today,
        )
        .await,
        queue(
            &state,
            &caller,
            "holds",
            "Holds",
            "Data held until a date; extend with reasons, or produce.",
            "No hold.",
            &|x| x.case.hold.map(|h| format!("held until {} (end of day UTC)", h.until)).unwrap_or_default(),
            holds,
            &[K::ExtendHold],
            today,
        )
        .await,
        queue(
            &state,
            &caller,
            "objected",
            "Your objections",
            "Waiting for the judge's ruling.",
            "No objection is pending.",
            &|_| "awaiting the ruling".into(),
            objected,
            &[],
            today,
        )
        .await,
    ];
    let page = crate::pages::render(QueuePage {
        head: head(&state, &s),
        title: "Your inbox".into(),
        intro: "Requests routed to you by a central authority, your holds with the days left, and evidence uploads."
            .into(),
        queues,
    });
    answer(accesses, page).await
}

// ---------------- statistics ----------------

/// Counts in a chart's order: by count, largest first, then by label.
fn ranked(m: BTreeMap<String, u64>) -> Vec<(String, f64)> {
    let mut v: Vec<(String, f64)> = m.into_iter().map(|(k, n)| (k, n as f64)).collect();
    v.sort_by(|a, b| b.1.total_cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    v
}

/// Days to answer in buckets, in their order.
fn answer_buckets(days: &[f64]) -> Vec<(String, f64)> {
    let buckets: [(&str, f64); 5] = [
        ("within 1 day", 1.0),
        ("2 to 7 days", 7.0),
        ("8 to 30 days", 30.0),
        ("31 to 90 days", 90.0),
        ("over 90 days", f64::MAX),
    ];
    let mut counts = [0u64; 5];
    for d in days {
        let i = buckets.iter().position(|(_, max)| *d <= *max).unwrap_or(4);
        counts[i] += 1;
    }
    if days.is_empty() {
        return Vec::new();
    }
    buckets.iter().zip(counts).map(|((l, _), n)| ((*l).to_string(), n as f64)).collect()
}

fn hold_buckets(days_left: &[i64]) -> Vec<(String, f64)> {
    if days_left.is_empty() {
        return Vec::new();
    }
    let buckets: [(&str, i64); 4] = [
        ("ended (not yet closed)", -1),
        ("0 to 7 days left", 7),
        ("8 to 30 days left", 30),
        ("over 30 days left", i64::MAX),
    ];
    let mut counts = [0u64; 4];
    for d in days_left {
        let i = buckets.iter().position(|(_, max)| *d <= *max).unwrap_or(3);
        counts[i] += 1;
    }
    buckets.iter().zip(counts).map(|((l, _), n)| ((*l).to_string(), n as f64)).collect()
}

fn median(v: &mut [f64]) -> Option<f64> {
    if v.is_empty() {
        return None;
    }
    v.sort_by(f64::total_cmp);
    Some(v[v.len() / 2])
}

/// The charts of the oversight page, from a pass over the cases.
pub fn oversight_charts(cases: &[&Scanned], today: treaty::Date) -> (Vec<Chart>, Figures) {
    let mut by_state: BTreeMap<String, u64> = BTreeMap::new();
    let mut by_measure: BTreeMap<String, u64> = BTreeMap::new();
    let mut by_outcome: BTreeMap<String, u64> = BTreeMap::new();
    let mut answer_days = Vec::new();
    let mut hold_days = Vec::new();
    let mut objections: BTreeMap<String, u64> = BTreeMap::new();
    let mut secrecy: BTreeMap<String, u64> = BTreeMap::new();
    let mut f = Figures::default();
    for s in cases {
        let c = &s.case;
        f.cases += 1;
        if let Some(b) = created_body(s)
            && c.side != Side::Provider
        {
            *by_state.entry(b["requesting_state"].as_str().unwrap_or("?").to_string()).or_default() += 1;
            *by_measure.entry(b["measure"].as_str().unwrap_or("?").replace('_', " ")).or_default() += 1;
        }
        if c.side == Side::Requested || c.side == Side::Requesting {
            *by_outcome.entry(c.state.id().replace('_', " ")).or_default() += 1;
        }
        let created = s.events.first().map(|e| e.at);
        let answered = s.events.iter().find(|e| matches!(e.kind.as_str(), "decided" | "answer_recorded")).map(|e| e.at);
        if let (Some(a), Some(b)) = (created, answered) {
            answer_days.push((b - a).max(0) as f64 / 86_400.0);
        }
        if c.state == CaseState::Preserved
            && let Some(h) = c.hold
        {
            hold_days.push(h.until.days_since_epoch() - today.days_since_epoch());
        }
        for e in &s.events {
            match e.kind.as_str() {
                "objected" => *objections.entry("raised".into()).or_default() += 1,
                "objection_decided" => {
                    *objections.entry(e.body["ruling"].as_str().unwrap_or("?").to_string()).or_default() += 1;
                }
                _ => {}
            }
        }
        let key = match c.secrecy {
            Secrecy::None => None,
            Secrecy::Secret { .. } => {
                f.secret += 1;
                Some("open, within its expiry")
            }
            Secrecy::RevealDue { .. } => {
                f.overdue += 1;
                Some("overdue: expired, not yet revealed")
            }
            Secrecy::Revealed { .. } => Some("ended and revealed"),
        };
        if let Some(k) = key {
            *secrecy.entry(k.into()).or_default() += 1;
        }
        if matches!(c.notification, case::Notification::Due { .. }) {
            f.notifications_due += 1;
        }
    }
    f.median_answer_days = median(&mut answer_days.clone());
    let pending = objections.remove("raised").unwrap_or(0);
    let ruled: u64 = objections.values().sum();
    let mut obj: Vec<(String, f64)> = ranked(objections);
    if pending > ruled {
        obj.insert(0, ("not yet ruled on".into(), (pending - ruled) as f64));
    }
    f.holds = hold_days.len() as u64;
    let charts = vec![
        charts::bars("by-state", "Requests by requesting State", "requests", &ranked(by_state)),
        charts::bars("by-measure", "Requests by measure", "requests", &ranked(by_measure)),
        charts::bars("by-outcome", "Requests by where they stand (outcome)", "requests", &ranked(by_outcome)),
        charts::bars(
            "answer",
            "Time to answer: from receipt to the decision",
            "requests",
            &answer_buckets(&answer_days),
        ),
        charts::bars("holds", "Holds by days left", "holds", &hold_buckets(&hold_days)),
        charts::bars("objections", "Objections of providers and how they ended", "objections", &obj),
        charts::bars("secrecy", "Confidentiality orders open and overdue", "cases", &ranked(secrecy)),
    ];
    (charts, f)
}

/// Headline figures of the oversight page.
#[derive(Debug, Default, Clone)]
pub struct Figures {
    cases: u64,
    secret: u64,
    overdue: u64,
    holds: u64,
    notifications_due: u64,
    median_answer_days: Option<f64>,
}

/// A witness of this node's log, for the oversight page.
#[derive(Debug)]
pub struct WitnessRow {
    name: String,
    /// It cosigned the latest checkpoint.
    cosigned: bool,
    /// It cosigned an earlier one (the latest is newer than its last round).
    earlier: bool,
}

#[derive(Template)]
#[template(path = "oversight.html")]
struct OversightPage<'a> {
    head: Head,
    figures: &'a Figures,
    median: String,
    charts: Vec<Chart>,
    log_size: u64,
    log_key: String,
    checkpoint: SignedCheckpoint,
    cosigned: Option<SignedCheckpoint>,
    witnesses: Vec<WitnessRow>,
    witnessed: Vec<String>,
}

/// A checkpoint as pages show it: its text and who signed it.
#[derive(Debug, Clone, Default)]
pub struct SignedCheckpoint {
    /// The signed note.
    pub text: String,
    /// Each signature's key name, and whose it is (the log's own key, or a witness).
    pub signers: Vec<(String, &'static str)>,
}

impl SignedCheckpoint {
    fn of(note: &[u8], log_key: &str) -> SignedCheckpoint {
        let signers = tlog::note::Note::parse(note)
            .map(|n| {
                n.signatures
                    .iter()
                    .map(|s| {
                        let whose = if log_key.starts_with(&format!("{}+", s.name)) {
                            "the log's own key"
                        } else {
                            "a witness"
                        };
                        (s.name.clone(), whose)
                    })
                    .collect()
            })
            .unwrap_or_default();
        SignedCheckpoint { text: String::from_utf8_lossy(note).into_owned(), signers }
    }

    /// Whether a witness cosigned it.
    pub fn witnessed(&self) -> bool {
        self.signers.iter().any(|(_, w)| *w == "a witness")
    }
}

/// The latest checkpoint this node serves (with the cosignatures gathered for it), and,
/// when its witnesses have not cosigned that size yet, the last one they did cosign.
pub async fn checkpoints(state: &AppState) -> (SignedCheckpoint, Option<SignedCheckpoint>) {
    let log_dir = state.config.base.join(&state.config.config.storage.log_dir);
    let log_key = state.log.as_ref().map(|l| l.verifier_key.clone()).unwrap_or_default();
    let Ok(raw) = tokio::fs::read(log_dir.join("checkpoint")).await else { return Default::default() };
    let served = match &state.witnessing {
        Some(w) => w.serving_checkpoint(&raw),
        None => raw,
    };
    let latest = SignedCheckpoint::of(&served, &log_key);
    let earlier = if latest.witnessed() {
        None
    } else {
        state.witnessing.as_ref().and_then(|w| w.last_cosigned()).map(|n| SignedCheckpoint::of(&n, &log_key))
    };
    (latest, earlier)
}

/// `GET /oversight`: statistics with charts, the log and its witnesses.
pub async fn oversight(State(state): State<AppState>, headers: HeaderMap) -> Response {
    let s = match admit(&state, &headers, &[Role::Oversight], "oversight bodies") {
        Ok(s) => s,
        Err(r) => return *r,
    };
    let Some(cases) = state.cases.clone() else { return no_store() };
    let snap = match state.role_pages.snapshot(&cases, state.log.as_ref()).await {
        Ok(x) => x,
        Err(p) => return p.into_response(),
    };
    let today = crate::clock::today();
    let key = (snap.log_size, today.days_since_epoch());
    let counted = {
        let mut kept = state.role_pages.oversight.lock().await;
        match kept.as_ref() {
            Some((k, c)) if *k == key => c.clone(),
            _ => {
                let seen: Vec<&Scanned> = visible(&snap, s.role).collect();
                let c = Arc::new(oversight_charts(&seen, today));
                *kept = Some((key, c.clone()));
                c
            }
        }
    };
    let (charts, figures) = (counted.0.clone(), &counted.1);
    let (checkpoint, cosigned) = checkpoints(&state).await;
    let (witnesses, witnessed) = match &state.peers {
        Some(p) => {
            let me = p.directory().party(p.me()).cloned();
            let ws = me
                .map(|m| {
                    m.witnesses
                        .iter()
                        .map(|w| WitnessRow {
                            cosigned: checkpoint.signers.iter().any(|(s, _)| s.starts_with(&format!("{w}."))),
                            earlier: cosigned
                                .as_ref()
                                .is_some_and(|c| c.signers.iter().any(|(s, _)| s.starts_with(&format!("{w}.")))),
                            name: w.clone(),
                        })
                        .collect()
                })
                .unwrap_or_default();
            let logs = p
                .directory()
                .parties
                .iter()
                .filter(|x| x.name != p.me() && x.log.is_some())
                .map(|x| x.name.clone())
                .collect();
            (ws, logs)
        }
        None => (Vec::new(), Vec::new()),
    };
    crate::pages::render(OversightPage {
        head: head(&state, &s),
        median: figures.median_answer_days.map(|d| format!("{d:.1}")).unwrap_or_else(|| "—".into()),
        figures,
        charts,
        log_size: cases.log_size(),
        log_key: state.log.as_ref().map(|l| l.verifier_key.clone()).unwrap_or_default(),
        checkpoint,
        cosigned,
        witnesses,
        witnessed,
    })
}

/// The charts of the public page, from revealed events and the log's statistics alone.
pub fn public_charts(p: &PublicFigures) -> Vec<Chart> {
    let st = &p.stats;
    let mut created: BTreeMap<&str, i64> = BTreeMap::new();
    let mut answered: BTreeMap<&str, i64> = BTreeMap::new();
    let mut hold_days = Vec::new();
    let mut objected = 0u64;
    for (tag, e) in &p.revealed {
        match &e.body {
            case::EventBody::Created { .. } => {
                created.entry(tag).or_insert(e.at.0);
            }
            case::EventBody::Decided { .. } | case::EventBody::AnswerRecorded { .. } => {
                answered.entry(tag).or_insert(e.at.0);
            }
            case::EventBody::HoldPlaced { until } => {
                hold_days.push(until.days_since_epoch() - e.at.date().days_since_epoch());
            }
            case::EventBody::Objected { .. } => objected += 1,
            _ => {}
        }
    }
    let answer: Vec<f64> =
        answered.iter().filter_map(|(t, b)| created.get(t).map(|a| (b - a).max(0) as f64 / 86_400.0)).collect();
    let mut held: BTreeMap<String, u64> = BTreeMap::new();
    for d in hold_days {
        let k = match d {
            ..=60 => "60 days (the minimum)",
            61..=90 => "61 to 90 days",
            _ => "over 90 days",
        };
        *held.entry(k.into()).or_default() += 1;
    }
    let ruled: u64 = st.objection_rulings.values().sum();
    let mut obj = ranked(st.objection_rulings.clone());
    if objected > ruled {
        obj.insert(0, ("not yet ruled on".into(), (objected - ruled) as f64));
    }
    let secrecy = vec![
        ("overdue: past reveal-by, not revealed".to_string(), st.overdue as f64),
        ("secret, within expiry".to_string(), st.secret as f64),
        ("revealed".to_string(), st.revealed as f64),
    ];
    vec![
        charts::bars(
            "p-by-state",
            "Requests by requesting State",
            "requests",
            &ranked(st.requests_by_requesting_state.clone()),
        ),
        charts::bars("p-by-measure", "Requests by measure", "requests", &ranked(st.requests_by_measure.clone())),
        charts::bars("p-outcome", "Decisions by outcome", "decisions", &ranked(st.decisions_by_action.clone())),
        charts::bars("p-answer", "Time to answer: from receipt to the decision", "requests", &answer_buckets(&answer)),
        charts::bars("p-holds", "Holds by length", "holds", &ranked(held)),
        charts::bars("p-objections", "Objections of providers and how they ended", "objections", &obj),
        charts::bars(
            "p-secrecy",
            "Commitments: secret, overdue, revealed",
            "commitments",
            &if st.overdue + st.secret + st.revealed == 0 { Vec::new() } else { secrecy },
        ),
    ]
}

//! Cases at this node: the `case` lifecycle, kept in the `store`, every event committed to
//! the node's log, and revealed when its secrecy ends.
//!
//! Order of writes, so that a crash loses nothing acknowledged: the events (with their
//! salts) and the new snapshot are stored in one transaction; then their commitments are
//! appended to the log; then their log indices are recorded. The messages a change sends
//! to other nodes are written (held) before the change is stored and released after. At
//! start, events stored but not yet logged are logged, and held messages are queued if
//! their change was stored and dropped if not ([`Cases::recover`]).

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;

use axum::http::StatusCode;
use case::commitment::{self, Commitment, Reveal};
use case::{Case, Command, CommandError, Event, Role, Secrecy, Side, Timestamp};
use serde::Serialize;
use serde_json::Value;
use sha2::{Digest, Sha256};
use store::{CaseFilter, CaseId, CaseUpdate, Cursor, DayNumber, NewCase, NewEvent, Store, StoreError, UnixTime};

use crate::auth::Caller;
use crate::peers::Hold;
use crate::problem::Problem;
use crate::transparency::Transparency;

/// The cases service of a node.
#[derive(Debug)]
pub struct Cases {
    /// The node's store, keeping case records in memory: this service is the only writer of
    /// cases in the process, and one process serves a node (the log's lock; on PostgreSQL
    /// also the schema's claim, see `open_store`).
    store: Arc<store::CachedStore>,
    log: Arc<Transparency>,
    node: String,
    secret: [u8; 32],
    peers: Option<Arc<crate::peers::Peers>>,
    crash: std::sync::Mutex<Option<CrashPoint>>,
    /// Views by (case, version, day, view): a stored version never changes and the
    /// policy's decision is a pure function of the case file and the day, so a view is
    /// built once and then served to every read of that version on that day.
    views: std::sync::Mutex<HashMap<ViewKey, Arc<CaseView>>>,
}

/// (case, version, day, view) of a kept [`CaseView`].
type ViewKey = (String, u64, i64, View);

/// How many views [`Cases`] keeps before it starts again.
const VIEWS_KEPT: usize = 4096;

/// Where a test makes a command stop as if the node crashed ([`Cases::crash_at`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CrashPoint {
    /// Its messages are written (held), its change is not stored.
    BeforeStore,
    /// Its change is stored, nothing after (not logged, its messages still held).
    AfterStore,
}

/// A message that a case change sends, and which of the change's events sends it.
struct Outgoing {
    to: String,
    message_type: &'static str,
    body: Value,
    event: usize,
}

/// What [`Cases::recover`] did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Recovered {
    /// Events stored but not logged, now logged.
    pub logged: usize,
    /// Messages held for a change that was stored, now queued.
    pub released: usize,
    /// Messages held for a change that was not stored, dropped.
    pub discarded: usize,
}

/// How much of a case a role may see.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum View {
    /// Everything, the case file included.
    Full,
    /// Metadata only: no case file (no personal data), no evidence.
    Metadata,
}

/// Which cases a role sees at all, and how much of them (need-to-know).
pub fn view_for(role: Role, side: Side) -> Option<View> {
    match role {
        Role::ProviderLegal => (side == Side::Provider).then_some(View::Full),
        Role::Oversight | Role::Administrator => Some(View::Metadata),
        Role::CaseWorker | Role::Judge | Role::CentralAuthority | Role::PointOfContact => {
            (side != Side::Provider).then_some(View::Full)
        }
        Role::Peer | Role::Clock => None,
    }
}

/// Whether `caller` finds a case in their lists (`/cases`, `GET /api/v1/cases`): the cases
/// their role may see ([`view_for`]), and for a case worker only the cases they opened
/// (`opened_by`: the name of who opened the case at this node). The other roles keep the
/// whole of what their role sees.
pub fn listed_for(caller: &Caller, side: Side, opened_by: Option<&str>) -> bool {
    view_for(caller.role, side).is_some() && (caller.role != Role::CaseWorker || opened_by == Some(&caller.name))
}

fn random32() -> Result<[u8; 32], Problem> {
    let mut b = [0u8; 32];
    getrandom::fill(&mut b).map_err(|e| internal("random source", &e.to_string()))?;
    Ok(b)
}

fn internal(what: &str, detail: &str) -> Problem {
    Problem::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", "Internal error").detail(format!("{what}: {detail}"))
}

fn store_problem(e: StoreError) -> Problem {
    match e {
        StoreError::CaseNotFound(id) => Problem::not_found(&format!("case {id}")),
        StoreError::CaseExists(id) => Problem::new(StatusCode::CONFLICT, "case-exists", "The case exists")
            .detail(format!("case {id} already exists"))
            .field("id"),
        e @ StoreError::VersionConflict { .. } => {
            Problem::new(StatusCode::CONFLICT, "version-conflict", "Someone else changed the case first")
                .detail(format!("{e}; reload the case and try again"))
        }
        e @ StoreError::BadCursor(_) => {
            Problem::new(StatusCode::BAD_REQUEST, "bad-cursor", "Bad cursor").detail(e.to_string()).field("cursor")
        }
        e @ StoreError::Invalid(_) => {
            Problem::new(StatusCode::BAD_REQUEST, "invalid", "Invalid request").detail(e.to_string())
        }
        e => internal("storage", &e.to_string()),
    }
}

fn command_problem(e: CommandError) -> Problem {
    let (status, kind) = match &e {
        CommandError::WrongRole { .. } => (StatusCode::FORBIDDEN, "wrong-role"),
        CommandError::InvalidCaseFile(_) => (StatusCode::UNPROCESSABLE_ENTITY, "invalid-case"),
        CommandError::AlreadyExists => (StatusCode::CONFLICT, "case-exists"),
        CommandError::NoSuchCase => (StatusCode::NOT_FOUND, "not-found"),
        _ => (StatusCode::UNPROCESSABLE_ENTITY, "command-refused"),
    };
    let field = match &e {
        CommandError::Empty { field }
        | CommandError::DateInPast { field, .. }
        | CommandError::NotLater { field, .. } => Some(*field),
        CommandError::MissingReason { .. } => Some("reasons"),
        CommandError::HoldTooShort { .. } => Some("until"),
        _ => None,
    };
    let mut p = Problem::new(status, kind, "The command was refused").detail(e.to_string());
    if let Some(f) = field {
        p = p.field(f);
    }
    p
}

/// What the API answers about a case.
#[derive(Debug, Serialize)]
pub struct CaseView {
    /// The stored version (send it back to detect concurrent changes).
    pub version: u64,
    /// The case (without its case file for metadata views).
    pub case: Value,
    /// The policy's decision on the case file today (full views only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub decision: Option<Value>,
    /// The view as JSON, made the first time it is asked for: a kept view is answered many
    /// times, and a view never changes once made.
    #[serde(skip)]
    json: std::sync::OnceLock<axum::body::Bytes>,
}

impl CaseView {
    /// A view of `case` at `version`, with the policy's `decision` for full views.
    pub fn new(version: u64, case: Value, decision: Option<Value>) -> CaseView {
        CaseView { version, case, decision, json: std::sync::OnceLock::new() }
    }

    /// The view as JSON (`{"version":…,"case":…,"decision":…}`), serialized once.
    pub fn to_json(&self) -> axum::body::Bytes {
        self.json
            .get_or_init(|| {
                // Values with string keys only: serializing cannot fail.
                serde_json::to_vec(self).map_or_else(|_| axum::body::Bytes::from_static(b"null"), Into::into)
            })
            .clone()
    }
}

/// One access to a case, as `GET /api/v1/cases/{id}/accesses` shows it.
#[derive(Debug, Clone, Serialize)]
pub struct AccessView {
    /// When (UTC).
    pub at: String,
    /// Who: the account's or the token's name.
    pub actor: String,
    /// Their role.
    pub role: String,
    /// What they accessed: the case (`read`), its events, its accesses, its evidence, its page.
    pub what: String,
    /// Where the access is committed in the node's log.
    pub log_index: u64,
}

/// One event as the API shows it.
#[derive(Debug, Serialize)]
pub struct EventView {
    /// The event.
    pub event: Value,
    /// Where its commitment is in the node's log.
    pub log_index: Option<u64>,
    /// Whether its salt and bytes were published.
    pub revealed: bool,
    /// The day by which it must be revealed.
    pub reveal_by: Option<String>,
}

impl Cases {
    /// The service over `store` and `log`, for node `node`, with the node's secret for case tags.
    pub fn new(store: Arc<dyn Store>, log: Arc<Transparency>, node: &str, secret: [u8; 32]) -> Cases {
        Cases {
            store: Arc::new(store::CachedStore::new(store, store::DEFAULT_KEPT_CASES)),
            log,
            node: node.into(),
            secret,
            peers: None,
            crash: std::sync::Mutex::new(None),
            views: std::sync::Mutex::new(HashMap::new()),
        }
    }

    /// How the kept case records have served reads (for metrics).
    pub fn cache_stats(&self) -> store::CacheStats {
        self.store.stats()
    }

    /// This node's place in the federation, if it has one.
    pub fn peers(&self) -> Option<Arc<crate::peers::Peers>> {
        self.peers.clone()
    }

    /// The same service, sending what the other nodes must know through `peers`.
    pub fn with_peers(mut self, peers: Arc<crate::peers::Peers>) -> Cases {
        peers.attach_log(self.log.clone());
        self.peers = Some(peers);
        self
    }

    /// The messages that events at this node send to other nodes: the request to the
    /// requested State, its answers back, the routing to the provider, the provider's
    /// acknowledgement, objection, hold and production, the judge's ruling, the evidence
    /// returned. A case received from node N with N's id X is named `N:X` here. At most one
    /// message per event.
    fn outgoing(&self, id: &str, after: &Case, events: &[Event]) -> Result<Vec<Outgoing>, Problem> {
        use crate::peers::{COMMAND, CommandBody, REQUEST, RequestBody};
        use case::EventBody as E;
        let mut out = Vec::new();
        let Some(peers) = &self.peers else { return Ok(out) };
        let body_err = |e: serde_json::Error| internal("a message body", &e.to_string());
        let origin = id.split_once(':');
        let file: Value = serde_json::from_str(&after.case_file).unwrap_or(Value::Null);
        let requested_ca = || -> Result<String, Problem> {
            let parsed = policy::parse_case(after.case_file.as_bytes())
                .map_err(|_| internal("the case file", "no longer valid"))?;
            peers.central_authority_of(parsed.request.requested_state).map(|p| p.name.clone()).ok_or_else(|| {
                Problem::new(
                    StatusCode::UNPROCESSABLE_ENTITY,
                    "no-peer",
                    "The requested State has no central authority in the federation directory",
                )
                .detail(parsed.request.requested_state.to_string())
            })
        };
        let command_to = |event: usize, to: &str, case: &str, command: Command| -> Result<Outgoing, Problem> {
            Ok(Outgoing {
                to: to.into(),
                message_type: COMMAND,
                body: serde_json::to_value(CommandBody { case: case.into(), command }).map_err(body_err)?,
                event,
            })
        };
        let confidential_until = events.iter().find_map(|e| match &e.body {
            E::ConfidentialitySet { until } => Some(*until),
            _ => None,
        });
        for (i, e) in events.iter().enumerate() {
            match (&after.side, &e.body) {
                (Side::Requesting, E::Sent) => {
                    let to = requested_ca()?;
                    // The request carries the judicial authorization given here.
                    let mut file = file.clone();
                    if let (Some(reference), Some(req)) =
                        (&after.authorization, file.get_mut("request").and_then(Value::as_object_mut))
                        && !req.contains_key("judicial_authorization")
                    {
                        req.insert(
                            "judicial_authorization".into(),
                            serde_json::json!({ "authority": format!("judicial authority, through {}", self.node), "reference": reference }),
                        );
                    }
                    let body = RequestBody {
                        case: id.into(),
                        side: Side::Requested,
                        case_file: file,
                        emergency: after.emergency,
                    };
                    out.push(Outgoing {
                        to,
                        message_type: REQUEST,
                        body: serde_json::to_value(body).map_err(body_err)?,
                        event: i,
                    });
                }
                (Side::Requesting, E::Resent) => out.push(command_to(
                    i,
                    &requested_ca()?,
                    &format!("{}:{id}", self.node),
                    Command::Resend { answer: "answered".into() },
                )?),
                (Side::Requested, E::Created { .. }) if e.actor == Role::Peer => {
                    if let Some((from, theirs)) = origin {
                        out.push(command_to(i, from, theirs, Command::Acknowledge)?);
                    }
                }
                (
                    Side::Requested,
                    E::Decided { action, reasons, until, .. } | E::ConsultationConcluded { action, reasons, until },
                ) => {
                    if let Some((from, theirs)) = origin {
                        out.push(command_to(
                            i,
                            from,
                            theirs,
                            Command::RecordAnswer {
                                action: *action,
                                reasons: reasons.clone(),
                                until: *until,
                                confidential_until,
                            },
                        )?);
                    }
                }
                (Side::Requested, E::ReviewDecided { action, reasons }) => {
                    if let Some((from, theirs)) = origin {
                        out.push(command_to(
                            i,
                            from,
                            theirs,
                            Command::RecordAnswer {
                                action: *action,
                                reasons: reasons.clone(),
                                until: None,
                                confidential_until,
                            },
                        )?);
                    }
                }
                (Side::Requested, E::Routed { provider }) => {
                    out.push(Outgoing {
                        to: provider.clone(),
                        message_type: REQUEST,
                        body: serde_json::to_value(RequestBody {
                            case: id.into(),
                            side: Side::Provider,
                            case_file: file.clone(),
                            emergency: after.emergency,
                        })
                        .map_err(body_err)?,
                        event: i,
                    });
                }
                (Side::Requested, E::ObjectionDecided { ruling, reasons }) => {
                    if let Some(p) = &after.provider {
                        out.push(command_to(
                            i,
                            p,
                            &format!("{}:{id}", self.node),
                            Command::DecideObjection { ruling: *ruling, reasons: reasons.clone() },
                        )?);
                    }
                }
                (Side::Requested, E::Returned) => {
                    if let (Some((from, theirs)), Some(pkg)) = (origin, after.evidence.last()) {
                        out.push(command_to(i, from, theirs, Command::ReceiveEvidence { package: pkg.clone() })?);
                    }
                }
                (Side::Provider, body) if e.actor != Role::Peer => {
                    let Some((from, theirs)) = origin else { continue };
                    let cmd = match body {
                        E::ProviderAcknowledged => Command::ProviderAcknowledge,
                        E::Objected { grounds } => Command::Object { grounds: grounds.clone() },
                        E::HoldPlaced { until } => Command::PlaceHold { until: *until },
                        E::Produced { package } => Command::ReceiveEvidence { package: package.clone() },
                        _ => continue,
                    };
                    out.push(command_to(i, from, theirs, cmd)?);
                }
                _ => {}
            }
        }
        Ok(out)
    }

    /// The ID of the message that event `seq` of case `case` sends: derived from both (and
    /// the node's secret), so that the receiver, which takes a message ID once, takes the
    /// message of one event once however often it is queued.
    pub fn message_id(&self, case: &str, seq: u64) -> [u8; 16] {
        let mut h = Sha256::new();
        h.update(b"custodia/message-id/v1\n");
        h.update(self.secret);
        h.update((case.len() as u32).to_be_bytes());
        h.update(case.as_bytes());
        h.update(seq.to_be_bytes());
        let d = h.finalize();
        let mut id = [0u8; 16];
        id.copy_from_slice(&d[..16]);
        id
    }

    /// Writes the messages of a case change before the change is stored, held
    /// ([`crate::peers::Peers::hold`]): `stored` are the change's events as they will be
    /// stored, the first numbered `first_seq`.
    fn hold_outgoing(
        &self,
        id: &str,
        after: &Case,
        events: &[Event],
        stored: &[NewEvent],
        first_seq: u64,
    ) -> Result<Vec<(PathBuf, Option<Hold>)>, Problem> {
        let Some(peers) = &self.peers else { return Ok(Vec::new()) };
        let mut held = Vec::new();
        for m in self.outgoing(id, after, events)? {
            let seq = first_seq + m.event as u64;
            let salt = stored.get(m.event).map(|e| e.salt).ok_or_else(|| internal("a message", "no such event"))?;
            let hold = Hold { case: id.into(), seq, salt_sha256: case::engine::hex(&Sha256::digest(salt)) };
            match peers.hold(&m.to, m.message_type, self.message_id(id, seq), &m.body, &hold) {
                Ok(p) => held.push((p, Some(hold))),
                Err(e) => {
                    let paths: Vec<PathBuf> = held.into_iter().map(|(p, _)| p).collect();
                    if let Err(d) = peers.discard(&paths) {
                        tracing::error!(error = %d, "cannot drop the messages of a change not stored");
                    }
                    return Err(match e {
                        crate::peers::PeersError::UnknownParty(_) => Problem::new(
                            StatusCode::UNPROCESSABLE_ENTITY,
                            "no-peer",
                            "The node this change must tell is not in the federation directory",
                        )
                        .detail(e.to_string()),
                        e => internal("queueing a message", &e.to_string()),
                    });
                }
            }
        }
        Ok(held)
    }

    /// Releases the held messages whose change is stored (the event of that number has
    /// that salt) and drops the others. Returns how many of each.
    async fn settle(&self, held: Vec<(PathBuf, Option<Hold>)>) -> Result<(usize, usize), Problem> {
        let Some(peers) = &self.peers else { return Ok((0, 0)) };
        let mut salts: std::collections::HashMap<String, std::collections::HashMap<u64, String>> = Default::default();
        let (mut release, mut discard) = (Vec::new(), Vec::new());
        for (path, hold) in held {
            let Some(hold) = hold else {
                tracing::error!(file = %path.display(), "a held message that does not read: dropped");
                discard.push(path);
                continue;
            };
            if !salts.contains_key(&hold.case) {
                let stored = match CaseId::new(hold.case.clone()) {
                    Ok(cid) => match self.store.events(&cid).await {
                        Ok(events) => events,
                        Err(StoreError::CaseNotFound(_)) => Vec::new(),
                        Err(e) => return Err(store_problem(e)),
                    },
                    Err(_) => Vec::new(),
                };
                let by_seq = stored.iter().map(|r| (r.seq, case::engine::hex(&Sha256::digest(r.salt)))).collect();
                salts.insert(hold.case.clone(), by_seq);
            }
            if salts.get(&hold.case).and_then(|m| m.get(&hold.seq)) == Some(&hold.salt_sha256) {
                release.push(path);
            } else {
                discard.push(path);
            }
        }
        let settled = (release.len(), discard.len());
        peers.release(&release).map_err(|e| internal("queueing a message", &e.to_string()))?;
        peers.discard(&discard).map_err(|e| internal("dropping a message", &e.to_string()))?;
        Ok(settled)
    }

    /// After the store refused or failed a change: its held messages are released if the
    /// change was stored after all, dropped if not; if that cannot be told now, they stay
    /// held until the next start settles them.
    async fn settle_unstored(&self, held: Vec<(PathBuf, Option<Hold>)>) {
        if held.is_empty() {
            return;
        }
        if let Err(p) = self.settle(held).await {
            tracing::error!(problem = ?p.detail, "cannot tell whether a change was stored: its messages stay held");
        }
    }

    /// Queues the held messages of a change that is stored.
    fn release(&self, held: Vec<(PathBuf, Option<Hold>)>) -> Result<(), Problem> {
        let (Some(peers), false) = (&self.peers, held.is_empty()) else { return Ok(()) };
        let paths: Vec<PathBuf> = held.into_iter().map(|(p, _)| p).collect();
        peers.release(&paths).map_err(|e| {
            internal("queueing a message", &format!("{e} (the change is stored; the next start queues it)"))
        })
    }

    /// Stops here if a test asked for a crash at `point`.
    fn crash_point(&self, point: CrashPoint) -> Result<(), Problem> {
        if *self.crash.lock().unwrap_or_else(|e| e.into_inner()) == Some(point) {
            return Err(internal("simulated crash", &format!("{point:?}")));
        }
        Ok(())
    }

    /// For tests: makes every command stop at `point` as a crash would (nothing after it
    /// runs, and it answers an internal error), until set to `None`.
    pub fn crash_at(&self, point: Option<CrashPoint>) {
        *self.crash.lock().unwrap_or_else(|e| e.into_inner()) = point;
    }

    fn case_salt(&self, id: &str) -> [u8; 32] {
        let mut h = Sha256::new();
        h.update(b"custodia/case-salt/v1\n");
        h.update(self.secret);
        h.update(id.as_bytes());
        h.finalize().into()
    }

    fn load_case(record: &store::CaseRecord) -> Result<Case, Problem> {
        serde_json::from_slice(&record.snapshot).map_err(|e| internal("reading the stored case", &e.to_string()))
    }

    /// New events with salts and reveal-by days: `before` is the case before them (or the
    /// case made by the first of them, for a creation).
    fn prepare(before: Option<&Case>, created: &Case, events: &[Event]) -> Result<Vec<NewEvent>, Problem> {
        let mut case = before.cloned().unwrap_or_else(|| created.clone());
        let mut out = Vec::with_capacity(events.len());
        for (i, e) in events.iter().enumerate() {
            if before.is_some() || i > 0 {
                case::apply(&mut case, e);
            }
            let by = commitment::reveal_by(&case, e);
            out.push(NewEvent {
                kind: e.kind().into(),
                at: UnixTime(e.at.0),
                bytes: e.to_bytes(),
                salt: random32()?,
                reveal_by: Some(DayNumber(by.days_since_epoch())),
            });
        }
        Ok(out)
    }

    /// What follows the write of a case and its `events` (numbered on from `last_seq`): if it
    /// failed, its held messages are settled and the error returned; if it was stored, the
    /// events are committed to the log, the reveals due are published, and the messages are
    /// released, whatever became of the logging (the next start logs what is missing).
    #[allow(clippy::too_many_arguments)]
    async fn after_write(
        &self,
        id: &CaseId,
        stored: Result<store::CaseRecord, StoreError>,
        held: Vec<(PathBuf, Option<Hold>)>,
        case: &Case,
        last_seq: u64,
        events: Vec<NewEvent>,
        today: treaty::Date,
    ) -> Result<store::CaseRecord, Problem> {
        let record = match stored {
            Ok(r) => r,
            Err(e) => {
                self.settle_unstored(held).await;
                return Err(store_problem(e));
            }
        };
        self.crash_point(CrashPoint::AfterStore)?;
        let logged = async {
            self.log_events(id, Self::stored_as(id, last_seq, events)).await?;
            self.publish_due(id, case, today).await
        }
        .await;
        self.release(held)?;
        logged?;
        Ok(record)
    }

    /// The records of `events` as the store holds them once written after event `last_seq`
    /// of the case (a write is all or nothing, its events numbered on from `last_seq`), so
    /// that they need not be read back.
    fn stored_as(id: &CaseId, last_seq: u64, events: Vec<NewEvent>) -> Vec<store::EventRecord> {
        events
            .into_iter()
            .zip(last_seq + 1..)
            .map(|(e, seq)| store::EventRecord {
                case_id: id.clone(),
                seq,
                kind: e.kind,
                at: e.at,
                bytes: e.bytes,
                salt: e.salt,
                reveal_by: e.reveal_by,
                log_index: None,
                revealed: false,
            })
            .collect()
    }

    /// Commits stored events to the log and records their indices.
    async fn log_events(&self, id: &CaseId, events: Vec<store::EventRecord>) -> Result<(), Problem> {
        if events.is_empty() {
            return Ok(());
        }
        let salt = self.case_salt(id.as_str());
        let mut entries = Vec::with_capacity(events.len());
        for r in &events {
            let e = Event::from_bytes(&r.bytes).map_err(|e| internal("reading a stored event", &e.to_string()))?;
            let by = treaty::Date::from_days_since_epoch(r.reveal_by.map_or(e.at.date().days_since_epoch(), |d| d.0));
            entries.push(Commitment::new(&self.node, &salt, &e, &r.salt, by).to_entry());
        }
        let first = self.log.append_async(entries).await.map_err(|e| internal("the log", &e.to_string()))?;
        let indices: Vec<(u64, u64)> = events.iter().enumerate().map(|(i, r)| (r.seq, first + i as u64)).collect();
        self.store.set_log_indices(id, &indices).await.map_err(store_problem)?;
        Ok(())
    }

    /// Publishes the reveals that are due for a case whose secrecy has ended (or that
    /// never had any): salt and bytes of every committed event not yet revealed. Events
    /// committed while an order stood are revealed with the case, whatever reveal-by date
    /// they were committed with.
    async fn publish_due(&self, id: &CaseId, case: &Case, _today: treaty::Date) -> Result<(), Problem> {
        if matches!(case.secrecy, Secrecy::Secret { .. } | Secrecy::RevealDue { .. }) {
            return Ok(());
        }
        let due: Vec<_> = self
            .store
            .events(id)
            .await
            .map_err(store_problem)?
            .into_iter()
            .filter(|r| !r.revealed && r.log_index.is_some())
            .collect();
        if due.is_empty() {
            return Ok(());
        }
        let entries: Vec<Vec<u8>> = due
            .iter()
            .map(|r| {
                Reveal { hash: commitment::commitment_hash(&r.salt, &r.bytes), salt: r.salt, bytes: r.bytes.clone() }
                    .to_entry()
            })
            .collect();
        self.log.append_async(entries).await.map_err(|e| internal("the log", &e.to_string()))?;
        for r in &due {
            self.store.mark_revealed(id, r.seq).await.map_err(store_problem)?;
        }
        Ok(())
    }

    /// Logs what a crash left stored but unlogged, then settles the messages it left
    /// held: queued if their change was stored, dropped if not. Run at start, before any
    /// command (a command in flight holds messages whose change is not stored yet).
    pub async fn recover(&self) -> Result<Recovered, Problem> {
        let logged = self.recover_log().await?;
        let held = self.peers.as_ref().map(|p| p.held()).unwrap_or_default();
        let (released, discarded) = self.settle(held).await?;
        Ok(Recovered { logged, released, discarded })
    }

    async fn recover_log(&self) -> Result<usize, Problem> {
        let mut n = 0;
        loop {
            let pending = self.store.events_not_logged(1000).await.map_err(store_problem)?;
            if pending.is_empty() {
                return Ok(n);
            }
            n += pending.len();
            let mut by_case: std::collections::BTreeMap<CaseId, Vec<store::EventRecord>> = Default::default();
            for r in pending {
                by_case.entry(r.case_id.clone()).or_default().push(r);
            }
            for (id, events) in by_case {
                self.log_events(&id, events).await?;
            }
        }
    }

    fn view(&self, version: u64, case: &Case, view: View, today: treaty::Date) -> CaseView {
        let mut v = serde_json::to_value(case).unwrap_or(Value::Null);
        let decision = match view {
            View::Full => policy::parse_case(case.case_file.as_bytes()).ok().map(|mut c| {
                c.as_of = today;
                serde_json::to_value(policy::evaluate(&c)).unwrap_or(Value::Null)
            }),
            View::Metadata => {
                if let Some(o) = v.as_object_mut() {
                    o.remove("case_file");
                    o.remove("evidence");
                    o.remove("authorization");
                }
                None
            }
        };
        CaseView::new(version, v, decision)
    }

    /// The view of case `id` at `version` for `today`, if one was built.
    pub fn kept_view(&self, id: &str, version: u64, today: treaty::Date, view: View) -> Option<Arc<CaseView>> {
        let key = (id.to_string(), version, today.days_since_epoch(), view);
        self.views.lock().unwrap_or_else(|e| e.into_inner()).get(&key).cloned()
    }

    /// Builds (or takes from those kept) the view of a case as stored in `record`.
    fn view_kept(
        &self,
        record: &store::CaseRecord,
        case: Option<&Case>,
        view: View,
        today: treaty::Date,
    ) -> Result<Arc<CaseView>, Problem> {
        let key = (record.id.as_str().to_string(), record.version, today.days_since_epoch(), view);
        if let Some(v) = self.views.lock().unwrap_or_else(|e| e.into_inner()).get(&key) {
            return Ok(v.clone());
        }
        let v = Arc::new(match case {
            Some(case) => self.view(record.version, case, view, today),
            None => self.view(record.version, &Self::load_case(record)?, view, today),
        });
        let mut views = self.views.lock().unwrap_or_else(|e| e.into_inner());
        if views.len() >= VIEWS_KEPT {
            views.clear();
        }
        views.insert(key, v.clone());
        Ok(v)
    }

    /// The side of a stored case: its `kind` column (set from the side when it was
    /// opened), else read from its snapshot.
    fn side_of(record: &store::CaseRecord) -> Result<Side, Problem> {
        match Side::ALL.iter().copied().find(|s| s.id() == record.kind) {
            Some(side) => Ok(side),
            None => Ok(Self::load_case(record)?.side),
        }
    }

    /// Opens a case from a case file.
    pub async fn create(
        &self,
        caller: &Caller,
        id: Option<String>,
        side: Side,
        case_file: &Value,
        emergency: bool,
        now: Timestamp,
    ) -> Result<Arc<CaseView>, Problem> {
        let id = match id {
            Some(i) => i,
            None => format!("case-{}", case::engine::hex(&random32()?[..8])),
        };
        let case_id = CaseId::new(id.clone()).map_err(store_problem)?;
        let text = serde_json::to_string(case_file).map_err(|e| internal("the case file", &e.to_string()))?;
        let cmd = Command::Create { id, side, case_file: text, emergency };
        let (case, created) = Case::create(&cmd, caller.role, now).map_err(command_problem)?;
        let events = Self::prepare(None, &case, std::slice::from_ref(&created))?;
        let held = self.hold_outgoing(case_id.as_str(), &case, std::slice::from_ref(&created), &events, 1)?;
        self.crash_point(CrashPoint::BeforeStore)?;
        let stored = self
            .store
            .create_case(
                NewCase {
                    id: case_id.clone(),
                    node: self.node.clone(),
                    kind: side.id().into(),
                    state: case.state.id().into(),
                    snapshot: serde_json::to_vec(&case).map_err(|e| internal("the case", &e.to_string()))?,
                    created_at: UnixTime(now.0),
                    // A case from another node was opened by no one here.
                    opened_by: (!matches!(caller.role, Role::Peer | Role::Clock)).then(|| caller.name.clone()),
                },
                events.clone(),
            )
            .await;
        let record = self.after_write(&case_id, stored, held, &case, 0, events, now.date()).await?;
        self.view_kept(&record, Some(&case), View::Full, now.date())
    }

    /// Runs a command on a case, as `caller`.
    pub async fn command(
        &self,
        caller: &Caller,
        id: &str,
        command: &Command,
        expected_version: Option<u64>,
        now: Timestamp,
    ) -> Result<(Arc<CaseView>, Vec<Value>), Problem> {
        let case_id = CaseId::new(id).map_err(store_problem)?;
        let record = self
            .store
            .load_case(&case_id)
            .await
            .map_err(store_problem)?
            .ok_or_else(|| Problem::not_found(&format!("case {id}")))?;
        let before = Self::load_case(&record)?;
        // People see only what they need to know; `peer` (a verified message from the
        // counterpart node) and `clock` are the node's own, never given to a token.
        if !matches!(caller.role, Role::Peer | Role::Clock) && view_for(caller.role, before.side).is_none() {
            return Err(Problem::not_found(&format!("case {id}")));
        }
        if let Some(v) = expected_version
            && v != record.version
        {
            return Err(store_problem(StoreError::VersionConflict {
                id: case_id,
                expected: v,
                actual: record.version,
            }));
        }
        if matches!(command, Command::Create { .. }) {
            return Err(command_problem(CommandError::AlreadyExists));
        }
        let mut after = before.clone();
        let events = after.execute(command, caller.role, now).map_err(command_problem)?;
        if events.is_empty() {
            // Nothing happened (a tick with nothing due): nothing to store or log.
            return Ok((self.view_kept(&record, Some(&before), View::Full, now.date())?, Vec::new()));
        }
        let new_events = Self::prepare(Some(&before), &after, &events)?;
        let held = self.hold_outgoing(case_id.as_str(), &after, &events, &new_events, record.last_seq + 1)?;
        self.crash_point(CrashPoint::BeforeStore)?;
        let stored = self
            .store
            .update_case(
                &case_id,
                CaseUpdate {
                    expected_version: record.version,
                    state: after.state.id().into(),
                    snapshot: serde_json::to_vec(&after).map_err(|e| internal("the case", &e.to_string()))?,
                    events: new_events.clone(),
                    at: UnixTime(now.0),
                },
            )
            .await;
        let stored = self.after_write(&case_id, stored, held, &after, record.last_seq, new_events, now.date()).await?;
        let events = events.iter().map(|e| serde_json::to_value(e).unwrap_or(Value::Null)).collect();
        Ok((self.view_kept(&stored, Some(&after), View::Full, now.date())?, events))
    }

    /// What time has made due, at every case that has events past their reveal-by day:
    /// the clock ticks (the case becomes reveal due), the case is revealed, and the
    /// reveals are published. Returns how many cases were revealed. A node runs this
    /// regularly; one that does not is counted as overdue from its log.
    pub async fn sweep(&self, now: Timestamp) -> Result<usize, Problem> {
        let today = now.date();
        let due = self.store.events_due_for_reveal(DayNumber(today.days_since_epoch())).await.map_err(store_problem)?;
        let mut ids: Vec<CaseId> = due.into_iter().map(|e| e.case_id).collect();
        ids.dedup();
        let clock = Caller { name: "clock".into(), role: Role::Clock, token_id: "-".into() };
        let mut revealed = 0;
        for id in ids {
            let Some(record) = self.store.load_case(&id).await.map_err(store_problem)? else { continue };
            let case = Self::load_case(&record)?;
            let case = if matches!(case.secrecy, Secrecy::Secret { .. }) {
                match self.command(&clock, id.as_str(), &Command::Tick, Some(record.version), now).await {
                    Ok(_) => Self::load_case(
                        &self
                            .store
                            .load_case(&id)
                            .await
                            .map_err(store_problem)?
                            .ok_or_else(|| Problem::not_found("case"))?,
                    )?,
                    Err(_) => continue, // changed meanwhile: next round
                }
            } else {
                case
            };
            if matches!(case.secrecy, Secrecy::RevealDue { .. }) {
                if self.command(&clock, id.as_str(), &Command::Reveal, None, now).await.is_ok() {
                    revealed += 1;
                }
            } else {
                self.publish_due(&id, &case, today).await?;
            }
        }
        Ok(revealed)
    }

    /// Whether node `sender` may run commands on case `id` here: a case it sent us
    /// (`SENDER:...`), a request we sent to it (it is the requested State's central
    /// authority), or a request we routed to it (it is the provider).
    pub async fn peer_may_command(&self, sender: &str, id: &str) -> Result<bool, Problem> {
        if id.split_once(':').is_some_and(|(from, _)| from == sender) {
            return Ok(true);
        }
        let Ok(case_id) = CaseId::new(id) else { return Ok(false) };
        let Some(record) = self.store.load_case(&case_id).await.map_err(store_problem)? else { return Ok(false) };
        let case = Self::load_case(&record)?;
        Ok(match case.side {
            Side::Requesting => self.peers.as_ref().is_some_and(|p| {
                policy::parse_case(case.case_file.as_bytes())
                    .ok()
                    .and_then(|c| p.central_authority_of(c.request.requested_state).map(|x| x.name == sender))
                    .unwrap_or(false)
            }),
            Side::Requested => case.provider.as_deref() == Some(sender),
            Side::Provider => false,
        })
    }

    /// The number of a case's last event (`None` when there is no such case): what the
    /// inbox writes down before a message acts on the case.
    pub async fn last_seq(&self, id: &str) -> Result<Option<u64>, Problem> {
        let Ok(case_id) = CaseId::new(id) else { return Ok(None) };
        Ok(self.store.load_case(&case_id).await.map_err(store_problem)?.map(|r| r.last_seq))
    }

    /// Whether case `id` has an event by `peer` after event `seq`: after a crash, whether
    /// the message the inbox was acting on then had acted.
    pub async fn peer_acted_since(&self, id: &str, seq: u64) -> Result<bool, Problem> {
        let Ok(case_id) = CaseId::new(id) else { return Ok(false) };
        for r in self.store.events(&case_id).await.map_err(store_problem)? {
            if r.seq > seq
                && Event::from_bytes(&r.bytes).map_err(|e| internal("reading a stored event", &e.to_string()))?.actor
                    == Role::Peer
            {
                return Ok(true);
            }
        }
        Ok(false)
    }

    /// How many cases of each kind are in each state (for `/metrics`).
    pub async fn count_by_state(&self) -> Result<Vec<(String, String, u64)>, Problem> {
        let mut counts: std::collections::BTreeMap<(String, String), u64> = Default::default();
        let filter = CaseFilter { node: Some(self.node.clone()), ..CaseFilter::default() };
        let mut cursor: Option<Cursor> = None;
        loop {
            let page = self.store.list_cases(&filter, cursor.as_ref(), store::MAX_PAGE).await.map_err(store_problem)?;
            for r in &page.items {
                *counts.entry((r.kind.clone(), r.state.clone())).or_default() += 1;
            }
            match page.next {
                Some(c) => cursor = Some(c),
                None => break,
            }
        }
        Ok(counts.into_iter().map(|((k, s), n)| (k, s, n)).collect())
    }

    /// A case, as `caller` may see it.
    pub async fn get(&self, caller: &Caller, id: &str, today: treaty::Date) -> Result<Arc<CaseView>, Problem> {
        let case_id = CaseId::new(id).map_err(store_problem)?;
        let record = self
            .store
            .load_case(&case_id)
            .await
            .map_err(store_problem)?
            .ok_or_else(|| Problem::not_found(&format!("case {id}")))?;
        let view =
            view_for(caller.role, Self::side_of(&record)?).ok_or_else(|| Problem::not_found(&format!("case {id}")))?;
        self.view_kept(&record, None, view, today)
    }

    /// Records that `caller` accessed case `id` (`what`: one of
    /// [`case::commitment::ACCESS_KINDS`]): the access's commitment is appended to the
    /// node's log, then the record is stored with where it was logged, before anything of
    /// the case is answered. If either fails, the access is refused, so no case is read
    /// without a trace.
    pub async fn record_access(
        &self,
        caller: &Caller,
        id: &str,
        what: &'static str,
        now: case::Timestamp,
    ) -> Result<(), Problem> {
        let case_id = CaseId::new(id).map_err(store_problem)?;
        let record = case::commitment::AccessRecord {
            case: id.to_string(),
            at: now.0,
            actor: caller.name.clone(),
            credential: caller.token_id.clone(),
            role: caller.role.id().to_string(),
            what: what.to_string(),
        };
        let salt = random32()?;
        let entry = case::commitment::AccessCommitment::new(&self.node, &self.case_salt(id), &record, &salt).to_entry();
        let log_index = self.log.append_async(vec![entry]).await.map_err(|e| internal("the log", &e.to_string()))?;
        self.store
            .record_accesses(vec![store::NewAccess {
                case_id,
                at: UnixTime(now.0),
                role: record.role.clone(),
                what: record.what.clone(),
                bytes: record.to_bytes(),
                salt,
                log_index,
            }])
            .await
            .map_err(store_problem)
    }

    /// Who accessed case `id`, when and how, with where each access is committed in the
    /// log (for those who may see the case, oversight among them).
    pub async fn accesses(&self, caller: &Caller, id: &str) -> Result<Vec<AccessView>, Problem> {
        self.get(caller, id, treaty::Date::from_days_since_epoch(0)).await?;
        let case_id = CaseId::new(id).map_err(store_problem)?;
        let records = self.store.accesses(&case_id).await.map_err(store_problem)?;
        Ok(records
            .into_iter()
            .filter_map(|r| {
                serde_json::from_slice::<case::commitment::AccessRecord>(&r.bytes).ok().map(|a| (a, r.log_index))
            })
            .map(|(a, log_index)| AccessView {
                at: case::Timestamp(a.at).to_string(),
                actor: a.actor,
                role: a.role,
                what: a.what,
                log_index,
            })
            .collect())
    }

    /// A case's events with their commitments' bookkeeping.
    pub async fn events(&self, caller: &Caller, id: &str) -> Result<Vec<EventView>, Problem> {
        self.get(caller, id, treaty::Date::from_days_since_epoch(0)).await?;
        let case_id = CaseId::new(id).map_err(store_problem)?;
        let records = self.store.events(&case_id).await.map_err(store_problem)?;
        Ok(records
            .into_iter()
            .map(|r| EventView {
                event: serde_json::from_slice(&r.bytes).unwrap_or(Value::Null),
                log_index: r.log_index,
                revealed: r.revealed,
                reveal_by: r.reveal_by.map(|d| treaty::Date::from_days_since_epoch(d.0).to_string()),
            })
            .collect())
    }

    /// The cases `caller` may see, a page at a time.
    pub async fn list(
        &self,
        caller: &Caller,
        state: Option<String>,
        cursor: Option<&str>,
        limit: u32,
        today: treaty::Date,
    ) -> Result<(Vec<Arc<CaseView>>, Option<String>), Problem> {
        let cursor = cursor.map(Cursor::parse).transpose().map_err(store_problem)?;
        let kind = (caller.role == Role::ProviderLegal).then(|| Side::Provider.id().to_string());
        // A case worker lists the cases they opened ([`listed_for`]).
        let opened_by = (caller.role == Role::CaseWorker).then(|| caller.name.clone());
        let filter = CaseFilter { node: Some(self.node.clone()), kind, state, opened_by };
        let page = self
            .store
            .list_cases(&filter, cursor.as_ref(), limit.clamp(1, store::MAX_PAGE))
            .await
            .map_err(store_problem)?;
        let mut out = Vec::new();
        for r in &page.items {
            let side = Self::side_of(r)?;
            if let Some(view) = view_for(caller.role, side)
                && listed_for(caller, side, r.opened_by.as_deref())
            {
                out.push(self.view_kept(r, None, view, today)?);
            }
        }
        Ok((out, page.next.map(|c| c.as_str().to_string())))
    }
}

// ---------------- For the role pages (`roles`): one pass over the node's cases ----------------

/// One case as the role pages and their statistics see it: its snapshot without the case
/// file, and its events' kinds and times (with the body of the few kinds that statistics
/// count: `created`, decisions, rulings).
#[derive(Debug, Clone)]
pub struct Scanned {
    /// The stored version it was read at.
    pub version: u64,
    /// Who opened it at this node (none for a case from another node).
    pub opened_by: Option<String>,
    /// The case (its `case_file` emptied: no personal data leaves this pass).
    pub case: Case,
    /// Its events, in order.
    pub events: Vec<ScannedEvent>,
}

/// One event of a [`Scanned`] case.
#[derive(Debug, Clone)]
pub struct ScannedEvent {
    /// Its kind (`created`, `decided`...).
    pub kind: String,
    /// When it happened (seconds since the epoch, UTC).
    pub at: i64,
    /// The event's JSON for `created`, `decided`, `answer_recorded`,
    /// `consultation_concluded`, `review_decided` and `objection_decided`; else null.
    pub body: Value,
}

/// The event kinds whose body a scan keeps.
const SCANNED_BODIES: &[&str] =
    &["created", "decided", "answer_recorded", "consultation_concluded", "review_decided", "objection_decided"];

impl Cases {
    /// Every case of this node with its events' metadata, for the role pages' queues and
    /// statistics. Whoever shows them filters by [`view_for`]. A case of `previous` whose
    /// stored version has not moved is taken from there, not read and parsed again.
    pub async fn scan(&self, previous: &[Arc<Scanned>]) -> Result<Vec<Arc<Scanned>>, Problem> {
        let known: std::collections::HashMap<&str, &Arc<Scanned>> =
            previous.iter().map(|s| (s.case.id.as_str(), s)).collect();
        let filter = CaseFilter { node: Some(self.node.clone()), ..CaseFilter::default() };
        let mut cursor: Option<Cursor> = None;
        let mut out = Vec::new();
        loop {
            let page = self.store.list_cases(&filter, cursor.as_ref(), store::MAX_PAGE).await.map_err(store_problem)?;
            for r in &page.items {
                if let Some(p) = known.get(r.id.as_str())
                    && p.version == r.version
                {
                    out.push(Arc::clone(p));
                    continue;
                }
                out.push(self.scanned(r).await?);
            }
            match page.next {
                Some(c) => cursor = Some(c),
                None => break,
            }
        }
        Ok(out)
    }

    /// Records that `caller` accessed each case of `ids` (`what` as in
    /// [`Cases::record_access`]), with one append to the log for all of them (a role page
    /// that shows several cases in full), before any of them is answered.
    pub async fn record_accesses(
        &self,
        caller: &Caller,
        ids: &[String],
        what: &'static str,
        now: case::Timestamp,
    ) -> Result<(), Problem> {
        if ids.is_empty() {
            return Ok(());
        }
        let mut entries = Vec::with_capacity(ids.len());
        let mut pending = Vec::with_capacity(ids.len());
        for id in ids {
            let case_id = CaseId::new(id.as_str()).map_err(store_problem)?;
            let record = case::commitment::AccessRecord {
                case: id.clone(),
                at: now.0,
                actor: caller.name.clone(),
                credential: caller.token_id.clone(),
                role: caller.role.id().to_string(),
                what: what.to_string(),
            };
            let salt = random32()?;
            entries.push(
                case::commitment::AccessCommitment::new(&self.node, &self.case_salt(id), &record, &salt).to_entry(),
            );
            pending.push((case_id, record, salt));
        }
        let first = self.log.append_async(entries).await.map_err(|e| internal("the log", &e.to_string()))?;
        let accesses = pending
            .into_iter()
            .enumerate()
            .map(|(i, (case_id, record, salt))| store::NewAccess {
                case_id,
                at: UnixTime(now.0),
                role: record.role.clone(),
                what: record.what.clone(),
                bytes: record.to_bytes(),
                salt,
                log_index: first + i as u64,
            })
            .collect();
        self.store.record_accesses(accesses).await.map_err(store_problem)
    }

    /// The tag that case `id`'s commitments carry in the log.
    pub fn tag_of(&self, id: &str) -> String {
        commitment::case_tag(&self.case_salt(id), id)
    }

    /// One case as [`Cases::scan`] reads it (none if there is no such case).
    pub async fn scan_one(&self, id: &str) -> Result<Option<Arc<Scanned>>, Problem> {
        let case_id = CaseId::new(id).map_err(store_problem)?;
        let Some(r) = self.store.load_case(&case_id).await.map_err(store_problem)? else { return Ok(None) };
        Ok(Some(self.scanned(&r).await?))
    }

    /// The cases created at or after `since` (seconds; creation order) that `known` does
    /// not know, as [`Cases::scan`] reads them.
    pub async fn scan_since(
        &self,
        since: i64,
        known: &(dyn Fn(&str) -> bool + Sync),
    ) -> Result<Vec<Arc<Scanned>>, Problem> {
        let mut raw = since.to_be_bytes().to_vec();
        raw.push(b' '); // just before every case id (ids hold no control character)
        let text: String = std::iter::once("c1.".to_string()).chain(raw.iter().map(|b| format!("{b:02x}"))).collect();
        let mut cursor = Some(Cursor::parse(&text).map_err(store_problem)?);
        let filter = CaseFilter { node: Some(self.node.clone()), ..CaseFilter::default() };
        let mut out = Vec::new();
        while let Some(c) = cursor.take() {
            let page = self.store.list_cases(&filter, Some(&c), store::MAX_PAGE).await.map_err(store_problem)?;
            for r in page.items.iter().filter(|r| !known(r.id.as_str())) {
                out.push(self.scanned(r).await?);
            }
            cursor = page.next;
        }
        Ok(out)
    }

    async fn scanned(&self, r: &store::CaseRecord) -> Result<Arc<Scanned>, Problem> {
        let mut case = Self::load_case(r)?;
        case.case_file = Arc::from("");
        let events = self
            .store
            .events(&r.id)
            .await
            .map_err(store_problem)?
            .into_iter()
            .map(|e| ScannedEvent {
                body: if SCANNED_BODIES.contains(&e.kind.as_str()) {
                    serde_json::from_slice(&e.bytes).unwrap_or(Value::Null)
                } else {
                    Value::Null
                },
                kind: e.kind,
                at: e.at.0,
            })
            .collect();
        Ok(Arc::new(Scanned { version: r.version, opened_by: r.opened_by.clone(), case, events }))
    }

    /// The size of the node's log: every change to a case appends to it, so a view built
    /// from the cases at one size is still valid while the size stays the same.
    pub fn log_size(&self) -> u64 {
        self.log.size()
    }
}

//! `decide` (command -> events, checked against the transition table and the rules) and
//! `apply` (event -> new state). A case is only ever changed by applying events, so
//! replaying the stored events rebuilds exactly the same case.

use std::sync::Arc;

use sha2::{Digest, Sha256};
use treaty::{Category, CategorySet, Date, Measure};

use crate::command::{Action, Command, CommandKind, Ruling};
use crate::event::{ConditionRef, Event, EventBody, GroundRef};
use crate::model::{Case, Deadline, Hold, Notification, PackageRef, Role, Secrecy, Side, State};
use crate::table;
use crate::time::Timestamp;

/// The shortest hold: 60 days (UNCC 42(7), ETS 185 art. 29(7)).
pub const MIN_HOLD_DAYS: i64 = 60;

/// Why a command was refused. Nothing changes when a command fails.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum CommandError {
    /// `create` on a case that exists.
    #[error("the case already exists")]
    AlreadyExists,
    /// Any other command before `create`.
    #[error("no such case: create it first")]
    NoSuchCase,
    /// No row of the transition table allows this command in this state.
    #[error("`{command}` is not allowed in state `{state}` at a {side} node (allowed in: {})", list(allowed))]
    WrongState {
        /// The command.
        command: CommandKind,
        /// The case's state.
        state: State,
        /// The kind of node.
        side: Side,
        /// The states where it is allowed.
        allowed: Vec<State>,
    },
    /// The row does not name this role.
    #[error("`{command}` in state `{state}` may be given by {}, not by {role}", list(allowed))]
    WrongRole {
        /// The command.
        command: CommandKind,
        /// The case's state.
        state: State,
        /// Who tried.
        role: Role,
        /// Who may.
        allowed: Vec<Role>,
    },
    /// Reasons are required and none (or only blank ones) were given.
    #[error("`{command}` needs reasons: give at least one, none blank")]
    MissingReason {
        /// The command.
        command: CommandKind,
    },
    /// A text field is empty.
    #[error("`{field}` must not be empty")]
    Empty {
        /// The field.
        field: &'static str,
    },
    /// A date that must lie ahead does not.
    #[error("`{field}` is {date}, which is not after today ({today})")]
    DateInPast {
        /// The field.
        field: &'static str,
        /// The date given.
        date: Date,
        /// Today.
        today: Date,
    },
    /// A new date must be later than the current one.
    #[error("`{field}` is {date}, which is not later than the current {current}")]
    NotLater {
        /// The field.
        field: &'static str,
        /// The date given.
        date: Date,
        /// The current date.
        current: Date,
    },
    /// A hold shorter than 60 days.
    #[error("a hold until {until} is shorter than 60 days: it must last at least until {minimum} (UNCC 42(7))")]
    HoldTooShort {
        /// The date given.
        until: Date,
        /// The earliest allowed.
        minimum: Date,
    },
    /// The action does not agree with the policy's decision.
    #[error("cannot {action}: the policy's decision is {outcome} ({grounds})")]
    PolicyForbids {
        /// The action asked.
        action: Action,
        /// The policy's outcome.
        outcome: policy::Outcome,
        /// The grounds, as `code [article]`.
        grounds: String,
    },
    /// The action is not one this command takes.
    #[error("`{command}` cannot take the action `{action}`")]
    ActionNotAllowed {
        /// The command.
        command: CommandKind,
        /// The action.
        action: Action,
    },
    /// Evidence or sending without the judicial authorization that the policy asked for.
    #[error("a judicial authorization is required first (the policy asks for it: UNCC 24)")]
    AuthorizationRequired,
    /// The case file is not valid.
    #[error("the case file is not valid: {}", .0.join("; "))]
    InvalidCaseFile(Vec<String>),
    /// A confidentiality command on a case that is not secret.
    #[error("the case is not under a confidentiality order ({0})")]
    NotSecret(&'static str),
    /// `reveal` before the expiry.
    #[error("nothing is due for reveal: the case is confidential until {0}")]
    NotYetDue(Date),
    /// A notification command when notification is not due.
    #[error("notification of the person concerned is not due")]
    NotificationNotDue,
    /// `extend_hold` without a hold.
    #[error("there is no hold to extend")]
    NoHold,
    /// A command dated before the case's last event.
    #[error("the command's time {now} is before the case's last event ({last})")]
    TimeBeforeLastEvent {
        /// The time given.
        now: Timestamp,
        /// The last event's time.
        last: Timestamp,
    },
    /// A malformed evidence package reference.
    #[error("the package's manifest hash must be 64 hex digits")]
    BadPackage,
}

fn list<T: std::fmt::Display>(items: &[T]) -> String {
    if items.is_empty() {
        return "nothing".into();
    }
    items.iter().map(|i| format!("`{i}`")).collect::<Vec<_>>().join(", ")
}

fn reasons(command: CommandKind, given: &[String]) -> Result<Vec<String>, CommandError> {
    if given.is_empty() || given.iter().any(|r| r.trim().is_empty()) {
        return Err(CommandError::MissingReason { command });
    }
    Ok(given.iter().map(|r| r.trim().to_string()).collect())
}

fn ahead(field: &'static str, date: Date, today: Date) -> Result<Date, CommandError> {
    if date > today { Ok(date) } else { Err(CommandError::DateInPast { field, date, today }) }
}

fn non_empty(field: &'static str, s: &str) -> Result<String, CommandError> {
    if s.trim().is_empty() { Err(CommandError::Empty { field }) } else { Ok(s.trim().to_string()) }
}

fn check_package(p: &PackageRef) -> Result<(), CommandError> {
    if p.manifest_sha256.len() == 64 && p.manifest_sha256.bytes().all(|b| b.is_ascii_hexdigit()) {
        Ok(())
    } else {
        Err(CommandError::BadPackage)
    }
}

fn parse_file(text: &str) -> Result<policy::Case, CommandError> {
    policy::parse_case(text.as_bytes())
        .map_err(|ps| CommandError::InvalidCaseFile(ps.iter().map(|p| p.to_string()).collect()))
}

/// The policy's decision on the case file, as of `today`.
fn policy_now(case: &Case, today: Date) -> Result<policy::Decision, CommandError> {
    let mut file = parse_file(&case.case_file)?;
    file.as_of = today;
    Ok(policy::evaluate(&file))
}

fn grounds_text(d: &policy::Decision) -> String {
    if d.grounds.is_empty() {
        return "no grounds".into();
    }
    d.grounds.iter().map(|g| format!("{} [{}]", g.code, g.article)).collect::<Vec<_>>().join(", ")
}

/// Whether the policy asks for a judicial authorization: real-time collection and
/// interception always, and categories that meet either State's
/// `safeguards.judicial_authorization` (UNCC 24; POLICY.md `missing`).
pub fn needs_authorization(file: &policy::Case) -> bool {
    let r = &file.request;
    if matches!(r.measure, Measure::RealtimeTraffic | Measure::Interception) {
        return true;
    }
    let asked = r.categories().unwrap_or_default();
    let mut required = CategorySet::EMPTY;
    for code in [r.requesting_state, r.requested_state] {
        let profile_needs =
            file.states.get(&code).map_or([Category::Traffic, Category::Content].into_iter().collect(), |p| {
                p.safeguards.judicial_authorization
            });
        for c in profile_needs.iter() {
            required.insert(c);
        }
    }
    asked.intersects(required)
}

/// What time has made due for `case` at `now`, in a fixed order.
pub fn due_events(case: &Case, now: Timestamp) -> Vec<EventBody> {
    let today = now.date();
    let mut out = Vec::new();
    if let Some(d) = case.deadline {
        if now >= d.due && !d.reminded {
            out.push(EventBody::Reminder { state: d.state, due: d.due });
        }
        if now >= d.due.plus(d.period) && !d.escalated {
            out.push(EventBody::Escalated { state: d.state, due: d.due });
        }
    }
    if let Some(h) = case.hold
        && today > h.until
    {
        out.push(EventBody::HoldExpired { until: h.until });
    }
    if let Secrecy::Secret { until, .. } = case.secrecy
        && today >= until
    {
        out.push(EventBody::RevealDue { since: until });
    }
    if let Notification::Postponed { until, .. } = case.notification
        && today >= until
    {
        out.push(EventBody::NotificationDue);
    }
    out
}

fn number(case: Option<&Case>, id: &str, now: Timestamp, bodies: Vec<(Role, EventBody)>) -> Vec<Event> {
    let first = case.map_or(1, |c| c.events + 1);
    bodies
        .into_iter()
        .enumerate()
        .map(|(i, (actor, body))| Event { case: id.to_string(), seq: first + i as u64, at: now, actor, body })
        .collect()
}

fn row_for(side: Side, state: Option<State>, kind: CommandKind, role: Role) -> Result<(), CommandError> {
    let Some(row) = table::find(side, state, kind) else {
        let allowed: Vec<State> = State::ALL
            .iter()
            .copied()
            .filter(|s| table::TRANSITIONS.iter().any(|t| t.side == side && t.command == kind && t.from.contains(s)))
            .collect();
        return Err(match state {
            Some(state) => CommandError::WrongState { command: kind, state, side, allowed },
            None => CommandError::NoSuchCase,
        });
    };
    if !row.roles.contains(&role) {
        return Err(CommandError::WrongRole {
            command: kind,
            state: state.unwrap_or(State::Draft),
            role,
            allowed: row.roles.to_vec(),
        });
    }
    Ok(())
}

/// Decides what a command does to a case at `now`, by `role`. Returns the events to
/// apply, in order: first whatever time has made due, then the command's own. The case
/// is not changed; apply the events (see [`apply`]) to change it.
pub fn decide(case: Option<&Case>, command: &Command, role: Role, now: Timestamp) -> Result<Vec<Event>, CommandError> {
    let kind = command.kind();
    if let Command::Create { id, side, case_file, emergency } = command {
        if case.is_some() {
            return Err(CommandError::AlreadyExists);
        }
        let id = non_empty("id", id)?;
        row_for(*side, None, kind, role)?;
        let file = parse_file(case_file)?;
        let r = &file.request;
        let today = now.date();
        let requested_max = file.states.get(&r.requested_state).map_or(180, |p| p.safeguards.max_confidentiality_days);
        let secrecy = match r.confidentiality {
            Some(c) if c.indefinite => {
                Secrecy::Secret { until: today.add_days_u64(requested_max), indefinite_asked: true }
            }
            Some(c) => c
                .days
                .map_or(Secrecy::None, |d| Secrecy::Secret { until: today.add_days_u64(d), indefinite_asked: false }),
            None => Secrecy::None,
        };
        let authorization = match side {
            Side::Requesting => None,
            _ => r.judicial_authorization.as_ref().map(|j| j.reference.clone()),
        };
        let body = EventBody::Created {
            side: *side,
            case_file_sha256: hex(&Sha256::digest(case_file.as_bytes())),
            instrument: r.instrument,
            measure: r.measure,
            requesting_state: r.requesting_state,
            requested_state: r.requested_state,
            emergency: *emergency || r.emergency.is_some(),
            needs_authorization: needs_authorization(&file),
            authorization,
            secrecy,
        };
        return Ok(number(None, &id, now, vec![(role, body)]));
    }
    let Some(current) = case else { return Err(CommandError::NoSuchCase) };
    if now < current.updated_at {
        return Err(CommandError::TimeBeforeLastEvent { now, last: current.updated_at });
    }
    // Time first: what is due happens before the command is considered.
    let mut work = current.clone();
    let mut bodies: Vec<(Role, EventBody)> = Vec::new();
    for body in due_events(current, now) {
        let e = Event { case: work.id.clone(), seq: work.events + 1, at: now, actor: Role::Clock, body: body.clone() };
        apply(&mut work, &e);
        bodies.push((Role::Clock, body));
    }
    row_for(work.side, Some(work.state), kind, role)?;
    let today = now.date();
    let own = command_events(&work, command, kind, today)?;
    bodies.extend(own.into_iter().map(|b| (role, b)));
    Ok(number(Some(current), &current.id, now, bodies))
}

fn command_events(
    case: &Case,
    command: &Command,
    kind: CommandKind,
    today: Date,
) -> Result<Vec<EventBody>, CommandError> {
    use EventBody as E;
    let authorized = || {
        if case.needs_authorization && case.authorization.is_none() {
            Err(CommandError::AuthorizationRequired)
        } else {
            Ok(())
        }
    };
    Ok(match command {
        Command::Create { .. } => return Err(CommandError::AlreadyExists),
        Command::SubmitForAuthorization => vec![E::SubmittedForAuthorization],
        Command::Authorize { reference, reasons: r } => {
            vec![E::Authorized { reference: non_empty("reference", reference)?, reasons: reasons(kind, r)? }]
        }
        Command::RefuseAuthorization { reasons: r } => vec![E::AuthorizationRefused { reasons: reasons(kind, r)? }],
        Command::Send => {
            authorized()?;
            vec![E::Sent]
        }
        Command::Acknowledge => vec![E::Acknowledged],
        Command::RecordAnswer { action, reasons: r, until, confidential_until } => {
            let r = match action {
                Action::Refuse | Action::Postpone | Action::ReturnIncomplete | Action::Consult => reasons(kind, r)?,
                Action::Admit | Action::Review => r.iter().filter(|s| !s.trim().is_empty()).cloned().collect(),
            };
            let until = match action {
                Action::Postpone => Some(ahead("until", until.ok_or(CommandError::Empty { field: "until" })?, today)?),
                _ => None,
            };
            let mut out = vec![E::AnswerRecorded { action: *action, reasons: r, until }];
            if let Some(c) = confidential_until {
                out.push(E::ConfidentialitySet { until: ahead("confidential_until", *c, today)? });
            }
            out
        }
        Command::Resend { answer } => {
            non_empty("answer", answer)?;
            vec![E::Resent]
        }
        Command::Decide { action, reasons: r, until } => decide_incoming(case, *action, r, *until, today)?,
        Command::ConcludeConsultation { action, reasons: r, confidential_until, until } => {
            let r = reasons(kind, r)?;
            let mut out = Vec::new();
            let until = match action {
                Action::Admit | Action::Refuse => None,
                Action::Postpone => Some(ahead("until", until.ok_or(CommandError::Empty { field: "until" })?, today)?),
                other => return Err(CommandError::ActionNotAllowed { command: kind, action: *other }),
            };
            if *action == Action::Admit {
                let d = policy_now(case, today)?;
                if d.grounds.iter().any(|g| g.level > policy::Outcome::Consult || g.level == policy::Outcome::Review) {
                    return Err(CommandError::PolicyForbids {
                        action: *action,
                        outcome: d.outcome,
                        grounds: grounds_text(&d),
                    });
                }
            }
            let indefinite = matches!(case.secrecy, Secrecy::Secret { indefinite_asked: true, .. });
            let set = match confidential_until {
                Some(c) => Some(ahead("confidential_until", *c, today)?),
                None if indefinite && *action == Action::Admit => {
                    return Err(CommandError::Empty { field: "confidential_until" });
                }
                None => None,
            };
            out.push(E::ConsultationConcluded { action: *action, reasons: r, until });
            if let Some(until) = set {
                out.push(E::ConfidentialitySet { until });
            }
            out
        }
        Command::DecideReview { action, reasons: r } => {
            let r = reasons(kind, r)?;
            match action {
                Action::Admit => {
                    let d = policy_now(case, today)?;
                    if d.outcome > policy::Outcome::Review {
                        return Err(CommandError::PolicyForbids {
                            action: *action,
                            outcome: d.outcome,
                            grounds: grounds_text(&d),
                        });
                    }
                }
                Action::Refuse => {}
                other => return Err(CommandError::ActionNotAllowed { command: kind, action: *other }),
            }
            vec![E::ReviewDecided { action: *action, reasons: r }]
        }
        Command::Resume => vec![E::Resumed],
        Command::RouteToProvider { provider } => vec![E::Routed { provider: non_empty("provider", provider)? }],
        Command::ProviderAcknowledge => vec![E::ProviderAcknowledged],
        Command::Object { grounds } => vec![E::Objected { grounds: reasons(kind, grounds)? }],
        Command::DecideObjection { ruling, reasons: r } => {
            vec![E::ObjectionDecided { ruling: *ruling, reasons: reasons(kind, r)? }]
        }
        Command::PlaceHold { until } => {
            let minimum = today.add_days(MIN_HOLD_DAYS);
            if *until < minimum {
                return Err(CommandError::HoldTooShort { until: *until, minimum });
            }
            vec![E::HoldPlaced { until: *until }]
        }
        Command::ExtendHold { until, reasons: r } => {
            let Some(hold) = case.hold else { return Err(CommandError::NoHold) };
            if *until <= hold.until {
                return Err(CommandError::NotLater { field: "until", date: *until, current: hold.until });
            }
            vec![E::HoldExtended { until: *until, reasons: reasons(kind, r)? }]
        }
        Command::Produce { package } => {
            authorized()?;
            check_package(package)?;
            vec![E::Produced { package: package.clone() }]
        }
        Command::ReceiveEvidence { package } => {
            authorized()?;
            check_package(package)?;
            vec![E::EvidenceReceived { package: package.clone() }]
        }
        Command::Return => vec![E::Returned],
        Command::Close { reasons: r } => {
            vec![E::Closed { reasons: r.iter().filter(|s| !s.trim().is_empty()).cloned().collect() }]
        }
        Command::Withdraw { reasons: r } => vec![E::Withdrawn { reasons: reasons(kind, r)? }],
        Command::ExtendConfidentiality { until, reasons: r } => {
            let current = match case.secrecy {
                Secrecy::Secret { until, .. } => until,
                Secrecy::None => return Err(CommandError::NotSecret("there is no order")),
                Secrecy::RevealDue { .. } => {
                    return Err(CommandError::NotSecret("it has expired and is due for reveal"));
                }
                Secrecy::Revealed { .. } => return Err(CommandError::NotSecret("it was revealed")),
            };
            let until = ahead("until", *until, today)?;
            if until <= current {
                return Err(CommandError::NotLater { field: "until", date: until, current });
            }
            vec![E::ConfidentialityExtended { until, reasons: reasons(kind, r)? }]
        }
        Command::Reveal => match case.secrecy {
            Secrecy::RevealDue { .. } => vec![E::Revealed, E::NotificationDue],
            Secrecy::Secret { until, .. } => return Err(CommandError::NotYetDue(until)),
            Secrecy::None => return Err(CommandError::NotSecret("there is no order")),
            Secrecy::Revealed { .. } => return Err(CommandError::NotSecret("it was revealed")),
        },
        Command::PostponeNotification { until, reasons: r } => match case.notification {
            Notification::Due { .. } | Notification::Postponed { .. } => {
                vec![E::NotificationPostponed { until: ahead("until", *until, today)?, reasons: reasons(kind, r)? }]
            }
            _ => return Err(CommandError::NotificationNotDue),
        },
        Command::Notify => match case.notification {
            Notification::Due { .. } => vec![E::Notified],
            _ => return Err(CommandError::NotificationNotDue),
        },
        Command::Tick => Vec::new(),
    })
}

/// The central authority's decision on an incoming request, checked against the policy
/// evaluated today.
fn decide_incoming(
    case: &Case,
    action: Action,
    given: &[String],
    until: Option<Date>,
    today: Date,
) -> Result<Vec<EventBody>, CommandError> {
    let d = policy_now(case, today)?;
    let o = d.outcome;
    use policy::Outcome as O;
    let forbid = || CommandError::PolicyForbids { action, outcome: o, grounds: grounds_text(&d) };
    let officer: Vec<String> = given.iter().filter(|s| !s.trim().is_empty()).map(|s| s.trim().to_string()).collect();
    let kind = CommandKind::Decide;
    let (reasons_out, until) = match action {
        Action::Admit if o == O::Admissible => (officer, None),
        Action::ReturnIncomplete if o == O::Incomplete => {
            (d.grounds.iter().map(|g| g.detail.clone()).chain(officer).collect(), None)
        }
        Action::Review if o == O::Review => (officer, None),
        // UNCC 40(27): consult before refusing or postponing; what the policy does not
        // itself send to consultation needs the officer's reasons.
        Action::Consult if o == O::Consult => {
            (d.grounds.iter().map(|g| g.detail.clone()).chain(officer).collect(), None)
        }
        Action::Consult if o != O::Incomplete => (reasons(kind, given)?, None),
        Action::Postpone if matches!(o, O::Admissible | O::Review) => {
            let r = reasons(kind, given)?;
            (r, Some(ahead("until", until.ok_or(CommandError::Empty { field: "until" })?, today)?))
        }
        // A refusal always carries the policy's grounds as its reasons (UNCC 40(24)).
        Action::Refuse if o == O::Refused => {
            (d.grounds.iter().map(|g| format!("{} [{}]", g.detail, g.article)).chain(officer).collect(), None)
        }
        _ => return Err(forbid()),
    };
    let grounds = d
        .grounds
        .iter()
        .map(|g| GroundRef {
            code: g.code.into(),
            article: g.article.to_string(),
            field: g.field.map(Into::into),
            state: g.state.map(|s| s.to_string()),
        })
        .collect();
    let conditions: Vec<ConditionRef> = d
        .conditions
        .iter()
        .map(|c| ConditionRef { code: c.code.into(), article: c.article.to_string(), until: c.until })
        .collect();
    let secret_until = conditions.iter().find(|c| c.code == "confidential_until").and_then(|c| c.until);
    let mut out = vec![EventBody::Decided { action, outcome: o, grounds, conditions, reasons: reasons_out, until }];
    if let Some(until) = secret_until
        && matches!(action, Action::Admit | Action::Review)
        && !matches!(case.secrecy, Secrecy::Secret { until: u, .. } if u == until)
    {
        out.push(EventBody::ConfidentialitySet { until });
    }
    Ok(out)
}

fn state_after_action(action: Action, side: Side) -> State {
    match action {
        Action::Admit => State::Admitted,
        Action::ReturnIncomplete => State::Incomplete,
        Action::Consult => State::Consultation,
        Action::Review if side == Side::Requesting => State::Acknowledged,
        Action::Review => State::InReview,
        Action::Postpone => State::Postponed,
        Action::Refuse => State::Refused,
    }
}

/// Applies one event. Events are facts: applying never fails. A `created` event makes a
/// new case (use [`Case::from_created`]); here it is ignored.
pub fn apply(case: &mut Case, e: &Event) {
    use EventBody as E;
    let before = case.state;
    match &e.body {
        E::Created { .. } => {}
        E::SubmittedForAuthorization => case.state = State::AwaitingAuthorization,
        E::Authorized { reference, .. } => {
            case.state = State::Authorized;
            case.authorization = Some(reference.clone());
        }
        E::AuthorizationRefused { .. } => case.state = State::Draft,
        E::Sent => case.state = State::Sent,
        E::Acknowledged => case.state = State::Acknowledged,
        E::AnswerRecorded { action, until, .. }
        | E::Decided { action, until, .. }
        | E::ConsultationConcluded { action, until, .. } => {
            case.state = state_after_action(*action, case.side);
            case.postponed_until = *until;
        }
        E::Resent => case.state = if case.side == Side::Requesting { State::Sent } else { State::Received },
        E::ReviewDecided { action, .. } => case.state = state_after_action(*action, case.side),
        E::Resumed => {
            case.state = State::Admitted;
            case.postponed_until = None;
        }
        E::Routed { provider } => {
            case.state = State::Routed;
            case.provider = Some(provider.clone());
        }
        E::ProviderAcknowledged => case.state = State::InExecution,
        E::Objected { .. } => case.state = State::Objected,
        E::ObjectionDecided { ruling, .. } => {
            case.state = match (ruling, case.side) {
                (Ruling::Upheld, Side::Provider) => State::Closed,
                (Ruling::Upheld, _) => State::Returned,
                _ => State::InExecution,
            }
        }
        E::HoldPlaced { until } => {
            case.state = State::Preserved;
            case.hold = Some(Hold { until: *until });
        }
        E::HoldExtended { until, .. } => case.hold = Some(Hold { until: *until }),
        E::HoldExpired { .. } => {
            case.hold = None;
            if case.state == State::Preserved {
                case.state = State::Closed;
            }
        }
        E::Produced { package } => {
            case.state = State::Produced;
            case.evidence.push(package.clone());
        }
        E::EvidenceReceived { package } => {
            case.state = State::EvidenceReceived;
            case.evidence.push(package.clone());
        }
        E::Returned => case.state = State::Returned,
        E::Closed { .. } | E::Withdrawn { .. } => case.state = State::Closed,
        E::ConfidentialitySet { until } | E::ConfidentialityExtended { until, .. } => {
            case.secrecy = Secrecy::Secret { until: *until, indefinite_asked: false }
        }
        E::RevealDue { since } => case.secrecy = Secrecy::RevealDue { since: *since },
        E::Revealed => case.secrecy = Secrecy::Revealed { at: e.at },
        E::NotificationDue => case.notification = Notification::Due { since: e.at },
        E::NotificationPostponed { until, reasons } => {
            case.notification = Notification::Postponed { until: *until, reasons: reasons.clone() }
        }
        E::Notified => case.notification = Notification::Notified { at: e.at },
        E::Reminder { .. } => {
            if let Some(d) = &mut case.deadline {
                d.reminded = true;
            }
        }
        E::Escalated { .. } => {
            if let Some(d) = &mut case.deadline {
                d.escalated = true;
            }
        }
    }
    if case.state != before {
        case.deadline = table::deadline_period(case.state, case.emergency).map(|period| Deadline {
            state: case.state,
            due: e.at.plus(period),
            period,
            reminded: false,
            escalated: false,
        });
    }
    case.events = e.seq;
    case.updated_at = e.at;
}

/// Why a list of events does not rebuild a case.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReplayError {
    /// The list is empty or does not start with `created`.
    #[error("the first event must be `created`")]
    NoCreated,
    /// The case file does not match the hash in `created`.
    #[error("the case file does not match the hash recorded when the case was created")]
    CaseFileMismatch,
    /// Sequence numbers are not 1, 2, 3, ...
    #[error("event {found} is out of sequence (expected {expected})")]
    OutOfSequence {
        /// Expected number.
        expected: u64,
        /// Number found.
        found: u64,
    },
    /// An event of another case.
    #[error("event {seq} belongs to case {other}")]
    OtherCase {
        /// The event.
        seq: u64,
        /// Its case.
        other: String,
    },
}

impl Case {
    /// The case made by a `created` event and its case file.
    pub fn from_created(e: &Event, case_file: &str) -> Result<Case, ReplayError> {
        let EventBody::Created {
            side, case_file_sha256, emergency, needs_authorization, authorization, secrecy, ..
        } = &e.body
        else {
            return Err(ReplayError::NoCreated);
        };
        if hex(&Sha256::digest(case_file.as_bytes())) != *case_file_sha256 {
            return Err(ReplayError::CaseFileMismatch);
        }
        if e.seq != 1 {
            return Err(ReplayError::OutOfSequence { expected: 1, found: e.seq });
        }
        let state = if *side == Side::Requesting { State::Draft } else { State::Received };
        Ok(Case {
            id: e.case.clone(),
            side: *side,
            state,
            case_file_sha256: case_file_sha256.clone(),
            case_file: Arc::from(case_file),
            emergency: *emergency,
            needs_authorization: *needs_authorization,
            authorization: authorization.clone(),
            secrecy: *secrecy,
            notification: Notification::NotDue,
            hold: None,
            deadline: table::deadline_period(state, *emergency).map(|period| Deadline {
                state,
                due: e.at.plus(period),
                period,
                reminded: false,
                escalated: false,
            }),
            provider: None,
            evidence: Vec::new(),
            postponed_until: None,
            events: 1,
            created_at: e.at,
            updated_at: e.at,
        })
    }

    /// Rebuilds a case from its case file and its whole event list.
    pub fn replay(case_file: &str, events: &[Event]) -> Result<Case, ReplayError> {
        let first = events.first().ok_or(ReplayError::NoCreated)?;
        let mut case = Case::from_created(first, case_file)?;
        for e in &events[1..] {
            if e.case != case.id {
                return Err(ReplayError::OtherCase { seq: e.seq, other: e.case.clone() });
            }
            if e.seq != case.events + 1 {
                return Err(ReplayError::OutOfSequence { expected: case.events + 1, found: e.seq });
            }
            apply(&mut case, e);
        }
        Ok(case)
    }

    /// Runs a command and applies its events: the usual way to change a case. Returns the
    /// events (to store and commit); on error the case is unchanged.
    pub fn execute(&mut self, command: &Command, role: Role, now: Timestamp) -> Result<Vec<Event>, CommandError> {
        let events = decide(Some(self), command, role, now)?;
        for e in &events {
            apply(self, e);
        }
        Ok(events)
    }

    /// Creates a case with a `create` command.
    pub fn create(command: &Command, role: Role, now: Timestamp) -> Result<(Case, Event), CommandError> {
        let events = decide(None, command, role, now)?;
        let Command::Create { case_file, .. } = command else { return Err(CommandError::NoSuchCase) };
        let created = events.into_iter().next().ok_or(CommandError::NoSuchCase)?;
        let case =
            Case::from_created(&created, case_file).map_err(|e| CommandError::InvalidCaseFile(vec![e.to_string()]))?;
        Ok((case, created))
    }
}

/// Lower-case hex.
pub fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        s.push(DIGITS[usize::from(b >> 4)] as char);
        s.push(DIGITS[usize::from(b & 15)] as char);
    }
    s
}

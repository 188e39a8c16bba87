//! The transition table: for each kind of node, which command moves a case from which
//! state to which, by whom, and under what rule. One row per transition; a lawyer
//! reading this file finds each one once. `docs/lifecycle.md` is rendered from it.

use crate::command::CommandKind as C;
use crate::model::{Role as R, Side, State as S};
use crate::time::{DAY, HOUR};

/// One allowed transition.
#[derive(Debug)]
pub struct Transition {
    /// The kind of node.
    pub side: Side,
    /// The states it applies in (empty: the case does not exist yet).
    pub from: &'static [S],
    /// The command.
    pub command: C,
    /// Who may give it.
    pub roles: &'static [R],
    /// The possible new states (empty: the state does not change).
    pub to: &'static [S],
    /// What must hold, and the article behind it.
    pub rule: &'static str,
}

/// Every state: side tracks (confidentiality, notification, time) run in all of them,
/// closed cases included, because secrecy outlives the case.
pub const ANY: &[S] = S::ALL;

const REQUESTING_OPEN: &[S] = &[
    S::Draft,
    S::AwaitingAuthorization,
    S::Authorized,
    S::Sent,
    S::Acknowledged,
    S::Incomplete,
    S::Consultation,
    S::Postponed,
    S::Admitted,
];

/// The table.
pub const TRANSITIONS: &[Transition] = &[
    // ---------------- requesting side ----------------
    Transition {
        side: Side::Requesting,
        from: &[],
        command: C::Create,
        roles: &[R::CaseWorker, R::PointOfContact],
        to: &[S::Draft],
        rule: "a valid case file; the policy tells whether a judicial authorization is needed (UNCC 24)",
    },
    Transition {
        side: Side::Requesting,
        from: &[S::Draft],
        command: C::SubmitForAuthorization,
        roles: &[R::CaseWorker, R::PointOfContact],
        to: &[S::AwaitingAuthorization],
        rule: "the draft goes before a judge",
    },
    Transition {
        side: Side::Requesting,
        from: &[S::AwaitingAuthorization],
        command: C::Authorize,
        roles: &[R::Judge],
        to: &[S::Authorized],
        rule: "a reference and reasons (UNCC 24: judicial or other independent review)",
    },
    Transition {
        side: Side::Requesting,
        from: &[S::AwaitingAuthorization],
        command: C::RefuseAuthorization,
        roles: &[R::Judge],
        to: &[S::Draft],
        rule: "reasons",
    },
    Transition {
        side: Side::Requesting,
        from: &[S::Draft, S::Authorized],
        command: C::Send,
        roles: &[R::CaseWorker, R::CentralAuthority, R::PointOfContact],
        to: &[S::Sent],
        rule: "the judicial authorization that the policy asks for has been given",
    },
    Transition {
        side: Side::Requesting,
        from: &[S::Sent],
        command: C::Acknowledge,
        roles: &[R::Peer],
        to: &[S::Acknowledged],
        rule: "the requested State's signed acknowledgement",
    },
    Transition {
        side: Side::Requesting,
        from: &[S::Acknowledged, S::Consultation, S::Postponed],
        command: C::RecordAnswer,
        roles: &[R::Peer],
        to: &[S::Admitted, S::Incomplete, S::Consultation, S::Acknowledged, S::Postponed, S::Refused],
        rule: "the requested State's answer; a refusal or postponement carries reasons (UNCC 40(24), 40(26))",
    },
    Transition {
        side: Side::Requesting,
        from: &[S::Incomplete],
        command: C::Resend,
        roles: &[R::CaseWorker, R::CentralAuthority, R::PointOfContact],
        to: &[S::Sent],
        rule: "what was missing is answered",
    },
    Transition {
        side: Side::Requesting,
        from: &[S::Admitted],
        command: C::ReceiveEvidence,
        roles: &[R::Peer],
        to: &[S::EvidenceReceived],
        rule: "a sealed, verified evidence package; never without the authorization the policy asked for",
    },
    Transition {
        side: Side::Requesting,
        from: &[S::Admitted, S::EvidenceReceived, S::Refused],
        command: C::Close,
        roles: &[R::CaseWorker, R::CentralAuthority],
        to: &[S::Closed],
        rule: "",
    },
    Transition {
        side: Side::Requesting,
        from: REQUESTING_OPEN,
        command: C::Withdraw,
        roles: &[R::CaseWorker, R::CentralAuthority],
        to: &[S::Closed],
        rule: "reasons",
    },
    // ---------------- requested side ----------------
    Transition {
        side: Side::Requested,
        from: &[],
        command: C::Create,
        roles: &[R::Peer, R::CentralAuthority, R::PointOfContact],
        to: &[S::Received],
        rule: "a valid case file, received from the requesting State",
    },
    Transition {
        side: Side::Requested,
        from: &[S::Received],
        command: C::Decide,
        roles: &[R::CentralAuthority, R::PointOfContact],
        to: &[S::Admitted, S::Incomplete, S::Consultation, S::InReview, S::Postponed, S::Refused],
        rule: "the policy is evaluated now and the action agrees with it: admit only what is admissible, refuse only on its grounds, consult before refusing or postponing otherwise (UNCC 40(21), 40(26), 40(27))",
    },
    Transition {
        side: Side::Requested,
        from: &[S::Incomplete],
        command: C::Resend,
        roles: &[R::Peer],
        to: &[S::Received],
        rule: "the requesting State answered what was missing",
    },
    Transition {
        side: Side::Requested,
        from: &[S::Consultation],
        command: C::ConcludeConsultation,
        roles: &[R::CentralAuthority],
        to: &[S::Admitted, S::Postponed, S::Refused],
        rule: "reasons; an expiry for any secrecy asked (UNCC 40(20), 40(27))",
    },
    Transition {
        side: Side::Requested,
        from: &[S::InReview],
        command: C::DecideReview,
        roles: &[R::Judge],
        to: &[S::Admitted, S::Refused],
        rule: "reasons (UNCC 24)",
    },
    Transition {
        side: Side::Requested,
        from: &[S::Postponed],
        command: C::Resume,
        roles: &[R::CentralAuthority],
        to: &[S::Admitted],
        rule: "the postponement's reason has passed (UNCC 40(26))",
    },
    Transition {
        side: Side::Requested,
        from: &[S::Admitted],
        command: C::RouteToProvider,
        roles: &[R::CentralAuthority],
        to: &[S::Routed],
        rule: "a provider named",
    },
    Transition {
        side: Side::Requested,
        from: &[S::Routed],
        command: C::ProviderAcknowledge,
        roles: &[R::Peer],
        to: &[S::InExecution],
        rule: "the provider's signed acknowledgement",
    },
    Transition {
        side: Side::Requested,
        from: &[S::Routed, S::InExecution],
        command: C::Object,
        roles: &[R::Peer],
        to: &[S::Objected],
        rule: "the provider's grounds; an objection is never dropped",
    },
    Transition {
        side: Side::Requested,
        from: &[S::Objected],
        command: C::DecideObjection,
        roles: &[R::Judge],
        to: &[S::Returned, S::InExecution],
        rule: "reasons; upheld: the request goes back with them; dismissed or narrowed: the provider must act",
    },
    Transition {
        side: Side::Requested,
        from: &[S::InExecution],
        command: C::PlaceHold,
        roles: &[R::Peer],
        to: &[S::Preserved],
        rule: "the provider's hold, at least 60 days (UNCC 42(7))",
    },
    Transition {
        side: Side::Requested,
        from: &[S::Preserved],
        command: C::ExtendHold,
        roles: &[R::CentralAuthority, R::Peer],
        to: &[],
        rule: "a later date and reasons",
    },
    Transition {
        side: Side::Requested,
        from: &[S::InExecution, S::Preserved],
        command: C::ReceiveEvidence,
        roles: &[R::Peer],
        to: &[S::EvidenceReceived],
        rule: "the provider's sealed package, verified without being readable here",
    },
    Transition {
        side: Side::Requested,
        from: &[S::EvidenceReceived, S::Refused],
        command: C::Return,
        roles: &[R::CentralAuthority],
        to: &[S::Returned],
        rule: "the package, or the refusal with its reasons, goes back",
    },
    Transition {
        side: Side::Requested,
        from: &[S::Returned, S::Refused, S::Preserved],
        command: C::Close,
        roles: &[R::CentralAuthority],
        to: &[S::Closed],
        rule: "",
    },
    // ---------------- provider ----------------
    Transition {
        side: Side::Provider,
        from: &[],
        command: C::Create,
        roles: &[R::Peer],
        to: &[S::Received],
        rule: "a request routed by the requested State's central authority",
    },
    Transition {
        side: Side::Provider,
        from: &[S::Received],
        command: C::ProviderAcknowledge,
        roles: &[R::ProviderLegal],
        to: &[S::InExecution],
        rule: "",
    },
    Transition {
        side: Side::Provider,
        from: &[S::Received, S::InExecution],
        command: C::Object,
        roles: &[R::ProviderLegal],
        to: &[S::Objected],
        rule: "grounds (overbroad, unlawful, technically impossible...)",
    },
    Transition {
        side: Side::Provider,
        from: &[S::Objected],
        command: C::DecideObjection,
        roles: &[R::Peer],
        to: &[S::Closed, S::InExecution],
        rule: "the judge's ruling, with reasons, from the requested State",
    },
    Transition {
        side: Side::Provider,
        from: &[S::InExecution],
        command: C::PlaceHold,
        roles: &[R::ProviderLegal],
        to: &[S::Preserved],
        rule: "until a date at least 60 days away (UNCC 42(7), ETS 185 art. 29(7))",
    },
    Transition {
        side: Side::Provider,
        from: &[S::Preserved],
        command: C::ExtendHold,
        roles: &[R::ProviderLegal, R::Peer],
        to: &[],
        rule: "a later date and reasons",
    },
    Transition {
        side: Side::Provider,
        from: &[S::InExecution, S::Preserved],
        command: C::Produce,
        roles: &[R::ProviderLegal],
        to: &[S::Produced],
        rule: "a sealed evidence package; never without the authorization the policy asked for",
    },
    Transition {
        side: Side::Provider,
        from: &[S::Produced, S::Preserved],
        command: C::Close,
        roles: &[R::ProviderLegal],
        to: &[S::Closed],
        rule: "",
    },
    // ---------------- every side: confidentiality, notification, time ----------------
    Transition {
        side: Side::Requesting,
        from: ANY,
        command: C::ExtendConfidentiality,
        roles: &[R::Judge],
        to: &[],
        rule: "while secret: a later date, not past, and reasons (UNCC 40(20))",
    },
    Transition {
        side: Side::Requested,
        from: ANY,
        command: C::ExtendConfidentiality,
        roles: &[R::Judge],
        to: &[],
        rule: "while secret: a later date, not past, and reasons (UNCC 40(20))",
    },
    Transition {
        side: Side::Provider,
        from: ANY,
        command: C::ExtendConfidentiality,
        roles: &[R::Peer],
        to: &[],
        rule: "the requested State's judge extended it",
    },
    Transition {
        side: Side::Requesting,
        from: ANY,
        command: C::Reveal,
        roles: &[R::CaseWorker, R::CentralAuthority, R::Clock],
        to: &[],
        rule: "reveal due: publish what was committed; notification becomes due",
    },
    Transition {
        side: Side::Requested,
        from: ANY,
        command: C::Reveal,
        roles: &[R::CentralAuthority, R::Clock],
        to: &[],
        rule: "reveal due: publish what was committed; notification becomes due",
    },
    Transition {
        side: Side::Provider,
        from: ANY,
        command: C::Reveal,
        roles: &[R::ProviderLegal, R::Clock],
        to: &[],
        rule: "reveal due: publish what was committed; notification becomes due",
    },
    Transition {
        side: Side::Requesting,
        from: ANY,
        command: C::PostponeNotification,
        roles: &[R::Judge],
        to: &[],
        rule: "notification due: a date not past and reasons",
    },
    Transition {
        side: Side::Requested,
        from: ANY,
        command: C::PostponeNotification,
        roles: &[R::Judge],
        to: &[],
        rule: "notification due: a date not past and reasons",
    },
    Transition {
        side: Side::Requesting,
        from: ANY,
        command: C::Notify,
        roles: &[R::CaseWorker, R::CentralAuthority],
        to: &[],
        rule: "notification due",
    },
    Transition {
        side: Side::Requested,
        from: ANY,
        command: C::Notify,
        roles: &[R::CentralAuthority],
        to: &[],
        rule: "notification due",
    },
    Transition {
        side: Side::Provider,
        from: ANY,
        command: C::Notify,
        roles: &[R::ProviderLegal],
        to: &[],
        rule: "notification due (where the provider informs its user)",
    },
    Transition {
        side: Side::Requesting,
        from: ANY,
        command: C::Tick,
        roles: &[R::Clock],
        to: &[],
        rule: "deadlines: reminder, then escalation; expiries: reveal due",
    },
    Transition {
        side: Side::Requested,
        from: ANY,
        command: C::Tick,
        roles: &[R::Clock],
        to: &[],
        rule: "deadlines: reminder, then escalation; expiries: reveal due, hold expired",
    },
    Transition {
        side: Side::Provider,
        from: ANY,
        command: C::Tick,
        roles: &[R::Clock],
        to: &[],
        rule: "deadlines: reminder, then escalation; expiries: reveal due, hold expired (data released)",
    },
];

/// How long a waiting state may last: (state, normal, emergency), in seconds. When it
/// passes, a reminder; one more period later, an escalation.
pub const DEADLINES: &[(S, i64, i64)] = &[
    (S::AwaitingAuthorization, 5 * DAY, 4 * HOUR),
    (S::Sent, 2 * DAY, HOUR),
    (S::Acknowledged, 30 * DAY, DAY),
    (S::Incomplete, 30 * DAY, DAY),
    (S::Received, 10 * DAY, 8 * HOUR),
    (S::Consultation, 30 * DAY, 2 * DAY),
    (S::InReview, 10 * DAY, DAY),
    (S::Routed, 10 * DAY, 8 * HOUR),
    (S::Objected, 10 * DAY, DAY),
    (S::InExecution, 10 * DAY, 8 * HOUR),
];

/// The period for a waiting state, if it has one.
pub fn deadline_period(state: S, emergency: bool) -> Option<i64> {
    DEADLINES.iter().find(|(s, _, _)| *s == state).map(|(_, normal, urgent)| if emergency { *urgent } else { *normal })
}

/// The row for a command in a state at a side, if any.
pub fn find(side: Side, state: Option<S>, command: C) -> Option<&'static Transition> {
    TRANSITIONS.iter().find(|t| {
        t.side == side
            && t.command == command
            && match state {
                None => t.from.is_empty(),
                Some(s) => t.from.contains(&s),
            }
    })
}

fn list<T: std::fmt::Display>(items: &[T]) -> String {
    items.iter().map(|i| format!("`{i}`")).collect::<Vec<_>>().join(", ")
}

fn duration(secs: i64) -> String {
    if secs % DAY == 0 { format!("{} days", secs / DAY) } else { format!("{} hours", secs / HOUR) }
}

/// The table as Markdown (docs/lifecycle.md).
pub fn markdown() -> String {
    use std::fmt::Write as _;
    let mut out = String::from(
        "# The life of a case\n\nGenerated from the transition table in `crates/case/src/table.rs`; a test keeps this file identical to it.\n\nEvery command is checked: a command in a state where no row allows it, or by a role that the row does not name, is an error with a message, never a silent no-op; so are missing reasons and dates in the past. Before any command, whatever time has made due happens first (reminders, escalations, reveal due, hold expiry), so no case stays secret past its expiry without being reveal due.\n",
    );
    for side in Side::ALL {
        let _ = write!(out, "\n## {} node\n\n| from | command | by | to | rule |\n|---|---|---|---|---|\n", side);
        for t in TRANSITIONS.iter().filter(|t| t.side == *side) {
            let from = if t.from.is_empty() {
                "(new case)".to_string()
            } else if t.from.len() == S::ALL.len() {
                "any".to_string()
            } else {
                list(t.from)
            };
            let to = if t.to.is_empty() { "(unchanged)".to_string() } else { list(t.to) };
            let _ = writeln!(out, "| {from} | `{}` | {} | {to} | {} |", t.command, list(t.roles), t.rule);
        }
    }
    out.push_str("\n## Deadlines\n\n| waiting state | normal | emergency |\n|---|---|---|\n");
    for (s, normal, urgent) in DEADLINES {
        let _ = writeln!(out, "| `{s}` | {} | {} |", duration(*normal), duration(*urgent));
    }
    out.push_str("\nWhen a deadline passes: a `reminder` event; one more period later: an `escalated` event. A hold whose last day has passed expires (`hold_expired`: the data is released and a preserved case closes). A confidentiality order whose expiry has come makes the case `reveal_due`; revealing it makes notification of the person concerned due, which only a judge can postpone, with reasons, until a date.\n");
    out
}

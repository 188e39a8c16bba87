//! Property tests over random command sequences (issue 6): no evidence without the
//! authorization the policy asked for; no refusal, postponement or objection decision
//! without reasons; no case secret past its expiry without being reveal due; no hold
//! under 60 days; replaying the events rebuilds the same case; a refused command
//! changes nothing.

mod common;

use case::table;
use case::{Action, Case, Command, CommandKind, EventBody, PackageRef, Role, Ruling, Secrecy, Side, Timestamp};
use common::*;
use proptest::prelude::*;
use proptest::strategy::ValueTree;

const FILES: [&str; 5] = [
    "stored-data-confidential",
    "indefinite-secrecy",
    "protected-conduct",
    "preservation-emergency",
    "subscriber-only",
];

#[derive(Debug, Clone)]
struct Step {
    pick: usize,
    role: usize,
    follow_table: bool,
    hours: u16,
    variant: u8,
}

fn step() -> impl Strategy<Value = Step> {
    (any::<usize>(), any::<usize>(), prop::bool::weighted(0.85), 0u16..2000, any::<u8>())
        .prop_map(|(pick, role, follow_table, hours, variant)| Step { pick, role, follow_table, hours, variant })
}

fn reasons_for(v: u8) -> Vec<String> {
    match v % 5 {
        0 => vec![],
        1 => vec!["  ".into()],
        _ => vec!["A reason.".into()],
    }
}

fn command(kind: CommandKind, v: u8, case: &Case, now: Timestamp) -> Command {
    let today = now.date();
    let date = |base: i64| today.add_days(base + i64::from(v % 7) * 20 - 60);
    let action =
        [Action::Admit, Action::ReturnIncomplete, Action::Consult, Action::Review, Action::Postpone, Action::Refuse]
            [usize::from(v) % 6];
    let pkg = PackageRef {
        manifest_sha256: if v.is_multiple_of(9) { "nothex".into() } else { "1a".repeat(32) },
        files: 1,
        bytes: 1,
    };
    match kind {
        CommandKind::Create => Command::Tick,
        CommandKind::SubmitForAuthorization => Command::SubmitForAuthorization,
        CommandKind::Authorize => Command::Authorize {
            reference: if v.is_multiple_of(4) { "".into() } else { "IJ".into() },
            reasons: reasons_for(v),
        },
        CommandKind::RefuseAuthorization => Command::RefuseAuthorization { reasons: reasons_for(v) },
        CommandKind::Send => Command::Send,
        CommandKind::Acknowledge => Command::Acknowledge,
        CommandKind::RecordAnswer => Command::RecordAnswer {
            action,
            reasons: reasons_for(v / 3),
            until: v.is_multiple_of(2).then(|| date(30)),
            confidential_until: v.is_multiple_of(3).then(|| date(90)),
        },
        CommandKind::Resend => {
            Command::Resend { answer: if v.is_multiple_of(3) { " ".into() } else { "More facts.".into() } }
        }
        CommandKind::Decide => {
            Command::Decide { action, reasons: reasons_for(v / 3), until: v.is_multiple_of(2).then(|| date(30)) }
        }
        CommandKind::ConcludeConsultation => Command::ConcludeConsultation {
            action,
            reasons: reasons_for(v / 3),
            confidential_until: v.is_multiple_of(2).then(|| date(100)),
            until: v.is_multiple_of(3).then(|| date(30)),
        },
        CommandKind::DecideReview => Command::DecideReview { action, reasons: reasons_for(v / 3) },
        CommandKind::Resume => Command::Resume,
        CommandKind::RouteToProvider => Command::RouteToProvider { provider: "P".into() },
        CommandKind::ProviderAcknowledge => Command::ProviderAcknowledge,
        CommandKind::Object => Command::Object { grounds: reasons_for(v) },
        CommandKind::DecideObjection => Command::DecideObjection {
            ruling: [Ruling::Upheld, Ruling::Dismissed, Ruling::Narrowed][usize::from(v) % 3],
            reasons: reasons_for(v / 3),
        },
        CommandKind::PlaceHold => Command::PlaceHold { until: date(90) },
        CommandKind::ExtendHold => Command::ExtendHold {
            until: case.hold.map_or(date(90), |h| h.until.add_days(i64::from(v % 5) * 10 - 10)),
            reasons: reasons_for(v / 5),
        },
        CommandKind::Produce => Command::Produce { package: pkg },
        CommandKind::ReceiveEvidence => Command::ReceiveEvidence { package: pkg },
        CommandKind::Return => Command::Return,
        CommandKind::Close => Command::Close { reasons: vec![] },
        CommandKind::Withdraw => Command::Withdraw { reasons: reasons_for(v) },
        CommandKind::ExtendConfidentiality => {
            Command::ExtendConfidentiality { until: date(120), reasons: reasons_for(v / 7) }
        }
        CommandKind::Reveal => Command::Reveal,
        CommandKind::PostponeNotification => {
            Command::PostponeNotification { until: date(60), reasons: reasons_for(v / 7) }
        }
        CommandKind::Notify => Command::Notify,
        CommandKind::Tick => Command::Tick,
    }
}

fn has_reasons(r: &[String]) -> bool {
    !r.is_empty() && r.iter().all(|s| !s.trim().is_empty())
}

fn sequences() -> impl Strategy<Value = (usize, usize, Vec<Step>)> {
    (0usize..3, 0usize..5, prop::collection::vec(step(), 1..60))
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 600, ..ProptestConfig::default() })]

    #[test]
    fn safeguards_hold_over_random_command_sequences((side, which, steps) in sequences()) {
        run_sequence(side, which, steps, &mut std::collections::BTreeSet::new())?;
    }
}

/// The random sequences do reach the parts of the life that the properties are about.
#[test]
fn random_sequences_reach_every_safeguard() {
    let mut runner = proptest::test_runner::TestRunner::deterministic();
    let mut seen = std::collections::BTreeSet::new();
    for _ in 0..600 {
        let (side, which, steps) = sequences().new_tree(&mut runner).unwrap().current();
        run_sequence(side, which, steps, &mut seen).unwrap();
    }
    for kind in [
        "sent",
        "produced",
        "evidence_received",
        "hold_placed",
        "hold_expired",
        "decided",
        "objected",
        "objection_decided",
        "reveal_due",
        "revealed",
        "notification_postponed",
        "notified",
        "confidentiality_extended",
        "reminder",
        "escalated",
        "withdrawn",
    ] {
        assert!(seen.contains(kind), "no random sequence produced `{kind}`; seen: {seen:?}");
    }
}

fn run_sequence(
    side: usize,
    which: usize,
    steps: Vec<Step>,
    seen: &mut std::collections::BTreeSet<&'static str>,
) -> Result<(), TestCaseError> {
    {
        let side = Side::ALL[side];
        let mut now = t("2026-11-25T09:00:00Z");
        let creator = if side == Side::Requesting { Role::CaseWorker } else { Role::Peer };
        let mut c = Tracked::create(side, FILES[which], false, creator, now);
        for s in steps {
            now = now.plus(i64::from(s.hours) * 3600);
            let rows: Vec<_> = table::TRANSITIONS
                .iter()
                .filter(|t| t.side == side && t.from.contains(&c.case.state) && t.command != CommandKind::Create)
                .collect();
            let (kind, role) = if s.follow_table && !rows.is_empty() {
                let row = rows[s.pick % rows.len()];
                (row.command, row.roles[s.role % row.roles.len()])
            } else {
                (CommandKind::ALL[s.pick % CommandKind::ALL.len()], Role::ALL[s.role % Role::ALL.len()])
            };
            let cmd = command(kind, s.variant, &c.case, now);
            let before = c.case.clone();
            let Ok(events) = c.run(cmd, role, now) else { continue };
            for e in &events {
                seen.insert(e.kind());
                match &e.body {
                    EventBody::Produced { .. } | EventBody::EvidenceReceived { .. } | EventBody::Sent => {
                        prop_assert!(
                            !before.needs_authorization || before.authorization.is_some(),
                            "{} without the authorization the policy asked for",
                            e.kind()
                        );
                    }
                    EventBody::HoldPlaced { until } => {
                        prop_assert!(until.days_since(e.at.date()) >= 60, "hold under 60 days")
                    }
                    EventBody::AuthorizationRefused { reasons }
                    | EventBody::Objected { grounds: reasons }
                    | EventBody::ObjectionDecided { reasons, .. }
                    | EventBody::Withdrawn { reasons }
                    | EventBody::ConfidentialityExtended { reasons, .. }
                    | EventBody::NotificationPostponed { reasons, .. }
                    | EventBody::HoldExtended { reasons, .. } => {
                        prop_assert!(has_reasons(reasons), "{} without reasons", e.kind())
                    }
                    EventBody::Decided { action, reasons, .. }
                    | EventBody::AnswerRecorded { action, reasons, .. }
                    | EventBody::ConsultationConcluded { action, reasons, .. }
                    | EventBody::ReviewDecided { action, reasons } => {
                        if matches!(action, Action::Refuse | Action::Postpone) {
                            prop_assert!(has_reasons(reasons), "{} {} without reasons", e.kind(), action);
                        }
                    }
                    _ => {}
                }
            }
            if let Secrecy::Secret { until, .. } = c.case.secrecy {
                prop_assert!(now.date() < until, "secret past its expiry {} at {}", until, now);
            }
            if let Some(h) = c.case.hold {
                prop_assert!(now.date() <= h.until, "a hold past its last day was not released");
            }
        }
        prop_assert_eq!(Case::replay(&c.file, &c.events).unwrap(), c.case);
    }
    Ok(())
}

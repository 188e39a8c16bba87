//! The transition table, tested exhaustively: for every side, state, command and role,
//! `decide` allows exactly what a row allows (and lands in one of the row's states), and
//! refuses everything else with WrongState or WrongRole. Generated from the table, not
//! hand-picked.

mod common;

use case::table::{self, TRANSITIONS};
use case::{
    Action, Case, Command, CommandError, CommandKind, Notification, PackageRef, Role, Ruling, Secrecy, Side, State,
    Timestamp,
};
use common::*;

fn command_for(kind: CommandKind, case: &Case, now: Timestamp) -> Command {
    let today = now.date();
    let r = || reasons("Because.");
    let pkg = PackageRef { manifest_sha256: "0f".repeat(32), files: 1, bytes: 10 };
    match kind {
        CommandKind::Create => {
            Command::Create { id: "x".into(), side: case.side, case_file: file("subscriber-only"), emergency: false }
        }
        CommandKind::SubmitForAuthorization => Command::SubmitForAuthorization,
        CommandKind::Authorize => Command::Authorize { reference: "IJ-9".into(), reasons: r() },
        CommandKind::RefuseAuthorization => Command::RefuseAuthorization { reasons: r() },
        CommandKind::Send => Command::Send,
        CommandKind::Acknowledge => Command::Acknowledge,
        CommandKind::RecordAnswer => {
            Command::RecordAnswer { action: Action::Admit, reasons: vec![], until: None, confidential_until: None }
        }
        CommandKind::Resend => Command::Resend { answer: "The missing dates.".into() },
        CommandKind::Decide => Command::Decide { action: Action::Admit, reasons: vec![], until: None },
        CommandKind::ConcludeConsultation => {
            Command::ConcludeConsultation { action: Action::Admit, reasons: r(), confidential_until: None, until: None }
        }
        CommandKind::DecideReview => Command::DecideReview { action: Action::Admit, reasons: r() },
        CommandKind::Resume => Command::Resume,
        CommandKind::RouteToProvider => Command::RouteToProvider { provider: "Example Mail Ltd".into() },
        CommandKind::ProviderAcknowledge => Command::ProviderAcknowledge,
        CommandKind::Object => Command::Object { grounds: r() },
        CommandKind::DecideObjection => Command::DecideObjection { ruling: Ruling::Dismissed, reasons: r() },
        CommandKind::PlaceHold => Command::PlaceHold { until: today.add_days(90) },
        CommandKind::ExtendHold => Command::ExtendHold { until: today.add_days(400), reasons: r() },
        CommandKind::Produce => Command::Produce { package: pkg },
        CommandKind::ReceiveEvidence => Command::ReceiveEvidence { package: pkg },
        CommandKind::Return => Command::Return,
        CommandKind::Close => Command::Close { reasons: vec![] },
        CommandKind::Withdraw => Command::Withdraw { reasons: r() },
        CommandKind::ExtendConfidentiality => {
            Command::ExtendConfidentiality { until: today.add_days(400), reasons: r() }
        }
        CommandKind::Reveal => Command::Reveal,
        CommandKind::PostponeNotification => Command::PostponeNotification { until: today.add_days(10), reasons: r() },
        CommandKind::Notify => Command::Notify,
        CommandKind::Tick => Command::Tick,
    }
}

/// A case of `side` in `state`, with whatever the command needs to be possible.
fn fabricate(side: Side, state: State, kind: CommandKind, now: Timestamp) -> Case {
    let cmd = Command::Create { id: "c".into(), side, case_file: file("subscriber-only"), emergency: false };
    let role = if side == Side::Requesting { Role::CaseWorker } else { Role::Peer };
    let (mut case, _) = Case::create(&cmd, role, now).unwrap();
    case.state = state;
    case.deadline = None;
    let today = now.date();
    case.secrecy = match kind {
        CommandKind::ExtendConfidentiality => Secrecy::Secret { until: today.add_days(100), indefinite_asked: false },
        CommandKind::Reveal => Secrecy::RevealDue { since: today },
        _ => Secrecy::None,
    };
    if matches!(kind, CommandKind::PostponeNotification | CommandKind::Notify) {
        case.notification = Notification::Due { since: now };
    }
    if kind == CommandKind::ExtendHold {
        case.hold = Some(case::model::Hold { until: today.add_days(100) });
    }
    case
}

#[test]
fn every_side_state_command_and_role() {
    let now = t("2026-11-25T09:00:00Z");
    let (mut allowed, mut wrong_state, mut wrong_role) = (0, 0, 0);
    for side in Side::ALL {
        for state in State::ALL {
            for kind in CommandKind::ALL {
                if *kind == CommandKind::Create {
                    continue;
                }
                for role in Role::ALL {
                    let case = fabricate(*side, *state, *kind, now);
                    let cmd = command_for(*kind, &case, now);
                    let got = case::decide(Some(&case), &cmd, *role, now);
                    let label = format!("{side} {state} {kind} by {role}");
                    match table::find(*side, Some(*state), *kind) {
                        None => {
                            assert!(matches!(got, Err(CommandError::WrongState { .. })), "{label}: {got:?}");
                            wrong_state += 1;
                        }
                        Some(row) if !row.roles.contains(role) => {
                            assert!(matches!(got, Err(CommandError::WrongRole { .. })), "{label}: {got:?}");
                            wrong_role += 1;
                        }
                        Some(row) => {
                            let events =
                                got.unwrap_or_else(|e| panic!("{label}: allowed by the table but refused: {e}"));
                            let mut after = case.clone();
                            for e in &events {
                                case::apply(&mut after, e);
                            }
                            if row.to.is_empty() {
                                assert_eq!(after.state, *state, "{label}: the row says unchanged");
                            } else {
                                assert!(
                                    row.to.contains(&after.state),
                                    "{label}: landed in {} not in {:?}",
                                    after.state,
                                    row.to
                                );
                            }
                            allowed += 1;
                        }
                    }
                }
            }
        }
    }
    assert!(allowed > 300 && wrong_state > 10_000 && wrong_role > 300, "{allowed} {wrong_state} {wrong_role}");
}

#[test]
fn create_by_role() {
    let now = t("2026-11-25T09:00:00Z");
    for side in Side::ALL {
        for role in Role::ALL {
            let cmd =
                Command::Create { id: "x".into(), side: *side, case_file: file("subscriber-only"), emergency: false };
            let row = table::find(*side, None, CommandKind::Create).unwrap();
            match Case::create(&cmd, *role, now) {
                Ok((case, _)) => {
                    assert!(row.roles.contains(role), "{side} create by {role}");
                    assert!(row.to.contains(&case.state));
                }
                Err(e) => {
                    assert!(!row.roles.contains(role), "{side} create by {role}: {e}");
                    assert!(matches!(e, CommandError::WrongRole { .. }));
                }
            }
        }
    }
}

/// Every row is reachable in the table's own terms: each from-state of each row is a
/// state that some row leads to (or the initial state), so no row is dead.
#[test]
fn no_row_is_unreachable() {
    for row in TRANSITIONS {
        for from in row.from {
            if row.from.len() == State::ALL.len() {
                break; // side tracks
            }
            let reachable = TRANSITIONS.iter().any(|t| t.side == row.side && t.to.contains(from));
            assert!(reachable, "{} {} from {} is unreachable", row.side, row.command, from);
        }
    }
}

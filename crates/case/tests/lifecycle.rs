//! The whole life of a case at each kind of node, as a user would drive it.

mod common;

use case::{Action, Command, CommandError, Notification, PackageRef, Role, Ruling, Secrecy, Side, State};
use common::*;

fn package() -> PackageRef {
    PackageRef { manifest_sha256: "ab".repeat(32), files: 2, bytes: 1234 }
}

#[test]
fn requesting_side_needs_the_judge_before_sending() {
    let now = t("2026-11-25T09:00:00Z");
    let mut c = Tracked::create(Side::Requesting, "stored-data-confidential", false, Role::CaseWorker, now);
    assert_eq!(c.case.state, State::Draft);
    assert!(c.case.needs_authorization, "traffic data needs a judicial authorization by default");
    assert_eq!(c.case.secrecy, Secrecy::Secret { until: d("2027-02-23"), indefinite_asked: false });
    assert_eq!(c.run(Command::Send, Role::CaseWorker, now), Err(CommandError::AuthorizationRequired));
    c.ok(Command::SubmitForAuthorization, Role::CaseWorker, now);
    let err = c
        .run(Command::Authorize { reference: "IJ-1".into(), reasons: reasons("ok") }, Role::CaseWorker, now)
        .unwrap_err();
    assert!(matches!(err, CommandError::WrongRole { role: Role::CaseWorker, .. }), "{err}");
    assert_eq!(
        err.to_string(),
        "`authorize` in state `awaiting_authorization` may be given by `judge`, not by case_worker"
    );
    assert_eq!(
        c.run(Command::Authorize { reference: "IJ-1".into(), reasons: vec![" ".into()] }, Role::Judge, now),
        Err(CommandError::MissingReason { command: case::CommandKind::Authorize })
    );
    c.ok(
        Command::Authorize { reference: "IJ-1".into(), reasons: reasons("Necessary and proportionate.") },
        Role::Judge,
        now,
    );
    c.ok(Command::Send, Role::CaseWorker, now);
    c.ok(Command::Acknowledge, Role::Peer, t("2026-11-25T10:00:00Z"));
    let err =
        c.run(Command::ReceiveEvidence { package: package() }, Role::Peer, t("2026-11-26T10:00:00Z")).unwrap_err();
    assert!(matches!(err, CommandError::WrongState { state: State::Acknowledged, .. }), "{err}");
    c.ok(
        Command::RecordAnswer { action: Action::Admit, reasons: vec![], until: None, confidential_until: None },
        Role::Peer,
        t("2026-11-27T10:00:00Z"),
    );
    c.ok(Command::ReceiveEvidence { package: package() }, Role::Peer, t("2026-12-10T10:00:00Z"));
    c.ok(Command::Close { reasons: vec![] }, Role::CaseWorker, t("2026-12-11T10:00:00Z"));
    assert_eq!(c.case.state, State::Closed);
    // Secrecy outlives the case: at expiry the case is reveal due, then revealed, then
    // notification is due; only a judge may postpone it, with reasons.
    let early = c.run(Command::Reveal, Role::CaseWorker, t("2027-01-01T00:00:00Z")).unwrap_err();
    assert_eq!(early, CommandError::NotYetDue(d("2027-02-23")));
    let evs = c.ok(Command::Tick, Role::Clock, t("2027-02-23T00:00:01Z"));
    assert_eq!(Tracked::kinds(&evs), ["reveal_due"]);
    let evs = c.ok(Command::Reveal, Role::CaseWorker, t("2027-02-23T08:00:00Z"));
    assert_eq!(Tracked::kinds(&evs), ["revealed", "notification_due"]);
    let err = c.run(
        Command::PostponeNotification { until: d("2027-03-01"), reasons: reasons("x") },
        Role::CaseWorker,
        t("2027-02-23T09:00:00Z"),
    );
    assert!(matches!(err, Err(CommandError::WrongRole { .. })));
    let err = c.run(
        Command::PostponeNotification { until: d("2027-02-20"), reasons: reasons("x") },
        Role::Judge,
        t("2027-02-23T09:00:00Z"),
    );
    assert!(matches!(err, Err(CommandError::DateInPast { .. })));
    c.ok(
        Command::PostponeNotification { until: d("2027-03-01"), reasons: reasons("Ongoing search of a co-suspect.") },
        Role::Judge,
        t("2027-02-23T09:00:00Z"),
    );
    assert!(matches!(c.case.notification, Notification::Postponed { .. }));
    assert_eq!(
        c.run(Command::Notify, Role::CaseWorker, t("2027-02-24T09:00:00Z")),
        Err(CommandError::NotificationNotDue)
    );
    let evs = c.ok(Command::Notify, Role::CaseWorker, t("2027-03-01T09:00:00Z"));
    assert_eq!(Tracked::kinds(&evs), ["notification_due", "notified"]);
}

#[test]
fn requested_side_objection_is_decided_by_a_judge() {
    let now = t("2026-11-25T09:00:00Z");
    let mut c = Tracked::create(Side::Requested, "stored-data-confidential", false, Role::Peer, now);
    assert_eq!(c.case.state, State::Received);
    assert_eq!(c.case.authorization.as_deref(), Some("IJ-2026-0412"));
    // The policy says admissible: refusing outright is not allowed (UNCC 40(27)).
    let err = c
        .run(
            Command::Decide { action: Action::Refuse, reasons: reasons("no"), until: None },
            Role::CentralAuthority,
            now,
        )
        .unwrap_err();
    assert!(err.to_string().starts_with("cannot refuse: the policy's decision is admissible"), "{err}");
    let evs =
        c.ok(Command::Decide { action: Action::Admit, reasons: vec![], until: None }, Role::CentralAuthority, now);
    assert_eq!(Tracked::kinds(&evs), ["decided"], "the order set at receipt already ends on the condition's date");
    assert_eq!(c.case.secrecy, Secrecy::Secret { until: d("2027-02-23"), indefinite_asked: false });
    c.ok(Command::RouteToProvider { provider: "Example Mail Ltd".into() }, Role::CentralAuthority, now);
    assert_eq!(
        c.run(Command::Object { grounds: vec![] }, Role::Peer, now),
        Err(CommandError::MissingReason { command: case::CommandKind::Object })
    );
    c.ok(
        Command::Object { grounds: reasons("Overbroad: every account of the domain.") },
        Role::Peer,
        t("2026-11-26T09:00:00Z"),
    );
    assert_eq!(c.case.state, State::Objected);
    c.ok(
        Command::DecideObjection { ruling: Ruling::Narrowed, reasons: reasons("Limited to the named account.") },
        Role::Judge,
        t("2026-11-27T09:00:00Z"),
    );
    assert_eq!(c.case.state, State::InExecution);
    c.ok(Command::ReceiveEvidence { package: package() }, Role::Peer, t("2026-11-28T09:00:00Z"));
    c.ok(Command::Return, Role::CentralAuthority, t("2026-11-28T10:00:00Z"));
    c.ok(Command::Close { reasons: vec![] }, Role::CentralAuthority, t("2026-11-28T11:00:00Z"));
    assert_eq!(c.case.state, State::Closed);
}

#[test]
fn protected_conduct_is_refused_with_its_grounds_as_reasons() {
    let now = t("2026-11-25T09:00:00Z");
    let mut c = Tracked::create(Side::Requested, "protected-conduct", false, Role::Peer, now);
    let err = c
        .run(Command::Decide { action: Action::Admit, reasons: vec![], until: None }, Role::CentralAuthority, now)
        .unwrap_err();
    assert!(err.to_string().contains("protected_conduct [UNCC 6(2), 40(22)]"), "{err}");
    let evs =
        c.ok(Command::Decide { action: Action::Refuse, reasons: vec![], until: None }, Role::CentralAuthority, now);
    let case::EventBody::Decided { reasons, grounds, .. } = &evs[0].body else { panic!("decided") };
    assert!(reasons.iter().any(|r| r.contains("UNCC 6(2), 40(22)")), "{reasons:?}");
    assert_eq!(grounds.len(), 2);
    c.ok(Command::Return, Role::CentralAuthority, now);
}

#[test]
fn indefinite_secrecy_goes_to_consultation_and_comes_back_with_an_expiry() {
    let now = t("2026-11-25T09:00:00Z");
    let mut c = Tracked::create(Side::Requested, "indefinite-secrecy", false, Role::Peer, now);
    assert_eq!(
        c.case.secrecy,
        Secrecy::Secret { until: d("2027-05-24"), indefinite_asked: true },
        "capped at the maximum, 180 days"
    );
    let err = c
        .run(Command::Decide { action: Action::Admit, reasons: vec![], until: None }, Role::CentralAuthority, now)
        .unwrap_err();
    assert!(matches!(err, CommandError::PolicyForbids { outcome: policy::Outcome::Consult, .. }));
    c.ok(Command::Decide { action: Action::Consult, reasons: vec![], until: None }, Role::CentralAuthority, now);
    let missing = c.run(
        Command::ConcludeConsultation {
            action: Action::Admit,
            reasons: reasons("Agreed."),
            confidential_until: None,
            until: None,
        },
        Role::CentralAuthority,
        t("2026-11-30T09:00:00Z"),
    );
    assert_eq!(missing, Err(CommandError::Empty { field: "confidential_until" }));
    c.ok(
        Command::ConcludeConsultation {
            action: Action::Admit,
            reasons: reasons("Agreed on 120 days."),
            confidential_until: Some(d("2027-03-30")),
            until: None,
        },
        Role::CentralAuthority,
        t("2026-11-30T09:00:00Z"),
    );
    assert_eq!(c.case.state, State::Admitted);
    assert_eq!(c.case.secrecy, Secrecy::Secret { until: d("2027-03-30"), indefinite_asked: false });
    // A judge may extend, with reasons, before expiry; the extension is an event.
    let evs = c.ok(
        Command::ExtendConfidentiality { until: d("2027-06-30"), reasons: reasons("Investigation ongoing.") },
        Role::Judge,
        t("2027-03-01T09:00:00Z"),
    );
    assert_eq!(Tracked::kinds(&evs), ["confidentiality_extended"]);
    // After expiry no extension: it is reveal due.
    let err = c.run(
        Command::ExtendConfidentiality { until: d("2027-12-31"), reasons: reasons("More.") },
        Role::Judge,
        t("2027-07-01T00:00:00Z"),
    );
    assert_eq!(err, Err(CommandError::NotSecret("it has expired and is due for reveal")));
}

#[test]
fn provider_holds_at_least_60_days_and_release_on_expiry() {
    let now = t("2026-11-25T09:00:00Z");
    let mut c = Tracked::create(Side::Provider, "preservation-emergency", false, Role::Peer, now);
    assert!(c.case.emergency, "the request's emergency key makes it an emergency");
    assert_eq!(c.case.deadline.unwrap().due, t("2026-11-25T17:00:00Z"), "8 hours in an emergency");
    c.ok(Command::ProviderAcknowledge, Role::ProviderLegal, t("2026-11-25T10:00:00Z"));
    let short = c.run(Command::PlaceHold { until: d("2027-01-23") }, Role::ProviderLegal, t("2026-11-25T10:00:00Z"));
    assert_eq!(short, Err(CommandError::HoldTooShort { until: d("2027-01-23"), minimum: d("2027-01-24") }));
    c.ok(Command::PlaceHold { until: d("2027-01-24") }, Role::ProviderLegal, t("2026-11-25T10:00:00Z"));
    c.ok(
        Command::ExtendHold { until: d("2027-02-24"), reasons: reasons("MLA request on its way.") },
        Role::Peer,
        t("2027-01-10T10:00:00Z"),
    );
    let evs = c.ok(Command::Tick, Role::Clock, t("2027-02-25T00:00:00Z"));
    assert_eq!(Tracked::kinds(&evs), ["hold_expired"]);
    assert_eq!(c.case.state, State::Closed, "hold expiry: data released");
}

#[test]
fn deadlines_remind_then_escalate() {
    let now = t("2026-11-25T09:00:00Z");
    let mut c = Tracked::create(Side::Requested, "stored-data-confidential", false, Role::Peer, now);
    assert!(c.ok(Command::Tick, Role::Clock, t("2026-12-05T08:59:59Z")).is_empty());
    assert_eq!(Tracked::kinds(&c.ok(Command::Tick, Role::Clock, t("2026-12-05T09:00:00Z"))), ["reminder"]);
    assert!(c.ok(Command::Tick, Role::Clock, t("2026-12-10T09:00:00Z")).is_empty());
    assert_eq!(Tracked::kinds(&c.ok(Command::Tick, Role::Clock, t("2026-12-15T09:00:00Z"))), ["escalated"]);
    assert!(matches!(c.run(Command::Tick, Role::CentralAuthority, now), Err(CommandError::TimeBeforeLastEvent { .. })));
    assert!(matches!(
        c.run(Command::Tick, Role::CentralAuthority, t("2026-12-16T09:00:00Z")),
        Err(CommandError::WrongRole { .. })
    ));
}

#[test]
fn subscriber_only_needs_no_authorization_and_invalid_files_are_refused() {
    let now = t("2026-11-25T09:00:00Z");
    let mut c = Tracked::create(Side::Requesting, "subscriber-only", false, Role::CaseWorker, now);
    assert!(!c.case.needs_authorization);
    c.ok(Command::Send, Role::PointOfContact, now);
    let bad = Command::Create {
        id: "x".into(),
        side: Side::Requesting,
        case_file: "{\"as_of\": 1}".into(),
        emergency: false,
    };
    let err = case::Case::create(&bad, Role::CaseWorker, now).unwrap_err();
    assert!(err.to_string().contains("as_of: expected a date YYYY-MM-DD"), "{err}");
    let blank = Command::Create {
        id: " ".into(),
        side: Side::Requesting,
        case_file: file("subscriber-only"),
        emergency: false,
    };
    assert_eq!(case::Case::create(&blank, Role::CaseWorker, now).unwrap_err(), CommandError::Empty { field: "id" });
    let by_judge = Command::Create {
        id: "x".into(),
        side: Side::Requesting,
        case_file: file("subscriber-only"),
        emergency: false,
    };
    assert!(matches!(case::Case::create(&by_judge, Role::Judge, now), Err(CommandError::WrongRole { .. })));
}

/// docs/lifecycle.md is rendered from the transition table.
#[test]
fn docs_lifecycle_is_the_table() {
    let doc = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/lifecycle.md");
    let on_disk = std::fs::read_to_string(&doc).unwrap_or_default();
    if std::env::var_os("UPDATE_DOCS").is_some() {
        std::fs::write(&doc, case::table::markdown()).unwrap();
        return;
    }
    assert_eq!(
        on_disk,
        case::table::markdown(),
        "docs/lifecycle.md is stale: run `UPDATE_DOCS=1 cargo test -p case --test lifecycle docs`"
    );
}

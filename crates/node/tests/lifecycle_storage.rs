//! The whole life of a case at each kind of node, through the cases service, stored in
//! SQLite and (when DATABASE_URL names one) PostgreSQL: after every command the stored
//! events replay to the stored snapshot, and every event is committed to the node's log.

use std::sync::Arc;

use case::{Action, Case, Command, PackageRef, Role, Ruling, Side, Timestamp};
use node::auth::Caller;
use node::cases::Cases;
use serde_json::Value;

fn t(s: &str) -> Timestamp {
    Timestamp::parse(s).unwrap()
}

fn file(name: &str) -> Value {
    serde_json::from_slice(
        &std::fs::read(format!("{}/tests/data/{name}.case.json", env!("CARGO_MANIFEST_DIR"))).unwrap(),
    )
    .unwrap()
}

fn who(role: Role) -> Caller {
    Caller { name: role.id().into(), role, token_id: "test".into() }
}

fn pkg() -> PackageRef {
    PackageRef { manifest_sha256: "cd".repeat(32), files: 3, bytes: 4096 }
}

fn r(s: &str) -> Vec<String> {
    vec![s.into()]
}

async fn check_replay(store: &dyn store::Store, id: &str) {
    let cid = store::CaseId::new(id).unwrap();
    let record = store.load_case(&cid).await.unwrap().unwrap();
    let snapshot: Case = serde_json::from_slice(&record.snapshot).unwrap();
    let events: Vec<case::Event> =
        store.events(&cid).await.unwrap().iter().map(|e| case::Event::from_bytes(&e.bytes).unwrap()).collect();
    assert_eq!(
        Case::replay(&snapshot.case_file, &events).unwrap(),
        snapshot,
        "{id}: the stored events replay to the stored case"
    );
    assert_eq!(record.state, snapshot.state.id());
    assert_eq!(record.last_seq, snapshot.events);
    assert!(store.events(&cid).await.unwrap().iter().all(|e| e.log_index.is_some()), "{id}: every event is logged");
}

async fn life(store: Arc<dyn store::Store>) {
    let dir = tempfile::tempdir().unwrap();
    let log =
        Arc::new(node::transparency::Transparency::open_or_create(&dir.path().join("log"), "X.custodia").unwrap());
    let cases = Cases::new(store.clone(), log.clone(), "X", [3; 32]);
    let run = |id: &'static str, cmd: Command, role: Role, at: &'static str| {
        let cases = &cases;
        async move {
            cases
                .command(&who(role), id, &cmd, None, t(at))
                .await
                .unwrap_or_else(|p| panic!("{id} {cmd:?} by {role}: {:?}", p.detail));
        }
    };

    // Requesting side: draft, a judge authorizes, send, the answers arrive, evidence arrives.
    cases
        .create(
            &who(Role::CaseWorker),
            Some("out-1".into()),
            Side::Requesting,
            &file("stored-data-confidential"),
            false,
            t("2026-11-25T09:00:00Z"),
        )
        .await
        .unwrap();
    let refused = cases
        .command(&who(Role::CaseWorker), "out-1", &Command::Send, None, t("2026-11-25T09:01:00Z"))
        .await
        .unwrap_err();
    assert!(refused.detail.unwrap().contains("judicial authorization is required"));
    run("out-1", Command::SubmitForAuthorization, Role::CaseWorker, "2026-11-25T09:02:00Z").await;
    run(
        "out-1",
        Command::Authorize { reference: "IJ-7".into(), reasons: r("Proportionate.") },
        Role::Judge,
        "2026-11-25T10:00:00Z",
    )
    .await;
    run("out-1", Command::Send, Role::CaseWorker, "2026-11-25T10:05:00Z").await;
    run("out-1", Command::Acknowledge, Role::Peer, "2026-11-25T10:06:00Z").await;
    run(
        "out-1",
        Command::RecordAnswer { action: Action::Admit, reasons: vec![], until: None, confidential_until: None },
        Role::Peer,
        "2026-11-26T10:00:00Z",
    )
    .await;
    run("out-1", Command::ReceiveEvidence { package: pkg() }, Role::Peer, "2026-12-02T10:00:00Z").await;
    run("out-1", Command::Close { reasons: vec![] }, Role::CaseWorker, "2026-12-03T10:00:00Z").await;
    check_replay(store.as_ref(), "out-1").await;

    // Requested side: decide, route, the provider objects, a judge narrows, hold, evidence, return.
    cases
        .create(
            &who(Role::CentralAuthority),
            Some("in-1".into()),
            Side::Requested,
            &file("stored-data-confidential"),
            false,
            t("2026-11-25T11:00:00Z"),
        )
        .await
        .unwrap();
    run(
        "in-1",
        Command::Decide { action: Action::Admit, reasons: vec![], until: None },
        Role::CentralAuthority,
        "2026-11-25T12:00:00Z",
    )
    .await;
    run(
        "in-1",
        Command::RouteToProvider { provider: "Example Mail Ltd".into() },
        Role::CentralAuthority,
        "2026-11-25T12:05:00Z",
    )
    .await;
    run("in-1", Command::ProviderAcknowledge, Role::Peer, "2026-11-25T13:00:00Z").await;
    run("in-1", Command::Object { grounds: r("Overbroad: the whole domain.") }, Role::Peer, "2026-11-25T14:00:00Z")
        .await;
    run(
        "in-1",
        Command::DecideObjection { ruling: Ruling::Narrowed, reasons: r("Only the named account.") },
        Role::Judge,
        "2026-11-26T09:00:00Z",
    )
    .await;
    run(
        "in-1",
        Command::PlaceHold { until: treaty::Date::parse("2027-02-01").unwrap() },
        Role::Peer,
        "2026-11-26T10:00:00Z",
    )
    .await;
    run("in-1", Command::ReceiveEvidence { package: pkg() }, Role::Peer, "2026-11-28T10:00:00Z").await;
    run("in-1", Command::Return, Role::CentralAuthority, "2026-11-28T11:00:00Z").await;
    run("in-1", Command::Close { reasons: vec![] }, Role::CentralAuthority, "2026-11-28T12:00:00Z").await;
    check_replay(store.as_ref(), "in-1").await;

    // Provider: an emergency preservation, held, extended, released at expiry.
    cases
        .create(
            &who(Role::ProviderLegal),
            Some("p-1".into()),
            Side::Provider,
            &file("preservation-emergency"),
            true,
            t("2026-11-25T09:00:00Z"),
        )
        .await
        .unwrap_err();
    // (a provider's legal team cannot open a case: it arrives from the requested State)
    cases
        .create(
            &who(Role::Peer),
            Some("p-1".into()),
            Side::Provider,
            &file("preservation-emergency"),
            true,
            t("2026-11-25T09:00:00Z"),
        )
        .await
        .unwrap();
    run("p-1", Command::ProviderAcknowledge, Role::ProviderLegal, "2026-11-25T09:30:00Z").await;
    run(
        "p-1",
        Command::PlaceHold { until: treaty::Date::parse("2027-01-24").unwrap() },
        Role::ProviderLegal,
        "2026-11-25T10:00:00Z",
    )
    .await;
    run(
        "p-1",
        Command::ExtendHold { until: treaty::Date::parse("2027-02-24").unwrap(), reasons: r("MLA on its way.") },
        Role::Peer,
        "2027-01-10T10:00:00Z",
    )
    .await;
    run("p-1", Command::Tick, Role::Clock, "2027-02-25T00:00:00Z").await;
    let p1 = cases.get(&who(Role::ProviderLegal), "p-1", treaty::Date::parse("2027-02-25").unwrap()).await.unwrap();
    assert_eq!(p1.case["state"], "closed", "hold expiry: data released");
    check_replay(store.as_ref(), "p-1").await;

    // The log holds one commitment per event (and the reveals of the non-secret case).
    let total: u64 = futures_count(store.as_ref(), &["out-1", "in-1", "p-1"]).await;
    let entries = log.entries().unwrap();
    let commitments = entries.iter().filter(|e| case::commitment::Commitment::parse(e).is_ok()).count() as u64;
    assert_eq!(commitments, total);
}

async fn futures_count(store: &dyn store::Store, ids: &[&str]) -> u64 {
    let mut n = 0;
    for id in ids {
        n += store.events(&store::CaseId::new(*id).unwrap()).await.unwrap().len() as u64;
    }
    n
}

#[tokio::test]
async fn whole_lifecycle_on_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    let s = store::SqliteStore::open(dir.path().join("cases.db"), store::SqliteOptions::default()).await.unwrap();
    life(Arc::new(s)).await;
}

#[tokio::test]
async fn whole_lifecycle_on_postgres() {
    let Ok(url) = std::env::var("DATABASE_URL") else {
        assert_ne!(std::env::var("CI").as_deref(), Ok("true"), "CI=true: set DATABASE_URL (.ci/run does)");
        eprintln!("SKIPPED: the lifecycle on PostgreSQL (set DATABASE_URL=postgres://postgres@127.0.0.1:5432/test)");
        return;
    };
    let mut rnd = [0u8; 6];
    getrandom::fill(&mut rnd).unwrap();
    let schema = format!("node_life_{}", rnd.iter().map(|b| format!("{b:02x}")).collect::<String>());
    let s = store::PostgresStore::connect(store::PostgresOptions {
        schema: Some(schema.clone()),
        ..store::PostgresOptions::new(url)
    })
    .await
    .unwrap();
    let pool = s.pool().clone();
    life(Arc::new(s)).await;
    // The schema name is made above from hex digits only.
    sqlx::query(sqlx::AssertSqlSafe(format!("DROP SCHEMA {schema} CASCADE"))).execute(&pool).await.unwrap();
}

/// Secrecy ends on time at the node: the sweep ticks, reveals and publishes; the
/// statistics then count nothing overdue, and the reveals open the log's commitments.
#[tokio::test]
async fn the_sweep_reveals_what_is_due() {
    let dir = tempfile::tempdir().unwrap();
    let s = store::SqliteStore::open(dir.path().join("cases.db"), store::SqliteOptions::default()).await.unwrap();
    let store: Arc<dyn store::Store> = Arc::new(s);
    let log =
        Arc::new(node::transparency::Transparency::open_or_create(&dir.path().join("log"), "X.custodia").unwrap());
    let cases = Cases::new(store.clone(), log.clone(), "X", [3; 32]);
    cases
        .create(
            &who(Role::CentralAuthority),
            Some("s1".into()),
            Side::Requested,
            &file("stored-data-confidential"),
            false,
            t("2026-11-25T09:00:00Z"),
        )
        .await
        .unwrap();
    cases
        .command(
            &who(Role::CentralAuthority),
            "s1",
            &Command::Decide { action: Action::Admit, reasons: vec![], until: None },
            None,
            t("2026-11-25T10:00:00Z"),
        )
        .await
        .unwrap();
    let stats = |day: &str| {
        case::commitment::statistics(
            log.entries().unwrap().iter().map(Vec::as_slice),
            treaty::Date::parse(day).unwrap(),
        )
    };
    assert_eq!((stats("2027-02-23").secret, stats("2027-02-23").overdue), (2, 0));
    // Nothing is due before the expiry.
    assert_eq!(cases.sweep(t("2027-02-22T12:00:00Z")).await.unwrap(), 0);
    // A node that does not sweep is counted as overdue the day after the expiry.
    assert_eq!(stats("2027-02-24").overdue, 2);
    // The sweep on the expiry day reveals: ticks (reveal due), reveals, notification due.
    assert_eq!(cases.sweep(t("2027-02-23T00:05:00Z")).await.unwrap(), 1);
    let s = stats("2027-02-24");
    assert_eq!((s.overdue, s.secret), (0, 0), "{s:?}");
    assert_eq!(s.revealed, 5, "created, decided, reveal_due, revealed, notification_due");
    assert_eq!(s.decisions_by_action.get("admit"), Some(&1));
    let c = cases.get(&who(Role::CentralAuthority), "s1", treaty::Date::parse("2027-02-24").unwrap()).await.unwrap();
    assert_eq!(c.case["notification"]["status"], "due");
    // Sweeping again does nothing.
    assert_eq!(cases.sweep(t("2027-02-24T00:05:00Z")).await.unwrap(), 0);
}

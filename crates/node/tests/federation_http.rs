//! Nodes talking to each other over real HTTP on loopback: a request travels from State A
//! to State B and on to a provider, each answer comes back, a provider that was down
//! catches up, and forged, replayed, tampered or misdirected envelopes are refused.

use std::sync::Arc;

use case::{Action, Command, Role, Side};
use node::auth::Caller;
use node::cases::Cases;
use node::peers::Peers;
use node::{Config, PartyRole};
use serde_json::Value;

struct Running {
    cases: Arc<Cases>,
    peers: Arc<Peers>,
    _dir: tempfile::TempDir,
}

fn who(role: Role) -> Caller {
    Caller { name: role.id().into(), role, token_id: "test".into() }
}

fn now() -> case::Timestamp {
    node::clock::now()
}

fn file(name: &str) -> Value {
    serde_json::from_slice(
        &std::fs::read(format!("{}/tests/data/{name}.case.json", env!("CARGO_MANIFEST_DIR"))).unwrap(),
    )
    .unwrap()
}

struct Planned {
    name: &'static str,
    role: PartyRole,
    state: &'static str,
    dir: tempfile::TempDir,
    identity: seal::keys::SecretIdentity,
    port: u16,
}

fn plan(name: &'static str, role: PartyRole, state: &'static str) -> Planned {
    let dir = tempfile::tempdir().unwrap();
    let identity = node::peers::identity(&dir.path().join("data"), name, now().0 as u64).unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    Planned { name, role, state, dir, identity, port }
}

fn directory(nodes: &[&Planned], key: &tlog::note::SignerKey) -> federation::Accepted {
    let today = node::clock::today();
    let parties = nodes
        .iter()
        .map(|n| federation::Party {
            name: n.name.into(),
            state: treaty::StateCode::parse(n.state).unwrap(),
            role: n.role,
            endpoint: format!("http://127.0.0.1:{}", n.port),
            keys: vec![federation::PartyKey {
                key: tlog::note::VerifierKey::parse(&n.identity.verifier().to_string()).unwrap(),
                from: today.add_days(-1),
                until: today.add_days(365),
            }],
            recipient: n.identity.public().recipient.clone(),
            log: None,
            cosigner: None,
            witnesses: vec![],
        })
        .collect();
    let d = federation::Directory { federation: "test.custodia".into(), version: 1, previous: None, parties };
    federation::verify(&federation::sign(&d, &[key]).unwrap(), &[key.verifier()], 1, None).unwrap()
}

async fn start(p: Planned, dir: &federation::Accepted) -> Running {
    let base = p.dir.path().to_path_buf();
    let config =
        Config::example(p.name, p.role, p.state, &format!("127.0.0.1:{}", p.port)).validate(base.clone()).unwrap();
    let store = store::SqliteStore::open(base.join("cases.db"), store::SqliteOptions::default()).await.unwrap();
    let log = Arc::new(
        node::transparency::Transparency::open_or_create(&base.join("data/log"), &format!("{}.custodia", p.name))
            .unwrap(),
    );
    let peers = Arc::new(Peers::new(p.name, p.identity, dir.clone(), &base.join("data")).unwrap());
    let cases = Arc::new(Cases::new(Arc::new(store), log.clone(), p.name, [1; 32]).with_peers(peers.clone()));
    let app = node::api::app_with(config, Some(log), Some(cases.clone()), None);
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", p.port)).await.unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    Running { cases, peers, _dir: p.dir }
}

async fn deliver_all(nodes: &[&Running]) {
    for _ in 0..10 {
        let mut moved = 0;
        for n in nodes {
            moved += n.peers.deliver(now().0 as u64).await;
        }
        if moved == 0 {
            return;
        }
    }
}

async fn state(n: &Running, role: Role, id: &str) -> String {
    n.cases.get(&who(role), id, node::clock::today()).await.unwrap().case["state"].as_str().unwrap().to_string()
}

#[tokio::test]
async fn a_request_travels_and_every_answer_comes_back() {
    let fed_key = tlog::note::SignerKey::generate("directory.test", tlog::note::KeyKind::Ed25519).unwrap();
    let (pa, pb, pc) = (
        plan("AA-central-authority", PartyRole::CentralAuthority, "AA"),
        plan("BB-central-authority", PartyRole::CentralAuthority, "BB"),
        plan("Example-Mail", PartyRole::Provider, "BB"),
    );
    let dir = directory(&[&pa, &pb, &pc], &fed_key);
    let c_plan = pc; // the provider starts later: it is down at first
    let (a, b) = (start(pa, &dir).await, start(pb, &dir).await);

    // A drafts, a judge authorizes, A sends: the request reaches B, which acknowledges.
    a.cases
        .create(
            &who(Role::CaseWorker),
            Some("x1".into()),
            Side::Requesting,
            &file("stored-data-confidential"),
            false,
            now(),
        )
        .await
        .unwrap();
    for (cmd, role) in [
        (Command::SubmitForAuthorization, Role::CaseWorker),
        (Command::Authorize { reference: "IJ-1".into(), reasons: vec!["Proportionate.".into()] }, Role::Judge),
        (Command::Send, Role::CaseWorker),
    ] {
        a.cases.command(&who(role), "x1", &cmd, None, now()).await.unwrap();
    }
    assert_eq!(a.peers.pending(), 1);
    deliver_all(&[&a, &b]).await;
    let theirs = "AA-central-authority:x1";
    assert_eq!(state(&b, Role::CentralAuthority, theirs).await, "received");
    assert_eq!(state(&a, Role::CaseWorker, "x1").await, "acknowledged");

    // B decides: the answer comes back to A.
    b.cases
        .command(
            &who(Role::CentralAuthority),
            theirs,
            &Command::Decide { action: Action::Admit, reasons: vec![], until: None },
            None,
            now(),
        )
        .await
        .unwrap();
    deliver_all(&[&a, &b]).await;
    assert_eq!(state(&a, Role::CaseWorker, "x1").await, "admitted");

    // B routes to the provider, which is down: the message waits, in order.
    b.cases
        .command(
            &who(Role::CentralAuthority),
            theirs,
            &Command::RouteToProvider { provider: "Example-Mail".into() },
            None,
            now(),
        )
        .await
        .unwrap();
    assert_eq!(b.peers.deliver(now().0 as u64).await, 0);
    assert_eq!(b.peers.pending(), 1);
    // The provider comes up: B catches up; the provider acknowledges, B learns it.
    let c = start(c_plan, &dir).await;
    deliver_all(&[&a, &b, &c]).await;
    let at_c = "BB-central-authority:AA-central-authority:x1";
    assert_eq!(state(&c, Role::ProviderLegal, at_c).await, "received");
    c.cases.command(&who(Role::ProviderLegal), at_c, &Command::ProviderAcknowledge, None, now()).await.unwrap();
    c.cases
        .command(&who(Role::ProviderLegal), at_c, &Command::Object { grounds: vec!["Overbroad.".into()] }, None, now())
        .await
        .unwrap();
    deliver_all(&[&a, &b, &c]).await;
    assert_eq!(state(&b, Role::CentralAuthority, theirs).await, "objected");
    // B's judge narrows the request: the provider must act.
    b.cases
        .command(
            &who(Role::Judge),
            theirs,
            &Command::DecideObjection {
                ruling: case::Ruling::Narrowed,
                reasons: vec!["The named account only.".into()],
            },
            None,
            now(),
        )
        .await
        .unwrap();
    deliver_all(&[&a, &b, &c]).await;
    assert_eq!(state(&c, Role::ProviderLegal, at_c).await, "in_execution");
    let pkg = case::PackageRef { manifest_sha256: "ef".repeat(32), files: 1, bytes: 10 };
    c.cases.command(&who(Role::ProviderLegal), at_c, &Command::Produce { package: pkg }, None, now()).await.unwrap();
    deliver_all(&[&a, &b, &c]).await;
    assert_eq!(state(&b, Role::CentralAuthority, theirs).await, "evidence_received");
    b.cases.command(&who(Role::CentralAuthority), theirs, &Command::Return, None, now()).await.unwrap();
    deliver_all(&[&a, &b, &c]).await;
    assert_eq!(state(&a, Role::CaseWorker, "x1").await, "evidence_received");
    for n in [&a, &b, &c] {
        assert_eq!(n.peers.pending(), 0);
    }
}

#[tokio::test]
async fn forged_replayed_tampered_and_misdirected_envelopes_are_refused() {
    let fed_key = tlog::note::SignerKey::generate("directory.test", tlog::note::KeyKind::Ed25519).unwrap();
    let (pa, pb) = (
        plan("AA-central-authority", PartyRole::CentralAuthority, "AA"),
        plan("BB-central-authority", PartyRole::CentralAuthority, "BB"),
    );
    let dir = directory(&[&pa, &pb], &fed_key);
    let a_identity = seal::keys::SecretIdentity::parse(&pa.identity.secret_file()).unwrap();
    let b_port = pb.port;
    let (_a, b) = (start(pa, &dir).await, start(pb, &dir).await);
    let url = format!("http://127.0.0.1:{b_port}/api/v1/inbox");
    let client = reqwest::Client::new();
    let post = |bytes: Vec<u8>| {
        let (client, url) = (client.clone(), url.clone());
        async move {
            let r = client.post(url).body(bytes).send().await.unwrap();
            (r.status().as_u16(), r.text().await.unwrap())
        }
    };
    let body = serde_json::to_vec(&node::peers::RequestBody {
        case: "e1".into(),
        side: Side::Requested,
        case_file: file("stored-data-confidential"),
        emergency: true,
    })
    .unwrap();
    let message = || {
        seal::envelope::Message::new("BB-central-authority", node::peers::REQUEST, now().0 as u64, body.clone())
            .unwrap()
    };
    // A forged emergency request: a police mailbox's key that no directory lists.
    let now_s = now().0 as u64;
    let mailbox = seal::keys::SecretIdentity::generate(
        "AA-police",
        seal::keys::Validity::new(now_s - 60, now_s + 3600).unwrap(),
        now_s - 60,
    )
    .unwrap();
    let forged = seal::envelope::Envelope::seal(&mailbox, message()).unwrap();
    let (s, t) = post(forged.bytes().to_vec()).await;
    assert_eq!(s, 403, "{t}");
    assert!(t.contains("unknown key AA-police"), "{t}");
    assert!(
        b.cases.get(&who(Role::CentralAuthority), "AA-police:e1", node::clock::today()).await.is_err(),
        "nothing was opened"
    );
    // Tampered: one byte of the body flipped.
    let good = seal::envelope::Envelope::seal(&a_identity, message()).unwrap();
    let mut bad = good.bytes().to_vec();
    let mid = bad.len() / 2;
    bad[mid] ^= 1;
    let (s, t) = post(bad).await;
    assert!(s == 403 || s == 400, "{s} {t}");
    // The genuine one is accepted once; replayed, it changes nothing.
    let (s, t) = post(good.bytes().to_vec()).await;
    assert_eq!(s, 200, "{t}");
    let (s, t) = post(good.bytes().to_vec()).await;
    assert_eq!((s, t.contains("duplicate")), (200, true), "{t}");
    // Addressed to another node.
    let other =
        seal::envelope::Message::new("CC-central-authority", node::peers::REQUEST, now().0 as u64, body.clone())
            .unwrap();
    let (s, t) = post(seal::envelope::Envelope::seal(&a_identity, other).unwrap().bytes().to_vec()).await;
    assert_eq!(s, 403, "{t}");
    // Outside the allowed clock skew (an hour old).
    let mut old = message();
    old.created -= 3600;
    let (s, t) = post(seal::envelope::Envelope::seal(&a_identity, old).unwrap().bytes().to_vec()).await;
    assert_eq!(s, 403, "{t}");
    // A command on a case that A is not a party to.
    b.cases
        .create(
            &who(Role::CentralAuthority),
            Some("local".into()),
            Side::Requested,
            &file("stored-data-confidential"),
            false,
            now(),
        )
        .await
        .unwrap();
    let cmd = serde_json::to_vec(&node::peers::CommandBody {
        case: "local".into(),
        command: Command::Withdraw { reasons: vec!["x".into()] },
    })
    .unwrap();
    let m = seal::envelope::Message::new("BB-central-authority", node::peers::COMMAND, now().0 as u64, cmd).unwrap();
    let (s, t) = post(seal::envelope::Envelope::seal(&a_identity, m).unwrap().bytes().to_vec()).await;
    assert_eq!(s, 403, "{t}");
    assert!(t.contains("not a party"), "{t}");
}

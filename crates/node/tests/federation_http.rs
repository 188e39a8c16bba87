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
    log: Arc<node::transparency::Transparency>,
    dir: tempfile::TempDir,
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
    log_key: tlog::note::VerifierKey,
    port: u16,
    /// `http` or `https`, in the directory's endpoint.
    scheme: &'static str,
}

/// A case worker opens requesting case `id` (stored data, confidential), a judge
/// authorizes it, and the case worker sends it: one message queued for B.
async fn send_request(cases: &node::cases::Cases, id: &str) {
    cases
        .create(
            &who(Role::CaseWorker),
            Some(id.into()),
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
        cases.command(&who(role), id, &cmd, None, now()).await.unwrap();
    }
}

fn plan(name: &'static str, role: PartyRole, state: &'static str) -> Planned {
    let dir = tempfile::tempdir().unwrap();
    let identity = node::peers::identity(&dir.path().join("data"), name, now().0 as u64).unwrap();
    let log =
        node::transparency::Transparency::open_or_create(&dir.path().join("data/log"), &format!("{name}.custodia"))
            .unwrap();
    let log_key = tlog::note::VerifierKey::parse(&log.verifier_key).unwrap();
    drop(log);
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    Planned { name, role, state, dir, identity, log_key, port, scheme: "http" }
}

fn directory(nodes: &[&Planned], key: &tlog::note::SignerKey) -> federation::Accepted {
    let today = node::clock::today();
    let parties = nodes
        .iter()
        .map(|n| federation::Party {
            name: n.name.into(),
            state: treaty::StateCode::parse(n.state).unwrap(),
            role: n.role,
            endpoint: format!("{}://127.0.0.1:{}", n.scheme, n.port),
            keys: vec![federation::PartyKey {
                key: tlog::note::VerifierKey::parse(&n.identity.verifier().to_string()).unwrap(),
                from: today.add_days(-1),
                until: today.add_days(365),
            }],
            recipient: n.identity.public().recipient.clone(),
            log: Some((format!("{}.custodia", n.name), n.log_key.clone())),
            cosigner: None,
            witnesses: vec![],
        })
        .collect();
    let d = federation::Directory { federation: "test.custodia".into(), version: 1, previous: None, parties };
    federation::verify(&federation::sign(&d, &[key]).unwrap(), &[key.verifier()], 1, None).unwrap()
}

async fn start(p: Planned, dir: &federation::Accepted) -> Running {
    let port = p.port;
    start_at(p, dir, port).await
}

/// Starts the node listening on `port` (which may differ from the directory's endpoint,
/// when a proxy stands between).
async fn start_at(p: Planned, dir: &federation::Accepted, port: u16) -> Running {
    start_with(p, dir, port, None).await
}

/// Starts the node listening on `port`, serving HTTPS with `tls` if given.
async fn start_with(
    p: Planned,
    dir: &federation::Accepted,
    port: u16,
    tls: Option<Arc<rustls::ServerConfig>>,
) -> Running {
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
    let app = node::api::app_with(config, Some(log.clone()), Some(cases.clone()), None);
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port)).await.unwrap();
    match tls {
        Some(tls) => {
            let listener = node::tls::TlsListener::new(listener, tls).unwrap();
            tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        }
        None => {
            tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        }
    }
    Running { cases, peers, log, dir: p.dir }
}

/// What a genuine sender attaches to `message`: its commitment appended to `from`'s log,
/// and the salt and inclusion proof headers.
fn commit(from: &Running, message: &seal::envelope::Message) -> (String, String) {
    let salt = [7u8; 32];
    let entry = node::peers::message_entry(from.peers.me(), message, &salt);
    let index = from.log.append(vec![entry]).unwrap();
    (hex(&salt), prove(from, index))
}

fn prove(from: &Running, index: u64) -> String {
    use base64::Engine as _;
    let store = tlog::storage::DirStorage::new(from.log.dir()).unwrap();
    let key = tlog::note::VerifierKey::parse(&from.log.verifier_key).unwrap();
    let policy = tlog::checkpoint::TrustPolicy { origin: None, log_key: Some(key), witnesses: vec![], quorum: 0 };
    let (proof, _) = tlog::client::prove(&store, &policy, index).unwrap();
    base64::engine::general_purpose::STANDARD.encode(proof.to_text())
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

async fn deliver_all(nodes: &[&Running]) {
    for _ in 0..10 {
        let mut moved = 0;
        for n in nodes {
            moved += n.peers.deliver(now().0 as u64).await;
        }
        for n in nodes {
            n.peers.settled().await;
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
    send_request(&a.cases, "x1").await;
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
    // Every message was acknowledged, and each acknowledgement names the receipt in the
    // receiver's log, itself bound to the commitment in the sender's log.
    assert_eq!(check_acks(&a, &b), 1, "the request");
    assert_eq!(check_acks(&b, &a), 3, "acknowledgement, answer, evidence");
    assert_eq!(check_acks(&b, &c), 2, "the request and the ruling");
    assert_eq!(check_acks(&c, &b), 3, "acknowledgement, objection, production");
}

/// Checks every acknowledgement `from` holds from `to` against both logs; returns how many.
fn check_acks(from: &Running, to: &Running) -> usize {
    let acks = from.peers.acknowledgements(to.peers.me());
    let (ours, theirs) = (from.log.entries().unwrap(), to.log.entries().unwrap());
    for a in &acks {
        let message = &ours[a.message_index as usize];
        assert!(message.starts_with(b"custodia/message/v1\n"), "{}", String::from_utf8_lossy(message));
        let id: [u8; 16] = (0..16)
            .map(|i| u8::from_str_radix(&a.message[2 * i..2 * i + 2], 16).unwrap())
            .collect::<Vec<_>>()
            .try_into()
            .unwrap();
        assert_eq!(
            theirs[a.receipt_index as usize],
            node::peers::receipt_entry(from.peers.me(), &id, message),
            "the receipt at {} in {}'s log",
            a.receipt_index,
            to.peers.me()
        );
    }
    acks.len()
}

struct Inbox {
    url: String,
    client: reqwest::Client,
}

impl Inbox {
    fn of(port: u16) -> Inbox {
        Inbox { url: format!("http://127.0.0.1:{port}/api/v1/inbox"), client: reqwest::Client::new() }
    }

    /// Posts envelope bytes with the salt and proof headers, if given.
    async fn post(&self, bytes: Vec<u8>, proof: Option<&(String, String)>) -> (u16, Value) {
        let mut r = self.client.post(&self.url).body(bytes);
        if let Some((salt, proof)) = proof {
            r = r.header(node::peers::SALT_HEADER, salt).header(node::peers::PROOF_HEADER, proof);
        }
        let r = r.send().await.unwrap();
        let status = r.status().as_u16();
        (status, serde_json::from_slice(&r.bytes().await.unwrap()).unwrap())
    }
}

fn request_body(case: &str) -> Vec<u8> {
    serde_json::to_vec(&node::peers::RequestBody {
        case: case.into(),
        side: Side::Requested,
        case_file: file("stored-data-confidential"),
        emergency: true,
    })
    .unwrap()
}

fn to_b(body: &[u8]) -> seal::envelope::Message {
    seal::envelope::Message::new("BB-central-authority", node::peers::REQUEST, now().0 as u64, body.to_vec()).unwrap()
}

fn seal_as(who: &seal::keys::SecretIdentity, m: seal::envelope::Message) -> Vec<u8> {
    seal::envelope::Envelope::seal(who, m).unwrap().bytes().to_vec()
}

fn codes(n: &Running) -> Vec<String> {
    n.peers.refusals().iter().map(|r| r["code"].as_str().unwrap().to_string()).collect()
}

async fn two_nodes() -> (Running, Running, seal::keys::SecretIdentity, u16) {
    let fed_key = tlog::note::SignerKey::generate("directory.test", tlog::note::KeyKind::Ed25519).unwrap();
    let (pa, pb) = (
        plan("AA-central-authority", PartyRole::CentralAuthority, "AA"),
        plan("BB-central-authority", PartyRole::CentralAuthority, "BB"),
    );
    let dir = directory(&[&pa, &pb], &fed_key);
    let a_identity = seal::keys::SecretIdentity::parse(&pa.identity.secret_file()).unwrap();
    let b_port = pb.port;
    let (a, b) = (start(pa, &dir).await, start(pb, &dir).await);
    (a, b, a_identity, b_port)
}

#[tokio::test]
async fn forged_replayed_tampered_and_misdirected_envelopes_are_refused() {
    let (a, b, a_identity, b_port) = two_nodes().await;
    let inbox = Inbox::of(b_port);
    let body = request_body("e1");
    // A forged emergency request: a police mailbox's key that no directory lists.
    let now_s = now().0 as u64;
    let mailbox = seal::keys::SecretIdentity::generate(
        "AA-police",
        seal::keys::Validity::new(now_s - 60, now_s + 3600).unwrap(),
        now_s - 60,
    )
    .unwrap();
    let forged = to_b(&body);
    let proof = commit(&a, &forged);
    let (s, t) = inbox.post(seal_as(&mailbox, forged), Some(&proof)).await;
    assert_eq!(s, 403, "{t}");
    assert!(t["detail"].as_str().unwrap().contains("unknown key AA-police"), "{t}");
    assert!(
        b.cases.get(&who(Role::CentralAuthority), "AA-police:e1", node::clock::today()).await.is_err(),
        "nothing was opened"
    );
    let recorded = b.peers.refusals();
    assert_eq!(recorded.last().unwrap()["sender"], "AA-police", "{recorded:?}");
    assert!(recorded.last().unwrap()["reason"].as_str().unwrap().contains("unknown key"), "{recorded:?}");
    // Tampered: one byte of the body flipped.
    let genuine = to_b(&body);
    let proof = commit(&a, &genuine);
    let good = seal_as(&a_identity, genuine);
    let mut bad = good.clone();
    let mid = bad.len() / 2;
    bad[mid] ^= 1;
    let (s, t) = inbox.post(bad, Some(&proof)).await;
    assert!(s == 403 || s == 400, "{s} {t}");
    // The genuine one is accepted once, with a signed acknowledgement naming the receipt
    // in B's log; replayed, it changes nothing and the same receipt is acknowledged again.
    let (s, t) = inbox.post(good.clone(), Some(&proof)).await;
    assert_eq!((s, t["status"].as_str()), (200, Some("accepted")), "{t}");
    let receipt = t["receipt_index"].as_u64().unwrap();
    let (s, t) = inbox.post(good.clone(), Some(&proof)).await;
    assert_eq!((s, t["status"].as_str(), t["receipt_index"].as_u64()), (200, Some("duplicate"), Some(receipt)), "{t}");
    let receipts = b.log.entries().unwrap().iter().filter(|e| e.starts_with(b"custodia/receipt/v1\n")).count();
    assert_eq!(receipts, 1, "one receipt logged");
    // Addressed to another node.
    let other =
        seal::envelope::Message::new("CC-central-authority", node::peers::REQUEST, now().0 as u64, body.clone())
            .unwrap();
    let proof = commit(&a, &other);
    let (s, t) = inbox.post(seal_as(&a_identity, other), Some(&proof)).await;
    assert_eq!(s, 403, "{t}");
    // Outside the allowed clock skew (an hour old).
    let mut old = to_b(&body);
    old.created -= 3600;
    let proof = commit(&a, &old);
    let (s, t) = inbox.post(seal_as(&a_identity, old), Some(&proof)).await;
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
    let proof = commit(&a, &m);
    let (s, t) = inbox.post(seal_as(&a_identity, m), Some(&proof)).await;
    assert_eq!(s, 403, "{t}");
    assert!(t["detail"].as_str().unwrap().contains("not a party"), "{t}");
    assert_eq!(codes(&b), ["envelope-refused"; 4], "unknown key, tampered, misdirected, too old");
}

#[tokio::test]
async fn an_expired_or_revoked_key_is_refused() {
    let fed_key = tlog::note::SignerKey::generate("directory.test", tlog::note::KeyKind::Ed25519).unwrap();
    let (pa, pb) = (
        plan("AA-central-authority", PartyRole::CentralAuthority, "AA"),
        plan("BB-central-authority", PartyRole::CentralAuthority, "BB"),
    );
    // The directory ended the validity of A's key the day before yesterday: revoked.
    let mut dir = directory(&[&pa, &pb], &fed_key).directory;
    let today = node::clock::today();
    dir.parties[0].keys[0].from = today.add_days(-30);
    dir.parties[0].keys[0].until = today.add_days(-2);
    let dir =
        federation::verify(&federation::sign(&dir, &[&fed_key]).unwrap(), &[fed_key.verifier()], 1, None).unwrap();
    let a_identity = seal::keys::SecretIdentity::parse(&pa.identity.secret_file()).unwrap();
    let b_port = pb.port;
    let (a, b) = (start(pa, &dir).await, start(pb, &dir).await);
    let m = to_b(&request_body("r1"));
    let proof = commit(&a, &m);
    let (s, t) = Inbox::of(b_port).post(seal_as(&a_identity, m), Some(&proof)).await;
    assert_eq!(s, 403, "{t}");
    assert!(t["detail"].as_str().unwrap().contains("expired"), "{t}");
    assert!(b.cases.get(&who(Role::CentralAuthority), "AA-central-authority:r1", today).await.is_err());
    assert_eq!(codes(&b), ["envelope-refused"]);
}

#[tokio::test]
async fn a_message_without_a_valid_inclusion_proof_is_refused() {
    use base64::Engine as _;
    let (a, b, a_identity, b_port) = two_nodes().await;
    let inbox = Inbox::of(b_port);
    let opened = |id: &'static str| {
        let b = &b;
        async move {
            b.cases
                .get(&who(Role::CentralAuthority), &format!("AA-central-authority:{id}"), node::clock::today())
                .await
                .is_ok()
        }
    };
    // No proof at all.
    let m = to_b(&request_body("p1"));
    let (s, t) = inbox.post(seal_as(&a_identity, m), None).await;
    assert_eq!((s, t["type"].as_str().unwrap().ends_with("no-proof")), (400, true), "{t}");
    // The proof of another message.
    let (m1, m2) = (to_b(&request_body("p2")), to_b(&request_body("p3")));
    let proof = commit(&a, &m1);
    let (s, t) = inbox.post(seal_as(&a_identity, m2), Some(&proof)).await;
    assert_eq!(s, 403, "{t}");
    assert!(t["detail"].as_str().unwrap().contains("does not verify"), "{t}");
    // A checkpoint signed by a key that is not A's log key.
    let m = to_b(&request_body("p4"));
    let (salt, genuine) = commit(&a, &m);
    let text = base64::engine::general_purpose::STANDARD.decode(&genuine).unwrap();
    let parsed = tlog::client::TlogProof::parse(&text).unwrap();
    let cp =
        tlog::checkpoint::Checkpoint::from_text(&tlog::note::Note::parse(&parsed.checkpoint).unwrap().text).unwrap();
    let impostor = tlog::note::SignerKey::generate(&cp.origin, tlog::note::KeyKind::Ed25519).unwrap();
    let forged = tlog::client::TlogProof { checkpoint: cp.sign(&impostor).unwrap().to_bytes(), ..parsed };
    let forged = (salt.clone(), base64::engine::general_purpose::STANDARD.encode(forged.to_text()));
    let (s, t) = inbox.post(seal_as(&a_identity, m.clone()), Some(&forged)).await;
    assert_eq!(s, 403, "{t}");
    assert!(!opened("p4").await);
    // A checkpoint signed by A's own log key but naming another log (origin).
    let key = tlog::note::SignerKey::parse(
        std::fs::read_to_string(a.dir.path().join("data/log").join(tlog::client::KEY_FILE)).unwrap().trim(),
    )
    .unwrap();
    let elsewhere = tlog::checkpoint::Checkpoint { origin: "elsewhere.example/log".into(), ..cp.clone() };
    let parsed = tlog::client::TlogProof::parse(&text).unwrap();
    let renamed = tlog::client::TlogProof { checkpoint: elsewhere.sign(&key).unwrap().to_bytes(), ..parsed };
    let renamed = (salt.clone(), base64::engine::general_purpose::STANDARD.encode(renamed.to_text()));
    let (s, t) = inbox.post(seal_as(&a_identity, m.clone()), Some(&renamed)).await;
    assert_eq!(s, 403, "{t}");
    assert!(t["detail"].as_str().unwrap().contains(r#"checkpoint origin is "elsewhere.example/log""#), "{t}");
    assert!(!opened("p4").await);
    // The genuine proof goes through.
    let (s, t) = inbox.post(seal_as(&a_identity, m), Some(&(salt, genuine))).await;
    assert_eq!(s, 200, "{t}");
    b.peers.settled().await;
    assert!(opened("p4").await);
    // A forked log: A signs another tree of a size B already holds a root for.
    let held = a.log.size();
    let m = to_b(&request_body("p5"));
    let salt = [9u8; 32];
    let entry = node::peers::message_entry("AA-central-authority", &m, &salt);
    let mut fork = tlog::merkle::MemoryTree::new();
    for e in &a.log.entries().unwrap()[..held as usize - 1] {
        fork.push_entry(e);
    }
    fork.push_entry(&entry);
    let forked_cp = tlog::checkpoint::Checkpoint::new("AA-central-authority.custodia", held, fork.root());
    let proof = tlog::client::TlogProof {
        extra: None,
        index: held - 1,
        proof: tlog::merkle::inclusion_proof(&fork, held - 1, held).unwrap(),
        checkpoint: forked_cp.sign(&key).unwrap().to_bytes(),
    };
    let proof = (hex(&salt), base64::engine::general_purpose::STANDARD.encode(proof.to_text()));
    let (s, t) = inbox.post(seal_as(&a_identity, m), Some(&proof)).await;
    assert_eq!(s, 403, "{t}");
    assert!(t["detail"].as_str().unwrap().contains("forked log"), "{t}");
    assert!(!opened("p5").await);
    assert_eq!(codes(&b), ["no-proof", "bad-proof", "bad-proof", "bad-proof", "forked-log"]);
    let fork_record = &b.peers.refusals()[4];
    assert!(fork_record["reason"].as_str().unwrap().contains(&format!("for size {held}")), "{fork_record}");
}

/// A stand-in for B that answers every delivery with `answer`.
async fn fake_receiver(port: u16, answer: Arc<std::sync::Mutex<Value>>) {
    let app = axum::Router::new().route(
        "/api/v1/inbox/batch",
        axum::routing::post(move || {
            let answer = answer.clone();
            async move { axum::Json(answer.lock().unwrap().clone()) }
        }),
    );
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port)).await.unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
}

#[tokio::test]
async fn a_forged_or_absent_acknowledgement_leaves_the_message_pending() {
    use base64::Engine as _;
    let fed_key = tlog::note::SignerKey::generate("directory.test", tlog::note::KeyKind::Ed25519).unwrap();
    let (pa, pb) = (
        plan("AA-central-authority", PartyRole::CentralAuthority, "AA"),
        plan("BB-central-authority", PartyRole::CentralAuthority, "BB"),
    );
    let dir = directory(&[&pa, &pb], &fed_key);
    let (b_port, b_identity) = (pb.port, seal::keys::SecretIdentity::parse(&pb.identity.secret_file()).unwrap());
    let a = start(pa, &dir).await;
    let answer = Arc::new(std::sync::Mutex::new(serde_json::json!({ "results": [{ "status": 200 }] })));
    fake_receiver(b_port, answer.clone()).await;
    a.peers.enqueue("BB-central-authority", node::peers::REQUEST, &serde_json::json!({ "case": "q" })).unwrap();
    let deliver = || a.peers.deliver(now().0 as u64);
    // Absent.
    assert_eq!(deliver().await, 0);
    assert_eq!(a.peers.pending(), 1);
    // Signed by a key the directory does not list, under B's name.
    let now_s = now().0 as u64;
    let mallory = seal::keys::SecretIdentity::generate(
        "BB-central-authority",
        seal::keys::Validity::new(now_s - 60, now_s + 3600).unwrap(),
        now_s - 60,
    )
    .unwrap();
    let queued = std::fs::read_dir(a.dir.path().join("data/outbox/BB-central-authority"))
        .unwrap()
        .flatten()
        .find(|e| e.path().extension().is_some_and(|x| x == "msg"))
        .unwrap();
    let q: Value = serde_json::from_slice(&std::fs::read(queued.path()).unwrap()).unwrap();
    let id: [u8; 16] = (0..16)
        .map(|i| u8::from_str_radix(&q["id"].as_str().unwrap()[2 * i..2 * i + 2], 16).unwrap())
        .collect::<Vec<_>>()
        .try_into()
        .unwrap();
    let ack = |signer: &seal::keys::SecretIdentity, message: &[u8; 16], kind: &str| {
        let body = serde_json::to_vec(&node::peers::AckBody { message: hex(message), receipt_index: 3 }).unwrap();
        let m = seal::envelope::Message::new("AA-central-authority", kind, now().0 as u64, body).unwrap();
        base64::engine::general_purpose::STANDARD.encode(seal_as(signer, m))
    };
    let results = |ack: String| serde_json::json!({ "results": [{ "status": 200, "ack": ack }] });
    *answer.lock().unwrap() = results(ack(&mallory, &id, node::peers::ACK));
    assert_eq!(deliver().await, 0);
    // Signed by B, but for another message, or not an acknowledgement.
    *answer.lock().unwrap() = results(ack(&b_identity, &[0; 16], node::peers::ACK));
    assert_eq!(deliver().await, 0);
    *answer.lock().unwrap() = results(ack(&b_identity, &id, node::peers::COMMAND));
    assert_eq!(deliver().await, 0);
    assert_eq!(a.peers.pending(), 1);
    assert!(a.peers.acknowledgements("BB-central-authority").is_empty());
    // B's genuine acknowledgement: recorded, and only then the message leaves the outbox.
    *answer.lock().unwrap() = results(ack(&b_identity, &id, node::peers::ACK));
    assert_eq!(deliver().await, 1);
    assert_eq!(a.peers.pending(), 0);
    let acks = a.peers.acknowledgements("BB-central-authority");
    assert_eq!((acks.len(), acks[0].receipt_index, acks[0].message.as_str()), (1, 3, hex(&id).as_str()));
}

/// A small deterministic generator (splitmix64), so that a failure reproduces from its seed.
#[derive(Debug, Clone)]
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// Reads one HTTP/1.1 message (headers and a `content-length` body) from `s`; `None` at
/// the end of the stream.
async fn read_http(s: &mut tokio::net::TcpStream) -> Option<Vec<u8>> {
    use tokio::io::AsyncReadExt as _;
    let mut buf = Vec::new();
    let mut byte = [0u8; 1];
    while !buf.ends_with(b"\r\n\r\n") {
        if s.read(&mut byte).await.ok()? == 0 {
            return None;
        }
        buf.push(byte[0]);
    }
    let head = String::from_utf8_lossy(&buf).to_ascii_lowercase();
    let len = head
        .lines()
        .find_map(|l| l.strip_prefix("content-length:"))
        .and_then(|v| v.trim().parse::<usize>().ok())
        .unwrap_or(0);
    let mut body = vec![0u8; len];
    s.read_exact(&mut body).await.ok()?;
    buf.extend(body);
    Some(buf)
}

/// Sends one request to `upstream` on a new connection and reads the answer.
async fn forward(upstream: u16, request: &[u8]) -> Option<Vec<u8>> {
    use tokio::io::AsyncWriteExt as _;
    let mut up = tokio::net::TcpStream::connect(("127.0.0.1", upstream)).await.ok()?;
    up.write_all(request).await.ok()?;
    read_http(&mut up).await
}

/// What the proxy did, for the test's report.
#[derive(Debug, Default)]
struct Faults {
    dropped: usize,
    answer_lost: usize,
    delayed: usize,
    duplicated: usize,
    replayed_late: usize,
    passed: usize,
}

/// A proxy on `listen` in front of `upstream` that, per request, at random (seeded):
/// closes the connection without forwarding, forwards but loses the answer, answers
/// late, forwards twice, or keeps a copy that it sends again later, after newer requests.
async fn chaos_proxy(listen: u16, upstream: u16, seed: u64, faults: Arc<std::sync::Mutex<Faults>>) {
    use tokio::io::AsyncWriteExt as _;
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", listen)).await.unwrap();
    let rng = Arc::new(std::sync::Mutex::new(Rng(seed)));
    let stash: Arc<std::sync::Mutex<Vec<Vec<u8>>>> = Arc::default();
    tokio::spawn(async move {
        loop {
            let Ok((mut client, _)) = listener.accept().await else { continue };
            let (rng, stash, faults) = (rng.clone(), stash.clone(), faults.clone());
            tokio::spawn(async move {
                while let Some(request) = read_http(&mut client).await {
                    let (roll, delay) = {
                        let mut r = rng.lock().unwrap();
                        (r.below(100), r.below(400))
                    };
                    // An old copy kept earlier arrives now, out of order.
                    let late = {
                        let mut st = stash.lock().unwrap();
                        if !st.is_empty() && roll % 3 == 0 { Some(st.remove(0)) } else { None }
                    };
                    if let Some(old) = late {
                        faults.lock().unwrap().replayed_late += 1;
                        let _ = forward(upstream, &old).await;
                    }
                    match roll {
                        0..12 => {
                            faults.lock().unwrap().dropped += 1;
                            return; // closed without forwarding
                        }
                        12..24 => {
                            faults.lock().unwrap().answer_lost += 1;
                            let _ = forward(upstream, &request).await;
                            return; // processed, but the answer never comes back
                        }
                        24..36 => {
                            faults.lock().unwrap().delayed += 1;
                            tokio::time::sleep(std::time::Duration::from_millis(delay)).await;
                        }
                        36..48 => {
                            faults.lock().unwrap().duplicated += 1;
                            let twice = request.clone();
                            tokio::spawn(async move { forward(upstream, &twice).await });
                        }
                        48..58 => stash.lock().unwrap().push(request.clone()),
                        _ => faults.lock().unwrap().passed += 1,
                    }
                    let Some(answer) = forward(upstream, &request).await else { return };
                    if client.write_all(&answer).await.is_err() {
                        return;
                    }
                }
            });
        }
    });
}

#[tokio::test]
async fn through_a_faulty_network_every_message_arrives_once_in_order_and_the_logs_agree() {
    let seed = std::env::var("CUSTODIA_FAULT_SEED").ok().and_then(|s| s.parse().ok()).unwrap_or(0x5eed_0008);
    eprintln!("fault seed {seed} (set CUSTODIA_FAULT_SEED to replay another)");
    let fed_key = tlog::note::SignerKey::generate("directory.test", tlog::note::KeyKind::Ed25519).unwrap();
    let (pa, pb) = (
        plan("AA-central-authority", PartyRole::CentralAuthority, "AA"),
        plan("BB-central-authority", PartyRole::CentralAuthority, "BB"),
    );
    // B's endpoint in the directory is the proxy; B itself listens elsewhere.
    let dir = directory(&[&pa, &pb], &fed_key);
    let (proxy_port, real_port) =
        (pb.port, std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port());
    let (a, b) = (start(pa, &dir).await, start_at(pb, &dir, real_port).await);
    let faults = Arc::new(std::sync::Mutex::new(Faults::default()));
    chaos_proxy(proxy_port, real_port, seed, faults.clone()).await;
    // Small batches, so that many requests cross the proxy.
    a.peers.set_batch_limit(2);
    const N: usize = 60;
    for i in 0..N {
        let body = node::peers::RequestBody {
            case: format!("m{i:03}"),
            side: Side::Requested,
            case_file: file("stored-data-confidential"),
            emergency: false,
        };
        a.peers.enqueue("BB-central-authority", node::peers::REQUEST, &body).unwrap();
    }
    let mut rounds = 0;
    while a.peers.pending() > 0 {
        rounds += 1;
        assert!(rounds < 500, "still {} pending after {rounds} rounds", a.peers.pending());
        a.peers.deliver(now().0 as u64).await;
    }
    // Late copies still in flight land now; they must change nothing.
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    b.peers.settled().await;
    {
        let f = faults.lock().unwrap();
        eprintln!("{rounds} rounds; proxy: {f:?}");
        assert!(
            f.dropped > 0 && f.answer_lost > 0 && f.delayed > 0 && f.duplicated > 0 && f.replayed_late > 0,
            "{f:?}"
        );
    }
    // Once each, in order: B opened exactly the N cases, in the order A queued them.
    let (cases, next) =
        b.cases.list(&who(Role::CentralAuthority), None, None, 1000, node::clock::today()).await.unwrap();
    assert!(next.is_none());
    let ids: Vec<String> = cases.iter().map(|c| c.case["id"].as_str().unwrap().to_string()).collect();
    let expected: Vec<String> = (0..N).map(|i| format!("AA-central-authority:m{i:03}")).collect();
    assert_eq!(ids, expected);
    // One receipt per message in B's log, acknowledged in order, each bound to A's commitment.
    let receipts = b.log.entries().unwrap().iter().filter(|e| e.starts_with(b"custodia/receipt/v1\n")).count();
    assert_eq!(receipts, N);
    assert_eq!(check_acks(&a, &b), N);
    let acks = a.peers.acknowledgements("BB-central-authority");
    assert!(acks.windows(2).all(|w| w[0].receipt_index < w[1].receipt_index), "acknowledged in order");
    // Both logs verify, tile by tile, under their signed checkpoints.
    for n in [&a, &b] {
        let store = tlog::storage::DirStorage::new(n.log.dir()).unwrap();
        let key = tlog::note::VerifierKey::parse(&n.log.verifier_key).unwrap();
        let policy = tlog::checkpoint::TrustPolicy { origin: None, log_key: Some(key), witnesses: vec![], quorum: 0 };
        let v = tlog::client::verify_log(&store, &policy, None).unwrap();
        assert_eq!(v.checkpoint.size, n.log.size());
    }
}

/// A node's services on its directory, not served (a sender whose crash and restart a test
/// plays): dropping it stops the node.
struct Unserved {
    cases: Arc<Cases>,
    peers: Arc<Peers>,
}

async fn open_unserved(name: &str, base: &std::path::Path, dir: &federation::Accepted) -> Unserved {
    open_trusting(name, base, dir, None).await
}

/// [`open_unserved`], trusting `roots` (PEM) for the other nodes' HTTPS.
async fn open_trusting(
    name: &str,
    base: &std::path::Path,
    dir: &federation::Accepted,
    roots: Option<&str>,
) -> Unserved {
    let store = store::SqliteStore::open(base.join("cases.db"), store::SqliteOptions::default()).await.unwrap();
    let log = Arc::new(
        node::transparency::Transparency::open_or_create(&base.join("data/log"), &format!("{name}.custodia")).unwrap(),
    );
    let identity = node::peers::identity(&base.join("data"), name, now().0 as u64).unwrap();
    let mut peers = Peers::new(name, identity, dir.clone(), &base.join("data")).unwrap();
    if let Some(roots) = roots {
        peers = peers.trusting(roots.as_bytes(), "roots.pem").unwrap();
    }
    let peers = Arc::new(peers);
    let cases = Arc::new(Cases::new(Arc::new(store), log, name, [1; 32]).with_peers(peers.clone()));
    Unserved { cases, peers }
}

#[tokio::test]
async fn a_message_whose_change_was_stored_before_a_crash_is_sent_once_after_restart() {
    use node::cases::CrashPoint;
    let fed_key = tlog::note::SignerKey::generate("directory.test", tlog::note::KeyKind::Ed25519).unwrap();
    let (pa, pb) = (
        plan("AA-central-authority", PartyRole::CentralAuthority, "AA"),
        plan("BB-central-authority", PartyRole::CentralAuthority, "BB"),
    );
    let dir = directory(&[&pa, &pb], &fed_key);
    let (name, a_dir) = (pa.name, pa.dir);
    let base = a_dir.path().to_path_buf();
    let b = start(pb, &dir).await;
    let a = open_unserved(name, &base, &dir).await;
    for id in ["x1", "x2"] {
        a.cases
            .create(
                &who(Role::CaseWorker),
                Some(id.into()),
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
        ] {
            a.cases.command(&who(role), id, &cmd, None, now()).await.unwrap();
        }
    }
    let state_at_a = |a: &Unserved, id: &'static str| {
        let cases = a.cases.clone();
        async move {
            cases.get(&who(Role::CaseWorker), id, node::clock::today()).await.unwrap().case["state"]
                .as_str()
                .unwrap()
                .to_string()
        }
    };

    // x1: the node stops right after `send` is stored: the case is sent, nothing is queued.
    a.cases.crash_at(Some(CrashPoint::AfterStore));
    let p = a.cases.command(&who(Role::CaseWorker), "x1", &Command::Send, None, now()).await.unwrap_err();
    assert_eq!(p.status, 500);
    // x2: the node stops before `send` is stored: nothing changed.
    a.cases.crash_at(Some(CrashPoint::BeforeStore));
    let p = a.cases.command(&who(Role::CaseWorker), "x2", &Command::Send, None, now()).await.unwrap_err();
    assert_eq!(p.status, 500);
    assert_eq!(state_at_a(&a, "x1").await, "sent");
    assert_eq!(state_at_a(&a, "x2").await, "authorized");
    assert_eq!(a.peers.pending(), 0);
    assert_eq!(a.peers.deliver(now().0 as u64).await, 0, "a held message is not sent");
    drop(a);

    // The restart: the stored change's message is queued, the other's dropped.
    let a = open_unserved(name, &base, &dir).await;
    let r = a.cases.recover().await.unwrap();
    assert_eq!((r.released, r.discarded), (1, 1), "{r:?}");
    assert_eq!(r.logged, 1, "the `sent` event, stored but not logged");
    assert_eq!(a.peers.pending(), 1);
    assert_eq!(a.peers.deliver(now().0 as u64).await, 1);
    b.peers.settled().await;
    assert_eq!(state(&b, Role::CentralAuthority, "AA-central-authority:x1").await, "received");
    assert!(b.cases.get(&who(Role::CentralAuthority), "AA-central-authority:x2", node::clock::today()).await.is_err());

    // Once: another restart queues nothing more, and x2 can be sent now.
    drop(a);
    let a = open_unserved(name, &base, &dir).await;
    assert_eq!(a.cases.recover().await.unwrap(), node::cases::Recovered::default());
    assert_eq!(a.peers.pending(), 0);
    a.cases.command(&who(Role::CaseWorker), "x2", &Command::Send, None, now()).await.unwrap();
    assert_eq!(a.peers.deliver(now().0 as u64).await, 1);
    b.peers.settled().await;
    assert_eq!(state(&b, Role::CentralAuthority, "AA-central-authority:x2").await, "received");
    assert_eq!(a.peers.acknowledgements("BB-central-authority").len(), 2, "one message per send");
    assert!(codes(&b).is_empty(), "nothing taken twice or refused: {:?}", b.peers.refusals());
}

#[tokio::test]
async fn delivery_over_https_trusts_only_the_configured_certificates() {
    let fed_key = tlog::note::SignerKey::generate("directory.test", tlog::note::KeyKind::Ed25519).unwrap();
    let (pa, mut pb) = (
        plan("AA-central-authority", PartyRole::CentralAuthority, "AA"),
        plan("BB-central-authority", PartyRole::CentralAuthority, "BB"),
    );
    pb.scheme = "https";
    let dir = directory(&[&pa, &pb], &fed_key);
    let (b_cert, b_key) = node::tls::self_signed(&["127.0.0.1".into()], 1).unwrap();
    std::fs::write(pb.dir.path().join("tls.crt"), &b_cert).unwrap();
    std::fs::write(pb.dir.path().join("tls.key"), &b_key).unwrap();
    let tls = node::tls::server_config(&pb.dir.path().join("tls.crt"), &pb.dir.path().join("tls.key")).unwrap();
    let b_port = pb.port;
    let b = start_with(pb, &dir, b_port, Some(tls)).await;
    let (name, a_dir) = (pa.name, pa.dir);
    let base = a_dir.path().to_path_buf();

    // A trusts the platform's roots only: B's certificate is refused, the message stays.
    let a = open_unserved(name, &base, &dir).await;
    send_request(&a.cases, "x1").await;
    assert_eq!(a.peers.deliver(now().0 as u64).await, 0);
    assert_eq!(a.peers.pending(), 1);
    drop(a);

    // A trusts another certificate than B's: refused again.
    let (other, _) = node::tls::self_signed(&["127.0.0.1".into()], 1).unwrap();
    let a = open_trusting(name, &base, &dir, Some(&other)).await;
    assert_eq!(a.peers.deliver(now().0 as u64).await, 0);
    assert_eq!(a.peers.pending(), 1);
    assert_eq!(b.peers.to_apply(), 0);
    assert!(b.cases.get(&who(Role::CentralAuthority), "AA-central-authority:x1", node::clock::today()).await.is_err());
    drop(a);

    // A trusts B's certificate: the message goes over HTTPS, acknowledged.
    let a = open_trusting(name, &base, &dir, Some(&b_cert)).await;
    assert_eq!(a.peers.deliver(now().0 as u64).await, 1);
    assert_eq!(a.peers.pending(), 0);
    b.peers.settled().await;
    assert_eq!(state(&b, Role::CentralAuthority, "AA-central-authority:x1").await, "received");
    assert_eq!(a.peers.acknowledgements("BB-central-authority").len(), 1);

    // A bad roots file is an error that names it, not a panic.
    let not_pem = Peers::new(
        name,
        node::peers::identity(&base.join("data"), name, now().0 as u64).unwrap(),
        dir.clone(),
        &base.join("data"),
    )
    .unwrap()
    .trusting(b"not a certificate", "roots.pem")
    .unwrap_err();
    assert!(not_pem.to_string().contains("roots.pem"), "{not_pem}");
}

#[tokio::test]
async fn the_sender_learns_when_a_delivered_message_is_not_acted_on() {
    let (a, b, _, _) = two_nodes().await;
    send_request(&a.cases, "x1").await;
    deliver_all(&[&a, &b]).await;
    let theirs = "AA-central-authority:x1";
    assert_eq!(state(&b, Role::CentralAuthority, theirs).await, "received");

    // A message of case x1 that B takes in and acknowledges (a command on a case A is party
    // to), but that B's case refuses when acted on: `peer` may not decide.
    let body = node::peers::CommandBody {
        case: theirs.into(),
        command: Command::Decide { action: Action::Admit, reasons: vec![], until: None },
    };
    let hold = node::peers::Hold { case: "x1".into(), seq: 99, salt_sha256: "00".repeat(32) };
    let held = a.peers.hold("BB-central-authority", node::peers::COMMAND, [9; 16], &body, &hold).unwrap();
    a.peers.release(&[held]).unwrap();
    deliver_all(&[&a, &b]).await;
    let ack = a.peers.acknowledgements("BB-central-authority").pop().unwrap();
    assert_eq!(ack.message, hex(&[9; 16]), "B acknowledged it");
    assert_eq!(state(&b, Role::CentralAuthority, theirs).await, "received", "and did not act on it");
    assert_eq!(codes(&b), vec!["not-acted"]);

    // B told A, signed, through its outbox; A wrote it down with its case and commitment.
    assert_eq!(b.peers.pending(), 0);
    let refused = a.peers.refused_after_delivery();
    assert_eq!(refused.len(), 1, "{refused:?}");
    let r = &refused[0];
    assert_eq!(r["from"], "BB-central-authority");
    assert_eq!(r["message"], hex(&[9; 16]));
    assert_eq!(r["message_type"], node::peers::COMMAND);
    assert_eq!(r["case"], "x1");
    assert_eq!(r["message_index"], ack.message_index);
    assert_eq!(r["code"], "not-acted");
    assert!(r["reason"].as_str().unwrap().contains("decide"), "the reason cites what failed: {r}");
    let file = a.dir.path().join(format!("data/outbox/BB-central-authority/refused/{}.refusal", hex(&[9; 16])));
    assert!(file.exists());
    // The refusal is B's signed envelope, addressed to A.
    use base64::Engine as _;
    let env = base64::engine::general_purpose::STANDARD.decode(r["refusal"].as_str().unwrap()).unwrap();
    let env = a.peers.verify(&env, now().0 as u64).unwrap();
    assert_eq!(
        (env.sender.as_str(), env.message.message_type.as_str()),
        ("BB-central-authority", node::peers::REFUSAL)
    );
    // No refusal answers a refusal, and nothing is refused at A.
    assert_eq!(a.peers.pending(), 0);
    assert!(codes(&a).is_empty());
    assert!(b.peers.refused_after_delivery().is_empty());
}

#[test]
fn a_missing_tls_roots_file_is_refused_naming_the_key() {
    let dir = tempfile::tempdir().unwrap();
    let key = tlog::note::SignerKey::generate("directory.test", tlog::note::KeyKind::Ed25519).unwrap();
    let mut config = Config::example("AA-central-authority", PartyRole::CentralAuthority, "AA", "127.0.0.1:0");
    config.federation = Some(node::config::FederationSection {
        directory: "directory.note".into(),
        keys: vec![key.verifier().to_string()],
        threshold: 1,
        tls_roots: Some("peers.pem".into()),
    });
    let e = config.clone().validate(dir.path().to_path_buf()).unwrap_err();
    assert_eq!(e.to_string(), "federation.tls_roots: \"peers.pem\": no such file");
    std::fs::write(dir.path().join("peers.pem"), "").unwrap();
    assert!(config.clone().validate(dir.path().to_path_buf()).is_ok());
    assert!(config.to_toml().contains("tls_roots = \"peers.pem\""));
}

#[tokio::test]
async fn the_inbox_journal_is_compacted_and_still_knows_every_message() {
    let fed_key = tlog::note::SignerKey::generate("directory.test", tlog::note::KeyKind::Ed25519).unwrap();
    let (pa, pb) = (
        plan("AA-central-authority", PartyRole::CentralAuthority, "AA"),
        plan("BB-central-authority", PartyRole::CentralAuthority, "BB"),
    );
    let dir = directory(&[&pa, &pb], &fed_key);
    let a_identity = seal::keys::SecretIdentity::parse(&pa.identity.secret_file()).unwrap();
    let b_port = pb.port;
    let (a, b) = (start(pa, &dir).await, start(pb, &dir).await);
    b.peers.set_journal_compaction(32 << 10);
    let journal = b.dir.path().join("data/inbox-journal");
    // One message posted by hand, to replay it later.
    let m = to_b(&request_body("r0"));
    let id = m.id;
    let proof = commit(&a, &m);
    let good = seal_as(&a_identity, m);
    let inbox = Inbox::of(b_port);
    let (s, t) = inbox.post(good.clone(), Some(&proof)).await;
    assert_eq!((s, t["status"].as_str()), (200, Some("accepted")), "{t}");
    let receipt = t["receipt_index"].as_u64().unwrap();
    b.peers.settled().await;

    // Two waves of messages through A's outbox; after each, the journal holds a short line
    // per message acted on, not its envelope.
    const WAVE: usize = 100;
    for wave in 0..2 {
        for i in 0..WAVE {
            let body = node::peers::RequestBody {
                case: format!("w{wave}-{i:03}"),
                side: Side::Requested,
                case_file: file("stored-data-confidential"),
                emergency: false,
            };
            a.peers.enqueue("BB-central-authority", node::peers::REQUEST, &body).unwrap();
        }
        deliver_all(&[&a, &b]).await;
        let received = 1 + (wave + 1) * WAVE;
        let text = std::fs::read_to_string(&journal).unwrap();
        let seen = text.matches("\"op\":\"seen\"").count();
        assert!(seen > 0, "compacted");
        let per_message = text.len() / received;
        eprintln!("wave {wave}: {received} messages, {seen} seen lines, journal {} bytes", text.len());
        assert!(
            per_message < good.len() / 4,
            "{per_message} bytes a message in the journal, for envelopes of {} bytes",
            good.len()
        );
    }
    assert_eq!(b.peers.to_apply(), 0);

    // The replay, after compaction: acknowledged again with the same receipt, not taken again.
    let (s, t) = inbox.post(good.clone(), Some(&proof)).await;
    assert_eq!((s, t["status"].as_str(), t["receipt_index"].as_u64()), (200, Some("duplicate"), Some(receipt)), "{t}");
    b.peers.settled().await;
    assert!(!codes(&b).contains(&"not-acted".to_string()), "nothing acted on twice: {:?}", b.peers.refusals());
    // And after a restart, from the compacted journal alone.
    let data = b.dir.path().join("data");
    let again = Peers::new(
        "BB-central-authority",
        node::peers::identity(&data, "BB-central-authority", now().0 as u64).unwrap(),
        dir.clone(),
        &data,
    )
    .unwrap();
    assert_eq!(again.received("AA-central-authority", &id), Some(Some(receipt)));
    assert_eq!(again.to_apply(), 0);
}

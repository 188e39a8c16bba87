//! Two real `custodia serve` processes over HTTPS (each with a self-signed certificate,
//! both trusted through `[federation] tls_roots`), the sender's outbox full: the sender (in one run)
//! or the receiver (in another) is killed with SIGKILL in the middle of the delivery (and
//! of the receiver acting on what it received) and started again. Every message arrives exactly once, in order: the receiver opened each
//! case once, in the order queued, logged one receipt each, and the sender holds one
//! acknowledgement per message that names it.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const SENDER: &str = "AA-central-authority";
const RECEIVER: &str = "BB-central-authority";
const N: usize = 80;

struct Federation {
    _root: tempfile::TempDir,
    dirs: [PathBuf; 2],
    /// Each node's endpoint and its witness's cosigner key (when witnessed).
    endpoints: [String; 2],
    cosigners: Vec<tlog::note::VerifierKey>,
    roots: String,
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

fn now() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs()
}

/// Two nodes in a signed directory, each with its configuration, identity and log, and
/// the sender's outbox holding `N` requests to the receiver; `witnessed`: each node is the
/// other's witness, with its cosigner key in the directory, and the outbox empty.
fn federation(witnessed: bool) -> Federation {
    let root = tempfile::tempdir().unwrap();
    let fed_key = tlog::note::SignerKey::generate("directory.test", tlog::note::KeyKind::Ed25519).unwrap();
    let plan = [(SENDER, node::PartyRole::CentralAuthority, "AA"), (RECEIVER, node::PartyRole::CentralAuthority, "BB")];
    let today = node::clock::today();
    let mut parties = Vec::new();
    let mut identities = Vec::new();
    let mut dirs = Vec::new();
    let mut roots = String::new();
    let (mut endpoints, mut cosigners) = (Vec::new(), Vec::new());
    for (i, (name, role, state)) in plan.into_iter().enumerate() {
        let dir = root.path().join(name);
        let data = dir.join("data");
        let identity = node::peers::identity(&data, name, now()).unwrap();
        let log =
            node::transparency::Transparency::open_or_create(&data.join("log"), &format!("{name}.custodia")).unwrap();
        let log_key = tlog::note::VerifierKey::parse(&log.verifier_key).unwrap();
        drop(log);
        let port = free_port();
        let mut config = node::Config::example(name, role, state, &format!("127.0.0.1:{port}"));
        let (cert, key) = node::tls::self_signed(&["127.0.0.1".into()], 1).unwrap();
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("tls.crt"), &cert).unwrap();
        std::fs::write(dir.join("tls.key"), &key).unwrap();
        roots.push_str(&cert);
        config.http.tls_cert = Some("tls.crt".into());
        config.http.tls_key = Some("tls.key".into());
        config.federation = Some(node::config::FederationSection {
            directory: "../directory.note".into(),
            keys: vec![fed_key.verifier().to_string()],
            threshold: 1,
            tls_roots: Some("../tls-roots.pem".into()),
        });
        std::fs::write(dir.join("node.toml"), config.to_toml()).unwrap();
        std::fs::write(dir.join("profiles.json"), node::DEFAULT_PROFILES).unwrap();
        let cosigner = witnessed.then(|| node::witnessing::witness_key(&data, name).unwrap().verifier());
        cosigners.extend(cosigner.clone());
        endpoints.push(format!("https://127.0.0.1:{port}"));
        parties.push(federation::Party {
            name: name.into(),
            state: treaty::StateCode::parse(state).unwrap(),
            role,
            endpoint: format!("https://127.0.0.1:{port}"),
            keys: vec![federation::PartyKey {
                key: tlog::note::VerifierKey::parse(&identity.verifier().to_string()).unwrap(),
                from: today.add_days(-1),
                until: today.add_days(365),
            }],
            recipient: identity.public().recipient.clone(),
            log: Some((format!("{name}.custodia"), log_key)),
            cosigner,
            witnesses: if witnessed { vec![plan[1 - i].0.into()] } else { vec![] },
        });
        identities.push(identity);
        dirs.push(dir);
    }
    std::fs::write(root.path().join("tls-roots.pem"), &roots).unwrap();
    let directory = federation::Directory { federation: "test.custodia".into(), version: 1, previous: None, parties };
    let note = federation::sign(&directory, &[&fed_key]).unwrap();
    std::fs::write(root.path().join("directory.note"), &note).unwrap();
    let accepted = federation::verify(&note, &[fed_key.verifier()], 1, None).unwrap();
    let sender = node::peers::Peers::new(SENDER, identities.remove(0), accepted, &dirs[0].join("data")).unwrap();
    let case_file: serde_json::Value = serde_json::from_slice(
        &std::fs::read(format!("{}/../node/tests/data/stored-data-confidential.case.json", env!("CARGO_MANIFEST_DIR")))
            .unwrap(),
    )
    .unwrap();
    // Witnessed: nothing queued, so that the logs keep their size while the test watches
    // the rounds go by (a log growing every round would hide repeated cosignatures).
    for i in 0..if witnessed { 0 } else { N } {
        let body = node::peers::RequestBody {
            case: format!("m{i:03}"),
            side: case::Side::Requested,
            case_file: case_file.clone(),
            emergency: false,
        };
        sender.enqueue(RECEIVER, node::peers::REQUEST, &body).unwrap();
    }
    let dirs = [dirs.remove(0), dirs.remove(0)];
    let endpoints = [endpoints.remove(0), endpoints.remove(0)];
    Federation { _root: root, dirs, endpoints, cosigners, roots }
}

fn serve(dir: &Path) -> Child {
    Command::new(env!("CARGO_BIN_EXE_custodia"))
        .args(["serve", "--config"])
        .arg(dir.join("node.toml"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap()
}

/// Messages the receiver has acted on (its journal's `applied` lines).
fn received(receiver: &Path) -> usize {
    std::fs::read_to_string(receiver.join("data/inbox-journal"))
        .unwrap_or_default()
        .lines()
        .filter(|l| l.contains("\"op\":\"applied\""))
        .count()
}

/// Messages the receiver has taken in (written down, receipt not necessarily logged).
fn taken(receiver: &Path) -> usize {
    std::fs::read_to_string(receiver.join("data/inbox-journal"))
        .unwrap_or_default()
        .matches("\"op\":\"received\"")
        .count()
}

/// Whether the receiver is in the middle of acting on a message (begun, not yet done).
fn acting(receiver: &Path) -> bool {
    let journal = std::fs::read_to_string(receiver.join("data/inbox-journal")).unwrap_or_default();
    let begun = journal.matches("\"op\":\"begin\"").count();
    begun > journal.matches("\"op\":\"applied\"").count() + journal.matches("\"op\":\"abort\"").count()
}

fn pending(sender: &Path) -> usize {
    std::fs::read_dir(sender.join("data/outbox").join(RECEIVER))
        .map(|d| d.flatten().filter(|e| e.path().extension().is_some_and(|x| x == "msg")).count())
        .unwrap_or(0)
}

fn wait_until(what: &str, limit: Duration, mut done: impl FnMut() -> bool) {
    let start = Instant::now();
    while !done() {
        assert!(start.elapsed() < limit, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(1));
    }
}

/// Kills `which` (0: sender, 1: receiver) with SIGKILL and starts it again; then checks
/// that every message arrived exactly once, in order. The sender is killed once the
/// receiver took the messages in but before the sender wrote the acknowledgements down
/// (so it sends them all again); the receiver three times while it acts on them (a
/// quarter, a half, three quarters through, and a few milliseconds more, the last time in
/// the middle of acting on one).
fn killed_mid_delivery(which: usize) {
    let f = federation(false);
    let [sender, receiver] = &f.dirs;
    let mut nodes = [serve(sender), serve(receiver)];
    let mut at_kill = Vec::new();
    if which == 0 {
        wait_until("the receiver to take the messages in", Duration::from_secs(120), || taken(receiver) > 0);
        nodes[0].kill().unwrap(); // SIGKILL
        nodes[0].wait().unwrap();
        assert_eq!(pending(sender), N, "the sender was killed after it wrote the acknowledgements down");
        at_kill.push(taken(receiver));
        nodes[0] = serve(sender);
    } else {
        for (part, delay_ms) in [(N / 4, 7), (N / 2, 19), (3 * N / 4, 37)] {
            wait_until("messages to be acted on", Duration::from_secs(120), || received(receiver) >= part);
            std::thread::sleep(Duration::from_millis(delay_ms));
            if part == 3 * N / 4 {
                wait_until("the receiver to act on a message", Duration::from_secs(60), || acting(receiver));
            }
            nodes[1].kill().unwrap(); // SIGKILL
            nodes[1].wait().unwrap();
            at_kill.push(received(receiver));
            nodes[1] = serve(receiver);
        }
        assert!(at_kill[2] < N, "the last kill came after the receiver acted on everything: make N larger");
    }
    wait_until("the outbox to empty", Duration::from_secs(180), || pending(sender) == 0);
    wait_until("the receiver to act on every message", Duration::from_secs(180), || received(receiver) == N);
    for mut n in nodes {
        n.kill().unwrap();
        n.wait().unwrap();
    }
    let journal = std::fs::read_to_string(receiver.join("data/inbox-journal")).unwrap();
    eprintln!(
        "killed {} at {at_kill:?} messages; the receiver's journal: {} received, {} begun, {} applied",
        ["the sender", "the receiver"][which],
        journal.matches("\"op\":\"received\"").count(),
        journal.matches("\"op\":\"begin\"").count(),
        journal.matches("\"op\":\"applied\"").count()
    );
    check_exactly_once_in_order(sender, receiver);
}

fn check_exactly_once_in_order(sender: &Path, receiver: &Path) {
    // The receiver opened each case once, in the order queued.
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let ids: Vec<String> = runtime.block_on(async {
        let db =
            store::SqliteStore::open(receiver.join("data/custodia.db"), store::SqliteOptions::default()).await.unwrap();
        let filter = store::CaseFilter { node: Some(RECEIVER.into()), ..Default::default() };
        let page = store::Store::list_cases(&db, &filter, None, store::MAX_PAGE).await.unwrap();
        page.items.iter().map(|c| c.id.as_str().to_string()).collect()
    });
    let expected: Vec<String> = (0..N).map(|i| format!("{SENDER}:m{i:03}")).collect();
    assert_eq!(ids, expected);
    // Both logs verify; the receiver's holds one receipt per message, and each of the
    // sender's acknowledgements names the receipt of its message's commitment.
    let mut entries = Vec::new();
    for dir in [sender, receiver] {
        let log = dir.join("data/log");
        let fetch = tlog::storage::DirStorage::new(&log).unwrap();
        let key = std::fs::read_to_string(log.join(tlog::client::VKEY_FILE)).unwrap();
        let key = tlog::note::VerifierKey::parse(key.trim()).unwrap();
        let policy = tlog::checkpoint::TrustPolicy { origin: None, log_key: Some(key), witnesses: vec![], quorum: 0 };
        let v = tlog::client::verify_log(&fetch, &policy, None).unwrap();
        let mut all = Vec::new();
        for b in 0..v.checkpoint.size.div_ceil(tlog::tile::TILE_WIDTH) {
            let path = tlog::tile::bundle_for(b, v.checkpoint.size).unwrap();
            let data = tlog::tiles::fetch_tile(&fetch, &path).unwrap().unwrap();
            all.extend(tlog::tile::parse_bundle(Some(&path), &data).unwrap().into_iter().map(<[u8]>::to_vec));
        }
        entries.push(all);
    }
    let receipts = entries[1].iter().filter(|e| e.starts_with(b"custodia/receipt/v1\n")).count();
    assert_eq!(receipts, N, "one receipt per message");
    let text = std::fs::read_to_string(sender.join("data/outbox").join(RECEIVER).join("acks")).unwrap();
    let mut by_message = std::collections::BTreeMap::new();
    let mut order = Vec::new();
    for line in text.lines() {
        let a: node::peers::AckRecord = serde_json::from_str(line).unwrap();
        let id: Vec<u8> = (0..16).map(|i| u8::from_str_radix(&a.message[2 * i..2 * i + 2], 16).unwrap()).collect();
        let message = &entries[0][a.message_index as usize];
        assert_eq!(
            entries[1][a.receipt_index as usize],
            node::peers::receipt_entry(SENDER, &id.try_into().unwrap(), message)
        );
        // An acknowledgement recorded twice (the sender died before dropping the message)
        // names the same receipt.
        if let Some(before) = by_message.insert(a.message.clone(), a.receipt_index) {
            assert_eq!(before, a.receipt_index);
        } else {
            order.push(a.receipt_index);
        }
    }
    assert_eq!(by_message.len(), N, "one acknowledgement per message");
    assert!(order.windows(2).all(|w| w[0] < w[1]), "acknowledged in order");
}

#[test]
fn the_sender_killed_mid_delivery_catches_up_with_nothing_lost_or_doubled() {
    killed_mid_delivery(0);
}

#[test]
fn the_receiver_killed_mid_delivery_catches_up_with_nothing_lost_or_doubled() {
    killed_mid_delivery(1);
}

/// `custodia serve` witnesses: each node cosigns the other's log (C2SP tlog-witness over
/// HTTPS) and serves its own checkpoint with the other's cosignature, one line per witness
/// however many rounds pass.
#[test]
fn each_serving_node_cosigns_the_others_log() {
    let f = federation(true);
    let mut nodes = [serve(&f.dirs[0]), serve(&f.dirs[1])];
    let rt = tokio::runtime::Runtime::new().unwrap();
    let mut builder = reqwest::Client::builder();
    for pem in f.roots.split_inclusive("-----END CERTIFICATE-----\n") {
        builder = builder.add_root_certificate(reqwest::Certificate::from_pem(pem.as_bytes()).unwrap());
    }
    let client = builder.build().unwrap();
    let served = |i: usize| -> Option<tlog::note::Note> {
        rt.block_on(async {
            let r = client.get(format!("{}/log/checkpoint", f.endpoints[i])).send().await.ok()?;
            tlog::note::Note::parse(&r.bytes().await.ok()?).ok()
        })
    };
    let cosigned = |i: usize| served(i).filter(|n| n.verify(std::slice::from_ref(&f.cosigners[1 - i])).is_ok());
    let start = Instant::now();
    while (cosigned(0).is_none() || cosigned(1).is_none()) && start.elapsed() < Duration::from_secs(60) {
        std::thread::sleep(Duration::from_millis(500));
    }
    let first = [cosigned(0), cosigned(1)];
    // Two more rounds (one every ten seconds): still one line from the log, one from its witness.
    std::thread::sleep(Duration::from_secs(21));
    let later = [served(0), served(1)];
    for n in &mut nodes {
        n.kill().unwrap();
        n.wait().unwrap();
    }
    for i in 0..2 {
        assert!(first[i].is_some(), "node {i}'s checkpoint was not cosigned by the other within 60 s");
        let note = later[i].as_ref().expect("the checkpoint is still served");
        assert_eq!(note.signatures.len(), 2, "node {i}: {:?}", note.signatures);
        let first = first[i].as_ref().unwrap();
        assert_eq!(note.text, first.text, "node {i}: the log kept its size, so the rounds cosigned one checkpoint");
        let when = |n: &tlog::note::Note| n.verify(std::slice::from_ref(&f.cosigners[1 - i])).unwrap()[0].timestamp;
        assert!(when(note) > when(first), "node {i}: later rounds cosigned again, and replaced the line");
    }
}

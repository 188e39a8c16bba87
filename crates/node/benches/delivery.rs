//! Messages delivered, verified and logged between two nodes on loopback: node A queues
//! requests for node B; A's outbox commits each to A's log and sends it with its
//! inclusion proof; B verifies envelope and proof, opens the case (SQLite, its events
//! committed to B's log), logs the receipt and answers with a signed acknowledgement,
//! which A verifies and records before dropping the message. Both nodes run in this
//! process, each serving HTTP on a real loopback socket, with A's deliverer running as in
//! `custodia serve`.
//!
//! B acknowledges a message once it verified it, wrote it down and logged its receipt;
//! it acts on it (opens the case) afterwards, in order: the burst reports both.
//!
//! Two runs: a burst (all `--messages` queued at once: messages per second), then a
//! steady load (`--rate` messages per second for `--seconds`: latency from queueing to the
//! verified acknowledgement, p50 / p99 / max).
//!
//! ```text
//! cargo bench -p node --bench delivery -- [--messages 1000] [--rate 50] [--seconds 10]
//! ```
//! Not a test: nothing here asserts a speed.

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use node::cases::Cases;
use node::peers::Peers;
use node::{Config, PartyRole};

struct Args {
    messages: usize,
    rate: f64,
    seconds: f64,
}

fn args() -> Args {
    let mut a = Args { messages: 1000, rate: 50.0, seconds: 10.0 };
    let mut it = std::env::args().skip(1);
    while let Some(k) = it.next() {
        match k.as_str() {
            "--messages" => a.messages = it.next().and_then(|v| v.parse().ok()).expect("--messages N"),
            "--rate" => a.rate = it.next().and_then(|v| v.parse().ok()).expect("--rate PER_SECOND"),
            "--seconds" => a.seconds = it.next().and_then(|v| v.parse().ok()).expect("--seconds S"),
            "--bench" => {}
            other => panic!("unknown argument {other:?}: --messages N, --rate R, --seconds S"),
        }
    }
    a
}

struct Node {
    peers: Arc<Peers>,
    log: Arc<node::transparency::Transparency>,
}

struct Planned {
    name: &'static str,
    state: &'static str,
    dir: std::path::PathBuf,
    identity: seal::keys::SecretIdentity,
    log_key: tlog::note::VerifierKey,
    listener: tokio::net::TcpListener,
}

async fn plan(root: &Path, name: &'static str, state: &'static str) -> Planned {
    let dir = root.join(name);
    let identity = node::peers::identity(&dir.join("data"), name, node::clock::now().0 as u64).unwrap();
    let log =
        node::transparency::Transparency::open_or_create(&dir.join("data/log"), &format!("{name}.custodia")).unwrap();
    let log_key = tlog::note::VerifierKey::parse(&log.verifier_key).unwrap();
    drop(log);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    Planned { name, state, dir, identity, log_key, listener }
}

fn directory(nodes: &[&Planned]) -> federation::Accepted {
    let key = tlog::note::SignerKey::generate("directory.bench", tlog::note::KeyKind::Ed25519).unwrap();
    let today = node::clock::today();
    let parties = nodes
        .iter()
        .map(|n| federation::Party {
            name: n.name.into(),
            state: treaty::StateCode::parse(n.state).unwrap(),
            role: PartyRole::CentralAuthority,
            endpoint: format!("http://{}", n.listener.local_addr().unwrap()),
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
    let d = federation::Directory { federation: "bench.custodia".into(), version: 1, previous: None, parties };
    federation::verify(&federation::sign(&d, &[&key]).unwrap(), &[key.verifier()], 1, None).unwrap()
}

async fn start(p: Planned, dir: &federation::Accepted) -> Node {
    let addr = p.listener.local_addr().unwrap().to_string();
    let config = Config::example(p.name, PartyRole::CentralAuthority, p.state, &addr).validate(p.dir.clone()).unwrap();
    let store =
        store::SqliteStore::open(p.dir.join("data/custodia.db"), store::SqliteOptions::default()).await.unwrap();
    let log = Arc::new(
        node::transparency::Transparency::open_or_create(&p.dir.join("data/log"), &format!("{}.custodia", p.name))
            .unwrap(),
    );
    let peers = Arc::new(Peers::new(p.name, p.identity, dir.clone(), &p.dir.join("data")).unwrap());
    let cases = Arc::new(Cases::new(Arc::new(store), log.clone(), p.name, [1; 32]).with_peers(peers.clone()));
    let app = node::api::app_with(config, Some(log.clone()), Some(cases), None);
    tokio::spawn(async move { axum::serve(p.listener, app).await.unwrap() });
    Node { peers, log }
}

fn unix_ms() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_millis() as u64
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    sorted[((sorted.len() as f64 * p).ceil() as usize).clamp(1, sorted.len()) - 1]
}

#[tokio::main]
async fn main() {
    let args = args();
    let root = tempfile::tempdir().unwrap();
    let (pa, pb) =
        (plan(root.path(), "AA-central-authority", "AA").await, plan(root.path(), "BB-central-authority", "BB").await);
    let dir = directory(&[&pa, &pb]);
    let (a, b) = (start(pa, &dir).await, start(pb, &dir).await);
    let case_file: serde_json::Value = serde_json::from_slice(
        &std::fs::read(format!("{}/tests/data/stored-data-confidential.case.json", env!("CARGO_MANIFEST_DIR")))
            .unwrap(),
    )
    .unwrap();
    let to = "BB-central-authority";
    let request = |i: usize| node::peers::RequestBody {
        case: format!("m{i:06}"),
        side: case::Side::Requested,
        case_file: case_file.clone(),
        emergency: false,
    };
    // A burst: everything queued first, then delivered.
    for i in 0..args.messages {
        a.peers.enqueue(to, node::peers::REQUEST, &request(i)).unwrap();
    }
    let t = Instant::now();
    tokio::spawn(node::run_deliverer(a.peers.clone()));
    while a.peers.pending() > 0 {
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    let burst = t.elapsed();
    println!(
        "burst: {} messages queued, then delivered, verified, receipts logged and acknowledged in {:.2} s: {:.0} messages/s",
        args.messages,
        burst.as_secs_f64(),
        args.messages as f64 / burst.as_secs_f64()
    );
    b.peers.settled().await;
    let acted = t.elapsed();
    println!(
        "       B acted on all of them (opened the {} cases, in order) after {:.2} s: {:.0} cases/s",
        args.messages,
        acted.as_secs_f64(),
        args.messages as f64 / acted.as_secs_f64()
    );

    // A steady load, queued by concurrent producers (as commands at A would): latency from
    // queueing to the verified acknowledgement; B acts on them meanwhile.
    let before = a.peers.acknowledgements(to).len();
    let total = (args.rate * args.seconds) as usize;
    let times = Arc::new(std::sync::Mutex::new(HashMap::new()));
    let t = Instant::now();
    let mut producers = Vec::new();
    for i in 0..total {
        let due = Duration::from_secs_f64(i as f64 / args.rate);
        if let Some(wait) = due.checked_sub(t.elapsed()) {
            tokio::time::sleep(wait).await;
        }
        let (peers, times, body) = (a.peers.clone(), times.clone(), request(args.messages + i));
        producers.push(tokio::task::spawn_blocking(move || {
            let queued = unix_ms();
            let id = peers.queue(to, node::peers::REQUEST, &body).unwrap();
            times.lock().unwrap().insert(id, queued);
        }));
    }
    for p in producers {
        p.await.unwrap();
    }
    let offered = t.elapsed();
    while a.peers.pending() > 0 {
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    let elapsed = t.elapsed();
    let times = times.lock().unwrap();
    // From queueing to the verified acknowledgement, both on this machine's clock.
    let mut lat: Vec<f64> = a.peers.acknowledgements(to)[before..]
        .iter()
        .map(|ack| ack.verified_ms.saturating_sub(times[&ack.message]) as f64 / 1000.0)
        .collect();
    lat.sort_by(f64::total_cmp);
    println!(
        "steady: {total} messages offered at {} /s (queued in {:.1} s), all acknowledged after {:.1} s; queued -> acknowledged: p50 {:.3} s, p99 {:.3} s, max {:.3} s",
        args.rate,
        offered.as_secs_f64(),
        elapsed.as_secs_f64(),
        percentile(&lat, 0.50),
        percentile(&lat, 0.99),
        lat.last().copied().unwrap_or(0.0),
    );
    println!("       B still to act on {} of them", b.peers.to_apply());
    println!(
        "logs: A {} entries (commitments and case events), B {} entries (receipts, case events)",
        a.log.size(),
        b.log.size()
    );
}

//! `custodia demo`: five nodes on loopback (embedded default: SQLite, local files, free
//! ports) play a story that shows the safeguards, with real HTTP between the nodes. The
//! actors' commands are given to their node's cases service directly; every message
//! between nodes is a signed envelope delivered over HTTP.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use case::{Action, Command, Role, Side};
use federation::PartyRole;
use serde_json::Value;

use crate::auth::Caller;
use crate::cases::Cases;
use crate::peers::Peers;
use crate::{Config, clock};

/// How to run the demo.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// Keep the nodes' data in this directory (else a temporary one, removed at the end).
    pub keep: Option<PathBuf>,
    /// Print only the summary line.
    pub quiet: bool,
    /// Keep the nodes up after the story, with demo logins, until Ctrl-C.
    pub ui: bool,
}

/// The demo's case worker: the name it opens the requesting cases with, and its login in
/// `custodia demo --ui` (so that the cases are on that login's `/cases`).
pub const DEMO_CASE_WORKER: &str = "case-worker";

/// The password of every demo login (printed by `custodia demo --ui`).
pub const DEMO_PASSWORD: &str = "demo-password-not-for-production";

/// What the demo established.
#[derive(Debug, Default)]
pub struct Report {
    /// Each check and whether it held.
    pub checks: Vec<(String, bool)>,
    /// The story, as printed.
    pub story: String,
}

impl Report {
    /// Whether every check held.
    pub fn all_passed(&self) -> bool {
        self.checks.iter().all(|(_, ok)| *ok)
    }
}

struct Node {
    name: &'static str,
    cases: Arc<Cases>,
    peers: Arc<Peers>,
    witnessing: Arc<crate::witnessing::Witnessing>,
    dir: PathBuf,
    url: String,
    log_key: String,
}

struct Story {
    report: Report,
    quiet: bool,
}

impl Story {
    fn say(&mut self, line: impl AsRef<str>) {
        let _ = writeln!(self.report.story, "{}", line.as_ref());
        if !self.quiet {
            println!("{}", line.as_ref());
        }
    }
    fn check(&mut self, what: &str, ok: bool) {
        self.say(format!("    {} {what}", if ok { "ok:  " } else { "FAIL:" }));
        self.report.checks.push((what.to_string(), ok));
    }
}

fn who(role: Role, name: &str) -> Caller {
    Caller { name: name.into(), role, token_id: "demo".into() }
}

fn case_file(name: &str) -> Value {
    let text = match name {
        "preservation" => include_str!("../demo/preservation.case.json"),
        "content" => include_str!("../demo/content.case.json"),
        "criticism" => include_str!("../demo/criticism.case.json"),
        _ => include_str!("../demo/indefinite.case.json"),
    };
    let mut v: Value = serde_json::from_str(text).unwrap_or(Value::Null);
    v["as_of"] = Value::String(clock::today().to_string());
    v
}

async fn deliver(nodes: &[&Node]) -> usize {
    let mut total = 0;
    for _ in 0..20 {
        let mut moved = 0;
        for n in nodes {
            moved += n.peers.deliver(u64::try_from(clock::now().0).unwrap_or(0)).await;
        }
        // Each receiver acts on what it took in (and queues its answers) before the next round.
        for n in nodes {
            n.peers.settled().await;
        }
        total += moved;
        if moved == 0 {
            break;
        }
    }
    total
}

/// Shows how the last message from `from` to `to` travelled: its commitment in `from`'s
/// log with the inclusion proof that went with it, and `to`'s signed acknowledgement
/// naming the receipt in `to`'s log; checks both against the logs.
fn show_delivery(s: &mut Story, from: &Node, to: &Node) -> Result<(), String> {
    let ack = from.peers.acknowledgements(to.name).pop().ok_or("no acknowledgement")?;
    let (Some(from_log), Some(to_log)) = (from.peers.log(), to.peers.log()) else { return Err("no log".into()) };
    let ours = from_log.entries().map_err(|e| e.to_string())?;
    let theirs = to_log.entries().map_err(|e| e.to_string())?;
    let message = ours.get(ack.message_index as usize).ok_or("no commitment")?;
    let store = tlog::storage::DirStorage::new(from_log.dir()).map_err(|e| e.to_string())?;
    let key = tlog::note::VerifierKey::parse(&from.log_key).map_err(|e| e.to_string())?;
    let policy = tlog::checkpoint::TrustPolicy { origin: None, log_key: Some(key), witnesses: vec![], quorum: 0 };
    let (proof, entry) = tlog::client::prove(&store, &policy, ack.message_index).map_err(|e| e.to_string())?;
    let cp = policy.open(&proof.checkpoint).map_err(|e| e.to_string())?.checkpoint;
    s.say(format!(
        "  delivery: {} committed the message at entry {} of its log ({}); inclusion proof: {} hashes up to its current checkpoint (size {}, root {})",
        from.name,
        ack.message_index,
        String::from_utf8_lossy(message).trim().replace('\n', " "),
        proof.proof.len(),
        cp.size,
        cp.root.to_base64()
    ));
    let id: Vec<u8> = (0..16).filter_map(|i| u8::from_str_radix(ack.message.get(2 * i..2 * i + 2)?, 16).ok()).collect();
    let id: [u8; 16] = id.try_into().map_err(|_| "message id")?;
    let expected = crate::peers::receipt_entry(from.name, &id, message);
    s.say(format!(
        "  acknowledgement: signed by {}, message {}, receipt logged at entry {} of {}'s log",
        to.name, ack.message, ack.receipt_index, to.name
    ));
    s.check(
        "the message's inclusion proof verifies, and the signed acknowledgement names its receipt in the receiver's log",
        entry == *message && theirs.get(ack.receipt_index as usize) == Some(&expected),
    );
    Ok(())
}

async fn state_of(n: &Node, role: Role, id: &str) -> String {
    match n.cases.get(&who(role, "demo"), id, clock::today()).await {
        Ok(v) => v.case["state"].as_str().unwrap_or("?").to_string(),
        Err(_) => "(none)".into(),
    }
}

async fn run_cmd(
    s: &mut Story,
    n: &Node,
    role: Role,
    id: &str,
    cmd: Command,
    what: &str,
) -> Result<Vec<Value>, String> {
    match n.cases.command(&who(role, role.id()), id, &cmd, None, clock::now()).await {
        Ok((view, events)) => {
            let kinds: Vec<&str> = events.iter().filter_map(|e| e["kind"].as_str()).collect();
            s.say(format!(
                "  [{}] {} {what}: {} -> {}",
                n.name,
                role.id().replace('_', " "),
                kinds.join(", "),
                view.case["state"].as_str().unwrap_or("?")
            ));
            Ok(events)
        }
        Err(p) => Err(format!("[{}] {what}: {}", n.name, p.detail.unwrap_or(p.title.to_string()))),
    }
}

async fn fetch_entries(client: &reqwest::Client, url: &str) -> Result<Vec<Vec<u8>>, String> {
    let cp = client
        .get(format!("{url}/log/checkpoint"))
        .send()
        .await
        .map_err(|e| e.to_string())?
        .text()
        .await
        .map_err(|e| e.to_string())?;
    let size: u64 = cp.lines().nth(1).and_then(|l| l.parse().ok()).ok_or("a checkpoint without a size")?;
    let mut out = Vec::new();
    for b in 0..size.div_ceil(tlog::tile::TILE_WIDTH) {
        let Some(path) = tlog::tile::bundle_for(b, size) else { break };
        let bytes = client
            .get(format!("{url}/log/{}", path.path()))
            .send()
            .await
            .map_err(|e| e.to_string())?
            .bytes()
            .await
            .map_err(|e| e.to_string())?;
        let entries = tlog::tile::parse_bundle(Some(&path), &bytes).map_err(|e| e.to_string())?;
        out.extend(entries.into_iter().map(<[u8]>::to_vec));
    }
    Ok(out)
}

async fn start_node(
    root: &Path,
    name: &'static str,
    role: PartyRole,
    state: &str,
    directory: &federation::Accepted,
    identity: seal::keys::SecretIdentity,
    listener: tokio::net::TcpListener,
) -> Result<Node, String> {
    let dir = root.join(name);
    let port = listener.local_addr().map_err(|e| e.to_string())?.port();
    // Its certificate and key were made with the others', all of them trusted (`run`).
    let roots = root.join("tls-roots.pem");
    let tls_roots = std::fs::read(&roots).map_err(|e| format!("{}: {e}", roots.display()))?;
    let mut config = Config::example(name, role, state, &format!("127.0.0.1:{port}"));
    config.http.tls_cert = Some("tls.crt".into());
    config.http.tls_key = Some("tls.key".into());
    let config = config.validate(dir.clone()).map_err(|e| e.to_string())?;
    std::fs::create_dir_all(dir.join("data")).map_err(|e| e.to_string())?;
    std::fs::write(dir.join("node.toml"), config.config.to_toml()).map_err(|e| e.to_string())?;
    std::fs::write(dir.join("profiles.json"), crate::DEFAULT_PROFILES).map_err(|e| e.to_string())?;
    let store = store::SqliteStore::open(dir.join("data/custodia.db"), store::SqliteOptions::default())
        .await
        .map_err(|e| e.to_string())?;
    let log = Arc::new(
        crate::transparency::Transparency::open_or_create(&dir.join("data/log"), &format!("{name}.custodia"))
            .map_err(|e| e.to_string())?,
    );
    let log_key = log.verifier_key.clone();
    let peers = Arc::new(
        Peers::new(name, identity, directory.clone(), &dir.join("data"))
            .and_then(|p| p.trusting(&tls_roots, &roots.display().to_string()))
            .map_err(|e| e.to_string())?,
    );
    let tls = crate::tls::server_config(&dir.join("tls.crt"), &dir.join("tls.key"))?;
    let listener = crate::tls::TlsListener::new(listener, tls).map_err(|e| e.to_string())?;
    let secret = crate::node_secret(&dir.join("data/node.secret")).map_err(|e| e.to_string())?;
    crate::log_directory(&log, &peers, &dir.join("data"))?;
    let cases = Arc::new(Cases::new(Arc::new(store), log.clone(), name, secret).with_peers(peers.clone()));
    let blobs = crate::evidence::open_blobs(&config).ok();
    let wkey = crate::witnessing::witness_key(&dir.join("data"), name)?;
    let witnessing =
        Arc::new(crate::witnessing::Witnessing::new(peers.clone(), wkey, &dir.join("data"), &dir.join("data/log"))?);
    let app = crate::api::app_full(config, Some(log), Some(cases.clone()), blobs, Some(witnessing.clone()));
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    Ok(Node { name, cases, peers, witnessing, dir, url: format!("https://127.0.0.1:{port}"), log_key })
}

/// Runs the whole story.
pub async fn run(opts: Options) -> Result<Report, String> {
    let temp = tempfile::tempdir().map_err(|e| e.to_string())?;
    let root = opts.keep.clone().unwrap_or_else(|| temp.path().to_path_buf());
    std::fs::create_dir_all(&root).map_err(|e| e.to_string())?;
    let mut s = Story { report: Report::default(), quiet: opts.quiet };
    let now = u64::try_from(clock::now().0).unwrap_or(0);

    // The federation: five parties, their keys in a directory signed by the federation.
    let plan: [(&str, PartyRole, &str); 5] = [
        ("AA-central-authority", PartyRole::CentralAuthority, "AA"),
        ("AA-court", PartyRole::Court, "AA"),
        ("BB-central-authority", PartyRole::CentralAuthority, "BB"),
        ("Example-Mail", PartyRole::Provider, "BB"),
        ("BB-oversight", PartyRole::Oversight, "BB"),
    ];
    let mut listeners = Vec::new();
    let mut identities = Vec::new();
    let mut logs = Vec::new();
    let mut cosigners = Vec::new();
    let mut tls_roots = Vec::new();
    for (name, _, _) in &plan {
        listeners.push(tokio::net::TcpListener::bind("127.0.0.1:0").await.map_err(|e| e.to_string())?);
        let data = root.join(name).join("data");
        identities.push(crate::peers::identity(&data, name, now).map_err(|e| e.to_string())?);
        let origin = format!("{name}.custodia");
        let log =
            crate::transparency::Transparency::open_or_create(&data.join("log"), &origin).map_err(|e| e.to_string())?;
        logs.push((origin, tlog::note::VerifierKey::parse(&log.verifier_key).map_err(|e| e.to_string())?));
        drop(log);
        cosigners.push(crate::witnessing::witness_key(&data, name)?.verifier());
        // HTTPS between the nodes: a self-signed certificate each, all of them trusted by
        // each node (as `[federation] tls_roots` would name them).
        let (cert, key) = crate::tls::self_signed(&["127.0.0.1".into(), "localhost".into()], 30)?;
        let dir = root.join(name);
        std::fs::write(dir.join("tls.crt"), &cert).map_err(|e| e.to_string())?;
        std::fs::write(dir.join("tls.key"), &key).map_err(|e| e.to_string())?;
        tls_roots.extend_from_slice(cert.as_bytes());
    }
    std::fs::write(root.join("tls-roots.pem"), &tls_roots).map_err(|e| e.to_string())?;
    let today = clock::today();
    let mut parties = Vec::new();
    for (i, (name, role, state)) in plan.iter().enumerate() {
        let port = listeners[i].local_addr().map_err(|e| e.to_string())?.port();
        parties.push(federation::Party {
            name: (*name).into(),
            state: treaty::StateCode::parse(state).ok_or("state")?,
            role: *role,
            endpoint: format!("https://127.0.0.1:{port}"),
            keys: vec![federation::PartyKey {
                key: tlog::note::VerifierKey::parse(&identities[i].verifier().to_string())
                    .map_err(|e| e.to_string())?,
                from: today.add_days(-1),
                until: today.add_days(2 * 365),
            }],
            recipient: identities[i].public().recipient.clone(),
            log: Some(logs[i].clone()),
            cosigner: Some(cosigners[i].clone()),
            // The court and the oversight body witness every log; the provider's log only
            // names the court (the split view below exploits that).
            witnesses: match *name {
                "Example-Mail" => vec!["AA-court".into()],
                "AA-court" => vec!["BB-oversight".into()],
                "BB-oversight" => vec!["AA-court".into()],
                _ => vec!["AA-court".into(), "BB-oversight".into()],
            },
        });
    }
    let fed_key = tlog::note::SignerKey::generate("demo.custodia.directory", tlog::note::KeyKind::Ed25519)
        .map_err(|e| e.to_string())?;
    let directory = federation::Directory { federation: "demo.custodia".into(), version: 1, previous: None, parties };
    let note = federation::sign(&directory, &[&fed_key]).map_err(|e| e.to_string())?;
    std::fs::write(root.join("directory.note"), &note).map_err(|e| e.to_string())?;
    let accepted = federation::verify(&note, &[fed_key.verifier()], 1, None).map_err(|e| e.to_string())?;

    s.say(
        "custodia demo: five nodes on loopback, SQLite and local files each; every message a signed envelope over HTTPS (self-signed certificates made for the demo)",
    );
    let mut nodes = Vec::new();
    for ((i, (name, role, state)), listener) in plan.iter().enumerate().zip(listeners) {
        let n = start_node(
            &root,
            name,
            *role,
            state,
            &accepted,
            seal::keys::SecretIdentity::parse(&identities[i].secret_file()).map_err(|e| e.to_string())?,
            listener,
        )
        .await?;
        s.say(format!(
            "  {:<22} {:<18} {}   (log key {}; directory version 1 logged)",
            n.name,
            role.id(),
            n.url,
            n.log_key
        ));
        nodes.push(n);
    }
    let [a, _court, b, p, o] = &nodes[..] else { return Err("five nodes".into()) };
    let all: Vec<&Node> = nodes.iter().collect();

    // 1. Preservation through the 24/7 channel.
    s.say("\n1. A asks B to preserve data through the 24/7 channel (UNCC 41-42)");
    a.cases
        .create(
            &who(Role::PointOfContact, "A 24/7"),
            Some("pres-1".into()),
            Side::Requesting,
            &case_file("preservation"),
            true,
            clock::now(),
        )
        .await
        .map_err(|p| p.detail.unwrap_or_default())?;
    run_cmd(
        &mut s,
        a,
        Role::PointOfContact,
        "pres-1",
        Command::SubmitForAuthorization,
        "puts it before the duty judge",
    )
    .await?;
    run_cmd(
        &mut s,
        a,
        Role::Judge,
        "pres-1",
        Command::Authorize {
            reference: "AA-court duty 2026/88".into(),
            reasons: vec!["Urgent: the logs are deleted after 30 days.".into()],
        },
        "(AA-court, on duty) authorizes",
    )
    .await?;
    run_cmd(&mut s, a, Role::PointOfContact, "pres-1", Command::Send, "sends the emergency preservation request")
        .await?;
    deliver(&all).await;
    show_delivery(&mut s, a, b)?;
    let at_b = "AA-central-authority:pres-1";
    run_cmd(
        &mut s,
        b,
        Role::PointOfContact,
        at_b,
        Command::Decide { action: Action::Admit, reasons: vec![], until: None },
        "admits it (the policy attaches preserve_until, UNCC 42(7))",
    )
    .await?;
    run_cmd(
        &mut s,
        b,
        Role::CentralAuthority,
        at_b,
        Command::RouteToProvider { provider: "Example-Mail".into() },
        "routes it to the provider",
    )
    .await?;
    deliver(&all).await;
    show_delivery(&mut s, b, p)?;
    let at_p = format!("BB-central-authority:{at_b}");
    run_cmd(&mut s, p, Role::ProviderLegal, &at_p, Command::ProviderAcknowledge, "acknowledges").await?;
    let short = p
        .cases
        .command(
            &who(Role::ProviderLegal, "legal"),
            &at_p,
            &Command::PlaceHold { until: today.add_days(30) },
            None,
            clock::now(),
        )
        .await;
    s.check("a hold shorter than 60 days is refused (UNCC 42(7))", short.is_err());
    run_cmd(
        &mut s,
        p,
        Role::ProviderLegal,
        &at_p,
        Command::PlaceHold { until: today.add_days(90) },
        &format!("holds the data until {}", today.add_days(90)),
    )
    .await?;
    deliver(&all).await;
    s.check("B knows the data is preserved", state_of(b, Role::CentralAuthority, at_b).await == "preserved");

    // 2. Stored content: authorization, objection, narrowing, sealed evidence.
    s.say("\n2. A's judge authorizes a request for stored content; the provider objects; B's judge narrows it; sealed evidence");
    let created = a
        .cases
        .create(
            &who(Role::CaseWorker, DEMO_CASE_WORKER),
            Some("content-1".into()),
            Side::Requesting,
            &case_file("content"),
            false,
            clock::now(),
        )
        .await
        .map_err(|p| p.detail.unwrap_or_default())?;
    s.say(format!(
        "  [A] case worker drafts: the policy says {} ({})",
        created.decision.as_ref().and_then(|d| d["outcome"].as_str()).unwrap_or("?"),
        created
            .decision
            .as_ref()
            .map(|d| d["grounds"]
                .as_array()
                .map(|g| g
                    .iter()
                    .map(|x| format!(
                        "{} {} [{}]",
                        x["code"].as_str().unwrap_or(""),
                        x["field"].as_str().unwrap_or(""),
                        x["article"].as_str().unwrap_or("")
                    ))
                    .collect::<Vec<_>>()
                    .join("; "))
                .unwrap_or_default())
            .unwrap_or_default()
    ));
    let early = a
        .cases
        .command(&who(Role::CaseWorker, DEMO_CASE_WORKER), "content-1", &Command::Send, None, clock::now())
        .await;
    s.check("sending without the judicial authorization the policy asks for is refused", early.is_err());
    run_cmd(&mut s, a, Role::CaseWorker, "content-1", Command::SubmitForAuthorization, "puts it before the court")
        .await?;
    run_cmd(
        &mut s,
        a,
        Role::Judge,
        "content-1",
        Command::Authorize {
            reference: "AA-court 2026/117".into(),
            reasons: vec!["Necessary and proportionate: a named account, three months.".into()],
        },
        "(AA-court) authorizes",
    )
    .await?;
    run_cmd(&mut s, a, Role::CaseWorker, "content-1", Command::Send, "sends it").await?;
    deliver(&all).await;
    let cb = "AA-central-authority:content-1";
    run_cmd(
        &mut s,
        b,
        Role::CentralAuthority,
        cb,
        Command::Decide { action: Action::Admit, reasons: vec![], until: None },
        "admits it",
    )
    .await?;
    run_cmd(
        &mut s,
        b,
        Role::CentralAuthority,
        cb,
        Command::RouteToProvider { provider: "Example-Mail".into() },
        "routes it",
    )
    .await?;
    deliver(&all).await;
    let cp = format!("BB-central-authority:{cb}");
    run_cmd(&mut s, p, Role::ProviderLegal, &cp, Command::ProviderAcknowledge, "acknowledges").await?;
    run_cmd(
        &mut s,
        p,
        Role::ProviderLegal,
        &cp,
        Command::Object { grounds: vec!["Overbroad: it asks for every mailbox of the domain.".into()] },
        "objects",
    )
    .await?;
    deliver(&all).await;
    run_cmd(
        &mut s,
        b,
        Role::Judge,
        cb,
        Command::DecideObjection {
            ruling: case::Ruling::Narrowed,
            reasons: vec!["Limited to the named account and the three months stated.".into()],
        },
        "narrows the request",
    )
    .await?;
    deliver(&all).await;
    // The provider seals the export to A's requesting authority (age), signs the manifest.
    let export = p.dir.join("export");
    std::fs::create_dir_all(&export).map_err(|e| e.to_string())?;
    std::fs::write(export.join("mailbox.mbox"), "From suspect@mail.example ...\n(three months of messages)\n")
        .map_err(|e| e.to_string())?;
    std::fs::write(
        export.join("subscriber.json"),
        "{\"account\": \"suspect@mail.example\", \"created\": \"2025-11-02\"}\n",
    )
    .map_err(|e| e.to_string())?;
    let inputs = seal::evidence::collect_inputs(&[export.join("mailbox.mbox"), export.join("subscriber.json")])
        .map_err(|e| e.to_string())?;
    let pkg = p.dir.join("package-content-1");
    let a_recipient = accepted.directory.party("AA-central-authority").map(|x| x.recipient.clone()).ok_or("A")?;
    let p_identity = crate::peers::identity(&p.dir.join("data"), "Example-Mail", now).map_err(|e| e.to_string())?;
    let manifest =
        seal::evidence::seal(&inputs, &[a_recipient], &p_identity, now, &pkg, &mut seal::evidence::NoProgress)
            .map_err(|e| e.to_string())?;
    let manifest_text = std::fs::read(pkg.join(seal::evidence::MANIFEST)).map_err(|e| e.to_string())?;
    let sha = case::engine::hex(&<sha2::Sha256 as sha2::Digest>::digest(&manifest_text));
    let package = case::PackageRef {
        manifest_sha256: sha,
        files: manifest.files.len() as u32,
        bytes: manifest.files.iter().map(|f| f.size).sum(),
    };
    run_cmd(
        &mut s,
        p,
        Role::ProviderLegal,
        &cp,
        Command::Produce { package },
        "produces the evidence package, sealed to A",
    )
    .await?;
    deliver(&all).await;
    s.say("  (the package's files go from the provider to B and on to A as files; its reference travels in the signed messages)");
    let verified = seal::evidence::verify(&pkg, &p_identity.public(), &mut seal::evidence::NoProgress).is_ok();
    s.check("B verifies the package (signature, every ciphertext hash) without any secret key", verified);
    let b_ids = seal::evidence::read_identities(&b.dir.join("data/identity.key")).map_err(|e| e.to_string())?;
    let b_open = seal::evidence::open(
        &pkg,
        &b_ids,
        &p_identity.public(),
        &b.dir.join("cannot-open"),
        &mut seal::evidence::NoProgress,
    );
    s.check(
        "B cannot read it (sealed to A only)",
        b_open.is_err() && !b.dir.join("cannot-open").join("mailbox.mbox").exists(),
    );
    run_cmd(&mut s, b, Role::CentralAuthority, cb, Command::Return, "returns it to A").await?;
    deliver(&all).await;
    let a_ids = seal::evidence::read_identities(&a.dir.join("data/identity.key")).map_err(|e| e.to_string())?;
    let opened = seal::evidence::open(
        &pkg,
        &a_ids,
        &p_identity.public(),
        &a.dir.join("evidence-content-1"),
        &mut seal::evidence::NoProgress,
    );
    let same = opened.is_ok()
        && std::fs::read(a.dir.join("evidence-content-1/mailbox.mbox")).ok()
            == std::fs::read(export.join("mailbox.mbox")).ok();
    s.check("A opens it and every plaintext hash matches the provider's export", same);
    s.check(
        "A's case shows the evidence received",
        state_of(a, Role::CaseWorker, "content-1").await == "evidence_received",
    );

    // 3. Political criticism: refused with its article.
    s.say("\n3. A request that targets criticism of the government");
    a.cases
        .create(
            &who(Role::CaseWorker, DEMO_CASE_WORKER),
            Some("crit-1".into()),
            Side::Requesting,
            &case_file("criticism"),
            false,
            clock::now(),
        )
        .await
        .map_err(|p| p.detail.unwrap_or_default())?;
    run_cmd(&mut s, a, Role::CaseWorker, "crit-1", Command::Send, "sends it anyway").await?;
    deliver(&all).await;
    let admit = b
        .cases
        .command(
            &who(Role::CentralAuthority, "ca"),
            "AA-central-authority:crit-1",
            &Command::Decide { action: Action::Admit, reasons: vec![], until: None },
            None,
            clock::now(),
        )
        .await;
    s.check("B cannot admit it: the policy refuses it", admit.is_err());
    let events = run_cmd(
        &mut s,
        b,
        Role::CentralAuthority,
        "AA-central-authority:crit-1",
        Command::Decide { action: Action::Refuse, reasons: vec![], until: None },
        "refuses it",
    )
    .await?;
    for r in events.first().and_then(|e| e["reasons"].as_array()).into_iter().flatten() {
        s.say(format!("      reason: {}", r.as_str().unwrap_or("")));
    }
    deliver(&all).await;
    s.check("A receives the refusal with its reasons", state_of(a, Role::CaseWorker, "crit-1").await == "refused");

    // 4. Indefinite secrecy: consultation, an expiry.
    s.say("\n4. A request that asks for secrecy without end");
    a.cases
        .create(
            &who(Role::CaseWorker, DEMO_CASE_WORKER),
            Some("secret-1".into()),
            Side::Requesting,
            &case_file("indefinite"),
            false,
            clock::now(),
        )
        .await
        .map_err(|p| p.detail.unwrap_or_default())?;
    run_cmd(&mut s, a, Role::CaseWorker, "secret-1", Command::Send, "sends it").await?;
    deliver(&all).await;
    let sb = "AA-central-authority:secret-1";
    run_cmd(
        &mut s,
        b,
        Role::CentralAuthority,
        sb,
        Command::Decide { action: Action::Consult, reasons: vec![], until: None },
        "consults A first (UNCC 40(27))",
    )
    .await?;
    deliver(&all).await;
    let expiry = today.add_days(120);
    run_cmd(
        &mut s,
        b,
        Role::CentralAuthority,
        sb,
        Command::ConcludeConsultation {
            action: Action::Admit,
            reasons: vec!["Agreed with A: 120 days.".into()],
            confidential_until: Some(expiry),
            until: None,
        },
        &format!("admits it, confidential until {expiry}"),
    )
    .await?;
    deliver(&all).await;
    s.check(
        "A's case comes back admitted with an expiry",
        state_of(a, Role::CaseWorker, "secret-1").await == "admitted",
    );

    // 5. A forged emergency request.
    s.say("\n5. A forged emergency request (a hijacked police mailbox's key, not in the directory)");
    let forged_key = seal::keys::SecretIdentity::generate(
        "AA-police",
        seal::keys::Validity::new(now - 60, now + 3600).map_err(|e| e.to_string())?,
        now - 60,
    )
    .map_err(|e| e.to_string())?;
    let body = serde_json::to_vec(&crate::peers::RequestBody {
        case: "urgent".into(),
        side: Side::Requested,
        case_file: case_file("preservation"),
        emergency: true,
    })
    .map_err(|e| e.to_string())?;
    let msg = seal::envelope::Message::new(
        "Example-Mail",
        crate::peers::REQUEST,
        u64::try_from(clock::now().0).unwrap_or(0),
        body,
    )
    .map_err(|e| e.to_string())?;
    let env = seal::envelope::Envelope::seal(&forged_key, msg).map_err(|e| e.to_string())?;
    // Trusting the nodes' certificates, as any of them does.
    let client = a.peers.client().clone();
    let r = client
        .post(format!("{}/api/v1/inbox", p.url))
        .body(env.bytes().to_vec())
        .send()
        .await
        .map_err(|e| e.to_string())?;
    let status = r.status().as_u16();
    let text = r.text().await.unwrap_or_default();
    s.say(format!(
        "  [Example-Mail] answers {status}: {}",
        serde_json::from_str::<Value>(&text).ok().and_then(|v| v["detail"].as_str().map(String::from)).unwrap_or(text)
    ));
    s.check("the forged request is refused: no directory key signed it", status == 403);

    // 6. Time passes (simulated): secrecy ends, reveals, notification; one node withholds.
    s.say("\n6. Time is advanced by 130 days (a simulated clock): confidentiality expires");
    clock::advance(130 * 86_400);
    s.say(format!("  simulated today: {}", clock::today()));
    for n in [a, b] {
        let revealed = n.cases.sweep(clock::now()).await.map_err(|p| p.detail.unwrap_or_default())?;
        s.say(format!(
            "  [{}] reveals {revealed} case(s) whose secrecy expired, publishing what it had committed",
            n.name
        ));
    }
    s.say("  [Example-Mail] does not run its reveal (it withholds)");
    run_cmd(&mut s, b, Role::CentralAuthority, cb, Command::Notify, "notifies the person concerned").await?;

    // Witnessing: each node submits its checkpoint to its witnesses, which cosign.
    s.say("\n7. Witnessing: every node submits its checkpoint to the witnesses the directory names");
    for n in &nodes {
        let r = n.witnessing.submit(u64::try_from(clock::now().0).unwrap_or(0)).await;
        s.say(format!(
            "  {:<22} cosigned by {}",
            n.name,
            if r.cosigned.is_empty() { "(none)".to_string() } else { r.cosigned.join(", ") }
        ));
    }
    let fetch = |url: String| {
        let client = client.clone();
        async move {
            let r = client.get(url).send().await.map_err(|e| e.to_string())?;
            r.bytes().await.map(|b| b.to_vec()).map_err(|e| e.to_string())
        }
    };
    let served_note =
        tlog::note::Note::parse(&fetch(format!("{}/log/checkpoint", p.url)).await?).map_err(|e| e.to_string())?;
    let public = String::from_utf8_lossy(&fetch(format!("{}/", p.url)).await?).into_owned();
    s.check(
        "the public page's verify command names the node's https:// URL",
        public.contains(&format!("custodia log verify {}/log --key", p.url)),
    );
    let court_cosigner =
        accepted.directory.party("AA-court").and_then(|x| x.cosigner.clone()).ok_or("court cosigner")?;
    s.check(
        "the provider's served checkpoint carries the court's cosignature",
        served_note.verify(std::slice::from_ref(&court_cosigner)).is_ok(),
    );

    // A split view: the provider shows another log of the same size to another witness.
    s.say("\n8. Example-Mail shows a different log of the same size to BB-oversight (a split view)");
    let p_log_key = tlog::note::SignerKey::parse(
        std::fs::read_to_string(p.dir.join("data/log").join(tlog::client::KEY_FILE)).map_err(|e| e.to_string())?.trim(),
    )
    .map_err(|e| e.to_string())?;
    let real = tlog::checkpoint::Checkpoint::from_text(&served_note.text).map_err(|e| e.to_string())?;
    let entries = fetch_entries(&client, &p.url).await?;
    let mut forked = tlog::merkle::MemoryTree::new();
    for (i, e) in entries.iter().enumerate() {
        if i + 1 == entries.len() {
            forked.push_entry(b"custodia/commitment/v1\n(a different history)\n");
        } else {
            forked.push_entry(e);
        }
    }
    let fork = tlog::checkpoint::Checkpoint::new(&real.origin, real.size, forked.root())
        .sign(&p_log_key)
        .map_err(|e| e.to_string())?
        .to_bytes();
    let submit = |w: &str, body: Vec<u8>| {
        let url =
            accepted.directory.party(w).map(|x| format!("{}/witness/add-checkpoint", x.endpoint)).unwrap_or_default();
        let client = client.clone();
        async move {
            let r = client.post(url).body(body).send().await.map_err(|e| e.to_string())?;
            let status = r.status().as_u16();
            Ok::<(u16, Vec<u8>), String>((status, r.bytes().await.map_err(|e| e.to_string())?.to_vec()))
        }
    };
    let to_court = submit(
        "AA-court",
        tlog::witness::AddCheckpointRequest { old: real.size, proof: vec![], checkpoint: fork.clone() }.to_bytes(),
    )
    .await?;
    s.say(format!(
        "  AA-court, which cosigned size {} already, answers {}: {}",
        real.size,
        to_court.0,
        String::from_utf8_lossy(&to_court.1).trim()
    ));
    s.check("a witness that cosigned a size refuses another root for it", to_court.0 == 409 || to_court.0 == 422);
    let to_oversight = submit(
        "BB-oversight",
        tlog::witness::AddCheckpointRequest { old: 0, proof: vec![], checkpoint: fork.clone() }.to_bytes(),
    )
    .await?;
    s.say(format!("  BB-oversight, which never saw this log, cosigns the forked view ({})", to_oversight.0));
    // Oversight compares what the witnesses cosigned: two signed views of one size.
    let log_vkey =
        accepted.directory.party("Example-Mail").and_then(|x| x.log.clone()).map(|(_, k)| k).ok_or("log key")?;
    let fork_note = tlog::note::Note::parse(&fork).map_err(|e| e.to_string())?;
    let both_signed = served_note.verify(std::slice::from_ref(&log_vkey)).is_ok()
        && fork_note.verify(std::slice::from_ref(&log_vkey)).is_ok();
    let fork_cp = tlog::checkpoint::Checkpoint::from_text(&fork_note.text).map_err(|e| e.to_string())?;
    let caught = both_signed && fork_cp.size == real.size && fork_cp.root != real.root;
    s.say(format!("  BB-oversight holds two checkpoints of {} for size {}, both signed by its log key, with roots {} and {}: proof of a split view", real.origin, real.size, real.root, fork_cp.root));
    s.check("the split view is caught: two signed roots for one size", caught);

    // 9. Oversight recomputes every node's statistics from its public log.
    s.say("\n9. BB-oversight recomputes each node's transparency statistics from its log alone");
    let mut overdue = std::collections::BTreeMap::new();
    for n in [a, b, p] {
        let entries = fetch_entries(&client, &n.url).await?;
        let st = case::commitment::statistics(entries.iter().map(Vec::as_slice), clock::today());
        s.say(format!(
            "  {:<22} {:>3} commitments, {:>3} revealed, {:>3} still secret, {:>3} overdue",
            n.name,
            st.commitments.values().sum::<u64>(),
            st.revealed,
            st.secret,
            st.overdue
        ));
        overdue.insert(n.name, st.overdue);
    }
    s.check(
        "A and B: nothing overdue",
        overdue.get("AA-central-authority") == Some(&0) && overdue.get("BB-central-authority") == Some(&0),
    );
    s.check("the withholding provider is counted as overdue", overdue.get("Example-Mail").is_some_and(|n| *n > 0));
    let _ = o;

    // 10. Every log verifies from its tiles.
    s.say("\n10. Every node's log, verified from its tiles and signature");
    for n in &nodes {
        let store = tlog::storage::DirStorage::new(n.dir.join("data/log")).map_err(|e| e.to_string())?;
        let key = tlog::note::VerifierKey::parse(&n.log_key).map_err(|e| e.to_string())?;
        let policy =
            tlog::checkpoint::TrustPolicy { origin: None, log_key: Some(key), witnesses: Vec::new(), quorum: 0 };
        let ok = tlog::client::verify_log(&store, &policy, None);
        s.check(
            &format!("{} log verifies ({} entries)", n.name, ok.as_ref().map(|v| v.checkpoint.size).unwrap_or(0)),
            ok.is_ok(),
        );
    }
    let mut with_directory = 0;
    for n in &nodes {
        let entries = fetch_entries(&client, &n.url).await?;
        if entries.iter().any(|e| e.starts_with(b"custodia/directory/v1\n")) {
            with_directory += 1;
        }
    }
    s.check("every node's log records the directory version it accepted", with_directory == nodes.len());
    if opts.ui {
        // The simulated clock goes back to now, so that people act at today's date.
        clock::advance(-clock::simulated_offset());
        // From here on messages go out as people act, and the witnesses keep cosigning.
        for n in &nodes {
            tokio::spawn(crate::run_deliverer(n.peers.clone()));
            tokio::spawn(crate::run_witnessing(n.witnessing.clone()));
        }
        let package = open_work(a, b, p, &all, &accepted, &root).await?;
        s.say(
            "\nThe nodes stay up. Log in with these demo accounts (password for all: DEMO_PASSWORD):"
                .replace("DEMO_PASSWORD", DEMO_PASSWORD),
        );
        for n in &nodes {
            let users = crate::users::Users::new(n.dir.join("data/users.json"));
            let roles: &[&str] = match n.name {
                "Example-Mail" => &["provider_legal"],
                "BB-oversight" => &["oversight"],
                "AA-court" => &["judge"],
                _ => &["case_worker", "judge", "central_authority", "point_of_contact", "oversight"],
            };
            let mut logins = Vec::new();
            for r in roles {
                let name = r.replace('_', "-");
                if users.add(&name, r, DEMO_PASSWORD).is_ok() {
                    logins.push(name);
                }
            }
            s.say(format!("  {:<22} {}/login   as {}", n.name, n.url, logins.join(", ")));
        }
        s.say(format!(
            "The nodes serve HTTPS with self-signed certificates made for the demo: a browser warns once per \
             node, or trusts them all from {}",
            root.join("tls-roots.pem").display()
        ));
        s.say("\nWaiting for people (the main page of each role: /judge, /authority, /provider, /oversight):");
        s.say(format!("  [AA-central-authority] judge: authorize {UI_AUTHORIZE}"));
        s.say(format!("  [BB-central-authority] central authority: decide {UI_DECIDE}"));
        s.say(format!("  [Example-Mail] provider legal: object to {UI_OBJECT} (then BB's judge rules)"));
        s.say(format!(
            "  [Example-Mail] provider legal: upload the sealed package {} (signed by {}) for {UI_EVIDENCE}",
            package.0.display(),
            package.1.display()
        ));
        s.say("  the public transparency report of each node is at its URL; Ctrl-C stops the nodes");
        let _ = tokio::signal::ctrl_c().await;
    }
    if let Some(k) = &opts.keep {
        s.say(format!(
            "\nthe nodes' data is kept in {} (custodia log verify {}/AA-central-authority/data/log --key ...)",
            k.display(),
            k.display()
        ));
    }
    Ok(s.report)
}

/// The request `custodia demo --ui` leaves before AA's judge.
pub const UI_AUTHORIZE: &str = "ui-authorize";
/// The request it leaves before BB's central authority.
pub const UI_DECIDE: &str = "ui-decide";
/// The request it leaves in Example-Mail's inbox, to object to.
pub const UI_OBJECT: &str = "ui-object";
/// The request it leaves with Example-Mail to execute, with a sealed package to upload.
pub const UI_EVIDENCE: &str = "ui-evidence";

/// Opens the cases that wait for people in `--ui` mode, one for each role's part of the
/// story, and seals an evidence package for the provider to upload. Returns the
/// package's folder and the sealer's public identity file.
async fn open_work(
    a: &Node,
    b: &Node,
    p: &Node,
    all: &[&Node],
    accepted: &federation::Accepted,
    root: &Path,
) -> Result<(PathBuf, PathBuf), String> {
    let now = clock::now;
    let fail = |p: crate::problem::Problem| p.detail.unwrap_or(p.title.to_string());
    let cw = who(Role::CaseWorker, DEMO_CASE_WORKER);
    for id in [UI_AUTHORIZE, UI_DECIDE, UI_OBJECT, UI_EVIDENCE] {
        a.cases
            .create(&cw, Some(id.into()), Side::Requesting, &case_file("content"), false, now())
            .await
            .map_err(fail)?;
        a.cases.command(&cw, id, &Command::SubmitForAuthorization, None, now()).await.map_err(fail)?;
        if id == UI_AUTHORIZE {
            continue;
        }
        let authorize = Command::Authorize {
            reference: format!("AA-court 2026/{id}"),
            reasons: vec!["Necessary and proportionate: a named account, three months.".into()],
        };
        a.cases.command(&who(Role::Judge, "demo judge"), id, &authorize, None, now()).await.map_err(fail)?;
        a.cases.command(&cw, id, &Command::Send, None, now()).await.map_err(fail)?;
    }
    deliver(all).await;
    let ca = who(Role::CentralAuthority, "demo central authority");
    for id in [UI_OBJECT, UI_EVIDENCE] {
        let at_b = format!("AA-central-authority:{id}");
        let admit = Command::Decide { action: Action::Admit, reasons: vec![], until: None };
        b.cases.command(&ca, &at_b, &admit, None, now()).await.map_err(fail)?;
        let route = Command::RouteToProvider { provider: "Example-Mail".into() };
        b.cases.command(&ca, &at_b, &route, None, now()).await.map_err(fail)?;
    }
    deliver(all).await;
    let legal = who(Role::ProviderLegal, "demo provider legal");
    let at_p = format!("BB-central-authority:AA-central-authority:{UI_EVIDENCE}");
    p.cases.command(&legal, &at_p, &Command::ProviderAcknowledge, None, now()).await.map_err(fail)?;
    deliver(all).await;
    // The provider's export, sealed to A's requesting authority: big enough (4 MiB) for the
    // upload's progress bar and its resumption to show.
    let export = p.dir.join("ui-export");
    std::fs::create_dir_all(&export).map_err(|e| e.to_string())?;
    let mut mbox = String::with_capacity(4 << 20);
    let mut i = 0u64;
    while mbox.len() < 4 << 20 {
        let _ = writeln!(mbox, "From suspect@mail.example message {i}: (three months of messages, line {i})");
        i += 1;
    }
    std::fs::write(export.join("mailbox.mbox"), mbox).map_err(|e| e.to_string())?;
    let inputs = seal::evidence::collect_inputs(&[export.join("mailbox.mbox")]).map_err(|e| e.to_string())?;
    let pkg = root.join("Example-Mail").join("ui-package");
    let _ = std::fs::remove_dir_all(&pkg);
    let a_recipient = accepted.directory.party("AA-central-authority").map(|x| x.recipient.clone()).ok_or("A")?;
    let stamp = u64::try_from(clock::now().0).unwrap_or(0);
    let identity = crate::peers::identity(&p.dir.join("data"), "Example-Mail", stamp).map_err(|e| e.to_string())?;
    seal::evidence::seal(&inputs, &[a_recipient], &identity, stamp, &pkg, &mut seal::evidence::NoProgress)
        .map_err(|e| e.to_string())?;
    let signer = root.join("Example-Mail").join("Example-Mail.pub");
    std::fs::write(&signer, identity.public_file()).map_err(|e| e.to_string())?;
    Ok((pkg, signer))
}

//! Server-side rendering of every page with many cases in the store (default 10,000), and
//! the live policy feedback of the drafting page (`POST /draft` with `HX-Request`).
//!
//! One node (SQLite store, its log, its users) in this process; each request goes through
//! the whole axum application (session cookie, CSP headers, template) without a socket,
//! so the time is the server's. The cases are a mix of every side and state that the role
//! pages list: requests awaiting a judge's authorization, incoming requests before the
//! central authority, objections, routed requests and holds at the provider, drafts and
//! sent requests of case workers.
//!
//! ```text
//! cargo bench -p node --bench render -- [--cases 10000] [--runs 200]
//! ```
//! Prints, for each page: the first render (when the role pages make their pass over the
//! cases), then p50 / p99 / max over the runs; then the render of `/judge` just after a
//! case changed (the pass reads only what changed). Not a test: nothing here asserts a
//! speed.

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::http::Request;
use http_body_util::BodyExt as _;
use node::{Config, PartyRole};
use tower::ServiceExt as _;

const PASSWORD: &str = "correct horse battery staple";

fn args() -> (usize, usize) {
    let (mut cases, mut runs) = (10_000usize, 200usize);
    let mut it = std::env::args().skip(1);
    while let Some(k) = it.next() {
        match k.as_str() {
            "--cases" => cases = it.next().and_then(|v| v.parse().ok()).expect("--cases N"),
            "--runs" => runs = it.next().and_then(|v| v.parse().ok()).expect("--runs N"),
            "--bench" => {}
            other => panic!("unknown argument {other:?}: --cases N, --runs N"),
        }
    }
    (cases, runs)
}

fn who(role: case::Role) -> node::auth::Caller {
    // The case workers' requests are opened by the `case_worker` login, whose `/cases`
    // lists the cases it opened.
    let name = if role == case::Role::CaseWorker { "case_worker" } else { "bench" };
    node::auth::Caller { name: name.into(), role, token_id: "-".into() }
}

fn file(name: &str) -> serde_json::Value {
    let path = format!("{}/tests/data/{name}", env!("CARGO_MANIFEST_DIR"));
    serde_json::from_slice(&std::fs::read(path).expect("test data")).expect("json")
}

/// Opens case `i` of the mix and moves it to its state.
async fn open(cases: &node::cases::Cases, i: usize, files: &[serde_json::Value]) {
    use case::{Command, Role, Side};
    let now = node::clock::now;
    let f = &files[i % files.len()];
    let run = |role: Role, id: String, cmd: Command| async move {
        cases.command(&who(role), &id, &cmd, None, now()).await.expect("command");
    };
    match i % 10 {
        // Case workers' requests: a draft, one before the judge, one sent.
        k @ 0..=2 => {
            let id = format!("req-{i}");
            cases
                .create(&who(Role::CaseWorker), Some(id.clone()), Side::Requesting, f, false, now())
                .await
                .expect("create");
            if k >= 1 {
                run(Role::CaseWorker, id.clone(), Command::SubmitForAuthorization).await;
            }
        }
        // Incoming requests: before the central authority, admitted, routed and objected.
        k @ 3..=6 => {
            let id = format!("AA:in-{i}");
            cases.create(&who(Role::Peer), Some(id.clone()), Side::Requested, f, false, now()).await.expect("create");
            if k >= 4 {
                let admit = Command::Decide { action: case::Action::Admit, reasons: vec![], until: None };
                run(Role::CentralAuthority, id.clone(), admit).await;
            }
            if k >= 5 {
                let route = Command::RouteToProvider { provider: "Example-Mail".into() };
                run(Role::CentralAuthority, id.clone(), route).await;
            }
            if k >= 6 {
                let object = Command::Object { grounds: vec!["Overbroad.".into()] };
                run(Role::Peer, id.clone(), object).await;
            }
        }
        // The provider's side: in the inbox, in execution, held.
        k => {
            let id = format!("BB:AA:p-{i}");
            cases.create(&who(Role::Peer), Some(id.clone()), Side::Provider, f, false, now()).await.expect("create");
            if k >= 8 {
                run(Role::ProviderLegal, id.clone(), Command::ProviderAcknowledge).await;
            }
            if k >= 9 {
                let until = node::clock::today().add_days(60 + (i % 90) as i64);
                run(Role::ProviderLegal, id.clone(), Command::PlaceHold { until }).await;
            }
        }
    }
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

fn ms(d: Duration) -> String {
    format!("{:.2}", d.as_secs_f64() * 1000.0)
}

async fn call(app: &axum::Router, req: Request<Body>) -> (u16, usize) {
    let res = app.clone().oneshot(req).await.expect("infallible");
    let status = res.status().as_u16();
    let body = res.into_body().collect().await.expect("body").to_bytes();
    (status, body.len())
}

fn main() {
    let (n, runs) = args();
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("runtime");
    rt.block_on(async move {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::create_dir_all(dir.path().join("data")).expect("data");
        std::fs::write(dir.path().join("profiles.json"), node::DEFAULT_PROFILES).expect("profiles");
        let users = node::users::Users::new(dir.path().join("data/users.json"));
        for role in ["case_worker", "judge", "central_authority", "provider_legal", "oversight"] {
            users.add(role, role, PASSWORD).expect("user");
        }
        let config = Config::example("BB-central-authority", PartyRole::CentralAuthority, "BB", "127.0.0.1:0")
            .validate(dir.path().to_path_buf())
            .expect("config");
        let store = store::SqliteStore::open(dir.path().join("data/custodia.db"), store::SqliteOptions::default())
            .await
            .expect("store");
        let log = Arc::new(
            node::transparency::Transparency::open_or_create(&dir.path().join("data/log"), "BB.custodia").expect("log"),
        );
        let cases = Arc::new(node::cases::Cases::new(Arc::new(store), log.clone(), "BB-central-authority", [9; 32]));
        let files: Arc<Vec<serde_json::Value>> = Arc::new(
            ["admissible-stored-data.case.json", "stored-data-confidential.case.json", "subscriber-only.case.json"]
                .iter()
                .map(|f| file(f))
                .collect(),
        );
        let t = Instant::now();
        // 64 at a time, so that the log's sequencer batches the appends.
        let next = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let mut workers = Vec::new();
        for _ in 0..64 {
            let (cases, files, next) = (cases.clone(), files.clone(), next.clone());
            workers.push(tokio::spawn(async move {
                loop {
                    let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    if i >= n {
                        break;
                    }
                    open(&cases, i, &files).await;
                }
            }));
        }
        for w in workers {
            w.await.expect("worker");
        }
        println!(
            "{n} cases opened and moved to their states in {:.1} s; the log holds {} entries",
            t.elapsed().as_secs_f64(),
            log.size()
        );
        let app = node::api::app_with(config, Some(log), Some(cases.clone()), None);
        let mut sids = std::collections::HashMap::new();
        for role in ["case_worker", "judge", "central_authority", "provider_legal", "oversight"] {
            let req = Request::builder()
                .method("POST")
                .uri("/login")
                .header("content-type", "application/x-www-form-urlencoded")
                .body(Body::from(format!("name={role}&password={}", PASSWORD.replace(' ', "+"))))
                .expect("request");
            let res = app.clone().oneshot(req).await.expect("login");
            let sid = res.headers()["set-cookie"].to_str().expect("cookie").split(';').next().expect("sid").to_string();
            sids.insert(role, sid);
        }
        let pages: Vec<(&str, &str, Option<&str>)> = vec![
            ("/", "public transparency page", None),
            ("/login", "login", None),
            ("/draft", "drafting form", Some("case_worker")),
            ("/me", "account", Some("judge")),
            ("/cases", "case list (case worker: their own cases, the 200 changed last)", Some("case_worker")),
            ("/cases/req-1", "one case (judge)", Some("judge")),
            ("/judge", "judge's queue", Some("judge")),
            ("/authority", "central authority's incoming requests", Some("central_authority")),
            ("/provider", "provider's inbox", Some("provider_legal")),
            ("/oversight", "oversight statistics and charts", Some("oversight")),
        ];
        println!("\n| page | what | first render ms | p50 ms | p99 ms | max ms | bytes |");
        println!("|---|---|---:|---:|---:|---:|---:|");
        let get = |uri: &str, role: Option<&str>| {
            let mut b = Request::builder().uri(uri);
            if let Some(r) = role {
                b = b.header("cookie", &sids[r]);
            }
            b.body(Body::empty()).expect("request")
        };
        for (uri, what, role) in &pages {
            let t = Instant::now();
            let (status, bytes) = call(&app, get(uri, *role)).await;
            let first = t.elapsed();
            assert_eq!(status, 200, "{uri}");
            let mut times = Vec::with_capacity(runs);
            for _ in 0..runs {
                let t = Instant::now();
                call(&app, get(uri, *role)).await;
                times.push(t.elapsed());
            }
            times.sort();
            println!(
                "| `{uri}` | {what} | {} | {} | {} | {} | {bytes} |",
                ms(first),
                ms(percentile(&times, 0.5)),
                ms(percentile(&times, 0.99)),
                ms(*times.last().expect("runs"))
            );
        }
        // The live policy feedback: the drafting form's fields as htmx posts them.
        let form = "requesting_state=AA&requested_state=BB&instrument=uncc&measure=stored_data&offence.conduct=computer_fraud&offence.max_penalty_years=5&facts=Phishing+of+bank+customers&data.categories=content&data.identifiers=suspect%40mail.example&data.from=2026-01-01&data.to=2026-03-31";
        let mut times = Vec::with_capacity(runs);
        for _ in 0..runs {
            let req = Request::builder()
                .method("POST")
                .uri("/draft")
                .header("hx-request", "true")
                .header("content-type", "application/x-www-form-urlencoded")
                .body(Body::from(form))
                .expect("request");
            let t = Instant::now();
            let (status, _) = call(&app, req).await;
            times.push(t.elapsed());
            assert_eq!(status, 200);
        }
        times.sort();
        println!(
            "| `POST /draft` (HX-Request) | live policy feedback | - | {} | {} | {} | - |",
            ms(percentile(&times, 0.5)),
            ms(percentile(&times, 0.99)),
            ms(*times.last().expect("runs"))
        );
        // After a change: one command, then the judge's queue (its pass reads only the
        // changed case again, but lists all of them from the store).
        let mut times = Vec::with_capacity(20);
        for i in 0..20 {
            let id = format!("req-after-{i}");
            let f = &files[0];
            cases
                .create(&who(case::Role::CaseWorker), Some(id.clone()), case::Side::Requesting, f, false, node::clock::now())
                .await
                .expect("create");
            let t = Instant::now();
            call(&app, get("/judge", Some("judge"))).await;
            times.push(t.elapsed());
        }
        times.sort();
        println!(
            "\n`/judge` just after a case changed (20 times): p50 {} ms, max {} ms",
            ms(percentile(&times, 0.5)),
            ms(*times.last().expect("runs"))
        );
    });
}

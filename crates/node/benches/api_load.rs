//! Mixed API load against a real `custodia serve` process on loopback, with its own load
//! generator: reads (one case, a page of cases), drafts (the live policy check on a case
//! file) and case updates (open a case, admit it, route it to a provider: each a stored,
//! logged event). Prints the rate, latency percentiles per kind, and the CPU share of the
//! server process and of the load generator (both measured from /proc).
//!
//! ```text
//! cargo build --release -p custodia
//! cargo bench -p node --bench api_load -- [--secs 20] [--conns 32] [--database URL]
//! ```
//! `--database` takes a `postgres://` URL (an empty database the bench may fill); the
//! default is the embedded SQLite. `CUSTODIA_BIN` names the binary (default
//! `target/release/custodia`). Not a test: nothing here asserts a speed.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
enum Kind {
    ReadCase,
    ReadList,
    Draft,
    Update,
}

impl Kind {
    /// The mix, per 10 requests: 5 reads of a case, 1 page of the list, 2 drafts, 2 updates.
    fn of(i: u64) -> Kind {
        match i % 10 {
            0..=4 => Kind::ReadCase,
            5 => Kind::ReadList,
            6 | 7 => Kind::Draft,
            _ => Kind::Update,
        }
    }
}

struct Args {
    secs: u64,
    conns: usize,
    database: Option<String>,
}

fn args() -> Args {
    let mut a = Args { secs: 20, conns: 32, database: None };
    let mut it = std::env::args().skip(1);
    while let Some(k) = it.next() {
        match k.as_str() {
            "--secs" => a.secs = it.next().and_then(|v| v.parse().ok()).expect("--secs N"),
            "--conns" => a.conns = it.next().and_then(|v| v.parse().ok()).expect("--conns N"),
            "--database" => a.database = it.next(),
            "--bench" => {}
            other => panic!("unknown argument {other:?}: --secs N, --conns N, --database URL"),
        }
    }
    a
}

fn binary() -> PathBuf {
    if let Ok(p) = std::env::var("CUSTODIA_BIN") {
        return PathBuf::from(p);
    }
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let target = std::env::var("CARGO_TARGET_DIR").map(PathBuf::from).unwrap_or_else(|_| root.join("target"));
    let p = target.join("release/custodia");
    assert!(p.exists(), "{} is missing: run `cargo build --release -p custodia` first", p.display());
    p
}

fn run(bin: &Path, args: &[&str], env: &[(&str, &str)]) -> String {
    let out = Command::new(bin)
        .env_remove("CUSTODIA_BIN")
        .args(args)
        .envs(env.iter().copied())
        .output()
        .expect("run custodia");
    assert!(out.status.success(), "custodia {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap().trim().to_string()
}

/// CPU time (user + system) of a process, in seconds, from /proc/PID/stat.
fn cpu_secs(pid: &str) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // The command name is in parentheses and may hold spaces: count fields after it.
    let rest = stat.rsplit_once(") ").map(|(_, r)| r).unwrap_or("");
    let f: Vec<&str> = rest.split_whitespace().collect();
    let ticks: f64 =
        f.get(11).and_then(|v| v.parse().ok()).unwrap_or(0.0) + f.get(12).and_then(|v| v.parse().ok()).unwrap_or(0.0);
    ticks / 100.0
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn case_file() -> Value {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/stored-data-confidential.case.json");
    serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap()
}

fn percentile(sorted: &[Duration], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let i = ((sorted.len() as f64 * p).ceil() as usize).clamp(1, sorted.len()) - 1;
    sorted[i].as_secs_f64() * 1000.0
}

/// One worker's update sequence: open a case, admit it, route it; then the next case.
struct Updates {
    /// This run's mark, so that ids never collide with an earlier run's in a kept database.
    run: String,
    worker: usize,
    n: u64,
    step: u8,
}

impl Updates {
    fn next(&mut self, case_file: &Value) -> (String, Value) {
        let id = format!("load-{}-{}-{}", self.run, self.worker, self.n);
        let r = match self.step {
            0 => ("/api/v1/cases".to_string(), json!({ "id": id, "side": "requested", "case_file": case_file })),
            1 => (
                format!("/api/v1/cases/{id}/commands"),
                json!({ "command": "decide", "action": "admit", "reasons": [], "until": null }),
            ),
            _ => (
                format!("/api/v1/cases/{id}/commands"),
                json!({ "command": "route_to_provider", "provider": "Example Mail Ltd" }),
            ),
        };
        self.step += 1;
        if self.step == 3 {
            self.step = 0;
            self.n += 1;
        }
        r
    }
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let a = args();
    let bin = binary();
    let dir = tempfile::tempdir().unwrap();
    let node_dir = dir.path().join("node");
    let port = free_port();
    let listen = format!("127.0.0.1:{port}");
    let mut env: Vec<(&str, &str)> = Vec::new();
    if let Some(db) = &a.database {
        env.push(("CUSTODIA_STORAGE__DATABASE", db));
    }
    run(
        &bin,
        &[
            "init",
            "--role",
            "central_authority",
            "--state",
            "BB",
            "--dir",
            node_dir.to_str().unwrap(),
            "--listen",
            &listen,
        ],
        &env,
    );
    let cfg = node_dir.join("node.toml");
    let cfg = cfg.to_str().unwrap();
    let token = run(
        &bin,
        &["admin", "token", "create", "--config", cfg, "--name", "load", "--role", "central_authority"],
        &env,
    );
    let child = Command::new(&bin)
        .env_remove("CUSTODIA_BIN")
        .args(["serve", "--config", cfg])
        .envs(env.iter().copied())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let server_pid = child.id().to_string();
    let _server = Server(child);
    let base = format!("http://{listen}");
    let client = reqwest::Client::builder().pool_max_idle_per_host(a.conns).build().unwrap();
    for _ in 0..200 {
        if client.get(format!("{base}/readyz")).send().await.is_ok_and(|r| r.status().is_success()) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let auth = format!("Bearer {token}");
    let cf = case_file();
    let draft_body = serde_json::to_vec(&cf).unwrap();
    // Cases to read: 1,000 opened before the clock starts.
    let run = format!(
        "{:x}",
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_millis())
    );
    let mut seed_ids = Vec::new();
    for i in 0..1000 {
        let id = format!("seed-{run}-{i}");
        let r = client
            .post(format!("{base}/api/v1/cases"))
            .header("authorization", &auth)
            .header("content-type", "application/json")
            .body(serde_json::to_vec(&json!({ "id": id, "side": "requested", "case_file": cf })).unwrap())
            .send()
            .await
            .unwrap();
        assert!(r.status().is_success(), "seeding: {} {}", r.status(), r.text().await.unwrap_or_default());
        seed_ids.push(id);
    }
    let seed_ids = Arc::new(seed_ids);
    let stop = Arc::new(AtomicBool::new(false));
    let (cpu_server0, cpu_self0) = (cpu_secs(&server_pid), cpu_secs("self"));
    let t0 = Instant::now();
    let mut tasks = Vec::new();
    for w in 0..a.conns {
        let (client, base, auth, stop, seed_ids, cf, draft_body) = (
            client.clone(),
            base.clone(),
            auth.clone(),
            stop.clone(),
            seed_ids.clone(),
            cf.clone(),
            draft_body.clone(),
        );
        let run = run.clone();
        tasks.push(tokio::spawn(async move {
            let mut lat: Vec<(Kind, Duration)> = Vec::with_capacity(100_000);
            let mut errors = 0u64;
            let mut seen: Vec<String> = Vec::new();
            let mut updates = Updates { run: run.clone(), worker: w, n: 0, step: 0 };
            let mut i = w as u64 * 7;
            while !stop.load(Ordering::Relaxed) {
                let kind = Kind::of(i);
                let req = match kind {
                    Kind::ReadCase => {
                        let id = &seed_ids[(i as usize * 31 + w) % seed_ids.len()];
                        client.get(format!("{base}/api/v1/cases/{id}"))
                    }
                    Kind::ReadList => client.get(format!("{base}/api/v1/cases?limit=20")),
                    Kind::Draft => client
                        .post(format!("{base}/api/v1/policy/check"))
                        .header("content-type", "application/json")
                        .body(draft_body.clone()),
                    Kind::Update => {
                        let (path, body) = updates.next(&cf);
                        client
                            .post(format!("{base}{path}"))
                            .header("content-type", "application/json")
                            .body(serde_json::to_vec(&body).unwrap())
                    }
                };
                let start = Instant::now();
                let ok = match req.header("authorization", &auth).send().await {
                    Ok(r) => {
                        let status = r.status();
                        let body = r.bytes().await.unwrap_or_default();
                        if !status.is_success() && seen.len() < 3 {
                            seen.push(format!(
                                "{kind:?}: {status} {}",
                                String::from_utf8_lossy(&body[..body.len().min(300)])
                            ));
                        }
                        status.is_success()
                    }
                    Err(e) => {
                        if seen.len() < 3 {
                            seen.push(format!("{kind:?}: {e}"));
                        }
                        false
                    }
                };
                lat.push((kind, start.elapsed()));
                if !ok {
                    errors += 1;
                }
                i += 1;
            }
            for e in &seen {
                eprintln!("error seen: {e}");
            }
            (lat, errors)
        }));
    }
    tokio::time::sleep(Duration::from_secs(a.secs)).await;
    stop.store(true, Ordering::Relaxed);
    let mut all: Vec<(Kind, Duration)> = Vec::new();
    let mut errors = 0;
    for t in tasks {
        let (l, e) = t.await.unwrap();
        all.extend(l);
        errors += e;
    }
    let elapsed = t0.elapsed().as_secs_f64();
    let (cpu_server, cpu_self) = (cpu_secs(&server_pid) - cpu_server0, cpu_secs("self") - cpu_self0);
    let db = if a.database.is_some() { "PostgreSQL" } else { "SQLite" };
    println!("api_load on {db}: {} connections, {:.1} s, {} requests, {errors} errors", a.conns, elapsed, all.len());
    println!("| kind | requests/s | p50 ms | p99 ms | max ms |");
    println!("|---|---|---|---|---|");
    let mut kinds: Vec<Kind> = all.iter().map(|(k, _)| *k).collect();
    kinds.sort();
    kinds.dedup();
    let row = |name: &str, mut v: Vec<Duration>| {
        v.sort();
        println!(
            "| {name} | {:.0} | {:.2} | {:.2} | {:.2} |",
            v.len() as f64 / elapsed,
            percentile(&v, 0.50),
            percentile(&v, 0.99),
            percentile(&v, 1.0)
        );
    };
    for k in kinds {
        row(&format!("{k:?}"), all.iter().filter(|(x, _)| *x == k).map(|(_, d)| *d).collect());
    }
    row("all", all.iter().map(|(_, d)| *d).collect());
    println!(
        "CPU: server {:.0}% of one core, load generator {:.0}% of one core (2 cores in all)",
        cpu_server / elapsed * 100.0,
        cpu_self / elapsed * 100.0
    );
}

//! A process killed mid-transaction loses nothing committed.
//!
//! The test re-runs its own executable as a child (the ignored test `child_writer`, told what to open by
//! `STORE_CRASH_TARGET`). The child updates a few cases as fast as it can, two events per update, and prints
//! each version once `update_case` has returned. The parent reads those lines, sends SIGKILL at some point
//! while writes are in flight, reopens the database and checks that every printed version is there with all
//! its events and that the database is consistent. Three rounds on the same database.

mod common;

use std::collections::BTreeMap;
use std::io::Write as _;
use std::process::Stdio;
use std::sync::Arc;
use std::time::Duration;

use store::{CaseId, CaseUpdate, NewCase, NewEvent, SqliteOptions, SqliteStore, Store, StoreError, UnixTime};
use tokio::io::{AsyncBufReadExt as _, BufReader};

const WRITERS: usize = 4;
const ROUNDS: usize = 3;
/// Committed updates the parent waits to see before killing the child (at a different point each round).
const LINES_BEFORE_KILL: [usize; ROUNDS] = [150, 311, 67];

fn case_id(t: usize) -> CaseId {
    CaseId::new(format!("crash-{t}")).unwrap()
}

fn events_for(t: usize, version: u64) -> Vec<NewEvent> {
    ["a", "b"]
        .into_iter()
        .map(|x| NewEvent {
            kind: x.into(),
            at: UnixTime(version as i64),
            bytes: format!("{t}/{version}/{x}").into_bytes(),
            salt: [t as u8; 32],
            reveal_by: None,
        })
        .collect()
}

/// Opens the store named by `target`: `sqlite:<path>` or `postgres:<schema>:<url>`.
async fn open(target: &str) -> (Arc<dyn Store>, Option<Arc<SqliteStore>>, Option<Arc<store::PostgresStore>>) {
    if let Some(path) = target.strip_prefix("sqlite:") {
        let s = Arc::new(SqliteStore::open(path, SqliteOptions::default()).await.unwrap());
        (s.clone(), Some(s), None)
    } else if let Some(rest) = target.strip_prefix("postgres:") {
        let (schema, url) = rest.split_once(':').unwrap();
        let s = Arc::new(common::postgres_in(url, schema).await);
        (s.clone(), None, Some(s))
    } else {
        panic!("bad STORE_CRASH_TARGET {target:?}")
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "run by the crash tests as a child process"]
async fn child_writer() {
    let Ok(target) = std::env::var("STORE_CRASH_TARGET") else {
        return;
    };
    let (store, _, _) = open(&target).await;
    let tasks: Vec<_> = (0..WRITERS)
        .map(|t| {
            let store = store.clone();
            tokio::spawn(async move {
                let id = case_id(t);
                let mut version = store.load_case(&id).await.unwrap().unwrap().version;
                loop {
                    let update = CaseUpdate {
                        expected_version: version,
                        state: format!("v{}", version + 1),
                        snapshot: format!("{t} at {}", version + 1).into_bytes(),
                        events: events_for(t, version + 1),
                        at: UnixTime(version as i64 + 1),
                    };
                    version = store.update_case(&id, update).await.unwrap().version;
                    // The real stdout, not the test harness's captured one; one line per committed update.
                    let mut out = std::io::stdout().lock();
                    writeln!(out, "committed {t} {version}").unwrap();
                    out.flush().unwrap();
                }
            })
        })
        .collect();
    // The writers run until the parent kills this process; getting here means one of them failed.
    let (stopped, _, _) = futures::future::select_all(tasks).await;
    panic!("a child writer stopped: {stopped:?}");
}

async fn killed_writers_lose_nothing(target: String) {
    {
        let (store, _, _) = open(&target).await;
        for t in 0..WRITERS {
            let case = NewCase {
                id: case_id(t),
                node: "DE".into(),
                kind: "requested".into(),
                state: "v1".into(),
                snapshot: vec![],
                created_at: UnixTime(0),
                opened_by: None,
            };
            store.create_case(case, vec![]).await.unwrap();
        }
    }
    let mut printed: BTreeMap<usize, u64> = BTreeMap::new();
    for (round, lines_before_kill) in LINES_BEFORE_KILL.into_iter().enumerate() {
        let mut child = tokio::process::Command::new(std::env::current_exe().unwrap())
            .args(["child_writer", "--exact", "--ignored", "--nocapture", "--test-threads=1"])
            .env("STORE_CRASH_TARGET", &target)
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .kill_on_drop(true)
            .spawn()
            .unwrap();
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        let mut seen = 0;
        let read = async {
            while let Some(line) = lines.next_line().await.unwrap() {
                let Some(rest) = line.strip_prefix("committed ") else { continue };
                let (t, v) = rest.split_once(' ').unwrap();
                let (t, v): (usize, u64) = (t.parse().unwrap(), v.parse().unwrap());
                let max = printed.entry(t).or_insert(0);
                *max = (*max).max(v);
                seen += 1;
                if seen >= lines_before_kill {
                    return;
                }
            }
            panic!("the child writer stopped by itself");
        };
        tokio::time::timeout(Duration::from_secs(120), read).await.expect("the child writer is too slow");
        child.start_kill().unwrap(); // SIGKILL: no destructor, no rollback, no flush runs in the child
        child.wait().await.unwrap();

        let (store, sqlite, postgres) = open(&target).await;
        for t in 0..WRITERS {
            let rec = store.load_case(&case_id(t)).await.unwrap().unwrap();
            let want = printed.get(&t).copied().unwrap_or(1);
            assert!(rec.version >= want, "round {round}: case {t} printed version {want} but stored {}", rec.version);
            assert_eq!(rec.last_seq, 2 * (rec.version - 1));
            assert_eq!(rec.state, format!("v{}", rec.version));
            let events = store.events(&case_id(t)).await.unwrap();
            assert_eq!(events.len() as u64, rec.last_seq);
            for (i, e) in events.iter().enumerate() {
                let v = i as u64 / 2 + 2;
                let x = if i % 2 == 0 { "a" } else { "b" };
                assert_eq!(e.bytes, format!("{t}/{v}/{x}").into_bytes(), "round {round}: case {t} event {}", e.seq);
            }
        }
        if let Some(s) = sqlite {
            s.check_consistency().await.unwrap();
        }
        if let Some(s) = postgres {
            s.check_consistency().await.unwrap();
        }
        // The store still takes writes after the crash.
        let rec = store.load_case(&case_id(0)).await.unwrap().unwrap();
        let stale = CaseUpdate {
            expected_version: rec.version - 1,
            state: "x".into(),
            snapshot: vec![],
            events: vec![],
            at: UnixTime(0),
        };
        assert!(matches!(store.update_case(&case_id(0), stale).await, Err(StoreError::VersionConflict { .. })));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_killed_writer_loses_nothing_committed() {
    let dir = tempfile::tempdir().unwrap();
    killed_writers_lose_nothing(format!("sqlite:{}", dir.path().join("crash.db").display())).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_killed_writer_loses_nothing_committed() {
    let Some(url) = common::database_url() else { return };
    let schema = common::random_name("test_crash_");
    let _guard = common::schema_guard(&url, &schema);
    killed_writers_lose_nothing(format!("postgres:{schema}:{url}")).await;
}

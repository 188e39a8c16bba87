//! SQLite specifics: the pragmas the store relies on, two stores (two processes' worth of connections) on one
//! file writing at once without "database is locked", and the database's own guards on immutable events.

use std::sync::Arc;

use sqlx::Connection as _;
use store::{CaseId, CaseUpdate, NewCase, NewEvent, SqliteOptions, SqliteStore, Store, StoreError, UnixTime};

fn new_case(id: &str) -> NewCase {
    NewCase {
        id: CaseId::new(id).unwrap(),
        node: "DE".into(),
        kind: "requested".into(),
        state: "received".into(),
        snapshot: vec![],
        created_at: UnixTime(0),
        opened_by: None,
    }
}

fn ev(bytes: String) -> NewEvent {
    NewEvent { kind: "e".into(), at: UnixTime(1), bytes: bytes.into_bytes(), salt: [9; 32], reveal_by: None }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn pragmas_are_set() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("p.db");
    let store = SqliteStore::open(&path, SqliteOptions::default()).await.unwrap();
    store.create_case(new_case("c"), vec![]).await.unwrap();
    // Journal mode is a property of the file: WAL stays on for any later connection.
    let mut conn = sqlx::SqliteConnection::connect(&format!("sqlite://{}", path.display())).await.unwrap();
    let mode: String = sqlx::query_scalar("PRAGMA journal_mode").fetch_one(&mut conn).await.unwrap();
    assert_eq!(mode, "wal");
    // The store's own connections: synchronous=FULL, foreign keys on.
    let settings = store.settings().await.unwrap();
    assert_eq!(settings, store::SqliteSettings { journal_mode: "wal".into(), synchronous: "FULL", foreign_keys: true });
    store.check_consistency().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_stores_on_one_file_write_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("shared.db");
    let a = Arc::new(SqliteStore::open(&path, SqliteOptions::default()).await.unwrap());
    let b = Arc::new(SqliteStore::open(&path, SqliteOptions::default()).await.unwrap());
    a.create_case(new_case("shared"), vec![]).await.unwrap();
    let id = CaseId::new("shared").unwrap();
    let tasks: Vec<_> = (0..8)
        .map(|t| {
            let store: Arc<dyn Store> = if t % 2 == 0 { a.clone() } else { b.clone() };
            let id = id.clone();
            tokio::spawn(async move {
                for k in 0..20 {
                    loop {
                        let v = store.load_case(&id).await.unwrap().unwrap().version;
                        let u = CaseUpdate {
                            expected_version: v,
                            state: "s".into(),
                            snapshot: vec![],
                            events: vec![ev(format!("{t}/{k}"))],
                            at: UnixTime(1),
                        };
                        match store.update_case(&id, u).await {
                            Ok(_) => break,
                            Err(StoreError::VersionConflict { .. }) => {}
                            Err(e) => panic!("{e}"),
                        }
                    }
                }
            })
        })
        .collect();
    for t in tasks {
        t.await.unwrap();
    }
    let rec = b.load_case(&id).await.unwrap().unwrap();
    assert_eq!((rec.version, rec.last_seq), (161, 160));
    a.check_consistency().await.unwrap();
}

#[tokio::test]
async fn the_database_refuses_to_rewrite_history() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("guards.db");
    let store = SqliteStore::open(&path, SqliteOptions::default()).await.unwrap();
    store.create_case(new_case("c"), vec![ev("original".into())]).await.unwrap();
    store.set_log_index(&CaseId::new("c").unwrap(), 1, 5).await.unwrap();
    store.mark_revealed(&CaseId::new("c").unwrap(), 1).await.unwrap();
    let mut conn = sqlx::SqliteConnection::connect(&format!("sqlite://{}", path.display())).await.unwrap();
    for (sql, why) in [
        ("UPDATE events SET bytes = x'00'", "events are immutable"),
        ("UPDATE events SET log_index = 6", "log index never changes"),
        ("UPDATE events SET revealed = 0", "reveal is never undone"),
        ("DELETE FROM events", "never deleted"),
        ("UPDATE cases SET version = 1", "version only grows"),
        ("DELETE FROM cases", "never deleted"),
    ] {
        let err = sqlx::query(sql).execute(&mut conn).await.unwrap_err();
        assert!(err.to_string().contains(why), "{sql}: {err}");
    }
    let events = store.events(&CaseId::new("c").unwrap()).await.unwrap();
    assert_eq!(
        (events[0].bytes.as_slice(), events[0].log_index, events[0].revealed),
        (&b"original"[..], Some(5), true)
    );
}

/// A write that the database rejects (here: an event number taken behind the store's back) fails alone;
/// the writes committed with it in the same batch are not lost.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn one_failing_write_does_not_fail_its_batch() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("poison.db");
    let store = Arc::new(SqliteStore::open(&path, SqliteOptions::default()).await.unwrap());
    for i in 0..20 {
        store.create_case(new_case(&format!("ok{i}")), vec![]).await.unwrap();
    }
    store.create_case(new_case("poisoned"), vec![]).await.unwrap();
    let mut conn = sqlx::SqliteConnection::connect(&format!("sqlite://{}", path.display())).await.unwrap();
    sqlx::query(
        "INSERT INTO events (case_id, seq, kind, at, bytes, salt) VALUES ('poisoned', 1, 'x', 0, x'', zeroblob(32))",
    )
    .execute(&mut conn)
    .await
    .unwrap();
    conn.close().await.unwrap();
    let tasks: Vec<_> = (0..21)
        .map(|i| {
            let store = store.clone();
            tokio::spawn(async move {
                let name = if i == 20 { "poisoned".to_string() } else { format!("ok{i}") };
                let u = CaseUpdate {
                    expected_version: 1,
                    state: "next".into(),
                    snapshot: vec![],
                    events: vec![ev(format!("{name}/1"))],
                    at: UnixTime(1),
                };
                (i, store.update_case(&CaseId::new(name).unwrap(), u).await)
            })
        })
        .collect();
    for t in tasks {
        let (i, result) = t.await.unwrap();
        if i == 20 {
            assert!(matches!(result, Err(StoreError::Database(_))), "{result:?}");
        } else {
            assert_eq!(result.unwrap().version, 2);
        }
    }
    assert_eq!(store.load_case(&CaseId::new("poisoned").unwrap()).await.unwrap().unwrap().version, 1);
    for i in 0..20 {
        let id = CaseId::new(format!("ok{i}")).unwrap();
        assert_eq!(store.events(&id).await.unwrap()[0].bytes, format!("ok{i}/1").into_bytes());
    }
}

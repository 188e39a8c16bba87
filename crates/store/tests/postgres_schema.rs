//! PostgreSQL specifics: the database's own guards on immutable events, and schema names checked before use.

mod common;

use std::sync::Arc;

use store::{CaseId, CaseUpdate, NewCase, NewEvent, PostgresOptions, PostgresStore, Store, StoreError, UnixTime};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_database_refuses_to_rewrite_history() {
    let Some(h) = common::postgres().await else { return };
    let (store, pg) = (h.store.clone(), h.postgres.clone().unwrap());
    let case = NewCase {
        id: CaseId::new("c").unwrap(),
        node: "DE".into(),
        kind: "requested".into(),
        state: "received".into(),
        snapshot: vec![],
        created_at: UnixTime(0),
        opened_by: None,
    };
    let ev =
        NewEvent { kind: "e".into(), at: UnixTime(1), bytes: b"original".to_vec(), salt: [9; 32], reveal_by: None };
    store.create_case(case, vec![ev]).await.unwrap();
    let id = CaseId::new("c").unwrap();
    store.set_log_index(&id, 1, 5).await.unwrap();
    store.mark_revealed(&id, 1).await.unwrap();
    for (sql, why) in [
        ("UPDATE events SET bytes = '\\x00'", "events are immutable"),
        ("UPDATE events SET log_index = 6", "log index never changes"),
        ("UPDATE events SET revealed = false", "reveal is never undone"),
        ("DELETE FROM events", "never deleted"),
        ("UPDATE cases SET version = 1", "version only grows"),
        ("DELETE FROM cases", "never deleted"),
    ] {
        let err = sqlx::query(sql).execute(pg.pool()).await.unwrap_err();
        assert!(err.to_string().contains(why), "{sql}: {err}");
    }
    let events = store.events(&id).await.unwrap();
    assert_eq!(
        (events[0].bytes.as_slice(), events[0].log_index, events[0].revealed),
        (&b"original"[..], Some(5), true)
    );
}

#[tokio::test]
async fn bad_schema_names_are_refused_before_connecting() {
    for schema in ["", "1abc", "a-b", "a\"; DROP TABLE x; --", &"s".repeat(64)] {
        let mut options = PostgresOptions::new("postgres://127.0.0.1:1/none");
        options.schema = Some(schema.to_owned());
        let err = PostgresStore::connect(options).await.unwrap_err();
        assert!(matches!(err, StoreError::Invalid(_)), "{schema:?}: {err}");
    }
    let err = PostgresStore::connect(PostgresOptions::new("not a url")).await.unwrap_err();
    assert!(matches!(err, StoreError::Database(_)), "{err}");
}

fn case(id: &str) -> NewCase {
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

/// Updates that arrive together are applied by one statement, each still accepted or refused on its own.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_updates_are_batched_and_judged_one_by_one() {
    let Some(h) = common::postgres().await else { return };
    let (store, pg) = (h.store.clone(), h.postgres.clone().unwrap());
    for i in 0..64 {
        store.create_case(case(&format!("b{i}")), vec![]).await.unwrap();
    }
    for round in 0..5u64 {
        let tasks: Vec<_> = (0..96)
            .map(|i| {
                let store: Arc<dyn Store> = store.clone();
                tokio::spawn(async move {
                    // 64 good updates, 16 stale ones on the same cases, 16 on cases that do not exist.
                    let (name, expected) = match i {
                        0..64 => (format!("b{i}"), round + 1),
                        64..80 => (format!("b{}", i - 64), round + 7),
                        _ => (format!("none{i}"), 1),
                    };
                    let events = (0..=i % 3)
                        .map(|k| NewEvent {
                            kind: "e".into(),
                            at: UnixTime(1),
                            bytes: format!("{name}/{round}/{k}").into_bytes(),
                            salt: [k as u8; 32],
                            reveal_by: None,
                        })
                        .collect();
                    let update = CaseUpdate {
                        expected_version: expected,
                        state: format!("r{round}"),
                        snapshot: vec![],
                        events,
                        at: UnixTime(1),
                    };
                    (i, store.update_case(&CaseId::new(name).unwrap(), update).await)
                })
            })
            .collect();
        for t in tasks {
            let (i, result) = t.await.unwrap();
            match i {
                0..64 => assert_eq!(result.unwrap().version, round + 2),
                64..80 => assert!(matches!(result, Err(StoreError::VersionConflict { .. })), "{result:?}"),
                _ => assert!(matches!(result, Err(StoreError::CaseNotFound(_))), "{result:?}"),
            }
        }
    }
    for i in 0..64u64 {
        let id = CaseId::new(format!("b{i}")).unwrap();
        let events = store.events(&id).await.unwrap();
        assert_eq!(events.len() as u64, 5 * (i % 3 + 1));
        assert_eq!(events.iter().map(|e| e.seq).collect::<Vec<_>>(), (1..=events.len() as u64).collect::<Vec<_>>());
        assert_eq!(events.last().unwrap().bytes, format!("b{i}/4/{}", i % 3).into_bytes());
    }
    pg.check_consistency().await.unwrap();
    let stats = pg.batch_stats();
    assert!(stats.batches > 0 && stats.batched_updates > stats.batches, "{stats:?}");
    assert_eq!(stats.retried_alone, 0, "{stats:?}");
}

/// A write that the database rejects (here: an event number taken behind the store's back) fails alone;
/// the updates batched with it are retried and not lost.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn one_failing_write_does_not_fail_its_batch() {
    let Some(h) = common::postgres().await else { return };
    let (store, pg) = (h.store.clone(), h.postgres.clone().unwrap());
    for i in 0..20 {
        store.create_case(case(&format!("ok{i}")), vec![]).await.unwrap();
    }
    store.create_case(case("poisoned"), vec![]).await.unwrap();
    sqlx::query("INSERT INTO events (case_id, seq, kind, at, bytes, salt) VALUES ('poisoned', 1, 'x', 0, '', decode(repeat('00', 32), 'hex'))")
        .execute(pg.pool())
        .await
        .unwrap();
    let tasks: Vec<_> = (0..21)
        .map(|i| {
            let store = store.clone();
            tokio::spawn(async move {
                let name = if i == 20 { "poisoned".to_string() } else { format!("ok{i}") };
                let ev = NewEvent {
                    kind: "e".into(),
                    at: UnixTime(1),
                    bytes: format!("{name}/1").into_bytes(),
                    salt: [1; 32],
                    reveal_by: None,
                };
                let u = CaseUpdate {
                    expected_version: 1,
                    state: "next".into(),
                    snapshot: vec![],
                    events: vec![ev],
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

/// Accesses and log indices of concurrent requests are committed together, and each
/// request still gets its own outcome: an access to a case that does not exist and a
/// log index that contradicts the one set fail alone, and nothing of them is written.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn accesses_and_log_indices_of_concurrent_requests_share_commits_and_keep_their_outcomes() {
    let Some(h) = common::postgres().await else { return };
    let (store, pg) = (h.store.clone(), h.postgres.clone().unwrap());
    let ev =
        |n: u64| NewEvent { kind: "e".into(), at: UnixTime(1), bytes: vec![n as u8], salt: [2; 32], reveal_by: None };
    for i in 0..40u64 {
        store.create_case(case(&format!("s{i}")), vec![ev(1), ev(2)]).await.unwrap();
    }
    // Event 1 of two cases already has an index: asking for another must fail, and
    // take event 2's index with it, whatever else shares its batch.
    let conflicting = |i: u64| i.is_multiple_of(20);
    for i in (0..40u64).filter(|&i| conflicting(i)) {
        store.set_log_index(&CaseId::new(format!("s{i}")).unwrap(), 1, 50_000 + i).await.unwrap();
    }
    let mut tasks = Vec::new();
    for i in 0..40u64 {
        for round in 0..5u64 {
            let store = store.clone();
            tasks.push(tokio::spawn(async move {
                let id = CaseId::new(format!("s{i}")).unwrap();
                if round == 2 {
                    return ("indices", i, store.set_log_indices(&id, &[(1, 1000 + 2 * i), (2, 1001 + 2 * i)]).await);
                }
                let case_id = if i == 39 && round == 4 { CaseId::new("missing").unwrap() } else { id };
                let access = store::NewAccess {
                    case_id,
                    at: UnixTime(2),
                    role: "judge".into(),
                    what: "read".into(),
                    bytes: format!("{i}/{round}").into_bytes(),
                    salt: [3; 32],
                    log_index: 100_000 + round * 100 + i,
                };
                ("access", i, store.record_accesses(vec![access]).await)
            }));
        }
    }
    for t in tasks {
        match t.await.unwrap() {
            ("indices", i, r) if conflicting(i) => {
                assert!(matches!(r, Err(StoreError::LogIndexConflict { .. })), "s{i}: {r:?}")
            }
            ("access", 39, r) if r.is_err() => assert!(matches!(r, Err(StoreError::CaseNotFound(_))), "{r:?}"),
            (what, i, r) => r.unwrap_or_else(|e| panic!("{what} of s{i}: {e}")),
        }
    }
    for i in 0..40u64 {
        let id = CaseId::new(format!("s{i}")).unwrap();
        let e = store.events(&id).await.unwrap();
        let expected = if conflicting(i) { (Some(50_000 + i), None) } else { (Some(1000 + 2 * i), Some(1001 + 2 * i)) };
        assert_eq!((e[0].log_index, e[1].log_index), expected, "indices of s{i}: all or none for one request");
        let n = store.accesses(&id).await.unwrap().len();
        assert_eq!(n, if i == 39 { 3 } else { 4 }, "accesses of s{i}");
    }
    let stats = pg.batch_stats();
    assert!(stats.side_batches > 0 && stats.side_batched > stats.side_batches, "{stats:?}");
}

/// The store keeps its connections between statements without a round trip; a statement
/// interrupted half-way (its future dropped) must not leave its connection to the next
/// one, and connections the server closed are replaced.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn interrupted_and_closed_connections_are_not_reused() {
    let Some(url) = common::database_url() else { return };
    let schema = common::random_name("test_");
    let _guard = common::schema_guard(&url, &schema);
    // Its own application name, so that the server closes only its connections below.
    let app = common::random_name("conns_");
    let sep = if url.contains('?') { '&' } else { '?' };
    let mut options = PostgresOptions::new(format!("{url}{sep}application_name={app}"));
    options.schema = Some(schema.clone());
    options.max_connections = 1;
    let store = PostgresStore::connect(options).await.unwrap();
    store.create_case(case("a"), vec![]).await.unwrap();
    store.create_case(case("b"), vec![]).await.unwrap();
    let a = CaseId::new("a").unwrap();
    let b = CaseId::new("b").unwrap();
    assert_eq!(store.load_case(&a).await.unwrap().unwrap().id, a);

    // A read that waits on a lock is given up: its connection (the only one) must go.
    let mut locker = store.pool().begin().await.unwrap();
    sqlx::query(sqlx::AssertSqlSafe(format!("LOCK TABLE \"{schema}\".cases IN ACCESS EXCLUSIVE MODE")))
        .execute(&mut *locker)
        .await
        .unwrap();
    let given_up = tokio::time::timeout(std::time::Duration::from_millis(200), store.load_case(&a)).await;
    assert!(given_up.is_err(), "the read should have waited for the lock");
    locker.rollback().await.unwrap();
    // The next reads get their own answers, not the interrupted one's.
    assert_eq!(store.load_case(&b).await.unwrap().unwrap().id, b);
    assert_eq!(store.load_case(&a).await.unwrap().unwrap().id, a);

    // The server closes the store's connections.
    sqlx::query("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = $1 AND pid <> pg_backend_pid()")
        .bind(&app)
        .execute(store.pool())
        .await
        .unwrap();
    let mut failures = 0;
    loop {
        match store.load_case(&b).await {
            Ok(found) => break assert_eq!(found.unwrap().id, b),
            Err(e) => {
                failures += 1;
                assert!(failures <= 1, "a closed connection is used once at most: {e}");
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn snapshots_are_compressed_with_lz4_where_the_server_has_it() {
    let Some(h) = common::postgres().await else { return };
    let (store, pg) = (h.store.clone(), h.postgres.clone().unwrap());
    // A snapshot large enough for TOAST to compress it (over 2 KiB), and compressible.
    let snapshot: Vec<u8> =
        (0..200).flat_map(|i| format!("{{\"field_{i}\":\"value {i}\"}},").into_bytes()).collect::<Vec<u8>>();
    assert!(snapshot.len() > 4000);
    store.create_case(NewCase { snapshot: snapshot.clone(), ..case("big") }, vec![]).await.unwrap();
    let lz4_available: bool = sqlx::query_scalar(
        "SELECT EXISTS (SELECT 1 FROM pg_settings WHERE name = 'default_toast_compression' AND 'lz4' = ANY(enumvals))",
    )
    .fetch_one(pg.pool())
    .await
    .unwrap();
    let method: Option<String> =
        sqlx::query_scalar("SELECT pg_column_compression(snapshot) FROM cases WHERE id = 'big'")
            .fetch_one(pg.pool())
            .await
            .unwrap();
    assert_eq!(method.as_deref(), Some(if lz4_available { "lz4" } else { "pglz" }));
    assert_eq!(store.load_case(&CaseId::new("big").unwrap()).await.unwrap().unwrap().snapshot, snapshot);
}

//! PostgreSQL specifics: the database's own guards on immutable events, and schema names checked before use.

mod common;

use store::{CaseId, NewCase, NewEvent, PostgresOptions, PostgresStore, StoreError, UnixTime};

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

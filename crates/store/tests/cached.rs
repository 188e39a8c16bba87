//! The case records a [`CachedStore`] keeps: reads answered from memory, and never an older
//! record than the database holds after this process's own writes, whatever the interleaving
//! (a slow read racing an update, an update whose caller gave up, a refused update).

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use store::{
    AccessRecord, CacheStats, CachedStore, CaseFilter, CaseId, CaseRecord, CaseUpdate, Cursor, DayNumber, EventRecord,
    NewAccess, NewCase, NewEvent, Page, Store, StoreError, UnixTime,
};
use tokio::sync::Semaphore;

/// A store that counts the case reads reaching it and can hold a read or an update, after
/// the database answered, until the test lets it go.
#[derive(Debug)]
struct Held {
    inner: Arc<dyn Store>,
    loads: AtomicU64,
    /// When set, a read waits here after the database answered.
    hold_loads: Option<Arc<Semaphore>>,
    /// When set, an update waits here after it committed.
    hold_updates: Option<Arc<Semaphore>>,
}

impl Held {
    fn new(inner: Arc<dyn Store>) -> Held {
        Held { inner, loads: AtomicU64::new(0), hold_loads: None, hold_updates: None }
    }
}

#[async_trait::async_trait]
impl Store for Held {
    async fn create_case(&self, case: NewCase, first_events: Vec<NewEvent>) -> Result<CaseRecord, StoreError> {
        self.inner.create_case(case, first_events).await
    }
    async fn load_case(&self, id: &CaseId) -> Result<Option<CaseRecord>, StoreError> {
        self.loads.fetch_add(1, Ordering::SeqCst);
        let r = self.inner.load_case(id).await;
        if let Some(gate) = &self.hold_loads {
            gate.acquire().await.unwrap().forget();
        }
        r
    }
    async fn update_case(&self, id: &CaseId, update: CaseUpdate) -> Result<CaseRecord, StoreError> {
        let r = self.inner.update_case(id, update).await;
        if let Some(gate) = &self.hold_updates {
            gate.acquire().await.unwrap().forget();
        }
        r
    }
    async fn events(&self, id: &CaseId) -> Result<Vec<EventRecord>, StoreError> {
        self.inner.events(id).await
    }
    async fn list_cases(
        &self,
        filter: &CaseFilter,
        cursor: Option<&Cursor>,
        limit: u32,
    ) -> Result<Page<CaseRecord>, StoreError> {
        self.inner.list_cases(filter, cursor, limit).await
    }
    async fn set_log_indices(&self, id: &CaseId, indices: &[(u64, u64)]) -> Result<(), StoreError> {
        self.inner.set_log_indices(id, indices).await
    }
    async fn mark_revealed(&self, id: &CaseId, seq: u64) -> Result<(), StoreError> {
        self.inner.mark_revealed(id, seq).await
    }
    async fn events_due_for_reveal(&self, on: DayNumber) -> Result<Vec<EventRecord>, StoreError> {
        self.inner.events_due_for_reveal(on).await
    }
    async fn events_not_logged(&self, limit: u32) -> Result<Vec<EventRecord>, StoreError> {
        self.inner.events_not_logged(limit).await
    }
    async fn record_accesses(&self, accesses: Vec<NewAccess>) -> Result<(), StoreError> {
        self.inner.record_accesses(accesses).await
    }
    async fn accesses(&self, id: &CaseId) -> Result<Vec<AccessRecord>, StoreError> {
        self.inner.accesses(id).await
    }
}

fn id(s: &str) -> CaseId {
    CaseId::new(s).unwrap()
}

fn new_case(case: &str) -> NewCase {
    NewCase {
        id: id(case),
        node: "DE".into(),
        kind: "requesting".into(),
        state: "draft".into(),
        snapshot: b"v1".to_vec(),
        created_at: UnixTime(1_700_000_000),
        opened_by: None,
    }
}

fn first() -> Vec<NewEvent> {
    vec![NewEvent {
        kind: "created".into(),
        at: UnixTime(1_700_000_000),
        bytes: b"c".to_vec(),
        salt: [1; 32],
        reveal_by: None,
    }]
}

fn update(expected_version: u64) -> CaseUpdate {
    CaseUpdate {
        expected_version,
        state: format!("state-{}", expected_version + 1),
        snapshot: format!("v{}", expected_version + 1).into_bytes(),
        events: vec![NewEvent {
            kind: "changed".into(),
            at: UnixTime(1_700_000_100),
            bytes: format!("to v{}", expected_version + 1).into_bytes(),
            salt: [2; 32],
            reveal_by: None,
        }],
        at: UnixTime(1_700_000_100),
    }
}

async fn sqlite_file() -> (tempfile::TempDir, Arc<dyn Store>) {
    let dir = tempfile::tempdir().unwrap();
    let s = store::SqliteStore::open(dir.path().join("cases.db"), store::SqliteOptions::default()).await.unwrap();
    (dir, Arc::new(s))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reads_after_writes_come_from_memory() {
    let (_dir, db) = sqlite_file().await;
    let held = Arc::new(Held::new(db));
    let s = CachedStore::new(held.clone(), 16);
    let c = id("case-1");
    let created = s.create_case(new_case("case-1"), first()).await.unwrap();
    assert_eq!(s.load_case(&c).await.unwrap(), Some(created));
    let updated = s.update_case(&c, update(1)).await.unwrap();
    assert_eq!(updated.version, 2);
    assert_eq!(s.load_case(&c).await.unwrap(), Some(updated.clone()));
    assert_eq!(held.loads.load(Ordering::SeqCst), 0, "the records written were kept");
    assert_eq!(s.stats(), CacheStats { hits: 2, misses: 0, kept: 1 });
    // What memory answers is what the database holds.
    assert_eq!(held.inner.load_case(&c).await.unwrap(), Some(updated));
    // A case never seen is read once from the database, then kept; an unknown one is not kept.
    let other = Arc::new(CachedStore::new(held.clone(), 16));
    assert_eq!(other.load_case(&c).await.unwrap().unwrap().version, 2);
    assert_eq!(other.load_case(&c).await.unwrap().unwrap().version, 2);
    assert_eq!(other.load_case(&id("nobody")).await.unwrap(), None);
    assert_eq!(other.load_case(&id("nobody")).await.unwrap(), None);
    assert_eq!(held.loads.load(Ordering::SeqCst), 3);
    assert_eq!(other.stats(), CacheStats { hits: 1, misses: 3, kept: 1 });
}

/// A cached store over a new database holding `case-1` at version 1, and a read of it started
/// and held after the database answered (released by a permit on the returned gate).
async fn with_a_held_read() -> (
    tempfile::TempDir,
    Arc<Held>,
    Arc<CachedStore>,
    Arc<Semaphore>,
    tokio::task::JoinHandle<Result<Option<CaseRecord>, StoreError>>,
) {
    let (dir, db) = sqlite_file().await;
    db.create_case(new_case("case-1"), first()).await.unwrap();
    let gate = Arc::new(Semaphore::new(0));
    let held = Arc::new(Held { hold_loads: Some(gate.clone()), ..Held::new(db) });
    let s = Arc::new(CachedStore::new(held.clone(), 16));
    let slow = tokio::spawn({
        let s = s.clone();
        async move { s.load_case(&id("case-1")).await }
    });
    while held.loads.load(Ordering::SeqCst) == 0 {
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    (dir, held, s, gate, slow)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_read_never_puts_back_an_older_record() {
    // A read gets version 1 from the database and is held there...
    let (_dir, held, s, gate, slow) = with_a_held_read().await;
    let c = id("case-1");
    tokio::time::sleep(Duration::from_millis(20)).await;
    // ...while an update writes version 2.
    assert_eq!(s.update_case(&c, update(1)).await.unwrap().version, 2);
    gate.add_permits(1);
    assert_eq!(slow.await.unwrap().unwrap().unwrap().version, 1, "the slow read answers what it read");
    let loads = held.loads.load(Ordering::SeqCst);
    assert_eq!(s.load_case(&c).await.unwrap().unwrap().version, 2, "memory keeps the newer record");
    assert_eq!(held.loads.load(Ordering::SeqCst), loads);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_update_whose_caller_gave_up_is_read_from_the_database() {
    let (_dir, db) = sqlite_file().await;
    let gate = Arc::new(Semaphore::new(0));
    let held = Arc::new(Held { hold_updates: Some(gate.clone()), ..Held::new(db) });
    let s = CachedStore::new(held.clone(), 16);
    let c = id("case-1");
    s.create_case(new_case("case-1"), first()).await.unwrap();
    assert_eq!(s.load_case(&c).await.unwrap().unwrap().version, 1);
    // The update commits, but its caller stops waiting before it answers.
    let gave_up = tokio::time::timeout(Duration::from_millis(200), s.update_case(&c, update(1))).await;
    assert!(gave_up.is_err());
    assert_eq!(held.inner.load_case(&c).await.unwrap().unwrap().version, 2, "it did commit");
    assert_eq!(s.load_case(&c).await.unwrap().unwrap().version, 2, "the kept version 1 was forgotten");
    assert_eq!(held.loads.load(Ordering::SeqCst), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_read_that_began_before_a_case_was_forgotten_keeps_nothing() {
    let (_dir, held, s, gate, slow) = with_a_held_read().await;
    let c = id("case-1");
    // An update refused while the read is held: its outcome tells this process nothing kept is sure.
    assert!(matches!(s.update_case(&c, update(7)).await, Err(StoreError::VersionConflict { .. })));
    gate.add_permits(1);
    slow.await.unwrap().unwrap();
    gate.add_permits(1);
    s.load_case(&c).await.unwrap();
    assert_eq!(held.loads.load(Ordering::SeqCst), 2, "the held read kept nothing");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn another_writer_is_caught_at_the_next_update() {
    // Two processes on one database break the cache's condition; the version check still
    // refuses the stale update, and that refusal makes the next read go to the database.
    let (_dir, db) = sqlite_file().await;
    let a = CachedStore::new(db.clone(), 16);
    let c = id("case-1");
    a.create_case(new_case("case-1"), first()).await.unwrap();
    db.update_case(&c, update(1)).await.unwrap();
    assert!(matches!(a.update_case(&c, update(1)).await, Err(StoreError::VersionConflict { actual: 2, .. })));
    assert_eq!(a.load_case(&c).await.unwrap().unwrap().version, 2);
    assert_eq!(a.update_case(&c, update(2)).await.unwrap().version, 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn at_most_capacity_records_are_kept() {
    let (_dir, db) = sqlite_file().await;
    let s = CachedStore::new(db, 3);
    for i in 0..10 {
        s.create_case(new_case(&format!("case-{i}")), first()).await.unwrap();
        assert!(s.stats().kept <= 3);
    }
    for i in 0..10 {
        assert_eq!(s.load_case(&id(&format!("case-{i}"))).await.unwrap().unwrap().version, 1);
        assert!(s.stats().kept <= 3);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_claim_on_a_postgres_schema_is_refused() {
    let Some(url) = common::database_url() else { return };
    let schema = common::random_name("claim_");
    let _guard = common::schema_guard(&url, &schema);
    let a = common::postgres_in(&url, &schema).await;
    let b = common::postgres_in(&url, &schema).await;
    a.claim_exclusive().await.unwrap();
    a.claim_exclusive().await.unwrap();
    match b.claim_exclusive().await {
        Err(e @ StoreError::InUse(_)) => assert!(e.to_string().contains(&schema), "{e}"),
        other => panic!("a second claim: {other:?}"),
    }
    // Another schema is free, and the claim goes with its store.
    let other = common::random_name("claim_");
    let _guard2 = common::schema_guard(&url, &other);
    common::postgres_in(&url, &other).await.claim_exclusive().await.unwrap();
    drop(a);
    let mut freed = false;
    for _ in 0..100 {
        if b.claim_exclusive().await.is_ok() {
            freed = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(freed, "the claim was not released when its store was dropped");
}

//! A [`Store`] that keeps the case records it has read or written, so that reading a case
//! (and the read before each update) costs no round trip to the database.
//!
//! It is coherent only while this process is the database's only writer of cases: every write
//! goes through it, and a record it keeps is always the newest it has seen. A node guarantees
//! that: one `custodia serve` per node directory (the log's lock), and on PostgreSQL the
//! schema's advisory lock ([`crate::PostgresStore::claim_exclusive`]).
//!
//! Invariants:
//! - a kept record is only ever replaced by one with a higher version (versions only grow), so
//!   a slow read can never put back an older record than a concurrent update left;
//! - an update whose outcome is unknown (an error, or its future dropped before it answered)
//!   forgets the case and bumps an epoch: a read that started before it keeps nothing, so
//!   the next read goes to the database;
//! - at most `capacity` records are kept; when full, all are dropped and the cache starts again.
//!
//! Everything other than case records (events, accesses, lists) goes straight to the inner store.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use crate::{
    AccessRecord, CaseFilter, CaseId, CaseRecord, CaseUpdate, Cursor, DayNumber, EventRecord, NewAccess, NewCase,
    NewEvent, Page, Store, StoreError,
};

/// How many case records a [`CachedStore`] keeps by default.
pub const DEFAULT_KEPT_CASES: usize = 4096;

/// A [`Store`] keeping case records in memory; see the module documentation.
#[derive(Debug)]
pub struct CachedStore {
    inner: Arc<dyn Store>,
    kept: Mutex<Kept>,
    capacity: usize,
    hits: AtomicU64,
    misses: AtomicU64,
}

#[derive(Debug, Default)]
struct Kept {
    records: HashMap<CaseId, CaseRecord>,
    /// Bumped whenever a case is forgotten: a read that began before keeps nothing.
    epoch: u64,
}

/// How a [`CachedStore`] has been doing.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CacheStats {
    /// Case reads answered from memory.
    pub hits: u64,
    /// Case reads that went to the database.
    pub misses: u64,
    /// Records kept now.
    pub kept: u64,
}

impl CachedStore {
    /// Keeps up to `capacity` (at least 1) case records of `inner`.
    pub fn new(inner: Arc<dyn Store>, capacity: usize) -> CachedStore {
        CachedStore {
            inner,
            kept: Mutex::new(Kept::default()),
            capacity: capacity.max(1),
            hits: AtomicU64::new(0),
            misses: AtomicU64::new(0),
        }
    }

    /// The counts of reads answered from memory and from the database.
    pub fn stats(&self) -> CacheStats {
        CacheStats {
            hits: self.hits.load(Ordering::Relaxed),
            misses: self.misses.load(Ordering::Relaxed),
            kept: self.lock().records.len() as u64,
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Kept> {
        self.kept.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Keeps `record` unless a newer one is kept, or (`since`) a case was forgotten after the
    /// read that produced it began.
    fn keep(&self, record: &CaseRecord, since: Option<u64>) {
        let mut kept = self.lock();
        if since.is_some_and(|epoch| epoch != kept.epoch) {
            return;
        }
        match kept.records.get(&record.id) {
            Some(old) if old.version >= record.version => return,
            Some(_) => {}
            None if kept.records.len() >= self.capacity => kept.records.clear(),
            None => {}
        }
        kept.records.insert(record.id.clone(), record.clone());
    }

    /// Runs a write of case `id`: keeps the record it answers; forgets the case if it fails or
    /// is dropped before it answers (it may still have committed).
    async fn write(
        &self,
        id: &CaseId,
        write: impl std::future::Future<Output = Result<CaseRecord, StoreError>>,
    ) -> Result<CaseRecord, StoreError> {
        let mut guard = ForgetUnlessAnswered { store: self, id, armed: true };
        let written = write.await;
        guard.armed = false;
        match &written {
            Ok(record) => self.keep(record, None),
            Err(_) => self.forget(id),
        }
        written
    }

    fn forget(&self, id: &CaseId) {
        let mut kept = self.lock();
        kept.records.remove(id);
        kept.epoch += 1;
    }
}

/// Forgets the case when dropped armed: an update whose future was dropped may still commit.
struct ForgetUnlessAnswered<'a> {
    store: &'a CachedStore,
    id: &'a CaseId,
    armed: bool,
}

impl Drop for ForgetUnlessAnswered<'_> {
    fn drop(&mut self) {
        if self.armed {
            self.store.forget(self.id);
        }
    }
}

#[async_trait::async_trait]
impl Store for CachedStore {
    async fn create_case(&self, case: NewCase, first_events: Vec<NewEvent>) -> Result<CaseRecord, StoreError> {
        let id = case.id.clone();
        self.write(&id, self.inner.create_case(case, first_events)).await
    }

    async fn load_case(&self, id: &CaseId) -> Result<Option<CaseRecord>, StoreError> {
        let since = {
            let kept = self.lock();
            if let Some(record) = kept.records.get(id) {
                self.hits.fetch_add(1, Ordering::Relaxed);
                return Ok(Some(record.clone()));
            }
            kept.epoch
        };
        self.misses.fetch_add(1, Ordering::Relaxed);
        let loaded = self.inner.load_case(id).await?;
        if let Some(record) = &loaded {
            self.keep(record, Some(since));
        }
        Ok(loaded)
    }

    async fn update_case(&self, id: &CaseId, update: CaseUpdate) -> Result<CaseRecord, StoreError> {
        self.write(id, self.inner.update_case(id, update)).await
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

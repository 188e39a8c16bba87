//! Storage for custodia: cases (snapshot + event list) in SQLite or PostgreSQL, and evidence blobs in an
//! object store.
//!
//! The store is byte-oriented: it does not know the case crate. A case is stored as an opaque snapshot
//! plus a few names used for listing (node, kind, state) and a version number for optimistic concurrency;
//! its events are stored whole (their exact bytes and commitment salt) with the bookkeeping of their
//! commitments (log index, reveal-by day, revealed).
//!
//! Invariants, for every backend (checked by one conformance suite run on both):
//! - a version number only grows, by one per successful update; an update that lost the race changes
//!   nothing and fails with [`StoreError::VersionConflict`];
//! - a case's events are numbered 1, 2, 3, ... without gaps, and are written in the same transaction as the
//!   snapshot they lead to: both or neither;
//! - an event's bytes, salt, kind and reveal-by day never change; its log index, once set, never changes;
//!   once revealed it stays revealed;
//! - a write that returned `Ok` is on disk (SQLite `synchronous=FULL`, PostgreSQL `synchronous_commit`
//!   as configured by the server, on by default).
#![forbid(unsafe_code)]

mod blob;
mod cached;
mod error;
mod model;
mod pg_conns;
mod postgres;
mod rows;
mod sqlite;

pub use blob::{BlobInfo, BlobStore, DEFAULT_PART_SIZE};
pub use cached::{CacheStats, CachedStore, DEFAULT_KEPT_CASES};
pub use error::{BlobError, StoreError};
pub use model::{
    AccessRecord, CaseFilter, CaseId, CaseRecord, CaseUpdate, Cursor, DayNumber, EventRecord, MAX_EVENTS_PER_WRITE,
    MAX_NAME_LEN, MAX_PAGE, NewAccess, NewCase, NewEvent, Page, UnixTime,
};
pub use postgres::{BatchStats, PostgresOptions, PostgresStore};
pub use sqlite::{SqliteOptions, SqliteSettings, SqliteStore};

/// Where cases and their events live. Implemented by [`SqliteStore`] and [`PostgresStore`].
///
/// A write whose future is dropped after it was handed to the database may still be committed: after a
/// timeout or a cancelled request, reload the case to learn whether it was (its version tells).
#[async_trait::async_trait]
pub trait Store: Send + Sync + std::fmt::Debug {
    /// Creates a case at version 1 with its first events (numbered from 1), atomically.
    /// Fails with [`StoreError::CaseExists`] if the id is taken.
    async fn create_case(&self, case: NewCase, first_events: Vec<NewEvent>) -> Result<CaseRecord, StoreError>;

    /// The case, or `None` if there is none with this id.
    async fn load_case(&self, id: &CaseId) -> Result<Option<CaseRecord>, StoreError>;

    /// Writes a new state and snapshot and appends events, atomically, if and only if the stored version is
    /// `update.expected_version`; the version becomes one more. Otherwise nothing changes and the error is
    /// [`StoreError::VersionConflict`] (or [`StoreError::CaseNotFound`]).
    async fn update_case(&self, id: &CaseId, update: CaseUpdate) -> Result<CaseRecord, StoreError>;

    /// All events of a case in order (empty if the case does not exist).
    async fn events(&self, id: &CaseId) -> Result<Vec<EventRecord>, StoreError>;

    /// Cases matching `filter`, in creation order, `limit` (1..=[`MAX_PAGE`]) at a time; pass the returned
    /// cursor back to get the next page. A cursor this store did not make is [`StoreError::BadCursor`].
    async fn list_cases(
        &self,
        filter: &CaseFilter,
        cursor: Option<&Cursor>,
        limit: u32,
    ) -> Result<Page<CaseRecord>, StoreError>;

    /// Records where the event's commitment was logged. Setting the same index again is a no-op; a different
    /// one is [`StoreError::LogIndexConflict`].
    async fn set_log_index(&self, id: &CaseId, seq: u64, log_index: u64) -> Result<(), StoreError> {
        self.set_log_indices(id, &[(seq, log_index)]).await
    }

    /// [`Store::set_log_index`] for several events of one case (`(seq, log_index)` pairs), in one
    /// transaction: if one is refused, none is set.
    async fn set_log_indices(&self, id: &CaseId, indices: &[(u64, u64)]) -> Result<(), StoreError>;

    /// Marks the event revealed (its salt and bytes published). Idempotent.
    async fn mark_revealed(&self, id: &CaseId, seq: u64) -> Result<(), StoreError>;

    /// Events whose reveal-by day is `on` or earlier and that are not revealed, oldest reveal-by first.
    async fn events_due_for_reveal(&self, on: DayNumber) -> Result<Vec<EventRecord>, StoreError>;

    /// Up to `limit` events whose commitment has no log index yet, in write order (to log after a restart).
    async fn events_not_logged(&self, limit: u32) -> Result<Vec<EventRecord>, StoreError>;

    /// Records accesses to cases (their commitments already logged), atomically. A case that does not exist is
    /// [`StoreError::CaseNotFound`] and records nothing.
    async fn record_accesses(&self, accesses: Vec<NewAccess>) -> Result<(), StoreError>;

    /// A case's accesses, in the order recorded (empty if the case does not exist).
    async fn accesses(&self, id: &CaseId) -> Result<Vec<AccessRecord>, StoreError>;
}

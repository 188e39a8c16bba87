//! What can go wrong in the store.

use crate::model::CaseId;

/// An error from a [`crate::Store`].
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// No case has this id.
    #[error("case {0} not found")]
    CaseNotFound(CaseId),
    /// A case with this id already exists; nothing was written.
    #[error("case {0} already exists")]
    CaseExists(CaseId),
    /// Someone else updated the case first; nothing was written. Reload and retry.
    #[error("version conflict on case {id}: expected version {expected}, the stored version is {actual}")]
    VersionConflict {
        /// The case.
        id: CaseId,
        /// The version the update expected.
        expected: u64,
        /// The version stored when the update was refused.
        actual: u64,
    },
    /// The case has no event with this number.
    #[error("event {seq} of case {id} not found")]
    EventNotFound {
        /// The case.
        id: CaseId,
        /// The event number asked for.
        seq: u64,
    },
    /// The event's commitment is already recorded at another log index; a log index never changes.
    #[error("event {seq} of case {id} is already logged at index {existing}, not {requested}")]
    LogIndexConflict {
        /// The case.
        id: CaseId,
        /// The event number.
        seq: u64,
        /// The index already stored.
        existing: u64,
        /// The index the caller tried to set.
        requested: u64,
    },
    /// A listing cursor that this store did not produce.
    #[error("bad cursor: {0}")]
    BadCursor(&'static str),
    /// An argument outside what the store accepts.
    #[error("invalid input: {0}")]
    Invalid(String),
    /// Stored data that breaks the store's invariants (changed outside the store?).
    #[error("stored data is corrupt: {0}")]
    Corrupt(String),
    /// The database refused or failed.
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    /// The schema migrations could not be applied.
    #[error("database migration failed: {0}")]
    Migration(#[from] sqlx::migrate::MigrateError),
    /// The store's writer task has stopped (the store is shutting down).
    #[error("the store is closed")]
    Closed,
    /// Another process already holds the database (or schema) for itself.
    #[error("the database is in use: {0}")]
    InUse(String),
}

/// An error from a [`crate::BlobStore`].
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BlobError {
    /// No blob has this key.
    #[error("blob {0} not found")]
    NotFound(String),
    /// A key that is not a valid object path.
    #[error("invalid blob key {key:?}: {reason}")]
    InvalidKey {
        /// The key given.
        key: String,
        /// Why it was refused.
        reason: String,
    },
    /// A byte range outside the blob or reversed.
    #[error("invalid range {start}..{end} for blob {key} of {size} bytes")]
    InvalidRange {
        /// The key.
        key: String,
        /// Range start.
        start: u64,
        /// Range end (exclusive).
        end: u64,
        /// The blob's size.
        size: u64,
    },
    /// A blob store URL or option that cannot be used.
    #[error("blob store configuration: {0}")]
    Config(String),
    /// Reading the data to store failed.
    #[error("reading the blob's data failed: {0}")]
    Read(#[source] std::io::Error),
    /// The object store failed.
    #[error("object store error: {0}")]
    Store(#[source] object_store::Error),
}

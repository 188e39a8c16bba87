//! The SQLite backend: one file in WAL mode, `synchronous=FULL`, foreign keys on.
//!
//! Reads go through a pool of connections (WAL lets them run beside the writer). Every write goes to one
//! writer task that owns the only writing connection: it takes the writes waiting in its queue (up to
//! [`SqliteOptions::max_batch`]), applies them in one `BEGIN IMMEDIATE` transaction and commits once (group
//! commit: one fsync for the whole batch), then answers each caller. A write that is refused (version
//! conflict, unknown case, ...) changes nothing and does not disturb the others in its batch; if the
//! database itself fails during a batch, the batch is rolled back and each write is retried alone, so one
//! bad write never fails another. `BEGIN IMMEDIATE` plus a busy timeout also keeps other processes that
//! open the same file (a CLI beside the server) from failing with "database is locked".

use std::path::{Path, PathBuf};
use std::str::FromStr as _;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{Connection as _, Row as _, SqliteConnection};
use tokio::sync::{mpsc, oneshot};

use crate::model::{self, check_filter, check_new_case, check_update, log_index_refused, page, refused, to_db};
use crate::rows::{access_from_row, case_from_row, event_from_row};
use crate::{
    AccessRecord, BatchStats, CaseFilter, CaseId, CaseRecord, CaseUpdate, Cursor, DayNumber, EventRecord, NewAccess,
    NewCase, NewEvent, Page, Store, StoreError,
};

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/sqlite");

/// How to open a [`SqliteStore`].
#[derive(Clone, Debug)]
pub struct SqliteOptions {
    /// Connections for reads (default 4).
    pub readers: u32,
    /// The most writes committed together in one transaction (default 512).
    pub max_batch: usize,
    /// How long a write waits for another process holding the write lock (default 5 s).
    pub busy_timeout: Duration,
}

impl Default for SqliteOptions {
    fn default() -> SqliteOptions {
        SqliteOptions { readers: 4, max_batch: 512, busy_timeout: Duration::from_secs(5) }
    }
}

/// What [`SqliteStore::settings`] reports.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SqliteSettings {
    /// `wal`.
    pub journal_mode: String,
    /// `FULL`: every commit is fsynced.
    pub synchronous: &'static str,
    /// `true`.
    pub foreign_keys: bool,
}

/// Cases in a SQLite file. See the module documentation for how writes are made durable and concurrent.
#[derive(Debug)]
pub struct SqliteStore {
    path: PathBuf,
    readers: SqlitePool,
    writer: mpsc::Sender<Pending>,
    stats: Arc<Counters>,
}

#[derive(Debug, Default)]
struct Counters {
    batches: AtomicU64,
    batched_writes: AtomicU64,
    retried_alone: AtomicU64,
}

#[derive(Debug)]
enum WriteOp {
    Create(NewCase, Vec<NewEvent>),
    Update(CaseId, CaseUpdate),
    SetLogIndices(CaseId, Vec<(u64, u64)>),
    MarkRevealed(CaseId, u64),
    RecordAccesses(Vec<NewAccess>),
}

#[derive(Debug)]
enum Outcome {
    Case(CaseRecord),
    Done,
}

#[derive(Debug)]
struct Pending {
    op: WriteOp,
    reply: oneshot::Sender<Result<Outcome, StoreError>>,
}

impl SqliteStore {
    /// Opens (creating if needed) the database file at `path` and brings its schema up to date.
    pub async fn open(path: impl AsRef<Path>, options: SqliteOptions) -> Result<SqliteStore, StoreError> {
        if options.readers == 0 || options.max_batch == 0 {
            return Err(StoreError::Invalid("SQLite readers and max_batch must be at least 1".into()));
        }
        let path = path.as_ref().to_path_buf();
        let connect = SqliteConnectOptions::from_str("sqlite:")?
            .filename(&path)
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Full)
            .foreign_keys(true)
            .busy_timeout(options.busy_timeout);
        let mut writer = SqliteConnection::connect_with(&connect).await?;
        MIGRATOR.run(&mut writer).await?;
        let readers = SqlitePoolOptions::new().max_connections(options.readers).connect_with(connect).await?;
        let (tx, rx) = mpsc::channel(options.max_batch.saturating_mul(4));
        let stats = Arc::new(Counters::default());
        tokio::spawn(run_writer(writer, rx, options.max_batch, stats.clone()));
        Ok(SqliteStore { path, readers, writer: tx, stats })
    }

    /// Counts of writes committed together (for metrics): `batched_updates` counts every write (an update,
    /// a creation, a log index, a reveal) committed in a transaction with others.
    pub fn batch_stats(&self) -> BatchStats {
        BatchStats {
            batches: self.stats.batches.load(Ordering::Relaxed),
            batched_updates: self.stats.batched_writes.load(Ordering::Relaxed),
            retried_alone: self.stats.retried_alone.load(Ordering::Relaxed),
            // The one writer commits accesses and log indices with the rest (counted above).
            side_batches: 0,
            side_batched: 0,
        }
    }

    /// Writes a transactionally consistent copy of the database file `db` to `out` (which must not
    /// exist) with `VACUUM INTO`, through a read-only connection of its own, so it works while a node
    /// writes to `db`. The copy is a plain database file (no WAL to go with it).
    pub async fn snapshot(db: &Path, out: &Path) -> Result<(), StoreError> {
        if out.exists() {
            return Err(StoreError::Invalid(format!("{}: exists, refusing to overwrite", out.display())));
        }
        if !db.is_file() {
            return Err(StoreError::Invalid(format!(
                "{}: no such database file (has the node ever started?)",
                db.display()
            )));
        }
        let connect = SqliteConnectOptions::from_str("sqlite:")?
            .filename(db)
            .read_only(true)
            .busy_timeout(std::time::Duration::from_secs(30));
        let mut conn = SqliteConnection::connect_with(&connect).await?;
        let target = out.to_str().ok_or_else(|| StoreError::Invalid(format!("{}: not UTF-8", out.display())))?;
        sqlx::query("VACUUM INTO ?").bind(target).execute(&mut conn).await?;
        conn.close().await?;
        Ok(())
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The settings the store's connections run with, read back from SQLite (to log at start-up).
    pub async fn settings(&self) -> Result<SqliteSettings, StoreError> {
        let mut conn = self.readers.acquire().await?;
        let journal_mode: String = sqlx::query_scalar("PRAGMA journal_mode").fetch_one(&mut *conn).await?;
        let synchronous: i64 = sqlx::query_scalar("PRAGMA synchronous").fetch_one(&mut *conn).await?;
        let foreign_keys: i64 = sqlx::query_scalar("PRAGMA foreign_keys").fetch_one(&mut *conn).await?;
        let synchronous = match synchronous {
            0 => "OFF",
            1 => "NORMAL",
            2 => "FULL",
            3 => "EXTRA",
            _ => "unknown",
        };
        Ok(SqliteSettings { journal_mode, synchronous, foreign_keys: foreign_keys == 1 })
    }

    /// Checks the file (`PRAGMA integrity_check`, `foreign_key_check`) and the store's invariants: every
    /// case has exactly the events `1..=last_seq`.
    pub async fn check_consistency(&self) -> Result<(), StoreError> {
        let mut conn = self.readers.acquire().await?;
        let integrity: String = sqlx::query_scalar("PRAGMA integrity_check").fetch_one(&mut *conn).await?;
        if integrity != "ok" {
            return Err(StoreError::Corrupt(format!("SQLite integrity check: {integrity}")));
        }
        if sqlx::query("PRAGMA foreign_key_check").fetch_optional(&mut *conn).await?.is_some() {
            return Err(StoreError::Corrupt("an event refers to a case that does not exist".into()));
        }
        let bad: Option<String> = sqlx::query_scalar(
            "SELECT c.id FROM cases c LEFT JOIN events e ON e.case_id = c.id GROUP BY c.id
             HAVING count(e.seq) <> c.last_seq OR coalesce(max(e.seq), 0) <> c.last_seq LIMIT 1",
        )
        .fetch_optional(&mut *conn)
        .await?;
        match bad {
            Some(id) => Err(StoreError::Corrupt(format!("case {id} does not have exactly the events 1..=last_seq"))),
            None => Ok(()),
        }
    }

    async fn write(&self, op: WriteOp) -> Result<Outcome, StoreError> {
        let (reply, answer) = oneshot::channel();
        self.writer.send(Pending { op, reply }).await.map_err(|_| StoreError::Closed)?;
        answer.await.map_err(|_| StoreError::Closed)?
    }
}

async fn run_writer(
    mut conn: SqliteConnection,
    mut queue: mpsc::Receiver<Pending>,
    max_batch: usize,
    stats: Arc<Counters>,
) {
    let mut batch = Vec::with_capacity(max_batch);
    while queue.recv_many(&mut batch, max_batch).await > 0 {
        match apply_batch(&mut conn, &batch).await {
            Ok(outcomes) => {
                if batch.len() > 1 {
                    stats.batches.fetch_add(1, Ordering::Relaxed);
                    stats.batched_writes.fetch_add(batch.len() as u64, Ordering::Relaxed);
                }
                for (pending, outcome) in batch.drain(..).zip(outcomes) {
                    // A caller that went away no longer needs the answer; its write is committed anyway.
                    let _ = pending.reply.send(outcome);
                }
            }
            Err(error) if batch.len() == 1 => {
                if let Some(pending) = batch.pop() {
                    let _ = pending.reply.send(Err(StoreError::Database(error)));
                }
            }
            Err(_) => {
                stats.retried_alone.fetch_add(batch.len() as u64, Ordering::Relaxed);
                for pending in batch.drain(..) {
                    let outcome = match apply_batch(&mut conn, std::slice::from_ref(&pending)).await {
                        Ok(mut v) => v.pop().unwrap_or(Err(StoreError::Closed)),
                        Err(error) => Err(StoreError::Database(error)),
                    };
                    let _ = pending.reply.send(outcome);
                }
            }
        }
    }
    conn.close().await.ok();
}

/// Applies the writes in one transaction. `Err` only when the database fails (then nothing is written);
/// refused writes are `Ok(Err(..))` entries and change nothing.
async fn apply_batch(
    conn: &mut SqliteConnection,
    batch: &[Pending],
) -> Result<Vec<Result<Outcome, StoreError>>, sqlx::Error> {
    let mut tx = conn.begin_with("BEGIN IMMEDIATE").await?;
    let mut outcomes = Vec::with_capacity(batch.len());
    // The events of the whole batch are inserted together at the end, many rows per statement.
    let mut events = Vec::new();
    for pending in batch {
        outcomes.push(apply(&mut tx, &pending.op, &mut events).await?);
    }
    insert_events(&mut tx, &events).await?;
    tx.commit().await?;
    Ok(outcomes)
}

/// An event row to insert: case id, seq, event.
type EventRow<'a> = (&'a str, i64, &'a NewEvent);

async fn apply<'a>(
    conn: &mut SqliteConnection,
    op: &'a WriteOp,
    rows: &mut Vec<EventRow<'a>>,
) -> Result<Result<Outcome, StoreError>, sqlx::Error> {
    match op {
        WriteOp::Create(case, events) => create(conn, case, events, rows).await,
        WriteOp::Update(id, update) => update_case(conn, id, update, rows).await,
        WriteOp::SetLogIndices(id, indices) => set_log_indices(conn, id, indices).await,
        WriteOp::RecordAccesses(accesses) => {
            for a in accesses {
                let exists: Option<i64> = sqlx::query_scalar("SELECT 1 FROM cases WHERE id = ?1")
                    .bind(a.case_id.as_str())
                    .fetch_optional(&mut *conn)
                    .await?;
                if exists.is_none() {
                    return Ok(Err(StoreError::CaseNotFound(a.case_id.clone())));
                }
            }
            for a in accesses {
                sqlx::query(
                    "INSERT INTO accesses (case_id, at, role, what, bytes, salt, log_index)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                )
                .bind(a.case_id.as_str())
                .bind(a.at.0)
                .bind(a.role.as_str())
                .bind(a.what.as_str())
                .bind(a.bytes.as_slice())
                .bind(a.salt.as_slice())
                .bind(a.log_index as i64)
                .execute(&mut *conn)
                .await?;
            }
            Ok(Ok(Outcome::Done))
        }
        WriteOp::MarkRevealed(id, seq) => {
            let done = sqlx::query("UPDATE events SET revealed = 1 WHERE case_id = ?1 AND seq = ?2")
                .bind(id.as_str())
                .bind(*seq as i64)
                .execute(&mut *conn)
                .await?;
            Ok(if done.rows_affected() == 0 {
                Err(StoreError::EventNotFound { id: id.clone(), seq: *seq })
            } else {
                Ok(Outcome::Done)
            })
        }
    }
}

async fn create<'a>(
    conn: &mut SqliteConnection,
    case: &'a NewCase,
    events: &'a [NewEvent],
    rows: &mut Vec<EventRow<'a>>,
) -> Result<Result<Outcome, StoreError>, sqlx::Error> {
    let n = events.len() as i64;
    let done = sqlx::query(
        "INSERT INTO cases (id, node, kind, state, version, last_seq, snapshot, created_at, updated_at, opened_by)
         VALUES (?1, ?2, ?3, ?4, 1, ?5, ?6, ?7, ?7, ?8) ON CONFLICT (id) DO NOTHING",
    )
    .bind(case.id.as_str())
    .bind(case.node.as_str())
    .bind(case.kind.as_str())
    .bind(case.state.as_str())
    .bind(n)
    .bind(case.snapshot.as_slice())
    .bind(case.created_at.0)
    .bind(case.opened_by.as_deref())
    .execute(&mut *conn)
    .await?;
    if done.rows_affected() == 0 {
        return Ok(Err(StoreError::CaseExists(case.id.clone())));
    }
    rows.extend((1..).zip(events).map(|(seq, e)| (case.id.as_str(), seq, e)));
    Ok(Ok(Outcome::Case(CaseRecord {
        id: case.id.clone(),
        node: case.node.clone(),
        kind: case.kind.clone(),
        state: case.state.clone(),
        version: 1,
        last_seq: events.len() as u64,
        snapshot: case.snapshot.clone(),
        created_at: case.created_at,
        updated_at: case.created_at,
        opened_by: case.opened_by.clone(),
    })))
}

async fn update_case<'a>(
    conn: &mut SqliteConnection,
    id: &'a CaseId,
    update: &'a CaseUpdate,
    rows: &mut Vec<EventRow<'a>>,
) -> Result<Result<Outcome, StoreError>, sqlx::Error> {
    let n = update.events.len() as i64;
    let row = sqlx::query(
        "UPDATE cases SET version = version + 1, state = ?3, snapshot = ?4, updated_at = ?5, last_seq = last_seq + ?6
         WHERE id = ?1 AND version = ?2 RETURNING node, kind, version, last_seq, created_at, opened_by",
    )
    .bind(id.as_str())
    .bind(update.expected_version as i64)
    .bind(update.state.as_str())
    .bind(update.snapshot.as_slice())
    .bind(update.at.0)
    .bind(n)
    .fetch_optional(&mut *conn)
    .await?;
    let Some(row) = row else {
        let actual: Option<i64> = sqlx::query_scalar("SELECT version FROM cases WHERE id = ?1")
            .bind(id.as_str())
            .fetch_optional(conn)
            .await?;
        return Ok(Err(refused(id, update.expected_version, actual)));
    };
    let version: i64 = row.try_get("version")?;
    let last_seq: i64 = row.try_get("last_seq")?;
    rows.extend((last_seq - n + 1..).zip(&update.events).map(|(seq, e)| (id.as_str(), seq, e)));
    let record = (|| {
        Ok(CaseRecord {
            id: id.clone(),
            node: row.try_get("node")?,
            kind: row.try_get("kind")?,
            state: update.state.clone(),
            version: model::from_db("version", version)?,
            last_seq: model::from_db("last_seq", last_seq)?,
            snapshot: update.snapshot.clone(),
            created_at: crate::UnixTime(row.try_get("created_at")?),
            updated_at: update.at,
            opened_by: row.try_get("opened_by")?,
        })
    })();
    Ok(record.map(Outcome::Case))
}

async fn insert_events(conn: &mut SqliteConnection, rows: &[EventRow<'_>]) -> Result<(), sqlx::Error> {
    let mut rest = rows;
    while !rest.is_empty() {
        // A few fixed statement sizes, so that every statement is prepared once and cached.
        let n = INSERT_CHUNKS.into_iter().find(|&n| n <= rest.len()).unwrap_or(1);
        let (chunk, tail) = rest.split_at(n);
        let mut query = sqlx::query(sqlx::AssertSqlSafe(insert_events_sql(n)));
        for &(id, seq, e) in chunk {
            query = query
                .bind(id)
                .bind(seq)
                .bind(e.kind.as_str())
                .bind(e.at.0)
                .bind(e.bytes.as_slice())
                .bind(e.salt.as_slice())
                .bind(e.reveal_by.map(|d| d.0));
        }
        query.execute(&mut *conn).await?;
        rest = tail;
    }
    Ok(())
}

/// Rows per event insert statement (7 parameters a row, far below SQLite's limit of 32,766).
const INSERT_CHUNKS: [usize; 7] = [64, 32, 16, 8, 4, 2, 1];

fn insert_events_sql(rows: usize) -> String {
    let mut sql = String::from("INSERT INTO events (case_id, seq, kind, at, bytes, salt, reveal_by) VALUES ");
    for i in 0..rows {
        sql.push_str(if i == 0 { "(?, ?, ?, ?, ?, ?, ?)" } else { ", (?, ?, ?, ?, ?, ?, ?)" });
    }
    sql
}

/// Checks every pair first, so that a refused one leaves the others unset.
async fn set_log_indices(
    conn: &mut SqliteConnection,
    id: &CaseId,
    indices: &[(u64, u64)],
) -> Result<Result<Outcome, StoreError>, sqlx::Error> {
    for &(seq, log_index) in indices {
        let existing: Option<Option<i64>> =
            sqlx::query_scalar("SELECT log_index FROM events WHERE case_id = ?1 AND seq = ?2")
                .bind(id.as_str())
                .bind(seq as i64)
                .fetch_optional(&mut *conn)
                .await?;
        if !matches!(existing, Some(None)) && existing != Some(Some(log_index as i64)) {
            return Ok(Err(log_index_refused(id, seq, log_index, existing)));
        }
    }
    for &(seq, log_index) in indices {
        sqlx::query("UPDATE events SET log_index = ?3 WHERE case_id = ?1 AND seq = ?2 AND log_index IS NULL")
            .bind(id.as_str())
            .bind(seq as i64)
            .bind(log_index as i64)
            .execute(&mut *conn)
            .await?;
    }
    Ok(Ok(Outcome::Done))
}

fn outcome_case(outcome: Outcome) -> Result<CaseRecord, StoreError> {
    match outcome {
        Outcome::Case(c) => Ok(c),
        Outcome::Done => Err(StoreError::Corrupt("the writer answered a case write without the case".into())),
    }
}

#[async_trait::async_trait]
impl Store for SqliteStore {
    async fn create_case(&self, case: NewCase, first_events: Vec<NewEvent>) -> Result<CaseRecord, StoreError> {
        check_new_case(&case, &first_events)?;
        outcome_case(self.write(WriteOp::Create(case, first_events)).await?)
    }

    async fn load_case(&self, id: &CaseId) -> Result<Option<CaseRecord>, StoreError> {
        let row = sqlx::query(
            "SELECT id, node, kind, state, version, last_seq, snapshot, created_at, updated_at, opened_by FROM cases WHERE id = ?1",
        )
        .bind(id.as_str())
        .fetch_optional(&self.readers)
        .await?;
        row.map(|row| case_from_row!(&row)).transpose()
    }

    async fn update_case(&self, id: &CaseId, update: CaseUpdate) -> Result<CaseRecord, StoreError> {
        check_update(&update)?;
        outcome_case(self.write(WriteOp::Update(id.clone(), update)).await?)
    }

    async fn events(&self, id: &CaseId) -> Result<Vec<EventRecord>, StoreError> {
        let rows = sqlx::query(
            "SELECT case_id, seq, kind, at, bytes, salt, reveal_by, log_index, revealed FROM events
             WHERE case_id = ?1 ORDER BY seq",
        )
        .bind(id.as_str())
        .fetch_all(&self.readers)
        .await?;
        rows.iter().map(|row| event_from_row!(row)).collect()
    }

    async fn list_cases(
        &self,
        filter: &CaseFilter,
        cursor: Option<&Cursor>,
        limit: u32,
    ) -> Result<Page<CaseRecord>, StoreError> {
        check_filter(filter, limit)?;
        let after = cursor.map(Cursor::position).transpose()?;
        let rows = sqlx::query(
            "SELECT id, node, kind, state, version, last_seq, snapshot, created_at, updated_at, opened_by FROM cases
             WHERE (?1 IS NULL OR node = ?1) AND (?2 IS NULL OR kind = ?2) AND (?3 IS NULL OR state = ?3)
               AND (?7 IS NULL OR opened_by = ?7)
               AND (?4 IS NULL OR (created_at, id) > (?4, ?5))
             ORDER BY created_at, id LIMIT ?6",
        )
        .bind(filter.node.as_deref())
        .bind(filter.kind.as_deref())
        .bind(filter.state.as_deref())
        .bind(after.as_ref().map(|a| a.0.0))
        .bind(after.as_ref().map(|a| a.1.as_str().to_owned()))
        .bind(i64::from(limit) + 1)
        .bind(filter.opened_by.as_deref())
        .fetch_all(&self.readers)
        .await?;
        page(rows.iter().map(|row| case_from_row!(row)).collect::<Result<Vec<_>, _>>()?, limit)
    }

    async fn set_log_indices(&self, id: &CaseId, indices: &[(u64, u64)]) -> Result<(), StoreError> {
        for &(seq, log_index) in indices {
            to_db("seq", seq)?;
            to_db("log index", log_index)?;
        }
        if indices.is_empty() {
            return Ok(());
        }
        self.write(WriteOp::SetLogIndices(id.clone(), indices.to_vec())).await.map(drop)
    }

    async fn mark_revealed(&self, id: &CaseId, seq: u64) -> Result<(), StoreError> {
        to_db("seq", seq)?;
        self.write(WriteOp::MarkRevealed(id.clone(), seq)).await.map(drop)
    }

    async fn events_due_for_reveal(&self, on: DayNumber) -> Result<Vec<EventRecord>, StoreError> {
        let rows = sqlx::query(
            "SELECT case_id, seq, kind, at, bytes, salt, reveal_by, log_index, revealed FROM events
             WHERE revealed = 0 AND reveal_by IS NOT NULL AND reveal_by <= ?1 ORDER BY reveal_by, case_id, seq",
        )
        .bind(on.0)
        .fetch_all(&self.readers)
        .await?;
        rows.iter().map(|row| event_from_row!(row)).collect()
    }

    async fn events_not_logged(&self, limit: u32) -> Result<Vec<EventRecord>, StoreError> {
        let rows = sqlx::query(
            "SELECT case_id, seq, kind, at, bytes, salt, reveal_by, log_index, revealed FROM events
             WHERE log_index IS NULL ORDER BY wid LIMIT ?1",
        )
        .bind(i64::from(limit))
        .fetch_all(&self.readers)
        .await?;
        rows.iter().map(|row| event_from_row!(row)).collect()
    }

    async fn record_accesses(&self, accesses: Vec<NewAccess>) -> Result<(), StoreError> {
        for a in &accesses {
            to_db("log index", a.log_index)?;
        }
        if accesses.is_empty() {
            return Ok(());
        }
        self.write(WriteOp::RecordAccesses(accesses)).await.map(drop)
    }

    async fn accesses(&self, id: &CaseId) -> Result<Vec<AccessRecord>, StoreError> {
        let rows = sqlx::query(
            "SELECT case_id, at, role, what, bytes, salt, log_index FROM accesses WHERE case_id = ?1 ORDER BY aid",
        )
        .bind(id.as_str())
        .fetch_all(&self.readers)
        .await?;
        rows.iter().map(|row| access_from_row!(row)).collect()
    }
}

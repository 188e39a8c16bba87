//! The PostgreSQL backend: a pool of connections; every write is one statement (a `WITH` query that updates
//! the case only if its version matches and appends the events in the same statement), so it is atomic
//! without an explicit transaction and costs one round trip. Concurrent writers are ordered by the row lock
//! on the case: the loser's `WHERE version = expected` no longer matches and it changes nothing.
//!
//! Case updates are queued and applied by a few writer tasks; each takes the updates waiting (up to
//! [`PostgresOptions::max_batch`], never two for the same case) and applies them with one statement, in
//! one transaction: one commit for many updates (group commit). Each update in the batch still succeeds
//! or is refused on its own (a version mismatch simply matches no row); if the statement itself fails (a
//! deadlock between two batches, say), it changed nothing and each of its updates is retried alone.
//!
//! Accesses and log indices (the small writes that follow a read or an update) are queued the same way and
//! applied by two more writer tasks: each takes what is waiting (up to `max_batch` requests) and writes it
//! with one statement (an `INSERT … UNNEST` of all the accesses and an `UPDATE … FROM UNNEST` of all the
//! indices), so that a loaded node commits once for many requests. Each request's outcome is still its own:
//! if the statement fails or would set fewer indices than asked, it changes nothing and every request is
//! written alone, with its own error.
//! Durability is the server's: with `synchronous_commit = on` (the default) a commit returns after the WAL
//! is flushed, and concurrent commits share one flush (group commit).

use std::str::FromStr as _;

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use sqlx::Connection as _;
use sqlx::Row as _;
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};
use tokio::sync::{Mutex, mpsc, oneshot};

use crate::model::{check_filter, check_new_case, check_update, from_db, log_index_refused, page, refused, to_db};
use crate::pg_conns::Conns;
use crate::rows::{access_from_row, case_from_row, event_from_row};
use crate::{
    AccessRecord, CaseFilter, CaseId, CaseRecord, CaseUpdate, Cursor, DayNumber, EventRecord, NewAccess, NewCase,
    NewEvent, Page, Store, StoreError, UnixTime,
};

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/postgres");

/// How to connect a [`PostgresStore`].
#[derive(Clone, Debug)]
pub struct PostgresOptions {
    /// A `postgres://` URL.
    pub url: String,
    /// The schema to use (created if missing); `None` for the server's default search path.
    /// Letters, digits and `_`, not starting with a digit, at most 63 bytes.
    pub schema: Option<String>,
    /// The most connections in the pool (default 16).
    pub max_connections: u32,
    /// Tasks that write queued updates, each on its own connection (default 8, at most `max_connections`).
    pub update_writers: usize,
    /// The most updates one statement applies (default 64).
    pub max_batch: usize,
}

impl PostgresOptions {
    /// Options for `url` with the default schema and pool size.
    pub fn new(url: impl Into<String>) -> PostgresOptions {
        PostgresOptions { url: url.into(), schema: None, max_connections: 16, update_writers: 8, max_batch: 64 }
    }
}

/// Cases in a PostgreSQL database. See the module documentation for how updates are batched.
#[derive(Debug, Clone)]
pub struct PostgresStore {
    pool: PgPool,
    conns: Arc<Conns>,
    updates: mpsc::Sender<PendingUpdate>,
    side: mpsc::Sender<SideWrite>,
    stats: Arc<Counters>,
    /// The connection that holds the schema's advisory lock, once claimed.
    claim: Arc<Mutex<Option<sqlx::PgConnection>>>,
}

/// A write that follows a read or an update, queued for a side writer.
#[derive(Debug)]
enum SideWrite {
    Accesses(Vec<NewAccess>, oneshot::Sender<Result<(), StoreError>>),
    Indices(CaseId, Vec<(u64, u64)>, oneshot::Sender<Result<(), StoreError>>),
}

/// Tasks that write queued accesses and log indices.
const SIDE_WRITERS: usize = 2;

#[derive(Debug, Default)]
struct Counters {
    batches: AtomicU64,
    batched_updates: AtomicU64,
    retried_alone: AtomicU64,
    side_batches: AtomicU64,
    side_batched: AtomicU64,
}

/// How the update writers have been doing since the store was connected.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct BatchStats {
    /// Statements that applied several updates at once.
    pub batches: u64,
    /// Updates applied (or refused) by those statements.
    pub batched_updates: u64,
    /// Updates retried alone because their batch's statement failed.
    pub retried_alone: u64,
    /// Statements that wrote the accesses and log indices of several requests at once.
    pub side_batches: u64,
    /// Requests (a read's accesses, an update's log indices) written by those transactions.
    pub side_batched: u64,
}

#[derive(Debug)]
struct PendingUpdate {
    id: CaseId,
    update: CaseUpdate,
    reply: oneshot::Sender<Result<CaseRecord, StoreError>>,
}

fn check_schema(schema: &str) -> Result<(), StoreError> {
    let ok = !schema.is_empty()
        && schema.len() <= 63
        && !schema.starts_with(|c: char| c.is_ascii_digit())
        && schema.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
    if ok { Ok(()) } else { Err(StoreError::Invalid(format!("{schema:?} is not a usable schema name"))) }
}

impl PostgresStore {
    /// Connects, creates the schema if one is named and missing, and brings the tables up to date.
    pub async fn connect(options: PostgresOptions) -> Result<PostgresStore, StoreError> {
        if options.max_connections == 0 || options.update_writers == 0 || options.max_batch == 0 {
            return Err(StoreError::Invalid("max_connections, update_writers and max_batch must be at least 1".into()));
        }
        let mut connect = PgConnectOptions::from_str(&options.url)?;
        if let Some(schema) = &options.schema {
            check_schema(schema)?;
            let setup = PgPoolOptions::new().max_connections(1).connect_with(connect.clone()).await?;
            sqlx::query(sqlx::AssertSqlSafe(format!("CREATE SCHEMA IF NOT EXISTS \"{schema}\"")))
                .execute(&setup)
                .await?;
            setup.close().await;
            connect = connect.options([("search_path", schema.as_str())]);
        }
        // The pool runs the migrations and serves `pool()`; the store's statements run on
        // its own connections (`pg_conns`: no round trip when a connection is put back).
        let conns = Arc::new(Conns::new(connect.clone(), options.max_connections));
        let pool = PgPoolOptions::new().max_connections(options.max_connections).connect_with(connect).await?;
        MIGRATOR.run(&pool).await?;
        let (updates, queue) = mpsc::channel(options.max_batch.saturating_mul(options.update_writers));
        let queue = Arc::new(Mutex::new(queue));
        let writers = options.update_writers.min(usize::try_from(options.max_connections).unwrap_or(usize::MAX));
        let stats = Arc::new(Counters::default());
        for _ in 0..writers {
            tokio::spawn(run_update_writer(conns.clone(), queue.clone(), options.max_batch, stats.clone()));
        }
        let (side, side_queue) = mpsc::channel(options.max_batch.saturating_mul(SIDE_WRITERS));
        let side_queue = Arc::new(Mutex::new(side_queue));
        for _ in 0..SIDE_WRITERS {
            tokio::spawn(run_side_writer(conns.clone(), side_queue.clone(), options.max_batch, stats.clone()));
        }
        Ok(PostgresStore { pool, conns, updates, side, stats, claim: Arc::new(Mutex::new(None)) })
    }

    /// Claims the schema for this store alone: takes the schema's session advisory lock on a
    /// connection kept for as long as the store lives (claiming again is a no-op). Another
    /// store that claims the same schema, in this process or another, fails with
    /// [`StoreError::InUse`] until this one is dropped. A node claims its schema before
    /// keeping case records in memory ([`crate::CachedStore`]), which is coherent only for
    /// the only writer. The lock goes with its connection: if the server closes it, the claim
    /// is lost (and a second node could then start).
    pub async fn claim_exclusive(&self) -> Result<(), StoreError> {
        let mut claim = self.claim.lock().await;
        if claim.is_some() {
            return Ok(());
        }
        let mut conn = self.pool.acquire().await?.detach();
        let (taken, schema): (bool, String) = sqlx::query_as(
            "SELECT pg_try_advisory_lock(hashtextextended('custodia store ' || coalesce(current_schema(), ''), 0)),
                    coalesce(current_schema(), '')",
        )
        .fetch_one(&mut conn)
        .await?;
        if !taken {
            let _ = conn.close().await;
            return Err(StoreError::InUse(format!(
                "another custodia node uses schema {schema:?} of this database; give each node its own \
                 database or schema"
            )));
        }
        *claim = Some(conn);
        Ok(())
    }

    /// Counts of batched updates (for metrics).
    pub fn batch_stats(&self) -> BatchStats {
        BatchStats {
            batches: self.stats.batches.load(Ordering::Relaxed),
            batched_updates: self.stats.batched_updates.load(Ordering::Relaxed),
            retried_alone: self.stats.retried_alone.load(Ordering::Relaxed),
            side_batches: self.stats.side_batches.load(Ordering::Relaxed),
            side_batched: self.stats.side_batched.load(Ordering::Relaxed),
        }
    }

    /// The connection pool (to share it, or close it with `pool().close()`).
    pub fn pool(&self) -> &PgPool {
        &self.pool
    }

    /// Queues a write for the side writers and waits for its outcome.
    async fn side_write(
        &self,
        write: impl FnOnce(oneshot::Sender<Result<(), StoreError>>) -> SideWrite,
    ) -> Result<(), StoreError> {
        let (reply, outcome) = oneshot::channel();
        self.side.send(write(reply)).await.map_err(|_| StoreError::Invalid("the store is closed".into()))?;
        outcome.await.map_err(|_| StoreError::Invalid("the store's writer stopped".into()))?
    }

    /// Checks the store's invariants: every case has exactly the events `1..=last_seq`.
    pub async fn check_consistency(&self) -> Result<(), StoreError> {
        let bad: Option<String> = sqlx::query_scalar(
            "SELECT c.id FROM cases c LEFT JOIN events e ON e.case_id = c.id GROUP BY c.id
             HAVING count(e.seq) <> c.last_seq OR coalesce(max(e.seq), 0) <> c.last_seq LIMIT 1",
        )
        .fetch_optional(&self.pool)
        .await?;
        match bad {
            Some(id) => Err(StoreError::Corrupt(format!("case {id} does not have exactly the events 1..=last_seq"))),
            None => Ok(()),
        }
    }
}

/// The events as column arrays, for `unnest`.
struct EventColumns {
    kinds: Vec<String>,
    ats: Vec<i64>,
    bytes: Vec<Vec<u8>>,
    salts: Vec<Vec<u8>>,
    reveal_bys: Vec<Option<i64>>,
}

impl EventColumns {
    fn new(events: Vec<NewEvent>) -> EventColumns {
        let mut c = EventColumns {
            kinds: Vec::with_capacity(events.len()),
            ats: Vec::with_capacity(events.len()),
            bytes: Vec::with_capacity(events.len()),
            salts: Vec::with_capacity(events.len()),
            reveal_bys: Vec::with_capacity(events.len()),
        };
        for e in events {
            c.kinds.push(e.kind);
            c.ats.push(e.at.0);
            c.bytes.push(e.bytes);
            c.salts.push(e.salt.to_vec());
            c.reveal_bys.push(e.reveal_by.map(|d| d.0));
        }
        c
    }
}

#[async_trait::async_trait]
impl Store for PostgresStore {
    async fn create_case(&self, case: NewCase, first_events: Vec<NewEvent>) -> Result<CaseRecord, StoreError> {
        check_new_case(&case, &first_events)?;
        let mut c = self.conns.get().await?;
        let n = first_events.len() as i64;
        let cols = EventColumns::new(first_events);
        let row = sqlx::query(
            "WITH c AS (
                INSERT INTO cases (id, node, kind, state, version, last_seq, snapshot, created_at, updated_at, opened_by)
                VALUES ($1, $2, $3, $4, 1, $5, $6, $7, $7, $13) ON CONFLICT (id) DO NOTHING
                RETURNING id, node, kind, state, version, last_seq, snapshot, created_at, updated_at, opened_by
             ), e AS (
                INSERT INTO events (case_id, seq, kind, at, bytes, salt, reveal_by)
                SELECT c.id, t.ord, t.kind, t.at, t.bytes, t.salt, t.reveal_by
                FROM c, unnest($8::text[], $9::int8[], $10::bytea[], $11::bytea[], $12::int8[])
                     WITH ORDINALITY AS t(kind, at, bytes, salt, reveal_by, ord)
             )
             SELECT * FROM c",
        )
        .bind(case.id.as_str())
        .bind(&case.node)
        .bind(&case.kind)
        .bind(&case.state)
        .bind(n)
        .bind(&case.snapshot)
        .bind(case.created_at.0)
        .bind(cols.kinds)
        .bind(cols.ats)
        .bind(cols.bytes)
        .bind(cols.salts)
        .bind(cols.reveal_bys)
        .bind(case.opened_by.as_deref())
        .fetch_optional(c.conn())
        .await;
        c.keep_after(&row);
        let row = row?;
        match row {
            Some(row) => case_from_row!(&row),
            None => Err(StoreError::CaseExists(case.id)),
        }
    }

    async fn load_case(&self, id: &CaseId) -> Result<Option<CaseRecord>, StoreError> {
        let mut c = self.conns.get().await?;
        let row = sqlx::query(
            "SELECT id, node, kind, state, version, last_seq, snapshot, created_at, updated_at, opened_by FROM cases WHERE id = $1",
        )
        .bind(id.as_str())
        .fetch_optional(c.conn())
        .await;
        c.keep_after(&row);
        row?.map(|row| case_from_row!(&row)).transpose()
    }

    async fn update_case(&self, id: &CaseId, update: CaseUpdate) -> Result<CaseRecord, StoreError> {
        check_update(&update)?;
        let (reply, answer) = oneshot::channel();
        self.updates.send(PendingUpdate { id: id.clone(), update, reply }).await.map_err(|_| StoreError::Closed)?;
        answer.await.map_err(|_| StoreError::Closed)?
    }

    async fn events(&self, id: &CaseId) -> Result<Vec<EventRecord>, StoreError> {
        let mut c = self.conns.get().await?;
        let rows = sqlx::query(
            "SELECT case_id, seq, kind, at, bytes, salt, reveal_by, log_index, revealed FROM events
             WHERE case_id = $1 ORDER BY seq",
        )
        .bind(id.as_str())
        .fetch_all(c.conn())
        .await;
        c.keep_after(&rows);
        rows?.iter().map(|row| event_from_row!(row)).collect()
    }

    async fn list_cases(
        &self,
        filter: &CaseFilter,
        cursor: Option<&Cursor>,
        limit: u32,
    ) -> Result<Page<CaseRecord>, StoreError> {
        check_filter(filter, limit)?;
        let after = cursor.map(Cursor::position).transpose()?;
        let mut c = self.conns.get().await?;
        let rows = sqlx::query(
            "SELECT id, node, kind, state, version, last_seq, snapshot, created_at, updated_at, opened_by FROM cases
             WHERE ($1::text IS NULL OR node = $1) AND ($2::text IS NULL OR kind = $2)
               AND ($3::text IS NULL OR state = $3) AND ($7::text IS NULL OR opened_by = $7)
               AND ($4::int8 IS NULL OR (created_at, id) > ($4, $5::text))
             ORDER BY created_at, id LIMIT $6",
        )
        .bind(filter.node.as_deref())
        .bind(filter.kind.as_deref())
        .bind(filter.state.as_deref())
        .bind(after.as_ref().map(|a| a.0.0))
        .bind(after.as_ref().map(|a| a.1.as_str().to_owned()))
        .bind(i64::from(limit) + 1)
        .bind(filter.opened_by.as_deref())
        .fetch_all(c.conn())
        .await;
        c.keep_after(&rows);
        page(rows?.iter().map(|row| case_from_row!(row)).collect::<Result<Vec<_>, _>>()?, limit)
    }

    async fn set_log_indices(&self, id: &CaseId, indices: &[(u64, u64)]) -> Result<(), StoreError> {
        if indices.is_empty() {
            return Ok(());
        }
        for &(seq, log_index) in indices {
            to_db("seq", seq)?;
            to_db("log index", log_index)?;
        }
        self.side_write(|reply| SideWrite::Indices(id.clone(), indices.to_vec(), reply)).await
    }

    async fn mark_revealed(&self, id: &CaseId, seq: u64) -> Result<(), StoreError> {
        let seq_db = to_db("seq", seq)?;
        let mut c = self.conns.get().await?;
        let done = sqlx::query("UPDATE events SET revealed = true WHERE case_id = $1 AND seq = $2")
            .bind(id.as_str())
            .bind(seq_db)
            .execute(c.conn())
            .await;
        c.keep_after(&done);
        let done = done?;
        if done.rows_affected() == 0 {
            return Err(StoreError::EventNotFound { id: id.clone(), seq });
        }
        Ok(())
    }

    async fn events_due_for_reveal(&self, on: DayNumber) -> Result<Vec<EventRecord>, StoreError> {
        let mut c = self.conns.get().await?;
        let rows = sqlx::query(
            "SELECT case_id, seq, kind, at, bytes, salt, reveal_by, log_index, revealed FROM events
             WHERE NOT revealed AND reveal_by IS NOT NULL AND reveal_by <= $1 ORDER BY reveal_by, case_id, seq",
        )
        .bind(on.0)
        .fetch_all(c.conn())
        .await;
        c.keep_after(&rows);
        rows?.iter().map(|row| event_from_row!(row)).collect()
    }

    async fn events_not_logged(&self, limit: u32) -> Result<Vec<EventRecord>, StoreError> {
        let mut c = self.conns.get().await?;
        let rows = sqlx::query(
            "SELECT case_id, seq, kind, at, bytes, salt, reveal_by, log_index, revealed FROM events
             WHERE log_index IS NULL ORDER BY wid LIMIT $1",
        )
        .bind(i64::from(limit))
        .fetch_all(c.conn())
        .await;
        c.keep_after(&rows);
        rows?.iter().map(|row| event_from_row!(row)).collect()
    }

    async fn record_accesses(&self, accesses: Vec<NewAccess>) -> Result<(), StoreError> {
        if accesses.is_empty() {
            return Ok(());
        }
        for a in &accesses {
            to_db("log index", a.log_index)?;
        }
        self.side_write(|reply| SideWrite::Accesses(accesses, reply)).await
    }

    async fn accesses(&self, id: &CaseId) -> Result<Vec<AccessRecord>, StoreError> {
        let mut c = self.conns.get().await?;
        let rows = sqlx::query(
            "SELECT case_id, at, role, what, bytes, salt, log_index FROM accesses WHERE case_id = $1 ORDER BY aid",
        )
        .bind(id.as_str())
        .fetch_all(c.conn())
        .await;
        c.keep_after(&rows);
        rows?.iter().map(|row| access_from_row!(row)).collect()
    }
}

async fn run_side_writer(
    conns: Arc<Conns>,
    queue: Arc<Mutex<mpsc::Receiver<SideWrite>>>,
    max_batch: usize,
    stats: Arc<Counters>,
) {
    let mut batch = Vec::with_capacity(max_batch);
    // Until the store is dropped (its queue closes).
    while queue.lock().await.recv_many(&mut batch, max_batch).await > 0 {
        apply_side(&conns, std::mem::take(&mut batch), &stats).await;
    }
}

/// Writes a batch of side writes in one transaction, or (one alone, or the
/// transaction's statements refused) each alone.
async fn apply_side(conns: &Conns, batch: Vec<SideWrite>, stats: &Counters) {
    if batch.len() > 1 {
        match side_together(conns, &batch).await {
            Ok(true) => {
                stats.side_batches.fetch_add(1, Ordering::Relaxed);
                stats.side_batched.fetch_add(batch.len() as u64, Ordering::Relaxed);
                for write in batch {
                    let _ = write.into_reply().send(Ok(()));
                }
                return;
            }
            Ok(false) => {}
            // The commit itself failed: whether it happened is unknown, so nothing is written again.
            Err(e) => {
                let message = e.to_string();
                for write in batch {
                    let _ = write.into_reply().send(Err(StoreError::Invalid(format!("commit failed: {message}"))));
                }
                return;
            }
        }
    }
    for write in batch {
        match write {
            SideWrite::Accesses(accesses, reply) => {
                let _ = reply.send(insert_accesses(conns, &accesses).await);
            }
            SideWrite::Indices(id, indices, reply) => {
                let _ = reply.send(set_indices_alone(conns, &id, &indices).await);
            }
        }
    }
}

impl SideWrite {
    fn into_reply(self) -> oneshot::Sender<Result<(), StoreError>> {
        match self {
            SideWrite::Accesses(_, reply) | SideWrite::Indices(_, _, reply) => reply,
        }
    }
}

/// The whole batch in one statement (so one commit). `Ok(false)`: the statement failed or
/// would have set fewer indices than asked, and nothing was written; `Err`: the connection
/// failed, and whether the statement took effect is unknown.
async fn side_together(conns: &Conns, batch: &[SideWrite]) -> Result<bool, StoreError> {
    let mut accesses = Vec::new();
    let (mut ids, mut seqs, mut indices) = (Vec::new(), Vec::new(), Vec::new());
    for write in batch {
        match write {
            SideWrite::Accesses(a, _) => accesses.extend(a.iter()),
            SideWrite::Indices(id, pairs, _) => {
                for &(seq, log_index) in pairs {
                    ids.push(id.as_str().to_owned());
                    seqs.push(to_db("seq", seq)?);
                    indices.push(to_db("log index", log_index)?);
                }
            }
        }
    }
    let a = AccessColumns::new(&accesses)?;
    let Ok(mut c) = conns.get().await else { return Ok(false) };
    // A pair asked twice, or refused, sets fewer rows than asked: the last line then divides
    // by zero, which fails the statement and undoes the accesses with it; each request,
    // written alone, then finds out which.
    let done = sqlx::query(
        "WITH a AS (
            INSERT INTO accesses (case_id, at, role, what, bytes, salt, log_index)
            SELECT * FROM UNNEST($1::text[], $2::int8[], $3::text[], $4::text[], $5::bytea[], $6::bytea[], $7::int8[])
         ), u AS (
            UPDATE events e SET log_index = v.log_index
            FROM UNNEST($8::text[], $9::int8[], $10::int8[]) AS v(case_id, seq, log_index)
            WHERE e.case_id = v.case_id AND e.seq = v.seq AND (e.log_index IS NULL OR e.log_index = v.log_index)
            RETURNING 1
         )
         SELECT 1 / (CASE WHEN (SELECT count(*) FROM u) = $11 THEN 1 ELSE 0 END)",
    )
    .bind(a.ids)
    .bind(a.ats)
    .bind(a.roles)
    .bind(a.whats)
    .bind(a.bytes)
    .bind(a.salts)
    .bind(a.indices)
    .bind(&ids)
    .bind(&seqs)
    .bind(&indices)
    .bind(ids.len() as i64)
    .execute(c.conn())
    .await;
    match done {
        Ok(_) => {
            c.keep();
            Ok(true)
        }
        Err(sqlx::Error::Database(e)) => {
            c.keep_after::<()>(&Err(sqlx::Error::Database(e)));
            Ok(false)
        }
        Err(e) => Err(e.into()),
    }
}

/// Accesses as column arrays, for `UNNEST`.
struct AccessColumns {
    ids: Vec<String>,
    ats: Vec<i64>,
    roles: Vec<String>,
    whats: Vec<String>,
    bytes: Vec<Vec<u8>>,
    salts: Vec<Vec<u8>>,
    indices: Vec<i64>,
}

impl AccessColumns {
    fn new(accesses: &[&NewAccess]) -> Result<AccessColumns, StoreError> {
        let mut c = AccessColumns {
            ids: Vec::with_capacity(accesses.len()),
            ats: Vec::with_capacity(accesses.len()),
            roles: Vec::with_capacity(accesses.len()),
            whats: Vec::with_capacity(accesses.len()),
            bytes: Vec::with_capacity(accesses.len()),
            salts: Vec::with_capacity(accesses.len()),
            indices: Vec::with_capacity(accesses.len()),
        };
        for a in accesses {
            c.ids.push(a.case_id.as_str().to_owned());
            c.ats.push(a.at.0);
            c.roles.push(a.role.clone());
            c.whats.push(a.what.clone());
            c.bytes.push(a.bytes.clone());
            c.salts.push(a.salt.to_vec());
            c.indices.push(to_db("log index", a.log_index)?);
        }
        Ok(c)
    }
}

/// One `INSERT … UNNEST` for `accesses`.
fn insert_accesses_statement<'a>(
    accesses: &[&NewAccess],
) -> Result<sqlx::query::Query<'a, sqlx::Postgres, sqlx::postgres::PgArguments>, StoreError> {
    let a = AccessColumns::new(accesses)?;
    Ok(sqlx::query(
        "INSERT INTO accesses (case_id, at, role, what, bytes, salt, log_index)
         SELECT * FROM UNNEST($1::text[], $2::int8[], $3::text[], $4::text[], $5::bytea[], $6::bytea[], $7::int8[])",
    )
    .bind(a.ids)
    .bind(a.ats)
    .bind(a.roles)
    .bind(a.whats)
    .bind(a.bytes)
    .bind(a.salts)
    .bind(a.indices))
}

/// One request's accesses: one statement, one commit. A case that does not exist fails it
/// whole (the foreign key); then the cases are looked up to name it.
async fn insert_accesses(conns: &Conns, accesses: &[NewAccess]) -> Result<(), StoreError> {
    let refs: Vec<&NewAccess> = accesses.iter().collect();
    let statement = insert_accesses_statement(&refs)?;
    let mut c = conns.get().await?;
    let inserted = statement.execute(c.conn()).await;
    match inserted {
        Ok(_) => {
            c.keep();
            Ok(())
        }
        Err(sqlx::Error::Database(e)) if e.code().as_deref() == Some("23503") => {
            for a in accesses {
                let exists: Option<i32> = sqlx::query_scalar("SELECT 1 FROM cases WHERE id = $1")
                    .bind(a.case_id.as_str())
                    .fetch_optional(c.conn())
                    .await?;
                if exists.is_none() {
                    c.keep();
                    return Err(StoreError::CaseNotFound(a.case_id.clone()));
                }
            }
            c.keep();
            Err(sqlx::Error::Database(e).into())
        }
        Err(e) => Err(e.into()),
    }
}

/// One request's log indices, all or none, in one transaction.
async fn set_indices_alone(conns: &Conns, id: &CaseId, indices: &[(u64, u64)]) -> Result<(), StoreError> {
    let mut db = Vec::with_capacity(indices.len());
    for &(seq, log_index) in indices {
        db.push((seq, log_index, to_db("seq", seq)?, to_db("log index", log_index)?));
    }
    // A refused pair rolls back the others (the transaction is rolled back).
    let mut c = conns.get().await?;
    let mut tx = c.conn().begin().await?;
    for (seq, log_index, db_seq, db_index) in db {
        let done = sqlx::query(
            "UPDATE events SET log_index = $3
             WHERE case_id = $1 AND seq = $2 AND (log_index IS NULL OR log_index = $3)",
        )
        .bind(id.as_str())
        .bind(db_seq)
        .bind(db_index)
        .execute(&mut *tx)
        .await?;
        if done.rows_affected() != 1 {
            let existing: Option<Option<i64>> =
                sqlx::query_scalar("SELECT log_index FROM events WHERE case_id = $1 AND seq = $2")
                    .bind(id.as_str())
                    .bind(db_seq)
                    .fetch_optional(&mut *tx)
                    .await?;
            tx.rollback().await?;
            c.keep();
            return Err(log_index_refused(id, seq, log_index, existing));
        }
    }
    tx.commit().await?;
    c.keep();
    Ok(())
}

async fn run_update_writer(
    conns: Arc<Conns>,
    queue: Arc<Mutex<mpsc::Receiver<PendingUpdate>>>,
    max_batch: usize,
    stats: Arc<Counters>,
) {
    let mut batch = Vec::with_capacity(max_batch);
    // Until the store is dropped (its queue closes).
    while queue.lock().await.recv_many(&mut batch, max_batch).await > 0 {
        while !batch.is_empty() {
            // Two updates of one case in one statement would race with each other: the later ones wait.
            let mut seen = HashSet::new();
            let (mut now, later): (Vec<_>, Vec<_>) = batch.drain(..).partition(|p| seen.insert(p.id.clone()));
            // Locking in id order in every batch makes deadlocks between batches unlikely (a deadlock is
            // still handled: the statement fails and its updates are retried one by one).
            now.sort_by(|a, b| a.id.cmp(&b.id));
            apply_batch(&conns, now, &stats).await;
            batch = later;
        }
    }
}

async fn apply_batch(conns: &Conns, mut batch: Vec<PendingUpdate>, stats: &Counters) {
    if batch.len() > 1 {
        // On `Err` the statement changed nothing: each update then gets its own chance (and its own error).
        if let Ok(outcomes) = update_many(conns, &batch).await {
            stats.batches.fetch_add(1, Ordering::Relaxed);
            stats.batched_updates.fetch_add(batch.len() as u64, Ordering::Relaxed);
            for (pending, outcome) in batch.into_iter().zip(outcomes) {
                // A caller that went away no longer needs the answer; the update stands.
                let _ = pending.reply.send(outcome);
            }
            return;
        }
        stats.retried_alone.fetch_add(batch.len() as u64, Ordering::Relaxed);
    }
    for pending in batch.drain(..) {
        let outcome = update_one(conns, &pending.id, pending.update).await;
        let _ = pending.reply.send(outcome);
    }
}

/// One update, one statement.
async fn update_one(conns: &Conns, id: &CaseId, update: CaseUpdate) -> Result<CaseRecord, StoreError> {
    let mut c = conns.get().await?;
    let expected = update.expected_version;
    let n = update.events.len() as i64;
    let cols = EventColumns::new(update.events);
    let row = sqlx::query(
        "WITH u AS (
            UPDATE cases SET version = version + 1, state = $3, snapshot = $4, updated_at = $5,
                             last_seq = last_seq + $6
            WHERE id = $1 AND version = $2
            RETURNING id, node, kind, state, version, last_seq, snapshot, created_at, updated_at, opened_by
         ), e AS (
            INSERT INTO events (case_id, seq, kind, at, bytes, salt, reveal_by)
            SELECT u.id, u.last_seq - $6 + t.ord, t.kind, t.at, t.bytes, t.salt, t.reveal_by
            FROM u, unnest($7::text[], $8::int8[], $9::bytea[], $10::bytea[], $11::int8[])
                 WITH ORDINALITY AS t(kind, at, bytes, salt, reveal_by, ord)
         )
         SELECT * FROM u",
    )
    .bind(id.as_str())
    .bind(expected as i64)
    .bind(update.state)
    .bind(update.snapshot)
    .bind(update.at.0)
    .bind(n)
    .bind(cols.kinds)
    .bind(cols.ats)
    .bind(cols.bytes)
    .bind(cols.salts)
    .bind(cols.reveal_bys)
    .fetch_optional(c.conn())
    .await?;
    // (On an error the connection is closed, not kept: a rare path.)
    if let Some(row) = row {
        c.keep();
        return case_from_row!(&row);
    }
    let actual = sqlx::query_scalar("SELECT version FROM cases WHERE id = $1")
        .bind(id.as_str())
        .fetch_optional(c.conn())
        .await?;
    c.keep();
    Err(refused(id, expected, actual))
}

/// Several updates of distinct cases, one statement. `Err` means nothing was written.
async fn update_many(
    conns: &Conns,
    batch: &[PendingUpdate],
) -> Result<Vec<Result<CaseRecord, StoreError>>, sqlx::Error> {
    let mut c = conns.get().await?;
    let mut ids = Vec::with_capacity(batch.len());
    let mut expected = Vec::with_capacity(batch.len());
    let mut states = Vec::with_capacity(batch.len());
    let mut snapshots = Vec::with_capacity(batch.len());
    let mut ats = Vec::with_capacity(batch.len());
    let mut counts = Vec::with_capacity(batch.len());
    let mut e_case = Vec::new();
    let mut e_ord = Vec::new();
    let mut e_kind = Vec::new();
    let mut e_at = Vec::new();
    let mut e_bytes = Vec::new();
    let mut e_salt = Vec::new();
    let mut e_reveal = Vec::new();
    for p in batch {
        let u = &p.update;
        ids.push(p.id.as_str());
        expected.push(u.expected_version as i64);
        states.push(u.state.as_str());
        snapshots.push(u.snapshot.as_slice());
        ats.push(u.at.0);
        counts.push(u.events.len() as i64);
        for (ord, e) in (1i64..).zip(&u.events) {
            e_case.push(p.id.as_str());
            e_ord.push(ord);
            e_kind.push(e.kind.as_str());
            e_at.push(e.at.0);
            e_bytes.push(e.bytes.as_slice());
            e_salt.push(e.salt.as_slice());
            e_reveal.push(e.reveal_by.map(|d| d.0));
        }
    }
    let rows = sqlx::query(
        "WITH i AS (
            SELECT * FROM unnest($1::text[], $2::int8[], $3::text[], $4::bytea[], $5::int8[], $6::int8[])
                AS i(id, expected, state, snapshot, at, n)
         ), u AS (
            UPDATE cases c SET version = c.version + 1, state = i.state, snapshot = i.snapshot,
                               updated_at = i.at, last_seq = c.last_seq + i.n
            FROM i WHERE c.id = i.id AND c.version = i.expected
            RETURNING c.id, c.node, c.kind, c.version, c.last_seq, c.created_at, c.opened_by, i.n
         ), e AS (
            INSERT INTO events (case_id, seq, kind, at, bytes, salt, reveal_by)
            SELECT u.id, u.last_seq - u.n + ev.ord, ev.kind, ev.at, ev.bytes, ev.salt, ev.reveal_by
            FROM u JOIN unnest($7::text[], $8::int8[], $9::text[], $10::int8[], $11::bytea[], $12::bytea[],
                               $13::int8[]) AS ev(case_id, ord, kind, at, bytes, salt, reveal_by)
                 ON ev.case_id = u.id
         )
         SELECT id, node, kind, version, last_seq, created_at, opened_by FROM u",
    )
    .bind(&ids)
    .bind(&expected)
    .bind(&states)
    .bind(&snapshots)
    .bind(&ats)
    .bind(&counts)
    .bind(&e_case)
    .bind(&e_ord)
    .bind(&e_kind)
    .bind(&e_at)
    .bind(&e_bytes)
    .bind(&e_salt)
    .bind(&e_reveal)
    .fetch_all(c.conn())
    .await;
    let rows = match rows {
        Ok(rows) => rows,
        Err(e) => {
            let failed = Err(e);
            c.keep_after::<()>(&failed);
            return failed.map(|()| Vec::new());
        }
    };
    let mut applied = HashMap::with_capacity(rows.len());
    for row in &rows {
        let id: String = row.try_get("id")?;
        applied.insert(id, row);
    }
    let mut actual: HashMap<String, i64> = HashMap::new();
    if applied.len() < batch.len() {
        let refused_ids: Vec<&str> = ids.iter().copied().filter(|id| !applied.contains_key(*id)).collect();
        let found: Vec<(String, i64)> = sqlx::query_as("SELECT id, version FROM cases WHERE id = ANY($1)")
            .bind(&refused_ids)
            .fetch_all(c.conn())
            .await?;
        actual.extend(found);
    }
    c.keep();
    let mut outcomes = Vec::with_capacity(batch.len());
    for p in batch {
        let outcome = match applied.get(p.id.as_str()) {
            Some(row) => record_after_update(row, p),
            None => Err(refused(&p.id, p.update.expected_version, actual.get(p.id.as_str()).copied())),
        };
        outcomes.push(outcome);
    }
    Ok(outcomes)
}

fn record_after_update(row: &sqlx::postgres::PgRow, p: &PendingUpdate) -> Result<CaseRecord, StoreError> {
    Ok(CaseRecord {
        id: p.id.clone(),
        node: row.try_get("node")?,
        kind: row.try_get("kind")?,
        state: p.update.state.clone(),
        version: from_db("version", row.try_get("version")?)?,
        last_seq: from_db("last_seq", row.try_get("last_seq")?)?,
        snapshot: p.update.snapshot.clone(),
        created_at: UnixTime(row.try_get("created_at")?),
        updated_at: p.update.at,
        opened_by: row.try_get("opened_by")?,
    })
}

//! The PostgreSQL backend: a pool of connections; every write is one statement (a `WITH` query that updates
//! the case only if its version matches and appends the events in the same statement), so it is atomic
//! without an explicit transaction and costs one round trip. Concurrent writers are ordered by the row lock
//! on the case: the loser's `WHERE version = expected` no longer matches and it changes nothing.
//! Durability is the server's: with `synchronous_commit = on` (the default) a commit returns after the WAL
//! is flushed, and concurrent commits share one flush (group commit).

use std::str::FromStr as _;

use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};

use crate::model::{check_filter, check_new_case, check_update, log_index_refused, page, refused, to_db};
use crate::rows::{case_from_row, event_from_row};
use crate::{
    CaseFilter, CaseId, CaseRecord, CaseUpdate, Cursor, DayNumber, EventRecord, NewCase, NewEvent, Page, Store,
    StoreError,
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
}

impl PostgresOptions {
    /// Options for `url` with the default schema and pool size.
    pub fn new(url: impl Into<String>) -> PostgresOptions {
        PostgresOptions { url: url.into(), schema: None, max_connections: 16 }
    }
}

/// Cases in a PostgreSQL database.
#[derive(Debug, Clone)]
pub struct PostgresStore {
    pool: PgPool,
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
        if options.max_connections == 0 {
            return Err(StoreError::Invalid("max_connections must be at least 1".into()));
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
        let pool = PgPoolOptions::new().max_connections(options.max_connections).connect_with(connect).await?;
        MIGRATOR.run(&pool).await?;
        Ok(PostgresStore { pool })
    }

    /// The connection pool (to share it, or close it with `pool().close()`).
    pub fn pool(&self) -> &PgPool {
        &self.pool
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
        let n = first_events.len() as i64;
        let cols = EventColumns::new(first_events);
        let row = sqlx::query(
            "WITH c AS (
                INSERT INTO cases (id, node, kind, state, version, last_seq, snapshot, created_at, updated_at)
                VALUES ($1, $2, $3, $4, 1, $5, $6, $7, $7) ON CONFLICT (id) DO NOTHING
                RETURNING id, node, kind, state, version, last_seq, snapshot, created_at, updated_at
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
        .fetch_optional(&self.pool)
        .await?;
        match row {
            Some(row) => case_from_row!(&row),
            None => Err(StoreError::CaseExists(case.id)),
        }
    }

    async fn load_case(&self, id: &CaseId) -> Result<Option<CaseRecord>, StoreError> {
        let row = sqlx::query(
            "SELECT id, node, kind, state, version, last_seq, snapshot, created_at, updated_at FROM cases WHERE id = $1",
        )
        .bind(id.as_str())
        .fetch_optional(&self.pool)
        .await?;
        row.map(|row| case_from_row!(&row)).transpose()
    }

    async fn update_case(&self, id: &CaseId, update: CaseUpdate) -> Result<CaseRecord, StoreError> {
        check_update(&update)?;
        let expected = update.expected_version;
        let n = update.events.len() as i64;
        let cols = EventColumns::new(update.events);
        let row = sqlx::query(
            "WITH u AS (
                UPDATE cases SET version = version + 1, state = $3, snapshot = $4, updated_at = $5,
                                 last_seq = last_seq + $6
                WHERE id = $1 AND version = $2
                RETURNING id, node, kind, state, version, last_seq, snapshot, created_at, updated_at
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
        .fetch_optional(&self.pool)
        .await?;
        if let Some(row) = row {
            return case_from_row!(&row);
        }
        let actual: Option<i64> = sqlx::query_scalar("SELECT version FROM cases WHERE id = $1")
            .bind(id.as_str())
            .fetch_optional(&self.pool)
            .await?;
        Err(refused(id, expected, actual))
    }

    async fn events(&self, id: &CaseId) -> Result<Vec<EventRecord>, StoreError> {
        let rows = sqlx::query(
            "SELECT case_id, seq, kind, at, bytes, salt, reveal_by, log_index, revealed FROM events
             WHERE case_id = $1 ORDER BY seq",
        )
        .bind(id.as_str())
        .fetch_all(&self.pool)
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
            "SELECT id, node, kind, state, version, last_seq, snapshot, created_at, updated_at FROM cases
             WHERE ($1::text IS NULL OR node = $1) AND ($2::text IS NULL OR kind = $2)
               AND ($3::text IS NULL OR state = $3)
               AND ($4::int8 IS NULL OR (created_at, id) > ($4, $5::text))
             ORDER BY created_at, id LIMIT $6",
        )
        .bind(filter.node.as_deref())
        .bind(filter.kind.as_deref())
        .bind(filter.state.as_deref())
        .bind(after.as_ref().map(|a| a.0.0))
        .bind(after.as_ref().map(|a| a.1.as_str().to_owned()))
        .bind(i64::from(limit) + 1)
        .fetch_all(&self.pool)
        .await?;
        page(rows.iter().map(|row| case_from_row!(row)).collect::<Result<Vec<_>, _>>()?, limit)
    }

    async fn set_log_index(&self, id: &CaseId, seq: u64, log_index: u64) -> Result<(), StoreError> {
        let (db_seq, db_index) = (to_db("seq", seq)?, to_db("log index", log_index)?);
        let done = sqlx::query(
            "UPDATE events SET log_index = $3
             WHERE case_id = $1 AND seq = $2 AND (log_index IS NULL OR log_index = $3)",
        )
        .bind(id.as_str())
        .bind(db_seq)
        .bind(db_index)
        .execute(&self.pool)
        .await?;
        if done.rows_affected() == 1 {
            return Ok(());
        }
        let existing: Option<Option<i64>> =
            sqlx::query_scalar("SELECT log_index FROM events WHERE case_id = $1 AND seq = $2")
                .bind(id.as_str())
                .bind(db_seq)
                .fetch_optional(&self.pool)
                .await?;
        Err(log_index_refused(id, seq, log_index, existing))
    }

    async fn mark_revealed(&self, id: &CaseId, seq: u64) -> Result<(), StoreError> {
        let done = sqlx::query("UPDATE events SET revealed = true WHERE case_id = $1 AND seq = $2")
            .bind(id.as_str())
            .bind(to_db("seq", seq)?)
            .execute(&self.pool)
            .await?;
        if done.rows_affected() == 0 {
            return Err(StoreError::EventNotFound { id: id.clone(), seq });
        }
        Ok(())
    }

    async fn events_due_for_reveal(&self, on: DayNumber) -> Result<Vec<EventRecord>, StoreError> {
        let rows = sqlx::query(
            "SELECT case_id, seq, kind, at, bytes, salt, reveal_by, log_index, revealed FROM events
             WHERE NOT revealed AND reveal_by IS NOT NULL AND reveal_by <= $1 ORDER BY reveal_by, case_id, seq",
        )
        .bind(on.0)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(|row| event_from_row!(row)).collect()
    }

    async fn events_not_logged(&self, limit: u32) -> Result<Vec<EventRecord>, StoreError> {
        let rows = sqlx::query(
            "SELECT case_id, seq, kind, at, bytes, salt, reveal_by, log_index, revealed FROM events
             WHERE log_index IS NULL ORDER BY wid LIMIT $1",
        )
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(|row| event_from_row!(row)).collect()
    }
}

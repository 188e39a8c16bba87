//! Durable case updates (two events each) per second on SQLite and PostgreSQL, next to the raw rate of
//! single-row durable inserts measured in the same run.
//!
//! `cargo bench -p store --bench store -- [--seconds N] [--tasks N] [--sqlite-only | --postgres-only]`
//! PostgreSQL is measured when `DATABASE_URL` names it (in a schema of its own, dropped afterwards).

use std::path::Path;
use std::str::FromStr as _;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use sqlx::Connection as _;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqliteSynchronous};
use store::{
    CaseId, CaseUpdate, NewCase, NewEvent, PostgresOptions, PostgresStore, SqliteOptions, SqliteStore, Store, UnixTime,
};

struct Args {
    seconds: u64,
    tasks: usize,
    sqlite_only: bool,
    postgres_only: bool,
}

fn args() -> anyhow::Result<Args> {
    let mut a = Args { seconds: 5, tasks: 256, sqlite_only: false, postgres_only: false };
    let mut it = std::env::args().skip(1);
    while let Some(arg) = it.next() {
        match arg.as_str() {
            "--seconds" => a.seconds = it.next().context("--seconds N")?.parse()?,
            "--tasks" => a.tasks = it.next().context("--tasks N")?.parse()?,
            "--sqlite-only" => a.sqlite_only = true,
            "--postgres-only" => a.postgres_only = true,
            "--bench" => {}
            other => bail!("unknown argument {other:?}"),
        }
    }
    if a.tasks == 0 || a.seconds == 0 {
        bail!("--tasks and --seconds must be positive");
    }
    Ok(a)
}

fn main() -> anyhow::Result<()> {
    let args = args()?;
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    rt.block_on(run(args))
}

async fn run(args: Args) -> anyhow::Result<()> {
    let dir = tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR"))?;
    let secs = Duration::from_secs(args.seconds);
    println!(
        "store benchmark: {} s per measurement, {} concurrent writers, disk under {}",
        args.seconds,
        args.tasks,
        dir.path().display()
    );

    if !args.postgres_only {
        let raw = sqlite_raw_inserts(&dir.path().join("raw.db"), secs).await?;
        println!("sqlite   raw single-row durable inserts (1 connection, WAL, synchronous=FULL): {raw:>8.0}/s");
        let store = Arc::new(SqliteStore::open(dir.path().join("cases.db"), SqliteOptions::default()).await?);
        let rate = updates(store, args.tasks, secs).await?;
        println!(
            "sqlite   durable case updates with 2 events ({} writers, group commit):     {rate:>8.0}/s",
            args.tasks
        );
    }

    if args.sqlite_only {
        return Ok(());
    }
    let url = match std::env::var("DATABASE_URL") {
        Ok(url) if url.starts_with("postgres") => url,
        _ => {
            println!("postgres SKIPPED (set DATABASE_URL)");
            return Ok(());
        }
    };
    let schema = format!("bench_{}", std::process::id());
    let result = postgres(&url, &schema, &args, secs).await;
    let mut conn = sqlx::PgConnection::connect(&url).await?;
    sqlx::query(sqlx::AssertSqlSafe(format!("DROP SCHEMA IF EXISTS {schema} CASCADE"))).execute(&mut conn).await?;
    result
}

async fn postgres(url: &str, schema: &str, args: &Args, secs: Duration) -> anyhow::Result<()> {
    let mut options = PostgresOptions::new(url);
    options.schema = Some(schema.into());
    options.max_connections = 32;
    let store = Arc::new(PostgresStore::connect(options).await?);
    let settings: Vec<(String, String)> = sqlx::query_as(
        "SELECT name, setting FROM pg_settings WHERE name IN ('fsync', 'synchronous_commit', 'wal_sync_method') ORDER BY name",
    )
    .fetch_all(store.pool())
    .await?;
    let settings: Vec<String> = settings.into_iter().map(|(k, v)| format!("{k}={v}")).collect();
    println!("postgres server settings: {}", settings.join(", "));
    sqlx::query("CREATE TABLE raw (id BIGSERIAL PRIMARY KEY, v BYTEA NOT NULL)").execute(store.pool()).await?;
    let one = pg_raw_inserts(store.pool(), 1, secs).await?;
    println!("postgres raw single-row durable inserts (1 connection):                   {one:>8.0}/s");
    let many = pg_raw_inserts(store.pool(), 32, secs).await?;
    println!("postgres raw single-row durable inserts (32 connections):                 {many:>8.0}/s");
    let rate = updates(store.clone(), args.tasks, secs).await?;
    let stats = store.batch_stats();
    println!(
        "postgres durable case updates with 2 events ({} writers, 8 batching update tasks): {rate:>8.0}/s ({:.1} updates per statement)",
        args.tasks,
        stats.batched_updates as f64 / stats.batches.max(1) as f64
    );
    Ok(())
}

async fn sqlite_raw_inserts(path: &Path, secs: Duration) -> anyhow::Result<f64> {
    let options = SqliteConnectOptions::from_str("sqlite:")?
        .filename(path)
        .create_if_missing(true)
        .journal_mode(SqliteJournalMode::Wal)
        .synchronous(SqliteSynchronous::Full);
    let mut conn = sqlx::SqliteConnection::connect_with(&options).await?;
    sqlx::query("CREATE TABLE raw (id INTEGER PRIMARY KEY, v BLOB NOT NULL)").execute(&mut conn).await?;
    let payload = vec![7u8; 200];
    let start = Instant::now();
    let mut n = 0u64;
    while start.elapsed() < secs {
        sqlx::query("INSERT INTO raw (v) VALUES (?1)").bind(payload.as_slice()).execute(&mut conn).await?;
        n += 1;
    }
    Ok(n as f64 / start.elapsed().as_secs_f64())
}

async fn pg_raw_inserts(pool: &sqlx::PgPool, connections: usize, secs: Duration) -> anyhow::Result<f64> {
    let count = Arc::new(AtomicU64::new(0));
    let start = Instant::now();
    let tasks: Vec<_> = (0..connections)
        .map(|_| {
            let (pool, count) = (pool.clone(), count.clone());
            tokio::spawn(async move {
                let mut conn = pool.acquire().await?;
                let payload = vec![7u8; 200];
                while start.elapsed() < secs {
                    sqlx::query("INSERT INTO raw (v) VALUES ($1)").bind(payload.as_slice()).execute(&mut *conn).await?;
                    count.fetch_add(1, Ordering::Relaxed);
                }
                Ok::<_, sqlx::Error>(())
            })
        })
        .collect();
    for t in tasks {
        t.await??;
    }
    Ok(count.load(Ordering::Relaxed) as f64 / start.elapsed().as_secs_f64())
}

/// `tasks` writers, each updating its own case with two ~200-byte events and a 1 KiB snapshot.
async fn updates(store: Arc<dyn Store>, tasks: usize, secs: Duration) -> anyhow::Result<f64> {
    for t in 0..tasks {
        let case = NewCase {
            id: CaseId::new(format!("bench-{t}"))?,
            node: "DE".into(),
            kind: "requested".into(),
            state: "received".into(),
            snapshot: vec![1; 1024],
            created_at: UnixTime(0),
            opened_by: None,
        };
        store.create_case(case, vec![]).await?;
    }
    let count = Arc::new(AtomicU64::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let start = Instant::now();
    let writers: Vec<_> = (0..tasks)
        .map(|t| {
            let (store, count, stop) = (store.clone(), count.clone(), stop.clone());
            tokio::spawn(async move {
                let id = CaseId::new(format!("bench-{t}"))?;
                let mut version = 1;
                while !stop.load(Ordering::Relaxed) {
                    let event = |k: &str| NewEvent {
                        kind: k.into(),
                        at: UnixTime(version as i64),
                        bytes: vec![b'e'; 200],
                        salt: [t as u8; 32],
                        reveal_by: Some(store::DayNumber(20_000)),
                    };
                    let update = CaseUpdate {
                        expected_version: version,
                        state: "admitted".into(),
                        snapshot: vec![2; 1024],
                        events: vec![event("decided"), event("routed")],
                        at: UnixTime(version as i64),
                    };
                    version = store.update_case(&id, update).await?.version;
                    count.fetch_add(1, Ordering::Relaxed);
                }
                Ok::<_, anyhow::Error>(())
            })
        })
        .collect();
    tokio::time::sleep(secs).await;
    stop.store(true, Ordering::Relaxed);
    let measured = count.load(Ordering::Relaxed) as f64 / start.elapsed().as_secs_f64();
    for w in writers {
        w.await??;
    }
    Ok(measured)
}

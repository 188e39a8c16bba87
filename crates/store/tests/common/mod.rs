//! Backends for the conformance and crash tests: a fresh SQLite file, or a fresh PostgreSQL schema.
#![allow(dead_code)]

use std::io::Write as _;
use std::sync::Arc;

use store::{PostgresOptions, PostgresStore, SqliteOptions, SqliteStore, Store};

/// A store for one test, and what to clean up after it.
pub struct Harness {
    pub store: Arc<dyn Store>,
    pub sqlite: Option<Arc<SqliteStore>>,
    pub postgres: Option<Arc<PostgresStore>>,
    _guard: Guard,
}

enum Guard {
    Dir(#[allow(dead_code)] tempfile::TempDir),
    Schema { url: String, schema: String },
}

impl Drop for Guard {
    fn drop(&mut self) {
        if let Guard::Schema { url, schema } = self {
            let (url, name) = (url.clone(), schema.clone());
            // Runs even when the test panicked; a thread of its own because we may be inside a runtime.
            let dropped = std::thread::spawn(move || {
                let rt = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
                rt.block_on(async {
                    use sqlx::Connection as _;
                    let mut conn = sqlx::PgConnection::connect(&url).await?;
                    sqlx::query(sqlx::AssertSqlSafe(format!("DROP SCHEMA IF EXISTS \"{name}\" CASCADE")))
                        .execute(&mut conn)
                        .await?;
                    conn.close().await?;
                    Ok::<_, anyhow::Error>(())
                })
            })
            .join();
            if !matches!(dropped, Ok(Ok(()))) {
                let _ = writeln!(std::io::stderr(), "warning: could not drop test schema {schema}");
            }
        }
    }
}

/// A random lowercase name with `prefix`.
pub fn random_name(prefix: &str) -> String {
    let mut b = [0u8; 8];
    getrandom::fill(&mut b).expect("random bytes");
    let hex: String = b.iter().map(|x| format!("{x:02x}")).collect();
    format!("{prefix}{hex}")
}

/// A store in a new SQLite file in a temporary directory.
pub async fn sqlite() -> Option<Harness> {
    let dir = tempfile::tempdir().expect("temporary directory");
    let store = Arc::new(SqliteStore::open(dir.path().join("cases.db"), SqliteOptions::default()).await.expect("open"));
    Some(Harness { store: store.clone(), sqlite: Some(store), postgres: None, _guard: Guard::Dir(dir) })
}

/// [`sqlite`] behind a [`store::CachedStore`] keeping few records (so that it also starts again).
pub async fn cached_sqlite() -> Option<Harness> {
    sqlite().await.map(cached)
}

/// [`postgres`] behind a [`store::CachedStore`] keeping few records.
pub async fn cached_postgres() -> Option<Harness> {
    postgres().await.map(cached)
}

fn cached(mut h: Harness) -> Harness {
    h.store = Arc::new(store::CachedStore::new(h.store, 8));
    h
}

/// `DATABASE_URL` if it names PostgreSQL. Without it: a visible skip by hand, a failure under `CI=true`.
pub fn database_url() -> Option<String> {
    match std::env::var("DATABASE_URL") {
        Ok(url) if url.starts_with("postgres://") || url.starts_with("postgresql://") => Some(url),
        _ => {
            if std::env::var("CI").is_ok_and(|v| v == "true") {
                panic!(
                    "CI=true but DATABASE_URL does not name a PostgreSQL database: the PostgreSQL conformance must run in CI"
                );
            }
            // Written to the real stderr (not the captured one) so that the skip shows in a passing run.
            let _ = writeln!(std::io::stderr(), "SKIPPED: PostgreSQL conformance (set DATABASE_URL)");
            None
        }
    }
}

/// A store in a new schema of the `DATABASE_URL` database, dropped afterwards; `None` when skipped.
pub async fn postgres() -> Option<Harness> {
    let url = database_url()?;
    let schema = random_name("test_");
    let store = Arc::new(postgres_in(&url, &schema).await);
    Some(Harness { store: store.clone(), sqlite: None, postgres: Some(store), _guard: Guard::Schema { url, schema } })
}

/// A store in `schema` (created if missing) of the database at `url`.
pub async fn postgres_in(url: &str, schema: &str) -> PostgresStore {
    let mut options = PostgresOptions::new(url);
    options.schema = Some(schema.to_owned());
    PostgresStore::connect(options).await.expect("connect to PostgreSQL")
}

/// Creates a schema that a [`Harness`]-like guard will drop: for tests that open the store several times.
pub struct SchemaGuard(Guard);

pub fn schema_guard(url: &str, schema: &str) -> SchemaGuard {
    SchemaGuard(Guard::Schema { url: url.to_owned(), schema: schema.to_owned() })
}

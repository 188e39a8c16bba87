//! The PostgreSQL backend's own connections.
//!
//! sqlx's pool answers every release of a connection with a round trip to the server (a
//! ping that also flushes what an interrupted statement left): on a loaded node every
//! statement cost two round trips. Here a connection whose work ended normally goes back
//! to the idle list as it is; one whose work was interrupted (its future dropped) or
//! failed with anything but an error from the database is closed instead. A connection
//! idle for longer than [`IDLE_CHECK`] is checked with a round trip before it is used
//! again (a restarted server, a dropped connection).

use std::time::{Duration, Instant};

use sqlx::Connection as _;
use sqlx::postgres::{PgConnectOptions, PgConnection, PgDatabaseError, PgSeverity};

/// How long a connection may sit idle before it is checked with a round trip.
pub(crate) const IDLE_CHECK: Duration = Duration::from_secs(10);

/// Up to `max` connections to one server, opened as needed.
pub(crate) struct Conns {
    options: PgConnectOptions,
    idle: std::sync::Mutex<Vec<(PgConnection, Instant)>>,
    permits: tokio::sync::Semaphore,
}

impl std::fmt::Debug for Conns {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Conns").field("available", &self.permits.available_permits()).finish()
    }
}

/// One connection in use; see [`Conn::keep`].
pub(crate) struct Conn<'a> {
    conns: &'a Conns,
    conn: Option<PgConnection>,
    keep: bool,
    _permit: tokio::sync::SemaphorePermit<'a>,
}

impl Conns {
    pub(crate) fn new(options: PgConnectOptions, max: u32) -> Conns {
        let max = usize::try_from(max).unwrap_or(usize::MAX).min(tokio::sync::Semaphore::MAX_PERMITS);
        Conns { options, idle: std::sync::Mutex::new(Vec::new()), permits: tokio::sync::Semaphore::new(max) }
    }

    /// A connection: an idle one (checked first if it sat too long), else a new one.
    pub(crate) async fn get(&self) -> Result<Conn<'_>, sqlx::Error> {
        let permit = self.permits.acquire().await.map_err(|_| sqlx::Error::PoolClosed)?;
        loop {
            let idle = self.idle.lock().unwrap_or_else(|e| e.into_inner()).pop();
            let conn = match idle {
                Some((mut conn, since)) => {
                    if since.elapsed() > IDLE_CHECK && conn.ping().await.is_err() {
                        continue;
                    }
                    conn
                }
                None => PgConnection::connect_with(&self.options).await?,
            };
            return Ok(Conn { conns: self, conn: Some(conn), keep: false, _permit: permit });
        }
    }
}

impl Drop for Conns {
    fn drop(&mut self) {
        let idle = std::mem::take(&mut *self.idle.lock().unwrap_or_else(|e| e.into_inner()));
        for (conn, _) in idle {
            close(conn);
        }
    }
}

/// Says goodbye to the server when a runtime is there to do it; else just drops.
fn close(conn: PgConnection) {
    if let Ok(rt) = tokio::runtime::Handle::try_current() {
        rt.spawn(async move {
            let _ = conn.close().await;
        });
    }
}

impl Conn<'_> {
    /// The connection.
    pub(crate) fn conn(&mut self) -> &mut PgConnection {
        // Taken only by `drop`.
        self.conn.get_or_insert_with(|| unreachable!("a connection is taken only when dropped"))
    }

    /// The work ended normally (its statements completed, successfully or with an error
    /// from the database): the connection goes back to the idle list.
    pub(crate) fn keep(mut self) {
        self.keep = true;
    }

    /// Keeps the connection unless `outcome` is an error other than the database's.
    pub(crate) fn keep_after<T>(self, outcome: &Result<T, sqlx::Error>) {
        let reusable = match outcome {
            Ok(_) | Err(sqlx::Error::RowNotFound) => true,
            // A fatal error (the server ending the session) leaves nothing to reuse.
            Err(sqlx::Error::Database(e)) => e
                .try_downcast_ref::<PgDatabaseError>()
                .is_none_or(|pg| !matches!(pg.severity(), PgSeverity::Fatal | PgSeverity::Panic)),
            Err(_) => false,
        };
        if reusable {
            self.keep();
        }
    }
}

impl Drop for Conn<'_> {
    fn drop(&mut self) {
        if let Some(conn) = self.conn.take() {
            if self.keep {
                self.conns.idle.lock().unwrap_or_else(|e| e.into_inner()).push((conn, Instant::now()));
            } else {
                close(conn);
            }
        }
    }
}

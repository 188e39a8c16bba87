//! One participant's server: its configuration, its HTTP API (with the OpenAPI document
//! generated from the code), and the wiring of the library crates behind it.
//!
//! Invariants: only this crate knows about HTTP; every error leaves as an RFC 9457
//! problem document; the decisions themselves are made by `policy` and `case`.
#![forbid(unsafe_code)]

pub mod api;
pub mod clock;
pub mod config;
pub mod draft;
pub mod log;
pub mod problem;
pub mod transparency;
pub mod ui;

/// Example legal profiles (the fictional States of the sample cases) for a new node.
pub const DEFAULT_PROFILES: &str = include_str!("../defaults/profiles.json");

pub use config::{Config, ConfigError, PartyRole, Resolved};

/// Why a node could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// Its log.
    #[error(transparent)]
    Log(#[from] transparency::TransparencyError),
    /// Its listening socket.
    #[error("listening on {addr}: {source}")]
    Listen {
        /// The address.
        addr: std::net::SocketAddr,
        /// Why.
        source: std::io::Error,
    },
    /// Serving.
    #[error("serving: {0}")]
    Serve(std::io::Error),
}

/// Serves `config`'s node until SIGTERM or Ctrl-C, then finishes the requests in flight.
/// Opens (or creates) the node's log first.
pub async fn serve(config: Resolved) -> Result<(), StartError> {
    let log_dir = config.base.join(&config.config.storage.log_dir);
    let origin = format!("{}.custodia", config.config.node.name);
    let log = tokio::task::spawn_blocking(move || transparency::Transparency::open_or_create(&log_dir, &origin))
        .await
        .map_err(|e| StartError::Serve(std::io::Error::other(e)))??;
    let listener = tokio::net::TcpListener::bind(config.listen)
        .await
        .map_err(|source| StartError::Listen { addr: config.listen, source })?;
    tracing::info!(addr = %config.listen, node = %config.config.node.name, "listening");
    let local = listener.local_addr().map_err(StartError::Serve)?;
    eprintln!(
        "custodia node {} ({}) listening on http://{local}; log key {}",
        config.config.node.name,
        config.config.node.role.id(),
        log.verifier_key
    );
    let app = api::app_with(config, Some(std::sync::Arc::new(log)));
    axum::serve(listener, app).with_graceful_shutdown(shutdown_signal()).await.map_err(StartError::Serve)
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = term => {},
    }
    eprintln!("shutting down: finishing requests in flight");
}

//! One participant's server: its configuration, its HTTP API (with the OpenAPI document
//! generated from the code), and the wiring of the library crates behind it.
//!
//! Invariants: only this crate knows about HTTP; every error leaves as an RFC 9457
//! problem document; the decisions themselves are made by `policy` and `case`.
#![forbid(unsafe_code)]

pub mod api;
pub mod clock;
pub mod config;
pub mod log;
pub mod problem;
pub mod transparency;
pub mod ui;

pub use config::{Config, ConfigError, NodeRole, Resolved};

/// Serves `config`'s node until SIGTERM or Ctrl-C, then finishes the requests in flight.
pub async fn serve(config: Resolved) -> std::io::Result<()> {
    let listener = tokio::net::TcpListener::bind(config.listen).await?;
    tracing::info!(addr = %config.listen, node = %config.config.node.name, "listening");
    eprintln!(
        "custodia node {} ({}) listening on http://{}",
        config.config.node.name,
        config.config.node.role.id(),
        listener.local_addr()?
    );
    axum::serve(listener, api::app(config)).with_graceful_shutdown(shutdown_signal()).await
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

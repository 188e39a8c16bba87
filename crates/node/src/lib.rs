//! One participant's server: its configuration, its HTTP API (with the OpenAPI document
//! generated from the code), and the wiring of the library crates behind it.
//!
//! Invariants: only this crate knows about HTTP; every error leaves as an RFC 9457
//! problem document; the decisions themselves are made by `policy` and `case`.
#![forbid(unsafe_code)]

pub mod api;
pub mod api_cases;
pub mod auth;
pub mod backup;
pub mod cases;
pub mod charts;
pub mod clock;
pub mod config;
pub mod demo;
pub mod draft;
pub mod evidence;
pub mod inbox;
pub mod log;
pub mod login;
pub mod metrics;
pub mod pages;
pub mod peers;
pub mod problem;
pub mod roles;
pub mod tls;
pub mod transparency;
pub mod ui;
pub mod users;
pub mod witnessing;

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
    /// The TLS certificate or key (`[http] tls_cert`, `tls_key`).
    #[error("http.tls_cert/http.tls_key: {0}")]
    Tls(String),
    /// Case storage.
    #[error("opening the case storage {url}: {detail}")]
    Store {
        /// The configured database (without credentials).
        url: String,
        /// Why.
        detail: String,
    },
    /// The node's secret.
    #[error("the node's secret {path}: {source}")]
    Secret {
        /// The file.
        path: String,
        /// Why.
        source: std::io::Error,
    },
}

/// Opens the configured database: `sqlite://PATH` (relative to the configuration's
/// directory) or `postgres://...`.
pub async fn open_store(config: &Resolved) -> Result<std::sync::Arc<dyn store::Store>, StartError> {
    let db = &config.config.storage.database;
    let shown = db.split('@').next_back().unwrap_or(db).to_string();
    let err = |detail: String| StartError::Store { url: shown.clone(), detail };
    if let Some(path) = db.strip_prefix("sqlite://") {
        let path = config.base.join(path);
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(|e| err(e.to_string()))?;
        }
        let s =
            store::SqliteStore::open(&path, store::SqliteOptions::default()).await.map_err(|e| err(e.to_string()))?;
        Ok(std::sync::Arc::new(s))
    } else {
        let s = store::PostgresStore::connect(store::PostgresOptions::new(db.clone()))
            .await
            .map_err(|e| err(e.to_string()))?;
        // The node keeps case records in memory, which is right only for the only writer.
        s.claim_exclusive().await.map_err(|e| err(e.to_string()))?;
        Ok(std::sync::Arc::new(s))
    }
}

/// The node's secret (case tags), created on first start with mode 0600.
pub fn node_secret(path: &std::path::Path) -> Result<[u8; 32], StartError> {
    let err = |source| StartError::Secret { path: path.display().to_string(), source };
    match std::fs::read(path) {
        Ok(b) if b.len() == 32 => {
            let mut out = [0u8; 32];
            out.copy_from_slice(&b);
            Ok(out)
        }
        Ok(_) => Err(err(std::io::Error::other("expected exactly 32 bytes"))),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let mut out = [0u8; 32];
            getrandom::fill(&mut out).map_err(|e| err(std::io::Error::other(e.to_string())))?;
            if let Some(dir) = path.parent() {
                std::fs::create_dir_all(dir).map_err(err)?;
            }
            std::fs::write(path, out).map_err(err)?;
            #[cfg(unix)]
            {
                use std::os::unix::fs::PermissionsExt as _;
                std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600)).map_err(err)?;
            }
            Ok(out)
        }
        Err(e) => Err(err(e)),
    }
}

/// The node's place in the federation, when `[federation]` is configured: its identity
/// (created on first start), the signed directory verified against the trusted keys.
pub fn open_peers(config: &Resolved) -> Result<Option<std::sync::Arc<peers::Peers>>, StartError> {
    let Some(f) = &config.config.federation else { return Ok(None) };
    let fail = |detail: String| StartError::Store { url: "federation".into(), detail };
    let path = config.base.join(&f.directory);
    let note = std::fs::read(&path).map_err(|e| fail(format!("{}: {e}", path.display())))?;
    let keys: Vec<tlog::note::VerifierKey> =
        f.keys.iter().filter_map(|k| tlog::note::VerifierKey::parse(k).ok()).collect();
    let accepted =
        federation::verify(&note, &keys, f.threshold, None).map_err(|e| fail(format!("{}: {e}", path.display())))?;
    let data = config.base.join("data");
    let identity =
        peers::identity(&data, &config.config.node.name, clock::now().0 as u64).map_err(|e| fail(e.to_string()))?;
    let mut p =
        peers::Peers::new(&config.config.node.name, identity, accepted, &data).map_err(|e| fail(e.to_string()))?;
    if let Some(roots) = &f.tls_roots {
        let path = config.base.join(roots);
        let pem = std::fs::read(&path).map_err(|e| fail(format!("{}: {e}", path.display())))?;
        p = p.trusting(&pem, &path.display().to_string()).map_err(|e| fail(e.to_string()))?;
    }
    Ok(Some(std::sync::Arc::new(p)))
}

/// Logs the directory version this node accepted (once per version), so that a key change
/// is public: an entry `custodia/directory/v1` with the federation, version and the
/// SHA-256 of the signed directory.
pub fn log_directory(
    log: &transparency::Transparency,
    peers: &peers::Peers,
    data: &std::path::Path,
) -> Result<(), String> {
    let marker = data.join("directory-logged");
    let entry = peers.directory_entry();
    if std::fs::read(&marker).ok().as_deref() == Some(entry.as_slice()) {
        return Ok(());
    }
    log.append(vec![entry.clone()]).map_err(|e| e.to_string())?;
    std::fs::write(&marker, &entry).map_err(|e| format!("{}: {e}", marker.display()))
}

/// Delivers the outbox: at once when a message is queued, else every two seconds, backing
/// off to a minute while a destination cannot be reached.
pub async fn run_deliverer(peers: std::sync::Arc<peers::Peers>) {
    let mut wait = std::time::Duration::from_secs(2);
    loop {
        tokio::select! {
            () = peers.wake.notified() => {}
            () = tokio::time::sleep(wait) => {}
        }
        let sent = peers.deliver(u64::try_from(clock::now().0).unwrap_or(0)).await;
        wait = if peers.pending() == 0 || sent > 0 {
            std::time::Duration::from_secs(2)
        } else {
            (wait * 2).min(std::time::Duration::from_secs(60))
        };
    }
}

/// Writes a file under a temporary name (created new, with `mode`), syncs it, renames it
/// into place and syncs the directory: a crash leaves the whole file or none.
pub fn write_new_durably(path: &std::path::Path, bytes: &[u8], mode: u32) -> std::io::Result<()> {
    use std::io::Write as _;
    let tmp = path.with_extension("partial");
    let _ = std::fs::remove_file(&tmp);
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, mode);
    #[cfg(not(unix))]
    let _ = mode;
    let mut f = options.open(&tmp)?;
    f.write_all(bytes)?;
    f.sync_all()?;
    std::fs::rename(&tmp, path)?;
    if let Some(dir) = path.parent() {
        std::fs::File::open(dir)?.sync_all()?;
    }
    Ok(())
}

/// Submits this node's checkpoint to the witnesses the directory names for it, every ten
/// seconds; the cosignatures gathered are served with the checkpoint.
pub async fn run_witnessing(w: std::sync::Arc<witnessing::Witnessing>) {
    loop {
        let round = w.submit(u64::try_from(clock::now().0).unwrap_or(0)).await;
        if !round.failed.is_empty() {
            tracing::debug!(failed = ?round.failed, "witnesses not reached this round");
        }
        tokio::time::sleep(std::time::Duration::from_secs(10)).await;
    }
}

/// Opens the node's log, storage and cases service (and logs what a crash left unlogged).
pub async fn open_services(
    config: &Resolved,
) -> Result<(std::sync::Arc<transparency::Transparency>, std::sync::Arc<cases::Cases>), StartError> {
    let log_dir = config.base.join(&config.config.storage.log_dir);
    let origin = format!("{}.custodia", config.config.node.name);
    let log = tokio::task::spawn_blocking(move || transparency::Transparency::open_or_create(&log_dir, &origin))
        .await
        .map_err(|e| StartError::Serve(std::io::Error::other(e)))??;
    let log = std::sync::Arc::new(log);
    let store = open_store(config).await?;
    let secret = node_secret(&config.base.join("data/node.secret"))?;
    let mut cases = cases::Cases::new(store, log.clone(), &config.config.node.name, secret);
    if let Some(peers) = open_peers(config)? {
        log_directory(&log, &peers, &config.base.join("data"))
            .map_err(|detail| StartError::Store { url: "federation".into(), detail })?;
        cases = cases.with_peers(peers);
    }
    let cases = std::sync::Arc::new(cases);
    let recovered = cases.recover().await.map_err(|p| StartError::Store {
        url: "(recovery)".into(),
        detail: p.detail.unwrap_or_else(|| p.title.to_string()),
    })?;
    if recovered.logged > 0 {
        eprintln!("logged {} event(s) that were stored but not yet logged when the node stopped", recovered.logged);
    }
    if recovered.released + recovered.discarded > 0 {
        eprintln!(
            "queued {} message(s) of changes stored when the node stopped; dropped {} of changes not stored",
            recovered.released, recovered.discarded
        );
    }
    Ok((log, cases))
}

/// Serves `config`'s node until SIGTERM or Ctrl-C, then finishes the requests in flight.
/// Opens (or creates) the node's log first.
pub async fn serve(config: Resolved) -> Result<(), StartError> {
    let (log, cases) = open_services(&config).await?;
    // In a federation: a witness for the other parties' logs, and this log submitted to
    // its witnesses. Set up before the node says it listens; a node whose witness cannot
    // start still serves (and says why), as it did before it witnessed.
    let witnessing = cases.peers().and_then(|peers| {
        let data = config.base.join("data");
        let log_dir = config.base.join(&config.config.storage.log_dir);
        match witnessing::witness_key(&data, &config.config.node.name).and_then(|key| {
            let vkey = key.verifier().to_string();
            witnessing::Witnessing::new(peers, key, &data, &log_dir).map(|w| (w, vkey))
        }) {
            Ok((w, vkey)) => {
                eprintln!("witness key {vkey} (the directory's cosigner for this node)");
                Some(std::sync::Arc::new(w))
            }
            Err(e) => {
                eprintln!("warning: witnessing is off: {e}");
                tracing::warn!(error = %e, "witnessing is off");
                None
            }
        }
    });
    let listener = tokio::net::TcpListener::bind(config.listen)
        .await
        .map_err(|source| StartError::Listen { addr: config.listen, source })?;
    let tls = match (&config.config.http.tls_cert, &config.config.http.tls_key) {
        (Some(c), Some(k)) => {
            Some(tls::server_config(&config.base.join(c), &config.base.join(k)).map_err(StartError::Tls)?)
        }
        _ => None,
    };
    tracing::info!(addr = %config.listen, node = %config.config.node.name, tls = tls.is_some(), "listening");
    let local = listener.local_addr().map_err(StartError::Serve)?;
    eprintln!(
        "custodia node {} ({}) listening on {}://{local}; log key {}",
        config.config.node.name,
        config.config.node.role.id(),
        if tls.is_some() { "https" } else { "http" },
        log.verifier_key
    );
    if let Some(peers) = cases.peers() {
        // Messages taken in before a stop are acted on now, before any new one comes.
        inbox::start_applier(cases.clone(), peers.clone());
        tokio::spawn(run_deliverer(peers));
    }
    if let Some(w) = &witnessing {
        tokio::spawn(run_witnessing(w.clone()));
    }
    // Secrecy ends on time: reveal what is due, every minute.
    let sweeper = cases.clone();
    tokio::spawn(async move {
        let mut every = tokio::time::interval(std::time::Duration::from_secs(60));
        loop {
            every.tick().await;
            match sweeper.sweep(clock::now()).await {
                Ok(0) => {}
                Ok(n) => tracing::info!(revealed = n, "confidentiality expired: revealed"),
                Err(p) => tracing::warn!(problem = ?p.detail, "reveal sweep failed"),
            }
        }
    });
    let blobs = evidence::open_blobs(&config)
        .map_err(|detail| StartError::Store { url: config.config.storage.blobs.clone(), detail })?;
    let app = api::app_full(config, Some(log), Some(cases), Some(blobs), witnessing);
    match tls {
        Some(tls) => {
            let listener = tls::TlsListener::new(listener, tls).map_err(StartError::Serve)?;
            axum::serve(listener, app).with_graceful_shutdown(shutdown_signal()).await.map_err(StartError::Serve)
        }
        None => axum::serve(listener, app).with_graceful_shutdown(shutdown_signal()).await.map_err(StartError::Serve),
    }
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

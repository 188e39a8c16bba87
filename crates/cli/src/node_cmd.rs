//! `custodia init` and `custodia serve`: a running node in two commands.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context as _, bail};
use clap::Args;

#[derive(Debug, Args)]
pub struct InitArgs {
    /// What kind of participant: central_authority, point_of_contact, court, provider, oversight.
    #[arg(long)]
    role: String,
    /// The directory to create the node in (its node.toml and data/).
    #[arg(long)]
    dir: PathBuf,
    /// The node's State (ISO 3166-1 alpha-2).
    #[arg(long, default_value = "AA")]
    state: String,
    /// The node's name in the federation (default: STATE-ROLE).
    #[arg(long)]
    name: Option<String>,
    /// Address and port to listen on.
    #[arg(long, default_value = "127.0.0.1:8080")]
    listen: String,
    /// Serve HTTPS with a new self-signed certificate (data/tls.crt, data/tls.key; see
    /// `custodia keys tls`).
    #[arg(long)]
    tls: bool,
}

#[derive(Debug, Args)]
pub struct ServeArgs {
    /// The node's configuration file.
    #[arg(long)]
    config: PathBuf,
    /// How the node logs to standard error: `text` for a person, `json` (one object per
    /// line) for a log collector. What is logged is set by CUSTODIA_LOG (default `info`;
    /// `debug` adds every request; `custodia::http=debug,info` only those).
    #[arg(long, value_enum, default_value_t = LogFormat::Text)]
    log_format: LogFormat,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    Text,
    Json,
}

/// Structured logs (tracing) on standard error, filtered by CUSTODIA_LOG.
fn init_logging(format: LogFormat) -> anyhow::Result<()> {
    let filter = match std::env::var("CUSTODIA_LOG") {
        Ok(f) => tracing_subscriber::EnvFilter::try_new(&f).with_context(|| format!("CUSTODIA_LOG={f:?}"))?,
        Err(_) => tracing_subscriber::EnvFilter::new("info"),
    };
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr);
    let done = match format {
        LogFormat::Text => builder.with_ansi(false).try_init(),
        LogFormat::Json => builder.json().flatten_event(true).try_init(),
    };
    done.map_err(|e| anyhow::anyhow!("starting the logs: {e}"))
}

pub fn init(args: InitArgs) -> anyhow::Result<ExitCode> {
    let Some(role) = node::PartyRole::parse(&args.role) else {
        let known: Vec<&str> = node::PartyRole::ALL.iter().map(|(id, _)| *id).collect();
        bail!("--role {:?} is not a node role: expected one of {}", args.role, known.join(", "));
    };
    let name = args.name.unwrap_or_else(|| format!("{}-{}", args.state, role.id().replace('_', "-")));
    let mut config = node::Config::example(&name, role, &args.state, &args.listen);
    // Validate before writing anything, so a bad flag leaves nothing behind.
    config.clone().validate(args.dir.clone()).map_err(|e| anyhow::anyhow!("{e}"))?;
    let path = args.dir.join("node.toml");
    if path.exists() {
        bail!("{} exists: refusing to overwrite a node's configuration", path.display());
    }
    std::fs::create_dir_all(args.dir.join("data")).with_context(|| format!("creating {}", args.dir.display()))?;
    if args.tls {
        let (cert, key) = crate::keys_cmd::write_tls(&args.dir.join("data"), &[], 365)?;
        println!("wrote {} and {} (self-signed, for local use)", cert.display(), key.display());
        config.http.tls_cert = Some("data/tls.crt".into());
        config.http.tls_key = Some("data/tls.key".into());
    }
    std::fs::write(&path, config.to_toml()).with_context(|| format!("writing {}", path.display()))?;
    let profiles = args.dir.join(&config.storage.profiles);
    if !profiles.exists() {
        std::fs::write(&profiles, node::DEFAULT_PROFILES).with_context(|| format!("writing {}", profiles.display()))?;
        println!("wrote {} (example States' legal profiles: edit them)", profiles.display());
    }
    println!("wrote {}", path.display());
    // The node's keys, as its first start would make them; the public ones are what the
    // federation directory lists for this party.
    let data = args.dir.join("data");
    node::node_secret(&data.join("node.secret")).map_err(|e| anyhow::anyhow!("{e}"))?;
    let log_dir = args.dir.join(&config.storage.log_dir);
    let log = node::transparency::Transparency::open_or_create(&log_dir, &format!("{name}.custodia"))
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    println!("log key {} (in {})", log.verifier_key, log_dir.join(tlog::client::VKEY_FILE).display());
    drop(log);
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs());
    node::peers::identity(&data, &name, now).map_err(|e| anyhow::anyhow!("{e}"))?;
    println!("identity (signing key and age recipient) in {}", data.join("identity.pub").display());
    let witness = node::witnessing::witness_key(&data, &name).map_err(|e| anyhow::anyhow!("{e}"))?;
    println!("witness key {}", witness.verifier());
    println!("start it with: custodia serve --config {}", path.display());
    Ok(ExitCode::SUCCESS)
}

pub fn serve(args: ServeArgs) -> anyhow::Result<ExitCode> {
    init_logging(args.log_format)?;
    let config = match node::Config::load(&args.config) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("error: bad configuration: {e}");
            return Ok(ExitCode::from(2));
        }
    };
    let runtime =
        tokio::runtime::Builder::new_multi_thread().enable_all().build().context("starting the async runtime")?;
    runtime.block_on(node::serve(config)).context("serving")?;
    Ok(ExitCode::SUCCESS)
}

#[derive(Debug, Args)]
pub struct BackupArgs {
    /// The node's configuration file.
    #[arg(long)]
    config: PathBuf,
    /// The backup file to write (a tar archive; refused if it exists).
    #[arg(long)]
    out: PathBuf,
}

#[derive(Debug, Args)]
pub struct RestoreArgs {
    /// The backup file (from `custodia backup`).
    #[arg(long)]
    from: PathBuf,
    /// The directory to restore into (absent or empty).
    #[arg(long)]
    dir: PathBuf,
}

pub fn backup(args: BackupArgs) -> anyhow::Result<ExitCode> {
    let config = match node::Config::load(&args.config) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("error: bad configuration: {e}");
            return Ok(ExitCode::from(2));
        }
    };
    let now = i64::try_from(crate::keys_cmd::now()?).unwrap_or(i64::MAX);
    let runtime =
        tokio::runtime::Builder::new_multi_thread().enable_all().build().context("starting the async runtime")?;
    let summary = runtime.block_on(node::backup::backup(&config, &args.config, &args.out, now))?;
    let m = &summary.manifest;
    println!(
        "wrote {} ({} bytes): node {}, {} files, the database as of now, the log at size {}",
        args.out.display(),
        summary.bytes,
        m.node,
        m.files.len(),
        m.log_size
    );
    Ok(ExitCode::SUCCESS)
}

pub fn restore(args: RestoreArgs) -> anyhow::Result<ExitCode> {
    let runtime =
        tokio::runtime::Builder::new_multi_thread().enable_all().build().context("starting the async runtime")?;
    let s = runtime.block_on(node::backup::restore(&args.from, &args.dir))?;
    println!(
        "restored node {} into {}: {} files match the manifest, database consistent ({} cases), log verified at size {} (root {})",
        s.manifest.node,
        args.dir.display(),
        s.manifest.files.len(),
        s.cases,
        s.log_size,
        s.log_root
    );
    println!("start it with: custodia serve --config {}", args.dir.join(&s.manifest.config).display());
    Ok(ExitCode::SUCCESS)
}

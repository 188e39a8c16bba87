//! `custodia log`: create, append to, verify, prove from and inspect transparency logs
//! (crate `tlog`). Logs are read from a directory or over HTTP(S).

use std::io::{BufRead as _, Write as _};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context as _, bail};
use clap::Subcommand;
use tlog::checkpoint::TrustPolicy;
use tlog::client::{self, VKEY_FILE};
use tlog::note::VerifierKey;
use tlog::sequencer::SequencerConfig;
use tlog::storage::{DirStorage, Fetch};
use tlog::tile::MAX_ENTRY_SIZE;

/// Transparency log commands.
#[derive(Debug, Subcommand)]
pub enum LogCommand {
    /// Create a log in a directory: writes its signing key (private/signing.key) and the
    /// checkpoint of the empty tree, and prints the verifier key.
    Init {
        /// Directory of the log (created if missing).
        #[arg(long)]
        dir: PathBuf,
        /// Origin of the log, e.g. example.com/log (also the key name).
        #[arg(long)]
        origin: String,
    },
    /// Append entries read from standard input, one per line. Refuses while another
    /// process holds the log, and refuses lines over 65535 bytes (nothing is appended).
    Append {
        /// Directory of the log.
        #[arg(long)]
        dir: PathBuf,
    },
    /// Verify a log: the checkpoint signatures, every tile recomputed from the entries,
    /// the root, and optionally consistency with an earlier checkpoint.
    Verify {
        /// Directory or http(s):// URL of the log.
        location: String,
        /// The log's verifier key (name+hexid+base64), or a file holding it.
        #[arg(long)]
        key: String,
        /// A witness verifier key (or a file holding it); repeat for several.
        #[arg(long = "witness")]
        witnesses: Vec<String>,
        /// How many of the witnesses must have cosigned (default: all given).
        #[arg(long)]
        quorum: Option<usize>,
        /// A file holding an earlier signed checkpoint that the log must extend.
        #[arg(long)]
        since: Option<PathBuf>,
        /// The log's origin, the checkpoint's first line (default: the log key's name).
        #[arg(long)]
        origin: Option<String>,
    },
    /// Print the inclusion proof of one entry (C2SP tlog-proof text) on standard output.
    Prove {
        /// Directory or http(s):// URL of the log.
        location: String,
        /// Index of the entry.
        #[arg(long)]
        index: u64,
        /// The log's verifier key or a file holding it (default: log.vkey in the directory).
        #[arg(long)]
        key: Option<String>,
        /// The log's origin, the checkpoint's first line (default: the log key's name).
        #[arg(long)]
        origin: Option<String>,
    },
    /// Show a log's checkpoint, signatures and size without verifying anything.
    Inspect {
        /// Directory or http(s):// URL of the log.
        location: String,
    },
}

/// Runs a `custodia log` command.
pub fn run(cmd: LogCommand) -> anyhow::Result<ExitCode> {
    match cmd {
        LogCommand::Init { dir, origin } => {
            let vkey = client::init_dir(&dir, &origin)?;
            println!("{vkey}");
            eprintln!(
                "created log {origin} in {}; signing key in {}/private/signing.key (keep private/ unpublished)",
                dir.display(),
                dir.display()
            );
        }
        LogCommand::Append { dir } => append(&dir)?,
        LogCommand::Verify { location, key, witnesses, quorum, since, origin } => {
            let fetch = open_location(&location)?;
            let log_key = read_key(&key)?;
            let witnesses = witnesses.iter().map(|w| read_key(w)).collect::<anyhow::Result<Vec<_>>>()?;
            let quorum = quorum.unwrap_or(witnesses.len());
            if quorum > witnesses.len() {
                bail!("--quorum {quorum} is more than the {} witness keys given", witnesses.len());
            }
            let origin = Some(origin.unwrap_or_else(|| log_key.name().to_owned()));
            let policy = TrustPolicy { origin, log_key: Some(log_key.clone()), witnesses, quorum };
            let since = since
                .map(|p| std::fs::read(&p).with_context(|| format!("reading --since checkpoint {}", p.display())))
                .transpose()?;
            let v = client::verify_log(fetch.as_ref(), &policy, since.as_deref()).map_err(origin_hint)?;
            let cp = &v.checkpoint;
            println!(
                "verified {}: {} entries, {} tiles and {} entry bundles recomputed",
                cp.origin, cp.size, v.report.tiles, v.report.bundles
            );
            println!("root {}", cp.root);
            println!("signed by {log_key}");
            if !policy.witnesses.is_empty() {
                println!(
                    "cosigned by {} of {} witnesses ({} required): {}",
                    v.witnesses.len(),
                    policy.witnesses.len(),
                    quorum,
                    v.witnesses.join(", ")
                );
            }
            if let Some(old) = v.consistent_since {
                println!("consistent with the earlier checkpoint at size {old}");
            }
        }
        LogCommand::Prove { location, index, key, origin } => {
            let fetch = open_location(&location)?;
            let key = match key {
                Some(k) => read_key(&k)?,
                None => {
                    let text = fetch
                        .get(VKEY_FILE)?
                        .with_context(|| format!("{location} has no {VKEY_FILE}; give the log key with --key"))?;
                    read_key(String::from_utf8_lossy(&text).trim())?
                }
            };
            let origin = Some(origin.unwrap_or_else(|| key.name().to_owned()));
            let policy = TrustPolicy { origin, log_key: Some(key), witnesses: Vec::new(), quorum: 0 };
            let (proof, _entry) = client::prove(fetch.as_ref(), &policy, index).map_err(origin_hint)?;
            std::io::stdout().write_all(&proof.to_text())?;
        }
        LogCommand::Inspect { location } => {
            let fetch = open_location(&location)?;
            let i = client::inspect(fetch.as_ref())?;
            println!("origin {}", i.checkpoint.origin);
            println!("size {}", i.checkpoint.size);
            println!("root {}", i.checkpoint.root);
            for e in &i.checkpoint.extensions {
                println!("extension {e}");
            }
            println!("tiles {} hash tiles, {} entry bundles", i.tiles, i.bundles);
            for (name, id, len) in &i.signatures {
                let kind = match len {
                    64 => "Ed25519",
                    72 => "timestamped cosignature",
                    _ => "unknown type",
                };
                println!("signature {name}+{id:08x} ({kind}, not verified)");
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// A verifier key given inline or as a file.
fn read_key(arg: &str) -> anyhow::Result<VerifierKey> {
    match VerifierKey::parse(arg) {
        Ok(k) => Ok(k),
        Err(inline_err) => {
            let path = Path::new(arg);
            if path.is_file() {
                let text = std::fs::read_to_string(path).with_context(|| format!("reading key file {arg}"))?;
                VerifierKey::parse(text.trim()).with_context(|| format!("key file {arg}"))
            } else {
                Err(inline_err).with_context(|| format!("{arg:?} is neither a verifier key nor a key file"))
            }
        }
    }
}

fn open_location(location: &str) -> anyhow::Result<Box<dyn Fetch>> {
    if location.starts_with("http://") || location.starts_with("https://") {
        return Ok(Box::new(tlog::http::HttpFetch::new(location)?));
    }
    let path = Path::new(location);
    if !path.is_dir() {
        bail!("{location} is not a directory (nor an http:// or https:// URL)");
    }
    Ok(Box::new(DirStorage::new(path)?))
}

fn append(dir: &Path) -> anyhow::Result<()> {
    // Read and check everything first, so that a bad line appends nothing.
    let mut entries: Vec<Vec<u8>> = Vec::new();
    let stdin = std::io::stdin();
    let mut reader = stdin.lock();
    let mut line = Vec::new();
    loop {
        line.clear();
        let n = reader.read_until(b'\n', &mut line).context("reading standard input")?;
        if n == 0 {
            break;
        }
        if line.last() == Some(&b'\n') {
            line.pop();
        }
        if line.len() > MAX_ENTRY_SIZE {
            bail!(
                "line {} is {} bytes; entries are limited to {MAX_ENTRY_SIZE} bytes (16-bit length prefix); nothing was appended",
                entries.len() + 1,
                line.len()
            );
        }
        entries.push(line.clone());
    }
    let log = client::open_dir(dir, SequencerConfig::default())?;
    if entries.is_empty() {
        let (size, _) = log.sequencer.head();
        println!("appended 0 entries; tree size {size}");
        return Ok(());
    }
    let count = entries.len() as u64;
    let mut first = None;
    let chunk = SequencerConfig::default().max_batch;
    let mut rest = entries;
    while !rest.is_empty() {
        let tail = rest.split_off(rest.len().min(chunk));
        let i = log.sequencer.append_batch(rest)?;
        first.get_or_insert(i);
        rest = tail;
    }
    let first = first.unwrap_or(0);
    let (size, root) = log.sequencer.head();
    println!("appended {count} entries at indexes {first}..={}; tree size {size}, root {root}", first + count - 1);
    Ok(())
}

/// A checkpoint of another origin is refused (`TrustPolicy::origin`); the error says how
/// to name a log whose origin is not its key's name.
fn origin_hint(e: client::ClientError) -> anyhow::Error {
    match e {
        client::ClientError::Checkpoint(tlog::checkpoint::CheckpointError::WrongOrigin { .. }) => {
            anyhow::anyhow!("{e} (give --origin if this log's origin is not its key's name)")
        }
        e => e.into(),
    }
}

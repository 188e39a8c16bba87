//! `custodia keys`: generate and inspect a party's keys (crate `seal`).

use std::io::Write as _;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context as _, bail};
use clap::Subcommand;
use seal::{PublicIdentity, SecretIdentity, Validity};

/// Key commands.
#[derive(Debug, Subcommand)]
pub enum KeysCommand {
    /// Generate an Ed25519 signing key and an age X25519 identity: writes DIR/NAME.key
    /// (secret, mode 0600, an age identity file that `age -d -i` reads) and DIR/NAME.pub
    /// (the verifier key, the age recipient and the validity period, self-signed).
    /// Refuses to overwrite either file.
    Generate {
        /// Key name: 1 to 64 characters from A-Z a-z 0-9 . _ -
        name: String,
        /// Folder for the two files (created if missing).
        #[arg(long)]
        out: PathBuf,
        /// Start of validity, Unix seconds (default: now).
        #[arg(long)]
        not_before: Option<u64>,
        /// Length of validity in days.
        #[arg(long, default_value_t = 365)]
        valid_days: u64,
    },
    /// Make a self-signed TLS certificate for a node's HTTPS, for local use: writes
    /// DIR/tls.crt and DIR/tls.key (mode 0600), to name in node.toml as `[http] tls_cert`
    /// and `tls_key`. Refuses to overwrite either file.
    Tls {
        /// Folder for the two files (created if missing).
        #[arg(long)]
        out: PathBuf,
        /// A DNS name or IP address the certificate is for (repeat it); default: localhost,
        /// 127.0.0.1 and ::1.
        #[arg(long = "name")]
        names: Vec<String>,
        /// Length of validity in days.
        #[arg(long, default_value_t = 365)]
        valid_days: u32,
    },
    /// Check a public key file (self-signature, fields) and print its contents.
    Show {
        /// A NAME.pub file.
        public: PathBuf,
    },
}

/// Seconds since the Unix epoch, now.
pub fn now() -> anyhow::Result<u64> {
    Ok(std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .context("the clock is before 1970")?
        .as_secs())
}

/// Runs a key command.
pub fn run(cmd: KeysCommand) -> anyhow::Result<ExitCode> {
    match cmd {
        KeysCommand::Generate { name, out, not_before, valid_days } => {
            let created = now()?;
            let nb = not_before.unwrap_or(created);
            let na = valid_days.checked_mul(86_400).and_then(|d| nb.checked_add(d)).context("validity out of range")?;
            let validity = Validity::new(nb, na)?;
            let id = SecretIdentity::generate(&name, validity, created)?;
            std::fs::create_dir_all(&out).with_context(|| format!("{}: cannot create folder", out.display()))?;
            let key_path = out.join(format!("{name}.key"));
            let pub_path = out.join(format!("{name}.pub"));
            for p in [&key_path, &pub_path] {
                if std::fs::symlink_metadata(p).is_ok() {
                    bail!("{}: already exists, refusing to overwrite", p.display());
                }
            }
            write_new(&key_path, id.secret_file().as_bytes(), 0o600)?;
            write_new(&pub_path, id.public_file().as_bytes(), 0o644)?;
            let public = id.public();
            println!("wrote {} (secret) and {}", key_path.display(), pub_path.display());
            println!("verifier: {}", public.verifier);
            println!("recipient: {}", public.recipient);
            println!("valid: {} to {}", validity.not_before, validity.not_after);
            Ok(ExitCode::SUCCESS)
        }
        KeysCommand::Tls { out, names, valid_days } => {
            let (cert, key) = write_tls(&out, &names, valid_days)?;
            println!("wrote {} and {} (secret)", cert.display(), key.display());
            println!("to serve HTTPS, add to node.toml under [http]:");
            println!("tls_cert = {:?}\ntls_key = {:?}", cert.display().to_string(), key.display().to_string());
            Ok(ExitCode::SUCCESS)
        }
        KeysCommand::Show { public } => {
            let text =
                std::fs::read_to_string(&public).with_context(|| format!("{}: cannot read", public.display()))?;
            let id = PublicIdentity::parse(&text).with_context(|| public.display().to_string())?;
            println!("name: {}", id.name());
            println!("verifier: {}", id.verifier);
            println!("recipient: {}", id.recipient);
            println!("valid: {} to {}", id.validity.not_before, id.validity.not_after);
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// Writes OUT/tls.crt and OUT/tls.key, a self-signed certificate for `names` (default:
/// localhost, 127.0.0.1, ::1); refuses to overwrite.
pub fn write_tls(out: &std::path::Path, names: &[String], valid_days: u32) -> anyhow::Result<(PathBuf, PathBuf)> {
    if valid_days == 0 || valid_days > 3650 {
        bail!("--valid-days {valid_days}: expected 1 to 3650");
    }
    let names: Vec<String> =
        if names.is_empty() { vec!["localhost".into(), "127.0.0.1".into(), "::1".into()] } else { names.to_vec() };
    let (cert_pem, key_pem) = node::tls::self_signed(&names, valid_days).map_err(|e| anyhow::anyhow!("{e}"))?;
    std::fs::create_dir_all(out).with_context(|| format!("{}: cannot create folder", out.display()))?;
    let cert = out.join("tls.crt");
    let key = out.join("tls.key");
    for p in [&cert, &key] {
        if std::fs::symlink_metadata(p).is_ok() {
            bail!("{}: already exists, refusing to overwrite", p.display());
        }
    }
    write_new(&key, key_pem.as_bytes(), 0o600)?;
    write_new(&cert, cert_pem.as_bytes(), 0o644)?;
    Ok((cert, key))
}

fn write_new(path: &std::path::Path, bytes: &[u8], mode: u32) -> anyhow::Result<()> {
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt as _;
        opts.mode(mode);
    }
    #[cfg(not(unix))]
    let _ = mode;
    let mut f = opts.open(path).with_context(|| format!("{}: cannot create", path.display()))?;
    f.write_all(bytes).and_then(|()| f.sync_all()).with_context(|| format!("{}: cannot write", path.display()))?;
    Ok(())
}

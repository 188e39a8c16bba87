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

//! `custodia evidence`: seal, verify and open evidence packages (crate `seal`).

use std::io::IsTerminal as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context as _;
use clap::Subcommand;
use seal::evidence;
use seal::{Progress, PublicIdentity, SecretIdentity};

/// Evidence package commands.
#[derive(Debug, Subcommand)]
pub enum EvidenceCommand {
    /// Seal files and folders into a new package: one age file per input, encrypted to
    /// every recipient, and a manifest signed with the sealer's key.
    Seal {
        /// An age recipient (age1…) or a NAME.pub file; repeat for several.
        #[arg(long = "to", required = true)]
        to: Vec<String>,
        /// The sealer's NAME.key file.
        #[arg(long)]
        sign: PathBuf,
        /// The package folder to create (must not exist).
        #[arg(long)]
        out: PathBuf,
        /// Files and folders to seal.
        #[arg(required = true)]
        inputs: Vec<PathBuf>,
    },
    /// Verify a package without any secret key: the manifest signature and the size and
    /// SHA-256 of every age file.
    Verify {
        /// The package folder.
        package: PathBuf,
        /// The sealer's NAME.pub file.
        #[arg(long)]
        signer: PathBuf,
    },
    /// Verify and decrypt a package into a folder. Files appear under their names only
    /// once every file has matched the manifest; on failure nothing is written.
    Open {
        /// The package folder.
        package: PathBuf,
        /// An age identity file (a custodia NAME.key or age-keygen output).
        #[arg(long)]
        identity: PathBuf,
        /// The sealer's NAME.pub file.
        #[arg(long)]
        signer: PathBuf,
        /// Folder to decrypt into (created if missing; existing files are never replaced).
        #[arg(long)]
        out: PathBuf,
    },
}

struct Bar(Option<indicatif::ProgressBar>);

impl Bar {
    fn new() -> Self {
        Self(std::io::stderr().is_terminal().then(indicatif::ProgressBar::hidden))
    }
}

impl Progress for Bar {
    fn start(&mut self, total: u64) {
        if let Some(b) = &self.0 {
            b.set_length(total);
            b.set_draw_target(indicatif::ProgressDrawTarget::stderr());
            if let Ok(style) = indicatif::ProgressStyle::with_template(
                "{bar:40} {bytes}/{total_bytes} {binary_bytes_per_sec} eta {eta}",
            ) {
                b.set_style(style);
            }
        }
    }

    fn advance(&mut self, n: u64) {
        if let Some(b) = &self.0 {
            b.inc(n);
        }
    }
}

impl Drop for Bar {
    fn drop(&mut self) {
        if let Some(b) = &self.0 {
            b.finish_and_clear();
        }
    }
}

fn read_public(path: &Path) -> anyhow::Result<PublicIdentity> {
    let text = std::fs::read_to_string(path).with_context(|| format!("{}: cannot read", path.display()))?;
    PublicIdentity::parse(&text).with_context(|| path.display().to_string())
}

/// Runs an evidence command.
pub fn run(cmd: EvidenceCommand) -> anyhow::Result<ExitCode> {
    match cmd {
        EvidenceCommand::Seal { to, sign, out, inputs } => {
            let recipients =
                to.iter()
                    .map(|r| {
                        if r.starts_with("age1") {
                            Ok(r.clone())
                        } else {
                            read_public(Path::new(r)).map(|p| p.recipient)
                        }
                    })
                    .collect::<anyhow::Result<Vec<_>>>()?;
            let key_text = seal::zeroize::Zeroizing::new(
                std::fs::read_to_string(&sign).with_context(|| format!("{}: cannot read", sign.display()))?,
            );
            let sealer = SecretIdentity::parse(&key_text).with_context(|| sign.display().to_string())?;
            let inputs = evidence::collect_inputs(&inputs)?;
            let now = crate::keys_cmd::now()?;
            let m = evidence::seal(&inputs, &recipients, &sealer, now, &out, &mut Bar::new())?;
            let total: u64 = m.files.iter().map(|f| f.size).sum();
            println!("sealed {} ({total} bytes) into {}", files(m.files.len()), out.display());
            println!("sealer: {}", m.sealer);
            for r in &m.recipients {
                println!("recipient: {r}");
            }
            Ok(ExitCode::SUCCESS)
        }
        EvidenceCommand::Verify { package, signer } => {
            let signer = read_public(&signer)?;
            let m = evidence::verify(&package, &signer, &mut Bar::new())?;
            print_manifest(&m);
            println!("verified {}: {}, signature and ciphertext hashes match", package.display(), files(m.files.len()));
            Ok(ExitCode::SUCCESS)
        }
        EvidenceCommand::Open { package, identity, signer, out } => {
            let signer = read_public(&signer)?;
            let ids = evidence::read_identities(&identity)?;
            let m = evidence::open(&package, &ids, &signer, &out, &mut Bar::new())?;
            print_manifest(&m);
            println!("opened {} into {}", files(m.files.len()), out.display());
            Ok(ExitCode::SUCCESS)
        }
    }
}

fn print_manifest(m: &seal::Manifest) {
    println!("sealer: {}", m.sealer);
    println!("created: {}", m.created);
    for f in &m.files {
        println!("{}  {}  {} bytes", hex_encode(&f.sha256), f.name, f.size);
    }
}

fn hex_encode(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// "1 file", "2 files".
fn files(n: usize) -> String {
    if n == 1 { "1 file".into() } else { format!("{n} files") }
}

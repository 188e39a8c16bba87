//! `custodia admin`: the node's API tokens.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context as _;
use clap::Subcommand;

#[derive(Debug, Subcommand)]
pub enum AdminCommand {
    /// API tokens: one role each, stored hashed, revocable.
    #[command(subcommand)]
    Token(TokenCommand),
    /// People's accounts (argon2id password hashes), for the web pages and the API.
    #[command(subcommand)]
    User(UserCommand),
}

#[derive(Debug, Subcommand)]
pub enum UserCommand {
    /// Add an account; the password is read from standard input (one line, 12 characters or more).
    Add {
        /// The node's configuration file.
        #[arg(long)]
        config: PathBuf,
        /// The login name.
        #[arg(long)]
        name: String,
        /// Its role: case_worker, judge, central_authority, point_of_contact, provider_legal, oversight, administrator.
        #[arg(long)]
        role: String,
    },
    /// List the accounts (names and roles).
    List {
        /// The node's configuration file.
        #[arg(long)]
        config: PathBuf,
    },
}

fn users(config: &std::path::Path) -> anyhow::Result<node::users::Users> {
    let c = node::Config::load(config).map_err(|e| anyhow::anyhow!("bad configuration: {e}"))?;
    let path = c.base.join(&c.config.storage.users);
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    Ok(node::users::Users::new(path))
}

#[derive(Debug, Subcommand)]
pub enum TokenCommand {
    /// Make a token and print it (once: only its hash is kept).
    Create {
        /// The node's configuration file.
        #[arg(long)]
        config: PathBuf,
        /// Who or what holds it.
        #[arg(long)]
        name: String,
        /// Its role: case_worker, judge, central_authority, point_of_contact, provider_legal, oversight, administrator.
        #[arg(long)]
        role: String,
    },
    /// List the tokens (ids, names, roles; never the tokens).
    List {
        /// The node's configuration file.
        #[arg(long)]
        config: PathBuf,
    },
    /// Revoke a token by its id.
    Revoke {
        /// The node's configuration file.
        #[arg(long)]
        config: PathBuf,
        /// The token's id (`tok_...`).
        #[arg(long)]
        id: String,
    },
}

fn tokens(config: &std::path::Path) -> anyhow::Result<node::auth::Tokens> {
    let c = node::Config::load(config).map_err(|e| anyhow::anyhow!("bad configuration: {e}"))?;
    let path = c.base.join(&c.config.storage.tokens);
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    Ok(node::auth::Tokens::new(path))
}

pub fn run(cmd: AdminCommand) -> anyhow::Result<ExitCode> {
    let cmd = match cmd {
        AdminCommand::Token(t) => t,
        AdminCommand::User(UserCommand::Add { config, name, role }) => {
            let mut password = String::new();
            std::io::stdin().read_line(&mut password).context("reading the password from standard input")?;
            let u = users(&config)?.add(&name, &role, password.trim_end_matches(['\r', '\n']))?;
            println!("added {} ({})", u.name, u.role);
            return Ok(ExitCode::SUCCESS);
        }
        AdminCommand::User(UserCommand::List { config }) => {
            for u in users(&config)?.list()? {
                println!("{}\t{}\t{}", u.name, u.role, if u.disabled { "disabled" } else { "active" });
            }
            return Ok(ExitCode::SUCCESS);
        }
    };
    match cmd {
        TokenCommand::Create { config, name, role } => {
            let now = node::clock::now().0;
            let (record, token) = tokens(&config)?.create(&name, &role, now)?;
            eprintln!(
                "created {} for {} ({}); keep the token secret, it is not shown again:",
                record.id, record.name, record.role
            );
            println!("{token}");
        }
        TokenCommand::List { config } => {
            for r in tokens(&config)?.list()? {
                println!("{}\t{}\t{}\t{}", r.id, r.role, if r.revoked { "revoked" } else { "active" }, r.name);
            }
        }
        TokenCommand::Revoke { config, id } => {
            let r = tokens(&config)?.revoke(&id)?;
            println!("revoked {} ({}, {})", r.id, r.name, r.role);
        }
    }
    Ok(ExitCode::SUCCESS)
}

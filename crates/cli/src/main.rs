//! `custodia`: the command-line front of every custodia crate. It stays thin: parsing
//! arguments, reading files and printing; the decisions live in the library crates.
#![forbid(unsafe_code)]

use std::process::ExitCode;

use clap::{Parser, Subcommand};

mod policy_cmd;
// (other command modules are declared below this line, one per line)
mod admin_cmd;
mod demo_cmd;
mod evidence_cmd;
mod keys_cmd;
mod log_cmd;
mod node_cmd;

/// custodia: cross-border requests for electronic evidence, with the safeguards built in.
#[derive(Debug, Parser)]
#[command(name = "custodia", version, about, long_about = None, term_width = 0)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Check requests against the treaties and the States' legal profiles.
    #[command(subcommand)]
    Policy(policy_cmd::PolicyCommand),
    // (other commands are added below this line, one variant each)
    /// Keys: generate a party's signing key and age identity or a node's TLS certificate, show a public key file.
    #[command(subcommand)]
    Keys(keys_cmd::KeysCommand),
    /// Evidence packages: seal files to age recipients, verify without keys, open.
    #[command(subcommand)]
    Evidence(evidence_cmd::EvidenceCommand),
    /// Write a working configuration for a new node (then `custodia serve`).
    Init(node_cmd::InitArgs),
    /// Run this node's server: the HTTP API and its OpenAPI document.
    Serve(node_cmd::ServeArgs),
    /// Back up a node (the embedded default: SQLite, local blobs, its log) to one file,
    /// while it runs or not.
    Backup(node_cmd::BackupArgs),
    /// Restore a backup into a new directory, checking every file, the database and the log.
    Restore(node_cmd::RestoreArgs),
    /// The whole story on one machine: five nodes on loopback show every safeguard.
    Demo(demo_cmd::DemoArgs),
    /// Administer a node: its API tokens.
    #[command(subcommand)]
    Admin(admin_cmd::AdminCommand),
    /// Transparency logs: create, append, verify, prove, inspect.
    #[command(subcommand)]
    Log(log_cmd::LogCommand),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Policy(cmd) => policy_cmd::run(cmd),
        // (other commands are dispatched below this line, one arm each)
        Command::Keys(cmd) => keys_cmd::run(cmd),
        Command::Evidence(cmd) => evidence_cmd::run(cmd),
        Command::Init(args) => node_cmd::init(args),
        Command::Serve(args) => node_cmd::serve(args),
        Command::Backup(args) => node_cmd::backup(args),
        Command::Restore(args) => node_cmd::restore(args),
        Command::Admin(cmd) => admin_cmd::run(cmd),
        Command::Demo(args) => demo_cmd::run(args),
        Command::Log(cmd) => log_cmd::run(cmd),
    };
    match result {
        Ok(code) => code,
        Err(err) => {
            eprintln!("error: {}", error_line(&err));
            ExitCode::FAILURE
        }
    }
}

/// The error and its causes on one line, `a: b: c`, leaving out a cause whose text the
/// line already ends with (an error that quotes its source would otherwise say it twice).
fn error_line(err: &anyhow::Error) -> String {
    let mut line = String::new();
    for cause in err.chain() {
        let text = cause.to_string();
        if line == text || line.ends_with(&format!(": {text}")) {
            continue;
        }
        if !line.is_empty() {
            line.push_str(": ");
        }
        line.push_str(&text);
    }
    line
}

#[cfg(test)]
mod tests {
    use super::error_line;

    #[test]
    fn a_cause_that_the_message_already_quotes_is_said_once() {
        #[derive(Debug)]
        struct Inner;
        impl std::fmt::Display for Inner {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("no trusted signature")
            }
        }
        impl std::error::Error for Inner {}
        #[derive(Debug)]
        struct Outer(Inner);
        impl std::fmt::Display for Outer {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                write!(f, "checkpoint: {}", self.0)
            }
        }
        impl std::error::Error for Outer {
            fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
                Some(&self.0)
            }
        }
        let err = anyhow::Error::new(Outer(Inner));
        assert_eq!(error_line(&err), "checkpoint: no trusted signature");
        let err = err.context("reading the log");
        assert_eq!(error_line(&err), "reading the log: checkpoint: no trusted signature");
        let plain = anyhow::Error::new(Inner).context("verifying");
        assert_eq!(error_line(&plain), "verifying: no trusted signature");
        // A cause that merely ends the message's last word is still said.
        let word = anyhow::Error::new(Inner).context("found no trusted signature");
        assert_eq!(error_line(&word), "found no trusted signature: no trusted signature");
    }
}

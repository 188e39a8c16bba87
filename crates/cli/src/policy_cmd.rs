//! `custodia policy`: check a case file against the treaties and profiles; print the rules.

use std::io::{Read, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context as _;
use clap::{Subcommand, ValueEnum};

/// Exit status for input that is not a valid case file.
const EXIT_INVALID_INPUT: u8 = 2;

#[derive(Debug, Subcommand)]
pub enum PolicyCommand {
    /// Decide a case file: prints the decision (outcome, grounds, conditions) and exits 0;
    /// invalid input exits 2 with one line per problem on standard error.
    Check {
        /// The case file (case.schema.json), or `-` for standard input.
        case: PathBuf,
        /// Output format.
        #[arg(long, value_enum, default_value_t = Format::Json)]
        format: Format,
    },
    /// Print the rule table (code, level, article, when) from the code itself.
    Rules,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum Format {
    /// The decision as JSON (the contract in POLICY.md).
    Json,
    /// The decision for a person: the outcome, then one line per ground and condition.
    Text,
}

pub fn run(cmd: PolicyCommand) -> anyhow::Result<ExitCode> {
    match cmd {
        PolicyCommand::Check { case, format } => check(&case, format),
        PolicyCommand::Rules => {
            write_stdout(&policy::rules_markdown())?;
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// Reads at most the JSON reader's limit plus one byte, so that an oversized input is
/// refused without being held in memory whole.
fn read_input(path: &PathBuf) -> Result<Vec<u8>, String> {
    let limit = policy::json::MAX_INPUT_BYTES as u64 + 1;
    let mut buf = Vec::new();
    if path.as_os_str() == "-" {
        std::io::stdin()
            .lock()
            .take(limit)
            .read_to_end(&mut buf)
            .map_err(|e| format!("(root): cannot read standard input: {e}"))?;
    } else {
        let file = std::fs::File::open(path).map_err(|e| format!("(root): cannot open {}: {e}", path.display()))?;
        if let Ok(meta) = file.metadata()
            && meta.is_file()
            && meta.len() >= limit
        {
            return Err(format!(
                "(root): input is {} bytes, more than the limit of {} bytes for a case file",
                meta.len(),
                policy::json::MAX_INPUT_BYTES
            ));
        }
        file.take(limit).read_to_end(&mut buf).map_err(|e| format!("(root): cannot read {}: {e}", path.display()))?;
    }
    Ok(buf)
}

fn check(path: &PathBuf, format: Format) -> anyhow::Result<ExitCode> {
    let input = match read_input(path) {
        Ok(b) => b,
        Err(line) => {
            eprintln!("{line}");
            return Ok(ExitCode::from(EXIT_INVALID_INPUT));
        }
    };
    let case = match policy::parse_case(&input) {
        Ok(c) => c,
        Err(problems) => {
            let mut err = std::io::stderr().lock();
            for p in problems {
                let _ = writeln!(err, "{p}");
            }
            return Ok(ExitCode::from(EXIT_INVALID_INPUT));
        }
    };
    let decision = policy::evaluate(&case);
    let text = match format {
        Format::Json => {
            let mut s = serde_json::to_string_pretty(&decision).context("serializing the decision")?;
            s.push('\n');
            s
        }
        Format::Text => decision.to_text(),
    };
    write_stdout(&text)?;
    Ok(ExitCode::SUCCESS)
}

/// Writes all of `text` at once; a closed pipe is not an error worth a message.
fn write_stdout(text: &str) -> anyhow::Result<()> {
    let mut out = std::io::stdout().lock();
    match out.write_all(text.as_bytes()).and_then(|()| out.flush()) {
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => Err(e).context("writing to standard output"),
        _ => Ok(()),
    }
}

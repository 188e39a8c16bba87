//! What the tests that run `custodia serve` as a process share: starting a node, reading
//! the address it listens on, making tokens, killing it.
#![allow(dead_code)]

use std::io::{BufRead as _, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use serde_json::Value;

/// The binary under test.
pub fn custodia() -> Command {
    Command::new(env!("CARGO_BIN_EXE_custodia"))
}

/// A running node; killed when dropped.
pub struct Node(pub Child);

impl Drop for Node {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

impl Node {
    /// SIGKILL: no chance to finish anything.
    pub fn kill(mut self) {
        self.0.kill().unwrap();
        self.0.wait().unwrap();
    }
}

/// Waits for `serve`'s "listening on URL" line on `stderr` and returns the URL; the rest
/// of its standard error is drained in the background.
pub fn listening(child: &mut Child) -> String {
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    let addr = loop {
        let line = lines.next().expect("serve ended before listening").unwrap();
        if let Some(rest) = line.split(" listening on ").nth(1) {
            break rest.split(';').next().unwrap().to_string();
        }
    };
    std::thread::spawn(move || for _ in lines {});
    addr
}

/// Starts `custodia serve --config CONFIG` and returns it with the URL it listens on.
pub fn serve(config: &Path) -> (Node, String) {
    let mut child = custodia()
        .args(["serve", "--config"])
        .arg(config)
        .stderr(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let addr = listening(&mut child);
    (Node(child), addr)
}

/// `custodia init --role ROLE --state BB --listen 127.0.0.1:0 --dir DIR`; the node.toml.
pub fn init(dir: &Path, role: &str) -> PathBuf {
    let out = custodia()
        .args(["init", "--role", role, "--state", "BB", "--listen", "127.0.0.1:0", "--dir"])
        .arg(dir)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    dir.join("node.toml")
}

/// A new API token for `role` (named after it).
pub fn token(config: &Path, role: &str) -> String {
    let out = custodia()
        .args(["admin", "token", "create", "--config"])
        .arg(config)
        .args(["--name", role, "--role", role])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let text = String::from_utf8(out.stdout).unwrap();
    text.split_whitespace().find(|w| w.starts_with("cst_")).expect("a token").to_string()
}

/// A case file that a requested State admits.
pub fn case_file() -> Value {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../node/tests/data/stored-data-confidential.case.json");
    serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap()
}

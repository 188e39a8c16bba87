//! `custodia log init/append/verify/prove/inspect` as a user runs them.

use std::io::{BufRead as _, BufReader, Read as _, Write as _};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use assert_cmd::cargo::CommandCargoExt;
use tlog::checkpoint::TrustPolicy;
use tlog::client::TlogProof;
use tlog::note::VerifierKey;

fn custodia() -> Command {
    Command::cargo_bin("custodia").expect("the custodia binary is built")
}

fn run(args: &[&str], stdin: &[u8]) -> Output {
    let mut child =
        custodia().args(args).stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
    child.stdin.take().unwrap().write_all(stdin).unwrap();
    child.wait_with_output().unwrap()
}

fn ok(args: &[&str], stdin: &[u8]) -> String {
    let out = run(args, stdin);
    assert!(out.status.success(), "{args:?} failed: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap()
}

fn fails(args: &[&str], stdin: &[u8]) -> String {
    let out = run(args, stdin);
    assert!(!out.status.success(), "{args:?} succeeded: {}", String::from_utf8_lossy(&out.stdout));
    String::from_utf8(out.stderr).unwrap()
}

fn new_log(dir: &Path, lines: usize) -> String {
    let d = dir.to_str().unwrap();
    let vkey = ok(&["log", "init", "--dir", d, "--origin", "example.com/cli-log"], b"").trim().to_string();
    VerifierKey::parse(&vkey).unwrap();
    let input: String = (0..lines).map(|i| format!("entry number {i}\n")).collect();
    let out = ok(&["log", "append", "--dir", d], input.as_bytes());
    assert!(out.starts_with(&format!("appended {lines} entries at indexes 0..={}", lines - 1)), "{out}");
    vkey
}

#[test]
fn init_append_verify_prove_inspect() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("log");
    let d = dir.to_str().unwrap();
    let vkey = new_log(&dir, 600);
    let out = ok(&["log", "verify", d, "--key", &vkey], b"");
    assert!(out.contains("verified example.com/cli-log: 600 entries"), "{out}");
    // The key can be given as a file too.
    let out = ok(&["log", "verify", d, "--key", dir.join("log.vkey").to_str().unwrap()], b"");
    assert!(out.contains("600 entries"));

    // Appending more keeps the old checkpoint consistent.
    let old = tmp.path().join("old-checkpoint");
    std::fs::copy(dir.join("checkpoint"), &old).unwrap();
    ok(&["log", "append", "--dir", d], b"one\ntwo\nlast line without newline");
    let out = ok(&["log", "verify", d, "--key", &vkey, "--since", old.to_str().unwrap()], b"");
    assert!(out.contains("603 entries") && out.contains("consistent with the earlier checkpoint at size 600"), "{out}");

    // A proof verifies independently, for the entry and only for it.
    let proof = ok(&["log", "prove", d, "--index", "601"], b"");
    let p = TlogProof::parse(proof.as_bytes()).unwrap();
    let policy =
        TrustPolicy { origin: None, log_key: Some(VerifierKey::parse(&vkey).unwrap()), witnesses: vec![], quorum: 0 };
    p.verify(b"two", &policy).unwrap();
    assert!(p.verify(b"one", &policy).is_err());
    let err = fails(&["log", "prove", d, "--index", "603"], b"");
    assert!(err.contains("leaf index 603 is not below the tree size 603"), "{err}");

    let out = ok(&["log", "inspect", d], b"");
    assert!(out.contains("origin example.com/cli-log\nsize 603\n"), "{out}");
    assert!(out.contains("signature example.com/cli-log+"), "{out}");
}

#[test]
fn verify_names_the_first_tile_or_bundle_that_does_not_match() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("log");
    let d = dir.to_str().unwrap();
    let vkey = new_log(&dir, 700);

    let bundle = dir.join("tile/entries/001");
    let original = std::fs::read(&bundle).unwrap();
    let mut bad = original.clone();
    let last = bad.len() - 1;
    bad[last] ^= 1;
    std::fs::write(&bundle, &bad).unwrap();
    let err = fails(&["log", "verify", d, "--key", &vkey], b"");
    assert!(err.contains("tile tile/0/001 does not match the entries in tile/entries/001: hash 255 differs"), "{err}");
    std::fs::write(&bundle, &original).unwrap();

    let tile = dir.join("tile/0/002.p/188");
    let mut bad = std::fs::read(&tile).unwrap();
    bad[40] ^= 0x80;
    std::fs::write(&tile, &bad).unwrap();
    let err = fails(&["log", "verify", d, "--key", &vkey], b"");
    assert!(
        err.contains("tile tile/0/002.p/188 does not match the entries in tile/entries/002.p/188: hash 1 differs"),
        "{err}"
    );
}

#[test]
fn verify_refuses_another_key_and_a_missing_quorum() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("log");
    let d = dir.to_str().unwrap();
    new_log(&dir, 3);
    let other = tmp.path().join("other");
    let other_key = new_log(&other, 3);
    let err = fails(&["log", "verify", d, "--key", &other_key], b"");
    assert!(err.contains("no signature from a trusted key"), "{err}");
    let vkey = std::fs::read_to_string(dir.join("log.vkey")).unwrap();
    let witness = tlog::witness::generate_witness_key("witness.example/w1").unwrap().verifier().to_string();
    let err = fails(&["log", "verify", d, "--key", vkey.trim(), "--witness", &witness], b"");
    assert!(err.contains("checkpoint has 0 valid witness cosignatures, 1 required"), "{err}");
    let err = fails(&["log", "verify", d, "--key", vkey.trim(), "--witness", &witness, "--quorum", "2"], b"");
    assert!(err.contains("--quorum 2 is more than the 1 witness keys given"), "{err}");
    let err = fails(&["log", "verify", d, "--key", "nonsense"], b"");
    assert!(err.contains("neither a verifier key nor a key file"), "{err}");
    let err = fails(&["log", "verify", tmp.path().join("absent").to_str().unwrap(), "--key", vkey.trim()], b"");
    assert!(err.contains("is not a directory"), "{err}");
}

/// A checkpoint signed by the log's key but naming another origin is another log's:
/// `verify` and `prove` refuse it unless `--origin` says that origin is expected.
#[test]
fn verify_and_prove_refuse_a_checkpoint_of_another_origin() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("log");
    let d = dir.to_str().unwrap();
    let vkey = new_log(&dir, 3);
    let key =
        tlog::note::SignerKey::parse(std::fs::read_to_string(dir.join("private/signing.key")).unwrap().trim()).unwrap();
    let path = dir.join(tlog::sequencer::CHECKPOINT);
    let note = tlog::note::Note::parse(&std::fs::read(&path).unwrap()).unwrap();
    let mut cp = tlog::checkpoint::Checkpoint::from_text(&note.text).unwrap();
    cp.origin = "other.example/log".into();
    std::fs::write(&path, cp.sign(&key).unwrap().to_bytes()).unwrap();
    let err = fails(&["log", "verify", d, "--key", &vkey], b"");
    assert!(
        err.contains(r#"checkpoint origin is "other.example/log", expected "example.com/cli-log""#)
            && err.contains("--origin"),
        "{err}"
    );
    let err = fails(&["log", "prove", d, "--index", "1", "--key", &vkey], b"");
    assert!(err.contains(r#"checkpoint origin is "other.example/log""#), "{err}");
    let out = ok(&["log", "verify", d, "--key", &vkey, "--origin", "other.example/log"], b"");
    assert!(out.starts_with("verified other.example/log: 3 entries"), "{out}");
    ok(&["log", "prove", d, "--index", "1", "--key", &vkey, "--origin", "other.example/log"], b"");
}

#[test]
fn append_refuses_while_another_process_holds_the_log_and_oversized_lines() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("log");
    let d = dir.to_str().unwrap();
    new_log(&dir, 1);
    let store = tlog::storage::DirStorage::new(&dir).unwrap();
    let lock = store.lock().unwrap();
    let err = fails(&["log", "append", "--dir", d], b"x\n");
    assert!(err.contains("is locked by another process"), "{err}");
    drop(lock);
    let mut big = vec![b'a'; 65_536];
    big.push(b'\n');
    let err = fails(&["log", "append", "--dir", d], &big);
    assert!(err.contains("line 1 is 65536 bytes; entries are limited to 65535 bytes"), "{err}");
    let out = ok(&["log", "append", "--dir", d], &big[1..]);
    assert!(out.contains("appended 1 entries at indexes 1..=1"), "{out}");
    let err = fails(&["log", "init", "--dir", d, "--origin", "example.com/again"], b"");
    assert!(err.contains("already holds a log"), "{err}");
    let err = fails(&["log", "append", "--dir", tmp.path().join("empty").to_str().unwrap()], b"x\n");
    assert!(err.contains("run `custodia log init` first"), "{err}");
}

/// Serves a directory over HTTP on loopback for a bounded number of requests.
fn serve(root: PathBuf, max_requests: usize) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        for stream in listener.incoming().take(max_requests) {
            let Ok(mut stream) = stream else { continue };
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let mut request_line = String::new();
            if reader.read_line(&mut request_line).is_err() {
                continue;
            }
            loop {
                let mut h = String::new();
                if reader.read_line(&mut h).is_err() || h == "\r\n" || h.is_empty() {
                    break;
                }
            }
            let path = request_line.split(' ').nth(1).unwrap_or("/").trim_start_matches('/').to_string();
            let file = root.join(&path);
            let (status, body) = if !path.contains("..") && file.is_file() {
                let mut b = Vec::new();
                std::fs::File::open(&file).unwrap().read_to_end(&mut b).unwrap();
                ("200 OK", b)
            } else {
                ("404 Not Found", Vec::new())
            };
            let head = format!("HTTP/1.1 {status}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n", body.len());
            let _ = stream.write_all(head.as_bytes());
            let _ = stream.write_all(&body);
        }
    });
    format!("http://{addr}")
}

#[test]
fn verify_prove_and_inspect_over_http() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("log");
    let vkey = new_log(&dir, 300);
    let url = serve(dir.clone(), 200);
    let out = ok(&["log", "verify", &url, "--key", &vkey], b"");
    assert!(out.contains("verified example.com/cli-log: 300 entries"), "{out}");
    let proof = ok(&["log", "prove", &url, "--index", "299", "--key", &vkey], b"");
    assert!(proof.starts_with("c2sp.org/tlog-proof@v1\nindex 299\n"), "{proof}");
    let out = ok(&["log", "inspect", &format!("{url}/")], b"");
    assert!(out.contains("size 300"), "{out}");
    let err = fails(&["log", "inspect", &format!("{url}/nothing-here")], b"");
    assert!(err.contains("no checkpoint found"), "{err}");
}

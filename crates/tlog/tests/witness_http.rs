//! The witness behind a minimal loopback HTTP server, and a log submitting to it over
//! HTTP with the client of the `http` feature: cosigned, stale size, rewritten history.
#![cfg(feature = "http")]

use std::io::{BufRead as _, BufReader, Read as _, Write as _};
use std::net::TcpListener;
use std::sync::Arc;

use tlog::checkpoint::Checkpoint;
use tlog::merkle::{self, MemoryTree};
use tlog::note::{KeyKind, SignerKey};
use tlog::witness::{AddCheckpointRequest, MemoryWitnessState, Witness, WitnessOutcome, attach_cosignatures};

const ORIGIN: &str = "example.com/http-log";

fn serve(w: Arc<Witness<MemoryWitnessState>>, max_requests: usize) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        for stream in listener.incoming().take(max_requests) {
            let Ok(mut stream) = stream else { continue };
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let mut line = String::new();
            reader.read_line(&mut line).unwrap();
            let mut len = 0usize;
            loop {
                let mut h = String::new();
                reader.read_line(&mut h).unwrap();
                if h == "\r\n" || h.is_empty() {
                    break;
                }
                if let Some(v) = h.to_ascii_lowercase().strip_prefix("content-length:") {
                    len = v.trim().parse().unwrap();
                }
            }
            let mut body = vec![0; len];
            reader.read_exact(&mut body).unwrap();
            let (status, ct, out) = if !line.starts_with("POST /add-checkpoint ") {
                (404, "text/plain", b"not found\n".to_vec())
            } else {
                match w.add_checkpoint(&body, 1_700_000_000) {
                    Ok(lines) => (200, "text/plain", lines),
                    Err(e) => {
                        let (ct, b) = e.body().unwrap_or(("text/plain", format!("{e}\n")));
                        (e.status(), ct, b.into_bytes())
                    }
                }
            };
            let head = format!(
                "HTTP/1.1 {status} X\r\nContent-Type: {ct}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                out.len()
            );
            stream.write_all(head.as_bytes()).unwrap();
            stream.write_all(&out).unwrap();
        }
    });
    format!("http://{addr}")
}

#[test]
fn a_log_gets_cosigned_over_http_and_a_rewrite_is_a_root_mismatch() {
    let log = SignerKey::from_seed(ORIGIN, KeyKind::Ed25519, [8; 32]).unwrap();
    let wkey = SignerKey::from_seed("witness.example/http", KeyKind::Cosignature, [9; 32]).unwrap();
    let w = Arc::new(Witness::new(wkey, vec![(ORIGIN.into(), vec![log.verifier()])], MemoryWitnessState::default()));
    let url = serve(w.clone(), 10);
    let client = reqwest::blocking::Client::new();
    let mut t = MemoryTree::new();
    for i in 0..20 {
        t.push_entry(format!("e{i}").as_bytes());
    }
    let signed =
        |t: &MemoryTree, n: u64| Checkpoint::new(ORIGIN, n, t.root_at(n).unwrap()).sign(&log).unwrap().to_bytes();
    let body = |t: &MemoryTree, old: u64, n: u64| {
        AddCheckpointRequest { old, proof: merkle::consistency_proof(t, old, n).unwrap(), checkpoint: signed(t, n) }
            .to_bytes()
    };
    let WitnessOutcome::Cosigned(lines) = tlog::http::add_checkpoint(&client, &url, &body(&t, 0, 10)).unwrap() else {
        panic!("not cosigned")
    };
    attach_cosignatures(&signed(&t, 10), &lines, &w.verifier()).unwrap();
    // The log forgot what the witness saw: the witness tells it the size to use.
    assert_eq!(tlog::http::add_checkpoint(&client, &url, &body(&t, 0, 15)).unwrap(), WitnessOutcome::OldSize(10));
    // A rewritten history from size 10.
    let mut forked = MemoryTree::new();
    for i in 0..20 {
        forked.push_entry(format!("e{i}{}", if i >= 5 { "'" } else { "" }).as_bytes());
    }
    assert_eq!(
        tlog::http::add_checkpoint(&client, &url, &body(&forked, 10, 15)).unwrap(),
        WitnessOutcome::RootMismatch
    );
    assert!(matches!(
        tlog::http::add_checkpoint(&client, &url, &body(&t, 10, 20)).unwrap(),
        WitnessOutcome::Cosigned(_)
    ));
}

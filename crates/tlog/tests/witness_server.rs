//! The axum witness router on loopback, driven by the HTTP witness client.
#![cfg(all(feature = "witness-server", feature = "http"))]

use std::sync::Arc;

use tlog::checkpoint::Checkpoint;
use tlog::merkle::{self, MemoryTree};
use tlog::note::{KeyKind, SignerKey};
use tlog::witness::{AddCheckpointRequest, DirWitnessState, Witness, WitnessOutcome, attach_cosignatures};

const ORIGIN: &str = "example.com/axum-log";

#[test]
fn the_router_answers_with_the_spec_status_codes() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let state_dir = tempfile::tempdir().unwrap();
    let log = SignerKey::from_seed(ORIGIN, KeyKind::Ed25519, [11; 32]).unwrap();
    let wkey = SignerKey::from_seed("witness.example/axum", KeyKind::Cosignature, [12; 32]).unwrap();
    let w = Arc::new(Witness::new(
        wkey,
        vec![(ORIGIN.into(), vec![log.verifier()])],
        DirWitnessState::open(state_dir.path()).unwrap(),
    ));
    let listener = rt.block_on(tokio::net::TcpListener::bind("127.0.0.1:0")).unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let app = tlog::witness_server::router(w.clone());
    rt.spawn(async move { axum::serve(listener, app).await });

    let client = reqwest::blocking::Client::new();
    let mut t = MemoryTree::new();
    for i in 0..40 {
        t.push_entry(format!("e{i}").as_bytes());
    }
    let signed = |n: u64| Checkpoint::new(ORIGIN, n, t.root_at(n).unwrap()).sign(&log).unwrap().to_bytes();
    let body = |old: u64, n: u64| {
        AddCheckpointRequest { old, proof: merkle::consistency_proof(&t, old, n).unwrap(), checkpoint: signed(n) }
            .to_bytes()
    };
    let WitnessOutcome::Cosigned(lines) = tlog::http::add_checkpoint(&client, &url, &body(0, 16)).unwrap() else {
        panic!("not cosigned")
    };
    let note = attach_cosignatures(&signed(16), &lines, &w.verifier()).unwrap();
    assert_eq!(note.signatures.len(), 2);
    assert_eq!(tlog::http::add_checkpoint(&client, &url, &body(0, 20)).unwrap(), WitnessOutcome::OldSize(16));
    let mut bad = body(16, 20);
    let n = bad.len();
    bad[n - 10] ^= 1; // breaks the log signature
    assert_eq!(tlog::http::add_checkpoint(&client, &url, &bad).unwrap(), WitnessOutcome::Forbidden);
    assert_eq!(tlog::http::add_checkpoint(&client, &url, b"garbage").unwrap(), WitnessOutcome::Failed(400));
    assert!(matches!(tlog::http::add_checkpoint(&client, &url, &body(16, 40)).unwrap(), WitnessOutcome::Cosigned(_)));
    drop(rt);
}

//! The witness: cosigns consistent checkpoints, catches a log that rewrites history or
//! shows two views, persists atomically, and the client reads its answers.

use std::sync::Arc;

use tlog::checkpoint::{Checkpoint, TrustPolicy};
use tlog::merkle::{self, MemoryTree};
use tlog::note::{KeyKind, SignerKey};
use tlog::witness::{
    AddCheckpointRequest, DirWitnessState, MemoryWitnessState, Witness, WitnessError, WitnessOutcome,
    attach_cosignatures, classify_response,
};

const ORIGIN: &str = "example.com/witnessed-log";

fn log_key() -> SignerKey {
    SignerKey::from_seed(ORIGIN, KeyKind::Ed25519, [3; 32]).unwrap()
}
fn witness_key() -> SignerKey {
    SignerKey::from_seed("witness.example/w1", KeyKind::Cosignature, [4; 32]).unwrap()
}

fn tree(n: u64, fork_at: Option<u64>) -> MemoryTree {
    let mut t = MemoryTree::new();
    for i in 0..n {
        let forked = fork_at.is_some_and(|f| i >= f);
        t.push_entry(format!("entry {i}{}", if forked { " (rewritten)" } else { "" }).as_bytes());
    }
    t
}

fn signed(t: &MemoryTree, size: u64) -> Vec<u8> {
    Checkpoint::new(ORIGIN, size, t.root_at(size).unwrap()).sign(&log_key()).unwrap().to_bytes()
}

fn request(t: &MemoryTree, old: u64, size: u64) -> Vec<u8> {
    let proof = merkle::consistency_proof(t, old, size).unwrap();
    AddCheckpointRequest { old, proof, checkpoint: signed(t, size) }.to_bytes()
}

fn witness<S: tlog::witness::WitnessState>(state: S) -> Witness<S> {
    Witness::new(witness_key(), vec![(ORIGIN.to_string(), vec![log_key().verifier()])], state)
}

#[test]
fn cosigns_a_consistent_log_and_the_client_verifies_the_quorum() {
    let w = witness(MemoryWitnessState::default());
    let t = tree(40, None);
    let lines = w.add_checkpoint(&request(&t, 0, 5), 1_700_000_000).unwrap();
    assert!(lines.starts_with("— witness.example/w1 ".as_bytes()));
    let lines = w.add_checkpoint(&request(&t, 5, 17), 1_700_000_001).unwrap();
    let note = attach_cosignatures(&signed(&t, 17), &lines, &w.verifier()).unwrap();
    let policy =
        TrustPolicy { origin: None, log_key: Some(log_key().verifier()), witnesses: vec![w.verifier()], quorum: 1 };
    let cp = policy.open(&note.to_bytes()).unwrap();
    assert_eq!(cp.checkpoint.size, 17);
    assert!(cp.verified.iter().any(|v| v.timestamp == Some(1_700_000_001)));
    // Without the cosignature the quorum is not met.
    assert!(policy.open(&signed(&t, 17)).is_err());
    // Same size, same root again: cosigned again (the size does not move).
    w.add_checkpoint(&request(&t, 17, 17), 1_700_000_002).unwrap();
    w.add_checkpoint(&request(&t, 17, 40), 1_700_000_003).unwrap();
}

#[test]
fn a_log_that_rewrites_history_is_caught() {
    let w = witness(MemoryWitnessState::default());
    let honest = tree(30, None);
    w.add_checkpoint(&request(&honest, 0, 10), 1).unwrap();
    // The log rewrites entry 7 onwards and offers a bigger tree with a proof from its
    // new history: the proof does not lead to the root the witness cosigned.
    let forked = tree(30, Some(7));
    let err = w.add_checkpoint(&request(&forked, 10, 20), 2).unwrap_err();
    assert!(matches!(err, WitnessError::Inconsistent { .. }), "{err}");
    assert_eq!(err.status(), 422);
    assert_eq!(classify_response(err.status(), None, b""), WitnessOutcome::RootMismatch);
    // The honest continuation is still accepted: the witness state did not move.
    w.add_checkpoint(&request(&honest, 10, 20), 3).unwrap();
}

#[test]
fn a_split_view_at_the_same_size_is_caught() {
    let w = witness(MemoryWitnessState::default());
    let a = tree(12, None);
    let b = tree(12, Some(11));
    w.add_checkpoint(&request(&a, 0, 12), 1).unwrap();
    let err = w.add_checkpoint(&request(&b, 12, 12), 2).unwrap_err();
    assert!(matches!(err, WitnessError::RootConflict { .. }), "{err}");
    assert_eq!(err.status(), 409);
    assert_eq!(err.body(), None);
    assert_eq!(classify_response(409, Some("text/plain"), b"conflict\n"), WitnessOutcome::RootMismatch);
}

#[test]
fn refusals_carry_the_spec_status_codes() {
    let w = witness(MemoryWitnessState::default());
    let t = tree(20, None);
    w.add_checkpoint(&request(&t, 0, 8), 1).unwrap();
    // Stale old size: 409 with the latest size as text/x.tlog.size.
    let err = w.add_checkpoint(&request(&t, 0, 12), 2).unwrap_err();
    assert_eq!(err.status(), 409);
    let (ct, body) = err.body().unwrap();
    assert_eq!((ct, body.as_str()), ("text/x.tlog.size", "8\n"));
    assert_eq!(classify_response(409, Some(ct), body.as_bytes()), WitnessOutcome::OldSize(8));
    // Old size above the checkpoint size: 400.
    let req = AddCheckpointRequest { old: 13, proof: vec![], checkpoint: signed(&t, 12) }.to_bytes();
    assert_eq!(w.add_checkpoint(&req, 3).unwrap_err().status(), 400);
    // Unknown log: 404.
    let other = SignerKey::from_seed("example.com/other", KeyKind::Ed25519, [5; 32]).unwrap();
    let cp = Checkpoint::new("example.com/other", 3, t.root_at(3).unwrap()).sign(&other).unwrap().to_bytes();
    let req = AddCheckpointRequest { old: 0, proof: vec![], checkpoint: cp }.to_bytes();
    assert_eq!(w.add_checkpoint(&req, 4).unwrap_err().status(), 404);
    // Signed by a key the witness does not trust for this origin: 403.
    let impostor = SignerKey::from_seed(ORIGIN, KeyKind::Ed25519, [6; 32]).unwrap();
    let cp = Checkpoint::new(ORIGIN, 12, t.root_at(12).unwrap()).sign(&impostor).unwrap().to_bytes();
    let proof = merkle::consistency_proof(&t, 8, 12).unwrap();
    let req = AddCheckpointRequest { old: 8, proof, checkpoint: cp }.to_bytes();
    assert_eq!(w.add_checkpoint(&req, 5).unwrap_err().status(), 403);
    // Malformed bodies: 400.
    for body in [&b""[..], b"old 08\n\n", b"old 8\nnot-a-hash\n\n", b"old 8", b"new 8\n\n"] {
        assert_eq!(w.add_checkpoint(body, 6).unwrap_err().status(), 400, "{:?}", String::from_utf8_lossy(body));
    }
    let mut many = b"old 8\n".to_vec();
    for _ in 0..64 {
        many.extend_from_slice(format!("{}\n", t.root()).as_bytes());
    }
    many.extend_from_slice(b"\n");
    many.extend_from_slice(&signed(&t, 12));
    assert_eq!(w.add_checkpoint(&many, 7).unwrap_err().status(), 400);
    // A non-empty proof where the spec says it must be empty does not verify: 422, like
    // any proof that does not verify ("The proof MUST be empty if the old size is zero.
    // If the Merkle Consistency Proof doesn't verify, ... 422"). Nothing is stored.
    let fresh = witness(MemoryWitnessState::default());
    let extra = vec![t.root_at(1).unwrap()];
    let req = AddCheckpointRequest { old: 0, proof: extra.clone(), checkpoint: signed(&t, 5) }.to_bytes();
    assert_eq!(fresh.add_checkpoint(&req, 8).unwrap_err().status(), 422);
    let req = AddCheckpointRequest { old: 8, proof: extra, checkpoint: signed(&t, 8) }.to_bytes();
    assert_eq!(w.add_checkpoint(&req, 9).unwrap_err().status(), 422);
    let req = AddCheckpointRequest { old: 8, proof: vec![], checkpoint: signed(&t, 8) }.to_bytes();
    w.add_checkpoint(&req, 10).expect("the same checkpoint again, with an empty proof, is cosigned");
    fresh.add_checkpoint(&request(&t, 0, 5), 11).expect("the fresh witness stored nothing from the refusal");
    assert_eq!(classify_response(429, None, b""), WitnessOutcome::RetryLater);
    assert_eq!(classify_response(404, None, b""), WitnessOutcome::UnknownLog);
    assert_eq!(classify_response(403, None, b""), WitnessOutcome::Forbidden);
    assert_eq!(classify_response(500, None, b""), WitnessOutcome::Failed(500));
}

#[test]
fn concurrent_submissions_never_roll_the_state_back() {
    for _ in 0..20 {
        let w = Arc::new(witness(MemoryWitnessState::default()));
        let t = Arc::new(tree(64, None));
        w.add_checkpoint(&request(&t, 0, 10), 1).unwrap();
        let handles: Vec<_> = [15u64, 20, 30, 40, 64]
            .into_iter()
            .map(|size| {
                let (w, t) = (w.clone(), t.clone());
                std::thread::spawn(move || w.add_checkpoint(&request(&t, 10, size), 2).is_ok().then_some(size))
            })
            .collect();
        let winners: Vec<u64> = handles.into_iter().filter_map(|h| h.join().unwrap()).collect();
        assert_eq!(winners.len(), 1, "exactly one submission from old size 10 wins: {winners:?}");
        // The state is the winner's size: a request from the winner's size succeeds.
        let won = winners[0];
        w.add_checkpoint(&request(&t, won, 64), 3).unwrap();
    }
}

#[test]
fn directory_state_persists_and_is_locked() {
    let dir = tempfile::tempdir().unwrap();
    let t = tree(20, None);
    {
        let w = witness(DirWitnessState::open(dir.path()).unwrap());
        w.add_checkpoint(&request(&t, 0, 9), 1).unwrap();
        assert!(DirWitnessState::open(dir.path()).is_err(), "a second process must be refused");
    }
    // What it keeps for the log is the signed checkpoint it cosigned.
    let files: Vec<_> = std::fs::read_dir(dir.path().join("logs")).unwrap().map(|e| e.unwrap().path()).collect();
    assert_eq!(files.len(), 1);
    assert_eq!(std::fs::read(&files[0]).unwrap(), signed(&t, 9));
    let w = witness(DirWitnessState::open(dir.path()).unwrap());
    let err = w.add_checkpoint(&request(&t, 0, 12), 2).unwrap_err();
    assert!(matches!(err, WitnessError::OldSizeMismatch { latest: 9, .. }), "{err}");
    w.add_checkpoint(&request(&t, 9, 12), 3).unwrap();
    assert_eq!(std::fs::read(&files[0]).unwrap(), signed(&t, 12));
    drop(w);
    // A state file of an earlier version (origin, size and root only) still loads.
    std::fs::write(&files[0], format!("{ORIGIN}\n12\n{}\n", t.root_at(12).unwrap())).unwrap();
    let w = witness(DirWitnessState::open(dir.path()).unwrap());
    w.add_checkpoint(&request(&t, 12, 15), 4).unwrap();
}

//! A real tlog-tiles tree (Sunlight test data, 300 entries) cosigned by a mirror.

use std::path::Path;

use tlog::checkpoint::TrustPolicy;
use tlog::note::VerifierKey;
use tlog::storage::DirStorage;
use tlog::tile::TilePath;
use tlog::tiles::{TileTree, TreeError, verify_tree};

const MIRROR: &str = "mirror.example.org+3fb148ef+BAAjjch9GyYz0sJsJx7ALhbdAtz2ov0unbzSl1vMp94O";

fn fixture() -> DirStorage {
    DirStorage::new(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/sunlight-mirror-300")).unwrap()
}

fn open() -> tlog::checkpoint::SignedCheckpoint {
    let store = fixture();
    let msg = std::fs::read(store.root().join("checkpoint")).unwrap();
    let policy =
        TrustPolicy { origin: None, log_key: None, witnesses: vec![VerifierKey::parse(MIRROR).unwrap()], quorum: 1 };
    policy.open(&msg).unwrap()
}

#[test]
fn checkpoint_cosignature_verifies() {
    let cp = open();
    assert_eq!(cp.checkpoint.origin, "rome2026h1.example.org");
    assert_eq!(cp.checkpoint.size, 300);
    assert_eq!(cp.checkpoint.root.to_base64(), "gw31yQrqZZCcEOPrzX+bpy3nJ6QgngTKn8G1m0i62uU=");
    assert_eq!(cp.verified.len(), 1);
    let ts = cp.verified[0].timestamp.unwrap();
    assert!(ts > 1_700_000_000, "cosignature timestamp {ts}");
}

#[test]
fn a_tampered_checkpoint_fails_the_cosignature() {
    let store = fixture();
    let msg = std::fs::read_to_string(store.root().join("checkpoint")).unwrap();
    let tampered = msg.replacen("\n300\n", "\n301\n", 1);
    let policy =
        TrustPolicy { origin: None, log_key: None, witnesses: vec![VerifierKey::parse(MIRROR).unwrap()], quorum: 1 };
    assert!(policy.open(tampered.as_bytes()).is_err());
}

#[test]
fn tree_recomputes_from_the_tiles() {
    let cp = open();
    let store = fixture();
    let report = verify_tree(&store, cp.checkpoint.size, &cp.checkpoint.root, false).unwrap();
    assert_eq!(report.tiles, 3);
    let tree = TileTree::new(&store, 300);
    for index in [0, 1, 255, 256, 299] {
        let proof = tree.inclusion_proof(index).unwrap();
        let leaf = tree.leaf_hash(index).unwrap();
        tlog::merkle::verify_inclusion(&leaf, index, 300, &proof, &cp.checkpoint.root).unwrap();
    }
    let old_root = TileTree::new(&store, 256).root().unwrap();
    let proof = tree.consistency_proof(256).unwrap();
    tlog::merkle::verify_consistency(256, 300, &old_root, &cp.checkpoint.root, &proof).unwrap();
}

#[test]
fn placeholder_entry_bundles_are_reported_not_crashed_on() {
    let cp = open();
    let store = fixture();
    let err = verify_tree(&store, cp.checkpoint.size, &cp.checkpoint.root, true).unwrap_err();
    let msg = err.to_string();
    assert!(matches!(err, TreeError::Tile(_) | TreeError::TileMismatch { .. }), "{msg}");
    assert!(msg.contains("tile/entries/000"), "{msg}");
}

#[test]
fn the_level_one_tile_matches_the_level_zero_tile() {
    let store = fixture();
    let tree = TileTree::new(&store, 300);
    let l1 = tree.tile_hashes(TilePath::hashes(1, 0, 1)).unwrap();
    let l0 = tree.tile_hashes(TilePath::hashes(0, 0, 256)).unwrap();
    let mut mem = tlog::merkle::MemoryTree::new();
    for h in l0 {
        mem.push_leaf_hash(h);
    }
    assert_eq!(l1, vec![mem.root()]);
}

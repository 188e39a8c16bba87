//! Writes the seed corpora: envelopes signed by the fixed test key (valid, to another
//! recipient, another type, empty and larger bodies) and the text formats (a manifest, a
//! public key, a secret key, a verifier key).
//!   cargo run --manifest-path crates/seal/fuzz/Cargo.toml --bin make_seeds -- crates/seal/fuzz/corpus

use std::path::PathBuf;

use seal::envelope::{Envelope, Message};
use seal::SecretIdentity;

fn main() {
    let out = PathBuf::from(std::env::args().nth(1).expect("usage: make_seeds CORPUS_DIR"));
    let alice = SecretIdentity::parse(include_str!("../alice.key")).unwrap();
    let t0 = alice.validity().not_before + 60;
    let env_dir = out.join("envelope");
    std::fs::create_dir_all(&env_dir).unwrap();
    let cases: [(&str, &str, Vec<u8>); 5] = [
        ("bob", "request", b"{\"case\":\"c1\"}".to_vec()),
        ("bob", "ack", Vec::new()),
        ("carol", "request", b"hello".to_vec()),
        ("bob", "evidence.manifest", vec![0xAB; 300]),
        ("bob", "preservation", b"24/7 preservation request".to_vec()),
    ];
    for (i, (to, ty, body)) in cases.into_iter().enumerate() {
        let m = Message::new(to, ty, t0, body).unwrap();
        let e = Envelope::seal(&alice, m).unwrap();
        std::fs::write(env_dir.join(format!("seed-{i}")), e.bytes()).unwrap();
    }
    let text_dir = out.join("manifest");
    std::fs::create_dir_all(&text_dir).unwrap();
    std::fs::write(text_dir.join("public-key"), alice.public_file()).unwrap();
    std::fs::write(text_dir.join("secret-key"), alice.secret_file().as_bytes()).unwrap();
    std::fs::write(text_dir.join("verifier-key"), alice.verifier().to_string()).unwrap();
    let src = out.join("seed-input.txt");
    std::fs::write(&src, b"evidence\n").unwrap();
    let inputs = seal::evidence::collect_inputs(std::slice::from_ref(&src)).unwrap();
    let pkg = out.join("seed-pkg");
    let _ = std::fs::remove_dir_all(&pkg);
    seal::evidence::seal(&inputs, &[alice.public().recipient.clone()], &alice, t0, &pkg, &mut seal::evidence::NoProgress)
        .unwrap();
    std::fs::copy(pkg.join(seal::evidence::MANIFEST), text_dir.join("manifest")).unwrap();
    std::fs::remove_dir_all(&pkg).unwrap();
    std::fs::remove_file(&src).unwrap();
    println!("seeds written to {}", out.display());
}

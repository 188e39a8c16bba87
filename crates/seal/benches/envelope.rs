//! Envelope sign and verify rates on one core, next to raw ed25519-dalek signing and
//! `verify_strict` over the same bytes. Run: `cargo bench -p seal --bench envelope`.

use divan::{Bencher, black_box};
use ed25519_dalek::{Signer as _, SigningKey};
use seal::{Envelope, EnvelopeVerifier, Keyring, MemoryReplayCache, Message, SecretIdentity, Validity};

const T0: u64 = 1_800_000_000;
const BODY: usize = 256;

fn main() {
    divan::main();
}

fn setup() -> (SecretIdentity, EnvelopeVerifier) {
    let alice = SecretIdentity::generate("alice", Validity::new(T0 - 10, T0 + 10).unwrap(), T0).unwrap();
    let mut ring = Keyring::new();
    ring.add_identity(&alice.public());
    (alice, EnvelopeVerifier::new(ring, "bob"))
}

#[divan::bench]
fn envelope_seal(b: Bencher) {
    let (alice, _) = setup();
    b.bench_local(|| {
        let m = Message::new("bob", "request.submit", T0, vec![7u8; BODY]).unwrap();
        black_box(Envelope::seal(&alice, m).unwrap())
    });
}

#[divan::bench]
fn envelope_verify(b: Bencher) {
    let (alice, v) = setup();
    // Fresh IDs so the replay cache accepts each one (its cost is included).
    let envs: Vec<Vec<u8>> = (0..4096)
        .map(|_| {
            Envelope::seal(&alice, Message::new("bob", "request.submit", T0, vec![7u8; BODY]).unwrap())
                .unwrap()
                .bytes()
                .to_vec()
        })
        .collect();
    let mut cache = MemoryReplayCache::new();
    let mut i = 0;
    b.bench_local(|| {
        i += 1;
        if i % envs.len() == 0 {
            cache = MemoryReplayCache::new();
        }
        black_box(v.verify(&envs[i % envs.len()], T0, &mut cache).unwrap())
    });
}

#[divan::bench]
fn raw_ed25519_sign(b: Bencher) {
    let key = SigningKey::from_bytes(&[9u8; 32]);
    let msg = vec![7u8; BODY + 80];
    b.bench_local(|| black_box(key.sign(black_box(&msg))));
}

#[divan::bench]
fn raw_ed25519_verify_strict(b: Bencher) {
    let key = SigningKey::from_bytes(&[9u8; 32]);
    let msg = vec![7u8; BODY + 80];
    let sig = key.sign(&msg);
    let vk = key.verifying_key();
    b.bench_local(|| black_box(vk.verify_strict(black_box(&msg), &sig).is_ok()));
}

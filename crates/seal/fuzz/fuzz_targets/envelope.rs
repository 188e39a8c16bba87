//! Envelope parsing and verification on arbitrary bytes: never panics, and whatever
//! parses re-encodes to the same bytes.
#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use seal::envelope::{DEFAULT_MAX_BODY, Envelope};
use seal::{EnvelopeVerifier, Keyring, MemoryReplayCache, SecretIdentity, Validity};

const T0: u64 = 1_800_000_000;

fn verifier() -> &'static EnvelopeVerifier {
    static V: OnceLock<EnvelopeVerifier> = OnceLock::new();
    V.get_or_init(|| {
        let id = SecretIdentity::generate("alice", Validity::new(T0 - 10, T0 + 10).unwrap(), T0).unwrap();
        let mut ring = Keyring::new();
        ring.add_identity(&id.public());
        EnvelopeVerifier::new(ring, "bob")
    })
}

fuzz_target!(|data: &[u8]| {
    if let Ok(env) = Envelope::parse(data, DEFAULT_MAX_BODY) {
        assert_eq!(env.bytes(), data);
        assert_eq!(env.signed_bytes().len() + 64, data.len());
    }
    let _ = verifier().verify(data, T0, &mut MemoryReplayCache::new());
});

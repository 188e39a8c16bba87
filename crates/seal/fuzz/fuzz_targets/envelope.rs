//! Envelope parsing and verification on arbitrary bytes: never panics, and whatever
//! parses re-encodes to the same bytes.
#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use seal::envelope::{DEFAULT_MAX_BODY, Envelope};
use seal::{EnvelopeVerifier, Keyring, MemoryReplayCache, SecretIdentity};

/// A fixed key (a test key, committed), so that the seed corpus (`make_seeds`) holds
/// envelopes that verify and the fuzzer starts from the deep end of `verify`.
const ALICE: &str = include_str!("../alice.key");

/// The time of verification: one minute into the key's validity.
fn t0() -> u64 {
    static T: OnceLock<u64> = OnceLock::new();
    *T.get_or_init(|| SecretIdentity::parse(ALICE).unwrap().validity().not_before + 60)
}

fn verifier() -> &'static EnvelopeVerifier {
    static V: OnceLock<EnvelopeVerifier> = OnceLock::new();
    V.get_or_init(|| {
        let id = SecretIdentity::parse(ALICE).unwrap();
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
    let _ = verifier().verify(data, t0(), &mut MemoryReplayCache::new());
});

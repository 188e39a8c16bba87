//! Witness add-checkpoint request bodies: parsing never panics, parsed requests
//! re-encode exactly, and the witness answers every body without panicking.
#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use tlog::note::{KeyKind, SignerKey};
use tlog::witness::{AddCheckpointRequest, MemoryWitnessState, Witness};

fn witness() -> &'static Witness<MemoryWitnessState> {
    static W: OnceLock<Witness<MemoryWitnessState>> = OnceLock::new();
    W.get_or_init(|| {
        let log = SignerKey::from_seed("example.com/log", KeyKind::Ed25519, [1; 32]).unwrap();
        let key = SignerKey::from_seed("witness.example", KeyKind::Cosignature, [2; 32]).unwrap();
        Witness::new(key, vec![("example.com/log".into(), vec![log.verifier()])], MemoryWitnessState::default())
    })
}

fuzz_target!(|data: &[u8]| {
    if let Ok(r) = AddCheckpointRequest::parse(data) {
        assert_eq!(r.to_bytes(), data);
    }
    let _ = witness().add_checkpoint(data, 1_700_000_000);
});

//! The text parsers (manifest, signed note, key files, verifier keys) on arbitrary
//! input: never panic, and an accepted manifest body is canonical (re-renders exactly).
#![no_main]

use libfuzzer_sys::fuzz_target;
use seal::{Manifest, PublicIdentity, SecretIdentity, VerifierKey};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    if let Ok(m) = Manifest::parse_body(text) {
        assert_eq!(m.body(), text);
    }
    if let Ok((body, _sigs)) = seal::note::split(text) {
        let _ = Manifest::parse_body(body);
    }
    let _ = PublicIdentity::parse(text);
    let _ = SecretIdentity::parse(text);
    let _ = text.parse::<VerifierKey>();
});

//! Signed notes and keys: parsing never panics; a parsed note re-encodes to the same
//! bytes; verification with a fixed key never panics.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tlog::note::{Note, SignerKey, VerifierKey};

const VKEY: &str = "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW";

fuzz_target!(|data: &[u8]| {
    if let Ok(note) = Note::parse(data) {
        assert_eq!(note.to_bytes(), data, "a parsed note re-encodes exactly");
        let key = VerifierKey::parse(VKEY).unwrap();
        let _ = note.verify(&[key]);
    }
    if let Ok(s) = std::str::from_utf8(data) {
        if let Ok(k) = VerifierKey::parse(s) {
            assert_eq!(VerifierKey::parse(&k.to_string()).unwrap(), k);
        }
        if let Ok(k) = SignerKey::parse(s) {
            assert_eq!(SignerKey::parse(&k.to_text()).unwrap().verifier(), k.verifier());
        }
    }
});

//! Checkpoint text: parsing never panics and a parsed checkpoint re-encodes exactly.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tlog::checkpoint::Checkpoint;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    if let Ok(cp) = Checkpoint::from_text(text) {
        assert_eq!(cp.to_text(), text, "a parsed checkpoint re-encodes exactly");
    }
});

//! Entry bundles: parsing never panics and a parsed bundle re-encodes exactly.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tlog::tile::{TilePath, encode_bundle, parse_bundle};

fuzz_target!(|data: &[u8]| {
    if let Ok(entries) = parse_bundle(None, data) {
        assert_eq!(encode_bundle(&entries).unwrap(), data);
        if !entries.is_empty() {
            let p = TilePath::entries(0, entries.len() as u16);
            assert!(parse_bundle(Some(&p), data).is_ok());
        }
    }
});

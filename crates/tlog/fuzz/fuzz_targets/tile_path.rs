//! Tile paths: parsing never panics and accepts only canonical paths.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tlog::tile::TilePath;

fuzz_target!(|data: &[u8]| {
    let Ok(s) = std::str::from_utf8(data) else { return };
    if let Ok(p) = TilePath::parse(s) {
        assert_eq!(p.path(), s, "only canonical paths are accepted");
    }
});

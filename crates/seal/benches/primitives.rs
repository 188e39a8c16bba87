//! The primitives that sealing a file spends its CPU on, one core, 1 MiB of data each:
//! SHA-256 (taken twice per file: plaintext and ciphertext), ChaCha20-Poly1305 over
//! sixteen 64 KiB chunks with `ring` (what `custodia evidence seal` uses) and with
//! RustCrypto's `chacha20poly1305` (what the `age` crate uses), and a plain copy. Their
//! sum per GiB, over the cores, is the floor of `evidence seal`'s time; `openssl speed
//! -evp sha256` and `-evp chacha20-poly1305` give the hardware's. Run:
//! `cargo bench -p seal --bench primitives`.

use divan::counter::BytesCount;
use divan::{Bencher, black_box};

const MIB: usize = 1 << 20;
const CHUNK: usize = 64 << 10;

fn main() {
    divan::main();
}

fn data() -> Vec<u8> {
    (0..MIB).map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8).collect()
}

#[divan::bench]
fn sha256_sha2(b: Bencher) {
    use sha2::Digest as _;
    let d = data();
    b.counter(BytesCount::new(MIB)).bench_local(|| black_box(sha2::Sha256::digest(black_box(&d))));
}

#[divan::bench]
fn chacha20poly1305_ring(b: Bencher) {
    use ring::aead::{Aad, CHACHA20_POLY1305, LessSafeKey, Nonce, UnboundKey};
    let key = LessSafeKey::new(UnboundKey::new(&CHACHA20_POLY1305, &[7; 32]).unwrap());
    let mut d = data();
    b.counter(BytesCount::new(MIB)).bench_local(|| {
        for (i, c) in d.chunks_mut(CHUNK).enumerate() {
            let mut n = [0u8; 12];
            n[3..11].copy_from_slice(&(i as u64).to_be_bytes());
            let tag = key.seal_in_place_separate_tag(Nonce::assume_unique_for_key(n), Aad::empty(), c).unwrap();
            let _sealed = black_box(tag);
        }
    });
}

#[divan::bench]
fn chacha20poly1305_rustcrypto(b: Bencher) {
    use chacha20poly1305::{AeadInPlace as _, ChaCha20Poly1305, KeyInit as _};
    let key = ChaCha20Poly1305::new(&[7; 32].into());
    let mut d = data();
    b.counter(BytesCount::new(MIB)).bench_local(|| {
        for (i, c) in d.chunks_mut(CHUNK).enumerate() {
            let mut n = [0u8; 12];
            n[3..11].copy_from_slice(&(i as u64).to_be_bytes());
            black_box(key.encrypt_in_place_detached(&n.into(), b"", c).unwrap());
        }
    });
}

#[divan::bench]
fn copy(b: Bencher) {
    let d = data();
    let mut out = vec![0u8; MIB];
    b.counter(BytesCount::new(MIB)).bench_local(|| {
        out.copy_from_slice(black_box(&d));
        black_box(&out);
    });
}

//! Evidence packages: round trip, and every kind of tamper caught by `verify` and `open`
//! with an error naming what failed, while `open` writes nothing.

use std::fs;
use std::path::{Path, PathBuf};

use seal::evidence::{self, EvidenceError, age_path};
use seal::{Manifest, ManifestError, NoProgress, PublicIdentity, SecretIdentity, Validity};

const T0: u64 = 1_800_000_000;
const CHUNK: usize = 64 * 1024 + 16;

struct Fx {
    dir: tempfile::TempDir,
    sealer: SecretIdentity,
    court: SecretIdentity,
    pkg: PathBuf,
}

fn key(name: &str) -> SecretIdentity {
    SecretIdentity::generate(name, Validity::new(T0 - 100, T0 + 100).unwrap(), T0 - 100).unwrap()
}

fn write_inputs(root: &Path) -> Vec<PathBuf> {
    let data = root.join("case-17");
    fs::create_dir_all(data.join("mail")).unwrap();
    fs::write(data.join("note.txt"), b"subscriber data for account 17\n").unwrap();
    fs::write(data.join("empty"), b"").unwrap();
    let big: Vec<u8> = (0..(3 * 65536 + 1234)).map(|i: u32| (i.wrapping_mul(2654435761) >> 13) as u8).collect();
    fs::write(data.join("mail/box.mbox"), &big).unwrap();
    vec![data]
}

fn fixture() -> Fx {
    let dir = tempfile::tempdir().unwrap();
    let sealer = key("provider");
    let court = key("court");
    let inputs = evidence::collect_inputs(&write_inputs(dir.path())).unwrap();
    let pkg = dir.path().join("pkg");
    evidence::seal(&inputs, &[court.public().recipient], &sealer, T0, &pkg, &mut NoProgress).unwrap();
    Fx { dir, sealer, court, pkg }
}

impl Fx {
    fn signer(&self) -> PublicIdentity {
        self.sealer.public()
    }

    fn ids(&self) -> Vec<Box<dyn age::Identity + Send + Sync>> {
        vec![Box::new(self.court.age_identity().clone())]
    }

    fn big(&self) -> PathBuf {
        age_path(&self.pkg, "case-17/mail/box.mbox")
    }

    fn verify(&self) -> Result<Manifest, EvidenceError> {
        evidence::verify(&self.pkg, &self.signer(), &mut NoProgress)
    }

    /// Opens into a fresh folder and checks that a failure leaves nothing behind.
    fn open(&self) -> Result<Manifest, EvidenceError> {
        let out = self.dir.path().join("out");
        let _ = fs::remove_dir_all(&out);
        let r = evidence::open(&self.pkg, &self.ids(), &self.signer(), &out, &mut NoProgress);
        if r.is_err() {
            assert!(!out.exists(), "a failed open left {}", out.display());
        }
        r
    }

    /// The `.age` file's header length (up to and including the MAC line).
    fn header_len(&self, file: &Path) -> usize {
        let b = fs::read(file).unwrap();
        let mac = b.windows(5).position(|w| w == b"\n--- ").unwrap();
        mac + 1 + b[mac + 1..].iter().position(|&c| c == b'\n').unwrap() + 1
    }
}

fn flip(path: &Path, at: usize) {
    let mut b = fs::read(path).unwrap();
    b[at] ^= 0x01;
    fs::write(path, b).unwrap();
}

fn assert_cipher_mismatch(r: Result<Manifest, EvidenceError>, file: &Path) {
    match r {
        Err(EvidenceError::CiphertextMismatch { ref path, .. }) if path == file => {
            let msg = r.unwrap_err().to_string();
            assert!(msg.contains("ciphertext does not match the manifest"), "{msg}");
            assert!(msg.contains(&file.display().to_string()), "{msg}");
        }
        other => panic!("expected a ciphertext mismatch on {}, got {other:?}", file.display()),
    }
}

#[test]
fn seal_verify_open_round_trip() {
    let fx = fixture();
    let m = fx.verify().unwrap();
    let names: Vec<_> = m.files.iter().map(|f| f.name.as_str()).collect();
    assert_eq!(names, ["case-17/empty", "case-17/mail/box.mbox", "case-17/note.txt"]);
    assert_eq!(m.created, T0);
    assert_eq!(m.sealer, fx.sealer.verifier());
    let out = fx.dir.path().join("out");
    fx.open().unwrap();
    for n in names {
        let orig = fs::read(fx.dir.path().join(n)).unwrap();
        assert_eq!(fs::read(out.join(n)).unwrap(), orig, "{n}");
        let f = m.files.iter().find(|f| f.name == n).unwrap();
        assert_eq!(f.size, orig.len() as u64);
        use sha2::Digest as _;
        assert_eq!(f.sha256, <[u8; 32]>::from(sha2::Sha256::digest(&orig)));
    }
    // No temporary files are left next to the results.
    let leftovers: Vec<_> = fs::read_dir(&out).unwrap().map(|e| e.unwrap().file_name()).collect();
    assert_eq!(leftovers, ["case-17"]);
    // Opening again refuses to overwrite.
    let r = evidence::open(&fx.pkg, &fx.ids(), &fx.signer(), &out, &mut NoProgress);
    assert!(matches!(r, Err(EvidenceError::OutputExists(_))), "{r:?}");
}

#[test]
fn flipped_header_byte() {
    let fx = fixture();
    let f = fx.big();
    flip(&f, 40);
    assert_cipher_mismatch(fx.verify(), &f);
    assert_cipher_mismatch(fx.open(), &f);
}

#[test]
fn flipped_byte_in_first_middle_and_last_chunk() {
    for chunk in [0usize, 1, 3] {
        let fx = fixture();
        let f = fx.big();
        let h = fx.header_len(&f) + 16; // header, then the 16-byte nonce
        let len = fs::metadata(&f).unwrap().len() as usize;
        let at = (h + chunk * CHUNK + 100).min(len - 1);
        flip(&f, at);
        assert_cipher_mismatch(fx.verify(), &f);
        assert_cipher_mismatch(fx.open(), &f);
    }
}

#[test]
fn truncated_file_and_truncation_at_a_chunk_boundary() {
    for cut in [1usize, 1234 + 16] {
        let fx = fixture();
        let f = fx.big();
        let b = fs::read(&f).unwrap();
        fs::write(&f, &b[..b.len() - cut]).unwrap();
        assert_cipher_mismatch(fx.verify(), &f);
        assert_cipher_mismatch(fx.open(), &f);
    }
}

#[test]
fn reordered_chunks() {
    let fx = fixture();
    let f = fx.big();
    let h = fx.header_len(&f) + 16;
    let mut b = fs::read(&f).unwrap();
    let (c0, c1) = (h, h + CHUNK);
    let first = b[c0..c1].to_vec();
    let second = b[c1..c1 + CHUNK].to_vec();
    b[c0..c1].copy_from_slice(&second);
    b[c1..c1 + CHUNK].copy_from_slice(&first);
    fs::write(&f, b).unwrap();
    assert_cipher_mismatch(fx.verify(), &f);
    assert_cipher_mismatch(fx.open(), &f);
}

#[test]
fn flipped_manifest_byte_and_signature_byte() {
    let fx = fixture();
    let mpath = fx.pkg.join(evidence::MANIFEST);
    let orig = fs::read_to_string(&mpath).unwrap();
    // A digit of a size in the body: the signature no longer verifies.
    let body_at = orig.find("file: ").unwrap() + 6;
    let mut b = orig.clone().into_bytes();
    b[body_at] = if b[body_at] == b'1' { b'2' } else { b'1' };
    fs::write(&mpath, &b).unwrap();
    for r in [fx.verify(), fx.open()] {
        let e = r.unwrap_err();
        assert!(matches!(e, EvidenceError::Manifest { err: ManifestError::BadSignature(_), .. }), "{e}");
        assert!(e.to_string().contains("MANIFEST: manifest signature does not verify"), "{e}");
    }
    // A character of the signature (kept valid base64).
    let sig_at = orig.rfind(' ').unwrap() + 10;
    let mut b = orig.clone().into_bytes();
    b[sig_at] = if b[sig_at] == b'A' { b'B' } else { b'A' };
    fs::write(&mpath, &b).unwrap();
    for r in [fx.verify(), fx.open()] {
        let e = r.unwrap_err();
        assert!(matches!(e, EvidenceError::Manifest { err: ManifestError::BadSignature(_), .. }), "{e}");
    }
    // Garbage where the signature line should be.
    fs::write(&mpath, orig.replace("\u{2014} provider ", "- provider ")).unwrap();
    let e = fx.verify().unwrap_err();
    assert!(e.to_string().contains("malformed signature line"), "{e}");
}

#[test]
fn files_swapped_between_packages() {
    let fx = fixture();
    // The same inputs sealed again by the same sealer to the same recipient.
    let inputs = evidence::collect_inputs(&[fx.dir.path().join("case-17")]).unwrap();
    let other = fx.dir.path().join("pkg2");
    evidence::seal(&inputs, &[fx.court.public().recipient], &fx.sealer, T0, &other, &mut NoProgress).unwrap();
    let f = fx.big();
    fs::copy(age_path(&other, "case-17/mail/box.mbox"), &f).unwrap();
    assert_cipher_mismatch(fx.verify(), &f);
    assert_cipher_mismatch(fx.open(), &f);
    // Swapping within the package (two files exchanged) is caught as well.
    let fx = fixture();
    let a = age_path(&fx.pkg, "case-17/note.txt");
    let b = age_path(&fx.pkg, "case-17/empty");
    let (ab, bb) = (fs::read(&a).unwrap(), fs::read(&b).unwrap());
    fs::write(&a, bb).unwrap();
    fs::write(&b, ab).unwrap();
    let e = fx.verify().unwrap_err();
    assert!(matches!(e, EvidenceError::CiphertextMismatch { .. }), "{e}");
    assert!(fx.open().is_err());
}

#[test]
fn removed_and_added_files() {
    let fx = fixture();
    let f = age_path(&fx.pkg, "case-17/note.txt");
    fs::remove_file(&f).unwrap();
    for r in [fx.verify(), fx.open()] {
        let e = r.unwrap_err();
        assert!(matches!(e, EvidenceError::FileMissing(ref p) if p == &f), "{e}");
        assert!(e.to_string().contains("listed in the manifest but missing"), "{e}");
    }
    let fx = fixture();
    let extra = fx.pkg.join("files/case-17/extra.age");
    fs::write(&extra, b"x").unwrap();
    for r in [fx.verify(), fx.open()] {
        assert!(matches!(r, Err(EvidenceError::FileUnlisted(ref p)) if p == &extra), "{r:?}");
    }
    let fx = fixture();
    fs::remove_file(fx.pkg.join(evidence::MANIFEST)).unwrap();
    assert!(matches!(fx.verify(), Err(EvidenceError::Io { ref path, .. }) if path.ends_with("MANIFEST")));
}

#[test]
fn wrong_signer_and_wrong_identity() {
    let fx = fixture();
    let impostor = key("provider");
    let e = evidence::verify(&fx.pkg, &impostor.public(), &mut NoProgress).unwrap_err();
    assert!(matches!(e, EvidenceError::Manifest { err: ManifestError::SignerMismatch { .. }, .. }), "{e}");
    let out = fx.dir.path().join("out");
    let stranger: Vec<Box<dyn age::Identity + Send + Sync>> = vec![Box::new(key("x").age_identity().clone())];
    let e = evidence::open(&fx.pkg, &stranger, &fx.signer(), &out, &mut NoProgress).unwrap_err();
    assert!(matches!(e, EvidenceError::Decrypt { .. }), "{e}");
    assert!(e.to_string().contains("age decryption failed"), "{e}");
    assert!(!out.exists());
}

/// A dishonest or buggy sealer: the manifest is correctly signed but its plaintext hash
/// (or ciphertext) is wrong. The decryption and plaintext checks stand on their own.
#[test]
fn resigned_manifest_lies_are_caught_by_open() {
    let fx = fixture();
    let mpath = fx.pkg.join(evidence::MANIFEST);
    let text = fs::read_to_string(&mpath).unwrap();
    let mut m = Manifest::parse_signed(&text, &fx.signer()).unwrap();
    m.files[2].sha256[0] ^= 1;
    fs::write(&mpath, m.sign(&fx.sealer).unwrap()).unwrap();
    fx.verify().unwrap(); // ciphertext intact: verify cannot know
    let e = fx.open().unwrap_err();
    assert!(matches!(e, EvidenceError::PlaintextMismatch { .. }), "{e}");
    assert!(e.to_string().contains("decrypted plaintext does not match the manifest (sha256"), "{e}");

    // Tampered chunk whose hash was re-signed: age's chunk authentication refuses it.
    let fx = fixture();
    let f = fx.big();
    let h = fx.header_len(&f) + 16;
    flip(&f, h + CHUNK + 7);
    let mpath = fx.pkg.join(evidence::MANIFEST);
    let mut m = Manifest::parse_signed(&fs::read_to_string(&mpath).unwrap(), &fx.signer()).unwrap();
    use sha2::Digest as _;
    m.files[1].age_sha256 = sha2::Sha256::digest(fs::read(&f).unwrap()).into();
    fs::write(&mpath, m.sign(&fx.sealer).unwrap()).unwrap();
    fx.verify().unwrap();
    let e = fx.open().unwrap_err();
    assert!(matches!(e, EvidenceError::Decrypt { .. }), "{e}");
}

#[test]
fn existing_output_file_is_never_replaced() {
    let fx = fixture();
    let out = fx.dir.path().join("out");
    fs::create_dir_all(out.join("case-17")).unwrap();
    fs::write(out.join("case-17/note.txt"), b"mine").unwrap();
    let e = evidence::open(&fx.pkg, &fx.ids(), &fx.signer(), &out, &mut NoProgress).unwrap_err();
    assert!(matches!(e, EvidenceError::OutputExists(_)), "{e}");
    assert_eq!(fs::read(out.join("case-17/note.txt")).unwrap(), b"mine");
    assert_eq!(fs::read_dir(out.join("case-17")).unwrap().count(), 1);
}

#[test]
fn seal_refusals() {
    let fx = fixture();
    let inputs = evidence::collect_inputs(&[fx.dir.path().join("case-17")]).unwrap();
    let r = fx.court.public().recipient;
    // Output exists.
    let e = evidence::seal(&inputs, std::slice::from_ref(&r), &fx.sealer, T0, &fx.pkg, &mut NoProgress).unwrap_err();
    assert!(matches!(e, EvidenceError::OutputExists(_)), "{e}");
    let out = fx.dir.path().join("new");
    // Recipients.
    let e = evidence::seal(&inputs, &[], &fx.sealer, T0, &out, &mut NoProgress).unwrap_err();
    assert!(matches!(e, EvidenceError::NoRecipients), "{e}");
    let e = evidence::seal(&inputs, &["age1nope".into()], &fx.sealer, T0, &out, &mut NoProgress).unwrap_err();
    assert!(matches!(e, EvidenceError::BadRecipient(_)), "{e}");
    // The sealer's key outside its validity.
    let e = evidence::seal(&inputs, std::slice::from_ref(&r), &fx.sealer, T0 + 100, &out, &mut NoProgress).unwrap_err();
    assert!(e.to_string().contains("is not valid at"), "{e}");
    assert!(!out.exists());
    // Two inputs with the same name.
    let other = fx.dir.path().join("x/case-17");
    fs::create_dir_all(&other).unwrap();
    fs::write(other.join("note.txt"), b"x").unwrap();
    let e = evidence::collect_inputs(&[fx.dir.path().join("case-17"), other]).unwrap_err();
    assert!(matches!(e, EvidenceError::InputName(_)), "{e}");
    // No leftovers of failed seals next to the package.
    let mut names: Vec<_> =
        fs::read_dir(fx.dir.path()).unwrap().map(|e| e.unwrap().file_name().into_string().unwrap()).collect();
    names.sort();
    assert_eq!(names, ["case-17", "pkg", "x"]);
}

#[test]
fn manifest_validity_of_the_sealer_key() {
    let fx = fixture();
    // The verifier's copy of the key says it ended before the claimed creation time.
    let mut p = fx.signer();
    p.validity = Validity::new(T0 - 100, T0).unwrap();
    let e = evidence::verify(&fx.pkg, &p, &mut NoProgress).unwrap_err();
    assert!(matches!(e, EvidenceError::Manifest { err: ManifestError::SealerKeyNotValid { .. }, .. }), "{e}");
}

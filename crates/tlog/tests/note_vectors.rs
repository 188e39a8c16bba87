//! Signed-note examples from the C2SP signed-note specification and from Go's
//! golang.org/x/mod/sumdb/note tests, run against this implementation.

use tlog::note::{KeyKind, Note, NoteError, SignerKey, VerifierKey};

const PETER_VKEY: &str = "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW";
const PETER_SKEY: &str = "PRIVATE+KEY+PeterNeumann+c74f20a3+AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz";
const ENOCH_VKEY: &str = "EnochRoot+af0cfe78+ATtqJ7zOtqQtYqOo0CpvDXNlMhV3HeJDpjrASKGLWdop";
const TEXT: &str =
    "If you think cryptography is the answer to your problem,\nthen you don't know what your problem is.\n";
const PETER_SIG: &str =
    "— PeterNeumann x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=\n";
const ENOCH_SIG: &str =
    "— EnochRoot rwz+eBzmZa0SO3NbfRGzPCpDckykFXSdeX+MNtCOXm2/5n2tiOHp+vAF1aGrQ5ovTG01oOTGwnWLox33WWd1RvMc+QQ=\n";

fn peter() -> VerifierKey {
    VerifierKey::parse(PETER_VKEY).unwrap()
}
fn enoch() -> VerifierKey {
    VerifierKey::parse(ENOCH_VKEY).unwrap()
}

#[test]
fn go_sign_reproduces_the_reference_note_byte_for_byte() {
    let signer = SignerKey::parse(PETER_SKEY).unwrap();
    assert_eq!(signer.key_id(), 0xc74f20a3);
    assert_eq!(signer.to_text(), PETER_SKEY);
    assert_eq!(signer.verifier().to_string(), PETER_VKEY);
    let mut n = Note::new(TEXT).unwrap();
    n.sign(&signer, 0).unwrap();
    assert_eq!(String::from_utf8(n.to_bytes()).unwrap(), format!("{TEXT}\n{PETER_SIG}"));
    // Signing again replaces the signature rather than adding a second one.
    n.sign(&signer, 0).unwrap();
    assert_eq!(n.signatures.len(), 1);
}

#[test]
fn go_open_one_known_one_unknown() {
    let msg = format!("{TEXT}\n{PETER_SIG}{ENOCH_SIG}");
    let n = Note::parse(msg.as_bytes()).unwrap();
    assert_eq!(n.text, TEXT);
    assert_eq!(n.signatures.len(), 2);
    let v = n.verify(&[peter()]).unwrap();
    assert_eq!(v.len(), 1);
    assert_eq!(v[0].key, peter());
    let v = n.verify(&[peter(), enoch()]).unwrap();
    assert_eq!(v.len(), 2);
    assert_eq!(n.verify(&[]), Err(NoteError::NoTrustedSignature));
}

#[test]
fn go_open_duplicated_verifier_is_ambiguous_only_when_used() {
    let with_enoch = format!("{TEXT}\n{ENOCH_SIG}");
    // Go's list repeats the same verifier; the same key twice is not ambiguous here.
    let n = Note::parse(with_enoch.as_bytes()).unwrap();
    assert!(n.verify(&[enoch(), peter(), enoch()]).is_ok());
    let n = Note::parse(format!("{TEXT}\n{PETER_SIG}").as_bytes()).unwrap();
    assert!(n.verify(&[enoch(), peter(), enoch()]).is_ok());
}

#[test]
fn go_open_too_many_signatures() {
    let msg = format!("{TEXT}\n{}", PETER_SIG.repeat(101));
    assert_eq!(Note::parse(msg.as_bytes()), Err(NoteError::TooManySignatures(101)));
    let msg = format!("{TEXT}\n{}", PETER_SIG.repeat(100));
    let n = Note::parse(msg.as_bytes()).unwrap();
    assert_eq!(n.verify(&[peter()]).unwrap().len(), 1, "repeated signatures count once");
}

#[test]
fn go_open_invalid_signature_rejects_the_note() {
    let bad = format!("{}ABCD{}", &PETER_SIG[..60], &PETER_SIG[60..]);
    let n = Note::parse(format!("{TEXT}\n{bad}").as_bytes()).unwrap();
    assert_eq!(
        n.verify(&[peter()]),
        Err(NoteError::InvalidSignature { name: "PeterNeumann".into(), key_id: 0xc74f20a3 })
    );
    // A bad signature from a key we do not know is ignored.
    let bad_enoch = format!("{}ABCD{}", &ENOCH_SIG[..60], &ENOCH_SIG[60..]);
    let n = Note::parse(format!("{TEXT}\n{PETER_SIG}{ENOCH_SIG}{bad_enoch}").as_bytes()).unwrap();
    assert_eq!(n.verify(&[peter()]).unwrap().len(), 1);
}

#[test]
fn go_malformed_messages() {
    let bad = [
        TEXT.to_string(),
        format!("{TEXT}\n"),
        format!("{TEXT}\n{}", &PETER_SIG[..PETER_SIG.len() - 1]),
        format!("\x01{TEXT}\n{PETER_SIG}"),
        format!(
            "{TEXT}\n— Bad Name x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM="
        ),
        format!("{TEXT}\n{PETER_SIG}Unexpected line.\n"),
    ];
    for msg in &bad {
        assert!(Note::parse(msg.as_bytes()).is_err(), "accepted {msg:?}");
    }
    let mut invalid_utf8 = vec![0xff];
    invalid_utf8.extend_from_slice(format!("{TEXT}\n{PETER_SIG}").as_bytes());
    assert_eq!(Note::parse(&invalid_utf8), Err(NoteError::Malformed("note is not valid UTF-8")));
}

#[test]
fn go_misnamed_or_wrong_id_signature_is_unknown_not_verified() {
    let misnamed = PETER_SIG.replace("PeterNeumann", "CarmenSandiego");
    let n = Note::parse(format!("{TEXT}\n{misnamed}").as_bytes()).unwrap();
    assert_eq!(n.verify(&[peter()]), Err(NoteError::NoTrustedSignature));
    let wrong_id = PETER_SIG.replace("x08g", "xxxx");
    let n = Note::parse(format!("{TEXT}\n{wrong_id}").as_bytes()).unwrap();
    assert_eq!(n.verify(&[peter()]), Err(NoteError::NoTrustedSignature));
}

#[test]
fn c2sp_spec_example() {
    let vkey = VerifierKey::parse("example.com/foo+530d903a+AekyeRrm56hApGFkyQR4ZCbV54Id2LKaANYcrnKv3U2k").unwrap();
    let msg = "This is an example message.\n\n— example.com/foo Uw2QOkn8srV1yJGh2VYRlL1Tnagv1YEq6TfXppzi2ONncAlTgK7Ztg1ERYNZXsYjOBH3mFXmRKuwHjG1Yu72IneyaQM=\n";
    let n = Note::parse(msg.as_bytes()).unwrap();
    assert_eq!(n.text, "This is an example message.\n");
    assert_eq!(n.verify(&[vkey]).unwrap().len(), 1);
}

#[test]
fn verifier_key_strictness() {
    let bad = [
        "PeterNeumann+c74f20a4+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW", // wrong id
        "PeterNeumann+C74F20A3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW", // upper-case hex
        "Peter Neumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW", // space
        "+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW",             // empty name
        "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10",   // short key
        "PeterNeumann+c74f20a3+Apc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW",  // bad base64 length
        "PeterNeumann+c74f20a3",
    ];
    for k in bad {
        assert!(VerifierKey::parse(k).is_err(), "accepted {k}");
    }
}

#[test]
fn cosignature_round_trip_and_timestamp_bound() {
    let witness = SignerKey::from_seed("witness.example/w1", KeyKind::Cosignature, [7; 32]).unwrap();
    let v = witness.verifier();
    assert!(v.to_string().starts_with("witness.example/w1+"));
    assert_eq!(VerifierKey::parse(&v.to_string()).unwrap(), v);
    let text = "example.com/log\n5\nXcnaeacGWamtVZy3Ad7ZoqudgjqtL0lgz+Nw7/RgQyg=\n";
    let mut n = Note::new(text).unwrap();
    n.sign(&witness, 1_679_315_147).unwrap();
    let verified = n.verify(std::slice::from_ref(&v)).unwrap();
    assert_eq!(verified[0].timestamp, Some(1_679_315_147));
    // The same key used as a plain Ed25519 verifier has another ID and does not match.
    let plain = VerifierKey::new("witness.example/w1", KeyKind::Ed25519, *v.public_key()).unwrap();
    assert_ne!(plain.key_id(), v.key_id());
    assert_eq!(n.verify(&[plain]), Err(NoteError::NoTrustedSignature));
    assert_eq!(witness.sign(text, 1 << 63), Err(NoteError::TimestampOutOfRange(1 << 63)));
    // Changing the timestamp inside the signature breaks it.
    let mut tampered = n.clone();
    tampered.signatures[0].bytes[11] ^= 1;
    assert!(matches!(tampered.verify(&[v]), Err(NoteError::InvalidSignature { .. })));
}

/// A checkpoint cosigned round after round at the same size (a new timestamp each time)
/// keeps one line per key: the witness's newest cosignature replaces its older one, the
/// log's own signature stays first, and the note stays under the 100-signature bound
/// that verifiers apply.
#[test]
fn put_signature_keeps_one_line_per_key() {
    let log = SignerKey::from_seed("example.com/log", KeyKind::Ed25519, [1; 32]).unwrap();
    let w1 = SignerKey::from_seed("witness.example/w1", KeyKind::Cosignature, [7; 32]).unwrap();
    let w2 = SignerKey::from_seed("witness.example/w2", KeyKind::Cosignature, [8; 32]).unwrap();
    let text = "example.com/log\n5\nXcnaeacGWamtVZy3Ad7ZoqudgjqtL0lgz+Nw7/RgQyg=\n";
    let mut served = Note::new(text).unwrap();
    served.sign(&log, 0).unwrap();
    for round in 0..150u64 {
        for w in [&w1, &w2] {
            let mut cosigned = Note::new(text).unwrap();
            cosigned.sign(w, 1_700_000_000 + round).unwrap();
            for s in cosigned.signatures {
                served.put_signature(s);
            }
        }
    }
    let again = Note::parse(&served.to_bytes()).expect("the served note still parses");
    assert_eq!(again.signatures.len(), 3, "{}", String::from_utf8_lossy(&served.to_bytes()));
    assert_eq!(again.signatures[0].name, "example.com/log");
    assert!(again.verify(&[log.verifier()]).is_ok());
    let newest = again.verify(&[w1.verifier(), w2.verifier()]).unwrap();
    assert!(newest.iter().all(|v| v.timestamp == Some(1_700_000_149)), "{newest:?}");
    // Another key with the same name (a rotated witness key) gets its own line.
    let rotated = SignerKey::from_seed("witness.example/w1", KeyKind::Cosignature, [9; 32]).unwrap();
    let mut cosigned = Note::new(text).unwrap();
    cosigned.sign(&rotated, 1_700_000_200).unwrap();
    served.put_signature(cosigned.signatures.remove(0));
    assert_eq!(served.signatures.len(), 4);
}

//! Keys: C2SP signed-note key IDs and verifier keys (the spec's example), the `.key`
//! and `.pub` formats, names and validity periods.

use seal::keys::{KeyError, check_name};
use seal::note;
use seal::{PublicIdentity, SecretIdentity, Validity, VerifierKey};

const T0: u64 = 1_800_000_000;

#[test]
fn c2sp_signed_note_example_key_and_signature() {
    // The example of the C2SP signed-note specification (and Go's x/mod/sumdb/note).
    let vkey: VerifierKey = "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW".parse().unwrap();
    assert_eq!(vkey.name(), "PeterNeumann");
    assert_eq!(vkey.id().to_string(), "c74f20a3");
    let text = "If you think cryptography is the answer to your problem,\n\
                then you don't know what your problem is.\n\
                \n\
                \u{2014} PeterNeumann x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=\n";
    let (body, sigs) = note::split(text).unwrap();
    assert_eq!(sigs.len(), 1);
    assert_eq!(sigs[0].id, vkey.id());
    assert!(vkey.verify(body.as_bytes(), &sigs[0].sig));
    let mut other = body.to_string();
    other.push(' ');
    assert!(!vkey.verify(other.as_bytes(), &sigs[0].sig));
    // The display form round-trips.
    assert_eq!(vkey.to_string(), "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW");
}

#[test]
fn verifier_key_parse_errors() {
    for bad in [
        "PeterNeumann+c74f20a4+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW", // wrong id
        "PeterNeumann+C74F20A3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW", // uppercase id
        "PeterNeumann+c74f20a3+AhpcZQcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW", // wrong type byte
        "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10",   // short
        "PeterNeumann+c74f20a3",
        "Peter Neumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW",
        "",
    ] {
        assert!(bad.parse::<VerifierKey>().is_err(), "{bad}");
    }
}

#[test]
fn names() {
    for ok in ["a", "court-of-lyon", "node_1.example", &"x".repeat(64)] {
        check_name(ok).unwrap();
    }
    for bad in ["", ".", "..", "a b", "a+b", "a/b", "é", &"x".repeat(65), "a\n"] {
        assert!(matches!(check_name(bad), Err(KeyError::InvalidName(_))), "{bad:?}");
    }
    assert!(SecretIdentity::generate("a/b", Validity::new(1, 2).unwrap(), 1).is_err());
}

#[test]
fn validity_periods() {
    assert!(Validity::new(5, 5).is_err());
    assert!(Validity::new(6, 5).is_err());
    let v = Validity::new(10, 20).unwrap();
    assert!(!v.contains(9));
    assert!(v.contains(10));
    assert!(v.contains(19));
    assert!(!v.contains(20));
    let id = SecretIdentity::generate("alice", v, 10).unwrap();
    assert!(id.sign_at(b"m", 15).is_ok());
    let e = id.sign_at(b"m", 20).unwrap_err();
    assert_eq!(e.to_string(), "key alice is not valid at 20 (valid from 10 until 20)");
    assert!(id.public().check_valid_at(9).is_err());
}

#[test]
fn key_files_round_trip_and_age_format() {
    let id = SecretIdentity::generate("alice", Validity::new(T0, T0 + 86_400).unwrap(), T0).unwrap();
    let secret = id.secret_file();
    // Every line is an age comment except the single AGE-SECRET-KEY-1 line.
    let non_comments: Vec<_> = secret.lines().filter(|l| !l.starts_with('#')).collect();
    assert_eq!(non_comments.len(), 1);
    assert!(non_comments[0].starts_with("AGE-SECRET-KEY-1"));
    // age reads it as an identity file.
    let ids = age::IdentityFile::from_buffer(secret.as_bytes()).unwrap().into_identities().unwrap();
    assert_eq!(ids.len(), 1);
    let back = SecretIdentity::parse(&secret).unwrap();
    assert_eq!(back.public(), id.public());
    assert_eq!(back.validity(), id.validity());

    let public = id.public_file();
    let p = PublicIdentity::parse(&public).unwrap();
    assert_eq!(p, id.public());
    assert!(p.recipient.starts_with("age1"));
    assert!(public.contains(&format!("verifier: {}", id.verifier())));
}

#[test]
fn public_file_tampering_is_refused() {
    let id = SecretIdentity::generate("alice", Validity::new(T0, T0 + 86_400).unwrap(), T0).unwrap();
    let public = id.public_file();
    // Extending the validity period breaks the self-signature.
    let longer = public.replace(&format!("not-after: {}", T0 + 86_400), &format!("not-after: {}", T0 + 2 * 86_400));
    assert_ne!(longer, public);
    assert!(matches!(PublicIdentity::parse(&longer), Err(KeyError::BadSelfSignature(_))));
    // Another party's recipient.
    let other = SecretIdentity::generate("bob", Validity::new(T0, T0 + 1).unwrap(), T0).unwrap().public().recipient;
    let swapped = public.replace(&id.public().recipient, &other);
    assert!(matches!(PublicIdentity::parse(&swapped), Err(KeyError::BadSelfSignature(_))));
    // Not canonical / malformed.
    assert!(PublicIdentity::parse(&public.replace("name: alice", "name:  alice")).is_err());
    assert!(PublicIdentity::parse(&public.replace("\n\n", "\n")).is_err());
    assert!(PublicIdentity::parse("").is_err());
}

#[test]
fn secret_file_errors() {
    let id = SecretIdentity::generate("alice", Validity::new(T0, T0 + 86_400).unwrap(), T0).unwrap();
    let secret = id.secret_file().to_string();
    let no_sign: String = secret.lines().filter(|l| !l.contains("signing-key")).map(|l| format!("{l}\n")).collect();
    let e = SecretIdentity::parse(&no_sign).unwrap_err();
    assert_eq!(e.to_string(), "invalid secret key file: missing # custodia-signing-key: line");
    let no_age: String = secret.lines().filter(|l| l.starts_with('#')).map(|l| format!("{l}\n")).collect();
    assert!(SecretIdentity::parse(&no_age).unwrap_err().to_string().contains("no AGE-SECRET-KEY-1 line"));
    assert!(SecretIdentity::parse(&format!("{secret}garbage\n")).is_err());
    // age-keygen output has no signing key: refused for signing, with a clear message.
    let keygen = "# created: 2026-01-01T00:00:00Z\n# public key: age1x\nAGE-SECRET-KEY-1YTMKT7QKQKY0S2XUUWS688PYGQDG3QJRDRLWLMYZHXTEG4CGKRNSVV5GZU\n";
    assert!(SecretIdentity::parse(keygen).unwrap_err().to_string().contains("missing # custodia-name"));
}

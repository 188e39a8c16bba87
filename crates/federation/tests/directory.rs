//! The federation directory: signatures, the version chain, rollbacks, forks, keys and
//! their validity.

use federation::{Directory, DirectoryError, Party, PartyKey, PartyRole, sign, verify};
use tlog::note::{KeyKind, SignerKey};
use treaty::{Date, StateCode};

fn d(s: &str) -> Date {
    Date::parse(s).unwrap()
}

fn key(name: &str, seed: u8) -> SignerKey {
    SignerKey::from_seed(name, KeyKind::Ed25519, [seed; 32]).unwrap()
}

fn party(name: &str, state: &str, role: PartyRole, k: &SignerKey) -> Party {
    Party {
        name: name.into(),
        state: StateCode::parse(state).unwrap(),
        role,
        endpoint: "https://127.0.0.1:18443".into(),
        keys: vec![PartyKey { key: k.verifier(), from: d("2026-01-01"), until: d("2026-12-31") }],
        recipient: "age1qyqszqgpqyqszqgpqyqszqgpqyqszqgpqyqszqgpqyqszqgpqyqs3290gq".into(),
        log: Some((
            format!("{name}.log"),
            SignerKey::from_seed(&format!("{name}.log"), KeyKind::Ed25519, [9; 32]).unwrap().verifier(),
        )),
        cosigner: Some(
            SignerKey::from_seed(&format!("{name}.witness"), KeyKind::Cosignature, [8; 32]).unwrap().verifier(),
        ),
        witnesses: vec![],
    }
}

fn v1() -> Directory {
    let a = key("AA-central-authority", 1);
    let b = key("BB-central-authority", 2);
    let mut pa = party("AA-central-authority", "AA", PartyRole::CentralAuthority, &a);
    pa.witnesses = vec!["BB-central-authority".into()];
    Directory {
        federation: "demo.custodia.example".into(),
        version: 1,
        previous: None,
        parties: vec![pa, party("BB-central-authority", "BB", PartyRole::CentralAuthority, &b)],
    }
}

#[test]
fn text_round_trips_and_signatures_count() {
    let dir = v1();
    assert_eq!(Directory::parse_text(&dir.to_text()).unwrap(), dir);
    let (k1, k2, other) = (key("directory-1", 10), key("directory-2", 11), key("directory-x", 12));
    let trusted = [k1.verifier(), k2.verifier()];
    let one = sign(&dir, &[&k1]).unwrap();
    let two = sign(&dir, &[&k1, &k2]).unwrap();
    assert!(verify(&one, &trusted, 1, None).is_ok());
    assert_eq!(verify(&one, &trusted, 2, None).unwrap_err(), DirectoryError::NotEnoughSignatures { got: 1, needed: 2 });
    assert!(verify(&two, &trusted, 2, None).is_ok());
    // A forged directory: signed by a key the federation does not trust.
    let forged = sign(&dir, &[&other]).unwrap();
    assert_eq!(
        verify(&forged, &trusted, 1, None).unwrap_err(),
        DirectoryError::NotEnoughSignatures { got: 0, needed: 1 }
    );
    // Tampered text: the trusted signature no longer verifies.
    let text = String::from_utf8(one.clone()).unwrap().replace("https://127.0.0.1:18443", "https://127.0.0.1:18444");
    assert!(matches!(verify(text.as_bytes(), &trusted, 1, None), Err(DirectoryError::Note(_))));
}

#[test]
fn versions_chain_and_rollbacks_and_forks_are_refused() {
    let k = key("directory-1", 10);
    let trusted = [k.verifier()];
    let first = verify(&sign(&v1(), &[&k]).unwrap(), &trusted, 1, None).unwrap();
    let mut v2 = v1();
    v2.version = 2;
    v2.previous = Some(first.hash);
    v2.parties[1].keys.push(PartyKey {
        key: key("BB-central-authority", 3).verifier(),
        from: d("2026-12-01"),
        until: d("2027-12-31"),
    });
    let second = verify(&sign(&v2, &[&k]).unwrap(), &trusted, 1, Some(&first)).unwrap();
    assert_eq!(second.directory.version, 2);
    // Rollback: offering version 1 to a node that holds version 2.
    assert_eq!(
        verify(&first.note, &trusted, 1, Some(&second)).unwrap_err(),
        DirectoryError::Rollback { have: 2, got: 1 }
    );
    // Fork: another version 2.
    let mut fork = v2.clone();
    fork.parties[0].endpoint = "https://127.0.0.9:1".into();
    assert_eq!(
        verify(&sign(&fork, &[&k]).unwrap(), &trusted, 1, Some(&second)).unwrap_err(),
        DirectoryError::Fork { version: 2 }
    );
    // Same version, same text: accepted again (idempotent).
    assert!(verify(&second.note, &trusted, 1, Some(&second)).is_ok());
    // A version 3 that does not name version 2.
    let mut v3 = v2.clone();
    v3.version = 3;
    v3.previous = Some([0; 32]);
    assert_eq!(
        verify(&sign(&v3, &[&k]).unwrap(), &trusted, 1, Some(&second)).unwrap_err(),
        DirectoryError::BrokenChain { have: 2, got: 3 }
    );
    // Skipping a version.
    v3.version = 4;
    assert!(matches!(
        verify(&sign(&v3, &[&k]).unwrap(), &trusted, 1, Some(&second)),
        Err(DirectoryError::BrokenChain { .. })
    ));
}

#[test]
fn keys_are_looked_up_with_their_validity() {
    let dir = v1();
    let a = key("AA-central-authority", 1);
    let (p, _) = dir.key("AA-central-authority", a.key_id(), d("2026-06-01")).unwrap();
    assert_eq!(p.role, PartyRole::CentralAuthority);
    assert!(matches!(
        dir.key("AA-central-authority", a.key_id(), d("2027-01-01")),
        Err(DirectoryError::KeyNotValid { .. })
    ));
    assert!(matches!(dir.key("AA-central-authority", 42, d("2026-06-01")), Err(DirectoryError::UnknownKey { .. })));
    // A hijacked mailbox's key, or a police key nobody registered: unknown.
    let intruder = key("AA-police", 99);
    assert!(matches!(dir.key("AA-police", intruder.key_id(), d("2026-06-01")), Err(DirectoryError::UnknownKey { .. })));
}

#[test]
fn plain_http_only_to_a_loopback_address() {
    let good = v1().to_text();
    for ok in ["http://127.0.0.1:18443", "http://127.5.6.7", "http://[::1]:18443/", "https://example.org"] {
        let text = good.replace("https://127.0.0.1:18443", ok);
        assert!(Directory::parse_text(&text).is_ok(), "{ok} refused");
    }
}

#[test]
fn malformed_texts_name_the_line() {
    let good = v1().to_text();
    for (bad, line) in [
        (good.replace("version 1", "version x"), 3),
        (good.replace("previous none", "previous abc"), 4),
        (good.replace(" AA central_authority", " aa central_authority"), 5),
        (good.replace("central_authority https", "judge https"), 5),
        (good.replace("https://127.0.0.1:18443", "http://example.org"), 5),
        (good.replace("https://127.0.0.1:18443", "http://127.0.0.1.example.org:18443"), 5),
        (good.replace("https://127.0.0.1:18443", "http://127.0.0.1@example.org"), 5),
        (good.replace("https://127.0.0.1:18443", "http://[::1].example.org"), 5),
        (good.replace("https://127.0.0.1:18443", "http://10.0.0.1:18443"), 5),
        (good.replacen("recipient age1", "recipient xyz1", 1), 7),
        (good.replacen("witnesses BB-central-authority", "witnesses BB-central-authority ZZ", 1), 0),
        (good.replacen("log AA-central-authority.log", "log other.log", 1), 8),
    ] {
        match Directory::parse_text(&bad) {
            Err(DirectoryError::Malformed { line: l, .. }) => assert_eq!(l, line, "{bad}"),
            other => panic!("expected a malformed line {line}: {other:?}\n{bad}"),
        }
    }
}

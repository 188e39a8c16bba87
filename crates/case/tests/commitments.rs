//! Commitments in the log, reveals that open them, and statistics that anyone can
//! recompute from the log alone.

mod common;

use case::commitment::{self, Commitment, CommitmentError, Reveal};
use case::{Action, Case, Command, Event, Role, Side};
use common::*;

fn salt(n: u64) -> [u8; 32] {
    let mut s = [7u8; 32];
    s[..8].copy_from_slice(&n.to_be_bytes());
    s
}

const CASE_SALT: [u8; 32] = [42; 32];

/// A requested-side case through admission, with one commitment per event.
fn logged_case() -> (Vec<Event>, Vec<Commitment>) {
    let now = t("2026-11-25T09:00:00Z");
    let mut c = Tracked::create(Side::Requested, "stored-data-confidential", false, Role::Peer, now);
    c.ok(Command::Decide { action: Action::Admit, reasons: vec![], until: None }, Role::CentralAuthority, now);
    c.ok(Command::RouteToProvider { provider: "P".into() }, Role::CentralAuthority, now);
    let mut commitments = Vec::new();
    let mut case: Option<Case> = None;
    for e in &c.events {
        match &mut case {
            None => case = Some(Case::from_created(e, &c.file).unwrap()),
            Some(k) => case::apply(k, e),
        }
        let by = commitment::reveal_by(case.as_ref().unwrap(), e);
        commitments.push(Commitment::new("BB-central-authority", &CASE_SALT, e, &salt(e.seq), by));
    }
    (c.events, commitments)
}

#[test]
fn entries_round_trip_strictly() {
    let (events, commitments) = logged_case();
    assert_eq!(commitments.len(), 3);
    for c in &commitments {
        let entry = c.to_entry();
        assert_eq!(Commitment::parse(&entry).unwrap(), *c);
        assert_eq!(c.reveal_by, d("2027-02-23"), "secret events are revealed at the order's expiry");
        let text = String::from_utf8(entry.clone()).unwrap();
        assert!(!text.contains("IJ-2026"), "no personal or case data in the public entry");
        // Strictness: any damage is refused.
        assert!(Commitment::parse(&entry[..entry.len() - 1]).is_err());
        assert!(Commitment::parse(&[&entry[..], b"x\n"].concat()).is_err());
        assert!(Commitment::parse(text.replace("seq ", "seq  ").as_bytes()).is_err());
        assert!(Commitment::parse(text.replace("hash ", "hash 0").as_bytes()).is_err());
    }
    assert_eq!(commitments[0].kind, "created");
    assert_eq!(events[0].to_bytes(), Event::from_bytes(&events[0].to_bytes()).unwrap().to_bytes());
    let tags: std::collections::BTreeSet<_> = commitments.iter().map(|c| c.case_tag.clone()).collect();
    assert_eq!(tags.len(), 1, "one case, one tag");
    assert_ne!(
        commitment::case_tag(&[1; 32], "x"),
        commitment::case_tag(&[2; 32], "x"),
        "the tag depends on the node's salt"
    );
    assert_eq!(Commitment::parse(b"hello\n"), Err(CommitmentError::UnknownEntry));
}

#[test]
fn a_reveal_opens_its_commitment_and_nothing_else() {
    let (events, commitments) = logged_case();
    let reveal = Reveal { hash: commitments[1].hash, salt: salt(2), bytes: events[1].to_bytes() };
    let entry = reveal.to_entry();
    let parsed = Reveal::parse(&entry).unwrap();
    assert_eq!(parsed, reveal);
    assert_eq!(parsed.open(&commitments[1]).unwrap(), events[1]);
    assert_eq!(parsed.open(&commitments[0]), Err(CommitmentError::HashMismatch));
    let mut tampered = reveal.clone();
    tampered.bytes[10] ^= 1;
    assert_eq!(tampered.open(&commitments[1]), Err(CommitmentError::HashMismatch));
    let mut wrong_salt = reveal.clone();
    wrong_salt.salt[0] ^= 1;
    assert_eq!(wrong_salt.open(&commitments[1]), Err(CommitmentError::HashMismatch));
    // Bytes that hash right but are another kind of event than the commitment says.
    let mut lying = commitments[1].clone();
    lying.kind = "refused".into();
    assert!(matches!(reveal.open(&lying), Err(CommitmentError::EventMismatch(_))));
}

#[test]
fn overdue_secrecy_is_counted_from_the_log_alone() {
    let (events, commitments) = logged_case();
    let mut log: Vec<Vec<u8>> = commitments.iter().map(Commitment::to_entry).collect();
    log.push(b"some other entry".to_vec());
    let stats = |log: &[Vec<u8>], day: &str| commitment::statistics(log.iter().map(Vec::as_slice), d(day));
    let before = stats(&log, "2027-02-23");
    assert_eq!((before.secret, before.overdue, before.revealed, before.other_entries), (3, 0, 0, 1));
    let after = stats(&log, "2027-02-24");
    assert_eq!((after.secret, after.overdue), (0, 3), "past the reveal-by date and not revealed");
    // A judge's extension, itself committed with its new date public, moves the count.
    let ext = Event {
        case: events[0].case.clone(),
        seq: 4,
        at: t("2027-02-01T09:00:00Z"),
        actor: Role::Judge,
        body: case::EventBody::ConfidentialityExtended { until: d("2027-05-01"), reasons: reasons("Ongoing.") },
    };
    let ext_c = Commitment::new("BB-central-authority", &CASE_SALT, &ext, &salt(4), d("2027-05-01"));
    let ext_entry = ext_c.to_entry();
    assert!(String::from_utf8_lossy(&ext_entry).contains("\nextends-to 2027-05-01\n"));
    assert_eq!(Commitment::parse(&ext_entry).unwrap(), ext_c);
    log.push(ext_entry);
    assert_eq!(stats(&log, "2027-02-24").overdue, 0);
    assert_eq!(stats(&log, "2027-05-02").overdue, 4);
    // Revealing publishes salt and bytes; the statistics are recomputed from them.
    for (e, c) in events.iter().zip(&commitments) {
        log.push(Reveal { hash: c.hash, salt: salt(e.seq), bytes: e.to_bytes() }.to_entry());
    }
    log.push(Reveal { hash: ext_c.hash, salt: salt(4), bytes: ext.to_bytes() }.to_entry());
    log.push(Reveal { hash: [9; 32], salt: [0; 32], bytes: b"{}".to_vec() }.to_entry());
    let s = stats(&log, "2027-05-02");
    assert_eq!((s.overdue, s.revealed, s.invalid_reveals), (0, 4, 1));
    assert_eq!(s.decisions_by_action.get("admit"), Some(&1));
    assert_eq!(s.requests_by_measure.get("stored_data"), Some(&1));
    assert_eq!(s.requests_by_requesting_state.get("AA"), Some(&1));
}

#[test]
fn access_entries_round_trip_open_and_are_counted_by_role() {
    use commitment::{AccessCommitment, AccessRecord};
    let record = AccessRecord {
        case: "AA:42".into(),
        at: 1_795_000_000,
        actor: "Judge Okafor".into(),
        credential: "tok_1".into(),
        role: "judge".into(),
        what: "read".into(),
    };
    let c = AccessCommitment::new("BB-court", &salt(9), &record, &salt(3));
    let entry = c.to_entry();
    let text = String::from_utf8(entry.clone()).unwrap();
    // The public entry names the role and what was done, never the case id or the person.
    assert!(text.starts_with("custodia/access/v1\nnode BB-court\ncase "), "{text}");
    assert!(text.contains("\nrole judge\nwhat read\n") && !text.contains("Okafor") && !text.contains("AA:42"));
    assert_eq!(AccessCommitment::parse(&entry).unwrap(), c);
    assert!(c.opens(&record, &salt(3)));
    assert!(!c.opens(&record, &salt(4)), "another salt opens nothing");
    let mut other = record.clone();
    other.actor = "Someone Else".into();
    assert!(!c.opens(&other, &salt(3)));
    // Strict: a changed name, an unknown kind of access, a trailing line are refused.
    for bad in [
        text.replace("what read", "what browse"),
        text.replace("role judge", "role  judge"),
        format!("{text}extra\n"),
        text.trim_end().to_string(),
    ] {
        assert!(AccessCommitment::parse(bad.as_bytes()).is_err(), "{bad}");
    }
    // Statistics count accesses by role, apart from commitments and other entries.
    let (_, commitments) = logged_case();
    let mut entries: Vec<Vec<u8>> = commitments.iter().map(Commitment::to_entry).collect();
    entries.push(entry.clone());
    entries.push(entry);
    entries.push(b"something else\n".to_vec());
    let stats = commitment::statistics(entries.iter().map(Vec::as_slice), treaty::Date::from_days_since_epoch(0));
    assert_eq!(stats.accesses_by_role.get("judge"), Some(&2));
    assert_eq!(stats.other_entries, 1);
    assert_eq!(stats.commitments.values().sum::<u64>(), commitments.len() as u64);
}

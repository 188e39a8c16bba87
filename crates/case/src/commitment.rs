//! Commitments: what a node's public log holds for each event, and the reveals that
//! open them when secrecy ends. See docs/commitments.md for what is public and when.
//!
//! A commitment entry is text (at most a few hundred bytes):
//!
//! ```text
//! custodia/commitment/v1
//! node AA-central-authority
//! case 3f1c0a...           (16-byte case tag, hex: unlinkable to the case id without the node's salt)
//! seq 3
//! kind decided
//! reveal-by 2027-02-21
//! extends-to 2027-05-22    (only on `confidentiality_extended`)
//! hash 9a0b...             (SHA-256(salt || event bytes), hex)
//! ```
//!
//! A reveal entry publishes the salt and the event's exact bytes:
//!
//! ```text
//! custodia/reveal/v1
//! hash 9a0b...
//! salt 77e1...
//!
//! {"case":"...","seq":3,...}
//! ```

use std::collections::{BTreeMap, HashMap};

use serde::Serialize;
use sha2::{Digest, Sha256};
use treaty::Date;

use crate::engine::hex;
use crate::event::{Event, EventBody};
use crate::model::{Case, Secrecy};

/// The first line of a commitment entry.
pub const COMMITMENT_HEADER: &str = "custodia/commitment/v1";
/// The first line of a reveal entry.
pub const REVEAL_HEADER: &str = "custodia/reveal/v1";
/// The first line of an access entry.
pub const ACCESS_HEADER: &str = "custodia/access/v1";

/// What was done with a case when it was accessed.
pub const ACCESS_KINDS: [&str; 5] = ["read", "events", "accesses", "evidence", "page"];

/// A commitment to one access to a case by a person or program: who (by role only),
/// when (the day), and what (`read`, `events`, `accesses`, `evidence`, `page`) are
/// public at once, so that oversight and the public can count accesses by role; the
/// record itself (the case id, the holder's name, the time to the second) stays at the
/// node, committed by `hash` = SHA-256(salt || record bytes).
///
/// ```text
/// custodia/access/v1
/// node BB-central-authority
/// case 3f1c0a...
/// on 2026-11-30
/// role judge
/// what read
/// hash 9a0b...
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AccessCommitment {
    /// The node's name.
    pub node: String,
    /// The case tag (see [`case_tag`]).
    pub case_tag: String,
    /// The day of the access.
    pub on: Date,
    /// The role of who accessed the case.
    pub role: String,
    /// What was accessed ([`ACCESS_KINDS`]).
    pub what: String,
    /// SHA-256(salt || record bytes).
    pub hash: [u8; 32],
}

/// The record of one access, as the node keeps it (compact JSON, fields in this order).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct AccessRecord {
    /// The case id.
    pub case: String,
    /// When (Unix seconds).
    pub at: i64,
    /// Who: the account or token holder's name.
    pub actor: String,
    /// Their token's or session's id.
    pub credential: String,
    /// Their role.
    pub role: String,
    /// What was accessed ([`ACCESS_KINDS`]).
    pub what: String,
}

impl AccessRecord {
    /// The exact bytes committed to.
    pub fn to_bytes(&self) -> Vec<u8> {
        serde_json::to_vec(self).unwrap_or_default()
    }
}

impl AccessCommitment {
    /// The commitment to `record`, salted with `salt`.
    pub fn new(node: &str, case_salt: &[u8; 32], record: &AccessRecord, salt: &[u8; 32]) -> AccessCommitment {
        AccessCommitment {
            node: node.to_string(),
            case_tag: case_tag(case_salt, &record.case),
            on: crate::time::Timestamp(record.at).date(),
            role: record.role.clone(),
            what: record.what.clone(),
            hash: commitment_hash(salt, &record.to_bytes()),
        }
    }

    /// The log entry.
    pub fn to_entry(&self) -> Vec<u8> {
        format!(
            "{ACCESS_HEADER}\nnode {}\ncase {}\non {}\nrole {}\nwhat {}\nhash {}\n",
            self.node,
            self.case_tag,
            self.on,
            self.role,
            self.what,
            hex(&self.hash)
        )
        .into_bytes()
    }

    /// Reads an access entry, strictly (the lines in order, a final newline, nothing else).
    pub fn parse(entry: &[u8]) -> Result<AccessCommitment, CommitmentError> {
        let text = std::str::from_utf8(entry).map_err(|_| CommitmentError::UnknownEntry)?;
        let body =
            text.strip_suffix('\n').ok_or(CommitmentError::Malformed { line: 0, expected: "a final newline" })?;
        let lines: Vec<&str> = body.split('\n').collect();
        if lines.first() != Some(&ACCESS_HEADER) {
            return Err(CommitmentError::UnknownEntry);
        }
        let value = |i: usize, name: &str, expected: &'static str| -> Result<&str, CommitmentError> {
            lines
                .get(i)
                .and_then(|l| l.strip_prefix(name))
                .and_then(|v| v.strip_prefix(' '))
                .filter(|v| !v.is_empty() && !v.contains(' '))
                .ok_or(CommitmentError::Malformed { line: i + 1, expected })
        };
        let node = value(1, "node", "node NAME")?.to_owned();
        let case_tag = value(2, "case", "case TAG")?.to_owned();
        let on = Date::parse(value(3, "on", "on YYYY-MM-DD")?)
            .map_err(|_| CommitmentError::Malformed { line: 4, expected: "on YYYY-MM-DD" })?;
        let role = value(4, "role", "role ROLE")?.to_owned();
        let what = value(5, "what", "what KIND")?.to_owned();
        if !ACCESS_KINDS.contains(&what.as_str()) {
            return Err(CommitmentError::Malformed { line: 6, expected: "what read|events|accesses|evidence|page" });
        }
        let hash = value(6, "hash", "hash HEX (64 digits)")
            .ok()
            .and_then(parse_hash)
            .ok_or(CommitmentError::Malformed { line: 7, expected: "hash HEX (64 digits)" })?;
        if lines.len() != 7 {
            return Err(CommitmentError::Malformed { line: 8, expected: "end of entry" });
        }
        Ok(AccessCommitment { node, case_tag, on, role, what, hash })
    }

    /// Whether `record` with `salt` is what this entry commits to.
    pub fn opens(&self, record: &AccessRecord, salt: &[u8; 32]) -> bool {
        commitment_hash(salt, &record.to_bytes()) == self.hash
            && record.role == self.role
            && record.what == self.what
            && crate::time::Timestamp(record.at).date() == self.on
    }
}

/// A commitment to one event.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Commitment {
    /// The node's name.
    pub node: String,
    /// The case tag: hex of 16 bytes of SHA-256("custodia/case-tag/v1\n" || case salt || case id).
    pub case_tag: String,
    /// The event's sequence number in its case.
    pub seq: u64,
    /// The event's kind.
    pub kind: String,
    /// The date by which the event must be revealed.
    pub reveal_by: Date,
    /// For `confidentiality_extended`: the new expiry, public at once so that the
    /// extension is counted.
    pub extends_to: Option<Date>,
    /// SHA-256(salt || event bytes).
    pub hash: [u8; 32],
}

/// The opening of a commitment.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Reveal {
    /// The commitment's hash.
    pub hash: [u8; 32],
    /// The salt.
    pub salt: [u8; 32],
    /// The event's exact bytes.
    pub bytes: Vec<u8>,
}

/// Why an entry could not be read, or a reveal does not open a commitment.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum CommitmentError {
    /// Not a commitment or reveal entry.
    #[error("not a custodia entry: the first line is not `{COMMITMENT_HEADER}` or `{REVEAL_HEADER}`")]
    UnknownEntry,
    /// A line is missing or malformed.
    #[error("line {line}: expected `{expected}`")]
    Malformed {
        /// 1-based line number.
        line: usize,
        /// What was expected.
        expected: &'static str,
    },
    /// SHA-256(salt || bytes) differs from the commitment's hash.
    #[error("the revealed bytes do not match the commitment")]
    HashMismatch,
    /// The bytes are not an event, or not the committed kind or sequence number.
    #[error("the revealed event does not match the commitment: {0}")]
    EventMismatch(String),
}

/// The tag that groups a case's commitments without naming the case.
pub fn case_tag(case_salt: &[u8; 32], case_id: &str) -> String {
    let mut h = Sha256::new();
    h.update(b"custodia/case-tag/v1\n");
    h.update(case_salt);
    h.update(case_id.as_bytes());
    hex(&h.finalize()[..16])
}

/// SHA-256(salt || bytes).
pub fn commitment_hash(salt: &[u8; 32], bytes: &[u8]) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update(salt);
    h.update(bytes);
    h.finalize().into()
}

/// When `event` must be revealed, given the case after the event was applied: the
/// confidentiality order's expiry while there is one; otherwise at once.
pub fn reveal_by(case_after: &Case, event: &Event) -> Date {
    match case_after.secrecy {
        Secrecy::Secret { until, .. } => until,
        Secrecy::RevealDue { since } => since,
        Secrecy::None | Secrecy::Revealed { .. } => event.at.date(),
    }
}

impl Commitment {
    /// The commitment to `event` (whose exact bytes are `event.to_bytes()`).
    pub fn new(node: &str, case_salt: &[u8; 32], event: &Event, salt: &[u8; 32], reveal_by: Date) -> Commitment {
        let extends_to = match event.body {
            EventBody::ConfidentialityExtended { until, .. } => Some(until),
            _ => None,
        };
        Commitment {
            node: node.to_string(),
            case_tag: case_tag(case_salt, &event.case),
            seq: event.seq,
            kind: event.kind().to_string(),
            reveal_by,
            extends_to,
            hash: commitment_hash(salt, &event.to_bytes()),
        }
    }

    /// The log entry.
    pub fn to_entry(&self) -> Vec<u8> {
        let mut s = format!(
            "{COMMITMENT_HEADER}\nnode {}\ncase {}\nseq {}\nkind {}\nreveal-by {}\n",
            self.node, self.case_tag, self.seq, self.kind, self.reveal_by
        );
        if let Some(d) = self.extends_to {
            s.push_str(&format!("extends-to {d}\n"));
        }
        s.push_str(&format!("hash {}\n", hex(&self.hash)));
        s.into_bytes()
    }

    /// Reads a commitment entry (strictly: the lines in order, one space after each
    /// name, a final newline, nothing else).
    pub fn parse(entry: &[u8]) -> Result<Commitment, CommitmentError> {
        let text = std::str::from_utf8(entry).map_err(|_| CommitmentError::UnknownEntry)?;
        let body =
            text.strip_suffix('\n').ok_or(CommitmentError::Malformed { line: 0, expected: "a final newline" })?;
        let lines: Vec<&str> = body.split('\n').collect();
        if lines.first() != Some(&COMMITMENT_HEADER) {
            return Err(CommitmentError::UnknownEntry);
        }
        let value = |i: usize, name: &str, expected: &'static str| -> Result<&str, CommitmentError> {
            lines
                .get(i)
                .and_then(|l| l.strip_prefix(name))
                .and_then(|v| v.strip_prefix(' '))
                .filter(|v| !v.is_empty() && !v.contains(' '))
                .ok_or(CommitmentError::Malformed { line: i + 1, expected })
        };
        let date = |i: usize, name: &str, expected: &'static str| {
            value(i, name, expected)
                .and_then(|v| Date::parse(v).map_err(|_| CommitmentError::Malformed { line: i + 1, expected }))
        };
        let node = value(1, "node", "node NAME")?.to_owned();
        let case_tag = value(2, "case", "case TAG")?.to_owned();
        let seq =
            value(3, "seq", "seq N")?.parse().map_err(|_| CommitmentError::Malformed { line: 4, expected: "seq N" })?;
        let kind = value(4, "kind", "kind KIND")?.to_owned();
        let reveal_by = date(5, "reveal-by", "reveal-by YYYY-MM-DD")?;
        let (extends_to, hash_line) = if kind == "confidentiality_extended" {
            (Some(date(6, "extends-to", "extends-to YYYY-MM-DD")?), 7)
        } else {
            (None, 6)
        };
        let hash = value(hash_line, "hash", "hash HEX (64 digits)")
            .ok()
            .and_then(parse_hash)
            .ok_or(CommitmentError::Malformed { line: hash_line + 1, expected: "hash HEX (64 digits)" })?;
        if lines.len() != hash_line + 1 {
            return Err(CommitmentError::Malformed { line: hash_line + 2, expected: "end of entry" });
        }
        Ok(Commitment { node, case_tag, seq, kind, reveal_by, extends_to, hash })
    }
}

fn parse_hash(s: &str) -> Option<[u8; 32]> {
    if s.len() != 64 {
        return None;
    }
    let mut out = [0u8; 32];
    for (i, chunk) in s.as_bytes().chunks(2).enumerate() {
        let hexval = |c: u8| match c {
            b'0'..=b'9' => Some(c - b'0'),
            b'a'..=b'f' => Some(c - b'a' + 10),
            _ => None,
        };
        out[i] = hexval(chunk[0])? << 4 | hexval(chunk[1])?;
    }
    Some(out)
}

impl Reveal {
    /// The reveal entry.
    pub fn to_entry(&self) -> Vec<u8> {
        let mut out = format!("{REVEAL_HEADER}\nhash {}\nsalt {}\n\n", hex(&self.hash), hex(&self.salt)).into_bytes();
        out.extend_from_slice(&self.bytes);
        out
    }

    /// Reads a reveal entry.
    pub fn parse(entry: &[u8]) -> Result<Reveal, CommitmentError> {
        let head_len = REVEAL_HEADER.len() + 1 + 5 + 64 + 1 + 5 + 64 + 2;
        if !entry.starts_with(REVEAL_HEADER.as_bytes()) || entry.get(REVEAL_HEADER.len()) != Some(&b'\n') {
            return Err(CommitmentError::UnknownEntry);
        }
        let head = entry
            .get(..head_len)
            .and_then(|h| std::str::from_utf8(h).ok())
            .ok_or(CommitmentError::Malformed { line: 2, expected: "hash HEX" })?;
        let lines: Vec<&str> = head.split('\n').collect();
        let hash = lines
            .get(1)
            .and_then(|l| l.strip_prefix("hash "))
            .and_then(parse_hash)
            .ok_or(CommitmentError::Malformed { line: 2, expected: "hash HEX" })?;
        let salt = lines
            .get(2)
            .and_then(|l| l.strip_prefix("salt "))
            .and_then(parse_hash)
            .ok_or(CommitmentError::Malformed { line: 3, expected: "salt HEX" })?;
        if lines.get(3) != Some(&"") {
            return Err(CommitmentError::Malformed { line: 4, expected: "an empty line" });
        }
        Ok(Reveal { hash, salt, bytes: entry[head_len..].to_vec() })
    }

    /// Checks that this reveal opens `commitment`, and returns the event.
    pub fn open(&self, commitment: &Commitment) -> Result<Event, CommitmentError> {
        if self.hash != commitment.hash || commitment_hash(&self.salt, &self.bytes) != commitment.hash {
            return Err(CommitmentError::HashMismatch);
        }
        let event = Event::from_bytes(&self.bytes).map_err(|e| CommitmentError::EventMismatch(e.to_string()))?;
        if event.kind() != commitment.kind || event.seq != commitment.seq {
            return Err(CommitmentError::EventMismatch(format!(
                "{} #{} is not {} #{}",
                event.kind(),
                event.seq,
                commitment.kind,
                commitment.seq
            )));
        }
        Ok(event)
    }
}

/// Transparency statistics for one node, recomputed from its log entries alone.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Statistics {
    /// Commitments by event kind.
    pub commitments: BTreeMap<String, u64>,
    /// Commitments opened by a valid reveal.
    pub revealed: u64,
    /// Reveal entries that open no commitment of the log.
    pub invalid_reveals: u64,
    /// Commitments still secret, their (possibly extended) reveal-by date not yet passed.
    pub secret: u64,
    /// Commitments past their (possibly extended) reveal-by date and not revealed.
    pub overdue: u64,
    /// Entries that are neither commitments, reveals nor accesses.
    pub other_entries: u64,
    /// Accesses to cases, by the role of who accessed them.
    pub accesses_by_role: BTreeMap<String, u64>,
    /// From revealed `created` events: requests by measure.
    pub requests_by_measure: BTreeMap<String, u64>,
    /// From revealed `created` events: requests by requesting State.
    pub requests_by_requesting_state: BTreeMap<String, u64>,
    /// From revealed `decided` events: decisions by action.
    pub decisions_by_action: BTreeMap<String, u64>,
    /// From revealed `objection_decided` events: rulings.
    pub objection_rulings: BTreeMap<String, u64>,
}

/// A log's commitments and reveals, read from its entries.
#[derive(Debug, Default)]
struct Read {
    commitments: Vec<Commitment>,
    reveals: Vec<Reveal>,
    accesses: Vec<AccessCommitment>,
    other: u64,
}

fn read<'a>(entries: impl IntoIterator<Item = &'a [u8]>) -> Read {
    let mut r = Read::default();
    for e in entries {
        if let Ok(c) = Commitment::parse(e) {
            r.commitments.push(c);
        } else if let Ok(x) = Reveal::parse(e) {
            r.reveals.push(x);
        } else if let Ok(a) = AccessCommitment::parse(e) {
            r.accesses.push(a);
        } else {
            r.other += 1;
        }
    }
    r
}

/// Opens every reveal against the commitments; returns the opened events (in the order
/// of the reveals) and the number of reveals that open nothing.
fn open_all(r: &Read) -> (Vec<(Commitment, Event)>, u64) {
    let by_hash: HashMap<[u8; 32], &Commitment> = r.commitments.iter().map(|c| (c.hash, c)).collect();
    let mut opened = Vec::new();
    let mut seen = std::collections::HashSet::new();
    let mut invalid = 0;
    for x in &r.reveals {
        match by_hash.get(&x.hash).map(|c| (c, x.open(c))) {
            Some((c, Ok(event))) => {
                // A commitment revealed twice counts once.
                if seen.insert(c.hash) {
                    opened.push(((*c).clone(), event));
                }
            }
            _ => invalid += 1,
        }
    }
    (opened, invalid)
}

/// The events opened by valid reveals among `entries`, with their commitments, in the
/// order of the reveals.
pub fn revealed<'a>(entries: impl IntoIterator<Item = &'a [u8]>) -> Vec<(Commitment, Event)> {
    open_all(&read(entries)).0
}

/// Recomputes a node's statistics from its log entries on `today`. An entry is overdue
/// when `today` is after its reveal-by date, extended by any `extends-to` of the same
/// case tag, and no valid reveal opens it.
pub fn statistics<'a>(entries: impl IntoIterator<Item = &'a [u8]>, today: Date) -> Statistics {
    let r = read(entries);
    let mut stats = Statistics { other_entries: r.other, ..Statistics::default() };
    for a in &r.accesses {
        *stats.accesses_by_role.entry(a.role.clone()).or_default() += 1;
    }
    let mut extended: HashMap<(&str, &str), Date> = HashMap::new();
    for c in &r.commitments {
        *stats.commitments.entry(c.kind.clone()).or_default() += 1;
        if let Some(d) = c.extends_to {
            let e = extended.entry((c.node.as_str(), c.case_tag.as_str())).or_insert(d);
            *e = (*e).max(d);
        }
    }
    let (opened, invalid) = open_all(&r);
    stats.invalid_reveals = invalid;
    let opened_hashes: std::collections::HashSet<[u8; 32]> = opened.iter().map(|(c, _)| c.hash).collect();
    for c in &r.commitments {
        if opened_hashes.contains(&c.hash) {
            stats.revealed += 1;
            continue;
        }
        let due = extended.get(&(c.node.as_str(), c.case_tag.as_str())).map_or(c.reveal_by, |d| c.reveal_by.max(*d));
        if today > due {
            stats.overdue += 1;
        } else {
            stats.secret += 1;
        }
    }
    for (_, event) in &opened {
        match &event.body {
            EventBody::Created { measure, requesting_state, .. } => {
                *stats.requests_by_measure.entry(measure.id().into()).or_default() += 1;
                *stats.requests_by_requesting_state.entry(requesting_state.to_string()).or_default() += 1;
            }
            EventBody::Decided { action, .. } => *stats.decisions_by_action.entry(action.id().into()).or_default() += 1,
            EventBody::ObjectionDecided { ruling, .. } => {
                *stats.objection_rulings.entry(ruling.id().into()).or_default() += 1
            }
            _ => {}
        }
    }
    stats
}

//! The records the store keeps, the inputs it accepts, and the opaque pagination cursor.

use std::fmt;

use crate::error::StoreError;

/// The longest case id, node, kind or state name accepted, in bytes.
pub const MAX_NAME_LEN: usize = 256;

/// The largest page [`crate::Store::list_cases`] returns.
pub const MAX_PAGE: u32 = 1000;

/// A case's identifier: the `id` string the case crate gives it (for example a UUID in text form).
///
/// Non-empty, at most [`MAX_NAME_LEN`] bytes, no control characters. Compared byte for byte.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct CaseId(String);

impl CaseId {
    /// Checks and wraps a case id.
    pub fn new(id: impl Into<String>) -> Result<CaseId, StoreError> {
        let id = id.into();
        check_name("case id", &id)?;
        Ok(CaseId(id))
    }

    /// The id as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for CaseId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl TryFrom<&str> for CaseId {
    type Error = StoreError;
    fn try_from(s: &str) -> Result<CaseId, StoreError> {
        CaseId::new(s)
    }
}

/// An instant: whole seconds since 1970-01-01T00:00:00Z (the case crate's `Timestamp.0`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct UnixTime(pub i64);

/// A calendar day: days since 1970-01-01 (the treaty crate's `Date::days_since_epoch()`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct DayNumber(pub i64);

/// A case to create.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NewCase {
    /// Its id, unique in the store.
    pub id: CaseId,
    /// The node that holds the case (its party id).
    pub node: String,
    /// The kind of case, for example `requesting`, `requested` or `provider`.
    pub kind: String,
    /// The name of its current state, kept for listing and filtering.
    pub state: String,
    /// The case's serialized snapshot: opaque bytes.
    pub snapshot: Vec<u8>,
    /// When it was created.
    pub created_at: UnixTime,
    /// Who opened it at this node (the account's or the token holder's name); none for a
    /// case that arrived from another node. Never changes.
    pub opened_by: Option<String>,
}

/// An event to append to a case. The store numbers it (`seq`) in the order given.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NewEvent {
    /// The event's kind (its name in the lifecycle).
    pub kind: String,
    /// When it happened.
    pub at: UnixTime,
    /// The event's exact bytes, as committed to in the log.
    pub bytes: Vec<u8>,
    /// The random salt of its commitment.
    pub salt: [u8; 32],
    /// The day by which it must be revealed, if it is confidential.
    pub reveal_by: Option<DayNumber>,
}

/// A change to a case: applied only if the stored version is `expected_version`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CaseUpdate {
    /// The version the caller read; the update fails with a version conflict if the stored one differs.
    pub expected_version: u64,
    /// The new state name.
    pub state: String,
    /// The new snapshot.
    pub snapshot: Vec<u8>,
    /// The events that lead to it, appended in order.
    pub events: Vec<NewEvent>,
    /// When the update happened (becomes `updated_at`).
    pub at: UnixTime,
}

/// A stored case.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CaseRecord {
    /// Its id.
    pub id: CaseId,
    /// The node that holds it.
    pub node: String,
    /// Its kind.
    pub kind: String,
    /// Its current state name.
    pub state: String,
    /// 1 when created, one more at each successful update.
    pub version: u64,
    /// The number of events stored for the case: its events are numbered `1..=last_seq`.
    pub last_seq: u64,
    /// The snapshot as last written.
    pub snapshot: Vec<u8>,
    /// When it was created.
    pub created_at: UnixTime,
    /// When it was last written (`created_at` until the first update).
    pub updated_at: UnixTime,
    /// Who opened it at this node, if a person or program here did (see [`NewCase`]).
    pub opened_by: Option<String>,
}

/// A stored event.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EventRecord {
    /// The case it belongs to.
    pub case_id: CaseId,
    /// Its number in the case, from 1, without gaps.
    pub seq: u64,
    /// Its kind.
    pub kind: String,
    /// When it happened.
    pub at: UnixTime,
    /// Its exact bytes.
    pub bytes: Vec<u8>,
    /// The salt of its commitment.
    pub salt: [u8; 32],
    /// The day by which it must be revealed, if any.
    pub reveal_by: Option<DayNumber>,
    /// The index of its commitment in the log, once logged.
    pub log_index: Option<u64>,
    /// Whether its salt and bytes have been published.
    pub revealed: bool,
}

/// An access to a case, to record: its commitment is already in the log at `log_index`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NewAccess {
    /// The case accessed.
    pub case_id: CaseId,
    /// When.
    pub at: UnixTime,
    /// The role of who accessed it.
    pub role: String,
    /// What was accessed.
    pub what: String,
    /// The access record's exact bytes, as committed to.
    pub bytes: Vec<u8>,
    /// The salt of its commitment.
    pub salt: [u8; 32],
    /// Where its commitment is in the log.
    pub log_index: u64,
}

/// A recorded access (see [`NewAccess`]).
pub type AccessRecord = NewAccess;

/// Which cases [`crate::Store::list_cases`] returns: every field that is `Some` must match exactly.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CaseFilter {
    /// Only cases of this node.
    pub node: Option<String>,
    /// Only cases of this kind.
    pub kind: Option<String>,
    /// Only cases in this state.
    pub state: Option<String>,
    /// Only cases opened by this name ([`NewCase::opened_by`]).
    pub opened_by: Option<String>,
}

/// One page of a listing, in creation order (then id order).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Page<T> {
    /// The items of this page.
    pub items: Vec<T>,
    /// Where the next page starts; `None` on the last page.
    pub next: Option<Cursor>,
}

/// An opaque position in a listing. Send it back as text ([`Cursor::as_str`], [`Cursor::parse`]).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Cursor(String);

const CURSOR_PREFIX: &str = "c1.";

impl Cursor {
    /// The cursor placed just after the case created at `created_at` with id `id`.
    pub(crate) fn after(created_at: UnixTime, id: &CaseId) -> Cursor {
        let mut raw = Vec::with_capacity(8 + id.as_str().len());
        raw.extend_from_slice(&created_at.0.to_be_bytes());
        raw.extend_from_slice(id.as_str().as_bytes());
        let mut s = String::with_capacity(CURSOR_PREFIX.len() + 2 * raw.len());
        s.push_str(CURSOR_PREFIX);
        for b in raw {
            s.push(char::from(HEX[usize::from(b >> 4)]));
            s.push(char::from(HEX[usize::from(b & 15)]));
        }
        Cursor(s)
    }

    /// Reads a cursor from its text, as given by [`Cursor::as_str`].
    pub fn parse(s: &str) -> Result<Cursor, StoreError> {
        let c = Cursor(s.to_owned());
        c.position()?;
        Ok(c)
    }

    /// The cursor as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The (created_at, id) just before this cursor.
    pub(crate) fn position(&self) -> Result<(UnixTime, CaseId), StoreError> {
        let hex = self.0.strip_prefix(CURSOR_PREFIX).ok_or(StoreError::BadCursor("unknown format"))?;
        if hex.len() % 2 != 0 {
            return Err(StoreError::BadCursor("odd number of hex digits"));
        }
        let digit = |c: u8| match c {
            b'0'..=b'9' => Ok(c - b'0'),
            b'a'..=b'f' => Ok(c - b'a' + 10),
            _ => Err(StoreError::BadCursor("not lowercase hex")),
        };
        let raw = hex
            .as_bytes()
            .chunks_exact(2)
            .map(|p| Ok(digit(p[0])? << 4 | digit(p[1])?))
            .collect::<Result<Vec<u8>, StoreError>>()?;
        let (time, id) = raw.split_first_chunk::<8>().ok_or(StoreError::BadCursor("too short"))?;
        let id = std::str::from_utf8(id).map_err(|_| StoreError::BadCursor("case id is not UTF-8"))?;
        let id = CaseId::new(id).map_err(|_| StoreError::BadCursor("not a valid case id"))?;
        Ok((UnixTime(i64::from_be_bytes(*time)), id))
    }
}

impl fmt::Display for Cursor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

const HEX: &[u8; 16] = b"0123456789abcdef";

/// Checks a name-like field: non-empty, at most [`MAX_NAME_LEN`] bytes, no control characters.
pub(crate) fn check_name(what: &'static str, s: &str) -> Result<(), StoreError> {
    if s.is_empty() {
        return Err(StoreError::Invalid(format!("{what} is empty")));
    }
    if s.len() > MAX_NAME_LEN {
        return Err(StoreError::Invalid(format!("{what} is longer than {MAX_NAME_LEN} bytes")));
    }
    if s.chars().any(char::is_control) {
        return Err(StoreError::Invalid(format!("{what} contains a control character")));
    }
    Ok(())
}

/// A count or index as the databases store it (a signed 64-bit integer).
pub(crate) fn to_db(what: &'static str, v: u64) -> Result<i64, StoreError> {
    i64::try_from(v).map_err(|_| StoreError::Invalid(format!("{what} {v} is larger than {}", i64::MAX)))
}

/// A stored count or index read back; negative means the database was changed behind our back.
pub(crate) fn from_db(what: &'static str, v: i64) -> Result<u64, StoreError> {
    u64::try_from(v).map_err(|_| StoreError::Corrupt(format!("{what} is negative ({v})")))
}

pub(crate) fn check_new_case(c: &NewCase, events: &[NewEvent]) -> Result<(), StoreError> {
    check_name("node", &c.node)?;
    check_name("kind", &c.kind)?;
    check_name("state", &c.state)?;
    if let Some(who) = &c.opened_by {
        check_name("opener", who)?;
    }
    check_events(events)
}

pub(crate) fn check_update(u: &CaseUpdate) -> Result<(), StoreError> {
    to_db("expected version", u.expected_version)?;
    check_name("state", &u.state)?;
    check_events(&u.events)
}

/// The most events one call may append.
pub const MAX_EVENTS_PER_WRITE: usize = 10_000;

fn check_events(events: &[NewEvent]) -> Result<(), StoreError> {
    if events.len() > MAX_EVENTS_PER_WRITE {
        return Err(StoreError::Invalid(format!("more than {MAX_EVENTS_PER_WRITE} events in one write")));
    }
    events.iter().try_for_each(|e| check_name("event kind", &e.kind))
}

pub(crate) fn check_filter(f: &CaseFilter, limit: u32) -> Result<(), StoreError> {
    if limit == 0 || limit > MAX_PAGE {
        return Err(StoreError::Invalid(format!("page limit {limit} is outside 1..={MAX_PAGE}")));
    }
    for (what, v) in [
        ("node filter", &f.node),
        ("kind filter", &f.kind),
        ("state filter", &f.state),
        ("opener filter", &f.opened_by),
    ] {
        if let Some(v) = v {
            check_name(what, v)?;
        }
    }
    Ok(())
}

pub(crate) fn salt_from_db(v: Vec<u8>) -> Result<[u8; 32], StoreError> {
    <[u8; 32]>::try_from(v.as_slice())
        .map_err(|_| StoreError::Corrupt(format!("an event salt is {} bytes, not 32", v.len())))
}

/// The error for an update whose `WHERE version = expected` matched nothing.
pub(crate) fn refused(id: &CaseId, expected: u64, actual: Option<i64>) -> StoreError {
    match actual {
        None => StoreError::CaseNotFound(id.clone()),
        Some(actual) => match from_db("version", actual) {
            Ok(actual) => StoreError::VersionConflict { id: id.clone(), expected, actual },
            Err(e) => e,
        },
    }
}

/// The error for a `set_log_index` that matched nothing.
pub(crate) fn log_index_refused(id: &CaseId, seq: u64, requested: u64, existing: Option<Option<i64>>) -> StoreError {
    match existing {
        None => StoreError::EventNotFound { id: id.clone(), seq },
        Some(None) => StoreError::Corrupt(format!("event {seq} of case {id} could not be given a log index")),
        Some(Some(existing)) => match from_db("log_index", existing) {
            Ok(existing) => StoreError::LogIndexConflict { id: id.clone(), seq, existing, requested },
            Err(e) => e,
        },
    }
}

/// Cuts the `limit + 1` rows fetched into a page and the cursor after it.
pub(crate) fn page(mut items: Vec<CaseRecord>, limit: u32) -> Result<Page<CaseRecord>, StoreError> {
    let limit = usize::try_from(limit).map_err(|_| StoreError::Invalid("page limit too large".into()))?;
    let next = if items.len() > limit {
        items.truncate(limit);
        items.last().map(|last| Cursor::after(last.created_at, &last.id))
    } else {
        None
    };
    Ok(Page { items, next })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursor_round_trips() {
        let id = CaseId::new("case-ü-1").unwrap();
        let c = Cursor::after(UnixTime(-5), &id);
        let back = Cursor::parse(c.as_str()).unwrap();
        assert_eq!(back.position().unwrap(), (UnixTime(-5), id));
    }

    #[test]
    fn bad_cursors_are_errors() {
        for s in ["", "c1.", "c1.0", "c1.zz", "c2.00", "c1.0000000000000000", "c1.00000000000000000a", "c1.ABCD"] {
            assert!(matches!(Cursor::parse(s), Err(StoreError::BadCursor(_))), "{s}");
        }
    }

    #[test]
    fn names_are_checked() {
        assert!(CaseId::new("").is_err());
        assert!(CaseId::new("a\nb").is_err());
        assert!(CaseId::new("x".repeat(MAX_NAME_LEN + 1)).is_err());
        assert!(CaseId::new("x".repeat(MAX_NAME_LEN)).is_ok());
    }
}

//! The clock, read only here at the edge: the pure crates take time as a parameter.

use std::time::{SystemTime, UNIX_EPOCH};

/// Now, as a `case::Timestamp` (whole seconds, UTC).
pub fn now() -> case::Timestamp {
    let secs = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
    case::Timestamp(i64::try_from(secs).unwrap_or(i64::MAX))
}

/// Today's date, UTC.
pub fn today() -> treaty::Date {
    now().date()
}

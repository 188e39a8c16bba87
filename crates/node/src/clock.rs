//! The clock, read only here at the edge: the pure crates take time as a parameter.
//!
//! `custodia demo` advances a simulated clock (an offset added to the system clock, for
//! the whole process) to show what happens when confidentiality expires; a node served by
//! `custodia serve` never moves it.

use std::sync::atomic::{AtomicI64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

static OFFSET: AtomicI64 = AtomicI64::new(0);

/// Now, as a `case::Timestamp` (whole seconds, UTC), plus any simulated advance.
pub fn now() -> case::Timestamp {
    let secs = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
    case::Timestamp(i64::try_from(secs).unwrap_or(i64::MAX).saturating_add(OFFSET.load(Ordering::Relaxed)))
}

/// Today's date, UTC.
pub fn today() -> treaty::Date {
    now().date()
}

/// Moves the simulated clock forward (the demo only).
pub fn advance(seconds: i64) {
    OFFSET.fetch_add(seconds, Ordering::Relaxed);
}

/// How far the simulated clock is ahead of the system clock, in seconds.
pub fn simulated_offset() -> i64 {
    OFFSET.load(Ordering::Relaxed)
}

//! Calendar dates (proleptic Gregorian), without a clock: a date is always an input.

use std::fmt;

/// A calendar date, stored as days since 1970-01-01 so that comparisons and day
/// arithmetic are exact. Years outside 0..=9999 can be represented (they arise from very
/// long periods) and are printed with as many digits as they need; arithmetic clamps to
/// about ±2.4e13 years, far beyond any legal deadline, so that it never overflows.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Date(i64);

/// The largest distance from 1970-01-01 that a [`Date`] holds, in days (2^53).
const LIMIT: i64 = 1 << 53;

/// Why a string is not a date in the form `YYYY-MM-DD`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DateError {
    /// Not ten characters of the shape `NNNN-NN-NN`.
    Shape,
    /// Month outside 01..=12.
    Month,
    /// Day outside the month (29 February only in leap years).
    Day,
}

impl fmt::Display for DateError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            DateError::Shape => "expected a date YYYY-MM-DD",
            DateError::Month => "month must be 01 to 12",
            DateError::Day => "day does not exist in that month",
        })
    }
}

impl std::error::Error for DateError {}

const fn clamp(days: i64) -> i64 {
    if days > LIMIT {
        LIMIT
    } else if days < -LIMIT {
        -LIMIT
    } else {
        days
    }
}

const fn is_leap(y: i64) -> bool {
    (y % 4 == 0 && y % 100 != 0) || y % 400 == 0
}

/// Days in month `m` (1..=12) of year `y`.
pub const fn days_in_month(y: i64, m: u32) -> u32 {
    match m {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        _ if is_leap(y) => 29,
        _ => 28,
    }
}

impl Date {
    /// The date for a year, month (1..=12) and day, if it exists.
    pub fn from_ymd(y: i64, m: u32, d: u32) -> Option<Date> {
        if !(1..=12).contains(&m) || d == 0 || d > days_in_month(y, m) {
            return None;
        }
        // Howard Hinnant's days_from_civil.
        let y = if m <= 2 { y - 1 } else { y };
        let era = y.div_euclid(400);
        let yoe = y - era * 400;
        let m = i64::from(m);
        let mp = if m > 2 { m - 3 } else { m + 9 };
        let doy = (153 * mp + 2) / 5 + i64::from(d) - 1;
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
        Some(Date(clamp(era.saturating_mul(146_097).saturating_add(doe - 719_468))))
    }

    /// Year, month and day.
    pub fn ymd(self) -> (i64, u32, u32) {
        let z = self.0 + 719_468;
        let era = z.div_euclid(146_097);
        let doe = z - era * 146_097;
        let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
        let mp = (5 * doy + 2) / 153;
        let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
        let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
        let y = yoe + era * 400 + i64::from(m <= 2);
        (y, m, d)
    }

    /// The date `days` after 1970-01-01.
    pub const fn from_days_since_epoch(days: i64) -> Date {
        Date(clamp(days))
    }

    /// Days since 1970-01-01.
    pub const fn days_since_epoch(self) -> i64 {
        self.0
    }

    /// The date `days` later (earlier when negative), saturating at the ends of the range.
    pub const fn add_days(self, days: i64) -> Date {
        Date(clamp(self.0.saturating_add(days)))
    }

    /// The date `days` later, for a count of days of any size (saturating).
    pub const fn add_days_u64(self, days: u64) -> Date {
        let days = if days > LIMIT as u64 { LIMIT } else { days as i64 };
        self.add_days(days)
    }

    /// Days from `earlier` to `self`.
    pub const fn days_since(self, earlier: Date) -> i64 {
        self.0 - earlier.0
    }

    /// "The first day of the month following the expiration of a period of three months
    /// after the date of deposit" (ETS 185 art. 36(3)-37(2), CETS 224 art. 16): deposits
    /// on 1, 15 or 31 January all give 1 May.
    pub fn first_of_month_after_three_months(self) -> Date {
        let (y, m, _) = self.ymd();
        let month0 = i64::from(m) - 1 + 4;
        let (y, m) = (y + month0.div_euclid(12), month0.rem_euclid(12) as u32 + 1);
        Date::from_ymd(y, m, 1).unwrap_or(self)
    }

    /// Parses exactly `YYYY-MM-DD` (RFC 3339 full-date).
    pub fn parse(s: &str) -> Result<Date, DateError> {
        let b = s.as_bytes();
        if b.len() != 10 || b[4] != b'-' || b[7] != b'-' {
            return Err(DateError::Shape);
        }
        let digits = |r: std::ops::Range<usize>| -> Result<u32, DateError> {
            b[r].iter().try_fold(0u32, |acc, &c| {
                if c.is_ascii_digit() { Ok(acc * 10 + u32::from(c - b'0')) } else { Err(DateError::Shape) }
            })
        };
        let (y, m, d) = (digits(0..4)?, digits(5..7)?, digits(8..10)?);
        if !(1..=12).contains(&m) {
            return Err(DateError::Month);
        }
        Date::from_ymd(i64::from(y), m, d).ok_or(DateError::Day)
    }
}

impl fmt::Display for Date {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (y, m, d) = self.ymd();
        write!(f, "{y:04}-{m:02}-{d:02}")
    }
}

impl serde::Serialize for Date {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> serde::Deserialize<'de> for Date {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Date, D::Error> {
        let s = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        Date::parse(&s).map_err(|e| serde::de::Error::custom(format!("{e}: {s:?}")))
    }
}

impl std::str::FromStr for Date {
    type Err = DateError;
    fn from_str(s: &str) -> Result<Date, DateError> {
        Date::parse(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn d(s: &str) -> Date {
        Date::parse(s).unwrap()
    }

    #[test]
    fn epoch_and_known_dates() {
        assert_eq!(d("1970-01-01").days_since_epoch(), 0);
        assert_eq!(d("2000-03-01").days_since_epoch(), 11_017);
        assert_eq!(d("2026-11-23").add_days(90), d("2027-02-21"));
        assert_eq!(d("2024-02-28").add_days(1), d("2024-02-29"));
        assert_eq!(d("2025-02-28").add_days(1), d("2025-03-01"));
    }

    #[test]
    fn rejects_malformed() {
        for bad in [
            "2026-1-01",
            "2026-13-01",
            "2026-00-10",
            "2025-02-29",
            "2026-04-31",
            "2026-04-00",
            "20260401",
            "2026-04-0a",
            "+026-04-01",
            "2026-04-01 ",
        ] {
            assert!(Date::parse(bad).is_err(), "{bad}");
        }
        assert_eq!(Date::parse("2024-02-29").unwrap().to_string(), "2024-02-29");
        assert_eq!(Date::parse("2026-13-01"), Err(DateError::Month));
        assert_eq!(Date::parse("2026-02-30"), Err(DateError::Day));
    }

    #[test]
    fn three_months_rule() {
        for dep in ["2026-01-01", "2026-01-15", "2026-01-31"] {
            assert_eq!(d(dep).first_of_month_after_three_months(), d("2026-05-01"));
        }
        assert_eq!(d("2025-09-30").first_of_month_after_three_months(), d("2026-01-01"));
        assert_eq!(d("2025-12-31").first_of_month_after_three_months(), d("2026-04-01"));
    }

    #[test]
    fn far_future_does_not_overflow() {
        let far = d("2026-11-23").add_days_u64(u64::MAX);
        assert!(far > d("9999-12-31"));
        let (y, _, _) = far.ymd();
        assert!(y > 1_000_000_000);
        assert_eq!(Date::from_days_since_epoch(i64::MIN), d("1970-01-01").add_days(i64::MIN));
        assert!(!far.to_string().is_empty());
    }

    proptest! {
        #[test]
        fn ymd_round_trips(days in -1_000_000i64..3_000_000) {
            let date = Date(days);
            let (y, m, dd) = date.ymd();
            prop_assert_eq!(Date::from_ymd(y, m, dd), Some(date));
            if (0..=9999).contains(&y) {
                prop_assert_eq!(Date::parse(&date.to_string()), Ok(date));
            }
        }
    }
}

//! Instants, without a clock: the caller always says what time it is.

use std::fmt;

use treaty::Date;

/// An instant in UTC, in whole seconds since 1970-01-01T00:00:00Z.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Timestamp(pub i64);

/// Seconds in an hour.
pub const HOUR: i64 = 3600;
/// Seconds in a day.
pub const DAY: i64 = 24 * HOUR;

impl Timestamp {
    /// Midnight UTC at the start of `date`.
    pub const fn at_start_of(date: Date) -> Timestamp {
        Timestamp(date.days_since_epoch().saturating_mul(DAY))
    }

    /// The calendar date (UTC) of this instant.
    pub const fn date(self) -> Date {
        Date::from_days_since_epoch(self.0.div_euclid(DAY))
    }

    /// This instant plus `seconds`.
    pub const fn plus(self, seconds: i64) -> Timestamp {
        Timestamp(self.0.saturating_add(seconds))
    }

    /// Parses `YYYY-MM-DDTHH:MM:SSZ`.
    pub fn parse(s: &str) -> Option<Timestamp> {
        let (d, t) = s.split_once('T')?;
        let t = t.strip_suffix('Z')?;
        let date = Date::parse(d).ok()?;
        let mut parts = t.split(':');
        let mut next = |max: i64| {
            parts.next().filter(|p| p.len() == 2).and_then(|p| p.parse::<i64>().ok()).filter(|v| (0..=max).contains(v))
        };
        let (h, m, sec) = (next(23)?, next(59)?, next(59)?);
        Some(Timestamp::at_start_of(date).plus(h * HOUR + m * 60 + sec))
    }
}

impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let secs = self.0.rem_euclid(DAY);
        write!(f, "{}T{:02}:{:02}:{:02}Z", self.date(), secs / HOUR, secs % HOUR / 60, secs % 60)
    }
}

impl serde::Serialize for Timestamp {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> serde::Deserialize<'de> for Timestamp {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Timestamp, D::Error> {
        let s = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        Timestamp::parse(&s)
            .ok_or_else(|| serde::de::Error::custom(format!("expected YYYY-MM-DDTHH:MM:SSZ, got {s:?}")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips() {
        let t = Timestamp::parse("2026-11-25T06:07:08Z").unwrap();
        assert_eq!(t.to_string(), "2026-11-25T06:07:08Z");
        assert_eq!(t.date(), Date::parse("2026-11-25").unwrap());
        assert_eq!(Timestamp::parse("2026-11-25T24:00:00Z"), None);
        assert_eq!(Timestamp::parse("2026-11-25 06:07:08"), None);
        assert_eq!(Timestamp(-1).to_string(), "1969-12-31T23:59:59Z");
    }
}

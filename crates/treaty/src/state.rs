//! States, by ISO 3166-1 alpha-2 code.

use std::fmt;

/// A State's ISO 3166-1 alpha-2 code (two capital letters; user-assigned codes such as
/// `AA` or `XZ` are accepted, as test data uses them).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct StateCode([u8; 2]);

impl StateCode {
    /// Parses exactly two capital ASCII letters.
    pub fn parse(s: &str) -> Option<StateCode> {
        match s.as_bytes() {
            [a, b] if a.is_ascii_uppercase() && b.is_ascii_uppercase() => Some(StateCode([*a, *b])),
            _ => None,
        }
    }

    /// The code as a string.
    pub fn as_str(&self) -> &str {
        // Both bytes are ASCII capitals by construction.
        std::str::from_utf8(&self.0).unwrap_or("??")
    }
}

impl fmt::Display for StateCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl serde::Serialize for StateCode {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> serde::Deserialize<'de> for StateCode {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<StateCode, D::Error> {
        let s = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        StateCode::parse(&s).ok_or_else(|| serde::de::Error::custom(format!("not a State code: {s:?}")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes() {
        assert_eq!(StateCode::parse("BB").unwrap().as_str(), "BB");
        for bad in ["", "B", "bb", "BBB", "B1", "ÄB"] {
            assert!(StateCode::parse(bad).is_none(), "{bad}");
        }
    }
}

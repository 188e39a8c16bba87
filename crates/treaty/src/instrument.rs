//! The three instruments, the measures they provide and the categories of data.

use std::fmt;

use crate::articles::{self, Article};

/// An international instrument under which a request is made.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Instrument {
    /// UN Convention against Cybercrime (2024).
    Uncc,
    /// Council of Europe Convention on Cybercrime, ETS 185 (Budapest, 2001).
    Budapest,
    /// Second Additional Protocol to ETS 185, CETS 224 (2022).
    BudapestP2,
}

impl Instrument {
    /// Every instrument, in a fixed order.
    pub const ALL: [Instrument; 3] = [Instrument::Uncc, Instrument::Budapest, Instrument::BudapestP2];

    /// The identifier used in case files and the API.
    pub const fn id(self) -> &'static str {
        match self {
            Instrument::Uncc => "uncc",
            Instrument::Budapest => "budapest",
            Instrument::BudapestP2 => "budapest_p2",
        }
    }

    /// The short name used in citations ("UNCC", "ETS 185", "CETS 224").
    pub const fn short_name(self) -> &'static str {
        match self {
            Instrument::Uncc => "UNCC",
            Instrument::Budapest => "ETS 185",
            Instrument::BudapestP2 => "CETS 224",
        }
    }

    /// The name for a person.
    pub const fn title(self) -> &'static str {
        match self {
            Instrument::Uncc => "the UN Convention against Cybercrime",
            Instrument::Budapest => "the Budapest Convention (ETS 185)",
            Instrument::BudapestP2 => "the Second Additional Protocol to the Budapest Convention (CETS 224)",
        }
    }

    /// Index into per-instrument arrays.
    pub const fn index(self) -> usize {
        self as usize
    }

    /// Parses an identifier.
    pub fn from_id(s: &str) -> Option<Instrument> {
        Instrument::ALL.into_iter().find(|i| i.id() == s)
    }
}

impl fmt::Display for Instrument {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.id())
    }
}

/// What a request asks the requested State to do.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Measure {
    /// Expedited preservation of stored data.
    Preservation,
    /// Expedited disclosure of preserved traffic data.
    TrafficDisclosure,
    /// Mutual legal assistance: search, seizure, disclosure of stored data.
    StoredData,
    /// Mutual legal assistance: real-time collection of traffic data.
    RealtimeTraffic,
    /// Mutual legal assistance: interception of content data.
    Interception,
    /// An order sent directly to a provider for subscriber information.
    SubscriberDirect,
}

impl Measure {
    /// Every measure, in a fixed order.
    pub const ALL: [Measure; 6] = [
        Measure::Preservation,
        Measure::TrafficDisclosure,
        Measure::StoredData,
        Measure::RealtimeTraffic,
        Measure::Interception,
        Measure::SubscriberDirect,
    ];

    /// The identifier used in case files and the API.
    pub const fn id(self) -> &'static str {
        match self {
            Measure::Preservation => "preservation",
            Measure::TrafficDisclosure => "traffic_disclosure",
            Measure::StoredData => "stored_data",
            Measure::RealtimeTraffic => "realtime_traffic",
            Measure::Interception => "interception",
            Measure::SubscriberDirect => "subscriber_direct",
        }
    }

    /// Words for a person.
    pub const fn title(self) -> &'static str {
        match self {
            Measure::Preservation => "expedited preservation of stored data",
            Measure::TrafficDisclosure => "expedited disclosure of preserved traffic data",
            Measure::StoredData => "search, seizure and disclosure of stored data",
            Measure::RealtimeTraffic => "real-time collection of traffic data",
            Measure::Interception => "interception of content data",
            Measure::SubscriberDirect => "an order sent directly to a provider for subscriber information",
        }
    }

    /// Parses an identifier.
    pub fn from_id(s: &str) -> Option<Measure> {
        Measure::ALL.into_iter().find(|m| m.id() == s)
    }

    /// The article of `instrument` that provides this measure, if it does.
    pub const fn article(self, instrument: Instrument) -> Option<&'static Article> {
        use Instrument::*;
        use Measure::*;
        match (instrument, self) {
            (Uncc, Preservation) => Some(&articles::UNCC_42),
            (Uncc, TrafficDisclosure) => Some(&articles::UNCC_43),
            (Uncc, StoredData) => Some(&articles::UNCC_44),
            (Uncc, RealtimeTraffic) => Some(&articles::UNCC_45),
            (Uncc, Interception) => Some(&articles::UNCC_46),
            (Budapest, Preservation) => Some(&articles::ETS_29),
            (Budapest, TrafficDisclosure) => Some(&articles::ETS_30),
            (Budapest, StoredData) => Some(&articles::ETS_31),
            (Budapest, RealtimeTraffic) => Some(&articles::ETS_33),
            (Budapest, Interception) => Some(&articles::ETS_34),
            (BudapestP2, SubscriberDirect) => Some(&articles::CETS_7),
            _ => None,
        }
    }

    /// Whether a State may decline this measure to the extent its law does not permit it
    /// (UNCC 45-46).
    pub const fn may_be_declined(self) -> bool {
        matches!(self, Measure::RealtimeTraffic | Measure::Interception)
    }
}

impl fmt::Display for Measure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.id())
    }
}

/// A category of data (UNCC 2: subscriber information, traffic data, content data).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Category {
    /// Subscriber information.
    Subscriber,
    /// Traffic data.
    Traffic,
    /// Content data.
    Content,
}

impl Category {
    /// Every category, in a fixed order.
    pub const ALL: [Category; 3] = [Category::Subscriber, Category::Traffic, Category::Content];

    /// The identifier used in case files and the API.
    pub const fn id(self) -> &'static str {
        match self {
            Category::Subscriber => "subscriber",
            Category::Traffic => "traffic",
            Category::Content => "content",
        }
    }

    /// Parses an identifier.
    pub fn from_id(s: &str) -> Option<Category> {
        Category::ALL.into_iter().find(|c| c.id() == s)
    }
}

impl fmt::Display for Category {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.id())
    }
}

/// A set of categories (a bit set: order and repetition do not matter).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct CategorySet(u8);

impl CategorySet {
    /// No category.
    pub const EMPTY: CategorySet = CategorySet(0);

    /// Adds a category.
    pub fn insert(&mut self, c: Category) {
        self.0 |= 1 << c as u8;
    }

    /// Whether `c` is in the set.
    pub const fn contains(self, c: Category) -> bool {
        self.0 & (1 << c as u8) != 0
    }

    /// Whether the two sets share a category.
    pub const fn intersects(self, other: CategorySet) -> bool {
        self.0 & other.0 != 0
    }

    /// The categories of `self` that are not in `other`.
    pub const fn minus(self, other: CategorySet) -> CategorySet {
        CategorySet(self.0 & !other.0)
    }

    /// The categories of both sets.
    pub const fn and(self, other: CategorySet) -> CategorySet {
        CategorySet(self.0 & other.0)
    }

    /// Whether the set is empty.
    pub const fn is_empty(self) -> bool {
        self.0 == 0
    }

    /// The categories in their fixed order.
    pub fn iter(self) -> impl Iterator<Item = Category> {
        Category::ALL.into_iter().filter(move |c| self.contains(*c))
    }
}

impl FromIterator<Category> for CategorySet {
    fn from_iter<I: IntoIterator<Item = Category>>(iter: I) -> Self {
        let mut s = CategorySet::EMPTY;
        for c in iter {
            s.insert(c);
        }
        s
    }
}

macro_rules! serde_by_id {
    ($($t:ident),*) => {$(
        impl serde::Serialize for $t {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(self.id())
            }
        }

        impl<'de> serde::Deserialize<'de> for $t {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<$t, D::Error> {
                let s = <std::borrow::Cow<'de, str>>::deserialize(d)?;
                $t::from_id(&s).ok_or_else(|| serde::de::Error::custom(format!("unknown {}: {s:?}", stringify!($t).to_lowercase())))
            }
        }
    )*};
}

serde_by_id!(Instrument, Measure, Category);

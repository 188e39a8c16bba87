//! The conduct vocabulary: what a person is said to have done, as tags. Dual
//! criminality is judged on conduct, not on the name of an offence (UNCC 35(2)).

use std::fmt;

use crate::articles::{self, Article};
use crate::instrument::Instrument;

/// What kind of thing a conduct tag is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ConductClass {
    /// An offence that the Conventions define (UNCC 7-17, ETS 185 2-10).
    ConventionOffence,
    /// Another crime under national law.
    OtherCrime,
    /// The exercise of a human right (UNCC 6(2)).
    Protected,
    /// Good-faith security research without authorisation.
    SecurityResearch,
    /// Security testing with the owner's authorisation: not "without right".
    AuthorizedTesting,
}

macro_rules! conduct {
    ($($variant:ident = $id:literal, $class:ident, uncc: $uncc:expr, ets: $ets:expr;)*) => {
        /// One conduct tag.
        #[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub enum Conduct { $(#[doc = $id] $variant),* }

        impl Conduct {
            /// Every tag, in the order of the vocabulary.
            pub const ALL: &'static [Conduct] = &[$(Conduct::$variant),*];

            /// The tag as written in case files and the API.
            pub const fn id(self) -> &'static str {
                match self { $(Conduct::$variant => $id),* }
            }

            /// What kind of conduct this is.
            pub const fn class(self) -> ConductClass {
                match self { $(Conduct::$variant => ConductClass::$class),* }
            }

            /// The UNCC article that makes this conduct an offence every Party must
            /// criminalize (UNCC 7-17), if any.
            pub const fn uncc_article(self) -> Option<&'static Article> {
                match self { $(Conduct::$variant => $uncc),* }
            }

            /// The ETS 185 article that makes this conduct an offence every Party must
            /// criminalize (ETS 185 2-10), if any.
            pub const fn ets185_article(self) -> Option<&'static Article> {
                match self { $(Conduct::$variant => $ets),* }
            }
        }
    };
}

conduct! {
    IllegalAccess = "illegal_access", ConventionOffence, uncc: Some(&articles::UNCC_7), ets: Some(&articles::ETS_2);
    IllegalInterception = "illegal_interception", ConventionOffence, uncc: Some(&articles::UNCC_8), ets: Some(&articles::ETS_3);
    DataInterference = "data_interference", ConventionOffence, uncc: Some(&articles::UNCC_9), ets: Some(&articles::ETS_4);
    SystemInterference = "system_interference", ConventionOffence, uncc: Some(&articles::UNCC_10), ets: Some(&articles::ETS_5);
    MisuseOfDevices = "misuse_of_devices", ConventionOffence, uncc: Some(&articles::UNCC_11), ets: Some(&articles::ETS_6);
    ComputerForgery = "computer_forgery", ConventionOffence, uncc: Some(&articles::UNCC_12), ets: Some(&articles::ETS_7);
    ComputerFraud = "computer_fraud", ConventionOffence, uncc: Some(&articles::UNCC_13), ets: Some(&articles::ETS_8);
    Csam = "csam", ConventionOffence, uncc: Some(&articles::UNCC_14), ets: Some(&articles::ETS_9);
    Grooming = "grooming", ConventionOffence, uncc: Some(&articles::UNCC_15), ets: None;
    NonconsensualIntimateImages = "nonconsensual_intimate_images", ConventionOffence, uncc: Some(&articles::UNCC_16), ets: None;
    Laundering = "laundering", ConventionOffence, uncc: Some(&articles::UNCC_17), ets: None;
    Fraud = "fraud", OtherCrime, uncc: None, ets: None;
    Theft = "theft", OtherCrime, uncc: None, ets: None;
    Extortion = "extortion", OtherCrime, uncc: None, ets: None;
    DrugTrafficking = "drug_trafficking", OtherCrime, uncc: None, ets: None;
    HumanTrafficking = "human_trafficking", OtherCrime, uncc: None, ets: None;
    Terrorism = "terrorism", OtherCrime, uncc: None, ets: None;
    Homicide = "homicide", OtherCrime, uncc: None, ets: None;
    Corruption = "corruption", OtherCrime, uncc: None, ets: None;
    TaxEvasion = "tax_evasion", OtherCrime, uncc: None, ets: None;
    CopyrightInfringement = "copyright_infringement", ConventionOffence, uncc: None, ets: Some(&articles::ETS_10);
    Defamation = "defamation", OtherCrime, uncc: None, ets: None;
    InsultingOfficials = "insulting_officials", OtherCrime, uncc: None, ets: None;
    Extremism = "extremism", OtherCrime, uncc: None, ets: None;
    Other = "other", OtherCrime, uncc: None, ets: None;
    PoliticalExpression = "political_expression", Protected, uncc: None, ets: None;
    CriticismOfGovernment = "criticism_of_government", Protected, uncc: None, ets: None;
    PeacefulAssembly = "peaceful_assembly", Protected, uncc: None, ets: None;
    Association = "association", Protected, uncc: None, ets: None;
    ReligionOrBelief = "religion_or_belief", Protected, uncc: None, ets: None;
    SexualOrientationOrGenderIdentity = "sexual_orientation_or_gender_identity", Protected, uncc: None, ets: None;
    Journalism = "journalism", Protected, uncc: None, ets: None;
    Blasphemy = "blasphemy", Protected, uncc: None, ets: None;
    SecurityResearch = "security_research", SecurityResearch, uncc: None, ets: None;
    AuthorizedSecurityTesting = "authorized_security_testing", AuthorizedTesting, uncc: None, ets: None;
}

impl Conduct {
    /// Parses a tag.
    pub fn from_id(s: &str) -> Option<Conduct> {
        Conduct::ALL.iter().copied().find(|c| c.id() == s)
    }

    /// The article of `instrument` that makes this conduct a convention offence of that
    /// instrument, if it does. `budapest_p2` supplements ETS 185, so its convention
    /// offences are those of ETS 185.
    pub const fn convention_offence(self, instrument: Instrument) -> Option<&'static Article> {
        match instrument {
            Instrument::Uncc => self.uncc_article(),
            Instrument::Budapest | Instrument::BudapestP2 => self.ets185_article(),
        }
    }

    /// Whether the conduct is protected: the exercise of a human right (UNCC 6(2)).
    pub const fn is_protected(self) -> bool {
        matches!(self.class(), ConductClass::Protected)
    }
}

impl fmt::Display for Conduct {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.id())
    }
}

/// A set of conduct tags (a bit set: order and repetition do not matter).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct ConductSet(u64);

impl ConductSet {
    /// No tag.
    pub const EMPTY: ConductSet = ConductSet(0);

    const fn bit(c: Conduct) -> u64 {
        1 << c as u64
    }

    /// Adds a tag.
    pub fn insert(&mut self, c: Conduct) {
        self.0 |= Self::bit(c);
    }

    /// Whether `c` is in the set.
    pub const fn contains(self, c: Conduct) -> bool {
        self.0 & Self::bit(c) != 0
    }

    /// Whether the two sets share a tag.
    pub const fn intersects(self, other: ConductSet) -> bool {
        self.0 & other.0 != 0
    }

    /// Whether the set is empty.
    pub const fn is_empty(self) -> bool {
        self.0 == 0
    }

    /// The tags in vocabulary order.
    pub fn iter(self) -> impl Iterator<Item = Conduct> {
        Conduct::ALL.iter().copied().filter(move |c| self.contains(*c))
    }

    /// The tags for which `keep` holds.
    pub fn filter(self, keep: impl Fn(Conduct) -> bool) -> ConductSet {
        self.iter().filter(|c| keep(*c)).collect()
    }

    /// The convention offences of `instrument` among these tags.
    pub fn convention_offences(self, instrument: Instrument) -> ConductSet {
        self.filter(|c| c.convention_offence(instrument).is_some())
    }

    /// The tags joined by ", " for a sentence.
    pub fn to_list(self) -> String {
        let mut s = String::new();
        for c in self.iter() {
            if !s.is_empty() {
                s.push_str(", ");
            }
            s.push_str(c.id());
        }
        s
    }
}

impl FromIterator<Conduct> for ConductSet {
    fn from_iter<I: IntoIterator<Item = Conduct>>(iter: I) -> Self {
        let mut s = ConductSet::EMPTY;
        for c in iter {
            s.insert(c);
        }
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vocabulary_as_policy_md_says() {
        assert_eq!(Conduct::ALL.len(), 35);
        let uncc: Vec<_> = Conduct::ALL.iter().filter(|c| c.uncc_article().is_some()).map(|c| c.id()).collect();
        assert_eq!(uncc.len(), 11);
        assert_eq!(uncc[0], "illegal_access");
        assert_eq!(uncc[10], "laundering");
        let ets: Vec<_> = Conduct::ALL.iter().filter(|c| c.ets185_article().is_some()).map(|c| c.id()).collect();
        assert_eq!(ets.len(), 9);
        assert!(ets.contains(&"copyright_infringement"));
        assert!(!ets.contains(&"grooming"));
        assert_eq!(Conduct::ALL.iter().filter(|c| c.is_protected()).count(), 8);
        for c in Conduct::ALL {
            assert_eq!(Conduct::from_id(c.id()), Some(*c));
        }
        assert_eq!(Conduct::from_id("hacking"), None);
        assert_eq!(Conduct::Csam.convention_offence(Instrument::BudapestP2), Some(&articles::ETS_9));
    }
}

//! A State's legal profile: deposits, reservations, the measures it provides, the
//! conduct it criminalizes and its safeguards. The defaults are the safeguards.

use crate::conduct::ConductSet;
use crate::date::Date;
use crate::instrument::{Category, CategorySet, Instrument, Measure};

/// The dates on which a State deposited its instrument of ratification, acceptance,
/// approval or accession, per instrument.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Deposits([Option<Date>; 3]);

impl Deposits {
    /// The deposit for `instrument`, if any.
    pub const fn get(&self, instrument: Instrument) -> Option<Date> {
        self.0[instrument.index()]
    }

    /// Records a deposit.
    pub fn set(&mut self, instrument: Instrument, date: Date) {
        self.0[instrument.index()] = Some(date);
    }
}

/// How the requested State treats dual criminality (`safeguards.dual_criminality`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord)]
pub enum DualCriminality {
    /// Never required.
    NotRequired,
    /// Required, but met whenever a conduct tag is a convention offence of the request's
    /// instrument (every Party must criminalize those).
    RequiredExceptConventionOffences,
    /// Required for every measure except preservation.
    #[default]
    Required,
}

impl DualCriminality {
    /// Every mode, from the least to the most demanding.
    pub const ALL: [DualCriminality; 3] =
        [DualCriminality::NotRequired, DualCriminality::RequiredExceptConventionOffences, DualCriminality::Required];

    /// The identifier used in case files.
    pub const fn id(self) -> &'static str {
        match self {
            DualCriminality::NotRequired => "not_required",
            DualCriminality::RequiredExceptConventionOffences => "required_except_convention_offences",
            DualCriminality::Required => "required",
        }
    }

    /// Parses an identifier.
    pub fn from_id(s: &str) -> Option<DualCriminality> {
        DualCriminality::ALL.into_iter().find(|m| m.id() == s)
    }
}

/// A State's safeguards (`safeguards` in a profile). `Default` gives the safeguards on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Safeguards {
    /// Dual criminality for measures other than preservation.
    pub dual_criminality: DualCriminality,
    /// Categories for which a judicial authorization must be stated.
    pub judicial_authorization: CategorySet,
    /// The longest confidentiality accepted without consultation, in days.
    pub max_confidentiality_days: u64,
    /// The longest real-time collection or interception accepted without consultation.
    pub max_interception_days: u64,
    /// How long data is preserved (never under the 60-day floor of UNCC 42(7)).
    pub preservation_days: u64,
    /// Refuse requests whose conduct is protected (else send them to review).
    pub refuse_protected_conduct: bool,
    /// Refuse requests that ask to undermine security (else send them to review).
    pub refuse_security_undermining: bool,
    /// Consult when the death penalty may be imposed and no assurance was given.
    pub require_death_penalty_assurance: bool,
    /// Send requests about journalists, lawyers and the like to review.
    pub review_sensitive_subjects: bool,
}

/// The preservation floor: at least 60 days (UNCC 42(7), ETS 185 art. 29(7)).
pub const PRESERVATION_FLOOR_DAYS: u64 = 60;

impl Default for Safeguards {
    fn default() -> Self {
        Safeguards {
            dual_criminality: DualCriminality::Required,
            judicial_authorization: [Category::Traffic, Category::Content].into_iter().collect(),
            max_confidentiality_days: 180,
            max_interception_days: 30,
            preservation_days: 90,
            refuse_protected_conduct: true,
            refuse_security_undermining: true,
            require_death_penalty_assurance: true,
            review_sensitive_subjects: true,
        }
    }
}

/// A State's legal profile.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Profile {
    /// The State's name, for people.
    pub name: Option<String>,
    /// Deposits per instrument.
    pub deposits: Deposits,
    /// The reservation of dual criminality for preservation (UNCC 42(4), ETS 185 29(4)).
    pub reserves_preservation_dual_criminality: bool,
    /// Whether the State provides real-time collection of traffic data (UNCC 45).
    pub provides_realtime_traffic: bool,
    /// Whether the State provides interception of content data (UNCC 46).
    pub provides_interception: bool,
    /// Conduct that is a crime under this State's law.
    pub criminalized_conduct: ConductSet,
    /// Safeguards.
    pub safeguards: Safeguards,
}

impl Profile {
    /// A profile with no deposits, nothing criminalized, and the default safeguards and
    /// measures.
    pub fn new() -> Profile {
        Profile { provides_realtime_traffic: true, provides_interception: true, ..Profile::default() }
    }

    /// Whether the State's law permits the measure (UNCC 45-46 let a State decline
    /// real-time collection and interception).
    pub const fn provides(&self, measure: Measure) -> bool {
        match measure {
            Measure::RealtimeTraffic => self.provides_realtime_traffic,
            Measure::Interception => self.provides_interception,
            _ => true,
        }
    }
}

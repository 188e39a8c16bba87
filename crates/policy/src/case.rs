//! A policy case: the States' legal profiles and one request, evaluated on a date
//! (`case.schema.json`). Fields that a request may lack are `Option`s holding what the
//! file said; whether a value counts as stated is the `missing` rule's business.

use std::collections::BTreeMap;

use treaty::{CategorySet, ConductSet, Date, Instrument, Measure, Profile, StateCode};

/// The whole input of a policy decision.
#[derive(Clone, Debug, PartialEq)]
pub struct Case {
    /// The date on which the request is evaluated.
    pub as_of: Date,
    /// Each instrument's general entry into force, where the case file states it.
    pub entry_into_force: [Option<Date>; 3],
    /// The profiled States.
    pub states: BTreeMap<StateCode, Profile>,
    /// The request.
    pub request: Request,
}

impl Case {
    /// The stated general entry into force of `instrument`.
    pub fn stated_entry_into_force(&self, instrument: Instrument) -> Option<Date> {
        self.entry_into_force[instrument.index()]
    }
}

/// The role of the person concerned, for the sensitive-subject safeguard.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum SubjectRole {
    /// A journalist.
    Journalist,
    /// A lawyer.
    Lawyer,
    /// A human rights defender.
    HumanRightsDefender,
    /// A security researcher.
    SecurityResearcher,
    /// A member of parliament.
    Parliamentarian,
    /// A doctor or other medical professional.
    MedicalProfessional,
    /// Anyone else.
    Other,
}

impl SubjectRole {
    /// Every role.
    pub const ALL: [SubjectRole; 7] = [
        SubjectRole::Journalist,
        SubjectRole::Lawyer,
        SubjectRole::HumanRightsDefender,
        SubjectRole::SecurityResearcher,
        SubjectRole::Parliamentarian,
        SubjectRole::MedicalProfessional,
        SubjectRole::Other,
    ];

    /// The identifier used in case files.
    pub const fn id(self) -> &'static str {
        match self {
            SubjectRole::Journalist => "journalist",
            SubjectRole::Lawyer => "lawyer",
            SubjectRole::HumanRightsDefender => "human_rights_defender",
            SubjectRole::SecurityResearcher => "security_researcher",
            SubjectRole::Parliamentarian => "parliamentarian",
            SubjectRole::MedicalProfessional => "medical_professional",
            SubjectRole::Other => "other",
        }
    }

    /// Words for a person.
    pub const fn title(self) -> &'static str {
        match self {
            SubjectRole::Journalist => "journalist",
            SubjectRole::Lawyer => "lawyer",
            SubjectRole::HumanRightsDefender => "human rights defender",
            SubjectRole::SecurityResearcher => "security researcher",
            SubjectRole::Parliamentarian => "member of parliament",
            SubjectRole::MedicalProfessional => "medical professional",
            SubjectRole::Other => "person",
        }
    }

    /// Parses an identifier.
    pub fn from_id(s: &str) -> Option<SubjectRole> {
        SubjectRole::ALL.into_iter().find(|r| r.id() == s)
    }

    /// Whether the role calls for review (UNCC 6, 24): everyone but `other`.
    pub const fn is_sensitive(self) -> bool {
        !matches!(self, SubjectRole::Other)
    }
}

/// The offence, as the requesting State charges it.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Offence {
    /// What happened, in words.
    pub description: Option<String>,
    /// The provision of the requesting State's law.
    pub domestic_provision: Option<String>,
    /// The conduct, as tags (absent when the file gives no `conduct`).
    pub conduct: Option<ConductSet>,
    /// The maximum penalty, in years of deprivation of liberty.
    pub max_penalty_years: Option<f64>,
    /// Whether the death penalty may be imposed.
    pub death_penalty: bool,
}

/// The data asked for.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Data {
    /// Categories of data.
    pub categories: Option<CategorySet>,
    /// Accounts, addresses and other identifiers.
    pub identifiers: Option<Vec<String>>,
    /// Who holds the data.
    pub custodian: Option<String>,
    /// Start of the time range.
    pub from: Option<Date>,
    /// End of the time range.
    pub to: Option<Date>,
}

/// A judicial authorization of the request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct JudicialAuthorization {
    /// The court or judge.
    pub authority: String,
    /// The order's reference.
    pub reference: String,
    /// The order's date.
    pub date: Option<Date>,
}

/// The requested confidentiality of the request.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Confidentiality {
    /// For how many days.
    pub days: Option<u64>,
    /// Without end.
    pub indefinite: bool,
}

/// One request, for one measure.
#[derive(Clone, Debug, PartialEq)]
pub struct Request {
    /// The requesting side's reference.
    pub id: Option<String>,
    /// The instrument invoked.
    pub instrument: Instrument,
    /// The measure asked for.
    pub measure: Measure,
    /// The State asking.
    pub requesting_state: StateCode,
    /// The State asked.
    pub requested_state: StateCode,
    /// The authority making the request.
    pub requesting_authority: Option<String>,
    /// The offence (`None` when the file has no `offence` object).
    pub offence: Option<Offence>,
    /// A summary of the facts.
    pub facts: Option<String>,
    /// The data asked for (`None` when the file has no `data` object).
    pub data: Option<Data>,
    /// How the data relates to the offence.
    pub relationship: Option<String>,
    /// Why preservation is needed.
    pub necessity: Option<String>,
    /// Whether a request for mutual legal assistance will follow the preservation.
    pub intends_mla: Option<bool>,
    /// The earlier preservation request this disclosure follows.
    pub preservation_ref: Option<String>,
    /// For how many days real-time collection or interception is asked.
    pub duration_days: Option<u64>,
    /// The judicial authorization, if any.
    pub judicial_authorization: Option<JudicialAuthorization>,
    /// The requested confidentiality, if any.
    pub confidentiality: Option<Confidentiality>,
    /// The roles of the person concerned.
    pub subject_roles: Vec<SubjectRole>,
    /// Whether the request asks someone to undermine the security of a system.
    pub undermine_security: bool,
    /// Present when the request is made as an emergency (the key `emergency`, even `{}`),
    /// holding its justification if given.
    pub emergency: Option<Option<String>>,
    /// Whether the requesting State assured that the death penalty will not be imposed.
    pub assurance_no_death_penalty: bool,
}

impl Request {
    /// A request with only its required fields.
    pub fn new(
        instrument: Instrument,
        measure: Measure,
        requesting_state: StateCode,
        requested_state: StateCode,
    ) -> Request {
        Request {
            id: None,
            instrument,
            measure,
            requesting_state,
            requested_state,
            requesting_authority: None,
            offence: None,
            facts: None,
            data: None,
            relationship: None,
            necessity: None,
            intends_mla: None,
            preservation_ref: None,
            duration_days: None,
            judicial_authorization: None,
            confidentiality: None,
            subject_roles: Vec::new(),
            undermine_security: false,
            emergency: None,
            assurance_no_death_penalty: false,
        }
    }

    /// The conduct tags, when stated (a non-empty list).
    pub fn conduct(&self) -> Option<ConductSet> {
        self.offence.as_ref().and_then(|o| o.conduct).filter(|c| !c.is_empty())
    }

    /// The data categories, when stated (a non-empty list).
    pub fn categories(&self) -> Option<CategorySet> {
        self.data.as_ref().and_then(|d| d.categories).filter(|c| !c.is_empty())
    }
}

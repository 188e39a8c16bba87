//! The decision: an outcome, the grounds that apply and the conditions attached, each
//! citing the article it rests on.

use std::fmt;

use serde::Serialize;
use treaty::{Citation, Date, StateCode};

/// What happens to a request, from the least to the most severe.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// The request can be executed, under the conditions listed.
    Admissible,
    /// A judge or independent reviewer at the requested State decides.
    Review,
    /// The States consult before refusing or postponing (UNCC 40(27)).
    Consult,
    /// The request lacks something it must state (UNCC 40(15), 42(2)).
    Incomplete,
    /// The request is refused, with reasons (UNCC 40(24)).
    Refused,
}

impl Outcome {
    /// Every outcome, from the least to the most severe.
    pub const ALL: [Outcome; 5] =
        [Outcome::Admissible, Outcome::Review, Outcome::Consult, Outcome::Incomplete, Outcome::Refused];

    /// The identifier used in decisions.
    pub const fn id(self) -> &'static str {
        match self {
            Outcome::Admissible => "admissible",
            Outcome::Review => "review",
            Outcome::Consult => "consult",
            Outcome::Incomplete => "incomplete",
            Outcome::Refused => "refused",
        }
    }

    /// Whether conditions are attached to a decision with this outcome.
    pub const fn carries_conditions(self) -> bool {
        matches!(self, Outcome::Admissible | Outcome::Review)
    }
}

impl fmt::Display for Outcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.id())
    }
}

fn display<T: fmt::Display, S: serde::Serializer>(v: &T, s: S) -> Result<S::Ok, S::Error> {
    s.collect_str(v)
}

fn display_opt<T: fmt::Display, S: serde::Serializer>(v: &Option<T>, s: S) -> Result<S::Ok, S::Error> {
    match v {
        Some(v) => s.collect_str(v),
        None => s.serialize_none(),
    }
}

/// One reason that applies to the request.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Ground {
    /// The rule's code (`no_dual_criminality`).
    pub code: &'static str,
    /// How severe the ground is.
    pub level: Outcome,
    /// The article the rule rests on.
    #[serde(serialize_with = "display")]
    pub article: Citation,
    /// A sentence for a person.
    pub detail: String,
    /// For `missing`: the absent field's path in the request.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field: Option<&'static str>,
    /// For `not_party`: the State that is not bound.
    #[serde(skip_serializing_if = "Option::is_none", serialize_with = "display_opt")]
    pub state: Option<StateCode>,
}

/// A condition attached to an admissible or review decision.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Condition {
    /// The condition's code (`use_limitation`).
    pub code: &'static str,
    /// The article it rests on.
    #[serde(serialize_with = "display")]
    pub article: Citation,
    /// A sentence for a person.
    pub detail: String,
    /// For dated conditions: the last day.
    #[serde(skip_serializing_if = "Option::is_none", serialize_with = "display_opt")]
    pub until: Option<Date>,
}

/// The decision on a request.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Decision {
    /// The most severe level among the grounds (`admissible` when there is none).
    pub outcome: Outcome,
    /// Every ground that applies, most severe first, then in rule-table order.
    pub grounds: Vec<Ground>,
    /// The conditions, on `admissible` and `review` outcomes only.
    pub conditions: Vec<Condition>,
}

impl Decision {
    /// The decision for a person: the outcome, then each ground and condition on its own
    /// line with its article and a sentence.
    pub fn to_text(&self) -> String {
        use fmt::Write as _;
        let mut out = String::new();
        let summary = match self.outcome {
            Outcome::Admissible => "the request can be executed under the conditions below",
            Outcome::Review => "a judge or independent reviewer at the requested State must decide",
            Outcome::Consult => &format!(
                "the States must consult before the request is refused or postponed ({})",
                treaty::articles::UNCC_40_27
            ),
            Outcome::Incomplete => "the request lacks what it must state; answer and resend",
            Outcome::Refused => "the request is refused for the reasons below",
        };
        let _ = writeln!(out, "{}: {summary}", self.outcome.id().to_uppercase());
        for g in &self.grounds {
            let mut code = g.code.to_string();
            if let Some(field) = g.field {
                let _ = write!(code, " {field}");
            }
            if let Some(state) = g.state {
                let _ = write!(code, " {state}");
            }
            let _ = writeln!(out, "  ground     {:<10} {code} [{}]: {}", g.level.id(), g.article, g.detail);
        }
        for c in &self.conditions {
            let until = c.until.map(|u| format!(" until {u}")).unwrap_or_default();
            let _ = writeln!(out, "  condition  {}{until} [{}]: {}", c.code, c.article, c.detail);
        }
        out
    }
}

//! The rule table: every admissibility rule and safeguard of POLICY.md, once each, with
//! its code, level, article and the condition under which it applies. A lawyer reading
//! this file finds each rule in one row; `custodia policy rules` prints this table.
//!
//! Articles come from [`treaty::articles`]; no article number is written here.

use treaty::articles::*;
use treaty::force::{self, Binding, EntryIntoForce, NotBound};
use treaty::{
    Category, CategorySet, Citation, Cite, ConductClass, ConductSet, DualCriminality, Instrument, Measure, Profile,
    Safeguards,
};

use crate::case::{Case, Request};
use crate::decision::{Condition, Ground, Outcome};

/// The UNCC's "serious crime": at least four years' deprivation of liberty (UNCC 2(h)).
pub const SERIOUS_CRIME_YEARS: f64 = 4.0;

/// One rule that yields grounds.
#[derive(Debug)]
pub struct Rule {
    /// The code its grounds carry.
    pub code: &'static str,
    /// How severe its grounds are.
    pub level: Outcome,
    /// What it rests on.
    pub article: Citation,
    /// When it applies, in words.
    pub when: &'static str,
    check: fn(&Rule, &Ctx<'_>, &mut Findings),
}

/// One condition that may be attached to an admissible or review decision.
#[derive(Debug)]
pub struct ConditionRule {
    /// The condition's code.
    pub code: &'static str,
    /// What it rests on.
    pub article: Citation,
    /// When it is attached, in words.
    pub when: &'static str,
    attach: fn(&ConditionRule, &Ctx<'_>) -> Option<Condition>,
}

/// Every rule, in the order of POLICY.md. All are evaluated for every request.
pub const RULES: &[Rule] = &[
    // ---- refused ----
    Rule {
        code: "not_party",
        level: Outcome::Refused,
        article: Citation(&[Cite::range(&UNCC_64, &UNCC_65), Cite::range(&ETS_36, &ETS_37), Cite::one(&CETS_16)]),
        when: "the requesting or the requested State is not bound by the request's instrument on as_of (one ground per State)",
        check: not_party,
    },
    Rule {
        code: "measure_unavailable",
        level: Outcome::Refused,
        article: Citation(&[Cite::range(&UNCC_45, &UNCC_46)]),
        when: "the instrument does not provide the measure, or the requested State's profile declines real-time collection or interception",
        check: measure_unavailable,
    },
    Rule {
        code: "category_not_allowed",
        level: Outcome::Refused,
        article: Citation(&[Cite::one(&CETS_7)]),
        when: "a subscriber_direct order asks for data other than subscriber information (under any instrument)",
        check: category_not_allowed,
    },
    Rule {
        code: "out_of_scope",
        level: Outcome::Refused,
        article: Citation(&[Cite::one(&UNCC_2_H), Cite::one(&UNCC_23_2), Cite::one(&UNCC_35_1)]),
        when: "uncc only: no conduct tag is a UNCC offence and offence.max_penalty_years < 4 (not a serious crime)",
        check: out_of_scope,
    },
    Rule {
        code: "protected_conduct",
        level: Outcome::Refused,
        article: Citation(&[Cite::one(&UNCC_6_2), Cite::one(&UNCC_40_22)]),
        when: "a conduct tag is protected conduct and safeguards.refuse_protected_conduct (default true)",
        check: protected_conduct,
    },
    Rule {
        code: "authorized_testing",
        level: Outcome::Refused,
        article: Citation(&[Cite::range(&UNCC_7, &UNCC_11).note("(\"without right\")")]),
        when: "a conduct tag is authorized_security_testing",
        check: authorized_testing,
    },
    Rule {
        code: "no_dual_criminality",
        level: Outcome::Refused,
        article: Citation(&[Cite::one(&UNCC_35_2)]),
        when: "dual criminality is required (safeguards.dual_criminality; for preservation only with the reservation preservation_dual_criminality) and no conduct tag meets it",
        check: no_dual_criminality,
    },
    Rule {
        code: "security_undermining",
        level: Outcome::Refused,
        article: Citation(&[
            Cite::one(&UNCC_6),
            Cite::one(&UNCC_24),
            Cite::one(&UNCC_40_21).note("(the power at issue: 28(4))"),
        ]),
        when: "technical_assistance.undermine_security and safeguards.refuse_security_undermining (default true)",
        check: security_undermining,
    },
    // ---- incomplete ----
    Rule {
        code: "missing",
        level: Outcome::Incomplete,
        article: Citation(&[Cite::one(&UNCC_40_15), Cite::one(&UNCC_42_2)]),
        when: "a field the request must state is absent: requesting_authority, offence.description, offence.conduct, offence.max_penalty_years, facts, data.categories, data.identifiers, relationship; preservation: necessity, intends_mla = true, data.custodian; traffic_disclosure: preservation_ref; stored_data: data.from, data.to; realtime_traffic, interception: duration_days, judicial_authorization; categories in safeguards.judicial_authorization: judicial_authorization; an emergency: emergency.justification (one ground per field)",
        check: missing,
    },
    // ---- consult ----
    Rule {
        code: "confidentiality_too_long",
        level: Outcome::Consult,
        article: Citation(&[Cite::one(&UNCC_40_20), Cite::one(&UNCC_40_27)]),
        when: "confidentiality.indefinite, or confidentiality.days > safeguards.max_confidentiality_days (default 180)",
        check: confidentiality_too_long,
    },
    Rule {
        code: "duration_too_long",
        level: Outcome::Consult,
        article: Citation(&[Cite::one(&UNCC_24), Cite::one(&UNCC_40_27)]),
        when: "realtime_traffic or interception for duration_days > safeguards.max_interception_days (default 30)",
        check: duration_too_long,
    },
    Rule {
        code: "death_penalty_assurance",
        level: Outcome::Consult,
        article: Citation(&[Cite::one(&UNCC_40_21), Cite::one(&UNCC_40_27)]),
        when: "offence.death_penalty and safeguards.require_death_penalty_assurance (default true) and not assurances.no_death_penalty",
        check: death_penalty_assurance,
    },
    // ---- review ----
    Rule {
        code: "sensitive_subject",
        level: Outcome::Review,
        article: Citation(&[Cite::one(&UNCC_6), Cite::one(&UNCC_24)]),
        when: "subject.roles names a journalist, lawyer, human rights defender, security researcher, parliamentarian or medical professional, and safeguards.review_sensitive_subjects (default true)",
        check: sensitive_subject,
    },
    Rule {
        code: "security_research",
        level: Outcome::Review,
        article: Citation(&[Cite::range(&UNCC_7, &UNCC_11).note("(\"without right\")"), Cite::one(&UNCC_24)]),
        when: "a conduct tag is security_research",
        check: security_research,
    },
    Rule {
        code: "interception",
        level: Outcome::Review,
        article: Citation(&[Cite::one(&UNCC_46), Cite::one(&UNCC_24)]),
        when: "the measure is interception",
        check: interception,
    },
    Rule {
        code: "protected_conduct",
        level: Outcome::Review,
        article: Citation(&[Cite::one(&UNCC_6_2), Cite::one(&UNCC_40_22)]),
        when: "a conduct tag is protected conduct and safeguards.refuse_protected_conduct is false",
        check: protected_conduct,
    },
    Rule {
        code: "security_undermining",
        level: Outcome::Review,
        article: Citation(&[Cite::one(&UNCC_6), Cite::one(&UNCC_24)]),
        when: "technical_assistance.undermine_security and safeguards.refuse_security_undermining is false",
        check: security_undermining,
    },
];

/// Every condition, in the order of POLICY.md.
pub const CONDITIONS: &[ConditionRule] = &[
    ConditionRule {
        code: "use_limitation",
        article: Citation(&[Cite::one(&UNCC_40_19)]),
        when: "always",
        attach: |c, _| {
            Some(condition(c, "Use the data only for the proceedings stated in the request, unless the requested State consents first.".into(), None))
        },
    },
    ConditionRule {
        code: "onward_transfer_consent",
        article: Citation(&[Cite::one(&UNCC_36_3)]),
        when: "always",
        attach: |c, _| {
            Some(condition(c, "Transfer the data to no third State or international organisation without the requested State's prior authorisation.".into(), None))
        },
    },
    ConditionRule {
        code: "confidential_until",
        article: Citation(&[Cite::one(&UNCC_40_20)]),
        when: "confidentiality.days given: until = as_of + days",
        attach: |c, ctx| {
            let days = ctx.req.confidentiality.and_then(|k| k.days)?;
            let until = ctx.case.as_of.add_days_u64(days);
            Some(condition(
                c,
                format!(
                    "The request stays confidential for {days} days, until {until}; then it is revealed and the person concerned is notified where the law provides."
                ),
                Some(until),
            ))
        },
    },
    ConditionRule {
        code: "preserve_until",
        article: Citation(&[Cite::one(&UNCC_42_7), Cite::one(&ETS_29_7)]),
        when: "preservation: until = as_of + max(60, safeguards.preservation_days)",
        attach: |c, ctx| {
            if ctx.req.measure != Measure::Preservation {
                return None;
            }
            let days = ctx.sg.preservation_days.max(treaty::profile::PRESERVATION_FLOOR_DAYS);
            let until = ctx.case.as_of.add_days_u64(days);
            Some(condition(
                c,
                format!(
                    "Preserve the data for {days} days, until {until} (never less than 60 days), while the request for mutual legal assistance follows."
                ),
                Some(until),
            ))
        },
    },
    ConditionRule {
        code: "no_death_penalty",
        article: Citation(&[Cite::one(&UNCC_40_21).note("(assurances as a condition of assistance)")]),
        when: "offence.death_penalty and the assurance assurances.no_death_penalty was given",
        attach: |c, ctx| {
            let dp = ctx.req.offence.as_ref().is_some_and(|o| o.death_penalty);
            (dp && ctx.req.assurance_no_death_penalty).then(|| {
                condition(
                    c,
                    "The death penalty will not be imposed or carried out, as the requesting State assured.".into(),
                    None,
                )
            })
        },
    },
];

fn condition(c: &ConditionRule, detail: String, until: Option<treaty::Date>) -> Condition {
    Condition { code: c.code, article: c.article, detail, until }
}

/// What the rules look at, computed once per evaluation.
#[derive(Debug)]
pub struct Ctx<'a> {
    case: &'a Case,
    req: &'a Request,
    requesting: &'a Profile,
    requested: &'a Profile,
    sg: &'a Safeguards,
    conduct: Option<ConductSet>,
    categories: Option<CategorySet>,
    general: [EntryIntoForce; 3],
}

impl<'a> Ctx<'a> {
    /// The context for `case`; a State the case does not profile is treated as having no
    /// deposits and the default profile.
    pub fn new(case: &'a Case, unprofiled: &'a Profile) -> Ctx<'a> {
        let req = &case.request;
        let requesting = case.states.get(&req.requesting_state).unwrap_or(unprofiled);
        let requested = case.states.get(&req.requested_state).unwrap_or(unprofiled);
        let general = Instrument::ALL.map(|i| {
            force::entry_into_force(
                i,
                case.stated_entry_into_force(i),
                case.states.values().filter_map(|p| p.deposits.get(i)),
            )
        });
        Ctx {
            case,
            req,
            requesting,
            requested,
            sg: &requested.safeguards,
            conduct: req.conduct(),
            categories: req.categories(),
            general,
        }
    }
}

/// The grounds found so far: each code once, except `not_party` (once per State) and
/// `missing` (once per field).
#[derive(Debug, Default)]
pub struct Findings {
    grounds: Vec<Ground>,
}

impl Findings {
    fn push(&mut self, rule: &Rule, detail: String) {
        if !self.grounds.iter().any(|g| g.code == rule.code) {
            self.grounds.push(Ground {
                code: rule.code,
                level: rule.level,
                article: rule.article,
                detail,
                field: None,
                state: None,
            });
        }
    }

    fn push_state(&mut self, rule: &Rule, state: treaty::StateCode, detail: String) {
        if !self.grounds.iter().any(|g| g.code == rule.code && g.state == Some(state)) {
            self.grounds.push(Ground {
                code: rule.code,
                level: rule.level,
                article: rule.article,
                detail,
                field: None,
                state: Some(state),
            });
        }
    }

    fn push_field(&mut self, rule: &Rule, field: &'static str, detail: String) {
        if !self.grounds.iter().any(|g| g.code == rule.code && g.field == Some(field)) {
            self.grounds.push(Ground {
                code: rule.code,
                level: rule.level,
                article: rule.article,
                detail,
                field: Some(field),
                state: None,
            });
        }
    }
}

/// Runs every rule, then attaches the conditions where the outcome allows them.
pub fn run(ctx: &Ctx<'_>) -> (Outcome, Vec<Ground>, Vec<Condition>) {
    let mut findings = Findings::default();
    for rule in RULES {
        (rule.check)(rule, ctx, &mut findings);
    }
    let mut grounds = findings.grounds;
    // Most severe first; the sort is stable, so rule-table order is kept within a level.
    grounds.sort_by_key(|g| std::cmp::Reverse(g.level));
    let outcome = grounds.iter().map(|g| g.level).max().unwrap_or(Outcome::Admissible);
    let conditions = if outcome.carries_conditions() {
        CONDITIONS.iter().filter_map(|c| (c.attach)(c, ctx)).collect()
    } else {
        Vec::new()
    };
    (outcome, grounds, conditions)
}

// ---- the checks, one per rule ----

fn not_bound_reason(why: NotBound, on: treaty::Date) -> String {
    match why {
        NotBound::NoDeposit => {
            "it has deposited no instrument of ratification, acceptance, approval or accession".into()
        }
        NotBound::NotInForce { deposits, needed } => {
            format!(
                "the instrument is not in force on {on} (the case lists {deposits} deposits; entry into force needs {needed})"
            )
        }
        NotBound::NotYet { from } => format!("it is bound only from {from}"),
    }
}

fn not_party(rule: &Rule, ctx: &Ctx<'_>, out: &mut Findings) {
    let (instrument, on) = (ctx.req.instrument, ctx.case.as_of);
    for (state, profile) in [(ctx.req.requesting_state, ctx.requesting), (ctx.req.requested_state, ctx.requested)] {
        let why = match force::binding(instrument, &ctx.general, &profile.deposits, on) {
            Binding::Bound { .. } => continue,
            Binding::NotBound(why) => not_bound_reason(why, on),
            Binding::NotBoundByBudapest(why) => {
                format!(
                    "it is not bound by the Budapest Convention, which the Protocol supplements: {}",
                    not_bound_reason(why, on)
                )
            }
        };
        out.push_state(rule, state, format!("{state} is not bound by {} on {on}: {why}.", instrument.title()));
    }
}

fn measure_unavailable(rule: &Rule, ctx: &Ctx<'_>, out: &mut Findings) {
    let (m, i) = (ctx.req.measure, ctx.req.instrument);
    if m.article(i).is_none() {
        out.push(rule, format!("{} does not provide {} ({}).", capitalize(i.title()), m.title(), m.id()));
    } else if !ctx.requested.provides(m) {
        out.push(
            rule,
            format!(
                "{}'s law does not permit {} ({}), and a State may decline it to that extent.",
                ctx.req.requested_state,
                m.title(),
                m.id()
            ),
        );
    }
}

fn category_not_allowed(rule: &Rule, ctx: &Ctx<'_>, out: &mut Findings) {
    if ctx.req.measure != Measure::SubscriberDirect {
        return;
    }
    let Some(categories) = ctx.categories else {
        return;
    };
    let others = categories.minus([Category::Subscriber].into_iter().collect());
    if !others.is_empty() {
        let list: Vec<_> = others.iter().map(Category::id).collect();
        out.push(
            rule,
            format!(
                "An order sent directly to a provider may ask for subscriber information only, not {} data.",
                list.join(" or ")
            ),
        );
    }
}

fn out_of_scope(rule: &Rule, ctx: &Ctx<'_>, out: &mut Findings) {
    if ctx.req.instrument != Instrument::Uncc {
        return;
    }
    let (Some(conduct), Some(years)) = (ctx.conduct, ctx.req.offence.as_ref().and_then(|o| o.max_penalty_years)) else {
        return;
    };
    if conduct.convention_offences(Instrument::Uncc).is_empty() && years < SERIOUS_CRIME_YEARS {
        const OFFENCES: Citation = Citation(&[Cite::range(&UNCC_7, &UNCC_17)]);
        let unit = if years == 1.0 { "year" } else { "years" };
        out.push(
            rule,
            format!(
                "No conduct ({}) is an offence under {OFFENCES}, and a maximum penalty of {years} {unit} is not a serious crime (at least {SERIOUS_CRIME_YEARS} years, {UNCC_2_H}).",
                conduct.to_list()
            ),
        );
    }
}

fn protected_conduct(rule: &Rule, ctx: &Ctx<'_>, out: &mut Findings) {
    let refuse = ctx.sg.refuse_protected_conduct;
    if (rule.level == Outcome::Refused) != refuse {
        return;
    }
    let Some(conduct) = ctx.conduct else { return };
    let protected = conduct.filter(|c| c.is_protected());
    if !protected.is_empty() {
        let then = if refuse {
            "the requested State refuses such requests"
        } else {
            "the requested State sends such requests to independent review"
        };
        out.push(
            rule,
            format!("The conduct includes the exercise of a human right ({}); {then}.", protected.to_list()),
        );
    }
}

fn authorized_testing(rule: &Rule, ctx: &Ctx<'_>, out: &mut Findings) {
    if ctx.conduct.is_some_and(|c| c.iter().any(|c| c.class() == ConductClass::AuthorizedTesting)) {
        const OFFENCES: Citation = Citation(&[Cite::range(&UNCC_7, &UNCC_11)]);
        out.push(
            rule,
            format!("Security testing with the owner's authorisation is not done \"without right\", so it is no offence under {OFFENCES}."),
        );
    }
}

fn no_dual_criminality(rule: &Rule, ctx: &Ctx<'_>, out: &mut Findings) {
    let Some(conduct) = ctx.conduct else { return };
    let (state, instrument) = (ctx.req.requested_state, ctx.req.instrument);
    let criminal = conduct.intersects(ctx.requested.criminalized_conduct);
    let convention = !conduct.convention_offences(instrument).is_empty();
    let (required, met, basis) = if ctx.req.measure == Measure::Preservation {
        let reserved = ctx.requested.reserves_preservation_dual_criminality;
        (
            reserved,
            criminal || convention,
            format!(
                "{state} reserved dual criminality for preservation ({}), except for convention offences",
                if instrument == Instrument::Uncc { &UNCC_42_4 } else { &ETS_29_4 }
            ),
        )
    } else {
        match ctx.sg.dual_criminality {
            DualCriminality::NotRequired => (false, true, String::new()),
            DualCriminality::Required => (true, criminal, format!("{state} requires dual criminality")),
            DualCriminality::RequiredExceptConventionOffences => (
                true,
                criminal || convention,
                format!("{state} requires dual criminality except for convention offences of {}", instrument.title()),
            ),
        }
    };
    if required && !met {
        out.push(rule, format!("{basis}, and none of the conduct ({}) is a crime under its law.", conduct.to_list()));
    }
}

fn security_undermining(rule: &Rule, ctx: &Ctx<'_>, out: &mut Findings) {
    let refuse = ctx.sg.refuse_security_undermining;
    if ctx.req.undermine_security && (rule.level == Outcome::Refused) == refuse {
        let then = if refuse {
            "the requested State refuses to compel anyone to do so"
        } else {
            "the requested State sends this to independent review"
        };
        out.push(rule, format!("The request asks that the security of a system be undermined ({UNCC_28_4}); {then}."));
    }
}

fn blank(s: Option<&str>) -> bool {
    s.is_none_or(|s| s.trim().is_empty())
}

fn missing(rule: &Rule, ctx: &Ctx<'_>, out: &mut Findings) {
    let r = ctx.req;
    let offence = r.offence.as_ref();
    let data = r.data.as_ref();
    let mut absent = |field: &'static str, is_absent: bool, what: &str| {
        if is_absent {
            out.push_field(rule, field, format!("The request does not state {what} ({field})."));
        }
    };
    absent("requesting_authority", blank(r.requesting_authority.as_deref()), "the authority making it");
    absent(
        "offence.description",
        blank(offence.and_then(|o| o.description.as_deref())),
        "a description of the offence",
    );
    absent("offence.conduct", ctx.conduct.is_none(), "the conduct, on which dual criminality and scope are judged");
    absent("offence.max_penalty_years", offence.and_then(|o| o.max_penalty_years).is_none(), "the maximum penalty");
    absent("facts", blank(r.facts.as_deref()), "a summary of the relevant facts");
    absent("data.categories", ctx.categories.is_none(), "the categories of data sought");
    absent(
        "data.identifiers",
        data.and_then(|d| d.identifiers.as_ref()).is_none_or(Vec::is_empty),
        "the accounts or other identifiers of the data sought",
    );
    absent("relationship", blank(r.relationship.as_deref()), "how the data relates to the offence");
    match r.measure {
        Measure::Preservation => {
            absent("necessity", blank(r.necessity.as_deref()), "why preservation is necessary");
            absent(
                "intends_mla",
                r.intends_mla != Some(true),
                "that a request for mutual legal assistance will follow",
            );
            absent("data.custodian", blank(data.and_then(|d| d.custodian.as_deref())), "who holds the data");
        }
        Measure::TrafficDisclosure => absent(
            "preservation_ref",
            blank(r.preservation_ref.as_deref()),
            "the preservation request this disclosure follows",
        ),
        Measure::StoredData => {
            absent(
                "data.from",
                data.and_then(|d| d.from).is_none(),
                "the start of the time range (a request for stored data must be bounded in time)",
            );
            absent(
                "data.to",
                data.and_then(|d| d.to).is_none(),
                "the end of the time range (a request for stored data must be bounded in time)",
            );
        }
        Measure::RealtimeTraffic | Measure::Interception => {
            absent("duration_days", r.duration_days.is_none(), "for how many days the measure is asked");
            absent(
                "judicial_authorization",
                r.judicial_authorization.is_none(),
                "the judicial authorization that real-time collection and interception need",
            );
        }
        Measure::SubscriberDirect => {}
    }
    if let Some(needing) = ctx.categories.map(|c| c.and(ctx.sg.judicial_authorization)).filter(|c| !c.is_empty()) {
        let list: Vec<_> = needing.iter().map(Category::id).collect();
        absent(
            "judicial_authorization",
            r.judicial_authorization.is_none(),
            &format!(
                "a judicial authorization, which {} requires for {} data",
                ctx.req.requested_state,
                list.join(" and ")
            ),
        );
    }
    if let Some(justification) = &r.emergency {
        absent("emergency.justification", blank(justification.as_deref()), "why the request is an emergency");
    }
}

fn confidentiality_too_long(rule: &Rule, ctx: &Ctx<'_>, out: &mut Findings) {
    let Some(c) = ctx.req.confidentiality else {
        return;
    };
    let max = ctx.sg.max_confidentiality_days;
    if c.indefinite {
        out.push(rule, format!("Confidentiality without end is asked; {} accepts at most {max} days, so the States consult on an expiry.", ctx.req.requested_state));
    } else if let Some(days) = c.days.filter(|d| *d > max) {
        out.push(
            rule,
            format!(
                "Confidentiality for {days} days is asked; {} accepts at most {max} days without consultation.",
                ctx.req.requested_state
            ),
        );
    }
}

fn duration_too_long(rule: &Rule, ctx: &Ctx<'_>, out: &mut Findings) {
    if !ctx.req.measure.may_be_declined() {
        return;
    }
    let max = ctx.sg.max_interception_days;
    if let Some(days) = ctx.req.duration_days.filter(|d| *d > max) {
        out.push(
            rule,
            format!(
                "{} for {days} days is asked; {} accepts at most {max} days without consultation.",
                capitalize(ctx.req.measure.title()),
                ctx.req.requested_state
            ),
        );
    }
}

fn death_penalty_assurance(rule: &Rule, ctx: &Ctx<'_>, out: &mut Findings) {
    let dp = ctx.req.offence.as_ref().is_some_and(|o| o.death_penalty);
    if dp && ctx.sg.require_death_penalty_assurance && !ctx.req.assurance_no_death_penalty {
        out.push(rule, "The offence carries the death penalty and the requesting State gave no assurance that it will not be imposed or carried out.".into());
    }
}

fn sensitive_subject(rule: &Rule, ctx: &Ctx<'_>, out: &mut Findings) {
    if !ctx.sg.review_sensitive_subjects {
        return;
    }
    let mut roles: Vec<_> = ctx.req.subject_roles.iter().filter(|r| r.is_sensitive()).collect();
    roles.sort_unstable();
    roles.dedup();
    let roles: Vec<_> = roles.into_iter().map(|r| r.title()).collect();
    if !roles.is_empty() {
        out.push(
            rule,
            format!(
                "The person concerned is a {}: a judge or independent reviewer weighs the request first.",
                roles.join(" and a ")
            ),
        );
    }
}

fn security_research(rule: &Rule, ctx: &Ctx<'_>, out: &mut Findings) {
    if ctx.conduct.is_some_and(|c| c.iter().any(|c| c.class() == ConductClass::SecurityResearch)) {
        out.push(rule, "The conduct includes security research, which may not be done \"without right\": an independent reviewer decides.".into());
    }
}

fn interception(rule: &Rule, ctx: &Ctx<'_>, out: &mut Findings) {
    if ctx.req.measure == Measure::Interception {
        out.push(
            rule,
            "Interception of content data is the most intrusive measure: a judge at the requested State reviews it."
                .into(),
        );
    }
}

fn capitalize(s: &str) -> String {
    let mut c = s.chars();
    c.next().map(|f| f.to_uppercase().chain(c).collect()).unwrap_or_default()
}

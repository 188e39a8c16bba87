//! Reading a case file (`case.schema.json`) into a [`Case`], with every problem reported
//! at its JSON path. Anything the schema rejects is a problem, and so are a request
//! naming a State that the file does not profile, a requesting State equal to the
//! requested State, and `data.from` after `data.to` (POLICY.md).

use std::borrow::Cow;
use std::collections::BTreeMap;

use treaty::{
    Category, CategorySet, Conduct, ConductSet, Date, DateError, Deposits, DualCriminality, Instrument, Measure,
    Profile, Safeguards, StateCode,
};

use crate::case::{Case, Confidentiality, Data, JudicialAuthorization, Offence, Request, SubjectRole};
use crate::json::{self, Path, Problem, Value};

/// Problems beyond this many are summarised in one last line.
pub const MAX_PROBLEMS: usize = 100;

/// Reads and validates a case file. On failure, every problem found, in document order.
pub fn parse_case(input: &[u8]) -> Result<Case, Vec<Problem>> {
    let value = json::parse(input).map_err(|p| vec![p])?;
    let mut v = Validator { problems: Vec::new() };
    let case = v.case(&value);
    match case {
        Some(case) if v.problems.is_empty() => Ok(case),
        _ => {
            let mut problems = v.problems;
            if problems.is_empty() {
                // Defensive: a case that did not decode always has a problem recorded.
                problems.push(Problem::new(&Path::ROOT, "not a valid case file"));
            }
            if problems.len() > MAX_PROBLEMS {
                let more = problems.len() - MAX_PROBLEMS;
                problems.truncate(MAX_PROBLEMS);
                problems.push(Problem { path: "(root)".into(), message: format!("... and {more} more problems") });
            }
            Err(problems)
        }
    }
}

type Members<'v, 'a> = &'v [(Cow<'a, str>, Value<'a>)];

struct Validator {
    problems: Vec<Problem>,
}

const CASE_KEYS: &[&str] = &["as_of", "instruments", "states", "request"];
const INSTRUMENT_KEYS: &[&str] = &["entry_into_force"];
const PROFILE_KEYS: &[&str] = &["name", "deposits", "reservations", "measures", "criminalized_conduct", "safeguards"];
const MEASURES_KEYS: &[&str] = &["realtime_traffic", "interception"];
const SAFEGUARD_KEYS: &[&str] = &[
    "dual_criminality",
    "judicial_authorization",
    "max_confidentiality_days",
    "max_interception_days",
    "preservation_days",
    "refuse_protected_conduct",
    "refuse_security_undermining",
    "require_death_penalty_assurance",
    "review_sensitive_subjects",
];
const REQUEST_KEYS: &[&str] = &[
    "id",
    "instrument",
    "measure",
    "requesting_state",
    "requested_state",
    "requesting_authority",
    "offence",
    "facts",
    "data",
    "relationship",
    "necessity",
    "intends_mla",
    "preservation_ref",
    "duration_days",
    "judicial_authorization",
    "confidentiality",
    "subject",
    "technical_assistance",
    "emergency",
    "assurances",
];
const OFFENCE_KEYS: &[&str] = &["description", "domestic_provision", "conduct", "max_penalty_years", "death_penalty"];
const DATA_KEYS: &[&str] = &["categories", "identifiers", "custodian", "from", "to"];
const AUTHORIZATION_KEYS: &[&str] = &["authority", "reference", "date"];
const CONFIDENTIALITY_KEYS: &[&str] = &["days", "indefinite"];

impl Validator {
    fn problem(&mut self, path: &Path<'_>, message: impl Into<String>) {
        self.problems.push(Problem::new(path, message));
    }

    fn object<'v, 'a>(&mut self, v: &'v Value<'a>, path: &Path<'_>) -> Option<Members<'v, 'a>> {
        match v {
            Value::Object(m) => Some(m),
            _ => {
                self.problem(path, "expected an object");
                None
            }
        }
    }

    fn array<'v, 'a>(&mut self, v: &'v Value<'a>, path: &Path<'_>) -> Option<&'v [Value<'a>]> {
        match v {
            Value::Array(items) => Some(items),
            _ => {
                self.problem(path, "expected an array");
                None
            }
        }
    }

    fn string(&mut self, v: &Value<'_>, path: &Path<'_>) -> Option<String> {
        match v {
            Value::String(s) => Some(s.to_string()),
            _ => {
                self.problem(path, "expected a string");
                None
            }
        }
    }

    /// A string of at least one character (`minLength: 1`).
    fn non_empty_string(&mut self, v: &Value<'_>, path: &Path<'_>) -> Option<String> {
        let s = self.string(v, path)?;
        if s.is_empty() {
            self.problem(path, "must not be empty (at least 1 character)");
            return None;
        }
        Some(s)
    }

    fn boolean(&mut self, v: &Value<'_>, path: &Path<'_>) -> Option<bool> {
        match v {
            Value::Bool(b) => Some(*b),
            _ => {
                self.problem(path, "expected a boolean");
                None
            }
        }
    }

    fn number(&mut self, v: &Value<'_>, path: &Path<'_>, minimum: f64) -> Option<f64> {
        let Value::Number(n) = v else {
            self.problem(path, "expected a number");
            return None;
        };
        if !n.value.is_finite() {
            self.problem(path, format!("number {} does not fit a finite 64-bit float", n.text));
            return None;
        }
        if n.value < minimum {
            self.problem(path, format!("must be at least {minimum}"));
            return None;
        }
        Some(n.value)
    }

    /// An integer in the sense of JSON Schema: a number with no fractional part (so
    /// `30.0` and `3e1` are 30). Values past `u64::MAX` saturate.
    fn integer(&mut self, v: &Value<'_>, path: &Path<'_>, minimum: u64) -> Option<u64> {
        let Value::Number(n) = v else {
            self.problem(path, "expected an integer");
            return None;
        };
        if !n.value.is_finite() {
            self.problem(path, format!("number {} does not fit a finite 64-bit float", n.text));
            return None;
        }
        if n.value.fract() != 0.0 {
            self.problem(path, "expected an integer");
            return None;
        }
        if n.value < minimum as f64 {
            self.problem(path, format!("must be at least {minimum}"));
            return None;
        }
        // `as` saturates for values above u64::MAX.
        Some(n.value as u64)
    }

    fn date(&mut self, v: &Value<'_>, path: &Path<'_>) -> Option<Date> {
        let Value::String(s) = v else {
            self.problem(path, "expected a date YYYY-MM-DD");
            return None;
        };
        match Date::parse(s) {
            Ok(d) => Some(d),
            Err(DateError::Shape) => {
                self.problem(path, format!("expected a date YYYY-MM-DD, got \"{}\"", s.escape_debug()));
                None
            }
            Err(e) => {
                self.problem(path, format!("\"{}\" is not a calendar date: {e}", s.escape_debug()));
                None
            }
        }
    }

    fn state_code(&mut self, v: &Value<'_>, path: &Path<'_>) -> Option<StateCode> {
        let s = self.string(v, path)?;
        let code = StateCode::parse(&s);
        if code.is_none() {
            self.problem(
                path,
                format!(
                    "\"{}\" is not a State code: expected two capital letters (ISO 3166-1 alpha-2)",
                    s.escape_debug()
                ),
            );
        }
        code
    }

    fn enumerated<T>(
        &mut self,
        v: &Value<'_>,
        path: &Path<'_>,
        what: &str,
        from_id: fn(&str) -> Option<T>,
    ) -> Option<T> {
        let Value::String(s) = v else {
            self.problem(path, "expected a string");
            return None;
        };
        let found = from_id(s);
        if found.is_none() {
            self.problem(path, format!("unknown {what} \"{}\"", s.escape_debug()));
        }
        found
    }

    /// An array of enumerated strings; `unique` reports repeated items (`uniqueItems`).
    fn enum_array<T: PartialEq + Copy>(
        &mut self,
        v: &Value<'_>,
        path: &Path<'_>,
        what: &str,
        unique: bool,
        from_id: fn(&str) -> Option<T>,
    ) -> Option<Vec<T>> {
        let items = self.array(v, path)?;
        let mut out = Vec::with_capacity(items.len());
        let mut ok = true;
        for (i, item) in items.iter().enumerate() {
            let p = path.index(i);
            match self.enumerated(item, &p, what, from_id) {
                Some(t) if unique && out.contains(&t) => {
                    ok = false;
                    let Value::String(s) = item else { continue };
                    self.problem(&p, format!("duplicate item \"{}\" (items must be unique)", s.escape_debug()));
                }
                Some(t) => out.push(t),
                None => ok = false,
            }
        }
        ok.then_some(out)
    }

    fn unknown_key(&mut self, path: &Path<'_>, allowed: &[&str]) {
        self.problem(path, format!("unknown key (allowed here: {})", allowed.join(", ")));
    }

    fn require(&mut self, path: &Path<'_>, members: Members<'_, '_>, required: &[&str]) -> bool {
        let mut all = true;
        for key in required {
            if !members.iter().any(|(k, _)| k == key) {
                self.problem(&path.key(key), "required key is missing");
                all = false;
            }
        }
        all
    }

    fn case(&mut self, v: &Value<'_>) -> Option<Case> {
        let root = Path::ROOT;
        let members = self.object(v, &root)?;
        let (mut as_of, mut entry_into_force, mut states, mut request) = (None, [None; 3], None, None);
        let mut instruments_ok = true;
        for (k, v) in members {
            let p = root.key(k);
            match k.as_ref() {
                "as_of" => as_of = self.date(v, &p),
                "instruments" => instruments_ok = self.instruments(v, &p, &mut entry_into_force),
                "states" => states = self.states(v, &p),
                "request" => request = self.request(v, &p),
                _ => self.unknown_key(&p, CASE_KEYS),
            }
        }
        self.require(&root, members, &["as_of", "states", "request"]);
        // The cross-field rules are checked on what the file says even when other
        // problems were found, so that every problem is reported at once.
        let ok = self.cross_checks(members);
        let (as_of, states, request) = (as_of?, states?, request?);
        if !instruments_ok || !ok {
            return None;
        }
        Some(Case { as_of, entry_into_force, states, request })
    }

    /// POLICY.md's rules beyond the schema: both States profiled, requesting and
    /// requested differ, `data.from` not after `data.to`. Reads the raw request, so they
    /// are reported alongside any schema problem.
    fn cross_checks(&mut self, members: Members<'_, '_>) -> bool {
        let member = |name: &str| members.iter().find(|(k, _)| k == name).map(|(_, v)| v);
        let Some(Value::Object(req)) = member("request") else {
            return true;
        };
        // The States the file profiles, by their keys: a State whose profile has other
        // problems is still profiled, and one the file does not name is reported too
        // (an empty `states` is its own problem, reported once).
        let states = match member("states") {
            Some(Value::Object(states)) if !states.is_empty() => Some(states),
            _ => None,
        };
        let field = |name: &str| req.iter().find(|(k, _)| k == name).map(|(_, v)| v);
        let code = |name: &str| match field(name) {
            Some(Value::String(s)) => StateCode::parse(s),
            _ => None,
        };
        let mut ok = true;
        let req_path = Path::ROOT.key("request");
        let (from_state, to_state) = (code("requesting_state"), code("requested_state"));
        for (key, code) in [("requesting_state", from_state), ("requested_state", to_state)] {
            if let (Some(code), Some(states)) = (code, states)
                && !states.iter().any(|(k, _)| StateCode::parse(k) == Some(code))
            {
                self.problem(&req_path.key(key), format!("State \"{code}\" has no profile in states"));
                ok = false;
            }
        }
        if let (Some(a), Some(b)) = (from_state, to_state)
            && a == b
        {
            self.problem(
                &req_path.key("requested_state"),
                format!("must differ from request.requesting_state (both are \"{b}\")"),
            );
            ok = false;
        }
        if let Some(Value::Object(data)) = field("data") {
            let date = |name: &str| match data.iter().find(|(k, _)| k == name).map(|(_, v)| v) {
                Some(Value::String(s)) => treaty::Date::parse(s).ok(),
                _ => None,
            };
            if let (Some(from), Some(to)) = (date("from"), date("to"))
                && from > to
            {
                self.problem(&req_path.key("data").key("from"), format!("{from} is after request.data.to ({to})"));
                ok = false;
            }
        }
        ok
    }

    fn instruments(&mut self, v: &Value<'_>, path: &Path<'_>, out: &mut [Option<Date>; 3]) -> bool {
        let Some(members) = self.object(v, path) else {
            return false;
        };
        let before = self.problems.len();
        for (k, v) in members {
            let p = path.key(k);
            match Instrument::from_id(k) {
                Some(instrument) => {
                    let Some(inner) = self.object(v, &p) else {
                        continue;
                    };
                    for (ik, iv) in inner {
                        let ip = p.key(ik);
                        match ik.as_ref() {
                            "entry_into_force" => out[instrument.index()] = self.date(iv, &ip),
                            _ => self.unknown_key(&ip, INSTRUMENT_KEYS),
                        }
                    }
                }
                None => self.unknown_key(&p, &["uncc", "budapest", "budapest_p2"]),
            }
        }
        self.problems.len() == before
    }

    fn states(&mut self, v: &Value<'_>, path: &Path<'_>) -> Option<BTreeMap<StateCode, Profile>> {
        let members = self.object(v, path)?;
        if members.is_empty() {
            self.problem(path, "at least one State must be profiled");
            return None;
        }
        let mut out = BTreeMap::new();
        let mut ok = true;
        for (k, v) in members {
            let p = path.key(k);
            let Some(code) = StateCode::parse(k) else {
                self.problem(&p, "a State code must be two capital letters (ISO 3166-1 alpha-2)");
                ok = false;
                continue;
            };
            match self.profile(v, &p) {
                Some(profile) => {
                    out.insert(code, profile);
                }
                None => ok = false,
            }
        }
        ok.then_some(out)
    }

    fn profile(&mut self, v: &Value<'_>, path: &Path<'_>) -> Option<Profile> {
        let members = self.object(v, path)?;
        let before = self.problems.len();
        let mut profile = Profile::new();
        for (k, v) in members {
            let p = path.key(k);
            match k.as_ref() {
                "name" => profile.name = self.string(v, &p),
                "deposits" => {
                    let Some(deposits) = self.object(v, &p) else {
                        continue;
                    };
                    let mut out = Deposits::default();
                    for (dk, dv) in deposits {
                        let dp = p.key(dk);
                        match Instrument::from_id(dk) {
                            Some(i) => {
                                if let Some(d) = self.date(dv, &dp) {
                                    out.set(i, d);
                                }
                            }
                            None => self.unknown_key(&dp, &["uncc", "budapest", "budapest_p2"]),
                        }
                    }
                    profile.deposits = out;
                }
                "reservations" => {
                    let r = self.enum_array(v, &p, "reservation", true, |s| {
                        (s == "preservation_dual_criminality").then_some(())
                    });
                    profile.reserves_preservation_dual_criminality = r.is_some_and(|r| !r.is_empty());
                }
                "measures" => {
                    let Some(measures) = self.object(v, &p) else {
                        continue;
                    };
                    for (mk, mv) in measures {
                        let mp = p.key(mk);
                        match mk.as_ref() {
                            "realtime_traffic" => {
                                profile.provides_realtime_traffic = self.boolean(mv, &mp).unwrap_or(true)
                            }
                            "interception" => profile.provides_interception = self.boolean(mv, &mp).unwrap_or(true),
                            _ => self.unknown_key(&mp, MEASURES_KEYS),
                        }
                    }
                }
                "criminalized_conduct" => {
                    if let Some(c) = self.enum_array(v, &p, "conduct", true, Conduct::from_id) {
                        profile.criminalized_conduct = c.into_iter().collect::<ConductSet>();
                    }
                }
                "safeguards" => {
                    if let Some(s) = self.safeguards(v, &p) {
                        profile.safeguards = s;
                    }
                }
                _ => self.unknown_key(&p, PROFILE_KEYS),
            }
        }
        (self.problems.len() == before).then_some(profile)
    }

    fn safeguards(&mut self, v: &Value<'_>, path: &Path<'_>) -> Option<Safeguards> {
        let members = self.object(v, path)?;
        let mut s = Safeguards::default();
        for (k, v) in members {
            let p = path.key(k);
            match k.as_ref() {
                "dual_criminality" => {
                    if let Some(m) = self.enumerated(v, &p, "dual criminality rule", DualCriminality::from_id) {
                        s.dual_criminality = m;
                    }
                }
                "judicial_authorization" => {
                    if let Some(c) = self.enum_array(v, &p, "category", false, Category::from_id) {
                        s.judicial_authorization = c.into_iter().collect::<CategorySet>();
                    }
                }
                "max_confidentiality_days" => {
                    s.max_confidentiality_days = self.integer(v, &p, 0).unwrap_or(s.max_confidentiality_days)
                }
                "max_interception_days" => {
                    s.max_interception_days = self.integer(v, &p, 1).unwrap_or(s.max_interception_days)
                }
                "preservation_days" => {
                    s.preservation_days =
                        self.integer(v, &p, treaty::profile::PRESERVATION_FLOOR_DAYS).unwrap_or(s.preservation_days)
                }
                "refuse_protected_conduct" => s.refuse_protected_conduct = self.boolean(v, &p).unwrap_or(true),
                "refuse_security_undermining" => s.refuse_security_undermining = self.boolean(v, &p).unwrap_or(true),
                "require_death_penalty_assurance" => {
                    s.require_death_penalty_assurance = self.boolean(v, &p).unwrap_or(true)
                }
                "review_sensitive_subjects" => s.review_sensitive_subjects = self.boolean(v, &p).unwrap_or(true),
                _ => self.unknown_key(&p, SAFEGUARD_KEYS),
            }
        }
        Some(s)
    }

    fn request(&mut self, v: &Value<'_>, path: &Path<'_>) -> Option<Request> {
        let members = self.object(v, path)?;
        let before = self.problems.len();
        let (mut instrument, mut measure, mut requesting, mut requested) = (None, None, None, None);
        let mut r =
            Request::new(Instrument::Uncc, Measure::Preservation, StateCode::parse("AA")?, StateCode::parse("BB")?);
        for (k, v) in members {
            let p = path.key(k);
            match k.as_ref() {
                "id" => r.id = self.string(v, &p),
                "instrument" => instrument = self.enumerated(v, &p, "instrument", Instrument::from_id),
                "measure" => measure = self.enumerated(v, &p, "measure", Measure::from_id),
                "requesting_state" => requesting = self.state_code(v, &p),
                "requested_state" => requested = self.state_code(v, &p),
                "requesting_authority" => r.requesting_authority = self.string(v, &p),
                "offence" => r.offence = self.offence(v, &p),
                "facts" => r.facts = self.string(v, &p),
                "data" => r.data = self.data(v, &p),
                "relationship" => r.relationship = self.string(v, &p),
                "necessity" => r.necessity = self.string(v, &p),
                "intends_mla" => r.intends_mla = self.boolean(v, &p),
                "preservation_ref" => r.preservation_ref = self.string(v, &p),
                "duration_days" => r.duration_days = self.integer(v, &p, 1),
                "judicial_authorization" => r.judicial_authorization = self.judicial_authorization(v, &p),
                "confidentiality" => {
                    let Some(m) = self.object(v, &p) else {
                        continue;
                    };
                    let mut c = Confidentiality::default();
                    for (ck, cv) in m {
                        let cp = p.key(ck);
                        match ck.as_ref() {
                            "days" => c.days = self.integer(cv, &cp, 1),
                            "indefinite" => c.indefinite = self.boolean(cv, &cp).unwrap_or(false),
                            _ => self.unknown_key(&cp, CONFIDENTIALITY_KEYS),
                        }
                    }
                    r.confidentiality = Some(c);
                }
                "subject" => {
                    let Some(m) = self.object(v, &p) else {
                        continue;
                    };
                    for (sk, sv) in m {
                        let sp = p.key(sk);
                        match sk.as_ref() {
                            "roles" => {
                                r.subject_roles =
                                    self.enum_array(sv, &sp, "role", true, SubjectRole::from_id).unwrap_or_default()
                            }
                            _ => self.unknown_key(&sp, &["roles"]),
                        }
                    }
                }
                "technical_assistance" => {
                    let Some(m) = self.object(v, &p) else {
                        continue;
                    };
                    for (tk, tv) in m {
                        let tp = p.key(tk);
                        match tk.as_ref() {
                            "undermine_security" => r.undermine_security = self.boolean(tv, &tp).unwrap_or(false),
                            _ => self.unknown_key(&tp, &["undermine_security"]),
                        }
                    }
                }
                "emergency" => {
                    let Some(m) = self.object(v, &p) else {
                        continue;
                    };
                    let mut justification = None;
                    for (ek, ev) in m {
                        let ep = p.key(ek);
                        match ek.as_ref() {
                            "justification" => justification = self.string(ev, &ep),
                            _ => self.unknown_key(&ep, &["justification"]),
                        }
                    }
                    r.emergency = Some(justification);
                }
                "assurances" => {
                    let Some(m) = self.object(v, &p) else {
                        continue;
                    };
                    for (ak, av) in m {
                        let ap = p.key(ak);
                        match ak.as_ref() {
                            "no_death_penalty" => r.assurance_no_death_penalty = self.boolean(av, &ap).unwrap_or(false),
                            _ => self.unknown_key(&ap, &["no_death_penalty"]),
                        }
                    }
                }
                _ => self.unknown_key(&p, REQUEST_KEYS),
            }
        }
        self.require(path, members, &["instrument", "measure", "requesting_state", "requested_state"]);
        if self.problems.len() != before {
            return None;
        }
        r.instrument = instrument?;
        r.measure = measure?;
        r.requesting_state = requesting?;
        r.requested_state = requested?;
        Some(r)
    }

    fn offence(&mut self, v: &Value<'_>, path: &Path<'_>) -> Option<Offence> {
        let members = self.object(v, path)?;
        let mut o = Offence::default();
        for (k, v) in members {
            let p = path.key(k);
            match k.as_ref() {
                "description" => o.description = self.string(v, &p),
                "domestic_provision" => o.domestic_provision = self.string(v, &p),
                "conduct" => {
                    o.conduct =
                        self.enum_array(v, &p, "conduct", true, Conduct::from_id).map(|c| c.into_iter().collect())
                }
                "max_penalty_years" => o.max_penalty_years = self.number(v, &p, 0.0),
                "death_penalty" => o.death_penalty = self.boolean(v, &p).unwrap_or(false),
                _ => self.unknown_key(&p, OFFENCE_KEYS),
            }
        }
        Some(o)
    }

    fn data(&mut self, v: &Value<'_>, path: &Path<'_>) -> Option<Data> {
        let members = self.object(v, path)?;
        let mut d = Data::default();
        for (k, v) in members {
            let p = path.key(k);
            match k.as_ref() {
                "categories" => {
                    d.categories =
                        self.enum_array(v, &p, "category", true, Category::from_id).map(|c| c.into_iter().collect())
                }
                "identifiers" => {
                    let Some(items) = self.array(v, &p) else {
                        continue;
                    };
                    let mut out = Vec::with_capacity(items.len());
                    for (i, item) in items.iter().enumerate() {
                        if let Some(s) = self.string(item, &p.index(i)) {
                            out.push(s);
                        }
                    }
                    d.identifiers = Some(out);
                }
                "custodian" => d.custodian = self.string(v, &p),
                "from" => d.from = self.date(v, &p),
                "to" => d.to = self.date(v, &p),
                _ => self.unknown_key(&p, DATA_KEYS),
            }
        }
        Some(d)
    }

    fn judicial_authorization(&mut self, v: &Value<'_>, path: &Path<'_>) -> Option<JudicialAuthorization> {
        let members = self.object(v, path)?;
        let (mut authority, mut reference, mut date) = (None, None, None);
        for (k, v) in members {
            let p = path.key(k);
            match k.as_ref() {
                "authority" => authority = self.non_empty_string(v, &p),
                "reference" => reference = self.non_empty_string(v, &p),
                "date" => date = self.date(v, &p),
                _ => self.unknown_key(&p, AUTHORIZATION_KEYS),
            }
        }
        self.require(path, members, &["authority", "reference"]);
        Some(JudicialAuthorization { authority: authority?, reference: reference?, date })
    }
}

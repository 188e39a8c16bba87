//! Property tests over generated schema-valid cases (POLICY.md and issue 3):
//! never panics; the outcome is the most severe ground's level; turning any safeguard on
//! never makes the outcome less severe; adding a missing field never adds a `missing`
//! ground; the decision does not depend on the order of keys or of array items.

use policy::{Decision, Outcome, evaluate, parse_case};
use proptest::prelude::*;
use serde_json::{Map, Value, json};
use treaty::{Category, Conduct, DualCriminality};

/// A small deterministic generator: each case comes from one seed, so a failing seed
/// reproduces the case exactly.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        // splitmix64
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
    fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }
    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len() as u64) as usize]
    }
    fn date(&mut self, from_year: i64, years: u64) -> String {
        let d = treaty::Date::from_ymd(from_year, 1, 1).unwrap().add_days(self.below(years * 365) as i64);
        d.to_string()
    }
    fn subset<T: Copy>(&mut self, items: &[T], percent: u64) -> Vec<T> {
        items.iter().copied().filter(|_| self.chance(percent)).collect()
    }
    fn text(&mut self) -> Value {
        json!(*self.pick(&["Office of the Prosecutor General", "", "   ", "x", "Ünïcode \u{2014} text"]))
    }
}

const STATES: [&str; 5] = ["AA", "BB", "CC", "DD", "EE"];
const INSTRUMENTS: [&str; 3] = ["uncc", "budapest", "budapest_p2"];
const MEASURES: [&str; 6] =
    ["preservation", "traffic_disclosure", "stored_data", "realtime_traffic", "interception", "subscriber_direct"];
const ROLES: [&str; 7] = [
    "journalist",
    "lawyer",
    "human_rights_defender",
    "security_researcher",
    "parliamentarian",
    "medical_professional",
    "other",
];

fn conduct_ids() -> Vec<&'static str> {
    Conduct::ALL.iter().map(|c| c.id()).collect()
}

fn category_ids() -> Vec<&'static str> {
    Category::ALL.iter().map(|c| c.id()).collect()
}

fn profile(r: &mut Rng) -> Value {
    let mut p = Map::new();
    if r.chance(50) {
        p.insert("name".into(), json!("Some State"));
    }
    let mut deposits = Map::new();
    for i in INSTRUMENTS {
        if r.chance(75) {
            deposits.insert(i.into(), json!(r.date(2015, 12)));
        }
    }
    p.insert("deposits".into(), Value::Object(deposits));
    if r.chance(30) {
        p.insert(
            "reservations".into(),
            json!(if r.chance(50) { vec!["preservation_dual_criminality"] } else { vec![] }),
        );
    }
    if r.chance(30) {
        let mut m = Map::new();
        for k in ["realtime_traffic", "interception"] {
            if r.chance(60) {
                m.insert(k.into(), json!(r.chance(50)));
            }
        }
        p.insert("measures".into(), Value::Object(m));
    }
    if r.chance(90) {
        let c = conduct_ids();
        p.insert("criminalized_conduct".into(), json!(r.subset(&c, 60)));
    }
    if r.chance(60) {
        let mut s = Map::new();
        if r.chance(50) {
            s.insert("dual_criminality".into(), json!(r.pick(&DualCriminality::ALL).id()));
        }
        if r.chance(40) {
            s.insert("judicial_authorization".into(), json!(r.subset(&category_ids(), 50)));
        }
        for (k, min) in [("max_confidentiality_days", 0), ("max_interception_days", 1), ("preservation_days", 60)] {
            if r.chance(40) {
                s.insert(k.into(), json!(min + r.below(400)));
            }
        }
        for k in [
            "refuse_protected_conduct",
            "refuse_security_undermining",
            "require_death_penalty_assurance",
            "review_sensitive_subjects",
        ] {
            if r.chance(40) {
                s.insert(k.into(), json!(r.chance(50)));
            }
        }
        p.insert("safeguards".into(), Value::Object(s));
    }
    Value::Object(p)
}

fn request(r: &mut Rng, states: &[&str]) -> Value {
    let mut q = Map::new();
    let a = r.below(states.len() as u64) as usize;
    let b = (a + 1 + r.below(states.len() as u64 - 1) as usize) % states.len();
    q.insert("instrument".into(), json!(r.pick(&INSTRUMENTS)));
    q.insert("measure".into(), json!(r.pick(&MEASURES)));
    q.insert("requesting_state".into(), json!(states[a]));
    q.insert("requested_state".into(), json!(states[b]));
    if r.chance(30) {
        q.insert("id".into(), json!("REQ-1"));
    }
    for k in ["requesting_authority", "facts", "relationship", "necessity", "preservation_ref"] {
        if r.chance(70) {
            q.insert(k.into(), r.text());
        }
    }
    if r.chance(85) {
        let mut o = Map::new();
        if r.chance(80) {
            o.insert("description".into(), r.text());
        }
        if r.chance(30) {
            o.insert("domestic_provision".into(), json!("s. 1"));
        }
        if r.chance(85) {
            let c = conduct_ids();
            let mut tags = r.subset(&c, 8);
            if tags.is_empty() && r.chance(70) {
                tags.push(*r.pick(&c));
            }
            o.insert("conduct".into(), json!(tags));
        }
        if r.chance(85) {
            let y = if r.chance(50) { r.below(12) as f64 } else { r.below(800) as f64 / 100.0 };
            o.insert("max_penalty_years".into(), json!(y));
        }
        if r.chance(30) {
            o.insert("death_penalty".into(), json!(r.chance(60)));
        }
        q.insert("offence".into(), Value::Object(o));
    }
    if r.chance(85) {
        let mut d = Map::new();
        if r.chance(85) {
            d.insert("categories".into(), json!(r.subset(&category_ids(), 50)));
        }
        if r.chance(80) {
            let ids: Vec<&str> = (0..r.below(3)).map(|i| if i == 0 { "a@example.org" } else { "" }).collect();
            d.insert("identifiers".into(), json!(ids));
        }
        if r.chance(70) {
            d.insert("custodian".into(), r.text());
        }
        let from = r.date(2024, 2);
        if r.chance(75) {
            d.insert("from".into(), json!(from.clone()));
        }
        if r.chance(75) {
            let to = treaty::Date::parse(&from).unwrap().add_days(r.below(200) as i64);
            d.insert("to".into(), json!(to.to_string()));
        }
        q.insert("data".into(), Value::Object(d));
    }
    if r.chance(60) {
        q.insert("intends_mla".into(), json!(r.chance(70)));
    }
    if r.chance(50) {
        q.insert("duration_days".into(), json!(1 + r.below(60)));
    }
    if r.chance(60) {
        let mut j = Map::new();
        j.insert("authority".into(), json!("Investigating judge"));
        j.insert("reference".into(), json!("IJ-1"));
        if r.chance(50) {
            j.insert("date".into(), json!(r.date(2025, 2)));
        }
        q.insert("judicial_authorization".into(), Value::Object(j));
    }
    if r.chance(40) {
        let mut c = Map::new();
        if r.chance(70) {
            c.insert("days".into(), json!(1 + r.below(400)));
        }
        if r.chance(30) {
            c.insert("indefinite".into(), json!(r.chance(50)));
        }
        q.insert("confidentiality".into(), Value::Object(c));
    }
    if r.chance(30) {
        q.insert("subject".into(), json!({ "roles": r.subset(&ROLES, 30) }));
    }
    if r.chance(20) {
        q.insert("technical_assistance".into(), json!({ "undermine_security": r.chance(60) }));
    }
    if r.chance(20) {
        q.insert("emergency".into(), if r.chance(50) { json!({}) } else { json!({ "justification": r.text() }) });
    }
    if r.chance(20) {
        q.insert("assurances".into(), json!({ "no_death_penalty": r.chance(50) }));
    }
    Value::Object(q)
}

fn generate(seed: u64) -> Value {
    let mut r = Rng(seed);
    let n = 2 + r.below(4) as usize;
    let states = &STATES[..n];
    let mut s = Map::new();
    for code in states {
        s.insert((*code).into(), profile(&mut r));
    }
    let mut case = Map::new();
    case.insert("as_of".into(), json!(r.date(2024, 5)));
    if r.chance(80) {
        let mut i = Map::new();
        for id in INSTRUMENTS {
            if r.chance(60) {
                i.insert(id.into(), json!({ "entry_into_force": r.date(2023, 4) }));
            }
        }
        case.insert("instruments".into(), Value::Object(i));
    }
    case.insert("states".into(), Value::Object(s));
    case.insert("request".into(), request(&mut r, states));
    Value::Object(case)
}

/// The same document with every object's keys and every array's items in another order.
fn permute(v: &Value, r: &mut Rng) -> Value {
    match v {
        Value::Object(m) => {
            let mut entries: Vec<(String, Value)> = m.iter().map(|(k, v)| (k.clone(), permute(v, r))).collect();
            for i in (1..entries.len()).rev() {
                entries.swap(i, r.below(i as u64 + 1) as usize);
            }
            Value::Object(entries.into_iter().collect())
        }
        Value::Array(items) => {
            let mut items: Vec<Value> = items.iter().map(|v| permute(v, r)).collect();
            for i in (1..items.len()).rev() {
                items.swap(i, r.below(i as u64 + 1) as usize);
            }
            Value::Array(items)
        }
        other => other.clone(),
    }
}

fn decide(v: &Value) -> (policy::Case, Decision) {
    let bytes = serde_json::to_vec_pretty(v).unwrap();
    let case = parse_case(&bytes)
        .unwrap_or_else(|p| panic!("a generated case was rejected: {p:?}\n{}", String::from_utf8_lossy(&bytes)));
    let d = evaluate(&case);
    (case, d)
}

fn missing_fields(d: &Decision) -> Vec<&'static str> {
    d.grounds.iter().filter(|g| g.code == "missing").filter_map(|g| g.field).collect()
}

fn check_invariants(d: &Decision) -> Result<(), TestCaseError> {
    let max = d.grounds.iter().map(|g| g.level).max().unwrap_or(Outcome::Admissible);
    prop_assert_eq!(d.outcome, max, "the outcome is the most severe ground's level");
    if !d.outcome.carries_conditions() {
        prop_assert!(d.conditions.is_empty(), "conditions only on admissible and review");
    } else {
        prop_assert!(d.conditions.iter().any(|c| c.code == "use_limitation"));
    }
    for (i, g) in d.grounds.iter().enumerate() {
        prop_assert!(!g.article.to_string().is_empty());
        prop_assert_ne!(g.level, Outcome::Admissible);
        for h in &d.grounds[i + 1..] {
            prop_assert!(!(g.code == h.code && g.field == h.field && g.state == h.state), "{} listed twice", g.code);
            if g.code == h.code {
                prop_assert!(g.code == "missing" || g.code == "not_party", "{} listed twice", g.code);
            }
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]

    #[test]
    fn decisions_keep_their_invariants(seed in any::<u64>()) {
        let (_, d) = decide(&generate(seed));
        check_invariants(&d)?;
    }

    #[test]
    fn order_of_keys_and_items_does_not_matter(seed in any::<u64>(), shuffle in any::<u64>()) {
        let v = generate(seed);
        let (_, a) = decide(&v);
        let (_, b) = decide(&permute(&v, &mut Rng(shuffle)));
        prop_assert_eq!(a, b);
    }

    #[test]
    fn turning_a_safeguard_on_never_lowers_the_outcome(seed in any::<u64>(), which in 0usize..11) {
        let (case, before) = decide(&generate(seed));
        let mut stricter = case.clone();
        let code = stricter.request.requested_state;
        let p = stricter.states.get_mut(&code).unwrap();
        let s = &mut p.safeguards;
        match which {
            0 => s.refuse_protected_conduct = true,
            1 => s.refuse_security_undermining = true,
            2 => s.require_death_penalty_assurance = true,
            3 => s.review_sensitive_subjects = true,
            4 => s.dual_criminality = DualCriminality::Required,
            5 => if s.dual_criminality == DualCriminality::NotRequired { s.dual_criminality = DualCriminality::RequiredExceptConventionOffences },
            6 => s.judicial_authorization = Category::ALL.into_iter().collect(),
            7 => s.max_confidentiality_days /= 2,
            8 => s.max_interception_days = (s.max_interception_days / 2).max(1),
            9 => p.reserves_preservation_dual_criminality = true,
            _ => { p.provides_interception = false; p.provides_realtime_traffic = false; }
        }
        let after = evaluate(&stricter);
        check_invariants(&after)?;
        prop_assert!(after.outcome >= before.outcome, "safeguard {}: {} became {}", which, before.outcome, after.outcome);
    }

    #[test]
    fn adding_a_missing_field_never_adds_a_missing_ground(seed in any::<u64>(), pick in any::<usize>(), cats in 1u8..8) {
        let (case, before) = decide(&generate(seed));
        let fields = missing_fields(&before);
        prop_assume!(!fields.is_empty());
        let field = fields[pick % fields.len()];
        let mut filled = case.clone();
        let as_of = filled.as_of;
        let r = &mut filled.request;
        let text = || Some("stated".to_string());
        let categories: treaty::CategorySet = Category::ALL.into_iter().enumerate().filter(|(i, _)| cats & (1 << i) != 0).map(|(_, c)| c).collect();
        match field {
            "requesting_authority" => r.requesting_authority = text(),
            "facts" => r.facts = text(),
            "relationship" => r.relationship = text(),
            "necessity" => r.necessity = text(),
            "preservation_ref" => r.preservation_ref = text(),
            "intends_mla" => r.intends_mla = Some(true),
            "duration_days" => r.duration_days = Some(10),
            "judicial_authorization" => r.judicial_authorization = Some(policy::case::JudicialAuthorization { authority: "Court".into(), reference: "1".into(), date: None }),
            "emergency.justification" => r.emergency = Some(text()),
            "offence.description" => r.offence.get_or_insert_with(Default::default).description = text(),
            "offence.conduct" => r.offence.get_or_insert_with(Default::default).conduct = Some([Conduct::ComputerFraud].into_iter().collect()),
            "offence.max_penalty_years" => r.offence.get_or_insert_with(Default::default).max_penalty_years = Some(5.0),
            "data.categories" => r.data.get_or_insert_with(Default::default).categories = Some(categories),
            "data.identifiers" => r.data.get_or_insert_with(Default::default).identifiers = Some(vec!["x@example.org".into()]),
            "data.custodian" => r.data.get_or_insert_with(Default::default).custodian = text(),
            "data.from" => { let d = r.data.get_or_insert_with(Default::default); d.from = Some(d.to.unwrap_or(as_of)); }
            "data.to" => { let d = r.data.get_or_insert_with(Default::default); d.to = Some(d.from.unwrap_or(as_of)); }
            other => return Err(TestCaseError::fail(format!("the test does not know how to fill {other}"))),
        }
        let after = evaluate(&filled);
        let was = missing_fields(&before);
        let now = missing_fields(&after);
        prop_assert!(!now.contains(&field), "{} still missing after it was added", field);
        for f in &now {
            if was.contains(f) {
                continue;
            }
            // POLICY.md: categories that meet safeguards.judicial_authorization call for a
            // judicial authorization; absent categories could not. That is the one field
            // whose value (not only its presence) creates a requirement.
            let requested = &filled.states[&filled.request.requested_state];
            let meets = categories.intersects(requested.safeguards.judicial_authorization);
            prop_assert!(field == "data.categories" && *f == "judicial_authorization" && meets, "adding {} added missing {}", field, f);
        }
    }

    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
        if let Ok(case) = parse_case(&bytes) {
            check_invariants(&evaluate(&case))?;
        }
    }

    #[test]
    fn mutated_cases_never_panic(seed in any::<u64>(), edits in proptest::collection::vec((any::<usize>(), any::<u8>()), 1..8)) {
        let mut bytes = serde_json::to_vec(&generate(seed)).unwrap();
        for (at, b) in edits {
            let i = at % bytes.len();
            bytes[i] = b;
        }
        match parse_case(&bytes) {
            Ok(case) => check_invariants(&evaluate(&case))?,
            Err(problems) => {
                prop_assert!(!problems.is_empty());
                for p in problems {
                    prop_assert!(!p.path.is_empty() && !p.message.is_empty());
                }
            }
        }
    }
}

//! Parse any bytes as a case file; when they are a case, decide it and check the
//! decision's invariants. Seed with the sample cases:
//! `cargo fuzz run --fuzz-dir crates/policy/fuzz -s none parse_evaluate crates/policy/fuzz/corpus crates/cli/tests/cases/policy`
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    match policy::parse_case(data) {
        Ok(case) => {
            let d = policy::evaluate(&case);
            let max = d.grounds.iter().map(|g| g.level).max().unwrap_or(policy::Outcome::Admissible);
            assert_eq!(d.outcome, max);
            assert!(d.outcome.carries_conditions() || d.conditions.is_empty());
            let _ = d.to_text();
        }
        Err(problems) => {
            assert!(!problems.is_empty());
            assert!(problems.iter().all(|p| !p.path.is_empty() && !p.message.is_empty()));
        }
    }
});

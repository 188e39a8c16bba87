//! `custodia policy check` and `custodia policy rules` as a user runs them.

use std::collections::BTreeSet;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use assert_cmd::cargo::CommandCargoExt;
use serde_json::Value;

fn custodia() -> Command {
    Command::cargo_bin("custodia").expect("the custodia binary is built")
}

fn cases_dir(kind: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/cases").join(kind)
}

fn files_ending(dir: &Path, suffix: &str) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.file_name().unwrap().to_str().unwrap().ends_with(suffix))
        .collect();
    v.sort();
    v
}

type Key = (String, Option<String>, Option<String>);

fn grounds(v: &Value) -> BTreeSet<Key> {
    let s = |g: &Value, k: &str| g.get(k).and_then(Value::as_str).map(str::to_owned);
    v["grounds"].as_array().unwrap().iter().map(|g| (s(g, "code").unwrap(), s(g, "field"), s(g, "state"))).collect()
}

fn conditions(v: &Value) -> BTreeSet<(String, Option<String>)> {
    let s = |g: &Value, k: &str| g.get(k).and_then(Value::as_str).map(str::to_owned);
    v["conditions"].as_array().unwrap().iter().map(|c| (s(c, "code").unwrap(), s(c, "until"))).collect()
}

/// Every sample case (copied from the design's samples) and every case of our own
/// (boundaries, every rule): outcome, set of grounds (code, field, state) and set of
/// conditions (code, until) equal the expected file.
#[test]
fn cases_decide_as_expected() {
    let dir = cases_dir("policy");
    let cases = files_ending(&dir, ".case.json");
    assert!(cases.len() >= 70, "expected the 24 samples and our own cases, found {}", cases.len());
    let mut failures = Vec::new();
    for case in &cases {
        let name = case.file_name().unwrap().to_str().unwrap().trim_end_matches(".case.json").to_owned();
        let expected: Value =
            serde_json::from_slice(&std::fs::read(dir.join(format!("{name}.expected.json"))).unwrap()).unwrap();
        let out = custodia().args(["policy", "check"]).arg(case).output().unwrap();
        assert!(out.status.success(), "{name}: exit {:?}: {}", out.status, String::from_utf8_lossy(&out.stderr));
        assert!(out.stderr.is_empty(), "{name}: unexpected stderr");
        let got: Value = serde_json::from_slice(&out.stdout).unwrap();
        for g in got["grounds"].as_array().unwrap() {
            assert!(g["article"].as_str().is_some_and(|a| !a.is_empty()), "{name}: a ground without an article");
            assert!(g["detail"].as_str().is_some_and(|d| d.len() > 10), "{name}: a ground without a sentence");
        }
        for c in got["conditions"].as_array().unwrap() {
            assert!(c["article"].as_str().is_some_and(|a| !a.is_empty()), "{name}: a condition without an article");
        }
        if got["outcome"] != expected["outcome"]
            || grounds(&got) != grounds(&expected)
            || conditions(&got) != conditions(&expected)
        {
            failures.push(format!(
                "{name}:\n  expected {} {:?} {:?}\n  got      {} {:?} {:?}",
                expected["outcome"],
                grounds(&expected),
                conditions(&expected),
                got["outcome"],
                grounds(&got),
                conditions(&got)
            ));
        }
    }
    assert!(failures.is_empty(), "{} of {} cases differ:\n{}", failures.len(), cases.len(), failures.join("\n"));
}

/// Each malformed file exits 2, prints nothing on stdout, and prints exactly the
/// expected lines (one per problem, each naming its JSON path) on stderr.
#[test]
fn invalid_input_exits_2_naming_the_path() {
    let dir = cases_dir("invalid");
    let files = files_ending(&dir, ".json");
    assert!(files.len() >= 20, "at least 20 malformed files, found {}", files.len());
    for file in files {
        let expected = std::fs::read_to_string(file.with_extension("expected")).unwrap();
        let out = custodia().args(["policy", "check"]).arg(&file).output().unwrap();
        let name = file.display();
        assert_eq!(out.status.code(), Some(2), "{name}: exit status; stderr: {}", String::from_utf8_lossy(&out.stderr));
        assert!(out.stdout.is_empty(), "{name}: a partial decision on stdout");
        assert_eq!(String::from_utf8_lossy(&out.stderr), expected, "{name}: stderr");
    }
}

#[test]
fn reads_standard_input() {
    let case = std::fs::read(cases_dir("policy").join("refused-out-of-scope-petty-offence.case.json")).unwrap();
    let mut child = custodia()
        .args(["policy", "check", "-", "--format", "text"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(&case).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    let mut lines = text.lines();
    assert!(lines.next().unwrap().starts_with("REFUSED: "), "{text}");
    let ground = lines.next().unwrap();
    assert!(
        ground.contains("out_of_scope")
            && ground.contains("[UNCC 2(h), 23(2), 35(1)]")
            && ground.contains("serious crime"),
        "{ground}"
    );
}

/// A 100 MB file is refused by its size before it is read; a 100 MB stream on standard
/// input is refused after the limit, without holding it whole.
#[test]
fn a_100_mb_input_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("big.case.json");
    let f = std::fs::File::create(&path).unwrap();
    f.set_len(100 * 1024 * 1024).unwrap();
    let out = custodia().args(["policy", "check"]).arg(&path).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(out.stdout.is_empty());
    assert_eq!(
        String::from_utf8_lossy(&out.stderr),
        "(root): input is 104857600 bytes, more than the limit of 8388608 bytes for a case file\n"
    );

    let mut child = custodia()
        .args(["policy", "check", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let writer = std::thread::spawn(move || {
        let chunk = vec![b' '; 1 << 20];
        for _ in 0..100 {
            if stdin.write_all(&chunk).is_err() {
                break; // the reader stopped at its limit
            }
        }
    });
    let out = child.wait_with_output().unwrap();
    writer.join().unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(out.stdout.is_empty());
    assert!(
        String::from_utf8_lossy(&out.stderr).starts_with("(root): input is 8388609 bytes, more than the limit"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn a_missing_file_exits_2() {
    let out = custodia().args(["policy", "check", "/nonexistent/case.json"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).starts_with("(root): cannot open /nonexistent/case.json: "));
}

/// docs/policy-rules.md is the output of `custodia policy rules`, so the documentation
/// cannot drift from the rules. Regenerate with:
/// `cargo run -q -- policy rules > docs/policy-rules.md`.
#[test]
fn docs_policy_rules_is_the_rule_table() {
    let out = custodia().args(["policy", "rules"]).output().unwrap();
    assert!(out.status.success());
    let doc = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/policy-rules.md");
    let on_disk = std::fs::read_to_string(&doc).unwrap_or_default();
    assert_eq!(
        on_disk,
        String::from_utf8(out.stdout).unwrap(),
        "docs/policy-rules.md is stale: run `cargo run -q -- policy rules > docs/policy-rules.md`"
    );
}

/// A ground's sentence cites the request's own instrument and reads as English: the
/// preservation reservation under Budapest is ETS 185 art. 29(4), not UNCC 42(4); one
/// year is "1 year"; a Protocol State without Budapest says why in a full clause.
#[test]
fn details_cite_the_requests_instrument() {
    let detail = |case: &str, edit: &dyn Fn(&mut Value), code: &str| -> String {
        let mut v: Value =
            serde_json::from_slice(&std::fs::read(cases_dir("policy").join(format!("{case}.case.json"))).unwrap())
                .unwrap();
        edit(&mut v);
        let mut child =
            custodia().args(["policy", "check", "-"]).stdin(Stdio::piped()).stdout(Stdio::piped()).spawn().unwrap();
        child.stdin.take().unwrap().write_all(&serde_json::to_vec(&v).unwrap()).unwrap();
        let out = child.wait_with_output().unwrap();
        assert!(out.status.success(), "{case}");
        let got: Value = serde_json::from_slice(&out.stdout).unwrap();
        let ground = got["grounds"].as_array().unwrap().iter().find(|g| g["code"] == code);
        ground.unwrap_or_else(|| panic!("{case}: no {code} ground in {got}"))["detail"].as_str().unwrap().to_owned()
    };
    let budapest = detail(
        "x-preservation-reservation-refuses",
        &|v| v["request"]["instrument"] = "budapest".into(),
        "no_dual_criminality",
    );
    assert!(budapest.contains("(ETS 185 art. 29(4))") && !budapest.contains("UNCC"), "{budapest}");
    let uncc = detail("x-preservation-reservation-refuses", &|_| {}, "no_dual_criminality");
    assert!(uncc.contains("(UNCC 42(4))"), "{uncc}");
    let one = detail(
        "refused-out-of-scope-petty-offence",
        &|v| v["request"]["offence"]["max_penalty_years"] = 1.into(),
        "out_of_scope",
    );
    assert!(one.contains("a maximum penalty of 1 year is not") && one.contains("UNCC 7-17"), "{one}");
    let two = detail("refused-out-of-scope-petty-offence", &|_| {}, "out_of_scope");
    assert!(two.contains("a maximum penalty of 2 years is not"), "{two}");
    let p2 = detail("x-p2-requires-budapest", &|_| {}, "not_party");
    assert!(p2.contains("which the Protocol supplements: it has deposited no instrument"), "{p2}");
}

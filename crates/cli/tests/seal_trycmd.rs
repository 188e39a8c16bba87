//! `custodia keys` and `custodia evidence` as data: each `tests/cmd/seal/*.toml` runs one
//! command on a sandbox copy of `tests/cmd/seal/fixtures` (made by `make-fixtures.sh`)
//! and compares its exit code, standard output and standard error.

#[test]
fn seal_commands() {
    trycmd::TestCases::new().case("tests/cmd/seal/*.toml");
}

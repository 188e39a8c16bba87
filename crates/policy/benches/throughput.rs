//! Policy throughput on one core, over the sample and boundary cases:
//! `evaluate` alone, `parse_case` + `evaluate`, and, as the peer in the same run,
//! serde_json parsing the same bytes into a `serde_json::Value` (no validation, no
//! decision). Run: `cargo bench -p policy --bench throughput`.

use std::hint::black_box;
use std::path::Path;
use std::time::{Duration, Instant};

fn load() -> Vec<Vec<u8>> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../cli/tests/cases/policy");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.to_str().unwrap().ends_with(".case.json"))
        .collect();
    files.sort();
    files.into_iter().map(|p| std::fs::read(p).unwrap()).collect()
}

/// Runs `f` over all inputs repeatedly for about `budget`, returns operations per second.
fn rate(budget: Duration, n: usize, mut f: impl FnMut(usize)) -> f64 {
    for i in 0..n * 50 {
        f(i % n); // warm up
    }
    let start = Instant::now();
    let mut ops = 0u64;
    while start.elapsed() < budget {
        for i in 0..n {
            f(i);
        }
        ops += n as u64;
    }
    ops as f64 / start.elapsed().as_secs_f64()
}

fn main() {
    let inputs = load();
    let n = inputs.len();
    let bytes: usize = inputs.iter().map(Vec::len).sum();
    let cases: Vec<_> = inputs.iter().map(|b| policy::parse_case(b).unwrap()).collect();
    let budget = Duration::from_secs(3);
    println!("{} cases, {} bytes on average", n, bytes / n);
    let eval = rate(budget, n, |i| {
        black_box(policy::evaluate(black_box(&cases[i])));
    });
    println!("evaluate:                     {:>10.0} decisions/s  ({:.2} µs each)", eval, 1e6 / eval);
    let full = rate(budget, n, |i| {
        let case = policy::parse_case(black_box(&inputs[i])).unwrap();
        black_box(policy::evaluate(&case));
    });
    println!("parse_case + evaluate:        {:>10.0} decisions/s  ({:.2} µs each)", full, 1e6 / full);
    let parse = rate(budget, n, |i| {
        black_box(policy::parse_case(black_box(&inputs[i])).unwrap());
    });
    println!(
        "parse_case alone:             {:>10.0} cases/s      ({:.0} MB/s)",
        parse,
        parse * (bytes / n) as f64 / 1e6
    );
    let peer = rate(budget, n, |i| {
        black_box(serde_json::from_slice::<serde_json::Value>(black_box(&inputs[i])).unwrap());
    });
    println!("peer: serde_json -> Value:    {:>10.0} docs/s       ({:.0} MB/s)", peer, peer * (bytes / n) as f64 / 1e6);
}

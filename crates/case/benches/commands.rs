//! Commands applied per second on one core (pure `case`): a requested-side case driven
//! through its life, then the side-track commands, over and over. Run:
//! `cargo bench -p case --bench commands`.

use std::hint::black_box;
use std::time::Instant;

use case::{Action, Case, Command, PackageRef, Role, Ruling, Side, Timestamp};

fn main() {
    let file =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/stored-data-confidential.case.json"))
            .unwrap();
    let start = Timestamp::parse("2026-11-25T09:00:00Z").unwrap();
    let pkg = PackageRef { manifest_sha256: "ab".repeat(32), files: 1, bytes: 1 };
    let r = || vec!["Because.".to_string()];
    // The commands after creation and decision: the cheap majority of a case's life.
    let script: Vec<(Command, Role)> = vec![
        (Command::RouteToProvider { provider: "P".into() }, Role::CentralAuthority),
        (Command::Object { grounds: r() }, Role::Peer),
        (Command::DecideObjection { ruling: Ruling::Narrowed, reasons: r() }, Role::Judge),
        (Command::Tick, Role::Clock),
        (Command::ReceiveEvidence { package: pkg }, Role::Peer),
        (Command::Return, Role::CentralAuthority),
        (Command::Close { reasons: vec![] }, Role::CentralAuthority),
        (Command::Tick, Role::Clock),
    ];
    let create = Command::Create { id: "bench".into(), side: Side::Requested, case_file: file, emergency: false };
    let (base, _) = Case::create(&create, Role::Peer, start).unwrap();
    let mut admitted = base.clone();
    admitted
        .execute(
            &Command::Decide { action: Action::Admit, reasons: vec![], until: None },
            Role::CentralAuthority,
            start,
        )
        .unwrap();

    let budget = std::time::Duration::from_secs(3);
    let t0 = Instant::now();
    let mut commands = 0u64;
    while t0.elapsed() < budget {
        let mut c = admitted.clone();
        for (cmd, role) in &script {
            black_box(c.execute(cmd, *role, start).unwrap());
            commands += 1;
        }
    }
    let rate = commands as f64 / t0.elapsed().as_secs_f64();
    println!("lifecycle commands (route .. close, ticks): {rate:>10.0} commands/s ({:.2} µs each)", 1e6 / rate);

    let t0 = Instant::now();
    let mut n = 0u64;
    while t0.elapsed() < budget {
        let mut c = base.clone();
        black_box(
            c.execute(
                &Command::Decide { action: Action::Admit, reasons: vec![], until: None },
                Role::CentralAuthority,
                start,
            )
            .unwrap(),
        );
        n += 1;
    }
    let rate = n as f64 / t0.elapsed().as_secs_f64();
    println!("decide (parses the case file, runs the policy): {rate:>10.0} commands/s ({:.2} µs each)", 1e6 / rate);
}

//! `custodia backup` of a running node while cases are being written, `custodia restore`
//! into a new directory, and the restored node serving every case acknowledged before the
//! backup began, with a log that verifies. A damaged or cut backup is refused and leaves
//! nothing behind; a PostgreSQL node is told to use PostgreSQL's tools.

use std::sync::{Arc, Mutex};

use serde_json::{Value, json};

mod common;
use common::{case_file, custodia, init, serve, token};

async fn create(http: &reqwest::Client, base: &str, tok: &str, id: &str) -> bool {
    let body = json!({ "id": id, "side": "requested", "case_file": case_file() });
    matches!(http.post(format!("{base}/api/v1/cases")).bearer_auth(tok).json(&body).send().await, Ok(r) if r.status() == 201)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn backup_while_writing_then_restore_and_serve() {
    let dir = tempfile::tempdir().unwrap();
    let config = init(&dir.path().join("node"), "central_authority");
    let tok = token(&config, "central_authority");
    let http = reqwest::Client::new();
    let (node, base) = serve(&config);
    let mut before = Vec::new();
    for i in 0..20 {
        let id = format!("before-{i}");
        assert!(create(&http, &base, &tok, &id).await);
        before.push(id);
    }
    // Writers keep going while the backup is taken.
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let during = Arc::new(Mutex::new(Vec::new()));
    let writer = tokio::spawn({
        let (http, base, tok, stop, during) = (http.clone(), base.clone(), tok.clone(), stop.clone(), during.clone());
        async move {
            let mut n = 0;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                let id = format!("during-{n}");
                if create(&http, &base, &tok, &id).await {
                    during.lock().unwrap().push(id);
                }
                n += 1;
            }
        }
    });
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    let archive = dir.path().join("node.backup.tar");
    let out = custodia().args(["backup", "--config"]).arg(&config).arg("--out").arg(&archive).output().unwrap();
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    writer.await.unwrap();
    drop(node);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(said.contains("the log at size"), "{said}");
    assert!(!during.lock().unwrap().is_empty(), "the backup ran while nothing was written");
    // The log's recycled files (the replaced checkpoints at least) are not backed up.
    let spares = dir.path().join("node/data/log").join(tlog::storage::SPARES);
    assert!(std::fs::read_dir(&spares).unwrap().count() > 0, "no file was recycled in {}", spares.display());
    let listing = std::process::Command::new("tar").arg("-tf").arg(&archive).output().unwrap();
    let listing = String::from_utf8_lossy(&listing.stdout);
    assert!(listing.contains("data/log/checkpoint"), "{listing}");
    assert!(!listing.contains(tlog::storage::SPARES), "{listing}");

    // Refused: overwriting a backup; restoring into a directory that holds something.
    let again = custodia().args(["backup", "--config"]).arg(&config).arg("--out").arg(&archive).output().unwrap();
    assert!(!again.status.success());
    assert!(String::from_utf8_lossy(&again.stderr).contains("refusing to overwrite"));
    let r = custodia()
        .args(["restore", "--from"])
        .arg(&archive)
        .arg("--dir")
        .arg(dir.path().join("node"))
        .output()
        .unwrap();
    assert!(!r.status.success());
    assert!(String::from_utf8_lossy(&r.stderr).contains("not empty"));

    let restored = dir.path().join("restored");
    let r = custodia().args(["restore", "--from"]).arg(&archive).arg("--dir").arg(&restored).output().unwrap();
    assert!(r.status.success(), "{}", String::from_utf8_lossy(&r.stderr));
    let said = String::from_utf8_lossy(&r.stdout);
    assert!(said.contains("log verified at size"), "{said}");

    let (_restored_node, base2) = serve(&restored.join("node.toml"));
    for id in &before {
        let r = http.get(format!("{base2}/api/v1/cases/{id}")).bearer_auth(&tok).send().await.unwrap();
        assert_eq!(r.status(), 200, "case {id}, written before the backup, is missing after the restore");
    }
    // Every event of every restored case is committed to the restored log, which verifies.
    let list: Value = http
        .get(format!("{base2}/api/v1/cases?limit=1000"))
        .bearer_auth(&tok)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let n = list["items"].as_array().unwrap().len();
    assert!(n >= before.len(), "{n} cases restored");
    let vkey = restored.join("data/log/log.vkey");
    let v = custodia().args(["log", "verify", &format!("{base2}/log"), "--key"]).arg(&vkey).output().unwrap();
    assert!(v.status.success(), "{}", String::from_utf8_lossy(&v.stderr));
    // The restored node keeps working.
    assert!(create(&http, &base2, &tok, "after-restore").await);
}

#[test]
fn a_damaged_or_cut_backup_is_refused_and_leaves_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let config = init(&dir.path().join("node"), "central_authority");
    let (node, _) = serve(&config);
    drop(node);
    let archive = dir.path().join("b.tar");
    let out = custodia().args(["backup", "--config"]).arg(&config).arg("--out").arg(&archive).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let good = std::fs::read(&archive).unwrap();

    // One byte of the configuration flipped.
    let at = good.windows(6).position(|w| w == b"[node]").expect("node.toml in the backup") + 1;
    let mut bad = good.clone();
    bad[at] ^= 0x20;
    let damaged = dir.path().join("damaged.tar");
    std::fs::write(&damaged, &bad).unwrap();
    let target = dir.path().join("r1");
    let r = custodia().args(["restore", "--from"]).arg(&damaged).arg("--dir").arg(&target).output().unwrap();
    assert!(!r.status.success());
    let err = String::from_utf8_lossy(&r.stderr);
    assert!(err.contains("node.toml does not match its size and SHA-256"), "{err}");
    assert!(!target.exists(), "a failed restore left {} behind", target.display());
    let leftovers: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .filter_map(Result::ok)
        .filter(|e| e.file_name().to_string_lossy().starts_with(".custodia-restore-"))
        .collect();
    assert!(leftovers.is_empty(), "work directory left behind");

    // Cut short: no manifest at the end.
    let cut = dir.path().join("cut.tar");
    std::fs::write(&cut, &good[..good.len() / 2]).unwrap();
    let r = custodia().args(["restore", "--from"]).arg(&cut).arg("--dir").arg(&target).output().unwrap();
    assert!(!r.status.success());
    assert!(!target.exists());
}

#[test]
fn postgres_nodes_are_told_to_use_pg_dump() {
    let dir = tempfile::tempdir().unwrap();
    let config = init(&dir.path().join("node"), "central_authority");
    let out = custodia()
        .env("CUSTODIA_STORAGE__DATABASE", "postgres://postgres@127.0.0.1:5432/test")
        .args(["backup", "--config"])
        .arg(&config)
        .arg("--out")
        .arg(dir.path().join("b.tar"))
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("storage.database") && err.contains("pg_dump"), "{err}");
    assert!(!dir.path().join("b.tar").exists());
}

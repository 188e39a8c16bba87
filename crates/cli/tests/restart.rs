//! `custodia serve` killed with SIGKILL in the middle of case updates and of an evidence
//! upload: after a restart, nothing that was acknowledged is lost (every case created and
//! every command answered 2xx is there, every event committed to the log, the log
//! verifies), and the upload continues from where the node says it stopped, then is
//! accepted.

use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{Value, json};

mod common;
use common::{case_file, custodia, init, serve, token};

/// What the clients were told was done.
#[derive(Default, Debug)]
struct Acknowledged {
    created: Vec<String>,
    admitted: Vec<String>,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sigkill_during_case_updates_loses_nothing_acknowledged() {
    let dir = tempfile::tempdir().unwrap();
    let config = init(dir.path(), "central_authority");
    let tok = token(&config, "central_authority");
    let cf = case_file();
    let http = reqwest::Client::new();
    let acked = Arc::new(Mutex::new(Acknowledged::default()));

    for round in 0..3 {
        let (node, base) = serve(&config);
        let mut workers = Vec::new();
        for w in 0..6 {
            let (http, base, tok, cf, acked) = (http.clone(), base.clone(), tok.clone(), cf.clone(), acked.clone());
            workers.push(tokio::spawn(async move {
                for n in 0.. {
                    let id = format!("r{round}-w{w}-{n}");
                    let body = json!({ "id": id, "side": "requested", "case_file": cf });
                    let Ok(r) = http.post(format!("{base}/api/v1/cases")).bearer_auth(&tok).json(&body).send().await
                    else {
                        return;
                    };
                    if r.status() != 201 {
                        return;
                    }
                    acked.lock().unwrap().created.push(id.clone());
                    let cmd = json!({ "command": "decide", "action": "admit", "reasons": [], "until": null });
                    let Ok(r) = http
                        .post(format!("{base}/api/v1/cases/{id}/commands"))
                        .bearer_auth(&tok)
                        .json(&cmd)
                        .send()
                        .await
                    else {
                        return;
                    };
                    if r.status() != 200 {
                        return;
                    }
                    acked.lock().unwrap().admitted.push(id);
                }
            }));
        }
        // Let the writes run, then kill the node in the middle of them.
        tokio::time::sleep(Duration::from_millis(700 + 300 * round)).await;
        node.kill();
        for w in workers {
            w.await.unwrap();
        }
    }

    let (_node, base) = serve(&config);
    let acked = std::mem::take(&mut *acked.lock().unwrap());
    assert!(acked.created.len() >= 10, "too few writes before the kills to test anything: {acked:?}");
    assert!(!acked.admitted.is_empty(), "no command was acknowledged before the kills: {acked:?}");
    eprintln!("{} creations and {} admissions acknowledged across 3 kills", acked.created.len(), acked.admitted.len());
    for id in &acked.created {
        let r = http.get(format!("{base}/api/v1/cases/{id}")).bearer_auth(&tok).send().await.unwrap();
        assert_eq!(r.status(), 200, "case {id} was acknowledged as created, then lost");
        let v: Value = r.json().await.unwrap();
        if acked.admitted.contains(id) {
            assert_eq!(v["case"]["state"], "admitted", "case {id}: its admission was acknowledged, then lost");
        }
        let ev: Value = http
            .get(format!("{base}/api/v1/cases/{id}/events"))
            .bearer_auth(&tok)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let ev = ev.as_array().cloned().unwrap_or_else(|| ev["events"].as_array().cloned().unwrap_or_default());
        assert!(!ev.is_empty(), "case {id} has no events");
        for e in &ev {
            assert!(e["log_index"].is_u64(), "case {id}: an event is not committed to the log after restart: {e}");
        }
    }
    // The log verifies, served by the restarted node.
    let vkey = dir.path().join("data/log/log.vkey");
    let out = custodia().args(["log", "verify", &format!("{base}/log"), "--key"]).arg(&vkey).output().unwrap();
    assert!(out.status.success(), "{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
}

/// Opens a provider's case the way a delivered request does, before the node first starts.
async fn provider_case(config: &Path) {
    let resolved = node::Config::load(config).unwrap();
    let (_log, cases) = node::open_services(&resolved).await.unwrap();
    let peer = node::auth::Caller { name: "BB-central-authority".into(), role: case::Role::Peer, token_id: "-".into() };
    cases
        .create(&peer, Some("r1".into()), case::Side::Provider, &case_file(), false, node::clock::now())
        .await
        .unwrap();
}

#[test]
fn sigkill_during_an_upload_then_it_resumes() {
    let dir = tempfile::tempdir().unwrap();
    let config = init(dir.path(), "provider");
    tokio::runtime::Runtime::new().unwrap().block_on(provider_case(&config));
    let legal = token(&config, "provider_legal");

    // 24 MiB of evidence, sealed to the requesting authority.
    let now = node::clock::now().0 as u64;
    let validity = seal::keys::Validity::new(now - 3600, now + 86_400).unwrap();
    let sealer = seal::keys::SecretIdentity::generate("Example-Mail", validity, now - 60).unwrap();
    let authority = seal::keys::SecretIdentity::generate("AA-prosecutor", validity, now - 60).unwrap();
    let src = dir.path().join("mailbox.mbox");
    let data: Vec<u8> = (0..24u32 << 20).map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8).collect();
    std::fs::write(&src, &data).unwrap();
    let pkg = dir.path().join("pkg");
    let inputs = seal::evidence::collect_inputs(std::slice::from_ref(&src)).unwrap();
    let manifest = seal::evidence::seal(
        &inputs,
        &[authority.public().recipient.clone()],
        &sealer,
        now,
        &pkg,
        &mut seal::evidence::NoProgress,
    )
    .unwrap();
    let sealed = std::fs::read(seal::evidence::age_path(&pkg, &manifest.files[0].name)).unwrap();
    let manifest_text = std::fs::read_to_string(pkg.join(seal::evidence::MANIFEST)).unwrap();

    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let http = reqwest::Client::new();
        let (node, base) = serve(&config);
        let r = http
            .post(format!("{base}/api/v1/cases/r1/commands"))
            .bearer_auth(&legal)
            .json(&json!({ "command": "provider_acknowledge" }))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
        let r = http
            .post(format!("{base}/api/v1/cases/r1/uploads"))
            .bearer_auth(&legal)
            .json(&json!({ "manifest": manifest_text, "signer": sealer.public_file() }))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 201);
        let up: Value = r.json().await.unwrap();
        let url = format!("/api/v1/uploads/{}/files/0", up["upload"].as_str().unwrap());

        // Stream the file slowly, and kill the node in the middle of it.
        let (tx, rx) = tokio::sync::mpsc::channel::<Result<Vec<u8>, std::io::Error>>(1);
        let body = reqwest::Body::wrap_stream(futures_stream(rx));
        let put = tokio::spawn({
            let (http, base, legal) = (http.clone(), base.clone(), legal.clone());
            let url = url.clone();
            async move { http.put(format!("{base}{url}")).bearer_auth(&legal).body(body).send().await }
        });
        for chunk in sealed.chunks(256 << 10).take(40) {
            tx.send(Ok(chunk.to_vec())).await.unwrap();
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        node.kill();
        drop(tx);
        // The client sees its connection cut (or, at best, an answer for what arrived).
        let _ = put.await.unwrap();

        // After the restart: where to resume, then the rest, then acceptance.
        let (_node, base) = serve(&config);
        let r = http.head(format!("{base}{url}")).bearer_auth(&legal).send().await.unwrap();
        assert_eq!(r.status(), 204);
        let offset: usize = r.headers()["upload-offset"].to_str().unwrap().parse().unwrap();
        assert!(offset > 0 && offset < sealed.len(), "offset {offset} of {}", sealed.len());
        eprintln!("upload resumes at {offset} of {} bytes", sealed.len());
        let r = http
            .put(format!("{base}{url}"))
            .bearer_auth(&legal)
            .header("upload-offset", offset.to_string())
            .body(sealed[offset..].to_vec())
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 204);
        let complete = format!("{base}{}", url.replace("/files/0", "/complete"));
        let r = http.post(complete).bearer_auth(&legal).send().await.unwrap();
        assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
        let v: Value = r.json().await.unwrap();
        assert_eq!(v["case"]["case"]["state"], "produced");
        let sha = v["case"]["case"]["evidence"][0]["manifest_sha256"].as_str().unwrap().to_string();
        let got = http
            .get(format!("{base}/api/v1/evidence/{sha}/{}.age", manifest.files[0].name))
            .bearer_auth(&legal)
            .send()
            .await
            .unwrap()
            .bytes()
            .await
            .unwrap();
        assert!(got[..] == sealed[..], "the accepted evidence is the sealed file, byte for byte");
    });
}

/// A stream of chunks from a channel (what reqwest streams as a body).
fn futures_stream(
    mut rx: tokio::sync::mpsc::Receiver<Result<Vec<u8>, std::io::Error>>,
) -> impl futures_util::Stream<Item = Result<Vec<u8>, std::io::Error>> {
    futures_util::stream::poll_fn(move |cx| rx.poll_recv(cx))
}

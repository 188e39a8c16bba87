//! Evidence uploads through the HTTP API: resumable after a lost connection, capped,
//! verified against the signed manifest before acceptance (a wrong byte is refused and
//! nothing becomes evidence), then downloadable with ranges by the right roles only.

use std::sync::Arc;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use http_body_util::BodyExt;
use node::{Config, PartyRole};
use serde_json::{Value, json};
use tower::ServiceExt;

async fn send(
    app: &axum::Router,
    method: &str,
    uri: &str,
    token: &str,
    headers: &[(&str, String)],
    body: Vec<u8>,
) -> (StatusCode, axum::http::HeaderMap, Vec<u8>) {
    let mut b = Request::builder().method(method).uri(uri).header("authorization", format!("Bearer {token}"));
    for (k, v) in headers {
        b = b.header(*k, v);
    }
    let res = app.clone().oneshot(b.body(Body::from(body)).unwrap()).await.unwrap();
    let (s, h) = (res.status(), res.headers().clone());
    (s, h, res.into_body().collect().await.unwrap().to_bytes().to_vec())
}

fn json_of(b: &[u8]) -> Value {
    serde_json::from_slice(b).unwrap_or(Value::Null)
}

#[tokio::test]
async fn upload_resume_verify_accept_download() {
    let dir = tempfile::tempdir().unwrap();
    let config = Config::example("Example-Mail", PartyRole::Provider, "BB", "127.0.0.1:0")
        .validate(dir.path().to_path_buf())
        .unwrap();
    let store = store::SqliteStore::open(dir.path().join("cases.db"), store::SqliteOptions::default()).await.unwrap();
    let log = Arc::new(
        node::transparency::Transparency::open_or_create(&dir.path().join("data/log"), "Example-Mail.custodia")
            .unwrap(),
    );
    let cases = Arc::new(node::cases::Cases::new(Arc::new(store), log.clone(), "Example-Mail", [5; 32]));
    let blobs = Arc::new(store::BlobStore::local(dir.path().join("blobs")).unwrap());
    std::fs::create_dir_all(dir.path().join("data")).unwrap();
    let tokens = node::auth::Tokens::new(dir.path().join("data/tokens.json"));
    let legal = tokens.create("legal", "provider_legal", 0).unwrap().1;
    let oversight = tokens.create("dpa", "oversight", 0).unwrap().1;
    let app = node::api::app_with(config.clone(), Some(log.clone()), Some(cases.clone()), Some(blobs.clone()));
    // The same node after a restart: it knows nothing of the uploads in progress but what is on disk.
    let restarted = node::api::app_with(config, Some(log), Some(cases.clone()), Some(blobs));

    // A request routed to the provider (it arrives from the requested State: peer).
    let file: Value = serde_json::from_slice(
        &std::fs::read(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/stored-data-confidential.case.json")).unwrap(),
    )
    .unwrap();
    let peer = node::auth::Caller { name: "BB-central-authority".into(), role: case::Role::Peer, token_id: "-".into() };
    cases.create(&peer, Some("r1".into()), case::Side::Provider, &file, false, node::clock::now()).await.unwrap();
    let (s, _, b) = send(
        &app,
        "POST",
        "/api/v1/cases/r1/commands",
        &legal,
        &[],
        serde_json::to_vec(&json!({ "command": "provider_acknowledge" })).unwrap(),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{}", String::from_utf8_lossy(&b));

    // The provider seals the data to the requesting authority (age), signed by its key.
    let now = node::clock::now().0 as u64;
    let validity = seal::keys::Validity::new(now - 3600, now + 86_400 * 365).unwrap();
    let sealer = seal::keys::SecretIdentity::generate("Example-Mail", validity, now - 60).unwrap();
    let authority = seal::keys::SecretIdentity::generate("AA-prosecutor", validity, now - 60).unwrap();
    let src = dir.path().join("export");
    std::fs::create_dir_all(&src).unwrap();
    let big: Vec<u8> = (0..300_000u32).map(|i| (i % 251) as u8).collect();
    std::fs::write(src.join("mailbox.mbox"), &big).unwrap();
    std::fs::write(src.join("subscriber.json"), b"{\"name\": \"...\"}").unwrap();
    let inputs = seal::evidence::collect_inputs(&[src.join("mailbox.mbox"), src.join("subscriber.json")]).unwrap();
    let pkg = dir.path().join("pkg");
    let manifest = seal::evidence::seal(
        &inputs,
        &[authority.public().recipient.clone()],
        &sealer,
        now,
        &pkg,
        &mut seal::evidence::NoProgress,
    )
    .unwrap();
    let manifest_text = std::fs::read_to_string(pkg.join(seal::evidence::MANIFEST)).unwrap();

    // Start: a manifest that does not verify is refused.
    let forged = manifest_text.replacen("file: ", "file: 1", 1);
    let (s, _, b) = send(
        &app,
        "POST",
        "/api/v1/cases/r1/uploads",
        &legal,
        &[],
        serde_json::to_vec(&json!({ "manifest": forged, "signer": sealer.public_file() })).unwrap(),
    )
    .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{}", String::from_utf8_lossy(&b));
    let (s, _, b) = send(
        &app,
        "POST",
        "/api/v1/cases/r1/uploads",
        &legal,
        &[],
        serde_json::to_vec(&json!({ "manifest": manifest_text, "signer": sealer.public_file() })).unwrap(),
    )
    .await;
    assert_eq!(s, StatusCode::CREATED, "{}", String::from_utf8_lossy(&b));
    let up = json_of(&b);
    let id = up["upload"].as_str().unwrap().to_string();
    let sha = up["manifest_sha256"].as_str().unwrap().to_string();

    for (i, f) in manifest.files.iter().enumerate() {
        let bytes = std::fs::read(seal::evidence::age_path(&pkg, &f.name)).unwrap();
        let url = format!("/api/v1/uploads/{id}/files/{i}");
        // The first part arrives, then the connection is lost; HEAD says where to resume.
        let half = bytes.len() / 2;
        let (s, h, _) = send(&app, "PUT", &url, &legal, &[], bytes[..half].to_vec()).await;
        assert_eq!((s, h["upload-offset"].to_str().unwrap()), (StatusCode::NO_CONTENT, half.to_string().as_str()));
        let (s, h, _) = send(&app, "HEAD", &url, &legal, &[], vec![]).await;
        assert_eq!((s, h["upload-offset"].to_str().unwrap()), (StatusCode::NO_CONTENT, half.to_string().as_str()));
        // Resuming from the wrong place is refused with where to resume.
        let (s, h, _) = send(&app, "PUT", &url, &legal, &[("upload-offset", "0".into())], bytes.to_vec()).await;
        assert_eq!((s, h["upload-offset"].to_str().unwrap()), (StatusCode::CONFLICT, half.to_string().as_str()));
        // More than the manifest says is refused and cut off.
        let mut too_much = bytes[half..].to_vec();
        too_much.push(0);
        let (s, _, _) = send(&app, "PUT", &url, &legal, &[("upload-offset", half.to_string())], too_much).await;
        assert_eq!(s, StatusCode::PAYLOAD_TOO_LARGE);
        // Before the rest arrives, nothing can complete.
        if i == 0 {
            let (s, _, b) = send(&app, "POST", &format!("/api/v1/uploads/{id}/complete"), &legal, &[], vec![]).await;
            assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY);
            assert_eq!(json_of(&b)["type"], "/problems/incomplete");
        }
        // While a PUT is running on a file, another PUT on it and `complete` are refused.
        if i == 0 {
            let (tx, rx) = tokio::sync::mpsc::channel::<axum::body::Bytes>(1);
            let body = Body::from_stream(futures_util::stream::unfold(rx, |mut rx| async move {
                rx.recv().await.map(|b| (Ok::<_, std::io::Error>(b), rx))
            }));
            let held = Request::builder()
                .method("PUT")
                .uri(&url)
                .header("authorization", format!("Bearer {legal}"))
                .header("upload-offset", half.to_string())
                .body(body)
                .unwrap();
            let running = tokio::spawn(app.clone().oneshot(held));
            tx.send(axum::body::Bytes::from(bytes[half..half + 10].to_vec())).await.unwrap();
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
            let (s, _, b) =
                send(&app, "PUT", &url, &legal, &[("upload-offset", half.to_string())], bytes[half..].to_vec()).await;
            assert_eq!((s, json_of(&b)["type"].as_str()), (StatusCode::CONFLICT, Some("/problems/upload-busy")));
            let (s, _, b) = send(&app, "POST", &format!("/api/v1/uploads/{id}/complete"), &legal, &[], vec![]).await;
            assert_eq!((s, json_of(&b)["type"].as_str()), (StatusCode::CONFLICT, Some("/problems/upload-busy")));
            drop(tx);
            let res = running.await.unwrap().unwrap();
            assert_eq!(res.status(), StatusCode::NO_CONTENT);
            assert_eq!(res.headers()["upload-offset"].to_str().unwrap(), (half + 10).to_string());
            // The rest goes to the node after a restart: it hashes what is on disk and resumes.
            let (s, _, _) = send(
                &restarted,
                "PUT",
                &url,
                &legal,
                &[("upload-offset", (half + 10).to_string())],
                bytes[half + 10..].to_vec(),
            )
            .await;
            assert_eq!(s, StatusCode::NO_CONTENT, "a restarted node hashes what is on disk and resumes");
            continue;
        }
        // A flipped byte in the second half: the whole file is refused at completion.
        let mut rest = bytes[half..].to_vec();
        if i == 1 {
            let last = rest.len() - 1;
            rest[last] ^= 1;
        }
        let (s, _, _) = send(&app, "PUT", &url, &legal, &[("upload-offset", half.to_string())], rest).await;
        assert_eq!(s, StatusCode::NO_CONTENT);
    }
    let (s, _, b) = send(&app, "POST", &format!("/api/v1/uploads/{id}/complete"), &legal, &[], vec![]).await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY);
    let p = json_of(&b);
    assert_eq!(p["type"], "/problems/hash-mismatch");
    assert_eq!(p["field"], manifest.files[1].name.as_str(), "the problem names the file");
    let (_, c) = (
        0,
        cases
            .get(
                &node::auth::Caller { name: "l".into(), role: case::Role::ProviderLegal, token_id: "-".into() },
                "r1",
                node::clock::today(),
            )
            .await
            .unwrap(),
    );
    assert_eq!(c.case["state"], "in_execution", "nothing became evidence");
    // Send the bad file again, correctly: now the package is accepted and produced.
    let bytes = std::fs::read(seal::evidence::age_path(&pkg, &manifest.files[1].name)).unwrap();
    let (s, _, _) = send(&app, "PUT", &format!("/api/v1/uploads/{id}/files/1"), &legal, &[], bytes).await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    let (s, _, b) = send(&app, "POST", &format!("/api/v1/uploads/{id}/complete"), &legal, &[], vec![]).await;
    assert_eq!(s, StatusCode::OK, "{}", String::from_utf8_lossy(&b));
    let v = json_of(&b);
    assert_eq!(v["case"]["case"]["state"], "produced");
    assert_eq!(v["case"]["case"]["evidence"][0]["manifest_sha256"], sha.as_str());

    // Downloads: whole, a range, and never for oversight.
    let name = &manifest.files[0].name;
    let original = std::fs::read(seal::evidence::age_path(&pkg, name)).unwrap();
    let url = format!("/api/v1/evidence/{sha}/{name}.age");
    let (s, _, b) = send(&app, "GET", &url, &legal, &[], vec![]).await;
    assert_eq!((s, b.len()), (StatusCode::OK, original.len()));
    assert_eq!(b, original);
    let (s, h, b) = send(&app, "GET", &url, &legal, &[("range", "bytes=10-19".into())], vec![]).await;
    assert_eq!(s, StatusCode::PARTIAL_CONTENT);
    assert_eq!(b, original[10..20].to_vec());
    assert_eq!(h["content-range"], format!("bytes 10-19/{}", original.len()).as_str());
    let (s, _, _) = send(&app, "GET", &url, &legal, &[("range", "bytes=99999999-".into())], vec![]).await;
    assert_eq!(s, StatusCode::RANGE_NOT_SATISFIABLE);
    let (s, _, _) = send(&app, "GET", &url, &oversight, &[], vec![]).await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    // The package verifies as a whole from what the blob store holds (no secret key needed),
    // and the requesting authority can open it.
    let fetched = dir.path().join("fetched");
    std::fs::create_dir_all(fetched.join("files")).unwrap();
    let (_, _, m) = send(&app, "GET", &format!("/api/v1/evidence/{sha}/MANIFEST"), &legal, &[], vec![]).await;
    std::fs::write(fetched.join("MANIFEST"), m).unwrap();
    for f in &manifest.files {
        let (_, _, b) = send(&app, "GET", &format!("/api/v1/evidence/{sha}/{}.age", f.name), &legal, &[], vec![]).await;
        let p = seal::evidence::age_path(&fetched, &f.name);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, b).unwrap();
    }
    seal::evidence::verify(&fetched, &sealer.public(), &mut seal::evidence::NoProgress).unwrap();
}

//! Every route of the API, for every role and for no credentials, on a case of each kind:
//! the answer matches one table. A route the OpenAPI document lists without a rule here
//! fails the test, so a new route cannot arrive without its access rule.

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use http_body_util::BodyExt;
use node::{Config, PartyRole};
use serde_json::{Value, json};
use tower::ServiceExt;

const ROLES: [&str; 7] =
    ["case_worker", "judge", "central_authority", "point_of_contact", "provider_legal", "oversight", "administrator"];

/// Who may read a case of each kind (need-to-know): `cases::view_for`.
fn may_see(role: &str, side: &str) -> bool {
    match role {
        "provider_legal" => side == "provider",
        "oversight" | "administrator" => true,
        _ => side != "provider",
    }
}

#[tokio::test]
async fn every_route_every_role() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("data")).unwrap();
    let config = Config::example("BB-central-authority", PartyRole::CentralAuthority, "BB", "127.0.0.1:0")
        .validate(dir.path().to_path_buf())
        .unwrap();
    let store = store::SqliteStore::open(dir.path().join("cases.db"), store::SqliteOptions::default()).await.unwrap();
    let log = Arc::new(
        node::transparency::Transparency::open_or_create(&dir.path().join("data/log"), "BB.custodia").unwrap(),
    );
    let cases = Arc::new(node::cases::Cases::new(Arc::new(store), log.clone(), "BB-central-authority", [6; 32]));
    let blobs = Arc::new(store::BlobStore::local(dir.path().join("blobs")).unwrap());
    let file: Value = serde_json::from_slice(
        &std::fs::read(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/stored-data-confidential.case.json")).unwrap(),
    )
    .unwrap();
    let peer = node::auth::Caller { name: "peer".into(), role: case::Role::Peer, token_id: "-".into() };
    for (id, side) in [("req", case::Side::Requesting), ("in", case::Side::Requested), ("prov", case::Side::Provider)] {
        // The requesting case is opened by the holder of the `case_worker` token below.
        let creator = if side == case::Side::Requesting {
            node::auth::Caller { name: "case_worker".into(), role: case::Role::CaseWorker, token_id: "-".into() }
        } else {
            peer.clone()
        };
        cases.create(&creator, Some(id.into()), side, &file, false, node::clock::now()).await.unwrap();
    }
    let tokens = node::auth::Tokens::new(dir.path().join("data/tokens.json"));
    let mut token: BTreeMap<&str, String> = BTreeMap::new();
    for r in ROLES {
        token.insert(r, tokens.create(r, r, 0).unwrap().1);
    }
    // Another case worker, who opened none of the cases.
    let other_worker = tokens.create("another case worker", "case_worker", 0).unwrap().1;
    let app = node::api::app_with(config, Some(log), Some(cases), Some(blobs));
    let call = |method: &str, uri: String, tok: Option<String>, body: Option<Value>| {
        let app = app.clone();
        let method = method.to_string();
        async move {
            let mut b = Request::builder().method(method.as_str()).uri(uri);
            if let Some(t) = tok {
                b = b.header("authorization", format!("Bearer {t}"));
            }
            let res = app
                .oneshot(b.body(body.map_or(Body::empty(), |v| Body::from(serde_json::to_vec(&v).unwrap()))).unwrap())
                .await
                .unwrap();
            let s = res.status();
            let _ = res.into_body().collect().await;
            s
        }
    };

    // The rules: every path of the OpenAPI document must have one.
    let (_, openapi) = {
        let s = call("GET", "/api/v1/openapi.json".into(), None, None).await;
        assert_eq!(s, StatusCode::OK);
        let res = app
            .clone()
            .oneshot(Request::builder().uri("/api/v1/openapi.json").body(Body::empty()).unwrap())
            .await
            .unwrap();
        ((), serde_json::from_slice::<Value>(&res.into_body().collect().await.unwrap().to_bytes()).unwrap())
    };
    let ruled = [
        "/api/v1/policy/check",
        "/api/v1/policy/rules",
        "/api/v1/node",
        "/api/v1/transparency/statistics",
        "/api/v1/cases",
        "/api/v1/cases/{id}",
        "/api/v1/cases/{id}/events",
        "/api/v1/cases/{id}/accesses",
        "/api/v1/cases/{id}/commands",
        "/api/v1/cases/{id}/uploads",
        "/api/v1/uploads/{upload}/complete",
        "/api/v1/uploads/{upload}/files/{index}",
        "/api/v1/evidence/{manifest}/{name}",
    ];
    for path in openapi["paths"].as_object().unwrap().keys() {
        assert!(ruled.contains(&path.as_str()), "the route {path} has no access rule in this test");
    }

    let mut checked = 0;
    // Public routes: anyone, with or without a token.
    for who in std::iter::once(None).chain(ROLES.iter().map(|r| Some(token[r].clone()))) {
        assert_eq!(call("GET", "/api/v1/policy/rules".into(), who.clone(), None).await, StatusCode::OK);
        assert_eq!(call("GET", "/api/v1/node".into(), who.clone(), None).await, StatusCode::OK);
        assert_eq!(call("GET", "/api/v1/transparency/statistics".into(), who.clone(), None).await, StatusCode::OK);
        assert_eq!(call("POST", "/api/v1/policy/check".into(), who.clone(), Some(file.clone())).await, StatusCode::OK);
        checked += 4;
    }
    // Case routes: no credentials, 401; a role that may not see the case, 404 (its
    // existence is not revealed); a role that may, 200.
    for (id, side) in [("req", "requesting"), ("in", "requested"), ("prov", "provider")] {
        for uri in [
            format!("/api/v1/cases/{id}"),
            format!("/api/v1/cases/{id}/events"),
            format!("/api/v1/cases/{id}/accesses"),
        ] {
            assert_eq!(call("GET", uri.clone(), None, None).await, StatusCode::UNAUTHORIZED, "{uri}");
            for r in ROLES {
                let want = if may_see(r, side) { StatusCode::OK } else { StatusCode::NOT_FOUND };
                assert_eq!(call("GET", uri.clone(), Some(token[r].clone()), None).await, want, "{uri} as {r}");
                checked += 1;
            }
        }
        // Commands: the transition table decides; a role that may not see the case gets
        // 404, one that sees it but may not act gets 403 or 422, never a 5xx.
        let uri = format!("/api/v1/cases/{id}/commands");
        assert_eq!(call("POST", uri.clone(), None, Some(json!({ "command": "tick" }))).await, StatusCode::UNAUTHORIZED);
        // Extending the confidentiality order changes no state: only a judge may, and only
        // on the requesting and requested sides (the provider learns it from its peer).
        let until = node::clock::today().add_days(400).to_string();
        for r in ROLES {
            let cmd =
                json!({ "command": "extend_confidentiality", "until": until, "reasons": ["Investigation ongoing."] });
            let s = call("POST", uri.clone(), Some(token[r].clone()), Some(cmd)).await;
            if !may_see(r, side) {
                assert_eq!(s, StatusCode::NOT_FOUND, "{uri} as {r}");
            } else if r == "judge" && side != "provider" {
                assert_eq!(s, StatusCode::OK, "{uri} as {r}");
            } else {
                assert_eq!(s, StatusCode::FORBIDDEN, "{uri} as {r}");
            }
            checked += 1;
        }
        let uri = format!("/api/v1/cases/{id}/uploads");
        assert_eq!(call("POST", uri.clone(), None, Some(json!({}))).await, StatusCode::UNAUTHORIZED);
        for r in ROLES {
            let s = call("POST", uri.clone(), Some(token[r].clone()), Some(json!({ "manifest": "x", "signer": "y" })))
                .await;
            let want = if may_see(r, side) { StatusCode::UNPROCESSABLE_ENTITY } else { StatusCode::NOT_FOUND };
            assert_eq!(s, want, "{uri} as {r}");
            checked += 1;
        }
    }
    // Listing: every role may list (it sees only what it may), no credentials may not.
    assert_eq!(call("GET", "/api/v1/cases".into(), None, None).await, StatusCode::UNAUTHORIZED);
    for r in ROLES {
        assert_eq!(call("GET", "/api/v1/cases".into(), Some(token[r].clone()), None).await, StatusCode::OK);
        assert_eq!(
            call(
                "POST",
                "/api/v1/uploads/00000000000000000000000000000000/complete".into(),
                Some(token[r].clone()),
                None
            )
            .await,
            StatusCode::NOT_FOUND
        );
        checked += 2;
    }
    // Uploading a file and downloading evidence: no credentials, 401; an upload or a
    // package that does not exist, 404 to every role, except that oversight and the
    // administrator never download evidence (403, before anything is looked up).
    let file_uri = "/api/v1/uploads/00000000000000000000000000000000/files/0".to_string();
    let evidence_uri = format!("/api/v1/evidence/{}/a.age", "0".repeat(64));
    for (method, uri) in [("HEAD", &file_uri), ("PUT", &file_uri), ("GET", &evidence_uri)] {
        assert_eq!(call(method, uri.clone(), None, None).await, StatusCode::UNAUTHORIZED, "{method} {uri}");
        checked += 1;
        for r in ROLES {
            let want = if method == "GET" && matches!(r, "oversight" | "administrator") {
                StatusCode::FORBIDDEN
            } else {
                StatusCode::NOT_FOUND
            };
            assert_eq!(call(method, uri.clone(), Some(token[r].clone()), None).await, want, "{method} {uri} as {r}");
            checked += 1;
        }
    }
    // What the listing holds: what the role may see, and for a case worker only the cases
    // they opened (`cases::listed_for`).
    let listed = |tok: String| {
        let app = app.clone();
        async move {
            let req = Request::builder()
                .uri("/api/v1/cases?limit=1000")
                .header("authorization", format!("Bearer {tok}"))
                .body(Body::empty())
                .unwrap();
            let res = app.oneshot(req).await.unwrap();
            let v: Value = serde_json::from_slice(&res.into_body().collect().await.unwrap().to_bytes()).unwrap();
            let mut ids: Vec<String> =
                v["items"].as_array().unwrap().iter().map(|c| c["case"]["id"].as_str().unwrap().to_string()).collect();
            ids.sort();
            ids
        }
    };
    for r in ROLES {
        let mut want: Vec<String> = [("in", "requested"), ("prov", "provider"), ("req", "requesting")]
            .iter()
            .filter(|(_, side)| may_see(r, side))
            .filter(|(id, _)| r != "case_worker" || *id == "req")
            .map(|(id, _)| id.to_string())
            .collect();
        want.sort();
        assert_eq!(listed(token[r].clone()).await, want, "the listing as {r}");
        checked += 1;
    }
    assert_eq!(listed(other_worker).await, Vec::<String>::new(), "a case worker lists only the cases they opened");
    checked += 1;
    assert_eq!(
        checked,
        8 * 4 + 3 * (3 * 7 + 7 + 7) + 7 * 2 + 3 * (1 + 7) + 7 + 1,
        "every route, role and kind of case was tried"
    );
}

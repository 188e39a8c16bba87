//! The role pages: a judge sees what awaits a judge, and acts through a form that asks
//! for reasons; a refused action says why; the history shows each event's log entry.

use std::sync::Arc;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use http_body_util::BodyExt;
use node::{Config, PartyRole};
use tower::ServiceExt;

#[tokio::test]
async fn a_judge_decides_through_the_pages() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("data")).unwrap();
    node::users::Users::new(dir.path().join("data/users.json"))
        .add("ada", "judge", "correct horse battery staple")
        .unwrap();
    let config = Config::example("AA-central-authority", PartyRole::CentralAuthority, "AA", "127.0.0.1:0")
        .validate(dir.path().to_path_buf())
        .unwrap();
    let store = store::SqliteStore::open(dir.path().join("cases.db"), store::SqliteOptions::default()).await.unwrap();
    let log = Arc::new(
        node::transparency::Transparency::open_or_create(&dir.path().join("data/log"), "AA.custodia").unwrap(),
    );
    let cases = Arc::new(node::cases::Cases::new(Arc::new(store), log.clone(), "AA-central-authority", [4; 32]));
    let worker = node::auth::Caller { name: "cw".into(), role: case::Role::CaseWorker, token_id: "-".into() };
    let file: serde_json::Value = serde_json::from_slice(
        &std::fs::read(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/stored-data-confidential.case.json")).unwrap(),
    )
    .unwrap();
    cases.create(&worker, Some("r1".into()), case::Side::Requesting, &file, false, node::clock::now()).await.unwrap();
    cases.command(&worker, "r1", &case::Command::SubmitForAuthorization, None, node::clock::now()).await.unwrap();
    let app = node::api::app_with(config, Some(log), Some(cases.clone()), None);
    let send = |req: Request<Body>| {
        let app = app.clone();
        async move {
            let res = app.oneshot(req).await.unwrap();
            let (s, h) = (res.status(), res.headers().clone());
            (s, h, String::from_utf8(res.into_body().collect().await.unwrap().to_bytes().to_vec()).unwrap())
        }
    };
    // Not logged in: to the login page.
    let (s, h, _) = send(Request::builder().uri("/cases").body(Body::empty()).unwrap()).await;
    assert_eq!((s, h["location"].to_str().unwrap()), (StatusCode::SEE_OTHER, "/login"));
    let (_, h, _) = send(
        Request::builder()
            .method("POST")
            .uri("/login")
            .header("content-type", "application/x-www-form-urlencoded")
            .body(Body::from("name=ada&password=correct+horse+battery+staple"))
            .unwrap(),
    )
    .await;
    let sid = h["set-cookie"].to_str().unwrap().split(';').next().unwrap().to_string();
    let get = |uri: &str| Request::builder().uri(uri).header("cookie", &sid).body(Body::empty()).unwrap();
    let (s, _, list) = send(get("/cases")).await;
    assert_eq!(s, StatusCode::OK);
    assert!(list.contains("a judge: authorize or refuse"), "{list}");
    let (_, _, page) = send(get("/cases/r1")).await;
    assert!(
        page.contains("<legend>authorize</legend>") && page.contains("<legend>refuse authorization</legend>"),
        "{page}"
    );
    assert!(!page.contains("<legend>send</legend>"), "a judge does not send");
    assert!(page.contains("[UNCC 40(15), 42(2)]") || page.contains("Decision: <strong>"), "the policy is shown");
    let csrf = page.split("name=\"csrf\" value=\"").nth(1).unwrap().split('"').next().unwrap().to_string();
    let post = |body: String| {
        Request::builder()
            .method("POST")
            .uri("/cases/r1")
            .header("cookie", &sid)
            .header("content-type", "application/x-www-form-urlencoded")
            .body(Body::from(body))
            .unwrap()
    };
    // Without reasons: refused, and the page says why.
    let (_, _, page) = send(post(format!("csrf={csrf}&command=authorize&reference=IJ-1&reasons="))).await;
    assert!(page.contains("Not done: `authorize` needs reasons"), "{page}");
    // Without the CSRF token: refused outright.
    let (s, _, _) = send(post("command=authorize&reference=IJ-1&reasons=ok".into())).await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    let (_, _, page) =
        send(post(format!("csrf={csrf}&command=authorize&reference=IJ-1&reasons=Necessary+and+proportionate."))).await;
    assert!(page.contains("Done: authorized."), "{page}");
    // The history shows the reasons and where the authorization is in the log (each view
    // of the page is itself logged as an access, so the entry is found, not assumed).
    let judge = node::auth::Caller { name: "j".into(), role: case::Role::Judge, token_id: "-".into() };
    let events = cases.events(&judge, "r1").await.unwrap();
    let authorized = events.iter().find(|e| e.event["kind"] == "authorized").expect("an authorized event");
    let entry = format!("#{}", authorized.log_index.unwrap());
    assert!(
        page.contains("Necessary and proportionate.") && page.contains(&entry),
        "the history shows the reasons and the log entry {entry}"
    );
    // Each view of the page was an access, recorded with the judge's role.
    let accesses = cases.accesses(&judge, "r1").await.unwrap();
    assert!(accesses.iter().filter(|a| a.what == "page" && a.role == "judge").count() >= 3, "{accesses:?}");
}

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

/// The drafting page opens a requesting case from the draft, as `POST /api/v1/cases`
/// does, with a plain form post (no JavaScript) carrying the session's CSRF token, and
/// goes on to the case's page; a draft that is not a valid case file opens nothing and
/// comes back with why.
#[tokio::test]
async fn a_case_worker_opens_a_case_from_the_draft() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("data")).unwrap();
    std::fs::write(dir.path().join("profiles.json"), node::DEFAULT_PROFILES).unwrap();
    let users = node::users::Users::new(dir.path().join("data/users.json"));
    users.add("cw", "case_worker", "correct horse battery staple").unwrap();
    users.add("ada", "judge", "correct horse battery staple").unwrap();
    let config = Config::example("AA-central-authority", PartyRole::CentralAuthority, "AA", "127.0.0.1:0")
        .validate(dir.path().to_path_buf())
        .unwrap();
    let store = store::SqliteStore::open(dir.path().join("cases.db"), store::SqliteOptions::default()).await.unwrap();
    let log = Arc::new(
        node::transparency::Transparency::open_or_create(&dir.path().join("data/log"), "AA.custodia").unwrap(),
    );
    let cases = Arc::new(node::cases::Cases::new(Arc::new(store), log.clone(), "AA-central-authority", [5; 32]));
    let app = node::api::app_with(config, Some(log), Some(cases.clone()), None);
    let send = |req: Request<Body>| {
        let app = app.clone();
        async move {
            let res = app.oneshot(req).await.unwrap();
            let (s, h) = (res.status(), res.headers().clone());
            (s, h, String::from_utf8(res.into_body().collect().await.unwrap().to_bytes().to_vec()).unwrap())
        }
    };
    let login = |name: &str| {
        Request::builder()
            .method("POST")
            .uri("/login")
            .header("content-type", "application/x-www-form-urlencoded")
            .body(Body::from(format!("name={name}&password=correct+horse+battery+staple")))
            .unwrap()
    };
    let (_, h, _) = send(login("cw")).await;
    let sid = h["set-cookie"].to_str().unwrap().split(';').next().unwrap().to_string();
    let get = |uri: &str, sid: &str| Request::builder().uri(uri).header("cookie", sid).body(Body::empty()).unwrap();
    let post = |body: String, sid: &str| {
        Request::builder()
            .method("POST")
            .uri("/cases")
            .header("cookie", sid)
            .header("content-type", "application/x-www-form-urlencoded")
            .body(Body::from(body))
            .unwrap()
    };
    let opened = || async {
        let admin = node::auth::Caller { name: "x".into(), role: case::Role::Administrator, token_id: "-".into() };
        cases.list(&admin, None, None, 1000, node::clock::today()).await.unwrap().0.len()
    };

    // The form offers to open the case, in the form itself (a plain post), with the token.
    let (s, h, page) = send(get("/draft", &sid)).await;
    assert_eq!(s, StatusCode::OK);
    assert!(h["content-security-policy"].to_str().unwrap().contains("script-src 'self'"));
    let csrf = page.split("name=\"csrf\" value=\"").nth(1).expect("the session's token").split('"').next().unwrap();
    assert!(page.contains("formaction=\"/cases\" formmethod=\"post\""), "{page}");
    // Nobody logged in, or a judge: no such button, and why.
    let (_, _, anon) = send(Request::builder().uri("/draft").body(Body::empty()).unwrap()).await;
    assert!(!anon.contains("formaction=\"/cases\"") && anon.contains("as a case worker to open this draft"));
    let (_, h, _) = send(login("ada")).await;
    let judge = h["set-cookie"].to_str().unwrap().split(';').next().unwrap().to_string();
    let (_, _, page) = send(get("/draft", &judge)).await;
    assert!(!page.contains("formaction=\"/cases\"") && page.contains("Your role does not open requests"));

    let draft = "requesting_state=AA&requested_state=BB&instrument=uncc&measure=stored_data\
        &offence.conduct=computer_fraud&offence.max_penalty_years=5&facts=Phishing+of+bank+customers\
        &data.categories=content&data.identifiers=suspect%40mail.example&data.from=2026-01-01&data.to=2026-03-31";
    // Without the token, or with another session's: refused, nothing opened.
    let (s, _, _) = send(post(draft.to_string(), &sid)).await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    let (s, _, _) = send(post(format!("{draft}&csrf={csrf}"), &judge)).await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    assert_eq!(opened().await, 0);
    // A judge with their own token: the lifecycle refuses the role; nothing opened.
    let (_, _, me) = send(get("/me", &judge)).await;
    let jcsrf = me.split("X-CSRF-Token: ").nth(1).unwrap().split('<').next().unwrap();
    let (s, _, page) = send(post(format!("{draft}&csrf={jcsrf}"), &judge)).await;
    assert_eq!(s, StatusCode::FORBIDDEN, "{page}");
    assert!(page.contains("Not opened:"), "{page}");
    assert_eq!(opened().await, 0);

    // Not a valid case file (the same State on both sides): nothing opened, the draft
    // comes back with the problem next to its field and the reason.
    let bad = "requesting_state=AA&requested_state=AA&instrument=uncc&measure=stored_data&facts=Kept+as+typed";
    let (s, _, page) = send(post(format!("{bad}&csrf={csrf}"), &sid)).await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{page}");
    assert!(page.contains("role=\"alert\">Not opened:"), "{page}");
    assert!(page.contains("Kept as typed"), "the draft is kept: {page}");
    assert!(page.contains("level-invalid"), "the problem is shown: {page}");
    assert_eq!(opened().await, 0);

    // A valid draft: opened as a requesting case in draft, then its page.
    let (s, h, _) = send(post(format!("{draft}&csrf={csrf}&open=1"), &sid)).await;
    assert_eq!(s, StatusCode::SEE_OTHER);
    let to = h["location"].to_str().unwrap().to_string();
    assert!(to.starts_with("/cases/case-"), "{to}");
    let (s, _, page) = send(get(&to, &sid)).await;
    assert_eq!(s, StatusCode::OK, "{page}");
    assert!(
        page.contains("<legend>submit for authorization</legend>") || page.contains("<legend>send</legend>"),
        "{page}"
    );
    assert_eq!(opened().await, 1);
    let id = to.trim_start_matches("/cases/");
    let (_, _, list) = send(get("/cases", &sid)).await;
    assert!(list.contains(&format!("href=\"/cases/{id}\"")), "on the case worker's list: {list}");
    // The same as the API: the case, its side and its case file's request.
    let worker = node::auth::Caller { name: "cw".into(), role: case::Role::CaseWorker, token_id: "-".into() };
    let view = cases.get(&worker, id, node::clock::today()).await.unwrap();
    assert_eq!(view.case["side"], "requesting");
    assert_eq!(view.case["state"], "draft");
    let file: serde_json::Value = serde_json::from_str(view.case["case_file"].as_str().unwrap()).unwrap();
    assert_eq!(file["request"]["facts"], "Phishing of bank customers");
    assert_eq!(file["request"]["data"]["identifiers"], serde_json::json!(["suspect@mail.example"]));

    // A draft the policy refuses is opened like any other (as the API does), and its page
    // shows the grounds with their articles.
    let refused = draft.replace("computer_fraud", "criticism_of_government");
    let (s, h, _) = send(post(format!("{refused}&csrf={csrf}"), &sid)).await;
    assert_eq!(s, StatusCode::SEE_OTHER);
    let (_, _, page) = send(get(h["location"].to_str().unwrap(), &sid)).await;
    assert!(page.contains("refused") && page.contains("[UNCC 6(2), 40(22)]"), "{page}");
    assert_eq!(opened().await, 2);
}

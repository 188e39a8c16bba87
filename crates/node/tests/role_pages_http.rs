//! The main page of each role: each refuses the other roles; the judge's queue shows the
//! policy's grounds, the history and a form that asks for reasons, and forgets an item
//! once it is decided; the central authority sees incoming requests with the decision
//! form; the provider sees its inbox, its holds with the days left and the evidence
//! upload; oversight sees charts with their text alternatives.

use std::sync::Arc;

use axum::body::Body;
use axum::http::{HeaderMap, Request, StatusCode};
use http_body_util::BodyExt;
use node::{Config, PartyRole};
use tower::ServiceExt;

const PASSWORD: &str = "correct horse battery staple";

/// Every role that logs in, and the page that is its own.
const ROLES: &[(&str, Option<&str>)] = &[
    ("case_worker", None),
    ("judge", Some("/judge")),
    ("central_authority", Some("/authority")),
    ("point_of_contact", None),
    ("provider_legal", Some("/provider")),
    ("oversight", Some("/oversight")),
];

const PAGES: &[&str] = &["/judge", "/authority", "/provider", "/oversight"];

struct Node {
    app: axum::Router,
    cases: Arc<node::cases::Cases>,
    _dir: tempfile::TempDir,
}

fn file(name: &str) -> serde_json::Value {
    let path = format!("{}/tests/data/{name}", env!("CARGO_MANIFEST_DIR"));
    serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap()
}

fn who(role: case::Role) -> node::auth::Caller {
    node::auth::Caller { name: "t".into(), role, token_id: "-".into() }
}

async fn node() -> Node {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("data")).unwrap();
    let users = node::users::Users::new(dir.path().join("data/users.json"));
    for (role, _) in ROLES {
        users.add(role, role, PASSWORD).unwrap();
    }
    let config = Config::example("BB-central-authority", PartyRole::CentralAuthority, "BB", "127.0.0.1:0")
        .validate(dir.path().to_path_buf())
        .unwrap();
    let store = store::SqliteStore::open(dir.path().join("cases.db"), store::SqliteOptions::default()).await.unwrap();
    let log = Arc::new(
        node::transparency::Transparency::open_or_create(&dir.path().join("data/log"), "BB.custodia").unwrap(),
    );
    let cases = Arc::new(node::cases::Cases::new(Arc::new(store), log.clone(), "BB-central-authority", [7; 32]));
    let app = node::api::app_with(config, Some(log), Some(cases.clone()), None);
    Node { app, cases, _dir: dir }
}

async fn send(app: &axum::Router, req: Request<Body>) -> (StatusCode, HeaderMap, String) {
    let res = app.clone().oneshot(req).await.unwrap();
    let (s, h) = (res.status(), res.headers().clone());
    (s, h, String::from_utf8(res.into_body().collect().await.unwrap().to_bytes().to_vec()).unwrap())
}

async fn login(app: &axum::Router, name: &str) -> String {
    let (_, h, _) = send(
        app,
        Request::builder()
            .method("POST")
            .uri("/login")
            .header("content-type", "application/x-www-form-urlencoded")
            .body(Body::from(format!("name={name}&password={}", PASSWORD.replace(' ', "+"))))
            .unwrap(),
    )
    .await;
    h["set-cookie"].to_str().unwrap().split(';').next().unwrap().to_string()
}

fn get(uri: &str, sid: &str) -> Request<Body> {
    Request::builder().uri(uri).header("cookie", sid).body(Body::empty()).unwrap()
}

#[tokio::test]
async fn each_role_page_refuses_the_other_roles() {
    let n = node().await;
    for page in PAGES {
        let (s, h, _) = send(&n.app, Request::builder().uri(*page).body(Body::empty()).unwrap()).await;
        assert_eq!((s, h["location"].to_str().unwrap()), (StatusCode::SEE_OTHER, "/login"), "{page} without a session");
    }
    for (role, own) in ROLES {
        let sid = login(&n.app, role).await;
        for page in PAGES {
            let (s, h, body) = send(&n.app, get(page, &sid)).await;
            if Some(*page) == *own {
                assert_eq!(s, StatusCode::OK, "{role} on its own page {page}: {body}");
                assert!(h["content-security-policy"].to_str().unwrap().contains("script-src 'self'"));
            } else {
                assert_eq!(s, StatusCode::FORBIDDEN, "{role} on {page}");
                assert!(body.contains("This page is for") && body.contains("role=\"alert\""), "{body}");
                assert!(!body.contains("<section"), "nothing of the page itself");
            }
        }
    }
}

#[tokio::test]
async fn the_judge_queue_asks_for_reasons_shows_grounds_and_history_and_forgets_what_was_decided() {
    let n = node().await;
    let worker = who(case::Role::CaseWorker);
    let f = file("stored-data-confidential.case.json");
    n.cases.create(&worker, Some("r1".into()), case::Side::Requesting, &f, false, node::clock::now()).await.unwrap();
    n.cases.command(&worker, "r1", &case::Command::SubmitForAuthorization, None, node::clock::now()).await.unwrap();
    let sid = login(&n.app, "judge").await;
    let (s, _, page) = send(&n.app, get("/judge", &sid)).await;
    assert_eq!(s, StatusCode::OK);
    let item = page.split("data-case=\"r1\"").nth(1).expect("r1 is in the queue");
    let item = item.split("</article>").next().unwrap();
    assert!(item.contains("authorize or refuse this request"), "{item}");
    assert!(item.contains("The policy today: <strong>"), "the policy's outcome: {item}");
    assert!(
        item.contains("No ground applies.") && item.contains("<span class=\"article\">[UNCC"),
        "the policy's grounds (none here) and conditions with their articles: {item}"
    );
    assert!(item.contains("submitted for authorization"), "the history: {item}");
    assert!(
        item.contains("<time datetime=\"") && item.contains(" UTC</time>"),
        "times in UTC, marked for the reader's zone"
    );
    assert!(
        item.contains("name=\"reasons\" rows=\"3\" required") && item.contains("<legend>authorize</legend>"),
        "the decision asks for reasons: {item}"
    );
    assert!(item.contains("<legend>refuse authorization</legend>"));
    assert!(page.contains("Authorizations <span class=\"count\">(1)</span>"));
    // Showing it in full is an access to the case, committed to the log before the answer.
    let accesses = n.cases.accesses(&who(case::Role::Oversight), "r1").await.unwrap();
    assert!(accesses.iter().any(|a| a.what == "page" && a.role == "judge" && a.actor == "judge"), "{accesses:?}");
    // Decide through the form the queue shows (the case page's handler runs the command).
    let csrf = item.split("name=\"csrf\" value=\"").nth(1).unwrap().split('"').next().unwrap();
    let (_, _, done) = send(
        &n.app,
        Request::builder()
            .method("POST")
            .uri("/cases/r1")
            .header("cookie", &sid)
            .header("content-type", "application/x-www-form-urlencoded")
            .body(Body::from(format!(
                "csrf={csrf}&command=authorize&reference=IJ-7&reasons=Necessary+and+proportionate."
            )))
            .unwrap(),
    )
    .await;
    assert!(done.contains("Done: authorized."), "{done}");
    let (_, _, page) = send(&n.app, get("/judge", &sid)).await;
    assert!(!page.contains("data-case=\"r1\""), "a decided authorization leaves the queue");
    assert!(page.contains("Authorizations <span class=\"count\">(0)</span>"), "{page}");
    // A case opened after the queue was last shown appears in it.
    n.cases.create(&worker, Some("r2".into()), case::Side::Requesting, &f, false, node::clock::now()).await.unwrap();
    n.cases.command(&worker, "r2", &case::Command::SubmitForAuthorization, None, node::clock::now()).await.unwrap();
    let (_, _, page) = send(&n.app, get("/judge", &sid)).await;
    assert!(page.contains("data-case=\"r2\"") && page.contains("Authorizations <span class=\"count\">(1)</span>"));
    // Its confidentiality order (the case file asks for one) is before the judge when it
    // ends within 30 days; this one ends later, so it is not.
    assert!(page.contains("No confidentiality order ends within 30 days."), "{page}");
}

#[tokio::test]
async fn the_authority_decides_incoming_requests_and_the_provider_sees_inbox_holds_and_upload() {
    let n = node().await;
    let peer = who(case::Role::Peer);
    let f = file("admissible-stored-data.case.json");
    n.cases.create(&peer, Some("AA:in-1".into()), case::Side::Requested, &f, false, node::clock::now()).await.unwrap();
    let sid = login(&n.app, "central_authority").await;
    let (_, _, page) = send(&n.app, get("/authority", &sid)).await;
    let item = page.split("data-case=\"AA:in-1\"").nth(1).expect("the incoming request is listed");
    let item = item.split("</article>").next().unwrap();
    assert!(item.contains("decide on this request") && item.contains("The policy today: <strong>"), "{item}");
    for action in ["admit", "consult", "postpone", "refuse"] {
        assert!(item.contains(&format!("<option value=\"{action}\">")), "{action} is offered: {item}");
    }
    assert!(item.contains("name=\"reasons\""), "reasons are asked");

    // The provider's side of a routed request: inbox, then a hold with the days left.
    n.cases.create(&peer, Some("BB:AA:p-1".into()), case::Side::Provider, &f, false, node::clock::now()).await.unwrap();
    let sid = login(&n.app, "provider_legal").await;
    let (_, _, page) = send(&n.app, get("/provider", &sid)).await;
    let item = page.split("data-case=\"BB:AA:p-1\"").nth(1).expect("in the inbox").split("</article>").next().unwrap();
    assert!(
        item.contains("<legend>object</legend>") && item.contains("name=\"grounds\""),
        "the objection form: {item}"
    );
    assert!(!page.contains("data-case=\"AA:in-1\""), "a provider sees only its own side");
    let legal = who(case::Role::ProviderLegal);
    n.cases.command(&legal, "BB:AA:p-1", &case::Command::ProviderAcknowledge, None, node::clock::now()).await.unwrap();
    let (_, _, page) = send(&n.app, get("/provider", &sid)).await;
    let item = page.split("data-case=\"BB:AA:p-1\"").nth(1).unwrap().split("</article>").next().unwrap();
    assert!(item.contains("data-upload") && item.contains("<progress"), "the evidence upload: {item}");
    let until = node::clock::today().add_days(75);
    n.cases.command(&legal, "BB:AA:p-1", &case::Command::PlaceHold { until }, None, node::clock::now()).await.unwrap();
    let (_, _, page) = send(&n.app, get("/provider", &sid)).await;
    let holds = page.split("id=\"q-holds\"").nth(1).unwrap().split("</section>").next().unwrap();
    assert!(holds.contains(&format!("held until {until}")), "{holds}");
    assert!(holds.contains("<dt>Days left</dt><dd class=\"days\">75</dd>"), "{holds}");
}

#[tokio::test]
async fn oversight_and_public_charts_are_svg_with_text_alternatives() {
    let n = node().await;
    let peer = who(case::Role::Peer);
    let f = file("admissible-stored-data.case.json");
    for i in 0..3 {
        n.cases
            .create(&peer, Some(format!("AA:o-{i}")), case::Side::Requested, &f, false, node::clock::now())
            .await
            .unwrap();
    }
    let sid = login(&n.app, "oversight").await;
    let (s, _, page) = send(&n.app, get("/oversight", &sid)).await;
    assert_eq!(s, StatusCode::OK);
    assert!(
        page.contains("<svg role=\"img\" aria-label=\"Requests by requesting State (requests): AA: 3\""),
        "a chart with its label: {page}"
    );
    assert!(page.contains("<details><summary>The figures as a table</summary>"));
    assert!(page.contains("<th scope=\"row\">received</th><td class=\"num\">3</td>"), "{page}");
    assert!(!page.contains("style=\""), "nothing inline for the CSP to block");
    assert!(!page.contains("\"facts\""), "oversight sees no case file");
    let (s, _, public) = send(&n.app, Request::builder().uri("/").body(Body::empty()).unwrap()).await;
    assert_eq!(s, StatusCode::OK);
    assert!(
        public.contains("<svg role=\"img\" aria-label=\"Events committed, by kind (commitments): created: 3\""),
        "{public}"
    );
    assert!(public.contains("custodia log verify http://"), "a node without TLS names http://");
}

/// The session's CSRF token, from the account page.
async fn csrf(app: &axum::Router, sid: &str) -> String {
    let (_, _, me) = send(app, get("/me", sid)).await;
    me.split("X-CSRF-Token: ").nth(1).expect("the account page shows the token").split('<').next().unwrap().to_string()
}

/// The ids that `GET /api/v1/cases` lists for a session.
async fn api_list(app: &axum::Router, sid: &str) -> Vec<String> {
    let (s, _, body) = send(app, get("/api/v1/cases?limit=1000", sid)).await;
    assert_eq!(s, StatusCode::OK, "{body}");
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    let mut ids: Vec<String> =
        v["items"].as_array().unwrap().iter().map(|c| c["case"]["id"].as_str().unwrap().to_string()).collect();
    ids.sort();
    ids
}

/// The case ids linked from `/cases` for a session.
async fn page_list(app: &axum::Router, sid: &str) -> Vec<String> {
    let (s, _, page) = send(app, get("/cases", sid)).await;
    assert_eq!(s, StatusCode::OK, "{page}");
    let mut ids: Vec<String> = page
        .split("<th scope=\"row\"><a href=\"/cases/")
        .skip(1)
        .map(|x| x.split('"').next().unwrap().to_string())
        .collect();
    ids.sort();
    ids
}

#[tokio::test]
async fn a_case_worker_lists_the_cases_they_opened_and_the_other_roles_what_their_role_sees() {
    let n = node().await;
    let users = node::users::Users::new(n._dir.path().join("data/users.json"));
    users.add("case_worker_2", "case_worker", PASSWORD).unwrap();
    users.add("administrator", "administrator", PASSWORD).unwrap();
    let f = file("admissible-stored-data.case.json");
    // Each case worker opens a request through the API, with their session.
    for (name, id) in [("case_worker", "mine-1"), ("case_worker_2", "mine-2")] {
        let sid = login(&n.app, name).await;
        let token = csrf(&n.app, &sid).await;
        let (s, _, body) = send(
            &n.app,
            Request::builder()
                .method("POST")
                .uri("/api/v1/cases")
                .header("cookie", &sid)
                .header("x-csrf-token", token)
                .header("content-type", "application/json")
                .body(Body::from(serde_json::json!({ "id": id, "side": "requesting", "case_file": f }).to_string()))
                .unwrap(),
        )
        .await;
        assert_eq!(s, StatusCode::CREATED, "{body}");
    }
    // A request from another State, and one opened by a program's token.
    n.cases
        .create(&who(case::Role::Peer), Some("AA:in-1".into()), case::Side::Requested, &f, false, node::clock::now())
        .await
        .unwrap();
    n.cases
        .create(
            &who(case::Role::CaseWorker),
            Some("other-1".into()),
            case::Side::Requesting,
            &f,
            false,
            node::clock::now(),
        )
        .await
        .unwrap();
    for (name, want) in [("case_worker", vec!["mine-1"]), ("case_worker_2", vec!["mine-2"])] {
        let sid = login(&n.app, name).await;
        assert_eq!(page_list(&n.app, &sid).await, want, "{name} on /cases");
        assert_eq!(api_list(&n.app, &sid).await, want, "{name} through the API");
    }
    let (_, _, page) = send(&n.app, get("/cases", &login(&n.app, "case_worker").await)).await;
    assert!(page.contains("The cases you opened"), "{page}");
    // The other roles keep what their role sees: every case of the node for the
    // administrator (metadata) and the central authority (but the provider's side).
    let all = vec!["AA:in-1", "mine-1", "mine-2", "other-1"];
    for name in ["administrator", "central_authority", "judge"] {
        let sid = login(&n.app, name).await;
        assert_eq!(page_list(&n.app, &sid).await, all, "{name} on /cases");
        assert_eq!(api_list(&n.app, &sid).await, all, "{name} through the API");
    }
}

/// The role pages' whole passes over the cases, from `/metrics`.
async fn passes(app: &axum::Router) -> u64 {
    let (_, _, m) = send(app, Request::builder().uri("/metrics").body(Body::empty()).unwrap()).await;
    m.lines().find_map(|l| l.strip_prefix("custodia_role_pages_passes_total ")).expect("the metric").parse().unwrap()
}

#[tokio::test]
async fn the_pages_own_accesses_do_not_make_a_new_pass_over_the_cases() {
    let n = node().await;
    let worker = who(case::Role::CaseWorker);
    let f = file("stored-data-confidential.case.json");
    for i in 0..3 {
        let id = format!("r{i}");
        n.cases.create(&worker, Some(id.clone()), case::Side::Requesting, &f, false, node::clock::now()).await.unwrap();
        n.cases.command(&worker, &id, &case::Command::SubmitForAuthorization, None, node::clock::now()).await.unwrap();
    }
    let judge = login(&n.app, "judge").await;
    let (_, _, page) = send(&n.app, get("/judge", &judge)).await;
    assert!(page.contains("Authorizations <span class=\"count\">(3)</span>"), "{page}");
    assert_eq!(passes(&n.app).await, 1, "the first page makes the pass");
    // Each page commits its accesses to the log (the log grows), and the next pages are
    // brought up to date from those entries, without a new pass.
    let size = n.cases.log_size();
    for _ in 0..3 {
        let (s, _, _) = send(&n.app, get("/judge", &judge)).await;
        assert_eq!(s, StatusCode::OK);
    }
    assert!(n.cases.log_size() >= size + 9, "three accesses per page were logged");
    let ca = login(&n.app, "central_authority").await;
    send(&n.app, get("/authority", &ca)).await;
    send(&n.app, get("/cases", &ca)).await;
    assert_eq!(passes(&n.app).await, 1, "no new pass after the pages' own accesses");
    // A change to a case is read from the log's new entries too.
    n.cases
        .command(
            &worker,
            "r0",
            &case::Command::Withdraw { reasons: vec!["No longer needed.".into()] },
            None,
            node::clock::now(),
        )
        .await
        .unwrap();
    let (_, _, page) = send(&n.app, get("/judge", &judge)).await;
    assert!(page.contains("Authorizations <span class=\"count\">(2)</span>"), "{page}");
    assert_eq!(passes(&n.app).await, 1);
}

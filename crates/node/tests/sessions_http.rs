//! People log in: argon2id hashes, an HttpOnly SameSite=Strict session cookie, and a CSRF
//! token that every state-changing request made with the cookie must carry.

use std::sync::Arc;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use http_body_util::BodyExt;
use node::{Config, PartyRole};
use tower::ServiceExt;

#[tokio::test]
async fn login_session_and_csrf() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("data")).unwrap();
    let users = node::users::Users::new(dir.path().join("data/users.json"));
    assert!(matches!(users.add("alice", "judge", "short"), Err(node::users::UserError::WeakPassword)));
    assert!(matches!(users.add("alice", "peer", "a long enough password"), Err(node::users::UserError::BadRole(..))));
    users.add("alice", "central_authority", "a long enough password").unwrap();
    assert!(users.add("alice", "judge", "another long password").is_err(), "names are unique");
    let stored = std::fs::read_to_string(dir.path().join("data/users.json")).unwrap();
    assert!(stored.contains("$argon2id$") && !stored.contains("a long enough password"));

    let config = Config::example("BB-central-authority", PartyRole::CentralAuthority, "BB", "127.0.0.1:0")
        .validate(dir.path().to_path_buf())
        .unwrap();
    let store = store::SqliteStore::open(dir.path().join("cases.db"), store::SqliteOptions::default()).await.unwrap();
    let log = Arc::new(
        node::transparency::Transparency::open_or_create(&dir.path().join("data/log"), "BB.custodia").unwrap(),
    );
    let cases = Arc::new(node::cases::Cases::new(Arc::new(store), log.clone(), "BB-central-authority", [2; 32]));
    let app = node::api::app_with(config, Some(log), Some(cases), None);
    let send = |req: Request<Body>| {
        let app = app.clone();
        async move {
            let res = app.oneshot(req).await.unwrap();
            let (s, h) = (res.status(), res.headers().clone());
            (s, h, String::from_utf8(res.into_body().collect().await.unwrap().to_bytes().to_vec()).unwrap())
        }
    };
    let form = |body: &str| {
        Request::builder()
            .method("POST")
            .uri("/login")
            .header("content-type", "application/x-www-form-urlencoded")
            .body(Body::from(body.to_string()))
            .unwrap()
    };
    let (s, h, body) = send(form("name=alice&password=wrong+password+here")).await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
    assert!(h.get("set-cookie").is_none());
    assert!(body.contains("Wrong name or password."));
    let (s, _, _) = send(form("name=nobody&password=a+long+enough+password")).await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
    let (s, h, _) = send(form("name=alice&password=a+long+enough+password")).await;
    assert_eq!(s, StatusCode::SEE_OTHER);
    let cookie = h["set-cookie"].to_str().unwrap().to_string();
    assert!(cookie.contains("HttpOnly") && cookie.contains("SameSite=Strict"), "{cookie}");
    let sid = cookie.split(';').next().unwrap().to_string();
    let (s, _, me) = send(Request::builder().uri("/me").header("cookie", &sid).body(Body::empty()).unwrap()).await;
    assert_eq!(s, StatusCode::OK);
    let csrf = me.split("X-CSRF-Token: ").nth(1).unwrap().split('<').next().unwrap().to_string();
    // Reading with the cookie works; changing without the CSRF token does not.
    let (s, _, _) =
        send(Request::builder().uri("/api/v1/cases").header("cookie", &sid).body(Body::empty()).unwrap()).await;
    assert_eq!(s, StatusCode::OK);
    let file =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/stored-data-confidential.case.json"))
            .unwrap();
    let body = format!("{{\"id\": \"c1\", \"side\": \"requested\", \"case_file\": {file}}}");
    let post = |csrf: Option<&str>| {
        let mut b = Request::builder().method("POST").uri("/api/v1/cases").header("cookie", &sid);
        if let Some(c) = csrf {
            b = b.header("x-csrf-token", c);
        }
        b.body(Body::from(body.clone())).unwrap()
    };
    let (s, _, p) = send(post(None)).await;
    assert_eq!(s, StatusCode::FORBIDDEN, "{p}");
    assert!(p.contains("/problems/csrf"));
    let (s, _, _) = send(post(Some("forged"))).await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    let (s, _, p) = send(post(Some(&csrf))).await;
    assert_eq!(s, StatusCode::CREATED, "{p}");
    // Logging out ends the session.
    let (s, _, _) = send(
        Request::builder()
            .method("POST")
            .uri("/logout")
            .header("cookie", &sid)
            .header("content-type", "application/x-www-form-urlencoded")
            .body(Body::from(format!("csrf={csrf}")))
            .unwrap(),
    )
    .await;
    assert_eq!(s, StatusCode::SEE_OTHER);
    let (s, _, p) =
        send(Request::builder().uri("/api/v1/cases").header("cookie", &sid).body(Body::empty()).unwrap()).await;
    assert_eq!(s, StatusCode::UNAUTHORIZED, "{p}");
}

//! Cases through the HTTP API, on SQLite and (when DATABASE_URL names one) PostgreSQL:
//! the lifecycle, the log, need-to-know, the version conflict, and bad input.

use std::sync::Arc;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use http_body_util::BodyExt;
use node::{Config, PartyRole};
use serde_json::{Value, json};
use tower::ServiceExt;

struct Node {
    app: axum::Router,
    tokens: node::auth::Tokens,
    _dir: tempfile::TempDir,
}

async fn node_on(store: Arc<dyn store::Store>) -> Node {
    let dir = tempfile::tempdir().unwrap();
    let config = Config::example("BB-central-authority", PartyRole::CentralAuthority, "BB", "127.0.0.1:0")
        .validate(dir.path().to_path_buf())
        .unwrap();
    let log = Arc::new(
        node::transparency::Transparency::open_or_create(&dir.path().join("data/log"), "BB-central-authority.custodia")
            .unwrap(),
    );
    let cases = Arc::new(node::cases::Cases::new(store, log.clone(), "BB-central-authority", [7; 32]));
    let tokens = node::auth::Tokens::new(dir.path().join("data/tokens.json"));
    std::fs::create_dir_all(dir.path().join("data")).unwrap();
    Node { app: node::api::app_with(config, Some(log), Some(cases), None), tokens, _dir: dir }
}

impl Node {
    fn token(&self, role: &str) -> String {
        self.tokens.create(role, role, 0).unwrap().1
    }

    async fn call(
        &self,
        method: &str,
        uri: &str,
        token: Option<&str>,
        body: Option<Value>,
        if_match: Option<u64>,
    ) -> (StatusCode, Value) {
        let mut b = Request::builder().method(method).uri(uri);
        if let Some(t) = token {
            b = b.header("authorization", format!("Bearer {t}"));
        }
        if let Some(v) = if_match {
            b = b.header("if-match", v.to_string());
        }
        let req = b.body(body.map_or(Body::empty(), |v| Body::from(serde_json::to_vec(&v).unwrap()))).unwrap();
        let res = self.app.clone().oneshot(req).await.unwrap();
        let status = res.status();
        let bytes = res.into_body().collect().await.unwrap().to_bytes();
        (status, serde_json::from_slice(&bytes).unwrap_or(Value::Null))
    }
}

fn case_file(name: &str) -> Value {
    serde_json::from_slice(
        &std::fs::read(format!("{}/tests/data/{name}.case.json", env!("CARGO_MANIFEST_DIR"))).unwrap(),
    )
    .unwrap()
}

async fn scenario(store: Arc<dyn store::Store>) {
    let n = node_on(store).await;
    let (ca, judge, provider, oversight) =
        (n.token("central_authority"), n.token("judge"), n.token("provider_legal"), n.token("oversight"));
    // Bad input and authentication.
    let body = json!({ "id": "c1", "side": "requested", "case_file": case_file("stored-data-confidential") });
    assert_eq!(n.call("POST", "/api/v1/cases", None, Some(body.clone()), None).await.0, StatusCode::UNAUTHORIZED);
    assert_eq!(
        n.call("POST", "/api/v1/cases", Some("cst_forged"), Some(body.clone()), None).await.0,
        StatusCode::UNAUTHORIZED
    );
    let (s, p) =
        n.call("POST", "/api/v1/cases", Some(&ca), Some(json!({ "side": "sideways", "case_file": {} })), None).await;
    assert_eq!((s, p["field"].as_str()), (StatusCode::BAD_REQUEST, Some("side")));
    let (s, p) = n
        .call(
            "POST",
            "/api/v1/cases",
            Some(&ca),
            Some(json!({ "side": "requested", "case_file": { "as_of": 1 } })),
            None,
        )
        .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{p}");
    // The life of a case.
    let (s, v) = n.call("POST", "/api/v1/cases", Some(&ca), Some(body.clone()), None).await;
    assert_eq!(s, StatusCode::CREATED, "{v}");
    assert_eq!(v["version"], 1);
    assert_eq!(v["decision"]["outcome"], "admissible");
    assert_eq!(n.call("POST", "/api/v1/cases", Some(&ca), Some(body), None).await.0, StatusCode::CONFLICT);
    let cmd = |c: Value| Some(c);
    let (s, p) = n
        .call(
            "POST",
            "/api/v1/cases/c1/commands",
            Some(&judge),
            cmd(json!({ "command": "decide", "action": "admit", "reasons": [], "until": null })),
            None,
        )
        .await;
    assert_eq!(s, StatusCode::FORBIDDEN, "{p}");
    let (s, p) = n
        .call(
            "POST",
            "/api/v1/cases/c1/commands",
            Some(&ca),
            cmd(json!({ "command": "decide", "action": "refuse", "reasons": ["no"], "until": null })),
            None,
        )
        .await;
    assert_eq!((s, p["type"].as_str()), (StatusCode::UNPROCESSABLE_ENTITY, Some("/problems/command-refused")));
    let (s, v) = n
        .call(
            "POST",
            "/api/v1/cases/c1/commands",
            Some(&ca),
            cmd(json!({ "command": "decide", "action": "admit", "reasons": [], "until": null })),
            Some(1),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(v["case"]["version"], 2);
    // Two officers acting on version 2 at once: one wins, the other is told to reload.
    let route = json!({ "command": "route_to_provider", "provider": "Example Mail Ltd" });
    let (a, b) = tokio::join!(
        n.call("POST", "/api/v1/cases/c1/commands", Some(&ca), cmd(route.clone()), Some(2)),
        n.call("POST", "/api/v1/cases/c1/commands", Some(&ca), cmd(route.clone()), Some(2))
    );
    let mut statuses = [a.0, b.0];
    statuses.sort();
    assert_eq!(statuses, [StatusCode::OK, StatusCode::CONFLICT], "{a:?} {b:?}");
    for c in [json!({ "command": "object", "grounds": ["Overbroad"] })] {
        let (s, v) = n.call("POST", "/api/v1/cases/c1/commands", Some(&ca), cmd(c), None).await;
        assert_eq!(s, StatusCode::FORBIDDEN, "the objection comes from the provider's node (peer), {v}");
    }
    // Need-to-know: the provider's legal team does not see a requested-side case at all;
    // oversight sees metadata, never the case file.
    assert_eq!(n.call("GET", "/api/v1/cases/c1", Some(&provider), None, None).await.0, StatusCode::NOT_FOUND);
    let (s, v) = n.call("GET", "/api/v1/cases/c1", Some(&oversight), None, None).await;
    assert_eq!(s, StatusCode::OK);
    assert!(v["case"].get("case_file").is_none() && v.get("decision").is_none(), "{v}");
    let (_, v) = n.call("GET", "/api/v1/cases/c1", Some(&ca), None, None).await;
    assert!(v["case"]["case_file"].as_str().unwrap().contains("Phishing"));
    assert_eq!(v["case"]["state"], "routed");
    // Every event is committed to the log, in order; confidential ones stay unrevealed.
    let (_, events) = n.call("GET", "/api/v1/cases/c1/events", Some(&ca), None, None).await;
    let idx: Vec<_> = events.as_array().unwrap().iter().map(|e| e["log_index"].as_u64().unwrap()).collect();
    assert_eq!(idx, [0, 1, 2]);
    assert!(events.as_array().unwrap().iter().all(|e| e["revealed"] == false));
    // Every access to the case is itself recorded and committed to the log before it is
    // answered: two reads and a read of its events so far (the refused read is not one).
    let (s, acc) = n.call("GET", "/api/v1/cases/c1/accesses", Some(&oversight), None, None).await;
    assert_eq!(s, StatusCode::OK, "{acc}");
    let items = acc["items"].as_array().unwrap();
    let seen: Vec<(&str, &str)> =
        items.iter().map(|a| (a["role"].as_str().unwrap(), a["what"].as_str().unwrap())).collect();
    assert_eq!(seen, [("oversight", "read"), ("central_authority", "read"), ("central_authority", "events")]);
    let at: Vec<u64> = items.iter().map(|a| a["log_index"].as_u64().unwrap()).collect();
    assert!(at.windows(2).all(|w| w[0] < w[1]) && at[0] > 2, "{at:?}");
    assert_eq!(items[1]["actor"], "central_authority");
    assert_eq!(n.call("GET", "/api/v1/cases/c1/accesses", Some(&provider), None, None).await.0, StatusCode::NOT_FOUND);
    let (_, acc) = n.call("GET", "/api/v1/cases/c1/accesses", Some(&ca), None, None).await;
    assert_eq!(acc["items"].as_array().unwrap().len(), 4, "reading the accesses is an access too: {acc}");
    // A case without secrecy is revealed as it happens.
    let (s, _) = n
        .call(
            "POST",
            "/api/v1/cases",
            Some(&ca),
            Some(json!({ "id": "c2", "side": "requested", "case_file": case_file("subscriber-only") })),
            None,
        )
        .await;
    assert_eq!(s, StatusCode::CREATED);
    let (_, events) = n.call("GET", "/api/v1/cases/c2/events", Some(&ca), None, None).await;
    assert_eq!(events[0]["revealed"], true);
    let (_, stats) = n.call("GET", "/api/v1/transparency/statistics", None, None, None).await;
    assert_eq!(stats["commitments"]["created"], 2);
    assert_eq!(stats["revealed"], 1);
    assert_eq!(stats["secret"], 3);
    assert_eq!(stats["overdue"], 0);
    assert_eq!(stats["requests_by_measure"]["stored_data"], 1);
    // Accesses are counted by role from the log alone: c1's five, and c2's events read.
    assert_eq!(stats["accesses_by_role"]["central_authority"], 4, "{stats}");
    assert_eq!(stats["accesses_by_role"]["oversight"], 2, "{stats}");
    // Listing with cursors.
    let (_, page) = n.call("GET", "/api/v1/cases?limit=1", Some(&ca), None, None).await;
    assert_eq!(page["items"].as_array().unwrap().len(), 1);
    let next = page["next"].as_str().unwrap().to_string();
    let (_, page2) = n.call("GET", &format!("/api/v1/cases?limit=1&cursor={next}"), Some(&ca), None, None).await;
    assert_eq!(page2["items"][0]["case"]["id"], "c2");
    let (s, p) = n.call("GET", "/api/v1/cases?cursor=nonsense", Some(&ca), None, None).await;
    assert_eq!((s, p["field"].as_str()), (StatusCode::BAD_REQUEST, Some("cursor")));
    // A bad limit is a problem document naming it (found by schemathesis: axum's own
    // rejection was plain text, and 0 or 2^31 were accepted).
    for bad in ["0", "1001", "2147483648", "-1", "abc", ""] {
        let (s, p) = n.call("GET", &format!("/api/v1/cases?limit={bad}"), Some(&ca), None, None).await;
        assert_eq!((s, p["field"].as_str()), (StatusCode::BAD_REQUEST, Some("limit")), "limit={bad}: {p}");
    }
    let (s, _) =
        n.call("POST", "/api/v1/cases/c1/commands", Some(&ca), cmd(json!({ "command": "frobnicate" })), None).await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    assert_eq!(n.call("GET", "/api/v1/cases/none", Some(&ca), None, None).await.0, StatusCode::NOT_FOUND);
    // What an operator watches.
    let res = n.app.clone().oneshot(Request::builder().uri("/metrics").body(Body::empty()).unwrap()).await.unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let text = String::from_utf8(res.into_body().collect().await.unwrap().to_bytes().to_vec()).unwrap();
    assert!(text.contains("custodia_cases{kind=\"requested\",state=\"routed\"} 1"), "{text}");
    assert!(text.contains("custodia_commitments{status=\"overdue\"} 0"), "{text}");
    assert!(text.contains("custodia_log_entries "), "{text}");
    assert!(text.contains("custodia_http_requests_total{class=\"4xx\"}"), "{text}");
    assert!(text.contains("custodia_http_request_duration_seconds_bucket{le=\"+Inf\"}"), "{text}");
    assert!(text.contains("custodia_accesses{role=\"central_authority\"} 4"), "{text}");
}

#[tokio::test]
async fn cases_over_http_on_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    let s = store::SqliteStore::open(dir.path().join("cases.db"), store::SqliteOptions::default()).await.unwrap();
    scenario(Arc::new(s)).await;
}

#[tokio::test]
async fn cases_over_http_on_postgres() {
    let Ok(url) = std::env::var("DATABASE_URL") else {
        assert_ne!(std::env::var("CI").as_deref(), Ok("true"), "CI=true: set DATABASE_URL (.ci/run does)");
        eprintln!("SKIPPED: cases over HTTP on PostgreSQL (set DATABASE_URL=postgres://postgres@127.0.0.1:5432/test)");
        return;
    };
    let mut rnd = [0u8; 6];
    getrandom::fill(&mut rnd).unwrap();
    let schema = format!("node_test_{}", rnd.iter().map(|b| format!("{b:02x}")).collect::<String>());
    let s = store::PostgresStore::connect(store::PostgresOptions {
        schema: Some(schema.clone()),
        ..store::PostgresOptions::new(url)
    })
    .await
    .unwrap();
    let pool = s.pool().clone();
    scenario(Arc::new(s)).await;
    let _ = sqlx_drop(&pool, &schema).await;
}

async fn sqlx_drop(pool: &sqlx::PgPool, schema: &str) -> Result<(), String> {
    // The schema name is made above from hex digits only.
    sqlx::query(sqlx::AssertSqlSafe(format!("DROP SCHEMA {schema} CASCADE")))
        .execute(pool)
        .await
        .map(|_| ())
        .map_err(|e| e.to_string())
}

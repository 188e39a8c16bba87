//! The node's HTTP API, through the real router (no network).

use axum::body::Body;
use axum::http::{Request, StatusCode};
use http_body_util::BodyExt;
use node::{Config, PartyRole};
use serde_json::Value;
use tower::ServiceExt;

fn app() -> axum::Router {
    let config = Config::example("BB-central-authority", PartyRole::CentralAuthority, "BB", "127.0.0.1:0");
    node::api::app(config.validate(std::path::PathBuf::new()).unwrap())
}

async fn call(method: &str, uri: &str, body: Vec<u8>) -> (StatusCode, String, Value) {
    let req = Request::builder()
        .method(method)
        .uri(uri)
        .header("content-type", "application/json")
        .body(Body::from(body))
        .unwrap();
    let res = app().oneshot(req).await.unwrap();
    let status = res.status();
    let ctype = res.headers().get("content-type").map(|v| v.to_str().unwrap().to_owned()).unwrap_or_default();
    let bytes = res.into_body().collect().await.unwrap().to_bytes();
    (status, ctype, serde_json::from_slice(&bytes).unwrap_or(Value::Null))
}

fn data(name: &str) -> Vec<u8> {
    std::fs::read(format!("{}/tests/data/{name}.case.json", env!("CARGO_MANIFEST_DIR"))).unwrap()
}

#[tokio::test]
async fn policy_check_decides() {
    let (status, ctype, v) = call("POST", "/api/v1/policy/check", data("refused-protected-conduct-criticism")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(ctype, "application/json");
    assert_eq!(v["outcome"], "refused");
    assert_eq!(v["grounds"][0]["code"], "protected_conduct");
    assert_eq!(v["grounds"][0]["article"], "UNCC 6(2), 40(22)");
}

#[tokio::test]
async fn invalid_case_is_a_problem_document_naming_every_path() {
    let mut case: Value = serde_json::from_slice(&data("admissible-stored-data")).unwrap();
    case["request"]["offence"]["max_penalty_years"] = "eight".into();
    case["request"]["data"]["categories"] = serde_json::json!(["subscriber", "photos"]);
    let (status, ctype, v) = call("POST", "/api/v1/policy/check", serde_json::to_vec(&case).unwrap()).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(ctype, "application/problem+json");
    assert_eq!(v["type"], "/problems/invalid-case");
    // Both problems, each with its JSON path (their order follows the body's key order).
    let params = v["invalid-params"].as_array().unwrap();
    assert_eq!(params.len(), 2);
    let reason = |name: &str| params.iter().find(|p| p["name"] == name).map(|p| p["reason"].clone());
    assert_eq!(reason("request.data.categories[1]"), Some(Value::from("unknown category \"photos\"")));
    assert_eq!(reason("request.offence.max_penalty_years"), Some(Value::from("expected a number")));
    assert_eq!(v["field"], params[0]["name"], "the field at fault is the first problem's");
    let (status, _, v) = call("POST", "/api/v1/policy/check", b"{\"as_of\": ".to_vec()).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(v["detail"].as_str().unwrap().contains("unexpected end of input"));
}

#[tokio::test]
async fn oversize_body_and_unknown_route_are_problems() {
    let (status, ctype, v) = call("POST", "/api/v1/policy/check", vec![b' '; policy::json::MAX_INPUT_BYTES + 10]).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(ctype, "application/problem+json");
    assert_eq!(v["type"], "/problems/body-too-large");
    let (status, ctype, v) = call("GET", "/api/v1/nothing", vec![]).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(ctype, "application/problem+json");
    assert_eq!(v["status"], 404);
}

#[tokio::test]
async fn rules_and_node_info() {
    let (status, _, v) = call("GET", "/api/v1/policy/rules", vec![]).await;
    assert_eq!(status, StatusCode::OK);
    let rules = v.as_array().unwrap();
    assert_eq!(rules.len(), policy::rules::RULES.len() + policy::rules::CONDITIONS.len());
    assert!(rules.iter().any(|r| r["code"] == "out_of_scope" && r["article"] == "UNCC 2(h), 23(2), 35(1)"));
    let (_, _, v) = call("GET", "/api/v1/node", vec![]).await;
    assert_eq!(v["name"], "BB-central-authority");
    assert_eq!(v["role"], "central_authority");
}

/// The OpenAPI document, served and snapshotted: a change to the API shows up here.
#[tokio::test]
async fn openapi_document_is_served_and_stable() {
    let (status, _, served) = call("GET", "/api/v1/openapi.json", vec![]).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(served["openapi"], "3.1.0");
    assert!(served["paths"]["/api/v1/policy/check"]["post"].is_object());
    // Sorted, so that the snapshot does not depend on serde_json's map order (the
    // workspace may turn `preserve_order` on).
    insta::with_settings!({ sort_maps => true }, {
        insta::assert_json_snapshot!("openapi", served);
    });
}

#[test]
fn bad_configuration_names_the_key() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("node.toml");
    let write = |s: &str| std::fs::write(&path, s).unwrap();
    let good = Config::example("AA-court", PartyRole::Court, "AA", "127.0.0.1:8080").to_toml();
    write(&good);
    let ok = Config::load(&path).unwrap();
    assert_eq!(ok.config.node.role, PartyRole::Court);
    write(&good.replace("role = \"court\"", "role = \"judge\""));
    let e = Config::load(&path).unwrap_err();
    assert_eq!(e.key, "node.role");
    assert!(e.problem.contains("judge"), "{e}");
    write(&good.replace("127.0.0.1:8080", "localhost"));
    assert_eq!(Config::load(&path).unwrap_err().key, "http.listen");
    write(&good.replace("state = \"AA\"", "state = \"Aurelia\""));
    assert_eq!(Config::load(&path).unwrap_err().key, "node.state");
    write(&format!("{good}\n[extra]\nx = 1\n"));
    let e = Config::load(&path).unwrap_err();
    assert!(e.problem.contains("extra"), "{e}");
    write(&good.replace("sqlite://data/custodia.db", "mysql://x"));
    assert_eq!(Config::load(&path).unwrap_err().key, "storage.database");
    assert_eq!(Config::load(&dir.path().join("missing.toml")).unwrap_err().problem, "no such configuration file");
}

/// The log is served as tlog-tiles static paths with the spec's content types and cache
/// headers; the design's real Sunlight tree is the fixture.
#[tokio::test]
async fn log_is_served_as_tlog_tiles() {
    let dir = tempfile::tempdir().unwrap();
    let src = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../tlog/tests/fixtures/sunlight-mirror-300");
    if !src.is_dir() {
        panic!("the tlog fixture is missing at {}", src.display());
    }
    copy_dir(&src, &dir.path().join("data/log"));
    let config = Config::example("BB-central-authority", PartyRole::CentralAuthority, "BB", "127.0.0.1:0");
    let app = node::api::app(config.validate(dir.path().to_path_buf()).unwrap());
    let get = |uri: &str| Request::builder().uri(uri).body(Body::empty()).unwrap();
    let res = app.clone().oneshot(get("/log/checkpoint")).await.unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(res.headers()["content-type"], "text/plain; charset=utf-8");
    assert_eq!(res.headers()["cache-control"], node::log::CHECKPOINT_CACHE);
    let body = res.into_body().collect().await.unwrap().to_bytes();
    assert!(
        body.ends_with(b"\n") && body.split(|b| *b == b'\n').nth(1) == Some(b"300"),
        "{}",
        String::from_utf8_lossy(&body)
    );
    let res = app.clone().oneshot(get("/log/tile/0/000")).await.unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(res.headers()["content-type"], "application/octet-stream");
    assert_eq!(res.headers()["cache-control"], node::log::TILE_CACHE);
    assert_eq!(res.into_body().collect().await.unwrap().to_bytes().len(), 8192);
    let res = app.clone().oneshot(get("/log/tile/entries/001.p/44")).await.unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert!(res.headers().get("content-encoding").is_none());
    assert_eq!(res.headers()["vary"], "Accept-Encoding");
    let plain = res.into_body().collect().await.unwrap().to_bytes();
    // Entry bundles are gzipped for a client that accepts it (tlog-tiles: "Entry bundles
    // SHOULD be compressed at the HTTP layer"); hash tiles and refusals of gzip are not.
    let accepting = |uri: &str, accept: &str| {
        Request::builder().uri(uri).header("accept-encoding", accept).body(Body::empty()).unwrap()
    };
    let res = app.clone().oneshot(accepting("/log/tile/entries/001.p/44", "br, gzip;q=0.8, identity")).await.unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(res.headers()["content-encoding"], "gzip");
    assert_eq!(res.headers()["cache-control"], node::log::TILE_CACHE);
    let gz = res.into_body().collect().await.unwrap().to_bytes();
    let mut unzipped = Vec::new();
    std::io::Read::read_to_end(&mut flate2::read::GzDecoder::new(&gz[..]), &mut unzipped).unwrap();
    assert_eq!(unzipped, plain);
    let res = app.clone().oneshot(accepting("/log/tile/entries/001.p/44", "gzip;q=0, identity")).await.unwrap();
    assert!(res.headers().get("content-encoding").is_none());
    assert_eq!(res.into_body().collect().await.unwrap().to_bytes(), plain);
    let res = app.clone().oneshot(accepting("/log/tile/entries/001.p/44", "*")).await.unwrap();
    assert_eq!(res.headers()["content-encoding"], "gzip", "* accepts gzip");
    let res = app.clone().oneshot(accepting("/log/tile/entries/001.p/44", "gzip;q=0, *")).await.unwrap();
    assert!(res.headers().get("content-encoding").is_none(), "gzip refused by name, whatever * says");
    let res = app.clone().oneshot(accepting("/log/tile/0/000", "gzip")).await.unwrap();
    assert!(res.headers().get("content-encoding").is_none());
    // Files beyond the checkpoint (size 300) exist, as a batch in progress or a crash
    // leaves them: they are not served.
    for (path, len) in [("tile/entries/001.p/45", 10), ("tile/0/001.p/45", 45 * 32), ("tile/1/000.p/2", 64)] {
        let file = dir.path().join("data/log").join(path);
        std::fs::create_dir_all(file.parent().unwrap()).unwrap();
        std::fs::write(&file, vec![7u8; len]).unwrap();
        let res = app.clone().oneshot(get(&format!("/log/{path}"))).await.unwrap();
        assert_eq!(res.status(), StatusCode::NOT_FOUND, "{path}");
        let body = res.into_body().collect().await.unwrap().to_bytes();
        let v: Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(v["detail"], format!("{path} lies beyond the log's checkpoint (size 300)"));
    }
    let res = app.clone().oneshot(get("/log/tile/1/000.p/1")).await.unwrap();
    assert_eq!(res.status(), StatusCode::OK, "a covered tile is still served");
    // A checkpoint file that is not a checkpoint: no tile is served, and the answer says why.
    let checkpoint = dir.path().join("data/log/checkpoint");
    let good = std::fs::read(&checkpoint).unwrap();
    std::fs::write(&checkpoint, b"not a checkpoint\n").unwrap();
    let res = app.clone().oneshot(get("/log/tile/0/000")).await.unwrap();
    assert_eq!(res.status(), StatusCode::INTERNAL_SERVER_ERROR);
    assert_eq!(res.headers()["content-type"], "application/problem+json");
    let v: Value = serde_json::from_slice(&res.into_body().collect().await.unwrap().to_bytes()).unwrap();
    assert_eq!(v["detail"], "the log's checkpoint file is not a checkpoint");
    std::fs::write(&checkpoint, good).unwrap();
    for bad in
        ["/log/tile/0/1", "/log/tile/../checkpoint", "/log/tile/0/000.p/0", "/log/tile/0/x000/001", "/log/tile/0/002"]
    {
        let res = app.clone().oneshot(get(bad)).await.unwrap();
        assert_eq!(res.status(), StatusCode::NOT_FOUND, "{bad}");
        assert_eq!(res.headers()["content-type"], "application/problem+json", "{bad}");
    }
}

fn copy_dir(from: &std::path::Path, to: &std::path::Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        let target = to.join(e.file_name());
        if e.file_type().unwrap().is_dir() {
            copy_dir(&e.path(), &target);
        } else {
            std::fs::copy(e.path(), target).unwrap();
        }
    }
}

/// Commitments appended to the node's own log are counted by the statistics endpoint,
/// recomputed from the log's bundles.
#[tokio::test]
async fn statistics_are_recomputed_from_the_log() {
    use case::commitment::{Commitment, reveal_by};
    let dir = tempfile::tempdir().unwrap();
    let log =
        node::transparency::Transparency::open_or_create(&dir.path().join("data/log"), "BB-central-authority.custodia")
            .unwrap();
    assert!(log.verifier_key.starts_with("BB-central-authority.custodia+"));
    // A real case's events, committed as the node does.
    let file = String::from_utf8(data("stored-data-confidential")).unwrap();
    let now = case::Timestamp::parse("2026-11-25T09:00:00Z").unwrap();
    let create =
        case::Command::Create { id: "c1".into(), side: case::Side::Requested, case_file: file, emergency: false };
    let (mut c, created) = case::Case::create(&create, case::Role::Peer, now).unwrap();
    let mut events = vec![created];
    events.extend(
        c.execute(
            &case::Command::Decide { action: case::Action::Admit, reasons: vec![], until: None },
            case::Role::CentralAuthority,
            now,
        )
        .unwrap(),
    );
    let entries: Vec<Vec<u8>> = events
        .iter()
        .map(|e| Commitment::new("BB-central-authority", &[1; 32], e, &[e.seq as u8; 32], reveal_by(&c, e)).to_entry())
        .collect();
    assert_eq!(log.append(entries).unwrap(), 0);
    assert_eq!(log.size(), 2);
    let config = Config::example("BB-central-authority", PartyRole::CentralAuthority, "BB", "127.0.0.1:0");
    let app = node::api::app_with(
        config.validate(dir.path().to_path_buf()).unwrap(),
        Some(std::sync::Arc::new(log)),
        None,
        None,
    );
    let res = app
        .clone()
        .oneshot(Request::builder().uri("/api/v1/transparency/statistics").body(Body::empty()).unwrap())
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let v: Value = serde_json::from_slice(&res.into_body().collect().await.unwrap().to_bytes()).unwrap();
    assert_eq!(v["log_size"], 2);
    assert_eq!(v["commitments"]["created"], 1);
    assert_eq!(v["commitments"]["decided"], 1);
    assert_eq!(v["secret"].as_u64().unwrap() + v["overdue"].as_u64().unwrap(), 2);
    // The same log's tiles are served for anyone to recompute it.
    let res =
        app.oneshot(Request::builder().uri("/log/tile/entries/000.p/2").body(Body::empty()).unwrap()).await.unwrap();
    assert_eq!(res.status(), StatusCode::OK);
}

fn app_in(dir: &std::path::Path) -> axum::Router {
    std::fs::write(dir.join("profiles.json"), node::DEFAULT_PROFILES).unwrap();
    let config = Config::example("AA-central-authority", PartyRole::CentralAuthority, "AA", "127.0.0.1:0");
    node::api::app(config.validate(dir.to_path_buf()).unwrap())
}

async fn text(app: axum::Router, req: Request<Body>) -> (StatusCode, axum::http::HeaderMap, String) {
    let res = app.oneshot(req).await.unwrap();
    let (status, headers) = (res.status(), res.headers().clone());
    (status, headers, String::from_utf8(res.into_body().collect().await.unwrap().to_bytes().to_vec()).unwrap())
}

/// The drafting page works without JavaScript (the form posts, the page comes back with
/// the decision and each ground next to its field) and with htmx (only the panel, plus
/// the notes out of band).
#[tokio::test]
async fn drafting_form_shows_each_ground_next_to_its_field() {
    let dir = tempfile::tempdir().unwrap();
    let app = app_in(dir.path());
    let (status, headers, html) =
        text(app.clone(), Request::builder().uri("/draft").body(Body::empty()).unwrap()).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(headers["content-security-policy"], node::ui::CSP);
    assert!(html.contains("<label for=\"f-offence-max_penalty_years\">"), "every input has a label");
    let form = "requesting_state=CC&requested_state=BB&instrument=uncc&measure=stored_data&offence.conduct=criticism_of_government&offence.max_penalty_years=5&data.categories=content&facts=Posts+online";
    let post = |hx: bool| {
        let mut b =
            Request::builder().method("POST").uri("/draft").header("content-type", "application/x-www-form-urlencoded");
        if hx {
            b = b.header("hx-request", "true");
        }
        b.body(Body::from(form)).unwrap()
    };
    let (status, _, html) = text(app.clone(), post(false)).await;
    assert_eq!(status, StatusCode::OK);
    assert!(html.contains("Decision if sent today: <strong>refused</strong>"), "{html}");
    // The ground sits next to the conduct field, with its article.
    let conduct_notes = html.split("id=\"n-offence-conduct\"").nth(1).unwrap().split("</div>").next().unwrap();
    assert!(conduct_notes.contains("[UNCC 6(2), 40(22)]"), "{conduct_notes}");
    let ja_notes = html.split("id=\"n-judicial_authorization\"").nth(1).unwrap().split("</div>").next().unwrap();
    assert!(ja_notes.contains("incomplete"), "{ja_notes}");
    assert!(html.contains("value=\"criticism_of_government\" checked"), "the form keeps what was entered");
    let (_, _, panel) = text(app.clone(), post(true)).await;
    assert!(!panel.contains("<html"), "htmx gets the panel only");
    assert!(panel.contains("hx-swap-oob=\"true\""));
    assert!(
        panel
            .contains("id=\"n-offence-conduct\" class=\"notes\" hx-swap-oob=\"true\"><p class=\"note level-refused\">")
    );
    // Input the schema rejects is shown next to its field too.
    let bad = Request::builder()
        .method("POST")
        .uri("/draft")
        .header("content-type", "application/x-www-form-urlencoded")
        .body(Body::from("requesting_state=AA&requested_state=AA&measure=stored_data&duration_days=0"))
        .unwrap();
    let (_, _, html) = text(app, bad).await;
    let notes = |field: &str| {
        html.split(&format!("id=\"n-{field}\"")).nth(1).unwrap().split("</div>").next().unwrap().to_string()
    };
    assert!(notes("requested_state").contains("must differ from request.requesting_state"), "{html}");
    assert!(notes("instrument").contains("required key is missing"));
    assert!(notes("duration_days").contains("must be at least 1"));
}

//! `custodia init --tls` and `custodia serve` over HTTPS: a client that trusts the node's
//! certificate talks to it; plain HTTP and a client that does not trust it get nowhere; a
//! configuration naming a missing key file is refused at start, naming the key.

use std::io::{BufRead as _, BufReader};
use std::process::Stdio;

mod common;
use common::{Node, custodia, serve};

#[tokio::test(flavor = "multi_thread")]
async fn init_tls_then_serve_https() {
    let dir = tempfile::tempdir().unwrap();
    let out = custodia()
        .args(["init", "--role", "provider", "--state", "BB", "--listen", "127.0.0.1:0", "--tls", "--dir"])
        .arg(dir.path())
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let toml = std::fs::read_to_string(dir.path().join("node.toml")).unwrap();
    assert!(toml.contains("tls_cert = \"data/tls.crt\""), "{toml}");
    let (_node, addr) = serve(&dir.path().join("node.toml"));
    assert!(addr.starts_with("https://127.0.0.1:"), "{addr}");
    let port = addr.rsplit(':').next().unwrap();

    let cert = std::fs::read(dir.path().join("data/tls.crt")).unwrap();
    let trusting =
        reqwest::Client::builder().tls_certs_only([reqwest::Certificate::from_pem(&cert).unwrap()]).build().unwrap();
    for host in ["localhost", "127.0.0.1"] {
        let r = trusting.get(format!("https://{host}:{port}/healthz")).send().await.unwrap();
        assert_eq!(r.status(), 200, "https://{host}");
    }
    let doc = trusting.get(format!("https://localhost:{port}/api/v1/openapi.json")).send().await.unwrap();
    assert_eq!(doc.status(), 200);

    // Plain HTTP to the HTTPS port: no answer a client could take for the API's.
    let plain = reqwest::Client::new().get(format!("http://127.0.0.1:{port}/healthz")).send().await;
    assert!(plain.is_err() || plain.unwrap().status() != 200);
    // A client that does not trust the self-signed certificate refuses it.
    let untrusting = reqwest::Client::builder().tls_certs_only([]).build().unwrap();
    assert!(untrusting.get(format!("https://localhost:{port}/healthz")).send().await.is_err());

    // A client that connects and never says hello does not stop the others.
    let _silent = tokio::net::TcpStream::connect(format!("127.0.0.1:{port}")).await.unwrap();
    let r = trusting.get(format!("https://localhost:{port}/readyz")).send().await.unwrap();
    assert_eq!(r.status(), 200);
}

#[test]
fn init_refuses_a_missing_key_file_by_name() {
    let dir = tempfile::tempdir().unwrap();
    let out = custodia()
        .args(["init", "--role", "court", "--state", "AA", "--listen", "127.0.0.1:0", "--tls", "--dir"])
        .arg(dir.path())
        .output()
        .unwrap();
    assert!(out.status.success());
    std::fs::remove_file(dir.path().join("data/tls.key")).unwrap();
    let out = custodia().args(["serve", "--config"]).arg(dir.path().join("node.toml")).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("http.tls_key") && err.contains("no such file"), "{err}");

    // A key that is not a key: named at start.
    std::fs::write(dir.path().join("data/tls.key"), "not a key\n").unwrap();
    let out = custodia().args(["serve", "--config"]).arg(dir.path().join("node.toml")).output().unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("tls.key"), "{err}");
}

#[test]
fn keys_tls_refuses_to_overwrite() {
    let dir = tempfile::tempdir().unwrap();
    let first = custodia().args(["keys", "tls", "--name", "node.example", "--out"]).arg(dir.path()).output().unwrap();
    assert!(first.status.success(), "{}", String::from_utf8_lossy(&first.stderr));
    let pem = std::fs::read_to_string(dir.path().join("tls.crt")).unwrap();
    assert!(pem.starts_with("-----BEGIN CERTIFICATE-----"));
    let again = custodia().args(["keys", "tls", "--out"]).arg(dir.path()).output().unwrap();
    assert!(!again.status.success());
    assert!(String::from_utf8_lossy(&again.stderr).contains("already exists"));
}

#[tokio::test(flavor = "multi_thread")]
async fn json_logs_one_object_per_line_with_each_request() {
    let dir = tempfile::tempdir().unwrap();
    let out = custodia()
        .args(["init", "--role", "oversight", "--state", "BB", "--listen", "127.0.0.1:0", "--dir"])
        .arg(dir.path())
        .output()
        .unwrap();
    assert!(out.status.success());
    let mut child = custodia()
        .env("CUSTODIA_LOG", "custodia::http=debug,info")
        .args(["serve", "--log-format", "json", "--config"])
        .arg(dir.path().join("node.toml"))
        .stderr(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    let node = Node(child);
    let addr = loop {
        let line = lines.next().expect("serve ended before listening").unwrap();
        if let Some(rest) = line.split(" listening on ").nth(1) {
            break rest.split(';').next().unwrap().to_string();
        }
    };
    let client = reqwest::Client::new();
    assert_eq!(client.get(format!("{addr}/healthz")).send().await.unwrap().status(), 200);
    assert_eq!(client.get(format!("{addr}/api/v1/cases")).send().await.unwrap().status(), 401);
    let metrics = client.get(format!("{addr}/metrics")).send().await.unwrap().text().await.unwrap();
    assert!(metrics.contains("custodia_http_request_duration_seconds_count"), "{metrics}");
    drop(node);
    let mut seen = Vec::new();
    for line in lines.map_while(Result::ok) {
        if let Ok(v) = serde_json::from_str::<serde_json::Value>(&line)
            && v["target"] == "custodia::http"
        {
            seen.push((v["path"].as_str().unwrap_or("").to_string(), v["status"].as_u64().unwrap_or(0)));
        }
    }
    assert!(seen.contains(&("/healthz".to_string(), 200)), "{seen:?}");
    assert!(seen.contains(&("/api/v1/cases".to_string(), 401)), "{seen:?}");
}

#[test]
fn a_bad_log_filter_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let out = custodia()
        .env("CUSTODIA_LOG", "custodia=[loud")
        .args(["serve", "--config"])
        .arg(dir.path().join("node.toml"))
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("CUSTODIA_LOG"), "{}", String::from_utf8_lossy(&out.stderr));
}

/// `custodia init` writes the configuration and the node's keys (issue 7: "a working
/// configuration and keys"), secrets readable by the owner only, and prints the public
/// ones the federation directory lists; `serve` then uses that log key.
#[test]
fn init_writes_the_keys_and_prints_the_public_ones() {
    use std::os::unix::fs::PermissionsExt as _;
    let dir = tempfile::tempdir().unwrap();
    let out = custodia()
        .args(["init", "--role", "court", "--state", "AA", "--listen", "127.0.0.1:0", "--dir"])
        .arg(dir.path())
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let stdout = String::from_utf8(out.stdout).unwrap();
    let data = dir.path().join("data");
    for (file, mode) in
        [("node.secret", 0o600), ("identity.key", 0o600), ("witness.key", 0o600), ("log/private/signing.key", 0o600)]
    {
        let meta = std::fs::metadata(data.join(file)).unwrap_or_else(|e| panic!("{file}: {e}"));
        assert_eq!(meta.permissions().mode() & 0o777, mode, "{file}");
    }
    let vkey = std::fs::read_to_string(data.join("log/log.vkey")).unwrap();
    assert!(stdout.contains(&format!("log key {}", vkey.trim())), "{stdout}");
    let witness = std::fs::read_to_string(data.join("witness.vkey")).unwrap();
    assert!(stdout.contains(&format!("witness key {}", witness.trim())), "{stdout}");
    assert!(std::fs::read_to_string(data.join("identity.pub")).unwrap().contains("age1"));
    // Running init again refuses, and leaves the keys as they were.
    let secret = std::fs::read(data.join("node.secret")).unwrap();
    let again =
        custodia().args(["init", "--role", "court", "--state", "AA", "--dir"]).arg(dir.path()).output().unwrap();
    assert!(!again.status.success());
    assert_eq!(std::fs::read(data.join("node.secret")).unwrap(), secret);
    assert_eq!(std::fs::read_to_string(data.join("log/log.vkey")).unwrap(), vkey);
}

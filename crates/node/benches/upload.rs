//! An evidence upload of a sealed package over loopback (HTTP/1.1 PUT, streamed from the
//! file), next to the disk's sequential write rate measured in the same run (the same
//! bytes written to a file in the same folder and fsync'd), with the process's peak
//! memory. The node runs in this process (a provider node with its SQLite store, local
//! blobs and log, serving on a real TCP socket); the client streams from disk with a raw
//! HTTP/1.1 request, so the peak memory bounds the server's.
//!
//! ```text
//! cargo bench -p node --bench upload -- [--mib 1024] [--dir /var/tmp]
//! ```
//! Not a test: nothing here asserts a speed.

use std::io::{Read as _, Write as _};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use node::{Config, PartyRole};
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

const CHUNK: usize = 1 << 20;

fn args() -> (u64, PathBuf) {
    let (mut mib, mut dir) = (1024u64, std::env::temp_dir());
    let mut it = std::env::args().skip(1);
    while let Some(k) = it.next() {
        match k.as_str() {
            "--mib" => mib = it.next().and_then(|v| v.parse().ok()).expect("--mib N"),
            "--dir" => dir = PathBuf::from(it.next().expect("--dir DIR")),
            "--bench" => {}
            other => panic!("unknown argument {other:?}: --mib N, --dir DIR"),
        }
    }
    (mib, dir)
}

/// Peak resident memory of this process, in MiB (VmHWM).
fn peak_rss_mib() -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        .unwrap_or(0.0)
        / 1024.0
}

/// Writes `mib` MiB of pseudo-random bytes to `path` in 1 MiB blocks, fsync'd at the end;
/// returns the seconds it took (the disk's sequential write rate, same folder, same run).
fn write_file(path: &Path, mib: u64, seed: u64) -> f64 {
    let mut block = vec![0u8; CHUNK];
    let mut x = seed | 1;
    let t = Instant::now();
    let mut f = std::fs::File::create(path).unwrap();
    for _ in 0..mib {
        for b in block.chunks_mut(8) {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            b.copy_from_slice(&x.to_le_bytes()[..b.len()]);
        }
        f.write_all(&block).unwrap();
    }
    f.sync_all().unwrap();
    t.elapsed().as_secs_f64()
}

/// One HTTP/1.1 request on a fresh connection; the body is streamed from `body_file` when
/// given. Returns the status and the response body.
async fn http(addr: &str, head: &str, body: &[u8], body_file: Option<&Path>) -> (u16, Vec<u8>) {
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    s.set_nodelay(true).unwrap();
    let len = match body_file {
        Some(p) => std::fs::metadata(p).unwrap().len(),
        None => body.len() as u64,
    };
    s.write_all(format!("{head}\r\nhost: {addr}\r\ncontent-length: {len}\r\nconnection: close\r\n\r\n").as_bytes())
        .await
        .unwrap();
    match body_file {
        Some(p) => {
            let mut f = std::fs::File::open(p).unwrap();
            let mut buf = vec![0u8; CHUNK];
            loop {
                let n = f.read(&mut buf).unwrap();
                if n == 0 {
                    break;
                }
                s.write_all(&buf[..n]).await.unwrap();
            }
        }
        None => s.write_all(body).await.unwrap(),
    }
    let mut resp = Vec::new();
    s.read_to_end(&mut resp).await.unwrap();
    let text_end = resp.windows(4).position(|w| w == b"\r\n\r\n").map_or(resp.len(), |i| i + 4);
    let status = std::str::from_utf8(&resp[9..12]).ok().and_then(|v| v.parse().ok()).unwrap_or(0);
    (status, resp[text_end..].to_vec())
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let (mib, parent) = args();
    let dir = tempfile::tempdir_in(&parent).unwrap();
    let d = dir.path();

    // The disk's sequential write rate, in the same folder, before anything else.
    let disk_secs = write_file(&d.join("disk-probe.bin"), mib, 7);
    std::fs::remove_file(d.join("disk-probe.bin")).unwrap();

    // A provider node with a routed request, serving on loopback.
    let config =
        Config::example("Example-Mail", PartyRole::Provider, "BB", "127.0.0.1:0").validate(d.to_path_buf()).unwrap();
    let store = store::SqliteStore::open(d.join("cases.db"), store::SqliteOptions::default()).await.unwrap();
    let log = Arc::new(
        node::transparency::Transparency::open_or_create(&d.join("data/log"), "Example-Mail.custodia").unwrap(),
    );
    let cases = Arc::new(node::cases::Cases::new(Arc::new(store), log.clone(), "Example-Mail", [5; 32]));
    let blobs = Arc::new(store::BlobStore::local(d.join("blobs")).unwrap());
    std::fs::create_dir_all(d.join("data")).unwrap();
    let tokens = node::auth::Tokens::new(d.join("data/tokens.json"));
    let legal = tokens.create("legal", "provider_legal", 0).unwrap().1;
    let app = node::api::app_with(config, Some(log), Some(cases.clone()), Some(blobs));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    let file: Value = serde_json::from_slice(
        &std::fs::read(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/stored-data-confidential.case.json")).unwrap(),
    )
    .unwrap();
    let peer = node::auth::Caller { name: "BB-central-authority".into(), role: case::Role::Peer, token_id: "-".into() };
    cases.create(&peer, Some("r1".into()), case::Side::Provider, &file, false, node::clock::now()).await.unwrap();
    let auth = format!("authorization: Bearer {legal}\r\ncontent-type: application/json");
    let ack = serde_json::to_vec(&json!({ "command": "provider_acknowledge" })).unwrap();
    let (s, b) = http(&addr, &format!("POST /api/v1/cases/r1/commands HTTP/1.1\r\n{auth}"), &ack, None).await;
    assert_eq!(s, 200, "{}", String::from_utf8_lossy(&b));

    // The package: one file of `mib` MiB sealed to the requesting authority.
    let now = node::clock::now().0 as u64;
    let validity = seal::keys::Validity::new(now - 3600, now + 86_400 * 365).unwrap();
    let sealer = seal::keys::SecretIdentity::generate("Example-Mail", validity, now - 60).unwrap();
    let authority = seal::keys::SecretIdentity::generate("AA-prosecutor", validity, now - 60).unwrap();
    write_file(&d.join("mailbox.mbox"), mib, 11);
    let inputs = seal::evidence::collect_inputs(&[d.join("mailbox.mbox")]).unwrap();
    let pkg = d.join("pkg");
    let manifest = seal::evidence::seal(
        &inputs,
        &[authority.public().recipient.clone()],
        &sealer,
        now,
        &pkg,
        &mut seal::evidence::NoProgress,
    )
    .unwrap();
    std::fs::remove_file(d.join("mailbox.mbox")).unwrap();
    let manifest_text = std::fs::read_to_string(pkg.join(seal::evidence::MANIFEST)).unwrap();
    let start = serde_json::to_vec(&json!({ "manifest": manifest_text, "signer": sealer.public_file() })).unwrap();
    let (s, b) = http(&addr, &format!("POST /api/v1/cases/r1/uploads HTTP/1.1\r\n{auth}"), &start, None).await;
    assert_eq!(s, 201, "{}", String::from_utf8_lossy(&b));
    let up: Value = serde_json::from_slice(&b).unwrap();
    let id = up["upload"].as_str().unwrap().to_string();
    let age_file = seal::evidence::age_path(&pkg, &manifest.files[0].name);
    let size = std::fs::metadata(&age_file).unwrap().len();

    let rss_before = peak_rss_mib();
    let t = Instant::now();
    let head = format!(
        "PUT /api/v1/uploads/{id}/files/0 HTTP/1.1\r\nauthorization: Bearer {legal}\r\ncontent-type: application/octet-stream"
    );
    let (s, b) = http(&addr, &head, &[], Some(&age_file)).await;
    let put_secs = t.elapsed().as_secs_f64();
    assert!((200..300).contains(&s), "PUT: {s} {}", String::from_utf8_lossy(&b));
    let t = Instant::now();
    let (s, b) = http(&addr, &format!("POST /api/v1/uploads/{id}/complete HTTP/1.1\r\n{auth}"), b"", None).await;
    let complete_secs = t.elapsed().as_secs_f64();
    assert_eq!(s, 200, "complete: {}", String::from_utf8_lossy(&b));

    let mb = |bytes: u64, secs: f64| bytes as f64 / secs / 1e6;
    let disk_bytes = mib * CHUNK as u64;
    println!("upload of one sealed file, {:.1} MiB, folder {}", size as f64 / CHUNK as f64, parent.display());
    println!("| step | seconds | MB/s |");
    println!("|---|---|---|");
    println!(
        "| disk: sequential write + fsync, same size, same folder | {disk_secs:.2} | {:.0} |",
        mb(disk_bytes, disk_secs)
    );
    println!(
        "| PUT over loopback (streamed, hashed, fsync'd by the node) | {put_secs:.2} | {:.0} |",
        mb(size, put_secs)
    );
    println!("| complete (every file checked against the signed manifest) | {complete_secs:.2} | |");
    println!(
        "| upload, PUT + complete | {:.2} | {:.0} ({:.0}% of the disk's rate) |",
        put_secs + complete_secs,
        mb(size, put_secs + complete_secs),
        100.0 * mb(size, put_secs + complete_secs) / mb(disk_bytes, disk_secs)
    );
    println!(
        "peak RSS of the process (server and client): {:.1} MiB before the upload, {:.1} MiB after",
        rss_before,
        peak_rss_mib()
    );
}

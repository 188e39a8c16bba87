//! Reading a log over HTTP whose server compresses entry bundles with
//! `Content-Encoding: gzip` without negotiation, as C2SP tlog-tiles allows ("Logs MAY use
//! `Content-Encoding: gzip` with no negotiation… Clients SHOULD include `gzip` and
//! `identity` in their `Accept-Encoding` headers"): the client asks for gzip, decodes,
//! and verifies the whole tree.
#![cfg(feature = "http")]

use std::io::{BufRead as _, BufReader, Write as _};
use std::net::TcpListener;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use tlog::checkpoint::TrustPolicy;
use tlog::client::{self, verify_log};
use tlog::http::HttpFetch;
use tlog::sequencer::SequencerConfig;

/// Serves `root`'s files, gzipping every `tile/entries/` response; records each request's
/// Accept-Encoding header.
fn serve(root: PathBuf, seen: Arc<Mutex<Vec<(String, String)>>>) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let mut line = String::new();
            if reader.read_line(&mut line).is_err() {
                continue;
            }
            let mut accept = String::new();
            loop {
                let mut h = String::new();
                if reader.read_line(&mut h).is_err() || h == "\r\n" || h.is_empty() {
                    break;
                }
                if let Some(v) = h.to_ascii_lowercase().strip_prefix("accept-encoding:") {
                    accept = v.trim().to_owned();
                }
            }
            let path = line.split(' ').nth(1).unwrap_or("/").trim_start_matches('/').to_owned();
            seen.lock().unwrap().push((path.clone(), accept));
            let head = match std::fs::read(root.join(&path)) {
                Ok(body) if path.starts_with("tile/entries/") => {
                    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
                    gz.write_all(&body).unwrap();
                    let gz = gz.finish().unwrap();
                    let _ = write!(
                        stream,
                        "HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                        gz.len()
                    );
                    gz
                }
                Ok(body) => {
                    let _ = write!(
                        stream,
                        "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                        body.len()
                    );
                    body
                }
                Err(_) => {
                    let _ = write!(stream, "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
                    Vec::new()
                }
            };
            let _ = stream.write_all(&head);
        }
    });
    format!("http://{addr}")
}

#[test]
fn verifies_a_log_whose_entry_bundles_are_gzipped() {
    let tmp = tempfile::tempdir().unwrap();
    let vkey = client::init_dir(tmp.path(), "example.com/gzip-log").unwrap();
    let log = client::open_dir(tmp.path(), SequencerConfig::default()).unwrap();
    log.sequencer.append_batch((0..300).map(|i| format!("entry {i}").into_bytes()).collect()).unwrap();
    drop(log);
    let seen = Arc::new(Mutex::new(Vec::new()));
    let url = serve(tmp.path().to_path_buf(), seen.clone());
    let fetch = HttpFetch::new(&url).unwrap();
    let policy = TrustPolicy { origin: None, log_key: Some(vkey), witnesses: Vec::new(), quorum: 0 };
    let v = verify_log(&fetch, &policy, None).unwrap();
    assert_eq!(v.checkpoint.size, 300);
    assert_eq!(v.report.bundles, 2);
    let seen = seen.lock().unwrap();
    let bundles: Vec<_> = seen.iter().filter(|(p, _)| p.starts_with("tile/entries/")).collect();
    assert_eq!(bundles.len(), 2, "{seen:?}");
    assert!(seen.iter().all(|(_, a)| a == "gzip, identity"), "every request offers gzip and identity: {seen:?}");
}

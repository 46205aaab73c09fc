//! `Model2VecEmbedder::from_hub` against a local stand-in for the Hugging
//! Face hub (a `TcpListener` thread on 127.0.0.1; no external network).
#![cfg(feature = "hub")]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use nocturne_search::{download_model2vec, Embedder, Model2VecEmbedder, SearchError, MODEL2VEC_FILES};
use std::collections::HashMap;
use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::sync::{Arc, Mutex};

mod common;

enum Reply {
    Ok(Vec<u8>),
    Redirect(String),
    /// Announces more bytes than it sends, then closes the connection.
    Truncated(Vec<u8>),
}

/// A tiny hub: serves `routes` (path → reply), 404 otherwise, and records
/// every request head (lowercased).
struct Hub {
    base: String,
    log: Arc<Mutex<Vec<String>>>,
}

impl Hub {
    fn start(routes: impl FnOnce(&str) -> HashMap<String, Reply>) -> Hub {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let routes = routes(&base);
        let log = Arc::new(Mutex::new(Vec::new()));
        let log2 = Arc::clone(&log);
        // Detached: it ends with the test process.
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(stream) = stream else { continue };
                serve(stream, &routes, &log2);
            }
        });
        Hub { base, log }
    }

    fn requests(&self) -> Vec<String> {
        self.log.lock().unwrap().clone()
    }
}

fn serve(stream: TcpStream, routes: &HashMap<String, Reply>, log: &Mutex<Vec<String>>) {
    let mut reader = BufReader::new(stream.try_clone().unwrap());
    let mut head = String::new();
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
            break;
        }
        head.push_str(&line);
    }
    let path = head.split_whitespace().nth(1).unwrap_or("").to_string();
    log.lock().unwrap().push(head.to_ascii_lowercase());
    let mut stream = stream;
    let (status, extra, body, len): (&str, String, &[u8], usize) = match routes.get(&path) {
        Some(Reply::Ok(b)) => ("200 OK", String::new(), b, b.len()),
        Some(Reply::Redirect(to)) => ("302 Found", format!("Location: {to}\r\n"), b"", 0),
        Some(Reply::Truncated(b)) => ("200 OK", String::new(), &b[..b.len() / 2], b.len()),
        None => ("404 Not Found", "X-Error-Code: EntryNotFound\r\n".into(), b"Entry not found", 15),
    };
    let _ = write!(stream, "HTTP/1.1 {status}\r\n{extra}Content-Length: {len}\r\nConnection: close\r\n\r\n");
    let _ = stream.write_all(body);
    let _ = stream.flush();
}

/// The tiny model's files, generated into `dir`.
fn tiny_files(dir: &Path) -> HashMap<&'static str, Vec<u8>> {
    std::fs::create_dir_all(dir).unwrap();
    common::write_model(dir);
    MODEL2VEC_FILES.iter().map(|f| (*f, std::fs::read(dir.join(f)).unwrap())).collect()
}

/// Routes of repo `repo` at revision `main`; `model.safetensors` is
/// redirected to a "CDN" path, as the real hub does for large files.
fn repo_routes(base: &str, repo: &str, files: &HashMap<&str, Vec<u8>>) -> HashMap<String, Reply> {
    let mut r = HashMap::new();
    for (f, bytes) in files {
        if *f == "model.safetensors" {
            let cdn = format!("/cdn/{repo}/{f}");
            r.insert(format!("/{repo}/resolve/main/{f}"), Reply::Redirect(format!("{base}{cdn}")));
            r.insert(cdn, Reply::Ok(bytes.clone()));
        } else {
            r.insert(format!("/{repo}/resolve/main/{f}"), Reply::Ok(bytes.clone()));
        }
    }
    r
}

fn files_in(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = match std::fs::read_dir(dir) {
        Ok(rd) => rd.map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect(),
        Err(_) => Vec::new(),
    };
    v.sort();
    v
}

#[test]
fn downloads_into_cache_loads_and_reuses_cache() {
    let tmp = tempfile::tempdir().unwrap();
    let src = tmp.path().join("tiny-m2v");
    let files = tiny_files(&src);
    let hub = Hub::start(|base| repo_routes(base, "test-org/tiny-m2v", &files));
    let cache = tmp.path().join("cache");

    let e = Model2VecEmbedder::from_hub("test-org/tiny-m2v", "main", &cache, Some(&hub.base)).unwrap();
    // 3 files, one of them behind a redirect.
    let reqs = hub.requests();
    assert_eq!(reqs.len(), 4, "{reqs:#?}");
    assert!(reqs[0].starts_with("get /test-org/tiny-m2v/resolve/main/config.json http/1.1"), "{reqs:#?}");
    assert!(reqs.iter().any(|r| r.starts_with("get /cdn/test-org/tiny-m2v/model.safetensors ")), "{reqs:#?}");

    let dir = cache.join("test-org--tiny-m2v").join("main");
    assert_eq!(files_in(&dir), vec!["config.json", "model.safetensors", "tokenizer.json"]);
    for (f, bytes) in &files {
        assert_eq!(&std::fs::read(dir.join(f)).unwrap(), bytes, "{f}");
    }

    // Same model, same id and vectors as loading the folder directly.
    let local = Model2VecEmbedder::from_dir(&src).unwrap();
    assert_eq!(e.id(), "model2vec:tiny-m2v");
    assert_eq!(e.id(), local.id());
    assert_eq!(e.dim(), 4);
    let texts = ["Car repair", "automobile", "banana fruit shop"];
    assert_eq!(e.embed(&texts).unwrap(), local.embed(&texts).unwrap());
    let v = e.embed(&["car", "automobile"]).unwrap();
    assert!(nocturne_search::cosine(&v[0], &v[1]) > 0.95);

    // Cached: no request at all.
    let again = Model2VecEmbedder::from_hub("test-org/tiny-m2v", "main", &cache, Some(&hub.base)).unwrap();
    assert_eq!(hub.requests().len(), 4);
    assert_eq!(again.embed(&texts).unwrap(), local.embed(&texts).unwrap());

    // Only a missing file is fetched again.
    std::fs::remove_file(dir.join("tokenizer.json")).unwrap();
    Model2VecEmbedder::from_hub("test-org/tiny-m2v", "main", &cache, Some(&hub.base)).unwrap();
    let reqs = hub.requests();
    assert_eq!(reqs.len(), 5, "{reqs:#?}");
    assert!(reqs[4].starts_with("get /test-org/tiny-m2v/resolve/main/tokenizer.json "), "{reqs:#?}");
}

#[test]
fn token_is_sent_as_bearer() {
    let tmp = tempfile::tempdir().unwrap();
    let files = tiny_files(&tmp.path().join("src"));
    let hub = Hub::start(|base| repo_routes(base, "org/private-m2v", &files));
    let dir = download_model2vec("org/private-m2v", "main", &tmp.path().join("c"), Some(&hub.base), Some("hf_secret"))
        .unwrap();
    assert_eq!(dir, tmp.path().join("c").join("org--private-m2v").join("main"));
    let reqs = hub.requests();
    let resolves: Vec<&String> = reqs.iter().filter(|r| r.contains("/resolve/")).collect();
    assert_eq!(resolves.len(), 3, "{reqs:#?}");
    assert!(resolves.iter().all(|r| r.contains("authorization: bearer hf_secret")), "{reqs:#?}");
}

#[test]
fn not_found_names_the_url_and_leaves_no_files() {
    let tmp = tempfile::tempdir().unwrap();
    let hub = Hub::start(|_| HashMap::new());
    let cache = tmp.path().join("cache");
    let err = Model2VecEmbedder::from_hub("nobody/missing-model", "main", &cache, Some(&format!("{}/", hub.base)))
        .unwrap_err();
    let url = format!("{}/nobody/missing-model/resolve/main/config.json", hub.base);
    match &err {
        SearchError::EmbedderSetup(msg) => {
            assert!(msg.contains(&url) && msg.contains("404"), "{msg}");
            assert!(msg.contains("Entry not found"), "{msg}");
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(hub.requests().len(), 1);
    assert!(files_in(&cache.join("nobody--missing-model").join("main")).is_empty());
}

#[test]
fn truncated_download_leaves_no_partial_file() {
    let tmp = tempfile::tempdir().unwrap();
    let files = tiny_files(&tmp.path().join("src"));
    let hub = Hub::start(|base| {
        let mut r = repo_routes(base, "org/flaky", &files);
        r.insert("/org/flaky/resolve/main/tokenizer.json".into(), Reply::Truncated(files["tokenizer.json"].clone()));
        r
    });
    let cache = tmp.path().join("cache");
    let err = Model2VecEmbedder::from_hub("org/flaky", "main", &cache, Some(&hub.base)).unwrap_err();
    assert!(matches!(&err, SearchError::EmbedderSetup(m) if m.contains("/org/flaky/resolve/main/tokenizer.json")));
    // config.json (complete) was kept; nothing half-written remains.
    assert_eq!(files_in(&cache.join("org--flaky").join("main")), vec!["config.json"]);
}

#[test]
fn invalid_repo_id_is_refused_without_network() {
    let tmp = tempfile::tempdir().unwrap();
    for bad in ["../etc", "a/b/c", ""] {
        let err = Model2VecEmbedder::from_hub(bad, "main", tmp.path(), Some("http://127.0.0.1:9")).unwrap_err();
        assert!(matches!(err, SearchError::EmbedderSetup(_)), "{bad}");
    }
    assert!(files_in(tmp.path()).is_empty());
}

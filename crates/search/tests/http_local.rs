//! The HTTP embedder against a one-shot local server (no external network).
#![cfg(feature = "http")]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use nocturne_search::{Embedder, HttpEmbedder, SearchError};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::thread::JoinHandle;

/// Serve one request with `status` and `body`; return the raw request.
fn serve_once(status: &str, body: &str) -> (String, JoinHandle<String>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let (status, body) = (status.to_string(), body.to_string());
    let h = std::thread::spawn(move || {
        let (stream, _) = listener.accept().unwrap();
        let mut reader = BufReader::new(stream.try_clone().unwrap());
        let mut head = String::new();
        let mut len = 0usize;
        loop {
            let mut line = String::new();
            reader.read_line(&mut line).unwrap();
            if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                len = v.trim().parse().unwrap();
            }
            head.push_str(&line);
            if line == "\r\n" || line.is_empty() {
                break;
            }
        }
        let mut req_body = vec![0u8; len];
        reader.read_exact(&mut req_body).unwrap();
        let mut stream = stream;
        write!(
            stream,
            "HTTP/1.1 {status}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        )
        .unwrap();
        head + &String::from_utf8(req_body).unwrap()
    });
    (format!("http://{addr}/v1"), h)
}

#[test]
fn embeds_via_openai_compatible_endpoint() {
    // Out-of-order indexes and unnormalised vectors, as some servers send.
    let (base, h) = serve_once(
        "200 OK",
        r#"{"object":"list","data":[{"object":"embedding","index":1,"embedding":[0.0,2.0,0.0]},
            {"object":"embedding","index":0,"embedding":[3.0,0.0,4.0]}],"model":"nomic-embed-text"}"#,
    );
    let e = HttpEmbedder::new(&base, "nomic-embed-text", Some("sk-test"), 3).unwrap();
    assert_eq!(e.id(), "openai:nomic-embed-text");
    let v = e.embed(&["first", "second"]).unwrap();
    assert_eq!(v[0], vec![0.6, 0.0, 0.8]);
    assert_eq!(v[1], vec![0.0, 1.0, 0.0]);
    let req = h.join().unwrap();
    assert!(req.starts_with("POST /v1/embeddings HTTP/1.1"), "{req}");
    assert!(req.to_ascii_lowercase().contains("authorization: bearer sk-test"), "{req}");
    assert!(req.contains(r#""model":"nomic-embed-text""#) && req.contains(r#""input":["first","second"]"#), "{req}");
}

#[test]
fn http_error_and_wrong_dim_are_errors() {
    let (base, h) = serve_once("500 Internal Server Error", r#"{"error":"model not loaded"}"#);
    let e = HttpEmbedder::new(&base, "m", None, 3).unwrap();
    match e.embed(&["x"]) {
        Err(SearchError::Embedding(msg)) => assert!(msg.contains("500") && msg.contains("model not loaded"), "{msg}"),
        other => panic!("{other:?}"),
    }
    h.join().unwrap();

    let (base, h) = serve_once("200 OK", r#"{"data":[{"index":0,"embedding":[1.0,2.0]}]}"#);
    let e = HttpEmbedder::new(&base, "m", None, 3).unwrap();
    assert!(matches!(e.embed(&["x"]), Err(SearchError::EmbedderMismatch { .. })));
    h.join().unwrap();
}

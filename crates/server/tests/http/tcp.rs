//! A real listener, a request over TCP, a graceful shutdown.

use nocturne_server::{ServeConfig, Server, ServerError};
use nocturne_service::Service;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

#[tokio::test]
async fn serves_over_tcp_and_shuts_down_gracefully() {
    let dir = tempfile::tempdir().unwrap();
    let service = Service::with_store(
        nocturne_stores::open_path(&dir.path().join("store.db")).unwrap(),
        nocturne_service::system_clock(),
    );
    let cfg = ServeConfig::new("127.0.0.1:0".parse().unwrap(), true, service);
    let server = Server::bind(cfg).await.unwrap();
    let addr = server.local_addr().unwrap();
    assert!(addr.ip().is_loopback() && addr.port() != 0);
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(server.run(async {
        let _ = stopped.await;
    }));

    let mut conn = tokio::net::TcpStream::connect(addr).await.unwrap();
    let req = format!("GET /v1/memories HTTP/1.1\r\nHost: localhost:{}\r\nConnection: close\r\n\r\n", addr.port());
    conn.write_all(req.as_bytes()).await.unwrap();
    let mut out = String::new();
    conn.read_to_string(&mut out).await.unwrap();
    assert!(out.starts_with("HTTP/1.1 200 OK\r\n"), "{out}");
    assert!(out.to_ascii_lowercase().contains("content-type: application/json"), "{out}");
    assert!(out.ends_with("[]"), "insecure_local serves the local admin without a token: {out}");

    stop.send(()).unwrap();
    tokio::time::timeout(std::time::Duration::from_secs(10), task).await.unwrap().unwrap().unwrap();
    assert!(tokio::net::TcpStream::connect(addr).await.is_err(), "the listener is closed");
}

#[tokio::test]
async fn insecure_local_refuses_a_non_loopback_address() {
    let dir = tempfile::tempdir().unwrap();
    let service = Service::with_store(
        nocturne_stores::open_path(&dir.path().join("store.db")).unwrap(),
        nocturne_service::system_clock(),
    );
    let cfg = ServeConfig::new("0.0.0.0:0".parse().unwrap(), true, service);
    let err = Server::bind(cfg).await.err().expect("refused");
    assert!(matches!(err, ServerError::InsecureNotLoopback(_)), "{err}");
    assert!(err.to_string().contains("loopback"), "{err}");
}

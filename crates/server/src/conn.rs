//! The accept loop and each connection, on hyper directly (axum's `serve`
//! has no timeouts): a connection limit, a header-read timeout, an idle
//! (keep-alive) timeout, graceful shutdown, and JSON bodies for the
//! errors hyper answers itself.
//!
//! A connection is *busy* while a request is being handled, and otherwise
//! *waiting*: for a request head it has started to send (closed after
//! [`Limits::header_timeout`] from its first byte, or from the connection's
//! opening), or for nothing at all (closed after [`Limits::idle_timeout`]
//! without reading or writing a byte: a keep-alive connection, or a
//! response the client stopped reading). A long request (a dream) is never
//! cut; a streamed response (MCP's event stream) lives while it writes.

use crate::guard::raw_error_response;
use axum::http::{Request, StatusCode};
use axum::Router;
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use std::convert::Infallible;
use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{watch, Notify, OwnedSemaphorePermit, Semaphore};
use tokio::time::Instant;
use tower::ServiceExt;

/// Connection limits and timeouts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// How long a client has to send a whole request head, from its first
    /// byte (or from connecting).
    pub header_timeout: Duration,
    /// How long a connection may sit with no request in progress and no
    /// byte read or written.
    pub idle_timeout: Duration,
    /// Connections served at once; more wait in the listen queue until one closes.
    pub max_connections: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits { header_timeout: Duration::from_secs(10), idle_timeout: Duration::from_secs(60), max_connections: 256 }
    }
}

/// Serves `app` on `listener` until `shutdown` completes; then stops
/// accepting, lets every connection finish its request in flight, and returns.
pub(crate) async fn serve(
    listener: TcpListener,
    app: Router,
    limits: Limits,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> io::Result<()> {
    let slots = Arc::new(Semaphore::new(limits.max_connections.max(1)));
    let (stop_tx, stop_rx) = watch::channel(false);
    let mut tasks = tokio::task::JoinSet::new();
    tokio::pin!(shutdown);
    loop {
        let permit = tokio::select! {
            p = slots.clone().acquire_owned() => match p {
                Ok(p) => p,
                Err(_) => break,
            },
            () = &mut shutdown => break,
        };
        let stream = tokio::select! {
            r = listener.accept() => match r {
                Ok((s, _)) => s,
                // Out of file descriptors, or a connection reset before it was
                // accepted: wait a little rather than spin.
                Err(_) => {
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let _ = stream.set_nodelay(true);
        tasks.spawn(connection(stream, app.clone(), limits, stop_rx.clone(), permit));
        while tasks.try_join_next().is_some() {}
    }
    drop(listener);
    let _ = stop_tx.send(true);
    while tasks.join_next().await.is_some() {}
    Ok(())
}

async fn connection(
    stream: TcpStream,
    app: Router,
    limits: Limits,
    mut stop: watch::Receiver<bool>,
    _slot: OwnedSemaphorePermit,
) {
    let act = Arc::new(Activity::new());
    let io = TokioIo::new(Watched { inner: stream, act: act.clone(), raw: RawError::default() });
    let svc = Counted { app, act: act.clone() };
    let conn = hyper::server::conn::http1::Builder::new().keep_alive(true).serve_connection(io, svc);
    tokio::pin!(conn);
    let timeout = act.clone().expired(limits);
    tokio::pin!(timeout);
    let mut stopping = false;
    loop {
        tokio::select! {
            _ = conn.as_mut() => break,
            _ = stop.wait_for(|s| *s), if !stopping => {
                conn.as_mut().graceful_shutdown();
                stopping = true;
            }
            // Dropping the connection closes the socket.
            () = &mut timeout => break,
        }
    }
}

/// What a connection is doing, shared by its socket, its service and its timer.
struct Activity {
    state: Mutex<State>,
    /// Set once a request reached the service: from then on hyper's
    /// writes are responses, never its own refusals of a first request.
    dispatched: AtomicBool,
    changed: Notify,
}

struct State {
    in_flight: usize,
    /// When the request head being read started (its first byte, or the
    /// connection's opening); `None` between requests.
    head_since: Option<Instant>,
    last_io: Instant,
}

impl Activity {
    fn new() -> Self {
        let now = Instant::now();
        Activity {
            state: Mutex::new(State { in_flight: 0, head_since: Some(now), last_io: now }),
            dispatched: AtomicBool::new(false),
            changed: Notify::new(),
        }
    }

    fn with<T>(&self, f: impl FnOnce(&mut State) -> T) -> T {
        let mut g = self.state.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        f(&mut g)
    }

    fn read(&self) {
        let now = Instant::now();
        let started = self.with(|s| {
            s.last_io = now;
            let start = s.in_flight == 0 && s.head_since.is_none();
            if start {
                s.head_since = Some(now);
            }
            start
        });
        if started {
            self.changed.notify_one();
        }
    }

    fn wrote(&self) {
        self.with(|s| s.last_io = Instant::now());
    }

    fn begin(self: &Arc<Self>) -> InFlight {
        self.dispatched.store(true, Ordering::Release);
        self.with(|s| {
            s.in_flight += 1;
            s.head_since = None;
        });
        self.changed.notify_one();
        InFlight(self.clone())
    }

    /// Completes when the connection has waited too long.
    async fn expired(self: Arc<Self>, limits: Limits) {
        loop {
            let deadline = self.with(|s| match (s.in_flight, s.head_since) {
                (0, Some(t)) => Some(t + limits.header_timeout),
                (0, None) => Some(s.last_io + limits.idle_timeout),
                _ => None,
            });
            match deadline {
                Some(d) if Instant::now() >= d => return,
                Some(d) => {
                    tokio::select! {
                        () = tokio::time::sleep_until(d) => {}
                        () = self.changed.notified() => {}
                    }
                }
                None => self.changed.notified().await,
            }
        }
    }
}

/// A request in progress; dropped when its response is ready (or the
/// connection goes away).
struct InFlight(Arc<Activity>);

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.with(|s| {
            s.in_flight = s.in_flight.saturating_sub(1);
            s.last_io = Instant::now();
        });
        self.0.changed.notify_one();
    }
}

/// The router as a hyper service that marks its connection busy.
#[derive(Clone)]
struct Counted {
    app: Router,
    act: Arc<Activity>,
}

impl hyper::service::Service<Request<Incoming>> for Counted {
    type Response = axum::response::Response;
    type Error = Infallible;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, Infallible>> + Send>>;

    fn call(&self, req: Request<Incoming>) -> Self::Future {
        let busy = self.act.begin();
        let app = self.app.clone();
        Box::pin(async move {
            let _busy = busy;
            app.oneshot(req.map(axum::body::Body::new)).await
        })
    }
}

/// Replaces the bare response hyper writes when it refuses a connection's
/// first request head (400, 414, 431) with the JSON error. Before any
/// request was dispatched, nothing else can be written.
#[derive(Default)]
struct RawError {
    captured: Vec<u8>,
    out: Option<Vec<u8>>,
    sent: usize,
}

/// The socket, watched: reads and writes count as activity.
struct Watched {
    inner: TcpStream,
    act: Arc<Activity>,
    raw: RawError,
}

impl Watched {
    fn intercepting(&self) -> bool {
        self.raw.out.is_some() || !self.act.dispatched.load(Ordering::Acquire)
    }

    fn capture(&mut self, buf: &[u8]) {
        self.raw.captured.extend_from_slice(buf);
        if self.raw.out.is_none() && self.raw.captured.len() >= 12 {
            self.build();
        }
    }

    fn build(&mut self) {
        // "HTTP/1.1 414 ...": the status hyper chose.
        let status = std::str::from_utf8(self.raw.captured.get(9..12).unwrap_or(b"400"))
            .ok()
            .and_then(|s| s.parse::<u16>().ok())
            .and_then(|s| StatusCode::from_u16(s).ok())
            .unwrap_or(StatusCode::BAD_REQUEST);
        self.raw.out = Some(raw_error_response(status));
    }

    /// Writes what is left of the replacement response.
    fn drain(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        if self.raw.out.is_none() && !self.raw.captured.is_empty() {
            self.build();
        }
        let Some(out) = self.raw.out.as_ref() else { return Poll::Ready(Ok(())) };
        while self.raw.sent < out.len() {
            let rest = out.get(self.raw.sent..).unwrap_or(&[]);
            match Pin::new(&mut self.inner).poll_write(cx, rest) {
                Poll::Ready(Ok(0)) => return Poll::Ready(Err(io::ErrorKind::WriteZero.into())),
                Poll::Ready(Ok(n)) => self.raw.sent += n,
                Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
                Poll::Pending => return Poll::Pending,
            }
        }
        Poll::Ready(Ok(()))
    }
}

impl AsyncRead for Watched {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let r = Pin::new(&mut self.inner).poll_read(cx, buf);
        if matches!(r, Poll::Ready(Ok(()))) && buf.filled().len() > before {
            self.act.read();
        }
        r
    }
}

impl AsyncWrite for Watched {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        if self.intercepting() {
            self.capture(buf);
            // hyper's bytes are taken; ours go out now or on flush.
            let _ = self.drain(cx);
            return Poll::Ready(Ok(buf.len()));
        }
        let r = Pin::new(&mut self.inner).poll_write(cx, buf);
        if matches!(r, Poll::Ready(Ok(n)) if n > 0) {
            self.act.wrote();
        }
        r
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        if self.intercepting() {
            let mut n = 0;
            for b in bufs {
                self.capture(b);
                n += b.len();
            }
            let _ = self.drain(cx);
            return Poll::Ready(Ok(n));
        }
        let r = Pin::new(&mut self.inner).poll_write_vectored(cx, bufs);
        if matches!(r, Poll::Ready(Ok(n)) if n > 0) {
            self.act.wrote();
        }
        r
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        if self.intercepting() {
            std::task::ready!(self.drain(cx))?;
        }
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        if self.intercepting() {
            std::task::ready!(self.drain(cx))?;
        }
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

//! The HTTP listener's limits, over raw TCP: a half-sent request, an idle keep-alive
//! connection, keep-alive for a normal client, the connection bound, the request timeout and
//! graceful shutdown. Timeouts are a second or two; assertions bound how long something may
//! take, never how long it took exactly.

use std::io;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use axum::Router;
use axum::routing::get;
use control_plane::ControlPlaneSettings;
use provisioner::config::Bounded;
use serde_json::Value;
use service::server::{self, ServerLimits};
use tokio::net::{TcpListener, TcpStream};

use crate::helpers::{TEST_TOKEN, TestApp};

/// Slack on top of a timeout before the test calls the connection held open.
const SLACK: Duration = Duration::from_secs(3);

const HEALTHZ: &[u8] = b"GET /healthz HTTP/1.1\r\nHost: spotlight.test\r\n\r\n";

/// An app whose listener uses these timeouts (seconds); everything else as in other tests.
async fn app_with(header_read: u64, idle: u64, request: u64) -> TestApp {
    TestApp::spawn_with(|s: &mut ControlPlaneSettings| {
        s.server.header_read_timeout_secs = Bounded::new(header_read).unwrap();
        s.server.idle_timeout_secs = Bounded::new(idle).unwrap();
        s.server.request_timeout_secs = Bounded::new(request).unwrap();
        s.wait_timeout_secs = Bounded::must(0);
    })
    .await
}

fn addr_of(app: &TestApp) -> SocketAddr {
    app.base
        .trim_start_matches("http://")
        .parse()
        .expect("the app's address")
}

async fn write_all(stream: &TcpStream, mut bytes: &[u8]) -> io::Result<()> {
    while !bytes.is_empty() {
        stream.writable().await?;
        match stream.try_write(bytes) {
            Ok(n) => bytes = &bytes[n..],
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// Reads what is there (at least one byte), or `Ok(0)` once the peer closed.
async fn read_some(stream: &TcpStream, buf: &mut [u8]) -> io::Result<usize> {
    loop {
        stream.readable().await?;
        match stream.try_read(buf) {
            Ok(n) => return Ok(n),
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
            Err(e) => return Err(e),
        }
    }
}

/// One response read off the connection.
#[derive(Debug)]
struct RawResponse {
    status: u16,
    /// Header lines, names lowercased.
    headers: Vec<(String, String)>,
    body: String,
}

impl RawResponse {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("{e}: {self:?}"))
    }
}

/// Reads one response with a `Content-Length` body; `None` if the connection closes first.
async fn read_response(stream: &TcpStream) -> Option<RawResponse> {
    let mut data = Vec::new();
    let mut buf = [0_u8; 4096];
    let head_end = loop {
        if let Some(i) = data.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
        match read_some(stream, &mut buf).await {
            Ok(0) | Err(_) => return None,
            Ok(n) => data.extend_from_slice(&buf[..n]),
        }
    };
    let head = String::from_utf8(data[..head_end].to_vec()).expect("an ASCII head");
    let mut lines = head.split("\r\n");
    let status = lines
        .next()
        .and_then(|l| l.split(' ').nth(1))
        .and_then(|s| s.parse().ok())
        .expect("a status line");
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_owned()))
        .collect();
    let length: usize = headers
        .iter()
        .find(|(n, _)| n == "content-length")
        .and_then(|(_, v)| v.parse().ok())
        .expect("a Content-Length");
    while data.len() < head_end + length {
        match read_some(stream, &mut buf).await {
            Ok(0) | Err(_) => return None,
            Ok(n) => data.extend_from_slice(&buf[..n]),
        }
    }
    let body = String::from_utf8(data[head_end..head_end + length].to_vec()).expect("UTF-8");
    Some(RawResponse {
        status,
        headers,
        body,
    })
}

/// `request` on `stream`, and its response (which must come within `SLACK`).
async fn exchange(stream: &TcpStream, request: &[u8]) -> RawResponse {
    write_all(stream, request).await.expect("sending a request");
    tokio::time::timeout(SLACK, read_response(stream))
        .await
        .expect("a response in time")
        .expect("a response before the connection closed")
}

/// Waits until the server closes `stream` (end of stream or reset), at most `within`;
/// returns how long it took. Fails if the connection is still open after `within`.
async fn closed_within(stream: &TcpStream, within: Duration) -> Duration {
    let started = Instant::now();
    let mut buf = [0_u8; 1024];
    let closed = tokio::time::timeout(within, async {
        loop {
            match read_some(stream, &mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(_) => {} // whatever the server sent before closing
            }
        }
    })
    .await;
    assert!(
        closed.is_ok(),
        "the connection was still open after {within:?}"
    );
    started.elapsed()
}

#[tokio::test]
async fn a_client_that_stalls_mid_headers_is_disconnected_after_the_header_read_timeout() {
    let app = app_with(1, 30, 60).await;

    // On a fresh connection: half a request line and a header, then nothing.
    let fresh = TcpStream::connect(addr_of(&app)).await.unwrap();
    write_all(&fresh, b"GET /healthz HTTP/1.1\r\nHost: spot")
        .await
        .unwrap();
    closed_within(&fresh, Duration::from_secs(1) + SLACK).await;

    // On a keep-alive connection, after a first request: the idle timeout (30 s) does not
    // apply once the next request has started arriving.
    let reused = TcpStream::connect(addr_of(&app)).await.unwrap();
    assert_eq!(exchange(&reused, HEALTHZ).await.status, 200);
    write_all(&reused, b"GET /healthz HTTP/1.1\r\n")
        .await
        .unwrap();
    closed_within(&reused, Duration::from_secs(1) + SLACK).await;
}

#[tokio::test]
async fn a_connection_that_never_sends_a_request_is_closed_after_the_header_read_timeout() {
    let app = app_with(1, 30, 60).await;
    let silent = TcpStream::connect(addr_of(&app)).await.unwrap();
    closed_within(&silent, Duration::from_secs(1) + SLACK).await;
}

#[tokio::test]
async fn an_idle_keep_alive_connection_is_closed_after_the_idle_timeout() {
    let app = app_with(30, 1, 60).await;
    let stream = TcpStream::connect(addr_of(&app)).await.unwrap();
    let response = exchange(&stream, HEALTHZ).await;
    assert_eq!(response.status, 200);
    assert_ne!(response.header("connection"), Some("close"), "{response:?}");
    // The header-read timeout (30 s) is not what closes it.
    closed_within(&stream, Duration::from_secs(1) + SLACK).await;
}

#[tokio::test]
async fn a_keep_alive_client_makes_several_requests_on_one_connection() {
    // Each pause is shorter than the idle timeout; all of them together are longer than both
    // timeouts, so neither runs from the connection's start.
    let app = app_with(1, 1, 60).await;
    let stream = TcpStream::connect(addr_of(&app)).await.unwrap();
    for _ in 0..4 {
        let response = exchange(&stream, HEALTHZ).await;
        assert_eq!(response.status, 200, "{response:?}");
        assert_eq!(response.json()["status"], "ok");
        tokio::time::sleep(Duration::from_millis(600)).await;
    }
    let authorized = format!(
        "GET /tenants HTTP/1.1\r\nHost: spotlight.test\r\nAuthorization: Bearer {TEST_TOKEN}\r\n\r\n"
    );
    let response = exchange(&stream, authorized.as_bytes()).await;
    assert_eq!(response.status, 200, "{response:?}");
}

#[tokio::test]
async fn with_the_connection_limit_reached_a_further_connection_waits_until_one_closes() {
    let app = TestApp::spawn_with(|s| s.server.max_connections = Bounded::must(2)).await;
    let first = TcpStream::connect(addr_of(&app)).await.unwrap();
    let second = TcpStream::connect(addr_of(&app)).await.unwrap();
    // Both are served, and stay open (keep-alive).
    assert_eq!(exchange(&first, HEALTHZ).await.status, 200);
    assert_eq!(exchange(&second, HEALTHZ).await.status, 200);

    // The kernel completes the third handshake, but the server does not take it up.
    let third = TcpStream::connect(addr_of(&app)).await.unwrap();
    write_all(&third, HEALTHZ).await.unwrap();
    let early = tokio::time::timeout(Duration::from_millis(800), read_response(&third)).await;
    assert!(early.is_err(), "served over the limit: {early:?}");

    drop(first);
    let response = tokio::time::timeout(SLACK, read_response(&third))
        .await
        .expect("served once a slot is free")
        .expect("a response");
    assert_eq!(response.status, 200);
    // The second connection was never disturbed.
    assert_eq!(exchange(&second, HEALTHZ).await.status, 200);
}

#[tokio::test]
async fn a_request_whose_body_stalls_past_the_request_timeout_gets_the_json_408() {
    // Header-read and idle timeouts are shorter than the request timeout: they must not cut
    // a request that is being handled.
    let app = app_with(1, 1, 2).await;
    let stream = TcpStream::connect(addr_of(&app)).await.unwrap();
    let head = format!(
        "POST /tenants HTTP/1.1\r\nHost: spotlight.test\r\nAuthorization: Bearer {TEST_TOKEN}\r\n\
         Content-Type: application/json\r\nContent-Length: 100\r\n\r\n{{\"id\": \"slow"
    );
    let started = Instant::now();
    write_all(&stream, head.as_bytes()).await.unwrap();
    let response = tokio::time::timeout(Duration::from_secs(2) + SLACK, read_response(&stream))
        .await
        .expect("an answer in time")
        .expect("a response, not a dropped connection");
    assert!(
        started.elapsed() >= Duration::from_millis(1500),
        "too early"
    );
    assert_eq!(response.status, 408, "{response:?}");
    assert_eq!(response.json()["error"]["code"], "request_timeout");
    assert!(
        response.json()["error"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("2 s")),
        "{response:?}"
    );
    assert_eq!(response.header("connection"), Some("close"));
    closed_within(&stream, SLACK).await;
    assert!(app.tenant_ids().await.is_empty());
}

/// `router` served by the control plane's listener with `limits`; the sender stops it.
async fn serve_router(
    router: Router,
    limits: ServerLimits,
) -> (
    SocketAddr,
    tokio::sync::oneshot::Sender<()>,
    tokio::task::JoinHandle<io::Result<()>>,
) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(server::serve(listener, router, limits, async move {
        let _ = stopped.await;
    }));
    (addr, stop, server)
}

fn slow_router(pause: Duration) -> Router {
    Router::new()
        .route(
            "/slow",
            get(move || async move {
                tokio::time::sleep(pause).await;
                "done"
            }),
        )
        .route("/fast", get(|| async { "fast" }))
}

const SECOND_LIMITS: ServerLimits = ServerLimits {
    header_read_timeout: Duration::from_secs(1),
    idle_timeout: Duration::from_secs(1),
    request_timeout: Duration::from_secs(1),
    max_connections: 16,
};

#[tokio::test]
async fn a_handler_slower_than_the_request_timeout_gets_the_json_408() {
    let (addr, _stop, _server) =
        serve_router(slow_router(Duration::from_secs(30)), SECOND_LIMITS).await;
    let stream = TcpStream::connect(addr).await.unwrap();
    let response = exchange(&stream, b"GET /slow HTTP/1.1\r\nHost: t\r\n\r\n").await;
    assert_eq!(response.status, 408, "{response:?}");
    assert_eq!(response.header("content-type"), Some("application/json"));
    assert_eq!(response.json()["error"]["code"], "request_timeout");

    let other = TcpStream::connect(addr).await.unwrap();
    let response = exchange(&other, b"GET /fast HTTP/1.1\r\nHost: t\r\n\r\n").await;
    assert_eq!((response.status, response.body.as_str()), (200, "fast"));
}

#[tokio::test]
async fn shutdown_stops_accepting_and_lets_an_open_request_finish() {
    let limits = ServerLimits {
        request_timeout: Duration::from_secs(10),
        ..SECOND_LIMITS
    };
    let (addr, stop, server) = serve_router(slow_router(Duration::from_millis(800)), limits).await;
    let stream = TcpStream::connect(addr).await.unwrap();
    write_all(&stream, b"GET /slow HTTP/1.1\r\nHost: t\r\n\r\n")
        .await
        .unwrap();
    // Let the request reach its handler, then stop the server.
    tokio::time::sleep(Duration::from_millis(200)).await;
    stop.send(()).unwrap();

    let response = tokio::time::timeout(SLACK, read_response(&stream))
        .await
        .expect("the open request finishes")
        .expect("a response");
    assert_eq!((response.status, response.body.as_str()), (200, "done"));
    tokio::time::timeout(SLACK, server)
        .await
        .expect("serve returns once the connection closed")
        .unwrap()
        .unwrap();
    assert!(
        TcpStream::connect(addr).await.is_err(),
        "no longer accepting"
    );
}

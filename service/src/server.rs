//! The HTTP/1.1 listener: serves a router while keeping slow and idle clients from holding
//! connections. Every service serves its router through this module, so all enforce the same
//! limits the same way.
//!
//! Per connection, with the [`ServerLimits`]:
//!
//! - **header read**: a request's line and headers must arrive within `header_read_timeout`,
//!   counted from when the connection was accepted (first request) or from the first byte of
//!   the request (later requests on a keep-alive connection). A client that sends half a
//!   request and stalls is disconnected.
//! - **idle**: between requests, a keep-alive connection is closed after `idle_timeout`
//!   without a new request; a response the client does not read is given the same time per
//!   bit of progress.
//! - **request**: from its headers to its response, a request (reading its body included) may
//!   take `request_timeout`; past it the client gets the JSON 408 (`request_timeout`) with
//!   `Connection: close`.
//! - **connections**: at most `max_connections` are served at once. Further ones are not
//!   accepted until one closes: they wait in the listening socket's backlog (the kernel
//!   completes their handshake), and once the backlog is full the kernel refuses or drops new
//!   ones.
//!
//! hyper's own `header_read_timeout` is left off: in hyper 1.x its timer starts whenever the
//! connection waits for a request head, which on a keep-alive connection is right after the
//! previous response, so it would also close idle connections after the (shorter) header-read
//! time. The two phases are timed here instead, from what the connection reads and writes.
//!
//! [`serve`] shuts down gracefully: once `shutdown` resolves it stops accepting, closes idle
//! connections, lets open requests finish (each bounded by the request timeout) and returns
//! when every connection has closed.

use std::convert::Infallible;
use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::http::{HeaderValue, Request, Response, header};
use axum::response::IntoResponse;
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use hyper_util::server::graceful::GracefulShutdown;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Semaphore, watch};
use tokio::time::Instant;
use tower::ServiceExt;

use crate::error::ApiError;

/// What every connection is held to; see the module documentation. Each service's settings
/// bound each (the control plane's `ControlPlaneSettings::server_limits`); `max_connections`
/// is at least 1.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ServerLimits {
    pub header_read_timeout: Duration,
    pub idle_timeout: Duration,
    pub request_timeout: Duration,
    pub max_connections: usize,
}

/// Serves `router` on `listener` with `limits` until `shutdown` resolves, then stops
/// accepting, lets open requests finish and returns once every connection has closed.
/// Accept errors are logged and never end the loop.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    limits: ServerLimits,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> io::Result<()> {
    let slots = Arc::new(Semaphore::new(
        limits.max_connections.clamp(1, Semaphore::MAX_PERMITS),
    ));
    let graceful = GracefulShutdown::new();
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        // A slot first: while every slot is taken, new connections stay in the backlog.
        let slot = tokio::select! {
            biased;
            () = &mut shutdown => break,
            slot = Arc::clone(&slots).acquire_owned() => slot.expect("the semaphore is never closed"),
        };
        let (stream, peer) = tokio::select! {
            biased;
            () = &mut shutdown => break,
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(e) => {
                    wait_after_accept_error(e).await;
                    continue;
                }
            },
        };
        let connection = serve_connection(stream, router.clone(), limits, graceful.watcher());
        tokio::spawn(async move {
            connection.await;
            tracing::trace!(%peer, "connection closed");
            drop(slot);
        });
    }
    drop(listener);
    tracing::debug!(
        open = graceful.count(),
        "stopped accepting; waiting for open connections"
    );
    graceful.shutdown().await;
    Ok(())
}

/// A failed `accept`: the peer's own failure is skipped at once; anything else (out of file
/// descriptors, say) is logged and retried after a second, as hyper's server did, rather than
/// spinning on it.
async fn wait_after_accept_error(e: io::Error) {
    if matches!(
        e.kind(),
        io::ErrorKind::ConnectionRefused
            | io::ErrorKind::ConnectionAborted
            | io::ErrorKind::ConnectionReset
    ) {
        return;
    }
    tracing::error!(error = %e, "accepting a connection failed; retrying in 1 s");
    tokio::time::sleep(Duration::from_secs(1)).await;
}

/// One connection, served until the client closes it, graceful shutdown closes it, or a
/// header-read or idle deadline passes (then it is dropped, which closes the socket).
async fn serve_connection(
    stream: TcpStream,
    router: Router,
    limits: ServerLimits,
    watcher: hyper_util::server::graceful::Watcher,
) {
    let activity = Arc::new(Activity::new(limits));
    let io = TokioIo::new(Tracked {
        io: stream,
        activity: Arc::clone(&activity),
    });
    let on_request = Arc::clone(&activity);
    let service = hyper::service::service_fn(move |request: Request<Incoming>| {
        let busy = on_request.begin_request();
        let router = router.clone();
        async move {
            let response = handle(router, request, limits.request_timeout).await;
            drop(busy);
            Ok::<_, Infallible>(response)
        }
    });
    let mut builder = hyper::server::conn::http1::Builder::new();
    // Timed by `Activity` instead; see the module documentation.
    builder.header_read_timeout(None);
    let connection = watcher.watch(builder.serve_connection(io, service));
    tokio::select! {
        result = connection => {
            if let Err(e) = result {
                tracing::debug!(error = %e, "connection ended with an error");
            }
        }
        stalled = activity.expired() => {
            tracing::debug!(phase = stalled, "closing a stalled connection");
        }
    }
}

/// Runs `request` through `router`, answering the JSON 408 if it takes longer than `timeout`.
async fn handle(router: Router, request: Request<Incoming>, timeout: Duration) -> Response<Body> {
    let method = request.method().clone();
    let path = request.uri().path().to_owned();
    match tokio::time::timeout(timeout, router.oneshot(request.map(Body::new))).await {
        Ok(Ok(response)) => response,
        Ok(Err(never)) => match never {},
        Err(_elapsed) => {
            tracing::warn!(%method, path, timeout_secs = timeout.as_secs(), "request timed out");
            let mut response = ApiError::RequestTimeout(format!(
                "the request took longer than {} s (its body included); retry it, \
                 with an Idempotency-Key if it is a POST",
                timeout.as_secs()
            ))
            .into_response();
            // RFC 9110 §15.5.9: a server sending 408 should close the connection, whose
            // unread body would otherwise be taken as the next request.
            response
                .headers_mut()
                .insert(header::CONNECTION, HeaderValue::from_static("close"));
            response
        }
    }
}

/// Where a connection stands between and during requests.
#[derive(Debug, Clone, Copy)]
enum Phase {
    /// Waiting for a request's line and headers; closed at `deadline`.
    Head { deadline: Instant },
    /// Between requests, or writing out a response; closed at `deadline`, which write progress
    /// pushes back.
    Idle { deadline: Instant },
    /// `requests` are being handled (each bounded by the request timeout): no deadline.
    Busy { requests: usize },
}

/// A connection's phase, updated by its reads and writes and by its requests starting and
/// ending, watched by the task that closes it when a deadline passes.
struct Activity {
    phase: watch::Sender<Phase>,
    header_read_timeout: Duration,
    idle_timeout: Duration,
}

impl Activity {
    fn new(limits: ServerLimits) -> Self {
        let first_head = Phase::Head {
            deadline: Instant::now() + limits.header_read_timeout,
        };
        Activity {
            phase: watch::Sender::new(first_head),
            header_read_timeout: limits.header_read_timeout,
            idle_timeout: limits.idle_timeout,
        }
    }

    /// Bytes arrived: on an idle connection they start the next request's head.
    fn on_read(&self) {
        let deadline = Instant::now() + self.header_read_timeout;
        self.phase.send_if_modified(|phase| match phase {
            Phase::Idle { .. } => {
                *phase = Phase::Head { deadline };
                true
            }
            Phase::Head { .. } | Phase::Busy { .. } => false,
        });
    }

    /// Bytes left: a response still being written out is progress, not idleness.
    fn on_write(&self) {
        let later = Instant::now() + self.idle_timeout;
        // A later deadline needs no wake-up: the watcher re-reads the phase when it wakes.
        self.phase.send_if_modified(|phase| {
            if let Phase::Idle { deadline } = phase {
                *deadline = later;
            }
            false
        });
    }

    /// A request's head was read: no deadline of this connection runs until it ends.
    fn begin_request(self: &Arc<Self>) -> Busy {
        self.phase.send_modify(|phase| {
            *phase = match *phase {
                Phase::Busy { requests } => Phase::Busy {
                    requests: requests + 1,
                },
                Phase::Head { .. } | Phase::Idle { .. } => Phase::Busy { requests: 1 },
            }
        });
        Busy(Arc::clone(self))
    }

    fn end_request(&self) {
        let deadline = Instant::now() + self.idle_timeout;
        self.phase.send_modify(|phase| {
            if let Phase::Busy { requests } = phase {
                *phase = match *requests {
                    0 | 1 => Phase::Idle { deadline },
                    more => Phase::Busy { requests: more - 1 },
                };
            }
        });
    }

    /// Resolves when the connection's current deadline passes without the phase moving on;
    /// says which phase stalled.
    async fn expired(&self) -> &'static str {
        let mut phase = self.phase.subscribe();
        loop {
            let current = *phase.borrow_and_update();
            let (deadline, name) = match current {
                Phase::Head { deadline } => (deadline, "header read"),
                Phase::Idle { deadline } => (deadline, "idle"),
                Phase::Busy { .. } => {
                    // The sender lives as long as `self`.
                    let _ = phase.changed().await;
                    continue;
                }
            };
            if Instant::now() >= deadline {
                return name;
            }
            tokio::select! {
                () = tokio::time::sleep_until(deadline) => {}
                _ = phase.changed() => {}
            }
        }
    }
}

/// Held while a request is handled; dropping it (the response is ready, or the request was
/// abandoned) ends the request.
struct Busy(Arc<Activity>);

impl Drop for Busy {
    fn drop(&mut self) {
        self.0.end_request();
    }
}

/// The connection's socket, reporting its reads and writes to the connection's [`Activity`].
struct Tracked {
    io: TcpStream,
    activity: Arc<Activity>,
}

impl AsyncRead for Tracked {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let poll = Pin::new(&mut self.io).poll_read(cx, buf);
        if matches!(poll, Poll::Ready(Ok(()))) && buf.filled().len() > before {
            self.activity.on_read();
        }
        poll
    }
}

impl AsyncWrite for Tracked {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let poll = Pin::new(&mut self.io).poll_write(cx, buf);
        if matches!(poll, Poll::Ready(Ok(n)) if n > 0) {
            self.activity.on_write();
        }
        poll
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let poll = Pin::new(&mut self.io).poll_write_vectored(cx, bufs);
        if matches!(poll, Poll::Ready(Ok(n)) if n > 0) {
            self.activity.on_write();
        }
        poll
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_shutdown(cx)
    }
}

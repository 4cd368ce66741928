//! The accept loop: HTTP/1.1 with upgrades (WebSocket), a deadline on every
//! request head and on idle keep-alive connections, and a cap on open
//! connections in total and per client address. Over a cap, a connection is
//! answered `503` with `Retry-After` (and `/healthz` still answers), out of
//! descriptors kept spare for that, so the server never meets "too many
//! open files".

use std::convert::Infallible;
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::{Pin, pin};
use std::task::{Context, Poll};
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::http::{Request, Response, StatusCode};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tower::Service as _;

use crate::limits::{
    ClientAddress, ConnectionLimits, Counter, Full, PeerAddr, Slot, TrustedProxies, refusing_room,
};
use crate::{gate, request_head};

/// How long a connection refused over a cap may take to say what it wants
/// (a client sends its request right after connecting): short, so a flood
/// of silent connections holds the spare descriptors only briefly.
const REFUSAL_HEAD_TIMEOUT: Duration = Duration::from_millis(500);

/// What a refused client is told to wait before trying again.
const RETRY_AFTER_SECONDS: u64 = 10;

/// Serves `router` on `listener` until `shutdown` resolves, then lets every
/// connection finish its request and waits for them to close.
pub(crate) async fn serve(
    listener: TcpListener,
    router: Router,
    limits: &ConnectionLimits,
    proxies: TrustedProxies,
    shutdown: impl Future<Output = ()>,
) -> io::Result<()> {
    let connections = Counter::new(limits.max_connections, limits.max_per_address);
    let room = refusing_room(limits.max_connections);
    let refusing = Counter::new(room, room);
    let (stop, stopping) = watch::channel(false);
    let (all_closed, open) = watch::channel(());
    let mut shutdown = pin!(shutdown);
    let mut errors = AcceptErrors::default();
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(error) => {
                    errors.wait_after(&error).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        // Chat frames are small and latency matters: never let Nagle hold them back.
        if let Err(error) = stream.set_nodelay(true) {
            tracing::debug!(%error, "cannot set TCP_NODELAY");
        }
        // A trusted proxy speaks for many clients; they are counted by
        // address once their requests name them.
        let address = (!proxies.contains(peer.ip())).then(|| ClientAddress::new(peer.ip()));
        let watch = (stopping.clone(), open.clone());
        match connections.open(address) {
            Ok(slot) => {
                let service = chat_service(router.clone(), proxies.clone(), peer);
                let builder = builder(limits.header_read_timeout, true);
                tokio::spawn(connection(builder, stream, slot, service, watch));
            }
            Err(full) => match refusing.open(None) {
                Ok(slot) => {
                    tracing::debug!(%peer, ?full, "connection over the cap refused");
                    let service = hyper::service::service_fn(move |request| refuse(request, full));
                    let builder = builder(REFUSAL_HEAD_TIMEOUT, false);
                    tokio::spawn(connection(builder, stream, slot, service, watch));
                }
                // Not even room to say no: close at once.
                Err(_) => drop(stream),
            },
        }
    }
    drop(listener);
    let _ = stop.send(true);
    drop(open);
    all_closed.closed().await;
    Ok(())
}

fn builder(header_read_timeout: Duration, keep_alive: bool) -> http1::Builder {
    let mut builder = http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(header_read_timeout)
        .keep_alive(keep_alive);
    builder
}

/// The chat for one connection from `peer`: each request learns its peer and
/// its client address, and gets a head of its own (see [`request_head`]).
fn chat_service(
    router: Router,
    proxies: TrustedProxies,
    peer: SocketAddr,
) -> impl hyper::service::Service<
    Request<Incoming>,
    Response = Response<Body>,
    Error = Infallible,
    Future = impl Future<Output = Result<Response<Body>, Infallible>> + Send,
> + Clone
+ Send
+ 'static {
    hyper::service::service_fn(move |mut request: Request<Incoming>| {
        let client = proxies.client(peer.ip(), request.headers());
        request.extensions_mut().insert(PeerAddr(peer));
        request.extensions_mut().insert(client);
        let request = request_head::own_head(request.map(Body::new));
        router.clone().call(request)
    })
}

/// Serves one connection until it closes, or until the server stops (then
/// the request in flight finishes first). `slot` counts it until its last
/// byte, WebSocket included.
async fn connection<S>(
    builder: http1::Builder,
    stream: TcpStream,
    slot: Slot,
    service: S,
    (mut stopping, _open): (watch::Receiver<bool>, watch::Receiver<()>),
) where
    S: hyper::service::HttpService<Incoming, ResBody = Body> + Send,
    S::Future: Send + 'static,
    S::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let io = TokioIo::new(Counted {
        stream,
        _slot: slot,
    });
    let mut conn = pin!(builder.serve_connection(io, service).with_upgrades());
    loop {
        tokio::select! {
            result = conn.as_mut() => {
                if let Err(error) = result {
                    tracing::trace!(%error, "connection ended with an error");
                }
                break;
            }
            changed = stopping.changed() => {
                conn.as_mut().graceful_shutdown();
                if changed.is_err() {
                    // Already told; wait for the connection alone.
                    let _ = conn.as_mut().await;
                    break;
                }
            }
        }
    }
}

/// The answer on a connection over a cap: `/healthz` as usual, anything else
/// `503` with when to retry.
async fn refuse(request: Request<Incoming>, full: Full) -> Result<Response<Body>, Infallible> {
    if request.uri().path() == "/healthz" {
        return Ok(Response::new(Body::from("ok")));
    }
    let why = match full {
        Full::Total => "The server has as many connections as it can take",
        Full::Address => "Too many connections from your address; close some",
    };
    Ok(gate::refusal(
        StatusCode::SERVICE_UNAVAILABLE,
        &format!("{why}. Try again in {RETRY_AFTER_SECONDS} s."),
        Some(RETRY_AFTER_SECONDS),
    ))
}

/// A TCP stream that holds its connection's place in the count for as long
/// as it is open, through an upgrade to WebSocket too.
struct Counted {
    stream: TcpStream,
    _slot: Slot,
}

impl AsyncRead for Counted {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_read(cx, buf)
    }
}

impl AsyncWrite for Counted {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.stream).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.stream).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.stream.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_shutdown(cx)
    }
}

/// Accept errors (out of descriptors, mostly) are logged once a second at
/// most, and the loop pauses a moment so it does not spin.
#[derive(Debug, Default)]
struct AcceptErrors {
    logged_at: Option<tokio::time::Instant>,
}

impl AcceptErrors {
    async fn wait_after(&mut self, error: &io::Error) {
        let now = tokio::time::Instant::now();
        if self
            .logged_at
            .is_none_or(|at| now.duration_since(at) >= Duration::from_secs(1))
        {
            tracing::error!(%error, "cannot accept a connection");
            self.logged_at = Some(now);
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

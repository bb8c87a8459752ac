//! The server's accept loop, for plain HTTP and HTTPS alike: every connection
//! runs in its own task (a TLS handshake included, so a silent client delays
//! nobody), under limits a flood cannot get past — a deadline for the TLS
//! handshake, a deadline for each request's headers (which is also how long a
//! kept-alive connection may stay idle), and a cap on open connections, in all
//! and per client address. Handlers see the connection as
//! `ConnectInfo<`[`Peer`]`>`, and requests that came over TLS carry [`OverTls`].

use std::{collections::HashMap, future::Future, net::SocketAddr, sync::Arc, time::Duration};

use axum::{
    Router,
    extract::ConnectInfo,
    http::{HeaderValue, Request, StatusCode, header},
    response::{IntoResponse, Response},
};
use hyper::body::Incoming;
use hyper_util::{
    rt::{TokioIo, TokioTimer},
    server::graceful::{GracefulShutdown, Watcher},
};
use rustls::ServerConfig;
use tokio::{
    net::{TcpListener, TcpStream},
    sync::{OwnedSemaphorePermit, Semaphore},
};
use tokio_rustls::TlsAcceptor;
use tower::ServiceExt;

use crate::{
    AppError,
    limits::ClientAddr,
    tls::{ChannelBinding, Peer},
};

/// The limits of the accept loop; [`ServeLimits::default`] gives the values the
/// server runs with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ServeLimits {
    /// How long a client may take for its TLS handshake.
    pub handshake_timeout: Duration,
    /// How long a client may take to send a request's headers, counted from when
    /// the server waits for them: a kept-alive connection with no next request
    /// is closed after this long too.
    pub header_read_timeout: Duration,
    /// How long a request may take once its headers are in, reading its body
    /// included: a body that stalls is answered `408` and the connection closed.
    pub request_timeout: Duration,
    /// Connections open at once (handshaking, waiting or busy); beyond it new
    /// connections are closed at once.
    pub max_connections: usize,
    /// Connections open at once from one client address (IPv6: one /64).
    pub max_connections_per_source: usize,
}

impl Default for ServeLimits {
    /// A 10 s handshake, 10 s for headers and keep-alive, 60 s for a request,
    /// 512 connections in all (below the usual limit of 1,024 open files) and
    /// 64 per address.
    fn default() -> Self {
        Self {
            handshake_timeout: Duration::from_secs(10),
            header_read_timeout: Duration::from_secs(10),
            request_timeout: Duration::from_secs(60),
            max_connections: 512,
            max_connections_per_source: 64,
        }
    }
}

/// The most threads the runtime keeps for blocking work (database calls,
/// signing, mail, password hashing). Tokio's default is 512: a flood of slow
/// requests then grows one thread per request, each with its stack and, under
/// glibc, a malloc arena that keeps its memory after the thread is gone. Beyond
/// this many, blocking work waits its turn (the database pool has 8 connections,
/// so more threads would only wait there).
pub const BLOCKING_THREADS: usize = 64;

/// The runtime the server runs on: one worker per core and at most
/// [`BLOCKING_THREADS`] threads for blocking work.
pub fn runtime() -> std::io::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .max_blocking_threads(BLOCKING_THREADS)
        .build()
}

/// A request extension marking requests that came over a TLS connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OverTls;

/// Serves `app` on `listener` (over TLS with `tls`, plain HTTP without) until
/// `shutdown` completes; then stops accepting and waits for the open
/// connections to finish their requests.
pub async fn serve(
    listener: TcpListener,
    tls: Option<Arc<ServerConfig>>,
    app: Router,
    limits: ServeLimits,
    shutdown: impl Future<Output = ()>,
) {
    accept(listener, tls, app, limits, shutdown)
        .await
        .shutdown()
        .await;
}

/// How serving ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Drained {
    /// Every request under way when `shutdown` came was answered.
    Clean,
    /// Connections were still busy when the drain time ran out; they are cut.
    Cut,
}

/// Like [`serve`], but waits at most `drain` for the open connections after
/// `shutdown`: the listener closes at once (new connections are refused), idle
/// kept-alive connections close, and requests under way may finish.
pub async fn serve_draining(
    listener: TcpListener,
    tls: Option<Arc<ServerConfig>>,
    app: Router,
    limits: ServeLimits,
    shutdown: impl Future<Output = ()>,
    drain: Duration,
) -> Drained {
    let graceful = accept(listener, tls, app, limits, shutdown).await;
    tracing::info!(
        drain_seconds = drain.as_secs(),
        "no longer accepting connections; draining requests under way"
    );
    match tokio::time::timeout(drain, graceful.shutdown()).await {
        Ok(()) => Drained::Clean,
        Err(_) => Drained::Cut,
    }
}

/// The accept loop until `shutdown`; the listener is closed when it returns,
/// and the open connections are watched by what it returns.
async fn accept(
    listener: TcpListener,
    tls: Option<Arc<ServerConfig>>,
    app: Router,
    limits: ServeLimits,
    shutdown: impl Future<Output = ()>,
) -> GracefulShutdown {
    let acceptor = tls.map(TlsAcceptor::from);
    let slots = Arc::new(Semaphore::new(limits.max_connections));
    let sources = Arc::new(Sources::default());
    let graceful = GracefulShutdown::new();
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            () = &mut shutdown => break,
        };
        let (tcp, addr) = match accepted {
            Ok(accepted) => accepted,
            Err(e) => {
                // Out of file descriptors or a connection reset before accept:
                // try again shortly instead of spinning.
                tracing::warn!(error = %e, "accepting a connection failed");
                tokio::time::sleep(Duration::from_millis(10)).await;
                continue;
            }
        };
        // Over a cap the connection is closed now rather than left to wait.
        let Ok(slot) = Arc::clone(&slots).try_acquire_owned() else {
            tracing::warn!(target: "topca::security", "connection refused: too many open connections");
            continue;
        };
        let Some(source) = Sources::enter(&sources, addr, limits.max_connections_per_source) else {
            tracing::warn!(target: "topca::security", client = %addr.ip(), "connection refused: too many open connections from one client");
            continue;
        };
        let held = Held {
            _slot: slot,
            _source: source,
        };
        tokio::spawn(connection(
            tcp,
            addr,
            acceptor.clone(),
            app.clone(),
            limits,
            graceful.watcher(),
            held,
        ));
    }
    drop(listener);
    graceful
}

/// What an open connection holds until it closes: its place under both caps.
struct Held {
    _slot: OwnedSemaphorePermit,
    _source: SourceSlot,
}

/// One connection: the TLS handshake under its deadline (when TLS), then HTTP/1.
async fn connection(
    tcp: TcpStream,
    addr: SocketAddr,
    acceptor: Option<TlsAcceptor>,
    app: Router,
    limits: ServeLimits,
    watcher: Watcher,
    _held: Held,
) {
    let _ = tcp.set_nodelay(true);
    let Some(acceptor) = acceptor else {
        let peer = Peer {
            addr,
            certificate: None,
        };
        return http(TokioIo::new(tcp), peer, None, app, limits, watcher).await;
    };
    let Ok(Ok(stream)) = tokio::time::timeout(limits.handshake_timeout, acceptor.accept(tcp)).await
    else {
        return;
    };
    let certificate = stream
        .get_ref()
        .1
        .peer_certificates()
        .and_then(|chain| chain.first())
        .map(|c| c.as_ref().to_vec());
    let binding = ChannelBinding::of(stream.get_ref().1);
    let peer = Peer { addr, certificate };
    http(
        TokioIo::new(stream),
        peer,
        Some(binding),
        app,
        limits,
        watcher,
    )
    .await;
}

/// Serves HTTP/1 requests on `io` until the client leaves, a deadline passes or
/// the server shuts down; `tls` is the channel binding of a TLS connection
/// (`Some(None)` when it could not be exported), `None` for plain HTTP.
async fn http<I>(
    io: I,
    peer: Peer,
    tls: Option<Option<ChannelBinding>>,
    app: Router,
    limits: ServeLimits,
    watcher: Watcher,
) where
    I: hyper::rt::Read + hyper::rt::Write + Unpin + Send + 'static,
{
    let over_tls = tls.is_some();
    let service = hyper::service::service_fn(move |mut request: Request<Incoming>| {
        request.extensions_mut().insert(ConnectInfo(peer.clone()));
        if over_tls {
            request.extensions_mut().insert(OverTls);
        }
        if let Some(Some(binding)) = tls {
            request.extensions_mut().insert(binding);
        }
        let answer = app.clone().oneshot(request);
        async move {
            let Ok(answer) = tokio::time::timeout(limits.request_timeout, answer).await else {
                return Ok(too_slow(over_tls));
            };
            answer
        }
    });
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_read_timeout)
        .keep_alive(true);
    // A connection ending in an error (reset, timeout) concerns that client only.
    if let Err(e) = watcher.watch(builder.serve_connection(io, service)).await {
        tracing::debug!(error = %e, "connection ended with an error");
    }
}

/// The answer to a request that did not finish within its deadline; the
/// connection closes after it.
fn too_slow(over_tls: bool) -> Response {
    let mut response = AppError::new(
        StatusCode::REQUEST_TIMEOUT,
        "the request did not arrive in time; please send it again",
    )
    .into_response();
    response
        .headers_mut()
        .insert(header::CONNECTION, HeaderValue::from_static("close"));
    crate::headers::apply(&mut response, over_tls);
    response
}

/// Open connections per client address.
#[derive(Debug, Default)]
struct Sources {
    open: std::sync::Mutex<HashMap<String, usize>>,
}

impl Sources {
    /// A place for one more connection from `addr`, unless it has `max` open.
    fn enter(sources: &Arc<Self>, addr: SocketAddr, max: usize) -> Option<SourceSlot> {
        let key = ClientAddr(addr.ip()).key();
        let mut open = sources.open.lock().ok()?;
        if open.get(&key).copied().unwrap_or(0) >= max {
            return None;
        }
        *open.entry(key.clone()).or_insert(0) += 1;
        Some(SourceSlot {
            sources: Arc::clone(sources),
            key,
        })
    }
}

/// One connection's place under its address's cap, given back when dropped.
#[derive(Debug)]
struct SourceSlot {
    sources: Arc<Sources>,
    key: String,
}

impl Drop for SourceSlot {
    fn drop(&mut self) {
        if let Ok(mut open) = self.sources.open.lock()
            && let Some(count) = open.get_mut(&self.key)
        {
            *count -= 1;
            if *count == 0 {
                open.remove(&self.key);
            }
        }
    }
}

//! The chat server as a library: [`app`] builds the whole HTTP + Socket.IO
//! service and [`run`] serves it until a shutdown signal, so tests start the
//! real server on port 0.

pub mod bot;
mod config;
mod hub;
pub mod identity;
mod request_head;
mod session;
mod shutdown;
pub mod store;

use std::future::Future;
use std::path::Path;
use std::sync::Arc;

use axum::Router;
use axum::ServiceExt as _;
use axum::routing::{get, post};
use axum::serve::ListenerExt as _;
use socketioxide::SocketIo;
use tokio::net::TcpListener;
use tower::ServiceExt as _;
use tower_http::services::{ServeDir, ServeFile};

pub use config::{Config, Engine, Settings, SetupError, StoreKind};
pub use hub::RateLimit;
pub use shutdown::shutdown_signal;

use bot::ChatBot;

/// Builds the router: `/socket.io` for the chat, `GET /healthz`,
/// `POST /api/session` for a user id and its token, and the
/// frontend bundle from `settings.dist` for every other path (unknown paths
/// get `index.html`, so client-side routes survive a reload).
///
/// The [`SocketIo`] handle is returned so the caller can close every
/// connection at shutdown.
pub fn app(settings: &Settings, bot: Arc<dyn ChatBot>) -> (Router, SocketIo) {
    let (layer, io) = hub::layer(settings, bot);
    let router = Router::new()
        .route("/healthz", get(healthz))
        .route(
            "/api/session",
            post(session::create).with_state(settings.signer.clone()),
        )
        .fallback_service(static_files(&settings.dist))
        .layer(layer);
    (router, io)
}

/// Serves `app` on `listener` with the tutorial's rule bot until `shutdown`
/// resolves, then disconnects every socket and drains in-flight requests.
pub async fn run(
    listener: TcpListener,
    settings: Settings,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    run_with_bot(listener, settings, Arc::new(bot::RuleBot), shutdown).await
}

/// [`run`] with another bot engine.
pub async fn run_with_bot(
    listener: TcpListener,
    settings: Settings,
    bot: Arc<dyn ChatBot>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    if !settings.dist.join("index.html").is_file() {
        tracing::warn!(
            dist = %settings.dist.display(),
            "no frontend bundle found: the chat page will not load (build it with `cargo xtask run`)"
        );
    }
    let (router, io) = app(&settings, bot);
    tracing::info!(address = %listener.local_addr()?, "serving the chat");
    // Chat frames are small and latency matters: never let Nagle hold them back.
    let listener = listener.tap_io(|tcp| {
        if let Err(error) = tcp.set_nodelay(true) {
            tracing::debug!(%error, "cannot set TCP_NODELAY");
        }
    });
    // Outside the router, so that axum's `OriginalUri` is made from the copy too.
    let service = router.map_request(request_head::own_head);
    axum::serve(listener, service.into_make_service())
        .with_graceful_shutdown(async move {
            shutdown.await;
            tracing::info!("shutting down: disconnecting every socket");
            io.close().await;
        })
        .await
}

async fn healthz() -> &'static str {
    "ok"
}

fn static_files(dist: &Path) -> ServeDir<ServeFile> {
    ServeDir::new(dist)
        .precompressed_gzip()
        .fallback(ServeFile::new(dist.join("index.html")))
}

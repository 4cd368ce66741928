//! The chat server as a library: [`app`] builds the whole HTTP + Socket.IO
//! service and [`run`] serves it until a shutdown signal, so tests start the
//! real server on port 0.

mod assets;
pub mod bot;
mod client_bundle;
mod config;
mod drain;
mod gate;
mod hub;
pub mod identity;
pub mod limits;
pub mod logging;
pub mod metrics;
mod request_head;
pub mod runtime;
mod serve;
mod session;
mod shutdown;
pub mod store;

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::middleware;
use axum::routing::{get, post};
use socketioxide::SocketIo;
use tokio::net::TcpListener;

pub use config::{BotSetupError, Config, Engine, Settings, SetupError, StoreKind};
pub use hub::ReplyShape;
pub use shutdown::shutdown_signal;

use bot::ChatBot;
use drain::Drain;
use limits::RateLimits;

/// Builds the router: `/socket.io` for the chat, `GET /healthz` (the
/// process is alive) and `GET /readyz` (it takes new sessions: 503 once it
/// drains), `POST /api/session` for a user id and its token, `/metrics`,
/// and the frontend bundle from `settings.dist` for every other path
/// (paths that name no file get `index.html`, so client-side routes
/// survive a reload). Socket.IO and new sessions pass the [`gate`] first;
/// the official browser client is at `/socket.io/socket.io.js`, as Node's
/// server has it.
///
/// The [`Stopping`] handle drains the node and closes every connection at
/// shutdown.
pub async fn app(settings: &Settings, bot: Arc<dyn ChatBot>) -> (Router, Stopping) {
    let limits = Arc::new(RateLimits::new(&settings.rates));
    let metrics = Arc::new(metrics::Metrics::new(&settings.node_id));
    let drain = Drain::default();
    let (layer, io, finisher) = hub::layer(
        settings,
        bot,
        limits.clone(),
        metrics.clone(),
        drain.clone(),
    )
    .await;
    let gate = Arc::new(gate::Gate {
        limits,
        origins: settings.allowed_origins.clone(),
        drain: drain.clone(),
    });
    let router = Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz).with_state(drain.clone()))
        .route(
            "/metrics",
            get(metrics::serve).with_state((metrics, io.clone())),
        )
        .route(
            "/api/session",
            post(session::create).with_state(settings.signer.clone()),
        )
        .merge(assets::router(&settings.dist))
        .layer(layer)
        .layer(middleware::from_fn(client_bundle::serve))
        .layer(middleware::from_fn_with_state(gate, gate::check));
    let stopping = Stopping {
        io,
        drain,
        finisher,
        // The slowest work to finish is a bot's answer.
        at_most: settings.bot_timeout + DRAIN_SLACK,
    };
    (router, stopping)
}

/// How much longer than the bot's timeout a drain may take.
const DRAIN_SLACK: Duration = Duration::from_secs(5);

/// How long the last batch may take to be stored and sent out at stop.
const STOP_PUBLISHING: Duration = Duration::from_secs(2);

/// Stops a node well: it drains first (see [`drain`]), then closes every
/// socket, so that clients reconnect to another node having lost nothing.
#[derive(Debug)]
pub struct Stopping {
    io: SocketIo,
    drain: Drain,
    finisher: hub::Finisher,
    at_most: Duration,
}

impl Stopping {
    /// Says "not ready", takes nothing new, finishes what was accepted
    /// (for at most the bot's timeout and a few seconds), then disconnects
    /// every socket.
    pub async fn drain_and_close(self) {
        self.drain.begin();
        tracing::info!("draining: not ready; new sessions and messages go to other nodes");
        match tokio::time::timeout(self.at_most, self.finisher.finish()).await {
            Ok(()) => tracing::info!("drained: every accepted message stored, sent and answered"),
            Err(_) => tracing::warn!(
                unfinished = self.drain.unfinished(),
                "drain took too long; stopping with work unfinished"
            ),
        }
        if tokio::time::timeout(STOP_PUBLISHING, self.finisher.stop())
            .await
            .is_err()
        {
            tracing::warn!("the publisher did not stop in time");
        }
        tracing::info!("shutting down: disconnecting every socket");
        self.io.close().await;
    }
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
    let (router, stopping) = app(&settings, bot).await;
    tracing::info!(
        address = %listener.local_addr()?,
        max_connections = settings.connections.max_connections,
        per_address = settings.connections.max_per_address,
        "serving the chat"
    );
    let shutdown = async move {
        shutdown.await;
        stopping.drain_and_close().await;
    };
    serve::serve(
        listener,
        router,
        &settings.connections,
        settings.trusted_proxies.clone(),
        shutdown,
    )
    .await
}

async fn healthz() -> &'static str {
    "ok"
}

async fn readyz(State(drain): State<Drain>) -> (StatusCode, &'static str) {
    if drain.is_draining() {
        (StatusCode::SERVICE_UNAVAILABLE, "draining\n")
    } else {
        (StatusCode::OK, "ready\n")
    }
}

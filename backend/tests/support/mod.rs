//! The real server on port 0, and a client for it: our own native Socket.IO
//! client, reading only the events a test asks for.

#[allow(dead_code, reason = "not every test file needs it")]
pub mod binary;
#[allow(dead_code, reason = "not every test file needs it")]
pub mod postgres;
#[allow(dead_code, reason = "not every test file needs it")]
pub mod tls;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use chat_server::bot::ChatBot;
use chat_server::{Settings, run_with_bot};
use protocol::native::Socket;
use protocol::{ClientConfig, ClientEvent};
use serde_json::Value;
use tokio::sync::oneshot;

/// How long a test waits for an event before failing.
const PATIENCE: Duration = Duration::from_secs(10);

/// A running chat server; stopped when dropped.
pub struct TestServer {
    pub addr: SocketAddr,
    _stop: oneshot::Sender<()>,
}

/// Starts the real server with `bot` on a port chosen by the OS.
#[allow(dead_code, reason = "not every test file needs it")]
pub async fn start(bot: Arc<dyn ChatBot>, settings: Settings) -> TestServer {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop, stopped) = oneshot::channel::<()>();
    tokio::spawn(async move {
        let shutdown = async {
            let _ = stopped.await;
        };
        run_with_bot(listener, settings, bot, shutdown)
            .await
            .unwrap();
    });
    TestServer { addr, _stop: stop }
}

impl TestServer {
    /// A server started some other way (a child process) at `addr`.
    #[allow(dead_code, reason = "not every test file needs it")]
    pub fn at(addr: SocketAddr) -> Self {
        let (stop, _) = oneshot::channel();
        Self { addr, _stop: stop }
    }
}

/// One connected client.
pub struct TestClient(Socket);

impl TestClient {
    /// Connects to `server` and waits until it has joined `/`.
    #[allow(dead_code, reason = "not every test file needs it")]
    pub async fn connect(server: &TestServer) -> Self {
        Self::connect_with(server, ClientConfig::default()).await
    }

    /// Connects to `server` with `config` (e.g. an auth payload).
    pub async fn connect_with(server: &TestServer, config: ClientConfig) -> Self {
        let url = format!("http://{}", server.addr);
        let socket = tokio::time::timeout(PATIENCE, Socket::connect(&url, config))
            .await
            .expect("connected in time")
            .expect("connected");
        Self(socket)
    }

    /// Connects to the first of `servers` that answers, moving to the next
    /// whenever an attempt fails, and waits until it has joined `/`.
    #[allow(dead_code, reason = "not every test file needs it")]
    pub async fn connect_any(servers: &[&TestServer]) -> Self {
        let urls: Vec<String> = servers
            .iter()
            .map(|server| format!("http://{}", server.addr))
            .collect();
        let socket = tokio::time::timeout(
            PATIENCE,
            Socket::connect_any(&urls, ClientConfig::default()),
        )
        .await
        .expect("connected in time")
        .expect("connected");
        Self(socket)
    }

    /// Waits until the connection is lost; panics after a while.
    #[allow(dead_code, reason = "not every test file needs it")]
    pub async fn disconnected(&mut self) {
        let lost = async {
            while !matches!(
                self.0.next_event().await.expect("client alive"),
                ClientEvent::Disconnected { .. }
            ) {}
        };
        tokio::time::timeout(PATIENCE, lost)
            .await
            .expect("disconnected in time");
    }

    /// Emits `event` with one argument.
    #[allow(dead_code, reason = "not every test file needs it")]
    pub fn emit(&self, event: &str, arg: Value) {
        self.0.emit(event, vec![arg]);
    }

    /// The name and first argument of the next event named one of `names`,
    /// skipping others; panics after a while.
    #[allow(dead_code, reason = "not every test file needs it")]
    pub async fn next_of<'a>(&mut self, names: &[&'a str]) -> (&'a str, Value) {
        let wanted = async {
            loop {
                if let ClientEvent::Event { name, args, .. } =
                    self.0.next_event().await.expect("client alive")
                    && let Some(&wanted) = names.iter().find(|&&n| n == name)
                {
                    return (wanted, args.into_iter().next().unwrap_or(Value::Null));
                }
            }
        };
        tokio::time::timeout(PATIENCE, wanted)
            .await
            .unwrap_or_else(|_| panic!("none of {names:?} within {PATIENCE:?}"))
    }

    /// The first argument of the next event named `name`, skipping others;
    /// panics after a while.
    pub async fn next(&mut self, name: &str) -> Value {
        let wanted = async {
            loop {
                match self.0.next_event().await.expect("client alive") {
                    ClientEvent::Event {
                        name: event, args, ..
                    } if event == name => {
                        return args.into_iter().next().unwrap_or(Value::Null);
                    }
                    _ => {}
                }
            }
        };
        tokio::time::timeout(PATIENCE, wanted)
            .await
            .unwrap_or_else(|_| panic!("no '{name}' event within {PATIENCE:?}"))
    }
}

/// The engines' HTTP client as the server makes it by default.
#[allow(dead_code, reason = "not every test file needs it")]
pub fn engine_client() -> chat_server::bot::EngineClient {
    chat_server::bot::EngineClient::new(&chat_server::bot::EngineOptions::default())
        .expect("the default client builds")
}

/// A new empty folder under the system's temporary one.
#[allow(dead_code, reason = "not every test file needs it")]
pub fn temp_dir(purpose: &str) -> std::path::PathBuf {
    use std::sync::atomic::{AtomicUsize, Ordering};
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    let dir = std::env::temp_dir().join(format!(
        "chat-test-{purpose}-{}-{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    ));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

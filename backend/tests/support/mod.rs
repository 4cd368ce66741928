//! A native Socket.IO client for the tests: our own protocol core driven over
//! tokio-tungstenite, and the real server started on port 0.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use chat_server::bot::ChatBot;
use chat_server::{Settings, run_with_bot};
use futures_util::{SinkExt as _, StreamExt as _};
use protocol::{Client, ClientConfig, ClientEvent, Output};
use serde_json::Value;
use tokio::sync::{mpsc, oneshot};
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::Message;

/// How long a test waits for an event before failing.
const PATIENCE: Duration = Duration::from_secs(10);

/// A running chat server; stopped when dropped.
pub struct TestServer {
    pub addr: SocketAddr,
    _stop: oneshot::Sender<()>,
}

/// Starts the real server with `bot` on a port chosen by the OS.
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

/// One connected client.
pub struct TestClient {
    emits: mpsc::UnboundedSender<(String, Value)>,
    events: mpsc::UnboundedReceiver<(String, Value)>,
}

impl TestClient {
    /// Connects to `server` and waits until it has joined `/`.
    pub async fn connect(server: &TestServer) -> Self {
        let url = format!(
            "ws://{}{}?{}",
            server.addr,
            protocol::DEFAULT_PATH,
            protocol::WEBSOCKET_QUERY
        );
        let (emits, emit_rx) = mpsc::unbounded_channel();
        let (event_tx, events) = mpsc::unbounded_channel();
        let (ready_tx, ready_rx) = oneshot::channel();
        tokio::spawn(drive(url, emit_rx, event_tx, ready_tx));
        tokio::time::timeout(PATIENCE, ready_rx)
            .await
            .expect("connected in time")
            .expect("driver alive");
        Self { emits, events }
    }

    /// Emits `event` with one argument.
    pub fn emit(&self, event: &str, arg: Value) {
        self.emits.send((event.to_owned(), arg)).unwrap();
    }

    /// The next event named `name`, skipping others; panics after a while.
    pub async fn next(&mut self, name: &str) -> Value {
        let wanted = async {
            loop {
                let (event, arg) = self.events.recv().await.expect("driver alive");
                if event == name {
                    return arg;
                }
            }
        };
        tokio::time::timeout(PATIENCE, wanted)
            .await
            .unwrap_or_else(|_| panic!("no '{name}' event within {PATIENCE:?}"))
    }
}

async fn drive(
    url: String,
    mut emits: mpsc::UnboundedReceiver<(String, Value)>,
    events: mpsc::UnboundedSender<(String, Value)>,
    ready: oneshot::Sender<()>,
) {
    let start = Instant::now();
    let mut ready = Some(ready);
    let mut client = Client::new(ClientConfig::default(), 7);
    let mut socket = None;
    client.connect(start.elapsed());
    loop {
        while let Some(output) = client.poll_output() {
            match output {
                Output::Open => {
                    socket = tokio_tungstenite::connect_async(url.as_str())
                        .await
                        .ok()
                        .map(|(ws, _)| ws);
                    if socket.is_none() {
                        client.on_transport_closed(start.elapsed());
                    }
                }
                Output::Send(frame) => {
                    if let Some(ws) = socket.as_mut() {
                        let _ = ws.send(Message::text(frame)).await;
                    }
                }
                Output::Close => socket = None,
                Output::Event(ClientEvent::Connected { .. }) => {
                    if let Some(ready) = ready.take() {
                        let _ = ready.send(());
                    }
                }
                Output::Event(ClientEvent::Event { name, mut args, .. }) => {
                    let arg = if args.is_empty() {
                        Value::Null
                    } else {
                        args.swap_remove(0)
                    };
                    if events.send((name, arg)).is_err() {
                        return;
                    }
                }
                Output::Event(_) => {}
            }
        }
        let deadline = client
            .poll_timeout()
            .map_or(start + Duration::from_secs(3600), |at| start + at);
        tokio::select! {
            frame = async { socket.as_mut().unwrap().next().await }, if socket.is_some() => match frame {
                Some(Ok(Message::Text(text))) => client.on_text(text.as_str(), start.elapsed()),
                Some(Ok(_)) => {}
                Some(Err(_)) | None => {
                    socket = None;
                    client.on_transport_closed(start.elapsed());
                }
            },
            emit = emits.recv() => match emit {
                Some((name, arg)) => client.emit(&name, vec![arg]),
                None => return,
            },
            () = tokio::time::sleep_until(deadline) => client.on_timeout(start.elapsed()),
        }
    }
}

//! Our native client against the two reference servers: the official Node.js
//! `socket.io` (e2e/fixtures/peer-server.cjs) and socketioxide (below, the
//! same behaviour). Every case runs against both.

use std::net::SocketAddr;
use std::process::Stdio;
use std::time::Duration;

use axum::Router;
use protocol::native::{AckError, ConnectError, Socket};
use protocol::{ClientConfig, ClientEvent, TransportKind, Transports, placeholder};
use serde_json::{Value, json};
use socketioxide::extract::{AckSender, Data, SocketRef};
use socketioxide::handler::ConnectHandler as _;
use socketioxide::{SocketIo, TransportType};
use tokio::io::{AsyncBufReadExt as _, BufReader};
use tokio::sync::oneshot;

const PATIENCE: Duration = Duration::from_secs(10);

/// The most both peers read per message or polling request: small, so that
/// a test can exceed it without megabytes.
const MAX_PAYLOAD: usize = 10_000;

#[derive(Debug, Clone, Copy)]
enum Kind {
    Node,
    Rust,
}

/// A running reference server.
struct Peer {
    kind: Kind,
    addr: SocketAddr,
    /// Whether the server accepts WebSocket (it always accepts polling).
    websocket: bool,
    stop: Option<Stopper>,
}

enum Stopper {
    Node(tokio::process::Child),
    Rust(oneshot::Sender<()>, tokio::task::JoinHandle<()>),
}

impl Peer {
    async fn start(kind: Kind, port: u16) -> Self {
        Self::start_with(kind, port, true).await
    }

    async fn start_with(kind: Kind, port: u16, websocket: bool) -> Self {
        match kind {
            Kind::Node => start_node(port, websocket).await,
            Kind::Rust => start_rust(port, websocket).await,
        }
    }

    fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    async fn stop(&mut self) {
        match self.stop.take() {
            Some(Stopper::Node(mut child)) => {
                let _ = child.kill().await;
            }
            Some(Stopper::Rust(stop, task)) => {
                let _ = stop.send(());
                let _ = task.await;
            }
            None => {}
        }
    }

    async fn restart(&mut self) {
        self.stop().await;
        *self = Self::start_with(self.kind, self.addr.port(), self.websocket).await;
    }
}

async fn start_node(port: u16, websocket: bool) -> Peer {
    let fixture = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../e2e/fixtures/peer-server.cjs"
    );
    let modules = concat!(env!("CARGO_MANIFEST_DIR"), "/../e2e/node_modules/socket.io");
    assert!(
        std::path::Path::new(modules).exists(),
        "the Node.js peer needs e2e/node_modules: run `cargo xtask test` (or `npm ci` in e2e/)"
    );
    let mut child = tokio::process::Command::new("node")
        .arg(fixture)
        .env("PORT", port.to_string())
        .env("MAX_PAYLOAD", MAX_PAYLOAD.to_string())
        .env(
            "TRANSPORTS",
            if websocket {
                "polling,websocket"
            } else {
                "polling"
            },
        )
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .kill_on_drop(true)
        .spawn()
        .expect("node runs");
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let line = tokio::time::timeout(PATIENCE, lines.next_line())
        .await
        .expect("node peer starts in time")
        .unwrap()
        .expect("node peer prints its address");
    let addr = line
        .rsplit("http://")
        .next()
        .and_then(|a| a.parse().ok())
        .unwrap_or_else(|| panic!("unexpected first line from the node peer: {line}"));
    Peer {
        kind: Kind::Node,
        addr,
        websocket,
        stop: Some(Stopper::Node(child)),
    }
}

#[derive(Debug)]
struct NotAuthorized;

impl std::fmt::Display for NotAuthorized {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("not authorized")
    }
}

async fn start_rust(port: u16, websocket: bool) -> Peer {
    let builder = SocketIo::builder().max_payload(MAX_PAYLOAD as u64);
    let builder = if websocket {
        builder
    } else {
        builder.transports([TransportType::Polling])
    };
    let (layer, io) = builder.build_layer();
    io.ns("/", async |socket: SocketRef| {
        socket.on("echo", async |socket: SocketRef, Data::<Value>(value)| {
            let _ = socket.emit("echo", &value);
        });
        socket.on(
            "binary",
            async |socket: SocketRef, Data::<(String, bytes::Bytes)>(message)| {
                let _ = socket.emit("binary", &message);
            },
        );
        socket.on("ack", async |Data::<Value>(value), ack: AckSender| {
            let _ = ack.send(&value);
        });
        socket.on("ask", async |socket: SocketRef| {
            let answer = match socket.emit_with_ack::<_, Value>("question", "ping?") {
                Ok(stream) => stream.await.unwrap_or(Value::Null),
                Err(_) => Value::Null,
            };
            let _ = socket.emit("answered", &answer);
        });
    });
    let private = async |socket: SocketRef, Data::<Value>(auth)| {
        let _ = socket.emit("welcome", &auth["token"]);
    };
    let authorize = async |Data::<Value>(auth): Data<Value>| {
        if auth["token"] == "secret" {
            Ok(())
        } else {
            Err(NotAuthorized)
        }
    };
    io.ns("/private", private.with(authorize));

    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port))
        .await
        .unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop, stopped) = oneshot::channel::<()>();
    let task = tokio::spawn(async move {
        let app = Router::new().layer(layer);
        let shutdown = async move {
            let _ = stopped.await;
            io.close().await;
        };
        let _ = axum::serve(listener, app)
            .with_graceful_shutdown(shutdown)
            .await;
    });
    Peer {
        kind: Kind::Rust,
        addr,
        websocket,
        stop: Some(Stopper::Rust(stop, task)),
    }
}

async fn connect(peer: &Peer, config: ClientConfig) -> Result<Socket, ConnectError> {
    tokio::time::timeout(PATIENCE, Socket::connect(&peer.url(), config))
        .await
        .unwrap_or_else(|_| panic!("{:?}: no answer to connect", peer.kind))
}

/// The next server event, skipping connection events.
async fn next_event(socket: &mut Socket) -> (String, Vec<Value>, Option<u64>) {
    let wanted = async {
        loop {
            if let ClientEvent::Event {
                name, args, ack, ..
            } = socket.next_event().await.expect("client alive")
            {
                return (name, args, ack);
            }
        }
    };
    tokio::time::timeout(PATIENCE, wanted)
        .await
        .expect("an event in time")
}

const PEERS: [Kind; 2] = [Kind::Node, Kind::Rust];

const TRANSPORTS: [Transports; 2] = [Transports::WebSocketOnly, Transports::PollingOnly];

fn over(transports: Transports) -> ClientConfig {
    ClientConfig {
        transports,
        ..ClientConfig::default()
    }
}

#[tokio::test]
async fn events_go_both_ways() {
    for kind in PEERS {
        let mut peer = Peer::start(kind, 0).await;
        for transports in TRANSPORTS {
            let mut socket = connect(&peer, over(transports)).await.unwrap();
            let payload = json!({"text": "héllo", "n": [1, 2.5, null], "nested": {"ok": true}});
            socket.emit("echo", vec![payload.clone()]);
            let (name, args, _) = next_event(&mut socket).await;
            assert_eq!(
                (name.as_str(), args),
                ("echo", vec![payload]),
                "{kind:?} {transports:?}"
            );
        }
        peer.stop().await;
    }
}

#[tokio::test]
async fn the_server_answers_our_acks() {
    for kind in PEERS {
        let mut peer = Peer::start(kind, 0).await;
        for transports in TRANSPORTS {
            let socket = connect(&peer, over(transports)).await.unwrap();
            let answer = socket
                .emit_with_ack("ack", vec![json!({"n": 1})], PATIENCE)
                .await;
            assert_eq!(answer, Ok(vec![json!({"n": 1})]), "{kind:?} {transports:?}");
        }
        let socket = connect(&peer, ClientConfig::default()).await.unwrap();
        // An event nobody acknowledges times out with an error instead of hanging.
        let silent = socket
            .emit_with_ack("nobody-listens", vec![], Duration::from_millis(200))
            .await;
        assert_eq!(silent, Err(AckError::TimedOut), "{kind:?}");
        peer.stop().await;
    }
}

#[tokio::test]
async fn we_answer_the_servers_acks() {
    for kind in PEERS {
        let mut peer = Peer::start(kind, 0).await;
        let mut socket = connect(&peer, over(Transports::PollingOnly)).await.unwrap();
        socket.emit("ask", vec![]);
        let (name, args, ack) = next_event(&mut socket).await;
        assert_eq!(
            (name.as_str(), args),
            ("question", vec![json!("ping?")]),
            "{kind:?}"
        );
        socket.ack(
            ack.expect("the server asked for an ack"),
            vec![json!("pong")],
        );
        let (name, args, _) = next_event(&mut socket).await;
        assert_eq!(
            (name.as_str(), args),
            ("answered", vec![json!("pong")]),
            "{kind:?}"
        );
        peer.stop().await;
    }
}

#[tokio::test]
async fn a_namespace_with_auth_lets_the_right_token_in() {
    for kind in PEERS {
        let mut peer = Peer::start(kind, 0).await;
        let config = ClientConfig {
            namespace: "/private".into(),
            auth: Some(json!({"token": "secret"})),
            ..ClientConfig::default()
        };
        let mut socket = connect(&peer, config).await.unwrap();
        let (name, args, _) = next_event(&mut socket).await;
        assert_eq!(
            (name.as_str(), args),
            ("welcome", vec![json!("secret")]),
            "{kind:?}"
        );
        peer.stop().await;
    }
}

#[tokio::test]
async fn a_refused_namespace_is_a_typed_error() {
    for kind in PEERS {
        let mut peer = Peer::start(kind, 0).await;
        let config = ClientConfig {
            namespace: "/private".into(),
            auth: Some(json!({"token": "guess"})),
            ..ClientConfig::default()
        };
        match connect(&peer, config).await {
            Err(ConnectError::Refused(message)) => {
                assert_eq!(message, "not authorized", "{kind:?}");
            }
            other => panic!("{kind:?}: expected a refusal, got {other:?}"),
        }
        peer.stop().await;
    }
}

#[tokio::test]
async fn after_a_server_restart_the_client_reconnects_and_sends_what_waited() {
    for kind in PEERS {
        let mut peer = Peer::start(kind, 0).await;
        let mut socket = connect(&peer, ClientConfig::default()).await.unwrap();
        peer.stop().await;
        let lost = async {
            while !matches!(
                socket.next_event().await,
                Some(ClientEvent::Disconnected { .. })
            ) {}
        };
        tokio::time::timeout(PATIENCE, lost)
            .await
            .expect("the client notices the server is gone");
        // Emitted while the server is down: kept, then sent once it is back.
        socket.emit("echo", vec![json!("after restart")]);
        peer.restart().await;
        let (name, args, _) = next_event(&mut socket).await;
        assert_eq!(
            (name.as_str(), args),
            ("echo", vec![json!("after restart")]),
            "{kind:?}"
        );
        peer.stop().await;
    }
}

#[tokio::test]
async fn a_server_without_websocket_is_reached_over_polling() {
    for kind in PEERS {
        let mut peer = Peer::start_with(kind, 0, false).await;
        let mut socket = connect(&peer, ClientConfig::default()).await.unwrap();
        let transport = loop {
            if let ClientEvent::Connected { transport, .. } =
                socket.next_event().await.expect("client alive")
            {
                break transport;
            }
        };
        assert_eq!(transport, TransportKind::Polling, "{kind:?}");
        socket.emit("echo", vec![json!("through polling")]);
        let (name, args, _) = next_event(&mut socket).await;
        assert_eq!(
            (name.as_str(), args),
            ("echo", vec![json!("through polling")]),
            "{kind:?}"
        );
        peer.stop().await;
    }
}

#[tokio::test]
async fn a_burst_over_polling_is_posted_within_the_servers_max_payload() {
    for kind in PEERS {
        let mut peer = Peer::start(kind, 0).await;
        let mut socket = connect(&peer, over(Transports::PollingOnly)).await.unwrap();
        // Emitted at once, the 20 messages queue behind the first POST and
        // weigh 40 KB together: four times what the server reads at once.
        let messages: Vec<String> = (0..20)
            .map(|n| format!("{n:02}{}", "é".repeat(1000)))
            .collect();
        for message in &messages {
            socket.emit("echo", vec![json!(message)]);
        }
        for message in &messages {
            let (name, args, _) = next_event(&mut socket).await;
            assert_eq!(
                (name.as_str(), args),
                ("echo", vec![json!(message)]),
                "{kind:?}"
            );
        }
        peer.stop().await;
    }
}

#[tokio::test]
async fn a_polling_client_reconnects_after_a_restart() {
    for kind in PEERS {
        let mut peer = Peer::start(kind, 0).await;
        let mut socket = connect(&peer, over(Transports::PollingOnly)).await.unwrap();
        peer.stop().await;
        let lost = async {
            while !matches!(
                socket.next_event().await,
                Some(ClientEvent::Disconnected { .. })
            ) {}
        };
        tokio::time::timeout(PATIENCE * 3, lost)
            .await
            .expect("the client notices the server is gone");
        socket.emit("echo", vec![json!("polling again")]);
        peer.restart().await;
        let (name, args, _) = next_event(&mut socket).await;
        assert_eq!(
            (name.as_str(), args),
            ("echo", vec![json!("polling again")]),
            "{kind:?}"
        );
        peer.stop().await;
    }
}

#[tokio::test]
async fn a_polling_session_upgrades_to_websocket_like_the_javascript_client() {
    for kind in PEERS {
        let mut peer = Peer::start(kind, 0).await;
        let mut socket = connect(&peer, over(Transports::PollingThenUpgrade))
            .await
            .unwrap();
        // The upgrade may finish before or after the namespace is joined.
        let upgraded = async {
            loop {
                if let ClientEvent::Upgraded { transport } =
                    socket.next_event().await.expect("client alive")
                {
                    return transport;
                }
            }
        };
        let upgraded = tokio::time::timeout(PATIENCE, upgraded)
            .await
            .unwrap_or_else(|_| panic!("{kind:?}: no upgrade"));
        assert_eq!(upgraded, TransportKind::WebSocket, "{kind:?}");
        socket.emit("echo", vec![json!("over the upgraded session")]);
        let (name, args, _) = next_event(&mut socket).await;
        assert_eq!(
            (name.as_str(), args),
            ("echo", vec![json!("over the upgraded session")]),
            "{kind:?}"
        );
        peer.stop().await;
    }
}

#[tokio::test]
async fn binary_attachments_go_both_ways() {
    for kind in PEERS {
        let mut peer = Peer::start(kind, 0).await;
        for transports in TRANSPORTS {
            let mut socket = connect(&peer, over(transports)).await.unwrap();
            let data: Vec<u8> = (0..=255).collect();
            socket.emit_binary(
                "binary",
                vec![json!("all bytes"), placeholder(0)],
                vec![data.clone()],
            );
            let wanted = async {
                loop {
                    if let ClientEvent::Event {
                        name,
                        args,
                        attachments,
                        ..
                    } = socket.next_event().await.expect("client alive")
                    {
                        return (name, args, attachments);
                    }
                }
            };
            let (name, args, attachments) = tokio::time::timeout(PATIENCE, wanted)
                .await
                .unwrap_or_else(|_| panic!("{kind:?} {transports:?}: no echo"));
            assert_eq!(name, "binary", "{kind:?} {transports:?}");
            assert_eq!(
                args,
                [json!("all bytes"), placeholder(0)],
                "{kind:?} {transports:?}"
            );
            assert_eq!(attachments, [data], "{kind:?} {transports:?}");
        }
        peer.stop().await;
    }
}

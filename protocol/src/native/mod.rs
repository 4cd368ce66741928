//! A native client: the [`Client`] core driven over a tokio WebSocket.
//!
//! ```no_run
//! # async fn demo() -> Result<(), protocol::native::ConnectError> {
//! use protocol::{ClientConfig, native::Socket};
//! let mut socket = Socket::connect("http://127.0.0.1:3000", ClientConfig::default()).await?;
//! socket.emit("newmessage", vec![serde_json::json!({"user": "ann", "body": "hi"})]);
//! while let Some(event) = socket.next_event().await {
//!     println!("{event:?}");
//! }
//! # Ok(()) }
//! ```

mod http;

use std::collections::{HashMap, VecDeque};
use std::time::Duration;

use futures_util::stream::FuturesUnordered;

use futures_util::{SinkExt as _, StreamExt as _};
use serde_json::Value;
use thiserror::Error;
use tokio::sync::{mpsc, oneshot};
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;

use crate::{AckId, Client, ClientConfig, ClientEvent, ConnectionState, Endpoints, Output};

/// Bytes read from a WebSocket at a time. tungstenite zeroes its read
/// buffer's spare room before every read, so its default (128 KiB) costs a
/// 128 KiB `memset` per frame received: 38% of the load generator's CPU with
/// 10,000 listeners. A chat packet is a few hundred bytes; a longer frame
/// still arrives whole, over more reads.
const READ_BUFFER: usize = 4 * 1024;

/// How every WebSocket of the client is set up.
fn websocket_config() -> WebSocketConfig {
    WebSocketConfig::default().read_buffer_size(READ_BUFFER)
}

/// Why [`Socket::connect`] gave up.
#[derive(Debug, Error)]
pub enum ConnectError {
    /// The URL is not `http://`, `https://`, `ws://` or `wss://`.
    #[error("unsupported URL {0:?}: expected http(s):// or ws(s)://")]
    BadUrl(String),
    /// The server refused the namespace (its middleware said no).
    #[error("connection refused: {0}")]
    Refused(String),
    /// No connection within the configured connect timeout and attempts.
    #[error("could not connect")]
    GaveUp,
}

/// Why an emit with an ack got no answer.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum AckError {
    /// The timeout passed first.
    #[error("no acknowledgement in time")]
    TimedOut,
    /// The socket was dropped before the answer came.
    #[error("the socket is closed")]
    Closed,
}

enum Command {
    Emit {
        event: String,
        args: Vec<Value>,
    },
    EmitBinary {
        event: String,
        args: Vec<Value>,
        attachments: Vec<Vec<u8>>,
    },
    Ack {
        id: AckId,
        args: Vec<Value>,
    },
    EmitWithAck {
        event: String,
        args: Vec<Value>,
        timeout: Duration,
        reply: oneshot::Sender<Result<Vec<Value>, AckError>>,
    },
}

/// A connected Socket.IO client. It reconnects by itself; dropping it closes
/// the connection.
#[derive(Debug)]
pub struct Socket {
    commands: mpsc::UnboundedSender<Command>,
    /// What arrived before `Connected` (and `Connected` itself), read
    /// before `events`.
    early: VecDeque<ClientEvent>,
    events: mpsc::UnboundedReceiver<ClientEvent>,
}

impl std::fmt::Debug for Command {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Emit { event, .. }
            | Self::EmitBinary { event, .. }
            | Self::EmitWithAck { event, .. } => {
                f.debug_struct("Command").field("event", event).finish()
            }
            Self::Ack { id, .. } => f.debug_struct("Command").field("ack", id).finish(),
        }
    }
}

impl Socket {
    /// Connects to the Socket.IO server at `base` (for example
    /// `http://127.0.0.1:3000`) with the configured transports and waits
    /// until the namespace is joined. Events that arrive before the caller
    /// reads them are kept. Long-polling speaks plain HTTP only.
    pub async fn connect(base: &str, config: ClientConfig) -> Result<Self, ConnectError> {
        Self::connect_any(&[base], config).await
    }

    /// Like [`connect`](Self::connect), with several servers of one cluster:
    /// it starts on the first and moves to the next whenever an attempt fails
    /// (see [`Endpoints`]), so a server that dies for good costs one failed
    /// attempt.
    pub async fn connect_any<S: AsRef<str>>(
        bases: &[S],
        config: ClientConfig,
    ) -> Result<Self, ConnectError> {
        let endpoints = Endpoints::new(bases).map_err(ConnectError::BadUrl)?;
        let (commands, command_rx) = mpsc::unbounded_channel();
        let (event_tx, mut events) = mpsc::unbounded_channel();
        tokio::spawn(drive(endpoints, config, command_rx, event_tx));
        let mut early = VecDeque::new();
        loop {
            match events.recv().await {
                Some(event @ ClientEvent::Connected { .. }) => {
                    early.push_back(event);
                    break;
                }
                Some(ClientEvent::ConnectError { message }) => {
                    return Err(ConnectError::Refused(message));
                }
                Some(ClientEvent::StateChanged(ConnectionState::Closed)) | None => {
                    return Err(ConnectError::GaveUp);
                }
                Some(other) => early.push_back(other),
            }
        }
        Ok(Self {
            commands,
            early,
            events,
        })
    }

    /// Emits `event` with `args`; kept and sent on reconnect while offline.
    pub fn emit(&self, event: &str, args: Vec<Value>) {
        let _ = self.commands.send(Command::Emit {
            event: event.to_owned(),
            args,
        });
    }

    /// Emits `event` with `args` and binary `attachments`, which `args` refer
    /// to with [`placeholder`](crate::placeholder)s.
    pub fn emit_binary(&self, event: &str, args: Vec<Value>, attachments: Vec<Vec<u8>>) {
        let _ = self.commands.send(Command::EmitBinary {
            event: event.to_owned(),
            args,
            attachments,
        });
    }

    /// Answers an event the server emitted with an ack id
    /// ([`ClientEvent::Event::ack`]).
    pub fn ack(&self, id: AckId, args: Vec<Value>) {
        let _ = self.commands.send(Command::Ack { id, args });
    }

    /// Emits `event` with `args` and waits for the server's answer, at most `timeout`.
    pub async fn emit_with_ack(
        &self,
        event: &str,
        args: Vec<Value>,
        timeout: Duration,
    ) -> Result<Vec<Value>, AckError> {
        let (reply, answer) = oneshot::channel();
        let command = Command::EmitWithAck {
            event: event.to_owned(),
            args,
            timeout,
            reply,
        };
        self.commands.send(command).map_err(|_| AckError::Closed)?;
        answer.await.unwrap_or(Err(AckError::Closed))
    }

    /// The next thing that happened, or `None` once the client has given up.
    pub async fn next_event(&mut self) -> Option<ClientEvent> {
        match self.early.pop_front() {
            Some(event) => Some(event),
            None => self.events.recv().await,
        }
    }
}

type WebSocket =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// Sends `message` on `socket`; on failure (or no socket) drops it and
/// answers `false`, so the caller tells the core.
async fn send_on(socket: &mut Option<WebSocket>, message: Message) -> bool {
    let sent = match socket.as_mut() {
        Some(open) => open.send(message).await.is_ok(),
        None => false,
    };
    if !sent {
        *socket = None;
    }
    sent
}

/// A probe WebSocket being opened.
type ProbeOpening = std::pin::Pin<
    Box<
        dyn std::future::Future<Output = Result<WebSocket, tokio_tungstenite::tungstenite::Error>>
            + Send,
    >,
>;

async fn drive(
    mut endpoints: Endpoints,
    config: ClientConfig,
    mut commands: mpsc::UnboundedReceiver<Command>,
    events: mpsc::UnboundedSender<ClientEvent>,
) {
    let start = Instant::now();
    // Each process hashes with fresh random keys: a cheap jitter seed.
    let seed = std::hash::BuildHasher::hash_one(
        &std::collections::hash_map::RandomState::new(),
        &endpoints,
    );
    let mut client = Client::new(config, seed);
    let mut socket: Option<WebSocket> = None;
    let mut requests = FuturesUnordered::new();
    // The upgrade probe: being opened, then open.
    let mut probe_opening: Option<ProbeOpening> = None;
    let mut probe: Option<WebSocket> = None;
    let mut acks: HashMap<AckId, oneshot::Sender<Result<Vec<Value>, AckError>>> = HashMap::new();
    client.connect(start.elapsed());
    // One timer, moved when the client's next deadline moves: a new one per
    // turn of the loop would be put in and taken out of the timer wheel for
    // every frame received.
    let timer = tokio::time::sleep_until(start);
    tokio::pin!(timer);
    loop {
        while let Some(output) = client.poll_output() {
            match output {
                Output::Open => {
                    match tokio_tungstenite::connect_async_with_config(
                        endpoints.url(),
                        Some(websocket_config()),
                        true,
                    )
                    .await
                    {
                        Ok((opened, _)) => socket = Some(opened),
                        Err(_) => client.on_transport_closed(start.elapsed()),
                    }
                }
                Output::Send(frame) => {
                    if !send_on(&mut socket, Message::text(frame)).await {
                        client.on_transport_closed(start.elapsed());
                    }
                }
                Output::SendBinary(data) => {
                    if !send_on(&mut socket, Message::binary(data)).await {
                        client.on_transport_closed(start.elapsed());
                    }
                }
                Output::Close => {
                    socket = None;
                    requests = FuturesUnordered::new();
                }
                Output::OpenProbe { query } => {
                    let probe_url =
                        crate::websocket_url(endpoints.url(), &query).unwrap_or_default();
                    probe_opening = Some(Box::pin(async move {
                        tokio_tungstenite::connect_async_with_config(
                            probe_url,
                            Some(websocket_config()),
                            true,
                        )
                        .await
                        .map(|(opened, _)| opened)
                    }));
                }
                Output::SendProbe(frame) => {
                    if !send_on(&mut probe, Message::text(frame)).await {
                        client.on_probe_closed();
                    }
                }
                Output::CloseProbe => {
                    probe = None;
                    probe_opening = None;
                }
                Output::PromoteProbe => socket = probe.take(),
                Output::Request(request) => {
                    let authority = endpoints.authority().to_owned();
                    requests.push(async move {
                        let response = http::perform(&authority, &request).await;
                        (request.id, response)
                    });
                }
                Output::Event(ClientEvent::Ack { id, args, .. }) => {
                    if let Some(reply) = acks.remove(&id) {
                        let _ = reply.send(Ok(args));
                    }
                }
                Output::Event(ClientEvent::AckTimedOut { id }) => {
                    if let Some(reply) = acks.remove(&id) {
                        let _ = reply.send(Err(AckError::TimedOut));
                    }
                }
                Output::Event(event) => {
                    match event {
                        ClientEvent::Connected { .. } => endpoints.on_connected(),
                        ClientEvent::StateChanged(ConnectionState::Reconnecting { .. }) => {
                            endpoints.on_reconnecting();
                        }
                        _ => {}
                    }
                    let closed =
                        matches!(event, ClientEvent::StateChanged(ConnectionState::Closed));
                    // Nobody listening is fine: the owner may only emit.
                    let _ = events.send(event);
                    if closed {
                        return;
                    }
                }
            }
        }
        let deadline = client
            .poll_timeout()
            .map_or(start + Duration::from_secs(86_400), |at| start + at);
        if timer.deadline() != deadline {
            timer.as_mut().reset(deadline);
        }
        tokio::select! {
            frame = async { socket.as_mut()?.next().await }, if socket.is_some() => match frame {
                Some(Ok(Message::Text(text))) => client.on_text(text.as_str(), start.elapsed()),
                Some(Ok(Message::Binary(data))) => client.on_binary(data.to_vec(), start.elapsed()),
                Some(Ok(Message::Close(_)) | Err(_)) | None => {
                    socket = None;
                    client.on_transport_closed(start.elapsed());
                }
                Some(Ok(_)) => {}
            },
            command = commands.recv() => match command {
                Some(Command::Emit { event, args }) => client.emit(&event, args),
                Some(Command::EmitBinary { event, args, attachments }) => {
                    client.emit_binary(&event, args, attachments);
                }
                Some(Command::Ack { id, args }) => client.ack(id, args),
                Some(Command::EmitWithAck { event, args, timeout, reply }) => {
                    let id = client.emit_with_ack(&event, args, Some(timeout), start.elapsed());
                    acks.insert(id, reply);
                }
                None => {
                    client.disconnect();
                    if let (Some(open), Some(Output::Send(frame))) = (socket.as_mut(), client.poll_output()) {
                        let _ = open.send(Message::text(frame)).await;
                        let _ = open.close(None).await;
                    }
                    return;
                }
            },
            opened = async { probe_opening.as_mut()?.await.ok() }, if probe_opening.is_some() => {
                probe_opening = None;
                match opened {
                    Some(open) => {
                        probe = Some(open);
                        client.on_probe_open();
                    }
                    None => client.on_probe_closed(),
                }
            }
            frame = async { probe.as_mut()?.next().await }, if probe.is_some() => match frame {
                Some(Ok(Message::Text(text))) => client.on_probe_text(text.as_str(), start.elapsed()),
                Some(Ok(Message::Close(_)) | Err(_)) | None => {
                    probe = None;
                    client.on_probe_closed();
                }
                Some(Ok(_)) => {}
            },
            Some((id, response)) = requests.next(), if !requests.is_empty() => {
                client.on_response(id, response, start.elapsed());
            }
            () = &mut timer => client.on_timeout(start.elapsed()),
        }
    }
}

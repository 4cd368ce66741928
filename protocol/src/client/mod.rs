//! The client state machine: one Socket.IO namespace over a reconnecting
//! Engine.IO session.
//!
//! The driver's contract:
//! - call [`Client::connect`] once, then loop: act on every [`Output`] from
//!   [`Client::poll_output`], and call [`Client::on_timeout`] when the time from
//!   [`Client::poll_timeout`] has come;
//! - report what the WebSocket does: [`Client::on_text`] for each text frame,
//!   [`Client::on_transport_closed`] when it closes or fails *by itself*. A
//!   transport the core asked to close with [`Output::Close`] is simply dropped
//!   and not reported, so a late close can never be mistaken for the next one;
//! - for long-polling, make each [`Output::Request`] and report its outcome
//!   with [`Client::on_response`]. Several may be in flight at once (one GET,
//!   one POST); after [`Output::Close`], their answers may be dropped.
//!
//! Time is a [`Duration`] since any fixed origin the driver chooses.

mod binary;
mod upgrade;

pub use binary::placeholder;

use std::collections::{BTreeMap, VecDeque};
use std::time::Duration;

use serde_json::Value;

use crate::backoff::{Backoff, ReconnectConfig};
use crate::socketio::{Packet, PacketKind};
use crate::transport::{
    Answered, PollRequest, Polling, RECORD_SEPARATOR, TransportKind, Transports,
};
use crate::{DecodeError, engineio};

/// Identifies an emit that asked for an acknowledgement.
pub type AckId = u64;

/// How the client connects.
#[derive(Debug, Clone, PartialEq)]
pub struct ClientConfig {
    /// The namespace to join. Default `/`.
    pub namespace: String,
    /// Sent with CONNECT for the server's middleware to read. Default none.
    pub auth: Option<Value>,
    /// Reconnection delays and limits; see [`ReconnectConfig`].
    pub reconnect: ReconnectConfig,
    /// How long opening the transport and joining the namespace may take
    /// before the attempt counts as failed. Default 20 s, as in the JavaScript client.
    pub connect_timeout: Duration,
    /// Which transports to use. Default: WebSocket, falling back to long-polling.
    pub transports: Transports,
    /// The largest frame or attachment accepted from the server, in bytes;
    /// a bigger one is a protocol error and costs the connection, so hostile
    /// input cannot take unbounded memory. Default 16 MiB. (The handshake's
    /// `maxPayload` is the server's limit on what it reads, not this.)
    pub max_incoming_bytes: usize,
}

impl Default for ClientConfig {
    fn default() -> Self {
        Self {
            namespace: "/".to_owned(),
            auth: None,
            reconnect: ReconnectConfig::default(),
            connect_timeout: Duration::from_secs(20),
            transports: Transports::default(),
            max_incoming_bytes: 16 * 1024 * 1024,
        }
    }
}

/// Where the connection stands, as a user would describe it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConnectionState {
    /// [`Client::connect`] has not been called.
    Idle,
    /// The first connection is being made.
    Connecting,
    /// Joined the namespace; emits go out at once.
    Connected,
    /// The connection was lost or could not be made; trying again. Emits are kept.
    Reconnecting {
        /// How many attempts have been scheduled since the last success.
        attempt: u32,
    },
    /// Given up: closed by the application, refused by the server, or out of attempts.
    Closed,
}

/// What happened, for the application.
#[derive(Debug)]
pub enum ClientEvent {
    /// [`Client::state`] changed to this.
    StateChanged(ConnectionState),
    /// Joined the namespace; buffered emits have just been sent.
    Connected {
        /// The Socket.IO session id the server gave.
        sid: String,
        /// What carries the session.
        transport: TransportKind,
    },
    /// The connection was lost after it had been established.
    Disconnected {
        /// Why, in words.
        reason: String,
    },
    /// The server emitted an event.
    Event {
        /// The event name.
        name: String,
        /// Its arguments.
        args: Vec<Value>,
        /// Set when the server wants an answer through [`Client::ack`].
        ack: Option<AckId>,
        /// Binary attachments, which `args` refer to with placeholders
        /// (`{"_placeholder":true,"num":i}`); empty for plain events.
        attachments: Vec<Vec<u8>>,
    },
    /// The server answered an emit made with [`Client::emit_with_ack`].
    Ack {
        /// Which emit.
        id: AckId,
        /// The server's answer.
        args: Vec<Value>,
        /// Binary attachments of the answer, referred to by placeholders.
        attachments: Vec<Vec<u8>>,
    },
    /// No answer came in time for an emit made with [`Client::emit_with_ack`].
    AckTimedOut {
        /// Which emit.
        id: AckId,
    },
    /// A long-polling session moved to a faster transport.
    Upgraded {
        /// What carries the session from now on.
        transport: TransportKind,
    },
    /// The server refused to let this client join the namespace. The client
    /// does not retry: the same request would be refused again.
    ConnectError {
        /// The server's reason.
        message: String,
    },
    /// The server sent something this client cannot understand. The
    /// connection is dropped and made again, as the JavaScript client does.
    ProtocolError(DecodeError),
}

/// What the driver must do next, in order.
#[derive(Debug)]
pub enum Output {
    /// Open a WebSocket to the Engine.IO endpoint
    /// ([`DEFAULT_PATH`](crate::DEFAULT_PATH)`?`[`WEBSOCKET_QUERY`](crate::WEBSOCKET_QUERY)).
    Open,
    /// Send this text frame on the open WebSocket.
    Send(String),
    /// Send this binary frame (an attachment) on the open WebSocket.
    SendBinary(Vec<u8>),
    /// Make this long-polling HTTP request and report its outcome with
    /// [`Client::on_response`].
    Request(PollRequest),
    /// Close and drop the transport (or abandon the polling requests); do not
    /// report its closing.
    Close,
    /// Open a second WebSocket to probe an upgrade, at
    /// [`DEFAULT_PATH`](crate::DEFAULT_PATH)`?{query}`; report it with
    /// [`Client::on_probe_open`], [`Client::on_probe_text`] and [`Client::on_probe_closed`].
    OpenProbe {
        /// The query string, with the session id.
        query: String,
    },
    /// Send this text frame on the probe WebSocket.
    SendProbe(String),
    /// Close and drop the probe WebSocket.
    CloseProbe,
    /// The probe becomes the transport: carry on over the probe WebSocket.
    /// No polling request is in flight by then.
    PromoteProbe,
    /// Tell the application.
    Event(ClientEvent),
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Phase {
    Idle,
    /// Transport requested, waiting for the Engine.IO handshake.
    Opening {
        deadline: Duration,
    },
    /// Handshake done, CONNECT sent, waiting for the namespace to answer.
    Joining {
        deadline: Duration,
    },
    Connected,
    /// Waiting to reconnect.
    Waiting {
        until: Duration,
    },
    Closed,
}

/// The Socket.IO client core. See the module documentation for the driver's contract.
#[derive(Debug)]
pub struct Client {
    config: ClientConfig,
    phase: Phase,
    backoff: Backoff,
    out: VecDeque<Output>,
    /// Emits made while not connected (with their attachments), sent in order once connected.
    buffer: VecDeque<(Packet, Vec<Vec<u8>>)>,
    /// A binary packet whose attachments are still arriving.
    partial: Option<binary::Partial>,
    /// Emits waiting for an ack, with their deadline if they have one.
    pending_acks: BTreeMap<AckId, Option<Duration>>,
    next_ack: AckId,
    /// The server must ping before this, or the connection is dead.
    ping_deadline: Option<Duration>,
    /// `pingInterval + pingTimeout` from the handshake.
    ping_window: Duration,
    /// The state last reported through [`ClientEvent::StateChanged`].
    reported: ConnectionState,
    /// The transport of the current attempt, if one is open or opening.
    transport: Option<TransportKind>,
    /// Long-polling bookkeeping, used while `transport` is polling.
    polling: Polling,
    /// Ids for polling requests; never reused within a client.
    next_request: u64,
    /// Set once a WebSocket failed before its handshake, with
    /// [`Transports::WebSocketWithFallback`]: connect with long-polling and
    /// probe an upgrade, until an upgrade succeeds.
    websocket_failed: bool,
    /// An upgrade in progress.
    probe: Option<upgrade::Probe>,
}

impl Client {
    /// A client that does nothing until [`connect`](Self::connect). `seed` feeds
    /// the reconnection jitter; give each client a different one.
    pub fn new(config: ClientConfig, seed: u64) -> Self {
        let backoff = Backoff::new(config.reconnect.clone(), seed);
        let polling = Polling::new(format!("{:x}-", seed & 0xffff_ffff));
        Self {
            config,
            phase: Phase::Idle,
            backoff,
            out: VecDeque::new(),
            buffer: VecDeque::new(),
            partial: None,
            pending_acks: BTreeMap::new(),
            next_ack: 0,
            ping_deadline: None,
            ping_window: Duration::ZERO,
            reported: ConnectionState::Idle,
            transport: None,
            polling,
            next_request: 0,
            websocket_failed: false,
            probe: None,
        }
    }

    /// What carries the session now, if anything.
    pub fn transport(&self) -> Option<TransportKind> {
        self.transport
    }

    /// Where the connection stands.
    pub fn state(&self) -> ConnectionState {
        match self.phase {
            Phase::Idle => ConnectionState::Idle,
            Phase::Connected => ConnectionState::Connected,
            Phase::Closed => ConnectionState::Closed,
            Phase::Opening { .. } | Phase::Joining { .. } | Phase::Waiting { .. } => {
                match self.backoff.attempts() {
                    0 => ConnectionState::Connecting,
                    attempt => ConnectionState::Reconnecting { attempt },
                }
            }
        }
    }

    /// Starts connecting (again, after [`disconnect`](Self::disconnect) or a refusal).
    pub fn connect(&mut self, now: Duration) {
        if matches!(self.phase, Phase::Idle | Phase::Closed) {
            self.backoff.reset();
            self.open_transport(now);
        }
        self.sync_state();
    }

    /// Leaves the namespace and closes the transport; no reconnection follows.
    pub fn disconnect(&mut self) {
        if self.phase == Phase::Connected {
            self.send_packet(&Packet::disconnect(&self.config.namespace));
        }
        if !matches!(
            self.phase,
            Phase::Idle | Phase::Closed | Phase::Waiting { .. }
        ) {
            self.out.push_back(Output::Close);
        }
        self.phase = Phase::Closed;
        self.ping_deadline = None;
        self.sync_state();
    }

    /// Replaces the CONNECT payload sent on the next (re)connection, e.g. to
    /// tell the server what the client already has.
    pub fn set_auth(&mut self, auth: Option<Value>) {
        self.config.auth = auth;
    }

    /// Emits `name` with `args`. While not connected the emit is kept and sent,
    /// in order, once the connection is back.
    pub fn emit(&mut self, name: &str, args: Vec<Value>) {
        let packet = Packet::event(&self.config.namespace, name, args, None);
        self.send_or_buffer(packet, Vec::new());
    }

    /// Emits `name` with `args` and asks the server to answer. The answer comes
    /// as [`ClientEvent::Ack`], or [`ClientEvent::AckTimedOut`] once `timeout`
    /// (counted from `now`) has passed.
    pub fn emit_with_ack(
        &mut self,
        name: &str,
        args: Vec<Value>,
        timeout: Option<Duration>,
        now: Duration,
    ) -> AckId {
        let id = self.next_ack;
        self.next_ack += 1;
        self.pending_acks.insert(id, timeout.map(|t| now + t));
        let packet = Packet::event(&self.config.namespace, name, args, Some(id));
        self.send_or_buffer(packet, Vec::new());
        id
    }

    /// Answers an event the server emitted with an ack id. Does nothing when
    /// not connected: the server has forgotten the question by then.
    pub fn ack(&mut self, id: AckId, args: Vec<Value>) {
        if self.phase == Phase::Connected {
            self.send_packet(&Packet::ack(&self.config.namespace, id, args));
        }
    }

    /// The next thing for the driver to do, if any.
    pub fn poll_output(&mut self) -> Option<Output> {
        self.out.pop_front()
    }

    /// When [`on_timeout`](Self::on_timeout) must next be called, if ever.
    pub fn poll_timeout(&self) -> Option<Duration> {
        let phase = match self.phase {
            Phase::Opening { deadline } | Phase::Joining { deadline } => Some(deadline),
            Phase::Waiting { until } => Some(until),
            Phase::Connected => self.ping_deadline,
            Phase::Idle | Phase::Closed => None,
        };
        let ack = self.pending_acks.values().flatten().min().copied();
        match (phase, ack) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// Acts on the deadlines that have passed by `now`.
    pub fn on_timeout(&mut self, now: Duration) {
        match self.phase {
            Phase::Opening { deadline } | Phase::Joining { deadline } if now >= deadline => {
                self.drop_transport(now, "connect timeout");
            }
            Phase::Connected if self.ping_deadline.is_some_and(|d| now >= d) => {
                self.drop_transport(now, "ping timeout");
            }
            Phase::Waiting { until } if now >= until => self.open_transport(now),
            _ => {}
        }
        let expired: Vec<AckId> = self
            .pending_acks
            .iter()
            .filter(|(_, deadline)| deadline.is_some_and(|d| now >= d))
            .map(|(id, _)| *id)
            .collect();
        for id in expired {
            self.pending_acks.remove(&id);
            self.out
                .push_back(Output::Event(ClientEvent::AckTimedOut { id }));
        }
        self.sync_state();
    }

    /// The WebSocket closed or failed by itself.
    pub fn on_transport_closed(&mut self, now: Duration) {
        if self.transport == Some(TransportKind::WebSocket)
            && matches!(
                self.phase,
                Phase::Opening { .. } | Phase::Joining { .. } | Phase::Connected
            )
        {
            self.transport_lost(now, "transport closed");
        }
        self.sync_state();
    }

    /// A text frame arrived on the WebSocket.
    pub fn on_text(&mut self, frame: &str, now: Duration) {
        if self.transport == Some(TransportKind::WebSocket) {
            self.receive(frame, now);
        }
        self.sync_state();
    }

    /// A polling request finished: `Ok` with the response body when the server
    /// answered 200, `Err(())` when the request failed in any way.
    pub fn on_response(&mut self, id: u64, response: Result<String, ()>, now: Duration) {
        if self.transport == Some(TransportKind::Polling) {
            match (self.polling.answer(id), response) {
                (Answered::Stale, _) => {}
                (_, Err(())) => self.drop_transport(now, "polling request failed"),
                (Answered::Get, Ok(payload)) => {
                    for frame in payload.split(RECORD_SEPARATOR) {
                        // Stop at the first frame that ends the session.
                        if !self.receive(frame, now)
                            || self.transport != Some(TransportKind::Polling)
                        {
                            break;
                        }
                    }
                    self.finish_upgrade();
                    self.pump();
                }
                (Answered::Post, Ok(_)) => {
                    self.finish_upgrade();
                    self.pump();
                }
            }
        }
        self.sync_state();
    }

    /// Handles one frame from the server; `false` if it cost the connection.
    fn receive(&mut self, frame: &str, now: Duration) -> bool {
        if matches!(
            self.phase,
            Phase::Idle | Phase::Closed | Phase::Waiting { .. }
        ) {
            return false;
        }
        if let Some(encoded) = frame.strip_prefix('b')
            && self.transport == Some(TransportKind::Polling)
        {
            return self.receive_base64(encoded, now);
        }
        match self.handle_frame(frame, now) {
            Ok(()) => true,
            Err(error) => self.fail(error, now),
        }
    }

    /// Reports what the server got wrong and drops the connection; always `false`.
    fn fail(&mut self, error: DecodeError, now: Duration) -> bool {
        self.out
            .push_back(Output::Event(ClientEvent::ProtocolError(error)));
        self.drop_transport(now, "parse error");
        false
    }

    /// Issues the polling requests that can go out now.
    fn pump(&mut self) {
        if self.transport != Some(TransportKind::Polling) || self.upgrade_pausing() {
            return;
        }
        if let Some(post) = self.polling.next_post(self.next_request) {
            self.next_request += 1;
            self.out.push_back(Output::Request(post));
        }
        if matches!(self.phase, Phase::Joining { .. } | Phase::Connected)
            && let Some(get) = self.polling.next_get(self.next_request)
        {
            self.next_request += 1;
            self.out.push_back(Output::Request(get));
        }
    }

    fn handle_frame(&mut self, frame: &str, now: Duration) -> Result<(), DecodeError> {
        if frame.len() > self.config.max_incoming_bytes {
            return Err(DecodeError::TooLarge {
                size: frame.len(),
                limit: self.config.max_incoming_bytes,
            });
        }
        match engineio::Packet::decode(frame)? {
            engineio::Packet::Open(handshake) => {
                if let Phase::Opening { deadline } = self.phase {
                    self.ping_window = Duration::from_millis(
                        handshake
                            .ping_interval
                            .saturating_add(handshake.ping_timeout),
                    );
                    self.ping_deadline = Some(now + self.ping_window);
                    self.polling.sid = Some(handshake.sid);
                    self.polling.max_payload = Some(handshake.max_payload);
                    let join = Packet::connect(&self.config.namespace, self.config.auth.clone());
                    self.send_packet(&join);
                    self.phase = Phase::Joining { deadline };
                    self.maybe_start_upgrade(&handshake.upgrades);
                }
            }
            engineio::Packet::Ping(data) => {
                self.send_frame(engineio::Packet::Pong(data).encode());
                self.ping_deadline = Some(now + self.ping_window);
            }
            engineio::Packet::Close => self.drop_transport(now, "server closed the session"),
            engineio::Packet::Message(text) => {
                if self.partial.is_some() {
                    return Err(DecodeError::BadPayload {
                        kind: "BINARY",
                        reason: "a packet arrived before the previous one's attachments",
                    });
                }
                self.handle_packet(Packet::decode(&text)?, now);
            }
            engineio::Packet::Pong(_) | engineio::Packet::Upgrade | engineio::Packet::Noop => {}
        }
        Ok(())
    }

    fn handle_packet(&mut self, packet: Packet, now: Duration) {
        // Binary packets of any namespace must collect their attachments.
        if packet.namespace != self.config.namespace && !packet.kind.is_binary() {
            return;
        }
        match packet.kind {
            PacketKind::Connect => {
                if matches!(self.phase, Phase::Joining { .. }) {
                    let sid = packet
                        .data
                        .as_ref()
                        .and_then(|d| d.get("sid"))
                        .and_then(Value::as_str)
                        .unwrap_or_default()
                        .to_owned();
                    self.phase = Phase::Connected;
                    self.backoff.reset();
                    let transport = self.transport.unwrap_or(TransportKind::WebSocket);
                    self.out
                        .push_back(Output::Event(ClientEvent::Connected { sid, transport }));
                    while let Some((packet, attachments)) = self.buffer.pop_front() {
                        self.send_with_attachments(&packet, attachments);
                    }
                }
            }
            PacketKind::ConnectError => {
                let message = match &packet.data {
                    Some(Value::String(message)) => message.clone(),
                    Some(data) => data
                        .get("message")
                        .and_then(Value::as_str)
                        .unwrap_or("connection refused")
                        .to_owned(),
                    None => "connection refused".to_owned(),
                };
                self.out
                    .push_back(Output::Event(ClientEvent::ConnectError { message }));
                self.out.push_back(Output::Close);
                self.phase = Phase::Closed;
            }
            // Unlike the JavaScript client, a server-side disconnect is
            // treated as a lost connection: a chat that stays silently
            // offline after a server restart helps nobody.
            PacketKind::Disconnect => self.drop_transport(now, "server disconnected"),
            PacketKind::Event | PacketKind::Ack => self.deliver(packet, Vec::new()),
            PacketKind::BinaryEvent | PacketKind::BinaryAck => self.start_binary(packet),
        }
    }

    fn send_or_buffer(&mut self, packet: Packet, attachments: Vec<Vec<u8>>) {
        if self.phase == Phase::Connected {
            self.send_with_attachments(&packet, attachments);
        } else {
            self.buffer.push_back((packet, attachments));
        }
    }

    fn send_packet(&mut self, packet: &Packet) {
        self.send_frame(engineio::Packet::Message(packet.encode()).encode());
    }

    fn send_frame(&mut self, frame: String) {
        if self.transport == Some(TransportKind::Polling) {
            self.polling.queue(frame);
            self.pump();
        } else {
            self.out.push_back(Output::Send(frame));
        }
    }

    fn open_transport(&mut self, now: Duration) {
        self.phase = Phase::Opening {
            deadline: now + self.config.connect_timeout,
        };
        self.ping_deadline = None;
        let polling = match self.config.transports {
            Transports::WebSocketOnly => false,
            Transports::PollingOnly | Transports::PollingThenUpgrade => true,
            Transports::WebSocketWithFallback => self.websocket_failed,
        };
        if polling {
            self.transport = Some(TransportKind::Polling);
            self.polling.reset();
            let handshake = self.polling.handshake(self.next_request);
            self.next_request += 1;
            self.out.push_back(Output::Request(handshake));
        } else {
            self.transport = Some(TransportKind::WebSocket);
            self.out.push_back(Output::Open);
        }
    }

    /// Closes the transport on the core's own decision, then reconnects.
    fn drop_transport(&mut self, now: Duration, reason: &str) {
        if self.probe.take().is_some() {
            self.out.push_back(Output::CloseProbe);
        }
        self.out.push_back(Output::Close);
        self.transport_lost(now, reason);
    }

    fn transport_lost(&mut self, now: Duration, reason: &str) {
        if matches!(self.phase, Phase::Opening { .. })
            && self.transport == Some(TransportKind::WebSocket)
            && self.config.transports == Transports::WebSocketWithFallback
        {
            self.websocket_failed = true;
        }
        self.transport = None;
        self.partial = None;
        self.polling.reset();
        if self.probe.take().is_some() {
            self.out.push_back(Output::CloseProbe);
        }
        if self.phase == Phase::Connected {
            let reason = reason.to_owned();
            self.out
                .push_back(Output::Event(ClientEvent::Disconnected { reason }));
        }
        self.ping_deadline = None;
        self.phase = if self.backoff.exhausted() {
            Phase::Closed
        } else {
            Phase::Waiting {
                until: now + self.backoff.next_delay(),
            }
        };
    }

    fn sync_state(&mut self) {
        let state = self.state();
        if state != self.reported {
            self.reported = state;
            self.out
                .push_back(Output::Event(ClientEvent::StateChanged(state)));
        }
    }
}

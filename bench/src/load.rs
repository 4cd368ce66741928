//! One load scenario: connect, send, count, report.

use std::sync::Arc;
use std::time::Duration;

use clap::Parser;
use protocol::native::Socket;
use protocol::{ClientConfig, ClientEvent, Transports};
use serde::Serialize;
use serde_json::{Value, json};
use tokio::sync::Semaphore;
use tokio::time::Instant;

use crate::{Latencies, ProcessStats};

/// The tutorial's event, which every server under test speaks.
const NEW_MESSAGE: &str = "newmessage";

/// Our server's page of a room's messages, sent as a socket enters it.
const HISTORY: &str = "history";

/// Connections opened at once; more would only queue in the kernel.
const CONNECTING_AT_ONCE: usize = 64;

/// The body of the one message sent before the timed run, which every
/// client must have heard (live or in its history) before the run starts.
const WARM_UP: &str = "warm-up";

/// How long the clients may take to hear the warm-up message.
const WARM_UP_TIMEOUT: Duration = Duration::from_secs(60);

/// What load to apply.
#[derive(Debug, Clone, Parser)]
#[command(
    name = "chat-bench",
    about = "Load generator for Socket.IO chat servers"
)]
pub struct Load {
    /// The server's base URL; with several (comma-separated), the clients
    /// are spread over them in turn (the senders first, then the listeners),
    /// and a client whose server fails moves on to the next one.
    #[arg(long, value_delimiter = ',', default_value = "http://127.0.0.1:3000")]
    pub url: Vec<String>,
    /// How many clients connect and send. Default 50.
    #[arg(long, default_value_t = 50)]
    pub clients: usize,
    /// How many messages each client sends; 0 keeps them idle. Default 20.
    #[arg(long, default_value_t = 20)]
    pub messages: usize,
    /// Messages per second per client. Default 10.
    #[arg(long, default_value_t = 10.0)]
    pub rate: f64,
    /// The server's process id, to report its memory and CPU from /proc;
    /// several (comma-separated) for a cluster, added up.
    #[arg(long, value_delimiter = ',')]
    pub server_pid: Vec<u32>,
    /// The database server's process id (PostgreSQL's postmaster): the CPU
    /// of it and its processes is added to the servers'.
    #[arg(long)]
    pub database_pid: Option<u32>,
    /// Idle receivers besides the senders: they send nothing, and the report
    /// gives the time from each send to its arrival at the last of them.
    #[arg(long, default_value_t = 0)]
    pub listeners: usize,
    /// Give up after this many seconds, counting what did not arrive as lost. Default 120.
    #[arg(long, default_value_t = 120)]
    pub timeout_secs: u64,
    /// A name for this run, copied into the report.
    #[arg(long, default_value = "")]
    pub label: String,
    /// The transport every client uses. Default websocket.
    #[arg(long, value_enum, default_value_t = Transport::Websocket)]
    pub transport: Transport,
}

/// The transport the clients use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Transport {
    /// One WebSocket per client.
    Websocket,
    /// HTTP long-polling.
    Polling,
}

/// What one run measured. Deliveries count `newmessage` events only; the
/// bot's replies are load for the server but are not counted.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// The run's name.
    pub label: String,
    /// Clients connected.
    pub clients: usize,
    /// Messages each client sent.
    pub messages_per_client: usize,
    /// Seconds to connect every client.
    pub connect_seconds: f64,
    /// Seconds from then until every client heard the warm-up message: on
    /// a server that sends each socket its room's history as it enters, how
    /// long those joins took.
    pub ready_seconds: f64,
    /// Clients that did not hear the warm-up message in time.
    pub not_ready: usize,
    /// Messages sent, all clients together.
    pub sent: u64,
    /// Deliveries expected: every message to every client.
    pub expected: u64,
    /// Deliveries that arrived before the deadline.
    pub delivered: u64,
    /// `expected - delivered`.
    pub lost: u64,
    /// Send-to-delivery latency over every delivery.
    pub latency: Latencies,
    /// Deliveries per second from the first send to the last delivery.
    pub deliveries_per_second: f64,
    /// Whether the hard timeout ended the run.
    pub timed_out: bool,
    /// The server's costs, when its process id was given.
    pub server: Option<ServerCost>,
    /// With `--listeners`: how fast each message reached all of them.
    pub fanout: Option<Fanout>,
}

/// How one message reaches many idle listeners.
#[derive(Debug, Clone, Serialize)]
pub struct Fanout {
    /// Listeners connected.
    pub listeners: usize,
    /// Messages sent.
    pub messages: u64,
    /// Per message, from its send to its arrival at the last listener.
    pub to_last_listener: Latencies,
    /// Messages that did not reach every listener.
    pub incomplete: u64,
    /// Server CPU microseconds per delivery while messaging (connecting
    /// the listeners left out), when the server's process id was given.
    pub cpu_micros_per_delivery: Option<f64>,
}

/// What the server process spent.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct ServerCost {
    /// Peak resident memory, in KiB.
    pub peak_rss_kib: u64,
    /// Resident memory added by the connections, per connection, in KiB.
    pub rss_per_connection_kib: f64,
    /// CPU seconds used during the run (connecting and messaging), the
    /// database's included.
    pub cpu_seconds: f64,
    /// Of those, the database's (with `--database-pid`).
    pub database_cpu_seconds: Option<f64>,
    /// CPU microseconds per delivered message (0 when idle).
    pub cpu_micros_per_delivery: f64,
}

/// Runs `load` and reports; errors only when not a single client can connect.
pub async fn run(load: &Load) -> anyhow::Result<Report> {
    let read = || ProcessStats::read_all(&load.server_pid);
    let database = || load.database_pid.and_then(ProcessStats::tree_cpu_seconds);
    let (before, database_before) = (read(), database());
    let started = Instant::now();
    let mut sockets = connect_all(load).await?;
    let connect_seconds = started.elapsed().as_secs_f64();
    let connected = read();
    let ready_at = Instant::now();
    let not_ready = warm_up(&mut sockets).await;
    let ready_seconds = ready_at.elapsed().as_secs_f64();
    let ready = read();

    let clients = sockets.len();
    let senders = load.clients.min(clients);
    let expected = (senders * load.messages * clients) as u64;
    let origin = Instant::now();
    let send_time = Duration::from_secs_f64(load.messages as f64 / load.rate.max(0.001));
    let deadline = origin + send_time + Duration::from_secs(load.timeout_secs);

    let mut tasks = Vec::with_capacity(clients);
    for (index, socket) in sockets.into_iter().enumerate() {
        let client = Client {
            index,
            senders,
            per_sender: load.messages,
            messages: if index < senders { load.messages } else { 0 },
            rate: load.rate,
            origin,
            deadline,
        };
        tasks.push(tokio::spawn(client.run(socket)));
    }
    let mut latencies = Vec::with_capacity(expected as usize);
    let mut last_delivery = origin;
    let mut sent = 0;
    let mut timed_out = false;
    // Per message (sender, sequence), the latest arrival at a listener.
    let mut slowest = std::collections::HashMap::<(usize, u64), (u64, usize)>::new();
    let mut missing = Vec::new();
    let mut open = Vec::with_capacity(clients);
    for (index, task) in tasks.into_iter().enumerate() {
        let outcome = task.await?;
        sent += outcome.sent;
        if outcome.latencies.len() < senders * load.messages {
            missing.push(Missing::of(index, &outcome, senders, load.messages));
        }
        if index >= senders {
            for &(key, micros) in &outcome.latencies {
                let entry = slowest.entry(key).or_default();
                *entry = (entry.0.max(micros), entry.1 + 1);
            }
        }
        latencies.extend(outcome.latencies.into_iter().map(|(_, micros)| micros));
        last_delivery = last_delivery.max(outcome.last_delivery);
        timed_out |= outcome.timed_out;
        open.push(outcome.socket);
    }
    let after = read();
    let database_after = database();
    drop(open);
    Missing::report(&missing, load.url.len());
    let delivered = latencies.len() as u64;
    let messaging_cpu = ready
        .zip(after)
        .map(|(ready, after)| after.cpu_seconds - ready.cpu_seconds);
    let fanout = (load.listeners > 0).then(|| {
        let listeners = clients - senders;
        let messages = (senders * load.messages) as u64;
        Fanout {
            listeners,
            messages,
            incomplete: messages - slowest.values().filter(|(_, n)| *n == listeners).count() as u64,
            to_last_listener: Latencies::of(
                slowest
                    .values()
                    .filter(|(_, n)| *n == listeners)
                    .map(|(micros, _)| *micros)
                    .collect(),
            ),
            cpu_micros_per_delivery: messaging_cpu
                .filter(|_| delivered > 0)
                .map(|cpu| cpu * 1e6 / delivered as f64),
        }
    });

    let active = last_delivery
        .saturating_duration_since(origin)
        .as_secs_f64();
    let server = match (before, connected, after) {
        (Some(before), Some(connected), Some(after)) => {
            let database_cpu_seconds = database_after
                .zip(database_before)
                .map(|(after, before)| after - before);
            let cpu_seconds =
                after.cpu_seconds - before.cpu_seconds + database_cpu_seconds.unwrap_or(0.0);
            Some(ServerCost {
                database_cpu_seconds,
                peak_rss_kib: after.peak_rss_kib,
                rss_per_connection_kib: connected.rss_kib.saturating_sub(before.rss_kib) as f64
                    / clients.max(1) as f64,
                cpu_seconds,
                cpu_micros_per_delivery: if delivered == 0 {
                    0.0
                } else {
                    cpu_seconds * 1e6 / delivered as f64
                },
            })
        }
        _ => None,
    };
    Ok(Report {
        label: load.label.clone(),
        clients,
        messages_per_client: load.messages,
        connect_seconds,
        ready_seconds,
        not_ready,
        sent,
        expected,
        delivered,
        lost: expected.saturating_sub(delivered),
        latency: Latencies::of(latencies),
        deliveries_per_second: if active > 0.0 {
            delivered as f64 / active
        } else {
            0.0
        },
        timed_out,
        server,
        fanout,
    })
}

/// Sends one message that is not timed and waits until every socket has
/// heard it, so that the run starts with everyone in the room: a client
/// still entering would get the first messages in its history, late by the
/// joins ahead of it, which is not the fan-out being measured. Returns how
/// many clients did not hear it within [`WARM_UP_TIMEOUT`].
async fn warm_up(sockets: &mut [Socket]) -> usize {
    let Some(first) = sockets.first() else {
        return 0;
    };
    first.emit(
        NEW_MESSAGE,
        vec![json!({"user": "bench-warm-up", "body": WARM_UP})],
    );
    let deadline = Instant::now() + WARM_UP_TIMEOUT;
    let mut not_ready = 0;
    for socket in sockets.iter_mut() {
        let heard = tokio::time::timeout_at(deadline, async {
            while let Some(event) = socket.next_event().await {
                if let ClientEvent::Event { name, args, .. } = event
                    && carries_warm_up(&name, &args)
                {
                    return true;
                }
            }
            false
        })
        .await;
        if !matches!(heard, Ok(true)) {
            not_ready += 1;
        }
    }
    if not_ready > 0 {
        eprintln!("chat-bench: {not_ready} clients did not hear the warm-up message");
    }
    not_ready
}

/// Whether an event is the warm-up message, live or in a history page.
fn carries_warm_up(name: &str, args: &[Value]) -> bool {
    chat_messages(name, args)
        .into_iter()
        .any(|message| message.get("body").and_then(Value::as_str) == Some(WARM_UP))
}

/// The chat messages an event carries: one, live, or those of the history
/// of the room's messages a socket missed, sent as it enters the room (our
/// server; the tutorial's has no history).
fn chat_messages<'a>(name: &str, args: &'a [Value]) -> Vec<&'a Value> {
    match name {
        NEW_MESSAGE => args.first().into_iter().collect(),
        HISTORY => args
            .first()
            .and_then(|history| history.get("messages")?.as_array())
            .map(|messages| messages.iter().collect())
            .unwrap_or_default(),
        _ => Vec::new(),
    }
}

async fn connect_all(load: &Load) -> anyhow::Result<Vec<Socket>> {
    let gate = Arc::new(Semaphore::new(CONNECTING_AT_ONCE));
    let config = ClientConfig {
        connect_timeout: Duration::from_secs(load.timeout_secs.max(1)),
        transports: match load.transport {
            Transport::Websocket => Transports::WebSocketOnly,
            Transport::Polling => Transports::PollingOnly,
        },
        ..ClientConfig::default()
    };
    let everyone = load.clients + load.listeners;
    let mut pending = Vec::with_capacity(everyone);
    for n in 0..everyone {
        let gate = gate.clone();
        // Each client starts on its own server and moves to the next one
        // when that one fails.
        let mut urls = load.url.clone();
        urls.rotate_left(n % load.url.len().max(1));
        let config = config.clone();
        pending.push(tokio::spawn(async move {
            let _permit = gate.acquire_owned().await;
            Socket::connect_any(&urls, config).await
        }));
    }
    let mut sockets = Vec::with_capacity(everyone);
    for task in pending {
        sockets.push(task.await??);
    }
    Ok(sockets)
}

/// One simulated user: sends on a schedule and times what it receives.
struct Client {
    index: usize,
    /// How many clients send (the first ones); the rest only listen.
    senders: usize,
    /// How many messages each sender sends.
    per_sender: usize,
    /// How many messages this one sends.
    messages: usize,
    rate: f64,
    origin: Instant,
    deadline: Instant,
}

/// What one client did not get, for the log when something is lost.
struct Missing {
    client: usize,
    disconnects: u32,
    /// (sender, sequence) of each message it did not get, in order.
    messages: Vec<(usize, u64)>,
}

impl Missing {
    fn of(client: usize, outcome: &Outcome, senders: usize, per_sender: usize) -> Self {
        let got: std::collections::HashSet<(usize, u64)> =
            outcome.latencies.iter().map(|(key, _)| *key).collect();
        let messages = (0..senders)
            .flat_map(|sender| (0..per_sender as u64).map(move |seq| (sender, seq)))
            .filter(|key| !got.contains(key))
            .collect();
        Self {
            client,
            disconnects: outcome.disconnects,
            messages,
        }
    }

    /// Prints to stderr who missed what: each client (its first server of
    /// `servers`), how often it lost its connection, and the first messages
    /// it missed; and which messages nobody got.
    fn report(missing: &[Self], servers: usize) {
        if missing.is_empty() {
            return;
        }
        let mut by_message = std::collections::BTreeMap::<(usize, u64), usize>::new();
        for client in missing {
            for key in &client.messages {
                *by_message.entry(*key).or_default() += 1;
            }
            let first: Vec<String> = client
                .messages
                .iter()
                .take(8)
                .map(|(sender, seq)| format!("{sender}/{seq}"))
                .collect();
            eprintln!(
                "chat-bench: client {} (server {}) missed {} ({} disconnects): {}",
                client.client,
                client.client % servers.max(1),
                client.messages.len(),
                client.disconnects,
                first.join(" ")
            );
        }
        let missed: Vec<String> = by_message
            .iter()
            .take(16)
            .map(|((sender, seq), clients)| format!("{sender}/{seq} by {clients}"))
            .collect();
        eprintln!(
            "chat-bench: messages missed (sender/seq by clients): {}",
            missed.join(", ")
        );
    }
}

struct Outcome {
    sent: u64,
    /// Connections lost after they were made.
    disconnects: u32,
    /// Per message received: (sender, sequence) and micros since it was sent.
    latencies: Vec<((usize, u64), u64)>,
    last_delivery: Instant,
    timed_out: bool,
    /// The connection, still open: every client hangs up only once all are
    /// done, after the CPU is read, so that the first to finish do not load
    /// the server (and the machine) while others wait for the last message.
    socket: Socket,
}

impl Client {
    async fn run(self, socket: Socket) -> Outcome {
        let wanted = self.senders * self.per_sender;
        let period = Duration::from_secs_f64(1.0 / self.rate.max(0.001));
        // Spread clients over one period so they do not all send in the same instant.
        let offset = period.mul_f64(self.index as f64 / self.senders.max(1) as f64);
        let mut next_send = self.origin + offset;
        let mut outcome = Outcome {
            sent: 0,
            latencies: Vec::with_capacity(wanted),
            last_delivery: self.origin,
            timed_out: false,
            disconnects: 0,
            socket,
        };
        // Each message counts once, however it came.
        let mut seen = std::collections::HashSet::with_capacity(wanted);
        // Two timers for the whole run, moved rather than made anew for
        // every message received.
        let send_timer = tokio::time::sleep_until(next_send);
        let give_up = tokio::time::sleep_until(self.deadline);
        tokio::pin!(send_timer, give_up);
        while outcome.latencies.len() < wanted || (outcome.sent as usize) < self.messages {
            let sending = (outcome.sent as usize) < self.messages;
            if sending && send_timer.deadline() != next_send {
                send_timer.as_mut().reset(next_send);
            }
            tokio::select! {
                () = &mut send_timer, if sending => {
                    let body = format!("{} {} {}", self.index, outcome.sent, self.origin.elapsed().as_micros());
                    outcome.socket.emit(NEW_MESSAGE, vec![json!({"user": format!("bench{}", self.index), "body": body})]);
                    outcome.sent += 1;
                    next_send += period;
                }
                event = outcome.socket.next_event() => match event {
                    Some(ClientEvent::Event { name, args, .. }) => {
                        // Live, or in its history: a socket that enters the
                        // room after a message went out gets it there.
                        let messages = chat_messages(&name, &args);
                        let now = self.origin.elapsed().as_micros() as u64;
                        for (key, sent_at) in messages.into_iter().filter_map(sent_at_micros) {
                            if seen.insert(key) {
                                outcome.latencies.push((key, now.saturating_sub(sent_at)));
                                outcome.last_delivery = Instant::now();
                            }
                        }
                    }
                    Some(ClientEvent::Disconnected { .. }) => outcome.disconnects += 1,
                    Some(_) => {}
                    None => break,
                },
                () = &mut give_up => {
                    outcome.timed_out = true;
                    break;
                }
            }
        }
        outcome
    }
}

/// What a bench message carries in its body, `client seq micros`: the
/// sender and sequence, and the send time.
fn sent_at_micros(message: &Value) -> Option<((usize, u64), u64)> {
    let mut fields = message.get("body")?.as_str()?.split(' ');
    let mut next = || fields.next()?.parse::<u64>().ok();
    let (client, seq, micros) = (next()?, next()?, next()?);
    Some(((usize::try_from(client).ok()?, seq), micros))
}

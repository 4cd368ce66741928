use std::collections::HashMap;
use std::time::Duration;

use futures::channel::mpsc;
use futures::future::LocalBoxFuture;
use futures::stream::FuturesUnordered;
use futures::{FutureExt as _, SinkExt as _, StreamExt as _};
use gloo_net::http::Request;
use gloo_net::websocket::Message;
use gloo_net::websocket::futures::WebSocket;
use gloo_timers::future::sleep;
use protocol::{Client, ClientConfig, ClientEvent, Output, PollRequest, Transports};

use super::{AckCallback, Command, SocketHandle};

/// Connects to the Socket.IO server that served this page, once `auth` (the
/// CONNECT payload) is known, and keeps the connection up; `on_event` hears
/// everything that happens. Emits made before then wait.
pub fn connect(
    auth: impl Future<Output = Option<serde_json::Value>> + 'static,
    on_event: impl Fn(ClientEvent) + 'static,
) -> SocketHandle {
    let (commands, receiver) = mpsc::unbounded();
    let seed = (js_sys::Math::random() * u64::MAX as f64) as u64;
    leptos::task::spawn_local(async move {
        let config = ClientConfig {
            transports: transports_from_page(),
            auth: auth.await,
            ..ClientConfig::default()
        };
        let client = Client::new(config, seed);
        drive(origin(), client, receiver, on_event).await;
    });
    SocketHandle { commands }
}

/// Which transports to use: `?transports=websocket|polling|upgrade` in the
/// page's address picks one mode (for trying them out); otherwise WebSocket
/// with a fallback to long-polling.
fn transports_from_page() -> Transports {
    let search = web_sys::window()
        .and_then(|window| window.location().search().ok())
        .unwrap_or_default();
    let chosen = search
        .trim_start_matches('?')
        .split('&')
        .find_map(|pair| pair.strip_prefix("transports="));
    match chosen {
        Some("websocket") => Transports::WebSocketOnly,
        Some("polling") => Transports::PollingOnly,
        Some("upgrade") => Transports::PollingThenUpgrade,
        _ => Transports::WebSocketWithFallback,
    }
}

/// The server that served this page: `http(s)://host[:port]`.
fn origin() -> String {
    web_sys::window()
        .and_then(|window| window.location().origin().ok())
        .expect("the chat runs in a browser window")
}

/// Makes one long-polling request; the body on a 2xx, `Err` otherwise.
async fn poll(origin: String, request: PollRequest) -> (u64, Result<String, ()>) {
    let url = format!("{origin}{}?{}", protocol::DEFAULT_PATH, request.query());
    let outcome = async {
        let response = match &request.body {
            Some(body) => {
                Request::post(&url)
                    .header("Content-Type", "text/plain;charset=UTF-8")
                    .body(body.clone())
                    .map_err(drop)?
                    .send()
                    .await
            }
            None => Request::get(&url).send().await,
        }
        .map_err(drop)?;
        if !response.ok() {
            return Err(());
        }
        response.text().await.map_err(drop)
    };
    (request.id, outcome.await)
}

/// Time since the page loaded, the clock the protocol core runs on.
fn now() -> Duration {
    let millis = web_sys::window()
        .and_then(|window| window.performance())
        .map_or(0.0, |performance| performance.now());
    Duration::from_secs_f64(millis / 1000.0)
}

/// What woke the driver up.
enum Wake {
    Frame(Option<Result<Message, gloo_net::websocket::WebSocketError>>),
    Response(u64, Result<String, ()>),
    ProbeReady(bool),
    ProbeFrame(Option<Result<Message, gloo_net::websocket::WebSocketError>>),
    Command(Option<Command>),
    Timer,
}

/// Runs the protocol core: carries out its outputs, and feeds it frames,
/// polling responses, commands and timeouts, until every [`SocketHandle`] is dropped.
async fn drive(
    origin: String,
    mut client: Client,
    mut commands: mpsc::UnboundedReceiver<Command>,
    on_event: impl Fn(ClientEvent),
) {
    // A page's origin is always http(s)://, which always maps to ws(s)://.
    let url = protocol::websocket_url(&origin, protocol::WEBSOCKET_QUERY).unwrap_or_default();
    let mut socket: Option<WebSocket> = None;
    // The upgrade probe, and whether it has been reported open.
    let mut probe: Option<WebSocket> = None;
    let mut probe_ready = false;
    let mut requests: FuturesUnordered<LocalBoxFuture<'static, (u64, Result<String, ()>)>> =
        FuturesUnordered::new();
    // Who waits for which ack.
    let mut answers: HashMap<protocol::AckId, AckCallback> = HashMap::new();
    client.connect(now());
    loop {
        while let Some(output) = client.poll_output() {
            match output {
                Output::Open => match WebSocket::open(&url) {
                    Ok(opened) => socket = Some(opened),
                    Err(error) => {
                        leptos::logging::warn!("cannot open {url}: {error}");
                        client.on_transport_closed(now());
                    }
                },
                Output::Send(frame) => {
                    if !send_on(&mut socket, Message::Text(frame)).await {
                        client.on_transport_closed(now());
                    }
                }
                Output::SendBinary(data) => {
                    if !send_on(&mut socket, Message::Bytes(data)).await {
                        client.on_transport_closed(now());
                    }
                }
                Output::Close => {
                    socket = None;
                    requests = FuturesUnordered::new();
                }
                Output::Request(request) => {
                    requests.push(poll(origin.clone(), request).boxed_local())
                }
                Output::OpenProbe { query } => {
                    probe_ready = false;
                    probe = protocol::websocket_url(&origin, &query)
                        .and_then(|probe_url| WebSocket::open(&probe_url).ok());
                    if probe.is_none() {
                        client.on_probe_closed();
                    }
                }
                Output::SendProbe(frame) => {
                    if !send_on(&mut probe, Message::Text(frame)).await {
                        client.on_probe_closed();
                    }
                }
                Output::CloseProbe => probe = None,
                Output::PromoteProbe => socket = probe.take(),
                Output::Event(ClientEvent::Ack { id, args, .. }) if answers.contains_key(&id) => {
                    if let Some(answer) = answers.remove(&id) {
                        answer(Some(args));
                    }
                }
                Output::Event(ClientEvent::AckTimedOut { id }) if answers.contains_key(&id) => {
                    if let Some(answer) = answers.remove(&id) {
                        answer(None);
                    }
                }
                Output::Event(event) => on_event(event),
            }
        }

        let timer = match client.poll_timeout() {
            Some(at) => {
                let wait = at.saturating_sub(now());
                sleep(wait + Duration::from_millis(1)).left_future()
            }
            None => futures::future::pending().right_future(),
        };
        let frame = match socket.as_mut() {
            Some(open) => open.next().left_future(),
            None => futures::future::pending().right_future(),
        };
        // The probe is watched until it opens (the sink becomes ready), then for frames.
        let probe_wake = match probe.as_mut() {
            Some(opening) if !probe_ready => {
                futures::future::poll_fn(|cx| opening.poll_ready_unpin(cx))
                    .map(|ready| Wake::ProbeReady(ready.is_ok()))
                    .left_future()
                    .left_future()
            }
            Some(open) => open
                .next()
                .map(Wake::ProbeFrame)
                .right_future()
                .left_future(),
            None => futures::future::pending().right_future(),
        };
        let wake = futures::select_biased! {
            frame = frame.fuse() => Wake::Frame(frame),
            wake = probe_wake.fuse() => wake,
            (id, response) = requests.select_next_some() => Wake::Response(id, response),
            command = commands.next() => Wake::Command(command),
            () = timer.fuse() => Wake::Timer,
        };

        match wake {
            Wake::Frame(Some(Ok(Message::Text(text)))) => client.on_text(&text, now()),
            Wake::Frame(Some(Ok(Message::Bytes(data)))) => client.on_binary(data, now()),
            Wake::Frame(Some(Err(_)) | None) => {
                socket = None;
                client.on_transport_closed(now());
            }
            Wake::Response(id, response) => client.on_response(id, response, now()),
            Wake::ProbeReady(true) => {
                probe_ready = true;
                client.on_probe_open();
            }
            Wake::ProbeFrame(Some(Ok(Message::Text(text)))) => client.on_probe_text(&text, now()),
            Wake::ProbeFrame(Some(Ok(Message::Bytes(_)))) => {}
            Wake::ProbeReady(false) | Wake::ProbeFrame(Some(Err(_)) | None) => {
                probe = None;
                client.on_probe_closed();
            }
            Wake::Command(Some(Command::EmitWithAck {
                event,
                args,
                timeout,
                answer,
            })) => {
                let id = client.emit_with_ack(event, args, Some(timeout), now());
                answers.insert(id, answer);
            }
            Wake::Command(Some(Command::SetAuth(auth))) => client.set_auth(auth),
            Wake::Command(None) => {
                client.disconnect();
                return;
            }
            Wake::Timer => client.on_timeout(now()),
        }
    }
}

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

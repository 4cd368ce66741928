use std::time::Duration;

use futures::channel::mpsc;
use futures::future::LocalBoxFuture;
use futures::stream::FuturesUnordered;
use futures::{FutureExt as _, SinkExt as _, StreamExt as _};
use gloo_net::http::Request;
use gloo_net::websocket::Message;
use gloo_net::websocket::futures::WebSocket;
use gloo_timers::future::sleep;
use protocol::{Client, ClientConfig, ClientEvent, Output, PollRequest};

use super::{Command, SocketHandle};

/// Connects to the Socket.IO server that served this page and keeps the
/// connection up; `on_event` hears everything that happens.
pub fn connect(on_event: impl Fn(ClientEvent) + 'static) -> SocketHandle {
    let (commands, receiver) = mpsc::unbounded();
    let seed = (js_sys::Math::random() * u64::MAX as f64) as u64;
    let client = Client::new(ClientConfig::default(), seed);
    leptos::task::spawn_local(drive(origin(), client, receiver, on_event));
    SocketHandle { commands }
}

/// The server that served this page: `http(s)://host[:port]`.
fn origin() -> String {
    web_sys::window()
        .and_then(|window| window.location().origin().ok())
        .expect("the chat runs in a browser window")
}

/// `ws(s)://<this host>/socket.io/?EIO=4&transport=websocket`.
fn websocket_url(origin: &str) -> String {
    let (scheme, host) = match origin.strip_prefix("https://") {
        Some(host) => ("wss", host),
        None => ("ws", origin.strip_prefix("http://").unwrap_or(origin)),
    };
    format!(
        "{scheme}://{host}{}?{}",
        protocol::DEFAULT_PATH,
        protocol::WEBSOCKET_QUERY
    )
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
    let url = websocket_url(&origin);
    let mut socket: Option<WebSocket> = None;
    let mut requests: FuturesUnordered<LocalBoxFuture<'static, (u64, Result<String, ()>)>> =
        FuturesUnordered::new();
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
                    let sent = match socket.as_mut() {
                        Some(open) => open.send(Message::Text(frame)).await.is_ok(),
                        None => false,
                    };
                    if !sent {
                        socket = None;
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
        let wake = futures::select_biased! {
            frame = frame.fuse() => Wake::Frame(frame),
            (id, response) = requests.select_next_some() => Wake::Response(id, response),
            command = commands.next() => Wake::Command(command),
            () = timer.fuse() => Wake::Timer,
        };

        match wake {
            Wake::Frame(Some(Ok(Message::Text(text)))) => client.on_text(&text, now()),
            // Binary frames carry attachments, which this client does not take yet.
            Wake::Frame(Some(Ok(Message::Bytes(_)))) => {}
            Wake::Frame(Some(Err(_)) | None) => {
                socket = None;
                client.on_transport_closed(now());
            }
            Wake::Response(id, response) => client.on_response(id, response, now()),
            Wake::Command(Some(Command::Emit { event, args })) => client.emit(event, args),
            Wake::Command(None) => {
                client.disconnect();
                return;
            }
            Wake::Timer => client.on_timeout(now()),
        }
    }
}

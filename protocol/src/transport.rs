//! Which transport carries the session, and the bookkeeping of HTTP
//! long-polling: at most one GET and one POST in flight, frames queued while
//! a POST is out and sent together in the next ones, each POST within the
//! server's `maxPayload`.

/// The two Engine.IO transports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TransportKind {
    /// One WebSocket carries frames both ways.
    WebSocket,
    /// HTTP long-polling: GET to receive, POST to send.
    Polling,
}

impl TransportKind {
    /// The name Engine.IO uses for it (`websocket`, `polling`).
    pub fn name(self) -> &'static str {
        match self {
            Self::WebSocket => "websocket",
            Self::Polling => "polling",
        }
    }
}

/// Which transports a client may use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Transports {
    /// WebSocket only, like the JavaScript client's `transports: ['websocket']`.
    WebSocketOnly,
    /// HTTP long-polling only, like `transports: ['polling']`.
    PollingOnly,
    /// WebSocket first; once a WebSocket fails before its handshake (a proxy
    /// that blocks it, or a server that was away), long-polling with an
    /// upgrade probe, as the JavaScript client does, so the connection is
    /// back on WebSocket wherever WebSocket works. The default.
    #[default]
    WebSocketWithFallback,
    /// Long-polling first, then an upgrade to WebSocket when the server offers
    /// it and a probe succeeds: the JavaScript client's default.
    PollingThenUpgrade,
}

/// Separates packets in a long-polling payload (Engine.IO v4).
pub const RECORD_SEPARATOR: char = '\u{1e}';

/// An HTTP request the driver must make for the polling transport. The
/// answer goes back through [`Client::on_response`](crate::Client::on_response).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PollRequest {
    /// Identifies the request; answers to requests the client has given up on are ignored.
    pub id: u64,
    /// The session, once the handshake has given one.
    pub sid: Option<String>,
    /// `None` for a GET (receive); the payload of a POST (send) otherwise.
    pub body: Option<String>,
    /// Keeps caches out of the way: unique per request.
    cache_buster: String,
}

impl PollRequest {
    /// The query string, to append to [`DEFAULT_PATH`](crate::DEFAULT_PATH) and `?`.
    pub fn query(&self) -> String {
        match &self.sid {
            Some(sid) => format!("EIO=4&transport=polling&t={}&sid={sid}", self.cache_buster),
            None => format!("EIO=4&transport=polling&t={}", self.cache_buster),
        }
    }

    /// Whether this is a POST.
    pub fn is_post(&self) -> bool {
        self.body.is_some()
    }
}

/// The polling transport's state for one session.
#[derive(Debug, Default)]
pub(crate) struct Polling {
    /// The Engine.IO session id, known after the handshake GET.
    pub(crate) sid: Option<String>,
    /// The largest body the server reads (the handshake's `maxPayload`).
    pub(crate) max_payload: Option<usize>,
    get: Option<u64>,
    post: Option<u64>,
    /// Frames waiting for the next POST.
    outbox: Vec<String>,
    /// A per-client prefix for cache busters.
    prefix: String,
}

/// What a response was the answer to.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Answered {
    Get,
    Post,
    /// An abandoned request: ignore it.
    Stale,
}

impl Polling {
    pub(crate) fn new(prefix: String) -> Self {
        Self {
            prefix,
            ..Self::default()
        }
    }

    /// Forgets the session and every request in flight.
    pub(crate) fn reset(&mut self) {
        self.sid = None;
        self.max_payload = None;
        self.get = None;
        self.post = None;
        self.outbox.clear();
    }

    /// Whether a GET or a POST is in flight.
    pub(crate) fn busy(&self) -> bool {
        self.get.is_some() || self.post.is_some()
    }

    /// Stops polling after an upgrade, when nothing is in flight; returns
    /// the frames that were waiting.
    pub(crate) fn retire(&mut self) -> Vec<String> {
        self.sid = None;
        std::mem::take(&mut self.outbox)
    }

    /// Queues a frame for the next POST.
    pub(crate) fn queue(&mut self, frame: String) {
        self.outbox.push(frame);
    }

    /// Which request `id` answers, clearing it.
    pub(crate) fn answer(&mut self, id: u64) -> Answered {
        if self.get == Some(id) {
            self.get = None;
            Answered::Get
        } else if self.post == Some(id) {
            self.post = None;
            Answered::Post
        } else {
            Answered::Stale
        }
    }

    /// The handshake GET, which opens the session.
    pub(crate) fn handshake(&mut self, id: u64) -> PollRequest {
        self.get = Some(id);
        self.request(id, None)
    }

    /// The next GET, if none is in flight and the session is open.
    pub(crate) fn next_get(&mut self, id: u64) -> Option<PollRequest> {
        if self.get.is_some() || self.sid.is_none() {
            return None;
        }
        self.get = Some(id);
        Some(self.request(id, None))
    }

    /// A POST of what is queued, if none is in flight and there is something
    /// to send: as many frames, in order, as fit in the server's
    /// `maxPayload` (a server closes the session on a bigger body); the rest
    /// waits for the next POST. A single frame over the limit still goes
    /// alone, as with the JavaScript client: the server decides.
    pub(crate) fn next_post(&mut self, id: u64) -> Option<PollRequest> {
        if self.post.is_some() || self.sid.is_none() || self.outbox.is_empty() {
            return None;
        }
        self.post = Some(id);
        let limit = self.max_payload.unwrap_or(usize::MAX);
        let mut body = String::new();
        let mut taken = 0;
        for frame in &self.outbox {
            if taken > 0 {
                if body.len() + RECORD_SEPARATOR.len_utf8() + frame.len() > limit {
                    break;
                }
                body.push(RECORD_SEPARATOR);
            }
            body.push_str(frame);
            taken += 1;
        }
        self.outbox.drain(..taken);
        Some(self.request(id, Some(body)))
    }

    fn request(&self, id: u64, body: Option<String>) -> PollRequest {
        PollRequest {
            id,
            sid: self.sid.clone(),
            body,
            cache_buster: format!("{}{id}", self.prefix),
        }
    }
}

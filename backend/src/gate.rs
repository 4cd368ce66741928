//! Checks in front of the chat: Socket.IO requests must come from an
//! allowed page (`Origin`), and new sessions and new user ids are counted
//! against their client address's rate. Refusals are plain HTTP answers
//! that say why and, when it passes with time, `Retry-After`.

use std::sync::Arc;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::drain::Drain;
use crate::limits::{Action, Client, ClientAddress, RateLimits};

/// Where Socket.IO is served.
const SOCKET_IO: &str = "/socket.io/";

/// Origins of `trunk serve`, which serves the page on its own port during
/// development and proxies Socket.IO to this server.
const TRUNK_ORIGINS: [&str; 2] = ["http://127.0.0.1:8080", "http://localhost:8080"];

/// How soon a client refused by a draining node may connect again.
const DRAINING_RETRY_SECONDS: u64 = 1;

/// What the gate knows. Shared by every request.
#[derive(Debug)]
pub(crate) struct Gate {
    /// Every client's rate limits.
    pub(crate) limits: Arc<RateLimits>,
    /// Origins allowed besides the server's own and `trunk serve`'s,
    /// without a trailing slash.
    pub(crate) origins: Vec<String>,
    /// A draining node opens no new sessions.
    pub(crate) drain: Drain,
}

/// The middleware.
pub(crate) async fn check(State(gate): State<Arc<Gate>>, request: Request, next: Next) -> Response {
    let path = request.uri().path();
    if path.starts_with(SOCKET_IO) {
        if let Some(origin) = request.headers().get(header::ORIGIN)
            && !gate.allows(origin, request.headers())
        {
            let origin = String::from_utf8_lossy(origin.as_bytes()).into_owned();
            tracing::debug!(%origin, "Socket.IO request from a page of another origin refused");
            return refusal(
                StatusCode::FORBIDDEN,
                &format!(
                    "Pages from {origin} may not use this chat server \
                     (the server allows its own origin and those given with --allowed-origin)"
                ),
                None,
            );
        }
        // An Engine.IO request without a session id opens a session.
        let query = request.uri().query().unwrap_or_default();
        let new_session = query.split('&').any(|pair| pair.starts_with("EIO="))
            && !query.split('&').any(|pair| pair.starts_with("sid="));
        if new_session && gate.drain.is_draining() {
            // A balancer passes it on to another node (see deploy/).
            return refusal(
                StatusCode::SERVICE_UNAVAILABLE,
                "This server is restarting; connect again and another server will take you",
                Some(DRAINING_RETRY_SECONDS),
            );
        }
        if new_session && let Some(refusal) = gate.too_fast(Action::Connect, &request) {
            return refusal;
        }
    } else if path == "/api/session"
        && request.method() == Method::POST
        && let Some(refusal) = gate.too_fast(Action::NewSession, &request)
    {
        return refusal;
    }
    next.run(request).await
}

impl Gate {
    /// Whether a page from `origin` may talk to the chat: the server's own
    /// origin (the same host and port as the request was sent to), an
    /// allowed one, or `trunk serve`'s. `null` (sandboxed frames, files) never.
    fn allows(&self, origin: &HeaderValue, headers: &HeaderMap) -> bool {
        let Ok(origin) = origin.to_str() else {
            return false;
        };
        let origin = origin.trim_end_matches('/');
        let same_host = headers
            .get(header::HOST)
            .and_then(|host| host.to_str().ok())
            .zip(origin.split_once("://"))
            .is_some_and(|(host, (_, authority))| authority.eq_ignore_ascii_case(host));
        same_host
            || TRUNK_ORIGINS.contains(&origin)
            || self
                .origins
                .iter()
                .any(|allowed| allowed.trim_end_matches('/').eq_ignore_ascii_case(origin))
    }

    /// Takes one `action` from the request's client address; the 429 to
    /// answer when it has none left.
    fn too_fast(&self, action: Action, request: &Request) -> Option<Response> {
        let address = request.extensions().get::<ClientAddress>().copied()?;
        let client = Client {
            address,
            user: None,
        };
        let retry = self.limits.check(action, &client).err()?;
        let what = match action {
            Action::NewSession => "new user ids",
            _ => "new connections",
        };
        tracing::debug!(%address, what, "refused: too fast");
        Some(refusal(
            StatusCode::TOO_MANY_REQUESTS,
            &format!(
                "Too many {what} from your address; try again in {} s",
                retry.seconds()
            ),
            Some(retry.seconds()),
        ))
    }
}

/// A plain-text refusal, with `Retry-After` when waiting helps.
pub(crate) fn refusal(status: StatusCode, message: &str, retry_after: Option<u64>) -> Response {
    let mut response = (status, Body::from(format!("{message}\n"))).into_response();
    if let Some(seconds) = retry_after {
        response
            .headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from(seconds));
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::limits::Rates;

    fn gate(origins: &[&str]) -> Gate {
        Gate {
            limits: Arc::new(RateLimits::new(&Rates::default())),
            origins: origins.iter().map(|o| (*o).to_owned()).collect(),
            drain: Drain::default(),
        }
    }

    fn host(host: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(header::HOST, host.parse().unwrap());
        headers
    }

    fn allows(gate: &Gate, origin: &str, on: &str) -> bool {
        gate.allows(&HeaderValue::from_str(origin).unwrap(), &host(on))
    }

    #[test]
    fn the_servers_own_pages_and_trunks_are_allowed() {
        let gate = gate(&[]);
        assert!(allows(
            &gate,
            "https://chat.example.com",
            "chat.example.com"
        ));
        assert!(allows(&gate, "http://127.0.0.1:3000", "127.0.0.1:3000"));
        assert!(allows(&gate, "http://localhost:8080", "127.0.0.1:3000"));
    }

    #[test]
    fn other_origins_and_null_are_refused_unless_allowed() {
        let gate = gate(&["https://app.example.org/"]);
        assert!(!allows(&gate, "https://evil.example", "chat.example.com"));
        assert!(!allows(&gate, "http://127.0.0.1:3001", "127.0.0.1:3000"));
        assert!(!allows(&gate, "null", "chat.example.com"));
        assert!(allows(&gate, "https://app.example.org", "chat.example.com"));
    }
}

//! Where a server's Engine.IO endpoint is, and which of several servers to
//! try next.

use crate::DEFAULT_PATH;

/// The servers a client may use, each as its WebSocket endpoint URL, and
/// which one it uses now.
///
/// The client stays on a server while it works. When a connection is lost,
/// the first attempt goes back to the same server (a blip, or a restart that
/// is already over); every attempt that fails moves on to the next server,
/// round and round. So a client whose server died for good is on another one
/// after one failed attempt, which `socket.io-client` never does: it knows a
/// single address.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Endpoints {
    urls: Vec<String>,
    current: usize,
    /// Whether the namespace was joined since the last failure.
    joined: bool,
}

impl Endpoints {
    /// The servers at `bases` (see [`websocket_url`]), tried in that order;
    /// `Err` with the first base that is not a server URL, or with `""` when
    /// there is none.
    pub fn new<S: AsRef<str>>(bases: &[S]) -> Result<Self, String> {
        let urls = bases
            .iter()
            .map(|base| {
                let base = base.as_ref();
                websocket_url(base, crate::WEBSOCKET_QUERY).ok_or_else(|| base.to_owned())
            })
            .collect::<Result<Vec<_>, _>>()?;
        if urls.is_empty() {
            return Err(String::new());
        }
        Ok(Self {
            urls,
            current: 0,
            joined: false,
        })
    }

    /// The WebSocket URL of the server in use.
    pub fn url(&self) -> &str {
        &self.urls[self.current]
    }

    /// `host[:port]` of the server in use, for long-polling requests.
    pub fn authority(&self) -> &str {
        let url = self.url();
        url.split_once("://")
            .and_then(|(_, rest)| rest.split('/').next())
            .unwrap_or_default()
    }

    /// The namespace was joined on the server in use.
    pub fn on_connected(&mut self) {
        self.joined = true;
    }

    /// The connection was lost, or an attempt failed
    /// ([`ConnectionState::Reconnecting`](crate::ConnectionState::Reconnecting)):
    /// after a failed attempt the next one goes to the next server.
    pub fn on_reconnecting(&mut self) {
        if !self.joined {
            self.current = (self.current + 1) % self.urls.len();
        }
        self.joined = false;
    }
}

/// `ws(s)://host[:port]/socket.io/?{query}` for the server at `base`, which
/// may be given as `http://`, `https://`, `ws://` or `wss://` (any path is
/// ignored); `None` for any other scheme.
pub fn websocket_url(base: &str, query: &str) -> Option<String> {
    let (scheme, rest) = base.split_once("://")?;
    let scheme = match scheme {
        "http" | "ws" => "ws",
        "https" | "wss" => "wss",
        _ => return None,
    };
    let host = rest.split('/').next().unwrap_or_default();
    Some(format!("{scheme}://{host}{DEFAULT_PATH}?{query}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::WEBSOCKET_QUERY;

    #[test]
    fn websocket_urls_come_from_http_or_websocket_bases() {
        assert_eq!(
            websocket_url("http://127.0.0.1:3000", WEBSOCKET_QUERY).as_deref(),
            Some("ws://127.0.0.1:3000/socket.io/?EIO=4&transport=websocket")
        );
        assert_eq!(
            websocket_url("https://chat.example/", WEBSOCKET_QUERY).as_deref(),
            Some("wss://chat.example/socket.io/?EIO=4&transport=websocket")
        );
        assert_eq!(
            websocket_url("wss://chat.example/socket.io/?EIO=4", "EIO=4&sid=x").as_deref(),
            Some("wss://chat.example/socket.io/?EIO=4&sid=x")
        );
        assert_eq!(websocket_url("ftp://x", WEBSOCKET_QUERY), None);
        assert_eq!(websocket_url("localhost:3000", WEBSOCKET_QUERY), None);
    }

    #[test]
    fn a_lost_connection_retries_its_server_once_then_moves_on() {
        let mut endpoints = Endpoints::new(&["http://127.0.0.1:1", "http://127.0.0.1:2"]).unwrap();
        assert_eq!(endpoints.authority(), "127.0.0.1:1");
        endpoints.on_connected();
        endpoints.on_reconnecting();
        assert_eq!(endpoints.authority(), "127.0.0.1:1", "a blip stays");
        endpoints.on_reconnecting();
        assert_eq!(
            endpoints.authority(),
            "127.0.0.1:2",
            "a failed attempt moves"
        );
        endpoints.on_reconnecting();
        assert_eq!(endpoints.authority(), "127.0.0.1:1", "round and round");
        endpoints.on_connected();
        endpoints.on_reconnecting();
        assert_eq!(endpoints.authority(), "127.0.0.1:1");
        assert_eq!(
            endpoints.url(),
            "ws://127.0.0.1:1/socket.io/?EIO=4&transport=websocket"
        );
    }

    #[test]
    fn a_first_attempt_that_fails_moves_on_at_once() {
        let mut endpoints = Endpoints::new(&["http://a", "http://b"]).unwrap();
        endpoints.on_reconnecting();
        assert_eq!(endpoints.authority(), "b");
        let mut single = Endpoints::new(&["http://a"]).unwrap();
        single.on_reconnecting();
        assert_eq!(single.authority(), "a");
    }

    #[test]
    fn endpoints_need_server_urls() {
        assert_eq!(Endpoints::new::<&str>(&[]), Err(String::new()));
        assert_eq!(Endpoints::new(&["http://a", "a:1"]), Err("a:1".to_owned()));
    }
}

//! Where a server's Engine.IO endpoint is.

use crate::DEFAULT_PATH;

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
}

//! Gives every request a head of its own, so that keeping a request's head
//! does not keep its connection's read buffer.
//!
//! hyper parses the URI and the header values of a request as slices of the
//! connection's read buffer (8 to 16 KiB), and a slice keeps the whole
//! buffer alive. socketioxide keeps the head of the request that opened each
//! Socket.IO session for the session's whole life (`req_parts`), together
//! with axum's `OriginalUri`, another slice: 1,000 idle WebSocket clients
//! held 16 MB of read buffers that held nothing (chat-bench, measured with
//! valgrind's massif). Copying the few hundred bytes of the head before the
//! router sees it lets hyper free each buffer once the request is read.

use axum::extract::Request;
use axum::http::{HeaderMap, HeaderValue, Uri};

/// `request` with its URI and header values copied out of whatever buffer
/// they were parsed from. Nothing else changes: method, version, header
/// order and sensitivity, extensions and body are kept as they are.
pub(crate) fn own_head(request: Request) -> Request {
    let (mut head, body) = request.into_parts();
    if let Ok(uri) = Uri::try_from(head.uri.to_string()) {
        head.uri = uri;
    }
    let mut headers = HeaderMap::with_capacity(head.headers.len());
    for (name, value) in &head.headers {
        headers.append(name.clone(), owned_value(value));
    }
    head.headers = headers;
    Request::from_parts(head, body)
}

/// A copy of `value` in an allocation of its own. hyper only builds values
/// that are valid, so the copy cannot fail; if it ever did, the original is
/// kept (a pinned buffer is better than a lost header).
fn owned_value(value: &HeaderValue) -> HeaderValue {
    match HeaderValue::from_bytes(value.as_bytes()) {
        Ok(mut owned) => {
            owned.set_sensitive(value.is_sensitive());
            owned
        }
        Err(_) => value.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::body::Body;
    use axum::http::header::{COOKIE, HOST, SEC_WEBSOCKET_KEY};
    use bytes::Bytes;
    use std::ops::Range;

    /// Where `bytes` lie in memory.
    fn span(bytes: &[u8]) -> Range<usize> {
        let start = bytes.as_ptr() as usize;
        start..start + bytes.len()
    }

    /// A request parsed the way hyper parses one: every part a slice of a
    /// larger read buffer.
    fn parsed_request(buffer: &Bytes) -> Request {
        let text = std::str::from_utf8(buffer).unwrap();
        let slice = |part: &str| {
            let at = text.find(part).unwrap();
            buffer.slice(at..at + part.len())
        };
        let mut request = Request::new(Body::empty());
        *request.uri_mut() =
            Uri::from_maybe_shared(slice("/socket.io/?EIO=4&transport=websocket")).unwrap();
        let headers = request.headers_mut();
        headers.append(
            HOST,
            HeaderValue::from_maybe_shared(slice("127.0.0.1:3000")).unwrap(),
        );
        headers.append(
            SEC_WEBSOCKET_KEY,
            HeaderValue::from_maybe_shared(slice("dGhlIHNhbXBsZSBub25jZQ==")).unwrap(),
        );
        let mut cookie = HeaderValue::from_maybe_shared(slice("a=1")).unwrap();
        cookie.set_sensitive(true);
        headers.append(COOKIE, cookie);
        headers.append(
            COOKIE,
            HeaderValue::from_maybe_shared(slice("b=2")).unwrap(),
        );
        request
    }

    fn buffer() -> Bytes {
        let mut text = String::from(
            "GET /socket.io/?EIO=4&transport=websocket HTTP/1.1\r\n\
             Host: 127.0.0.1:3000\r\n\
             Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\
             Cookie: a=1\r\nCookie: b=2\r\n\r\n",
        );
        text.push_str(&" ".repeat(8192));
        Bytes::from(text)
    }

    #[test]
    fn the_copied_head_points_outside_the_read_buffer() {
        let buffer = buffer();
        let request = own_head(parsed_request(&buffer));
        let pinned = span(&buffer);
        let path = request.uri().path_and_query().unwrap().as_str();
        assert!(!pinned.contains(&(path.as_ptr() as usize)));
        for value in request.headers().values() {
            assert!(!pinned.contains(&span(value.as_bytes()).start));
        }
    }

    #[test]
    fn the_copy_says_what_the_original_said() {
        let buffer = buffer();
        let original = parsed_request(&buffer);
        let (expected_uri, expected_headers) = (original.uri().clone(), original.headers().clone());
        let mut original = original;
        original.extensions_mut().insert("an extension survives");
        let request = own_head(original);
        assert_eq!(request.uri(), &expected_uri);
        assert_eq!(request.headers(), &expected_headers);
        let cookies: Vec<_> = request.headers().get_all(COOKIE).iter().collect();
        assert_eq!(cookies, ["a=1", "b=2"]);
        assert!(cookies[0].is_sensitive());
        assert!(!cookies[1].is_sensitive());
        assert_eq!(
            request.extensions().get::<&str>(),
            Some(&"an extension survives")
        );
    }

    #[test]
    fn an_absolute_uri_is_copied_whole() {
        let buffer = Bytes::from_static(b"http://example.com:8080/a/b?c=d");
        let request = Request::builder()
            .uri(Uri::from_maybe_shared(buffer.clone()).unwrap())
            .body(Body::empty())
            .unwrap();
        let request = own_head(request);
        assert_eq!(request.uri(), "http://example.com:8080/a/b?c=d");
        let authority = request.uri().authority().unwrap().as_str();
        assert!(!span(&buffer).contains(&(authority.as_ptr() as usize)));
    }
}

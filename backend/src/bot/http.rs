//! A small JSON-over-HTTP client for bot engines: plain HTTP/1.1 with hyper,
//! one connection per call. Engines usually run beside the server (Rasa on
//! port 5005, a local model server); TLS is not spoken yet.

use axum::body::Bytes;
use http_body_util::{BodyExt as _, Full, Limited};
use hyper::Request;
use hyper::header::{AUTHORIZATION, CONTENT_TYPE, HOST};
use hyper_util::rt::TokioIo;
use serde_json::Value;

use super::BotError;

/// The largest engine response read.
const MAX_RESPONSE_BYTES: usize = 4 * 1024 * 1024;

/// POSTs `body` as JSON to `url` (`http://host[:port]/path`) and parses the answer.
pub(super) async fn post_json(
    url: &str,
    body: &Value,
    bearer: Option<&str>,
) -> Result<Value, BotError> {
    let rest = url.strip_prefix("http://").ok_or_else(|| {
        BotError::Unavailable(format!("only http:// engine URLs are supported: {url}"))
    })?;
    let (authority, path) = match rest.find('/') {
        Some(slash) => (&rest[..slash], &rest[slash..]),
        None => (rest, "/"),
    };
    let unavailable = |what: &str, error: &dyn std::fmt::Display| {
        BotError::Unavailable(format!("{what} {url}: {error}"))
    };
    let stream = tokio::net::TcpStream::connect(authority)
        .await
        .map_err(|e| unavailable("cannot connect to", &e))?;
    let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .map_err(|e| unavailable("handshake with", &e))?;
    tokio::spawn(connection);

    let mut request = Request::post(path)
        .header(HOST, authority)
        .header(CONTENT_TYPE, "application/json");
    if let Some(token) = bearer {
        request = request.header(AUTHORIZATION, format!("Bearer {token}"));
    }
    let request = request
        .body(Full::new(Bytes::from(body.to_string())))
        .map_err(|e| unavailable("cannot build a request to", &e))?;
    let response = sender
        .send_request(request)
        .await
        .map_err(|e| unavailable("no answer from", &e))?;
    let status = response.status();
    let bytes = Limited::new(response.into_body(), MAX_RESPONSE_BYTES)
        .collect()
        .await
        .map_err(|e| unavailable("cannot read the answer of", &e))?
        .to_bytes();
    if !status.is_success() {
        return Err(unavailable("error status from", &status));
    }
    serde_json::from_slice(&bytes).map_err(|e| unavailable("invalid JSON from", &e))
}

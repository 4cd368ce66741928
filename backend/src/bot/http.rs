//! A small JSON-over-HTTP client for bot engines: plain HTTP/1.1 with hyper,
//! one connection per call. Engines usually run beside the server (Rasa on
//! port 5005, a local model server); TLS is not spoken yet.

use axum::body::Bytes;
use http_body_util::{BodyExt as _, Full, Limited};
use hyper::body::Incoming;
use hyper::header::{AUTHORIZATION, CONTENT_TYPE, HOST};
use hyper::{Request, Response};
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
    let response = post(url, body, bearer).await?;
    let bytes = Limited::new(response.into_body(), MAX_RESPONSE_BYTES)
        .collect()
        .await
        .map_err(|e| unavailable(url, "cannot read the answer of", &e))?
        .to_bytes();
    serde_json::from_slice(&bytes).map_err(|e| unavailable(url, "invalid JSON from", &e))
}

/// POSTs `body` as JSON to `url` and returns the answer's body unread, for
/// answers that arrive bit by bit. Error statuses are errors.
pub(super) async fn post_json_streaming(
    url: &str,
    body: &Value,
    bearer: Option<&str>,
) -> Result<Incoming, BotError> {
    Ok(post(url, body, bearer).await?.into_body())
}

async fn post(
    url: &str,
    body: &Value,
    bearer: Option<&str>,
) -> Result<Response<Incoming>, BotError> {
    let rest = url.strip_prefix("http://").ok_or_else(|| {
        BotError::Unavailable(format!("only http:// engine URLs are supported: {url}"))
    })?;
    let (authority, path) = match rest.find('/') {
        Some(slash) => (&rest[..slash], &rest[slash..]),
        None => (rest, "/"),
    };
    let stream = tokio::net::TcpStream::connect(authority)
        .await
        .map_err(|e| unavailable(url, "cannot connect to", &e))?;
    let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .map_err(|e| unavailable(url, "handshake with", &e))?;
    tokio::spawn(connection);

    let mut request = Request::post(path)
        .header(HOST, authority)
        .header(CONTENT_TYPE, "application/json");
    if let Some(token) = bearer {
        request = request.header(AUTHORIZATION, format!("Bearer {token}"));
    }
    let request = request
        .body(Full::new(Bytes::from(body.to_string())))
        .map_err(|e| unavailable(url, "cannot build a request to", &e))?;
    let response = sender
        .send_request(request)
        .await
        .map_err(|e| unavailable(url, "no answer from", &e))?;
    let status = response.status();
    if !status.is_success() {
        return Err(unavailable(url, "error status from", &status));
    }
    Ok(response)
}

fn unavailable(url: &str, what: &str, error: &dyn std::fmt::Display) -> BotError {
    BotError::Unavailable(format!("{what} {url}: {error}"))
}

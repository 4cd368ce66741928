//! The long-polling transport's HTTP requests, over plain HTTP/1.1 with
//! hyper. One connection per request keeps it simple; a long-poll GET holds
//! its connection for up to a ping interval anyway.

use bytes::Bytes;
use http_body_util::{BodyExt as _, Full};
use hyper::Request;
use hyper::header::{CONTENT_TYPE, HOST};
use hyper_util::rt::TokioIo;

use crate::{DEFAULT_PATH, PollRequest};

/// The largest response body read; more is treated as a failed request.
const MAX_RESPONSE_BYTES: usize = 16 * 1024 * 1024;

/// Makes `request` against `authority` (`host:port`); the body on a 200, `Err` otherwise.
pub(super) async fn perform(authority: &str, request: &PollRequest) -> Result<String, ()> {
    let stream = tokio::net::TcpStream::connect(authority)
        .await
        .map_err(drop)?;
    let _ = stream.set_nodelay(true);
    let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .map_err(drop)?;
    tokio::spawn(connection);

    let uri = format!("{DEFAULT_PATH}?{}", request.query());
    let builder = Request::builder().uri(uri).header(HOST, authority);
    let http_request = match &request.body {
        Some(body) => builder
            .method("POST")
            .header(CONTENT_TYPE, "text/plain;charset=UTF-8")
            .body(Full::new(Bytes::from(body.clone()))),
        None => builder.method("GET").body(Full::new(Bytes::new())),
    }
    .map_err(drop)?;

    let response = sender.send_request(http_request).await.map_err(drop)?;
    if !response.status().is_success() {
        return Err(());
    }
    let limited = http_body_util::Limited::new(response.into_body(), MAX_RESPONSE_BYTES);
    let body = limited.collect().await.map_err(drop)?.to_bytes();
    String::from_utf8(body.to_vec()).map_err(drop)
}

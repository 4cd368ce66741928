//! The official Socket.IO browser client at `/socket.io/socket.io.js`, as
//! Node's socket.io server serves it, so pages written for that server
//! (`<script src="/socket.io/socket.io.js">`) work against this one. The
//! files are socket.io 4.8.4's `client-dist/`, embedded in the binary.

use axum::body::Body;
use axum::extract::Request;
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse as _, Response};

/// The client's version: the `ETag` Node's server gives these files.
const VERSION: &str = "4.8.4";

/// Path, contents, and whether it is a source map.
const FILES: [(&str, &[u8], bool); 4] = [
    (
        "/socket.io/socket.io.js",
        include_bytes!("../assets/socket.io-client/socket.io.js"),
        false,
    ),
    (
        "/socket.io/socket.io.js.map",
        include_bytes!("../assets/socket.io-client/socket.io.js.map"),
        true,
    ),
    (
        "/socket.io/socket.io.min.js",
        include_bytes!("../assets/socket.io-client/socket.io.min.js"),
        false,
    ),
    (
        "/socket.io/socket.io.min.js.map",
        include_bytes!("../assets/socket.io-client/socket.io.min.js.map"),
        true,
    ),
];

/// Middleware in front of Socket.IO (which would take these paths for
/// Engine.IO requests): answers the client files, passes everything else on.
pub(crate) async fn serve(request: Request, next: Next) -> Response {
    let path = request.uri().path();
    let Some((_, bytes, is_map)) = FILES.iter().find(|(file, _, _)| *file == path) else {
        return next.run(request).await;
    };
    let etag = format!("\"{VERSION}\"");
    let cached = request
        .headers()
        .get(header::IF_NONE_MATCH)
        .and_then(|value| value.to_str().ok())
        .is_some_and(|value| value == etag || value == format!("W/{etag}"));
    let mut response = if cached {
        StatusCode::NOT_MODIFIED.into_response()
    } else {
        Response::new(Body::from(*bytes))
    };
    let headers = response.headers_mut();
    let kind = if *is_map {
        "application/json; charset=utf-8"
    } else {
        "application/javascript; charset=utf-8"
    };
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(kind));
    headers.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("public, max-age=0"),
    );
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    if let Ok(etag) = HeaderValue::from_str(&etag) {
        headers.insert(header::ETAG, etag);
    }
    response
}

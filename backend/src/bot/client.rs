//! The HTTP client every bot engine speaks through: reqwest on rustls, so
//! engines can be hosted (HTTPS, HTTP/2, a proxy) as well as local. One
//! client is shared by all the calls of the engine, so connections are
//! pooled and kept alive instead of opened per message.

use std::error::Error as StdError;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use eventsource_stream::Eventsource as _;
use futures_util::{Stream, StreamExt as _, TryStreamExt as _};
use reqwest::{RequestBuilder, Response, Version};
use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject as _;
use rustls::{CertificateError, RootCertStore};
use serde_json::Value;
use thiserror::Error;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use super::BotError;

/// The largest engine response read.
const MAX_RESPONSE_BYTES: usize = 4 * 1024 * 1024;

/// The longest line of an event stream; a stream that never ends a line is
/// an error, not a memory leak.
const MAX_LINE_BYTES: usize = 1024 * 1024;

/// Requests in flight to an engine that speaks HTTP/1.1, each on its own
/// connection: so a burst of questions opens this many connections at most.
const HTTP1_AT_ONCE: usize = 16;

/// Requests in flight to an engine that speaks HTTP/2, all on one
/// connection; 100 is the stream limit servers commonly set.
const HTTP2_AT_ONCE: usize = 100;

/// How the engines' client connects.
#[derive(Debug, Clone, Default)]
pub struct EngineOptions {
    /// Bounds connecting and each wait for more of an answer; the whole
    /// answer is bounded by the hub. Zero means the defaults of reqwest.
    pub timeout: Duration,
    /// A PEM file of certificate authorities trusted besides the system's,
    /// for engines behind a private CA.
    pub extra_ca: Option<PathBuf>,
}

/// Why the engines' client could not be set up.
#[derive(Debug, Error)]
pub enum ClientError {
    /// The extra CA file cannot be read or is not PEM.
    #[error("cannot read the CA file {path}: {source}")]
    CaFile {
        /// The file.
        path: PathBuf,
        /// What was wrong with it.
        source: rustls::pki_types::pem::Error,
    },
    /// The extra CA file holds no certificate rustls accepts as an authority.
    #[error("the CA file {path} holds no usable CA certificate")]
    NoCaCertificate {
        /// The file.
        path: PathBuf,
    },
    /// reqwest refused the configuration.
    #[error("cannot set up the HTTP client for the bot engine: {0}")]
    Build(#[source] reqwest::Error),
}

/// A pooled HTTP(S) client for one bot engine. Cloning shares the pool.
#[derive(Debug, Clone)]
pub struct EngineClient {
    http: reqwest::Client,
    in_flight: Arc<InFlight>,
}

/// Bounds the requests in flight, and so the connections: one until the
/// engine's first answer says which HTTP version it speaks (reqwest would
/// open a connection per request of a burst before it knows that HTTP/2
/// multiplexes), then [`HTTP1_AT_ONCE`] or [`HTTP2_AT_ONCE`].
#[derive(Debug)]
struct InFlight {
    permits: Arc<Semaphore>,
    known: AtomicBool,
}

impl InFlight {
    fn new() -> Self {
        Self {
            permits: Arc::new(Semaphore::new(1)),
            known: AtomicBool::new(false),
        }
    }

    async fn enter(&self) -> OwnedSemaphorePermit {
        self.permits
            .clone()
            .acquire_owned()
            .await
            .expect("the semaphore is never closed")
    }

    /// Lets more requests in, once, now that the engine answered over `version`.
    fn learn(&self, version: Version) {
        if !self.known.swap(true, Ordering::AcqRel) {
            let at_once = if version == Version::HTTP_2 {
                HTTP2_AT_ONCE
            } else {
                HTTP1_AT_ONCE
            };
            self.permits.add_permits(at_once - 1);
        }
    }
}

/// The `data` of each event of a `text/event-stream` answer, in order.
pub(super) type Events = Pin<Box<dyn Stream<Item = Result<String, BotError>> + Send>>;

impl EngineClient {
    /// A client trusting the system's CA certificates plus those of
    /// `options.extra_ca`, with proxies from `HTTPS_PROXY`, `HTTP_PROXY`,
    /// `ALL_PROXY` and `NO_PROXY`.
    pub fn new(options: &EngineOptions) -> Result<Self, ClientError> {
        let mut roots = system_roots();
        if let Some(path) = &options.extra_ca {
            add_ca_file(&mut roots, path)?;
        }
        if roots.is_empty() {
            tracing::warn!(
                "no CA certificates found (install ca-certificates, or pass --bot-ca-file): \
                 https:// engines will be refused"
            );
        }
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut tls = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .expect("ring supports the default TLS versions")
            .with_root_certificates(roots)
            .with_no_client_auth();
        tls.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
        let mut builder = reqwest::Client::builder()
            .tls_backend_preconfigured(tls)
            .user_agent(concat!("chat-server/", env!("CARGO_PKG_VERSION")));
        if !options.timeout.is_zero() {
            builder = builder
                .connect_timeout(options.timeout)
                .read_timeout(options.timeout);
        }
        Ok(Self {
            http: builder.build().map_err(ClientError::Build)?,
            in_flight: Arc::new(InFlight::new()),
        })
    }

    /// A request to POST `body` as JSON to `url`, for the caller to add
    /// headers to before [`EngineClient::json`] or [`EngineClient::events`].
    pub(super) fn post(&self, url: &str, body: &Value) -> RequestBuilder {
        self.http.post(url).json(body)
    }

    /// Sends `request` and parses the answer as JSON, at most
    /// [`MAX_RESPONSE_BYTES`] of it. Error statuses are errors.
    pub(super) async fn json(&self, request: RequestBuilder) -> Result<Value, BotError> {
        let (url, response, _permit) = self.send(request).await?;
        read_json(url, response).await
    }

    /// Sends `request` and reads the answer as server-sent events, as they
    /// arrive. Error statuses are errors.
    pub(super) async fn events(&self, request: RequestBuilder) -> Result<Events, BotError> {
        let (url, response, permit) = self.send(request).await?;
        let broken = url.clone();
        let bytes = response
            .bytes_stream()
            .map_err(move |e| unavailable(&broken, "stream broken from", &e));
        // The stream keeps the request's place in flight until it is dropped.
        let events = bounded_lines(bytes).eventsource().map(move |event| {
            let _in_flight = &permit;
            match event {
                Ok(event) => Ok(event.data),
                Err(eventsource_stream::EventStreamError::Transport(error)) => Err(error),
                Err(error) => Err(BotError::Unavailable(format!(
                    "invalid event stream: {error}"
                ))),
            }
        });
        Ok(Box::pin(events))
    }

    /// A GET request of `url`.
    pub(super) fn get(&self, url: &str) -> RequestBuilder {
        self.http.get(url)
    }

    /// Like [`EngineClient::json`], for a request made while holding
    /// another one's place in flight (a message sent while its answer is
    /// listened to): it takes no place of its own, so the two cannot wait
    /// for each other. At most one such request per request in flight.
    pub(super) async fn json_alongside(&self, request: RequestBuilder) -> Result<Value, BotError> {
        let (client, request) = request.build_split();
        let request =
            request.map_err(|e| BotError::Unavailable(format!("bad engine request: {e}")))?;
        let url = request.url().to_string();
        let response = client
            .execute(request)
            .await
            .map_err(|e| unavailable(&url, "no answer from", &e))?;
        read_json(url, checked(response)?).await
    }

    /// Sends `request` once there is room in flight; a status other than
    /// 2xx is an error. The permit is the request's place in flight, to be
    /// held until its answer is read.
    async fn send(
        &self,
        request: RequestBuilder,
    ) -> Result<(String, Response, OwnedSemaphorePermit), BotError> {
        let (client, request) = request.build_split();
        let request =
            request.map_err(|e| BotError::Unavailable(format!("bad engine request: {e}")))?;
        let url = request.url().to_string();
        let permit = self.in_flight.enter().await;
        let response = client
            .execute(request)
            .await
            .map_err(|e| unavailable(&url, "no answer from", &e))?;
        self.in_flight.learn(response.version());
        Ok((url, checked(response)?, permit))
    }
}

/// `response`, unless its status is not 2xx.
fn checked(response: Response) -> Result<Response, BotError> {
    let status = response.status();
    if status.is_success() {
        Ok(response)
    } else {
        Err(BotError::Status {
            url: response.url().to_string(),
            status: status.as_u16(),
        })
    }
}

/// The answer's body as JSON, at most [`MAX_RESPONSE_BYTES`] of it.
async fn read_json(url: String, mut response: Response) -> Result<Value, BotError> {
    let mut body = Vec::new();
    while let Some(chunk) = response
        .chunk()
        .await
        .map_err(|e| unavailable(&url, "cannot read the answer of", &e))?
    {
        if body.len() + chunk.len() > MAX_RESPONSE_BYTES {
            return Err(BotError::Unavailable(format!(
                "the answer of {url} is over {MAX_RESPONSE_BYTES} bytes"
            )));
        }
        body.extend_from_slice(&chunk);
    }
    serde_json::from_slice(&body)
        .map_err(|e| BotError::Unavailable(format!("invalid JSON from {url}: {e}")))
}

/// Passes `bytes` on in whole lines, failing once [`MAX_LINE_BYTES`] arrive
/// without a line end.
///
/// The event-stream parser reads its whole buffer again with every chunk
/// it is given, so a long line handed over in small chunks would cost the
/// square of its length (seconds for one 1 MiB line); held back until it
/// ends, each line is parsed once.
fn bounded_lines<S>(bytes: S) -> impl Stream<Item = Result<Bytes, BotError>> + Send
where
    S: Stream<Item = Result<Bytes, BotError>> + Send,
{
    bytes.scan(BytesMut::new(), |open, chunk| {
        std::future::ready(Some(chunk.and_then(|chunk| whole_lines(open, &chunk))))
    })
}

/// The lines `chunk` ends, with the start of the first of them held in
/// `open` from earlier chunks; what follows its last line end is held in
/// `open` in turn. Empty when `chunk` ends no line (the parser skips empty
/// chunks).
fn whole_lines(open: &mut BytesMut, chunk: &[u8]) -> Result<Bytes, BotError> {
    let lines = match chunk.iter().rposition(|&b| b == b'\n' || b == b'\r') {
        Some(end) => {
            open.extend_from_slice(&chunk[..=end]);
            let lines = open.split().freeze();
            open.extend_from_slice(&chunk[end + 1..]);
            lines
        }
        None => {
            open.extend_from_slice(chunk);
            Bytes::new()
        }
    };
    if open.len() > MAX_LINE_BYTES {
        return Err(BotError::Unavailable(format!(
            "event stream line over {MAX_LINE_BYTES} bytes"
        )));
    }
    Ok(lines)
}

/// The CA certificates of the system (the files `openssl` would use).
fn system_roots() -> RootCertStore {
    let found = rustls_native_certs::load_native_certs();
    for error in &found.errors {
        tracing::debug!(%error, "a system CA certificate could not be loaded");
    }
    let mut roots = RootCertStore::empty();
    let (_, ignored) = roots.add_parsable_certificates(found.certs);
    if ignored > 0 {
        tracing::debug!(ignored, "system CA certificates rustls does not accept");
    }
    roots
}

fn add_ca_file(roots: &mut RootCertStore, path: &Path) -> Result<(), ClientError> {
    let certificates = CertificateDer::pem_file_iter(path)
        .and_then(Iterator::collect::<Result<Vec<_>, _>>)
        .map_err(|source| ClientError::CaFile {
            path: path.to_owned(),
            source,
        })?;
    let (added, _) = roots.add_parsable_certificates(certificates);
    if added == 0 {
        return Err(ClientError::NoCaCertificate {
            path: path.to_owned(),
        });
    }
    Ok(())
}

fn unavailable(url: &str, what: &str, error: &reqwest::Error) -> BotError {
    BotError::Unavailable(format!("{what} {url}: {}", cause(error)))
}

/// What went wrong, in words: TLS problems named as such, otherwise the
/// innermost cause (reqwest's own message only says "error sending request").
fn cause(error: &reqwest::Error) -> String {
    if let Some(tls) = find::<rustls::Error>(error) {
        return match tls {
            rustls::Error::InvalidCertificate(certificate) => format!(
                "TLS certificate rejected: {}",
                certificate_problem(certificate)
            ),
            other => format!("TLS handshake failed: {other}"),
        };
    }
    if error.is_timeout() {
        return "timed out".to_owned();
    }
    let mut innermost: &dyn StdError = error;
    while let Some(source) = innermost.source() {
        innermost = source;
    }
    if error.is_connect() {
        format!("cannot connect: {innermost}")
    } else {
        innermost.to_string()
    }
}

fn certificate_problem(error: &CertificateError) -> String {
    match error {
        CertificateError::Expired | CertificateError::ExpiredContext { .. } => {
            "the certificate has expired".to_owned()
        }
        CertificateError::NotValidYet | CertificateError::NotValidYetContext { .. } => {
            "the certificate is not valid yet".to_owned()
        }
        CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. } => {
            "the certificate is not for this host name".to_owned()
        }
        CertificateError::UnknownIssuer => {
            "signed by an unknown certificate authority (a private CA goes in --bot-ca-file)"
                .to_owned()
        }
        other => format!("{other:?}"),
    }
}

/// The first error of type `T` in `error`'s chain, looking inside I/O
/// errors too (their `source` skips the error they wrap).
fn find<'a, T: StdError + 'static>(error: &'a (dyn StdError + 'static)) -> Option<&'a T> {
    let mut next = Some(error);
    while let Some(current) = next {
        if let Some(found) = current.downcast_ref::<T>() {
            return Some(found);
        }
        if let Some(found) = current
            .downcast_ref::<std::io::Error>()
            .and_then(std::io::Error::get_ref)
            .and_then(|inner| find::<T>(inner as &(dyn StdError + 'static)))
        {
            return Some(found);
        }
        next = current.source();
    }
    None
}

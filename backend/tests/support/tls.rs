//! A certificate authority made at test time, and HTTPS servers whose
//! certificates it signs, for engines spoken to over TLS.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use axum::Router;
use hyper_util::rt::{TokioExecutor, TokioIo};
use rcgen::{BasicConstraints, CertificateParams, IsCa, Issuer, KeyPair};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use tokio::net::{TcpListener, TcpStream};
use tokio_rustls::TlsAcceptor;
use tokio_rustls::server::TlsStream;
use tower::ServiceExt as _;

/// A throwaway certificate authority.
pub struct TestCa {
    issuer: Issuer<'static, KeyPair>,
    pem: String,
}

/// What a server certificate is made wrong for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flaw {
    /// A good certificate for 127.0.0.1 and localhost.
    None,
    /// For another host name only.
    OtherHost,
    /// Expired a year ago.
    Expired,
}

impl TestCa {
    /// A new CA with a fresh key.
    pub fn new() -> Self {
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, "chat-server test CA");
        let key = KeyPair::generate().unwrap();
        let certificate = params.self_signed(&key).unwrap();
        Self {
            issuer: Issuer::new(params, key),
            pem: certificate.pem(),
        }
    }

    /// The CA certificate as a PEM file in a fresh folder, for `--bot-ca-file`.
    pub fn pem_file(&self) -> PathBuf {
        let dir = super::temp_dir("ca");
        let path = dir.join("ca.pem");
        std::fs::write(&path, &self.pem).unwrap();
        path
    }

    /// A server certificate signed by this CA, with its key.
    pub fn server_certificate(
        &self,
        flaw: Flaw,
    ) -> (Vec<CertificateDer<'static>>, PrivateKeyDer<'static>) {
        let names = match flaw {
            Flaw::OtherHost => vec!["engine.example".to_owned()],
            _ => vec!["127.0.0.1".to_owned(), "localhost".to_owned()],
        };
        let mut params = CertificateParams::new(names).unwrap();
        if flaw == Flaw::Expired {
            params.not_before = rcgen::date_time_ymd(2020, 1, 1);
            params.not_after = rcgen::date_time_ymd(2021, 1, 1);
        }
        let key = KeyPair::generate().unwrap();
        let certificate = params.signed_by(&key, &self.issuer).unwrap();
        (
            vec![certificate.der().clone()],
            PrivatePkcs8KeyDer::from(key.serialize_der()).into(),
        )
    }
}

/// An HTTPS listener on 127.0.0.1 that counts the TCP connections made to it.
pub struct TlsListener {
    listener: TcpListener,
    acceptor: TlsAcceptor,
    /// TCP connections accepted so far.
    pub connections: Arc<AtomicUsize>,
}

impl TlsListener {
    /// A listener on a free port presenting a certificate of `ca` with
    /// `flaw`, offering HTTP/2 and HTTP/1.1.
    pub async fn bind(ca: &TestCa, flaw: Flaw) -> Self {
        Self::bind_offering(ca, flaw, &[b"h2", b"http/1.1"]).await
    }

    /// Like [`TlsListener::bind`], offering only the ALPN `protocols`.
    pub async fn bind_offering(ca: &TestCa, flaw: Flaw, protocols: &[&[u8]]) -> Self {
        let (chain, key) = ca.server_certificate(flaw);
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut config = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_no_client_auth()
            .with_single_cert(chain, key)
            .unwrap();
        config.alpn_protocols = protocols.iter().map(|p| p.to_vec()).collect();
        Self {
            listener: TcpListener::bind("127.0.0.1:0").await.unwrap(),
            acceptor: TlsAcceptor::from(Arc::new(config)),
            connections: Arc::default(),
        }
    }

    /// `https://127.0.0.1:port`.
    pub fn url(&self) -> String {
        format!("https://{}", self.listener.local_addr().unwrap())
    }

    /// The next TCP connection, and the acceptor for its TLS handshake:
    /// done by the caller, so a slow handshake holds up no other.
    pub async fn accept(&self) -> (TcpStream, TlsAcceptor) {
        let (stream, _) = self.listener.accept().await.unwrap();
        self.connections.fetch_add(1, Ordering::SeqCst);
        (stream, self.acceptor.clone())
    }
}

/// Finishes the handshake; `None` when the client gave it up (it refused
/// the certificate).
pub async fn handshake(stream: TcpStream, acceptor: TlsAcceptor) -> Option<TlsStream<TcpStream>> {
    acceptor.accept(stream).await.ok()
}

/// Serves `app` over HTTPS (HTTP/2 or HTTP/1.1, as the client chooses)
/// with a certificate of `ca` with `flaw`. Returns the URL and the count
/// of TCP connections made to it.
pub async fn serve_https(app: Router, ca: &TestCa, flaw: Flaw) -> (String, Arc<AtomicUsize>) {
    let listener = TlsListener::bind(ca, flaw).await;
    let url = listener.url();
    let connections = listener.connections.clone();
    tokio::spawn(async move {
        loop {
            let (stream, acceptor) = listener.accept().await;
            let app = app.clone();
            tokio::spawn(async move {
                let Some(stream) = handshake(stream, acceptor).await else {
                    return;
                };
                let service =
                    hyper::service::service_fn(move |request| app.clone().oneshot(request));
                let _ = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new())
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            });
        }
    });
    (url, connections)
}

/// Serves `app` over plain HTTP/1.1 on 127.0.0.1. Returns the URL and the
/// count of TCP connections made to it.
pub async fn serve_http(app: Router) -> (String, Arc<AtomicUsize>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let connections = Arc::new(AtomicUsize::new(0));
    let counted = connections.clone();
    tokio::spawn(async move {
        loop {
            let (stream, _) = listener.accept().await.unwrap();
            counted.fetch_add(1, Ordering::SeqCst);
            let app = app.clone();
            tokio::spawn(async move {
                let service =
                    hyper::service::service_fn(move |request| app.clone().oneshot(request));
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            });
        }
    });
    (url, connections)
}

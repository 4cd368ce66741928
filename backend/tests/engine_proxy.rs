//! The real binary reaches a hosted engine the way a locked-down network
//! makes it: through the HTTP CONNECT proxy named in `HTTPS_PROXY`, over
//! TLS to an engine whose CA is only in `--bot-ca-file`.

mod support;

use std::sync::{Arc, Mutex};

use axum::routing::post;
use axum::{Json, Router};
use serde_json::{Value, json};
use shared::events::{BOT_MESSAGE, NEW_MESSAGE};
use support::binary::chat_server;
use support::tls::{Flaw, TestCa, serve_https};
use support::{TestClient, TestServer, temp_dir};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::{TcpListener, TcpStream};

/// The `CONNECT` targets a proxy was asked for, in order.
type Tunnels = Arc<Mutex<Vec<String>>>;

/// An HTTP proxy that only tunnels (`CONNECT host:port`), as corporate
/// proxies do for HTTPS.
async fn connect_proxy() -> (String, Tunnels) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let tunnels = Tunnels::default();
    let log = tunnels.clone();
    tokio::spawn(async move {
        loop {
            let (client, _) = listener.accept().await.unwrap();
            tokio::spawn(tunnel(client, log.clone()));
        }
    });
    (url, tunnels)
}

async fn tunnel(mut client: TcpStream, tunnels: Tunnels) {
    let mut head = Vec::new();
    while !head.ends_with(b"\r\n\r\n") {
        let mut byte = [0];
        if client.read(&mut byte).await.unwrap_or(0) == 0 {
            return;
        }
        head.push(byte[0]);
    }
    let head = String::from_utf8_lossy(&head);
    let Some(target) = head
        .strip_prefix("CONNECT ")
        .and_then(|rest| rest.split_whitespace().next())
    else {
        let _ = client
            .write_all(b"HTTP/1.1 405 Method Not Allowed\r\ncontent-length: 0\r\n\r\n")
            .await;
        return;
    };
    tunnels.lock().unwrap().push(target.to_owned());
    let Ok(mut upstream) = TcpStream::connect(target).await else {
        let _ = client.write_all(b"HTTP/1.1 502 Bad Gateway\r\n\r\n").await;
        return;
    };
    if client
        .write_all(b"HTTP/1.1 200 Connection Established\r\n\r\n")
        .await
        .is_ok()
    {
        let _ = tokio::io::copy_bidirectional(&mut client, &mut upstream).await;
    }
}

#[tokio::test]
async fn the_server_reaches_an_https_engine_through_the_proxy_in_https_proxy() {
    let ca = TestCa::new();
    let rasa = Router::new().route(
        "/webhooks/rest/webhook",
        post(|Json(request): Json<Value>| async move {
            Json(json!([{
                "recipient_id": request["sender"],
                "text": format!("Rasa heard {}", request["message"].as_str().unwrap_or_default()),
            }]))
        }),
    );
    let (engine, _) = serve_https(rasa, &ca, Flaw::None).await;
    let (proxy, tunnels) = connect_proxy().await;
    let ca_file = ca.pem_file();
    let data = temp_dir("proxy");
    let (_server, address) = chat_server(
        &[
            "--store",
            "memory",
            "--bot",
            "rasa",
            "--rasa-url",
            &engine,
            "--bot-ca-file",
            ca_file.to_str().unwrap(),
            "--data-dir",
            data.to_str().unwrap(),
        ],
        &[("HTTPS_PROXY", &proxy)],
    )
    .await;

    let mut ann = TestClient::connect(&TestServer::at(address)).await;
    ann.emit(NEW_MESSAGE, json!({"user": "ann", "body": "hello"}));
    assert_eq!(ann.next(BOT_MESSAGE).await["body"], "Rasa heard hello");
    let engine_authority = engine.strip_prefix("https://").unwrap();
    assert_eq!(*tunnels.lock().unwrap(), [engine_authority]);
    let _ = std::fs::remove_dir_all(data);
}

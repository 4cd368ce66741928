//! `chat-bench`: opens N clients to a chat server, has each send M
//! `newmessage` at R per second, and prints one JSON line of what arrived,
//! how fast, and what the server spent. It always ends: a hard timeout turns
//! missing messages into losses instead of a hang.

use bench::{Load, run};
use clap::Parser as _;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let load = Load::parse();
    let report = run(&load).await?;
    println!("{}", serde_json::to_string(&report)?);
    Ok(())
}

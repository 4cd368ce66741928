//! `chat-server`: reads the configuration, binds, and runs the chat until
//! Ctrl-C or SIGTERM.

use anyhow::Context as _;
use chat_server::{Config, shutdown_signal};
use clap::Parser as _;

fn main() -> anyhow::Result<()> {
    let config = Config::parse();
    chat_server::logging::init(config.log_format);
    let workers = config
        .workers
        .map_or_else(chat_server::runtime::default_workers, usize::from);
    tracing::info!(workers, "network threads");
    chat_server::runtime::build(workers)
        .context("cannot start the async runtime")?
        .block_on(serve(config))
}

async fn serve(config: Config) -> anyhow::Result<()> {
    if config.insecure_trust_client_ids {
        tracing::warn!(
            "--insecure-trust-client-ids: botmasterUserId is believed without proof; \
             anyone can read anyone's bot conversation. Use only on a trusted network."
        );
    }
    tracing::info!(engine = %config.bot, store = %config.store, "bot engine and message store");
    let settings = config
        .clone()
        .into_settings()
        .await
        .context("cannot set up the server")?;
    let bot = config
        .bot(settings.store.clone())
        .context("cannot set up the bot engine")?;
    let listener = tokio::net::TcpListener::bind((config.host, config.port))
        .await
        .with_context(|| format!("cannot listen on {}:{}", config.host, config.port))?;
    let address = listener.local_addr()?;
    // Tests and scripts read this line to find the port when started with `--port 0`.
    println!("chat-server listening on http://{address}");

    chat_server::run_with_bot(listener, settings, bot, shutdown_signal()).await?;
    Ok(())
}

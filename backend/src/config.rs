use std::net::IpAddr;
use std::path::PathBuf;
use std::time::Duration;

use std::sync::Arc;

use clap::{Parser, ValueEnum};

use crate::logging::LogFormat;

use crate::bot::{
    BotpressBot, ChatBot, ClientError, EngineClient, EngineOptions, OpenAiBot, RasaBot, RuleBot,
};
use crate::hub::ReplyShape;
use crate::identity::{SecretError, Signer, load_or_create_secret, load_secret};
use crate::limits::{ConnectionLimits, Rates, TrustedProxies, TrustedProxy, raise_fd_limit};
use crate::store::{MemoryStore, OffThread, PostgresStore, SqliteStore, Store, StoreError};

const DEFAULT_DIST: &str = "dist";
const DEFAULT_DATA_DIR: &str = "data";
const DEFAULT_BOT_TIMEOUT_MS: u64 = 10_000;
/// How long a batch waits for more after a commit, while messages keep coming.
/// 10 ms: a third of Node's CPU at 50 clients × 20 messages at 10/s, with
/// a p99 of about 15 ms (5 ms: 2.3×, p99 10 ms); see the README.
const DEFAULT_GROUP_COMMIT_MS: u64 = 10;
/// 1 GiB: a default that stops a flood from filling the disk, far above
/// what a chat writes (a million messages of 1 KB).
const DEFAULT_STORE_MAX_KIB: u64 = 1024 * 1024;

/// Command-line flags, each also read from the environment variable named
/// beside it. Flags win over the environment.
#[derive(Debug, Clone, Parser)]
#[command(
    name = "chat-server",
    version,
    about = "A real-time chat with a bot, over Socket.IO"
)]
pub struct Config {
    /// Address to listen on. Default 127.0.0.1; use 0.0.0.0 to accept other machines.
    #[arg(long, env = "HOST", default_value = "127.0.0.1")]
    pub host: IpAddr,
    /// How the log (on stderr) is written: `text`, or `json` with one object
    /// per line. Default text; colours only on a terminal.
    #[arg(long, env = "LOG_FORMAT", value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,
    /// This node's name in `/metrics` (`chat_node_info`) and in the
    /// database's notifications, to tell nodes apart; no spaces. Default:
    /// made up at start.
    #[arg(long, env = "NODE_ID")]
    pub node_id: Option<String>,
    /// Port to listen on. Default 3000; 0 picks a free port (printed at start).
    #[arg(long, env = "PORT", default_value_t = 3000)]
    pub port: u16,
    /// Folder of the built frontend (Trunk's output). Default `dist`.
    #[arg(long = "dist", env = "DIST_DIR", default_value = DEFAULT_DIST)]
    pub dist: PathBuf,
    /// How long the bot may take to answer before users are told it is
    /// unavailable, in milliseconds. Default 10000.
    #[arg(long, env = "BOT_TIMEOUT_MS", default_value_t = DEFAULT_BOT_TIMEOUT_MS)]
    pub bot_timeout_ms: u64,
    /// Group commit, in milliseconds: while messages keep coming, each
    /// batch waits up to this long after the previous commit for more, so
    /// they share one disk sync. A message after a quiet spell is stored at
    /// once. 0 stores every batch at once. Default 10.
    #[arg(long, env = "GROUP_COMMIT_MS", default_value_t = DEFAULT_GROUP_COMMIT_MS)]
    pub group_commit_ms: u64,
    /// Threads that carry the network side. 1 runs every connection on
    /// one thread (tokio's current-thread scheduler); more runs tokio's
    /// multi-thread scheduler with that many. Default: 1 on a machine with
    /// one or two cores (measured cheaper there, see the README), else one
    /// per core.
    #[arg(long, env = "WORKERS", value_parser = clap::value_parser!(u16).range(1..))]
    pub workers: Option<u16>,
    /// Messages a client (a user, or an anonymous address) may send in a
    /// burst before it is slowed down; an address may send 4 times as many,
    /// for several people behind it. Default 10.
    #[arg(long, env = "MESSAGE_BURST", default_value_t = Rates::default().message_burst)]
    pub message_burst: u32,
    /// Messages per second a client may keep sending after a burst. Default 2.
    #[arg(long, env = "MESSAGES_PER_SECOND", default_value_t = Rates::default().messages_per_second)]
    pub messages_per_second: f64,
    /// Requests for older messages a client may make in a burst. Default 20.
    #[arg(long, env = "OLDER_BURST", default_value_t = Rates::default().older_burst)]
    pub older_burst: u32,
    /// Requests for older messages per second after a burst. Default 4.
    #[arg(long, env = "OLDER_PER_SECOND", default_value_t = Rates::default().older_per_second)]
    pub older_per_second: f64,
    /// New Socket.IO sessions, and new user ids (`POST /api/session`), one
    /// client address may open in a burst. Default 30.
    #[arg(long, env = "CONNECT_BURST", default_value_t = Rates::default().connect_burst)]
    pub connect_burst: u32,
    /// New sessions and new user ids per second per address after a burst. Default 1.
    #[arg(long, env = "CONNECTS_PER_SECOND", default_value_t = Rates::default().connects_per_second)]
    pub connects_per_second: f64,
    /// Bytes of messages one client may have stored per minute. Default 262144 (256 KiB).
    #[arg(long, env = "STORE_BYTES_PER_MINUTE", default_value_t = Rates::default().store_bytes_per_minute)]
    pub store_bytes_per_minute: u32,
    /// Most open connections. Default 0: as many as the file-descriptor
    /// limit allows (raised to its hard maximum at start), less an eighth
    /// kept spare for refusals, `/healthz` and the server's own files.
    #[arg(long, env = "MAX_CONNECTIONS", default_value_t = 0)]
    pub max_connections: usize,
    /// Most open connections, and most Socket.IO sessions, from one client
    /// address. Default 64.
    #[arg(long, env = "MAX_CONNECTIONS_PER_ADDRESS", default_value_t = ConnectionLimits::default().max_per_address)]
    pub max_connections_per_address: usize,
    /// How long a request head may take to arrive, and a keep-alive
    /// connection may sit idle, in milliseconds. Default 10000.
    #[arg(long, env = "HEADER_TIMEOUT_MS", default_value_t = 10_000)]
    pub header_timeout_ms: u64,
    /// Reverse proxies whose `X-Forwarded-For` names the client, as
    /// addresses or networks (`10.0.0.0/8`), comma-separated. Default none:
    /// the header is ignored and the TCP peer is the client.
    #[arg(long, env = "TRUSTED_PROXY", value_delimiter = ',')]
    pub trusted_proxy: Vec<TrustedProxy>,
    /// Origins (`https://chat.example.com`) whose pages may open Socket.IO
    /// sessions, comma-separated, besides the server's own. Default none
    /// but `trunk serve`'s (`http://127.0.0.1:8080`, `http://localhost:8080`).
    /// Clients that send no `Origin` (not browsers) are not affected.
    #[arg(long, env = "ALLOWED_ORIGIN", value_delimiter = ',')]
    pub allowed_origin: Vec<String>,
    /// Socket.IO transports to accept, comma-separated. Default both.
    #[arg(
        long,
        env = "TRANSPORTS",
        value_enum,
        value_delimiter = ',',
        default_values_t = [Transport::Polling, Transport::Websocket]
    )]
    pub transports: Vec<Transport>,
    /// Where messages are kept: `sqlite` (the file `chat.db` in the data
    /// folder, synced on every commit), `postgres` (the database at
    /// `--database-url`, which several nodes can share) or `memory` (lost
    /// at exit). Default `sqlite`.
    #[arg(long, env = "STORE", value_enum, default_value_t = StoreKind::Sqlite)]
    pub store: StoreKind,
    /// The PostgreSQL database for `--store postgres`, as
    /// `postgres://user:password@host:port/database`.
    #[arg(long, env = "DATABASE_URL")]
    pub database_url: Option<String>,
    /// Stop accepting messages once the SQLite file reaches this many KiB;
    /// senders are told their message could not be saved. Default 1048576
    /// (1 GiB); 0 for no limit.
    #[arg(long, env = "STORE_MAX_KIB", default_value_t = DEFAULT_STORE_MAX_KIB)]
    pub store_max_kib: u64,
    /// Folder for the server's own files (the token secret, the history). Default `data`.
    #[arg(long, env = "DATA_DIR", default_value = DEFAULT_DATA_DIR)]
    pub data_dir: PathBuf,
    /// The file of the secret that signs and checks session tokens (hex, at
    /// least 16 bytes), created with a fresh secret if missing. Every node
    /// of a cluster needs the same one, or a session made on one node is
    /// refused by the others. Default `secret` in the data folder.
    #[arg(long, env = "SECRET_FILE")]
    pub secret_file: Option<PathBuf>,
    /// The file of a secret being retired: tokens it signed are still
    /// accepted, while new ones are signed with `--secret-file`, so that
    /// nobody is logged out by a rotation. Default none.
    #[arg(long, env = "PREVIOUS_SECRET_FILE")]
    pub previous_secret_file: Option<PathBuf>,
    /// Believe `?botmasterUserId=` without a session token, for Botmaster's
    /// original clients. Anyone can then read anyone's bot conversation:
    /// only for trusted networks. Default off.
    #[arg(long, env = "INSECURE_TRUST_CLIENT_IDS")]
    pub insecure_trust_client_ids: bool,
    /// How Botmaster-mode events reach a user who has not sent anything yet:
    /// `string` (JSON strings, as the Botmaster tutorial's page reads them)
    /// or `object` (as the published Botmaster sends them). Users are then
    /// answered in the shape they send. Default `string`.
    #[arg(long, env = "BOTMASTER_REPLIES", value_enum, default_value_t = ReplyShape::String)]
    pub botmaster_replies: ReplyShape,
    /// The bot engine. Default `rules`, the tutorial's bot, which needs nothing else.
    #[arg(long, env = "BOT", value_enum, default_value_t = Engine::Rules)]
    pub bot: Engine,
    /// A PEM file of certificate authorities to trust for `https://`
    /// engines besides the system's, for engines behind a private CA.
    #[arg(long, env = "BOT_CA_FILE")]
    pub bot_ca_file: Option<PathBuf>,
    /// Where the Rasa assistant's REST channel listens, for `--bot rasa`.
    /// Default http://127.0.0.1:5005.
    #[arg(long, env = "RASA_URL", default_value = "http://127.0.0.1:5005")]
    pub rasa_url: String,
    /// Where the OpenAI-compatible server listens, for `--bot openai`.
    /// Default http://127.0.0.1:11434 (Ollama).
    #[arg(long, env = "OPENAI_URL", default_value = "http://127.0.0.1:11434")]
    pub openai_url: String,
    /// The model that answers, for `--bot openai`. Default `llama3.2`.
    #[arg(long, env = "OPENAI_MODEL", default_value = "llama3.2")]
    pub openai_model: String,
    /// The Chat API of the Botpress bot, for `--bot botpress`:
    /// `https://chat.botpress.cloud/` followed by the webhook id shown in
    /// the bot's Chat integration. The API needs no other key: each
    /// conversation's chat user and its key are made by the API and kept
    /// in the store.
    #[arg(long, env = "BOTPRESS_URL")]
    pub botpress_url: Option<String>,
    /// The API key sent as a bearer token, for `--bot openai`; read from the
    /// environment only, so it never shows in a process list.
    #[arg(skip = std::env::var("OPENAI_API_KEY").ok())]
    pub openai_api_key: Option<String>,
}

/// The bot engines to choose from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Engine {
    /// The tutorial's rule bot.
    Rules,
    /// A Rasa assistant, over its REST channel.
    Rasa,
    /// An OpenAI-compatible chat-completions server (Ollama, llama.cpp, vLLM),
    /// streaming its answers.
    Openai,
    /// A Botpress bot, through its Chat API.
    Botpress,
}

impl std::fmt::Display for Engine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Rules => "rules",
            Self::Rasa => "rasa",
            Self::Openai => "openai",
            Self::Botpress => "botpress",
        })
    }
}

/// Where messages are kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum StoreKind {
    /// An SQLite file in the data folder.
    Sqlite,
    /// A PostgreSQL database, shared by every node of a cluster.
    Postgres,
    /// Memory only; history is lost when the server stops.
    Memory,
}

impl std::fmt::Display for StoreKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Sqlite => "sqlite",
            Self::Postgres => "postgres",
            Self::Memory => "memory",
        })
    }
}

/// Why the server cannot start with its configuration.
#[derive(Debug, thiserror::Error)]
pub enum SetupError {
    /// The token secret cannot be read or created.
    #[error(transparent)]
    Secret(#[from] SecretError),
    /// The data folder cannot be created.
    #[error("cannot create the data folder {path}: {source}")]
    DataDir {
        /// The folder.
        path: PathBuf,
        /// What the system said.
        source: std::io::Error,
    },
    /// The message store cannot be opened.
    #[error("cannot open the message store: {0}")]
    Store(#[from] StoreError),
    /// `--store postgres` without a database to connect to.
    #[error("--store postgres needs --database-url (or DATABASE_URL)")]
    NoDatabaseUrl,
}

/// Why the bot engine could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum BotSetupError {
    /// The engines' HTTP client.
    #[error(transparent)]
    Client(#[from] ClientError),
    /// `--bot botpress` without the Chat API's address.
    #[error(
        "--bot botpress needs --botpress-url (or BOTPRESS_URL): https://chat.botpress.cloud/ and the webhook id of the bot's Chat integration"
    )]
    NoBotpressUrl,
}

/// A Socket.IO transport the server can accept.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Transport {
    /// HTTP long-polling.
    Polling,
    /// WebSocket.
    Websocket,
}

impl std::fmt::Display for Transport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Polling => "polling",
            Self::Websocket => "websocket",
        })
    }
}

impl Config {
    /// The configured bot engine.
    /// `store` keeps what engines remember per conversation (Botpress's users).
    pub fn bot(&self, store: Arc<dyn Store>) -> Result<Arc<dyn ChatBot>, BotSetupError> {
        let client = || {
            EngineClient::new(&EngineOptions {
                timeout: Duration::from_millis(self.bot_timeout_ms),
                extra_ca: self.bot_ca_file.clone(),
            })
        };
        Ok(match self.bot {
            Engine::Rules => Arc::new(RuleBot),
            Engine::Rasa => Arc::new(RasaBot::new(&self.rasa_url, client()?)),
            Engine::Openai => Arc::new(OpenAiBot::new(
                &self.openai_url,
                &self.openai_model,
                self.openai_api_key.clone(),
                client()?,
            )),
            Engine::Botpress => {
                let url = self
                    .botpress_url
                    .as_deref()
                    .ok_or(BotSetupError::NoBotpressUrl)?;
                Arc::new(BotpressBot::new(url, client()?, store))
            }
        })
    }

    /// What the server needs once the address is bound; reads (or creates)
    /// the token secret in the data folder.
    pub async fn into_settings(self) -> Result<Settings, SetupError> {
        std::fs::create_dir_all(&self.data_dir).map_err(|source| SetupError::DataDir {
            path: self.data_dir.clone(),
            source,
        })?;
        // Private conversations and the token secret: for the server's eyes only.
        private(&self.data_dir);
        let secret_file = self
            .secret_file
            .clone()
            .unwrap_or_else(|| self.data_dir.join("secret"));
        let mut signer = Signer::new(load_or_create_secret(&secret_file)?);
        if let Some(previous) = &self.previous_secret_file {
            signer = signer.also_accepting(load_secret(previous)?);
        }
        let node_id = self.node_id.clone().unwrap_or_else(random_node_id);
        let store: Arc<dyn Store> = match self.store {
            StoreKind::Sqlite => {
                let limit = (self.store_max_kib > 0).then(|| self.store_max_kib * 1024);
                let path = self.data_dir.join("chat.db");
                let store = SqliteStore::open_limited(&path, limit)?;
                for file in ["chat.db", "chat.db-wal", "chat.db-shm"] {
                    let path = self.data_dir.join(file);
                    if path.exists() {
                        private(&path);
                    }
                }
                Arc::new(OffThread::new(store))
            }
            StoreKind::Postgres => {
                let url = self
                    .database_url
                    .as_deref()
                    .ok_or(SetupError::NoDatabaseUrl)?;
                Arc::new(PostgresStore::connect(url, &node_id).await?)
            }
            StoreKind::Memory => Arc::new(OffThread::new(MemoryStore::default())),
        };
        let max_connections = match self.max_connections {
            0 => raise_fd_limit(),
            n => n,
        };
        Ok(Settings {
            dist: self.dist,
            bot_timeout: Duration::from_millis(self.bot_timeout_ms),
            group_commit: Duration::from_millis(self.group_commit_ms),
            rates: Rates {
                message_burst: self.message_burst,
                messages_per_second: self.messages_per_second,
                older_burst: self.older_burst,
                older_per_second: self.older_per_second,
                connect_burst: self.connect_burst,
                connects_per_second: self.connects_per_second,
                store_bytes_per_minute: self.store_bytes_per_minute,
            },
            connections: ConnectionLimits {
                max_connections,
                max_per_address: self.max_connections_per_address,
                header_read_timeout: Duration::from_millis(self.header_timeout_ms),
            },
            trusted_proxies: TrustedProxies::new(self.trusted_proxy),
            allowed_origins: self.allowed_origin,
            polling: self.transports.contains(&Transport::Polling),
            websocket: self.transports.contains(&Transport::Websocket),
            signer,
            trust_client_ids: self.insecure_trust_client_ids,
            botmaster_replies: self.botmaster_replies,
            store,
            node_id,
        })
    }
}

/// A node id for a node started without one: `node-` and 8 random hex digits.
fn random_node_id() -> String {
    let mut bytes = [0u8; 4];
    // Without randomness the id is still valid, only less likely unique.
    let _ = getrandom::fill(&mut bytes);
    let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    format!("node-{hex}")
}

/// The server's behaviour, independent of where it listens.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Folder of the built frontend. Default `dist`.
    pub dist: PathBuf,
    /// How long the bot may take to answer. Default 10 s.
    pub bot_timeout: Duration,
    /// How long a batch may wait for more messages after a commit, while
    /// messages keep coming. Default 10 ms.
    pub group_commit: Duration,
    /// How fast each client may send, read, store and connect.
    pub rates: Rates,
    /// How many connections may be open, and how long a request head may take.
    pub connections: ConnectionLimits,
    /// Proxies whose `X-Forwarded-For` is believed. Default none.
    pub trusted_proxies: TrustedProxies,
    /// Origins besides the server's own whose pages may open sessions.
    /// Default none (`trunk serve`'s are always allowed).
    pub allowed_origins: Vec<String>,
    /// Accept HTTP long-polling. Default true.
    pub polling: bool,
    /// Accept WebSocket. Default true. With neither, both are accepted.
    pub websocket: bool,
    /// Signs and checks session tokens. Default: a fresh random secret.
    pub signer: Signer,
    /// This node's name in `/metrics` and the log.
    pub node_id: String,
    /// Believe `botmasterUserId` without a token. Default false.
    pub trust_client_ids: bool,
    /// How Botmaster-mode events reach users not heard yet. Default strings.
    pub botmaster_replies: ReplyShape,
    /// Where messages are kept. Default (for the library): in memory; the
    /// server binary defaults to SQLite in its data folder.
    pub store: Arc<dyn Store>,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            dist: PathBuf::from(DEFAULT_DIST),
            bot_timeout: Duration::from_millis(DEFAULT_BOT_TIMEOUT_MS),
            group_commit: Duration::from_millis(DEFAULT_GROUP_COMMIT_MS),
            rates: Rates::default(),
            connections: ConnectionLimits::default(),
            trusted_proxies: TrustedProxies::default(),
            allowed_origins: Vec::new(),
            polling: true,
            websocket: true,
            signer: Signer::new(random_secret()),
            node_id: random_node_id(),
            trust_client_ids: false,
            botmaster_replies: ReplyShape::String,
            store: Arc::new(OffThread::new(MemoryStore::default())),
        }
    }
}

/// Takes away every permission of the group and of others on `path`
/// (a folder becomes 0700, a file 0600 at most); the owner's are kept, so a
/// file made read-only stays read-only. Unix only; a failure is logged.
fn private(path: &std::path::Path) {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        let made_private = std::fs::metadata(path).and_then(|meta| {
            let mode = meta.permissions().mode();
            if mode & 0o077 == 0 {
                return Ok(());
            }
            std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode & 0o700))
        });
        if let Err(error) = made_private {
            tracing::warn!(path = %path.display(), %error, "cannot make this private to the server");
        }
    }
    #[cfg(not(unix))]
    let _ = path;
}

fn random_secret() -> Vec<u8> {
    let mut key = vec![0u8; 32];
    getrandom::fill(&mut key).expect("the operating system provides randomness");
    key
}

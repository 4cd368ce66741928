//! `cargo xtask cluster`: a local cluster in one command. A throwaway
//! PostgreSQL, two release `chat-server` nodes on it (ports 3001 and 3002)
//! and nginx in front of them with the configuration we ship
//! (`deploy/nginx.conf`, on port 8080), until Ctrl-C.

use std::io::{Read as _, Write as _};
use std::net::TcpStream;
use std::os::unix::fs::PermissionsExt as _;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};

use crate::postgres::Postgres;
use crate::tasks::build_bundle;
use crate::tools::{self, step};
use crate::{command, project};

/// The nodes' ports and ids, as `deploy/nginx.conf` names them.
const NODES: [(u16, &str); 2] = [(3001, "node-1"), (3002, "node-2")];

/// Where nginx listens, as `deploy/nginx.conf` has it.
const ADDRESS: &str = "127.0.0.1:8080";

/// How long nginx and the nodes may take to answer.
const READY_WITHIN: Duration = Duration::from_secs(30);

/// Builds everything, starts the cluster and waits for Ctrl-C (or for a
/// process of it to end), then stops it all. `server_flags` go to both nodes.
pub fn cluster(server_flags: &[String]) -> anyhow::Result<()> {
    build_bundle()?;
    step("building the release server");
    command::run(command::new("cargo").args([
        "build",
        "--release",
        "--package",
        "backend",
        "--bin",
        "chat-server",
    ]))?;
    let nginx = tools::ensure_nginx()?;

    let stop = Arc::new(AtomicBool::new(false));
    let stopping = stop.clone();
    ctrlc::set_handler(move || stopping.store(true, Ordering::SeqCst))
        .context("listening for Ctrl-C")?;

    step("starting PostgreSQL (a throwaway cluster: its data goes when this stops)");
    let postgres = Postgres::start()?;
    // Every node reads the token secret from one folder, so a session made
    // on one node is good on the other.
    let data = project::root().join("data").join("cluster");
    std::fs::create_dir_all(&data).context("making data/cluster")?;
    let mut processes = Vec::new();
    for (port, id) in NODES {
        step(&format!("starting {id} on http://127.0.0.1:{port}"));
        let node = command::new(project::root().join("target/release/chat-server"))
            .args(["--port", &port.to_string(), "--node-id", id])
            .args(["--store", "postgres", "--database-url", &postgres.url()])
            .args(["--trusted-proxy", "127.0.0.1"])
            .arg("--data-dir")
            .arg(&data)
            .arg("--dist")
            .arg(project::dist())
            .args(server_flags)
            .stdout(Stdio::null())
            .spawn()
            .with_context(|| format!("starting {id}"))?;
        processes.push(Running::new(id, node));
    }
    for (port, id) in NODES {
        wait_for_health(&format!("127.0.0.1:{port}"), id)?;
    }

    step("starting nginx with deploy/nginx.conf");
    let folder = std::env::temp_dir().join(format!("chat-nginx-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&folder);
    std::fs::create_dir_all(folder.join("tmp")).context("making nginx's folder")?;
    // Its workers run as nobody when we are root, and write their buffers here.
    std::fs::set_permissions(folder.join("tmp"), std::fs::Permissions::from_mode(0o777))?;
    let proxy = Command::new(nginx)
        .args(["-e", "stderr", "-p"])
        .arg(&folder)
        .arg("-c")
        .arg(project::root().join("deploy/nginx.conf"))
        .spawn()
        .context("starting nginx")?;
    processes.push(Running::new("nginx", proxy));
    wait_for_health(ADDRESS, "nginx")?;

    println!(
        "\nchat cluster listening on http://{ADDRESS} \
         (nginx, in front of http://127.0.0.1:3001 and http://127.0.0.1:3002 on {}); Ctrl-C stops it",
        postgres.url()
    );
    let ended = loop {
        if stop.load(Ordering::SeqCst) {
            break None;
        }
        if let Some(ended) = processes.iter_mut().find_map(Running::ended) {
            break Some(ended);
        }
        std::thread::sleep(Duration::from_millis(200));
    };
    step("stopping the cluster");
    drop(processes);
    drop(postgres);
    let _ = std::fs::remove_dir_all(&folder);
    match ended {
        Some(what) => bail!("{what}"),
        None => Ok(()),
    }
}

/// A process of the cluster, stopped (SIGTERM, then SIGKILL) when dropped.
struct Running {
    name: &'static str,
    child: Child,
}

impl Running {
    fn new(name: &'static str, child: Child) -> Self {
        Self { name, child }
    }

    /// Why the process ended, if it has.
    fn ended(&mut self) -> Option<String> {
        let status = self.child.try_wait().ok()??;
        Some(format!("{} stopped ({status})", self.name))
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Waits until `GET /healthz` at `address` answers 200.
fn wait_for_health(address: &str, what: &str) -> anyhow::Result<()> {
    let started = Instant::now();
    while started.elapsed() < READY_WITHIN {
        if healthy(address) {
            return Ok(());
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    bail!("{what} did not answer on http://{address}/healthz within {READY_WITHIN:?}")
}

fn healthy(address: &str) -> bool {
    let Ok(mut stream) = TcpStream::connect(address) else {
        return false;
    };
    let _ = stream.set_read_timeout(Some(Duration::from_secs(2)));
    let request = format!("GET /healthz HTTP/1.1\r\nHost: {address}\r\nConnection: close\r\n\r\n");
    if stream.write_all(request.as_bytes()).is_err() {
        return false;
    }
    let mut answer = String::new();
    let _ = stream.read_to_string(&mut answer);
    answer.starts_with("HTTP/1.1 200")
}

//! A throwaway PostgreSQL: Debian's server binaries, a cluster initialised
//! in a temporary folder and started on a free loopback port, as an
//! unprivileged user when we are root (`initdb` refuses root). Stopped, by
//! its PID, and its folder removed when dropped.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};

use crate::command;
use crate::tools::{ensure_debian_package, is_root};

/// The Debian package that has the server.
const PACKAGE: &str = "postgresql-15";

/// Where Debian puts its binaries.
const BIN: &str = "/usr/lib/postgresql/15/bin";

/// Who runs the server when we are root.
const UNPRIVILEGED: &str = "nobody";

/// How long the server may take to accept connections.
const READY_WITHIN: Duration = Duration::from_secs(30);

/// The server's binaries, installed from Debian's packages when missing
/// and we are root.
pub fn ensure_installed() -> anyhow::Result<PathBuf> {
    let bin = PathBuf::from(BIN);
    ensure_debian_package(bin.join("postgres"), PACKAGE, "PostgreSQL 15")?;
    Ok(bin)
}

/// A running throwaway cluster.
#[derive(Debug)]
pub struct Postgres {
    folder: PathBuf,
    port: u16,
    server: Child,
}

impl Postgres {
    /// Initialises a cluster in a new temporary folder and starts it.
    pub fn start() -> anyhow::Result<Self> {
        let bin = ensure_installed()?;
        static STARTED: AtomicUsize = AtomicUsize::new(0);
        let nth = STARTED.fetch_add(1, Ordering::Relaxed);
        let folder =
            std::env::temp_dir().join(format!("chat-postgres-{}-{nth}", std::process::id()));
        let _ = std::fs::remove_dir_all(&folder);
        std::fs::create_dir_all(&folder).context("making the PostgreSQL folder")?;
        let owner = unprivileged_owner()?;
        if let Some((uid, gid)) = owner {
            std::os::unix::fs::chown(&folder, Some(uid), Some(gid))
                .context("giving the PostgreSQL folder to an unprivileged user")?;
        }
        let data = folder.join("data");
        let initialised = as_owner(&bin.join("initdb"), owner)
            .args([
                "--username=postgres",
                "--auth=trust",
                "--encoding=UTF8",
                "--no-sync",
            ])
            .arg("--pgdata")
            .arg(&data)
            .stdout(Stdio::null())
            .status()
            .context("running initdb")?;
        if !initialised.success() {
            bail!("initdb failed ({initialised})");
        }
        let port = free_port()?;
        let log = std::fs::File::create(folder.join("server.log")).context("making the log")?;
        if let Some((uid, gid)) = owner {
            std::os::unix::fs::chown(folder.join("server.log"), Some(uid), Some(gid))?;
        }
        let server = as_owner(&bin.join("postgres"), owner)
            .arg("-D")
            .arg(&data)
            .args(["-p", &port.to_string(), "-c", "listen_addresses=127.0.0.1"])
            .arg("-k")
            .arg(&folder)
            .args(["-c", "max_connections=300"])
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            .spawn()
            .context("starting postgres")?;
        let postgres = Self {
            folder,
            port,
            server,
        };
        postgres.wait_until_ready(&bin)?;
        Ok(postgres)
    }

    /// The URL of the cluster's `postgres` database, as its superuser.
    pub fn url(&self) -> String {
        self.database_url("postgres")
    }

    /// The URL of database `name` of the cluster, as its superuser.
    fn database_url(&self, name: &str) -> String {
        format!("postgres://postgres@127.0.0.1:{}/{name}", self.port)
    }

    /// The server's process id (the postmaster; its processes are children).
    pub fn pid(&self) -> u32 {
        self.server.id()
    }

    /// Creates the empty database `name` and returns its URL.
    pub fn create_database(&self, name: &str) -> anyhow::Result<String> {
        command::run(
            Command::new(Path::new(BIN).join("createdb"))
                .args(["-h", "127.0.0.1", "-p", &self.port.to_string()])
                .args(["-U", "postgres", name]),
        )?;
        Ok(self.database_url(name))
    }

    fn wait_until_ready(&self, bin: &Path) -> anyhow::Result<()> {
        let started = Instant::now();
        while started.elapsed() < READY_WITHIN {
            let ready = Command::new(bin.join("pg_isready"))
                .args(["-q", "-h", "127.0.0.1", "-p", &self.port.to_string()])
                .status()
                .is_ok_and(|status| status.success());
            if ready {
                return Ok(());
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        let log = std::fs::read_to_string(self.folder.join("server.log")).unwrap_or_default();
        bail!("PostgreSQL did not start within {READY_WITHIN:?}:\n{log}")
    }
}

impl Drop for Postgres {
    fn drop(&mut self) {
        // SIGINT: PostgreSQL's fast shutdown. Then wait, or kill.
        let pid = self.server.id().to_string();
        let _ = Command::new("kill").args(["-INT", &pid]).status();
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.server.try_wait() {
                break;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.server.kill();
        let _ = self.server.wait();
        let _ = std::fs::remove_dir_all(&self.folder);
    }
}

/// The uid and gid the cluster runs as when we are root.
fn unprivileged_owner() -> anyhow::Result<Option<(u32, u32)>> {
    if !is_root() {
        return Ok(None);
    }
    let id = |flag: &str| -> anyhow::Result<u32> {
        command::output(command::new("id").args([flag, UNPRIVILEGED]))
            .context("no unprivileged user to run PostgreSQL as")?
            .trim()
            .parse()
            .context("reading a user id")
    };
    Ok(Some((id("-u")?, id("-g")?)))
}

/// `program`, run as `owner` (uid, gid) when there is one (setpriv execs
/// it, so the PID is the program's own).
fn as_owner(program: &Path, owner: Option<(u32, u32)>) -> Command {
    let Some((uid, gid)) = owner else {
        return Command::new(program);
    };
    let mut command = Command::new("setpriv");
    command
        .args([
            format!("--reuid={uid}"),
            format!("--regid={gid}"),
            "--clear-groups".to_owned(),
            "--".to_owned(),
        ])
        .arg(program);
    command
}

/// A loopback port the OS says is free now.
fn free_port() -> anyhow::Result<u16> {
    let listener = TcpListener::bind("127.0.0.1:0").context("finding a free port")?;
    Ok(listener.local_addr()?.port())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cluster_starts_answers_and_is_gone_when_dropped() {
        let postgres = Postgres::start().unwrap();
        let port = postgres.port.to_string();
        let psql = |sql: &str| {
            Command::new(Path::new(BIN).join("psql"))
                .args([
                    "-h",
                    "127.0.0.1",
                    "-p",
                    &port,
                    "-U",
                    "postgres",
                    "-tAc",
                    sql,
                ])
                .output()
                .unwrap()
        };
        let answer = psql("SELECT 40 + 2");
        assert_eq!(String::from_utf8_lossy(&answer.stdout).trim(), "42");
        let folder = postgres.folder.clone();
        drop(postgres);
        assert!(!psql("SELECT 1").status.success(), "still answering");
        assert!(!folder.exists(), "its folder is left behind");
    }
}

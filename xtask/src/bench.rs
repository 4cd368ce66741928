//! `cargo xtask bench`: chat-server against the tutorial's Node.js server,
//! the same loads, alternating, each run on a fresh server process. Prints a
//! Markdown table of medians and ratios and keeps the raw JSON lines in
//! `target/bench/results.jsonl`. chat-server runs as deployed (every
//! message synced to SQLite before it is broadcast), with its history in
//! memory, which prices durability, and on PostgreSQL as one node and as
//! two, beside Node's two processes with the socket.io Postgres adapter.

use std::io::{BufRead as _, BufReader, Write as _};
use std::process::{Child, Command, Stdio};

use anyhow::{Context as _, bail};

use crate::postgres::Postgres;
use crate::syscalls::{self, Counter, Counts};
use crate::tools::{self, step};
use crate::{command, project};

/// Flags that lift every per-client limit of `chat-server` (the load
/// generator is one address sending as fast as it can). The header timeout
/// and the total connection cap stay as deployed.
pub const UNLIMITED: [&str; 12] = [
    "--message-burst",
    "1000000000",
    "--messages-per-second",
    "1000000000",
    "--connect-burst",
    "1000000",
    "--connects-per-second",
    "1000000",
    "--store-bytes-per-minute",
    "4000000000",
    "--max-connections-per-address",
    "1000000",
];

/// Runs of each load on each server; the table shows medians.
const ROUNDS: usize = 3;

/// One load, as chat-bench flags, and the servers it runs on.
struct Scenario {
    name: &'static str,
    flags: &'static [&'static str],
    servers: &'static [Server],
}

/// The servers of one process: chat-server durable and in memory, Node.
const ALONE: &[Server] = &[Server::Rust, Server::RustInMemory, Server::Node];

/// Those and the clusters on PostgreSQL: ours with one and two nodes, and
/// Node's with the socket.io Postgres adapter.
const WITH_CLUSTERS: &[Server] = &[
    Server::Rust,
    Server::RustInMemory,
    Server::Node,
    Server::RustPostgres,
    Server::RustPostgresTwoNodes,
    Server::NodePostgresTwoNodes,
];

/// One node of each, for the fan-out to many listeners.
const FANOUT: &[Server] = &[Server::Rust, Server::Node];

const SCENARIOS: &[Scenario] = &[
    Scenario {
        name: "50 clients x 20 msgs at 10/s",
        flags: &["--clients", "50", "--messages", "20", "--rate", "10"],
        servers: WITH_CLUSTERS,
    },
    Scenario {
        name: "50 clients x 6 msgs at 1/s",
        flags: &["--clients", "50", "--messages", "6", "--rate", "1"],
        servers: ALONE,
    },
    Scenario {
        name: "200 clients x 10 msgs at 2/s",
        flags: &["--clients", "200", "--messages", "10", "--rate", "2"],
        servers: WITH_CLUSTERS,
    },
    Scenario {
        name: "50 clients x 100 msgs at 100/s (saturating)",
        flags: &["--clients", "50", "--messages", "100", "--rate", "100"],
        servers: ALONE,
    },
    Scenario {
        name: "20 clients x 20 msgs at 5/s over long-polling",
        flags: &[
            "--clients",
            "20",
            "--messages",
            "20",
            "--rate",
            "5",
            "--transport",
            "polling",
        ],
        servers: ALONE,
    },
    Scenario {
        name: "2,000 idle connections",
        flags: &["--clients", "2000", "--messages", "0"],
        servers: ALONE,
    },
    Scenario {
        name: "10,000 idle connections",
        flags: &["--clients", "10000", "--messages", "0"],
        servers: ALONE,
    },
    Scenario {
        name: "1,000 listeners, 5 senders x 20 msgs at 1/s",
        flags: &[
            "--clients",
            "5",
            "--messages",
            "20",
            "--rate",
            "1",
            "--listeners",
            "1000",
        ],
        servers: FANOUT,
    },
    Scenario {
        name: "10,000 listeners, 5 senders x 20 msgs at 1/s",
        flags: &[
            "--clients",
            "5",
            "--messages",
            "20",
            "--rate",
            "1",
            "--listeners",
            "10000",
        ],
        servers: FANOUT,
    },
];

#[derive(Clone, Copy, PartialEq, Debug)]
enum Server {
    /// chat-server as deployed: SQLite, synced on every commit.
    Rust,
    /// chat-server with its history in memory only.
    RustInMemory,
    /// The tutorial's Node.js server.
    Node,
    /// One chat-server node on PostgreSQL.
    RustPostgres,
    /// Two chat-server nodes on one PostgreSQL, the clients split between them.
    RustPostgresTwoNodes,
    /// The tutorial's server as two Node.js processes with
    /// `@socket.io/postgres-adapter`, the clients split between them.
    NodePostgresTwoNodes,
}

impl Server {
    fn name(self) -> &'static str {
        match self {
            Self::Rust => "chat-server",
            Self::RustInMemory => "chat-server, history in memory",
            Self::Node => "node tutorial",
            Self::RustPostgres => "chat-server, 1 node on PostgreSQL",
            Self::RustPostgresTwoNodes => "chat-server, 2 nodes on PostgreSQL",
            Self::NodePostgresTwoNodes => "node + postgres-adapter, 2 processes",
        }
    }

    /// How many processes serve the clients.
    fn processes(self) -> usize {
        match self {
            Self::RustPostgresTwoNodes | Self::NodePostgresTwoNodes => 2,
            _ => 1,
        }
    }

    fn uses_postgres(self) -> bool {
        matches!(
            self,
            Self::RustPostgres | Self::RustPostgresTwoNodes | Self::NodePostgresTwoNodes
        )
    }

    /// The command of process `n` of this server, on `database` if it uses one.
    fn command(self, n: usize, database: Option<&str>) -> Command {
        match self {
            Self::Node | Self::NodePostgresTwoNodes => {
                let mut command = command::new("node");
                command
                    .arg(project::e2e().join("fixtures/tutorial-server/index.cjs"))
                    .env("PORT", "0");
                if let Some(url) = database {
                    command.env("DATABASE_URL", url);
                }
                command
            }
            Self::Rust | Self::RustInMemory | Self::RustPostgres | Self::RustPostgresTwoNodes => {
                let data = project::root().join(format!("target/bench/data-{n}"));
                // A fresh history for every run.
                let _ = std::fs::remove_dir_all(&data);
                let mut command = command::new(project::root().join("target/release/chat-server"));
                command.arg("--data-dir").arg(&data);
                match (self, database) {
                    (Self::RustInMemory, _) => command.args(["--store", "memory"]),
                    (_, Some(url)) => command
                        .args(["--store", "postgres", "--database-url", url])
                        .args(["--node-id", &format!("bench-{n}")]),
                    _ => command.args(["--store", "sqlite"]),
                };
                // The per-client limits protect users from spam and floods;
                // a benchmark is all spam, from one address.
                command.args(["--port", "0"]).args(UNLIMITED);
                command.arg("--dist").arg(project::dist());
                command
            }
        }
    }
}

/// The medians of one scenario, per server that ran it.
type Row = (&'static str, Vec<(Server, serde_like::Report)>);

/// Runs every scenario on its servers and prints the tables, then the faults
/// and the page load. With `only`, runs just the scenarios whose names contain
/// one of its words (`cargo xtask bench "10/s" "2/s"`).
pub fn bench(only: &[String]) -> anyhow::Result<()> {
    let scenarios: Vec<&Scenario> = SCENARIOS
        .iter()
        .filter(|s| only.is_empty() || only.iter().any(|word| s.name.contains(word.as_str())))
        .collect();
    if scenarios.is_empty() {
        let names: Vec<&str> = SCENARIOS.iter().map(|s| s.name).collect();
        bail!("no load matches {only:?}; the loads are: {names:?}");
    }
    tools::ensure_npm_packages()?;
    step("building chat-server and chat-bench (release)");
    command::run(command::new("cargo").args([
        "build",
        "--release",
        "--package",
        "backend",
        "--package",
        "bench",
    ]))?;
    let out_dir = project::root().join("target/bench");
    std::fs::create_dir_all(&out_dir)?;
    let mut raw = std::fs::File::create(out_dir.join("results.jsonl"))?;
    step("a throwaway PostgreSQL for the clusters");
    let postgres = Postgres::start()?;
    let mut databases = 0;

    let mut rows: Vec<Row> = Vec::new();
    for scenario in scenarios {
        step(&format!(
            "{} ({ROUNDS} rounds per server, alternating)",
            scenario.name
        ));
        let servers = scenario.servers;
        let mut results: Vec<Vec<serde_like::Report>> = vec![Vec::new(); servers.len()];
        // The syscalls are counted in a round of their own, after the timed
        // ones: tracing them costs CPU, more for whoever makes more of them.
        let mut counted: Vec<Option<serde_like::Report>> = vec![None; servers.len()];
        for round in 0..=ROUNDS {
            let counting = round == ROUNDS;
            if counting && !syscalls::available() {
                break;
            }
            // Each round starts with another server, so none always runs on a cold machine.
            for n in 0..servers.len() {
                let index = (n + round) % servers.len();
                let server = servers[index];
                let database = if server.uses_postgres() {
                    databases += 1;
                    Some(postgres.create_database(&format!("bench_{databases}"))?)
                } else {
                    None
                };
                let db = database.as_deref().map(|url| (url, postgres.pid()));
                let (line, counts) = run_once(server, scenario, db, counting)?;
                let report = serde_like::Report::parse(&line)
                    .with_context(|| format!("reading chat-bench output: {line}"))?
                    .with_syscalls(counts);
                if counting {
                    println!(
                        "  {:<37} {} (syscalls counted)",
                        server.name(),
                        report.syscalls()
                    );
                    counted[index] = Some(report);
                } else {
                    writeln!(raw, "{line}")?;
                    println!("  {:<37} {}", server.name(), report.summary());
                    results[index].push(report);
                }
            }
        }
        let medians = servers
            .iter()
            .zip(&results)
            .zip(&counted)
            .map(|((server, reports), counted)| {
                let mut median = serde_like::median(reports);
                if let Some(counted) = counted {
                    median.syncs_per_message = counted.syncs_per_message;
                    median.writes_per_delivery = counted.writes_per_delivery;
                }
                (*server, median)
            })
            .collect();
        rows.push((scenario.name, medians));
    }
    drop(postgres);
    print_tables(&rows);
    if !only.is_empty() {
        return Ok(());
    }
    faults()?;
    page_load()
}

/// The faults of a cluster, ours against Node's with the PostgreSQL
/// adapter: deliveries lost and duplicated (`e2e/bench/faults.mjs`).
fn faults() -> anyhow::Result<()> {
    step("faults: two nodes on PostgreSQL, ours against node + postgres-adapter");
    command::run(
        command::new("node")
            .arg("bench/faults.mjs")
            .current_dir(project::e2e())
            .env(
                "CHAT_SERVER_BIN",
                project::root().join("target/release/chat-server"),
            )
            .env("DIST_DIR", project::dist()),
    )
}

fn print_tables(rows: &[Row]) {
    let of = |row: &Row, server: Server| {
        row.1
            .iter()
            .find(|(s, _)| *s == server)
            .map(|(_, r)| r.clone())
    };
    println!(
        "\n| load | server | deliveries/s | lost | p50 ms | p99 ms | CPU µs/delivery | peak RSS MiB | KiB/connection | syncs/message | socket writes/delivery |"
    );
    println!("|---|---|---|---|---|---|---|---|---|---|---|");
    for (name, servers) in rows {
        for (server, r) in servers {
            println!(
                "| {name} | {} | {:.0} | {} | {:.2} | {:.2} | {:.1} | {:.1} | {:.1} | {} | {} |",
                server.name(),
                r.deliveries_per_second,
                r.lost,
                r.p50_ms,
                r.p99_ms,
                r.cpu_micros_per_delivery,
                r.peak_rss_kib / 1024.0,
                r.rss_per_connection_kib,
                serde_like::Report::cell(r.syncs_per_message),
                serde_like::Report::cell(r.writes_per_delivery)
            );
        }
    }
    println!(
        "\n| load | deliveries/s | p99 | CPU per delivery | peak RSS | memory per connection |"
    );
    println!("|---|---|---|---|---|---|");
    for row in rows {
        let (Some(rust), Some(node)) = (of(row, Server::Rust), of(row, Server::Node)) else {
            continue;
        };
        println!(
            "| {} | {} | {} | {} | {} | {} |",
            row.0,
            ratio(rust.deliveries_per_second, node.deliveries_per_second),
            ratio(node.p99_ms, rust.p99_ms),
            ratio(node.cpu_micros_per_delivery, rust.cpu_micros_per_delivery),
            ratio(node.peak_rss_kib, rust.peak_rss_kib),
            ratio(node.rss_per_connection_kib, rust.rss_per_connection_kib),
        );
    }
    println!(
        "\n(ratios read \"chat-server is N× better\": higher throughput, lower latency, CPU and memory)"
    );
    println!("\nThe cost of durability (chat-server with SQLite vs history in memory):\n");
    println!(
        "| load | deliveries/s kept | p99 ms, memory → SQLite | CPU µs/delivery, memory → SQLite |"
    );
    println!("|---|---|---|---|");
    for row in rows {
        let (Some(rust), Some(memory)) = (of(row, Server::Rust), of(row, Server::RustInMemory))
        else {
            continue;
        };
        if memory.deliveries_per_second <= 0.0 {
            continue;
        }
        println!(
            "| {} | {:.0}% | {:.2} → {:.2} | {:.1} → {:.1} |",
            row.0,
            100.0 * rust.deliveries_per_second / memory.deliveries_per_second,
            memory.p99_ms,
            rust.p99_ms,
            memory.cpu_micros_per_delivery,
            rust.cpu_micros_per_delivery,
        );
    }
    println!(
        "\nOn PostgreSQL (CPU of the servers and PostgreSQL, summed): one node and two, against Node's two processes with the adapter:\n"
    );
    println!(
        "| load | CPU µs/delivery: SQLite → 1 node → 2 nodes | 2 nodes vs Node + adapter, CPU | p99 ms, 2 nodes vs Node + adapter | lost, 2 nodes vs Node + adapter |"
    );
    println!("|---|---|---|---|---|");
    for row in rows {
        let (Some(sqlite), Some(one), Some(two), Some(node)) = (
            of(row, Server::Rust),
            of(row, Server::RustPostgres),
            of(row, Server::RustPostgresTwoNodes),
            of(row, Server::NodePostgresTwoNodes),
        ) else {
            continue;
        };
        println!(
            "| {} | {:.1} → {:.1} → {:.1} | {} | {:.2} vs {:.2} | {} vs {} |",
            row.0,
            sqlite.cpu_micros_per_delivery,
            one.cpu_micros_per_delivery,
            two.cpu_micros_per_delivery,
            ratio(node.cpu_micros_per_delivery, two.cpu_micros_per_delivery),
            two.p99_ms,
            node.p99_ms,
            two.lost,
            node.lost,
        );
    }
    println!("\nFan-out: from a send to its arrival at the last listener, one node:\n");
    println!(
        "| load | server | p50 ms to the last | p99 ms to the last | CPU µs/delivery (messaging) | KiB/listener |"
    );
    println!("|---|---|---|---|---|---|");
    for (name, servers) in rows {
        for (server, r) in servers.iter().filter(|(_, r)| r.last_p99_ms > 0.0) {
            println!(
                "| {name} | {} | {:.1} | {:.1} | {:.2} | {:.1} |",
                server.name(),
                r.last_p50_ms,
                r.last_p99_ms,
                r.fanout_cpu_micros,
                r.rss_per_connection_kib
            );
        }
    }
}

/// The page from navigation to connected, in Chromium, with the release
/// bundle and server (`e2e/bench/load-time.mjs`).
fn page_load() -> anyhow::Result<()> {
    crate::tasks::build_bundle()?;
    let chromium = tools::ensure_chromium()?;
    step("page load to connected (headless Chromium, loopback)");
    command::run(
        command::new("node")
            .arg("bench/load-time.mjs")
            .current_dir(project::e2e())
            .env("CHROMIUM_PATH", chromium)
            .env(
                "CHAT_SERVER_BIN",
                project::root().join("target/release/chat-server"),
            )
            .env("DIST_DIR", project::dist()),
    )
}

fn ratio(worse: f64, better: f64) -> String {
    if worse <= 0.0 || better <= 0.0 {
        "n/a".to_owned()
    } else {
        format!("{:.1}×", worse / better)
    }
}

/// Starts `server` (on `database`, its URL and the PostgreSQL server's
/// pid, if it uses one), runs chat-bench once against it, stops it;
/// returns the JSON line.
/// One run: chat-bench's JSON line, and with `counting` the servers'
/// syscalls, when perf could count them.
fn run_once(
    server: Server,
    scenario: &Scenario,
    database: Option<(&str, u32)>,
    counting: bool,
) -> anyhow::Result<(String, Option<Counts>)> {
    let mut processes = Vec::new();
    let mut urls = Vec::new();
    for n in 0..server.processes() {
        match start(server, n, database.map(|(url, _)| url)) {
            Ok((child, url)) => {
                processes.push(child);
                urls.push(url);
            }
            Err(error) => {
                processes.iter_mut().for_each(stop);
                return Err(error);
            }
        }
    }
    let pids: Vec<String> = processes.iter().map(|c| c.id().to_string()).collect();
    let counter = counting
        .then(|| Counter::attach(&pids, project::root().join("target/bench/perf.csv")))
        .flatten();
    let mut bench = command::new(project::root().join("target/release/chat-bench"));
    bench
        .args(["--url", &urls.join(",")])
        .args(["--server-pid", &pids.join(",")])
        .args(["--timeout-secs", "60"])
        .args(["--label", &format!("{} / {}", scenario.name, server.name())])
        .args(scenario.flags)
        .stderr(Stdio::inherit());
    if let Some((_, pid)) = database {
        bench.args(["--database-pid", &pid.to_string()]);
    }
    let output = bench.output();
    let counts = counter.and_then(Counter::finish);
    processes.iter_mut().for_each(stop);
    let output = output.context("running chat-bench")?;
    if !output.status.success() {
        bail!("chat-bench failed against {}", server.name());
    }
    Ok((
        String::from_utf8_lossy(&output.stdout).trim().to_owned(),
        counts,
    ))
}

/// Starts process `n` of `server`; returns it and the URL it listens on.
fn start(server: Server, n: usize, database: Option<&str>) -> anyhow::Result<(Child, String)> {
    let mut child = server
        .command(n, database)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .with_context(|| format!("starting {}", server.name()))?;
    let mut lines = BufReader::new(child.stdout.take().expect("piped")).lines();
    let url = loop {
        match lines.next() {
            Some(Ok(line)) => {
                if let Some(at) = line.find("listening on ") {
                    break line[at + "listening on ".len()..].trim().to_owned();
                }
            }
            _ => {
                stop(&mut child);
                bail!("{} exited before listening", server.name());
            }
        }
    };
    // Keep reading, so a chatty server never blocks on a full pipe.
    std::thread::spawn(move || lines.for_each(drop));
    Ok((child, url))
}

/// Stops a server this task started, by its PID: SIGTERM, then waits.
fn stop(child: &mut Child) {
    let _ = Command::new("kill").arg(child.id().to_string()).status();
    let _ = child.wait();
}

/// Just enough JSON reading for chat-bench's report, to keep xtask free of dependencies.
mod serde_like {
    /// The numbers the table shows.
    #[derive(Debug, Clone, Default)]
    pub struct Report {
        pub deliveries_per_second: f64,
        pub lost: f64,
        pub p50_ms: f64,
        pub p99_ms: f64,
        pub cpu_micros_per_delivery: f64,
        pub peak_rss_kib: f64,
        pub rss_per_connection_kib: f64,
        /// With listeners: from a send to the last listener.
        pub last_p50_ms: f64,
        pub last_p99_ms: f64,
        /// With listeners: server CPU per delivery while messaging.
        pub fanout_cpu_micros: f64,
        /// Messages sent, and delivered.
        pub sent: f64,
        pub delivered: f64,
        /// Disk syncs per message sent; negative when not counted.
        pub syncs_per_message: f64,
        /// Socket writes per delivery; negative when not counted.
        pub writes_per_delivery: f64,
    }

    impl Report {
        pub fn parse(line: &str) -> Option<Self> {
            let number_in = |line: &str, key: &str| -> Option<f64> {
                let at = line.find(&format!("\"{key}\":"))? + key.len() + 3;
                let rest = &line[at..];
                let end = rest.find([',', '}']).unwrap_or(rest.len());
                rest[..end].trim().parse().ok()
            };
            let number = |key: &str| number_in(line, key);
            // The first `key` after the object named `object`.
            let after = |object: &str, key: &str| {
                let at = line.find(&format!("\"{object}\":"))?;
                number_in(&line[at..], key)
            };
            Some(Self {
                deliveries_per_second: number("deliveries_per_second")?,
                lost: number("lost")?,
                p50_ms: number("p50_ms")?,
                p99_ms: number("p99_ms")?,
                cpu_micros_per_delivery: number("cpu_micros_per_delivery").unwrap_or(0.0),
                peak_rss_kib: number("peak_rss_kib").unwrap_or(0.0),
                rss_per_connection_kib: number("rss_per_connection_kib").unwrap_or(0.0),
                last_p50_ms: after("to_last_listener", "p50_ms").unwrap_or(0.0),
                last_p99_ms: after("to_last_listener", "p99_ms").unwrap_or(0.0),
                fanout_cpu_micros: after("fanout", "cpu_micros_per_delivery").unwrap_or(0.0),
                sent: number("sent").unwrap_or(0.0),
                delivered: number("delivered").unwrap_or(0.0),
                syncs_per_message: -1.0,
                writes_per_delivery: -1.0,
            })
        }

        /// With the servers' syscalls of the run, when they were counted.
        pub fn with_syscalls(mut self, counts: Option<super::Counts>) -> Self {
            if let Some(counts) = counts {
                if self.sent > 0.0 {
                    self.syncs_per_message = counts.syncs / self.sent;
                }
                if self.delivered > 0.0 {
                    self.writes_per_delivery = counts.writes / self.delivered;
                }
            }
            self
        }

        /// A per-message count as a table cell: "n/a" when not counted.
        pub fn cell(value: f64) -> String {
            if value < 0.0 {
                "n/a".to_owned()
            } else {
                format!("{value:.2}")
            }
        }

        pub fn summary(&self) -> String {
            format!(
                "{:>8.0} deliveries/s, lost {}, p50 {:.2} ms, p99 {:.2} ms, {:.1} µs CPU/delivery, peak {:.1} MiB, {:.1} KiB/conn",
                self.deliveries_per_second,
                self.lost,
                self.p50_ms,
                self.p99_ms,
                self.cpu_micros_per_delivery,
                self.peak_rss_kib / 1024.0,
                self.rss_per_connection_kib
            )
        }

        pub fn syscalls(&self) -> String {
            format!(
                "syncs/message {}, socket writes/delivery {}",
                Self::cell(self.syncs_per_message),
                Self::cell(self.writes_per_delivery)
            )
        }
    }

    /// The median of each field separately.
    pub fn median(reports: &[Report]) -> Report {
        let field = |get: fn(&Report) -> f64| {
            let mut values: Vec<f64> = reports.iter().map(get).collect();
            values.sort_by(f64::total_cmp);
            values.get(values.len() / 2).copied().unwrap_or(0.0)
        };
        Report {
            deliveries_per_second: field(|r| r.deliveries_per_second),
            lost: field(|r| r.lost),
            p50_ms: field(|r| r.p50_ms),
            p99_ms: field(|r| r.p99_ms),
            cpu_micros_per_delivery: field(|r| r.cpu_micros_per_delivery),
            peak_rss_kib: field(|r| r.peak_rss_kib),
            rss_per_connection_kib: field(|r| r.rss_per_connection_kib),
            last_p50_ms: field(|r| r.last_p50_ms),
            last_p99_ms: field(|r| r.last_p99_ms),
            fanout_cpu_micros: field(|r| r.fanout_cpu_micros),
            sent: field(|r| r.sent),
            delivered: field(|r| r.delivered),
            syncs_per_message: field(|r| r.syncs_per_message),
            writes_per_delivery: field(|r| r.writes_per_delivery),
        }
    }
}

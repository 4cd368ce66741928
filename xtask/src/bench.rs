//! `cargo xtask bench`: chat-server against the tutorial's Node.js server,
//! the same loads, alternating, each run on a fresh server process. Prints a
//! Markdown table of medians and ratios and keeps the raw JSON lines in
//! `target/bench/results.jsonl`. chat-server runs twice: as deployed (every
//! message synced to SQLite before it is broadcast) and with its history in
//! memory, which prices durability.

use std::io::{BufRead as _, BufReader, Write as _};
use std::process::{Child, Command, Stdio};

use anyhow::{Context as _, bail};

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

/// One load, as chat-bench flags.
struct Scenario {
    name: &'static str,
    flags: &'static [&'static str],
}

const SCENARIOS: &[Scenario] = &[
    Scenario {
        name: "50 clients x 20 msgs at 10/s",
        flags: &["--clients", "50", "--messages", "20", "--rate", "10"],
    },
    Scenario {
        name: "200 clients x 10 msgs at 2/s",
        flags: &["--clients", "200", "--messages", "10", "--rate", "2"],
    },
    Scenario {
        name: "50 clients x 100 msgs at 100/s (saturating)",
        flags: &["--clients", "50", "--messages", "100", "--rate", "100"],
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
    },
    Scenario {
        name: "1,000 idle connections",
        flags: &["--clients", "1000", "--messages", "0"],
    },
];

#[derive(Clone, Copy, PartialEq)]
enum Server {
    /// chat-server as deployed: SQLite, synced on every commit.
    Rust,
    /// chat-server with its history in memory only.
    RustInMemory,
    Node,
}

/// Every server measured, in the order of the table.
const SERVERS: [Server; 3] = [Server::Rust, Server::RustInMemory, Server::Node];

impl Server {
    fn name(self) -> &'static str {
        match self {
            Self::Rust => "chat-server",
            Self::RustInMemory => "chat-server, history in memory",
            Self::Node => "node tutorial",
        }
    }

    fn command(self) -> Command {
        match self {
            Self::Rust | Self::RustInMemory => {
                let store = if self == Self::Rust {
                    "sqlite"
                } else {
                    "memory"
                };
                let data = project::root().join("target/bench/data");
                // A fresh history for every run.
                let _ = std::fs::remove_dir_all(&data);
                let mut command = command::new(project::root().join("target/release/chat-server"));
                command
                    .arg("--store")
                    .arg(store)
                    .arg("--data-dir")
                    .arg(&data);
                // The per-client limits protect users from spam and floods;
                // a benchmark is all spam, from one address.
                command.args(["--port", "0"]).args(UNLIMITED);
                command.arg("--dist").arg(project::dist());
                command
            }
            Self::Node => {
                let mut command = command::new("node");
                command
                    .arg(project::e2e().join("fixtures/tutorial-server/index.cjs"))
                    .env("PORT", "0");
                command
            }
        }
    }
}

/// Runs every scenario on both servers and prints the table.
pub fn bench() -> anyhow::Result<()> {
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

    let mut rows = Vec::new();
    for scenario in SCENARIOS {
        step(&format!(
            "{} ({ROUNDS} rounds per server, alternating)",
            scenario.name
        ));
        let mut results: [Vec<serde_like::Report>; 3] = Default::default();
        for round in 0..ROUNDS {
            // Each round starts with another server, so none always runs on a cold machine.
            for n in 0..SERVERS.len() {
                let index = (n + round) % SERVERS.len();
                let server = SERVERS[index];
                let line = run_once(server, scenario)?;
                writeln!(raw, "{line}")?;
                let report = serde_like::Report::parse(&line)
                    .with_context(|| format!("reading chat-bench output: {line}"))?;
                println!("  {:<31} {}", server.name(), report.summary());
                results[index].push(report);
            }
        }
        rows.push((
            scenario.name,
            serde_like::median(&results[0]),
            serde_like::median(&results[1]),
            serde_like::median(&results[2]),
        ));
    }

    println!(
        "\n| load | server | deliveries/s | lost | p50 ms | p99 ms | CPU µs/delivery | peak RSS MiB | KiB/connection |"
    );
    println!("|---|---|---|---|---|---|---|---|---|");
    for (name, rust, memory, node) in &rows {
        let servers = [
            (Server::Rust, rust),
            (Server::RustInMemory, memory),
            (Server::Node, node),
        ];
        for (server, r) in servers {
            let server = server.name();
            println!(
                "| {name} | {server} | {:.0} | {} | {:.2} | {:.2} | {:.1} | {:.1} | {:.1} |",
                r.deliveries_per_second,
                r.lost,
                r.p50_ms,
                r.p99_ms,
                r.cpu_micros_per_delivery,
                r.peak_rss_kib / 1024.0,
                r.rss_per_connection_kib
            );
        }
    }
    println!(
        "\n| load | deliveries/s | p99 | CPU per delivery | peak RSS | memory per connection |"
    );
    println!("|---|---|---|---|---|---|");
    for (name, rust, _, node) in &rows {
        println!(
            "| {name} | {} | {} | {} | {} | {} |",
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
    for (name, rust, memory, _) in &rows {
        if memory.deliveries_per_second <= 0.0 {
            continue;
        }
        println!(
            "| {name} | {:.0}% | {:.2} → {:.2} | {:.1} → {:.1} |",
            100.0 * rust.deliveries_per_second / memory.deliveries_per_second,
            memory.p99_ms,
            rust.p99_ms,
            memory.cpu_micros_per_delivery,
            rust.cpu_micros_per_delivery,
        );
    }
    page_load()
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

/// Starts `server`, runs chat-bench once against it, stops it; returns the JSON line.
fn run_once(server: Server, scenario: &Scenario) -> anyhow::Result<String> {
    let (mut child, url) = start(server)?;
    let output = command::new(project::root().join("target/release/chat-bench"))
        .args([
            "--url",
            &url,
            "--server-pid",
            &child.id().to_string(),
            "--timeout-secs",
            "60",
        ])
        .args(["--label", &format!("{} / {}", scenario.name, server.name())])
        .args(scenario.flags)
        .stderr(Stdio::inherit())
        .output();
    stop(&mut child);
    let output = output.context("running chat-bench")?;
    if !output.status.success() {
        bail!("chat-bench failed against {}", server.name());
    }
    Ok(String::from_utf8_lossy(&output.stdout).trim().to_owned())
}

fn start(server: Server) -> anyhow::Result<(Child, String)> {
    let mut child = server
        .command()
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
    }

    impl Report {
        pub fn parse(line: &str) -> Option<Self> {
            let number = |key: &str| -> Option<f64> {
                let at = line.find(&format!("\"{key}\":"))? + key.len() + 3;
                let rest = &line[at..];
                let end = rest.find([',', '}']).unwrap_or(rest.len());
                rest[..end].trim().parse().ok()
            };
            Some(Self {
                deliveries_per_second: number("deliveries_per_second")?,
                lost: number("lost")?,
                p50_ms: number("p50_ms")?,
                p99_ms: number("p99_ms")?,
                cpu_micros_per_delivery: number("cpu_micros_per_delivery").unwrap_or(0.0),
                peak_rss_kib: number("peak_rss_kib").unwrap_or(0.0),
                rss_per_connection_kib: number("rss_per_connection_kib").unwrap_or(0.0),
            })
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
        }
    }
}

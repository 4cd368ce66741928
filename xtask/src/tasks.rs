//! The three tasks.

use anyhow::bail;

use crate::postgres::Postgres;
use crate::tools::{self, step};
use crate::{command, compress, project};

/// Builds the bundle and serves the chat until Ctrl-C.
pub fn run(server_flags: &[String]) -> anyhow::Result<()> {
    build_bundle()?;
    step("starting chat-server (Ctrl-C stops it)");
    command::run(
        command::new("cargo")
            .args([
                "run",
                "--release",
                "--quiet",
                "--package",
                "backend",
                "--bin",
                "chat-server",
                "--",
            ])
            .arg("--dist")
            .arg(project::dist())
            .args(server_flags),
    )
}

/// Builds what a deployment needs: `dist/` and `target/release/chat-server`.
pub fn dist() -> anyhow::Result<()> {
    build_bundle()?;
    step("building the release server");
    command::run(command::new("cargo").args(["build", "--release", "--package", "backend"]))?;
    println!(
        "\nDeploy target/release/chat-server with {} beside it (or pass --dist).",
        project::dist().display()
    );
    Ok(())
}

/// Every check and test. Prints one closing line with the totals.
pub fn test() -> anyhow::Result<()> {
    tools::ensure_build_tools()?;
    let chromium = tools::ensure_chromium()?;

    step("checking formatting");
    command::run(command::new("cargo").args(["fmt", "--all", "--check"]))?;
    step("clippy, native");
    command::run(command::new("cargo").args([
        "clippy",
        "--workspace",
        "--all-targets",
        "--all-features",
        "--",
        "-D",
        "warnings",
    ]))?;
    step("clippy, wasm32");
    command::run(command::new("cargo").args([
        "clippy",
        "--package",
        "frontend",
        "--package",
        "protocol",
        "--package",
        "shared",
        "--target",
        "wasm32-unknown-unknown",
        // Every target that can run in a browser; protocol's tests are
        // native-only (they start servers and use tokio).
        "--lib",
        "--bins",
        "--",
        "-D",
        "warnings",
    ]))?;

    let mut totals = Totals::default();
    step("a throwaway PostgreSQL for the store's tests");
    // Stopped (by its PID) when this function returns.
    let postgres = Postgres::start()?;
    step("unit and integration tests (cargo test)");
    let cargo_ok = command::run_scanning(
        command::new("cargo")
            .args([
                "test",
                "--workspace",
                "--exclude",
                "frontend",
                "--all-features",
            ])
            .env("CHAT_TEST_POSTGRES", postgres.url()),
        |line| totals.read_cargo(line),
    )?;
    // The page's own logic (rooms, merging, unread counts) is plain Rust,
    // tested natively; the workspace run leaves the crate out because its
    // features are the browser's.
    let frontend_ok = command::run_scanning(
        command::new("cargo").args(["test", "--package", "frontend"]),
        |line| totals.read_cargo(line),
    )?;
    let cargo_ok = cargo_ok && frontend_ok;

    build_bundle()?;
    step("building chat-server for the end-to-end tests");
    command::run(command::new("cargo").args([
        "build",
        "--package",
        "backend",
        "--bin",
        "chat-server",
    ]))?;

    // The tests of several nodes put nginx and haproxy in front of them.
    tools::ensure_nginx()?;
    tools::ensure_haproxy()?;
    step("end-to-end tests: official socket.io-client and headless Chromium");
    let e2e = project::e2e();
    let node_ok = command::run_scanning(
        command::new("node")
            .args(["--test", "--test-reporter=tap", "--test-timeout=300000"])
            // One file at a time: the fault tests kill servers and restart
            // PostgreSQL on a 2-core machine, beside the hostile-client floods.
            .arg("--test-concurrency=1")
            .args([
                "backend.test.mjs",
                "botmaster.test.mjs",
                "browser.test.mjs",
                "engines.test.mjs",
                "durability.test.mjs",
                "history.test.mjs",
                "hostile.test.mjs",
                "crowd.test.mjs",
                "burst.test.mjs",
                "dropin.test.mjs",
                "botmaster-shapes.test.mjs",
                "a11y.test.mjs",
                "rooms.test.mjs",
                "rooms-page.test.mjs",
                "cluster.test.mjs",
                "cluster-page.test.mjs",
                "order.test.mjs",
                "drain.test.mjs",
                "rolling.test.mjs",
                "postgres-outage.test.mjs",
            ])
            .current_dir(&e2e)
            .env(
                "CHAT_SERVER_BIN",
                project::root().join("target/debug/chat-server"),
            )
            .env("DIST_DIR", project::dist())
            .env("CHROMIUM_PATH", chromium),
        |line| totals.read_node(line),
    )?;

    println!(
        "\nxtask: {} passed, {} failed",
        totals.passed, totals.failed
    );
    if !(cargo_ok && node_ok) || totals.failed > 0 {
        bail!("some tests failed");
    }
    if totals.passed == 0 {
        bail!("no test ran");
    }
    Ok(())
}

/// Installs the tools and runs `trunk build --release` into `dist/`.
pub(crate) fn build_bundle() -> anyhow::Result<()> {
    tools::ensure_build_tools()?;
    step("building the wasm bundle (trunk build --release)");
    command::run(command::new("trunk").args(["build", "--release"]))?;
    let (wasm, brotli, gzip) = compress::precompress(&project::dist())?;
    println!(
        "wasm bundle: {wasm} bytes, {brotli} with brotli, {gzip} with gzip (precompressed in dist/)"
    );
    Ok(())
}

/// Test counts gathered from the runners' own summary lines.
#[derive(Debug, Default)]
struct Totals {
    passed: u64,
    failed: u64,
}

impl Totals {
    /// `test result: ok. 12 passed; 0 failed; ...`
    fn read_cargo(&mut self, line: &str) {
        if let Some(rest) = line.strip_prefix("test result: ") {
            for part in rest.split(['.', ';']) {
                let mut words = part.split_whitespace();
                match (
                    words.next().and_then(|n| n.parse::<u64>().ok()),
                    words.next(),
                ) {
                    (Some(n), Some("passed")) => self.passed += n,
                    (Some(n), Some("failed")) => self.failed += n,
                    _ => {}
                }
            }
        }
    }

    /// TAP's closing `# pass 11` and `# fail 0`.
    fn read_node(&mut self, line: &str) {
        let mut words = line.split_whitespace();
        match (
            words.next(),
            words.next(),
            words.next().and_then(|n| n.parse::<u64>().ok()),
        ) {
            (Some("#"), Some("pass"), Some(n)) => self.passed += n,
            (Some("#"), Some("fail"), Some(n)) => self.failed += n,
            _ => {}
        }
    }
}

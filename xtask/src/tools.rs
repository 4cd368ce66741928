//! Installs what the build and the tests need, pinned, from crates.io, npm
//! and Debian's packages; never from GitHub. Each check is cheap, so a second
//! run starts at once.

use std::path::Path;

use anyhow::{Context as _, bail};

use crate::{command, project};

/// Everything `cargo xtask run` needs: the wasm target, Trunk, the
/// wasm-bindgen CLI matching Cargo.lock, and the npm packages (wasm-opt).
pub fn ensure_build_tools() -> anyhow::Result<()> {
    ensure_wasm_target()?;
    ensure_trunk()?;
    ensure_wasm_bindgen()?;
    ensure_npm_packages()?;
    // Trunk builds with --offline (Trunk.toml), so the crates must be here first.
    command::run(command::new("cargo").args(["fetch", "--quiet"]))
}

/// Headless Chromium for the browser tests: `CHROMIUM_PATH`, or Debian's
/// `chromium`, installed with apt when running as root.
pub fn ensure_chromium() -> anyhow::Result<String> {
    if let Some(path) = std::env::var_os("CHROMIUM_PATH") {
        return Ok(path.to_string_lossy().into_owned());
    }
    let debian = "/usr/bin/chromium";
    ensure_debian_package(debian, "chromium", "Chromium")?;
    Ok(debian.to_owned())
}

/// nginx, the load balancer of the tests with several nodes and of
/// `cargo xtask cluster`: Debian's `nginx` (1.22), installed with apt when
/// running as root.
pub fn ensure_nginx() -> anyhow::Result<&'static Path> {
    let debian = Path::new("/usr/sbin/nginx");
    ensure_debian_package(debian, "nginx", "nginx")?;
    Ok(debian)
}

/// Debian's haproxy (2.6 on bookworm), for the tests of the balancer
/// configuration we ship beside nginx's.
pub fn ensure_haproxy() -> anyhow::Result<&'static Path> {
    let debian = Path::new("/usr/sbin/haproxy");
    ensure_debian_package(debian, "haproxy", "haproxy")?;
    Ok(debian)
}

/// Makes sure `path` exists, installing Debian's `package` with apt when it
/// does not and we are root; otherwise says what to install.
pub fn ensure_debian_package(
    path: impl AsRef<Path>,
    package: &str,
    what: &str,
) -> anyhow::Result<()> {
    if path.as_ref().exists() {
        return Ok(());
    }
    if !is_root() {
        bail!("{what} is missing: install Debian's `{package}` package");
    }
    step(&format!("installing {what} (Debian package `{package}`)"));
    command::run(command::new("apt-get").args(["update", "-qq"]))?;
    command::run(
        command::new("apt-get")
            .args(["install", "-y", "-qq", package])
            .env("DEBIAN_FRONTEND", "noninteractive"),
    )
}

/// Whether we run as root (and may install Debian's packages).
pub fn is_root() -> bool {
    command::output(command::new("id").arg("-u")).is_some_and(|id| id.trim() == "0")
}

fn ensure_wasm_target() -> anyhow::Result<()> {
    let installed = command::output(command::new("rustup").args(["target", "list", "--installed"]));
    match installed {
        Some(list) if list.lines().any(|t| t.trim() == "wasm32-unknown-unknown") => Ok(()),
        Some(_) => {
            step("adding the wasm32-unknown-unknown target");
            command::run(command::new("rustup").args(["target", "add", "wasm32-unknown-unknown"]))
        }
        // Without rustup, trust the toolchain to have it; the build will say if not.
        None => Ok(()),
    }
}

fn ensure_trunk() -> anyhow::Result<()> {
    let version = command::output(command::new("trunk").arg("--version"));
    if version.is_some_and(|v| v.split_whitespace().nth(1) == Some(project::TRUNK_VERSION)) {
        return Ok(());
    }
    step(&format!(
        "installing Trunk {} from crates.io (a few minutes, once)",
        project::TRUNK_VERSION
    ));
    command::run(command::new("cargo").args([
        "install",
        "trunk",
        "--version",
        project::TRUNK_VERSION,
        "--locked",
    ]))
}

fn ensure_wasm_bindgen() -> anyhow::Result<()> {
    let wanted = project::wasm_bindgen_version()?;
    project::check_trunk_toml(&wanted)?;
    let version = command::output(command::new("wasm-bindgen").arg("--version"));
    if version.is_some_and(|v| v.split_whitespace().nth(1) == Some(wanted.as_str())) {
        return Ok(());
    }
    step(&format!(
        "installing wasm-bindgen-cli {wanted} from crates.io (a few minutes, once)"
    ));
    // Not --locked: its lockfile wants a webpki-roots version crates.io no longer serves.
    command::run(command::new("cargo").args(["install", "wasm-bindgen-cli", "--version", &wanted]))
}

/// `npm ci` in e2e/, again only when package-lock.json changed since the last one.
pub fn ensure_npm_packages() -> anyhow::Result<()> {
    if command::output(command::new("npm").arg("--version")).is_none() {
        bail!("npm is missing: install Node.js 20 or later (Debian: `apt-get install nodejs npm`)");
    }
    let e2e = project::e2e();
    let lock =
        std::fs::read(e2e.join("package-lock.json")).context("reading e2e/package-lock.json")?;
    let stamp = e2e.join("node_modules").join(".xtask-installed-lock");
    if std::fs::read(&stamp).is_ok_and(|installed| installed == lock) {
        return Ok(());
    }
    step("installing npm packages (e2e/package-lock.json)");
    command::run(
        command::new("npm")
            .args(["ci", "--no-audit", "--no-fund", "--loglevel=error"])
            .current_dir(&e2e),
    )?;
    std::fs::write(&stamp, lock).context("writing the npm install stamp")
}

/// Announces a step, so a long run says what it is doing.
pub fn step(what: &str) {
    println!("\n==> {what}");
}

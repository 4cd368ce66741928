//! Running the tools, with the folders they were installed into on PATH.

use std::ffi::OsStr;
use std::io::{BufRead as _, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use anyhow::{Context as _, bail};

use crate::project;

/// `cargo install` destination, where Trunk and wasm-bindgen land.
fn cargo_bin() -> Option<PathBuf> {
    std::env::var_os("CARGO_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|home| Path::new(&home).join(".cargo")))
        .map(|home| home.join("bin"))
}

/// PATH with cargo's bin folder and the npm tools (wasm-opt) in front.
fn path() -> std::ffi::OsString {
    let mut dirs: Vec<PathBuf> = cargo_bin().into_iter().collect();
    dirs.push(project::e2e().join("node_modules").join(".bin"));
    if let Some(existing) = std::env::var_os("PATH") {
        dirs.extend(std::env::split_paths(&existing));
    }
    std::env::join_paths(dirs).unwrap_or_default()
}

/// A command in the workspace root with the project's PATH.
pub fn new(program: impl AsRef<OsStr>) -> Command {
    let mut command = Command::new(program);
    command
        .current_dir(project::root())
        .env("PATH", path())
        // Trunk asks crates.io for updates unless told not to.
        .env("TRUNK_SKIP_VERSION_CHECK", "true");
    command
}

/// Runs `command`, failing unless it succeeds.
pub fn run(command: &mut Command) -> anyhow::Result<()> {
    let status = command
        .status()
        .with_context(|| format!("cannot start {command:?}"))?;
    if !status.success() {
        bail!("{command:?} failed with {status}");
    }
    Ok(())
}

/// Runs `command` and returns its standard output, or `None` if it cannot run or fails.
pub fn output(command: &mut Command) -> Option<String> {
    let output = command.stderr(Stdio::null()).output().ok()?;
    output
        .status
        .success()
        .then(|| String::from_utf8_lossy(&output.stdout).into_owned())
}

/// Runs `command`, echoing its standard output line by line to ours and
/// handing each line to `each_line`; returns whether it succeeded.
pub fn run_scanning(
    command: &mut Command,
    mut each_line: impl FnMut(&str),
) -> anyhow::Result<bool> {
    let mut child = command
        .stdout(Stdio::piped())
        .spawn()
        .with_context(|| format!("cannot start {command:?}"))?;
    let stdout = child.stdout.take().expect("stdout was piped");
    for line in BufReader::new(stdout).lines() {
        let line = line.context("reading test output")?;
        println!("{line}");
        each_line(&line);
    }
    Ok(child.wait()?.success())
}

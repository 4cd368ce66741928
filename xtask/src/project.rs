//! Where things are, and the versions the project pins.

use std::path::{Path, PathBuf};

use anyhow::{Context as _, bail};

/// The pinned Trunk release. 0.22 needs a newer rustc than 1.95.
pub const TRUNK_VERSION: &str = "0.21.14";

/// The workspace root.
pub fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("xtask lives inside the workspace")
        .to_path_buf()
}

/// The folder of the npm packages (test peers, Chromium driver, wasm-opt).
pub fn e2e() -> PathBuf {
    root().join("e2e")
}

/// Where `trunk build` writes the bundle the server serves.
pub fn dist() -> PathBuf {
    root().join("dist")
}

/// The wasm-bindgen version in Cargo.lock, which the CLI and Trunk.toml must match.
pub fn wasm_bindgen_version() -> anyhow::Result<String> {
    let lock = std::fs::read_to_string(root().join("Cargo.lock")).context("reading Cargo.lock")?;
    let mut lines = lock.lines();
    while let Some(line) = lines.next() {
        if line == "name = \"wasm-bindgen\""
            && let Some(version) = lines
                .next()
                .and_then(|l| l.strip_prefix("version = \""))
                .and_then(|l| l.strip_suffix('"'))
        {
            return Ok(version.to_owned());
        }
    }
    bail!("wasm-bindgen is not in Cargo.lock")
}

/// Fails when Trunk.toml names another wasm-bindgen than Cargo.lock, which
/// would make Trunk refuse to build (it never downloads tools here).
pub fn check_trunk_toml(wasm_bindgen: &str) -> anyhow::Result<()> {
    let trunk = std::fs::read_to_string(root().join("Trunk.toml")).context("reading Trunk.toml")?;
    let expected = format!("wasm_bindgen = \"{wasm_bindgen}\"");
    if !trunk.lines().any(|line| line.trim() == expected) {
        bail!("Trunk.toml must say `{expected}` to match Cargo.lock");
    }
    Ok(())
}

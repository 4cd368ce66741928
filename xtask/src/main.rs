//! The project's entry points, so a newcomer needs only cargo:
//!
//! - `cargo xtask run [-- SERVER FLAGS]`: installs what is missing, builds the
//!   wasm bundle and starts the server on http://127.0.0.1:3000.
//! - `cargo xtask test`: installs what is missing and runs every check and
//!   test: formatting, clippy (native and wasm32), unit tests, and the
//!   end-to-end suites against the real server and headless Chromium.
//! - `cargo xtask dist`: builds the bundle and the release server, for deployment.
//! - `cargo xtask bench [LOAD...]`: chat-server against the tutorial's Node.js
//!   server, side by side; with arguments, only the loads whose names contain
//!   one of them (and no faults or page load).
//! - `cargo xtask cluster [-- SERVER FLAGS]`: PostgreSQL, two nodes on it and
//!   nginx in front, on http://127.0.0.1:8080.

mod bench;
mod cluster;
mod command;
mod compress;
mod postgres;
mod project;
mod syscalls;
mod tasks;
mod tools;

use std::process::ExitCode;

const USAGE: &str = "usage: cargo xtask <run [-- SERVER FLAGS] | test | dist | bench [LOAD...] | cluster [-- SERVER FLAGS]>";

fn main() -> ExitCode {
    let mut args = std::env::args().skip(1);
    let task = args.next();
    let rest: Vec<String> = args.skip_while(|arg| arg == "--").collect();
    let result = match task.as_deref() {
        Some("run") => tasks::run(&rest),
        Some("test") => tasks::test(),
        Some("dist") => tasks::dist(),
        Some("bench") => bench::bench(&rest),
        Some("cluster") => cluster::cluster(&rest),
        _ => {
            eprintln!("{USAGE}");
            return ExitCode::from(2);
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("xtask: error: {error:#}");
            ExitCode::FAILURE
        }
    }
}

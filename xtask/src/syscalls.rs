//! Counts the disk syncs and socket writes of a benchmarked server, with
//! `perf stat` on syscall tracepoints, where the machine allows it (perf
//! installed, tracepoints readable: usually root). Without it the bench
//! prints "n/a" for them and measures the rest as before.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;

/// The syscalls that sync a file to disk.
const SYNCS: [&str; 2] = ["syscalls:sys_enter_fsync", "syscalls:sys_enter_fdatasync"];

/// The syscalls a server writes to a socket with (ours: `sendto`; Node's
/// libuv: `write` and `writev`).
const WRITES: [&str; 4] = [
    "syscalls:sys_enter_sendto",
    "syscalls:sys_enter_sendmsg",
    "syscalls:sys_enter_write",
    "syscalls:sys_enter_writev",
];

/// What a server did while it was watched.
#[derive(Debug, Clone, Copy)]
pub struct Counts {
    /// fsync and fdatasync calls.
    pub syncs: f64,
    /// Socket write calls (and the few writes to its log).
    pub writes: f64,
}

/// `perf stat` attached to the processes of one run.
#[derive(Debug)]
pub struct Counter {
    perf: Child,
    output: PathBuf,
}

/// Whether `perf stat` can count syscalls here (asked once).
pub fn available() -> bool {
    static AVAILABLE: OnceLock<bool> = OnceLock::new();
    *AVAILABLE.get_or_init(|| {
        Command::new("perf")
            .args([
                "stat",
                "-x,",
                "-o",
                "/dev/null",
                "-e",
                SYNCS[0],
                "--",
                "true",
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|status| status.success())
    })
}

impl Counter {
    /// Starts counting the syscalls of `pids` (the threads they have now:
    /// servers start their workers before they listen), writing to `output`.
    /// `None` where perf cannot.
    pub fn attach(pids: &[String], output: PathBuf) -> Option<Self> {
        if !available() {
            return None;
        }
        let events: Vec<&str> = SYNCS.iter().chain(&WRITES).copied().collect();
        let perf = Command::new("perf")
            .args([
                "stat",
                "-x,",
                "-e",
                &events.join(","),
                "-p",
                &pids.join(","),
            ])
            .arg("-o")
            .arg(&output)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .ok()?;
        // perf needs a moment to attach before the load starts.
        std::thread::sleep(std::time::Duration::from_millis(300));
        Some(Self { perf, output })
    }

    /// Stops counting (SIGINT makes perf write its counts) and reads them.
    pub fn finish(mut self) -> Option<Counts> {
        let _ = Command::new("kill")
            .args(["-INT", &self.perf.id().to_string()])
            .status();
        let _ = self.perf.wait();
        let text = std::fs::read_to_string(&self.output).ok()?;
        let mut counts = Counts {
            syncs: 0.0,
            writes: 0.0,
        };
        // CSV lines: count,unit,event,...
        for line in text.lines().filter(|line| !line.starts_with('#')) {
            let mut fields = line.split(',');
            let (Some(count), Some(event)) = (fields.next(), fields.nth(1)) else {
                continue;
            };
            let Ok(count) = count.parse::<f64>() else {
                continue;
            };
            if SYNCS.contains(&event) {
                counts.syncs += count;
            } else if WRITES.contains(&event) {
                counts.writes += count;
            }
        }
        Some(counts)
    }
}

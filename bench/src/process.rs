//! What a server process has used, read from /proc (Linux).

use serde::Serialize;

/// Clock ticks per second for /proc/PID/stat times; 100 on every Linux we target.
const TICKS_PER_SECOND: f64 = 100.0;

/// A reading of one process's memory and CPU time.
#[derive(Debug, Clone, Copy, Default, Serialize)]
pub struct ProcessStats {
    /// Resident memory now, in KiB (`VmRSS`).
    pub rss_kib: u64,
    /// The most resident memory so far, in KiB (`VmHWM`).
    pub peak_rss_kib: u64,
    /// CPU time used so far, user plus system, in seconds.
    pub cpu_seconds: f64,
}

impl ProcessStats {
    /// Reads process `pid`; `None` when it is gone or /proc is missing.
    pub fn read(pid: u32) -> Option<Self> {
        let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
        let field = |name: &str| {
            status
                .lines()
                .find_map(|line| line.strip_prefix(name))
                .and_then(|rest| rest.split_whitespace().next())
                .and_then(|kib| kib.parse().ok())
                .unwrap_or(0)
        };
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
        // Fields after the command name, which is in parentheses and may hold spaces.
        let after_name = &stat[stat.rfind(')')? + 2..];
        let fields: Vec<&str> = after_name.split_whitespace().collect();
        // utime and stime are fields 14 and 15 of the whole line: 11 and 12 here.
        let ticks: u64 =
            fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?;
        Some(Self {
            rss_kib: field("VmRSS:"),
            peak_rss_kib: field("VmHWM:"),
            cpu_seconds: ticks as f64 / TICKS_PER_SECOND,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_this_process() {
        let stats = ProcessStats::read(std::process::id()).expect("/proc is there on Linux");
        assert!(stats.rss_kib > 0);
        assert!(stats.peak_rss_kib >= stats.rss_kib);
    }

    #[test]
    fn a_missing_process_reads_as_none() {
        assert!(ProcessStats::read(u32::MAX).is_none());
    }
}

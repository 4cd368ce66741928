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
    /// Reads every process of `pids` and adds them up; `None` when any is
    /// gone (or there are none).
    pub fn read_all(pids: &[u32]) -> Option<Self> {
        if pids.is_empty() {
            return None;
        }
        pids.iter().try_fold(Self::default(), |sum, &pid| {
            let one = Self::read(pid)?;
            Some(Self {
                rss_kib: sum.rss_kib + one.rss_kib,
                peak_rss_kib: sum.peak_rss_kib + one.peak_rss_kib,
                cpu_seconds: sum.cpu_seconds + one.cpu_seconds,
            })
        })
    }

    /// CPU seconds used by `pid` and every process below it, those that
    /// have ended included (as far as `pid` waited for them): a database
    /// server that runs a process per connection, like PostgreSQL.
    pub fn tree_cpu_seconds(pid: u32) -> Option<f64> {
        let (_, own, ended) = stat(pid)?;
        let mut total = own + ended;
        let mut parents = vec![pid];
        let all: Vec<(u32, u32, u64)> = std::fs::read_dir("/proc")
            .ok()?
            .filter_map(|entry| entry.ok()?.file_name().to_str()?.parse::<u32>().ok())
            .filter_map(|child| {
                let (parent, ticks, _) = stat(child)?;
                Some((child, parent, ticks))
            })
            .collect();
        while let Some(parent) = parents.pop() {
            for &(child, _, ticks) in all.iter().filter(|(_, p, _)| *p == parent) {
                total += ticks;
                parents.push(child);
            }
        }
        Some(total as f64 / TICKS_PER_SECOND)
    }

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
        let (_, ticks, _) = stat(pid)?;
        Some(Self {
            rss_kib: field("VmRSS:"),
            peak_rss_kib: field("VmHWM:"),
            cpu_seconds: ticks as f64 / TICKS_PER_SECOND,
        })
    }
}

/// From `/proc/PID/stat`: the parent's pid, the CPU ticks the process
/// used (user and system), and those of its ended children it waited for.
fn stat(pid: u32) -> Option<(u32, u64, u64)> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the command name, which is in parentheses and may hold spaces.
    let after_name = &stat[stat.rfind(')')? + 2..];
    let fields: Vec<&str> = after_name.split_whitespace().collect();
    let number = |n: usize| fields.get(n)?.parse::<u64>().ok();
    // Of the whole line: ppid is field 4, utime..cstime are fields 14 to 17.
    let parent = u32::try_from(number(1)?).ok()?;
    Some((parent, number(11)? + number(12)?, number(13)? + number(14)?))
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
        assert!(ProcessStats::read_all(&[std::process::id(), u32::MAX]).is_none());
        assert!(ProcessStats::tree_cpu_seconds(u32::MAX).is_none());
    }

    #[test]
    fn a_tree_counts_its_children() {
        let me = std::process::id();
        // A child that spins for a while, then is waited for.
        let mut child = std::process::Command::new("sh")
            .args(["-c", "i=0; while [ $i -lt 200000 ]; do i=$((i+1)); done"])
            .spawn()
            .unwrap();
        child.wait().unwrap();
        let own = ProcessStats::read(me).unwrap().cpu_seconds;
        let tree = ProcessStats::tree_cpu_seconds(me).unwrap();
        assert!(tree > own, "tree {tree} s, own {own} s");
        let both = ProcessStats::read_all(&[me, me]).unwrap();
        assert!(
            both.cpu_seconds >= 2.0 * own,
            "{} s for twice {own} s",
            both.cpu_seconds
        );
    }
}

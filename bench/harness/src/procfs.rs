//! A process's CPU time, memory and CPU wait, read from Linux's `/proc`, so that the harness
//! can charge a server (or itself) for a measurement window only: [`ProcessSample::read`] at
//! the window's start and end, then [`ProcessSample::since`].

use std::path::PathBuf;
use thiserror::Error;

/// Clock ticks per second of `utime`/`stime` in `/proc/PID/stat`: Linux's `USER_HZ`, fixed
/// at 100 in its user-space ABI on every architecture.
const USER_HZ: f64 = 100.0;

/// A `/proc` file that could not be read or parsed (the process is gone, or not Linux).
#[derive(Debug, Error)]
#[error("cannot read {path}: {what}")]
pub struct ProcError {
    /// The file.
    pub path: PathBuf,
    /// What went wrong.
    pub what: String,
}

/// One reading of a process.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ProcessSample {
    /// User plus system CPU time since the process started, seconds (threads that exited
    /// included).
    pub cpu_seconds: f64,
    /// Resident memory (`VmRSS`), KiB.
    pub rss_kib: u64,
    /// Time the process's live threads were runnable but waited for a CPU, seconds: on a
    /// shared machine, how much other work held it back; in a process with more busy threads
    /// than CPUs, also its own threads taking turns (a `tickwire-server`'s network threads wait
    /// for its room threads by design).
    pub wait_seconds: f64,
}

/// What a process used between two samples.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ProcessUsage {
    /// CPU seconds used.
    pub cpu_seconds: f64,
    /// Seconds spent waiting for a CPU.
    pub wait_seconds: f64,
    /// Resident memory at the end, KiB.
    pub rss_kib: u64,
}

impl ProcessSample {
    /// Reads process `pid` (`None`: this process).
    pub fn read(pid: Option<u32>) -> Result<ProcessSample, ProcError> {
        let dir = match pid {
            Some(pid) => PathBuf::from(format!("/proc/{pid}")),
            None => PathBuf::from("/proc/self"),
        };
        let read = |name: &str| {
            let path = dir.join(name);
            std::fs::read_to_string(&path).map_err(|e| ProcError { path, what: e.to_string() })
        };
        let unparsable =
            |name: &str| ProcError { path: dir.join(name), what: "unexpected format".into() };
        let cpu_seconds = parse_cpu_seconds(&read("stat")?).ok_or_else(|| unparsable("stat"))?;
        let rss_kib = parse_rss_kib(&read("status")?).ok_or_else(|| unparsable("status"))?;
        let mut wait_ns = 0;
        let tasks = dir.join("task");
        let entries = std::fs::read_dir(&tasks)
            .map_err(|e| ProcError { path: tasks.clone(), what: e.to_string() })?;
        for task in entries.flatten() {
            // A thread may exit between the listing and the read; it no longer waits.
            if let Ok(text) = std::fs::read_to_string(task.path().join("schedstat")) {
                wait_ns += parse_schedstat_wait_ns(&text).unwrap_or(0);
            }
        }
        Ok(ProcessSample { cpu_seconds, rss_kib, wait_seconds: wait_ns as f64 / 1e9 })
    }

    /// Usage from `earlier` to this sample.
    pub fn since(&self, earlier: &ProcessSample) -> ProcessUsage {
        ProcessUsage {
            cpu_seconds: (self.cpu_seconds - earlier.cpu_seconds).max(0.0),
            wait_seconds: (self.wait_seconds - earlier.wait_seconds).max(0.0),
            rss_kib: self.rss_kib,
        }
    }
}

/// `utime + stime` (fields 14 and 15) of a `/proc/PID/stat` line, in seconds. The command
/// name (field 2) may hold spaces and parentheses, so fields are counted after its last `)`.
pub fn parse_cpu_seconds(stat: &str) -> Option<f64> {
    let after_name = &stat[stat.rfind(')')? + 1..];
    // After the name: state is field 3, so utime (14) is the 12th.
    let mut fields = after_name.split_whitespace().skip(11);
    let utime: u64 = fields.next()?.parse().ok()?;
    let stime: u64 = fields.next()?.parse().ok()?;
    Some((utime + stime) as f64 / USER_HZ)
}

/// `VmRSS` of `/proc/PID/status`, in KiB.
pub fn parse_rss_kib(status: &str) -> Option<u64> {
    let line = status.lines().find(|line| line.starts_with("VmRSS:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// Run-queue wait (the second field) of a `/proc/PID/task/TID/schedstat` line, nanoseconds.
pub fn parse_schedstat_wait_ns(schedstat: &str) -> Option<u64> {
    schedstat.split_whitespace().nth(1)?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpu_of_a_stat_line_whose_name_has_spaces_and_parentheses() {
        let line = "4242 (bench (swarm) x) S 1 4242 4242 0 -1 4194560 1200 0 0 0 \
                    250 75 0 0 20 0 1 0 123456 10485760 2560 18446744073709551615";
        assert_eq!(parse_cpu_seconds(line), Some(3.25));
        assert_eq!(parse_cpu_seconds("4242 (truncated) S 1 2"), None);
        assert_eq!(parse_cpu_seconds("no name at all"), None);
    }

    #[test]
    fn rss_and_schedstat() {
        let status =
            "Name:\tnode\nVmPeak:\t  900000 kB\nVmRSS:\t   63488 kB\nRssAnon:\t 40000 kB\n";
        assert_eq!(parse_rss_kib(status), Some(63_488));
        assert_eq!(parse_rss_kib("Name:\tkthreadd\n"), None);
        assert_eq!(parse_schedstat_wait_ns("1234567 89000 42\n"), Some(89_000));
        assert_eq!(parse_schedstat_wait_ns("1234567\n"), None);
    }

    #[test]
    fn usage_between_samples() {
        let start = ProcessSample { cpu_seconds: 1.5, rss_kib: 1000, wait_seconds: 0.25 };
        let end = ProcessSample { cpu_seconds: 4.0, rss_kib: 3000, wait_seconds: 1.0 };
        let usage = end.since(&start);
        assert_eq!(usage, ProcessUsage { cpu_seconds: 2.5, wait_seconds: 0.75, rss_kib: 3000 });
        let this = ProcessSample::read(None).expect("this process's /proc entry");
        assert!(this.rss_kib > 0);
    }
}

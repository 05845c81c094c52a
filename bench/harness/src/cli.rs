//! Value parsers shared by the harness binaries' command lines. Each returns a message that
//! clap prints after the flag's name (`error: invalid value 'x' for '--clients <N>': ...`),
//! with exit code 2.

use std::net::Ipv4Addr;
use std::time::Duration;

/// A positive duration such as `10s`, `500ms` or `2m`.
pub fn duration(text: &str) -> Result<Duration, String> {
    let d = humantime::parse_duration(text.trim())
        .map_err(|e| format!("`{text}` is not a duration (examples: 10s, 500ms, 2m): {e}"))?;
    if d.is_zero() {
        return Err("must be longer than zero".into());
    }
    Ok(d)
}

/// Most source addresses accepted; loopback has 2^24, a typo would ask for them all.
const MAX_SOURCE_IPS: u32 = 65_536;

/// Local IPv4 addresses connections are opened from (never empty).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceIps(pub Vec<Ipv4Addr>);

impl SourceIps {
    /// The address of connection `index`: they take turns.
    pub fn for_index(&self, index: u32) -> Ipv4Addr {
        self.0[index as usize % self.0.len()]
    }
}

/// `127.0.0.2-127.0.0.254` (inclusive) or `127.0.0.2,127.0.0.3`.
pub fn source_ips(text: &str) -> Result<SourceIps, String> {
    let text = text.trim();
    let parse = |s: &str| {
        s.trim().parse::<Ipv4Addr>().map_err(|_| format!("`{}` is not an IPv4 address", s.trim()))
    };
    if let Some((start, end)) = text.split_once('-') {
        let (start, end) = (u32::from(parse(start)?), u32::from(parse(end)?));
        if start > end {
            return Err(format!("`{text}`: the range ends before it starts"));
        }
        if end - start >= MAX_SOURCE_IPS {
            return Err(format!("`{text}`: more than {MAX_SOURCE_IPS} addresses"));
        }
        return Ok(SourceIps((start..=end).map(Ipv4Addr::from).collect()));
    }
    text.split(',').map(parse).collect::<Result<_, _>>().map(SourceIps)
}

/// Raises this process's soft limit on open files to its hard limit (capped by the kernel's
/// `fs.nr_open`, the most a process may hold). A shell's soft limit is commonly 1,024 under a
/// hard one of 524,288, and every connection holds a descriptor: without this a swarm of a
/// thousand clients was refused although the process could have raised its own limit, as
/// `tickwire-bots` and `tickwire-server` do. Quietly does nothing where it cannot: the caller
/// checks the limit it then has ([`check_sockets_fit`]).
#[allow(unsafe_code)]
pub fn raise_open_files_limit() {
    #[cfg(target_os = "linux")]
    {
        let mut limit = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
        // SAFETY: getrlimit writes one `rlimit` through the pointer, a live, aligned local.
        if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) } != 0 {
            return;
        }
        // An unlimited hard limit cannot be the soft one for open files (setrlimit refuses
        // more than fs.nr_open).
        let nr_open = std::fs::read_to_string("/proc/sys/fs/nr_open")
            .ok()
            .and_then(|text| text.trim().parse::<libc::rlim_t>().ok());
        let target = nr_open.map_or(limit.rlim_max, |n| limit.rlim_max.min(n));
        if limit.rlim_cur < target {
            let raised = libc::rlimit { rlim_cur: target, rlim_max: limit.rlim_max };
            // SAFETY: setrlimit only reads one `rlimit` through the pointer, a live local. On
            // failure the limit stays as it was, and `check_sockets_fit` names it.
            let _ = unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &raised) };
        }
    }
}

/// The soft and hard limits on open files (`ulimit -Sn`, `ulimit -Hn`), from
/// `/proc/self/limits` (Linux); `unlimited` reads as `u64::MAX`.
pub fn open_files_limits() -> Option<(u64, u64)> {
    let limits = std::fs::read_to_string("/proc/self/limits").ok()?;
    let line = limits.lines().find(|l| l.starts_with("Max open files"))?;
    let mut fields = line.split_whitespace().skip(3);
    let mut next = || match fields.next()? {
        "unlimited" => Some(u64::MAX),
        number => number.parse().ok(),
    };
    Some((next()?, next()?))
}

/// The soft limit on open files (`ulimit -n`).
pub fn open_files_limit() -> Option<u64> {
    open_files_limits().map(|(soft, _)| soft)
}

/// File descriptors kept free for the runtime, `/proc` reads and stdio.
pub const FD_HEADROOM: u64 = 64;

/// Raises the soft open-files limit to the hard one ([`raise_open_files_limit`]), then `Err`
/// naming `flag` when `sockets` sockets would still not fit: only a hard limit too small
/// refuses them, and the message says which limit to raise.
pub fn check_sockets_fit(flag: &str, sockets: u64) -> Result<(), String> {
    raise_open_files_limit();
    match open_files_limits() {
        Some((soft, hard)) if sockets.saturating_add(FD_HEADROOM) > soft => Err(format!(
            "{flag} {sockets}: each connection holds a socket, and this process may open \
             {soft} files (its soft limit, ulimit -n, raised as far as the hard limit, \
             ulimit -Hn, {}, allows); at most {} fit: lower {flag}, or raise the hard limit \
             (as root: ulimit -Hn, LimitNOFILE=, docker --ulimit nofile=)",
            if hard == u64::MAX { "unlimited".to_string() } else { hard.to_string() },
            soft.saturating_sub(FD_HEADROOM)
        )),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(duration("10s"), Ok(Duration::from_secs(10)));
        assert_eq!(duration(" 250ms "), Ok(Duration::from_millis(250)));
        assert!(duration("0s").unwrap_err().contains("longer than zero"));
        assert!(duration("soon").unwrap_err().contains("not a duration"));
    }

    #[test]
    fn source_ip_ranges_and_lists() {
        let all = source_ips("127.0.0.2-127.0.0.254").unwrap();
        assert_eq!(all.0.len(), 253);
        assert_eq!(all.for_index(0), Ipv4Addr::new(127, 0, 0, 2));
        assert_eq!(all.for_index(253), Ipv4Addr::new(127, 0, 0, 2), "wraps around");
        assert_eq!(source_ips("127.0.0.5, 127.0.0.9").unwrap().0.len(), 2);
        assert!(source_ips("127.0.0.9-127.0.0.2").unwrap_err().contains("ends before"));
        assert!(source_ips("10.0.0.0-10.2.0.0").unwrap_err().contains("more than"));
        assert!(source_ips("127.0.0.x").unwrap_err().contains("`127.0.0.x`"));
        assert!(source_ips("::1").is_err(), "IPv4 only: the servers listen on 127.0.0.1");
    }

    /// Runs test `name` of this file again in a process of its own with `CHILD` set, and
    /// checks that it passed there and printed `done`: open-file limits are the process's, and
    /// lowered here they would fail the sockets of tests running beside this one.
    #[cfg(target_os = "linux")]
    fn in_own_process(name: &str, done: &str) -> bool {
        if std::env::var_os(CHILD).is_some() {
            return false;
        }
        let out = std::process::Command::new(std::env::current_exe().unwrap())
            .args(["--exact", name, "--nocapture", "--test-threads", "1"])
            .env(CHILD, "1")
            .output()
            .unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(out.status.success(), "{stdout}{}", String::from_utf8_lossy(&out.stderr));
        assert!(stdout.contains(done), "the child ran no test: {stdout}");
        true
    }

    #[cfg(target_os = "linux")]
    const CHILD: &str = "TICKWIRE_BENCH_TEST_OPEN_FILES_CHILD";

    #[cfg(target_os = "linux")]
    #[allow(unsafe_code)]
    #[test]
    fn a_low_soft_open_files_limit_is_raised_before_the_sockets_are_judged() {
        const NAME: &str =
            "cli::tests::a_low_soft_open_files_limit_is_raised_before_the_sockets_are_judged";
        if in_own_process(NAME, "soft limit raised") {
            return;
        }
        let (_, hard) = open_files_limits().unwrap();
        let nr_open: u64 = std::fs::read_to_string("/proc/sys/fs/nr_open")
            .map_or(u64::MAX, |t| t.trim().parse().unwrap());
        let reachable = hard.min(nr_open);
        assert!(reachable > 2 * FD_HEADROOM + 2, "a hard limit of {hard} leaves nothing to test");
        // A shell's 1,024 under a larger hard limit, scaled to whatever this machine's is.
        let lowered = (reachable / 2).min(1024);
        let limit = libc::rlimit { rlim_cur: lowered as libc::rlim_t, rlim_max: hard as _ };
        // SAFETY: setrlimit only reads one `rlimit` through the pointer, a live local;
        // lowering the soft limit is always allowed.
        assert_eq!(unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &limit) }, 0);
        assert_eq!(open_files_limit(), Some(lowered));
        // More than the lowered limit holds, as much as the hard one does.
        let sockets = reachable - FD_HEADROOM;
        assert_eq!(check_sockets_fit("--clients", sockets), Ok(()));
        assert_eq!(open_files_limit(), Some(reachable), "the soft limit reaches the hard one");
        println!("soft limit raised from {lowered} to {reachable}");
    }

    #[test]
    fn sockets_beyond_the_open_file_limit_are_refused_naming_the_flag() {
        assert_eq!(check_sockets_fit("--clients", 10), Ok(()));
        if open_files_limits().is_some() {
            // More than any hard limit: raising the soft one cannot make them fit.
            let err = check_sockets_fit("--clients", u64::MAX / 2).unwrap_err();
            assert!(err.starts_with("--clients ") && err.contains("ulimit -Hn"), "{err}");
            assert!(!err.contains('\n'), "{err}");
        }
    }
}

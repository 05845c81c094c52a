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

/// The soft limit on open files (`ulimit -n`), from `/proc/self/limits` (Linux).
pub fn open_files_limit() -> Option<u64> {
    let limits = std::fs::read_to_string("/proc/self/limits").ok()?;
    let line = limits.lines().find(|l| l.starts_with("Max open files"))?;
    line.split_whitespace().nth(3)?.parse().ok()
}

/// File descriptors kept free for the runtime, `/proc` reads and stdio.
pub const FD_HEADROOM: u64 = 64;

/// `Err` naming `flag` when `sockets` sockets would not fit this process's open-file limit.
pub fn check_sockets_fit(flag: &str, sockets: u64) -> Result<(), String> {
    match open_files_limit() {
        Some(limit) if sockets + FD_HEADROOM > limit => Err(format!(
            "{flag} {sockets}: each connection holds a socket, and this process may open \
             {limit} files (ulimit -n); at most {} fit",
            limit.saturating_sub(FD_HEADROOM)
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

    #[test]
    fn sockets_beyond_the_open_file_limit_are_refused_naming_the_flag() {
        assert_eq!(check_sockets_fit("--clients", 10), Ok(()));
        if let Some(limit) = open_files_limit().filter(|l| *l < 1_000_000) {
            let err = check_sockets_fit("--clients", limit).unwrap_err();
            assert!(err.starts_with("--clients ") && err.contains("ulimit -n"), "{err}");
        }
    }
}

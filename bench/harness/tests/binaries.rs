//! The harness binaries as the bench scripts run them: their open-file limits and their
//! errors, which only show in a process of their own.

use std::process::Command;

/// The soft and hard open-file limits of process `pid` (`unlimited` as `u64::MAX`).
#[cfg(target_os = "linux")]
fn open_files(pid: &str) -> (u64, u64) {
    let limits = std::fs::read_to_string(format!("/proc/{pid}/limits")).unwrap();
    let line = limits.lines().find(|l| l.starts_with("Max open files")).unwrap();
    let field = |n: usize| match line.split_whitespace().nth(n).unwrap() {
        "unlimited" => u64::MAX,
        number => number.parse().unwrap(),
    };
    (field(3), field(4))
}

/// The most a process may raise its soft open-file limit to: its hard limit, within
/// `fs.nr_open`.
#[cfg(target_os = "linux")]
fn reachable_limit() -> u64 {
    let nr_open: u64 = std::fs::read_to_string("/proc/sys/fs/nr_open")
        .map_or(u64::MAX, |t| t.trim().parse().unwrap());
    open_files("self").1.min(nr_open)
}

/// `bin` with `args`, started by a shell that first sets the open-file limit with `ulimit`
/// flags `limit` (e.g. `-Sn 256`), as a login shell's 1,024 would be.
#[cfg(target_os = "linux")]
fn under_limit(limit: &str, bin: &str, args: &[&str]) -> Command {
    let mut command = Command::new("sh");
    command.args(["-c", &format!("ulimit {limit} && exec \"$0\" \"$@\""), bin]).args(args);
    command
}

#[cfg(target_os = "linux")]
#[test]
fn the_reference_servers_raise_their_soft_open_files_limit_to_the_hard_one() {
    use std::io::{BufRead, BufReader};
    use std::process::Stdio;
    let reachable = reachable_limit();
    assert!(reachable > 256, "a hard limit of {reachable} leaves nothing to test");
    for bin in [env!("CARGO_BIN_EXE_bench-floor"), env!("CARGO_BIN_EXE_bench-tungstenite")] {
        let mut child = under_limit("-Sn 256", bin, &["--bind", "127.0.0.1:0"])
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        // The banner comes once it listens: the limit was set before that.
        let mut banner = String::new();
        BufReader::new(child.stderr.take().unwrap()).read_line(&mut banner).unwrap();
        let (soft, _) = open_files(&child.id().to_string());
        child.kill().unwrap();
        child.wait().unwrap();
        assert!(banner.contains("ws://127.0.0.1:"), "{bin}: {banner}");
        assert_eq!(soft, reachable, "{bin}: its soft limit is raised from 256 to the hard one");
    }
}

#[cfg(target_os = "linux")]
#[test]
fn the_swarm_raises_its_soft_limit_and_refuses_only_beyond_the_hard_one() {
    let swarm = env!("CARGO_BIN_EXE_bench-swarm");
    // Nothing listens on port 1: every client fails at once and the run is short.
    let args = [
        "--url",
        "ws://127.0.0.1:1/ws",
        "--server",
        "raw",
        "--clients",
        "500",
        "--connect-over",
        "100ms",
        "--connect-timeout",
        "1s",
        "--warmup",
        "100ms",
        "--duration",
        "100ms",
        "--close-wait",
        "100ms",
        "--quiet",
    ];
    assert!(reachable_limit() > 564 + 256, "the hard limit leaves nothing to test");
    let out = under_limit("-Sn 256", swarm, &args).output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!stderr.contains("ulimit"), "500 clients under a soft limit of 256: {stderr}");

    // A hard limit too small: refused at once, by name, in one line.
    let out = under_limit("-n 256", swarm, &args).output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("--clients 500") && stderr.contains("ulimit -Hn"), "{stderr}");
}

#[test]
fn bench_table_names_a_missing_rows_file_in_one_line() {
    let missing = std::env::temp_dir().join(format!("bench-table-missing-{}", std::process::id()));
    for command in ["fanout", "game"] {
        let out = Command::new(env!("CARGO_BIN_EXE_bench-table"))
            .arg(command)
            .arg(&missing)
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{stderr}");
        assert_eq!(stderr, format!("bench-table: {}: no such file\n", missing.display()));
    }
}

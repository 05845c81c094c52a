//! The binary refuses flags that cannot work together before it listens: a failed exit and a
//! message naming them.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Runs the binary with `flags`; its exit status and stderr, or a failure if it is still
/// running after 10 s (it accepted the flags and listens).
fn refused(flags: &[&str]) -> (std::process::ExitStatus, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_tickwire-server"))
        .args(["--bind", "127.0.0.1:0"])
        .args(flags)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the server binary starts");
    let started = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().expect("waits") {
            break status;
        }
        if started.elapsed() > Duration::from_secs(10) {
            let _ = child.kill();
            panic!("the server took {flags:?} and is still running");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let output = child.wait_with_output().expect("its stderr");
    (status, String::from_utf8_lossy(&output.stderr).into_owned())
}

#[test]
fn a_heartbeat_no_shorter_than_the_idle_timeout_is_refused_naming_both_flags() {
    let (status, stderr) = refused(&["--heartbeat-interval", "15s", "--idle-timeout", "15s"]);
    assert!(!status.success());
    assert!(
        stderr.contains("--heartbeat-interval (15s) must be shorter than --idle-timeout (15s)"),
        "{stderr}"
    );
}

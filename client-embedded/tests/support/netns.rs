//! A private network namespace for the root-only tests (`tap`, `qemu`): the addresses and
//! ports they use inside it exist nowhere else, so they collide with nothing on the machine.

use std::process::Command;

/// Moves this process into a network namespace of its own, with its loopback up. Call it
/// before any thread that uses the network exists: every thread and child process created
/// afterwards shares the namespace. Fails the test when not root.
pub fn enter() {
    // SAFETY: plain syscalls with no pointers; called before this process has other threads
    // that use the network.
    let euid = unsafe { libc::geteuid() };
    if euid != 0 {
        fail(&format!(
            "must run as root (euid is {euid}): it needs CAP_SYS_ADMIN for \
             unshare(CLONE_NEWNET) and CAP_NET_ADMIN for its network devices"
        ));
    }
    // SAFETY: as above.
    if unsafe { libc::unshare(libc::CLONE_NEWNET) } != 0 {
        fail(&format!(
            "unshare(CLONE_NEWNET) failed: {} (a private network namespace needs root)",
            std::io::Error::last_os_error()
        ));
    }
    ip(&["link", "set", "lo", "up"]);
}

/// Runs `ip ARGS` (iproute2), failing the test loudly if it is missing or fails.
pub fn ip(args: &[&str]) {
    let status = match Command::new("ip").args(args).status() {
        Ok(status) => status,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => fail(
            "the `ip` command is missing: install the Debian package `iproute2` \
             (apt-get install -y iproute2)",
        ),
        Err(e) => fail(&format!("cannot run `ip {}`: {e}", args.join(" "))),
    };
    if !status.success() {
        fail(&format!("`ip {}` failed: {status}", args.join(" ")));
    }
}

/// Ends a `harness = false` test as failed, saying why.
pub fn fail(why: &str) -> ! {
    eprintln!("FAILED: {why}");
    println!("0 passed, 1 failed");
    std::process::exit(1);
}

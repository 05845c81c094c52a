//! The binary refuses flags that cannot work together before it listens: a failed exit and a
//! message naming them.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Runs the binary with `flags`; its exit status and stderr, or a failure if it is still
/// running after 10 s (it accepted the flags and listens).
fn refused(flags: &[&str]) -> (std::process::ExitStatus, String) {
    refused_with(Command::new(env!("CARGO_BIN_EXE_tickwire-server")), flags)
}

/// [`refused`], for the binary as `command` runs it (its environment).
fn refused_with(mut command: Command, flags: &[&str]) -> (std::process::ExitStatus, String) {
    let mut child = command
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

/// A flag that would be ignored without another is a usage error naming both.
#[test]
fn a_join_audience_without_join_tokens_is_refused_naming_both_flags() {
    let (status, stderr) = refused(&["--join-audience", "tickwire"]);
    assert_eq!(status.code(), Some(2), "a usage error: {stderr}");
    assert!(stderr.contains("--join-audience"), "{stderr}");
    assert!(stderr.contains("--join-secret") && stderr.contains("--join-public-key"), "{stderr}");
}

/// `TICKWIRE_ECHO=1`, as service managers and compose files write a boolean, turns the echo on;
/// a value that is no boolean is refused naming the variable.
#[test]
fn a_boolean_flag_s_variable_takes_1_and_a_refusal_names_the_variable() {
    let mut child = Command::new(env!("CARGO_BIN_EXE_tickwire-server"))
        .args(["--bind", "127.0.0.1:0"])
        .env("TICKWIRE_ECHO", "1")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("the server binary starts");
    let mut stdout = std::io::BufReader::new(child.stdout.take().expect("stdout"));
    let mut line = String::new();
    std::io::BufRead::read_line(&mut stdout, &mut line).expect("the listening line");
    let addr = line.trim().rsplit(' ').next().unwrap_or("").to_string();
    // Off, `/echo` is 404; on, a GET that is no upgrade gets 426.
    let status = {
        use std::io::{Read, Write};
        let mut stream = std::net::TcpStream::connect(&addr).expect("it listens");
        stream.write_all(b"GET /echo HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n").unwrap();
        let mut response = String::new();
        let _ = stream.read_to_string(&mut response);
        response.get(9..12).unwrap_or("").to_string()
    };
    let _ = child.kill();
    let _ = child.wait();
    assert_eq!(status, "426", "the echo is on");

    let mut refusal = Command::new(env!("CARGO_BIN_EXE_tickwire-server"));
    refusal.env("TICKWIRE_ECHO", "maybe");
    let (status, stderr) = refused_with(refusal, &[]);
    assert_eq!(status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("'maybe'") && stderr.contains("TICKWIRE_ECHO"), "{stderr}");
}

/// `mint-token --help` says how long past `--ttl` a server still takes the token.
#[test]
fn mint_token_help_states_the_servers_leeway() {
    let out = Command::new(env!("CARGO_BIN_EXE_tickwire-server"))
        .args(["mint-token", "--help"])
        .output()
        .expect("the binary runs");
    let help = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{help}");
    let leeway = format!("{} s more", tickwire_server::auth::LEEWAY_SECS);
    assert!(help.contains(&leeway), "{help}");
}

/// `--help` is read in a terminal: the flags' docs, which rustdoc renders too, show no
/// rustdoc link markup there. The usage line names the binary as it was run.
#[test]
fn help_shows_no_rustdoc_link_markup() {
    let out = Command::new(env!("CARGO_BIN_EXE_tickwire-server"))
        .arg("--help")
        .output()
        .expect("the binary runs");
    let help = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{help}");
    assert!(help.contains("Usage: tickwire-server [OPTIONS]"), "{help}");
    let marked: Vec<&str> = help.lines().filter(|l| l.contains("[`")).collect();
    assert!(marked.is_empty(), "{marked:#?}");
}

/// A game's binary (`command::main`), as one run under another name: usage, `--version` and
/// the banner name it, and say which server it is.
#[cfg(unix)]
#[test]
fn a_binary_run_under_another_name_is_named_so() {
    let dir = std::env::temp_dir().join(format!("tickwire-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let game = dir.join("mygame");
    let _ = std::fs::remove_file(&game);
    std::os::unix::fs::symlink(env!("CARGO_BIN_EXE_tickwire-server"), &game).unwrap();
    let version = Command::new(&game).arg("--version").output().expect("it runs");
    let version = String::from_utf8_lossy(&version.stdout).into_owned();
    let expected = format!(
        "mygame (tickwire-server {}, protocol {})",
        env!("CARGO_PKG_VERSION"),
        tickwire_server::shared::PROTOCOL_VERSION
    );
    assert_eq!(version.trim(), expected);
    let (status, stderr) = refused_with(Command::new(&game), &["--no-such-flag"]);
    assert_eq!(status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("Usage: mygame "), "{stderr}");
    std::fs::remove_dir_all(&dir).unwrap();
}

/// `mint-token` in a node's container, where `TICKWIRE_JOIN_SECRET` is the node's key: alone
/// it signs with that secret; `--private-key` or `--secret-file` given, the variable is not
/// read (it used to count as `--secret` and clash with them); with no key at all it says which
/// to give.
#[test]
fn mint_token_takes_the_nodes_secret_variable_unless_a_key_flag_is_given() {
    let dir = std::env::temp_dir().join(format!("tickwire-cli-mint-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let node_secret = "the-nodes-secret-of-thirty-two-bytes-or-more";
    let mint = |flags: &[&str], variable: Option<&str>| {
        let mut command = Command::new(env!("CARGO_BIN_EXE_tickwire-server"));
        command.args(["mint-token", "--name", "ada"]).args(flags);
        match variable {
            Some(secret) => command.env("TICKWIRE_JOIN_SECRET", secret),
            None => command.env_remove("TICKWIRE_JOIN_SECRET"),
        };
        let out = command.output().expect("the binary runs");
        let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
        (out.status, String::from_utf8(out.stdout).unwrap(), stderr)
    };
    let verify = |verifier: &tickwire_server::auth::JoinVerifier, token: &str| {
        verifier.verify(token.trim()).map(|grant| grant.name.as_str().to_owned())
    };

    let (status, token, stderr) = mint(&[], Some(node_secret));
    assert!(status.success(), "{stderr}");
    let node = tickwire_server::auth::JoinVerifier::from_secret(node_secret).unwrap();
    assert_eq!(verify(&node, &token).unwrap(), "ada");

    let pair = rcgen::KeyPair::generate_for(&rcgen::PKCS_ED25519).unwrap();
    let (private, public) = (dir.join("join.pem"), dir.join("join.pub.pem"));
    std::fs::write(&private, pair.serialize_pem()).unwrap();
    std::fs::write(&public, pair.public_key_pem()).unwrap();
    let (status, token, stderr) =
        mint(&["--private-key", private.to_str().unwrap()], Some(node_secret));
    assert!(status.success(), "the variable does not clash with --private-key: {stderr}");
    let by_key = tickwire_server::auth::JoinVerifier::from_public_key_file(&public).unwrap();
    assert_eq!(verify(&by_key, &token).unwrap(), "ada");
    assert!(verify(&node, &token).is_err(), "signed with the private key, not the variable");

    let file = dir.join("other.secret");
    std::fs::write(&file, "another-secret-of-thirty-two-bytes-or-more\n").unwrap();
    let (status, token, stderr) =
        mint(&["--secret-file", file.to_str().unwrap()], Some(node_secret));
    assert!(status.success(), "{stderr}");
    let other = tickwire_server::auth::JoinVerifier::from_secret_file(&file).unwrap();
    assert_eq!(verify(&other, &token).unwrap(), "ada");

    for variable in [None, Some("  ")] {
        let (status, _, stderr) = mint(&[], variable);
        assert!(!status.success());
        assert!(
            stderr.contains(
                "give --secret (or TICKWIRE_JOIN_SECRET), --secret-file or --private-key"
            ),
            "{stderr}"
        );
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

/// A join key file that cannot be used stops the binary before it listens, naming the file;
/// `mint-token --secret-file` signs with the secret in such a file, trimmed as the server
/// trims it, so the token it prints is one a server with `--join-secret-file` takes.
#[test]
fn join_secret_files_are_checked_at_start_and_mint_token_reads_them_alike() {
    let dir = std::env::temp_dir().join(format!("tickwire-cli-secret-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("join.secret");
    std::fs::write(&file, "\n").unwrap();
    let (status, stderr) = refused(&["--join-secret-file", file.to_str().unwrap()]);
    assert!(!status.success());
    assert!(stderr.contains("join.secret") && stderr.contains("is empty"), "{stderr}");
    let missing = dir.join("nope");
    let (status, stderr) = refused(&["--join-secret-file", missing.to_str().unwrap()]);
    assert!(!status.success());
    assert!(stderr.contains("cannot read") && stderr.contains("nope"), "{stderr}");

    std::fs::write(&file, "a-secret-of-thirty-two-bytes-or-more\n").unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_tickwire-server"))
        .args(["mint-token", "--name", "ada", "--secret-file", file.to_str().unwrap()])
        .output()
        .expect("the binary runs");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let token = String::from_utf8(out.stdout).unwrap();
    let verifier = tickwire_server::auth::JoinVerifier::from_secret_file(&file).unwrap();
    let grant = verifier.verify(token.trim()).expect("the server's check takes it");
    assert_eq!(grant.name.as_str(), "ada");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_misspelt_variable_is_warned_about_naming_the_one_meant() {
    // A misspelt join secret's variable would start a server that checks no token. An empty
    // secret file then stops the start, after the warning.
    let dir = std::env::temp_dir().join(format!("tickwire-cli-misspelt-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let empty = dir.join("empty.secret");
    std::fs::write(&empty, "").unwrap();
    let mut command = Command::new(env!("CARGO_BIN_EXE_tickwire-server"));
    command.env("TICKWIRE_JOIN_SECRET_FIEL", "/run/secrets/join");
    let (status, stderr) = refused_with(command, &["--join-secret-file", empty.to_str().unwrap()]);
    assert!(!status.success());
    assert!(stderr.contains("TICKWIRE_JOIN_SECRET_FIEL"), "{stderr}");
    assert!(stderr.contains("did you mean TICKWIRE_JOIN_SECRET_FILE?"), "{stderr}");
    std::fs::remove_dir_all(&dir).unwrap();
}

//! The binary's threads (Linux): rooms on threads of their own at the process's priority, the
//! network runtime's workers `--room-priority` nice levels below them.
#![cfg(target_os = "linux")]

mod common;

use common::{Server, http_get};

/// Every thread of `pid`: its id, name (as the kernel keeps it, 15 bytes at most) and nice.
fn threads(pid: u32) -> Vec<(u32, String, i32)> {
    let mut threads = Vec::new();
    for task in std::fs::read_dir(format!("/proc/{pid}/task")).expect("/proc/PID/task").flatten() {
        let Ok(stat) = std::fs::read_to_string(task.path().join("stat")) else { continue };
        // "tid (name) state ppid ...": the name may hold spaces, so split around its parens.
        let (head, rest) = stat.rsplit_once(')').expect("a stat line");
        let (tid, name) = head.split_once(" (").expect("tid and name");
        // After the name: state is field 3, nice field 19.
        let nice = rest.split_whitespace().nth(19 - 3).and_then(|n| n.parse().ok());
        threads.push((tid.parse().unwrap(), name.to_string(), nice.expect("nice")));
    }
    threads
}

/// The binary started with `flags` and serving, its threads, and its main thread's nice.
async fn serving(flags: &[&str]) -> (Server, Vec<(u32, String, i32)>, i32) {
    let server = Server::start(flags);
    assert_eq!(http_get(server.addr, "/healthz").await.trim(), "ok");
    let pid = server.child.id();
    let threads = threads(pid);
    let main = threads.iter().find(|t| t.0 == pid).expect("the main thread").2;
    (server, threads, main)
}

#[tokio::test]
async fn the_network_threads_step_down_below_the_room_threads_which_keep_the_main_threads() {
    let (_server, threads, main) = serving(&["--room-threads", "2", "--room-priority", "5"]).await;
    let rooms: Vec<i32> =
        threads.iter().filter(|t| t.1.starts_with("tickwire-rooms")).map(|t| t.2).collect();
    let network: Vec<i32> =
        threads.iter().filter(|t| t.1 == "tokio-rt-worker").map(|t| t.2).collect();
    assert_eq!(rooms, [main, main], "{threads:?}");
    assert!(!network.is_empty(), "{threads:?}");
    let stepped = (main + 5).min(19);
    assert!(network.iter().all(|&n| n == stepped), "network at {stepped}: {threads:?}");
}

#[tokio::test]
async fn with_no_room_threads_and_no_priority_every_thread_keeps_the_main_threads() {
    let (_server, threads, main) = serving(&["--room-threads", "0", "--room-priority", "0"]).await;
    assert!(!threads.iter().any(|t| t.1.starts_with("tickwire-rooms")), "{threads:?}");
    assert!(threads.iter().all(|t| t.2 == main), "{threads:?}");
}

//! Cluster mode end to end: a real `redis-server` (Debian's `redis-server` package) on a free
//! loopback port and three server nodes, each `tickwire_server::run` on its own runtime (so a
//! node can be killed outright: its runtime is dropped with every task and socket), sharing
//! the room directory. Short TTLs keep it quick.

#[path = "support/fallback_client.rs"]
mod fallback_client;
mod support;

use futures_util::SinkExt;
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
use support::*;
use tickwire_server::ServerConfig;
use tickwire_shared::{ClientMessage, EventKind, KickReason, Role, RoomName};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;

/// The node TTL of these tests: a dead node is forgotten within it.
const TTL: Duration = Duration::from_secs(2);

/// Finds `redis-server`, installing Debian's package when possible.
fn redis_server() -> PathBuf {
    debian_binary("redis-server", "redis-server", "the cluster tests")
}

/// A `redis-server` on loopback, without persistence (a restart starts empty, as a Redis that
/// lost its data does).
struct Redis {
    port: u16,
    child: Option<Child>,
}

/// Tries at a fresh port before [`Redis::start`] gives up.
const REDIS_ATTEMPTS: usize = 5;

impl Redis {
    /// Starts one on a free port. The port is found by binding port 0 and closing it, so
    /// another socket (another test's) may take it before redis binds it: redis then exits at
    /// once, and it is tried again on another port.
    fn start() -> Redis {
        let mut failures = Vec::new();
        for _ in 0..REDIS_ATTEMPTS {
            let probe = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            let port = probe.local_addr().unwrap().port();
            drop(probe);
            let mut redis = Redis { port, child: None };
            match redis.launch() {
                Ok(()) => return redis,
                Err(why) => failures.push(format!("on port {port}: {why}")),
            }
        }
        panic!("redis-server did not start in {REDIS_ATTEMPTS} attempts:\n{}", failures.join("\n"));
    }

    fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/", self.port)
    }

    /// Starts it again on its port (the nodes know it by that) and waits until it answers.
    fn restart(&mut self) {
        if let Err(why) = self.launch() {
            panic!("redis-server did not start again on port {}: {why}", self.port);
        }
    }

    /// Starts `redis-server` on `self.port` and waits until it answers as itself (its
    /// `process_id`, so not another test's redis that got the port). Fails, saying what redis
    /// printed and how it ended, when it exits first (a port taken meanwhile: "Address already
    /// in use") or does not answer within [`PATIENCE`] (it is killed then).
    fn launch(&mut self) -> Result<(), String> {
        let mut child = Command::new(redis_server())
            .args(["--port", &self.port.to_string(), "--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no", "--protected-mode", "no"])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("redis-server starts");
        // Read both pipes to their end, always: a full pipe would stall redis. (Redis logs to
        // stdout; its few lines are what a failure reports.)
        fn drain(
            pipe: Option<impl std::io::Read + Send + 'static>,
        ) -> std::thread::JoinHandle<String> {
            std::thread::spawn(move || {
                let mut text = Vec::new();
                if let Some(mut pipe) = pipe {
                    let _ = pipe.read_to_end(&mut text);
                }
                String::from_utf8_lossy(&text).trim().to_string()
            })
        }
        let stdout = drain(child.stdout.take());
        let stderr = drain(child.stderr.take());
        // Once redis has ended, all it printed.
        let printed = move || {
            let stdout = stdout.join().unwrap_or_default();
            let stderr = stderr.join().unwrap_or_default();
            format!("stdout:\n{stdout}\nstderr:\n{stderr}")
        };
        let deadline = Instant::now() + PATIENCE;
        loop {
            match child.try_wait() {
                Ok(Some(status)) => {
                    return Err(format!("redis-server exited ({status}) at start; {}", printed()));
                }
                Ok(None) => {}
                Err(e) => panic!("cannot wait for redis-server: {e}"),
            }
            let pid = format!("process_id:{}", child.id());
            let answer = bulk_reply(self.port, "INFO server", Duration::from_secs(1));
            if answer.is_ok_and(|info| info.lines().any(|line| line.trim() == pid)) {
                self.child = Some(child);
                return Ok(());
            }
            if Instant::now() >= deadline {
                let _ = child.kill();
                let status = child.wait().map_or_else(|e| e.to_string(), |s| s.to_string());
                return Err(format!(
                    "redis-server did not answer within {PATIENCE:?} (killed: {status}); {}",
                    printed()
                ));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Scripts Redis has run (`EVAL` and `EVALSHA` calls, from `INFO commandstats`).
    fn script_calls(&self) -> u64 {
        bulk_reply(self.port, "INFO commandstats", Duration::from_secs(5))
            .unwrap()
            .lines()
            .filter(|l| l.starts_with("cmdstat_eval:") || l.starts_with("cmdstat_evalsha:"))
            .filter_map(|l| l.split("calls=").nth(1)?.split(',').next()?.parse::<u64>().ok())
            .sum()
    }

    /// Calls of `command` Redis has run (`evalsha`, `script|load`: `INFO commandstats`).
    fn calls(&self, command: &str) -> u64 {
        let line = format!("cmdstat_{command}:");
        bulk_reply(self.port, "INFO commandstats", Duration::from_secs(5))
            .unwrap()
            .lines()
            .filter(|l| l.starts_with(&line))
            .filter_map(|l| l.split("calls=").nth(1)?.split(',').next()?.parse::<u64>().ok())
            .sum()
    }

    /// The first line of Redis's answer to `command` (inline: words without spaces).
    fn call(&self, command: &str) -> String {
        use std::io::{BufRead, BufReader, Write};
        let mut stream = std::net::TcpStream::connect(("127.0.0.1", self.port)).unwrap();
        stream.write_all(format!("{command}\r\n").as_bytes()).unwrap();
        stream.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        BufReader::new(stream).lines().next().unwrap().unwrap()
    }

    /// `CONFIG SET parameter value`, answered `+OK`.
    fn config_set(&self, parameter: &str, value: &str) {
        assert_eq!(self.call(&format!("CONFIG SET {parameter} {value}")), "+OK", "{parameter}");
    }

    /// A field of a hash (`HGET key field`), `None` when there is none.
    fn hget(&self, key: &str, field: &str) -> Option<String> {
        bulk_reply(self.port, &format!("HGET {key} {field}"), Duration::from_secs(5)).ok()
    }

    /// The fleet's secret (`tickwire:secret`), as a node of the fleet proves itself with.
    fn secret(&self) -> String {
        use std::io::{BufRead, BufReader, Write};
        let mut stream = std::net::TcpStream::connect(("127.0.0.1", self.port)).unwrap();
        stream.write_all(b"GET tickwire:secret\r\n").unwrap();
        stream.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        // A bulk string: `$<length>\r\n<text>\r\n`.
        let mut lines = BufReader::new(stream).lines();
        let head = lines.next().unwrap().unwrap();
        assert!(head.starts_with('$') && head != "$-1", "the fleet has a secret: {head}");
        lines.next().unwrap().unwrap()
    }

    fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for Redis {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Sends `command` to the Redis on `port` and reads its answer, a bulk string
/// (`$<length>\r\n<text>\r\n`), waiting at most `timeout` for each read.
fn bulk_reply(port: u16, command: &str, timeout: Duration) -> std::io::Result<String> {
    use std::io::{Error, ErrorKind, Read, Write};
    let mut stream = std::net::TcpStream::connect(("127.0.0.1", port))?;
    stream.set_read_timeout(Some(timeout))?;
    stream.write_all(format!("{command}\r\n").as_bytes())?;
    let mut answer = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        if let Some(end) = answer.windows(2).position(|w| w == b"\r\n") {
            let head = String::from_utf8_lossy(&answer[..end]).into_owned();
            let Some(length) = head.strip_prefix('$').and_then(|n| n.parse::<usize>().ok()) else {
                return Err(Error::new(
                    ErrorKind::InvalidData,
                    format!("not a bulk string: {head}"),
                ));
            };
            let text = &answer[end + 2..];
            if text.len() >= length {
                return Ok(String::from_utf8_lossy(&text[..length]).into_owned());
            }
        }
        let n = stream.read(&mut buf)?;
        if n == 0 {
            return Err(Error::new(ErrorKind::UnexpectedEof, "redis closed the connection"));
        }
        answer.extend_from_slice(&buf[..n]);
    }
}

/// One node of the fleet on its own runtime.
struct Node {
    id: String,
    addr: SocketAddr,
    runtime: Option<tokio::runtime::Runtime>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<()>>,
}

fn node_config(id: &str, redis: &Redis) -> ServerConfig {
    let mut config = test_config();
    config.redis_url = Some(redis.url().into());
    config.node_id = Some(id.to_string());
    config.node_ttl = TTL;
    config.redis_timeout = Duration::from_millis(300);
    config.drain_timeout = Duration::from_secs(2);
    // A test's nodes have no load balancer to tell.
    config.drain_notice = Duration::ZERO;
    config
}

impl Node {
    fn start(config: ServerConfig) -> Node {
        Node::start_on(std::net::TcpListener::bind("127.0.0.1:0").unwrap(), config)
    }

    /// A node serving `listener` (bound by the test, to know its address first).
    fn start_on(listener: std::net::TcpListener, config: ServerConfig) -> Node {
        let id = config.node_id.clone().unwrap();
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .unwrap();
        listener.set_nonblocking(true).unwrap();
        let addr = listener.local_addr().unwrap();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let task = runtime.spawn(async move {
            let listener = tokio::net::TcpListener::from_std(listener).unwrap();
            tickwire_server::run(listener, config, async move {
                let _ = stopped.await;
            })
            .await;
        });
        Node { id, addr, runtime: Some(runtime), stop: Some(stop), task: Some(task) }
    }

    fn url(&self) -> String {
        format!("ws://{}/ws", self.addr)
    }

    async fn get(&self, path: &str) -> (u16, String, String) {
        http_request(
            self.addr,
            &format!("GET {path} HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n"),
        )
        .await
    }

    async fn json(&self, path: &str) -> serde_json::Value {
        let (status, head, body) = self.get(path).await;
        assert_eq!(status, 200, "{path}: {head}\n{body}");
        serde_json::from_str(&body).unwrap_or_else(|e| panic!("{path}: {e}: {body}"))
    }

    /// The fleet's rooms as this node lists them: name -> (node, players).
    async fn rooms(&self) -> BTreeMap<String, (String, u64)> {
        let rooms = self.json("/rooms").await;
        rooms
            .as_array()
            .unwrap()
            .iter()
            .map(|r| {
                let id = r["id"].as_str().unwrap().to_string();
                (id, (r["node"].as_str().unwrap().to_string(), r["players"].as_u64().unwrap()))
            })
            .collect()
    }

    async fn metric(&self, name: &str) -> f64 {
        let (_, _, body) = self.get("/metrics").await;
        body.lines()
            .filter(|l| is_sample_of(l, name))
            .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
            .sum()
    }

    /// Kills the node outright: every task and socket dropped, no goodbye to the directory.
    fn kill(mut self) {
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_background();
        }
    }

    /// SIGTERM as the binary handles it: drain, close, leave. Returns when `run` returned.
    async fn terminate(mut self) {
        let _ = self.stop.take().unwrap().send(());
        let task = self.task.take().unwrap();
        tokio::time::timeout(Duration::from_secs(20), task).await.expect("run returns").unwrap();
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_background();
        }
    }
}

/// Waits until `check` holds, polling; panics with `what` after `limit`.
async fn eventually<F, Fut>(limit: Duration, what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = Instant::now() + limit;
    while !check().await {
        assert!(Instant::now() < deadline, "not within {limit:?}: {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Redis and three nodes, all registered.
async fn fleet(configure: impl Fn(&mut ServerConfig)) -> (Redis, Vec<Node>) {
    let redis = Redis::start();
    let nodes: Vec<Node> = ["a", "b", "c"]
        .iter()
        .map(|id| {
            let mut config = node_config(id, &redis);
            configure(&mut config);
            Node::start(config)
        })
        .collect();
    await_nodes(&nodes[0], &["a", "b", "c"]).await;
    (redis, nodes)
}

/// Waits until the node at `addr` answers `/healthz` with 503 `draining`.
async fn await_draining(addr: SocketAddr) {
    eventually(PATIENCE, "the node reports draining", || async {
        let get = "GET /healthz HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n";
        let (status, _, body) = http_request(addr, get).await;
        status == 503 && body.contains("draining")
    })
    .await;
}

/// Waits until `via` lists exactly `ids` as the fleet's nodes.
async fn await_nodes(via: &Node, ids: &[&str]) {
    eventually(PATIENCE, &format!("the fleet is {ids:?}"), || async {
        let (status, _, body) = via.get("/nodes").await;
        let Ok(nodes) = serde_json::from_str::<serde_json::Value>(&body) else { return false };
        let mut listed: Vec<String> = nodes
            .as_array()
            .map(|a| a.iter().filter_map(|n| n["id"].as_str().map(String::from)).collect())
            .unwrap_or_default();
        listed.sort();
        status == 200 && listed == ids
    })
    .await;
}

/// Ships in the newest world a client rebuilt.
fn ships(client: &Client) -> usize {
    client.latest().map_or(0, |w| w.entities.iter().filter(|e| e.kind == 0).count())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_named_room_opened_through_one_node_is_joined_through_the_others() {
    // A resume grace past the test's patience: a seat kept for a resume shows as a failure.
    let (_redis, nodes) = fleet(|config| config.resume_grace = Duration::from_secs(60)).await;
    let [a, b, c] = &nodes[..] else { unreachable!() };
    let mut ada = Client::join(&a.url(), hello_in(Role::Player, "ada", "duel")).await;
    let mut bob = Client::join(&b.url(), hello_in(Role::Player, "bob", "duel")).await;
    let mut cyd = Client::join(&c.url(), hello_in(Role::Player, "cyd", "duel")).await;
    for client in [&ada, &bob, &cyd] {
        assert_eq!(client.welcome.room.as_str(), "duel");
    }
    let ids = [ada.welcome.player_id, bob.welcome.player_id, cyd.welcome.player_id];
    assert!(ids[0] != ids[1] && ids[1] != ids[2] && ids[0] != ids[2], "three seats of one room");
    // One match: each hears of the others and sees their ships.
    for client in [&mut ada, &mut bob, &mut cyd] {
        let me = client.welcome.player_id;
        for other in ids.iter().filter(|id| **id != me) {
            client
                .wait_event(|e| matches!(e, EventKind::Joined { player, .. } if player == other))
                .await;
        }
        for _ in 0..5 {
            client.next_world().await;
        }
    }
    // A spectator through c sees the whole match: three ships.
    let mut watcher = Client::join(&c.url(), hello_in(Role::Spectator, "eye", "duel")).await;
    let tick = watcher.next_world().await.tick;
    watcher.snapshots_past(tick, 3).await;
    assert_eq!(ships(&watcher), 3, "the proxied spectator sees every ship");
    // Bob steers through node b; his input reaches the room on node a and is applied.
    let seq = bob.input(127, 0, 0).await;
    loop {
        let world = bob.next_world().await;
        let snapshot = bob.snapshots.last().unwrap();
        if snapshot.header.last_input >= seq {
            assert_eq!(world.tick, snapshot.header.tick);
            break;
        }
    }
    // The counts are a's registration task's to write (every 250 ms), and each node reads the
    // directory at most once a second: they catch up.
    eventually(PATIENCE, "every node lists the same fleet, \"duel\" on a with three", || async {
        let rooms = c.rooms().await;
        rooms.get("duel") == Some(&("a".to_string(), 3)) && b.rooms().await == rooms
    })
    .await;
    assert_eq!(a.metric("tickwire_proxied_sessions").await, 0.0);
    assert_eq!(b.metric("tickwire_proxied_sessions").await, 1.0);
    assert_eq!(c.metric("tickwire_proxied_sessions").await, 2.0, "cyd and the spectator");
    assert_eq!(b.metric("tickwire_node_info{node=\"b\"}").await, 1.0, "metrics name their node");
    assert_eq!(b.metric("tickwire_directory_up").await, 1.0);
    let listed = b.json("/nodes").await;
    assert!(
        !listed.to_string().contains("ws://"),
        "node URLs stay on the private network: {listed}"
    );
    let local: Vec<(&str, bool)> = listed
        .as_array()
        .unwrap()
        .iter()
        .map(|n| (n["id"].as_str().unwrap(), n["local"].as_bool().unwrap()))
        .collect();
    assert_eq!(local, [("a", false), ("b", true), ("c", false)]);

    // Cyd leaves properly through c: the seat ends on a at once.
    let cyd_id = cyd.welcome.player_id;
    cyd.ws.close(None).await.unwrap();
    tokio::time::timeout(PATIENCE, ada.wait_left(cyd_id))
        .await
        .expect("the seat ends at once, not after the resume grace");
    eventually(PATIENCE, "the directory counts two players", || async {
        c.rooms().await.get("duel").map(|r| r.1) == Some(2)
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_any_joins_through_three_nodes_never_overfill_a_room() {
    const CAPACITY: u16 = 4;
    const JOINERS: usize = 30;
    let (_redis, nodes) = fleet(|c| c.room_capacity = CAPACITY).await;
    let urls: Vec<String> = nodes.iter().map(Node::url).collect();
    let joins = (0..JOINERS).map(|i| {
        let url = urls[i % 3].clone();
        tokio::spawn(async move {
            let ws = open(&url).await;
            try_join(ws, hello(Role::Player, &format!("p{i}"))).await
        })
    });
    let mut seated: BTreeMap<String, usize> = BTreeMap::new();
    let mut sockets = Vec::new();
    for join in joins {
        let (welcome, ws) = join.await.unwrap().unwrap_or_else(|c| panic!("refused: {c:?}"));
        *seated.entry(welcome.room.to_string()).or_default() += 1;
        sockets.push(ws);
    }
    assert!(seated.values().all(|&n| n <= CAPACITY as usize), "overfilled: {seated:?}");
    assert_eq!(seated.values().sum::<usize>(), JOINERS);
    // Fullest first: seven full rooms and one with the last two, no half-empty extras.
    assert_eq!(seated.len(), JOINERS.div_ceil(CAPACITY as usize), "{seated:?}");
    let listed = nodes[1].rooms().await;
    let counts: BTreeMap<String, usize> =
        listed.iter().map(|(room, (_, players))| (room.clone(), *players as usize)).collect();
    eventually(PATIENCE, "the directory's counts match the seats", || async {
        let listed = nodes[2].rooms().await;
        listed.iter().map(|(r, (_, p))| (r.clone(), *p as usize)).collect::<BTreeMap<_, _>>()
            == seated
    })
    .await;
    assert!(counts.values().all(|&n| n <= CAPACITY as usize));
    let hosts: std::collections::BTreeSet<&String> =
        listed.values().map(|(node, _)| node).collect();
    assert!(hosts.len() > 1, "rooms opened on several nodes: {listed:?}");
    drop(sockets);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rooms_open_on_other_nodes_until_every_node_is_at_its_room_limit() {
    let (_redis, nodes) = fleet(|c| {
        c.room_capacity = 1;
        c.max_rooms = 1;
    })
    .await;
    let mut seated = Vec::new();
    for i in 0..3 {
        // All through node a: it hosts one room, then the directory opens rooms elsewhere.
        seated.push(Client::join(&nodes[0].url(), hello(Role::Player, &format!("p{i}"))).await);
    }
    let rooms = nodes[2].rooms().await;
    let hosts: std::collections::BTreeSet<&str> = rooms.values().map(|(n, _)| n.as_str()).collect();
    assert_eq!(hosts.len(), 3, "one room on each node: {rooms:?}");
    let refused = try_join(open(&nodes[1].url()).await, hello(Role::Player, "late"))
        .await
        .expect_err("the fleet is full");
    refused.assert_is(1013, Some(KickReason::Full), "room limit");
    drop(seated);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_nodes_rooms_leave_the_directory_within_the_ttl_while_others_play_on() {
    let (_redis, mut nodes) = fleet(|_| {}).await;
    let c = nodes.pop().unwrap();
    let b = nodes.pop().unwrap();
    let a = nodes.pop().unwrap();
    let _doomed = Client::join(&a.url(), hello_in(Role::Player, "ada", "doomed")).await;
    let mut local = Client::join(&b.url(), hello_in(Role::Player, "bob", "alive")).await;
    let mut proxied = Client::join(&c.url(), hello_in(Role::Player, "cyd", "alive")).await;
    eventually(PATIENCE, "both rooms listed", || async {
        let rooms = c.rooms().await;
        rooms.contains_key("doomed") && rooms.get("alive").map(|r| r.1) == Some(2)
    })
    .await;

    a.kill();
    let killed = Instant::now();
    // Within the TTL and b's next reading (a second) when nothing is late; how long it took is
    // reported below, and only a room that never leaves fails the test.
    eventually(PATIENCE, "the dead node's room leaves", || async {
        !b.rooms().await.contains_key("doomed")
    })
    .await;
    let gone_after = killed.elapsed();
    await_nodes(&b, &["b", "c"]).await;
    // The other match never stopped.
    let tick = local.next_world().await.tick;
    local.snapshots_past(tick, 10).await;
    let tick = proxied.next_world().await.tick;
    proxied.snapshots_past(tick, 10).await;
    assert_eq!(c.rooms().await.get("alive"), Some(&("b".to_string(), 2)));
    eprintln!("the killed node's room left the directory after {gone_after:?} (TTL {TTL:?})");
}

/// A matchmaking entry whose room is gone (its hash expired with its node, and no join read it
/// meanwhile) leaves the index when a join reads it: left there, every join would read and
/// pass over it, and enough of them would push the live rooms out of the readings.
#[tokio::test]
async fn a_matchmaking_entry_whose_room_is_gone_leaves_the_index() {
    let redis = Redis::start();
    let a = Node::start(node_config("a", &redis));
    await_nodes(&a, &["a"]).await;
    let score = |member: &str| {
        bulk_reply(redis.port, &format!("ZSCORE tickwire:open {member}"), Duration::from_secs(5))
    };
    // The state a lapsed node's room is left in: in the index, its hash gone.
    let added = bulk_reply(redis.port, "ZADD tickwire:open 99 ghost", Duration::from_secs(5));
    assert!(added.is_err(), "an integer reply, not a bulk string");
    assert_eq!(score("ghost").ok().as_deref(), Some("99"), "at the top of the index");
    let _player = Client::join(&a.url(), hello(Role::Player, "p")).await;
    assert!(score("ghost").is_err(), "the join that read it took it out");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn any_joins_are_placed_past_a_dead_nodes_rooms_before_its_registration_lapses() {
    // A TTL far past the test's patience: the dead node stays listed, its fullest room open,
    // throughout, so only placing past it (not its lapse) seats anyone.
    let (_redis, mut nodes) = fleet(|config| config.node_ttl = Duration::from_secs(30)).await;
    let c = nodes.pop().unwrap();
    let b = nodes.pop().unwrap();
    let a = nodes.pop().unwrap();
    let _ada = Client::join(&a.url(), hello_in(Role::Player, "ada", "crowded")).await;
    let _amy = Client::join(&a.url(), hello_in(Role::Player, "amy", "crowded")).await;
    let _bob = Client::join(&b.url(), hello_in(Role::Player, "bob", "quiet")).await;
    eventually(PATIENCE, "the fleet's fullest open room is on a", || async {
        let rooms = c.rooms().await;
        rooms.get("crowded") == Some(&("a".to_string(), 2))
            && rooms.get("quiet") == Some(&("b".to_string(), 1))
    })
    .await;

    a.kill();
    // Through c, matchmaking picks "crowded", whose node is gone: c finds it unreachable and
    // places the join again, past a's rooms.
    let (welcome, _cyd) = try_join(open(&c.url()).await, hello(Role::Player, "cyd"))
        .await
        .unwrap_or_else(|closed| panic!("an Any join is placed elsewhere: {closed:?}"));
    assert_eq!(welcome.room.as_str(), "quiet");
    // "crowded" (2, and first by name) and "quiet" (2 now) tie: c remembers a as unreachable.
    let (welcome, _cal) = try_join(open(&c.url()).await, hello(Role::Player, "cal"))
        .await
        .unwrap_or_else(|closed| panic!("placed past a at once: {closed:?}"));
    assert_eq!(welcome.room.as_str(), "quiet");
    // A named room lives where it lives: a join for it is told to try again.
    let refused = try_join(open(&c.url()).await, hello_in(Role::Player, "cat", "crowded"))
        .await
        .expect_err("its node is gone");
    refused.assert_is(1013, None, "unreachable");
    assert_eq!(
        b.rooms().await.get("crowded"),
        Some(&("a".to_string(), 2)),
        "a is still listed: these joins did not wait for its registration to lapse"
    );
}

/// A node whose Redis does not answer (a wrong address or password) refuses every join: a load
/// balancer must not count it ready, until it registers.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_that_cannot_register_is_not_ready_until_it_does() {
    let mut redis = Redis::start();
    redis.kill();
    let node = Node::start(node_config("a", &redis));
    let (status, _, body) = node.get("/healthz").await;
    assert_eq!(
        (status, body.as_str()),
        (503, "not registered in the room directory (see the log)\n")
    );
    let (status, _, _) = node.get("/livez").await;
    assert_eq!(status, 200, "alive all the same: restarting it would not help");
    let refused = try_join(open(&node.url()).await, hello_in(Role::Player, "ada", "one"))
        .await
        .expect_err("not in the fleet");
    refused.assert_is(1013, None, "not registered");

    redis.restart();
    eventually(PATIENCE, "the node registers and is ready", || async {
        node.get("/healthz").await.0 == 200
    })
    .await;
    Client::join(&node.url(), hello_in(Role::Player, "ada", "one")).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restarting_redis_loses_no_running_match_and_the_directory_fills_again() {
    let (mut redis, nodes) = fleet(|_| {}).await;
    let [a, b, c] = &nodes[..] else { unreachable!() };
    let mut one = Client::join(&a.url(), hello_in(Role::Player, "ada", "one")).await;
    let mut two = Client::join(&c.url(), hello_in(Role::Player, "bob", "two")).await;
    let two_again = Client::join(&b.url(), hello_in(Role::Player, "cyd", "two")).await;
    let host_of_two = c.rooms().await["two"].0.clone();
    let secret = redis.secret();

    redis.kill();
    // Matches play on: ticks keep coming to a direct and a proxied client.
    let before = (one.next_world().await.tick, two.next_world().await.tick);
    one.snapshots_past(before.0, 30).await;
    two.snapshots_past(before.1, 30).await;
    // What needs the directory is refused with a reason; what does not still works.
    let refused = try_join(open(&b.url()).await, hello_in(Role::Player, "dan", "new"))
        .await
        .expect_err("a new room needs the directory");
    // Not `Kick { Full }`, which ends a first join in both SDKs: a plain 1013, retried.
    refused.assert_is(1013, None, "room directory unavailable");
    let (status, head, _) = b.get("/rooms").await;
    assert_eq!(status, 200);
    assert!(head.contains("x-tickwire-directory: unavailable"), "{head}");
    let host = nodes.iter().find(|n| n.id == host_of_two).unwrap();
    let mut local_join = Client::join(&host.url(), hello_in(Role::Player, "eve", "two")).await;
    assert_eq!(local_join.welcome.room.as_str(), "two", "a room hosted here needs no Redis");
    local_join.next_world().await;
    // Nor with a token of a seat that is gone (expired, or of another server): a seat of a
    // room hosted here would be here, so none is elsewhere, and the client joins afresh.
    let stale = tickwire_shared::Hello {
        resume: Some(tickwire_shared::ResumeToken([0x5a; 16])),
        ..hello_in(Role::Player, "gus", "two")
    };
    let stale_join = Client::join(&host.url(), stale).await;
    assert!(!stale_join.welcome.resumed);
    assert_eq!(stale_join.welcome.room.as_str(), "two");

    redis.restart();
    eventually(PATIENCE, "the directory fills again", || async {
        let (status, head, body) = a.get("/rooms").await;
        let rooms: serde_json::Value = serde_json::from_str(&body).unwrap_or_default();
        let players = |name: &str| {
            rooms.as_array().and_then(|a| {
                a.iter().find(|r| r["id"] == name).and_then(|r| r["players"].as_u64())
            })
        };
        status == 200
            && !head.contains("unavailable")
            && players("one") == Some(1)
            && players("two") == Some(4)
    })
    .await;
    await_nodes(c, &["a", "b", "c"]).await;
    // The first node back wrote the fleet's secret back: the others, which may not have
    // beaten since, take its hops as before.
    assert_eq!(redis.secret(), secret, "the fleet's secret survives a Redis that lost its data");
    // Joins work again, through any node, into the same matches.
    let mut late = Client::join(&b.url(), hello_in(Role::Player, "fay", "one")).await;
    late.wait_event(
        |e| matches!(e, EventKind::Joined { player, .. } if *player == one.welcome.player_id),
    )
    .await;
    let tick = one.next_world().await.tick;
    one.snapshots_past(tick, 5).await;
    drop((two_again, stale_join));
}

/// Redis out of memory (`maxmemory` with `noeviction`) still runs the scripts that only read
/// and refuses the heartbeats' writes: the nodes' registrations lapse, and the directory
/// answers with an empty fleet. That is the directory away, not a fleet without rooms.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_redis_out_of_memory_is_the_directory_away_not_an_empty_fleet() {
    let (redis, nodes) = fleet(|_| {}).await;
    let [a, b, _] = &nodes[..] else { unreachable!() };
    let mut ada = Client::join(&a.url(), hello_in(Role::Player, "ada", "one")).await;
    eventually(PATIENCE, "room one listed", || async { a.rooms().await.contains_key("one") }).await;
    let host_of_one = a.rooms().await["one"].0.clone();
    let host = nodes.iter().find(|n| n.id == host_of_one).unwrap();
    redis.config_set("maxmemory-policy", "noeviction");
    redis.config_set("maxmemory", "1");
    // Once the registrations lapse (a TTL of failed heartbeats) the listing is empty.
    tokio::time::sleep(TTL * 2).await;
    for node in [a, b] {
        let (status, head, body) = node.get("/rooms").await;
        assert_eq!(status, 200, "{body}");
        assert!(head.contains("x-tickwire-directory: unavailable"), "{}: {head}\n{body}", node.id);
        assert_eq!(node.get("/nodes").await.0, 503, "{}", node.id);
    }
    let (_, _, own) = host.get("/rooms").await;
    assert!(own.contains(r#""id":"one""#), "the host lists its own room: {own}");
    // The match plays on, and its host still seats a player in it.
    let tick = ada.next_world().await.tick;
    ada.snapshots_past(tick, 10).await;
    let bob = Client::join(&host.url(), hello_in(Role::Player, "bob", "one")).await;
    assert_eq!(bob.welcome.room.as_str(), "one");
    assert!(host.metric("tickwire_directory_up").await == 0.0, "the gauge says so");

    redis.config_set("maxmemory", "0");
    eventually(PATIENCE, "the fleet listed again", || async {
        let (status, head, body) = b.get("/rooms").await;
        status == 200 && !head.contains("unavailable") && body.contains(r#""id":"one""#)
    })
    .await;
    assert_eq!(b.get("/nodes").await.0, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_relayed_spectator_acking_rarely_gets_deltas_against_the_snapshot_before() {
    // The hosting node cannot see what the relay's socket took; the relay acks it for its
    // client, so the client's acks every 30 ticks do not make its deltas 30 ticks old.
    let (_redis, nodes) = fleet(|_| {}).await;
    let [a, b, _] = &nodes[..] else { unreachable!() };
    let mut mover = Client::join(&a.url(), hello_in(Role::Player, "mover", "rare")).await;
    let mut eve = Client::join(&b.url(), hello_in(Role::Spectator, "eve", "rare")).await;
    assert_eq!(b.metric("tickwire_proxied_sessions").await, 1.0, "eve is relayed by b");
    watch_acking_as_spectators_do(&mut mover, &mut eve, 48).await;
    let received: Vec<u32> = eve.snapshots.iter().map(|s| s.header.tick.0).collect();
    let mut at_most_three_ticks_old = 0;
    for snapshot in &eve.snapshots {
        if let Some(baseline) = snapshot.header.baseline {
            assert!(received.contains(&baseline.0), "a baseline eve never got: {baseline:?}");
            if snapshot.header.tick.0 - baseline.0 <= 3 {
                at_most_three_ticks_old += 1;
            }
        }
    }
    // The relay acks every second tick, so nearly all would be (a loaded machine delays some
    // acks); against eve's own acks alone, about one in ten would be.
    assert!(at_most_three_ticks_old > 30, "{at_most_three_ticks_old} of 48: {received:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_relayed_client_s_round_trip_is_measured_by_its_relay_from_its_own_acks() {
    // The hosting node hears the relay's acks (some on the client's behalf, at once), not the
    // client's: the relay measures the client's own, the host leaves relayed seats out.
    let (_redis, nodes) = fleet(|_| {}).await;
    let [a, b, _] = &nodes[..] else { unreachable!() };
    let mut mover = Client::join(&a.url(), hello_in(Role::Player, "mover", "far")).await;
    mover.auto_ack = false; // so that a's samples are the relayed client's, if any
    let mut far = Client::join(&b.url(), hello_in(Role::Player, "far", "far")).await;
    assert_eq!(b.metric("tickwire_proxied_sessions").await, 1.0, "far is relayed by b");
    far.auto_ack = false;
    let reading = tokio::spawn(async move { while mover.recv().await.is_some() {} });
    let started = std::time::Instant::now();
    while started.elapsed() < Duration::from_millis(2500) {
        let tick = far.next_world().await.tick;
        tokio::time::sleep(Duration::from_millis(200)).await;
        far.send(&ClientMessage::Ack(tickwire_shared::Ack { tick })).await;
    }
    let _ = far.next_world().await; // the last ack on its way meanwhile
    let players = r#"{role="player",transport="ws"}"#;
    let count = format!("tickwire_round_trip_seconds_count{players}");
    let fast = r#"tickwire_round_trip_seconds_bucket{le="0.15",role="player",transport="ws"}"#;
    let measured = b.metric(&count).await;
    assert!(measured >= 2.0, "b sampled far once a second: {measured}");
    assert_eq!(b.metric(fast).await, 0.0, "every ack of far's came 200 ms late");
    assert_eq!(a.metric(&count).await, 0.0, "a heard only the relay's acks, and no one else's");
    reading.abort();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_relayed_client_that_only_answers_pings_stays() {
    // The hosting node hears the relay (it acks on its client's behalf), not the client: the
    // relaying node pings a quiet client itself, and its pongs keep it. An idle timeout of
    // seconds: each node runs on one worker thread of a loaded machine, and a pong read late
    // must not look like silence.
    let idle = Duration::from_secs(3);
    let heartbeat = Duration::from_millis(500);
    let (_redis, nodes) = fleet(|config| {
        config.heartbeat_interval = heartbeat;
        config.idle_timeout = idle;
    })
    .await;
    let [a, b, _] = &nodes[..] else { unreachable!() };
    let mut mover = Client::join(&a.url(), hello_in(Role::Player, "mover", "quiet")).await;
    let mut eve = Client::join(&b.url(), hello_in(Role::Spectator, "eve", "quiet")).await;
    assert_eq!(b.metric("tickwire_proxied_sessions").await, 1.0, "eve is relayed by b");
    // The player keeps the room going (it reads and acks); eve sends nothing but the pongs
    // tungstenite answers pings with, as a browser does.
    let playing = tokio::spawn(async move { while mover.recv().await.is_some() {} });
    // b pings eve after a heartbeat of silence, then at most once a heartbeat: her pings
    // number idle / heartbeat + 1 only once more than an idle timeout has passed since she
    // last sent anything but a pong, so had b not heard the pongs, it would have closed her
    // first (as a would close the relay, did it not hear it). And two idle timeouts in all,
    // well within the PATIENCE `answer_pings` allows.
    let pings = (idle.as_millis() / heartbeat.as_millis()) as usize + 1;
    answer_pings(&mut eve.ws, 2 * idle, pings).await;
    playing.abort();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_resume_through_another_node_takes_the_same_ship_back() {
    let (_redis, nodes) = fleet(|_| {}).await;
    let [a, b, c] = &nodes[..] else { unreachable!() };
    let mut first = Client::join(&a.url(), hello_in(Role::Player, "ada", "home")).await;
    first.next_world().await;
    let welcome = first.welcome;
    let token = welcome.resume_token;
    first.drop_abruptly();

    // Back through another node: the same seat and ship, on the node that holds it.
    let resume = tickwire_shared::Hello { resume: Some(token), ..hello(Role::Player, "ada") };
    let mut second = Client::join(&b.url(), resume).await;
    assert!(second.welcome.resumed);
    assert_eq!(second.welcome.player_id, welcome.player_id);
    assert_eq!(second.welcome.entity, welcome.entity);
    assert_eq!(second.welcome.room.as_str(), "home");
    let world = second.next_world().await;
    assert!(world.entities.iter().any(|e| Some(e.id) == welcome.entity), "its ship is there");
    second.drop_abruptly();

    // And again, from a proxied connection, through the third node.
    let mut third = Client::join(&c.url(), resume).await;
    assert!(third.welcome.resumed);
    assert_eq!(third.welcome.player_id, welcome.player_id);
    third.next_world().await;
    assert_eq!(a.metric("tickwire_resumes_total").await, 2.0, "the seat was resumed twice on a");
    eventually(PATIENCE, "one player in the room", || async {
        b.rooms().await.get("home") == Some(&("a".to_string(), 1))
    })
    .await;

    // A relayed client that closes for a fault (1002: it could not decode a message) keeps
    // its seat on a as well. Once a has let the connection go, the close has reached the room.
    let fault = CloseFrame { code: CloseCode::Protocol, reason: "undecodable".into() };
    third.ws.close(Some(fault)).await.unwrap();
    eventually(PATIENCE, "a lets the relayed connection go", || async {
        a.metric("tickwire_transport_clients{transport=\"ws\"}").await == 0.0
    })
    .await;
    let fourth = Client::join(&b.url(), resume).await;
    assert!(fourth.welcome.resumed, "the seat was kept");
    assert_eq!(fourth.welcome.player_id, welcome.player_id);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_resume_token_for_another_room_opens_no_second_copy_of_a_named_room() {
    let (_redis, nodes) = fleet(|_| {}).await;
    let [a, _, c] = &nodes[..] else { unreachable!() };
    // Ada's seat in "old" on a waits for her resume.
    let mut first = Client::join(&a.url(), hello_in(Role::Player, "ada", "old")).await;
    first.next_world().await;
    let token = first.welcome.resume_token;
    first.drop_abruptly();
    let mut host = Client::join(&c.url(), hello_in(Role::Player, "bob", "party")).await;
    // Through a, with the old seat's token, to the party on c: she joins it there.
    let hello =
        tickwire_shared::Hello { resume: Some(token), ..hello_in(Role::Player, "ada", "party") };
    let second = Client::join(&a.url(), hello).await;
    assert!(!second.welcome.resumed);
    assert_eq!(second.welcome.room.as_str(), "party");
    let ada = second.welcome.player_id;
    tokio::time::timeout(
        PATIENCE,
        host.wait_event(|e| matches!(e, EventKind::Joined { player, .. } if *player == ada)),
    )
    .await
    .expect("ada joined bob's party on c, not a copy of it on a");
    eventually(PATIENCE, "one party, on c, with both", || async {
        a.rooms().await.get("party") == Some(&("c".to_string(), 2))
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_named_room_on_another_node_says_so_as_one_server_does() {
    let (_redis, nodes) = fleet(|config| config.room_capacity = 1).await;
    let [a, b, _] = &nodes[..] else { unreachable!() };
    let _ada = Client::join(&a.url(), hello_in(Role::Player, "ada", "solo")).await;
    let refused = try_join(open(&b.url()).await, hello_in(Role::Player, "bob", "solo"))
        .await
        .expect_err("the room has one seat");
    refused.assert_is(1013, Some(KickReason::Full), "full");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_http_fallback_client_plays_in_a_room_hosted_by_another_node() {
    use fallback_client::{Fallback, Mode};
    let (_redis, nodes) = fleet(|_| {}).await;
    let [a, b, _] = &nodes[..] else { unreachable!() };
    let mut host = Client::join(&a.url(), hello_in(Role::Player, "host", "far")).await;
    host.next_world().await;
    // Players see only what is near their ship; a spectator sees the whole room.
    let mut watcher = Client::join(&a.url(), hello_in(Role::Spectator, "watcher", "far")).await;

    // Where WebSocket is blocked, through the node that does not host the room: relayed.
    for mode in [Mode::Stream, Mode::Poll] {
        let name = format!("{mode:?}").to_lowercase();
        let mut guest = Fallback::join(b.addr, mode, hello_in(Role::Player, &name, "far")).await;
        let welcome = guest.welcome.expect("welcomed");
        assert_eq!(welcome.room.as_str(), "far");
        let applied = guest.play_until_applied().await;
        assert!(applied.0 >= 1, "{mode:?}: an input applied by the hosting node");
        assert_eq!(b.metric("tickwire_proxied_sessions").await, 1.0, "{mode:?}: b relays it");
        // The hosting node counts the guest by its own transport, not the relay's WebSocket.
        let counted = format!("tickwire_transport_clients{{transport=\"{name}\"}}");
        assert_eq!(a.metric(&counted).await, 1.0, "{mode:?}: a counts it as {name}");
        let deadline = Instant::now() + PATIENCE;
        while !watcher.next_world().await.entities.iter().any(|e| Some(e.id) == welcome.entity) {
            assert!(Instant::now() < deadline, "{mode:?}: the guest's ship never shows on a");
        }
        host.next_world().await;
        // A proper leave reaches the hosting node as one: the seat is freed there.
        let (status, text) = guest.post(fallback_client::close_record(1000, "bye")).await;
        assert_eq!(status, 204, "{text}");
        let (code, _, _) = guest.closed().await;
        assert_eq!(code, 1000, "{mode:?}: the close is answered");
        eventually(PATIENCE, "the guest's seat freed on a", || async {
            b.rooms().await.get("far") == Some(&("a".to_string(), 1))
        })
        .await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_draining_node_finishes_its_matches_and_takes_no_new_ones() {
    let (_redis, mut nodes) = fleet(|_| {}).await;
    let c = nodes.pop().unwrap();
    let b = nodes.pop().unwrap();
    let a = nodes.pop().unwrap();
    let mut staying = Client::join(&a.url(), hello_in(Role::Player, "ada", "stay")).await;
    staying.next_world().await;
    let token = staying.welcome.resume_token;
    // A client that never answers the 1001: a's connections take the closing handshake's
    // whole timeout to end.
    let _lingering = Client::join(&a.url(), hello_in(Role::Player, "lin", "stay")).await;
    let a_addr = a.addr;
    let a_get = |path: &'static str| async move {
        http_request(
            a_addr,
            &format!("GET {path} HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n"),
        )
        .await
    };
    assert_eq!(a_get("/healthz").await.0, 200);
    let terminated = tokio::spawn(a.terminate());
    eventually(PATIENCE, "a reports draining", || async {
        let (status, _, body) = a_get("/healthz").await;
        status == 503 && body.contains("draining")
    })
    .await;
    // Matchmaking through the draining node itself places players elsewhere.
    let placed = Client::join(&format!("ws://{a_addr}/ws"), hello(Role::Player, "bob")).await;
    let rooms = c.rooms().await;
    assert_ne!(rooms[placed.welcome.room.as_str()].0, "a", "{rooms:?}");
    let fresh = Client::join(&b.url(), hello_in(Role::Player, "cyd", "fresh")).await;
    eventually(PATIENCE, "the fresh room is listed on b", || async {
        c.rooms().await.get("fresh").is_some_and(|r| r.0 == "b")
    })
    .await;
    // The running match goes on through the drain, then ends with 1001.
    let tick = staying.next_world().await.tick;
    staying.snapshots_past(tick, 10).await;
    let closed = staying.closed().await;
    closed.assert_is(1001, Some(KickReason::ShuttingDown), "shutting down");
    // Sent elsewhere, the client comes back through b at once with its token. a has left the
    // directory before the 1001, taking its seats along: the seat is unknown, and the client
    // joins its room afresh, opened on another node, as after a node died (README).
    let back =
        tickwire_shared::Hello { resume: Some(token), ..hello_in(Role::Player, "ada", "stay") };
    let (welcome, _back) = try_join(open(&b.url()).await, back)
        .await
        .unwrap_or_else(|closed| panic!("not sent back to a stopped node: {closed:?}"));
    assert!(!welcome.resumed);
    assert_eq!(welcome.room.as_str(), "stay");
    tokio::time::timeout(PATIENCE, terminated).await.unwrap().unwrap();
    await_nodes(&b, &["b", "c"]).await;
    eventually(PATIENCE, "a left the directory with its rooms: \"stay\" is b's", || async {
        c.rooms().await.get("stay") == Some(&("b".to_string(), 1))
    })
    .await;
    drop((placed, fresh));
}

/// A draining node's matches play their rounds out rather than run into the drain's timeout:
/// at the end of the round's scoreboard each room tells its players to join again, and they
/// find the room anew on another node; the drain ends with its last match.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_draining_nodes_matches_end_with_their_round_and_the_drain_with_them() {
    let (_redis, mut nodes) = fleet(|config| {
        config.round_time = Duration::from_secs(2);
        config.intermission = Duration::from_secs(1);
        config.drain_timeout = Duration::from_secs(600);
    })
    .await;
    let c = nodes.pop().unwrap();
    let b = nodes.pop().unwrap();
    let a = nodes.pop().unwrap();
    let mut playing = Client::join(&a.url(), hello_in(Role::Player, "ada", "final")).await;
    playing.next_world().await;
    let a_addr = a.addr;
    let terminated = tokio::spawn(a.terminate());
    eventually(PATIENCE, "a says it drains", || async {
        let request = "GET /metrics HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n";
        http_request(a_addr, request).await.2.contains("tickwire_draining 1")
    })
    .await;
    let closed = playing.closed().await;
    closed.assert_is(1001, Some(KickReason::ShuttingDown), "the match is over");
    // Long before the drain's 10 minutes.
    tokio::time::timeout(PATIENCE, terminated).await.expect("the drain ended").unwrap();
    let again = Client::join(&b.url(), hello_in(Role::Player, "ada", "final")).await;
    assert_eq!(again.welcome.room.as_str(), "final");
    eventually(PATIENCE, "the match goes on on another node", || async {
        c.rooms().await.get("final").is_some_and(|(node, _)| node != "a")
    })
    .await;
}

/// A node with nothing to drain still keeps listening for `--drain-notice` after `/healthz`
/// turned 503, so a load balancer that has not seen it yet sends its players to an open port
/// (where matchmaking places them on another node), not a closed one.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_empty_draining_node_listens_until_balancers_have_seen_it_drain() {
    let (_redis, mut nodes) = fleet(|config| {
        if config.node_id.as_deref() == Some("c") {
            config.drain_notice = Duration::from_secs(3);
        }
    })
    .await;
    let c = nodes.pop().unwrap();
    let c_addr = c.addr;
    let terminated = tokio::spawn(c.terminate());
    await_draining(c_addr).await;
    let placed = Client::join(&format!("ws://{c_addr}/ws"), hello(Role::Player, "late")).await;
    let room = placed.welcome.room.as_str().to_owned();
    eventually(PATIENCE, "the room is listed on another node", || async {
        nodes[0].rooms().await.get(&room).is_some_and(|(node, _)| node != "c")
    })
    .await;
    drop(placed);
    tokio::time::timeout(PATIENCE, terminated).await.expect("the drain ended").unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_nodes_of_the_fleet_may_proxy() {
    let (_redis, nodes) = fleet(|_| {}).await;
    let request =
        upgrade_request("", "x-tickwire-hop: guessed\r\nx-tickwire-client: 192.0.2.1\r\n");
    let (status, _, body) = http_request(nodes[0].addr, &request).await;
    assert_eq!(status, 403);
    assert!(body.contains("not a node of this fleet"), "{body}");
    // A server without --redis-url has no fleet.
    let single = TestServer::start(test_config()).await;
    let (status, _, nodes) = single.get("/nodes").await;
    assert_eq!((status, nodes.as_str()), (200, "[]"), "a single server is no fleet");
    let (_, _, rooms) = single.get("/rooms").await;
    assert_eq!(rooms, "[]", "single-server /rooms is unchanged");
    single.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hop_reaching_another_node_than_the_one_it_is_for_opens_nothing_there() {
    // a's --node-url reaches b, as a balancer's or a Service's address, or a reused pod
    // address, may.
    let redis = Redis::start();
    let listeners: Vec<std::net::TcpListener> =
        (0..3).map(|_| std::net::TcpListener::bind("127.0.0.1:0").unwrap()).collect();
    let b_url = format!("ws://{}/ws", listeners[1].local_addr().unwrap());
    let nodes: Vec<Node> = ["a", "b", "c"]
        .into_iter()
        .zip(listeners)
        .map(|(id, listener)| {
            let mut config = node_config(id, &redis);
            if id == "a" {
                config.node_url = Some(b_url.clone());
            }
            Node::start_on(listener, config)
        })
        .collect();
    await_nodes(&nodes[0], &["a", "b", "c"]).await;
    let [a, b, c] = &nodes[..] else { unreachable!() };
    let _ada = Client::join(&a.url(), hello_in(Role::Player, "ada", "home")).await;
    eventually(PATIENCE, "\"home\" listed on a", || async {
        c.rooms().await.get("home") == Some(&("a".to_string(), 1))
    })
    .await;

    // c relays the join for "home" to a's URL, where b answers: b refuses a hop meant for a,
    // and the client is told to try again.
    let refused = try_join(open(&c.url()).await, hello_in(Role::Player, "cyd", "home"))
        .await
        .expect_err("b is not a");
    refused.assert_is(1013, None, "unreachable");
    assert_eq!(b.metric("tickwire_rooms").await, 0.0, "b opened no room");
    let listed: Vec<(String, (String, u64))> = b.rooms().await.into_iter().collect();
    assert_eq!(listed, [("home".to_string(), ("a".to_string(), 1))]);
    // Matchmaking through c then leaves a's rooms alone.
    let (welcome, _cal) = try_join(open(&c.url()).await, hello(Role::Player, "cal"))
        .await
        .unwrap_or_else(|closed| panic!("placed elsewhere: {closed:?}"));
    assert_ne!(welcome.room.as_str(), "home");
    assert_eq!(b.metric("tickwire_rooms").await, 0.0, "b still opened none");

    // a learns it itself: its check of its own URL finds b there (b's /livez names b), where
    // b's and c's find themselves.
    let (status, head, _) = b.get("/livez").await;
    assert_eq!(status, 200);
    assert!(head.to_ascii_lowercase().contains("x-tickwire-node: b\r\n"), "{head}");
    for (node, reached) in [(a, "other_node"), (b, "self"), (c, "self")] {
        let series = format!("tickwire_node_url_checks_total{{reached=\"{reached}\"}}");
        eventually(PATIENCE, &format!("{} checked its node-url: {reached}", node.id), || async {
            node.metric(&series).await >= 1.0
        })
        .await;
    }
    assert_eq!(a.metric("tickwire_node_url_checks_total{reached=\"self\"}").await, 0.0);
}

/// A TCP forwarder to a node that the test can freeze: it stops passing bytes either way but
/// keeps both connections open, as a node that lost power or a network partition does (no
/// FIN, no RST).
struct Freezer {
    addr: SocketAddr,
    frozen: std::sync::Arc<std::sync::atomic::AtomicBool>,
}

impl Freezer {
    async fn start(target: SocketAddr) -> Freezer {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let frozen = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let flag = frozen.clone();
        tokio::spawn(async move {
            while let Ok((inbound, _)) = listener.accept().await {
                let Ok(outbound) = tokio::net::TcpStream::connect(target).await else { continue };
                let (in_read, in_write) = inbound.into_split();
                let (out_read, out_write) = outbound.into_split();
                tokio::spawn(Freezer::pump(in_read, out_write, flag.clone()));
                tokio::spawn(Freezer::pump(out_read, in_write, flag.clone()));
            }
        });
        Freezer { addr, frozen }
    }

    /// Copies `from` to `to` until either ends, or for good holds both once frozen.
    async fn pump(
        mut from: tokio::net::tcp::OwnedReadHalf,
        mut to: tokio::net::tcp::OwnedWriteHalf,
        frozen: std::sync::Arc<std::sync::atomic::AtomicBool>,
    ) {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let mut buf = vec![0; 16 * 1024];
        loop {
            let n = match from.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(n) => n,
            };
            if frozen.load(std::sync::atomic::Ordering::Relaxed) {
                std::future::pending::<()>().await;
            }
            if to.write_all(&buf[..n]).await.is_err() {
                return;
            }
        }
    }

    fn freeze(&self) {
        self.frozen.store(true, std::sync::atomic::Ordering::Relaxed);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_relayed_client_whose_hosting_node_goes_silent_is_sent_elsewhere() {
    let redis = Redis::start();
    // Node b is reached by the fleet through a forwarder that the test freezes.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let freezer = Freezer::start(listener.local_addr().unwrap()).await;
    let mut b_config = node_config("b", &redis);
    b_config.node_url = Some(format!("ws://{}/ws", freezer.addr));
    let b = Node::start_on(listener, b_config);
    let a = Node::start(node_config("a", &redis));
    await_nodes(&a, &["a", "b"]).await;
    let _host = Client::join(&b.url(), hello_in(Role::Player, "bob", "far")).await;
    let mut watcher = Client::join(&a.url(), hello_in(Role::Spectator, "eye", "far")).await;
    assert_eq!(watcher.welcome.room.as_str(), "far");
    let tick = watcher.next_world().await.tick;
    watcher.snapshots_past(tick, 3).await;

    freezer.freeze();
    // The relay hears nothing more from b, pings it, and tells its client to come back
    // through another node, within seconds (not when TCP gives up, a quarter of an hour on).
    // (The relay keeps pinging its client meanwhile, so only a deadline on the whole wait
    // tells a frozen match from a slow close.)
    let closed = tokio::time::timeout(Duration::from_secs(20), watcher.closed())
        .await
        .expect("told to come back within seconds");
    closed.assert_is(1001, Some(KickReason::ShuttingDown), "went away");
    assert_eq!(a.metric("tickwire_proxied_sessions").await, 0.0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_a_redis_restart_a_running_match_is_joined_not_opened_a_second_time() {
    // A long TTL: the nodes beat every 50 s. Rooms written back before the node's heartbeat
    // would sit in the directory under a node it does not list as alive, and be reopened.
    // And the settle period after Redis lost its data (a third of the TTL, 50 s, from the
    // nodes' return) outlasts the limits of every wait below up to and including the
    // matchmaking's: a matchmaking that waited for it fails the test even when each wait
    // before it took nearly all it may.
    let rejoin = Duration::from_secs(20);
    let node_ttl = 3 * (rejoin + 3 * PATIENCE);
    let (mut redis, nodes) = fleet(|config| config.node_ttl = node_ttl).await;
    let [a, b, c] = &nodes[..] else { unreachable!() };
    let mut ada = Client::join(&a.url(), hello_in(Role::Player, "ada", "one")).await;
    ada.next_world().await;
    redis.kill();
    eventually(PATIENCE, "a sees the directory gone", || async {
        a.metric("tickwire_directory_up").await == 0.0
    })
    .await;
    redis.restart();

    // Joins through b are refused (1013 without a `Kick`: try again) until the fleet has
    // written its rooms back, then land in ada's match, on a.
    let deadline = Instant::now() + rejoin;
    let (welcome, _bob) = loop {
        match try_join(open(&b.url()).await, hello_in(Role::Player, "bob", "one")).await {
            Ok(joined) => break joined,
            Err(closed) => closed.assert_is(1013, None, ""),
        }
        assert!(Instant::now() < deadline, "never joined");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let bob = welcome.player_id;
    tokio::time::timeout(
        PATIENCE,
        ada.wait_event(
            |e| matches!(e, EventKind::Joined { player, name, .. } if *player == bob && name.as_str() == "bob"),
        ),
    )
    .await
    .expect("bob joined ada's match, not a second room of the same name");
    // Bob's seat is counted by a's registration task, within a quarter of a second.
    eventually(PATIENCE, "\"one\" listed on a with ada and bob", || async {
        b.rooms().await.get("one") == Some(&("a".to_string(), 2))
    })
    .await;

    // Matchmaking finds the running match meanwhile: only new rooms wait for the settle
    // period (a third of the TTL, from the nodes' return), not joins into rooms written back.
    let deadline = Instant::now() + PATIENCE;
    let (any, _cyd) = loop {
        match try_join(open(&c.url()).await, hello(Role::Player, "cyd")).await {
            Ok(joined) => break joined,
            Err(closed) => closed.assert_is(1013, None, ""),
        }
        assert!(Instant::now() < deadline, "matchmaking waited for the settle period");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(any.room.as_str(), "one");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rooms_placed_on_a_node_that_could_not_open_them_leave_the_directory() {
    // One room per node: concurrent joins for new rooms all find room to host here, and all
    // but one are refused when the node opens them.
    let (_redis, nodes) = fleet(|config| config.max_rooms = 1).await;
    let a = &nodes[0];
    let joins = (0..8).map(|i| {
        let url = a.url();
        async move {
            let room = format!("r{i}");
            try_join(open(&url).await, hello_in(Role::Player, "p", &room)).await
        }
    });
    let results = futures_util::future::join_all(joins).await;
    let seated: Vec<_> = results.iter().filter_map(|r| r.as_ref().ok()).collect();
    assert!(!seated.is_empty(), "some joins are seated (three nodes, one room each)");
    for refused in results.iter().filter_map(|r| r.as_ref().err()) {
        refused.assert_is(1013, Some(KickReason::Full), "");
    }
    // The directory ends up listing exactly the rooms that opened, each with its player.
    eventually(PATIENCE, "only rooms that opened are listed", || async {
        let rooms = a.rooms().await;
        rooms.len() == seated.len() && rooms.values().all(|(_, players)| *players == 1)
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn spectators_open_rooms_on_a_fleet_only_while_each_node_keeps_most_for_matches() {
    // Four rooms a node, of which one may hold an audience and no players.
    let (_redis, nodes) = fleet(|config| config.max_rooms = 4).await;
    let a = &nodes[0];
    let mut watching = Vec::new();
    for room in ["w0", "w1", "w2"] {
        // All through node a: it opens the first, then the directory sends each to a node
        // still below its limit.
        watching.push(Client::join(&a.url(), hello_in(Role::Spectator, "eve", room)).await);
    }
    // (The room list is read from the directory at most once a second.)
    eventually(PATIENCE, "one audience on each node", || async {
        let rooms = a.rooms().await;
        let hosts: std::collections::BTreeSet<String> =
            rooms.into_values().map(|(node, _)| node).collect();
        hosts.len() == 3
    })
    .await;
    for via in &nodes {
        let refused = try_join(open(&via.url()).await, hello_in(Role::Spectator, "eve", "w3"))
            .await
            .expect_err("every node holds an audience-only room already");
        refused.assert_is(1013, Some(KickReason::Full), "watch one with a match on");
    }
    // Matches still open, and spectators still watch rooms that are open.
    let _player = Client::join(&nodes[1].url(), hello_in(Role::Player, "ada", "final")).await;
    let _fan = Client::join(&nodes[2].url(), hello_in(Role::Spectator, "fan", "w0")).await;
    // The refused rooms were never listed: the directory names only rooms that run.
    eventually(PATIENCE, "the match listed, and no refused room", || async {
        let listed: Vec<String> = a.rooms().await.into_keys().collect();
        listed == ["final", "w0", "w1", "w2"]
    })
    .await;
    drop(watching);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rooms_opened_for_spectators_count_against_a_node_before_its_next_heartbeat() {
    use tickwire_server::cluster::directory::{Directory, DirectoryError, Wanted};
    let redis = Redis::start();
    let host = Directory::new(&redis.url(), "host", Duration::from_millis(500)).unwrap();
    host.heartbeat(&registration("s", None, Duration::ZERO)).await.unwrap();
    let caller = Directory::new(&redis.url(), "caller", Duration::from_millis(500)).unwrap();
    caller.heartbeat(&registration("s", None, Duration::ZERO)).await.unwrap();
    let full_here =
        tickwire_server::cluster::directory::JoinLimits { audience_full: true, ..OPEN_LIMITS };
    let named = |name: &str| Wanted::Named(RoomName::truncated(name));
    // The caller holds its own limit; the host takes two (`registration`) and has none yet.
    for name in ["w0", "w1"] {
        let placed = caller.join(named(name), true, full_here, name).await.unwrap();
        assert_eq!((placed.node.as_str(), placed.created), ("host", true), "{name}");
    }
    let refused = caller.join(named("w2"), true, full_here, "w2").await;
    assert!(
        matches!(&refused, Err(DirectoryError::Redis(e)) if e.code() == Some("TICKWIRE_AUDIENCE")),
        "a third audience-only room opened between heartbeats: {refused:?}"
    );
    // A room open already is watched; a player's join still opens a room, here.
    assert_eq!(caller.join(named("w0"), true, full_here, "f").await.unwrap().node, "host");
    let placed = caller.join(named("w2"), false, full_here, "p").await.unwrap();
    assert_eq!((placed.node.as_str(), placed.created), ("caller", true));
}

/// Spectators' joins through one node, together: each counted that node's rooms before any of
/// theirs opened, so the directory holds the node to its own count too. A node rolled back to a
/// release before the limit writes none, and is held to none (not to the last one written).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_spectators_through_one_node_open_no_more_audience_rooms_than_it_takes() {
    use tickwire_server::cluster::directory::{Directory, DirectoryError, Wanted};
    let redis = Redis::start();
    let solo = Directory::new(&redis.url(), "solo", Duration::from_millis(500)).unwrap();
    solo.heartbeat(&registration("s", None, Duration::ZERO)).await.unwrap();
    let named = |name: &str| Wanted::Named(RoomName::truncated(name));
    // The node's own view (`audience_full: false`) is stale for all three: it takes two.
    for name in ["w0", "w1"] {
        let placed = solo.join(named(name), true, OPEN_LIMITS, name).await.unwrap();
        assert_eq!((placed.node.as_str(), placed.created), ("solo", true), "{name}");
    }
    let refused = solo.join(named("w2"), true, OPEN_LIMITS, "w2").await;
    assert!(
        matches!(&refused, Err(DirectoryError::Redis(e)) if e.code() == Some("TICKWIRE_AUDIENCE")),
        "a third audience-only room opened: {refused:?}"
    );
    // Rolled back: its heartbeats renew `beat` and leave the limit's fields as they were.
    assert_eq!(redis.call("HSET tickwire:node:solo beat 1"), ":0");
    let placed = solo.join(named("w2"), true, OPEN_LIMITS, "w2").await.unwrap();
    assert!(placed.created, "held to no limit it did not write");
}

/// A node's heartbeat for the directory tests below.
fn registration<'a>(
    secret_candidate: &'a str,
    known_secret: Option<&'a str>,
    settle: Duration,
) -> tickwire_server::cluster::directory::Registration<'a> {
    tickwire_server::cluster::directory::Registration {
        url: "ws://127.0.0.1:9/ws",
        ttl: Duration::from_secs(30),
        draining: false,
        rooms: 0,
        max_rooms: 8,
        audience_rooms: 0,
        audience_room_limit: 2,
        secret_candidate,
        known_secret,
        settle,
        join: "none",
    }
}

/// `node`'s heartbeat (`registration(candidate, Some(secret), settle)`) after Redis restarted:
/// its connection learns of the restart by failing once, then reconnects.
async fn heartbeat_back(
    node: &tickwire_server::cluster::directory::Directory,
    candidate: &str,
    secret: &str,
    settle: Duration,
) -> tickwire_server::cluster::directory::Beat {
    let beat = registration(candidate, Some(secret), settle);
    match node.heartbeat(&beat).await {
        Ok(beat) => beat,
        Err(_) => node.heartbeat(&beat).await.unwrap(),
    }
}

const OPEN_LIMITS: tickwire_server::cluster::directory::JoinLimits =
    tickwire_server::cluster::directory::JoinLimits {
        may_host: true,
        draining: false,
        audience_full: false,
        capacity: 2,
        max_spectators: 8,
        promise: Duration::from_secs(30),
    };

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_redis_lost_its_data_a_node_starting_for_the_first_time_opens_no_room_meanwhile() {
    use tickwire_server::cluster::directory::{Directory, DirectoryError, Wanted};
    let mut redis = Redis::start();
    let old = Directory::new(&redis.url(), "old", Duration::from_millis(500)).unwrap();
    let fleet = old.heartbeat(&registration("first", None, Duration::ZERO)).await.unwrap();
    assert_eq!(fleet.secret, "first");
    redis.kill();
    redis.restart();

    // A node that never ran registers first, then the old node comes back: the directory
    // no longer holds the secret the old node knew, so it lost its data, and rooms of nodes
    // not back yet are missing from it.
    let new = Directory::new(&redis.url(), "new", Duration::from_millis(500)).unwrap();
    new.heartbeat(&registration("second", None, Duration::ZERO)).await.unwrap();
    let settle = Duration::from_secs(30);
    // The old node's connection learns of the restart by failing once, then reconnects.
    let back = match old.heartbeat(&registration("first", Some(&fleet.secret), settle)).await {
        Ok(beat) => beat,
        Err(_) => old.heartbeat(&registration("first", Some(&fleet.secret), settle)).await.unwrap(),
    };
    assert!(!back.was_registered);
    let named = |name: &str| Wanted::Named(RoomName::truncated(name));
    for (node, name) in [(&new, "lost-1"), (&old, "lost-2")] {
        let refused = node.join(named(name), false, OPEN_LIMITS, "p").await;
        assert!(
            matches!(&refused, Err(DirectoryError::Redis(e)) if e.code() == Some("TICKWIRE_SETTLING")),
            "{} opened a room while the fleet writes its rooms back: {refused:?}",
            node.node()
        );
    }
    assert!(new.join(Wanted::Any, false, OPEN_LIMITS, "p").await.is_err());
}

/// A heartbeat of a node that left may reach Redis after its goodbye (sent before it, and
/// answered late while Redis stalled): it lists the node no more. A restart of the node is
/// another process, which registers as ever.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_late_heartbeat_of_a_node_that_left_does_not_list_it_again() {
    use tickwire_server::cluster::directory::{Directory, DirectoryError};
    let redis = Redis::start();
    let left = Directory::new(&redis.url(), "left", Duration::from_millis(500)).unwrap();
    left.heartbeat(&registration("s", None, Duration::ZERO)).await.unwrap();
    left.deregister().await.unwrap();
    let late = left.heartbeat(&registration("s", None, Duration::ZERO)).await;
    assert!(
        matches!(&late, Err(DirectoryError::Redis(e)) if e.code() == Some("TICKWIRE_LEFT")),
        "{late:?}"
    );
    assert_eq!(redis.call("ZSCORE tickwire:nodes left"), "$-1", "not listed");
    let restarted = Directory::new(&redis.url(), "left", Duration::from_millis(500)).unwrap();
    restarted.heartbeat(&registration("s", None, Duration::ZERO)).await.unwrap();
    assert_ne!(redis.call("ZSCORE tickwire:nodes left"), "$-1", "listed again");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_whose_registration_lapsed_holds_back_only_itself() {
    use tickwire_server::cluster::directory::{Directory, Wanted};
    let redis = Redis::start();
    let lapsed = Directory::new(&redis.url(), "lapsed", Duration::from_millis(500)).unwrap();
    let other = Directory::new(&redis.url(), "other", Duration::from_millis(500)).unwrap();
    let fleet = lapsed.heartbeat(&registration("s", None, Duration::ZERO)).await.unwrap();
    other.heartbeat(&registration("t", None, Duration::ZERO)).await.unwrap();
    // Its registration lapses (as after a stall longer than its TTL).
    assert_eq!(redis.call("ZREM tickwire:nodes lapsed"), ":1");
    assert_eq!(redis.call("DEL tickwire:node:lapsed"), ":1");

    let settle = Duration::from_secs(30);
    let back = lapsed.heartbeat(&registration("s", Some(&fleet.secret), settle)).await.unwrap();
    assert!(!back.was_registered);
    let named = |name: &str| Wanted::Named(RoomName::truncated(name));
    let placed = lapsed.join(named("fresh"), false, OPEN_LIMITS, "p").await.unwrap();
    assert_eq!((placed.created, placed.node.as_str()), (true, "other"), "{placed:?}");
    let placed = other.join(named("fresh-2"), false, OPEN_LIMITS, "p").await.unwrap();
    assert_eq!((placed.created, placed.node.as_str()), (true, "other"), "{placed:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lobbies_polling_the_room_list_cost_redis_one_reading_a_second() {
    let redis = Redis::start();
    let a = Node::start(node_config("a", &redis));
    await_nodes(&a, &["a"]).await;
    let _player = Client::join(&a.url(), hello_in(Role::Player, "ada", "listed")).await;
    eventually(PATIENCE, "the room is listed", || async { a.rooms().await.contains_key("listed") })
        .await;
    let before = redis.script_calls();
    let started = Instant::now();
    let asked = futures_util::future::join_all((0..100).map(|_| a.get("/rooms"))).await;
    let after = redis.script_calls();
    let seconds = started.elapsed().as_secs_f64().ceil() as u64;
    for (status, head, body) in &asked {
        assert_eq!(*status, 200, "{head}");
        assert!(body.contains("\"listed\""), "{body}");
    }
    // Without the shared reading, 100 scripts. With it, a reading a second, and the node's own
    // writes meanwhile: counts every 250 ms, a heartbeat every 667 ms, a reconcile every 2 s.
    let allowed = 2 + 8 * seconds;
    let spent = after - before;
    assert!(spent <= allowed, "{spent} scripts for 100 room lists in {seconds} s");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_room_opened_for_a_joiner_who_never_arrives_leaves_the_directory() {
    use tickwire_server::cluster::directory::{Directory, Wanted};
    let redis = Redis::start();
    let a = Node::start(node_config("a", &redis));
    await_nodes(&a, &["a"]).await;
    let _player = Client::join(&a.url(), hello_in(Role::Player, "ada", "real")).await;
    // Another node's join placed "ghost" on a, and its joiner never got there (a could not
    // be reached from it): the directory lists a room a does not host.
    let placing = Directory::new(&redis.url(), "a", Duration::from_millis(500)).unwrap();
    let placed =
        placing.join(Wanted::Named(RoomName::truncated("ghost")), false, OPEN_LIMITS, "p").await;
    let placed = placed.unwrap();
    assert!(placed.created && placed.node == "a", "{placed:?}");
    eventually(PATIENCE, "the ghost is listed", || async { a.rooms().await.contains_key("ghost") })
        .await;
    // Gone once its promise has lapsed (15 s) and a has reconciled (every TTL).
    eventually(Duration::from_secs(15) + TTL * 3, "the ghost leaves", || async {
        !a.rooms().await.contains_key("ghost")
    })
    .await;
    assert!(a.rooms().await.contains_key("real"), "the room a hosts stays");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn promises_given_back_in_one_call_free_every_seat() {
    use tickwire_server::cluster::directory::{Directory, Wanted};
    let redis = Redis::start();
    let directory = Directory::new(&redis.url(), "solo", Duration::from_millis(500)).unwrap();
    directory.heartbeat(&registration("secret", None, Duration::ZERO)).await.unwrap();
    let join = |id: &'static str| directory.join(Wanted::Any, false, OPEN_LIMITS, id);
    let first = join("p1").await.unwrap();
    assert!(first.created);
    assert_eq!(join("p2").await.unwrap().room, first.room);
    let other = join("p3").await.unwrap();
    assert!(other.created && other.room != first.room, "both seats of the first are promised");
    directory.release(&first.room, &["p1", "p2"]).await.unwrap();
    // Three more seats: the other room's last, then the first room's two, given back.
    let rooms: Vec<_> = [join("p4").await, join("p5").await, join("p6").await]
        .into_iter()
        .map(|placed| placed.unwrap())
        .collect();
    assert!(rooms.iter().all(|p| !p.created), "no room opened: {rooms:?}");
    assert_eq!(rooms.iter().filter(|p| p.room == first.room).count(), 2, "{rooms:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_relayed_client_that_breaks_the_protocol_loses_its_seat_as_on_one_server() {
    // A resume grace past the test's patience: a seat kept for a resume shows as a failure.
    let (_redis, nodes) = fleet(|config| config.resume_grace = Duration::from_secs(60)).await;
    let [a, _, c] = &nodes[..] else { unreachable!() };
    let mut ada = Client::join(&a.url(), hello_in(Role::Player, "ada", "strict")).await;
    let mut cyd = Client::join(&c.url(), hello_in(Role::Player, "cyd", "strict")).await;
    cyd.next_world().await;
    let cyd_id = cyd.welcome.player_id;
    // A text frame: tickwire is binary only. Close 1003, and the seat ends at once on a.
    cyd.ws.send(Message::Text("hello?".into())).await.unwrap();
    cyd.closed().await.assert_is(1003, None, "binary");
    tokio::time::timeout(PATIENCE, ada.wait_left(cyd_id))
        .await
        .expect("the seat ends at once, not after the resume grace");
}

/// A fallback client (`from`, an address other than the nodes' own) whose poll session is
/// opened on `open_on`, whose polls then go to each of `polls` in turn, and whose POSTs go to
/// `posts`: what a load balancer that lost affinity does to it.
async fn roaming_poll_client(
    open_on: SocketAddr,
    polls: &[SocketAddr],
    posts: SocketAddr,
    from: std::net::IpAddr,
) -> fallback_client::Fallback {
    use fallback_client::{Down, Records, SESSION, http, request};
    use http_body_util::BodyExt;
    let mut opener = http(open_on, from).await;
    let response =
        opener.send_request(request("GET", "/fallback/poll", None, vec![])).await.unwrap();
    assert_eq!(response.status(), 200, "the session opens");
    let session = response.headers()[SESSION].to_str().unwrap().to_string();
    let first = response.into_body().collect().await.unwrap().to_bytes();
    let mut records = Records::default();
    let mut out = Vec::new();
    records.push(&first, &mut out);
    assert_eq!(out, [Down::Heartbeat]);
    let mut conns = Vec::new();
    for addr in polls {
        conns.push(http(*addr, from).await);
    }
    let (tx, down) = tokio::sync::mpsc::unbounded_channel();
    let polled = session.clone();
    let turns = conns.len();
    let reader = tokio::spawn(async move {
        // One poll at a time, each to the next node: a refused poll ends the downstream, and
        // the test's next read fails saying so.
        for turn in 0.. {
            let conn = &mut conns[turn % turns];
            if conn.ready().await.is_err() {
                eprintln!("poll connection {turn} closed");
                return;
            }
            let req = request("GET", "/fallback/poll", Some(&polled), vec![]);
            let response = conn.send_request(req).await.expect("the poll is answered");
            if response.status() != 200 {
                eprintln!("poll {turn} answered {}", response.status());
                return;
            }
            let body = response.into_body().collect().await.unwrap().to_bytes();
            let mut out = Vec::new();
            records.push(&body, &mut out);
            let closed = out.iter().any(|d| matches!(d, Down::Close(..)));
            for down in out {
                let _ = tx.send(down);
            }
            if closed {
                return;
            }
        }
    });
    fallback_client::Fallback {
        addr: posts,
        from,
        session,
        down,
        reader,
        posts: http(posts, from).await,
        posts_closed: false,
        worlds: tickwire_shared::delta::WorldHistory::new(30),
        welcome: None,
        kick: None,
        next_seq: 1,
        events: Vec::new(),
        last_acked: None,
    }
}

/// Sends the `Hello` and reads the `Welcome`.
async fn roaming_join(client: &mut fallback_client::Fallback, hello: tickwire_shared::Hello) {
    use fallback_client::Down;
    use tickwire_shared::{ClientMessage, ServerMessage};
    client.send(&ClientMessage::Hello(hello)).await;
    match client.next().await {
        Down::Message(ServerMessage::Welcome(welcome)) => client.welcome = Some(welcome),
        other => panic!("expected Welcome, got {other:?}"),
    }
}

/// A fallback request from `from` to `addr` naming `session`, with `extra` headers: its status
/// and body.
async fn session_request(
    addr: SocketAddr,
    from: std::net::IpAddr,
    method: &str,
    path: &str,
    session: &str,
    extra: &[(&str, &str)],
) -> (u16, String) {
    use http_body_util::BodyExt;
    let mut conn = fallback_client::http(addr, from).await;
    let mut req = fallback_client::request(method, path, Some(session), vec![]);
    for (name, value) in extra {
        req.headers_mut().insert(
            hyper::header::HeaderName::from_bytes(name.as_bytes()).unwrap(),
            value.parse().unwrap(),
        );
    }
    let response = conn.send_request(req).await.unwrap();
    let status = response.status().as_u16();
    let body = response.into_body().collect().await.unwrap().to_bytes();
    (status, String::from_utf8_lossy(&body).into_owned())
}

/// Not a node's address: the node holding a session must check the client's, not the address
/// of the node that forwarded its request (127.0.0.1).
fn roamer() -> std::net::IpAddr {
    "127.0.0.2".parse().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fallback_requests_are_passed_on_while_redis_is_away() {
    let (mut redis, nodes) = fleet(|_| {}).await;
    let [a, b, _] = &nodes[..] else { unreachable!() };
    let mut guest = roaming_poll_client(a.addr, &[a.addr], b.addr, roamer()).await;
    roaming_join(&mut guest, hello_in(Role::Player, "roamer", "away")).await;
    guest.play_until_applied().await;
    // Redis goes away. b answers from its last good reading of the fleet's nodes for a node's
    // TTL, without asking Redis; past it, b reads again, fails, and still passes the request on
    // by that last good reading: a node that did not answer would only refuse it.
    redis.kill();
    let killed = tokio::time::Instant::now();
    eventually(PATIENCE, "b cannot read the fleet", || async { b.get("/nodes").await.0 == 503 })
        .await;
    // b's last good reading was taken before Redis went away: once a TTL has passed since,
    // it is too old to be used without asking Redis first.
    tokio::time::sleep_until(killed + TTL + Duration::from_millis(100)).await;
    let (status, text) =
        session_request(b.addr, roamer(), "POST", "/fallback/send", &guest.session, &[]).await;
    assert_eq!(status, 204, "{text}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fallback_client_whose_requests_land_on_other_nodes_plays_on() {
    let (_redis, nodes) = fleet(|_| {}).await;
    let [a, b, c] = &nodes[..] else { unreachable!() };
    // Opened on a, then polled through b, c and a in turn, and every POST through b.
    let mut guest = roaming_poll_client(a.addr, &[b.addr, c.addr, a.addr], b.addr, roamer()).await;
    roaming_join(&mut guest, hello_in(Role::Player, "roamer", "roam")).await;
    let applied = guest.play_until_applied().await;
    assert!(applied.0 >= 1, "an input sent through b applied");
    // More polls, until one went through c too.
    let deadline = Instant::now() + PATIENCE;
    while c.metric("tickwire_fallback_forwarded_total").await < 1.0 {
        assert!(Instant::now() < deadline, "c forwards its polls");
        guest.next().await;
    }
    assert!(b.metric("tickwire_fallback_forwarded_total").await >= 3.0, "b forwards");
    assert_eq!(a.metric("tickwire_fallback_forwarded_total").await, 0.0, "a holds it");
    // The session stays bound to its client's address through a hop: b passes the request on
    // for the address it came from, and a does not find the session for it.
    // (Counted where a refuses it: b's forwards also count the guest's own polls, which go on
    // meanwhile.)
    let elsewhere = "127.0.0.3".parse().unwrap();
    let unknown = r#"tickwire_refused_total{reason="unknown_session"}"#;
    let refused = a.metric(unknown).await;
    let (status, _) =
        session_request(b.addr, elsewhere, "POST", "/fallback/send", &guest.session, &[]).await;
    assert_eq!(status, 404, "another address does not find the session through b");
    assert_eq!(a.metric(unknown).await, refused + 1.0, "a refused it: b passed it on");
    // A leave through b is the session's close, answered down the polls.
    let (status, text) = guest.post(fallback_client::close_record(1000, "bye")).await;
    assert_eq!(status, 204, "{text}");
    let (code, _, _) = guest.closed().await;
    assert_eq!(code, 1000);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_draining_nodes_fallback_sessions_are_reached_through_the_others() {
    // The drain outlasts the test: the match ends because the guest leaves.
    let (_redis, mut nodes) = fleet(|config| config.drain_timeout = Duration::from_secs(60)).await;
    let b = nodes.remove(1);
    let a = nodes.remove(0);
    let a_addr = a.addr;
    // Opened on a; once a drains the load balancer sends everything to b.
    let mut guest = roaming_poll_client(a_addr, &[b.addr], b.addr, roamer()).await;
    roaming_join(&mut guest, hello_in(Role::Player, "stayer", "drained")).await;
    guest.play_until_applied().await;
    let terminated = tokio::spawn(a.terminate());
    await_draining(a_addr).await;
    let forwarded = b.metric("tickwire_fallback_forwarded_total").await;
    // Inputs sent through b while a drains are still applied by a.
    let before = guest.input(100).await;
    loop {
        if let fallback_client::Down::Message(tickwire_shared::ServerMessage::Snapshot(snap)) =
            guest.next().await
            && snap.header.last_input.0 >= before.0
        {
            break;
        }
    }
    assert!(b.metric("tickwire_fallback_forwarded_total").await > forwarded);
    let (status, text) = guest.post(fallback_client::close_record(1000, "bye")).await;
    assert_eq!(status, 204, "{text}");
    assert_eq!(guest.closed().await.0, 1000);
    // Its last match over, a leaves.
    tokio::time::timeout(PATIENCE, terminated).await.expect("a drained").unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fallback_requests_with_a_forged_hop_or_a_session_of_no_live_node_are_refused() {
    use fallback_client::{Fallback, Mode};
    let (_redis, nodes) = fleet(|_| {}).await;
    let session = Fallback::open(nodes[0].addr, Mode::Poll).await.session.clone();
    let localhost = "127.0.0.1".parse().unwrap();
    let forged = [("x-tickwire-hop", "guessed"), ("x-tickwire-client", "127.0.0.1")];
    for node in &nodes {
        let (status, body) =
            session_request(node.addr, localhost, "POST", "/fallback/send", &session, &forged)
                .await;
        assert_eq!(status, 403, "{}: {body}", node.id);
        assert!(body.contains("not a node of this fleet"), "{body}");
        assert_eq!(node.metric("tickwire_refused_total{reason=\"hop\"}").await, 1.0);
    }
    // A tag no node of the fleet has: no node to forward to.
    let orphan = format!("ffffffff{}", &session[8..]);
    let tag = tickwire_server::fallback::session::node_tag;
    assert!(nodes.iter().all(|node| tag(&node.id) != [0xff; 4]));
    let a_tag: String = tag("a").iter().map(|b| format!("{b:02x}")).collect();
    assert!(session.starts_with(&a_tag), "ids carry their node's tag: {session}");
    for node in &nodes {
        for (method, path) in [("POST", "/fallback/send"), ("GET", "/fallback/poll")] {
            let (status, body) =
                session_request(node.addr, localhost, method, path, &orphan, &[]).await;
            assert_eq!(status, 404, "{} {method}: {body}", node.id);
        }
        assert_eq!(node.metric("tickwire_fallback_forwarded_total").await, 0.0);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_forwarded_fallback_request_is_never_forwarded_again() {
    let (redis, nodes) = fleet(|_| {}).await;
    let [a, b, _] = &nodes[..] else { unreachable!() };
    let guest = roaming_poll_client(a.addr, &[a.addr], a.addr, roamer()).await;
    let secret = redis.secret();
    let hop = |client: &'static str| {
        [("x-tickwire-hop", secret.clone()), ("x-tickwire-client", client.to_string())]
    };
    let send = |node: &Node, hop: [(&'static str, String); 2]| {
        let (addr, session) = (node.addr, guest.session.clone());
        async move {
            let extra: Vec<(&str, &str)> = hop.iter().map(|(n, v)| (*n, v.as_str())).collect();
            session_request(
                addr,
                "127.0.0.1".parse().unwrap(),
                "POST",
                "/fallback/send",
                &session,
                &extra,
            )
            .await
        }
    };
    // The owner takes a verified hop's word for who the client is, from the node's address.
    assert_eq!(send(a, hop("127.0.0.2")).await.0, 204, "the hop speaks for the session's client");
    assert_eq!(send(a, hop("127.0.0.3")).await.0, 404, "the hop speaks for another address");
    // A node that does not hold the session never forwards a forwarded request again.
    assert_eq!(send(b, hop("127.0.0.2")).await.0, 404, "not forwarded twice");
    assert_eq!(b.metric("tickwire_fallback_forwarded_total").await, 0.0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_resume_relayed_for_a_seat_that_ended_opens_no_room_outside_the_directory() {
    use tickwire_server::cluster::directory::Directory;
    let (redis, nodes) = fleet(|config| config.room_capacity = 2).await;
    let [a, b, _] = &nodes[..] else { unreachable!() };
    let _ada = Client::join(&a.url(), hello_in(Role::Player, "ada", "home")).await;
    let _bob = Client::join(&a.url(), hello_in(Role::Player, "bob", "home")).await;
    // The directory lists a seat of a's in "home" that a no longer holds: it ended as b read
    // the directory, before a wrote its token's removal.
    let token = tickwire_shared::ResumeToken([0x77; 16]);
    let as_a = Directory::new(&redis.url(), "a", Duration::from_millis(500)).unwrap();
    as_a.write_tokens(TTL, &[(token, RoomName::truncated("home"))], &[], false).await.unwrap();
    // Matchmaking with that token through b: relayed to a, which neither matchmakes among its
    // own rooms ("home" is full: it would open one the directory never placed there) nor
    // seats it without the directory's promise. The client is told to try again.
    let hello = tickwire_shared::Hello { resume: Some(token), ..hello(Role::Player, "cyd") };
    let refused = try_join(open(&b.url()).await, hello).await.expect_err("no seat to resume");
    refused.assert_is(1013, Some(KickReason::Full), "try again");
    assert_eq!(a.metric("tickwire_rooms").await, 1.0, "a opened no room of its own");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hosting_node_at_its_connection_limit_is_busy_not_unreachable() {
    let (_redis, nodes) = fleet(|config| {
        if config.node_id.as_deref() == Some("a") {
            config.max_connections = 1;
        }
    })
    .await;
    let [a, b, _] = &nodes[..] else { unreachable!() };
    let _ada = Client::join(&a.url(), hello_in(Role::Player, "ada", "packed")).await;
    // a refuses b's relay at the door (503), as it refuses a client of its own: the client
    // hears the same, try again later, without the `Kick { Full }` that ends a first join.
    let refused = try_join(open(&b.url()).await, hello_in(Role::Player, "bob", "packed"))
        .await
        .expect_err("a takes no second session");
    refused.assert_is(1013, None, "server is at its connection limit");
}

/// What the stand-in hosting node of the test below saw.
#[derive(Debug, PartialEq, Eq)]
enum Seen {
    Hello,
    Closed(Option<u16>),
}

/// A stand-in node that upgrades a relay's connection and never answers its `Hello` (hung, or
/// too busy); it reports what it reads.
async fn silent_node() -> (SocketAddr, tokio::sync::mpsc::UnboundedReceiver<Seen>) {
    stand_in_node(None).await
}

/// A stand-in node that upgrades a relay's connection and answers its `Hello` with `answer`
/// and close 1002 (a node of another release: `Kick { VersionMismatch }`), or never (`None`);
/// it reports what it reads.
async fn stand_in_node(
    answer: Option<Vec<u8>>,
) -> (SocketAddr, tokio::sync::mpsc::UnboundedReceiver<Seen>) {
    use futures_util::StreamExt;
    use tokio_tungstenite::tungstenite::handshake::server::{ErrorResponse, Request, Response};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (seen, saw) = tokio::sync::mpsc::unbounded_channel();
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let seen = seen.clone();
            let reply = answer.clone();
            tokio::spawn(async move {
                #[allow(clippy::result_large_err)] // tungstenite's callback's own type
                let answer = |_: &Request, mut response: Response| {
                    let protocol = tickwire_shared::SUBPROTOCOL.parse().unwrap();
                    response.headers_mut().insert("sec-websocket-protocol", protocol);
                    Ok::<_, ErrorResponse>(response)
                };
                let Ok(mut ws) = tokio_tungstenite::accept_hdr_async(stream, answer).await else {
                    return;
                };
                while let Some(Ok(message)) = ws.next().await {
                    let _ = match message {
                        Message::Binary(_) => {
                            if let Some(reply) = &reply {
                                let _ = ws.send(Message::Binary(reply.clone().into())).await;
                                let close =
                                    CloseFrame { code: CloseCode::Protocol, reason: "".into() };
                                let _ = ws.close(Some(close)).await;
                            }
                            seen.send(Seen::Hello)
                        }
                        Message::Close(frame) => {
                            seen.send(Seen::Closed(frame.map(|f| u16::from(f.code))))
                        }
                        _ => Ok(()),
                    };
                }
            });
        }
    });
    (addr, saw)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_join_being_relayed_stops_with_its_node() {
    use tickwire_server::cluster::directory::{Directory, Wanted};
    let redis = Redis::start();
    let mut config = node_config("b", &redis);
    // Past the test's patience: a b whose shutdown waited for the join would not return
    // sooner for its shutdown giving up.
    config.shutdown_timeout = Duration::from_secs(60);
    let b = Node::start(config);
    await_nodes(&b, &["b"]).await;
    // Node z hosts "hung" and never answers a Hello.
    let (z_addr, mut z_saw) = silent_node().await;
    let z = Directory::new(&redis.url(), "z", Duration::from_millis(500)).unwrap();
    let z_url = format!("ws://{z_addr}/ws");
    let z_registration = tickwire_server::cluster::directory::Registration {
        url: &z_url,
        ..registration("z", None, Duration::ZERO)
    };
    z.heartbeat(&z_registration).await.unwrap();
    let hung = Wanted::Named(RoomName::truncated("hung"));
    assert_eq!(z.join(hung, false, OPEN_LIMITS, "p").await.unwrap().node, "z");

    let mut ws = open(&b.url()).await;
    let hello = hello_in(Role::Player, "ada", "hung");
    send_raw(&mut ws, &tickwire_shared::ClientMessage::Hello(hello)).await;
    let relayed = tokio::time::timeout(PATIENCE, z_saw.recv()).await.expect("b relays the Hello");
    assert_eq!(relayed, Some(Seen::Hello));
    // b stops while it waits for z's answer (11 s at most, from just before z got the Hello).
    // All that follows is done within PATIENCE from there: a join that waited for z's answer
    // would let z go only once it is overdue, and b's shutdown, which waits for its tasks
    // (for a minute), would return only after that.
    let deadline = tokio::time::Instant::now() + PATIENCE;
    let terminated = tokio::spawn(b.terminate());
    let closed = tokio::time::timeout_at(deadline, closed_with(&mut ws, None))
        .await
        .expect("told to come back at once");
    closed.assert_is(1001, Some(KickReason::ShuttingDown), "shutting down");
    // The join stops too: it lets z go at once (a fresh joiner never learns its seat's token:
    // should z seat it late, the close ends the seat), and b's shutdown does not wait for it.
    let let_go = tokio::time::timeout_at(deadline, z_saw.recv())
        .await
        .expect("b lets go of z when it stops, not when z's answer is overdue");
    assert_eq!(let_go, Some(Seen::Closed(Some(1000))));
    tokio::time::timeout_at(deadline, terminated)
        .await
        .expect("b's shutdown does not wait for the join")
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_redis_lost_its_data_the_fleet_keeps_its_secret_and_settles_until_the_last_node_is_back()
 {
    use tickwire_server::cluster::directory::{Directory, DirectoryError, Wanted};
    let mut redis = Redis::start();
    let one = Directory::new(&redis.url(), "one", Duration::from_millis(500)).unwrap();
    let two = Directory::new(&redis.url(), "two", Duration::from_millis(500)).unwrap();
    let secret = one.heartbeat(&registration("s-one", None, Duration::ZERO)).await.unwrap().secret;
    assert_eq!(
        two.heartbeat(&registration("s-two", None, Duration::ZERO)).await.unwrap().secret,
        secret
    );
    redis.kill();
    redis.restart();

    // The first node back holds the fleet back for a short settle; it writes the fleet's secret
    // back, not a candidate of its own.
    let first = heartbeat_back(&one, "s-one-again", &secret, Duration::from_millis(600)).await;
    assert!(!first.was_registered);
    assert_eq!(first.secret, secret);
    // The second finds the secret it knew, yet comes back from the same loss while the fleet
    // settles: the settle runs from its return.
    let second = heartbeat_back(&two, "s-two-again", &secret, Duration::from_secs(30)).await;
    assert!(!second.was_registered);
    assert_eq!(second.secret, secret);
    tokio::time::sleep(Duration::from_millis(900)).await;
    let new = Directory::new(&redis.url(), "new", Duration::from_millis(500)).unwrap();
    new.heartbeat(&registration("s-new", None, Duration::ZERO)).await.unwrap();
    let refused =
        new.join(Wanted::Named(RoomName::truncated("lost")), false, OPEN_LIMITS, "p").await;
    assert!(
        matches!(&refused, Err(DirectoryError::Redis(e)) if e.code() == Some("TICKWIRE_SETTLING")),
        "a room opened while the second node writes its rooms back: {refused:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_back_after_the_first_nodes_settle_still_holds_the_fleet_back() {
    use tickwire_server::cluster::directory::{Directory, DirectoryError, Wanted};
    let mut redis = Redis::start();
    let one = Directory::new(&redis.url(), "one", Duration::from_millis(500)).unwrap();
    let late = Directory::new(&redis.url(), "late", Duration::from_millis(500)).unwrap();
    let secret = one.heartbeat(&registration("s-one", None, Duration::ZERO)).await.unwrap().secret;
    late.heartbeat(&registration("s-late", None, Duration::ZERO)).await.unwrap();
    redis.kill();
    redis.restart();
    let back = async |node, settle| heartbeat_back(node, "candidate", &secret, settle).await;
    // The first node's settle is over before the late one returns: the late one finds the
    // secret it knew (the first restored it), yet its rooms are not written back yet.
    assert_eq!(back(&one, Duration::from_millis(300)).await.secret, secret);
    tokio::time::sleep(Duration::from_millis(600)).await;
    let returned = back(&late, Duration::from_secs(30)).await;
    assert!(!returned.was_registered);
    let refused =
        one.join(Wanted::Named(RoomName::truncated("lost")), false, OPEN_LIMITS, "p").await;
    assert!(
        matches!(&refused, Err(DirectoryError::Redis(e)) if e.code() == Some("TICKWIRE_SETTLING")),
        "a room opened while the late node writes its rooms back: {refused:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_join_refused_for_a_passing_fleet_fault_gets_1013_without_a_kick() {
    // `Kick { Full }` ends a first join in both SDKs (a full room is final); a plain 1013 is
    // retried. A node that cannot reach a room's host, or the directory, is no full room.
    use tickwire_server::cluster::directory::{Directory, Registration, Wanted};
    let mut redis = Redis::start();
    let b = Node::start(node_config("b", &redis));
    await_nodes(&b, &["b"]).await;
    // Node z hosts "gone", and nothing answers at its URL.
    let nobody = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap();
    let z = Directory::new(&redis.url(), "z", Duration::from_millis(500)).unwrap();
    let z_url = format!("ws://{nobody}/ws");
    z.heartbeat(&Registration { url: &z_url, ..registration("z", None, Duration::ZERO) })
        .await
        .unwrap();
    let gone = Wanted::Named(RoomName::truncated("gone"));
    assert_eq!(z.join(gone, false, OPEN_LIMITS, "p").await.unwrap().node, "z");
    let refused = try_join(open(&b.url()).await, hello_in(Role::Player, "ada", "gone"))
        .await
        .expect_err("z cannot be reached");
    refused.assert_is(1013, None, "unreachable");

    redis.kill();
    let refused = try_join(open(&b.url()).await, hello_in(Role::Player, "bob", "new"))
        .await
        .expect_err("a new room needs the directory");
    refused.assert_is(1013, None, "room directory unavailable");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_live_node_with_the_same_id_stays_out_of_the_fleet() {
    let redis = Redis::start();
    let first = Node::start(node_config("a", &redis));
    await_nodes(&first, &["a"]).await;
    let _ada = Client::join(&first.url(), hello_in(Role::Player, "ada", "home")).await;
    eventually(PATIENCE, "\"home\" listed on a", || async {
        first.rooms().await.get("home") == Some(&("a".to_string(), 1))
    })
    .await;

    // The binary checks this before it starts: it exits, naming the flag to change.
    let taken = tickwire_server::cluster::check_node_id(&node_config("a", &redis))
        .await
        .expect_err("a live server has the id");
    assert!(taken.contains("--node-id") && taken.contains("`a`"), "{taken}");
    tickwire_server::cluster::check_node_id(&node_config("b", &redis)).await.expect("a free id");

    // Started all the same (as two racing starts would), the second finds the id held by a
    // process that keeps renewing it: it says so to the clients it cannot place (a plain 1013:
    // they try again, elsewhere) and stays out.
    let second = Node::start(node_config("a", &redis));
    eventually(PATIENCE, "the second node refuses joins, naming the duplicate id", || async {
        match try_join(open(&second.url()).await, hello_in(Role::Player, "p", "twin")).await {
            Ok(_) => false,
            Err(closed) => {
                closed.kick.is_none()
                    && closed.code == 1013
                    && closed.reason.contains("another live server")
            }
        }
    })
    .await;
    // Nor does it look ready to a load balancer, which would keep sending it players.
    let (status, _, body) = second.get("/healthz").await;
    assert_eq!(status, 503, "{body}");
    assert!(body.contains("--node-id"), "{body}");
    assert_eq!(first.get("/healthz").await.0, 200);
    // The first keeps its registration, its room and its seat's token.
    assert_eq!(redis.hget("tickwire:node:a", "url"), Some(first.url()));
    await_nodes(&first, &["a"]).await;
    assert_eq!(first.rooms().await.get("home"), Some(&("a".to_string(), 1)));
    let _bob = Client::join(&first.url(), hello_in(Role::Player, "bob", "home")).await;
    eventually(PATIENCE, "\"home\" on a with two", || async {
        first.rooms().await.get("home") == Some(&("a".to_string(), 2))
    })
    .await;
    // Stopped, the second leaves nothing of the first's behind it.
    second.terminate().await;
    assert_eq!(redis.hget("tickwire:node:a", "url"), Some(first.url()));
    await_nodes(&first, &["a"]).await;
    assert_eq!(first.rooms().await.get("home"), Some(&("a".to_string(), 2)));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_restarted_under_its_id_before_its_registration_lapsed_takes_its_place() {
    let redis = Redis::start();
    let crashed = Node::start(node_config("a", &redis));
    await_nodes(&crashed, &["a"]).await;
    crashed.kill();
    // Started again at once, as a supervisor restarts it: the directory still lists the dead
    // process for up to a TTL, which renews nothing, so the new one takes the id once it lapses.
    // The binary's check waits for that, then lets it start.
    tickwire_server::cluster::check_node_id(&node_config("a", &redis))
        .await
        .expect("a dead process's registration lapses: the id is free");
    let crashed_again = Node::start(node_config("a", &redis));
    await_nodes(&crashed_again, &["a"]).await;
    crashed_again.kill();
    // Without the binary's check, the node waits for the lapse itself.
    let again = Node::start(node_config("a", &redis));
    eventually(PATIENCE, "the restarted node is listed under its URL", || async {
        redis.hget("tickwire:node:a", "url") == Some(again.url())
    })
    .await;
    let ada = Client::join(&again.url(), hello_in(Role::Player, "ada", "back")).await;
    assert_eq!(ada.welcome.room.as_str(), "back");
    eventually(PATIENCE, "\"back\" listed on a", || async {
        again.rooms().await.get("back") == Some(&("a".to_string(), 1))
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_idle_room_costs_redis_nothing_between_heartbeats() {
    let redis = Redis::start();
    let mut config = node_config("a", &redis);
    // Heartbeats every 40 s, a reconcile every 120 s: none within this test after the first.
    config.node_ttl = Duration::from_secs(120);
    let a = Node::start(config);
    await_nodes(&a, &["a"]).await;
    let _ada = Client::join(&a.url(), hello_in(Role::Player, "ada", "idle")).await;
    let players = || redis.hget("tickwire:room:idle", "players");
    // Her seat is counted, then the promise of it is taken up (an `EVALSHA` of its own when
    // the count went out first): both written, or a script of the join comes in the second.
    let promised = || redis.call("ZCARD tickwire:room:idle:resv");
    eventually(PATIENCE, "ada counted and her promise taken up", || async {
        players().as_deref() == Some("1") && promised() == ":0"
    })
    .await;
    // The room ticks on and nobody comes or goes: nothing to write.
    let scripts = redis.script_calls();
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(redis.script_calls(), scripts, "scripts run for a room whose counts held");
    // Counts that change are written, without loading a script Redis already has.
    let loads = redis.calls("script|load");
    let mut joined = Vec::new();
    for name in ["bob", "cyd", "dan"] {
        joined.push(Client::join(&a.url(), hello_in(Role::Player, name, "idle")).await);
        let counted = (joined.len() + 1).to_string();
        eventually(PATIENCE, "the join counted", || async {
            players().as_deref() == Some(counted.as_str())
        })
        .await;
    }
    assert_eq!(redis.calls("script|load"), loads, "scripts loaded again");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_idle_rooms_tick_is_written_with_the_heartbeat() {
    let redis = Redis::start();
    let a = Node::start(node_config("a", &redis));
    await_nodes(&a, &["a"]).await;
    let _ada = Client::join(&a.url(), hello_in(Role::Player, "ada", "idle")).await;
    let tick = || redis.hget("tickwire:room:idle", "tick").and_then(|t| t.parse::<u64>().ok());
    eventually(PATIENCE, "the room is written", || async { tick().is_some() }).await;
    let first = tick().unwrap();
    eventually(PATIENCE, "the room's tick is written again", || async {
        tick().is_some_and(|t| t > first)
    })
    .await;
}

/// `method path` on `node` with the operators' token and a JSON body (unless empty).
async fn moderate(node: &Node, method: &str, path: &str, body: &str) -> (u16, String) {
    let request = format!(
        "{method} {path} HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\
         Authorization: Bearer {OPERATOR_TOKEN}\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    let (status, _, body) = http_request(node.addr, &request).await;
    (status, body)
}

const OPERATOR_TOKEN: &str = "a-fleet-operator-token-32-bytes!";

/// A ban made on one node is the fleet's: the node hosting the banned client's room removes
/// it, every node refuses it, and lifting the ban on a third node lets it back in everywhere.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_ban_made_on_one_node_holds_across_the_fleet() {
    let (_redis, nodes) = fleet(|config| {
        config.admin_token = Some(tickwire_server::config::Secret(OPERATOR_TOKEN.into()));
    })
    .await;
    let (a, b, c) = (&nodes[0], &nodes[1], &nodes[2]);
    let hello = || hello_in(Role::Player, "ada", "ban-room");
    let seated = Client::join_over(open_from(b.addr, "127.0.0.7").await, hello()).await;

    let ban = r#"{"address": "127.0.0.7", "for": "10m", "reason": "cheating"}"#;
    let (status, body) = moderate(a, "POST", "/bans", ban).await;
    assert_eq!(status, 201, "{body}");
    // Wherever its room is, and through whichever node it came, the client is removed.
    seated.closed().await.assert_is(1008, Some(KickReason::Removed), "cheating");
    // Every node refuses it (within a reading of the fleet's bans).
    for node in [b, c] {
        eventually(PATIENCE, "the ban holds on every node", || async {
            let ws = open_from(node.addr, "127.0.0.7").await;
            match try_join(ws, hello()).await {
                Err(closed) => closed.kick.is_some_and(|k| k.reason == KickReason::Removed),
                Ok(_) => false,
            }
        })
        .await;
    }
    // c may have refused it by forwarding the Hello to b, the room's node, before its own
    // reading of the fleet's bans: it lists the ban after that reading.
    eventually(PATIENCE, "c lists the fleet's ban", || async {
        let (status, body) = moderate(c, "GET", "/bans", "").await;
        status == 200 && body.contains("127.0.0.7")
    })
    .await;

    // Lifted through c: back in through b.
    let (status, body) = moderate(c, "DELETE", "/bans?address=127.0.0.7", "").await;
    assert_eq!(status, 200, "{body}");
    eventually(PATIENCE, "the lifted ban lets the client in", || async {
        let ws = open_from(b.addr, "127.0.0.7").await;
        try_join(ws, hello()).await.is_ok()
    })
    .await;
    eventually(PATIENCE, "the node that made the ban lifts it too", || async {
        moderate(a, "GET", "/bans", "").await == (200, r#"{"bans":[]}"#.to_owned())
    })
    .await;

    // Any node lists what the operators did on every node: the fleet's log.
    eventually(PATIENCE, "b lists the ban made on a and its lift on c", || async {
        let (status, body) = moderate(b, "GET", "/moderation/log", "").await;
        let log: serde_json::Value = serde_json::from_str(&body).unwrap_or_default();
        let Some(actions) = log["actions"].as_array().filter(|_| status == 200) else {
            return false;
        };
        assert_eq!(log["scope"], "fleet", "{body}");
        let done: Vec<(&str, &str)> = actions
            .iter()
            .map(|a| (a["action"].as_str().unwrap_or(""), a["node"].as_str().unwrap_or("")))
            .collect();
        if done.len() < 2 {
            return false;
        }
        assert_eq!(done, [("lift", c.id.as_str()), ("ban", a.id.as_str())], "{body}");
        assert_eq!(actions[1]["reason"], "cheating", "{body}");
        let ids: Vec<&str> = actions.iter().filter_map(|a| a["id"].as_str()).collect();
        assert!(ids.len() == 2 && ids[0] != ids[1], "the fleet's log keys its rows: {body}");
        true
    })
    .await;
}

/// The node a client reaches checks its join token; the node hosting its room trusts that.
/// A node set up without the fleet's `--join-secret` (one pod missing its variable) would
/// let anyone into every node's rooms: the hosting node refuses its relays instead, saying
/// why in its log, and the client is told to try again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_checking_join_tokens_otherwise_cannot_relay_past_the_check() {
    use tickwire_server::auth::{JoinClaims, MintKey, mint, unix_now};
    let (_redis, nodes) = fleet(|config| {
        if config.node_id.as_deref() != Some("c") {
            config.join_secret = Some("fleet-join-secret".parse().unwrap());
        }
    })
    .await;
    let (a, c) = (&nodes[0], &nodes[2]);
    let token = |name: &str| {
        let exp = unix_now() + 60;
        let claims = JoinClaims { sub: name.into(), exp, nbf: None, room: None, role: None };
        mint(&claims, &MintKey::Secret("fleet-join-secret".into())).unwrap()
    };
    // A room hosted by a node with the secret (not by c, which lets anyone into its own).
    let mut seated = Vec::new();
    let mut room = None;
    for n in 0..8 {
        let name = format!("guarded-{n}");
        let url = format!("{}?token={}", a.url(), token("ada"));
        seated.push(Client::join(&url, hello_in(Role::Player, "ada", &name)).await);
        eventually(PATIENCE, "the directory lists the room", || async {
            a.rooms().await.contains_key(&name)
        })
        .await;
        if a.rooms().await[&name].0 != "c" {
            room = Some(name);
            break;
        }
    }
    let room = room.expect("a room hosted by a or b");
    // Without a token, through c: refused by the hosting node, which c cannot pass by.
    let refused = try_join(open(&c.url()).await, hello_in(Role::Player, "mallory", &room))
        .await
        .expect_err("no token, through a node that checks none");
    refused.assert_is(1013, None, "misconfigured");
    // Through a node with the secret, a token still joins.
    let url = format!("{}?token={}", nodes[1].url(), token("bob"));
    Client::join(&url, hello_in(Role::Player, "bob", &room)).await;
    drop(seated);
}

/// A join key rotated through a fleet node by node: nodes given the new key with the old one
/// as `--join-previous-secret` relay to nodes still on the old key and to nodes already on
/// the new one alone, so joins go on through the rollout; two nodes that share no key still
/// refuse each other's relays.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nodes_on_either_side_of_a_join_key_rotation_relay_to_each_other() {
    use tickwire_server::auth::{JoinClaims, MintKey, mint, unix_now};
    let (_redis, nodes) = fleet(|config| {
        let (key, previous) = match config.node_id.as_deref() {
            Some("a") => ("new-join-secret", Some("old-join-secret")),
            Some("b") => ("old-join-secret", None),
            _ => ("new-join-secret", None),
        };
        config.join_secret = Some(key.parse().unwrap());
        config.join_previous_secret = previous.map(|p| p.parse().unwrap());
    })
    .await;
    let (a, b, c) = (&nodes[0], &nodes[1], &nodes[2]);
    let token = |name: &str, key: &str| {
        let claims = JoinClaims {
            sub: name.into(),
            exp: unix_now() + 60,
            nbf: None,
            room: None,
            role: None,
        };
        mint(&claims, &MintKey::Secret(key.into())).unwrap()
    };
    // A room on b (old key alone) and one on c (new key alone), opened there.
    let mut seated = Vec::new();
    for (node, key) in [(b, "old-join-secret"), (c, "new-join-secret")] {
        let url = format!("{}?token={}", node.url(), token("host", key));
        let room = format!("rotating-{}", node.id);
        seated.push(Client::join(&url, hello_in(Role::Player, "host", &room)).await);
        eventually(PATIENCE, "the directory lists the room on its node", || async {
            a.rooms().await.get(&room).is_some_and(|(host, _)| *host == node.id)
        })
        .await;
    }
    // Through a (both keys): a token of the old key into b's room, of the new key into c's.
    for (key, room) in [("old-join-secret", "rotating-b"), ("new-join-secret", "rotating-c")] {
        let url = format!("{}?token={}", a.url(), token("ada", key));
        seated.push(Client::join(&url, hello_in(Role::Player, "ada", room)).await);
    }
    // b and c share no key: c's room refuses a relay from b, whose token c cannot check.
    let url = format!("{}?token={}", b.url(), token("eve", "old-join-secret"));
    let refused = try_join(open(&url).await, hello_in(Role::Player, "eve", "rotating-c"))
        .await
        .expect_err("relayed from a node that shares no key");
    refused.assert_is(1013, None, "misconfigured");
    // Every node's heartbeat tells the others its prints: `/nodes` compares each node's keys
    // with the answering node's (never showing the prints), and b and c, which share no key,
    // count each other (before any player met that 1013).
    let alike = |listed: &serde_json::Value, id: &str| {
        let node = listed.as_array().unwrap().iter().find(|node| node["id"] == id).unwrap();
        node["join_keys"].as_str().unwrap_or_default().to_owned()
    };
    let (from_a, from_b) = (a.json("/nodes").await, b.json("/nodes").await);
    assert_eq!(alike(&from_a, "a"), "same", "{from_a}");
    assert_eq!(alike(&from_a, "b"), "key_in_common", "{from_a}");
    assert_eq!(alike(&from_a, "c"), "key_in_common", "{from_a}");
    assert_eq!(alike(&from_b, "c"), "no_key_in_common", "{from_b}");
    let print = tickwire_server::auth::JoinVerifier::from_secret("old-join-secret").unwrap();
    assert!(!from_b.to_string().contains(&print.prints()[0]), "no print in public: {from_b}");
    eventually(PATIENCE, "b and c count each other as strangers, a none", || async {
        a.metric("tickwire_join_key_strangers").await == 0.0
            && a.metric("tickwire_join_key_differing").await == 2.0
            && b.metric("tickwire_join_key_strangers").await == 1.0
            && c.metric("tickwire_join_key_strangers").await == 1.0
    })
    .await;
    drop(seated);
}

/// A Redis restarted without its data (as the deploy files run it) forgets the fleet's bans
/// and its moderation log: the nodes write back those they hold, so no ban is lifted by it
/// and the log still says who banned whom.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_redis_that_lost_its_data_gets_the_fleets_bans_and_log_back() {
    let (mut redis, nodes) = fleet(|config| {
        config.admin_token = Some(tickwire_server::config::Secret(OPERATOR_TOKEN.into()));
    })
    .await;
    let (a, b) = (&nodes[0], &nodes[1]);
    let ban = r#"{"name": "griefer", "for": "1h", "reason": "griefing"}"#;
    let (status, body) = moderate(a, "POST", "/bans", ban).await;
    assert_eq!(status, 201, "{body}");
    let ban = r#"{"address": "127.0.0.99", "for": "1h", "reason": "flooding"}"#;
    let (status, body) = moderate(b, "POST", "/bans", ban).await;
    assert_eq!(status, 201, "{body}");
    eventually(PATIENCE, "every node holds both bans", || async {
        let mut held = true;
        for node in &nodes {
            let body = moderate(node, "GET", "/bans", "").await.1;
            held &= body.contains("griefer") && body.contains("127.0.0.99");
        }
        held
    })
    .await;

    redis.kill();
    redis.restart();
    // A ban made at once, before the nodes' readings noticed (the first call after the
    // restart fails, and the operator tries again): the fleet's list is not that one alone.
    let ban = r#"{"name": "newcomer", "for": "1h", "reason": "spamming"}"#;
    eventually(PATIENCE, "the ban is taken", || async {
        moderate(b, "POST", "/bans", ban).await.0 == 201
    })
    .await;
    // Well past a few readings of the fleet's bans (every 2 s): still banned, everywhere.
    tokio::time::sleep(Duration::from_secs(6)).await;
    for node in &nodes {
        let (status, body) = moderate(node, "GET", "/bans", "").await;
        let all = ["griefing", "flooding", "spamming"].iter().all(|why| body.contains(why));
        assert!(status == 200 && all, "{}: {status} {body}", node.id);
        let refused = try_join(open(&node.url()).await, hello_in(Role::Player, "griefer", "r"))
            .await
            .expect_err("a banned name is refused");
        assert_eq!(refused.kick.map(|k| k.reason), Some(KickReason::Removed), "{}", node.id);
    }
    let (_, body) = moderate(b, "GET", "/moderation/log", "").await;
    let log: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(log["scope"], "fleet", "{body}");
    let actions = log["actions"].as_array().unwrap();
    let mut done: Vec<(&str, &str)> = actions
        .iter()
        .map(|a| (a["target"].as_str().unwrap_or(""), a["node"].as_str().unwrap_or("")))
        .collect();
    assert_eq!(done[0], ("newcomer", "b"), "newest first: {body}");
    done.sort_unstable();
    assert_eq!(
        done,
        [("127.0.0.99", "b"), ("griefer", "a"), ("newcomer", "b")],
        "each node's written back once: {body}"
    );
}

/// A kick's ban made while Redis is away holds on its node and says so; when Redis is back
/// (empty: restarted without its data, and another node may write its own bans back first),
/// the node writes it there, and every node holds it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_kicks_ban_made_while_redis_is_away_reaches_the_fleet_when_it_is_back() {
    let (mut redis, nodes) = fleet(|config| {
        config.admin_token = Some(tickwire_server::config::Secret(OPERATOR_TOKEN.into()));
    })
    .await;
    let hello = || hello_in(Role::Player, "ada", "outage-room");
    let ada = Client::join_over(open_from(nodes[0].addr, "127.0.0.8").await, hello()).await;
    eventually(PATIENCE, "the directory lists the room", || async {
        nodes[0].rooms().await.contains_key("outage-room")
    })
    .await;
    let host_id = nodes[0].rooms().await["outage-room"].0.clone();
    let host = nodes.iter().find(|n| n.id == host_id).unwrap();

    redis.kill();
    let kick =
        format!(r#"{{"player": {}, "reason": "griefing", "ban": "1h"}}"#, ada.welcome.player_id.0);
    let (status, body) = moderate(host, "POST", "/rooms/outage-room/kick", &kick).await;
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("banned on this node only until"), "{body}");
    ada.closed().await.assert_is(1008, Some(KickReason::Removed), "griefing");

    redis.restart();
    // Every node, the others' readings past the write-backs after the restart included.
    for node in &nodes {
        eventually(PATIENCE, "every node holds the kick's ban", || async {
            let (status, body) = moderate(node, "GET", "/bans", "").await;
            status == 200 && body.contains("127.0.0.8")
        })
        .await;
    }
    tokio::time::sleep(Duration::from_secs(6)).await;
    for node in &nodes {
        let (status, body) = moderate(node, "GET", "/bans", "").await;
        assert!(status == 200 && body.contains("127.0.0.8"), "{}: {status} {body}", node.id);
        let refused = try_join(open_from(node.addr, "127.0.0.8").await, hello())
            .await
            .expect_err("the banned address is refused");
        assert_eq!(refused.kick.map(|k| k.reason), Some(KickReason::Removed), "{}", node.id);
    }
}

/// While Redis is away, a node lists its own actions and says why; what it did meanwhile
/// reaches the fleet's log once Redis is back, and every node lists it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn actions_made_while_redis_is_away_reach_the_fleets_log_when_it_is_back() {
    let (mut redis, nodes) = fleet(|config| {
        config.admin_token = Some(tickwire_server::config::Secret(OPERATOR_TOKEN.into()));
    })
    .await;
    let ada = Client::join(&nodes[0].url(), hello_in(Role::Player, "ada", "log-room")).await;
    eventually(PATIENCE, "the directory lists the room", || async {
        nodes[0].rooms().await.contains_key("log-room")
    })
    .await;
    let host_id = nodes[0].rooms().await["log-room"].0.clone();
    let host = nodes.iter().find(|n| n.id == host_id).unwrap();
    let other = nodes.iter().find(|n| n.id != host_id).unwrap();

    redis.kill();
    // A room's seats are its node's: removing one needs no Redis.
    let kick = format!(r#"{{"player": {}, "reason": "afk"}}"#, ada.welcome.player_id.0);
    let (status, body) = moderate(host, "POST", "/rooms/log-room/kick", &kick).await;
    assert_eq!(status, 200, "{body}");
    ada.closed().await.assert_is(1008, Some(KickReason::Removed), "afk");
    let (status, body) = moderate(host, "GET", "/moderation/log", "").await;
    assert_eq!(status, 200, "{body}");
    let log: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(log["scope"], "node", "{body}");
    let warning = log["warning"].as_str().unwrap_or_default();
    assert!(warning.contains("did not answer") && warning.contains("this node's"), "{body}");
    assert_eq!(log["actions"][0]["action"], "remove", "{body}");
    assert_eq!(log["actions"][0]["node"], host_id.as_str(), "{body}");

    redis.restart();
    eventually(PATIENCE, "the removal reaches the fleet's log", || async {
        let (status, body) = moderate(other, "GET", "/moderation/log", "").await;
        let log: serde_json::Value = serde_json::from_str(&body).unwrap_or_default();
        status == 200
            && log["scope"] == "fleet"
            && log["actions"].as_array().is_some_and(|actions| {
                actions.len() == 1
                    && actions[0]["action"] == "remove"
                    && actions[0]["reason"] == "afk"
                    && actions[0]["node"] == host_id.as_str()
            })
    })
    .await;
}

/// A fleet upgrading across a protocol version runs nodes of two versions for a while: a join
/// through a new node goes only to rooms of nodes that speak its client's version, a resume
/// token held on an old node joins afresh, and a named room an old node hosts is "try again"
/// (1013), not the old node's `VersionMismatch`, which would tell a current client to update.
/// `/nodes` says which node speaks what.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fleet_upgrading_across_a_protocol_version_keeps_joins_on_nodes_that_speak_theirs() {
    use tickwire_server::cluster::directory::{Directory, Registration, Wanted};
    use tickwire_shared::{Kick, KickReason, ServerMessage, codec::encode_server};
    let redis = Redis::start();
    let b = Node::start(node_config("b", &redis));
    await_nodes(&b, &["b"]).await;
    // Node "old" speaks the protocol before this one, and refuses this one's Hello as such a
    // node does.
    let older = tickwire_shared::PROTOCOL_VERSION - 1;
    let refusal = ServerMessage::Kick(Kick {
        reason: KickReason::VersionMismatch { server: older },
        message: tickwire_shared::KickText::truncated("this server speaks an older protocol"),
    });
    let (old_addr, mut old_saw) = stand_in_node(Some(encode_server(&refusal).unwrap())).await;
    let old = Directory::new(&redis.url(), "old", Duration::from_millis(500))
        .unwrap()
        .speaking(older, "0.0.1");
    let old_url = format!("ws://{old_addr}/ws");
    old.heartbeat(&Registration { url: &old_url, ..registration("old", None, Duration::ZERO) })
        .await
        .unwrap();
    // It hosts "alpha", with a seat promised (so matchmaking would fill it first), and a seat
    // of "alpha" under a resume token.
    let alpha = RoomName::truncated("alpha");
    assert_eq!(old.join(Wanted::Named(alpha), false, OPEN_LIMITS, "p").await.unwrap().node, "old");
    let token = tickwire_shared::ResumeToken([7; 16]);
    old.write_tokens(Duration::from_secs(30), &[(token, alpha)], &[], false).await.unwrap();
    await_nodes(&b, &["b", "old"]).await;

    // Matchmaking through b passes alpha over and opens a room on b.
    let ann = Client::join(&b.url(), hello(Role::Player, "ann")).await;
    assert_ne!(ann.welcome.room.as_str(), "alpha");
    let room = ann.welcome.room.to_string();
    eventually(PATIENCE, "ann's room listed on b", || async {
        b.rooms().await.get(&room).is_some_and(|(node, _)| node == "b")
    })
    .await;
    // The old node's resume token is no seat for b's client: a fresh join, on b.
    let mut with_token = hello(Role::Player, "tok");
    with_token.resume = Some(token);
    let tok = Client::join(&b.url(), with_token).await;
    assert!(!tok.welcome.resumed);
    assert_eq!(tok.welcome.room, ann.welcome.room, "matchmaking's fullest room, on b");
    assert!(old_saw.try_recv().is_err(), "nothing reached the old node");

    // The named room lives on the old node: the client hears "try again", not the refusal
    // meant for an outdated client.
    let refused = try_join(open(&b.url()).await, hello_in(Role::Player, "cat", "alpha"))
        .await
        .expect_err("alpha runs on a node of another protocol");
    refused.assert_is(1013, None, "another release");
    assert_eq!(old_saw.recv().await, Some(Seen::Hello), "the old node was asked");

    // /nodes says which node speaks what.
    let nodes = b.json("/nodes").await;
    let speaks = |id: &str| {
        let node = nodes.as_array().unwrap().iter().find(|n| n["id"] == id).unwrap().clone();
        (node["protocol"].as_u64(), node["release"].as_str().map(str::to_string))
    };
    assert_eq!(speaks("old"), (Some(u64::from(older)), Some("0.0.1".to_string())));
    let before = speaks("b");

    // A node of a release before nodes said their version ("older": its record has none)
    // hosts "gamma", the fullest room: matchmaking places a join there, the node refuses the
    // client's version, and the join is placed again avoiding it, into b's room.
    let (older_addr, mut older_saw) = stand_in_node(Some(encode_server(&refusal).unwrap())).await;
    let older_node = Directory::new(&redis.url(), "older", Duration::from_millis(500)).unwrap();
    let older_url = format!("ws://{older_addr}/ws");
    older_node
        .heartbeat(&Registration { url: &older_url, ..registration("older", None, Duration::ZERO) })
        .await
        .unwrap();
    assert_eq!(redis.call("HDEL tickwire:node:older protocol release"), ":2");
    let gamma = Wanted::Named(RoomName::truncated("gamma"));
    let roomy = tickwire_server::cluster::directory::JoinLimits { capacity: 8, ..OPEN_LIMITS };
    for promise in ["p1", "p2", "p3"] {
        assert_eq!(older_node.join(gamma, false, roomy, promise).await.unwrap().node, "older");
    }
    let dan = Client::join(&b.url(), hello(Role::Player, "dan")).await;
    assert_eq!(dan.welcome.room, ann.welcome.room, "placed again, on b");
    assert_eq!(older_saw.recv().await, Some(Seen::Hello), "gamma's node was asked first");
    assert_eq!(
        before,
        (
            Some(u64::from(tickwire_shared::PROTOCOL_VERSION)),
            Some(env!("CARGO_PKG_VERSION").to_string())
        )
    );
}

//! The embedded client over the real embassy-net stack: `TcpConnector` on a TAP device,
//! against the real tickwire server. Root only (a private network namespace and a TAP
//! device), so it is kept out of `cargo test --workspace` (feature `tap-test`) and `.ci/run`
//! runs it explicitly:
//!
//! ```text
//! cargo test -p tickwire-client-embedded --features tap-test --test tap
//! ```
//!
//! Layout, all inside a network namespace of this process's own (`unshare(CLONE_NEWNET)`),
//! so the addresses below exist nowhere else:
//! - `tap0` is 192.168.69.1/24 on the kernel side; the tickwire server listens there (tokio);
//! - embassy-net runs over `tap0` (embassy-net-tuntap) with a static 192.168.69.2/24, on an
//!   embassy std executor on its own thread, and the client connects through `TcpConnector`;
//! - a spectator (tokio-tungstenite) watches the controller's ship follow its stick.
//!
//! It fails (never skips) when it cannot set that up: not root, no `/dev/net/tun`, no `ip`.
//! The whole run is bounded by a 60 s watchdog.

mod support;

use embassy_executor::Spawner;
use embassy_net::{Ipv4Cidr, Runner, StackResources, StaticConfigV4};
use embassy_net_tuntap::TunTapDevice;
use std::net::{Ipv4Addr, SocketAddr};
use std::time::{Duration, Instant};
use support::netns::{self, fail, ip};
use support::{PATIENCE, Probe, Spectator};
use tickwire_client_embedded::transport::embassy_net::TcpConnector;
use tickwire_client_embedded::{Buffers, Client, Config, Endpoint, Event, Identity, Pad};
use tickwire_server::ServerConfig;

const TAP: &str = "tap0";
const SERVER_IP: Ipv4Addr = Ipv4Addr::new(192, 168, 69, 1);
const CLIENT_IP: Ipv4Addr = Ipv4Addr::new(192, 168, 69, 2);
const ROOM: &str = "tap-steer";
/// The whole test, setup included, must finish within this.
const WATCHDOG: Duration = Duration::from_secs(60);

fn main() {
    let started = Instant::now();
    println!("running 1 test (embassy-net over {TAP}, root only)");
    std::thread::spawn(|| {
        std::thread::sleep(WATCHDOG);
        eprintln!("tap: watchdog: the test did not finish within {WATCHDOG:?}");
        println!("0 passed, 1 failed");
        std::process::exit(1);
    });

    // Before any other thread that touches the network exists: every thread and child
    // process created from here on shares the private namespace.
    netns::enter();
    let device = TunTapDevice::new(TAP).unwrap_or_else(|e| {
        fail(&format!("cannot create TAP device {TAP} through /dev/net/tun: {e}"))
    });
    ip(&["addr", "add", &format!("{SERVER_IP}/24"), "dev", TAP]);
    ip(&["link", "set", TAP, "up"]);

    let runtime =
        tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    let server = runtime.block_on(start_server());
    println!("server on {server} (inside the private namespace)");

    let probe = Probe::default();
    let app = probe.clone();
    std::thread::Builder::new()
        .name("embassy".into())
        .spawn(move || {
            let executor = Box::leak(Box::new(embassy_executor::Executor::new()));
            executor.run(|spawner| start_client(spawner, device, server, app))
        })
        .unwrap();

    let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        runtime.block_on(controller_plays(server, &probe))
    }));
    match outcome {
        Ok(()) => {
            println!(
                "test tap::embassy_net_controller_plays_over_tap ... ok ({:?})",
                started.elapsed()
            );
            println!("1 passed, 0 failed");
            // The executor thread never returns; the namespace and tap0 go with the process.
            std::process::exit(0);
        }
        Err(_) => {
            eprintln!(
                "client events: {:?}",
                probe.events.lock().unwrap_or_else(|e| e.into_inner())
            );
            println!("test tap::embassy_net_controller_plays_over_tap ... FAILED");
            println!("0 passed, 1 failed");
            std::process::exit(1);
        }
    }
}

/// Joined, feedback, and the ship's velocity follows the stick as a spectator sees it.
async fn controller_plays(server: SocketAddr, probe: &Probe) {
    probe.wait_for("Welcome", |e| e.iter().any(|e| matches!(e, Event::Joined(_)))).await;
    let joined = probe.joins()[0];
    assert!(!joined.resumed);
    let entity = joined.entity.expect("a controller owns a ship");
    println!("joined over embassy-net: player {:?}, ship {entity:?}", joined.player_id);
    probe.wait_for("feedback", |e| e.iter().any(|e| matches!(e, Event::Feedback(_)))).await;
    println!("ControllerFeedback received");

    let mut spectator = Spectator::join(server, ROOM).await;
    let before = spectator.next_state_of(entity).await;
    *probe.pad.lock().unwrap() = Pad { x: 127, y: 0, buttons: 0 };
    let deadline = tokio::time::Instant::now() + PATIENCE;
    loop {
        let now = spectator.next_state_of(entity).await;
        if now.vel.x > 5 && now.pos.x != before.pos.x {
            println!("ship flies right: {now:?}");
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "ship never moved right: {now:?}");
    }
    *probe.pad.lock().unwrap() = Pad { x: -127, y: 0, buttons: 0 };
    let deadline = tokio::time::Instant::now() + PATIENCE;
    loop {
        let now = spectator.next_state_of(entity).await;
        if now.vel.x < -5 {
            println!("ship turns left: {now:?}");
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "ship never turned left: {now:?}");
    }
    let drops = probe.count(|e| matches!(e, Event::Disconnected { .. }));
    assert_eq!(drops, 0, "the controller was never disconnected");
}

async fn start_server() -> SocketAddr {
    let listener = tokio::net::TcpListener::bind((SERVER_IP, 0))
        .await
        .unwrap_or_else(|e| fail(&format!("cannot bind {SERVER_IP}:0 on {TAP}: {e}")));
    let addr = listener.local_addr().unwrap();
    let mut config = ServerConfig::default();
    config.seed = Some(7);
    tokio::spawn(tickwire_server::run(listener, config, std::future::pending::<()>()));
    addr
}

fn start_client(spawner: Spawner, device: TunTapDevice, server: SocketAddr, app: Probe) {
    let config = embassy_net::Config::ipv4_static(StaticConfigV4 {
        address: Ipv4Cidr::new(CLIENT_IP, 24),
        gateway: None,
        dns_servers: Default::default(),
    });
    let resources = Box::leak(Box::new(StackResources::<3>::new()));
    let (stack, runner) = embassy_net::new(device, config, resources, 0x7469_636b_7769_7265);
    spawner.spawn(net_task(runner).unwrap());

    let SocketAddr::V4(server) = server else { unreachable!("the server is on IPv4") };
    let remote = (*server.ip(), server.port()).into();
    let connector = TcpConnector::new(
        stack,
        remote,
        Box::leak(Box::new([0u8; 1024])),
        Box::leak(Box::new([0u8; 1024])),
    );
    let buffers = Buffers::new(
        Box::leak(Box::new([0u8; 512])),
        Box::leak(Box::new([0u8; 384])),
        Box::leak(Box::new([0u8; 256])),
    )
    .unwrap();
    let host: &'static str = Box::leak(server.to_string().into_boxed_str());
    let client = Client::new(
        connector,
        rand_core::OsRng,
        Config::DEFAULT,
        Identity::controller("tap", Some(ROOM)).unwrap(),
        Endpoint { host, path: "/ws" },
        buffers,
    )
    .unwrap();
    spawner.spawn(client_task(stack, client, app).unwrap());
}

#[embassy_executor::task]
async fn net_task(mut runner: Runner<'static, TunTapDevice>) -> ! {
    runner.run().await
}

#[embassy_executor::task]
async fn client_task(
    stack: embassy_net::Stack<'static>,
    mut client: Client<'static, TcpConnector<'static>, rand_core::OsRng>,
    mut app: Probe,
) -> ! {
    stack.wait_config_up().await;
    // The probe never asks to leave, so `run` does not return.
    let _left = client.run(&mut app).await;
    match core::future::pending::<core::convert::Infallible>().await {}
}

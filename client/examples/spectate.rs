//! Watches a room as a spectator and prints a live summary once a second: round, ships and
//! their scores by name, pickups, snapshot sizes, round trip. Ctrl-C leaves cleanly.
//!
//! ```sh
//! cargo run -p tickwire-client --example spectate -- ws://127.0.0.1:8080/ws [ROOM]
//! ```
//! Without a room, matchmaking picks the room with the most players.

mod common;

use std::collections::BTreeMap;
use std::time::Duration;
use tickwire_client::protocol::arena::{KIND_PICKUP, KIND_SHIP};
use tickwire_client::protocol::{EventKind, PlayerId, RoundPhase};
use tickwire_client::{Client, Config, End, Event, Identity};

#[tokio::main(flavor = "current_thread")]
async fn main() -> anyhow::Result<()> {
    common::init_logging();
    const USAGE: &str = "usage: spectate [URL (default ws://127.0.0.1:8080/ws)] [ROOM (default: \
                         the room with the most players)]";
    let Some(args) = common::positional(USAGE)? else { return Ok(()) };
    let mut args = args.into_iter();
    let url = args.next().unwrap_or_else(|| "ws://127.0.0.1:8080/ws".to_string());
    let mut identity = Identity::spectator("spectate")?;
    if let Some(room) = args.next() {
        identity = identity.in_room(&room)?;
    }
    let mut client = Client::new(&url, identity, Config::default())?;

    // Names arrive as `Joined` events: the roster (`Event::Roster`: who was there when we
    // joined, and after a resume who came and went meanwhile), then newcomers (`Event::Room`).
    // Keep them for the table; only `Event::Room` is news worth printing.
    let mut names: BTreeMap<PlayerId, String> = BTreeMap::new();
    let mut audience = 0u32;
    let mut frames = 0u32;
    let mut bytes = 0usize;
    let mut skipped = 0u32;
    let mut report = tokio::time::interval(Duration::from_secs(1));
    // Made once: a new `ctrl_c()` each turn could miss a signal that came in a turn another
    // branch won.
    let interrupted = tokio::signal::ctrl_c();
    tokio::pin!(interrupted);
    loop {
        tokio::select! {
            event = client.next_event() => match event {
                Some(Event::Joined(welcome)) => println!(
                    "watching room {} ({} ticks/s, {}x{} world)",
                    welcome.room.as_str(), welcome.tick_rate, welcome.world.width, welcome.world.height
                ),
                Some(Event::Snapshot(info)) => {
                    frames += 1;
                    bytes += info.bytes;
                    skipped += info.skipped;
                }
                Some(Event::Roster(event)) => match event.kind {
                    EventKind::Joined { player, name, .. } => {
                        names.insert(player, name.as_str().to_string());
                    }
                    EventKind::Left { player } => {
                        names.remove(&player);
                    }
                    EventKind::Audience { spectators } => audience = spectators,
                    _ => {}
                },
                Some(Event::Room(event)) => match event.kind {
                    EventKind::Joined { player, name, .. } => {
                        println!("  {} joined", name.as_str());
                        names.insert(player, name.as_str().to_string());
                    }
                    EventKind::Left { player } => {
                        let name = names.remove(&player);
                        println!("  {} left", name.as_deref().unwrap_or("?"));
                    }
                    EventKind::Chat { name, text, .. } => {
                        println!("  <{}> {}", name.as_str(), text.as_str());
                    }
                    EventKind::RoundOver { round, winner, score } => {
                        let winner = winner.and_then(|w| names.get(&w)).map_or("nobody", |n| n);
                        println!("  round {round} over: {winner} wins with {score}");
                    }
                    EventKind::Audience { spectators } => audience = spectators,
                    EventKind::Scored { .. } => {}
                },
                Some(Event::Disconnected { reason, retry_in }) => match retry_in {
                    Some(delay) => println!("disconnected: {reason} (retrying in {delay:?})"),
                    None => println!("disconnected: {reason} (not retrying)"),
                },
                Some(Event::Ended(End::GaveUp)) => match client.session().last_disconnect() {
                    Some(reason) => println!("ended: {reason}"),
                    None => println!("ended"),
                },
                Some(Event::Ended(End::Left { .. })) => println!("ended: left"),
                None => break,
                Some(_) => {}
            },
            _ = report.tick() => {
                print_summary(&client, &names, audience, frames, bytes, skipped);
                (frames, bytes, skipped) = (0, 0, 0);
            }
            _ = &mut interrupted => {
                let end = client.leave().await;
                println!("left: {end:?}");
                break;
            }
        }
    }
    Ok(())
}

fn print_summary(
    client: &Client,
    names: &BTreeMap<PlayerId, String>,
    audience: u32,
    frames: u32,
    bytes: usize,
    skipped: u32,
) {
    let Some(world) = client.world() else {
        println!("(no world yet: {:?})", client.session().state());
        return;
    };
    let phase = match world.round.phase {
        RoundPhase::Playing => "playing",
        RoundPhase::Intermission => "intermission",
    };
    let mut ships: Vec<_> = world.entities.iter().filter(|e| e.kind == KIND_SHIP).collect();
    ships.sort_by_key(|s| std::cmp::Reverse(s.value));
    let pickups = world.entities.iter().filter(|e| e.kind == KIND_PICKUP).count();
    let rtt = client.session().rtt().map_or("-".to_string(), |r| format!("{} ms", r.as_millis()));
    println!(
        "tick {} | round {} {phase}, {} s left | {} ships, {pickups} pickups, {audience} watching | \
         {frames} frames/s, {bytes} B/s, {skipped} skipped | rtt {rtt}",
        world.tick.0,
        world.round.round,
        world.round.seconds_left,
        ships.len(),
    );
    let top: Vec<String> = ships
        .iter()
        .take(5)
        .map(|s| {
            let id = u16::try_from(s.id.0).map(PlayerId).ok();
            let name = id.and_then(|id| names.get(&id)).map_or("?", |n| n.as_str());
            format!("{name} {}", s.value)
        })
        .collect();
    if !top.is_empty() {
        println!("  top: {}", top.join(", "));
    }
}

//! Plays the arena as a native game does, without a window: 60 frames a second, it predicts
//! its own ship ([`Prediction`]), draws the others smoothly in the past
//! ([`Interpolation`](tickwire_client::Interpolation)), steers for the nearest pickup it sees,
//! and prints once a second what a player would feel: its score, the round trip, the
//! interpolation delay, and how far the server corrected the prediction. A start for a game of
//! your own; Ctrl-C leaves cleanly.
//!
//! ```sh
//! cargo run -p tickwire-client --example pilot -- ws://127.0.0.1:8080/ws [NAME] [ROOM]
//! ```
//! Without a room, matchmaking places it.

mod common;

use std::time::{Duration, Instant};
use tickwire_client::protocol::RoundPhase;
use tickwire_client::protocol::arena::KIND_PICKUP;
use tickwire_client::{
    Client, Config, Controls, End, Event, Identity, InterpolationConfig, Prediction,
};

/// A pickup farther than this, units, is worth a boost.
const BOOST_BEYOND: f32 = 300.0;

#[tokio::main(flavor = "current_thread")]
async fn main() -> anyhow::Result<()> {
    common::init_logging();
    const USAGE: &str =
        "usage: pilot [URL (default ws://127.0.0.1:8080/ws)] [NAME (default pilot)] [ROOM]";
    let Some(args) = common::positional(USAGE)? else { return Ok(()) };
    let mut args = args.into_iter();
    let url = args.next().unwrap_or_else(|| "ws://127.0.0.1:8080/ws".to_string());
    let name = args.next().unwrap_or_else(|| "pilot".to_string());
    let mut identity = Identity::player(&name)?;
    if let Some(room) = args.next() {
        identity = identity.in_room(&room)?;
    }
    let mut client = Client::new(&url, identity, Config::default())?;
    client.interpolate(InterpolationConfig::default());
    let mut prediction = Prediction::default();

    let mut frames = tokio::time::interval(Duration::from_micros(16_667));
    frames.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    let mut report = tokio::time::interval(Duration::from_secs(1));
    let mut last_frame = Instant::now();
    let mut corrections: Vec<f32> = Vec::new();
    let interrupted = tokio::signal::ctrl_c();
    tokio::pin!(interrupted);
    loop {
        tokio::select! {
            event = client.next_event() => match event {
                Some(Event::Joined(welcome)) => {
                    // Resumed or not, the connection numbers its inputs afresh and its link is
                    // another: nothing of the last one's stalls or delays holds.
                    prediction.reset();
                    println!(
                        "{} room {} as player {} ({} ticks/s)",
                        if welcome.resumed { "back in" } else { "joined" },
                        welcome.room.as_str(), welcome.player_id.0, welcome.tick_rate
                    );
                }
                Some(Event::Disconnected { reason, retry_in }) => match retry_in {
                    Some(wait) => println!("disconnected ({reason}): retrying in {wait:.1?}"),
                    None => println!("disconnected ({reason})"),
                },
                Some(Event::Ended(End::GaveUp)) | None => match client.session().last_disconnect() {
                    Some(reason) => anyhow::bail!("gave up: {reason}"),
                    None => anyhow::bail!("gave up"),
                },
                Some(Event::Ended(End::Left { .. })) => return Ok(()),
                Some(_) => {}
            },
            _ = frames.tick() => {
                let now = Instant::now();
                let Some(ship) = prediction.predict(client.session(), now, now - last_frame) else {
                    continue;
                };
                last_frame = now;
                if let Some(corrected) = ship.corrected {
                    corrections.push(corrected.length());
                }
                let Some(world) = client.world() else { continue };
                if world.round.phase != RoundPhase::Playing {
                    continue;
                }
                // The nearest pickup, where it is drawn: what a player would steer for.
                let Some(interpolation) = client.interpolation() else { continue };
                let nearest = interpolation
                    .sample(now)
                    .entities
                    .into_iter()
                    .filter(|e| e.kind == KIND_PICKUP)
                    .map(|e| e.pos - ship.motion.pos)
                    .min_by(|a, b| a.length().total_cmp(&b.length()));
                let controls = nearest.map_or(Controls::NEUTRAL, |to| {
                    let stick = to.normalize_or_zero();
                    Controls { x: stick.x, y: stick.y, boost: to.length() > BOOST_BEYOND, action: false }
                });
                let _ = client.send_input(controls); // refused while reconnecting
            }
            _ = report.tick() => {
                let session = client.session();
                let Some(welcome) = session.welcome() else { continue };
                // A ship's `value` is its score.
                let score = welcome.entity.and_then(|id| session.world()?.get(id)).map_or(0, |e| e.value);
                corrections.sort_by(f32::total_cmp);
                let p95 = corrections.get(corrections.len() * 95 / 100).copied().unwrap_or(0.0);
                let delay = client.interpolation().map_or(0.0, |i| i.delay_ticks());
                let rtt = session.rtt().map_or("-".to_string(), |rtt| format!("{rtt:.1?}"));
                println!(
                    "score {score:>3}  rtt {rtt:>8}  drawn {delay:.1} ticks behind  \
                     corrections p95 {p95:.2} units over {} snapshots",
                    corrections.len(),
                );
                corrections.clear();
            }
            _ = &mut interrupted => {
                client.leave().await;
                return Ok(());
            }
        }
    }
}

//! Rows of the game bench: what `bench-watch` saw of the server over a window
//! ([`ServerWindow`]), what the load generator reported ([`LoadSummary`], read from a
//! `tickwire-bots --json` report or the Colyseus driver's report, which uses the same field
//! names), and the two merged into one [`GameRow`] per run.

use crate::stats::{Usage, first_repeat};
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// The server over one window, from `/proc` and (tickwire) its `/metrics`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ServerWindow {
    /// Which server and mode (`tickwire-acked`, `tickwire-full`, `colyseus`).
    pub label: String,
    /// Run number.
    pub run: u32,
    /// Which measurement of `label` in its run this is, from 1 (`MODES="acked acked-base
    /// acked acked-base"` measures each twice); rows from before it was written are 1.
    #[serde(default = "first_repeat")]
    pub repeat: u32,
    /// Players asked for.
    pub players: u32,
    /// Length of the window, seconds.
    pub window_s: f64,
    /// Ticks per second per room, for the player-tick count.
    pub tick_rate: u32,
    /// CPU and memory of the server over the window.
    pub usage: Usage,
    /// Server CPU per player per tick, microseconds: CPU time / (players x tick rate x window).
    pub us_per_player_tick: f64,
    /// The server's own tick histogram over the window (tickwire).
    pub ticks: Option<TickTimes>,
    /// Players in rooms (the server's gauge) at the start and the end of the window.
    pub players_in_rooms: Option<(f64, f64)>,
}

/// Room tick times over a window, from the server's histogram (bucket bounds double: 50 us,
/// 100 us, 200 us ...; a percentile is known only as the bound of its bucket).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct TickTimes {
    /// Room ticks in the window (all rooms).
    pub count: f64,
    /// Exact mean, ms.
    pub mean_ms: f64,
    /// Upper bound of the bucket holding the median, ms.
    pub p50_le_ms: f64,
    /// Upper bound of the bucket holding the 99th percentile, ms.
    pub p99_le_ms: f64,
    /// Upper bound of the bucket holding the slowest tick, ms.
    pub max_le_ms: f64,
    /// Ticks that started or ran late.
    pub late: f64,
    /// Bytes the server wrote to sockets per player per second (`tickwire_bytes_sent`,
    /// WebSocket headers included).
    pub sent_bytes_per_player_s: f64,
}

/// What the load generator reported for its window.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct LoadSummary {
    /// Players that joined.
    pub joined: f64,
    /// Joined, then dropped before the end.
    pub dropped: f64,
    /// Never joined.
    pub failed: f64,
    /// Mean snapshots (patches) per second per player.
    pub fps_mean: Option<f64>,
    /// 1st percentile player.
    pub fps_p1: Option<f64>,
    /// Socket bytes received per player per second (WebSocket headers included).
    pub bytes_in_per_s: f64,
    /// Socket bytes sent per player per second.
    pub bytes_out_per_s: f64,
    /// Input-to-ack latency p99, ms (tickwire).
    pub input_to_ack_p99_ms: Option<f64>,
    /// The load generator's CPU, percent of one core.
    pub load_cpu_percent: Option<f64>,
}

impl LoadSummary {
    /// Reads a `tickwire-bots --json` report (or anything with its field names). `Err` names
    /// the missing field.
    pub fn from_report(report: &Value) -> Result<LoadSummary, String> {
        let number = |path: &str| -> Option<f64> {
            path.split('.').try_fold(report, |v, key| v.get(key))?.as_f64()
        };
        let required = |path: &str| number(path).ok_or_else(|| format!("no number at `{path}`"));
        let bots = report.get("bots").ok_or("no `bots` object")?;
        if report.pointer("/run/window_s").is_some_and(Value::is_null) {
            return Err("the bots' run opened no measurement window (interrupted in its ramp, \
                        or its ring failed): no figures to summarise"
                .into());
        }
        // `+ 0.0`: an empty sum of floats is -0.0, which would print as "-0".
        let tally = |key: &str| -> f64 {
            bots.get(key)
                .and_then(Value::as_object)
                .map_or(0.0, |m| m.values().filter_map(Value::as_f64).sum::<f64>() + 0.0)
        };
        Ok(LoadSummary {
            joined: required("bots.joined")?,
            dropped: tally("drops"),
            failed: tally("failures"),
            fps_mean: number("frames.per_bot_fps.mean"),
            fps_p1: number("frames.per_bot_fps.p1"),
            bytes_in_per_s: required("bytes_per_bot_per_s.in")?,
            bytes_out_per_s: required("bytes_per_bot_per_s.out")?,
            input_to_ack_p99_ms: number("input_to_ack_ms.p99"),
            load_cpu_percent: number("resources.bots_cpu_percent"),
        })
    }
}

/// One run of the game bench.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GameRow {
    /// The server side.
    pub server: ServerWindow,
    /// The players' side.
    pub load: LoadSummary,
}

impl GameRow {
    /// Server CPU per snapshot (or patch) the players received, microseconds: unlike CPU per
    /// player-tick it stays comparable when a saturated server skips frames.
    pub fn us_per_delivered_frame(&self) -> Option<f64> {
        let frames_per_s = self.load.fps_mean? * self.load.joined;
        (frames_per_s > 0.0).then(|| self.server.usage.cpu_percent / 100.0 * 1e6 / frames_per_s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bots_report_is_summarised() {
        let report = serde_json::json!({
            "bots": {"joined": 1000, "failures": {"http-429": 2}, "drops": {"close-1008": 1, "eof": 1}},
            "frames": {"per_bot_fps": {"mean": 29.9, "p1": 29.1}},
            "bytes_per_bot_per_s": {"in": 1400.5, "out": 600.0},
            "input_to_ack_ms": {"p99": 40.0},
            "resources": {"bots_cpu_percent": 55.0}
        });
        let summary = LoadSummary::from_report(&report).unwrap();
        assert_eq!(summary.joined, 1000.0);
        assert_eq!((summary.failed, summary.dropped), (2.0, 2.0));
        assert_eq!(summary.fps_p1, Some(29.1));
        assert_eq!(summary.bytes_in_per_s, 1400.5);
        assert_eq!(summary.input_to_ack_p99_ms, Some(40.0));

        let windowless = serde_json::json!({"run": {"window_s": null}, "bots": {"joined": 3}});
        let err = LoadSummary::from_report(&windowless).unwrap_err();
        assert!(err.contains("no measurement window"), "{err}");

        let missing = serde_json::json!({"bots": {"joined": 3}});
        let err = LoadSummary::from_report(&missing).unwrap_err();
        assert!(err.contains("bytes_per_bot_per_s.in"), "{err}");
    }
}

#!/usr/bin/env bash
# Measures what proxying costs in a fleet: the same players in the same room on node A,
# joined directly through A ("direct") or through node B, which proxies them to A
# ("proxied"), alternately, side by side in one run. Both nodes are pinned to core 0, the bots
# to core 1, Redis to core 1; loopback only, every run bounded in time.
#
#   bots/scripts/cluster-routing.sh [PLAYERS] [RUNS] [DURATION]
#   bots/scripts/cluster-routing.sh 300 3 15s
#
# Per run it prints the nodes' CPU (A + B, from /proc over up to 8 s of steady play inside the
# bots' window, clear of the ramp and the leave; DURATION under 5s leaves none) per frame
# delivered to the clients, the players' input-to-ack latency and join time (tickwire-bots),
# then the medians of each scenario. Needs redis-server, taskset and python3, and cargo to build
# the server and the bots unless both are given. Environment: NICE (e.g. -10 on a shared
# machine, as root: the measured processes then wait less behind other work); ROLE=spectator
# measures spectators instead of players (32 players then play in the room, joined directly,
# so there is motion to watch); SERVER=path runs another build of the server (e.g. an older
# commit's, to compare), BOTS=path another tickwire-bots (with both, nothing is built);
# REDIS_PORT, PORT_A and PORT_B (16390, 18101, 18102) move Redis and the two nodes. Ctrl-C stops
# every process it started.
set -euo pipefail
cd "$(dirname "$0")/../.."
# Clears stray TICKWIRE_* variables: the server under test gets its flags from this script alone.
source bench/lib.sh
own_session "$@"

players=${1:-300}
role=${ROLE:-player}
server=${SERVER:-target/release/tickwire-server}
bots_bin=${BOTS:-target/release/tickwire-bots}
runs=${2:-3}
duration=${3:-15s}
nice=${NICE:-0}
[[ $players =~ ^[1-9][0-9]*$ && $runs =~ ^[1-9][0-9]*$ ]] || {
    echo "cluster-routing.sh: PLAYERS '$players' and RUNS '$runs' must be positive integers" >&2
    exit 2
}
# When to sample the nodes' CPU, in seconds after the bots start: their window opens once the
# ramp (PLAYERS at 1000/s) is over and the last joins are in, within 2 s after it, and lasts
# DURATION; the sample ends 1 s before the earliest the leave can start. 8 s at most, as
# BENCHMARKS.md's figures were sampled.
read -r sample_from sample_for < <(python3 - "$duration" "$players" <<'PY'
import math, re, sys
units = {"ms": 0.001, "msec": 0.001, "s": 1, "sec": 1, "secs": 1, "m": 60, "min": 60,
         "mins": 60, "h": 3600, "hr": 3600, "hour": 3600, "hours": 3600}
text, players = sys.argv[1], int(sys.argv[2])
parts = re.findall(r"(\d+)([a-z]+)", text)
if not parts or "".join(n + u for n, u in parts) != text or any(u not in units for _, u in parts):
    print("invalid")
    sys.exit()
duration = sum(int(n) * units[u] for n, u in parts)
ramp = math.ceil(players / 1000)
print(ramp + 2, f"{min(8.0, duration - 3):g}")
PY
)
if [[ $sample_from == invalid ]]; then
    echo "cluster-routing.sh: DURATION '$duration' is not a duration such as 15s or 2m" >&2
    exit 2
fi
if python3 -c "import sys; sys.exit(float(sys.argv[1]) >= 2)" "$sample_for"; then
    echo "cluster-routing.sh: DURATION $duration leaves no steady window to sample the nodes' CPU in (the first 2 s after the ramp may still be joins, the last 1 s the leave): give at least 5s" >&2
    exit 2
fi
echo "cluster-routing.sh: nodes' CPU sampled ${sample_for} s from ${sample_from} s after each launch of the bots"
out=target/cluster-routing
mkdir -p "$out"
if [[ -z ${SERVER:-} || -z ${BOTS:-} ]]; then
    cargo build --release -q -p tickwire-server -p tickwire-bots
fi

redis_port=${REDIS_PORT:-16390}
port_a=${PORT_A:-18101}
port_b=${PORT_B:-18102}
port_free "$redis_port" REDIS_PORT
port_free "$port_a" PORT_A
port_free "$port_b" PORT_B
pids=()
cleanup() { for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done; wait 2>/dev/null || true; }
trap cleanup EXIT

taskset -c 1 redis-server --port "$redis_port" --bind 127.0.0.1 --save "" --appendonly no \
    >"$out/redis.log" 2>&1 &
pids+=($!)
node() { # id port
    nice -n "$nice" taskset -c 0 "$server" --bind "127.0.0.1:$2" --node-id "$1" \
        --redis-url "redis://127.0.0.1:$redis_port/" --room-capacity 1000 \
        --max-connections 20000 --max-connections-per-ip 20000 --seed 7 >"$out/node-$1.log" 2>&1 &
    pids+=($!)
}
node a "$port_a"; pid_a=${pids[-1]}
node b "$port_b"; pid_b=${pids[-1]}
# Each node itself, alive and listening: a port that something else answered would be measured
# instead, and a node that died at start (see its log) would leave nothing to measure.
wait_for_port "$port_a" "$pid_a"
wait_for_port "$port_b" "$pid_b"
sleep 1
# Opens room "bench" on node A and keeps it there for the whole measurement.
opener=(--bots 1 --role spectator)
[[ $role == spectator ]] && opener=(--bots 32 --role player)
taskset -c 1 "$bots_bin" --url "ws://127.0.0.1:$port_a/ws" "${opener[@]}" \
    --room bench --duration 3600s --quiet >/dev/null 2>&1 &
pids+=($!)
sleep 1

ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat"; }
hz=$(getconf CLK_TCK)

for run in $(seq 1 "$runs"); do
    for scenario in direct proxied; do
        port=$port_a
        [[ $scenario == proxied ]] && port=$port_b
        json="$out/$scenario-$run.json"
        nice -n "$nice" taskset -c 1 "$bots_bin" --url "ws://127.0.0.1:$port/ws" \
            --bots "$players" --role "$role" --room bench --ramp 1000/s --duration "$duration" \
            --seed "$run" --quiet --json "$json" >"$out/bots-$scenario-$run.txt" &
        bots=$!
        sleep "$sample_from"
        a0=$(ticks "$pid_a"); b0=$(ticks "$pid_b"); t0=$(date +%s.%N)
        sleep "$sample_for"
        a1=$(ticks "$pid_a"); b1=$(ticks "$pid_b"); t1=$(date +%s.%N)
        wait "$bots" || true
        python3 - "$json" "$scenario" "$a0" "$a1" "$b0" "$b1" "$t0" "$t1" "$hz" \
            >>"$out/runs.txt" <<'PY'
import json, sys
path, scenario = sys.argv[1], sys.argv[2]
a0, a1, b0, b1 = (float(x) for x in sys.argv[3:7])
t0, t1, hz = float(sys.argv[7]), float(sys.argv[8]), float(sys.argv[9])
r = json.load(open(path))
secs = t1 - t0
cpu_a = (a1 - a0) / hz / secs * 100
cpu_b = (b1 - b0) / hz / secs * 100
# Frames the bots received: the relaying node's own counter does not see the hosting node's.
frames = (r["frames"]["per_bot_fps"] or {}).get("mean", 0) * r["bots"]["joined"]
lat = r["input_to_ack_ms"] or {}
conn = r["connect_ms"] or {}
print(json.dumps({
    "scenario": scenario, "joined": r["bots"]["joined"], "fps": (r["frames"]["per_bot_fps"] or {}).get("mean"),
    "cpu_a": cpu_a, "cpu_b": cpu_b, "frames_per_s": frames,
    "us_per_frame": (cpu_a + cpu_b) / 100 * 1e6 / frames if frames else None,
    "ack_p50": lat.get("p50"), "ack_p99": lat.get("p99"),
    "join_p50": conn.get("p50"), "join_p99": conn.get("p99"),
    "bytes_in": r["bytes_per_bot_per_s"]["in"], "bytes_out": r["bytes_per_bot_per_s"]["out"],
}))
PY
        tail -1 "$out/runs.txt"
    done
done

python3 - "$out/runs.txt" "$runs" <<'PY'
import json, statistics, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if l.strip()][-2 * int(sys.argv[2]):]
for scenario in ("direct", "proxied"):
    rs = [r for r in rows if r["scenario"] == scenario]
    def med(k):  # nan where no run has it (spectators have no input-to-ack latency)
        values = [r[k] for r in rs if r[k] is not None]
        return statistics.median(values) if values else float("nan")
    print(f"{scenario:8} median of {len(rs)}: node A CPU {med('cpu_a'):.0f}% node B CPU {med('cpu_b'):.0f}% "
          f"frames/s {med('frames_per_s'):.0f} -> {med('us_per_frame'):.2f} us per delivered frame; "
          f"B per bot per s in {med('bytes_in'):.0f} out {med('bytes_out'):.0f}; "
          f"input-to-ack p50 {med('ack_p50'):.1f} p99 {med('ack_p99'):.1f} ms; join p50 {med('join_p50'):.1f} p99 {med('join_p99'):.1f} ms; fps {med('fps'):.2f}")
PY

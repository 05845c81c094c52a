#!/usr/bin/env bash
# Load-tests a release tickwire-server with tickwire-bots on this machine, the way
# BENCHMARKS.md reports it: the server pinned to core 0, the bots to core 1, loopback only,
# every run bounded in time. Prints one line per run and the medians.
#
#   bots/scripts/load-test.sh ROLE BOTS [RUNS] [DURATION] [-- extra tickwire-bots flags]
#   bots/scripts/load-test.sh spectator 3000 3 20s
#   bots/scripts/load-test.sh player 1000 3 20s -- --threads 2
#   bots/scripts/load-test.sh spectator 4000 -- --io-uring      # RUNS 3, DURATION 20s
#
# Reports (one JSON per run) go to target/load-test/. Needs taskset (util-linux) and python3.
# A run in which no bot joined, no measurement window opened or the server exited early is
# reported and left out of the medians; the script then exits 1.
# Environment: PORT (18090), RAMP (bots started per second, 250/s), NICE (e.g. -10 on a
# shared machine, as root: the measured processes then wait less behind other work), BOTS_BIN
# (another tickwire-bots binary, e.g. one built before a change, to compare side by side),
# SERVER_FLAGS (more tickwire-server flags, e.g. "--io-uring"), SERVER_BIN (another
# tickwire-server binary, the same way as BOTS_BIN). Only the binaries not given are built.
set -euo pipefail
cd "$(dirname "$0")/../.."
# Clears stray TICKWIRE_* variables: the server under test gets its flags from this script alone.
source bench/lib.sh

usage() {
    echo "load-test.sh: $1" >&2
    echo "usage: bots/scripts/load-test.sh ROLE BOTS [RUNS] [DURATION] [-- extra tickwire-bots flags]" >&2
    exit 2
}
# Everything after `--` is for tickwire-bots, however many positionals come before it.
positional=()
while (($#)); do
    if [[ $1 == -- ]]; then
        shift
        break
    fi
    positional+=("$1")
    shift
done
extra=("$@")
((${#positional[@]} <= 4)) ||
    usage "too many arguments (${positional[*]:4}): tickwire-bots flags go after --"
role=${positional[0]:-}
bots=${positional[1]:-}
runs=${positional[2]:-3}
duration=${positional[3]:-20s}
[[ $role =~ ^(player|spectator|controller)$ ]] ||
    usage "ROLE '$role' is not player, spectator or controller"
[[ $bots =~ ^[1-9][0-9]*$ ]] || usage "BOTS '$bots' is not a positive integer"
[[ $runs =~ ^[1-9][0-9]*$ ]] || usage "RUNS '$runs' is not a positive integer"
# What tickwire-bots --duration takes (humantime): 20s, 2m, 1m30s, 500ms.
[[ $duration =~ ^([0-9]+[a-zA-Z]+)+$ ]] ||
    usage "DURATION '$duration' is not a duration such as 20s, 2m or 500ms"

port=${PORT:-18090}
ramp=${RAMP:-250/s}
nice=${NICE:-0}
out=target/load-test
mkdir -p "$out"
build=()
[[ -z ${SERVER_BIN:-} ]] && build+=(-p tickwire-server)
[[ -z ${BOTS_BIN:-} ]] && build+=(-p tickwire-bots)
((${#build[@]} == 0)) || cargo build --release -q "${build[@]}"

good=()
bad=()

for run in $(seq 1 "$runs"); do
    # Caps raised for one load machine: every bot comes from 127.0.0.1, and the spectator caps
    # (3,000 per room, 2,000 per core server-wide, and the server is pinned to one core) would
    # refuse a crowd of spectator bots beyond the first two thousand with 1013.
    # shellcheck disable=SC2086 # SERVER_FLAGS is a list of flags
    nice -n "$nice" taskset -c 0 "${SERVER_BIN:-target/release/tickwire-server}" --bind "127.0.0.1:$port" --seed "$run" \
        --max-connections 20000 --max-connections-per-ip 20000 \
        --max-spectators 20000 --max-spectators-total 20000 ${SERVER_FLAGS:-} >"$out/server.log" 2>&1 &
    server=$!
    for _ in $(seq 1 100); do
        (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break
        kill -0 "$server" 2>/dev/null || break
        sleep 0.1
    done
    if ! kill -0 "$server" 2>/dev/null; then
        echo "load-test.sh: run $run: the server did not start; $out/server.log:" >&2
        cat "$out/server.log" >&2
        exit 1
    fi
    json="$out/$role-$bots-$run.json"
    # An earlier run's report must not pass for this one's.
    rm -f "$json"
    status=0
    nice -n "$nice" taskset -c 1 "${BOTS_BIN:-target/release/tickwire-bots}" --url "ws://127.0.0.1:$port/ws" --bots "$bots" \
        --role "$role" --ramp "$ramp" --duration "$duration" --seed "$run" \
        --server-pid "$server" --quiet --json "$json" "${extra[@]}" >"$out/bots.txt" 2>&1 || status=$?
    # The server may have died during the run (a crash, the OOM killer): say so, keep going.
    server_status=0
    if kill -TERM "$server" 2>/dev/null; then
        wait "$server" || true
    else
        wait "$server" || server_status=$?
        echo "load-test.sh: run $run: the server exited during the run (status $server_status); the end of its log:" >&2
        tail -n 5 "$out/server.log" >&2 || true
    fi
    # 1 is a run whose checks failed, still reported; anything else is no run at all.
    if [[ $status -gt 1 || ! -s "$json" ]]; then
        echo "load-test.sh: tickwire-bots failed (exit $status), run $run:" >&2
        cat "$out/bots.txt" >&2
        exit 1
    fi
    # Exit 3: nothing measured (no bot joined, or no window), so nothing for the medians.
    measured=0
    python3 - "$json" "$run" <<'PY' || measured=$?
import json, sys
r = json.load(open(sys.argv[1]))
run = sys.argv[2]
joined, window = r["bots"]["joined"], r["run"]["window_s"]
if joined == 0 or window is None:
    why = "no bot joined" if joined == 0 else "no measurement window opened"
    reasons = ", ".join(f"{k} x{n}" for k, n in r["bots"]["failures"].items()) or "none recorded"
    print(f"run {run}: {why} (failed by reason: {reasons}; checks: "
          + "; ".join(f'{c["name"]}: {c["detail"]}' for c in r["checks"] if not c["ok"]) + ")",
          file=sys.stderr)
    sys.exit(3)
f, res = r["frames"], r["resources"]
fps = f["per_bot_fps"] or {}
lat = r["input_to_ack_ms"] or {}
gap = r["interarrival_ms"] or {}
print(f'run {run}: joined {joined}/{r["run"]["bots"]} fps mean {fps.get("mean", 0):.2f} p1 {fps.get("p1", 0):.2f} '
      f'delivered {100 * (f["delivered_ratio"] or 0):.1f}% input-to-ack p50/p99 {lat.get("p50", 0):.1f}/{lat.get("p99", 0):.1f} ms '
      f'inter-arrival p99 {gap.get("p99", 0):.1f} ms bots CPU {res["bots_cpu_percent"] or 0:.0f}% '
      f'server CPU {res["server_cpu_percent"] or 0:.0f}% waited for a CPU: bots {res["bots_wait_percent"] or 0:.0f}% server {res["server_wait_percent"] or 0:.0f}% RSS/bot {res["rss_per_bot_kib"] or 0:.1f} KiB '
      f'failed {sum(r["bots"]["failures"].values())} dropped {sum(r["bots"]["drops"].values())} errors {sum(r["errors"].values())}')
PY
    if [[ $measured -ne 0 && $measured -ne 3 ]]; then
        echo "load-test.sh: cannot read $json (python3 exit $measured)" >&2
        exit 1
    fi
    if [[ $measured -eq 3 || $server_status -ne 0 ]]; then
        bad+=("$run")
    else
        good+=("$run")
    fi
done

if ((${#good[@]} == 0)); then
    echo "load-test.sh: no run measured anything (runs ${bad[*]}): no medians" >&2
    exit 1
fi
python3 - "$out" "$role" "$bots" "${bad[*]}" "${good[@]}" <<'PY'
import json, math, statistics, sys
out, role, bots, bad, good = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4], sys.argv[5:]
reports = [json.load(open(f"{out}/{role}-{bots}-{i}.json")) for i in good]
def med(get):
    values = [v for v in (get(r) for r in reports) if v is not None]
    return statistics.median(values) if values else float("nan")
def per_frame(cpu):  # microseconds of CPU per frame received; none without frames
    return f"{cpu / 100 * 1e6 / frames_s:.2f} us" if frames_s > 0 else "- us"
fps = med(lambda r: (r["frames"]["per_bot_fps"] or {}).get("mean"))
p1 = med(lambda r: (r["frames"]["per_bot_fps"] or {}).get("p1"))
frames_s = med(lambda r: r["frames"]["received"] / r["run"]["window_s"] if r["run"]["window_s"] else None)
cpu = med(lambda r: r["resources"]["bots_cpu_percent"])
scpu = med(lambda r: r["resources"]["server_cpu_percent"])
if math.isnan(frames_s):
    frames_s = 0
left_out = f" (left out: run {bad})" if bad else ""
print(f"median of {len(reports)}{left_out}: {role} {bots}: fps mean {fps:.2f} p1 {p1:.2f}, "
      f"input-to-ack p50 {med(lambda r: (r['input_to_ack_ms'] or {}).get('p50')):.1f} "
      f"p99 {med(lambda r: (r['input_to_ack_ms'] or {}).get('p99')):.1f} ms, "
      f"inter-arrival p99 {med(lambda r: (r['interarrival_ms'] or {}).get('p99')):.1f} ms, "
      f"bytes/bot/s in {med(lambda r: (r['bytes_per_bot_per_s'] or {}).get('in')):.0f} out {med(lambda r: (r['bytes_per_bot_per_s'] or {}).get('out')):.0f}, "
      f"bots CPU {cpu:.0f}% ({per_frame(cpu)} per frame), server CPU {scpu:.0f}% "
      f"({per_frame(scpu)} per frame), waited for a CPU: bots "
      f"{med(lambda r: r['resources']['bots_wait_percent']):.0f}% server {med(lambda r: r['resources']['server_wait_percent']):.0f}%, RSS per bot {med(lambda r: r['resources']['rss_per_bot_kib']):.1f} KiB, "
      f"about {med(lambda r: r['resources']['bots_per_core']):.0f} bots per core"
      + "".join(f"\n  run {i}: warning: {w}" for i, r in zip(good, reports) for w in r["warnings"]))
PY
if ((${#bad[@]})); then
    echo "load-test.sh: run(s) ${bad[*]} measured nothing or lost the server (see above)" >&2
    exit 1
fi

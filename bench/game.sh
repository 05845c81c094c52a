#!/usr/bin/env bash
# The game bench (BENCHMARKS.md, "Game"): N players in rooms of 32 (matchmaking), actively
# playing, driven by tickwire-bots, run twice side by side: `acked` (bots ack every snapshot,
# so the server sends deltas against each player's acked baseline) and `full` (bots never ack,
# `--no-ack`, so every snapshot is full). The server runs pinned to core 0; the bots and
# bench-watch pinned to core 1; loopback only; every run bounded in time. bench-watch reads the
# server's tick-time histogram, late ticks and bytes from its /metrics, and its CPU from /proc,
# over a window inside the bots' window. Prints a line per run, then the table of medians and
# the acked/full ratios.
#
#   bench/game.sh                     # N = 500 1000, 3 runs each
#   bench/game.sh 2000
#   RUNS=5 DURATION=20s bench/game.sh 1000
#
# Environment: RUNS (3), DURATION (window, 10s), WARMUP (3s), RAMP (bots per second, 500/s),
# MODES ("acked full"), NICE (niceness of everything measured, e.g. -10 as root on a machine
# shared with builds), OUT (target/bench/game-DATE). Needs taskset (util-linux).
set -euo pipefail
cd "$(dirname "$0")/.."

# With NICE, run in a session of our own and give its scheduling group that niceness: with
# autogroups on (Linux's default), plain `nice` only ranks processes within their session and
# does nothing against builds in other sessions.
if [[ -n "${NICE:-}" && -z "${TICKWIRE_BENCH_SESSION:-}" ]]; then
    TICKWIRE_BENCH_SESSION=1 exec setsid --wait "$0" "$@"
fi
if [[ -n "${NICE:-}" && -w /proc/self/autogroup ]]; then
    echo "$NICE" >/proc/self/autogroup 2>/dev/null ||
        echo "${0##*/}: cannot set the session's niceness to $NICE (needs root); running without" >&2
fi

counts=("$@")
[[ ${#counts[@]} -eq 0 ]] && counts=(500 1000)
runs=${RUNS:-3}
duration=${DURATION:-10s}
warmup=${WARMUP:-3s}
ramp=${RAMP:-500/s}
modes=(${MODES:-acked full})
nice=${NICE:-0}
out=${OUT:-target/bench/game-$(date -u +%Y%m%d-%H%M%S)}
rows="$out/rows.jsonl"
bin=target/release
port=18110

for n in "${counts[@]}"; do
    [[ "$n" =~ ^[0-9]+$ && "$n" -ge 1 && "$n" -le 16000 ]] ||
        { echo "game.sh: N must be 1 to 16000 (ulimit -n is 20000), got '$n'" >&2; exit 2; }
done
command -v taskset >/dev/null || { echo "game.sh: needs taskset (util-linux)" >&2; exit 2; }
mkdir -p "$out"
cargo build --release -q -p tickwire-server -p tickwire-bots -p tickwire-bench

seconds() { local d=$1; [[ $d == *ms ]] && echo $(( (${d%ms} + 999) / 1000 )) || echo "${d%s}"; }

server_pid=""
cleanup() {
    if [[ -n "$server_pid" ]]; then
        kill -TERM "$server_pid" 2>/dev/null || true
        wait "$server_pid" 2>/dev/null || true
    fi
    server_pid=""
}
trap cleanup EXIT

for n in "${counts[@]}"; do
    # The ramp, then the watcher's warm-up and window, with room to spare.
    ramp_s=$(( n / ${ramp%/s} + 2 ))
    bots_window=$(( $(seconds "$warmup") + $(seconds "$duration") + 3 ))
    bound=$(( ramp_s + bots_window + 30 ))
    for run in $(seq 1 "$runs"); do
        for mode in "${modes[@]}"; do
            case $mode in
            acked) ack_flags=() ;;
            full) ack_flags=(--no-ack) ;;
            *) echo "game.sh: unknown mode '$mode' in MODES (acked, full)" >&2; exit 2 ;;
            esac
            tag="$mode-$n-$run"
            nice -n "$nice" taskset -c 0 "$bin/tickwire-server" --bind "127.0.0.1:$port" --seed "$run" \
                --max-connections $((n + 100)) >"$out/server-$tag.log" 2>&1 &
            server_pid=$!
            for _ in $(seq 1 100); do
                (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break
                sleep 0.1
            done
            timeout "$bound" nice -n "$nice" taskset -c 1 "$bin/bench-watch" --pid "$server_pid" \
                --metrics "http://127.0.0.1:$port/metrics" --players "$n" --wait-players \
                --wait-timeout "$((ramp_s + 20))s" --warmup "$warmup" --duration "$duration" \
                --label "tickwire-$mode" --run "$run" --json "$out/watch-$tag.json" &
            watch_pid=$!
            # Bots from 253 loopback addresses: the server's per-address cap (64) stays on.
            timeout --signal=INT "$bound" nice -n "$nice" taskset -c 1 "$bin/tickwire-bots" \
                --url "ws://127.0.0.1:$port/ws" --bots "$n" --role player --room any --ramp "$ramp" \
                --duration "${bots_window}s" --seed "$run" --source-ips 127.0.0.2-127.0.0.254 \
                --server-pid "$server_pid" --quiet --json "$out/bots-$tag.json" "${ack_flags[@]}" \
                >"$out/bots-$tag.txt" 2>&1 || true
            if wait "$watch_pid" && "$bin/bench-table" game-row --watch "$out/watch-$tag.json" \
                --load "$out/bots-$tag.json" >>"$rows"; then
                echo "$mode N=$n run $run: $(tail -n 1 "$rows")"
            else
                echo "game.sh: $mode N=$n run $run: no row (see $out/*-$tag.*)" >&2
            fi
            cleanup
        done
    done
done

echo
echo "Game, $runs runs of $duration per mode and N, $(date -u '+%Y-%m-%d %H:%M UTC'), rows in $rows:"
echo
"$bin/bench-table" game "$rows" --baseline tickwire-full | tee "$out/table.md"

#!/usr/bin/env bash
# The game bench (BENCHMARKS.md, "Game"): N players in rooms of 32 (matchmaking), actively
# playing, run side by side in these modes (MODES):
#   acked      tickwire-bots ack every snapshot: the server deltas against each player's acked
#              baseline, players see 700 units around their ship (the default view radius)
#   full       bots never ack (--no-ack): every snapshot is full
#   acked-all  acked, with --view-radius 0: every player gets the whole room, as Colyseus sends it
#   colyseus   the same arena as a Colyseus 0.18 room (bench/colyseus, pinned in its
#              package-lock), driven by N players on Colyseus' own SDK
# The server runs pinned to core 0; the load and bench-watch pinned to core 1; loopback only;
# every run bounded in time. bench-watch reads the server's CPU from /proc (and tickwire's tick
# times, late ticks and bytes from /metrics) over a window inside the load's window. Prints a
# line per run, then the table of medians and the ratios against full snapshots and Colyseus.
#
#   bench/game.sh                     # N = 500 1000, 3 runs each
#   bench/game.sh 2000
#   RUNS=5 DURATION=20s MODES="acked full" bench/game.sh 1000
#
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
modes=(${MODES:-acked full acked-all colyseus})
nice=${NICE:-0}
out=${OUT:-target/bench/game-$(date -u +%Y%m%d-%H%M%S)}
rows="$out/rows.jsonl"
bin=target/release
port=18110
colyseus_port=18120

for n in "${counts[@]}"; do
    [[ "$n" =~ ^[0-9]+$ && "$n" -ge 1 && "$n" -le 16000 ]] ||
        { echo "game.sh: N must be 1 to 16000 (ulimit -n is 20000), got '$n'" >&2; exit 2; }
done
for tool in taskset node npm; do
    command -v "$tool" >/dev/null || { echo "game.sh: needs $tool on PATH" >&2; exit 2; }
done
mkdir -p "$out"
cargo build --release -q -p tickwire-server -p tickwire-bots -p tickwire-bench
if [[ " ${modes[*]} " == *" colyseus "* ]]; then
    (cd bench/colyseus && npm ci --no-audit --no-fund --silent)
fi

seconds() { local d=$1; [[ $d == *ms ]] && echo $(( (${d%ms} + 999) / 1000 )) || echo "${d%s}"; }

server_pid=""
# Stops a process we started: SIGTERM, then SIGKILL if it is still there after 10 s (noted on
# stderr: a server that ignores SIGTERM is a bug worth reporting).
stop() {
    local pid=$1 signal=$2 what=$3
    kill "-$signal" "$pid" 2>/dev/null || true
    for _ in $(seq 1 100); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
    done
    if kill -0 "$pid" 2>/dev/null; then
        echo "${0##*/}: $what (pid $pid) still running 10 s after SIG$signal; killed" >&2
        kill -KILL "$pid" 2>/dev/null || true
    fi
    wait "$pid" 2>/dev/null || true
}
cleanup() {
    [[ -n "$server_pid" ]] && stop "$server_pid" TERM "the server"
    server_pid=""
}
trap cleanup EXIT

# Waits until the server just started (pid $2) listens on port $1; fails if it died first
# (the port was taken, a bad flag: see its log).
wait_for_port() {
    for _ in $(seq 1 100); do
        kill -0 "$2" 2>/dev/null || { echo "game.sh: the server on port $1 exited at start (see $out/*.log)" >&2; return 1; }
        (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0
        sleep 0.1
    done
    echo "game.sh: nothing listens on port $1 after 10 s (see $out/*.log)" >&2
    return 1
}

# A server of an earlier run still on our port would be measured instead of ours.
port_free() {
    if (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; then
        echo "game.sh: port $1 is already in use; stop what listens there first" >&2
        exit 2
    fi
}

for n in "${counts[@]}"; do
    # The ramp, then the watcher's warm-up and window, with room to spare.
    ramp_s=$(( n / ${ramp%/s} + 2 ))
    bots_window=$(( $(seconds "$warmup") + $(seconds "$duration") + 3 ))
    bound=$(( ramp_s + bots_window + 30 ))
    for run in $(seq 1 "$runs"); do
        for mode in "${modes[@]}"; do
            tag="$mode-$n-$run"
            case $mode in
            acked) server_flags=(); ack_flags=() ;;
            full) server_flags=(); ack_flags=(--no-ack) ;;
            acked-all) server_flags=(--view-radius 0); ack_flags=() ;;
            colyseus)
                port_free "$colyseus_port"
                nice -n "$nice" taskset -c 0 node bench/colyseus/server.js --port "$colyseus_port" \
                    >"$out/server-$tag.log" 2>&1 &
                server_pid=$!
                wait_for_port "$colyseus_port" "$server_pid"
                ready="$out/ready-$tag"
                rm -f "$ready"
                timeout "$bound" nice -n "$nice" taskset -c 1 "$bin/bench-watch" --pid "$server_pid" \
                    --players "$n" --wait-file "$ready" --wait-timeout "$((ramp_s + 30))s" \
                    --warmup "$warmup" --duration "$duration" --label colyseus --run "$run" \
                    --json "$out/watch-$tag.json" &
                watch_pid=$!
                # The driver's window is the watcher's: both start from the ready file.
                timeout --signal=INT "$bound" nice -n "$nice" taskset -c 1 node bench/colyseus/driver.js \
                    --url "ws://127.0.0.1:$colyseus_port" --players "$n" --ramp "${ramp%/s}" \
                    --warmup "$(seconds "$warmup")" --duration "$(seconds "$duration")" --seed "$run" \
                    --json "$out/bots-$tag.json" --ready-file "$ready" >"$out/bots-$tag.txt" 2>&1 || true
                ;;
            *) echo "game.sh: unknown mode '$mode' in MODES (acked, full, acked-all, colyseus)" >&2; exit 2 ;;
            esac
            if [[ $mode != colyseus ]]; then
                port_free "$port"
                nice -n "$nice" taskset -c 0 "$bin/tickwire-server" --bind "127.0.0.1:$port" --seed "$run" \
                    --max-connections $((n + 100)) "${server_flags[@]}" >"$out/server-$tag.log" 2>&1 &
                server_pid=$!
                wait_for_port "$port" "$server_pid"
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
            fi
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
"$bin/bench-table" game "$rows" --baseline tickwire-full --baseline colyseus | tee "$out/table.md"

#!/usr/bin/env bash
# The game bench (BENCHMARKS.md, "Game"): N players in rooms of 32 (matchmaking), actively
# playing, run side by side in these modes (MODES):
#   acked      tickwire-bots ack every snapshot: the server deltas against each player's acked
#              baseline, players see 700 units around their ship (the default view radius)
#   full       bots never ack (--no-ack): every snapshot is full
#   acked-all  acked, with --view-radius 0: every player gets the whole room, as Colyseus sends it
#   colyseus   the same arena as a Colyseus 0.18 room (bench/colyseus, pinned in its
#              package-lock), driven by N players on Colyseus' own SDK
#   acked-base, full-base
#              acked and full on BASE_SERVER (a copy of target/release/tickwire-server built
#              before a change), to measure the change side by side; driven by BASE_BOTS (a
#              tickwire-bots built with it) when the change is a new protocol version
# The server runs pinned to core 0; the load and bench-watch pinned to core 1; loopback only;
# every run bounded in time; each run starts one mode further along MODES (ORDER=fixed: not;
# `run_order` in bench/lib.sh). The load generator writes a ready file when its ramp is over;
# from it, it and bench-watch both let WARMUP pass and measure the same DURATION: the load's
# bytes, fps and latencies, and the server's CPU from /proc (and tickwire's tick times, late
# ticks and bytes from /metrics), over one window. Prints a line per run, then the table of
# medians (with the players' input-to-ack p99) and the ratios (median of per-run ratios, their
# range in brackets) against full snapshots and Colyseus.
#
#   bench/game.sh                     # N = 500 1000, 3 runs each
#   bench/game.sh 2000
#   RUNS=5 DURATION=20s MODES="acked full" bench/game.sh 1000
#   BASE_SERVER=/tmp/tw-base MODES="acked full acked-base full-base" bench/game.sh 500
#   BASE_SERVER=/tmp/tw-base BASE_BOTS=/tmp/tw-base-bots MODES=... bench/game.sh 500
#
# Environment: RUNS (3), DURATION (window, 10s), WARMUP (3s) (durations as the binaries take
# them: 10s, 500ms, 2m, 1m30s, 2.5s; whole milliseconds), RAMP (joins per second, 500/s), MODES
# (acked full acked-all colyseus), BASE_SERVER, BASE_BOTS (above), NICE (as in fanout.sh),
# ORDER (rotate or fixed), OUT (target/bench/game-DATE), PORT_BASE (18100: tickwire listens on
# PORT_BASE+10, Colyseus on PORT_BASE+20), BIN_DIR (a directory of prebuilt release binaries:
# tickwire-server, tickwire-bots, bench-watch, bench-table; no build), CARGO_TARGET_DIR (where
# the build goes without BIN_DIR). Relative paths are from the repository's root.
# Every input is checked before the build. The processes it starts may each open N + 100
# files: the script raises its soft limit (ulimit -Sn) to the hard one for them when that is
# too few, and stops if the hard one is.
# Needs taskset (util-linux); node and npm for colyseus.
set -euo pipefail
cd "$(dirname "$0")/.."

source bench/lib.sh
own_session "$@"

counts=("$@")
[[ ${#counts[@]} -eq 0 ]] && counts=(500 1000)
runs=${RUNS:-3}
duration=${DURATION:-10s}
warmup=${WARMUP:-3s}
ramp=${RAMP:-500/s}
# In exact milliseconds, as every binary and the Colyseus driver get them.
duration_ms=$(duration_ms DURATION "$duration") || exit 2
warmup_ms=$(duration_ms WARMUP "$warmup") || exit 2
[[ $runs =~ ^[0-9]{1,6}$ ]] && (( 10#$runs >= 1 )) ||
    { echo "game.sh: RUNS must be a whole number, at least 1, got '$runs'" >&2; exit 2; }
runs=$((10#$runs))
[[ $ramp =~ ^[0-9]{1,6}/s$ ]] && (( 10#${ramp%/s} >= 1 )) ||
    { echo "game.sh: RAMP must be joins per second such as 500/s, got '$ramp'" >&2; exit 2; }
port_base=$(port_base PORT_BASE 18100 21) || exit 2
modes=(${MODES-acked full acked-all colyseus})
# Before the build and the runs: a typo would otherwise stop the script only when its turn
# came, minutes in.
known_modes=(acked full acked-all colyseus acked-base full-base)
[[ ${#modes[@]} -gt 0 ]] || { echo "game.sh: MODES names no mode" >&2; exit 2; }
for mode in "${modes[@]}"; do
    [[ " ${known_modes[*]} " == *" $mode "* ]] || {
        echo "game.sh: unknown mode '$mode' in MODES; known: ${known_modes[*]}" >&2
        exit 2
    }
done
nice=${NICE:-0}
run_order 1 "${modes[@]}" >/dev/null || exit 2
out=${OUT:-target/bench/game-$(date -u +%Y%m%d-%H%M%S)}
rows="$out/rows.jsonl"
port=$((port_base + 10))
colyseus_port=$((port_base + 20))

check_counts
# The load's N sockets, the server's N (its --max-connections is N + 100).
need_open_files "N=$most" $(( most + 100 ))
if [[ " ${modes[*]} " == *"-base "* ]]; then
    [[ -x "${BASE_SERVER:-}" ]] ||
        { echo "game.sh: the *-base modes need BASE_SERVER=path to an older tickwire-server" >&2; exit 2; }
    [[ -z "${BASE_BOTS:-}" || -x "$BASE_BOTS" ]] ||
        { echo "game.sh: BASE_BOTS=$BASE_BOTS is not an executable tickwire-bots" >&2; exit 2; }
fi
tools=(taskset)
[[ " ${modes[*]} " == *" colyseus "* ]] && tools+=(node npm)
for tool in "${tools[@]}"; do
    command -v "$tool" >/dev/null || { echo "game.sh: needs $tool on PATH" >&2; exit 2; }
done
bins=(bench-watch bench-table)
for mode in "${modes[@]}"; do
    case $mode in
    colyseus) ;;
    *-base) [[ -n "${BASE_BOTS:-}" ]] || bins+=(tickwire-bots) ;;
    *) bins+=(tickwire-server tickwire-bots) ;;
    esac
done
need_bins "${BIN_DIR:-}" "${bins[@]}"
mkdir -p "$out"
# Only what runs: the Colyseus mode alone needs no tickwire build.
packages=(tickwire-bench)
[[ " ${bins[*]} " == *" tickwire-server "* ]] && packages+=(tickwire-server)
[[ " ${bins[*]} " == *" tickwire-bots "* ]] && packages+=(tickwire-bots)
bin=$(release_bin "${packages[@]}") || exit 1
if [[ " ${modes[*]} " == *" colyseus "* ]]; then
    (cd bench/colyseus && npm ci --no-audit --no-fund --silent)
fi

# A tickwire-bots from before --warmup and --ready-file (an older BASE_BOTS) can only measure
# from the end of its ramp: its window then holds the warm-up and starts up to the watcher's
# poll apart from the server's, as in the game tables before they were aligned.
unaligned_bots=""
if [[ -n "${BASE_BOTS:-}" ]] && ! "$BASE_BOTS" --help 2>/dev/null | grep -q -- '--ready-file'; then
    unaligned_bots=$BASE_BOTS
    echo "game.sh: BASE_BOTS has no --warmup or --ready-file: in its runs the bots' window" \
        "includes the warm-up and is not bench-watch's" >&2
fi

server_pid=""
cleanup() {
    [[ -n "$server_pid" ]] && stop "$server_pid" TERM "the server"
    server_pid=""
}
trap cleanup EXIT

for n in "${counts[@]}"; do
    # The ramp, the warm-up and the window, with room for the joins' and leaves' timeouts.
    ramp_s=$(( n / ${ramp%/s} + 2 ))
    bound=$(( ramp_s + $(ceil_seconds $((warmup_ms + duration_ms))) + 35 ))
    for run in $(seq 1 "$runs"); do
        mapfile -t order < <(run_order "$run" "${modes[@]}")
        # Counted as the modes run, not from the rows written: bench-table pairs a run's rows
        # by it, and a mode that wrote no row must not shift the pairs after it.
        declare -A repeats=()
        for mode in "${order[@]}"; do
            repeats[$mode]=$(( ${repeats[$mode]:-0} + 1 ))
            tag="$mode-$n-$run"
            server_bin=$bin/tickwire-server
            bots_bin=$bin/tickwire-bots
            if [[ $mode == *-base ]]; then
                server_bin=$BASE_SERVER
                bots_bin=${BASE_BOTS:-$bots_bin}
            fi
            case $mode in
            acked|acked-base) server_flags=(); ack_flags=() ;;
            full|full-base) server_flags=(); ack_flags=(--no-ack) ;;
            acked-all) server_flags=(--view-radius 0); ack_flags=() ;;
            colyseus)
                port_free "$colyseus_port" PORT_BASE
                nice -n "$nice" taskset -c 0 node bench/colyseus/server.js --port "$colyseus_port" \
                    >"$out/server-$tag.log" 2>&1 &
                server_pid=$!
                wait_for_port "$colyseus_port" "$server_pid"
                ready="$out/ready-$tag"
                rm -f "$ready"
                timeout "$bound" nice -n "$nice" taskset -c 1 "$bin/bench-watch" --pid "$server_pid" \
                    --players "$n" --wait-file "$ready" --wait-timeout "$((ramp_s + 30))s" \
                    --warmup "${warmup_ms}ms" --duration "${duration_ms}ms" --label colyseus --run "$run" \
                    --repeat "${repeats[$mode]}" --json "$out/watch-$tag.json" &
                watch_pid=$!
                # The driver's window is the watcher's: both start from the ready file, and the
                # driver takes the same milliseconds as seconds with decimals.
                timeout --signal=INT "$bound" nice -n "$nice" taskset -c 1 node bench/colyseus/driver.js \
                    --url "ws://127.0.0.1:$colyseus_port" --players "$n" --ramp "${ramp%/s}" \
                    --warmup "$(ms_as_seconds "$warmup_ms")" --duration "$(ms_as_seconds "$duration_ms")" --seed "$run" \
                    --json "$out/bots-$tag.json" --ready-file "$ready" >"$out/bots-$tag.txt" 2>&1 || true
                ;;
            *) echo "game.sh: $mode is in known_modes but has no case here" >&2; exit 2 ;;
            esac
            if [[ $mode != colyseus ]]; then
                port_free "$port" PORT_BASE
                nice -n "$nice" taskset -c 0 "$server_bin" --bind "127.0.0.1:$port" --seed "$run" \
                    --max-connections $((n + 100)) "${server_flags[@]}" >"$out/server-$tag.log" 2>&1 &
                server_pid=$!
                wait_for_port "$port" "$server_pid"
                ready="$out/ready-$tag"
                rm -f "$ready"
                if [[ $bots_bin == "$unaligned_bots" ]]; then
                    wait_flags=(--wait-players --wait-timeout "$((ramp_s + 20))s")
                    window_flags=(--duration "$(( warmup_ms + duration_ms + 3000 ))ms")
                else
                    # The bots' window is the watcher's: both start from the ready file.
                    wait_flags=(--wait-file "$ready" --wait-timeout "$((ramp_s + 30))s")
                    window_flags=(--warmup "${warmup_ms}ms" --duration "${duration_ms}ms" --ready-file "$ready")
                fi
                timeout "$bound" nice -n "$nice" taskset -c 1 "$bin/bench-watch" --pid "$server_pid" \
                    --metrics "http://127.0.0.1:$port/metrics" --players "$n" "${wait_flags[@]}" \
                    --warmup "${warmup_ms}ms" --duration "${duration_ms}ms" \
                    --label "tickwire-$mode" --run "$run" --repeat "${repeats[$mode]}" \
                    --json "$out/watch-$tag.json" &
                watch_pid=$!
                # Bots from 253 loopback addresses: the server's per-address cap (64) stays on.
                timeout --signal=INT "$bound" nice -n "$nice" taskset -c 1 "$bots_bin" \
                    --url "ws://127.0.0.1:$port/ws" --bots "$n" --role player --room any --ramp "$ramp" \
                    "${window_flags[@]}" --seed "$run" --source-ips 127.0.0.2-127.0.0.254 \
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

if [[ ! -s $rows ]]; then
    echo "game.sh: no run wrote a row to $rows (see the messages above and $out)" >&2
    exit 1
fi
echo
echo "Game, $runs runs of $duration per mode and N, $(date -u '+%Y-%m-%d %H:%M UTC'), rows in $rows:"
echo
"$bin/bench-table" game "$rows" --baseline tickwire-full --baseline colyseus | tee "$out/table.md"

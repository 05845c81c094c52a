#!/usr/bin/env bash
# The fan-out bench (BENCHMARKS.md, "Fan-out"): N spectators of one room at 30 Hz, side by side
# with three peers broadcasting frames of the same size at the same rate:
#   tickwire     tickwire-server, one room named `bench` with PLAYERS bots playing in it and
#                N spectators watching (joined over CONNECT_OVER: a join storm), caps raised
#   node-ws      Node `ws` (bench/node, pinned in its package-lock), ws's own send per client
#   floor        bench-floor: one pre-framed message written to every socket, one write() each
#   tungstenite  bench-tungstenite: a plain tokio-tungstenite broadcast loop
#   tickwire-noack (optional, add it to SERVERS) tickwire with spectators that never ack: full
#                snapshots, and no acks for the server to read, as the peers have none
#   tickwire-ack4 (optional) tickwire with spectators that ack every fourth snapshot
#   floor-uring  (optional) bench-floor --io-uring: the floor's sends, a tick's as one io_uring
#                submission instead of one write() each (the crowds issue's moonshot, measured
#                without a server first)
#   tickwire-uring (optional) tickwire with --io-uring: the room's direct writes as one io_uring
#                submission per 128 clients instead of one writev each
#   tickwire-uring-ackread (optional) tickwire-uring with spectators that leave TCP's delayed-ACK
#                ping-pong mode after each ack they send (bench-swarm --ack-at-read), so their
#                kernels acknowledge frames where the swarm reads them, as the never-sending
#                clients of the peers do: on loopback the server's core then processes no ACKs,
#                as for the peers (BENCHMARKS.md, "Which rule bills tickwire")
#   tickwire-base (optional) the tickwire run with another server binary, BASE_SERVER (e.g. a
#                copy of target/release/tickwire-server built before a change), to measure a
#                change side by side in one run; BASE_FLAGS adds server flags to it alone (e.g.
#                --io-uring, to set it beside tickwire-uring)
# Each server runs alone, pinned to core 0; the load (bench-swarm, and the players' bots) runs
# pinned to core 1; loopback only; every run is bounded in time. The peers broadcast frames of
# one size for every run at an N: the mean payload of PAYLOAD_FROM (a tickwire variant, plain
# tickwire by default), measured up front at that N in a run of its own that no table counts,
# so that the order of the runs does not change what the peers send. Each run starts one server
# further along SERVERS (run 2 of "a b c" is b c a: `run_order` in bench/lib.sh). Prints a line
# per run, then the table of medians and the ratios of server CPU per delivered frame (median of
# per-run ratios, their range in brackets), of PAYLOAD_FROM to every other server when it is in
# SERVERS, else of SERVERS' first.
#
#   bench/fanout.sh                   # N = 1000 3000, 3 runs each
#   bench/fanout.sh 1000 3000 5000 8000
#   RUNS=5 DURATION=20s bench/fanout.sh 5000
#
# Environment: RUNS (3), DURATION (window, 10s), WARMUP (3s), CONNECT_OVER (2s) (durations as
# the binaries take them: 10s, 500ms, 2m, 1m30s, 2.5s; whole milliseconds), PLAYERS (32),
# SERVERS ("tickwire node-ws floor tungstenite"), ACK_EVERY (how often the spectators of the
# tickwire and tickwire-base runs ack: 1, every snapshot; tickwire's clients ack every 30 ticks),
# SWARM_FLAGS (more bench-swarm flags for every run, e.g. --io-uring: the swarm reads through
# one io_uring), BASE_ACK_EVERY (the same for tickwire-base alone, default ACK_EVERY: a base server whose
# clients acked at another rate), PAYLOAD_FROM (tickwire: the variant whose payload the peers
# send, with its flags), PAYLOAD (bytes the peers send instead, for every N: no measuring run;
# 80 when SERVERS has peers only and PAYLOAD_FROM is not set), NICE (niceness of everything
# measured, e.g. -10 as root on a machine shared with builds: the measured processes then wait
# less behind them), ORDER (rotate, the default, or
# fixed: every run in SERVERS' order), OUT (target/bench/fanout-DATE), PORT_BASE (18100: the
# servers listen on PORT_BASE to PORT_BASE+3: tickwire, floor, tungstenite, node-ws), BIN_DIR (a
# directory of prebuilt release binaries: tickwire-server, tickwire-bots and the bench-*; no
# build), CARGO_TARGET_DIR (where the build goes without BIN_DIR, as for cargo). Relative paths
# are from the repository's root.
# Every input is checked before the build. The processes it starts may each open N + PLAYERS +
# 100 files: the script raises its soft limit (ulimit -Sn) to the hard one for them when that
# is too few, and stops if the hard one is.
# Needs taskset (util-linux); node and npm for node-ws.
set -euo pipefail
cd "$(dirname "$0")/.."

source bench/lib.sh
own_session "$@"

counts=("$@")
[[ ${#counts[@]} -eq 0 ]] && counts=(1000 3000)
runs=${RUNS:-3}
duration=${DURATION:-10s}
ack_every=${ACK_EVERY:-1}
base_ack_every=${BASE_ACK_EVERY:-$ack_every}
warmup=${WARMUP:-3s}
connect_over=${CONNECT_OVER:-2s}
players=${PLAYERS:-32}
# In exact milliseconds, as every binary gets them (and the bounds are sums of them).
duration_ms=$(duration_ms DURATION "$duration") || exit 2
warmup_ms=$(duration_ms WARMUP "$warmup") || exit 2
connect_over_ms=$(duration_ms CONNECT_OVER "$connect_over") || exit 2
whole() { [[ $2 =~ ^[0-9]{1,6}$ ]] && (( 10#$2 >= $3 )) || {
    echo "fanout.sh: $1 must be a whole number, at least $3, got '$2'" >&2
    exit 2
}; }
whole RUNS "$runs" 1
whole PLAYERS "$players" 0
whole ACK_EVERY "$ack_every" 1
whole BASE_ACK_EVERY "$base_ack_every" 1
runs=$((10#$runs)) players=$((10#$players))
port_base=$(port_base PORT_BASE 18100 4) || exit 2
servers=(${SERVERS-tickwire node-ws floor tungstenite})
payload_from=${PAYLOAD_FROM:-tickwire}
# Every server this script runs (each described at the top): the checks and the runs below
# take their names from here alone.
tickwire_variants=(tickwire tickwire-noack tickwire-ack4 tickwire-base tickwire-uring tickwire-uring-ackread)
peer_servers=(node-ws floor floor-uring tungstenite)
# listed NAME LIST...: whether LIST holds NAME.
listed() { local name=$1; shift; [[ " $* " == *" $name "* ]]; }
# Before the build and the runs: a typo would otherwise stop the script only when its turn
# came, minutes in.
[[ ${#servers[@]} -gt 0 ]] || { echo "fanout.sh: SERVERS names no server" >&2; exit 2; }
for server in "${servers[@]}"; do
    listed "$server" "${tickwire_variants[@]}" "${peer_servers[@]}" || {
        echo "fanout.sh: unknown server '$server' in SERVERS; known: ${tickwire_variants[*]} ${peer_servers[*]}" >&2
        exit 2
    }
done
nice=${NICE:-0}
run_order 1 "${servers[@]}" >/dev/null || exit 2
swarm_flags=(${SWARM_FLAGS:-})
out=${OUT:-target/bench/fanout-$(date -u +%Y%m%d-%H%M%S)}
rows="$out/rows.jsonl"

check_counts
# The swarm's N sockets and 64 more of its own; the server's N + PLAYERS (its
# --max-connections is N + PLAYERS + 100).
need_open_files "N=$most with PLAYERS=$players" $(( most + players + 100 ))
if listed tickwire-base "${servers[@]}"; then
    [[ -n "${BASE_SERVER:-}" && -x "${BASE_SERVER:-}" && ! -d "${BASE_SERVER:-}" ]] || {
        echo "fanout.sh: tickwire-base in SERVERS needs BASE_SERVER, an executable tickwire-server" \
            "(e.g. a copy of target/release/tickwire-server built before a change), got" \
            "'${BASE_SERVER:-}'" >&2
        exit 2
    }
fi
listed "$payload_from" "${tickwire_variants[@]}" || {
    echo "fanout.sh: PAYLOAD_FROM must be a tickwire variant (${tickwire_variants[*]}), got '$payload_from'" >&2
    exit 2
}
peers=0
for server in "${servers[@]}"; do
    if listed "$server" "${peer_servers[@]}"; then peers=1; fi
done
# Without peers nothing needs the size; with PAYLOAD it is given; a run of peers alone sends
# 80 B unless PAYLOAD_FROM asks for tickwire's.
measure_payload=0
if [[ -z "${PAYLOAD:-}" && $peers -eq 1 ]]; then
    if [[ " ${servers[*]} " == *" tickwire"* || -n "${PAYLOAD_FROM:-}" ]]; then
        measure_payload=1
    else
        PAYLOAD=80
    fi
fi
if [[ -n "${PAYLOAD:-}" ]] && ! [[ "$PAYLOAD" =~ ^[0-9]+$ && "$PAYLOAD" -ge 4 ]]; then
    echo "fanout.sh: PAYLOAD must be a whole number of bytes, at least 4 (the tick), got '$PAYLOAD'" >&2
    exit 2
fi
# The ratios' subject: the server the peers match, when it runs.
subject=${servers[0]}
[[ " ${servers[*]} " == *" $payload_from "* ]] && subject=$payload_from
tools=(taskset)
listed node-ws "${servers[@]}" && tools+=(node npm)
for tool in "${tools[@]}"; do
    command -v "$tool" >/dev/null || { echo "fanout.sh: needs $tool on PATH" >&2; exit 2; }
done
# What this run starts, for BIN_DIR to hold.
bins=(bench-swarm bench-table)
tickwire_runs=0
for server in "${servers[@]}"; do
    if listed "$server" "${tickwire_variants[@]}"; then tickwire_runs=1; fi
done
if [[ $tickwire_runs -eq 1 || $measure_payload -eq 1 ]]; then
    bins+=(tickwire-server)
    [[ $players -gt 0 ]] && bins+=(tickwire-bots)
fi
listed floor "${servers[@]}" || listed floor-uring "${servers[@]}" && bins+=(bench-floor)
listed tungstenite "${servers[@]}" && bins+=(bench-tungstenite)
need_bins "${BIN_DIR:-}" "${bins[@]}"

mkdir -p "$out"
# Only what runs: a run of the peers alone needs no server build.
packages=(tickwire-bench)
listed tickwire-server "${bins[@]}" && packages+=(tickwire-server)
listed tickwire-bots "${bins[@]}" && packages+=(tickwire-bots)
bin=$(release_bin "${packages[@]}") || exit 1
if listed node-ws "${servers[@]}"; then
    (cd bench/node && npm ci --no-audit --no-fund --silent)
fi

# The swarm's bound: connection spread + connect timeout + warm-up + window + leaving.
bound=$(( $(ceil_seconds $((connect_over_ms + warmup_ms + duration_ms))) + 10 + 20 ))

server_pid=""
load_pid=""
cleanup() {
    [[ -n "$load_pid" ]] && stop "$load_pid" INT "the players' bots"
    [[ -n "$server_pid" ]] && stop "$server_pid" TERM "the server"
    load_pid=""
    server_pid=""
}
trap cleanup EXIT

# swarm LABEL PORT N RUN [bench-swarm flags]: its row goes to $swarm_rows, as measurement
# $repeat of LABEL in run RUN.
swarm_rows=$rows
swarm() {
    local label=$1 port=$2 n=$3 run=$4
    shift 4
    local status=0
    timeout --signal=INT "$bound" nice -n "$nice" taskset -c 1 "$bin/bench-swarm" --url "ws://127.0.0.1:$port/ws" \
        --clients "$n" --connect-over "${connect_over_ms}ms" --warmup "${warmup_ms}ms" --duration "${duration_ms}ms" \
        --server-pid "$server_pid" --label "$label" --run "$run" --repeat "$repeat" --json "$swarm_rows" \
        --quiet "${swarm_flags[@]}" "$@" || status=$?
    case $status in
    0) ;;
    # clap's usage error: the swarm refused its flags (SWARM_FLAGS, a limit), as it would in
    # every run; its message is just above.
    2)
        echo "fanout.sh: $label N=$n run $run: bench-swarm refused its flags (its error is above): stopping" >&2
        exit 2
        ;;
    124) echo "fanout.sh: $label N=$n run $run: the swarm timed out after $bound s" >&2 ;;
    *) echo "fanout.sh: $label N=$n run $run: the swarm failed (exit $status; its error is above)" >&2 ;;
    esac
}

total_caps=()
if [[ $tickwire_runs -eq 1 || $measure_payload -eq 1 ]] &&
    "$bin/tickwire-server" --help | grep -q -- '--max-spectators-total'; then
    total_caps=(--max-spectators-total)
fi

# tickwire_run VARIANT N RUN TAG: tickwire-server as VARIANT runs it, its players and the
# swarm; logs and the players' report are named by TAG.
tickwire_run() {
    local server=$1 n=$2 run=$3 tag=$4
    local port=$port_base
    port_free $port PORT_BASE
    local server_bin="$bin/tickwire-server"
    # Checked up front.
    [[ $server == tickwire-base ]] && server_bin=$BASE_SERVER
    local caps=(--max-spectators "$n" --max-connections $((n + players + 100)))
    [[ $server == tickwire-uring* ]] && caps+=(--io-uring)
    # shellcheck disable=SC2206 # BASE_FLAGS is a list of flags
    [[ $server == tickwire-base ]] && caps+=(${BASE_FLAGS:-})
    [[ ${#total_caps[@]} -gt 0 ]] && caps+=(--max-spectators-total "$n")
    nice -n "$nice" taskset -c 0 "$server_bin" --bind "127.0.0.1:$port" --seed "$run" "${caps[@]}" \
        >"$out/$tag.log" 2>&1 &
    server_pid=$!
    wait_for_port $port "$server_pid"
    if [[ "$players" -gt 0 ]]; then
        nice -n "$nice" taskset -c 1 "$bin/tickwire-bots" --url "ws://127.0.0.1:$port/ws" --bots "$players" \
            --role player --room bench --ramp 200/s --duration "$((bound + 10))s" --seed "$run" \
            --quiet --json "$out/players-$tag.json" >"$out/players-$tag.txt" 2>&1 &
        load_pid=$!
        sleep 1
    fi
    case $server in
    tickwire-noack) swarm "$server" $port "$n" "$run" --server tickwire --room bench --no-ack ;;
    tickwire-ack4) swarm "$server" $port "$n" "$run" --server tickwire --room bench --ack-every 4 ;;
    tickwire-uring-ackread)
        swarm "$server" $port "$n" "$run" --server tickwire --room bench --ack-every "$ack_every" --ack-at-read ;;
    tickwire-base) swarm "$server" $port "$n" "$run" --server tickwire --room bench --ack-every "$base_ack_every" ;;
    *) swarm "$server" $port "$n" "$run" --server tickwire --room bench --ack-every "$ack_every" ;;
    esac
}

for n in "${counts[@]}"; do
    payload=${PAYLOAD:-}
    if [[ $measure_payload -eq 1 ]]; then
        # Measured once for every run at this N: taken from whichever variant ran last, the
        # peers sent the noack variant's full snapshots in some runs and acked deltas in others.
        # A file of its own, emptied first: with OUT reused, an earlier invocation's row would
        # stand in for a run that failed.
        swarm_rows="$out/payload-$n.jsonl"
        rm -f "$swarm_rows"
        repeat=1
        tickwire_run "$payload_from" "$n" 1 "payload-$payload_from-$n"
        cleanup
        payload=$("$bin/bench-table" payload "$swarm_rows" --label "$payload_from" \
            --clients "$n" --run 1) || {
            echo "fanout.sh: no payload size measured for $payload_from at N=$n (see $out/payload-$payload_from-$n.log);" \
                "the peers would broadcast frames of another size: stopping" >&2
            exit 1
        }
        swarm_rows=$rows
        echo "N=$n: the peers broadcast $payload B, the mean payload of $payload_from"
    fi
    for run in $(seq 1 "$runs"); do
        mapfile -t order < <(run_order "$run" "${servers[@]}")
        # Counted as the servers run, not from the rows written: bench-table pairs a run's
        # rows by it, and a swarm that failed must not shift the pairs after it.
        declare -A repeats=()
        for server in "${order[@]}"; do
            repeats[$server]=$(( ${repeats[$server]:-0} + 1 ))
            repeat=${repeats[$server]}
            log="$out/$server-$n-$run.log"
            kind=$server
            if listed "$server" "${tickwire_variants[@]}"; then kind=tickwire; fi
            case $kind in
            tickwire)
                tickwire_run "$server" "$n" "$run" "$server-$n-$run"
                ;;
            node-ws)
                port=$((port_base + 3))
                port_free $port PORT_BASE
                nice -n "$nice" taskset -c 0 node bench/node/ws-broadcast.js --port $port --payload-bytes "$payload" \
                    --tick-rate 30 >"$log" 2>&1 &
                server_pid=$!
                wait_for_port $port "$server_pid"
                swarm node-ws $port "$n" "$run" --server raw
                ;;
            floor | floor-uring)
                port=$((port_base + 1))
                port_free $port PORT_BASE
                uring=()
                [[ $server == floor-uring ]] && uring=(--io-uring)
                nice -n "$nice" taskset -c 0 "$bin/bench-floor" --bind "127.0.0.1:$port" --payload-bytes "$payload" \
                    --tick-rate 30 "${uring[@]}" >"$log" 2>&1 &
                server_pid=$!
                wait_for_port $port "$server_pid"
                swarm "$server" $port "$n" "$run" --server raw
                ;;
            tungstenite)
                port=$((port_base + 2))
                port_free $port PORT_BASE
                nice -n "$nice" taskset -c 0 "$bin/bench-tungstenite" --bind "127.0.0.1:$port" --payload-bytes "$payload" \
                    --tick-rate 30 >"$log" 2>&1 &
                server_pid=$!
                wait_for_port $port "$server_pid"
                swarm tungstenite $port "$n" "$run" --server raw
                ;;
            *)
                echo "fanout.sh: $server is in peer_servers but has no case here" >&2
                exit 2
                ;;
            esac
            cleanup
        done
    done
done

if [[ ! -s $rows ]]; then
    echo "fanout.sh: no run wrote a row to $rows: every swarm failed (their errors are above)" >&2
    exit 1
fi
echo
echo "Fan-out, $runs runs of $duration per server and N, $(date -u '+%Y-%m-%d %H:%M UTC'), rows in $rows:"
echo
"$bin/bench-table" fanout "$rows" --subject "$subject" | tee "$out/table.md"

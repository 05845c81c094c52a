#!/usr/bin/env bash
# WebSocket, the HTTP stream and long polling side by side in one run: for 1 client and for
# 500 players at 30 Hz, bytes on the wire per tick per client (both ways, headers included) and
# input-to-ack latency p50/p99, through the JavaScript SDK (driver.mjs). Loopback only; the
# server pinned to core 0 with its per-address caps raised, the driver on core 1.
#
#   bench/transports/run.sh [CLIENTS...]      # default: 1 500
# Env: SECONDS_EACH (measured per transport after the driver's 3 s warm-up, default 15), PORT
# (default 18480), ROUNDS (default 1). The server's log: target/bench/transports-server.log.
set -euo pipefail
cd "$(dirname "$0")/../.."
source bench/lib.sh
PORT=${PORT:-18480}
SECONDS_EACH=${SECONDS_EACH:-15}
ROUNDS=${ROUNDS:-1}
COUNTS=("$@")
[ $# -eq 0 ] && COUNTS=(1 500)
# Before the build: a typo would otherwise stop the script minutes in.
whole() { [[ $2 =~ ^[0-9]{1,6}$ ]] && (( 10#$2 >= $3 && 10#$2 <= $4 )) || {
    echo "transports/run.sh: $1 must be a whole number from $3 to $4, got '$2'" >&2
    exit 2
}; }
whole PORT "$PORT" 1024 65535
whole SECONDS_EACH "$SECONDS_EACH" 1 86400
whole ROUNDS "$ROUNDS" 1 1000
for n in "${COUNTS[@]}"; do whole "CLIENTS (an argument)" "$n" 1 5000; done
for tool in taskset node npm ss; do
  command -v "$tool" >/dev/null || { echo "transports/run.sh: needs $tool on PATH" >&2; exit 2; }
done

cargo build --release -q -p tickwire-server
# In client-web or not at all: a failed cd must not run npm ci here.
(cd client-web && { [ -d node_modules ] || npm ci --no-audit --no-fund -q; })

port_free "$PORT"
out=target/bench # where wait_for_port points at the log
log=$out/transports-server.log
mkdir -p "$out"
taskset -c 0 target/release/tickwire-server --bind "127.0.0.1:$PORT" --max-connections-per-ip 5000 \
  --max-connections 5000 --room-capacity 32 --seed 7 >"$log" 2>&1 &
SERVER=$!
trap 'stop "$SERVER" TERM "the server"' EXIT
wait_for_port "$PORT" "$SERVER" || { tail -n 20 "$log" >&2; exit 1; }

for round in $(seq "$ROUNDS"); do
  for n in "${COUNTS[@]}"; do
    for transport in ws stream poll; do
      taskset -c 1 node --experimental-websocket bench/transports/driver.mjs --port "$PORT" \
        --transport "$transport" --clients "$n" --seconds "$SECONDS_EACH" --server-pid "$SERVER"
      sleep 2 # the seats of the last run leave before the next one joins
    done
  done
done

#!/usr/bin/env bash
# Where clients' inputs meet the server's ticks (BENCHMARKS.md, "Inputs timed to mid-tick"): the
# `pilot` example joins a release server ROUNDS times per binary, the binaries taking turns, and
# each join's seat is read once a second from its 3rd second to its 11th, as the server's input
# queue judges it: `late_inputs_pct` (ticks that ran without the pilot's input) and
# `input_buffer_ms` (the delay the jitter buffer added), as `late/buffer`.
#
#   PILOTS="old=/tmp/pilot-old new=target/release/examples/pilot" bench/input-phase.sh
#
# PILOTS: name=path pairs (default: `new` = target/release/examples/pilot, built by
# `cargo build --release -p tickwire-client --example pilot`); SERVER: the server binary
# (target/release/tickwire-server); ROUNDS (6); PORT (18080). Loopback only, bounded in time:
# 12 s a join. Load the machine beside it (a busy loop) to see what timer jitter does.
set -euo pipefail
cd "$(dirname "$0")/.."
PILOTS=${PILOTS:-new=target/release/examples/pilot}
SERVER=${SERVER:-target/release/tickwire-server}
ROUNDS=${ROUNDS:-6}
PORT=${PORT:-18080}
for tool in curl python3; do
  command -v "$tool" >/dev/null || { echo "input-phase: needs $tool" >&2; exit 1; }
done
[ -x "$SERVER" ] || { echo "input-phase: no server at $SERVER (SERVER=...)" >&2; exit 1; }
for pilot in $PILOTS; do
  [ -x "${pilot#*=}" ] || { echo "input-phase: no pilot at ${pilot#*=} (PILOTS=...)" >&2; exit 1; }
done
export TICKWIRE_ADMIN_TOKEN="input-phase-$(date +%s%N)-token"
logs=$(mktemp -d)
"$SERVER" --bind "127.0.0.1:$PORT" > "$logs/server.log" 2>&1 &
server=$!
trap 'kill -INT $server 2>/dev/null; wait $server 2>/dev/null; rm -rf "$logs"' EXIT
for _ in $(seq 50); do curl -sf "127.0.0.1:$PORT/healthz" >/dev/null && break; sleep 0.2; done
curl -sf "127.0.0.1:$PORT/healthz" >/dev/null || { echo "input-phase: the server did not start:" >&2; cat "$logs/server.log" >&2; exit 1; }
seat() {
  curl -s -H "Authorization: Bearer $TICKWIRE_ADMIN_TOKEN" "127.0.0.1:$PORT/rooms/arena-1/seats" |
    python3 -c '
import json, sys
seats = json.load(sys.stdin)
seats = seats["seats"] if isinstance(seats, dict) else seats
ships = [s for s in seats if s.get("role") == "player"]
print(",".join("%s/%s" % (s.get("late_inputs_pct"), s.get("input_buffer_ms")) for s in ships) or "-")'
}
for _ in $(seq "$ROUNDS"); do
  for pilot in $PILOTS; do
    name=${pilot%%=*}
    "${pilot#*=}" "ws://127.0.0.1:$PORT/ws" > "$logs/pilot.log" 2>&1 &
    pid=$!
    sleep 2
    line=""
    for _ in $(seq 3 11); do
      sleep 1
      line="$line $(seat)"
    done
    kill -INT $pid 2>/dev/null; wait $pid 2>/dev/null || true
    echo "$name:$line"
    sleep 1
  done
done

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
# DURATION is anything tickwire-bots --duration takes (20s, 1.5s, 2m, 1m30s, 500ms); the
# bots check it, and the extra flags, before the first run. Each run keeps its own files in
# OUT: ROLE-BOTS-RUN.json (the bots' report), .bots.txt (their output) and .server.log. Needs
# taskset (util-linux) and python3.
#
# Each run line and the medians show the figures of the role: players fps, delivered share,
# input-to-ack and inter-arrival; spectators fps, delivered share and inter-arrival;
# controllers ping round trips (they get feedback, not a snapshot per tick); n/a where a run
# has no such figure. A run in which no bot joined, no measurement window opened or ran to
# its end (every bot failed or dropped), or the server exited is reported and left out of
# the medians; the script then exits 1. Ctrl-C (or SIGTERM) stops the run under way and the
# script: no further runs, no medians, the server and the bots stopped, exit 130 (143); a
# report the bots wrote interrupted (they were signalled alone) stops it the same way.
#
# Environment: PORT (18090; refused if something listens there already), RAMP (bots started
# per second, 250/s), NICE (e.g. -10 on a shared machine, as root: the measured processes
# then wait less behind other work), OUT (where the files go, target/load-test),
# BOTS_BIN (another tickwire-bots binary, e.g. one built before a change, to compare side by
# side), SERVER_FLAGS (more tickwire-server flags, e.g. "--io-uring"), SERVER_BIN (another
# tickwire-server binary, the same way as BOTS_BIN). Only the binaries not given are built.
set -euo pipefail
# OUT as the caller meant it, before the directory changes.
if [[ -n ${OUT:-} ]]; then
    OUT=$(realpath -m -- "$OUT")
    export OUT
fi
cd "$(dirname "$0")/../.."
# Clears stray TICKWIRE_* variables: the server under test gets its flags from this script alone.
source bench/lib.sh
# A session of its own: Ctrl-C stops every process of the run, not the bots alone (which
# would write an interrupted report and let the script go on to the next run).
own_session "$@"

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
[[ -n $duration ]] || usage "DURATION is empty"

port=${PORT:-18090}
if ! [[ $port =~ ^[1-9][0-9]{0,4}$ ]] || ((port > 65535)); then
    usage "PORT '$port' is not a port number"
fi
ramp=${RAMP:-250/s}
nice=${NICE:-0}
out=${OUT:-target/load-test}
server_bin=${SERVER_BIN:-target/release/tickwire-server}
bots_bin=${BOTS_BIN:-target/release/tickwire-bots}
# Before the build: the bots would measure whatever answers there, not our server.
port_free "$port" PORT

# The server's caps, sized from the bot count: every bot comes from 127.0.0.1, and the
# spectator caps (3,000 per room, 2,000 per core server-wide, and the server is pinned to one
# core) would refuse a crowd of spectator bots beyond the first two thousand with 1013. The
# server wants twice --max-connections in open files (it warns below that), so the room for
# a few more connections than bots is given up where the hard limit is short of it.
caps=$((bots + 100))
fd_limit=$(ulimit -Hn)
if [[ $fd_limit != unlimited ]] && ((2 * caps > fd_limit)); then
    caps=$((fd_limit / 2 > bots ? fd_limit / 2 : bots))
    ((2 * bots <= fd_limit)) ||
        echo "load-test.sh: the open-files hard limit (ulimit -Hn) is $fd_limit, under twice BOTS:" \
            "the server may run out of descriptors before every bot joins (its log warns too)" >&2
fi
# --max-spectators is a 16-bit count.
room_spectators=$((caps < 65535 ? caps : 65535))

mkdir -p "$out"
build=()
[[ -z ${SERVER_BIN:-} ]] && build+=(-p tickwire-server)
[[ -z ${BOTS_BIN:-} ]] && build+=(-p tickwire-bots)
((${#build[@]} == 0)) || cargo build --release -q "${build[@]}"

# The bots' flags of every run, the run's own last; checked now by the bots' own parser
# (--help parses every flag before it, and runs nothing), so that a DURATION, RAMP or extra
# flag they refuse stops the script before the first server starts.
bots_flags() {
    local run=$1 server_pid=$2 json=$3
    printf '%s\n' --url "ws://127.0.0.1:$port/ws" --bots "$bots" --role "$role" --ramp "$ramp" \
        --duration "$duration" --seed "$run" --server-pid "$server_pid" --quiet --json "$json" \
        ${extra[@]+"${extra[@]}"}
}
mapfile -t flags < <(bots_flags 1 $$ /dev/null)
if ! refused=$("$bots_bin" "${flags[@]}" --help 2>&1 >/dev/null); then
    echo "load-test.sh: tickwire-bots refuses these flags (DURATION, RAMP or those after --):" >&2
    echo "$refused" >&2
    exit 2
fi

# The last LINES of the server's log without colour codes or backtrace frames
# (RUST_BACKTRACE in the environment turns an error of two lines into forty, and a tail of
# frames says nothing): what went wrong, at its end.
server_error() {
    sed 's/\x1b\[[0-9;]*m//g' "$1" | awk '
        /^[Ss]tack backtrace:$/ { skip = 1; print "  (backtrace left out: see the log)"; next }
        skip && (/^ *[0-9]+: / || /^ +at / || /^note: .*backtrace/) { next }
        { skip = 0; print }' | tail -n "$2" >&2
}

server=""
cleanup() {
    [[ -n $server ]] && stop "$server" TERM "the server"
    server=""
}
trap cleanup EXIT
# Bash runs these once the command in the foreground (the bots, which leave and report
# first) is done: the run under way ends, none follows.
interrupted() {
    echo "load-test.sh: interrupted: no further runs, no medians (reports so far in $out)" >&2
    exit "$1"
}
trap 'interrupted 130' INT
trap 'interrupted 143' TERM

good=()
bad=()

for run in $(seq 1 "$runs"); do
    tag="$out/$role-$bots-$run"
    json="$tag.json"
    server_log="$tag.server.log"
    # An earlier run's files must not pass for this one's.
    rm -f "$json" "$tag.bots.txt" "$server_log"
    port_free "$port" PORT
    # shellcheck disable=SC2086 # SERVER_FLAGS is a list of flags
    NO_COLOR=1 nice -n "$nice" taskset -c 0 "$server_bin" --bind "127.0.0.1:$port" --seed "$run" \
        --max-connections "$caps" --max-connections-per-ip "$caps" \
        --max-spectators "$room_spectators" --max-spectators-total "$caps" \
        ${SERVER_FLAGS:-} >"$server_log" 2>&1 &
    server=$!
    # Ready when this server says it listens on the port: a connection alone could reach
    # another process there. The banner names the binary as it was run (a copy under another
    # name, a game of its own), so only the rest of the line is matched.
    listening=" listening on 127.0.0.1:$port"
    for _ in $(seq 1 100); do
        grep -qF "$listening" "$server_log" 2>/dev/null && break
        kill -0 "$server" 2>/dev/null || break
        sleep 0.1
    done
    if ! kill -0 "$server" 2>/dev/null; then
        status=0
        wait "$server" || status=$?
        server=""
        echo "load-test.sh: run $run: the server did not start (exit $status); $server_log:" >&2
        server_error "$server_log" 15
        exit 1
    fi
    if ! grep -qF "$listening" "$server_log"; then
        echo "load-test.sh: run $run: the server did not say it listens on port $port within" \
            "10 s; $server_log:" >&2
        server_error "$server_log" 15
        exit 1
    fi
    mapfile -t flags < <(bots_flags "$run" "$server" "$json")
    status=0
    nice -n "$nice" taskset -c 1 "$bots_bin" "${flags[@]}" >"$tag.bots.txt" 2>&1 || status=$?
    # The server may have died during the run (a crash, the OOM killer): say so, keep going.
    server_lost=""
    if kill -0 "$server" 2>/dev/null; then
        cleanup
    else
        server_status=0
        wait "$server" || server_status=$?
        server=""
        server_lost="the server exited during the run (status $server_status)"
        echo "load-test.sh: run $run: $server_lost; the end of $server_log:" >&2
        server_error "$server_log" 5
    fi
    # 1 is a run whose checks failed, still reported; anything else is no run at all.
    if [[ $status -gt 1 || ! -s "$json" ]]; then
        echo "load-test.sh: tickwire-bots failed (exit $status), run $run:" >&2
        cat "$tag.bots.txt" >&2
        exit 1
    fi
    # Exit 3: nothing measured, or not over a whole window: nothing for the medians. Exit 4:
    # the bots were interrupted.
    measured=0
    python3 - "$json" "$run" "$server_lost" <<'PY' || measured=$?
import json, sys
r = json.load(open(sys.argv[1]))
run, server_lost = sys.argv[2], sys.argv[3]
role = r["run"]["role"]
def na(v, fmt, unit=""):
    return "n/a" if v is None else format(v, fmt) + unit
def get(obj, key):
    return (obj or {}).get(key)
if r["run"]["interrupted"]:
    print(f"run {run}: the bots were interrupted ({r['run']['interrupted_in']}): not counted",
          file=sys.stderr)
    sys.exit(4)
joined, window = r["bots"]["joined"], r["run"]["window_s"]
res, f = r["resources"], r["frames"]
if res.get("server_gone") and not server_lost:
    g = res["server_gone"]
    server_lost = f'the server was gone {g["after_s"]:.1f} s into the {g["phase"]}'
why = ("no bot joined" if joined == 0
       else "no measurement window opened" if window is None
       else "every bot had failed or dropped" if r["run"].get("no_bot_left_in")
       else server_lost)
if role == "controller":
    rtt = r["rtt_ms"]
    figures = f'ping rtt p50/p99 {na(get(rtt, "p50"), ".1f")}/{na(get(rtt, "p99"), ".1f")} ms'
else:
    fps, gap = f["per_bot_fps"], r["interarrival_ms"]
    delivered = f["delivered_ratio"]
    figures = (f'fps mean {na(get(fps, "mean"), ".2f")} p1 {na(get(fps, "p1"), ".2f")} '
               f'delivered {na(None if delivered is None else 100 * delivered, ".1f", "%")}')
    if role == "player":
        lat = r["input_to_ack_ms"]
        figures += (f' input-to-ack p50/p99 {na(get(lat, "p50"), ".1f")}/'
                    f'{na(get(lat, "p99"), ".1f")} ms')
    figures += f' inter-arrival p99 {na(get(gap, "p99"), ".1f")} ms'
def cpu(percent, seconds):
    if percent is None and seconds is not None:
        return "too little to measure"
    return na(percent, ".0f", "%")
server = (f'server gone {res["server_gone"]["after_s"]:.1f} s into the {res["server_gone"]["phase"]}'
          if res.get("server_gone")
          else f'server CPU {cpu(res["server_cpu_percent"], res.get("server_cpu_s"))}')
waits = (f'waited for a CPU: bots {na(res["bots_wait_percent"], ".0f", "%")} '
         f'server {na(res["server_wait_percent"], ".0f", "%")}')
line = (f'run {run}: joined {joined}/{r["run"]["bots"]} {figures} '
        f'bots CPU {cpu(res["bots_cpu_percent"], res.get("bots_cpu_s"))} {server} {waits} '
        f'RSS/bot {na(res["rss_per_bot_kib"], ".1f", " KiB")} '
        f'failed {sum(r["bots"]["failures"].values())} dropped {sum(r["bots"]["drops"].values())} '
        f'errors {sum(r["errors"].values())}')
if why:
    reasons = ", ".join(f"{k} x{n}" for k, n in r["bots"]["failures"].items()) or "none"
    drops = ", ".join(f"{k} x{n}" for k, n in r["bots"]["drops"].items()) or "none"
    failed = "; ".join(f'{c["name"]}: {c["detail"]}' for c in r["checks"] if not c["ok"])
    print(f"{line}\nrun {run}: not counted: {why} (failed by reason: {reasons}; dropped by "
          f"reason: {drops}; checks failed: {failed or 'none'})", file=sys.stderr)
    sys.exit(3)
print(line)
PY
    case $measured in
    0) good+=("$run") ;;
    3) bad+=("$run") ;;
    4)
        echo "load-test.sh: the bots of run $run were interrupted: stopping; no medians" >&2
        exit 130
        ;;
    *)
        echo "load-test.sh: cannot read $json (python3 exit $measured)" >&2
        exit 1
        ;;
    esac
done

if ((${#good[@]} == 0)); then
    echo "load-test.sh: no run measured anything (runs ${bad[*]}): no medians" >&2
    exit 1
fi
python3 - "$out" "$role" "$bots" "${bad[*]}" "${good[@]}" <<'PY'
import json, statistics, sys
out, role, bots, bad, good = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4], sys.argv[5:]
reports = [json.load(open(f"{out}/{role}-{bots}-{i}.json")) for i in good]
def of(*keys):
    def get(r):
        v = r
        for key in keys:
            v = (v or {}).get(key)
        return v
    return get
def med(get):
    """The median over the runs that have the figure (None when none has it), and how many."""
    values = [v for v in (get(r) for r in reports) if v is not None]
    return (statistics.median(values) if values else None), len(values)
def fig(get, fmt, unit="", scale=1):
    """A median as text: n/a when no run has it, and how many runs it is of when not all."""
    value, n = med(get)
    if value is None:
        return "n/a"
    text = format(value * scale, fmt) + unit
    return text if n == len(reports) else f"{text} ({n} of {len(reports)} runs)"
res = lambda key: of("resources", key)
parts = []
if role == "controller":
    parts.append(f'ping rtt p50 {fig(of("rtt_ms", "p50"), ".1f")} '
                 f'p99 {fig(of("rtt_ms", "p99"), ".1f", " ms")}')
else:
    parts.append(f'fps mean {fig(of("frames", "per_bot_fps", "mean"), ".2f")} '
                 f'p1 {fig(of("frames", "per_bot_fps", "p1"), ".2f")}, '
                 f'delivered {fig(of("frames", "delivered_ratio"), ".1f", "%", 100)}')
    if role == "player":
        parts.append(f'input-to-ack p50 {fig(of("input_to_ack_ms", "p50"), ".1f")} '
                     f'p99 {fig(of("input_to_ack_ms", "p99"), ".1f", " ms")}')
    parts.append(f'inter-arrival p99 {fig(of("interarrival_ms", "p99"), ".1f", " ms")}')
parts.append(f'bytes/bot/s in {fig(of("bytes_per_bot_per_s", "in"), ".0f")} '
             f'out {fig(of("bytes_per_bot_per_s", "out"), ".0f")}')
def cpu(who):
    """CPU in percent of a core, and per snapshot received (players and spectators)."""
    percent = f"{who}_cpu_percent"
    if med(res(percent))[1] == 0:
        measured = any(r["resources"].get(f"{who}_cpu_s") is not None for r in reports)
        return f"{who} CPU " + ("too little to measure" if measured else "n/a")
    def per_frame(r):  # microseconds of CPU per snapshot received, run by run
        frames = r["frames"]["received"]
        if r["resources"][percent] is None or not frames:
            return None
        return r["resources"][percent] / 100 * 1e6 / (frames / r["run"]["window_s"])
    text = f'{who} CPU {fig(res(percent), ".0f", "%")}'
    return text if role == "controller" else f"{text} ({fig(per_frame, '.2f', ' us')} per frame)"
parts.append(f'{cpu("bots")}, {cpu("server")}')
parts.append(f'waited for a CPU: bots {fig(res("bots_wait_percent"), ".0f", "%")} '
             f'server {fig(res("server_wait_percent"), ".0f", "%")}')
parts.append(f'RSS per bot {fig(res("rss_per_bot_kib"), ".1f", " KiB")}')
if role != "controller" and med(res("bots_per_core"))[1]:
    parts.append(f'about {fig(res("bots_per_core"), ".0f")} bots per core')
left_out = f" (left out: run {bad})" if bad else ""
print(f"median of {len(reports)}{left_out}: {role} {bots}: " + ", ".join(parts)
      + "".join(f"\n  run {i}: warning: {w}" for i, r in zip(good, reports) for w in r["warnings"]))
PY
if ((${#bad[@]})); then
    echo "load-test.sh: run(s) ${bad[*]} measured nothing or lost the server (see above)" >&2
    exit 1
fi

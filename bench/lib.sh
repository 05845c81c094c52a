# Shared by the bench scripts and bots/scripts (`source bench/lib.sh` after `cd` to the
# repository root): a clean TICKWIRE_* environment, the session niceness, durations, and
# starting and stopping the processes measured. Messages name the script that sourced it.

bench_name=${0##*/}

# tickwire-server takes every flag from a TICKWIRE_* variable when the flag is not given: one
# left in the shell (TICKWIRE_IO_URING, TICKWIRE_LOG=debug ...) would change the server under
# test without a word. The servers measured get their flags from the scripts alone.
for var in "${!TICKWIRE_@}"; do
    [[ $var == TICKWIRE_BENCH_SESSION ]] || unset "$var"
done
unset var

# Runs the script in a session of our own and, with NICE, gives its scheduling group that
# niceness: with autogroups on (Linux's default), plain `nice` only ranks processes within
# their session and does nothing against builds in other sessions. Call first, with the
# script's arguments.
#
# The terminal's Ctrl-C reaches only its foreground process group, and `timeout` puts the
# swarm, bots and drivers it bounds in process groups of their own, so the Ctrl-C would miss
# them (and the script, seeing them not killed by it, would carry on). This process stays in
# the terminal's group to pass it on, with or without NICE: it ends every process of the new
# session, then waits for the script's cleanup. A script has no job control, so setsid(1) is
# not a group leader here and does not fork: its pid is the new session's id.
own_session() {
    if [[ -z "${TICKWIRE_BENCH_SESSION:-}" ]]; then
        # The script by its absolute path: it has changed directory since it was started, so
        # a relative "$0" (`cd bench && ./game.sh`) names nothing here. Bash keeps the script
        # it runs open on descriptor 255.
        local script
        script=$(readlink -f "/proc/$$/fd/255" 2>/dev/null) || script=$0
        # Set before the session starts: a Ctrl-C between the two would leave it running.
        bench_session=
        trap 'end_session 130' INT
        trap 'end_session 143' TERM
        # A script's background command starts with SIGINT ignored, and everything it runs
        # would inherit that: the scripts stop their bots and swarms with SIGINT.
        TICKWIRE_BENCH_SESSION=1 setsid --wait env --default-signal=INT,QUIT "$script" "$@" &
        bench_session=$!
        local status=0
        wait "$bench_session" || status=$?
        exit "$status"
    fi
    if [[ -n "${NICE:-}" && -w /proc/self/autogroup ]]; then
        echo "$NICE" >/proc/self/autogroup 2>/dev/null ||
            echo "$bench_name: cannot set the session's niceness to $NICE (needs root); running without" >&2
    fi
}

# end_session STATUS: SIGTERM to every process of the session own_session started, then wait
# for it (the script's EXIT trap stops what it started); a second Ctrl-C kills them at once.
end_session() {
    [[ -n "$bench_session" ]] || exit "$1"
    trap 'pkill -KILL -s "$bench_session" 2>/dev/null' INT TERM
    echo "$bench_name: interrupted: stopping the session's processes (Ctrl-C again to kill them)" >&2
    pkill -TERM -s "$bench_session" 2>/dev/null || true
    while kill -0 "$bench_session" 2>/dev/null; do
        wait "$bench_session" 2>/dev/null || true
    done
    exit "$1"
}

# run_order RUN ITEM...: the items in the order run RUN measures them, one per line. With
# ORDER=rotate (the default) each run starts one item further along (run 2 of "a b c" is
# "b c a"), so that no server always runs first or right after the same one: the machine's
# speed drifts by a quarter within minutes, and a fixed order would add that drift to the
# ratios. ORDER=fixed keeps the given order.
run_order() {
    local run=$1
    shift
    local first=0
    case ${ORDER:-rotate} in
    rotate) first=$(( (run - 1) % $# )) ;;
    fixed) ;;
    *) echo "$bench_name: ORDER must be rotate or fixed, got '${ORDER}'" >&2; return 2 ;;
    esac
    local items=("$@")
    printf '%s\n' "${items[@]:first}" "${items[@]:0:first}"
}

# Seconds in a duration such as 10s or 500ms, rounded up.
seconds() { local d=$1; [[ $d == *ms ]] && echo $(( (${d%ms} + 999) / 1000 )) || echo "${d%s}"; }

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
        echo "$bench_name: $what (pid $pid) still running 10 s after SIG$signal; killed" >&2
        kill -KILL "$pid" 2>/dev/null || true
    fi
    wait "$pid" 2>/dev/null || true
}

# Waits until the server just started (pid $2) listens on port $1; fails if it died first
# (the port was taken, a bad flag: see its log in $out).
wait_for_port() {
    for _ in $(seq 1 100); do
        kill -0 "$2" 2>/dev/null || { echo "$bench_name: the server on port $1 exited at start (see $out/*.log)" >&2; return 1; }
        (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0
        sleep 0.1
    done
    echo "$bench_name: nothing listens on port $1 after 10 s (see $out/*.log)" >&2
    return 1
}

# A server of an earlier run still on our port would be measured instead of ours. $2, when
# given, names the variable the port comes from, for the message.
port_free() {
    if (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; then
        echo "$bench_name: port $1${2:+ ($2)} is already in use; stop what listens there first${2:+, or set $2 to a free port}" >&2
        exit 2
    fi
}

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
        # it runs open on descriptor 255, or on a lower one when the soft open-files limit
        # (ulimit -Sn) is 255 or less: the descriptor that names a file of the script's name.
        local script="" fd target
        for fd in "/proc/$$/fd/255" "/proc/$$/fd/"*; do
            target=$(readlink -e "$fd" 2>/dev/null) || continue
            if [[ ${target##*/} == "$bench_name" && -f $target ]]; then
                script=$target
                break
            fi
        done
        [[ -n $script ]] || script=$0
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

# duration_ms NAME VALUE: the milliseconds in VALUE, a duration as the binaries take it (10s,
# 500ms, 2m, 1m30s, 2.5s, 1h), or a message naming the variable NAME and status 2. Exact, never
# rounded: the scripts hand every binary and driver the same window in these milliseconds, and
# their bounds are sums of them. Zero is refused, as the binaries refuse it.
duration_ms() {
    local name=$1 text=$2 rest=$2 total=0 whole fraction unit scale part
    local -A unit_ms=([ms]=1 [s]=1000 [m]=60000 [h]=3600000)
    while [[ -n $rest ]]; do
        # The unit must be followed by the next number or nothing, so `ms` is never `m` then
        # a stray `s`.
        if ! [[ $rest =~ ^([0-9]{1,9})(\.([0-9]{1,6}))?(ms|s|m|h)([0-9].*)?$ ]]; then
            total=-1
            break
        fi
        whole=$((10#${BASH_REMATCH[1]}))
        fraction=${BASH_REMATCH[3]}
        unit=${unit_ms[${BASH_REMATCH[4]}]}
        rest=${BASH_REMATCH[5]}
        part=$((whole * unit))
        if [[ -n $fraction ]]; then
            scale=$((10 ** ${#fraction}))
            if (( 10#$fraction * unit % scale != 0 )); then
                echo "$bench_name: $name=$text is not a whole number of milliseconds" >&2
                return 2
            fi
            part=$((part + 10#$fraction * unit / scale))
        fi
        total=$((total + part))
    done
    if (( total <= 0 )); then
        echo "$bench_name: $name must be a duration longer than zero such as 10s, 500ms, 2m," \
            "1m30s or 2.5s, got '$text'" >&2
        return 2
    fi
    echo "$total"
}

# ceil_seconds MS: whole seconds, rounded up, for the scripts' time bounds.
ceil_seconds() { echo $(( ($1 + 999) / 1000 )); }

# ms_as_seconds MS: seconds with the milliseconds as decimals (1500 -> 1.500), for the drivers
# that take seconds as a number.
ms_as_seconds() { printf '%d.%03d\n' $(( $1 / 1000 )) $(( $1 % 1000 )); }

# need_open_files WHAT NEEDED: makes sure the processes the script starts may each open NEEDED
# files: raises this shell's soft limit (which they inherit) to its hard limit when the soft
# one is too small, or stops with a message naming WHAT (e.g. "N=20000") when even the hard
# one is. The Rust binaries raise their own soft limits too; Node's servers and drivers do
# not.
need_open_files() {
    local what=$1 needed=$2 soft hard
    soft=$(ulimit -Sn)
    hard=$(ulimit -Hn)
    if [[ $soft == unlimited ]] || (( soft >= needed )); then
        return 0
    fi
    if [[ $hard != unlimited ]] && (( hard < needed )); then
        echo "$bench_name: $what needs $needed open files per process, but the hard limit" \
            "(ulimit -Hn) is $hard: measure fewer, or raise the hard limit first (as root)" >&2
        exit 2
    fi
    # An unlimited hard limit: as far as the kernel lets a process go.
    [[ $hard == unlimited ]] && hard=$(cat /proc/sys/fs/nr_open 2>/dev/null || echo "$needed")
    ulimit -Sn "$hard" || {
        echo "$bench_name: $what needs $needed open files per process; cannot raise the soft" \
            "limit (ulimit -Sn) from $soft to $hard" >&2
        exit 2
    }
    echo "$bench_name: $what needs $needed open files per process: raised the soft limit" \
        "(ulimit -Sn) from $soft to $hard" >&2
}

# check_counts: checks the client counts in the array `counts` (whole numbers from 1 to 16000),
# rewrites them without leading zeros (which bash's arithmetic would read as octal), and sets
# `most` to the largest; stops with a message naming the bad one.
check_counts() {
    local i n
    most=0
    for i in "${!counts[@]}"; do
        n=${counts[i]}
        [[ "$n" =~ ^[0-9]{1,5}$ ]] && (( 10#$n >= 1 && 10#$n <= 16000 )) || {
            echo "$bench_name: N must be a whole number from 1 to 16000, got '$n'" >&2
            exit 2
        }
        counts[i]=$((10#$n))
        (( counts[i] > most )) && most=${counts[i]}
    done
    return 0
}

# port_base NAME DEFAULT SPAN: the first of SPAN ports from variable NAME (or DEFAULT),
# refused unless the whole span lies in 1024-65535.
port_base() {
    local name=$1 value=${!1:-$2} span=$3
    if ! [[ $value =~ ^[0-9]{1,5}$ ]] || (( 10#$value < 1024 || 10#$value + span - 1 > 65535 )); then
        echo "$bench_name: $name must be a port from 1024 to $((65536 - span)) (the script uses" \
            "$name to $name+$((span - 1))), got '$value'" >&2
        exit 2
    fi
    echo $((10#$value))
}

# release_bin [PACKAGE...]: the directory of the release binaries, on stdout. With BIN_DIR, that
# directory, and no build (prebuilt binaries, e.g. on a machine without a toolchain);
# otherwise `cargo build --release` of the packages, into CARGO_TARGET_DIR when it is set.
# Call after every input check: a build takes minutes.
release_bin() {
    if [[ -n "${BIN_DIR:-}" ]]; then
        echo "$BIN_DIR"
        return
    fi
    local packages=()
    for package in "$@"; do packages+=(-p "$package"); done
    cargo build --release -q "${packages[@]}" >&2 || return 1
    echo "${CARGO_TARGET_DIR:-target}/release"
}

# need_bins DIR NAME...: with BIN_DIR, stops with a message naming it unless DIR holds each
# executable NAME. Before the runs, so that a missing one does not stop the script midway.
need_bins() {
    local dir=$1
    shift
    [[ -n "${BIN_DIR:-}" ]] || return 0
    [[ -d $dir ]] || { echo "$bench_name: BIN_DIR=$dir is not a directory" >&2; exit 2; }
    for name in "$@"; do
        [[ -x $dir/$name ]] || {
            echo "$bench_name: BIN_DIR=$dir has no executable $name (needed by this run)" >&2
            exit 2
        }
    done
}

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

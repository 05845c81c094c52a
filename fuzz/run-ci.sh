#!/usr/bin/env bash
# Fuzzing in CI: builds every target of fuzz/ (libFuzzer, debug assertions and overflow
# checks, LeakSanitizer) and runs each for a bounded time from its committed corpus; fails on
# any crash, panic, failed invariant, leak, timeout or out-of-memory, naming the input and how
# to reproduce it.
#
# Usage: fuzz/run-ci.sh [SECONDS_PER_TARGET] (default 45). FUZZ_JOBS targets run at once
# (default 2, one per core). FUZZ_TARGETS="a b" runs only those; FUZZ_ALL=1 runs the targets
# left out of the per-commit set too (`off_ci` below). New inputs go to a scratch directory,
# never into the committed corpus. FUZZ_BUILD_ONLY=1 builds and stops (`.ci/run` builds while
# the tests run, and fuzzes later).
#
# Installs what it needs: the pinned nightly toolchain. It builds with the flags
# `cargo fuzz build -a -s leak` passes (cargo-fuzz 0.13, src/project.rs), into the same
# directory, so `cargo +nightly fuzz run -a -s leak <target>` reuses this build; cargo-fuzz
# itself is not needed here (building it takes longer than building the targets).
#
# LeakSanitizer rather than cargo-fuzz's default AddressSanitizer: the code under test is safe
# Rust (`forbid(unsafe_code)` in shared and client-embedded; the server's few `unsafe` blocks
# wrap libc and io_uring calls no fuzz target reaches), so ASan would only watch dependencies'
# unsafe code, at 1.4 times the build time and 2 to 4 times the time per input.
# FUZZ_SANITIZER=address runs it anyway.
set -euo pipefail
cd "$(dirname "$0")"

seconds="${1:-45}"
jobs="${FUZZ_JOBS:-2}"
# Pinned, so that a new nightly cannot break CI on its own; bump it deliberately.
toolchain="${FUZZ_TOOLCHAIN:-nightly-2026-10-30}"
sanitizer="${FUZZ_SANITIZER:-leak}"

# Longest input per target: a client message is at most 256 bytes, a URL short; structured
# inputs need room for worlds, streams and tokens.
max_len() {
    case "$1" in
        client_message | hello) echo 512 ;;
        server_url) echo 256 ;;
        *) echo 4096 ;;
    esac
}

start=$(date +%s)
if ! rustup run "$toolchain" rustc --version >/dev/null 2>&1; then
    rustup toolchain install "$toolchain" --profile minimal
fi
echo "fuzz: $(rustup run "$toolchain" rustc --version) ready in $(($(date +%s) - start)) s"

host=$(rustup run "$toolchain" rustc -vV | sed -n 's/^host: //p')
flags=(
    -Cpasses=sancov-module
    -Cllvm-args=-sanitizer-coverage-level=4
    -Cllvm-args=-sanitizer-coverage-inline-8bit-counters
    -Cllvm-args=-sanitizer-coverage-pc-table
    -Cllvm-args=-sanitizer-coverage-trace-compares
    --cfg fuzzing
    -Cllvm-args=-simplifycfg-branch-fold-threshold=0
    "-Zsanitizer=$sanitizer"
    -Cllvm-args=-sanitizer-coverage-stack-depth
    -Cdebug-assertions
    -Ccodegen-units=1
)
build_start=$(date +%s)
RUSTFLAGS="${flags[*]}" cargo "+$toolchain" build --manifest-path Cargo.toml --target "$host" \
    --release --config 'profile.release.debug="line-tables-only"' --bins --locked
targets=$(sed -n 's/^name = "\(.*\)"$/\1/p' Cargo.toml | grep -v '^tickwire-fuzz$')
# Built, but not run per commit: `server_url` reads a firmware's build-time URL, which no peer
# sends; its time goes to the parsers peers reach. FUZZ_ALL=1 or FUZZ_TARGETS runs it.
off_ci="server_url"
if [[ -n "${FUZZ_TARGETS:-}" ]]; then
    targets="$FUZZ_TARGETS"
elif [[ -z "${FUZZ_ALL:-}" ]]; then
    targets=$(grep -vxF -f <(tr " " "\n" <<<"$off_ci") <<<"$targets")
fi
# `times`: the CPU time of this script's children so far (the toolchain install and the build).
build_cpu=$(times | tail -1)
echo "fuzz: built $(wc -w <<<"$targets") targets in $(($(date +%s) - build_start)) s (CPU so far, user and system: $build_cpu)"
[[ -z "${FUZZ_BUILD_ONLY:-}" ]] || exit 0

bin_dir="target/$host/release"
scratch="$(mktemp -d)"
trap 'rm -rf "$scratch"' EXIT

run_target() {
    local target="$1" log="$scratch/$1.log"
    local dict=()
    [[ -f "dict/$target.dict" ]] && dict=("-dict=dict/$target.dict")
    mkdir -p "$scratch/$target" "artifacts/$target"
    if "$bin_dir/$target" "$scratch/$target" "corpus/$target" "${dict[@]}" \
        -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -max_len="$(max_len "$target")" \
        -artifact_prefix="artifacts/$target/" -print_final_stats=1 >"$log" 2>&1; then
        # "#123 DONE cov: 456 ft: 789 corp: 12/3Kb ..." and the final stats.
        local done_line execs rate
        done_line=$(grep -E '^#[0-9]+[[:space:]]+DONE' "$log" | tail -1)
        execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log")
        rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log")
        printf 'fuzz: %-22s ok   %10s execs %7s/s  %s\n' "$target" "$execs" "$rate" \
            "$(sed -E 's/^#[0-9]+[[:space:]]+DONE[[:space:]]+//; s/ +lim:.*//; s/ +exec\/s:.*//' <<<"$done_line")"
    else
        printf 'fuzz: %-22s FAILED\n' "$target"
        tail -n 60 "$log"
        local artifact
        artifact=$(sed -n 's/.*Test unit written to \(.*\)$/\1/p' "$log" | tail -1)
        if [[ -n "$artifact" ]]; then
            echo "fuzz: reproduce with: cargo +nightly fuzz run -a -s $sanitizer $target fuzz/$artifact"
            echo "fuzz: (or, without cargo-fuzz: fuzz/$bin_dir/$target fuzz/$artifact)"
        fi
        return 1
    fi
}

failed=0
running=0
for target in $targets; do
    run_target "$target" &
    running=$((running + 1))
    if ((running >= jobs)); then
        wait -n || failed=1
        running=$((running - 1))
    fi
done
while ((running > 0)); do
    wait -n || failed=1
    running=$((running - 1))
done

echo "fuzz: $(wc -w <<<"$targets") targets, ${seconds} s each, $jobs at a time, $(($(date +%s) - start)) s in all"
if ((failed)); then
    echo "fuzz: FAILED (inputs under fuzz/artifacts/)"
    exit 1
fi

#!/usr/bin/env bash
# The long churn soak: 16 clients connect, play, drop, resume and leave in a loop against the
# release server binary for SECONDS_TO_RUN seconds (default 1800), then the test checks that sessions, seats,
# resume tokens and rooms are back to zero and that the server's RSS grew by at most 3 MiB
# after warm-up. Prints the soak line (cycles, RSS before and after).
#
#   bash bench/soak.sh            # 30 minutes
#   SECONDS_TO_RUN=300 bash bench/soak.sh
set -euo pipefail
cd "$(dirname "$0")/.."
# Clears stray TICKWIRE_* variables: the soak's server gets its settings from the test alone.
source bench/lib.sh
seconds_to_run=${SECONDS_TO_RUN:-1800}
[[ $seconds_to_run =~ ^[0-9]{1,7}$ ]] && (( 10#$seconds_to_run >= 1 )) || {
    echo "soak.sh: SECONDS_TO_RUN must be a whole number of seconds, at least 1, got '$seconds_to_run'" >&2
    exit 2
}
# The whole output goes to target/soak.log; a failure prints its panic, not only the verdict.
mkdir -p target
status=0
TICKWIRE_SOAK_SECONDS="$((10#$seconds_to_run))" \
  cargo test --release -p tickwire-server --test soak -- --nocapture >target/soak.log 2>&1 || status=$?
grep -E "^soak:|test result|panicked|^thread" -A2 target/soak.log || true
exit "$status"

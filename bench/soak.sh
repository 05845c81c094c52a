#!/usr/bin/env bash
# The long churn soak: 16 clients connect, play, drop, resume and leave in a loop against the
# release server binary for SECONDS (default 1800), then the test checks that sessions, seats,
# resume tokens and rooms are back to zero and that the server's RSS grew by at most 3 MiB
# after warm-up. Prints the soak line (cycles, RSS before and after).
#
#   bash bench/soak.sh            # 30 minutes
#   SECONDS_TO_RUN=300 bash bench/soak.sh
set -euo pipefail
cd "$(dirname "$0")/.."
# Clears stray TICKWIRE_* variables: the soak's server gets its settings from the test alone.
source bench/lib.sh
# The whole output goes to target/soak.log; a failure prints its panic, not only the verdict.
mkdir -p target
status=0
TICKWIRE_SOAK_SECONDS="${SECONDS_TO_RUN:-1800}" \
  cargo test --release -p tickwire-server --test soak -- --nocapture >target/soak.log 2>&1 || status=$?
grep -E "^soak:|test result|panicked|^thread" -A2 target/soak.log || true
exit "$status"

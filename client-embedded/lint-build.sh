#!/usr/bin/env bash
# `cargo build` with clippy linting the workspace's crates as they compile, warnings denied:
# clippy-driver as cargo's RUSTC_WORKSPACE_WRAPPER, given `-D warnings` the way `cargo clippy
# -- -D warnings` passes it (CLIPPY_ARGS). Where a build runs anyway (the microcontroller
# targets in .ci/run, the boards' release images in boards/build.sh), a `cargo clippy` after it
# checked every dependency once more for its target (28 to 60 s each). Only the workspace's
# crates go through clippy, as with `cargo clippy`; the dependencies build as usual.
#
#   bash client-embedded/lint-build.sh -p tickwire-client-embedded --target thumbv6m-none-eabi
set -euo pipefail
# Without clippy the build would pass unlinted: refuse instead.
driver=$(command -v clippy-driver) || {
  echo "clippy-driver not found: rustup component add clippy" >&2
  exit 1
}
RUSTC_WORKSPACE_WRAPPER="$driver" CLIPPY_ARGS="-D__CLIPPY_HACKERY__warnings__CLIPPY_HACKERY__" \
  exec cargo build "$@"

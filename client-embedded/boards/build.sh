#!/usr/bin/env bash
# Builds every board example (each its own crate outside the workspace, with its own
# .cargo/config.toml and Cargo.lock): rustfmt check, release build linted by clippy with
# -D warnings, then prints the image's flash and static RAM with llvm-size. Called by .ci/run.
#
#   bash client-embedded/boards/build.sh              # every board
#   bash client-embedded/boards/build.sh pico-w       # some boards
#
# The Pico W firmware embeds the CYW43439 NVRAM blob, which no crate ships: set CYW43_NVRAM
# to its path (CI uses ../shared/data/cyw43/nvram_rp2040.bin beside the checkout; see
# pico-w/README.md for where to get it).
set -euo pipefail
cd "$(dirname "$0")"

boards=("$@")
if ((${#boards[@]} == 0)); then
  for dir in */; do
    [[ -f "$dir/Cargo.toml" ]] && boards+=("${dir%/}")
  done
fi

rustup target add thumbv6m-none-eabi thumbv7em-none-eabihf riscv32imc-unknown-none-elf >&2
rustup component add rustfmt clippy llvm-tools >&2
SIZE="$(rustc --print sysroot)/lib/rustlib/$(rustc -vV | sed -n 's/^host: //p')/bin/llvm-size"
LINT_BUILD="$PWD/../lint-build.sh"

# "flash RAM" of a firmware ELF from its allocated sections: flash is everything loaded from
# flash (code, rodata, initialised data, code copied to RAM), RAM is data plus bss-like
# sections. Skipped: empty sections, the main stack, and the address-range placeholders
# esp-hal's linker script defines (`*_dummy`, `.dram2_uninit`), which plain llvm-size totals
# would count.
sizes() {
  "$SIZE" -A "$1" | awk '
    NR > 2 && NF == 3 {
      if ($3 == 0 || $1 ~ /_dummy$/ || $1 == ".stack" || $1 == ".dram2_uninit") next
      if ($1 ~ /^\.(bss|noinit|uninit)/) { ram += $2; next }
      if ($1 ~ /^\.data/) ram += $2
      flash += $2
    }
    END { print flash + 0, ram + 0 }'
}

# One target directory for every board: their host-side crates (proc macros, build scripts:
# embassy's, defmt's, serde's) are the same and are built once, not once per board.
export CARGO_TARGET_DIR="$PWD/target"

report=()
for board in "${boards[@]}"; do
  echo "=== $board" >&2
  (
    cd "$board"
    cargo fmt --check
    # Clippy lints the board's crate as it is built (../lint-build.sh): a `cargo clippy` after
    # the build checked every dependency once more, in check mode, a third of each board's time
    # (28 to 36 s on 2 cores). Only the board's crate is linted, as with `cargo clippy`; the
    # client crates are linted in the workspace.
    bash "$LINT_BUILD" --release --locked
  )
  target=$(sed -n 's/^target *= *"\(.*\)"/\1/p' "$board/.cargo/config.toml" | head -1)
  name=$(sed -n 's/^name *= *"\(.*\)"/\1/p' "$board/Cargo.toml" | head -1)
  read -r flash ram < <(sizes "$CARGO_TARGET_DIR/$target/release/$name")
  report+=("$(printf '| %-15s | %-27s | %10d | %9d |' "$board" "$target" "$flash" "$ram")")
done

echo
echo "| board           | target                      | flash (B)  | RAM (B)   |"
echo "|---|---|---:|---:|"
printf '%s\n' "${report[@]}"

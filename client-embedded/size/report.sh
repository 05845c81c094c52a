#!/usr/bin/env bash
# Flash and RAM cost of tickwire-client-embedded on a generic Cortex-M: builds this firmware
# (opt-level "s", fat LTO) for thumbv6m-none-eabi and thumbv7em-none-eabihf without the client
# (the baseline: executor, SysTick time driver, a blink task) and with it (feature `client`:
# the client core over a stub transport, buffers for 1 KiB frames), measures both with
# llvm-size, and prints the client's own cost as the difference.
#
#   bash client-embedded/size/report.sh            # from anywhere
#   LIMIT_FLASH=24576 LIMIT_RAM=8192 STRICT=1 ...  # exit 1 when over the limits
#   OPT_LEVEL=z ...                                # another opt-level ("s" by default)
#   CARGO_TARGET_DIR=/tmp/size ...                 # build there instead of size/target
#
# flash = text + data (llvm-size's text includes .vector_table and .rodata); RAM = data + bss
# (static RAM only: the stack is not counted).
set -euo pipefail
# Builds go to $CARGO_TARGET_DIR when it is set (made absolute here, before the `cd`, as cargo
# would read a relative one from the caller's directory), else to size/target.
TARGET_DIR=${CARGO_TARGET_DIR:-}
[[ -z $TARGET_DIR || $TARGET_DIR == /* ]] || TARGET_DIR=$PWD/$TARGET_DIR
cd "$(dirname "$0")"
TARGET_DIR=${TARGET_DIR:-target}

TARGETS=(thumbv6m-none-eabi thumbv7em-none-eabihf)
LIMIT_FLASH=${LIMIT_FLASH:-24576}
LIMIT_RAM=${LIMIT_RAM:-8192}
STRICT=${STRICT:-0}
OPT_LEVEL=${OPT_LEVEL:-s}
export CARGO_PROFILE_RELEASE_OPT_LEVEL=$OPT_LEVEL

rustup target add "${TARGETS[@]}" >&2
rustup component add llvm-tools >&2
SIZE="$(rustc --print sysroot)/lib/rustlib/$(rustc -vV | sed -n 's/^host: //p')/bin/llvm-size"
[[ -x "$SIZE" ]] || { echo "llvm-size not found at $SIZE" >&2; exit 1; }

OUT=$TARGET_DIR/size-report-$OPT_LEVEL
mkdir -p "$OUT"

NM="$(dirname "$SIZE")/llvm-nm"

# Prints "text data bss" of an ELF.
measure() { "$SIZE" "$1" | awk 'NR == 2 { print $1, $2, $3 }'; }

# Bytes of compiler-builtins runtime code in an ELF (memcpy/memmove/memset, integer division,
# 64-bit shifts and multiplies): any firmware with a network stack or a HAL has it already.
builtins() {
  local total=0 _addr size _rest
  while read -r _addr size _rest; do
    total=$((total + 16#$size))
  done < <("$NM" -S --demangle "$1" \
    | grep -E ' [tT] (compiler_builtins::|__aeabi_|__udiv|__umod|memcmp|memcpy|memmove|memset)' || true)
  echo "$total"
}

over=0
rows=()
for target in "${TARGETS[@]}"; do
  for variant in baseline client; do
    features=()
    [[ $variant == client ]] && features=(--features client)
    echo "building $variant for $target" >&2
    cargo build --release --locked --target-dir "$TARGET_DIR" --target "$target" "${features[@]}" >&2
    cp "$TARGET_DIR/$target/release/tickwire-size" "$OUT/$target-$variant.elf"
  done
  read -r bt bd bb < <(measure "$OUT/$target-baseline.elf")
  read -r ct cd cb < <(measure "$OUT/$target-client.elf")
  base_flash=$((bt + bd)) base_ram=$((bd + bb))
  all_flash=$((ct + cd)) all_ram=$((cd + cb))
  flash=$((all_flash - base_flash)) ram=$((all_ram - base_ram))
  runtime=$(($(builtins "$OUT/$target-client.elf") - $(builtins "$OUT/$target-baseline.elf")))
  rows+=("$(printf '| %-21s | %14d | %12d | %17d | %15d | %12d | %10d | %24d |' \
    "$target" "$base_flash" "$base_ram" "$all_flash" "$all_ram" "$flash" "$ram" "$runtime")")
  if ((flash > LIMIT_FLASH || ram > LIMIT_RAM)); then over=1; fi
done

echo
echo "tickwire-client-embedded size (opt-level \"$OPT_LEVEL\", fat LTO; bytes)"
echo
echo "| target                | baseline flash | baseline RAM | with client flash | with client RAM | client flash | client RAM | of which compiler-builtins |"
echo "|---|---:|---:|---:|---:|---:|---:|---:|"
printf '%s\n' "${rows[@]}"
echo
echo "limits: client flash <= $LIMIT_FLASH, client RAM <= $LIMIT_RAM"
if ((over)); then
  echo "OVER the limits"
  if ((STRICT)); then exit 1; fi
else
  echo "within the limits"
fi

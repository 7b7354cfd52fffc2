#!/usr/bin/env bash
# Run the SHA-256 C code under AddressSanitizer and UndefinedBehaviorSanitizer.
#
# Everything happens in a temporary copy of tbgpool/ and tests/, so the normal
# tbgpool/_sha256*.so is never touched:
#   1. the C drivers tests/c/sha256_kat.c (known answers) and tests/c/sha256_sanitize.c
#      (exact-size heap buffers, random lengths 0..4096 against an independent
#      reference) are built with the sanitizers and run over every implementation
#      this CPU has;
#   2. on a non-ARM host with aarch64-linux-gnu-gcc (and its libasan) and qemu-aarch64,
#      the harness is also cross-built with the sanitizers and run under qemu, to cover
#      the ARMv8 transform (skipped, with a note, without those tools);
#   3. the cffi module is rebuilt with the sanitizers (make_builder() in
#      tbgpool/_sha256_build.py, extra flags last) and tests/test_sha256.py runs
#      against it with libasan preloaded into Python.
# Exits 0 when all of that passes with no sanitizer report, non-zero otherwise.
# docs/c-hardening.md explains the choices.
#
# Usage: tools/sanitize.sh [--inject-off-by-one]
#   --inject-off-by-one  plant a one-byte over-read in the copy's sha256_share.c and
#                        expect the sanitizers to catch it (exits 0 only if they do).
# Overrides: SANITIZE_PYTHON (default .venv/bin/python; needs cffi), CC (default gcc),
# SANITIZE_ROUNDS, SANITIZE_ARM_ROUNDS, AARCH64_CC, QEMU_AARCH64, AARCH64_SYSROOT.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
python=${SANITIZE_PYTHON:-$root/.venv/bin/python}
cc=${CC:-gcc}
rounds=${SANITIZE_ROUNDS:-3000}
arm_rounds=${SANITIZE_ARM_ROUNDS:-1000}  # emulated: about 4 ms each
inject=0
case "${1:-}" in
  "") ;;
  --inject-off-by-one) inject=1 ;;
  *) echo "usage: $0 [--inject-off-by-one]" >&2; exit 2 ;;
esac

start_s=$(date +%s)
sanitize_cflags=(-fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all
                 -O1 -g
                 # ASan instruments memcpy and friends itself; the fortified __*_chk
                 # wrappers would only get in its way.
                 -U_FORTIFY_SOURCE)
sanitize_ldflags=(-fsanitize=address,undefined)

libasan=$("$cc" -print-file-name=libasan.so)
if [ ! -e "$libasan" ]; then
  echo "sanitize: $cc has no libasan.so (install the compiler's sanitizer runtime)" >&2
  exit 1
fi

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
tree=$work/tree
reports=$work/reports
mkdir -p "$tree" "$reports"

echo "== copying tbgpool/ and tests/ to $tree"
tar -C "$root" --exclude='*.so' --exclude='__pycache__' --exclude='tbgpool/_sha256.c' \
  --exclude='_trial_temp*' -cf - tbgpool tests | tar -C "$tree" -xf -

if [ "$inject" -eq 1 ]; then
  # The merkle step copies 33 bytes of a 32-byte branch hash: a one-byte read past the
  # caller's branch buffer that changes no digest (the extra byte is overwritten by the
  # padding), so only a sanitizer with an exact-size buffer can see it.
  target=$tree/tbgpool/_sha256/sha256_share.c
  before=$(cksum < "$target")
  sed -i 's/memcpy(blocks + 32, right, 32);/memcpy(blocks + 32, right, 33);/' "$target"
  if [ "$(cksum < "$target")" = "$before" ]; then
    echo "sanitize: the off-by-one injection no longer matches sha256_share.c" >&2
    exit 1
  fi
  echo "== injected: $(grep -n 'right, 33);' "$target")"
fi

# The normal build's flags, read from the builder so the two cannot drift apart.
base_cflags_text=$(cd "$tree" && PYTHONPATH=$tree "$python" -c \
  'import tbgpool._sha256_build as b; print(" ".join(b.COMPILE_ARGS))')
read -r -a base_cflags <<< "$base_cflags_text"
src=$tree/tbgpool/_sha256

failed=0
sanitizer_reported=0
sanitizer_report_pattern='ERROR: (Address|Leak)Sanitizer|runtime error:'
run_step() {
  # run_step NAME COMMAND...: run with its output shown and kept, record a failure
  # and any sanitizer report, carry on.
  local name=$1 status
  shift
  if "$@" 2>&1 | tee "$work/step.log"; then status=0; else status=${PIPESTATUS[0]}; fi
  if grep -qE "$sanitizer_report_pattern" "$work/step.log"; then
    sanitizer_reported=1
  fi
  if [ "$status" -eq 0 ]; then
    echo "-- $name: passed"
  else
    echo "-- $name: FAILED (exit $status)"
    failed=1
  fi
}

# Fail the run if an implementation the CPU advertises is not exercised.
require=()
if grep -qw sha_ni /proc/cpuinfo 2>/dev/null; then require+=(--require sha-ni); fi
if grep -qE '^Features.*\bsha2\b' /proc/cpuinfo 2>/dev/null; then require+=(--require armv8-crypto); fi

echo "== building the C drivers with ${sanitize_cflags[*]}"
for driver in sha256_kat sha256_sanitize; do
  "$cc" "${base_cflags[@]}" -Werror "${sanitize_cflags[@]}" -I"$src" -o "$work/$driver" \
    "$tree/tests/c/$driver.c" "$src"/*.c "${sanitize_ldflags[@]}"
done

c_asan_options=detect_leaks=1:abort_on_error=1
c_ubsan_options=print_stacktrace=1:halt_on_error=1
echo "== tests/c/sha256_kat.c"
run_step "known-answer driver" env ASAN_OPTIONS=$c_asan_options UBSAN_OPTIONS=$c_ubsan_options \
  "$work/sha256_kat" "${require[@]}"
echo "== tests/c/sha256_sanitize.c"
run_step "exact-buffer harness" env ASAN_OPTIONS=$c_asan_options UBSAN_OPTIONS=$c_ubsan_options \
  "$work/sha256_sanitize" --rounds "$rounds" "${require[@]}"

# The ARMv8 transform cannot run on this CPU, but it can under qemu-user, where ASan
# works (LeakSanitizer does not, hence detect_leaks=0). Optional, like
# tests/c/run_arm_kat.sh: skipped without the cross compiler, its libasan, or qemu.
arm_cc=${AARCH64_CC:-aarch64-linux-gnu-gcc}
qemu=${QEMU_AARCH64:-qemu-aarch64}
arm_sysroot=${AARCH64_SYSROOT:-/usr/aarch64-linux-gnu}
if [ "$(uname -m)" = aarch64 ]; then
  :  # the native run above already covered armv8-crypto
elif ! command -v "$arm_cc" >/dev/null 2>&1 || ! command -v "$qemu" >/dev/null 2>&1; then
  echo "== AArch64 under qemu: skipped ($arm_cc or $qemu not on PATH)"
elif [ ! -e "$("$arm_cc" -print-file-name=libasan.so)" ]; then
  echo "== AArch64 under qemu: skipped ($arm_cc has no libasan.so)"
else
  echo "== tests/c/sha256_sanitize.c for AArch64 under $qemu"
  "$arm_cc" "${base_cflags[@]}" -Werror "${sanitize_cflags[@]}" -I"$src" \
    -o "$work/sha256_sanitize.aarch64" "$tree/tests/c/sha256_sanitize.c" "$src"/*.c \
    "${sanitize_ldflags[@]}"
  run_step "exact-buffer harness, AArch64" env ASAN_OPTIONS=detect_leaks=0:abort_on_error=1 \
    UBSAN_OPTIONS=$c_ubsan_options "$qemu" -L "$arm_sysroot" -cpu max \
    "$work/sha256_sanitize.aarch64" --rounds "$arm_rounds" --require armv8-crypto
fi

echo "== building tbgpool._sha256 with the sanitizers"
(cd "$tree" && PYTHONPATH=$tree "$python" - "${sanitize_cflags[@]}" -- "${sanitize_ldflags[@]}" <<'EOF'
import sys

from tbgpool._sha256_build import make_builder

split = sys.argv.index("--")
builder = make_builder(extra_compile_args=sys.argv[1:split], extra_link_args=sys.argv[split + 1 :])
print(builder.compile(tmpdir=".", verbose=False))
EOF
) > "$work/build.log" 2>&1 || { cat "$work/build.log"; echo "sanitize: cffi build failed" >&2; exit 1; }
module=$(tail -n 1 "$work/build.log")
echo "built $module"
if ! readelf -dW "$module" | grep -q 'NEEDED.*libasan'; then
  echo "sanitize: $module is not linked against libasan" >&2
  exit 1
fi

# Python leaks by ASan's standards (interned objects live until exit): leaks off.
# log_path sends each process's report to a file, so one from a subprocess whose
# output a test captures is still seen below.
san_env=(env LD_PRELOAD="$libasan" PYTHONPATH="$tree"
         ASAN_OPTIONS=detect_leaks=0:abort_on_error=1:log_path=$reports/asan
         UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1:log_path=$reports/ubsan)

loaded=$(cd "$tree" && "${san_env[@]}" "$python" -c 'import tbgpool._sha256 as m; print(m.__file__)')
if [ "$loaded" != "$module" ]; then
  echo "sanitize: Python imported $loaded instead of the sanitized $module" >&2
  exit 1
fi

echo "== tests/test_sha256.py against the sanitized module"
run_step "tests.test_sha256" bash -c 'cd "$1" && shift && exec "$@"' _ "$tree" \
  "${san_env[@]}" "$python" -m twisted.trial --temp-directory="$work/_trial_temp" tests.test_sha256

if compgen -G "$reports/*" >/dev/null; then
  for report in "$reports"/*; do
    echo "== sanitizer report $(basename "$report")"
    cat "$report"
  done
  sanitizer_reported=1
  failed=1
fi

elapsed_s=$(( $(date +%s) - start_s ))
if [ "$inject" -eq 1 ]; then
  if [ "$sanitizer_reported" -eq 1 ]; then
    echo "sanitize: the injected off-by-one was caught (${elapsed_s}s)"
    exit 0
  fi
  echo "sanitize: the injected off-by-one was NOT caught (${elapsed_s}s)" >&2
  exit 1
fi
if [ "$failed" -eq 0 ] && [ "$sanitizer_reported" -eq 0 ]; then
  echo "sanitize: no sanitizer reports, every check passed (${elapsed_s}s)"
  exit 0
fi
echo "sanitize: FAILED (${elapsed_s}s)" >&2
exit 1

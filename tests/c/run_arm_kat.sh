#!/bin/sh
# Check the ARMv8 SHA-256 transform on a non-ARM host: cross-compile the known-answer
# driver (tests/c/sha256_kat.c) with the tbgpool/_sha256 sources for AArch64, then run
# it under qemu-user with a CPU model that has the crypto extensions.
#
# Exits 0 when every known answer matches on every implementation and armv8-crypto
# was among them; 1 otherwise, including when the compiler or qemu is missing.
# Overrides: AARCH64_CC, QEMU_AARCH64, AARCH64_SYSROOT.
set -u

here=$(cd "$(dirname "$0")" && pwd) || exit 1
root=$(cd "$here/../.." && pwd) || exit 1
src="$root/tbgpool/_sha256"
cc=${AARCH64_CC:-aarch64-linux-gnu-gcc}
qemu=${QEMU_AARCH64:-qemu-aarch64}
sysroot=${AARCH64_SYSROOT:-/usr/aarch64-linux-gnu}

for tool in "$cc" "$qemu"; do
    if ! command -v "$tool" >/dev/null 2>&1; then
        echo "run_arm_kat: $tool is not on PATH" >&2
        exit 1
    fi
done

workdir=$(mktemp -d) || exit 1
trap 'rm -rf "$workdir"' EXIT
trap 'exit 1' HUP INT TERM

# The same hardening and warning flags as tbgpool/_sha256_build.py, plus -Werror so a
# warning in the AArch64-only code fails here. No -march: the transform must enable the
# crypto extension itself through its target attribute, as in a stock build.
if ! "$cc" -O2 -fstack-protector-strong -D_FORTIFY_SOURCE=2 -Wformat -Wformat-security \
        -Wall -Wextra -Werror -I"$src" -o "$workdir/sha256_kat" \
        "$here/sha256_kat.c" "$src"/sha256_generic.c "$src"/sha256_armv8.c \
        "$src"/sha256_x86_shani.c "$src"/sha256_dispatch.c "$src"/sha256_stream.c \
        "$src"/sha256_share.c; then
    echo "run_arm_kat: cross-compilation failed" >&2
    exit 1
fi

# -cpu max enables FEAT_SHA256, which the kernel ABI reports as HWCAP_SHA2.
if ! "$qemu" -L "$sysroot" -cpu max "$workdir/sha256_kat" --require armv8-crypto; then
    echo "run_arm_kat: known-answer test failed under $qemu" >&2
    exit 1
fi
exit 0

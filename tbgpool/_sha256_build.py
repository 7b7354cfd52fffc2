"""cffi builder for :mod:`tbgpool._sha256`: the C declarations and the sources that implement them."""

from __future__ import annotations

import os

from cffi import FFI

ffibuilder = FFI()

ffibuilder.cdef(
    """
    #define TBG_SHA256_IMPL_GENERIC ...
    #define TBG_SHA256_IMPL_SHANI ...
    #define TBG_SHA256_IMPL_ARMV8 ...
    #define TBG_SHA256_IMPL_COUNT ...
    #define TBG_SHARE_MAX_BRANCH_COUNT ...

    int tbg_sha256_init(void);
    const char *tbg_sha256_impl_name(int impl);
    int tbg_sha256_impl_available(int impl);
    int tbg_sha256_use(int impl);
    int tbg_sha256_current(void);
    void tbg_sha256(const uint8_t *data, size_t len, uint8_t out[32]);
    void tbg_sha256d(const uint8_t *data, size_t len, uint8_t out[32]);
    int tbg_share_hash(const uint8_t *coinb1, size_t coinb1_len,
                       const uint8_t *extranonce1, size_t en1_len,
                       const uint8_t *extranonce2, size_t en2_len,
                       const uint8_t *coinb2, size_t coinb2_len,
                       const uint8_t *merkle_branch, size_t branch_count,
                       uint32_t version, const uint8_t prevhash[32],
                       uint32_t ntime, uint32_t bits, uint32_t nonce,
                       uint8_t out[32]);
    """
)

_SOURCE_DIR = "tbgpool/_sha256"

ffibuilder.set_source(
    "tbgpool._sha256",
    '#include "sha256.h"',
    # Paths are relative to the project root, where setup.py (and __main__ below) run.
    sources=[
        f"{_SOURCE_DIR}/sha256_generic.c",
        f"{_SOURCE_DIR}/sha256_x86_shani.c",
        f"{_SOURCE_DIR}/sha256_armv8.c",
        f"{_SOURCE_DIR}/sha256_dispatch.c",
        f"{_SOURCE_DIR}/sha256_stream.c",
        f"{_SOURCE_DIR}/sha256_share.c",
    ],
    include_dirs=[_SOURCE_DIR],
    extra_compile_args=[
        "-O2",
        "-fstack-protector-strong",
        "-D_FORTIFY_SOURCE=2",
        "-Wformat",
        "-Wformat-security",
        "-Wall",
        "-Wextra",
        "-fPIC",
    ],
    # -pie is deliberately absent: it applies to executables, and this is a shared object
    # (-fPIC above is its counterpart for position independence).
    extra_link_args=["-Wl,-z,relro,-z,now", "-Wl,-z,noexecstack"],
)

if __name__ == "__main__":
    # Build in place: run from the project root so the relative source paths resolve and
    # the module named tbgpool._sha256 lands in tbgpool/.
    os.chdir(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    ffibuilder.compile(verbose=True)

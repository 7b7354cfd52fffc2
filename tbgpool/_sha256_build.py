"""cffi builder for :mod:`tbgpool._sha256`: the C declarations and the sources that implement them."""

from __future__ import annotations

import os
from collections.abc import Sequence

from cffi import FFI

CDEF = """
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
"""The C API the Python wrapper (tbgpool/sha256.py) sees."""

MODULE_NAME = "tbgpool._sha256"

SOURCE_DIR = "tbgpool/_sha256"
"""The C sources, relative to the project root (where setup.py runs)."""

SOURCES = [
    f"{SOURCE_DIR}/sha256_generic.c",
    f"{SOURCE_DIR}/sha256_x86_shani.c",
    f"{SOURCE_DIR}/sha256_armv8.c",
    f"{SOURCE_DIR}/sha256_dispatch.c",
    f"{SOURCE_DIR}/sha256_stream.c",
    f"{SOURCE_DIR}/sha256_share.c",
]

HARDENING_COMPILE_ARGS = [
    "-fstack-protector-strong",
    "-D_FORTIFY_SOURCE=2",
    "-Wformat",
    "-Wformat-security",
    # The shared-object counterpart of PIE (-pie itself applies only to executables).
    "-fPIC",
]
"""Spec section 2.2.1 compiler flags; docs/c-hardening.md says why each is there."""

HARDENING_LINK_ARGS = ["-Wl,-z,relro,-z,now", "-Wl,-z,noexecstack"]
"""Spec section 2.2.1 linker flags: full RELRO (GOT read-only after start-up) and no executable stack."""

WARNING_ARGS = ["-Wall", "-Wextra"]

# _FORTIFY_SOURCE only works with optimisation on; -O2 is also what the hot path wants.
OPTIMISATION_ARGS = ["-O2"]

COMPILE_ARGS = [*OPTIMISATION_ARGS, *HARDENING_COMPILE_ARGS, *WARNING_ARGS]
"""Everything the C sources are compiled with in a normal build."""


def make_builder(
    extra_compile_args: Sequence[str] = (), extra_link_args: Sequence[str] = ()
) -> FFI:
    """A builder for tbgpool._sha256 with the normal flags followed by the extra ones.

    Extra flags come last, so they can override (tools/sanitize.sh adds -O1,
    -U_FORTIFY_SOURCE and the sanitizers this way).
    """
    builder = FFI()
    builder.cdef(CDEF)
    builder.set_source(
        MODULE_NAME,
        '#include "sha256.h"',
        sources=list(SOURCES),
        include_dirs=[SOURCE_DIR],
        extra_compile_args=[*COMPILE_ARGS, *extra_compile_args],
        extra_link_args=[*HARDENING_LINK_ARGS, *extra_link_args],
    )
    return builder


ffibuilder = make_builder()

if __name__ == "__main__":
    # Build in place: run from the project root so the relative source paths resolve and
    # the module named tbgpool._sha256 lands in tbgpool/.
    os.chdir(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    ffibuilder.compile(verbose=True)

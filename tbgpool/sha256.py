"""SHA-256, double SHA-256 and the Stratum share hash over the C module's fastest transform.

The C side picks, once at import, the best block transform the CPU supports
(SHA-NI on x86-64, the ARMv8 crypto extensions on AArch64, portable C
otherwise) after a known-answer self-test.
"""

from __future__ import annotations

from twisted.logger import Logger

# The cffi-compiled extension has no type stubs (and mypy sees the C source folder of the
# same name), so ffi and lib are Any here; this module is their one typed face.
from tbgpool._sha256 import ffi, lib  # type: ignore[attr-defined]

_log = Logger()

HASH_BYTES = 32
"""Length of every digest returned here."""

MAX_COINBASE_BYTES = 1 << 20
"""Largest coinbase (coinb1 + extranonce1 + extranonce2 + coinb2) share_hash accepts."""

MAX_MERKLE_BRANCH_COUNT = int(lib.TBG_SHARE_MAX_BRANCH_COUNT)
"""Most merkle branch hashes share_hash accepts (2**64 transactions is beyond any block)."""

_UINT32_MAX = 0xFFFF_FFFF

# Bound once: these run on every share, where attribute lookups and type parsing show up.
_DIGEST_TYPE = ffi.typeof("uint8_t[32]")
_new = ffi.new
_from_buffer = ffi.from_buffer
_buffer = ffi.buffer
_c_sha256 = lib.tbg_sha256
_c_sha256d = lib.tbg_sha256d
_c_share_hash = lib.tbg_share_hash


def _implementation_name(impl_id: int) -> str:
    """Name the C module gives implementation ``impl_id``."""
    return str(ffi.string(lib.tbg_sha256_impl_name(impl_id)).decode("ascii"))


_IMPLEMENTATION_IDS: dict[str, int] = {
    _implementation_name(impl_id): impl_id for impl_id in range(lib.TBG_SHA256_IMPL_COUNT)
}

_SELECTED_ID: int = lib.tbg_sha256_init()
if _SELECTED_ID < 0:
    raise ImportError(
        "tbgpool._sha256 failed its SHA-256 known-answer self-test even with the portable "
        "implementation; the build is broken and must not be used"
    )
_log.info(
    "SHA-256 implementation {implementation} selected",
    implementation=_implementation_name(_SELECTED_ID),
)


def implementation() -> str:
    """Name of the SHA-256 implementation currently in use."""
    return _implementation_name(lib.tbg_sha256_current())


def selected_implementation() -> str:
    """Name of the implementation chosen at import by CPU detection and self-test."""
    return _implementation_name(_SELECTED_ID)


def available_implementations() -> list[str]:
    """Names of the implementations compiled in and supported by this CPU, generic first."""
    return [
        name
        for name, impl_id in _IMPLEMENTATION_IDS.items()
        if lib.tbg_sha256_impl_available(impl_id)
    ]


def use_implementation(name: str) -> None:
    """Switch every hash function here to implementation ``name`` (for tests and benchmarks).

    Raises ValueError if the name is unknown, the implementation is not
    available on this CPU, or it fails its self-test; the current one is kept.
    """
    impl_id = _IMPLEMENTATION_IDS.get(name)
    if impl_id is None:
        known = ", ".join(sorted(_IMPLEMENTATION_IDS))
        raise ValueError(f"unknown SHA-256 implementation {name!r} (known: {known})")
    if not lib.tbg_sha256_impl_available(impl_id):
        raise ValueError(f"SHA-256 implementation {name!r} is not available on this CPU")
    if lib.tbg_sha256_use(impl_id) != 0:
        raise ValueError(f"SHA-256 implementation {name!r} failed its self-test")
    _log.debug("SHA-256 implementation switched to {implementation}", implementation=name)


def sha256(data: bytes) -> bytes:
    """SHA-256 of ``data``."""
    data_c = _from_buffer(data)
    out = _new(_DIGEST_TYPE)
    _c_sha256(data_c, len(data_c), out)
    digest: bytes = _buffer(out)[:]
    return digest


def sha256d(data: bytes) -> bytes:
    """SHA-256 of the SHA-256 of ``data`` (Bitcoin's hash for txids and headers)."""
    data_c = _from_buffer(data)
    out = _new(_DIGEST_TYPE)
    _c_sha256d(data_c, len(data_c), out)
    digest: bytes = _buffer(out)[:]
    return digest


def share_hash(
    coinb1: bytes,
    extranonce1: bytes,
    extranonce2: bytes,
    coinb2: bytes,
    merkle_branch: bytes,
    version: int,
    prevhash: bytes,
    ntime: int,
    bits: int,
    nonce: int,
) -> bytes:
    """Block header hash of a Stratum share, as raw digest bytes.

    The coinbase is ``coinb1 + extranonce1 + extranonce2 + coinb2``; its txid is
    folded with each 32-byte hash of ``merkle_branch`` (internal byte order, in
    order) into the merkle root; the header is version, ``prevhash`` (32 bytes,
    internal order), root, ntime, bits, nonce. ``int.from_bytes(result,
    "little")`` is the number compared with share and network targets. Raises
    ValueError on a branch that is not whole 32-byte hashes or is too long, a
    prevhash that is not 32 bytes, an oversized coinbase, or an integer field
    outside uint32.
    """
    coinb1_c = _from_buffer(coinb1)
    extranonce1_c = _from_buffer(extranonce1)
    extranonce2_c = _from_buffer(extranonce2)
    coinb2_c = _from_buffer(coinb2)
    branch_c = _from_buffer(merkle_branch)
    prevhash_c = _from_buffer(prevhash)

    branch_len = len(branch_c)
    if branch_len % HASH_BYTES:
        raise ValueError(f"merkle_branch must be whole 32-byte hashes, got {branch_len} bytes")
    branch_count = branch_len // HASH_BYTES
    if branch_count > MAX_MERKLE_BRANCH_COUNT:
        raise ValueError(
            f"merkle_branch has {branch_count} hashes, more than {MAX_MERKLE_BRANCH_COUNT}"
        )
    if len(prevhash_c) != HASH_BYTES:
        raise ValueError(f"prevhash must be 32 bytes, got {len(prevhash_c)}")
    coinbase_len = len(coinb1_c) + len(extranonce1_c) + len(extranonce2_c) + len(coinb2_c)
    if coinbase_len > MAX_COINBASE_BYTES:
        raise ValueError(f"coinbase of {coinbase_len} bytes is larger than {MAX_COINBASE_BYTES}")
    if not (
        0 <= version <= _UINT32_MAX
        and 0 <= ntime <= _UINT32_MAX
        and 0 <= bits <= _UINT32_MAX
        and 0 <= nonce <= _UINT32_MAX
    ):
        _raise_for_uint32_fields(version=version, ntime=ntime, bits=bits, nonce=nonce)

    out = _new(_DIGEST_TYPE)
    status = _c_share_hash(
        coinb1_c,
        len(coinb1_c),
        extranonce1_c,
        len(extranonce1_c),
        extranonce2_c,
        len(extranonce2_c),
        coinb2_c,
        len(coinb2_c),
        branch_c,
        branch_count,
        version,
        prevhash_c,
        ntime,
        bits,
        nonce,
        out,
    )
    if status != 0:
        # Unreachable after the checks above; kept so a C-side limit can never be ignored.
        raise ValueError("share rejected by tbg_share_hash (invalid lengths)")
    digest: bytes = _buffer(out)[:]
    return digest


def _raise_for_uint32_fields(**fields: int) -> None:
    """Raise ValueError naming the first header field outside 0..2**32-1."""
    for field_name, value in fields.items():
        if not 0 <= value <= _UINT32_MAX:
            raise ValueError(f"{field_name} must be in 0..{_UINT32_MAX}, got {value}")

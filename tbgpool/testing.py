"""Public fakes and helpers for testing tbgpool (and code built on it).

Each fake implements an interface of :mod:`tbgpool.interfaces`; tests check
that with ``verifyObject``.
"""

from __future__ import annotations

import hashlib
import json
import struct
from dataclasses import dataclass, field
from typing import Any

from twisted.internet import defer
from zope.interface import implementer

from tbgpool.interfaces import IEventSink, IMinerConnection, ITemplateConsumer, ITemplateSource
from tbgpool.template import BlockTemplate, TemplateTransaction

#: regtest's compact target: about every other hash is a block.
REGTEST_BITS = 0x207FFFFF


@implementer(ITemplateSource)
class FakeTemplateSource:
    """A template source whose node answers submitblock with whatever the test queues."""

    def __init__(self) -> None:
        self.consumers: list[ITemplateConsumer] = []
        self.submitted: list[str] = []
        self.answers: list[Any] = []  #: results or exceptions, popped per submit
        self.refreshes = 0
        self.tip_seen_at: float | None = None

    def addConsumer(self, consumer: ITemplateConsumer) -> None:
        """Remember a consumer."""
        self.consumers.append(consumer)

    def submitBlock(self, block_hex: str) -> defer.Deferred[Any]:
        """Record the block; answer with the next queued answer (default: accepted)."""
        self.submitted.append(block_hex)
        answer = self.answers.pop(0) if self.answers else None
        if isinstance(answer, Exception):
            return defer.fail(answer)
        return defer.succeed(answer)

    def refresh(self) -> None:
        """Count refresh requests."""
        self.refreshes += 1

    def push(self, template: BlockTemplate, tip_seen_at: float | None = None) -> None:
        """Deliver a template to every consumer (its tip first seen at ``tip_seen_at``)."""
        self.tip_seen_at = tip_seen_at
        for consumer in self.consumers:
            consumer.templateReceived(template)


@dataclass
class RecordedEvent:
    """One event as the pool emitted it."""

    event_type: str
    data: dict[str, Any]
    validated_at: float | None


@implementer(IEventSink)
class RecordingEventSink:
    """An event sink that keeps every event (of the included types) in a list."""

    def __init__(self, include: tuple[str, ...] | None = None) -> None:
        self.include = include
        self.events: list[RecordedEvent] = []

    def wants(self, event_type: str) -> bool:
        """Every type, or those in ``include``."""
        return self.include is None or event_type in self.include

    def emit(
        self, event_type: str, data: dict[str, Any], validated_at: float | None = None
    ) -> None:
        """Keep the event (a JSON round trip proves the data serializes)."""
        if self.wants(event_type):
            self.events.append(RecordedEvent(event_type, json.loads(json.dumps(data)), validated_at))

    def of_type(self, event_type: str) -> list[dict[str, Any]]:
        """The data of every kept event of ``event_type``, in order."""
        return [e.data for e in self.events if e.event_type == event_type]


@implementer(IMinerConnection)
class FakeMinerConnection:
    """Collects what a session sends."""

    def __init__(self, peer: str = "127.0.0.1:50000") -> None:
        self.peer = peer
        self.lines: list[bytes] = []
        self.disconnected: str | None = None
        self.aborted = False

    def sendMessage(self, line: bytes) -> None:
        """Record a line."""
        self.lines.append(line)

    def abort(self, reason: str) -> None:
        """Record the abort."""
        self.disconnected = reason
        self.aborted = True

    def disconnect(self, reason: str) -> None:
        """Record the hang-up."""
        self.disconnected = reason

    def messages(self) -> list[dict[str, Any]]:
        """Every line sent so far, decoded."""
        return [json.loads(line) for line in self.lines]

    def notifications(self, method: str) -> list[list[Any]]:
        """The params of every notification of ``method`` sent so far."""
        return [m["params"] for m in self.messages() if m.get("method") == method]


def sha256d(data: bytes) -> bytes:
    """Double SHA-256 with hashlib (an implementation independent of the C module)."""
    return hashlib.sha256(hashlib.sha256(data).digest()).digest()


def make_template(
    *,
    height: int = 200,
    previous_block_hash: str = "11" * 32,
    bits: int = REGTEST_BITS,
    curtime: int = 1_700_000_000,
    transactions: int = 3,
    coinbase_value: int = 5_000_000_000,
    network: str = "regtest",
    segwit: bool = True,
    clean: bool = False,
) -> BlockTemplate:
    """A template with made-up (but well-formed) transactions, for unit tests."""
    from tbgpool.difficulty import bits_to_target

    txs = []
    for i in range(transactions):
        data = struct.pack("<I", 2) + bytes([1]) + bytes([i + 1]) * 32 + b"\x00\x00\x00\x00\x00"
        data += b"\xff\xff\xff\xff\x01" + struct.pack("<q", 1000) + b"\x01\x51" + bytes(4)
        txid = sha256d(data)
        txs.append(TemplateTransaction(data=data, txid=txid, wtxid=txid, fee=100 * (i + 1)))
    commitment = None
    if segwit:
        commitment = bytes.fromhex("6a24aa21a9ed") + sha256d(b"commitment" + bytes([height % 256]))
    return BlockTemplate(
        network=network,
        height=height,
        previous_block_hash=previous_block_hash,
        version=0x20000000,
        bits=bits,
        target=bits_to_target(bits),
        curtime=curtime,
        mintime=curtime - 600,
        coinbase_value=coinbase_value,
        transactions=tuple(txs),
        witness_commitment=commitment,
        clean=clean,
    )


@dataclass
class StratumJob:
    """A job as a miner sees it, from ``mining.notify`` params."""

    job_id: str
    prevhash: str
    coinb1: str
    coinb2: str
    branch: list[str]
    version: str
    nbits: str
    ntime: str
    clean: bool

    @classmethod
    def from_params(cls, params: list[Any]) -> StratumJob:
        """Read notify params."""
        return cls(*params)


@dataclass
class Solution:
    """A share a miner found: what it submits, and the hash it got."""

    extranonce2: str
    ntime: str
    nonce: str
    version_bits: str | None
    hash_value: int
    header: bytes = field(repr=False)


def header_for(
    job: StratumJob, extranonce1: str, extranonce2: str, nonce: int, version: int
) -> bytes:
    """The 80-byte header a miner hashes for ``job``, done the way miners do it."""
    coinbase = bytes.fromhex(job.coinb1 + extranonce1 + extranonce2 + job.coinb2)
    root = sha256d(coinbase)
    for sibling in job.branch:
        root = sha256d(root + bytes.fromhex(sibling))
    prev_words = bytes.fromhex(job.prevhash)
    prevhash = b"".join(prev_words[i : i + 4][::-1] for i in range(0, 32, 4))
    return (
        struct.pack("<I", version)
        + prevhash
        + root
        + struct.pack("<I", int(job.ntime, 16))
        + struct.pack("<I", int(job.nbits, 16))
        + struct.pack("<I", nonce)
    )


def mine(
    job: StratumJob,
    extranonce1: str,
    extranonce2: str,
    target: int,
    *,
    start_nonce: int = 0,
    version_bits: int | None = None,
    max_tries: int = 2_000_000,
) -> Solution:
    """Real proof of work with hashlib: the first nonce whose hash meets ``target``."""
    version = int(job.version, 16)
    if version_bits is not None:
        version = (version & ~0x1FFFE000) | version_bits
    base = header_for(job, extranonce1, extranonce2, 0, version)[:76]
    for nonce in range(start_nonce, start_nonce + max_tries):
        header = base + struct.pack("<I", nonce)
        value = int.from_bytes(sha256d(header), "little")
        if value <= target:
            return Solution(
                extranonce2=extranonce2,
                ntime=job.ntime,
                nonce=f"{nonce:08x}",
                version_bits=None if version_bits is None else f"{version_bits:08x}",
                hash_value=value,
                header=header,
            )
    raise RuntimeError(f"no share found in {max_tries} tries")


_BECH32_CHARSET = "qpzry9x8gf2tvdw0s3jn54khce6mua7l"
_BASE58_ALPHABET = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"


def _bech32_polymod(values: list[int]) -> int:
    generator = [0x3B6A57B2, 0x26508E6D, 0x1EA119FA, 0x3D4233DD, 0x2A1462B3]
    checksum = 1
    for value in values:
        top = checksum >> 25
        checksum = (checksum & 0x1FFFFFF) << 5 ^ value
        for i in range(5):
            checksum ^= generator[i] if (top >> i) & 1 else 0
    return checksum


def encode_segwit_address(hrp: str, version: int, program: bytes) -> str:
    """Encode a segwit address (bech32 for v0, bech32m for v1+), for building test addresses."""
    data = [version]
    accumulator, bits = 0, 0
    for byte in program:
        accumulator = (accumulator << 8) | byte
        bits += 8
        while bits >= 5:
            bits -= 5
            data.append((accumulator >> bits) & 31)
    if bits:
        data.append((accumulator << (5 - bits)) & 31)
    constant = 1 if version == 0 else 0x2BC830A3
    expanded = [ord(c) >> 5 for c in hrp] + [0] + [ord(c) & 31 for c in hrp]
    polymod = _bech32_polymod(expanded + data + [0] * 6) ^ constant
    checksum = [(polymod >> 5 * (5 - i)) & 31 for i in range(6)]
    return hrp + "1" + "".join(_BECH32_CHARSET[d] for d in data + checksum)


def encode_base58check(version: int, payload: bytes) -> str:
    """Encode a base58check address (P2PKH/P2SH), for building test addresses."""
    raw = bytes([version]) + payload
    raw += sha256d(raw)[:4]
    number = int.from_bytes(raw, "big")
    out = ""
    while number:
        number, digit = divmod(number, 58)
        out = _BASE58_ALPHABET[digit] + out
    return "1" * (len(raw) - len(raw.lstrip(b"\0"))) + out


def regtest_addresses(seed: bytes = b"tbgpool") -> dict[str, tuple[str, bytes]]:
    """One regtest address of each type, with the scriptPubKey each must be paid with."""
    h20 = hashlib.sha256(seed).digest()[:20]
    h32 = hashlib.sha256(seed + b"32").digest()
    return {
        "p2pkh": (encode_base58check(0x6F, h20), b"\x76\xa9\x14" + h20 + b"\x88\xac"),
        "p2sh": (encode_base58check(0xC4, h20), b"\xa9\x14" + h20 + b"\x87"),
        "p2wpkh": (encode_segwit_address("bcrt", 0, h20), b"\x00\x14" + h20),
        "p2wsh": (encode_segwit_address("bcrt", 0, h32), b"\x00\x20" + h32),
        "p2tr": (encode_segwit_address("bcrt", 1, h32), b"\x51\x20" + h32),
    }

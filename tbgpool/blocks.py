"""Found blocks: assembled, written durably, then submitted until the node answers.

A block is written to ``<logdir>/blocks/`` (fsynced, atomically renamed) before
``submitblock`` is called, so a crash between finding and submitting loses
nothing: at start-up every block still marked pending is submitted again.
Transport failures are retried with back-off; Core's answer is final. "duplicate"
and "inconclusive" (valid, but not on the best chain yet) count as accepted.
"""

from __future__ import annotations

import hashlib
import json
import os
import struct
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

from twisted.internet import defer
from twisted.internet.interfaces import IReactorTime
from twisted.internet.task import deferLater
from twisted.logger import Logger
from twisted.python.failure import Failure

from tbgpool.coinbase import compact_size, witness_coinbase
from tbgpool.errors import RPCError, RPCUnavailable
from tbgpool.interfaces import ITemplateSource

#: submitblock answers that mean the node has the block.
ACCEPTED_RESULTS = frozenset({None, "duplicate", "inconclusive", "duplicate-inconclusive"})
_HEX_HASH_LENGTH = 64


def _sha256d(data: bytes) -> bytes:
    return hashlib.sha256(hashlib.sha256(data).digest()).digest()


def assemble_block(
    *,
    coinbase: bytes,
    branch: list[bytes],
    version: int,
    prevhash: bytes,
    ntime: int,
    bits: int,
    nonce: int,
    transactions: list[bytes],
    segwit: bool,
) -> tuple[str, bytes]:
    """Serialize a block from a solved share; returns (block hash display hex, block bytes).

    ``coinbase`` is the non-witness coinbase the miner hashed; with ``segwit`` it is
    re-serialized with its BIP141 witness (the 32-byte reserved value).
    """
    root = _sha256d(coinbase)
    for sibling in branch:
        root = _sha256d(root + sibling)
    header = (
        struct.pack("<I", version & 0xFFFFFFFF)
        + prevhash
        + root
        + struct.pack("<III", ntime, bits, nonce)
    )
    block_hash = _sha256d(header)[::-1].hex()
    body = compact_size(1 + len(transactions))
    body += witness_coinbase(coinbase) if segwit else coinbase
    return block_hash, header + body + b"".join(transactions)


@dataclass(frozen=True)
class FoundBlock:
    """A block a miner found, with who found it."""

    block_hash: str
    height: int
    block_hex: str
    address: str
    worker: str
    share_difficulty: float
    network_difficulty: float
    job_id: str
    found_at: float
    coinbase_value: int = 0  #: the reward the block pays the miner, satoshis
    ip: str = ""  #: the finder's IP address


@dataclass(frozen=True)
class BlockOutcome:
    """How a submission ended: accepted, or rejected with Core's reason."""

    block: FoundBlock
    accepted: bool
    result: str | None
    attempts: int


class BlockSubmitter:
    """Writes found blocks to disk and submits them to the template source until answered."""

    _log = Logger()

    def __init__(
        self,
        clock: IReactorTime,
        source: ITemplateSource,
        directory: str,
        retry_initial_s: float = 0.5,
        retry_max_s: float = 30.0,
        retry_for_s: float = 3600.0,
        on_outcome: Callable[[BlockOutcome], None] | None = None,
        max_in_flight: int = 2,
    ) -> None:
        self._clock = clock
        self._source = source
        self._directory = directory
        self._retry_initial_s = retry_initial_s
        self._retry_max_s = retry_max_s
        self._retry_for_s = retry_for_s
        self._on_outcome = on_outcome
        #: Submissions that failed: every attempt the node could not take, and every rejection.
        self.failures = 0
        self.pending: dict[str, FoundBlock] = {}
        # On regtest nearly every share is a block: never open more than a couple of
        # submitblock calls at once (Core's RPC work queue answers 503 beyond it).
        self._slots = defer.DeferredSemaphore(max_in_flight)
        os.makedirs(directory, exist_ok=True)

    def _path(self, block: FoundBlock) -> str:
        return os.path.join(self._directory, f"{block.height}-{block.block_hash}.json")

    def _write(self, block: FoundBlock, status: str, durable: bool = True, **extra: Any) -> None:
        record = {"version": 1, "status": status, **asdict(block), **extra}
        path = self._path(block)
        tmp = path + ".tmp"
        with open(tmp, "w", encoding="ascii") as f:
            json.dump(record, f, sort_keys=True)
            f.flush()
            if durable:
                os.fsync(f.fileno())
        os.replace(tmp, path)
        if not durable:
            return
        fd = os.open(self._directory, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)

    def submit(self, block: FoundBlock) -> defer.Deferred[BlockOutcome]:
        """Persist ``block`` as pending, then submit it; fires with the outcome."""
        try:
            self._write(block, "pending")
        except OSError:
            # Never let a full disk cost a block: submit anyway, loudly.
            self._log.failure(
                "could not write block {block_hash} to {directory}; submitting anyway",
                block_hash=block.block_hash,
                directory=self._directory,
            )
        self._log.warn(
            "block candidate {block_hash} at height {height} from {address} (worker {worker}), "
            "share difficulty {share_difficulty:.6g}",
            block_hash=block.block_hash,
            height=block.height,
            address=block.address,
            worker=block.worker,
            share_difficulty=block.share_difficulty,
        )
        self.pending[block.block_hash] = block
        return self._queued(block)

    def _queued(self, block: FoundBlock) -> defer.Deferred[BlockOutcome]:
        """Submit (with retries) once one of the in-flight slots is free."""
        return self._slots.run(self._attempt, block, 1, self._clock.seconds())

    def _attempt(self, block: FoundBlock, attempt: int, started: float) -> defer.Deferred[BlockOutcome]:
        d = defer.maybeDeferred(self._source.submitBlock, block.block_hex)

        def answered(result: object) -> BlockOutcome:
            text = None if result is None else str(result)
            return self._finish(block, text in ACCEPTED_RESULTS, text, attempt)

        def failed(failure: Failure) -> defer.Deferred[BlockOutcome] | BlockOutcome:
            error = failure.value
            self.failures += 1
            if isinstance(error, RPCError) and error.code == -22:
                # "Block decode failed": resubmitting the same bytes cannot help.
                return self._finish(block, False, f"rpc-error: {error.message}", attempt)
            if not failure.check(RPCError, RPCUnavailable):
                self._log.failure("unexpected error submitting block {block_hash}", failure,
                                  block_hash=block.block_hash)
            if self._clock.seconds() - started >= self._retry_for_s:
                self._log.error(
                    "giving up on block {block_hash} for now after {attempts} attempts; "
                    "it stays pending on disk and is submitted again at start-up",
                    block_hash=block.block_hash,
                    attempts=attempt,
                )
                return BlockOutcome(block, False, "pending", attempt)
            delay = min(self._retry_max_s, self._retry_initial_s * 2 ** (attempt - 1))
            self._log.warn(
                "submitblock for {block_hash} failed ({error}); retry {attempt} in {delay:.1f}s",
                block_hash=block.block_hash,
                error=str(failure.value),
                attempt=attempt + 1,
                delay=delay,
            )
            retry: defer.Deferred[BlockOutcome] = deferLater(
                self._clock, delay, self._attempt, block, attempt + 1, started  # type: ignore[arg-type]
            )
            return retry

        d.addCallbacks(answered, failed)
        return d

    def _finish(self, block: FoundBlock, accepted: bool, result: str | None, attempts: int) -> BlockOutcome:
        self.pending.pop(block.block_hash, None)
        status = "accepted" if accepted else "rejected"
        if not accepted and not (result or "").startswith("rpc-error: "):
            self.failures += 1  # a decode error was already counted as a failed attempt
        try:
            # The outcome is informational; only the pending record must be durable.
            self._write(block, status, durable=False, result=result, attempts=attempts)
        except OSError:
            self._log.failure("could not record outcome of block {block_hash}",
                              block_hash=block.block_hash)
        if accepted and result is None:
            self._log.warn(
                "BLOCK ACCEPTED {block_hash} at height {height} for {address}",
                block_hash=block.block_hash,
                height=block.height,
                address=block.address,
            )
        elif accepted:
            self._log.warn(
                "block {block_hash} at height {height} for {address}: the node has it "
                "({result}: valid, but not on its best chain now)",
                block_hash=block.block_hash,
                height=block.height,
                address=block.address,
                result=result,
            )
        else:
            self._log.error(
                "block {block_hash} at height {height} REJECTED by the node: {result}",
                block_hash=block.block_hash,
                height=block.height,
                result=result,
            )
        outcome = BlockOutcome(block, accepted, result, attempts)
        if self._on_outcome is not None:
            try:
                self._on_outcome(outcome)
            except Exception:
                self._log.failure("block outcome handler failed")
        return outcome

    def pending_on_disk(self) -> list[FoundBlock]:
        """Blocks written but never answered by a node (for instance after a crash)."""
        found: list[FoundBlock] = []
        for name in sorted(os.listdir(self._directory)):
            if not name.endswith(".json"):
                continue
            path = os.path.join(self._directory, name)
            try:
                with open(path, encoding="ascii") as f:
                    record = json.load(f)
                if record.get("status") != "pending":
                    continue
                # Fields with defaults may be missing from records written by older versions.
                fields = {
                    k: record[k] for k in FoundBlock.__dataclass_fields__ if k in record
                }
                block = FoundBlock(**fields)
                if len(block.block_hash) != _HEX_HASH_LENGTH:
                    raise ValueError("bad block hash")
            except (OSError, ValueError, KeyError, TypeError):
                self._log.failure("unreadable block record {path}; leaving it alone", path=path)
                continue
            found.append(block)
        return found

    def resubmit_pending(self) -> list[defer.Deferred[BlockOutcome]]:
        """Submit again every block left pending on disk; one Deferred per block."""
        deferreds = []
        for block in self.pending_on_disk():
            self._log.warn("resubmitting pending block {block_hash} at height {height}",
                           block_hash=block.block_hash, height=block.height)
            self.pending[block.block_hash] = block
            deferreds.append(self._queued(block))
        return deferreds

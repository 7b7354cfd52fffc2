"""The block index and active chain of the embedded chain, and Core's ProcessNewBlock flow.

Blocks are checked in Core's order (``submitblock`` → ``ProcessNewBlock`` →
``CheckBlock`` → ``AcceptBlockHeader`` → ``AcceptBlock`` → ``ConnectBlock``)
and answered with Core's BIP22 strings. One deliberate simplification: the
embedded chain never reorganises. A valid block that does not build on the
tip is stored (``getblock`` can show it) and answered with "inconclusive", as
Core answers a side-chain block that does not (yet) have the most work; it
stays a side branch even if it, or blocks built on it, would outweigh the
active chain.
"""

from __future__ import annotations

import enum
from collections.abc import Callable
from dataclasses import dataclass

from twisted.internet.interfaces import IReactorTime
from twisted.logger import Logger

from tbgpool.chain.blockcheck import (
    BlockInvalid,
    PrevBlockContext,
    check_block,
    contextual_check_block,
    contextual_check_block_header,
    update_uncommitted_block_structures,
)
from tbgpool.chain.connect import connect_block
from tbgpool.chain.mempool import MempoolEntry, SyntheticMempool
from tbgpool.chain.params import MEDIAN_TIME_SPAN, ChainParams
from tbgpool.chain.pow import block_proof
from tbgpool.chain.primitives import Block, BlockHeader
from tbgpool.chain.script import is_unspendable
from tbgpool.chain.serialize import hash_to_display


class BlockStatus(enum.Enum):
    """Where a block stands in the index (a small subset of Core's nStatus)."""

    HEADER_ONLY = "header-only"  #: header valid; the block's data failed a mutation check
    VALID_TREE = "valid-tree"  #: stored and valid as far as checked, but not on the active chain
    ACTIVE = "active"  #: connected: on the active chain
    FAILED = "failed"  #: invalid (Core's BLOCK_FAILED_VALID)


@dataclass(eq=False)
class BlockRecord:
    """One entry of the block index."""

    header: BlockHeader
    hash: bytes  #: internal order
    height: int
    parent: BlockRecord | None
    chainwork: int
    median_time_past: int
    status: BlockStatus
    block: Block | None = None  #: None when the block's data was never stored
    fees: dict[bytes, int] | None = None  #: per-txid fees, known once connected
    tx_count: int = 0

    @property
    def display_hash(self) -> str:
        """The hash as RPC shows it."""
        return hash_to_display(self.hash)

    def as_prev(self) -> PrevBlockContext:
        """This block as the parent of a block being checked."""
        return PrevBlockContext(self.height, self.median_time_past)


def _median_time_past(header: BlockHeader, parent: BlockRecord | None) -> int:
    times = [header.time]
    record = parent
    while record is not None and len(times) < MEDIAN_TIME_SPAN:
        times.append(record.header.time)
        record = record.parent
    times.sort()
    return times[len(times) // 2]


class ChainState:
    """The index of known blocks, the active chain, and the checks that extend it."""

    _log = Logger()

    def __init__(
        self,
        params: ChainParams,
        bits: int,
        mempool: SyntheticMempool,
        clock: IReactorTime,
        mempool_tx_per_block: int,
    ) -> None:
        self.params = params
        self.bits = bits
        self.mempool = mempool
        self._clock = clock
        self._mempool_tx_per_block = mempool_tx_per_block
        genesis = params.genesis
        record = BlockRecord(
            header=genesis.header,
            hash=genesis.hash,
            height=0,
            parent=None,
            chainwork=block_proof(genesis.header.bits),
            median_time_past=genesis.header.time,
            status=BlockStatus.ACTIVE,
            block=genesis,
            fees={},
            tx_count=len(genesis.transactions),
        )
        self._index: dict[bytes, BlockRecord] = {record.hash: record}
        self._active: list[BlockRecord] = [record]
        # Txids on the active chain that still have unspent outputs (the genesis
        # coinbase's never entered the UTXO set). Nothing here ever spends them.
        self._confirmed_txids: set[bytes] = set()
        self._tip_listeners: list[Callable[[BlockRecord], None]] = []
        mempool.add_synthetic(mempool_tx_per_block, 0)

    @property
    def tip(self) -> BlockRecord:
        """The last block of the active chain."""
        return self._active[-1]

    @property
    def best_header(self) -> BlockRecord:
        """The valid header with the most work (the tip unless a side branch outweighs it)."""
        best = self.tip
        for record in self._index.values():
            if record.status is not BlockStatus.FAILED and record.chainwork > best.chainwork:
                best = record
        return best

    def lookup(self, block_hash: bytes) -> BlockRecord | None:
        """The index entry for ``block_hash`` (internal order), or None."""
        return self._index.get(block_hash)

    def at_height(self, height: int) -> BlockRecord | None:
        """The active chain's block at ``height``, or None when out of range."""
        return self._active[height] if 0 <= height < len(self._active) else None

    def is_active(self, record: BlockRecord) -> bool:
        """True when ``record`` is on the active chain."""
        return self.at_height(record.height) is record

    def stored_size_bytes(self) -> int:
        """Total serialized size of the blocks whose data is stored."""
        return sum(r.block.total_size for r in self._index.values() if r.block is not None)

    def add_tip_listener(self, listener: Callable[[BlockRecord], None]) -> None:
        """Call ``listener(new_tip)`` whenever the active chain grows."""
        self._tip_listeners.append(listener)

    # The pieces of CoinView that connect_block needs.
    def mempool_entry(self, txid: bytes) -> MempoolEntry | None:
        """The spendable mempool transaction with this txid, or None."""
        return self.mempool.get(txid)

    def has_unspent_outputs(self, txid: bytes) -> bool:
        """True when an active-chain transaction with this txid has spendable outputs."""
        return txid in self._confirmed_txids

    def now(self) -> int:
        """Current time from the injected clock, whole seconds."""
        return int(self._clock.seconds())

    def process_new_block(self, block: Block, check_pow: bool = True) -> str | None:
        """Check and store ``block``; None when it became the tip, else Core's BIP22 string."""
        existing = self._index.get(block.hash)
        if existing is not None:
            if existing.status is BlockStatus.ACTIVE:
                return "duplicate"
            if existing.status is BlockStatus.FAILED:
                return "duplicate-invalid"
        parent = self._index.get(block.header.prev_hash)
        if parent is not None:
            block = update_uncommitted_block_structures(block)
        try:
            check_block(block, self.params.pow_limit, check_pow=check_pow)
        except BlockInvalid as e:
            return self._rejected(block, e)
        if existing is not None and existing.status is BlockStatus.VALID_TREE:
            return "duplicate"
        if existing is not None:
            record = existing
        else:
            if parent is None:
                return self._rejected(block, BlockInvalid("prev-blk-not-found"))
            if parent.status is BlockStatus.FAILED:
                return self._rejected(block, BlockInvalid("bad-prevblk"))
            try:
                contextual_check_block_header(block.header, parent.as_prev(), self.bits, self.now())
            except BlockInvalid as e:
                return self._rejected(block, e)
            record = self._add_header(block.header, parent)
        assert record.parent is not None  # only the genesis block has none
        try:
            contextual_check_block(block, record.parent.as_prev())
        except BlockInvalid as e:
            if not e.mutated:
                record.status = BlockStatus.FAILED
            return self._rejected(block, e)
        record.block = block
        record.tx_count = len(block.transactions)
        if record.parent is not self.tip:
            record.status = BlockStatus.VALID_TREE
            self._log.info(
                "block {block_hash} at height {height} stored on a side branch (inconclusive)",
                block_hash=record.display_hash,
                height=record.height,
            )
            return "inconclusive"
        try:
            result = connect_block(block, record.height, self, self.params.subsidy_halving_interval)
        except BlockInvalid as e:
            record.status = BlockStatus.FAILED
            return self._rejected(block, e)
        record.fees = result.fees
        self._connect(record)
        return None

    def test_block_validity(self, block: Block) -> str | None:
        """BIP23 proposal check (Core's TestBlockValidity without PoW); None when valid."""
        existing = self._index.get(block.hash)
        if existing is not None:
            if existing.status is BlockStatus.ACTIVE:
                return "duplicate"
            if existing.status is BlockStatus.FAILED:
                return "duplicate-invalid"
            return "duplicate-inconclusive"
        if block.header.prev_hash != self.tip.hash:
            return "inconclusive-not-best-prevblk"
        prev = self.tip.as_prev()
        try:
            contextual_check_block_header(block.header, prev, self.bits, self.now())
            check_block(block, self.params.pow_limit, check_pow=False)
            contextual_check_block(block, prev)
            connect_block(block, prev.height + 1, self, self.params.subsidy_halving_interval)
        except BlockInvalid as e:
            return e.reason
        return None

    def _add_header(self, header: BlockHeader, parent: BlockRecord) -> BlockRecord:
        record = BlockRecord(
            header=header,
            hash=header.hash(),
            height=parent.height + 1,
            parent=parent,
            chainwork=parent.chainwork + block_proof(header.bits),
            median_time_past=_median_time_past(header, parent),
            status=BlockStatus.HEADER_ONLY,
        )
        self._index[record.hash] = record
        return record

    def _connect(self, record: BlockRecord) -> None:
        assert record.block is not None
        record.status = BlockStatus.ACTIVE
        self._active.append(record)
        for tx in record.block.transactions:
            if any(not is_unspendable(txout.script_pubkey) for txout in tx.outputs):
                self._confirmed_txids.add(tx.txid)
        self.mempool.remove([tx.txid for tx in record.block.transactions[1:]])
        self.mempool.add_synthetic(self._mempool_tx_per_block, record.height)
        self._log.info(
            "block {block_hash} at height {height} connected with {tx_count} transactions",
            block_hash=record.display_hash,
            height=record.height,
            tx_count=record.tx_count,
        )
        for listener in list(self._tip_listeners):
            try:
                listener(record)
            except Exception:
                self._log.failure(
                    "a tip listener failed on block {block_hash}", block_hash=record.display_hash
                )

    def _rejected(self, block: Block, error: BlockInvalid) -> str:
        self._log.warn(
            "block {block_hash} rejected: {reason} ({debug})",
            block_hash=hash_to_display(block.hash),
            reason=error.reason,
            debug=error.debug,
        )
        return error.reason

    def network_hashes_per_second(self, lookup: int, height: int) -> float | int:
        """Core's GetNetworkHashPS over the active chain (arguments already validated)."""
        record = self.tip if height < 0 else self._active[height]
        if record.height == 0:
            return 0
        if lookup == -1:
            lookup = record.height % 2016 + 1
        lookup = min(lookup, record.height)
        min_time = max_time = record.header.time
        first = record
        for _ in range(lookup):
            assert first.parent is not None
            first = first.parent
            min_time = min(min_time, first.header.time)
            max_time = max(max_time, first.header.time)
        if min_time == max_time:
            return 0
        return (record.chainwork - first.chainwork) / (max_time - min_time)

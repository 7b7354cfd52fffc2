"""The embedded chain: an in-process stand-in for a regtest bitcoind, behind IBitcoinRPC.

It answers the RPC methods the pool and its tools use with Bitcoin Core v27's
result shapes, error codes and submitblock strings, validating submitted blocks
as Core does (see :mod:`tbgpool.chain.chainstate` for the one simplification:
no reorganisations). Only ``network="regtest"`` is faithful; see
:mod:`tbgpool.chain.params` for what the other names mean here.

All time comes from the injected clock. It must read a realistic time (after
the 2011 regtest genesis block): a block's time may not exceed now + 2 h, so a
``task.Clock`` left at 0 makes every block "time-too-new", exactly as Core
would on a machine whose clock is that far behind.
"""

from __future__ import annotations

import functools
import math
import re
from collections.abc import Callable
from typing import Any

from twisted.internet import defer
from twisted.internet.defer import Deferred
from twisted.internet.interfaces import IReactorTime
from twisted.internet.task import LoopingCall
from twisted.logger import Logger
from zope.interface import implementer

from tbgpool.chain import rpcqueries
from tbgpool.chain.chainstate import ChainState
from tbgpool.chain.gbt import build_template
from tbgpool.chain.longpoll import LongPolls
from tbgpool.chain.mempool import SyntheticMempool
from tbgpool.chain.miner import assemble_block, grind, grind_budget
from tbgpool.chain.params import MAX_FUTURE_BLOCK_TIME_S, chain_params
from tbgpool.chain.pow import (
    REGTEST_BITS,
    bits_to_target,
    difficulty_to_bits,
    is_valid_bits,
    target_to_bits,
    target_to_difficulty,
)
from tbgpool.chain.primitives import Block, DecodeError, parse_block
from tbgpool.chain.rpcargs import (
    RPC_DESERIALIZATION_ERROR,
    RPC_INTERNAL_ERROR,
    RPC_INVALID_PARAMETER,
    RPC_INVALID_REQUEST,
    RPC_METHOD_NOT_FOUND,
    RPC_TYPE_ERROR,
    Arg,
    ArgType,
    MethodSpec,
    get_str,
    normalize_params,
    parse_hash,
    positional,
    spec,
)
from tbgpool.chain.serialize import display_to_hash, hash_to_display, is_hex
from tbgpool.errors import RPCError
from tbgpool.interfaces import IBitcoinRPC

__all__ = [
    "EmbeddedChain",
    "bits_to_target",
    "decode_block_hex",
    "difficulty_to_bits",
    "target_to_bits",
    "target_to_difficulty",
]

GETBLOCKTEMPLATE = spec(
    "getblocktemplate",
    "It returns data needed to construct a block to work on.",
    Arg("template_request", ArgType.OBJ),
)
SUBMITBLOCK = spec(
    "submitblock",
    "Attempts to submit new block to network.",
    Arg("hexdata", ArgType.STR, required=True),
    Arg("dummy", ArgType.STR),
)
UPTIME = spec("uptime", "Returns the total uptime of the server.")
GETMEMPOOLINFO = spec("getmempoolinfo", "Returns details on the active state of the TX memory pool.")
#: Core's defaults: -maxmempool=300 (MB) and 1 sat/vB relay fees, in BTC/kvB.
_MAX_MEMPOOL_BYTES = 300_000_000
_RELAY_FEE_BTC_PER_KVB = 0.00001

#: Network blocks take at most this share of mempool_tx_per_block from the mempool.
_NETWORK_BLOCK_TX_SHARE = 2
_GRIND_ATTEMPTS = 3


def decode_block_hex(hexdata: str) -> Block:
    """A block from submitblock hex; RPCError(-22) when it is not hex or not exactly one block.

    Stricter than Core, which ignores bytes after the block: trailing data is
    refused here so that a pool bug appending garbage shows up in development.
    """
    if not is_hex(hexdata):
        raise RPCError(RPC_DESERIALIZATION_ERROR, "Block decode failed")
    try:
        return parse_block(bytes.fromhex(hexdata))
    except DecodeError as e:
        raise RPCError(RPC_DESERIALIZATION_ERROR, "Block decode failed") from e


def _leading_int(text: str) -> int:
    """Core's LocaleIndependentAtoi: the leading integer of ``text``, 0 when there is none."""
    match = re.match(r"\s*([+-]?\d+)", text)
    return int(match.group(1)) if match else 0


@implementer(IBitcoinRPC)
class EmbeddedChain:
    """An in-process regtest node: block templates, block validation, a synthetic mempool."""

    name = "embedded"
    _log = Logger()

    def __init__(
        self,
        clock: IReactorTime,
        network: str = "regtest",
        bits: int = REGTEST_BITS,
        block_interval_s: float = 0.0,
        mempool_tx_per_block: int = 8,
        seed: int = 0,
    ) -> None:
        params = chain_params(network)
        if not is_valid_bits(bits, params.pow_limit):
            raise ValueError(
                f"bits {bits!r} is not a positive target within the regtest proof-of-work limit"
            )
        if isinstance(block_interval_s, bool) or not isinstance(block_interval_s, int | float):
            raise ValueError(f"block_interval_s must be a number, got {block_interval_s!r}")
        if not math.isfinite(block_interval_s) or block_interval_s < 0:
            raise ValueError(f"block_interval_s must be finite and >= 0, got {block_interval_s!r}")
        if isinstance(mempool_tx_per_block, bool) or not isinstance(mempool_tx_per_block, int):
            raise ValueError(
                f"mempool_tx_per_block must be an integer, got {mempool_tx_per_block!r}"
            )
        if mempool_tx_per_block < 0:
            raise ValueError(f"mempool_tx_per_block must be >= 0, got {mempool_tx_per_block}")
        if isinstance(seed, bool) or not isinstance(seed, int):
            raise ValueError(f"seed must be an integer, got {seed!r}")
        self._clock = clock
        self._started_at_s = clock.seconds()
        self._block_interval_s = float(block_interval_s)
        self._mempool_tx_per_block = mempool_tx_per_block
        self._chain = ChainState(params, bits, SyntheticMempool(seed), clock, mempool_tx_per_block)
        self._longpolls = LongPolls(clock, self._chain)
        self._timer: LoopingCall | None = None
        self._extranonce = 0
        self._last_assembly: tuple[int, int] | None = None
        self._last_transactions_updated = self._chain.mempool.transactions_updated
        #: Hashes (RPC hex) of blocks that submitblock accepted onto the tip, oldest first.
        self.accepted_blocks: list[str] = []
        self._methods = self._method_table()
        if params.genesis.header.time + 1 > self._chain.now() + MAX_FUTURE_BLOCK_TIME_S:
            self._log.warn(
                "the clock reads {now}, far before the genesis block's time {genesis_time}: "
                "every block will be rejected as time-too-new",
                now=self._chain.now(),
                genesis_time=params.genesis.header.time,
            )

    @property
    def tip_hash(self) -> str:
        """Hash (RPC hex) of the active chain's tip."""
        return self._chain.tip.display_hash

    @property
    def height(self) -> int:
        """Height of the active chain's tip."""
        return self._chain.tip.height

    @property
    def bits(self) -> int:
        """Compact target that the next block must carry."""
        return self._chain.bits

    def block(self, block_hash: str) -> Block:
        """The stored block with this hash (RPC hex); KeyError when unknown or not stored."""
        try:
            record = self._chain.lookup(display_to_hash(block_hash))
        except ValueError as e:
            raise KeyError(block_hash) from e
        if record is None or record.block is None:
            raise KeyError(block_hash)
        return record.block

    def set_bits(self, bits: int) -> None:
        """Require ``bits`` from the next block on (a test hook; real regtest never retargets)."""
        if not is_valid_bits(bits, self._chain.params.pow_limit):
            raise ValueError(
                f"bits {bits!r} is not a positive target within the regtest proof-of-work limit"
            )
        self._chain.bits = bits

    def start(self) -> None:
        """Start finding "network" blocks every block_interval_s seconds (when that is > 0)."""
        if self._block_interval_s <= 0 or (self._timer is not None and self._timer.running):
            return
        self._timer = LoopingCall(self._network_block_due)
        self._timer.clock = self._clock
        self._timer.start(self._block_interval_s, now=False)

    def stop(self) -> None:
        """Stop the network block timer."""
        if self._timer is not None and self._timer.running:
            self._timer.stop()
        self._timer = None

    def mine_network_block(self) -> str:
        """Another miner finds a block on the tip now; returns its hash (RPC hex).

        The block pays an OP_TRUE output and includes a few mempool
        transactions. Its nonce is ground with hashlib when the target needs
        fewer than ~200k hashes on average; at higher difficulty it is accepted
        without proof of work (a development convenience, see
        :mod:`tbgpool.chain.miner`). Its time is max(now, median time past + 1).
        """
        chain = self._chain
        count = self._mempool_tx_per_block // _NETWORK_BLOCK_TX_SHARE or min(
            1, self._mempool_tx_per_block
        )
        entries = chain.mempool.select_for_block(max_count=count)
        block_time = max(chain.now(), chain.tip.median_time_past + 1)
        target = bits_to_target(chain.bits)
        budget = grind_budget(target)
        block = None
        for _ in range(_GRIND_ATTEMPTS if budget is not None else 0):
            self._extranonce += 1
            candidate = assemble_block(chain, entries, block_time, self._extranonce)
            header = grind(candidate.header, target, budget or 0)
            if header is not None:
                block = Block(header, candidate.transactions)
                break
        proof_of_work = block is not None
        if block is None:
            self._extranonce += 1
            block = assemble_block(chain, entries, block_time, self._extranonce)
        result = chain.process_new_block(block, check_pow=proof_of_work)
        if result is not None:
            raise RuntimeError(f"the embedded chain refused its own network block: {result}")
        self._log.info(
            "network block {block_hash} found at height {height} (proof of work: {proof_of_work})",
            block_hash=hash_to_display(block.hash),
            height=chain.tip.height,
            proof_of_work=proof_of_work,
        )
        return hash_to_display(block.hash)

    def call(self, method: str, params: list[object] | None = None) -> Deferred[Any]:
        """Answer one RPC call (IBitcoinRPC): a Deferred with the result or an RPCError."""
        try:
            result = self._dispatch(method, params)
        except RPCError as e:
            return defer.fail(e)
        except Exception:
            self._log.failure("internal error answering {method}", method=method)
            return defer.fail(RPCError(RPC_INTERNAL_ERROR, "Internal error"))
        if isinstance(result, Deferred):
            return result
        return defer.succeed(result)

    def _dispatch(self, method: object, params: object) -> Any:
        if not isinstance(method, str):
            raise RPCError(RPC_INVALID_REQUEST, "Method must be a string")
        entry = self._methods.get(method)
        if entry is None:
            raise RPCError(RPC_METHOD_NOT_FOUND, "Method not found")
        method_spec, handler = entry
        return handler(normalize_params(method_spec, params))

    def _method_table(self) -> dict[str, tuple[MethodSpec, Callable[[list[object]], Any]]]:
        chain = self._chain
        table: dict[str, tuple[MethodSpec, Callable[[list[object]], Any]]] = {
            name: (method_spec, functools.partial(handler, chain))
            for name, (method_spec, handler) in rpcqueries.QUERIES.items()
        }
        table["getblocktemplate"] = (GETBLOCKTEMPLATE, self._getblocktemplate)
        table["submitblock"] = (SUBMITBLOCK, self._submitblock)
        table["getmininginfo"] = (
            rpcqueries.GETMININGINFO,
            lambda args: rpcqueries.mininginfo(chain, self._last_assembly),
        )
        table["uptime"] = (UPTIME, lambda args: int(self._clock.seconds() - self._started_at_s))
        table["getmempoolinfo"] = (GETMEMPOOLINFO, self._getmempoolinfo)
        return table

    def _getmempoolinfo(self, args: list[object]) -> dict[str, Any]:
        """Core's getmempoolinfo shape, over the synthetic mempool."""
        entries = self._chain.mempool.entries()
        vsize = sum(entry.tx.vsize for entry in entries)
        return {
            "loaded": True,
            "size": len(entries),
            "bytes": vsize,
            "usage": vsize * 4,
            "total_fee": sum(entry.fee for entry in entries) / 1e8,
            "maxmempool": _MAX_MEMPOOL_BYTES,
            "mempoolminfee": _RELAY_FEE_BTC_PER_KVB,
            "minrelaytxfee": _RELAY_FEE_BTC_PER_KVB,
            "incrementalrelayfee": _RELAY_FEE_BTC_PER_KVB,
            "unbroadcastcount": 0,
            "fullrbf": True,
        }

    def _getblocktemplate(self, args: list[object]) -> Any:
        request = positional(args, 0)
        request = request if isinstance(request, dict) else {}
        mode = request.get("mode")
        if mode is None:
            mode = "template"
        elif not isinstance(mode, str):
            raise RPCError(RPC_INVALID_PARAMETER, "Invalid mode")
        if mode == "proposal":
            data = request.get("data")
            if not isinstance(data, str):
                raise RPCError(RPC_TYPE_ERROR, "Missing data String key for proposal")
            return self._chain.test_block_validity(decode_block_hex(data))
        rules = request.get("rules")
        client_rules = {get_str(rule) for rule in rules} if isinstance(rules, list) else set()
        if mode != "template":
            raise RPCError(RPC_INVALID_PARAMETER, "Invalid mode")
        longpollid = request.get("longpollid")
        if longpollid is None:
            return self._template(client_rules)
        if isinstance(longpollid, str):
            watched = parse_hash(longpollid[:64], "longpollid")
            seen = _leading_int(longpollid[64:])
        else:
            watched, seen = self._chain.tip.hash, self._last_transactions_updated
        return self._longpolls.wait(watched, seen, lambda: self._template(client_rules))

    def _template(self, client_rules: set[str]) -> dict[str, Any]:
        assembled = build_template(self._chain, client_rules, self._chain.now())
        self._last_assembly = (assembled.block_weight, assembled.tx_count)
        self._last_transactions_updated = self._chain.mempool.transactions_updated
        return assembled.result

    def _submitblock(self, args: list[object]) -> str | None:
        block = decode_block_hex(get_str(args[0]))
        if not block.transactions or not block.transactions[0].is_coinbase():
            raise RPCError(RPC_DESERIALIZATION_ERROR, "Block does not start with a coinbase")
        result = self._chain.process_new_block(block)
        if result is None:
            self.accepted_blocks.append(hash_to_display(block.hash))
        return result

    def _network_block_due(self) -> None:
        try:
            self.mine_network_block()
        except Exception:
            self._log.failure("the network block timer failed to mine a block")

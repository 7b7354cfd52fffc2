"""BIP22 long polling for getblocktemplate, timed as Core times it.

A long poll returns as soon as the tip differs from the watched hash. The
mempool is looked at after one minute and then every ten seconds; a change in
its update counter also ends the wait.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from twisted.internet.defer import Deferred
from twisted.internet.interfaces import IDelayedCall, IReactorTime
from twisted.logger import Logger

from tbgpool.chain.chainstate import BlockRecord, ChainState
from tbgpool.chain.rpcargs import RPC_INTERNAL_ERROR
from tbgpool.errors import RPCError

FIRST_MEMPOOL_CHECK_S = 60.0
MEMPOOL_CHECK_INTERVAL_S = 10.0


@dataclass(eq=False)
class _Waiter:
    deferred: Deferred[object]
    watched_tip: bytes
    transactions_updated_seen: int
    respond: Callable[[], object]
    timer: IDelayedCall | None = None


class LongPolls:
    """Pending long-poll requests, answered when the tip or the mempool changes."""

    _log = Logger()

    def __init__(self, clock: IReactorTime, chain: ChainState) -> None:
        self._clock = clock
        self._chain = chain
        self._waiters: list[_Waiter] = []
        chain.add_tip_listener(self._tip_changed)

    def __len__(self) -> int:
        return len(self._waiters)

    def wait(
        self, watched_tip: bytes, transactions_updated_seen: int, respond: Callable[[], object]
    ) -> Deferred[object]:
        """A Deferred firing with ``respond()`` once the chain moves on from ``watched_tip``."""
        waiter = _Waiter(
            Deferred(lambda _: self._cancel(waiter)),
            watched_tip,
            transactions_updated_seen,
            respond,
        )
        if watched_tip != self._chain.tip.hash:
            self._answer(waiter)
        else:
            self._waiters.append(waiter)
            waiter.timer = self._clock.callLater(FIRST_MEMPOOL_CHECK_S, self._check_mempool, waiter)
        return waiter.deferred

    def _tip_changed(self, tip: BlockRecord) -> None:
        for waiter in [w for w in self._waiters if w.watched_tip != tip.hash]:
            self._finish(waiter)

    def _check_mempool(self, waiter: _Waiter) -> None:
        waiter.timer = None
        if self._chain.mempool.transactions_updated != waiter.transactions_updated_seen:
            self._finish(waiter)
        else:
            waiter.timer = self._clock.callLater(
                MEMPOOL_CHECK_INTERVAL_S, self._check_mempool, waiter
            )

    def _cancel(self, waiter: _Waiter) -> None:
        if waiter in self._waiters:
            self._waiters.remove(waiter)
        if waiter.timer is not None and waiter.timer.active():
            waiter.timer.cancel()
        waiter.timer = None

    def _finish(self, waiter: _Waiter) -> None:
        self._cancel(waiter)
        self._answer(waiter)

    def _answer(self, waiter: _Waiter) -> None:
        try:
            result = waiter.respond()
        except RPCError as e:  # e.g. the segwit rule missing: Core's answer, for the caller
            waiter.deferred.errback(e)
        except Exception:
            self._log.failure("internal error answering a getblocktemplate long poll")
            waiter.deferred.errback(RPCError(RPC_INTERNAL_ERROR, "Internal error"))
        else:
            waiter.deferred.callback(result)

"""The template source: keeps block templates flowing from one or more Bitcoin nodes.

:class:`BitcoindTemplateSource` talks to its nodes through :class:`IBitcoinRPC`
(the HTTP client for ``bitcoind`` or the embedded chain). It fetches a template
on connect, every ``update_interval_s``, and as soon as a new tip is seen (by
polling ``getbestblockhash`` every ``blockpoll_s``, or from a ZMQ hashblock via
:meth:`BitcoindTemplateSource.blockNotified`). Nodes are tried in order; an
unreachable or not-yet-ready node makes it move round-robin to the next, with
exponential back-off once every node has failed in a row. Nothing it schedules
can raise out of a timer: every failure ends in a log line and a retry.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from functools import partial
from typing import Any

from twisted.application import service
from twisted.internet import defer
from twisted.internet.interfaces import IDelayedCall, IReactorTime
from twisted.internet.task import LoopingCall
from twisted.logger import Logger
from twisted.python.failure import Failure
from zope.interface import implementer

from tbgpool.errors import ConfigError, RPCError, RPCUnavailable
from tbgpool.interfaces import IBitcoinRPC, ITemplateConsumer, ITemplateSource
from tbgpool.template import NETWORKS, BlockTemplate

#: Core's codes for "ask again later": RPC_IN_WARMUP (loading block index,
#: verifying blocks...), RPC_CLIENT_IN_INITIAL_DOWNLOAD and RPC_CLIENT_NOT_CONNECTED
#: (no peers, so a found block could not be relayed).
NOT_READY_CODES = frozenset({-28, -10, -9})
#: Calls whose latency is kept for ``bitcoin_rpc_latency_ms`` (a fixed set: bounded labels).
TIMED_METHODS = (
    "getblocktemplate",
    "getbestblockhash",
    "getblockchaininfo",
    "submitblock",
    "getmempoolinfo",
    "getnetworkinfo",
)
#: How often the node's mempool size and peer count are read, for the dashboards.
NODE_STATS_INTERVAL_S = 15.0


def gbt_params(network: str | None = None) -> list[object]:
    """getblocktemplate's parameters (a fresh list each call: backends may keep it).

    Core refuses a template on signet unless the "signet" rule is named too.
    """
    rules = ["segwit", "signet"] if network == "signet" else ["segwit"]
    return [{"rules": rules}]


#: A connected node is given up only after this many failed calls in a row: a busy
#: Core answers 503 ("Work queue depth exceeded") and one timeout is not an outage.
#: Giving up too eagerly forces clean work on miners for nothing.
FAILURES_BEFORE_FAILOVER = 3
#: While a fail-over node serves, the first node is asked this often whether it is back.
PRIMARY_RECHECK_INTERVAL_S = 30.0


_BLOCK_HASH = re.compile(r"[0-9a-fA-F]{64}\Z")


def is_outage(failure: Failure | BaseException) -> bool:
    """True for failures that mean "this node cannot serve us now" rather than an answer."""
    error = failure.value if isinstance(failure, Failure) else failure
    if isinstance(error, RPCUnavailable):
        return True
    return isinstance(error, RPCError) and error.code in NOT_READY_CODES


def _describe(failure: Failure) -> str:
    return str(failure.value) or type(failure.value).__name__


@implementer(ITemplateSource)
class BitcoindTemplateSource(service.Service):
    """Feeds templates from the first usable node to every consumer, failing over as needed."""

    _log = Logger()

    def __init__(
        self,
        clock: IReactorTime,
        backends: Sequence[IBitcoinRPC],
        update_interval_s: float = 30.0,
        blockpoll_s: float = 0.1,
        backoff_initial_s: float = 0.5,
        backoff_max_s: float = 5.0,
    ) -> None:
        if not backends:
            raise ConfigError("btcd", "at least one node is required")
        if update_interval_s <= 0 or blockpoll_s <= 0:
            raise ConfigError("update_interval", "intervals must be positive")
        self._clock = clock
        self._backends = list(backends)
        self._index = 0
        self._update_interval_s = update_interval_s
        self._blockpoll_s = blockpoll_s
        self._backoff_initial_s = backoff_initial_s
        self._backoff_max_s = backoff_max_s
        self._backoff_s = backoff_initial_s
        self._consumers: list[ITemplateConsumer] = []
        #: A node is serving us templates right now.
        self.connected = False
        #: The chain name the nodes report ("main", "test", "testnet4", "signet", "regtest").
        self.network: str | None = None
        #: When the newest tip was first seen (ZMQ notice, poll, or its template), clock seconds.
        self.tip_seen_at: float | None = None
        #: How long the last template took from being asked for to arriving, in ms.
        self.template_latency_ms: float | None = None
        #: Latest latency of each TIMED_METHODS call, in ms.
        self.rpc_latency_ms: dict[str, float] = {}
        #: The node's mempool size (transactions) and peer count, read every NODE_STATS_INTERVAL_S.
        self.mempool_size: int | None = None
        self.peer_count: int | None = None
        #: The latest template delivered to consumers.
        self.current: BlockTemplate | None = None
        self._epoch = 0  # bumped whenever calls to the current node are abandoned
        self._in_flight: set[defer.Deferred[Any]] = set()
        self._gbt_in_flight = False
        self._gbt_again = False
        self._poll_in_flight = False
        self._last_poll_error: str | None = None
        self._best_hash: str | None = None  # the node's tip at the last poll
        # A tip whose template was unusable: the poll does not re-ask for it.
        self._stale_tip: str | None = None
        self._failures = 0  # failed connection attempts since the last success
        self._call_failures = 0  # failed calls in a row to the connected node
        self._failing_since: float | None = None
        self._outage_reported = False
        self._need_clean = True
        self._last_used: IBitcoinRPC | None = None
        self._retry_call: IDelayedCall | None = None
        self._update_loop = LoopingCall(self._guarded, self.refresh)
        self._update_loop.clock = clock
        self._poll_loop = LoopingCall(self._guarded, self._poll_tip)
        self._poll_loop.clock = clock
        self._stats_loop = LoopingCall(self._guarded, self._read_node_stats)
        self._stats_loop.clock = clock
        self._primary_loop = LoopingCall(self._guarded, self._check_primary)
        self._primary_loop.clock = clock
        self._primary_check: defer.Deferred[Any] | None = None
        self._gbt_asked_at = 0.0
        self._tip_pending_since: float | None = None

    @property
    def backend(self) -> IBitcoinRPC:
        """The node in use (or being tried) now."""
        return self._backends[self._index]

    @property
    def on_fallback(self) -> bool:
        """Serving work from a fail-over node rather than the first configured one."""
        return self.connected and self._index != 0

    # -- ITemplateSource ------------------------------------------------------------

    def addConsumer(self, consumer: ITemplateConsumer) -> None:
        """Deliver every future template and status change to ``consumer``."""
        self._consumers.append(consumer)

    def refresh(self) -> None:
        """Fetch a new template now; coalesced with one already in flight."""
        if not self.running or not self.connected:
            return
        self._fetch_template(connecting=False)

    def blockNotified(self, block_hash: str) -> None:
        """A node announced ``block_hash`` (ZMQ): refresh unless it is already our tip."""
        if not self.connected:
            self._reconnect_now("a block notification arrived")
            return
        current = self.current
        if current is not None and str(block_hash).lower() == current.previous_block_hash.lower():
            return
        self._tip_seen()
        self.refresh()

    def _tip_seen(self) -> None:
        """A tip newer than the current template's was seen; the first sighting counts."""
        if self._tip_pending_since is None:
            self._tip_pending_since = self._clock.seconds()

    def submitBlock(self, block_hex: str) -> defer.Deferred[str | None]:
        """Submit to the current node, then the others; fires with Core's answer."""
        count = len(self._backends)
        order = [self._backends[(self._index + i) % count] for i in range(count)]
        return defer.Deferred.fromCoroutine(self._submit(block_hex, order))

    # -- service --------------------------------------------------------------------

    def startService(self) -> None:
        """Start polling and connect to the first node."""
        super().startService()
        self._update_loop.start(self._update_interval_s, now=False).addErrback(
            self._loop_died, "update"
        )
        self._poll_loop.start(self._blockpoll_s, now=False).addErrback(self._loop_died, "poll")
        self._stats_loop.start(NODE_STATS_INTERVAL_S, now=False).addErrback(
            self._loop_died, "node stats"
        )
        self._primary_loop.start(PRIMARY_RECHECK_INTERVAL_S, now=False).addErrback(
            self._loop_died, "primary check"
        )
        self._connect()

    def stopService(self) -> None:
        """Stop every timer and abandon calls in flight."""
        super().stopService()
        if self._primary_check is not None:
            self._primary_check.cancel()
        for loop in (self._update_loop, self._poll_loop, self._stats_loop, self._primary_loop):
            if loop.running:
                loop.stop()
        if self._retry_call is not None and self._retry_call.active():
            self._retry_call.cancel()
        self._retry_call = None
        self._abandon_calls()
        self.connected = False

    # -- plumbing -------------------------------------------------------------------

    def _guarded(self, function: Callable[[], None]) -> None:
        """Run a timer's work; a LoopingCall whose call raises would stop for good."""
        try:
            function()
        except Exception:
            self._log.failure("template source timer failed")

    def _loop_died(self, failure: Failure, name: str) -> None:
        self._log.failure("template source {name} loop stopped", failure, name=name)

    def _request(
        self,
        method: str,
        params: list[object],
        on_result: Callable[[Any], None],
        on_failure: Callable[[Failure], None],
    ) -> None:
        """Call the current node; handlers run only if the node is still the current one."""
        epoch = self._epoch
        asked_at = self._clock.seconds()
        d: defer.Deferred[Any] = defer.maybeDeferred(self.backend.call, method, params)
        self._in_flight.add(d)

        def settle(result: Any) -> None:
            self._in_flight.discard(d)
            if method in TIMED_METHODS and not isinstance(result, Failure):
                self.rpc_latency_ms[method] = (self._clock.seconds() - asked_at) * 1000.0
            if epoch != self._epoch or not self.running:
                return
            try:
                if isinstance(result, Failure):
                    on_failure(result)
                else:
                    on_result(result)
            except Exception:
                self._log.failure("handling {method} failed", method=method)

        d.addBoth(settle)

    def _abandon_calls(self) -> None:
        self._epoch += 1
        in_flight, self._in_flight = self._in_flight, set()
        for d in in_flight:
            d.cancel()
        self._gbt_in_flight = False
        self._gbt_again = False
        self._poll_in_flight = False

    def _notify_consumers(self, what: str, *args: Any) -> None:
        for consumer in list(self._consumers):
            try:
                getattr(consumer, what)(*args)
            except Exception:
                self._log.failure(
                    "template consumer {consumer!r} failed in {what}", consumer=consumer, what=what
                )

    # -- connecting and failing over ------------------------------------------------

    def _connect(self) -> None:
        self._retry_call = None
        if not self.running:
            return
        self.connected = False
        self._request("getblockchaininfo", [], self._got_chain_info, self._connect_failed)

    def _reconnect_now(self, why: str) -> None:
        """Evidence that a node is back: skip the rest of the back-off wait."""
        if not self.running or self._retry_call is None or not self._retry_call.active():
            return
        self._retry_call.cancel()
        self._log.info("reconnecting at once: {why}", why=why)
        self._retry_call = self._clock.callLater(0, self._connect)

    def _connect_failed(self, failure: Failure) -> None:
        self._backend_failed(_describe(failure))

    def _got_chain_info(self, info: Any) -> None:
        chain = info.get("chain") if isinstance(info, dict) else None
        if chain not in NETWORKS:
            self._backend_failed(f"getblockchaininfo reports an unknown chain {str(chain)[:40]!r}")
            return
        if self.network is not None and chain != self.network:
            self._backend_failed(f"node is on chain {chain!r}, the pool is on {self.network!r}")
            return
        self.network = chain
        self._fetch_template(connecting=True)

    def _backend_failed(self, reason: str) -> None:
        failed = self.backend
        self._abandon_calls()
        self.connected = False
        if self._failing_since is None:
            self._failing_since = self._clock.seconds()
        self._failures += 1
        count = len(self._backends)
        self._index = (self._index + 1) % count
        self._log.warn("node {node} unusable: {reason}", node=failed.name, reason=reason)
        if self._failures >= count and not self._outage_reported:
            self._outage_reported = True
            self._need_clean = True
            self._log.error("no usable node: pool has no new work until one comes back")
            self._notify_consumers("backendStatusChanged", False)
        delay_s = 0.0
        if self._failures % count == 0:
            delay_s = self._backoff_s
            self._backoff_s = min(self._backoff_s * 2, self._backoff_max_s)
        if count > 1 or delay_s:
            self._log.info(
                "trying node {node} in {delay_s:g} s", node=self.backend.name, delay_s=delay_s
            )
        self._retry_call = self._clock.callLater(delay_s, self._connect)

    def _mark_connected(self) -> None:
        self.connected = True
        self._failures = 0
        self._call_failures = 0
        self._backoff_s = self._backoff_initial_s
        self._last_poll_error = None
        node = self.backend
        if node is not self._last_used:
            self._log.info("using node {node} on {network}", node=node.name, network=self.network)
            self._last_used = node
        if self._outage_reported:
            since = (
                self._failing_since if self._failing_since is not None else self._clock.seconds()
            )
            self._log.info(
                "node {node} is back after an outage of {duration_s:.1f} s",
                node=node.name,
                duration_s=self._clock.seconds() - since,
            )
            self._outage_reported = False
            self._notify_consumers("backendStatusChanged", True)
        self._failing_since = None

    # -- templates ------------------------------------------------------------------

    def _fetch_template(self, connecting: bool) -> None:
        if self._gbt_in_flight:
            self._gbt_again = True
            return
        self._gbt_in_flight = True
        self._gbt_asked_at = self._clock.seconds()
        self._request(
            "getblocktemplate",
            gbt_params(self.network),
            partial(self._got_template, connecting),
            partial(self._template_failed, connecting),
        )

    def _got_template(self, connecting: bool, result: Any) -> None:
        self._gbt_in_flight = False
        self._call_failures = 0
        template = self._parse_template(result)
        if template is None:
            if connecting:
                self._backend_failed("unusable getblocktemplate result")
                return
            self._stale_tip = self._best_hash
        else:
            if connecting:
                self._mark_connected()
            self._deliver(template)
        self._fetch_again_if_asked()

    def _template_failed(self, connecting: bool, failure: Failure) -> None:
        self._gbt_in_flight = False
        if connecting:
            self._backend_failed(f"getblocktemplate: {_describe(failure)}")
            return
        if is_outage(failure):
            self._call_failed(f"getblocktemplate: {_describe(failure)}")
            return
        self._log.error(
            "getblocktemplate failed on {node}: {error}",
            node=self.backend.name,
            error=_describe(failure),
        )
        self._stale_tip = self._best_hash
        self._fetch_again_if_asked()

    def _fetch_again_if_asked(self) -> None:
        if self._gbt_again and self.connected:
            self._gbt_again = False
            self._fetch_template(connecting=False)

    def _parse_template(self, result: Any) -> BlockTemplate | None:
        assert self.network is not None
        try:
            if not isinstance(result, dict):
                raise RPCUnavailable("getblocktemplate result is not an object")
            template = BlockTemplate.from_gbt(result, self.network, clean=self._need_clean)
        except Exception as e:
            self._log.warn(
                "dropping a template from {node} that does not parse: {error}",
                node=self.backend.name,
                error=str(e),
            )
            return None
        current = self.current
        if (
            current is not None
            and template.previous_block_hash == current.previous_block_hash
            and template.height < current.height
        ):
            self._log.warn(
                "dropping a template for height {height} on the tip of height {current}",
                height=template.height,
                current=current.height,
            )
            return None
        return template

    def _deliver(self, template: BlockTemplate) -> None:
        now = self._clock.seconds()
        self.template_latency_ms = (now - self._gbt_asked_at) * 1000.0
        current = self.current
        if current is None or current.previous_block_hash != template.previous_block_hash:
            seen = self._tip_pending_since
            self.tip_seen_at = seen if seen is not None else self._gbt_asked_at
        self._tip_pending_since = None
        self.current = template
        self._need_clean = False
        self._stale_tip = None
        self._log.debug(
            "template for height {height} with {tx_count} transactions from {node}",
            height=template.height,
            tx_count=len(template.transactions),
            node=self.backend.name,
        )
        if self._update_loop.running:
            self._update_loop.reset()
        self._notify_consumers("templateReceived", template)

    # -- tip polling ----------------------------------------------------------------

    def _poll_tip(self) -> None:
        if not self.connected or self._poll_in_flight:
            return
        self._poll_in_flight = True
        self._request("getbestblockhash", [], self._got_best_hash, self._best_hash_failed)

    def _got_best_hash(self, best: Any) -> None:
        self._poll_in_flight = False
        self._call_failures = 0
        if not isinstance(best, str) or not _BLOCK_HASH.match(best):
            self._poll_error(f"getbestblockhash returned {str(best)[:80]!r}")
            return
        self._last_poll_error = None
        best = best.lower()
        self._best_hash = best
        current = self.current
        if (
            current is None
            or best == current.previous_block_hash.lower()
            or best == self._stale_tip
        ):
            return
        self._log.debug("new tip {best} seen by polling", best=best)
        self._tip_seen()
        self.refresh()

    def _best_hash_failed(self, failure: Failure) -> None:
        self._poll_in_flight = False
        if is_outage(failure):
            self._call_failed(f"getbestblockhash: {_describe(failure)}")
        else:
            self._poll_error(f"getbestblockhash: {_describe(failure)}")

    def _call_failed(self, reason: str) -> None:
        """A call to the connected node failed: fail over only when it keeps failing."""
        self._call_failures += 1
        if self._call_failures >= FAILURES_BEFORE_FAILOVER:
            self._call_failures = 0
            self._backend_failed(f"{reason} ({FAILURES_BEFORE_FAILOVER} failures in a row)")
        else:
            self._log.warn("node {node} call failed ({count} in a row): {reason}",
                           node=self.backend.name, count=self._call_failures, reason=reason)

    def _poll_error(self, message: str) -> None:
        # Logged once per distinct error, not ten times a second.
        if message != self._last_poll_error:
            self._last_poll_error = message
            self._log.warn("tip poll on {node}: {error}", node=self.backend.name, error=message)

    # -- returning to the first node -------------------------------------------------

    def _check_primary(self) -> None:
        """On a fail-over node, ask the first node whether it is back and ready."""
        if not self.on_fallback or self._primary_check is not None:
            return
        primary = self._backends[0]
        d: defer.Deferred[Any] = defer.maybeDeferred(primary.call, "getblockchaininfo", [])
        self._primary_check = d

        def answered(info: Any) -> None:
            self._primary_check = None
            ready = (
                isinstance(info, dict)
                and info.get("chain") == self.network
                and not info.get("initialblockdownload", False)
            )
            if ready and self.on_fallback and self.running:
                self._log.info(
                    "first node {node} is back: leaving fail-over node {fallback}",
                    node=primary.name,
                    fallback=self.backend.name,
                )
                self._abandon_calls()
                self._index = 0
                self._connect()

        def failed(failure: Failure) -> None:
            self._primary_check = None
            self._log.debug("first node still unusable: {error}", error=_describe(failure))

        d.addCallbacks(answered, failed)

    # -- node statistics (dashboards only) -----------------------------------------

    def _read_node_stats(self) -> None:
        if not self.connected:
            return
        self._request("getmempoolinfo", [], self._got_mempool_info, self._node_stats_failed)
        self._request("getnetworkinfo", [], self._got_network_info, self._node_stats_failed)

    def _got_mempool_info(self, info: Any) -> None:
        size = info.get("size") if isinstance(info, dict) else None
        if isinstance(size, int) and not isinstance(size, bool) and size >= 0:
            self.mempool_size = size

    def _got_network_info(self, info: Any) -> None:
        peers = info.get("connections") if isinstance(info, dict) else None
        if isinstance(peers, int) and not isinstance(peers, bool) and peers >= 0:
            self.peer_count = peers

    def _node_stats_failed(self, failure: Failure) -> None:
        # Only the dashboards lose a point; outages are detected by the work calls.
        self._log.debug("node statistics call failed: {error}", error=_describe(failure))

    # -- block submission -----------------------------------------------------------

    async def _submit(self, block_hex: str, order: list[IBitcoinRPC]) -> str | None:
        last_error: Exception | None = None
        try:
            for node in order:
                asked_at = self._clock.seconds()
                try:
                    result = await defer.maybeDeferred(node.call, "submitblock", [block_hex])
                    self.rpc_latency_ms["submitblock"] = (self._clock.seconds() - asked_at) * 1e3
                except RPCError as e:
                    if e.code not in NOT_READY_CODES:
                        raise
                    last_error = e
                except RPCUnavailable as e:
                    last_error = e
                else:
                    self._log.info(
                        "submitblock to {node}: {result}",
                        node=node.name,
                        result=result or "accepted",
                    )
                    if not self.connected:
                        self._reconnect_now(f"{node.name} answered submitblock")
                    return None if result is None else str(result)
                self._log.warn(
                    "submitblock to {node} failed: {error}", node=node.name, error=str(last_error)
                )
            raise RPCUnavailable(f"no node could take the block; last error: {last_error}")
        finally:
            self.refresh()

"""Forwarding events to Redis Streams: one stream per event type, capped with ``MAXLEN ~``.

:class:`RedisStreamWriter` sends through any connection with ``execute_command``
(normally :class:`tbgpool.events.redis_connection.RedisConnection`, which fails
commands at once while Redis is down). Meanwhile it buffers a bounded number of
events, drops the oldest beyond that, and writes again when Redis is back.
Delivery is at least once: an ``XADD`` whose connection broke before the answer
came is sent again, so consumers that must not count twice should skip
``(instance, seq)`` pairs they have seen.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from typing import Any, Protocol

import txredisapi
from twisted.internet import defer
from twisted.internet.interfaces import IDelayedCall, IReactorTime
from twisted.python.failure import Failure

from tbgpool.events.envelope import DATA_ENCODER, Event, encode_utf8

#: Seconds between attempts to write while Redis is unreachable.
RETRY_S = 1.0
#: Seconds between two reports of events Redis refused.
REJECT_REPORT_INTERVAL_S = 60.0


class RedisCommands(Protocol):
    """What the writer needs of a connection: one command, a Deferred with its answer."""

    def execute_command(self, *args: Any) -> defer.Deferred[Any]:
        """Send one command; fire with the reply or fail (connection, timeout, Redis error)."""


# A buffered event: (order received, the XADD arguments).
_Item = tuple[int, tuple[bytes, ...]]


class RedisStreamWriter:
    """XADDs each event to ``<prefix><type>``; bounded buffering while Redis is away."""

    def __init__(
        self,
        connection: RedisCommands,
        prefix: str,
        maxlen: int,
        *,
        clock: IReactorTime,
        report: Callable[[str], None],
        max_buffered: int = 100_000,
        max_in_flight: int = 64,
        retry_s: float = RETRY_S,
    ) -> None:
        """Write through ``connection``; ``report`` gets a line when trouble starts and ends."""
        if maxlen < 1 or max_buffered < 1 or max_in_flight < 1:
            raise ValueError("maxlen, max_buffered and max_in_flight must be at least 1")
        self._connection = connection
        self._prefix = encode_utf8(prefix)
        self._maxlen = str(maxlen).encode()
        self._clock = clock
        self._report = report
        self._max_buffered = max_buffered
        self._max_in_flight = max_in_flight
        self._retry_s = retry_s
        self._buffer: deque[_Item] = deque()
        self._requeued: list[_Item] = []
        self._order = 0
        self._in_flight = 0
        self._retry_call: IDelayedCall | None = None
        self._trouble_since: float | None = None
        self._dropped_before_trouble = 0
        self._rejects_reported_at: float | None = None
        self._stopped = False
        self._drain_waiters: list[defer.Deferred[None]] = []
        #: events Redis stored, events dropped (buffer full or at stop), events Redis refused
        self.written = 0
        self.dropped = 0
        self.rejected = 0

    @property
    def buffered(self) -> int:
        """Events waiting to be written (not counting those in flight)."""
        return len(self._buffer) + len(self._requeued)

    def xadd_args(self, event: Event) -> tuple[bytes, ...]:
        """The XADD command for ``event``: fields event, ts, instance, seq, payload (data JSON)."""
        return (
            b"XADD",
            self._prefix + event.event_type.encode(),
            b"MAXLEN",
            b"~",
            self._maxlen,
            b"*",
            b"event",
            event.event_type.encode(),
            b"ts",
            str(event.timestamp_us).encode(),
            b"instance",
            encode_utf8(event.instance),
            b"seq",
            str(event.seq).encode(),
            b"payload",
            encode_utf8(DATA_ENCODER.encode(event.data)),
        )

    def write(self, event: Event) -> None:
        """Queue ``event`` for Redis (dropping the oldest when the buffer is full); never blocks."""
        if self._stopped:
            return
        try:
            args = self.xadd_args(event)
        except (TypeError, ValueError, RecursionError) as e:
            self.rejected += 1
            self._report(f"redis: event not forwarded, its data cannot be re-encoded: {e}")
            return
        self._order += 1
        self._buffer.append((self._order, args))
        self._trim()
        self._pump()

    def _merge_requeued(self) -> None:
        """Put events sent but not stored back at the front, in the order they came."""
        if self._requeued:
            self._requeued.sort()
            self._buffer.extendleft(reversed(self._requeued))
            self._requeued = []

    def _trim(self) -> None:
        self._merge_requeued()
        excess = len(self._buffer) - self._max_buffered
        if excess <= 0:
            return
        for _ in range(excess):
            self._buffer.popleft()
        self.dropped += excess
        if self._trouble_since is None:
            self._start_trouble(
                f"redis: buffer full ({self._max_buffered} events); dropping the oldest",
                already_dropped=excess,
            )

    def _pump(self) -> None:
        if self._retry_call is not None or self._stopped:
            return
        self._trim()
        while (
            self._buffer and self._in_flight < self._max_in_flight and self._retry_call is None
        ):
            item = self._buffer.popleft()
            self._in_flight += 1
            try:
                result = self._connection.execute_command(*item[1])
            except Exception as e:  # txredisapi raises some errors instead of failing
                result = defer.fail(e)
            result.addCallbacks(
                self._written, self._failed, callbackArgs=(item,), errbackArgs=(item,)
            )

    def _written(self, reply: object, item: _Item) -> None:
        self._in_flight -= 1
        self.written += 1
        self._check_drained()
        if self._trouble_since is not None and not self._buffer and not self._requeued:
            away_s = self._clock.seconds() - self._trouble_since
            dropped = self.dropped - self._dropped_before_trouble
            self._trouble_since = None
            self._report(
                f"redis: caught up after {away_s:.1f} s; {dropped} events dropped meanwhile"
            )
        self._pump()

    def _failed(self, failure: Failure, item: _Item) -> None:
        self._in_flight -= 1
        if self._stopped:
            self.dropped += 1
            self._check_drained()
            return
        if failure.check(txredisapi.ResponseError):
            self.rejected += 1
            now = self._clock.seconds()
            last = self._rejects_reported_at
            if last is None or now - last >= REJECT_REPORT_INTERVAL_S:
                self._rejects_reported_at = now
                self._report(
                    f"redis refused an event ({self.rejected} so far): {failure.getErrorMessage()}"
                )
            self._pump()
            self._check_drained()
            return
        self._requeued.append(item)
        if self._trouble_since is None:
            self._start_trouble(
                f"redis: cannot write ({failure.getErrorMessage()}); "
                f"buffering up to {self._max_buffered} events"
            )
        if self._retry_call is None:
            self._retry_call = self._clock.callLater(self._retry_s, self._retry)

    def _start_trouble(self, message: str, already_dropped: int = 0) -> None:
        self._trouble_since = self._clock.seconds()
        self._dropped_before_trouble = self.dropped - already_dropped
        self._report(message)

    def _retry(self) -> None:
        self._retry_call = None
        self._pump()

    def drain(self, timeout_s: float) -> defer.Deferred[None]:
        """Fire when everything queued is written (or refused), or after ``timeout_s``."""
        waiter: defer.Deferred[None] = defer.Deferred()
        self._drain_waiters.append(waiter)
        timer = self._clock.callLater(timeout_s, self._give_up_draining, waiter)
        waiter.addBoth(_cancel_timer, timer)
        self._check_drained()
        return waiter

    def _give_up_draining(self, waiter: defer.Deferred[None]) -> None:
        if waiter in self._drain_waiters:
            self._drain_waiters.remove(waiter)
            waiter.callback(None)

    def _check_drained(self) -> None:
        if self._in_flight or (not self._stopped and (self._buffer or self._requeued)):
            return
        waiters, self._drain_waiters = self._drain_waiters, []
        for waiter in waiters:
            waiter.callback(None)

    def stop(self) -> int:
        """Stop writing; count the events not yet sent as dropped and return that number."""
        if self._retry_call is not None:
            self._retry_call.cancel()
            self._retry_call = None
        self._stopped = True
        lost = len(self._buffer) + len(self._requeued)
        self.dropped += lost
        self._buffer.clear()
        self._requeued = []
        self._check_drained()
        return lost


def _cancel_timer(result: object, timer: IDelayedCall) -> object:
    if timer.active():
        timer.cancel()
    return result

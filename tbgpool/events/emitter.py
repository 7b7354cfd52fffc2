"""The event emitter: numbered JSON events, batched into datagrams to a Unix socket collector.

``emit`` serialises an event at once and queues it; the queue goes out at the end of
the current reactor turn, packed newline-separated into datagrams of at most
``max_datagram_bytes``, through a non-blocking, unconnected ``AF_UNIX``/``SOCK_DGRAM``
socket (``sendto`` the collector's path each time, so a restarted collector is found
again without any reconnect logic). Nothing ever blocks and ``emit`` never raises.

Every emitted event of an included type gets the next ``seq``; an event that is
dropped keeps its number, so the collector sees the gap. Drops are counted in
``dropped`` by reason and logged once per burst, never once per event.
"""

from __future__ import annotations

import errno
import os
import socket
from collections import deque
from collections.abc import Callable, Iterable
from typing import Any

from twisted.internet.interfaces import IDelayedCall, IReactorTime
from twisted.logger import Logger
from zope.interface import implementer

from tbgpool.config.model import EVENT_TYPES
from tbgpool.events.envelope import encode_instance, encode_line, envelope_prefix
from tbgpool.interfaces import IEventSink

#: Why events are dropped (the keys of ``EventEmitter.dropped``).
DROP_REASONS = ("queue_full", "too_large", "unserializable", "send_error", "closed")
#: No collector: the path is missing, or nothing is bound to the socket file there.
UNREACHABLE_ERRNOS = frozenset({errno.ENOENT, errno.ECONNREFUSED})
#: The collector's receive queue is full, or the kernel is short of buffers.
BUSY_ERRNOS = frozenset({errno.EAGAIN, errno.EWOULDBLOCK, errno.ENOBUFS})
#: Seconds between attempts while no collector is there.
UNREACHABLE_RETRY_S = 0.5
#: Seconds between attempts while the collector is not keeping up.
BUSY_RETRY_S = 0.005
#: A batch older than this is sent at once rather than at the end of the reactor turn: on a
#: busy pool one turn handles hundreds of connections, and the spec wants P99 < 1 ms.
MAX_BATCH_DELAY_S = 0.0004
#: At most this many datagrams go out per flush; a backlog (the collector came back to 100,000
#: queued events) is sent over several reactor turns so miners are served in between.
MAX_DATAGRAMS_PER_FLUSH = 16
#: Seconds between two log lines about the same per-event problem (too large, unserializable).
PROBLEM_LOG_INTERVAL_S = 60.0
#: The longest path an AF_UNIX address can hold on Linux, in bytes.
MAX_SOCKET_PATH_BYTES = 107

# A queued event: (line, time its latency is measured from, time it was emitted).
_Pending = tuple[bytes, float, float]


def _errno_text(code: int) -> str:
    return f"{errno.errorcode.get(code, 'errno ' + str(code))}: {os.strerror(code)}"


def _exception_text(error: Exception) -> str:
    try:
        return f"{type(error).__name__}: {error}"
    except Exception:  # an exception whose message cannot be made: its type will do
        return type(error).__name__


class _Outage:
    """A burst of trouble: since when, and how many events had been dropped before it."""

    __slots__ = ("started_at", "dropped_before")

    def __init__(self, started_at: float, dropped_before: int) -> None:
        self.started_at = started_at
        self.dropped_before = dropped_before


@implementer(IEventSink)
class EventEmitter:
    """Sends events to the collector bound at ``socket_path``; never blocks, never raises."""

    _log = Logger()

    def __init__(
        self,
        reactor: IReactorTime,
        socket_path: str,
        include: Iterable[str],
        instance: str,
        *,
        max_datagram_bytes: int = 65000,
        max_queued_events: int = 100_000,
        max_batch_delay_s: float = MAX_BATCH_DELAY_S,
        observe_latency_us: Callable[[float], None] | None = None,
        socket_factory: Callable[[], socket.socket] | None = None,
    ) -> None:
        """Emit the ``include``d types as ``instance``; ValueError on a bad argument."""
        if not isinstance(socket_path, str) or not socket_path:
            raise ValueError("socket_path must be a non-empty str")
        if len(os.fsencode(socket_path)) > MAX_SOCKET_PATH_BYTES:
            raise ValueError(f"socket_path is longer than {MAX_SOCKET_PATH_BYTES} bytes")
        if isinstance(max_datagram_bytes, bool) or not isinstance(max_datagram_bytes, int):
            raise ValueError("max_datagram_bytes must be an int")
        if max_datagram_bytes < 512:
            raise ValueError("max_datagram_bytes must be at least 512")
        if isinstance(max_queued_events, bool) or not isinstance(max_queued_events, int):
            raise ValueError("max_queued_events must be an int")
        if max_queued_events < 1:
            raise ValueError("max_queued_events must be at least 1")
        chosen = list(include)
        for event_type in chosen:
            if event_type not in EVENT_TYPES:
                raise ValueError(f"unknown event type in include: {event_type!r}")
        self._reactor = reactor
        self._socket_path = socket_path
        self._instance_json = encode_instance(instance)
        self._prefixes = {event_type: envelope_prefix(event_type) for event_type in chosen}
        self._max_datagram_bytes = max_datagram_bytes
        self._batch_limit = max_datagram_bytes
        self._max_queued_events = max_queued_events
        self._observe_latency_us = observe_latency_us
        self._socket = (socket_factory or self._default_socket)()
        self._socket.setblocking(False)
        self._queue: deque[_Pending] = deque()
        self._seq = 0
        self._flush_call: IDelayedCall | None = None
        self._retrying = False  # the pending flush call is a retry after a failed send
        self._max_batch_delay_s = max_batch_delay_s
        self._outage: _Outage | None = None
        self._problem_logged_at: dict[str, float] = {}
        self._problem_suppressed: dict[str, int] = {}
        self._closed = False
        #: events handed to the kernel, and the datagrams that carried them
        self.sent_events = 0
        self.sent_datagrams = 0
        #: events dropped, by reason (every reason of DROP_REASONS is present)
        self.dropped: dict[str, int] = dict.fromkeys(DROP_REASONS, 0)

    def _default_socket(self) -> socket.socket:
        """An unbound AF_UNIX datagram socket whose send buffer holds a full datagram."""
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        try:
            wanted = 4 * self._max_datagram_bytes
            if sock.getsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF) < wanted:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, wanted)
        except OSError as e:  # the kernel's default is then what we get
            self._log.info("events socket keeps its default send buffer: {error}", error=str(e))
        return sock

    # -- what the metrics collector reads -------------------------------------------------

    @property
    def queued(self) -> int:
        """Events waiting to be sent."""
        return len(self._queue)

    @property
    def oldest_queued_at(self) -> float | None:
        """When the oldest waiting event was emitted (reactor seconds), or None."""
        return self._queue[0][2] if self._queue else None

    @property
    def last_seq(self) -> int:
        """The ``seq`` of the last event numbered (0 before the first)."""
        return self._seq

    # -- the hot path ------------------------------------------------------------------------

    def wants(self, event_type: str) -> bool:
        """Whether ``event_type`` is sent at all (build its data only if so)."""
        return event_type in self._prefixes

    def emit(
        self, event_type: str, data: dict[str, Any], validated_at: float | None = None
    ) -> None:
        """Number and serialise the event now; it is sent at the end of this reactor turn."""
        prefix = self._prefixes.get(event_type)
        if prefix is None:
            return
        if self._closed:
            self.dropped["closed"] += 1
            return
        self._seq += 1
        now = self._reactor.seconds()
        try:
            line = encode_line(prefix, int(now * 1_000_000), self._instance_json, self._seq, data)
        except Exception as e:  # whatever the data holds, emit must not raise
            self.dropped["unserializable"] += 1
            suppressed = self._problem_to_log("unserializable")
            if suppressed is not None:
                self._log.warn(
                    "dropped a {event_type} event that is not JSON-serialisable: {error} "
                    "({suppressed} more since the last report)",
                    event_type=event_type,
                    error=_exception_text(e),
                    suppressed=suppressed,
                )
            return
        if len(line) > self._max_datagram_bytes:
            self.dropped["too_large"] += 1
            suppressed = self._problem_to_log("too_large")
            if suppressed is not None:
                self._log.warn(
                    "dropped a {event_type} event of {size} bytes (datagrams hold {limit}) "
                    "({suppressed} more since the last report)",
                    event_type=event_type,
                    size=len(line),
                    limit=self._max_datagram_bytes,
                    suppressed=suppressed,
                )
            return
        queue = self._queue
        if len(queue) >= self._max_queued_events:
            queue.popleft()
            self._count_drops("queue_full", 1, None)
        queue.append((line, now if validated_at is None else validated_at, now))
        if self._flush_call is None:
            self._retrying = False
            self._flush_call = self._reactor.callLater(0, self._scheduled_flush)
        elif not self._retrying and now - queue[0][2] >= self._max_batch_delay_s:
            self.flush()

    # -- sending ---------------------------------------------------------------------------

    def _scheduled_flush(self) -> None:
        self._flush_call = None
        self.flush()

    def _cancel_flush_call(self) -> None:
        if self._flush_call is not None:
            if self._flush_call.active():
                self._flush_call.cancel()
            self._flush_call = None

    def flush(self) -> None:
        """Send what is queued now; on trouble keep it (or drop it) and schedule a retry."""
        self._cancel_flush_call()
        if self._closed:
            return
        datagrams_before = self.sent_datagrams
        queue = self._queue
        for _ in range(MAX_DATAGRAMS_PER_FLUSH):
            if not queue:
                break
            retry_after_s = self._send_batch(self._take_batch())
            if retry_after_s is not None:
                self._retrying = True
                self._flush_call = self._reactor.callLater(retry_after_s, self._scheduled_flush)
                return
        else:
            if queue:
                # A backlog: the rest goes out on the next turns, after miners were served.
                self._retrying = True
                self._flush_call = self._reactor.callLater(0, self._scheduled_flush)
                return
        if self._outage is not None and self.sent_datagrams > datagrams_before:
            self._end_outage()

    def _take_batch(self) -> list[_Pending]:
        """Pop the oldest events that fit one datagram (always at least one)."""
        queue = self._queue
        first = queue.popleft()
        batch = [first]
        size = len(first[0])
        limit = self._batch_limit
        while queue:
            size += len(queue[0][0])
            if size > limit:
                break
            batch.append(queue.popleft())
        return batch

    def _sendto(self, payload: bytes) -> int | None:
        """Send one datagram; None if it went, else the errno."""
        try:
            self._socket.sendto(payload, self._socket_path)
        except OSError as e:
            return e.errno if e.errno is not None else errno.EIO
        return None

    def _send_batch(self, batch: list[_Pending]) -> float | None:
        """Send ``batch`` as one datagram; the retry delay if it must wait, else None."""
        payload = batch[0][0] if len(batch) == 1 else b"".join(pending[0] for pending in batch)
        code = self._sendto(payload)
        if code is None:
            self._delivered(batch)
            return None
        if code == errno.EMSGSIZE:
            if len(batch) == 1:
                self._count_drops("too_large", 1, code)
                return None
            # The socket cannot carry datagrams this big: use smaller ones from now on.
            self._batch_limit = max(len(payload) // 2, 1)
            self._log.warn(
                "events socket refused a {size}-byte datagram; batches now hold {limit} bytes",
                size=len(payload),
                limit=self._batch_limit,
            )
            return self._send_singly(batch)
        return self._failed(batch, code)

    def _send_singly(self, batch: list[_Pending]) -> float | None:
        """Send each event of ``batch`` in a datagram of its own."""
        for index, pending in enumerate(batch):
            code = self._sendto(pending[0])
            if code is None:
                self._delivered([pending])
            elif code == errno.EMSGSIZE:
                self._count_drops("too_large", 1, code)
            elif code in UNREACHABLE_ERRNOS or code in BUSY_ERRNOS:
                return self._failed(batch[index:], code)
            else:
                self._count_drops("send_error", 1, code)
        return None

    def _failed(self, events: list[_Pending], code: int) -> float | None:
        """Keep ``events`` for a retry (no or slow collector) or drop them (anything else)."""
        if code in UNREACHABLE_ERRNOS:
            self._queue.extendleft(reversed(events))
            if self._start_outage():
                self._log.warn(
                    "events collector at {socket_path} unreachable ({error}); "
                    "queueing up to {max_queued} events",
                    socket_path=self._socket_path,
                    error=_errno_text(code),
                    max_queued=self._max_queued_events,
                )
            return UNREACHABLE_RETRY_S
        if code in BUSY_ERRNOS:
            self._queue.extendleft(reversed(events))
            return BUSY_RETRY_S
        self._count_drops("send_error", len(events), code)
        return None

    def _delivered(self, events: list[_Pending]) -> None:
        self.sent_datagrams += 1
        self.sent_events += len(events)
        observe = self._observe_latency_us
        if observe is None:
            return
        now = self._reactor.seconds()
        try:
            for pending in events:
                observe(max(0.0, (now - pending[1]) * 1e6))
        except Exception:
            if self._problem_to_log("observer") is not None:
                self._log.failure("the events latency observer failed")

    # -- drops and their logging -------------------------------------------------------------

    def _count_drops(self, reason: str, count: int, code: int | None) -> None:
        """Count ``count`` events dropped for ``reason``; the first drop of a burst is logged."""
        self.dropped[reason] += count
        if reason == "queue_full":
            if self._start_outage(already_dropped=count):
                self._log.warn(
                    "events queue full ({max_queued} events): the collector at {socket_path} "
                    "is not keeping up; dropping the oldest events",
                    socket_path=self._socket_path,
                    max_queued=self._max_queued_events,
                )
        elif reason == "send_error":
            if self._start_outage(already_dropped=count):
                self._log.warn(
                    "sending events to {socket_path} failed ({error}); dropping them",
                    socket_path=self._socket_path,
                    error=_errno_text(code) if code is not None else "unknown error",
                )
        else:
            suppressed = self._problem_to_log(reason)
            if suppressed is not None:
                self._log.warn(
                    "dropped an event sent to {socket_path}: {reason} ({error}) "
                    "({suppressed} more since the last report)",
                    socket_path=self._socket_path,
                    reason=reason,
                    error=_errno_text(code) if code is not None else "",
                    suppressed=suppressed,
                )

    def _start_outage(self, already_dropped: int = 0) -> bool:
        """Begin a burst of trouble unless one is under way; True if it began (log it then)."""
        if self._outage is not None:
            return False
        self._outage = _Outage(self._reactor.seconds(), self._total_dropped() - already_dropped)
        return True

    def _end_outage(self) -> None:
        outage = self._outage
        assert outage is not None
        self._outage = None
        self._log.info(
            "events reach the collector at {socket_path} again after {outage_s:.3f} s; "
            "{dropped} events dropped meanwhile",
            socket_path=self._socket_path,
            outage_s=self._reactor.seconds() - outage.started_at,
            dropped=self._total_dropped() - outage.dropped_before,
        )

    def _total_dropped(self) -> int:
        return sum(self.dropped.values())

    def _problem_to_log(self, key: str) -> int | None:
        """None if ``key`` was logged in the last PROBLEM_LOG_INTERVAL_S; else the count since."""
        now = self._reactor.seconds()
        last = self._problem_logged_at.get(key)
        if last is not None and now - last < PROBLEM_LOG_INTERVAL_S:
            self._problem_suppressed[key] = self._problem_suppressed.get(key, 0) + 1
            return None
        self._problem_logged_at[key] = now
        return self._problem_suppressed.pop(key, 0)

    # -- shutdown --------------------------------------------------------------------------

    def close(self) -> None:
        """Try once more to send what is queued, then stop: drop the rest, close the socket."""
        if self._closed:
            return
        self.flush()
        self._cancel_flush_call()
        self._closed = True
        lost = len(self._queue)
        if lost:
            self.dropped["closed"] += lost
            self._queue.clear()
            self._log.warn(
                "{lost} events could not reach the collector at {socket_path} before closing",
                lost=lost,
                socket_path=self._socket_path,
            )
        self._socket.close()

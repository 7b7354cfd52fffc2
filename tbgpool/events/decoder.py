"""The collector's input side: datagrams split into events, sequence gaps found, filters.

Nothing a sender puts in a datagram makes these raise: a line that is not a
well-formed event is counted and reported through ``on_bad_line``.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Iterable

from tbgpool.events.envelope import EnvelopeError, Event, parse_line

#: Longest line decoded, in bytes (a datagram is no longer than the collector reads anyway).
MAX_LINE_BYTES = 1 << 20
#: How many emitting instances are tracked for gaps; the least recently heard is forgotten.
MAX_INSTANCES = 4096


class EventDecoder:
    """Turns datagrams into events and watches each instance's ``seq`` for gaps."""

    def __init__(
        self,
        on_gap: Callable[[str, int, int], None],
        on_bad_line: Callable[[str, bytes], None],
        on_seq_reset: Callable[[str, int, int], None] | None = None,
        *,
        max_line_bytes: int = MAX_LINE_BYTES,
        max_instances: int = MAX_INSTANCES,
    ) -> None:
        """Report gaps as ``on_gap(instance, first_missing, last_missing)``, bad lines with a reason."""
        self._on_gap = on_gap
        self._on_bad_line = on_bad_line
        self._on_seq_reset = on_seq_reset
        self._max_line_bytes = max_line_bytes
        self._max_instances = max_instances
        self._last_seq: OrderedDict[str, int] = OrderedDict()
        #: events decoded, lines refused, and events known missing from the gaps seen
        self.events_received = 0
        self.bad_lines = 0
        self.events_missed = 0

    def decode(self, datagram: bytes) -> list[Event]:
        """The well-formed events of ``datagram`` (newline-separated lines), in order."""
        events: list[Event] = []
        for line in datagram.split(b"\n"):
            if not line:
                continue
            if len(line) > self._max_line_bytes:
                self._bad(f"line too long ({len(line)} bytes)", line)
                continue
            try:
                event = parse_line(line)
            except EnvelopeError as e:
                self._bad(str(e), line)
                continue
            self.events_received += 1
            self._track(event.instance, event.seq)
            events.append(event)
        return events

    def _bad(self, reason: str, line: bytes) -> None:
        self.bad_lines += 1
        self._on_bad_line(reason, line)

    def _track(self, instance: str, seq: int) -> None:
        """Compare ``seq`` with the instance's last one; report a gap or a restart."""
        last = self._last_seq.get(instance)
        self._last_seq[instance] = seq
        self._last_seq.move_to_end(instance)
        if last is None:
            if len(self._last_seq) > self._max_instances:
                self._last_seq.popitem(last=False)
            return
        if seq > last + 1:
            self.events_missed += seq - last - 1
            self._on_gap(instance, last + 1, seq - 1)
        elif seq <= last and self._on_seq_reset is not None:
            # The same id numbering from lower again: a restarted process, or a duplicate.
            self._on_seq_reset(instance, last, seq)


class EventFilter:
    """Which events to pass on: by type (any of several), user and worker (all must match)."""

    def __init__(
        self,
        types: Iterable[str] | None = None,
        user: str | None = None,
        worker: str | None = None,
    ) -> None:
        """None (or no types) means no condition on that field."""
        chosen = frozenset(types or ())
        self._types = chosen or None
        self._user = user
        self._worker = worker

    def matches(self, event: Event) -> bool:
        """Whether ``event`` passes every condition given."""
        if self._types is not None and event.event_type not in self._types:
            return False
        if self._user is not None and event.data.get("user") != self._user:
            return False
        if self._worker is not None and event.data.get("worker") != self._worker:
            return False
        return True

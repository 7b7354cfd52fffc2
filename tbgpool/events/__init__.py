"""Mining events for the game's pipeline: emitted as JSON datagrams on a Unix socket.

:class:`EventEmitter` sends them, :mod:`tbgpool.events.payloads` builds each type's
data, ``schema.json`` describes them (checked by :func:`tbgpool.events.validate.validate_event`),
and ``tbgpool-events`` (:mod:`tbgpool.events.cli`) is a collector to watch them or to
forward them to Redis Streams. The format is documented in docs/events.md.
"""

from __future__ import annotations

from tbgpool.config.model import EVENT_TYPES
from tbgpool.events.emitter import DROP_REASONS, EventEmitter
from tbgpool.events.envelope import SOURCE, EnvelopeError, Event, parse_line

__all__ = [
    "DROP_REASONS",
    "EVENT_TYPES",
    "SOURCE",
    "EnvelopeError",
    "Event",
    "EventEmitter",
    "parse_line",
]

"""Extranonce1 allocation: unique across the pool, resumable by session id."""

from __future__ import annotations

from collections import OrderedDict

from twisted.internet.interfaces import IReactorTime

#: How long an ended session can be resumed by its id.
SESSION_RESUME_TTL_S = 600.0
#: At most this many ended sessions are remembered for resumption.
MAX_RESUMABLE = 1_000_000


class ExtranonceExhausted(Exception):
    """Every extranonce1 value is in use."""


class ExtranonceAllocator:
    """Hands out extranonce1 values no two live sessions share.

    The session id a miner sees is its extranonce1 in hex, as in ckpool. When a
    session ends its value is remembered for ``resume_ttl_s``; a miner that
    reconnects with that id in ``mining.subscribe`` gets the same extranonce1
    back, so work it was doing stays valid. Values are handed out by a counter
    that walks the whole space, so a released value is not reused for a long
    time. ``prefix`` reserves leading bytes for one pool process among several.
    """

    def __init__(
        self,
        clock: IReactorTime,
        size: int,
        resume_ttl_s: float = SESSION_RESUME_TTL_S,
        prefix: bytes = b"",
        start: int = 0,
        max_resumable: int = MAX_RESUMABLE,
    ) -> None:
        if not 1 <= size <= 8 or len(prefix) >= size:
            raise ValueError("extranonce1 size must be 1..8 bytes and longer than its prefix")
        self._clock = clock
        self.size = size
        self._prefix = prefix
        self._free_bits = 8 * (size - len(prefix))
        self._space = 1 << self._free_bits
        self._next = start % self._space
        self._live: set[bytes] = set()
        self._released: OrderedDict[bytes, float] = OrderedDict()
        self._resume_ttl_s = resume_ttl_s
        self._max_resumable = max_resumable

    def allocate(self) -> bytes:
        """A fresh extranonce1 not used by any live or resumable session."""
        self._prune()
        for _ in range(min(self._space, 1 << 20)):
            candidate = self._prefix + self._next.to_bytes(self.size - len(self._prefix), "big")
            self._next = (self._next + 1) % self._space
            if candidate not in self._live and candidate not in self._released:
                self._live.add(candidate)
                return candidate
        # The space is crowded with resumable values: reuse the oldest released one.
        if self._released:
            candidate, _ = self._released.popitem(last=False)
            self._live.add(candidate)
            return candidate
        raise ExtranonceExhausted(f"all {self._space} extranonce1 values are in use")

    def resume(self, session_id: str) -> bytes | None:
        """The extranonce1 of a recently ended session, if ``session_id`` names one."""
        self._prune()
        if len(session_id) != 2 * self.size:
            return None
        try:
            candidate = bytes.fromhex(session_id)
        except ValueError:
            return None
        if candidate in self._released:
            del self._released[candidate]
            self._live.add(candidate)
            return candidate
        return None

    def release(self, extranonce1: bytes) -> None:
        """A session ended: keep its value resumable for the TTL."""
        if extranonce1 in self._live:
            self._live.discard(extranonce1)
            if self._resume_ttl_s > 0:
                self._released[extranonce1] = self._clock.seconds()
                if len(self._released) > self._max_resumable:
                    self._released.popitem(last=False)

    def _prune(self) -> None:
        cutoff = self._clock.seconds() - self._resume_ttl_s
        while self._released:
            value, released_at = next(iter(self._released.items()))
            if released_at > cutoff:
                break
            del self._released[value]

    @property
    def live(self) -> int:
        """How many values live sessions hold."""
        return len(self._live)

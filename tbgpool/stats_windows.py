"""Hashrate over several time windows from exponentially decaying share averages.

Each window of length ``tau`` seconds keeps ``value``, the difficulty-per-second
average as of ``updated_at``: a share of difficulty ``d`` at time ``t`` adds
``d / tau``, and the value decays by ``exp(-dt / tau)`` as time passes. For a
steady stream of ``r`` difficulty per second this settles at ``r``; reading at a
later time only multiplies by the decay, so reading never changes anything.

A fresh average starts at zero and only approaches the true rate over a few
``tau`` (a week for the 7-day window). The reading is therefore divided by the
fraction of the window that has been observed, ``1 - exp(-(t - started_at) / tau)``,
which makes a steady stream read true from its second share on. The first share
opens the observation (it only says that work was going on before it, not for how
long), so it is counted everywhere except in these averages.

Difficulty is turned into hashes with ``diff * 2**32``. Times are the caller's
clock (seconds); if the clock steps backwards no time is taken to have passed.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Final

from tbgpool.stats_store import json_non_negative, json_number, json_object
from tbgpool.vardiff import HASHES_PER_DIFF1

MINUTE_S: Final = 60.0
HOUR_S: Final = 3600.0
DAY_S: Final = 86400.0
WEEK_S: Final = 7 * DAY_S
#: The window lengths, as ckpool reports them: 1m, 5m, 1h, 1d, 7d.
WINDOWS_S: Final = (MINUTE_S, 5 * MINUTE_S, HOUR_S, DAY_S, WEEK_S)


@dataclass(frozen=True)
class HashrateEstimates:
    """Hashrate in hashes per second over each window, read at one moment."""

    hashrate_1m_hs: float
    hashrate_5m_hs: float
    hashrate_1h_hs: float
    hashrate_1d_hs: float
    hashrate_7d_hs: float


class HashrateWindows:
    """Decaying difficulty-per-second averages over the 1m, 5m, 1h, 1d and 7d windows."""

    __slots__ = ("_started_at", "_updated_at", "_values")

    def __init__(self) -> None:
        """Start with nothing observed."""
        self._started_at: float | None = None
        self._updated_at = 0.0
        self._values = [0.0] * len(WINDOWS_S)

    @property
    def started_at(self) -> float | None:
        """When the first share opened the observation (None before any share)."""
        return self._started_at

    def record(self, credited_diff: float, now: float) -> None:
        """Add a share of ``credited_diff`` (finite, > 0, checked by the caller) at ``now``."""
        if self._started_at is None:
            self._started_at = now
            self._updated_at = now
            return
        elapsed_s = max(0.0, now - self._updated_at)
        self._values = [
            value * math.exp(-elapsed_s / tau) + credited_diff / tau
            for value, tau in zip(self._values, WINDOWS_S, strict=True)
        ]
        self._updated_at = max(self._updated_at, now)

    def diff_per_s(self, window_s: float, now: float) -> float:
        """The warm-up corrected difficulty per second over the window ``window_s`` at ``now``."""
        try:
            index = WINDOWS_S.index(window_s)
        except ValueError:
            raise ValueError(f"no {window_s!r} s window; windows are {WINDOWS_S}") from None
        if self._started_at is None:
            return 0.0
        tau = WINDOWS_S[index]
        decayed = self._values[index] * math.exp(-max(0.0, now - self._updated_at) / tau)
        observed_fraction = -math.expm1(-max(0.0, now - self._started_at) / tau)
        if observed_fraction <= 0.0:
            return 0.0
        return decayed / observed_fraction

    def hashrate_hs(self, window_s: float, now: float) -> float:
        """Hashes per second over the window ``window_s`` at ``now``."""
        return self.diff_per_s(window_s, now) * HASHES_PER_DIFF1

    def estimates(self, now: float) -> HashrateEstimates:
        """Hashes per second over every window at ``now``."""
        rates = [self.hashrate_hs(window_s, now) for window_s in WINDOWS_S]
        return HashrateEstimates(*rates)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict of the state."""
        return {
            "started_at": self._started_at,
            "updated_at": self._updated_at,
            "diff_per_s": {
                str(int(tau)): value for tau, value in zip(WINDOWS_S, self._values, strict=True)
            },
        }

    @classmethod
    def from_dict(cls, raw: object, field: str = "hashrate") -> HashrateWindows:
        """Rebuild from :meth:`to_dict` output; ValueError naming the bad field otherwise."""
        fields = json_object(field, raw)
        windows = cls()
        started_at = fields.get("started_at")
        if started_at is not None:
            windows._started_at = json_number(f"{field}.started_at", started_at)
        windows._updated_at = json_number(f"{field}.updated_at", fields.get("updated_at"))
        values = json_object(f"{field}.diff_per_s", fields.get("diff_per_s"))
        expected_keys = {str(int(tau)) for tau in WINDOWS_S}
        if set(values) != expected_keys:
            raise ValueError(f"{field}.diff_per_s: expected keys {sorted(expected_keys)}")
        windows._values = [
            json_non_negative(f"{field}.diff_per_s.{int(tau)}", values[str(int(tau))])
            for tau in WINDOWS_S
        ]
        return windows

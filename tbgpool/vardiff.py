"""Variable share difficulty ("vardiff") for one connection, and reconnect memory.

Difficulties are floats throughout, so tiny regtest difficulties (0.00015, 1e-9)
work. The network difficulty is not known here; the caller clamps to it.

The algorithm, per connection (:class:`VardiffController`):

1. Every accepted share adds its *credited* difficulty (the difficulty of the job
   it was submitted against) to a window that opened at the last retarget.
2. A retarget happens when a share arrives and the window is at least
   ``retarget_interval_s`` old, or early, when the window already holds more than
   ``4 * retarget_interval_s / target_share_interval_s`` shares (never fewer than
   4), so a fast miner started at a low difficulty is lifted within a few shares.
3. At a retarget the observed rate ``sum / elapsed`` (difficulty per second; the
   elapsed time is taken as at least 1 ms so a burst handled in one reactor turn
   cannot divide by zero) is folded into an exponential moving average,
   ``ema = alpha * observed + (1 - alpha) * ema``, seeded with the first
   observation, and the window restarts.
4. The ideal difficulty is ``ema * target_share_interval_s``. If it is within
   ``dead_band_percent`` of the current difficulty nothing changes; otherwise
   the difficulty moves part of the way, ``current + dampening * (ideal - current)``.
5. The result is clamped to ``[max(mindiff, suggested floor), maxdiff]``
   (``maxdiff`` 0 means no maximum); a retarget that ends where it started
   reports no change.

A miner whose difficulty is too high sends no shares, so :meth:`VardiffController.tick`
is called periodically. When the window is at least ``retarget_interval_s`` old
and holds no share, and the silence has lasted at least six target share
intervals (a miner at the right difficulty is that quiet only 0.25% of the time),
the miner is taken to produce at most one share's worth,
``difficulty / elapsed``, per second; that bound caps the EMA (the old average
describes a miner that is no longer there) and the ideal difficulty follows from
it, but an idle retarget never more than halves the difficulty, so with the
default knobs an idle miner's difficulty halves after a minute of silence, then
every further retarget interval, until it reaches its floor. If that step falls inside the dead band the window is kept
open, so the idle time keeps growing until the step is large enough.

With ``enabled`` false the rate is still measured (for :meth:`hashrate_estimate`)
but the difficulty only changes through :meth:`VardiffController.suggest`.

:class:`DifficultyMemory` remembers the last difficulty of each ``user.worker``
for a while, so a miner that reconnects starts where it left off.
"""

from __future__ import annotations

import math
from collections import OrderedDict
from dataclasses import dataclass

from twisted.internet.interfaces import IReactorTime

#: Expected hashes for one share of difficulty 1.
HASHES_PER_DIFF1 = 2.0**32

#: An early retarget needs more than this many times the expected shares per interval.
EARLY_RETARGET_SHARE_FACTOR = 4.0
#: ... and never fewer than this many shares.
EARLY_RETARGET_MIN_SHARES = 4
#: The shortest window a rate is measured over, so a burst cannot divide by zero.
MIN_RATE_WINDOW_S = 1e-3
#: An idle retarget lowers the difficulty to no less than this fraction of it.
IDLE_MAX_DECREASE_FACTOR = 0.5
#: A silence counts as idle only after this many target share intervals: a miner at
#: the right difficulty is silent that long with probability e**-6 (0.25%), so
#: ordinary Poisson gaps do not halve its difficulty.
IDLE_SILENCE_TARGET_INTERVALS = 6.0
#: Longest ``user.worker`` key the reconnect memory accepts.
MAX_MEMORY_KEY_CHARS = 512


def _finite(name: str, value: float) -> float:
    """``value`` as a float if it is a finite real number (bool refused), else ValueError."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError(f"{name} must be a number, not {type(value).__name__}")
    result = float(value)
    if not math.isfinite(result):
        raise ValueError(f"{name} must be finite, not {value!r}")
    return result


def _positive(name: str, value: float) -> float:
    """``value`` as a float if it is finite and > 0, else ValueError."""
    result = _finite(name, value)
    if result <= 0:
        raise ValueError(f"{name} must be greater than 0, not {value!r}")
    return result


@dataclass(frozen=True)
class VardiffSettings:
    """The vardiff knobs; ValueError at construction if they are inconsistent."""

    enabled: bool = True
    target_share_interval_s: float = 10.0  #: config key "target_share_interval"
    retarget_interval_s: float = 30.0  #: "retarget_interval"
    ema_alpha: float = 0.3  #: "ema_alpha", 0 < alpha <= 1
    dampening: float = 0.5  #: "dampening", 0 < dampening <= 1
    dead_band_percent: float = 20.0  #: "dead_band_percent", 0..100
    reconnect_memory_ttl_s: float = 86400.0  #: "reconnect_memory_ttl", 0 disables it
    mindiff: float = 1.0  #: top-level "mindiff"
    maxdiff: float = 0.0  #: top-level "maxdiff", 0 = no maximum
    startdiff: float = 42.0  #: top-level "startdiff"

    def __post_init__(self) -> None:
        """Refuse values the controller cannot work with."""
        if not isinstance(self.enabled, bool):
            raise ValueError("enabled must be a bool")
        _positive("target_share_interval_s", self.target_share_interval_s)
        _positive("retarget_interval_s", self.retarget_interval_s)
        if not 0 < _finite("ema_alpha", self.ema_alpha) <= 1:
            raise ValueError(f"ema_alpha must be in (0, 1], not {self.ema_alpha!r}")
        if not 0 < _finite("dampening", self.dampening) <= 1:
            raise ValueError(f"dampening must be in (0, 1], not {self.dampening!r}")
        if not 0 <= _finite("dead_band_percent", self.dead_band_percent) <= 100:
            raise ValueError(
                f"dead_band_percent must be in [0, 100], not {self.dead_band_percent!r}"
            )
        if _finite("reconnect_memory_ttl_s", self.reconnect_memory_ttl_s) < 0:
            raise ValueError("reconnect_memory_ttl_s must not be negative")
        _positive("mindiff", self.mindiff)
        _positive("startdiff", self.startdiff)
        if _finite("maxdiff", self.maxdiff) < 0:
            raise ValueError("maxdiff must not be negative (0 means no maximum)")
        if self.maxdiff and self.maxdiff < self.mindiff:
            raise ValueError(f"maxdiff {self.maxdiff!r} is below mindiff {self.mindiff!r}")

    @property
    def max_difficulty(self) -> float:
        """The upper clamp: ``maxdiff``, or infinity when it is 0."""
        return float(self.maxdiff) if self.maxdiff else math.inf

    @property
    def early_retarget_shares(self) -> float:
        """A window holding more shares than this retargets before its interval is up."""
        expected = self.retarget_interval_s / self.target_share_interval_s
        return max(EARLY_RETARGET_SHARE_FACTOR * expected, float(EARLY_RETARGET_MIN_SHARES))


class VardiffController:
    """Per-connection difficulty state and retargeting."""

    def __init__(
        self, settings: VardiffSettings, now: float, start_diff: float | None = None
    ) -> None:
        """Start at ``start_diff`` (e.g. from reconnect memory) or ``settings.startdiff``, clamped."""
        self._settings = settings
        self._floor = float(settings.mindiff)
        start = settings.startdiff if start_diff is None else start_diff
        self._difficulty = self._clamp(_positive("start_diff", start))
        self._window_start = _finite("now", now)
        self._window_diff_sum = 0.0
        self._window_shares = 0
        self._ema_diff_per_s: float | None = None

    @property
    def difficulty(self) -> float:
        """The difficulty currently assigned to the connection."""
        return self._difficulty

    @property
    def floor(self) -> float:
        """The lowest difficulty vardiff may choose: mindiff, or the miner's suggestion."""
        return self._floor

    def share_accepted(self, credited_diff: float, now: float) -> float | None:
        """Record an accepted share; the new difficulty if this causes a retarget, else None."""
        credited = _positive("credited_diff", credited_diff)
        now = _finite("now", now)
        if now < self._window_start:
            # The clock stepped backwards: what was measured cannot be timed.
            self._restart_window(now)
        self._window_diff_sum += credited
        self._window_shares += 1
        elapsed_s = now - self._window_start
        if elapsed_s >= self._settings.retarget_interval_s:
            return self._retarget(now, elapsed_s)
        if elapsed_s > 0 and self._window_shares > self._settings.early_retarget_shares:
            return self._retarget(now, elapsed_s)
        return None

    def tick(self, now: float) -> float | None:
        """Retarget if one is due, lowering the difficulty of a silent miner; new value or None."""
        now = _finite("now", now)
        if now < self._window_start:
            self._restart_window(now)
            return None
        elapsed_s = now - self._window_start
        if elapsed_s < self._settings.retarget_interval_s:
            return None
        if self._window_shares:
            return self._retarget(now, elapsed_s)
        if elapsed_s < IDLE_SILENCE_TARGET_INTERVALS * self._settings.target_share_interval_s:
            return None
        return self._idle_retarget(now, elapsed_s)

    def suggest(self, diff: float, now: float) -> float:
        """Make the miner's suggestion (clamped) its floor and its difficulty; returns it."""
        suggested = _positive("suggested difficulty", diff)
        _finite("now", now)
        self._floor = min(max(suggested, self._settings.mindiff), self._settings.max_difficulty)
        self._difficulty = self._floor
        return self._difficulty

    def hashrate_estimate(self) -> float:
        """The miner's hashrate in hashes per second from the EMA (0 before any measurement)."""
        if self._ema_diff_per_s is None:
            return 0.0
        return self._ema_diff_per_s * HASHES_PER_DIFF1

    def _clamp(self, difficulty: float) -> float:
        """``difficulty`` within [floor, maxdiff]."""
        return min(max(difficulty, self._floor), self._settings.max_difficulty)

    def _restart_window(self, now: float) -> None:
        """Open a new, empty measurement window at ``now``."""
        self._window_start = now
        self._window_diff_sum = 0.0
        self._window_shares = 0

    def _retarget(self, now: float, elapsed_s: float) -> float | None:
        """Fold the window's rate into the EMA and move toward the ideal difficulty."""
        observed = self._window_diff_sum / max(elapsed_s, MIN_RATE_WINDOW_S)
        if not math.isfinite(observed):
            # Only absurd credited difficulties (sums beyond 1e308) get here; measure afresh.
            self._restart_window(now)
            return None
        alpha = self._settings.ema_alpha
        if self._ema_diff_per_s is None:
            self._ema_diff_per_s = observed
        else:
            self._ema_diff_per_s = alpha * observed + (1 - alpha) * self._ema_diff_per_s
        self._restart_window(now)
        if not self._settings.enabled:
            return None
        ideal = self._ema_diff_per_s * self._settings.target_share_interval_s
        if self._within_dead_band(ideal):
            return None
        current = self._difficulty
        return self._set(current + self._settings.dampening * (ideal - current))

    def _idle_retarget(self, now: float, elapsed_s: float) -> float | None:
        """Lower the difficulty of a miner that sent nothing for ``elapsed_s`` seconds."""
        current = self._difficulty
        one_share_rate = current / elapsed_s
        if self._ema_diff_per_s is None or self._ema_diff_per_s > one_share_rate:
            self._ema_diff_per_s = one_share_rate
        if not self._settings.enabled:
            return None
        ideal = self._ema_diff_per_s * self._settings.target_share_interval_s
        candidate = max(ideal, current * IDLE_MAX_DECREASE_FACTOR)
        if candidate >= current or self._within_dead_band(candidate):
            # Keep the window open: the longer the silence, the stronger the evidence.
            return None
        changed = self._set(candidate)
        self._restart_window(now)
        return changed

    def _within_dead_band(self, ideal: float) -> bool:
        """Whether ``ideal`` is too close to the current difficulty to act on."""
        current = self._difficulty
        return abs(ideal - current) / current * 100 < self._settings.dead_band_percent

    def _set(self, difficulty: float) -> float | None:
        """Assign the clamped ``difficulty``; it if that changed anything, else None."""
        new = self._clamp(difficulty)
        if new == self._difficulty:
            return None
        self._difficulty = new
        return new


class DifficultyMemory:
    """Reconnect memory: the last difficulty of each user.worker, kept for a TTL."""

    def __init__(self, clock: IReactorTime, ttl_s: float, max_entries: int = 1_000_000) -> None:
        """Remember for ``ttl_s`` seconds (0 disables) at most ``max_entries`` keys."""
        if _finite("ttl_s", ttl_s) < 0:
            raise ValueError(f"ttl_s must not be negative, not {ttl_s!r}")
        if isinstance(max_entries, bool) or not isinstance(max_entries, int) or max_entries < 1:
            raise ValueError(f"max_entries must be a positive int, not {max_entries!r}")
        self._clock = clock
        self._ttl_s = float(ttl_s)
        self._max_entries = max_entries
        # Ordered oldest remembered first; with one TTL for all that is also expiry order.
        self._entries: OrderedDict[str, tuple[float, float]] = OrderedDict()

    def __len__(self) -> int:
        """How many keys are held (expired ones included until pruned or recalled)."""
        return len(self._entries)

    def remember(self, key: str, difficulty: float) -> None:
        """Keep ``difficulty`` for ``key`` until the TTL runs out, evicting the oldest if full."""
        _check_key(key)
        value = _positive("difficulty", difficulty)
        if not self._ttl_s:
            return
        self._entries.pop(key, None)
        self._entries[key] = (value, self._clock.seconds() + self._ttl_s)
        while len(self._entries) > self._max_entries:
            self._entries.popitem(last=False)

    def recall(self, key: str) -> float | None:
        """The remembered difficulty of ``key``; None if unknown or expired."""
        _check_key(key)
        entry = self._entries.get(key)
        if entry is None:
            return None
        difficulty, expires_at = entry
        if self._clock.seconds() >= expires_at:
            del self._entries[key]
            return None
        return difficulty

    def prune(self) -> int:
        """Drop expired entries; returns how many were dropped."""
        now = self._clock.seconds()
        dropped = 0
        # Entries are in expiry order, so stop at the first live one. (After the clock
        # steps backwards a later entry may expire first; recall still refuses it.)
        while self._entries:
            key, (_, expires_at) = next(iter(self._entries.items()))
            if now < expires_at:
                break
            del self._entries[key]
            dropped += 1
        return dropped


def _check_key(key: str) -> None:
    """ValueError unless ``key`` is a string of sane length."""
    if not isinstance(key, str):
        raise ValueError(f"memory key must be a str, not {type(key).__name__}")
    if len(key) > MAX_MEMORY_KEY_CHARS:
        raise ValueError(f"memory key longer than {MAX_MEMORY_KEY_CHARS} characters")

"""Tests for tbgpool.vardiff: retargeting, suggest floors, and reconnect memory."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from twisted.internet.task import Clock
from twisted.trial.unittest import SynchronousTestCase

from tbgpool.vardiff import (
    HASHES_PER_DIFF1,
    DifficultyMemory,
    VardiffController,
    VardiffSettings,
)


@dataclass
class SimulatedMiner:
    """A deterministic miner of a fixed hashrate talking to one controller.

    A share comes each time the miner has done ``difficulty * 2**32`` hashes
    since its last share or difficulty change; the pool ticks the controller
    every retarget interval.
    """

    controller: VardiffController
    hashrate_hs: float
    tick_interval_s: float
    shares: int = 0
    changes: list[tuple[float, float]] = field(default_factory=list)
    next_share: float | None = None
    next_tick: float | None = None

    def share_interval_s(self) -> float:
        """Seconds between shares at the current difficulty."""
        return self.controller.difficulty * HASHES_PER_DIFF1 / self.hashrate_hs

    def run_until(self, end: float) -> None:
        """Deliver shares and ticks in time order up to ``end`` (the run starts at 0)."""
        if self.next_share is None or self.next_tick is None:
            self.next_share = self.share_interval_s()
            self.next_tick = self.tick_interval_s
        while min(self.next_share, self.next_tick) <= end:
            if self.next_share <= self.next_tick:
                now = self.next_share
                self.shares += 1
                changed = self.controller.share_accepted(self.controller.difficulty, now)
                self.next_share = now + self.share_interval_s()
            else:
                now = self.next_tick
                self.next_tick += self.tick_interval_s
                changed = self.controller.tick(now)
            if changed is not None:
                self.changes.append((now, changed))
                # New work at the new difficulty starts now.
                self.next_share = now + self.share_interval_s()


def ideal_difficulty(hashrate_hs: float, settings: VardiffSettings) -> float:
    """The difficulty at which a miner of ``hashrate_hs`` meets the target interval."""
    return hashrate_hs / HASHES_PER_DIFF1 * settings.target_share_interval_s


class VardiffSettingsTests(SynchronousTestCase):
    """VardiffSettings refuses values the controller cannot work with."""

    def test_defaults(self) -> None:
        """The defaults are the documented ckpool-compatible values."""
        settings = VardiffSettings()
        self.assertEqual(
            (
                settings.enabled,
                settings.target_share_interval_s,
                settings.retarget_interval_s,
                settings.ema_alpha,
                settings.dampening,
                settings.dead_band_percent,
                settings.reconnect_memory_ttl_s,
                settings.mindiff,
                settings.maxdiff,
                settings.startdiff,
            ),
            (True, 10.0, 30.0, 0.3, 0.5, 20.0, 86400.0, 1.0, 0.0, 42.0),
        )
        self.assertEqual(settings.max_difficulty, math.inf)
        self.assertEqual(settings.early_retarget_shares, 12.0)

    def test_invalid_values_refused(self) -> None:
        """Every out-of-range, non-finite or wrongly typed knob raises ValueError naming it."""
        bad: list[tuple[str, object]] = [
            ("enabled", 1),
            ("target_share_interval_s", 0),
            ("target_share_interval_s", -1.0),
            ("target_share_interval_s", math.inf),
            ("retarget_interval_s", 0.0),
            ("retarget_interval_s", math.nan),
            ("ema_alpha", 0.0),
            ("ema_alpha", 1.5),
            ("ema_alpha", True),
            ("dampening", 0.0),
            ("dampening", 1.01),
            ("dead_band_percent", -1.0),
            ("dead_band_percent", 100.5),
            ("reconnect_memory_ttl_s", -1.0),
            ("mindiff", 0.0),
            ("mindiff", "1"),
            ("maxdiff", -1.0),
            ("maxdiff", math.inf),
            ("startdiff", 0.0),
        ]
        for name, value in bad:
            with self.assertRaises(ValueError, msg=f"{name}={value!r}") as raised:
                VardiffSettings(**{name: value})  # type: ignore[arg-type]
            self.assertIn(name, str(raised.exception))

    def test_maxdiff_below_mindiff_refused(self) -> None:
        """A maximum below the minimum is refused; 0 (no maximum) is fine."""
        self.assertRaises(ValueError, VardiffSettings, mindiff=10.0, maxdiff=5.0)
        self.assertEqual(VardiffSettings(mindiff=10.0, maxdiff=0.0).max_difficulty, math.inf)

    def test_early_retarget_needs_at_least_four_shares(self) -> None:
        """When the interval expects under one share, an early retarget still needs 4."""
        settings = VardiffSettings(target_share_interval_s=60.0, retarget_interval_s=30.0)
        self.assertEqual(settings.early_retarget_shares, 4.0)


class ControllerStartTests(SynchronousTestCase):
    """A controller starts at a sensible difficulty."""

    def test_starts_at_startdiff(self) -> None:
        """Without a remembered value the controller starts at startdiff."""
        self.assertEqual(VardiffController(VardiffSettings(), 0.0).difficulty, 42.0)

    def test_starts_at_remembered_difficulty(self) -> None:
        """A start_diff (from reconnect memory) wins over startdiff."""
        self.assertEqual(VardiffController(VardiffSettings(), 0.0, 1234.5).difficulty, 1234.5)

    def test_start_is_clamped(self) -> None:
        """The start difficulty is clamped into [mindiff, maxdiff]."""
        settings = VardiffSettings(mindiff=8.0, maxdiff=64.0)
        self.assertEqual(VardiffController(settings, 0.0, 1.0).difficulty, 8.0)
        self.assertEqual(VardiffController(settings, 0.0, 1000.0).difficulty, 64.0)

    def test_bad_start_refused(self) -> None:
        """A non-finite or non-positive start difficulty or time raises ValueError."""
        for start in (0.0, -1.0, math.nan, math.inf):
            self.assertRaises(ValueError, VardiffController, VardiffSettings(), 0.0, start)
        self.assertRaises(ValueError, VardiffController, VardiffSettings(), math.nan)

    def test_no_hashrate_before_measurement(self) -> None:
        """The hashrate estimate is 0 until a retarget has measured something."""
        controller = VardiffController(VardiffSettings(), 0.0)
        controller.share_accepted(42.0, 1.0)
        self.assertEqual(controller.hashrate_estimate(), 0.0)


class ConvergenceTests(SynchronousTestCase):
    """A steady miner ends up near the target share interval, whatever its size."""

    def assertConverges(self, hashrate_hs: float, settings: VardiffSettings) -> None:
        """After an hour the interval sits in the dead band and stays there for 10 minutes."""
        controller = VardiffController(settings, 0.0)
        miner = SimulatedMiner(controller, hashrate_hs, settings.retarget_interval_s)
        miner.run_until(3600.0)
        settled_changes = len(miner.changes)
        miner.run_until(4200.0)
        band = settings.dead_band_percent / 100
        interval_s = miner.share_interval_s()
        target_s = settings.target_share_interval_s
        self.assertGreater(interval_s, target_s / (1 + band))
        self.assertLess(interval_s, target_s / (1 - band))
        self.assertEqual(len(miner.changes), settled_changes, "still retargeting")
        self.assertApproximates(controller.hashrate_estimate(), hashrate_hs, 0.1 * hashrate_hs)

    def test_small_hashrate(self) -> None:
        """A regtest CPU miner whose ideal difficulty is 1e-6 decays there from startdiff."""
        settings = VardiffSettings(mindiff=1e-9)
        hashrate_hs = 1e-6 / settings.target_share_interval_s * HASHES_PER_DIFF1
        self.assertConverges(hashrate_hs, settings)

    def test_tiny_difficulty(self) -> None:
        """Difficulties far below 1 (ideal 2e-9 here) are reached as floats."""
        settings = VardiffSettings(mindiff=1e-10, startdiff=1e-3)
        self.assertConverges(2e-9 / settings.target_share_interval_s * HASHES_PER_DIFF1, settings)

    def test_medium_hashrate(self) -> None:
        """A 100 TH/s ASIC converges from the default startdiff."""
        self.assertConverges(100e12, VardiffSettings())

    def test_huge_hashrate(self) -> None:
        """A 1 EH/s proxy started at difficulty 42 is lifted to ~2.3e9 quickly."""
        settings = VardiffSettings()
        controller = VardiffController(settings, 0.0)
        miner = SimulatedMiner(controller, 1e18, settings.retarget_interval_s)
        miner.run_until(300.0)
        self.assertGreater(controller.difficulty, 0.5 * ideal_difficulty(1e18, settings))
        self.assertConverges(1e18, settings)


class RetargetTests(SynchronousTestCase):
    """Single retargets follow the documented arithmetic."""

    def test_no_retarget_before_interval(self) -> None:
        """A few shares inside the interval change nothing."""
        controller = VardiffController(VardiffSettings(startdiff=100.0), 0.0)
        for t in (5.0, 10.0, 29.9):
            self.assertIsNone(controller.share_accepted(1000.0, t))
        self.assertEqual(controller.difficulty, 100.0)

    def test_dampening(self) -> None:
        """The difficulty moves ``dampening`` of the way to the ideal."""
        for dampening, expected in ((0.5, 250.0), (1.0, 400.0), (0.25, 175.0)):
            settings = VardiffSettings(startdiff=100.0, dampening=dampening)
            controller = VardiffController(settings, 0.0)
            # 1200 difficulty in 30 s: 40 per second, ideal 400 at a 10 s interval.
            controller.share_accepted(400.0, 10.0)
            controller.share_accepted(400.0, 20.0)
            self.assertEqual(controller.share_accepted(400.0, 30.0), expected)
            self.assertEqual(controller.difficulty, expected)

    def test_dead_band_holds(self) -> None:
        """An ideal within dead_band_percent of the current difficulty changes nothing."""
        controller = VardiffController(VardiffSettings(startdiff=100.0), 0.0)
        # 115 per 10 s: 15 % off, inside the 20 % band.
        for t in (10.0, 20.0, 30.0):
            result = controller.share_accepted(115.0, t)
        self.assertIsNone(result)
        self.assertEqual(controller.difficulty, 100.0)

    def test_outside_dead_band_moves(self) -> None:
        """An ideal 25 % above the current difficulty (outside a 20 % band) moves it."""
        controller = VardiffController(VardiffSettings(startdiff=100.0), 0.0)
        for t in (10.0, 20.0, 30.0):
            result = controller.share_accepted(125.0, t)
        self.assertEqual(result, 112.5)

    def test_zero_dead_band_always_moves(self) -> None:
        """With no dead band even a 1 % difference moves the difficulty."""
        settings = VardiffSettings(startdiff=100.0, dead_band_percent=0.0)
        controller = VardiffController(settings, 0.0)
        for t in (10.0, 20.0, 30.0):
            result = controller.share_accepted(101.0, t)
        self.assertEqual(result, 100.5)

    def test_ema_blends_observations(self) -> None:
        """The second retarget folds its rate into the EMA with weight alpha."""
        settings = VardiffSettings(startdiff=100.0, dampening=1.0, dead_band_percent=0.0)
        controller = VardiffController(settings, 0.0)
        controller.share_accepted(300.0, 30.0)  # 10 per second: ema 10, ideal 100
        self.assertEqual(controller.difficulty, 100.0)
        self.assertEqual(controller.hashrate_estimate(), 10.0 * HASHES_PER_DIFF1)
        # 40 per second observed: ema = 0.3 * 40 + 0.7 * 10 = 19, ideal 190.
        self.assertAlmostEqual(controller.share_accepted(1200.0, 60.0) or 0.0, 190.0)
        self.assertAlmostEqual(controller.hashrate_estimate(), 19.0 * HASHES_PER_DIFF1)

    def test_early_retarget_of_a_flood(self) -> None:
        """More than 4 x 30 / 10 = 12 shares retarget at once, before 30 s are up."""
        controller = VardiffController(VardiffSettings(startdiff=1.0), 0.0)
        for share in range(1, 13):
            self.assertIsNone(controller.share_accepted(1.0, share * 0.1))
        # 13 difficulty in 1.3 s: 10 per second, ideal 100, dampened to 50.5.
        self.assertAlmostEqual(controller.share_accepted(1.0, 1.3) or 0.0, 50.5)

    def test_flood_at_one_instant_waits_for_time_to_pass(self) -> None:
        """Shares all stamped with the window's opening time cannot be timed, so wait."""
        controller = VardiffController(VardiffSettings(startdiff=1.0), 5.0)
        for _ in range(100):
            self.assertIsNone(controller.share_accepted(1.0, 5.0))
        self.assertIsNotNone(controller.share_accepted(1.0, 5.5))
        self.assertGreater(controller.difficulty, 1.0)

    def test_overflowing_rate_ignored(self) -> None:
        """Credited difficulties summing past the float range do not make it infinite."""
        controller = VardiffController(VardiffSettings(startdiff=100.0), 0.0)
        for t in (1.0, 2.0, 30.0):
            self.assertIsNone(controller.share_accepted(1e308, t))
        self.assertEqual(controller.difficulty, 100.0)
        self.assertEqual(controller.hashrate_estimate(), 0.0)

    def test_clock_stepping_back_restarts_the_window(self) -> None:
        """A share stamped before the window opened does not retarget or divide by a negative."""
        controller = VardiffController(VardiffSettings(startdiff=100.0), 1000.0)
        self.assertIsNone(controller.share_accepted(100.0, 10.0))
        self.assertIsNone(controller.tick(5.0))
        self.assertIsNone(controller.share_accepted(100.0, 20.0))
        self.assertEqual(controller.difficulty, 100.0)
        self.assertEqual(controller.hashrate_estimate(), 0.0)

    def test_bad_share_values_refused(self) -> None:
        """A non-finite or non-positive credited difficulty or time raises ValueError."""
        controller = VardiffController(VardiffSettings(), 0.0)
        for credited in (0.0, -1.0, math.nan, math.inf, True):
            self.assertRaises(ValueError, controller.share_accepted, credited, 1.0)
        self.assertRaises(ValueError, controller.share_accepted, 1.0, math.inf)
        self.assertRaises(ValueError, controller.tick, math.nan)


class ClampTests(SynchronousTestCase):
    """mindiff and maxdiff bound every retarget."""

    def test_maxdiff_caps_a_fast_miner(self) -> None:
        """A miner worth far more than maxdiff stops at maxdiff and then reports no change."""
        settings = VardiffSettings(startdiff=100.0, maxdiff=150.0, dampening=1.0)
        controller = VardiffController(settings, 0.0)
        self.assertEqual(controller.share_accepted(100_000.0, 30.0), 150.0)
        self.assertIsNone(controller.share_accepted(100_000.0, 60.0))
        self.assertEqual(controller.difficulty, 150.0)

    def test_mindiff_floors_a_slow_miner(self) -> None:
        """A miner worth far less than mindiff stops at mindiff."""
        settings = VardiffSettings(startdiff=100.0, mindiff=50.0, dampening=1.0)
        controller = VardiffController(settings, 0.0)
        self.assertEqual(controller.share_accepted(1.0, 30.0), 50.0)
        self.assertIsNone(controller.share_accepted(1.0, 60.0))


class IdleDecayTests(SynchronousTestCase):
    """tick lowers the difficulty of a miner that went quiet."""

    def test_tick_before_interval_does_nothing(self) -> None:
        """A tick sooner than retarget_interval_s after the last retarget changes nothing."""
        controller = VardiffController(VardiffSettings(startdiff=1000.0), 0.0)
        self.assertIsNone(controller.tick(29.0))
        self.assertEqual(controller.difficulty, 1000.0)

    def test_idle_halves_each_interval_down_to_mindiff(self) -> None:
        """With the defaults an idle miner's difficulty halves after each minute of silence."""
        controller = VardiffController(VardiffSettings(startdiff=1000.0, mindiff=100.0), 0.0)
        results = [controller.tick(30.0 * step) for step in range(1, 11)]
        self.assertEqual(results, [None, 500.0, None, 250.0, None, 125.0, None, 100.0, None, None])
        self.assertEqual(controller.difficulty, 100.0)

    def test_idle_decay_ignores_a_stale_high_ema(self) -> None:
        """A miner that was fast and stopped decays just as fast: the silence caps the EMA."""
        controller = VardiffController(VardiffSettings(startdiff=1000.0), 0.0)
        for t in (10.0, 20.0, 30.0):
            controller.share_accepted(1000.0, t)
        self.assertEqual(controller.difficulty, 1000.0)
        self.assertIsNone(controller.tick(60.0))  # 30 s of silence: an ordinary gap
        self.assertEqual(controller.tick(90.0), 500.0)
        self.assertEqual(controller.tick(150.0), 250.0)
        self.assertLess(controller.hashrate_estimate(), 1000.0 / 30.0 * HASHES_PER_DIFF1)

    def test_idle_step_is_at_most_a_halving(self) -> None:
        """However long the silence, one idle step at most halves the difficulty."""
        settings = VardiffSettings(startdiff=900.0, target_share_interval_s=20.0,
                                   retarget_interval_s=120.0)
        controller = VardiffController(settings, 0.0)
        self.assertEqual(controller.tick(120.0), 450.0)


    def test_idle_inside_dead_band_waits_for_more_silence(self) -> None:
        """A weak idle signal is held, and the window keeps growing until it is strong."""
        settings = VardiffSettings(startdiff=900.0, target_share_interval_s=5.0,
                                   retarget_interval_s=30.0, dead_band_percent=90.0)
        controller = VardiffController(settings, 0.0)
        self.assertIsNone(controller.tick(30.0))  # a halving is a 50 % step, inside the band
        self.assertIsNone(controller.tick(60.0))
        self.assertEqual(controller.tick(600.0), None)  # halving is the most an idle step takes

    def test_ordinary_gap_is_not_idle(self) -> None:
        """A 30 s gap at a 10 s target (5% likely for a healthy miner) does not lower difficulty."""
        controller = VardiffController(VardiffSettings(startdiff=1000.0), 0.0)
        self.assertIsNone(controller.tick(35.0))
        self.assertIsNone(controller.tick(59.0))
        self.assertEqual(controller.difficulty, 1000.0)

    def test_tick_with_shares_is_a_normal_retarget(self) -> None:
        """A tick after the interval retargets from the shares that did arrive."""
        controller = VardiffController(VardiffSettings(startdiff=100.0, dampening=1.0), 0.0)
        controller.share_accepted(100.0, 5.0)
        # 100 difficulty over 50 s: 2 per second, ideal 20.
        self.assertEqual(controller.tick(50.0), 20.0)


class SuggestTests(SynchronousTestCase):
    """mining.suggest_difficulty sets a floor and the current difficulty."""

    def test_suggest_sets_difficulty_and_floor(self) -> None:
        """The suggestion becomes the difficulty and the floor."""
        controller = VardiffController(VardiffSettings(), 0.0)
        self.assertEqual(controller.suggest(512.0, 1.0), 512.0)
        self.assertEqual((controller.difficulty, controller.floor), (512.0, 512.0))

    def test_vardiff_never_goes_below_the_floor(self) -> None:
        """Idle decay stops at the suggested floor, not at mindiff."""
        controller = VardiffController(VardiffSettings(), 0.0)
        controller.suggest(512.0, 0.0)
        for step in range(1, 20):
            controller.tick(30.0 * step)
        self.assertEqual(controller.difficulty, 512.0)

    def test_vardiff_may_rise_above_the_floor(self) -> None:
        """A fast miner is lifted above its suggestion."""
        controller = VardiffController(VardiffSettings(dampening=1.0), 0.0)
        controller.suggest(10.0, 0.0)
        self.assertEqual(controller.share_accepted(3000.0, 30.0), 1000.0)

    def test_suggest_is_clamped(self) -> None:
        """A suggestion outside [mindiff, maxdiff] is clamped, and so is the floor."""
        controller = VardiffController(VardiffSettings(mindiff=4.0, maxdiff=1000.0), 0.0)
        self.assertEqual(controller.suggest(0.001, 0.0), 4.0)
        self.assertEqual(controller.suggest(1e12, 0.0), 1000.0)
        self.assertEqual(controller.floor, 1000.0)

    def test_later_suggestion_replaces_floor(self) -> None:
        """A second, lower suggestion lowers the floor again."""
        controller = VardiffController(VardiffSettings(), 0.0)
        controller.suggest(512.0, 0.0)
        self.assertEqual(controller.suggest(2.0, 1.0), 2.0)
        self.assertEqual(controller.floor, 2.0)

    def test_bad_suggestions_refused(self) -> None:
        """Zero, negative, non-finite and non-numeric suggestions raise ValueError."""
        controller = VardiffController(VardiffSettings(), 0.0)
        for bad in (0, 0.0, -5.0, math.nan, math.inf, -math.inf, True, "8", None):
            self.assertRaises(ValueError, controller.suggest, bad, 1.0)
        self.assertEqual(controller.difficulty, 42.0)


class DisabledTests(SynchronousTestCase):
    """With vardiff disabled only suggest changes the difficulty."""

    def test_disabled_never_retargets(self) -> None:
        """Floods and silences leave the difficulty alone, though the rate is measured."""
        controller = VardiffController(VardiffSettings(enabled=False), 0.0)
        results = [controller.share_accepted(42.0, 0.01 * n) for n in range(1, 100)]
        results += [controller.tick(30.0 * step) for step in range(1, 10)]
        self.assertEqual(set(results), {None})
        self.assertEqual(controller.difficulty, 42.0)
        self.assertGreater(controller.hashrate_estimate(), 0.0)

    def test_disabled_still_takes_suggestions(self) -> None:
        """suggest works with vardiff disabled."""
        controller = VardiffController(VardiffSettings(enabled=False), 0.0)
        self.assertEqual(controller.suggest(7.5, 0.0), 7.5)
        self.assertEqual(controller.difficulty, 7.5)


class DifficultyMemoryTests(SynchronousTestCase):
    """DifficultyMemory keeps difficulties for a TTL, bounded in size."""

    def test_recall_within_ttl(self) -> None:
        """A remembered difficulty is recalled until the TTL runs out, then forgotten."""
        clock = Clock()
        memory = DifficultyMemory(clock, ttl_s=100.0)
        memory.remember("bc1qxyz.rig1", 2048.0)
        clock.advance(99.9)
        self.assertEqual(memory.recall("bc1qxyz.rig1"), 2048.0)
        clock.advance(0.1)
        self.assertIsNone(memory.recall("bc1qxyz.rig1"))
        self.assertEqual(len(memory), 0)

    def test_unknown_key(self) -> None:
        """An unknown key recalls None."""
        self.assertIsNone(DifficultyMemory(Clock(), ttl_s=100.0).recall("nobody"))

    def test_remember_again_refreshes(self) -> None:
        """Remembering again replaces the value and restarts the TTL."""
        clock = Clock()
        memory = DifficultyMemory(clock, ttl_s=100.0)
        memory.remember("a.w", 1.0)
        clock.advance(60.0)
        memory.remember("a.w", 3.0)
        clock.advance(60.0)
        self.assertEqual(memory.recall("a.w"), 3.0)

    def test_max_entries_evicts_oldest(self) -> None:
        """Beyond max_entries the least recently remembered key is dropped."""
        memory = DifficultyMemory(Clock(), ttl_s=100.0, max_entries=2)
        memory.remember("a", 1.0)
        memory.remember("b", 2.0)
        memory.remember("a", 1.5)
        memory.remember("c", 3.0)
        self.assertEqual(
            [memory.recall(key) for key in ("a", "b", "c")],
            [1.5, None, 3.0],
        )
        self.assertEqual(len(memory), 2)

    def test_prune_drops_only_expired(self) -> None:
        """prune removes expired entries and says how many."""
        clock = Clock()
        memory = DifficultyMemory(clock, ttl_s=100.0)
        memory.remember("old1", 1.0)
        memory.remember("old2", 1.0)
        clock.advance(50.0)
        memory.remember("new", 1.0)
        clock.advance(50.0)
        self.assertEqual(memory.prune(), 2)
        self.assertEqual(memory.prune(), 0)
        self.assertEqual(memory.recall("new"), 1.0)

    def test_zero_ttl_disables(self) -> None:
        """With a TTL of 0 nothing is remembered."""
        memory = DifficultyMemory(Clock(), ttl_s=0.0)
        memory.remember("a", 1.0)
        self.assertIsNone(memory.recall("a"))

    def test_bad_input_refused(self) -> None:
        """Bad keys, difficulties and constructor arguments raise ValueError."""
        memory = DifficultyMemory(Clock(), ttl_s=10.0)
        self.assertRaises(ValueError, memory.remember, "a", 0.0)
        self.assertRaises(ValueError, memory.remember, "a", math.nan)
        self.assertRaises(ValueError, memory.remember, 5, 1.0)
        self.assertRaises(ValueError, memory.remember, "x" * 513, 1.0)
        self.assertRaises(ValueError, memory.recall, None)
        self.assertRaises(ValueError, DifficultyMemory, Clock(), -1.0)
        self.assertRaises(ValueError, DifficultyMemory, Clock(), 10.0, 0)

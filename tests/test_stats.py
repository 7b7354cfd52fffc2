"""Tests for tbgpool.stats and the stats_records, stats_store and stats_windows modules."""

from __future__ import annotations

import json
import math
import os
from typing import Any

from twisted.internet.task import Clock
from twisted.logger import ILogObserver, LogEvent, formatEvent, globalLogPublisher
from twisted.trial.unittest import SynchronousTestCase
from zope.interface import provider

from tbgpool.stats import StatsBook, UserStats, WorkerStats
from tbgpool.stats_records import MAX_REJECT_REASONS, STATS_FORMAT_VERSION
from tbgpool.stats_store import read_json_file, user_file_path, write_json_atomically
from tbgpool.stats_windows import (
    DAY_S,
    HOUR_S,
    MINUTE_S,
    WEEK_S,
    WINDOWS_S,
    HashrateWindows,
)
from tbgpool.vardiff import HASHES_PER_DIFF1

ADDRESS = "bc1qar0srrr7xfkvy5l643lydnw9re59gtzzwf5mdq"
OTHER_ADDRESS = "1BvBMSEYstWetqTFn5Au4m4GFg7xJaNVN2"
THIRD_ADDRESS = "tb1qw508d6qejxtdg4y5r3zarvary0c5xw7kxpjzsx"


class LogCollector:
    """Collects the text of log events published while a test runs."""

    def __init__(self, test: SynchronousTestCase) -> None:
        """Observe the global log publisher until ``test`` ends."""
        self.messages: list[str] = []

        @provider(ILogObserver)
        def observe(event: LogEvent) -> None:
            self.messages.append(formatEvent(event))

        globalLogPublisher.addObserver(observe)
        test.addCleanup(globalLogPublisher.removeObserver, observe)

    def containing(self, text: str) -> list[str]:
        """The collected messages that contain ``text``."""
        return [message for message in self.messages if text in message]


def make_book(test: SynchronousTestCase, **kwargs: Any) -> tuple[StatsBook, Clock, str]:
    """A StatsBook over a fresh directory (not yet existing) with a Clock at t = 1000."""
    clock = Clock()
    clock.advance(1000.0)
    directory = os.path.join(test.mktemp(), "users")
    return StatsBook(clock, directory, **kwargs), clock, directory


def steady_stream(
    book: StatsBook, clock: Clock, hashrate_hs: float, interval_s: float, duration_s: float
) -> None:
    """Accepted shares from ADDRESS.rig worth ``hashrate_hs``, one every ``interval_s``."""
    diff = hashrate_hs * interval_s / HASHES_PER_DIFF1
    for _ in range(int(duration_s / interval_s)):
        clock.advance(interval_s)
        book.share_accepted(ADDRESS, "rig", diff, diff)


class BestShareTests(SynchronousTestCase):
    """Best share since the last block and ever, for users and workers."""

    def test_counts_accepted_share(self) -> None:
        """An accepted share is counted for the user and the worker with its time."""
        book, clock, _ = make_book(self)
        book.share_accepted(ADDRESS, "rig1", 8.0, 20.0)
        user = book.user(ADDRESS)
        assert user is not None
        for stats in (user, user.workers["rig1"]):
            self.assertEqual(
                (stats.shares_accepted, stats.diff_accepted, stats.last_share_time),
                (1, 8.0, 1000.0),
            )

    def test_new_best_reported(self) -> None:
        """A share beating the best since the block reports True, a lesser one False."""
        book, _, _ = make_book(self)
        self.assertTrue(book.share_accepted(ADDRESS, "rig1", 1.0, 50.0))
        self.assertFalse(book.share_accepted(ADDRESS, "rig1", 1.0, 30.0))
        self.assertFalse(book.share_accepted(ADDRESS, "rig1", 1.0, 50.0))
        self.assertTrue(book.share_accepted(ADDRESS, "rig1", 1.0, 51.0))
        user = book.user(ADDRESS)
        assert user is not None
        self.assertEqual((user.best_diff, user.best_ever), (51.0, 51.0))

    def test_worker_best_reported_when_user_best_is_not(self) -> None:
        """A worker's first good share is its new best even below the user's best."""
        book, _, _ = make_book(self)
        book.share_accepted(ADDRESS, "rig1", 1.0, 100.0)
        self.assertTrue(book.share_accepted(ADDRESS, "rig2", 1.0, 10.0))
        user = book.user(ADDRESS)
        assert user is not None
        self.assertEqual(user.best_diff, 100.0)
        self.assertEqual(user.workers["rig2"].best_diff, 10.0)

    def test_block_found_resets_best_since_block(self) -> None:
        """block_found zeroes every best-since-block but keeps best_ever."""
        book, _, _ = make_book(self)
        book.share_accepted(ADDRESS, "rig1", 1.0, 100.0)
        book.share_accepted(OTHER_ADDRESS, "", 1.0, 7.0)
        book.block_found()
        user = book.user(ADDRESS)
        other = book.user(OTHER_ADDRESS)
        assert user is not None and other is not None
        self.assertEqual(
            [user.best_diff, user.workers["rig1"].best_diff, other.best_diff],
            [0.0, 0.0, 0.0],
        )
        self.assertEqual((user.best_ever, user.workers["rig1"].best_ever), (100.0, 100.0))
        self.assertTrue(book.share_accepted(ADDRESS, "rig1", 1.0, 2.0))
        self.assertEqual((user.best_diff, user.best_ever), (2.0, 100.0))

    def test_bare_address_is_worker_empty(self) -> None:
        """Shares of the bare address are counted under the worker ""."""
        book, _, _ = make_book(self)
        book.share_accepted(ADDRESS, "", 1.0, 1.0)
        user = book.user(ADDRESS)
        assert user is not None
        self.assertEqual(list(user.workers), [""])

    def test_rejected_counted_by_reason(self) -> None:
        """Rejections are counted per reason; reasons beyond the cap count as "other"."""
        book, _, _ = make_book(self)
        book.share_rejected(ADDRESS, "rig1", "stale")
        book.share_rejected(ADDRESS, "rig1", "stale")
        book.share_rejected(ADDRESS, "rig1", "duplicate")
        for n in range(MAX_REJECT_REASONS):
            book.share_rejected(ADDRESS, "rig2", f"reason-{n}")
        book.share_rejected(ADDRESS, "rig2", "one-too-many")
        user = book.user(ADDRESS)
        assert user is not None
        self.assertEqual(user.workers["rig1"].rejects_by_reason, {"stale": 2, "duplicate": 1})
        self.assertEqual(user.workers["rig1"].shares_rejected, 3)
        rig2_reasons = user.workers["rig2"].rejects_by_reason
        self.assertEqual(len(rig2_reasons), MAX_REJECT_REASONS)
        self.assertEqual((rig2_reasons["reason-30"], rig2_reasons["other"]), (1, 2))
        self.assertEqual(user.shares_rejected, 3 + MAX_REJECT_REASONS + 1)
        self.assertEqual(user.shares_accepted, 0)
        self.assertEqual(UserStats.from_dict(user.to_dict()).to_dict(), user.to_dict())

    def test_bad_input_refused(self) -> None:
        """Bad addresses, worker names, difficulties and reasons raise ValueError."""
        book, _, _ = make_book(self)
        for address in ("", "../etc/passwd", "a/b", "bc1q.x", "x" * 91, None):
            self.assertRaises(ValueError, book.share_accepted, address, "", 1.0, 1.0)
            self.assertRaises(ValueError, book.share_rejected, address, "", "stale")
        for diff in (0.0, -1.0, math.nan, math.inf, True, "1"):
            self.assertRaises(ValueError, book.share_accepted, ADDRESS, "", diff, 1.0)
            self.assertRaises(ValueError, book.share_accepted, ADDRESS, "", 1.0, diff)
        self.assertRaises(ValueError, book.share_accepted, ADDRESS, None, 1.0, 1.0)
        self.assertRaises(ValueError, book.share_accepted, ADDRESS, "w" * 257, 1.0, 1.0)
        self.assertRaises(ValueError, book.share_rejected, ADDRESS, "", "")
        self.assertRaises(ValueError, book.share_rejected, ADDRESS, "", None)
        self.assertEqual(len(book), 0)

    def test_long_reason_cut(self) -> None:
        """A rejection reason longer than 64 characters is counted under its first 64."""
        book, _, _ = make_book(self)
        book.share_rejected(ADDRESS, "", "r" * 100)
        user = book.user(ADDRESS)
        assert user is not None
        self.assertEqual(user.rejects_by_reason, {"r" * 64: 1})

    def test_bad_limits_refused(self) -> None:
        """Non-positive caps raise ValueError."""
        self.assertRaises(ValueError, StatsBook, Clock(), self.mktemp(), max_users=0)
        self.assertRaises(ValueError, StatsBook, Clock(), self.mktemp(), max_workers_per_user=0)


class HashrateTests(SynchronousTestCase):
    """Hashrate windows read a steady stream right and decay when read later."""

    def assertWithin(self, actual: float, expected: float, fraction: float) -> None:
        """``actual`` is within ``fraction`` of ``expected``."""
        self.assertLessEqual(abs(actual - expected), fraction * expected, f"{actual} vs {expected}")

    def test_steady_stream_every_window(self) -> None:
        """Two hours of 1 TH/s reads 1 TH/s in every window, from 1 minute to 7 days."""
        book, clock, _ = make_book(self)
        steady_stream(book, clock, 1e12, 2.0, 2 * HOUR_S)
        for stats in (book.hashrates(ADDRESS), book.hashrates(ADDRESS, "rig")):
            assert stats is not None
            # 1 minute: a share every 2 s ripples by about 2 / (2 * 60).
            self.assertWithin(stats.hashrate_1m_hs, 1e12, 0.03)
            for rate in (stats.hashrate_5m_hs, stats.hashrate_1h_hs):
                self.assertWithin(rate, 1e12, 0.01)
            for rate in (stats.hashrate_1d_hs, stats.hashrate_7d_hs):
                self.assertWithin(rate, 1e12, 0.001)

    def test_rate_change_seen_first_in_short_windows(self) -> None:
        """After the hashrate halves for an hour, short windows show it, long ones lag."""
        book, clock, _ = make_book(self)
        steady_stream(book, clock, 2e12, 2.0, 2 * HOUR_S)
        steady_stream(book, clock, 1e12, 2.0, HOUR_S)
        stats = book.hashrates(ADDRESS)
        assert stats is not None
        self.assertWithin(stats.hashrate_1m_hs, 1e12, 0.03)
        self.assertWithin(stats.hashrate_5m_hs, 1e12, 0.01)
        self.assertGreater(stats.hashrate_1h_hs, 1.2e12)
        self.assertGreater(stats.hashrate_1d_hs, stats.hashrate_1h_hs)
        # A day-long average over three hours, two of them at 2 TH/s.
        self.assertWithin(stats.hashrate_1d_hs, 5e12 / 3, 0.02)

    def test_reading_later_decays_without_mutating(self) -> None:
        """After the miner stops, readings decay with time; reading changes nothing."""
        book, clock, _ = make_book(self)
        steady_stream(book, clock, 1e12, 1.0, HOUR_S)
        user = book.user(ADDRESS)
        assert user is not None
        at_stop = user.hashrates(clock.seconds())
        saved = json.dumps(user.to_dict(), sort_keys=True)
        clock.advance(5 * MINUTE_S)
        later = user.hashrates(clock.seconds())
        self.assertEqual(user.hashrates(clock.seconds()), later)
        self.assertEqual(json.dumps(user.to_dict(), sort_keys=True), saved)
        self.assertWithin(later.hashrate_1m_hs, at_stop.hashrate_1m_hs * math.exp(-5), 1e-9)
        self.assertWithin(later.hashrate_5m_hs, at_stop.hashrate_5m_hs * math.exp(-1), 0.01)
        self.assertLess(later.hashrate_1h_hs, at_stop.hashrate_1h_hs)
        # Reading the earlier moment again still gives the earlier values.
        self.assertEqual(user.hashrates(clock.seconds() - 5 * MINUTE_S), at_stop)

    def test_first_share_only_opens_the_window(self) -> None:
        """One share says nothing about a rate; two shares 10 s apart read about d / 10 s."""
        windows = HashrateWindows()
        windows.record(5.0, 100.0)
        self.assertEqual(windows.hashrate_hs(MINUTE_S, 100.0), 0.0)
        self.assertEqual(windows.hashrate_hs(WEEK_S, 200.0), 0.0)
        windows.record(5.0, 110.0)
        for window_s in WINDOWS_S:
            expected = (5.0 / window_s) / -math.expm1(-10.0 / window_s)
            self.assertAlmostEqual(windows.diff_per_s(window_s, 110.0) / expected, 1.0)
        self.assertAlmostEqual(windows.diff_per_s(DAY_S, 110.0), 0.5, places=4)

    def test_clock_stepping_back_is_harmless(self) -> None:
        """A share or a read stamped before the last update neither decays nor goes negative."""
        windows = HashrateWindows()
        windows.record(5.0, 100.0)
        windows.record(5.0, 110.0)
        windows.record(5.0, 50.0)
        for window_s in WINDOWS_S:
            self.assertGreater(windows.diff_per_s(window_s, 110.0), 0.0)
            self.assertEqual(windows.diff_per_s(window_s, 20.0), 0.0)

    def test_unknown_window_refused(self) -> None:
        """Asking for a window that is not kept raises ValueError."""
        self.assertRaises(ValueError, HashrateWindows().diff_per_s, 42.0, 0.0)

    def test_unknown_user_or_worker(self) -> None:
        """hashrates of an unknown user or worker is None."""
        book, _, _ = make_book(self)
        book.share_accepted(ADDRESS, "rig", 1.0, 1.0)
        self.assertIsNone(book.hashrates(OTHER_ADDRESS))
        self.assertIsNone(book.hashrates(ADDRESS, "nope"))
        self.assertIsNone(book.hashrates("not an address"))


class PersistenceTests(SynchronousTestCase):
    """Users are written one JSON file each, atomically, and read back."""

    def test_directory_created(self) -> None:
        """The stats directory is created, parents included."""
        _, _, directory = make_book(self)
        self.assertTrue(os.path.isdir(directory))

    def test_round_trip(self) -> None:
        """save_all then load in a new book restores every field and hashrate."""
        book, clock, directory = make_book(self)
        steady_stream(book, clock, 1e12, 5.0, HOUR_S)
        odd_name = 'rig "7" ../\u00e9\udc80'
        book.share_accepted(ADDRESS, odd_name, 3.0, 9999.0)
        book.share_accepted(ADDRESS, "", 3.0, 1.5)
        book.share_rejected(ADDRESS, "rig", "stale")
        book.share_accepted(OTHER_ADDRESS, "x", 1.0, 2.0)
        book.block_found()
        book.share_accepted(OTHER_ADDRESS, "x", 1.0, 1.0)
        self.assertEqual(book.save_all(), 2)

        fresh = StatsBook(clock, directory)
        self.assertEqual(fresh.load(), 2)
        for address in (ADDRESS, OTHER_ADDRESS):
            before, after = book.user(address), fresh.user(address)
            assert before is not None and after is not None
            self.assertEqual(after.to_dict(), before.to_dict())
        self.assertEqual(fresh.hashrates(ADDRESS), book.hashrates(ADDRESS))
        restored = fresh.user(ADDRESS)
        assert restored is not None
        self.assertEqual(restored.workers[odd_name].best_ever, 9999.0)
        self.assertEqual(restored.best_diff, 0.0)

    def test_file_layout(self) -> None:
        """Each user is <directory>/<address>.json, versioned, with no temporary files left."""
        book, _, directory = make_book(self)
        book.share_accepted(ADDRESS, "rig", 1.0, 1.0)
        book.save_dirty()
        self.assertEqual(os.listdir(directory), [f"{ADDRESS}.json"])
        with open(os.path.join(directory, f"{ADDRESS}.json")) as user_file:
            stored = json.load(user_file)
        self.assertEqual((stored["version"], stored["address"]), (STATS_FORMAT_VERSION, ADDRESS))
        self.assertEqual(stored["workers"][0]["name"], "rig")

    def test_save_dirty_writes_only_changed_users(self) -> None:
        """save_dirty writes users changed since the last save and no others."""
        book, _, directory = make_book(self)
        book.share_accepted(ADDRESS, "rig", 1.0, 1.0)
        book.share_accepted(OTHER_ADDRESS, "rig", 1.0, 1.0)
        book.share_rejected(OTHER_ADDRESS, "rig", "stale")
        self.assertEqual(book.save_dirty(), 2)
        self.assertEqual(book.save_dirty(), 0)
        os.remove(os.path.join(directory, f"{OTHER_ADDRESS}.json"))
        book.share_accepted(ADDRESS, "rig", 1.0, 1.0)
        self.assertEqual(book.save_dirty(), 1)
        self.assertEqual(sorted(os.listdir(directory)), [f"{ADDRESS}.json"])
        self.assertEqual(book.save_all(), 2)
        self.assertEqual(len(os.listdir(directory)), 2)

    def test_block_found_dirties_only_users_with_a_best(self) -> None:
        """block_found marks changed users for saving; a second one changes nothing."""
        book, _, _ = make_book(self)
        book.share_accepted(ADDRESS, "rig", 1.0, 1.0)
        book.share_rejected(OTHER_ADDRESS, "rig", "stale")
        book.save_dirty()
        book.block_found()
        self.assertEqual(book.save_dirty(), 1)
        book.block_found()
        self.assertEqual(book.save_dirty(), 0)

    def test_corrupt_files_skipped(self) -> None:
        """load logs and skips unreadable, invalid or mismatched files and loads the rest."""
        book, _, directory = make_book(self)
        book.share_accepted(ADDRESS, "rig", 1.0, 1.0)
        book.save_all()
        good = book.user(ADDRESS)
        assert good is not None
        valid = good.to_dict()
        bad_files: dict[str, object] = {
            "Garbage1": "{not json",
            "NotUtf8": b"\xff\xfe{}",
            "WrongVersion": {**valid, "version": 99, "address": "WrongVersion"},
            "Mismatch": valid,
            "NegativeCount": {**valid, "address": "NegativeCount", "shares_accepted": -1},
            "NaNDiff": json.dumps({**valid, "address": "NaNDiff"}).replace(
                '"diff_accepted": 1.0', '"diff_accepted": NaN'
            ),
            "NotAnObject": [1, 2, 3],
            "Deep": "[" * 100_000 + "]" * 100_000,
        }
        for name, content in bad_files.items():
            with open(os.path.join(directory, f"{name}.json"), "wb") as bad_file:
                if isinstance(content, bytes):
                    bad_file.write(content)
                elif isinstance(content, str):
                    bad_file.write(content.encode())
                else:
                    bad_file.write(json.dumps(content).encode())
        with open(os.path.join(directory, "README"), "w") as other_file:
            other_file.write("not a user")
        logs = LogCollector(self)
        fresh = StatsBook(Clock(), directory)
        self.assertEqual(fresh.load(), 1)
        self.assertEqual(len(fresh), 1)
        self.assertEqual(len(logs.containing("skipping unusable file")), len(bad_files))
        self.assertTrue(logs.containing("Mismatch.json"))

    def test_stale_temporary_file_removed(self) -> None:
        """A temporary file left by a crash is removed by load."""
        _, _, directory = make_book(self)
        stale = os.path.join(directory, f".{ADDRESS}.json.0123456789abcdef.tmp")
        with open(stale, "w") as stale_file:
            stale_file.write("{")
        self.assertEqual(StatsBook(Clock(), directory).load(), 0)
        self.assertFalse(os.path.exists(stale))

    def test_failed_write_keeps_user_dirty(self) -> None:
        """A write that fails is logged, leaves no temporary file, and is retried later."""
        book, _, directory = make_book(self)
        book.share_accepted(ADDRESS, "rig", 1.0, 1.0)
        blocker = os.path.join(directory, f"{ADDRESS}.json")
        os.mkdir(blocker)  # os.replace cannot put a file over a directory
        logs = LogCollector(self)
        self.assertEqual(book.save_dirty(), 0)
        self.assertTrue(logs.containing("could not write"))
        self.assertEqual(os.listdir(directory), [f"{ADDRESS}.json"])
        os.rmdir(blocker)
        self.assertEqual(book.save_dirty(), 1)

    def test_path_refusal(self) -> None:
        """Nothing but 1-90 ASCII letters and digits may become a file name."""
        for address in ("", "../x", "a/b", "a.b", "a b", "x" * 91, "\u0430bc", "a\x00"):
            self.assertRaises(ValueError, user_file_path, "/tmp", address)
        self.assertEqual(user_file_path("/d", "x" * 90), "/d/" + "x" * 90 + ".json")
        book, _, _ = make_book(self)
        self.assertIsNone(book.user("../x"))

    def test_atomic_write_and_bounded_read(self) -> None:
        """write_json_atomically replaces a file whole; NaN is refused on both sides."""
        path = os.path.join(self.mktemp() + "-file.json")
        write_json_atomically(path, {"a": 1})
        write_json_atomically(path, {"a": 2})
        self.assertEqual(read_json_file(path), {"a": 2})
        self.assertRaises(ValueError, write_json_atomically, path, {"a": math.nan})
        self.assertEqual(read_json_file(path), {"a": 2})
        with open(path, "w") as json_file:
            json_file.write('{"a": Infinity}')
        self.assertRaises(ValueError, read_json_file, path)


class BoundsTests(SynchronousTestCase):
    """Users and workers in memory are capped."""

    def test_least_active_user_evicted_and_read_back(self) -> None:
        """Beyond max_users the least active user is written out, and read back on return."""
        book, _, directory = make_book(self, max_users=2)
        book.share_accepted(ADDRESS, "rig", 1.0, 5.0)
        book.share_accepted(OTHER_ADDRESS, "rig", 1.0, 1.0)
        book.share_accepted(ADDRESS, "rig", 1.0, 1.0)
        book.share_accepted(THIRD_ADDRESS, "rig", 1.0, 1.0)
        self.assertEqual(len(book), 2)
        self.assertTrue(os.path.exists(os.path.join(directory, f"{OTHER_ADDRESS}.json")))
        book.share_accepted(OTHER_ADDRESS, "rig", 1.0, 1.0)
        other = book.user(OTHER_ADDRESS)
        assert other is not None
        self.assertEqual(other.shares_accepted, 2)
        self.assertEqual(len(book), 2)
        # ADDRESS was the least active and went out in its turn, best share intact.
        returning = book.user(ADDRESS)
        assert returning is not None
        self.assertEqual((returning.shares_accepted, returning.best_diff), (2, 5.0))

    def test_block_found_reaches_users_written_out(self) -> None:
        """A user evicted before a block comes back with its best since the block forgotten."""
        book, clock, _ = make_book(self, max_users=1)
        book.share_accepted(ADDRESS, "rig", 1.0, 50.0)
        clock.advance(1.0)
        book.share_accepted(OTHER_ADDRESS, "rig", 1.0, 1.0)
        clock.advance(1.0)
        book.block_found()
        returning = book.user(ADDRESS)
        assert returning is not None
        self.assertEqual((returning.best_diff, returning.best_ever), (0.0, 50.0))
        self.assertEqual(returning.workers["rig"].best_diff, 0.0)
        self.assertEqual(book.save_dirty(), 1)

    def test_load_stops_at_max_users(self) -> None:
        """load reads no more than max_users files."""
        book, clock, directory = make_book(self)
        for address in (ADDRESS, OTHER_ADDRESS, THIRD_ADDRESS):
            book.share_accepted(address, "", 1.0, 1.0)
        book.save_all()
        logs = LogCollector(self)
        small = StatsBook(clock, directory, max_users=2)
        self.assertEqual(small.load(), 2)
        self.assertEqual(len(small), 2)
        self.assertTrue(logs.containing("the maximum"))

    def test_worker_cap(self) -> None:
        """Shares of workers beyond the cap count for the user only, logged once."""
        book, _, _ = make_book(self, max_workers_per_user=2)
        logs = LogCollector(self)
        for worker in ("a", "b", "c", "d", "c"):
            book.share_accepted(ADDRESS, worker, 1.0, 1.0)
        book.share_rejected(ADDRESS, "e", "stale")
        user = book.user(ADDRESS)
        assert user is not None
        self.assertEqual(sorted(user.workers), ["a", "b"])
        self.assertEqual((user.shares_accepted, user.shares_rejected), (5, 1))
        self.assertEqual(len(logs.containing("workers (the maximum)")), 1)


class FromDictTests(SynchronousTestCase):
    """from_dict refuses malformed data with the field named."""

    def valid(self) -> dict[str, Any]:
        """A valid user dict with one worker."""
        user = UserStats(ADDRESS)
        user.workers["rig"] = WorkerStats("rig")
        user.workers["rig"].record_accepted(2.0, 3.0, 10.0)
        user.record_accepted(2.0, 3.0, 10.0)
        return user.to_dict()

    def test_round_trip(self) -> None:
        """to_dict output survives JSON and from_dict unchanged."""
        raw = json.loads(json.dumps(self.valid()))
        self.assertEqual(UserStats.from_dict(raw).to_dict(), self.valid())

    def test_malformed_fields_named(self) -> None:
        """Each malformed field raises ValueError naming it."""
        cases: list[tuple[str, Any, str]] = [
            ("version", 2, "version"),
            ("version", True, "version"),
            ("address", "../x", "address"),
            ("shares_accepted", 1.5, "shares_accepted"),
            ("shares_rejected", True, "shares_rejected"),
            ("diff_accepted", "1", "diff_accepted"),
            ("best_diff", 1e9, "best_diff"),
            ("last_share_time", -5, "last_share_time"),
            ("rejects_by_reason", [], "rejects_by_reason"),
            ("rejects_by_reason", {"stale": -1}, "rejects_by_reason"),
            ("hashrate", None, "hashrate"),
            ("workers", {}, "workers"),
            ("workers", [{"name": 5}], "worker name"),
            ("workers", [[]], "workers[0]"),
        ]
        for key, value, named in cases:
            raw = {**self.valid(), key: value}
            with self.assertRaises(ValueError, msg=key) as raised:
                UserStats.from_dict(raw)
            self.assertIn(named, str(raised.exception))

    def test_malformed_hashrate_named(self) -> None:
        """A bad hashrate value inside a worker names its path."""
        raw = self.valid()
        raw["workers"][0]["hashrate"]["diff_per_s"]["60"] = -1.0
        with self.assertRaises(ValueError) as raised:
            UserStats.from_dict(raw)
        self.assertIn("workers[0].hashrate.diff_per_s.60", str(raised.exception))
        raw = self.valid()
        del raw["hashrate"]["diff_per_s"]["604800"]
        self.assertRaises(ValueError, UserStats.from_dict, raw)

    def test_duplicate_worker_refused(self) -> None:
        """Two workers of the same name are refused."""
        raw = self.valid()
        raw["workers"].append(raw["workers"][0])
        self.assertRaises(ValueError, UserStats.from_dict, raw)


class JunkUserTests(SynchronousTestCase):
    """Users with nothing but rejected shares stay in memory only."""

    def test_no_file_without_an_accepted_share(self) -> None:
        """rejects alone write no file; the first accepted share does"""
        book, _, directory = make_book(self)
        book.share_rejected(ADDRESS, "rig1", "low_difficulty")
        self.assertEqual(book.save_all(), 0)
        listed = os.listdir(directory) if os.path.isdir(directory) else []
        self.assertEqual([n for n in listed if n.endswith(".json")], [])
        book.share_accepted(ADDRESS, "rig1", 1.0, 1.0)
        self.assertEqual(book.save_all(), 1)
        user = book.user(ADDRESS)
        assert user is not None
        self.assertEqual(user.shares_rejected, 1)

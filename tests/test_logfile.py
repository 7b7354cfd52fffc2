"""JSON log lines, size rotation, and a failing log disk that never stops the pool."""

from __future__ import annotations

import json
import math
import os
import shutil
from typing import IO, Any, cast

from twisted.internet.task import Clock
from twisted.logger import (
    ILogObserver,
    LogEvent,
    Logger,
    LogLevel,
    LogPublisher,
    globalLogPublisher,
)
from twisted.trial.unittest import SynchronousTestCase

from tbgpool.difficulty import bits_to_target, target_for_difficulty
from tbgpool.logfile import LogFileService, SizeRotatingFile, format_log_line
from tbgpool.testing import make_template, mine
from tests.helpers import REGTEST_P2WPKH, PoolHarness, last_difficulty, last_job

#: Untrusted text as a miner might send it: quotes, newlines, unicode, format braces.
HOSTILE_WORKER = 'rig"1\n{"level": "critical"}\r\u00e9\u2603\U0001f600 {worker} {0} {__class__}'

#: A network target hard enough that test shares are never blocks.
HARD_BITS = 0x1E00FFFF
#: Regtest's target: about every other hash is a block.
REGTEST_BITS = 0x207FFFFF


def _strict_json(line: str) -> dict[str, Any]:
    """Parse ``line`` as strict JSON (NaN/Infinity refused, as jq does)."""
    def refuse(constant: str) -> None:
        raise ValueError(f"non-standard JSON constant {constant}")

    value = json.loads(line, parse_constant=refuse)
    assert isinstance(value, dict)
    return value


def _read_records(path: str) -> list[dict[str, Any]]:
    """Every non-blank line of ``path`` as a JSON object."""
    with open(path, encoding="utf-8") as f:
        return [_strict_json(line) for line in f.read().split("\n") if line]


class _Opener:
    """An opener whose target can change: /dev/full (disk full) or the real path."""

    def __init__(self, mode: str = "ab", full: bool = True) -> None:
        self.mode = mode
        self.full = full
        self.calls = 0

    def __call__(self, path: str) -> IO[Any]:
        self.calls += 1
        return open("/dev/full" if self.full else path, self.mode)


class ServiceTestCase(SynchronousTestCase):
    """A LogFileService on its own publisher and a task.Clock, started and stopped per test."""

    def setUp(self) -> None:
        self.clock = Clock()
        self.clock.advance(1_700_000_000)
        self.publisher = LogPublisher()
        self.logger = Logger(namespace="tbgpool.test", observer=self.publisher)
        self.logdir = self.mktemp()
        self.reports: list[str] = []

    def start(self, **kwargs: Any) -> LogFileService:
        """Start a service with ``kwargs``; it is stopped at cleanup."""
        kwargs.setdefault("report", self.reports.append)
        service = LogFileService(self.clock, self.logdir, publisher=self.publisher, **kwargs)
        service.startService()
        def stop() -> None:
            if service.running:
                service.stopService()

        self.addCleanup(stop)
        return service

    def records(self, service: LogFileService) -> list[dict[str, Any]]:
        """The current log file's records."""
        return _read_records(service.path)


class LineFormatTests(ServiceTestCase):
    """Each event is one strict JSON line keeping every field."""

    def test_hostile_field_arrives_intact(self) -> None:
        """quotes, newlines, unicode and braces in a field survive and are not expanded"""
        service = self.start()
        self.logger.info("share from {worker} rejected: {reason}", worker=HOSTILE_WORKER,
                         reason="low difficulty", peer="192.0.2.1:4242")
        self.logger.info("second event")
        service.stopService()
        with open(service.path, encoding="utf-8") as f:
            lines = f.read().split("\n")
        self.assertEqual(lines[-1], "")  # the file ends with a newline
        self.assertEqual(len(lines), 3)  # one line per event, despite the newlines in the field
        first = _strict_json(lines[0])
        self.assertEqual(first["worker"], HOSTILE_WORKER)
        self.assertEqual(first["peer"], "192.0.2.1:4242")
        self.assertEqual(first["log_format"], "share from {worker} rejected: {reason}")
        self.assertEqual(first["text"], f"share from {HOSTILE_WORKER} rejected: low difficulty")
        self.assertEqual(first["level"], "info")
        self.assertEqual(first["log_level"]["name"], "info")
        self.assertEqual(first["log_namespace"], "tbgpool.test")
        self.assertEqual(_strict_json(lines[1])["text"], "second event")

    def test_time_is_iso_utc(self) -> None:
        """time is the event's log_time in ISO 8601 UTC, and log_time itself is kept"""
        line = _strict_json(format_log_line(
            {"log_format": "x", "log_level": LogLevel.warn, "log_time": 1_700_000_000.25}, 0.0))
        self.assertEqual(line["time"], "2023-11-14T22:13:20.250Z")
        self.assertEqual(line["log_time"], 1_700_000_000.25)
        self.assertEqual(line["level"], "warn")

    def test_missing_time_and_level(self) -> None:
        """an event without log_time uses the fallback time; without a level it counts as info"""
        line = _strict_json(format_log_line({"log_format": "bare"}, 86400.0))
        self.assertEqual(line["time"], "1970-01-02T00:00:00.000Z")
        self.assertEqual(line["level"], "info")
        self.assertEqual(line["text"], "bare")

    def test_min_level(self) -> None:
        """events below min_level are not written; those at or above are"""
        service = self.start(min_level=LogLevel.warn)
        self.logger.debug("debug {n}", n=1)
        self.logger.info("info {n}", n=2)
        self.logger.warn("warn {n}", n=3)
        self.logger.error("error {n}", n=4)
        self.assertEqual([r["n"] for r in self.records(service)], [3, 4])

    def test_debug_written_when_asked(self) -> None:
        """min_level debug writes debug events"""
        service = self.start(min_level=LogLevel.debug)
        self.logger.debug("debug {n}", n=1)
        self.assertEqual([r["level"] for r in self.records(service)], ["debug"])

    def test_failure_has_traceback(self) -> None:
        """a logged failure keeps its text, level critical, and a readable traceback"""
        service = self.start()
        try:
            raise ZeroDivisionError("boom")
        except ZeroDivisionError:
            self.logger.failure("handling {method} failed", method="mining.submit")
        [record] = self.records(service)
        self.assertEqual(record["level"], "critical")
        self.assertEqual(record["text"], "handling mining.submit failed")
        self.assertIn("ZeroDivisionError: boom", record["traceback"])
        self.assertEqual(record["log_failure"]["type"]["__name__"], "ZeroDivisionError")

    def test_unserializable_fields_still_give_a_line(self) -> None:
        """cycles, objects, bytes, NaN and a hostile __str__ never stop a line being written"""
        class Hostile:
            def __str__(self) -> str:
                raise RuntimeError("no str for you")

            __repr__ = __str__

        cycle: dict[str, Any] = {}
        cycle["self"] = cycle
        service = self.start()
        self.logger.info("cyclic {n}", n=1, cycle=cycle)
        self.logger.info("object {n}", n=2, thing=object(), raw=b"\xff\x00")
        self.logger.info("rate {rate}", rate=math.nan, peak=math.inf)
        self.logger.info("hostile {thing}", thing=Hostile())
        self.logger.info("missing field {nowhere}")
        records = self.records(service)
        self.assertEqual(len(records), 5)
        self.assertEqual(records[0]["text"], "cyclic 1")
        self.assertIn("unserializable", records[0])
        self.assertEqual(records[1]["thing"], {"unpersistable": True})
        self.assertEqual(records[1]["raw"], "\xff\x00")
        self.assertEqual((records[2]["rate"], records[2]["peak"]), ("nan", "inf"))
        self.assertEqual(records[2]["text"], "rate nan")
        self.assertIn("Unable to format event", records[3]["text"])
        self.assertIn("Unable to format event", records[4]["text"])
        self.assertEqual(service.write_failures, 0)

    def test_shadowed_fields_kept(self) -> None:
        """a field named text, level or time is kept as field_<name>, and formats with its value"""
        line = _strict_json(format_log_line(
            {"log_format": "said {text} at {time}", "text": "hi", "time": 5, "level": "x",
             "log_level": LogLevel.info, "log_time": 0.0}, 0.0))
        self.assertEqual(line["text"], "said hi at 5")
        self.assertEqual((line["field_text"], line["field_time"], line["field_level"]),
                         ("hi", 5, "x"))
        self.assertEqual(line["level"], "info")

    def test_event_not_modified(self) -> None:
        """formatting a line leaves the event as other observers see it"""
        event: LogEvent = {"log_format": "x {y}", "y": 1, "text": "t", "log_level": LogLevel.info}
        before = dict(event)
        format_log_line(event, 0.0)
        self.assertEqual(event, before)

    def test_invalid_settings(self) -> None:
        """bad sizes, counts, levels, delays and file names are refused at construction"""
        for bad in ({"rotate_length_bytes": 0}, {"rotate_length_bytes": 1.5},
                    {"max_rotated_files": -1}, {"max_rotated_files": True},
                    {"min_level": "info"}, {"retry_after_s": -1}, {"retry_after_s": math.nan},
                    {"name": "../escape.json"}, {"name": ""}, {"name": ".."}):
            self.assertRaises(ValueError, LogFileService, self.clock, self.logdir,
                              publisher=self.publisher, **bad)

    def test_stop_removes_observer(self) -> None:
        """after stopService nothing more is written"""
        service = self.start()
        self.logger.info("before")
        service.stopService()
        self.logger.info("after")
        self.assertEqual([r["text"] for r in self.records(service)], ["before"])

    def test_appends_across_restarts(self) -> None:
        """a restarted service appends to the existing file"""
        service = self.start()
        self.logger.info("first run")
        service.stopService()
        self.start()
        self.logger.info("second run")
        self.assertEqual([r["text"] for r in self.records(service)], ["first run", "second run"])


class RotationTests(ServiceTestCase):
    """Files rotate at the size bound and only max_rotated_files old ones are kept."""

    def test_rotation_at_bound(self) -> None:
        """no file exceeds the bound, at most max_rotated_files remain, newest lines in order"""
        service = self.start(rotate_length_bytes=2000, max_rotated_files=3)
        for n in range(300):
            self.logger.info("event {n}", n=n)
        names = sorted(os.listdir(self.logdir))
        self.assertEqual(names, ["tbgpool.log.json", "tbgpool.log.json.1", "tbgpool.log.json.2",
                                 "tbgpool.log.json.3"])
        numbers: list[int] = []
        for path in reversed(service.log_file.rotated_paths()):  # oldest first
            self.assertLessEqual(os.path.getsize(path), 2000)
            numbers.extend(r["n"] for r in _read_records(path))
        self.assertLessEqual(os.path.getsize(service.path), 2000)
        numbers.extend(r["n"] for r in self.records(service))
        self.assertEqual(numbers, list(range(numbers[0], 300)))
        self.assertGreater(numbers[0], 0)  # the oldest lines were dropped
        self.assertEqual(service.write_failures, 0)

    def test_stale_rotated_files_removed(self) -> None:
        """old files numbered beyond the limit (a lowered setting) go at the next rotation"""
        os.makedirs(self.logdir)
        for suffix in ("7", "2", "x", "0"):
            with open(os.path.join(self.logdir, "tbgpool.log.json." + suffix), "w") as f:
                f.write("{}\n")
        service = self.start(rotate_length_bytes=500, max_rotated_files=2)
        for n in range(10):
            self.logger.info("event {n}", n=n)
        names = set(os.listdir(self.logdir))
        self.assertNotIn("tbgpool.log.json.7", names)
        self.assertLessEqual({"tbgpool.log.json.1", "tbgpool.log.json.2"}, names)
        self.assertNotIn("tbgpool.log.json.3", names)
        # Files that are not ours are left alone.
        self.assertLessEqual({"tbgpool.log.json.x", "tbgpool.log.json.0"}, names)
        self.assertEqual(service.write_failures, 0)

    def test_no_rotated_files_kept(self) -> None:
        """max_rotated_files 0 deletes the full file instead of keeping it"""
        service = self.start(rotate_length_bytes=500, max_rotated_files=0)
        for n in range(20):
            self.logger.info("event {n}", n=n)
        self.assertEqual(os.listdir(self.logdir), ["tbgpool.log.json"])
        self.assertEqual(self.records(service)[-1]["n"], 19)

    def test_existing_large_file_rotates_first(self) -> None:
        """a file already at the bound when the service starts is rotated before the next line"""
        os.makedirs(self.logdir)
        with open(os.path.join(self.logdir, "tbgpool.log.json"), "w") as f:
            f.write('{"old": true}\n' * 100)
        service = self.start(rotate_length_bytes=1000, max_rotated_files=1)
        self.logger.info("new")
        self.assertEqual([r["text"] for r in self.records(service)], ["new"])
        self.assertEqual(len(_read_records(service.path + ".1")), 100)

    def test_single_long_line(self) -> None:
        """a line longer than the bound is still written whole, in a file of its own"""
        service = self.start(rotate_length_bytes=100, max_rotated_files=2)
        self.logger.info("short")
        self.logger.info("long {blob}", blob="x" * 500)
        self.assertEqual([r["text"] for r in self.records(service)], ["long " + "x" * 500])
        self.assertEqual([r["text"] for r in _read_records(service.path + ".1")], ["short"])

    def test_rotating_file_text_opener(self) -> None:
        """a text-mode opener gets text, and sizes are counted in UTF-8 bytes"""
        os.makedirs(self.logdir)
        path = os.path.join(self.logdir, "plain.log")
        log_file = SizeRotatingFile(path, 10, 1, lambda p: open(p, "a", encoding="utf-8"))
        log_file.write("\u00e9\u00e9\u00e9\n")  # 7 bytes
        log_file.write("\u00e9\u00e9\n")  # 5 more: crosses 10, so rotates first
        log_file.close()
        with open(path + ".1", encoding="utf-8") as f:
            self.assertEqual(f.read(), "\u00e9\u00e9\u00e9\n")
        with open(path, encoding="utf-8") as f:
            self.assertEqual(f.read(), "\u00e9\u00e9\n")


class FailingDiskTests(ServiceTestCase):
    """A full or broken log disk loses lines, counts them, and never raises."""

    def _disk_full_burst(self, mode: str) -> None:
        opener = _Opener(mode)
        service = self.start(opener=opener, retry_after_s=5.0)
        for n in range(5000):
            self.logger.info("share {n} from {worker}", n=n, worker=HOSTILE_WORKER)
        self.assertEqual(service.write_failures, 5000)
        self.assertEqual(len(self.reports), 1)
        self.assertIn("No space left on device", self.reports[0])
        self.assertIn(service.path, self.reports[0])
        # One open at start: during the pause no syscall is spent per event.
        self.assertEqual(opener.calls, 1)

        self.clock.advance(4.9)
        self.logger.info("still paused")
        self.assertEqual(opener.calls, 1)
        self.clock.advance(0.1)
        self.logger.info("retried, still full")
        self.assertEqual(opener.calls, 2)
        self.assertEqual(service.write_failures, 5002)
        self.assertEqual(len(self.reports), 1)  # the same burst

        opener.full = False
        self.clock.advance(5.0)
        self.logger.info("disk has room again")
        self.logger.info("and stays writable")
        self.assertEqual(service.write_failures, 5002)
        recovery, resumed, next_line = self.records(service)
        self.assertEqual(recovery["lines_lost"], 5002)
        self.assertEqual(recovery["level"], "warn")
        self.assertEqual(recovery["text"], f"log file {service.path} writable again: "
                                           f"5002 lines were lost")
        self.assertEqual(resumed["text"], "disk has room again")
        self.assertEqual(next_line["text"], "and stays writable")
        self.assertEqual(len(self.reports), 2)
        self.assertIn("writable again; 5002 lines lost", self.reports[1])

    def test_recovery_adds_no_blank_line(self) -> None:
        """recovering onto a file that ends cleanly adds no empty line"""
        opener = _Opener(full=False)
        service = self.start(opener=opener, retry_after_s=1.0)
        self.logger.info("before")
        service.log_file.close()
        opener.full = True
        self.logger.info("lost")
        opener.full = False
        self.clock.advance(1.0)
        self.logger.info("after")
        with open(service.path, encoding="utf-8") as f:
            content = f.read()
        self.assertNotIn("\n\n", content)
        self.assertEqual([r["text"] for r in _read_records(service.path)][0::2],
                         ["before", "after"])

    def test_cut_line_kept_apart(self) -> None:
        """a line cut short by the failure is ended before the recovery line"""
        os.makedirs(self.logdir)
        opener = _Opener(full=True)
        service = self.start(opener=opener, retry_after_s=1.0)
        self.logger.info("lost")
        with open(service.path, "w") as f:
            f.write('{"text": "cut sh')  # what a short write on a full disk leaves
        opener.full = False
        self.clock.advance(1.0)
        self.logger.info("after")
        with open(service.path, encoding="utf-8") as f:
            cut, recovery, after, end = f.read().split("\n")
        self.assertEqual(cut, '{"text": "cut sh')
        self.assertEqual(_strict_json(recovery)["lines_lost"], 1)
        self.assertEqual(_strict_json(after)["text"], "after")
        self.assertEqual(end, "")

    def test_cut_line_then_rotation(self) -> None:
        """when recovery rotates, the cut line stays in the old file and the new one is clean"""
        os.makedirs(self.logdir)
        opener = _Opener(full=True)
        service = self.start(opener=opener, retry_after_s=1.0, rotate_length_bytes=600)
        self.logger.info("lost")
        with open(service.path, "w") as f:
            f.write("x" * 500)
        opener.full = False
        self.clock.advance(1.0)
        self.logger.info("after")
        with open(service.path + ".1", encoding="utf-8") as f:
            self.assertEqual(f.read(), "x" * 500)
        with open(service.path, encoding="utf-8") as f:
            self.assertFalse(f.read().startswith("\n"))
        self.assertEqual([r["text"] for r in self.records(service)][-1], "after")

    def test_disk_full_binary(self) -> None:
        """/dev/full in binary mode: nothing raises, losses counted, one report, recovery line"""
        self._disk_full_burst("ab")

    def test_disk_full_text(self) -> None:
        """/dev/full in text mode behaves the same"""
        self._disk_full_burst("a")

    def test_second_burst_reported_again(self) -> None:
        """after a recovery, a new failure is a new burst with its own report"""
        opener = _Opener(full=True)
        service = self.start(opener=opener, retry_after_s=1.0)
        self.logger.info("lost")
        opener.full = False
        self.clock.advance(1.0)
        self.logger.info("saved")
        opener.full = True
        service.log_file.close()  # the next write reopens, onto the full disk
        self.logger.info("lost again")
        self.assertEqual(service.write_failures, 2)
        self.assertEqual(len([r for r in self.reports if "cannot write" in r]), 2)

    def test_unwritable_at_start(self) -> None:
        """a file that cannot be opened at start does not stop the service starting"""
        calls: list[str] = []

        def refuse(path: str) -> IO[Any]:
            calls.append(path)
            raise PermissionError(13, "Permission denied", path)

        service = self.start(opener=refuse)
        self.assertTrue(service.running)
        self.logger.error("nowhere to go")
        self.assertEqual(service.write_failures, 1)
        self.assertEqual(len(calls), 1)
        self.assertIn("Permission denied", self.reports[0])

    def test_any_exception_from_file(self) -> None:
        """non-OSError exceptions from opener or handle are contained the same way"""
        class Broken:
            def write(self, data: object) -> None:
                raise ValueError("I/O operation on closed file")

            def tell(self) -> int:
                raise RuntimeError("no tell")

            def close(self) -> None:
                raise RuntimeError("no close either")

        opened: list[Broken] = []

        def opener(path: str) -> Any:
            opened.append(Broken())
            return opened[-1]

        service = self.start(opener=opener, retry_after_s=0)
        for _ in range(3):
            self.logger.info("event")
        self.assertEqual(service.write_failures, 3)
        self.assertEqual(len(opened), 3)  # retry_after_s 0: every event retries
        self.assertEqual(len(self.reports), 1)

    def test_directory_deleted(self) -> None:
        """a log directory removed under the pool is recreated at the next retry"""
        service = self.start(rotate_length_bytes=600, retry_after_s=2.0)
        self.logger.info("before")
        shutil.rmtree(self.logdir)
        for n in range(20):  # the next rotation finds no directory
            self.logger.info("event {n}", n=n)
        self.assertGreater(service.write_failures, 0)
        lost = service.write_failures
        self.clock.advance(2.0)
        self.logger.info("after")
        records = self.records(service)
        self.assertEqual(records[0]["lines_lost"], lost)
        self.assertEqual(records[-1]["text"], "after")

    def test_no_recursion_into_logger(self) -> None:
        """a reporter that logs (to the same publisher) neither recurses nor raises"""
        other: list[LogEvent] = []
        self.publisher.addObserver(cast(ILogObserver, other.append))
        logger = self.logger

        def report_by_logging(message: str) -> None:
            logger.error("report: {message}", message=message)

        service = self.start(opener=_Opener(), report=report_by_logging)
        self.logger.info("lost")
        # The report's own event was seen by the other observer and counted as lost here.
        self.assertEqual(service.write_failures, 2)
        texts = [e.get("log_format") for e in other]
        self.assertEqual(texts.count("report: {message}"), 1)
        # The publisher never had to complain about (or drop) our observer.
        self.assertEqual([e for e in other if e.get("log_namespace") != "tbgpool.test"], [])
        self.logger.info("still observed")
        self.assertEqual(service.write_failures, 3)

    def test_reporter_that_raises(self) -> None:
        """a reporter that raises is ignored"""
        def broken(message: str) -> None:
            raise OSError("stderr is gone too")

        service = self.start(opener=_Opener(), report=broken)
        self.logger.info("lost")
        self.assertEqual(service.write_failures, 1)

    def test_clock_jumping_back(self) -> None:
        """a clock set back does not stretch the pause beyond retry_after_s"""
        opener = _Opener()
        service = self.start(opener=opener, retry_after_s=5.0)
        self.logger.info("lost")
        self.clock.rightNow -= 3600
        opener.full = False
        self.logger.info("written")
        self.assertEqual([r.get("text") for r in self.records(service)][-1], "written")
        self.assertEqual(service.write_failures, 1)


class MiningWithFullLogDiskTests(SynchronousTestCase):
    """The real pool keeps accepting shares and submitting blocks while its log disk is full."""

    def test_mining_continues(self) -> None:
        """valid shares and a block are accepted with every log line failing on /dev/full"""
        logdir = self.mktemp()
        harness = PoolHarness(logdir)
        reports: list[str] = []
        service = LogFileService(harness.clock, os.path.join(logdir, "log"),
                                 publisher=globalLogPublisher, min_level=LogLevel.debug,
                                 opener=_Opener(), report=reports.append)
        service.startService()
        self.addCleanup(service.stopService)

        now = int(harness.clock.seconds())
        harness.source.push(make_template(bits=HARD_BITS, curtime=now))
        session, connection, extranonce1, _ = harness.working_session(REGTEST_P2WPKH + ".rig")
        job = last_job(connection)
        share_target = target_for_difficulty(last_difficulty(connection))
        for n in range(5):
            solution = mine(job, extranonce1, f"{n:016x}", share_target)
            accepted = harness.request(session, "mining.submit", REGTEST_P2WPKH + ".rig",
                                       job.job_id, solution.extranonce2, solution.ntime,
                                       solution.nonce)
            self.assertIs(accepted, True)
        self.assertEqual(harness.source.submitted, [])

        harness.source.push(make_template(bits=REGTEST_BITS, previous_block_hash="22" * 32,
                                          height=201, curtime=now))
        job = last_job(connection)
        solution = mine(job, extranonce1, "00" * 8, bits_to_target(REGTEST_BITS))
        accepted = harness.request(session, "mining.submit", REGTEST_P2WPKH + ".rig",
                                   job.job_id, solution.extranonce2, solution.ntime,
                                   solution.nonce)
        self.assertIs(accepted, True)
        [block_hex] = harness.source.submitted
        self.assertEqual(bytes.fromhex(block_hex)[:80], solution.header)
        [outcome] = harness.pool.outcomes
        self.assertTrue(outcome.accepted)

        user = harness.stats.user(REGTEST_P2WPKH)
        assert user is not None
        self.assertEqual(user.shares_accepted, 6)
        self.assertGreater(service.write_failures, 0)
        self.assertEqual(len(reports), 1)
        # Still attached to the global publisher: a new event is counted too.
        before = service.write_failures
        Logger(namespace="tbgpool.test").info("one more")
        self.assertEqual(service.write_failures, before + 1)


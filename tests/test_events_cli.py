"""tbgpool-events: decoder, filters, printer, Redis forwarding (fake and real), the whole command."""

from __future__ import annotations

import io
import json
import os
import shutil
import signal
import socket
import stat
import sys
import tempfile
from collections.abc import Callable
from typing import Any

import txredisapi
from twisted.internet import defer, protocol
from twisted.internet.task import Clock, deferLater
from twisted.python.failure import Failure
from twisted.trial.unittest import SkipTest, SynchronousTestCase, TestCase

from tbgpool.events.cli import build_parser, main
from tbgpool.events.collector import (
    Collector,
    CollectorError,
    claim_socket_path,
    listen_collector,
    release_socket_path,
)
from tbgpool.events.decoder import EventDecoder, EventFilter
from tbgpool.events.envelope import Event, encode_event, parse_line
from tbgpool.events.printer import Printer, format_clock, format_event, format_hashrate, quote
from tbgpool.events.redis_connection import RedisConnection, RedisTarget, parse_redis_url
from tbgpool.events.redis_stream import RedisStreamWriter
from tests.test_events_emitter import ADDRESS, one_of_each_type, share

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
INSTANCE = "pool-a:4242"
TS = 1_732_651_200_123_456


def line(seq: int, event_type: str = "share_submitted", instance: str = INSTANCE,
         data: dict[str, Any] | None = None) -> bytes:
    """One encoded event line."""
    if data is None:
        data = one_of_each_type()[event_type]
    return encode_event(event_type, TS + seq, instance, seq, data)


def event(seq: int, event_type: str = "share_submitted", **kwargs: Any) -> Event:
    """One parsed event."""
    return parse_line(line(seq, event_type, **kwargs).rstrip(b"\n"))


def short_tempdir(case: SynchronousTestCase) -> str:
    """A temp dir under /tmp with a short path (AF_UNIX paths hold 107 bytes), removed after."""
    directory = tempfile.mkdtemp(dir="/tmp", prefix="evc")
    case.addCleanup(shutil.rmtree, directory, True)
    return directory


def send_datagram(path: str, payload: bytes) -> None:
    """Send one datagram to the socket at ``path``."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sender:
        sender.sendto(payload, path)


async def wait_for(predicate: Callable[[], object], what: str, steps: int = 1500) -> None:
    """Let the real reactor run (10 ms at a time) until ``predicate()`` is true."""
    from twisted.internet import reactor

    for _ in range(steps):
        if predicate():
            return
        await deferLater(reactor, 0.01, lambda: None)
    raise AssertionError(f"gave up waiting for {what}")


class DecoderTests(SynchronousTestCase):
    """Datagrams become events; gaps and restarts are found; hostile lines are counted."""

    def setUp(self) -> None:
        self.gaps: list[tuple[str, int, int]] = []
        self.bad: list[tuple[str, bytes]] = []
        self.resets: list[tuple[str, int, int]] = []
        self.decoder = EventDecoder(
            lambda *gap: self.gaps.append(gap),
            lambda *bad: self.bad.append(bad),
            lambda *reset: self.resets.append(reset),
            max_line_bytes=10_000,
            max_instances=3,
        )

    def test_batch_of_lines(self) -> None:
        """Every newline-terminated line of a datagram is an event, in order."""
        events = self.decoder.decode(line(1) + line(2, "block_found") + line(3))
        self.assertEqual([(e.seq, e.event_type) for e in events],
                         [(1, "share_submitted"), (2, "block_found"), (3, "share_submitted")])
        self.assertEqual(events[0].data, one_of_each_type()["share_submitted"])
        self.assertEqual(events[0].raw, line(1).rstrip(b"\n"))
        self.assertEqual((self.decoder.events_received, self.gaps, self.bad), (3, [], []))

    def test_last_line_without_newline_and_empty_lines(self) -> None:
        """A final line lacking its newline still counts; empty lines are skipped."""
        events = self.decoder.decode(b"\n" + line(1) + b"\n\n" + line(2).rstrip(b"\n"))
        self.assertEqual([e.seq for e in events], [1, 2])
        self.assertEqual(self.bad, [])

    def test_gaps_per_instance(self) -> None:
        """A jump in seq is a gap of exactly the missing numbers; instances are apart."""
        self.decoder.decode(line(1) + line(2) + line(5))
        self.decoder.decode(line(10, instance="other") + line(11, instance="other"))
        self.decoder.decode(line(6) + line(9))
        self.assertEqual(self.gaps, [(INSTANCE, 3, 4), (INSTANCE, 7, 8)])
        self.assertEqual(self.decoder.events_missed, 4)

    def test_restart_is_reported_not_a_gap(self) -> None:
        """seq going back means a restart under the same id: reported, then tracking resumes."""
        self.decoder.decode(line(7) + line(1) + line(2) + line(4))
        self.assertEqual(self.resets, [(INSTANCE, 7, 1)])
        self.assertEqual(self.gaps, [(INSTANCE, 3, 3)])

    def test_instances_are_bounded(self) -> None:
        """Only max_instances are tracked; the least recently heard is forgotten."""
        for name in ("a", "b", "c", "d"):
            self.decoder.decode(line(1, instance=name))
        self.decoder.decode(line(5, instance="a"))  # forgotten: no gap reported
        self.decoder.decode(line(5, instance="d"))
        self.assertEqual(self.gaps, [(("d", 2, 4))])

    def test_hostile_lines_are_counted_never_raised(self) -> None:
        """Bad UTF-8, bad JSON, non-objects, bad envelopes, huge and deep lines are all bad lines."""
        good = json.loads(line(1))
        hostile = [
            b"\xff\xfe\xfd",
            b"not json",
            b"[1, 2, 3]",
            b'"just a string"',
            b"null",
            b"{" * 5000,
            b"[" * 5000 + b"]" * 5000,
            b"x" * 20_000,
            b'{"event":"share_submitted","timestamp":NaN,"instance":"a","seq":1,"data":{}}',
            b'{"seq":' + b"9" * 5000 + b"}",
            json.dumps(dict(good, seq=0)).encode(),
            json.dumps(dict(good, seq=True)).encode(),
            json.dumps(dict(good, seq="1")).encode(),
            json.dumps(dict(good, timestamp=-1)).encode(),
            json.dumps(dict(good, timestamp=1.5)).encode(),
            json.dumps(dict(good, instance="")).encode(),
            json.dumps(dict(good, instance="i" * 300)).encode(),
            json.dumps(dict(good, event="Share Submitted")).encode(),
            json.dumps(dict(good, event=None)).encode(),
            json.dumps(dict(good, data=[])).encode(),
            json.dumps({k: v for k, v in good.items() if k != "data"}).encode(),
        ]
        events = self.decoder.decode(b"\n".join(hostile) + b"\n" + line(2))
        self.assertEqual([e.seq for e in events], [2])
        self.assertEqual(self.decoder.bad_lines, len(hostile))
        self.assertEqual(len(self.bad), len(hostile))
        reasons = [reason for reason, _ in self.bad]
        self.assertIn("not UTF-8", reasons[0])
        self.assertIn("invalid JSON", reasons[1])
        self.assertIn("not a JSON object", reasons[2])
        self.assertIn("too long", reasons[7])

    def test_lone_surrogate_escapes_are_accepted(self) -> None:
        """A JSON \\ud800 escape is valid JSON: the event is decoded, not refused."""
        raw = line(1).replace(b'"worker":"rig1"', b'"worker":"\\ud800x"')
        [decoded] = self.decoder.decode(raw)
        self.assertEqual(decoded.data["worker"], "\ud800x")


class FilterTests(SynchronousTestCase):
    """--type, --user and --worker: types are alternatives, the conditions all apply."""

    def test_no_conditions_pass_everything(self) -> None:
        """An empty filter passes every event, including ones without user or worker."""
        self.assertTrue(EventFilter().matches(event(1, "new_block_network")))
        self.assertTrue(EventFilter([]).matches(event(1)))

    def test_types(self) -> None:
        """Only the listed types pass."""
        only = EventFilter(["block_found", "share_submitted"])
        self.assertTrue(only.matches(event(1)))
        self.assertTrue(only.matches(event(1, "block_found")))
        self.assertFalse(only.matches(event(1, "hashrate_update")))

    def test_user_and_worker(self) -> None:
        """user and worker must both match; events without them do not."""
        rig2 = event(1, data=share("rig2"))
        self.assertTrue(EventFilter(user=ADDRESS).matches(rig2))
        self.assertFalse(EventFilter(user="bc1qother").matches(rig2))
        self.assertTrue(EventFilter(user=ADDRESS, worker="rig2").matches(rig2))
        self.assertFalse(EventFilter(user=ADDRESS, worker="rig1").matches(rig2))
        self.assertFalse(EventFilter(user=ADDRESS).matches(event(1, "new_block_network")))
        self.assertFalse(EventFilter(["block_found"], user=ADDRESS).matches(rig2))


class PrinterTests(SynchronousTestCase):
    """Readable lines with hostile strings escaped; --json prints lines unchanged."""

    def test_readable_line(self) -> None:
        """HH:MM:SS.ffffff TYPE key=value..., source left out."""
        text = format_event(event(1), utc=True)
        self.assertEqual(
            text,
            "20:00:00.123457 share_submitted user=" + ADDRESS + " worker=rig1 ip=203.0.113.7 "
            "diff=65536.0 share_diff=131072.5 valid=true reason=null job_id=1a2b nonce=deadbeef "
            "nonce2=0000000000000001 ntime=6553f100 version=20000000 height=820000 block=false",
        )

    def test_hashrates_in_si_units(self) -> None:
        """Hashrate fields print with an SI prefix."""
        text = format_event(event(1, "hashrate_update"), utc=True)
        self.assertIn(" hashrate_1m=1.2TH/s hashrate_5m=1.1TH/s hashrate_1h=1TH/s hashrate_1d=0H/s",
                      text)
        self.assertEqual(format_hashrate(999.0), "999H/s")
        self.assertEqual(format_hashrate(1.5e21), "1.5ZH/s")
        self.assertEqual(format_hashrate(1e30), "1e+09ZH/s")

    def test_hostile_strings_cannot_reach_the_terminal_raw(self) -> None:
        """Escapes, newlines, RTL overrides, quotes and spaces are quoted and escaped."""
        hostile = 'a b\n\x1b[2J\u202eevil"\\\x7f\U000e0001'
        text = format_event(event(1, data=share(hostile)), utc=True)
        self.assertIn('worker="a b\\x0a\\x1b[2J\\u202eevil\\"\\\\\\x7f\\U000e0001"', text)
        self.assertNotIn("\x1b", text)
        self.assertNotIn("\n", text)
        self.assertNotIn("\u202e", text)
        self.assertEqual(quote("矿工🚀"), '"矿工🚀"')  # printable non-ASCII stays readable

    def test_hostile_keys_and_nested_values(self) -> None:
        """Unexpected keys and nested values from a sender are escaped too."""
        odd = event(1, data={"\x1bkey": [1, {"a": "\n"}], "plain": "ok", "source": "hosted"})
        self.assertEqual(format_event(odd, utc=True).split(" ", 2)[2],
                         '"\\x1bkey"="[1,{\\"a\\":\\"\\\\n\\"}]" plain=ok')

    def test_deeply_nested_value(self) -> None:
        """A value nested as deep as the JSON parser allows still prints without raising."""
        deep = b"[" * 900 + b"]" * 900
        raw = line(1, data={"x": 1}).replace(b'{"x":1}', b'{"x":' + deep + b"}")
        text = format_event(parse_line(raw.rstrip(b"\n")), utc=True)
        self.assertTrue(text.endswith('x="' + "[" * 900 + "]" * 900 + '"'), text[-40:])

    def test_clock_out_of_range(self) -> None:
        """A timestamp no calendar holds prints as its digits."""
        self.assertEqual(format_clock(10**30, utc=True), str(10**30))
        self.assertEqual(format_clock(0, utc=True), "00:00:00.000000")

    def test_json_mode_prints_the_line_unchanged(self) -> None:
        """--json writes the received bytes and a newline."""
        out = io.BytesIO()
        printer = Printer(out, json_lines=True)
        raw = line(3).replace(b'"worker":"rig1"', b'"worker":"\\u00e9\\n"')
        printer.print_event(parse_line(raw.rstrip(b"\n")))
        printer.flush()
        self.assertEqual(out.getvalue(), raw)

    def test_readable_mode_writes_utf8(self) -> None:
        """Readable output is UTF-8 whatever the locale; lone surrogates become U+FFFD."""
        out = io.BytesIO()
        printer = Printer(out, utc=True)
        printer.print_event(event(1, data=share("é\ud800")))
        self.assertIn('worker="é\ufffd"'.encode(), out.getvalue())


class SocketPathTests(SynchronousTestCase):
    """The collector replaces only stale sockets."""

    def setUp(self) -> None:
        self.directory = short_tempdir(self)
        self.path = os.path.join(self.directory, "e.sock")

    def test_missing_path_is_fine(self) -> None:
        """Nothing there: nothing to do."""
        claim_socket_path(self.path)
        self.assertFalse(os.path.exists(self.path))

    def test_regular_file_is_refused(self) -> None:
        """A file that is not a socket is never removed."""
        with open(self.path, "w") as f:
            f.write("precious")
        with self.assertRaises(CollectorError) as caught:
            claim_socket_path(self.path)
        self.assertIn("not a socket", str(caught.exception))
        self.assertTrue(os.path.isfile(self.path))

    def test_stale_socket_is_removed(self) -> None:
        """A socket file nothing is bound to is removed."""
        stale = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        stale.bind(self.path)
        stale.close()
        claim_socket_path(self.path)
        self.assertFalse(os.path.exists(self.path))

    def test_live_collector_is_refused(self) -> None:
        """A socket another process listens on is left alone."""
        live = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        live.bind(self.path)
        self.addCleanup(live.close)
        with self.assertRaises(CollectorError) as caught:
            claim_socket_path(self.path)
        self.assertIn("another collector", str(caught.exception))
        self.assertTrue(os.path.exists(self.path))

    def test_release_only_our_socket(self) -> None:
        """release_socket_path removes the file only if it is still the same inode."""
        with open(self.path, "w"):
            pass
        release_socket_path(self.path, os.lstat(self.path).st_ino + 1)
        self.assertTrue(os.path.exists(self.path))
        release_socket_path(self.path, os.lstat(self.path).st_ino)
        self.assertFalse(os.path.exists(self.path))


class CollectorTests(TestCase):
    """The collector protocol on the real reactor, receiving real datagrams."""

    def setUp(self) -> None:
        self.directory = short_tempdir(self)
        self.path = os.path.join(self.directory, "e.sock")
        self.reports: list[str] = []
        self.out = io.BytesIO()

    def listen(self, collector: Collector, mode: int = 0o660) -> None:
        port = listen_collector(reactor_(), self.path, collector, mode)
        self.addCleanup(port.stopListening)

    async def test_receives_filters_prints_and_reports(self) -> None:
        """Datagrams in; matching events printed; gaps and bad lines reported on stderr."""
        from twisted.internet import reactor

        collector = Collector(reactor, self.reports.append,
                              event_filter=EventFilter(["share_submitted"]),
                              printer=Printer(self.out, json_lines=True))
        self.listen(collector)
        self.assertEqual(stat.S_IMODE(os.lstat(self.path).st_mode), 0o660)
        send_datagram(self.path, line(1) + line(2, "hashrate_update") + line(3))
        send_datagram(self.path, b"\xff garbage\n" + line(6))
        await wait_for(lambda: collector.decoder.events_received == 4, "four events")
        printed = self.out.getvalue().splitlines()
        self.assertEqual([json.loads(p)["seq"] for p in printed], [1, 3, 6])
        self.assertEqual(collector.events_passed, 3)
        self.assertIn("gap: instance pool-a:4242 missed seq 4..5 (2 events)", self.reports)
        self.assertTrue(any(r.startswith("bad line (not UTF-8") for r in self.reports))
        self.assertIn("4 events received, 3 passed the filters, 1 bad lines, 2 missing (gaps)",
                      collector.summary())

    async def test_large_datagram_is_read_whole(self) -> None:
        """A 65,000-byte datagram of events arrives whole (the read buffer is larger)."""
        from twisted.internet import reactor

        collector = Collector(reactor, self.reports.append, printer=Printer(self.out, True))
        self.listen(collector, mode=0o600)
        self.assertEqual(stat.S_IMODE(os.lstat(self.path).st_mode), 0o600)
        batch = b""
        seq = 0
        while len(batch) + len(line(seq + 1)) <= 65_000:
            seq += 1
            batch += line(seq)
        send_datagram(self.path, batch)
        await wait_for(lambda: collector.decoder.events_received == seq, "the whole batch")
        self.assertEqual(collector.decoder.bad_lines, 0)
        self.assertEqual(self.out.getvalue(), batch)

    def test_hostile_datagrams_do_not_stop_it(self) -> None:
        """Random bytes and broken envelopes are counted; later good events still pass."""
        collector = Collector(Clock(), self.reports.append, printer=Printer(self.out, True))
        for junk in (b"", b"\n\n\n", os.urandom(4096), b"{" * 100_000, b"\x00" * 70_000):
            collector.datagramReceived(junk, None)
        collector.datagramReceived(line(1), None)
        self.assertEqual(self.out.getvalue(), line(1))
        self.assertGreaterEqual(collector.decoder.bad_lines, 3)
        self.assertEqual(len([r for r in self.reports if r.startswith("bad line")]), 1)

    def test_bad_line_reports_are_rate_limited(self) -> None:
        """At most one bad-line report a second; the next says how many were not shown."""
        clock = Clock()
        collector = Collector(clock, self.reports.append)
        for _ in range(50):
            collector.datagramReceived(b"junk\n", None)
        clock.advance(1.0)
        collector.datagramReceived(b"junk\n", None)
        bad = [r for r in self.reports if r.startswith("bad line")]
        self.assertEqual(len(bad), 2)
        self.assertIn("and 49 more not shown", bad[1])

    def test_closed_output(self) -> None:
        """A broken pipe stops printing and tells the caller; nothing raises."""

        class BrokenPipe(io.BytesIO):
            def write(self, data: Any) -> int:
                raise BrokenPipeError(32, "Broken pipe")

        closed: list[bool] = []
        collector = Collector(Clock(), self.reports.append, printer=Printer(BrokenPipe()),
                              on_output_closed=lambda: closed.append(True))
        collector.datagramReceived(line(1), None)
        collector.datagramReceived(line(2), None)
        self.assertEqual(closed, [True])
        self.assertIsNone(collector.printer)
        self.assertEqual(collector.decoder.events_received, 2)

    def test_refuses_a_regular_file(self) -> None:
        """listen_collector will not replace a file that is not a socket."""
        with open(self.path, "w"):
            pass
        with self.assertRaises(CollectorError):
            listen_collector(reactor_(), self.path, Collector(Clock(), self.reports.append))


class FakeRedis:
    """execute_command answered by the test: Deferreds kept in order, or failing at once."""

    def __init__(self) -> None:
        self.calls: list[tuple[tuple[bytes, ...], defer.Deferred[Any]]] = []
        self.down = False

    def execute_command(self, *args: bytes) -> defer.Deferred[Any]:
        if self.down:
            return defer.fail(txredisapi.ConnectionError("not connected to Redis"))
        result: defer.Deferred[Any] = defer.Deferred()
        self.calls.append((args, result))
        return result

    def answer_all(self) -> None:
        calls, self.calls = self.calls, []
        for _, result in calls:
            result.callback("1-0")

    def seqs(self) -> list[int]:
        return [int(args[13]) for args, _ in self.calls]


class RedisStreamWriterTests(SynchronousTestCase):
    """The writer: XADD format, bounded buffer, retry in order, refused events, draining."""

    def setUp(self) -> None:
        self.clock = Clock()
        self.redis = FakeRedis()
        self.reports: list[str] = []

    def writer(self, **kwargs: Any) -> RedisStreamWriter:
        kwargs.setdefault("clock", self.clock)
        kwargs.setdefault("report", self.reports.append)
        return RedisStreamWriter(self.redis, "mining:", 1000, **kwargs)

    def test_xadd_command(self) -> None:
        """XADD <prefix><type> MAXLEN ~ N * event T ts TS instance ID seq N payload DATA."""
        writer = self.writer()
        writer.write(event(5))
        [(args, _)] = self.redis.calls
        self.assertEqual(args[:14], (
            b"XADD", b"mining:share_submitted", b"MAXLEN", b"~", b"1000", b"*",
            b"event", b"share_submitted", b"ts", str(TS + 5).encode(),
            b"instance", INSTANCE.encode(), b"seq", b"5",
        ))
        self.assertEqual(args[14], b"payload")
        self.assertEqual(json.loads(args[15]), one_of_each_type()["share_submitted"])
        self.redis.answer_all()
        self.assertEqual(writer.written, 1)

    def test_in_flight_is_bounded(self) -> None:
        """At most max_in_flight commands wait for Redis; the rest are buffered."""
        writer = self.writer(max_in_flight=4)
        for seq in range(1, 11):
            writer.write(event(seq))
        self.assertEqual(self.redis.seqs(), [1, 2, 3, 4])
        self.assertEqual(writer.buffered, 6)
        self.redis.answer_all()
        self.assertEqual(self.redis.seqs(), [5, 6, 7, 8])
        self.redis.answer_all()
        self.redis.answer_all()
        self.assertEqual((writer.written, writer.buffered), (10, 0))

    def test_redis_down_buffers_a_bounded_number_and_reports(self) -> None:
        """While down: oldest dropped beyond max_buffered; one report at start, one when caught up."""
        self.redis.down = True
        writer = self.writer(max_buffered=5, retry_s=1.0)
        for seq in range(1, 9):
            writer.write(event(seq))
        self.assertEqual((writer.buffered, writer.dropped, writer.written), (5, 3, 0))
        self.assertEqual(len(self.reports), 1)
        self.assertIn("cannot write (not connected to Redis)", self.reports[0])
        self.clock.advance(1.0)  # still down: retried, kept
        self.assertEqual((writer.buffered, len(self.reports)), (5, 1))
        self.redis.down = False
        self.clock.advance(1.0)
        self.assertEqual(self.redis.seqs(), [4, 5, 6, 7, 8])
        self.redis.answer_all()
        self.assertEqual((writer.written, writer.buffered), (5, 0))
        self.assertEqual(len(self.reports), 2)
        self.assertIn("caught up after 2.0 s; 3 events dropped meanwhile", self.reports[1])

    def test_lost_connection_resends_in_order(self) -> None:
        """Commands failing with a lost connection are sent again, oldest first."""
        writer = self.writer(retry_s=0.5)
        for seq in range(1, 4):
            writer.write(event(seq))
        calls, self.redis.calls = self.redis.calls, []
        for _, result in calls:
            result.errback(Failure(txredisapi.ConnectionError("Lost connection")))
        writer.write(event(4))
        self.assertEqual(self.redis.calls, [])
        self.clock.advance(0.5)
        self.assertEqual(self.redis.seqs(), [1, 2, 3, 4])
        self.redis.answer_all()
        self.assertEqual(writer.written, 4)

    def test_refused_event_is_counted_not_retried(self) -> None:
        """A Redis error reply (e.g. WRONGTYPE) counts the event as refused, reported once a minute."""
        writer = self.writer()
        writer.write(event(1))
        writer.write(event(2))
        for _, result in self.redis.calls:
            result.errback(Failure(txredisapi.ResponseError("WRONGTYPE Operation against a key")))
        self.assertEqual((writer.rejected, writer.written, writer.buffered), (2, 0, 0))
        self.assertEqual(len(self.reports), 1)
        self.assertIn("WRONGTYPE", self.reports[0])

    def test_drain_and_stop(self) -> None:
        """drain fires once all is written, or at its timeout; stop counts the rest as dropped."""
        writer = self.writer()
        writer.write(event(1))
        drained: list[object] = []
        writer.drain(2.0).addCallback(drained.append)
        self.assertEqual(drained, [])
        self.redis.answer_all()
        self.assertEqual(drained, [None])
        self.redis.down = True
        writer.write(event(2))
        writer.drain(2.0).addCallback(drained.append)
        self.clock.advance(2.0)
        self.assertEqual(drained, [None, None])
        self.assertEqual(writer.stop(), 1)
        self.assertEqual(writer.dropped, 1)
        writer.write(event(3))
        self.assertEqual(writer.buffered, 0)
        self.assertEqual(self.clock.getDelayedCalls(), [])


class RedisUrlTests(SynchronousTestCase):
    """--redis URLs: TCP with optional password and database, or a Unix socket."""

    def test_tcp(self) -> None:
        """redis://host:port/db with defaults for port and db."""
        self.assertEqual(parse_redis_url("redis://localhost"), RedisTarget(host="localhost"))
        self.assertEqual(parse_redis_url("redis://:s%40cret@10.0.0.5:6380/3"),
                         RedisTarget(host="10.0.0.5", port=6380, db=3, password="s@cret"))
        self.assertEqual(parse_redis_url("redis://[::1]:7000").host, "::1")

    def test_unix(self) -> None:
        """unix:///path.sock with an optional ?db=N."""
        self.assertEqual(parse_redis_url("unix:///run/redis.sock?db=2"),
                         RedisTarget(unix_path="/run/redis.sock", db=2))

    def test_bad_urls(self) -> None:
        """Other schemes, missing hosts, bad ports and databases are refused."""
        for url in ("http://localhost", "redis://", "redis://host:99999", "redis://host/x",
                    "unix://relative.sock", "unix:///r.sock?db=-1", "rediss://host",
                    "redis://host/１"):
            with self.assertRaises(ValueError, msg=url):
                parse_redis_url(url)


class CommandLineTests(SynchronousTestCase):
    """Argument checking happens before anything is bound."""

    def test_usage_errors_return_2(self) -> None:
        """Bad modes, types, numbers and Redis URLs exit with status 2."""
        stderr = sys.stderr
        sys.stderr = io.StringIO()
        try:
            for argv in (["--mode", "999"], ["--type", "nope"], ["--maxlen", "0"],
                         ["--redis", "http://x"], ["--json", "--quiet"]):
                self.assertEqual(main(argv), 2, argv)
        finally:
            sys.stderr = stderr

    def test_defaults(self) -> None:
        """The defaults: the pool's socket path, 0660, mining: prefix, 100000 cap."""
        options = build_parser().parse_args([])
        self.assertEqual((options.socket, options.mode, options.stream_prefix, options.maxlen),
                         ("/var/run/ckpool/events.sock", 0o660, "mining:", 100_000))


def redis_server() -> str:
    """redis-server's path; skip without it, unless under CI (env CI), where that fails."""
    path = shutil.which("redis-server")
    if path is None:
        if os.environ.get("CI"):
            raise AssertionError("redis-server is required in CI")
        raise SkipTest("redis-server not installed")
    return path


class _Process(protocol.ProcessProtocol):
    """Collects a child's output; ``ended`` fires with its exit status."""

    def __init__(self) -> None:
        self.out = b""
        self.err = b""
        self.ended: defer.Deferred[int | None] = defer.Deferred()

    def outReceived(self, data: bytes) -> None:
        self.out += data

    def errReceived(self, data: bytes) -> None:
        self.err += data

    def processEnded(self, reason: Failure) -> None:
        self.ended.callback(getattr(reason.value, "exitCode", None))


class RealRedisTestBase(TestCase):
    """A redis-server of our own on a Unix socket in a temp dir, killed after the test."""

    timeout = 60

    def setUp(self) -> None:
        self.executable = redis_server()
        self.directory = short_tempdir(self)
        self.redis_path = os.path.join(self.directory, "r.sock")
        self.reports: list[str] = []

    async def start_redis(self) -> None:
        """Start redis-server and wait until its socket answers."""
        from twisted.internet import reactor

        process = _Process()
        transport = reactor.spawnProcess(
            process, self.executable,
            [self.executable, "--port", "0", "--unixsocket", self.redis_path, "--save", "",
             "--appendonly", "no", "--dir", self.directory, "--stream-node-max-entries", "10"],
            env=dict(os.environ), path=self.directory,
        )

        async def kill() -> None:
            if process.ended.called:
                return
            transport.signalProcess("KILL")
            await process.ended

        self.addCleanup(lambda: defer.Deferred.fromCoroutine(kill()))
        await wait_for(lambda: self._answers(), "redis-server to listen")

    def _answers(self) -> bool:
        if not os.path.exists(self.redis_path):
            return False
        probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        probe.setblocking(False)
        try:
            probe.connect(self.redis_path)
            return True
        except OSError:
            return False
        finally:
            probe.close()

    def connection(self) -> RedisConnection:
        """A started RedisConnection to our server, stopped at cleanup."""
        from twisted.internet import reactor

        connection = RedisConnection(reactor, RedisTarget(unix_path=self.redis_path),
                                     report=self.reports.append, retry_policy=lambda n: 0.05)
        connection.start()
        self.addCleanup(connection.stop)
        return connection

    async def command(self, connection: RedisConnection, *args: Any) -> Any:
        """Run one command once the connection is up."""
        await wait_for(lambda: connection.connected, "the Redis connection")
        return await connection.execute_command(*args)


class RealRedisTests(RealRedisTestBase):
    """RedisStreamWriter against a real redis-server."""

    async def test_streams_hold_the_events_within_maxlen(self) -> None:
        """Events land in one stream per type with all fields; MAXLEN ~ keeps each one bounded."""
        from twisted.internet import reactor

        await self.start_redis()
        connection = self.connection()
        writer = RedisStreamWriter(connection, "test:", 50, clock=reactor,
                                   report=self.reports.append, retry_s=0.05)
        for seq in range(1, 301):
            writer.write(event(seq))
        writer.write(event(301, "block_found"))
        await wait_for(lambda: writer.written == 301, "all events written")
        length = await self.command(connection, "XLEN", "test:share_submitted")
        self.assertGreaterEqual(length, 50)
        self.assertLessEqual(length, 60)  # approximate trimming, by whole 10-entry nodes
        self.assertEqual(await self.command(connection, "XLEN", "test:block_found"), 1)
        entries = await self.command(connection, "XREVRANGE", "test:share_submitted", "+", "-",
                                     "COUNT", "1")
        [(entry_id, fields)] = entries
        flat = dict(zip(fields[::2], fields[1::2], strict=True))
        self.assertEqual(flat["event"], "share_submitted")
        self.assertEqual(flat["seq"], 300)
        self.assertEqual(flat["ts"], TS + 300)
        self.assertEqual(flat["instance"], INSTANCE)
        self.assertEqual(json.loads(flat["payload"]), one_of_each_type()["share_submitted"])
        self.assertEqual((writer.dropped, writer.rejected), (0, 0))

    async def test_redis_down_then_up(self) -> None:
        """Before Redis starts, events are buffered (oldest dropped); once up, the rest land."""
        from twisted.internet import reactor

        connection = self.connection()
        writer = RedisStreamWriter(connection, "test:", 1000, clock=reactor,
                                   report=self.reports.append, max_buffered=5, retry_s=0.05)
        for seq in range(1, 9):
            writer.write(event(seq))
        self.assertEqual((writer.dropped, writer.written), (3, 0))
        self.assertTrue(any("cannot write" in r for r in self.reports), self.reports)
        await self.start_redis()
        await wait_for(lambda: writer.written == 5, "the buffered events")
        entries = await self.command(connection, "XRANGE", "test:share_submitted", "-", "+")
        seqs = [dict(zip(f[::2], f[1::2], strict=True))["seq"] for _, f in entries]
        self.assertEqual(seqs, [4, 5, 6, 7, 8])
        await wait_for(lambda: any("caught up" in r for r in self.reports), "the recovery report")
        self.assertIn("3 events dropped meanwhile", self.reports[-1])

    async def test_redis_restart_mid_stream(self) -> None:
        """Redis killed and restarted: writes resume on the new server by themselves."""
        from twisted.internet import reactor

        await self.start_redis()
        connection = self.connection()
        writer = RedisStreamWriter(connection, "test:", 1000, clock=reactor,
                                   report=self.reports.append, retry_s=0.05)
        writer.write(event(1))
        await wait_for(lambda: writer.written == 1, "the first event")
        try:
            await self.command(connection, "SHUTDOWN", "NOSAVE")
        except txredisapi.ConnectionError:
            pass  # Redis closes the connection instead of answering SHUTDOWN
        await wait_for(lambda: not connection.connected, "the connection to drop")
        writer.write(event(2))
        await wait_for(lambda: any("cannot write" in r for r in self.reports), "the report")
        await self.start_redis()
        await wait_for(lambda: writer.written == 2, "the second event")
        self.assertEqual(await self.command(connection, "XLEN", "test:share_submitted"), 1)


class WholeCommandTests(RealRedisTestBase):
    """python -m tbgpool.events.cli as a process: real datagrams in, stdout/stderr/Redis out."""

    async def run_command(self, *argv: str) -> tuple[_Process, Any, str]:
        """Start the command on a socket in our temp dir; wait until it listens."""
        from twisted.internet import reactor

        path = os.path.join(self.directory, "e.sock")
        process = _Process()
        transport = reactor.spawnProcess(
            process, sys.executable,
            [sys.executable, "-m", "tbgpool.events.cli", "--socket", path, *argv],
            env={**os.environ, "PYTHONPATH": ROOT}, path=ROOT,
        )

        async def kill() -> None:
            if not process.ended.called:
                transport.signalProcess("KILL")
                await process.ended

        self.addCleanup(lambda: defer.Deferred.fromCoroutine(kill()))
        await wait_for(lambda: b"listening on" in process.err or process.ended.called,
                       "the command to listen")
        self.assertIn(b"listening on", process.err)
        return process, transport, path

    async def stop(self, process: _Process, transport: Any) -> int | None:
        """SIGTERM, then the exit status."""
        transport.signalProcess(signal.SIGTERM.name[3:])
        status: int | None = await process.ended
        return status

    async def test_prints_json_filters_and_reports_gaps(self) -> None:
        """--json --type: matching lines unchanged on stdout; gaps on stderr; clean exit."""
        process, transport, path = await self.run_command("--json", "--type", "share_submitted")
        self.assertEqual(stat.S_IMODE(os.lstat(path).st_mode), 0o660)
        send_datagram(path, line(1) + line(2, "hashrate_update") + line(3))
        send_datagram(path, b"{broken\n" + line(7))
        await wait_for(lambda: process.out.count(b"\n") == 3, "three printed events")
        self.assertEqual(process.out, line(1) + line(3) + line(7))
        self.assertEqual(await self.stop(process, transport), 0)
        errors = process.err.decode()
        self.assertIn("gap: instance pool-a:4242 missed seq 4..6 (3 events)", errors)
        self.assertIn("bad line (invalid JSON", errors)
        self.assertIn("4 events received, 3 passed the filters, 1 bad lines, 3 missing", errors)
        self.assertFalse(os.path.exists(path))

    async def test_readable_output(self) -> None:
        """The default output is one readable line per event."""
        process, transport, path = await self.run_command("--utc", "--worker", "rig2")
        send_datagram(path, line(1, data=share("rig1")) + line(2, data=share("rig2")))
        await wait_for(lambda: process.out.endswith(b"\n"), "a printed line")
        self.assertEqual(await self.stop(process, transport), 0)
        self.assertEqual(process.out.decode().splitlines(),
                         [format_event(event(2, data=share("rig2")), utc=True)])

    async def test_refuses_a_live_socket(self) -> None:
        """A second collector on the same path exits with status 1 and a reason."""
        from twisted.internet import reactor

        first, transport, path = await self.run_command("--quiet")
        second = _Process()
        reactor.spawnProcess(
            second, sys.executable,
            [sys.executable, "-m", "tbgpool.events.cli", "--socket", path],
            env={**os.environ, "PYTHONPATH": ROOT}, path=ROOT,
        )
        self.assertEqual(await second.ended, 1)
        self.assertIn(b"another collector is listening", second.err)
        self.assertEqual(await self.stop(first, transport), 0)

    async def test_forwards_to_redis(self) -> None:
        """--redis --quiet: every event ends up in its Redis stream."""
        await self.start_redis()
        process, transport, path = await self.run_command(
            "--quiet", "--redis", f"unix://{self.redis_path}", "--stream-prefix", "cli:",
            "--maxlen", "100")
        send_datagram(path, line(1) + line(2, "block_found") + line(3))
        connection = self.connection()

        async def length(key: str) -> int:
            result: int = await self.command(connection, "XLEN", key)
            return result

        lengths: dict[str, int] = {}

        async def poll() -> None:
            for _ in range(1500):
                lengths["share"] = await length("cli:share_submitted")
                lengths["block"] = await length("cli:block_found")
                if lengths == {"share": 2, "block": 1}:
                    return
                await deferLater(reactor_(), 0.01, lambda: None)

        await poll()
        self.assertEqual(lengths, {"share": 2, "block": 1})
        self.assertEqual(process.out, b"")
        self.assertEqual(await self.stop(process, transport), 0)
        self.assertIn(b"redis: 3 written, 0 dropped, 0 refused", process.err)


def reactor_() -> Any:
    """The global reactor (tests only)."""
    from twisted.internet import reactor

    return reactor

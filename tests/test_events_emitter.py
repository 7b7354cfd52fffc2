"""EventEmitter on a task.Clock: batching, numbering, the size bound, no/slow collector, drops."""

from __future__ import annotations

import errno
import json
import os
import shutil
import socket
import tempfile
from typing import Any

from twisted.internet.task import Clock
from twisted.logger import LogLevel, capturedLogs
from twisted.trial.unittest import SynchronousTestCase
from zope.interface.verify import verifyObject

from tbgpool.events import EVENT_TYPES, EventEmitter, payloads
from tbgpool.events.decoder import EventDecoder
from tbgpool.events.emitter import BUSY_RETRY_S, MAX_DATAGRAMS_PER_FLUSH, UNREACHABLE_RETRY_S
from tbgpool.events.validate import validate_event
from tbgpool.interfaces import IEventSink

INSTANCE = "pool-test-1"
ADDRESS = "bc1qw508d6qejxtdg4y5r3zarvary0c5xw7kv8f3t4"
BLOCK_HASH = "00000000000000000002a7c4c1e48d76c5a37902165a270156b7a8d72728a054"


def share(worker: str = "rig1", **overrides: Any) -> dict[str, Any]:
    """A realistic accepted share_submitted data."""
    fields: dict[str, Any] = dict(
        user=ADDRESS,
        worker=worker,
        ip="203.0.113.7",
        diff=65536.0,
        share_diff=131072.5,
        valid=True,
        reason=None,
        job_id="1a2b",
        nonce="deadbeef",
        nonce2="0000000000000001",
        ntime="6553f100",
        version="20000000",
        height=820000,
        block=False,
    )
    fields.update(overrides)
    return payloads.share_submitted(**fields)


def one_of_each_type() -> dict[str, dict[str, Any]]:
    """Realistic data for every event type."""
    return {
        "share_submitted": share(),
        "block_found": payloads.block_found(
            user=ADDRESS, worker="rig1", ip="203.0.113.7", height=820000, hash=BLOCK_HASH,
            reward=639_406_250, diff=8.1e13, network_diff=6.7e13, accepted=True, result=None,
        ),
        "miner_connected": payloads.miner_connected(
            user=ADDRESS, worker="rig1", ip="203.0.113.7", user_agent="bitaxe/2.4.0",
            session_id="8f3a0c01", diff=1024,
        ),
        "miner_disconnected": payloads.miner_disconnected(
            user=ADDRESS, worker="rig1", ip="203.0.113.7", session_id="8f3a0c01",
            session_duration_s=3600.25, shares_accepted=120, shares_rejected=3,
        ),
        "diff_updated": payloads.diff_updated(
            user=ADDRESS, worker="rig1", ip="203.0.113.7", old_diff=None, new_diff=2048,
        ),
        "hashrate_update": payloads.hashrate_update(
            user=ADDRESS, worker="rig1", hashrate_1m=1.2e12, hashrate_5m=1.1e12,
            hashrate_1h=1.0e12, hashrate_1d=0.0, shares_accepted=42, best_diff=0,
        ),
        "new_block_network": payloads.new_block_network(
            height=820000, hash=BLOCK_HASH, next_height=820001, network_diff=6.7e13,
            coinbase_value=640_000_000, tx_count=3100,
        ),
        "share_best_diff": payloads.share_best_diff(
            user=ADDRESS, worker="rig1", ip="203.0.113.7", diff=5.5e9, previous=None,
            user_best_ever=True, height=820000,
        ),
        "asicboost_detected": payloads.asicboost_detected(
            user=ADDRESS, worker="rig1", ip="203.0.113.7", user_agent="cgminer/4.11.1",
            version_mask="1fffe000", version_bits="00002000",
        ),
    }


class CollectorSocket:
    """A real bound AF_UNIX datagram socket standing in for the collector."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(path)
        self.sock.setblocking(False)

    def datagrams(self) -> list[bytes]:
        """Every datagram waiting, without blocking."""
        received = []
        while True:
            try:
                received.append(self.sock.recv(1 << 20))
            except BlockingIOError:
                return received

    def events(self) -> list[dict[str, Any]]:
        """Every event waiting, decoded (each line checked to end with a newline)."""
        events = []
        for datagram in self.datagrams():
            assert datagram.endswith(b"\n"), datagram[-20:]
            for line in datagram[:-1].split(b"\n"):
                events.append(json.loads(line.decode("utf-8")))
        return events

    def close(self, unlink: bool = True) -> None:
        """Close the socket; remove its file unless ``unlink`` is False (a stale file stays)."""
        self.sock.close()
        if unlink and os.path.exists(self.path):
            os.unlink(self.path)


class FakeSocket:
    """A socket whose sendto fails with scripted errnos (None = success), then succeeds."""

    def __init__(self, script: list[int | None] | None = None) -> None:
        self.script = list(script or [])
        self.sent: list[bytes] = []
        self.attempts: list[bytes] = []
        self.closed = False
        self.blocking: bool | None = None

    def setblocking(self, flag: bool) -> None:
        self.blocking = flag

    def sendto(self, data: bytes, address: str) -> int:
        self.attempts.append(data)
        code = self.script.pop(0) if self.script else None
        if code is not None:
            raise OSError(code, os.strerror(code))
        self.sent.append(data)
        return len(data)

    def close(self) -> None:
        self.closed = True

    def events(self) -> list[dict[str, Any]]:
        return [json.loads(line) for d in self.sent for line in d.splitlines()]


class EmitterTestBase(SynchronousTestCase):
    """A temp dir with a short path (AF_UNIX paths are limited to 107 bytes) and a clock."""

    def setUp(self) -> None:
        self.directory = tempfile.mkdtemp(dir="/tmp", prefix="ev")
        self.addCleanup(shutil.rmtree, self.directory, True)
        self.path = os.path.join(self.directory, "e.sock")
        self.clock = Clock()
        self.clock.advance(1_700_000_000)

    def collector(self) -> CollectorSocket:
        collector = CollectorSocket(self.path)
        self.addCleanup(collector.close)
        return collector

    def emitter(self, include: Any = EVENT_TYPES, **kwargs: Any) -> EventEmitter:
        emitter = EventEmitter(self.clock, self.path, include, INSTANCE, **kwargs)
        self.addCleanup(emitter.close)
        return emitter

    def fake_emitter(self, fake: FakeSocket, **kwargs: Any) -> EventEmitter:
        return self.emitter(socket_factory=lambda: fake, **kwargs)

    def receive_all(self, collector: CollectorSocket, emitter: EventEmitter) -> list[bytes]:
        """Read the collector while the emitter retries (its queue may hit the collector's)."""
        datagrams: list[bytes] = []
        for _ in range(100_000):
            datagrams.extend(collector.datagrams())
            if not emitter.queued:
                break
            self.clock.advance(BUSY_RETRY_S)
        return datagrams + collector.datagrams()

    def assertClose(self, first: float, second: float, tolerance: float) -> None:
        """``first`` is within ``tolerance`` of ``second``."""
        self.assertTrue(abs(first - second) <= tolerance, f"{first!r} is not {second!r}")


class BatchingTests(EmitterTestBase):
    """Events go out at the end of the reactor turn, many to a datagram, numbered."""

    def test_nothing_sent_until_the_turn_ends(self) -> None:
        """emit only queues; clock.advance(0) sends all of them in one datagram."""
        collector = self.collector()
        emitter = self.emitter()
        for worker in ("a", "b", "c"):
            emitter.emit("share_submitted", share(worker))
        self.assertEqual(collector.datagrams(), [])
        self.assertEqual(emitter.queued, 3)
        self.clock.advance(0)
        datagrams = collector.datagrams()
        self.assertEqual(len(datagrams), 1)
        events = [json.loads(line) for line in datagrams[0].splitlines()]
        self.assertEqual([e["data"]["worker"] for e in events], ["a", "b", "c"])
        self.assertEqual([e["seq"] for e in events], [1, 2, 3])
        self.assertEqual((emitter.sent_events, emitter.sent_datagrams, emitter.queued), (3, 1, 0))

    def test_long_turn_sends_early(self) -> None:
        """a batch older than max_batch_delay_s goes out with the next emit, not at turn end"""
        collector = self.collector()
        emitter = self.emitter(max_batch_delay_s=0.0004)
        emitter.emit("share_submitted", share("a"))
        self.clock.rightNow += 0.0003  # the same reactor turn, 300 µs later
        emitter.emit("share_submitted", share("b"))
        self.assertEqual(collector.datagrams(), [])
        self.clock.rightNow += 0.0002
        emitter.emit("share_submitted", share("c"))
        [datagram] = collector.datagrams()
        self.assertEqual([json.loads(line)["data"]["worker"] for line in datagram.splitlines()],
                         ["a", "b", "c"])
        emitter.emit("share_submitted", share("d"))
        self.clock.advance(0)
        self.assertEqual([json.loads(d)["seq"] for d in collector.datagrams()], [4])

    def test_no_early_send_while_retrying(self) -> None:
        """with no collector, old batches wait for the retry instead of failing on every emit"""
        fake = FakeSocket([errno.ECONNREFUSED] * 10)
        emitter = self.fake_emitter(fake, max_batch_delay_s=0.0004)
        emitter.emit("share_submitted", share("a"))
        self.clock.advance(0)
        self.assertEqual(len(fake.attempts), 1)
        for worker in "bcdef":
            self.clock.rightNow += 0.001
            emitter.emit("share_submitted", share(worker))
        self.assertEqual(len(fake.attempts), 1)
        self.assertEqual(emitter.queued, 6)

    def test_provides_the_event_sink_interface(self) -> None:
        """EventEmitter is the IEventSink the pool is given."""
        self.assertTrue(verifyObject(IEventSink, self.emitter()))

    def test_envelope(self) -> None:
        """The envelope has the type, the reactor time in µs, the instance, seq and the data."""
        collector = self.collector()
        emitter = self.emitter()
        self.clock.advance(0.123456)
        data = share()
        emitter.emit("share_submitted", data)
        self.clock.advance(0)
        [datagram] = collector.datagrams()
        self.assertTrue(datagram.startswith(b'{"event":"share_submitted","timestamp":'))
        self.assertEqual(datagram.count(b"\n"), 1)
        self.assertNotIn(b" ", datagram.replace(b"203.0.113.7", b""))  # compact separators
        event = json.loads(datagram)
        self.assertEqual(
            event,
            {
                "event": "share_submitted",
                "timestamp": 1_700_000_000_123_456,
                "instance": INSTANCE,
                "seq": 1,
                "data": data,
            },
        )
        self.assertEqual(list(event), ["event", "timestamp", "instance", "seq", "data"])

    def test_datagrams_respect_the_size_bound(self) -> None:
        """With a 1024-byte bound, every datagram is at most 1024 bytes and whole lines."""
        collector = self.collector()
        emitter = self.emitter(max_datagram_bytes=1024)
        for index in range(60):
            emitter.emit("share_submitted", share(f"w{index}"))
        self.clock.advance(0)
        datagrams = self.receive_all(collector, emitter)
        self.assertTrue(all(len(d) <= 1024 for d in datagrams), [len(d) for d in datagrams])
        self.assertGreater(len(datagrams), 1)
        self.assertTrue(all(d.endswith(b"\n") for d in datagrams))
        seqs = [json.loads(line)["seq"] for d in datagrams for line in d.splitlines()]
        self.assertEqual(seqs, list(range(1, 61)))
        self.assertEqual(emitter.sent_datagrams, len(datagrams))
        # Each datagram is as full as the next line allows.
        for datagram, following in zip(datagrams, datagrams[1:], strict=False):
            first_line = following.split(b"\n", 1)[0] + b"\n"
            self.assertGreater(len(datagram) + len(first_line), 1024)

    def test_seq_counts_only_included_events(self) -> None:
        """Types outside include are no-ops: not sent, not numbered."""
        collector = self.collector()
        emitter = self.emitter(include=["share_submitted", "block_found"])
        self.assertTrue(emitter.wants("share_submitted"))
        self.assertFalse(emitter.wants("hashrate_update"))
        self.assertFalse(emitter.wants("no_such_type"))
        emitter.emit("share_submitted", share("a"))
        emitter.emit("hashrate_update", one_of_each_type()["hashrate_update"])
        emitter.emit("no_such_type", {})
        emitter.emit("share_submitted", share("b"))
        self.clock.advance(0)
        events = collector.events()
        self.assertEqual([(e["event"], e["seq"]) for e in events],
                         [("share_submitted", 1), ("share_submitted", 2)])
        self.assertEqual(emitter.last_seq, 2)

    def test_seq_continues_across_turns(self) -> None:
        """Numbering runs on across flushes without gaps."""
        collector = self.collector()
        emitter = self.emitter()
        for _ in range(3):
            emitter.emit("share_submitted", share())
            emitter.emit("diff_updated", one_of_each_type()["diff_updated"])
            self.clock.advance(0)
        self.assertEqual([e["seq"] for e in collector.events()], [1, 2, 3, 4, 5, 6])

    def test_empty_include_sends_nothing(self) -> None:
        """An empty include list makes every emit a no-op and schedules nothing."""
        emitter = self.emitter(include=[])
        emitter.emit("share_submitted", share())
        self.assertEqual((emitter.queued, emitter.last_seq), (0, 0))
        self.assertEqual(self.clock.getDelayedCalls(), [])

    def test_every_type_validates_against_the_schema(self) -> None:
        """One event of each type, as sent, matches schema.json."""
        collector = self.collector()
        emitter = self.emitter()
        for event_type, data in one_of_each_type().items():
            emitter.emit(event_type, data)
        self.clock.advance(0)
        events = collector.events()
        self.assertEqual([e["event"] for e in events], list(EVENT_TYPES))
        for event in events:
            validate_event(event)

    def test_hostile_strings_are_escaped_into_one_valid_line(self) -> None:
        """Newlines, quotes, controls, RTL marks, emoji and lone surrogates: one valid UTF-8 line."""
        collector = self.collector()
        emitter = self.emitter()
        names = ['a\nb"c\\d', "\x00\x1b[31m\u202e", "矿工🚀", "bad\ud800half"]
        for name in names:
            emitter.emit("share_submitted", share(name))
        self.clock.advance(0)
        [datagram] = collector.datagrams()
        lines = datagram.split(b"\n")
        self.assertEqual(lines[-1], b"")
        self.assertEqual(len(lines), len(names) + 1)
        received = [json.loads(line.decode("utf-8"))["data"]["worker"] for line in lines[:-1]]
        self.assertEqual(received, names[:3] + ["bad\ufffdhalf"])
        for line in lines[:-1]:
            validate_event(json.loads(line))


class CollectorAbsenceTests(EmitterTestBase):
    """No collector: events stay queued, retried every 0.5 s, delivered in order later."""

    def test_backlog_drained_over_several_turns(self) -> None:
        """A backlog goes out 16 datagrams per flush; the rest on the next turns, in order."""
        fake = FakeSocket()
        emitter = self.fake_emitter(fake, max_datagram_bytes=1024)
        for index in range(200):
            emitter.emit("share_submitted", share(f"w{index}"))
        emitter.flush()
        self.assertEqual(len(fake.sent), MAX_DATAGRAMS_PER_FLUSH)
        self.assertGreater(emitter.queued, 0)
        [next_turn] = self.clock.getDelayedCalls()
        self.assertEqual(next_turn.getTime(), self.clock.seconds())
        self.clock.advance(0)
        self.assertEqual(emitter.queued, 0)
        self.assertEqual([e["seq"] for e in fake.events()], list(range(1, 201)))

    def test_absent_then_present(self) -> None:
        """Queued while the path is missing; all delivered, in order, once it is bound."""
        emitter = self.emitter()
        with capturedLogs() as logs:
            for index in range(5):
                emitter.emit("share_submitted", share(f"w{index}"))
            self.clock.advance(0)
            self.assertEqual(emitter.queued, 5)
            self.assertEqual(emitter.oldest_queued_at, 1_700_000_000)
            [retry] = self.clock.getDelayedCalls()
            self.assertClose(retry.getTime() - self.clock.seconds(), UNREACHABLE_RETRY_S, 1e-5)
            self.clock.advance(UNREACHABLE_RETRY_S)
            self.clock.advance(UNREACHABLE_RETRY_S)
            emitter.emit("share_submitted", share("late"))
            self.assertEqual(len(self.clock.getDelayedCalls()), 1)  # no extra flush scheduled
            collector = self.collector()
            self.clock.advance(UNREACHABLE_RETRY_S)
        events = collector.events()
        self.assertEqual([e["seq"] for e in events], [1, 2, 3, 4, 5, 6])
        self.assertEqual(events[-1]["data"]["worker"], "late")
        self.assertEqual((emitter.queued, emitter.oldest_queued_at), (0, None))
        self.assertEqual(sum(emitter.dropped.values()), 0)
        self.assertEqual(self.clock.getDelayedCalls(), [])
        warnings = [e for e in logs if e["log_level"] == LogLevel.warn]
        self.assertEqual(len(warnings), 1)
        self.assertEqual(warnings[0]["socket_path"], self.path)
        self.assertIn("ENOENT", warnings[0]["error"])
        recoveries = [e for e in logs if "again after" in e["log_format"]]
        self.assertEqual(len(recoveries), 1)
        self.assertEqual(recoveries[0]["dropped"], 0)
        self.assertClose(recoveries[0]["outage_s"], 3 * UNREACHABLE_RETRY_S, 1e-5)

    def test_stale_socket_file_then_restarted_collector(self) -> None:
        """A socket file nobody is bound to (ECONNREFUSED) queues; a new collector gets all."""
        first = CollectorSocket(self.path)
        emitter = self.emitter()
        emitter.emit("share_submitted", share("one"))
        self.clock.advance(0)
        self.assertEqual([e["seq"] for e in first.events()], [1])
        first.close(unlink=False)  # the collector died, its file remains
        self.assertTrue(os.path.exists(self.path))
        emitter.emit("share_submitted", share("two"))
        emitter.emit("share_submitted", share("three"))
        self.clock.advance(0)
        self.assertEqual(emitter.queued, 2)
        os.unlink(self.path)
        second = self.collector()
        self.clock.advance(UNREACHABLE_RETRY_S)
        self.assertEqual([e["seq"] for e in second.events()], [2, 3])

    def test_queue_overflow_drops_oldest_and_leaves_a_gap(self) -> None:
        """Beyond max_queued_events the oldest go, counted as queue_full; the gap has their size."""
        first = CollectorSocket(self.path)
        emitter = self.emitter(max_queued_events=10)
        emitter.emit("share_submitted", share("before"))
        self.clock.advance(0)
        received = first.datagrams()
        first.close()  # the collector goes away
        with capturedLogs() as logs:
            for index in range(25):
                self.clock.advance(0.001)
                emitter.emit("share_submitted", share(f"w{index}"))
            self.assertEqual(emitter.queued, 10)
            self.assertEqual(emitter.dropped["queue_full"], 15)
            self.assertClose(emitter.oldest_queued_at or 0, 1_700_000_000 + 0.016, 1e-5)
            self.clock.advance(0)
            self.clock.advance(UNREACHABLE_RETRY_S)
            collector = self.collector()
            self.clock.advance(UNREACHABLE_RETRY_S)
        received += collector.datagrams()
        gaps: list[tuple[str, int, int]] = []
        decoder = EventDecoder(lambda *gap: gaps.append(gap), lambda *bad: self.fail(bad))
        seqs = [event.seq for datagram in received for event in decoder.decode(datagram)]
        self.assertEqual(seqs, [1, *range(17, 27)])
        self.assertEqual(gaps, [(INSTANCE, 2, 16)])
        self.assertEqual(decoder.events_missed, 15)
        self.assertEqual(len([e for e in logs if e["log_level"] == LogLevel.warn]), 1)
        [recovery] = [e for e in logs if "again after" in e["log_format"]]
        self.assertEqual(recovery["dropped"], 15)


class SlowCollectorTests(EmitterTestBase):
    """A collector that does not read: EAGAIN keeps events queued and retries every 5 ms."""

    def test_full_receive_queue(self) -> None:
        """Events beyond the collector's queue wait; reading it lets them all through in order."""
        collector = self.collector()
        try:
            with open("/proc/sys/net/unix/max_dgram_qlen") as f:
                qlen = int(f.read())
        except OSError:
            qlen = 512
        count = 2 * qlen + 200
        emitter = self.emitter(max_datagram_bytes=512, max_queued_events=count)
        for index in range(count):
            emitter.emit("miner_connected", dict(one_of_each_type()["miner_connected"],
                                                 worker=f"w{index}"))
        self.clock.advance(0)
        self.assertGreater(emitter.queued, 0)  # EAGAIN: the rest waits
        [retry] = self.clock.getDelayedCalls()
        self.assertClose(retry.getTime() - self.clock.seconds(), BUSY_RETRY_S, 1e-5)
        seqs: list[int] = []
        for _ in range(count):
            seqs.extend(e["seq"] for e in collector.events())
            if not emitter.queued:
                break
            self.clock.advance(BUSY_RETRY_S)
        seqs.extend(e["seq"] for e in collector.events())
        self.assertEqual(seqs, list(range(1, count + 1)))
        self.assertEqual(sum(emitter.dropped.values()), 0)


class ErrnoTests(EmitterTestBase):
    """Exact errno cases through a fake socket."""

    def test_socket_is_non_blocking(self) -> None:
        """The emitter puts whatever socket it gets into non-blocking mode."""
        fake = FakeSocket()
        self.fake_emitter(fake)
        self.assertIs(fake.blocking, False)

    def test_unreachable_errnos_keep_events_and_retry_after_half_a_second(self) -> None:
        """ENOENT and ECONNREFUSED: nothing dropped, a retry in 0.5 s, then delivery."""
        for code in (errno.ENOENT, errno.ECONNREFUSED):
            fake = FakeSocket([code])
            emitter = self.fake_emitter(fake)
            emitter.emit("share_submitted", share())
            emitter.emit("share_submitted", share())
            self.clock.advance(0)
            self.assertEqual((emitter.queued, fake.sent), (2, []))
            self.assertEqual(len(self.clock.getDelayedCalls()), 1)
            self.clock.advance(UNREACHABLE_RETRY_S - 0.001)
            self.assertEqual(fake.sent, [])
            self.clock.advance(0.001)
            self.assertEqual([e["seq"] for e in fake.events()], [1, 2])
            self.assertEqual(sum(emitter.dropped.values()), 0)
            emitter.close()

    def test_busy_errnos_retry_after_five_milliseconds(self) -> None:
        """EAGAIN and ENOBUFS: kept and retried after 5 ms."""
        for code in (errno.EAGAIN, errno.ENOBUFS):
            fake = FakeSocket([code, code])
            emitter = self.fake_emitter(fake)
            emitter.emit("share_submitted", share())
            self.clock.advance(0)
            self.clock.advance(BUSY_RETRY_S)
            self.assertEqual((emitter.queued, len(fake.attempts)), (1, 2))
            self.clock.advance(BUSY_RETRY_S)
            self.assertEqual([e["seq"] for e in fake.events()], [1])
            emitter.close()

    def test_emsgsize_falls_back_to_one_event_per_datagram(self) -> None:
        """A batch refused with EMSGSIZE is resent one event per datagram, smaller from then on."""
        fake = FakeSocket([errno.EMSGSIZE])
        emitter = self.fake_emitter(fake)
        for worker in ("a", "b", "c"):
            emitter.emit("share_submitted", share(worker))
        self.clock.advance(0)
        self.assertEqual(len(fake.attempts), 4)
        self.assertEqual(len(fake.sent), 3)
        self.assertEqual([e["data"]["worker"] for e in fake.events()], ["a", "b", "c"])
        self.assertEqual(sum(emitter.dropped.values()), 0)
        first_batch = len(fake.attempts[0])
        for worker in ("d", "e", "f"):
            emitter.emit("share_submitted", share(worker))
        self.clock.advance(0)
        self.assertTrue(all(len(d) <= first_batch // 2 for d in fake.sent[3:]))

    def test_emsgsize_for_a_single_event_drops_it(self) -> None:
        """A lone event refused with EMSGSIZE is dropped as too_large; the others go."""
        fake = FakeSocket([errno.EMSGSIZE, None, errno.EMSGSIZE])
        emitter = self.fake_emitter(fake)
        for worker in ("a", "b", "c"):
            emitter.emit("share_submitted", share(worker))
        self.clock.advance(0)
        self.assertEqual([e["data"]["worker"] for e in fake.events()], ["a", "c"])
        self.assertEqual(emitter.dropped["too_large"], 1)
        emitter.emit("share_submitted", share("d"))
        fake.script = [errno.EMSGSIZE]
        self.clock.advance(0)
        self.assertEqual(emitter.dropped["too_large"], 2)
        self.assertEqual(emitter.queued, 0)

    def test_other_errors_drop_the_datagram_and_log_once_per_burst(self) -> None:
        """EACCES drops that datagram's events (send_error), logged once until sending works."""
        fake = FakeSocket([errno.EACCES, errno.EACCES])
        emitter = self.fake_emitter(fake)
        with capturedLogs() as logs:
            emitter.emit("share_submitted", share())
            emitter.emit("share_submitted", share())
            self.clock.advance(0)
            emitter.emit("share_submitted", share())
            self.clock.advance(0)
            self.assertEqual(emitter.dropped["send_error"], 3)
            self.assertEqual(emitter.queued, 0)
            emitter.emit("share_submitted", share())
            self.clock.advance(0)
        self.assertEqual([e["seq"] for e in fake.events()], [4])
        warnings = [e for e in logs if e["log_level"] == LogLevel.warn]
        self.assertEqual(len(warnings), 1)
        self.assertIn("EACCES", warnings[0]["error"])
        [recovery] = [e for e in logs if "again after" in e["log_format"]]
        self.assertEqual(recovery["dropped"], 3)


class EmitSafetyTests(EmitterTestBase):
    """emit never raises: what cannot be sent is dropped, counted, and keeps its number."""

    def test_unserializable_data_is_dropped_with_its_number(self) -> None:
        """Objects, NaN, circular data and non-dicts are dropped; seq shows the gap."""
        fake = FakeSocket()
        emitter = self.fake_emitter(fake)
        circular: dict[str, Any] = {}
        circular["self"] = circular
        bad: list[Any] = [{"x": object()}, {"x": float("nan")}, circular, ["not", "a", "dict"],
                          None, {"x": float("inf")}]
        with capturedLogs() as logs:
            emitter.emit("share_submitted", share())
            for data in bad:
                emitter.emit("share_submitted", data)
            emitter.emit("share_submitted", share())
            self.clock.advance(0)
        self.assertEqual(emitter.dropped["unserializable"], len(bad))
        self.assertEqual([e["seq"] for e in fake.events()], [1, len(bad) + 2])
        self.assertEqual(len([e for e in logs if e["log_level"] == LogLevel.warn]), 1)

    def test_too_large_event_is_dropped_at_emit(self) -> None:
        """An event longer than max_datagram_bytes never queues; it is counted too_large."""
        fake = FakeSocket()
        emitter = self.fake_emitter(fake, max_datagram_bytes=1024)
        emitter.emit("share_submitted", share("x" * 2000))
        emitter.emit("share_submitted", share())
        self.assertEqual(emitter.queued, 1)
        self.clock.advance(0)
        self.assertEqual(emitter.dropped["too_large"], 1)
        self.assertEqual([e["seq"] for e in fake.events()], [2])

    def test_latency_observer_called_once_per_event(self) -> None:
        """Latency is measured from validated_at (or emit time), once per sent event, never < 0."""
        fake = FakeSocket([errno.EAGAIN])
        observed: list[float] = []
        emitter = self.fake_emitter(fake, observe_latency_us=observed.append)
        now = self.clock.seconds()
        emitter.emit("share_submitted", share(), validated_at=now - 0.002)
        emitter.emit("share_submitted", share())
        emitter.emit("share_submitted", share(), validated_at=now + 5)  # a clock step backwards
        self.clock.advance(0)
        self.assertEqual(observed, [])  # EAGAIN: nothing sent yet, nothing observed
        self.clock.advance(BUSY_RETRY_S)
        self.assertEqual(len(observed), 3)
        self.assertClose(observed[0], 2000 + BUSY_RETRY_S * 1e6, 1)
        self.assertClose(observed[1], BUSY_RETRY_S * 1e6, 1)
        self.assertEqual(observed[2], 0.0)
        self.assertTrue(all(value >= 0 for value in observed))

    def test_failing_observer_does_not_stop_sending(self) -> None:
        """An observer that raises is logged; the events are still counted as sent."""
        fake = FakeSocket()

        def observer(value: float) -> None:
            raise RuntimeError("metrics broke")

        emitter = self.fake_emitter(fake, observe_latency_us=observer)
        emitter.emit("share_submitted", share())
        self.clock.advance(0)
        self.assertEqual(emitter.sent_events, 1)
        self.assertEqual(len(self.flushLoggedErrors(RuntimeError)), 1)

    def test_close_flushes_then_counts_the_rest_and_closes(self) -> None:
        """close tries once more, drops what is left as closed, cancels timers, closes the socket."""
        fake = FakeSocket([errno.ENOENT, errno.ENOENT])
        emitter = self.fake_emitter(fake)
        emitter.emit("share_submitted", share())
        emitter.emit("share_submitted", share())
        self.clock.advance(0)
        emitter.close()
        self.assertEqual(len(fake.attempts), 2)
        self.assertEqual(emitter.dropped["closed"], 2)
        self.assertEqual(emitter.queued, 0)
        self.assertTrue(fake.closed)
        self.assertEqual(self.clock.getDelayedCalls(), [])
        emitter.emit("share_submitted", share())
        emitter.flush()
        self.assertEqual((emitter.queued, emitter.dropped["closed"]), (0, 3))
        self.assertEqual(self.clock.getDelayedCalls(), [])

    def test_close_delivers_what_it_can(self) -> None:
        """Events still queued at close reach a present collector."""
        collector = self.collector()
        emitter = self.emitter()
        emitter.emit("share_submitted", share())
        emitter.close()
        self.assertEqual([e["seq"] for e in collector.events()], [1])
        self.assertEqual(emitter.dropped["closed"], 0)

    def test_bad_arguments(self) -> None:
        """Unknown types, overlong paths and silly bounds are refused at construction."""
        with self.assertRaises(ValueError):
            EventEmitter(self.clock, self.path, ["share_submitted", "nope"], INSTANCE)
        with self.assertRaises(ValueError):
            EventEmitter(self.clock, "/tmp/" + "x" * 200, EVENT_TYPES, INSTANCE)
        with self.assertRaises(ValueError):
            EventEmitter(self.clock, self.path, EVENT_TYPES, INSTANCE, max_datagram_bytes=10)
        with self.assertRaises(ValueError):
            EventEmitter(self.clock, self.path, EVENT_TYPES, INSTANCE, max_queued_events=0)
        with self.assertRaises(ValueError):
            EventEmitter(self.clock, self.path, EVENT_TYPES, "")

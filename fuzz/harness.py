"""What the fuzz targets share: an in-memory pool, log and event watches, invariant checks.

Nothing here imports atheris, so the regression tests use the same pool and checks.
Hostile values are in :mod:`fuzz.values`; the session-level runners in :mod:`fuzz.sessions`.
"""

from __future__ import annotations

import atexit
import dataclasses
import json
import re
import shutil
import tempfile
from dataclasses import dataclass, field
from typing import Any

from twisted.logger import ILogObserver, LogLevel, formatEvent, globalLogBeginner
from zope.interface import implementer

from tbgpool.events.envelope import encode_event
from tbgpool.events.validate import validate_event
from tbgpool.interfaces import IEventSink, IMinerConnection
from tbgpool.stratum.protocol import StratumFactory
from tbgpool.stratum.session import StratumSession
from tbgpool.testing import (
    StratumJob,
    header_for,
    make_template,
    sha256d,
)
from tests.helpers import PoolHarness

#: A network target far above the trivial share targets, so fuzzed shares are not blocks.
HARD_BITS = 0x1E00FFFF
#: The difficulty sessions start at: about four hashes find a share.
FUZZ_STARTDIFF = 1e-9
#: Inputs after which a pool is rebuilt (a new block, in effect), bounding what it remembers.
RECYCLE_AFTER_INPUTS = 20_000
#: Most bytes a reply may take per input line: a reply echoes the id, at worst 6 bytes per byte
#: (``\u007f``), plus the notifications a request can trigger.
REPLY_BYTES_PER_INPUT_BYTE = 6
NOTIFICATION_ALLOWANCE_BYTES = 8 * 1024

_STRICT_HEX8 = re.compile(r"[0-9a-f]{8}", re.IGNORECASE)
_STRICT_HEX_EVEN = re.compile(r"(?:[0-9a-f]{2})*", re.IGNORECASE)


class InvariantViolation(AssertionError):
    """The code under test did something it must never do (a fuzzing finding)."""


# -- logs ----------------------------------------------------------------------------------------


@implementer(ILogObserver)
class LogWatch:
    """A log observer keeping every event that says code failed unexpectedly."""

    def __init__(self) -> None:
        self.problems: list[str] = []

    def __call__(self, event: dict[str, Any]) -> None:
        """Keep failures (``log.failure``) and error/critical events."""
        failure = event.get("log_failure")
        if failure is not None:
            self.problems.append(f"{formatEvent(event)}\n{failure.getTraceback()}")
        elif event.get("log_level") in (LogLevel.error, LogLevel.critical):
            self.problems.append(formatEvent(event))

    def check(self) -> None:
        """Raise InvariantViolation if anything was logged as a failure since the last check."""
        if self.problems:
            problems, self.problems = self.problems, []
            raise InvariantViolation("logged failure:\n" + "\n".join(problems))


LOG_WATCH = LogWatch()


def watch_logs() -> LogWatch:
    """Send every log event to LOG_WATCH only (no buffering, nothing printed)."""
    globalLogBeginner.beginLoggingTo([LOG_WATCH], discardBuffer=True, redirectStandardIO=False)
    return LOG_WATCH


# -- events --------------------------------------------------------------------------------------


#: Every event is encoded; the (slow) schema check runs on the first ones, then one in N.
SCHEMA_CHECK_FIRST = 2000
SCHEMA_CHECK_EVERY = 16


@implementer(IEventSink)
class CheckingEventSink:
    """Wants every event; each must encode as the emitter would, and (sampled) match the schema."""

    def __init__(self, schema_check_every: int = SCHEMA_CHECK_EVERY) -> None:
        self.problems: list[str] = []
        self.emitted = 0
        self.schema_check_every = schema_check_every

    def wants(self, event_type: str) -> bool:
        """Every type."""
        return True

    def emit(
        self, event_type: str, data: dict[str, Any], validated_at: float | None = None
    ) -> None:
        """Encode and validate; a failure is kept for ``check`` (emit itself never raises)."""
        self.emitted += 1
        try:
            line = encode_event(event_type, 1_700_000_000_000_000, "fuzz", self.emitted, data)
            if (
                self.emitted <= SCHEMA_CHECK_FIRST
                or self.emitted % self.schema_check_every == 0
            ):
                validate_event(json.loads(line))
        except Exception as e:
            self.problems.append(f"{event_type} event {data!r} rejected: {e!r}")

    def check(self) -> None:
        """Raise InvariantViolation if an event failed to encode or validate."""
        if self.problems:
            problems, self.problems = self.problems, []
            raise InvariantViolation("bad event:\n" + "\n".join(problems))


# -- the pool ------------------------------------------------------------------------------------


@implementer(IMinerConnection)
class RecordingConnection:
    """A miner connection that keeps what the session sends (and whether it hung up)."""

    def __init__(self, peer: str) -> None:
        self.peer = peer
        self.lines: list[bytes] = []
        self.disconnected: str | None = None

    def sendMessage(self, line: bytes) -> None:
        """Keep a line."""
        self.lines.append(line)

    def disconnect(self, reason: str) -> None:
        """Keep the reason."""
        self.disconnected = reason

    def abort(self, reason: str) -> None:
        """Keep the reason (an abort drops what is queued; nothing is queued here)."""
        self.disconnected = reason

    def notifications(self, method: str) -> list[list[Any]]:
        """The params of every notification of ``method`` sent so far."""
        out = []
        for line in self.lines:
            message = json.loads(line)
            if message.get("method") == method:
                out.append(message["params"])
        return out


@dataclass
class FuzzPool:
    """A pool on a task.Clock with two jobs: ``stale_job_id`` (an old tip) and the current one."""

    network: str
    harness: PoolHarness
    factory: StratumFactory
    events: CheckingEventSink
    stale_job_id: str
    logdir: str
    inputs: int = 0
    #: A subscribed session kept open, whose extranonce1 nobody else may get.
    holder: StratumSession | None = None
    #: Session ids of recently closed sessions (resumable with mining.subscribe).
    released_sids: list[str] = field(default_factory=list)
    _peer_counter: int = 0

    @property
    def current_job_id(self) -> str:
        """The id of the job every new working session gets."""
        job = self.harness.pool.jobs.current
        assert job is not None
        return job.job_id

    def next_peer(self) -> tuple[str, int]:
        """A fresh loopback peer (host, port) per connection, so per-IP limits never bite."""
        self._peer_counter += 1
        n = self._peer_counter
        return f"127.{(n >> 16) & 0xFF}.{(n >> 8) & 0xFF}.{n & 0xFF or 1}", 1024 + n % 60000

    def new_session(self) -> tuple[StratumSession, RecordingConnection]:
        """A session on a fresh connection, as the protocol's connectionMade makes it."""
        host, port = self.next_peer()
        connection = RecordingConnection(f"{host}:{port}")
        return self.harness.pool.new_session(connection), connection

    def check(self) -> None:
        """Raise InvariantViolation if an event or a log said something went wrong."""
        self.events.check()
        LOG_WATCH.check()


def build_pool(network: str = "regtest") -> FuzzPool:
    """A pool for ``network`` holding a stale job and a current job (both at HARD_BITS)."""
    logdir = tempfile.mkdtemp(prefix="tbgpool-fuzz-")
    atexit.register(shutil.rmtree, logdir, True)
    harness = PoolHarness(logdir, startdiff=FUZZ_STARTDIFF)
    sink = CheckingEventSink()
    harness.pool.events = sink
    now = int(harness.clock.seconds())
    harness.source.push(
        make_template(bits=HARD_BITS, curtime=now, network=network, previous_block_hash="11" * 32)
    )
    stale = harness.pool.jobs.current
    assert stale is not None
    harness.source.push(
        make_template(
            bits=HARD_BITS, curtime=now, network=network, height=201, previous_block_hash="22" * 32
        )
    )
    return FuzzPool(network, harness, StratumFactory(harness.pool), sink, stale.job_id, logdir)


class PoolCycle:
    """Hands out a pool, replaced by a fresh one every RECYCLE_AFTER_INPUTS inputs."""

    def __init__(self, network: str = "regtest") -> None:
        self.network = network
        self.pool = build_pool(network)

    def get(self) -> FuzzPool:
        """The pool for the next input."""
        if self.pool.inputs >= RECYCLE_AFTER_INPUTS:
            shutil.rmtree(self.pool.logdir, ignore_errors=True)
            self.pool = build_pool(self.network)
        self.pool.inputs += 1
        return self.pool


# -- checks --------------------------------------------------------------------------------------


def check_line(line: bytes) -> dict[str, Any]:
    """One line the pool wrote: a JSON object ending in a newline, a reply or a notification."""
    if not line.endswith(b"\n") or b"\n" in line[:-1]:
        raise InvariantViolation(f"not exactly one newline-terminated line: {line[:200]!r}")
    try:
        message = json.loads(line)
    except ValueError as e:
        raise InvariantViolation(f"the pool wrote invalid JSON ({e}): {line[:200]!r}") from None
    if not isinstance(message, dict):
        raise InvariantViolation(f"the pool wrote a non-object: {line[:200]!r}")
    if "method" in message:
        if set(message) != {"id", "method", "params"} or message["id"] is not None:
            raise InvariantViolation(f"malformed notification: {line[:200]!r}")
        if not isinstance(message["params"], list):
            raise InvariantViolation(f"notification params not a list: {line[:200]!r}")
        return message
    if set(message) != {"id", "result", "error"}:
        raise InvariantViolation(f"reply without exactly id/result/error: {line[:200]!r}")
    error = message["error"]
    if error is not None:
        if (
            not isinstance(error, list)
            or len(error) != 3
            or not isinstance(error[0], int)
            or not isinstance(error[1], str)
            or error[2] is not None
        ):
            raise InvariantViolation(f"malformed error member: {line[:200]!r}")
        if error[1] == "Internal error":
            raise InvariantViolation(f"a request raised an unexpected exception: {line[:200]!r}")
        if message["result"] is not None:
            raise InvariantViolation(f"reply with both result and error: {line[:200]!r}")
    return message


def check_lines(lines: list[bytes]) -> list[dict[str, Any]]:
    """Check every line a connection was sent; return them decoded."""
    return [check_line(line) for line in lines]


def split_output(data: bytes) -> list[bytes]:
    """A transport's contents as newline-terminated lines (a partial line is an error)."""
    if data and not data.endswith(b"\n"):
        raise InvariantViolation(f"output ends mid-line: {data[-200:]!r}")
    return [line + b"\n" for line in data.split(b"\n")[:-1]]


def strict_hex_u32(value: object) -> int:
    """An independent reading of an 8-hex-digit field (InvariantViolation if it is not one)."""
    if not isinstance(value, str) or _STRICT_HEX8.fullmatch(value) is None:
        raise InvariantViolation(f"a share was accepted with a non-hex u32 field: {value!r}")
    return int(value, 16)


def strict_hex(value: object, size: int) -> str:
    """An independent reading of a hex field of ``size`` bytes, returned lower-case."""
    if not isinstance(value, str) or _STRICT_HEX_EVEN.fullmatch(value) is None:
        raise InvariantViolation(f"a share was accepted with a non-hex field: {value!r}")
    if len(value) != 2 * size:
        raise InvariantViolation(f"a share was accepted with a {len(value)}-digit field")
    return value.lower()


def independent_share_value(
    job: StratumJob,
    extranonce1: str,
    params: list[Any],
    extranonce2_size: int,
    version_mask: int,
) -> int:
    """The hash of a submitted share as an integer, computed with hashlib from the notify."""
    extranonce2 = strict_hex(params[2], extranonce2_size)
    ntime = strict_hex_u32(params[3])
    nonce = strict_hex_u32(params[4])
    version = int(job.version, 16)
    if len(params) == 6:
        bits = strict_hex_u32(params[5])
        if bits & ~version_mask:
            raise InvariantViolation(f"accepted version bits {bits:08x} outside {version_mask:08x}")
        version = (version & ~version_mask) | (bits & version_mask)
    rolled = dataclasses.replace(job, ntime=f"{ntime:08x}")
    header = header_for(rolled, extranonce1, extranonce2, nonce, version)
    return int.from_bytes(sha256d(header), "little")


def reply_bound(data: bytes) -> int:
    """The most bytes the pool may write in answer to ``data``."""
    lines = data.count(b"\n") + 1
    return REPLY_BYTES_PER_INPUT_BYTE * len(data) + NOTIFICATION_ALLOWANCE_BYTES * lines


# -- the line target -------------------------------------------------------------------------------

#: An input whose first byte is at least this is split: the byte picks the cut, and is dropped.
SPLIT_MARK = 0x80


def check_http_refusal(written: bytes, disconnecting: bool) -> None:
    """An HTTP client is answered with one complete HTTP error response, then hung up on."""
    head, separator, body = written.partition(b"\r\n\r\n")
    status = head.split(b"\r\n", 1)[0]
    lengths = [
        line.split(b":", 1)[1].strip()
        for line in head.split(b"\r\n")[1:]
        if line.lower().startswith(b"content-length:")
    ]
    if (
        not separator
        or not status.startswith((b"HTTP/1.1 4", b"HTTP/1.0 4"))
        or lengths != [str(len(body)).encode()]
        or not disconnecting
    ):
        raise InvariantViolation(f"malformed HTTP refusal (or no hang-up): {written[:300]!r}")


def split_choice(data: bytes) -> tuple[bytes, int | None]:
    """(payload, cut): a first byte >= SPLIT_MARK chooses a cut, proportionally, and is dropped.

    Real traffic starts with ``{`` (below the mark), so seeds are fed whole.
    """
    if not data or data[0] < SPLIT_MARK:
        return data, None
    payload = data[1:]
    return payload, (data[0] - SPLIT_MARK) * (len(payload) + 1) // (256 - SPLIT_MARK)


def run_lines(fp: FuzzPool, payload: bytes, cut: int | None = None) -> bytes:
    """Feed ``payload`` (in two reads if ``cut`` is given) to a fresh protocol; check; return output.

    The connection is closed at the end. Raises InvariantViolation on any finding.
    """
    from twisted.internet.address import IPv4Address
    from twisted.internet.testing import StringTransport

    host, port = fp.next_peer()
    address = IPv4Address("TCP", host, port)
    proto = fp.factory.buildProtocol(address)
    if proto is None:
        raise InvariantViolation("the pool refused a connection")
    transport = StringTransport(peerAddress=address)
    proto.makeConnection(transport)
    if cut is None:
        proto.dataReceived(payload)
    else:
        proto.dataReceived(payload[:cut])
        proto.dataReceived(payload[cut:])
    proto.connectionLost()
    written = transport.value()
    if written.startswith(b"HTTP/"):
        check_http_refusal(written, transport.disconnecting)
        fp.check()
        return written
    messages = check_lines(split_output(written))
    replies = sum(1 for message in messages if "method" not in message)
    lines = payload.count(b"\n") + 1
    if replies > lines:
        raise InvariantViolation(f"{replies} replies to {lines} lines")
    if len(written) > reply_bound(payload):
        raise InvariantViolation(f"{len(written)} bytes written for {len(payload)} bytes read")
    session = getattr(proto, "session", None)
    if session is not None and session in fp.harness.pool.sessions:
        raise InvariantViolation("a closed connection's session is still in the pool")
    fp.check()
    return written

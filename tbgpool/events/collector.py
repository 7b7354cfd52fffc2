"""The collector side of the events socket: claim the path, bind it, route what arrives.

:class:`Collector` is the datagram protocol: it decodes, filters, then prints
and/or forwards each event, and reports gaps and bad lines (rate-limited, so a
misbehaving sender cannot flood the terminal).
"""

from __future__ import annotations

import contextlib
import os
import socket
import stat
from collections.abc import Callable, Iterator

from twisted.internet.error import CannotListenError
from twisted.internet.interfaces import IListeningPort, IReactorTime, IReactorUNIXDatagram
from twisted.internet.protocol import DatagramProtocol

from tbgpool.events.decoder import EventDecoder, EventFilter
from tbgpool.events.printer import Printer, format_value
from tbgpool.events.redis_stream import RedisStreamWriter

#: Largest datagram read whole, in bytes (longer ones are cut; their last line is then bad).
MAX_DATAGRAM_BYTES = 1 << 18
#: Seconds between two reports of bad lines (the ones in between are counted).
BAD_LINE_REPORT_INTERVAL_S = 1.0
#: Bytes of a bad line shown in its report.
BAD_LINE_SAMPLE_BYTES = 80


class CollectorError(Exception):
    """The socket path cannot be used; the message says why."""


def claim_socket_path(path: str) -> None:
    """Remove a stale socket file at ``path``; CollectorError if it is live or not a socket."""
    try:
        mode = os.lstat(path).st_mode
    except FileNotFoundError:
        return
    except OSError as e:
        raise CollectorError(f"cannot inspect {path}: {e.strerror}") from None
    if not stat.S_ISSOCK(mode):
        raise CollectorError(f"{path} exists and is not a socket; refusing to replace it")
    probe = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    try:
        probe.connect(path)
    except ConnectionRefusedError:
        try:
            os.unlink(path)  # nothing is bound to it: left over by a collector that died
        except FileNotFoundError:
            pass
        except OSError as e:
            raise CollectorError(f"cannot remove the stale socket {path}: {e.strerror}") from None
    except OSError as e:
        raise CollectorError(f"{path} is in use or not usable: {e.strerror}") from None
    else:
        raise CollectorError(f"another collector is listening on {path}")
    finally:
        probe.close()


@contextlib.contextmanager
def _umask(mask: int) -> Iterator[None]:
    previous = os.umask(mask)
    try:
        yield
    finally:
        os.umask(previous)


def listen_collector(
    reactor: IReactorUNIXDatagram, path: str, protocol: DatagramProtocol, mode: int = 0o660
) -> IListeningPort:
    """Bind ``protocol`` to a datagram socket at ``path`` (stale file replaced), chmod ``mode``."""
    if len(os.fsencode(path)) > 107:
        raise CollectorError(f"{path} is longer than the 107 bytes a Unix socket path may have")
    claim_socket_path(path)
    try:
        # Created private, then opened up to ``mode``: never briefly world-writable.
        with _umask(0o177):
            port: IListeningPort = reactor.listenUNIXDatagram(
                path, protocol, maxPacketSize=MAX_DATAGRAM_BYTES, mode=mode
            )
    except CannotListenError as e:
        raise CollectorError(f"cannot listen on {path}: {e.socketError}") from None
    return port


def release_socket_path(path: str, inode: int | None) -> None:
    """Remove the socket file at ``path`` if it is still the one with ``inode``."""
    try:
        if inode is not None and os.lstat(path).st_ino == inode:
            os.unlink(path)
    except OSError:
        pass  # already gone, or replaced by someone else: not ours to remove


class Collector(DatagramProtocol):
    """Decodes each datagram, passes matching events to the printer and the Redis writer."""

    def __init__(
        self,
        clock: IReactorTime,
        report: Callable[[str], None],
        *,
        event_filter: EventFilter | None = None,
        printer: Printer | None = None,
        writer: RedisStreamWriter | None = None,
        on_output_closed: Callable[[], None] | None = None,
    ) -> None:
        """Route events to ``printer`` and ``writer``; ``report`` takes one stderr line."""
        self._clock = clock
        self._report = report
        self._filter = event_filter or EventFilter()
        self.printer = printer
        self.writer = writer
        self._on_output_closed = on_output_closed
        self.decoder = EventDecoder(self._gap, self._bad_line, self._seq_reset)
        self._bad_reported_at: float | None = None
        self._bad_suppressed = 0
        #: events that passed the filters
        self.events_passed = 0

    def datagramReceived(self, datagram: bytes, addr: object) -> None:
        """Decode one datagram and route its events."""
        events = self.decoder.decode(datagram)
        printer = self.printer
        try:
            for event in events:
                if not self._filter.matches(event):
                    continue
                self.events_passed += 1
                if printer is not None:
                    printer.print_event(event)
                if self.writer is not None:
                    self.writer.write(event)
            if printer is not None and events:
                printer.flush()
        except OSError as e:  # stdout closed (a pipe reader went away) or failing
            self.printer = None
            self._report(f"output closed ({e.strerror or e}); no longer printing events")
            if self._on_output_closed is not None:
                self._on_output_closed()

    def _gap(self, instance: str, first: int, last: int) -> None:
        count = last - first + 1
        self._report(
            f"gap: instance {format_value('instance', instance)} missed seq {first}..{last} "
            f"({count} event{'s' if count != 1 else ''})"
        )

    def _seq_reset(self, instance: str, previous: int, seq: int) -> None:
        self._report(
            f"instance {format_value('instance', instance)} restarted or repeated: "
            f"seq {seq} after {previous}"
        )

    def _bad_line(self, reason: str, line: bytes) -> None:
        now = self._clock.seconds()
        last = self._bad_reported_at
        if last is not None and now - last < BAD_LINE_REPORT_INTERVAL_S:
            self._bad_suppressed += 1
            return
        self._bad_reported_at = now
        suppressed, self._bad_suppressed = self._bad_suppressed, 0
        sample = line[:BAD_LINE_SAMPLE_BYTES]
        more = "..." if len(line) > BAD_LINE_SAMPLE_BYTES else ""
        note = f" (and {suppressed} more not shown)" if suppressed else ""
        self._report(f"bad line ({reason}): {sample!r}{more}{note}")

    def summary(self) -> str:
        """One line of totals: received, passed the filters, bad lines, missing from gaps."""
        decoder = self.decoder
        text = (
            f"{decoder.events_received} events received, {self.events_passed} passed the filters, "
            f"{decoder.bad_lines} bad lines, {decoder.events_missed} missing (gaps)"
        )
        if self.writer is not None:
            writer = self.writer
            text += (
                f"; redis: {writer.written} written, {writer.dropped} dropped, "
                f"{writer.rejected} refused"
            )
        return text

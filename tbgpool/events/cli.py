"""``tbgpool-events``: a collector for the pool's events socket.

Binds the datagram socket the pool sends to, prints each event (readable, or the
JSON line as received), reports sequence gaps (dropped events) on stderr, and can
forward every event to Redis Streams. Runs until SIGINT/SIGTERM.

    tbgpool-events --socket /var/run/ckpool/events.sock [--json] [--type T]...
                   [--user ADDR] [--worker NAME] [--redis URL] [--quiet]
"""

from __future__ import annotations

import argparse
import os
import sys
from typing import IO, Any

from twisted.internet import defer
from twisted.internet.interfaces import IListeningPort
from twisted.logger import (
    FilteringLogObserver,
    LogLevel,
    LogLevelFilterPredicate,
    globalLogBeginner,
    textFileLogObserver,
)

from tbgpool.config.model import EVENT_TYPES
from tbgpool.events.collector import (
    Collector,
    CollectorError,
    listen_collector,
    release_socket_path,
)
from tbgpool.events.decoder import EventFilter
from tbgpool.events.printer import Printer
from tbgpool.events.redis_connection import RedisConnection, parse_redis_url
from tbgpool.events.redis_stream import RedisStreamWriter

#: The pool's default events.socket_path.
DEFAULT_SOCKET_PATH = "/var/run/ckpool/events.sock"
#: Seconds given to Redis at shutdown to take what is still buffered.
REDIS_DRAIN_S = 2.0


def _mode(text: str) -> int:
    try:
        mode = int(text, 8)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an octal mode: {text!r}") from None
    if not 0 <= mode <= 0o777:
        raise argparse.ArgumentTypeError(f"mode out of range: {text!r}")
    return mode


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an integer: {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1: {text!r}")
    return value


def build_parser() -> argparse.ArgumentParser:
    """The command line of tbgpool-events."""
    parser = argparse.ArgumentParser(
        prog="tbgpool-events",
        description="Receive tbgpool events on a Unix datagram socket; print and/or forward them.",
    )
    parser.add_argument("--socket", default=DEFAULT_SOCKET_PATH, metavar="PATH",
                        help="socket to bind (the pool's events.socket_path); default %(default)s")
    parser.add_argument("--mode", type=_mode, default=0o660, metavar="OCTAL",
                        help="permissions of the socket file; default 0660")
    output = parser.add_mutually_exclusive_group()
    output.add_argument("--json", action="store_true",
                        help="print each event as its JSON line, unchanged")
    output.add_argument("--quiet", action="store_true",
                        help="print no events (use with --redis)")
    parser.add_argument("--utc", action="store_true", help="readable times in UTC, not local")
    parser.add_argument("--type", action="append", choices=EVENT_TYPES, dest="types",
                        metavar="TYPE", help="only this event type (repeatable)")
    parser.add_argument("--user", metavar="ADDR", help="only events of this payout address")
    parser.add_argument("--worker", metavar="NAME", help="only events of this worker name")
    parser.add_argument("--redis", metavar="URL",
                        help="forward events to Redis Streams: redis://host:port/db or "
                             "unix:///path.sock")
    parser.add_argument("--stream-prefix", default="mining:", metavar="PREFIX",
                        help="stream key prefix; the key is PREFIX + event type; "
                             "default %(default)s")
    parser.add_argument("--maxlen", type=_positive_int, default=100_000, metavar="N",
                        help="approximate length cap of each stream (XADD MAXLEN ~ N); "
                             "default %(default)s")
    parser.add_argument("--redis-buffer", type=_positive_int, default=100_000, metavar="N",
                        help="events kept while Redis is unreachable (oldest dropped beyond); "
                             "default %(default)s")
    return parser


class _Reporter:
    """Writes one line per report to stderr; a broken stderr never stops the collector."""

    def __init__(self, err: IO[str]) -> None:
        self._err = err

    def __call__(self, message: str) -> None:
        try:
            self._err.write(f"tbgpool-events: {message}\n")
            self._err.flush()
        except (OSError, ValueError):
            pass


def _silence_stdout() -> None:
    """Point fd 1 at /dev/null so the exit-time flush of a closed pipe stays quiet."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    except (OSError, ValueError):
        pass


def run(reactor: Any, options: argparse.Namespace, out: IO[bytes], err: IO[str]) -> int:
    """Run the collector on ``reactor`` until it stops; the exit status."""
    report = _Reporter(err)
    status = [0]
    printer = None if options.quiet else Printer(out, json_lines=options.json, utc=options.utc)
    connection: RedisConnection | None = None
    writer: RedisStreamWriter | None = None
    if options.redis:
        target = parse_redis_url(options.redis)
        connection = RedisConnection(reactor, target, report=report)
        writer = RedisStreamWriter(
            connection,
            options.stream_prefix,
            options.maxlen,
            clock=reactor,
            report=report,
            max_buffered=options.redis_buffer,
        )

    def output_closed() -> None:
        if out is getattr(sys.stdout, "buffer", None):
            _silence_stdout()
        if writer is None:
            reactor.stop()

    collector = Collector(
        reactor,
        report,
        event_filter=EventFilter(options.types, options.user, options.worker),
        printer=printer,
        writer=writer,
        on_output_closed=output_closed,
    )
    listening: list[tuple[IListeningPort, int | None]] = []

    def start() -> None:
        try:
            port = listen_collector(reactor, options.socket, collector, options.mode)
        except CollectorError as e:
            report(str(e))
            status[0] = 1
            reactor.stop()
            return
        try:
            inode: int | None = os.lstat(options.socket).st_ino
        except OSError:
            inode = None
        listening.append((port, inode))
        if connection is not None:
            connection.start()
        where = f"; forwarding to redis {connection.target.describe()}" if connection else ""
        report(f"listening on {options.socket}{where}")

    @defer.inlineCallbacks
    def shutdown() -> Any:
        for port, inode in listening:
            yield port.stopListening()
            release_socket_path(options.socket, inode)
        if writer is not None and connection is not None:
            yield writer.drain(REDIS_DRAIN_S)
            writer.stop()
            yield connection.stop()
        if listening:
            report(collector.summary())

    reactor.callWhenRunning(start)
    reactor.addSystemEventTrigger("before", "shutdown", shutdown)
    reactor.run()
    return status[0]


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``tbgpool-events``; returns the exit status (2 for a usage error)."""
    parser = build_parser()
    try:
        options = parser.parse_args(argv)
    except SystemExit as e:  # argparse exits on --help and on usage errors
        return e.code if isinstance(e.code, int) else 2
    if options.redis:
        try:
            parse_redis_url(options.redis)
        except ValueError as e:
            parser.print_usage(sys.stderr)
            print(f"tbgpool-events: error: --redis: {e}", file=sys.stderr)
            return 2
    globalLogBeginner.beginLoggingTo(
        [
            FilteringLogObserver(
                textFileLogObserver(sys.stderr),
                [LogLevelFilterPredicate(defaultLogLevel=LogLevel.warn)],
            )
        ],
        redirectStandardIO=False,
    )
    # The one place that takes the global reactor: this is the process's entry point.
    from twisted.internet import reactor

    return run(reactor, options, sys.stdout.buffer, sys.stderr)


if __name__ == "__main__":
    sys.exit(main())

"""Structured JSON log files, rotated by size, whose failures never reach the pool.

``LogFileService`` observes a ``LogPublisher`` (the global one under twistd) and
writes every event at or above a level as one JSON line in
``<logdir>/tbgpool.log.json``. A full disk, a vanished directory or any other
error while writing loses the line, counts it in ``write_failures`` and is
reported once per burst; writing is retried after ``retry_after_s`` and the
first line written again says how many lines were lost. Nothing here ever
raises into the logging system or logs through it: mining must not stop, nor
slow down, because a log disk did.
"""

from __future__ import annotations

import io
import json
import math
import os
import sys
import threading
from collections.abc import Callable
from contextlib import suppress
from datetime import UTC, datetime
from typing import IO, Any, cast

from twisted.application import service
from twisted.internet.interfaces import IReactorTime
from twisted.logger import (
    ILogObserver,
    LogEvent,
    LogLevel,
    LogPublisher,
    eventAsJSON,
    formatEvent,
    globalLogPublisher,
)
from twisted.python.failure import Failure
from zope.interface import implementer

__all__ = [
    "DEFAULT_LOG_NAME",
    "LogFileService",
    "SizeRotatingFile",
    "format_log_line",
]

DEFAULT_LOG_NAME = "tbgpool.log.json"
DEFAULT_ROTATE_LENGTH_BYTES = 100 * 1024 * 1024
DEFAULT_MAX_ROTATED_FILES = 10
DEFAULT_RETRY_AFTER_S = 5.0

#: Keys every line carries besides the event's own fields.
TEXT_KEY, LEVEL_KEY, TIME_KEY = "text", "level", "time"
#: An event field that would be shadowed by one of those keys is kept under this prefix.
SHADOWED_FIELD_PREFIX = "field_"

_LEVELS = frozenset(LogLevel.iterconstants())

Opener = Callable[[str], IO[Any]]
Reporter = Callable[[str], None]


def _append_binary(path: str) -> IO[Any]:
    """The default opener: ``path`` in binary append mode."""
    return open(path, "ab")


def _report_to_stderr(message: str) -> None:
    """Write one line to the process's original stderr; never raise."""
    stream = sys.__stderr__
    if stream is None:
        return
    with suppress(Exception):
        stream.write(message + "\n")
        stream.flush()


def _describe(error: BaseException) -> str:
    """``error`` as text for a report, even if its ``__str__`` misbehaves."""
    try:
        return f"{type(error).__name__}: {error}"
    except Exception:
        return type(error).__name__


def _safe_str(value: object) -> str | None:
    """``str(value)``, or None if that is impossible."""
    if value is None:
        return None
    try:
        return str(value)
    except Exception:
        return None


def _event_level(event: LogEvent) -> LogLevel:
    """The event's LogLevel; events without a valid one count as info."""
    level = event.get("log_level")
    try:
        known = level in _LEVELS
    except TypeError:  # unhashable
        known = False
    return cast(LogLevel, level) if known else LogLevel.info


def _iso_time(when: object, fallback_s: float) -> str:
    """``when`` (POSIX seconds) as ISO 8601 UTC with milliseconds; ``fallback_s`` if unusable."""
    for candidate in (when, fallback_s):
        if isinstance(candidate, int | float) and not isinstance(candidate, bool):
            try:
                stamp = datetime.fromtimestamp(candidate, UTC)
            except (OverflowError, OSError, ValueError):
                continue
            return stamp.isoformat(timespec="milliseconds").replace("+00:00", "Z")
    return "unknown"


def _finite(value: Any) -> Any:
    """NaN and infinities as strings, since strict JSON readers (jq) refuse them."""
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    return value


def _traceback(event: LogEvent) -> str | None:
    """The text traceback of the event's failure, if it has one."""
    failure = event.get("log_failure")
    if not isinstance(failure, Failure):
        return None
    try:
        return failure.getTraceback()
    except Exception:
        return None


def format_log_line(event: LogEvent, fallback_time_s: float) -> str:
    """One JSON object, without a newline, for ``event``: every field, plus text, level, time.

    ``text`` is the human-readable message, ``level`` the level's name and
    ``time`` the event's ``log_time`` in ISO 8601 UTC (``fallback_time_s``
    when the event has none). An event field named like one of those is kept
    as ``field_<name>``. ``event`` itself is not modified. This never raises: an
    event that cannot be serialized still gives a line with its text.
    """
    level = _event_level(event).name
    when = _iso_time(event.get("log_time"), fallback_time_s)
    try:
        text = formatEvent(event)
    except Exception:
        text = "unformattable event"
    try:
        record = {key: _finite(value) for key, value in event.items()}
        shadowed = [key for key in (TEXT_KEY, LEVEL_KEY, TIME_KEY) if key in record]
        if shadowed:
            # Serializing flattens the record in place: the format's fields are then
            # captured with the event's values before ours replace them.
            eventAsJSON(record)
            for key in shadowed:
                record[SHADOWED_FIELD_PREFIX + key] = record.pop(key)
        record[TEXT_KEY] = text
        record[LEVEL_KEY] = level
        record[TIME_KEY] = when
        traceback = _traceback(event)
        if traceback is not None:
            record["traceback"] = traceback
        return eventAsJSON(record)
    except Exception as e:
        # A field that defeats the encoder (a cycle, a hostile __str__...): keep what is safe.
        return json.dumps(
            {
                TEXT_KEY: text,
                LEVEL_KEY: level,
                TIME_KEY: when,
                "log_namespace": _safe_str(event.get("log_namespace")),
                "log_format": _safe_str(event.get("log_format")),
                "unserializable": _describe(e),
            }
        )


class SizeRotatingFile:
    """An append-only file that moves to ``path.1`` (``.1`` to ``.2``...) at a size bound.

    A file never grows past ``rotate_length_bytes`` unless a single write is
    longer than that; at most ``max_rotated_files`` old files are kept (0: the
    full file is deleted). Errors propagate: the caller decides what a failed
    write means. After any error the file may be closed; ``write`` reopens it.
    """

    def __init__(
        self,
        path: str,
        rotate_length_bytes: int,
        max_rotated_files: int,
        opener: Opener = _append_binary,
    ) -> None:
        """Prepare to append to ``path``; nothing is opened until ``open`` or ``write``."""
        self.path = path
        self.rotate_length_bytes = rotate_length_bytes
        self.max_rotated_files = max_rotated_files
        self._opener = opener
        self._handle: IO[Any] | None = None
        self._handle_is_text = False
        #: Bytes in the current file, as far as we know.
        self.size_bytes = 0

    @property
    def is_open(self) -> bool:
        """Whether a handle is open."""
        return self._handle is not None

    def open(self) -> None:
        """Open (creating its directory if needed) the file at ``path`` for appending."""
        self.close()
        directory = os.path.dirname(self.path)
        if directory:
            os.makedirs(directory, exist_ok=True)
        handle = self._opener(self.path)
        self._handle_is_text = isinstance(handle, io.TextIOBase)
        try:
            # Append mode starts at the end, so this is the size already there.
            self.size_bytes = handle.tell()
        except Exception:
            # Unknown size (a pipe, a device): writing matters more than rotating on time.
            self.size_bytes = 0
        self._handle = handle

    def write(self, text: str, *, end_partial_line: bool = False) -> None:
        """Append ``text`` (UTF-8) and flush it, rotating first if it would cross the bound.

        With ``end_partial_line`` (after a failed write), a newline goes first
        if the file does not end with one, so a line cut short stays apart.
        """
        if self._handle is None:
            self.open()
        prefixed = end_partial_line and self.size_bytes > 0 and not self._ends_with_newline()
        if prefixed:
            text = "\n" + text
        data = text.encode("utf-8")
        if self.size_bytes > 0 and self.size_bytes + len(data) > self.rotate_length_bytes:
            self.rotate()
            if prefixed:
                # The cut line stays in the old file; the new one starts cleanly.
                text, data = text[1:], data[1:]
        handle = self._handle
        assert handle is not None
        handle.write(text if self._handle_is_text else data)
        handle.flush()
        self.size_bytes += len(data)

    def _ends_with_newline(self) -> bool:
        """Whether the file at ``path`` is missing, or its last byte is a newline."""
        try:
            with open(self.path, "rb") as existing:
                existing.seek(-1, os.SEEK_END)
                return existing.read(1) == b"\n"
        except FileNotFoundError:
            return True
        except Exception:
            return False

    def rotate(self) -> None:
        """Shift the old files up by one (dropping the oldest), move the file to .1, reopen."""
        self.close()
        for number in sorted(self._rotated_numbers(), reverse=True):
            old = f"{self.path}.{number}"
            if number >= self.max_rotated_files:
                os.remove(old)
            else:
                os.replace(old, f"{self.path}.{number + 1}")
        if os.path.exists(self.path):
            if self.max_rotated_files > 0:
                os.replace(self.path, f"{self.path}.1")
            else:
                os.remove(self.path)
        self.open()

    def rotated_paths(self) -> list[str]:
        """The old files that exist now, newest (``.1``) first."""
        return [f"{self.path}.{number}" for number in sorted(self._rotated_numbers())]

    def close(self) -> None:
        """Close the handle; it counts as closed even if closing raises."""
        handle, self._handle = self._handle, None
        if handle is not None:
            handle.close()

    def _rotated_numbers(self) -> list[int]:
        directory, name = os.path.split(self.path)
        prefix = name + "."
        numbers = []
        for entry in os.listdir(directory or "."):
            suffix = entry[len(prefix):]
            if entry.startswith(prefix) and suffix.isascii() and suffix.isdigit():
                number = int(suffix)
                if number > 0:
                    numbers.append(number)
        return numbers


@implementer(ILogObserver)
class LogFileService(service.Service):
    """Writes log events as JSON lines to a size-rotated file; a failing disk never raises.

    The service is itself the observer it adds to ``publisher`` while running.
    ``write_failures`` counts the lines lost (exported as
    ``ckpool_log_write_failures_total``). The ``name`` argument names the file;
    the service's own ``Service.name`` is left unset.
    """

    def __init__(
        self,
        clock: IReactorTime,
        logdir: str,
        *,
        publisher: LogPublisher = globalLogPublisher,
        name: str = DEFAULT_LOG_NAME,
        rotate_length_bytes: int = DEFAULT_ROTATE_LENGTH_BYTES,
        max_rotated_files: int = DEFAULT_MAX_ROTATED_FILES,
        min_level: LogLevel = LogLevel.info,
        retry_after_s: float = DEFAULT_RETRY_AFTER_S,
        opener: Opener | None = None,
        report: Reporter | None = None,
    ) -> None:
        """Log to ``logdir/name``; ``opener(path)`` returns a file to append to (default "ab")."""
        if not name or os.path.basename(name) != name or name in (".", ".."):
            raise ValueError(f"log file name must be a plain file name, not {name!r}")
        if isinstance(rotate_length_bytes, bool) or not isinstance(rotate_length_bytes, int) \
                or rotate_length_bytes <= 0:
            raise ValueError(f"rotate_length_bytes must be an int > 0, not {rotate_length_bytes!r}")
        if isinstance(max_rotated_files, bool) or not isinstance(max_rotated_files, int) \
                or max_rotated_files < 0:
            raise ValueError(f"max_rotated_files must be an int >= 0, not {max_rotated_files!r}")
        if min_level not in _LEVELS:
            raise ValueError(f"min_level must be a twisted.logger.LogLevel, not {min_level!r}")
        if isinstance(retry_after_s, bool) or not isinstance(retry_after_s, int | float) \
                or not math.isfinite(retry_after_s) or retry_after_s < 0:
            raise ValueError(f"retry_after_s must be a finite number >= 0, not {retry_after_s!r}")
        self._clock = clock
        self._publisher = publisher
        self.min_level = min_level
        self.retry_after_s = float(retry_after_s)
        self.path = os.path.join(logdir, name)
        self.log_file = SizeRotatingFile(
            self.path, rotate_length_bytes, max_rotated_files, opener or _append_binary
        )
        self._report = report or _report_to_stderr
        #: Lines lost since the service was made (disk full, I/O error, re-entrant event...).
        self.write_failures = 0
        self._lost_in_burst = 0
        self._failing = False
        self._retry_at_s: float | None = None
        # Events may come from other threads; the flag catches an event raised by our own write.
        self._lock = threading.RLock()
        self._busy = False

    def startService(self) -> None:
        """Open the file (an error only starts a failure burst) and start observing."""
        super().startService()
        with self._lock:
            self._busy = True
            try:
                self.log_file.open()
            except Exception as e:
                self._failed(e, self._clock.seconds(), lines_lost=0)
            finally:
                self._busy = False
        self._publisher.addObserver(self)

    def stopService(self) -> None:
        """Stop observing, then flush and close the file (errors there are ignored)."""
        self._publisher.removeObserver(self)
        with self._lock, suppress(Exception):
            self.log_file.close()
        super().stopService()

    def __call__(self, event: LogEvent) -> None:
        """Write ``event`` as one JSON line if it is at or above ``min_level``; never raises."""
        try:
            if _event_level(event) < self.min_level:
                return
            with self._lock:
                if self._busy:
                    # Written into the log while we write: handling it would recurse.
                    self.write_failures += 1
                    self._lost_in_burst += 1
                    return
                self._busy = True
                try:
                    self._write(event)
                finally:
                    self._busy = False
        except Exception:
            # Nothing may reach the publisher (it would log about us, to us).
            self.write_failures += 1

    def _write(self, event: LogEvent) -> None:
        now = self._clock.seconds()
        retry_at = self._retry_at_s
        # A clock that jumped back must not stretch the pause.
        if retry_at is not None and now < retry_at <= now + self.retry_after_s:
            self.write_failures += 1
            self._lost_in_burst += 1
            return
        text = format_log_line(event, now) + "\n"
        lost = self._lost_in_burst
        if self._failing and lost:
            text = format_log_line(self._recovery_event(now, lost), now) + "\n" + text
        try:
            self.log_file.write(text, end_partial_line=self._failing)
        except Exception as e:
            self._failed(e, now, lines_lost=1)
            return
        if self._failing:
            self._failing = False
            self._lost_in_burst = 0
            self._retry_at_s = None
            self._safe_report(f"tbgpool: log file {self.path} writable again; {lost} lines lost")

    def _failed(self, error: Exception, now: float, lines_lost: int) -> None:
        """Count the lost lines, close the file, pause; report only a burst's first error."""
        self.write_failures += lines_lost
        self._lost_in_burst += lines_lost
        self._retry_at_s = now + self.retry_after_s
        with suppress(Exception):
            self.log_file.close()
        if not self._failing:
            self._failing = True
            self._safe_report(
                f"tbgpool: cannot write log file {self.path} ({_describe(error)}); lines are "
                f"dropped and counted (ckpool_log_write_failures_total), retrying every "
                f"{self.retry_after_s:g} s"
            )

    def _recovery_event(self, now: float, lines_lost: int) -> LogEvent:
        """The event that says how many lines a burst lost."""
        return {
            "log_namespace": __name__,
            "log_level": LogLevel.warn,
            "log_format": "log file {path} writable again: {lines_lost} lines were lost",
            "log_time": now,
            "path": self.path,
            "lines_lost": lines_lost,
        }

    def _safe_report(self, message: str) -> None:
        with suppress(Exception):
            self._report(message)

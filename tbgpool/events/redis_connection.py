"""A Redis connection for the collector: URL parsing, and one connection kept up with back-off.

Commands fail at once while the connection is down (txredisapi's own lazy
connections would queue them without bound); :class:`RedisStreamWriter` in
:mod:`tbgpool.events.redis_stream` buffers and retries on top of that.
"""

from __future__ import annotations

import re
import urllib.parse
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import txredisapi
from twisted.application.internet import ClientService, backoffPolicy
from twisted.internet import defer
from twisted.internet.endpoints import HostnameEndpoint, UNIXClientEndpoint
from twisted.internet.interfaces import IStreamClientEndpoint
from twisted.internet.protocol import Factory
from twisted.python.failure import Failure

#: Seconds Redis may take to answer before the connection is dropped and made again.
REPLY_TIMEOUT_S = 10.0
#: Seconds a connection attempt may take.
CONNECT_TIMEOUT_S = 5.0
_DATABASE = re.compile(r"[0-9]{1,6}")


@dataclass(frozen=True)
class RedisTarget:
    """Where Redis is: TCP host and port, or a Unix socket path; the database and credentials."""

    host: str | None = None
    port: int = 6379
    unix_path: str | None = None
    db: int = 0
    username: str | None = None
    password: str | None = None

    def describe(self) -> str:
        """The target for messages, without the password."""
        where = f"unix:{self.unix_path}" if self.unix_path else f"{self.host}:{self.port}"
        return f"{where}/{self.db}"


def parse_redis_url(url: str) -> RedisTarget:
    """``redis://[[user]:password@]host[:port][/db]`` or ``unix:///path.sock[?db=N]``."""
    try:
        parts = urllib.parse.urlsplit(url)
        port = parts.port
    except ValueError as e:
        raise ValueError(f"bad Redis URL: {e}") from None
    username = urllib.parse.unquote(parts.username) if parts.username else None
    password = urllib.parse.unquote(parts.password) if parts.password is not None else None
    query = urllib.parse.parse_qs(parts.query, strict_parsing=False)
    if parts.scheme == "unix":
        if parts.netloc and parts.netloc.rpartition("@")[2]:
            raise ValueError("bad Redis URL: write unix:///absolute/path.sock")
        if not parts.path.startswith("/"):
            raise ValueError("bad Redis URL: the socket path must be absolute")
        return RedisTarget(
            unix_path=parts.path,
            db=_database(query.get("db", ["0"])[-1]),
            username=username,
            password=password,
        )
    if parts.scheme == "redis":
        if not parts.hostname:
            raise ValueError("bad Redis URL: no host")
        database = parts.path.lstrip("/") or query.get("db", ["0"])[-1]
        return RedisTarget(
            host=parts.hostname,
            port=port if port is not None else 6379,
            db=_database(database),
            username=username,
            password=password,
        )
    raise ValueError(f"bad Redis URL: scheme must be redis or unix, not {parts.scheme!r}")


def _database(text: str) -> int:
    if not _DATABASE.fullmatch(text):
        raise ValueError(f"bad Redis URL: database must be a number, not {text!r}")
    return int(text)


class _StreamProtocol(txredisapi.RedisProtocol):  # type: ignore[misc]
    """txredisapi's protocol, on our reactor, telling its owner when it is lost."""

    ready: defer.Deferred[None]
    prepared: bool

    def prepare(self) -> defer.Deferred[None]:
        """The Deferred ClientService waits on before it counts the connection as made."""
        self.prepared = True
        return self.ready

    def connectionLost(self, why: Failure) -> None:
        owner: RedisConnection = self.factory.owner
        owner._lost(self)
        super().connectionLost(why)


class _StreamFactory(Factory):
    """Builds protocols for RedisConnection; answers txredisapi's factory calls."""

    isLazy = False

    def __init__(self, owner: RedisConnection) -> None:
        self.owner = owner

    def buildProtocol(self, addr: Any) -> _StreamProtocol:
        target = self.owner.target
        protocol = _StreamProtocol(
            charset="utf-8",
            replyTimeout=self.owner.reply_timeout_s,
            password=target.password,
            dbid=target.db or None,
            username=target.username,
        )
        protocol.factory = self
        protocol.callLater = self.owner.reactor.callLater
        protocol.ready = defer.Deferred()
        protocol.prepared = False
        protocol.whenConnected().addCallback(self.owner._usable)
        return protocol

    def stopTrying(self) -> None:
        """Called by txredisapi when AUTH or SELECT failed: we keep trying (it may get fixed)."""

    def connectionError(self, why: str) -> None:
        """Called by txredisapi with the reason AUTH or SELECT failed."""
        self.owner._report(f"redis {self.owner.target.describe()}: {why}")


class RedisConnection:
    """One Redis connection kept up with back-off; commands fail at once while it is down."""

    def __init__(
        self,
        reactor: Any,
        target: RedisTarget,
        *,
        report: Callable[[str], None],
        retry_policy: Callable[[int], float] | None = None,
        connect_timeout_s: float = CONNECT_TIMEOUT_S,
        reply_timeout_s: float = REPLY_TIMEOUT_S,
    ) -> None:
        """Connect with ``reactor`` (time, TCP and Unix); ``report`` gets one line per problem."""
        self.reactor = reactor
        self.target = target
        self.reply_timeout_s = reply_timeout_s
        self._report = report
        self._protocol: _StreamProtocol | None = None
        endpoint: IStreamClientEndpoint
        if target.unix_path is not None:
            endpoint = UNIXClientEndpoint(reactor, target.unix_path, timeout=connect_timeout_s)
        else:
            assert target.host is not None
            endpoint = HostnameEndpoint(reactor, target.host, target.port, timeout=connect_timeout_s)
        self._service = ClientService(
            endpoint,
            _StreamFactory(self),
            retryPolicy=retry_policy or backoffPolicy(initialDelay=0.5, maxDelay=10.0),
            clock=reactor,
            prepareConnection=self._prepare,
        )

    @property
    def connected(self) -> bool:
        """Whether commands can be sent now."""
        return self._protocol is not None

    def start(self) -> None:
        """Start connecting (and reconnecting whenever the connection is lost)."""
        self._service.startService()

    def stop(self) -> defer.Deferred[None]:
        """Stop reconnecting and close the connection."""
        return self._service.stopService()

    def execute_command(self, *args: Any) -> defer.Deferred[Any]:
        """Send one command; fails with txredisapi.ConnectionError at once while down."""
        protocol = self._protocol
        if protocol is None:
            return defer.fail(txredisapi.ConnectionError("not connected to Redis"))
        result: defer.Deferred[Any] = protocol.execute_command(*args)
        return result

    def _prepare(self, proxy: Any) -> defer.Deferred[None]:
        """Ready once txredisapi has authenticated and selected the database."""
        # ClientService hands over a proxy; attribute reads reach our protocol behind it.
        ready: defer.Deferred[None] = proxy.prepare()
        return ready

    def _usable(self, protocol: _StreamProtocol) -> None:
        """txredisapi says ``protocol`` (ours, not the proxy) can take commands."""
        self._protocol = protocol
        if not protocol.ready.called:
            protocol.ready.callback(None)

    def _lost(self, protocol: _StreamProtocol) -> None:
        if self._protocol is protocol:
            self._protocol = None
        ready = protocol.ready
        if protocol.prepared and not ready.called:
            ready.errback(txredisapi.ConnectionError("connection lost before it was ready"))

"""Stratum v1 line framing: JSON-RPC lines in, replies and notifications out.

A thin layer over :class:`~tbgpool.stratum.session.StratumSession`: it admits
the connection (per-IP limits), sniffs for traffic that is not Stratum at all,
decodes each line strictly (:mod:`tbgpool.stratum.requests`), hands (method,
params) to the session, and writes the reply with the request's id echoed as
given (bfgminer uses string ids). It also notices a miner that stops reading.
"""

from __future__ import annotations

import json
import socket
import struct
from typing import Any, Final

from twisted.internet import protocol
from twisted.internet.interfaces import IAddress, IPushProducer
from twisted.internet.protocol import Protocol
from twisted.logger import Logger
from twisted.protocols.basic import LineOnlyReceiver
from twisted.python.failure import Failure
from zope.interface import implementer

from tbgpool.interfaces import IMinerConnection
from tbgpool.pool import Pool
from tbgpool.stratum.errors import OTHER, StratumError
from tbgpool.stratum.requests import BadLine, decode_request
from tbgpool.stratum.session import StratumSession

#: The longest line a miner may send; a submit is ~200 bytes, a subscribe at most ~400.
MAX_LINE_BYTES: Final = 16 * 1024
#: Bytes looked at before deciding whether a connection speaks Stratum at all.
_SNIFF_BYTES: Final = 5
#: Openings of protocols that are not Stratum: TLS records and SSLv2 hellos, SSH.
_ABORT_PREFIXES: Final = (b"\x16\x03", b"\x80", b"SSH-")
_HTTP_PREFIXES: Final = (
    b"GET ", b"POST ", b"HEAD ", b"PUT ", b"DELETE", b"OPTIONS", b"CONNECT", b"PATCH", b"PRI *",
    b"TRACE",
)
_HTTP_REPLY: Final = (
    b"HTTP/1.1 400 Bad Request\r\nContent-Type: text/plain\r\nConnection: close\r\n"
    b"Content-Length: 58\r\n\r\nThis is a Stratum mining port: use stratum+tcp:// instead\n"
)


def _reply(request_id: object, result: object, error: list[object] | None) -> bytes:
    return (
        json.dumps({"id": request_id, "result": result, "error": error}, separators=(",", ":"))
        .encode()
        + b"\n"
    )


def _peer_text(address: IAddress) -> str:
    host = getattr(address, "host", None)
    port = getattr(address, "port", None)
    return f"{host}:{port}" if host is not None else str(address)


def reset_connection(transport: object) -> None:
    """Close with a TCP RST (SO_LINGER 0) where the transport has a socket, else abort."""
    handle = getattr(transport, "getHandle", lambda: None)()
    if isinstance(handle, socket.socket):
        try:
            handle.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        except OSError:
            pass
    abort = getattr(transport, "abortConnection", None)
    if abort is not None:
        abort()
    else:
        transport.loseConnection()  # type: ignore[attr-defined]


@implementer(IMinerConnection, IPushProducer)
class StratumProtocol(LineOnlyReceiver):
    """One miner connection."""

    _log = Logger()
    delimiter = b"\n"
    MAX_LENGTH = MAX_LINE_BYTES
    factory: StratumFactory
    session: StratumSession | None = None
    peer = "?"
    host = "?"
    _admitted = False
    _sniffed = False
    _head = b""
    _hung_up = False

    # -- connection life ------------------------------------------------------------

    def connectionMade(self) -> None:
        """Admit the connection (per-IP limits), then open a session for it."""
        assert self.transport is not None
        address = self.transport.getPeer()
        self.peer = _peer_text(address)
        self.host = str(getattr(address, "host", self.peer))
        pool = self.factory.pool
        refused = pool.gate.admit(self.host, pool.clock.seconds())
        if refused is not None:
            pool.limit_log.hit(refused, self.host, "connection reset")
            self._hung_up = True
            reset_connection(self.transport)
            return
        self._admitted = True
        self.session = pool.new_session(self)
        # As a push producer we hear when our output backs up (a miner that stops reading).
        self._stream().registerProducer(self, True)

    def connectionLost(self, reason: Failure = protocol.connectionDone) -> None:
        """Give the address's slot back and tell the session its miner is gone."""
        if self._admitted:
            self._admitted = False
            self.factory.pool.gate.release(self.host)
        if self.session is not None:
            self.session.connection_lost()

    # -- IMinerConnection -----------------------------------------------------------------

    def sendMessage(self, line: bytes) -> None:
        """Queue a newline-terminated line to the miner."""
        assert self.transport is not None
        self.transport.write(line)

    def disconnect(self, reason: str) -> None:
        """Hang up after what is queued."""
        if self._hung_up:
            return
        self._hung_up = True
        self._log.info("disconnecting {peer}: {reason}", peer=self.peer, reason=reason)
        assert self.transport is not None
        self.transport.loseConnection()

    def abort(self, reason: str) -> None:
        """Hang up now, dropping what is queued."""
        self._hung_up = True
        self._log.info("aborting {peer}: {reason}", peer=self.peer, reason=reason)
        self._stream().abortConnection()

    # -- a miner that stops reading (IPushProducer: the transport's buffer is full) -----

    def pauseProducing(self) -> None:
        """Our output backs up: stop reading the miner's requests until it reads again."""
        if self.session is not None:
            self.session.output_blocked_since = self.factory.pool.clock.seconds()
        self._stream().pauseProducing()

    def resumeProducing(self) -> None:
        """The miner reads again."""
        if self.session is not None:
            self.session.output_blocked_since = None
        self._stream().resumeProducing()

    def stopProducing(self) -> None:
        """The transport is going away; connectionLost does the rest."""

    def _stream(self) -> Any:
        """The transport as the TCP/TLS stream it is (a consumer and a producer too)."""
        assert self.transport is not None
        return self.transport

    # -- bytes in -------------------------------------------------------------------------

    def dataReceived(self, data: bytes) -> None:
        """Sniff the first bytes for other protocols, then frame lines."""
        if self._hung_up or self.session is None:
            return
        if not self._sniffed:
            self._head += data
            if len(self._head) < _SNIFF_BYTES and b"\n" not in self._head:
                return
            data, self._head = self._head, b""
            self._sniffed = True
            if self._not_stratum(data):
                return
        super().dataReceived(data)

    def _not_stratum(self, head: bytes) -> bool:
        """Answer and close a connection speaking HTTP, TLS or SSH to the plain port."""
        pool = self.factory.pool
        if head.startswith(_HTTP_PREFIXES):
            pool.limit_log.hit("non_stratum", self.host, "HTTP answered 400 and closed")
            self.sendMessage(_HTTP_REPLY)
            self.disconnect("HTTP request on the Stratum port")
            return True
        if head.startswith(_ABORT_PREFIXES):
            pool.limit_log.hit("non_stratum", self.host, "TLS or SSH on the plain port: closed")
            self.abort("not Stratum (TLS or SSH)")
            return True
        return False

    def lineLengthExceeded(self, line: bytes) -> None:
        """A line longer than MAX_LENGTH: answer once and hang up."""
        if self._hung_up:
            return
        self.factory.pool.limit_log.hit("line_length", self.host, "disconnected")
        self.sendMessage(_reply(None, None, [OTHER, "Line too long", None]))
        self.disconnect("line too long")

    def lineReceived(self, line: bytes) -> None:
        """Decode one JSON-RPC line and dispatch it."""
        session = self.session
        if self._hung_up or session is None:
            return
        pool = self.factory.pool
        started_at = pool.clock.seconds()
        line = line.rstrip(b"\r")
        if not line.strip():
            return
        session.last_request_at = started_at
        try:
            request = decode_request(line)
        except BadLine as bad:
            self._log.debug("bad line from {peer}: {error} ({line!r})", peer=self.peer,
                            error=bad.error.message, line=line[:200])
            self.sendMessage(_reply(bad.request_id, None, bad.error.to_json()))
            self._malformed(started_at)
            return
        if request is None:
            return
        try:
            result = session.handle(request.method, request.params)
        except StratumError as e:
            self.sendMessage(_reply(request.request_id, None, e.to_json()))
            if e.reason == "unknown_method":
                self._malformed(started_at)
        except Exception:
            self._log.failure("request {method} from {peer} failed",
                              method=request.method, peer=self.peer)
            self.sendMessage(_reply(request.request_id, None, [OTHER, "Internal error", None]))
        else:
            self.sendMessage(_reply(request.request_id, result, None))
        if request.method == "mining.submit":
            pool.instruments.share_rtt_us.observe((pool.clock.seconds() - started_at) * 1e6)
        if session.hangup is not None:
            self.disconnect(session.hangup)
            return
        session.replied()

    def _malformed(self, now: float) -> None:
        session = self.session
        assert session is not None
        if not session.limits.malformed(now):
            self.factory.pool.limit_log.hit("malformed_requests", self.host, "disconnected")
            self.disconnect("too many malformed requests")


class _Refused(Protocol):
    """Answers a connection the pool has no room for with a reset."""

    def connectionMade(self) -> None:
        """Reset at once."""
        reset_connection(self.transport)


class StratumFactory(protocol.ServerFactory):
    """Makes a StratumProtocol per connection, up to the pool's ``maxclients``."""

    protocol = StratumProtocol  # type: ignore[assignment]
    _log = Logger()

    def __init__(self, pool: Pool) -> None:
        self.pool = pool

    def buildProtocol(self, addr: IAddress | None) -> Protocol | None:  # type: ignore[override]
        """A protocol for a new connection, or a reset when the pool is full."""
        if len(self.pool.sessions) >= self.pool.config.maxclients:
            host = str(getattr(addr, "host", addr))
            self.pool.limit_log.hit("maxclients", host, "connection reset")
            return _Refused()
        proto = StratumProtocol()
        proto.factory = self
        return proto

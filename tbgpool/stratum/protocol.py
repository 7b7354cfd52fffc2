"""Stratum v1 line framing: JSON-RPC lines in, replies and notifications out.

A thin layer over :class:`~tbgpool.stratum.session.StratumSession`: it parses
each line, hands (method, params) to the session, and writes the reply with
the request's id echoed as given (bfgminer uses string ids).
"""

from __future__ import annotations

import json
from typing import Any

from twisted.internet import protocol
from twisted.internet.interfaces import IAddress
from twisted.internet.protocol import Protocol
from twisted.logger import Logger
from twisted.protocols.basic import LineOnlyReceiver
from twisted.python.failure import Failure
from zope.interface import implementer

from tbgpool.interfaces import IMinerConnection
from tbgpool.pool import Pool
from tbgpool.stratum.errors import OTHER, StratumError
from tbgpool.stratum.session import StratumSession

#: The longest line a miner may send; a submit is ~200 bytes, a subscribe at most ~400.
MAX_LINE_BYTES = 16 * 1024


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


@implementer(IMinerConnection)
class StratumProtocol(LineOnlyReceiver):
    """One miner connection."""

    _log = Logger()
    delimiter = b"\n"
    MAX_LENGTH = MAX_LINE_BYTES
    factory: StratumFactory
    session: StratumSession
    peer = "?"

    def connectionMade(self) -> None:
        """Open a session in the pool for this connection."""
        assert self.transport is not None
        self.peer = _peer_text(self.transport.getPeer())
        self.session = self.factory.pool.new_session(self)

    def connectionLost(self, reason: Failure = protocol.connectionDone) -> None:
        """Tell the session its miner is gone."""
        session = getattr(self, "session", None)
        if session is not None:
            session.connection_lost()

    def sendMessage(self, line: bytes) -> None:
        """Queue a newline-terminated line to the miner."""
        assert self.transport is not None
        self.transport.write(line)

    def disconnect(self, reason: str) -> None:
        """Hang up after what is queued."""
        self._log.info("disconnecting {peer}: {reason}", peer=self.peer, reason=reason)
        assert self.transport is not None
        self.transport.loseConnection()

    def lineLengthExceeded(self, line: bytes) -> None:
        """A line longer than MAX_LENGTH: answer once and hang up."""
        self.factory.pool.instruments.limit_hit("line_length")
        self.sendMessage(_reply(None, None, [OTHER, "Line too long", None]))
        self.disconnect("line too long")

    def lineReceived(self, line: bytes) -> None:
        """Parse one JSON-RPC line and dispatch it."""
        started_at = self.factory.pool.clock.seconds()
        line = line.rstrip(b"\r")
        if not line.strip():
            return
        try:
            message = json.loads(line.decode("utf-8"))
        except (UnicodeDecodeError, ValueError, RecursionError):
            self.sendMessage(_reply(None, None, [OTHER, "Parse error", None]))
            return
        if not isinstance(message, dict):
            self.sendMessage(_reply(None, None, [OTHER, "Invalid request", None]))
            return
        request_id = message.get("id")
        method = message.get("method")
        if method is None and ("result" in message or "error" in message):
            return  # a miner's answer to something we sent; nothing to do
        params: Any = message.get("params", [])
        if params is None:
            params = []
        if not isinstance(method, str) or not isinstance(params, list):
            self.sendMessage(_reply(request_id, None, [OTHER, "Invalid request", None]))
            return
        try:
            result = self.session.handle(method, params)
        except StratumError as e:
            self.sendMessage(_reply(request_id, None, e.to_json()))
        except Exception:
            self._log.failure("request {method} from {peer} failed", method=method, peer=self.peer)
            self.sendMessage(_reply(request_id, None, [OTHER, "Internal error", None]))
        else:
            self.sendMessage(_reply(request_id, result, None))
        if method == "mining.submit":
            pool = self.factory.pool
            pool.instruments.share_rtt_us.observe((pool.clock.seconds() - started_at) * 1e6)
        self.session.replied()


class StratumFactory(protocol.ServerFactory):
    """Makes a StratumProtocol per connection, up to the pool's ``maxclients``."""

    protocol = StratumProtocol  # type: ignore[assignment]
    _log = Logger()

    def __init__(self, pool: Pool) -> None:
        self.pool = pool

    def buildProtocol(self, addr: IAddress | None) -> Protocol | None:  # type: ignore[override]
        """A protocol for a new connection, or None (refused) when the pool is full."""
        if len(self.pool.sessions) >= self.pool.config.maxclients:
            self.pool.instruments.limit_hit("maxclients")
            self._log.warn("refusing {peer}: maxclients reached", peer=str(addr))
            return None
        proto = StratumProtocol()
        proto.factory = self
        return proto

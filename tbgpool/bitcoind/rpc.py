"""HTTP JSON-RPC client for Bitcoin Core, driven entirely by the reactor.

Requests go over a persistent connection pool with a connect timeout and an
overall per-call timeout, so a slow or dead node never blocks the pool. Every
way a call can go wrong ends as :class:`~tbgpool.errors.RPCError` (the node
answered with a JSON-RPC error) or :class:`~tbgpool.errors.RPCUnavailable`
(anything else), each with a message that names the node.
"""

from __future__ import annotations

import base64
import itertools
import json
from typing import Any
from urllib.parse import urlsplit

from twisted.internet import defer, error
from twisted.internet.interfaces import IConsumer, IReactorTime
from twisted.internet.protocol import Protocol, connectionDone
from twisted.logger import Logger
from twisted.python.failure import Failure
from twisted.web import http
from twisted.web.client import Agent, HTTPConnectionPool, ResponseDone, _HTTP11ClientFactory
from twisted.web.http_headers import Headers
from twisted.web.iweb import UNKNOWN_LENGTH, IBodyProducer, IResponse
from zope.interface import implementer

from tbgpool.errors import ConfigError, RPCError, RPCUnavailable
from tbgpool.interfaces import IBitcoinRPC

#: Largest response body we accept (a getblocktemplate of a full mempool is a few MiB).
MAX_RESPONSE_BYTES = 32 * 1024 * 1024

#: Idle keep-alive connections are dropped before Core's own ``rpcservertimeout`` (30 s)
#: would close them under us.
CACHED_CONNECTION_TIMEOUT_S = 15

_COOKIE_USER = "__cookie__"
_SNIPPET_BYTES = 80


def parse_rpc_url(url: str) -> tuple[str, int, str]:
    """Split ``host:port`` or ``http://host:port[/path]`` into (host, port, path)."""
    text = url.strip()
    if "://" not in text:
        text = "http://" + text
    try:
        parts = urlsplit(text)
        port = parts.port
    except ValueError as e:
        raise ConfigError("btcd.url", f"{url!r} is not host:port or http://host:port: {e}") from e
    if parts.scheme != "http":
        raise ConfigError("btcd.url", f"{url!r}: only http:// is supported (Core has no TLS)")
    if not parts.hostname:
        raise ConfigError("btcd.url", f"{url!r} has no host")
    if port is None:
        raise ConfigError("btcd.url", f"{url!r} has no port (mainnet RPC is 8332)")
    if parts.username is not None or parts.query or parts.fragment:
        raise ConfigError("btcd.url", f"{url!r}: give credentials separately, not in the URL")
    return parts.hostname, port, parts.path or "/"


def read_cookie(cookie_path: str) -> tuple[str, str]:
    """Read Core's ``.cookie`` file (``__cookie__:hex``); RPCUnavailable when unusable."""
    try:
        with open(cookie_path, encoding="ascii") as f:
            content = f.read(4096).strip()
    except OSError as e:
        raise RPCUnavailable(
            f"cannot read RPC cookie file {cookie_path}: {e.strerror or e} "
            "(is bitcoind running, and is this its datadir?)"
        ) from e
    except UnicodeDecodeError as e:
        raise RPCUnavailable(f"RPC cookie file {cookie_path} is not ASCII") from e
    user, sep, password = content.partition(":")
    if not sep or not user or not password:
        raise RPCUnavailable(f"RPC cookie file {cookie_path} is not user:password")
    return user, password


def _basic_auth(user: str, password: str) -> bytes:
    token = base64.b64encode(f"{user}:{password}".encode()).decode("ascii")
    return f"Basic {token}".encode("ascii")


class _QuietHTTP11ClientFactory(_HTTP11ClientFactory):
    """Twisted's pooled HTTP client factory without a log line per new connection."""

    noisy = False


@implementer(IBodyProducer)
class _BytesProducer:
    """A request body already in memory (no cooperator, so no global reactor)."""

    def __init__(self, body: bytes) -> None:
        self._body = body
        self.length = len(body)

    def startProducing(self, consumer: IConsumer) -> defer.Deferred[None]:
        consumer.write(self._body)
        return defer.succeed(None)

    def pauseProducing(self) -> None:
        pass

    def resumeProducing(self) -> None:
        pass

    def stopProducing(self) -> None:
        pass


class _BodyCollector(Protocol):
    """Collects a response body, aborting the connection once it exceeds the cap."""

    def __init__(self, finished: defer.Deferred[bytes], limit_bytes: int, declared: int | None):
        self._finished = finished
        self._limit_bytes = limit_bytes
        self._declared = declared
        self._chunks: list[bytes] = []
        self._received = 0
        self._done = False
        self._stopped = False

    def connectionMade(self) -> None:
        if self._declared is not None and self._declared > self._limit_bytes:
            # Fail now; the connection is dropped as soon as the body starts.
            self._done = True
            self._finished.errback(
                RPCUnavailable(f"response of {self._declared} bytes exceeds {self._limit_bytes}")
            )

    def dataReceived(self, data: bytes) -> None:
        if self._done:
            self._stop()
            return
        self._received += len(data)
        if self._received > self._limit_bytes:
            self._fail(f"response exceeds {self._limit_bytes} bytes")
            return
        self._chunks.append(data)

    def connectionLost(self, reason: Failure = connectionDone) -> None:
        if self._done:
            return
        self._done = True
        if reason.check(ResponseDone, http.PotentialDataLoss):
            self._finished.callback(b"".join(self._chunks))
        else:
            self._finished.errback(
                RPCUnavailable(f"response body cut short: {reason.getErrorMessage()}")
            )

    def cancel(self) -> None:
        """Abort reading (the call was cancelled or timed out)."""
        self._done = True
        self._stop()

    def _fail(self, message: str) -> None:
        self._done = True
        self._chunks = []
        self._stop()
        self._finished.errback(RPCUnavailable(message))

    def _stop(self) -> None:
        if self.transport is not None and not self._stopped:
            self._stopped = True
            self.transport.stopProducing()  # type: ignore[attr-defined]


def _read_body(response: IResponse, limit_bytes: int) -> defer.Deferred[bytes]:
    declared = None if response.length is UNKNOWN_LENGTH else int(response.length)  # type: ignore[call-overload]
    collector: _BodyCollector | None = None

    def cancel(d: defer.Deferred[bytes]) -> None:
        if collector is not None:
            collector.cancel()

    finished: defer.Deferred[bytes] = defer.Deferred(cancel)
    collector = _BodyCollector(finished, limit_bytes, declared)
    response.deliverBody(collector)
    return finished


@implementer(IBitcoinRPC)
class BitcoindRPC:
    """JSON-RPC client for one ``bitcoind``, with password or cookie authentication."""

    _log = Logger()

    def __init__(
        self,
        reactor: Any,
        url: str,
        user: str | None = None,
        password: str | None = None,
        cookie_path: str | None = None,
        timeout_s: float = 10.0,
        connect_timeout_s: float = 5.0,
        max_response_bytes: int = MAX_RESPONSE_BYTES,
    ) -> None:
        host, port, path = parse_rpc_url(url)
        if (user is None) != (password is None):
            raise ConfigError("btcd.auth", "rpc user and password must be given together")
        if user is None and cookie_path is None:
            raise ConfigError("btcd.auth", f"{url!r}: give rpc user/password or a cookie file")
        if user is not None and cookie_path is not None:
            raise ConfigError("btcd.auth", f"{url!r}: give rpc user/password or a cookie, not both")
        if timeout_s <= 0 or connect_timeout_s <= 0:
            raise ConfigError("btcd.timeout", "timeouts must be positive")
        self._reactor: IReactorTime = reactor
        host_in_url = f"[{host}]" if ":" in host else host
        self.name = f"{host_in_url}:{port}"
        self._url = f"http://{host_in_url}:{port}{path}".encode("ascii")
        self._cookie_path = cookie_path
        self._password_auth: bytes | None = None
        if user is not None and password is not None:
            self._password_auth = _basic_auth(user, password)
        self._cookie_auth: bytes | None = None
        self._timeout_s = timeout_s
        self._max_response_bytes = max_response_bytes
        self._ids = itertools.count(1)
        self._pool = HTTPConnectionPool(reactor, persistent=True)
        self._pool._factory = _QuietHTTP11ClientFactory
        self._pool.maxPersistentPerHost = 4
        self._pool.cachedConnectionTimeout = CACHED_CONNECTION_TIMEOUT_S
        self._pool.retryAutomatically = False
        self._agent = Agent(reactor, connectTimeout=connect_timeout_s, pool=self._pool)

    def __repr__(self) -> str:
        return f"<BitcoindRPC {self.name}>"

    def call(self, method: str, params: list[object] | None = None) -> defer.Deferred[Any]:
        """Call ``method``; fires with its result, or fails with RPCError/RPCUnavailable."""
        if not isinstance(method, str) or not method:
            return defer.fail(ValueError("method must be a non-empty string"))
        request_id = next(self._ids)
        try:
            body = json.dumps(
                {"jsonrpc": "1.0", "id": request_id, "method": method, "params": list(params or [])}
            ).encode("utf-8")
        except (TypeError, ValueError) as e:
            return defer.fail(ValueError(f"{method}: params are not JSON-serializable: {e}"))
        d = defer.Deferred.fromCoroutine(self._call(method, request_id, body))
        d.addTimeout(
            self._timeout_s,
            self._reactor,
            onTimeoutCancel=lambda result, timeout_s: self._timed_out(result, timeout_s, method),
        )
        d.addErrback(self._translate_failure, method)
        return d

    def _timed_out(self, result: Any, timeout_s: float, method: str) -> Any:
        # Whatever the cancelled request failed with, the cause is our timeout.
        if isinstance(result, Failure):
            return Failure(
                RPCUnavailable(f"{self.name}: {method}: no answer within {timeout_s:g} s")
            )
        return result

    def close(self) -> defer.Deferred[None]:
        """Close idle keep-alive connections (at shutdown)."""
        return self._pool.closeCachedConnections()

    async def _call(self, method: str, request_id: int, body: bytes) -> Any:
        authorization, fresh = self._authorization()
        status, payload = await self._post(body, authorization)
        if status in (http.UNAUTHORIZED, http.FORBIDDEN) and self._cookie_path and not fresh:
            # Core writes a new cookie each time it starts: try the file again once.
            self._cookie_auth = None
            reread, _ = self._authorization()
            if reread != authorization:
                self._log.info(
                    "{node}: RPC cookie changed, retrying with the new one", node=self.name
                )
                status, payload = await self._post(body, reread)
        return self._decode_reply(method, request_id, status, payload)

    def _authorization(self) -> tuple[bytes, bool]:
        """The Authorization header value, and whether it was (re)read just now."""
        if self._password_auth is not None:
            return self._password_auth, False
        if self._cookie_auth is not None:
            return self._cookie_auth, False
        assert self._cookie_path is not None
        user, password = read_cookie(self._cookie_path)
        self._cookie_auth = _basic_auth(user, password)
        return self._cookie_auth, True

    async def _post(self, body: bytes, authorization: bytes) -> tuple[int, bytes]:
        headers = Headers(
            {
                b"Authorization": [authorization],
                b"Content-Type": [b"application/json"],
                b"User-Agent": [b"tbgpool"],
            }
        )
        try:
            response = await self._agent.request(b"POST", self._url, headers, _BytesProducer(body))
        except defer.CancelledError:
            raise
        except Exception:
            # A new connection will be made: pick up a cookie Core may have rewritten.
            self._cookie_auth = None
            raise
        payload = await _read_body(response, self._max_response_bytes)
        return response.code, payload

    def _decode_reply(self, method: str, request_id: int, status: int, payload: bytes) -> Any:
        if status in (http.UNAUTHORIZED, http.FORBIDDEN):
            raise RPCUnavailable(
                f"{self.name}: unauthorized (HTTP {status}): check rpcuser/rpcpassword or the cookie"
            )
        try:
            reply = json.loads(payload)
        except (ValueError, RecursionError):
            raise RPCUnavailable(
                f"{self.name}: {method}: HTTP {status} with a body that is not JSON: "
                f"{payload[:_SNIPPET_BYTES]!r}"
            ) from None
        if not isinstance(reply, dict) or ("result" not in reply and "error" not in reply):
            raise RPCUnavailable(f"{self.name}: {method}: HTTP {status}, not a JSON-RPC reply")
        rpc_error = reply.get("error")
        if rpc_error is not None:
            code = rpc_error.get("code") if isinstance(rpc_error, dict) else None
            message = rpc_error.get("message") if isinstance(rpc_error, dict) else None
            if isinstance(code, int) and not isinstance(code, bool) and isinstance(message, str):
                raise RPCError(code, message)
            raise RPCUnavailable(
                f"{self.name}: {method}: malformed JSON-RPC error {str(rpc_error)[:_SNIPPET_BYTES]!r}"
            )
        if status != http.OK:
            raise RPCUnavailable(f"{self.name}: {method}: HTTP {status} without a JSON-RPC error")
        if reply.get("id") != request_id:
            raise RPCUnavailable(f"{self.name}: {method}: reply id does not match the request")
        return reply.get("result")

    def _translate_failure(self, failure: Failure, method: str) -> Failure:
        if failure.check(RPCError, defer.CancelledError):
            return failure
        if failure.check(RPCUnavailable):
            message = str(failure.value)
            if not message.startswith(self.name):
                message = f"{self.name}: {message}"
            return Failure(RPCUnavailable(message))
        return Failure(RPCUnavailable(f"{self.name}: {method}: {self._describe(failure)}"))

    def _describe(self, failure: Failure) -> str:
        if failure.check(error.ConnectionRefusedError):
            return "connection refused (is bitcoind running with server=1 on this port?)"
        if failure.check(error.TimeoutError, error.ConnectingCancelledError):
            return "connect timed out"
        if failure.check(error.DNSLookupError):
            return "cannot resolve the host name"
        reasons = getattr(failure.value, "reasons", None)
        if reasons:
            detail = "; ".join(r.getErrorMessage() for r in reasons)
            return f"connection failed: {type(failure.value).__name__}: {detail}"
        if failure.check(error.ConnectError, error.ConnectionLost, error.ConnectionDone):
            return f"connection failed: {failure.getErrorMessage()}"
        self._log.failure("{node}: unexpected RPC failure", failure, node=self.name)
        return f"unexpected failure: {failure.getErrorMessage()}"

"""An HTTP JSON-RPC server that answers like Bitcoin Core's, in front of any IBitcoinRPC.

It speaks what ``bitcoin-cli`` and our own :class:`~tbgpool.bitcoind.rpc.BitcoindRPC`
expect: POST only, HTTP basic auth, JSON-RPC 1.0 replies carrying both ``result``
and ``error`` with Core's HTTP status codes (500 for errors, 404 for an unknown
method, 400 for an invalid request), JSON-RPC 2.0 replies (always HTTP 200, no
reply to notifications), and batches.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import json
from typing import Any

from twisted.internet import defer
from twisted.logger import Logger
from twisted.python.failure import Failure
from twisted.web import http, resource, server
from twisted.web.server import Request

from tbgpool.errors import RPCError, RPCUnavailable
from tbgpool.interfaces import IBitcoinRPC

#: Largest request body accepted (a submitblock of a 4 MWU block is 8 MB of hex).
MAX_REQUEST_BYTES = 64 * 1024 * 1024

# Core's error codes (src/rpc/protocol.h).
RPC_INVALID_REQUEST = -32600
RPC_METHOD_NOT_FOUND = -32601
RPC_INVALID_PARAMS = -32602
RPC_PARSE_ERROR = -32700
RPC_MISC_ERROR = -1

_UNSERIALIZABLE_REPLY = (
    b'{"result": null, "error": {"code": -1, "message": "result is not JSON-serializable"}, '
    b'"id": null}\n'
)


def _status_for(code: int) -> int:
    """Core's HTTP status for a JSON-RPC 1.0 error reply."""
    if code == RPC_INVALID_REQUEST:
        return http.BAD_REQUEST
    if code == RPC_METHOD_NOT_FOUND:
        return http.NOT_FOUND
    return http.INTERNAL_SERVER_ERROR


class _Call:
    """One request object of a (possibly batched) JSON-RPC request."""

    def __init__(self, item: dict[str, Any]) -> None:
        self.version2 = item.get("jsonrpc") == "2.0"
        self.is_notification = self.version2 and "id" not in item
        self.request_id = item.get("id")

    def success(self, result: Any) -> dict[str, Any]:
        """The reply carrying ``result``."""
        if self.version2:
            return {"jsonrpc": "2.0", "result": result, "id": self.request_id}
        return {"result": result, "error": None, "id": self.request_id}

    def failure(self, code: int, message: str) -> dict[str, Any]:
        """The reply carrying a JSON-RPC error."""
        rpc_error = {"code": code, "message": message}
        if self.version2:
            return {"jsonrpc": "2.0", "error": rpc_error, "id": self.request_id}
        return {"result": None, "error": rpc_error, "id": self.request_id}


def _legacy_error(code: int, message: str) -> dict[str, Any]:
    return {"result": None, "error": {"code": code, "message": message}, "id": None}


class JSONRPCResource(resource.Resource):
    """Serves ``rpc`` as Bitcoin Core's HTTP JSON-RPC interface (basic auth when set)."""

    isLeaf = True
    _log = Logger()

    def __init__(
        self,
        rpc: IBitcoinRPC,
        user: str | None = None,
        password: str | None = None,
        max_request_bytes: int = MAX_REQUEST_BYTES,
    ) -> None:
        super().__init__()
        if (user is None) != (password is None):
            raise ValueError("user and password must be given together")
        self._rpc = rpc
        self.user = user
        self.password = password
        self._max_request_bytes = max_request_bytes

    def _authorized(self, request: Request) -> bool:
        if self.user is None or self.password is None:
            return True
        expected = f"{self.user}:{self.password}".encode()
        header = request.getHeader(b"authorization") or b""
        scheme, _, token = header.partition(b" ")
        if scheme.lower() != b"basic":
            return False
        try:
            offered = base64.b64decode(token.strip(), validate=True)
        except (binascii.Error, ValueError):
            return False
        return hmac.compare_digest(offered, expected)

    def render_POST(self, request: Request) -> bytes | int:
        """Answer one JSON-RPC request or batch (asynchronously)."""
        if not self._authorized(request):
            self._log.warn(
                "JSON-RPC request from {peer} with wrong or missing credentials",
                peer=str(request.getClientAddress()),
            )
            request.setResponseCode(http.UNAUTHORIZED)
            request.setHeader(b"www-authenticate", b'Basic realm="jsonrpc"')
            return b""
        raw = b""
        if request.content is not None:
            request.content.seek(0)
            raw = request.content.read(self._max_request_bytes + 1)
        if len(raw) > self._max_request_bytes:
            request.setResponseCode(http.REQUEST_ENTITY_TOO_LARGE)
            return b"request body too large\n"

        lost: list[bool] = []
        request.notifyFinish().addErrback(lambda _: lost.append(True))
        d = defer.Deferred.fromCoroutine(self._handle(raw))
        d.addCallbacks(
            lambda reply: self._write(request, lost, *reply),
            lambda failure: self._write_failure(request, lost, failure),
        )
        return server.NOT_DONE_YET

    def _write(self, request: Request, lost: list[bool], status: int, reply: Any) -> None:
        if lost:
            return
        if reply is None:
            request.setResponseCode(http.NO_CONTENT)
            request.finish()
            return
        try:
            body = json.dumps(reply).encode("utf-8") + b"\n"
        except (TypeError, ValueError) as e:
            self._log.error("JSON-RPC result is not serializable: {error}", error=str(e))
            status = http.INTERNAL_SERVER_ERROR
            body = _UNSERIALIZABLE_REPLY
        request.setResponseCode(status)
        request.setHeader(b"content-type", b"application/json")
        request.write(body)
        request.finish()

    def _write_failure(self, request: Request, lost: list[bool], failure: Failure) -> None:
        if failure.check(RPCUnavailable):
            status, body = http.SERVICE_UNAVAILABLE, f"backend unavailable: {failure.value}\n"
        else:
            self._log.failure("JSON-RPC request failed unexpectedly", failure)
            status, body = http.INTERNAL_SERVER_ERROR, "internal error\n"
        if lost:
            return
        request.setResponseCode(status)
        request.setHeader(b"content-type", b"text/plain")
        request.write(body.encode("utf-8"))
        request.finish()

    async def _handle(self, raw: bytes) -> tuple[int, Any]:
        """(HTTP status, reply object or None for 204) for a request body."""
        try:
            parsed = json.loads(raw)
        except (ValueError, RecursionError):
            return http.INTERNAL_SERVER_ERROR, _legacy_error(RPC_PARSE_ERROR, "Parse error")
        if isinstance(parsed, dict):
            call = _Call(parsed)
            reply, code = await self._execute(parsed, call)
            if call.is_notification:
                return http.NO_CONTENT, None
            if code is None or call.version2:
                return http.OK, reply
            return _status_for(code), reply
        if isinstance(parsed, list):
            replies = []
            for item in parsed:
                call = _Call(item) if isinstance(item, dict) else _Call({})
                reply, _ = await self._execute(item, call)
                if not call.is_notification:
                    replies.append(reply)
            return http.OK, replies
        return http.INTERNAL_SERVER_ERROR, _legacy_error(
            RPC_PARSE_ERROR, "Top-level object parse error"
        )

    async def _execute(self, item: object, call: _Call) -> tuple[dict[str, Any], int | None]:
        """Run one request object: (reply, error code or None on success)."""
        if not isinstance(item, dict):
            return call.failure(RPC_INVALID_REQUEST, "Invalid Request object"), RPC_INVALID_REQUEST
        method = item.get("method")
        if not isinstance(method, str):
            return call.failure(RPC_INVALID_REQUEST, "Method must be a string"), RPC_INVALID_REQUEST
        params = item.get("params")
        if params is None:
            params = []
        elif isinstance(params, dict):
            return (
                call.failure(RPC_INVALID_PARAMS, "named parameters are not supported here"),
                RPC_INVALID_PARAMS,
            )
        elif not isinstance(params, list):
            return (
                call.failure(RPC_INVALID_REQUEST, "Params must be an array or object"),
                RPC_INVALID_REQUEST,
            )
        try:
            result = await self._rpc.call(method, params)
        except RPCError as e:
            return call.failure(e.code, e.message), e.code
        except RPCUnavailable:
            raise
        except Exception:
            self._log.failure("{method} raised unexpectedly", method=method)
            return call.failure(RPC_MISC_ERROR, "internal error"), RPC_MISC_ERROR
        return call.success(result), None


def make_rpc_site(
    rpc: IBitcoinRPC, user: str | None = None, password: str | None = None
) -> server.Site:
    """An HTTP site serving ``rpc`` like Core's RPC server (``bitcoin-cli`` can talk to it)."""
    site = server.Site(JSONRPCResource(rpc, user, password))
    site.displayTracebacks = False
    return site

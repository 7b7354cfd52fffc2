"""Tests for the JSON-RPC client (tbgpool.bitcoind.rpc) and server (tbgpool.bitcoind.rpcserver).

Most tests are real HTTP round trips on 127.0.0.1: our client against our
Core-compatible server wrapping a fake node. Timeouts are tested in memory with a
MemoryReactorClock, so nothing waits on the wall clock.
"""

from __future__ import annotations

import base64
import json
from typing import Any

from twisted.internet import defer, task
from twisted.internet.testing import MemoryReactorClock, StringTransport
from twisted.trial.unittest import SynchronousTestCase, TestCase
from twisted.web import resource, server
from twisted.web.client import Agent, readBody
from twisted.web.http_headers import Headers
from zope.interface import implementer
from zope.interface.verify import verifyObject

from tbgpool.bitcoind.rpc import BitcoindRPC, parse_rpc_url, read_cookie
from tbgpool.bitcoind.rpcserver import JSONRPCResource, make_rpc_site
from tbgpool.errors import ConfigError, RPCError, RPCUnavailable
from tbgpool.interfaces import IBitcoinRPC

USER, PASSWORD = "alice", "s3cret"


def real_reactor() -> Any:
    """The running reactor (these tests use real sockets on 127.0.0.1)."""
    from twisted.internet import reactor

    return reactor


@implementer(IBitcoinRPC)
class FakeNode:
    """A node with a few canned methods; records every call."""

    name = "fake"

    def __init__(self) -> None:
        self.calls: list[tuple[str, Any]] = []
        self.hang: defer.Deferred[Any] | None = None

    def call(self, method: str, params: list[object] | None = None) -> defer.Deferred[Any]:
        """Answer like a tiny bitcoind."""
        self.calls.append((method, params))
        if method == "getblockcount":
            return defer.succeed(840000)
        if method == "echo":
            return defer.succeed(params)
        if method == "getblocktemplate":
            return defer.succeed({"height": 1, "transactions": [], "big": 1.5})
        if method == "submitblock":
            return defer.succeed(None)
        if method == "badparam":
            return defer.fail(RPCError(-8, "Invalid parameter"))
        if method == "warmup":
            return defer.fail(RPCError(-28, "Loading block index…"))
        if method == "unavailable":
            return defer.fail(RPCUnavailable("upstream is down"))
        if method == "crash":
            return defer.fail(ZeroDivisionError("bug"))
        if method == "unserializable":
            return defer.succeed({1, 2})
        return defer.fail(RPCError(-32601, "Method not found"))


class _Canned(resource.Resource):
    """Answers every POST with a fixed status and body."""

    isLeaf = True

    def __init__(self, status: int, body: bytes, content_type: bytes = b"text/html") -> None:
        super().__init__()
        self.status, self.body, self.content_type = status, body, content_type

    def render_POST(self, request: server.Request) -> bytes:
        request.setResponseCode(self.status)
        request.setHeader(b"content-type", self.content_type)
        return self.body


class _Chunked(resource.Resource):
    """Answers with a chunked body (no Content-Length): whitespace, then a reply to id 1."""

    isLeaf = True

    def __init__(self, size: int) -> None:
        super().__init__()
        self.size = size

    def render_POST(self, request: server.Request) -> int:
        for _ in range(self.size // 100):
            request.write(b" " * 100)
        request.write(b'{"result": 5, "error": null, "id": 1}')
        request.finish()
        return server.NOT_DONE_YET


class _Counting(resource.Resource):
    """Counts requests and delegates them to another resource."""

    isLeaf = True

    def __init__(self, inner: resource.Resource) -> None:
        super().__init__()
        self.inner = inner
        self.requests = 0

    def render(self, request: server.Request) -> Any:
        self.requests += 1
        return self.inner.render(request)


class _HTTPTestCase(TestCase):
    """Starts sites on 127.0.0.1:0 and cleans up servers and clients."""

    def serve(self, site_or_resource: Any) -> str:
        reactor = real_reactor()
        site = (
            site_or_resource
            if isinstance(site_or_resource, server.Site)
            else server.Site(site_or_resource)
        )
        self.port = reactor.listenTCP(0, site, interface="127.0.0.1")
        self.addCleanup(self.port.stopListening)
        return f"127.0.0.1:{self.port.getHost().port}"

    def client(self, url: str, **kwargs: Any) -> BitcoindRPC:
        reactor = real_reactor()
        if "cookie_path" not in kwargs:
            kwargs.setdefault("user", USER)
            kwargs.setdefault("password", PASSWORD)
        rpc = BitcoindRPC(reactor, url, **kwargs)

        async def close() -> None:
            # One reactor turn first: a connection may go back to the pool just
            # after the call that used it has failed.
            await task.deferLater(reactor, 0, lambda: None)
            await rpc.close()

        self.addCleanup(lambda: defer.Deferred.fromCoroutine(close()))
        return rpc

    async def post(
        self,
        url: str,
        body: bytes,
        auth: tuple[str, str] | None = (USER, PASSWORD),
        method: bytes = b"POST",
    ) -> tuple[int, Headers, bytes]:
        """A raw HTTP request: (status, headers, body)."""
        reactor = real_reactor()
        headers = Headers({b"content-type": [b"application/json"]})
        if auth is not None:
            token = base64.b64encode(f"{auth[0]}:{auth[1]}".encode())
            headers.addRawHeader(b"authorization", b"Basic " + token)
        response = await Agent(reactor).request(
            method,
            f"http://{url}/".encode(),
            headers,
            None if method == b"GET" else _body(body),
        )
        return response.code, response.headers, await readBody(response)


def _body(data: bytes) -> Any:
    from tbgpool.bitcoind.rpc import _BytesProducer

    return _BytesProducer(data)


class ClientRoundTripTests(_HTTPTestCase):
    """BitcoindRPC against JSONRPCResource over real HTTP."""

    def setUp(self) -> None:
        self.node = FakeNode()
        self.url = self.serve(make_rpc_site(self.node, USER, PASSWORD))

    async def test_result(self) -> None:
        """A successful call fires with the decoded result and passes params through."""
        rpc = self.client(self.url)
        self.assertEqual(await rpc.call("getblockcount"), 840000)
        self.assertEqual(await rpc.call("echo", ["a", 1, None]), ["a", 1, None])
        self.assertEqual(self.node.calls[-1], ("echo", ["a", 1, None]))

    async def test_floats_stay_floats(self) -> None:
        """Results are decoded with plain json (floats are floats, ints are ints)."""
        result = await self.client(self.url).call("getblocktemplate", [{"rules": ["segwit"]}])
        self.assertEqual(result, {"height": 1, "transactions": [], "big": 1.5})
        self.assertIsInstance(result["big"], float)

    async def test_null_result(self) -> None:
        """A null result (submitblock accepted) fires with None."""
        self.assertIsNone(await self.client(self.url).call("submitblock", ["00"]))

    async def test_rpc_error(self) -> None:
        """A JSON-RPC error (HTTP 500) becomes RPCError with Core's code and message."""
        with self.assertRaises(RPCError) as caught:
            await self.client(self.url).call("badparam")
        self.assertEqual(
            (caught.exception.code, caught.exception.message), (-8, "Invalid parameter")
        )

    async def test_method_not_found(self) -> None:
        """HTTP 404 with a JSON-RPC error body is an RPCError, not an outage."""
        with self.assertRaises(RPCError) as caught:
            await self.client(self.url).call("nosuchmethod")
        self.assertEqual(caught.exception.code, -32601)

    async def test_warmup_error(self) -> None:
        """Core's warm-up answer comes through as RPCError -28 with a non-ASCII message intact."""
        with self.assertRaises(RPCError) as caught:
            await self.client(self.url).call("warmup")
        self.assertEqual(caught.exception.code, -28)
        self.assertEqual(caught.exception.message, "Loading block index…")

    async def test_wrong_password(self) -> None:
        """A 401 is RPCUnavailable telling the operator to check the credentials."""
        with self.assertRaises(RPCUnavailable) as caught:
            await self.client(self.url, password="wrong").call("getblockcount")
        self.assertIn("unauthorized", str(caught.exception))
        self.assertIn("rpcpassword", str(caught.exception))
        self.assertEqual(self.node.calls, [])

    async def test_backend_unavailable(self) -> None:
        """The server's 503 for an unreachable backend is RPCUnavailable for the client."""
        with self.assertRaises(RPCUnavailable) as caught:
            await self.client(self.url).call("unavailable")
        self.assertIn("503", str(caught.exception))

    async def test_many_calls_share_connections(self) -> None:
        """Concurrent calls all complete over the persistent pool."""
        rpc = self.client(self.url)
        results = await defer.gatherResults([rpc.call("echo", [i]) for i in range(20)])
        self.assertEqual(results, [[i] for i in range(20)])


class CookieTests(_HTTPTestCase):
    """Authentication with Core's .cookie file."""

    def setUp(self) -> None:
        self.node = FakeNode()
        self.resource = JSONRPCResource(self.node, "__cookie__", "aaaa")
        self.counting = _Counting(self.resource)
        self.url = self.serve(self.counting)
        self.cookie = self.mktemp()
        self.write_cookie("aaaa")

    def write_cookie(self, password: str) -> None:
        with open(self.cookie, "w") as f:
            f.write(f"__cookie__:{password}")

    async def test_cookie_auth(self) -> None:
        """The cookie file's user:password authenticates the call."""
        rpc = self.client(self.url, cookie_path=self.cookie)
        self.assertEqual(await rpc.call("getblockcount"), 840000)

    async def test_cookie_changed(self) -> None:
        """After bitcoind restarts with a new cookie, a 401 makes the client re-read it and retry."""
        rpc = self.client(self.url, cookie_path=self.cookie)
        self.assertEqual(await rpc.call("getblockcount"), 840000)
        self.assertEqual(self.counting.requests, 1)
        self.resource.password = "bbbb"
        self.write_cookie("bbbb\n")
        self.assertEqual(await rpc.call("getblockcount"), 840000)
        self.assertEqual(self.counting.requests, 3)

    async def test_cookie_reread_after_connection_failure(self) -> None:
        """After a failed connection (bitcoind restarting) the next call reads the cookie afresh."""
        reactor = real_reactor()
        rpc = self.client(self.url, cookie_path=self.cookie)
        self.assertEqual(await rpc.call("getblockcount"), 840000)
        port_number = self.port.getHost().port
        await self.port.stopListening()
        await rpc.close()
        with self.assertRaises(RPCUnavailable):
            await rpc.call("getblockcount")
        self.resource.password = "cccc"
        self.write_cookie("cccc")
        port = reactor.listenTCP(port_number, server.Site(self.counting), interface="127.0.0.1")
        self.addCleanup(port.stopListening)
        self.assertEqual(await rpc.call("getblockcount"), 840000)
        self.assertEqual(self.counting.requests, 2)

    async def test_cookie_still_wrong(self) -> None:
        """A 401 with an unchanged cookie file is RPCUnavailable (no retry loop)."""
        rpc = self.client(self.url, cookie_path=self.cookie)
        self.assertEqual(await rpc.call("getblockcount"), 840000)
        self.resource.password = "bbbb"
        with self.assertRaises(RPCUnavailable) as caught:
            await rpc.call("getblockcount")
        self.assertIn("unauthorized", str(caught.exception))
        self.assertEqual(self.counting.requests, 2)

    async def test_missing_cookie(self) -> None:
        """A missing cookie file is RPCUnavailable naming the path."""
        path = self.mktemp()
        with self.assertRaises(RPCUnavailable) as caught:
            await self.client(self.url, cookie_path=path).call("getblockcount")
        self.assertIn(path, str(caught.exception))
        self.assertEqual(self.counting.requests, 0)

    async def test_cookie_appears_later(self) -> None:
        """A cookie file that appears after a failed call is picked up by the next call."""
        path = self.mktemp()
        rpc = self.client(self.url, cookie_path=path)
        with self.assertRaises(RPCUnavailable):
            await rpc.call("getblockcount")
        with open(path, "w") as f:
            f.write("__cookie__:aaaa")
        self.assertEqual(await rpc.call("getblockcount"), 840000)

    def test_malformed_cookie(self) -> None:
        """A cookie without a colon is RPCUnavailable."""
        with open(self.cookie, "w") as f:
            f.write("garbage")
        self.assertRaises(RPCUnavailable, read_cookie, self.cookie)


class BadServerTests(_HTTPTestCase):
    """Servers that are down or answer something other than JSON-RPC."""

    async def test_connection_refused(self) -> None:
        """Nothing listening is RPCUnavailable saying the connection was refused."""
        reactor = real_reactor()
        port = reactor.listenTCP(0, server.Site(resource.Resource()), interface="127.0.0.1")
        url = f"127.0.0.1:{port.getHost().port}"
        await port.stopListening()
        with self.assertRaises(RPCUnavailable) as caught:
            await self.client(url).call("getblockcount")
        self.assertIn("refused", str(caught.exception))
        self.assertIn(url, str(caught.exception))

    async def test_not_json(self) -> None:
        """An HTML page is RPCUnavailable quoting the start of the body."""
        url = self.serve(_Canned(200, b"<html>proxy login</html>"))
        with self.assertRaises(RPCUnavailable) as caught:
            await self.client(url).call("getblockcount")
        self.assertIn("not JSON", str(caught.exception))
        self.assertIn("proxy login", str(caught.exception))

    async def test_not_json_rpc(self) -> None:
        """JSON that is not a JSON-RPC reply is RPCUnavailable."""
        url = self.serve(_Canned(200, b"[1, 2, 3]", b"application/json"))
        with self.assertRaises(RPCUnavailable):
            await self.client(url).call("getblockcount")

    async def test_malformed_error(self) -> None:
        """An error member that is not {code, message} is RPCUnavailable."""
        url = self.serve(_Canned(500, b'{"result": null, "error": "oops", "id": 1}'))
        with self.assertRaises(RPCUnavailable):
            await self.client(url).call("getblockcount")

    async def test_error_body_any_status(self) -> None:
        """A JSON-RPC error body maps to RPCError whatever the HTTP status."""
        body = b'{"result": null, "error": {"code": -5, "message": "x"}, "id": 1}'
        url = self.serve(_Canned(200, body, b"application/json"))
        with self.assertRaises(RPCError) as caught:
            await self.client(url).call("getblockcount")
        self.assertEqual(caught.exception.code, -5)

    async def test_wrong_id(self) -> None:
        """A reply for another request id is RPCUnavailable."""
        url = self.serve(_Canned(200, b'{"result": 5, "error": null, "id": 999}'))
        with self.assertRaises(RPCUnavailable) as caught:
            await self.client(url).call("getblockcount")
        self.assertIn("id", str(caught.exception))

    async def test_work_queue_full(self) -> None:
        """Core's plain-text 503 (work queue depth exceeded) is RPCUnavailable."""
        url = self.serve(_Canned(503, b"Work queue depth exceeded", b"text/plain"))
        with self.assertRaises(RPCUnavailable) as caught:
            await self.client(url).call("getblockcount")
        self.assertIn("503", str(caught.exception))

    async def test_oversized_body(self) -> None:
        """A body over the cap is refused with RPCUnavailable."""
        url = self.serve(_Canned(200, b" " * 5000 + b"1"))
        with self.assertRaises(RPCUnavailable) as caught:
            await self.client(url, max_response_bytes=1000).call("getblockcount")
        self.assertIn("exceeds", str(caught.exception))

    async def test_oversized_chunked_body(self) -> None:
        """A chunked body (no Content-Length) is cut off once it passes the cap."""
        url = self.serve(_Chunked(5000))
        with self.assertRaises(RPCUnavailable) as caught:
            await self.client(url, max_response_bytes=1000).call("getblockcount")
        self.assertIn("exceeds", str(caught.exception))

    async def test_chunked_body(self) -> None:
        """A chunked body under the cap is read whole."""
        url = self.serve(_Chunked(5000))
        self.assertEqual(await self.client(url).call("getblockcount"), 5)

    async def test_forbidden(self) -> None:
        """A 403 (rpcallowip) is RPCUnavailable, unauthorized."""
        url = self.serve(_Canned(403, b""))
        with self.assertRaises(RPCUnavailable) as caught:
            await self.client(url).call("getblockcount")
        self.assertIn("unauthorized", str(caught.exception))


class InMemoryClientTests(SynchronousTestCase):
    """The client on a MemoryReactorClock: the request bytes, timeouts, odd responses."""

    def setUp(self) -> None:
        self.reactor = MemoryReactorClock()
        self.rpc = BitcoindRPC(
            self.reactor, "http://10.0.0.1:8332/wallet/w", USER, PASSWORD, timeout_s=10.0
        )

    def connect(self) -> StringTransport:
        """Complete the pending TCP connection with an in-memory transport."""
        self.reactor.advance(0)
        _, port, factory, _, _ = self.reactor.tcpClients[-1]
        self.assertEqual(port, 8332)
        protocol: Any = factory.buildProtocol(None)
        transport = StringTransport()
        protocol.makeConnection(transport)
        self.protocol = protocol
        return transport

    def test_provides_interface(self) -> None:
        """BitcoindRPC provides IBitcoinRPC and is named host:port."""
        verifyObject(IBitcoinRPC, self.rpc)
        self.assertEqual(self.rpc.name, "10.0.0.1:8332")

    def test_request_bytes(self) -> None:
        """The request is a JSON-RPC 1.0 POST with basic auth and a JSON content type."""
        self.rpc.call("getblocktemplate", [{"rules": ["segwit"]}])
        transport = self.connect()
        head, _, body = transport.value().partition(b"\r\n\r\n")
        self.assertTrue(head.startswith(b"POST /wallet/w HTTP/1.1\r\n"))
        self.assertIn(b"Authorization: Basic YWxpY2U6czNjcmV0", head)
        self.assertIn(b"Content-Type: application/json", head)
        self.assertEqual(
            json.loads(body),
            {
                "jsonrpc": "1.0",
                "id": 1,
                "method": "getblocktemplate",
                "params": [{"rules": ["segwit"]}],
            },
        )

    def test_server_never_answers(self) -> None:
        """A connected server that never answers fails the call after timeout_s."""
        d = self.rpc.call("getblockcount")
        transport = self.connect()
        self.reactor.advance(9.9)
        self.assertNoResult(d)
        self.reactor.advance(0.2)
        failure = self.failureResultOf(d, RPCUnavailable)
        self.assertIn("no answer within 10 s", str(failure.value))
        self.assertTrue(transport.disconnecting or transport.disconnected)

    def test_never_connects(self) -> None:
        """A connection that never completes also ends in RPCUnavailable after timeout_s."""
        d = self.rpc.call("getblockcount")
        self.reactor.advance(10.1)
        self.failureResultOf(d, RPCUnavailable)

    def test_answer_in_pieces(self) -> None:
        """A response delivered byte by byte is decoded."""
        d = self.rpc.call("getblockcount")
        self.connect()
        body = b'{"result":7,"error":null,"id":1}'
        response = (
            b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
            b"Content-Length: " + str(len(body)).encode() + b"\r\n\r\n" + body
        )
        for i in range(len(response)):
            self.protocol.dataReceived(response[i : i + 1])
        self.assertEqual(self.successResultOf(d), 7)

    def test_declared_length_too_big(self) -> None:
        """A Content-Length over the cap fails at once, without reading the body."""
        d = self.rpc.call("getblockcount")
        transport = self.connect()
        self.protocol.dataReceived(b"HTTP/1.1 200 OK\r\nContent-Length: 999999999999\r\n\r\n{")
        failure = self.failureResultOf(d, RPCUnavailable)
        self.assertIn("exceeds", str(failure.value))
        self.assertEqual(transport.producerState, "stopped")

    def test_connection_dropped(self) -> None:
        """A connection closed before the response is RPCUnavailable."""
        from twisted.internet.error import ConnectionLost
        from twisted.python.failure import Failure

        d = self.rpc.call("getblockcount")
        self.connect()
        self.protocol.connectionLost(Failure(ConnectionLost("reset")))
        failure = self.failureResultOf(d, RPCUnavailable)
        self.assertIn("10.0.0.1:8332", str(failure.value))

    def test_bad_params(self) -> None:
        """Params that are not JSON-serializable fail at once with ValueError."""
        self.failureResultOf(self.rpc.call("echo", [object()]), ValueError)


class ConfigTests(SynchronousTestCase):
    """URL and credential checking at construction."""

    def test_urls(self) -> None:
        """host:port and http URLs are accepted, with the path kept."""
        self.assertEqual(parse_rpc_url("127.0.0.1:8332"), ("127.0.0.1", 8332, "/"))
        self.assertEqual(parse_rpc_url("http://node:18443"), ("node", 18443, "/"))
        self.assertEqual(parse_rpc_url("http://[::1]:8332/wallet/x"), ("::1", 8332, "/wallet/x"))

    def test_bad_urls(self) -> None:
        """URLs without a port, with TLS, credentials or garbage are ConfigError."""
        for url in ("127.0.0.1", "https://a:1", "http://u:p@a:1", "a:99999", "http://:1", "a:b"):
            self.assertRaises(ConfigError, parse_rpc_url, url)

    def test_credentials(self) -> None:
        """Exactly one of user/password or cookie must be given."""
        reactor = MemoryReactorClock()
        self.assertRaises(ConfigError, BitcoindRPC, reactor, "a:1")
        self.assertRaises(ConfigError, BitcoindRPC, reactor, "a:1", user="u")
        self.assertRaises(ConfigError, BitcoindRPC, reactor, "a:1", "u", "p", cookie_path="c")
        self.assertEqual(BitcoindRPC(reactor, "[::1]:1", cookie_path="c").name, "[::1]:1")


class ServerTests(_HTTPTestCase):
    """JSONRPCResource answers like Core's HTTP server."""

    def setUp(self) -> None:
        self.node = FakeNode()
        self.url = self.serve(make_rpc_site(self.node, USER, PASSWORD))

    async def test_get_not_allowed(self) -> None:
        """Only POST is served."""
        status, _, _ = await self.post(self.url, b"", method=b"GET")
        self.assertEqual(status, 405)

    async def test_missing_auth(self) -> None:
        """No credentials: 401 with a Basic challenge, and the node is not called."""
        status, headers, _ = await self.post(self.url, b"{}", auth=None)
        self.assertEqual(status, 401)
        self.assertEqual(headers.getRawHeaders(b"www-authenticate"), [b'Basic realm="jsonrpc"'])
        self.assertEqual(self.node.calls, [])

    async def test_success_reply(self) -> None:
        """A 1.0 request gets result, error null and the request's id."""
        status, headers, body = await self.post(
            self.url, b'{"jsonrpc":"1.0","id":"x","method":"getblockcount","params":[]}'
        )
        self.assertEqual(status, 200)
        self.assertEqual(headers.getRawHeaders(b"content-type"), [b"application/json"])
        self.assertEqual(json.loads(body), {"result": 840000, "error": None, "id": "x"})

    async def test_status_codes(self) -> None:
        """Errors use Core's statuses: 500 in general, 404 unknown method, 400 bad request."""
        cases = [
            (b'{"id":1,"method":"badparam"}', 500, -8),
            (b'{"id":1,"method":"nosuch"}', 404, -32601),
            (b'{"id":1,"method":5}', 400, -32600),
            (b'{"id":1,"method":"echo","params":"x"}', 400, -32600),
            (b'{"id":1,"method":"echo","params":{"a":1}}', 500, -32602),
            (b'{"id":1,"method":"crash"}', 500, -1),
            (b"{not json", 500, -32700),
            (b"42", 500, -32700),
        ]
        for request, expected_status, expected_code in cases:
            status, _, body = await self.post(self.url, request)
            reply = json.loads(body)
            self.assertEqual((status, reply["error"]["code"]), (expected_status, expected_code))
            self.assertIsNone(reply["result"])
        self.flushLoggedErrors(ZeroDivisionError)

    async def test_batch(self) -> None:
        """A batch gets HTTP 200 and one reply per request, in order."""
        status, _, body = await self.post(
            self.url,
            b'[{"id":1,"method":"getblockcount"},{"id":2,"method":"badparam"},7]',
        )
        self.assertEqual(status, 200)
        replies = json.loads(body)
        self.assertEqual(replies[0], {"result": 840000, "error": None, "id": 1})
        self.assertEqual(replies[1]["error"], {"code": -8, "message": "Invalid parameter"})
        self.assertEqual(replies[2]["error"]["code"], -32600)

    async def test_jsonrpc_2(self) -> None:
        """2.0 requests get 2.0 replies with HTTP 200, and notifications get no reply."""
        status, _, body = await self.post(
            self.url, b'{"jsonrpc":"2.0","id":3,"method":"getblockcount"}'
        )
        self.assertEqual(
            (status, json.loads(body)), (200, {"jsonrpc": "2.0", "result": 840000, "id": 3})
        )
        status, _, body = await self.post(self.url, b'{"jsonrpc":"2.0","id":4,"method":"badparam"}')
        self.assertEqual(status, 200)
        self.assertEqual(json.loads(body)["error"]["code"], -8)
        self.assertNotIn("result", json.loads(body))
        status, _, body = await self.post(self.url, b'{"jsonrpc":"2.0","method":"submitblock"}')
        self.assertEqual((status, body), (204, b""))
        self.assertEqual(self.node.calls[-1][0], "submitblock")

    async def test_unserializable_result(self) -> None:
        """A result that cannot be JSON-encoded is a 500 with an error, not a traceback."""
        status, _, body = await self.post(self.url, b'{"id":1,"method":"unserializable"}')
        self.assertEqual(status, 500)
        self.assertEqual(json.loads(body)["error"]["code"], -1)

    async def test_body_cap(self) -> None:
        """A body over the cap is refused with 413 before parsing."""
        url = self.serve(JSONRPCResource(self.node, max_request_bytes=100))
        status, _, _ = await self.post(
            url, b'{"id":1,"method":"echo","params":["' + b"a" * 200 + b'"]}'
        )
        self.assertEqual(status, 413)
        self.assertEqual(self.node.calls, [])

    async def test_no_auth_configured(self) -> None:
        """Without user/password the resource serves anyone (for a loopback-only listener)."""
        url = self.serve(JSONRPCResource(self.node))
        status, _, body = await self.post(url, b'{"id":1,"method":"getblockcount"}', auth=None)
        self.assertEqual((status, json.loads(body)["result"]), (200, 840000))

    async def test_bad_authorization_header(self) -> None:
        """A malformed Authorization header is a plain 401."""
        reactor = real_reactor()
        headers = Headers({b"authorization": [b"Basic !!!notbase64"]})
        response = await Agent(reactor).request(
            b"POST", f"http://{self.url}/".encode(), headers, _body(b"{}")
        )
        await readBody(response)
        self.assertEqual(response.code, 401)

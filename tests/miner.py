"""A real Stratum v1 miner over TCP for end-to-end tests: it does proof of work with hashlib."""

from __future__ import annotations

import json
from typing import Any

from twisted.internet import defer
from twisted.internet.endpoints import TCP4ClientEndpoint, connectProtocol
from twisted.internet.interfaces import IReactorTCP, IReactorTime
from twisted.internet.protocol import connectionDone
from twisted.protocols.basic import LineOnlyReceiver
from twisted.python.failure import Failure

from tbgpool.difficulty import target_for_difficulty
from tbgpool.testing import Solution, StratumJob, mine


class StratumRequestError(Exception):
    """The pool answered a request with an error."""

    def __init__(self, error: list[Any]) -> None:
        super().__init__(f"{error[0]}: {error[1]}")
        self.code = error[0]
        self.message = error[1]


class MinerClient(LineOnlyReceiver):
    """Sends requests, matches replies by id, collects notifications."""

    delimiter = b"\n"
    MAX_LENGTH = 1 << 20

    def __init__(self) -> None:
        self._next_id = 1
        self._pending: dict[int, defer.Deferred[Any]] = {}
        self.jobs: list[StratumJob] = []
        self.difficulty: float | None = None
        self.extranonce1 = ""
        self.extranonce2_size = 0
        self._job_waiters: list[defer.Deferred[StratumJob]] = []
        self.closed: defer.Deferred[None] = defer.Deferred()

    def connectionLost(self, reason: Failure = connectionDone) -> None:
        """Fail whatever is still waiting."""
        for d in list(self._pending.values()) + list(self._job_waiters):
            d.errback(reason)
        self._pending.clear()
        self._job_waiters.clear()
        if not self.closed.called:
            self.closed.callback(None)

    def request(self, method: str, *params: Any) -> defer.Deferred[Any]:
        """Send a request; fires with its result or fails with StratumRequestError."""
        request_id = self._next_id
        self._next_id += 1
        d: defer.Deferred[Any] = defer.Deferred()
        self._pending[request_id] = d
        self.sendLine(json.dumps({"id": request_id, "method": method, "params": list(params)}).encode())
        return d

    def lineReceived(self, line: bytes) -> None:
        """Route a reply to its request, or record a notification."""
        message = json.loads(line)
        if message.get("method") == "mining.notify":
            job = StratumJob.from_params(message["params"])
            self.jobs.append(job)
            waiters, self._job_waiters = self._job_waiters, []
            for waiter in waiters:
                waiter.callback(job)
        elif message.get("method") == "mining.set_difficulty":
            self.difficulty = message["params"][0]
        elif message.get("id") in self._pending:
            d = self._pending.pop(message["id"])
            if message.get("error") is not None:
                d.errback(StratumRequestError(message["error"]))
            else:
                d.callback(message["result"])

    def next_job(self) -> defer.Deferred[StratumJob]:
        """Fires with the next job the pool sends."""
        d: defer.Deferred[StratumJob] = defer.Deferred()
        self._job_waiters.append(d)
        return d

    async def setup(self, username: str, version_mask: str | None = None) -> StratumJob:
        """configure (optionally), subscribe and authorize; returns the first job."""
        first_job = self.next_job() if not self.jobs else defer.succeed(self.jobs[-1])
        if version_mask is not None:
            await self.request("mining.configure", ["version-rolling"],
                               {"version-rolling.mask": version_mask})
        _, self.extranonce1, self.extranonce2_size = await self.request(
            "mining.subscribe", "tbgpool-test-miner/1.0")
        await self.request("mining.authorize", username, "x")
        return await first_job

    def solve(self, job: StratumJob, target: int | None = None, extranonce2: int = 0,
              version_bits: int | None = None) -> Solution:
        """Real proof of work for ``job`` against ``target`` (default: the share target)."""
        if target is None:
            assert self.difficulty is not None
            target = target_for_difficulty(self.difficulty)
        en2 = extranonce2.to_bytes(self.extranonce2_size, "big").hex()
        return mine(job, self.extranonce1, en2, target, version_bits=version_bits)

    def submit(self, username: str, job: StratumJob, solution: Solution) -> defer.Deferred[Any]:
        """mining.submit a solution."""
        params = [username, job.job_id, solution.extranonce2, solution.ntime, solution.nonce]
        if solution.version_bits is not None:
            params.append(solution.version_bits)
        return self.request("mining.submit", *params)


async def connect_miner(reactor: IReactorTCP, port: int) -> MinerClient:
    """A MinerClient connected to 127.0.0.1:port."""
    endpoint = TCP4ClientEndpoint(reactor, "127.0.0.1", port)
    client: MinerClient = await connectProtocol(endpoint, MinerClient())
    return client


async def wait_for(clock: IReactorTime, predicate: Any, timeout_s: float = 10.0,
                   step_s: float = 0.02) -> None:
    """Wait (on the reactor, without blocking it) until ``predicate()`` is true."""
    from twisted.internet.task import deferLater

    waited = 0.0
    while not predicate():
        if waited >= timeout_s:
            raise AssertionError(f"condition not met within {timeout_s}s")
        await deferLater(clock, step_s, lambda: None)
        waited += step_s

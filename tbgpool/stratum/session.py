"""One miner's Stratum session: the per-connection state machine, without sockets.

Requests come in as (method, params) and leave as a result or a
:class:`StratumError`; notifications go out through an
:class:`~tbgpool.interfaces.IMinerConnection`. Set-up may be pipelined in any
order (Bitaxe sends configure, subscribe, authorize, suggest_difficulty without
waiting; older firmware sends them in other orders): work starts once the
session is both subscribed and authorized, right after the reply that made it so.
"""

from __future__ import annotations

import json
from collections import OrderedDict
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from twisted.logger import Logger

from tbgpool.address import parse_address
from tbgpool.difficulty import DIFF1_TARGET, hash_difficulty, target_for_difficulty
from tbgpool.errors import AddressError
from tbgpool.extranonce import ExtranonceExhausted
from tbgpool.interfaces import IMinerConnection
from tbgpool.jobs import NEVER_ROLLED, Job
from tbgpool.limits import SessionLimits
from tbgpool.pool_events import ShareAttempt
from tbgpool.sha256 import share_hash
from tbgpool.stratum import fields
from tbgpool.stratum.errors import (
    OTHER,
    StratumError,
    duplicate,
    invalid,
    job_not_found,
    low_difficulty,
    not_subscribed,
    stale,
    unauthorized,
)
from tbgpool.vardiff import VardiffController

if TYPE_CHECKING:
    from tbgpool.pool import Pool

#: How far ahead of the job's ntime a miner may roll ntime (ckpool's bound).
NTIME_ROLL_S = 7000
#: How many usernames (workers) one connection may authorize; farm proxies use many.
MAX_WORKERS_PER_CONNECTION = 256
#: How many jobs' difficulties a session remembers.
_JOB_DIFFICULTY_MEMORY = 64


def _notification(method: str, params: list[Any]) -> bytes:
    return json.dumps({"id": None, "method": method, "params": params},
                      separators=(",", ":")).encode() + b"\n"


class StratumSession:
    """The state of one miner connection and the handlers of its requests."""

    _log = Logger()

    def __init__(self, pool: Pool, connection: IMinerConnection) -> None:
        self.pool = pool
        self.connection = connection
        self.connected_at = pool.clock.seconds()
        #: The miner's IP address (the peer without its port), for events and limits.
        self.ip = _peer_host(connection.peer)
        self.limits = SessionLimits(
            pool.config.rate_limits, self.connected_at, exempt=pool.gate.is_exempt(self.ip)
        )
        #: Set when a limit says the connection must close once its reply is sent.
        self.hangup: str | None = None
        #: When the last request arrived (the idle timeout counts from it).
        self.last_request_at = self.connected_at
        #: Since when the miner has not been reading what we send (None: it reads).
        self.output_blocked_since: float | None = None
        self.extranonce1: bytes | None = None
        self.session_id: str | None = None
        self.user_agent = ""
        self.address: str | None = None
        self.payout_script: bytes | None = None
        self.usernames: dict[str, str] = {}  #: authorized username -> worker name
        self.worker = ""  #: the worker name of the first authorized username
        self.version_mask = 0
        self.suggested_difficulty: float | None = None
        self.vardiff: VardiffController | None = None
        self.difficulty: float | None = None  #: as last sent to the miner
        self.working = False
        self.closed = False
        #: (accepted, rejected) share counts of each worker on this connection.
        self.worker_counts: dict[str, tuple[int, int]] = {}
        #: The best share difficulty of this connection so far.
        self.best_diff: float | None = None
        #: Whether a share with rolled version bits was seen (reported once).
        self.asicboost_seen = False
        self._job_difficulty: OrderedDict[str, float] = OrderedDict()
        self._handlers: dict[str, Callable[[list[Any]], object]] = {
            "mining.subscribe": self.subscribe,
            "mining.authorize": self.authorize,
            "mining.submit": self.submit,
            "mining.configure": self.configure,
            "mining.suggest_difficulty": self.suggest_difficulty,
            "mining.suggest_target": self.suggest_target,
            "mining.extranonce.subscribe": self.extranonce_subscribe,
        }

    # -- dispatch ---------------------------------------------------------

    def handle(self, method: str, params: list[Any]) -> object:
        """Run one request; returns its result or raises StratumError."""
        handler = self._handlers.get(method)
        if handler is None:
            raise invalid("Method not found", "unknown_method")
        return handler(params)

    def replied(self) -> None:
        """The reply to the last request was sent: start work if set-up just completed."""
        if not self.working and self.extranonce1 is not None and self.vardiff is not None:
            job = self.pool.jobs.current
            if job is not None:
                self.working = True
                self.pool.session_working(self)
                self.send_job(job, clean=True)

    # -- set-up -----------------------------------------------------------

    def hang_up(self, limit: str, why: str) -> None:
        """Close the connection once the current reply is out; the limit hit is counted."""
        self.hangup = why
        self.pool.limit_log.hit(limit, self.ip, "disconnected")

    def subscribe(self, params: list[Any]) -> object:
        """mining.subscribe: allocate (or resume) extranonce1."""
        if not self.limits.subscribe(self.pool.clock.seconds()):
            self.hang_up("subscribes_per_minute", "too many subscribes")
            raise invalid("Too many subscribes", "rate_limited")
        if self.extranonce1 is None:
            if len(params) >= 1:
                self.user_agent = fields.user_agent(params[0])
            resumed = None
            if len(params) >= 2 and isinstance(params[1], str):
                resumed = self.pool.extranonces.resume(params[1])
            try:
                self.extranonce1 = resumed or self.pool.extranonces.allocate()
            except ExtranonceExhausted as e:
                self.pool.instruments.limit_hit("extranonce_space")
                raise invalid("Pool is full", "pool_full") from e
            self.session_id = self.extranonce1.hex()
            self._log.debug(
                "{peer} subscribed as {session_id} ({user_agent}){resumed}",
                peer=self.connection.peer,
                session_id=self.session_id,
                user_agent=self.user_agent,
                resumed=" resumed" if resumed else "",
            )
        sid = self.session_id
        return [
            [["mining.set_difficulty", sid], ["mining.notify", sid]],
            self.session_id,
            self.pool.config.nonce2length,
        ]

    def authorize(self, params: list[Any]) -> object:
        """mining.authorize ADDRESS[.WORKER]: the address must decode for the node's network."""
        if not self.limits.authorize(self.pool.clock.seconds()):
            self.hang_up("authorizes_per_minute", "too many authorizes")
            raise invalid("Too many authorizes", "rate_limited")
        if not params:
            raise invalid("Invalid params: expected [username, password]", "bad_params")
        username = params[0]
        address, worker = fields.split_username(username)
        assert isinstance(username, str)
        if username in self.usernames:
            return True
        if len(self.usernames) >= MAX_WORKERS_PER_CONNECTION:
            self.pool.instruments.limit_hit("workers_per_connection")
            raise invalid(
                f"Too many workers on this connection (at most {MAX_WORKERS_PER_CONNECTION})",
                "too_many_workers",
            )
        network = self.pool.network
        if network is None:
            raise invalid("Pool has no work yet; try again shortly", "no_work")
        try:
            payout = parse_address(address, network)
        except AddressError as e:
            raise StratumError(24, f"Invalid payout address: {e}", "bad_address") from e
        script = payout.script_pubkey
        if payout.address_type not in ("p2pkh", "p2sh"):
            # Bech32 is case-insensitive and may be sent in upper case (QR codes): one
            # miner, one spelling, so stats, best shares and events see one user.
            address = address.lower()
        if payout.address_type == "witness_unknown" and self.address is None:
            # Valid by BIP350, but no soft fork gives these programs meaning yet:
            # whoever sees the output can spend it. The miner chose it; say so loudly.
            self._log.warn(
                "{peer} mines to {address}, a witness version with no spending rules yet: "
                "anyone could take a block reward paid there",
                peer=self.connection.peer,
                address=address,
            )
        if self.address is not None and address != self.address:
            raise invalid(
                "This connection already mines for another address; open a new connection",
                "second_address",
            )
        if self.address is None:
            self.address = address
            self.payout_script = script
            self.worker = worker
            password = params[1] if len(params) > 1 else None
            self._start_vardiff(_password_difficulty(password))
        self.usernames[username] = worker
        self.worker_counts.setdefault(worker, (0, 0))
        self.pool.worker_authorized(self, worker)
        self._log.info(
            "{peer} authorized {address} worker {worker}",
            peer=self.connection.peer,
            address=address,
            worker=worker,
        )
        return True

    def _start_vardiff(self, password_difficulty: float | None) -> None:
        settings = self.pool.config.vardiff
        remembered = self.pool.memory.recall(self._memory_key())
        start = self.suggested_difficulty or password_difficulty or remembered or settings.startdiff
        self.vardiff = VardiffController(settings, self.pool.clock.seconds(), start)
        if self.suggested_difficulty is not None:
            self.vardiff.suggest(self.suggested_difficulty, self.pool.clock.seconds())

    def _memory_key(self) -> str:
        return f"{self.address}.{self.worker}"

    def configure(self, params: list[Any]) -> object:
        """mining.configure (BIP310): version rolling with mask = pool mask ∩ miner mask."""
        if len(params) < 1 or not isinstance(params[0], list):
            raise invalid("Invalid params: expected [extensions, parameters]", "bad_params")
        options = params[1] if len(params) > 1 and isinstance(params[1], dict) else {}
        result: dict[str, object] = {}
        for extension in params[0][:16]:
            if not isinstance(extension, str):
                continue
            if extension == "version-rolling":
                result.update(self._configure_version_rolling(options))
            elif extension == "minimum-difficulty":
                value = options.get("minimum-difficulty.value")
                try:
                    self.suggest_difficulty([value])
                    result["minimum-difficulty"] = True
                except StratumError:
                    result["minimum-difficulty"] = False
            else:
                result[extension[:64]] = False
        return result

    def _configure_version_rolling(self, options: dict[str, Any]) -> dict[str, object]:
        requested = options.get("version-rolling.mask", "ffffffff")
        try:
            miner_mask = fields.hex_u32(requested, "version-rolling.mask")
        except StratumError:
            miner_mask = 0
        min_bits = options.get("version-rolling.min-bit-count", 0)
        if isinstance(min_bits, bool) or not isinstance(min_bits, int):
            min_bits = 0
        mask = self.pool.config.version_mask & miner_mask & ~NEVER_ROLLED
        if mask == 0 or bin(mask).count("1") < min_bits:
            self.version_mask = 0
            return {"version-rolling": False}
        self.version_mask = mask
        return {"version-rolling": True, "version-rolling.mask": f"{mask:08x}"}

    def suggest_difficulty(self, params: list[Any]) -> object:
        """mining.suggest_difficulty: the miner's floor and starting difficulty (floats welcome)."""
        if not params:
            raise invalid("Invalid params: expected [difficulty]", "bad_params")
        value = fields.difficulty(params[0])
        if value == self.suggested_difficulty:
            return True
        self.suggested_difficulty = value
        if self.vardiff is not None:
            self.vardiff.suggest(value, self.pool.clock.seconds())
            if self.working:
                self._send_difficulty()
        return True

    def suggest_target(self, params: list[Any]) -> object:
        """mining.suggest_target: as suggest_difficulty, given as a 256-bit target."""
        if not params:
            raise invalid("Invalid params: expected [target as 64 hex digits]", "bad_params")
        target = int.from_bytes(fields.hex_bytes(params[0], 32, "target"), "big")
        if target == 0:
            raise invalid("Invalid target: zero", "bad_target")
        return self.suggest_difficulty([DIFF1_TARGET / target])

    def extranonce_subscribe(self, params: list[Any]) -> object:
        """mining.extranonce.subscribe: accepted; this pool never changes extranonce1 mid-session."""
        return True

    # -- work -------------------------------------------------------------

    def current_difficulty(self, job: Job) -> float:
        """The difficulty to ask for with ``job``: vardiff's, never above the network's."""
        assert self.vardiff is not None
        return min(self.vardiff.difficulty, job.network_difficulty)

    def _send_difficulty(self, job: Job | None = None) -> None:
        job = job or self.pool.jobs.current
        if job is None or self.vardiff is None:
            return
        difficulty = self.current_difficulty(job)
        if difficulty != self.difficulty:
            previous, self.difficulty = self.difficulty, difficulty
            self.connection.sendMessage(_notification("mining.set_difficulty", [difficulty]))
            self.pool.difficulty_sent(self, previous, difficulty)

    def send_job(self, job: Job, clean: bool | None = None) -> None:
        """Send ``job`` (with a set_difficulty first if the difficulty changed)."""
        assert self.payout_script is not None
        self._send_difficulty(job)
        assert self.difficulty is not None
        self._job_difficulty[job.job_id] = self.difficulty
        while len(self._job_difficulty) > _JOB_DIFFICULTY_MEMORY:
            self._job_difficulty.popitem(last=False)
        payout = job.payout(self.payout_script)
        self.connection.sendMessage(job.notify_line(payout, clean))

    def retarget(self, new_difficulty: float | None) -> None:
        """Apply a vardiff decision: tell the miner; it governs jobs sent from now on."""
        if new_difficulty is not None and self.working:
            self._send_difficulty()

    def submit(self, params: list[Any]) -> object:
        """mining.submit: the whole chain of checks, then credit, or a block."""
        attempt = ShareAttempt()
        named = params[0] if params and isinstance(params[0], str) else None
        attempt.worker = self.usernames.get(named or "", self.worker)
        now = self.pool.clock.seconds()
        try:
            if not self.limits.submit(now):
                self.pool.limit_log.hit("max_shares_per_minute", self.ip, "submits refused")
                wait_s = max(1, int(self.limits.banned_until - now))
                raise StratumError(
                    OTHER, f"Rate limited: too many submits, retry in {wait_s} s", "rate_limited"
                )
            result = self._submit(params, attempt)
        except StratumError as e:
            self._count(attempt.worker, accepted=False)
            self.pool.share_submitted(self, attempt, e)
            if e.reason != "rate_limited" and not self.limits.invalid_share(now):
                self.hang_up("max_invalid_shares_per_minute", "too many invalid shares")
            raise
        self._count(attempt.worker, accepted=True)
        self.pool.share_submitted(self, attempt, None)
        return result

    def _count(self, worker: str, accepted: bool) -> None:
        counts = self.worker_counts.get(worker)
        if counts is not None:
            good, bad = counts
            self.worker_counts[worker] = (good + 1, bad) if accepted else (good, bad + 1)

    def _submit(self, params: list[Any], attempt: ShareAttempt) -> bool:
        if self.extranonce1 is None:
            raise not_subscribed()
        if len(params) < 5 or len(params) > 6:
            raise invalid("Invalid params: expected 5 or 6 fields", "bad_params")
        username = params[0]
        if not isinstance(username, str) or username not in self.usernames:
            raise unauthorized()
        attempt.diff = self.difficulty
        job_id = fields.job_id(params[1])
        attempt.job_id = job_id
        job = self.pool.jobs.get(job_id)
        if job is None:
            raise job_not_found()
        attempt.height = job.template.height
        attempt.diff = self._job_difficulty.get(job_id, self.difficulty)
        extranonce2 = fields.extranonce2(params[2], self.pool.config.nonce2length)
        attempt.nonce2 = params[2]
        ntime = fields.hex_u32(params[3], "ntime")
        attempt.ntime = params[3]
        nonce = fields.hex_u32(params[4], "nonce")
        attempt.nonce = params[4]
        version = job.version
        rolled = 0
        if len(params) == 6:
            bits = fields.hex_u32(params[5], "version_bits")
            if bits & ~self.version_mask:
                raise invalid("Invalid version mask", "bad_version_bits")
            version = (version & ~self.version_mask) | (bits & self.version_mask)
            rolled = (version ^ job.version) & self.version_mask
        attempt.version = version
        if ntime < job.template.mintime or ntime > job.ntime + NTIME_ROLL_S:
            raise invalid("Ntime out of range", "ntime_out_of_range")
        assert self.payout_script is not None and self.address is not None
        payout = job.payout(self.payout_script)
        digest = share_hash(
            payout.coinb1, self.extranonce1, extranonce2, payout.coinb2, job.branch_concat,
            version, job.prevhash, ntime, job.bits, nonce,
        )
        value = int.from_bytes(digest, "little")
        share_difficulty = hash_difficulty(value)
        attempt.share_diff = share_difficulty
        # Integer comparison with the network target decides a block, before anything
        # else can reject the share: a block on a stale job is still a block.
        is_block = value <= job.network_target
        attempt.block = is_block
        if job.stale and not is_block:
            raise stale()
        credited = self._credited_difficulty(job, value, share_difficulty, is_block)
        attempt.diff = credited
        # Only shares that passed are remembered, so junk cannot grow the duplicate set.
        if not job.first_seen(digest):
            raise duplicate()
        worker = self.usernames[username]
        if rolled and not self.asicboost_seen:
            self.asicboost_seen = True
            self.pool.asicboost_detected(self, worker, rolled)
        if is_block:
            self.pool.block_found(self, job, payout, extranonce2, version, ntime, nonce, digest,
                                  share_difficulty, worker)
        assert self.vardiff is not None
        self.retarget(self.vardiff.share_accepted(credited, self.pool.clock.seconds()))
        return True

    def _credited_difficulty(
        self, job: Job, value: int, share_difficulty: float, is_block: bool
    ) -> float:
        """The difficulty a share is credited at, or StratumError(23) if it misses the target.

        Shares are checked against the difficulty in force when their job was sent
        (ckpool's rule); after a decrease the new, lower difficulty is accepted too,
        for firmware that applies set_difficulty to the job in hand.
        """
        assert self.difficulty is not None
        job_difficulty = self._job_difficulty.get(job.job_id, self.difficulty)
        if value <= target_for_difficulty(job_difficulty):
            return job_difficulty
        if self.difficulty < job_difficulty and value <= target_for_difficulty(self.difficulty):
            return self.difficulty
        if is_block:
            # Share difficulty is clamped to the network's, but float rounding can put
            # the share target a hair below the network target.
            return min(job_difficulty, job.network_difficulty)
        raise low_difficulty(share_difficulty, min(job_difficulty, self.difficulty))

    def connection_lost(self) -> None:
        """The connection closed: release the extranonce, remember the difficulty."""
        if self.closed:
            return
        self.closed = True
        if self.extranonce1 is not None:
            self.pool.extranonces.release(self.extranonce1)
        if self.vardiff is not None and self.address is not None:
            self.pool.memory.remember(self._memory_key(), self.vardiff.difficulty)
        self.pool.session_closed(self)


def _peer_host(peer: str) -> str:
    """The host part of a "host:port" peer text (IPv6 hosts keep their colons)."""
    host, sep, port = peer.rpartition(":")
    return host if sep and port.isdigit() else peer


def _password_difficulty(password: object) -> float | None:
    """A start difficulty from a ``d=NUMBER`` password, as many pools accept; else None."""
    if not isinstance(password, str) or len(password) > 64:
        return None
    for part in password.replace(";", ",").split(","):
        key, _, value = part.strip().partition("=")
        if key in ("d", "diff") and value:
            try:
                return fields.difficulty(float(value))
            except (ValueError, StratumError):
                return None
    return None

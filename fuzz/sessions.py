"""Runners for the Stratum handler targets: one fresh session per input, checked throughout.

Each runner takes already-built params (the targets build them from fuzz data), so a
finding replays in a plain test. Only :class:`StratumError` may leave a handler; the
runners raise :class:`~fuzz.harness.InvariantViolation` for anything else they see.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from typing import Any

from fuzz.harness import (
    FuzzPool,
    InvariantViolation,
    check_lines,
    independent_share_value,
)
from tbgpool.address import parse_address
from tbgpool.difficulty import target_for_difficulty
from tbgpool.stratum import errors as stratum_errors
from tbgpool.stratum.errors import StratumError
from tbgpool.stratum.session import StratumSession
from tbgpool.testing import StratumJob

_PRINTABLE_ASCII = frozenset(chr(c) for c in range(0x20, 0x7F))
_WORKER_CHARS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_.-")
_ERROR_CODES = frozenset(
    {
        stratum_errors.OTHER,
        stratum_errors.JOB_NOT_FOUND,
        stratum_errors.DUPLICATE,
        stratum_errors.LOW_DIFFICULTY,
        stratum_errors.UNAUTHORIZED,
        stratum_errors.NOT_SUBSCRIBED,
    }
)


def call(session: StratumSession, method: str, params: list[Any]) -> tuple[bool, Any]:
    """(True, result) or (False, StratumError); anything else raised propagates as a finding."""
    try:
        result = session.handle(method, params)
    except StratumError as e:
        if e.code not in _ERROR_CODES or not isinstance(e.message, str):
            raise InvariantViolation(
                f"{method} raised an unknown error {e.code}: {e.message!r}"
            ) from e
        json.dumps(e.to_json())
        return False, e
    try:
        json.dumps(result, allow_nan=False)
    except (TypeError, ValueError) as e:
        raise InvariantViolation(f"{method} returned a result that is not JSON: {e}") from None
    return True, result


def check_difficulties(fp: FuzzPool, messages: list[dict[str, Any]]) -> None:
    """Every difficulty sent is finite, at least mindiff, at most the network's (Braiins OS)."""
    job = fp.harness.pool.jobs.current
    assert job is not None
    floor = min(fp.harness.config.mindiff, job.network_difficulty)
    for message in messages:
        if message.get("method") != "mining.set_difficulty":
            continue
        params = message["params"]
        if len(params) != 1 or isinstance(params[0], bool) or not isinstance(
            params[0], int | float
        ):
            raise InvariantViolation(f"set_difficulty params {params!r}")
        difficulty = params[0]
        if not (math.isfinite(difficulty) and floor <= difficulty <= job.network_difficulty):
            raise InvariantViolation(
                f"sent difficulty {difficulty!r} outside {floor!r}..{job.network_difficulty!r}"
            )


def close(fp: FuzzPool, session: StratumSession, lines: list[bytes], live_before: int) -> None:
    """Close the session; check what it was sent and that it gave back its extranonce1."""
    check_difficulties(fp, check_lines(lines))
    session.connection_lost()
    pool = fp.harness.pool
    if session in pool.sessions or session in pool.working:
        raise InvariantViolation("a closed session is still in the pool")
    if pool.extranonces.live != live_before:
        raise InvariantViolation(
            f"extranonce1 leak: {pool.extranonces.live} live, {live_before} before the session"
        )
    fp.check()


# -- subscribe -----------------------------------------------------------------------------------


def check_subscribed(fp: FuzzPool, session: StratumSession, result: Any) -> None:
    """A subscribe result has the documented shape and names the session's extranonce1."""
    config = fp.harness.config
    extranonce1 = session.extranonce1
    if extranonce1 is None or len(extranonce1) != config.nonce1length:
        raise InvariantViolation(f"subscribed with extranonce1 {extranonce1!r}")
    sid = extranonce1.hex()
    expected = [[["mining.set_difficulty", sid], ["mining.notify", sid]], sid, config.nonce2length]
    if result != expected:
        raise InvariantViolation(f"subscribe result {result!r}, expected {expected!r}")
    agent = session.user_agent
    if not isinstance(agent, str) or len(agent) > 256 or not _PRINTABLE_ASCII.issuperset(agent):
        raise InvariantViolation(f"user agent kept as {agent!r}")


def run_subscribe(
    fp: FuzzPool, calls: list[list[Any]], holder: StratumSession
) -> str | None:
    """Subscribe with each params list in turn; ``holder``'s extranonce1 must stay its own.

    Returns the session id the closed session released, if it subscribed.
    """
    pool = fp.harness.pool
    live_before = pool.extranonces.live
    session, connection = fp.new_session()
    first: Any = None
    for params in calls:
        ok, result = call(session, "mining.subscribe", params)
        if not ok:
            continue
        check_subscribed(fp, session, result)
        if first is None:
            first = result
        elif result != first:
            raise InvariantViolation(f"a second subscribe changed the answer: {result!r}")
        if session.extranonce1 == holder.extranonce1:
            raise InvariantViolation("two live sessions share an extranonce1")
        session.replied()
    close(fp, session, connection.lines, live_before)
    return session.session_id


# -- authorize -----------------------------------------------------------------------------------


def check_authorized(fp: FuzzPool, session: StratumSession, username: object) -> None:
    """An accepted username: ADDRESS[.|_WORKER], the address valid here, the worker clean."""
    if not isinstance(username, str) or username not in session.usernames:
        raise InvariantViolation(f"authorize accepted {username!r} but did not record it")
    if len(username) > 90 + 1 + 128:
        raise InvariantViolation(f"authorize accepted a {len(username)}-character username")
    address = session.address
    if address is None or session.payout_script is None:
        raise InvariantViolation("authorized without an address or payout script")
    worker = session.usernames[username]
    if len(worker) > 128 or not _WORKER_CHARS.issuperset(worker):
        raise InvariantViolation(f"worker name {worker!r} accepted")
    typed = username[: len(address)]
    if typed != address and not (typed.lower() == address and address == address.lower()):
        # Only a bech32 address (stored lower-case) may have been typed in another case.
        raise InvariantViolation(f"username {username!r} is not {address!r} + worker {worker!r}")
    if username[len(address) :] not in (
        "",
        "." + worker,
        "_" + worker,
    ):
        raise InvariantViolation(f"username {username!r} is not {address!r} + worker {worker!r}")
    payout = parse_address(address, fp.network)
    if payout.script_pubkey != session.payout_script:
        raise InvariantViolation("the payout script differs from the address's")
    vardiff = session.vardiff
    if vardiff is None or not (math.isfinite(vardiff.difficulty) and vardiff.difficulty > 0):
        raise InvariantViolation(f"vardiff started at {vardiff and vardiff.difficulty!r}")


def run_authorize(fp: FuzzPool, subscribe_first: bool, calls: list[list[Any]]) -> None:
    """Authorize with each params list in turn (after a subscribe, if asked); check each answer."""
    pool = fp.harness.pool
    live_before = pool.extranonces.live
    session, connection = fp.new_session()
    if subscribe_first:
        ok, result = call(session, "mining.subscribe", ["fuzz/1.0"])
        if not ok:
            raise InvariantViolation(f"a plain subscribe failed: {result}")
        session.replied()
    for params in calls:
        first_address = session.address
        ok, result = call(session, "mining.authorize", params)
        if not ok:
            continue
        if result is not True:
            raise InvariantViolation(f"authorize answered {result!r}")
        check_authorized(fp, session, params[0])
        if first_address is not None and session.address != first_address:
            raise InvariantViolation("a second authorize changed the payout address")
        session.replied()
    if session.working and session.difficulty is None:
        raise InvariantViolation("working without a difficulty")
    close(fp, session, connection.lines, live_before)


# -- submit --------------------------------------------------------------------------------------


@dataclass
class Miner:
    """A working session and what it was told: the miner's side of the connection."""

    session: StratumSession
    lines: list[bytes]
    username: str
    extranonce1: str
    extranonce2_size: int
    version_mask: int
    live_before: int
    #: Header hashes of the shares accepted so far (as integers).
    accepted: set[int] = field(default_factory=set)

    def notifications(self, method: str) -> list[list[Any]]:
        """Params of every ``method`` notification received."""
        out = []
        for message in check_lines(self.lines):
            if message.get("method") == method:
                out.append(message["params"])
        return out

    def job(self) -> StratumJob:
        """The newest job received."""
        return StratumJob.from_params(self.notifications("mining.notify")[-1])

    def lowest_difficulty(self) -> float:
        """The lowest share difficulty this miner was ever sent."""
        return min(params[0] for params in self.notifications("mining.set_difficulty"))


def start_miner(fp: FuzzPool, username: str, roll_versions: bool) -> Miner:
    """A subscribed, authorized, working session (configured for version rolling if asked)."""
    pool = fp.harness.pool
    live_before = pool.extranonces.live
    session, connection = fp.new_session()
    mask = 0
    if roll_versions:
        ok, result = call(
            session, "mining.configure", [["version-rolling"], {"version-rolling.mask": "ffffffff"}]
        )
        if not ok or result.get("version-rolling") is not True:
            raise InvariantViolation(f"version rolling refused: {result!r}")
        mask = int(result["version-rolling.mask"], 16)
        session.replied()
    ok, result = call(session, "mining.subscribe", ["fuzz/1.0"])
    if not ok:
        raise InvariantViolation(f"a plain subscribe failed: {result}")
    session.replied()
    extranonce1, size = result[1], result[2]
    ok, result = call(session, "mining.authorize", [username, "x"])
    if not ok:
        raise InvariantViolation(f"authorizing {username!r} failed: {result}")
    session.replied()
    if not session.working:
        raise InvariantViolation("a subscribed and authorized session is not working")
    return Miner(session, connection.lines, username, extranonce1, size, mask, live_before)


def job_as_sent(fp: FuzzPool, miner: Miner, job_id: str) -> StratumJob | None:
    """The notify the pool would send ``miner`` for ``job_id``, or None for an unknown job."""
    job = fp.harness.pool.jobs.get(job_id.lower())
    if job is None or miner.session.payout_script is None:
        return None
    return StratumJob.from_params(job.notify_params(job.payout(miner.session.payout_script)))


#: What a submit must come to: anything, accepted (a real share), or rejected as stale.
EXPECT_ANY = "any"
EXPECT_ACCEPTED = "accepted"
EXPECT_STALE = "stale"
EXPECT_DUPLICATE = "duplicate"
_EXPECTED_CODE = {
    EXPECT_STALE: stratum_errors.JOB_NOT_FOUND,
    EXPECT_DUPLICATE: stratum_errors.DUPLICATE,
}


def submit(
    fp: FuzzPool, miner: Miner, params: list[Any], expect: str = EXPECT_ANY
) -> tuple[bool, StratumError | None]:
    """Submit ``params``; a real share must be accepted, or rejected as stale on an old tip.

    Every accepted share is re-checked independently: its hash, from the job as the
    pool would send it and computed with hashlib, meets the lowest difficulty the
    miner was sent (or the network target), and its job is not stale unless a block.
    """
    session = miner.session
    if expect != EXPECT_ANY:
        job = job_as_sent(fp, miner, params[1])
        assert job is not None
        value = independent_share_value(
            job, miner.extranonce1, params, miner.extranonce2_size, miner.version_mask
        )
        if value in miner.accepted:
            expect = EXPECT_DUPLICATE
    accepted_before = sum(good for good, _ in session.worker_counts.values())
    ok, result = call(session, "mining.submit", params)
    accepted_after = sum(good for good, _ in session.worker_counts.values())
    if accepted_after != accepted_before + (1 if ok else 0):
        raise InvariantViolation(f"accepted count went {accepted_before} -> {accepted_after}")
    if not ok:
        error: StratumError = result
        if expect == EXPECT_ACCEPTED or (
            expect in _EXPECTED_CODE and error.code != _EXPECTED_CODE[expect]
        ):
            raise InvariantViolation(
                f"a real share ({params!r}) was rejected: {error.code} {error.message}"
            )
        return False, error
    if result is not True:
        raise InvariantViolation(f"submit answered {result!r}")
    if len(params) not in (5, 6) or params[0] not in session.usernames:
        raise InvariantViolation(f"accepted a submit with params {params!r}")
    job_id = params[1]
    job = job_as_sent(fp, miner, job_id) if isinstance(job_id, str) else None
    if job is None:
        raise InvariantViolation(f"accepted a share on unknown job {job_id!r}")
    value = independent_share_value(
        job, miner.extranonce1, params, miner.extranonce2_size, miner.version_mask
    )
    pool_job = fp.harness.pool.jobs.get(job.job_id)
    assert pool_job is not None
    is_block = value <= pool_job.network_target
    if value > target_for_difficulty(miner.lowest_difficulty()) and not is_block:
        raise InvariantViolation(f"accepted a share of hash {value:064x} above its target")
    if pool_job.stale and not is_block:
        raise InvariantViolation("accepted a share on a stale job")
    if expect == EXPECT_STALE and not is_block:
        raise InvariantViolation("a real share on a stale job was accepted")
    if value in miner.accepted:
        raise InvariantViolation(f"a duplicate share was accepted: {params!r}")
    miner.accepted.add(value)
    return True, None


def finish_miner(fp: FuzzPool, miner: Miner) -> None:
    """Close the miner's session and run the closing checks."""
    close(fp, miner.session, miner.lines, miner.live_before)

"""What the pool tells the game's event pipeline: the ``data`` of each event type.

Builders read the pool's own objects and hand the values to
:mod:`tbgpool.events.payloads`, which holds the one field list per type (kept equal
to ``tbgpool/events/schema.json`` by a test; ``docs/events.md`` describes it).
Every producer asks :meth:`IEventSink.wants` first, so a type left out of
``events.include`` costs nothing on the share path.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from zope.interface import implementer

from tbgpool.difficulty import DIFF1_TARGET
from tbgpool.events import payloads
from tbgpool.interfaces import IEventSink

if TYPE_CHECKING:
    from tbgpool.blocks import BlockOutcome
    from tbgpool.stats_windows import HashrateEstimates
    from tbgpool.stratum.session import StratumSession
    from tbgpool.template import BlockTemplate

@implementer(IEventSink)
class NoEvents:
    """The sink used when events are disabled: wants nothing."""

    def wants(self, event_type: str) -> bool:
        """Nothing is wanted."""
        return False

    def emit(self, event_type: str, data: dict[str, Any], validated_at: float | None = None) -> None:
        """Drop the event."""


@dataclass(slots=True)
class ShareAttempt:
    """What one mining.submit carried, filled in as far as its checks got."""

    worker: str = ""
    job_id: str | None = None
    nonce2: str | None = None
    ntime: str | None = None
    nonce: str | None = None
    version: int | None = None
    height: int | None = None
    diff: float | None = None  #: the difficulty the share was judged against
    share_diff: float | None = None  #: the share hash's own difficulty
    block: bool = False


def share_submitted(
    session: StratumSession, attempt: ShareAttempt, reason: str | None
) -> dict[str, Any]:
    """``share_submitted``: one submit, accepted (reason None) or rejected."""
    return payloads.share_submitted(
        user=session.address,
        worker=attempt.worker,
        ip=session.ip,
        diff=attempt.diff,
        share_diff=attempt.share_diff,
        valid=reason is None,
        reason=reason,
        job_id=attempt.job_id,
        nonce=attempt.nonce,
        nonce2=attempt.nonce2,
        ntime=attempt.ntime,
        version=None if attempt.version is None else f"{attempt.version:08x}",
        height=attempt.height,
        block=attempt.block,
    )


def share_best_diff(
    session: StratumSession, worker: str, diff: float, previous: float | None,
    user_best_ever: bool, height: int | None,
) -> dict[str, Any]:
    """``share_best_diff``: a share beat the best of its session."""
    assert session.address is not None
    return payloads.share_best_diff(
        user=session.address, worker=worker, ip=session.ip, diff=diff, previous=previous,
        user_best_ever=user_best_ever, height=height,
    )


def block_found(outcome: BlockOutcome) -> dict[str, Any]:
    """``block_found``: a block the pool found, with the node's answer."""
    block = outcome.block
    return payloads.block_found(
        user=block.address,
        worker=block.worker,
        ip=block.ip,
        height=block.height,
        hash=block.block_hash,
        reward=block.coinbase_value,
        diff=block.share_difficulty,
        network_diff=block.network_difficulty,
        accepted=outcome.accepted,
        result=outcome.result,
    )


def miner_connected(session: StratumSession, worker: str) -> dict[str, Any]:
    """``miner_connected``: a worker was authorized on a connection."""
    assert session.address is not None
    return payloads.miner_connected(
        user=session.address,
        worker=worker,
        ip=session.ip,
        user_agent=session.user_agent,
        session_id=session.session_id or "",
        diff=session.vardiff.difficulty if session.vardiff is not None else 0.0,
    )


def miner_disconnected(session: StratumSession, worker: str, now: float) -> dict[str, Any]:
    """``miner_disconnected``: an authorized worker's connection closed."""
    assert session.address is not None
    accepted, rejected = session.worker_counts.get(worker, (0, 0))
    return payloads.miner_disconnected(
        user=session.address,
        worker=worker,
        ip=session.ip,
        session_id=session.session_id or "",
        session_duration_s=max(0.0, now - session.connected_at),
        shares_accepted=accepted,
        shares_rejected=rejected,
    )


def diff_updated(
    session: StratumSession, worker: str, old: float | None, new: float
) -> dict[str, Any]:
    """``diff_updated``: the connection was sent a new share difficulty."""
    assert session.address is not None
    return payloads.diff_updated(
        user=session.address, worker=worker, ip=session.ip, old_diff=old, new_diff=new
    )


def hashrate_update(
    address: str, worker: str, rates: HashrateEstimates, shares_accepted: int, best_diff: float
) -> dict[str, Any]:
    """``hashrate_update``: a worker's hashrate over its windows."""
    return payloads.hashrate_update(
        user=address,
        worker=worker,
        hashrate_1m=rates.hashrate_1m_hs,
        hashrate_5m=rates.hashrate_5m_hs,
        hashrate_1h=rates.hashrate_1h_hs,
        hashrate_1d=rates.hashrate_1d_hs,
        shares_accepted=shares_accepted,
        best_diff=best_diff,
    )


def new_block_network(template: BlockTemplate) -> dict[str, Any]:
    """``new_block_network``: the chain has a new tip (the template's previous block)."""
    return payloads.new_block_network(
        height=template.height - 1,
        hash=template.previous_block_hash,
        next_height=template.height,
        network_diff=DIFF1_TARGET / template.target if template.target else 0.0,
        coinbase_value=template.coinbase_value,
        tx_count=len(template.transactions),
    )


def asicboost_detected(session: StratumSession, worker: str, version_bits: int) -> dict[str, Any]:
    """``asicboost_detected``: the first share of a connection with rolled version bits."""
    assert session.address is not None
    return payloads.asicboost_detected(
        user=session.address,
        worker=worker,
        ip=session.ip,
        user_agent=session.user_agent,
        version_mask=f"{session.version_mask:08x}",
        version_bits=f"{version_bits:08x}",
    )


def instance_id(hostname: str, pid: int, nonce: bytes) -> str:
    """This process's event source id: host, pid and a random part (new at every start)."""
    return f"{hostname}:{pid}:{nonce.hex()}"

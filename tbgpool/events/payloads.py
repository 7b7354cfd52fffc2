"""Builders of each event type's ``data``: every field present, numbers of the right kind.

Use them with the emitter so a missing or misspelt field is a TypeError at the call
site, not an event the collector rejects::

    if emitter.wants("share_submitted"):
        emitter.emit("share_submitted", payloads.share_submitted(user=..., ...), validated_at)

Difficulties and hashrates become floats, counts ints; ``source`` is always added.
The field lists are those of ``schema.json`` (a test keeps the two equal).
"""

from __future__ import annotations

from typing import Any

from tbgpool.events.envelope import SOURCE


def _number(value: float) -> float:
    return float(value)


def _optional_number(value: float | None) -> float | None:
    return None if value is None else float(value)


def _optional_int(value: int | None) -> int | None:
    return None if value is None else int(value)


def share_submitted(
    *,
    user: str | None,
    worker: str,
    ip: str,
    diff: float | None,
    share_diff: float | None,
    valid: bool,
    reason: str | None,
    job_id: str | None,
    nonce: str | None,
    nonce2: str | None,
    ntime: str | None,
    version: str | None,
    height: int | None,
    block: bool,
) -> dict[str, Any]:
    """Data of ``share_submitted``: one submit, accepted or rejected (then with its reason)."""
    return {
        "user": user,
        "worker": worker,
        "ip": ip,
        "diff": _optional_number(diff),
        "share_diff": _optional_number(share_diff),
        "valid": bool(valid),
        "reason": reason,
        "job_id": job_id,
        "nonce": nonce,
        "nonce2": nonce2,
        "ntime": ntime,
        "version": version,
        "height": _optional_int(height),
        "block": bool(block),
        "source": SOURCE,
    }


def block_found(
    *,
    user: str,
    worker: str,
    ip: str,
    height: int,
    hash: str,
    reward: int,
    diff: float,
    network_diff: float,
    accepted: bool,
    result: str | None,
) -> dict[str, Any]:
    """Data of ``block_found``: a share met the network target and the node answered."""
    return {
        "user": user,
        "worker": worker,
        "ip": ip,
        "height": int(height),
        "hash": hash,
        "reward": int(reward),
        "diff": _number(diff),
        "network_diff": _number(network_diff),
        "accepted": bool(accepted),
        "result": result,
        "source": SOURCE,
    }


def miner_connected(
    *, user: str, worker: str, ip: str, user_agent: str, session_id: str, diff: float
) -> dict[str, Any]:
    """Data of ``miner_connected``: a worker authorized; ``diff`` is its starting difficulty."""
    return {
        "user": user,
        "worker": worker,
        "ip": ip,
        "user_agent": user_agent,
        "session_id": session_id,
        "diff": _number(diff),
        "source": SOURCE,
    }


def miner_disconnected(
    *,
    user: str,
    worker: str,
    ip: str,
    session_id: str,
    session_duration_s: float,
    shares_accepted: int,
    shares_rejected: int,
) -> dict[str, Any]:
    """Data of ``miner_disconnected``: the session's length and its share counts."""
    return {
        "user": user,
        "worker": worker,
        "ip": ip,
        "session_id": session_id,
        "session_duration_s": _number(session_duration_s),
        "shares_accepted": int(shares_accepted),
        "shares_rejected": int(shares_rejected),
        "source": SOURCE,
    }


def diff_updated(
    *, user: str, worker: str, ip: str, old_diff: float | None, new_diff: float
) -> dict[str, Any]:
    """Data of ``diff_updated``: a worker's share difficulty changed (old is null at first)."""
    return {
        "user": user,
        "worker": worker,
        "ip": ip,
        "old_diff": _optional_number(old_diff),
        "new_diff": _number(new_diff),
        "source": SOURCE,
    }


def hashrate_update(
    *,
    user: str,
    worker: str,
    hashrate_1m: float,
    hashrate_5m: float,
    hashrate_1h: float,
    hashrate_1d: float,
    shares_accepted: int,
    best_diff: float,
) -> dict[str, Any]:
    """Data of ``hashrate_update``: a worker's hashrate estimates in H/s and totals."""
    return {
        "user": user,
        "worker": worker,
        "hashrate_1m": _number(hashrate_1m),
        "hashrate_5m": _number(hashrate_5m),
        "hashrate_1h": _number(hashrate_1h),
        "hashrate_1d": _number(hashrate_1d),
        "shares_accepted": int(shares_accepted),
        "best_diff": _number(best_diff),
        "source": SOURCE,
    }


def new_block_network(
    *,
    height: int,
    hash: str,
    next_height: int,
    network_diff: float,
    coinbase_value: int,
    tx_count: int,
) -> dict[str, Any]:
    """Data of ``new_block_network``: the network has a new tip; what the next block pays."""
    return {
        "height": int(height),
        "hash": hash,
        "next_height": int(next_height),
        "network_diff": _number(network_diff),
        "coinbase_value": int(coinbase_value),
        "tx_count": int(tx_count),
        "source": SOURCE,
    }


def share_best_diff(
    *,
    user: str,
    worker: str,
    ip: str,
    diff: float,
    previous: float | None,
    user_best_ever: bool,
    height: int | None,
) -> dict[str, Any]:
    """Data of ``share_best_diff``: a session's best share so far (maybe the user's best ever)."""
    return {
        "user": user,
        "worker": worker,
        "ip": ip,
        "diff": _number(diff),
        "previous": _optional_number(previous),
        "user_best_ever": bool(user_best_ever),
        "height": _optional_int(height),
        "source": SOURCE,
    }


def asicboost_detected(
    *, user: str, worker: str, ip: str, user_agent: str, version_mask: str, version_bits: str
) -> dict[str, Any]:
    """Data of ``asicboost_detected``: a worker's first share with rolled version bits."""
    return {
        "user": user,
        "worker": worker,
        "ip": ip,
        "user_agent": user_agent,
        "version_mask": version_mask,
        "version_bits": version_bits,
        "source": SOURCE,
    }

"""The stats records of one user and its workers, and their JSON form.

:class:`ShareStats` holds what ckpool keeps per user and per worker: share
counters, the sum of credited difficulty, the best share difficulty since the
pool's last block and ever, rejections by reason, and hashrate windows
(:mod:`tbgpool.stats_windows`). :class:`UserStats` adds the payout address and
its :class:`WorkerStats`. ``to_dict``/``from_dict`` give the versioned JSON form
that :class:`tbgpool.stats.StatsBook` writes, one file per user; ``from_dict``
treats its input as untrusted and raises ValueError naming the bad field.
"""

from __future__ import annotations

from typing import Any, Final

from tbgpool.stats_store import (
    is_valid_address,
    json_count,
    json_non_negative,
    json_object,
)
from tbgpool.stats_windows import HashrateEstimates, HashrateWindows

#: The version of the user file format written by :meth:`UserStats.to_dict`.
STATS_FORMAT_VERSION: Final = 1
#: Longest worker name (the part after the dot) accepted.
MAX_WORKER_NAME_CHARS: Final = 256
#: Longest rejection reason accepted.
MAX_REJECT_REASON_CHARS: Final = 64
#: Distinct rejection reasons kept per user or worker, "other" included.
MAX_REJECT_REASONS: Final = 32
#: Where rejections beyond MAX_REJECT_REASONS are counted.
OTHER_REJECT_REASON: Final = "other"


class ShareStats:
    """Counters, best difficulties and hashrate of one user or one worker."""

    __slots__ = (
        "best_diff",
        "best_ever",
        "diff_accepted",
        "hashrate",
        "last_share_time",
        "rejects_by_reason",
        "shares_accepted",
        "shares_rejected",
    )

    def __init__(self) -> None:
        """Start with nothing counted."""
        self.shares_accepted = 0
        self.shares_rejected = 0
        self.diff_accepted = 0.0  #: sum of the credited difficulty of accepted shares
        self.last_share_time: float | None = None  #: of the last accepted share
        self.best_diff = 0.0  #: best share difficulty since the pool's last block
        self.best_ever = 0.0
        self.rejects_by_reason: dict[str, int] = {}
        self.hashrate = HashrateWindows()

    def record_accepted(self, credited_diff: float, share_diff: float, now: float) -> bool:
        """Count an accepted share; True if ``share_diff`` beats the best since the last block."""
        self.shares_accepted += 1
        self.diff_accepted += credited_diff
        self.last_share_time = now
        self.hashrate.record(credited_diff, now)
        self.best_ever = max(self.best_ever, share_diff)
        if share_diff > self.best_diff:
            self.best_diff = share_diff
            return True
        return False

    def record_rejected(self, reason: str) -> None:
        """Count a rejected share under ``reason``."""
        self.shares_rejected += 1
        # One of the MAX_REJECT_REASONS slots is kept for OTHER_REJECT_REASON.
        if (
            reason not in self.rejects_by_reason
            and len(self.rejects_by_reason) >= MAX_REJECT_REASONS - 1
        ):
            reason = OTHER_REJECT_REASON
        self.rejects_by_reason[reason] = self.rejects_by_reason.get(reason, 0) + 1

    def hashrates(self, now: float) -> HashrateEstimates:
        """Hashes per second over each window, read at ``now`` (reading changes nothing)."""
        return self.hashrate.estimates(now)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict of the counters."""
        return {
            "shares_accepted": self.shares_accepted,
            "shares_rejected": self.shares_rejected,
            "diff_accepted": self.diff_accepted,
            "last_share_time": self.last_share_time,
            "best_diff": self.best_diff,
            "best_ever": self.best_ever,
            "rejects_by_reason": dict(self.rejects_by_reason),
            "hashrate": self.hashrate.to_dict(),
        }

    def _load_fields(self, raw: dict[str, object], field: str) -> None:
        """Fill the counters from a :meth:`to_dict` dict; ValueError naming a bad field."""
        self.shares_accepted = json_count(f"{field}shares_accepted", raw.get("shares_accepted"))
        self.shares_rejected = json_count(f"{field}shares_rejected", raw.get("shares_rejected"))
        self.diff_accepted = json_non_negative(f"{field}diff_accepted", raw.get("diff_accepted"))
        last_share_time = raw.get("last_share_time")
        if last_share_time is not None:
            self.last_share_time = json_non_negative(f"{field}last_share_time", last_share_time)
        self.best_diff = json_non_negative(f"{field}best_diff", raw.get("best_diff"))
        self.best_ever = json_non_negative(f"{field}best_ever", raw.get("best_ever"))
        if self.best_diff > self.best_ever:
            raise ValueError(f"{field}best_diff: greater than best_ever")
        reasons = json_object(f"{field}rejects_by_reason", raw.get("rejects_by_reason"))
        if len(reasons) > MAX_REJECT_REASONS:
            raise ValueError(f"{field}rejects_by_reason: more than {MAX_REJECT_REASONS} reasons")
        self.rejects_by_reason = {
            reason: json_count(f"{field}rejects_by_reason", count)
            for reason, count in reasons.items()
        }
        self.hashrate = HashrateWindows.from_dict(raw.get("hashrate"), f"{field}hashrate")


class WorkerStats(ShareStats):
    """The stats of one worker of a user."""

    __slots__ = ("name",)

    def __init__(self, name: str) -> None:
        """A worker called ``name`` ("" for the bare address)."""
        super().__init__()
        self.name = name

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict of the worker."""
        fields = super().to_dict()
        fields["name"] = self.name
        return fields

    @classmethod
    def from_dict(cls, raw: object, field: str = "worker") -> WorkerStats:
        """Rebuild a worker from :meth:`to_dict` output; ValueError naming a bad field."""
        fields = json_object(field, raw)
        worker = cls(check_worker_name(fields.get("name")))
        worker._load_fields(fields, f"{field}.")
        return worker


class UserStats(ShareStats):
    """The stats of one user (payout address), with its workers."""

    __slots__ = ("address", "worker_cap_logged", "workers")

    def __init__(self, address: str) -> None:
        """A user paid to ``address``."""
        super().__init__()
        self.address = address
        self.workers: dict[str, WorkerStats] = {}
        self.worker_cap_logged = False  #: not persisted: log the cap once per process

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready, versioned dict of the user and its workers."""
        fields = super().to_dict()
        fields["version"] = STATS_FORMAT_VERSION
        fields["address"] = self.address
        fields["workers"] = [worker.to_dict() for worker in self.workers.values()]
        return fields

    @classmethod
    def from_dict(cls, raw: object) -> UserStats:
        """Rebuild a user from :meth:`to_dict` output; ValueError naming a bad field."""
        fields = json_object("user", raw)
        version = fields.get("version")
        if version != STATS_FORMAT_VERSION or isinstance(version, bool):
            raise ValueError(f"version: expected {STATS_FORMAT_VERSION}, not {version!r}")
        address = fields.get("address")
        if not is_valid_address(address):
            raise ValueError("address: not a valid address")
        user = cls(address)
        user._load_fields(fields, "")
        workers = fields.get("workers")
        if not isinstance(workers, list):
            raise ValueError("workers: expected an array")
        for index, raw_worker in enumerate(workers):
            worker = WorkerStats.from_dict(raw_worker, f"workers[{index}]")
            if worker.name in user.workers:
                raise ValueError(f"workers[{index}].name: {worker.name!r} appears twice")
            user.workers[worker.name] = worker
        return user


def check_worker_name(name: object) -> str:
    """``name`` if it is an acceptable worker name, else ValueError."""
    if not isinstance(name, str):
        raise ValueError(f"worker name must be a str, not {type(name).__name__}")
    if len(name) > MAX_WORKER_NAME_CHARS:
        raise ValueError(f"worker name longer than {MAX_WORKER_NAME_CHARS} characters")
    return name

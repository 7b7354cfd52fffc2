"""Stratum v1 error codes and the exception that carries them to the reply."""

from __future__ import annotations

OTHER = 20
JOB_NOT_FOUND = 21
DUPLICATE = 22
LOW_DIFFICULTY = 23
UNAUTHORIZED = 24
NOT_SUBSCRIBED = 25


class StratumError(Exception):
    """A request failed: replied as ``"error": [code, message, null]``."""

    def __init__(self, code: int, message: str, reason: str | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        #: a short machine-readable reason, for logs and counters
        self.reason = reason or message.lower().replace(" ", "_")

    def to_json(self) -> list[object]:
        """The ``error`` member of the reply."""
        return [self.code, self.message, None]


def stale() -> StratumError:
    """A share on a job whose previous block hash is no longer the tip."""
    return StratumError(JOB_NOT_FOUND, "Stale", "stale")


def job_not_found() -> StratumError:
    """A share on a job the pool does not know (expired, or never issued)."""
    return StratumError(JOB_NOT_FOUND, "Job not found", "job_not_found")


def duplicate() -> StratumError:
    """A share whose exact header was already submitted."""
    return StratumError(DUPLICATE, "Duplicate share", "duplicate")


def low_difficulty(share_difficulty: float, required: float) -> StratumError:
    """A share that does not meet the connection's share target."""
    return StratumError(
        LOW_DIFFICULTY,
        f"Low difficulty share ({share_difficulty:.6g} < {required:.6g})",
        "low_difficulty",
    )


def unauthorized() -> StratumError:
    """A submit for a worker this connection did not authorize."""
    return StratumError(UNAUTHORIZED, "Unauthorized worker", "unauthorized")


def not_subscribed() -> StratumError:
    """A request that needs ``mining.subscribe`` first."""
    return StratumError(NOT_SUBSCRIBED, "Not subscribed", "not_subscribed")


def invalid(message: str, reason: str) -> StratumError:
    """Any other failure (code 20)."""
    return StratumError(OTHER, message, reason)

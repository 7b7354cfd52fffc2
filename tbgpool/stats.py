"""Per-user and per-worker share statistics, ckpool style, persisted per user.

A user is a payout address; a worker is what the miner wrote after the dot in
``address.worker`` (the bare address is the worker ``""``). The records
themselves are in :mod:`tbgpool.stats_records`, the files in
:mod:`tbgpool.stats_store`.

Memory is bounded: at most ``max_users`` users (beyond that the least recently
active one is written out and dropped; it is read back from its file when it
returns) and ``max_workers_per_user`` workers per user (shares of further workers
count for the user only, and that is logged once per user).
"""

from __future__ import annotations

import math
import os
from collections import OrderedDict

from twisted.internet.interfaces import IReactorTime
from twisted.logger import Logger

from tbgpool.stats_records import (
    MAX_REJECT_REASON_CHARS,
    ShareStats,
    UserStats,
    WorkerStats,
    check_worker_name,
)
from tbgpool.stats_store import (
    TEMP_FILE_RE,
    USER_FILE_RE,
    fsync_directory,
    is_valid_address,
    read_json_file,
    user_file_path,
    write_json_atomically,
)
from tbgpool.stats_windows import HashrateEstimates

__all__ = ["StatsBook", "UserStats", "WorkerStats"]


def _check_difficulty(name: str, value: object) -> float:
    """``value`` as a float if it is a finite number > 0 (bool refused), else ValueError."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError(f"{name} must be a number, not {type(value).__name__}")
    result = float(value)
    if not math.isfinite(result) or result <= 0:
        raise ValueError(f"{name} must be finite and greater than 0, not {value!r}")
    return result


def _check_reason(reason: object) -> str:
    """``reason`` cut to MAX_REJECT_REASON_CHARS; ValueError unless a non-empty str."""
    if not isinstance(reason, str) or not reason:
        raise ValueError("reject reason must be a non-empty str")
    return reason[:MAX_REJECT_REASON_CHARS]


def _check_address(address: object) -> str:
    """``address`` if it may name a user file, else ValueError."""
    if not is_valid_address(address):
        raise ValueError(f"not a valid stats address: {address!r}")
    return address


class StatsBook:
    """Every user's and worker's stats, bounded in memory, persisted one file per user."""

    _log = Logger()

    def __init__(
        self,
        clock: IReactorTime,
        directory: str,
        max_users: int = 1_000_000,
        max_workers_per_user: int = 1024,
    ) -> None:
        """Keep stats in memory, their files in ``directory`` (<logdir>/users, created here)."""
        for name, limit in (
            ("max_users", max_users),
            ("max_workers_per_user", max_workers_per_user),
        ):
            if isinstance(limit, bool) or not isinstance(limit, int) or limit < 1:
                raise ValueError(f"{name} must be a positive int, not {limit!r}")
        self._clock = clock
        self._directory = directory
        self._max_users = max_users
        self._max_workers_per_user = max_workers_per_user
        # Least recently active first, so the front is what to drop when full.
        self._users: OrderedDict[str, UserStats] = OrderedDict()
        self._dirty: set[str] = set()
        # When this process last saw a block found; files of users that were not in
        # memory then still hold older bests, forgotten as they are read back.
        self._last_block_at: float | None = None
        os.makedirs(directory, exist_ok=True)

    def __len__(self) -> int:
        """How many users are in memory."""
        return len(self._users)

    def share_accepted(
        self, address: str, worker: str, credited_diff: float, share_diff: float
    ) -> bool:
        """Count an accepted share; True if ``share_diff`` is a new best since the last block."""
        address = _check_address(address)
        worker = check_worker_name(worker)
        credited = _check_difficulty("credited_diff", credited_diff)
        achieved = _check_difficulty("share_diff", share_diff)
        now = self._clock.seconds()
        user = self._active_user(address)
        new_best = user.record_accepted(credited, achieved, now)
        worker_stats = self._worker(user, worker)
        if worker_stats is not None:
            new_best = worker_stats.record_accepted(credited, achieved, now) or new_best
        return new_best

    def share_rejected(self, address: str, worker: str, reason: str) -> None:
        """Count a rejected share of ``address``.``worker`` under ``reason``."""
        address = _check_address(address)
        worker = check_worker_name(worker)
        reason = _check_reason(reason)
        user = self._active_user(address)
        user.record_rejected(reason)
        worker_stats = self._worker(user, worker)
        if worker_stats is not None:
            worker_stats.record_rejected(reason)

    def block_found(self) -> None:
        """The pool found a block: every user's and worker's best-since-block starts over."""
        self._last_block_at = self._clock.seconds()
        for address, user in self._users.items():
            changed = user.best_diff != 0.0
            user.best_diff = 0.0
            for worker in user.workers.values():
                changed = changed or worker.best_diff != 0.0
                worker.best_diff = 0.0
            if changed:
                self._dirty.add(address)

    def user(self, address: str) -> UserStats | None:
        """The stats of ``address`` (read from its file if not in memory), or None."""
        if not is_valid_address(address):
            return None
        user = self._users.get(address)
        if user is None:
            user = self._read_user(address)
            if user is not None:
                self._insert(user)
        return user

    def hashrates(self, address: str, worker: str | None = None) -> HashrateEstimates | None:
        """Hashrates of a user (or one of its workers) now; None if unknown."""
        user = self.user(address)
        if user is None:
            return None
        stats: ShareStats | None = user if worker is None else user.workers.get(worker)
        return None if stats is None else stats.hashrates(self._clock.seconds())

    def load(self) -> int:
        """Read every user file not yet in memory; returns how many (bad files logged, skipped)."""
        loaded = 0
        with os.scandir(self._directory) as entries:
            names = sorted(entry.name for entry in entries if entry.is_file(follow_symlinks=False))
        for name in names:
            if TEMP_FILE_RE.fullmatch(name):
                self._remove_temp_file(name)
                continue
            match = USER_FILE_RE.fullmatch(name)
            if match is None or match.group(1) in self._users:
                continue
            if len(self._users) >= self._max_users:
                self._log.warn(
                    "stats: {count} users in memory (the maximum); the rest load when they mine",
                    count=len(self._users),
                )
                break
            user = self._read_user(match.group(1))
            if user is not None:
                self._insert(user)
                loaded += 1
        return loaded

    def save_dirty(self, durable: bool = False) -> int:
        """Write the users changed since they were last written; returns how many.

        Periodic saves run on the reactor thread, so by default they skip fsync (a
        write stays atomic); :meth:`save_all` at shutdown is durable.
        """
        return self._save(sorted(self._dirty), durable)

    def save_all(self) -> int:
        """Write every user in memory, durably; returns how many."""
        return self._save(list(self._users), True)

    def _active_user(self, address: str) -> UserStats:
        """The user of ``address``, created or read back if needed, marked active and dirty."""
        user = self.user(address)
        if user is None:
            user = UserStats(address)
            self._insert(user)
        self._users.move_to_end(address)
        self._dirty.add(address)
        return user

    def _worker(self, user: UserStats, name: str) -> WorkerStats | None:
        """Worker ``name`` of ``user``, created if the cap allows; None beyond the cap."""
        worker = user.workers.get(name)
        if worker is None:
            if len(user.workers) >= self._max_workers_per_user:
                if not user.worker_cap_logged:
                    user.worker_cap_logged = True
                    self._log.warn(
                        "stats: {address} has {count} workers (the maximum); shares of further "
                        "workers such as {worker!r} count for the user only",
                        address=user.address,
                        count=len(user.workers),
                        worker=name,
                    )
                return None
            worker = user.workers[name] = WorkerStats(name)
        return worker

    def _insert(self, user: UserStats) -> None:
        """Hold ``user`` in memory, writing out and dropping the least active beyond the cap."""
        if len(user.workers) > self._max_workers_per_user:
            kept = list(user.workers.items())[: self._max_workers_per_user]
            self._log.warn(
                "stats: {address} had {count} workers; keeping the first {kept}",
                address=user.address,
                count=len(user.workers),
                kept=len(kept),
            )
            user.workers = dict(kept)
        self._users[user.address] = user
        while len(self._users) > self._max_users:
            address, evicted = self._users.popitem(last=False)
            if address in self._dirty:
                self._dirty.discard(address)
                if evicted.shares_accepted and not self._write(evicted):
                    self._log.error(
                        "stats: dropped unsaved stats of {address} to stay within {max_users} users",
                        address=address,
                        max_users=self._max_users,
                    )

    def _read_user(self, address: str) -> UserStats | None:
        """The user stored in ``address``'s file; None if there is none or it is unusable."""
        path = user_file_path(self._directory, address)
        try:
            user = UserStats.from_dict(read_json_file(path))
            if user.address != address:
                raise ValueError(f"address: {user.address!r} does not match the file name")
        except FileNotFoundError:
            return None
        except (OSError, ValueError) as e:
            self._log.error("stats: skipping unusable file {path}: {error}", path=path, error=e)
            return None
        if self._last_block_at is not None:
            for stats in (user, *user.workers.values()):
                if stats.last_share_time is None or stats.last_share_time < self._last_block_at:
                    if stats.best_diff:
                        stats.best_diff = 0.0
                        self._dirty.add(address)
        return user

    def _save(self, addresses: list[str], durable: bool) -> int:
        """Write the users of ``addresses`` that are in memory; returns how many were written."""
        written = 0
        for address in addresses:
            user = self._users.get(address)
            if user is not None and user.shares_accepted == 0:
                # Only proof of work earns a file: rejected junk from ever new addresses
                # must not be able to fill the disk (it still counts in memory).
                self._dirty.discard(address)
                continue
            if user is not None and self._write(user, durable):
                self._dirty.discard(address)
                written += 1
        if written and durable:
            try:
                fsync_directory(self._directory)
            except OSError as e:
                self._log.warn(
                    "stats: could not fsync {directory}: {error}",
                    directory=self._directory,
                    error=e,
                )
        return written

    def _write(self, user: UserStats, durable: bool = True) -> bool:
        """Write ``user``'s file atomically; False (logged) if that failed."""
        path = user_file_path(self._directory, user.address)
        try:
            write_json_atomically(path, user.to_dict(), durable)
        except (OSError, ValueError) as e:
            self._log.error("stats: could not write {path}: {error}", path=path, error=e)
            return False
        return True

    def _remove_temp_file(self, name: str) -> None:
        """Delete a temporary file a crash left behind."""
        path = os.path.join(self._directory, name)
        try:
            os.unlink(path)
        except OSError as e:
            self._log.warn("stats: could not remove {path}: {error}", path=path, error=e)

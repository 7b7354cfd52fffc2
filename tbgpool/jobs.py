"""Jobs: what the Stratum side builds from each block template.

A :class:`Job` holds everything shared by all miners for one template (previous
hash, merkle branch, version, bits, ntime) and builds, on demand and cached,
the per-payout-script coinbase halves and ``mining.notify`` line. The
:class:`JobBook` keeps the live jobs, decides ``clean_jobs`` and expires old ones.
"""

from __future__ import annotations

import hashlib
import json
from collections import OrderedDict
from dataclasses import dataclass, field

from tbgpool.coinbase import CoinbaseTemplate
from tbgpool.difficulty import bits_to_target, difficulty_for_target
from tbgpool.template import BlockTemplate

#: Version bits never rolled: the top three keep BIP9's 001 prefix.
NEVER_ROLLED = 0xE0000000
#: Jobs of the current chain tip kept for late shares.
MAX_LIVE_JOBS = 32
#: How long jobs of a replaced tip are kept: a share on them is stale, but one
#: meeting the network target is still assembled and submitted as a block.
STALE_JOB_GRACE_S = 120.0


def _sha256d(data: bytes) -> bytes:
    return hashlib.sha256(hashlib.sha256(data).digest()).digest()


def merkle_branch(txids: list[bytes]) -> list[bytes]:
    """The merkle branch (siblings on the coinbase's path) for a block of these transactions."""
    branch: list[bytes] = []
    level: list[bytes | None] = [None, *txids]
    while len(level) > 1:
        branch.append(level[1] if level[1] is not None else b"")
        nxt: list[bytes | None] = [None]
        rest = level[2:]
        if len(rest) % 2:
            rest.append(rest[-1])
        for i in range(0, len(rest), 2):
            left, right = rest[i], rest[i + 1]
            assert left is not None and right is not None
            nxt.append(_sha256d(left + right))
        level = nxt
    return branch


def stratum_prevhash(previous_block_hash: str) -> str:
    """The previous hash as Stratum sends it: internal order, each 4-byte word byte-swapped."""
    internal = bytes.fromhex(previous_block_hash)[::-1]
    return b"".join(internal[i : i + 4][::-1] for i in range(0, 32, 4)).hex()


@dataclass(slots=True, eq=False)
class PayoutWork:
    """The coinbase halves and notify params of one job for one payout script."""

    coinb1: bytes
    coinb2: bytes
    coinb1_hex: str
    coinb2_hex: str
    lines: dict[bool, bytes] = field(default_factory=dict)  #: notify line by clean flag


@dataclass(eq=False)
class Job:
    """One unit of work sent to miners with ``mining.notify``."""

    job_id: str
    template: BlockTemplate
    coinbase: CoinbaseTemplate
    branch: list[bytes]
    created_at: float
    ntime: int
    clean: bool
    rollable_mask: int = 0  #: version bits miners may roll; cleared in the advertised version
    prevhash: bytes = field(init=False)  #: internal byte order, as in the header
    prevhash_stratum: str = field(init=False)
    branch_concat: bytes = field(init=False)
    branch_hex: list[str] = field(init=False)
    network_target: int = field(init=False)
    network_difficulty: float = field(init=False)
    stale_since: float | None = None  #: when a newer tip replaced this job's
    _payouts: dict[tuple[bytes, bytes], PayoutWork] = field(init=False, default_factory=dict)
    _seen: set[bytes] = field(init=False, default_factory=set)

    def __post_init__(self) -> None:
        self.prevhash = bytes.fromhex(self.template.previous_block_hash)[::-1]
        self.prevhash_stratum = stratum_prevhash(self.template.previous_block_hash)
        self.branch_concat = b"".join(self.branch)
        self.branch_hex = [h.hex() for h in self.branch]
        self.network_target = bits_to_target(self.template.bits)
        self.network_difficulty = difficulty_for_target(self.template.target)

    @property
    def version(self) -> int:
        """The version miners are sent: the template's, with the rollable bits cleared.

        BIP320 leaves bits 13-28 to version rolling, but a template may set one of
        them (Core's regtest signals its test deployment on bit 28). Clearing them
        makes BIP310's replacement rule, ``(version & ~mask) | (bits & mask)``, and
        the XOR rule some firmware (ESP-Miner) uses give the same header.
        """
        return self.template.version & ~self.rollable_mask

    @property
    def bits(self) -> int:
        """The compact network target."""
        return self.template.bits

    def payout(self, payout_script: bytes, user_tag: bytes = b"") -> PayoutWork:
        """The coinbase halves paying ``payout_script``, built once per job and script."""
        key = (payout_script, user_tag)
        work = self._payouts.get(key)
        if work is None:
            coinb1, coinb2 = self.coinbase.parts(payout_script, user_tag)
            work = PayoutWork(coinb1, coinb2, coinb1.hex(), coinb2.hex())
            self._payouts[key] = work
        return work

    def notify_params(self, payout: PayoutWork, clean: bool | None = None) -> list[object]:
        """``mining.notify`` params for this job and payout."""
        return [
            self.job_id,
            self.prevhash_stratum,
            payout.coinb1_hex,
            payout.coinb2_hex,
            self.branch_hex,
            f"{self.version:08x}",
            f"{self.bits:08x}",
            f"{self.ntime:08x}",
            self.clean if clean is None else clean,
        ]

    def notify_line(self, payout: PayoutWork, clean: bool | None = None) -> bytes:
        """The whole ``mining.notify`` line, newline-terminated (built once per payout)."""
        flag = self.clean if clean is None else clean
        line = payout.lines.get(flag)
        if line is None:
            message = {"id": None, "method": "mining.notify", "params": self.notify_params(payout, flag)}
            line = json.dumps(message, separators=(",", ":")).encode() + b"\n"
            payout.lines[flag] = line
        return line

    @property
    def stale(self) -> bool:
        """True once a newer chain tip replaced this job's previous hash."""
        return self.stale_since is not None

    def first_seen(self, header_hash: bytes) -> bool:
        """Record a share's header hash; False if this exact header was seen before."""
        if header_hash in self._seen:
            return False
        self._seen.add(header_hash)
        return True


class JobBook:
    """The live jobs: builds them from templates, numbers them, expires old ones."""

    def __init__(
        self, pool_tag: bytes, extranonce_size: int, version_mask: int = 0, first_id: int = 1
    ) -> None:
        self._pool_tag = pool_tag
        self._extranonce_size = extranonce_size
        self._rollable_mask = version_mask & ~NEVER_ROLLED
        self._jobs: OrderedDict[str, Job] = OrderedDict()
        self._next_id = max(1, first_id & 0xFFFFFFFF)
        self.current: Job | None = None

    def _new_id(self) -> str:
        job_id = f"{self._next_id:x}"
        self._next_id = self._next_id + 1 if self._next_id < 0xFFFFFFFF else 1
        return job_id

    def add(self, template: BlockTemplate, now: float, ntime: int | None = None) -> Job:
        """Make the current job from ``template``; clean when the previous hash changed."""
        previous = self.current
        reissue = previous is not None and previous.template is template
        new_tip = (
            previous is None
            or previous.template.previous_block_hash != template.previous_block_hash
        )
        # A template the source marks clean (first after a reconnect) tells miners to
        # drop old work, but work on the same tip stays valid: only a new tip is stale.
        clean = new_tip or (template.clean and not reissue)
        if previous is not None and reissue:
            coinbase = previous.coinbase
            branch = previous.branch
        else:
            coinbase = CoinbaseTemplate(
                template.height,
                template.coinbase_value,
                template.witness_commitment,
                self._pool_tag,
                self._extranonce_size,
            )
            branch = merkle_branch([tx.txid for tx in template.transactions])
        job = Job(
            job_id=self._new_id(),
            template=template,
            coinbase=coinbase,
            branch=branch,
            created_at=now,
            ntime=max(template.curtime if ntime is None else ntime, template.mintime),
            clean=clean,
            rollable_mask=self._rollable_mask,
        )
        if new_tip:
            for old in self._jobs.values():
                if old.stale_since is None:
                    old.stale_since = now
        self._jobs[job.job_id] = job
        self.current = job
        self.expire(now)
        return job

    def get(self, job_id: str) -> Job | None:
        """The job with this id, if it is still kept."""
        return self._jobs.get(job_id)

    def expire(self, now: float) -> None:
        """Forget stale jobs past their grace period and all but the newest live jobs."""
        live = 0
        for job_id in reversed(list(self._jobs)):
            job = self._jobs[job_id]
            if job.stale_since is not None:
                if now - job.stale_since > STALE_JOB_GRACE_S:
                    del self._jobs[job_id]
            else:
                live += 1
                if live > MAX_LIVE_JOBS:
                    del self._jobs[job_id]

    def __len__(self) -> int:
        return len(self._jobs)

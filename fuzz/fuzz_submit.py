"""Fuzz target: ``mining.submit`` with hostile params and with real shares, changed or not.

Run: ``python fuzz/fuzz_submit.py [libFuzzer args] fuzz/corpus/submit``.
Each input gets a fresh working session (version rolling or not). Submits are fully
hostile, plausibly shaped, or a REAL share mined with hashlib at the session's trivial
difficulty, sent unchanged (must be accepted; on the stale job, rejected as stale; sent
again, rejected as a duplicate) or with one field changed. Every accepted share is
re-verified independently (see fuzz.sessions.submit).
"""

from __future__ import annotations

import os
import sys
from typing import Any

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import atheris  # noqa: E402

with atheris.instrument_imports(include=["tbgpool"]):
    from fuzz import harness, sessions, values
    from tbgpool.difficulty import target_for_difficulty
    from tbgpool.testing import mine

harness.watch_logs()
POOLS = harness.PoolCycle("regtest")
WORKERS = ["", ".rig1", "_rig2", ".bitaxe.601", ".a-b_c"]
MAX_SUBMITS = 4


def _hex(fdp: Any, size: int) -> str:
    return bytes(fdp.ConsumeBytes(size)).ljust(size, b"\0").hex()


def _real_share(
    fdp: Any, fp: harness.FuzzPool, miner: sessions.Miner
) -> tuple[list[Any], str]:
    """A mined share's params (on the current or the stale job) and what the pool must say."""
    stale = fdp.ConsumeIntInRange(0, 7) == 0
    job_id = fp.stale_job_id if stale else fp.current_job_id
    job = sessions.job_as_sent(fp, miner, job_id)
    assert job is not None
    difficulty = max(params[0] for params in miner.notifications("mining.set_difficulty"))
    version_bits = None
    if miner.version_mask and fdp.ConsumeBool():
        version_bits = fdp.ConsumeIntInRange(0, 0xFFFFFFFF) & miner.version_mask
    solution = mine(
        job,
        miner.extranonce1,
        _hex(fdp, miner.extranonce2_size),
        target_for_difficulty(difficulty),
        start_nonce=fdp.ConsumeIntInRange(0, 0xFFFF0000),
        version_bits=version_bits,
    )
    params: list[Any] = [
        miner.username, job.job_id, solution.extranonce2, solution.ntime, solution.nonce
    ]
    if solution.version_bits is not None:
        params.append(solution.version_bits)
    return params, sessions.EXPECT_STALE if stale else sessions.EXPECT_ACCEPTED


def _plausible(fdp: Any, fp: harness.FuzzPool, miner: sessions.Miner) -> list[Any]:
    """Well-shaped fields with random values (almost always a low-difficulty share)."""
    job_id = fdp.PickValueInList([fp.current_job_id, fp.stale_job_id, "0", "ffffffff"])
    params: list[Any] = [miner.username, job_id, _hex(fdp, miner.extranonce2_size),
                         _hex(fdp, 4), _hex(fdp, 4)]
    if fdp.ConsumeBool():
        params.append(_hex(fdp, 4))
    return params


def TestOneInput(data: bytes) -> None:
    """A working session, then one to four submits of every kind."""
    fp = POOLS.get()
    literal = values.literal_params(data)
    if literal is not None:
        miner = sessions.start_miner(fp, values.ADDRESSES["regtest"][0], True)
        sessions.submit(fp, miner, literal)
        sessions.finish_miner(fp, miner)
        return
    fdp = atheris.FuzzedDataProvider(data)
    address = fdp.PickValueInList(values.ADDRESSES["regtest"])
    miner = sessions.start_miner(fp, address + fdp.PickValueInList(WORKERS), fdp.ConsumeBool())
    for _ in range(fdp.ConsumeIntInRange(1, MAX_SUBMITS)):
        mode = fdp.ConsumeIntInRange(0, 4)
        if mode == 0:
            sessions.submit(fp, miner, values.hostile_params(fdp, 8))
        elif mode == 1:
            sessions.submit(fp, miner, _plausible(fdp, fp, miner))
        elif mode == 2:
            params, expect = _real_share(fdp, fp, miner)
            accepted, _ = sessions.submit(fp, miner, params, expect)
            if accepted:
                sessions.submit(fp, miner, params, sessions.EXPECT_DUPLICATE)
        else:
            params, _ = _real_share(fdp, fp, miner)
            index = fdp.ConsumeIntInRange(0, len(params))
            if index == len(params):
                params.append(values.hostile_value(fdp))
            else:
                params[index] = values.mutate_text(fdp, params[index])
            sessions.submit(fp, miner, params)
    sessions.finish_miner(fp, miner)


def main() -> None:
    """Hand the target to libFuzzer."""
    atheris.Setup(sys.argv, TestOneInput)
    atheris.Fuzz()


if __name__ == "__main__":
    main()

"""Fuzz target: ``mining.subscribe`` with hostile params, on a fresh session of a shared pool.

Run: ``python fuzz/fuzz_subscribe.py [libFuzzer args] fuzz/corpus/subscribe``.
Only StratumError may leave the handler; the result has the documented shape; the user
agent is kept as printable ASCII; a resumed session id never takes the extranonce1 of a
live session; closing the session gives its extranonce1 back.
"""

from __future__ import annotations

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import atheris  # noqa: E402

with atheris.instrument_imports(include=["tbgpool"]):
    from fuzz import harness, sessions, values

harness.watch_logs()
POOLS = harness.PoolCycle("regtest")
_KEEP_RELEASED = 8


def _holder(fp: harness.FuzzPool) -> sessions.StratumSession:
    """The pool's long-lived subscribed session (made on first use)."""
    if fp.holder is None:
        holder, _ = fp.new_session()
        holder.handle("mining.subscribe", ["holder/1.0"])
        fp.holder = holder
    return fp.holder


def TestOneInput(data: bytes) -> None:
    """Subscribe a fresh session one to three times with hostile (or literal) params."""
    fp = POOLS.get()
    holder = _holder(fp)
    literal = values.literal_params(data)
    if literal is not None:
        sessions.run_subscribe(fp, [literal], holder)
        return
    fdp = atheris.FuzzedDataProvider(data)
    assert holder.session_id is not None
    known_sids = [holder.session_id, holder.session_id.upper(), *fp.released_sids]
    calls = []
    for _ in range(fdp.ConsumeIntInRange(1, 3)):
        params = values.hostile_params(fdp, 4)
        if len(params) >= 2 and fdp.ConsumeBool():
            params[1] = fdp.PickValueInList(known_sids)
        calls.append(params)
    released = sessions.run_subscribe(fp, calls, holder)
    if released is not None:
        fp.released_sids = [released, *fp.released_sids][:_KEEP_RELEASED]


def main() -> None:
    """Hand the target to libFuzzer."""
    atheris.Setup(sys.argv, TestOneInput)
    atheris.Fuzz()


if __name__ == "__main__":
    main()

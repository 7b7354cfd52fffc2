"""Fuzz target: ``mining.authorize`` with hostile usernames and passwords.

Run: ``python fuzz/fuzz_authorize.py [libFuzzer args] fuzz/corpus/authorize``.
Usernames are mostly real addresses of every network and type with worker suffixes,
sometimes anything at all. Only StratumError may leave the handler; an accepted
username is ADDRESS[.WORKER] with the address valid for the pool's network and the
payout script the address's; a second authorize never changes the address.
"""

from __future__ import annotations

import os
import sys
from typing import Any

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import atheris  # noqa: E402

with atheris.instrument_imports(include=["tbgpool"]):
    from fuzz import harness, sessions, values

harness.watch_logs()
POOLS = {"regtest": harness.PoolCycle("regtest"), "main": harness.PoolCycle("main")}
PASSWORDS = ["x", "", "d=0.001", "d=1000", "diff=5", "d=nan", "d=inf", "d=0", "d=-1",
             "d=1e400", "x,d=2", "x;d=3", "d=" + "9" * 70, "d=0x10", "d=1_000", "d= 2"]


def _username(fdp: Any, network: str) -> Any:
    """A username: an address (mostly of the pool's network) with a suffix, or anything."""
    kind = fdp.ConsumeIntInRange(0, 4)
    if kind <= 1:
        return str(fdp.PickValueInList(values.ADDRESSES[network])) + values.hostile_suffix(fdp)
    if kind == 2:
        address = str(fdp.PickValueInList(values.ALL_ADDRESSES))
        return values.mutate_text(fdp, address) if fdp.ConsumeBool() else address
    if kind == 3:
        return values.hostile_text(fdp)
    return values.hostile_value(fdp)


def _password(fdp: Any) -> Any:
    """A password: the d=DIFF forms miners use, or anything."""
    if fdp.ConsumeBool():
        return str(fdp.PickValueInList(PASSWORDS))
    return values.hostile_value(fdp)


def TestOneInput(data: bytes) -> None:
    """Authorize a fresh session one to three times (once with literal params)."""
    literal = values.literal_params(data)
    if literal is not None:
        sessions.run_authorize(POOLS["regtest"].get(), True, [literal])
        return
    fdp = atheris.FuzzedDataProvider(data)
    network = "main" if fdp.ConsumeBool() else "regtest"
    fp = POOLS[network].get()
    subscribe_first = fdp.ConsumeBool()
    calls: list[list[Any]] = []
    for _ in range(fdp.ConsumeIntInRange(1, 3)):
        if fdp.ConsumeIntInRange(0, 7) == 0:
            calls.append(values.hostile_params(fdp, 4))
        else:
            params = [_username(fdp, network), _password(fdp)]
            calls.append(params[: fdp.ConsumeIntInRange(0, 2)] if fdp.ConsumeBool() else params)
    sessions.run_authorize(fp, subscribe_first, calls)


def main() -> None:
    """Hand the target to libFuzzer."""
    atheris.Setup(sys.argv, TestOneInput)
    atheris.Fuzz()


if __name__ == "__main__":
    main()

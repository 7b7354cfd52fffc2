"""Fuzz target: any bytes from a miner, through a real StratumProtocol attached to a pool.

Run: ``python fuzz/fuzz_jsonrpc_line.py [libFuzzer args] fuzz/corpus/jsonrpc_line``.
Never raises; every line the pool writes is a JSON reply (id, result, error) or a
notification; the output is bounded by the input; a closed connection leaves no session.
An input whose first byte is >= 0x80 is fed in two reads, cut where that byte says.
"""

from __future__ import annotations

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import atheris  # noqa: E402

with atheris.instrument_imports(include=["tbgpool"]):
    from fuzz import harness

harness.watch_logs()
POOLS = harness.PoolCycle("regtest")


def TestOneInput(data: bytes) -> None:
    """Feed one input to a fresh connection and check everything the pool wrote."""
    payload, cut = harness.split_choice(data)
    harness.run_lines(POOLS.get(), payload, cut)


def main() -> None:
    """Hand the target to libFuzzer."""
    atheris.Setup(sys.argv, TestOneInput)
    atheris.Fuzz()


if __name__ == "__main__":
    main()

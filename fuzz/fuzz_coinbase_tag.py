"""Fuzz target: the coinbase-signature validator, with adversarial strings and bytes.

Run: ``python fuzz/fuzz_coinbase_tag.py [libFuzzer args] fuzz/corpus/coinbase_tag``.
Only ValueError may be raised, its message printable ASCII (no echo of control
characters); an accepted tag is 1..73 printable ASCII characters without a leading or
trailing space, returned as exactly those bytes.
"""

from __future__ import annotations

import os
import sys
from typing import Any

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import atheris  # noqa: E402

with atheris.instrument_imports(include=["tbgpool"]):
    from fuzz import values
    from fuzz.primitives import check_tag

def _value(data: bytes) -> Any:
    """The input as bytes, latin-1 text, UTF-8 text (lone surrogates kept), or another type."""
    literal = values.literal_text(data)
    if literal is not None:
        return literal
    fdp = atheris.FuzzedDataProvider(data)
    kind = fdp.ConsumeIntInRange(0, 5)
    if kind == 0:
        return bytes(fdp.ConsumeBytes(fdp.remaining_bytes()))
    if kind == 1:
        return bytes(fdp.ConsumeBytes(fdp.remaining_bytes())).decode("latin-1")
    if kind == 2:
        raw = bytes(fdp.ConsumeBytes(fdp.remaining_bytes()))
        return raw.decode("utf-8", "surrogateescape")
    if kind == 3:
        return str(fdp.ConsumeUnicode(fdp.ConsumeIntInRange(0, 100)))
    if kind == 4:
        return bytearray(fdp.ConsumeBytes(fdp.remaining_bytes()))
    return fdp.PickValueInList([None, 0, 1.5, True, ["tag"], {"tag": 1}, memoryview(b"tag")])


def TestOneInput(data: bytes) -> None:
    """Validate one adversarial value."""
    check_tag(_value(data))


def main() -> None:
    """Hand the target to libFuzzer."""
    atheris.Setup(sys.argv, TestOneInput)
    atheris.Fuzz()


if __name__ == "__main__":
    main()

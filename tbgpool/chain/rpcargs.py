"""JSON-RPC argument handling as Core's RPCHelpMan does it: counts, types, named params, hashes.

Error codes and messages match Core's: a wrong argument count is RPC_MISC_ERROR
(-1) carrying the method's help (ours is abridged to the usage line and a
one-line description), a wrong JSON type is RPC_TYPE_ERROR (-3) with Core's
"Wrong type passed" object, bad hashes are RPC_INVALID_PARAMETER (-8).
"""

from __future__ import annotations

import enum
import json
from collections.abc import Sequence
from dataclasses import dataclass

from tbgpool.chain.serialize import is_hex
from tbgpool.errors import RPCError

RPC_MISC_ERROR = -1
RPC_TYPE_ERROR = -3
RPC_INVALID_ADDRESS_OR_KEY = -5
RPC_INVALID_PARAMETER = -8
RPC_CLIENT_NOT_CONNECTED = -9
RPC_DESERIALIZATION_ERROR = -22
RPC_INVALID_REQUEST = -32600
RPC_METHOD_NOT_FOUND = -32601
RPC_INTERNAL_ERROR = -32603

_INT32_MIN, _INT32_MAX = -(2**31), 2**31 - 1


class ArgType(enum.Enum):
    """The JSON type an argument must have (Core's RPCArg::Type, as far as checked)."""

    STR = "string"
    NUM = "number"
    BOOL = "bool"
    OBJ = "object"
    ARR = "array"


@dataclass(frozen=True)
class Arg:
    """One positional argument: its name(s) ("verbosity|verbose"), type and whether required."""

    names: str
    type: ArgType
    required: bool = False
    skip_type_check: bool = False

    def usage(self) -> str:
        """How Core's help line shows the argument."""
        name = self.names.split("|")[0]
        return f'"{name}"' if self.type is ArgType.STR else name


@dataclass(frozen=True)
class MethodSpec:
    """A method's arguments and the short help returned on a wrong argument count."""

    name: str
    args: tuple[Arg, ...]
    description: str

    def help_text(self) -> str:
        """Usage line plus description, as the start of Core's help for the method."""
        words = [self.name]
        optional = [arg.usage() for arg in self.args if not arg.required]
        words += [arg.usage() for arg in self.args if arg.required]
        if optional:
            words.append("( " + " ".join(optional) + " )")
        return " ".join(words) + "\n\n" + self.description + "\n"


def json_type_name(value: object) -> str:
    """UniValue's name for the JSON type of a decoded value."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list | tuple):
        return "array"
    if isinstance(value, dict):
        return "object"
    return type(value).__name__


def _named_to_positional(spec: MethodSpec, named: dict[object, object]) -> list[object]:
    """Core's transformNamedArguments (without the "args" extension)."""
    remaining = dict(named)
    positional: list[object] = []
    hole = 0
    for arg in spec.args:
        key = next((name for name in arg.names.split("|") if name in remaining), None)
        if key is None:
            hole += 1
            continue
        positional += [None] * hole
        hole = 0
        positional.append(remaining.pop(key))
    if remaining:
        raise RPCError(RPC_INVALID_PARAMETER, f"Unknown named parameter {next(iter(remaining))}")
    return positional


def normalize_params(spec: MethodSpec, params: object) -> list[object]:
    """Positional params checked for count and JSON type; RPCError as Core raises them."""
    if params is None:
        values: list[object] = []
    elif isinstance(params, list | tuple):
        values = list(params)
    elif isinstance(params, dict):
        values = _named_to_positional(spec, params)
    else:
        raise RPCError(RPC_INVALID_REQUEST, "Params must be an array or object")
    required = max((i + 1 for i, arg in enumerate(spec.args) if arg.required), default=0)
    if not required <= len(values) <= len(spec.args):
        raise RPCError(RPC_MISC_ERROR, spec.help_text())
    mismatches: dict[str, str] = {}
    for position, arg in enumerate(spec.args):
        value = values[position] if position < len(values) else None
        if arg.skip_type_check or (value is None and not arg.required):
            continue
        actual = json_type_name(value)
        if actual != arg.type.value:
            mismatches[f"Position {position + 1} ({arg.names})"] = (
                f"JSON value of type {actual} is not of expected type {arg.type.value}"
            )
    if mismatches:
        raise RPCError(RPC_TYPE_ERROR, "Wrong type passed:\n" + json.dumps(mismatches, indent=4))
    return values


def get_int(value: object) -> int:
    """UniValue's getInt<int>: a JSON integer in int32 range."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise RPCError(
            RPC_TYPE_ERROR,
            f"JSON value of type {json_type_name(value)} is not of expected type number",
        )
    if isinstance(value, float) or not _INT32_MIN <= value <= _INT32_MAX:
        raise RPCError(RPC_MISC_ERROR, "JSON integer out of range")
    return value


def get_str(value: object) -> str:
    """UniValue's get_str: the value when it is a JSON string."""
    if not isinstance(value, str):
        raise RPCError(
            RPC_TYPE_ERROR,
            f"JSON value of type {json_type_name(value)} is not of expected type string",
        )
    return value


def parse_hash(value: object, name: str) -> bytes:
    """Core's ParseHashV: a 64-hex-digit RPC hash as internal-order bytes."""
    text = get_str(value)
    if len(text) != 64:
        raise RPCError(
            RPC_INVALID_PARAMETER, f"{name} must be of length 64 (not {len(text)}, for '{text}')"
        )
    if not is_hex(text):
        raise RPCError(RPC_INVALID_PARAMETER, f"{name} must be hexadecimal string (not '{text}')")
    return bytes.fromhex(text)[::-1]


def spec(name: str, description: str, *args: Arg) -> MethodSpec:
    """Shorthand to declare a method."""
    return MethodSpec(name, tuple(args), description)


def positional(values: Sequence[object], index: int) -> object:
    """The argument at ``index``, or None when it was not given."""
    return values[index] if index < len(values) else None

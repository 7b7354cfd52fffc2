"""Script helpers: opcode parsing, BIP34 heights, sigop counts, asm and output types as Core does."""

from __future__ import annotations

import struct
from collections.abc import Iterator

OP_0 = 0x00
OP_PUSHDATA1 = 0x4C
OP_PUSHDATA2 = 0x4D
OP_PUSHDATA4 = 0x4E
OP_1NEGATE = 0x4F
OP_1 = 0x51
OP_16 = 0x60
OP_RETURN = 0x6A
OP_DUP = 0x76
OP_EQUAL = 0x87
OP_EQUALVERIFY = 0x88
OP_HASH160 = 0xA9
OP_CHECKSIG = 0xAC
OP_CHECKSIGVERIFY = 0xAD
OP_CHECKMULTISIG = 0xAE
OP_CHECKMULTISIGVERIFY = 0xAF
OP_TRUE = OP_1

#: Prefix of the BIP141 witness commitment output: OP_RETURN, push 36, 0xaa21a9ed.
WITNESS_COMMITMENT_HEADER = bytes.fromhex("6a24aa21a9ed")
MINIMUM_WITNESS_COMMITMENT = 38
MAX_PUBKEYS_PER_MULTISIG = 20

_OP_NAMES: dict[int, str] = {
    0x00: "0", 0x4C: "OP_PUSHDATA1", 0x4D: "OP_PUSHDATA2", 0x4E: "OP_PUSHDATA4",
    0x4F: "-1", 0x50: "OP_RESERVED",
    0x61: "OP_NOP", 0x62: "OP_VER", 0x63: "OP_IF", 0x64: "OP_NOTIF", 0x65: "OP_VERIF",
    0x66: "OP_VERNOTIF", 0x67: "OP_ELSE", 0x68: "OP_ENDIF", 0x69: "OP_VERIFY", 0x6A: "OP_RETURN",
    0x6B: "OP_TOALTSTACK", 0x6C: "OP_FROMALTSTACK", 0x6D: "OP_2DROP", 0x6E: "OP_2DUP",
    0x6F: "OP_3DUP", 0x70: "OP_2OVER", 0x71: "OP_2ROT", 0x72: "OP_2SWAP", 0x73: "OP_IFDUP",
    0x74: "OP_DEPTH", 0x75: "OP_DROP", 0x76: "OP_DUP", 0x77: "OP_NIP", 0x78: "OP_OVER",
    0x79: "OP_PICK", 0x7A: "OP_ROLL", 0x7B: "OP_ROT", 0x7C: "OP_SWAP", 0x7D: "OP_TUCK",
    0x7E: "OP_CAT", 0x7F: "OP_SUBSTR", 0x80: "OP_LEFT", 0x81: "OP_RIGHT", 0x82: "OP_SIZE",
    0x83: "OP_INVERT", 0x84: "OP_AND", 0x85: "OP_OR", 0x86: "OP_XOR", 0x87: "OP_EQUAL",
    0x88: "OP_EQUALVERIFY", 0x89: "OP_RESERVED1", 0x8A: "OP_RESERVED2", 0x8B: "OP_1ADD",
    0x8C: "OP_1SUB", 0x8D: "OP_2MUL", 0x8E: "OP_2DIV", 0x8F: "OP_NEGATE", 0x90: "OP_ABS",
    0x91: "OP_NOT", 0x92: "OP_0NOTEQUAL", 0x93: "OP_ADD", 0x94: "OP_SUB", 0x95: "OP_MUL",
    0x96: "OP_DIV", 0x97: "OP_MOD", 0x98: "OP_LSHIFT", 0x99: "OP_RSHIFT", 0x9A: "OP_BOOLAND",
    0x9B: "OP_BOOLOR", 0x9C: "OP_NUMEQUAL", 0x9D: "OP_NUMEQUALVERIFY", 0x9E: "OP_NUMNOTEQUAL",
    0x9F: "OP_LESSTHAN", 0xA0: "OP_GREATERTHAN", 0xA1: "OP_LESSTHANOREQUAL",
    0xA2: "OP_GREATERTHANOREQUAL", 0xA3: "OP_MIN", 0xA4: "OP_MAX", 0xA5: "OP_WITHIN",
    0xA6: "OP_RIPEMD160", 0xA7: "OP_SHA1", 0xA8: "OP_SHA256", 0xA9: "OP_HASH160",
    0xAA: "OP_HASH256", 0xAB: "OP_CODESEPARATOR", 0xAC: "OP_CHECKSIG",
    0xAD: "OP_CHECKSIGVERIFY", 0xAE: "OP_CHECKMULTISIG", 0xAF: "OP_CHECKMULTISIGVERIFY",
    0xB0: "OP_NOP1", 0xB1: "OP_CHECKLOCKTIMEVERIFY", 0xB2: "OP_CHECKSEQUENCEVERIFY",
    0xB3: "OP_NOP4", 0xB4: "OP_NOP5", 0xB5: "OP_NOP6", 0xB6: "OP_NOP7", 0xB7: "OP_NOP8",
    0xB8: "OP_NOP9", 0xB9: "OP_NOP10", 0xBA: "OP_CHECKSIGADD", 0xFF: "OP_INVALIDOPCODE",
}  # fmt: skip
_OP_NAMES.update({op: str(op - OP_1 + 1) for op in range(OP_1, OP_16 + 1)})

_SIGHASH_NAMES = {
    0x01: "ALL", 0x81: "ALL|ANYONECANPAY", 0x02: "NONE", 0x82: "NONE|ANYONECANPAY",
    0x03: "SINGLE", 0x83: "SINGLE|ANYONECANPAY",
}  # fmt: skip


class ScriptParseError(ValueError):
    """A push runs past the end of the script."""


def iter_ops(script: bytes) -> Iterator[tuple[int, bytes | None]]:
    """Yield ``(opcode, pushed data or None)``; ScriptParseError on a truncated push (Core's GetOp)."""
    pc = 0
    end = len(script)
    while pc < end:
        opcode = script[pc]
        pc += 1
        if opcode > OP_PUSHDATA4:
            yield opcode, None
            continue
        if opcode < OP_PUSHDATA1:
            size = opcode
        else:
            width = {OP_PUSHDATA1: 1, OP_PUSHDATA2: 2, OP_PUSHDATA4: 4}[opcode]
            if end - pc < width:
                raise ScriptParseError("truncated push length")
            size = int.from_bytes(script[pc : pc + width], "little")
            pc += width
        if end - pc < size:
            raise ScriptParseError("push past the end of the script")
        yield opcode, script[pc : pc + size]
        pc += size


def push_data(data: bytes) -> bytes:
    """The smallest CScript push of ``data`` (Core's ``CScript << vector``)."""
    n = len(data)
    if n < OP_PUSHDATA1:
        return bytes([n]) + data
    if n <= 0xFF:
        return bytes([OP_PUSHDATA1, n]) + data
    if n <= 0xFFFF:
        return bytes([OP_PUSHDATA2]) + struct.pack("<H", n) + data
    return bytes([OP_PUSHDATA4]) + struct.pack("<I", n) + data


def script_num_encode(value: int) -> bytes:
    """Minimal CScriptNum serialization (little-endian, sign bit in the top byte)."""
    if value == 0:
        return b""
    negative = value < 0
    magnitude = -value if negative else value
    out = bytearray()
    while magnitude:
        out.append(magnitude & 0xFF)
        magnitude >>= 8
    if out[-1] & 0x80:
        out.append(0x80 if negative else 0x00)
    elif negative:
        out[-1] |= 0x80
    return bytes(out)


def script_num_decode(data: bytes) -> int:
    """Decode a CScriptNum without minimality checks (as asm output does)."""
    if not data:
        return 0
    value = int.from_bytes(data, "little")
    if data[-1] & 0x80:
        return -(value & ~(0x80 << (8 * (len(data) - 1))))
    return value


def push_int(value: int) -> bytes:
    """Core's ``CScript << int64``: OP_0, OP_1NEGATE, OP_1..OP_16, or a minimal number push."""
    if value == 0:
        return bytes([OP_0])
    if value == -1 or 1 <= value <= 16:
        return bytes([value + (OP_1 - 1)])
    return push_data(script_num_encode(value))


def bip34_height_script(height: int) -> bytes:
    """What a coinbase scriptSig must start with at ``height`` (heights 1..16 are OP_1..OP_16)."""
    if height < 0:
        raise ValueError("height cannot be negative")
    return push_int(height)


def legacy_sigop_count(script: bytes) -> int:
    """Core's inaccurate ``GetSigOpCount(false)``: multisig counts 20; stops at a bad push."""
    count = 0
    try:
        for opcode, _ in iter_ops(script):
            if opcode in (OP_CHECKSIG, OP_CHECKSIGVERIFY):
                count += 1
            elif opcode in (OP_CHECKMULTISIG, OP_CHECKMULTISIGVERIFY):
                count += MAX_PUBKEYS_PER_MULTISIG
    except ScriptParseError:
        pass  # Core stops counting at the first unparsable op.
    return count


def is_push_only(script: bytes) -> bool:
    """Core's IsPushOnly: every op is a push or a small-number opcode (up to OP_16)."""
    try:
        return all(opcode <= OP_16 for opcode, _ in iter_ops(script))
    except ScriptParseError:
        return False


def is_unspendable(script: bytes) -> bool:
    """Core's IsUnspendable: starts with OP_RETURN or is longer than 10,000 bytes."""
    return (len(script) > 0 and script[0] == OP_RETURN) or len(script) > 10_000


def witness_program(script: bytes) -> tuple[int, bytes] | None:
    """``(version, program)`` when the script is a segwit output, else None."""
    if not 4 <= len(script) <= 42:
        return None
    if script[0] != OP_0 and not OP_1 <= script[0] <= OP_16:
        return None
    if script[1] + 2 != len(script):
        return None
    version = 0 if script[0] == OP_0 else script[0] - OP_1 + 1
    return version, script[2:]


def _is_pubkey(data: bytes) -> bool:
    if len(data) == 33:
        return data[0] in (0x02, 0x03)
    if len(data) == 65:
        return data[0] in (0x04, 0x06, 0x07)
    return False


def output_type(script: bytes) -> str:
    """Core's Solver type name for an output script (``pubkeyhash``, ``witness_v0_keyhash``...)."""
    if len(script) == 23 and script[0] == OP_HASH160 and script[1] == 20 and script[22] == OP_EQUAL:
        return "scripthash"
    program = witness_program(script)
    if program is not None:
        version, prog = program
        if version == 0 and len(prog) == 20:
            return "witness_v0_keyhash"
        if version == 0 and len(prog) == 32:
            return "witness_v0_scripthash"
        if version == 1 and len(prog) == 32:
            return "witness_v1_taproot"
        return "witness_unknown" if version != 0 else "nonstandard"
    if script[:1] == bytes([OP_RETURN]) and is_push_only(script[1:]):
        return "nulldata"
    if (
        script
        and script[-1] == OP_CHECKSIG
        and len(script) in (35, 67)
        and script[0] == len(script) - 2
    ):
        if _is_pubkey(script[1:-1]):
            return "pubkey"
    if (
        len(script) == 25
        and script[:3] == bytes([OP_DUP, OP_HASH160, 20])
        and script[23:] == bytes([OP_EQUALVERIFY, OP_CHECKSIG])
    ):
        return "pubkeyhash"
    if _is_multisig(script):
        return "multisig"
    return "nonstandard"


def _is_multisig(script: bytes) -> bool:
    try:
        ops = list(iter_ops(script))
    except ScriptParseError:
        return False
    if len(ops) < 4 or ops[-1][0] != OP_CHECKMULTISIG:
        return False
    first, last = ops[0][0], ops[-2][0]
    if not (OP_1 <= first <= OP_16 and OP_1 <= last <= OP_16):
        return False
    required, total = first - OP_1 + 1, last - OP_1 + 1
    keys = ops[1:-2]
    if len(keys) != total or required > total:
        return False
    return all(data is not None and _is_pubkey(data) for _, data in keys)


def _is_valid_der_signature(sig: bytes) -> bool:
    """BIP66 strict DER encoding, including the trailing hash-type byte."""
    if not 9 <= len(sig) <= 73 or sig[0] != 0x30 or sig[1] != len(sig) - 3:
        return False
    len_r = sig[3]
    if 5 + len_r >= len(sig):
        return False
    len_s = sig[5 + len_r]
    if len_r + len_s + 7 != len(sig) or sig[2] != 0x02 or len_r == 0 or sig[4] & 0x80:
        return False
    if len_r > 1 and sig[4] == 0x00 and not sig[5] & 0x80:
        return False
    if sig[len_r + 4] != 0x02 or len_s == 0 or sig[len_r + 6] & 0x80:
        return False
    return not (len_s > 1 and sig[len_r + 6] == 0x00 and not sig[len_r + 7] & 0x80)


def script_to_asm(script: bytes, decode_sighash: bool = False) -> str:
    """Core's ScriptToAsmStr; with ``decode_sighash`` signatures end in ``[ALL]`` etc."""
    words: list[str] = []
    unspendable = is_unspendable(script)
    try:
        for opcode, data in iter_ops(script):
            if data is None:
                words.append(_OP_NAMES.get(opcode, "OP_UNKNOWN"))
            elif len(data) <= 4:
                words.append(str(script_num_decode(data)))
            elif decode_sighash and not unspendable and _is_valid_der_signature(data):
                name = _SIGHASH_NAMES.get(data[-1])
                words.append(data[:-1].hex() + f"[{name}]" if name else data.hex())
            else:
                words.append(data.hex())
    except ScriptParseError:
        words.append("[error]")
    return " ".join(words)


def witness_commitment_index(coinbase_outputs: tuple[bytes, ...] | list[bytes]) -> int | None:
    """Core's GetWitnessCommitmentIndex: the LAST output carrying a commitment, or None."""
    position = None
    for index, script in enumerate(coinbase_outputs):
        if len(script) >= MINIMUM_WITNESS_COMMITMENT and script[:6] == WITNESS_COMMITMENT_HEADER:
            position = index
    return position

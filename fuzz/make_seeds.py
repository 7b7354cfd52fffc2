"""Write the seed corpora in ``fuzz/corpus/<target>/``: real Stratum traffic, addresses, hostile bytes.

Run from the repository root: ``.venv/bin/python fuzz/make_seeds.py``. The lines are
what cgminer, Bitaxe (ESP-Miner), NerdMiner, Antminer, Whatsminer, NiceHash and
bfgminer send (see the miners-in-the-wild notes), plus things that are not Stratum
at all. Seeds for the data-provider targets use the literal form (``=`` + value).
"""

from __future__ import annotations

import hashlib
import json
import sys
from collections.abc import Sequence
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from fuzz.values import ADDRESSES, ALL_ADDRESSES  # noqa: E402

CORPUS = Path(__file__).resolve().parent / "corpus"
REGTEST = ADDRESSES["regtest"][2]  # a P2WPKH regtest address
MAINNET = "bc1qw508d6qejxtdg4y5r3zarvary0c5xw7kv8f3t4"


def line(obj: object) -> bytes:
    """One JSON-RPC line as most firmware writes it (with spaces)."""
    return json.dumps(obj).encode() + b"\n"


def req(request_id: object, method: str, params: Sequence[object]) -> bytes:
    """A request line."""
    return line({"id": request_id, "method": method, "params": params})


def submit(user: str, version_bits: str | None = None) -> bytes:
    """A submit for the first job of a fresh pool (job ids start at 1)."""
    params = [user, "2", "0000000000000000", "6553f100", "2f0a1b3c"]
    if version_bits is not None:
        params.append(version_bits)
    return req(4, "mining.submit", params)


# A TLS 1.2 ClientHello record start (a miner pointed at the TLS port's plain twin).
CLIENT_HELLO = bytes.fromhex(
    "16030100a5010000a10303" + "5a" * 32 + "000020c02bc02fc02cc030cca9cca8c013c014009c009d"
    "002f0035000a010000580000000e000c0000096c6f63616c686f7374000b000403000102000a000a0008"
    "001d001700180019000d0018001604030503060308040805080604010501060102030201"
)

LINES: dict[str, bytes] = {
    "cgminer": req(0, "mining.subscribe", ["cgminer/4.11.1"])
    + req(1, "mining.extranonce.subscribe", [])
    + req(2, "mining.authorize", [f"{REGTEST}.cgminer", "x"])
    + submit(f"{REGTEST}.cgminer"),
    "cgminer_resume": req(0, "mining.subscribe", ["cgminer/4.11.1", "00000001"])
    + req(2, "mining.authorize", [f"{REGTEST}.rig", "x"]),
    "bitaxe": req(1, "mining.configure",
                  [["version-rolling"], {"version-rolling.mask": "ffffffff"}])
    + req(2, "mining.subscribe", ["bitaxe/BM1366/v2.4.1"])
    + req(3, "mining.authorize", [f"{REGTEST}.bitaxe", "x"])
    + req(4, "mining.suggest_difficulty", [1000])
    + submit(f"{REGTEST}.bitaxe", "00002000"),
    "bitaxe_old_order": req(1, "mining.subscribe", ["bitaxe/BM1397/v2.0.0"])
    + req(2, "mining.suggest_difficulty", [512])
    + req(3, "mining.configure", [["version-rolling"], {"version-rolling.mask": "ffffffff"}])
    + req(4, "mining.authorize", [f"{REGTEST}.bitaxe", "x"]),
    "bitaxe_short_extranonce2": req(2, "mining.subscribe", ["bitaxe/BM1366/v2.3.0"])
    + req(3, "mining.authorize", [f"{REGTEST}.bitaxe", "x"])
    + req(5, "mining.submit", [f"{REGTEST}.bitaxe", "2", "00000000", "6553f100", "00c0ffee"]),
    "nerdminer": req(1, "mining.subscribe", ["NerdMinerV2/1.6.3"])
    + req(2, "mining.authorize", [f"{REGTEST}.nerd", "x"])
    + req(3, "mining.suggest_difficulty", [0.00015]),
    "antminer": line({"method": "mining.configure", "id": 1, "params": [
        ["version-rolling"],
        {"version-rolling.mask": "1fffe000", "version-rolling.min-bit-count": 2}]})
    + req(2, "mining.subscribe", ["Antminer S19j Pro/Thu May 25 11:27:29 CST 2023"])
    + req(3, "mining.authorize", [f"{REGTEST}.s19", "123"])
    + req(4, "mining.multi_version", [1]),
    "antminer_s9": req(1, "mining.multi_version", [1])
    + req(2, "mining.subscribe", ["Antminer S9/Mon Jan 15 10:00:00 CST 2018", "0000000a"])
    + req(3, "mining.authorize", [f"{REGTEST}_s9", "x"]),
    "whatsminer": req(1, "mining.subscribe", ["whatsminer/v1.1"])
    + req(2, "mining.authorize", [f"{REGTEST}.m30s", "x"])
    + req(3, "mining.configure", [["version-rolling", "minimum-difficulty"],
                                  {"version-rolling.mask": "1fffe000",
                                   "minimum-difficulty.value": 2048}]),
    "nicehash": req(1, "mining.subscribe", ["NiceHash/1.0.0"])
    + req(2, "mining.extranonce.subscribe", [])
    + req(3, "mining.authorize", [f"{REGTEST}.nh", "d=500000"]),
    "bfgminer": req("xnsub", "mining.extranonce.subscribe", [])
    + req("subscribe", "mining.subscribe", ["bfgminer/5.5.0"])
    + req("suggest", "mining.suggest_target", ["00000000ffff" + "0" * 52])
    + req("auth", "mining.authorize", [f"{REGTEST}.bfg", "x"]),
    "compact_crlf": (
        b'{"id":1,"method":"mining.subscribe","params":[]}\r\n'
        b'{"id":2,"method":"mining.authorize","params":["' + REGTEST.encode() + b'","x"]}\r\n'
    ),
    "miner_answer": b'{"id":7,"result":true,"error":null}\n',
    "mainnet_address_on_regtest": req(1, "mining.subscribe", [])
    + req(2, "mining.authorize", [f"{MAINNET}.w", "x"]),
    "http_get": b"GET / HTTP/1.1\r\nHost: pool.example\r\nUser-Agent: curl/8.5.0\r\n\r\n",
    "tls_client_hello": CLIENT_HELLO,
    "proxy_v1": b"PROXY TCP4 192.0.2.1 192.0.2.2 40000 3333\r\n"
    + req(1, "mining.subscribe", []),
    "deep_nesting": b'{"id":' + b"[" * 2000 + b"]" * 2000 + b',"method":"mining.subscribe"}\n',
    "deep_params": b'{"id":1,"method":"mining.submit","params":' + b"[" * 950 + b"]" * 950 + b"}\n",
    "nan": b'{"id":NaN,"method":"mining.suggest_difficulty","params":[NaN]}\n'
    b'{"id":Infinity,"method":"mining.suggest_difficulty","params":[-Infinity]}\n',
    "huge_int": b'{"id":' + b"9" * 4400 + b',"method":"mining.subscribe","params":[]}\n'
    b'{"id":1,"method":"mining.suggest_difficulty","params":[' + b"9" * 400 + b"]}\n",
    "surrogates": b'{"id":"\\ud800","method":"mining.subscribe","params":["\\udfff\\u0000\\u202e"]}\n',
    "bom_and_nul": b"\xef\xbb\xbf" + req(1, "mining.subscribe", []) + b"\x00\n\n\n",
    "not_an_object": b'[1,2,3]\n"mining.subscribe"\nnull\n42\n',
    "params_object": b'{"id":1,"method":"mining.subscribe","params":{"agent":"x"}}\n',
    "duplicate_keys": b'{"id":1,"id":2,"method":"x","method":"mining.subscribe","params":[]}\n',
    "long_line": b'{"id":1,"method":"mining.subscribe","params":["' + b"A" * 17000 + b'"]}\n',
    "del_id": b'{"id":"' + b"\x7f" * 64 + b'","method":"mining.nothing","params":[]}\n',
}

SUBSCRIBE = {
    "cgminer": ["cgminer/4.11.1"],
    "cgminer_resume": ["cgminer/4.11.1", "00000001"],
    "bitaxe": ["bitaxe/BM1366/v2.4.1"],
    "nerdminer": ["NerdMinerV2/1.6.3", None],
    "antminer": ["Antminer S19j Pro/Thu May 25 11:27:29 CST 2023", "0000000a"],
    "whatsminer": ["whatsminer/v1.1"],
    "nicehash": ["NiceHash/1.0.0", "EthereumStratum/1.0.0"],
    "empty": [],
    "control_chars": ["\x1b[31mred\x1b[0m\n\r\t", "zz"],
    "surrogate": ["\ud800\udfff", "\ud800"],
    "long_agent": ["A" * 300, "0" * 100],
    "non_string": [12345, {"a": 1}, [1, 2]],
}

AUTHORIZE = {
    "cgminer": [f"{REGTEST}.cgminer", "x"],
    "bitaxe": [f"{REGTEST}.bitaxe", "x"],
    "underscore_worker": [f"{REGTEST}_s9", "x"],
    "no_worker": [REGTEST, "x"],
    "nicehash_diff": [f"{REGTEST}.nh", "d=500000"],
    "password_diff": [f"{REGTEST}.a", "x,d=0.001"],
    "mainnet_on_regtest": [f"{MAINNET}.w", "x"],
    "bad_worker": [f"{REGTEST}.we ird\n", "x"],
    "long_worker": [f"{REGTEST}." + "w" * 129, "x"],
    "dots": [f"{REGTEST}..", "x"],
    "only_worker": [".worker", "x"],
    "empty": [],
    "nan_password": [REGTEST, float("nan")],
    "number_user": [12345, "x"],
    "wif": ["5HueCGU8rMjxEXxiPuD5BDku4MkFqeZyd4dZ1jvhTVqvbTLvyTJ", "x"],
}

SUBMIT = {
    "five": [f"{ADDRESSES['regtest'][0]}", "2", "0000000000000000", "6553f100", "2f0a1b3c"],
    "six": [f"{ADDRESSES['regtest'][0]}", "2", "0000000000000000", "6553f100", "2f0a1b3c",
            "00002000"],
    "short_extranonce2": [f"{ADDRESSES['regtest'][0]}", "2", "00000000", "6553f100", "2f0a1b3c"],
    "prefixed": [f"{ADDRESSES['regtest'][0]}", "0x2", "0x00000000000000", "+553f100", " f0a1b3c"],
    "numbers": [f"{ADDRESSES['regtest'][0]}", 2, 0, 1700000000, 12345],
    "unknown_worker": ["someone.else", "2", "0000000000000000", "6553f100", "2f0a1b3c"],
    "stale_job": [f"{ADDRESSES['regtest'][0]}", "1", "0000000000000000", "6553f100", "2f0a1b3c"],
    "seven": [f"{ADDRESSES['regtest'][0]}", "2", "00", "00", "00", "00", "00"],
}

COINBASE_TAGS = [
    "tbgpool", "Mined by alice", "/solo/", "A" * 73, "A" * 74, "", " lead", "trail ", "tab\there",
    "new\nline", "del\x7f", "caf\u00e9", "emoji \U0001f600", "\ud800", "esc \x1b[2J",
    "quote\"'`$(rm -rf /)", "${jndi:ldap://x}", "%s%n{0}", "<script>alert(1)</script>",
]


def write(target: str, name: str, data: bytes) -> None:
    """Write one seed file."""
    directory = CORPUS / target
    directory.mkdir(parents=True, exist_ok=True)
    (directory / name).write_bytes(data)


def literal(value: object) -> bytes:
    """The literal form of a params list (``=`` + JSON)."""
    return b"=" + json.dumps(value).encode()


def main() -> None:
    """Write every corpus."""
    for name, data in LINES.items():
        write("jsonrpc_line", name, data)
    for name, params in SUBSCRIBE.items():
        write("subscribe", name, literal(params))
    for name, params in AUTHORIZE.items():
        write("authorize", name, literal(params))
    for name, params in SUBMIT.items():
        write("submit", name, literal(params))
    for address in ALL_ADDRESSES:
        write("address", hashlib.sha1(address.encode()).hexdigest()[:12], b"=" + address.encode())
    hostile_addresses = [
        "", "1", "bc1", "BC1QW508D6QEJXTDG4Y5R3ZARVARY0C5XW7KV8F3T4".lower()[:-1] + "5",
        "bc1qW508d6qejxtdg4y5r3zarvary0c5xw7kv8f3t4", "tb1" + "q" * 87,
        "5HueCGU8rMjxEXxiPuD5BDku4MkFqeZyd4dZ1jvhTVqvbTLvyTJ", "1" * 90, "0OIl", "bc1\x00",
    ]
    for i, address in enumerate(hostile_addresses):
        write("address", f"hostile_{i}", b"=" + address.encode("utf-8", "surrogatepass"))
    for i, tag in enumerate(COINBASE_TAGS):
        write("coinbase_tag", f"tag_{i}", b"=" + tag.encode("utf-8", "surrogatepass"))
    for name, data in {"empty": b"", "abc": b"abc", "block": b"a" * 64, "two": b"b" * 119}.items():
        write("sha256", name, b"=" + data)


if __name__ == "__main__":
    main()

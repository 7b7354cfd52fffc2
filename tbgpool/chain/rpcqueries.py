"""The read-only RPC methods of the embedded chain (blockchain, mining and network info)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from tbgpool.chain.chainstate import ChainState
from tbgpool.chain.pow import bits_to_difficulty
from tbgpool.chain.rpcargs import (
    RPC_INVALID_ADDRESS_OR_KEY,
    RPC_INVALID_PARAMETER,
    RPC_MISC_ERROR,
    Arg,
    ArgType,
    MethodSpec,
    get_int,
    parse_hash,
    positional,
    spec,
)
from tbgpool.chain.views import block_to_json, header_to_json
from tbgpool.errors import RPCError

PROTOCOL_VERSION = 70016
CLIENT_VERSION = 270000
SUBVERSION = "/tbgpool-embedded:0.1/"

Handler = Callable[[ChainState, list[object]], Any]

GETBESTBLOCKHASH = spec(
    "getbestblockhash",
    "Returns the hash of the best (tip) block in the most-work fully-validated chain.",
)
GETBLOCKCOUNT = spec("getblockcount", "Returns the height of the most-work fully-validated chain.")
GETBLOCKHASH = spec(
    "getblockhash",
    "Returns hash of block in best-block-chain at height provided.",
    Arg("height", ArgType.NUM, required=True),
)
GETBLOCKHEADER = spec(
    "getblockheader",
    "If verbose is false, returns a string that is serialized, hex-encoded data for blockheader 'hash'.\n"
    "If verbose is true, returns an Object with information about blockheader <hash>.",
    Arg("blockhash", ArgType.STR, required=True),
    Arg("verbose", ArgType.BOOL),
)
GETBLOCK = spec(
    "getblock",
    "If verbosity is 0, returns a string that is serialized, hex-encoded data for block 'hash'.\n"
    "If verbosity is 1, returns an Object with information about block <hash>.\n"
    "If verbosity is 2, returns an Object with information about block <hash> and information about each transaction.",
    Arg("blockhash", ArgType.STR, required=True),
    Arg("verbosity|verbose", ArgType.NUM, skip_type_check=True),
)
GETBLOCKCHAININFO = spec(
    "getblockchaininfo",
    "Returns an object containing various state info regarding blockchain processing.",
)
GETMININGINFO = spec(
    "getmininginfo", "Returns a json object containing mining-related information."
)
GETNETWORKHASHPS = spec(
    "getnetworkhashps",
    "Returns the estimated network hashes per second based on the last n blocks.",
    Arg("nblocks", ArgType.NUM),
    Arg("height", ArgType.NUM),
)
GETNETWORKINFO = spec(
    "getnetworkinfo", "Returns an object containing various state info regarding P2P networking."
)
GETDIFFICULTY = spec(
    "getdifficulty", "Returns the proof-of-work difficulty as a multiple of the minimum difficulty."
)


def getbestblockhash(chain: ChainState, args: list[object]) -> str:
    """The tip's hash."""
    return chain.tip.display_hash


def getblockcount(chain: ChainState, args: list[object]) -> int:
    """The tip's height."""
    return chain.tip.height


def getblockhash(chain: ChainState, args: list[object]) -> str:
    """Hash of the active chain's block at a height; -8 when out of range."""
    record = chain.at_height(get_int(args[0]))
    if record is None:
        raise RPCError(RPC_INVALID_PARAMETER, "Block height out of range")
    return record.display_hash


def getblockheader(chain: ChainState, args: list[object]) -> Any:
    """A header as JSON, or as hex when verbose is false; -5 when unknown."""
    record = chain.lookup(parse_hash(args[0], "hash"))
    if record is None:
        raise RPCError(RPC_INVALID_ADDRESS_OR_KEY, "Block not found")
    if positional(args, 1) is False:
        return record.header.serialize().hex()
    return header_to_json(chain, record)


def getblock(chain: ChainState, args: list[object]) -> Any:
    """A block as hex (verbosity 0), with txids (1) or decoded transactions (2, 3)."""
    block_hash = parse_hash(args[0], "blockhash")
    raw_verbosity = positional(args, 1)
    if raw_verbosity is None:
        verbosity = 1
    elif isinstance(raw_verbosity, bool):
        verbosity = int(raw_verbosity)
    else:
        verbosity = get_int(raw_verbosity)
    record = chain.lookup(block_hash)
    if record is None:
        raise RPCError(RPC_INVALID_ADDRESS_OR_KEY, "Block not found")
    if record.block is None:
        raise RPCError(RPC_MISC_ERROR, "Block not available (not fully downloaded)")
    if verbosity <= 0:
        return record.block.serialize().hex()
    return block_to_json(chain, record, record.block, verbosity)


def getblockchaininfo(chain: ChainState, args: list[object]) -> dict[str, Any]:
    """Chain name, heights, tip, difficulty and the other fields Core v27 reports."""
    tip = chain.tip
    return {
        "chain": chain.params.name,
        "blocks": tip.height,
        "headers": chain.best_header.height,
        "bestblockhash": tip.display_hash,
        "difficulty": bits_to_difficulty(tip.header.bits),
        "time": tip.header.time,
        "mediantime": tip.median_time_past,
        "verificationprogress": 1.0,
        "initialblockdownload": False,
        "chainwork": f"{tip.chainwork:064x}",
        "size_on_disk": chain.stored_size_bytes(),
        "pruned": False,
        "warnings": "",
    }


def getnetworkhashps(chain: ChainState, args: list[object]) -> float | int:
    """Core's hash-rate estimate over the last ``nblocks`` blocks (default 120)."""
    nblocks = 120 if positional(args, 0) is None else get_int(args[0])
    height = -1 if positional(args, 1) is None else get_int(args[1])
    if nblocks < -1 or nblocks == 0:
        raise RPCError(RPC_INVALID_PARAMETER, "Invalid nblocks. Must be a positive number or -1.")
    if height < -1 or height > chain.tip.height:
        raise RPCError(RPC_INVALID_PARAMETER, "Block does not exist at specified height")
    return chain.network_hashes_per_second(nblocks, height)


def mininginfo(chain: ChainState, last_assembly: tuple[int, int] | None) -> dict[str, Any]:
    """getmininginfo's result; ``last_assembly`` is (block weight, tx count) of the last template."""
    result: dict[str, Any] = {"blocks": chain.tip.height}
    if last_assembly is not None:
        result["currentblockweight"], result["currentblocktx"] = last_assembly
    result.update(
        {
            "difficulty": bits_to_difficulty(chain.tip.header.bits),
            "networkhashps": chain.network_hashes_per_second(120, -1),
            "pooledtx": len(chain.mempool),
            "chain": chain.params.name,
            "warnings": "",
        }
    )
    return result


def getnetworkinfo(chain: ChainState, args: list[object]) -> dict[str, Any]:
    """A node with no peers: Core v27's getnetworkinfo shape with our version strings."""
    networks = [
        {"name": name, "limited": name in ("onion", "i2p", "cjdns"), "reachable": name in ("ipv4", "ipv6"),
         "proxy": "", "proxy_randomize_credentials": False}
        for name in ("ipv4", "ipv6", "onion", "i2p", "cjdns")
    ]  # fmt: skip
    return {
        "version": CLIENT_VERSION,
        "subversion": SUBVERSION,
        "protocolversion": PROTOCOL_VERSION,
        "localservices": "0000000000000c09",
        "localservicesnames": ["NETWORK", "WITNESS", "NETWORK_LIMITED", "P2P_V2"],
        "localrelay": True,
        "timeoffset": 0,
        "networkactive": True,
        "connections": 0,
        "connections_in": 0,
        "connections_out": 0,
        "networks": networks,
        "relayfee": 0.00001,
        "incrementalfee": 0.00001,
        "localaddresses": [],
        "warnings": "",
    }


def getdifficulty(chain: ChainState, args: list[object]) -> float:
    """The tip's difficulty."""
    return bits_to_difficulty(chain.tip.header.bits)


QUERIES: dict[str, tuple[MethodSpec, Handler]] = {
    s.name: (s, handler)
    for s, handler in (
        (GETBESTBLOCKHASH, getbestblockhash),
        (GETBLOCKCOUNT, getblockcount),
        (GETBLOCKHASH, getblockhash),
        (GETBLOCKHEADER, getblockheader),
        (GETBLOCK, getblock),
        (GETBLOCKCHAININFO, getblockchaininfo),
        (GETNETWORKHASHPS, getnetworkhashps),
        (GETNETWORKINFO, getnetworkinfo),
        (GETDIFFICULTY, getdifficulty),
    )
}

"""Chain parameters of the embedded chain: consensus constants, subsidy schedule, genesis.

Only ``regtest`` is faithful: it starts from the real regtest genesis block and
uses regtest's 150-block halving. The other network names ("main", "test",
"testnet4", "signet") exist so that the pool can be exercised with those names
(``getblockchaininfo.chain``); they get a genesis block of our own making, the
210,000-block halving, and otherwise regtest's rules (every soft fork active
from height 1, no retargeting, difficulty as configured).
"""

from __future__ import annotations

from dataclasses import dataclass

from tbgpool.chain.pow import REGTEST_BITS, REGTEST_POW_LIMIT, check_proof_of_work
from tbgpool.chain.primitives import (
    NULL_HASH,
    NULL_INDEX,
    Block,
    BlockHeader,
    OutPoint,
    Transaction,
    TxIn,
    TxOut,
    block_merkle_root,
)
from tbgpool.chain.script import push_data

COIN = 100_000_000
MAX_MONEY = 21_000_000 * COIN
INITIAL_SUBSIDY = 50 * COIN
MAX_BLOCK_WEIGHT = 4_000_000
MAX_BLOCK_SERIALIZED_SIZE = 4_000_000
MAX_BLOCK_SIGOPS_COST = 80_000
#: Weight Core's block assembler keeps free for the coinbase and header.
COINBASE_RESERVED_WEIGHT = 4_000
MAX_FUTURE_BLOCK_TIME_S = 2 * 60 * 60
MEDIAN_TIME_SPAN = 11
LOCKTIME_THRESHOLD = 500_000_000
SEQUENCE_FINAL = 0xFFFFFFFF

NETWORKS = ("regtest", "main", "test", "testnet4", "signet")

REGTEST_GENESIS_HASH = "0f9188f13cb7b2c71f2a335e3a4fc328bf5beb436012afca590b1a11466e2206"

_GENESIS_TIME = 1296688602
_SATOSHI_TIMESTAMP = b"The Times 03/Jan/2009 Chancellor on brink of second bailout for banks"
_SATOSHI_PUBKEY = bytes.fromhex(
    "04678afdb0fe5548271967f1a67130b7105cd6a828e03909a67962e0ea1f61deb649f6bc3f4cef38c4f35504e51ec112de5c384df7ba0b8d578a4c702b6bf11d5f"
)


@dataclass(frozen=True)
class ChainParams:
    """What differs between the networks the embedded chain can pretend to be."""

    name: str  #: as getblockchaininfo's "chain" reports it
    subsidy_halving_interval: int
    pow_limit: int
    genesis: Block


def block_subsidy(height: int, halving_interval: int) -> int:
    """Core's GetBlockSubsidy: 50 BTC halved every ``halving_interval`` blocks, 0 after 64 halvings."""
    halvings = height // halving_interval
    if halvings >= 64:
        return 0
    return INITIAL_SUBSIDY >> halvings


def _genesis_block(script_sig: bytes, nonce: int | None) -> Block:
    coinbase = Transaction(
        version=1,
        inputs=(TxIn(OutPoint(NULL_HASH, NULL_INDEX), script_sig, SEQUENCE_FINAL),),
        outputs=(TxOut(INITIAL_SUBSIDY, push_data(_SATOSHI_PUBKEY) + b"\xac"),),
        lock_time=0,
    )
    root, _ = block_merkle_root([coinbase])
    header = BlockHeader(1, NULL_HASH, root, _GENESIS_TIME, REGTEST_BITS, nonce or 0)
    if nonce is None:
        # Our own genesis blocks are ground here; at regtest difficulty that takes a try or two.
        while not check_proof_of_work(header.hash(), REGTEST_BITS, REGTEST_POW_LIMIT):
            header = BlockHeader(1, NULL_HASH, root, _GENESIS_TIME, REGTEST_BITS, header.nonce + 1)
    return Block(header, (coinbase,))


def regtest_genesis() -> Block:
    """Bitcoin Core's regtest genesis block, built from its parts."""
    script_sig = bytes.fromhex("04ffff001d0104") + push_data(_SATOSHI_TIMESTAMP)
    return _genesis_block(script_sig, nonce=2)


def chain_params(network: str) -> ChainParams:
    """Parameters for ``network``; ValueError for a name getblockchaininfo never reports."""
    if network == "regtest":
        return ChainParams("regtest", 150, REGTEST_POW_LIMIT, regtest_genesis())
    if network in NETWORKS:
        tag = b"tbgpool embedded chain: " + network.encode("ascii")
        genesis = _genesis_block(push_data(tag), nonce=None)
        return ChainParams(network, 210_000, REGTEST_POW_LIMIT, genesis)
    raise ValueError(f"unknown network {network!r}; expected one of {', '.join(NETWORKS)}")

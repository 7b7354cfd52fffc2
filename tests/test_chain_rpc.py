"""The embedded chain's RPC surface: IBitcoinRPC, parameter checks, and the query methods."""

from __future__ import annotations

import json
from typing import Any

from bitcoin.core import CBlock, b2lx
from twisted.trial.unittest import SynchronousTestCase
from zope.interface.verify import verifyObject

from tbgpool.interfaces import IBitcoinRPC
from tests.test_chain_blockbuilder import (
    NOW,
    PAYOUT_SCRIPT,
    REGTEST_GENESIS,
    BlockSpec,
    block_hash,
    build_block,
    gbt_txs,
    new_chain,
    rpc,
    rpc_error,
    submit,
    template,
)

REGTEST_DIFFICULTY = 4.656542373906925e-10


def wrong_type(position: int, name: str, actual: str, expected: str) -> str:
    """Core's "Wrong type passed" message for one argument."""
    return (
        f'Wrong type passed:\n{{\n    "Position {position} ({name})": '
        f'"JSON value of type {actual} is not of expected type {expected}"\n}}'
    )


class RPCTestCase(SynchronousTestCase):
    """A chain with one accepted block (height 1) on top of regtest genesis."""

    def setUp(self) -> None:
        """Accept a template block so there is something to look at."""
        self.clock, self.chain = new_chain()
        gbt = template(self.chain)
        self.block = build_block(BlockSpec(gbt, txs=gbt_txs(gbt)))
        self.assertIsNone(submit(self.chain, self.block))
        self.block_hash = block_hash(self.block)

    def assertError(self, code: int, message: str | None, method: str, *params: Any) -> None:
        """``method(*params)`` fails with RPCError(code[, message])."""
        error = rpc_error(self.chain, method, *params)
        self.assertEqual(error.code, code, error.message)
        if message is not None:
            self.assertEqual(error.message, message)


class InterfaceTests(RPCTestCase):
    """The chain is an IBitcoinRPC and answers like a JSON-RPC server."""

    def test_provides_ibitcoinrpc(self) -> None:
        """verifyObject accepts the chain as an IBitcoinRPC named "embedded"."""
        self.assertTrue(verifyObject(IBitcoinRPC, self.chain))
        self.assertEqual(self.chain.name, "embedded")

    def test_unknown_method(self) -> None:
        """An unknown method is -32601 "Method not found"."""
        self.assertError(-32601, "Method not found", "getrawmempoolx")
        self.assertError(-32601, "Method not found", "")

    def test_method_not_a_string(self) -> None:
        """A non-string method name is -32600."""
        failure = self.failureResultOf(self.chain.call(5, []))  # type: ignore[arg-type]
        self.assertEqual(failure.value.code, -32600)

    def test_params_not_a_list(self) -> None:
        """Params that are neither an array nor an object are -32600."""
        failure = self.failureResultOf(self.chain.call("getblockcount", "x"))  # type: ignore[arg-type]
        self.assertEqual(
            (failure.value.code, failure.value.message),
            (-32600, "Params must be an array or object"),
        )

    def test_none_params_mean_none(self) -> None:
        """params=None is an empty argument list."""
        self.assertEqual(self.successResultOf(self.chain.call("getblockcount")), 1)

    def test_named_params(self) -> None:
        """Named parameters map onto positions, aliases included; unknown names are -8."""
        named: Any = {"blockhash": self.block_hash, "verbose": 0}
        header = self.successResultOf(self.chain.call("getblock", named))
        self.assertEqual(header, self.block.hex())
        failure = self.failureResultOf(self.chain.call("getblockcount", {"bogus": 1}))  # type: ignore[arg-type]
        self.assertEqual(
            (failure.value.code, failure.value.message), (-8, "Unknown named parameter bogus")
        )

    def test_results_are_json(self) -> None:
        """Every method's result survives a strict JSON round trip."""
        calls: list[tuple[str, list[Any]]] = [
            ("getbestblockhash", []),
            ("getblockcount", []),
            ("getblockhash", [1]),
            ("getblockheader", [self.block_hash]),
            ("getblockheader", [self.block_hash, False]),
            ("getblock", [self.block_hash, 0]),
            ("getblock", [self.block_hash, 1]),
            ("getblock", [self.block_hash, 2]),
            ("getblock", [self.block_hash, 3]),
            ("getblockchaininfo", []),
            ("getmininginfo", []),
            ("getnetworkinfo", []),
            ("getnetworkhashps", []),
            ("getdifficulty", []),
            ("uptime", []),
            ("getblocktemplate", [{"rules": ["segwit"]}]),
            ("submitblock", [self.block.hex()]),
        ]
        for method, params in calls:
            result = rpc(self.chain, method, *params)
            self.assertEqual(json.loads(json.dumps(result, allow_nan=False)), result, method)


class ArgumentCountTests(RPCTestCase):
    """Wrong argument counts are -1 with the method's usage, as Core answers them."""

    def test_no_argument_methods_refuse_arguments(self) -> None:
        """Methods without parameters refuse one."""
        for method in ("getbestblockhash", "getblockcount", "getblockchaininfo", "getmininginfo",
                       "getnetworkinfo", "getdifficulty", "uptime"):  # fmt: skip
            error = rpc_error(self.chain, method, 1)
            self.assertEqual(error.code, -1, method)
            self.assertTrue(error.message.startswith(method + "\n"), error.message)

    def test_missing_required_arguments(self) -> None:
        """Methods with a required parameter refuse none."""
        for method, usage in (
            ("getblockhash", "getblockhash height"),
            ("getblockheader", 'getblockheader "blockhash" ( verbose )'),
            ("getblock", 'getblock "blockhash" ( verbosity )'),
            ("submitblock", 'submitblock "hexdata" ( "dummy" )'),
        ):
            error = rpc_error(self.chain, method)
            self.assertEqual(error.code, -1)
            self.assertEqual(error.message.split("\n")[0], usage)

    def test_too_many_arguments(self) -> None:
        """One argument too many is refused."""
        self.assertError(-1, None, "getblockhash", 1, 2)
        self.assertError(-1, None, "getblock", self.block_hash, 1, 2)
        self.assertError(-1, None, "submitblock", "00", "x", "y")


class GetBlockHashTests(RPCTestCase):
    """getblockhash height."""

    def test_heights(self) -> None:
        """Height 0 is genesis, 1 the accepted block."""
        self.assertEqual(rpc(self.chain, "getblockhash", 0), REGTEST_GENESIS)
        self.assertEqual(rpc(self.chain, "getblockhash", 1), self.block_hash)

    def test_out_of_range(self) -> None:
        """Negative or beyond-tip heights are -8 "Block height out of range"."""
        self.assertError(-8, "Block height out of range", "getblockhash", -1)
        self.assertError(-8, "Block height out of range", "getblockhash", 2)

    def test_wrong_types(self) -> None:
        """A string, bool or null height is a -3 type error; a fraction or huge number is -1."""
        self.assertError(-3, wrong_type(1, "height", "string", "number"), "getblockhash", "1")
        self.assertError(-3, wrong_type(1, "height", "bool", "number"), "getblockhash", True)
        self.assertError(-3, wrong_type(1, "height", "null", "number"), "getblockhash", None)
        self.assertError(-1, "JSON integer out of range", "getblockhash", 1.5)
        self.assertError(-1, "JSON integer out of range", "getblockhash", 2**40)


class GetBlockHeaderTests(RPCTestCase):
    """getblockheader "hash" ( verbose )."""

    def test_verbose(self) -> None:
        """The verbose header carries Core's fields for block 1."""
        header = rpc(self.chain, "getblockheader", self.block_hash)
        self.assertEqual(header["hash"], self.block_hash)
        self.assertEqual(header["height"], 1)
        self.assertEqual(header["confirmations"], 1)
        self.assertEqual(header["previousblockhash"], REGTEST_GENESIS)
        self.assertEqual(header["bits"], "207fffff")
        self.assertEqual(header["versionHex"], "20000000")
        self.assertEqual(header["chainwork"], f"{4:064x}")
        self.assertEqual(header["nTx"], 1 + len(template_txids(self.block)))
        self.assertAlmostEqual(header["difficulty"], REGTEST_DIFFICULTY)
        self.assertNotIn("nextblockhash", header)

    def test_genesis_links_forward(self) -> None:
        """Genesis has no previousblockhash, a nextblockhash and two confirmations."""
        header = rpc(self.chain, "getblockheader", REGTEST_GENESIS)
        self.assertNotIn("previousblockhash", header)
        self.assertEqual(header["nextblockhash"], self.block_hash)
        self.assertEqual(header["confirmations"], 2)
        self.assertEqual(
            header["merkleroot"], "4a5e1e4baab89f3a32518a88c31bc87f618f76673e2cc77ab2127b7afdeda33b"
        )
        self.assertEqual(header["chainwork"], f"{2:064x}")

    def test_hex(self) -> None:
        """verbose=false returns the 80 header bytes in hex."""
        self.assertEqual(
            rpc(self.chain, "getblockheader", self.block_hash, False), self.block[:80].hex()
        )

    def test_bad_hashes(self) -> None:
        """Wrong length, non-hex and unknown hashes fail as in Core."""
        self.assertError(
            -8, "hash must be of length 64 (not 3, for 'abc')", "getblockheader", "abc"
        )
        self.assertError(
            -8, f"hash must be hexadecimal string (not '{'zz' * 32}')", "getblockheader", "zz" * 32
        )
        self.assertError(-5, "Block not found", "getblockheader", "00" * 32)
        self.assertError(-3, wrong_type(1, "blockhash", "number", "string"), "getblockheader", 5)

    def test_verbose_must_be_bool(self) -> None:
        """A non-bool verbose flag is a -3 type error."""
        self.assertError(
            -3, wrong_type(2, "verbose", "number", "bool"), "getblockheader", self.block_hash, 1
        )


def template_txids(block: bytes) -> list[str]:
    """The non-coinbase txids of a block (read back with python-bitcoinlib)."""
    return [b2lx(tx.GetTxid()) for tx in CBlock.deserialize(block).vtx[1:]]


class GetBlockTests(RPCTestCase):
    """getblock "blockhash" ( verbosity )."""

    def test_verbosity_zero_is_hex(self) -> None:
        """Verbosity 0 (or false) returns the block's serialization."""
        self.assertEqual(rpc(self.chain, "getblock", self.block_hash, 0), self.block.hex())
        self.assertEqual(rpc(self.chain, "getblock", self.block_hash, False), self.block.hex())

    def test_verbosity_one_lists_txids(self) -> None:
        """Verbosity 1 (the default, or true) lists the txids and sizes."""
        result = rpc(self.chain, "getblock", self.block_hash)
        self.assertEqual(result["tx"][1:], template_txids(self.block))
        self.assertEqual(result["size"], len(self.block))
        self.assertEqual(rpc(self.chain, "getblock", self.block_hash, True), result)
        self.assertEqual(result["weight"], 3 * result["strippedsize"] + result["size"])

    def test_verbosity_two_decodes_transactions(self) -> None:
        """Verbosity 2 decodes inputs, outputs, witnesses and fees."""
        result = rpc(self.chain, "getblock", self.block_hash, 2)
        coinbase, first = result["tx"][0], result["tx"][1]
        self.assertIn("coinbase", coinbase["vin"][0])
        self.assertEqual(coinbase["vin"][0]["txinwitness"], ["00" * 32])
        self.assertEqual(coinbase["vout"][0]["scriptPubKey"]["hex"], PAYOUT_SCRIPT.hex())
        self.assertNotIn("fee", coinbase)
        self.assertEqual(first["txid"], template_txids(self.block)[0])
        self.assertGreater(first["fee"], 0)
        self.assertIn("scriptSig", first["vin"][0])
        self.assertEqual(first["vin"][0]["sequence"], 0xFFFFFFFD)
        self.assertIsInstance(first["vout"][0]["value"], float)

    def test_bad_arguments(self) -> None:
        """Bad hashes, unknown blocks and bad verbosity fail as in Core."""
        self.assertError(-8, "blockhash must be of length 64 (not 2, for 'ab')", "getblock", "ab")
        self.assertError(-5, "Block not found", "getblock", "11" * 32)
        self.assertError(
            -3,
            "JSON value of type string is not of expected type number",
            "getblock",
            self.block_hash,
            "1",
        )
        self.assertError(-1, "JSON integer out of range", "getblock", self.block_hash, 1.5)

    def test_side_branch_block(self) -> None:
        """A stored stale block can be fetched; it has -1 confirmations."""
        gbt = dict(template(self.chain), previousblockhash=REGTEST_GENESIS, height=1)
        rival = build_block(
            BlockSpec(gbt, commitment=None, coinbase_witness=[], coinbase_value=1, time=NOW + 1)
        )
        self.assertEqual(submit(self.chain, rival), "inconclusive")
        self.assertEqual(rpc(self.chain, "getblock", block_hash(rival))["confirmations"], -1)
        self.assertEqual(rpc(self.chain, "getblock", block_hash(rival), 0), rival.hex())


class InfoTests(RPCTestCase):
    """getblockchaininfo, getmininginfo, getnetworkinfo, getdifficulty, uptime."""

    def test_blockchaininfo(self) -> None:
        """getblockchaininfo describes a synced regtest node at height 1."""
        info = rpc(self.chain, "getblockchaininfo")
        self.assertEqual(info["chain"], "regtest")
        self.assertEqual((info["blocks"], info["headers"]), (1, 1))
        self.assertEqual(info["bestblockhash"], self.block_hash)
        self.assertEqual(info["initialblockdownload"], False)
        self.assertEqual(info["verificationprogress"], 1)
        self.assertEqual(info["pruned"], False)
        self.assertEqual(info["warnings"], "")
        self.assertEqual(info["chainwork"], f"{4:064x}")
        self.assertAlmostEqual(info["difficulty"], REGTEST_DIFFICULTY)
        self.assertEqual(info["time"], NOW)

    def test_mininginfo(self) -> None:
        """getmininginfo reports the last template's size and the mempool."""
        gbt = template(self.chain)
        info = rpc(self.chain, "getmininginfo")
        self.assertEqual(info["blocks"], 1)
        self.assertEqual(info["currentblocktx"], len(gbt["transactions"]))
        self.assertEqual(
            info["currentblockweight"], 4000 + sum(tx["weight"] for tx in gbt["transactions"])
        )
        self.assertEqual(info["chain"], "regtest")
        self.assertGreater(info["pooledtx"], 0)

    def test_mininginfo_before_any_template(self) -> None:
        """Before a template was assembled the optional fields are absent."""
        _, fresh = new_chain()
        self.assertNotIn("currentblocktx", rpc(fresh, "getmininginfo"))

    def test_networkinfo(self) -> None:
        """getnetworkinfo names the embedded node, with networking active and no peers."""
        info = rpc(self.chain, "getnetworkinfo")
        self.assertEqual(info["version"], 270000)
        self.assertEqual(info["subversion"], "/tbgpool-embedded:0.1/")
        self.assertEqual((info["networkactive"], info["connections"]), (True, 0))

    def test_difficulty(self) -> None:
        """getdifficulty is regtest's difficulty."""
        self.assertAlmostEqual(rpc(self.chain, "getdifficulty"), REGTEST_DIFFICULTY)

    def test_uptime(self) -> None:
        """uptime counts whole seconds on the injected clock."""
        self.clock.advance(42.9)
        self.assertEqual(rpc(self.chain, "uptime"), 42)

    def test_networkhashps(self) -> None:
        """getnetworkhashps estimates from chainwork over time, and checks its arguments."""
        self.clock.advance(600)
        self.chain.mine_network_block()
        self.assertAlmostEqual(rpc(self.chain, "getnetworkhashps", 1), 2 / 600)
        self.assertEqual(rpc(self.chain, "getnetworkhashps", 120, 0), 0)
        self.assertError(
            -8, "Invalid nblocks. Must be a positive number or -1.", "getnetworkhashps", 0
        )
        self.assertError(-8, "Block does not exist at specified height", "getnetworkhashps", 1, 5)


class SubmitBlockArgumentTests(RPCTestCase):
    """submitblock "hexdata" ( "dummy" )."""

    def test_wrong_types(self) -> None:
        """Non-string hexdata or dummy is a -3 type error."""
        self.assertError(-3, wrong_type(1, "hexdata", "number", "string"), "submitblock", 5)
        self.assertError(-3, wrong_type(2, "dummy", "number", "string"), "submitblock", "00", 1)

    def test_dummy_is_ignored(self) -> None:
        """A string dummy argument changes nothing."""
        self.assertEqual(rpc(self.chain, "submitblock", self.block.hex(), "ignored"), "duplicate")


class NetworkNameTests(SynchronousTestCase):
    """Other network names use their own genesis and report their name."""

    def test_unknown_network(self) -> None:
        """An unknown network name is a ValueError."""
        self.assertRaises(ValueError, new_chain, network="bogus")

    def test_named_network(self) -> None:
        """ "testnet4" reports its chain name and a genesis other than regtest's."""
        _, chain = new_chain(network="testnet4")
        self.assertEqual(rpc(chain, "getblockchaininfo")["chain"], "testnet4")
        self.assertNotEqual(chain.tip_hash, REGTEST_GENESIS)
        self.assertEqual(rpc(chain, "getmininginfo")["chain"], "testnet4")

    def test_constructor_checks(self) -> None:
        """Nonsense constructor arguments are refused with ValueError."""
        for kwargs in ({"bits": 0x2100FFFF}, {"bits": 0x04923456}, {"bits": 0}, {"block_interval_s": -1},
                       {"block_interval_s": float("nan")}, {"mempool_tx_per_block": -1},
                       {"mempool_tx_per_block": 1.5}, {"seed": "x"}):  # fmt: skip
            self.assertRaises(ValueError, new_chain, **kwargs)

    def test_block_accessor(self) -> None:
        """block() returns stored blocks and raises KeyError for others."""
        _, chain = new_chain()
        self.assertEqual(chain.block(REGTEST_GENESIS).header.nonce, 2)
        self.assertRaises(KeyError, chain.block, "00" * 32)
        self.assertRaises(KeyError, chain.block, "nonsense")

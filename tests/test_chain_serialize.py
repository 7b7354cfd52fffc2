"""Wire-format decoding and encoding of transactions and blocks, strict as Core's."""

from __future__ import annotations

import random
import struct

from bitcoin.core import CBlock, CTransaction, b2lx
from twisted.trial.unittest import SynchronousTestCase

from tbgpool.chain.params import REGTEST_GENESIS_HASH, chain_params, regtest_genesis
from tbgpool.chain.primitives import (
    Transaction,
    block_merkle_root,
    merkle_root,
    parse_block,
    parse_transaction,
    witness_merkle_root,
)
from tbgpool.chain.serialize import ByteReader, DecodeError, compact_size, hash_to_display, is_hex
from tests.test_chain_blockbuilder import (
    PAYOUT_SCRIPT,
    BlockSpec,
    build_block,
    dsha,
    gbt_txs,
    make_tx,
    new_chain,
    template,
)

GENESIS_HEX = (
    "0100000000000000000000000000000000000000000000000000000000000000000000003ba3edfd7a7b12b27ac72c3e"
    "67768f617fc81bc3888a51323a9fb8aa4b1e5e4adae5494dffff7f20020000000101000000010000000000000000000000"
    "000000000000000000000000000000000000000000ffffffff4d04ffff001d0104455468652054696d65732030332f4a61"
    "6e2f32303039204368616e63656c6c6f72206f6e206272696e6b206f66207365636f6e64206261696c6f757420666f72"
    "2062616e6b73ffffffff0100f2052a01000000434104678afdb0fe5548271967f1a67130b7105cd6a828e03909a67962e0"
    "ea1f61deb649f6bc3f4cef38c4f35504e51ec112de5c384df7ba0b8d578a4c702b6bf11d5fac00000000"
)


class GenesisTests(SynchronousTestCase):
    """The real regtest genesis block, built from its parts."""

    def test_regtest_genesis_hash(self) -> None:
        """Our regtest genesis hashes to Core's 0f9188f1...2206."""
        genesis = regtest_genesis()
        self.assertEqual(hash_to_display(genesis.hash), REGTEST_GENESIS_HASH)
        self.assertEqual(
            REGTEST_GENESIS_HASH, "0f9188f13cb7b2c71f2a335e3a4fc328bf5beb436012afca590b1a11466e2206"
        )

    def test_regtest_genesis_bytes(self) -> None:
        """Our regtest genesis serializes to the well-known bytes, and parses back."""
        self.assertEqual(regtest_genesis().serialize().hex(), GENESIS_HEX)
        self.assertEqual(parse_block(bytes.fromhex(GENESIS_HEX)), regtest_genesis())

    def test_other_networks_have_own_genesis(self) -> None:
        """Other network names get distinct, proof-of-work-valid genesis blocks."""
        hashes = {
            hash_to_display(chain_params(n).genesis.hash)
            for n in ("main", "test", "testnet4", "signet")
        }
        self.assertEqual(len(hashes), 4)
        self.assertNotIn(REGTEST_GENESIS_HASH, hashes)
        for network in ("main", "signet"):
            block_hash = chain_params(network).genesis.hash
            self.assertLessEqual(int.from_bytes(block_hash, "little"), 0x7FFFFF << 232)


class TransactionCodecTests(SynchronousTestCase):
    """Transactions decode and re-encode byte for byte, with Core's hashes."""

    def test_round_trip_against_bitcoinlib(self) -> None:
        """Legacy and segwit transactions round-trip and hash as python-bitcoinlib hashes them."""
        legacy = make_tx(
            [(b"\x01" * 32, 3, b"\x51\x52", 0xFFFFFFFE, [])], [(5, PAYOUT_SCRIPT)], lock_time=9
        )
        segwit = make_tx(
            [(b"\x02" * 32, 0, b"", 0, [b"\xaa", b""])], [(7, b"\x51"), (0, b"")], version=-1
        )
        for raw in (legacy, segwit):
            tx = parse_transaction(raw.data)
            self.assertEqual(tx.serialize(), raw.data)
            self.assertEqual((tx.txid, tx.wtxid), (raw.txid, raw.wtxid))
            self.assertEqual(
                hash_to_display(tx.txid), b2lx(CTransaction.deserialize(raw.data).GetTxid())
            )
        self.assertEqual(parse_transaction(segwit.data).version, -1)

    def test_sizes_and_weight(self) -> None:
        """Stripped size, total size and weight follow BIP141."""
        raw = make_tx([(b"\x02" * 32, 0, b"", 0, [b"\xaa" * 10])], [(7, b"\x51")])
        tx = parse_transaction(raw.data)
        stripped = CTransaction.deserialize(raw.data).serialize({"include_witness": False})
        self.assertEqual((tx.stripped_size, tx.total_size), (len(stripped), len(raw.data)))
        self.assertEqual(tx.weight, 3 * len(stripped) + len(raw.data))
        self.assertEqual(tx.vsize, (tx.weight + 3) // 4)

    def test_superfluous_witness(self) -> None:
        """The witness flag with only empty witness stacks is refused."""
        raw = make_tx([(b"\x02" * 32, 0, b"", 0, [b"\xaa"])], [(7, b"\x51")])
        data = bytearray(raw.data)
        item = data.index(b"\x01\x01\xaa")  # one-item stack holding 0xaa
        emptied = bytes(data[:item]) + b"\x00" + bytes(data[item + 3 :])
        self.assertRaises(DecodeError, parse_transaction, emptied)

    def test_unknown_flag(self) -> None:
        """A witness marker with an unknown flag byte is refused."""
        raw = make_tx([(b"\x02" * 32, 0, b"", 0, [b"\xaa"])], [(7, b"\x51")])
        self.assertRaises(DecodeError, parse_transaction, raw.data[:5] + b"\x03" + raw.data[6:])

    def test_empty_input_vector_without_flag(self) -> None:
        """A zero marker followed by a zero flag reads as no inputs and no outputs (as Core reads it)."""
        tx = parse_transaction(struct.pack("<i", 1) + b"\x00\x00" + struct.pack("<I", 0))
        self.assertEqual((tx.inputs, tx.outputs), ((), ()))

    def test_truncated_everywhere(self) -> None:
        """Every proper prefix of a transaction fails to decode with DecodeError."""
        raw = make_tx([(b"\x02" * 32, 0, b"\x00" * 3, 0, [b"\xaa" * 3])], [(7, b"\x51")])
        for cut in range(len(raw.data)):
            self.assertRaises(DecodeError, parse_transaction, raw.data[:cut])

    def test_trailing_bytes(self) -> None:
        """A byte after the transaction is refused."""
        raw = make_tx([(b"\x02" * 32, 0, b"", 0, [])], [(7, b"\x51")])
        self.assertRaises(DecodeError, parse_transaction, raw.data + b"\x00")

    def test_random_garbage_never_raises_anything_else(self) -> None:
        """Random bytes either decode or raise DecodeError, nothing else."""
        rng = random.Random(7)
        refused = 0
        for _ in range(2000):
            data = rng.randbytes(rng.randrange(0, 120))
            try:
                parse_transaction(data)
            except DecodeError:
                refused += 1
        self.assertGreater(refused, 1900)


class CompactSizeTests(SynchronousTestCase):
    """CompactSize reads are canonical and bounded, like Core's ReadCompactSize."""

    def test_round_trip(self) -> None:
        """Boundary values encode to the shortest form and read back."""
        for n in (0, 252, 253, 0xFFFF, 0x10000, 0xFFFFFFFF, 0x100000000):
            encoded = compact_size(n)
            self.assertEqual(ByteReader(encoded).compact_size(limit=1 << 64), n)
        self.assertEqual(len(compact_size(252)), 1)
        self.assertEqual(len(compact_size(253)), 3)

    def test_non_canonical(self) -> None:
        """Longer-than-needed encodings are refused."""
        for encoded in (
            b"\xfd\xfc\x00",
            b"\xfe\xff\xff\x00\x00",
            b"\xff" + struct.pack("<Q", 0xFFFFFFFF),
        ):
            self.assertRaises(DecodeError, ByteReader(encoded).compact_size)

    def test_too_large(self) -> None:
        """Sizes above 0x02000000 are refused."""
        self.assertRaises(DecodeError, ByteReader(b"\xfe\x01\x00\x00\x02").compact_size)
        self.assertEqual(ByteReader(b"\xfe\x00\x00\x00\x02").compact_size(), 0x02000000)

    def test_is_hex(self) -> None:
        """Core's IsHex: non-empty, even length, hex digits of either case."""
        self.assertTrue(is_hex("00aAfF"))
        for text in ("", "a", "0g", "00 "):
            self.assertFalse(is_hex(text))


class BlockCodecTests(SynchronousTestCase):
    """Whole blocks, merkle roots and witness roots."""

    def test_template_block_round_trip(self) -> None:
        """A block from the test builder decodes, re-encodes, and hashes as bitcoinlib says."""
        _, chain = new_chain()
        gbt = template(chain)
        data = build_block(BlockSpec(gbt, txs=gbt_txs(gbt)))
        block = parse_block(data)
        self.assertEqual(block.serialize(), data)
        self.assertEqual(hash_to_display(block.hash), b2lx(CBlock.deserialize(data).GetHash()))
        self.assertEqual(block_merkle_root(block.transactions), (block.header.merkle_root, False))
        self.assertEqual(block.total_size, len(data))

    def test_witness_root(self) -> None:
        """The witness root uses 32 zero bytes for the coinbase and wtxids for the rest."""
        _, chain = new_chain()
        block = parse_block(build_block(BlockSpec(template(chain), txs=gbt_txs(template(chain)))))
        leaves = [b"\x00" * 32] + [tx.wtxid for tx in block.transactions[1:]]
        self.assertEqual(witness_merkle_root(block.transactions), merkle_root(leaves)[0])

    def test_merkle_mutation(self) -> None:
        """Equal adjacent hashes flag mutation (CVE-2012-2459); an odd tail alone does not."""
        a, b, c = dsha(b"a"), dsha(b"b"), dsha(b"c")
        self.assertEqual(merkle_root([a]), (a, False))
        self.assertFalse(merkle_root([a, b, c])[1])
        self.assertTrue(merkle_root([a, b, c, c])[1])
        self.assertEqual(merkle_root([a, b, c])[0], merkle_root([a, b, c, c])[0])
        self.assertTrue(merkle_root([a, a])[1])

    def test_coinbase_detection(self) -> None:
        """Only a single input spending the null prevout is a coinbase."""
        coinbase = parse_transaction(
            make_tx([(b"\x00" * 32, 0xFFFFFFFF, b"\x51\x00", 0, [])], [(1, b"")]).data
        )
        two_inputs = make_tx(
            [(b"\x00" * 32, 0xFFFFFFFF, b"\x51\x00", 0, []), (b"\x01" * 32, 0, b"", 0, [])],
            [(1, b"")],
        )
        index_zero = make_tx([(b"\x00" * 32, 0, b"\x51\x00", 0, [])], [(1, b"")])
        self.assertTrue(coinbase.is_coinbase())
        self.assertFalse(parse_transaction(two_inputs.data).is_coinbase())
        self.assertFalse(parse_transaction(index_zero.data).is_coinbase())

    def test_transaction_is_hashable_value(self) -> None:
        """Decoded transactions compare by value."""
        raw = make_tx([(b"\x02" * 32, 0, b"", 0, [])], [(7, b"\x51")])
        self.assertEqual(parse_transaction(raw.data), parse_transaction(raw.data))
        self.assertIsInstance(parse_transaction(raw.data), Transaction)

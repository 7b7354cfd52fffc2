"""Coinbase construction, merkle branches, jobs and difficulty arithmetic."""

from __future__ import annotations

from twisted.trial.unittest import SynchronousTestCase

from tbgpool.coinbase import (
    MAX_SCRIPTSIG,
    CoinbaseTemplate,
    compact_size,
    height_script,
    witness_coinbase,
)
from tbgpool.difficulty import (
    DIFF1_TARGET,
    bits_to_target,
    difficulty_for_target,
    hash_difficulty,
    target_for_difficulty,
)
from tbgpool.jobs import STALE_JOB_GRACE_S, JobBook, merkle_branch, stratum_prevhash
from tbgpool.testing import make_template, sha256d
from tests import vectors

P2WPKH = bytes.fromhex("0014") + bytes(range(20))


def _parse_coinbase(tx: bytes) -> dict[str, object]:
    """Deserialize a non-witness one-input coinbase (independently of tbgpool.coinbase)."""
    pos = 4 + 1 + 32 + 4
    script_len = tx[pos]
    script_sig = tx[pos + 1 : pos + 1 + script_len]
    pos += 1 + script_len
    sequence = tx[pos : pos + 4]
    pos += 4
    outputs = []
    for _ in range(tx[pos]):
        pos += 1 if not outputs else 0
        value = int.from_bytes(tx[pos : pos + 8], "little")
        length = tx[pos + 8]
        outputs.append((value, tx[pos + 9 : pos + 9 + length]))
        pos += 9 + length
    return {"script_sig": script_sig, "sequence": sequence, "outputs": outputs,
            "locktime": tx[pos + (1 if not outputs else 0):]}


class HeightScriptTests(SynchronousTestCase):
    """BIP34 heights are encoded as Core's CScript() << height."""

    def test_small_heights_use_opcodes(self) -> None:
        """heights 1..16 are OP_1..OP_16 and 0 is OP_0, as Core's BIP34 check expects"""
        self.assertEqual(height_script(0), b"\x00")
        self.assertEqual(height_script(1), b"\x51")
        self.assertEqual(height_script(16), b"\x60")

    def test_pushes(self) -> None:
        """larger heights are minimal CScriptNum pushes, sign byte included"""
        self.assertEqual(height_script(17).hex(), "0111")
        self.assertEqual(height_script(128).hex(), "028000")
        self.assertEqual(height_script(255).hex(), "02ff00")
        self.assertEqual(height_script(256).hex(), "020001")
        # mainnet block 500000's coinbase scriptSig starts with these bytes
        self.assertEqual(height_script(500000).hex(), "0320a107")

    def test_negative(self) -> None:
        """a negative height is refused"""
        self.assertRaises(ValueError, height_script, -1)

    def test_compact_size(self) -> None:
        """CompactSize boundaries"""
        self.assertEqual(compact_size(0xFC), b"\xfc")
        self.assertEqual(compact_size(0xFD), b"\xfd\xfd\x00")
        self.assertEqual(compact_size(0x10000), b"\xfe\x00\x00\x01\x00")
        self.assertEqual(compact_size(1 << 32), b"\xff" + (1 << 32).to_bytes(8, "little"))


class CoinbaseTests(SynchronousTestCase):
    """The coinbase pays everything to the miner and stays within limits."""

    def _coinbase(self, tag: bytes = b"/tbgpool/", user_tag: bytes = b"", height: int = 840000,
                  extranonce_size: int = 12) -> tuple[bytes, bytes, bytes]:
        template = CoinbaseTemplate(height, 312_500_000, bytes.fromhex("6a24aa21a9ed") + bytes(32),
                                    tag, extranonce_size)
        coinb1, coinb2 = template.parts(P2WPKH, user_tag)
        return coinb1, coinb2, coinb1 + bytes(extranonce_size) + coinb2

    def test_layout(self) -> None:
        """height, extranonce push, tag, one payout of the whole value, then the commitment"""
        coinb1, coinb2, tx = self._coinbase()
        parsed = _parse_coinbase(tx)
        script_sig = parsed["script_sig"]
        assert isinstance(script_sig, bytes)
        self.assertTrue(script_sig.startswith(height_script(840000)))
        self.assertEqual(script_sig[4], 12)  # push of the 12 extranonce bytes
        self.assertIn(b"/tbgpool/", script_sig)
        self.assertEqual(
            parsed["outputs"],
            [(312_500_000, P2WPKH), (0, bytes.fromhex("6a24aa21a9ed") + bytes(32))],
        )
        self.assertEqual(parsed["locktime"], bytes(4))
        self.assertTrue(coinb1.startswith(bytes.fromhex("02000000010000")))
        self.assertLess(len(coinb1), 500)
        self.assertLess(len(tx), 750)

    def test_no_commitment(self) -> None:
        """without a witness commitment there is only the payout output"""
        template = CoinbaseTemplate(300, 100, None, b"/t/", 8)
        _, coinb2 = template.parts(P2WPKH)
        parsed = _parse_coinbase(template.parts(P2WPKH)[0] + bytes(8) + coinb2)
        self.assertEqual(parsed["outputs"], [(100, P2WPKH)])

    def test_user_tag_truncated_to_fit(self) -> None:
        """a long user tag is cut so the scriptSig never exceeds 100 bytes"""
        _, _, tx = self._coinbase(user_tag=b"x" * 200, extranonce_size=16)
        script_sig = _parse_coinbase(tx)["script_sig"]
        assert isinstance(script_sig, bytes)
        self.assertLessEqual(len(script_sig), MAX_SCRIPTSIG)
        self.assertGreaterEqual(len(script_sig), MAX_SCRIPTSIG - 3)
        self.assertIn(b"/tbgpool/xxx", script_sig)

    def test_pool_tag_too_long(self) -> None:
        """a pool tag that cannot fit is refused at construction"""
        self.assertRaises(ValueError, CoinbaseTemplate, 1, 1, None, b"x" * 90, 12)

    def test_witness_serialization(self) -> None:
        """the witness form keeps the txid and adds marker, flag and the 32-byte reserved value"""
        _, _, tx = self._coinbase()
        witness = witness_coinbase(tx)
        self.assertEqual(witness[4:6], b"\x00\x01")
        self.assertEqual(witness[-4 - 34 :], b"\x01\x20" + bytes(32) + bytes(4))
        self.assertEqual(len(witness), len(tx) + 2 + 34)


class MerkleTests(SynchronousTestCase):
    """Merkle branches reproduce real block merkle roots."""

    def test_block_100000(self) -> None:
        """coinbase txid folded with the branch gives mainnet block 100000's merkle root"""
        txids = [bytes.fromhex(t)[::-1] for t in vectors.BLOCK_100000_OTHER_TXIDS]
        root = sha256d(vectors.BLOCK_100000_COINBASE)
        self.assertEqual(root[::-1].hex(), vectors.BLOCK_100000_COINBASE_TXID)
        for sibling in merkle_branch(txids):
            root = sha256d(root + sibling)
        self.assertEqual(root[::-1].hex(), vectors.BLOCK_100000_MERKLE_ROOT)

    def test_empty_and_odd(self) -> None:
        """no transactions: empty branch; odd counts duplicate the last hash"""
        self.assertEqual(merkle_branch([]), [])
        a, b = sha256d(b"a"), sha256d(b"b")
        self.assertEqual(merkle_branch([a]), [a])
        self.assertEqual(merkle_branch([a, b]), [a, sha256d(b + b)])

    def test_stratum_prevhash(self) -> None:
        """Stratum's prevhash is the internal-order hash with each 4-byte word swapped"""
        prev = vectors.BLOCK_100000_PREVHASH
        swapped = stratum_prevhash(prev)
        internal = bytes.fromhex(prev)[::-1]
        words = bytes.fromhex(swapped)
        self.assertEqual(b"".join(words[i : i + 4][::-1] for i in range(0, 32, 4)), internal)
        self.assertTrue(swapped.startswith("19011250"))


class DifficultyTests(SynchronousTestCase):
    """Targets are exact integers; difficulties are floats."""

    def test_bits(self) -> None:
        """compact bits expand as Core's SetCompact"""
        self.assertEqual(bits_to_target(0x1D00FFFF), DIFF1_TARGET)
        self.assertEqual(bits_to_target(0x207FFFFF), 0x7FFFFF << (8 * 29))
        self.assertEqual(bits_to_target(0x1B04864C), 0x04864C << (8 * 24))
        self.assertEqual(bits_to_target(0x03123456), 0x123456)
        self.assertEqual(bits_to_target(0x01123456), 0x12)
        self.assertEqual(bits_to_target(0x04923456), 0)  # negative

    def test_float_difficulties(self) -> None:
        """fractional and tiny difficulties map to exact targets"""
        self.assertEqual(target_for_difficulty(1.0), DIFF1_TARGET)
        self.assertEqual(target_for_difficulty(0.5), DIFF1_TARGET * 2)
        self.assertEqual(target_for_difficulty(2.0), DIFF1_TARGET // 2)
        self.assertGreater(target_for_difficulty(1e-9), DIFF1_TARGET * 10**8)
        self.assertAlmostEqual(difficulty_for_target(target_for_difficulty(0.00015)), 0.00015)
        self.assertRaises(ValueError, target_for_difficulty, 0.0)
        self.assertRaises(ValueError, target_for_difficulty, float("nan"))
        self.assertRaises(ValueError, target_for_difficulty, float("inf"))

    def test_hash_difficulty(self) -> None:
        """a hash's difficulty is diff1 over its value; block 100000 had ~14484"""
        value = int(vectors.BLOCK_100000_HASH, 16)
        self.assertGreater(hash_difficulty(value), difficulty_for_target(bits_to_target(0x1B04864C)))
        self.assertEqual(hash_difficulty(DIFF1_TARGET), 1.0)


class JobBookTests(SynchronousTestCase):
    """Jobs are clean exactly when the previous hash changes, and expire."""

    def test_clean_only_on_new_prevhash(self) -> None:
        """first job clean; refresh of same tip not clean; new tip clean"""
        book = JobBook(b"/t/", 12)
        first = book.add(make_template(), 0.0)
        refresh = book.add(make_template(curtime=1_700_000_030), 30.0)
        new_tip = book.add(make_template(previous_block_hash="22" * 32, height=201), 31.0)
        self.assertEqual((first.clean, refresh.clean, new_tip.clean), (True, False, True))
        self.assertEqual(len({first.job_id, refresh.job_id, new_tip.job_id}), 3)
        self.assertTrue(first.stale and refresh.stale)
        self.assertFalse(new_tip.stale)

    def test_source_can_force_clean(self) -> None:
        """a template marked clean (first after an outage) makes a clean job on the same tip"""
        book = JobBook(b"/t/", 12)
        first = book.add(make_template(), 0.0)
        self.assertTrue(book.add(make_template(clean=True), 1.0).clean)
        self.assertFalse(first.stale)  # same tip: shares on it are still good

    def test_reissue_of_clean_template_is_not_clean(self) -> None:
        """re-issuing the same template (newer ntime) is never clean, even if it came clean"""
        book = JobBook(b"/t/", 12)
        template = make_template(clean=True)
        self.assertTrue(book.add(template, 0.0).clean)
        again = book.add(template, 30.0, ntime=template.curtime + 30)
        self.assertFalse(again.clean)
        self.assertEqual(again.ntime, template.curtime + 30)

    def test_stale_jobs_kept_for_grace_then_dropped(self) -> None:
        """jobs of a replaced tip stay findable for the grace period only"""
        book = JobBook(b"/t/", 12)
        old = book.add(make_template(), 0.0)
        book.add(make_template(previous_block_hash="22" * 32, height=201), 10.0)
        book.expire(10.0 + STALE_JOB_GRACE_S)
        self.assertIs(book.get(old.job_id), old)
        book.expire(10.0 + STALE_JOB_GRACE_S + 1)
        self.assertIsNone(book.get(old.job_id))

    def test_live_jobs_bounded(self) -> None:
        """only the newest live jobs are kept"""
        book = JobBook(b"/t/", 12)
        jobs = [book.add(make_template(), float(i)) for i in range(100)]
        self.assertLessEqual(len(book), 32)
        self.assertIsNone(book.get(jobs[0].job_id))
        self.assertIs(book.get(jobs[-1].job_id), jobs[-1])

    def test_notify_params(self) -> None:
        """notify carries job id, swapped prevhash, coinbase halves, branch, BE version/bits/time"""
        book = JobBook(b"/t/", 12)
        template = make_template()
        job = book.add(template, 0.0)
        payout = job.payout(P2WPKH)
        params = job.notify_params(payout)
        self.assertEqual(params[0], job.job_id)
        self.assertEqual(params[1], stratum_prevhash(template.previous_block_hash))
        self.assertEqual(params[2:4], [payout.coinb1.hex(), payout.coinb2.hex()])
        self.assertEqual(params[4], [h.hex() for h in merkle_branch([t.txid for t in template.transactions])])
        self.assertEqual(params[5:8], ["20000000", "207fffff", f"{template.curtime:08x}"])
        self.assertIs(params[8], True)
        self.assertIs(job.payout(P2WPKH), payout)

    def test_duplicate_headers(self) -> None:
        """the same header hash is seen once per job"""
        job = JobBook(b"/t/", 12).add(make_template(), 0.0)
        self.assertTrue(job.first_seen(b"h" * 32))
        self.assertFalse(job.first_seen(b"h" * 32))

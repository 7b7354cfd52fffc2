"""Block assembly, durable writes before submitblock, retries, and resubmission at start."""

from __future__ import annotations

import json
import os

from twisted.internet import defer
from twisted.internet.task import Clock
from twisted.trial.unittest import SynchronousTestCase

from tbgpool.blocks import BlockSubmitter, FoundBlock, assemble_block
from tbgpool.errors import RPCError, RPCUnavailable
from tbgpool.jobs import merkle_branch
from tbgpool.testing import FakeTemplateSource
from tests import vectors


def _found(block_hash: str = "ab" * 32, height: int = 7) -> FoundBlock:
    return FoundBlock(
        block_hash=block_hash, height=height, block_hex="00" * 80, address="bcrt1qexample",
        worker="rig1", share_difficulty=5.0, network_difficulty=1.0, job_id="1f", found_at=0.0,
    )


class AssembleTests(SynchronousTestCase):
    """A solved share becomes a real block."""

    def test_block_100000(self) -> None:
        """mainnet block 100000 reassembles to its real hash and layout"""
        txids = [bytes.fromhex(t)[::-1] for t in vectors.BLOCK_100000_OTHER_TXIDS]
        block_hash, block = assemble_block(
            coinbase=vectors.BLOCK_100000_COINBASE,
            branch=merkle_branch(txids),
            version=1,
            prevhash=bytes.fromhex(vectors.BLOCK_100000_PREVHASH)[::-1],
            ntime=vectors.BLOCK_100000_TIME,
            bits=vectors.BLOCK_100000_BITS,
            nonce=vectors.BLOCK_100000_NONCE,
            transactions=[b"tx1", b"tx2", b"tx3"],
            segwit=False,
        )
        self.assertEqual(block_hash, vectors.BLOCK_100000_HASH)
        self.assertEqual(block[36:68][::-1].hex(), vectors.BLOCK_100000_MERKLE_ROOT)
        self.assertEqual(block[80], 4)  # transaction count
        self.assertEqual(block[81 : 81 + len(vectors.BLOCK_100000_COINBASE)],
                         vectors.BLOCK_100000_COINBASE)
        self.assertTrue(block.endswith(b"tx1tx2tx3"))

    def test_segwit_coinbase(self) -> None:
        """with segwit the coinbase carries marker, flag and the reserved value"""
        _, block = assemble_block(
            coinbase=vectors.BLOCK_100000_COINBASE, branch=[], version=0x20000000,
            prevhash=bytes(32), ntime=0, bits=0x207FFFFF, nonce=0, transactions=[], segwit=True,
        )
        self.assertEqual(block[81 + 4 : 81 + 6], b"\x00\x01")
        self.assertIn(b"\x01\x20" + bytes(32), block)


class SubmitterTests(SynchronousTestCase):
    """Blocks are on disk before submitblock and are retried until the node answers."""

    def setUp(self) -> None:
        self.clock = Clock()
        self.source = FakeTemplateSource()
        self.directory = self.mktemp()
        self.outcomes: list[object] = []

    def _submitter(self) -> BlockSubmitter:
        return BlockSubmitter(self.clock, self.source, self.directory,
                              on_outcome=self.outcomes.append)

    def _status(self, block: FoundBlock) -> str:
        with open(os.path.join(self.directory, f"{block.height}-{block.block_hash}.json")) as f:
            status: str = json.load(f)["status"]
            return status

    def test_written_before_submit(self) -> None:
        """the block file exists, pending, at the moment submitblock is called"""
        seen: list[str] = []
        submitter = self._submitter()
        block = _found()
        original = self.source.submitBlock

        def spy(block_hex: str):  # type: ignore[no-untyped-def]
            seen.append(self._status(block))
            return original(block_hex)

        self.source.submitBlock = spy  # type: ignore[method-assign]
        outcome = self.successResultOf(submitter.submit(block))
        self.assertEqual(seen, ["pending"])
        self.assertTrue(outcome.accepted)
        self.assertEqual(self._status(block), "accepted")

    def test_duplicate_and_inconclusive_are_accepted(self) -> None:
        """'duplicate' and 'inconclusive' count as accepted; a reject reason does not"""
        submitter = self._submitter()
        self.source.answers = ["duplicate", "inconclusive", "high-hash"]
        results = [self.successResultOf(submitter.submit(_found(h * 64)))
                   for h in ("a", "b", "c")]
        self.assertEqual([r.accepted for r in results], [True, True, False])
        self.assertEqual(results[2].result, "high-hash")
        self.assertEqual(self._status(_found("c" * 64)), "rejected")

    def test_retried_with_backoff_until_answered(self) -> None:
        """transport failures are retried with growing delays; then the answer counts"""
        submitter = self._submitter()
        self.source.answers = [RPCUnavailable("down"), RPCUnavailable("down"), RPCError(-1, "x"), None]
        d = submitter.submit(_found())
        self.assertNoResult(d)
        self.assertEqual(len(self.source.submitted), 1)
        self.clock.advance(0.5)
        self.assertEqual(len(self.source.submitted), 2)
        self.clock.advance(0.9)
        self.assertEqual(len(self.source.submitted), 2)
        self.clock.advance(0.1)
        self.assertEqual(len(self.source.submitted), 3)
        self.clock.advance(2.0)
        outcome = self.successResultOf(d)
        self.assertTrue(outcome.accepted)
        self.assertEqual(outcome.attempts, 4)
        self.assertEqual(self.outcomes, [outcome])

    def test_decode_failure_is_final(self) -> None:
        """'Block decode failed' is not retried"""
        submitter = self._submitter()
        self.source.answers = [RPCError(-22, "Block decode failed")]
        outcome = self.successResultOf(submitter.submit(_found()))
        self.assertFalse(outcome.accepted)
        self.assertEqual(len(self.source.submitted), 1)

    def test_pending_resubmitted_at_start(self) -> None:
        """a block left pending (crash before an answer) is submitted again by a new submitter"""
        self.source.answers = [RPCUnavailable("down")] * 1000
        first = BlockSubmitter(self.clock, self.source, self.directory, retry_for_s=1.0)
        d = first.submit(_found())
        self.clock.pump([0.5] * 10)
        self.assertEqual(self.successResultOf(d).result, "pending")
        self.assertEqual(self._status(_found()), "pending")
        self.source.answers = []
        second = self._submitter()
        self.assertEqual([b.block_hash for b in second.pending_on_disk()], ["ab" * 32])
        [resubmitted] = second.resubmit_pending()
        self.assertTrue(self.successResultOf(resubmitted).accepted)
        self.assertEqual(self._status(_found()), "accepted")
        self.assertEqual(second.pending_on_disk(), [])

    def test_corrupt_record_skipped(self) -> None:
        """an unreadable record is left alone, not fatal"""
        submitter = self._submitter()
        with open(os.path.join(self.directory, "9-zz.json"), "w") as f:
            f.write("{not json")
        self.assertEqual(submitter.pending_on_disk(), [])
        self.assertEqual(len(self.flushLoggedErrors(ValueError)), 1)

    def test_unwritable_directory_still_submits(self) -> None:
        """if the block cannot be written, it is submitted anyway"""
        submitter = self._submitter()
        os.rmdir(self.directory)
        with open(self.directory, "w") as f:  # the directory is now a file: every write fails
            f.write("")
        outcome = self.successResultOf(submitter.submit(_found()))
        self.assertTrue(outcome.accepted)
        self.assertEqual(len(self.source.submitted), 1)
        self.assertEqual(len(self.flushLoggedErrors(NotADirectoryError)), 2)


class ConcurrencyTests(SynchronousTestCase):
    """A flood of blocks (regtest) never opens more than max_in_flight submitblock calls."""

    def test_in_flight_bounded(self) -> None:
        """ten blocks, two slots: two calls at a time, all ten answered in the end"""
        clock = Clock()
        calls: list[defer.Deferred[object]] = []

        class SlowSource(FakeTemplateSource):
            def submitBlock(self, block_hex: str) -> defer.Deferred[object]:
                d: defer.Deferred[object] = defer.Deferred()
                calls.append(d)
                return d

        submitter = BlockSubmitter(clock, SlowSource(), self.mktemp(), max_in_flight=2)
        results = [submitter.submit(_found(f"{i:064x}")) for i in range(10)]
        self.assertEqual(len(calls), 2)
        answered = 0
        while answered < len(calls):
            calls[answered].callback(None)
            answered += 1
            self.assertLessEqual(len(calls) - answered, 2)
        self.assertEqual(len(calls), 10)
        self.assertTrue(all(self.successResultOf(r).accepted for r in results))

"""What fuzzing found, kept found: each seed and each finding replays through the fuzz checks.

These run without atheris: the checks live in fuzz/harness.py, fuzz/sessions.py,
fuzz/addresses.py and fuzz/primitives.py, and the seed corpora are literal inputs.
"""

from __future__ import annotations

from pathlib import Path

from twisted.trial.unittest import SynchronousTestCase

from fuzz import addresses, harness, primitives, sessions, values
from fuzz.run import parse_log, table
from tbgpool import sha256
from tbgpool.difficulty import target_for_difficulty
from tbgpool.testing import mine

CORPUS = Path(__file__).resolve().parent.parent / "fuzz" / "corpus"
NETWORKS = ("main", "test", "testnet4", "signet", "regtest")


def seeds(target: str) -> list[tuple[str, bytes]]:
    """(name, bytes) of every seed of ``target``, in name order."""
    return [(p.name, p.read_bytes()) for p in sorted((CORPUS / target).iterdir())]


class CorpusReplayTests(SynchronousTestCase):
    """Every seed passes its target's checks, so the corpora and the checks stay in step."""

    def setUp(self) -> None:
        self.fp = harness.build_pool("regtest")

    def test_jsonrpc_line_seeds(self) -> None:
        """each real-traffic and hostile line seed, whole and split in the middle"""
        replayed = seeds("jsonrpc_line")
        self.assertGreaterEqual(len(replayed), 20)
        for name, data in replayed:
            with self.subTest(seed=name):
                harness.run_lines(self.fp, data)
                harness.run_lines(self.fp, data, len(data) // 2)

    def test_subscribe_seeds(self) -> None:
        """each subscribe params seed, next to a live session whose extranonce1 stays its own"""
        holder, _ = self.fp.new_session()
        holder.handle("mining.subscribe", ["holder/1.0"])
        for name, data in seeds("subscribe"):
            params = values.literal_params(data)
            self.assertIsNotNone(params, name)
            assert params is not None
            with self.subTest(seed=name):
                sessions.run_subscribe(self.fp, [params], holder)

    def test_authorize_seeds(self) -> None:
        """each authorize params seed, after a subscribe"""
        for name, data in seeds("authorize"):
            params = values.literal_params(data)
            assert params is not None, name
            with self.subTest(seed=name):
                sessions.run_authorize(self.fp, True, [params])

    def test_submit_seeds(self) -> None:
        """each submit params seed, on a working session with version rolling

        At the harness's trivial difficulty some seeds are valid shares: whatever is
        accepted is re-verified by sessions.submit, so only the count is asserted.
        """
        for name, data in seeds("submit"):
            params = values.literal_params(data)
            assert params is not None, name
            with self.subTest(seed=name):
                miner = sessions.start_miner(self.fp, values.ADDRESSES["regtest"][0], True)
                accepted, _ = sessions.submit(self.fp, miner, params)
                self.assertEqual(len(miner.accepted), 1 if accepted else 0)
                sessions.finish_miner(self.fp, miner)

    def test_address_seeds(self) -> None:
        """each address seed, for every network and through both decoders"""
        for name, data in seeds("address"):
            text = values.literal_text(data)
            assert text is not None, name
            with self.subTest(seed=name):
                for network in NETWORKS:
                    addresses.check_parse_address(text, network)
                addresses.check_base58(text)
                addresses.check_bech32(text)

    def test_coinbase_tag_seeds(self) -> None:
        """each coinbase tag seed"""
        for name, data in seeds("coinbase_tag"):
            with self.subTest(seed=name):
                primitives.check_tag(values.literal_text(data))

    def test_sha256_seeds(self) -> None:
        """each SHA-256 seed on every implementation this CPU has"""
        current = sha256.implementation()
        self.addCleanup(sha256.use_implementation, current)
        for name in sha256.available_implementations():
            sha256.use_implementation(name)
            for seed, data in seeds("sha256"):
                with self.subTest(implementation=name, seed=seed):
                    primitives.check_hashes(data[1:])


class RealShareTests(SynchronousTestCase):
    """The submit target's own expectations hold on a hand-made example."""

    def test_real_share_accepted_then_duplicate(self) -> None:
        """a mined share is accepted, the same share again is a duplicate, both re-verified"""
        fp = harness.build_pool("regtest")
        miner = sessions.start_miner(fp, values.ADDRESSES["regtest"][0] + ".rig", False)
        job = miner.job()
        target = target_for_difficulty(miner.lowest_difficulty())
        solution = mine(job, miner.extranonce1, "00" * miner.extranonce2_size, target)
        params = [miner.username, job.job_id, solution.extranonce2, solution.ntime, solution.nonce]
        self.assertEqual(
            sessions.submit(fp, miner, params, sessions.EXPECT_ACCEPTED), (True, None)
        )
        accepted, error = sessions.submit(fp, miner, params, sessions.EXPECT_DUPLICATE)
        self.assertFalse(accepted)
        assert error is not None
        self.assertEqual(error.code, 22)
        sessions.finish_miner(fp, miner)

    def test_real_share_on_stale_job(self) -> None:
        """a mined share on the job of the old tip is rejected as stale"""
        fp = harness.build_pool("regtest")
        miner = sessions.start_miner(fp, values.ADDRESSES["regtest"][0], False)
        job = sessions.job_as_sent(fp, miner, fp.stale_job_id)
        assert job is not None
        target = target_for_difficulty(miner.lowest_difficulty())
        solution = mine(job, miner.extranonce1, "00" * miner.extranonce2_size, target)
        params = [miner.username, job.job_id, solution.extranonce2, solution.ntime, solution.nonce]
        accepted, error = sessions.submit(fp, miner, params, sessions.EXPECT_STALE)
        self.assertFalse(accepted)
        assert error is not None
        self.assertEqual(error.code, 21)


class HarnessTests(SynchronousTestCase):
    """The checks catch what they are for, and fuzz/run.py reads libFuzzer's output."""

    def test_internal_error_reply_is_a_finding(self) -> None:
        """a reply carrying "Internal error" (an unexpected exception) fails the line check"""
        with self.assertRaises(harness.InvariantViolation):
            harness.check_line(b'{"id":1,"result":null,"error":[20,"Internal error",null]}\n')

    def test_reply_shape_is_checked(self) -> None:
        """a reply without "error", or not JSON, or without its newline fails the line check"""
        for line in (b'{"id":1,"result":true}\n', b"{oops}\n", b'{"id":1,"result":1,"error":null}'):
            with self.assertRaises(harness.InvariantViolation):
                harness.check_line(line)
        self.assertEqual(harness.check_line(b'{"id":1,"result":true,"error":null}\n')["id"], 1)

    def test_split_choice(self) -> None:
        """a first byte below 0x80 feeds the input whole; from 0x80 up it picks the cut"""
        self.assertEqual(harness.split_choice(b'{"id":1}'), (b'{"id":1}', None))
        self.assertEqual(harness.split_choice(b"\x80abcd"), (b"abcd", 0))
        self.assertEqual(harness.split_choice(b"\xffabcd"), (b"abcd", 4))

    def test_parse_log(self) -> None:
        """run.py takes executions from the final stats and coverage from the last status line"""
        log = (
            "#2\tINITED cov: 10 ft: 11 corp: 1/1b exec/s: 0 rss: 80Mb\n"
            "#4096\tpulse  cov: 50 ft: 60 corp: 7/90b lim: 4 exec/s: 2048 rss: 81Mb\n"
            "#5000\tDONE   cov: 52 ft: 63 corp: 8/99b lim: 4 exec/s: 2500 rss: 81Mb\n"
            "stat::number_of_executed_units: 5000\n"
        )
        outcome = parse_log("address", log, 0, 2.0)
        self.assertEqual(
            (outcome.executions, outcome.coverage, outcome.features, outcome.corpus),
            (5000, 52, 63, 8),
        )
        self.assertFalse(outcome.crashed)
        self.assertIn("| address | 5,000 | 52 | 63 | 8 | 2 | 2,500 | ok |", table([outcome]))

    def test_parse_log_crash(self) -> None:
        """a non-zero exit is a crash, reported with the artifact libFuzzer wrote"""
        log = "artifact_prefix='a/'; Test unit written to a/crash-123\n"
        outcome = parse_log("submit", log, 1, 1.0)
        self.assertTrue(outcome.crashed)
        self.assertIn("CRASH (a/crash-123)", table([outcome]))

"""The pool's mining events: every type, produced by real Stratum traffic, matching the schema."""

from __future__ import annotations

from typing import Any

from twisted.trial.unittest import SynchronousTestCase

from tbgpool.difficulty import target_for_difficulty
from tbgpool.events.validate import validate_event
from tbgpool.pool import HASHRATE_EVENT_INTERVAL_S
from tbgpool.stratum.errors import StratumError
from tbgpool.testing import make_template, mine
from tests.helpers import REGTEST_P2WPKH, PoolHarness, last_difficulty, last_job

HARD_BITS = 0x1E00FFFF
EASY_BITS = 0x207FFFFF


def envelope(event_type: str, data: dict[str, Any], seq: int = 1) -> dict[str, Any]:
    """``data`` wrapped as the emitter wraps it, for schema validation."""
    return {"event": event_type, "timestamp": 1_700_000_000_000_000, "instance": "test",
            "seq": seq, "data": data}


class PoolEventsTestCase(SynchronousTestCase):
    """A pool with a recording event sink and one working, version-rolling miner."""

    bits = HARD_BITS

    def setUp(self) -> None:
        self.harness = PoolHarness(self.mktemp())
        self.events = self.harness.events
        self.harness.source.push(
            make_template(bits=self.bits, curtime=int(self.harness.clock.seconds()))
        )
        self.session, self.connection, self.extranonce1, _ = self.harness.working_session(
            REGTEST_P2WPKH + ".rig1", configure_mask="1fffe000"
        )

    def tearDown(self) -> None:
        for recorded in self.events.events:
            validate_event(envelope(recorded.event_type, recorded.data))

    def submit_share(self, version_bits: int | None = None, extranonce2: str = "00" * 8) -> Any:
        """Mine and submit a real share on the newest job."""
        job = last_job(self.connection)
        target = target_for_difficulty(last_difficulty(self.connection))
        solution = mine(job, self.extranonce1, extranonce2, target, version_bits=version_bits)
        params = [REGTEST_P2WPKH + ".rig1", job.job_id, solution.extranonce2, solution.ntime,
                  solution.nonce]
        if solution.version_bits is not None:
            params.append(solution.version_bits)
        return self.harness.request(self.session, "mining.submit", *params)


class ConnectionEventTests(PoolEventsTestCase):
    """miner_connected, diff_updated and miner_disconnected follow the connection's life."""

    def test_connected(self) -> None:
        """authorize emits miner_connected with the address, worker, ip and start difficulty"""
        [event] = self.events.of_type("miner_connected")
        self.assertEqual(event["user"], REGTEST_P2WPKH)
        self.assertEqual(event["worker"], "rig1")
        self.assertEqual(event["ip"], "127.0.0.1")
        self.assertEqual(event["session_id"], self.extranonce1)
        self.assertEqual(event["diff"], last_difficulty(self.connection))

    def test_initial_difficulty(self) -> None:
        """the first set_difficulty is a diff_updated from null"""
        [event] = self.events.of_type("diff_updated")
        self.assertIsNone(event["old_diff"])
        self.assertEqual(event["new_diff"], last_difficulty(self.connection))

    def test_difficulty_change(self) -> None:
        """a suggested difficulty that changes the target emits old and new"""
        before = last_difficulty(self.connection)
        self.harness.request(self.session, "mining.suggest_difficulty", before * 4)
        event = self.events.of_type("diff_updated")[-1]
        self.assertEqual((event["old_diff"], event["new_diff"]), (before, before * 4))

    def test_disconnected(self) -> None:
        """a closed connection reports its duration and share counts per worker"""
        self.submit_share()
        self.harness.clock.advance(42)
        self.session.connection_lost()
        [event] = self.events.of_type("miner_disconnected")
        self.assertEqual(event["worker"], "rig1")
        self.assertEqual(event["shares_accepted"], 1)
        self.assertEqual(event["shares_rejected"], 0)
        self.assertAlmostEqual(event["session_duration_s"], 42.0)

    def test_unauthorized_connection_is_silent(self) -> None:
        """a connection that never authorized emits nothing when it closes"""
        session, _ = self.harness.connect()
        self.harness.request(session, "mining.subscribe")
        before = len(self.events.events)
        session.connection_lost()
        self.assertEqual(len(self.events.events), before)


class ShareEventTests(PoolEventsTestCase):
    """share_submitted for every submit, share_best_diff and asicboost_detected."""

    def test_accepted_share(self) -> None:
        """an accepted share carries its job, nonces, difficulties and version"""
        self.submit_share()
        [event] = self.events.of_type("share_submitted")
        job = last_job(self.connection)
        self.assertTrue(event["valid"])
        self.assertIsNone(event["reason"])
        self.assertEqual(event["job_id"], job.job_id)
        self.assertEqual(event["height"], 200)
        self.assertEqual(event["diff"], last_difficulty(self.connection))
        self.assertGreaterEqual(event["share_diff"], event["diff"])
        self.assertEqual(event["version"], job.version)
        self.assertFalse(event["block"])

    def test_validated_at_is_passed(self) -> None:
        """the share event carries the moment of validation for the latency histogram"""
        self.submit_share()
        recorded = [e for e in self.events.events if e.event_type == "share_submitted"]
        self.assertEqual(recorded[0].validated_at, self.harness.clock.seconds())

    def test_rejected_share(self) -> None:
        """a duplicate is reported with valid false and its reason"""
        job = last_job(self.connection)
        target = target_for_difficulty(last_difficulty(self.connection))
        solution = mine(job, self.extranonce1, "00" * 8, target)
        params = [REGTEST_P2WPKH + ".rig1", job.job_id, solution.extranonce2, solution.ntime,
                  solution.nonce]
        self.harness.request(self.session, "mining.submit", *params)
        self.assertRaises(StratumError, self.harness.request, self.session, "mining.submit", *params)
        events = self.events.of_type("share_submitted")
        self.assertEqual([e["valid"] for e in events], [True, False])
        self.assertEqual(events[1]["reason"], "duplicate")

    def test_malformed_submit(self) -> None:
        """a submit with a bad job id is reported with what could be read"""
        self.assertRaises(StratumError, self.harness.request, self.session, "mining.submit",
                          REGTEST_P2WPKH + ".rig1", "zz", "00" * 8, "00000000", "00000000")
        [event] = self.events.of_type("share_submitted")
        self.assertEqual(event["reason"], "bad_job_id")
        self.assertIsNone(event["share_diff"])
        self.assertIsNone(event["job_id"])

    def test_best_diff(self) -> None:
        """the first share is a session best; a later one only when it beats it"""
        self.submit_share()
        self.submit_share(extranonce2="00" * 7 + "01")
        bests = self.events.of_type("share_best_diff")
        shares = self.events.of_type("share_submitted")
        self.assertEqual(bests[0]["diff"], shares[0]["share_diff"])
        self.assertIsNone(bests[0]["previous"])
        self.assertTrue(bests[0]["user_best_ever"])
        expected = 2 if shares[1]["share_diff"] > shares[0]["share_diff"] else 1
        self.assertEqual(len(bests), expected)

    def test_asicboost_once(self) -> None:
        """the first share with rolled version bits is reported, once per connection"""
        self.submit_share()
        self.assertEqual(self.events.of_type("asicboost_detected"), [])
        self.submit_share(version_bits=0x00ABE000)
        self.submit_share(version_bits=0x00002000, extranonce2="00" * 7 + "02")
        [event] = self.events.of_type("asicboost_detected")
        self.assertEqual(event["version_bits"], "00abe000")
        self.assertEqual(event["version_mask"], "1fffe000")


class ChainEventTests(PoolEventsTestCase):
    """new_block_network on a new tip; block_found once the node answers."""

    bits = EASY_BITS

    def test_new_block_network(self) -> None:
        """each new previous hash is reported with the tip's height and hash"""
        self.harness.source.push(make_template(height=201, previous_block_hash="22" * 32,
                                               bits=HARD_BITS))
        events = self.events.of_type("new_block_network")
        self.assertEqual([(e["height"], e["hash"]) for e in events],
                         [(199, "11" * 32), (200, "22" * 32)])
        self.assertEqual(events[-1]["next_height"], 201)

    def test_refresh_is_not_a_new_block(self) -> None:
        """a refreshed template on the same tip emits nothing"""
        self.harness.source.push(make_template(bits=HARD_BITS, transactions=5))
        self.assertEqual(len(self.events.of_type("new_block_network")), 1)

    def test_block_found(self) -> None:
        """a block share is reported with the node's verdict, height, hash and reward"""
        self.submit_share()
        [event] = self.events.of_type("block_found")
        [share] = self.events.of_type("share_submitted")
        self.assertTrue(share["block"])
        self.assertTrue(event["accepted"])
        self.assertIsNone(event["result"])
        self.assertEqual(event["height"], 200)
        self.assertEqual(event["hash"], self.harness.pool.outcomes[0].block.block_hash)
        self.assertEqual(event["reward"], 5_000_000_000)
        self.assertEqual(event["ip"], "127.0.0.1")

    def test_rejected_block(self) -> None:
        """a block the node rejects is reported with accepted false and Core's reason"""
        self.harness.source.answers.append("bad-txnmrklroot")
        self.submit_share()
        [event] = self.events.of_type("block_found")
        self.assertFalse(event["accepted"])
        self.assertEqual(event["result"], "bad-txnmrklroot")


class HashrateEventTests(PoolEventsTestCase):
    """hashrate_update per worker, once per interval."""

    def test_periodic(self) -> None:
        """each working worker gets a hashrate update every interval, not more often"""
        self.submit_share()
        self.submit_share(extranonce2="00" * 7 + "01")
        clock, pool = self.harness.clock, self.harness.pool
        clock.advance(HASHRATE_EVENT_INTERVAL_S - 1)
        pool.tick()
        self.assertEqual(self.events.of_type("hashrate_update"), [])
        clock.advance(1)
        pool.tick()
        pool.tick()
        [event] = self.events.of_type("hashrate_update")
        self.assertEqual((event["user"], event["worker"]), (REGTEST_P2WPKH, "rig1"))
        self.assertEqual(event["shares_accepted"], 2)
        self.assertGreater(event["hashrate_1m"], 0)


class IncludeFilterTests(SynchronousTestCase):
    """Types left out of events.include are not even built."""

    def test_excluded_types(self) -> None:
        """with only block_found included, a share produces no other event"""
        harness = PoolHarness(self.mktemp())
        harness.events.include = ("block_found",)
        harness.source.push(make_template(bits=HARD_BITS))
        harness.working_session()
        self.assertEqual(harness.events.events, [])


class OrderTests(PoolEventsTestCase):
    """A share's own event comes before what it caused."""

    def test_share_before_best(self) -> None:
        """share_submitted precedes the share_best_diff it triggers"""
        self.submit_share()
        types = [e.event_type for e in self.events.events]
        self.assertLess(types.index("share_submitted"), types.index("share_best_diff"))

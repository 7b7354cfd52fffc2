"""The Stratum session state machine: every method, every error path, real proof of work."""

from __future__ import annotations

from twisted.trial.unittest import SynchronousTestCase

from tbgpool.difficulty import bits_to_target, difficulty_for_target, target_for_difficulty
from tbgpool.stratum.errors import StratumError
from tbgpool.testing import make_template, mine
from tests.helpers import (
    REGTEST_P2WPKH,
    REGTEST_P2WPKH_SCRIPT,
    PoolHarness,
    last_difficulty,
    last_job,
)

#: A network target hard enough that test shares are (almost) never blocks.
HARD_BITS = 0x1E00FFFF


class SessionTestCase(SynchronousTestCase):
    """A pool harness with one template already delivered."""

    bits = HARD_BITS

    def setUp(self) -> None:
        self.harness = PoolHarness(self.mktemp())
        self.template = make_template(bits=self.bits, curtime=int(self.harness.clock.seconds()))
        self.harness.source.push(self.template)

    def assertStratumError(self, code: int, method: str, *params: object,
                           session: object = None) -> StratumError:
        """The request fails with this Stratum error code."""
        target = session if session is not None else self.session
        error = self.assertRaises(StratumError, self.harness.request, target, method, *params)
        self.assertEqual(error.code, code, error.message)
        return error


class SubscribeTests(SessionTestCase):
    """mining.subscribe hands out a unique extranonce1 and can resume a session."""

    def test_reply_shape(self) -> None:
        """[[[set_difficulty, id], [notify, id]], extranonce1, extranonce2 size]"""
        session, _ = self.harness.connect()
        result = self.harness.request(session, "mining.subscribe", "cgminer/4.12")
        subscriptions, extranonce1, size = result
        self.assertEqual(subscriptions, [["mining.set_difficulty", extranonce1],
                                         ["mining.notify", extranonce1]])
        self.assertEqual(len(bytes.fromhex(extranonce1)), 4)
        self.assertEqual(size, 8)
        self.assertEqual(session.user_agent, "cgminer/4.12")

    def test_unique_extranonce(self) -> None:
        """no two live sessions share an extranonce1"""
        seen = set()
        for _ in range(200):
            session, _ = self.harness.connect()
            seen.add(self.harness.request(session, "mining.subscribe")[1])
        self.assertEqual(len(seen), 200)

    def test_resume(self) -> None:
        """a reconnecting miner passing its session id gets its extranonce1 back"""
        session, _ = self.harness.connect()
        extranonce1 = self.harness.request(session, "mining.subscribe", "cgminer")[1]
        session.connection_lost()
        other, _ = self.harness.connect()
        self.assertNotEqual(self.harness.request(other, "mining.subscribe")[1], extranonce1)
        again, _ = self.harness.connect()
        self.assertEqual(self.harness.request(again, "mining.subscribe", "cgminer", extranonce1)[1],
                         extranonce1)

    def test_resume_of_live_session_refused(self) -> None:
        """a session id still in use is not handed to a second connection"""
        session, _ = self.harness.connect()
        extranonce1 = self.harness.request(session, "mining.subscribe")[1]
        thief, _ = self.harness.connect()
        self.assertNotEqual(self.harness.request(thief, "mining.subscribe", "x", extranonce1)[1],
                            extranonce1)

    def test_repeated_subscribe_is_idempotent(self) -> None:
        """a second subscribe on one connection gets the same extranonce1"""
        session, _ = self.harness.connect()
        first = self.harness.request(session, "mining.subscribe")
        self.assertEqual(self.harness.request(session, "mining.subscribe"), first)

    def test_hostile_user_agent(self) -> None:
        """a user agent with control characters is kept printable and bounded"""
        session, _ = self.harness.connect()
        self.harness.request(session, "mining.subscribe", "evil\x00\n\x1b[31m" + "A" * 1000)
        self.assertTrue(session.user_agent.isprintable())
        self.assertLessEqual(len(session.user_agent), 256)


class AuthorizeTests(SessionTestCase):
    """mining.authorize takes ADDRESS[.WORKER] for the node's network."""

    def setUp(self) -> None:
        super().setUp()
        self.session, self.connection = self.harness.connect()
        self.harness.request(self.session, "mining.subscribe")

    def test_upper_case_bech32_is_one_user(self) -> None:
        """an upper-case bech32 address is the same miner as its lower-case spelling"""
        session, _ = self.harness.connect()
        self.harness.request(session, "mining.subscribe")
        self.assertIs(self.harness.request(session, "mining.authorize",
                                           REGTEST_P2WPKH.upper() + ".a", "x"), True)
        self.assertEqual(session.address, REGTEST_P2WPKH)
        self.assertIs(self.harness.request(session, "mining.authorize",
                                           REGTEST_P2WPKH + ".b", "x"), True)

    def test_authorize_starts_work(self) -> None:
        """a valid address authorizes, then set_difficulty and a clean notify follow"""
        self.assertIs(self.harness.request(self.session, "mining.authorize",
                                           REGTEST_P2WPKH + ".rig-1", "x"), True)
        self.assertEqual(self.session.payout_script, REGTEST_P2WPKH_SCRIPT)
        methods = [m["method"] for m in self.connection.messages()]
        self.assertEqual(methods, ["mining.set_difficulty", "mining.notify"])
        job = last_job(self.connection)
        self.assertTrue(job.clean)
        self.assertIn(REGTEST_P2WPKH_SCRIPT.hex(), job.coinb2)

    def test_bad_checksum(self) -> None:
        """an address with a broken checksum is refused with a clear error"""
        error = self.assertStratumError(24, "mining.authorize", REGTEST_P2WPKH[:-1] + "q", "x")
        self.assertIn("Invalid payout address", error.message)
        self.assertEqual(self.connection.lines, [])

    def test_wrong_network(self) -> None:
        """a mainnet address on a regtest pool is refused"""
        error = self.assertStratumError(24, "mining.authorize",
                                        "bc1qw508d6qejxtdg4y5r3zarvary0c5xw7kv8f3t4", "x")
        self.assertIn("regtest", error.message)

    def test_bad_worker_name(self) -> None:
        """worker names outside [A-Za-z0-9_.-] are refused"""
        self.assertStratumError(20, "mining.authorize", REGTEST_P2WPKH + ".rig<script>", "x")

    def test_non_string_username(self) -> None:
        """a username that is not a string is refused"""
        self.assertStratumError(20, "mining.authorize", 12345, "x")
        self.assertStratumError(20, "mining.authorize")

    def test_second_worker_same_address(self) -> None:
        """several workers of one address may share a connection"""
        self.harness.request(self.session, "mining.authorize", REGTEST_P2WPKH + ".a", "x")
        self.assertIs(self.harness.request(self.session, "mining.authorize",
                                           REGTEST_P2WPKH + ".b", "x"), True)
        self.assertEqual(set(self.session.usernames), {REGTEST_P2WPKH + ".a", REGTEST_P2WPKH + ".b"})

    def test_second_address_refused(self) -> None:
        """a different payout address on the same connection is refused"""
        self.harness.request(self.session, "mining.authorize", REGTEST_P2WPKH, "x")
        self.assertStratumError(
            20, "mining.authorize", "bcrt1qrp33g0q5c5txsp9arysrx4k6zdkfs4nce4xj0gdcccefvpysxf3qzf4jry",
            "x")

    def test_no_work_yet(self) -> None:
        """before the first template the network is unknown and authorize says so"""
        harness = PoolHarness(self.mktemp())
        session, _ = harness.connect()
        error = self.assertRaises(StratumError, harness.request, session, "mining.authorize",
                                  REGTEST_P2WPKH, "x")
        self.assertEqual(error.code, 20)

    def test_password_difficulty(self) -> None:
        """a d=NUMBER password sets the starting difficulty"""
        self.harness.request(self.session, "mining.authorize", REGTEST_P2WPKH, "d=0.0005")
        self.assertEqual(last_difficulty(self.connection), 0.0005)


class PipelineTests(SessionTestCase):
    """Set-up works in any order, as firmware pipelines it."""

    def _setup_in_order(self, order: list[str]) -> list[str]:
        session, connection = self.harness.connect()
        steps = {
            "configure": ("mining.configure", ["version-rolling"], {"version-rolling.mask": "ffffffff"}),
            "subscribe": ("mining.subscribe", "bitaxe/2.4"),
            "authorize": ("mining.authorize", REGTEST_P2WPKH + ".bitaxe", "x"),
            "suggest": ("mining.suggest_difficulty", 0.001),
        }
        for name in order:
            method, *params = steps[name]
            self.harness.request(session, method, *params)
        self.assertEqual(session.version_mask, 0x1FFFE000)
        self.assertEqual(last_difficulty(connection), 0.001)
        return [m["method"] for m in connection.messages()]

    def test_bitaxe_order(self) -> None:
        """configure, subscribe, authorize, suggest_difficulty (Bitaxe)"""
        methods = self._setup_in_order(["configure", "subscribe", "authorize", "suggest"])
        self.assertEqual(methods[:2], ["mining.set_difficulty", "mining.notify"])
        self.assertEqual(methods[-1], "mining.set_difficulty")

    def test_old_firmware_order(self) -> None:
        """subscribe, suggest_difficulty, authorize, configure"""
        methods = self._setup_in_order(["subscribe", "suggest", "configure", "authorize"])
        self.assertEqual(methods, ["mining.set_difficulty", "mining.notify"])

    def test_authorize_before_subscribe(self) -> None:
        """authorize first: work starts when subscribe completes"""
        methods = self._setup_in_order(["authorize", "suggest", "configure", "subscribe"])
        self.assertEqual(methods, ["mining.set_difficulty", "mining.notify"])


class ConfigureTests(SessionTestCase):
    """mining.configure (BIP310)."""

    def setUp(self) -> None:
        super().setUp()
        self.session, _ = self.harness.connect()

    def test_intersection(self) -> None:
        """the mask granted is pool mask ∩ miner mask"""
        result = self.harness.request(self.session, "mining.configure", ["version-rolling"],
                                      {"version-rolling.mask": "f0ff0001"})
        self.assertEqual(result, {"version-rolling": True, "version-rolling.mask": "10ff0000"})

    def test_top_bits_never_granted(self) -> None:
        """a pool mask reaching into the top bits still never grants them"""
        harness = PoolHarness(self.mktemp(), version_mask="7fffffff")
        session, _ = harness.connect()
        result = harness.request(session, "mining.configure", ["version-rolling"],
                                 {"version-rolling.mask": "ffffffff"})
        self.assertEqual(result["version-rolling.mask"], "1fffffff")

    def test_min_bit_count(self) -> None:
        """a min-bit-count the intersection cannot meet turns rolling off, without disconnecting"""
        result = self.harness.request(
            self.session, "mining.configure", ["version-rolling"],
            {"version-rolling.mask": "00006000", "version-rolling.min-bit-count": 4})
        self.assertEqual(result, {"version-rolling": False})
        self.assertEqual(self.session.version_mask, 0)

    def test_unknown_extensions(self) -> None:
        """unknown extensions are answered false; minimum-difficulty is honoured"""
        result = self.harness.request(self.session, "mining.configure",
                                      ["subscribe-extranonce", "minimum-difficulty", "info"],
                                      {"minimum-difficulty.value": 2048})
        self.assertEqual(result, {"subscribe-extranonce": False, "minimum-difficulty": True,
                                  "info": False})
        self.assertEqual(self.session.suggested_difficulty, 2048)

    def test_bad_params(self) -> None:
        """non-list extensions are an error; a garbage mask grants nothing"""
        self.assertStratumError(20, "mining.configure", "version-rolling", session=self.session)
        result = self.harness.request(self.session, "mining.configure", ["version-rolling"],
                                      {"version-rolling.mask": "zz"})
        self.assertEqual(result, {"version-rolling": False})


class DifficultyTests(SessionTestCase):
    """Difficulty is a float, suggested by the miner, and never above the network's."""

    def test_suggest_fraction(self) -> None:
        """NerdMiner's 0.00015 is taken as it is, and repeating it sends nothing"""
        session, connection, _, _ = self.harness.working_session()
        self.harness.request(session, "mining.suggest_difficulty", 0.00015)
        self.assertEqual(last_difficulty(connection), 0.00015)
        count = len(connection.lines)
        self.harness.request(session, "mining.suggest_difficulty", 0.00015)
        self.assertEqual(len(connection.lines), count)

    def test_suggest_invalid(self) -> None:
        """zero, negative, NaN-like strings, bools and huge ints are refused"""
        session, _, _, _ = self.harness.working_session()
        for bad in (0, -1, "1000", True, None, 10**400):
            self.assertStratumError(20, "mining.suggest_difficulty", bad, session=session)

    def test_suggest_target(self) -> None:
        """suggest_target is turned into the equivalent difficulty"""
        session, connection, _, _ = self.harness.working_session()
        self.harness.request(session, "mining.suggest_target",
                             f"{target_for_difficulty(0.001):064x}")
        self.assertAlmostEqual(last_difficulty(connection), 0.001)

    def test_suggest_target_invalid(self) -> None:
        """a target that is not 32 bytes of hex, or is zero, is refused with code 20"""
        session, _, _, _ = self.harness.working_session()
        for bad in ("zz" * 32, "00" * 31, "0x" + "0" * 62, "00" * 32, 5):
            self.assertStratumError(20, "mining.suggest_target", bad, session=session)
        self.assertStratumError(20, "mining.suggest_target", session=session)

    def test_clamped_to_network(self) -> None:
        """on regtest the share difficulty never exceeds the network difficulty"""
        harness = PoolHarness(self.mktemp(), startdiff=1000, mindiff=1)
        harness.source.push(make_template())
        _, connection, _, _ = harness.working_session()
        network = difficulty_for_target(bits_to_target(0x207FFFFF))
        self.assertEqual(last_difficulty(connection), network)


class SubmitTests(SessionTestCase):
    """mining.submit's chain of checks, with real proof of work."""

    def setUp(self) -> None:
        super().setUp()
        self.session, self.connection, self.extranonce1, self.size = (
            self.harness.working_session(REGTEST_P2WPKH + ".w1", configure_mask="ffffffff"))
        self.job = last_job(self.connection)
        self.share_target = target_for_difficulty(last_difficulty(self.connection))

    def _share(self, extranonce2: str = "00" * 8, version_bits: int | None = None,
               start_nonce: int = 0):  # type: ignore[no-untyped-def]
        return mine(self.job, self.extranonce1, extranonce2, self.share_target,
                    version_bits=version_bits, start_nonce=start_nonce)

    def _submit(self, solution, username: str = REGTEST_P2WPKH + ".w1", **overrides):  # type: ignore[no-untyped-def]
        params = [username, self.job.job_id, solution.extranonce2, solution.ntime, solution.nonce]
        if solution.version_bits is not None:
            params.append(solution.version_bits)
        for index, value in overrides.items():
            params[int(index[1:])] = value
        return self.harness.request(self.session, "mining.submit", *params)

    def test_valid_share(self) -> None:
        """a real share meeting the target is accepted and credited"""
        self.assertIs(self._submit(self._share()), True)
        user = self.harness.stats.user(REGTEST_P2WPKH)
        assert user is not None
        self.assertEqual(user.shares_accepted, 1)

    def test_version_rolled_share(self) -> None:
        """a share with rolled version bits inside the mask is accepted"""
        self.assertIs(self._submit(self._share(version_bits=0x00ABE000)), True)

    def test_version_bits_outside_mask(self) -> None:
        """version bits outside the negotiated mask are an error"""
        solution = self._share()
        self.assertStratumError(20, "mining.submit", REGTEST_P2WPKH + ".w1", self.job.job_id,
                                solution.extranonce2, solution.ntime, solution.nonce, "00000001")

    def test_duplicate(self) -> None:
        """the same share twice is a duplicate (22)"""
        solution = self._share()
        self._submit(solution)
        error = self.assertRaises(StratumError, self._submit, solution)
        self.assertEqual(error.code, 22)

    def test_low_difficulty(self) -> None:
        """a hash that misses the share target is rejected with 23"""
        solution = self._share()
        nonce = int(solution.nonce, 16)
        # find a nonce that does NOT meet the target
        from tbgpool.testing import header_for, sha256d
        version = int(self.job.version, 16)
        while True:
            nonce += 1
            header = header_for(self.job, self.extranonce1, "00" * 8, nonce, version)
            if int.from_bytes(sha256d(header), "little") > self.share_target:
                break
        error = self.assertRaises(StratumError, self._submit, solution, p4=f"{nonce:08x}")
        self.assertEqual(error.code, 23)
        user = self.harness.stats.user(REGTEST_P2WPKH)
        assert user is not None
        self.assertEqual(user.shares_rejected, 1)

    def test_unknown_job(self) -> None:
        """an unknown job id is 21"""
        error = self.assertRaises(StratumError, self._submit, self._share(), p1="deadbeef")
        self.assertEqual(error.code, 21)

    def test_stale_job(self) -> None:
        """a share on a job of the previous tip is stale (21)"""
        solution = self._share()
        self.harness.source.push(make_template(bits=HARD_BITS, previous_block_hash="22" * 32,
                                               height=201, curtime=int(self.harness.clock.seconds())))
        error = self.assertRaises(StratumError, self._submit, solution)
        self.assertEqual((error.code, error.message), (21, "Stale"))

    def test_unauthorized_worker(self) -> None:
        """a worker not authorized on this connection is 24"""
        error = self.assertRaises(StratumError, self._submit, self._share(),
                                  username=REGTEST_P2WPKH + ".other")
        self.assertEqual(error.code, 24)

    def test_not_subscribed(self) -> None:
        """submit before subscribe is 25"""
        session, _ = self.harness.connect()
        self.assertStratumError(25, "mining.submit", "a", "1", "00" * 8, "00000000", "00000000",
                                session=session)

    def test_extranonce2_length(self) -> None:
        """extranonce2 must be exactly the announced size (Bitaxe's 4 bytes is refused)"""
        error = self.assertRaises(StratumError, self._submit, self._share(), p2="00000000")
        self.assertEqual(error.code, 20)
        self.assertIn("expected 8 bytes, got 4", error.message)

    def test_hex_formats(self) -> None:
        """every hex field is checked strictly before parsing"""
        solution = self._share()
        for field, bad in (("p2", "0x" + "0" * 14), ("p3", " 6553f10"), ("p3", "6553f10"),
                           ("p4", "+1234567"), ("p4", "1_234567"), ("p4", "123456789"),
                           ("p1", "g1"), ("p1", ""), ("p1", "123456789"), ("p3", 1234)):
            error = self.assertRaises(StratumError, self._submit, solution, **{field: bad})
            self.assertIn(error.code, (20, 21), (field, bad))

    def test_param_count(self) -> None:
        """fewer than 5 or more than 6 params is an error"""
        self.assertStratumError(20, "mining.submit", REGTEST_P2WPKH + ".w1", self.job.job_id)
        self.assertStratumError(20, "mining.submit", *(["x"] * 7))

    def test_ntime_window(self) -> None:
        """ntime before the template's mintime or far beyond the job's time is rejected"""
        solution = self._share()
        too_old = f"{self.template.mintime - 1:08x}"
        too_new = f"{int(self.job.ntime, 16) + 7001:08x}"
        for ntime in (too_old, too_new):
            error = self.assertRaises(StratumError, self._submit, solution, p3=ntime)
            self.assertEqual(error.message, "Ntime out of range")

    def test_old_difficulty_credit(self) -> None:
        """a share on a job sent before a difficulty rise is credited at the old difficulty"""
        old_difficulty = last_difficulty(self.connection)
        solution = self._share()
        self.harness.request(self.session, "mining.suggest_difficulty", old_difficulty * 1000)
        self.assertEqual(last_difficulty(self.connection), old_difficulty * 1000)
        credited: list[float] = []
        original = self.harness.pool.share_submitted
        self.harness.pool.share_submitted = (  # type: ignore[method-assign]
            lambda s, a, e: (credited.append(a.diff), original(s, a, e)))
        self._submit(solution)
        self.assertEqual(credited, [old_difficulty])

    def test_unknown_method(self) -> None:
        """an unknown method (mining.multi_version) is an error; the session stays usable"""
        self.assertStratumError(20, "mining.multi_version", 1)
        self.assertIs(self._submit(self._share()), True)

    def test_extranonce_subscribe(self) -> None:
        """mining.extranonce.subscribe answers true"""
        self.assertIs(self.harness.request(self.session, "mining.extranonce.subscribe"), True)


class BlockTests(SessionTestCase):
    """A share meeting the network target becomes a block paying the miner."""

    bits = 0x207FFFFF  # regtest: about every other hash is a block

    def test_block_submitted(self) -> None:
        """the block reaches the node with the coinbase paying the miner's script"""
        session, connection, extranonce1, _ = self.harness.working_session(REGTEST_P2WPKH + ".x")
        job = last_job(connection)
        solution = mine(job, extranonce1, "00" * 8, bits_to_target(self.bits))
        self.assertIs(self.harness.request(session, "mining.submit", REGTEST_P2WPKH + ".x",
                                           job.job_id, "00" * 8, solution.ntime, solution.nonce),
                      True)
        [block_hex] = self.harness.source.submitted
        block = bytes.fromhex(block_hex)
        self.assertEqual(block[:80], solution.header)
        self.assertIn(REGTEST_P2WPKH_SCRIPT, block)
        [outcome] = self.harness.pool.outcomes
        self.assertTrue(outcome.accepted)
        self.assertEqual(outcome.block.address, REGTEST_P2WPKH)
        self.assertEqual(outcome.block.worker, "x")

    def test_block_on_stale_job(self) -> None:
        """a block-meeting share on a stale job is still assembled and submitted"""
        session, connection, extranonce1, _ = self.harness.working_session()
        job = last_job(connection)
        solution = mine(job, extranonce1, "00" * 8, bits_to_target(self.bits))
        self.harness.source.push(make_template(previous_block_hash="33" * 32, height=201,
                                               curtime=int(self.harness.clock.seconds())))
        self.harness.request(session, "mining.submit", REGTEST_P2WPKH, job.job_id, "00" * 8,
                             solution.ntime, solution.nonce)
        self.assertEqual(len(self.harness.source.submitted), 1)


class VardiffSessionTests(SessionTestCase):
    """Vardiff acts through the session, and a reconnecting worker starts where it left off."""

    def _flood(self, session, connection, extranonce1: str, count: int) -> None:  # type: ignore[no-untyped-def]
        job = last_job(connection)
        target = target_for_difficulty(last_difficulty(connection))
        for i in range(count):
            self.harness.clock.advance(0.1)
            solution = mine(job, extranonce1, f"{i:016x}", target)
            self.harness.request(session, "mining.submit", REGTEST_P2WPKH, job.job_id,
                                 solution.extranonce2, solution.ntime, solution.nonce)

    def test_flood_raises_difficulty(self) -> None:
        """a miner far faster than the target share rate gets a higher difficulty quickly"""
        session, connection, extranonce1, _ = self.harness.working_session()
        start = last_difficulty(connection)
        self._flood(session, connection, extranonce1, 20)
        self.assertGreater(last_difficulty(connection), start)
        self.assertLessEqual(last_difficulty(connection),
                             difficulty_for_target(bits_to_target(HARD_BITS)))

    def test_reconnect_memory(self) -> None:
        """a worker that reconnects starts at the difficulty it had when it left"""
        session, connection, extranonce1, _ = self.harness.working_session()
        self._flood(session, connection, extranonce1, 20)
        learned = session.vardiff.difficulty if session.vardiff else None
        session.connection_lost()
        _, again, _, _ = self.harness.working_session()
        self.assertEqual(last_difficulty(again), learned)

    def test_idle_miner_difficulty_lowered(self) -> None:
        """a miner sending nothing has its difficulty lowered by the pool's housekeeping"""
        harness = PoolHarness(self.mktemp(), startdiff=0.001)
        harness.source.push(make_template(bits=HARD_BITS, curtime=int(harness.clock.seconds())))
        harness.pool.startService()
        self.addCleanup(harness.pool.stopService)
        _, connection, _, _ = harness.working_session()
        self.assertEqual(last_difficulty(connection), 0.001)
        harness.clock.pump([1.0] * 200)
        self.assertLess(last_difficulty(connection), 0.001)


class FutureWitnessTests(SessionTestCase):
    """Later witness versions decode (BIP350) and are accepted, with a loud warning."""

    def test_v2_address_warned(self) -> None:
        """a v2 witness address authorizes, its script is paid, and a warning is logged"""
        from twisted.logger import capturedLogs

        from tbgpool.testing import encode_segwit_address

        address = encode_segwit_address("bcrt", 2, bytes(range(16)))
        session, _ = self.harness.connect()
        self.harness.request(session, "mining.subscribe")
        with capturedLogs() as events:
            self.assertIs(self.harness.request(session, "mining.authorize", address, "x"), True)
        self.assertEqual(session.payout_script, b"\x52\x10" + bytes(range(16)))
        self.assertTrue(any("no spending rules" in e.get("log_format", "") for e in events))


class RolledTemplateBitsTests(SessionTestCase):
    """A template that sets a bit inside the rolling mask (Core's regtest sets bit 28)."""

    def setUp(self) -> None:
        self.harness = PoolHarness(self.mktemp())
        template = make_template(bits=HARD_BITS, curtime=int(self.harness.clock.seconds()))
        from dataclasses import replace

        self.template = replace(template, version=0x30000000)
        self.harness.source.push(self.template)

    def test_advertised_version_clears_rollable_bits(self) -> None:
        """miners are sent the version with the rollable bits cleared"""
        _, connection, _, _ = self.harness.working_session(configure_mask="ffffffff")
        self.assertEqual(last_job(connection).version, "20000000")

    def test_xor_and_replacement_conventions_agree(self) -> None:
        """ESP-Miner's XOR delta and BIP310's replacement bits give the same accepted header"""
        session, connection, extranonce1, _ = self.harness.working_session(
            configure_mask="ffffffff")
        job = last_job(connection)
        target = target_for_difficulty(last_difficulty(connection))
        solution = mine(job, extranonce1, "00" * 8, target, version_bits=0x00002000)
        job_version = int(job.version, 16)
        xor_delta = (job_version ^ 0x20002000) & 0x1FFFE000
        self.assertEqual(xor_delta, 0x00002000)
        self.assertIs(self.harness.request(session, "mining.submit", REGTEST_P2WPKH, job.job_id,
                                           solution.extranonce2, solution.ntime, solution.nonce,
                                           f"{xor_delta:08x}"), True)


class BoundsTests(SessionTestCase):
    """Per-connection and per-job state stays bounded; rejects land on the right worker."""

    def test_worker_cap(self) -> None:
        """one connection may authorize at most MAX_WORKERS_PER_CONNECTION usernames"""
        from tbgpool.stratum.session import MAX_WORKERS_PER_CONNECTION

        # A farm proxy authorizing hundreds of workers needs its address exempt from the
        # authorize rate limit (5 a minute per connection).
        self.harness = PoolHarness(self.mktemp(), rate_limits={"exempt": ["127.0.0.0/8"]})
        self.harness.source.push(self.template)
        session, _ = self.harness.connect()
        self.harness.request(session, "mining.subscribe")
        for i in range(MAX_WORKERS_PER_CONNECTION):
            self.harness.request(session, "mining.authorize", f"{REGTEST_P2WPKH}.w{i}", "x")
        error = self.assertRaises(StratumError, self.harness.request, session, "mining.authorize",
                                  f"{REGTEST_P2WPKH}.one-too-many", "x")
        self.assertIn("Too many workers", error.message)
        self.assertEqual(len(session.usernames), MAX_WORKERS_PER_CONNECTION)

    def test_low_difficulty_junk_not_remembered(self) -> None:
        """rejected shares do not grow the job's duplicate set"""
        session, connection, _, _ = self.harness.working_session()
        job = last_job(connection)
        for nonce in range(200):
            try:
                self.harness.request(session, "mining.submit", REGTEST_P2WPKH, job.job_id,
                                     "00" * 8, job.ntime, f"{nonce:08x}")
            except StratumError as e:
                self.assertEqual(e.code, 23)
        live = self.harness.pool.jobs.get(job.job_id)
        assert live is not None
        user = self.harness.stats.user(REGTEST_P2WPKH)
        assert user is not None
        self.assertEqual(len(live._seen), user.shares_accepted)

    def test_reject_charged_to_named_worker(self) -> None:
        """a rejected share counts against the worker named in the submit"""
        session, connection, _, _ = self.harness.working_session(REGTEST_P2WPKH + ".a")
        self.harness.request(session, "mining.authorize", REGTEST_P2WPKH + ".b", "x")
        job = last_job(connection)
        self.assertRaises(StratumError, self.harness.request, session, "mining.submit",
                          REGTEST_P2WPKH + ".b", job.job_id, "00", job.ntime, "00000000")
        user = self.harness.stats.user(REGTEST_P2WPKH)
        assert user is not None
        self.assertEqual(user.workers["b"].shares_rejected, 1)
        self.assertNotIn("a", {n for n, w in user.workers.items() if w.shares_rejected})

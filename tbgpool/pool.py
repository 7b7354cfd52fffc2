"""The pool's core: templates in, jobs out to every working session, shares credited, blocks out.

Plain and synchronous apart from its timers (on an injected clock); it knows
nothing of sockets. Stratum connections reach it through
:class:`~tbgpool.stratum.session.StratumSession`.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry
from twisted.application import service
from twisted.internet import defer
from twisted.internet.interfaces import IReactorTime
from twisted.internet.task import LoopingCall
from twisted.logger import Logger
from zope.interface import implementer

from tbgpool import pool_events
from tbgpool.blocks import BlockOutcome, BlockSubmitter, FoundBlock, assemble_block
from tbgpool.config import PoolConfig
from tbgpool.extranonce import ExtranonceAllocator
from tbgpool.interfaces import IEventSink, IMinerConnection, ITemplateConsumer, ITemplateSource
from tbgpool.jobs import Job, JobBook, PayoutWork
from tbgpool.limits import ConnectionGate, LimitLog
from tbgpool.metrics.instruments import PoolInstruments
from tbgpool.pool_events import NoEvents, ShareAttempt
from tbgpool.stats import StatsBook
from tbgpool.stratum.errors import StratumError
from tbgpool.stratum.session import StratumSession
from tbgpool.template import BlockTemplate
from tbgpool.vardiff import DifficultyMemory

#: How often the pool's housekeeping runs.
TICK_INTERVAL_S = 1.0
#: How often dirty user stats are written to disk.
STATS_SAVE_INTERVAL_S = 60.0
#: How often connections are checked against the set-up, idle and slow-reader timeouts.
TIMEOUT_SWEEP_INTERVAL_S = 5.0
#: How often each authorized worker's hashrate_update event goes out.
HASHRATE_EVENT_INTERVAL_S = 60.0


@implementer(ITemplateConsumer)
class Pool(service.Service):
    """Jobs from templates, sessions that mine them, and what their shares add up to."""

    _log = Logger()

    def __init__(
        self,
        clock: IReactorTime,
        config: PoolConfig,
        source: ITemplateSource,
        stats: StatsBook,
        submitter: BlockSubmitter,
        extranonce_start: int = 0,
        first_job_id: int = 1,
        instruments: PoolInstruments | None = None,
        events: IEventSink | None = None,
    ) -> None:
        self.clock = clock
        self.config = config
        self.source = source
        self.stats = stats
        self.submitter = submitter
        self.jobs = JobBook(
            config.btcsig.encode("ascii"),
            config.nonce1length + config.nonce2length,
            version_mask=config.version_mask,
            first_id=first_job_id,
        )
        self.extranonces = ExtranonceAllocator(clock, config.nonce1length, start=extranonce_start)
        self.memory = DifficultyMemory(clock, config.vardiff.reconnect_memory_ttl_s)
        self.sessions: set[StratumSession] = set()
        self.working: set[StratumSession] = set()
        self.network: str | None = None
        self.backend_connected = False
        self.outcomes: list[BlockOutcome] = []
        self.instruments = instruments or PoolInstruments(CollectorRegistry())
        self.events: IEventSink = events or NoEvents()
        #: When the newest template arrived (clock seconds).
        self.template_received_at = 0.0
        self._hashrate_events_at: dict[StratumSession, float] = {}
        #: Per-IP admission (connections per minute, concurrent connections).
        self.gate = ConnectionGate(config.rate_limits)
        #: Counts and logs (rate-limited) every limit hit.
        self.limit_log = LimitLog(clock, self.instruments)
        self._last_timeout_sweep = 0.0
        limits = config.rate_limits
        # Sweep often enough that the shortest timeout is kept to within half of itself.
        self._timeout_sweep_interval_s = min(
            TIMEOUT_SWEEP_INTERVAL_S,
            limits.subscribe_timeout_s / 2,
            limits.authorize_timeout_s / 2,
            limits.slow_reader_timeout_s / 2,
            limits.idle_timeout_s / 2 if limits.idle_timeout_s else TIMEOUT_SWEEP_INTERVAL_S,
        )
        self._last_vardiff_tick = 0.0
        self._last_stats_save = 0.0
        self._ready_waiters: list[defer.Deferred[None]] = []
        self._ticker = LoopingCall(self.tick)
        self._ticker.clock = clock

    # -- service ----------------------------------------------------------

    def startService(self) -> None:
        """Load stats, resubmit blocks left pending, start housekeeping."""
        super().startService()
        loaded = self.stats.load()
        self._log.info("loaded stats of {users} users", users=loaded)
        for d in self.submitter.resubmit_pending():
            d.addCallback(self._block_outcome)
        self._ticker.start(TICK_INTERVAL_S, now=False).addErrback(
            lambda f: self._log.failure("pool housekeeping stopped", f)
        )

    def stopService(self) -> None:
        """Stop housekeeping and write every user's stats."""
        super().stopService()
        if self._ticker.running:
            self._ticker.stop()
        self.stats.save_all()

    # -- templates in, jobs out ----------------------------------------------

    def whenReady(self) -> defer.Deferred[None]:
        """Fires once the pool has work to hand out (its first template arrived)."""
        if self.jobs.current is not None:
            return defer.succeed(None)
        d: defer.Deferred[None] = defer.Deferred()
        self._ready_waiters.append(d)
        return d

    def templateReceived(self, template: BlockTemplate) -> None:
        """Make a job of a new template and send it to every working session."""
        now = self.clock.seconds()
        self.network = template.network
        self.template_received_at = now
        previous = self.jobs.current
        job = self.jobs.add(template, now)
        if job.clean:
            self._log.info(
                "new block height {height} prev {previous}: clean job {job_id} to {miners} miners",
                height=template.height,
                previous=template.previous_block_hash,
                job_id=job.job_id,
                miners=len(self.working),
            )
        self.broadcast(job)
        new_tip = previous is None or (
            previous.template.previous_block_hash != template.previous_block_hash
        )
        if new_tip:
            if previous is not None:
                seen_at = self.source.tip_seen_at
                started = now if seen_at is None else min(now, seen_at)
                self.instruments.block_notify_latency_ms.observe(
                    (self.clock.seconds() - started) * 1000.0
                )
            if self.events.wants("new_block_network"):
                self.events.emit("new_block_network", pool_events.new_block_network(template))
        waiters, self._ready_waiters = self._ready_waiters, []
        for waiter in waiters:
            waiter.callback(None)

    def backendStatusChanged(self, connected: bool) -> None:
        """The node went away or came back; the pool keeps serving its current work meanwhile."""
        self.backend_connected = connected
        if connected:
            self._log.info("node connection restored")
        else:
            self._log.warn("node unreachable: serving current work until it returns")

    def broadcast(self, job: Job) -> None:
        """Send ``job`` to every working session."""
        for session in list(self.working):
            try:
                session.send_job(job)
            except Exception:
                self._log.failure("sending job {job_id} to {peer} failed",
                                  job_id=job.job_id, peer=session.connection.peer)

    def tick(self) -> None:
        """Housekeeping: keep jobs fresh, retarget idle miners, expire jobs, save stats."""
        now = self.clock.seconds()
        current = self.jobs.current
        if current is not None and now - current.created_at >= self.config.update_interval_s:
            # The node is slow or gone: reissue the current template with a newer ntime,
            # so miners never see more than update_interval of silence.
            template = current.template
            ntime = template.curtime + int(now - self.template_received_at)
            self.broadcast(self.jobs.add(template, now, ntime=ntime))
        self.jobs.expire(now)
        if now - self._last_vardiff_tick >= self.config.vardiff.retarget_interval_s:
            self._last_vardiff_tick = now
            for session in list(self.working):
                if session.vardiff is not None:
                    session.retarget(session.vardiff.tick(now))
            self.memory.prune()
        if now - self._last_timeout_sweep >= self._timeout_sweep_interval_s:
            self._last_timeout_sweep = now
            self.sweep_timeouts(now)
        if self.events.wants("hashrate_update"):
            self._hashrate_events(now)
        if now - self._last_stats_save >= STATS_SAVE_INTERVAL_S:
            self._last_stats_save = now
            try:
                self.stats.save_dirty()
            except OSError:
                self._log.failure("could not save user stats")

    def sweep_timeouts(self, now: float) -> None:
        """Close connections stuck before subscribe or authorize, idle, or not reading."""
        limits = self.config.rate_limits
        for session in list(self.sessions):
            if session.closed or session.hangup is not None:
                continue
            age_s = now - session.connected_at
            blocked_since = session.output_blocked_since
            if blocked_since is not None and now - blocked_since >= limits.slow_reader_timeout_s:
                self.limit_log.hit("slow_reader", session.ip, "aborted")
                session.hangup = "not reading"
                session.connection.abort("not reading what the pool sends")
            elif session.extranonce1 is None and age_s >= limits.subscribe_timeout_s:
                self._time_out(session, "subscribe_timeout", "no subscribe")
            elif session.address is None and age_s >= limits.authorize_timeout_s:
                self._time_out(session, "authorize_timeout", "no authorize")
            elif (
                limits.idle_timeout_s
                and session.address is not None
                and now - session.last_request_at >= limits.idle_timeout_s
            ):
                self._time_out(session, "idle_timeout", "idle")

    def _time_out(self, session: StratumSession, limit: str, why: str) -> None:
        self.limit_log.hit(limit, session.ip, "disconnected")
        session.hangup = why
        session.connection.disconnect(f"timed out: {why}")

    # -- sessions ---------------------------------------------------------------

    def new_session(self, connection: IMinerConnection) -> StratumSession:
        """A miner connected."""
        session = StratumSession(self, connection)
        self.sessions.add(session)
        return session

    def session_working(self, session: StratumSession) -> None:
        """A session completed set-up and gets every job from now on."""
        self.working.add(session)
        self._hashrate_events_at[session] = self.clock.seconds()

    def session_closed(self, session: StratumSession) -> None:
        """A miner went away."""
        self.sessions.discard(session)
        self.working.discard(session)
        self._hashrate_events_at.pop(session, None)
        if session.address is not None and self.events.wants("miner_disconnected"):
            now = self.clock.seconds()
            for worker in session.worker_counts:
                self.events.emit(
                    "miner_disconnected", pool_events.miner_disconnected(session, worker, now)
                )

    def worker_authorized(self, session: StratumSession, worker: str) -> None:
        """A worker was authorized on ``session``."""
        if self.events.wants("miner_connected"):
            self.events.emit("miner_connected", pool_events.miner_connected(session, worker))

    def difficulty_sent(
        self, session: StratumSession, previous: float | None, difficulty: float
    ) -> None:
        """``session`` was sent a new share difficulty."""
        if self.events.wants("diff_updated"):
            self.events.emit(
                "diff_updated",
                pool_events.diff_updated(session, session.worker, previous, difficulty),
            )

    def asicboost_detected(self, session: StratumSession, worker: str, rolled_bits: int) -> None:
        """The first share of ``session`` with rolled version bits arrived."""
        if self.events.wants("asicboost_detected"):
            self.events.emit(
                "asicboost_detected", pool_events.asicboost_detected(session, worker, rolled_bits)
            )

    def share_submitted(
        self, session: StratumSession, attempt: ShareAttempt, error: StratumError | None
    ) -> None:
        """Credit an accepted share, or count a rejected one; tell the event pipeline."""
        now = self.clock.seconds()
        if error is None:
            assert session.address is not None
            assert attempt.diff is not None and attempt.share_diff is not None
            self.instruments.share_accepted(attempt.diff, now)
            self.stats.share_accepted(
                session.address, attempt.worker, attempt.diff, attempt.share_diff
            )
        else:
            self.instruments.share_rejected(error.reason, now)
            self._log.debug(
                "share from {peer} worker {worker} rejected: {reason} ({message})",
                peer=session.connection.peer,
                worker=attempt.worker,
                reason=error.reason,
                message=error.message,
            )
            if session.address is not None:
                self.stats.share_rejected(session.address, attempt.worker, error.reason)
        if session.address is not None and self.events.wants("share_submitted"):
            self.events.emit(
                "share_submitted",
                pool_events.share_submitted(
                    session, attempt, None if error is None else error.reason
                ),
                validated_at=now,
            )
        if error is None:
            previous = session.best_diff
            assert attempt.share_diff is not None
            if previous is None or attempt.share_diff > previous:
                session.best_diff = attempt.share_diff
                self._best_share(session, attempt, previous)

    def _best_share(
        self, session: StratumSession, attempt: ShareAttempt, previous: float | None
    ) -> None:
        if not self.events.wants("share_best_diff"):
            return
        assert session.address is not None and attempt.share_diff is not None
        user = self.stats.user(session.address)
        best_ever = user is not None and attempt.share_diff >= user.best_ever
        self.events.emit(
            "share_best_diff",
            pool_events.share_best_diff(
                session, attempt.worker, attempt.share_diff, previous, best_ever, attempt.height
            ),
            validated_at=self.clock.seconds(),
        )

    def _hashrate_events(self, now: float) -> None:
        for session, last in list(self._hashrate_events_at.items()):
            if now - last < HASHRATE_EVENT_INTERVAL_S or session.address is None:
                continue
            self._hashrate_events_at[session] = now
            user = self.stats.user(session.address)
            if user is None:
                continue
            for name in session.worker_counts:
                worker = user.workers.get(name)
                if worker is None:
                    continue
                self.events.emit(
                    "hashrate_update",
                    pool_events.hashrate_update(
                        session.address, name, worker.hashrates(now), worker.shares_accepted,
                        worker.best_diff,
                    ),
                )

    # -- blocks -------------------------------------------------------------

    def block_found(
        self,
        session: StratumSession,
        job: Job,
        payout: PayoutWork,
        extranonce2: bytes,
        version: int,
        ntime: int,
        nonce: int,
        digest: bytes,
        share_difficulty: float,
        worker: str,
    ) -> None:
        """A share met the network target: assemble the block and hand it to the submitter."""
        assert session.extranonce1 is not None and session.address is not None
        template = job.template
        block_hash, block = assemble_block(
            coinbase=payout.coinb1 + session.extranonce1 + extranonce2 + payout.coinb2,
            branch=job.branch,
            version=version,
            prevhash=job.prevhash,
            ntime=ntime,
            bits=job.bits,
            nonce=nonce,
            transactions=[tx.data for tx in template.transactions],
            segwit=template.witness_commitment is not None,
        )
        if block_hash != digest[::-1].hex():
            self._log.critical(
                "assembled block hash {assembled} differs from the share hash {share}; "
                "submitting anyway",
                assembled=block_hash,
                share=digest[::-1].hex(),
            )
        found = FoundBlock(
            block_hash=block_hash,
            height=template.height,
            block_hex=block.hex(),
            address=session.address,
            worker=worker,
            share_difficulty=share_difficulty,
            network_difficulty=job.network_difficulty,
            job_id=job.job_id,
            found_at=self.clock.seconds(),
            coinbase_value=template.coinbase_value,
            ip=session.ip,
        )
        self.submitter.submit(found).addCallback(self._block_outcome)

    def _block_outcome(self, outcome: BlockOutcome) -> BlockOutcome:
        self.outcomes.append(outcome)
        del self.outcomes[:-100]
        if outcome.accepted:
            self.instruments.blocks_found.inc()
        if outcome.accepted and outcome.result in (None, "duplicate"):
            # "inconclusive" blocks are valid but off the best chain: no reset of the
            # best-share race for them.
            self.stats.block_found()
        if outcome.result != "pending" and self.events.wants("block_found"):
            self.events.emit("block_found", pool_events.block_found(outcome))
        return outcome

"""The pool's core: templates in, jobs out to every working session, shares credited, blocks out.

Plain and synchronous apart from its timers (on an injected clock); it knows
nothing of sockets. Stratum connections reach it through
:class:`~tbgpool.stratum.session.StratumSession`.
"""

from __future__ import annotations

from twisted.application import service
from twisted.internet import defer
from twisted.internet.interfaces import IReactorTime
from twisted.internet.task import LoopingCall
from twisted.logger import Logger
from zope.interface import implementer

from tbgpool.blocks import BlockOutcome, BlockSubmitter, FoundBlock, assemble_block
from tbgpool.config import PoolConfig
from tbgpool.extranonce import ExtranonceAllocator
from tbgpool.interfaces import IMinerConnection, ITemplateConsumer, ITemplateSource
from tbgpool.jobs import Job, JobBook, PayoutWork
from tbgpool.stats import StatsBook
from tbgpool.stratum.errors import StratumError
from tbgpool.stratum.session import StratumSession
from tbgpool.template import BlockTemplate
from tbgpool.vardiff import DifficultyMemory

#: How often the pool's housekeeping runs.
TICK_INTERVAL_S = 1.0
#: How often dirty user stats are written to disk.
STATS_SAVE_INTERVAL_S = 60.0


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
        self._template_seen_at = 0.0
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
        self._template_seen_at = now
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
            ntime = template.curtime + int(now - self._template_seen_at)
            self.broadcast(self.jobs.add(template, now, ntime=ntime))
        self.jobs.expire(now)
        if now - self._last_vardiff_tick >= self.config.vardiff.retarget_interval_s:
            self._last_vardiff_tick = now
            for session in list(self.working):
                if session.vardiff is not None:
                    session.retarget(session.vardiff.tick(now))
            self.memory.prune()
        if now - self._last_stats_save >= STATS_SAVE_INTERVAL_S:
            self._last_stats_save = now
            try:
                self.stats.save_dirty()
            except OSError:
                self._log.failure("could not save user stats")

    # -- sessions ---------------------------------------------------------------

    def new_session(self, connection: IMinerConnection) -> StratumSession:
        """A miner connected."""
        session = StratumSession(self, connection)
        self.sessions.add(session)
        return session

    def session_working(self, session: StratumSession) -> None:
        """A session completed set-up and gets every job from now on."""
        self.working.add(session)

    def session_closed(self, session: StratumSession) -> None:
        """A miner went away."""
        self.sessions.discard(session)
        self.working.discard(session)

    def share_accepted(
        self, session: StratumSession, worker: str, credited: float, share_difficulty: float
    ) -> None:
        """Credit an accepted share to its user and worker."""
        assert session.address is not None
        self.stats.share_accepted(session.address, worker, credited, share_difficulty)

    def share_rejected(self, session: StratumSession, worker: str, error: StratumError) -> None:
        """Count a rejected share against its user and worker, when there is one."""
        if session.address is not None:
            self.stats.share_rejected(session.address, worker, error.reason)

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
        )
        self.submitter.submit(found).addCallback(self._block_outcome)

    def _block_outcome(self, outcome: BlockOutcome) -> BlockOutcome:
        self.outcomes.append(outcome)
        del self.outcomes[:-100]
        if outcome.accepted and outcome.result in (None, "duplicate"):
            # "inconclusive" blocks are valid but off the best chain: no reset of the
            # best-share race for them.
            self.stats.block_found()
        return outcome

"""The validated configuration: frozen dataclasses, and the constants they are checked against."""

from __future__ import annotations

from dataclasses import dataclass, field

from tbgpool.difficulty import DIFF1_TARGET, bits_to_target
from tbgpool.vardiff import VardiffSettings

#: The ``btcd`` url that selects the in-process embedded chain instead of a node.
EMBEDDED_URL = "embedded"
#: Networks the embedded chain can call itself (only regtest is faithful).
EMBEDDED_NETWORKS = ("regtest", "signet", "test", "testnet4", "main")
#: Every event type the events socket can carry, in the spec's order.
EVENT_TYPES = (
    "share_submitted",
    "block_found",
    "miner_connected",
    "miner_disconnected",
    "diff_updated",
    "hashrate_update",
    "new_block_network",
    "share_best_diff",
    "asicboost_detected",
)
#: Longest pool tag (``btcsig``) in bytes; ckpool silently truncates to the same length.
BTCSIG_MAX_BYTES = 38
#: Consensus limit on a coinbase scriptSig.
COINBASE_SCRIPTSIG_MAX_BYTES = 100
#: Largest BIP34 height push (heights below 2**31: one push opcode and four bytes).
BIP34_HEIGHT_PUSH_MAX_BYTES = 5
#: The embedded chain's easiest difficulty: regtest's proof-of-work limit (bits 207fffff).
MIN_NETWORK_DIFFICULTY = DIFF1_TARGET / bits_to_target(0x207FFFFF)
#: The hardest expressible difficulty: the one whose target is 1.
MAX_NETWORK_DIFFICULTY = float(DIFF1_TARGET)


@dataclass(frozen=True)
class BackendConfig:
    """One Bitcoin Core node (``btcd`` entry), or the embedded chain."""

    url: str  #: "host:port", "http://host:port[/path]", or "embedded"
    user: str | None = None  #: key "auth"
    password: str | None = None  #: key "pass"
    cookie: str | None = None  #: key "cookie": path to Core's .cookie file
    notify: bool = True  #: key "notify": this node's ZMQ notifications are used
    timeout_s: float = 10.0  #: key "timeout"

    @property
    def is_embedded(self) -> bool:
        """Whether this entry selects the in-process embedded chain."""
        return self.url == EMBEDDED_URL


@dataclass(frozen=True)
class EmbeddedConfig:
    """Settings of the in-process embedded chain (top-level key "embedded")."""

    network: str = "regtest"
    difficulty: float | None = None  #: None = regtest's own (bits 207fffff)
    block_interval_s: float = 0.0  #: key "block_interval"; 0 = no "network" blocks
    rpc_port: int | None = None  #: also serve the chain as JSON-RPC on 127.0.0.1:port
    seed: int = 0


@dataclass(frozen=True)
class EventsConfig:
    """The event stream on a Unix socket (ckpool events compatible)."""

    enabled: bool = False
    socket_path: str = "/var/run/ckpool/events.sock"
    include: tuple[str, ...] = EVENT_TYPES


@dataclass(frozen=True)
class MetricsConfig:
    """The Prometheus metrics HTTP endpoint."""

    enabled: bool = False
    port: int = 9100
    path: str = "/metrics"
    bind: str = "127.0.0.1"


@dataclass(frozen=True)
class RateLimitsConfig:
    """Per-IP connection and per-connection message limits."""

    connections_per_ip_per_minute: int = 10
    max_connections_per_ip: int = 50
    subscribes_per_minute: int = 3
    authorizes_per_minute: int = 5
    max_shares_per_minute: int = 1000
    max_invalid_shares_per_minute: int = 100
    submit_ban_s: float = 300.0  #: key "submit_ban": soft ban after too many submits
    subscribe_timeout_s: float = 60.0  #: key "subscribe_timeout": connect to subscribe
    authorize_timeout_s: float = 120.0  #: key "authorize_timeout": connect to authorize
    idle_timeout_s: float = 3600.0  #: key "idle_timeout": no request for this long; 0 = never
    slow_reader_timeout_s: float = 30.0  #: key "slow_reader_timeout": output backed up this long
    exempt: tuple[str, ...] = ()  #: networks in CIDR form, normalised


@dataclass(frozen=True)
class TLSConfig:
    """The certificate and key of the ``tls://`` Stratum listeners (top-level key "tls")."""

    certificate: str  #: PEM file: the server's certificate first, then its issuers
    private_key: str  #: PEM file: the certificate's unencrypted private key
    handshake_timeout_s: float = 10.0  #: key "handshake_timeout": connect to handshake done


@dataclass(frozen=True)
class PoolConfig:
    """The whole validated pool configuration."""

    btcd: tuple[BackendConfig, ...]
    embedded: EmbeddedConfig = field(default_factory=EmbeddedConfig)
    btcsig: str = "/tbgpool/"
    blockpoll_ms: int = 100
    serverurl: tuple[str, ...] = ("127.0.0.1:3333",)
    update_interval_s: float = 30.0
    version_mask: int = 0x1FFFE000
    mindiff: float = 1.0
    startdiff: float = 42.0
    maxdiff: float = 0.0
    nonce1length: int = 4
    nonce2length: int = 8
    logdir: str = "logs"
    zmqblock: str | None = None
    maxclients: int = 100000
    donation: float = 0.0
    vardiff: VardiffSettings = field(default_factory=VardiffSettings)
    events: EventsConfig = field(default_factory=EventsConfig)
    metrics: MetricsConfig = field(default_factory=MetricsConfig)
    rate_limits: RateLimitsConfig = field(default_factory=RateLimitsConfig)
    #: networks (CIDR, normalised) whose connections start with a PROXY protocol header
    trusted_proxies: tuple[str, ...] = ()
    #: certificate and key of the tls:// listeners; None when there are none
    tls: TLSConfig | None = None

    @property
    def uses_embedded_chain(self) -> bool:
        """Whether work comes from the embedded chain rather than Bitcoin Core."""
        return self.btcd[0].is_embedded


def coinbase_scriptsig_max_bytes(btcsig_bytes: int, nonce1length: int, nonce2length: int) -> int:
    """Worst-case scriptSig length before any user tag: height, extranonce and pool-tag pushes."""
    return BIP34_HEIGHT_PUSH_MAX_BYTES + 1 + nonce1length + nonce2length + 1 + btcsig_bytes

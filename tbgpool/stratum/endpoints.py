"""The Stratum listener services: each serverurl entry with its stack of protocol layers.

For every listener the factory stack is, outside in: the PROXY protocol reader when
``trusted_proxies`` is set (it only parses connections from those networks), TLS
with the handshake deadline for ``tls://`` entries, then the Stratum factory.
"""

from __future__ import annotations

import ipaddress
from typing import Any

from cryptography import x509
from twisted.application.internet import StreamServerEndpointService
from twisted.application.service import IService
from twisted.internet.endpoints import serverFromString
from twisted.internet.interfaces import IProtocolFactory
from twisted.internet.ssl import CertificateOptions
from twisted.logger import Logger

from tbgpool.config import PoolConfig, stratum_listeners
from tbgpool.stratum.proxy_protocol import ProxyProtocolFactory
from tbgpool.stratum.tls import LimitHit, tls_options, tls_server_factory

#: Warn at start-up when the TLS certificate expires sooner than this.
CERTIFICATE_WARNING_S = 14 * 86400

_log = Logger()


def _warn_if_expiring(options: CertificateOptions, now_s: float, path: str) -> None:
    """Log when the server certificate has expired or will soon; miners would refuse it."""
    if options.certificate is None:
        return
    certificate: x509.Certificate = options.certificate.to_cryptography()
    remaining_s = certificate.not_valid_after_utc.timestamp() - now_s
    if remaining_s <= 0:
        _log.error(
            "the TLS certificate {path} has expired: miners that check it cannot connect",
            path=path,
        )
    elif remaining_s < CERTIFICATE_WARNING_S:
        _log.warn(
            "the TLS certificate {path} expires in {days:.1f} days: renew it and restart",
            path=path,
            days=remaining_s / 86400,
        )


def listener_services(
    reactor: Any,
    config: PoolConfig,
    factory: IProtocolFactory,
    limit_hit: LimitHit | None = None,
) -> list[IService]:
    """One StreamServerEndpointService per serverurl entry, serving ``factory`` behind its layers.

    ``reactor`` provides the listening interfaces and IReactorTime (the handshake and
    PROXY header clocks); ``limit_hit(limit, host, action)`` is told of each
    connection cut for a missed deadline or a malformed PROXY header.
    """
    trusted = [ipaddress.ip_network(network) for network in config.trusted_proxies]
    options: CertificateOptions | None = None
    services: list[IService] = []
    for listener in stratum_listeners(config):
        stack: IProtocolFactory = factory
        if listener.tls:
            tls = config.tls
            if tls is None:
                raise ValueError("a tls:// listener needs config.tls (parse_config requires it)")
            if options is None:
                options = tls_options(tls.certificate, tls.private_key)
                _warn_if_expiring(options, reactor.seconds(), tls.certificate)
            stack = tls_server_factory(options, stack, reactor, tls.handshake_timeout_s, limit_hit)
        if trusted:
            stack = ProxyProtocolFactory(stack, trusted, reactor, limit_hit)
        endpoint = serverFromString(reactor, listener.endpoint)
        services.append(StreamServerEndpointService(endpoint, stack))
    return services

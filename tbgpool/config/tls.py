"""The ``tls`` section: the certificate chain and key of the ``tls://`` listeners, checked early.

The PEM files are read and parsed when the configuration is loaded, so a missing or
unreadable file, a chain in the wrong order, an encrypted key or a key that does not
match the certificate stops the pool (and ``tbgpool-check-config``) with a one-line
message naming the key, instead of failing every miner's handshake later.
"""

from __future__ import annotations

import os
import stat
from dataclasses import dataclass

from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.asymmetric.types import PublicKeyTypes
from OpenSSL import SSL, crypto

from tbgpool.config.checks import ABSENT, check_file_path, show
from tbgpool.config.keys import TLS_KEYS
from tbgpool.config.listeners import is_tls_listener
from tbgpool.config.model import TLSConfig
from tbgpool.config.section import Section
from tbgpool.errors import ConfigError

#: A certificate chain or key file is a few kilobytes; anything far larger is a wrong path.
MAX_PEM_FILE_BYTES = 1024 * 1024
#: The smallest RSA key accepted (NIST and the CA/Browser Forum's minimum).
MIN_RSA_KEY_BITS = 2048
#: Handshake deadline bounds and default, seconds.
HANDSHAKE_TIMEOUT_MIN_S = 1.0
HANDSHAKE_TIMEOUT_MAX_S = 120.0
HANDSHAKE_TIMEOUT_DEFAULT_S = 10.0

_CERTIFICATE_KEY = "tls.certificate"
_PRIVATE_KEY_KEY = "tls.private_key"


@dataclass(frozen=True)
class TLSCredentials:
    """A loaded server certificate, the rest of its chain and its key, as pyOpenSSL objects."""

    certificate: crypto.X509
    chain: tuple[crypto.X509, ...]
    private_key: crypto.PKey


def _read_pem_file(path: str, key: str) -> bytes:
    """The bytes of a PEM file; ConfigError naming ``key`` when it cannot be read."""
    try:
        # A FIFO or device would block or never end: only regular files are read.
        if not stat.S_ISREG(os.stat(path).st_mode):
            raise ConfigError(key, f"{show(path, 200)} is not a regular file")
        with open(path, "rb") as f:
            data = f.read(MAX_PEM_FILE_BYTES + 1)
    except OSError as e:
        reason = e.strerror or type(e).__name__
        raise ConfigError(key, f"cannot read {show(path, 200)}: {reason}") from None
    if len(data) > MAX_PEM_FILE_BYTES:
        raise ConfigError(key, f"{show(path, 200)} is larger than {MAX_PEM_FILE_BYTES} bytes")
    return data


def _load_certificates(path: str) -> list[x509.Certificate]:
    """The certificates of a PEM chain file, in file order, each issued by the next."""
    data = _read_pem_file(path, _CERTIFICATE_KEY)
    try:
        certificates = x509.load_pem_x509_certificates(data)
    except ValueError:
        raise ConfigError(
            _CERTIFICATE_KEY,
            f"{show(path, 200)} holds no valid PEM certificate "
            "(expected -----BEGIN CERTIFICATE----- blocks)",
        ) from None
    for index, (issued, issuer) in enumerate(zip(certificates, certificates[1:], strict=False)):
        try:
            issued.verify_directly_issued_by(issuer)
        except (ValueError, TypeError, InvalidSignature, UnsupportedAlgorithm):
            raise ConfigError(
                _CERTIFICATE_KEY,
                f"certificate {index + 2} in {show(path, 200)} did not issue certificate "
                f"{index + 1}: put the server's own certificate first, then each issuer in "
                "order (certbot's fullchain.pem is in this order)",
            ) from None
    return certificates


def _load_private_key(path: str) -> rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey:
    """An unencrypted RSA (2048 bits or more) or ECDSA private key from a PEM file."""
    data = _read_pem_file(path, _PRIVATE_KEY_KEY)
    try:
        key = serialization.load_pem_private_key(data, password=None)
    except TypeError:
        raise ConfigError(
            _PRIVATE_KEY_KEY,
            f"{show(path, 200)} is encrypted: the pool needs an unencrypted key file "
            "(protect it with file permissions instead)",
        ) from None
    except (ValueError, UnsupportedAlgorithm):
        raise ConfigError(
            _PRIVATE_KEY_KEY,
            f"{show(path, 200)} holds no valid PEM private key "
            "(expected -----BEGIN PRIVATE KEY----- or a BEGIN RSA/EC PRIVATE KEY block)",
        ) from None
    if isinstance(key, rsa.RSAPrivateKey):
        if key.key_size < MIN_RSA_KEY_BITS:
            raise ConfigError(
                _PRIVATE_KEY_KEY,
                f"an RSA key of {key.key_size} bits is too weak; use at least {MIN_RSA_KEY_BITS}",
            )
        return key
    if isinstance(key, ec.EllipticCurvePrivateKey):
        return key
    raise ConfigError(
        _PRIVATE_KEY_KEY,
        f"{show(path, 200)} holds a {type(key).__name__.removeprefix('_')} key; "
        "use an RSA (2048 bits or more) or ECDSA key, which every TLS 1.2 client accepts",
    )


def _public_key_bytes(key: PublicKeyTypes) -> bytes:
    """A public key as DER SubjectPublicKeyInfo, for comparing two keys."""
    return key.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def load_tls_credentials(certificate_path: str, key_path: str) -> TLSCredentials:
    """Load and cross-check the chain and key files; ConfigError naming tls.* if unusable."""
    certificates = _load_certificates(certificate_path)
    key = _load_private_key(key_path)
    if _public_key_bytes(certificates[0].public_key()) != _public_key_bytes(key.public_key()):
        raise ConfigError(
            _PRIVATE_KEY_KEY,
            f"{show(key_path, 200)} does not match the first certificate in "
            f"{show(certificate_path, 200)} (the server's own certificate must come first)",
        )
    credentials = TLSCredentials(
        certificate=crypto.X509.from_cryptography(certificates[0]),
        chain=tuple(crypto.X509.from_cryptography(c) for c in certificates[1:]),
        private_key=crypto.PKey.from_cryptography_key(key),
    )
    # Load the pair as the listener will, so OpenSSL's own checks (its security level's
    # minimum key sizes and signature digests) fail now rather than at the first handshake.
    context = SSL.Context(SSL.TLS_METHOD)
    try:
        context.use_certificate(credentials.certificate)
        context.use_privatekey(credentials.private_key)
        for extra in credentials.chain:
            context.add_extra_chain_cert(extra)
        context.check_privatekey()
    except SSL.Error as e:
        raise ConfigError(
            _CERTIFICATE_KEY, f"OpenSSL refuses the certificate or key: {e}"
        ) from None
    return credentials


def parse_tls(top: Section, serverurl: tuple[str, ...]) -> TLSConfig | None:
    """The ``tls`` section; required when a serverurl entry is ``tls://``, its files loaded."""
    tls_entries = [entry for entry in serverurl if is_tls_listener(entry)]
    if not top.present("tls"):
        if tls_entries:
            raise ConfigError(
                "tls",
                f"is required: serverurl has the TLS listener {show(tls_entries[0])}; give "
                '"certificate" and "private_key" (PEM files)',
            )
        return None
    section = top.section("tls", TLS_KEYS)
    paths: dict[str, str] = {}
    for name in ("certificate", "private_key"):
        value = section.get(name)
        if value is ABSENT:
            raise ConfigError(section.path(name), "is required (a PEM file)")
        paths[name] = check_file_path(value, section.path(name))
    handshake_timeout_s = section.number(
        "handshake_timeout",
        HANDSHAKE_TIMEOUT_DEFAULT_S,
        HANDSHAKE_TIMEOUT_MIN_S,
        HANDSHAKE_TIMEOUT_MAX_S,
    )
    load_tls_credentials(paths["certificate"], paths["private_key"])
    return TLSConfig(
        certificate=paths["certificate"],
        private_key=paths["private_key"],
        handshake_timeout_s=handshake_timeout_s,
    )

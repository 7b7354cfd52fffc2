"""Throw-away certificates for the TLS tests: a root CA, an intermediate CA and a server.

The server certificate (RSA 2048, so RSA key exchange suites would be possible if the
pool allowed them) is for ``pool.test`` and 127.0.0.1 and is issued by the intermediate,
so a client trusting only the root connects only if the pool sends the whole chain.
"""

from __future__ import annotations

import atexit
import datetime
import ipaddress
import os
import shutil
import tempfile
from dataclasses import dataclass
from functools import cache

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.x509.oid import NameOID

#: The name the server certificate is for.
SERVER_HOSTNAME = "pool.test"

_PrivateKey = rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey


@dataclass(frozen=True)
class ThrowawayPKI:
    """Paths of the PEM files written, and the root certificate to trust."""

    directory: str
    root_pem: bytes
    chain_path: str  #: server certificate, then the intermediate
    key_path: str  #: the server certificate's key
    leaf_only_path: str  #: the server certificate alone (no intermediate)
    reversed_chain_path: str  #: intermediate first: the wrong order
    other_key_path: str  #: an RSA key that matches nothing
    encrypted_key_path: str  #: the server key, encrypted with a passphrase
    weak_key_path: str  #: an RSA 1024 key
    ed25519_key_path: str  #: a key type the pool refuses
    not_pem_path: str  #: a file that is no PEM at all
    directory_path: str  #: a directory, where a file is expected


def _name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def _certificate(
    subject: str,
    key: _PrivateKey,
    issuer: str,
    issuer_key: _PrivateKey,
    is_ca: bool,
) -> x509.Certificate:
    """A certificate valid from yesterday for 30 days."""
    now = datetime.datetime.now(datetime.UTC)
    builder = (
        x509.CertificateBuilder()
        .subject_name(_name(subject))
        .issuer_name(_name(issuer))
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=30))
        .add_extension(x509.BasicConstraints(ca=is_ca, path_length=None), critical=True)
    )
    if is_ca:
        builder = builder.add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
    else:
        builder = builder.add_extension(
            x509.SubjectAlternativeName(
                [
                    x509.DNSName(SERVER_HOSTNAME),
                    x509.IPAddress(ipaddress.IPv4Address("127.0.0.1")),
                ]
            ),
            critical=False,
        )
    return builder.sign(issuer_key, hashes.SHA256())


def _pem(certificate: x509.Certificate) -> bytes:
    return certificate.public_bytes(serialization.Encoding.PEM)


def _key_pem(key: object, password: bytes | None = None) -> bytes:
    encryption: serialization.KeySerializationEncryption = (
        serialization.BestAvailableEncryption(password)
        if password
        else serialization.NoEncryption()
    )
    return key.private_bytes(  # type: ignore[attr-defined, no-any-return]
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, encryption
    )


def make_pki(directory: str) -> ThrowawayPKI:
    """Generate the CA, intermediate and server certificates and write their files."""
    root_key = ec.generate_private_key(ec.SECP256R1())
    root = _certificate("tbgpool test root", root_key, "tbgpool test root", root_key, True)
    intermediate_key = ec.generate_private_key(ec.SECP256R1())
    intermediate = _certificate(
        "tbgpool test intermediate", intermediate_key, "tbgpool test root", root_key, True
    )
    server_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    server = _certificate(
        SERVER_HOSTNAME, server_key, "tbgpool test intermediate", intermediate_key, False
    )
    files = {
        "chain.pem": _pem(server) + _pem(intermediate),
        "server.key": _key_pem(server_key),
        "leaf.pem": _pem(server),
        "reversed.pem": _pem(intermediate) + _pem(server),
        "other.key": _key_pem(rsa.generate_private_key(public_exponent=65537, key_size=2048)),
        "encrypted.key": _key_pem(server_key, b"passphrase"),
        "weak.key": _key_pem(rsa.generate_private_key(public_exponent=65537, key_size=1024)),
        "ed25519.key": _key_pem(ed25519.Ed25519PrivateKey.generate()),
        "not.pem": b"this is not a PEM file\n",
    }
    for name, data in files.items():
        with open(os.path.join(directory, name), "wb") as f:
            f.write(data)
    os.mkdir(os.path.join(directory, "a-directory"))
    path = lambda name: os.path.join(directory, name)  # noqa: E731
    return ThrowawayPKI(
        directory=directory,
        root_pem=_pem(root),
        chain_path=path("chain.pem"),
        key_path=path("server.key"),
        leaf_only_path=path("leaf.pem"),
        reversed_chain_path=path("reversed.pem"),
        other_key_path=path("other.key"),
        encrypted_key_path=path("encrypted.key"),
        weak_key_path=path("weak.key"),
        ed25519_key_path=path("ed25519.key"),
        not_pem_path=path("not.pem"),
        directory_path=path("a-directory"),
    )


@cache
def shared_pki() -> ThrowawayPKI:
    """One PKI per test process, in a temporary directory removed at exit."""
    directory = tempfile.mkdtemp(prefix="tbgpool-tls-test-")
    atexit.register(shutil.rmtree, directory, True)
    return make_pki(directory)

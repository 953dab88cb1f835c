"""Test-time certificates: a CA, a broker certificate for 127.0.0.1/localhost, a client certificate.

Made fresh for each test session with `cryptography`; nothing secret is committed.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID


@dataclass(frozen=True)
class CertFiles:
    ca: Path
    broker_keystore: Path  # PEM: private key + certificate chain
    client_cert: Path
    client_key: Path


def _name(cn: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])


def _cert(subject: str, key: ec.EllipticCurvePrivateKey, issuer: x509.Name, signer: ec.EllipticCurvePrivateKey,
          *, ca: bool = False, server: bool = False) -> x509.Certificate:
    now = dt.datetime.now(dt.UTC)
    builder = (x509.CertificateBuilder().subject_name(_name(subject)).issuer_name(issuer)
               .public_key(key.public_key()).serial_number(x509.random_serial_number())
               .not_valid_before(now - dt.timedelta(minutes=5)).not_valid_after(now + dt.timedelta(days=2))
               .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True))
    if server:
        builder = builder.add_extension(x509.SubjectAlternativeName(
            [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False)
    if not ca:
        usage = ExtendedKeyUsageOID.SERVER_AUTH if server else ExtendedKeyUsageOID.CLIENT_AUTH
        builder = builder.add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
    return builder.sign(signer, hashes.SHA256())


def make_certs(directory: Path) -> CertFiles:
    directory.mkdir(parents=True, exist_ok=True)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_cert = _cert("stream-filter test CA", ca_key, _name("stream-filter test CA"), ca_key, ca=True)
    pem = serialization.Encoding.PEM
    pkcs8 = serialization.PrivateFormat.PKCS8
    plain = serialization.NoEncryption()
    files = CertFiles(directory / "ca.pem", directory / "broker.pem", directory / "client.pem",
                      directory / "client.key")
    files.ca.write_bytes(ca_cert.public_bytes(pem))
    broker_key = ec.generate_private_key(ec.SECP256R1())
    broker_cert = _cert("localhost", broker_key, ca_cert.subject, ca_key, server=True)
    files.broker_keystore.write_bytes(broker_key.private_bytes(pem, pkcs8, plain) + broker_cert.public_bytes(pem)
                                      + ca_cert.public_bytes(pem))
    client_key = ec.generate_private_key(ec.SECP256R1())
    client_cert = _cert("stream-filter worker", client_key, ca_cert.subject, ca_key)
    files.client_cert.write_bytes(client_cert.public_bytes(pem))
    files.client_key.write_bytes(client_key.private_bytes(pem, pkcs8, plain))
    return files

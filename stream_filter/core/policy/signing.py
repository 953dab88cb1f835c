"""Ed25519 signatures: the project's one home for making and checking them (policy records here,
review verdicts in `core/verdict_auth.py`). For policies, writing to the policy topic is not enough to
change what workers enforce: a worker given a verify key applies only records signed by the key's
private half (`stream-filter policy keygen`, `policy sign`, `policy publish --key`). What is signed
is the whole record (`topic.signed_bytes`: key, mode, publication time and text), so a signature
cannot be replayed under another key, mode or time."""

from __future__ import annotations

import base64

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from stream_filter.core.policy.files import PolicyError


def keygen() -> tuple[bytes, bytes]:
    """A new key pair: (private key PEM, public key PEM)."""
    key = Ed25519PrivateKey.generate()
    private = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption())
    public = key.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    return private, public


def sign(data: bytes, private_pem: bytes) -> str:
    key = serialization.load_pem_private_key(private_pem, password=None)
    if not isinstance(key, Ed25519PrivateKey):
        raise PolicyError("the signing key is not an Ed25519 private key")
    return base64.b64encode(key.sign(data)).decode()


def public_key(public_pem: bytes) -> Ed25519PublicKey:
    key = serialization.load_pem_public_key(public_pem)
    if not isinstance(key, Ed25519PublicKey):
        raise PolicyError("the verify key is not an Ed25519 public key")
    return key


def verifies(data: bytes, signature: str, key: Ed25519PublicKey) -> bool:
    """Whether `signature` (base64) is the key's signature of `data`."""
    try:
        key.verify(base64.b64decode(signature, validate=True), data)
    except (InvalidSignature, ValueError):
        return False
    return True


def verify(data: bytes, signature: str | None, key: Ed25519PublicKey) -> None:
    """PolicyError unless `signature` is the key's signature of `data`."""
    if not signature:
        raise PolicyError("unsigned policy record (a verify key is set)")
    if not verifies(data, signature, key):
        raise PolicyError("policy record signature does not verify")

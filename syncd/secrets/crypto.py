"""Sealing one value to one recipient with HPKE (RFC 9180), base mode, one shot.

Version "v1": DHKEM(X25519, HKDF-SHA256), HKDF-SHA256, ChaCha20-Poly1305.
The sealed bytes are enc (32 bytes) || AEAD ciphertext with its 16-byte tag, exactly what
cryptography's hpke.Suite.encrypt returns. The context (format version, environment label,
variable name) is bound through HPKE's `info`, so a ciphertext opens only under the name and
in the environment it was sealed for. cryptography is imported lazily: `syncd status` must
not pay for it.
"""

from __future__ import annotations

from functools import lru_cache

VERSION = "v1"
ENC_LEN = 32
TAG_LEN = 16
MIN_SEALED_LEN = ENC_LEN + TAG_LEN


def info(version: str, env_label: str, name: str) -> bytes:
    """ "syncd-secrets/" version NUL env-label NUL name (label and name cannot contain NUL)."""
    return b"\x00".join(
        [f"syncd-secrets/{version}".encode("ascii"), env_label.encode("utf-8"), name.encode("ascii")]
    )


@lru_cache(maxsize=None)
def _suite(version: str):
    from cryptography.hazmat.primitives import hpke

    if version != VERSION:
        raise ValueError(f"unknown version {version}")
    return hpke.Suite(hpke.KEM.X25519, hpke.KDF.HKDF_SHA256, hpke.AEAD.CHACHA20_POLY1305)


@lru_cache(maxsize=64)
def _public_key(raw: bytes):
    from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PublicKey

    return X25519PublicKey.from_public_bytes(raw)


def seal(plaintext: bytes, recipient_raw: bytes, env_label: str, name: str) -> bytes:
    return _suite(VERSION).encrypt(plaintext, _public_key(recipient_raw), info=info(VERSION, env_label, name))


class OpenFailed(Exception):
    """The AEAD tag did not verify: wrong key, altered bytes, or another name/environment."""


def open_sealed(sealed: bytes, private_key, version: str, env_label: str, name: str) -> bytes:
    """Open `sealed` with an X25519PrivateKey; OpenFailed when it does not authenticate."""
    from cryptography.exceptions import InvalidTag

    try:
        return _suite(version).decrypt(sealed, private_key, info=info(version, env_label, name))
    except (InvalidTag, ValueError):
        raise OpenFailed() from None

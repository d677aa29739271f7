"""Key pairs: generating them, the private key file, and recipient strings.

A recipient string is "syncd1:" + unpadded base64url of the raw 32-byte X25519 public key.
The private key file is text, mode 0600:

    # syncd secrets private key: keep it secret (docs/secrets.md)
    # recipient: syncd1:...
    SYNCD-SECRET-KEY-1:<unpadded base64url of the raw 32-byte X25519 private key>

Only the SYNCD-SECRET-KEY-1 line matters; '#' lines are comments.
"""

from __future__ import annotations

import functools

import base64
import binascii
import os
import re
from pathlib import Path

from syncd.errors import SecretsError, UsageError
from syncd.fsutil import fsync_dir
from syncd.records import dataclass

RECIPIENT_PREFIX = "syncd1:"
KEY_PREFIX = "SYNCD-SECRET-KEY-1:"
_B64URL = re.compile(r"^[A-Za-z0-9_-]+$")


def b64encode(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def b64decode(text: str) -> bytes:
    """Strict unpadded base64url; ValueError on anything else."""
    if not _B64URL.match(text) or len(text) % 4 == 1:
        raise ValueError("not unpadded base64url")
    try:
        return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except binascii.Error as exc:  # pragma: no cover - excluded by the regex above
        raise ValueError(str(exc)) from None


def encode_recipient(public_raw: bytes) -> str:
    return RECIPIENT_PREFIX + b64encode(public_raw)


def decode_recipient(text: str) -> bytes:
    """Raw X25519 public key of a recipient string; ValueError with a short reason."""
    if not text.startswith(RECIPIENT_PREFIX):
        raise ValueError(f"a recipient starts with {RECIPIENT_PREFIX!r}")
    try:
        raw = b64decode(text[len(RECIPIENT_PREFIX) :])
    except ValueError:
        raise ValueError("a recipient is 'syncd1:' followed by base64url") from None
    if len(raw) != 32:
        raise ValueError("a syncd1 recipient holds a 32-byte X25519 public key")
    return raw


@dataclass(frozen=True)
class PrivateKey:
    path: Path
    raw: bytes  # 32-byte X25519 private key

    @functools.cached_property  # asked once per value when a file is decrypted: derive it once
    def recipient(self) -> str:
        from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey
        from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

        public = X25519PrivateKey.from_private_bytes(self.raw).public_key()
        return encode_recipient(public.public_bytes(Encoding.Raw, PublicFormat.Raw))

    def x25519(self):
        from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

        return X25519PrivateKey.from_private_bytes(self.raw)


class KeyFileError(Exception):
    """The key file is missing, unreadable or malformed (message names the key file only)."""


def load_private_key(path: Path) -> PrivateKey:
    """Read a private key file; KeyFileError saying why (never key material)."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise KeyFileError(f"key file {path} does not exist") from None
    except PermissionError:
        raise KeyFileError(f"key file {path} is not readable (permission denied)") from None
    except UnicodeDecodeError:
        raise KeyFileError(f"key file {path} is not a syncd key file (not UTF-8 text)") from None
    except OSError as exc:
        raise KeyFileError(f"key file {path} cannot be read: {exc.strerror}") from None
    found = [line.strip() for line in text.splitlines() if line.strip().startswith(KEY_PREFIX)]
    if len(found) != 1:
        raise KeyFileError(
            f"key file {path} is not a syncd key file "
            f"(expected exactly one {KEY_PREFIX} line, found {len(found)})"
        )
    try:
        raw = b64decode(found[0][len(KEY_PREFIX) :])
    except ValueError:
        raw = b""
    if len(raw) != 32:
        raise KeyFileError(f"key file {path}: the {KEY_PREFIX} line does not hold a 32-byte key")
    return PrivateKey(Path(path), raw)


def key_recipient(key_path: Path) -> str:
    """The recipient string of the private key in `key_path` (SecretsError if unreadable)."""
    try:
        return load_private_key(key_path).recipient
    except KeyFileError as exc:
        raise SecretsError(str(exc)) from None


def generate_key_file(out: Path) -> str:
    """Write a new private key to `out` (never overwriting, mode 0600); return its recipient."""
    from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey
    from cryptography.hazmat.primitives.serialization import Encoding, NoEncryption, PrivateFormat

    private = X25519PrivateKey.generate()
    raw = private.private_bytes(Encoding.Raw, PrivateFormat.Raw, NoEncryption())
    recipient = PrivateKey(Path(out), raw).recipient
    body = (
        "# syncd secrets private key: keep it secret, mode 0600 (docs/secrets.md)\n"
        f"# recipient: {recipient}\n"
        f"{KEY_PREFIX}{b64encode(raw)}\n"
    ).encode("ascii")
    try:
        fd = os.open(out, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
    except FileExistsError:
        raise UsageError(f"{out} already exists; refusing to overwrite a key") from None
    except OSError as exc:
        raise UsageError(f"cannot create {out}: {exc.strerror}") from None
    try:
        os.fchmod(fd, 0o600)
        os.write(fd, body)
        os.fsync(fd)
    finally:
        os.close(fd)
    fsync_dir(Path(out).parent)
    return recipient

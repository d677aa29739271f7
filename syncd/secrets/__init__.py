"""Encrypted secrets committed next to the code (format: docs/secrets.md).

Public API used by the deploy, render and status:
    read_secrets(path, key_path, display=None) -> {NAME: value}
    recipients_of(path) -> [recipient]
    key_recipient(key_path) -> recipient
    environment_file_bytes({NAME: value}) -> bytes for EnvironmentFile=
Errors are syncd.errors.SecretsError naming file, line and variable, never a value.
cryptography is only imported when something is sealed or opened.
"""

from __future__ import annotations

from pathlib import Path

from syncd.errors import SecretsError
from syncd.secrets.envfile import environment_file_bytes
from syncd.secrets.format import SecretsFile, parse
from syncd.secrets.keys import KeyFileError, PrivateKey, decode_recipient, key_recipient, load_private_key

__all__ = [
    "read_secrets",
    "recipients_of",
    "key_recipient",
    "environment_file_bytes",
    "load_file",
    "decrypt_all",
    "decrypt_line",
    "seal_value",
    "load_key_for",
]


def load_file(path: Path, display: str | None = None) -> SecretsFile:
    display = display or str(path)
    try:
        data = Path(path).read_bytes()
    except FileNotFoundError:
        raise SecretsError(f"{display}: secrets file does not exist") from None
    except OSError as exc:
        raise SecretsError(f"{display}: cannot read secrets file: {exc.strerror}") from None
    return parse(data, display)


def recipients_of(path: Path) -> list[str]:
    return list(load_file(path).recipients)


def load_key_for(secrets: SecretsFile, key_path: Path | None) -> PrivateKey:
    """The private key, or SecretsError naming the file and its first variable."""
    first = secrets.values()[0] if secrets.values() else None
    where = secrets.where(first) if first else secrets.display
    if key_path is None:
        raise SecretsError(f"{where}: cannot decrypt: no private key configured (env.key)")
    try:
        return load_private_key(key_path)
    except KeyFileError as exc:
        raise SecretsError(f"{where}: cannot decrypt: {exc}") from None


def decrypt_line(secrets: SecretsFile, line, key: PrivateKey, x25519=None) -> str:
    from syncd.secrets.crypto import OpenFailed, open_sealed

    recipient = key.recipient
    if recipient not in secrets.recipients:
        raise SecretsError(
            f"{secrets.where(line)}: the key {key.path} (recipient {recipient}) is not one of "
            f"the {len(secrets.recipients)} recipients of this file, so it cannot open it"
        )
    index = secrets.recipients.index(recipient)
    try:
        plaintext = open_sealed(
            line.sealed[index], x25519 or key.x25519(), line.version, secrets.env, line.name
        )
    except OpenFailed:
        raise SecretsError(
            f"{secrets.where(line)}: the value does not decrypt with {key.path}: it was altered or "
            f"truncated, or copied from another variable or from a file whose environment is not "
            f"{secrets.env!r}"
        ) from None
    try:
        value = plaintext.decode("utf-8")
    except UnicodeDecodeError:
        raise SecretsError(f"{secrets.where(line)}: the decrypted value is not UTF-8 text") from None
    if "\0" in value:
        raise SecretsError(f"{secrets.where(line)}: the decrypted value contains a NUL character")
    return value


def decrypt_all(secrets: SecretsFile, key: PrivateKey) -> dict[str, str]:
    x25519 = key.x25519()
    return {line.name: decrypt_line(secrets, line, key, x25519) for line in secrets.values()}


def read_secrets(path: Path, key_path: Path, *, display: str | None = None) -> dict[str, str]:
    """Decrypt every value of one file, in file order."""
    secrets = load_file(path, display)
    key = load_key_for(secrets, key_path)
    return decrypt_all(secrets, key)


def seal_value(secrets: SecretsFile, name: str, value: str) -> None:
    """Seal `value` to every recipient of `secrets` and put it on NAME's line (public keys only)."""
    from syncd.secrets.crypto import VERSION, seal

    plaintext = value.encode("utf-8")
    sealed = [seal(plaintext, decode_recipient(r), secrets.env, name) for r in secrets.recipients]
    secrets.put(name, VERSION, sealed)

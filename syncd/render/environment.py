"""What syncd would install for one commit: the drop-in and the delivered secret files.

Rendering reads only git objects (and untracked env files on disk), so it can run before any
mutation: a bad env file or undecryptable secret blocks the deploy with nothing touched.
"""

from __future__ import annotations

from pathlib import Path

from syncd import treefile
from syncd.config import Config
from syncd.errors import EnvError
from syncd.records import dataclass, field
from syncd.render import envfiles, quoting

CREDENTIALS = "credentials"
MAX_SOURCE_BYTES = 1 << 20  # one env file or encrypted secrets file, from the commit or the tree
# What syncd installs (docs/security.md, "Sizes"). A manager's daemon-reload slows down with the number
# of Environment= entries, not their bytes (measured on systemd 252: 2 000 entries 0.07 s, 8 000
# 0.4 s, 16 000 2.8 s, 32 000 16 s; four 60 KB entries 0.1 s). The byte limit leaves room for one
# entry of the kernel's maximum size (128 KiB).
MAX_DROPIN_BYTES = 256 << 10
MAX_DROPIN_ENTRIES = 2000
MAX_ENVIRONMENT_FILE_BYTES = 256 << 10
MAX_CREDENTIAL_BYTES = 1 << 20  # systemd's own limit for one credential


@dataclass
class Rendered:
    dropin: bytes
    dropin_mode: int
    secret_files: dict[str, bytes] = field(default_factory=dict)  # name in secrets dir → bytes
    has_inline_secrets: bool = False  # secrets_delivery = "environment": the drop-in holds values
    names: list[str] = field(default_factory=list)
    secret_names: list[str] = field(default_factory=list)
    secret_values: tuple[str, ...] = field(default=(), repr=False)  # to mask them in messages

    @property
    def empty(self) -> bool:
        """Nothing to set: equivalent to having no drop-in at all."""
        return not self.names and not self.secret_files

    def masked(self) -> str:
        """The drop-in as text with every secret value replaced, for `render` and logs."""
        if not self.has_inline_secrets:
            return self.dropin.decode("utf-8", "replace")
        lines = []
        for line in self.dropin.decode("utf-8", "replace").splitlines():
            for name in self.secret_names:
                if line.startswith(f'Environment="{name}='):
                    line = f'Environment="{name}=********"'
            lines.append(line)
        return "\n".join(lines) + "\n"


def secrets_dir(cfg: Config, unit_dir: Path) -> Path:
    """Root-only place for delivered secrets: on /etc (system) so a reboot needs no syncd."""
    if cfg.service.scope == "user":
        return unit_dir.parent.parent / "syncd" / "secrets" / cfg.service.unit
    return Path("/etc/syncd/secrets") / cfg.service.unit


def _read_source(read_blob, tree_root: Path, rel: str) -> tuple[bytes, str]:
    data = read_blob(rel)
    if data is None:  # not committed: an operator's file on the server (e.g. git-ignored)
        # The tree is the service user's: read as data, never through a link, never a FIFO.
        data = treefile.read(tree_root, rel, limit=MAX_SOURCE_BYTES, what="env file")
        if data is None:
            raise EnvError(
                f"{rel}: env file listed in env.files/env.secrets not found in the commit or in {tree_root}"
            )
    if len(data) > MAX_SOURCE_BYTES:
        raise EnvError(f"{rel}: env file is {len(data)} bytes, more than the limit of {MAX_SOURCE_BYTES}")
    return data, rel


def render(cfg: Config, read_blob, secrets_path: Path) -> Rendered:
    """read_blob(relpath) -> bytes | None reads a file of the commit being rendered."""
    sources = []
    for rel in cfg.env.files:
        data, display = _read_source(read_blob, cfg.repo.path, rel)
        sources.append(("file", display, envfiles.parse_env_bytes(data, display)))
    for rel in cfg.env.secrets:
        data, display = _read_source(read_blob, cfg.repo.path, rel)
        sources.append(("secret", display, _decrypt(data, display, cfg.env.key)))
    values = dict(
        envfiles.merge_environment([(display, entries) for _kind, display, entries in sources], cfg.env.vars)
    )
    origin: dict[str, str] = {}  # which kind of source set the value that won
    where: dict[str, str] = {}  # "FILE:LINE" or "env.vars", for messages (never a value)
    for kind, display, entries in sources:
        for name, _value, line in entries:
            origin[name], where[name] = kind, f"{display}:{line}"
    for name in cfg.env.vars:
        origin[name], where[name] = "var", "env.vars"
    for name, value in values.items():
        if origin[name] == "secret" and cfg.env.secrets_delivery == CREDENTIALS:
            continue  # a file, not an environment entry: no exec-size or systemd env limits
        quoting.check_env_value(name, value, where[name])
    missing = [n for n in cfg.env.required if n not in values]
    if missing:
        raise EnvError(f"{cfg.source}: env.required: not set by any env source: {', '.join(missing)}")
    return _assemble(cfg, values, origin, secrets_path)


def _decrypt(data: bytes, display: str, key: Path | None):
    from syncd import secrets
    from syncd.secrets.format import parse

    sealed = parse(data, display)
    values = secrets.decrypt_all(sealed, secrets.load_key_for(sealed, key))
    lines = {line.name: line.number for line in sealed.values()}
    return [(name, value, lines.get(name, 0)) for name, value in values.items()]


def _assemble(cfg: Config, values: dict[str, str], origin: dict[str, str], secrets_path: Path) -> Rendered:
    plain = [(n, v) for n, v in values.items() if origin[n] != "secret"]
    secret = {n: v for n, v in values.items() if origin[n] == "secret"}
    delivery = cfg.env.secrets_delivery
    extra, files, inline = [], {}, False
    if secret and delivery == "environment":
        plain = [(n, v) for n, v in values.items()]
        inline = True
    elif secret and delivery == "credentials":
        for name, value in secret.items():
            files[f"{CREDENTIALS}/{name}"] = value.encode()
            extra.append(f"LoadCredential={name}:{secrets_path / CREDENTIALS / name}")
    elif secret:
        from syncd.secrets import environment_file_bytes

        files["environment"] = environment_file_bytes(secret)
        extra.append(f"EnvironmentFile={secrets_path / 'environment'}")
    dropin = quoting.render_dropin(plain, extra)
    _check_sizes(dropin, len(plain), files)
    return Rendered(
        dropin=dropin,
        dropin_mode=0o600 if inline else 0o644,
        secret_files=files,
        has_inline_secrets=inline,
        names=list(values),
        secret_names=list(secret),
        secret_values=tuple(secret.values()),
    )


def _check_sizes(dropin: bytes, entries: int, files: dict[str, bytes]) -> None:
    """Refuse (nothing installed) what would make the manager slow or the service fail to start."""
    too_big = ' (docs/security.md, "Sizes"; keep bulk data in a file the service reads itself)'
    if entries > MAX_DROPIN_ENTRIES:
        raise EnvError(
            f"the drop-in would set {entries} environment variables, more than the limit of "
            f"{MAX_DROPIN_ENTRIES}: each daemon-reload of the manager would slow down{too_big}"
        )
    if len(dropin) > MAX_DROPIN_BYTES:
        raise EnvError(
            f"the drop-in would be {len(dropin)} bytes, more than the limit of {MAX_DROPIN_BYTES}{too_big}"
        )
    for rel, data in files.items():
        limit = MAX_CREDENTIAL_BYTES if rel.startswith(f"{CREDENTIALS}/") else MAX_ENVIRONMENT_FILE_BYTES
        if len(data) > limit:
            raise EnvError(
                f"the delivered secrets file {rel} would be {len(data)} bytes, more than the limit "
                f"of {limit}{too_big}"
            )


# -- installing -------------------------------------------------------------------------------
def installed_secret_files(secrets_path: Path) -> dict[str, bytes]:
    found: dict[str, bytes] = {}
    env_file = secrets_path / "environment"
    if env_file.is_file():
        found["environment"] = env_file.read_bytes()
    cred = secrets_path / CREDENTIALS
    if cred.is_dir():
        for p in cred.iterdir():
            if p.is_file() and not p.name.startswith("."):
                found[f"{CREDENTIALS}/{p.name}"] = p.read_bytes()
    return found


def install_secret_files(secrets_path: Path, files: dict[str, bytes]) -> None:
    """Make the secrets dir hold exactly `files` (0600 in 0700 dirs); remove what is not wanted."""
    from syncd import fsutil

    current = installed_secret_files(secrets_path)
    if not files and not current:
        return
    fsutil.ensure_dir(secrets_path, 0o700)
    for rel, data in files.items():
        path = secrets_path / rel
        fsutil.ensure_dir(path.parent, 0o700)
        if current.get(rel) != data:
            fsutil.atomic_write(path, data, 0o600)
    for rel in current:
        if rel not in files:
            fsutil.remove(secrets_path / rel)

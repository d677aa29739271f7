"""Configuration: the one place where syncd.toml is loaded and validated.

Every error names the file, the key and what was expected (ConfigError); an invalid
config never gets as far as touching anything.
"""

from __future__ import annotations

import difflib
import grp
import math
import os
import pwd
import re
import socket
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from urllib.parse import urlsplit

from syncd.errors import ConfigError

DEFAULT_CONFIG = Path("/etc/syncd/syncd.toml")


@dataclass(frozen=True)
class RepoConfig:
    path: Path
    remote: str = "origin"
    branch: str = "master"
    local_branch: str | None = None
    allow_force_push: bool = False
    verify: str = "none"  # "none" | "ssh" | "gpg"
    allowed_signers: Path | None = None
    committer: str = field(default_factory=lambda: f"syncd <syncd@{socket.gethostname()}>")
    trust_local_commits: bool = False  # accept unsigned commits made on local_branch on the server
    git_timeout: float = 60.0  # any local git command
    fetch_timeout: float = 300.0


@dataclass(frozen=True)
class ServiceConfig:
    unit: str
    scope: str = "system"  # "system" | "user"
    owner: str | None = None  # "user:group" or "user"; None: the tree's current owner
    dropin: str = "50-syncd.conf"


@dataclass(frozen=True)
class EnvConfig:
    vars: dict[str, str] = field(default_factory=dict)
    files: tuple[str, ...] = ()
    secrets: tuple[str, ...] = ()
    key: Path | None = None
    secrets_delivery: str = "environment-file"  # | "environment" | "credentials"
    required: tuple[str, ...] = ()  # names that must be present after merging all sources


@dataclass(frozen=True)
class HealthConfig:
    timeout: float = 60.0
    settle: float = 5.0
    tcp: str | None = None
    http: str | None = None
    command: tuple[str, ...] | None = None
    dicom_echo: str | None = None


@dataclass(frozen=True)
class HooksConfig:
    pre_restart: tuple[tuple[str, ...], ...] = ()
    post_deploy: tuple[tuple[str, ...], ...] = ()
    on_failure: tuple[tuple[str, ...], ...] = ()
    timeout: float = 600.0  # per hook


@dataclass(frozen=True)
class ScheduleConfig:
    interval: float = 60.0  # 0 disables polling; 0 as well whenever cron is set
    cron: str = ""
    watch: bool = True
    windows: tuple[str, ...] = ()  # restarts only inside these weekly windows (host time); () = always


NOTIFY_RESULTS = ("deployed", "rolled-back", "blocked", "error")


@dataclass(frozen=True)
class NotifyConfig:
    on: tuple[str, ...] = ("rolled-back", "error")
    webhook: str | None = None
    email: tuple[str, ...] = ()
    smtp: str | None = None  # "host:port" of a relay
    sendmail: Path | None = None  # or the local sendmail program
    sender: str = field(default_factory=lambda: f"syncd@{socket.gethostname()}")
    timeout: float = 10.0  # the most notifications add to one sync, all transports together


@dataclass(frozen=True)
class MetricsConfig:
    textfile: Path | None = None  # for node_exporter's textfile collector
    listen: str | None = None  # "host:port" where `syncd run` serves GET /metrics
    process: bool = False  # also export syncd's own process metrics (CPU, memory, fds)


@dataclass(frozen=True)
class DrainConfig:
    port: int | None = None  # busy while a TCP connection to this local port is established
    command: tuple[str, ...] | None = None  # busy while this exits 0 (run as the owner, in repo.path)
    max_wait: float = 900.0
    on_timeout: str = "deploy"  # | "skip"


@dataclass(frozen=True)
class StateConfig:
    dir: Path = Path("/var/lib/syncd")


@dataclass(frozen=True)
class PythonConfig:
    """One environment per requirements content (docs/python.md)."""

    requirements: str  # requirements or lock file in the repo, relative to repo.path
    venv: str = "venv"  # symlink in the tree to the running release's environment
    python: Path = Path("/usr/bin/python3")
    keep: int = 3  # older environments kept for offline rollback
    envs: Path | None = None  # where environments live; None: "<repo.path>.envs"
    timeout: float = 900.0  # one build
    compile_bytecode: bool = False  # .pyc at build time: faster first imports, slower builds, more disk

    def envs_dir(self, repo_path: Path) -> Path:
        return self.envs or repo_path.with_name(repo_path.name + ".envs")


@dataclass(frozen=True)
class Config:
    source: Path  # the TOML file this came from
    repo: RepoConfig
    service: ServiceConfig
    env: EnvConfig = field(default_factory=EnvConfig)
    health: HealthConfig = field(default_factory=HealthConfig)
    hooks: HooksConfig = field(default_factory=HooksConfig)
    schedule: ScheduleConfig = field(default_factory=ScheduleConfig)
    state: StateConfig = field(default_factory=StateConfig)
    notify: NotifyConfig = field(default_factory=NotifyConfig)
    metrics: MetricsConfig = field(default_factory=MetricsConfig)
    drain: DrainConfig = field(default_factory=DrainConfig)
    python: PythonConfig | None = None  # None: no [python] section, syncd leaves environments alone

    @property
    def name(self) -> str:
        """Per-config name (file stem): state of several configs never mixes."""
        return self.source.stem

    @property
    def state_dir(self) -> Path:
        return self.state.dir / self.name


def config_path(cli_value: str | None) -> Path:
    if cli_value:
        return Path(cli_value)
    if os.environ.get("SYNCD_CONFIG"):
        return Path(os.environ["SYNCD_CONFIG"])
    return DEFAULT_CONFIG


# --------------------------------------------------------------------------------------------
# Loading

SECTIONS = (
    "repo",
    "service",
    "env",
    "health",
    "hooks",
    "schedule",
    "state",
    "notify",
    "metrics",
    "drain",
    "python",
)
KEYS = {
    "repo": (
        "path",
        "remote",
        "branch",
        "local_branch",
        "allow_force_push",
        "verify",
        "allowed_signers",
        "committer",
        "trust_local_commits",
        "git_timeout",
        "fetch_timeout",
    ),
    "service": ("unit", "scope", "owner", "dropin"),
    "env": ("vars", "files", "secrets", "key", "secrets_delivery", "required"),
    "health": ("timeout", "settle", "tcp", "http", "command", "dicom_echo"),
    "hooks": ("pre_restart", "post_deploy", "on_failure", "timeout"),
    "schedule": ("interval", "cron", "watch", "windows"),
    "state": ("dir",),
    "notify": ("on", "webhook", "email", "smtp", "sendmail", "sender", "timeout"),
    "metrics": ("textfile", "listen", "process"),
    "drain": ("port", "command", "max_wait", "on_timeout"),
    "python": ("requirements", "venv", "python", "keep", "envs", "timeout", "compile_bytecode"),
}

ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")
UNIT_TYPES = (
    "service",
    "socket",
    "target",
    "device",
    "mount",
    "automount",
    "swap",
    "timer",
    "path",
    "slice",
    "scope",
)
UNIT_NAME = re.compile(r"[A-Za-z0-9:_.\\-]+(@[A-Za-z0-9:_.\\-]+)?\.service\Z")
EMAIL = re.compile(r"[^@\s<>,;\"]+@[^@\s<>,;\"]+\Z")
COMMITTER = re.compile(r"[^<>\n]*[^<>\s][^<>\n]* <[^<>\s]+>\Z")
DURATION_PART = re.compile(r"\s*(\d+(?:\.\d+)?|\.\d+)\s*(ms|s|m|h|d)")
DURATION_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}
_MISSING = object()


def load_config(path: Path) -> Config:
    """Load and validate `path`; raise ConfigError naming file, key and expectation."""
    path = Path(path)
    text = _read(path)
    src = _Source(path, text)
    try:
        import tomllib

        data = tomllib.loads(text)
    except ValueError as e:  # tomllib.TOMLDecodeError; its text carries "(at line L, column C)"
        raise ConfigError(path, None, f"not valid TOML: {e}") from None

    for name, value in data.items():
        if name not in SECTIONS:
            raise src.error(
                name,
                "unknown section" + _suggest(name, SECTIONS) + f"; allowed sections: {', '.join(SECTIONS)}",
            )
        if not isinstance(value, dict):
            raise src.error(name, f"expected a table ([{name}]), found {_type_name(value)}")
    sections = {name: _Section(src, name, data.get(name, {})) for name in SECTIONS}
    return Config(
        source=path,
        repo=_repo(sections["repo"]),
        service=_service(sections["service"]),
        env=_env(sections["env"]),
        health=_health(sections["health"]),
        hooks=_hooks(sections["hooks"]),
        schedule=_schedule(sections["schedule"]),
        state=_state(sections["state"]),
        notify=_notify(sections["notify"]),
        metrics=_metrics(sections["metrics"]),
        drain=_drain(sections["drain"]),
        python=_python(sections["python"]) if "python" in data else None,
    )


def parse_duration(value) -> float:
    """Seconds from a number (>= 0) or a string such as "90s", "5m", "1h30m", "250ms".

    Raises ValueError with a short reason.
    """
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise ValueError(f'expected a number of seconds or a string like "90s", found {_type_name(value)}')
    if isinstance(value, str):
        text = value.strip()
        if re.fullmatch(r"\d+(\.\d+)?", text):
            seconds = float(text)
        else:
            seconds, pos = 0.0, 0
            while pos < len(text):
                m = DURATION_PART.match(text, pos)
                if not m:
                    raise ValueError(
                        f"{value!r} is not a duration: expected seconds or a string like "
                        '"90s", "5m", "1h30m", "250ms" (units ms, s, m, h, d)'
                    )
                seconds += float(m.group(1)) * DURATION_UNITS[m.group(2)]
                pos = m.end()
            if not text:
                raise ValueError('empty duration: expected seconds or a string like "90s"')
    else:
        seconds = float(value)
    if math.isnan(seconds) or math.isinf(seconds) or seconds < 0:
        raise ValueError(f"{value!r} is not a duration: must be a finite number of seconds >= 0")
    return seconds


# --------------------------------------------------------------------------------------------
# Sections


def _repo(s: _Section) -> RepoConfig:
    kw = {"path": s.abs_path("path", s.get("path", str, required=True))}
    if str(kw["path"]) == "/":
        raise s.error("path", "must be the service's working tree, not /")
    for key in ("remote", "branch"):
        if s.has(key):
            kw[key] = s.ref_name(key, s.get(key, str))
    if s.has("local_branch"):
        kw["local_branch"] = s.ref_name("local_branch", s.get("local_branch", str))
        if kw["local_branch"] == kw.get("branch", "master"):
            raise s.error(
                "local_branch",
                "must differ from repo.branch (leave local_branch out to deploy the tracked branch itself)",
            )
    if s.has("allow_force_push"):
        kw["allow_force_push"] = s.get("allow_force_push", bool)
    if s.has("verify"):
        kw["verify"] = s.choice("verify", ("none", "ssh", "gpg"))
    if s.has("allowed_signers"):
        kw["allowed_signers"] = s.abs_path("allowed_signers", s.get("allowed_signers", str))
    if kw.get("verify") == "ssh" and "allowed_signers" not in kw:
        raise s.error(
            "allowed_signers",
            'required when repo.verify = "ssh": an absolute path to a file in git\'s allowed-signers format',
            at_line=False,
        )
    if kw.get("verify") == "gpg" and "allowed_signers" not in kw:
        raise s.error(
            "allowed_signers",
            'required when repo.verify = "gpg": an absolute path to the public '
            "keys of the allowed signers (gpg --export KEYID... > FILE); only they are trusted",
            at_line=False,
        )
    if s.has("trust_local_commits"):
        kw["trust_local_commits"] = s.get("trust_local_commits", bool)
        if kw["trust_local_commits"] and "local_branch" not in kw:
            raise s.error(
                "trust_local_commits",
                "applies to commits made on repo.local_branch on the server: "
                "set local_branch too, or leave trust_local_commits out",
            )
    for key in ("git_timeout", "fetch_timeout"):
        if s.has(key):
            kw[key] = s.duration(key, positive=True)
    if s.has("committer"):
        committer = s.get("committer", str)
        if not COMMITTER.match(committer):
            raise s.error(
                "committer", f'expected "Name <email>", e.g. "syncd <syncd@host>", got {committer!r}'
            )
        kw["committer"] = committer
    return RepoConfig(**kw)


def _service(s: _Section) -> ServiceConfig:
    kw = {"unit": _unit_name(s, s.get("unit", str, required=True))}
    if s.has("scope"):
        kw["scope"] = s.choice("scope", ("system", "user"))
    if s.has("owner"):
        kw["owner"] = _owner(s, s.get("owner", str))
    if s.has("dropin"):
        dropin = s.get("dropin", str)
        if (
            not dropin.endswith(".conf")
            or dropin == ".conf"
            or "/" in dropin
            or "\0" in dropin
            or dropin.startswith(".")
        ):
            raise s.error(
                "dropin",
                f'expected a plain file name ending in ".conf" (no "/", not hidden), '
                f'e.g. "50-syncd.conf", got {dropin!r}',
            )
        kw["dropin"] = dropin
    return ServiceConfig(**kw)


def _unit_name(s: _Section, unit: str) -> str:
    suffix = unit.rsplit(".", 1)[-1] if "." in unit else ""
    if suffix in UNIT_TYPES and suffix != "service":
        raise s.error("unit", f"syncd manages services: expected a .service unit, got a .{suffix} unit")
    if suffix != "service":
        unit += ".service"
    if len(unit) > 255 or not UNIT_NAME.match(unit) or unit.startswith("@"):
        raise s.error(
            "unit",
            'expected a systemd service name such as "pipeline.service" or '
            '"worker@1.service" (letters, digits, ":-_.\\", one "@" with an instance, '
            f"at most 255 characters), got {unit!r}",
        )
    return unit


def _owner(s: _Section, owner: str) -> str:
    user, colon, group = owner.partition(":")
    if not user or (colon and not group) or ":" in group:
        raise s.error("owner", f'expected "user" or "user:group", got {owner!r}')
    try:
        if not user.isdigit():
            pwd.getpwnam(user)
    except KeyError:
        raise s.error(
            "owner",
            f'no user named {user!r} on this host (expected "user" or "user:group" '
            "naming an existing user and group)",
        ) from None
    try:
        if group and not group.isdigit():
            grp.getgrnam(group)
    except KeyError:
        raise s.error(
            "owner",
            f'no group named {group!r} on this host (expected "user" or '
            '"user:group" naming an existing user and group)',
        ) from None
    return owner


def _env(s: _Section) -> EnvConfig:
    kw = {}
    if s.has("vars"):
        table = s.get("vars", dict)
        for name, value in table.items():
            key = f"vars.{name}"
            if not ENV_NAME.match(name):
                raise s.error(
                    key,
                    "not a valid environment variable name (expected letters, digits and "
                    "_, not starting with a digit)",
                )
            if not isinstance(value, str):
                # Strict on purpose: a silent 1 -> "1" or true -> "True" is a surprise in production.
                raise s.error(key, f"expected a string (write it in quotes), found {_type_name(value)}")
        kw["vars"] = dict(table)
    for key in ("files", "secrets"):
        if s.has(key):
            kw[key] = tuple(s.rel_path(f"{key}[{i}]", item, key) for i, item in enumerate(s.get(key, list)))
    if s.has("key"):
        kw["key"] = s.abs_path("key", s.get("key", str))
    if kw.get("secrets") and "key" not in kw:
        raise s.error(
            "key",
            "required when env.secrets is set: the absolute path of the private key that opens them",
            at_line=False,
        )
    if s.has("secrets_delivery"):
        kw["secrets_delivery"] = s.choice(
            "secrets_delivery", ("environment-file", "environment", "credentials")
        )
    if s.has("required"):
        names = s.get("required", list)
        for i, name in enumerate(names):
            if not isinstance(name, str):
                raise s.error(
                    f"required[{i}]", f"expected a string, found {_type_name(name)}", line_key="required"
                )
            if not ENV_NAME.match(name):
                raise s.error(
                    f"required[{i}]",
                    f"{name!r} is not a valid environment variable name",
                    line_key="required",
                )
        kw["required"] = tuple(names)
    return EnvConfig(**kw)


def _health(s: _Section) -> HealthConfig:
    kw = {}
    if s.has("timeout"):
        kw["timeout"] = s.duration("timeout", positive=True)
    if s.has("settle"):
        kw["settle"] = s.duration("settle")
    if s.has("tcp"):
        kw["tcp"] = s.get("tcp", str)
        _host_port(s, "tcp", kw["tcp"], '"host:port", e.g. "127.0.0.1:11112"')
    if s.has("http"):
        url = s.get("http", str)
        parts = urlsplit(url)
        try:
            parts.port  # raises ValueError for a bad port
        except ValueError:
            parts = None
        if parts is None or parts.scheme not in ("http", "https") or not parts.hostname:
            raise s.error(
                "http",
                f'expected an http:// or https:// URL, e.g. "http://127.0.0.1:8080/healthz", got {url!r}',
            )
        kw["http"] = url
    if s.has("command"):
        kw["command"] = s.argv("command", s.get("command", list))
    if s.has("dicom_echo"):
        value = s.get("dicom_echo", str)
        expected = '"AETITLE@host:port", e.g. "PIPELINE@127.0.0.1:11112"'
        aet, at, address = value.rpartition("@")
        if not at:
            raise s.error("dicom_echo", f"expected {expected}, got {value!r}")
        if (
            not 1 <= len(aet) <= 16
            or not aet.strip()
            or "\\" in aet
            or any(ord(c) < 0x20 or ord(c) > 0x7E for c in aet)
        ):
            raise s.error(
                "dicom_echo",
                f"AE title {aet!r}: expected 1 to 16 printable ASCII characters, "
                "not only spaces, no backslash",
            )
        _host_port(s, "dicom_echo", address, expected)
        kw["dicom_echo"] = value
    return HealthConfig(**kw)


def _host_port(s: _Section, key: str, value: str, expected: str) -> None:
    m = re.fullmatch(r"(\[[0-9A-Fa-f:.]+\]|[^\s:\[\]/@]+):(\d{1,5})", value)
    if not m or not 1 <= int(m.group(2)) <= 65535:
        raise s.error(key, f"expected {expected} (port 1-65535; IPv6 as [::1]:port), got {value!r}")


def _hooks(s: _Section) -> HooksConfig:
    kw = {}
    for key in ("pre_restart", "post_deploy", "on_failure"):
        if s.has(key):
            commands = s.get(key, list)
            for i, argv in enumerate(commands):
                if not isinstance(argv, list):
                    raise s.error(
                        f"{key}[{i}]",
                        "expected a command as a list of strings, e.g. "
                        f'[["venv/bin/pip", "install", "-r", "requirements.txt"]], found {_type_name(argv)}',
                        line_key=key,
                    )
            kw[key] = tuple(s.argv(f"{key}[{i}]", argv, line_key=key) for i, argv in enumerate(commands))
    if s.has("timeout"):
        kw["timeout"] = s.duration("timeout", positive=True)
    return HooksConfig(**kw)


def _schedule(s: _Section) -> ScheduleConfig:
    kw = {}
    if s.has("interval"):
        kw["interval"] = s.duration("interval")
    if s.has("cron"):
        cron = s.get("cron", str).strip()
        if cron:
            from apscheduler.triggers.cron import CronTrigger

            try:
                CronTrigger.from_crontab(cron)
            except ValueError as e:
                raise s.error("cron", f'expected a 5-field crontab such as "*/5 * * * *": {e}') from None
            if kw.get("interval", 0):
                raise s.error(
                    "cron",
                    "schedule.interval and schedule.cron are alternatives: set interval = 0 "
                    "or leave it out when cron is used",
                )
            kw["interval"] = 0.0  # cron replaces polling by interval
        kw["cron"] = cron
    if s.has("watch"):
        kw["watch"] = s.get("watch", bool)
    if s.has("windows"):
        from syncd.gate.windows import parse_window

        windows = s.get("windows", list)
        for i, text in enumerate(windows):
            if not isinstance(text, str):
                raise s.error(
                    f"windows[{i}]", f"expected a string, found {_type_name(text)}", line_key="windows"
                )
            try:
                parse_window(text)
            except ValueError as e:
                raise s.error(f"windows[{i}]", str(e), line_key="windows") from None
        kw["windows"] = tuple(windows)
    return ScheduleConfig(**kw)


def _state(s: _Section) -> StateConfig:
    if s.has("dir"):
        return StateConfig(dir=s.abs_path("dir", s.get("dir", str)))
    return StateConfig()


def _notify(s: _Section) -> NotifyConfig:
    kw = {}
    if s.has("on"):
        results = s.get("on", list)
        for i, result in enumerate(results):
            if result not in NOTIFY_RESULTS:
                raise s.error(
                    f"on[{i}]",
                    f"expected one of {', '.join(repr(r) for r in NOTIFY_RESULTS)}, "
                    f"got {result!r}" + (_suggest(result, NOTIFY_RESULTS) if isinstance(result, str) else ""),
                    line_key="on",
                )
        kw["on"] = tuple(dict.fromkeys(results))
    if s.has("webhook"):
        url = s.get("webhook", str)
        parts = urlsplit(url)
        try:
            parts.port
        except ValueError:
            parts = None
        if parts is None or parts.scheme not in ("http", "https") or not parts.hostname:
            # The URL often holds a token: the message does not repeat it.
            raise s.error(
                "webhook", 'expected an http:// or https:// URL, e.g. "https://chat.example.org/hooks/abc"'
            )
        kw["webhook"] = url
    if s.has("email"):
        addresses = s.get("email", list)
        for i, address in enumerate(addresses):
            if not isinstance(address, str) or not EMAIL.match(address):
                raise s.error(
                    f"email[{i}]",
                    f'expected an address such as "team@example.org", got {address!r}',
                    line_key="email",
                )
        kw["email"] = tuple(addresses)
    if s.has("smtp"):
        kw["smtp"] = s.get("smtp", str)
        _host_port(s, "smtp", kw["smtp"], '"host:port" of a mail relay, e.g. "localhost:25"')
    if s.has("sendmail"):
        kw["sendmail"] = s.abs_path("sendmail", s.get("sendmail", str))
    if kw.get("smtp") and kw.get("sendmail"):
        raise s.error("sendmail", "notify.smtp and notify.sendmail are alternatives: set one of them")
    if kw.get("email") and not (kw.get("smtp") or kw.get("sendmail")):
        raise s.error(
            "email",
            'needs a way to send: notify.smtp = "localhost:25" (a relay) or '
            'notify.sendmail = "/usr/sbin/sendmail"',
        )
    if s.has("sender"):
        sender = s.get("sender", str)
        if not EMAIL.match(sender):
            raise s.error("sender", f'expected an address such as "syncd@host.example.org", got {sender!r}')
        kw["sender"] = sender
    if s.has("timeout"):
        kw["timeout"] = s.duration("timeout", positive=True)
    return NotifyConfig(**kw)


def _metrics(s: _Section) -> MetricsConfig:
    kw = {}
    if s.has("textfile"):
        path = s.abs_path("textfile", s.get("textfile", str))
        if path.suffix != ".prom" or path.name == ".prom":
            raise s.error(
                "textfile",
                'node_exporter\'s textfile collector reads only files ending in ".prom": '
                f'expected e.g. "/var/lib/prometheus/node-exporter/syncd-{s.src.path.stem}.prom"',
            )
        kw["textfile"] = path
    if s.has("listen"):
        kw["listen"] = s.get("listen", str)
        _host_port(s, "listen", kw["listen"], '"address:port", e.g. "127.0.0.1:9469"')
    if s.has("process"):
        kw["process"] = s.get("process", bool)
    return MetricsConfig(**kw)


def _drain(s: _Section) -> DrainConfig:
    kw = {}
    if s.has("port"):
        port = s.get("port", int)
        if not 1 <= port <= 65535:
            raise s.error("port", f"expected a TCP port 1-65535, got {port}")
        kw["port"] = port
    if s.has("command"):
        kw["command"] = s.argv("command", s.get("command", list))
    if s.has("max_wait"):
        kw["max_wait"] = s.duration("max_wait")
    if s.has("on_timeout"):
        kw["on_timeout"] = s.choice("on_timeout", ("deploy", "skip"))
    return DrainConfig(**kw)


def _python(s: _Section) -> PythonConfig:
    kw = {
        "requirements": s.rel_path("requirements", s.get("requirements", str, required=True), "requirements")
    }
    if s.has("venv"):
        kw["venv"] = s.rel_path("venv", s.get("venv", str), "venv")
        if PurePosixPath(kw["venv"]).parts[0] == ".git":
            raise s.error("venv", f"must not be inside .git, got {kw['venv']!r}")
    if s.has("python"):
        kw["python"] = s.abs_path("python", s.get("python", str))
    if s.has("keep"):
        keep = s.get("keep", int)
        if keep < 0:
            raise s.error("keep", f"expected a number of older environments >= 0, got {keep}")
        kw["keep"] = keep
    if s.has("envs"):
        kw["envs"] = s.abs_path("envs", s.get("envs", str))
    if s.has("timeout"):
        kw["timeout"] = s.duration("timeout", positive=True)
    if s.has("compile_bytecode"):
        kw["compile_bytecode"] = s.get("compile_bytecode", bool)
    return PythonConfig(**kw)


# --------------------------------------------------------------------------------------------
# Helpers


def _read(path: Path) -> str:
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise ConfigError(
            path,
            None,
            "cannot read the configuration: no such file (give another with --config PATH or SYNCD_CONFIG)",
        ) from None
    except IsADirectoryError:
        raise ConfigError(path, None, "cannot read the configuration: it is a directory") from None
    except OSError as e:
        raise ConfigError(path, None, f"cannot read the configuration: {e.strerror}") from None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as e:
        line = data[: e.start].count(b"\n") + 1
        raise ConfigError(path, None, f"not valid TOML: not UTF-8 text (at line {line})") from None


_TYPE_NAMES = {bool: "boolean", int: "integer", float: "float", str: "string", list: "array", dict: "table"}


def _type_name(value) -> str:
    for py, name in _TYPE_NAMES.items():
        if type(value) is py:
            return name
    return type(value).__name__  # datetime, date, time


def _suggest(word: str, choices) -> str:
    close = difflib.get_close_matches(word, choices, n=1, cutoff=0.6)
    return f" (did you mean {close[0]!r}?)" if close else ""


class _Source:
    """The file being loaded: builds errors, with the line of the key when it can be found."""

    def __init__(self, path: Path, text: str):
        self.path, self.text = path, text

    def error(
        self, dotted: str, expected: str, line_key: str | None = None, at_line: bool = True
    ) -> ConfigError:
        line = _line_of(self.text, line_key or dotted) if at_line else None
        return ConfigError(self.path, dotted, expected + (f" (line {line})" if line else ""))


def _line_of(text: str, dotted: str) -> int | None:
    """Best effort: the line that sets `dotted` (or its nearest enclosing key or table)."""
    lines = text.splitlines()
    wanted = dotted.split(".")
    for n in range(len(wanted), 0, -1):
        target = ".".join(wanted[:n])
        table = ""
        for number, raw in enumerate(lines, 1):
            line = raw.strip()
            header = re.match(r"\[\s*([^\[\]]+?)\s*\]", line)
            if header and not line.startswith("[["):
                table = re.sub(r"\s*\.\s*", ".", header.group(1)).replace('"', "")
                if table == target:
                    return number
                continue
            key = re.match(
                r"""((?:[A-Za-z0-9_-]+|"[^"]*"|'[^']*')(?:\s*\.\s*(?:[A-Za-z0-9_-]+|"[^"]*"|'[^']*'))*)\s*=""",
                line,
            )
            if key:
                name = re.sub(r"\s*\.\s*", ".", key.group(1)).replace('"', "").replace("'", "")
                if (f"{table}.{name}" if table else name) == target:
                    return number
    return None


class _Section:
    """One [table] of the file: typed access to its keys, unknown keys refused up front."""

    def __init__(self, src: _Source, name: str, table: dict):
        self.src, self.name, self.table = src, name, table
        allowed = KEYS[name]
        for key in table:
            if key not in allowed:
                raise self.error(
                    key,
                    "unknown key"
                    + _suggest(key, allowed)
                    + f"; allowed keys in [{name}]: {', '.join(allowed)}",
                )

    def error(
        self, key: str, expected: str, line_key: str | None = None, at_line: bool = True
    ) -> ConfigError:
        return self.src.error(
            f"{self.name}.{key}",
            expected,
            line_key=f"{self.name}.{line_key}" if line_key else None,
            at_line=at_line,
        )

    def has(self, key: str) -> bool:
        return key in self.table

    def get(self, key: str, kind: type, required: bool = False):
        value = self.table.get(key, _MISSING)
        if value is _MISSING:
            if required:
                raise self.error(key, f"missing required key (expected a {_TYPE_NAMES[kind]})", at_line=False)
            return None
        if type(value) is not kind:  # `type is`, so true is not taken for an integer
            raise self.error(key, f"expected a {_TYPE_NAMES[kind]}, found {_type_name(value)}")
        return value

    def choice(self, key: str, allowed: tuple[str, ...]) -> str:
        value = self.get(key, str)
        if value not in allowed:
            raise self.error(
                key,
                f"expected one of {', '.join(repr(a) for a in allowed)}, got {value!r}"
                + _suggest(value, allowed),
            )
        return value

    def duration(self, key: str, positive: bool = False) -> float:
        try:
            seconds = parse_duration(self.table[key])
        except ValueError as e:
            raise self.error(key, str(e)) from None
        if positive and seconds == 0:
            raise self.error(key, "must be longer than 0")
        return seconds

    def abs_path(self, key: str, value: str) -> Path:
        path = PurePosixPath(value)
        if not value or "\0" in value or not path.is_absolute() or ".." in path.parts:
            raise self.error(key, f'expected an absolute path without "..", got {value!r}')
        return Path(os.path.normpath(value))

    def rel_path(self, key: str, value, line_key: str) -> str:
        if not isinstance(value, str):
            raise self.error(
                key,
                f"expected a string (a path relative to repo.path), found {_type_name(value)}",
                line_key=line_key,
            )
        path = PurePosixPath(value)
        if (
            not value
            or "\0" in value
            or path.is_absolute()
            or ".." in path.parts
            or path == PurePosixPath(".")
        ):
            raise self.error(
                key,
                "expected a file path relative to repo.path that stays inside it "
                f'(not absolute, no ".."), got {value!r}',
                line_key=line_key,
            )
        return value

    def argv(self, key: str, argv: list, line_key: str | None = None) -> tuple[str, ...]:
        if not argv:
            raise self.error(
                key, "expected a non-empty list of strings (program and arguments)", line_key=line_key
            )
        for i, arg in enumerate(argv):
            if not isinstance(arg, str):
                raise self.error(
                    f"{key}[{i}]", f"expected a string, found {_type_name(arg)}", line_key=line_key or key
                )
        if not argv[0]:
            raise self.error(f"{key}[0]", "the program name must not be empty", line_key=line_key or key)
        return tuple(argv)

    def ref_name(self, key: str, value: str) -> str:
        reason = _bad_ref_name(value)
        if reason:
            raise self.error(key, f"expected a valid git ref name, got {value!r}: {reason}")
        return value


def _bad_ref_name(name: str) -> str | None:
    """Why `name` is not a usable branch/remote name (git check-ref-format rules), or None."""
    if not name:
        return "must not be empty"
    if name.startswith("-"):
        return 'must not start with "-"'
    if name in ("@", "HEAD"):
        return f"{name!r} is reserved"
    if any(ord(c) < 0x20 or ord(c) == 0x7F for c in name):
        return "must not contain control characters"
    for bad in (" ", "~", "^", ":", "?", "*", "[", "\\", "..", "@{", "//"):
        if bad in name:
            return f"must not contain {bad!r}"
    if name.startswith("/") or name.endswith("/") or name.endswith("."):
        return 'must not start or end with "/" or end with "."'
    for part in name.split("/"):
        if part.startswith(".") or part.endswith(".lock"):
            return 'no part may start with "." or end with ".lock"'
    return None

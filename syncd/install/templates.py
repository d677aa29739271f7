"""The files `syncd install` writes, built from its answers. Pure functions: text in, text out."""

from __future__ import annotations

import json
import re
import shlex

from syncd.records import dataclass
from pathlib import Path

PRIVILEGED_PORTS = 1024  # below this, binding needs CAP_NET_BIND_SERVICE


@dataclass(frozen=True)
class Answers:
    name: str
    repo: str
    dir: Path
    user: str
    group: str
    branch: str = "master"
    local_branch: str | None = None
    exec: str = "venv/bin/python main.py"
    port: int | None = None
    push_repo: Path | None = None
    secrets: bool = False
    admins: tuple[str, ...] = ()
    scope: str = "system"
    requirements: str = "requirements.txt"

    @property
    def unit(self) -> str:
        return f"{self.name}.service"

    @property
    def key_path(self) -> Path:
        return Path("/etc/syncd/keys") / f"{self.name}.key"

    @property
    def home(self) -> Path:
        """The user's home is the unit's StateDirectory: one place for its data, owned by it."""
        return Path("/var/lib") / self.name

    @property
    def origin(self) -> str:
        return str(self.push_repo) if self.push_repo else self.repo


# -- the service's unit -------------------------------------------------------------------------

_BARE_WORD = re.compile(r"[A-Za-z0-9_@%+=:,./-]+\Z")


def exec_word(word: str) -> str:
    """One ExecStart= word (systemd.service(5) "Command lines"): % and $ doubled, quoted if needed."""
    word = word.replace("%", "%%").replace("$", "$$")
    if word and _BARE_WORD.match(word) and not word.startswith(("-", "@", "+", "!", ":")):
        return word
    return '"' + word.replace("\\", "\\\\").replace('"', '\\"') + '"'


def exec_argv(answers: Answers) -> list[str]:
    """--exec with the program made absolute (systemd needs it) and relative *.py scripts too, so
    what runs does not depend on WorkingDirectory=."""
    argv = shlex.split(answers.exec)
    out = []
    for i, word in enumerate(argv):
        relative = not word.startswith(("/", "-")) and not word.startswith("$")
        if relative and (i == 0 or word.endswith(".py")):
            word = str(answers.dir / word)
        out.append(word)
    return out


def pipeline_unit(a: Answers) -> str:
    system = a.scope == "system"
    lines = [
        f"# {a.unit}: written by `syncd install {a.name}`; syncd@{a.name} deploys {a.dir} into it",
        f"# (config /etc/syncd/{a.name}.toml). Yours to change: a later `syncd install` shows what differs",
        "# and overwrites an edit only with --force. Environment and passwords do not go here: syncd",
        f"# writes them from the repository into {a.unit}.d/50-syncd.conf.",
        "[Unit]",
        f"Description={a.name} (deployed from git by syncd@{a.name})",
        *(["Wants=network-online.target", "After=network-online.target"] if system else []),
        "# A version that keeps crashing stops being restarted; syncd rolls it back.",
        "StartLimitIntervalSec=5min",
        "StartLimitBurst=5",
        "",
        "[Service]",
        "Type=simple",
        f"User={a.user}",
        f"Group={a.group}",
        f"WorkingDirectory={a.dir}",
        "ExecStart=" + " ".join(exec_word(w) for w in exec_argv(a)),
        "Restart=on-failure",
        "RestartSec=5s",
        f"# Read-only for it: the whole file system, its own code in {a.dir} included, except its data in",
        f"# /var/lib/{a.name} (also {a.user}'s home), its logs in /var/log/{a.name} ($STATE_DIRECTORY,",
        "# $LOGS_DIRECTORY) and its own /tmp. systemd creates both directories, owned by it.",
        f"StateDirectory={a.name}",
        f"LogsDirectory={a.name}",
        f"# What it creates stays readable by {a.group}.",
        "UMask=0027",
    ]
    if a.port is not None and a.port < PRIVILEGED_PORTS:
        lines += [
            f"# Port {a.port} is below 1024: this one capability lets {a.user} bind it without root.",
            "AmbientCapabilities=CAP_NET_BIND_SERVICE",
            "CapabilityBoundingSet=CAP_NET_BIND_SERVICE",
        ]
    else:
        lines += ["CapabilityBoundingSet="]
    lines += [
        "NoNewPrivileges=yes",
        "ProtectSystem=strict",
        "ProtectHome=yes",
        "PrivateTmp=yes",
        "# Not PrivateDevices=: a pipeline running a model needs the GPU's device nodes.",
        "ProtectKernelTunables=yes",
        "ProtectKernelModules=yes",
        "ProtectControlGroups=yes",
        "RestrictSUIDSGID=yes",
        "LockPersonality=yes",
        "RestrictAddressFamilies=AF_UNIX AF_INET AF_INET6",
        "",
        "[Install]",
        f"WantedBy={'multi-user.target' if system else 'default.target'}",
    ]
    return "\n".join(lines) + "\n"


# -- /etc/syncd/NAME.toml -----------------------------------------------------------------------


def toml_string(value: str) -> str:
    """A TOML basic string: JSON's escapes are all valid TOML ones (non-ASCII kept as it is)."""
    return json.dumps(value, ensure_ascii=False)


def config_text(a: Answers, with_python: bool) -> str:
    q = toml_string
    lines = [
        f"# /etc/syncd/{a.name}.toml: written by `syncd install {a.name}`; every key: docs/configuration.md.",
        "# Yours to change: a later `syncd install` shows what differs and overwrites an edit only with --force.",
        "[repo]",
        f"path = {q(str(a.dir))}",
        'remote = "origin"',
        f"branch = {q(a.branch)}",
    ]
    if a.local_branch:
        lines.append(f"local_branch = {q(a.local_branch)}")
    lines += ["", "[service]", f"unit = {q(a.unit)}"]
    if a.scope != "system":
        lines.append(f"scope = {q(a.scope)}")
    lines.append(f"owner = {q(f'{a.user}:{a.group}')}")
    if a.secrets:
        lines += [
            "",
            "[env]",
            '# secrets = ["deploy/production.env.enc"]   # encrypted files in the repo (docs/secrets.md)',
            f"key = {q(str(a.key_path))}",
        ]
    if a.port is not None:
        lines += [
            "",
            "[health]",
            "# A deploy is kept only once the new version accepts connections here.",
            f"tcp = {q(f'127.0.0.1:{a.port}')}",
        ]
    if with_python:
        lines += ["", "[python]", f"requirements = {q(a.requirements)}", 'venv = "venv"']
    return "\n".join(lines) + "\n"


# -- syncd's own units --------------------------------------------------------------------------

SHIPPED_SYNCD = "/usr/local/bin/syncd"


def daemon_unit(shipped: str, syncd_path: str, scope: str = "system") -> str:
    """A shipped syncd unit, pointed at the syncd that is actually installed (and, for a user
    manager, wanted by its default.target: it has no multi-user.target)."""
    text = shipped.replace(f"ExecStart={SHIPPED_SYNCD} ", f"ExecStart={syncd_path} ")
    return text.replace("WantedBy=multi-user.target", "WantedBy=default.target") if scope == "user" else text


def path_word(path) -> str:
    """A path in a space-separated list such as ReadWritePaths= (specifiers doubled, quoted if needed)."""
    text = str(path).replace("%", "%%")
    return text if _BARE_WORD.match(text) else '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def daemon_dropin(a: Answers, unit_dir: Path, state_dir: Path, env: dict[str, str]) -> str | None:
    """syncd@NAME needs to write what its shipped sandbox does not allow; None when nothing."""
    writable = []
    if not a.dir.is_relative_to("/opt"):
        writable.append(a.dir)
    lines = []
    if a.scope == "user":
        # A user manager's units and drop-ins, and syncd's state, are not where the system unit expects.
        writable += [unit_dir, state_dir]
        if any(Path(p).is_relative_to("/tmp") for p in [*writable, *env.values()]):
            lines.append("PrivateTmp=no")
        if env:
            from syncd.render.quoting import environment_line

            lines += [environment_line(k, v) for k, v in sorted(env.items())]
    if writable:
        lines.insert(0, "ReadWritePaths=" + " ".join(path_word(p) for p in writable))
    if not lines:
        return None
    return (
        f"# syncd@{a.name}: written by `syncd install {a.name}`: what the shipped sandbox of syncd@.service\n"
        "# does not let it write.\n[Service]\n" + "\n".join(lines) + "\n"
    )

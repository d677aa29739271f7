"""`syncd install NAME --repo ...`: from a bare server to push-to-deploy in one idempotent command.

Each step is a small function `step_x(ctx) -> Step`: it looks at the host and says what it would
change (nothing when all is already as wanted) and why; `Step.apply` does it. A run first plans
every step without changing anything (all that --dry-run does), stops before anything moves when a
step cannot go ahead (a file a person edited, without --force), then plans and applies each step
in turn, printing it. Exit 0 done, 1 a step failed (saying what to do next), 2 bad input.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path, PurePosixPath

from syncd.errors import SyncdError, ToolError, UsageError
from syncd.install.record import CREATE, EDITED, SAME, Record
from syncd.install.templates import Answers
from syncd.records import dataclass, field
from syncd.tools import accounts

NAME = re.compile(r"[a-z_][a-z0-9_-]{0,30}\Z")  # a user name, a unit name and a file name at once
CONFIG_DIR = Path("/etc/syncd")
STATE_DIR = Path("/var/lib/syncd")  # the config's default state.dir
UNITS_PACKAGE = "syncd.data"  # units/ in it: the repository's units/, shipped as package data


def register(sub) -> None:
    p = sub.add_parser(
        "install",
        help="set a server up: user, group, tree, environment, unit, config, key, push repo, syncd@NAME",
        description="Set up NAME on this server, idempotently: every step is printed with why. "
        "A second identical run has nothing to do.",
    )
    p.add_argument("name", metavar="NAME", help="the service: unit NAME.service, config /etc/syncd/NAME.toml")
    p.add_argument("--repo", required=True, metavar="URL_OR_PATH", help="the git repository to deploy from")
    p.add_argument("--dir", type=Path, metavar="PATH", help="working tree (default /opt/NAME)")
    p.add_argument("--user", metavar="USER", help="system user the service runs as (default NAME)")
    p.add_argument("--group", metavar="GROUP", help="admin group that may edit the tree (default NAMEadmin)")
    p.add_argument("--branch", default="master", help="upstream branch to deploy (default master)")
    p.add_argument("--local-branch", metavar="BRANCH", help="production-only branch upstream is merged into")
    p.add_argument(
        "--exec",
        dest="exec_",
        default="venv/bin/python main.py",
        metavar="COMMAND",
        help='what the unit runs, relative to --dir (default "venv/bin/python main.py")',
    )
    p.add_argument(
        "--port",
        type=int,
        metavar="N",
        help="TCP port the service listens on (health check; below 1024 the unit gets CAP_NET_BIND_SERVICE)",
    )
    p.add_argument(
        "--push-repo", type=Path, metavar="PATH", help="bare repository on this host developers push to"
    )
    p.add_argument(
        "--secrets", action="store_true", help="create a key for encrypted secrets and print its recipient"
    )
    p.add_argument(
        "--admin",
        action="append",
        default=[],
        metavar="USER",
        help="add USER to the admin group (repeatable)",
    )
    p.add_argument(
        "--requirements",
        default="requirements.txt",
        metavar="FILE",
        help="requirements file in the repo the environment is built from (default requirements.txt)",
    )
    p.add_argument(
        "--scope",
        choices=("system", "user"),
        default="system",
        help="systemd manager of the units (default system; user: root's user manager, for tests)",
    )
    p.add_argument("--dry-run", action="store_true", help="print every step and change nothing")
    p.add_argument(
        "--force", action="store_true", help="overwrite files a person edited (their bytes are kept)"
    )
    p.set_defaults(func=run)


# -- the plan of one step -------------------------------------------------------------------------


class StepFailed(SyncdError):
    """A step could not be done; the message says what to do next."""

    exit_code = 1


@dataclass
class Step:
    title: str
    why: str
    changes: list[str] = field(default_factory=list)  # empty: already as wanted
    apply: Callable[[], None] | None = None
    blocked: str | None = None  # cannot go ahead: what is wrong and what to do
    note: str | None = None  # told even when nothing changes
    fix: str = ""  # what to do when apply fails


@dataclass
class Ctx:
    a: Answers
    dry_run: bool
    force: bool
    record: Record
    systemctl: object
    syncd_path: str
    changed: bool = False  # a step of this run changed something
    reload: bool = False  # a unit file changes: daemon-reload
    unit_changed: bool = False  # the service's unit changes: restart it if it runs
    config_changed: bool = False  # NAME.toml or the daemon's drop-in changes: restart syncd@NAME

    @property
    def unit_dir(self) -> Path:
        return self.systemctl.unit_dir()

    @property
    def config_path(self) -> Path:
        return CONFIG_DIR / f"{self.a.name}.toml"

    def owner(self):
        """The service user's identity (exists once the user step ran)."""
        from syncd.tools.git import identity_for

        u = accounts.user(self.a.user)
        g = accounts.group(self.a.group)
        if u is None or g is None:
            raise StepFailed(
                f"user {self.a.user} or group {self.a.group} is missing; run `syncd install` again"
            )
        return identity_for(u.pw_uid, g.gr_gid)


# -- accounts -------------------------------------------------------------------------------------


def step_systemd(ctx: Ctx) -> Step:
    """Checked first: without a service manager to run the units, nothing else is worth doing."""
    scope = "the system's systemd (PID 1)" if ctx.a.scope == "system" else "your systemd --user"
    step = Step(f"{scope}", "it runs the service and syncd@NAME".replace("NAME", ctx.a.name))
    why_not = ctx.systemctl.reachable()
    if why_not:
        step.blocked = (
            f"{scope} does not answer ({why_not}): syncd install needs a booted systemd; run it on "
            "the server itself (in a container without systemd as PID 1: --scope user under a "
            "systemd --user of root)"
        )
    return step


def step_group(ctx: Ctx) -> Step:
    g = ctx.a.group
    step = Step(
        f"admin group {g}", "its members (the people who look after the service) edit the tree without root"
    )
    if accounts.group(g) is None:
        step.changes = [shlex.join(accounts.add_group_argv(g))]
        step.apply = lambda: accounts.add_group(g)
    return step


def step_user(ctx: Ctx) -> Step:
    a = ctx.a
    step = Step(
        f"system user {a.user}", "the service runs as a user of its own: not root, not a person's account"
    )
    existing = accounts.user(a.user)
    if existing is None:
        argv = accounts.add_user_argv(a.user, a.group, str(a.home), f"{a.name} service (syncd install)")
        step.changes.append(shlex.join(argv))
    elif not accounts.in_group(a.user, a.group):
        step.changes.append(" ".join(accounts.add_to_group_argv(a.user, a.group)))
    if not a.home.is_dir():
        step.changes.append(f"create its home {a.home} (0750; also the unit's StateDirectory)")

    def apply():
        if accounts.user(a.user) is None:
            accounts.add_user(a.user, a.group, str(a.home), f"{a.name} service (syncd install)")
        elif not accounts.in_group(a.user, a.group):
            accounts.add_to_group(a.user, a.group)
        if not a.home.is_dir():
            a.home.mkdir(mode=0o750, parents=True)
            u = accounts.user(a.user)
            os.chown(a.home, u.pw_uid, accounts.group(a.group).gr_gid)

    step.apply = apply
    return step


def step_admins(ctx: Ctx) -> Step:
    g = ctx.a.group
    step = Step(
        f"members of {g}: {', '.join(ctx.a.admins)}", "they may edit the tree and push to the push repository"
    )
    missing = [u for u in ctx.a.admins if not accounts.in_group(u, g)]
    step.changes = [" ".join(accounts.add_to_group_argv(u, g)) for u in missing]
    step.note = "takes effect at their next login" if missing else None
    step.apply = lambda: [accounts.add_to_group(u, g) for u in missing]
    return step


# -- repositories ---------------------------------------------------------------------------------


def _local_path(url: str) -> Path | None:
    from syncd.tools.git import local_path_of

    path = local_path_of(url, Path("/"))
    return path if path is not None and path.is_absolute() else None


def _trusted(path: Path | None, who) -> list[str]:
    """git refuses a local repository someone else owns ("dubious ownership"): vouch for this one."""
    if path is None or not path.exists() or path.stat().st_uid == who.uid:
        return []
    real = os.path.realpath(path)
    return [real, os.path.join(real, ".git")]


def step_push_repo(ctx: Ctx) -> Step:
    from syncd.tools import files, git

    a, p = ctx.a, ctx.a.push_repo
    step = Step(
        f"push repository {p}",
        f"developers push here; the tree fetches from it and {a.name} deploys at once",
        fix=f"check that {a.user} can read {a.repo}; remove {p} and run `syncd install` again",
    )
    if p.exists() and not (p / "HEAD").is_file():
        step.blocked = (
            f"{p} exists and is not a bare git repository: move it away or give another --push-repo"
        )
        return step
    if not p.exists():
        source = _local_path(a.repo)
        fetcher = "root" if source is not None and source.exists() and source.stat().st_uid == 0 else a.user
        step.changes += [
            f"git init --bare --shared=group {p}; chown -R root:{a.group} (root owns it, the group writes it)",
            f"fetch every branch of {a.repo} into it, as {fetcher}",
        ]
    else:
        st = p.stat()
        if st.st_uid != 0 or st.st_gid != _gid(a.group):
            step.changes.append(" ".join(files.chown_recursive_argv(f"root:{a.group}", p)))
    if os.path.realpath(p) not in git.system_safe_directories():
        step.changes.append(
            f"git config --system --add safe.directory {p} (root vouches for a repository "
            f"{a.user} and developers do not own)"
        )

    def apply():
        who = ctx.owner()
        if not p.exists():
            root = git.Git(p.parent, git.identity_for(0, 0))
            p.parent.mkdir(parents=True, exist_ok=True, mode=0o755)
            root.init_bare(p, a.branch)
            files.chown_recursive(f"root:{a.group}", p)
            source = _local_path(a.repo)
            if source is not None and source.stat().st_uid == 0:
                # Root's own repository (perhaps in a directory only root can enter): root copies it,
                # from one repository it owns into another.
                fetcher = git.Git(p, git.identity_for(0, 0))
            else:
                fetcher = git.Git(p, who)
                fetcher.trust([os.path.realpath(p), *_trusted(source, who)])
            fetcher.fetch_all_branches(a.repo)
        st = p.stat()
        if st.st_uid != 0 or st.st_gid != _gid(a.group):
            files.chown_recursive(f"root:{a.group}", p)
        if os.path.realpath(p) not in git.system_safe_directories():
            git.add_system_safe_directory(os.path.realpath(p))

    step.apply = apply
    return step


def _gid(group: str) -> int | None:
    g = accounts.group(group)
    return g.gr_gid if g else None


def step_tree(ctx: Ctx) -> Step:
    from syncd.tools import files, git

    a, d = ctx.a, ctx.a.dir
    step = Step(
        f"working tree {d}",
        f"{a.name} runs from a checkout {a.user} owns and syncd updates as {a.user}",
        fix=f"make {a.origin} readable by {a.user} (for a path: the directories above it need o+x, or "
        f"group {a.group}), or give --push-repo (root copies a repository of its own into it); "
        "then run `syncd install` again",
    )
    if d.exists() and not d.is_dir():
        step.blocked = f"{d} exists and is not a directory: move it away or give another --dir"
        return step
    if not d.exists() or not any(d.iterdir()):
        step.changes.append(
            f"git clone {a.origin} {d} as {a.user} (branch {a.branch}; group-writable for {a.group})"
        )

        def clone():
            who = ctx.owner()
            d.mkdir(parents=True, exist_ok=True, mode=0o755)
            os.chown(d, who.uid, who.gid)
            os.chmod(d, 0o2775)  # setgid: what anyone creates in it belongs to the admin group
            cloner = git.Git(d, who)
            cloner.trust(_trusted(_local_path(a.origin), who))
            cloner.clone(a.origin, d, branch=a.branch)

        step.apply = clone
        return step
    if not (d / ".git").is_dir():
        step.blocked = (
            f"{d} is not empty and not a git checkout: move its contents away (or clone it yourself "
            f"from {a.origin}), or give another --dir"
        )
        return step
    # An existing checkout is adopted as it is: its commits and uncommitted edits stay.
    url = git.config_file_value(d / ".git" / "config", "remote.origin.url")
    if url != a.origin:
        step.changes.append(f"git remote set-url origin {a.origin} (was {url or 'not set'})")
    u, g = accounts.user(a.user), accounts.group(a.group)
    foreign = not_owned(d, u.pw_uid if u else -1, g.gr_gid if g else -1, limit=3)
    if foreign:
        step.changes.append(
            f"{' '.join(files.chown_recursive_argv(f'{a.user}:{a.group}', d))}; "
            f"{' '.join(files.group_writable_argv(d))} (owned by someone else: {', '.join(foreign)})"
        )

    def adopt():
        who = ctx.owner()
        if not_owned(d, who.uid, who.gid, limit=1):
            files.chown_recursive(f"{a.user}:{a.group}", d)
            files.make_group_writable(d)
        if git.config_file_value(d / ".git" / "config", "remote.origin.url") != a.origin:
            tree = git.Git(d, who)
            if tree.remote_url("origin") is None:
                tree.add_remote("origin", a.origin)
            else:
                tree.set_remote_url("origin", a.origin)

    step.apply = adopt
    return step


def not_owned(root: Path, uid: int, gid: int, limit: int = 3) -> list[str]:
    from syncd.doctor.tree_owner import not_owned_by

    return not_owned_by(root, uid, gid, limit)


def step_local_branch(ctx: Ctx) -> Step:
    from syncd.tools import git

    a, d = ctx.a, ctx.a.dir
    step = Step(
        f"local branch {a.local_branch}",
        f"server-only commits live there; syncd merges {a.branch} into it",
        fix=f"as {a.user}: `git -C {d} status` shows what stops the checkout; commit or move it, then "
        "run `syncd install` again",
    )
    head = _read_small(d / ".git" / "HEAD")
    if head == f"ref: refs/heads/{a.local_branch}":
        return step
    step.changes.append(
        f"git checkout -b {a.local_branch} (or check it out if it exists; uncommitted edits kept)"
    )

    def apply():
        tree = git.Git(d, ctx.owner())
        if tree.has_branch(a.local_branch):
            tree.switch(a.local_branch)
        else:
            tree.new_branch(a.local_branch)

    step.apply = apply
    return step


def _read_small(path: Path) -> str | None:
    """A small file of the tree, read without following a link (root reads the owner's files as data)."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError:
        return None
    try:
        return os.read(fd, 4096).decode("utf-8", "replace").strip()
    except OSError:
        return None
    finally:
        os.close(fd)


# -- the environment ------------------------------------------------------------------------------


def _venv_dir(a: Answers) -> Path | None:
    """The environment ExecStart uses, when it is one in the tree (venv/bin/python ...)."""
    from syncd.install.templates import exec_argv

    program = PurePosixPath(exec_argv(a)[0])
    if program.parent.name == "bin" and program.name.startswith("python") and program.is_relative_to(a.dir):
        return Path(program.parent.parent)
    return None


def build_environment(ctx: Ctx, venv: Path) -> None:
    """The one place that makes the pipeline's environment, as its owner: with [python], the
    environment of HEAD's requirements and `venv` a link to it (docs/python.md); without a
    requirements file in the repo, a plain venv."""
    from syncd.tools import venv as venvtool

    who = ctx.owner()
    if _with_python_section(ctx):
        from syncd.config import PythonConfig
        from syncd.environments import build_for_commit

        build_for_commit(
            ctx.a.dir,
            PythonConfig(requirements=ctx.a.requirements, venv=str(venv.relative_to(ctx.a.dir))),
            who,
        )
        return
    venvtool.create(who, "/usr/bin/python3", venv, with_pip=True)
    requirements = ctx.a.dir / ctx.a.requirements
    if requirements.is_file():
        venvtool.pip_install(who, venv, requirements)


def step_environment(ctx: Ctx) -> Step:
    a = ctx.a
    venv = _venv_dir(a)
    step = Step(
        f"python environment {venv}",
        f"ExecStart runs {a.name} with its own packages, not the system's",
        fix=f"the build's last lines are above: fix {a.requirements} in the repository (or what the "
        "server's package index lacks); then run `syncd install` again",
    )
    if venv is None or (venv / "bin" / "python").exists():
        return step
    if _with_python_section(ctx):  # [python]: the environment of HEAD's requirements, `venv` a link to it
        step.changes.append(
            f"uv: environment of {a.requirements} in {a.dir}.envs/, {venv} a link to it, as {a.user}"
        )
    elif not (a.dir / ".git").exists():  # not cloned yet: the repository decides which
        step.changes.append(
            f"uv: environment of {a.requirements} in {a.dir}.envs/, {venv} a link to it, as "
            f"{a.user} (a plain venv if the repository has no {a.requirements})"
        )
    else:
        step.changes.append(
            f"python3 -m venv {venv}; pip install -r {a.requirements} (if the repo has it), as {a.user}"
        )
    step.apply = lambda: build_environment(ctx, venv)
    return step


# -- files in /etc ----------------------------------------------------------------------------------


def _file_step(
    ctx: Ctx,
    step: Step,
    path: Path,
    text: str,
    mode: int,
    on_change: Callable[[], None] = None,
    validate: Callable[[Path], None] | None = None,
) -> Step:
    """Create, update or leave `path`; a file a person edited is overwritten only with --force."""
    plan = ctx.record.plan(path, text.encode())
    if plan.kind == SAME:
        return step
    if plan.kind == CREATE:
        step.changes.append(f"write {path}")
    else:
        who = "a person edited it" if plan.kind == EDITED else "the answers changed"
        step.changes.append(f"rewrite {path} ({who}):\n" + _indent(plan.diff(), 6))
        if plan.kind == EDITED and not ctx.force:
            step.blocked = (
                f"{path} was not written by syncd install or was edited since: keep your version "
                f"(leave the answers as they were), or run again with --force to replace it "
                f"(its bytes are kept in {ctx.record.dir}/install-backup/)"
            )
    if on_change:
        on_change()

    def apply():
        if validate:
            validate(path)
        kept = ctx.record.write(ctx.record.plan(path, text.encode()), mode)
        if kept:
            print(f"      kept the edited version as {kept}")

    step.apply = apply
    return step


def _indent(text: str, n: int) -> str:
    return "\n".join(" " * n + line for line in text.splitlines())


def step_key(ctx: Ctx) -> Step:
    a = ctx.a
    step = Step(
        f"secrets key {a.key_path}",
        "opens the encrypted secrets committed in the repo; only root reads it",
        fix=f"check that {a.key_path.parent} is a root-owned directory; then run `syncd install` again",
    )
    if a.key_path.exists():
        from syncd.secrets import key_recipient

        try:
            step.note = f"its recipient, for the developers: {key_recipient(a.key_path)}"
        except Exception as exc:  # noqa: BLE001 - a key that does not load is the step's problem
            step.blocked = f"{a.key_path}: {exc}; move it away to make a new one"
        return step
    step.changes.append(f"syncd secrets keygen --out {a.key_path} (mode 0600; keys directory 0700)")

    def apply():
        from syncd import fsutil
        from syncd.secrets.keys import generate_key_file

        fsutil.ensure_dir(a.key_path.parent.parent, 0o755)
        fsutil.ensure_dir(a.key_path.parent, 0o700)
        recipient = generate_key_file(a.key_path)
        print(f"      its recipient, for the developers: {recipient}")
        print(
            f"      they add secrets with: syncd secrets set deploy/production.env.enc NAME --recipient {recipient}"
        )
        print(f"      and list the file in [env] secrets of {ctx.config_path}")

    step.apply = apply
    return step


def _with_python_section(ctx: Ctx) -> bool:
    """[python] (one environment per release) when the repo has the requirements file: without it,
    syncd's first sync would be blocked."""
    from syncd import config

    return "python" in config.SECTIONS and (ctx.a.dir / ctx.a.requirements).is_file()


def step_config(ctx: Ctx) -> Step:
    from syncd.install.templates import config_text

    step = Step(
        f"config {ctx.config_path}",
        "tells syncd@NAME what to deploy, where from, and as whom".replace("NAME", ctx.a.name),
        fix="read the error; fix the answers; run `syncd install` again",
    )

    def validate(path: Path) -> None:
        """Valid by construction, checked anyway: load the very bytes before they replace anything."""
        from syncd import fsutil
        from syncd.config import load_config

        tmp = path.with_name(f".{path.name}.check")
        fsutil.ensure_dir(path.parent, 0o755)
        fsutil.atomic_write(tmp, config_text(ctx.a, _with_python_section(ctx)).encode(), 0o600)
        try:
            load_config(tmp)
        finally:
            tmp.unlink(missing_ok=True)

    def changed():
        ctx.config_changed = True

    return _file_step(
        ctx, step, ctx.config_path, config_text(ctx.a, _with_python_section(ctx)), 0o644, changed, validate
    )


def step_unit(ctx: Ctx) -> Step:
    from syncd.install.templates import pipeline_unit

    a = ctx.a
    path = ctx.unit_dir / a.unit
    step = Step(
        f"unit {path}",
        f"systemd runs {a.name} from it: absolute paths, User={a.user}, Group={a.group}, "
        "Restart=on-failure"
        + (f", CAP_NET_BIND_SERVICE for port {a.port}" if a.port and a.port < 1024 else ""),
        fix=f"`systemd-analyze verify {path}` says what is wrong",
    )

    def changed():
        ctx.reload = ctx.unit_changed = True

    return _file_step(ctx, step, path, pipeline_unit(a), 0o644, changed)


def shipped_unit(name: str) -> str:
    from importlib.resources import files

    return files(UNITS_PACKAGE).joinpath("units", name).read_text(encoding="utf-8")


def step_syncd_units(ctx: Ctx) -> Step:
    from syncd.install.templates import daemon_unit

    step = Step(
        "syncd's units syncd.service, syncd@.service",
        f"syncd@{ctx.a.name} keeps {ctx.a.name} in sync with its repository, with nobody logged in",
        fix="reinstall syncd (the units ship with it)",
    )
    missing = [n for n in ("syncd.service", "syncd@.service") if not (ctx.unit_dir / n).exists()]
    step.changes = [
        f"write {ctx.unit_dir / n} from the package (ExecStart={ctx.syncd_path})" for n in missing
    ]
    if missing:
        ctx.reload = True

    def apply():
        for n in missing:
            plan = ctx.record.plan(
                ctx.unit_dir / n, daemon_unit(shipped_unit(n), ctx.syncd_path, ctx.a.scope).encode()
            )
            ctx.record.write(plan, 0o644)

    step.apply = apply
    return step


def daemon_env(ctx: Ctx) -> dict[str, str]:
    """A user manager's syncd needs to find that manager again (its runtime and config dirs)."""
    if ctx.a.scope != "user":
        return {}
    return {k: os.environ[k] for k in ("XDG_RUNTIME_DIR", "XDG_CONFIG_HOME") if os.environ.get(k)}


def step_daemon_dropin(ctx: Ctx) -> Step | None:
    from syncd.install.templates import daemon_dropin

    text = daemon_dropin(ctx.a, ctx.unit_dir, STATE_DIR / ctx.a.name, daemon_env(ctx))
    if text is None:
        return None
    path = ctx.unit_dir / f"syncd@{ctx.a.name}.service.d" / "50-install.conf"
    step = Step(
        f"drop-in {path}", f"syncd@{ctx.a.name} may write {ctx.a.dir}, outside the shipped unit's /opt"
    )

    def changed():
        ctx.reload = ctx.config_changed = True

    return _file_step(ctx, step, path, text, 0o644, changed)


# -- systemd --------------------------------------------------------------------------------------


def step_start(ctx: Ctx) -> Step:
    unit, sc = ctx.a.unit, ctx.systemctl
    step = Step(
        f"start {unit}",
        "it runs now and at every boot",
        fix=f"`journalctl -u {unit} -n 50` says why; `syncd doctor {ctx.a.name}` checks the usual causes",
    )
    if ctx.reload:
        step.changes.append("systemctl daemon-reload (unit files changed)")
    enabled, active = sc.is_enabled(unit), sc.is_active(unit)
    if not enabled or not active:
        step.changes.append(f"systemctl enable --now {unit}")
    elif ctx.unit_changed:
        step.changes.append(f"systemctl restart {unit} (its unit changed)")

    def apply():
        if ctx.reload:
            sc.daemon_reload()
        if not enabled or not active:
            sc.enable_now(unit)
        elif ctx.unit_changed:
            sc.restart(unit)

    step.apply = apply
    return step


def step_first_sync(ctx: Ctx) -> Step:
    from syncd.state import State

    a = ctx.a
    step = Step(
        f"syncd sync ({ctx.config_path})",
        "renders the environment, adopts the running commit, and shows the whole chain works",
        fix=f"`syncd --config {ctx.config_path} status` shows the reason; "
        "docs/troubleshooting.md says what to do",
    )
    if not ctx.changed and State(STATE_DIR / a.name).status().get("result"):
        return step
    step.changes.append(f"syncd --config {ctx.config_path} sync")

    def apply():
        proc = subprocess.run(
            [sys.executable, "-m", "syncd", "--config", str(ctx.config_path), "sync"],
            capture_output=True,
            text=True,
            stdin=subprocess.DEVNULL,
        )
        for line in (proc.stdout + proc.stderr).splitlines():
            print(f"      {line}")
        if proc.returncode != 0:
            raise StepFailed(f"syncd sync exited {proc.returncode}")

    step.apply = apply
    return step


def step_daemon(ctx: Ctx) -> Step:
    unit, sc = f"syncd@{ctx.a.name}.service", ctx.systemctl
    step = Step(
        f"start {unit}",
        "deploys every push from now on (watch + polling), and at every boot",
        fix=f"`journalctl -u {unit} -n 50` says why",
    )
    enabled, active = sc.is_enabled(unit), sc.is_active(unit)
    if not enabled or not active:
        step.changes.append(f"systemctl enable --now {unit}")
    elif ctx.config_changed:
        step.changes.append(f"systemctl restart {unit} (its config changed)")

    def apply():
        if not enabled or not active:
            sc.enable_now(unit)
        elif ctx.config_changed:
            sc.restart(unit)

    step.apply = apply
    return step


def steps_for(ctx: Ctx) -> list[Callable[[Ctx], Step | None]]:
    a = ctx.a
    return [
        step_systemd,
        step_group,
        step_user,
        *([step_admins] if a.admins else []),
        *([step_push_repo] if a.push_repo else []),
        step_tree,
        *([step_local_branch] if a.local_branch else []),
        *([step_environment] if _venv_dir(a) else []),
        *([step_key] if a.secrets else []),
        step_config,
        step_unit,
        step_syncd_units,
        step_daemon_dropin,
        step_start,
        step_first_sync,
        step_daemon,
    ]


# -- the command ----------------------------------------------------------------------------------


def answers_from(args) -> Answers:
    """Every argument checked before anything is looked at or changed (exit 2 naming what is wrong)."""
    from syncd.config import bad_ref_name

    name = args.name
    if not NAME.match(name):
        raise UsageError(
            f'NAME {name!r}: expected a lower-case name such as "pipeline" (letters, digits, - and _, '
            "at most 31 characters): it names the user, the unit and the config"
        )
    user, group = args.user or name, args.group or f"{name}admin"
    for what, value in (("--user", user), ("--group", group)):
        if not NAME.match(value):
            raise UsageError(
                f"{what} {value!r}: expected a lower-case name (letters, digits, - and _, at most 31)"
            )
    directory = args.dir or Path("/opt") / name
    for what, path in (("--dir", directory), ("--push-repo", args.push_repo)):
        if path is not None and (not path.is_absolute() or ".." in path.parts or str(path) == "/"):
            raise UsageError(f'{what} {path}: expected an absolute path without ".."')
    for what, branch in (("--branch", args.branch), ("--local-branch", args.local_branch)):
        reason = branch is not None and bad_ref_name(branch)
        if reason:
            raise UsageError(f"{what} {branch!r}: not a valid branch name: {reason}")
    if args.local_branch == args.branch:
        raise UsageError(
            "--local-branch must differ from --branch (leave it out to deploy the branch itself)"
        )
    try:
        words = shlex.split(args.exec_)
    except ValueError as exc:
        raise UsageError(f"--exec {args.exec_!r}: {exc}") from None
    if not words:
        raise UsageError('--exec: expected a command such as "venv/bin/python main.py"')
    if args.port is not None and not 1 <= args.port <= 65535:
        raise UsageError(f"--port {args.port}: expected 1 to 65535")
    if _local_path(args.repo) is not None and not _local_path(args.repo).exists():
        raise UsageError(f"--repo {args.repo}: no such repository on this host")
    for admin in args.admin:
        if accounts.user(admin) is None:
            raise UsageError(f"--admin {admin}: no such user on this host (create it first, or leave it out)")
    if (
        args.push_repo
        and _local_path(args.repo)
        and os.path.realpath(args.push_repo) == os.path.realpath(args.repo)
    ):
        raise UsageError("--push-repo must differ from --repo (it is made from --repo)")
    requirements = PurePosixPath(args.requirements)
    if requirements.is_absolute() or ".." in requirements.parts:
        raise UsageError(f"--requirements {args.requirements}: expected a path inside the repository")
    return Answers(
        name=name,
        repo=args.repo,
        dir=Path(os.path.normpath(directory)),
        user=user,
        group=group,
        branch=args.branch,
        local_branch=args.local_branch,
        exec=args.exec_,
        port=args.port,
        push_repo=Path(os.path.normpath(args.push_repo)) if args.push_repo else None,
        secrets=args.secrets,
        admins=tuple(dict.fromkeys(args.admin)),
        scope=args.scope,
        requirements=args.requirements,
    )


def syncd_executable() -> str:
    """What syncd's units run: the shipped path when it exists, else this installation's syncd."""
    from syncd.install.templates import SHIPPED_SYNCD

    if os.path.exists(SHIPPED_SYNCD):
        return SHIPPED_SYNCD
    beside = Path(sys.executable).parent / "syncd"
    if beside.exists():
        return str(beside)
    return shutil.which("syncd") or f"{sys.executable} -m syncd"


def plan(ctx: Ctx) -> list[Step]:
    steps = []
    for fn in steps_for(ctx):
        step = fn(ctx)
        if step is not None:
            steps.append(step)
            ctx.changed = ctx.changed or bool(step.changes)
    return steps


def show(step: Step, verb: str) -> None:
    if step.blocked and not step.changes:
        print(f"== {step.title}")
        return
    if not step.changes:
        print(f"== {step.title}: ok" + (f" ({step.note})" if step.note else ""))
        return
    print(f"== {step.title}\n   why: {step.why}")
    for change in step.changes:
        print(f"   {verb}: {change}")
    if step.note:
        print(f"   note: {step.note}")


def run(args) -> int:
    from syncd.tools.systemctl import Systemctl

    a = answers_from(args)
    if os.geteuid() != 0 and not args.dry_run:
        raise UsageError(
            "syncd install changes users, /etc and systemd: run it as root (sudo syncd install ...)"
        )
    ctx = Ctx(
        a=a,
        dry_run=args.dry_run,
        force=args.force,
        record=Record(STATE_DIR / a.name),
        systemctl=Systemctl(a.scope),
        syncd_path=syncd_executable(),
    )
    print(f"syncd install {a.name}: {a.origin} -> {a.dir}, unit {a.unit}, config {ctx.config_path}")
    steps = plan(ctx)
    blocked = [s for s in steps if s.blocked]
    if args.dry_run:
        for step in steps:
            show(step, "would")
            if step.blocked:
                print(f"   blocked: {step.blocked}")
        todo = sum(1 for s in steps if s.changes)
        print(
            "dry run: nothing to do"
            if not todo
            else f"dry run: {todo} steps would change something; nothing was changed"
        )
        return 1 if blocked else 0
    if blocked:
        for step in blocked:
            show(step, "would")
            print(f"error: {step.blocked}")
        print("nothing was changed")
        return 1
    if not any(s.changes for s in steps):
        for step in steps:
            show(step, "do")
        print("nothing to do")
        return 0
    # Plan again step by step: what a step finds depends on what the ones before it did.
    fresh = Ctx(
        a=a,
        dry_run=False,
        force=args.force,
        record=ctx.record,
        systemctl=ctx.systemctl,
        syncd_path=ctx.syncd_path,
    )
    for fn in steps_for(fresh):
        step = fn(fresh)
        if step is None:
            continue
        show(step, "do")
        if step.blocked:
            print(f"error: {step.blocked}")
            return 1
        if not step.changes:
            continue
        try:
            step.apply()
        except StepFailed as exc:
            print(f"error: {step.title}: {exc}\n   what to do: {step.fix}")
            return 1
        except (ToolError, OSError, SyncdError) as exc:
            print(
                f"error: {step.title}: {exc}\n   what to do: {step.fix or 'read the error and run syncd install again'}"
            )
            return 1
        fresh.changed = True
    print(
        f"done: {a.name} is installed; `syncd doctor {a.name}` checks it, `syncd --config {fresh.config_path} "
        "status` follows it"
    )
    return 0

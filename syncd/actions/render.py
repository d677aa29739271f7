"""`syncd render`: print the drop-in and environment syncd would write, secret values masked."""

from __future__ import annotations

import sys

from syncd.actions.common import load
from syncd.terminal import printable


def register(sub) -> None:
    p = sub.add_parser("render", help="print the drop-in syncd would write (secrets masked)")
    p.set_defaults(func=run)


def run(args) -> int:
    cfg = load(args)
    from syncd.actions.status import secrets_warnings
    from syncd.deploy.context import owner_identity
    from syncd.errors import SyncdError
    from syncd.render.environment import render, secrets_dir
    from syncd.tools.git import Git
    from syncd.tools.systemctl import Systemctl

    git = Git(cfg.repo.path, owner_identity(cfg), timeout=cfg.repo.git_timeout)
    systemctl = Systemctl(cfg.service.scope)
    warnings = secrets_warnings(cfg)
    try:
        rendered = render(cfg, lambda rel: git.read_blob("HEAD", rel), secrets_dir(cfg, systemctl.unit_dir()))
    except SyncdError:
        # The warning says why (e.g. the server key is not a recipient) before the error does.
        for w in warnings:
            print(printable(f"# warning: {w}"))
        sys.stdout.flush()
        raise
    print(f"# {systemctl.dropin_dir(cfg.service.unit) / cfg.service.dropin}")
    print(printable(rendered.masked(), keep_newlines=True), end="")
    for rel in sorted(rendered.secret_files):
        print(f"# secret file {secrets_dir(cfg, systemctl.unit_dir()) / rel} (0600, values masked)")
    if rendered.secret_names:
        print(f"# secret names: {', '.join(rendered.secret_names)}")
    for w in warnings:
        print(printable(f"# warning: {w}"))
    return 0

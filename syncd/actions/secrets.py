"""`syncd secrets ...`: create keys and manage encrypted secrets files (docs/secrets.md).

Exit 0, or 2 on bad input (a bad file, a wrong key, a bad name) with a message that names the
file, line and variable and never a value. Values never go to stdout except through `show`.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from syncd import log
from syncd.errors import SecretsError, UsageError

_LOG = log.get("secrets")


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "secrets",
        help="manage encrypted secrets files",
        description="Create keys and manage encrypted secrets files (see docs/secrets.md).",
    )
    sub = parser.add_subparsers(dest="secrets_command", required=True, metavar="SUBCOMMAND")

    p = sub.add_parser("keygen", help="create a key pair; prints the public recipient string")
    p.add_argument(
        "--out", required=True, type=Path, metavar="KEYFILE", help="private key file to create (mode 0600)"
    )
    p.set_defaults(secrets_func=cmd_keygen)

    p = sub.add_parser("set", help="add or replace one value (needs only the public recipients)")
    p.add_argument("file", type=Path, metavar="FILE")
    p.add_argument("name", metavar="NAME")
    p.add_argument(
        "value",
        nargs="?",
        metavar="VALUE",
        help="the value (visible in `ps` and shell history; omit it to read stdin instead)",
    )
    p.add_argument(
        "--recipient",
        action="append",
        default=[],
        metavar="R",
        help="recipient string, repeatable (when creating FILE)",
    )
    p.add_argument(
        "--env",
        metavar="LABEL",
        help="environment label when creating FILE (default: the file name up to its first dot)",
    )
    p.set_defaults(secrets_func=cmd_set)

    p = sub.add_parser("unset", help="remove one value")
    p.add_argument("file", type=Path, metavar="FILE")
    p.add_argument("name", metavar="NAME")
    p.set_defaults(secrets_func=cmd_unset)

    p = sub.add_parser("show", help='print decrypted values (one value exactly, or all as NAME="...")')
    p.add_argument("file", type=Path, metavar="FILE")
    p.add_argument("name", nargs="?", metavar="NAME")
    p.add_argument("--key", required=True, type=Path, metavar="KEYFILE")
    p.set_defaults(secrets_func=cmd_show)

    p = sub.add_parser("edit", help="edit decrypted values in $EDITOR; re-encrypts only changed values")
    p.add_argument("file", type=Path, metavar="FILE")
    p.add_argument("--key", required=True, type=Path, metavar="KEYFILE")
    p.set_defaults(secrets_func=cmd_edit)

    p = sub.add_parser("recipients", help="list recipients, or add/remove some (re-encrypts every value)")
    p.add_argument("file", type=Path, metavar="FILE")
    p.add_argument("--add", action="append", default=[], metavar="R")
    p.add_argument("--remove", action="append", default=[], metavar="R")
    p.add_argument("--key", type=Path, metavar="KEYFILE", help="needed with --add/--remove")
    p.set_defaults(secrets_func=cmd_recipients)

    parser.set_defaults(func=run)


def run(args) -> int:
    try:
        return args.secrets_func(args)
    except SecretsError as exc:  # for these commands a bad file or key is bad input: exit 2
        raise UsageError(str(exc)) from None


# ---- helpers --------------------------------------------------------------------------------


def _load(path: Path):
    from syncd.secrets import load_file

    return load_file(path, str(path))


def _write(secrets, path: Path) -> None:
    from syncd.secrets.files import write_atomic

    write_atomic(path, secrets.to_bytes())


def _check_name(name: str) -> None:
    from syncd.config.values import ENV_NAME_PATTERN, is_env_name

    if not is_env_name(name):
        raise UsageError(f"invalid variable name {name!r}: must match {ENV_NAME_PATTERN}")


def _check_recipient(text: str) -> str:
    from syncd.secrets.keys import decode_recipient

    try:
        decode_recipient(text)
    except ValueError as exc:
        raise UsageError(f"bad recipient {text!r}: {exc}") from None
    return text


def _read_value(name: str) -> str:
    """From stdin: exactly its bytes (UTF-8); at a terminal, a hidden prompt asked twice."""
    if sys.stdin.isatty():
        import getpass

        first = getpass.getpass(f"Value for {name}: ")
        if getpass.getpass(f"Again, value for {name}: ") != first:
            raise UsageError("the two values differ; nothing changed")
        return first
    data = sys.stdin.buffer.read()
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        raise UsageError(f"the value for {name} read from stdin is not UTF-8 text") from None


# ---- commands -------------------------------------------------------------------------------


def cmd_keygen(args) -> int:
    from syncd.secrets.keys import generate_key_file

    recipient = generate_key_file(args.out)
    print(recipient)
    _LOG.info("wrote private key %s (mode 0600); the line above is its public recipient string", args.out)
    return 0


def default_label(file: Path) -> str:
    """Without --env, a new file's environment is its name up to the first dot
    (deploy/production.env.enc -> "production"), so a value copied into staging.env.enc fails."""
    from syncd.secrets.format import valid_label

    stem = Path(file).name.split(".", 1)[0]
    return stem if valid_label(stem) else "default"


def cmd_set(args) -> int:
    from syncd.secrets import seal_value
    from syncd.secrets.format import new_file, valid_label

    _check_name(args.name)
    recipients = [_check_recipient(r) for r in args.recipient]
    if args.file.exists():
        secrets = _load(args.file)
        if args.env is not None and args.env != secrets.env:
            raise UsageError(f"{args.file}: its environment is {secrets.env!r}, not {args.env!r}")
        unknown = [r for r in recipients if r not in secrets.recipients]
        if unknown:
            raise UsageError(
                f"{args.file}: {unknown[0]} is not a recipient of this file; adding one re-encrypts "
                "every value: use `syncd secrets recipients FILE --add R --key KEYFILE`"
            )
    else:
        if not recipients:
            raise UsageError(f"{args.file} does not exist; to create it give at least one --recipient R")
        label = args.env if args.env is not None else default_label(args.file)
        if not valid_label(label):
            raise UsageError(
                f"bad --env {label!r}: must match [A-Za-z0-9][A-Za-z0-9._-]* (at most 64 characters)"
            )
        if len(set(recipients)) != len(recipients):
            raise UsageError("a --recipient is given twice")
        secrets = new_file(str(args.file), label, recipients)
    value = args.value if args.value is not None else _read_value(args.name)
    if "\0" in value:
        raise UsageError(f"the value for {args.name} contains a NUL character (impossible in an environment)")
    existed = secrets.find(args.name) is not None
    seal_value(secrets, args.name, value)
    _write(secrets, args.file)
    _LOG.info(
        "%s %s in %s (%d recipients)",
        "replaced" if existed else "added",
        args.name,
        args.file,
        len(secrets.recipients),
    )
    return 0


def cmd_unset(args) -> int:
    _check_name(args.name)
    secrets = _load(args.file)
    if not secrets.remove(args.name):
        raise UsageError(f"{args.file}: no variable {args.name}")
    _write(secrets, args.file)
    _LOG.info("removed %s from %s", args.name, args.file)
    return 0


def _decrypt(path: Path, key_path: Path):
    from syncd.secrets import decrypt_all, load_key_for

    secrets = _load(path)
    key = load_key_for(secrets, key_path)
    return secrets, key, decrypt_all(secrets, key)


def cmd_show(args) -> int:
    from syncd.secrets import plain

    if args.name is not None:
        _check_name(args.name)
    secrets, _key, values = _decrypt(args.file, args.key)
    if args.name is None:
        sys.stdout.write(plain.dump(values))
    elif args.name not in values:
        raise UsageError(f"{args.file}: no variable {args.name}")
    else:  # exactly the value, so `show F N > f; set F N < f` round-trips
        sys.stdout.write(values[args.name])
        if sys.stdout.isatty():
            sys.stdout.write("\n")
    sys.stdout.flush()
    return 0


def cmd_recipients(args) -> int:
    from syncd.secrets import seal_value

    if not args.add and not args.remove:
        for recipient in _load(args.file).recipients:
            print(recipient)
        return 0
    if args.key is None:
        raise UsageError("--add/--remove re-encrypt every value and need --key KEYFILE")
    added = [_check_recipient(r) for r in args.add]
    removed = [_check_recipient(r) for r in args.remove]
    secrets, key, values = _decrypt(args.file, args.key)
    for r in removed:
        if r not in secrets.recipients:
            raise UsageError(f"{args.file}: {r} is not a recipient")
    for r in added:
        if r in secrets.recipients or added.count(r) > 1:
            raise UsageError(f"{args.file}: {r} is already a recipient")
    new = [r for r in secrets.recipients if r not in removed] + added
    if not new:
        raise UsageError(f"{args.file}: refusing to remove every recipient (nobody could open it)")
    secrets.set_recipients(new)
    for name, value in values.items():
        seal_value(secrets, name, value)
    _write(secrets, args.file)
    _LOG.info("%s: re-encrypted %d values for %d recipients", args.file, len(values), len(new))
    if key.recipient in removed:
        _LOG.warning(
            "%s: the key %s is no longer a recipient and cannot open this file any more", args.file, args.key
        )
    if removed:
        _LOG.warning(
            "a removed recipient can still decrypt the old ciphertexts kept in git history: "
            "rotate the values it could read (docs/secrets.md)"
        )
    return 0


# ---- edit -----------------------------------------------------------------------------------

_EDIT_HEADER = """\
# Editing {file} (environment {env}). Save and quit to re-encrypt; only changed values are rewritten.
# NAME="value": inside quotes write \\\\ for a backslash and \\" for a quote; newlines are kept as typed.
# NAME=value: the rest of the line exactly. Delete a line to remove a variable. '#' lines are ignored.
# This decrypted copy lives in a private directory and is deleted when the editor exits.
"""


_RAM_FILESYSTEMS = ("tmpfs", "ramfs")


def _filesystem_of(path: str) -> str | None:
    """The type of the filesystem `path` is on, from /proc/self/mountinfo (the longest mount prefix)."""
    real = os.path.realpath(path)
    best, kind = "", None
    try:
        with open("/proc/self/mountinfo", encoding="utf-8", errors="replace") as mounts:
            for line in mounts:
                fields = line.split()
                if "-" not in fields:
                    continue
                mount_point = fields[4].replace("\\040", " ")
                inside = real == mount_point or real.startswith(mount_point.rstrip("/") + "/")
                if inside and len(mount_point) >= len(best):
                    best, kind = mount_point, fields[fields.index("-") + 1]
    except OSError:
        return None
    return kind


def _private_tempdir() -> str:
    """A fresh 0700 directory on a tmpfs (RAM), so the decrypted copy never reaches a disk."""
    import tempfile

    for base in (os.environ.get("XDG_RUNTIME_DIR"), f"/run/user/{os.getuid()}", "/dev/shm"):
        if (
            base
            and os.path.isdir(base)
            and os.access(base, os.W_OK)
            and _filesystem_of(base) in _RAM_FILESYSTEMS
        ):
            try:
                return tempfile.mkdtemp(prefix="syncd-secrets-", dir=base)
            except OSError:
                continue
    raise UsageError(
        "no writable tmpfs (RAM) directory for the decrypted copy (tried $XDG_RUNTIME_DIR, "
        "/run/user/UID, /dev/shm); refusing to write plaintext secrets to a disk. Set "
        "XDG_RUNTIME_DIR to a tmpfs directory you own, or edit with `secrets set`"
    )


def _ask_reopen(problem: str) -> bool:
    if not (sys.stdin.isatty() and sys.stderr.isatty()):
        return False
    sys.stderr.write(f"{problem}\nRe-open the editor? [Y/n] ")
    sys.stderr.flush()
    return sys.stdin.readline().strip().lower() in ("", "y", "yes")


def cmd_edit(args) -> int:
    import shlex
    import shutil
    import signal
    import subprocess

    from syncd.secrets import plain, seal_value

    secrets, _key, old = _decrypt(args.file, args.key)
    editor = shlex.split(os.environ.get("VISUAL") or os.environ.get("EDITOR") or "vi")
    # A SIGTERM/SIGHUP (closed terminal) must still run the cleanup below.
    previous = {s: signal.signal(s, _exit_on_signal) for s in (signal.SIGTERM, signal.SIGHUP)}
    tmpdir = _private_tempdir()
    try:
        os.chmod(tmpdir, 0o700)
        tmpfile = os.path.join(tmpdir, "secrets.env")
        fd = os.open(tmpfile, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        # newline="": "\r" and "\r\n" inside values are written and read back as they are.
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as handle:
            handle.write(_EDIT_HEADER.format(file=args.file, env=secrets.env) + plain.dump(old))
        while True:
            try:
                proc = subprocess.run([*editor, tmpfile])
            except OSError as exc:
                raise UsageError(
                    f"cannot run editor {editor[0]!r}: {exc.strerror}; {args.file} unchanged"
                ) from None
            if proc.returncode != 0:
                raise UsageError(f"editor exited with status {proc.returncode}; {args.file} unchanged")
            try:
                with open(tmpfile, encoding="utf-8", newline="") as handle:
                    new = plain.parse(handle.read())
                break
            except UnicodeDecodeError:
                problem = "edited text: not UTF-8"
            except plain.PlainError as exc:
                problem = f"edited text: {exc}"
            if not _ask_reopen(problem):
                raise UsageError(f"{problem}; {args.file} unchanged")
    finally:
        shutil.rmtree(tmpdir, ignore_errors=True)
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    changed = [n for n in new if n not in old or new[n] != old[n]]
    removed = [n for n in old if n not in new]
    if not changed and not removed:
        _LOG.info("%s: no changes", args.file)
        return 0
    for name in removed:
        secrets.remove(name)
    for name in changed:
        seal_value(secrets, name, new[name])
    _write(secrets, args.file)
    _LOG.info(
        "%s: %d changed or added, %d removed: %s",
        args.file,
        len(changed),
        len(removed),
        ", ".join(changed + [f"-{n}" for n in removed]),
    )
    return 0


def _exit_on_signal(signum, _frame):
    raise SystemExit(128 + signum)


def main(argv: list[str] | None = None) -> int:
    """`python -m syncd.actions.secrets SUBCOMMAND ...`: the same commands without the rest of syncd."""
    from syncd.errors import SyncdError

    parser = argparse.ArgumentParser(prog="syncd")
    register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(["secrets", *(sys.argv[1:] if argv is None else argv)])
    log.setup()
    try:
        return args.func(args)
    except SyncdError as exc:
        _LOG.error("%s", exc)
        return exc.exit_code


if __name__ == "__main__":
    sys.exit(main())

"""Is a commit signed by an allowed signer? Answered without the tree's git configuration.

`git verify-commit` in the tree would read its .git/config, which the service user writes:
`gpg.ssh.program`, `gpg.program`, `gpg.format` ... would decide what "verified" means. So syncd
takes the raw commit object, splits off the signature the way git does (the `gpgsig` header), and
asks the verifier itself, with root's own inputs:

- ssh: `ssh-keygen -Y find-principals` then `-Y verify -n git` against repo.allowed_signers, at the
  commit's committer time (as git does, so valid-after/valid-before in the file hold);
- gpg: `gpgv` with repo.allowed_signers as the only keyring (every key in it is trusted).

The verifier runs as syncd (never as the tree's owner, who could ptrace it), with a minimal
environment; the signature and the allowed signers reach it as in-memory files.
"""

from __future__ import annotations

import os
import re
import shutil
import tempfile
import time
from pathlib import Path

from syncd import runas

TIMEOUT = 30.0


def split_signed(raw: bytes) -> tuple[bytes, bytes | None]:
    """(signed payload, signature) of a raw commit: the payload is the object without its gpgsig header."""
    head, sep, message = raw.partition(b"\n\n")
    kept, signature, in_signature = [], [], False
    for line in head.split(b"\n"):
        if line.startswith(b"gpgsig "):
            in_signature = True
            signature.append(line[len(b"gpgsig ") :])
        elif in_signature and line.startswith(b" "):
            signature.append(line[1:])
        else:
            in_signature = False
            kept.append(line)
    payload = b"\n".join(kept) + sep + message
    return payload, (b"\n".join(signature) + b"\n") if signature else None


def committer_time(raw: bytes) -> int | None:
    head = raw.partition(b"\n\n")[0]
    m = re.search(rb"^committer .*> (\d+) [+-]\d{4}$", head, re.MULTILINE)
    return int(m.group(1)) if m else None


def _memfd(name: str, data: bytes) -> int:
    fd = os.memfd_create(name, 0)
    os.write(fd, data)
    return fd


def verify_ssh(raw_commit: bytes, allowed_signers: bytes) -> str | None:
    """None when a principal of `allowed_signers` signed the commit; else a short reason."""
    payload, signature = split_signed(raw_commit)
    if signature is None:
        return "not signed"
    if not signature.startswith(b"-----BEGIN SSH SIGNATURE-----"):
        return "not an ssh signature"
    when = committer_time(raw_commit)
    at = [f"-Overify-time={time.strftime('%Y%m%d%H%M%S', time.localtime(when))}"] if when else []
    allowed_fd, signature_fd = _memfd("allowed_signers", allowed_signers), _memfd("signature", signature)
    files = ["-f", f"/dev/fd/{allowed_fd}", "-s", f"/dev/fd/{signature_fd}"]
    try:
        found = runas.run(
            None,
            ["ssh-keygen", "-Y", "find-principals", *files, *at],
            timeout=TIMEOUT,
            pass_fds=(allowed_fd, signature_fd),
        )
        principals = [p for p in found.stdout.decode("utf-8", "replace").splitlines() if p.strip()]
        if found.returncode != 0 or not principals:
            return "signed by a key that is not in repo.allowed_signers"
        for principal in principals:
            checked = runas.run(
                None,
                ["ssh-keygen", "-Y", "verify", "-n", "git", *files, "-I", principal, *at],
                timeout=TIMEOUT,
                input=payload,
                pass_fds=(allowed_fd, signature_fd),
            )
            if checked.returncode == 0:
                return None
        return "bad signature"
    except runas.TimedOut:
        return "ssh-keygen did not answer in time"
    except OSError as exc:
        return f"cannot run ssh-keygen: {exc.strerror}"
    finally:
        os.close(allowed_fd)
        os.close(signature_fd)


def verify_gpg(raw_commit: bytes, keyring: Path) -> str | None:
    """None when a key of `keyring` (an exported public keyring) made a good signature; else a reason."""
    payload, signature = split_signed(raw_commit)
    if signature is None:
        return "not signed"
    if not signature.startswith(b"-----BEGIN PGP SIGNATURE-----"):
        return "not a gpg signature"
    home = tempfile.mkdtemp(prefix="syncd-gpgv-")  # gpgv must not touch anyone's ~/.gnupg
    signature_fd = _memfd("signature", signature)
    try:
        checked = runas.run(
            None,
            [
                "gpgv",
                "--homedir",
                home,
                "--keyring",
                str(keyring),
                "--status-fd",
                "1",
                f"/dev/fd/{signature_fd}",
                "-",
            ],
            timeout=TIMEOUT,
            input=payload,
            pass_fds=(signature_fd,),
        )
        if checked.returncode == 0 and b"[GNUPG:] VALIDSIG " in checked.stdout:
            return None
        return "no good signature by a key of repo.allowed_signers"
    except runas.TimedOut:
        return "gpgv did not answer in time"
    except OSError as exc:
        return f"cannot run gpgv: {exc.strerror}"
    finally:
        os.close(signature_fd)
        shutil.rmtree(home, ignore_errors=True)

"""The server's key opens every secrets file the config lists (as committed at HEAD)."""

from syncd.doctor import result


def check(s):
    if s.cfg is None:
        return None
    env = s.cfg.env
    if not env.secrets:
        return result("secrets-key", True, "no env.secrets configured")
    from syncd.deploy.context import owner_identity
    from syncd.errors import SyncdError
    from syncd.secrets import decrypt_all, key_recipient, load_key_for
    from syncd.secrets.format import parse
    from syncd.tools.git import Git

    try:
        mine = key_recipient(env.key)
    except Exception as exc:  # noqa: BLE001 - a key that does not load is the finding
        return result(
            "secrets-key",
            False,
            f"env.key {env.key}: {exc}",
            f"syncd secrets keygen --out {env.key}, then add its recipient to each secrets file",
        )
    git = Git(s.cfg.repo.path, owner_identity(s.cfg))
    problems = []
    for rel in env.secrets:
        data = git.read_blob("HEAD", rel)
        if data is None:
            problems.append(f"{rel}: not in the deployed commit")
            continue
        try:
            secrets = parse(data, rel)
            decrypt_all(secrets, load_key_for(secrets, env.key))
        except SyncdError as exc:
            problems.append(str(exc))
    if problems:
        return result(
            "secrets-key",
            False,
            "; ".join(problems),
            f"with a key that opens it: syncd secrets recipients FILE --add {mine} --key THAT_KEY; "
            "commit and push (a missing file: commit it, or remove it from env.secrets)",
        )
    return result("secrets-key", True, f"{env.key} opens {', '.join(env.secrets)}")

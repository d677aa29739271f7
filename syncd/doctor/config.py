"""The config loads: every key known, of the right type, naming things that exist."""

from syncd.doctor import result


def check(s):
    if s.cfg is not None:
        return result(
            "config", True, f"{s.config_path}: valid ({s.cfg.service.unit}, tree {s.cfg.repo.path})"
        )
    if not s.config_path.exists():
        return result(
            "config",
            False,
            f"{s.config_path} does not exist",
            f"syncd install {s.name} --repo URL (or write it: docs/configuration.md)",
        )
    return result(
        "config",
        False,
        s.config_error,
        "fix the key named above (docs/configuration.md); the other checks need a config that loads",
    )

"""systemd loads the unit: it exists, parses, and what is on disk is what systemd runs."""

from syncd.doctor import result


def check(s):
    if s.cfg is None:
        return None
    unit, props = s.unit, s.props
    if s.systemd_error:
        return result(
            "unit-loads",
            False,
            f"cannot ask systemd about {unit}: {s.systemd_error}",
            "run doctor as root on the host where the unit runs (systemd must be running)",
        )
    state, fragment = props.get("LoadState"), props.get("FragmentPath") or f"the file of {unit}"
    if state == "not-found":
        return result(
            "unit-loads",
            False,
            f"{unit}: no such unit",
            f"syncd install {s.name} --repo URL writes it (or create /etc/systemd/system/{unit}); "
            "then systemctl daemon-reload",
        )
    if state != "loaded":
        error = props.get("LoadError") or "no reason given"
        return result(
            "unit-loads",
            False,
            f"{unit}: {state}: {error}",
            f"systemd-analyze verify {fragment} says which line; fix it, then systemctl daemon-reload",
        )
    if props.get("NeedDaemonReload") == "yes":
        return result(
            "unit-loads",
            False,
            f"{unit}: its files changed on disk since systemd read them",
            "systemctl daemon-reload (then systemctl restart " + unit + ")",
        )
    return result("unit-loads", True, f"{unit}: loaded from {fragment}")

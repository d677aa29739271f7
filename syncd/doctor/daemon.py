"""syncd's own daemon for this config runs (syncd.service for syncd.toml, else syncd@NAME.service)."""

from syncd.doctor import result


def daemon_unit(name: str) -> str:
    return "syncd.service" if name == "syncd" else f"syncd@{name}.service"


def check(s):
    if s.cfg is None or s.systemd_error:
        return None
    from syncd.tools.systemctl import Systemctl

    unit = daemon_unit(s.name)
    sc = Systemctl(s.cfg.service.scope)
    try:
        state = sc.show(unit, "ActiveState", "UnitFileState", "LoadState")
    except Exception as exc:  # noqa: BLE001
        return result("daemon", False, f"{unit}: {exc}", "run doctor as root where systemd runs")
    if state.get("LoadState") != "loaded":
        return result(
            "daemon",
            False,
            f"{unit} is not installed: nothing deploys pushes",
            f"syncd install {s.name} --repo URL installs it (or copy units/syncd@.service to "
            "/etc/systemd/system/), then systemctl enable --now " + unit,
        )
    if state.get("ActiveState") != "active":
        return result(
            "daemon",
            False,
            f"{unit} is {state.get('ActiveState')}: nothing deploys pushes",
            f"systemctl enable --now {unit}; journalctl -u {unit} -n 50 says why it stopped",
        )
    enabled = state.get("UnitFileState") == "enabled"
    if not enabled:
        return result(
            "daemon",
            False,
            f"{unit} runs but is not enabled: it will not start at boot",
            f"systemctl enable {unit}",
        )
    return result("daemon", True, f"{unit} is active and enabled")

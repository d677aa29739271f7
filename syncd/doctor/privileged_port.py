"""A port below 1024 needs root or CAP_NET_BIND_SERVICE (the tutorial's port 104 problem)."""

from syncd.doctor import result
from syncd.doctor.ports import ports_of, unprivileged_start
from syncd.doctor.unitfile import last


def has_bind_capability(ambient: str, bounding: str | None) -> bool:
    """From `systemctl show`: AmbientCapabilities and CapabilityBoundingSet (lists of cap names)."""
    ambient_caps = {c.lower() for c in ambient.split()}
    if "cap_net_bind_service" not in ambient_caps:
        return False
    return bounding is None or "cap_net_bind_service" in bounding.lower().split()  # None: not known


def needs_capability(
    ports: list[int], user: str | None, ambient: str, bounding: str | None, start: int
) -> list[int]:
    if user in (None, "", "root", "0"):
        return []
    if has_bind_capability(ambient, bounding):
        return []
    return [p for p in ports if p < start]


def check(s):
    if s.cfg is None:
        return None
    ports = ports_of(s.cfg)
    if not ports:
        return result(
            "privileged-port", True, "no port in the config (health.tcp, health.dicom_echo): nothing to check"
        )
    user = s.props.get("User") or last(s.directives, "User")
    ambient = s.props.get("AmbientCapabilities")
    if ambient is None:
        ambient = " ".join(s.directives.get("AmbientCapabilities", []))
    bounding = s.props.get("CapabilityBoundingSet")
    if bounding is None and s.directives.get("CapabilityBoundingSet"):
        bounding = " ".join(s.directives["CapabilityBoundingSet"])
    low = needs_capability(ports, user, ambient, bounding, unprivileged_start())
    if low:
        where = s.props.get("FragmentPath") or s.unit
        return result(
            "privileged-port",
            False,
            f"port {', '.join(map(str, low))} is below {unprivileged_start()} and {s.unit} runs as {user} "
            "without CAP_NET_BIND_SERVICE: it cannot listen there",
            f"add AmbientCapabilities=CAP_NET_BIND_SERVICE to [Service] of {where} (and to "
            f"CapabilityBoundingSet= if it is set); systemctl daemon-reload && systemctl restart {s.unit}",
        )
    return result("privileged-port", True, f"port {', '.join(map(str, ports))}: {s.unit} may bind it")

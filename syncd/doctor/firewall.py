"""The service's port is open in the active firewall (firewalld, ufw or nftables), if there is one."""

from __future__ import annotations

import re

from syncd.doctor import result
from syncd.doctor.ports import ports_of


def ufw_allows(status: str, port: int) -> bool | None:
    """From `ufw status`: None when ufw is inactive, else whether some rule allows the port."""
    if not re.search(r"^Status:\s*active", status, re.M):
        return None
    for line in status.splitlines():
        m = re.match(r"\s*(\S+)\s+(?:\(v6\)\s+)?ALLOW(?:\s+IN)?\b", line)
        if not m:
            continue
        target = m.group(1)
        spec, _, proto = target.partition("/")
        if proto not in ("", "tcp"):
            continue
        for part in spec.split(","):
            low, _, high = part.partition(":")
            if low.isdigit() and (int(low) == port or (high.isdigit() and int(low) <= port <= int(high))):
                return True
    return False


def _matches_port(right, port: int) -> bool:
    if isinstance(right, int):
        return right == port
    if isinstance(right, dict):
        if "set" in right:
            return any(_matches_port(item, port) for item in right["set"])
        if "range" in right:
            low, high = right["range"]
            return isinstance(low, int) and isinstance(high, int) and low <= port <= high
    if isinstance(right, list):
        return any(_matches_port(item, port) for item in right)
    return False


def _rule_port_verdict(exprs: list, port: int) -> str | None:
    """ "accept"/"drop"/"reject" when the rule's only conditions are on the TCP destination port."""
    port_match, verdict, other = False, None, False
    for expr in exprs:
        if "match" in expr:
            m = expr["match"]
            payload = m.get("left", {}).get("payload", {}) if isinstance(m.get("left"), dict) else {}
            if payload.get("field") == "dport" and payload.get("protocol") in ("tcp", "th"):
                if m.get("op", "==") not in ("==", "in") or not _matches_port(m.get("right"), port):
                    return None
                port_match = True
            else:
                other = True  # ct state, iifname, saddr...: not about every connection to the port
        for v in ("accept", "drop", "reject"):
            if v in expr:
                verdict = v
    if port_match and not other:
        return verdict
    if not port_match and not other and verdict:
        return verdict + "-all"
    return None


def nft_verdict(ruleset: dict, port: int) -> bool | None:
    """From `nft -j list ruleset`: None when no input chain filters, else whether the port gets in.

    Rules are read in order per input chain: the first that decides on this port (or on everything)
    wins; otherwise the chain's policy. Conditions other than the port (ct state, interfaces,
    addresses) are not judged: such a rule is skipped.
    """
    items = ruleset.get("nftables", []) if isinstance(ruleset, dict) else []
    chains, rules = [], {}
    for item in items:
        if "chain" in item and item["chain"].get("hook") == "input":
            c = item["chain"]
            chains.append(c)
            rules[(c.get("family"), c.get("table"), c.get("name"))] = []
    for item in items:
        if "rule" in item:
            r = item["rule"]
            key = (r.get("family"), r.get("table"), r.get("chain"))
            if key in rules:
                rules[key].append(r.get("expr", []))
    if not chains:
        return None
    for c in chains:
        decided = None
        for exprs in rules[(c.get("family"), c.get("table"), c.get("name"))]:
            verdict = _rule_port_verdict(exprs, port)
            if verdict:
                decided = verdict.split("-")[0]
                break
        if decided is None:
            decided = c.get("policy", "accept")
        if decided in ("drop", "reject"):
            return False
    return True


def check(s):
    if s.cfg is None:
        return None
    from syncd.tools import firewall

    ports = ports_of(s.cfg)
    if not ports:
        return result("firewall", True, "no port in the config: nothing to check")
    if firewall.firewalld_running():
        kind, closed = "firewalld", [p for p in ports if not firewall.firewalld_allows(p)]
    else:
        status = firewall.ufw_status()
        verdicts = {p: ufw_allows(status, p) for p in ports} if status else {}
        if status and any(v is not None for v in verdicts.values()):
            kind, closed = "ufw", [p for p, v in verdicts.items() if v is False]
        else:
            ruleset = firewall.nft_ruleset()
            verdicts = {p: nft_verdict(ruleset, p) for p in ports} if ruleset else {}
            if not any(v is not None for v in verdicts.values()):
                return result(
                    "firewall",
                    True,
                    "no active firewall (firewalld, ufw, nftables): port "
                    f"{', '.join(map(str, ports))} not filtered on this host",
                )
            kind, closed = "nftables", [p for p, v in verdicts.items() if v is False]
    if closed:
        return result(
            "firewall",
            False,
            f"{kind} blocks incoming connections to port {', '.join(map(str, closed))}",
            "; ".join(firewall.add_port_commands(kind, p) for p in closed)
            + " (a firewall of the network is the IT department's)",
        )
    return result("firewall", True, f"{kind} lets port {', '.join(map(str, ports))} in")

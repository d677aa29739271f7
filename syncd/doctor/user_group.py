"""User= and Group= name accounts that exist (the tutorial's Group=pipeline named a group it never made)."""

from syncd.doctor import result
from syncd.doctor.unitfile import last
from syncd.tools import accounts


def check(s):
    if s.cfg is None or not s.directives:
        return None
    user, group = last(s.directives, "User"), last(s.directives, "Group")
    where = s.props.get("FragmentPath") or s.unit
    if user is None:
        return result(
            "user-group",
            False,
            f"{s.unit} has no User=: it runs as root",
            f"User={s.name} and Group={s.name}admin in [Service] of {where} (syncd install creates them)",
        )
    problems = []
    if not user.isdigit() and accounts.user(user) is None:
        problems.append(f"User={user}: no such user")
    if group is not None and not group.isdigit() and accounts.group(group) is None:
        problems.append(f"Group={group}: no such group")
    if problems:
        return result(
            "user-group",
            False,
            "; ".join(problems),
            f"create it (useradd --system --shell /usr/sbin/nologin {user}; groupadd --system GROUP) "
            f"or name one that exists in {where}",
        )
    return result("user-group", True, f"User={user}" + (f" Group={group}" if group else "") + " exist")

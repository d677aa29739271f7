"""systemd's manager over D-Bus, with jeepney (pure Python, no C library).

What a deploy asks systemd most often -- a unit's properties, reset-failed, restart and waiting for
the restart job -- without starting a `systemctl` process each time, and the unit's changes as
systemd announces them (PropertiesChanged, JobRemoved) instead of polling `systemctl show`.

The bus is the one systemd publishes its manager on: the system bus ($DBUS_SYSTEM_BUS_ADDRESS, else
/run/dbus/system_bus_socket) for scope "system", the user bus ($XDG_RUNTIME_DIR/bus) for scope
"user" -- not systemd's private socket, which systemd documents as internal to systemctl.

`Unavailable` means systemd was not reached (no bus, no jeepney, systemd not on the bus, a broken
connection before an answer): syncd/tools/systemctl.py then runs `systemctl` instead. `Refused`
means systemd answered with an error, as systemctl would have reported it.
"""

from __future__ import annotations

import os
import socket
import time
from itertools import count
from typing import Any

from jeepney import DBusAddress, HeaderFields, Message, MessageType, Parser, new_method_call
from jeepney.auth import BEGIN, AuthenticationError, Authenticator

# Connect and authenticate: a local bus answers in milliseconds. One that has not within two seconds
# is stalled (a bench run under load once saw 5 s stalls on the user bus, while systemctl, which
# reaches systemd its own way, was not slowed): systemctl then does the work.
CONNECT_TIMEOUT = 2.0
CALL_TIMEOUT = 30.0  # a method call (systemctl's own default is 25 s)
_MANAGER = DBusAddress(
    "/org/freedesktop/systemd1", "org.freedesktop.systemd1", "org.freedesktop.systemd1.Manager"
)
_BUS = DBusAddress("/org/freedesktop/DBus", "org.freedesktop.DBus", "org.freedesktop.DBus")
_UNIT, _SERVICE = "org.freedesktop.systemd1.Unit", "org.freedesktop.systemd1.Service"
# Where each property systemctl.show() may be asked for lives; others go to `systemctl show`.
INTERFACE_OF = {
    "ActiveState": _UNIT,
    "SubState": _UNIT,
    "LoadState": _UNIT,
    "LoadError": _UNIT,
    "InvocationID": _UNIT,
    "Job": _UNIT,
    "NeedDaemonReload": _UNIT,
    "MainPID": _SERVICE,
    "NRestarts": _SERVICE,
    "Result": _SERVICE,
}
# Errors that mean the call never reached systemd: the caller may use systemctl instead.
_NOT_REACHED = (
    "org.freedesktop.DBus.Error.ServiceUnknown",
    "org.freedesktop.DBus.Error.NameHasNoOwner",
    "org.freedesktop.DBus.Error.NoServer",
    "org.freedesktop.DBus.Error.Disconnected",
    "org.freedesktop.DBus.Error.Spawn.",
)
_JOB_OK = ("done", "skipped")


class Unavailable(Exception):
    """systemd could not be reached over D-Bus (use systemctl)."""


class Refused(Exception):
    """systemd answered a call with an error."""

    def __init__(self, name: str, message: str) -> None:
        self.name, self.message = name, message
        super().__init__(f"{message} ({name})" if message else name)


class JobFailed(Exception):
    """A job ended with another result than done."""

    def __init__(self, unit: str, result: str) -> None:
        self.unit, self.result = unit, result
        super().__init__(f"Job for {unit} failed (result: {result}).")


class JobTimeout(Exception):
    """A job did not end within the time asked for."""


def bus_address(scope: str) -> str:
    """The path of the bus socket systemd's manager of this scope is on."""
    if scope == "user":
        runtime = os.environ.get("XDG_RUNTIME_DIR")
        if not runtime:
            raise Unavailable("XDG_RUNTIME_DIR is not set")
        return os.path.join(runtime, "bus")
    address = os.environ.get("DBUS_SYSTEM_BUS_ADDRESS") or "unix:path=/run/dbus/system_bus_socket"
    for part in address.split(";"):
        transport, _, options = part.partition(":")
        values = dict(kv.split("=", 1) for kv in options.split(",") if "=" in kv)
        if transport == "unix" and "path" in values:
            return values["path"]
    raise Unavailable(f"no unix:path in DBUS_SYSTEM_BUS_ADDRESS ({address})")


def unit_path(unit: str) -> str:
    """The object path of a unit (sd_bus_path_encode): systemd loads the unit when it is asked."""
    label = "".join(
        chr(b) if chr(b).isascii() and (chr(b).isalpha() or (chr(b).isdigit() and i > 0)) else f"_{b:02x}"
        for i, b in enumerate(unit.encode())
    )
    return "/org/freedesktop/systemd1/unit/" + (label or "_")


class Manager:
    """One connection to the scope's bus, talking to systemd's manager. Signals come only while
    something is subscribed (a restart waiting for its job, a watch)."""

    def __init__(self, scope: str, timeout: float = CONNECT_TIMEOUT) -> None:
        self._sock = _authenticated_socket(bus_address(scope), timeout)
        self._parser = Parser()
        self._serials = count(1)
        self._replies: dict[int, Message] = {}
        self._unwanted: set[int] = set()  # serials whose replies nobody waits for
        self._signals: list[Message] = []
        self._rules: list[str] = []
        # Hello goes out with the first calls: one round trip for all of them.
        self._hello = self._send(new_method_call(_BUS, "Hello"))
        self._said_hello = self._subscribed = False

    # -- plumbing -------------------------------------------------------------------------------
    def close(self) -> None:
        self._sock.close()

    def __enter__(self) -> Manager:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _send(self, message: Message) -> int:
        serial = next(self._serials)
        try:
            self._sock.settimeout(CALL_TIMEOUT)
            self._sock.sendall(message.serialise(serial=serial))
        except OSError as exc:
            raise Unavailable(f"bus connection lost: {exc}") from None
        return serial

    def _read(self, deadline: float | None) -> bool:
        """Read what has arrived (waiting until `deadline`); False when nothing came in time."""
        timeout = None if deadline is None else max(deadline - time.monotonic(), 0.0)
        try:
            self._sock.settimeout(timeout)
            data = self._sock.recv(65536)
        except (socket.timeout, TimeoutError):
            return False
        except OSError as exc:
            raise Unavailable(f"bus connection lost: {exc}") from None
        if not data:
            raise Unavailable("the bus closed the connection")
        self._parser.add_data(data)
        while (message := self._parser.get_next_message()) is not None:
            if message.header.message_type == MessageType.signal:
                self._signals.append(message)
            elif (serial := message.header.fields.get(HeaderFields.reply_serial)) is not None:
                if serial in self._unwanted:
                    self._unwanted.discard(serial)
                else:
                    self._replies[serial] = message
        return True

    def _reply(self, serial: int, deadline: float) -> Message:
        while serial not in self._replies:
            if not self._read(deadline):
                raise Unavailable("no answer on the bus in time")
        return self._replies.pop(serial)

    def _call(self, *messages: Message, timeout: float = CALL_TIMEOUT) -> list[Message | Refused]:
        """Send all messages at once, then collect their replies (one round trip); an error reply
        is returned as Refused, one that says systemd is not there raises Unavailable."""
        serials = [self._send(m) for m in messages]
        deadline = time.monotonic() + timeout
        if not self._said_hello:
            _check(self._reply(self._hello, deadline))
            self._said_hello = True
        return [_check(self._reply(serial, deadline)) for serial in serials]

    # -- what syncd asks --------------------------------------------------------------------------
    def properties(self, unit: str, names: tuple[str, ...]) -> dict[str, str]:
        """The properties, formatted as `systemctl show -p NAME` prints them."""
        path = unit_path(unit)
        calls = [
            new_method_call(
                DBusAddress(path, "org.freedesktop.systemd1", "org.freedesktop.DBus.Properties"),
                "Get",
                "ss",
                (INTERFACE_OF[name], name),
            )
            for name in names
        ]
        found: dict[str, str] = {}
        for name, reply in zip(names, self._call(*calls)):
            if isinstance(reply, Refused):
                continue  # not a property of this unit: systemctl shows nothing either
            found[name] = _as_text(*reply.body[0])
        return found

    def reset_failed(self, unit: str) -> None:
        reply = self._call(new_method_call(_MANAGER, "ResetFailedUnit", "s", (unit,)))[0]
        if isinstance(reply, Refused):
            raise reply

    def subscribe(self, *rules: str) -> None:
        """Have systemd send its signals, and the bus pass on those matching `rules`."""
        calls = [new_method_call(_BUS, "AddMatch", "s", (rule,)) for rule in rules]
        if not self._subscribed:  # a second Subscribe on one connection is an error
            calls.append(new_method_call(_MANAGER, "Subscribe"))
        for reply in self._call(*calls):
            if isinstance(reply, Refused):
                raise Unavailable(f"cannot subscribe to systemd's signals: {reply}")
        self._subscribed = True
        self._rules += rules

    def unsubscribe(self, *rules: str) -> None:
        """Stop the signals `rules` asked for (and systemd's, when no rule is left). Nobody waits
        for the answers: the connection goes on with the next question."""
        calls = [new_method_call(_BUS, "RemoveMatch", "s", (rule,)) for rule in rules if rule in self._rules]
        self._rules = [rule for rule in self._rules if rule not in rules]
        if self._subscribed and not self._rules:
            calls.append(new_method_call(_MANAGER, "Unsubscribe"))
            self._subscribed = False
        for call in calls:
            self._unwanted.add(self._send(call))
        self._signals.clear()

    def restart(self, unit: str, timeout: float) -> None:
        """Restart `unit` and wait for the job's result, as `systemctl restart` does."""
        deadline = time.monotonic() + timeout
        rule = _signal_rule("JobRemoved")
        self.subscribe(rule)
        try:
            reply = self._call(new_method_call(_MANAGER, "RestartUnit", "ss", (unit, "replace")))[0]
            if isinstance(reply, Refused):
                raise reply
            job = reply.body[0]
            while True:
                for signal in self._signals:
                    fields = signal.header.fields
                    if fields.get(HeaderFields.member) == "JobRemoved" and signal.body[1] == job:
                        result = signal.body[3]
                        if result not in _JOB_OK:
                            raise JobFailed(unit, result)
                        return
                self._signals.clear()
                if not self._read(deadline):
                    raise JobTimeout(f"the restart job of {unit} did not finish within {timeout:g}s")
        finally:
            self.unsubscribe(rule)

    def watch(self, unit: str) -> tuple[str, ...]:
        """From now on, wait_for_change() returns early when systemd says `unit` changed. Returns
        the rules to give unsubscribe() when done."""
        rules = (
            _signal_rule("PropertiesChanged", unit_path(unit), "org.freedesktop.DBus.Properties"),
            _signal_rule("JobRemoved") + f",arg2='{unit}'",
        )
        self.subscribe(*rules)
        self._signals.clear()
        return rules

    def wait_for_change(self, timeout: float) -> bool:
        """Wait up to `timeout` seconds for a signal of the watched unit; True when one came."""
        deadline = time.monotonic() + timeout
        while not self._signals:
            if not self._read(deadline):
                return False
        self._signals.clear()
        return True


def _authenticated_socket(path: str, timeout: float) -> socket.socket:
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM | socket.SOCK_CLOEXEC)
    try:
        sock.settimeout(timeout)
        sock.connect(path)
        auth = Authenticator()  # EXTERNAL: the bus knows who we are from the socket
        for line in auth:
            sock.sendall(line)
            data = sock.recv(1024)
            if not data:
                raise Unavailable(f"{path} closed the connection while authenticating")
            auth.feed(data)
        sock.sendall(BEGIN)
    except (OSError, AuthenticationError) as exc:
        sock.close()
        raise Unavailable(f"cannot connect to {path}: {exc}") from None
    except BaseException:
        sock.close()
        raise
    return sock


def _check(reply: Message) -> Message | Refused:
    if reply.header.message_type != MessageType.error:
        return reply
    name = str(reply.header.fields.get(HeaderFields.error_name, ""))
    message = str(reply.body[0]) if reply.body else ""
    if name.startswith(_NOT_REACHED):
        raise Unavailable(f"systemd is not on the bus: {message or name}")
    return Refused(name, message)


def _signal_rule(
    member: str, path: str = "/org/freedesktop/systemd1", interface: str = "org.freedesktop.systemd1.Manager"
) -> str:
    return f"type='signal',sender='org.freedesktop.systemd1',path='{path}',interface='{interface}',member='{member}'"


def _as_text(signature: str, value: Any) -> str:
    """A property value as `systemctl show` prints it."""
    if signature == "b":
        return "yes" if value else "no"
    if signature == "ay":  # InvocationID: 128 bits as 32 hex digits, empty before the first start
        return bytes(value).hex()
    if signature == "(uo)":  # Job: its number, empty when there is none
        return str(value[0]) if value[0] else ""
    if signature == "(ss)":  # LoadError: name "message", empty when there is none
        return f'{value[0]} "{value[1]}"' if value[0] else ""
    return str(value)

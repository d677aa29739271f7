"""The encrypted secrets file: parse it, change single lines, serialize it.

Every line keeps its exact bytes unless it is the line being changed, so a `set` of one name
is a one-line diff and two people setting different names merge cleanly. The format is
specified in docs/secrets.md; this module is its reference parser.

    #: syncd-secrets 1
    #: env production
    #: recipient syncd1:<base64url X25519 public key> [free label]
    # any other comment
    NAME=v1:<base64url sealed for recipient 1>,<base64url sealed for recipient 2>
"""

from __future__ import annotations

import re

from syncd.config.values import ENV_NAME_PATTERN, is_env_name
from syncd.errors import SecretsError
from syncd.records import dataclass, field
from syncd.secrets import keys
from syncd.secrets.crypto import MIN_SEALED_LEN

FORMAT_LINE = "#: syncd-secrets 1"
LABEL_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}\Z")
_VERSION_RE = re.compile(r"(v[0-9]{1,4}):")
_DIRECTIVE_RE = re.compile(r"#:[ \t]+([a-z-]+)(?:[ \t]+(.*?))?[ \t]*\Z")
KNOWN_VERSIONS = ("v1",)


def valid_label(label: str) -> bool:
    return bool(LABEL_RE.match(label))


@dataclass
class Line:
    raw: bytes  # exactly as in the file, including its line ending
    number: int  # 1-based line number when parsed (0 for lines added since)
    kind: str  # "format" | "env" | "recipient" | "value" | "comment"
    name: str | None = None  # value lines
    version: str | None = None  # value lines
    sealed: list[bytes] = field(default_factory=list)  # value lines, one per recipient, header order
    recipient: str | None = None  # recipient lines


@dataclass
class SecretsFile:
    display: str
    lines: list[Line]
    env: str
    recipients: list[str]
    newline: bytes = b"\n"

    # ---- reading -------------------------------------------------------------------------

    def values(self) -> list[Line]:
        return [line for line in self.lines if line.kind == "value"]

    def find(self, name: str) -> Line | None:
        for line in self.lines:
            if line.kind == "value" and line.name == name:
                return line
        return None

    def where(self, line: Line) -> str:
        """'FILE:N: NAME' for messages (never a value)."""
        number = line.number or self.lines.index(line) + 1
        return f"{self.display}:{number}: {line.name}" if line.name else f"{self.display}:{number}"

    # ---- changing single lines -------------------------------------------------------------

    def put(self, name: str, version: str, sealed: list[bytes]) -> None:
        """Replace NAME's line in place, or append a new line at the end."""
        raw = value_line(name, version, sealed, self.newline)
        line = self.find(name)
        if line is not None:
            line.raw, line.version, line.sealed = raw, version, list(sealed)
            return
        self._ensure_final_newline()
        self.lines.append(Line(raw, 0, "value", name=name, version=version, sealed=list(sealed)))

    def remove(self, name: str) -> bool:
        line = self.find(name)
        if line is None:
            return False
        self.lines.remove(line)
        return True

    def set_recipients(self, recipients: list[str]) -> None:
        """Drop the lines of removed recipients, add new ones after the last recipient line.

        The caller re-seals every value for the new set (sealed lists follow header order).
        """
        keep = [r for r in self.recipients if r in recipients]
        self.lines = [ln for ln in self.lines if ln.kind != "recipient" or ln.recipient in keep]
        added = [r for r in recipients if r not in keep]
        anchor = max(
            (i for i, ln in enumerate(self.lines) if ln.kind in ("recipient", "env", "format")), default=-1
        )
        new_lines = [
            Line(f"#: recipient {r}".encode() + self.newline, 0, "recipient", recipient=r) for r in added
        ]
        self.lines[anchor + 1 : anchor + 1] = new_lines
        self.recipients = [ln.recipient for ln in self.lines if ln.kind == "recipient"]

    def to_bytes(self) -> bytes:
        return b"".join(line.raw for line in self.lines)

    def _ensure_final_newline(self) -> None:
        if self.lines and not self.lines[-1].raw.endswith(b"\n"):
            self.lines[-1].raw += self.newline


def value_line(name: str, version: str, sealed: list[bytes], newline: bytes = b"\n") -> bytes:
    return f"{name}={version}:{','.join(keys.b64encode(s) for s in sealed)}".encode("ascii") + newline


def new_file(display: str, env: str, recipients: list[str]) -> SecretsFile:
    header = [
        FORMAT_LINE,
        f"#: env {env}",
        *(f"#: recipient {r}" for r in recipients),
        "# Values are encrypted; change them with `syncd secrets` (see docs/secrets.md).",
    ]
    return parse(("\n".join(header) + "\n").encode("utf-8"), display)


def _split_lines(data: bytes) -> list[bytes]:
    """Split after each LF only (a CR stays part of its line)."""
    parts = data.split(b"\n")
    lines = [p + b"\n" for p in parts[:-1]]
    if parts[-1]:
        lines.append(parts[-1])
    return lines


def parse(data: bytes, display: str) -> SecretsFile:
    """Parse a whole file; SecretsError naming file, line and variable on the first problem."""
    lines: list[Line] = []
    env: str | None = None
    recipients: list[str] = []
    seen: dict[str, int] = {}

    def fail(number: int, problem: str, name: str | None = None) -> SecretsError:
        where = f"{display}:{number}: {name}" if name else f"{display}:{number}"
        return SecretsError(f"{where}: {problem}")

    raw_lines = _split_lines(data)
    if not raw_lines:
        raise SecretsError(f"{display}: empty file; expected first line {FORMAT_LINE!r}")
    for number, raw in enumerate(raw_lines, start=1):
        try:
            text = raw.decode("utf-8").rstrip("\r\n")
        except UnicodeDecodeError:
            raise fail(number, "not UTF-8 text") from None
        stripped = text.strip()
        if number == 1:
            if stripped != FORMAT_LINE:
                raise SecretsError(
                    f"{display}:1: not a syncd secrets file, or a newer format "
                    f"(first line must be {FORMAT_LINE!r})"
                )
            lines.append(Line(raw, number, "format"))
            continue
        if stripped.startswith("#:"):
            match = _DIRECTIVE_RE.match(stripped)
            keyword, argument = (match.group(1), match.group(2) or "") if match else (None, "")
            if keyword == "env":
                if env is not None:
                    raise fail(number, "second '#: env' line (a file has exactly one environment label)")
                if not valid_label(argument):
                    raise fail(
                        number,
                        "the environment label must match [A-Za-z0-9][A-Za-z0-9._-]* (at most 64 characters)",
                    )
                env = argument
                lines.append(Line(raw, number, "env"))
            elif keyword == "recipient":
                recipient = argument.split()[0] if argument.split() else ""
                try:
                    keys.decode_recipient(recipient)
                except ValueError as exc:
                    raise fail(number, f"bad recipient: {exc}") from None
                if recipient in recipients:
                    raise fail(number, "recipient listed twice")
                recipients.append(recipient)
                lines.append(Line(raw, number, "recipient", recipient=recipient))
            elif keyword == "syncd-secrets":
                raise fail(number, "format line repeated (it belongs on line 1 only)")
            else:
                raise fail(number, "unknown '#:' directive (known: env, recipient)")
            continue
        if not stripped or stripped.startswith("#"):
            lines.append(Line(raw, number, "comment"))
            continue
        name, eq, rest = text.partition("=")
        if not eq:
            raise fail(number, "malformed line: expected NAME=v1:..., a '#' comment or a blank line")
        if not is_env_name(name):
            raise fail(
                number,
                f"invalid variable name (must match {ENV_NAME_PATTERN}, with nothing before it on the line)",
            )
        if name in seen:
            raise fail(number, f"duplicate variable (first defined on line {seen[name]})", name)
        seen[name] = number
        rest = rest.rstrip()
        version_match = _VERSION_RE.match(rest)
        if not version_match:
            raise fail(
                number,
                "malformed value: expected an encrypted value 'v1:...' (was a plaintext value pasted here?)",
                name,
            )
        version = version_match.group(1)
        if version not in KNOWN_VERSIONS:
            raise fail(
                number,
                f"unknown version {version!r} (this syncd knows {', '.join(KNOWN_VERSIONS)}; "
                "a newer syncd wrote it?)",
                name,
            )
        sealed: list[bytes] = []
        for index, part in enumerate(rest[version_match.end() :].split(","), start=1):
            try:
                blob = keys.b64decode(part)
            except ValueError:
                raise fail(
                    number,
                    f"malformed value: sealed copy {index} is not base64url (truncated or damaged line?)",
                    name,
                ) from None
            if len(blob) < MIN_SEALED_LEN:
                raise fail(
                    number,
                    f"truncated value: sealed copy {index} is {len(blob)} bytes, "
                    f"at least {MIN_SEALED_LEN} expected",
                    name,
                )
            sealed.append(blob)
        if len({len(blob) for blob in sealed}) > 1:  # every copy seals the same plaintext
            raise fail(number, "truncated or damaged value: its sealed copies differ in length", name)
        lines.append(Line(raw, number, "value", name=name, version=version, sealed=sealed))
    if env is None:
        raise SecretsError(f"{display}: no '#: env LABEL' line (every secrets file names its environment)")
    if not recipients:
        raise SecretsError(f"{display}: no '#: recipient' line (nobody could open its values)")
    for line in lines:
        if line.kind == "value" and len(line.sealed) != len(recipients):
            raise fail(
                line.number,
                f"has {len(line.sealed)} sealed copies but the file lists "
                f"{len(recipients)} recipients (truncated line, or recipients "
                "changed without `syncd secrets recipients`?)",
                line.name,
            )
    newline = b"\r\n" if raw_lines[0].endswith(b"\r\n") else b"\n"
    return SecretsFile(display, lines, env, recipients, newline)

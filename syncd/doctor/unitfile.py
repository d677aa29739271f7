"""The [Service] directives of a unit's files, read as systemd would (enough for doctor's checks)."""

from __future__ import annotations

from pathlib import Path


def parse(texts: list[str]) -> dict[str, list[str]]:
    """{key: [values in order]} of [Service] across the fragment and its drop-ins; an empty
    assignment resets the list, as it does for systemd's list settings."""
    out: dict[str, list[str]] = {}
    for text in texts:
        section = None
        pending = ""
        for raw in text.splitlines():
            line = pending + raw.strip()
            pending = ""
            if line.endswith("\\"):  # continuation line
                pending = line[:-1] + " "
                continue
            if not line or line[0] in "#;":
                continue
            if line.startswith("[") and line.endswith("]"):
                section = line[1:-1]
                continue
            if section != "Service" or "=" not in line:
                continue
            key, value = (part.strip() for part in line.split("=", 1))
            if value == "":
                out[key] = []
            else:
                out.setdefault(key, []).append(value)
    return out


def parse_files(paths: list[str]) -> dict[str, list[str]]:
    texts = []
    for path in paths:
        try:
            texts.append(Path(path).read_text(encoding="utf-8", errors="replace"))
        except OSError:
            continue
    return parse(texts)


def last(directives: dict[str, list[str]], key: str) -> str | None:
    values = directives.get(key) or []
    return values[-1] if values else None


def exec_program(value: str) -> str:
    """The program of an ExecStart= value: its special prefixes (-@:+!) stripped, first word, unquoted."""
    import shlex

    value = value.lstrip("-@:+!|")
    try:
        words = shlex.split(value)
    except ValueError:
        words = value.split()
    return words[0] if words else ""

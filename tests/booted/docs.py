"""The commands of a Markdown guide, in order, so the test bed can run them exactly as written.

A ```sh block is run by root on the server; a block whose first line is `# on alice's machine`
runs as that developer, in her home directory. Blocks of any other language are examples of output
and are not run.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

_FENCE = re.compile(r"^```(\w*)\s*$")
_AS_USER = re.compile(r"^# on (\w+)'s machine\s*$")
_SECTION = re.compile(r"^## (\d+)\. ")


@dataclass(frozen=True)
class Block:
    section: int  # the number of the "## N." heading it is under (0 before any)
    user: str | None  # None: root on the server
    script: str
    line: int  # where the block starts in the file, for messages


def blocks(path: Path) -> list[Block]:
    found: list[Block] = []
    section = 0
    lines = path.read_text().splitlines()
    i = 0
    while i < len(lines):
        heading = _SECTION.match(lines[i])
        if heading:
            section = int(heading.group(1))
        fence = _FENCE.match(lines[i])
        if fence:
            lang, start = fence.group(1), i + 1
            i += 1
            body: list[str] = []
            while i < len(lines) and lines[i].strip() != "```":
                body.append(lines[i])
                i += 1
            if lang == "sh":
                user = None
                if body and (who := _AS_USER.match(body[0])):
                    user = who.group(1)
                found.append(Block(section, user, "\n".join(body) + "\n", start))
        i += 1
    return found


def section(path: Path, number: int) -> list[Block]:
    return [b for b in blocks(path) if b.section == number]

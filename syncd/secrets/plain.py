"""The decrypted text shown by `secrets show` and edited by `secrets edit`.

    # comment lines and blank lines are ignored
    NAME="value"      double quotes: \\ is a backslash, \" a quote, newlines are literal
    NAME=value        unquoted: the rest of the line, exactly (no trimming, no comments)

Any other backslash sequence inside quotes is an error rather than a guess, so a value is never
silently changed by editing. `dump` always quotes, so dump -> parse is the identity.
"""

from __future__ import annotations

from syncd.config.values import ENV_NAME_PATTERN, is_env_name


class PlainError(Exception):
    def __init__(self, line: int, problem: str, name: str | None = None):
        self.line, self.problem, self.name = line, problem, name
        super().__init__(f"line {line}: {name + ': ' if name else ''}{problem}")


def quote(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def dump(values: dict[str, str]) -> str:
    return "".join(f"{name}={quote(value)}\n" for name, value in values.items())


def parse(text: str) -> dict[str, str]:
    """NAME -> value in text order; PlainError (line, name, never a value) on a problem."""
    values: dict[str, str] = {}
    first_line: dict[str, int] = {}
    lines = text.split("\n")
    i = 0
    while i < len(lines):
        number, line = i + 1, lines[i]
        i += 1
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        name, eq, rest = line.partition("=")
        if not eq:
            raise PlainError(number, "expected NAME=value, a '#' comment or a blank line")
        if not is_env_name(name):
            raise PlainError(number, f"invalid variable name (must match {ENV_NAME_PATTERN})")
        if name in values:
            raise PlainError(number, f"duplicate variable (first on line {first_line[name]})", name)
        if not rest.startswith('"'):
            value = rest
        else:
            chars: list[str] = []
            pos, closed = 1, False
            current = rest
            while True:
                if pos >= len(current):  # newline inside the quotes: part of the value
                    if i >= len(lines):
                        break
                    chars.append("\n")
                    current, pos = lines[i], 0
                    i += 1
                    continue
                c = current[pos]
                if c == "\\":
                    nxt = current[pos + 1 : pos + 2]
                    if nxt not in ('"', "\\"):
                        raise PlainError(
                            i,
                            'inside quotes a backslash must be doubled (\\\\) or escape a quote (\\")',
                            name,
                        )
                    chars.append(nxt)
                    pos += 2
                elif c == '"':
                    closed = True
                    if current[pos + 1 :].strip():
                        raise PlainError(i, "text after the closing quote", name)
                    break
                else:
                    chars.append(c)
                    pos += 1
            if not closed:
                raise PlainError(number, "the opening quote is never closed", name)
            value = "".join(chars)
        if "\0" in value:
            raise PlainError(number, "a value cannot contain a NUL character", name)
        values[name] = value
        first_line[name] = number
    return values

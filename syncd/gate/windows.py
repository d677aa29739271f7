"""Weekly restart windows in host time: "Mon-Fri 19:00-23:59", "Sat,Sun 00:00-23:59", "Fri 22:00-02:00".

Membership is judged on the wall clock (weekday, hour, minute in the host's time zone), so a
window means the same local hours in summer and winter; across a DST change a window that falls in
the skipped hour does not open that night, and one in the repeated hour is open both times.
The end minute is included ("23:59" reaches midnight); an end before the start crosses midnight.
"""

from __future__ import annotations

import datetime as dt
import re

from syncd.records import dataclass

DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_FORM = r"\s*(\S+)\s+(\d{1,2}):(\d{2})\s*-\s*(\d{1,2}):(\d{2})\s*\Z"  # compiled (by re) when windows are set
EXPECTED = (
    'expected "DAYS HH:MM-HH:MM" such as "Mon-Fri 19:00-23:59" (days Mon..Sun, ranges with "-", '
    'lists with ","; "*" for every day)'
)


@dataclass(frozen=True)
class Window:
    text: str
    days: frozenset[int]  # 0 = Monday, as datetime.weekday()
    start: int  # minute of the day the window opens
    end: int  # last minute of the day inside the window (inclusive)

    def contains(self, when: dt.datetime) -> bool:
        minute, day = when.hour * 60 + when.minute, when.weekday()
        if self.start <= self.end:
            return day in self.days and self.start <= minute <= self.end
        # crosses midnight: the evening of a listed day, and the early morning after it
        return (day in self.days and minute >= self.start) or (
            (day - 1) % 7 in self.days and minute <= self.end
        )


def parse_window(text: str) -> Window:
    m = re.match(_FORM, text)
    if not m:
        raise ValueError(f"{EXPECTED}, got {text!r}")
    days = _days(m.group(1), text)
    start = _minute(int(m.group(2)), int(m.group(3)), text)
    end = _minute(int(m.group(4)), int(m.group(5)), text)
    if end == 24 * 60:  # "24:00": through the end of the day
        end -= 1
    if start == 24 * 60:
        raise ValueError(f"a window cannot open at 24:00, got {text!r}")
    return Window(text=text.strip(), days=frozenset(days), start=start, end=end)


def _days(spec: str, text: str) -> set[int]:
    if spec in ("*", "daily"):
        return set(range(7))
    days: set[int] = set()
    for part in spec.lower().split(","):
        first, dash, last = part.partition("-")
        if first not in DAYS or (dash and last not in DAYS):
            raise ValueError(f"{EXPECTED}, got {text!r}")
        a, b = DAYS.index(first), DAYS.index(last if dash else first)
        days.update((a + i) % 7 for i in range((b - a) % 7 + 1))  # "Fri-Mon" wraps over the weekend
    return days


def _minute(hour: int, minute: int, text: str) -> int:
    if minute > 59 or hour > 24 or (hour == 24 and minute):
        raise ValueError(f"{EXPECTED}: no such time of day in {text!r}")
    return hour * 60 + minute


def local_now() -> dt.datetime:
    """The host's wall clock (naive: adding minutes to it walks wall time, DST or not)."""
    return dt.datetime.now()


def inside(windows: tuple[str, ...], when: dt.datetime | None = None) -> bool:
    """True when restarts are allowed now: no windows configured, or one of them is open."""
    if not windows:
        return True
    when = when or local_now()
    return any(parse_window(w).contains(when) for w in windows)


def next_opening(windows: tuple[str, ...], when: dt.datetime | None = None) -> dt.datetime | None:
    """The next wall-clock minute at which a window is open (for messages), within a week."""
    when = (when or local_now()).replace(second=0, microsecond=0)
    parsed = [parse_window(w) for w in windows]
    for step in range(1, 8 * 24 * 60):
        t = when + dt.timedelta(minutes=step)
        if any(w.contains(t) for w in parsed):
            return t
    return None

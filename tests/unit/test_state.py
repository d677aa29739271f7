"""State files: quarantine.json stays bounded however many bad tips it has seen."""

from __future__ import annotations

from syncd.state import QUARANTINE_CAP, State


def test_quarantine_keeps_each_commit_once_and_only_the_newest(tmp_path):
    state = State(tmp_path / "s").ensure()
    state.quarantine("a" * 40)
    state.quarantine("a" * 40)
    assert state.quarantined() == ["a" * 40]
    shas = [f"{n:040x}" for n in range(QUARANTINE_CAP + 5)]
    for sha in shas:
        state.quarantine(sha)
    assert state.quarantined() == shas[-QUARANTINE_CAP:]

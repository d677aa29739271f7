"""The deploy journal: what one version writes, the next one can load (an upgrade after a crash)."""

from __future__ import annotations

import json

from syncd.journal import Entry, Journal, encode


def test_a_journal_with_fields_an_older_syncd_wrote_still_loads(tmp_path):
    old = {
        "previous": "a" * 40,
        "target": "b" * 40,
        "branch": "local",
        "upstream": "c" * 40,
        "trigger": "cli",
        "started": "2026-11-24T10:00:00+00:00",
        "dropin_path": "/etc/systemd/system/x.service.d/50-syncd.conf",
        "dropin_previous_b64": encode(b"[Service]\n"),
        "dropin_previous_existed": True,
        "dropin_previous_had_secrets": False,
        "phase": "restarting",
        "notes": [],
    }
    (tmp_path / "journal.json").write_text(json.dumps(old))
    entry = Journal(tmp_path).load()
    assert entry is not None and entry.phase == "restarting" and entry.dropin_previous == b"[Service]\n"


def test_write_then_load_round_trips(tmp_path):
    journal = Journal(tmp_path)
    entry = Entry(
        previous="a" * 40,
        target=None,
        branch="master",
        upstream=None,
        trigger="daemon",
        started="2026-12-02T08:00:00+00:00",
        dropin_path="/x.conf",
        dropin_previous_b64=None,
        dropin_previous_had_secrets=True,
    )
    journal.write(entry)
    assert journal.load() == entry
    journal.clear()
    assert journal.load() is None

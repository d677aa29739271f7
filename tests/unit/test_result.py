"""One Result table: each result's exit status is the one docs/interface.md gives, and its value is
the word users see (status, history, JSON), unchanged."""

from __future__ import annotations

import json
import logging
import re
from pathlib import Path

import pytest

from syncd.errors import EXIT_BLOCKED, EXIT_FAILED, EXIT_OK
from syncd.result import NOTIFIABLE, Result

INTERFACE = (Path(__file__).parents[2] / "docs" / "interface.md").read_text()

# result: (exit status, the words of docs/interface.md that give it)
DOCUMENTED = {
    Result.DEPLOYED: (0, "0 deployed or already up to date"),
    Result.UP_TO_DATE: (0, "0 deployed or already up to date"),
    Result.ROLLED_BACK: (1, "1 deploy failed and was rolled back"),
    Result.BLOCKED: (3, "3 blocked (conflict, dirty tree, quarantined"),
    Result.ERROR: (1, "is an error naming it (exit 1)"),
    Result.WAITING: (3, "`sync`/`rollback` exit 3 with `waiting: ...`"),
    Result.SKIPPED: (3, "or `skipped: ...`"),
    Result.PLANNED: (0, "`--dry-run` prints the plan and changes nothing"),
}
# Results `syncd sync` does not end with: a sync stopped by SIGTERM (the daemon), found paused
# (the daemon), or that only undid an interrupted deploy (a paused daemon at start). Nothing failed.
NOT_A_SYNC_EXIT = {Result.STOPPED, Result.PAUSED, Result.RECOVERED}


def test_every_result_is_documented_or_internal():
    assert set(DOCUMENTED) | NOT_A_SYNC_EXIT == set(Result)
    assert not set(DOCUMENTED) & NOT_A_SYNC_EXIT


@pytest.mark.parametrize("result", list(DOCUMENTED), ids=str)
def test_exit_status_is_the_documented_one(result):
    code, words = DOCUMENTED[result]
    assert words in INTERFACE, f"docs/interface.md no longer says {words!r}"
    assert result.exit_code == code


def test_exit_codes_are_the_errors_module_constants():
    row = re.search(r"^\| `sync \[--dry-run\]` \|.*\| (.*) \|$", INTERFACE, re.M)
    assert row is not None
    for code in (EXIT_OK, EXIT_FAILED, EXIT_BLOCKED):
        assert f"{code} " in row.group(1)
    assert {r.exit_code for r in NOT_A_SYNC_EXIT} == {EXIT_OK}


def test_values_are_the_words_users_see():
    # status --json lists these; history, notifications and metrics use the same words.
    listed = re.search(r"`result` \((.*?) or null\)", INTERFACE, re.S)
    assert listed is not None
    assert re.findall(r'"([a-z-]+)"', listed.group(1)) == [r.value for r in Result if r.recorded]
    assert json.dumps({"result": Result.ROLLED_BACK}) == '{"result": "rolled-back"}'
    assert f"{Result.UP_TO_DATE}: abc" == "up-to-date: abc" and str(Result.ERROR) == "error"
    assert Result("up-to-date") is Result.UP_TO_DATE and Result.DEPLOYED == "deployed"


def test_levels_put_what_needs_a_look_in_journalctl_p_warning():
    needs_a_look = {r.value for r in Result if r.level >= logging.WARNING}
    assert needs_a_look == {"rolled-back", "error", "blocked", "skipped", "recovered"}
    assert Result.ROLLED_BACK.level == Result.ERROR.level == logging.ERROR


def test_facts_agree():
    for result in Result:
        assert not result.ok or (result.known_running and result.exit_code == EXIT_OK)
        assert not result.known_running or result.recorded
        assert not (result.always_history and result.folded)
        assert not result.failed or result.exit_code == EXIT_FAILED
        assert not result.held_back or not result.recorded
    assert set(NOTIFIABLE) <= {r for r in Result if r.recorded}
    assert [r for r in Result if r.ok] == [Result.DEPLOYED, Result.UP_TO_DATE]


def test_places_that_listed_result_words_ask_the_table():
    from syncd.config import NOTIFY_RESULTS, NotifyConfig
    from syncd.doctor.last_result import OK
    from syncd.metrics.collect import RESULTS
    from syncd.notify.event import FAILURES

    # The metrics keep their order (the /metrics text and the textfile stay byte for byte).
    assert RESULTS == ("deployed", "up-to-date", "rolled-back", "blocked", "error")
    assert NOTIFY_RESULTS == ("deployed", "rolled-back", "blocked", "error")
    assert all(type(r) is str for r in NOTIFY_RESULTS)  # quoted as they are in config errors
    assert NotifyConfig().on == ("rolled-back", "error") and FAILURES == ("rolled-back", "error")
    assert OK == ("deployed", "up-to-date")

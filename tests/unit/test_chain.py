"""The deploy chain describes itself: every step has a label for the daemon's STATUS= line."""

from __future__ import annotations

import string

from syncd.daemon.loop import step_line
from syncd.deploy.chain import APPLY, PREPARE, UNDO
from syncd.deploy.context import Next, Step

STEPS = PREPARE + APPLY + (UNDO,)


def test_every_step_has_words_of_its_own():
    for step in STEPS:
        assert isinstance(step, Step)
        assert step.label.strip(), step.name
        assert step.label != step.name, f"{step.name}: words for people, not the function's name"
        fields = {f for _, f, _, _ in string.Formatter().parse(step.label) if f is not None}
        assert fields <= {"c"}, f"{step.name}: only {{c}} (the short commit) is filled in"


def test_step_names_are_the_functions_and_unique():
    names = [step.name for step in STEPS]
    assert len(names) == len(set(names))
    assert names[0] == "preflight" and "begin_journal" == APPLY[0].name and UNDO.name == "undo"
    assert all(step.name == step.run.__name__ for step in STEPS)


def test_status_line_fills_in_the_commit_or_says_upstream():
    judge = next(step for step in APPLY if step.name == "judge")
    assert step_line(judge, "1a2b3c4") == "judging the health of 1a2b3c4"
    assert step_line(judge, "none") == "judging the health of upstream"
    assert step_line(UNDO, "1a2b3c4") == "rolling back to 1a2b3c4"
    assert step_line(PREPARE[0], "1a2b3c4") == "checking the tree"


def test_next_is_not_a_bool():
    # `if step(ctx):` would be true for STOP too: the chain compares with Next.GO.
    assert {Next.GO, Next.STOP} == set(Next)
    assert Next.GO is not Next.STOP

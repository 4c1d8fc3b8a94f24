"""Every registered exercise checker accepts its reference and rejects each catalogued mistake
with that mistake's own hint; and whatever a learner's code does, a check never raises."""
import inspect

import numpy as np
import pytest

from coursekit import exercises
from coursekit.exercises import get_exercise, run_check

NAMES = exercises.exercise_names()
MISTAKES = [(name, key) for name in NAMES for key in get_exercise(name).mistakes]


def test_every_lesson_registers_exercises():
    assert "bce_with_logits" in NAMES and "numerical_gradient" in NAMES
    for name in NAMES:
        assert get_exercise(name).mistakes, f"exercise {name!r} has no catalogue of typical mistakes"


@pytest.mark.parametrize("name", NAMES)
def test_reference_passes(name):
    ex = get_exercise(name)
    result = run_check(name, ex.reference)
    assert result.status == "passed", result.message
    assert result.implementation is ex.reference
    assert result.message.startswith(f"✅ {name}: passed")


@pytest.mark.parametrize("name,key", MISTAKES)
def test_each_catalogued_mistake_fails_with_its_own_hint(name, key):
    ex = get_exercise(name)
    result = run_check(name, ex.mistakes[key].implementation)
    assert result.status == "failed", f"{name}: the mistake {key!r} was accepted:\n{result.message}"
    assert result.mistake_key == key, f"{name}: mistake {key!r} diagnosed as {result.mistake_key!r}:\n{result.message}"
    assert ex.mistakes[key].hint in result.message
    assert result.implementation is ex.reference, "after a failed check the reference must be used"


def _stub(*args, **kwargs):
    # YOUR CODE HERE
    raise NotImplementedError


@pytest.mark.parametrize("name", NAMES)
def test_blank_stub_is_not_attempted_and_falls_back_to_reference(name):
    result = run_check(name, _stub)
    assert result.status == "not attempted", result.message
    assert result.implementation is get_exercise(name).reference


def _returns_none(*args, **kwargs):
    return None


def _raises(*args, **kwargs):
    raise ValueError("learner bug")


def _returns_garbage(*args, **kwargs):
    return np.zeros((3, 3, 3), dtype=np.int8)


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("broken", [_returns_none, _raises, _returns_garbage, 42], ids=["none", "raises", "garbage",
                                                                                         "not-callable"])
def test_broken_answers_fail_without_raising(name, broken, capsys):
    result = run_check(name, broken)
    assert result.status == "failed", result.message
    assert result.implementation is get_exercise(name).reference
    # check() prints the same verdict and returns the fallback; it never raises.
    assert exercises.check(name, broken) is get_exercise(name).reference
    assert "failed" in capsys.readouterr().out


def test_raising_code_reports_the_exception_and_the_line():
    result = run_check("bce_with_logits", _raises)
    assert "ValueError: learner bug" in result.message
    assert "line" in result.message


@pytest.mark.parametrize("name", NAMES)
def test_verdicts_never_show_the_reference_source(name):
    ex = get_exercise(name)
    source_lines = [line.strip() for line in inspect.getsource(ex.reference).splitlines()[1:]
                    if len(line.strip()) > 25 and not line.strip().startswith(("#", '"""'))]
    for fn in [ex.reference, _stub, _returns_none, *[m.implementation for m in ex.mistakes.values()]]:
        message = run_check(name, fn).message
        leaked = [line for line in source_lines if line in message]
        assert not leaked, f"{name}: the verdict shows reference source lines {leaked}"


@pytest.mark.parametrize("name", NAMES)
def test_show_solution_prints_the_reference_source(name, capsys):
    exercises.show_solution(name)
    out = capsys.readouterr().out
    assert f"def {get_exercise(name).reference.__name__}" in out or "class " in out


def test_unknown_exercise_lists_the_known_ones():
    with pytest.raises(KeyError, match="bce_with_logits"):
        exercises.check("no_such_exercise", _stub)


def test_failure_message_shows_inputs_expected_got_and_hint():
    message = run_check("bce_with_logits", exercises.mistake("bce_with_logits", "gradient_sign")).message
    for part in ("inputs:", "expected:", "got:", "hint:"):
        assert part in message

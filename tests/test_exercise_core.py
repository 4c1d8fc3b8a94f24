"""The exercise machinery beyond the generic per-exercise test: formatting, comparisons, verdicts, robustness."""
import numpy as np
import pytest

from coursekit.exercises import _core
from coursekit.exercises._core import (CheckFailed, Mistake, check, check_cases, compare_outputs, exercise_names,
                                       format_value, get_exercise, mistake, reference, register, run_check,
                                       show_solution)

# ----------------------------------------------------------------------------- a toy exercise


def square_reference(x):
    """The reference: elementwise square."""
    return x * x


def _square_checks(fn):
    n = check_cases(fn, square_reference, [("small", {"x": np.array([1.0, -2.0, 3.0])}),
                                           ("column", {"x": np.array([[0.5], [4.0]])})])
    return f"{n} cases match."


def _twice(x):
    return 2 * x


def _statistical_checks(fn):
    out = fn(x=np.ones(3))
    if not np.allclose(out, 1.0):
        raise CheckFailed("mean of the output", inputs={"x": np.ones(3)}, expected=1.0, got=out,
                          reason="the mean is off", hint="Check the scaling.", show_values=False)
    return "statistics hold."


@pytest.fixture
def toy(monkeypatch):
    """Register toy exercises in a private copy of the registry (removed afterwards)."""
    monkeypatch.setattr(_core, "REGISTRY", dict(_core.REGISTRY))
    register("_toy_square", reference=square_reference, run_checks=_square_checks,
             mistakes=(Mistake("twice", _twice, "You doubled x instead of squaring it."),),
             generic_hint="Square each entry.")
    register("_toy_stats", reference=lambda x: x, run_checks=_statistical_checks)
    return "_toy_square"


# ----------------------------------------------------------------------------- format_value

def test_format_value_renders_each_kind_compactly():
    assert format_value(3.14159265) == "3.14159"
    assert format_value(np.float32(0.1)) == "0.1"
    assert format_value(1e-30) == "1e-30"
    assert format_value(float("nan")) == "nan" and format_value(float("-inf")) == "-inf"
    assert format_value(np.array([[1.0, 2.0]])) == "[[1. 2.]]  (shape (1, 2), float64)"
    assert format_value((1, 2.5)) == "(1, 2.5)" and format_value([0.5]) == "[0.5]"
    assert format_value({"lr": 0.1}) == "{lr: 0.1}"
    assert format_value(np.random.default_rng(0)) == "np.random.Generator"
    assert format_value("abc") == "'abc'" and format_value(None) == "None"


def test_format_value_summarizes_big_arrays_and_truncates():
    text = format_value(np.arange(1000.0))
    assert "..." in text and text.endswith("(shape (1000,), float64)")
    long = format_value("x" * 1000, limit=50)
    assert len(long) == 50 and long.endswith("...")


def test_format_value_never_raises_on_odd_objects():
    class BrokenRepr:
        def __repr__(self):
            raise RuntimeError("no repr for you")

    # regression: a learner's object with a broken __repr__ crashed the failure message
    assert format_value(BrokenRepr()) == "<BrokenRepr object that cannot be displayed>"


# ----------------------------------------------------------------------------- compare_outputs

def test_compare_matching_values_gives_none():
    assert compare_outputs(np.array([1.0, 2.0]), np.array([1.0, 2.0 + 1e-7])) is None  # within rtol 1e-6
    assert compare_outputs(1.5, np.float64(1.5)) is None
    assert compare_outputs(1.5, np.array([1.5])) is None  # a size-1 array counts as a number
    assert compare_outputs((np.zeros(2), 3.0), [np.zeros(2), 3.0]) is None  # a list is fine for a tuple
    assert compare_outputs(True, np.bool_(True)) is None
    assert compare_outputs("relu", "relu") is None and compare_outputs(None, None) is None


def test_compare_reports_none_and_tuple_structure():
    assert compare_outputs(1.0, None) == "the result is None: did you forget the `return` statement?"
    assert compare_outputs((1.0, 2.0), np.zeros(2)) == "the result should be a tuple of 2 values, got a ndarray"
    assert compare_outputs((1.0, 2.0), (1.0, 2.0, 3.0)) == "the result should have 2 values, got 3"
    assert compare_outputs((1.0, np.zeros(2)), (1.0, np.ones(2))) == "item 1 of the result has the wrong values"
    assert compare_outputs((1.0, 2.0), (1.0, None)) == "item 1 of the result is None: did you forget the `return` statement?"


def test_compare_reports_shape_dtype_and_values():
    e = np.zeros((2, 3))
    assert compare_outputs(e, np.zeros((3, 2))) == "the result has shape (3, 2), expected (2, 3)"
    assert compare_outputs(e, np.zeros((2, 3), np.float32)) == ("the result has dtype float32, expected float64 "
                                                                 "(keep the input's dtype)")
    assert compare_outputs(e, np.zeros((2, 3), np.float32), check_dtype=False) is None
    assert compare_outputs(e, np.full((2, 3), 1e-5)) == "the result has the wrong values"
    assert compare_outputs(np.zeros(3), 0.0) == "the result should be an array of shape (3,), got the scalar 0"
    assert compare_outputs(np.zeros(2), np.array(["a", "b"]), check_dtype=False) == \
        "the result has non-numeric dtype <U1"


def test_compare_integer_and_boolean_arrays_are_exact():
    assert compare_outputs(np.array([1, 2]), np.array([1, 3])) == "the result has the wrong values"
    assert compare_outputs(np.array([True, False]), np.array([True, False])) is None
    assert compare_outputs(np.array([True, False]), np.array([True, True])) == "the result has the wrong values"


def test_compare_explains_nan_and_inf():
    assert compare_outputs(np.ones(2), np.array([1.0, np.nan])) == "the result contains NaN where a number was expected"
    assert compare_outputs(np.ones(2), np.array([np.inf, 1.0])) == \
        "the result contains inf where a finite number was expected (overflow?)"
    assert compare_outputs(np.array([np.nan, np.inf]), np.array([np.nan, np.inf])) is None
    assert compare_outputs(np.array([np.inf]), np.array([-np.inf])) == "the result has the wrong values"
    assert compare_outputs(0.5, float("nan")).startswith("the result is NaN, expected a number")
    assert compare_outputs(0.5, float("inf")) == "the result is inf, expected a finite number: did something overflow?"
    assert compare_outputs(float("nan"), float("nan")) is None
    assert compare_outputs(0.5, 0.6) == "the result has the wrong value"


def test_compare_numbers_reject_non_numbers():
    assert compare_outputs(1.0, "1.0") == "the result should be a number, got str '1.0'"
    assert compare_outputs(1.0, True) == "the result should be a number, got bool True"
    assert compare_outputs(1.0, np.zeros(3)).startswith("the result should be a number, got ndarray")
    assert compare_outputs(True, 1) == "the result is 1, expected True"


@pytest.mark.parametrize("expected, got", [
    (np.zeros(2), [[1.0, 2.0], [3.0]]),     # ragged list: np.asarray raises
    ([1, 2], np.array([1, 2])),             # == gives an array: ambiguous truth value
    ("abc", np.array([1, 2])),
    (1.0, 10 ** 400),                       # too big for a float
    (np.zeros(2), object()),
])
def test_compare_never_raises_on_garbage(expected, got):
    # regression: these raised ValueError/TypeError out of compare_outputs
    why = compare_outputs(expected, got)
    assert isinstance(why, str) and why.startswith("the result")


# ----------------------------------------------------------------------------- check_cases

def test_check_cases_counts_and_protects_inputs():
    def mutating_square(x):
        out = x * x
        x[...] = 0.0  # a learner's function that scribbles on its input
        return out

    assert check_cases(mutating_square, square_reference, [("a", {"x": np.array([2.0])})]) == 1


def test_check_cases_raises_check_failed_with_the_case():
    inputs = {"x": np.array([3.0])}
    with pytest.raises(CheckFailed) as info:
        check_cases(_twice, square_reference, [("ok", {"x": np.array([2.0])}), ("three", inputs)])
    failure = info.value
    assert failure.case == "three" and failure.inputs is inputs
    np.testing.assert_array_equal(failure.expected, [9.0])
    np.testing.assert_array_equal(failure.got, [6.0])
    assert failure.reason == "the result has the wrong values"


# ----------------------------------------------------------------------------- verdicts

def test_passed(toy):
    result = run_check(toy, square_reference)
    assert result.passed and result.status == "passed" and result.implementation is square_reference
    assert result.message == "✅ _toy_square: passed - 2 cases match."


def test_not_attempted_uses_the_reference(toy):
    def stub(x):
        raise NotImplementedError

    result = run_check(toy, stub)
    assert result.status == "not attempted" and result.implementation is square_reference
    assert "not attempted yet" in result.message


def test_a_raising_function_fails_with_its_line(toy):
    def broken(x):
        return x / undefined_name  # noqa: F821

    result = run_check(toy, broken)
    assert result.status == "failed" and result.implementation is square_reference
    assert "your function raised NameError: name 'undefined_name' is not defined" in result.message
    assert "return x / undefined_name" in result.message and "hint:     Square each entry." in result.message


def test_a_catalogued_mistake_is_diagnosed(toy):
    result = run_check(toy, lambda x: x + x)
    assert result.status == "failed" and result.mistake_key == "twice"
    lines = result.message.splitlines()
    assert lines[0] == "❌ _toy_square: failed on case: small"
    assert lines[1].startswith("   inputs:   x=[ 1. -2.  3.]")
    assert "hint:     You doubled x instead of squaring it." in result.message


def test_an_unknown_mistake_gets_the_generic_hint(toy):
    result = run_check(toy, lambda x: x ** 3)
    assert result.mistake_key is None and "hint:     Square each entry." in result.message
    assert "problem:  the result has the wrong values" in result.message


def test_check_failed_hint_and_hidden_values(toy):
    result = run_check("_toy_stats", lambda x: 2 * x)
    assert result.status == "failed" and result.mistake_key is None
    assert "hint:     Check the scaling." in result.message
    assert "expected:" not in result.message and "got:" not in result.message


@pytest.mark.parametrize("answer", [
    lambda x: None,
    lambda x: "x squared",
    lambda x: [[1.0], [2.0, 3.0]],          # ragged
    lambda x: x.tolist(),
    lambda x: (x * x).astype(np.float32),
    lambda x: object(),
], ids=["None", "string", "ragged", "list", "float32", "object"])
def test_garbage_answers_fail_and_never_raise(toy, answer):
    result = run_check(toy, answer)
    assert result.status == "failed" and result.implementation is square_reference
    assert "hint:" in result.message


def test_a_non_callable_fails(toy):
    result = run_check(toy, 42)
    assert result.status == "failed" and "expected a function, got 42 of type int" in result.message


def test_check_prints_and_returns_what_to_use(toy, capsys):
    assert check(toy, square_reference) is square_reference
    assert check(toy, _twice) is square_reference
    out = capsys.readouterr().out
    assert "✅ _toy_square: passed" in out and "❌ _toy_square: failed" in out


# ----------------------------------------------------------------------------- registry

def test_registry_lookups(toy, capsys):
    assert "_toy_square" in exercise_names() and exercise_names() == sorted(exercise_names())
    assert reference(toy) is square_reference and mistake(toy, "twice") is _twice
    assert get_exercise(toy).mistakes["twice"].hint == "You doubled x instead of squaring it."
    with pytest.raises(ValueError, match=r"exercise '_toy_square' is registered twice"):
        register(toy, reference=square_reference, run_checks=_square_checks)
    with pytest.raises(KeyError, match=r"no exercise named 'nope'; the exercises are: .*_toy_square"):
        get_exercise("nope")
    with pytest.raises(KeyError, match=r"exercise '_toy_square' has no mistake 'sign'; it has \['twice'\]"):
        mistake(toy, "sign")


def test_show_solution_prints_the_reference_source(toy, capsys):
    show_solution(toy)
    out = capsys.readouterr().out
    assert "def square_reference(x):" in out and "return x * x" in out


def test_the_toy_exercises_do_not_leak_into_the_real_registry(toy):
    assert "_toy_square" in _core.REGISTRY


def test_registry_is_clean_after_the_fixture():
    assert "_toy_square" not in _core.REGISTRY

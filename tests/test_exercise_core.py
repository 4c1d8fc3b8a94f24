"""The exercise machinery beyond the generic per-exercise test: formatting, comparisons, verdicts, the guard
around the learner's function (inputs changed in place, the stub's names, partly written answers, time budget,
exceptions), and the check log."""
import json
import signal
import threading
import time
from typing import NamedTuple

import numpy as np
import pytest

from coursekit.exercises import _core
from coursekit.exercises._core import (CheckFailed, Mistake, all_mistakes, check, check_cases, compare_outputs,
                                       describe_difference, exercise_names, format_value, get_exercise, mistake,
                                       modifies_input, reference, register, run_check, set_case, show_solution)

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
def toy():
    """Register toy exercises (removed afterwards: the registry gets back exactly what it held)."""
    saved = dict(_core.REGISTRY)
    register("_toy_square", reference=square_reference, run_checks=_square_checks,
             mistakes=(Mistake("twice", _twice, "You doubled x instead of squaring it."),),
             generic_hint="Square each entry.")
    register("_toy_stats", reference=lambda x: x, run_checks=_statistical_checks)
    yield "_toy_square"
    _core.REGISTRY.clear()
    _core.REGISTRY.update(saved)


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
    assert format_value(np.arange(1000.0)) == ("<array of shape (1000,), float64: values from 0 to 999, "
                                               "first 0, 1, 2, ...>")
    huge = format_value(np.full((300, 400, 5), 0.5, dtype=np.float32))
    assert huge.startswith("<array of shape (300, 400, 5), float32") and len(huge) < 120
    assert "2 NaN" in format_value(np.array([np.nan, 1.0, np.nan] + [0.0] * 20))
    assert "3 True" in format_value(np.arange(20) < 3)
    assert format_value(np.array([[1.0, 2.0], [3.0, 4.0]])) == "[[1. 2.] [3. 4.]]  (shape (2, 2), float64)"
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
    assert compare_outputs(1.5, np.array(1.5)) is None  # a 0-d array is a number


def test_a_one_element_array_is_not_a_number_and_the_reason_says_so():
    # float(np.array([1.5])) is an error in NumPy 2.4: a loss of shape (1,) breaks whatever uses it.
    assert compare_outputs(1.5, np.array([1.5]), path="loss") == (
        "loss should be one number, got an array of shape (1,) holding the right value (a 0-d result: float(...), "
        "or a reduction without keepdims)")
    assert "holding 2.5" in compare_outputs(1.5, np.array([[2.5]]))
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
    assert compare_outputs(1.0, np.zeros(3)).startswith("the result should be one number, got an array of shape (3,)")
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

    # The copies protect the comparison and the caller's inputs, and the scribbling fails the case.
    inputs = {"x": np.array([2.0])}
    assert check_cases(square_reference, square_reference, [("a", inputs), ("b", inputs)]) == 2
    with pytest.raises(CheckFailed) as info:
        check_cases(mutating_square, square_reference, [("a", inputs)])
    assert inputs["x"][0] == 2.0
    assert info.value.case == "a" and "changed its inputs in place (`x`)" in info.value.reason
    assert "The caller still needs it" in info.value.hint


def test_check_cases_takes_a_tolerance_per_case():
    close = [("loose", {"x": np.array([1.0])}, {"rtol": 1e-2, "atol": 0.0})]
    assert check_cases(lambda x: x * x * 1.001, square_reference, close) == 1
    with pytest.raises(CheckFailed) as info:
        check_cases(lambda x: x * x * 1.001, square_reference, [("strict", {"x": np.array([1.0])})])
    assert info.value.tolerance == (1e-6, 1e-8)


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
    assert result.message == "PASSED ✅ _toy_square: 2 cases match."


def test_not_attempted_uses_the_reference(toy):
    def stub(x):
        raise NotImplementedError

    result = run_check(toy, stub)
    assert result.status == "not attempted" and result.implementation is square_reference
    assert result.message.startswith("NOT ATTEMPTED ⏳ _toy_square: not attempted yet")


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
    assert lines[0] == "FAILED ❌ _toy_square: failed on case: small"
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
    assert "PASSED ✅ _toy_square: " in out and "FAILED ❌ _toy_square: " in out


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


# ----------------------------------------------------------------------------- showing where values differ

def test_describe_difference_points_at_the_first_differing_entry_with_every_digit():
    expected = np.zeros((3, 4))
    got = expected.copy()
    got[1, 2], got[2, 0] = 0.5, -1.0
    assert describe_difference(expected, got, tolerance=(1e-6, 1e-8)) == \
        "at index (1, 2): expected 0.0, got 0.5 (2 of 12 entries differ; largest difference 1)"
    assert describe_difference(0.1 + 0.2, 0.3, tolerance=(1e-17, 0.0)) == \
        ("expected 0.30000000000000004, got 0.3 (relative difference 1.9e-16; the check allows rtol 1e-17, "
         "atol 0)")
    assert describe_difference((np.ones(2), 1.0), (np.ones(2), 2.0), names=("dx", "loss")) == \
        "loss: expected 1.0, got 2.0 (relative difference 1)"
    assert describe_difference(np.ones(2), np.ones(2)) is None
    assert describe_difference(np.ones(2), np.ones(3)) is None  # the shape message says it all
    assert describe_difference(np.ones(2), object()) is None


def test_rounding_only_differences_print_different_numbers(toy):
    def nearly(x):
        return x * x * (1 + 1e-7)  # within the check's rtol of 1e-6

    def off_in_the_sixth_digit(x):
        return x * x * (1 + 3e-6)  # beyond it, though 6 significant digits look the same

    assert run_check(toy, nearly).passed
    message = run_check(toy, off_in_the_sixth_digit).message
    assert "differs:  at index [0]: expected 1.0, got 1.000003" in message


def test_compare_outputs_reports_swapped_items():
    assert compare_outputs((np.zeros(2), np.ones(2)), (np.ones(2), np.zeros(2)), names=("dgamma", "dbeta")) == \
        "dgamma and dbeta are swapped: each holds the value the other should (return them in the order dgamma, dbeta)"
    assert compare_outputs((1.0, 2.0, 3.0), (1.0, 3.0, 2.0)).startswith(
        "item 1 of the result and item 2 of the result are swapped")
    assert compare_outputs((1.0, 2.0), (2.0, 2.0)) == "item 0 of the result has the wrong value"


def test_a_swap_gets_a_hint_naming_the_two_results(monkeypatch, toy):
    def pair(x):
        return x * x, x + 1

    def checks(fn):
        return f"{check_cases(fn, pair, [('a', {'x': np.array([2.0, 3.0])})])} case."

    register("_toy_pair", reference=pair, run_checks=checks, output_names=("square", "successor"))
    result = run_check("_toy_pair", lambda x: (x + 1, x * x))
    assert "square and successor are swapped" in result.message
    assert "hint:     Your square and successor are right but swapped" in result.message


# ----------------------------------------------------------------------------- inputs changed in place

class Pair(NamedTuple):
    left: np.ndarray
    right: np.ndarray


def nested_reference(arrays, pair, table, scale):
    return sum(float(a.sum()) for a in arrays) + float(pair.left.sum() + pair.right.sum()) + \
        float(table["w"].sum()) * scale


def _nested_checks(fn):
    cases = [("nested", {"arrays": [np.ones(2), np.arange(3.0)], "pair": Pair(np.ones(2), np.zeros(2)),
                         "table": {"w": np.full(2, 2.0)}, "scale": 0.5})]
    return f"{check_cases(fn, nested_reference, cases)} case."


@pytest.fixture
def nested(monkeypatch, toy):
    register("_toy_nested", reference=nested_reference, run_checks=_nested_checks,
             mistakes=(modifies_input(nested_reference, "table", "the table is shared with the next cell"),))
    return "_toy_nested"


@pytest.mark.parametrize("scribble, where", [
    (lambda arrays, pair, table: arrays[1].__setitem__(0, 7.0), "`arrays[1]`"),
    (lambda arrays, pair, table: arrays.pop(), "`arrays`"),
    (lambda arrays, pair, table: pair.left.__imul__(2), "`pair.left`"),
    (lambda arrays, pair, table: table["w"].__iadd__(1.0), "`table['w']`"),
], ids=["list-item", "list-length", "namedtuple-field", "dict-value"])
def test_any_array_changed_in_place_is_found_however_deep(nested, scribble, where):
    def answer(arrays, pair, table, scale):
        result = nested_reference(arrays, pair, table, scale)
        scribble(arrays, pair, table)
        return result

    result = run_check(nested, answer)
    assert result.status == "failed" and "changed its inputs in place" in result.message, result.message
    assert where in result.message
    hint = result.message.split("hint:")[1]
    if "table" in where:  # catalogued: its own hint, with the reason given at registration
        assert result.mistake_key == "modifies_table" and "shared with the next cell" in hint
    else:  # not catalogued: the general hint, still saying why the caller needs the input
        assert result.mistake_key is None and "The caller still needs it" in hint


def test_the_in_place_report_shows_the_input_as_it_was_and_what_changed(toy):
    def squares_in_place(x):
        np.square(x, out=x)
        return x

    message = run_check(toy, squares_in_place).message
    assert "inputs:   x=[ 1. -2.  3.]" in message  # before the change, not after
    assert "x[1] was -2.0 before the call and 4.0 after it (2 of 3 entries changed)" in message


def test_arguments_meant_to_change_and_rounding_tolerance(monkeypatch, toy):
    def fill(target, source):
        target[...] = source
        return target

    def checks(fn):
        set_case("fill")
        got = fn(target=np.zeros(3), source=np.array([0.1, 0.2, 0.3]))
        return f"{compare_outputs(np.array([0.1, 0.2, 0.3]), got) or 'ok'}"

    register("_toy_fill", reference=fill, run_checks=checks, may_modify={"target": True})
    assert run_check("_toy_fill", fill).passed
    assert run_check("_toy_fill", lambda target, source: fill(target, source) + 0 * source.__imul__(1.0)).passed

    def nudge(values):
        out = float(values.sum())
        values += 1e-17  # rounding-level: accepted with a tolerance, rejected without
        values -= 1e-17
        values *= 1 + 1e-15
        return out

    def checks2(fn):
        set_case("sum")
        return str(fn(values=np.array([0.1, 0.7, 1e3])))

    register("_toy_sum", reference=lambda values: float(values.sum()), run_checks=checks2,
             restore_tolerance={"values": (1e-12, 1e-15)})
    register("_toy_sum_exact", reference=lambda values: float(values.sum()), run_checks=checks2)
    assert run_check("_toy_sum", nudge).passed
    assert run_check("_toy_sum_exact", nudge).status == "failed"

    def even_by_prediction(target, source):
        return fill(target, source)

    register("_toy_fill_when", reference=fill, run_checks=checks,
             may_modify={"target": lambda arguments: arguments["source"].sum() > 100})
    assert "changed its inputs in place" in run_check("_toy_fill_when", even_by_prediction).message


def test_modifies_input_builds_the_catalogued_mistake():
    m = modifies_input(square_reference, "x", "x is the layer's input", fix="`y = x * x`")
    assert m.key == "modifies_x" and m.modifies == "x"
    assert "`x`" in m.hint and "x is the layer's input" in m.hint and "`y = x * x`" in m.hint
    x = np.array([2.0, 3.0])
    np.testing.assert_array_equal(m.implementation(x), [4.0, 9.0])  # the right result...
    assert not np.array_equal(x, [2.0, 3.0])  # ...but x is overwritten


def test_register_keeps_in_place_mistakes_apart_and_rejects_duplicate_keys(toy):
    ex = register("_toy_split", reference=square_reference, run_checks=_square_checks,
                  mistakes=(Mistake("twice", _twice, "a"), modifies_input(square_reference, "x", "b")))
    assert list(ex.mistakes) == ["twice"] and list(ex.input_mistakes) == ["modifies_x"]
    assert set(all_mistakes("_toy_split")) == {"twice", "modifies_x"}
    assert mistake("_toy_split", "modifies_x") is ex.input_mistakes["modifies_x"].implementation
    with pytest.raises(ValueError, match="share a key"):
        register("_toy_dup", reference=square_reference, run_checks=_square_checks,
                 mistakes=(Mistake("k", _twice, "a"), Mistake("k", _twice, "b")))


# ----------------------------------------------------------------------------- the stub's names

def test_a_renamed_parameter_says_what_the_check_expected(toy):
    def my_square(value):
        return value * value

    result = run_check(toy, my_square)
    assert result.status == "failed"
    assert ("the check calls your function as _toy_square(x=...), with the stub's parameter names, but yours is "
            "my_square(value)") in result.message
    assert "hint:     Keep the stub's signature, def _toy_square(x):" in result.message
    assert "**" not in result.message and "_core" not in result.message


# ----------------------------------------------------------------------------- partly written answers

def _two_mode_reference(x, *, training):
    return x * 2 if training else x


def _two_mode_checks(fn):
    n = check_cases(fn, _two_mode_reference, [("training", {"x": np.ones(2), "training": True}),
                                              ("evaluation", {"x": np.ones(2), "training": False})])
    return f"{n} cases."


@pytest.fixture
def modes(toy):
    register("_toy_modes", reference=_two_mode_reference, run_checks=_two_mode_checks)
    return "_toy_modes"


def eval_unfinished(x, *, training):
    if training:
        return x * 2
    raise NotImplementedError


def training_unfinished(x, *, training):
    if not training:
        return x
    # YOUR CODE HERE
    raise NotImplementedError


def early_return_then_raise(x, *, training):
    if not training:
        return x
    raise NotImplementedError  # at the top level, but only reached in training mode


def started_but_unfinished(x, *, training):
    """Work in progress: every call still reaches the raise."""
    doubled = x * 2  # noqa: F841
    # YOUR CODE HERE
    raise NotImplementedError


@pytest.mark.parametrize("fn, case", [(eval_unfinished, "evaluation"), (training_unfinished, "training"),
                                      (early_return_then_raise, "training")],
                         ids=lambda v: getattr(v, "__name__", v))
def test_a_partly_written_answer_fails_and_names_the_case(modes, fn, case):
    result = run_check(modes, fn)
    assert result.status == "failed", result.message
    first = result.message.splitlines()[0]
    assert first.startswith(f"FAILED ❌ {modes}: partly written - your function raised NotImplementedError")
    assert first.endswith(f"on case: {case}") and "raise NotImplementedError" in first


@pytest.mark.parametrize("fn", [started_but_unfinished, lambda x, *, training: (_ for _ in ()).throw(NotImplementedError)],
                         ids=["code-before-the-raise", "lambda"])
def test_an_answer_that_always_raises_is_not_attempted(modes, fn):
    assert run_check(modes, fn).status == "not attempted"


def test_without_source_the_first_call_decides(modes):
    namespace = {}
    exec(compile("def stub(x, *, training):\n    raise NotImplementedError\n", "<no source>", "exec"), namespace)
    assert run_check(modes, namespace["stub"]).status == "not attempted"


# ----------------------------------------------------------------------------- time budget

def _forever(x):
    while True:
        pass


@pytest.fixture
def quick(toy):
    register("_toy_quick", reference=square_reference, run_checks=_square_checks, time_limit=0.3)
    return "_toy_quick"


@pytest.mark.skipif(not hasattr(signal, "setitimer"), reason="POSIX interval timers")
def test_an_endless_loop_is_interrupted_and_the_case_named(quick):
    previous = signal.getsignal(signal.SIGALRM)
    start = time.perf_counter()
    result = run_check(quick, _forever)
    assert time.perf_counter() - start < 5.0  # interrupted, not hung: the budget is 0.3 s
    assert result.status == "failed" and result.implementation is square_reference
    assert result.message.startswith("FAILED ❌ _toy_quick: too slow - the whole check may take at most 0.3 s")
    assert "still running on case: small" in result.message
    assert signal.getsignal(signal.SIGALRM) is previous and signal.getitimer(signal.ITIMER_REAL) == (0.0, 0.0)


def test_where_a_check_cannot_be_interrupted_the_budget_is_checked_after_each_call(quick):
    def slow(x):
        time.sleep(0.2)
        return x * x

    results = []
    thread = threading.Thread(target=lambda: results.append(run_check(quick, slow)))  # no signals in a thread
    thread.start()
    thread.join()
    message = results[0].message
    assert results[0].status == "failed" and "too slow" in message
    assert "over 2 calls; the slowest was case: " in message


@pytest.mark.skipif(not hasattr(signal, "setitimer"), reason="POSIX interval timers")
def test_someone_else_s_timer_is_left_alone(quick):
    fired = []
    previous = signal.signal(signal.SIGALRM, lambda *_: fired.append(1))
    try:
        signal.setitimer(signal.ITIMER_REAL, 30.0)
        assert run_check(quick, square_reference).passed
        remaining, _ = signal.getitimer(signal.ITIMER_REAL)
        assert 0 < remaining <= 30.0 and not fired
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def test_the_default_budget_is_generous():
    assert _core.TIME_LIMIT_SECONDS >= 5.0


# ----------------------------------------------------------------------------- never raises, except for Ctrl-C

@pytest.mark.parametrize("exc", [SystemExit(2), SystemExit("bye"), GeneratorExit(), StopIteration(),
                                 type("Odd", (BaseException,), {})()], ids=lambda e: type(e).__name__)
def test_system_exit_and_other_base_exceptions_fail_the_check(toy, exc):
    def leaves(x):
        raise exc

    result = run_check(toy, leaves)
    assert result.status == "failed" and result.implementation is square_reference
    assert f"your function raised {type(exc).__name__}" in result.message


def test_system_exit_explains_itself(toy, capsys):
    def quits(x):
        exit()

    assert check(toy, quits) is square_reference
    assert "sys.exit() and exit() end the whole program" in capsys.readouterr().out


def test_keyboard_interrupt_goes_through(toy):
    def interrupted(x):
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        check(toy, interrupted)
    assert _core._active() is None


# ----------------------------------------------------------------------------- whose line it is

def test_an_error_in_the_learner_s_code_quotes_the_learner_s_line(toy):
    def through_numpy(x):
        return np.dot(x, np.ones((5, 5)))  # shapes do not fit: numpy raises

    message = run_check(toy, through_numpy).message
    assert "(line " in message and "return np.dot(x, np.ones((5, 5)))" in message
    assert "numpy" not in message.split("hint:")[0].split("ValueError")[0]


def test_an_error_in_the_check_is_not_blamed_on_a_line_and_says_what_was_expected(toy):
    def checks(fn):
        set_case("as a number")
        return f"{float(fn(x=np.array([3.0]))[0]) + 1.0}"  # the check indexes the result: fails on a scalar

    register("_toy_uses_result", reference=square_reference, run_checks=checks)
    message = run_check("_toy_uses_result", lambda x: 9.0).message
    lines = message.splitlines()
    assert lines[0].startswith("FAILED ❌ _toy_uses_result: failed on case: as a number - the check could not "
                               "use what your function returned (TypeError:")
    assert "expected: [9.]  (shape (1,), float64)" in message and "got:      9" in message
    assert "problem:  the result should be an array of shape (1,), got the scalar 9" in message
    assert "line" not in lines[0] and "checks(" not in message


# ----------------------------------------------------------------------------- the check log

def _log_lines(path):
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def test_the_check_log_gets_one_json_line_per_check(toy, tmp_path, monkeypatch, capsys):
    log = tmp_path / "checks.jsonl"
    monkeypatch.setenv("COURSEKIT_CHECK_LOG", str(log))
    check(toy, square_reference)
    check(toy, _twice)
    check(toy, lambda x: (_ for _ in ()).throw(NotImplementedError))
    records = _log_lines(log)
    assert [r["status"] for r in records] == ["passed", "failed", "not attempted"]
    assert all(set(r) == {"exercise", "status", "mistake", "summary", "message", "seconds"} for r in records)
    assert [r["mistake"] for r in records] == [None, "twice", None]
    printed = capsys.readouterr().out
    for record in records:
        assert record["exercise"] == "_toy_square" and record["message"] in printed
        assert record["summary"] == record["message"].splitlines()[0]
        assert isinstance(record["seconds"], float) and 0 <= record["seconds"] < 60
    assert records[1]["summary"] == "FAILED ❌ _toy_square: failed on case: small"


def test_an_unwritable_check_log_never_breaks_the_notebook(toy, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("COURSEKIT_CHECK_LOG", str(tmp_path))  # a directory: cannot be opened for appending
    assert check(toy, square_reference) is square_reference
    captured = capsys.readouterr()
    assert captured.out.startswith("PASSED ✅") and "could not append to the check log" in captured.err


def test_without_the_variable_nothing_is_logged(toy, tmp_path, monkeypatch):
    monkeypatch.delenv("COURSEKIT_CHECK_LOG", raising=False)
    monkeypatch.chdir(tmp_path)
    check(toy, square_reference)
    assert list(tmp_path.iterdir()) == []


def test_the_module_documents_the_verdicts_and_the_log():
    doc = _core.__doc__
    for part in ("PASSED ✅", "NOT ATTEMPTED ⏳", "FAILED ❌", "COURSEKIT_CHECK_LOG", '"exercise"', '"status"',
                 '"mistake"', '"summary"', '"message"', '"seconds"'):
        assert part in doc


# ----------------------------------------------------------------------------- the rich verdict (Jupyter)

from coursekit.exercises._core import verdict_html, verdict_parts  # noqa: E402


def test_the_plain_verdict_splits_into_its_labelled_parts(toy):
    message = run_check(toy, _twice).message
    headline, parts = verdict_parts(message)
    assert headline == "FAILED ❌ _toy_square: failed on case: small"
    labels = [label for label, _ in parts]
    assert labels == ["inputs", "expected", "got", "differs", "problem", "hint", ""]
    assert dict(parts)["hint"] == "You doubled x instead of squaring it."


def _text_of(fragment: str) -> str:
    import html as html_module
    import re
    return html_module.unescape(re.sub(r"<[^>]+>", "", fragment))


def test_the_rich_verdict_puts_problem_and_hint_first_and_folds_the_failing_case(toy):
    message = run_check(toy, _twice).message
    rich = verdict_html(message)
    head, folded = rich.split("<details", 1)
    text = _text_of(head)
    assert text.startswith("FAILED ❌ _toy_square: failed on case: small")
    assert text.index("Problem:") < text.index("Hint: You doubled x instead of squaring it.")
    for hidden in ("x=[ 1. -2.  3.]", "expected", "differs"):
        assert hidden not in text, f"{hidden!r} should be in the folded part"
        assert hidden in _text_of(folded)
    assert "<summary" in folded and "</details>" in folded
    # every piece of the plain text is in the rich one, nothing else is added but labels
    for _, part in verdict_parts(message)[1]:
        assert part in _text_of(rich)


def test_the_rich_verdict_is_plain_html_with_inline_style_and_escapes_everything():
    message = ("FAILED ❌ odd: failed on case: <script>alert(1)</script>\n   got:      [1 < 2 & 3]\n"
               "   problem:  x & y\n   hint:     use `a < b`")
    rich = verdict_html(message)
    assert "<script" not in rich and "&lt;script&gt;" in rich and "[1 &lt; 2 &amp; 3]" in rich
    assert "<code" in rich and "a &lt; b" in rich  # `code` in a hint is set as code
    assert "<style" not in rich and "class=\"coursekit-verdict\"" in rich and "style=" in rich
    # prose wraps between words only; values wrap at spaces (pre-wrap), never mid-word
    assert "word-break: normal" in rich and "break-all" not in rich


@pytest.mark.parametrize("status, colour", [("passed", "#2e7d32"), ("not attempted", "#b26a00"), ("failed", "#c62828")])
def test_each_status_has_its_colour_and_a_passed_verdict_folds_nothing(toy, status, colour):
    answers = {"passed": square_reference, "not attempted": lambda x: (_ for _ in ()).throw(NotImplementedError),
               "failed": _twice}
    result = run_check(toy, answers[status])
    assert result.status == status
    rich = verdict_html(result.message)
    assert f"border-left: 4px solid {colour}" in rich
    assert ("<details" in rich) == (status == "failed")


def test_a_note_on_a_passed_verdict_is_shown_up_front():
    message = "PASSED ✅ x: 3 cases match.\n   note:     Information, not a mistake: rounding."
    rich = verdict_html(message)
    assert "<details" not in rich and "Note:</b> Information, not a mistake: rounding." in rich


def test_in_a_notebook_the_verdict_is_one_rich_output_with_the_text_as_fallback(tmp_path):
    import nbformat
    from nbclient import NotebookClient

    nb = nbformat.v4.new_notebook(cells=[
        nbformat.v4.new_code_cell("from coursekit.exercises import check, mistake\n"
                                  "l2 = check('l2_grad', mistake('l2_grad', 'wrong_sign'))"),
        nbformat.v4.new_code_cell("l2 = check('l2_grad', lambda W, lambd, m: lambd / m * W)")])
    NotebookClient(nb, timeout=120, kernel_name="python3",
                   resources={"metadata": {"path": str(tmp_path)}}).execute()
    for cell, start in zip(nb.cells, ("FAILED ❌ l2_grad: ", "PASSED ✅ l2_grad: ")):
        (output,) = cell.outputs
        assert output.output_type == "display_data", cell.outputs
        assert output.data["text/plain"].startswith(start)
        assert output.data["text/html"] == verdict_html(output.data["text/plain"])
    assert all_mistakes("l2_grad")["wrong_sign"].hint in nb.cells[0].outputs[0].data["text/plain"]

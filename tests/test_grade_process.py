"""The learner's process and the grader's stand-ins for its functions (coursekit.grade: process, child, wire).

The checks run in the grader and call the learner's function through a stand-in; these tests hold
the stand-in to being indistinguishable from the function itself: every checker of the catalogue
gives the same verdict, word for word, through it; in-place changes, returned arguments and views,
random generators, callbacks and exceptions behave as in one process; the time limit kills the
process; coursekit is out of reach; and nothing the other side sends is ever unpickled. The
learner's processes here run without a sandbox (tests/test_grade_sandbox.py tests the sandbox).
"""
from __future__ import annotations

import collections
import os
import struct
import sys
import time

import numpy as np
import pytest

from coursekit.exercises import all_mistakes, exercise_names, mistake, reference, run_check
from coursekit.grade import process, wire
from coursekit.grade.process import LearnerProcess, LearnerProcessEnded
from grading_answers import toy_exercise

CHILD = process.child_script()
# The child as the catalogue test needs it: coursekit importable (to load the catalogue's wrong answers).
WITH_COURSEKIT = [sys.executable, "-c", f"import sys, os; sys.path.insert(0, {str(CHILD.parent)!r}); import child; "
                                        "r, w = os.dup(0), os.dup(1); os.dup2(os.open(os.devnull, os.O_RDWR), 1); "
                                        "child.Child(r, w).serve()"]


@pytest.fixture(scope="module")
def shared():
    """One learner's process for the tests that leave it running (each defines its own function)."""
    lp = LearnerProcess([sys.executable, "-I", str(CHILD)])
    lp.load([{"label": "cell 1", "source": "import numpy as np"}], seconds=60)
    yield lambda: lp
    lp.kill()


@pytest.fixture
def learner():
    started = []

    def start(command=None) -> LearnerProcess:
        started.append(LearnerProcess(command or [sys.executable, "-I", str(CHILD)]))
        started[-1].load([{"label": "cell 1", "source": "import numpy as np"}], seconds=60)   # the notebook's imports
        return started[-1]
    yield start
    for p in started:
        p.kill()


def define(lp: LearnerProcess, source: str, name: str):
    reports = lp.load([{"label": "cell 7", "source": source}], seconds=60)
    assert reports[0]["error"] is None, reports
    fn, kind = lp.function(name)
    assert fn is not None, kind
    return fn


@pytest.fixture
def toy():
    with toy_exercise(time_limit=1.0) as name:
        yield name


# ---------------------------------------------------------------------------------------
# The whole catalogue: the same verdict through the stand-in as in one process
# ---------------------------------------------------------------------------------------

def test_every_checker_gives_the_same_verdict_through_the_stand_in(learner):
    lp = learner(WITH_COURSEKIT)
    lp.load([{"label": "setup", "source": "from coursekit.exercises import mistake, reference"}], seconds=60)
    compared = 0
    for name in exercise_names():
        answers = {"reference": (f"reference({name!r})", reference(name))}
        answers.update({key: (f"mistake({name!r}, {key!r})", mistake(name, key)) for key in all_mistakes(name)})
        for key, (expression, here) in answers.items():
            there = define(lp, f"under_test = {expression}", "under_test")
            in_process, through = run_check(name, here), run_check(name, there)
            assert (through.status, through.mistake_key, through.message) == \
                (in_process.status, in_process.mistake_key, in_process.message), f"{name}: {key}"
            compared += 1
    assert compared > 100


# ---------------------------------------------------------------------------------------
# Behaving like the function itself
# ---------------------------------------------------------------------------------------

def test_in_place_changes_reach_the_callers_arrays_lists_and_dicts(shared):
    fn = define(shared(), "def f(a, items, table):\n    a[0] = 9.0\n    a *= 2\n    items.append(a)\n"
                           "    items[0][1] = -1.0\n    table['k'] = 3\n    return None", "f")
    a, inner = np.arange(3.0), np.zeros(2)
    items, table = [inner], {"old": 1}
    assert fn(a, items, table) is None
    assert a.tolist() == [18.0, 2.0, 4.0] and inner.tolist() == [0.0, -1.0]
    assert len(items) == 2 and items[0] is inner and items[1] is a
    assert table == {"old": 1, "k": 3}


def test_a_returned_argument_or_a_view_of_it_is_the_callers_own(shared):
    fn = define(shared(), "def f(params, x):\n    y = x * 2\n    return tuple(params), x[1:], x.T, y, y", "f")
    params = (np.ones((2, 2)), np.zeros(3))
    x = np.arange(6.0).reshape(2, 3)
    got, tail, transposed, y1, y2 = fn(params, x)
    assert got[0] is params[0] and got[1] is params[1]
    assert np.shares_memory(tail, x) and np.shares_memory(transposed, x) and y1 is y2
    x[1, 0] = 100.0
    assert tail[0, 0] == 100.0 and transposed[0, 1] == 100.0


def test_a_read_only_argument_stays_read_only(shared):
    fn = define(shared(), "def f(x):\n    try:\n        x[0] = 1\n        return 'wrote'\n"
                           "    except ValueError:\n        return 'refused'", "f")
    x = np.zeros(2)
    x.flags.writeable = False
    assert fn(x) == "refused"


def test_a_generator_has_drawn_what_the_function_drew(shared):
    fn = define(shared(), "def f(rng):\n    return rng.random(3)", "f")
    rng, twin = np.random.default_rng(7), np.random.default_rng(7)
    first, second = fn(rng), fn(rng)
    assert np.array_equal(first, twin.random(3)) and np.array_equal(second, twin.random(3))
    assert rng.random() == twin.random()


def test_a_callable_argument_calls_back_into_the_grader(shared):
    fn = define(shared(), "def grad(f, x, h=1e-5):\n    g = np.zeros_like(x)\n    for i in range(x.size):\n"
                           "        old = x[i]; x[i] = old + h; p = f(x); x[i] = old - h; m = f(x); x[i] = old\n"
                           "        g[i] = (p - m) / (2 * h)\n    try:\n        f(None)\n"
                           "    except TypeError as exc:\n        return g, str(exc)\n",
                "grad")
    seen = []

    def f(z):
        seen.append(None if z is None else z.copy())
        return float(np.sum(z ** 2))
    x = np.array([1.0, -2.0])
    g, message = fn(f, x)
    assert np.allclose(g, 2 * x) and x.tolist() == [1.0, -2.0]
    assert len(seen) == 5 and seen[0].tolist() == [1.0 + 1e-5, -2.0] and "NoneType" in message


def test_named_tuples_and_scalars_keep_their_types(shared):
    Cache = collections.namedtuple("BatchNormCache", ["mean", "x_hat"])
    fn = define(shared(), "def f(cache, s, i):\n    return cache.x_hat + cache.mean, type(cache).__name__, s * 2, "
                           "type(s).__name__, i + 1, (cache, cache[0])", "f")
    cache = Cache(np.ones(2), np.arange(2.0))
    out, kind, s, s_kind, i, (same, first) = fn(cache, np.float32(1.5), 41)
    assert out.tolist() == [1.0, 2.0] and kind == "BatchNormCache" and same is cache and first is cache.mean
    assert isinstance(s, np.float32) and s == 3.0 and s_kind == "float32" and i == 42 and type(i) is int


def test_exceptions_come_back_with_their_name_base_class_and_line(shared):
    fn = define(shared(), "class MyError(ValueError):\n    pass\n\ndef f(kind):\n    if kind == 'mine':\n"
                           "        raise MyError('bad drop_prob 1.5')\n    if kind == 'key':\n        {}['missing']\n"
                           "    raise KeyboardInterrupt", "f")
    with pytest.raises(ValueError, match="bad drop_prob 1.5") as info:
        fn("mine")
    assert type(info.value).__name__ == "MyError" and type(info.value).__module__ == "learner"
    told = info.value.coursekit_origin
    assert (told.frame.filename, told.frame.lineno, told.frame.line) == ("<cell 7>", 6,
                                                                         "raise MyError('bad drop_prob 1.5')")
    assert told.blank is False
    with pytest.raises(KeyError) as info:
        fn("key")
    assert str(info.value) == "'missing'"
    with pytest.raises(Exception) as info:   # never the grader's own KeyboardInterrupt
        fn("stop")
    assert type(info.value).__name__ == "KeyboardInterrupt" and not isinstance(info.value, KeyboardInterrupt)


def test_a_blank_stub_is_not_attempted_and_a_partial_answer_fails_naming_its_line(shared, toy):
    lp = shared()
    blank = define(lp, "def square(x):\n    '''Square it.'''\n    # YOUR CODE HERE\n    raise NotImplementedError",
                   "square")
    assert run_check(toy, blank).status == "not attempted"
    partial = define(lp, "def square(x):\n    if x.size > 2:\n        raise NotImplementedError\n    return x * x",
                     "square")
    result = run_check(toy, partial)
    assert result.status == "failed" and "partly written" in result.message
    assert "(line 3: raise NotImplementedError) on case: big" in result.message


def test_the_time_limit_kills_a_function_that_swallows_it(learner, toy):
    lp = learner()
    fn = define(lp, "import time\ndef square(x):\n    while True:\n        try:\n            time.sleep(0.05)\n"
                    "        except BaseException:\n            pass", "square")
    start = time.monotonic()
    result = run_check(toy, fn)
    assert time.monotonic() - start < 5
    assert result.status == "failed" and "too slow" in result.message and "case: small" in result.message
    assert not lp.alive and lp.proc.poll() is not None


def test_a_function_that_ends_its_process_fails_and_later_calls_fail_at_once(learner, toy):
    lp = learner()
    fn = define(lp, "import os\ndef square(x):\n    os._exit(3)", "square")
    result = run_check(toy, fn)
    assert result.status == "failed" and "LearnerProcessEnded" in result.message and "exited with code 3" in \
        result.message
    start = time.monotonic()
    with pytest.raises(LearnerProcessEnded):
        fn(np.ones(1))
    assert time.monotonic() - start < 1


def test_coursekit_and_its_solutions_are_out_of_reach(learner):
    lp = learner()
    reports = lp.load([{"label": "cell 3", "source": "import coursekit.batchnorm"},
                       {"label": "cell 4", "source": "f = reference('bce_with_logits')"},
                       {"label": "cell 5", "source": "show_solution('bce_with_logits')"}], seconds=60)
    errors = [r["error"] for r in reports]
    assert errors[0]["type"] == "ModuleNotFoundError" and "its solutions included, is not available" in errors[0]["text"]
    assert errors[1]["type"] == "RuntimeError" and "reference() is not available" in errors[1]["text"]
    assert errors[2]["type"] == "RuntimeError" and lp.blocked() == 3


def test_definitions_run_only_imports_defs_and_call_free_assignments(shared):
    lp = shared()
    source = ("from coursekit import datasets\nimport math\nEPS = 1e-12\nHALF = EPS + 0.5\nsq = lambda z: z * z\n"
              "data = open('/etc/hostname').read()\nprint(undefined_name)\ndef helper(z):\n    return sq(z) + HALF\n"
              "class Box:\n    size = 2\n")
    reports = lp.load([{"label": "cell 2", "source": source, "definitions": True}], seconds=60)
    assert reports[0]["error"] is None
    fn = define(lp, "def f():\n    return helper(2.0), math.pi, Box.size, 'data' in globals()", "f")
    assert fn() == (4.5 + 1e-12, np.pi, 2, False)


def test_a_cell_that_raises_is_reported_with_its_line_and_the_next_cell_still_runs(shared):
    lp = shared()
    reports = lp.load([{"label": "cell 1", "source": "x = 1\n1 / 0"},
                       {"label": "cell 2", "source": "def f(:"},
                       {"label": "cell 3", "source": "import sys\nsys.exit(4)"},
                       {"label": "cell 4", "source": "y = x + 1"}], seconds=60)
    assert [r["error"] and (r["error"]["type"], r["error"]["line"]) for r in reports] == \
        [("ZeroDivisionError", 2), ("SyntaxError", 1), ("SystemExit", 2), None]
    assert define(lp, "def g():\n    return y", "g")() == 2


def test_a_cell_that_never_ends_stops_its_process(learner):
    lp = learner()
    with pytest.raises(process.LearnerTimeout):
        lp.load([{"label": "cell 1", "source": "while True:\n    pass"}], seconds=1)
    assert not lp.alive


# ---------------------------------------------------------------------------------------
# The wire format: round trips, and nothing unpickled or trusted
# ---------------------------------------------------------------------------------------

def _round_trip(value):
    sender, receiver = wire.Codec(-1, None), wire.Codec(+1, lambda *a: None)
    blobs: list[bytes] = []
    node = sender.encode(value, blobs)
    message, received = wire.Reader(_pipe(wire.pack({"v": node}, blobs))).read(time.monotonic() + 5)
    return receiver.decode(message["v"], received)


def _pipe(data: bytes) -> int:
    read_fd, write_fd = os.pipe()
    os.write(write_fd, data)
    os.close(write_fd)
    return read_fd


@pytest.mark.parametrize("value", [
    None, True, 0, -7, 2 ** 100, 1.5, -0.0, float("inf"), "text ✅", b"\x00bytes", 1 + 2j, [1, [2, (3,)]], (),
    {"a": 1, 2: [3.0]}, {1, 2}, frozenset({"x"}), np.float32(0.1), np.int64(-3), np.bool_(True),
    np.array([[1, 2]], dtype=np.int8), np.array(["ab", "c"]), np.zeros((0, 3)), np.array(3.5),
    np.asfortranarray(np.arange(6.0).reshape(2, 3)),
])
def test_values_survive_the_trip(value):
    back = _round_trip(value)
    if isinstance(value, np.ndarray):
        assert back.dtype == value.dtype and back.shape == value.shape and np.array_equal(back, value)
        assert back.flags.f_contiguous == value.flags.f_contiguous
    else:
        assert type(back) is type(value) and (back == value or (back != back and value != value))
        if isinstance(value, float):
            assert np.copysign(1, back) == np.copysign(1, value)


def test_what_cannot_be_sent_safely_arrives_as_an_opaque_description():
    class Evil:
        def __reduce__(self):
            raise AssertionError("never pickled")

        def __repr__(self):
            return "<evil>"
    for value in (Evil(), np.array([Evil()], dtype=object), np.zeros(2, dtype=[("a", "f8")])):
        back = _round_trip(value)
        assert isinstance(back, wire.Opaque), back


@pytest.mark.parametrize("node, blob", [
    ({"t": "nd", "b": 0, "dtype": "|O", "shape": [1], "order": "C"}, b"\x00" * 8),   # objects: pickle, never
    ({"t": "nd", "b": 0, "dtype": "<f8", "shape": [3], "order": "C"}, b"\x00" * 8),  # data does not fit the shape
    ({"t": "nd", "b": 0, "dtype": "<f8", "shape": [-1], "order": "C"}, b""),
    ({"t": "nd", "b": 0, "dtype": "V8", "shape": [1], "order": "C"}, b"\x00" * 8),
    ({"t": "nd", "b": 3, "dtype": "<f8", "shape": [1], "order": "C"}, b"\x00" * 8),  # no such blob
    ({"t": "ref", "h": 99}, b""),                                                      # never sent
    ({"t": "rng", "state": {"bit_generator": "os.system", "state": {}}}, b""),
    ({"t": "ntuple", "name": "x; import os", "fields": ["a"], "v": [1]}, b""),
    ({"t": "pickle", "v": "gASVAAAAAAAAAAAu"}, b""),
])
def test_malformed_values_are_refused(node, blob):
    with pytest.raises(wire.WireError):
        wire.Codec(+1, None).decode(node, [blob])


def test_a_view_is_only_rebuilt_inside_the_array_it_claims():
    codec = wire.Codec(+1, None)
    base = np.arange(4.0)
    codec.decode({"t": "nd", "b": 0, "id": -1, **wire._array_header(base)[0]}, [base.tobytes()])
    held = codec.objects[-1]
    outside = {"t": "view", "h": -1, "b": 0, "id": -2, "dtype": "<f8", "shape": [4], "strides": [8], "offset": 16,
               "layout": wire._layout(held), "order": "C"}
    view = codec.decode(outside, [np.ones(4).tobytes()])
    assert not np.shares_memory(view, held) and view.tolist() == [1.0] * 4   # rebuilt from its data instead


def test_a_message_bigger_than_the_limit_is_refused_before_it_is_read():
    head = struct.pack("!4sIQ", b"CKW1", 0, wire.MAX_MESSAGE_BYTES + 1)
    with pytest.raises(wire.WireError):
        wire.Reader(_pipe(head)).read(time.monotonic() + 5)
    with pytest.raises(wire.WireError):
        wire.Reader(_pipe(b"XXXX" + head[4:])).read(time.monotonic() + 5)
    with pytest.raises(EOFError):
        wire.Reader(_pipe(head[:5])).read(time.monotonic() + 5)


def test_an_exception_from_the_other_side_never_brings_its_own_code():
    codec = wire.Codec(+1, None)
    exc = wire.rebuild_exception({"type": "SystemExit", "classes": ["SystemExit", "BaseException"],
                                  "args": {"t": "list", "v": [2]}}, codec, [])
    assert type(exc) is SystemExit and exc.code == 2
    exc = wire.rebuild_exception({"type": "Sneaky", "classes": ["Sneaky", "ValueError"], "args": {"t": "list", "v": ["x"]}},
                                 codec, [])
    assert isinstance(exc, ValueError) and type(exc).__dict__.keys() <= {"__module__", "__doc__", "__dict__",
                                                                         "__weakref__"}
    exc = wire.rebuild_exception({"type": "a b", "classes": ["GeneratorExit"], "args": []}, codec, [])
    assert type(exc).__name__ == "Exception" and not isinstance(exc, GeneratorExit)


def test_magics_do_nothing_but_a_timed_cell_still_runs(shared):
    from coursekit.grade.submissions import python_source

    lp = shared()
    cells = ["%timeit sum(range(10))\n!pip install cheats\nMAGIC_OK = 1",
             "%%time\ndef timed(x):\n    return x + MAGIC_OK"]
    reports = lp.load([{"label": f"cell {i}", "source": python_source(c)} for i, c in enumerate(cells, 20)],
                      seconds=60)
    assert [r["error"] for r in reports] == [None, None]
    assert define(lp, "def use_timed():\n    return timed(1)", "use_timed")() == 2

"""A notebook's check cell runs the check in a forked child killed at the time limit
(coursekit.exercises._core.isolation): learner code cannot swallow the limit, cannot kill the kernel,
and what it prints still reaches the notebook. Where there is no fork the check runs in-process."""
from __future__ import annotations

import os
import signal
import threading
import time
import warnings

import pytest

from coursekit.exercises import check
from coursekit.exercises._core import isolation
from grading_answers import square as _square, toy_exercise

pytestmark = pytest.mark.skipif(not isolation.can_fork(), reason="needs os.fork")
FORK_WARNING = ("This process (pid=123) is multi-threaded, use of fork() may lead to deadlocks in the child.")


@pytest.fixture
def toy():
    with toy_exercise(time_limit=1.0) as name:
        yield name


def _no_children_left() -> bool:
    try:
        os.waitpid(-1, os.WNOHANG)   # a child still running, or one never waited for
        return False
    except ChildProcessError:
        return True


def test_a_passing_function_is_returned_itself_and_its_prints_come_first(toy, capsys):
    def square(x):
        print("computing", x.shape)
        return x ** 2
    assert check(toy, square) is square
    out = capsys.readouterr().out
    assert out.index("computing (2,)") < out.index("computing (5,)") < out.index(f"PASSED ✅ {toy}")
    assert _no_children_left()


def test_an_endless_loop_that_swallows_the_interruption_is_killed_at_the_limit(toy, capsys):
    def square(x):
        print("trying")
        while True:
            try:
                time.sleep(0.01)
            except BaseException:   # catches the check's interruption too
                pass
    start = time.monotonic()
    assert check(toy, square) is _square
    assert time.monotonic() - start < 1.0 + isolation.GRACE_SECONDS + 2
    out = capsys.readouterr().out
    assert out.startswith("trying") and f"FAILED ❌ {toy}: too slow" in out and "case: small" in out
    assert "bare `except:`" in out and _no_children_left()


def test_an_endless_loop_that_lets_the_interruption_through_gets_the_usual_verdict(toy, capsys):
    def square(x):
        while True:
            pass
    assert check(toy, square) is _square
    out = capsys.readouterr().out
    assert "too slow" in out and "interrupted while your function was still running on case: small" in out


def test_a_function_that_ends_its_process_fails_and_the_kernel_lives_on(toy, capsys):
    def square(x):
        os._exit(7)
    assert check(toy, square) is _square
    out = capsys.readouterr().out
    assert f"FAILED ❌ {toy}: your function ended the process that was checking it (exit code 7) on case: small" in out


def test_an_interrupted_check_is_an_interrupted_kernel_and_leaves_no_child(toy):
    def square(x):
        time.sleep(30)
    timer = threading.Timer(0.5, os.kill, (os.getpid(), signal.SIGINT))
    timer.start()
    with pytest.raises(KeyboardInterrupt):
        check(toy, square)
    timer.join()
    assert _no_children_left()


def test_without_fork_the_check_runs_in_the_process_as_before(toy, capsys, monkeypatch):
    monkeypatch.setattr(isolation, "can_fork", lambda: False)
    pid = os.getpid()
    ran_in = []

    def square(x):
        ran_in.append(os.getpid())
        return x * x
    assert check(toy, square) is square
    assert set(ran_in) == {pid} and "PASSED" in capsys.readouterr().out


def test_exactly_the_warning_about_forking_with_threads_is_silenced(toy, capsys, monkeypatch):
    real_fork = os.fork

    def fork_like_python_312():
        warnings.warn(FORK_WARNING, DeprecationWarning, stacklevel=2)
        warnings.warn("some other deprecation", DeprecationWarning, stacklevel=2)
        return real_fork()
    monkeypatch.setattr(isolation.os, "fork", fork_like_python_312)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert check(toy, _square) is _square
    assert [str(w.message) for w in caught] == ["some other deprecation"]


@pytest.mark.slow
def test_in_a_jupyter_kernel_the_limit_holds_prints_show_and_no_warning_appears():
    import nbformat
    from nbclient import NotebookClient

    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell("from coursekit.exercises import check\nimport threading, time"),
                nbformat.v4.new_code_cell("threading.Thread(target=time.sleep, args=(60,), daemon=True).start()"),
                nbformat.v4.new_code_cell(
                    "def bce_with_logits(logits, targets):\n    print('my loss on', logits.shape)\n    while True:\n"
                    "        try:\n            time.sleep(0.01)\n        except BaseException:\n            pass\n"
                    "bce_with_logits = check('bce_with_logits', bce_with_logits)"),
                nbformat.v4.new_code_cell("print(bce_with_logits.__name__)")]
    start = time.monotonic()
    NotebookClient(nb, kernel_name="python3", timeout=120).execute()
    assert time.monotonic() - start < 60
    outputs = nb.cells[2].outputs
    text = "".join(o.get("text", "") + str(o.get("data", {}).get("text/plain", "")) for o in outputs)
    assert "my loss on (5,)" in text and "FAILED ❌ bce_with_logits: too slow" in text, outputs
    assert not [o for o in outputs if o.get("name") == "stderr"], outputs   # no warning in the cell
    assert "binary_cross_entropy_with_logits" in nb.cells[3].outputs[0]["text"]   # the reference from then on


def test_a_copy_that_cannot_start_the_check_is_given_up_for_an_in_process_check(toy, capsys, monkeypatch):
    class Hangs:   # e.g. a BLAS that deadlocks after fork: the copy never gets to the learner's code
        @staticmethod
        def ones(shape):
            time.sleep(60)
    monkeypatch.setattr(isolation, "np", Hangs)
    monkeypatch.setattr(isolation, "STARTUP_SECONDS", 0.5)
    start = time.monotonic()
    assert check(toy, _square) is _square
    assert time.monotonic() - start < 5 and "PASSED" in capsys.readouterr().out and _no_children_left()

"""Shared test setup (at the repository root, so it applies however pytest is called, e.g. on one notebook).

* A non-interactive matplotlib backend (no windows, works headless).
* One BLAS thread, here and in every notebook kernel the tests start (they inherit the
  environment): the course's matrices are tiny, and several test processes run at once on
  two cores; multi-threaded BLAS then spins and runs ~10x slower.
* Two tiers. Tests marked ``@pytest.mark.slow`` (install checks, learner simulation, the
  learner-workflow test, browser tests) are left out of a plain ``python -m pytest`` (the
  instructor's edit-test loop) and run by ``python -m pytest --full`` (README's whole-suite
  command, which ``.ci/run`` runs). They are *deselected*, not skipped, and one summary line
  says how many were left out and how to run them. Under ``--full``, the install checks start
  in background threads right after collection and their tests run last, so that building
  their environments overlaps with the rest of the suite.
"""
import os

for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import matplotlib  # noqa: E402
import pytest  # noqa: E402
from threadpoolctl import threadpool_limits  # noqa: E402

matplotlib.use("Agg")
threadpool_limits(limits=1, user_api="blas")

FULL_OPTION = "--full"
_SLOW_LEFT_OUT = pytest.StashKey[int]()


def pytest_addoption(parser):
    parser.addoption(FULL_OPTION, action="store_true", default=False,
                     help="run the whole suite, including the tests marked 'slow' (install checks, learner "
                          "simulation, learner workflow, browser tests); without it they are deselected")


def _background_module(item):
    """The test module of ``item`` if it runs slow jobs in the background (see pytest_collection_finish)."""
    module = getattr(item, "module", None)
    return module if hasattr(module, "start_background_jobs") else None


def pytest_collection_modifyitems(config, items):
    if config.getoption(FULL_OPTION):
        # The tests that wait on background jobs run last: the rest of the suite overlaps with the jobs.
        waiting = [item for item in items if _background_module(item) is not None
                   and item.get_closest_marker("slow") is not None]
        if waiting:
            items[:] = [item for item in items if item not in waiting] + waiting
        return
    slow = [item for item in items if item.get_closest_marker("slow") is not None]
    if not slow:
        return
    kept = [item for item in items if item.get_closest_marker("slow") is None]
    config.hook.pytest_deselected(items=slow)
    items[:] = kept
    config.stash[_SLOW_LEFT_OUT] = len(slow)


def pytest_terminal_summary(terminalreporter, exitstatus, config):
    left_out = config.stash.get(_SLOW_LEFT_OUT, 0)
    if left_out:
        noun = "test" if left_out == 1 else "tests"
        terminalreporter.write_line(
            f"{left_out} slow {noun} left out (install checks, learner simulation, learner workflow, browser "
            f"tests): `python -m pytest --full` runs the whole suite", yellow=True, bold=True)


def pytest_collection_finish(session):
    """Start the slow jobs that mostly wait (pip downloads, other environments' processes) at once.

    A test module may define ``start_background_jobs(items)`` (start what the selected ``items``
    need, in threads) and ``stop_background_jobs()`` (stop at the next step when the session
    ends early); the install checks do, so that under --full they overlap with everything else.
    """
    if session.config.option.collectonly:
        return
    for module in {_background_module(item) for item in session.items} - {None}:
        module.start_background_jobs(session.items)


def pytest_sessionfinish(session, exitstatus):
    for module in {_background_module(item) for item in session.items} - {None}:
        stop = getattr(module, "stop_background_jobs", None)
        if stop is not None:
            stop()

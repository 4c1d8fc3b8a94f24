"""The browser benchmark's pure parts (benchmarks/lite_lessons.py): cell timings, the per-lesson report, the
profile. Fast: no browser, no site build; the notebooks below are written by hand as JupyterLab returns them.
No timing of this machine is asserted anywhere."""
from __future__ import annotations

import contextlib
import io
import subprocess
import sys
from datetime import datetime, timezone
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "benchmarks"))
import lite_lessons as bench  # noqa: E402

T0 = datetime(2026, 12, 7, 5, 0, 0, tzinfo=timezone.utc).timestamp()  # Run All pressed


def stamp(seconds_after_t0: float) -> str:
    """An ISO timestamp as the kernel sends it, seconds after T0 (millisecond resolution, 'Z')."""
    moment = datetime.fromtimestamp(T0 + seconds_after_t0, tz=timezone.utc)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def code_cell(source, start=None, end=None, *, tags=(), stdout="", error=None, ran=True):
    metadata = {"tags": list(tags)}
    if start is not None:
        metadata["execution"] = {"iopub.status.busy": stamp(start), "iopub.execute_input": stamp(start),
                                 "shell.execute_reply": stamp(end), "iopub.status.idle": stamp(end)}
    outputs = [{"output_type": "stream", "name": "stdout", "text": stdout}] if stdout else []
    if error:
        outputs.append({"output_type": "error", "ename": error[0], "evalue": error[1], "traceback": []})
    return {"cell_type": "code", "source": source, "metadata": metadata, "outputs": outputs,
            "execution_count": 1 if ran else None}


def markdown(text):
    return {"cell_type": "markdown", "source": text, "metadata": {}}


def lesson_run(cells, ok=True):
    return {"ok": ok, "startedAt": T0 * 1000, "notebook": {"cells": cells}}


INSERTED = [bench.INSERTED_CELL_TAG]


def test_timestamps_parse_to_epoch_seconds():
    assert bench.parse_timestamp("1970-01-01T00:00:01.500Z") == pytest.approx(1.5)
    assert bench.parse_timestamp("1970-01-01T01:00:00+01:00") == pytest.approx(0.0)
    assert bench.parse_timestamp(stamp(12.25)) - T0 == pytest.approx(12.25)
    with pytest.raises(TypeError, match="ISO 8601"):
        bench.parse_timestamp(1.5)


def test_cell_interval_reads_recorded_timing_and_falls_back():
    assert bench.cell_interval(code_cell("x = 1", 3.0, 7.5)) == pytest.approx((T0 + 3.0, T0 + 7.5))
    assert bench.cell_interval(code_cell("x = 1")) is None  # run without recordTiming
    only_input_and_idle = {"metadata": {"execution": {"iopub.execute_input": stamp(1), "iopub.status.idle": stamp(4)}}}
    assert bench.cell_interval(only_input_and_idle) == pytest.approx((T0 + 1, T0 + 4))
    assert bench.cell_interval({"metadata": {"execution": {"iopub.status.busy": stamp(1)}}}) is None  # never ended


def test_setup_and_import_cells_are_recognised():
    assert bench.is_setup_or_imports(code_cell("%pip install coursekit", tags=["setup"]))
    assert bench.is_setup_or_imports(code_cell("# tools\nimport numpy as np\n\nfrom coursekit import plots\n"))
    assert not bench.is_setup_or_imports(code_cell("import numpy as np\nprint(np.pi)"))
    assert not bench.is_setup_or_imports(code_cell("important = 1"))
    assert not bench.is_setup_or_imports(code_cell("# only a comment"))


def test_lesson_report_times_kernel_imports_cells_and_claims():
    cells = [
        code_cell("import cProfile", 9.0, 9.5, tags=INSERTED),           # inserted by the harness: not a lesson cell
        markdown("# Lesson"),
        code_cell("%pip install coursekit", 10.0, 14.0, tags=["setup"]),
        code_cell("import numpy as np\nfrom coursekit import fit", 14.0, 20.0),
        code_cell("data = load()\nprint(data)", 20.0, 21.5),
        markdown("## Experiment"),
        code_cell("\n\nhistory = fit(model, data)  # trains", 21.5, 51.5),
        code_cell("check()", 51.5, 53.0, tags=["claims"], stdout="claim 1 ok\nAll claims hold.\n"),
        code_cell("print(profile)", 53.0, 58.0, tags=INSERTED),
    ]
    report = bench.lesson_report("03_x", lesson_run(cells), slowest=2)
    assert report["ok"] and report["error"] is None and report["claims_ok"]
    assert report["total_s"] == pytest.approx(53.0)            # the last lesson cell, not the inserted one
    assert report["kernel_start_s"] == pytest.approx(9.0)      # the kernel's first execution of anything
    assert report["kernel_and_imports_s"] == pytest.approx(20.0)
    assert [c["cell"] for c in report["cells"]] == [1, 2, 3, 4, 5]
    assert [(c["cell"], c["seconds"]) for c in report["slowest_cells"]] == [(4, pytest.approx(30.0)),
                                                                           (2, pytest.approx(6.0))]
    assert report["slowest_cells"][0]["source"] == "history = fit(model, data)  # trains"


def test_lesson_report_says_what_went_wrong():
    failed = [code_cell("import numpy", 1.0, 2.0),
              code_cell("train()", 2.0, 5.0, error=("ValueError", "lr must be positive")),
              code_cell("check()", tags=["claims"], ran=False)]
    report = bench.lesson_report("01_x", lesson_run(failed, ok=False))
    assert not report["ok"] and not report["claims_ok"]
    assert report["error"] == "cell 2 raised ValueError: lr must be positive"
    assert report["total_s"] == pytest.approx(5.0)

    claims_fail = [code_cell("import numpy", 1.0, 2.0),
                   code_cell("check()", 2.0, 3.0, tags=["claims"], stdout="claim 2 does not hold\n")]
    assert not bench.lesson_report("02_x", lesson_run(claims_fail))["claims_ok"]
    assert not bench.lesson_report("02_x", lesson_run([code_cell("x = 1", 1.0, 2.0)]))["claims_ok"]  # no claims cell

    skipped = [code_cell("import numpy", 1.0, 2.0), code_cell("x = 1", ran=False)]
    report = bench.lesson_report("04_x", lesson_run(skipped, ok=True))
    assert not report["ok"] and report["error"] == "not every code cell ran"

    never_ran = bench.lesson_report("05_x", {"ok": False, "error": "not finished after 10 s (3/20 code cells run)"})
    assert never_ran["total_s"] is None and never_ran["error"].startswith("not finished")


def test_profiling_cells_work_and_their_output_parses():
    def busy_work():
        return sum(i * i for i in range(20000))

    namespace = {"busy_work": busy_work}
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        exec(bench.PROFILE_START, namespace)
        for _ in range(5):
            namespace["busy_work"]()
        exec(bench.PROFILE_END, namespace)
    rows = bench.parse_profile("a progress bar\n" + printed.getvalue() + "more output\n")
    mine = [r for r in rows if r["function"] == "busy_work"]
    assert len(mine) == 1 and mine[0]["calls"] == 5 and mine[0]["file"] == __file__
    assert mine[0]["cumulative_s"] >= mine[0]["self_s"] >= 0
    with pytest.raises(ValueError, match="no profile"):
        bench.parse_profile("All claims hold.\n")


def row(file, function, calls, self_s, cumulative_s, line=1):
    return {"file": file, "line": line, "function": function, "calls": calls, "self_s": self_s,
            "cumulative_s": cumulative_s}


def test_profile_summary_ranks_lesson_code_and_groups_self_time():
    site = "/lib/python3.12/site-packages"
    rows = [
        row(f"{site}/IPython/core/interactiveshell.py", "run_cell", 20, 0.5, 100.0),
        row("~", "<built-in method builtins.exec>", 30, 0.1, 99.0),
        row(f"{site}/coursekit/training.py", "fit", 10, 2.0, 50.0),
        row(f"{site}/coursekit/layers.py", "forward", 9000, 12.0, 20.0),
        row("~", "<method 'reduce' of 'numpy.ufunc' objects>", 5000, 8.0, 8.0),
        row("~", "<built-in method builtins.compile>", 700, 3.0, 3.0),
        row("~", "<built-in method posix.stat>", 5000, 2.0, 2.0),
        row("<frozen importlib._bootstrap>", "_find_and_load", 400, 0.5, 9.0),
        row(f"{site}/matplotlib/artist.py", "draw_wrapper", 2000, 4.0, 6.0),
        row("<ipython-input-17-93cf7abeec2a>", "baseline", 10, 1.0, 49.0),
        row("/lib/python312.zip/json/encoder.py", "iterencode", 3, 0.25, 0.3),
        row("~", "<built-in method builtins.isinstance>", 90000, 0.75, 0.75),
    ]
    summary = bench.summarize_profile(rows, top=3)
    assert [e["function"] for e in summary["top_cumulative"]] == [
        "coursekit/training.py:1(fit)", "<ipython-input-17-93cf7abeec2a>:1(baseline)", "coursekit/layers.py:1(forward)"]
    assert [e["seconds"] for e in summary["top_self"]] == [12.0, 8.0, 4.0]
    assert summary["self_by_group"] == {"coursekit": 14.0, "numpy (compiled calls)": 8.0,
                                        "imports (compile, find, unzip)": 5.5, "matplotlib": 4.0,
                                        "notebook cells": 1.0, "other compiled calls": 0.85,
                                        "kernel (IPython, Pyodide)": 0.5, "Python standard library": 0.25}
    assert sum(summary["self_by_group"].values()) == pytest.approx(sum(r["self_s"] for r in rows))


def test_table_flags_lessons_over_budget_and_failed_claims():
    fast = bench.lesson_report("00_fast", lesson_run([
        code_cell("import numpy", 5.0, 12.0), code_cell("check()", 12.0, 30.0, tags=["claims"],
                                                        stdout="All claims hold.\n")]))
    slow = bench.lesson_report("06_slow", lesson_run([
        code_cell("import numpy", 5.0, 12.0), code_cell("fit(model)", 12.0, 60.0),
        code_cell("check()", 60.0, 61.0, tags=["claims"], stdout="claim 1 does not hold\n")]))
    lines = bench.format_table([fast, slow], budget_s=45).splitlines()
    (fast_row,) = [line for line in lines if line.split()[:1] == ["00_fast"]]
    (slow_row,) = [line for line in lines if line.split()[:1] == ["06_slow"]]
    assert fast_row.split()[1:3] == ["30.0", "12.0"] and "OVER" not in fast_row and " ok " in fast_row
    assert slow_row.split()[1:3] == ["61.0", "OVER"] and " NO " in slow_row
    assert "#2 48.0 s: fit(model)" in slow_row


def test_lessons_are_chosen_by_number():
    notebooks = [Path(f"{n}_lesson.ipynb") for n in ("00", "01", "02")]
    assert bench.select_lessons(None, notebooks) == notebooks
    assert bench.select_lessons("02, 00", notebooks) == [notebooks[2], notebooks[0]]
    with pytest.raises(ValueError, match="'7'.*00, 01, 02"):
        bench.select_lessons("00,7", notebooks)
    proc = subprocess.run([sys.executable, "benchmarks/lite_lessons.py", "--lessons", "99", "--no-build"],
                          cwd=REPO, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 2 and "no lesson numbered '99'" in proc.stderr

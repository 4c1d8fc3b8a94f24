"""Every lesson in the browser: JupyterLite + Pyodide in headless Chromium, per-lesson time and where it goes.

Run from the repository root::

    python benchmarks/lite_lessons.py                         # build the lite site, run all lessons
    python benchmarks/lite_lessons.py --lessons 00,02 --no-build
    python benchmarks/lite_lessons.py --profile --out lite.json   # ... and cProfile inside Pyodide

It builds the JupyterLite site (``site/build.py --lite``; ``--no-build`` reuses
``site/_build/html``), serves it on localhost and runs the lessons **one at a time** (the kernel
has a core to itself on a quiet two-core machine), each in a fresh browser context (empty cache
and storage: a learner's first visit), with Run All, as ``tests/test_lite.py`` does (its helpers
are in ``tests/browser.py``). Per lesson it reports:

* **total**: wall time from Run All to the end of the lesson's last cell (the kernel's own
  timestamps, JupyterLab's ``recordTiming``), so it includes starting the kernel;
* **kernel + imports**: Run All to the end of the setup cell and the imports cell after it
  (Pyodide starting, ``%pip install coursekit`` from the site, importing numpy, matplotlib, ...),
  with the kernel's start alone in brackets;
* the slowest cells, and whether the claims cell printed "All claims hold.";
* with ``--profile``: the notebook's code run under ``cProfile`` inside the kernel (a cell
  inserted first and one last in the copy the browser opened; the notebook on disk is not
  touched): the functions with the most cumulative and the most self time, and self time by
  package. cProfile sees Python functions and compiled functions called as functions, not
  operators: the time of ``x @ W`` or ``a * b`` is the self time of the Python function that
  evaluates them. Profiling slows Pyodide down, so time without ``--profile``.

This is a measurement script, not a test: nothing here asserts a time. The budget it reports
against (``BUDGET_S``) is issue 22's: each lesson within 45 s on a quiet two-core machine.
"""
from __future__ import annotations

import argparse
import datetime as _dt
import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))  # the browser helpers the tests use

from benchmark import _fmt_load, cpu_model  # noqa: E402  (benchmarks/benchmark.py: this directory)
from browser import (INSERTED_CELL_TAG, cell_stdout, chromium, open_lite_notebook,  # noqa: E402
                     require_browser, run_all_progress, run_all_result, serve_directory, start_run_all)

SITE_HTML = REPO / "site" / "_build" / "html"
BUDGET_S = 45.0
CLAIMS_HOLD = "All claims hold."
PROFILE_MARKER = "@@LITE-PROFILE@@"
PROFILE_START = """\
import cProfile as _lite_benchmark_cprofile
_lite_benchmark_profiler = _lite_benchmark_cprofile.Profile()
_lite_benchmark_profiler.enable()"""
# Every function with at least 1 ms of self time or 10 ms cumulative: (file, line, name, calls, self s, cumulative s).
PROFILE_END = f"""\
_lite_benchmark_profiler.disable()
import json as _lite_benchmark_json, pstats as _lite_benchmark_pstats
print({PROFILE_MARKER!r} + _lite_benchmark_json.dumps([
    [file, line, name, calls, self_s, cumulative_s] for (file, line, name), (_, calls, self_s, cumulative_s, _)
    in _lite_benchmark_pstats.Stats(_lite_benchmark_profiler).stats.items() if self_s >= 1e-3 or cumulative_s >= 1e-2]))"""

# Frames of the kernel and the event loop that run every cell: left out of the cumulative ranking, which would
# otherwise open with them (each "contains" the whole notebook).
_MACHINERY = re.compile(r"/(IPython|pyodide_kernel|ipykernel|asyncio|pyodide)/|^<frozen |webloop")
_MACHINERY_BUILTINS = ("<built-in method builtins.exec>", "<method 'run' of '_contextvars.Context' objects>",
                       "<method 'send' of 'coroutine' objects>")
# Compiled functions that do the work of an import: compiling source (Pyodide's packages ship .py files, and no
# bytecode cache outlives the page), finding modules, reading them out of zip files.
_IMPORT_BUILTINS = re.compile(r"builtins\.compile>|posix\.(stat|listdir|open)|zlib|marshal|_imp\.|zipimport|"
                              r"_io\.open|'read' of '_io")


# --------------------------------------------------------------------------------------------
# Pure parts: cell timings, the per-lesson report, the profile (tests/test_lite_benchmark.py)
# --------------------------------------------------------------------------------------------

def parse_timestamp(value: str) -> float:
    """An ISO 8601 timestamp as JupyterLab records it ("2026-12-07T05:40:06.553Z") -> seconds since the epoch."""
    if not isinstance(value, str):
        raise TypeError(f"timestamp must be an ISO 8601 string, got {type(value).__name__}: {value!r}")
    return _dt.datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()


def cell_interval(cell: dict) -> tuple[float, float] | None:
    """(start, end) in epoch seconds of a code cell's execution, from the timestamps JupyterLab's
    ``recordTiming`` stores in ``metadata.execution``: from the kernel going busy (or, lacking that, the
    execute_input / reply-started stamp) to its reply (or going idle). None for a cell without them."""
    timing = cell.get("metadata", {}).get("execution") or {}
    starts = [timing[k] for k in ("iopub.status.busy", "iopub.execute_input", "shell.execute_reply.started")
              if k in timing]
    ends = [timing[k] for k in ("shell.execute_reply", "iopub.status.idle") if k in timing]
    if not starts or not ends:
        return None
    return parse_timestamp(starts[0]), parse_timestamp(ends[0])


def is_setup_or_imports(cell: dict) -> bool:
    """The setup cell (tagged ``setup``) or a cell of nothing but imports (and comments)."""
    if "setup" in cell.get("metadata", {}).get("tags", []):
        return True
    lines = [line.strip() for line in "".join(cell.get("source", "")).splitlines()]
    code = [line for line in lines if line and not line.startswith("#")]
    return bool(code) and all(re.match(r"(import|from)\s", line) for line in code)


def _first_line(cell: dict) -> str:
    lines = [line for line in "".join(cell.get("source", "")).splitlines() if line.strip()]
    return lines[0].strip() if lines else ""


def lesson_report(name: str, run: dict, *, slowest: int = 3) -> dict:
    """The report of one lesson from what the browser returned (``tests/browser.py``'s ``run_all_result``:
    ``startedAt`` in epoch ms, ``notebook`` with recorded timings). Times in seconds; cells numbered 1, 2, ...
    among the lesson's own code cells (the ones the harness inserted are left out)."""
    report = {"lesson": name, "ok": bool(run.get("ok")), "error": run.get("error"), "total_s": None,
              "kernel_start_s": None, "kernel_and_imports_s": None, "cells": [], "slowest_cells": [],
              "claims_ok": False, "claims_output": ""}
    if "notebook" not in run:
        return report
    started = run["startedAt"] / 1000
    all_code = [c for c in run["notebook"]["cells"] if c.get("cell_type") == "code"]
    code = [c for c in all_code if INSERTED_CELL_TAG not in c.get("metadata", {}).get("tags", [])]
    first_start = next((interval[0] for interval in map(cell_interval, all_code) if interval), None)
    for number, cell in enumerate(code, start=1):
        interval = cell_interval(cell)
        errors = [o for o in cell.get("outputs", []) if o.get("output_type") == "error"]
        if errors and report["error"] is None:
            report["error"] = f"cell {number} raised {errors[0].get('ename')}: {errors[0].get('evalue')}"
        if interval is None:
            continue
        report["cells"].append({"cell": number, "seconds": round(interval[1] - interval[0], 3),
                                "end_s": round(interval[1] - started, 3), "source": _first_line(cell)})
    if report["cells"]:
        report["total_s"] = report["cells"][-1]["end_s"]
        report["kernel_start_s"] = round(first_start - started, 3)
        leading = 0
        while leading < len(code) and is_setup_or_imports(code[leading]):
            leading += 1
        ends = [c["end_s"] for c in report["cells"] if c["cell"] <= leading]
        report["kernel_and_imports_s"] = ends[-1] if ends else report["kernel_start_s"]
    report["slowest_cells"] = sorted(report["cells"], key=lambda c: -c["seconds"])[:slowest]
    claims = [c for c in code if "claims" in c.get("metadata", {}).get("tags", [])]
    report["claims_output"] = "".join(cell_stdout(c) for c in claims)
    report["claims_ok"] = bool(claims) and CLAIMS_HOLD in report["claims_output"]
    if report["ok"] and any(not c.get("execution_count") for c in code):
        report["ok"] = False
        report["error"] = report["error"] or "not every code cell ran"
    return report


def parse_profile(stdout: str) -> list[dict]:
    """The rows the profiling cell printed (after ``PROFILE_MARKER``): [{file, line, function, calls, self_s,
    cumulative_s}]. A ValueError when the marker is missing (the run stopped before the last cell)."""
    for line in stdout.splitlines():
        if line.startswith(PROFILE_MARKER):
            rows = json.loads(line[len(PROFILE_MARKER):])
            return [{"file": f, "line": ln, "function": fn, "calls": n, "self_s": s, "cumulative_s": c}
                    for f, ln, fn, n, s, c in rows]
    raise ValueError(f"no profile in the output (no line starting with {PROFILE_MARKER!r})")


def profile_group(row: dict) -> str:
    """Where a profile row's code lives: a package (coursekit, numpy, matplotlib, ...), "notebook cells",
    "kernel (IPython, Pyodide)", "Python standard library", the import system's compiled work, or other
    compiled code (numpy's or not)."""
    file, function = row["file"], row["function"]
    if file == "~" or file.startswith("<frozen"):  # a compiled function, or the import system's frozen modules
        if "numpy" in function:
            return "numpy (compiled calls)"
        return "imports (compile, find, unzip)" if _IMPORT_BUILTINS.search(function) or file != "~" else \
            "other compiled calls"
    if file.startswith("<ipython-input") or file.startswith("/tmp/ipykernel"):
        return "notebook cells"
    if _MACHINERY.search(file):
        return "kernel (IPython, Pyodide)"
    match = re.search(r"site-packages/([^/]+)/", file)
    if match:
        return match.group(1)
    return "Python standard library" if "python3" in file else "other"


def summarize_profile(rows: list[dict], *, top: int = 12) -> dict:
    """The functions with the most cumulative time (the kernel's machinery left out), the most self time, and
    self time per ``profile_group``, largest first."""
    def label(row):
        where = re.sub(r"^.*site-packages/", "", row["file"])
        return row["function"] if row["file"] == "~" else f"{where}:{row['line']}({row['function']})"

    def entry(row, key):
        return {"function": label(row), "seconds": round(row[key], 3), "calls": row["calls"]}

    lesson_code = [r for r in rows if not _MACHINERY.search(r["file"]) and r["function"] not in _MACHINERY_BUILTINS]
    groups: dict[str, float] = {}
    for row in rows:
        groups[profile_group(row)] = groups.get(profile_group(row), 0.0) + row["self_s"]
    return {
        "top_cumulative": [entry(r, "cumulative_s") for r in sorted(lesson_code, key=lambda r: -r["cumulative_s"])[:top]],
        "top_self": [entry(r, "self_s") for r in sorted(rows, key=lambda r: -r["self_s"])[:top]],
        "self_by_group": {g: round(s, 3) for g, s in sorted(groups.items(), key=lambda kv: -kv[1])},
    }


def _seconds(value) -> str:
    return "-" if value is None else f"{value:.1f}"


def format_table(reports: list[dict], *, budget_s: float = BUDGET_S) -> str:
    """The readable table: one row per lesson, then each lesson's slowest cells (and profile, when taken)."""
    header = f"{'lesson':<28} {'total s':>8} {'kernel+imports s':>18} {'claims':>7}  slowest cell"
    lines = [header, "-" * len(header)]
    for r in reports:
        slow = r["slowest_cells"][0] if r["slowest_cells"] else None
        slow_text = f"#{slow['cell']} {slow['seconds']:.1f} s: {slow['source'][:48]}" if slow else "-"
        over = " OVER" if r["total_s"] is not None and r["total_s"] > budget_s else ""
        kernel = (f"{_seconds(r['kernel_and_imports_s'])} ({_seconds(r['kernel_start_s'])})"
                  if r["kernel_and_imports_s"] is not None else "-")
        claims = "ok" if r["claims_ok"] else "NO"
        lines.append(f"{r['lesson']:<28} {_seconds(r['total_s']) + over:>8} {kernel:>18} {claims:>7}  {slow_text}")
        if r.get("error"):
            lines.append(f"{'':<28} error: {r['error']}")
    lines.append(f"(total: Run All to the last cell done; kernel+imports: to the end of the setup and imports "
                 f"cells, the kernel's start in brackets; budget {budget_s:.0f} s per lesson)")
    for r in reports:
        lines.append(f"\n{r['lesson']}: slowest cells")
        lines += [f"  #{c['cell']:<3} {c['seconds']:6.1f} s  {c['source'][:90]}" for c in r["slowest_cells"]]
        profile = r.get("profile")
        if profile:
            lines.append("  profile, self time by package (s): " +
                         ", ".join(f"{g} {s:.1f}" for g, s in list(profile["self_by_group"].items())[:8]))
            lines.append("  profile, most cumulative time:")
            lines += [f"    {e['seconds']:6.1f} s  {e['calls']:>7}x  {e['function']}" for e in profile["top_cumulative"]]
            lines.append("  profile, most self time:")
            lines += [f"    {e['seconds']:6.1f} s  {e['calls']:>7}x  {e['function']}" for e in profile["top_self"]]
    return "\n".join(lines)


def select_lessons(spec: str | None, available: list[Path]) -> list[Path]:
    """``--lessons 00,02`` -> those notebooks (by their number), in the order given; None -> all of them."""
    if not spec:
        return list(available)
    by_number = {p.name[:2]: p for p in available}
    chosen = []
    for number in (s.strip() for s in spec.split(",") if s.strip()):
        if number not in by_number:
            raise ValueError(f"--lessons: no lesson numbered {number!r}; expected some of {', '.join(by_number)}")
        chosen.append(by_number[number])
    return chosen


# --------------------------------------------------------------------------------------------
# The browser
# --------------------------------------------------------------------------------------------

def run_lesson(browser, base_url: str, notebook: Path, lite_path, *, profile: bool, timeout_s: float) -> dict:
    """Open ``notebook`` in a fresh browser context, Run All, wait; the lesson's report (plus ``open_s``)."""
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    try:
        page = context.new_page()
        opened = time.perf_counter()
        open_lite_notebook(page, base_url + lite_path(notebook.name), timeout_s=timeout_s)
        open_s = time.perf_counter() - opened
        start_run_all(page, first=[PROFILE_START] if profile else [], last=[PROFILE_END] if profile else [],
                      record_timing=True)
        deadline = time.perf_counter() + timeout_s
        while (run := run_all_result(page)) is None and time.perf_counter() < deadline:
            page.wait_for_timeout(1000)
        if run is None:
            done, total = run_all_progress(page)
            run = {"ok": False, "error": f"not finished after {timeout_s:.0f} s ({done}/{total} code cells run)"}
    finally:
        context.close()
    report = lesson_report(notebook.stem, run)
    report["open_s"] = round(open_s, 3)
    if profile and "notebook" in run:
        inserted = [c for c in run["notebook"]["cells"]
                    if INSERTED_CELL_TAG in c.get("metadata", {}).get("tags", [])]
        try:
            rows = parse_profile(cell_stdout(inserted[-1]))
            report["profile"] = {**summarize_profile(rows), "rows": rows}
        except (ValueError, IndexError) as err:
            report["profile_error"] = str(err)
    return report


def machine() -> dict:
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    revision = subprocess.run(["git", "describe", "--always", "--dirty"], cwd=REPO, capture_output=True,
                              text=True).stdout.strip()
    return {"date_utc": _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"), "cpu": cpu_model(),
            "cores_available": cores, "revision": revision or None, "load_average_start": os.getloadavg()}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lessons", help="comma-separated lesson numbers, e.g. 00,02 (default: all)")
    parser.add_argument("--profile", action="store_true", help="run each lesson under cProfile inside Pyodide")
    parser.add_argument("--out", type=Path, help="write the report as JSON to this file")
    parser.add_argument("--no-build", action="store_true", help="reuse site/_build/html instead of building")
    parser.add_argument("--timeout", type=float, default=20 * 60, help="seconds per lesson (default 1200)")
    args = parser.parse_args(argv)

    from test_site import load_build_module  # site/build.py: the notebooks, the lite addresses, the build
    build = load_build_module()
    try:
        lessons = select_lessons(args.lessons, build.notebooks())
    except ValueError as err:
        parser.error(str(err))
    if not args.no_build:
        subprocess.run([sys.executable, str(REPO / "site" / "build.py"), "--lite"], cwd=REPO, check=True)
    elif not (SITE_HTML / build.lite_path("x").split("?")[0]).exists():
        parser.error(f"--no-build: no JupyterLite site in {SITE_HTML}; build it with python site/build.py --lite")
    try:
        sync_playwright = require_browser()
    except BaseException as err:  # pytest's skip outside pytest: say why and stop
        print(f"cannot run the browser: {err}", file=sys.stderr)
        return 2

    report = {"machine": machine(), "budget_s": BUDGET_S, "profile": args.profile, "lessons": []}
    m = report["machine"]
    print(f"JupyterLite lessons in headless Chromium, one at a time{' (profiled: slower)' if args.profile else ''}\n"
          f"  machine: {m['cpu']}, {m['cores_available']} cores; {m['date_utc']}; revision {m['revision']}; "
          f"load average {_fmt_load(m['load_average_start'])}", flush=True)
    with serve_directory(SITE_HTML) as base_url, sync_playwright() as playwright:
        browser = chromium(playwright)
        report["machine"]["chromium"] = browser.version
        try:
            for notebook in lessons:
                load = os.getloadavg()[0]
                lesson = run_lesson(browser, base_url, notebook, build.lite_path, profile=args.profile,
                                    timeout_s=args.timeout)
                lesson["load_average_1min_before"] = load
                report["lessons"].append(lesson)
                print(f"  {notebook.stem}: {_seconds(lesson['total_s'])} s, claims "
                      f"{'ok' if lesson['claims_ok'] else 'NOT ok'} (load average before: {load:.1f})", flush=True)
        finally:
            browser.close()
    report["machine"]["load_average_end"] = os.getloadavg()
    print(f"\n{format_table(report['lessons'])}\n\nload average at end {_fmt_load(report['machine']['load_average_end'])}")
    if args.out:
        args.out.write_text(json.dumps(report, indent=1))
        print(f"report written to {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

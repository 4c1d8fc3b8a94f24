"""Measure how often a lesson's claims fail by bad luck: run it under many held-out seeds.

    python evidence/sweep.py 04 --values 1000-1199 --jobs 2
    python evidence/sweep.py notebooks/04_early_stopping.ipynb --values 1,2,3 --out evidence/results/04.json

Each value ``v`` runs the whole lesson, top to bottom, in a fresh Python process with
``COURSEKIT_HELDOUT_SEED=v`` (progress bars off, figures drawn with Agg and closed), exactly
the cells a learner runs with every exercise left blank (the checks then use the
reference). A run *passes* when every cell runs and the claims cell (the one tagged
``claims``) prints "All claims hold."; otherwise the first failing cell's error is recorded.

It prints the failures and the failure rate with a one-sided 95% upper bound
(Clopper-Pearson: with 0 failures in n runs the bound is about 3/n), and with ``--out``
writes every run (value, passed, error, seconds, the claims cell's printed output) as JSON.
A lesson's claims are committed only when this rate is below about 1 in 100 on values that
were not used to design them (COURSE.md, "Evidence"); evidence/README.md records the
measurements.
"""
from __future__ import annotations

import argparse
import json
import math
import os
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = ROOT / "notebooks"

# Runs in the child process: execute the notebook's code cells with IPython's own transforms
# (so %pip / %env lines work), stop at the first error, print one JSON line at the end.
_WORKER = r'''
import json, sys, time, warnings, io, contextlib
import matplotlib
matplotlib.use("Agg")
import matplotlib.pyplot as plt
import nbformat
from IPython.core.interactiveshell import InteractiveShell
warnings.filterwarnings("ignore", message=".*non-interactive.*cannot be shown")
nb = nbformat.read(sys.argv[1], as_version=4)
shell = InteractiveShell.instance()
report = {"passed": False, "error": None, "claims_output": ""}
started = time.perf_counter()
for index, cell in enumerate(nb.cells):
    if cell.cell_type != "code":
        continue
    tags = cell.get("metadata", {}).get("tags", [])
    buffer = io.StringIO()
    with contextlib.redirect_stdout(buffer):
        result = shell.run_cell(cell.source, store_history=False, silent=False)
    plt.close("all")
    if "claims" in tags:
        report["claims_output"] = buffer.getvalue()
    error = result.error_in_exec or result.error_before_exec
    if error is not None:
        report["error"] = f"cell {index} ({'claims' if 'claims' in tags else 'code'}): {type(error).__name__}: {error}"
        break
else:
    report["passed"] = "All claims hold." in report["claims_output"]
    if not report["passed"]:
        report["error"] = "the claims cell did not print 'All claims hold.'"
report["seconds"] = time.perf_counter() - started
sys.__stdout__.write("\n@@SWEEP@@" + json.dumps(report) + "\n")
'''


def parse_values(text: str) -> list[int]:
    """'1000-1009' or '1,5,9' or '1000-1004,2000' -> a list of distinct non-negative ints."""
    values: list[int] = []
    for part in text.split(","):
        part = part.strip()
        if not part:
            continue
        if "-" in part:
            low, high = (int(p) for p in part.split("-", 1))
            if high < low:
                raise argparse.ArgumentTypeError(f"range {part!r} is empty (its end is below its start)")
            values.extend(range(low, high + 1))
        else:
            values.append(int(part))
    if not values or min(values) < 0:
        raise argparse.ArgumentTypeError(f"--values needs non-negative integers such as 1000-1099, got {text!r}")
    return list(dict.fromkeys(values))


def find_notebook(lesson: str) -> Path:
    path = Path(lesson)
    if path.suffix == ".ipynb" and path.is_file():
        return path
    matches = sorted(NOTEBOOKS.glob(f"{lesson}_*.ipynb"))
    if len(matches) != 1:
        raise SystemExit(f"no single lesson notebook matches {lesson!r} in {NOTEBOOKS} (found {matches})")
    return matches[0]


def run_one(notebook: Path, value: int, timeout: float, *, browser: bool = False) -> dict:
    env = {**os.environ, "COURSEKIT_HELDOUT_SEED": str(value), "COURSEKIT_BROWSER_BUDGET": "1" if browser else "0",
           "COURSEKIT_PROGRESS": "0", "MPLBACKEND": "Agg",
           "OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    started = time.perf_counter()
    try:
        done = subprocess.run([sys.executable, "-c", _WORKER, str(notebook)], env=env, capture_output=True,
                              text=True, timeout=timeout, cwd=notebook.parent)
    except subprocess.TimeoutExpired:
        return {"value": value, "passed": False, "error": f"timed out after {timeout:.0f} s",
                "seconds": time.perf_counter() - started, "claims_output": ""}
    marker = done.stdout.rfind("@@SWEEP@@")
    if marker < 0:
        tail = (done.stderr or done.stdout).strip().splitlines()[-3:]
        return {"value": value, "passed": False, "error": "the run crashed: " + " | ".join(tail),
                "seconds": time.perf_counter() - started, "claims_output": ""}
    report = json.loads(done.stdout[marker + len("@@SWEEP@@"):].strip().splitlines()[0])
    return {"value": value, **report}


def upper_bound(failures: int, n: int, confidence: float = 0.95) -> float:
    """One-sided Clopper-Pearson upper bound of a failure rate (bisection on the binomial tail)."""
    if failures >= n:
        return 1.0
    low, high = failures / n, 1.0
    for _ in range(60):
        mid = (low + high) / 2
        tail = sum(math.comb(n, k) * mid**k * (1 - mid) ** (n - k) for k in range(failures + 1))
        low, high = (mid, high) if tail > 1 - confidence else (low, mid)
    return high


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("lesson", help="a lesson number such as 04, or a notebook path")
    parser.add_argument("--values", type=parse_values, required=True, help="held-out seeds, e.g. 1000-1199")
    parser.add_argument("--jobs", type=int, default=2, help="runs at a time (default 2)")
    parser.add_argument("--timeout", type=float, default=900.0, help="seconds per run (default 900)")
    parser.add_argument("--out", type=Path, help="write every run as JSON here")
    parser.add_argument("--browser", action="store_true",
                        help="run with the budget the lesson uses in the browser (COURSEKIT_BROWSER_BUDGET=1)")
    args = parser.parse_args(argv)
    notebook = find_notebook(args.lesson)
    budget = " with the browser budget" if args.browser else ""
    print(f"{notebook.name}: {len(args.values)} held-out values{budget}, {args.jobs} at a time", flush=True)
    results = []
    with ThreadPoolExecutor(max_workers=max(1, args.jobs)) as pool:
        for result in pool.map(lambda v: run_one(notebook, v, args.timeout, browser=args.browser),
                                 args.values):
            results.append(result)
            mark = "ok  " if result["passed"] else "FAIL"
            print(f"{mark} {result['value']:>10d} {result['seconds']:6.1f} s  {result['error'] or ''}", flush=True)
    failures = [r for r in results if not r["passed"]]
    n = len(results)
    print(f"\n{notebook.name}: {len(failures)} failure(s) in {n} values: rate {len(failures) / n:.3f}, "
          f"95% upper bound {upper_bound(len(failures), n):.3f}; median {sorted(r['seconds'] for r in results)[n // 2]:.1f} s a run")
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps({"notebook": notebook.name, "browser_budget": args.browser, "runs": results},
                                       indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())

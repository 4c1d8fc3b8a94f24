"""``python -m coursekit.grade``: the command line."""
from __future__ import annotations

import argparse
import os
import signal
import sys
from pathlib import Path

from .report import printable, summary, write_csv, write_details
from .results import Grade
from .runner import DEFAULT_TIMEOUT_S, Batch, grade_all
from .sandbox import SandboxUnavailable, Unsandboxed, find_sandbox
from .submissions import collect

NO_SANDBOX_WARNING = (
    "WARNING: --no-sandbox: every submission runs as you, with your files, your network and your environment. "
    "A hostile notebook can read and change any file you can (other submissions, this grader, the tables it "
    "writes), reach the network, and leave processes running after the grader ends; an answer can reach the "
    "course's solutions by removing an import hook. The verdicts are still decided in the grader's own process. "
    "Use it only for submissions you trust.")


def _positive_seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number of seconds, got {text!r}") from None
    if not value > 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"expected a positive number of seconds, got {text!r}")
    return value


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected at least 1, got {text!r}")
    return value


def _nonnegative_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number such as 12345, got {text!r}") from None
    if not 0 <= value < 2**32:
        raise argparse.ArgumentTypeError(f"expected a whole number from 0 to 2**32 - 1, got {text!r}")
    return value


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m coursekit.grade",
        description="Run learners' notebooks afresh, each in a sandbox of its own with a time limit, check every "
                    "exercise in the grader's own process, and write the verdicts to a table (one row per "
                    "submission).",
        epilog="Exit code 0 whatever the notebooks did; 2 when the command is misused or no sandbox can be made; "
               "130 (Ctrl-C) or 143 (SIGTERM) when stopped, after writing the rows graded so far.")
    parser.add_argument("paths", nargs="+", metavar="SUBMISSION",
                        help="notebooks, or folders to search for *.ipynb (e.g. submissions/ with one folder per "
                             "learner)")
    parser.add_argument("--timeout", type=_positive_seconds, default=DEFAULT_TIMEOUT_S, metavar="S",
                        help=f"wall-clock limit per notebook in seconds, kernel start included "
                             f"(default {DEFAULT_TIMEOUT_S:g})")
    parser.add_argument("--csv", type=Path, default=Path("grades.csv"), metavar="PATH",
                        help="the table, one row per submission (default grades.csv)")
    parser.add_argument("--details", type=Path, default=None, metavar="PATH",
                        help="also write one row per submission and exercise, with the diagnosed mistake")
    parser.add_argument("--learner", choices=("auto", "file", "folder"), default="auto",
                        help="who a submission belongs to (default auto: in a folder given here, the first folder "
                             "below it, e.g. submissions/alice/anything.ipynb is alice's, or the file's name for a "
                             "notebook directly in it; a notebook given by its path is its folder's when named "
                             "like a lesson, e.g. alice/02_dropout.ipynb, else its own)")
    parser.add_argument("--jobs", type=_positive_int, default=1, metavar="N",
                        help="notebooks run at the same time (default 1)")
    parser.add_argument("--save-executed", type=Path, default=None, metavar="DIR",
                        help="keep every executed notebook (with its outputs and tracebacks) in DIR")
    parser.add_argument("--test-seed", type=_nonnegative_int, default=None, metavar="N",
                        help="score the capstone's open-ended task (notebook 08): retrain each submitted "
                             "configuration in the grader and test it on fresh images drawn from N (keep N to "
                             "yourself); adds the column test_score")
    parser.add_argument("--no-sandbox", action="store_true",
                        help="run the submissions without a sandbox, as you (only for code you trust; see README)")
    parser.add_argument("--recheck", action="store_true", help=argparse.SUPPRESS)   # now always the case
    parser.add_argument("--course", type=Path, default=None, help=argparse.SUPPRESS)
    return parser


def _writable(parser: argparse.ArgumentParser, path: Path) -> None:
    folder = path.resolve().parent
    if not folder.is_dir():
        parser.exit(2, f"error: cannot write {path}: the folder {folder} does not exist\n")
    if not os.access(folder, os.W_OK) or (path.exists() and not os.access(path, os.W_OK)):
        parser.exit(2, f"error: cannot write {path}: no permission\n")


def main(argv: list[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    try:
        import nbclient  # noqa: F401
        import nbformat  # noqa: F401
    except ImportError as exc:
        parser.exit(2, f"error: grading needs nbclient and nbformat ({exc}): pip install 'coursekit[grade]'\n")
    if args.recheck or args.course is not None:
        print("note: --recheck and --course are no longer needed: every exercise is now checked in the grader's own "
              "process", file=sys.stderr)
    found = collect(args.paths)
    if not found:
        parser.exit(2, f"error: no notebook (*.ipynb) found in {', '.join(args.paths)}\n")
    for path in (args.csv, args.details):
        if path is not None:
            _writable(parser, path)
    protected = [Path(p) for p in args.paths] + [p for p in (args.csv, args.details, args.save_executed) if p]
    if args.no_sandbox:
        sandbox = Unsandboxed()
        print(NO_SANDBOX_WARNING, file=sys.stderr, flush=True)
    else:
        try:
            sandbox = find_sandbox(protected=protected)
        except SandboxUnavailable as exc:
            parser.exit(2, f"error: cannot sandbox the submissions: {exc}.\nGrading runs the learners' code; without "
                           "a sandbox it runs as you. Rerun with --no-sandbox only if you trust every submission.\n")

    count = len(found)
    done: list[Grade] = []

    def report(grade: Grade) -> None:
        done.append(grade)
        score = f"{grade.passed}/{grade.total}" if grade.total else "-"
        print(f"[{len(done)}/{count}] {printable(grade.learner)} (lesson {grade.lesson or '?'}): {score}, "
              f"{grade.outcome} ({grade.seconds:.0f} s)", flush=True)

    batch = Batch()
    stopped: dict[str, int] = {}

    def on_signal(signum, frame) -> None:
        if batch.stop.is_set():     # a second Ctrl-C: leave now
            batch.stop_all()
            os._exit(128 + signum)
        stopped["signal"] = signum
        print(f"\nStopping ({signal.Signals(signum).name}): ending the running notebooks; the rows graded so far "
              "will be written.", file=sys.stderr, flush=True)
        batch.stop_all()

    previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        print(f"Grading {count} notebook{'s' if count != 1 else ''} (time limit {args.timeout:g} s each, "
              f"{'in a sandbox each' if sandbox.name != 'none' else 'WITHOUT a sandbox'})...", flush=True)
        grades = grade_all(args.paths, timeout=args.timeout, jobs=args.jobs,
                           learner_rule=args.learner, save_executed=args.save_executed, sandbox=sandbox, batch=batch,
                           progress=report, test_seed=args.test_seed)
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    print()
    print(summary(grades), end="")
    write_csv(grades, args.csv, test_scores=args.test_seed is not None)
    print(f"\nWrote {args.csv} ({len(grades)} row{'s' if len(grades) != 1 else ''})", end="")
    if args.details is not None:
        write_details(grades, args.details)
        print(f" and {args.details}", end="")
    print(".")
    if args.no_sandbox:
        print(NO_SANDBOX_WARNING, file=sys.stderr)
    if stopped:
        print(f"Stopped: {count - len(grades)} notebook(s) not graded.", file=sys.stderr)
        return 128 + stopped["signal"]
    return 0

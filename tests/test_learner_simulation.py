"""Learner simulation: every notebook runs to the end whatever the learner does.

For each notebook, the exercises are filled in (a) with the reference and (b) with each
catalogued wrong answer (variant k uses each exercise's k-th mistake, the reference where
an exercise has fewer). Each variant must run to the end, every check cell must print the
right verdict (passed / failed with that mistake's hint), and the lesson's claims cell
must print identical numbers in every variant: after a failed check the reference is
used, so the story is the same - and two executions with the same seeds agree exactly.
(The committed notebook, with every stub blank, is executed by nbval.)
"""
from __future__ import annotations

import re
import subprocess
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import nbformat
import pytest

from coursekit import exercises

pytestmark = pytest.mark.slow  # run by `python -m pytest --full` (conftest.py)

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
CHECK_CELL = re.compile(r'^(\w+) = check\("(\w+)", (\w+)\)$')
RUNNER = Path(__file__).with_name("notebook_runner.py")


def exercise_slots(nb):
    """[(index of the exercise cell, function name, exercise name)] in notebook order."""
    slots = []
    for i, cell in enumerate(nb.cells):
        if "exercise" in cell.metadata.get("tags", []):
            check_cell = next(c for c in nb.cells[i + 1:] if "check" in c.metadata.get("tags", []))
            target, name, _ = CHECK_CELL.match(check_cell.source.strip()).groups()
            slots.append((i, target, name))
    return slots


def make_variant(nb, choice: dict[str, str | None]):
    """A copy of ``nb`` whose exercise cells bind the reference (None) or the named mistake."""
    variant = nbformat.from_dict(nb)
    for i, target, name in exercise_slots(nb):
        key = choice.get(name)
        source = (f'{target} = _reference("{name}")' if key is None else f'{target} = _mistake("{name}", "{key}")')
        variant.cells[i].source = "from coursekit.exercises import mistake as _mistake, reference as _reference\n" + source
    return variant


def run(nb, name: str):
    with tempfile.TemporaryDirectory() as tmp:
        src, out = Path(tmp) / "in.ipynb", Path(tmp) / "out.ipynb"
        nbformat.write(nb, src)
        proc = subprocess.run([sys.executable, str(RUNNER), str(src), str(out), "--cwd", str(ROOT / "notebooks")],
                              capture_output=True, text=True)
        if proc.returncode != 0:
            raise AssertionError(f"{name} did not run to the end:\n{proc.stderr[-4000:]}")
        return nbformat.read(out, as_version=4)


def stdout_of(cell) -> str:
    return "".join(o.get("text", "") for o in cell.get("outputs", []) if o.get("output_type") == "stream"
                   and o.get("name") == "stdout")


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_survives_every_learner(path):
    nb = nbformat.read(path, as_version=4)
    slots = exercise_slots(nb)
    names = [name for _, _, name in slots]
    keys = {name: list(exercises.get_exercise(name).mistakes) for name in names}
    variants = {"reference": {name: None for name in names}}
    for k in range(max((len(v) for v in keys.values()), default=0)):
        variants[f"mistakes #{k}"] = {name: (keys[name][k] if k < len(keys[name]) else None) for name in names}

    with ThreadPoolExecutor(max_workers=2) as pool:
        futures = {label: pool.submit(run, make_variant(nb, choice), f"{path.name} [{label}]")
                   for label, choice in variants.items()}
        executed = {label: future.result() for label, future in futures.items()}

    claims = {}
    for label, choice in variants.items():
        out = executed[label]
        for i, target, name in slots:
            check_cell = next(c for c in out.cells[i + 1:] if "check" in c.metadata.get("tags", []))
            verdict = next(("".join(o["data"]["text/plain"]) for o in check_cell.get("outputs", [])
                           if o.get("output_type") == "display_data" and "text/html" in o.get("data", {})),
                          stdout_of(check_cell))
            key = choice[name]
            if key is None:
                assert verdict.startswith(f"PASSED ✅ {name}: "), f"{path.name} [{label}] {name}: {verdict}"
            else:
                assert verdict.startswith(f"FAILED ❌ {name}: "), f"{path.name} [{label}] {name}/{key}: {verdict}"
                assert exercises.get_exercise(name).mistakes[key].hint in verdict, \
                    f"{path.name} [{label}] {name}/{key}: wrong hint:\n{verdict}"
        claims_cells = [c for c in out.cells if "claims" in c.metadata.get("tags", [])]
        assert len(claims_cells) == 1, f"{path.name}: tag exactly one cell 'claims'"
        claims[label] = stdout_of(claims_cells[0])
        assert claims[label].strip(), f"{path.name}: the claims cell should print the numbers it checks"

    first = next(iter(claims.values()))
    for label, text in claims.items():
        assert text == first, f"{path.name}: claims differ between executions ({label}):\n{text}\nvs\n{first}"

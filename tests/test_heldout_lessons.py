"""Slow (--full): every lesson's claims hold under another held-out seed, and that seed changes the numbers.

Each lesson runs twice, top to bottom, as evidence/sweep.py runs it (a fresh process, every
exercise blank so the checks use the reference): once with the committed default and once with
``COURSEKIT_HELDOUT_SEED`` = ``OTHER_VALUE`` (override with COURSEKIT_TEST_HELDOUT_SEED). Both
must end with "All claims hold.", and the claims cell must print different numbers: the
switch reaches the data and the seeds the claims rest on, not just a label.
"""
from __future__ import annotations

import importlib.util
import os
from pathlib import Path

import pytest

from coursekit import heldout

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
OTHER_VALUE = int(os.environ.get("COURSEKIT_TEST_HELDOUT_SEED", "4242"))


def _sweep():
    spec = importlib.util.spec_from_file_location("evidence_sweep", ROOT / "evidence" / "sweep.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=[nb.stem for nb in NOTEBOOKS])
def test_claims_hold_on_another_heldout_seed_and_the_numbers_change(notebook):
    assert OTHER_VALUE != heldout.DEFAULT_HELDOUT_SEED
    sweep = _sweep()
    default = sweep.run_one(notebook, heldout.DEFAULT_HELDOUT_SEED, timeout=900)
    other = sweep.run_one(notebook, OTHER_VALUE, timeout=900)
    assert default["passed"], f"{notebook.name} with the default held-out seed: {default['error']}"
    assert other["passed"], f"{notebook.name} with COURSEKIT_HELDOUT_SEED={OTHER_VALUE}: {other['error']}"
    assert default["claims_output"].strip() and other["claims_output"].strip()
    assert default["claims_output"] != other["claims_output"], (
        f"{notebook.name}: the claims cell printed the same numbers under held-out seeds "
        f"{heldout.DEFAULT_HELDOUT_SEED} and {OTHER_VALUE}; the lesson does not derive its data and seeds from "
        "coursekit.heldout")

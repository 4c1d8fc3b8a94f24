"""The held-out switch: one integer from which each lesson derives what its claims rest on.

A lesson's claim ("spatial dropout beats an early-stopped baseline") is only evidence if it
holds on seeds *and data* nobody tuned it on. So every lesson draws its training seeds and
its data (a fresh sample of the noisy moons, a fresh set of textures, a fresh digits split
and label-noise pattern) from one integer, the **held-out seed**:

* the environment variable ``COURSEKIT_HELDOUT_SEED`` when it is set (a non-negative
  integer), else
* ``DEFAULT_HELDOUT_SEED``, the committed value.

Run a lesson with another value and every number it claims about is recomputed on new
data and new initializations::

    COURSEKIT_HELDOUT_SEED=12345 jupyter lab           # or, in a notebook, before the setup cell:
    %env COURSEKIT_HELDOUT_SEED=12345

In a lesson::

    from coursekit import heldout
    held = heldout.for_lesson("04")
    print(held)                         # which value, and where it came from
    draws = held.seeds("moons draws", 5)      # seeds of 5 data draws
    seeds = held.seeds("training", 10)        # 10 training seeds (for coursekit.experiments.seed_streams)
    cells = held.grid(draws=5, seeds=2)       # 10 (draw, seed) pairs, every training seed distinct

Each name (``"moons draws"``, ``"training"``) gives its own independent stream of seeds, so
asking for one more draw never changes the training seeds, and two lessons never share
seeds by accident. The derivation is ``numpy.random.SeedSequence`` on the held-out seed,
the lesson and the name: the same on every machine and in the browser.

The claims of every lesson are designed on other values and measured to fail by bad luck
on fewer than about 1 in 100 values (see ``evidence/`` in the repository).
"""
from __future__ import annotations

import os
import sys
from dataclasses import dataclass

import numpy as np

from ._validation import check_int, describe

__all__ = ["ENV_VARIABLE", "DEFAULT_HELDOUT_SEED", "heldout_seed", "HeldOut", "for_lesson",
           "BROWSER_BUDGET_VARIABLE", "browser_budget"]

ENV_VARIABLE = "COURSEKIT_HELDOUT_SEED"
"""The environment variable that overrides the committed held-out seed."""

DEFAULT_HELDOUT_SEED = 20261207
"""The committed held-out seed: what every lesson uses when ``COURSEKIT_HELDOUT_SEED`` is not set."""

BROWSER_BUDGET_VARIABLE = "COURSEKIT_BROWSER_BUDGET"
"""Set to 1 to run a lesson natively with the (smaller) budget it uses in the browser."""

_MAX_SEED = 2**32  # seeds fit numpy's and scikit-learn's random_state (0 <= seed < 2**32)


def heldout_seed() -> int:
    """The held-out seed: ``COURSEKIT_HELDOUT_SEED`` if set (and not empty), else ``DEFAULT_HELDOUT_SEED``.

    The variable must hold a non-negative integer in decimal (e.g. ``12345``); anything else is
    a ``ValueError`` naming the variable and the value, never a silent fallback.
    """
    raw = os.environ.get(ENV_VARIABLE, "").strip()
    if not raw:
        return DEFAULT_HELDOUT_SEED
    if not raw.isdigit() or not raw.isascii():
        raise ValueError(f"the environment variable {ENV_VARIABLE} must be a non-negative integer such as 12345, "
                         f"got {raw!r}; unset it to use the committed value {DEFAULT_HELDOUT_SEED}")
    return int(raw)


def _words(text: str) -> list[int]:
    """A name as SeedSequence entropy: its length, then its UTF-8 bytes (so 'ab','c' != 'a','bc')."""
    data = text.encode("utf-8")
    return [len(data), *data]


@dataclass(frozen=True)
class HeldOut:
    """The seeds of one lesson under one held-out value (see the module docstring).

    ``lesson``: the lesson's name (e.g. ``"04"``); ``value``: the held-out seed; ``source``:
    where it came from (``"default"``, ``"environment"`` or ``"argument"``).
    """

    lesson: str
    value: int
    source: str = "argument"

    def _sequence(self, name: str) -> np.random.SeedSequence:
        if not isinstance(name, str) or not name:
            raise TypeError(f"the name of a seed stream must be a non-empty string such as 'training', "
                            f"got {describe(name)}")
        return np.random.SeedSequence([self.value, *_words(self.lesson), *_words(name)])

    def seeds(self, name: str, n: int) -> tuple[int, ...]:
        """``n`` distinct seeds (ints in [0, 2**32)) of the stream ``name``; the first k never depend on n.

        Use them as training seeds (``seed_streams(seed)``) or as seeds of data draws
        (e.g. ``datasets.load_noisy_moons(draw=seed)``).
        """
        n = check_int(n, "n", low=1)
        sequence = self._sequence(name)
        seeds: list[int] = []
        drawn = max(n, 8)
        while len(seeds) < n:  # a repeat among 2**32 values is rare; then draw a longer prefix
            state = sequence.generate_state(drawn, dtype=np.uint32)
            seeds = list(dict.fromkeys(int(s) for s in state))[:n]
            drawn *= 2
        return tuple(seeds)

    def seed(self, name: str) -> int:
        """One seed of the stream ``name`` (the first of ``seeds(name, n)``)."""
        return self.seeds(name, 1)[0]

    def rng(self, name: str) -> np.random.Generator:
        """A generator of its own for the stream ``name`` (e.g. a bootstrap's resampling)."""
        return np.random.default_rng(self._sequence(name))

    def grid(self, *, draws: int, seeds: int, name: str = "") -> list[tuple[int, int]]:
        """``draws * seeds`` pairs ``(draw, seed)``: each data draw with ``seeds`` training seeds of its own.

        Every training seed is distinct, so no two runs share their initial weights by accident.
        Pairs are ordered draw by draw. ``name`` prefixes the stream names (``name + "draws"``,
        ``name + "training"``), for a lesson that needs two independent grids.
        """
        draws, seeds = check_int(draws, "draws", low=1), check_int(seeds, "seeds", low=1)
        draw_seeds = self.seeds(name + "draws", draws)
        training = self.seeds(name + "training", draws * seeds)
        return [(draw_seeds[i // seeds], training[i]) for i in range(draws * seeds)]

    def __str__(self) -> str:
        where = {"default": f"the committed default; set {ENV_VARIABLE} to run on new data",
                 "environment": f"from {ENV_VARIABLE}",
                 "argument": "given explicitly"}.get(self.source, self.source)
        return f"lesson {self.lesson}: held-out seed {self.value} ({where})"


def for_lesson(lesson: str, *, value: int | None = None) -> HeldOut:
    """The ``HeldOut`` seeds of ``lesson`` under ``value`` (default: ``heldout_seed()``, i.e. the environment)."""
    if not isinstance(lesson, str) or not lesson:
        raise TypeError(f"lesson must be a non-empty string such as '04', got {describe(lesson)}")
    if value is None:
        source = "environment" if os.environ.get(ENV_VARIABLE, "").strip() else "default"
        return HeldOut(lesson, heldout_seed(), source)
    value = check_int(value, "value", low=0)
    if value >= _MAX_SEED:
        raise ValueError(f"value must be below 2**32, got {value}")
    return HeldOut(lesson, value, "argument")


def browser_budget() -> bool:
    """True in the browser (JupyterLite: Python compiled to WebAssembly, about 12x slower on the
    course's matrix products) or when ``COURSEKIT_BROWSER_BUDGET=1`` asks for the same budget natively.

    A lesson whose experiment would take too long in the browser may run a smaller grid there;
    it then says so where it does it, and its claims are measured under both budgets
    (``evidence/sweep.py --browser``).
    """
    raw = os.environ.get(BROWSER_BUDGET_VARIABLE, "").strip()
    if raw not in ("", "0", "1"):
        raise ValueError(f"the environment variable {BROWSER_BUDGET_VARIABLE} must be 0 or 1, got {raw!r}")
    return sys.platform == "emscripten" or raw == "1"

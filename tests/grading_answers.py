"""What the grading tests share: learners' answers as notebook code, stripped notebooks, a toy exercise.

(tests/test_grade*.py and tests/test_check_isolation.py import it; tests/ is on sys.path under pytest.)
"""
from __future__ import annotations

import contextlib

import nbformat
import numpy as np

BCE_RIGHT = """def bce_with_logits(logits, targets):
    z, y = logits, targets
    loss = np.mean(np.maximum(z, 0) - z * y + np.log1p(np.exp(-np.abs(z))))
    return float(loss), (1 / (1 + np.exp(-z)) - y) / z.size"""
BCE_SUM = BCE_RIGHT.replace("np.mean(", "np.sum(").replace(") / z.size", ")")
NG_RIGHT = """def numerical_gradient(f, x, h=1e-5):
    grad = np.zeros_like(x, dtype=np.float64)
    for i in np.ndindex(x.shape):
        old = x[i]
        x[i] = old + h
        plus = f(x)
        x[i] = old - h
        minus = f(x)
        x[i] = old
        grad[i] = (plus - minus) / (2 * h)
    return grad"""
NG_DIVIDE_BY_H = NG_RIGHT.replace("(2 * h)", "h")
BLANK_00 = ["def bce_with_logits(logits, targets):\n    raise NotImplementedError",
            "def numerical_gradient(f, x, h=1e-5):\n    raise NotImplementedError"]


def mini_notebook(cells: list[str], checks: list[str] = ("bce_with_logits", "numerical_gradient")):
    """A stripped notebook (learners may delete cells): imports, ``cells``, then the check cells of ``checks``."""
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nb.cells = [nbformat.v4.new_code_cell("import numpy as np\nfrom coursekit.exercises import check")]
    nb.cells += [nbformat.v4.new_code_cell(source) for source in cells]
    nb.cells += [nbformat.v4.new_code_cell(f'{name} = check("{name}", {name})') for name in checks]
    return nb


def square(x):
    return x * x


@contextlib.contextmanager
def toy_exercise(time_limit: float = 1.0):
    """A toy exercise "_toy_square" with a short time limit (the registry gets back exactly what it held)."""
    from coursekit.exercises import _core

    saved = dict(_core.REGISTRY)

    def checks(fn):
        n = _core.check_cases(fn, square, [("small", {"x": np.array([1.0, -2.0])}), ("big", {"x": np.ones(5)})])
        return f"{n} cases match."
    _core.register("_toy_square", reference=square, run_checks=checks, time_limit=time_limit)
    try:
        yield "_toy_square"
    finally:
        _core.REGISTRY.clear()
        _core.REGISTRY.update(saved)

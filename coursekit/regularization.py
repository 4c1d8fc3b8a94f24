"""L2 and L1 weight penalties: the penalty terms, their (sub)gradients, and regularizers for ``fit``.

Conventions (see COURSE.md), with ``m`` the number of examples the data loss is averaged
over (the batch size during training):

* L2: ``lambd / (2 m) * sum_l ||W_l||^2`` over weight matrices only (never biases);
  gradient ``(lambd / m) * W``. For plain SGD this is exactly PyTorch's
  ``SGD(weight_decay=lambd / m)``; scikit-learn's ``MLPClassifier(alpha=...)`` is ``lambd``.
* L1: ``lambd / m * sum_l sum |W_l|``; subgradient ``(lambd / m) * sign(W)`` (0 at 0).
* L1 + L2 (elastic net): ``l1_lambd / m * sum |W| + l2_lambd / (2 m) * sum W^2``, the sum of
  the two. Keras's ``regularizers.L1L2(l1, l2)`` adds ``l1 * sum |w| + l2 * sum w^2`` (no 1/2)
  per kernel: the same penalty with ``l1 = l1_lambd / m`` and ``l2 = l2_lambd / (2 m)``.
  scikit-learn's ``ElasticNet`` / ``SGDClassifier(penalty="elasticnet")`` add
  ``alpha * l1_ratio * sum |w| + alpha * (1 - l1_ratio) / 2 * sum w^2``: the same with
  ``alpha = (l1_lambd + l2_lambd) / m`` and ``l1_ratio = l1_lambd / (l1_lambd + l2_lambd)``.

``L2(lambd)`` / ``L1(lambd)`` / ``L1L2(l1_lambd, l2_lambd)`` plug into
``fit(..., regularizer=...)``: ``fit`` adds ``penalty(model, m)`` to each batch loss and calls
``add_gradients(model, m)`` after ``model.backward``.
"""
from __future__ import annotations

import numpy as np

from ._validation import check_array, check_real, describe

__all__ = ["l2_penalty", "l2_grad", "l1_penalty", "l1_grad", "dense_backward_l2", "L2", "L1", "L1L2"]


def _check_lambd(lambd) -> float:
    return check_real(lambd, "lambd", low=0.0)


def _check_m(m) -> float:
    if type(m) is int and 0 < m <= _EXACT_INT_LIMIT:  # a batch size, as fit passes it: the common case
        return float(m)
    return check_real(m, "m", low=0.0, low_open=True)


_EXACT_INT_LIMIT = 2 ** 53  # ints up to here convert to float exactly; larger ones take the full check


def _weight_list(weights, where: str) -> list[np.ndarray]:
    """One array or a list/tuple of arrays -> list of floating arrays (TypeError otherwise)."""
    if isinstance(weights, np.ndarray):
        items = [weights]
    elif isinstance(weights, (list, tuple)):
        items = list(weights)
    else:
        raise TypeError(f"{where}: weights must be a numpy array or a list of numpy arrays (e.g. model.weights()), "
                        f"got {describe(weights)} of type {type(weights).__name__}")
    for i, w in enumerate(items):
        check_array(w, f"weights[{i}]", where=where, nonempty=False)
    return items


def l2_penalty(weights, lambd: float, m: float) -> float:
    """L2 penalty ``lambd / (2 m) * sum_l sum_ij W_l[i, j]^2``.

    weights: one weight array or a list of them (any shapes; pass weight matrices, not biases);
    lambd >= 0 the regularization strength; m > 0 the number of examples the loss averages over.
    Returns a Python float (accumulated in float64). An empty list gives 0.0.
    """
    items = _weight_list(weights, "l2_penalty")
    return _l2_penalty(items, _check_lambd(lambd), _check_m(m))


def _l2_penalty(items: list[np.ndarray], lambd: float, m: float) -> float:
    """``l2_penalty`` for already validated arguments."""
    total = 0.0
    for w in items:  # called on every batch: ufunc methods, not np.sum's Python wrapper
        total += float(np.square(w, dtype=np.float64).sum())
    return lambd / (2.0 * m) * total


def l2_grad(W: np.ndarray, lambd: float, m: float) -> np.ndarray:
    """Gradient of the L2 penalty with respect to one weight array: ``(lambd / m) * W``.

    Shapes: W any shape; the result has W's shape and dtype.
    """
    check_array(W, "W", where="l2_grad", nonempty=False)
    return _l2_grad(W, _check_lambd(lambd), _check_m(m))


def _l2_grad(W: np.ndarray, lambd: float, m: float) -> np.ndarray:
    """``l2_grad`` for already validated arguments."""
    return np.asarray(lambd / m * W).astype(W.dtype, copy=False)  # asarray: a 0-d W stays an array


def l1_penalty(weights, lambd: float, m: float) -> float:
    """L1 penalty ``lambd / m * sum_l sum_ij |W_l[i, j]|``.

    weights: one weight array or a list of them; lambd >= 0; m > 0. Returns a float.
    """
    items = _weight_list(weights, "l1_penalty")
    return _l1_penalty(items, _check_lambd(lambd), _check_m(m))


def _l1_penalty(items: list[np.ndarray], lambd: float, m: float) -> float:
    """``l1_penalty`` for already validated arguments."""
    total = 0.0
    for w in items:
        total += float(np.abs(w).sum(dtype=np.float64))
    return lambd / m * total


def l1_grad(W: np.ndarray, lambd: float, m: float) -> np.ndarray:
    """Subgradient of the L1 penalty: ``(lambd / m) * sign(W)``, with sign(0) = 0 (as PyTorch).

    Shapes: W any shape; the result has W's shape and dtype.
    """
    check_array(W, "W", where="l1_grad", nonempty=False)
    return _l1_grad(W, _check_lambd(lambd), _check_m(m))


def _l1_grad(W: np.ndarray, lambd: float, m: float) -> np.ndarray:
    """``l1_grad`` for already validated arguments."""
    return np.asarray(lambd / m * np.sign(W)).astype(W.dtype, copy=False)


def dense_backward_l2(dout: np.ndarray, x: np.ndarray, W: np.ndarray, b: np.ndarray, lambd: float,
                      m: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Backward step of ``y = x @ W + b`` when the loss also has the term ``lambd/(2m) ||W||^2``.

    Shapes: dout (N, D_out) = dL_data/dy; x (N, D_in); W (D_in, D_out); b (D_out,).
    Returns ``(dx, dW, db)``:
    ``dx = dout @ W.T`` (N, D_in); ``dW = x.T @ dout + (lambd/m) W`` (D_in, D_out);
    ``db = sum_n dout[n]`` (D_out,) - the bias is not penalized.
    ``m`` is the batch size the data loss is averaged over (normally N).
    """
    where = "dense_backward_l2"
    check_array(dout, "dout", ndim=2, where=where)
    check_array(x, "x", ndim=2, where=where)
    check_array(W, "W", ndim=2, where=where)
    check_array(b, "b", ndim=1, where=where)
    if x.shape[0] != dout.shape[0] or W.shape != (x.shape[1], dout.shape[1]) or b.shape != (dout.shape[1],):
        raise ValueError(f"{where}: shapes do not fit y = x @ W + b: dout {dout.shape}, x {x.shape}, W {W.shape}, "
                         f"b {b.shape}; expected x (N, D_in), W (D_in, D_out), b (D_out,), dout (N, D_out)")
    lambd, m = _check_lambd(lambd), _check_m(m)
    dx = dout @ W.T
    dW = x.T @ dout + lambd / m * W
    db = dout.sum(axis=0)
    return dx, dW, db


def _strength(name: str, doc: str) -> property:
    """A penalty strength attribute: a float >= 0, checked (naming ``name``) every time it is set."""
    private = "_" + name

    def get(self) -> float:
        return getattr(self, private)

    def set(self, value) -> None:
        setattr(self, private, check_real(value, name, low=0.0))

    return property(get, set, doc=doc)


class _WeightPenalty:
    """Shared parts of ``L2``, ``L1`` and ``L1L2``: weight selection and the fit protocol.

    A subclass sets ``_where`` (its name in error messages) and ``_terms()``: the list of
    ``(penalty, grad, lambd)`` it is the sum of, each ``penalty(weights, lambd, m)`` and
    ``grad(W, lambd, m)`` taking validated arguments (the strengths are checked when set,
    ``m`` and the weights on every call). Terms are added in order, so ``L1L2(a, b)`` computes
    exactly what ``L1(a)`` followed by ``L2(b)`` would.
    """

    _where = ""

    def _terms(self) -> list:
        raise NotImplementedError

    @staticmethod
    def _weight_params(model) -> list:
        if not callable(getattr(model, "parameters", None)):
            raise TypeError(f"model must have a parameters() method (e.g. a Sequential), got {type(model).__name__}")
        return [p for p in model.parameters() if p.is_weight]

    def penalty(self, model, m: float) -> float:
        """The penalty over ``model``'s weight matrices (biases excluded) for a batch of ``m`` examples."""
        items = _weight_list([p.value for p in self._weight_params(model)], f"{self._where}_penalty")
        m = _check_m(m)
        return sum(penalty(items, lambd, m) for penalty, _, lambd in self._terms())

    def add_gradients(self, model, m: float) -> None:
        """Add the penalty's gradient to each weight's gradient, in place (call after ``model.backward``)."""
        m = _check_m(m)
        terms = self._terms()
        for p in self._weight_params(model):
            W, grad = p.value, p.grad
            check_array(W, "W", where=f"{self._where}_grad", nonempty=False)
            for _, gradient, lambd in terms:
                grad += gradient(W, lambd, m).astype(grad.dtype, copy=False)


class _OnePenalty(_WeightPenalty):
    """``L2`` and ``L1``: one term, of strength ``lambd``; subclasses set ``_penalty`` and ``_grad``."""

    lambd = _strength("lambd", "The regularization strength (>= 0), validated when set.")

    def __init__(self, lambd: float) -> None:
        self.lambd = lambd

    def _terms(self) -> list:
        return [(self._penalty, self._grad, self.lambd)]

    def __repr__(self) -> str:
        return f"{type(self).__name__}(lambd={self.lambd})"


class L2(_OnePenalty):
    """L2 regularizer for ``fit``: adds ``lambd/(2m) sum ||W||^2`` to the loss and ``(lambd/m) W`` to dW.

    Acts on every weight matrix/kernel (``Parameter.is_weight``), never on biases.
    With plain ``SGD`` it is the same as ``SGD(weight_decay=lambd / m)``; with ``Adam`` it is
    not the same as ``AdamW`` (decoupled decay).
    """

    _where = "l2"
    _penalty = staticmethod(_l2_penalty)
    _grad = staticmethod(_l2_grad)


class L1(_OnePenalty):
    """L1 regularizer for ``fit``: adds ``lambd/m sum |W|`` to the loss and ``(lambd/m) sign(W)`` to dW.

    Acts on weight matrices only. Drives many weights to (nearly) zero.
    """

    _where = "l1"
    _penalty = staticmethod(_l1_penalty)
    _grad = staticmethod(_l1_grad)


class L1L2(_WeightPenalty):
    """L1 and L2 together (the elastic net) for ``fit``: the sum of ``L1(l1_lambd)`` and ``L2(l2_lambd)``.

    Penalty ``l1_lambd/m sum |W| + l2_lambd/(2m) sum ||W||^2`` over the weight matrices (never
    biases); gradient ``(l1_lambd/m) sign(W) + (l2_lambd/m) W``, sign(0) = 0. Computed term by
    term, L1 first, so it equals ``L1(l1_lambd)`` plus ``L2(l2_lambd)`` to the last bit.

    Other libraries, with ``m`` the batch size the data loss is averaged over:

    * Keras ``regularizers.L1L2(l1=c1, l2=c2)`` adds ``c1 sum |w| + c2 sum w^2`` (no 1/2) per
      kernel: ``c1 = l1_lambd / m``, ``c2 = l2_lambd / (2 m)``.
    * scikit-learn ``ElasticNet(alpha, l1_ratio)`` and ``SGDClassifier(penalty="elasticnet")``
      add ``alpha l1_ratio sum |w| + alpha (1 - l1_ratio)/2 sum w^2``:
      ``alpha = (l1_lambd + l2_lambd) / m``, ``l1_ratio = l1_lambd / (l1_lambd + l2_lambd)``.
    """

    _where = "l1l2"

    l1_lambd = _strength("l1_lambd", "The L1 strength (>= 0), validated when set.")
    l2_lambd = _strength("l2_lambd", "The L2 strength (>= 0), validated when set.")

    def __init__(self, l1_lambd: float, l2_lambd: float) -> None:
        self.l1_lambd = l1_lambd
        self.l2_lambd = l2_lambd

    def _terms(self) -> list:
        return [(_l1_penalty, _l1_grad, self.l1_lambd), (_l2_penalty, _l2_grad, self.l2_lambd)]

    def __repr__(self) -> str:
        return f"L1L2(l1_lambd={self.l1_lambd}, l2_lambd={self.l2_lambd})"

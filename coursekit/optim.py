"""Optimizers with PyTorch's update equations, acting in place on ``Parameter`` handles.

Per parameter ``p`` with gradient ``g`` (after ``model.backward``):

* ``SGD``:   ``g += weight_decay * p``; with momentum ``buf = g`` on the first step, then
  ``buf = momentum * buf + g``; ``p -= lr * buf`` (``p -= lr * g`` without momentum).
* ``Adam``:  ``g += weight_decay * p`` (an L2 term, coupled to the adaptive scaling);
  ``m = b1 m + (1-b1) g``; ``v = b2 v + (1-b2) g^2``;
  ``p -= lr * (m / (1-b1^t)) / (sqrt(v / (1-b2^t)) + eps)``.
* ``AdamW``: ``p *= 1 - lr * weight_decay`` (decoupled decay), then the Adam step without it.
"""
from __future__ import annotations

import numpy as np

from ._validation import check_real, describe
from .model import Parameter

__all__ = ["Optimizer", "SGD", "Adam", "AdamW", "weight_decay_groups"]


class Optimizer:
    """Base class. ``params``: ``model.parameters()``, or PyTorch-style parameter groups, a list of
    dicts ``{"params": [...], "weight_decay": wd}`` (a group without ``weight_decay`` uses the
    optimizer's), e.g. to decay weights but not biases:
    ``SGD([{"params": w, "weight_decay": 1e-3}, {"params": b, "weight_decay": 0.0}], lr=0.1)``.
    """

    def __init__(self, params, lr: float, weight_decay: float = 0.0) -> None:
        name = type(self).__name__
        self.lr = check_real(lr, "lr", low=0.0, low_open=True)
        self.weight_decay = check_real(weight_decay, "weight_decay", low=0.0)
        items = _as_list(params, name, "params")
        if not items:
            raise ValueError(f"{name}: params is empty; pass model.parameters()")
        if all(isinstance(item, dict) for item in items):
            groups = []
            for i, group in enumerate(items):
                if "params" not in group:
                    raise ValueError(f"{name}: parameter group {i} needs a 'params' list, got keys {sorted(group)}")
                unknown = sorted(set(group) - {"params", "weight_decay"})
                if unknown:
                    raise ValueError(f"{name}: parameter group {i} has unsupported keys {unknown}; a group may set "
                                     "'params' and 'weight_decay' only (one lr for all groups)")
                decay = check_real(group.get("weight_decay", self.weight_decay), f"param_groups[{i}].weight_decay",
                                   low=0.0)
                groups.append({"params": _as_list(group["params"], name, f"param_groups[{i}]['params']"),
                               "weight_decay": decay})
        elif any(isinstance(item, dict) for item in items):
            raise TypeError(f"{name}: params must be all parameters (model.parameters()) or all parameter groups "
                            "(dicts with a 'params' list), not a mix")
        else:
            groups = [{"params": items, "weight_decay": self.weight_decay}]
        for group in groups:
            _check_parameters(group["params"], name)
        everything = [p for group in groups for p in group["params"]]
        if not everything:
            raise ValueError(f"{name}: params is empty; pass model.parameters()")
        seen = set()
        for p in everything:
            if (id(p.layer), p.key) in seen:
                raise ValueError(f"{name}: parameter {p.name} appears more than once in params; "
                                 "each parameter may be listed once")
            seen.add((id(p.layer), p.key))
        self.param_groups = groups
        self.params = [p for group in groups for p in group["params"]]
        self.state: dict[int, dict] = {}

    def step(self) -> None:
        """Update every parameter in place from its gradient (``layer.grads[key]``, set by ``backward``).

        A gradient must be a numpy array of real numbers shaped like its parameter; anything else
        (a list, a complex or object array, a wrong shape) is a ``TypeError``/``ValueError`` naming
        the parameter, raised before any parameter changes. NaN or inf in a gradient propagate
        into the parameter, as in PyTorch.
        """
        grads = [[self._gradient(p) for p in group["params"]] for group in self.param_groups]
        i = 0
        for group, group_grads in zip(self.param_groups, grads):
            for p, grad in zip(group["params"], group_grads):
                self._update(p.value, grad.astype(p.value.dtype, copy=False), self.state.setdefault(i, {}),
                             group["weight_decay"])
                i += 1

    def _gradient(self, p: Parameter) -> np.ndarray:
        """``p``'s gradient, checked: a real numpy array with the parameter's shape."""
        where, grad = f"{type(self).__name__}.step", p.grad
        if not isinstance(grad, np.ndarray):
            raise TypeError(f"{where}: the gradient of {p.name} (grads[{p.key!r}]) must be a numpy array shaped like "
                            f"the parameter {p.value.shape}, got {describe(grad)} of type {type(grad).__name__}; "
                            "backward sets it (convert a list with np.asarray)")
        if grad.dtype.kind not in "fiu":
            raise TypeError(f"{where}: the gradient of {p.name} (grads[{p.key!r}]) must hold real numbers, got dtype "
                            f"{grad.dtype}")
        if grad.shape != p.value.shape:
            raise ValueError(f"{where}: the gradient of {p.name} (grads[{p.key!r}]) has shape {grad.shape}, the "
                             f"parameter has {p.value.shape}")
        return grad

    def _update(self, value, grad, state, weight_decay) -> None:  # pragma: no cover - abstract
        raise NotImplementedError

    def __repr__(self) -> str:
        return f"{type(self).__name__}(lr={self.lr}, weight_decay={self.weight_decay})"


class SGD(Optimizer):
    """Stochastic gradient descent with optional (heavy-ball) momentum and L2 weight decay."""

    def __init__(self, params, lr: float, *, momentum: float = 0.0, weight_decay: float = 0.0) -> None:
        super().__init__(params, lr, weight_decay)
        self.momentum = check_real(momentum, "momentum", low=0.0, high=1.0, high_open=True)

    def _update(self, value, grad, state, weight_decay):
        if weight_decay:
            grad = grad + weight_decay * value
        if self.momentum:
            buf = state.get("momentum_buffer")
            if buf is None:
                buf = state["momentum_buffer"] = grad.copy()
            else:
                buf *= self.momentum
                buf += grad
            grad = buf
        value -= self.lr * grad


class Adam(Optimizer):
    """Adam (Kingma & Ba) with bias correction; ``weight_decay`` adds an L2 term to the gradient."""

    def __init__(self, params, lr: float = 1e-3, *, betas=(0.9, 0.999), eps: float = 1e-8,
                 weight_decay: float = 0.0) -> None:
        super().__init__(params, lr, weight_decay)
        if not (isinstance(betas, (tuple, list)) and len(betas) == 2):
            raise TypeError(f"betas must be a pair (beta1, beta2), got {betas!r}")
        self.betas = (check_real(betas[0], "betas[0]", low=0.0, high=1.0, high_open=True),
                      check_real(betas[1], "betas[1]", low=0.0, high=1.0, high_open=True))
        self.eps = check_real(eps, "eps", low=0.0, low_open=True)

    def _decay(self, value, grad, weight_decay):
        return grad + weight_decay * value if weight_decay else grad

    def _update(self, value, grad, state, weight_decay):
        grad = self._decay(value, grad, weight_decay)
        b1, b2 = self.betas
        if not state:
            state.update(step=0, m=np.zeros_like(value), v=np.zeros_like(value))
        state["step"] += 1
        t, m, v = state["step"], state["m"], state["v"]
        # The same operations, in the same order, as
        #   m = b1*m + (1-b1)*g;  v = b2*v + (1-b2)*g*g
        #   value -= lr * (m / (1-b1^t)) / (sqrt(v / (1-b2^t)) + eps)
        # written with two scratch arrays instead of ~8 temporaries (this runs for every
        # parameter at every step, so allocations are a visible share of a small model's epoch).
        scratch = np.multiply(grad, 1 - b1)
        m *= b1
        m += scratch
        np.multiply(grad, 1 - b2, out=scratch)
        scratch *= grad
        v *= b2
        v += scratch
        step = np.divide(m, 1 - b1 ** t, out=scratch)  # m_hat
        denom = np.divide(v, 1 - b2 ** t)  # v_hat
        np.sqrt(denom, out=denom)
        denom += self.eps
        step *= self.lr
        step /= denom
        value -= step


class AdamW(Adam):
    """Adam with decoupled weight decay (Loshchilov & Hutter): ``p *= 1 - lr*weight_decay`` each step."""

    def __init__(self, params, lr: float = 1e-3, *, betas=(0.9, 0.999), eps: float = 1e-8,
                 weight_decay: float = 1e-2) -> None:
        super().__init__(params, lr, betas=betas, eps=eps, weight_decay=weight_decay)

    def _decay(self, value, grad, weight_decay):
        if weight_decay:
            value *= 1 - self.lr * weight_decay
        return grad


def weight_decay_groups(params, weight_decay: float) -> list[dict]:
    """Parameter groups that decay the weight matrices only: ``[{weights, weight_decay}, {the rest, 0}]``.

    The usual PyTorch idiom, so ``weight_decay`` acts like an L2 penalty on weights (never on
    biases or batch-norm scales): ``SGD(weight_decay_groups(model.parameters(), lambd / m), lr)``.
    """
    params = _as_list(params, "weight_decay_groups", "params")
    _check_parameters(params, "weight_decay_groups")
    weight_decay = check_real(weight_decay, "weight_decay", low=0.0)
    return [{"params": [p for p in params if p.is_weight], "weight_decay": weight_decay},
            {"params": [p for p in params if not p.is_weight], "weight_decay": 0.0}]


def _as_list(params, where: str, name: str) -> list:
    """``params`` as a list; the model itself, one Parameter, an array or a non-iterable is a TypeError."""
    if callable(getattr(params, "parameters", None)):
        raise TypeError(f"{where}: {name} must be the model's parameters, got the model itself "
                        f"({type(params).__name__}); write {where}(model.parameters(), ...)")
    if isinstance(params, (Parameter, np.ndarray, str, bytes, dict)) or not hasattr(params, "__iter__"):
        raise TypeError(f"{where}: {name} must be a list of parameters from model.parameters() (or of parameter "
                        f"groups), got {describe(params)} of type {type(params).__name__}")
    return list(params)


def _check_parameters(params: list, where: str) -> None:
    for p in params:
        if not isinstance(p, Parameter):
            raise TypeError(f"{where}: params must come from model.parameters(), got an item of type "
                            f"{type(p).__name__} ({describe(p)})")

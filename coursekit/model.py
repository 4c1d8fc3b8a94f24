"""``Sequential``: a stack of layers with forward, backward, prediction and checkpoints."""
from __future__ import annotations

import functools
import inspect
from dataclasses import dataclass

import numpy as np

from ._threads import single_blas_thread
from ._validation import check_array, check_bool, check_int, check_training, describe
from .layers import Layer

__all__ = ["Parameter", "Sequential"]


@functools.lru_cache(maxsize=None)
def _accepts_input_grad(layer_type: type) -> bool:
    """Whether ``layer_type.backward`` takes an ``input_grad`` keyword (see ``Sequential.backward``)."""
    try:
        return "input_grad" in inspect.signature(layer_type.backward).parameters
    except (TypeError, ValueError):  # no signature to inspect (e.g. a builtin)
        return False


@dataclass(frozen=True, eq=False)
class Parameter:
    """A handle on one trainable array: ``layer.params[key]`` and its gradient ``layer.grads[key]``.

    Optimizers update ``value`` in place, so the layer sees every step. ``is_weight`` is
    True for weight matrices/kernels (key ``"W"``): the arrays L2/L1 penalties act on
    (never biases, never batch-norm scales).
    """

    name: str
    layer: Layer
    key: str

    @property
    def value(self) -> np.ndarray:
        return self.layer.params[self.key]

    @property
    def grad(self) -> np.ndarray:
        grad = self.layer.grads.get(self.key)
        if grad is None:
            raise RuntimeError(
                f"parameter {self.name} has no gradient yet: call model.backward(dout) after a training forward "
                f"pass before optimizer.step(); if you did, the optimizer holds another model's parameters "
                f"(this one belongs to a {type(self.layer).__name__}): build it with SGD(model.parameters(), ...)"
            )
        return grad

    @property
    def is_weight(self) -> bool:
        return self.key == "W"


class Sequential:
    """Layers applied in order. ``forward(x, *, training)``, ``backward(dout) -> dx``, ``predict(x)``.

    ``backward(dout, input_grad=False)`` skips the input gradient (for training steps).

    Parameter names are ``"<layer index>.<key>"``, e.g. ``"0.W"``, ``"0.b"``, as in PyTorch.
    """

    def __init__(self, *layers: Layer) -> None:
        if len(layers) == 1 and isinstance(layers[0], (list, tuple)):
            layers = tuple(layers[0])
        for i, layer in enumerate(layers):
            if isinstance(layer, type):
                raise TypeError(f"Sequential: layer {i} is the class {layer.__name__}, not a layer; "
                                f"create one with {layer.__name__}(...)")
            if not (hasattr(layer, "forward") and hasattr(layer, "backward") and hasattr(layer, "params")):
                raise TypeError(
                    f"Sequential: layer {i} must be a layer with forward/backward/params, "
                    f"got {layer!r} of type {type(layer).__name__}"
                )
        if not layers:
            raise ValueError("Sequential needs at least one layer, got none")
        self.layers = list(layers)

    def forward(self, x: np.ndarray, *, training: bool) -> np.ndarray:
        """Run every layer; ``training=True`` enables dropout masks and batch statistics."""
        check_training(training, "Sequential.forward")
        for layer in self.layers:
            x = layer.forward(x, training=training)
        return x

    __call__ = forward

    def backward(self, dout: np.ndarray, *, input_grad: bool = True) -> np.ndarray | None:
        """Backpropagate dL/d(output) through every layer, filling each layer's ``grads``; returns dL/dx.

        ``input_grad=False``: only the parameter gradients, as a training step needs them (PyTorch
        works this way for inputs that do not require grad). The layers below the first one with
        parameters are not run backward at all, that layer computes no input gradient when its
        ``backward`` accepts ``input_grad=False`` (``Dense``, ``Conv2D``), and None is returned.
        Every ``grads`` entry is the same as with ``input_grad=True``.
        """
        input_grad = check_bool(input_grad, "input_grad", where="Sequential.backward")
        if input_grad:
            for layer in reversed(self.layers):
                dout = layer.backward(dout)
            return dout
        first = next((i for i, layer in enumerate(self.layers) if layer.params), len(self.layers))
        for layer in reversed(self.layers[first + 1:]):
            dout = layer.backward(dout)
        if first < len(self.layers):
            layer = self.layers[first]
            if _accepts_input_grad(type(layer)):
                layer.backward(dout, input_grad=False)
            else:
                layer.backward(dout)
        return None

    def predict(self, x: np.ndarray, *, batch_size: int = 4096) -> np.ndarray:
        """Outputs (logits) in evaluation mode, computed in batches to bound memory.

        Shapes: x (N, ...) -> (N, outputs). Apply ``sigmoid``/``argmax`` for probabilities/classes.
        """
        check_array(x, "x", where="Sequential.predict")
        if x.ndim == 0:
            raise ValueError("Sequential.predict: x must have a batch axis, shape (N, ...), got a 0-D array")
        check_int(batch_size, "batch_size", low=1)
        with single_blas_thread():  # as in fit, so evaluation reproduces fit's numbers exactly
            parts = [self.forward(x[i:i + batch_size], training=False) for i in range(0, len(x), batch_size)]
        return np.concatenate(parts, axis=0)

    def parameters(self) -> list[Parameter]:
        """Every trainable array as a ``Parameter`` handle, in layer order."""
        return [Parameter(f"{i}.{key}", layer, key)
                for i, layer in enumerate(self.layers) for key in layer.params]

    def weights(self) -> list[np.ndarray]:
        """The weight matrices/kernels only (no biases): what L2/L1 penalize."""
        return [p.value for p in self.parameters() if p.is_weight]

    def state_dict(self) -> dict[str, np.ndarray]:
        """Copies of every parameter and buffer (e.g. running statistics), keyed by name."""
        state = {}
        for i, layer in enumerate(self.layers):
            for key, value in {**layer.params, **getattr(layer, "buffers", {})}.items():
                state[f"{i}.{key}"] = np.array(value, copy=True)
        return state

    def load_state_dict(self, state: dict[str, np.ndarray]) -> None:
        """Copy values from ``state`` into the existing arrays (optimizers keep working)."""
        if not isinstance(state, dict):
            raise TypeError(f"load_state_dict: state must be a dict from state_dict(), got {type(state).__name__}")
        own = {}
        for i, layer in enumerate(self.layers):
            for store in (layer.params, getattr(layer, "buffers", {})):
                for key in store:
                    own[f"{i}.{key}"] = (store, key)
        missing, unexpected = sorted(set(own) - set(state)), sorted(set(state) - set(own))
        if missing or unexpected:
            raise ValueError(f"load_state_dict: keys do not match; missing {missing}, unexpected {unexpected}")
        for name, (store, key) in own.items():
            value = state[name]
            if not isinstance(value, np.ndarray) or value.dtype.kind not in "fiu":
                raise TypeError(f"load_state_dict: {name} must be a numpy array of real numbers (as state_dict() "
                                f"returns), got {describe(value)} of type {type(value).__name__}")
            if value.shape != store[key].shape:
                raise ValueError(
                    f"load_state_dict: {name} has shape {value.shape}, the model expects {store[key].shape}"
                )
        for name, (store, key) in own.items():
            store[key][...] = state[name]

    def __repr__(self) -> str:
        inner = ",\n".join(f"  ({i}) {layer!r}" for i, layer in enumerate(self.layers))
        return f"Sequential(\n{inner}\n)"

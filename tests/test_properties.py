"""Property-based tests (hypothesis) for every layer: random shapes and values, float64
gradient checks, dtype preserved, finite output for finite input."""
from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from coursekit.batchnorm import BatchNorm1d, BatchNorm2d
from coursekit.dropout import Dropout, SpatialDropout2D
from coursekit.gradcheck import check_layer_gradients
from coursekit.layers import Conv2D, Dense, Flatten, MaxPool2D, ReLU, Sigmoid, Tanh


@st.composite
def cases(draw, name):
    """(layer, input shape) for layer ``name`` with random sizes; the layer's own rng is seeded too."""
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    n, c = draw(st.integers(2, 4)), draw(st.integers(1, 3))
    h, w = draw(st.integers(2, 5)), draw(st.integers(2, 5))
    drop_prob = draw(st.sampled_from([0.0, 0.2, 0.5, 0.9, 1.0]))
    if name == "Dense":
        return Dense(c, draw(st.integers(1, 4)), rng=rng, init=draw(st.sampled_from(["he", "glorot"]))), (n, c), seed
    if name in ("ReLU", "Sigmoid", "Tanh"):
        shape = draw(st.sampled_from([(n, c), (n, c, h, w), (n,)]))
        return {"ReLU": ReLU, "Sigmoid": Sigmoid, "Tanh": Tanh}[name](), shape, seed
    if name == "Dropout":
        return Dropout(drop_prob, rng=rng), draw(st.sampled_from([(n, c), (n, c, h, w)])), seed
    if name == "SpatialDropout2D":
        return SpatialDropout2D(drop_prob, rng=rng), (n, c, h, w), seed
    if name == "Conv2D":
        kernel = draw(st.integers(1, 3))
        padding = draw(st.integers(0, 1))
        stride = draw(st.integers(1, 2))
        size = draw(st.integers(max(kernel - 2 * padding, 1), 5))
        layer = Conv2D(c, draw(st.integers(1, 3)), kernel, stride=stride, padding=padding, rng=rng)
        return layer, (n, c, size, size + draw(st.integers(0, 1))), seed
    if name == "MaxPool2D":
        k = draw(st.integers(1, 2))
        return MaxPool2D(k), (n, c, k * draw(st.integers(1, 3)), k * draw(st.integers(1, 3))), seed
    if name == "Flatten":
        return Flatten(), (n, c, h, w), seed
    if name == "BatchNorm1d":
        # N >= 3: with two samples per feature the normalized output is +-1 whatever x is, so the true
        # gradient is ~eps-sized and any finite-difference check is meaningless.
        return BatchNorm1d(c), (n + 1, c), seed
    if name == "BatchNorm2d":
        return BatchNorm2d(c), (n, c, h, w), seed
    raise AssertionError(name)


LAYERS = ["Dense", "ReLU", "Sigmoid", "Tanh", "Dropout", "SpatialDropout2D", "Conv2D", "MaxPool2D", "Flatten",
          "BatchNorm1d", "BatchNorm2d"]
# Derandomized: CI runs the same examples every time (reproducible); 25 per property.
FAST = settings(max_examples=25, deadline=None, derandomize=True)


@pytest.mark.parametrize("name", LAYERS)
@FAST
@given(data=st.data())
def test_float64_gradients_match_central_differences(name, data):
    layer, shape, seed = data.draw(cases(name))
    rng = np.random.default_rng(seed + 1)
    x = rng.standard_normal(shape)
    errors = check_layer_gradients(layer, x, rng=rng)
    assert max(errors.values()) < 1e-6, f"{layer!r} on {shape}: {errors}"


@pytest.mark.parametrize("name", LAYERS)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@FAST
@given(data=st.data())
def test_dtype_is_preserved_in_forward_and_backward(name, dtype, data):
    layer, shape, seed = data.draw(cases(name))
    x = np.random.default_rng(seed).standard_normal(shape).astype(dtype)
    for training in (True, False):
        out = layer.forward(x, training=training)
        assert out.dtype == dtype, f"{layer!r} forward(training={training}) returned {out.dtype} for {dtype}"
    out = layer.forward(x, training=True)
    dx = layer.backward(np.ones_like(out))
    assert dx.dtype == dtype and dx.shape == x.shape


@pytest.mark.parametrize("name", LAYERS)
@FAST
@given(data=st.data(), scale=st.sampled_from([0.0, 1e-30, 1e-3, 1.0, 1e3]), constant=st.booleans())
def test_finite_input_gives_finite_output_and_gradient(name, data, scale, constant):
    layer, shape, seed = data.draw(cases(name))
    rng = np.random.default_rng(seed)
    x = (np.ones(shape) if constant else rng.standard_normal(shape)) * scale
    for dtype in (np.float32, np.float64):
        xd = x.astype(dtype)
        out = layer.forward(xd, training=True)
        assert np.all(np.isfinite(out)), f"{layer!r}: non-finite training output for finite input (scale {scale})"
        dx = layer.backward(rng.standard_normal(out.shape).astype(dtype))
        assert np.all(np.isfinite(dx)), f"{layer!r}: non-finite gradient for finite input (scale {scale})"
        assert np.all(np.isfinite(layer.forward(xd, training=False)))

"""Tests for coursekit.regularization: penalties, gradients, the Dense backward step, the fit regularizers."""
from __future__ import annotations

import math

import numpy as np
import pytest

from coursekit.gradcheck import numerical_gradient, rel_error
from coursekit.layers import Dense, ReLU
from coursekit.losses import binary_cross_entropy_with_logits
from coursekit.model import Sequential
from coursekit.optim import SGD, Adam, AdamW, weight_decay_groups
from coursekit.regularization import L1, L1L2, L2, dense_backward_l2, l1_grad, l1_penalty, l2_grad, l2_penalty
from coursekit.training import fit

# ----------------------------------------------------------------------------- penalties by hand


def test_l2_penalty_by_hand():
    W = np.array([[1.0, -2.0], [0.5, 3.0]])  # squares: 1 + 4 + 0.25 + 9 = 14.25
    assert l2_penalty([W], 1.0, 4) == pytest.approx(14.25 / 8, rel=1e-15)
    assert l2_penalty(W, 1.0, 4) == pytest.approx(14.25 / 8, rel=1e-15)  # a single array is accepted too


def test_l2_penalty_sums_over_every_matrix():
    A, B = np.array([[3.0]]), np.array([[1.0, 2.0]])  # 9 + 1 + 4 = 14
    assert l2_penalty([A, B], 0.5, 7) == pytest.approx(0.5 / 14 * 14, rel=1e-15)
    assert l2_penalty((A, B), 0.5, 7) == pytest.approx(0.5, rel=1e-15)


def test_l1_penalty_by_hand():
    A, B = np.array([[1.0, -2.0], [0.5, 3.0]]), np.array([-0.25, 0.0])  # |.| sums: 6.5 + 0.25
    assert l1_penalty([A, B], 0.6, 3) == pytest.approx(0.6 / 3 * 6.75, rel=1e-15)


def test_penalties_are_python_floats_accumulated_in_float64():
    W = np.full((1000, 1000), 0.1, dtype=np.float32)  # 1e6 * 0.01 = 1e4 (float32 sum would drift)
    value = l2_penalty([W], 2.0, 1)
    assert isinstance(value, float)
    assert value == pytest.approx(1e6 * float(np.float32(0.1)) ** 2, rel=1e-9)
    assert isinstance(l1_penalty([W], 1.0, 1), float)


def test_zero_lambda_and_empty_list_give_zero():
    W = np.arange(6.0).reshape(2, 3)
    assert l2_penalty([W], 0.0, 5) == 0.0
    assert l1_penalty([W], 0.0, 5) == 0.0
    assert l2_penalty([], 1.0, 5) == 0.0
    assert not np.any(l2_grad(W, 0.0, 5))
    assert not np.any(l1_grad(W, 0.0, 5))


# ----------------------------------------------------------------------------- gradients


def test_l2_grad_formula_and_dtype():
    W = np.array([[1.0, -2.0, 0.5]], dtype=np.float32)
    g = l2_grad(W, 0.6, 3)
    assert g.dtype == np.float32 and g.shape == W.shape
    np.testing.assert_allclose(g, [[0.2, -0.4, 0.1]], rtol=1e-6)


def test_l1_grad_is_sign_with_zero_at_zero():
    W = np.array([[2.0, -0.5], [0.0, 1e-12]])
    np.testing.assert_array_equal(l1_grad(W, 3.0, 6), [[0.5, -0.5], [0.0, 0.5]])
    assert l1_grad(W.astype(np.float32), 3.0, 6).dtype == np.float32


@pytest.mark.parametrize("shape", [(4, 3), (2, 3, 2, 2)])
def test_l2_grad_matches_central_differences(shape):
    rng = np.random.default_rng(0)
    W = rng.standard_normal(shape)
    numeric = numerical_gradient(lambda v: l2_penalty([v], 0.7, 9), W.copy())
    assert rel_error(l2_grad(W, 0.7, 9), numeric) < 1e-8


def test_l1_grad_matches_central_differences_away_from_zero():
    rng = np.random.default_rng(1)
    W = rng.standard_normal((3, 5))
    W[np.abs(W) < 0.05] = 0.3  # |w| is differentiable away from 0
    numeric = numerical_gradient(lambda v: l1_penalty([v], 1.3, 4), W.copy())
    assert rel_error(l1_grad(W, 1.3, 4), numeric) < 1e-8


def test_l2_and_l1_grads_do_not_modify_their_input():
    W = np.array([[1.0, -2.0]])
    before = W.copy()
    l2_grad(W, 1.0, 2)
    l1_grad(W, 1.0, 2)
    np.testing.assert_array_equal(W, before)


# ----------------------------------------------------------------------------- Dense backward with L2


def test_dense_backward_l2_matches_central_differences():
    rng = np.random.default_rng(2)
    x, W, b = rng.standard_normal((5, 4)), rng.standard_normal((4, 3)), rng.standard_normal(3)
    dout, lambd, m = rng.standard_normal((5, 3)), 0.9, 5

    def total(x, W, b):
        return float(np.sum((x @ W + b) * dout)) + lambd / (2 * m) * float(np.sum(W ** 2))

    dx, dW, db = dense_backward_l2(dout, x, W, b, lambd, m)
    assert rel_error(dx, numerical_gradient(lambda v: total(v, W, b), x.copy())) < 1e-8
    assert rel_error(dW, numerical_gradient(lambda v: total(x, v, b), W.copy())) < 1e-8
    assert rel_error(db, numerical_gradient(lambda v: total(x, W, v), b.copy())) < 1e-8


def test_dense_backward_l2_agrees_with_dense_layer_plus_l2_grad():
    rng = np.random.default_rng(3)
    layer = Dense(4, 3, rng=rng, dtype=np.float64)
    layer.params["b"][...] = rng.standard_normal(3)
    x, dout = rng.standard_normal((6, 4)), rng.standard_normal((6, 3))
    layer.forward(x, training=True)
    dx_layer = layer.backward(dout)
    dx, dW, db = dense_backward_l2(dout, x, layer.params["W"], layer.params["b"], 0.5, 6)
    np.testing.assert_allclose(dx, dx_layer, rtol=1e-12)
    np.testing.assert_allclose(dW - layer.grads["W"], 0.5 / 6 * layer.params["W"], rtol=1e-10, atol=1e-14)
    np.testing.assert_allclose(db, layer.grads["b"], rtol=1e-12)  # the bias is not penalized


# ----------------------------------------------------------------------------- the fit regularizers


def _model(seed=0, dtype=np.float32):
    rng = np.random.default_rng(seed)
    return Sequential(Dense(2, 8, rng=rng, dtype=dtype), ReLU(), Dense(8, 1, rng=rng, dtype=dtype))


def test_regularizer_penalty_covers_weights_not_biases():
    model = _model()
    for layer in model.layers[::2]:
        layer.params["b"][...] = 5.0  # a bias penalty would show
    weights = [model.layers[0].params["W"], model.layers[2].params["W"]]
    expected_l2 = 0.4 / (2 * 10) * sum(float(np.sum(w.astype(np.float64) ** 2)) for w in weights)
    expected_l1 = 0.4 / 10 * sum(float(np.sum(np.abs(w.astype(np.float64)))) for w in weights)
    assert L2(0.4).penalty(model, 10) == pytest.approx(expected_l2, rel=1e-12)
    assert L1(0.4).penalty(model, 10) == pytest.approx(expected_l1, rel=1e-12)


def test_add_gradients_adds_to_weight_grads_in_place_and_leaves_biases():
    model = _model(dtype=np.float64)
    x = np.random.default_rng(5).standard_normal((4, 2))
    out = model.forward(x, training=True)
    model.backward(np.ones_like(out))
    before = {p.name: p.grad.copy() for p in model.parameters()}
    arrays = {p.name: p.grad for p in model.parameters()}
    L2(0.6).add_gradients(model, 3)
    for p in model.parameters():
        assert p.grad is arrays[p.name], "gradients must be updated in place"
        if p.is_weight:
            np.testing.assert_allclose(p.grad, before[p.name] + 0.2 * p.value, rtol=1e-12)
        else:
            np.testing.assert_array_equal(p.grad, before[p.name])
    L1(0.6).add_gradients(model, 3)
    W = model.layers[0].params["W"]
    np.testing.assert_allclose(model.layers[0].grads["W"], before["0.W"] + 0.2 * W + 0.2 * np.sign(W), rtol=1e-12)


def test_add_gradients_before_backward_is_a_clear_error():
    with pytest.raises(RuntimeError, match="backward"):
        L2(0.1).add_gradients(_model(), 4)


def test_fit_with_l2_minimizes_the_regularized_loss():
    # Full-batch gradient of data loss + penalty, computed by central differences on the whole model.
    rng = np.random.default_rng(6)
    X, y = rng.standard_normal((12, 2)), (rng.random(12) < 0.5).astype(np.int64)
    model = _model(dtype=np.float64)
    reg = L2(0.8)
    out = model.forward(X, training=True)
    _, dout = binary_cross_entropy_with_logits(out, y)
    model.backward(dout)
    reg.add_gradients(model, len(X))

    def regularized_loss_with(p, value):  # with parameter p set to value (numerical_gradient's contract)
        original = p.layer.params[p.key]
        p.layer.params[p.key] = value
        try:
            return (binary_cross_entropy_with_logits(model.forward(X, training=True), y)[0]
                    + reg.penalty(model, len(X)))
        finally:
            p.layer.params[p.key] = original

    for p in model.parameters():
        grad = p.grad.copy()
        numeric = numerical_gradient(lambda v, p=p: regularized_loss_with(p, v), p.value.copy())
        assert rel_error(grad, numeric) < 1e-6, p.name


def _train(optimizer_for, regularizer, *, epochs=5, batch_size=10, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((40, 2)).astype(np.float32)
    y = (X[:, 0] * X[:, 1] > 0).astype(np.int64)
    model = _model(seed)
    fit(model, binary_cross_entropy_with_logits, optimizer_for(model.parameters()), X, y, epochs=epochs,
        batch_size=batch_size, rng=rng, regularizer=regularizer, progress=False)
    return model


@pytest.mark.parametrize("momentum", [0.0, 0.9])
def test_l2_term_equals_sgd_weight_decay_lambda_over_m(momentum):
    lambd, m = 0.5, 10  # every batch of the 40 points has m = 10 examples
    with_term = _train(lambda ps: SGD(ps, lr=0.1, momentum=momentum), L2(lambd))
    with_decay = _train(lambda ps: SGD(weight_decay_groups(ps, lambd / m), lr=0.1, momentum=momentum), None)
    without = _train(lambda ps: SGD(ps, lr=0.1, momentum=momentum), None)
    for a, b, c in zip(with_term.parameters(), with_decay.parameters(), without.parameters()):
        np.testing.assert_allclose(a.value, b.value, rtol=1e-6, atol=1e-7)
    assert max(float(np.abs(a.value - c.value).max()) for a, c in zip(with_term.parameters(), without.parameters())) > 1e-3


def test_l2_term_equals_one_sgd_weight_decay_step_by_hand():
    # One step from known weights: W_new = (1 - lr*lambd/m) W - lr * dW_data.
    model = _model(dtype=np.float64)
    X = np.random.default_rng(7).standard_normal((5, 2))
    y = np.array([0, 1, 1, 0, 1])
    W0 = model.layers[0].params["W"].copy()
    out = model.forward(X, training=True)
    model.backward(binary_cross_entropy_with_logits(out, y)[1])
    data_grad = model.layers[0].grads["W"].copy()
    L2(2.0).add_gradients(model, 5)
    SGD(model.parameters(), lr=0.1).step()
    np.testing.assert_allclose(model.layers[0].params["W"], (1 - 0.1 * 2.0 / 5) * W0 - 0.1 * data_grad, rtol=1e-12)


def test_l2_term_with_adam_is_not_adamw():
    lambd, m = 2.0, 10
    adam_l2 = _train(lambda ps: Adam(ps, lr=0.01), L2(lambd), epochs=10)
    adam_coupled = _train(lambda ps: Adam(weight_decay_groups(ps, lambd / m), lr=0.01), None, epochs=10)
    adamw = _train(lambda ps: AdamW(weight_decay_groups(ps, lambd / m), lr=0.01), None, epochs=10)
    for a, b in zip(adam_l2.parameters(), adam_coupled.parameters()):
        np.testing.assert_allclose(a.value, b.value, rtol=1e-6, atol=1e-7)
    diff = max(float(np.abs(a.value - b.value).max()) for a, b in zip(adam_l2.parameters(), adamw.parameters()))
    assert diff > 1e-3


def test_fit_logs_the_penalty_in_the_training_loss():
    # With a negligible learning rate the weights do not move: the logged loss exceeds the
    # unregularized one by exactly the penalty of the initial weights.
    rng = np.random.default_rng(0)
    X = rng.standard_normal((40, 2)).astype(np.float32)
    y = (X[:, 0] * X[:, 1] > 0).astype(np.int64)
    penalty = 50.0 / (2 * 10) * sum(float(np.sum(w.astype(np.float64) ** 2)) for w in _model(0).weights())
    logged = {}
    for name, reg in [("plain", None), ("l2", L2(50.0))]:
        model = _model(0)
        history = fit(model, binary_cross_entropy_with_logits, SGD(model.parameters(), lr=1e-12), X, y, epochs=1,
                      batch_size=10, rng=np.random.default_rng(0), regularizer=reg, progress=False)
        logged[name] = history["loss"][0]
    assert logged["l2"] - logged["plain"] == pytest.approx(penalty, rel=1e-5)


def test_l1_drives_weights_nearer_zero_than_l2():
    rng = np.random.default_rng(8)
    X = rng.standard_normal((60, 2)).astype(np.float32)
    y = (X[:, 0] > 0).astype(np.int64)  # only x1 matters: x2's weights are useless

    def run(reg):
        r = np.random.default_rng(0)
        model = _model(0)
        fit(model, binary_cross_entropy_with_logits, SGD(model.parameters(), lr=0.1), X, y, epochs=200,
            batch_size=20, rng=r, regularizer=reg, progress=False)
        return np.concatenate([w.ravel() for w in model.weights()])

    w_l1, w_l2 = run(L1(0.5)), run(L2(0.5))
    assert np.mean(np.abs(w_l1) < 0.01) > np.mean(np.abs(w_l2) < 0.01) + 0.2


# ----------------------------------------------------------------------------- L1L2 (elastic net)


def test_l1l2_penalty_by_hand():
    model = _model(dtype=np.float64)
    W1, W2 = model.layers[0].params["W"], model.layers[2].params["W"]
    W1[...] = [[1.0] * 8, [-2.0] * 8]  # |.| sum 24, squares 40
    W2[...] = 0.5  # |.| sum 4, squares 2
    for layer in model.layers[::2]:
        layer.params["b"][...] = 7.0  # never penalized
    # 0.3 / 4 * 28 + 0.8 / (2 * 4) * 42
    assert L1L2(0.3, 0.8).penalty(model, 4) == pytest.approx(0.3 / 4 * 28 + 0.8 / 8 * 42, rel=1e-15)


def test_l1l2_equals_l1_plus_l2_to_the_last_bit():
    model = _model(dtype=np.float32)
    x = np.random.default_rng(9).standard_normal((6, 2)).astype(np.float32)
    out = model.forward(x, training=True)
    model.backward(np.ones_like(out) / 6)
    data_grads = {p.name: p.grad.copy() for p in model.parameters()}
    assert L1L2(0.37, 1.3).penalty(model, 6) == L1(0.37).penalty(model, 6) + L2(1.3).penalty(model, 6)
    L1(0.37).add_gradients(model, 6)
    L2(1.3).add_gradients(model, 6)
    separate = {p.name: p.grad.copy() for p in model.parameters()}
    for p in model.parameters():
        p.grad[...] = data_grads[p.name]
    L1L2(0.37, 1.3).add_gradients(model, 6)
    for p in model.parameters():
        np.testing.assert_array_equal(p.grad, separate[p.name])
        if not p.is_weight:
            np.testing.assert_array_equal(p.grad, data_grads[p.name])


def test_l1l2_gradient_matches_central_differences():
    model = _model(dtype=np.float64)
    for W in model.weights():
        W[np.abs(W) < 0.05] = 0.2  # |w| is differentiable away from 0
    m = 5
    reg = L1L2(0.6, 0.9)
    for p in model.parameters():
        p.layer.grads[p.key] = np.zeros_like(p.value)
    reg.add_gradients(model, m)

    def penalty_with(p, value):  # the penalty with parameter p set to value
        original = p.layer.params[p.key]
        p.layer.params[p.key] = value
        try:
            return reg.penalty(model, m)
        finally:
            p.layer.params[p.key] = original

    for p in model.parameters():
        numeric = numerical_gradient(lambda v, p=p: penalty_with(p, v), p.value.copy())
        if p.is_weight:
            assert rel_error(p.grad, numeric) < 1e-8, p.name
        else:
            assert not np.any(numeric) and not np.any(p.grad), p.name


def test_l1l2_matches_keras_penalty_under_the_mapping():
    """Keras's L1L2(l1, l2)(kernel) = l1 * sum|w| + l2 * sum w^2, summed over the kernels; with
    l1 = l1_lambd / m and l2 = l2_lambd / (2 m) it is our penalty (Keras is not needed to check it)."""
    model = _model(seed=3, dtype=np.float64)
    l1_lambd, l2_lambd, m = 0.4, 1.7, 25
    keras_l1, keras_l2 = l1_lambd / m, l2_lambd / (2 * m)

    def keras_l1l2(kernel):  # keras.regularizers.L1L2.__call__, written out
        return keras_l1 * np.sum(np.abs(kernel)) + keras_l2 * np.sum(np.square(kernel))

    keras_total = sum(keras_l1l2(layer.params["W"]) for layer in model.layers[::2])
    assert L1L2(l1_lambd, l2_lambd).penalty(model, m) == pytest.approx(keras_total, rel=1e-13)
    # the gradient Keras's autodiff takes of it: l1 sign(w) + 2 l2 w
    for p in model.parameters():
        p.layer.grads[p.key] = np.zeros_like(p.value)
    L1L2(l1_lambd, l2_lambd).add_gradients(model, m)
    for layer in model.layers[::2]:
        W = layer.params["W"]
        np.testing.assert_allclose(layer.grads["W"], keras_l1 * np.sign(W) + 2 * keras_l2 * W, rtol=1e-13)


def test_l1l2_matches_scikit_learn_elastic_net_under_the_mapping():
    """sklearn: alpha * l1_ratio * sum|w| + 0.5 * alpha * (1 - l1_ratio) * sum w^2 (ElasticNet's objective,
    SGDClassifier(penalty="elasticnet")); alpha = (l1 + l2) / m, l1_ratio = l1 / (l1 + l2)."""
    model = _model(seed=4, dtype=np.float64)
    l1_lambd, l2_lambd, m = 0.25, 0.75, 10
    alpha, l1_ratio = (l1_lambd + l2_lambd) / m, l1_lambd / (l1_lambd + l2_lambd)
    w = np.concatenate([W.ravel() for W in model.weights()])
    sklearn_penalty = alpha * l1_ratio * np.sum(np.abs(w)) + 0.5 * alpha * (1 - l1_ratio) * np.sum(w ** 2)
    assert L1L2(l1_lambd, l2_lambd).penalty(model, m) == pytest.approx(sklearn_penalty, rel=1e-13)


@pytest.mark.parametrize("l1_lambd, l2_lambd, alone", [(0.4, 0.0, L1(0.4)), (0.0, 0.9, L2(0.9))])
def test_l1l2_trains_through_fit_and_reduces_to_l1_or_l2(l1_lambd, l2_lambd, alone):
    both = _train(lambda ps: SGD(ps, lr=0.1), L1L2(l1_lambd, l2_lambd))
    single = _train(lambda ps: SGD(ps, lr=0.1), alone)
    for a, b in zip(both.parameters(), single.parameters()):
        np.testing.assert_array_equal(a.value, b.value)


def test_l1l2_in_fit_sits_between_l1_and_l2():
    """Trained with fit: more near-zero weights than pure L2, smaller largest weights than pure L1."""
    rng = np.random.default_rng(8)
    X = rng.standard_normal((60, 2)).astype(np.float32)
    y = (X[:, 0] > 0).astype(np.int64)

    def run(reg):
        model = _model(0)
        history = fit(model, binary_cross_entropy_with_logits, SGD(model.parameters(), lr=0.1), X, y, epochs=200,
                      batch_size=20, rng=np.random.default_rng(0), regularizer=reg, progress=False)
        assert np.isfinite(history["loss"][-1])
        return np.concatenate([w.ravel() for w in model.weights()])

    w_l1, w_l2, w_both = run(L1(0.5)), run(L2(0.5)), run(L1L2(0.5, 0.5))
    assert np.mean(np.abs(w_both) < 0.01) > np.mean(np.abs(w_l2) < 0.01) + 0.2
    assert np.abs(w_both).max() < np.abs(w_l1).max()


def test_l1l2_attributes_repr_and_bad_values():
    reg = L1L2(0.1, 2)
    assert (reg.l1_lambd, reg.l2_lambd) == (0.1, 2.0) and isinstance(reg.l2_lambd, float)
    assert repr(reg) == "L1L2(l1_lambd=0.1, l2_lambd=2.0)"
    with pytest.raises(ValueError, match=r"l1_lambd must be >= 0.0, got -0.5"):
        L1L2(-0.5, 0.1)
    with pytest.raises(ValueError, match=r"l2_lambd must be a finite number, got nan"):
        L1L2(0.1, math.nan)
    with pytest.raises(TypeError, match=r"l2_lambd must be a real number, got '0.1'"):
        L1L2(0.1, "0.1")
    with pytest.raises(TypeError, match="l1_lambd"):
        L1L2(None, 0.1)
    with pytest.raises(ValueError, match="l1_lambd"):
        reg.l1_lambd = math.inf
    assert reg.l1_lambd == 0.1  # a rejected value leaves the old one
    with pytest.raises(TypeError, match="missing"):
        L1L2(0.1)
    with pytest.raises(TypeError, match="parameters"):
        reg.penalty([np.ones(2)], 3)
    with pytest.raises(ValueError, match="m must be"):
        reg.penalty(_model(), 0)
    with pytest.raises(ValueError, match="m must be"):
        reg.add_gradients(_model(), -1)
    with pytest.raises(RuntimeError, match="backward"):
        reg.add_gradients(_model(), 4)


# ----------------------------------------------------------------------------- bad input


@pytest.mark.parametrize("fn", [l2_penalty, l1_penalty])
@pytest.mark.parametrize("lambd", [-0.1, math.nan, math.inf])
def test_penalties_reject_bad_lambda(fn, lambd):
    with pytest.raises(ValueError, match="lambd"):
        fn([np.ones((2, 2))], lambd, 4)


@pytest.mark.parametrize("fn", [l2_grad, l1_grad])
@pytest.mark.parametrize("lambd", [-1.0, math.nan, -math.inf])
def test_grads_reject_bad_lambda(fn, lambd):
    with pytest.raises(ValueError, match="lambd"):
        fn(np.ones((2, 2)), lambd, 4)


@pytest.mark.parametrize("fn", [l2_penalty, l1_penalty])
@pytest.mark.parametrize("m", [0, -3, math.nan, math.inf])
def test_penalties_reject_bad_m(fn, m):
    with pytest.raises(ValueError, match="m must be"):
        fn([np.ones((2, 2))], 0.1, m)


@pytest.mark.parametrize("fn", [l2_grad, l1_grad])
def test_grads_reject_bad_m(fn):
    with pytest.raises(ValueError, match=r"m must be > 0.*got 0"):
        fn(np.ones((2, 2)), 0.1, 0)


@pytest.mark.parametrize("bad", ["0.1", None, [0.1], True])
def test_lambda_must_be_a_number(bad):
    with pytest.raises(TypeError, match="lambd"):
        l2_penalty([np.ones(2)], bad, 3)
    with pytest.raises(TypeError, match="lambd"):
        L2(bad)


@pytest.mark.parametrize("weights", [[[1.0, 2.0]], [np.ones(2), "W"], 3.0, {"W": np.ones(2)}, None])
def test_penalties_reject_weights_that_are_not_arrays(weights):
    with pytest.raises(TypeError, match="weights"):
        l2_penalty(weights, 0.1, 3)
    with pytest.raises(TypeError, match="weights"):
        l1_penalty(weights, 0.1, 3)


@pytest.mark.parametrize("fn", [l2_grad, l1_grad])
def test_grads_reject_non_arrays_and_integer_arrays(fn):
    with pytest.raises(TypeError, match="W must be a numpy array"):
        fn([[1.0, 2.0]], 0.1, 3)
    with pytest.raises(TypeError, match="floating dtype"):
        fn(np.array([[1, 2]]), 0.1, 3)


def test_integer_weight_arrays_are_rejected_with_the_index():
    with pytest.raises(TypeError, match=r"weights\[1\].*floating"):
        l2_penalty([np.ones(2), np.array([1, 2])], 0.1, 3)


@pytest.mark.parametrize("cls", [L2, L1])
def test_regularizers_reject_bad_lambda_and_bad_models(cls):
    with pytest.raises(ValueError, match="lambd must be >= 0.0, got -1.0"):
        cls(-1.0)
    with pytest.raises(ValueError, match="lambd"):
        cls(math.inf)
    with pytest.raises(TypeError, match="parameters"):
        cls(0.1).penalty([np.ones(2)], 3)
    with pytest.raises(ValueError, match="m must be"):
        cls(0.1).penalty(_model(), 0)
    with pytest.raises(ValueError, match="m must be"):
        cls(0.1).add_gradients(_model(), -1)


def test_dense_backward_l2_rejects_mismatched_shapes_and_bad_lambda():
    dout, x, W, b = np.ones((4, 2)), np.ones((4, 3)), np.ones((3, 2)), np.ones(2)
    with pytest.raises(ValueError, match="shapes do not fit"):
        dense_backward_l2(dout, x, W.T, b, 0.1, 4)
    with pytest.raises(ValueError, match="shapes do not fit"):
        dense_backward_l2(dout, x, W, np.ones(3), 0.1, 4)
    with pytest.raises(ValueError, match="lambd"):
        dense_backward_l2(dout, x, W, b, -0.1, 4)
    with pytest.raises(TypeError, match="x must be a numpy array"):
        dense_backward_l2(dout, [[1.0] * 3] * 4, W, b, 0.1, 4)


def test_gradients_of_a_zero_d_weight_are_arrays():
    for grad in (l2_grad(np.array(2.0), 1.0, 2), l1_grad(np.array(-2.0), 1.0, 2)):
        assert isinstance(grad, np.ndarray) and grad.shape == () and grad.dtype == np.float64
    assert float(l2_grad(np.array(2.0), 1.0, 2)) == 1.0 and float(l1_grad(np.array(-2.0), 1.0, 2)) == -0.5

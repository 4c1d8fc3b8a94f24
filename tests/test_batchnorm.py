"""Tests for coursekit.batchnorm and the lesson-05 exercises.

Expected values are computed by hand (data chosen so var + eps is a perfect square), by an
independent formula (numpy's var with ddof, a transpose to (N*H*W, C)), or by central
differences - never copied from the code under test.
"""
import numpy as np
import pytest

from coursekit.batchnorm import (BatchNorm1d, BatchNorm2d, BatchNormCache, batchnorm_backward,
                                 batchnorm_eval_forward, batchnorm_forward, update_running_stats)
from coursekit.exercises import get_exercise, run_check
from coursekit.exercises.lesson05_batchnorm import batchnorm_backward_graph, batchnorm_layer_forward
from coursekit.gradcheck import check_layer_gradients, numerical_gradient, rel_error
from coursekit.layers import Dense, ReLU
from coursekit.model import Sequential

# x chosen so that with eps = 4 the per-feature var + eps is 9 and 16:
# feature 0: values 1, 3, 5, 7 -> mean 4, biased var 5, unbiased var 20/3; sqrt(5 + 4) = 3
# feature 1: values 0, 0, 0, 8 -> mean 2, biased var 12, unbiased var 16;   sqrt(12 + 4) = 4
HAND_X = np.array([[1.0, 0.0], [3.0, 0.0], [5.0, 0.0], [7.0, 8.0]])
HAND_EPS = 4.0
HAND_X_HAT = np.array([[-1.0, -0.5], [-1 / 3, -0.5], [1 / 3, -0.5], [1.0, 1.5]])
HAND_GAMMA = np.array([2.0, 0.5])
HAND_BETA = np.array([0.1, -1.0])


# ----------------------------------------------------------------------------- forward


def test_forward_hand_computed_values():
    out, cache = batchnorm_forward(HAND_X, HAND_GAMMA, HAND_BETA, eps=HAND_EPS)
    np.testing.assert_allclose(cache.mean, [4.0, 2.0])
    np.testing.assert_allclose(cache.var, [5.0, 12.0])           # biased: divided by N = 4
    np.testing.assert_allclose(cache.inv_std, [1 / 3, 1 / 4])
    np.testing.assert_allclose(cache.x_centered, HAND_X - [4.0, 2.0])
    np.testing.assert_allclose(cache.x_hat, HAND_X_HAT)
    np.testing.assert_allclose(cache.gamma, HAND_GAMMA)
    np.testing.assert_allclose(out, [[-1.9, -1.25], [0.1 - 2 / 3, -1.25], [0.1 + 2 / 3, -1.25], [2.1, -0.25]])


def test_forward_default_eps_is_pytorch_1e_minus_5():
    out, _ = batchnorm_forward(HAND_X, np.ones(2), np.zeros(2))
    expected = (HAND_X - HAND_X.mean(0)) / np.sqrt(HAND_X.var(0) + 1e-5)
    np.testing.assert_allclose(out, expected, rtol=1e-12)


def test_training_output_has_mean_beta_and_std_gamma_per_feature():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((64, 5)) * np.array([0.1, 1.0, 5.0, 30.0, 2.0]) + np.array([-3, 0, 10, 500, 1])
    gamma, beta = np.array([0.5, 1.0, 2.0, 3.0, 0.1]), np.array([-1.0, 0.0, 1.0, 2.0, 5.0])
    out, _ = batchnorm_forward(x, gamma, beta)
    np.testing.assert_allclose(out.mean(axis=0), beta, atol=1e-12)
    # std is gamma * sqrt(var / (var + eps)); every var here is >= 0.005, so within 1e-3
    np.testing.assert_allclose(out.std(axis=0), gamma, rtol=1e-3)


def test_forward_4d_statistics_per_channel_over_n_h_w():
    rng = np.random.default_rng(1)
    x = rng.standard_normal((3, 4, 5, 2)) * 2.0 + np.arange(4).reshape(1, 4, 1, 1) * 10
    gamma, beta = rng.standard_normal(4), rng.standard_normal(4)
    out, cache = batchnorm_forward(x, gamma, beta, eps=1e-5)
    # independent: move channels last, flatten to (N*H*W, C) and normalize columns by hand
    cols = x.transpose(0, 2, 3, 1).reshape(-1, 4)
    expected = gamma * (cols - cols.mean(0)) / np.sqrt(cols.var(0) + 1e-5) + beta
    np.testing.assert_allclose(out.transpose(0, 2, 3, 1).reshape(-1, 4), expected, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(cache.var, cols.var(0), rtol=1e-12)
    assert cache.mean.shape == (4,)


def test_forward_keeps_dtype_and_is_stable_for_large_offsets_and_constant_features():
    rng = np.random.default_rng(2)
    x = (rng.standard_normal((256, 3)) * 0.1 + 1e3).astype(np.float32)
    x[:, 2] = 7.0  # a constant feature: var 0, x_hat must be exactly 0 (not NaN)
    out, cache = batchnorm_forward(x, np.ones(3, np.float32), np.zeros(3, np.float32))
    assert out.dtype == np.float32 and cache.x_hat.dtype == np.float32
    assert np.all(np.isfinite(out))
    np.testing.assert_array_equal(out[:, 2], 0.0)
    x64 = x.astype(np.float64)  # the same (rounded) numbers, normalized in float64
    expected = (x64[:, :2] - x64[:, :2].mean(0)) / np.sqrt(x64[:, :2].var(0) + 1e-5)
    np.testing.assert_allclose(out[:, :2], expected, atol=1e-3)
    big = rng.standard_normal((64, 2)) + 1e8  # float64 with an offset of 1e8
    out64, _ = batchnorm_forward(big, np.ones(2), np.zeros(2))
    small = big - 1e8  # exact: the offset is an integer well inside float64's range
    np.testing.assert_allclose(out64, (small - small.mean(0)) / np.sqrt(small.var(0) + 1e-5), atol=1e-6)


@pytest.mark.parametrize("eps", [0.0, -1e-5])
def test_forward_rejects_non_positive_eps(eps):
    with pytest.raises(ValueError, match="eps"):
        batchnorm_forward(HAND_X, np.ones(2), np.zeros(2), eps=eps)


@pytest.mark.parametrize("x", [np.ones((1, 3)), np.ones((1, 3, 1, 1))])
def test_forward_rejects_one_value_per_channel(x):
    with pytest.raises(ValueError, match="more than 1 value per channel"):
        batchnorm_forward(x, np.ones(3), np.zeros(3))


def test_forward_4d_with_one_sample_but_several_pixels_is_allowed():
    x = np.arange(8.0).reshape(1, 2, 2, 2)
    out, _ = batchnorm_forward(x, np.ones(2), np.zeros(2))
    np.testing.assert_allclose(out.mean(axis=(0, 2, 3)), 0.0, atol=1e-12)


def test_forward_rejects_wrong_rank_and_wrong_gamma_shape():
    with pytest.raises(ValueError, match="2-D or 4-D"):
        batchnorm_forward(np.ones((4, 3, 2)), np.ones(3), np.zeros(3))
    with pytest.raises(ValueError, match=r"gamma must have shape \(2,\)"):
        batchnorm_forward(HAND_X, np.ones(3), np.zeros(2))
    with pytest.raises(ValueError, match=r"beta must have shape \(2,\)"):
        batchnorm_forward(HAND_X, np.ones(2), np.zeros((2, 1)).ravel()[:1])
    with pytest.raises(TypeError, match="floating"):
        batchnorm_forward(HAND_X.astype(np.int64), np.ones(2), np.zeros(2))


# ----------------------------------------------------------------------------- backward


def _numeric_grads(x, gamma, beta, dout, eps=1e-5):
    def loss(x, gamma, beta):
        return float(np.sum(batchnorm_forward(x, gamma, beta, eps=eps)[0] * dout))
    return (numerical_gradient(lambda v: loss(v, gamma, beta), x.copy()),
            numerical_gradient(lambda v: loss(x, v, beta), gamma.copy()),
            numerical_gradient(lambda v: loss(x, gamma, v), beta.copy()))


# With N = 2 and a small eps, x_hat is +-1 whatever x is, so dx is ~eps-sized: use a large eps there.
@pytest.mark.parametrize("shape, eps", [((5, 3), 1e-5), ((2, 4), 1.0), ((7, 1), 1e-3), ((3, 2, 4, 3), 1e-5),
                                        ((1, 3, 2, 2), 0.1)])
def test_backward_matches_central_differences(shape, eps):
    rng = np.random.default_rng(3)
    c = shape[1]
    x = rng.standard_normal(shape) * 2.0 + 1.0
    gamma, beta = rng.uniform(0.5, 2.0, c), rng.standard_normal(c)
    dout = rng.standard_normal(shape)
    _, cache = batchnorm_forward(x, gamma, beta, eps=eps)
    dx, dgamma, dbeta = batchnorm_backward(dout, cache)
    ndx, ndgamma, ndbeta = _numeric_grads(x.copy(), gamma.copy(), beta.copy(), dout, eps)
    assert rel_error(dx, ndx) < 1e-6
    assert rel_error(dgamma, ndgamma) < 1e-7
    assert rel_error(dbeta, ndbeta) < 1e-7


def test_backward_compact_form_equals_graph_form():
    rng = np.random.default_rng(4)
    x = rng.standard_normal((9, 4)) * 3.0 - 2.0
    gamma, beta, dout = rng.standard_normal(4), rng.standard_normal(4), rng.standard_normal((9, 4))
    _, cache = batchnorm_forward(x, gamma, beta, eps=1e-3)
    for a, b in zip(batchnorm_backward(dout, cache), batchnorm_backward_graph(dout, cache)):
        np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-12)


def test_backward_dx_sums_to_zero_and_ignores_a_constant_upstream_gradient():
    # the output of a training-mode BN layer is invariant to shifting x, so sum(dx) = 0; and a constant
    # dout (the same for every sample) only moves beta, so dx = 0
    rng = np.random.default_rng(5)
    x = rng.standard_normal((6, 3))
    _, cache = batchnorm_forward(x, rng.standard_normal(3), np.zeros(3))
    dx, _, _ = batchnorm_backward(rng.standard_normal((6, 3)), cache)
    np.testing.assert_allclose(dx.sum(axis=0), 0.0, atol=1e-12)
    dx_const, _, dbeta = batchnorm_backward(np.tile([1.0, -2.0, 0.5], (6, 1)), cache)
    np.testing.assert_allclose(dx_const, 0.0, atol=1e-12)
    np.testing.assert_allclose(dbeta, [6.0, -12.0, 3.0])


def test_backward_rejects_wrong_dout_shape_and_foreign_cache():
    _, cache = batchnorm_forward(HAND_X, np.ones(2), np.zeros(2))
    with pytest.raises(ValueError, match="dout"):
        batchnorm_backward(np.ones((3, 2)), cache)
    with pytest.raises(TypeError, match="cache"):
        batchnorm_backward(np.ones((4, 2)), {"x_hat": HAND_X})


# ----------------------------------------------------------------------------- running statistics


def test_update_running_stats_hand_computed():
    new_mean, new_var = update_running_stats(np.zeros(2), np.ones(2), np.array([4.0, 2.0]), np.array([5.0, 12.0]),
                                             count=4)
    np.testing.assert_allclose(new_mean, [0.4, 0.2])
    # unbiased variances 5 * 4/3 = 20/3 and 12 * 4/3 = 16
    np.testing.assert_allclose(new_var, [0.9 + 2 / 3, 0.9 + 1.6])


def test_update_running_stats_momentum_extremes_and_inputs_untouched():
    rm, rv, bm, bv = np.array([1.0]), np.array([2.0]), np.array([5.0]), np.array([3.0])
    m0, v0 = update_running_stats(rm, rv, bm, bv, count=3, momentum=0.0)
    m1, v1 = update_running_stats(rm, rv, bm, bv, count=3, momentum=1.0)
    np.testing.assert_allclose([m0[0], v0[0], m1[0], v1[0]], [1.0, 2.0, 5.0, 4.5])
    np.testing.assert_array_equal([rm[0], rv[0]], [1.0, 2.0])


@pytest.mark.parametrize("momentum", [-0.1, 1.5, float("nan")])
def test_update_running_stats_rejects_momentum_outside_unit_interval(momentum):
    with pytest.raises(ValueError, match="momentum"):
        update_running_stats(np.zeros(2), np.ones(2), np.zeros(2), np.ones(2), count=4, momentum=momentum)


def test_update_running_stats_rejects_bad_count_and_shapes():
    with pytest.raises(ValueError, match="count"):
        update_running_stats(np.zeros(2), np.ones(2), np.zeros(2), np.ones(2), count=1)
    with pytest.raises(TypeError, match="count"):
        update_running_stats(np.zeros(2), np.ones(2), np.zeros(2), np.ones(2), count=4.0)
    with pytest.raises(ValueError, match="batch_var"):
        update_running_stats(np.zeros(2), np.ones(2), np.zeros(2), np.ones(3), count=4)


def test_eval_forward_uses_given_statistics():
    out = batchnorm_eval_forward(HAND_X, HAND_GAMMA, HAND_BETA, np.array([1.0, 0.0]), np.array([5.0, 12.0]),
                                 eps=HAND_EPS)
    # (x - [1, 0]) / [3, 4] * gamma + beta
    expected = (HAND_X - [1.0, 0.0]) / np.array([3.0, 4.0]) * HAND_GAMMA + HAND_BETA
    np.testing.assert_allclose(out, expected)


# ----------------------------------------------------------------------------- layers


def test_layer_defaults_are_pytorch_defaults():
    for layer in (BatchNorm1d(3), BatchNorm2d(3)):
        assert layer.momentum == 0.1 and layer.eps == 1e-5
        np.testing.assert_array_equal(layer.gamma, np.ones(3))
        np.testing.assert_array_equal(layer.beta, np.zeros(3))
        np.testing.assert_array_equal(layer.running_mean, np.zeros(3))
        np.testing.assert_array_equal(layer.running_var, np.ones(3))
        assert set(layer.params) == {"gamma", "beta"}
        assert set(layer.buffers) == {"running_mean", "running_var"}
        assert layer.gamma is layer.params["gamma"] and layer.running_var is layer.buffers["running_var"]


def test_batchnorm1d_train_then_eval_hand_computed():
    layer = BatchNorm1d(2, eps=HAND_EPS)
    layer.params["gamma"][:] = HAND_GAMMA
    layer.params["beta"][:] = HAND_BETA
    out = layer.forward(HAND_X.astype(np.float32), training=True)
    np.testing.assert_allclose(out, HAND_GAMMA * HAND_X_HAT + HAND_BETA, rtol=1e-6)
    np.testing.assert_allclose(layer.running_mean, [0.4, 0.2], rtol=1e-6)
    np.testing.assert_allclose(layer.running_var, [0.9 + 2 / 3, 2.5], rtol=1e-6)
    before = (layer.running_mean.copy(), layer.running_var.copy())
    x_eval = np.array([[0.4, 0.2], [3.4, 4.2]], dtype=np.float32)
    out_eval = layer.forward(x_eval, training=False)
    # evaluation: (x - running_mean) / sqrt(running_var + 4) * gamma + beta, running stats unchanged
    expected = (x_eval - [0.4, 0.2]) / np.sqrt([0.9 + 2 / 3 + 4, 6.5]) * HAND_GAMMA + HAND_BETA
    np.testing.assert_allclose(out_eval, expected, rtol=1e-6)
    np.testing.assert_array_equal(layer.running_mean, before[0])
    np.testing.assert_array_equal(layer.running_var, before[1])


def test_batchnorm2d_running_variance_uses_n_h_w_correction():
    rng = np.random.default_rng(6)
    x = rng.standard_normal((2, 3, 4, 5)) + np.array([1.0, -2.0, 0.5]).reshape(1, 3, 1, 1)
    layer = BatchNorm2d(3, momentum=0.25)
    layer.forward(x, training=True)
    cols = x.transpose(0, 2, 3, 1).reshape(-1, 3)  # 40 values per channel
    np.testing.assert_allclose(layer.running_mean, 0.25 * cols.mean(0), rtol=1e-6)
    np.testing.assert_allclose(layer.running_var, 0.75 + 0.25 * cols.var(0, ddof=1), rtol=1e-6)


def test_running_stats_converge_to_the_data_statistics():
    rng = np.random.default_rng(7)
    mean, std = np.array([3.0, -1.0]), np.array([2.0, 0.5])
    layer = BatchNorm1d(2)
    for _ in range(300):
        layer.forward(rng.standard_normal((16, 2)) * std + mean, training=True)
    np.testing.assert_allclose(layer.running_mean, mean, atol=0.3)
    np.testing.assert_allclose(layer.running_var, std ** 2, rtol=0.25)


def test_eval_output_of_a_sample_does_not_depend_on_its_batch():
    rng = np.random.default_rng(8)
    layer = BatchNorm1d(4)
    for _ in range(5):
        layer.forward(rng.standard_normal((8, 4)), training=True)
    sample = rng.standard_normal((1, 4))
    alone = layer.forward(sample, training=False)
    in_batch = layer.forward(np.vstack([sample, 10 * rng.standard_normal((7, 4))]), training=False)[:1]
    np.testing.assert_allclose(alone, in_batch, rtol=1e-6)
    train_a = layer.forward(np.vstack([sample, rng.standard_normal((7, 4))]), training=True)[:1]
    train_b = layer.forward(np.vstack([sample, rng.standard_normal((7, 4))]), training=True)[:1]
    assert np.max(np.abs(train_a - train_b)) > 1e-2  # in training it does depend on the batch


@pytest.mark.parametrize("training", [True, False])
@pytest.mark.parametrize("make, shape", [(lambda: BatchNorm1d(3), (6, 3)), (lambda: BatchNorm2d(2), (3, 2, 3, 2))])
def test_layer_gradients_float64(make, shape, training):
    rng = np.random.default_rng(9)
    layer = make()
    layer.params["gamma"][:] = rng.uniform(0.5, 2.0, layer.num_features)
    layer.params["beta"][:] = rng.standard_normal(layer.num_features)
    layer.buffers["running_mean"][:] = rng.standard_normal(layer.num_features)
    layer.buffers["running_var"][:] = rng.uniform(0.5, 2.0, layer.num_features)
    errors = check_layer_gradients(layer, rng.standard_normal(shape) * 1.5 + 0.5, rng=rng, training=training,
                                   h=1e-5)
    assert set(errors) == {"x", "gamma", "beta"}
    assert max(errors.values()) < 1e-7, errors


def test_layer_computes_in_input_dtype_and_keeps_buffer_dtype():
    layer = BatchNorm1d(2)
    out = layer.forward(HAND_X, training=True)
    assert out.dtype == np.float64
    assert layer.running_mean.dtype == np.float32
    dx = layer.backward(np.ones_like(out))
    assert dx.dtype == np.float64 and layer.grads["gamma"].dtype == np.float32


def test_layer_bad_input():
    with pytest.raises(ValueError, match="num_features"):
        BatchNorm1d(0)
    with pytest.raises(TypeError, match="num_features"):
        BatchNorm1d(2.5)
    with pytest.raises(ValueError, match="eps"):
        BatchNorm2d(3, eps=0.0)
    for momentum in (-0.01, 1.01):
        with pytest.raises(ValueError, match="momentum"):
            BatchNorm1d(3, momentum=momentum)
    with pytest.raises(ValueError, match=r"expected more than 1 value per channel"):
        BatchNorm1d(3).forward(np.ones((1, 3)), training=True)
    with pytest.raises(ValueError, match=r"more than 1 value per channel"):
        BatchNorm2d(3).forward(np.ones((1, 3, 1, 1)), training=True)
    with pytest.raises(ValueError, match=r"must be 2-D"):
        BatchNorm1d(3).forward(np.ones((4, 3, 2, 2)), training=True)
    with pytest.raises(ValueError, match=r"must be 4-D"):
        BatchNorm2d(3).forward(np.ones((4, 3)), training=True)
    with pytest.raises(ValueError, match=r"num_features=3"):
        BatchNorm1d(3).forward(np.ones((4, 5)), training=True)
    with pytest.raises(ValueError, match=r"num_features=3"):
        BatchNorm2d(3).forward(np.ones((4, 2, 3, 3)), training=False)
    with pytest.raises(RuntimeError, match="before forward"):
        BatchNorm1d(3).backward(np.ones((4, 3)))
    layer = BatchNorm1d(3)
    layer.forward(np.ones((4, 3)), training=True)
    with pytest.raises(ValueError, match="dout"):
        layer.backward(np.ones((4, 2)))


def test_single_sample_in_evaluation_mode_is_fine():
    out = BatchNorm1d(3).forward(np.array([[1.0, 2.0, 3.0]]), training=False)
    np.testing.assert_allclose(out, np.array([[1.0, 2.0, 3.0]]) / np.sqrt(1 + 1e-5))


def test_sequential_integration_l2_skips_gamma_and_state_dict_saves_running_stats():
    rng = np.random.default_rng(10)
    model = Sequential(Dense(3, 4, rng=rng), BatchNorm1d(4), ReLU(), Dense(4, 1, rng=rng))
    assert [p.name for p in model.parameters() if not p.is_weight] == ["0.b", "1.gamma", "1.beta", "3.b"]
    model.forward(rng.standard_normal((8, 3)).astype(np.float32), training=True)
    state = model.state_dict()
    np.testing.assert_array_equal(state["1.running_mean"], model.layers[1].running_mean)
    assert not np.shares_memory(state["1.running_mean"], model.layers[1].running_mean)
    model.layers[1].buffers["running_mean"][:] = 99.0
    model.load_state_dict(state)
    assert np.all(model.layers[1].running_mean != 99.0)


# ----------------------------------------------------------------------------- the exercises


def test_layer_forward_reference_agrees_with_the_layer_class():
    rng = np.random.default_rng(11)
    layer = BatchNorm1d(3, momentum=0.2, eps=1e-3, dtype=np.float64)
    layer.params["gamma"][:] = [0.5, 2.0, 1.0]
    layer.params["beta"][:] = [0.0, 1.0, -1.0]
    rm, rv = layer.running_mean.copy(), layer.running_var.copy()
    for training in (True, True, False):
        x = rng.standard_normal((5, 3))
        out_fn, rm, rv = batchnorm_layer_forward(x, layer.gamma.copy(), layer.beta.copy(), rm, rv,
                                                 training=training, momentum=0.2, eps=1e-3)
        out_layer = layer.forward(x, training=training)
        np.testing.assert_allclose(out_fn, out_layer, rtol=1e-12)
        np.testing.assert_allclose(rm, layer.running_mean, rtol=1e-12)
        np.testing.assert_allclose(rv, layer.running_var, rtol=1e-12)


LESSON05 = ["batchnorm_forward", "update_running_stats", "batchnorm_layer_forward", "batchnorm_backward_graph",
            "batchnorm_backward"]


@pytest.mark.parametrize("name", LESSON05)
def test_exercise_reference_passes_and_each_mistake_is_recognized(name):
    ex = get_exercise(name)
    assert run_check(name, ex.reference).passed
    for key, mistake in ex.mistakes.items():
        result = run_check(name, mistake.implementation)
        assert result.status == "failed" and result.mistake_key == key, (key, result.message)
        assert mistake.hint in result.message


def test_the_issue_catalogue_of_mistakes_is_covered():
    keys = {name: set(get_exercise(name).mistakes) for name in LESSON05}
    assert {"unbiased_variance", "eps_outside_sqrt", "wrong_axis"} <= keys["batchnorm_forward"]
    assert "momentum_reversed" in keys["update_running_stats"]
    assert "eval_uses_batch_stats" in keys["batchnorm_layer_forward"]
    assert "forgot_mean_term" in keys["batchnorm_backward_graph"] and "forgot_mean_term" in keys["batchnorm_backward"]


def test_backward_check_accepts_a_correct_learner_version_and_reports_gradient_errors():
    def learner(dout, cache):  # written independently from the reference, via the graph in a different order
        mean, var, xc, inv_std, x_hat, gamma = cache
        n = len(dout)
        g = dout * gamma
        dvar = np.sum(g * xc, axis=0) * -0.5 * inv_std ** 3
        dmean = np.sum(-g * inv_std, axis=0) + dvar * np.mean(-2 * xc, axis=0)
        return g * inv_std + dvar * 2 * xc / n + dmean / n, np.sum(dout * x_hat, axis=0), dout.sum(axis=0)

    assert run_check("batchnorm_backward", learner).passed
    assert run_check("batchnorm_backward_graph", learner).passed

    def off_by_two(dout, cache):
        dx, dgamma, dbeta = learner(dout, cache)
        return 2 * dx, dgamma, dbeta

    result = run_check("batchnorm_backward", off_by_two)
    assert result.status == "failed" and result.mistake_key is None
    assert "dx has the wrong values" in result.message and "relative errors dx" in result.message


def test_forward_check_names_the_wrong_cache_field():
    def learner(x, gamma, beta, *, eps=1e-5):
        out, cache = batchnorm_forward(x, gamma, beta, eps=eps)
        return out, tuple(cache[:3]) + (np.sqrt(cache.var + eps),) + tuple(cache[4:])  # std instead of 1/std

    result = run_check("batchnorm_forward", learner)
    assert result.status == "failed" and "cache.inv_std has the wrong values" in result.message


# ----------------------------------------------------------------------------- validation of the running-stat helpers

def test_running_stat_helpers_refuse_negative_variances_and_accept_zero():
    from coursekit.batchnorm import batchnorm_eval_forward, update_running_stats

    mean, var = update_running_stats(np.zeros(2), np.zeros(2), np.ones(2), np.zeros(2), count=3)
    np.testing.assert_allclose(mean, [0.1, 0.1])
    np.testing.assert_array_equal(var, [0.0, 0.0])
    with pytest.raises(ValueError, match=r"update_running_stats: running_var must be >= 0 \(it is a variance\), "
                                         r"got a minimum of -1e-08"):
        update_running_stats(np.zeros(2), np.array([1.0, -1e-8]), np.ones(2), np.ones(2), count=3)
    x = np.ones((2, 2))
    out = batchnorm_eval_forward(x, np.ones(2), np.zeros(2), np.zeros(2), np.zeros(2), eps=1.0)
    np.testing.assert_allclose(out, x)
    with pytest.raises(ValueError, match=r"batchnorm_eval_forward: running_var must be >= 0"):
        batchnorm_eval_forward(x, np.ones(2), np.zeros(2), np.zeros(2), np.array([-0.5, 1.0]))


def test_a_diverged_batch_propagates_nan_instead_of_raising_inside_the_layer():
    # the layer calls update_running_stats every batch: a NaN batch must reach fit's divergence check
    layer = BatchNorm1d(2, dtype=np.float64)
    out = layer.forward(np.array([[np.nan, 1.0], [0.0, 2.0]]), training=True)
    assert np.isnan(out[:, 0]).all() and np.isnan(layer.running_mean[0]) and np.isfinite(out[:, 1]).all()


def test_layer_constructors_refuse_integer_dtypes():
    with pytest.raises(TypeError, match=r"BatchNorm1d: dtype must be a floating dtype.*got dtype int64"):
        BatchNorm1d(3, dtype=np.int64)
    assert BatchNorm2d(3, dtype=np.float64).gamma.dtype == np.float64


# ----------------------------------------------------------------------------- the fast formulas against the plain ones
# batchnorm_forward/backward compute their sums with einsum (each sample's row in x's dtype, the
# rows in float64), shift x by one of its values before the first sum, and evaluate backward as
# a*dout + b*x_hat + c (issue 22). The plain formulas below are the implementation before that,
# written out: the results must agree with them to float64 precision in float64, and in float32 be
# at least as close to the float64 values as the plain float32 version is; same dtypes, shapes.

def _plain_forward(x, gamma, beta, eps=1e-5):
    axes = (0,) if x.ndim == 2 else (0, 2, 3)
    per = (lambda v: v) if x.ndim == 2 else (lambda v: v.reshape(1, -1, 1, 1))
    gamma, beta = gamma.astype(x.dtype), beta.astype(x.dtype)
    mean = x.mean(axis=axes, dtype=np.float64).astype(x.dtype)
    x_centered = x - per(mean)
    var = np.mean(x_centered * x_centered, axis=axes, dtype=np.float64).astype(x.dtype)
    inv_std = 1.0 / np.sqrt(var + x.dtype.type(eps))
    x_hat = x_centered * per(inv_std)
    return per(gamma) * x_hat + per(beta), (mean, var, x_centered, inv_std, x_hat, gamma)


def _plain_backward(dout, x_hat, gamma, inv_std):
    axes = (0,) if dout.ndim == 2 else (0, 2, 3)
    per = (lambda v: v) if dout.ndim == 2 else (lambda v: v.reshape(1, -1, 1, 1))
    m = dout.shape[0] if dout.ndim == 2 else dout.shape[0] * dout.shape[2] * dout.shape[3]
    dx_hat = dout * per(gamma)
    dx = (per(inv_std) / m) * (m * dx_hat - per(dx_hat.sum(axis=axes)) - x_hat * per(np.sum(dx_hat * x_hat, axis=axes)))
    return dx, np.sum(dout * x_hat, axis=axes), dout.sum(axis=axes)


def _assert_as_close_as_plain(got, plain, exact, what, plain_exact=None):
    """got and plain (the plain formulas in the same dtypes) against exact (float64 values); plain_exact: what
    plain is to be compared with, when it differs from exact (a backward pass from plain's own cache)."""
    assert got.dtype == plain.dtype and got.shape == plain.shape, what
    scale = max(float(np.max(np.abs(exact))), 1e-30)
    error = float(np.max(np.abs(got.astype(np.float64) - exact)))
    if got.dtype == np.float64:
        assert error <= 1e-12 * scale, f"{what}: off by {error}"
    else:
        reference = exact if plain_exact is None else plain_exact
        plain_error = float(np.max(np.abs(plain.astype(np.float64) - reference)))
        assert error <= 2 * plain_error + 2e-7 * scale, f"{what}: off by {error}, the plain version by {plain_error}"


@pytest.mark.parametrize("shape", [(64, 10), (64, 32, 8, 8), (5, 3, 7, 9)])
@pytest.mark.parametrize("x_dtype, dout_dtype", [(np.float32, np.float32), (np.float64, np.float64),
                                                 (np.float32, np.float64)])
@pytest.mark.parametrize("dout_layout", ["contiguous", "padded view"])
def test_forward_and_backward_agree_with_the_plain_formulas(shape, x_dtype, dout_dtype, dout_layout):
    rng = np.random.default_rng(12)
    x = (rng.standard_normal(shape) * 3 + 1).astype(x_dtype)
    gamma, beta = rng.standard_normal(shape[1]).astype(np.float32), rng.standard_normal(shape[1]).astype(np.float32)
    dout = rng.standard_normal(shape).astype(dout_dtype)
    if dout_layout == "padded view":  # a non-contiguous upstream gradient
        padded = np.zeros(shape[:1] + (shape[1] + 2,) + shape[2:], dtype=dout_dtype)
        padded[:, 1:-1] = dout
        dout = padded[:, 1:-1]
    out, cache = batchnorm_forward(x, gamma, beta)
    plain_out, plain_cache = _plain_forward(x, gamma, beta)
    exact_out, exact_cache = _plain_forward(x.astype(np.float64), gamma.astype(np.float64), beta.astype(np.float64))
    _assert_as_close_as_plain(out, plain_out, exact_out, "out")
    for name, got, plain, exact in zip(BatchNormCache._fields, cache, plain_cache, exact_cache):
        _assert_as_close_as_plain(got, plain, exact, f"cache.{name}")
    # backward: each against the exact (float64) backward pass from its own forward's cache
    exact_from = lambda c: _plain_backward(dout.astype(np.float64), *(c[i].astype(np.float64) for i in (4, 5, 3)))  # noqa: E731
    plain_grads = _plain_backward(dout, plain_cache[4], plain_cache[5], plain_cache[3])
    for name, got, plain, exact, plain_exact in zip(("dx", "dgamma", "dbeta"), batchnorm_backward(dout, cache),
                                                    plain_grads, exact_from(cache), exact_from(plain_cache)):
        _assert_as_close_as_plain(got, plain, exact, name, plain_exact)


# ----------------------------------------------------------------------------- extreme values (issue 21)

def _float64_reference(x, eps=1e-5):
    """x_hat of batchnorm in float64 from the same values, exact enough for a float32/float16 comparison."""
    axes = (0,) if x.ndim == 2 else (0, 2, 3)
    x64 = x.astype(np.float64)
    mean = x64.mean(axis=axes, keepdims=True)
    return (x64 - mean) / np.sqrt(((x64 - mean) ** 2).mean(axis=axes, keepdims=True) + eps)


@pytest.mark.parametrize("shape", [(64, 3), (8, 3, 4, 4)])
@pytest.mark.parametrize("scale, offset", [(1e20, 0.0), (1e19, 1e20), (3e37, 0.0)])
def test_float32_values_whose_squares_overflow_are_normalized_right(shape, scale, offset):
    rng = np.random.default_rng(21)
    x = (rng.standard_normal(shape) * scale + offset).astype(np.float32)
    with np.errstate(all="raise"):  # nothing overflows on the way, no warning
        out, cache = batchnorm_forward(x, np.ones(shape[1], np.float32), np.zeros(shape[1], np.float32))
    assert out.dtype == np.float32 and np.all(np.isfinite(out))
    np.testing.assert_allclose(out, _float64_reference(x), atol=1e-5)
    np.testing.assert_allclose(cache.x_hat, out, atol=1e-6)
    assert np.all(cache.var > 0)  # the variance itself (~scale**2) may be inf in float32, as PyTorch's running var
    dx, dgamma, dbeta = batchnorm_backward(np.ones_like(x), cache)  # a constant dout only moves beta
    assert np.all(np.isfinite(dx)) and np.max(np.abs(dx)) < 1e-3 / scale


@pytest.mark.parametrize("shape", [(64, 3), (16, 2, 4, 4)])
def test_float16_with_a_spread_of_hundreds_matches_pytorch(shape):
    rng = np.random.default_rng(22)
    x = (rng.uniform(-300, 300, shape) + 50).astype(np.float16)
    gamma, beta = np.array([1.5, 0.5, 2.0][:shape[1]], np.float16), np.array([0.0, 1.0, -1.0][:shape[1]], np.float16)
    out, cache = batchnorm_forward(x, gamma, beta)
    assert out.dtype == np.float16 and np.all(np.isfinite(out))
    per = (lambda v: v) if x.ndim == 2 else (lambda v: v.reshape(1, -1, 1, 1))
    expected = per(gamma.astype(np.float64)) * _float64_reference(x) + per(beta.astype(np.float64))
    np.testing.assert_allclose(out, expected, atol=1e-2)  # float16 keeps ~3 digits
    torch = pytest.importorskip("torch")
    theirs = torch.nn.functional.batch_norm(torch.from_numpy(x), None, None, torch.from_numpy(gamma),
                                            torch.from_numpy(beta), training=True, eps=1e-5).numpy()
    np.testing.assert_allclose(out.astype(np.float64), theirs.astype(np.float64), atol=1e-2)


def test_float64_values_near_the_top_of_the_range_are_normalized_right():
    x = np.array([[1e300, -2e300], [-1e300, 1e300], [3e300, 0.0], [-3e300, 5e299]])
    with np.errstate(all="raise"):
        out, cache = batchnorm_forward(x, np.ones(2), np.zeros(2))
    scaled = x / 1e300
    np.testing.assert_allclose(out, (scaled - scaled.mean(0)) / np.sqrt(scaled.var(0)), rtol=1e-12)
    assert np.all(np.isinf(cache.var))  # ~5e600 is beyond float64, as it is beyond PyTorch's


@pytest.mark.parametrize("cache, error, pattern", [
    ((1, 2, 3, 4, 5, 6), TypeError, r"cache.x_hat must be a floating numpy array.*got 5 of type int"),
    ("cache", TypeError, r"cache must be the cache returned by batchnorm_forward.*got 'cache' of type str"),
    ((np.ones(2),) * 5, TypeError, r"cache must be .*of type tuple of length 5"),
    (None, TypeError, r"cache must be the cache returned by batchnorm_forward.*got None"),
])
def test_backward_with_a_junk_cache_names_the_argument(cache, error, pattern):
    with pytest.raises(error, match=pattern):
        batchnorm_backward(np.ones((4, 2)), cache)


def test_backward_with_a_cache_of_the_wrong_shapes_names_the_field():
    _, cache = batchnorm_forward(HAND_X, np.ones(2), np.zeros(2))
    with pytest.raises(ValueError, match=r"cache.gamma must have shape \(2,\).*got \(3,\)"):
        batchnorm_backward(np.ones((4, 2)), cache._replace(gamma=np.ones(3)))
    with pytest.raises(TypeError, match=r"cache.inv_std must be a floating numpy array.*list"):
        batchnorm_backward(np.ones((4, 2)), cache._replace(inv_std=[1.0, 2.0]))

"""Tests for coursekit.normalization (layer norm, group norm).

Expected values come from hand computation (rows chosen so that var + eps is a perfect square),
from independent formulas (numpy's mean/var over explicit axes, a loop over the groups, long
double arithmetic), from central differences, or from PyTorch (skipped when it is not installed) -
never from the code under test.
"""
import numpy as np
import pytest

from coursekit.batchnorm import BatchNorm2d
from coursekit.gradcheck import check_layer_gradients, numerical_gradient, rel_error
from coursekit.layers import Conv2D, Dense, Flatten, ReLU
from coursekit.losses import softmax_cross_entropy
from coursekit.model import Sequential
from coursekit.normalization import (GroupNorm, GroupNormCache, LayerNorm, LayerNormCache, groupnorm_backward,
                                     groupnorm_forward, layernorm_backward, layernorm_forward)
from coursekit.optim import SGD, Adam
from coursekit.regularization import L2
from coursekit.training import fit

# Rows chosen so that with eps = 4 var + eps is 9 and 16:
# row 0: 1, 3, 5, 7 -> mean 4, biased var 5; sqrt(5 + 4) = 3 -> x_hat -1, -1/3, 1/3, 1
# row 1: 0, 0, 0, 8 -> mean 2, biased var 12; sqrt(12 + 4) = 4 -> x_hat -1/2, -1/2, -1/2, 3/2
HAND_X = np.array([[1.0, 3.0, 5.0, 7.0], [0.0, 0.0, 0.0, 8.0]])
HAND_X_HAT = np.array([[-1.0, -1 / 3, 1 / 3, 1.0], [-0.5, -0.5, -0.5, 1.5]])


def _layernorm_by_formula(x, gamma, beta, eps=1e-5):
    """Independent: numpy's mean/var over the trailing gamma.ndim axes, in long double."""
    axes = tuple(range(x.ndim - gamma.ndim, x.ndim))
    xl = x.astype(np.longdouble)
    mean = xl.mean(axis=axes, keepdims=True)
    var = xl.var(axis=axes, keepdims=True)
    return gamma * (xl - mean) / np.sqrt(var + eps) + beta


def _groupnorm_by_loop(x, gamma, beta, groups, eps=1e-5):
    """Independent: a loop over samples and groups, numpy's mean/var of each block, in long double."""
    n, c = x.shape[:2]
    size = c // groups
    out = np.empty(x.shape, dtype=np.longdouble)
    for i in range(n):
        for g in range(groups):
            block = x[i, g * size:(g + 1) * size].astype(np.longdouble)
            out[i, g * size:(g + 1) * size] = (block - block.mean()) / np.sqrt(block.var() + eps)
    shape = (1, c) + (1,) * (x.ndim - 2)
    return out * gamma.reshape(shape) + beta.reshape(shape)


# ----------------------------------------------------------------------------- forward


def test_layernorm_hand_computed_values():
    gamma, beta = np.array([2.0, 1.0, 0.5, -1.0]), np.array([0.0, 1.0, -1.0, 0.5])
    out, cache = layernorm_forward(HAND_X, gamma, beta, eps=4.0)
    assert isinstance(cache, LayerNormCache)
    np.testing.assert_allclose(cache.mean, [[4.0], [2.0]])
    np.testing.assert_allclose(cache.inv_std, [[1 / 3], [1 / 4]])
    np.testing.assert_allclose(cache.x_hat, HAND_X_HAT)
    np.testing.assert_allclose(out, HAND_X_HAT * gamma + beta)
    np.testing.assert_array_equal(cache.gamma, gamma)


def test_groupnorm_hand_computed_values():
    # one sample, 4 channels of 1x2 values, 2 groups: group 0 holds 1, 3, 5, 7; group 1 holds 0, 0, 0, 8
    x = HAND_X.reshape(1, 4, 1, 2)
    gamma, beta = np.array([1.0, 2.0, 3.0, 4.0]), np.array([0.0, 0.0, 1.0, 1.0])
    out, cache = groupnorm_forward(x, gamma, beta, 2, eps=4.0)
    assert isinstance(cache, GroupNormCache)
    np.testing.assert_allclose(cache.mean, [[4.0, 2.0]])
    np.testing.assert_allclose(cache.inv_std, [[1 / 3, 1 / 4]])
    np.testing.assert_allclose(cache.x_hat, HAND_X_HAT.reshape(1, 4, 1, 2))
    np.testing.assert_allclose(out[0, :, 0], [[-1.0, -1 / 3], [2 / 3, 2.0], [-0.5, -0.5], [-1.0, 7.0]])


@pytest.mark.parametrize("shape, k", [((5, 7), 1), ((3, 4, 6), 1), ((3, 4, 6), 2), ((2, 3, 4, 5), 3),
                                      ((2, 3, 4, 5), 1), ((6,), 1)])
def test_layernorm_matches_the_formula_over_the_trailing_axes(shape, k):
    rng = np.random.default_rng(k)
    x = rng.standard_normal(shape) * 3.0 + 2.0
    gamma, beta = rng.standard_normal(shape[-k:]), rng.standard_normal(shape[-k:])
    out, cache = layernorm_forward(x, gamma, beta)
    np.testing.assert_allclose(out, _layernorm_by_formula(x, gamma, beta).astype(np.float64), rtol=1e-12, atol=1e-12)
    assert cache.mean.shape == cache.inv_std.shape == shape[:len(shape) - k] + (1,) * k


@pytest.mark.parametrize("shape, groups", [((2, 6, 3, 4), 1), ((2, 6, 3, 4), 2), ((2, 6, 3, 4), 3),
                                           ((2, 6, 3, 4), 6), ((3, 8), 4), ((2, 4, 5), 2)])
def test_groupnorm_matches_a_loop_over_groups(shape, groups):
    rng = np.random.default_rng(groups)
    x = rng.standard_normal(shape) * 2.0 - 1.0
    gamma, beta = rng.standard_normal(shape[1]), rng.standard_normal(shape[1])
    out, cache = groupnorm_forward(x, gamma, beta, groups)
    np.testing.assert_allclose(out, _groupnorm_by_loop(x, gamma, beta, groups).astype(np.float64), rtol=1e-12,
                               atol=1e-12)
    assert cache.mean.shape == cache.inv_std.shape == (shape[0], groups)


def test_each_sample_is_normalized_on_its_own():
    rng = np.random.default_rng(3)
    x = rng.standard_normal((5, 4, 3, 3)) * np.arange(1, 6).reshape(5, 1, 1, 1) + 10
    gamma, beta = rng.standard_normal(4), rng.standard_normal(4)
    whole, _ = groupnorm_forward(x, gamma, beta, 2)
    alone = np.concatenate([groupnorm_forward(x[i:i + 1], gamma, beta, 2)[0] for i in range(5)])
    np.testing.assert_array_equal(whole, alone)  # not even rounding depends on the rest of the batch
    out, _ = layernorm_forward(x, np.ones((4, 3, 3)), np.zeros((4, 3, 3)))
    np.testing.assert_allclose(out.mean(axis=(1, 2, 3)), 0.0, atol=1e-12)
    np.testing.assert_allclose(out.var(axis=(1, 2, 3)), 1.0, rtol=1e-4)


def test_group_norm_with_one_group_is_layer_norm_and_with_c_groups_instance_norm():
    rng = np.random.default_rng(4)
    x = rng.standard_normal((3, 4, 5, 5)) + 1.0
    gamma, beta = rng.standard_normal(4), rng.standard_normal(4)
    one_group, _ = groupnorm_forward(x, gamma, beta, 1)
    ln, _ = layernorm_forward(x, np.broadcast_to(gamma.reshape(4, 1, 1), (4, 5, 5)).copy(),
                              np.broadcast_to(beta.reshape(4, 1, 1), (4, 5, 5)).copy())
    np.testing.assert_allclose(one_group, ln, rtol=1e-12, atol=1e-12)
    instance, _ = groupnorm_forward(x, gamma, beta, 4)
    by_map = (x - x.mean(axis=(2, 3), keepdims=True)) / np.sqrt(x.var(axis=(2, 3), keepdims=True) + 1e-5)
    np.testing.assert_allclose(instance, gamma.reshape(1, 4, 1, 1) * by_map + beta.reshape(1, 4, 1, 1), rtol=1e-12,
                               atol=1e-12)


def test_default_eps_is_pytorch_1e_minus_5_inside_the_square_root():
    x = np.array([[0.0, 1e-3]])  # var 2.5e-7, far below eps: eps decides the scale
    out, _ = layernorm_forward(x, np.ones(2), np.zeros(2))
    np.testing.assert_allclose(out, [[-5e-4, 5e-4]] / np.sqrt(2.5e-7 + 1e-5), rtol=1e-12)


# ----------------------------------------------------------------------------- numerics


def test_large_offsets_keep_their_precision():
    rng = np.random.default_rng(5)
    small = rng.standard_normal((4, 50))
    x64 = 1e8 + small  # float64 timestamps-like values: E[x^2] - E[x]^2 would cancel to noise
    out, _ = layernorm_forward(x64, np.ones(50), np.zeros(50))
    np.testing.assert_allclose(out, _layernorm_by_formula(x64, np.ones(50), np.zeros(50)).astype(np.float64),
                               atol=1e-7)
    x32 = (1e4 + small).astype(np.float32)
    out32, _ = groupnorm_forward(x32.reshape(4, 5, 10), np.ones(5, np.float32), np.zeros(5, np.float32), 1)
    expected = _layernorm_by_formula(x32.astype(np.float64), np.ones(50), np.zeros(50)).astype(np.float64)
    assert out32.dtype == np.float32
    np.testing.assert_allclose(out32.reshape(4, 50), expected, atol=1e-5)


def test_constant_rows_and_tiny_variances():
    x = np.array([[3.0, 3.0, 3.0, 3.0], [1.0, 1.0 + 1e-6, 1.0 - 1e-6, 1.0]])
    with np.errstate(all="raise"):
        out, cache = layernorm_forward(x, np.ones(4), np.full(4, 0.5))
    np.testing.assert_array_equal(out[0], 0.5)  # x_hat = 0 exactly, not 0/0
    np.testing.assert_allclose(cache.inv_std[0, 0], 1 / np.sqrt(1e-5))
    np.testing.assert_allclose(out[1], 0.5 + np.array([0.0, 1e-6, -1e-6, 0.0]) / np.sqrt(5e-13 + 1e-5), rtol=1e-9)
    dx, _, _ = layernorm_backward(np.ones((2, 4)), cache)
    assert np.all(np.isfinite(dx))


@pytest.mark.parametrize("scale", [1e20, 1e36])
def test_float32_values_whose_squares_overflow_float32(scale):
    rng = np.random.default_rng(6)
    x = (rng.standard_normal((3, 4, 2, 2)) * scale).astype(np.float32)
    with np.errstate(all="raise"):
        out, cache = groupnorm_forward(x, np.ones(4, np.float32), np.zeros(4, np.float32), 2)
        out_ln, _ = layernorm_forward(x, np.ones((4, 2, 2), np.float32), np.zeros((4, 2, 2), np.float32))
    expected = _groupnorm_by_loop(x.astype(np.float64), np.ones(4), np.zeros(4), 2).astype(np.float64)
    assert out.dtype == np.float32 and np.all(np.isfinite(out))
    np.testing.assert_allclose(out, expected, atol=1e-5)
    np.testing.assert_allclose(out_ln.reshape(3, -1), _layernorm_by_formula(
        x.astype(np.float64).reshape(3, -1), np.ones(16), np.zeros(16)).astype(np.float64), atol=1e-5)
    dx, dgamma, dbeta = groupnorm_backward(np.ones_like(x), cache)  # a constant dout moves only beta
    assert np.all(np.isfinite(dx)) and np.max(np.abs(dx)) < 1e-3 / scale


def test_float64_values_near_the_top_of_the_range():
    x = np.array([[1e300, -2e300, 3e300, -3e300], [5e299, 0.0, -1e300, 2e300]])
    with np.errstate(all="raise"):
        out, _ = layernorm_forward(x, np.ones(4), np.zeros(4))
    scaled = x / 1e300
    np.testing.assert_allclose(out, (scaled - scaled.mean(1, keepdims=True)) / scaled.std(1, keepdims=True),
                               rtol=1e-12)


def test_nan_propagates_to_its_own_row_only():
    x = np.array([[1.0, np.nan, 2.0], [1.0, 2.0, 4.0]])
    out, _ = layernorm_forward(x, np.ones(3), np.zeros(3))
    assert np.all(np.isnan(out[0])) and np.all(np.isfinite(out[1]))


def test_dtypes_are_kept():
    rng = np.random.default_rng(7)
    for dtype in (np.float32, np.float64):
        x = rng.standard_normal((2, 4, 3, 3)).astype(dtype)
        out, cache = groupnorm_forward(x, np.ones(4, dtype), np.zeros(4, dtype), 2)
        assert out.dtype == dtype and all(a.dtype == dtype for a in cache)
        dx, dgamma, dbeta = groupnorm_backward(np.ones_like(x), cache)
        assert dx.dtype == dgamma.dtype == dbeta.dtype == dtype
        out, cache = layernorm_forward(x, np.ones((3, 3), dtype), np.zeros((3, 3), dtype))
        assert out.dtype == dtype and all(a.dtype == dtype for a in cache)
        assert all(g.dtype == dtype for g in layernorm_backward(np.ones_like(x), cache))


# ----------------------------------------------------------------------------- backward


def _numerical(forward, x, gamma, beta, dout):
    def loss(x_, g_, b_):
        return float(np.sum(forward(x_, g_, b_)[0] * dout))
    return (numerical_gradient(lambda v: loss(v, gamma, beta), x.copy()),
            numerical_gradient(lambda v: loss(x, v, beta), gamma.copy()),
            numerical_gradient(lambda v: loss(x, gamma, v), beta.copy()))


@pytest.mark.parametrize("shape, k", [((4, 5), 1), ((3, 2, 3, 2), 3), ((3, 2, 3, 2), 2), ((2, 5), 1)])
def test_layernorm_backward_matches_central_differences(shape, k):
    rng = np.random.default_rng(10 + k)
    x = rng.standard_normal(shape) * 2 + 1
    gamma, beta = rng.standard_normal(shape[-k:]), rng.standard_normal(shape[-k:])
    dout = rng.standard_normal(shape)
    _, cache = layernorm_forward(x, gamma, beta)
    got = layernorm_backward(dout, cache)
    for analytic, numeric in zip(got, _numerical(layernorm_forward, x, gamma, beta, dout)):
        assert rel_error(analytic, numeric) < 1e-7


@pytest.mark.parametrize("shape, groups", [((2, 4, 3, 3), 2), ((3, 6, 2, 2), 3), ((2, 4, 2, 3), 4), ((3, 6), 2)])
def test_groupnorm_backward_matches_central_differences(shape, groups):
    rng = np.random.default_rng(20 + groups)
    x = rng.standard_normal(shape) * 1.5 - 0.5
    gamma, beta = rng.standard_normal(shape[1]), rng.standard_normal(shape[1])
    dout = rng.standard_normal(shape)
    _, cache = groupnorm_forward(x, gamma, beta, groups)
    got = groupnorm_backward(dout, cache)
    forward = lambda x_, g_, b_: groupnorm_forward(x_, g_, b_, groups)  # noqa: E731
    for analytic, numeric in zip(got, _numerical(forward, x, gamma, beta, dout)):
        assert rel_error(analytic, numeric) < 1e-7


def test_the_input_gradient_of_each_sample_sums_to_zero():
    """Adding a constant to a sample's normalized values changes nothing: dx sums to 0 over each row."""
    rng = np.random.default_rng(30)
    x, dout = rng.standard_normal((4, 6, 2, 2)), rng.standard_normal((4, 6, 2, 2))
    _, cache = groupnorm_forward(x, rng.standard_normal(6), rng.standard_normal(6), 3)
    dx, _, _ = groupnorm_backward(dout, cache)
    np.testing.assert_allclose(dx.reshape(4, 3, -1).sum(axis=2), 0.0, atol=1e-12)


@pytest.mark.parametrize("layer, shape", [(LayerNorm(6, dtype=np.float64), (4, 6)),
                                          (LayerNorm((3, 2, 2), dtype=np.float64), (2, 3, 2, 2)),
                                          (GroupNorm(2, 4, dtype=np.float64), (3, 4, 2, 2)),
                                          (GroupNorm(2, 6, dtype=np.float64), (2, 6))])
def test_layers_pass_a_float64_gradient_check(layer, shape):
    rng = np.random.default_rng(40)
    layer.params["gamma"][...] = rng.uniform(0.5, 2.0, layer.gamma.shape)
    layer.params["beta"][...] = rng.standard_normal(layer.beta.shape)
    errors = check_layer_gradients(layer, rng.standard_normal(shape) + 0.3, rng=rng)
    assert set(errors) == {"x", "gamma", "beta"}
    assert max(errors.values()) < 1e-7, errors


# ----------------------------------------------------------------------------- PyTorch


def _torch_case(rng, shape, dtype):
    x = (rng.standard_normal(shape) * rng.uniform(0.5, 3.0) + rng.uniform(-2, 2)).astype(dtype)
    return x, rng.standard_normal(shape).astype(dtype)


def _tolerance(dtype):
    return {"rtol": 1e-10, "atol": 1e-11} if dtype == np.float64 else {"rtol": 2e-5, "atol": 2e-5}


def _random_shape(rng, low_rank=2):
    rank = int(rng.integers(low_rank, 5))
    return tuple(int(d) for d in rng.integers(1, 6, rank))


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("trial", range(6))
def test_layernorm_matches_pytorch_forward_and_backward(dtype, trial):
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(100 + trial)
    shape = _random_shape(rng)
    shape = (shape[0] + 1,) + shape[1:]
    k = int(rng.integers(1, len(shape)))
    x, dout = _torch_case(rng, shape, dtype)
    gamma, beta = rng.standard_normal(shape[-k:]).astype(dtype), rng.standard_normal(shape[-k:]).astype(dtype)
    eps = float(rng.choice([1e-5, 1e-3]))
    out, cache = layernorm_forward(x, gamma, beta, eps=eps)
    dx, dgamma, dbeta = layernorm_backward(dout, cache)
    tx, tg, tb = (torch.tensor(a, requires_grad=True) for a in (x, gamma, beta))
    theirs = torch.nn.functional.layer_norm(tx, shape[-k:], tg, tb, eps)
    theirs.backward(torch.from_numpy(dout))
    for ours, reference in ((out, theirs), (dx, tx.grad), (dgamma, tg.grad), (dbeta, tb.grad)):
        assert ours.dtype == dtype
        np.testing.assert_allclose(ours, reference.detach().numpy(), **_tolerance(dtype))


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("trial", range(6))
def test_groupnorm_matches_pytorch_forward_and_backward(dtype, trial):
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(200 + trial)
    groups = int(rng.integers(1, 4))
    shape = (int(rng.integers(1, 5)), groups * int(rng.integers(1, 4)), int(rng.integers(1, 6)), int(rng.integers(1, 6)))
    if shape[1] // groups * shape[2] * shape[3] == 1:
        shape = shape[:2] + (2, 3)  # one value per group: x_hat is 0 (both libraries), nothing to compare
    x, dout = _torch_case(rng, shape, dtype)
    gamma, beta = rng.standard_normal(shape[1]).astype(dtype), rng.standard_normal(shape[1]).astype(dtype)
    out, cache = groupnorm_forward(x, gamma, beta, groups)
    dx, dgamma, dbeta = groupnorm_backward(dout, cache)
    tx, tg, tb = (torch.tensor(a, requires_grad=True) for a in (x, gamma, beta))
    theirs = torch.nn.functional.group_norm(tx, groups, tg, tb, 1e-5)
    theirs.backward(torch.from_numpy(dout))
    for ours, reference in ((out, theirs), (dx, tx.grad), (dgamma, tg.grad), (dbeta, tb.grad)):
        assert ours.dtype == dtype
        np.testing.assert_allclose(ours, reference.detach().numpy(), **_tolerance(dtype))


def test_float32_near_1e18_matches_pytorch_and_beyond_it_we_stay_right():
    """PyTorch's float32 statistics hold up to values near 1e18 (their squares near 1e36 still fit float32);
    there we agree with it. From about 1e19 on its sums of squares overflow and its outputs are wrong, while
    ours still match the float64 formula (test_float32_values_whose_squares_overflow_float32)."""
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(300)
    gamma, beta = rng.standard_normal(4).astype(np.float32), rng.standard_normal(4).astype(np.float32)
    for scale, offset in ((1e18, 3e18), (1e18, 0.0)):
        x = (rng.standard_normal((2, 4, 3, 3)) * scale + offset).astype(np.float32)
        theirs = torch.nn.functional.group_norm(torch.from_numpy(x), 2, torch.from_numpy(gamma),
                                                torch.from_numpy(beta)).numpy()
        exact = _groupnorm_by_loop(x.astype(np.float64), gamma.astype(np.float64), beta.astype(np.float64), 2)
        np.testing.assert_allclose(theirs, exact.astype(np.float64), atol=1e-5)  # PyTorch is right here
        np.testing.assert_allclose(groupnorm_forward(x, gamma, beta, 2)[0], theirs, atol=1e-5)
        ln_theirs = torch.nn.functional.layer_norm(torch.from_numpy(x), (4, 3, 3)).numpy()
        ours, _ = layernorm_forward(x, np.ones((4, 3, 3), np.float32), np.zeros((4, 3, 3), np.float32))
        np.testing.assert_allclose(ours, ln_theirs, atol=1e-5)
    x = (rng.standard_normal((2, 4, 3, 3)) * 1e20).astype(np.float32)
    theirs = torch.nn.functional.layer_norm(torch.from_numpy(x), (4, 3, 3)).numpy()
    exact = _layernorm_by_formula(x.astype(np.float64), np.ones((4, 3, 3)), np.zeros((4, 3, 3))).astype(np.float64)
    ours, _ = layernorm_forward(x, np.ones((4, 3, 3), np.float32), np.zeros((4, 3, 3), np.float32))
    np.testing.assert_allclose(ours, exact, atol=1e-5)
    if np.allclose(theirs, exact, atol=1e-5):  # a PyTorch that accumulates in float64 would agree here too
        np.testing.assert_allclose(ours, theirs, atol=1e-5)


def test_layers_match_pytorch_modules_with_the_same_parameters():
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(301)
    x = rng.standard_normal((3, 6, 4, 4))
    ours_gn, theirs_gn = GroupNorm(3, 6, dtype=np.float64), torch.nn.GroupNorm(3, 6).double()
    ours_ln, theirs_ln = LayerNorm((6, 4, 4), dtype=np.float64), torch.nn.LayerNorm((6, 4, 4)).double()
    for ours, theirs in ((ours_gn, theirs_gn), (ours_ln, theirs_ln)):
        ours.params["gamma"][...] = rng.standard_normal(ours.gamma.shape)
        ours.params["beta"][...] = rng.standard_normal(ours.beta.shape)
        with torch.no_grad():
            theirs.weight.copy_(torch.from_numpy(ours.gamma))
            theirs.bias.copy_(torch.from_numpy(ours.beta))
        assert theirs.eps == ours.eps == 1e-5
        np.testing.assert_allclose(ours.forward(x, training=False), theirs(torch.from_numpy(x)).detach().numpy(),
                                   rtol=1e-12, atol=1e-12)


# ----------------------------------------------------------------------------- layers


def test_layer_defaults_match_pytorch():
    ln, gn = LayerNorm((3, 4)), GroupNorm(2, 6)
    assert ln.normalized_shape == (3, 4) and ln.eps == 1e-5 and gn.eps == 1e-5
    assert LayerNorm(5).normalized_shape == (5,)
    np.testing.assert_array_equal(ln.gamma, np.ones((3, 4)))
    np.testing.assert_array_equal(ln.beta, np.zeros((3, 4)))
    np.testing.assert_array_equal(gn.gamma, np.ones(6))
    np.testing.assert_array_equal(gn.beta, np.zeros(6))
    assert set(ln.params) == set(gn.params) == {"gamma", "beta"} and not ln.buffers and not gn.buffers
    assert ln.gamma.dtype == gn.beta.dtype == np.float32
    assert repr(ln) == "LayerNorm((3, 4), eps=1e-05)" and repr(gn) == "GroupNorm(2, 6, eps=1e-05)"
    assert repr(LayerNorm(5)) == "LayerNorm(5, eps=1e-05)"


@pytest.mark.parametrize("layer, shape", [(LayerNorm((4, 3, 3)), (5, 4, 3, 3)), (GroupNorm(2, 4), (5, 4, 3, 3)),
                                          (LayerNorm(7), (3, 7))])
def test_training_and_evaluation_compute_the_same(layer, shape):
    x = np.random.default_rng(50).standard_normal(shape).astype(np.float32) * 4 + 1
    train = layer.forward(x, training=True)
    np.testing.assert_array_equal(layer.forward(x, training=False), train)
    np.testing.assert_array_equal(layer.forward(x, training=np.bool_(True)), train)
    dx = layer.backward(np.ones_like(x))  # backward after an evaluation pass works too
    assert dx.shape == x.shape and layer.grads["gamma"].dtype == np.float32


@pytest.mark.parametrize("training", ["False", 0, 1, None, "yes"])
def test_training_must_be_a_bool(training):
    for layer, x in ((LayerNorm(3), np.ones((2, 3))), (GroupNorm(1, 2), np.ones((2, 2, 2, 2)))):
        with pytest.raises(TypeError, match="training must be True or False"):
            layer.forward(x, training=training)


def test_backward_before_forward_and_wrong_dout_shape():
    layer = GroupNorm(2, 4)
    with pytest.raises(RuntimeError, match="before forward"):
        layer.backward(np.ones((1, 4, 2, 2)))
    layer.forward(np.ones((1, 4, 2, 2), np.float32), training=True)
    with pytest.raises(ValueError, match=r"dout must have the shape of the forward output \(1, 4, 2, 2\)"):
        layer.backward(np.ones((1, 4, 2, 3)))


def _cnn(norm, rng):
    layers = {"group": [GroupNorm(2, 4)], "layer": [LayerNorm((4, 6, 6))]}[norm]
    return Sequential(Conv2D(1, 4, 3, padding=1, rng=rng), *layers, ReLU(), Flatten(), Dense(144, 3, rng=rng))


@pytest.mark.parametrize("norm", ["group", "layer"])
@pytest.mark.parametrize("optimizer", [lambda ps: SGD(ps, lr=0.02, momentum=0.9), lambda ps: Adam(ps, lr=1e-2)])
def test_layers_train_inside_sequential_with_the_optimizers(norm, optimizer):
    rng = np.random.default_rng(60)
    X = rng.standard_normal((24, 1, 6, 6)).astype(np.float32)
    y = (X[:, 0, :3].sum(axis=(1, 2)) > X[:, 0, 3:].sum(axis=(1, 2))).astype(np.intp)  # top half brighter?
    model = _cnn(norm, rng)
    state = model.state_dict()
    assert {"1.gamma", "1.beta"} <= set(state)
    history = fit(model, softmax_cross_entropy, optimizer(model.parameters()), X, y, epochs=15, batch_size=2,
                  rng=np.random.default_rng(61), progress=False, regularizer=L2(1e-3))
    assert history["loss"][-1] < 0.5 * history["loss"][0] and history["accuracy"][-1] > 0.9
    norm_layer = model.layers[1]
    assert not np.array_equal(norm_layer.gamma, state["1.gamma"])  # trained, in place
    assert norm_layer.gamma.dtype == np.float32
    assert len(model.weights()) == 2  # the conv kernel and the dense matrix: L2 leaves gamma/beta alone
    model.load_state_dict(state)
    np.testing.assert_array_equal(norm_layer.gamma, state["1.gamma"])


def test_one_prediction_does_not_depend_on_its_batch_unlike_batch_norm_in_training():
    rng = np.random.default_rng(70)
    x = rng.standard_normal((6, 4, 3, 3)).astype(np.float32)
    for layer in (GroupNorm(2, 4), LayerNorm((4, 3, 3))):
        np.testing.assert_array_equal(layer.forward(x[:2], training=True)[0], layer.forward(x, training=True)[0])
    bn = BatchNorm2d(4)
    assert not np.allclose(bn.forward(x[:2], training=True)[0], bn.forward(x, training=True)[0])


# ----------------------------------------------------------------------------- bad input


@pytest.mark.parametrize("call, error, pattern", [
    (lambda: layernorm_forward(np.ones((2, 3)), np.ones(4), np.zeros(4)), ValueError,
     r"gamma's shape \(4,\) is normalized_shape and must equal the trailing axes of x \(shape \(2, 3\)\)"),
    (lambda: layernorm_forward(np.ones((2, 3)), np.ones(3), np.zeros(2)), ValueError,
     r"beta must have shape \(3,\).*got shape \(2,\)"),
    (lambda: layernorm_forward(np.ones((2, 3)), np.ones((2, 2, 3)), np.zeros((2, 2, 3))), ValueError,
     "trailing axes"),
    (lambda: layernorm_forward(np.ones((2, 3)), np.ones(3), np.zeros(3), eps=0.0), ValueError, "eps must be > 0"),
    (lambda: layernorm_forward(np.ones((2, 3), dtype=int), np.ones(3), np.zeros(3)), TypeError,
     "x must have a floating dtype"),
    (lambda: layernorm_forward([[1.0, 2.0]], np.ones(2), np.zeros(2)), TypeError, "x must be a numpy array"),
    (lambda: groupnorm_forward(np.ones((2, 6, 2, 2)), np.ones(6), np.zeros(6), 4), ValueError,
     r"number of channels \(6\) must be divisible by num_groups \(4\).*divisors of 6: \[1, 2, 3, 6\]"),
    (lambda: groupnorm_forward(np.ones((2, 6, 2, 2)), np.ones(3), np.zeros(3), 3), ValueError,
     r"gamma must have shape \(6,\) \(one per channel"),
    (lambda: groupnorm_forward(np.ones(6), np.ones(6), np.zeros(6), 3), ValueError, "got a 1-D array"),
    (lambda: groupnorm_forward(np.ones((2, 6)), np.ones(6), np.zeros(6), 0), ValueError, "num_groups must be"),
    (lambda: groupnorm_forward(np.ones((2, 6)), np.ones(6), np.zeros(6), 2.0), TypeError,
     "num_groups must be an integer"),
    (lambda: GroupNorm(3, 8), ValueError, r"channels \(8\) must be divisible by num_groups \(3\)"),
    (lambda: GroupNorm(2, 0), ValueError, "num_channels must be an integer >= 1"),
    (lambda: LayerNorm(0), ValueError, "normalized_shape"),
    (lambda: LayerNorm(()), TypeError, "normalized_shape must be an int or a non-empty tuple"),
    (lambda: LayerNorm("4"), TypeError, "normalized_shape must be an int or a non-empty tuple"),
    (lambda: LayerNorm(True), TypeError, "normalized_shape must be an int or a tuple"),
    (lambda: LayerNorm(4, eps=-1e-5), ValueError, "eps must be > 0"),
    (lambda: GroupNorm(2, 4, dtype=int), TypeError, "dtype must be a floating dtype"),
    (lambda: LayerNorm(4).forward(np.ones((2, 5), np.float32), training=True), ValueError,
     r"trailing axes must be normalized_shape=\(4,\).*got shape \(2, 5\)"),
    (lambda: LayerNorm(4).forward(np.ones(4, np.float32), training=True), ValueError, "after a batch axis"),
    (lambda: GroupNorm(2, 4).forward(np.ones((2, 6, 3, 3), np.float32), training=True), ValueError,
     r"C = num_channels = 4 in axis 1, got shape \(2, 6, 3, 3\)"),
])
def test_bad_input_is_a_clear_error(call, error, pattern):
    with pytest.raises(error, match=pattern):
        call()


@pytest.mark.parametrize("backward, forward_cache", [
    (layernorm_backward, lambda: layernorm_forward(np.ones((2, 3)) * [1, 2, 3], np.ones(3), np.zeros(3))[1]),
    (groupnorm_backward, lambda: groupnorm_forward(np.arange(8.0).reshape(1, 2, 2, 2), np.ones(2), np.zeros(2),
                                                   1)[1]),
])
def test_backward_names_a_junk_cache_or_a_wrong_dout(backward, forward_cache):
    cache = forward_cache()
    with pytest.raises(TypeError, match="cache must be the cache returned by"):
        backward(np.ones(cache.x_hat.shape), "cache")
    with pytest.raises(TypeError, match="cache.x_hat must be a floating numpy array"):
        backward(np.ones(cache.x_hat.shape), cache._replace(x_hat=[1.0]))
    with pytest.raises(ValueError, match="dout must have the shape of the forward output"):
        backward(np.ones((7,)), cache)
    dx, _, _ = backward(np.ones(cache.x_hat.shape), tuple(cache))  # a plain tuple of the same values works
    assert dx.shape == cache.x_hat.shape


# ----------------------------------------------------------------------------- the lesson's model builder


def test_normalized_cnn_layers_and_shapes():
    from coursekit.batchnorm import BatchNorm1d
    from coursekit.models import NORMALIZATIONS, normalized_cnn

    expected = {"none": [], "batch": [BatchNorm2d, BatchNorm1d], "group": [GroupNorm, GroupNorm],
                "layer": [LayerNorm, LayerNorm]}
    x = np.random.default_rng(80).random((3, 1, 8, 8)).astype(np.float32)
    for norm in NORMALIZATIONS:
        model = normalized_cnn(rng=np.random.default_rng(0), norm=norm)
        kinds = [type(layer) for layer in model.layers if isinstance(layer, (BatchNorm2d, GroupNorm, LayerNorm))
                 or type(layer).__name__ == "BatchNorm1d"]
        assert kinds == expected[norm]
        assert model.forward(x, training=True).shape == (3, 10)
    layer_model = normalized_cnn(rng=np.random.default_rng(0), norm="layer", channels=4, hidden=12)
    assert layer_model.layers[1].normalized_shape == (4, 4, 4) and layer_model.layers[5].normalized_shape == (12,)
    group_model = normalized_cnn(rng=np.random.default_rng(0), norm="group", num_groups=2)
    assert (group_model.layers[1].num_groups, group_model.layers[1].num_channels) == (2, 8)
    assert (group_model.layers[5].num_groups, group_model.layers[5].num_channels) == (2, 32)


def test_normalized_cnn_variants_of_one_seed_start_from_the_same_weights():
    from coursekit.models import NORMALIZATIONS, normalized_cnn

    weights = [normalized_cnn(rng=np.random.default_rng(7), norm=norm).weights() for norm in NORMALIZATIONS]
    for other in weights[1:]:
        assert len(other) == len(weights[0]) == 3
        for a, b in zip(weights[0], other):
            np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("kwargs, error, pattern", [
    ({"norm": "instance"}, ValueError, "norm must be one of"),
    ({"norm": "group", "num_groups": 3}, ValueError, "num_groups=3 must divide channels=8 and hidden=32"),
    ({"channels": 0}, ValueError, "channels must be an integer >= 1"),
    ({"hidden": 2.0}, TypeError, "hidden must be an integer"),
])
def test_normalized_cnn_bad_arguments(kwargs, error, pattern):
    from coursekit.models import normalized_cnn

    with pytest.raises(error, match=pattern):
        normalized_cnn(rng=np.random.default_rng(0), **kwargs)
    with pytest.raises(TypeError, match="rng must be a numpy random Generator"):
        normalized_cnn(rng=0)

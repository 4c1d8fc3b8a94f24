"""Conv2D, MaxPool2D, Flatten: values against loop implementations and hand-worked cases,
float64 gradient checks, dtypes, shapes and bad input."""
import re

import numpy as np
import pytest

from coursekit import layers
from coursekit.conv import conv_output_size
from coursekit.dropout import SpatialDropout2D
from coursekit.gradcheck import check_layer_gradients, numerical_gradient, rel_error
from coursekit.layers import Conv2D, Dense, Flatten, GlobalAvgPool2D, MaxPool2D, ReLU
from coursekit.losses import softmax_cross_entropy
from coursekit.model import Sequential

# A correct float64 backward agrees with central differences to ~1e-8; entries whose true
# gradient is tiny raise the max elementwise relative error to ~1e-7 by rounding alone.
GRAD_TOL = 1e-6


def loop_conv(x, W, b, stride, padding):
    """Direct definition, one output value at a time (slow, obviously right)."""
    (sh, sw), (ph, pw) = stride, padding
    xp = np.pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw)))
    n, _, hp, wp = xp.shape
    f, _, kh, kw = W.shape
    h_out, w_out = (hp - kh) // sh + 1, (wp - kw) // sw + 1
    out = np.zeros((n, f, h_out, w_out))
    for i in range(n):
        for k in range(f):
            for r in range(h_out):
                for c in range(w_out):
                    out[i, k, r, c] = np.sum(xp[i, :, r * sh:r * sh + kh, c * sw:c * sw + kw] * W[k]) + b[k]
    return out


def loop_conv_backward(x, W, dout, stride, padding):
    """dx, dW, db by accumulating each output's contribution (the chain rule, written out)."""
    (sh, sw), (ph, pw) = stride, padding
    xp = np.pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw)))
    dxp, dW = np.zeros_like(xp), np.zeros_like(W)
    n, f, h_out, w_out = dout.shape
    kh, kw = W.shape[2:]
    for i in range(n):
        for k in range(f):
            for r in range(h_out):
                for c in range(w_out):
                    g = dout[i, k, r, c]
                    dW[k] += g * xp[i, :, r * sh:r * sh + kh, c * sw:c * sw + kw]
                    dxp[i, :, r * sh:r * sh + kh, c * sw:c * sw + kw] += g * W[k]
    h, w = x.shape[2:]
    return dxp[:, :, ph:ph + h, pw:pw + w], dW, dout.sum(axis=(0, 2, 3))


CONFIGS = [  # (in, out, kernel, stride, padding, input H, W)
    (1, 2, 3, 1, 0, 5, 5),
    (3, 4, 3, 1, 1, 6, 7),
    (2, 3, 3, 2, 1, 7, 6),
    (2, 2, (2, 3), (2, 1), (0, 1), 5, 6),
    (3, 2, 1, 1, 0, 4, 4),
    (2, 2, 5, 3, 2, 5, 5),
]


def _conv(cfg, seed=0):
    c_in, c_out, k, s, p, h, w = cfg
    rng = np.random.default_rng(seed)
    layer = Conv2D(c_in, c_out, k, stride=s, padding=p, rng=rng, dtype=np.float64)
    layer.params["b"] = rng.standard_normal(c_out)
    x = rng.standard_normal((3, c_in, h, w))
    return layer, x, rng


def _pairs(cfg):
    _, _, k, s, p, _, _ = cfg
    as_pair = lambda v: v if isinstance(v, tuple) else (v, v)  # noqa: E731
    return as_pair(s), as_pair(p)


@pytest.mark.parametrize("cfg", CONFIGS)
def test_conv_forward_matches_loop_definition(cfg):
    layer, x, _ = _conv(cfg)
    stride, padding = _pairs(cfg)
    expected = loop_conv(x, layer.params["W"], layer.params["b"], stride, padding)
    out = layer.forward(x, training=True)
    assert out.shape == expected.shape
    np.testing.assert_allclose(out, expected, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("cfg", CONFIGS)
def test_conv_backward_matches_loop_chain_rule(cfg):
    layer, x, rng = _conv(cfg)
    stride, padding = _pairs(cfg)
    out = layer.forward(x, training=True)
    dout = rng.standard_normal(out.shape)
    dx = layer.backward(dout)
    dx_ref, dW_ref, db_ref = loop_conv_backward(x, layer.params["W"], dout, stride, padding)
    np.testing.assert_allclose(dx, dx_ref, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(layer.grads["W"], dW_ref, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(layer.grads["b"], db_ref, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("cfg", CONFIGS)
def test_conv_gradient_check(cfg):
    layer, x, rng = _conv(cfg, seed=1)
    errors = check_layer_gradients(layer, x, rng=rng, h=1e-5)
    assert set(errors) == {"x", "W", "b"}
    assert max(errors.values()) < GRAD_TOL, errors


def test_conv_hand_worked_example():
    # 3x3 image 1..9, 2x2 kernel [[1, 0], [0, -1]] -> x[i, j] - x[i+1, j+1] = -4 everywhere; bias 0.5.
    layer = Conv2D(1, 1, 2, rng=np.random.default_rng(0), dtype=np.float64)
    layer.params["W"][...] = np.array([[[[1.0, 0.0], [0.0, -1.0]]]])
    layer.params["b"][...] = 0.5
    x = np.arange(1.0, 10.0).reshape(1, 1, 3, 3)
    out = layer.forward(x, training=True)
    np.testing.assert_array_equal(out, np.full((1, 1, 2, 2), -3.5))
    dx = layer.backward(np.ones((1, 1, 2, 2)))
    # each input pixel receives +1 from every window where it is the top-left, -1 where bottom-right
    np.testing.assert_array_equal(dx[0, 0], np.array([[1.0, 1.0, 0.0], [1.0, 0.0, -1.0], [0.0, -1.0, -1.0]]))
    np.testing.assert_array_equal(layer.grads["b"], [4.0])
    # dW[u, v] = sum of the window entries at offset (u, v): 1+2+4+5, 2+3+5+6, 4+5+7+8, 5+6+8+9
    np.testing.assert_array_equal(layer.grads["W"][0, 0], np.array([[12.0, 16.0], [24.0, 28.0]]))


def test_conv_padding_one_keeps_size_and_sees_zeros():
    layer = Conv2D(1, 1, 3, padding=1, rng=np.random.default_rng(0), dtype=np.float64)
    layer.params["W"][...] = 1.0
    out = layer.forward(np.ones((1, 1, 4, 4)), training=False)
    # corner windows cover 4 real pixels, edges 6, the interior 9
    expected = np.array([[4, 6, 6, 4], [6, 9, 9, 6], [6, 9, 9, 6], [4, 6, 6, 4]], dtype=float)
    np.testing.assert_array_equal(out[0, 0], expected)


@pytest.mark.parametrize("size, kernel, stride, padding, expected", [
    (8, 3, 1, 1, 8), (8, 3, 1, 0, 6), (8, 3, 2, 1, 4), (7, 3, 2, 0, 3), (5, 5, 1, 0, 1), (4, 1, 3, 0, 2)])
def test_conv_output_size_by_hand(size, kernel, stride, padding, expected):
    assert conv_output_size(size, kernel, stride, padding) == expected
    layer = Conv2D(1, 1, kernel, stride=stride, padding=padding, rng=np.random.default_rng(0))
    assert layer.forward(np.zeros((2, 1, size, size), np.float32), training=False).shape == (2, 1, expected, expected)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_conv_computes_in_input_dtype(dtype):
    layer = Conv2D(2, 3, 3, padding=1, rng=np.random.default_rng(0))
    x = np.random.default_rng(1).standard_normal((2, 2, 5, 5)).astype(dtype)
    out = layer.forward(x, training=True)
    assert out.dtype == dtype and out.flags["C_CONTIGUOUS"]
    dx = layer.backward(np.ones_like(out))
    assert dx.dtype == dtype
    assert layer.grads["W"].dtype == layer.params["W"].dtype == np.float32
    assert layer.grads["W"].shape == (3, 2, 3, 3) and layer.grads["b"].shape == (3,)


def test_conv_he_initialization():
    layer = Conv2D(16, 64, 3, rng=np.random.default_rng(0))
    W = layer.params["W"]
    assert W.shape == (64, 16, 3, 3) and W.dtype == np.float32
    # 9,216 draws: the sample std is within 3% of sqrt(2 / fan_in) with overwhelming probability
    assert abs(W.std() / np.sqrt(2.0 / (16 * 9)) - 1) < 0.03
    assert abs(W.mean()) < 0.01
    np.testing.assert_array_equal(layer.params["b"], np.zeros(64))


def test_conv_same_seed_same_weights():
    a = Conv2D(2, 3, 3, rng=np.random.default_rng(5)).params["W"]
    b = Conv2D(2, 3, 3, rng=np.random.default_rng(5)).params["W"]
    np.testing.assert_array_equal(a, b)


def test_conv_kernel_is_a_weight_and_bias_is_not():
    model = Sequential(Conv2D(1, 2, 3, rng=np.random.default_rng(0)), Flatten())
    flags = {p.name: p.is_weight for p in model.parameters()}
    assert flags == {"0.W": True, "0.b": False}
    assert [w.shape for w in model.weights()] == [(2, 1, 3, 3)]


# ----------------------------------------------------------------------------- MaxPool2D

def test_maxpool_hand_worked_example():
    x = np.array([[1.0, 3.0, 2.0, 0.0],
                  [4.0, 2.0, 1.0, 5.0],
                  [0.0, 1.0, 9.0, 8.0],
                  [7.0, 1.0, 8.0, 9.0]]).reshape(1, 1, 4, 4)
    pool = MaxPool2D(2)
    out = pool.forward(x, training=True)
    np.testing.assert_array_equal(out[0, 0], [[4.0, 5.0], [7.0, 9.0]])
    dx = pool.backward(np.array([[10.0, 20.0], [30.0, 40.0]]).reshape(1, 1, 2, 2))
    # bottom-right window has two 9s: the gradient goes to the first in row-major order only
    expected = np.array([[0, 0, 0, 0], [10, 0, 0, 20], [0, 0, 40, 0], [30, 0, 0, 0]], dtype=float)
    np.testing.assert_array_equal(dx[0, 0], expected)


def test_maxpool_floors_like_pytorch_and_leftovers_get_no_gradient():
    x = np.arange(25.0).reshape(1, 1, 5, 5)
    pool = MaxPool2D(2)
    out = pool.forward(x, training=True)
    np.testing.assert_array_equal(out[0, 0], [[6.0, 8.0], [16.0, 18.0]])
    dx = pool.backward(np.ones((1, 1, 2, 2)))
    assert dx.shape == (1, 1, 5, 5)
    assert dx[0, 0, 4].sum() == 0 and dx[0, 0, :, 4].sum() == 0
    assert dx.sum() == 4


def test_maxpool_all_equal_window_sends_gradient_once():
    pool = MaxPool2D(2)
    pool.forward(np.zeros((1, 1, 2, 2)), training=True)  # e.g. after a ReLU
    dx = pool.backward(np.ones((1, 1, 1, 1)))
    np.testing.assert_array_equal(dx[0, 0], [[1.0, 0.0], [0.0, 0.0]])


@pytest.mark.parametrize("kernel, shape", [(2, (2, 3, 6, 4)), (3, (2, 2, 7, 6)), ((2, 3), (1, 2, 5, 7))])
def test_maxpool_gradient_check(kernel, shape):
    rng = np.random.default_rng(3)
    errors = check_layer_gradients(MaxPool2D(kernel), rng.standard_normal(shape), rng=rng, h=1e-5)
    assert errors["x"] < GRAD_TOL, errors


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_maxpool_keeps_dtype(dtype):
    pool = MaxPool2D(2)
    out = pool.forward(np.ones((1, 1, 4, 4), dtype=dtype), training=True)
    assert out.dtype == dtype and pool.backward(np.ones_like(out)).dtype == dtype


def test_maxpool_matches_loop_on_random_input():
    rng = np.random.default_rng(4)
    x = rng.standard_normal((3, 2, 6, 9))
    out = MaxPool2D((2, 3)).forward(x, training=False)
    expected = np.array([[[[x[n, c, 2 * i:2 * i + 2, 3 * j:3 * j + 3].max() for j in range(3)] for i in range(3)]
                          for c in range(2)] for n in range(3)])
    np.testing.assert_array_equal(out, expected)


# ----------------------------------------------------------------------------- GlobalAvgPool2D

def test_global_avg_pool_hand_worked_example():
    x = np.arange(2 * 3 * 2 * 2, dtype=np.float64).reshape(2, 3, 2, 2)
    pool = GlobalAvgPool2D()
    out = pool.forward(x, training=True)
    # channel (0, 0) holds 0, 1, 2, 3: mean 1.5; every later channel is 4 more
    np.testing.assert_array_equal(out, 1.5 + 4 * np.arange(6).reshape(2, 3))
    dx = pool.backward(np.array([[4.0, 8.0, 0.0], [-4.0, 1.0, 2.0]]))
    assert dx.shape == x.shape
    np.testing.assert_array_equal(dx[0, 1], np.full((2, 2), 2.0))  # 8 spread evenly over 4 pixels
    np.testing.assert_array_equal(dx[1, 0], np.full((2, 2), -1.0))


@pytest.mark.parametrize("shape", [(2, 3, 4, 5), (1, 1, 1, 1), (3, 2, 7, 3)])
def test_global_avg_pool_gradient_check(shape):
    rng = np.random.default_rng(11)
    assert check_layer_gradients(GlobalAvgPool2D(), rng.standard_normal(shape), rng=rng)["x"] < GRAD_TOL


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_global_avg_pool_keeps_dtype_and_backward_owns_its_memory(dtype):
    x = np.random.default_rng(0).standard_normal((2, 3, 4, 4)).astype(dtype)
    pool = GlobalAvgPool2D()
    out = pool.forward(x, training=False)
    assert out.dtype == dtype and out.shape == (2, 3)
    np.testing.assert_allclose(out, x.astype(np.float64).mean(axis=(2, 3)), rtol=1e-6)
    dx = pool.backward(np.ones_like(out))
    assert dx.dtype == dtype and dx.flags.writeable and dx.flags.owndata


def test_global_avg_pool_bad_input():
    with pytest.raises(ValueError, match=r"x must be 4-D feature maps \(N, C, H, W\).*\(4, 3\)"):
        GlobalAvgPool2D().forward(np.ones((4, 3)), training=True)
    pool = GlobalAvgPool2D()
    with pytest.raises(RuntimeError, match="before forward"):
        pool.backward(np.ones((2, 3)))
    pool.forward(np.ones((2, 3, 4, 4)), training=True)
    with pytest.raises(ValueError, match=r"dout must have the shape of the forward output \(2, 3\)"):
        pool.backward(np.ones((2, 3, 1, 1)))


# ----------------------------------------------------------------------------- Flatten and a whole CNN

def test_flatten_round_trip_and_gradient():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((2, 3, 4, 5))
    flat = Flatten()
    out = flat.forward(x, training=True)
    assert out.shape == (2, 60)
    np.testing.assert_array_equal(out[1, 20:25], x[1, 1, 0])  # C order: channel, then row, then column
    np.testing.assert_array_equal(flat.backward(out), x)
    assert check_layer_gradients(Flatten(), x, rng=rng)["x"] < GRAD_TOL


def test_spatial_dropout_layer_gradient_check():
    rng = np.random.default_rng(0)
    errors = check_layer_gradients(SpatialDropout2D(0.5, rng=np.random.default_rng(1)),
                                   rng.standard_normal((4, 3, 3, 3)), rng=rng, h=1e-5)
    assert errors["x"] < GRAD_TOL


def _small_cnn(rng, dtype=np.float64):
    return Sequential(Conv2D(1, 3, 3, padding=1, rng=rng, dtype=dtype), ReLU(), MaxPool2D(2),
                      Conv2D(3, 4, 3, padding=1, rng=rng, dtype=dtype), ReLU(), MaxPool2D(2),
                      Flatten(), Dense(16, 5, rng=rng, dtype=dtype))


def test_whole_cnn_gradient_check_through_every_layer():
    rng = np.random.default_rng(7)
    model = _small_cnn(rng)
    x = rng.standard_normal((3, 1, 8, 8))
    labels = np.array([0, 3, 4])

    def loss_of(inputs):
        return softmax_cross_entropy(model.forward(inputs, training=True), labels)[0]

    def loss_with(p, value):  # the loss with parameter p set to value (numerical_gradient's contract)
        original = p.layer.params[p.key]
        p.layer.params[p.key] = value
        try:
            return loss_of(x)
        finally:
            p.layer.params[p.key] = original

    _, dlogits = softmax_cross_entropy(model.forward(x, training=True), labels)
    dx = model.backward(dlogits)
    analytic = {p.name: p.grad.copy() for p in model.parameters()}
    assert rel_error(dx, numerical_gradient(loss_of, x.copy(), h=1e-5)) < GRAD_TOL
    for p in model.parameters():
        numeric = numerical_gradient(lambda v, p=p: loss_with(p, v), p.value.copy(), h=1e-5)
        assert rel_error(analytic[p.name], numeric) < GRAD_TOL, p.name


def test_cnn_learns_digits():
    from coursekit import datasets
    from coursekit.optim import Adam
    from coursekit.training import evaluate, fit

    data = datasets.load_digits(n_train=200, n_val=100)
    rng = np.random.default_rng(0)
    model = _small_cnn(rng, dtype=np.float32)
    model.layers[-1] = Dense(16, 10, rng=rng)
    fit(model, softmax_cross_entropy, Adam(model.parameters(), lr=1e-2), data.X_train, data.y_train,
        epochs=30, batch_size=32, rng=rng, progress=False)
    _, val_acc = evaluate(model, softmax_cross_entropy, data.X_val, data.y_val)
    assert val_acc > 0.7  # chance is 0.1


def test_layers_module_reexports():
    assert {"Conv2D", "MaxPool2D", "GlobalAvgPool2D", "Flatten"} <= set(layers.__all__)
    assert layers.GlobalAvgPool2D is GlobalAvgPool2D
    assert layers.Conv2D is Conv2D


# ----------------------------------------------------------------------------- bad input

@pytest.fixture
def conv():
    return Conv2D(3, 4, 3, rng=np.random.default_rng(0))


@pytest.mark.parametrize("shape", [(3, 8, 8), (2, 3), (1, 1, 3, 8, 8)])
def test_conv_rejects_non_4d_input_naming_the_shape(conv, shape):
    with pytest.raises(ValueError, match=r"4-D.*" + re.escape(str(shape))):
        conv.forward(np.zeros(shape, np.float32), training=True)


def test_conv_rejects_wrong_channel_count(conv):
    with pytest.raises(ValueError, match=r"1 channels \(shape \(2, 1, 8, 8\)\).*expects 3"):
        conv.forward(np.zeros((2, 1, 8, 8), np.float32), training=True)


def test_conv_rejects_channels_last_input(conv):
    with pytest.raises(ValueError, match="NCHW"):
        conv.forward(np.zeros((2, 8, 8, 3), np.float32), training=True)


def test_conv_rejects_kernel_larger_than_padded_input():
    layer = Conv2D(1, 1, 5, padding=1, rng=np.random.default_rng(0))
    with pytest.raises(ValueError, match=r"kernel \(5, 5\) is larger than the padded input \(4, 4\)"):
        layer.forward(np.zeros((1, 1, 2, 2), np.float32), training=True)
    assert layer.forward(np.zeros((1, 1, 3, 3), np.float32), training=True).shape == (1, 1, 1, 1)


def test_conv_rejects_integer_input(conv):
    with pytest.raises(TypeError, match="floating dtype"):
        conv.forward(np.zeros((1, 3, 4, 4), dtype=np.int64), training=True)


@pytest.mark.parametrize("kwargs, error, pattern", [
    ({"kernel_size": 0}, ValueError, "kernel_size must be an integer >= 1, got 0"),
    ({"kernel_size": 2.5}, TypeError, "kernel_size must be an integer or a pair"),
    ({"kernel_size": (3,)}, ValueError, r"kernel_size must be an integer or a pair \(height, width\)"),
    ({"kernel_size": 3, "stride": 0}, ValueError, "stride must be an integer >= 1, got 0"),
    ({"kernel_size": 3, "padding": -1}, ValueError, "padding must be an integer >= 0, got -1"),
    ({"kernel_size": 3, "padding": (1, -2)}, ValueError, r"padding\[1\] must be an integer >= 0, got -2"),
])
def test_conv_rejects_bad_hyperparameters(kwargs, error, pattern):
    with pytest.raises(error, match=pattern):
        Conv2D(1, 2, rng=np.random.default_rng(0), **kwargs)


def test_conv_requires_a_generator():
    with pytest.raises(TypeError, match="rng must be a numpy random Generator"):
        Conv2D(1, 2, 3, rng=0)
    with pytest.raises(ValueError, match="in_channels must be an integer >= 1, got 0"):
        Conv2D(0, 2, 3, rng=np.random.default_rng(0))


def test_backward_before_forward_and_wrong_dout(conv):
    with pytest.raises(RuntimeError, match="before forward"):
        conv.backward(np.zeros((1, 4, 2, 2), np.float32))
    conv.forward(np.zeros((2, 3, 5, 5), np.float32), training=True)
    with pytest.raises(ValueError, match=r"\(2, 4, 3, 3\), got \(2, 4, 5, 5\)"):
        conv.backward(np.zeros((2, 4, 5, 5), np.float32))
    pool = MaxPool2D(2)
    with pytest.raises(RuntimeError, match="before forward"):
        pool.backward(np.zeros((1, 1, 1, 1)))


def test_maxpool_bad_input():
    pool = MaxPool2D(3)
    with pytest.raises(ValueError, match=r"4-D.*\(2, 6, 6\)"):
        pool.forward(np.zeros((2, 6, 6)), training=True)
    with pytest.raises(ValueError, match=r"kernel \(3, 3\) is larger than the feature maps \(2, 6\)"):
        pool.forward(np.zeros((1, 1, 2, 6)), training=True)
    with pytest.raises(ValueError, match="kernel_size must be an integer >= 1, got 0"):
        MaxPool2D(0)


def test_flatten_bad_input():
    with pytest.raises(ValueError, match=r"1-D array of shape \(5,\)"):
        Flatten().forward(np.zeros(5), training=True)


# ----------------------------------------------------------------------------- the fast paths against the plain im2col
# Conv2D works on chunks of samples (their im2col matrices stay in cache), rebuilds each chunk's
# im2col matrix in backward instead of keeping the batch's, and for stride-1 convolutions that keep
# the size copies and adds whole shifted runs of the flattened maps (coursekit/conv.py). These
# tests hold it to the plain im2col/col2im below (Conv2D as it was before issue 22: one im2col
# matrix per batch, one product for each of out, dW, dx): in float64 to 1e-12, in float32 within
# float32 rounding of the float64 result, as close as the plain float32 version is; and the same
# shapes, dtypes and memory layout (C-ordered NCHW) of every result. MaxPool2D stays bit for bit.

def plain_conv_forward(layer, x):
    """Zero-pad x, copy each kernel offset's window into (C, kh, kw, N, H_out, W_out), one product, add b."""
    (kh, kw), (sh, sw), (ph, pw) = layer.kernel_size, layer.stride, layer.padding
    n, c, h, w = x.shape
    h_out, w_out = (h + 2 * ph - kh) // sh + 1, (w + 2 * pw - kw) // sw + 1
    xp = np.zeros((n, c, h + 2 * ph, w + 2 * pw), dtype=x.dtype)
    xp[:, :, ph:ph + h, pw:pw + w] = x
    cols = np.empty((c, kh, kw, n, h_out, w_out), dtype=x.dtype)
    for u in range(kh):
        for v in range(kw):
            cols[:, u, v] = xp[:, :, u:u + sh * (h_out - 1) + 1:sh, v:v + sw * (w_out - 1) + 1:sw].transpose(1, 0, 2, 3)
    cols = cols.reshape(c * kh * kw, -1).T
    W = layer.params["W"].astype(x.dtype).reshape(layer.out_channels, -1)
    out = cols @ W.T
    result = out.reshape(n, h_out, w_out, -1).transpose(0, 3, 1, 2) + layer.params["b"].astype(x.dtype).reshape(-1, 1, 1)
    return np.ascontiguousarray(result), cols


def plain_conv_backward(layer, x_shape, cols, dout):
    """dW = g.T @ cols, db = sum of dout, dx = col2im(g @ W): each pixel adds its terms offset by offset from 0."""
    (kh, kw), (sh, sw), (ph, pw) = layer.kernel_size, layer.stride, layer.padding
    n, c, h, w = x_shape
    _, f, h_out, w_out = dout.shape
    g = dout.transpose(0, 2, 3, 1).reshape(-1, f)
    W = layer.params["W"]
    dW = (g.T @ cols).reshape(W.shape).astype(W.dtype)
    db = dout.sum(axis=(0, 2, 3)).astype(W.dtype)
    dcols = (g @ W.astype(dout.dtype).reshape(f, -1)).reshape(n, h_out, w_out, c, kh, kw)
    dxp = np.zeros((n, c, h + 2 * ph, w + 2 * pw), dtype=np.result_type(dout.dtype, cols.dtype))
    for u in range(kh):
        for v in range(kw):
            dxp[:, :, u:u + sh * (h_out - 1) + 1:sh, v:v + sw * (w_out - 1) + 1:sw] += \
                dcols[..., u, v].transpose(0, 3, 1, 2)
    return np.ascontiguousarray(dxp[:, :, ph:ph + h, pw:pw + w]), dW, db


def assert_same_bits(got, expected, what):
    assert got.dtype == expected.dtype and got.shape == expected.shape, what
    assert got.strides == expected.strides, f"{what}: memory layout {got.strides} != {expected.strides}"
    assert np.array_equal(np.ascontiguousarray(got).view(np.uint8), np.ascontiguousarray(expected).view(np.uint8)), \
        f"{what}: values differ by up to {np.max(np.abs(got.astype(float) - expected.astype(float)))}"


def assert_matches_plain(got, plain, plain64, what):
    """got: the layer's result; plain: the plain version in the same dtype; plain64: the plain version on the same
    values in float64. Same dtype, shape and C-ordered layout as plain; float64: equal to 1e-12; float32: as close
    to plain64 as float32 rounding of these sums allows (and as plain is)."""
    assert got.dtype == plain.dtype and got.shape == plain.shape, what
    assert got.flags["C_CONTIGUOUS"], f"{what}: not C-ordered (strides {got.strides})"
    scale = max(float(np.max(np.abs(plain64))), 1e-30)
    if got.dtype == np.float64:
        np.testing.assert_allclose(got, plain64, rtol=1e-12, atol=1e-13 * scale, err_msg=what)
    else:
        error, plain_error = np.max(np.abs(got - plain64)), np.max(np.abs(plain - plain64))
        assert error <= 1e-5 * scale, f"{what}: off by {error} (scale {scale})"
        assert error <= 4 * plain_error + 1e-7 * scale, f"{what}: off by {error}, the plain version by {plain_error}"


EXACT_CONFIGS = [  # (N, in, out, kernel, stride, padding, H, W)
    (4, 3, 4, 3, 1, 1, 8, 8),        # stride 1, same size: the shifted runs
    (130, 16, 8, 3, 1, 1, 8, 8),     # three chunks of samples (coursekit.conv._CHUNK_ELEMENTS)
    (70, 16, 4, 3, 2, 1, 16, 16),    # two chunks, strided copies
    (5, 2, 3, 5, 1, 0, 9, 7),        # kernel 5, no padding
    (5, 2, 3, 5, 1, 2, 6, 7),        # kernel 5, same size: two border rows and columns per side
    (5, 2, 3, 5, 2, 1, 9, 8),        # kernel 5, stride 2
    (3, 4, 2, 3, 2, 0, 8, 8),        # stride 2, no padding
    (3, 2, 5, 3, 1, 3, 4, 5),        # padding wider than the kernel: some offsets see only zeros
    (6, 3, 1, 3, 1, 1, 6, 6),        # one output channel
    (6, 1, 4, 3, 1, 1, 5, 6),        # one input channel (its maps are already channel-major)
    (4, 3, 2, 1, 1, 0, 5, 5),        # 1x1 kernel
    (2, 1, 4, (2, 3), (1, 2), (0, 1), 5, 7),
    (2, 2, 3, (3, 5), 1, (1, 2), 4, 6),  # same size, a non-square kernel
    (3, 4, 4, 3, 1, 1, 7, 6),        # same size, C_out <= C_in: dx as dout convolved with the flipped kernel
    (2, 5, 3, (3, 5), 1, (1, 2), 4, 6),  # ... with a non-square kernel
    (140, 16, 16, 3, 1, 1, 8, 8),    # ... over several chunks
]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("cfg", EXACT_CONFIGS)
def test_conv_matches_the_plain_im2col_and_col2im(cfg, dtype):
    n, c_in, c_out, k, s, p, h, w = cfg
    rng = np.random.default_rng(3)
    layer = Conv2D(c_in, c_out, k, stride=s, padding=p, rng=rng, dtype=dtype)
    layer.params["b"][...] = rng.standard_normal(c_out)
    layer64 = Conv2D(c_in, c_out, k, stride=s, padding=p, rng=rng, dtype=np.float64)
    for step, training in enumerate([True, True, False, True]):  # reused work arrays, an evaluation batch between
        x = rng.standard_normal((n + (step == 2), c_in, h, w)).astype(dtype)
        x[x < -1.5] = -0.0
        layer64.params["W"][...], layer64.params["b"][...] = layer.params["W"], layer.params["b"]
        out = layer.forward(x, training=training)
        plain, cols = plain_conv_forward(layer, x)
        plain64, cols64 = plain_conv_forward(layer64, x.astype(np.float64))
        assert_matches_plain(out, plain, plain64, f"forward, step {step}")
        dout = rng.standard_normal(out.shape).astype(dtype)
        dx = layer.backward(dout)
        expected = plain_conv_backward(layer, x.shape, cols, dout)
        expected64 = plain_conv_backward(layer64, x.shape, cols64, dout.astype(np.float64))
        for name, got, plain, plain64 in zip(("dx", "dW", "db"), (dx, layer.grads["W"], layer.grads["b"]),
                                             expected, expected64):
            assert_matches_plain(got, plain, plain64, f"{name}, step {step}")
        layer.params["W"] -= 0.01 * layer.grads["W"]


@pytest.mark.parametrize("cfg", [(4, 3, 4, 3, 1, 1, 8, 8), (70, 16, 4, 3, 2, 1, 16, 16), (5, 2, 3, 5, 1, 0, 9, 7)])
def test_conv_backward_without_the_input_gradient_gives_the_same_parameter_gradients(cfg):
    n, c_in, c_out, k, s, p, h, w = cfg
    rng = np.random.default_rng(4)
    layer = Conv2D(c_in, c_out, k, stride=s, padding=p, rng=rng)
    x = rng.standard_normal((n, c_in, h, w)).astype(np.float32)
    out = layer.forward(x, training=True)
    dout = rng.standard_normal(out.shape).astype(np.float32)
    dx = layer.backward(dout)
    full = {key: value.copy() for key, value in layer.grads.items()}
    assert layer.backward(dout, input_grad=False) is None
    for key in ("W", "b"):
        assert_same_bits(layer.grads[key], full[key], key)
    assert_same_bits(layer.backward(dout, input_grad=True), dx, "dx asked for again")
    with pytest.raises(TypeError, match=r"Conv2D.backward: input_grad must be True or False, got 'no'"):
        layer.backward(dout, input_grad="no")


def test_conv_keeps_a_reference_to_its_input_not_a_copy_of_its_im2col_matrix():
    # backward rebuilds the im2col matrix from x: the cache is x itself (as Dense's), a few bytes of
    # bookkeeping beyond it, whatever the size of the im2col matrix
    rng = np.random.default_rng(0)
    layer = Conv2D(8, 4, 3, padding=1, rng=rng)
    x = rng.standard_normal((16, 8, 12, 12)).astype(np.float32)
    layer.forward(x, training=True)
    arrays = [v for v in layer._cache if isinstance(v, np.ndarray)]
    assert len(arrays) == 1 and arrays[0] is x


def test_conv_outputs_never_share_memory_with_the_reused_work_arrays():
    rng = np.random.default_rng(0)
    layer = Conv2D(2, 3, 3, padding=1, rng=rng)
    x1, x2 = rng.standard_normal((2, 4, 2, 6, 6)).astype(np.float32)
    out1 = layer.forward(x1, training=True)
    dx1 = layer.backward(np.ones_like(out1))
    kept_out, kept_dx = out1.copy(), dx1.copy()
    out2 = layer.forward(x2, training=True)
    layer.backward(out2)
    np.testing.assert_array_equal(out1, kept_out)
    np.testing.assert_array_equal(dx1, kept_dx)


def test_conv_padding_stays_zero_from_batch_to_batch_and_between_layers():
    # The same layer on new batches (reused zero-padded work array) and two layers taking turns
    # (shared scratch buffers) give what fresh layers give.
    rng = np.random.default_rng(1)
    a = Conv2D(2, 3, 3, padding=1, rng=np.random.default_rng(5))
    b = Conv2D(3, 2, 5, stride=2, padding=2, rng=np.random.default_rng(6))
    for _ in range(3):
        x = (rng.standard_normal((4, 2, 7, 7)) + 10).astype(np.float32)  # large values: stray data would show
        ya, yb = a.forward(x, training=True), None
        yb = b.forward(ya, training=True)
        fresh_a = Conv2D(2, 3, 3, padding=1, rng=np.random.default_rng(5))
        fresh_a.params["W"][...] = a.params["W"]
        fresh_b = Conv2D(3, 2, 5, stride=2, padding=2, rng=np.random.default_rng(6))
        fresh_b.params["W"][...] = b.params["W"]
        np.testing.assert_array_equal(yb, fresh_b.forward(fresh_a.forward(x, training=True), training=True))
        np.testing.assert_array_equal(a.backward(b.backward(np.ones_like(yb))),
                                      fresh_a.backward(fresh_b.backward(np.ones_like(yb))))
        a.params["W"] -= 0.01 * a.grads["W"]  # a training step changes the weights, not the padding
        b.params["W"] -= 0.01 * b.grads["W"]


@pytest.mark.parametrize("cfg", [  # (in, out, kernel, stride, padding, H, W): the paths added for speed
    (2, 3, 5, 1, 1, 6, 7), (2, 2, 5, 2, 0, 9, 8), (3, 2, 3, 2, 0, 8, 7), (1, 2, 3, 1, 3, 3, 4), (2, 1, 3, 2, 1, 6, 6),
    (1, 3, 3, 1, 1, 5, 6),             # stride 1, same size, one input channel: shifted runs, col2im
    (2, 3, 5, 1, 2, 6, 5),             # ... kernel 5: two border rows and columns on each side
    (4, 3, 3, 1, 1, 6, 7),             # ... C_out <= C_in: dx by the flipped-kernel convolution
    (4, 2, (3, 5), 1, (1, 2), 5, 6),   # ... with a non-square kernel
    (3, 3, 1, 1, 0, 4, 5)])            # ... 1x1
def test_conv_gradient_check_more_kernels_strides_paddings(cfg):
    layer, x, rng = _conv(cfg, seed=2)
    errors = check_layer_gradients(layer, x, rng=rng, h=1e-5)
    assert max(errors.values()) < GRAD_TOL, errors


def plain_maxpool(x, kernel):
    """(out, dx for dout = 1, 2, 3, ...) with one strided view of x per window offset and a strict '>'."""
    kh, kw = kernel
    n, c, h, w = x.shape
    h_out, w_out = h // kh, w // kw
    views = [x[:, :, u:h_out * kh:kh, v:w_out * kw:kw] for u in range(kh) for v in range(kw)]
    out, argmax = views[0].copy(), np.zeros(views[0].shape, dtype=int)
    for k in range(1, len(views)):
        better = views[k] > out
        out[better], argmax[better] = views[k][better], k
    dout = np.arange(1, out.size + 1, dtype=x.dtype).reshape(out.shape) * np.where(out > 0, 1, -1).astype(x.dtype)
    dx = np.zeros_like(x)
    for u in range(kh):
        for v in range(kw):
            dx[:, :, u:h_out * kh:kh, v:w_out * kw:kw] = (argmax == u * kw + v) * dout
    return out, dout, dx


@pytest.mark.parametrize("dtype", [np.float16, np.float32, np.float64])
@pytest.mark.parametrize("kernel, shape", [((2, 2), (64, 16, 8, 8)), ((2, 2), (3, 2, 7, 9)), ((3, 3), (2, 3, 9, 6)),
                                           ((2, 3), (2, 2, 5, 7)), ((1, 2), (2, 2, 4, 4)), ((1, 1), (2, 2, 3, 3))])
def test_maxpool_bit_identical_to_strided_views(kernel, shape, dtype):
    rng = np.random.default_rng(8)
    x = np.round(rng.standard_normal(shape) * 2).astype(dtype)  # many ties
    x[x == 0] = -0.0
    x[::2, ::2][x[::2, ::2] == 0] = 0.0  # +0 and -0 side by side: the first one must win
    pool = MaxPool2D(kernel)
    for training in (True, False, True):
        out = pool.forward(x, training=training)
        expected, dout, dx_ref = plain_maxpool(x, kernel)
        assert_same_bits(out, expected, "forward")
        assert_same_bits(pool.backward(dout), dx_ref, "backward")


@pytest.mark.parametrize("kernel, shape", [(2, (2, 3, 5, 7)), (2, (1, 2, 4, 6)), ((3, 2), (2, 2, 6, 5))])
def test_maxpool_gradient_check_kernel_divides_the_map_or_not(kernel, shape):
    rng = np.random.default_rng(4)
    errors = check_layer_gradients(MaxPool2D(kernel), rng.standard_normal(shape), rng=rng, h=1e-5)
    assert errors["x"] < GRAD_TOL, errors

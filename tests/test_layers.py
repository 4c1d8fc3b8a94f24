"""Dense, ReLU, Sigmoid, Tanh and sigmoid(): values, gradients (float64 checks), dtypes, bad input."""
import numpy as np
import pytest

from coursekit.gradcheck import check_layer_gradients
from coursekit.layers import Dense, ReLU, Sigmoid, Tanh, sigmoid

TOL = 1e-7  # float64 gradient checks


def rng(seed=0):
    return np.random.default_rng(seed)


def away_from_zero(shape, seed):
    """Random values with |x| >= 0.1, so ReLU's kink is never inside a finite difference."""
    x = rng(seed).uniform(0.1, 2.0, size=shape)
    return x * rng(seed + 1).choice([-1.0, 1.0], size=shape)


# ----------------------------------------------------------------------------- Dense

def test_dense_forward_hand_computed():
    layer = Dense(2, 3, rng=rng(), dtype=np.float64)
    layer.params["W"][...] = [[1, 2, 3], [4, 5, 6]]
    layer.params["b"][...] = [0.5, -0.5, 0.0]
    out = layer.forward(np.array([[1.0, 2.0], [0.0, -1.0]]), training=True)
    # row 0: [1+8, 2+10, 3+12] + b ; row 1: [-4, -5, -6] + b
    np.testing.assert_array_equal(out, [[9.5, 11.5, 15.0], [-3.5, -5.5, -6.0]])


def test_dense_backward_hand_computed():
    layer = Dense(2, 2, rng=rng(), dtype=np.float64)
    layer.params["W"][...] = [[1, 2], [3, 4]]
    x = np.array([[1.0, -1.0], [2.0, 0.5]])
    layer.forward(x, training=True)
    dx = layer.backward(np.array([[1.0, 0.0], [0.0, 2.0]]))
    # dL/dx[n, i] = sum_j dout[n, j] W[i, j]
    np.testing.assert_array_equal(dx, [[1.0, 3.0], [4.0, 8.0]])
    # dL/dW[i, j] = sum_n x[n, i] dout[n, j]
    np.testing.assert_array_equal(layer.grads["W"], [[1.0, 4.0], [-1.0, 1.0]])
    np.testing.assert_array_equal(layer.grads["b"], [1.0, 2.0])


@pytest.mark.parametrize("init", ["he", "glorot"])
def test_dense_gradient_check_float64(init):
    layer = Dense(4, 3, rng=rng(1), init=init)
    layer.params["b"][...] = rng(2).standard_normal(3)  # non-zero bias, so it matters
    errors = check_layer_gradients(layer, rng(3).standard_normal((5, 4)), rng=rng(4))
    assert set(errors) == {"x", "W", "b"}
    assert max(errors.values()) < TOL, errors


@pytest.mark.parametrize("layer_cls", [ReLU, Sigmoid, Tanh])
@pytest.mark.parametrize("shape", [(6, 4), (2, 3, 2, 2)])
def test_activation_gradient_check_float64(layer_cls, shape):
    errors = check_layer_gradients(layer_cls(), away_from_zero(shape, 5), rng=rng(6))
    assert set(errors) == {"x"}
    assert errors["x"] < TOL, errors


@pytest.mark.parametrize("init, expected_std", [("he", np.sqrt(2 / 400)), ("glorot", np.sqrt(2 / (400 + 300)))])
def test_dense_initialization_scale(init, expected_std):
    layer = Dense(400, 300, rng=rng(7), init=init)
    W = layer.params["W"]
    assert W.shape == (400, 300) and W.dtype == np.float32
    # 120,000 draws: the sample std is within 1% of the target with overwhelming probability
    assert abs(W.std() / expected_std - 1) < 0.01
    assert abs(W.mean()) < 0.01 * expected_std * 10
    np.testing.assert_array_equal(layer.params["b"], np.zeros(300, dtype=np.float32))


def test_dense_same_seed_same_weights_and_dtype_option():
    a, b = Dense(3, 2, rng=rng(11)), Dense(3, 2, rng=rng(11))
    np.testing.assert_array_equal(a.params["W"], b.params["W"])
    assert not np.array_equal(a.params["W"], Dense(3, 2, rng=rng(12)).params["W"])
    c = Dense(3, 2, rng=rng(11), dtype=np.float64)
    assert c.params["W"].dtype == np.float64 and c.params["b"].dtype == np.float64


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("make", [lambda: Dense(3, 2, rng=rng()), ReLU, Sigmoid, Tanh])
def test_layers_preserve_input_dtype(make, dtype):
    layer = make()
    x = rng(1).standard_normal((4, 3)).astype(dtype)
    out = layer.forward(x, training=True)
    assert out.dtype == dtype
    dx = layer.backward(np.ones_like(out))
    assert dx.dtype == dtype and dx.shape == x.shape


def test_dense_grads_have_parameter_dtype():
    layer = Dense(3, 2, rng=rng())  # float32 parameters
    layer.forward(rng(1).standard_normal((4, 3)), training=True)  # float64 input
    layer.backward(np.ones((4, 2)))
    assert layer.grads["W"].dtype == np.float32 and layer.grads["b"].dtype == np.float32


def test_call_is_forward_and_training_is_keyword_only():
    layer = Tanh()
    x = np.array([[0.3, -2.0]])
    np.testing.assert_array_equal(layer(x, training=False), layer.forward(x, training=True))
    with pytest.raises(TypeError):
        layer.forward(x, True)  # noqa - training must be passed by keyword


# ----------------------------------------------------------------------------- activations

def test_relu_values_and_gradient_zero_at_zero():
    layer = ReLU()
    out = layer.forward(np.array([[-1.5, 0.0, 2.0]]), training=True)
    np.testing.assert_array_equal(out, [[0.0, 0.0, 2.0]])
    np.testing.assert_array_equal(layer.backward(np.array([[5.0, 5.0, 5.0]])), [[0.0, 0.0, 5.0]])


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_relu_propagates_nan_as_pytorch_does(dtype):
    # regression: ReLU mapped NaN to 0, hiding a diverged network from fit's non-finite check.
    # PyTorch: relu(nan) = nan, and threshold_backward passes dout wherever x <= 0 is False (also NaN).
    x = np.array([[np.nan, -1.0, -0.0, 0.0, 2.0, np.inf, -np.inf]], dtype=dtype)
    layer = ReLU()
    out = layer.forward(x, training=True)
    assert out.dtype == dtype
    np.testing.assert_array_equal(out, np.array([[np.nan, 0.0, 0.0, 0.0, 2.0, np.inf, 0.0]], dtype=dtype))
    np.testing.assert_array_equal(layer.backward(np.full(x.shape, 3.0, dtype)), [[3.0, 0, 0, 0, 3.0, 3.0, 0]])


def test_relu_matches_torch_on_special_values():
    torch = pytest.importorskip("torch")
    x = np.array([[np.nan, -1.5, -0.0, 0.0, 1e-45, 2.0, np.inf, -np.inf, 3e38]], dtype=np.float32)
    dout = np.arange(1.0, 10.0, dtype=np.float32).reshape(1, -1)
    t = torch.tensor(x, requires_grad=True)
    expected = torch.relu(t)
    expected.backward(torch.tensor(dout))
    layer = ReLU()
    np.testing.assert_array_equal(layer.forward(x, training=True), expected.detach().numpy())  # -0.0 == 0.0
    np.testing.assert_array_equal(layer.backward(dout), t.grad.numpy())


@pytest.mark.parametrize("dtype", [np.float16, np.float32, np.float64])
def test_relu_forward_is_bit_for_bit_np_maximum_and_backward_zeroes_what_it_blocks(dtype):
    # ReLU selects bit patterns with an integer multiply by its 0/1 mask (faster than np.maximum):
    # the same values as np.maximum(x, 0), NaN payloads included, and +0.0 for every zero
    gen = rng(7)
    x = (gen.standard_normal((5, 4, 6, 6)) * 3).astype(dtype)
    x.flat[:8] = [np.nan, -np.nan, np.inf, -np.inf, -0.0, 0.0, np.finfo(dtype).tiny, -np.finfo(dtype).tiny]
    layer = ReLU()
    out = layer.forward(x, training=True)
    expected = np.maximum(x, 0)
    expected[expected == 0] = 0  # +0.0: relu(-0.0) is +0.0 here (NumPy's float16 maximum keeps -0.0)
    assert out.dtype == dtype and out.flags["C_CONTIGUOUS"]
    assert np.array_equal(out.view(f"u{out.itemsize}"), expected.view(f"u{out.itemsize}"))
    dout = (gen.standard_normal(x.shape) * 2).astype(dtype)
    dout.flat[8:12] = [np.nan, np.nan, -1.0, -np.inf]
    dx = layer.backward(dout)
    passes = ~(x <= 0)
    np.testing.assert_array_equal(dx[passes], dout[passes])
    assert np.all(dx[~passes] == 0) and not np.signbit(dx[~passes]).any()  # +0.0, also where dout is NaN or < 0
    x_t = np.ascontiguousarray(x.transpose(0, 2, 3, 1)).transpose(0, 3, 1, 2)  # a non-contiguous input
    np.testing.assert_array_equal(ReLU().forward(x_t, training=True), expected)


def test_dense_backward_without_the_input_gradient():
    gen = rng(8)
    layer = Dense(4, 3, rng=gen)
    x = gen.standard_normal((6, 4)).astype(np.float32)
    dout = gen.standard_normal((6, 3)).astype(np.float32)
    layer.forward(x, training=True)
    dx = layer.backward(dout)
    full = {key: value.copy() for key, value in layer.grads.items()}
    assert layer.backward(dout, input_grad=False) is None
    for key in full:
        np.testing.assert_array_equal(layer.grads[key], full[key])
    np.testing.assert_array_equal(layer.backward(dout, input_grad=True), dx)
    with pytest.raises(TypeError, match="Dense.backward: input_grad must be True or False, got 0"):
        layer.backward(dout, input_grad=0)


def test_a_nan_in_the_network_reaches_fits_divergence_check():
    from coursekit.losses import binary_cross_entropy_with_logits
    from coursekit.model import Sequential
    from coursekit.optim import SGD
    from coursekit.training import fit

    model = Sequential(Dense(2, 3, rng=rng()), ReLU(), Dense(3, 1, rng=rng(1)))
    model.layers[0].params["b"][0] = np.nan  # a weight that went NaN
    with pytest.raises(FloatingPointError, match=r"diverged at epoch 0 \(0-based\), batch 0: the model's outputs"):
        fit(model, binary_cross_entropy_with_logits, SGD(model.parameters(), lr=0.1),
            np.ones((4, 2), np.float32), np.array([0, 1, 0, 1]), epochs=1, batch_size=4, rng=rng(), progress=False)


@pytest.mark.parametrize("dtype", [np.float32, np.float64, "float64", np.dtype("float32")])
def test_layers_accept_floating_dtypes(dtype):
    assert Dense(3, 2, rng=rng(), dtype=dtype).params["W"].dtype == np.dtype(dtype)


def test_sigmoid_of_numbers_and_zero_d_arrays():
    assert float(sigmoid(0.0)) == 0.5 and float(sigmoid(np.float32(0))) == 0.5 and float(sigmoid(0)) == 0.5
    assert sigmoid(np.array(np.nan)).item() != sigmoid(np.array(np.nan)).item()  # NaN propagates, as in PyTorch


def test_sigmoid_matches_long_double_reference():
    z = np.linspace(-30, 30, 121)
    reference = 1 / (1 + np.exp(-z.astype(np.longdouble)))
    np.testing.assert_allclose(sigmoid(z), reference.astype(np.float64), rtol=1e-15, atol=0)
    np.testing.assert_allclose(sigmoid(-z), 1 - sigmoid(z), rtol=0, atol=1e-15)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_sigmoid_extreme_inputs_are_exact_limits_without_warnings(dtype):
    z = np.array([-1e30, -1e4, -800.0, 800.0, 1e4, 1e30], dtype=dtype)
    with np.errstate(over="raise", invalid="raise", divide="raise"):  # overflow would raise here
        s = sigmoid(z)
        layer_out = Sigmoid().forward(z.reshape(2, 3), training=True)
    assert s.dtype == dtype
    np.testing.assert_array_equal(s, np.array([0, 0, 0, 1, 1, 1], dtype=dtype))
    np.testing.assert_array_equal(layer_out.ravel(), s)


def test_sigmoid_of_integers_is_a_probability_not_truncated():
    # regression: sigmoid cast its result back to the input's integer dtype (all 0s)
    s = sigmoid(np.array([0, 2, -2]))
    assert s.dtype == np.float64
    np.testing.assert_allclose(s, [0.5, 1 / (1 + np.exp(-2.0)), 1 / (1 + np.exp(2.0))], rtol=1e-15)


def test_sigmoid_layer_backward_uses_y_one_minus_y():
    layer = Sigmoid()
    layer.forward(np.array([[0.0, np.log(3.0)]]), training=True)  # sigmoid = 1/2, 3/4
    np.testing.assert_allclose(layer.backward(np.array([[2.0, 1.0]])), [[0.5, 3 / 16]], rtol=1e-15)


def test_tanh_matches_long_double_reference_and_backward():
    x = np.linspace(-5, 5, 41)
    e2 = np.exp(2 * x.astype(np.longdouble))
    reference = ((e2 - 1) / (e2 + 1)).astype(np.float64)
    layer = Tanh()
    np.testing.assert_allclose(layer.forward(x.reshape(1, -1), training=True).ravel(), reference, rtol=1e-14,
                               atol=1e-16)
    dx = layer.backward(np.ones((1, 41))).ravel()
    # 1 - y**2 loses relative accuracy as |y| -> 1 (cancellation), so compare absolutely at 1e-15
    np.testing.assert_allclose(dx, (4 * e2 / (e2 + 1) ** 2).astype(np.float64), rtol=1e-13, atol=1e-15)


# ----------------------------------------------------------------------------- bad input

def test_dense_constructor_bad_arguments():
    with pytest.raises(ValueError, match=r"in_features must be an integer >= 1, got 0"):
        Dense(0, 3, rng=rng())
    with pytest.raises(TypeError, match=r"out_features must be an integer, got 2\.5"):
        Dense(3, 2.5, rng=rng())
    with pytest.raises(TypeError, match=r"rng must be a numpy random Generator.*got 42 of type int"):
        Dense(3, 2, rng=42)
    with pytest.raises(TypeError, match=r"rng must be a numpy random Generator"):
        Dense(3, 2, rng=np.random)
    with pytest.raises(ValueError, match=r"init must be 'he' or 'glorot', got 'xavier'"):
        Dense(3, 2, rng=rng(), init="xavier")


def test_dense_forward_wrong_shapes_and_types():
    layer = Dense(3, 2, rng=rng())
    with pytest.raises(ValueError, match=r"Dense\.forward: x must have shape \(N, 3\).*in_features=3.*\(4, 5\)"):
        layer.forward(np.zeros((4, 5)), training=True)
    with pytest.raises(ValueError, match=r"Dense\.forward: x must be 2-D, got a 1-D array of shape \(3,\)"):
        layer.forward(np.zeros(3), training=True)
    with pytest.raises(TypeError, match=r"x must be a numpy array, got \[\[1.0, 2.0, 3.0\]\] of type list"):
        layer.forward([[1.0, 2.0, 3.0]], training=True)
    with pytest.raises(TypeError, match=r"x must have a floating dtype.*got dtype int64"):
        layer.forward(np.zeros((2, 3), dtype=np.int64), training=True)
    with pytest.raises(ValueError, match=r"x is empty"):
        layer.forward(np.zeros((0, 3)), training=True)


@pytest.mark.parametrize("make", [lambda: Dense(3, 2, rng=rng()), ReLU, Sigmoid, Tanh])
def test_backward_before_forward_and_wrong_dout(make):
    layer = make()
    name = type(layer).__name__
    with pytest.raises(RuntimeError, match=rf"{name}\.backward was called before forward"):
        layer.backward(np.ones((4, 2)))
    out = layer.forward(np.ones((4, 3)), training=True)
    with pytest.raises(ValueError, match=rf"{name}\.backward: dout must have the shape of the forward output "
                                         rf"\(4, {out.shape[1]}\), got \(5, 7\)"):
        layer.backward(np.ones((5, 7)))
    with pytest.raises(TypeError, match=rf"{name}\.backward: dout must be a numpy array"):
        layer.backward(1.0)


def test_repr():
    assert repr(Dense(3, 2, rng=rng(), init="glorot")) == "Dense(3, 2, init='glorot')"
    assert repr(ReLU()) == "ReLU()"


# ----------------------------------------------------------------------------- the shared argument checks
# (coursekit/_validation.py: every layer, loss, optimizer and fit reports bad input through these)

from coursekit._validation import (check_array, check_int, check_probability, check_real,  # noqa: E402
                                   check_rng, describe)


def test_describe():
    assert describe(np.zeros((2, 3), np.float32)) == "array of shape (2, 3) and dtype float32"
    assert describe(0.5) == "0.5"
    long = describe("x" * 100)
    assert len(long) == 60 and long.endswith("...")


def test_check_real_bounds_and_messages():
    assert check_real(np.float32(0.5), "lr", low=0.0, low_open=True) == 0.5
    assert type(check_real(np.int64(2), "lr")) is float
    assert check_real(0.0, "wd", low=0.0) == 0.0 and check_real(1.0, "p", high=1.0) == 1.0
    with pytest.raises(ValueError, match=r"^lr must be > 0\.0, got 0\.0$"):
        check_real(0, "lr", low=0.0, low_open=True)
    with pytest.raises(ValueError, match=r"^m must be >= 1, got 0\.5$"):
        check_real(0.5, "m", low=1)
    with pytest.raises(ValueError, match=r"^p must be <= 1\.0, got 2\.0$"):
        check_real(2, "p", high=1.0)
    with pytest.raises(ValueError, match=r"^p must be < 1\.0, got 1\.0$"):
        check_real(1, "p", high=1.0, high_open=True)
    with pytest.raises(ValueError, match=r"^momentum must be in \[0\.0, 1\.0\), got 1\.0$"):
        check_real(1.0, "momentum", low=0.0, high=1.0, high_open=True)
    with pytest.raises(ValueError, match=r"^eps must be a finite number, got inf$"):
        check_real(float("inf"), "eps")
    with pytest.raises(TypeError, match=r"^flag must be a real number, got True of type bool$"):
        check_real(True, "flag")
    with pytest.raises(TypeError, match=r"^lr must be a real number, got array of shape \(1,\)"):
        check_real(np.array([0.1]), "lr")


def test_check_real_huge_int_is_a_value_error_not_an_overflow():
    # regression: float(10**400) raised OverflowError instead of a message naming the argument
    with pytest.raises(ValueError, match=r"^lr must be a finite number, got 1000000"):
        check_real(10 ** 400, "lr")


def test_check_int_and_probability():
    assert check_int(np.int32(3), "epochs", low=1) == 3 and type(check_int(np.int32(3), "epochs")) is int
    with pytest.raises(TypeError, match=r"^epochs must be an integer, got 3\.0 of type float$"):
        check_int(3.0, "epochs")
    with pytest.raises(TypeError, match=r"^epochs must be an integer, got False of type bool$"):
        check_int(False, "epochs")
    with pytest.raises(ValueError, match=r"^batch_size must be an integer >= 1, got 0$"):
        check_int(0, "batch_size", low=1)
    assert check_probability(0) == 0.0 and check_probability(1) == 1.0
    with pytest.raises(ValueError, match=r"^drop_prob must be in \[0\.0, 1\.0\], got 1\.5$"):
        check_probability(1.5)
    with pytest.raises(ValueError, match=r"^keep_prob must be in \[0\.0, 1\.0\], got -0\.1$"):
        check_probability(-0.1, "keep_prob")


def test_check_array_and_check_rng():
    x = np.zeros((2, 3))
    assert check_array(x, "x", ndim=(2, 4)) is x
    with pytest.raises(ValueError, match=r"^f: x must be 1-D or 3-D, got a 2-D array of shape \(2, 3\)$"):
        check_array(x, "x", ndim=(1, 3), where="f")
    with pytest.raises(ValueError, match=r"^x contains 2 non-finite value\(s\) \(NaN or inf\); expected finite"):
        check_array(np.array([np.nan, 1.0, -np.inf]), "x", finite=True)
    assert check_array(np.array([1, 2]), "labels", floating=False).dtype == np.int64
    with pytest.raises(TypeError, match=r"convert it with x\.astype\(np\.float32\)"):
        check_array(np.array([1, 2]), "x")
    g = np.random.default_rng(0)
    assert check_rng(g) is g
    with pytest.raises(TypeError, match=r"^noise_rng must be a numpy random Generator, e\.g\. "
                                        r"np\.random\.default_rng\(0\); got None of type NoneType$"):
        check_rng(None, "noise_rng")

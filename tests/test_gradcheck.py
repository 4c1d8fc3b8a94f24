"""numerical_gradient, rel_error, check_layer_gradients: accuracy, side effects, and that they can fail."""
import numpy as np
import pytest

from coursekit.gradcheck import check_layer_gradients, numerical_gradient, rel_error
from coursekit.layers import Dense, Layer, Tanh


def rng(seed=0):
    return np.random.default_rng(seed)


# ----------------------------------------------------------------------------- numerical_gradient

def test_numerical_gradient_of_known_functions():
    x = rng(1).standard_normal((3, 4))
    np.testing.assert_allclose(numerical_gradient(lambda v: np.sum(v ** 3), x), 3 * x ** 2, rtol=1e-8, atol=1e-10)
    A = rng(2).standard_normal((2, 3))
    # f(W) = sum(sin(A @ W)): df/dW = A.T @ cos(A @ W)
    np.testing.assert_allclose(numerical_gradient(lambda W: np.sum(np.sin(A @ W)), x), A.T @ np.cos(A @ x),
                               rtol=1e-7, atol=1e-9)


def test_numerical_gradient_error_is_second_order_in_h():
    x = np.array([1.0])
    exact = np.exp(1.0)
    err_big = abs(numerical_gradient(lambda v: np.exp(v[0]), x, h=1e-2)[0] - exact)
    err_small = abs(numerical_gradient(lambda v: np.exp(v[0]), x, h=5e-3)[0] - exact)
    assert err_big == pytest.approx(exact * 1e-4 / 6, rel=1e-3)  # Taylor: f'''(x) h^2 / 6
    assert err_big / err_small == pytest.approx(4.0, rel=1e-2)


def test_numerical_gradient_perturbs_in_place_and_restores_exactly():
    x = rng(3).standard_normal(5)
    original = x.copy()
    seen = []

    def f(v):
        seen.append((v is x, v.copy()))
        return float(np.sum(v ** 2))

    grad = numerical_gradient(f, x)
    np.testing.assert_allclose(grad, 2 * original, rtol=1e-8)
    np.testing.assert_array_equal(x, original)  # bitwise restored
    assert len(seen) == 10 and all(same for same, _ in seen) and not np.array_equal(seen[0][1], original)


def test_x_is_restored_even_when_f_raises():
    x = np.array([1.0, 2.0])

    def f(v):
        if v[0] > 1.0:
            raise ZeroDivisionError("boom")
        return float(v.sum())

    with pytest.raises(ZeroDivisionError):
        numerical_gradient(f, x)
    np.testing.assert_array_equal(x, [1.0, 2.0])


def _numerical_gradient_on_copies(f, x, h=1e-5):
    """The other way learners write it: perturb a copy, never x itself."""
    grad = np.zeros(x.shape)
    for i in np.ndindex(x.shape):
        plus, minus = x.copy(), x.copy()
        plus[i] += h
        minus[i] -= h
        grad[i] = (f(plus) - f(minus)) / (2 * h)
    return grad


def test_the_documented_contract_gives_the_same_gradient_in_place_or_on_copies():
    # f computes its value from the array it is given: both implementations agree
    W = rng(4).standard_normal((3, 2))
    x, dout = rng(5).standard_normal((4, 3)), rng(6).standard_normal((4, 2))

    def f(W_given):
        return float(np.sum((x @ W_given) * dout))

    np.testing.assert_allclose(numerical_gradient(f, W.copy()), _numerical_gradient_on_copies(f, W), rtol=1e-9)
    np.testing.assert_allclose(numerical_gradient(f, W.copy()), x.T @ dout, rtol=1e-7)
    assert "from that array only" in numerical_gradient.__doc__ and "copy" in numerical_gradient.__doc__


def test_check_layer_gradients_obeys_the_contract(monkeypatch):
    # regression: its function for a parameter ignored its argument and relied on in-place perturbation,
    # so a numerical_gradient that perturbs copies saw a constant function (gradient 0, error 1)
    import coursekit.gradcheck as gradcheck

    monkeypatch.setattr(gradcheck, "numerical_gradient",
                        lambda f, x, *, h=1e-5: _numerical_gradient_on_copies(f, x, h))
    errors = check_layer_gradients(Dense(3, 2, rng=rng()), rng(1).standard_normal((4, 3)), rng=rng(2))
    assert set(errors) == {"x", "W", "b"} and max(errors.values()) < 1e-7


def test_numerical_gradient_returns_float64_of_the_same_shape():
    x = np.ones((2, 3), dtype=np.float64)
    grad = numerical_gradient(lambda v: float(np.sum(v)), x, h=1e-2)
    assert grad.shape == (2, 3) and grad.dtype == np.float64
    # a 0-d array, a NumPy scalar and a Python float are all "one number"
    for f in (lambda v: np.sum(v, keepdims=False), lambda v: np.array(v.sum()), lambda v: np.float64(v.sum())):
        np.testing.assert_allclose(numerical_gradient(f, x), np.ones((2, 3)), rtol=1e-5)


def test_float32_is_refused_because_rounding_fails_correct_gradients():
    # regression: float32 was accepted; its rounding error (~1e-7 * |f| / h) swamps the differences
    x32 = rng(7).standard_normal(5).astype(np.float32)
    with pytest.raises(TypeError, match=r"x must be float64 for a meaningful gradient check, got dtype float32"):
        numerical_gradient(lambda v: float(np.sum(v ** 3)), x32)
    x = x32.astype(np.float64)
    np.testing.assert_allclose(numerical_gradient(lambda v: float(np.sum(v ** 3)), x), 3 * x ** 2, rtol=1e-7,
                               atol=1e-9)


def test_numerical_gradient_bad_arguments():
    with pytest.raises(TypeError, match=r"f must be callable: a function of x returning one number, got 3 of type int"):
        numerical_gradient(3, np.zeros(2))
    with pytest.raises(ValueError, match=r"h must be > 0\.0, got 0\.0"):
        numerical_gradient(np.sum, np.zeros(2), h=0)
    with pytest.raises(TypeError, match=r"numerical_gradient: x must have a floating dtype"):
        numerical_gradient(np.sum, np.zeros(2, dtype=int))
    with pytest.raises(TypeError, match=r"numerical_gradient: x must be a numpy array"):
        numerical_gradient(np.sum, [1.0, 2.0])
    with pytest.raises(ValueError, match=r"x must be contiguous"):
        numerical_gradient(np.sum, np.zeros((3, 4)).T)  # a transposed array cannot be flattened in place


# ----------------------------------------------------------------------------- rel_error

def test_rel_error_hand_values():
    assert rel_error(np.array([1.0]), np.array([1.0])) == 0.0
    assert rel_error(np.array([1.0]), np.array([3.0])) == 0.5
    assert rel_error(np.array([1.0, 2.0]), np.array([1.0, -2.0])) == 1.0  # the largest entry counts
    assert rel_error(np.zeros(3), np.zeros(3)) == 0.0  # denominator floored at 1e-8
    assert rel_error(np.array([0.0]), np.array([1e-9])) == pytest.approx(0.1)
    assert rel_error(np.array([]), np.array([])) == 0.0
    assert rel_error([2.0], [2.0]) == 0.0  # lists are accepted


def test_rel_error_nan_never_passes_a_tolerance():
    err = rel_error(np.array([1.0, np.nan]), np.array([1.0, 1.0]))
    assert not err < 1e-7


def test_rel_error_shape_mismatch():
    with pytest.raises(ValueError, match=r"rel_error: shapes differ, \(2,\) vs \(2, 1\)"):
        rel_error(np.zeros(2), np.zeros((2, 1)))


# ----------------------------------------------------------------------------- check_layer_gradients

class Doubler(Layer):
    """y = 2 x * w (elementwise w), with optionally wrong backward passes, to show the checker fails."""

    def __init__(self, wrong_dx=False, wrong_dw=False):
        super().__init__()
        self.params["w"] = np.linspace(0.5, 1.5, 3)
        self.wrong_dx, self.wrong_dw = wrong_dx, wrong_dw

    def forward(self, x, *, training):
        self._cache = x
        return 2 * x * self.params["w"]

    def backward(self, dout):
        x = self._cache
        self.grads["w"] = (2 * x * dout).sum(axis=0) * (1.5 if self.wrong_dw else 1.0)
        return 2 * dout * self.params["w"] * (1.1 if self.wrong_dx else 1.0)


class RandomMask(Layer):
    """Keeps each entry with probability 1/2, mask drawn from its own generator (like dropout)."""

    def __init__(self, seed):
        super().__init__()
        self.rng = np.random.default_rng(seed)

    def forward(self, x, *, training):
        self._cache = self.rng.random(x.shape) < 0.5 if training else np.ones(x.shape, bool)
        return x * self._cache

    def backward(self, dout):
        return dout * self._cache


def test_check_layer_gradients_passes_a_correct_layer():
    errors = check_layer_gradients(Doubler(), rng(1).standard_normal((4, 3)), rng=rng(2))
    assert set(errors) == {"x", "w"} and max(errors.values()) < 1e-8


def test_check_layer_gradients_detects_wrong_gradients():
    x = rng(1).standard_normal((4, 3))
    errors = check_layer_gradients(Doubler(wrong_dx=True), x, rng=rng(2))
    assert errors["x"] > 0.04 and errors["w"] < 1e-8  # 10% too big: |1.1 - 1| / 2.1
    errors = check_layer_gradients(Doubler(wrong_dw=True), x, rng=rng(2))
    assert errors["w"] == pytest.approx(0.5 / 2.5, rel=1e-6) and errors["x"] < 1e-8


def test_check_layer_gradients_reuses_the_same_random_mask():
    # each evaluation starts from an identical copy of the layer, so the mask does not change
    errors = check_layer_gradients(RandomMask(seed=3), rng(1).standard_normal((5, 4)), rng=rng(2))
    assert errors["x"] < 1e-8


def test_check_layer_gradients_passes_the_training_flag():
    x = rng(1).standard_normal((5, 4))
    # in eval mode the mask is all ones: dx = dout everywhere, so the check is trivially right too
    assert check_layer_gradients(RandomMask(seed=3), x, rng=rng(2), training=False)["x"] < 1e-8


def test_check_layer_gradients_leaves_the_layer_untouched():
    layer = Dense(3, 2, rng=rng())  # float32 parameters
    W_before = layer.params["W"].copy()
    check_layer_gradients(layer, rng(1).standard_normal((4, 3)), rng=rng(2))
    assert layer.params["W"].dtype == np.float32
    np.testing.assert_array_equal(layer.params["W"], W_before)
    assert layer._cache is None and layer.grads == {}


def test_check_layer_gradients_bad_arguments():
    with pytest.raises(TypeError, match=r"check_layer_gradients: x must be float64 .* got float32"):
        check_layer_gradients(Tanh(), np.ones((2, 2), dtype=np.float32), rng=rng())
    with pytest.raises(TypeError, match=r"rng must be a numpy random Generator.*got 0 of type int"):
        check_layer_gradients(Tanh(), np.ones((2, 2)), rng=0)


def test_numerical_gradient_on_a_strided_view_that_flattens_in_place():
    x = np.arange(16.0).reshape(4, 4)[:, ::2]  # not contiguous, but reshape(-1) is still a view
    np.testing.assert_allclose(numerical_gradient(lambda v: np.sum(v ** 2), x), 2 * x, rtol=1e-8)


def test_numerical_gradients_of_a_weighted_sum_match_the_analytic_ones_and_leave_the_inputs_alone():
    from coursekit.gradcheck import numerical_gradients
    rng = np.random.default_rng(3)
    a, b = rng.standard_normal((3, 4)), rng.standard_normal(4)
    dout = rng.standard_normal((3, 4))
    a_before, b_before = a.copy(), b.copy()
    da, db = numerical_gradients(lambda a_, b_: np.tanh(a_) * b_, (a, b), dout)
    assert rel_error(da, dout * b * (1 - np.tanh(a) ** 2)) < 1e-8
    assert rel_error(db, np.sum(dout * np.tanh(a), axis=0)) < 1e-8
    np.testing.assert_array_equal(a, a_before)
    np.testing.assert_array_equal(b, b_before)

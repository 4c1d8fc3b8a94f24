"""Losses: hand values, long-double references, extreme logits (limits, no overflow), gradients, bad input."""
import numpy as np
import pytest

from coursekit.gradcheck import numerical_gradient, rel_error
from coursekit.losses import binary_cross_entropy_with_logits as bce
from coursekit.losses import log_softmax, softmax_cross_entropy

LD = np.longdouble
NO_OVERFLOW = dict(over="raise", invalid="raise", divide="raise")  # underflow to 0 is fine


def rng(seed=0):
    return np.random.default_rng(seed)


def bce_reference(z, y):
    """-[y log s + (1-y) log(1-s)] in long double, with -log s = log(1 + e^-z), -log(1-s) = log(1 + e^z).

    Long double's exp does not overflow for |z| < 11000, so no shift or max trick is needed.
    """
    z, y = np.asarray(z, dtype=LD), np.asarray(y, dtype=LD)
    loss = y * np.log1p(np.exp(-z)) + (1 - y) * np.log1p(np.exp(z))
    return float(np.mean(loss)), (1 / (1 + np.exp(-z)) - y) / z.size


def softmax_reference(z, labels):
    """-mean log(exp(z_y) / sum exp(z)) in long double, without any shift (moderate z only)."""
    e = np.exp(np.asarray(z, dtype=LD))
    p = e / e.sum(axis=1, keepdims=True)
    n = len(labels)
    loss = float(-np.mean(np.log(p[np.arange(n), labels])))
    onehot = np.zeros_like(p)
    onehot[np.arange(n), labels] = 1
    return loss, (p - onehot) / n


# ----------------------------------------------------------------------------- binary cross-entropy

def test_bce_hand_values():
    loss, grad = bce(np.array([0.0]), np.array([1.0]))
    assert loss == pytest.approx(np.log(2), rel=1e-15)
    np.testing.assert_allclose(grad, [-0.5], rtol=1e-15)
    # z = log 3: sigmoid = 3/4; target 0 -> -log(1/4)
    loss, grad = bce(np.array([np.log(3.0), 0.0]), np.array([0.0, 0.0]))
    assert loss == pytest.approx((np.log(4) + np.log(2)) / 2, rel=1e-15)
    np.testing.assert_allclose(grad, [0.75 / 2, 0.5 / 2], rtol=1e-15)


@pytest.mark.parametrize("scale", [0.1, 3.0, 15.0])
def test_bce_matches_long_double_reference(scale):
    z = rng(1).standard_normal(50) * scale
    y = rng(2).random(50)  # soft targets in [0, 1] too
    loss, grad = bce(z, y)
    ref_loss, ref_grad = bce_reference(z, y)
    assert loss == pytest.approx(ref_loss, rel=1e-13)
    # p - y cancels when p ~ y, so its accuracy is absolute: a few ulps of 1, divided by N
    np.testing.assert_allclose(grad, ref_grad.astype(np.float64), rtol=1e-12, atol=4 * np.finfo(float).eps / len(z))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("big", [1e4, 1e30])
def test_bce_extreme_logits_give_the_analytic_limits(dtype, big):
    z = np.array([big, -big, big, -big, big], dtype=dtype)
    y = np.array([1.0, 0.0, 0.0, 1.0, 0.25], dtype=dtype)
    with np.errstate(**NO_OVERFLOW):
        loss, grad = bce(z, y)
    # limits for |z| -> inf: right and confident -> 0; wrong -> |z|; soft target 0.25 at +big -> 0.75*big
    zb = float(dtype(big))
    expected = (0.0 + 0.0 + zb + zb + 0.75 * zb) / 5
    assert np.isfinite(loss)
    assert loss == pytest.approx(expected, rel=1e-6 if dtype == np.float32 else 1e-15)
    assert grad.dtype == dtype and np.all(np.isfinite(grad))
    # gradient limit: (sigmoid(z) - y) / N with sigmoid(+-inf) = 1, 0
    np.testing.assert_allclose(grad, np.array([0.0, 0.0, 1.0, -1.0, 0.75]) / 5, rtol=1e-7, atol=0)


def test_bce_near_float32_max_does_not_overflow_the_mean():
    # regression: the float32 mean of several 3e38 values overflowed to inf
    z = np.full(8, 3e38, dtype=np.float32)
    with np.errstate(**NO_OVERFLOW):
        loss, _ = bce(z, np.zeros(8, dtype=np.float32))
    assert loss == pytest.approx(float(np.float32(3e38)), rel=1e-7)


@pytest.mark.parametrize("shape", [(7,), (7, 1)])
def test_bce_gradient_check_float64(shape):
    z = rng(3).standard_normal(shape) * 2
    y = (rng(4).random(shape) < 0.5).astype(np.float64)
    _, grad = bce(z, y)
    numeric = numerical_gradient(lambda v: bce(v, y)[0], z.copy())
    assert grad.shape == shape
    assert rel_error(grad, numeric) < 1e-7


def test_bce_column_logits_accept_flat_targets_and_int_or_bool_targets():
    z = np.array([[1.0], [-2.0], [0.5]])
    y_col = np.array([[1.0], [0.0], [0.0]])
    loss_col, grad_col = bce(z, y_col)
    loss_flat, grad_flat = bce(z, np.array([1, 0, 0]))
    assert loss_flat == loss_col and grad_flat.shape == (3, 1)
    np.testing.assert_array_equal(grad_flat, grad_col)
    assert bce(z.ravel(), np.array([True, False, False]))[0] == pytest.approx(loss_col, rel=1e-15)


def test_bce_float32_in_float32_gradient_out_and_python_float_loss():
    loss, grad = bce(np.array([0.5, -1.0], dtype=np.float32), np.array([1, 0]))
    assert type(loss) is float and grad.dtype == np.float32


def test_bce_bad_input():
    with pytest.raises(ValueError, match=r"logits must have shape \(N,\) or \(N, 1\), got \(3, 2\)"):
        bce(np.zeros((3, 2)), np.zeros((3, 2)))
    with pytest.raises(ValueError, match=r"logits must be 1-D or 2-D, got a 3-D array"):
        bce(np.zeros((3, 1, 1)), np.zeros(3))
    with pytest.raises(ValueError, match=r"targets must have the shape of logits \(3,\), got \(4,\)"):
        bce(np.zeros(3), np.zeros(4))
    with pytest.raises(ValueError, match=r"targets must be finite values in \[0, 1\].*from 0\.0 to 2\.0"):
        bce(np.zeros(3), np.array([0, 1, 2]))
    with pytest.raises(ValueError, match=r"targets must be finite values in \[0, 1\].*from -1\.0"):
        bce(np.zeros(2), np.array([-1.0, 0.0]))
    with pytest.raises(ValueError, match=r"targets must be finite"):
        bce(np.zeros(2), np.array([np.nan, 0.0]))
    with pytest.raises(TypeError, match=r"targets must be numbers, got dtype <U1"):
        bce(np.zeros(2), np.array(["a", "b"]))
    with pytest.raises(ValueError, match=r"logits contains 1 non-finite value\(s\)"):
        bce(np.array([0.0, np.nan]), np.zeros(2))
    with pytest.raises(ValueError, match=r"logits contains 2 non-finite value\(s\)"):
        bce(np.array([np.inf, -np.inf]), np.zeros(2))
    with pytest.raises(TypeError, match=r"logits must be a numpy array, got \[0\.0\] of type list"):
        bce([0.0], np.zeros(1))
    with pytest.raises(TypeError, match=r"logits must have a floating dtype"):
        bce(np.zeros(2, dtype=np.int64), np.zeros(2))


# ----------------------------------------------------------------------------- softmax cross-entropy

def test_softmax_hand_values():
    loss, grad = softmax_cross_entropy(np.zeros((1, 4)), np.array([2]))
    assert loss == pytest.approx(np.log(4), rel=1e-15)
    np.testing.assert_allclose(grad, [[0.25, 0.25, -0.75, 0.25]], rtol=1e-15)
    # two rows: logits (log 1, log 3) -> p = (1/4, 3/4)
    loss, grad = softmax_cross_entropy(np.array([[0.0, np.log(3)], [0.0, np.log(3)]]), np.array([0, 1]))
    assert loss == pytest.approx((np.log(4) + np.log(4 / 3)) / 2, rel=1e-15)
    np.testing.assert_allclose(grad, [[-0.75 / 2, 0.75 / 2], [0.25 / 2, -0.25 / 2]], rtol=1e-14)


@pytest.mark.parametrize("scale", [0.1, 3.0, 20.0])
def test_softmax_matches_long_double_reference(scale):
    z = rng(5).standard_normal((30, 6)) * scale
    labels = rng(6).integers(0, 6, size=30)
    loss, grad = softmax_cross_entropy(z, labels)
    ref_loss, ref_grad = softmax_reference(z, labels)
    assert loss == pytest.approx(ref_loss, rel=1e-13)
    # p - y cancels when p ~ y, so its accuracy is absolute: a few ulps of 1, divided by N
    np.testing.assert_allclose(grad, ref_grad.astype(np.float64), rtol=1e-12, atol=4 * np.finfo(float).eps / len(z))


def test_softmax_two_classes_equals_binary_cross_entropy():
    # softmax over (0, z) is sigmoid(z): a cross-check between two different formulas
    z = rng(7).standard_normal(9) * 4
    labels = rng(8).integers(0, 2, size=9)
    loss_s, grad_s = softmax_cross_entropy(np.column_stack([np.zeros(9), z]), labels)
    loss_b, grad_b = bce(z, labels)
    assert loss_s == pytest.approx(loss_b, rel=1e-14)
    np.testing.assert_allclose(grad_s[:, 1], grad_b, rtol=1e-12, atol=1e-18)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("big", [1e4, 1e30])
def test_softmax_extreme_logits_give_the_analytic_limits(dtype, big):
    z = np.array([[big, -big, 0.0],    # label 0: right and confident -> loss 0
                  [big, -big, 0.0],    # label 1: wrong -> loss 2*big
                  [big, big, -big]],   # label 0: a tie at the top -> loss log 2
                 dtype=dtype)
    labels = np.array([0, 1, 0])
    with np.errstate(**NO_OVERFLOW):
        loss, grad = softmax_cross_entropy(z, labels)
    zb = float(dtype(big))
    assert np.isfinite(loss)
    assert loss == pytest.approx((0.0 + 2 * zb + np.log(2)) / 3, rel=1e-6 if dtype == np.float32 else 1e-15)
    assert grad.dtype == dtype and np.all(np.isfinite(grad))
    expected_grad = np.array([[0.0, 0.0, 0.0], [1.0, -1.0, 0.0], [-0.5, 0.5, 0.0]]) / 3
    np.testing.assert_allclose(grad, expected_grad, rtol=1e-6, atol=0)


def test_softmax_float32_logits_spanning_the_float32_range_give_a_finite_loss():
    # regression: max(z) - z overflowed to inf in float32 for logits of size ~3e38
    z = np.array([[3e38, -3e38]], dtype=np.float32)
    with np.errstate(**NO_OVERFLOW):
        loss, grad = softmax_cross_entropy(z, np.array([1]))
    assert loss == pytest.approx(2 * float(np.float32(3e38)), rel=1e-7)
    np.testing.assert_array_equal(grad, np.array([[1.0, -1.0]], dtype=np.float32))


def test_softmax_gradient_check_float64():
    z = rng(9).standard_normal((5, 4)) * 2
    labels = np.array([0, 3, 1, 1, 2])
    _, grad = softmax_cross_entropy(z, labels)
    numeric = numerical_gradient(lambda v: softmax_cross_entropy(v, labels)[0], z.copy())
    assert rel_error(grad, numeric) < 1e-7


def test_softmax_dtypes_and_integral_float_labels():
    z = rng(10).standard_normal((3, 3)).astype(np.float32)
    loss, grad = softmax_cross_entropy(z, np.array([0, 1, 2]))
    assert type(loss) is float and grad.dtype == np.float32
    loss_f, _ = softmax_cross_entropy(z, np.array([0.0, 1.0, 2.0]))
    assert loss_f == loss


def test_softmax_bad_input():
    z = np.zeros((4, 3))
    with pytest.raises(ValueError, match=r"labels must be class indices in \[0, 3\).*from 0 to 3"):
        softmax_cross_entropy(z, np.array([0, 1, 2, 3]))
    with pytest.raises(ValueError, match=r"labels must be class indices in \[0, 3\).*from -1"):
        softmax_cross_entropy(z, np.array([-1, 1, 2, 0]))
    with pytest.raises(ValueError, match=r"labels must have shape \(4,\) to match logits \(4, 3\), got \(4, 1\)"):
        softmax_cross_entropy(z, np.zeros((4, 1), dtype=int))
    with pytest.raises(TypeError, match=r"labels must be integer class indices, got dtype float64"):
        softmax_cross_entropy(z, np.array([0.5, 1, 2, 0]))
    with pytest.raises(TypeError, match=r"labels must be integer class indices"):
        softmax_cross_entropy(z, np.array([np.nan, 1, 2, 0]))
    with pytest.raises(ValueError, match=r"logits must be 2-D, got a 1-D array"):
        softmax_cross_entropy(np.zeros(3), np.array([0]))
    with pytest.raises(ValueError, match=r"softmax_cross_entropy: logits contains 1 non-finite"):
        softmax_cross_entropy(np.array([[0.0, np.inf]]), np.array([0]))


def test_log_softmax_rows_normalize_and_are_shift_invariant():
    z = rng(11).standard_normal((4, 5)) * 10
    logp = log_softmax(z)
    np.testing.assert_allclose(np.exp(logp.astype(LD)).sum(axis=1), np.ones(4), rtol=1e-15)
    np.testing.assert_allclose(log_softmax(z + 1000.0), logp, atol=1e-12)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_log_softmax_rows_and_dtype(dtype):
    z = np.array([[1.0, 2.0, 3.0], [1000.0, 0.0, -1000.0]], dtype=dtype)
    out = log_softmax(z)
    assert out.dtype == dtype
    np.testing.assert_allclose(np.exp(out).sum(axis=1), 1.0, rtol=1e-6)
    np.testing.assert_allclose(out[0], z[0] - np.log(np.exp(z[0].astype(np.float64)).sum()), rtol=1e-6)


def test_bce_rejects_complex_targets_instead_of_dropping_the_imaginary_part():
    with pytest.raises(TypeError, match=r"targets must be numbers, got dtype complex128; expected real values"):
        bce(np.zeros(2), np.array([1 + 1j, 0j]))

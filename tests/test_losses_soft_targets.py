"""losses.soft_target_cross_entropy (mixup's loss): PyTorch's value and gradient, one-hot = softmax_cross_entropy,
a float64 gradient check, stability for huge logits, hard labels accepted, clear errors."""
import numpy as np
import pytest

from coursekit.gradcheck import numerical_gradient, rel_error
from coursekit.losses import soft_target_cross_entropy, softmax_cross_entropy


def soft_targets(n, c, seed):
    return np.random.default_rng(seed).dirichlet(np.ones(c), size=n)


def test_one_hot_targets_give_softmax_cross_entropy():
    logits = np.random.default_rng(0).standard_normal((6, 4))
    labels = np.array([0, 3, 1, 1, 2, 0])
    loss, grad = soft_target_cross_entropy(logits, np.eye(4)[labels])
    ref_loss, ref_grad = softmax_cross_entropy(logits, labels)
    assert np.isclose(loss, ref_loss, rtol=1e-12) and np.allclose(grad, ref_grad, atol=1e-15)
    assert soft_target_cross_entropy(logits, labels)[0] == ref_loss  # hard labels are accepted as they are


def test_hand_computed_value():
    # logits 0, 0 -> probabilities 1/2, 1/2; target (0.25, 0.75): loss = log 2, gradient (0.5 - t) / 1
    loss, grad = soft_target_cross_entropy(np.zeros((1, 2)), np.array([[0.25, 0.75]]))
    assert np.isclose(loss, np.log(2)) and np.allclose(grad, [[0.25, -0.25]])


def test_gradient_check_float64():
    logits, targets = np.random.default_rng(1).standard_normal((5, 3)), soft_targets(5, 3, 2)
    numeric = numerical_gradient(lambda z: soft_target_cross_entropy(z, targets)[0], logits.copy())
    assert rel_error(soft_target_cross_entropy(logits, targets)[1], numeric) < 1e-7


def test_gradient_check_for_targets_not_summing_to_one():
    logits, targets = np.random.default_rng(3).standard_normal((4, 3)), 2.0 * soft_targets(4, 3, 4)
    numeric = numerical_gradient(lambda z: soft_target_cross_entropy(z, targets)[0], logits.copy())
    assert rel_error(soft_target_cross_entropy(logits, targets)[1], numeric) < 1e-7


def test_matches_pytorch_with_probability_targets():
    torch = pytest.importorskip("torch")
    logits, targets = np.random.default_rng(5).standard_normal((7, 5)), soft_targets(7, 5, 6)
    z = torch.tensor(logits, requires_grad=True)
    expected = torch.nn.functional.cross_entropy(z, torch.tensor(targets))
    expected.backward()
    loss, grad = soft_target_cross_entropy(logits, targets)
    assert np.isclose(loss, expected.item(), rtol=1e-12) and np.allclose(grad, z.grad.numpy(), atol=1e-15)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_huge_logits_stay_finite_and_keep_dtype(dtype):
    logits = np.array([[1e30, -1e30, 0.0], [-3e38, 3e38, 1.0]], dtype=dtype)
    loss, grad = soft_target_cross_entropy(logits, np.array([[0.5, 0.5, 0.0], [0.0, 1.0, 0.0]], dtype=dtype))
    assert np.isfinite(loss) and np.all(np.isfinite(grad)) and grad.dtype == dtype


@pytest.mark.parametrize("targets,error,match", [
    (np.ones((3, 2)) / 2, ValueError, r"shape of logits \(3, 4\)"),
    (-np.ones((3, 4)), ValueError, "non-negative"),
    (np.full((3, 4), np.nan), ValueError, "non-finite"),
    ([[0.25] * 4] * 3, TypeError, "numpy array"),
])
def test_bad_targets(targets, error, match):
    with pytest.raises(error, match=match):
        soft_target_cross_entropy(np.zeros((3, 4)), targets)

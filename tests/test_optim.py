"""SGD, Adam, AdamW: each step equals PyTorch's documented update, computed here step by step."""
import math

import numpy as np
import pytest

from coursekit.layers import Dense, Layer
from coursekit.model import Parameter, Sequential
from coursekit.optim import SGD, Adam, AdamW


class Holder(Layer):
    """A parameter holder whose gradients the test sets by hand."""

    def __init__(self, W, b):
        super().__init__()
        self.params = {"W": np.array(W, dtype=float), "b": np.array(b, dtype=float)}


W0 = [[0.5, -1.0], [2.0, 0.25]]
B0 = [0.1, -0.3]
# gradients for three consecutive steps (different each step so momentum/moments matter)
GRADS = [
    ([[1.0, -2.0], [0.5, 0.0]], [0.2, -0.1]),
    ([[-0.5, 1.0], [0.25, 3.0]], [0.0, 0.4]),
    ([[2.0, 0.5], [-1.0, -1.0]], [-0.3, 0.3]),
]


def make():
    layer = Holder(W0, B0)
    return layer, [Parameter("0.W", layer, "W"), Parameter("0.b", layer, "b")]


def run(optimizer_cls, **kwargs):
    layer, params = make()
    opt = optimizer_cls(params, **kwargs)
    trajectory = []
    for gW, gb in GRADS:
        layer.grads = {"W": np.array(gW), "b": np.array(gb)}
        opt.step()
        trajectory.append((layer.params["W"].copy(), layer.params["b"].copy()))
    return trajectory


def sgd_reference(p, grads, lr, momentum=0.0, weight_decay=0.0):
    """torch.optim.SGD (dampening 0, no Nesterov), element by element in plain Python floats."""
    p, buf, out = list(p), None, []
    for g in grads:
        d = [gi + weight_decay * pi for gi, pi in zip(g, p)]
        if momentum:
            buf = d if buf is None else [momentum * bi + di for bi, di in zip(buf, d)]
            d = buf
        p = [pi - lr * di for pi, di in zip(p, d)]
        out.append(p)
    return out


def adam_reference(p, grads, lr, beta1, beta2, eps, weight_decay=0.0, decoupled=False):
    """torch.optim.Adam / AdamW as written in torch's single-tensor code path, in plain Python floats:

    step_size = lr / (1 - beta1^t); denom = sqrt(v) / sqrt(1 - beta2^t) + eps; p -= step_size * m / denom.
    """
    p, m, v, out = list(p), [0.0] * len(p), [0.0] * len(p), []
    for t, g in enumerate(grads, start=1):
        if decoupled:
            p = [pi * (1 - lr * weight_decay) for pi in p]
        elif weight_decay:
            g = [gi + weight_decay * pi for gi, pi in zip(g, p)]
        m = [beta1 * mi + (1 - beta1) * gi for mi, gi in zip(m, g)]
        v = [beta2 * vi + (1 - beta2) * gi * gi for vi, gi in zip(v, g)]
        step_size = lr / (1 - beta1 ** t)
        root_bc2 = math.sqrt(1 - beta2 ** t)
        p = [pi - step_size * mi / (math.sqrt(vi) / root_bc2 + eps) for pi, mi, vi in zip(p, m, v)]
        out.append(p)
    return out


def flat_params():
    return list(np.ravel(W0)) + list(B0)


def flat_grads():
    return [list(np.ravel(gW)) + list(gb) for gW, gb in GRADS]


def assert_trajectory(trajectory, reference):
    for (W, b), ref in zip(trajectory, reference):
        np.testing.assert_allclose(np.concatenate([W.ravel(), b]), ref, rtol=1e-13, atol=1e-15)


@pytest.mark.parametrize("momentum, weight_decay", [(0.0, 0.0), (0.9, 0.0), (0.0, 0.1), (0.8, 0.05)])
def test_sgd_matches_pytorch_equations(momentum, weight_decay):
    trajectory = run(SGD, lr=0.1, momentum=momentum, weight_decay=weight_decay)
    assert_trajectory(trajectory, sgd_reference(flat_params(), flat_grads(), 0.1, momentum, weight_decay))


def test_sgd_first_momentum_step_is_a_plain_step():
    # PyTorch initializes the buffer with the first gradient (not (1 - momentum) * g, not 0)
    (W, b), *_ = run(SGD, lr=0.1, momentum=0.9)
    np.testing.assert_allclose(W, np.array(W0) - 0.1 * np.array(GRADS[0][0]), rtol=1e-15)


@pytest.mark.parametrize("weight_decay", [0.0, 0.1])
def test_adam_matches_pytorch_equations(weight_decay):
    trajectory = run(Adam, lr=0.01, betas=(0.9, 0.999), eps=1e-8, weight_decay=weight_decay)
    assert_trajectory(trajectory, adam_reference(flat_params(), flat_grads(), 0.01, 0.9, 0.999, 1e-8, weight_decay))


@pytest.mark.parametrize("weight_decay", [0.0, 0.1])
def test_adamw_matches_pytorch_equations(weight_decay):
    trajectory = run(AdamW, lr=0.01, betas=(0.8, 0.99), eps=1e-6, weight_decay=weight_decay)
    assert_trajectory(trajectory, adam_reference(flat_params(), flat_grads(), 0.01, 0.8, 0.99, 1e-6, weight_decay,
                                                 decoupled=True))


def test_adam_first_step_moves_each_entry_by_about_lr():
    # after bias correction, m_hat / sqrt(v_hat) = g / |g| on step 1 (for g != 0)
    (W, b), *_ = run(Adam, lr=0.01)
    g = np.array(GRADS[0][0])
    moved = np.array(W0) - W
    np.testing.assert_allclose(moved[g != 0], 0.01 * np.sign(g[g != 0]), rtol=1e-6)
    assert moved[g == 0] == 0.0


def test_adam_l2_differs_from_adamw_decoupled_decay():
    adam = run(Adam, lr=0.01, weight_decay=0.1)[-1][0]
    adamw = run(AdamW, lr=0.01, weight_decay=0.1)[-1][0]
    assert np.max(np.abs(adam - adamw)) > 1e-5
    np.testing.assert_array_equal(run(Adam, lr=0.01)[-1][0], run(AdamW, lr=0.01, weight_decay=0.0)[-1][0])


def test_adamw_default_weight_decay_is_pytorchs():
    layer, params = make()
    assert AdamW(params).weight_decay == 0.01 and Adam(params).weight_decay == 0.0
    assert Adam(params).lr == 1e-3 and Adam(params).betas == (0.9, 0.999) and Adam(params).eps == 1e-8


@pytest.mark.parametrize("make_opt", [lambda p: SGD(p, 0.1, momentum=0.9, weight_decay=0.01),
                                      lambda p: Adam(p, 0.1, weight_decay=0.01), lambda p: AdamW(p, 0.1)])
def test_updates_are_in_place_and_keep_float32(make_opt):
    model = Sequential(Dense(3, 2, rng=np.random.default_rng(0)))
    W = model.layers[0].params["W"]
    before = W.copy()
    opt = make_opt(model.parameters())
    for _ in range(2):
        model.forward(np.ones((4, 3), dtype=np.float32), training=True)
        model.backward(np.ones((4, 2), dtype=np.float32))
        opt.step()
    assert model.layers[0].params["W"] is W and W.dtype == np.float32
    assert not np.array_equal(W, before)
    for state in opt.state.values():  # momentum buffers / Adam moments stay in the parameter's dtype
        assert all(v.dtype == np.float32 for v in state.values() if isinstance(v, np.ndarray))


def test_step_does_not_modify_the_gradients():
    layer, params = make()
    g = np.array(GRADS[0][0])
    layer.grads = {"W": g.copy(), "b": np.array(GRADS[0][1])}
    for opt in (SGD(params, 0.1, momentum=0.9, weight_decay=0.1), Adam(params, 0.1, weight_decay=0.1), AdamW(params)):
        opt.step()
        opt.step()
        np.testing.assert_array_equal(layer.grads["W"], g)


def test_a_few_sgd_steps_reduce_a_quadratic():
    # minimize 0.5 * ||W||^2 with gradient W: each plain step multiplies W by (1 - lr)
    layer, params = make()
    opt = SGD(params, lr=0.25)
    for _ in range(3):
        layer.grads = {k: v.copy() for k, v in layer.params.items()}
        opt.step()
    np.testing.assert_allclose(layer.params["W"], np.array(W0) * 0.75 ** 3, rtol=1e-15)


# ----------------------------------------------------------------------------- bad arguments

@pytest.mark.parametrize("cls", [SGD, Adam, AdamW])
def test_bad_learning_rate_and_weight_decay(cls):
    _, params = make()
    with pytest.raises(ValueError, match=r"lr must be > 0\.0, got 0\.0"):
        cls(params, lr=0)
    with pytest.raises(ValueError, match=r"lr must be > 0\.0, got -0\.1"):
        cls(params, lr=-0.1)
    with pytest.raises(ValueError, match=r"lr must be a finite number, got nan"):
        cls(params, lr=float("nan"))
    with pytest.raises(TypeError, match=r"lr must be a real number, got '0\.1' of type str"):
        cls(params, lr="0.1")
    with pytest.raises(ValueError, match=r"weight_decay must be >= 0\.0, got -1\.0"):
        cls(params, lr=0.1, weight_decay=-1)


def test_bad_params():
    with pytest.raises(ValueError, match=r"SGD: params is empty; pass model\.parameters\(\)"):
        SGD([], lr=0.1)
    with pytest.raises(TypeError, match=r"Adam: params must come from model\.parameters\(\), got an item of type ndarray"):
        Adam([np.zeros(3)], lr=0.1)


def test_bad_momentum_betas_eps():
    _, params = make()
    with pytest.raises(ValueError, match=r"momentum must be in \[0\.0, 1\.0\), got 1\.0"):
        SGD(params, lr=0.1, momentum=1.0)
    with pytest.raises(ValueError, match=r"momentum must be in \[0\.0, 1\.0\), got -0\.5"):
        SGD(params, lr=0.1, momentum=-0.5)
    with pytest.raises(TypeError, match=r"betas must be a pair \(beta1, beta2\), got \(0\.9,\)"):
        Adam(params, betas=(0.9,))
    with pytest.raises(ValueError, match=r"betas\[0\] must be in \[0\.0, 1\.0\), got 1\.0"):
        Adam(params, betas=(1.0, 0.999))
    with pytest.raises(ValueError, match=r"betas\[1\] must be in \[0\.0, 1\.0\), got 1\.5"):
        AdamW(params, betas=(0.9, 1.5))
    with pytest.raises(ValueError, match=r"eps must be > 0\.0, got 0\.0"):
        Adam(params, eps=0.0)


def test_step_before_backward_and_mismatched_gradient():
    layer, params = make()
    opt = SGD(params, lr=0.1)
    with pytest.raises(RuntimeError, match=r"parameter 0\.W has no gradient yet"):
        opt.step()
    layer.grads = {"W": np.zeros((2, 3)), "b": np.zeros(2)}
    with pytest.raises(ValueError, match=r"SGD.step: the gradient of 0\.W \(grads\['W'\]\) has shape \(2, 3\), "
                                         r"the parameter has \(2, 2\)"):
        opt.step()


@pytest.mark.parametrize("bad, error, message", [
    ([0.0, 0.0], TypeError, r"SGD.step: the gradient of 0\.b \(grads\['b'\]\) must be a numpy array shaped like the "
                            r"parameter \(2,\), got \[0\.0, 0\.0\] of type list"),
    (np.zeros(2, complex), TypeError, r"the gradient of 0\.b .*must hold real numbers, got dtype complex128"),
    (np.zeros(2, object), TypeError, r"the gradient of 0\.b .*must hold real numbers, got dtype object"),
    (None, RuntimeError, r"parameter 0\.b has no gradient yet"),
])
def test_a_gradient_that_is_not_a_real_array_is_a_clear_error_and_nothing_moves(bad, error, message):
    layer, params = make()
    before = {k: v.copy() for k, v in layer.params.items()}
    layer.grads = {"W": np.ones((2, 2)), "b": bad}  # W comes first: a half-done step would already have moved it
    with pytest.raises(error, match=message):
        SGD(params, lr=0.1).step()
    for key, value in layer.params.items():
        np.testing.assert_array_equal(value, before[key])


def test_parameter_groups_decay_only_their_own_parameters():
    # One SGD step by hand: the weight group gets g + wd*p, the bias group plain g.
    from coursekit.layers import Dense
    from coursekit.model import Sequential
    from coursekit.optim import SGD, weight_decay_groups

    model = Sequential(Dense(2, 3, rng=np.random.default_rng(0), dtype=np.float64))
    layer = model.layers[0]
    layer.params["b"][...] = [0.5, -1.0, 2.0]
    W0, b0 = layer.params["W"].copy(), layer.params["b"].copy()
    layer.grads = {"W": np.full((2, 3), 0.25), "b": np.array([1.0, 2.0, 3.0])}
    groups = weight_decay_groups(model.parameters(), 0.1)
    assert [p.name for p in groups[0]["params"]] == ["0.W"] and [p.name for p in groups[1]["params"]] == ["0.b"]
    SGD(groups, lr=0.5).step()
    np.testing.assert_allclose(layer.params["W"], W0 - 0.5 * (0.25 + 0.1 * W0), rtol=1e-12)
    np.testing.assert_allclose(layer.params["b"], b0 - 0.5 * np.array([1.0, 2.0, 3.0]), rtol=1e-12)


def test_parameter_groups_bad_input():
    from coursekit.layers import Dense
    from coursekit.model import Sequential
    from coursekit.optim import SGD

    params = Sequential(Dense(2, 3, rng=np.random.default_rng(0))).parameters()
    with pytest.raises(ValueError, match=r"parameter group 0 needs a 'params' list"):
        SGD([{"weight_decay": 0.1}], lr=0.1)
    with pytest.raises(ValueError, match=r"param_groups\[0\].weight_decay must be >= 0.0, got -1.0"):
        SGD([{"params": params, "weight_decay": -1.0}], lr=0.1)


def test_params_must_be_the_models_parameters_not_the_model():
    model = Sequential(Dense(2, 2, rng=np.random.default_rng(0)))
    with pytest.raises(TypeError, match=r"SGD: params must be the model's parameters, got the model itself "
                                        r"\(Sequential\); write SGD\(model\.parameters\(\), \.\.\.\)"):
        SGD(model, lr=0.1)
    with pytest.raises(TypeError, match=r"AdamW: params must be all parameters .* or all parameter groups"):
        AdamW([{"params": model.parameters()[:1]}, model.parameters()[1]], lr=0.1)


def test_an_empty_group_is_fine_and_a_parameter_listed_twice_is_not():
    model = Sequential(Dense(2, 2, rng=np.random.default_rng(0)))
    weight, bias = model.parameters()
    # e.g. weight_decay_groups on a model without biases: the second group is empty
    opt = SGD([{"params": [weight, bias]}, {"params": [], "weight_decay": 0.0}], lr=0.1)
    assert opt.params == [weight, bias]
    with pytest.raises(ValueError, match=r"Adam: parameter 0\.b appears more than once in params"):
        Adam([{"params": [weight, bias]}, {"params": [bias], "weight_decay": 0.0}], lr=0.1)
    with pytest.raises(ValueError, match=r"SGD: params is empty"):
        SGD([{"params": []}], lr=0.1)


def test_a_missing_gradient_hints_at_an_optimizer_built_on_another_model():
    used, other = (Sequential(Dense(2, 1, rng=np.random.default_rng(s))) for s in (0, 1))
    opt = SGD(other.parameters(), lr=0.1)
    used.forward(np.ones((3, 2), np.float32), training=True)
    used.backward(np.ones((3, 1), np.float32))  # gradients for `used`, none for `other`
    with pytest.raises(RuntimeError, match=r"the optimizer holds another model's parameters \(this one belongs to a "
                                           r"Dense\)"):
        opt.step()

"""Sequential and Parameter: composition, backward (float64 gradient check), checkpoints (copies)."""
import numpy as np
import pytest

from coursekit.gradcheck import numerical_gradient, rel_error
from coursekit.layers import Dense, Layer, ReLU, Tanh
from coursekit.model import Parameter, Sequential
from coursekit.optim import SGD


def rng(seed=0):
    return np.random.default_rng(seed)


class Spy(Layer):
    """Identity layer that records the ``training`` flag and batch sizes it saw."""

    def __init__(self):
        super().__init__()
        self.calls = []

    def forward(self, x, *, training):
        self.calls.append((training, len(x)))
        return x

    def backward(self, dout):
        return dout


class WithBuffer(Layer):
    """Identity layer with a non-trained buffer (like batch norm's running mean)."""

    def __init__(self):
        super().__init__()
        self.buffers["running_mean"] = np.array([1.0, 2.0])

    def forward(self, x, *, training):
        return x

    def backward(self, dout):
        return dout


def small_model(dtype=np.float64):
    return Sequential(Dense(3, 5, rng=rng(1), dtype=dtype), Tanh(), Dense(5, 2, rng=rng(2), dtype=dtype))


def test_forward_is_the_composition_of_the_layers():
    model = small_model()
    x = rng(3).standard_normal((4, 3))
    W0, b0 = model.layers[0].params["W"], model.layers[0].params["b"]
    W2, b2 = model.layers[2].params["W"], model.layers[2].params["b"]
    expected = np.tanh(x @ W0 + b0) @ W2 + b2
    np.testing.assert_allclose(model.forward(x, training=True), expected, rtol=1e-14)
    np.testing.assert_allclose(model(x, training=False), expected, rtol=1e-14)


def test_backward_matches_numerical_gradient_float64():
    model = Sequential(Dense(3, 6, rng=rng(1), dtype=np.float64), ReLU(), Dense(6, 6, rng=rng(2), dtype=np.float64),
                       Tanh(), Dense(6, 2, rng=rng(3), dtype=np.float64))
    x = rng(4).standard_normal((5, 3))
    dout = rng(5).standard_normal((5, 2))

    def objective(inputs):
        return float(np.sum(model.forward(inputs, training=True) * dout))

    def objective_with(p, value):  # with parameter p set to value (numerical_gradient's contract)
        original = p.layer.params[p.key]
        p.layer.params[p.key] = value
        try:
            return objective(x)
        finally:
            p.layer.params[p.key] = original

    model.forward(x, training=True)
    dx = model.backward(dout)
    assert rel_error(dx, numerical_gradient(objective, x.copy())) < 1e-7
    for p in model.parameters():
        analytic = p.grad.copy()
        numeric = numerical_gradient(lambda v, p=p: objective_with(p, v), p.value.copy())
        assert rel_error(analytic, numeric) < 1e-7, p.name


class RefusesBackward(Layer):
    """A parameter-free layer whose backward must not run (nothing needs its input gradient)."""

    def forward(self, x, *, training):
        return x

    def backward(self, dout):
        raise AssertionError("backward of a layer below the first parameterized one was called")


class PlainDense(Dense):
    """A layer with parameters whose backward has no input_grad switch (e.g. written by a learner)."""

    def backward(self, dout):
        return super().backward(dout)


@pytest.mark.parametrize("make_first", [lambda: Dense(3, 5, rng=rng(1)), lambda: PlainDense(3, 5, rng=rng(1))])
def test_backward_without_the_input_gradient_gives_the_same_parameter_gradients(make_first):
    model = Sequential(RefusesBackward(), make_first(), ReLU(), Dense(5, 2, rng=rng(2)))
    x = rng(3).standard_normal((4, 3)).astype(np.float32)
    dout = rng(4).standard_normal((4, 2)).astype(np.float32)
    model.forward(x, training=True)
    assert model.backward(dout, input_grad=False) is None
    skipped = {p.name: p.grad.copy() for p in model.parameters()}
    full = Sequential(*model.layers[1:])  # the same layers, every input gradient computed
    full.forward(x, training=True)
    dx = full.backward(dout)
    assert dx.shape == x.shape
    assert len(model.parameters()) == len(full.parameters()) == 4
    for p, q in zip(model.parameters(), full.parameters()):
        np.testing.assert_array_equal(p.grad, q.grad)
        np.testing.assert_array_equal(p.grad, skipped[p.name])


def test_backward_input_grad_must_be_a_bool_and_a_model_without_parameters_computes_nothing():
    model = Sequential(RefusesBackward(), Tanh())
    model.forward(np.ones((2, 3)), training=True)
    assert model.backward(np.ones((2, 3)), input_grad=False) is None
    with pytest.raises(TypeError, match="Sequential.backward: input_grad must be True or False, got 'yes'"):
        model.backward(np.ones((2, 3)), input_grad="yes")


def test_parameters_are_live_handles_with_pytorch_names():
    model = Sequential(Dense(2, 3, rng=rng()), ReLU(), Dense(3, 1, rng=rng()))
    params = model.parameters()
    assert [p.name for p in params] == ["0.W", "0.b", "2.W", "2.b"]
    assert [p.is_weight for p in params] == [True, False, True, False]
    assert all(isinstance(p, Parameter) for p in params)
    assert params[0].value is model.layers[0].params["W"]
    with pytest.raises(RuntimeError, match=r"parameter 0\.W has no gradient yet: call model\.backward"):
        params[0].grad
    model.forward(np.ones((2, 2), dtype=np.float32), training=True)
    model.backward(np.ones((2, 1), dtype=np.float32))
    assert params[2].grad is model.layers[2].grads["W"]


def test_weights_are_the_weight_matrices_only():
    model = Sequential(Dense(2, 3, rng=rng()), ReLU(), Dense(3, 1, rng=rng()))
    weights = model.weights()
    assert len(weights) == 2
    assert weights[0] is model.layers[0].params["W"] and weights[1] is model.layers[2].params["W"]


def test_predict_is_eval_mode_and_batched():
    spy = Spy()
    model = Sequential(Dense(2, 3, rng=rng(), dtype=np.float64), spy)
    x = rng(1).standard_normal((10, 2))
    out = model.predict(x, batch_size=4)
    assert spy.calls == [(False, 4), (False, 4), (False, 2)]
    W, b = model.layers[0].params["W"], model.layers[0].params["b"]
    np.testing.assert_allclose(out, x @ W + b, rtol=1e-14)
    with pytest.raises(ValueError, match=r"batch_size must be an integer >= 1, got 0"):
        model.predict(x, batch_size=0)
    with pytest.raises(TypeError, match=r"Sequential\.predict: x must be a numpy array"):
        model.predict([[1.0, 2.0]])


def test_forward_passes_training_flag():
    spy = Spy()
    model = Sequential(spy)
    model.forward(np.ones((3, 1)), training=True)
    model.forward(np.ones((2, 1)), training=False)
    assert spy.calls == [(True, 3), (False, 2)]


def test_constructor_accepts_a_list_and_rejects_non_layers():
    layers = [Dense(2, 2, rng=rng()), ReLU()]
    assert Sequential(layers).layers == layers
    with pytest.raises(ValueError, match=r"Sequential needs at least one layer"):
        Sequential()
    with pytest.raises(TypeError, match=r"layer 1 must be a layer with forward/backward/params, got 'relu' of type str"):
        Sequential(ReLU(), "relu")


# ----------------------------------------------------------------------------- checkpoints

def test_state_dict_returns_copies_of_params_and_buffers():
    model = Sequential(Dense(2, 3, rng=rng()), WithBuffer())
    state = model.state_dict()
    assert sorted(state) == ["0.W", "0.b", "1.running_mean"]
    before = model.layers[0].params["W"].copy()
    for value in state.values():
        value[...] = 123.0  # mutating the checkpoint ...
    np.testing.assert_array_equal(model.layers[0].params["W"], before)  # ... leaves the model alone
    np.testing.assert_array_equal(model.layers[1].buffers["running_mean"], [1.0, 2.0])
    for name, value in model.state_dict().items():
        assert not np.shares_memory(value, state[name])


def test_state_dict_is_a_snapshot_not_a_view():
    model = Sequential(Dense(2, 3, rng=rng()))
    state = model.state_dict()
    saved = state["0.W"].copy()
    model.layers[0].params["W"] += 1.0  # training continues ...
    np.testing.assert_array_equal(state["0.W"], saved)  # ... the snapshot does not move


def test_load_state_dict_copies_in_place_so_optimizer_handles_stay_live():
    model = Sequential(Dense(2, 3, rng=rng(), dtype=np.float64), WithBuffer())
    W_array = model.layers[0].params["W"]
    optimizer = SGD(model.parameters(), lr=0.5)
    state = model.state_dict()
    W_saved = state["0.W"].copy()

    model.layers[0].params["W"] += 10.0
    model.layers[1].buffers["running_mean"][...] = 0.0
    model.load_state_dict(state)
    assert model.layers[0].params["W"] is W_array  # same array object
    np.testing.assert_array_equal(W_array, W_saved)
    np.testing.assert_array_equal(model.layers[1].buffers["running_mean"], [1.0, 2.0])

    state["0.W"][...] = -1.0  # the loaded values were copied, not referenced
    np.testing.assert_array_equal(W_array, W_saved)

    # the optimizer still updates the live array after loading
    model.forward(np.ones((1, 2)), training=True)
    model.backward(np.ones((1, 3)))
    optimizer.step()
    np.testing.assert_allclose(model.layers[0].params["W"], W_saved - 0.5 * np.ones((2, 3)), rtol=1e-15)


def test_load_state_dict_bad_input_changes_nothing():
    model = Sequential(Dense(2, 3, rng=rng()), Dense(3, 1, rng=rng()))
    good = model.state_dict()
    with pytest.raises(TypeError, match=r"load_state_dict: state must be a dict.*got list"):
        model.load_state_dict([1, 2])
    missing = {k: v for k, v in good.items() if k != "1.b"}
    with pytest.raises(ValueError, match=r"missing \['1\.b'\], unexpected \[\]"):
        model.load_state_dict(missing)
    with pytest.raises(ValueError, match=r"unexpected \['2\.W'\]"):
        model.load_state_dict({**good, "2.W": np.zeros(1)})
    bad = {k: np.full_like(v, 7.0) for k, v in good.items()}
    bad["1.W"] = np.zeros((1, 3))  # transposed
    with pytest.raises(ValueError, match=r"1\.W has shape \(1, 3\), the model expects \(3, 1\)"):
        model.load_state_dict(bad)
    # validation happens before any copy: nothing was overwritten with 7s
    for name, value in model.state_dict().items():
        np.testing.assert_array_equal(value, good[name])


def test_repr_lists_layers():
    text = repr(Sequential(Dense(2, 3, rng=rng()), ReLU()))
    assert "(0) Dense(2, 3, init='he')" in text and "(1) ReLU()" in text

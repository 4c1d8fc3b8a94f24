"""fit / evaluate / accuracy / History: logs, reproducibility, callbacks, divergence, bad arguments."""
import warnings

import numpy as np
import pytest

from coursekit.layers import Dense, Layer, ReLU
from coursekit.losses import binary_cross_entropy_with_logits as bce
from coursekit.losses import softmax_cross_entropy
from coursekit.model import Sequential
from coursekit.optim import SGD, Adam
from coursekit.training import History, accuracy, evaluate, fit


def rng(seed=0):
    return np.random.default_rng(seed)


def blobs(n=40, seed=0):
    """Two separable blobs in 2-D; float64 so logged values can be checked exactly."""
    g = rng(seed)
    y = np.arange(n) % 2
    X = g.standard_normal((n, 2)) * 0.5 + np.where(y[:, None] == 1, 2.0, -2.0)
    return X, y.astype(np.int64)


def mlp(seed=0, dtype=np.float64):
    return Sequential(Dense(2, 8, rng=rng(seed), dtype=dtype), ReLU(), Dense(8, 1, rng=rng(seed + 1), dtype=dtype))


class NoStep:
    """An optimizer that never changes the model (so every batch sees the same parameters)."""

    def step(self):
        pass


class Spy(Layer):
    def __init__(self):
        super().__init__()
        self.batches = []
        self.flags = []

    def forward(self, x, *, training):
        self.flags.append(training)
        if training:
            self.batches.append(x.copy())
        return x

    def backward(self, dout):
        return dout


def quiet_fit(*args, **kwargs):
    kwargs.setdefault("progress", False)
    return fit(*args, **kwargs)


# ----------------------------------------------------------------------------- accuracy / History / evaluate

def test_accuracy_hand_cases():
    assert accuracy(np.array([2.0, -1.0, 0.0, 0.5]), np.array([1, 0, 0, 0])) == 0.75  # logit 0 -> class 0
    assert accuracy(np.array([[2.0], [-1.0]]), np.array([[1], [1]])) == 0.5
    assert accuracy(np.array([[0.1, 0.9, 0.0], [3.0, 1.0, 2.0], [0.0, 0.0, 1.0]]), np.array([1, 2, 2])) == 2 / 3


def test_accuracy_rejects_labels_that_do_not_match_the_outputs():
    # regression: one logit against three labels broadcast silently to a meaningless number
    with pytest.raises(ValueError, match=r"accuracy: y must have one label per row of outputs \(1\), got shape \(3,\)"):
        accuracy(np.array([1.0]), np.array([1, 0, 1]))
    # regression: (6, 1) labels for 3 outputs were reshaped to (3, 2) and half of them dropped
    with pytest.raises(ValueError, match=r"one label per row of outputs \(3\), got shape \(6, 1\)"):
        accuracy(np.zeros((3, 1)), np.zeros((6, 1)))


def test_history_behaves_like_keras_history():
    h = History()
    assert h.epochs == 0 and h.stop_reason is None and h.stopped_epoch is None and not h.diverged
    h.append({"loss": np.float32(1.5), "accuracy": 0.5})
    h.append({"loss": 1.0, "accuracy": 0.75})
    assert h["loss"] == [1.5, 1.0] and type(h["loss"][0]) is float
    assert h.epochs == 2 and "accuracy" in h and "val_loss" not in h and set(h.keys()) == {"loss", "accuracy"}
    with pytest.raises(KeyError, match=r"History has no metric 'val_loss'; it has \['accuracy', 'loss'\]"):
        h["val_loss"]
    assert "epochs=2" in repr(h)


def test_evaluate_uses_eval_mode_and_the_loss_of_the_outputs():
    spy = Spy()
    model = Sequential(Dense(2, 1, rng=rng(), dtype=np.float64), spy)
    X, y = blobs(10)
    loss, acc = evaluate(model, bce, X, y)
    assert spy.flags == [False]
    W, b = model.layers[0].params["W"], model.layers[0].params["b"]
    z = (X @ W + b).ravel()
    expected_loss = np.mean(np.logaddexp(0, z) - z * y)  # softplus form, written differently from the module
    assert loss == pytest.approx(expected_loss, rel=1e-13)
    assert acc == np.mean((z > 0) == (y == 1))


# ----------------------------------------------------------------------------- fit: what is logged

def test_logged_loss_is_the_mean_over_all_samples_and_validation_is_eval_mode():
    X, y = blobs(10)
    X_val, y_val = blobs(6, seed=1)
    model = mlp()
    history = quiet_fit(model, bce, NoStep(), X, y, epochs=2, batch_size=4, rng=rng(),
                        validation_data=(X_val, y_val))
    # with frozen parameters, the size-weighted mean of batch losses (4, 4, 2) is the full-data loss
    z = model.forward(X, training=False).ravel()
    full_loss = np.mean(np.logaddexp(0, z) - z * y)
    np.testing.assert_allclose(history["loss"], [full_loss, full_loss], rtol=1e-13)
    assert history["accuracy"] == [np.mean((z > 0) == (y == 1))] * 2
    z_val = model.forward(X_val, training=False).ravel()
    assert history["val_loss"][0] == pytest.approx(np.mean(np.logaddexp(0, z_val) - z_val * y_val), rel=1e-13)
    assert history["val_accuracy"][0] == np.mean((z_val > 0) == (y_val == 1))
    assert history.epochs == 2 and history.stop_reason is None and history.stopped_epoch is None


def test_every_sample_once_per_epoch_in_a_fresh_order():
    spy = Spy()
    model = Sequential(spy, Dense(1, 1, rng=rng(), dtype=np.float64))
    X = np.arange(10, dtype=np.float64).reshape(-1, 1)
    y = np.zeros(10, dtype=np.int64)
    quiet_fit(model, bce, NoStep(), X, y, epochs=2, batch_size=4, rng=rng(3))
    assert [len(b) for b in spy.batches] == [4, 4, 2, 4, 4, 2]
    epoch0 = np.concatenate(spy.batches[:3]).ravel()
    epoch1 = np.concatenate(spy.batches[3:]).ravel()
    assert sorted(epoch0) == list(range(10)) and sorted(epoch1) == list(range(10))
    assert not np.array_equal(epoch0, epoch1)
    assert spy.flags == [True] * 6


def test_no_validation_keys_without_validation_data():
    X, y = blobs(8)
    history = quiet_fit(mlp(), bce, NoStep(), X, y, epochs=1, batch_size=8, rng=rng())
    assert set(history.keys()) == {"loss", "accuracy"}


def test_fit_learns_a_separable_problem():
    X, y = blobs(40)
    model = mlp()
    history = quiet_fit(model, bce, SGD(model.parameters(), lr=0.1), X, y, epochs=20, batch_size=8, rng=rng())
    assert history["loss"][-1] < 0.5 * history["loss"][0]
    assert history["accuracy"][-1] == 1.0


def test_fit_multiclass_with_softmax():
    g = rng(5)
    y = np.arange(60) % 3
    centers = np.array([[3.0, 0.0], [-3.0, 0.0], [0.0, 3.0]])
    X = (centers[y] + 0.3 * g.standard_normal((60, 2))).astype(np.float32)
    model = Sequential(Dense(2, 3, rng=rng()))
    history = quiet_fit(model, softmax_cross_entropy, Adam(model.parameters(), lr=0.05), X, y, epochs=15,
                        batch_size=16, rng=rng(), validation_data=(X, y))
    assert history["val_accuracy"][-1] == 1.0


def test_fit_is_reproducible_with_the_same_seed():
    X, y = blobs(30)
    runs = []
    for seed in (7, 7, 8):
        model = mlp()
        h = quiet_fit(model, bce, SGD(model.parameters(), lr=0.05, momentum=0.9), X, y, epochs=3, batch_size=7,
                      rng=rng(seed), validation_data=(X, y))
        runs.append((h.history, model.state_dict()))
    (h1, s1), (h2, s2), (h3, _) = runs
    assert h1 == h2
    for name in s1:
        np.testing.assert_array_equal(s1[name], s2[name])
    assert h1["loss"] != h3["loss"]  # a different shuffling seed gives a different run


def test_regularizer_protocol():
    class Constant:
        def __init__(self):
            self.penalty_m, self.gradient_m = [], []

        def penalty(self, model, m):
            self.penalty_m.append(m)
            return 0.25

        def add_gradients(self, model, m):
            self.gradient_m.append(m)

    X, y = blobs(10)
    reg = Constant()
    base = quiet_fit(mlp(), bce, NoStep(), X, y, epochs=1, batch_size=4, rng=rng())
    regd = quiet_fit(mlp(), bce, NoStep(), X, y, epochs=1, batch_size=4, rng=rng(), regularizer=reg)
    assert regd["loss"][0] == pytest.approx(base["loss"][0] + 0.25, rel=1e-13)
    assert reg.penalty_m == [4, 4, 2] and reg.gradient_m == [4, 4, 2]


# ----------------------------------------------------------------------------- callbacks

class Recorder:
    def __init__(self, stop_at=None, reason=None):
        self.events, self.stop_at = [], stop_at
        if reason:
            self.stop_reason = reason

    def on_train_begin(self, model):
        self.events.append(("begin", model))

    def on_epoch_end(self, epoch, logs):
        self.events.append(("epoch", epoch, sorted(logs)))
        logs["loss"] = -1.0  # must not leak into the History
        return epoch == self.stop_at

    def on_train_end(self):
        self.events.append(("end",))


def test_callbacks_are_called_in_order_and_can_stop_training():
    X, y = blobs(8)
    model = mlp()
    rec, stopper = Recorder(), Recorder(stop_at=1)
    history = quiet_fit(model, bce, NoStep(), X, y, epochs=5, batch_size=4, rng=rng(), callbacks=[rec, stopper],
                        validation_data=(X, y))
    keys = ["accuracy", "loss", "val_accuracy", "val_loss"]
    assert rec.events == [("begin", model), ("epoch", 0, keys), ("epoch", 1, keys), ("end",)]
    assert history.epochs == 2 and history.stopped_epoch == 1
    assert history.stop_reason == "Recorder stopped training after epoch 1 (0-based)"
    assert all(v > 0 for v in history["loss"])


def test_callback_stop_reason_is_copied():
    X, y = blobs(8)
    history = quiet_fit(mlp(), bce, NoStep(), X, y, epochs=5, batch_size=4, rng=rng(),
                        callbacks=[Recorder(stop_at=0, reason="patience ran out")])
    assert history.stop_reason == "patience ran out" and history.stopped_epoch == 0 and history.epochs == 1


def test_a_callback_with_only_on_epoch_end_is_enough():
    class Minimal:
        def on_epoch_end(self, epoch, logs):
            return False

    X, y = blobs(8)
    assert quiet_fit(mlp(), bce, NoStep(), X, y, epochs=2, batch_size=4, rng=rng(), callbacks=[Minimal()]).epochs == 2


# ----------------------------------------------------------------------------- divergence

def nan_after(calls):
    """A BCE that returns a NaN loss from its ``calls``-th call on."""
    count = [0]

    def loss_fn(logits, targets):
        count[0] += 1
        loss, grad = bce(logits, targets)
        return (float("nan") if count[0] > calls else loss), grad
    return loss_fn


def test_nan_loss_raises_naming_the_epoch():
    X, y = blobs(8)  # 2 batches of 4 per epoch; the 5th call is epoch 2
    with pytest.raises(FloatingPointError, match=r"Training diverged at epoch 2 \(0-based\), batch 0: the loss"):
        quiet_fit(mlp(), nan_after(4), NoStep(), X, y, epochs=5, batch_size=4, rng=rng())


def test_nan_loss_with_on_nan_stop_warns_and_marks_the_history():
    X, y = blobs(8)
    with pytest.warns(RuntimeWarning, match=r"Training diverged at epoch 2"):
        history = quiet_fit(mlp(), nan_after(5), NoStep(), X, y, epochs=5, batch_size=4, rng=rng(), on_nan="stop")
    assert history.diverged and history.stopped_epoch == 2 and history.epochs == 2
    assert "epoch 2" in history.stop_reason


def test_exploding_learning_rate_is_caught_with_a_clear_message():
    X, y = blobs(40)
    model = mlp()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # numpy's overflow warnings on the way to inf
        with np.errstate(all="ignore"), pytest.raises(FloatingPointError, match=r"Training diverged at epoch \d+"):
            quiet_fit(model, bce, SGD(model.parameters(), lr=1e200), X, y, epochs=3, batch_size=4, rng=rng())


def test_divergence_on_the_last_update_with_validation_data_is_a_divergence_not_a_loss_error():
    # regression: the epoch's last step made the outputs inf, and evaluate() on the validation data
    # raised the loss's ValueError ("logits contains non-finite values") instead of a divergence message
    X, y = blobs(20)
    model = mlp()
    with np.errstate(all="ignore"), pytest.raises(FloatingPointError, match=r"diverged at epoch 0.*validation"):
        quiet_fit(model, bce, SGD(model.parameters(), lr=1e300), X, y, epochs=3, batch_size=20, rng=rng(),
                  validation_data=(X, y))


def test_non_finite_parameters_after_the_final_update_are_reported():
    # regression: NaN parameters produced by the very last step went unnoticed (History looked fine)
    class PoisonOnStep:
        def __init__(self, params, at):
            self.params, self.at, self.calls = params, at, 0

        def step(self):
            self.calls += 1
            if self.calls == self.at:
                self.params[0].value[0, 0] = np.nan

    X, y = blobs(8)
    model = mlp()
    with pytest.raises(FloatingPointError, match=r"diverged at epoch 1 \(0-based\): the parameters"):
        quiet_fit(model, bce, PoisonOnStep(model.parameters(), at=4), X, y, epochs=2, batch_size=4, rng=rng())


# ----------------------------------------------------------------------------- bad arguments

def test_fit_bad_arguments_name_the_argument_and_value():
    X, y = blobs(10)
    model = mlp()
    opt = NoStep()
    with pytest.raises(ValueError, match=r"epochs must be an integer >= 1, got 0"):
        quiet_fit(model, bce, opt, X, y, epochs=0, batch_size=4, rng=rng())
    with pytest.raises(TypeError, match=r"epochs must be an integer, got 2\.0 of type float"):
        quiet_fit(model, bce, opt, X, y, epochs=2.0, batch_size=4, rng=rng())
    with pytest.raises(ValueError, match=r"batch_size must be an integer >= 1, got -1"):
        quiet_fit(model, bce, opt, X, y, epochs=1, batch_size=-1, rng=rng())
    with pytest.raises(TypeError, match=r"rng must be a numpy random Generator.*got 42 of type int"):
        quiet_fit(model, bce, opt, X, y, epochs=1, batch_size=4, rng=42)
    with pytest.raises(TypeError, match=r"rng must be a numpy random Generator.*RandomState"):
        quiet_fit(model, bce, opt, X, y, epochs=1, batch_size=4, rng=np.random.RandomState(0))
    with pytest.raises(ValueError, match=r"fit: y has 9 rows but X has 10; they must match"):
        quiet_fit(model, bce, opt, X, y[:9], epochs=1, batch_size=4, rng=rng())
    with pytest.raises(ValueError, match=r"fit: y_val has 3 rows but X_val has 10"):
        quiet_fit(model, bce, opt, X, y, epochs=1, batch_size=4, rng=rng(), validation_data=(X, y[:3]))
    with pytest.raises(TypeError, match=r"validation_data must be a pair \(X_val, y_val\)"):
        quiet_fit(model, bce, opt, X, y, epochs=1, batch_size=4, rng=rng(), validation_data=X)
    with pytest.raises(ValueError, match=r"on_nan must be 'raise' or 'stop', got 'ignore'"):
        quiet_fit(model, bce, opt, X, y, epochs=1, batch_size=4, rng=rng(), on_nan="ignore")
    with pytest.raises(TypeError, match=r"every callback needs on_epoch_end\(epoch, logs\); got str"):
        quiet_fit(model, bce, opt, X, y, epochs=1, batch_size=4, rng=rng(), callbacks=["early"])
    with pytest.raises(TypeError, match=r"fit: X must be a numpy array, got \[\[0\.0, 1\.0\]\] of type list"):
        quiet_fit(model, bce, opt, [[0.0, 1.0]], [0], epochs=1, batch_size=4, rng=rng())
    with pytest.raises(TypeError, match=r"fit: X must have a floating dtype"):
        quiet_fit(model, bce, opt, X.astype(np.int64), y, epochs=1, batch_size=4, rng=rng())


def test_fit_with_progress_bar_runs(capsys):
    X, y = blobs(8)
    history = fit(mlp(), bce, NoStep(), X, y, epochs=2, batch_size=4, rng=rng(), progress=True)
    assert history.epochs == 2


# ----------------------------------------------------------------------------- labels, callbacks, optimizer checks

def test_accuracy_accepts_every_honest_way_of_writing_labels():
    logits = np.array([2.0, -1.0, 0.5, -3.0])
    expected = 0.75
    for y in (np.array([1, 0, 0, 0]), np.array([True, False, False, False]), np.array([1.0, 0.0, 0.0, 0.0]),
              np.array([[1], [0], [0], [0]]), [1, 0, 0, 0], np.array([1, 0, 0, 0], dtype=np.uint8)):
        assert accuracy(logits, y) == expected
    assert accuracy(np.array([[0.1, 0.9], [2.0, 1.0]]), np.array([1.0, 1.0])) == 0.5


def test_fit_accepts_float_whole_number_labels_and_a_list():
    X, y = blobs(10)
    h1 = quiet_fit(mlp(), bce, NoStep(), X, y, epochs=1, batch_size=4, rng=rng())
    h2 = quiet_fit(mlp(), bce, NoStep(), X, y.astype(np.float32), epochs=1, batch_size=4, rng=rng())
    h3 = quiet_fit(mlp(), bce, NoStep(), X, list(y), epochs=1, batch_size=4, rng=rng())
    assert h1.history == h2.history == h3.history


def test_fit_without_callbacks_accepts_none():
    X, y = blobs(10)
    assert quiet_fit(mlp(), bce, NoStep(), X, y, epochs=2, batch_size=4, rng=rng(), callbacks=None).epochs == 2


def test_an_optimizer_on_a_subset_of_the_model_is_fine_but_not_one_on_another_model():
    X, y = blobs(10)
    model = mlp()
    head = [p for p in model.parameters() if p.name.startswith("2.")]
    quiet_fit(model, bce, SGD(head, lr=0.1), X, y, epochs=1, batch_size=4, rng=rng())  # fine-tuning the head only
    other = mlp()
    mixed = SGD(head + [other.parameters()[0]], lr=0.1)
    with pytest.raises(ValueError, match=r"holds parameters that are not this model's \(1 of 3, e.g\. 0\.W"):
        quiet_fit(model, bce, mixed, X, y, epochs=1, batch_size=4, rng=rng())


def test_nan_in_x_is_named_before_any_training():
    X, y = blobs(10)
    X[3, 1] = np.nan
    model = mlp()
    before = model.state_dict()
    with pytest.raises(ValueError, match=r"^fit: X contains 1 non-finite value"):
        quiet_fit(model, bce, SGD(model.parameters(), lr=0.1), X, y, epochs=1, batch_size=4, rng=rng())
    assert all(np.array_equal(before[k], v) for k, v in model.state_dict().items())  # nothing was trained


def test_history_append_rejects_non_numbers():
    h = History()
    with pytest.raises(TypeError, match=r"History.append: logs\['loss'\] must be a real number, got 'low'"):
        h.append({"loss": "low"})
    with pytest.raises(TypeError, match=r"History.append: logs must be a dict"):
        h.append([0.5])


# ----------------------------------------------------------------------------- input gradient, dtype range

class _BackwardWithoutInputGrad:
    """A learner's own model wrapping a Sequential, whose backward takes only dout."""

    def __init__(self, model):
        self.model = model
        self.calls = 0

    def forward(self, x, *, training):
        return self.model.forward(x, training=training)

    def backward(self, dout):
        self.calls += 1
        return self.model.backward(dout)

    def predict(self, x, batch_size=4096):
        return self.model.predict(x, batch_size=batch_size)

    def parameters(self):
        return self.model.parameters()


def _small_mlp(seed):
    rng = np.random.default_rng(seed)
    return Sequential([Dense(3, 8, rng=rng), ReLU(), Dense(8, 1, rng=rng)])


def test_fit_skips_the_input_gradient_and_trains_exactly_as_a_model_that_computes_it():
    data = np.random.default_rng(0)
    X = data.standard_normal((40, 3)).astype(np.float32)
    y = (X[:, 0] > 0).astype(np.float32)
    skipping, wrapped = _small_mlp(1), _BackwardWithoutInputGrad(_small_mlp(1))
    for model in (skipping, wrapped):
        fit(model, bce, SGD(model.parameters(), lr=0.3), X, y, epochs=3, batch_size=8,
            rng=np.random.default_rng(2), progress=False)
    assert wrapped.calls == 3 * 5, "the learner's backward(dout) is called without input_grad"
    for a, b in zip(skipping.parameters(), wrapped.parameters()):
        np.testing.assert_array_equal(a.value, b.value)
    first = skipping.layers[0]
    calls = []
    original = type(first).backward

    def spy(self, dout, **kwargs):
        calls.append(kwargs.get("input_grad", True))
        return original(self, dout, **kwargs)

    first.backward = spy.__get__(first)
    fit(skipping, bce, SGD(skipping.parameters(), lr=0.3), X, y, epochs=1, batch_size=40,
        rng=np.random.default_rng(2), progress=False)
    assert calls == [False], "fit asks the first layer for no input gradient"


@pytest.mark.parametrize("name", ["X", "X_val"])
def test_fit_says_when_the_inputs_are_too_large_for_the_model_s_dtype(name):
    model = _small_mlp(0)
    big = np.full((10, 3), 1e300)
    fine = np.zeros((10, 3))
    X, X_val = (big, fine) if name == "X" else (fine, big)
    with pytest.raises(ValueError, match=rf"fit: {name} holds values up to 1e\+300.*float32"):
        fit(model, bce, SGD(model.parameters(), lr=0.1), X, np.zeros(10), epochs=1, batch_size=5,
            rng=np.random.default_rng(0), progress=False, validation_data=(X_val, np.zeros(10)))
    # In a float64 model the same values are representable: fit does not refuse them.
    model64 = Sequential([Dense(3, 1, rng=np.random.default_rng(0), dtype=np.float64)])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fit(model64, bce, SGD(model64.parameters(), lr=1e-9), X, np.zeros(10), epochs=1, batch_size=5,
            rng=np.random.default_rng(0), progress=False, on_nan="stop")

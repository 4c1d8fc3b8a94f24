"""EarlyStopping (Keras 3 semantics), its building blocks and the notebook-04 checkers.

Expected stopping epochs and best epochs below are traced by hand from Keras's rule:
``wait += 1``; an improvement (min: ``current < best - min_delta``) sets ``best`` and resets
``wait`` (only if it also beats the baseline) and never stops; otherwise stop when
``wait >= patience`` and ``epoch > 0``.
"""
import math
import warnings

import numpy as np
import pytest

from coursekit.early_stopping import (EarlyStopping, early_stopping_step, is_improvement, restore_best_weights,
                                      save_best_weights)
from coursekit.exercises import get_exercise, mistake, run_check
from coursekit.layers import Dense, ReLU
from coursekit.losses import binary_cross_entropy_with_logits
from coursekit.model import Sequential
from coursekit.optim import Adam
from coursekit.training import evaluate, fit


def _tiny_model():
    return Sequential(Dense(2, 3, rng=np.random.default_rng(0)), ReLU(), Dense(3, 1, rng=np.random.default_rng(1)))


def _run(values, *, model=None, monitor="val_loss", **kwargs):
    """Feed ``values`` to a fresh EarlyStopping as training would; before epoch e's check the model's
    weights are set (in place, like an optimizer) to the constant e, so a restore can be identified."""
    model = model or _tiny_model()
    es = EarlyStopping(monitor, **kwargs)
    es.on_train_begin(model)
    stopped_at = None
    for epoch, value in enumerate(values):
        for p in model.parameters():
            p.value[...] = epoch
        if es.on_epoch_end(epoch, {"loss": 0.1, monitor: value}):
            stopped_at = epoch
            break
    es.on_train_end()
    return es, model, stopped_at


def _weights_epoch(model):
    values = {float(v) for p in model.parameters() for v in np.unique(p.value)}
    assert len(values) == 1, "all weights should hold the same epoch number"
    return int(values.pop())


# ----------------------------------------------------------------------------- the decision


def test_equal_values_are_not_improvements():
    es, _, stopped = _run([1.0, 1.0, 1.0], patience=1)
    assert stopped == 1 and es.stopped_epoch == 1
    assert es.best == 1.0 and es.best_epoch == 0


def test_improvement_must_exceed_min_delta():
    # min_delta 0.125: 0.9375 and 0.875 are 0.0625 and exactly 0.125 below 1.0: neither counts.
    es, _, stopped = _run([1.0, 0.9375, 0.875, 0.75], min_delta=0.125, patience=2)
    assert stopped == 2 and es.best == 1.0 and es.best_epoch == 0
    # min_delta 0.0625: epoch 1 is exactly 0.0625 better (no), epoch 2 and 3 improve by more.
    es, _, stopped = _run([1.0, 0.9375, 0.875, 0.75], min_delta=0.0625, patience=2)
    assert stopped is None and es.best == 0.75 and es.best_epoch == 3 and es.wait == 0


def test_max_mode_and_auto_mode_for_accuracy():
    es, _, stopped = _run([0.5, 0.625, 0.625, 0.5], monitor="val_accuracy", patience=2)
    assert es.direction == "max" and stopped == 3 and es.best == 0.625 and es.best_epoch == 1
    es, _, stopped = _run([0.5, 0.625, 0.625], monitor="val_accuracy", mode="max", min_delta=0.25, patience=1)
    assert stopped == 1 and es.best == 0.5
    assert EarlyStopping("val_loss").direction == "min" and EarlyStopping("loss").direction == "min"
    assert EarlyStopping("accuracy").direction == "max"
    assert EarlyStopping("val_accuracy", mode="min").direction == "min"


def test_patience_zero_stops_at_the_first_epoch_without_improvement():
    es, _, stopped = _run([1.0, 0.5, 0.5, 0.25], patience=0)
    assert stopped == 2 and es.best == 0.5 and es.best_epoch == 1


def test_never_stops_at_epoch_zero():
    # A NaN first epoch is no improvement and patience 0 is "reached", but Keras never stops at epoch 0.
    with pytest.warns(RuntimeWarning, match="NaN"):
        es, _, stopped = _run([math.nan, 1.0, 2.0], patience=0)
    assert stopped == 2 and es.best == 1.0 and es.best_epoch == 1


def test_improving_epochs_never_stop_even_past_patience():
    # With a baseline that is not beaten, wait keeps counting on improving epochs, but only a
    # non-improving epoch can stop (Keras returns right after an improvement).
    es, _, stopped = _run([0.9, 0.8, 0.7, 0.6, 0.5], baseline=0.55, patience=3)
    assert stopped is None and es.wait == 0 and es.best == 0.5 and es.best_epoch == 4


def test_baseline_not_beaten_stops_after_patience_epochs():
    es, _, stopped = _run([0.9, 0.95, 0.97, 0.99], baseline=0.5, patience=2, restore_best_weights=True)
    assert stopped == 1 and es.best == 0.9 and es.best_epoch == 0
    assert "baseline" in es.stop_reason
    # the best epoch is restored even though it never beat the baseline (Keras documents this)
    es, model, stopped = _run([0.9, 0.8, 0.85, 0.95], baseline=0.5, patience=3, restore_best_weights=True)
    assert stopped == 2 and _weights_epoch(model) == 1


def test_baseline_beaten_behaves_like_no_baseline():
    with_baseline, _, s1 = _run([0.4, 0.45, 0.5], baseline=0.5, patience=2)
    without, _, s2 = _run([0.4, 0.45, 0.5], patience=2)
    assert s1 == s2 == 2 and with_baseline.best == without.best == 0.4


def test_baseline_must_be_beaten_by_more_than_min_delta():
    # 0.40625 improves on 0.5 (the best) by 0.09375 > min_delta, but beats baseline 0.46875 by exactly
    # min_delta = 0.0625, which is not enough: wait is not reset, and epoch 2 reaches patience 2.
    es, _, stopped = _run([0.5, 0.40625, 0.5], baseline=0.46875, min_delta=0.0625, patience=2)
    assert stopped == 2 and es.best == 0.40625 and es.best_epoch == 1


def test_start_from_epoch_skips_the_warm_up():
    # the warm-up's low 0.1 must not become the best; monitoring starts at epoch 1
    es, model, stopped = _run([0.1, 0.5, 0.6, 0.7], start_from_epoch=1, patience=2, restore_best_weights=True)
    assert stopped == 3 and es.best == 0.5 and es.best_epoch == 1
    assert _weights_epoch(model) == 1
    # without it, the same curve stops at epoch 2 with the best at epoch 0
    es, _, stopped = _run([0.1, 0.5, 0.6, 0.7], patience=2)
    assert stopped == 2 and es.best_epoch == 0


def test_warm_up_epochs_never_stop():
    es, _, stopped = _run([5.0, 6.0, 7.0, 1.0, 2.0], start_from_epoch=3, patience=0)
    assert stopped == 4 and es.best == 1.0 and es.best_epoch == 3


# ----------------------------------------------------------------------------- best weights


def test_restores_best_weights_when_stopped_early():
    es, model, stopped = _run([3.0, 1.0, 2.0, 2.5, 0.5], patience=2, restore_best_weights=True)
    assert stopped == 3 and es.best_epoch == 1
    assert _weights_epoch(model) == 1


def test_restores_best_weights_when_not_stopped_early():
    es, model, stopped = _run([3.0, 1.0, 2.0, 2.5], patience=10, restore_best_weights=True)
    assert stopped is None and es.stopped_epoch == 0 and es.stop_reason is None
    assert _weights_epoch(model) == 1


def test_without_restore_the_last_weights_stay():
    _, model, stopped = _run([3.0, 1.0, 2.0, 2.5], patience=2)
    assert stopped == 3 and _weights_epoch(model) == 3


def test_saved_weights_are_copies_not_references():
    es, model, _ = _run([1.0, 2.0, 3.0], patience=5, restore_best_weights=True)
    assert es.best_epoch == 0
    for p in model.parameters():
        assert not np.shares_memory(p.value, es.best_weights[p.name])


def test_all_nan_run_restores_the_first_monitored_epoch():
    with pytest.warns(RuntimeWarning, match="val_loss is NaN at epoch"):
        es, model, stopped = _run([math.nan, math.nan, math.nan], patience=1, restore_best_weights=True)
    assert stopped == 1 and es.best == math.inf and es.best_epoch == 0
    assert _weights_epoch(model) == 0


def test_nan_is_never_an_improvement_and_warns_each_time():
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        es, _, stopped = _run([1.0, math.nan, math.nan, 0.5], patience=2)
    nan_warnings = [w for w in caught if "NaN" in str(w.message)]
    assert len(nan_warnings) == 2 and all(w.category is RuntimeWarning for w in nan_warnings)
    assert stopped == 2 and es.best == 1.0 and es.best_epoch == 0


def test_max_mode_nan_is_not_an_improvement():
    with pytest.warns(RuntimeWarning):
        es, _, stopped = _run([0.5, math.nan], monitor="val_accuracy", patience=1)
    assert stopped == 1 and es.best == 0.5


def test_instance_can_be_reused():
    es, model, stopped = _run([1.0, 2.0, 3.0], patience=1)
    assert stopped == 1
    es.on_train_begin(model)
    assert (es.wait, es.stopped_epoch, es.best, es.best_epoch, es.stop_reason) == (0, 0, math.inf, 0, None)
    assert es.on_epoch_end(0, {"val_loss": 5.0}) is False and es.best == 5.0


def test_verbose_prints_stop_and_restore(capsys):
    _run([1.0, 2.0, 3.0], patience=1, restore_best_weights=True, verbose=1)
    out = capsys.readouterr().out
    assert "stopped training after epoch 1 (0-based)" in out and "restored the weights of the best epoch, 0" in out
    _run([1.0, 2.0, 3.0], patience=1, restore_best_weights=True)
    assert capsys.readouterr().out == ""


def test_stop_reason_says_where_and_why():
    es, _, _ = _run([1.0, 0.5, 0.75, 0.875], patience=2, min_delta=0.0625)
    assert es.stop_reason.startswith("EarlyStopping stopped training after epoch 3 (0-based)")
    assert "min_delta=0.0625" in es.stop_reason and "patience=2" in es.stop_reason and "epoch 1" in es.stop_reason


# ----------------------------------------------------------------------------- with fit


@pytest.fixture(scope="module")
def moons_like():
    rng = np.random.default_rng(5)
    X = rng.standard_normal((120, 2)).astype(np.float32)
    y = ((X[:, 0] * X[:, 1] + 0.8 * rng.standard_normal(120)) > 0).astype(np.int64)
    return X[:40], y[:40], X[40:], y[40:]


def _fit(data, callbacks, epochs=150):
    X, y, Xv, yv = data
    rng = np.random.default_rng(3)
    model = Sequential(Dense(2, 64, rng=rng), ReLU(), Dense(64, 64, rng=rng), ReLU(), Dense(64, 1, rng=rng))
    history = fit(model, binary_cross_entropy_with_logits, Adam(model.parameters(), lr=1e-2), X, y, epochs=epochs,
                  batch_size=20, rng=rng, validation_data=(Xv, yv), callbacks=callbacks, progress=False)
    return model, history


def test_fit_stops_records_why_and_restores_the_best_epoch(moons_like):
    es = EarlyStopping(patience=3, restore_best_weights=True)
    model, history = _fit(moons_like, [es])
    val = history["val_loss"]
    assert history.stopped_epoch == es.stopped_epoch == len(val) - 1 < 149
    assert history.stop_reason == es.stop_reason and "patience=3" in history.stop_reason
    assert es.best_epoch == int(np.argmin(val)) and es.best == min(val)
    # stopped exactly `patience` epochs after the best one
    assert es.stopped_epoch - es.best_epoch == 3
    # the restored weights reproduce the best epoch's validation loss exactly (same evaluate)
    assert evaluate(model, binary_cross_entropy_with_logits, *moons_like[2:])[0] == min(val)


def test_fit_restores_the_best_epoch_when_it_runs_out_of_epochs(moons_like):
    es = EarlyStopping(patience=1000, restore_best_weights=True)
    model, history = _fit(moons_like, [es], epochs=40)
    val = history["val_loss"]
    assert history.epochs == 40 and history.stopped_epoch is None and history.stop_reason is None
    assert int(np.argmin(val)) != 39, "the test needs a run whose last epoch is not its best"
    assert evaluate(model, binary_cross_entropy_with_logits, *moons_like[2:])[0] == min(val)


def test_fit_with_an_unknown_monitor_lists_the_logged_keys(moons_like):
    X, y, _, _ = moons_like
    model = _tiny_model()
    with pytest.raises(ValueError, match=r"monitor='val_loss'.*\['accuracy', 'loss'\].*validation_data"):
        fit(model, binary_cross_entropy_with_logits, Adam(model.parameters(), lr=1e-2), X, y, epochs=3,
            batch_size=20, rng=np.random.default_rng(0), callbacks=[EarlyStopping()], progress=False)
    with pytest.raises(ValueError, match=r"monitor='val_los'.*'val_loss'"):
        _fit(moons_like, [EarlyStopping("val_los", mode="min")], epochs=2)


# ----------------------------------------------------------------------------- bad input


@pytest.mark.parametrize("kwargs,error,match", [
    ({"mode": "minimum"}, ValueError, r"mode must be one of 'auto', 'min', 'max', got 'minimum'"),
    ({"mode": None}, ValueError, r"mode must be one of"),
    ({"patience": -1}, ValueError, r"patience must be an integer >= 0, got -1"),
    ({"patience": 2.5}, TypeError, r"patience must be an integer"),
    ({"min_delta": -0.1}, ValueError, r"min_delta must be >= 0.0, got -0.1"),
    ({"min_delta": math.nan}, ValueError, r"min_delta must be a finite number"),
    ({"baseline": math.nan}, ValueError, r"baseline must be a finite number"),
    ({"baseline": "0.5"}, TypeError, r"baseline must be a real number"),
    ({"start_from_epoch": -2}, ValueError, r"start_from_epoch must be an integer >= 0, got -2"),
    ({"restore_best_weights": "yes"}, TypeError, r"restore_best_weights must be True or False"),
    ({"verbose": 2}, ValueError, r"verbose must be 0 or 1, got 2"),
])
def test_bad_arguments(kwargs, error, match):
    with pytest.raises(error, match=match):
        EarlyStopping(**kwargs)


def test_bad_monitor():
    with pytest.raises(TypeError, match="monitor must be the name of a logged metric"):
        EarlyStopping(None)
    with pytest.raises(ValueError, match=r"cannot tell whether monitor='val_f2_score'.*mode='min'.*mode='max'"):
        EarlyStopping("val_f2_score")
    assert EarlyStopping("val_f2_score", mode="max").direction == "max"


def test_unknown_monitor_key_and_bad_values_in_logs():
    es = EarlyStopping("val_loss")
    es.on_train_begin(_tiny_model())
    with pytest.raises(ValueError, match=r"not in the logs of epoch 0; the logged metrics are \['loss', 'val_acc'\]"):
        es.on_epoch_end(0, {"loss": 1.0, "val_acc": 0.5})
    with pytest.raises(TypeError, match=r"logs\['val_loss'\] must be a number"):
        es.on_epoch_end(0, {"val_loss": "low"})
    with pytest.raises(ValueError, match="epoch must be an integer >= 0"):
        es.on_epoch_end(-1, {"val_loss": 1.0})


def test_restore_needs_a_model():
    es = EarlyStopping(restore_best_weights=True)
    with pytest.raises(RuntimeError, match="call on_train_begin"):
        es.on_epoch_end(0, {"val_loss": 1.0})
    with pytest.raises(TypeError, match="state_dict"):
        es.on_train_begin(object())


# ----------------------------------------------------------------------------- building blocks


@pytest.mark.parametrize("current,reference,min_delta,mode,expected", [
    (0.4, 0.5, 0.0, "min", True), (0.5, 0.5, 0.0, "min", False), (0.25, 0.5, 0.25, "min", False),
    (0.2, 0.5, 0.25, "min", True), (0.6, 0.5, 0.0, "max", True), (0.5, 0.5, 0.0, "max", False),
    (0.75, 0.5, 0.25, "max", False), (math.nan, 0.5, 0.0, "min", False), (math.nan, 0.5, 0.0, "max", False),
    (0.5, math.inf, 0.0, "min", True), (0.5, -math.inf, 0.0, "max", True), (math.inf, math.inf, 0.0, "min", False),
])
def test_is_improvement(current, reference, min_delta, mode, expected):
    assert is_improvement(current, reference, min_delta=min_delta, mode=mode) is expected


# (best, current, min_delta): current is exactly min_delta better than best, in decimal
EXACT_STEPS = [(0.07, 0.06, 0.01), (0.3, 0.2, 0.1), (1.1, 1.0, 0.1), (0.8, 0.7, 0.1), (100.07, 100.06, 0.01),
               (0.9, 0.45, 0.45), (0.5, 0.25, 0.25), (2.0, 1.7, 0.3), (0.123, 0.1, 0.023)]


def test_the_literal_test_calls_an_exact_step_an_improvement():
    # why the rule needs care: in float64, 0.07 - 0.01 == 0.06000000000000001 > 0.06
    assert 0.06 < 0.07 - 0.01 and 0.06 + 0.01 < 0.07  # the naive test (ours and Keras's) says "improved"


@pytest.mark.parametrize("scale", [10.0 ** k for k in range(-12, 13, 3)])
@pytest.mark.parametrize("best,current,min_delta", EXACT_STEPS)
def test_a_change_of_exactly_min_delta_is_never_an_improvement(best, current, min_delta, scale):
    # regression: 0.06 after 0.07 with min_delta 0.01 counted as an improvement
    b, c, d = best * scale, current * scale, min_delta * scale
    assert not is_improvement(c, b, min_delta=d, mode="min")
    assert not is_improvement(b, c, min_delta=d, mode="max")
    assert early_stopping_step(b, 0, c, min_delta=d, patience=1, mode="min") == (b, 1, False, True)


@pytest.mark.parametrize("scale", [10.0 ** k for k in range(-12, 13, 3)])
@pytest.mark.parametrize("best,current,min_delta", EXACT_STEPS)
@pytest.mark.parametrize("extra", [1e-3, 0.5, 1.0])
def test_a_step_larger_than_min_delta_is_an_improvement_at_every_magnitude(best, current, min_delta, scale, extra):
    b, d = best * scale, min_delta * scale
    c = b - d * (1 + extra)
    assert is_improvement(c, b, min_delta=d, mode="min")
    assert is_improvement(b + d * (1 + extra), b, min_delta=d, mode="max")
    assert early_stopping_step(b, 3, c, min_delta=d, patience=1, mode="min") == (c, 0, True, False)


def test_with_min_delta_zero_any_decrease_improves_and_equal_does_not():
    for value in (1e-300, 0.07, 1.0, 1e300):
        below = np.nextafter(value, 0.0)
        assert is_improvement(below, value, min_delta=0.0, mode="min")
        assert is_improvement(value, below, min_delta=0.0, mode="max")
        assert not is_improvement(value, value, min_delta=0.0, mode="min")
        assert not is_improvement(value, value, min_delta=0.0, mode="max")


def test_the_callback_uses_the_exact_rule():
    es, _, stopped = _run([0.07, 0.06, 0.0599], min_delta=0.01, patience=1)
    assert stopped == 1 and es.best == 0.07 and es.best_epoch == 0
    # max mode: 0.6 beats 0.5 by exactly min_delta (no), 0.7 by twice min_delta (yes)
    es, _, stopped = _run([0.5, 0.6, 0.7], monitor="val_accuracy", min_delta=0.1, patience=5)
    assert stopped is None and es.best == 0.7 and es.best_epoch == 2 and es.wait == 0
    es, _, stopped = _run([0.5, 0.6], monitor="val_accuracy", min_delta=0.1, patience=1)
    assert stopped == 1 and es.best == 0.5


def test_is_improvement_rejects_auto():
    with pytest.raises(ValueError, match="'min', 'max', got 'auto'"):
        is_improvement(0.1, 0.2, min_delta=0.0, mode="auto")


def test_step_follows_keras_order():
    # hand-traced: patience 2 on 1.0, 1.5, 2.0: stop after the second epoch without improvement
    state = (math.inf, 0)
    trace = []
    for value in [1.0, 1.5, 2.0]:
        best, wait, improved, stop = early_stopping_step(*state, value, min_delta=0.0, patience=2, mode="min")
        trace.append((best, wait, improved, stop))
        state = (best, wait)
    assert trace == [(1.0, 0, True, False), (1.0, 1, False, False), (1.0, 2, False, True)]


def test_save_and_restore_copy_and_write_in_place():
    live = (np.ones((2, 2), np.float32), np.zeros(3, np.float32))
    saved = save_best_weights(live, None, improved=False)
    assert all(s.dtype == np.float32 and not np.shares_memory(s, p) for s, p in zip(saved, live))
    live[0][...] = 7.0
    assert np.all(saved[0] == 1.0)
    assert save_best_weights(live, saved, improved=False) is saved
    arrays_before = [id(a) for a in live]
    out = restore_best_weights(live, saved, stopped_early=False)
    assert [id(a) for a in out] == arrays_before and np.all(live[0] == 1.0)
    assert restore_best_weights(live, None, stopped_early=True) is live


def test_callback_agrees_with_the_exercise_step_on_random_curves():
    rng = np.random.default_rng(11)
    for _ in range(30):
        mode = str(rng.choice(["min", "max"]))
        patience, min_delta = int(rng.integers(0, 4)), float(rng.choice([0.0, 0.05]))
        values = np.round(rng.random(12), 1)  # rounding makes ties frequent
        es, _, stopped = _run(list(values), patience=patience, min_delta=min_delta, mode=mode)
        best, wait, expected_stop = (math.inf if mode == "min" else -math.inf), 0, None
        for epoch, v in enumerate(values):
            best, wait, _, stop = early_stopping_step(best, wait, float(v), min_delta=min_delta, patience=patience,
                                                      mode=mode)
            if stop and epoch > 0:
                expected_stop = epoch
                break
        assert stopped == expected_stop and es.best == best and es.wait == wait


# ----------------------------------------------------------------------------- the checkers


FIRST_FAILING_CASE = {
    ("early_stopping_step", "equal_counts_as_improvement"): "min mode: equal to the best",
    ("early_stopping_step", "ignores_min_delta"): "min mode: better, but by less than min_delta",
    ("early_stopping_step", "small_decrease_resets_wait"): "min mode: better, but by less than min_delta",
    ("early_stopping_step", "min_delta_wrong_direction"): "min mode: slightly worse, by less than min_delta",
    ("early_stopping_step", "stop_off_by_one"): "patience reached",
    ("early_stopping_step", "stops_on_improvement"): "patience 0 and an improvement",
    ("early_stopping_step", "ignores_mode"): "max mode: an improvement by more than min_delta",
    ("early_stopping_step", "nan_counts_as_improvement"): "NaN in min mode",
    ("save_best_weights", "reference_not_copy"): "save, then the optimizer changes the weights in place",
    ("save_best_weights", "no_first_save"): "nothing saved yet and no improvement",
    ("restore_best_weights", "restore_only_when_stopped_early"): "training ran out of epochs: restore anyway",
}


def test_every_catalogued_mistake_is_listed_here():
    catalogued = {(name, key) for name in ("early_stopping_step", "save_best_weights", "restore_best_weights")
                  for key in get_exercise(name).mistakes}
    assert catalogued == set(FIRST_FAILING_CASE)


@pytest.mark.parametrize("name,key", sorted(FIRST_FAILING_CASE))
def test_each_mistake_fails_on_the_case_that_exposes_it(name, key):
    result = run_check(name, mistake(name, key))
    assert result.status == "failed" and result.mistake_key == key, result.message
    assert f"failed on case: {FIRST_FAILING_CASE[(name, key)]}" in result.message


@pytest.mark.parametrize("name", ["early_stopping_step", "save_best_weights", "restore_best_weights"])
def test_reference_passes_its_check(name):
    assert run_check(name, get_exercise(name).reference).status == "passed"


def _step_via_callback(best, wait, current, *, min_delta, patience, mode):
    """An independent answer to the step exercise: drive the finished callback from the given state."""
    es = EarlyStopping(mode=mode, min_delta=min_delta, patience=patience)
    es.on_train_begin(_tiny_model())
    es.best, es.wait = best, wait
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        stop = es.on_epoch_end(1, {"val_loss": current})
    return es.best, es.wait, es.wait == 0, stop


def test_an_independent_correct_step_passes():
    assert run_check("early_stopping_step", _step_via_callback).status == "passed"


def test_copy_with_list_and_np_copy_pass_and_not_in_place_restore_fails_with_a_hint():
    def save_as_list(params, best_weights, *, improved):
        return [np.copy(p) for p in params] if improved or best_weights is None else best_weights

    def restore_by_returning(params, best_weights, *, stopped_early):
        return tuple(np.copy(b) for b in best_weights) if best_weights is not None else params

    assert run_check("save_best_weights", save_as_list).status == "passed"
    result = run_check("restore_best_weights", restore_by_returning)
    assert result.status == "failed" and "in place" in result.message and result.mistake_key is None


def test_the_deliberate_differences_from_keras_are_documented():
    doc = " ".join(EarlyStopping.__doc__.split())
    assert "Deliberate differences from Keras 3" in doc
    assert "NaN never becomes best" in doc and "float32" in doc and "exactly ``min_delta``" in doc
    import coursekit.early_stopping as module
    assert "ROUNDING_TOLERANCE" in " ".join(module.__doc__.split()) and module.ROUNDING_TOLERANCE == 8 * 2.0 ** -52


def test_step_returns_python_floats_and_accepts_numpy_numbers():
    best, wait, improved, stop = early_stopping_step(np.float32(1.0), np.int64(0), np.float64(0.5), min_delta=0,
                                                     patience=np.int32(1), mode="min")
    assert (best, wait, improved, stop) == (0.5, 0, True, False) and type(best) is float


def test_a_nan_best_is_an_error_not_a_nan_result():
    # A NaN never becomes best, so a NaN best can only be a caller's slip: carrying it on would make
    # every later epoch "no improvement" and return NaN as the best value, silently.
    import math

    from coursekit.early_stopping import early_stopping_step
    for mode in ("min", "max"):
        with pytest.raises(ValueError, match=r"early_stopping_step: best must be a number, got nan; a NaN never "
                                             r"becomes best"):
            early_stopping_step(math.nan, 0, 0.5, min_delta=0.0, patience=2, mode=mode)
    # NaN as the *current* value stays allowed: it is no improvement, and best stays a number
    assert early_stopping_step(0.5, 0, math.nan, min_delta=0.0, patience=2, mode="min") == (0.5, 1, False, False)

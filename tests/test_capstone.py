"""coursekit.capstone: configurations trained one way, the open-ended task's budget and protocol, and its
scoring on a fresh test set (the grader's side); digits_cnn's options for the capstone."""
import json

import numpy as np
import pytest

from coursekit import capstone, datasets
from coursekit.experiments import EarlyStoppingSnapshot, seed_streams
from coursekit.models import digits_cnn
from coursekit.normalization import GroupNorm

TINY = capstone.Recipe(channels=(4, 8), hidden=16, epochs=3, batch_size=20)


@pytest.fixture(scope="module")
def digits():
    return datasets.load_digits(n_train=60, n_val=40, seed=3, label_noise=0.2)


# ---------------------------------------------------------------- digits_cnn's options

def test_group_norm_sits_where_batch_norm_would():
    model = digits_cnn(rng=np.random.default_rng(0), group_norm=2, channels=(4, 6), hidden=7)
    names = [type(layer).__name__ for layer in model.layers]
    assert names[:4] == ["Conv2D", "GroupNorm", "ReLU", "MaxPool2D"] and names[5] == "GroupNorm"
    assert [(layer.num_groups, layer.num_channels) for layer in model.layers if isinstance(layer, GroupNorm)] == \
        [(2, 4), (2, 6)]
    with pytest.raises(ValueError, match="choose one normalization"):
        digits_cnn(rng=np.random.default_rng(0), group_norm=2, batch_norm=True)
    with pytest.raises(ValueError, match=r"group_norm=3 groups must divide both channel counts \(16, 32\)"):
        digits_cnn(rng=np.random.default_rng(0), group_norm=3)


def test_image_size_sets_the_dense_layer_and_keeps_the_pairing():
    x = np.zeros((2, 1, 12, 12), np.float32)
    model = digits_cnn(rng=np.random.default_rng(0), image_size=12, channels=(4, 8), hidden=5)
    assert model.forward(x, training=False).shape == (2, 10)
    assert model.layers[-3].params["W"].shape == (8 * 3 * 3, 5)
    with pytest.raises(ValueError, match="image_size must be a multiple of 4"):
        digits_cnn(rng=np.random.default_rng(0), image_size=10)
    # group norm draws nothing from the init stream: the weights of a seed do not depend on it
    plain = digits_cnn(rng=seed_streams(4).init, channels=(4, 8))
    normed = digits_cnn(rng=seed_streams(4).init, channels=(4, 8), group_norm=4)
    for a, b in zip([p.value for p in plain.parameters() if p.is_weight],
                    [p.value for p in normed.parameters() if p.is_weight]):
        np.testing.assert_array_equal(a, b)


# ---------------------------------------------------------------- notebook 08's digits

def test_noisy_digits_are_load_digits_with_label_noise_cut_into_stop_and_val():
    data = capstone.load_noisy_digits(9)
    reference = datasets.load_digits(n_train=300, n_val=450, seed=9, label_noise=capstone.LABEL_NOISE)
    np.testing.assert_array_equal(data.y_train, reference.y_train)  # the same wrong labels as load_digits draws
    np.testing.assert_array_equal(data.X_train, reference.X_train)
    np.testing.assert_array_equal(np.concatenate([data.X_stop, data.X_val]), reference.X_val)
    np.testing.assert_array_equal(data.y_test, reference.y_test)
    assert len(data.flipped) == 60 and np.all(data.y_train[data.flipped] != data.y_train_true[data.flipped])
    assert np.array_equal(np.flatnonzero(data.y_train != data.y_train_true), data.flipped)
    assert (len(data.y_stop), len(data.y_val), len(data.y_test)) == (150, 300, 1797 - 750)


def test_run_digits_scores_both_versions_and_calibrates_on_validation():
    data = capstone.load_noisy_digits(2)
    recipe = capstone.Recipe(epochs=4)
    metrics, logits = capstone.run_digits({}, data, seed_streams(1), recipe=recipe)
    assert logits["val"].shape == (300, 10) and logits["test"].shape == (len(data.y_test), 10)
    assert 0 <= metrics["best_epoch"] < 4
    for version in ("end", "es"):
        assert metrics[f"{version}_val_loss_cal"] <= metrics[f"{version}_val_loss"] + 1e-12  # T minimizes it
        assert 0 < metrics[f"{version}_T"]
    from coursekit.calibration import temperature_nll
    assert metrics["es_test_loss"] == pytest.approx(temperature_nll(logits["test"], data.y_test, 1.0)[0])
    clean, _ = capstone.run_digits({}, data, seed_streams(1), recipe=recipe, clean_labels=True)
    assert clean["end_train_acc"] != metrics["end_train_acc"]


# ---------------------------------------------------------------- configurations

def test_check_config_adds_the_run_keys_with_the_recipes_defaults():
    cfg = capstone.check_config({"drop_prob": 0.3}, recipe=TINY)
    assert cfg["epochs"] == 3 and cfg["lr"] == TINY.lr and cfg["drop_prob"] == 0.3 and cfg["group_norm"] == 0


@pytest.mark.parametrize("config,exc,pattern", [
    ({"epochs": 4}, ValueError, r"config\['epochs'\] must be at most 3"),
    ({"epochs": 0}, ValueError, r"config\['epochs'\] must be an integer >= 1"),
    ({"lr": 5.0}, ValueError, r"config\['lr'\] must be in \[0.001, 0.5\]"),
    ({"group_norm": 3}, ValueError, r"config\['group_norm'\] must divide the channel counts \(4, 8\), got 3; try 1, 2, 4"),
    ({"patience": 5}, ValueError, r"patience'\] must be at most the epochs \(3\)"),
    ({"dropout": 0.5}, ValueError, r"unknown key\(s\) \['dropout'\]"),
    ("drop_prob=0.3", TypeError, "config must be a dict"),
])
def test_bad_configs_name_the_key(config, exc, pattern):
    with pytest.raises(exc, match=pattern):
        capstone.check_config(config, recipe=TINY)


def test_augment_hook_composes_what_is_switched_on():
    assert capstone.augment_hook(None) is None and capstone.augment_hook({"flip": 0}) is None
    hook = capstone.augment_hook({"degrees": 10, "shift": 0.5, "scale": 0.1, "noise": 0.2})
    assert [type(t).__name__ for t in hook.transforms] == ["RandomAffine", "GaussianNoise"]
    assert hook.transforms[0].scale == (0.9, 1.1)
    x = np.random.default_rng(0).random((5, 1, 8, 8), dtype=np.float32)
    out, y = hook(x, np.arange(5), np.random.default_rng(1))
    assert out.shape == x.shape and np.array_equal(y, np.arange(5))
    flip = capstone.augment_hook({"flip": 1.0})
    np.testing.assert_array_equal(flip(x, np.arange(5), np.random.default_rng(2))[0], x[:, :, :, ::-1])


def test_train_config_pairs_configurations_of_one_seed(digits):
    """Dropout, L2 and augmentation draw nothing from init or order: every variant starts from the same weights,
    and a configuration without any of them is exactly the plain run."""
    def first_weights(config):
        model, history = capstone.train_config(config, digits.X_train, digits.y_train, seed_streams(7), recipe=TINY)
        return model, history
    plain, _ = first_weights({})
    again, _ = first_weights({"augment": {"flip": 0.0}, "lambd": 0.0})  # everything off: the same run
    for a, b in zip(plain.parameters(), again.parameters()):
        np.testing.assert_array_equal(a.value, b.value)
    augmented, _ = first_weights({"augment": {"shift": 1}})
    assert not np.allclose(plain.layers[0].params["W"], augmented.layers[0].params["W"])
    initial = digits_cnn(rng=seed_streams(7).init, channels=TINY.channels, hidden=TINY.hidden).layers[0].params["W"]
    for config in ({"drop_prob": 0.3}, {"lambd": 1.0}, {"augment": {"shift": 1}}):
        model = capstone.train_config({**config, "epochs": 1, "lr": 0.001}, digits.X_train[:20], digits.y_train[:20],
                                      seed_streams(7), recipe=TINY)[0]
        assert np.abs(model.layers[0].params["W"] - initial).max() < 0.05  # one small step from the same start


def test_patience_stops_on_the_stopping_split_and_snapshots_watch_it(digits):
    stop = (digits.X_val, digits.y_val)
    with pytest.raises(ValueError, match="needs stopping_data"):
        capstone.train_config({"patience": 1}, digits.X_train, digits.y_train, seed_streams(0), recipe=TINY)
    snapshot = EarlyStoppingSnapshot(patience=3)
    _, history = capstone.train_config({}, digits.X_train, digits.y_train, seed_streams(0), recipe=TINY,
                                       stopping_data=stop, callbacks=[snapshot])
    assert history.epochs == 3 and "val_loss" in history and snapshot.best_epoch is not None
    long = capstone.Recipe(channels=(4, 8), hidden=16, epochs=40, batch_size=20, lr=0.5)
    _, stopped = capstone.train_config({"patience": 1}, digits.X_train, digits.y_train, seed_streams(0), recipe=long,
                                       stopping_data=stop)
    assert stopped.epochs < 40 and stopped.stopped_epoch is not None


# ---------------------------------------------------------------- the task: data, budget, protocol

def test_task_data_is_fixed_by_the_documented_seed_and_has_no_test_split():
    a, b = capstone.load_task(), capstone.load_task()
    np.testing.assert_array_equal(a.X_train, b.X_train)
    assert a.X_train.shape == (200, 1, 12, 12) and a.X_stop.shape[0] == 200 and a.X_val.shape[0] == 500
    assert not hasattr(a, "X_test") and "no test split" in repr(a)
    assert np.bincount(a.y_train, minlength=10).tolist() == [20] * 10
    assert not np.array_equal(a.X_train[:5], a.X_val[:5])


def test_the_test_set_comes_from_the_seed_only(monkeypatch):
    monkeypatch.setitem(capstone._PROTOCOL, "test_loaded", False)
    X1, y1 = capstone.load_test(5)
    X2, _ = capstone.load_test(5)
    X3, _ = capstone.load_test(6)
    Xt, _ = capstone.load_test(capstone.TASK_SEED)
    assert X1.shape == (capstone.TEST_SIZE, 1, 12, 12) and y1.shape == (capstone.TEST_SIZE,)
    np.testing.assert_array_equal(X1, X2)
    assert not np.allclose(X1, X3)
    task = capstone.load_task()
    for split in (task.X_train, task.X_stop, task.X_val):  # the task's own seed gives other images than its splits
        assert not np.isclose(Xt[:, None], split[None, :5]).all(axis=(2, 3, 4)).any()
    assert capstone._PROTOCOL["test_loaded"] and "LOADED" in capstone.Session().report()


@pytest.fixture()
def session(monkeypatch):
    monkeypatch.setitem(capstone._PROTOCOL, "test_loaded", False)
    return capstone.Session(budget=10)


def test_budget_is_charged_once_per_configuration_and_refused_when_short(session, capsys):
    score = session.try_config({"epochs": 4})
    assert 0.0 <= score <= 1.0 and session.epochs_used == 4 and session.budget_left == 6
    assert session.try_config({"epochs": 4, "lambd": 0.0}) == score  # the same configuration: free
    assert session.epochs_used == 4 and "already tried" in capsys.readouterr().out
    session.try_config({"epochs": 5, "drop_prob": 0.2})
    with pytest.raises(ValueError, match=r"may train 4 epochs but only 1 of the budget's 10 are left"):
        session.try_config({"epochs": 4, "lambd": 0.1})
    assert session.epochs_used == 9 and len(session.tries) == 2


def test_patience_charges_only_the_epochs_trained(session):
    session.budget = 100
    session.try_config({"epochs": 40, "patience": 1, "lr": 0.5})
    assert session.epochs_used == session.tries[0]["epochs"] < 40


def test_submit_displays_plain_data_the_grader_accepts(session):
    submission = session.submit({"epochs": 3, "augment": {"shift": 1}})
    assert json.loads(json.dumps(submission)) == submission  # plain data, through JSON unchanged
    assert submission["config"]["augment"]["shift"] == 1.0 and submission["epochs_used"] == 3
    assert capstone.check_submission(submission) == submission["config"]
    text = session.report()
    assert "validation accuracy" in text and "budget: 3 of 10 epochs over 1 tries (respected)" in text
    assert "never loaded" in text


@pytest.mark.parametrize("change,exc,pattern", [
    ({"config": {"epochs": 41}}, ValueError, r"config\['epochs'\] must be at most 40"),
    ({"config": {"augment": {"rotate": 5}}}, ValueError, r"unknown key\(s\) \['rotate'\]"),
    ({"config": "best"}, TypeError, "config must be a dict"),
    ({"epochs_used": 201}, ValueError, "over budget: the exploration used 201 epochs, the budget is 200"),
    ({"budget": 10_000}, ValueError, "over budget: the submission's budget is 10000 epochs, more than the task's 200"),
    ({"epochs_used": "3"}, TypeError, "epochs_used and budget must be integers"),
    ({"test_loaded": True}, ValueError, "protocol broken: the notebook loaded the test set"),
    ({"version": 99}, ValueError, "version 99"),
])
def test_malformed_or_over_budget_submissions_are_refused_with_the_reason(change, exc, pattern):
    good = {"version": 1, "config": {"epochs": 2}, "val_accuracy": 0.5, "epochs_used": 2, "budget": 200,
            "tries": 1, "test_loaded": False}
    with pytest.raises(exc, match=pattern):
        capstone.check_submission({**good, **change})
    with pytest.raises(TypeError, match="must be a dict written by capstone.submit"):
        capstone.check_submission([good])


def test_score_is_deterministic_and_depends_on_the_test_seed():
    submission = {"version": 1, "config": {"epochs": 2, "lr": 0.1}, "val_accuracy": 0.3, "epochs_used": 2,
                  "budget": 200, "tries": 1, "test_loaded": False}
    first = capstone.score_submission(submission, test_seed=11)
    assert first == capstone.score_submission(submission, test_seed=11)
    assert 0.0 <= first <= 1.0
    scores = {capstone.score_submission(submission, test_seed=seed) for seed in (12, 13)}
    assert len(scores | {first}) > 1, "another test seed, another test set, another score"
    with pytest.raises(ValueError, match="test_seed must be an integer >= 0"):
        capstone.score_submission(submission, test_seed=-1)

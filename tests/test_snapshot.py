"""coursekit.experiments.EarlyStoppingSnapshot: EarlyStopping's result without stopping the run.

(The bit-for-bit comparison with a live early-stopped training run is in tests/test_models.py.)
"""
import numpy as np
import pytest

from coursekit.experiments import EarlyStoppingSnapshot


class Weights:
    """A stand-in model whose single weight is set by the test before each epoch."""

    def __init__(self):
        self.w = np.zeros(1)

    def state_dict(self):
        return {"w": self.w.copy()}

    def load_state_dict(self, state):
        self.w[...] = state["w"]


def watch(snapshot, curve):
    model = Weights()
    snapshot.on_train_begin(model)
    for epoch, value in enumerate(curve):
        model.w[...] = epoch  # the weights after this epoch are "epoch"
        assert snapshot.on_epoch_end(epoch, {"val_loss": value}) is False  # never stops the run
    snapshot.on_train_end()
    return model


def test_records_where_it_would_stop_and_the_weights_it_would_restore():
    snapshot = EarlyStoppingSnapshot(patience=2)
    model = watch(snapshot, [0.9, 0.5, 0.6, 0.7, 0.4, 0.3])  # patience 2 stops after epoch 3, keeping epoch 1
    assert snapshot.stopped_epoch == 3 and snapshot.best_epoch == 1 and snapshot.epochs == 4
    assert snapshot.weights["w"][0] == 1.0
    assert model.w[0] == 5.0  # the watched model keeps its own, final weights


def test_a_run_it_would_not_stop_keeps_the_best_epoch_as_keras_3_restores_it():
    snapshot = EarlyStoppingSnapshot(patience=3)
    watch(snapshot, [0.9, 0.5, 0.6, 0.55])
    assert snapshot.stopped_epoch is None and snapshot.epochs == 4
    assert snapshot.best_epoch == 1 and snapshot.weights["w"][0] == 1.0


def test_options_are_early_stoppings_and_the_state_resets_between_runs():
    snapshot = EarlyStoppingSnapshot(patience=1, min_delta=0.1)
    watch(snapshot, [1.0, 0.95, 0.5])  # 0.95 is not better by more than 0.1: stops after epoch 1
    assert (snapshot.stopped_epoch, snapshot.best_epoch) == (1, 0)
    watch(snapshot, [1.0, 0.5, 0.45, 0.2])
    assert (snapshot.stopped_epoch, snapshot.best_epoch, snapshot.epochs) == (2, 1, 3)
    with pytest.raises(TypeError, match="restore_best_weights"):
        EarlyStoppingSnapshot(patience=1, restore_best_weights=False)
    with pytest.raises(ValueError, match="patience"):
        EarlyStoppingSnapshot(patience=-1)
    assert "patience=1" in repr(snapshot)


def test_saved_weights_are_copies():
    snapshot = EarlyStoppingSnapshot(patience=0)
    model = watch(snapshot, [0.5, 0.6])
    model.w[...] = 99.0
    assert snapshot.weights["w"][0] == 0.0

"""coursekit.models: the 2-D baseline MLP of notebooks 00-04 and its training recipe."""
import numpy as np
import pytest

from coursekit import datasets
from coursekit.dropout import Dropout
from coursekit.experiments import EarlyStoppingSnapshot, seed_streams
from coursekit.early_stopping import EarlyStopping
from coursekit.layers import Dense, ReLU
from coursekit.models import (MOONS_BATCH_SIZE, MOONS_EPOCHS, MOONS_HIDDEN, MOONS_LR, MOONS_N_TRAIN, moons_mlp,
                              train_moons_mlp)
from coursekit.optim import SGD, Adam
from coursekit.regularization import L2


@pytest.fixture(scope="module")
def data():
    return datasets.load_noisy_moons(draw=7, n_train=MOONS_N_TRAIN)


def test_architecture_and_shapes():
    model = moons_mlp(rng=np.random.default_rng(0))
    kinds = [type(layer) for layer in model.layers]
    assert kinds == [Dense, ReLU, Dense, ReLU, Dense]
    shapes = [p.value.shape for p in model.parameters()]
    assert MOONS_HIDDEN == 32
    assert shapes == [(2, 32), (32,), (32, 32), (32,), (32, 1), (1,)]
    assert sum(p.value.size for p in model.parameters()) == 1185  # the number the lessons quote
    assert model.predict(np.zeros((7, 2), dtype=np.float32)).shape == (7, 1)
    small = moons_mlp(rng=np.random.default_rng(0), hidden=8)
    assert sum(p.value.size for p in small.parameters()) == (2 * 8 + 8) + (8 * 8 + 8) + (8 + 1)


def test_dropout_goes_after_each_hidden_relu():
    model = moons_mlp(rng=np.random.default_rng(0), noise_rng=np.random.default_rng(1), drop_prob=0.3)
    kinds = [type(layer) for layer in model.layers]
    assert kinds == [Dense, ReLU, Dropout, Dense, ReLU, Dropout, Dense]
    assert all(layer.drop_prob == 0.3 for layer in model.layers if isinstance(layer, Dropout))


def test_same_init_with_and_without_dropout_and_masks_from_noise_rng_only():
    plain = moons_mlp(rng=np.random.default_rng(5))
    init = np.random.default_rng(5)
    dropped = moons_mlp(rng=init, noise_rng=np.random.default_rng(9), drop_prob=0.5)
    for a, b in zip(plain.weights(), dropped.weights()):
        np.testing.assert_array_equal(a, b)
    x = np.random.default_rng(2).standard_normal((20, 2)).astype(np.float32)
    np.testing.assert_array_equal(plain.predict(x), dropped.predict(x))  # evaluation: dropout is the identity
    state = init.bit_generator.state
    first, second = dropped.forward(x, training=True), dropped.forward(x, training=True)
    assert not np.array_equal(first, second)  # a fresh mask every training pass...
    assert init.bit_generator.state == state  # ...drawn from noise_rng, never from the init stream


def test_bad_arguments_are_named():
    with pytest.raises(TypeError, match="noise_rng"):
        moons_mlp(rng=np.random.default_rng(0), drop_prob=0.5)
    with pytest.raises(TypeError, match="rng must be a numpy random Generator"):
        moons_mlp(rng=0)
    with pytest.raises(ValueError, match="drop_prob"):
        moons_mlp(rng=np.random.default_rng(0), noise_rng=np.random.default_rng(1), drop_prob=1.5)
    with pytest.raises(ValueError, match="hidden"):
        moons_mlp(rng=np.random.default_rng(0), hidden=0)


def test_recipe_constants():
    """The recipe the lessons describe in words: 100 points, 2 full batches of 50 an epoch, lr 1, 200 epochs."""
    assert (MOONS_N_TRAIN, MOONS_BATCH_SIZE, MOONS_LR, MOONS_EPOCHS) == (100, 50, 1.0, 200)
    assert MOONS_N_TRAIN % MOONS_BATCH_SIZE == 0  # every batch is full: m is the batch size on every step


def test_recipe_is_plain_sgd_with_batches_from_the_order_stream(data):
    """train_moons_mlp equals the same steps written out by hand: SGD(MOONS_LR), batch MOONS_BATCH_SIZE."""
    assert data.X_train.shape == (MOONS_N_TRAIN, 2)
    model, history = train_moons_mlp(data, seed_streams(3), epochs=2, validation=False)
    streams = seed_streams(3)
    manual = moons_mlp(rng=streams.init)
    from coursekit.losses import binary_cross_entropy_with_logits as bce
    opt = SGD(manual.parameters(), lr=MOONS_LR)
    for _ in range(2):
        order = streams.order.permutation(len(data.X_train))
        for start in range(0, len(order), MOONS_BATCH_SIZE):
            idx = order[start:start + MOONS_BATCH_SIZE]
            _, dout = bce(manual.forward(data.X_train[idx], training=True), data.y_train[idx])
            manual.backward(dout)
            opt.step()
    for a, b in zip(model.parameters(), manual.parameters()):
        np.testing.assert_allclose(a.value, b.value, rtol=1e-6, atol=1e-7)
    assert history.epochs == 2 and "val_loss" not in history


def test_paired_runs_share_init_and_order(data):
    """Two configurations of one seed differ only by their regularizer: with lambd = 0 they coincide."""
    a, _ = train_moons_mlp(data, seed_streams(4), epochs=3, validation=False)
    b, _ = train_moons_mlp(data, seed_streams(4), epochs=3, validation=False, regularizer=L2(0.0))
    c, _ = train_moons_mlp(data, seed_streams(5), epochs=3, validation=False)
    for p, q in zip(a.parameters(), b.parameters()):
        np.testing.assert_array_equal(p.value, q.value)
    assert not np.array_equal(a.weights()[0], c.weights()[0])


def test_other_optimizers_and_bad_arguments(data):
    model, history = train_moons_mlp(data, seed_streams(0), epochs=1, optimizer=lambda ps: Adam(ps, lr=1e-3))
    assert "val_loss" in history
    with pytest.raises(TypeError, match="optimizer must be a function"):
        train_moons_mlp(data, seed_streams(0), epochs=1, optimizer="sgd")
    with pytest.raises(TypeError, match="streams must come from"):
        train_moons_mlp(data, 0, epochs=1)
    with pytest.raises(TypeError, match="data must be the Splits"):
        train_moons_mlp((data.X_train, data.y_train), seed_streams(0), epochs=1)
    with pytest.raises(TypeError, match="validation must be True or False"):
        train_moons_mlp(data, seed_streams(0), epochs=1, validation="yes")


@pytest.mark.parametrize("drop_prob", [0.0, 0.5])
def test_early_stopping_snapshot_equals_a_live_early_stopped_run(data, drop_prob):
    """One full run watched by EarlyStoppingSnapshot gives, bit for bit, the weights of a live early-stopped run."""
    live_stop = EarlyStopping(patience=3, restore_best_weights=True)
    live, live_history = train_moons_mlp(data, seed_streams(1), drop_prob=drop_prob, epochs=60,
                                         callbacks=[live_stop])
    snapshot = EarlyStoppingSnapshot(patience=3)
    full, full_history = train_moons_mlp(data, seed_streams(1), drop_prob=drop_prob, epochs=60,
                                         callbacks=[snapshot])
    assert live_history.stopped_epoch is not None, "the test needs a run that stops early"
    assert full_history.epochs == 60  # the watched run went on
    assert snapshot.stopped_epoch == live_history.stopped_epoch
    assert snapshot.epochs == live_history.epochs
    assert snapshot.best_epoch == live_stop.best_epoch
    assert full_history["val_loss"][:snapshot.epochs] == live_history["val_loss"]
    final_full = full.state_dict()
    full.load_state_dict(snapshot.weights)
    for key, value in live.state_dict().items():
        np.testing.assert_array_equal(full.state_dict()[key], value)
    assert any(not np.array_equal(final_full[k], v) for k, v in snapshot.weights.items())

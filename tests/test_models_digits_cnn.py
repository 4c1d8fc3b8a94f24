"""coursekit.models.digits_cnn: the capstone's CNN, its optional layers and its pairing property."""
import numpy as np
import pytest

from coursekit.batchnorm import BatchNorm2d
from coursekit.dropout import Dropout, SpatialDropout2D
from coursekit.experiments import seed_streams
from coursekit.models import digits_cnn


def layer_names(model):
    return [type(layer).__name__ for layer in model.layers]


def test_plain_network_has_the_documented_layers_and_shapes():
    model = digits_cnn(rng=np.random.default_rng(0))
    assert layer_names(model) == ["Conv2D", "ReLU", "MaxPool2D", "Conv2D", "ReLU", "MaxPool2D", "Flatten",
                                  "Dense", "ReLU", "Dense"]
    x = np.random.default_rng(1).random((5, 1, 8, 8), dtype=np.float32)
    shapes = []
    for layer in model.layers:
        x = layer.forward(x, training=False)
        shapes.append(x.shape)
    assert shapes == [(5, 16, 8, 8), (5, 16, 8, 8), (5, 16, 4, 4), (5, 32, 4, 4), (5, 32, 4, 4), (5, 32, 2, 2),
                      (5, 128), (5, 128), (5, 128), (5, 10)]


def test_optional_layers_sit_where_the_docstring_says():
    model = digits_cnn(rng=np.random.default_rng(0), noise_rng=np.random.default_rng(1), batch_norm=True,
                       spatial_drop_prob=0.2, drop_prob=0.5, channels=(4, 6), hidden=7)
    assert layer_names(model) == ["Conv2D", "BatchNorm2d", "ReLU", "SpatialDropout2D", "MaxPool2D",
                                  "Conv2D", "BatchNorm2d", "ReLU", "SpatialDropout2D", "MaxPool2D", "Flatten",
                                  "Dropout", "Dense", "ReLU", "Dropout", "Dense"]
    assert [layer.num_features for layer in model.layers if isinstance(layer, BatchNorm2d)] == [4, 6]
    assert [layer.drop_prob for layer in model.layers if type(layer) is SpatialDropout2D] == [0.2, 0.2]
    assert [layer.drop_prob for layer in model.layers if type(layer) is Dropout] == [0.5, 0.5]
    out = model.forward(np.zeros((3, 1, 8, 8), np.float32), training=True)
    assert out.shape == (3, 10)


def test_every_variant_of_a_seed_starts_from_the_same_weights():
    """Pairing: optional layers draw nothing from the init stream, so the weights agree exactly."""
    variants = [{}, {"batch_norm": True}, {"drop_prob": 0.5}, {"spatial_drop_prob": 0.2, "batch_norm": True}]
    weights = []
    for options in variants:
        streams = seed_streams(11)
        model = digits_cnn(rng=streams.init, noise_rng=streams.noise, **options)
        weights.append([p.value for p in model.parameters() if p.is_weight])
    for other in weights[1:]:
        assert len(other) == len(weights[0]) == 4
        for a, b in zip(weights[0], other):
            np.testing.assert_array_equal(a, b)


def test_dropout_draws_its_masks_from_noise_rng():
    a = digits_cnn(rng=np.random.default_rng(0), noise_rng=np.random.default_rng(5), drop_prob=0.5)
    b = digits_cnn(rng=np.random.default_rng(0), noise_rng=np.random.default_rng(5), drop_prob=0.5)
    c = digits_cnn(rng=np.random.default_rng(0), noise_rng=np.random.default_rng(6), drop_prob=0.5)
    x = np.random.default_rng(2).random((4, 1, 8, 8), dtype=np.float32)
    np.testing.assert_array_equal(a.forward(x, training=True), b.forward(x, training=True))
    assert not np.allclose(a.forward(x, training=True), c.forward(x, training=True))


@pytest.mark.parametrize("kwargs,exc,pattern", [
    ({"rng": 0}, TypeError, "rng must be a numpy random Generator"),
    ({"drop_prob": 0.5}, TypeError, "noise_rng must be a numpy random Generator"),
    ({"spatial_drop_prob": 0.2}, TypeError, "noise_rng must be a numpy random Generator"),
    ({"noise_rng": 3}, TypeError, "noise_rng must be a numpy random Generator"),
    ({"batch_norm": "yes"}, TypeError, "batch_norm must be True or False"),
    ({"drop_prob": 1.5, "noise_rng": np.random.default_rng(0)}, ValueError, "drop_prob"),
    ({"channels": 16}, TypeError, "channels must be a pair"),
    ({"channels": (16, 0)}, ValueError, "channels"),
    ({"hidden": 0}, ValueError, "hidden must be an integer >= 1"),
])
def test_bad_arguments_are_rejected_with_a_clear_message(kwargs, exc, pattern):
    kwargs = {"rng": np.random.default_rng(0), **kwargs}
    with pytest.raises(exc, match=pattern):
        digits_cnn(**kwargs)

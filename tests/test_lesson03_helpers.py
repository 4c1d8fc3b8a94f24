"""Notebook 03's helpers: the small CNN builder (coursekit.models.small_cnn) and plots.plot_image_rows."""
import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

from coursekit.dropout import Dropout, SpatialDropout2D  # noqa: E402
from coursekit.experiments import seed_streams  # noqa: E402
from coursekit.layers import Conv2D, Dense, Flatten, GlobalAvgPool2D, MaxPool2D, ReLU  # noqa: E402
from coursekit.models import small_cnn  # noqa: E402
from coursekit.plots import plot_image_rows  # noqa: E402


# ----------------------------------------------------------------------------- small_cnn

def test_small_cnn_layers_and_shapes():
    s = seed_streams(0)
    model = small_cnn(rng=s.init, noise_rng=s.noise, dropout="spatial", drop_prob=0.3)
    assert [type(layer) for layer in model.layers] == [Conv2D, ReLU, MaxPool2D, Conv2D, ReLU, SpatialDropout2D,
                                                      GlobalAvgPool2D, Dense]
    assert [p.value.shape for p in model.parameters()] == [(8, 1, 3, 3), (8,), (64, 8, 3, 3), (64,), (64, 10),
                                                           (10,)]
    assert model.layers[5].drop_prob == 0.3
    x = np.zeros((3, 1, 16, 16), dtype=np.float32)
    assert model.forward(x, training=True).shape == (3, 10)
    element = small_cnn(rng=s.init, noise_rng=s.noise, dropout="element", drop_prob=0.5)
    assert type(element.layers[5]) is Dropout
    flat = small_cnn(rng=np.random.default_rng(0), head="flatten", image_size=8, channels=(4, 6), n_classes=3)
    assert [type(layer) for layer in flat.layers] == [Conv2D, ReLU, MaxPool2D, Conv2D, ReLU, Flatten, Dense]
    assert flat.layers[-1].params["W"].shape == (6 * 4 * 4, 3)
    assert flat.predict(np.zeros((2, 1, 8, 8), dtype=np.float32)).shape == (2, 3)


def test_small_cnn_variants_of_one_seed_start_from_the_same_weights():
    """Pairing: the dropout layer draws from noise_rng only, so init draws the same weights."""
    weights = []
    for dropout, drop_prob in (("none", 0.0), ("element", 0.5), ("spatial", 0.3)):
        s = seed_streams(4)
        weights.append([p.value.copy() for p in small_cnn(rng=s.init, noise_rng=s.noise, dropout=dropout,
                                                          drop_prob=drop_prob).parameters()])
    for other in weights[1:]:
        for a, b in zip(weights[0], other):
            np.testing.assert_array_equal(a, b)
    different = [p.value for p in small_cnn(rng=seed_streams(5).init).parameters()]
    assert not np.array_equal(different[0], weights[0][0])


def test_small_cnn_average_head_ignores_where_a_feature_is():
    """Global average pooling: a pattern moved by an even number of pixels (the 2x2 pooling's grid) scores alike.

    At initialization the biases are zero, so the empty background equals the zero padding.
    """
    model = small_cnn(rng=np.random.default_rng(1))
    x = np.zeros((2, 1, 16, 16))
    x[0, 0, 3:6, 3:6] = np.arange(9).reshape(3, 3)
    x[1, 0, 9:12, 9:12] = np.arange(9).reshape(3, 3)
    out = model.predict(x)
    np.testing.assert_allclose(out[0], out[1], rtol=1e-10)
    flat = small_cnn(rng=np.random.default_rng(1), head="flatten")
    assert not np.allclose(*flat.predict(x))


def test_small_cnn_bad_arguments():
    rng = np.random.default_rng(0)
    with pytest.raises(ValueError, match=r"dropout must be 'none', 'element' or 'spatial', got 'channel'"):
        small_cnn(rng=rng, noise_rng=rng, dropout="channel", drop_prob=0.2)
    with pytest.raises(ValueError, match=r"drop_prob=0\.3 needs dropout='element' or 'spatial'"):
        small_cnn(rng=rng, drop_prob=0.3)
    with pytest.raises(TypeError, match=r"noise_rng must be a numpy random Generator"):
        small_cnn(rng=rng, dropout="spatial", drop_prob=0.2)
    with pytest.raises(ValueError, match=r"drop_prob must be in \[0\.0, 1\.0\], got 1\.5"):
        small_cnn(rng=rng, noise_rng=rng, dropout="element", drop_prob=1.5)
    with pytest.raises(ValueError, match=r"head must be 'average' \(global average pooling\) or 'flatten', got 'max'"):
        small_cnn(rng=rng, head="max")
    with pytest.raises(TypeError, match=r"channels must be a pair \(c1, c2\) of ints, got 8"):
        small_cnn(rng=rng, channels=8)
    with pytest.raises(ValueError, match=r"image_size must be even \(one 2x2 max pooling\), got 15"):
        small_cnn(rng=rng, image_size=15)
    with pytest.raises(TypeError, match=r"rng must be a numpy random Generator"):
        small_cnn(rng=0)


# ----------------------------------------------------------------------------- plot_image_rows

def test_plot_image_rows_draws_one_strip_per_row_with_its_own_scale():
    rows = {"maps": np.arange(3 * 4 * 5, dtype=float).reshape(3, 4, 5),
            "mask": np.array([0.0, 2.0, 2.0])[:, None, None] * np.ones((3, 4, 5))}
    fig = plot_image_rows(rows, column_titles=["a", "b", "c"], title="t")
    try:
        axes = fig.axes
        assert len(axes) == 2
        assert [ax.get_ylabel() for ax in axes] == ["maps", "mask"]
        assert [t.get_text() for t in axes[0].texts] == ["a", "b", "c"]
        assert fig._suptitle.get_text() == "t"
        strip = axes[1].images[0].get_array()
        gap = 1
        assert strip.shape == (4, 3 * 5 + 2 * gap)
        np.testing.assert_array_equal(strip[:, :5], 0.0)  # the first mask image, untouched
        assert np.ma.is_masked(strip[:, 5]) or np.isnan(strip[0, 5])  # the gap between images is blank
        assert axes[1].images[0].get_clim() == (0.0, 2.0)  # the row's own colour scale
        assert axes[0].images[0].get_clim() == (0.0, 59.0)
    finally:
        plt.close(fig)


def test_plot_image_rows_bad_input():
    good = np.zeros((2, 3, 3))
    with pytest.raises(ValueError, match=r"rows is empty"):
        plot_image_rows({})
    with pytest.raises(ValueError, match=r"rows\['x'\] must be a non-empty array of shape \(K, H, W\)"):
        plot_image_rows({"x": np.zeros((3, 3))})
    with pytest.raises(ValueError, match=r"every row must hold the same number of images of the same size"):
        plot_image_rows({"a": good, "b": np.zeros((3, 3, 3))})
    with pytest.raises(ValueError, match=r"column_titles must be 2 labels, one per column"):
        plot_image_rows({"a": good}, column_titles=["only one"])
    with pytest.raises(ValueError, match=r"non-finite"):
        plot_image_rows({"a": np.full((2, 3, 3), np.nan)})

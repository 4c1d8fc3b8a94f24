"""Notebook 03's helpers: the small CNN builder (coursekit.models.small_cnn) and plots.plot_image_rows."""
import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

from coursekit.datasets import load_textures, make_textures  # noqa: E402
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
    # the defaults are notebook 03's network: 10x10 images, 4 then 64 channels
    assert [p.value.shape for p in model.parameters()] == [(4, 1, 3, 3), (4,), (64, 4, 3, 3), (64,), (64, 10),
                                                           (10,)]
    assert sum(p.value.size for p in model.parameters()) == 3058
    assert model.layers[5].drop_prob == 0.3
    x = np.zeros((3, 1, 10, 10), dtype=np.float32)
    assert model.forward(x, training=True).shape == (3, 10)
    big = small_cnn(rng=s.init, channels=(8, 32), image_size=16)
    assert [p.value.shape for p in big.parameters()][:3] == [(8, 1, 3, 3), (8,), (32, 8, 3, 3)]
    assert big.predict(np.zeros((2, 1, 16, 16), dtype=np.float32)).shape == (2, 10)
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
    x = np.zeros((2, 1, 10, 10))  # a 2x2 pattern whose features stay clear of the borders of every layer
    x[0, 0, 3:5, 3:5] = np.arange(1, 5).reshape(2, 2)
    x[1, 0, 5:7, 5:7] = np.arange(1, 5).reshape(2, 2)
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


# ----------------------------------------------------------------------------- load_textures(size=...)

def test_load_textures_size_gives_the_lessons_small_images_from_independent_split_streams():
    """Notebook 03 loads 10x10 textures: same shapes and balance as the default, splits still independent."""
    data = load_textures(n_train=30, n_val=40, n_test=50, seed=7, noise_std=1.0, size=10)
    assert data.X_train.shape == (30, 1, 10, 10) and data.X_val.shape == (40, 1, 10, 10)
    assert data.X_test.shape == (50, 1, 10, 10) and data.X_train.dtype == np.float32
    assert np.array_equal(np.bincount(data.y_train, minlength=10), np.full(10, 3))
    more = load_textures(n_train=60, n_val=40, n_test=50, seed=7, noise_std=1.0, size=10)
    np.testing.assert_array_equal(more.X_val, data.X_val)  # a bigger training set leaves the other splits alone
    np.testing.assert_array_equal(more.X_test, data.X_test)
    other = load_textures(n_train=30, n_val=40, n_test=50, seed=8, noise_std=1.0, size=10)
    assert not np.array_equal(other.X_train, data.X_train)
    # each split is make_textures on its own child of SeedSequence(seed), at the requested size
    child = np.random.SeedSequence(7).spawn(3)[1]
    X_val, y_val = make_textures(40, rng=np.random.default_rng(child), size=10, noise_std=1.0)
    np.testing.assert_array_equal(X_val, data.X_val)
    np.testing.assert_array_equal(y_val, data.y_val)
    with pytest.raises(ValueError, match=r"size"):
        load_textures(size=2)


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

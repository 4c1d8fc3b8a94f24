# ---
# jupyter:
#   jupytext:
#     cell_metadata_filter: tags,-all
#     notebook_metadata_filter: kernelspec
#   kernelspec:
#     display_name: Python 3 (ipykernel)
#     language: python
#     name: python3
# ---

# %% [markdown]
# # 03 · Spatial dropout for convolutional networks
#
# Dropout zeroes random activations so that no unit can rely on one particular other unit.
# In a convolutional network the activations are **feature maps**: small images of shape
# $H\times W$, one per channel. Neighbouring pixels of a feature map are strongly
# correlated, so zeroing single pixels removes little information: the rest of the map
# still says where, and how strongly, the feature is present. **Spatial dropout** zeroes
# whole feature maps instead.
#
# In this notebook you will
# 1. train a small CNN on a texture task it overfits;
# 2. measure what element-wise dropout removes from its feature maps, and what of that
#    reaches the classifier;
# 3. implement spatial dropout's forward and backward pass for (N, C, H, W) arrays;
# 4. compare no dropout, element-wise and spatial dropout over several seeds, paired;
# 5. see why the winner depends on what comes *after* the dropout.
#
# Exercises are functions with `raise NotImplementedError` in the body. Fill them in and
# run the **check cell** below each one. A blank exercise never breaks the notebook: the
# check falls back to the reference implementation from `coursekit`.

# %% tags=["setup"]
# Setup (the same in every notebook): use coursekit if installed, else install it (Colab, JupyterLite).
try:
    import coursekit
except ModuleNotFoundError:
    import sys
    if sys.platform == "emscripten":  # JupyterLite in the browser: the site ships coursekit's wheel
        # %pip install coursekit
    else:
        # %pip install --quiet "coursekit @ git+https://github.com/regularization-course/regularization-from-scratch"
    import coursekit
print("coursekit", coursekit.__version__)

# %%
import matplotlib.pyplot as plt
import numpy as np

from coursekit import datasets, plots
from coursekit.exercises import check, show_solution

# %% [markdown]
# ## 1. Textures, and a small CNN that overfits them
#
# Each image is 16×16 pixels of oriented "wood grain" (band-pass filtered noise) under
# heavy pixel noise. The **class is the orientation and the spacing of the stripes**: 5
# orientations × 2 spacings = 10 classes. Nothing about a class depends on *where* in the
# image you look. We train on only 40 images (4 per class), so the network can memorize
# them. `datasets.load_textures` makes the images from a seed (see `data/README.md`);
# arrays are **NCHW** — (samples, channels, height, width) — as in PyTorch.
#
# **Seeds.** Everything random in one run — the data set, the initial weights, the batch
# order, the dropout masks — comes from one seed. The experiment was *designed* (network,
# number of images, epochs, learning rate, dropout rates) on seeds 100–119; this notebook
# reports seeds 200–204, which played no part in the design.

# %%
N_TRAIN, EPOCHS, BATCH_SIZE, LEARNING_RATE = 40, 100, 20, 6e-3
CHANNELS = (8, 64)  # channels of the two convolutions
DESIGN_SEEDS = range(100, 120)  # used to design the experiment; not used below
HELD_OUT_SEEDS = range(200, 205)  # the seeds this notebook reports

data = datasets.load_textures(n_train=N_TRAIN, seed=HELD_OUT_SEEDS[0])
print(data)
print("X_train:", data.X_train.shape, data.X_train.dtype, "| y_train:", data.y_train.shape, data.y_train.dtype)

# %% [markdown]
# **Question: what tells the classes apart?** One training image per class, without the
# pixel noise (top; `noise_std=0` gives the same textures) and as the network sees them.

# %%
clean = datasets.load_textures(n_train=N_TRAIN, seed=HELD_OUT_SEEDS[0], noise_std=0.0)
first_of_class = [int(np.flatnonzero(data.y_train == k)[0]) for k in range(10)]
spacing = [f"{1 / datasets.TEXTURE_FREQUENCIES[k // 5]:.0f} px" for k in range(10)]  # 1 / frequency
plots.plot_image_rows({"without noise": clean.X_train[first_of_class, 0],
                       "as trained": data.X_train[first_of_class, 0]},
                      column_titles=[f"class {k}\norient. {k % 5}, {spacing[k]}" for k in range(10)],
                      title="10 classes: 5 orientations × 2 stripe spacings")
plt.show()

# %% [markdown]
# The network: a 3×3 convolution (padding 1, so 16×16 stays 16×16) → ReLU → 2×2 max
# pooling, a second convolution → ReLU, then **global average pooling** — each feature
# map becomes its mean — and a dense layer to the 10 class scores. Dropout, when we add
# it, goes on the second convolution's maps (after its ReLU), just before the averaging.
#
# | layer | output shape |
# |---|---|
# | input | (N, 1, 16, 16) |
# | `Conv2D(1, 8, 3, padding=1)`, ReLU, `MaxPool2D(2)` | (N, 8, 16, 16) → (N, 8, 8, 8) |
# | `Conv2D(8, 64, 3, padding=1)`, ReLU, [dropout] | (N, 64, 8, 8) |
# | `GlobalAvgPool2D()` | (N, 64) |
# | `Dense(64, 10)` | (N, 10) logits |
#
# `coursekit.models.small_cnn` builds it. We train with Adam, and give every source of
# randomness its own generator, derived from the seed (`seed_streams`): `init` for the
# weights, `order` for the batches, `noise` for the dropout masks. Two variants run with
# the same seed therefore start from the same weights and see the same batches — a
# **paired** comparison. `trained` remembers its last run (`functools.lru_cache`), so the
# experiment in section 4 reuses the baseline trained here instead of training it again.

# %%
import functools

from coursekit.experiments import compare_paired, results_table, run_seeds, seed_streams
from coursekit.losses import softmax_cross_entropy
from coursekit.models import small_cnn
from coursekit.optim import Adam
from coursekit.training import evaluate, fit

CURVE_IMAGES = 100  # validation images scored after every epoch on the first seed (all 500 would cost more)


@functools.lru_cache(maxsize=1)
def trained(dropout, drop_prob, seed):
    """small_cnn with dropout "none", "element" or "spatial", trained on seed's data: (model, history, data).

    From the seed: the data set (load_textures) and, through seed_streams, the initial weights,
    the batch order and the dropout masks. The first held-out seed also records validation curves.
    """
    data = datasets.load_textures(n_train=N_TRAIN, seed=seed)
    streams = seed_streams(seed)
    model = small_cnn(rng=streams.init, noise_rng=streams.noise, dropout=dropout, drop_prob=drop_prob,
                      channels=CHANNELS)
    curve_data = (data.X_val[:CURVE_IMAGES], data.y_val[:CURVE_IMAGES]) if seed == HELD_OUT_SEEDS[0] else None
    history = fit(model, softmax_cross_entropy, Adam(model.parameters(), lr=LEARNING_RATE),
                  data.X_train, data.y_train, epochs=EPOCHS, batch_size=BATCH_SIZE, rng=streams.order,
                  validation_data=curve_data, progress=False)
    return model, history, data


baseline, baseline_history, data = trained("none", 0.0, HELD_OUT_SEEDS[0])
print(baseline)
print("parameters:", sum(p.value.size for p in baseline.parameters()))
for split in ("train", "val"):
    loss, acc = evaluate(baseline, softmax_cross_entropy, getattr(data, f"X_{split}"), getattr(data, f"y_{split}"))
    print(f"{split:5s} loss {loss:.3f}  accuracy {acc:.1%}")

# %% [markdown]
# **Question: does the network overfit?** (Validation loss on the first 100 validation
# images, after every epoch.)

# %%
ax = plots.plot_history(baseline_history, metric="loss", title="No dropout: training vs validation loss")
ax.set_ylim(0, 3)  # the first epochs start far higher
plt.show()

# %% [markdown]
# The training loss heads for zero; the validation loss stops improving far above it, and
# then climbs: the network is memorizing its 40 images.
#
# ## 2. What does element-wise dropout remove?
#
# Take the trained network's maps where dropout will act — after the second ReLU — for
# the validation images. How well does the **mean of a pixel's four neighbours** predict
# the pixel? We use every interior pixel of every map and report the correlation $r$. For
# comparison: the input images (mostly pixel noise), and independent noise of the same shape.

# %%
def feature_maps(model, X):
    """The maps the dropout layer receives: the output of the second convolution's ReLU, (N, C, H, W)."""
    for layer in model.layers[:5]:  # Conv2D, ReLU, MaxPool2D, Conv2D, ReLU
        X = layer.forward(X, training=False)
    return X


def neighbour_correlation(maps):
    """Correlation between each interior pixel and the mean of its 4 neighbours; maps (N, C, H, W)."""
    centre = maps[:, :, 1:-1, 1:-1]
    neighbours = (maps[:, :, :-2, 1:-1] + maps[:, :, 2:, 1:-1] + maps[:, :, 1:-1, :-2] + maps[:, :, 1:-1, 2:]) / 4
    return float(np.corrcoef(centre.ravel(), neighbours.ravel())[0, 1])


maps = feature_maps(baseline, data.X_val)
noise = np.random.default_rng(1).standard_normal(maps.shape)
print("feature maps:", maps.shape)
predictability = {"input images": neighbour_correlation(data.X_val),
                  "feature maps (2nd ReLU)": neighbour_correlation(maps),
                  "independent noise": neighbour_correlation(noise)}
for name, r in predictability.items():
    print(f"{name:25s} r = {r:+.2f}")

# %% [markdown]
# The network has turned noisy pixels into smoother maps. Now drop pixels of the maps with
# probability `DROP_PROB` and try to **fill every dropped pixel back in** with the mean of
# its kept neighbours. If the fill-in is good, the next layer can do much the same, and the
# dropout forced little change on it.

# %%
DROP_PROB = 0.3  # for the demonstrations up to section 4

rng = np.random.default_rng(2)
kept = rng.random(maps.shape) >= DROP_PROB
dropped_maps = maps * kept
padded_values, padded_kept = (np.pad(a, ((0, 0), (0, 0), (1, 1), (1, 1))) for a in (dropped_maps, kept))
shifts = [(0, 1), (2, 1), (1, 0), (1, 2)]  # up, down, left, right in the padded array
H, W = maps.shape[2:]
neighbour_sum = sum(padded_values[:, :, i:i + H, j:j + W] for i, j in shifts)
neighbour_count = sum(padded_kept[:, :, i:i + H, j:j + W] for i, j in shifts)
fillable = ~kept & (neighbour_count > 0)
filled = neighbour_sum[fillable] / neighbour_count[fillable]
fill_r = float(np.corrcoef(filled, maps[fillable])[0, 1])
print(f"drop_prob = {DROP_PROB}: dropped pixels {np.mean(~kept):.1%}; "
      f"of those, {fillable.sum() / (~kept).sum():.1%} have a kept neighbour")
print(f"fill-in from kept neighbours vs the true value: r = {fill_r:.2f}")

# %% [markdown]
# And what reaches the classifier? Here, nothing position-specific: **global average
# pooling** hands the dense layer one number per map, its mean over $H\cdot W = 64$ pixels.
# Element-wise dropout multiplies each pixel by an independent $0$ or $1/(1-p)$; the mean
# of 64 such products stays close to the map's mean — its relative error shrinks like
# $\sqrt{p/((1-p)\,HW)}$. Spatial dropout multiplies the *whole map*, so its mean is zeroed
# or scaled by $1/(1-p)$: nothing averages out.
#
# **Question: what does the classifier see under each kind of dropout?** Each point is one
# (image, channel): its pooled value without dropout (x) and with dropout (y), at the same
# `DROP_PROB`.

# %%
from coursekit.dropout import dropout_forward, spatial_dropout_forward as reference_spatial_dropout


def pooled_change(kind, drop_prob, seed):
    """Pooled features (N, C) under dropout of `kind` (training mode), and their change ‖Δ‖/‖pooled‖."""
    drop = dropout_forward if kind == "element" else reference_spatial_dropout
    dropped = drop(maps, drop_prob, rng=np.random.default_rng(seed), training=True)[0].mean(axis=(2, 3))
    return dropped, float(np.linalg.norm(dropped - pooled) / np.linalg.norm(pooled))


pooled = maps.mean(axis=(2, 3))
fig, axes = plt.subplots(1, 2, figsize=(10, 4.2), sharex=True, sharey=True)
shown = np.random.default_rng(5).choice(pooled.size, 3000, replace=False)  # a sample of the points, for clarity
for ax, kind in zip(axes, ("element", "spatial")):
    dropped, change = pooled_change(kind, DROP_PROB, seed=3)
    ax.plot(pooled.ravel()[shown], dropped.ravel()[shown], ".", markersize=3, alpha=0.4)
    ax.plot([0, pooled.max()], [0, pooled.max()], "k--", linewidth=1, label="unchanged")
    ax.set_title(f"{kind} dropout, drop_prob = {DROP_PROB}: relative change {change:.0%}", fontsize=10)
    ax.set_xlabel("pooled value without dropout")
    ax.legend(loc="upper left", fontsize=8)
axes[0].set_ylabel("pooled value with dropout (training mode)")
fig.tight_layout()
plt.show()

# %% [markdown]
# Element-wise dropout barely moves what the classifier sees: the averaging undoes it.
# Spatial dropout removes a feature completely for that example, so the classifier must
# learn to get by with the other channels — exactly the co-adaptation between channels
# that dropout is meant to break, and, with an averaging head, the only place left to overfit.
#
# **Question: how much dropout noise survives the averaging, rate by rate?** How high must
# element-wise dropout's rate go before it disturbs the pooled features about as much as
# spatial dropout does at `DROP_PROB`?

# %%
rates = {"element": [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9], "spatial": [0.1, 0.2, 0.3, 0.4, 0.5]}
change_by_rate = {kind: {p: pooled_change(kind, p, seed=4)[1] for p in rates[kind]} for kind in rates}
ax = plt.subplots(figsize=(6.5, 4))[1]
for kind, marker in (("element", "o"), ("spatial", "s")):
    ax.plot(rates[kind], list(change_by_rate[kind].values()), marker=marker, label=f"{kind} dropout")
ax.axhline(change_by_rate["spatial"][DROP_PROB], color="0.4", linestyle=":",
           label=f"spatial dropout at drop_prob = {DROP_PROB}")
ax.set_xlabel("drop_prob")
ax.set_ylabel("relative change of the pooled features")
ax.set_title("Dropout noise that survives global average pooling")
ax.legend(fontsize=8)
plt.show()
for kind, p in (("element", DROP_PROB), ("element", 0.9), ("spatial", DROP_PROB)):
    print(f"{kind:8s} dropout at drop_prob = {p}: relative change {change_by_rate[kind][p]:.0%}")

# %% [markdown]
# A prediction to test in section 4: at usual rates (0.1–0.5) element-wise dropout should
# hardly regularize this network; it can only catch up by dropping nearly every pixel.
#
# ## 3. Spatial dropout
#
# For feature maps $x$ of shape $(N, C, H, W)$, draw **one** Bernoulli variable per
# (sample, channel):
#
# $$m_{n,c} = \frac{b_{n,c}}{1-p},\qquad b_{n,c}\sim\text{Bernoulli}(1-p),\qquad
# \text{out}_{n,c,h,w} = x_{n,c,h,w}\, m_{n,c}.$$
#
# $p$ is `drop_prob`, $1-p$ is `keep_prob`. The mask has shape $(N, C, 1, 1)$ and
# broadcasting spreads each entry over its whole $H\times W$ map: a map is either all
# zeros or all scaled by $1/(1-p)$. As in notebook 02 this is **inverted** dropout: the
# expectation $\mathbb E[\text{out}] = x$, so evaluation is the identity. $p=1$ gives zeros
# (no division by zero).
#
# Backward: out is $x$ times a constant (for a fixed mask), so
# $\partial L/\partial x_{n,c,h,w} = \partial L/\partial \text{out}_{n,c,h,w}\cdot m_{n,c}$:
# `dx = dout * mask`, the same broadcast. Shapes: `dout`, `dx` (N, C, H, W); `mask` (N, C, 1, 1).
#
# **Which axis is the channel?** Here (and in PyTorch) axis 1. Keras's `SpatialDropout2D`
# assumes channels-last (N, H, W, C) by default and draws a mask of shape (N, 1, 1, C).

# %% [markdown]
# ### Exercise 1 — spatial dropout, forward

# %% tags=["exercise"]
def spatial_dropout_forward(x, drop_prob, *, rng, training):
    """Channel-wise inverted dropout.

    x:         (N, C, H, W) float array
    drop_prob: probability of zeroing a whole feature map, in [0, 1]
    rng:       np.random.Generator - draw the mask from it
    training:  False -> return (x, None)
    returns:   (out, mask) - out shaped like x; mask (N, C, 1, 1) with values 0 or 1/keep_prob,
               in x's dtype, such that out = x * mask
    """
    # YOUR CODE HERE
    raise NotImplementedError

# %% tags=["check"]
spatial_dropout_forward = check("spatial_dropout_forward", spatial_dropout_forward)

# %% [markdown]
# ### Exercise 2 — spatial dropout, backward

# %% tags=["exercise"]
def spatial_dropout_backward(dout, mask):
    """Gradient of spatial dropout.

    dout:    (N, C, H, W) upstream gradient dL/dout
    mask:    (N, C, 1, 1) the scaled mask returned by the forward pass, or None (evaluation mode)
    returns: dx, shaped like dout
    """
    # YOUR CODE HERE
    raise NotImplementedError

# %% tags=["check"]
spatial_dropout_backward = check("spatial_dropout_backward", spatial_dropout_backward)

# %% [markdown]
# Your two functions together, on the network's own feature maps: the masks are constant
# over each map, the zeroed fraction is close to `drop_prob`, and the backward pass agrees
# with a numerical gradient of the forward pass (same mask: same seed).

# %%
from coursekit.gradcheck import numerical_gradient, rel_error

out, mask = spatial_dropout_forward(maps, DROP_PROB, rng=np.random.default_rng(6), training=True)
print("x:", maps.shape, "-> out:", out.shape, "| mask:", mask.shape)
print(f"zeroed maps: {np.mean(mask == 0):.1%} (drop_prob = {DROP_PROB})")

x_small = np.random.default_rng(7).standard_normal((2, 3, 4, 4))
dout_small = np.random.default_rng(8).standard_normal(x_small.shape)
_, mask_small = spatial_dropout_forward(x_small, 0.5, rng=np.random.default_rng(9), training=True)
numeric = numerical_gradient(
    lambda v: np.sum(spatial_dropout_forward(v, 0.5, rng=np.random.default_rng(9), training=True)[0] * dout_small),
    x_small.copy())
print(f"backward vs numerical gradient, relative error: "
      f"{rel_error(spatial_dropout_backward(dout_small, mask_small), numeric):.1e}")

# %% [markdown]
# **Question: what does each kind of dropout remove from one image's feature maps?** Top
# row: eight of the most active feature maps of one validation image (a ReLU network
# also has maps that are all zero for a given image; dropping those changes nothing).
# Then, at the same `DROP_PROB`, an element-wise and a spatial mask (dark = dropped) and
# what passes through each.

# %%
image = 0
one = maps[image:image + 1].astype(np.float64)
shown_channels = np.argsort(one[0].mean(axis=(1, 2)))[::-1][:8]  # the 8 largest mean activations
element_mask = (np.random.default_rng(10).random(one.shape) >= DROP_PROB) / (1 - DROP_PROB)
_, spatial_mask = spatial_dropout_forward(one, DROP_PROB, rng=np.random.default_rng(11), training=True)
spatial_mask_full = np.broadcast_to(spatial_mask, one.shape)
rows = {"feature maps": one[0], "element mask": element_mask[0], "after element": (one * element_mask)[0],
        "spatial mask": spatial_mask_full[0], "after spatial": (one * spatial_mask_full)[0]}
plots.plot_image_rows({label: values[shown_channels] for label, values in rows.items()},
                      column_titles=[f"channel {c}" for c in shown_channels], cmap="viridis",
                      title=f"drop_prob = {DROP_PROB}: single pixels vs whole maps")
plt.show()

# %% [markdown]
# ## 4. Now the finished version: does spatial dropout regularize?
#
# `coursekit` has `Conv2D`, `MaxPool2D`, `GlobalAvgPool2D` (vectorized: the convolution
# is one matrix product over an im2col view of the input), `Dropout` and
# `SpatialDropout2D`; `coursekit.models.small_cnn(dropout=..., drop_prob=...)` puts the
# dropout after the second ReLU.
#
# **The rates were chosen on validation data of the design seeds** 100–119 (mean
# validation loss over the 20 seeds, same network and training as here; no dropout: 1.594):
#
# | drop_prob | 0.1 | 0.2 | 0.3 | 0.4 | 0.5 | 0.7 | 0.8 | 0.9 | 0.95 |
# |---|---|---|---|---|---|---|---|---|---|
# | element-wise | 1.586 | | 1.569 | | 1.503 | 1.433 | 1.385 | **1.321** | 1.483 |
# | spatial | 1.423 | 1.358 | **1.306** | 1.311 | 1.346 | | | | |
#
# Spatial dropout is best at 0.3; element-wise dropout improves only at extreme rates,
# best at 0.9 — as section 2 predicted. So on each held-out seed we train four variants:
# no dropout, element-wise and spatial dropout at the **same** rate 0.3, and element-wise
# dropout at **its best** rate 0.9. Each seed builds its own data set; its test split is
# used once, here.

# %%
SPATIAL_DROP_PROB = 0.3  # chosen on the design seeds' validation loss
ELEMENT_DROP_PROB = 0.9  # element-wise dropout's own best rate there

variants = {"none": ("none", 0.0),
            f"element {SPATIAL_DROP_PROB}": ("element", SPATIAL_DROP_PROB),
            f"element {ELEMENT_DROP_PROB}": ("element", ELEMENT_DROP_PROB),
            f"spatial {SPATIAL_DROP_PROB}": ("spatial", SPATIAL_DROP_PROB)}


def run(label):
    """For run_seeds: a function of SeedStreams that trains variant `label` on that seed and returns its metrics.

    run_seeds passes seed_streams(seed); trained() derives the very same streams from the seed.
    """
    def one_seed(streams):
        model, history, seed_data = trained(*variants[label], streams.seed)
        if streams.seed == HELD_OUT_SEEDS[0]:
            curves[label] = history
        metrics = {}
        for split in ("train", "val", "test"):
            loss, acc = evaluate(model, softmax_cross_entropy, getattr(seed_data, f"X_{split}"),
                                 getattr(seed_data, f"y_{split}"))
            metrics[f"{split}_loss"], metrics[f"{split}_accuracy"] = loss, acc
        return metrics
    return one_seed


curves = {}  # the first seed's training histories
results = {label: run_seeds(run(label), HELD_OUT_SEEDS, desc=label) for label in variants}
print(results_table(results, ["train_loss", "val_loss", "test_loss", "test_accuracy"], percent=["test_accuracy"]))

# %% [markdown]
# Means hide how much of a difference is seed luck. Pairing removes the luck both sides
# share: on each seed, compare the variants' **test loss** directly.

# %%
NONE, ELEMENT_SAME, ELEMENT_BEST, SPATIAL = variants
pairs = [(SPATIAL, NONE), (SPATIAL, ELEMENT_SAME), (ELEMENT_BEST, ELEMENT_SAME), (SPATIAL, ELEMENT_BEST)]
comparisons = {pair: compare_paired(results[pair[0]], results[pair[1]], "test_loss", names=pair) for pair in pairs}
for comparison in comparisons.values():
    print(comparison)

# %% [markdown]
# **Question: on how many seeds, and by how much, does each kind of dropout beat no
# dropout?** One dot per seed: the variant's test loss minus the no-dropout test loss on
# that seed (left of zero = better).

# %%
plots.plot_paired_differences(results, "test_loss", baseline=NONE,
                              title="Test loss, paired by seed (same data, weights and batches)")
plt.show()

# %% [markdown]
# **Question: which network's validation loss pulls away from its training loss?** The
# first held-out seed's curves. (Training-mode losses include the dropout noise; the
# validation losses are in evaluation mode.)

# %%
fig, axes = plt.subplots(1, 4, figsize=(17, 3.8), sharey=True)
for ax, (label, history) in zip(axes, curves.items()):
    kind, drop_prob = variants[label]
    title = "no dropout" if kind == "none" else f"{kind}-wise dropout, drop_prob = {drop_prob}".replace(
        "spatial-wise", "spatial")
    plots.plot_history(history, metric="loss", ax=ax, title=title)
axes[0].set_ylim(0, 3)  # the first epochs start far higher; the story is in the later ones
fig.tight_layout()
plt.show()

# %% [markdown]
# Read the results against section 2's prediction. Spatial dropout at 0.3 lowers the test
# loss clearly, seed after seed (it did on all 20 design seeds too). Element-wise dropout
# at the *same* rate does little: the average undoes it. Pushed to 0.9 — nine pixels in
# ten dropped, the rest scaled ×10 — it puts nearly as much noise into the pooled features
# as spatial dropout does, and then it helps nearly as much (on the design seeds the two
# were even: each better on 10 of 20). The mechanism, not the name of the layer, decides:
# **what regularizes a network with an averaging head is noise on whole channels.**
# Spatial dropout delivers it at a moderate rate, without destroying 90% of every map.
#
# Look at the accuracy column too: with 4 images per class, accuracy moves by a few points
# at most. The loss moves a lot because it also scores *confidence*: the network without
# dropout is confidently wrong on unseen images; with spatial dropout it is wrong less
# confidently, and right a little more often.
#
# ## 5. When element-wise dropout is the right tool
#
# What comes after the dropout decides. With **global average pooling** the classifier
# sees only how much of each feature an image has, not where: it cannot overfit through
# positions, only through **how the channels combine** — exactly what dropping whole
# maps attacks, while dropping pixels is averaged away.
#
# Put a **flatten + dense** head on the same convolutions instead, and the classifier has
# one weight per (channel, position): it can memorize *where* things were in the training
# images, and dropping single pixels hits those position-specific weights directly. We
# measured this on design seeds 100–109 (the same `small_cnn` and training, only
# `head="flatten"`; rates chosen on validation loss from element-wise 0.1–0.7 and spatial
# 0.1–0.4; test loss, mean ± sd over 10 seeds):
#
# | task, head | no dropout | element-wise (rate) | spatial (rate) | spatial better than element-wise on |
# |---|---|---|---|---|
# | textures, global average (this notebook, seeds 100–119) | 1.611 ± 0.235 | 1.320 ± 0.117 (0.9) | 1.312 ± 0.105 (0.3) | 10 of 20 seeds |
# | textures, flatten + dense | 6.16 ± 0.85 | 5.17 ± 0.51 (0.5) | 5.45 ± 0.40 (0.2) | 3 of 10 seeds |
# | 8×8 digits (120 training images), flatten + dense | 0.383 ± 0.101 | 0.322 ± 0.082 (0.7) | 0.364 ± 0.099 (0.2) | 1 of 10 seeds |
#
# With a flatten head the winner flips to element-wise dropout — on the digits, where
# *where* a stroke is matters, on 9 seeds of 10. (The textures also show that the average
# head itself is the strongest regularizer here: flattening makes the test loss four
# times worse.) To rerun a row, train `small_cnn(head="flatten", ...)` in the loop above.
#
# The rule of thumb a practitioner needs: **look at what follows the dropout**. Averaging
# over space (global pooling, as in most modern CNNs) → drop whole maps. Position-specific
# weights (flatten + dense) → element-wise dropout, as in notebook 02. And measure, paired
# over seeds, as above.

# %% [markdown]
# ## 6. The lesson's claims, checked
#
# If a change to the course breaks the story told above, this cell fails (and so does
# the test suite). The experiment's claims are checked on the held-out seeds only.

# %% tags=["claims"]
x_check = maps[:64].astype(np.float64) + 1.0  # no zeros, so out / x is the mask
out_check, mask_check = spatial_dropout_forward(x_check, DROP_PROB, rng=np.random.default_rng(12), training=True)
ratio = out_check / x_check
assert mask_check.shape == (64, CHANNELS[1], 1, 1), "spatial dropout draws one mask value per (sample, channel)"
assert np.allclose(ratio, ratio[:, :, :1, :1]), "spatial dropout's mask is constant over each feature map"

r_maps, r_noise = predictability["feature maps (2nd ReLU)"], predictability["independent noise"]
print(f"neighbour correlation: feature maps r = {r_maps:.2f}, independent noise r = {r_noise:+.2f}; "
      f"fill-in r = {fill_r:.2f}")
assert r_maps > 0.5 > abs(r_noise) + 0.4, "neighbours predict a feature-map pixel; they do not predict noise"
assert fill_r > 0.5, "element dropout's dropped pixels are largely recoverable from their kept neighbours"

element_change, spatial_change = change_by_rate["element"][DROP_PROB], change_by_rate["spatial"][DROP_PROB]
element_extreme = change_by_rate["element"][0.9]
print(f"relative change of the pooled features: element-wise {element_change:.0%} at drop_prob = {DROP_PROB}, "
      f"{element_extreme:.0%} at 0.9; spatial {spatial_change:.0%} at {DROP_PROB}")
assert spatial_change > 4 * element_change, "after global average pooling, pixel dropout is averaged away"
assert element_extreme > spatial_change / 2, "element-wise dropout must drop most pixels to come close"

print(f"held-out seeds {list(HELD_OUT_SEEDS)}, test loss:")
for comparison in comparisons.values():
    print(" ", comparison)
n = len(HELD_OUT_SEEDS)
for pair, threshold in (((SPATIAL, NONE), -0.08), ((SPATIAL, ELEMENT_SAME), -0.08),
                        ((ELEMENT_BEST, ELEMENT_SAME), -0.05)):
    assert comparisons[pair].wins >= n - 1, f"{pair[0]} beats {pair[1]} on (almost) every seed"
    assert comparisons[pair].mean_difference < threshold, f"...and lowers the test loss clearly on average"
assert abs(comparisons[SPATIAL, ELEMENT_BEST].mean_difference) < 0.12, \
    "element-wise dropout at its extreme best rate only catches up with spatial dropout"
print("All claims hold.")

# %% [markdown]
# ## What to remember
#
# * Pixels of a feature map are correlated with their neighbours, and global average
#   pooling averages them anyway: element-wise dropout on such maps is mostly undone.
# * **Spatial dropout** draws one Bernoulli value per (sample, channel), a mask of shape
#   (N, C, 1, 1): a whole map is zeroed, or scaled by $1/(1-p)$. Backward: `dx = dout * mask`.
# * What follows the dropout decides which kind helps: an averaging head leaves only the
#   channels' combination to overfit → spatial dropout (here 0.3 did what element-wise
#   dropout needed 0.9 for); a flatten + dense head overfits through positions →
#   element-wise dropout.
# * Compare regularizers **paired over seeds** (same data, weights, batches), choose rates
#   on validation data of seeds you then set aside, and report test data once.
# * Mind the layout: channels are axis 1 in NCHW (PyTorch, here), the last axis in NHWC
#   (Keras's default).
#
# | here | PyTorch | Keras |
# |---|---|---|
# | `SpatialDropout2D(drop_prob, rng=rng)` on (N, C, H, W) | `nn.Dropout2d(p=drop_prob)` on (N, C, H, W) | `layers.SpatialDropout2D(rate=drop_prob)` on (N, H, W, C) (`data_format="channels_last"`) |
# | `Dropout(drop_prob, rng=rng)` | `nn.Dropout(p=drop_prob)` | `layers.Dropout(rate=drop_prob)` |
# | `Conv2D(in, out, k, stride=s, padding=p, rng=rng)`, `W` is (out, in, k, k) | `nn.Conv2d(in, out, k, stride=s, padding=p)`, `weight` is (out, in, k, k) | `layers.Conv2D(out, k, strides=s, padding="same"/"valid")`, kernel is (k, k, in, out) |
# | `MaxPool2D(k)` (stride k, floor) | `nn.MaxPool2d(k)` | `layers.MaxPooling2D(k)` |
# | `GlobalAvgPool2D()`: (N, C, H, W) → (N, C) | `nn.AdaptiveAvgPool2d(1)` then `nn.Flatten()` (or `x.mean(dim=(2, 3))`) | `layers.GlobalAveragePooling2D()` |
# | `Flatten()` | `nn.Flatten()` | `layers.Flatten()` (flattens NHWC order) |
#
# Next: **04 · Early stopping**.

# ---
# jupyter:
#   jupytext:
#     cell_metadata_filter: tags,-all
#     formats: ipynb,py:percent
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
# still says where the feature is. **Spatial dropout** zeroes whole feature maps instead.
#
# In this notebook you will
# 1. measure how well a pixel of a feature map can be predicted from its neighbours;
# 2. implement spatial dropout's forward and backward pass for (N, C, H, W) arrays;
# 3. train a small CNN on 8×8 digit images with no dropout, element-wise dropout and
#    spatial dropout on its convolutional layers, and compare them.
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
# ## 1. Images, and a small CNN that memorizes them
#
# scikit-learn's handwritten digits: 8×8 grey images, 10 classes. We train on only a few
# hundred, so a CNN can memorize its training set. Arrays are **NCHW** — (samples,
# channels, height, width) — as in PyTorch; Keras defaults to channels-last, NHWC.

# %%
N_TRAIN, EPOCHS, BATCH_SIZE, LEARNING_RATE = 120, 60, 32, 2e-3
DROP_PROB = 0.3  # the same rate for element-wise and spatial dropout

data = datasets.load_digits(n_train=N_TRAIN, n_val=600)
print(data)
print("X_train:", data.X_train.shape, data.X_train.dtype, "| y_train:", data.y_train.shape, data.y_train.dtype)

# %% [markdown]
# The network: two blocks of 3×3 convolution (padding 1, so 8×8 stays 8×8) → ReLU →
# optional dropout → 2×2 max pooling, then a dense layer on the flattened maps.
#
# | layer | output shape |
# |---|---|
# | input | (N, 1, 8, 8) |
# | `Conv2D(1, C1, 3, padding=1)`, ReLU, dropout, `MaxPool2D(2)` | (N, C1, 8, 8) → (N, C1, 4, 4) |
# | `Conv2D(C1, C2, 3, padding=1)`, ReLU, dropout, `MaxPool2D(2)` | (N, C2, 4, 4) → (N, C2, 2, 2) |
# | `Flatten`, `Dense(4·C2, 10)` | (N, 4·C2) → (N, 10) logits |

# %%
from coursekit.dropout import Dropout, SpatialDropout2D
from coursekit.layers import Conv2D, Dense, Flatten, MaxPool2D, ReLU
from coursekit.losses import softmax_cross_entropy
from coursekit.model import Sequential
from coursekit.optim import Adam
from coursekit.training import evaluate, fit

C1, C2 = 16, 32


def make_cnn(dropout, rng):
    """The CNN above; dropout is "none", "element" (Dropout) or "spatial" (SpatialDropout2D)."""
    def drop():
        if dropout == "none":
            return []
        return [Dropout(DROP_PROB, rng=rng) if dropout == "element" else SpatialDropout2D(DROP_PROB, rng=rng)]
    return Sequential(Conv2D(1, C1, 3, padding=1, rng=rng), ReLU(), *drop(), MaxPool2D(2),
                      Conv2D(C1, C2, 3, padding=1, rng=rng), ReLU(), *drop(), MaxPool2D(2),
                      Flatten(), Dense(4 * C2, 10, rng=rng))


def train(dropout, seed=0):
    rng = np.random.default_rng(seed)
    model = make_cnn(dropout, rng)
    history = fit(model, softmax_cross_entropy, Adam(model.parameters(), lr=LEARNING_RATE),
                  data.X_train, data.y_train, epochs=EPOCHS, batch_size=BATCH_SIZE, rng=rng,
                  validation_data=(data.X_val, data.y_val), progress=False)
    return model, history


baseline, baseline_history = train("none")
print(baseline)
print("parameters:", sum(p.value.size for p in baseline.parameters()))

# %% [markdown]
# ## 2. Neighbouring pixels tell you a dropped pixel
#
# Take the trained network's first feature maps (after the first ReLU) for the
# validation images. How well does the **mean of a pixel's four neighbours** predict the
# pixel? We use every interior pixel of every map and report the correlation $r$ and
# $R^2 = r^2$ (the fraction of the pixel's variance the neighbours explain). For
# comparison: the input images themselves, and maps of independent noise of the same shape.

# %%
def neighbour_correlation(maps):
    """Correlation between each interior pixel and the mean of its 4 neighbours; maps (N, C, H, W)."""
    centre = maps[:, :, 1:-1, 1:-1]
    neighbours = (maps[:, :, :-2, 1:-1] + maps[:, :, 2:, 1:-1] + maps[:, :, 1:-1, :-2] + maps[:, :, 1:-1, 2:]) / 4
    return float(np.corrcoef(centre.ravel(), neighbours.ravel())[0, 1])


first_maps = baseline.layers[1].forward(baseline.layers[0].forward(data.X_val, training=False), training=False)
noise = np.random.default_rng(1).standard_normal(first_maps.shape)
print("first feature maps:", first_maps.shape)
predictability = {"input images": neighbour_correlation(data.X_val),
                  "first conv feature maps": neighbour_correlation(first_maps),
                  "independent noise": neighbour_correlation(noise)}
for name, r in predictability.items():
    print(f"{name:25s} r = {r:+.2f}   R^2 = {r * r:.2f}")

# %% [markdown]
# So what does element-wise dropout actually remove? Drop pixels of the feature maps with
# probability `DROP_PROB` and try to **fill every dropped pixel back in** with the mean of
# its kept neighbours. If the fill-in is good, the next layer can do the same (a 3×3
# convolution sees those neighbours), and the dropout forced little change on it.

# %%
rng = np.random.default_rng(2)
kept = rng.random(first_maps.shape) >= DROP_PROB
dropped_maps = first_maps * kept
padded_values, padded_kept = (np.pad(a, ((0, 0), (0, 0), (1, 1), (1, 1))) for a in (dropped_maps, kept))
shifts = [(0, 1), (2, 1), (1, 0), (1, 2)]  # up, down, left, right in the padded array
H, W = first_maps.shape[2:]
neighbour_sum = sum(padded_values[:, :, i:i + H, j:j + W] for i, j in shifts)
neighbour_count = sum(padded_kept[:, :, i:i + H, j:j + W] for i, j in shifts)
fillable = ~kept & (neighbour_count > 0)
filled = neighbour_sum[fillable] / neighbour_count[fillable]
fill_r = float(np.corrcoef(filled, first_maps[fillable])[0, 1])
print(f"dropped pixels: {np.mean(~kept):.1%}; of those, {fillable.sum() / (~kept).sum():.1%} have a kept neighbour")
print(f"fill-in from kept neighbours vs the true value: r = {fill_r:.2f}")

# %% [markdown]
# Almost every dropped pixel has a kept neighbour, and the neighbours recover most of
# its value. With spatial dropout, a dropped map has **no** kept pixel to recover anything
# from: the feature is gone for that example, and the network must get by with the other
# channels. That is the co-adaptation dropout is meant to break.
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

out, mask = spatial_dropout_forward(first_maps, DROP_PROB, rng=np.random.default_rng(3), training=True)
print("x:", first_maps.shape, "-> out:", out.shape, "| mask:", mask.shape)
print(f"zeroed maps: {np.mean(mask == 0):.1%} (drop_prob = {DROP_PROB})")

x_small = np.random.default_rng(4).standard_normal((2, 3, 4, 4))
dout_small = np.random.default_rng(5).standard_normal(x_small.shape)
_, mask_small = spatial_dropout_forward(x_small, 0.5, rng=np.random.default_rng(6), training=True)
numeric = numerical_gradient(
    lambda v: np.sum(spatial_dropout_forward(v, 0.5, rng=np.random.default_rng(6), training=True)[0] * dout_small),
    x_small.copy())
print(f"backward vs numerical gradient, relative error: "
      f"{rel_error(spatial_dropout_backward(dout_small, mask_small), numeric):.1e}")

# %% [markdown]
# **Question: what does each kind of dropout remove from one digit's feature maps?** Top
# row: the first eight feature maps of one validation digit. Then the two kinds of masks
# at the same `drop_prob` (dark = dropped), and what passes through each.

# %%
one = first_maps[:1].astype(np.float64)
element_mask = (np.random.default_rng(7).random(one.shape) >= DROP_PROB) / (1 - DROP_PROB)
_, spatial_mask = spatial_dropout_forward(one, DROP_PROB, rng=np.random.default_rng(8), training=True)
spatial_mask_full = np.broadcast_to(spatial_mask, one.shape)
plots.plot_feature_map_rows({"feature maps": one[0],
                             "element mask": element_mask[0], "after element": (one * element_mask)[0],
                             "spatial mask": spatial_mask_full[0], "after spatial": (one * spatial_mask_full)[0]},
                            title=f"drop_prob = {DROP_PROB}: pixels vs whole maps")
plt.show()

# %% [markdown]
# ## 4. Now the finished version: does it regularize a CNN?
#
# `coursekit` has `Conv2D`, `MaxPool2D`, `Flatten` (vectorized: the convolution is one
# matrix product over an im2col view of the input) and `SpatialDropout2D`. We train the
# same network three times from the same initialization and the same batch order: no
# dropout (done above), element-wise `Dropout` and `SpatialDropout2D` after each
# convolution's ReLU, both with `drop_prob = DROP_PROB`.

# %%
models, histories = {"none": baseline}, {"none": baseline_history}
for kind in ("element", "spatial"):
    models[kind], histories[kind] = train(kind)

results = {}
for kind, model in models.items():
    train_loss, train_acc = evaluate(model, softmax_cross_entropy, data.X_train, data.y_train)
    val_loss, val_acc = evaluate(model, softmax_cross_entropy, data.X_val, data.y_val)
    results[kind] = {"train_acc": train_acc, "val_acc": val_acc, "gap": train_acc - val_acc,
                     "train_loss": train_loss, "val_loss": val_loss, "loss_gap": val_loss - train_loss}
print(f"{'dropout':9s} {'train acc':>9s} {'val acc':>8s} {'acc gap':>8s} {'train loss':>10s} {'val loss':>8s} "
      f"{'loss gap':>8s}")
for kind, r in results.items():
    print(f"{kind:9s} {r['train_acc']:9.1%} {r['val_acc']:8.1%} {r['gap']:8.1%} {r['train_loss']:10.3f} "
          f"{r['val_loss']:8.3f} {r['loss_gap']:8.3f}")

# %% [markdown]
# Read the table honestly. Both kinds of dropout hold the training loss up, so the gap
# between validation and training loss narrows; spatial dropout does so while removing
# whole maps from a network that has only 16 and 32 of them. On this tiny network and
# these 8×8 images the validation accuracy and loss do **not** improve (check other
# seeds: the differences in validation accuracy are within a point or two, in either
# direction). Dropout trades fitting speed for robustness; whether that pays off depends
# on how much redundancy the layer has — spatial dropout is used on wide layers with large,
# smooth feature maps, where element dropout does almost nothing.
#
# **Question: which network's validation loss drifts away from its training loss?**
# (Training-mode curves include the dropout noise; the dashed validation curves are in
# evaluation mode.)

# %%
fig, axes = plt.subplots(1, 3, figsize=(15, 4), sharey=True)
for ax, (kind, history) in zip(axes, histories.items()):
    plots.plot_history(history, metric="loss", ax=ax, title=f"{kind} dropout")
plt.show()

# %% [markdown]
# ## 5. The lesson's claims, checked
#
# If a change to the course breaks the story told above, this cell fails (and so does
# the test suite).

# %% tags=["claims"]
x_check = first_maps[:64].astype(np.float64) + 1.0  # no zeros, so out / x is the mask
out_check, mask_check = spatial_dropout_forward(x_check, DROP_PROB, rng=np.random.default_rng(9), training=True)
ratio = out_check / x_check
assert mask_check.shape == (64, C1, 1, 1), "spatial dropout draws one mask value per (sample, channel)"
assert np.allclose(ratio, ratio[:, :, :1, :1]), "spatial dropout's mask is constant over each feature map"
assert predictability["first conv feature maps"] > 0.7 > abs(predictability["independent noise"]) + 0.6, \
    "neighbours predict a feature-map pixel; they do not predict noise"
assert fill_r > 0.7, "element dropout's dropped pixels are recoverable from their kept neighbours"
assert min(results["element"]["train_loss"], results["spatial"]["train_loss"]) > 2 * results["none"]["train_loss"], \
    "both kinds of dropout hold the training fit back"
assert results["spatial"]["loss_gap"] < results["none"]["loss_gap"] - 0.01, \
    "spatial dropout narrows the gap between validation and training loss"
print("All claims hold.")

# %% [markdown]
# ## What to remember
#
# * Pixels of a feature map are strongly correlated with their neighbours. Element-wise
#   dropout on feature maps removes little: the dropped values are mostly recoverable.
# * Dropout of either kind slows the fit; on a small network it narrows the
#   train/validation gap without necessarily improving validation. Measure, per model.
# * **Spatial dropout** draws one Bernoulli value per (sample, channel), a mask of shape
#   (N, C, 1, 1): a whole map is zeroed, or scaled by $1/(1-p)$. Backward: `dx = dout * mask`.
# * Mind the layout: channels are axis 1 in NCHW (PyTorch, here), the last axis in NHWC
#   (Keras's default).
#
# | here | PyTorch | Keras |
# |---|---|---|
# | `SpatialDropout2D(drop_prob, rng=rng)` on (N, C, H, W) | `nn.Dropout2d(p=drop_prob)` on (N, C, H, W) | `layers.SpatialDropout2D(rate=drop_prob)` on (N, H, W, C) (`data_format="channels_last"`) |
# | `Dropout(drop_prob, rng=rng)` | `nn.Dropout(p=drop_prob)` | `layers.Dropout(rate=drop_prob)` |
# | `Conv2D(in, out, k, stride=s, padding=p, rng=rng)`, `W` is (out, in, k, k) | `nn.Conv2d(in, out, k, stride=s, padding=p)`, `weight` is (out, in, k, k) | `layers.Conv2D(out, k, strides=s, padding="same"/"valid")`, kernel is (k, k, in, out) |
# | `MaxPool2D(k)` (stride k, floor) | `nn.MaxPool2d(k)` | `layers.MaxPooling2D(k)` |
# | `Flatten()` | `nn.Flatten()` | `layers.Flatten()` (flattens NHWC order) |
#
# Next: **04 · Early stopping**.

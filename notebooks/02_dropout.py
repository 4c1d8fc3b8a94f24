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
# # 02 · Inverted dropout
#
# In notebook 00 a big MLP memorized 150 noisy points: perfect on the training set, much
# worse on validation data. L2 (notebook 01) shrank the weights. **Dropout** attacks
# memorization differently: during training it switches off a random subset of the hidden
# units at every step, so no unit can rely on a particular partner being there.
#
# In this notebook you will
# 1. see dropout as training a huge **ensemble of thinned networks** that share weights;
# 2. compare **vanilla** dropout (scale at test time) with **inverted** dropout (scale at
#    training time), and check numerically that both keep the expected activation;
# 3. implement the inverted-dropout **forward** (returning the mask) and **backward**;
# 4. watch dropout shrink the generalization gap, choose `drop_prob` on validation data,
#    and use **Monte Carlo dropout** to map where the network is unsure.
#
# One convention for the whole course: **`drop_prob` is the probability of zeroing a
# unit**, as PyTorch's `p` and Keras's `rate`; `keep_prob = 1 - drop_prob`.

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
# ## 1. The problem again
#
# The same noisy two-moons set and the same oversized MLP $2 \to 128 \to 128 \to 1$ as in
# notebook 00. One function builds it with or without dropout after each hidden ReLU, so
# the only difference between the runs is dropout.

# %%
from coursekit.dropout import Dropout
from coursekit.layers import Dense, ReLU
from coursekit.losses import binary_cross_entropy_with_logits
from coursekit.model import Sequential
from coursekit.optim import Adam
from coursekit.training import evaluate, fit

data = datasets.load_noisy_moons()
EPOCHS = 400


def mlp(drop_prob, rng):
    """2 -> 128 -> 128 -> 1 ReLU network, with Dropout(drop_prob) after each hidden layer if drop_prob > 0."""
    def hidden(n_in):
        block = [Dense(n_in, 128, rng=rng), ReLU()]
        return block + [Dropout(drop_prob, rng=rng)] if drop_prob > 0 else block
    return Sequential(*hidden(2), *hidden(128), Dense(128, 1, rng=rng))


def train(drop_prob, seed=0):
    """Train mlp(drop_prob) with Adam; return the model, its history and its train/val accuracy."""
    rng = np.random.default_rng(seed)
    model = mlp(drop_prob, rng)
    history = fit(model, binary_cross_entropy_with_logits, Adam(model.parameters(), lr=1e-2),
                  data.X_train, data.y_train, epochs=EPOCHS, batch_size=32, rng=rng,
                  validation_data=(data.X_val, data.y_val), progress=False)
    _, train_acc = evaluate(model, binary_cross_entropy_with_logits, data.X_train, data.y_train)
    _, val_acc = evaluate(model, binary_cross_entropy_with_logits, data.X_val, data.y_val)
    return {"model": model, "history": history, "train_acc": train_acc, "val_acc": val_acc}


runs = {0.0: train(0.0)}
print(mlp(0.5, np.random.default_rng(0)))
print(f"no dropout: train accuracy {runs[0.0]['train_acc']:.1%}, validation accuracy {runs[0.0]['val_acc']:.1%}")

# %% [markdown]
# ## 2. Dropout: an ensemble of thinned networks
#
# Take a hidden activation $h$ of shape $(N, D)$. During training, draw a **Bernoulli
# mask** $r$ of the same shape, independently per entry,
#
# $$r_{nd} \sim \text{Bernoulli}(\text{keep\_prob}),\qquad P(r_{nd}=1)=\text{keep\_prob}=1-\text{drop\_prob},$$
#
# and pass on $h \odot r$: each unit of each example is switched off with probability
# `drop_prob`. A network with $D$ droppable units has $2^D$ such **thinned networks**,
# and every training step trains a freshly sampled one. They all share the same weights,
# so training the big network trains this whole ensemble at once, each member on the
# few steps it is drawn for. Because any unit can vanish, none can depend on a specific
# other unit being present (no "co-adaptation"): features must be useful on their own.
#
# At test time we want the ensemble's **average** prediction, but averaging $2^{256}$
# networks is out of the question. The cheap approximation (Srivastava et al., 2014) is
# to run the full network once with each unit's output **scaled by its expected
# presence**, so that every unit sends the next layer the same expected signal as in
# training. There are two places to put that scale.
#
# **Vanilla dropout** (the original paper): train with $h \odot r$, test with
# $\text{keep\_prob}\cdot h$. Expected training output $\mathbb{E}[h \odot r] = \text{keep\_prob}\cdot h$ = test output. ✓
#
# **Inverted dropout**: train with $h \odot r / \text{keep\_prob}$, test with $h$ unchanged.
# Expected training output $\mathbb{E}[h \odot r]/\text{keep\_prob} = h$ = test output. ✓
#
# Both keep train and test consistent. Inverted dropout is what PyTorch, Keras/TensorFlow,
# Flax and the other frameworks do, because:
# * **inference is untouched** - the deployed network is just the layers, with no factor
#   to remember and nothing to do in evaluation mode (dropout is the identity);
# * `drop_prob` can change between layers or during training (or be switched off for
#   fine-tuning) without changing the prediction code;
# * the activations have the same scale in training and evaluation, so whatever follows
#   (batch norm statistics, a loss, another layer) sees one distribution.
#
# ### The naming trap
#
# Papers and frameworks use the *same letter for opposite things*:
#
# | where | name | meaning | "drop 20%" is written |
# |---|---|---|---|
# | Srivastava et al. 2014 and CS231n ($p$), Ng's deep learning course (`keep_prob`) | `keep_prob` / $p$ | probability of **keeping** | `keep_prob = 0.8` |
# | PyTorch `nn.Dropout(p)` | `p` | probability of **zeroing** | `p = 0.2` |
# | Keras `layers.Dropout(rate)` | `rate` | probability of **zeroing** | `rate = 0.2` |
# | TensorFlow 1 `tf.nn.dropout(x, keep_prob)` (deprecated) | `keep_prob` | probability of **keeping** | `keep_prob = 0.8` |
# | coursekit `Dropout(drop_prob)` | `drop_prob` | probability of **zeroing** | `drop_prob = 0.2` |
#
# When you read "$p = 0.5$" check which one is meant (at 0.5 they coincide, which is how
# the confusion survives). This course always writes `drop_prob`.

# %% [markdown]
# ## 3. Exercise: the inverted-dropout forward pass
#
# Build the mask already scaled, so the same array serves forward and backward:
#
# $$\text{mask}_{nd} = \frac{r_{nd}}{\text{keep\_prob}} \in \{0,\ 1/\text{keep\_prob}\},\qquad
# \text{out} = x \odot \text{mask}.$$
#
# Shapes: `x` any shape, `out` and `mask` the same shape and dtype as `x`. Draw with the
# Generator you are given: `rng.random(x.shape)` gives uniforms $u$ in $[0,1)$ and
# $P(u < \text{keep\_prob}) = \text{keep\_prob}$. Edge cases: `drop_prob = 0` is the identity;
# `drop_prob = 1` must give zeros (careful: $0/0$). In evaluation mode return `(x, None)`.
#
# The check draws its own conclusions **statistically**, so any correct way of drawing
# random numbers passes: on 100,000 entries the fraction zeroed must be within six
# binomial standard deviations of `drop_prob`, kept entries must equal `x / keep_prob`,
# and `out` must equal `x * mask`.

# %% tags=["exercise"]
def dropout_forward(x, drop_prob, *, rng, training):
    """Inverted dropout.

    x:         float array of any shape
    drop_prob: probability of zeroing each entry, in [0, 1]
    rng:       np.random.Generator - draw every random number from it
    training:  True -> apply dropout; False -> identity
    returns:   (out, mask), both shaped like x in x's dtype, with mask entries 0 or 1/keep_prob
               and out = x * mask; in evaluation mode (x, None)
    """
    # YOUR CODE HERE
    raise NotImplementedError

# %% tags=["check"]
dropout_forward = check("dropout_forward", dropout_forward)

# %% [markdown]
# **Do both versions keep the expected activation?** Below, `x` is 200,000 ones. Vanilla
# dropout (written out in the cell) zeroes entries and does not rescale; at test time it
# multiplies by `keep_prob`. Inverted dropout is your `dropout_forward`. For each
# `drop_prob` we measure the fraction of entries zeroed and the mean output in training
# and in evaluation mode. The standard error of a training mean here is at most
# $\sqrt{\text{drop\_prob}/(\text{keep\_prob}\cdot 200{,}000)} \approx 0.005$.

# %%
def vanilla_dropout(x, drop_prob, *, rng, training):
    """The original formulation: zero without rescaling in training, multiply by keep_prob at test."""
    keep_prob = 1.0 - drop_prob
    if not training:
        return x * keep_prob
    return x * (rng.random(x.shape) < keep_prob)


rng = np.random.default_rng(1)
x = np.ones(200_000)
print("drop_prob | zeroed in training | vanilla: train mean, test mean | inverted: train mean, test mean")
for drop_prob in [0.1, 0.3, 0.5, 0.8]:
    v_train = vanilla_dropout(x, drop_prob, rng=rng, training=True)
    v_test = vanilla_dropout(x, drop_prob, rng=rng, training=False)
    i_train, _ = dropout_forward(x, drop_prob, rng=rng, training=True)
    i_test, _ = dropout_forward(x, drop_prob, rng=rng, training=False)
    print(f"{drop_prob:9.1f} | {np.mean(i_train == 0):18.4f} | {v_train.mean():14.4f}, {v_test.mean():9.4f}"
          f" | {i_train.mean():15.4f}, {i_test.mean():9.4f}")

# %% [markdown]
# In both columns the training mean matches the evaluation output: vanilla at
# `keep_prob`, inverted at 1, the input's own mean. Only inverted dropout leaves
# evaluation alone.

# %% [markdown]
# ## 4. Exercise: the backward pass
#
# $\text{out} = x \odot \text{mask}$ is linear in $x$ with the mask held fixed, so
#
# $$\frac{\partial L}{\partial x} = \frac{\partial L}{\partial\,\text{out}} \odot \text{mask}.$$
#
# The mask must be **the one the forward pass used** (that is why the forward returns it):
# the gradient flows only through the units that were kept, scaled by the same
# $1/\text{keep\_prob}$. A new draw here would send gradient through units that did not
# take part in the forward pass. With `mask = None` (evaluation mode) the gradient passes
# through unchanged. Shapes: `dout`, `mask` and `dx` all like the forward's `out`.

# %% tags=["exercise"]
def dropout_backward(dout, mask):
    """Gradient of inverted dropout.

    dout:    upstream gradient dL/dout, shaped like the forward output
    mask:    the scaled mask returned by dropout_forward (entries 0 or 1/keep_prob), or None
    returns: dx = dL/dx, shaped like dout, in dout's dtype (dout itself when mask is None)
    """
    # YOUR CODE HERE
    raise NotImplementedError

# %% tags=["check"]
dropout_backward = check("dropout_backward", dropout_backward)

# %% [markdown]
# Your pair, verified together: with the mask fixed, compare `dropout_backward` with
# central differences of `x -> sum(dropout_forward(x) * dout)` (every evaluation reuses one
# seed, hence one mask). Float64, as always for gradient checks.

# %%
from coursekit.gradcheck import numerical_gradient, rel_error

x = rng.standard_normal((4, 6))
dout = rng.standard_normal((4, 6))
out, mask = dropout_forward(x, 0.5, rng=np.random.default_rng(7), training=True)
numeric = numerical_gradient(
    lambda v: np.sum(dropout_forward(v, 0.5, rng=np.random.default_rng(7), training=True)[0] * dout), x.copy())
print("x:", x.shape, "| mask:", mask.shape, "| entries kept:", int(np.count_nonzero(mask)), "of", mask.size)
print(f"dropout_backward vs central differences, relative error: {rel_error(dropout_backward(dout, mask), numeric):.1e}")

# %% [markdown]
# ## 5. Now the finished version: the `Dropout` layer
#
# `coursekit.dropout.Dropout(drop_prob, rng=rng)` wraps the two functions in the layer
# contract. It owns its Generator and draws a **fresh mask on every training forward
# pass**: a mask drawn once and reused would just be a smaller, fixed network, not an
# ensemble. With `training=False` it is exactly the identity.

# %%
layer = Dropout(0.5, rng=np.random.default_rng(3))
x = rng.standard_normal((3, 8)).astype(np.float32)
first = layer.forward(x, training=True)
second = layer.forward(x, training=True)
print("zeroed in pass 1:\n", (first == 0).astype(int))
print("zeroed in pass 2:\n", (second == 0).astype(int))
print("evaluation mode is the identity:", np.array_equal(layer.forward(x, training=False), x))

# %% [markdown]
# Its gradient check: `check_layer_gradients` copies the layer (Generator included) before
# every forward pass, so all the evaluations see the same mask.

# %%
from coursekit.gradcheck import check_layer_gradients

x64 = rng.standard_normal((5, 7))
errors = check_layer_gradients(Dropout(0.3, rng=np.random.default_rng(4)), x64, rng=rng)
print("Dropout(0.3) relative gradient errors (float64):", {k: f"{v:.1e}" for k, v in errors.items()})

# %% [markdown]
# ## 6. Does dropout stop the memorizing?
#
# Train the same MLP with dropout after each hidden ReLU for several values of
# `drop_prob` (same seed, same epochs, same optimizer) and **choose `drop_prob` by
# validation accuracy**. The test set stays untouched until the very end.

# %%
DROP_PROBS = [0.2, 0.4, 0.6, 0.8]
for drop_prob in DROP_PROBS:
    runs[drop_prob] = train(drop_prob)
print("drop_prob | train acc | val acc | gap")
for drop_prob, run in runs.items():
    print(f"{drop_prob:9.1f} | {run['train_acc']:9.1%} | {run['val_acc']:7.1%} | {run['train_acc'] - run['val_acc']:.1%}")
best = max(DROP_PROBS, key=lambda p: runs[p]["val_acc"])
print("chosen on validation accuracy: drop_prob =", best)

# %% [markdown]
# **Question: how does `drop_prob` trade training fit for validation accuracy?** As
# `drop_prob` grows, training accuracy falls (memorizing gets harder) and validation
# accuracy rises, closing the gap; at the far end the network starts to underfit.

# %%
values = [0.0] + DROP_PROBS
plots.plot_validation_curve(values, {"train accuracy": [runs[p]["train_acc"] for p in values],
                                     "validation accuracy": [runs[p]["val_acc"] for p in values]},
                            best=best, xlabel="drop_prob", ylabel="accuracy", log_x=False,
                            title="accuracy after 400 epochs against drop_prob")
plt.show()

# %% [markdown]
# **Question: what does dropout change during training?** Without dropout the
# validation loss bottoms out early and then climbs as the network memorizes; with the
# chosen `drop_prob` it rises far less. (The training curves with dropout are measured
# on thinned networks, hence noisier and higher.)

# %%
fig, axes = plt.subplots(1, 2, figsize=(11, 4), sharey=True)
plots.plot_history(runs[0.0]["history"], metric="loss", ax=axes[0], title="no dropout")
plots.plot_history(runs[best]["history"], metric="loss", ax=axes[1], title=f"dropout, drop_prob = {best}")
plt.show()

# %% [markdown]
# **Question: what does the boundary look like?** Without dropout it twists around single
# (often mislabelled) training points; with dropout it is smoother and follows the moons.

# %%
fig, axes = plt.subplots(1, 2, figsize=(11, 4.5), sharex=True, sharey=True)
for ax, drop_prob, label in [(axes[0], 0.0, "no dropout"), (axes[1], best, f"drop_prob = {best}")]:
    run = runs[drop_prob]
    plots.plot_decision_boundary(run["model"], data.X_train, data.y_train, ax=ax,
                                 title=f"{label}: train {run['train_acc']:.0%}, val {run['val_acc']:.0%}")
plt.show()

# %% [markdown]
# The chosen model, scored once on the test set:

# %%
_, test_acc = evaluate(runs[best]["model"], binary_cross_entropy_with_logits, data.X_test, data.y_test)
_, test_acc_plain = evaluate(runs[0.0]["model"], binary_cross_entropy_with_logits, data.X_test, data.y_test)
print(f"test accuracy: no dropout {test_acc_plain:.1%}, drop_prob = {best}: {test_acc:.1%}")

# %% [markdown]
# ## 7. Monte Carlo dropout: where is the network unsure?
#
# Evaluation mode gives one deterministic prediction: the weight-scaling approximation of
# the ensemble average. We can instead **keep dropout on at prediction time** and average
# $T$ stochastic passes, each one a different thinned network (Gal & Ghahramani, 2016):
#
# $$\bar p(x) = \frac1T\sum_{t=1}^T \sigma\big(f(x; \text{mask}_t)\big),\qquad
# s(x) = \operatorname{std}_t\, \sigma\big(f(x; \text{mask}_t)\big).$$
#
# $\bar p$ is the Monte Carlo estimate of the ensemble average; the spread $s$ says how
# much the thinned networks disagree, a cheap measure of the model's uncertainty.
# `plots.mc_dropout_predict(model, X, n_passes=T)` returns both, for every row of `X`.

# %%
model = runs[best]["model"]
mc_mean, mc_std = plots.mc_dropout_predict(model, data.X_val, n_passes=100)
deterministic = model.predict(data.X_val).ravel() > 0
mc_acc = np.mean((mc_mean > 0.5) == data.y_val)
print("mc_mean, mc_std:", mc_mean.shape, mc_std.shape)
print(f"validation accuracy: evaluation mode {np.mean(deterministic == data.y_val):.1%}, "
      f"MC average of 100 passes {mc_acc:.1%}; the two agree on {np.mean((mc_mean > 0.5) == deterministic):.1%} of points")

# %% [markdown]
# **Question: where do the thinned networks disagree?** Dark means a large spread of the
# predicted probability over 100 passes; the black line is the MC-averaged boundary.

# %%
fig, ax = plt.subplots(figsize=(6.5, 4.5))
plots.plot_mc_dropout_uncertainty(model, data.X_train, data.y_train, n_passes=100, ax=ax,
                                  title=f"MC dropout (drop_prob = {best}): std of p over 100 passes")
plt.show()

# %% [markdown]
# The passes agree deep inside each class and disagree along the boundary, most of all
# where the boundary runs out of the data and the network is extrapolating: there no
# training point pins the thinned networks down. In numbers, over a coarse grid of the
# same plane: how large is the spread where the averaged prediction is undecided
# ($|\bar p - 0.5| < 0.1$) compared with where it is confident ($|\bar p - 0.5| > 0.4$)?

# %%
low, high = data.X_train.min(axis=0) - 0.5, data.X_train.max(axis=0) + 0.5
grid = np.mgrid[low[0]:high[0]:50j, low[1]:high[1]:50j].reshape(2, -1).T.astype(np.float32)
grid_mean, grid_std = plots.mc_dropout_predict(model, grid, n_passes=100)
undecided, confident = np.abs(grid_mean - 0.5) < 0.1, np.abs(grid_mean - 0.5) > 0.4
print("grid:", grid.shape, f"| undecided: {undecided.mean():.0%} of the plane, confident: {confident.mean():.0%}")
print(f"mean MC std: undecided {grid_std[undecided].mean():.3f}, confident {grid_std[confident].mean():.3f}")

# %% [markdown]
# ## 8. The lesson's claims, checked

# %% tags=["claims"]
gap = {p: runs[p]["train_acc"] - runs[p]["val_acc"] for p in runs}
print(f"train - val accuracy gap: no dropout {gap[0.0]:.3f}, drop_prob = {best}: {gap[best]:.3f}")
print(f"val accuracy: no dropout {runs[0.0]['val_acc']:.3f}, drop_prob = {best}: {runs[best]['val_acc']:.3f}")
assert gap[best] < gap[0.0] - 0.08, "dropout should shrink the generalization gap clearly"
assert all(gap[p] < gap[0.0] for p in DROP_PROBS), "every dropout rate tried should shrink the gap"
assert runs[best]["val_acc"] > runs[0.0]["val_acc"] + 0.02, "and improve validation accuracy"

# The Dropout layer: training-time mean within 5 standard errors of the input mean
# (Var(x B / keep_prob) = x^2 drop_prob / keep_prob for B ~ Bernoulli(keep_prob)); evaluation is exactly x.
x = np.random.default_rng(5).standard_normal(400_000) + 1.0
for drop_prob in [0.2, 0.5, 0.9]:
    out = Dropout(drop_prob, rng=np.random.default_rng(6)).forward(x, training=True)
    bound = 5 * np.sqrt(np.sum(x ** 2) * drop_prob / (1 - drop_prob)) / x.size
    print(f"drop_prob {drop_prob}: mean(out) - mean(x) = {out.mean() - x.mean():+.4f} (bound {bound:.4f}), "
          f"fraction zeroed {np.mean(out == 0):.4f}")
    assert abs(out.mean() - x.mean()) < bound, "inverted dropout must preserve the expected activation"
    assert abs(np.mean(out == 0) - drop_prob) < 5 * np.sqrt(drop_prob * (1 - drop_prob) / x.size)
    assert np.array_equal(Dropout(drop_prob, rng=np.random.default_rng(6)).forward(x, training=False), x), \
        "evaluation mode must be exactly the identity"

print(f"MC dropout: std where undecided {grid_std[undecided].mean():.3f} vs confident "
      f"{grid_std[confident].mean():.3f}; val accuracy {mc_acc:.3f} (evaluation mode {runs[best]['val_acc']:.3f})")
assert grid_std[undecided].mean() > 1.5 * grid_std[confident].mean(), "the passes should disagree along the boundary"
assert abs(mc_acc - runs[best]["val_acc"]) < 0.03, "the MC average and the weight-scaled network should agree"
print("All claims hold.")

# %% [markdown]
# ## What to remember
#
# * Dropout trains an **ensemble of $2^D$ thinned networks** with shared weights, one
#   random member per step; evaluation approximates the ensemble average in one pass.
# * **Inverted dropout**: `mask = (u < keep_prob) / keep_prob`, `out = x * mask` in
#   training, `out = x` in evaluation. The expected activation is unchanged, so inference
#   needs no special case. Vanilla dropout instead multiplies by `keep_prob` at test time.
# * Backward is `dx = dout * mask` with **the forward's own mask**; a fresh mask every
#   training forward pass, the identity in evaluation mode.
# * `drop_prob` is chosen on validation data; more dropout trades training fit for
#   generalization until the network underfits.
# * Keeping dropout on at prediction and averaging passes (**MC dropout**) gives a cheap
#   uncertainty estimate: the passes disagree along the decision boundary, above all
#   where it leaves the data.
#
# | here | PyTorch | Keras |
# |---|---|---|
# | `Dropout(drop_prob, rng=rng)` | `nn.Dropout(p=drop_prob)` | `layers.Dropout(rate=drop_prob)` |
# | `keep_prob = 1 - drop_prob` (classic papers, TF1 `keep_prob`) | `1 - p` | `1 - rate` |
# | `model.forward(x, training=True/False)` | `model.train()` / `model.eval()` | `model(x, training=True/False)` |
# | `plots.mc_dropout_predict(model, X, n_passes=T)` | `model.train()` then average `T` forward passes | average `T` calls of `model(x, training=True)` |
#
# Next: **03 · Spatial dropout**, where dropping single pixels of a feature map barely
# regularizes at all.

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
# # 00 · The problem: overfitting
#
# A network with far more parameters than training examples can bend its decision boundary
# around single noisy points. Its training loss keeps falling, below what even the best
# possible rule scores on the same points, while its loss on new data climbs, and it grows
# sure of answers it has no right to be sure of. That is **overfitting**. It is not
# memorization: the network of this notebook typically ends near 89% training accuracy,
# only a few points above the best possible rule's ~86% on the same points. It fits *part*
# of the noise and, above all, it becomes **overconfident**. Every later notebook is a cure
# for what you will see here.
#
# In this notebook you will
# 1. compute the **best accuracy any classifier can reach** on a small, noisy 2-D data set
#    (the Bayes ceiling), the yardstick for every number in notebooks 00–04;
# 2. implement the **numerically stable** binary cross-entropy from logits (and see the
#    naive formula produce `inf`/`nan`);
# 3. implement a **numerical gradient** by central differences and use it to verify a
#    backward pass — the tool every later lesson uses to prove its gradients right;
# 4. meet the course's **baseline**: one MLP, one training recipe, run on five fresh draws of
#    the data from two seeds each, which overfits. Notebooks 01, 02 and 04 cure this same
#    baseline.
#
# Exercises are functions with `raise NotImplementedError` in the body. Fill them in and
# run the **check cell** below each one. A blank exercise never breaks the notebook: the
# check falls back to the reference implementation from `coursekit`.

# %% tags=["setup"]
# Setup (the same in every notebook): coursekit 0.2.0, the release this lesson belongs to.
try:
    import coursekit
except ModuleNotFoundError:  # Colab, JupyterLite: install it
    import sys
    if sys.platform == "emscripten":  # JupyterLite in the browser: the site ships coursekit's wheel
        # its dependencies but scikit-learn, which no lesson needs there (loading it takes seconds)
        # %pip install --no-deps coursekit
        # %pip install numpy matplotlib tqdm threadpoolctl
    else:
        # %pip install --quiet "coursekit @ git+https://github.com/regularization-course/regularization-from-scratch@v0.2.0"
    import coursekit
import coursekit.release
coursekit.release.check("0.2.0")  # says which release this is, and when a newer one is out

# %%
import matplotlib.pyplot as plt
import numpy as np

from coursekit import datasets, heldout, plots
from coursekit.exercises import check, show_solution

# %% [markdown]
# **Which data, which seeds?** Everything random in this notebook (which data sets are drawn,
# the networks' initial weights, the order of the mini-batches) derives from one integer,
# the **held-out seed**. It is the committed default unless you set the environment variable
# `COURSEKIT_HELDOUT_SEED` (e.g. `%env COURSEKIT_HELDOUT_SEED=12345` before the setup cell):
# then every number below is recomputed on new data. The claims checked at the end were
# designed on other values of it and then run on values nobody tuned them on (plus the
# default); `evidence/README.md` says on how many and how often they failed.

# %%
held = heldout.for_lesson("00")
print(held)
CELLS = held.grid(draws=5, seeds=2)  # 5 data draws x 2 training seeds of their own = 10 runs
DRAWS = list(dict.fromkeys(draw for draw, _ in CELLS))
print("data draws:", DRAWS)

# %% [markdown]
# ## 1. A small, noisy data set
#
# Two interleaving half-moons with Gaussian noise, and 10% of the labels flipped on
# purpose: no smooth boundary can get those right. The training set is small (100 points);
# validation (500) is for watching and choosing things; test (500) is touched once, at the
# very end of a study. We draw the data fresh from its generator
# (`datasets.make_noisy_moons`), five times, so that nothing we conclude hangs on one lucky
# sample. Here is the first draw.

# %%
from coursekit.models import MOONS_N_TRAIN

data = datasets.load_noisy_moons(draw=DRAWS[0], n_train=MOONS_N_TRAIN)
print(data)
print("X_train:", data.X_train.shape, data.X_train.dtype, "| y_train:", data.y_train.shape, data.y_train.dtype)
print("class balance in train:", np.bincount(data.y_train))

# %%
fig, axes = plt.subplots(1, 2, figsize=(10, 4), sharex=True, sharey=True)
plots.plot_dataset(data.X_train, data.y_train, ax=axes[0], title=f"training set ({len(data.y_train)} points)")
plots.plot_dataset(data.X_val, data.y_val, ax=axes[1], title=f"validation set ({len(data.y_val)} points)")
plt.show()

# %% [markdown]
# ## 2. How good can any classifier be?
#
# Is 80% validation accuracy good on this set? Impossible to say without knowing the best
# possible score. Here we can compute it, because we know exactly how the data are made
# (`datasets.make_noisy_moons`):
#
# 1. pick a class $c \in \{0, 1\}$ (half the points each) and a position $t$ uniformly in
#    $[0, \pi]$ on that class's arc: $a_0(t) = (\cos t, \sin t)$, $a_1(t) = (1-\cos t, \tfrac12-\sin t)$;
# 2. add Gaussian noise: $x = a_c(t) + \varepsilon$, $\varepsilon \sim \mathcal N(0, \sigma^2 I)$ with $\sigma = 0.25$;
# 3. flip the label with probability $f = 0.1$.
#
# So the density of class $c$ is the arc smeared by the noise,
# $p(x \mid c) = \frac1\pi\int_0^\pi \mathcal N\big(x;\, a_c(t), \sigma^2 I\big)\,dt$, and with
# $q(x) = \frac{p(x\mid 1)}{p(x\mid 0) + p(x\mid 1)}$ (the probability that $x$ came from arc 1)
#
# $$P(\text{label} = 1 \mid x) = f + (1 - 2f)\,q(x).$$
#
# No classifier can do better than predicting the more likely label at every $x$ (the
# **Bayes-optimal** rule): it is right with probability $\max(P, 1-P)$ at $x$, and its
# expected accuracy, the average of that over the data, is the **Bayes ceiling**. The flips
# do not move its boundary ($P > \tfrac12 \iff q > \tfrac12$); they cap the accuracy: a flipped
# label is right exactly when the rule is wrong, so accuracy $= f + (1-2f)\cdot$(accuracy on
# unflipped labels). In the same way the lowest possible **loss** is the average binary
# entropy of $P$: the cross-entropy of a model that predicts the true probabilities.
#
# One more consequence we will need: since $0 \le q \le 1$, the true probability
# $P(\text{label}=1\mid x)$ always lies between $f = 0.1$ and $1 - f = 0.9$. **Nowhere is the
# right answer more than 90% certain.** A model that says "99% sure" is overconfident.
#
# `datasets.noisy_moons_bayes_limits()` computes both integrals numerically (the integral over
# $t$ exactly, the one over the plane on a fine grid; `tests/test_bayes.py` checks them against
# fresh samples of the generator).

# %%
limits = datasets.noisy_moons_bayes_limits()
print(f"Bayes ceiling: accuracy {limits.accuracy:.1%}, cross-entropy {limits.loss:.3f} (expected, on fresh data)")

bayes = {}
for split in ("train", "val", "test"):
    X, y = getattr(data, f"X_{split}"), getattr(data, f"y_{split}")
    loss, accuracy = datasets.noisy_moons_bayes_scores(X, y)  # the rule "P(label = 1 | x) > 1/2" on these points
    bayes[split] = {"accuracy": accuracy, "loss": loss}
    print(f"the Bayes rule on this draw's {split:5s} split ({len(y):3d} points): accuracy {accuracy:.1%}, loss {loss:.3f}")

# %% [markdown]
# In expectation the best possible accuracy is about 85.5%. On a finite split the Bayes
# rule's own score varies: with 500 points its standard deviation is
# $\sqrt{0.855 \cdot 0.145 / 500} \approx 1.6$ points, with 100 points 3.5 points. So
# compare a model's score with the **Bayes rule's score on the same points**: a validation
# accuracy with the rule's on that validation split, a training loss with the rule's on
# those training points. Nothing that generalizes can beat those by more than luck.
#
# **Question: what does the best possible boundary look like?** Below, the shading is
# $P(\text{label} = 1 \mid x)$ and the line the Bayes boundary. Anything with a `predict`
# method returning logits can be plotted like a model, so we wrap the formula in one.

# %%
class BayesRule:
    """The Bayes-optimal classifier of the noisy moons as a 'model': predict returns logit(P(label = 1 | x))."""

    def predict(self, X):
        p = datasets.noisy_moons_posterior(X)
        return np.log(p / (1 - p))[:, None]  # (N, 1), like a network's output


fig, ax = plt.subplots(figsize=(5.5, 4.5))
plots.plot_decision_boundary(BayesRule(), data.X_train, data.y_train, ax=ax, resolution=100,
                             title=f"Bayes-optimal rule: train {bayes['train']['accuracy']:.0%}")
plt.show()

# %% [markdown]
# ## 3. The loss: binary cross-entropy from logits
#
# The network outputs one real number per example, the **logit** $z$; the predicted
# probability of class 1 is $\sigma(z) = 1/(1+e^{-z})$. For a label $y\in\{0,1\}$ the
# cross-entropy is
#
# $$\ell(z, y) = -\big[y\log\sigma(z) + (1-y)\log(1-\sigma(z))\big].$$
#
# Typed in as written, this breaks. $\sigma(z)$ rounds to exactly `1.0` as soon as $e^{-z}$ is
# below half the spacing of floats near 1: for $z > 16.6$ in float32 (the dtype networks
# train in), $z > 36.7$ in float64. Then $\log(1-\sigma(z)) = \log 0 = -\infty$, and
# $0\cdot(-\infty)$ is `nan`. For very negative $z$, $e^{-z}$ itself overflows.

# %%
def naive_bce(z, y):
    s = 1 / (1 + np.exp(-z))
    return -(y * np.log(s) + (1 - y) * np.log(1 - s))

with np.errstate(all="ignore"):
    for z in [np.float32(2.0), np.float32(20.0), np.float64(20.0), np.float64(40.0), np.float64(-1000.0)]:
        print(f"z = {z:7.1f} ({z.dtype}), y = 1:  naive loss = {naive_bce(z, 1.0)}")

# %% [markdown]
# Using $\log\sigma(z) = -\log(1+e^{-z})$ and $\log(1-\sigma(z)) = -z-\log(1+e^{-z})$,
# the loss becomes $\log(1+e^{-z}) + (1-y)z$. That still overflows for very negative $z$
# ($e^{1000}$ does not fit in a float). Splitting on the sign of $z$ gives the form that
# is safe for **every** finite $z$:
#
# $$\ell(z, y) = \max(z, 0) - z\,y + \log\!\left(1 + e^{-|z|}\right).$$
#
# $e^{-|z|}\in(0,1]$ never overflows, and `np.log1p` keeps precision when it is tiny.
# The gradient is pleasantly simple: $\partial\ell/\partial z = \sigma(z) - y$.
#
# For a batch of $N$ logits the loss is the **mean**
# $L = \frac1N\sum_i \ell(z_i, y_i)$, so $\partial L/\partial z_i = (\sigma(z_i)-y_i)/N$.
# Shapes: `logits` $(N,)$ or $(N,1)$, `targets` the same shape, `dlogits` the shape of `logits`.

# %% [markdown]
# ### Exercise 1 — stable binary cross-entropy from logits

# %% tags=["exercise"]
def bce_with_logits(logits, targets):
    """Mean binary cross-entropy and its gradient.

    logits:  (N,) or (N, 1) float array, any finite values (think +-1000)
    targets: same shape, values 0 or 1
    returns: (loss, dlogits) - loss a float (the batch mean), dlogits shaped like logits
    """
    # YOUR CODE HERE
    raise NotImplementedError

# %% tags=["check"]
bce_with_logits = check("bce_with_logits", bce_with_logits)

# %% [markdown]
# ## 4. Layers and gradient checking
#
# Every layer in `coursekit` follows one contract (CS231n's, as small classes):
#
# * `forward(x, *, training)` computes the output and **caches** what backward needs;
# * `backward(dout)` takes the upstream gradient $\partial L/\partial\,\text{out}$,
#   stores the parameter gradients in `layer.grads`, and returns $\partial L/\partial x$.
#
# For `Dense`, $y = xW + b$ with $x:(N, D_{in})$, $W:(D_{in}, D_{out})$, $b:(D_{out},)$:
# $\;\partial L/\partial W = x^\top\,\text{dout}$, $\;\partial L/\partial b = \sum_n \text{dout}_n$,
# $\;\partial L/\partial x = \text{dout}\,W^\top$.

# %%
from coursekit.layers import Dense, ReLU

rng = np.random.default_rng(0)
layer = Dense(3, 4, rng=rng)
x = rng.standard_normal((5, 3)).astype(np.float32)
out = layer.forward(x, training=True)
dx = layer.backward(np.ones_like(out))
print("x:", x.shape, "-> out:", out.shape, "| dW:", layer.grads["W"].shape, "db:", layer.grads["b"].shape,
      "dx:", dx.shape)

# %% [markdown]
# How do we know a backward pass is right? Compare it with a **numerical gradient**.
# For a scalar function $f$, the central difference
#
# $$\frac{\partial f}{\partial x_i} \approx \frac{f(x + h e_i) - f(x - h e_i)}{2h}$$
#
# has error $O(h^2)$ (the forward difference $(f(x+he_i)-f(x))/h$ only $O(h)$). With
# $h=10^{-5}$ in **float64**, a correct analytic gradient agrees to about $10^{-8}$ or
# better in relative error. (In float32 the rounding error of $f$ swamps the difference:
# always gradient-check in float64.)

# %% [markdown]
# ### Exercise 2 — numerical gradient by central differences

# %% tags=["exercise"]
def numerical_gradient(f, x, h=1e-5):
    """Central-difference gradient of a scalar function f at x.

    f: callable, f(x) -> float, computed from the array it is given (so you may pass x or a copy)
    x: float64 array of any shape; you may change it while you work, but leave it as you found it
    returns: array shaped like x with (f(x + h e_i) - f(x - h e_i)) / (2h) in entry i
    """
    # YOUR CODE HERE
    raise NotImplementedError

# %% tags=["check"]
numerical_gradient = check("numerical_gradient", numerical_gradient)

# %% [markdown]
# Now use **your** two functions together: is the gradient returned by
# `bce_with_logits` the derivative of its loss? And is `Dense.backward` right? We measure
# the largest relative error $|a-b| / (|a|+|b|)$.
#
# One rule makes every `f` work with every `numerical_gradient`: **`f` computes its value
# from the array it is given.** Your implementation may perturb `x` in place or perturb a
# copy; an `f` that ignores its argument and reads the layer's own weights would only work
# with the first. So to check $\partial L/\partial W$, `f(W)` puts the array it receives
# into the layer, runs the forward pass, and puts the original back.

# %%
from coursekit.gradcheck import rel_error

z = rng.standard_normal(8)
y = (rng.random(8) < 0.5).astype(np.float64)
_, analytic = bce_with_logits(z, y)
numeric = numerical_gradient(lambda v: bce_with_logits(v, y)[0], z.copy())
print(f"BCE gradient, relative error: {rel_error(analytic, numeric):.2e}")

layer64 = Dense(3, 4, rng=np.random.default_rng(1), dtype=np.float64)
x64 = rng.standard_normal((5, 3))
dout = rng.standard_normal((5, 4))
layer64.forward(x64, training=True)
dx64 = layer64.backward(dout)
numeric_dx = numerical_gradient(lambda v: np.sum(layer64.forward(v, training=True) * dout), x64.copy())


def output_with_weights(W):
    """sum(layer64(x64) * dout) computed with the weight matrix W, the layer's own W put back after."""
    original = layer64.params["W"]
    layer64.params["W"] = W
    try:
        return np.sum(layer64.forward(x64, training=True) * dout)
    finally:
        layer64.params["W"] = original


numeric_dW = numerical_gradient(output_with_weights, layer64.params["W"].copy())
print(f"Dense dx, relative error: {rel_error(dx64, numeric_dx):.2e}")
print(f"Dense dW, relative error: {rel_error(layer64.grads['W'], numeric_dW):.2e}")

# %% [markdown]
# ## 5. Now the finished version: the course's baseline overfits
#
# From here on we use `coursekit`: the same loss, tested, plus `Sequential`, `SGD` and
# `fit`. The baseline of notebooks 00–04 is `coursekit.models.moons_mlp`, an MLP
# $2 \to 32 \to 32 \to 1$ with ReLU: 1,185 parameters for 100 training points. It is
# trained by one recipe, `train_moons_mlp`: plain mini-batch SGD, learning rate `MOONS_LR`,
# batches of $m$ = `MOONS_BATCH_SIZE` = 50 (2 full batches per epoch), `MOONS_EPOCHS`
# epochs, binary cross-entropy from logits, the validation loss logged after every epoch.
# Notebooks 01, 02 and 04 change one thing at a time in this recipe.
#
# **Draws and seeds.** A run depends on its data and on its luck: the random initial
# weights and batch order. `seed_streams(seed)` gives a training seed three independent
# generators: initial weights (`init`), batch order (`order`) and dropout masks (`noise`),
# so that two configurations run from one seed start from the same weights and see the
# same batches. We train on each of the five data draws from two seeds of its own: 10 runs
# (`run_grid` runs them, with a progress bar).
#
# Each run also carries an `EarlyStoppingSnapshot`: it watches the validation loss and keeps
# a copy of the weights of the epoch where it was lowest, *without* stopping the run. So
# every run gives two networks: the one at the end of training and the one at its best
# epoch. (Stopping there is notebook 04's subject.)

# %%
from coursekit.experiments import EarlyStoppingSnapshot, compare_paired, run_grid, seed_streams, summarize
from coursekit.losses import binary_cross_entropy_with_logits
from coursekit.models import MOONS_BATCH_SIZE, MOONS_EPOCHS, MOONS_LR, moons_mlp, train_moons_mlp
from coursekit.training import evaluate

model = moons_mlp(rng=np.random.default_rng(0))
print(model)
print("parameters:", sum(p.value.size for p in model.parameters()))
print(f"recipe: SGD(lr={MOONS_LR}), batch size {MOONS_BATCH_SIZE}, {MOONS_EPOCHS} epochs")

# %%
SURE = 0.99  # "sure": a predicted probability above 0.99 or below 0.01 (the truth is never above 0.9)
loaded = {}  # draw -> (its splits, the Bayes rule's (loss, accuracy) on each split)
models, best_models, histories = {}, {}, {}


def load(draw):
    if draw not in loaded:
        splits = datasets.load_noisy_moons(draw=draw, n_train=MOONS_N_TRAIN)
        loaded[draw] = splits, {split: datasets.noisy_moons_bayes_scores(getattr(splits, f"X_{split}"),
                                                                          getattr(splits, f"y_{split}"))
                                for split in ("train", "val", "test")}
    return loaded[draw]


def share_sure(model, X):
    """Share of the points of X (N, 2) on which the model's predicted probability is beyond SURE either way."""
    p = 1 / (1 + np.exp(-model.predict(X).astype(np.float64).ravel()))
    return float(np.mean(np.maximum(p, 1 - p) > SURE))


def baseline(draw, streams):
    """Train the baseline on one draw from one seed: its scores at the end and at its best epoch."""
    splits, bayes_scores = load(draw)
    snapshot = EarlyStoppingSnapshot(patience=MOONS_EPOCHS)  # never stops: remembers the best epoch's weights
    model, history = train_moons_mlp(splits, streams, callbacks=[snapshot])
    best = moons_mlp(rng=np.random.default_rng(0))  # the same architecture, then the best epoch's weights
    best.load_state_dict(snapshot.weights)
    models[draw, streams.seed], best_models[draw, streams.seed], histories[draw, streams.seed] = model, best, history
    row = {"best_epoch": snapshot.best_epoch, "best_val_loss": min(history["val_loss"]),
           "sure": share_sure(model, splits.X_val), "best_sure": share_sure(best, splits.X_val)}
    for split in ("train", "val", "test"):
        X, y = getattr(splits, f"X_{split}"), getattr(splits, f"y_{split}")
        row[f"{split}_loss"], row[f"{split}_acc"] = evaluate(model, binary_cross_entropy_with_logits, X, y)
        row[f"bayes_{split}_loss"], row[f"bayes_{split}_acc"] = bayes_scores[split]
    row["best_test_loss"], row["best_test_acc"] = evaluate(best, binary_cross_entropy_with_logits,
                                                           splits.X_test, splits.y_test)
    return row


results = run_grid(baseline, CELLS, desc="baseline")
print("draw  seed       | train loss (Bayes) acc (Bayes) | val loss, lowest (epoch) | val acc (Bayes) | sure")
for r in results:
    print(f"{DRAWS.index(r['draw']) + 1:4d}  {r['seed']:10.0f} | {r['train_loss']:10.3f} ({r['bayes_train_loss']:.3f})"
          f" {r['train_acc']:5.1%} ({r['bayes_train_acc']:5.1%}) | {r['val_loss']:8.3f}, {r['best_val_loss']:.3f}"
          f" ({r['best_epoch']:3.0f})  | {r['val_acc']:5.1%} ({r['bayes_val_acc']:5.1%}) | {r['sure']:5.1%}")
for key in ("train_acc", "bayes_train_acc", "val_acc", "bayes_val_acc"):
    mean, sd = summarize([r[key] for r in results])
    print(f"{key:16s} {mean:.1%} ± {sd:.1%} (mean ± sd over {len(results)} runs, {len(DRAWS)} data draws)")

# %% [markdown]
# This is **the baseline** of notebooks 00–04. Read the table against the yardsticks of
# section 2, always on the same points:
#
# * **Training points**: the network's training loss is below the Bayes rule's on the same
#   points, and its accuracy a few points above it. No rule that generalizes can do that
#   (except by luck): the network has bent its boundary around some of the flipped labels.
#   But it is far from memorizing: typically about one training point in nine, on harder
#   draws more, is still wrong.
# * **Validation points**: its accuracy is below the Bayes rule's on the same points, and its
#   final validation loss is far above the lowest it reached, early in training.
# * **Sure**: the share of validation points on which it is more than 99% sure. The truth is
#   never more than 90% sure anywhere (section 2).
#
# **Question: when did the model stop learning and start overfitting?** The training
# loss keeps falling, towards and often below the lowest loss any model could have on
# fresh data. The validation loss reaches its minimum early and then climbs. The run shown is a
# typical one: the median of the ten in how far its validation loss climbed (the table
# above has them all).

# %%
climb_order = np.argsort([r["val_loss"] / r["best_val_loss"] for r in results])
shown_row = results[climb_order[len(results) // 2]]
shown_cell = (shown_row["draw"], shown_row["seed"])
shown, _ = load(shown_row["draw"])  # that run's data draw
where = f"draw {DRAWS.index(shown_row['draw']) + 1}, seed {shown_row['seed']:.0f}"
print("the run shown:", where)
fig, axes = plt.subplots(1, 2, figsize=(11, 4))
plots.plot_history(histories[shown_cell], metric="loss", ax=axes[0], title=f"loss ({where})")
axes[0].axhline(shown_row["bayes_val_loss"], color="k", linestyle=":", linewidth=1,
                label="Bayes rule's loss on the validation split")
axes[0].legend(fontsize=8)
plots.plot_history(histories[shown_cell], metric="accuracy", ax=axes[1], title=f"accuracy ({where})",
                   mark_best=False)  # the course chooses by validation loss
axes[1].axhline(shown_row["bayes_val_acc"], color="k", linestyle=":", linewidth=1,
                label="Bayes rule's accuracy on the validation split")
axes[1].legend(fontsize=8)
plt.show()

# %% [markdown]
# **Question: what did it fit?** The boundary bends towards single (often mislabelled)
# training points; the dashed line is the Bayes-optimal boundary of section 2. On
# validation points those bends are mostly wrong.

# %%
model = models[shown_cell]
fig, axes = plt.subplots(1, 2, figsize=(11, 4.5), sharex=True, sharey=True)
plots.plot_decision_boundary(model, shown.X_train, shown.y_train, ax=axes[0], resolution=100,
                             title=f"training points (accuracy {shown_row['train_acc']:.0%})")
plots.plot_decision_boundary(model, shown.X_val, shown.y_val, ax=axes[1], resolution=100,
                             title=f"validation points (accuracy {shown_row['val_acc']:.0%})")
for ax in axes:
    plots.plot_reference_boundary(BayesRule(), ax=ax)
plt.show()

# %% [markdown]
# **Question: how sure is it?** The predicted probability of class 1 on the validation
# points (the same run), for the network at the end of training, the same network at its
# best epoch, and the truth $P(\text{label} = 1 \mid x)$, which never leaves $[0.1, 0.9]$.

# %%
def probabilities(model, X):
    return 1 / (1 + np.exp(-model.predict(X).astype(np.float64).ravel()))


fig, ax = plt.subplots(figsize=(7, 3.8))
bins = np.linspace(0, 1, 41)
ax.hist(probabilities(models[shown_cell], shown.X_val), bins=bins, histtype="step", linewidth=1.8,
        label=f"end of training ({shown_row['sure']:.0%} of points beyond 99%)")
ax.hist(probabilities(best_models[shown_cell], shown.X_val), bins=bins, histtype="step", linewidth=1.8,
        label=f"best epoch ({shown_row['best_epoch']:.0f}; {shown_row['best_sure']:.0%} beyond 99%)")
ax.hist(datasets.noisy_moons_posterior(shown.X_val), bins=bins, histtype="stepfilled", alpha=0.25, color="k",
        label="the truth P(label = 1 | x)")
ax.set_xlabel("predicted probability of class 1")
ax.set_ylabel("validation points")
ax.set_title("overconfidence: the network piles up at 0 and 1")
ax.legend(fontsize=8)
plt.show()

# %% [markdown]
# The truth is a broad spread between 0.1 and 0.9; the trained network sends many points
# to the very edges. Being **confidently wrong** is what the cross-entropy punishes hardest:
# a wrong answer given with 99.9% certainty costs $-\log(0.001) \approx 6.9$ nats, seventeen
# times the Bayes rule's average loss. That is why the validation *loss* climbs so much
# more than the validation *accuracy* falls.
#
# Large confidence means large logits: the float32 naive formula of section 3 breaks beyond
# $|z| \approx 16.6$. How large did they get?

# %%
max_logits = [float(np.abs(m.predict(load(draw)[0].X_train)).max()) for (draw, _), m in models.items()]
print("largest |logit| on the training points, per run:", [round(z, 1) for z in max_logits])
print(f"runs with a logit beyond float32's 16.6 (where the naive loss gives inf or nan): "
      f"{sum(z > 16.6 for z in max_logits)} of {len(max_logits)}")
logits = models[shown_cell].predict(shown.X_train).ravel()  # (100,) float32
stable, _ = binary_cross_entropy_with_logits(logits, shown.y_train)
stable_swapped, _ = binary_cross_entropy_with_logits(-logits, 1 - shown.y_train)  # classes renamed
print(f"stable loss {stable:.4f}; with the two classes' names swapped {stable_swapped:.4f}")

# %% [markdown]
# Whether the naive formula survives depends on luck: which class the network happens to be
# surest about and how far it went. The stable form gives the same number whichever class is
# called 1.
#
# ## 6. What does the overfitting cost on new data, draw by draw?
#
# Each run gave two networks: at the end of training, and at its best epoch by validation
# loss. The **test** points, used by neither, say what the extra epochs cost. Below, the
# difference *end − best epoch* on every run: one column per data draw, a dot per seed.

# %%
end = [{"draw": r["draw"], "seed": r["seed"], "test_loss": r["test_loss"], "test_acc": r["test_acc"]}
       for r in results]
at_best = [{"draw": r["draw"], "seed": r["seed"], "test_loss": r["best_test_loss"], "test_acc": r["best_test_acc"]}
           for r in results]
cost = {metric: compare_paired(end, at_best, metric, names=("end", "best epoch")) for metric in ("test_loss", "test_acc")}
for comparison in cost.values():
    print(comparison)
fig, axes = plt.subplots(1, 2, figsize=(11, 3.6))
plots.plot_effect_by_draw(cost["test_loss"], ax=axes[0], title="test loss")
plots.plot_effect_by_draw(cost["test_acc"], ax=axes[1], title="test accuracy", percent=True)
plt.show()

# %% [markdown]
# The pattern to take away. In **loss**, the end of training is worse than the best epoch on
# nearly every run and every draw: overconfidence is expensive. In **accuracy** the picture
# is mixed: on some draws the extra epochs cost a few points, on others they cost nothing or
# even help a little (the best epoch by validation loss is often very early, with a boundary
# that is still rough). So on this kind of data overfitting shows first, and most, in the
# loss and the confidence; judge a cure by both numbers, on several draws, and do not be
# surprised when its accuracy gain is small.

# %% [markdown]
# ## 7. The lesson's claims, checked
#
# If a change to the course breaks the story told above, this cell fails (and so does the
# test suite). The claims rest on the 10 runs (5 data draws × 2 seeds), stated as counts or
# averages so that bad luck alone breaks them less than about once in 100 held-out values:
# they were designed on other values and measured on fresh ones (`evidence/README.md`).

# %% tags=["claims"]
def column(key):
    return np.array([r[key] for r in results])


below_bayes = column("train_loss") < column("bayes_train_loss")
# training loss (the epoch's running mean, as logged) at the best epoch minus at the last epoch
train_fell = np.array([histories[cell]["loss"][int(r["best_epoch"])] - histories[cell]["loss"][-1]
                       for cell, r in zip(CELLS, results)])
climb = column("val_loss") / column("best_val_loss")
print(held)
print(f"Bayes ceiling {limits.accuracy:.4f} (loss {limits.loss:.4f})")
print(f"training loss below the Bayes rule's on the same points: {below_bayes.sum()} of {len(results)} runs; "
      f"mean difference {np.mean(column('train_loss') - column('bayes_train_loss')):+.3f}")
print(f"training accuracy {column('train_acc').mean():.3f} (highest {column('train_acc').max():.3f}) "
      f"vs the Bayes rule's {column('bayes_train_acc').mean():.3f} on the same points")
print(f"training loss fell after the best epoch on {np.sum(train_fell > 0)} runs, by {train_fell.mean():.3f} on average")
print(f"final / lowest validation loss: mean {climb.mean():.2f}, above 1.1 on {np.sum(climb > 1.1)} runs; "
      f"best epochs {sorted(int(e) for e in column('best_epoch'))}")
print(f"validation accuracy minus the Bayes rule's: {np.mean(column('val_acc') - column('bayes_val_acc')):+.3f}")
print(f"share of validation points beyond {SURE:.0%}: end {column('sure').mean():.3f} "
      f"(lowest {column('sure').min():.3f}), best epoch {column('best_sure').mean():.3f}")
print(cost["test_loss"])
print(f"stable loss {stable:.4f} = {stable_swapped:.4f} with the classes swapped")
assert 0.85 < limits.accuracy < 0.86 and 0.38 < limits.loss < 0.40, "the Bayes limits of noise 0.25 and 10% flips"
assert below_bayes.sum() >= 8 and np.mean(column("train_loss") - column("bayes_train_loss")) < -0.05, \
    "the network fits its training points better than the truth does"
assert column("train_acc").max() < 0.99 and column("train_acc").mean() < 0.95, "...yet it does not memorize them"
assert column("train_acc").mean() > column("bayes_train_acc").mean() - 0.01, "...while matching the Bayes rule there"
assert climb.mean() > 1.1 and np.sum(climb > 1.1) >= 6, "the validation loss climbs well above its minimum"
assert np.sum(column("best_epoch") < MOONS_EPOCHS // 2) >= 6, "which it reached in the first half of training"
assert np.sum(train_fell > 0) >= 7 and train_fell.mean() > 0.02, "while the training loss kept falling"
assert np.mean(column("val_acc") - column("bayes_val_acc")) < -0.01, "below the Bayes rule on validation points"
assert column("sure").mean() > 0.05, "overconfident: validation points beyond 99% (the truth: none beyond 90%)"
assert column("sure").mean() > column("best_sure").mean() + 0.05, "far more so than at its best epoch"
assert cost["test_loss"].losses >= 8, "the extra epochs cost test loss"
assert abs(stable - stable_swapped) < 1e-6, "the stable loss does not care which class is called 1"
print("All claims hold.")

# %% [markdown]
# ## What to remember
#
# * When you know how the data were made, compute the **Bayes ceiling**: here 85.5%
#   accuracy and 0.391 cross-entropy. It tells you what "good" means (and that 100% is
#   neither possible nor desirable on noisy labels). On a finite split the Bayes rule's own
#   score varies by a few points: compare a model with it **on the same points**.
# * A network with many more parameters than examples **overfits**: it fits its training
#   points better than the truth (part of the label noise), its validation loss climbs after
#   an early minimum, and it grows **overconfident**. It need not memorize: this one stays
#   near 89% training accuracy, a few points above the Bayes rule.
# * Overfitting shows first in the **loss** and the confidence; the accuracy cost is small
#   and varies from one data draw to the next.
# * Judge a technique over **several data draws and seeds**, paired (same data, same initial
#   weights, same batches), with claims designed on some seeds and checked on others.
# * Compute cross-entropy **from logits**: $\max(z,0) - zy + \log(1+e^{-|z|})$, gradient
#   $(\sigma(z)-y)/N$. Never `log(sigmoid(z))`.
# * Verify every backward pass against **central differences in float64**; relative
#   error below $10^{-7}$ means right.
#
# | here | PyTorch | Keras |
# |---|---|---|
# | `binary_cross_entropy_with_logits(z, y)` | `nn.BCEWithLogitsLoss()(z, y)` | `losses.BinaryCrossentropy(from_logits=True)` |
# | `softmax_cross_entropy(z, labels)` | `nn.CrossEntropyLoss()(z, labels)` | `losses.SparseCategoricalCrossentropy(from_logits=True)` |
# | `numerical_gradient`, `check_layer_gradients` | `torch.autograd.gradcheck` (float64 inputs) | — |
# | `Dense(in, out)` ($y = xW + b$, `W` is `(in, out)`) | `nn.Linear(in, out)` (`weight` is `(out, in)`, $y = xW^\top + b$) | `layers.Dense(out)` |
# | `seed_streams(seed)`: `init`, `order`, `noise` generators | `torch.manual_seed` + a `torch.Generator` for the `DataLoader` | `keras.utils.set_random_seed` |
# | `EarlyStoppingSnapshot` (watch, do not stop) | keep `copy.deepcopy(model.state_dict())` at the best epoch | `callbacks.ModelCheckpoint(save_best_only=True)` |
#
# Next: **01 · L2 and L1 regularization**, the first cure.

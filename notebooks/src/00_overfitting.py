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
# A network with far more parameters than training examples can **memorize** its
# training set, noise included. Its training loss keeps falling, below what any model
# that generalizes could reach, while its loss on new data goes up. Every later notebook
# is a cure for what you will see here.
#
# In this notebook you will
# 1. compute the **best accuracy any classifier can reach** on a small, noisy 2-D data set
#    (the Bayes ceiling), the yardstick for every number in notebooks 00–04;
# 2. implement the **numerically stable** binary cross-entropy from logits (and see the
#    naive formula produce `inf`/`nan`);
# 3. implement a **numerical gradient** by central differences and use it to verify a
#    backward pass — the tool every later lesson uses to prove its gradients right;
# 4. meet the course's **baseline**: one big MLP, one training recipe, run from several
#    seeds, which memorizes the data set. Notebooks 01, 02 and 04 cure this same baseline.
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
# ## 1. A small, noisy data set
#
# Two interleaving half-moons with Gaussian noise, and 10% of the labels flipped on
# purpose: no smooth boundary can get those right, so a model that does is memorizing.
# The training set is small (150 points); validation (500) is for choosing things; test
# (500) is touched once, at the very end of a study.

# %%
data = datasets.load_noisy_moons()
print(data)
print("X_train:", data.X_train.shape, data.X_train.dtype, "| y_train:", data.y_train.shape, data.y_train.dtype)
print("class balance in train:", np.bincount(data.y_train))

# %%
fig, axes = plt.subplots(1, 2, figsize=(10, 4), sharex=True, sharey=True)
plots.plot_dataset(data.X_train, data.y_train, ax=axes[0], title="training set (150 points)")
plots.plot_dataset(data.X_val, data.y_val, ax=axes[1], title="validation set (500 points)")
plt.show()

# %% [markdown]
# ## 2. How good can any classifier be?
#
# Is 75% validation accuracy good on this set? Impossible to say without knowing the best
# possible score. Here we can compute it, because we know exactly how the data were made
# (`data/make_noisy_moons.py`):
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
    print(f"the Bayes rule on our {split:5s} split ({len(y):3d} points): accuracy {accuracy:.1%}, loss {loss:.3f}")

# %% [markdown]
# In expectation the best possible accuracy is about 85.5%. On a finite split the Bayes
# rule's own score varies: with 500 points its standard deviation is
# $\sqrt{0.855 \cdot 0.145 / 500} \approx 1.6$ points, and our **validation split** happens to be
# a hard draw (about 82.4%, two standard deviations low) while the test split is typical.
# So in notebooks 00–04 compare a validation accuracy with the Bayes rule's score on the
# validation split, a test accuracy with its score on the test split, and a validation
# loss with its loss there. Nothing can beat those by more than luck.
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
# ## 5. Now the finished version: the course's baseline memorizes
#
# From here on we use `coursekit`: the same loss, tested, plus `Sequential`, `SGD` and
# `fit`. The baseline of notebooks 00–04 is `coursekit.models.moons_mlp`, an MLP
# $2 \to 128 \to 128 \to 1$ with ReLU: about 17,000 parameters for 150 training points. It
# is trained by one recipe, `train_moons_mlp`: plain mini-batch SGD, learning rate
# `MOONS_LR`, batches of $m$ = `MOONS_BATCH_SIZE` = 30 (5 full batches per epoch),
# `MOONS_EPOCHS` epochs, binary cross-entropy from logits, the validation loss logged after
# every epoch. Notebooks 01, 02 and 04 change one thing at a time in this recipe.
#
# **Seeds.** One training run depends on its random initial weights and batch order, so
# every experiment in notebooks 00–04 is run from the same five seeds, `MOONS_SEEDS`.
# `seed_streams(seed)` gives each seed three independent generators: initial weights
# (`init`), batch order (`order`) and dropout masks (`noise`), so that two configurations run
# from one seed start from the same weights and see the same batches. The course's recipe,
# grids and the thresholds in the claims were designed on seeds 0–19; `MOONS_SEEDS`
# (100–104) played no part in that, so the claims below are tested on fresh seeds.

# %%
from coursekit.experiments import run_seeds, seed_streams, summarize
from coursekit.losses import binary_cross_entropy_with_logits
from coursekit.models import MOONS_BATCH_SIZE, MOONS_EPOCHS, MOONS_LR, MOONS_SEEDS, moons_mlp, train_moons_mlp
from coursekit.training import evaluate

model = moons_mlp(rng=np.random.default_rng(0))
print(model)
print("parameters:", sum(p.value.size for p in model.parameters()))
print(f"recipe: SGD(lr={MOONS_LR}), batch size {MOONS_BATCH_SIZE}, {MOONS_EPOCHS} epochs; seeds {MOONS_SEEDS}")

# %%
models, histories = {}, {}


def baseline(streams):
    """Train the baseline from one seed; its train/val loss and accuracy at the end and its best epoch."""
    model, history = train_moons_mlp(data, streams)
    models[streams.seed], histories[streams.seed] = model, history
    train_loss, train_acc = evaluate(model, binary_cross_entropy_with_logits, data.X_train, data.y_train)
    val_loss, val_acc = evaluate(model, binary_cross_entropy_with_logits, data.X_val, data.y_val)
    curve = np.array(history["val_loss"])
    return {"train_loss": train_loss, "train_acc": train_acc, "val_loss": val_loss, "val_acc": val_acc,
            "best_epoch": int(curve.argmin()), "best_val_loss": curve.min()}


results = run_seeds(baseline, MOONS_SEEDS, desc="baseline")
print(" seed | train loss  acc   | val loss  acc   | lowest val loss (epoch)")
for r in results:
    print(f"{r['seed']:5d} | {r['train_loss']:10.3f} {r['train_acc']:5.1%} | {r['val_loss']:8.3f} {r['val_acc']:5.1%} |"
          f" {r['best_val_loss']:.3f} ({r['best_epoch']:.0f})")
for key in ("train_acc", "val_acc"):
    mean, sd = summarize([r[key] for r in results])
    print(f"{key}: {mean:.1%} ± {sd:.1%} (mean ± sd over {len(results)} seeds)")

# %% [markdown]
# This is **the baseline** of notebooks 00–04: the validation accuracy of the
# unregularized network after the full budget, mean ± sd over the five seeds. Set it
# against the yardsticks of section 2: the network scores above the Bayes rule on its
# *training* points, which no rule that generalizes can do, and well below it on the
# validation points. Its validation loss is far above the lowest possible.
#
# **Question: when did the model stop learning and start memorizing?** The training
# loss keeps falling, through the lowest loss any model could have on fresh data and
# below. The validation loss reaches its minimum early and then climbs. (One seed shown;
# the table above has all five.)

# %%
first = MOONS_SEEDS[0]
fig, axes = plt.subplots(1, 2, figsize=(11, 4))
plots.plot_history(histories[first], metric="loss", ax=axes[0], title=f"loss (seed {first})")
axes[0].axhline(bayes["val"]["loss"], color="k", linestyle=":", linewidth=1,
                label="Bayes rule's loss on the validation split")
axes[0].legend(fontsize=8)
plots.plot_history(histories[first], metric="accuracy", ax=axes[1], title=f"accuracy (seed {first})",
                   mark_best=False)  # the course chooses by validation loss
axes[1].axhline(bayes["val"]["accuracy"], color="k", linestyle=":", linewidth=1,
                label="Bayes rule's accuracy on the validation split")
axes[1].legend(fontsize=8)
plt.show()

# %% [markdown]
# **Question: what did it memorize?** The boundary twists around individual (often
# mislabelled) training points; the dashed line is the Bayes-optimal boundary of section 2.
# On validation points those islands are mostly wrong.

# %%
model = models[first]
fig, axes = plt.subplots(1, 2, figsize=(11, 4.5), sharex=True, sharey=True)
train_acc, val_acc = results[0]["train_acc"], results[0]["val_acc"]
plots.plot_decision_boundary(model, data.X_train, data.y_train, ax=axes[0],
                             title=f"training points (accuracy {train_acc:.0%})")
plots.plot_decision_boundary(model, data.X_val, data.y_val, ax=axes[1],
                             title=f"validation points (accuracy {val_acc:.0%})")
for ax in axes:
    plots.plot_reference_boundary(BayesRule(), ax=ax)
plt.show()

# %% [markdown]
# **Question: how confident did memorizing make the network?** Its logits on the training
# points, and the two formulas for the loss, in float32 as in training:

# %%
logits = model.predict(data.X_train).ravel()  # (150,) float32
with np.errstate(all="ignore"):
    naive = float(np.mean(naive_bce(logits, data.y_train)))
    # the same loss with the classes swapped: l(z, y) = l(-z, 1 - y) exactly
    naive_swapped = float(np.mean(naive_bce(-logits, 1 - data.y_train)))
stable, _ = binary_cross_entropy_with_logits(logits, data.y_train)
stable_swapped, _ = binary_cross_entropy_with_logits(-logits, 1 - data.y_train)
print(f"logits from {logits.min():.1f} to {logits.max():.1f} ({logits.dtype})")
print(f"naive loss:  {naive:.4f}, with the classes swapped: {naive_swapped}")
print(f"stable loss: {stable:.4f}, with the classes swapped: {stable_swapped:.4f}")

# %% [markdown]
# Memorized points get logits of a few tens, far beyond the $|z| \approx 5$ where a
# probability still means anything. Here the very confident ones are negative, where
# $\sigma(z) = 1/(1 + e^{-z})$ is tiny but representable, so the naive formula happens to
# survive. Swap the names of the two classes, which changes nothing mathematically, and
# the same logits, now positive, exceed float32's 16.6: the naive loss is `nan`. The stable
# form gives the same number either way.

# %% [markdown]
# ## 6. The lesson's claims, checked
#
# If a change to the course breaks the story told above, this cell fails (and so does
# the test suite). Every claim is checked on each of the five held-out seeds.

# %% tags=["claims"]
print(f"Bayes ceiling {limits.accuracy:.4f} (loss {limits.loss:.4f}); Bayes rule on the splits: " +
      ", ".join(f"{k} {v['accuracy']:.3f} (loss {v['loss']:.3f})" for k, v in bayes.items()))
for r in results:
    curve = histories[r["seed"]]
    print(f"seed {r['seed']}: train loss {r['train_loss']:.3f}, val loss {r['val_loss']:.3f} "
          f"= {r['val_loss'] / r['best_val_loss']:.2f} x its minimum (epoch {r['best_epoch']:.0f}), "
          f"val accuracy {r['val_acc']:.3f}")
val_acc_mean, _ = summarize([r["val_acc"] for r in results])
train_acc_mean, _ = summarize([r["train_acc"] for r in results])
print(f"mean over seeds: train accuracy {train_acc_mean:.3f}, val accuracy {val_acc_mean:.3f}")
print(f"seed {first}: logits from {logits.min():.1f} to {logits.max():.1f}; naive loss {naive:.4f}, "
      f"classes swapped {naive_swapped}; stable {stable:.4f}")
assert 0.85 < limits.accuracy < 0.86 and 0.38 < limits.loss < 0.40, "the Bayes limits of noise 0.25 and 10% flips"
for r in results:
    history = histories[r["seed"]]
    assert r["train_loss"] < bayes["train"]["loss"] - 0.05, "the network fits its training points better than the truth"
    assert r["best_epoch"] < MOONS_EPOCHS // 4, "validation loss bottoms out early"
    assert r["val_loss"] > 1.5 * r["best_val_loss"], "and climbs after its minimum"
    assert history["loss"][-1] < history["loss"][int(r["best_epoch"])], "while the training loss keeps falling"
assert train_acc_mean > bayes["train"]["accuracy"], "above the Bayes rule on the training points: memorizing"
assert val_acc_mean < bayes["val"]["accuracy"] - 0.04, "well below it on the validation points"
assert np.isfinite(naive) and not np.isfinite(naive_swapped), "the naive loss survives by luck: which class is sure"
assert abs(stable - stable_swapped) < 1e-6, "the stable loss does not care which class is called 1"
print("All claims hold.")

# %% [markdown]
# ## What to remember
#
# * When you know how the data were made, compute the **Bayes ceiling**: here 85.5%
#   accuracy and 0.391 cross-entropy. It tells you what "good" means (and that 100% is
#   neither possible nor desirable on noisy labels). On a finite split the Bayes rule's own
#   score varies by a point or two.
# * A model with many more parameters than examples fits its training set **better than
#   the truth** by memorizing noise; the validation curve tells you when that starts.
# * Judge a technique over **several seeds**, paired (same initial weights, same batches),
#   and on seeds that were not used to design the experiment.
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
#
# Next: **01 · L2 and L1 regularization**, the first cure.

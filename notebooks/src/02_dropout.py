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
# # 02 · Inverted dropout
#
# In notebook 00 the course's baseline MLP memorized 150 noisy points: it fits its training
# points better than the Bayes-optimal rule does, and scores well below that rule on
# validation data. L2 (notebook 01) shrank the weights. **Dropout** attacks memorization
# differently: during training it switches off a random subset of the hidden units at
# every step, so no unit can rely on a particular partner being there.
#
# In this notebook you will
# 1. see dropout as training a huge **ensemble of thinned networks** that share weights;
# 2. compare **vanilla** dropout (scale at test time) with **inverted** dropout (scale at
#    training time), and check numerically what both keep (the mean) and what neither
#    keeps (the variance);
# 3. implement the inverted-dropout **forward** (returning the mask) and **backward**;
# 4. choose `drop_prob` on validation data over five seeds, and see what dropout does to
#    the validation loss, the generalization gap and the speed of training;
# 5. use **Monte Carlo dropout** to map where the network is unsure.
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
# The same noisy two-moons set, the same baseline MLP $2 \to 128 \to 128 \to 1$ and the same
# recipe as in notebooks 00 and 01. `moons_mlp(drop_prob=...)` puts a `Dropout` layer after
# each hidden ReLU; the initial weights come from the seed's `init` stream and the masks
# from its `noise` stream, so a run with dropout starts from exactly the weights and sees
# exactly the batches of the run without: the only difference is dropout.

# %%
from coursekit.dropout import Dropout
from coursekit.experiments import compare_paired, results_table, run_seeds, seed_streams, summarize
from coursekit.losses import binary_cross_entropy_with_logits
from coursekit.models import MOONS_DROP_PROB, MOONS_EPOCHS, MOONS_SEEDS, moons_mlp, train_moons_mlp
from coursekit.training import evaluate

data = datasets.load_noisy_moons()
loss_fn = binary_cross_entropy_with_logits
print(moons_mlp(rng=np.random.default_rng(0), noise_rng=np.random.default_rng(1), drop_prob=0.5))

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
# presence**, so that every unit sends the next layer the same **expected** signal as in
# training. There are two places to put that scale.
#
# **Vanilla dropout** (the original paper): train with $h \odot r$, test with
# $\text{keep\_prob}\cdot h$. Expected training output $\mathbb{E}[h \odot r] = \text{keep\_prob}\cdot h$ = test output. ✓
#
# **Inverted dropout**: train with $h \odot r / \text{keep\_prob}$, test with $h$ unchanged.
# Expected training output $\mathbb{E}[h \odot r]/\text{keep\_prob} = h$ = test output. ✓
#
# Both match the **mean**, and only the mean. The spread differs between training and
# test in both: a kept unit is scaled up, a dropped one is 0, so in training
# $\mathbb{E}[(h \odot r/\text{keep\_prob})^2] = h^2/\text{keep\_prob}$: the variance around the
# mean $h$ is $h^2\,\text{drop\_prob}/\text{keep\_prob}$, while at test time the output is exactly $h$.
# (Vanilla dropout has the same problem: training variance
# $h^2\,\text{keep\_prob}\cdot\text{drop\_prob}$, none at test time.) A layer after dropout that
# estimates statistics, such as batch norm (notebook 05), therefore sees a wider spread in
# training than in evaluation, the "variance shift" (Li et al., 2019).
#
# Inverted dropout is what PyTorch, Keras/TensorFlow, Flax and the other frameworks do,
# because:
# * **inference is untouched** - the deployed network is just the layers, with no factor
#   to remember and nothing to do in evaluation mode (dropout is the identity);
# * `drop_prob` can change between layers or during training (or be switched off for
#   fine-tuning) without changing the prediction code.
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
# | *Neural Networks from Scratch* (nnfs) `Layer_Dropout(rate)` | `rate` | probability of **zeroing** (stored internally as `1 - rate`, the keep probability) | `rate = 0.2` |
# | coursekit `Dropout(drop_prob)` | `drop_prob` | probability of **zeroing** | `drop_prob = 0.2` |
#
# When you read "$p = 0.5$" check which one is meant (at 0.5 they coincide, which is how
# the confusion survives). This course always writes `drop_prob`.
#
# > **How the masks look in the code you will meet.** The same inverted dropout, written
# > three ways:
# >
# > | where | activations | the mask | backward |
# > |---|---|---|---|
# > | Ng's *Deep Learning Specialization* | column-major: `A = relu(W @ A_prev + b)`, `A` is (units, examples), `W` is (units out, units in) | `D = np.random.rand(*A.shape) < keep_prob`; `A = A * D / keep_prob` | `dA = dA * D / keep_prob` |
# > | nnfs | row-major: `inputs @ weights + biases`, (examples, units) | `np.random.binomial(1, keep, size=inputs.shape) / keep` with `keep = 1 - rate` | `dinputs = dvalues * binary_mask` |
# > | this course | row-major: `x @ W + b`, `x` is (N, D) | `(rng.random(x.shape) < keep_prob).astype(x.dtype) / keep_prob`, drawn from an explicit `Generator` | `dout * mask` |
# >
# > `np.random.binomial` and `np.random.rand` draw from NumPy's hidden global state; here
# > every draw comes from a `Generator` you pass in (`rng.binomial(1, keep_prob, x.shape)`
# > would do too). And mind the dtype: a binomial mask is int64, and `x * mask / keep_prob`
# > with float32 `x` is float64, so cast the mask to the input's dtype, as above.

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
# **What do both versions keep, and what not?** Below, `x` is 200,000 ones. Vanilla dropout
# (written out in the cell) zeroes entries and does not rescale; at test time it multiplies
# by `keep_prob`. Inverted dropout is your `dropout_forward`. For each `drop_prob` we
# measure the mean and the variance of the output in training and in evaluation mode.
# The standard error of a training mean here is at most
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
print("drop_prob | vanilla: mean train / test, variance train / test | inverted: mean train / test, "
      "variance train / test (theory drop/keep)")
for drop_prob in [0.1, 0.3, 0.5, 0.8]:
    v_train = vanilla_dropout(x, drop_prob, rng=rng, training=True)
    v_test = vanilla_dropout(x, drop_prob, rng=rng, training=False)
    i_train, _ = dropout_forward(x, drop_prob, rng=rng, training=True)
    i_test, _ = dropout_forward(x, drop_prob, rng=rng, training=False)
    print(f"{drop_prob:9.1f} | {v_train.mean():6.3f} / {v_test.mean():5.3f}, {v_train.var():6.3f} / {v_test.var():5.3f}"
          f" | {i_train.mean():6.3f} / {i_test.mean():5.3f}, {i_train.var():6.3f} / {i_test.var():5.3f} "
          f"({drop_prob / (1 - drop_prob):.3f})")

# %% [markdown]
# In both versions the training mean matches the evaluation output: vanilla at
# `keep_prob`, inverted at 1, the input's own value. The variances do not match in either:
# in training the outputs spread (inverted: variance $\text{drop\_prob}/\text{keep\_prob}$, as
# derived above), in evaluation they are exactly 1 (variance 0). What inverted dropout
# buys is only that evaluation is left alone.

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
# Train the baseline with dropout after each hidden ReLU for several values of
# `drop_prob`, from the five seeds of notebook 00 (same initial weights, same batches), and
# **choose `drop_prob` by the mean validation loss**, the course's one criterion. `drop_prob`
# = 0 is the baseline itself. The test set stays untouched until the very end.

# %%
DROP_PROBS = [0.2, 0.4, 0.6]
runs = {}  # (drop_prob, seed) -> (model, history)


def dropout_run(drop_prob):
    """A run_seeds function: the baseline with dropout drop_prob (none for 0), scored at the end."""
    def run(streams):
        model, history = train_moons_mlp(data, streams, drop_prob=drop_prob)
        runs[drop_prob, streams.seed] = model, history
        train_loss, train_acc = evaluate(model, loss_fn, data.X_train, data.y_train)
        val_loss, val_acc = evaluate(model, loss_fn, data.X_val, data.y_val)
        val_curve, train_curve = np.array(history["val_loss"]), np.array(history["loss"])
        return {"train_acc": train_acc, "val_acc": val_acc, "gap": train_acc - val_acc, "val_loss": val_loss,
                # how much the validation loss still rose over the last 50 epochs (means of 10 epochs)
                "late_rise": val_curve[-10:].mean() - val_curve[-60:-50].mean(),
                # epochs until the training loss fit logs first fell below 0.45
                "epochs_to_0.45": int(np.argmax(train_curve < 0.45)) if np.any(train_curve < 0.45) else len(train_curve)}
    return run


results = {p: run_seeds(dropout_run(p), MOONS_SEEDS, desc=f"drop_prob {p}") for p in [0.0] + DROP_PROBS}
print(results_table({f"drop_prob {p}": rows for p, rows in results.items()},
                    ["train_acc", "val_acc", "gap", "val_loss"], percent=["train_acc", "val_acc", "gap"]))
mean_val_loss = {p: summarize([r["val_loss"] for r in rows])[0] for p, rows in results.items()}
best = min(mean_val_loss, key=mean_val_loss.get)
print(f"chosen on the mean validation loss: drop_prob = {best} (notebook 04 uses it: MOONS_DROP_PROB = {MOONS_DROP_PROB})")

# %% [markdown]
# **Question: how does `drop_prob` trade training fit for generalization?** Means over the
# seeds. As `drop_prob` grows, training accuracy falls (memorizing gets harder) and the
# gap to validation closes; the validation loss falls. Validation accuracy moves by a few
# points, about as much as it moves between seeds.
#
# The chosen value is the largest in the grid, and a grid that ends at its best value
# should normally be extended. We did, while designing the course (on other seeds):
# `drop_prob = 0.8` lowered the mean validation loss by only about 0.01 more, while the
# training accuracy fell to the validation accuracy and the validation accuracy below the
# unregularized baseline's. A network that thinned cannot fit the moons; its predictions
# are merely cautious. So the grid stops at 0.6.

# %%
bayes_val_loss, bayes_val_acc = datasets.noisy_moons_bayes_scores(data.X_val, data.y_val)
values = [0.0] + DROP_PROBS


def mean_of(p, key):
    return summarize([r[key] for r in results[p]])[0]


fig, axes = plt.subplots(1, 2, figsize=(11, 4))
plots.plot_validation_curve(values, {"train accuracy": [mean_of(p, "train_acc") for p in values],
                                     "validation accuracy": [mean_of(p, "val_acc") for p in values]},
                            ax=axes[0], best=best, xlabel="drop_prob", ylabel="accuracy (mean over seeds)",
                            log_x=False, title=f"accuracy after {MOONS_EPOCHS} epochs")
plots.plot_validation_curve(values, {"validation loss": [mean_of(p, "val_loss") for p in values]},
                            ax=axes[1], best=best, xlabel="drop_prob", ylabel="loss (mean over seeds)",
                            log_x=False, title=f"validation loss after {MOONS_EPOCHS} epochs")
for ax, level in zip(axes, (bayes_val_acc, bayes_val_loss)):
    ax.axhline(level, color="k", linestyle="-.", linewidth=1, label=f"Bayes rule on the validation split ({level:.3g})")
    ax.legend(fontsize=7)
plt.show()

# %% [markdown]
# Seed by seed, the chosen `drop_prob` against the baseline (same initial weights, same batches):

# %%
for key in ("val_loss", "gap", "val_acc"):
    print(compare_paired(results[best], results[0.0], key, names=(f"dropout {best}", "none"),
                         lower_is_better=key != "val_acc"))

# %% [markdown]
# **Question: what does dropout change during training?** Left, without dropout: the
# validation loss bottoms out early and climbs steeply as the network memorizes. Right,
# with the chosen `drop_prob`: it climbs far more slowly, **but it still climbs**. Dropout
# slows memorizing down; it does not tell you when to stop. Stopping at the lowest
# validation loss is **early stopping**, notebook 04, where the two are combined.
#
# The blue curves show a second effect: **dropout converges more slowly**. `fit` logs the
# training loss of the thinned networks it actually trains; every step trains a different
# random subnetwork on noisy gradients, so that loss falls much more slowly (Srivastava et
# al. report 2–3 times longer training). Over the five seeds:

# %%
first = MOONS_SEEDS[0]
fig, axes = plt.subplots(1, 2, figsize=(11, 4), sharey=True)
plots.plot_history(runs[0.0, first][1], metric="loss", ax=axes[0], title=f"no dropout (seed {first})")
plots.plot_history(runs[best, first][1], metric="loss", ax=axes[1], title=f"dropout, drop_prob = {best} (seed {first})")
for ax in axes:
    ax.axhline(bayes_val_loss, color="k", linestyle="-.", linewidth=1, label="Bayes rule, validation split")
    ax.legend(fontsize=8)
plt.show()
for row_none, row_best in zip(results[0.0], results[best]):
    print(f"seed {row_none['seed']}: training loss below 0.45 after {row_none['epochs_to_0.45']:.0f} epochs without "
          f"dropout, {row_best['epochs_to_0.45']:.0f} with; validation loss rose by {row_none['late_rise']:.3f} "
          f"vs {row_best['late_rise']:.3f} over the last 50 epochs")

# %% [markdown]
# **Question: what does the boundary look like?** Without dropout it twists around single
# (often mislabelled) training points; with dropout it is smoother and follows the moons.

# %%
fig, axes = plt.subplots(1, 2, figsize=(11, 4.5), sharex=True, sharey=True)
for ax, drop_prob, label in [(axes[0], 0.0, "no dropout"), (axes[1], best, f"drop_prob = {best}")]:
    model = runs[drop_prob, first][0]
    _, train_acc = evaluate(model, loss_fn, data.X_train, data.y_train)
    _, val_acc = evaluate(model, loss_fn, data.X_val, data.y_val)
    plots.plot_decision_boundary(model, data.X_train, data.y_train, ax=ax,
                                 title=f"{label}: train {train_acc:.0%}, val {val_acc:.0%}")
plt.show()

# %% [markdown]
# The chosen `drop_prob`, scored once on the test set (mean ± sd over the seeds), next to
# the baseline and the Bayes-optimal rule on the same points:

# %%
bayes_test_loss, bayes_test_acc = datasets.noisy_moons_bayes_scores(data.X_test, data.y_test)
print(f"Bayes rule: test loss {bayes_test_loss:.3f}, test accuracy {bayes_test_acc:.1%}")
for drop_prob in (0.0, best):
    test = [evaluate(runs[drop_prob, seed][0], loss_fn, data.X_test, data.y_test) for seed in MOONS_SEEDS]
    (loss_mean, loss_sd), (acc_mean, acc_sd) = summarize([t[0] for t in test]), summarize([t[1] for t in test])
    print(f"drop_prob = {drop_prob}: test loss {loss_mean:.3f} ± {loss_sd:.3f}, test accuracy {acc_mean:.1%} ± {acc_sd:.1%}")

# %% [markdown]
# Dropout's gain is in the **loss**: the network is far less sure of its mistakes. Its
# accuracy moves little, here or on validation; notebook 04 puts it next to L2 and early
# stopping on the same seeds.
#
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
# Over a coarse grid of the plane we also compare the spread where the averaged
# prediction is undecided ($|\bar p - 0.5| < 0.1$) with where it is confident
# ($|\bar p - 0.5| > 0.4$). $T = 50$ passes are plenty here.

# %%
MC_PASSES = 50
low, high = data.X_train.min(axis=0) - 0.5, data.X_train.max(axis=0) + 0.5
grid = np.mgrid[low[0]:high[0]:30j, low[1]:high[1]:30j].reshape(2, -1).T.astype(np.float32)  # (900, 2)
mc = {}
for seed in MOONS_SEEDS:
    model = runs[best, seed][0]
    mc_mean, mc_std = plots.mc_dropout_predict(model, data.X_val, n_passes=MC_PASSES)  # (500,), (500,)
    deterministic = model.predict(data.X_val).ravel() > 0
    grid_mean, grid_std = plots.mc_dropout_predict(model, grid, n_passes=MC_PASSES)
    undecided, confident = np.abs(grid_mean - 0.5) < 0.1, np.abs(grid_mean - 0.5) > 0.4
    mc[seed] = {"eval_acc": np.mean(deterministic == data.y_val), "mc_acc": np.mean((mc_mean > 0.5) == data.y_val),
                "agree": np.mean((mc_mean > 0.5) == deterministic),
                "std_undecided": grid_std[undecided].mean(), "std_confident": grid_std[confident].mean()}
    print(f"seed {seed}: validation accuracy {mc[seed]['eval_acc']:.1%} in evaluation mode, {mc[seed]['mc_acc']:.1%} "
          f"averaging {MC_PASSES} passes (they agree on {mc[seed]['agree']:.1%} of the points); mean std where undecided "
          f"{mc[seed]['std_undecided']:.3f}, where confident {mc[seed]['std_confident']:.3f}")

# %% [markdown]
# **Question: where do the thinned networks disagree?** Dark means a large spread of the
# predicted probability over the passes; the black line is the MC-averaged boundary.
# (First seed.)

# %%
fig, ax = plt.subplots(figsize=(6.5, 4.5))
plots.plot_mc_dropout_uncertainty(runs[best, first][0], data.X_train, data.y_train, n_passes=MC_PASSES, ax=ax,
                                  resolution=60,
                                  title=f"MC dropout (drop_prob = {best}): std of p over {MC_PASSES} passes")
plt.show()

# %% [markdown]
# The passes agree deep inside each class and disagree along the boundary, most of all
# where the boundary runs out of the data and the network is extrapolating: there no
# training point pins the thinned networks down. The MC average and the one-pass
# weight-scaled network mostly agree; where they do not, averaging the passes is on
# average the better of the two here.

# %% [markdown]
# ## 8. The lesson's claims, checked
#
# Checked on each of the five seeds (designed on seeds 0–19, asserted on `MOONS_SEEDS`).

# %% tags=["claims"]
print("mean validation loss per drop_prob:", {p: round(v, 4) for p, v in mean_val_loss.items()})
for row_none, row_best in zip(results[0.0], results[best]):
    print(f"seed {row_best['seed']}: gap {row_best['gap']:.3f} vs {row_none['gap']:.3f}; val loss "
          f"{row_best['val_loss']:.3f} vs {row_none['val_loss']:.3f}; late rise {row_best['late_rise']:.3f} vs "
          f"{row_none['late_rise']:.3f}; epochs to 0.45: {row_best['epochs_to_0.45']:.0f} vs {row_none['epochs_to_0.45']:.0f}")
assert best == MOONS_DROP_PROB, "the drop_prob notebook 04 uses (coursekit.models.MOONS_DROP_PROB) is chosen here"
for row_none, row_best in zip(results[0.0], results[best]):
    assert row_best["gap"] < row_none["gap"] - 0.05, "dropout shrinks the generalization gap clearly, on every seed"
    assert row_best["val_loss"] < row_none["val_loss"], "and lowers the validation loss"
    assert 0 < row_best["late_rise"] < row_none["late_rise"], "the validation loss still rises, but more slowly"
    assert row_best["epochs_to_0.45"] >= 2 * row_none["epochs_to_0.45"], "dropout converges more slowly"

# The Dropout layer: the training mean within 5 standard errors of the input mean, the variance
# x^2 drop/keep larger than in evaluation (Var(x B / keep) = x^2 drop/keep for B ~ Bernoulli(keep)).
x = np.random.default_rng(5).standard_normal(400_000) + 1.0
for drop_prob in [0.2, 0.5, 0.9]:
    out = Dropout(drop_prob, rng=np.random.default_rng(6)).forward(x, training=True)
    bound = 5 * np.sqrt(np.sum(x ** 2) * drop_prob / (1 - drop_prob)) / x.size
    extra_variance = np.mean((out - x) ** 2) / np.mean(x ** 2)
    print(f"drop_prob {drop_prob}: mean(out) - mean(x) = {out.mean() - x.mean():+.4f} (bound {bound:.4f}), "
          f"fraction zeroed {np.mean(out == 0):.4f}, E[(out - x)^2] / E[x^2] = {extra_variance:.3f} "
          f"(drop/keep = {drop_prob / (1 - drop_prob):.3f})")
    assert abs(out.mean() - x.mean()) < bound, "inverted dropout preserves the expected activation"
    assert abs(np.mean(out == 0) - drop_prob) < 5 * np.sqrt(drop_prob * (1 - drop_prob) / x.size)
    assert abs(extra_variance / (drop_prob / (1 - drop_prob)) - 1) < 0.05, "...but not the variance"
    assert np.array_equal(Dropout(drop_prob, rng=np.random.default_rng(6)).forward(x, training=False), x), \
        "evaluation mode must be exactly the identity"

for seed, m in mc.items():
    print(f"seed {seed}: MC std undecided {m['std_undecided']:.3f} vs confident {m['std_confident']:.3f}; "
          f"agreement {m['agree']:.3f}; accuracy MC {m['mc_acc']:.3f} vs evaluation mode {m['eval_acc']:.3f}")
    assert m["std_undecided"] > 2 * m["std_confident"], "the passes disagree along the boundary"
    assert m["agree"] > 0.9, "the MC average and the weight-scaled network mostly agree"
assert np.mean([m["mc_acc"] for m in mc.values()]) >= np.mean([m["eval_acc"] for m in mc.values()]), \
    "averaging the passes is at least as accurate as weight scaling, on average"
print("All claims hold.")

# %% [markdown]
# ## What to remember
#
# * Dropout trains an **ensemble of $2^D$ thinned networks** with shared weights, one
#   random member per step; evaluation approximates the ensemble average in one pass.
# * **Inverted dropout**: `mask = (u < keep_prob) / keep_prob`, `out = x * mask` in
#   training, `out = x` in evaluation. The expected activation (the **mean**) is unchanged,
#   so inference needs no special case; the variance is not (it is larger in training, in
#   vanilla dropout too). Vanilla dropout instead multiplies by `keep_prob` at test time.
# * Backward is `dx = dout * mask` with **the forward's own mask**; a fresh mask every
#   training forward pass, the identity in evaluation mode.
# * `drop_prob` is chosen on validation loss; more dropout trades training fit for
#   generalization. Dropout converges more slowly, and the validation loss still rises
#   late in training: combine it with early stopping (notebook 04).
# * Keeping dropout on at prediction and averaging passes (**MC dropout**) gives a cheap
#   uncertainty estimate: the passes disagree along the decision boundary, above all
#   where it leaves the data.
#
# | here | PyTorch | Keras |
# |---|---|---|
# | `Dropout(drop_prob, rng=rng)` | `nn.Dropout(p=drop_prob)` | `layers.Dropout(rate=drop_prob)` |
# | `keep_prob = 1 - drop_prob` (classic papers, Ng's `keep_prob`, TF1) | `1 - p` | `1 - rate` |
# | `model.forward(x, training=True/False)` | `model.train()` / `model.eval()` | `model(x, training=True/False)` |
# | `plots.mc_dropout_predict(model, X, n_passes=T)` | `model.train()` then average `T` forward passes | average `T` calls of `model(x, training=True)` |
#
# Next: **03 · Spatial dropout**, where dropping single pixels of a feature map barely
# regularizes at all.

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
# # 01 · L2 and L1 regularization
#
# In notebook 00 the course's baseline MLP memorized 150 noisy points: it fits its training
# points better than the Bayes-optimal rule does (which no model that generalizes can),
# scores well below that rule on the validation points, and draws a decision boundary
# twisting around single points. The first cure is to make **large weights expensive**.
#
# In this notebook you will
# 1. see why large weights are what makes a network's function wiggly;
# 2. derive the L2 penalty $\frac{\lambda}{2m}\sum_l\lVert W_l\rVert^2$ and its gradient, map it to
#    the conventions of the courses and libraries you will meet, and implement the penalty,
#    the gradient and a `Dense` backward step with the L2 term;
# 3. see that for SGD an L2 term *is* weight decay, and that for Adam it is not (AdamW);
# 4. choose $\lambda$ on validation data over five seeds, watch the boundary smooth out,
#    see why most weights end near zero, and compare L2 with L1, which pushes weights to
#    zero instead of merely shrinking them;
# 5. check that scikit-learn's `alpha` is our $\lambda$.

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
from coursekit.experiments import compare_paired, results_table, run_seeds, seed_streams, summarize
from coursekit.losses import binary_cross_entropy_with_logits
from coursekit.models import (MOONS_BATCH_SIZE, MOONS_EPOCHS, MOONS_LAMBD, MOONS_LR, MOONS_SEEDS, moons_mlp,
                              train_moons_mlp)
from coursekit.optim import SGD
from coursekit.training import evaluate

# %% [markdown]
# ## 1. Large weights, wiggly functions
#
# The data, the model and the recipe of notebook 00: 150 noisy training points, the
# baseline MLP $2 \to 128 \to 128 \to 1$ (`moons_mlp`), trained by `train_moons_mlp` with
# plain mini-batch SGD (batches of $m$ = 30, so every batch of the 150 points is full).
# Every run of a seed starts from the **same initial weights** and sees the **same
# batches** (`seed_streams`), so differences between runs of one seed come from the
# regularizer alone. First, the unregularized baseline on the first of the five seeds.

# %%
data = datasets.load_noisy_moons()
print("train", data.X_train.shape, "| val", data.X_val.shape, "| test", data.X_test.shape)
loss_fn = binary_cross_entropy_with_logits
SEED = MOONS_SEEDS[0]


def scores(model):
    """(loss, accuracy) of a model on the training and the validation split."""
    return evaluate(model, loss_fn, data.X_train, data.y_train), evaluate(model, loss_fn, data.X_val, data.y_val)


plain, _ = train_moons_mlp(data, seed_streams(SEED), validation=False)
plain_train, plain_val = scores(plain)
print(f"no regularization (seed {SEED}): train accuracy {plain_train[1]:.1%}, validation accuracy {plain_val[1]:.1%}")

# %% [markdown]
# With ReLU hidden units the logit $z(x)$ is piecewise linear in the input $x$. Inside one
# linear piece its slope is a product of (masked) weight matrices, so
#
# $$\lVert \nabla_x z \rVert \;\le\; \lVert W_1\rVert\,\lVert W_2\rVert\,\lVert W_3\rVert ,$$
#
# where $\lVert W\rVert$ is the spectral norm, the most $W$ can stretch a vector.
#
# To flip the predicted class between two training points a small distance $d$ apart, the
# logit must change by a few units over $d$: a slope of order $1/d$. Small weights cap the
# slope, so they force the function to be smooth; memorizing a mislabelled point
# surrounded by the other class **needs** large weights.
#
# **Question: how steep is the unregularized network?** We measure $\lVert\nabla_x z\rVert$ at
# the validation points by backpropagating $\partial z/\partial z = 1$ to the input (the
# same backward pass as training, one level further).

# %%
def input_slopes(model, X):
    """||dz/dx|| at every row of X (N, 2) -> (N,): backpropagate ones from the logits to the input."""
    logits = model.forward(X, training=True)
    return np.linalg.norm(model.backward(np.ones_like(logits)), axis=1)


def spectral_norm_product(model):
    return float(np.prod([np.linalg.norm(W.astype(np.float64), 2) for W in model.weights()]))


plain_slopes = input_slopes(plain, data.X_val)
print(f"slope of the logit at validation points: median {np.median(plain_slopes):.1f}, "
      f"90th percentile {np.percentile(plain_slopes, 90):.1f}")
print(f"bound ||W1|| ||W2|| ||W3|| = {spectral_norm_product(plain):.0f}")
print("largest |weight| per layer:", [round(float(np.abs(W).max()), 2) for W in plain.weights()])

# %%
fig, ax = plt.subplots(figsize=(5.5, 4.5))
plots.plot_decision_boundary(plain, data.X_train, data.y_train, ax=ax,
                             title=f"no regularization: train {plain_train[1]:.0%}, val {plain_val[1]:.0%}")
plt.show()

# %% [markdown]
# ## 2. The L2 penalty and its gradient
#
# Add to the data loss $L_\text{data}$ (the mean over a batch of $m$ examples) a term that
# grows with the squared size of every **weight matrix**:
#
# $$L = L_\text{data} + \frac{\lambda}{2m}\sum_{l}\lVert W_l\rVert_F^2,\qquad
#   \lVert W\rVert_F^2 = \sum_{i,j} W_{ij}^2 .$$
#
# * $\lambda \ge 0$ sets the strength. Dividing by $m$ puts the penalty on the same
#   per-example scale as the data loss; the $\tfrac12$ is there so the gradient has no factor 2.
# * **Biases are not penalized.** A bias shifts a unit's output; it does not make the function
#   steeper, so shrinking it buys no smoothness and only costs fit.
#
# The gradient of the penalty with respect to one weight matrix $W$ (shape $(D_{in}, D_{out})$)
# has the same shape:
#
# $$\frac{\partial}{\partial W}\,\frac{\lambda}{2m}\lVert W\rVert^2 = \frac{\lambda}{m}\,W .$$
#
# In a `Dense` layer $y = xW + b$ (with $x:(N, D_{in})$, $b:(D_{out},)$ and upstream gradient
# $\text{dout} = \partial L_\text{data}/\partial y$, shape $(N, D_{out})$) only $dW$ changes:
#
# $$dW = x^\top \text{dout} + \frac{\lambda}{m}W,\qquad db = \sum_n \text{dout}_n,\qquad
#   dx = \text{dout}\,W^\top .$$
#
# > **Conventions you will meet.** The same idea is written in several ways; the numbers
# > only carry over once you map them. Here $m$ is the **batch size** (30) and $n$ = 150 the
# > training-set size.
# >
# > | where | the penalty added to the (mean) loss | its gradient | the same as our $\lambda$ when |
# > |---|---|---|---|
# > | this course, scikit-learn `MLPClassifier(alpha)` | $\frac{\lambda}{2m}\sum\lVert W\rVert^2$, $m$ = batch size, weights only | $\frac{\lambda}{m}W$ | `alpha` $=\lambda$ (with `batch_size=m`) |
# > | Andrew Ng's *Deep Learning Specialization* | $\frac{\lambda}{2m}\sum\lVert W\rVert^2$, but $m$ = the **training-set size** (its code trains on the whole set at once) | `dW += lambd / m * W` | $\lambda_\text{Ng} = \lambda \cdot n/m$: the same per-example strength needs a 5× larger $\lambda_\text{Ng}$ here |
# > | *Neural Networks from Scratch* (nnfs) `Layer_Dense(weight_regularizer_l2=c, bias_regularizer_l2=c_b)` | $c\sum w^2$ on the weights **and** $c_b\sum b^2$ on the biases, no ½, no $m$ | `dweights += 2 * c * weights` (and biases likewise) | $c = \lambda/(2m)$, and $c_b = 0$ (we never penalize biases) |
# > | Keras `kernel_regularizer=regularizers.l2(c)` | $c\sum w^2$, no ½ | $2cW$ | $c = \lambda/(2m)$ |
# > | PyTorch `SGD(params, weight_decay=wd)` | (none: it changes the update) | adds `wd * p` to every gradient it is given, biases too | `wd` $= \lambda/m$, with the biases in a group with `weight_decay=0` |
# >
# > Two traps: nnfs's optimizer argument **`decay`** is *learning-rate* decay
# > ($\text{lr}_t = \text{lr}_0 / (1 + \text{decay}\cdot t)$), not weight decay; and $\lambda$ means
# > nothing without $m$: the same $\lambda$ is weaker when the loss averages over more examples.

# %% [markdown]
# ### Exercise 1 — the L2 penalty

# %% tags=["exercise"]
def l2_penalty(weights, lambd, m):
    """L2 penalty lambd / (2m) * sum over the matrices of the sum of their squared entries.

    weights: list of weight arrays (any shapes), e.g. model.weights()
    lambd:   float >= 0, the regularization strength
    m:       number of examples the data loss averages over (the batch size)
    returns: a float
    """
    # YOUR CODE HERE
    raise NotImplementedError

# %% tags=["check"]
l2_penalty = check("l2_penalty", l2_penalty)

# %% [markdown]
# ### Exercise 2 — its gradient

# %% tags=["exercise"]
def l2_grad(W, lambd, m):
    """Gradient of lambd / (2m) * sum(W**2) with respect to W.

    W: weight array of any shape (float32 or float64)
    returns: array with W's shape and dtype
    """
    # YOUR CODE HERE
    raise NotImplementedError

# %% tags=["check"]
l2_grad = check("l2_grad", l2_grad)

# %% [markdown]
# ### Exercise 3 — a `Dense` backward step with the L2 term
#
# The layer's parameters are `W` and `b`; `dout` is the gradient of the **data** loss only.
# Return all three gradients of the regularized loss.

# %% tags=["exercise"]
def dense_backward_l2(dout, x, W, b, lambd, m):
    """Backward step of y = x @ W + b when the loss includes lambd/(2m) * ||W||^2.

    dout: (N, D_out) gradient of the data loss with respect to y
    x:    (N, D_in) the layer's input;  W: (D_in, D_out)
    b:    (D_out,) UNUSED: no gradient depends on b (db is the sum of dout); it is here so the
          arguments mirror the forward pass y = x @ W + b
    lambd, m: the penalty's strength and the batch size (m = N here)
    returns: (dx, dW, db) with shapes (N, D_in), (D_in, D_out), (D_out,)
    """
    # YOUR CODE HERE
    raise NotImplementedError

# %% tags=["check"]
dense_backward_l2 = check("dense_backward_l2", dense_backward_l2)

# %% [markdown]
# Now use **your** three functions together on the trained network's last layer: the
# penalty of all its weights, and a numerical check that `dense_backward_l2` returns the
# gradient of *data term + penalty* (in float64). As in notebook 00, the function we
# differentiate computes its value from the array it is given, here the weight matrix `W`.

# %%
from coursekit.gradcheck import numerical_gradient, rel_error

print(f"penalty of the unregularized network's weights at lambda = 0.3, m = {MOONS_BATCH_SIZE}: "
      f"{l2_penalty(plain.weights(), 0.3, MOONS_BATCH_SIZE):.3f}")

rng = np.random.default_rng(1)
W64 = plain.layers[2].params["W"][:6, :4].astype(np.float64)
b64 = np.zeros(4)
x64, dout64 = rng.standard_normal((5, 6)), rng.standard_normal((5, 4)) / 5


def total_loss(W):
    """Data term sum((x W + b) * dout) plus the L2 penalty, as a function of the weight matrix W (6, 4)."""
    return float(np.sum((x64 @ W + b64) * dout64)) + l2_penalty([W], 0.3, 5)


dx, dW, db = dense_backward_l2(dout64, x64, W64, b64, 0.3, 5)
print("shapes:", dx.shape, dW.shape, db.shape)
print(f"dW relative error {rel_error(dW, numerical_gradient(total_loss, W64.copy())):.1e}, "
      f"l2_grad matches the penalty part: {np.allclose(l2_grad(W64, 0.3, 5), dW - x64.T @ dout64)}")

# %% [markdown]
# ## 3. L1, and why it zeroes weights
#
# The L1 penalty charges the absolute size instead:
# $\frac{\lambda}{m}\sum_l\sum_{ij}|W_{l,ij}|$. $|w|$ has no derivative at 0, so we use a
# **subgradient**: $\frac{\lambda}{m}\operatorname{sign}(W)$, with $\operatorname{sign}(0)=0$
# (PyTorch's convention).
#
# The difference shows on a single weight. Suppose the data alone would put it at $a$,
# with loss $\tfrac12(w-a)^2$. Then
#
# * with $\tfrac{c}{2}w^2$ the minimum is $w = a/(1+c)$: **every** weight shrinks by the same
#   factor, and none becomes 0;
# * with $c\,|w|$ the minimum is $w = \operatorname{sign}(a)\max(|a| - c, 0)$ (soft
#   thresholding): weights whose data pull $|a|$ is below $c$ become **exactly 0**.
#
# The L2 pull $cw$ fades as $w \to 0$; the L1 pull has size $c$ all the way down.
#
# **Question: what does each penalty do to one weight?**

# %%
a = np.linspace(-3, 3, 301)
c = 1.0
fig, ax = plt.subplots(figsize=(5.5, 4))
ax.plot(a, a, color="0.6", linestyle=":", label="no penalty: $w = a$")
ax.plot(a, a / (1 + c), label=r"L2: $w = a/(1+c)$")
ax.plot(a, np.sign(a) * np.maximum(np.abs(a) - c, 0), label=r"L1: $w = \mathrm{sign}(a)\max(|a|-c, 0)$")
ax.set_xlabel("where the data alone would put the weight, $a$")
ax.set_ylabel("regularized optimum $w$")
ax.set_title(f"one weight, penalty strength c = {c:g}")
ax.legend(fontsize=8)
plt.show()

# %% [markdown]
# With (sub)gradient descent the weights do not land *exactly* on 0: each step moves them
# by $\text{lr}\cdot\lambda/m$ towards 0, so they end up hovering within about that distance
# of it. (Solvers that want exact zeros, like scikit-learn's Lasso, apply the soft
# threshold above as a separate "proximal" step.) Section 7 measures the effect.

# %% [markdown]
# ## 4. Now the finished version: `L2` and `L1` regularizers
#
# `coursekit.regularization` has the tested functions (`l2_penalty`, `l2_grad`,
# `l1_penalty`, `l1_grad`) and two regularizers for `fit`. `fit(..., regularizer=L2(lambd))`
# adds `penalty(model, m)` to every batch loss and, after `model.backward`, adds
# $(\lambda/m)W$ to every weight matrix's gradient, with $m$ the batch size. Weight
# matrices only: `model.parameters()` marks them with `is_weight`; biases are left alone.

# %%
from coursekit.regularization import L1, L2, l1_penalty

print(L2(0.3), "penalizes", [p.name for p in plain.parameters() if p.is_weight],
      "and not", [p.name for p in plain.parameters() if not p.is_weight])
print(f"L2(0.3).penalty(plain, m={MOONS_BATCH_SIZE}) = {L2(0.3).penalty(plain, MOONS_BATCH_SIZE):.3f}, "
      f"L1(0.3).penalty = {L1(0.3).penalty(plain, MOONS_BATCH_SIZE):.3f} "
      f"(= {l1_penalty(plain.weights(), 0.3, MOONS_BATCH_SIZE):.3f})")

# %% [markdown]
# ### L2 is weight decay — for SGD
#
# One SGD step with the L2 term is
#
# $$W \leftarrow W - \text{lr}\left(\nabla L_\text{data} + \tfrac{\lambda}{m}W\right)
#   = \left(1 - \text{lr}\,\tfrac{\lambda}{m}\right)W - \text{lr}\,\nabla L_\text{data}:$$
#
# the weights **decay** by a constant factor every step. PyTorch's `SGD(weight_decay=wd)`
# adds `wd * p` to the gradient, so `weight_decay = λ/m` is the same algorithm (with
# momentum too, as the decay term enters the gradient before the momentum buffer). One
# catch: an optimizer's `weight_decay` decays *every* parameter it is given, biases
# included, so we give it the weights and the biases as two groups (PyTorch's "parameter
# groups"), the biases with no decay.
#
# Adam divides each gradient coordinate by a running RMS of that coordinate's gradients.
# An L2 term is divided too, so weights with large gradients are hardly decayed at all.
# **AdamW** (Loshchilov & Hutter) *decouples* the decay: `p *= 1 - lr * weight_decay`,
# then the Adam step on the data gradient alone. Same number, different algorithm.
#
# **Question: are the two sides numerically the same?** Each pair starts from the same
# weights and sees the same batches for 20 epochs (`train_moons_mlp` takes any optimizer).

# %%
from coursekit.optim import Adam, AdamW, weight_decay_groups

LAMBDA_DEMO = 0.3
decay = LAMBDA_DEMO / MOONS_BATCH_SIZE  # weight_decay = lambda / m


def short_run(regularizer=None, optimizer=None):
    return train_moons_mlp(data, seed_streams(SEED), regularizer=regularizer, optimizer=optimizer, epochs=20,
                           validation=False)[0]


# Parameter groups (as in PyTorch): weight_decay on the weight matrices, none on the biases.
runs = {
    "SGD + L2 term": short_run(L2(LAMBDA_DEMO)),
    "SGD(weight_decay=λ/m)": short_run(optimizer=lambda ps: SGD(weight_decay_groups(ps, decay), lr=MOONS_LR)),
    "Adam + L2 term": short_run(L2(LAMBDA_DEMO), optimizer=lambda ps: Adam(ps, lr=1e-2)),
    "Adam(weight_decay=λ/m)": short_run(optimizer=lambda ps: Adam(weight_decay_groups(ps, decay), lr=1e-2)),
    "AdamW(weight_decay=λ/m)": short_run(optimizer=lambda ps: AdamW(weight_decay_groups(ps, decay), lr=1e-2)),
}


def max_weight_difference(a, b):
    return max(float(np.max(np.abs(p.value - q.value))) for p, q in zip(a.parameters(), b.parameters()))


pairs = [("SGD + L2 term", "SGD(weight_decay=λ/m)"), ("Adam + L2 term", "Adam(weight_decay=λ/m)"),
         ("Adam + L2 term", "AdamW(weight_decay=λ/m)")]
differences = {pair: max_weight_difference(runs[pair[0]], runs[pair[1]]) for pair in pairs}
for (left, right), diff in differences.items():
    print(f"{left:15s} vs {right:24s}: largest weight difference {diff:.2e}")
squared_norms = {name: sum(float(np.sum(W.astype(np.float64) ** 2)) for W in model.weights())
                 for name, model in runs.items()}
for name, value in squared_norms.items():
    print(f"{name:24s} sum of squared weights {value:7.2f}")

# %% [markdown]
# The SGD pair and the Adam-with-L2 pair agree exactly (difference 0); AdamW ends somewhere
# else, with the same number $\lambda/m$ giving a very different strength. Adam divides the
# L2 gradient $(\lambda/m)W$ by the RMS of the weight's gradients, which is tiny for weights
# the data hardly uses, so those are pulled to zero at nearly the full step size `lr`;
# AdamW shrinks every weight by the same factor $1 - \text{lr}\cdot\lambda/m = 0.9999$ per
# step. With SGD you may call it L2 or weight decay; with Adam, say which one you mean.
# (AdamW is the usual choice with Adam; the course's recipe is plain SGD.)

# %% [markdown]
# ## 5. Choosing λ on validation data, over five seeds
#
# Train once per value of $\lambda$ on a log grid and per seed, score each model on the
# **validation** set (data loss and accuracy, no penalty), and keep the $\lambda$ with the
# lowest validation loss averaged over the seeds: the course's one selection criterion.
# $\lambda = 0$ is the baseline of notebook 00 (same seeds, same numbers). The test set
# stays untouched until the chosen model is scored, once.

# %%
LAMBDAS = [0.03, 0.1, 0.3, 1.0]
models = {}  # (lambd, seed) -> trained model, for the plots


def l2_sweep(lambd):
    """A run_seeds function: train with L2(lambd) (none for 0) and score on train / validation."""
    def run(streams):
        model, _ = train_moons_mlp(data, streams, regularizer=L2(lambd) if lambd else None, validation=False)
        models[lambd, streams.seed] = model
        (train_loss, train_acc), (val_loss, val_acc) = scores(model)
        return {"train_loss": train_loss, "train_acc": train_acc, "val_loss": val_loss, "val_acc": val_acc,
                "gap": train_acc - val_acc, "median_slope": float(np.median(input_slopes(model, data.X_val)))}
    return run


l2_results = {lambd: run_seeds(l2_sweep(lambd), MOONS_SEEDS, desc=f"lambda = {lambd:g}") for lambd in [0.0] + LAMBDAS}
print(results_table({f"lambda = {lambd:g}": rows for lambd, rows in l2_results.items()},
                    ["train_acc", "val_acc", "gap", "train_loss", "val_loss"], percent=["train_acc", "val_acc", "gap"]))
mean_val_loss = {lambd: summarize([r["val_loss"] for r in rows])[0] for lambd, rows in l2_results.items()}
best_lambda = min(mean_val_loss, key=mean_val_loss.get)
print(f"chosen on the mean validation loss: lambda = {best_lambda:g} (notebook 04 uses it: MOONS_LAMBD = {MOONS_LAMBD})")

# %% [markdown]
# **Question: which λ generalizes best, and what happens on either side?** Means over the
# five seeds. Left of the best value the model still memorizes (low training loss, high
# validation loss); right of it the penalty wins and both losses rise together
# (underfitting). Dotted lines: λ = 0; dash-dotted: the Bayes-optimal rule of notebook 00
# on the same validation points, the best any model can do.

# %%
def mean_of(lambd, key):
    return summarize([r[key] for r in l2_results[lambd]])[0]


bayes_val = dict(zip(("loss", "accuracy"), datasets.noisy_moons_bayes_scores(data.X_val, data.y_val)))
fig, axes = plt.subplots(1, 2, figsize=(11, 4))
for ax, metric, keys in [(axes[0], "loss", ("train_loss", "val_loss")), (axes[1], "accuracy", ("train_acc", "val_acc"))]:
    scores_by_label = {f"train {metric}": [mean_of(lam, keys[0]) for lam in LAMBDAS],
                       f"validation {metric}": [mean_of(lam, keys[1]) for lam in LAMBDAS]}
    plots.plot_validation_curve(LAMBDAS, scores_by_label, ax=ax, ylabel=f"{metric} (mean over seeds)",
                                best=best_lambda,
                                baseline={f"train {metric}": mean_of(0.0, keys[0]),
                                          f"validation {metric}": mean_of(0.0, keys[1])},
                                title=f"{metric} against the L2 strength")
    ax.axhline(bayes_val[metric], color="k", linestyle="-.", linewidth=1,
               label=f"Bayes rule on the validation split ({bayes_val[metric]:.3g})")
    ax.legend(fontsize=7)
plt.show()

# %% [markdown]
# Seed by seed, against the baseline (the pairs share initial weights and batches):

# %%
for key in ("val_acc", "val_loss", "gap"):
    print(compare_paired(l2_results[best_lambda], l2_results[0.0], key, names=(f"L2 {best_lambda:g}", "none"),
                         lower_is_better=key != "val_acc"))

# %% [markdown]
# The test set, touched once, for the chosen λ (and the baseline, for comparison), next to
# the Bayes-optimal rule's score on the same test points:

# %%
bayes_test_loss, bayes_test_acc = datasets.noisy_moons_bayes_scores(data.X_test, data.y_test)
print(f"Bayes rule: test loss {bayes_test_loss:.3f}, test accuracy {bayes_test_acc:.1%}")
for lambd in (0.0, best_lambda):
    test = [evaluate(models[lambd, seed], loss_fn, data.X_test, data.y_test) for seed in MOONS_SEEDS]
    loss_mean, loss_sd = summarize([t[0] for t in test])
    acc_mean, acc_sd = summarize([t[1] for t in test])
    print(f"lambda = {lambd:g}: test loss {loss_mean:.3f} ± {loss_sd:.3f}, test accuracy {acc_mean:.1%} ± {acc_sd:.1%}")

# %% [markdown]
# **Question: did the boundary stop chasing single training points?** Same initial
# weights, same batches; the only difference is the penalty. (First seed.)

# %%
best = models[best_lambda, SEED]
best_train, best_val = scores(best)
fig, axes = plt.subplots(1, 2, figsize=(11, 4.5), sharex=True, sharey=True)
plots.plot_decision_boundary(plain, data.X_train, data.y_train, ax=axes[0],
                             title=f"λ = 0: train {plain_train[1]:.0%}, val {plain_val[1]:.0%}")
plots.plot_decision_boundary(best, data.X_train, data.y_train, ax=axes[1],
                             title=f"L2, λ = {best_lambda:g}: train {best_train[1]:.0%}, val {best_val[1]:.0%}")
plt.show()

# %% [markdown]
# And the slopes of section 1: smaller weights, a flatter logit.

# %%
best_slopes = input_slopes(best, data.X_val)
for name, model, slopes in [("λ = 0", plain, plain_slopes), (f"λ = {best_lambda:g}", best, best_slopes)]:
    print(f"{name:8s}: median slope {np.median(slopes):6.1f}, 90th percentile {np.percentile(slopes, 90):6.1f}, "
          f"||W1|| ||W2|| ||W3|| = {spectral_norm_product(model):8.1f}")

# %% [markdown]
# ## 6. Why do so many weights end near zero?
#
# Look again at one SGD step with the L2 term:
# $W \leftarrow (1 - \text{lr}\,\lambda/m)\,W - \text{lr}\,\nabla L_\text{data}$. A weight the data
# do not use has $\nabla L_\text{data} = 0$: for example every weight into or out of a hidden
# ReLU unit that no training point switches on. Such a weight only decays, by the same
# factor every step, **geometrically**: after $T$ steps it is
# $(1 - \text{lr}\,\lambda/m)^T$ times its initial value. Weights the data use a little decay
# almost as fast. Only the weights the data keep pushing stay large.
#
# **Question: how much has each weight shrunk?** For the chosen λ (first seed), the ratio
# $|w_T| / |w_0|$ of every weight to its own initial value, on a log scale; the dashed line
# is the pure decay $(1 - \text{lr}\,\lambda/m)^T$.

# %%
steps = MOONS_EPOCHS * (len(data.X_train) // MOONS_BATCH_SIZE)
pure_decay = (1 - MOONS_LR * best_lambda / MOONS_BATCH_SIZE) ** steps
print(f"{steps} steps, each multiplying by 1 - lr*lambda/m = {1 - MOONS_LR * best_lambda / MOONS_BATCH_SIZE:.4f}: "
      f"pure decay {pure_decay:.3f}")


def shrink_ratios(lambd, seed):
    """|w_T| / |w_0| for every weight (flattened, per layer) of the model trained with L2(lambd) from seed."""
    initial = moons_mlp(rng=seed_streams(seed).init).weights()  # the same draws as the trained model's start
    return [np.abs(w) / np.abs(w0) for w, w0 in zip(models[lambd, seed].weights(), initial)]


fig, ax = plt.subplots(figsize=(7, 4))
bins = np.linspace(-3.5, 1.5, 101)
for layer, ratio in enumerate(shrink_ratios(best_lambda, SEED)):
    ax.hist(np.log10(ratio.ravel()), bins=bins, histtype="step", linewidth=1.5, label=f"W{layer + 1} {ratio.shape}")
ax.hist(np.log10(np.concatenate([r.ravel() for r in shrink_ratios(0.0, SEED)])), bins=bins, histtype="step",
        color="0.5", linestyle=":", label="λ = 0, all layers")
ax.axvline(np.log10(pure_decay), color="k", linestyle="--", label=f"pure decay {pure_decay:.3f}")
ax.set_xlabel(r"$\log_{10}(|w_T| / |w_0|)$")
ax.set_ylabel("number of weights")
ax.set_title(f"L2, λ = {best_lambda:g}: how far each weight shrank")
ax.legend(fontsize=8)
plt.show()


def decayed_shares(seed):
    """(share of all weights within 1% of the pure decay, median shrink ratio of W2 / pure decay)."""
    ratios = shrink_ratios(best_lambda, seed)
    every = np.concatenate([r.ravel() for r in ratios])
    return float(np.mean(np.abs(every / pure_decay - 1) < 0.01)), float(np.median(ratios[1]) / pure_decay)


decay_stats = {seed: decayed_shares(seed) for seed in MOONS_SEEDS}
for seed, (exact, middle) in decay_stats.items():
    print(f"seed {seed}: {exact:.1%} of the weights shrank by exactly the pure decay (within 1%); "
          f"median shrink of W2 = {middle:.2f} x the pure decay")

# %% [markdown]
# A spike sits exactly on the dashed line: weights no training point ever used, which
# decayed by $(1-\text{lr}\,\lambda/m)^T$ and nothing else. Most of the middle layer's
# $128 \times 128$ weights sit just right of it: the data use them so little that the decay
# wins. Two hidden layers of 128 units are far more than two moons need, and L2 quietly
# switches off what the data do not ask for. With λ = 0 (grey) nothing shrinks: every
# weight keeps its random initial size, used or not.

# %% [markdown]
# ## 7. L1: shrink to zero
#
# The same recipe with `L1`: two strengths around the best L2 value, over the same seeds,
# the better by mean validation loss. Then we compare the weights of the three chosen models.

# %%
L1_LAMBDAS = [0.1, 0.3]


def l1_sweep(lambd):
    def run(streams):
        model, _ = train_moons_mlp(data, streams, regularizer=L1(lambd), validation=False)
        models["L1", lambd, streams.seed] = model
        (train_loss, train_acc), (val_loss, val_acc) = scores(model)
        return {"train_acc": train_acc, "val_acc": val_acc, "val_loss": val_loss}
    return run


l1_results = {lambd: run_seeds(l1_sweep(lambd), MOONS_SEEDS, desc=f"L1 {lambd:g}") for lambd in L1_LAMBDAS}
print(results_table({f"L1 {lambd:g}": rows for lambd, rows in l1_results.items()}, ["train_acc", "val_acc", "val_loss"],
                    percent=["train_acc", "val_acc"]))
best_l1_lambda = min(L1_LAMBDAS, key=lambda lambd: summarize([r["val_loss"] for r in l1_results[lambd]])[0])
print(f"chosen: L1 lambda = {best_l1_lambda:g}")

# %% [markdown]
# **Question: how are the weights distributed?** Left: all weights, counts on a log scale.
# Right: a zoom on $|w| < 0.05$. L2 pulls the whole distribution in (section 6); L1 piles
# nearly all weights into a spike at zero (of width about $\text{lr}\cdot\lambda/m$) and
# leaves a few large ones. (First seed.)

# %%
NEAR_ZERO = 0.01
best_l1 = models["L1", best_l1_lambda, SEED]
weights_by_name = {"λ = 0": plain.weights(), f"L2, λ = {best_lambda:g}": best.weights(),
                   f"L1, λ = {best_l1_lambda:g}": best_l1.weights()}
fig, axes = plt.subplots(1, 2, figsize=(11, 4))
plots.plot_weight_histograms(weights_by_name, ax=axes[0], log=True, bins=80, value_range=(-1.5, 1.5),
                             title="all weights (log counts)")
plots.plot_weight_histograms(weights_by_name, ax=axes[1], bins=50, value_range=(-0.05, 0.05),
                             title="zoom: |w| < 0.05")
plt.show()


def near_zero_share(model):
    w = np.concatenate([W.ravel() for W in model.weights()])
    return float(np.mean(np.abs(w) < NEAR_ZERO))


shares = {name: [near_zero_share(models[key + (seed,)]) for seed in MOONS_SEEDS]
          for name, key in [("λ = 0", (0.0,)), ("L2", (best_lambda,)), ("L1", ("L1", best_l1_lambda))]}
for name, values in shares.items():
    mean, sd = summarize(values)
    print(f"share of weights with |w| < {NEAR_ZERO}: {name:6s} {mean:.1%} ± {sd:.1%}")

# %% [markdown]
# ## 8. Cross-check: scikit-learn's `alpha` is our λ
#
# scikit-learn's `MLPClassifier` adds `alpha / (2 n) * sum ||W||^2` to the mean log-loss,
# with `n` the number of examples in the batch: our penalty with $\lambda$ = `alpha`, $m = n$.
# With `solver="sgd"` or `"adam"` and `batch_size=m`, `alpha` *is* our λ. The default
# `solver="lbfgs"` uses the whole training set ($n = 150$) as one batch, so the objective our
# SGD minimizes (with $m = 30$) corresponds to `alpha = λ * 150 / 30` (the same mapping as
# for Ng's $\lambda$, whose $m$ is the training-set size too).
#
# First an exact check: rebuild sklearn's network in coursekit (its `coefs_[l]` have our
# `(in, out)` layout) and recompute its final loss `loss_` as data loss + `l2_penalty`.
# (scikit-learn's matrix products may use several threads; on a busy machine spinning
# threads slow them down many times, so we give them one, as `fit` does.)

# %%
import warnings

from sklearn.exceptions import ConvergenceWarning
from sklearn.neural_network import MLPClassifier
from threadpoolctl import threadpool_limits

from coursekit.layers import Dense, ReLU
from coursekit.model import Sequential

n_train = len(data.X_train)
X_train64, X_val64 = data.X_train.astype(np.float64), data.X_val.astype(np.float64)
sk_models = {}
alpha_best = best_lambda * n_train / MOONS_BATCH_SIZE
with threadpool_limits(limits=1, user_api="blas"), warnings.catch_warnings():
    warnings.simplefilter("ignore", ConvergenceWarning)  # 100 iterations are enough to make the point
    for name, alpha in [("alpha = 0", 0.0), (f"alpha = λ·n/m = {alpha_best:g}", alpha_best)]:
        sk_models[name] = MLPClassifier(hidden_layer_sizes=(128, 128), alpha=alpha, solver="lbfgs", max_iter=100,
                                        random_state=SEED).fit(X_train64, data.y_train)

sk = list(sk_models.values())[-1]  # the regularized one
rng = np.random.default_rng(SEED)  # the initial weights are overwritten below
rebuilt = Sequential(Dense(2, 128, rng=rng, dtype=np.float64), ReLU(), Dense(128, 128, rng=rng, dtype=np.float64),
                     ReLU(), Dense(128, 1, rng=rng, dtype=np.float64))
for layer, W, b in zip(rebuilt.layers[::2], sk.coefs_, sk.intercepts_):
    layer.params["W"][...], layer.params["b"][...] = W, b
ours = loss_fn(rebuilt.predict(X_train64), data.y_train)[0] + l2_penalty(sk.coefs_, sk.alpha, n_train)
sk_loss_error = abs(ours - sk.loss_) / sk.loss_
print(f"sklearn loss_ = {sk.loss_:.10f}; our data loss + l2_penalty(coefs_, alpha, m={n_train}) = {ours:.10f}")

# %% [markdown]
# And the same lesson from scikit-learn's own training: the penalty narrows the gap.

# %%
for name, model in sk_models.items():
    tr, va = model.score(X_train64, data.y_train), model.score(X_val64, data.y_val)
    print(f"sklearn {name:22s}: train accuracy {tr:.1%}, validation accuracy {va:.1%}, gap {tr - va:+.1%}")

# %% [markdown]
# ## 9. The lesson's claims, checked
#
# If a change to the course breaks the story told above, this cell fails (and so does
# the test suite). The claims about the chosen λ are checked on each of the five seeds.

# %% tags=["claims"]
none_rows, best_rows = l2_results[0.0], l2_results[best_lambda]
print("mean validation loss per lambda:", {f"{k:g}": round(v, 4) for k, v in mean_val_loss.items()})
for plain_row, best_row in zip(none_rows, best_rows):
    print(f"seed {best_row['seed']}: gap {best_row['gap']:.3f} vs {plain_row['gap']:.3f} at lambda = 0; "
          f"val accuracy {best_row['val_acc']:.3f} vs {plain_row['val_acc']:.3f}; "
          f"median slope {best_row['median_slope']:.2f} vs {plain_row['median_slope']:.2f}; "
          f"pure decay share {decay_stats[best_row['seed']][0]:.3f}, W2 {decay_stats[best_row['seed']][1]:.2f}x")
print("near-zero shares:", {name: [round(v, 3) for v in values] for name, values in shares.items()})
print(f"weight differences: {[f'{d:.1e}' for d in differences.values()]}; sklearn relative error {sk_loss_error:.1e}")
assert best_lambda > 0, "validation data should choose some regularization"
assert best_lambda == MOONS_LAMBD, "the lambda notebook 04 uses (coursekit.models.MOONS_LAMBD) is the one chosen here"
for plain_row, best_row in zip(none_rows, best_rows):
    assert best_row["gap"] < plain_row["gap"], "L2 shrinks the generalization gap on every seed"
    assert best_row["val_acc"] >= plain_row["val_acc"], "...without costing validation accuracy"
    assert best_row["median_slope"] < plain_row["median_slope"] / 2, "smaller weights, flatter function"
assert summarize([r["gap"] for r in best_rows])[0] < summarize([r["gap"] for r in none_rows])[0] - 0.04, \
    "L2 shrinks the gap clearly on average"
for seed, (exact, middle) in decay_stats.items():
    assert exact > 0.05, "a share of the weights is never used by the data and decays geometrically"
    assert middle < 1.5, "most of the middle layer shrinks nearly as fast as pure decay"
assert min(shares["L2"]) > max(shares["λ = 0"]) + 0.2, "L2 leaves many weights near zero..."
assert min(shares["L1"]) > max(shares["L2"]) + 0.15, "...L1 many more"
assert differences[pairs[0]] < 1e-6 and differences[pairs[1]] < 1e-6, "L2 term == weight decay for SGD (and Adam)"
assert differences[pairs[2]] > 1e-2, "...but not the same as AdamW's decoupled decay"
assert squared_norms["Adam + L2 term"] < squared_norms["AdamW(weight_decay=λ/m)"] / 2, "same number, other strength"
assert sk_loss_error < 1e-9, "scikit-learn's alpha is our lambda"
print("All claims hold.")

# %% [markdown]
# ## What to remember
#
# * Large weights allow steep, wiggly functions; the L2 penalty
#   $\frac{\lambda}{2m}\sum_l\lVert W_l\rVert^2$ (weights only, never biases) makes them
#   expensive. Its gradient $\frac{\lambda}{m}W$ is one extra term in $dW$.
# * For SGD the L2 term **is** weight decay: $W \leftarrow (1-\text{lr}\,\lambda/m)W - \dots$.
#   Weights the data do not use decay geometrically, so a large network ends with most of
#   its weights near zero. For Adam it is not weight decay; decoupled decay is **AdamW**.
# * L1, $\frac{\lambda}{m}\sum|W|$ with subgradient $\frac{\lambda}{m}\operatorname{sign}(W)$,
#   pulls with constant force and drives weights to (near) zero; L2 only shrinks.
# * Choose λ on a log grid by the mean **validation** loss over seeds; touch the test set once.
# * λ means nothing without $m$: here $m$ is the batch size; Ng's $m$ is the training-set
#   size ($\lambda_\text{Ng} = \lambda\,n/m$); nnfs and Keras use $c\sum w^2$ with $c = \lambda/(2m)$
#   (and nnfs's `decay` is learning-rate decay).
#
# | here | PyTorch | Keras | scikit-learn |
# |---|---|---|---|
# | `L2(lambd)` with batch size `m` | `SGD(params, lr, weight_decay=lambd/m)` (put biases in a group with `weight_decay=0`), or add `lambd/(2*m) * sum((W**2).sum() for W in weights)` to the loss | `kernel_regularizer=regularizers.l2(c)` with `c = lambd/(2*m)`: Keras adds `c * sum(w**2)`, no ½ | `MLPClassifier(solver="sgd", batch_size=m, alpha=lambd)`; with full-batch `"lbfgs"`, `alpha = lambd * n / m` |
# | `L1(lambd)` | add `lambd/m * sum(W.abs().sum() for W in weights)` to the loss | `regularizers.l1(c)` with `c = lambd/m` | — |
# | Adam + `L2(lambd)` | `Adam(params, lr, weight_decay=lambd/m)` (coupled, an L2 term) | `Adam` + `regularizers.l2(lambd/(2*m))` | `MLPClassifier(solver="adam", alpha=lambd)` |
# | decoupled decay | `AdamW(params, lr, weight_decay=wd)`: `p *= 1 - lr*wd` | `AdamW(weight_decay=wd)` | — |
#
# Next: **02 · Dropout**, a regularizer that works on the units instead of the weights.

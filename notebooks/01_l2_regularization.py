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
# # 01 · L2 and L1 regularization
#
# In notebook 00 a big MLP memorized 150 noisy points: training accuracy near 100%,
# validation accuracy far below, and a decision boundary twisting around single points.
# The first cure is to make **large weights expensive**.
#
# In this notebook you will
# 1. see why large weights are what makes a network's function wiggly;
# 2. derive the L2 penalty $\frac{\lambda}{2m}\sum_l\lVert W_l\rVert^2$ and its gradient, and
#    implement the penalty, the gradient and a `Dense` backward step with the L2 term;
# 3. see that for SGD an L2 term *is* weight decay, and that for Adam it is not (AdamW);
# 4. choose $\lambda$ on validation data, watch the boundary smooth out, and compare L2 with
#    L1, which pushes weights to zero instead of merely shrinking them;
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
from coursekit.layers import Dense, ReLU
from coursekit.losses import binary_cross_entropy_with_logits
from coursekit.model import Sequential
from coursekit.optim import SGD
from coursekit.training import evaluate, fit

# %% [markdown]
# ## 1. Large weights, wiggly functions
#
# The data and the model of notebook 00: 150 noisy training points and an MLP
# $2 \to 128 \to 128 \to 1$. We train with plain mini-batch SGD (batch size $m = 30$,
# so every batch of the 150 points is full). `train` builds the model from a fixed seed,
# so every run below starts from the **same initial weights** and sees the **same
# batches**: differences between runs come from the regularizer alone.

# %%
data = datasets.load_noisy_moons()
print("train", data.X_train.shape, "| val", data.X_val.shape, "| test", data.X_test.shape)

SEED, EPOCHS, BATCH, LR = 0, 300, 30, 0.2
loss_fn = binary_cross_entropy_with_logits


def train(regularizer=None, *, epochs=EPOCHS, make_optimizer=lambda params: SGD(params, lr=LR)):
    """Train a fresh 2-128-128-1 MLP (same seed every call); return it with its train/val (loss, accuracy)."""
    rng = np.random.default_rng(SEED)
    model = Sequential(Dense(2, 128, rng=rng), ReLU(), Dense(128, 128, rng=rng), ReLU(), Dense(128, 1, rng=rng))
    fit(model, loss_fn, make_optimizer(model.parameters()), data.X_train, data.y_train, epochs=epochs,
        batch_size=BATCH, rng=rng, regularizer=regularizer, progress=False)
    return model, evaluate(model, loss_fn, data.X_train, data.y_train), evaluate(model, loss_fn, data.X_val, data.y_val)


plain, plain_train, plain_val = train()
print(f"no regularization: train accuracy {plain_train[1]:.1%}, validation accuracy {plain_val[1]:.1%}")

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
# * $\lambda \ge 0$ sets the strength. Dividing by $m$ is the convention of Andrew Ng's
#   course and of scikit-learn: the penalty is then on the same per-example scale as the
#   data loss. The $\tfrac12$ is there so the gradient has no factor 2.
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
    x:    (N, D_in) the layer's input;  W: (D_in, D_out);  b: (D_out,)
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
# gradient of *data term + penalty* (in float64).

# %%
from coursekit.gradcheck import numerical_gradient, rel_error

print(f"penalty of the unregularized network's weights at lambda = 0.3, m = {BATCH}: "
      f"{l2_penalty(plain.weights(), 0.3, BATCH):.3f}")

rng = np.random.default_rng(1)
W64 = plain.layers[2].params["W"][:6, :4].astype(np.float64)
b64 = np.zeros(4)
x64, dout64 = rng.standard_normal((5, 6)), rng.standard_normal((5, 4)) / 5
total = lambda _: float(np.sum((x64 @ W64 + b64) * dout64)) + l2_penalty([W64], 0.3, 5)
dx, dW, db = dense_backward_l2(dout64, x64, W64, b64, 0.3, 5)
print("shapes:", dx.shape, dW.shape, db.shape)
print(f"dW relative error {rel_error(dW, numerical_gradient(total, W64)):.1e}, "
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
# threshold above as a separate "proximal" step.) Section 6 measures the effect.

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
print(f"L2(0.3).penalty(plain, m={BATCH}) = {L2(0.3).penalty(plain, BATCH):.3f}, "
      f"L1(0.3).penalty = {L1(0.3).penalty(plain, BATCH):.3f} (= {l1_penalty(plain.weights(), 0.3, BATCH):.3f})")

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
# weights and sees the same batches for 20 epochs.

# %%
from coursekit.optim import Adam, AdamW, weight_decay_groups


LAMBDA_DEMO = 0.3
decay = LAMBDA_DEMO / BATCH  # weight_decay = lambda / m
# Parameter groups (as in PyTorch): weight_decay on the weight matrices, none on the biases.
runs = {
    "SGD + L2 term": train(L2(LAMBDA_DEMO), epochs=20, make_optimizer=lambda ps: SGD(ps, lr=LR))[0],
    "SGD(weight_decay=λ/m)": train(epochs=20, make_optimizer=lambda ps: SGD(weight_decay_groups(ps, decay),
                                                                             lr=LR))[0],
    "Adam + L2 term": train(L2(LAMBDA_DEMO), epochs=20, make_optimizer=lambda ps: Adam(ps, lr=1e-2))[0],
    "Adam(weight_decay=λ/m)": train(epochs=20, make_optimizer=lambda ps: Adam(weight_decay_groups(ps, decay),
                                                                               lr=1e-2))[0],
    "AdamW(weight_decay=λ/m)": train(epochs=20, make_optimizer=lambda ps: AdamW(weight_decay_groups(ps, decay),
                                                                                 lr=1e-2))[0],
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
# (AdamW is the usual choice with Adam; the rest of this notebook uses SGD.)

# %% [markdown]
# ## 5. Choosing λ on validation data
#
# Train once per value of $\lambda$ on a log grid, score each model on the **validation**
# set (data loss and accuracy, no penalty), and keep the $\lambda$ with the lowest validation
# loss. The test set stays untouched until the very end, where the chosen model is scored
# once.

# %%
LAMBDAS = [0.003, 0.01, 0.03, 0.1, 0.3, 1.0, 3.0]
l2_runs = {0.0: (plain, plain_train, plain_val)}
l2_runs.update({lambd: train(L2(lambd)) for lambd in LAMBDAS})
print(" lambda | train loss  acc  | val loss  acc  | gap (train - val acc)")
for lambd, (_, (tr_loss, tr_acc), (va_loss, va_acc)) in l2_runs.items():
    print(f"{lambd:7g} | {tr_loss:9.3f} {tr_acc:5.1%} | {va_loss:8.3f} {va_acc:5.1%} | {tr_acc - va_acc:+.1%}")

best_lambda = min(l2_runs, key=lambda lambd: l2_runs[lambd][2][0])
best, best_train, best_val = l2_runs[best_lambda]
print(f"chosen on validation loss: lambda = {best_lambda:g}")

# %% [markdown]
# **Question: which λ generalizes best, and what happens on either side?** Left of the
# best value the model still memorizes (low training loss, high validation loss); right
# of it the penalty wins and both losses rise together (underfitting). Dotted lines: λ = 0.

# %%
fig, axes = plt.subplots(1, 2, figsize=(11, 4))
for ax, (metric, index) in zip(axes, [("loss", 0), ("accuracy", 1)]):
    scores = {f"train {metric}": [l2_runs[lam][1][index] for lam in LAMBDAS],
              f"validation {metric}": [l2_runs[lam][2][index] for lam in LAMBDAS]}
    plots.plot_validation_curve(LAMBDAS, scores, ax=ax, ylabel=metric, best=best_lambda,
                                baseline={f"train {metric}": plain_train[index],
                                          f"validation {metric}": plain_val[index]},
                                title=f"{metric} against the L2 strength")
plt.show()

# %% [markdown]
# The test set, touched once, for the chosen model only:

# %%
test_loss, test_acc = evaluate(best, loss_fn, data.X_test, data.y_test)
print(f"lambda = {best_lambda:g}: test loss {test_loss:.3f}, test accuracy {test_acc:.1%} "
      f"(validation accuracy {best_val[1]:.1%})")

# %% [markdown]
# **Question: did the boundary stop chasing single training points?** Same initial
# weights, same batches; the only difference is the penalty.

# %%
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
# ## 6. L1: shrink to zero
#
# The same recipe with `L1`: a few strengths, the best by validation loss. Then we compare
# the weights of the three chosen models.

# %%
L1_LAMBDAS = [0.03, 0.1, 0.3, 1.0]
l1_runs = {lambd: train(L1(lambd)) for lambd in L1_LAMBDAS}
for lambd, (_, (_, tr_acc), (va_loss, va_acc)) in l1_runs.items():
    print(f"L1 lambda {lambd:5g}: train accuracy {tr_acc:5.1%}, val loss {va_loss:.3f}, val accuracy {va_acc:5.1%}")
best_l1_lambda = min(l1_runs, key=lambda lambd: l1_runs[lambd][2][0])
best_l1, best_l1_train, best_l1_val = l1_runs[best_l1_lambda]
print(f"chosen: L1 lambda = {best_l1_lambda:g}")

# %% [markdown]
# **Question: how are the weights distributed?** Left: all weights, counts on a log scale.
# Right: a zoom on $|w| < 0.05$. L2 pulls the whole distribution in; L1 piles most
# weights into a spike at zero (of width about $\text{lr}\cdot\lambda/m$) and leaves a few
# large ones.

# %%
NEAR_ZERO = 0.01
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


shares = {name: near_zero_share(model) for name, model in [("λ = 0", plain), ("L2", best), ("L1", best_l1)]}
print(f"share of weights with |w| < {NEAR_ZERO}:", {k: f"{v:.1%}" for k, v in shares.items()})

# %% [markdown]
# ## 7. Cross-check: scikit-learn's `alpha` is our λ
#
# scikit-learn's `MLPClassifier` adds `alpha / (2 n) * sum ||W||^2` to the mean log-loss,
# with `n` the number of examples in the batch: our penalty with $\lambda$ = `alpha`, $m = n$.
# With `solver="sgd"` or `"adam"` and `batch_size=m`, `alpha` *is* our λ. The default
# `solver="lbfgs"` uses the whole training set ($n = 150$) as one batch, so the objective our
# SGD minimizes (with $m = 30$) corresponds to `alpha = λ * 150 / 30`.
#
# First an exact check: rebuild sklearn's network in coursekit (its `coefs_[l]` have our
# `(in, out)` layout) and recompute its final loss `loss_` as data loss + `l2_penalty`.

# %%
import warnings

from sklearn.exceptions import ConvergenceWarning
from sklearn.neural_network import MLPClassifier

n_train = len(data.X_train)
X_train64, X_val64 = data.X_train.astype(np.float64), data.X_val.astype(np.float64)
sk_models = {}
for name, alpha in [("alpha = 0", 0.0), (f"alpha = λ·n/m = {best_lambda * n_train / BATCH:g}",
                                          best_lambda * n_train / BATCH)]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)  # 100 iterations are enough to make the point
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
# ## 8. The lesson's claims, checked
#
# If a change to the course breaks the story told above, this cell fails (and so does
# the test suite).

# %% tags=["claims"]
plain_gap, best_gap = plain_train[1] - plain_val[1], best_train[1] - best_val[1]
print(f"chosen lambda {best_lambda:g}: gap {best_gap:.1%} vs {plain_gap:.1%} at lambda = 0; "
      f"val accuracy {best_val[1]:.1%} vs {plain_val[1]:.1%}")
print(f"near-zero share: L1 {shares['L1']:.1%}, L2 {shares['L2']:.1%}")
print(f"median slope {np.median(best_slopes):.1f} vs {np.median(plain_slopes):.1f}")
assert best_lambda > 0, "validation data should choose some regularization"
assert best_gap < plain_gap - 0.04, "L2 should shrink the generalization gap clearly"
assert best_val[1] >= plain_val[1], "...without costing validation accuracy"
assert shares["L1"] > shares["L2"] + 0.15, "L1 should leave many more (near-)zero weights than L2"
assert np.median(best_slopes) < np.median(plain_slopes) / 2, "smaller weights, flatter function"
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
#   For Adam it is not; decoupled decay is **AdamW**.
# * L1, $\frac{\lambda}{m}\sum|W|$ with subgradient $\frac{\lambda}{m}\operatorname{sign}(W)$,
#   pulls with constant force and drives weights to (near) zero; L2 only shrinks.
# * Choose λ on a log grid by **validation** loss; touch the test set once.
# * λ means nothing without $m$: the same λ is weaker when the loss averages over more examples.
#
# | here | PyTorch | Keras | scikit-learn |
# |---|---|---|---|
# | `L2(lambd)` with batch size `m` | `SGD(params, lr, weight_decay=lambd/m)` (put biases in a group with `weight_decay=0`), or add `lambd/(2*m) * sum((W**2).sum() for W in weights)` to the loss | `kernel_regularizer=regularizers.l2(c)` with `c = lambd/(2*m)`: Keras adds `c * sum(w**2)`, no ½ | `MLPClassifier(solver="sgd", batch_size=m, alpha=lambd)`; with full-batch `"lbfgs"`, `alpha = lambd * n / m` |
# | `L1(lambd)` | add `lambd/m * sum(W.abs().sum() for W in weights)` to the loss | `regularizers.l1(c)` with `c = lambd/m` | — |
# | Adam + `L2(lambd)` | `Adam(params, lr, weight_decay=lambd/m)` (coupled, an L2 term) | `Adam` + `regularizers.l2(lambd/(2*m))` | `MLPClassifier(solver="adam", alpha=lambd)` |
# | decoupled decay | `AdamW(params, lr, weight_decay=wd)`: `p *= 1 - lr*wd` | `AdamW(weight_decay=wd)` | — |
#
# Next: **02 · Dropout**, a regularizer that works on the units instead of the weights.

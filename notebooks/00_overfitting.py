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
# # 00 · The problem: overfitting
#
# A network with far more parameters than training examples can **memorize** its
# training set, noise included. Training error goes to zero; error on new data goes
# up. Every later notebook is a cure for what you will see here.
#
# In this notebook you will
# 1. see a big MLP memorize a small, noisy 2-D data set;
# 2. implement the **numerically stable** binary cross-entropy from logits (and see the
#    naive formula produce `inf`/`nan`);
# 3. implement a **numerical gradient** by central differences and use it to verify a
#    backward pass — the tool every later lesson uses to prove its gradients right.
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
# ## 2. The loss: binary cross-entropy from logits
#
# The network outputs one real number per example, the **logit** $z$; the predicted
# probability of class 1 is $\sigma(z) = 1/(1+e^{-z})$. For a label $y\in\{0,1\}$ the
# cross-entropy is
#
# $$\ell(z, y) = -\big[y\log\sigma(z) + (1-y)\log(1-\sigma(z))\big].$$
#
# Typed in as written, this breaks. In float64, $\sigma(40)$ rounds to exactly `1.0`, so
# $\log(1-\sigma(40)) = \log 0 = -\infty$, and $0\cdot(-\infty)$ is `nan`. A network
# that memorizes its training set pushes its logits to exactly such values.

# %%
def naive_bce(z, y):
    s = 1 / (1 + np.exp(-z))
    return -(y * np.log(s) + (1 - y) * np.log(1 - s))

with np.errstate(all="ignore"):
    for z in [2.0, 20.0, 40.0, 1000.0, -1000.0]:
        print(f"z = {z:7.1f}, y = 1:  naive loss = {naive_bce(np.float64(z), 1.0)}")

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
# ## 3. Layers and gradient checking
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

    f: callable, f(x) -> float
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
numeric_dW = numerical_gradient(lambda W: np.sum(layer64.forward(x64, training=True) * dout), layer64.params["W"])
print(f"Dense dx, relative error: {rel_error(dx64, numeric_dx):.2e}")
print(f"Dense dW, relative error: {rel_error(layer64.grads['W'], numeric_dW):.2e}")

# %% [markdown]
# ## 4. Now the finished version: a big network memorizes
#
# From here on we use `coursekit`: the same loss, tested, plus `Sequential`, `Adam` and
# `fit`. The model is an MLP $2 \to 128 \to 128 \to 1$: about 17,000 parameters for
# 150 training points.

# %%
from coursekit.losses import binary_cross_entropy_with_logits
from coursekit.model import Sequential
from coursekit.optim import Adam
from coursekit.training import evaluate, fit

def big_mlp(rng):
    return Sequential(Dense(2, 128, rng=rng), ReLU(), Dense(128, 128, rng=rng), ReLU(), Dense(128, 1, rng=rng))

rng = np.random.default_rng(42)
model = big_mlp(rng)
print(model)
print("parameters:", sum(p.value.size for p in model.parameters()))

# %%
EPOCHS = 400
history = fit(model, binary_cross_entropy_with_logits, Adam(model.parameters(), lr=1e-2),
              data.X_train, data.y_train, epochs=EPOCHS, batch_size=32, rng=rng,
              validation_data=(data.X_val, data.y_val))
train_loss, train_acc = evaluate(model, binary_cross_entropy_with_logits, data.X_train, data.y_train)
val_loss, val_acc = evaluate(model, binary_cross_entropy_with_logits, data.X_val, data.y_val)
print(f"train: loss {train_loss:.3f}, accuracy {train_acc:.1%}")
print(f"val:   loss {val_loss:.3f}, accuracy {val_acc:.1%}")

# %% [markdown]
# **Question: when did the model stop learning and start memorizing?** The training
# loss keeps falling; the validation loss reaches its minimum early and then climbs.

# %%
fig, axes = plt.subplots(1, 2, figsize=(11, 4))
plots.plot_history(history, metric="loss", ax=axes[0], title="loss")
plots.plot_history(history, metric="accuracy", ax=axes[1], title="accuracy")
plt.show()

# %% [markdown]
# **Question: what did it memorize?** The boundary twists around individual (often
# mislabelled) training points. On validation points those islands are mostly wrong.

# %%
fig, axes = plt.subplots(1, 2, figsize=(11, 4.5), sharex=True, sharey=True)
plots.plot_decision_boundary(model, data.X_train, data.y_train, ax=axes[0],
                             title=f"training points (accuracy {train_acc:.0%})")
plots.plot_decision_boundary(model, data.X_val, data.y_val, ax=axes[1],
                             title=f"validation points (accuracy {val_acc:.0%})")
plt.show()

# %% [markdown]
# And the naive loss? Memorizing drives the logits to large magnitudes. On the trained
# model's own training logits the textbook formula returns `inf` or `nan`, while the
# stable one returns an ordinary number.

# %%
logits = model.predict(data.X_train).ravel()
with np.errstate(all="ignore"):
    naive = float(np.mean(naive_bce(logits, data.y_train)))
stable, _ = binary_cross_entropy_with_logits(logits, data.y_train)
print(f"largest |logit|: {np.abs(logits).max():.1f}")
print(f"naive loss: {naive},  stable loss: {stable:.4f}")

# %% [markdown]
# ## 5. The lesson's claims, checked
#
# If a change to the course breaks the story told above, this cell fails (and so does
# the test suite).

# %% tags=["claims"]
best_epoch = int(np.argmin(history["val_loss"]))
gap = train_acc - val_acc
print(f"generalization gap (train - val accuracy): {gap:.1%}")
print(f"best validation loss at epoch {best_epoch} of {EPOCHS}; final val loss / best = "
      f"{history['val_loss'][-1] / min(history['val_loss']):.1f}x")
assert train_acc >= 0.95, "the big MLP should (nearly) memorize the training set"
assert gap >= 0.15, "memorizing should cost at least 15 points of validation accuracy"
assert best_epoch < EPOCHS // 4, "validation loss should bottom out early"
assert history["val_loss"][-1] > 2 * min(history["val_loss"]), "validation loss should climb after its minimum"
assert history["loss"][-1] < history["loss"][best_epoch], "training loss keeps falling after that"
assert not np.isfinite(naive) and np.isfinite(stable), "the naive loss breaks where the stable one does not"
print("All claims hold.")

# %% [markdown]
# ## What to remember
#
# * A model with many more parameters than examples can drive training error to zero
#   by **memorizing noise**; the validation curve tells you when that starts.
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
#
# Next: **01 · L2 and L1 regularization**, the first cure.

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
# # 05 · Batch normalization
#
# In a deep network every layer's input is the previous layer's output. A bad
# initialization, or a large learning-rate step, changes the scale of those outputs,
# and the change compounds from layer to layer: a few layers in, activations have
# vanished or exploded, and gradient descent stalls or diverges. **Batch normalization**
# (Ioffe & Szegedy, 2015) re-standardizes each feature over the mini-batch, inside the
# network, at every step.
#
# In this notebook you will
# 1. watch activation statistics drift through a deep MLP with a poor initialization, and
#    see batch norm hold them steady;
# 2. implement the training-mode **forward** pass, the **running statistics** and the
#    **evaluation mode** that uses them (and see what goes wrong without it);
# 3. derive the **backward** pass on the computation graph, then in its compact form, and
#    implement both;
# 4. use the finished `BatchNorm1d` / `BatchNorm2d` to train at learning rates and
#    initializations where the plain network fails, in an MLP and a small CNN.
#
# Conventions are PyTorch's throughout: normalize with the **biased** batch variance,
# track the **unbiased** one, `momentum = 0.1`, `eps = 1e-5`.

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
import copy
import time
import warnings

import matplotlib.pyplot as plt
import numpy as np

from coursekit import datasets, plots
from coursekit.exercises import check, show_solution

# %% [markdown]
# ## 1. Motivation: activations drift from layer to layer
#
# We use the 8×8 digits as flat vectors of 64 pixels (10 classes, 500 training images)
# and a deep MLP: 6 hidden layers of 64 ReLU units. `Dense` draws its weights with He's
# standard deviation $\sqrt{2/\text{fan-in}}$, which keeps the activations' scale
# constant through ReLU layers. We multiply it by `init_scale` to get a *poor*
# initialization: 0.5 (too small) or 2 (too large). The `batchnorm` variant puts a
# `BatchNorm1d` between every `Dense` and its `ReLU`.

# %%
from coursekit.batchnorm import BatchNorm1d, BatchNorm2d
from coursekit.layers import Dense, ReLU
from coursekit.model import Sequential

digits = datasets.load_digits()
X_train, y_train = digits.X_train.reshape(len(digits.X_train), -1), digits.y_train
X_val, y_val = digits.X_val.reshape(len(digits.X_val), -1), digits.y_val
print("X_train:", X_train.shape, X_train.dtype, "| X_val:", X_val.shape, "| classes:", np.unique(y_train))


def deep_mlp(rng, *, init_scale=1.0, batchnorm=False, depth=6, width=64):
    """64 -> [Dense(width) -> (BatchNorm1d) -> ReLU] x depth -> Dense(10); He init times init_scale."""
    layers, fan_in = [], 64
    for _ in range(depth):
        dense = Dense(fan_in, width, rng=rng)
        dense.params["W"] *= init_scale
        layers += [dense, BatchNorm1d(width)] if batchnorm else [dense]
        layers.append(ReLU())
        fan_in = width
    return Sequential(*layers, Dense(fan_in, 10, rng=rng))


print(deep_mlp(np.random.default_rng(0), batchnorm=True))

# %% [markdown]
# We push the 500 training images through untrained networks and record the input of
# every ReLU (the *pre-activations*).

# %%
def relu_inputs(model, x, *, training):
    """The input of every ReLU in ``model``: a list of (N, width) arrays, first layer first."""
    found = []
    for layer in model.layers:
        if isinstance(layer, ReLU):
            found.append(x)
        x = layer.forward(x, training=training)
    return found


activations = {}
for batchnorm in (False, True):
    for init_scale in (0.5, 1.0, 2.0):
        model = deep_mlp(np.random.default_rng(1), init_scale=init_scale, batchnorm=batchnorm)
        name = f"{'BN' if batchnorm else 'plain'}, init x{init_scale:g}"
        activations[name] = relu_inputs(model, X_train, training=True)
print({name: acts[-1].shape for name, acts in activations.items()})

# %% [markdown]
# **Question: how does the spread of the pre-activations change with depth?** Each row
# shares its x axis. Without batch norm, an init scale of 0.5 halves the spread at every
# layer and 2 doubles it; after six layers they differ by a factor of about
# $4^6 \approx 4000$. With batch norm every layer starts at standard deviation 1, whatever
# the init scale: in the second plot the three BN lines lie on top of each other. (That is
# the *forward* pass. Section 6 shows that the init scale still matters for *training*:
# it acts like a change of learning rate.)

# %%
rows = ["plain, init x0.5", "plain, init x2", "BN, init x0.5"]
plots.plot_activation_histograms({name: activations[name] for name in rows})
plt.show()

# %%
stds = {name: [a.std() for a in acts] for name, acts in activations.items()}
plots.plot_activation_std(stds, title="spread of the pre-activations, layer by layer")
plt.show()

# %% [markdown]
# A layer whose inputs are 1000 times too small (or too large) receives gradients that
# are scaled the same way: the layers learn at wildly different speeds, and one learning
# rate cannot suit them all. Batch norm fixes the scale of every layer's input, whatever
# the scale of the weights below it.

# %% [markdown]
# ## 2. The forward pass in training mode
#
# For a mini-batch $x$ of shape $(N, D)$, batch norm treats each of the $D$ features
# separately. Over the batch (axis 0):
#
# $$\mu = \frac1N\sum_{i=1}^N x_i,\qquad \sigma^2 = \frac1N\sum_{i=1}^N (x_i-\mu)^2,\qquad
# \hat x_i = \frac{x_i-\mu}{\sqrt{\sigma^2+\epsilon}},\qquad y_i = \gamma\,\hat x_i + \beta .$$
#
# Shapes: $\mu,\sigma^2,\gamma,\beta$ are $(D,)$; $x,\hat x, y$ are $(N, D)$.
#
# * $\sigma^2$ divides by $N$: the **biased** variance (`x.var(axis=0)`, numpy's default
#   `ddof=0`). That makes every feature of $\hat x$ have mean 0 and variance
#   $\sigma^2/(\sigma^2+\epsilon)\approx 1$ *in this batch*, exactly.
# * $\epsilon = 10^{-5}$ sits **inside** the square root, so a constant feature
#   ($\sigma^2 = 0$) gives $\hat x = 0$, not $0/0$.
# * $\gamma$ (scale, init 1) and $\beta$ (shift, init 0) are learned: the layer can undo
#   the normalization if that is what the loss wants (with $\gamma=\sigma$, $\beta=\mu$
#   it is the identity). So normalizing costs the network no expressiveness.
#
# The backward pass will need intermediate values, so the forward returns a **cache**,
# the tuple `(mean, var, x_centered, inv_std, x_hat, gamma)` with
# `x_centered = x - mean` and `inv_std = 1 / sqrt(var + eps)`.

# %% [markdown]
# ### Exercise 1 — batch norm forward (training mode)

# %% tags=["exercise"]
def batchnorm_forward(x, gamma, beta, *, eps=1e-5):
    """Training-mode batch normalization with the batch's own statistics.

    x:     (N, D) float array
    gamma: (D,) scale;  beta: (D,) shift;  eps: small positive float, inside the square root
    returns: (out, cache) - out (N, D) = gamma * x_hat + beta;
             cache = (mean, var, x_centered, inv_std, x_hat, gamma), with mean and the
             biased var (divide by N) of shape (D,), x_centered = x - mean (N, D),
             inv_std = 1 / sqrt(var + eps) (D,), x_hat = x_centered * inv_std (N, D)
    """
    # YOUR CODE HERE
    raise NotImplementedError

# %% tags=["check"]
batchnorm_forward = check("batchnorm_forward", batchnorm_forward)

# %% [markdown]
# Training-mode outputs have, per feature, mean $\beta$ and standard deviation
# $\gamma$ (up to the $\epsilon$ in the denominator), whatever the input's scale:

# %%
rng = np.random.default_rng(2)
x = rng.standard_normal((256, 3)) * np.array([0.01, 1.0, 100.0]) + np.array([5.0, 0.0, -300.0])
gamma, beta = np.array([1.0, 2.0, 0.5]), np.array([0.0, -1.0, 3.0])
out, cache = batchnorm_forward(x, gamma, beta)
print("input  mean:", x.mean(0).round(3), " std:", x.std(0).round(3))
print("output mean:", out.mean(0).round(3), " std:", out.std(0).round(3))

# %% [markdown]
# ## 3. Running statistics and evaluation mode
#
# At test time there may be no batch: one image arrives, or the test batch is sorted
# by class. An output that depends on the other samples in the batch would make a
# prediction change with its company. So in **evaluation mode** batch norm uses fixed
# statistics of the training data: exponential running averages, updated after every
# training batch,
#
# $$\text{running\_mean} \leftarrow (1-m)\,\text{running\_mean} + m\,\mu,\qquad
# \text{running\_var} \leftarrow (1-m)\,\text{running\_var} + m\,\frac{N}{N-1}\,\sigma^2,$$
#
# with momentum $m = 0.1$ (10% of the new batch). They start at mean 0 and variance 1.
# Note the $\frac{N}{N-1}$: the running variance estimates the population variance, so
# it tracks the **unbiased** batch variance, while the normalization itself uses the
# biased one. In evaluation mode
#
# $$y = \gamma\,\frac{x - \text{running\_mean}}{\sqrt{\text{running\_var}+\epsilon}} + \beta,$$
#
# a fixed affine map of each sample on its own.
#
# *Conventions:* PyTorch's `momentum=0.1` is the weight of the **new** value; Keras's
# `BatchNormalization(momentum=0.99)` is the weight of the **old** one (PyTorch 0.1 ≈
# Keras 0.9). For $(N, C, H, W)$ inputs the statistics are per channel over the
# $N\cdot H\cdot W$ values, and the correction is $\frac{NHW}{NHW-1}$; call this count
# `count`.

# %% [markdown]
# ### Exercise 2 — the running-statistics update

# %% tags=["exercise"]
def update_running_stats(running_mean, running_var, batch_mean, batch_var, *, count, momentum=0.1):
    """New running statistics after one training batch (PyTorch's convention).

    running_mean, running_var: (D,) current running statistics
    batch_mean, batch_var:     (D,) this batch's mean and BIASED variance (divided by count)
    count:    number of values each statistic was computed from (N for (N, D) input)
    momentum: weight of the new batch, in [0, 1]
    returns: (new_mean, new_var), each (D,); the running variance tracks the UNBIASED
             batch variance batch_var * count / (count - 1)
    """
    # YOUR CODE HERE
    raise NotImplementedError

# %% tags=["check"]
update_running_stats = check("update_running_stats", update_running_stats)

# %% [markdown]
# ### Exercise 3 — one layer, two modes
#
# Put the pieces together: what a batch-norm layer computes in each mode. Use your
# `batchnorm_forward` and `update_running_stats`.

# %% tags=["exercise"]
def batchnorm_layer_forward(x, gamma, beta, running_mean, running_var, *, training, momentum=0.1, eps=1e-5):
    """A batch-norm layer's forward pass in training or evaluation mode.

    x: (N, D); gamma, beta, running_mean, running_var: (D,)
    training=True:  normalize with the batch statistics; update the running statistics
    training=False: normalize with the running statistics; leave them unchanged
    returns: (out (N, D), new_running_mean (D,), new_running_var (D,))
    """
    # YOUR CODE HERE
    raise NotImplementedError

# %% tags=["check"]
batchnorm_layer_forward = check("batchnorm_layer_forward", batchnorm_layer_forward)

# %% [markdown]
# **The two modes, side by side.** One sample, put into two different batches. In
# training mode its output depends on its batch-mates; in evaluation mode it does not.

# %%
rng = np.random.default_rng(3)
gamma, beta = np.ones(2), np.zeros(2)
running_mean, running_var = np.zeros(2), np.ones(2)
for _ in range(50):  # 50 training batches drawn from a distribution with mean (2, -1) and std (1, 3)
    batch = rng.standard_normal((32, 2)) * np.array([1.0, 3.0]) + np.array([2.0, -1.0])
    _, running_mean, running_var = batchnorm_layer_forward(batch, gamma, beta, running_mean, running_var,
                                                           training=True)
print("running mean:", running_mean.round(2), " running var:", running_var.round(2))

sample = np.array([[2.0, -1.0]])
calm = np.vstack([sample, rng.standard_normal((7, 2)) * np.array([1.0, 3.0]) + np.array([2.0, -1.0])])
odd = np.vstack([sample, rng.standard_normal((7, 2)) + np.array([10.0, 10.0])])
for mode in (True, False):
    outs = [batchnorm_layer_forward(b, gamma, beta, running_mean, running_var, training=mode)[0][0]
            for b in (calm, odd)]
    print(f"training={mode!s:5}: sample's output in a typical batch {outs[0].round(3)}, "
          f"in an odd batch {outs[1].round(3)}")

# %% [markdown]
# ## 4. The backward pass
#
# ### On the computation graph
#
# Per feature (drop the feature index; $i$ runs over the batch), the forward pass is a
# chain of simple nodes. Going backward, each node turns the gradient of its output into
# gradients of its inputs; $d\,v$ means $\partial L/\partial v$, and `dout` $= dy$.
#
# | forward node | backward |
# |---|---|
# | $y_i = \gamma\hat x_i + \beta$ | $d\beta = \sum_i dy_i$, $\;d\gamma = \sum_i dy_i\,\hat x_i$, $\;d\hat x_i = \gamma\,dy_i$ |
# | $\hat x_i = c_i\, s$ | $dc_i \mathrel{+}= s\,d\hat x_i$, $\;ds = \sum_i d\hat x_i\,c_i$ |
# | $s = 1/t$, $\;t = \sqrt{\sigma^2+\epsilon}$ | $dt = -ds/t^2 = -s^2\,ds$, $\;d\sigma^2 = dt/(2t) = \tfrac12 s\,dt$ |
# | $\sigma^2 = \frac1N\sum_i c_i^2$ | $dc_i \mathrel{+}= \frac{2}{N}\,c_i\,d\sigma^2$ |
# | $c_i = x_i - \mu$ | $dx_i \mathrel{+}= dc_i$, $\;d\mu = -\sum_i dc_i$ |
# | $\mu = \frac1N\sum_i x_i$ | $dx_i \mathrel{+}= d\mu / N$ |
#
# Two places need care. $c$ (`x_centered`) feeds **two** nodes ($\hat x$ and
# $\sigma^2$): its gradient is the **sum** of both contributions, complete before you
# go on to the $\mu$ node. And $x$ reaches the loss directly *and* through $\mu$ (which
# depends on every $x_i$): forget the $d\mu/N$ term and the gradient is wrong.
# The cache holds everything needed: $c$ = `x_centered`, $s$ = `inv_std`, $\hat x$, $\gamma$.

# %% [markdown]
# ### Exercise 4 — backward, node by node

# %% tags=["exercise"]
def batchnorm_backward_graph(dout, cache):
    """Batch-norm backward (training mode), walking the computation graph node by node.

    dout:  (N, D) upstream gradient dL/dout
    cache: (mean, var, x_centered, inv_std, x_hat, gamma) from batchnorm_forward
    returns: (dx (N, D), dgamma (D,), dbeta (D,)); sums run over axis 0
    """
    # YOUR CODE HERE
    raise NotImplementedError

# %% tags=["check"]
batchnorm_backward_graph = check("batchnorm_backward_graph", batchnorm_backward_graph)

# %% [markdown]
# ### The compact form
#
# Substitute the nodes into each other. Since $\sum_i c_i = 0$, the $\sigma^2$ path
# contributes nothing to $d\mu$, so $d\mu = -s\sum_j d\hat x_j$. And
# $d\sigma^2 = -\tfrac12 s^3\sum_j d\hat x_j c_j = -\tfrac12 s^2 \sum_j d\hat x_j\hat x_j$.
# Collecting the three paths to $x_i$:
#
# $$dx_i = s\,d\hat x_i \;-\; \frac{s}{N}\,\hat x_i\sum_j d\hat x_j\,\hat x_j \;-\; \frac{s}{N}\sum_j d\hat x_j
# \;=\; \frac{s}{N}\Big(N\,d\hat x_i - \sum_j d\hat x_j - \hat x_i\sum_j d\hat x_j\,\hat x_j\Big),
# \qquad d\hat x = \gamma\,dy .$$
#
# Read it geometrically: $dx$ is $s\,d\hat x$ with its mean removed and its component
# along $\hat x$ removed. Of course: shifting a feature of $x$ by a constant, or scaling
# it, leaves the training-mode output unchanged, so the gradient cannot point in those
# directions.

# %% [markdown]
# ### Exercise 5 — backward, compact form (one line for dx)

# %% tags=["exercise"]
def batchnorm_backward(dout, cache):
    """Batch-norm backward (training mode) in the compact form.

    dout:  (N, D) upstream gradient; cache: (mean, var, x_centered, inv_std, x_hat, gamma)
    returns: (dx, dgamma, dbeta) with dx_hat = gamma * dout and
             dx = inv_std / N * (N * dx_hat - dx_hat.sum(0) - x_hat * (dx_hat * x_hat).sum(0))
    """
    # YOUR CODE HERE
    raise NotImplementedError

# %% tags=["check"]
batchnorm_backward = check("batchnorm_backward", batchnorm_backward)

# %% [markdown]
# Both versions compute the same numbers (the checks compared them with central
# differences). Is the compact one faster? It makes fewer passes over the $(N, D)$
# arrays and keeps fewer intermediate arrays alive; in numpy the gain is modest
# (typically 1.2-2x), in a fused GPU kernel it matters more. Timings vary by machine
# and load; the ratio is what to look at.

# %%
rng = np.random.default_rng(4)
x = rng.standard_normal((512, 256))
_, cache = batchnorm_forward(x, rng.standard_normal(256), rng.standard_normal(256))
dout = rng.standard_normal(x.shape)
timings = {}
for name, fn in (("graph", batchnorm_backward_graph), ("compact", batchnorm_backward)):
    fn(dout, cache)  # warm-up
    start = time.perf_counter()
    for _ in range(20):
        fn(dout, cache)
    timings[name] = (time.perf_counter() - start) / 20
    print(f"{name:8}: {timings[name] * 1e3:.2f} ms per call on a (512, 256) batch")
print(f"graph / compact: {timings['graph'] / timings['compact']:.1f}x")

# %% [markdown]
# ## 5. Now the finished version: `BatchNorm1d` and `BatchNorm2d`
#
# `coursekit.batchnorm` packages the above as layers with the usual contract.
# `BatchNorm1d(num_features)` takes $(N, D)$; `BatchNorm2d(num_channels)` takes feature
# maps $(N, C, H, W)$ and normalizes **per channel over $N\cdot H\cdot W$ values**: a
# convolution applies the same filter at every position, so all positions of a channel
# share one $\gamma$, one $\beta$ and one set of statistics. The parameters are `gamma`
# and `beta` (`layer.params`, which L2 penalties leave alone); the running statistics
# are **buffers** (`layer.buffers`), not trained, but saved by `model.state_dict()`.
#
# Gradient checks in float64, in both modes:

# %%
from coursekit.gradcheck import check_layer_gradients

rng = np.random.default_rng(5)
for layer, shape in ((BatchNorm1d(4), (6, 4)), (BatchNorm2d(3), (4, 3, 5, 5))):
    layer.params["gamma"][:] = rng.uniform(0.5, 2.0, layer.num_features)
    layer.params["beta"][:] = rng.standard_normal(layer.num_features)
    x = rng.standard_normal(shape) * 2.0 + 1.0
    for training in (True, False):
        errors = check_layer_gradients(layer, x, rng=rng, training=training, h=1e-5)
        print(f"{layer!r:45} training={training!s:5} x {shape}: " +
              ", ".join(f"{k} {v:.1e}" for k, v in errors.items()))

# %% [markdown]
# The per-channel statistics of `BatchNorm2d`:

# %%
bn2d = BatchNorm2d(3)
maps = rng.standard_normal((8, 3, 6, 6)) * np.array([1.0, 5.0, 0.2]).reshape(1, 3, 1, 1) + 4.0
out = bn2d.forward(maps, training=True)
print("output mean per channel:", out.mean(axis=(0, 2, 3)).round(6), " std:", out.std(axis=(0, 2, 3)).round(4))
print("running mean:", bn2d.running_mean.round(3), " running var:", bn2d.running_var.round(3),
      f"(one step from 0 and 1, count = 8*6*6 = {8 * 6 * 6})")

# %% [markdown]
# ## 6. What batch norm buys
#
# ### Learning rates and initializations
#
# **Question: for which learning rates and initialization scales does the deep MLP
# train at all, and how fast?** Plain SGD, batch size 50, 10 epochs, the same seed for
# every run. A run *diverges* when its loss becomes NaN/inf (`fit(..., on_nan="stop")`
# stops it with a warning, silenced here); it *stalls* when its training loss is still
# above 2.0 (chance level is $\ln 10 \approx 2.30$).

# %%
from coursekit.losses import softmax_cross_entropy
from coursekit.optim import SGD
from coursekit.training import evaluate, fit

LEARNING_RATES, INIT_SCALES, EPOCHS = (0.01, 0.1, 1.0), (0.5, 1.0, 2.0), 10


def train_deep_mlp(*, init_scale, lr, batchnorm, seed=0):
    rng = np.random.default_rng(seed)
    model = deep_mlp(rng, init_scale=init_scale, batchnorm=batchnorm)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # the expected "training diverged" warnings
        history = fit(model, softmax_cross_entropy, SGD(model.parameters(), lr=lr), X_train, y_train,
                      epochs=EPOCHS, batch_size=50, rng=rng, progress=False, on_nan="stop")
    val_acc = np.nan if history.diverged else evaluate(model, softmax_cross_entropy, X_val, y_val)[1]
    return {"model": model, "history": history, "val_acc": val_acc}


def outcome(run):
    """'diverged', 'stalled', or the first epoch (1-based) with training accuracy >= 90%."""
    if run["history"].diverged:
        return "diverged"
    if run["history"]["loss"][-1] > 2.0:
        return "stalled"
    reached = np.flatnonzero(np.array(run["history"]["accuracy"]) >= 0.9)
    return f"90% at epoch {reached[0] + 1}" if reached.size else "slow (<90%)"


runs = {(bn, s, lr): train_deep_mlp(init_scale=s, lr=lr, batchnorm=bn)
        for bn in (False, True) for s in INIT_SCALES for lr in LEARNING_RATES}
for (bn, s, lr), run in runs.items():
    print(f"{'BN   ' if bn else 'plain'} init x{s:<3g} lr {lr:<5g}: {outcome(run):18} "
          f"val accuracy {run['val_acc']:.2f}")

# %% [markdown]
# The same table as a picture: validation accuracy after 10 epochs (grey: diverged).

# %%
fig, axes = plt.subplots(1, 2, figsize=(10, 3.8), sharey=True, constrained_layout=True)
for ax, bn in zip(axes, (False, True)):
    grid = np.array([[runs[(bn, s, lr)]["val_acc"] for lr in LEARNING_RATES] for s in INIT_SCALES])
    cmap = plt.get_cmap("viridis").copy()
    cmap.set_bad("lightgrey")
    image = ax.imshow(np.ma.masked_invalid(grid), vmin=0, vmax=1, cmap=cmap, origin="lower")
    for i, s in enumerate(INIT_SCALES):
        for j, lr in enumerate(LEARNING_RATES):
            text = outcome(runs[(bn, s, lr)]).replace("90% at epoch ", "90% @ ep ")
            ax.text(j, i, f"{text}\n{grid[i, j]:.2f}" if np.isfinite(grid[i, j]) else text, ha="center",
                    va="center", fontsize=8, color="white" if grid[i, j] < 0.6 else "black")
    ax.set_xticks(range(len(LEARNING_RATES)), [str(lr) for lr in LEARNING_RATES])
    ax.set_yticks(range(len(INIT_SCALES)), [f"x{s:g}" for s in INIT_SCALES])
    ax.set_xlabel("learning rate")
    ax.set_title("with batch norm" if bn else "plain")
axes[0].set_ylabel("init scale (times He)")
fig.colorbar(image, ax=axes, label="validation accuracy")
plt.show()

# %% [markdown]
# ### Batch norm turns the init scale into a learning rate
#
# Read the batch-norm panel by columns. At learning rate 0.01, init ×0.5 trains fastest
# and init ×2 slowest. The *forward* pass of the batch-normalized network does not depend
# on the init scale (section 1), yet its *training* does. Why?
#
# Take the weights $w$ of one unit of a `Dense` layer followed by batch norm (one column of
# $W$; its bias is cancelled by the mean subtraction). Scaling them by $c > 0$ scales the
# unit's pre-activations, their batch mean and their batch standard deviation by $c$, and
# the normalization divides it out. So the loss does not change (up to $\epsilon$):
#
# $$L(c\,w) = L(w)\qquad\text{for every } c > 0 .$$
#
# Differentiate both sides.
# * With respect to $w$: $c\,\nabla L(c\,w) = \nabla L(w)$, so $\nabla L(c\,w) = \nabla L(w)/c$.
#   **Larger weights get proportionally smaller gradients.**
# * With respect to $c$, at $c = 1$: $w \cdot \nabla L(w) = 0$. **The gradient is orthogonal
#   to $w$**: a step turns $w$, it does not stretch it (to first order).
#
# What the unit computes depends only on the direction $\hat w = w/\|w\|$. An SGD step
# $\Delta w = -\eta\,\nabla L(w)$ is orthogonal to $w$, so it turns the direction by
#
# $$\Delta \hat w \approx \frac{\Delta w}{\|w\|} = -\frac{\eta}{\|w\|}\,\nabla L(w)
# = -\frac{\eta}{\|w\|^2}\,\nabla L(\hat w),$$
#
# using the first fact with $c = \|w\|$: $\nabla L(w) = \nabla L(\hat w)/\|w\|$. The direction
# does gradient descent with the **effective learning rate**
#
# $$\eta_{\text{eff}} = \frac{\eta}{\|w\|^2}.$$
#
# Multiplying the He initialization by $s$ multiplies $\|w\|$ by $s$, so it divides
# $\eta_{\text{eff}}$ by $s^2$: at the start, init ×2 at learning rate $\eta$ trains like
# init ×1 at $\eta/4$, and init ×0.5 like init ×1 at $4\eta$. (Only the weights followed by
# batch norm are scale-invariant; the last `Dense` layer, $\gamma$ and $\beta$ learn at
# $\eta$ itself, so the match is close, not exact.)
#
# **Check it on one batch:** the same network (same seed, so the same weight directions)
# at the three init scales; for the first layer's weights, the gradient's size, the step
# it makes relative to the weights, and the angle between weights and gradient.

# %%
one_batch = X_train[:100], y_train[:100]
relative_step = {}
for s in INIT_SCALES:
    model = deep_mlp(np.random.default_rng(1), init_scale=s, batchnorm=True)
    loss, dlogits = softmax_cross_entropy(model.forward(one_batch[0], training=True), one_batch[1])
    model.backward(dlogits)
    W, dW = model.layers[0].params["W"].astype(np.float64), model.layers[0].grads["W"].astype(np.float64)
    relative_step[s] = np.linalg.norm(dW) / np.linalg.norm(W)  # ||step|| / ||W|| per unit of learning rate
    cosine = np.sum(W * dW) / (np.linalg.norm(W) * np.linalg.norm(dW))
    print(f"init x{s:<3g}: loss {loss:.4f}  ||W|| {np.linalg.norm(W):5.2f}  ||dL/dW|| {np.linalg.norm(dW):.4f}  "
          f"||dL/dW|| / ||W|| {relative_step[s]:.5f}  cos(W, dL/dW) {cosine:+.0e}")
print("relative step, compared with init x1:", {f"x{s:g}": round(float(relative_step[s] / relative_step[1.0]), 3)
                                                for s in INIT_SCALES})

# %% [markdown]
# The loss is the same at all three scales, the gradient is orthogonal to the weights
# (cosine ≈ 0), and the step relative to the weights is 4, 1 and 1/4 times as large:
# exactly $1/s^2$.
#
# So what does the grid show, and what not?
# * **It shows** that with batch norm the MLP trains from all three init scales at
#   learning rates 0.1 and 1, where the plain network diverges or stalls in most cells: no
#   activations vanish or explode, whatever the scale.
# * **It does not show** that the init scale no longer matters. Under batch norm the scale
#   becomes a factor $1/s^2$ on the learning rate, and the grid tolerates it because its
#   learning rates span a factor of 100 while $1/s^2$ here is only 4 or 1/4. At
#   $\eta = 0.01$ the effective rates are 0.04, 0.01 and 0.0025, and the validation
#   accuracies fall in that order. An init ×10 would train like $\eta/100$.
# * A bonus: each step is orthogonal to $w$, so
#   $\|w + \Delta w\|^2 = \|w\|^2 + \eta^2\|\nabla L(w)\|^2$: the weights' norm only grows,
#   fastest when the steps are large, and $\eta_{\text{eff}}$ shrinks by itself. A too-large
#   learning rate is partly self-correcting, one reason batch norm tolerates $\eta = 1$.
#   (Weight decay shrinks $\|w\|$ back; on weights followed by batch norm it raises
#   $\eta_{\text{eff}}$ rather than limiting what the network can represent.)

# %% [markdown]
# **Question: what does a learning rate of 1.0 look like during training?** With the
# standard (He) initialization: the plain network's loss blows up or sits at chance,
# while the batch-normalized one drops fastest of all.

# %%
fig, ax = plt.subplots(figsize=(6.5, 4))
for bn in (False, True):
    for lr, style in ((0.1, "--"), (1.0, "-")):
        history = runs[(bn, 1.0, lr)]["history"]
        label = f"{'BN' if bn else 'plain'}, lr {lr:g}" + (" (diverged)" if history.diverged else "")
        ax.plot(np.arange(1, history.epochs + 1), history["loss"], style, color="C1" if bn else "C0",
                marker="o", markersize=3, label=label)
ax.axhline(np.log(10), color="grey", lw=0.8, ls=":", label="chance (ln 10)")
ax.set_xlabel("epoch")
ax.set_ylabel("training loss")
ax.set_ylim(0, 3)
ax.legend(fontsize=8)
ax.set_title("deep MLP, He init")
plt.show()

# %% [markdown]
# ### Evaluation with batch statistics goes wrong
#
# Take the batch-normalized MLP trained with lr 0.1. In evaluation mode it uses its
# running statistics. What if we (wrongly) normalized test batches with their own
# statistics, i.e. ran the network in training mode? With shuffled batches of 100 the
# batch statistics are close to the running ones and little changes. But if the test
# batches happen to be **sorted by class** (20 images of one digit each), every batch's
# statistics describe one digit, and the predictions fall apart. (We run a copy in
# training mode, so the trained model's running statistics are not touched.)

# %%
bn_model = runs[(True, 1.0, 0.1)]["model"]


def accuracy_with_batch_stats(model, X, y, batches):
    """Accuracy when each batch (a list of index arrays) is normalized with its own statistics."""
    scratch = copy.deepcopy(model)
    correct = sum(np.sum(scratch.forward(X[idx], training=True).argmax(1) == y[idx]) for idx in batches)
    return correct / len(X)


rng = np.random.default_rng(6)
shuffled = np.array_split(rng.permutation(len(X_val)), len(X_val) // 100)
by_class = [idx for label in range(10) for idx in np.array_split(np.flatnonzero(y_val == label), 2)]
acc_running = evaluate(bn_model, softmax_cross_entropy, X_val, y_val)[1]
acc_shuffled = accuracy_with_batch_stats(bn_model, X_val, y_val, shuffled)
acc_sorted = accuracy_with_batch_stats(bn_model, X_val, y_val, by_class)
print(f"evaluation mode (running statistics):        {acc_running:.1%}")
print(f"batch statistics, shuffled batches of 100:   {acc_shuffled:.1%}")
print(f"batch statistics, one-digit batches of ~20:  {acc_sorted:.1%}")
try:
    copy.deepcopy(bn_model).forward(X_val[:1], training=True)
except ValueError as error:
    print("and a batch of one image in training mode:", str(error)[:90], "...")

# %% [markdown]
# ### The noise batch norm adds, and batch size
#
# In training mode one sample's output depends on which other samples share its batch:
# the batch mean and variance are noisy estimates. This noise is a mild regularizer
# (like a small, data-dependent dropout), and it shrinks as batches grow.
# **Question: how noisy is one sample's output, as a function of the batch size?** We put
# the same image (the *probe*) in 200 random training batches of each size and measure the
# spread of its logits (training mode, on a copy of the trained model). Its batch-mates are
# drawn without replacement from the other 499 training images.
#
# (`threadpool_limits(1)`: these matrices are tiny, and one BLAS thread computes them many
# times faster than several competing for the cores; `fit` and `predict` do the same.)

# %%
from threadpoolctl import threadpool_limits

rng = np.random.default_rng(7)
scratch = copy.deepcopy(bn_model)
probe, others = X_train[:1], X_train[1:]
BATCH_SIZES, DRAWS = (4, 16, 64, 256), 200
spread = {}
with threadpool_limits(1, user_api="blas"):
    for size in BATCH_SIZES:
        logits = [scratch.forward(np.vstack([probe, others[rng.choice(len(others), size - 1, replace=False)]]),
                                  training=True)[0] for _ in range(DRAWS)]
        spread[size] = float(np.std(logits, axis=0).mean())
eval_logits = bn_model.predict(probe)[0]
print("std of the probe image's logits across batches:",
      {size: round(value, 3) for size, value in spread.items()})
print(f"for scale: the logits' own spread in evaluation mode is {eval_logits.std():.2f}")

# %% [markdown]
# What should the curve look like? The noise comes from the batch statistics, so compare
# it with the **standard error of the batch mean** for exactly these batches: the probe plus
# $n = N-1$ batch-mates drawn without replacement from $P = 499$ images, each with standard
# deviation $\sigma$. The probe is not noise; the sum of the mates has variance
# $n\sigma^2\,\frac{P-n}{P-1}$ (the last factor is the finite-population correction), so
#
# $$\operatorname{sd}(\mu_B) = \frac{\sigma}{N}\sqrt{(N-1)\,\frac{P-N+1}{P-1}}
# \;\approx\; \frac{\sigma}{\sqrt N}\quad\text{for } 1 \ll N \ll P .$$
#
# On log-log axes that is a line of slope $-\tfrac12$ in the middle, falling faster as $N$
# approaches $P$ (at $N = 256$ the batches share half the images). The batch variance's
# noise shrinks the same way. We draw this guide through the measured point at $N = 64$,
# where both approximations hold (the probe is 1/64 of its batch, and the correction is
# 0.94), together with the plain $1/\sqrt N$ line through the same point. The guides show
# the **slope** to expect if the logits' noise is proportional to the statistics' noise;
# the anchor only sets their height.

# %%
sizes = np.array(BATCH_SIZES)
pool = len(others)
standard_error = np.sqrt((sizes - 1) * (pool - sizes + 1) / (pool - 1)) / sizes  # sd(batch mean) / sigma
anchor = BATCH_SIZES.index(64)
guide = spread[64] * standard_error / standard_error[anchor]
fig, ax = plt.subplots(figsize=(6, 4))
ax.loglog(sizes, [spread[s] for s in BATCH_SIZES], "o-", label="measured")
ax.loglog(sizes, guide, "k--", label=r"standard error of the batch mean, $\sqrt{N-1}/N$ (finite pool)")
ax.loglog(sizes, spread[64] * np.sqrt(64 / sizes), ":", color="grey", label=r"$\propto 1/\sqrt{N}$")
ax.minorticks_off()
ax.set_xticks(sizes, [str(s) for s in BATCH_SIZES])
ax.set_yticks([0.1, 0.2, 0.5, 1.0, 2.0], ["0.1", "0.2", "0.5", "1", "2"])
ax.set_xlabel("batch size N")
ax.set_ylabel("std of one sample's logits")
ax.set_title("batch-norm noise shrinks with the batch size\n(guides drawn through the point at N = 64)")
ax.legend(fontsize=8)
plt.show()
ratio_64_256 = spread[64] / spread[256]
print(f"from N = 64 to 256 the noise falls by {ratio_64_256:.2f}x; the standard error predicts "
      f"{standard_error[anchor] / standard_error[-1]:.2f}x, 1/sqrt(N) alone {np.sqrt(256 / 64):.2f}x")

# %% [markdown]
# From 64 to 256 the measured noise falls faster than $1/\sqrt N$, close to what the
# standard error of these batches predicts: large batches drawn from 500 images overlap, so
# they agree more than independent batches would. (The measured ratio itself is noisy, by
# about ±0.2 with 200 batches.) For small batches the measured noise can stay below the
# guide (look at $N = 4$; how far below depends on the trained network): in a batch of
# $N$ every normalized value satisfies $|\hat x| \le \sqrt{N-1}$ (at most $\sqrt 3$ for
# $N = 4$), so however noisy the statistics, the normalized values cannot stray far, and
# the network's response to the noise is no longer proportional to it.
#
# Large batches: little noise, little regularization (and the running statistics are
# accurate). Tiny batches: noisy statistics, a train/test mismatch, and with one value
# per channel no statistics at all. That is why batch norm is usually run with batches
# of a few dozen or more.

# %% [markdown]
# ### Batch norm in a small CNN
#
# The same effect in a convolutional network on the 8×8 digit images (N, 1, 8, 8):
# `Conv2D(1, 8, 3, padding=1)` → (`BatchNorm2d(8)`) → ReLU → `MaxPool2D(2)` → `Flatten`
# → `Dense(128, 10)`, plain SGD with learning rate 0.1, 6 epochs. **Question: does
# `BatchNorm2d` make the CNN learn faster?**

# %%
from coursekit.layers import Conv2D, Flatten, MaxPool2D


def small_cnn(rng, *, batchnorm):
    return Sequential(Conv2D(1, 8, 3, padding=1, rng=rng), *([BatchNorm2d(8)] if batchnorm else []), ReLU(),
                      MaxPool2D(2), Flatten(), Dense(8 * 4 * 4, 10, rng=rng))


CNN_LR, CNN_EPOCHS = 0.1, 6
cnn_histories = {}
for bn in (False, True):
    rng = np.random.default_rng(8)
    cnn = small_cnn(rng, batchnorm=bn)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        cnn_histories[bn] = fit(cnn, softmax_cross_entropy, SGD(cnn.parameters(), lr=CNN_LR), digits.X_train,
                                digits.y_train, epochs=CNN_EPOCHS, batch_size=50, rng=rng, progress=False,
                                on_nan="stop", validation_data=(digits.X_val, digits.y_val))
    print(f"{'with' if bn else 'without'} BatchNorm2d: val accuracy per epoch",
          np.round(cnn_histories[bn]["val_accuracy"], 2))

# %%
fig, ax = plt.subplots(figsize=(6, 4))
for bn in (False, True):
    plots.plot_history(cnn_histories[bn], metric="accuracy", ax=ax, label="BN" if bn else "plain", mark_best=False)
ax.set_title(f"small CNN, SGD lr {CNN_LR}")
plt.show()

# %% [markdown]
# ## 7. The lesson's claims, checked
#
# If a change to the course breaks the story told above, this cell fails (and so does
# the test suite).

# %% tags=["claims"]
plain_fast, bn_fast = runs[(False, 1.0, 1.0)], runs[(True, 1.0, 1.0)]
print(f"lr 1.0, He init: plain -> {outcome(plain_fast)} (final loss "
      f"{plain_fast['history']['loss'][-1]:.2f}); BN -> {outcome(bn_fast)}, val accuracy {bn_fast['val_acc']:.2f}")
assert plain_fast["history"].diverged or plain_fast["history"]["loss"][-1] > 2.0, "plain should fail at lr 1.0"
assert bn_fast["val_acc"] >= 0.85, "with batch norm the same learning rate should train well"
for s in INIT_SCALES:  # at lr 1.0 batch norm trains from every init scale, the plain net from none
    assert runs[(True, s, 1.0)]["val_acc"] >= 0.8 and outcome(runs[(False, s, 1.0)]) in ("diverged", "stalled")

step_ratio = {s: relative_step[s] / relative_step[1.0] for s in INIT_SCALES}
print("BN, first layer: ||dL/dW|| / ||W|| relative to init x1:", {f"x{s:g}": f"{r:.3f}" for s, r in step_ratio.items()})
assert all(abs(step_ratio[s] * s**2 - 1) < 0.01 for s in INIT_SCALES), "the relative step should scale as 1/s^2"
slow = [runs[(True, s, 0.01)]["val_acc"] for s in INIT_SCALES]
print("BN at lr 0.01 (effective 0.04, 0.01, 0.0025), val accuracy for init x0.5, x1, x2:", np.round(slow, 2))
assert slow[0] > slow[1] > slow[2], "under batch norm a larger init scale trains like a smaller learning rate"

depth_ratio = {name: s[-1] / s[0] for name, s in stds.items()}
print("last / first layer spread of pre-activations:", {k: f"{v:.3g}" for k, v in depth_ratio.items()})
assert depth_ratio["plain, init x0.5"] < 0.1 and depth_ratio["plain, init x2"] > 10
assert all(0.9 < depth_ratio[f"BN, init x{s:g}"] < 1.1 for s in INIT_SCALES)

layer = BatchNorm1d(5, dtype=np.float64)
layer.params["gamma"][:] = [0.5, 1.0, 2.0, 3.0, 0.25]
layer.params["beta"][:] = [-1.0, 0.0, 1.0, 2.0, 5.0]
hidden = activations["plain, init x1"][2][:, :5].astype(np.float64)
trained_out = layer.forward(hidden, training=True)
print("training-mode output: mean per feature", trained_out.mean(0).round(4) + 0.0,
      "std", trained_out.std(0).round(3))
assert np.allclose(trained_out.mean(0), layer.beta, atol=1e-6)
assert np.allclose(trained_out.std(0), layer.gamma, rtol=1e-3)

alone = bn_model.predict(X_val[:1])
in_batches = [bn_model.predict(X_val[idx])[list(idx).index(0)] for idx in (np.arange(50), np.r_[0, 100:140])]
max_change = max(float(np.abs(alone[0] - other).max()) for other in in_batches)
print(f"one sample's eval-mode logits alone and in two batches agree to 1e-5: {max_change < 1e-5}")
assert all(np.allclose(alone[0], other, rtol=1e-5, atol=1e-6) for other in in_batches)
assert acc_sorted < acc_running - 0.2, "batch statistics on one-digit batches should hurt accuracy"
se_ratio = standard_error[anchor] / standard_error[-1]
print(f"batch-norm noise from N = 64 to 256 falls {ratio_64_256:.2f}x (standard error of these batches: "
      f"{se_ratio:.2f}x, 1/sqrt(N): 2.00x); at N = 4 it is {spread[4] / guide[0]:.2f} of the guide")
assert spread[4] > 3 * spread[256], "batch-norm noise should shrink with the batch size"
assert ratio_64_256 > 2.0, "batches from a finite pool: the noise should fall faster than 1/sqrt(N) from 64 to 256"
cnn_mean_acc = {bn: float(np.mean(h["val_accuracy"])) for bn, h in cnn_histories.items()}
print(f"small CNN, mean validation accuracy over {CNN_EPOCHS} epochs: plain {cnn_mean_acc[False]:.2f}, "
      f"BN {cnn_mean_acc[True]:.2f}")
assert cnn_mean_acc[True] > cnn_mean_acc[False] + 0.05, "BatchNorm2d should speed up the small CNN"
assert cnn_histories[True]["val_accuracy"][-1] > cnn_histories[False]["val_accuracy"][-1]
print("All claims hold.")

# %% [markdown]
# ## What to remember
#
# * Training mode: per feature, over the batch, $\hat x = (x-\mu)/\sqrt{\sigma^2+\epsilon}$
#   with the **biased** variance, then $y = \gamma\hat x + \beta$. For images, per
#   channel over $N\cdot H\cdot W$.
# * Running statistics: $r \leftarrow (1-m)\,r + m\cdot\text{batch}$ with $m = 0.1$ and
#   the **unbiased** variance. Evaluation mode uses them, so a prediction never depends
#   on the rest of its batch. Forgetting `training=False` at test time is a classic bug.
# * Backward: $dx = \frac{s}{N}\big(N\,d\hat x - \sum d\hat x - \hat x\sum d\hat x\,\hat x\big)$,
#   $d\hat x = \gamma\,dy$. The mean and variance depend on $x$: leave out their paths
#   and the gradient is wrong.
# * What it buys: every layer's input keeps a sane scale, so deep networks train from
#   poor initializations and at much larger learning rates, in fewer epochs. Its
#   batch noise regularizes a little (the noise shrinks with the batch size); it is not a
#   substitute for the techniques of the earlier notebooks.
# * What it does not remove: the scale of the weights feeding a batch-norm layer no longer
#   changes the forward pass, but it sets the **effective learning rate**
#   $\eta/\|w\|^2$. Init scale (and weight decay) still matter, through the learning rate.
#
# | here | PyTorch | Keras |
# |---|---|---|
# | `BatchNorm1d(D)` on (N, D) | `nn.BatchNorm1d(D)` | `layers.BatchNormalization()` (last axis) |
# | `BatchNorm2d(C)` on (N, C, H, W) | `nn.BatchNorm2d(C)` | `layers.BatchNormalization(axis=1)` for channels-first (default `axis=-1`, NHWC) |
# | `momentum=0.1` (weight of the new batch) | `momentum=0.1` | `momentum=0.9` (weight of the old value; default 0.99) |
# | `eps=1e-5` (inside the square root) | `eps=1e-5` | `epsilon=1e-3` |
# | `gamma`, `beta` | `weight`, `bias` | `gamma`, `beta` |
# | `running_mean`, `running_var` (unbiased) | `running_mean`, `running_var` (unbiased) | `moving_mean`, `moving_variance` (biased batch variance) |
# | `forward(x, training=False)` | `model.eval()` | `model(x, training=False)` |
#
# Next: **06 · capstone**, every technique on one task.

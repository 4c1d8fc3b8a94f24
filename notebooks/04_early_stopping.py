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
# # 04 · Early stopping
#
# In notebook 00 the big MLP's validation loss reached its minimum after a handful of
# epochs and then climbed for hundreds more. The cheapest cure is to **stop when the
# validation loss stops improving** and keep the weights of the best epoch.
#
# In this notebook you will
# 1. watch training loss fall while validation loss turns up, and see why that needs a
#    validation split (and why the test set stays untouched);
# 2. see why early stopping *is* regularization: for a linear model, the number of
#    gradient steps plays the role of the L2 strength;
# 3. implement the per-epoch **decision** (improvement, `min_delta`, `wait`, `patience`)
#    and the **best-weights bookkeeping**, with Keras's exact rules;
# 4. use the finished `EarlyStopping` callback and compare it, on the test set, with
#    training to the end and with L2.

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
import math

import matplotlib.pyplot as plt
import numpy as np

from coursekit import datasets, plots
from coursekit.exercises import check, show_solution
from coursekit.layers import Dense, ReLU
from coursekit.losses import binary_cross_entropy_with_logits
from coursekit.model import Sequential
from coursekit.optim import Adam
from coursekit.training import evaluate, fit

# %% [markdown]
# ## 1. Training loss falls, validation loss turns up
#
# The same data and model as in notebook 00: 150 noisy training points, an MLP
# $2 \to 128 \to 128 \to 1$ trained with Adam. `train` builds the model from a fixed
# seed, so two calls with the same arguments give the same run, epoch for epoch.
#
# A small callback records how far the weights have moved from their initialization,
# $\lVert\theta_t - \theta_0\rVert$, after every epoch; we use it in section 2.

# %%
data = datasets.load_noisy_moons()
print("train", data.X_train.shape, "| val", data.X_val.shape, "| test", data.X_test.shape)

SEED, EPOCHS = 42, 300
loss_fn = binary_cross_entropy_with_logits


def train(*, epochs=EPOCHS, callbacks=(), regularizer=None):
    rng = np.random.default_rng(SEED)
    model = Sequential(Dense(2, 128, rng=rng), ReLU(), Dense(128, 128, rng=rng), ReLU(), Dense(128, 1, rng=rng))
    history = fit(model, loss_fn, Adam(model.parameters(), lr=1e-2), data.X_train, data.y_train, epochs=epochs,
                  batch_size=32, rng=rng, validation_data=(data.X_val, data.y_val), callbacks=callbacks,
                  regularizer=regularizer)
    return model, history


class DistanceFromInit:
    """Callback: ||theta_t - theta_0|| over all parameters, after every epoch."""

    def on_train_begin(self, model):
        self.model, self.start, self.distances = model, model.state_dict(), []

    def on_epoch_end(self, epoch, logs):
        now = self.model.state_dict()
        self.distances.append(math.sqrt(sum(float(np.sum((now[k] - self.start[k]) ** 2)) for k in now)))
        return False


distance = DistanceFromInit()
full_model, full_history = train(callbacks=[distance])
best_epoch = int(np.argmin(full_history["val_loss"]))
print(f"{full_history.epochs} epochs; lowest validation loss {min(full_history['val_loss']):.3f} at epoch "
      f"{best_epoch}; at the end {full_history['val_loss'][-1]:.3f}")

# %% [markdown]
# **Question: which epoch's weights would we want to keep?** The dot marks the epoch
# with the lowest validation loss. Everything after it makes the training loss smaller
# and the validation loss bigger: the network is fitting the noise.

# %%
fig, axes = plt.subplots(1, 2, figsize=(11, 4))
plots.plot_history(full_history, metric="loss", ax=axes[0], title="loss")
plots.plot_history(full_history, metric="accuracy", ax=axes[1], title="accuracy")
plt.show()

# %% [markdown]
# **Why a validation split.** "Stop at the best epoch" is a choice made by looking at
# data, like choosing λ for L2. If we made it on the training loss we would never stop
# (it keeps falling). If we made it on the **test** set, the test score would no longer
# be an honest estimate of performance on new data: we would have picked the epoch that
# happens to suit those 500 points. So the validation set decides when to stop, and the
# test set is used once, at the very end (section 6).

# %% [markdown]
# ## 2. Early stopping is regularization
#
# Gradient descent starts at $\theta_0$ and moves a bounded distance per step, so after
# $t$ steps the weights are still near where they started. Stopping early limits how far
# they can travel — just as an L2 penalty pulls them back towards 0.
#
# For a linear model with squared loss this is exact enough to see. With
# $L(w) = \frac{1}{2m}\lVert Xw - y\rVert^2$, $A = X^\top X/m$ (2×2), $b = X^\top y/m$:
#
# * **gradient descent** from $w_0 = 0$ with step $\eta$: $w_{t+1} = w_t - \eta\,(A w_t - b)$.
#   Along an eigenvector of $A$ with eigenvalue $s$ the coordinate is
#   $\big(1-(1-\eta s)^t\big)\,w^*$: big-curvature directions are learned first.
# * **ridge** (L2) with strength λ: $w(\lambda) = (A + \lambda I)^{-1} b$, coordinate
#   $\frac{s}{s+\lambda}\,w^*$: big-curvature directions are shrunk least.
#
# Both factors go from 0 to 1 and treat the directions alike; with $\lambda \approx 1/(\eta t)$
# they are close. So "$t$ steps" behaves like "λ = 1/(ηt)".

# %%
rng = np.random.default_rng(0)
m = 40
X_lin = np.column_stack([1.5 * rng.standard_normal(m), 0.4 * rng.standard_normal(m)])  # (40, 2)
y_lin = X_lin @ np.array([1.0, 2.0]) + 0.5 * rng.standard_normal(m)                       # (40,)
A, b = X_lin.T @ X_lin / m, X_lin.T @ y_lin / m
w_star = np.linalg.solve(A, b)
print("eigenvalues of A:", np.linalg.eigvalsh(A).round(3), "| least-squares solution w* =", w_star.round(3))

eta, steps = 0.2, 200
gd_path = np.zeros((steps + 1, 2))
for t in range(steps):
    gd_path[t + 1] = gd_path[t] - eta * (A @ gd_path[t] - b)
lambdas = np.logspace(2, -3, 300)
ridge_path = np.array([np.linalg.solve(A + lam * np.eye(2), b) for lam in lambdas])
print("gd_path:", gd_path.shape, "ridge_path:", ridge_path.shape)

# %% [markdown]
# **Question: do "more steps" and "less L2" move the weights the same way?** Left: the
# gradient-descent iterates $w_t$. Right: the ridge solutions $w(\lambda)$ (large λ near
# the origin). Both are coloured by the step count, using $t = 1/(\eta\lambda)$ for ridge, so
# equal colours are partners. Grey ellipses: contours of the training loss; dashed: the
# other method's path.

# %%
g1, g2 = np.meshgrid(np.linspace(-0.3, 1.5, 120), np.linspace(-0.3, 3.0, 120))
grid = np.stack([g1.ravel(), g2.ravel()], axis=1)
train_mse = (0.5 * np.mean((grid @ X_lin.T - y_lin) ** 2, axis=1)).reshape(g1.shape)

fig, axes = plt.subplots(1, 2, figsize=(11, 4.5), sharex=True, sharey=True)
panels = [(gd_path, np.arange(steps + 1), "gradient descent: $w_t$", ridge_path),
          (ridge_path, 1 / (eta * lambdas), "ridge: $w(\\lambda)$, at $t = 1/(\\eta\\lambda)$", gd_path)]
for ax, (path, step, title, other) in zip(axes, panels):
    ax.contour(g1, g2, train_mse, levels=15, colors="0.8", linewidths=0.8)
    ax.plot(other[:, 0], other[:, 1], "--", color="0.4", linewidth=1)
    points = ax.scatter(path[:, 0], path[:, 1], c=np.log10(step + 1), s=12, cmap="viridis",
                        vmin=0, vmax=np.log10(steps + 1))
    fig.colorbar(points, ax=ax, label="log10(step t + 1)")
    ax.plot(*w_star, "r*", markersize=12, label="$w^*$ (no regularization)")
    ax.plot(0, 0, "ks", label="0 (start / λ = ∞)")
    ax.set_title(title)
    ax.set_xlabel("$w_1$")
    ax.legend(fontsize=8, loc="lower right")
axes[0].set_ylabel("$w_2$")
plt.show()

# %% [markdown]
# The two paths nearly coincide. In numbers: the largest distance from a gradient-descent
# iterate to the ridge path, and from $w_t$ to its partner $w(\lambda = 1/(\eta t))$,
# relative to $\lVert w^*\rVert$:

# %%
gap_to_path = max(np.min(np.linalg.norm(ridge_path - w, axis=1)) for w in gd_path) / np.linalg.norm(w_star)
partner_gap = max(np.linalg.norm(gd_path[t] - np.linalg.solve(A + np.eye(2) / (eta * t), b))
                  for t in range(1, steps + 1)) / np.linalg.norm(w_star)
print(f"max distance from w_t to the ridge path:      {gap_to_path:.1%} of |w*|")
print(f"max distance from w_t to w(lambda = 1/(eta t)): {partner_gap:.1%} of |w*|")

# %% [markdown]
# **Question: does the MLP behave the same way?** Its weights also drift away from their
# initialization as epochs go by; stopping at the best epoch keeps them close.

# %%
fig, ax = plt.subplots(figsize=(6, 3.5))
ax.plot(distance.distances)
ax.axvline(best_epoch, color="k", linestyle=":", label=f"best validation epoch ({best_epoch})")
ax.set_xlabel("epoch")
ax.set_ylabel(r"$\|\theta_t - \theta_0\|$")
ax.set_title("how far the MLP's weights have travelled")
ax.legend(fontsize=8)
plt.show()
print(f"distance at the best epoch {distance.distances[best_epoch]:.1f}, at the end {distance.distances[-1]:.1f}")

# %% [markdown]
# ## 3. The rule, exactly as Keras applies it
#
# After every epoch, early stopping looks at one logged number, `current` (by default
# `val_loss`), and keeps two numbers: `best`, the best value so far (start: $+\infty$ in
# **min** mode, $-\infty$ in **max** mode, e.g. for accuracy), and `wait`, the epochs since
# the last improvement (start: 0). Each epoch:
#
# 1. `wait = wait + 1`;
# 2. **improvement?** min mode: $\text{current} < \text{best} - \text{min\_delta}$;
#    max mode: $\text{current} > \text{best} + \text{min\_delta}$. Strictly: **equal is not
#    an improvement**, and neither is a change of exactly `min_delta`. **NaN is never an
#    improvement** (every comparison with NaN is `False`, so write the test so that
#    `False` means "no");
# 3. if it improved: `best = current`, `wait = 0`, and this epoch **never** stops training;
# 4. otherwise stop when `wait >= patience`. With `patience = 3` the third epoch in a row
#    without improvement stops; with `patience = 0` the first one does.
#
# (The finished callback adds three Keras details: it never stops at epoch 0, a
# `baseline` must also be beaten before `wait` resets, and epochs before
# `start_from_epoch` are not monitored.)

# %% [markdown]
# ### Exercise 1 — one epoch of the early-stopping decision

# %% tags=["exercise"]
def early_stopping_step(best, wait, current, *, min_delta, patience, mode):
    """One epoch of early stopping.

    best:      best monitored value so far (inf in "min" mode, -inf in "max" mode before any epoch)
    wait:      epochs since the last improvement
    current:   this epoch's monitored value (may be NaN)
    min_delta: >= 0, an improvement must be bigger than this
    patience:  >= 0
    mode:      "min" (lower is better) or "max" (higher is better)
    returns:   (best, wait, improved, stop) - the new best and wait, and two bools
    """
    # YOUR CODE HERE
    raise NotImplementedError

# %% tags=["check"]
early_stopping_step = check("early_stopping_step", early_stopping_step)

# %% [markdown]
# ## 4. Patience on the recorded curve
#
# The decision only needs the validation curve. Training is reproducible (`train` reseeds
# everything), so replaying your `early_stopping_step` on the long run's recorded curve
# tells us exactly where a live run would stop — without retraining. (Like the
# callback, `replay` never stops at epoch 0.)

# %%
def replay(values, *, patience, min_delta=0.0, mode="min"):
    """(stopped_epoch or None, best_epoch) of early stopping run on a recorded curve."""
    best, wait, best_epoch = (math.inf if mode == "min" else -math.inf), 0, 0
    for epoch, current in enumerate(values):
        best, wait, improved, stop = early_stopping_step(best, wait, current, min_delta=min_delta,
                                                         patience=patience, mode=mode)
        if improved:
            best_epoch = epoch
        if stop and epoch > 0:
            return epoch, best_epoch
    return None, best_epoch


PATIENCES = [0, 2, 5, 20]
stops = {f"patience {p}": replay(full_history["val_loss"], patience=p) for p in PATIENCES}
for label, (stopped, kept) in stops.items():
    print(f"{label:>11}: stops after epoch {stopped}, keeps epoch {kept} "
          f"(val loss {full_history['val_loss'][kept]:.4f})")

# %% [markdown]
# **Question: how much patience does it take to find the real minimum?** Dotted lines:
# where each setting stops; dots: the epoch whose weights it keeps. (Zoomed in on the
# first 40 epochs.)

# %%
plots.plot_early_stopping(full_history, stops, max_epoch=40, title="early stopping with different patience")
plt.show()

# %% [markdown]
# The validation curve is noisy near its minimum. Patience 0 stops at the first
# wobble, long before the minimum; a few epochs of patience ride over the wobbles; more
# patience than that finds the same minimum and only costs extra epochs (which is cheap,
# because we keep the best weights, not the last ones).

# %% [markdown]
# ## 5. Keeping the best weights
#
# Stopping is not enough: a run stops `patience` epochs *after* its best epoch, and by
# then the weights have moved on. We want the weights of the **best** epoch. So after
# every epoch that improves, save a snapshot; when training ends, load it back.
#
# Two traps:
# * **Copy, don't reference.** The optimizer updates the parameter arrays *in place*
#   (`p -= lr * grad`). If you save the arrays themselves, your "best weights" change with
#   every later step. (PyTorch's `model.state_dict()` returns references, hence the idiom
#   `copy.deepcopy(model.state_dict())`; `coursekit`'s `state_dict()` already copies.)
# * **Restore at the end of training, stopped early or not.** A run that uses up all its
#   epochs has also passed its best epoch, usually long ago.
#
# Below, `params` is the tuple of a model's live parameter arrays,
# `tuple(p.value for p in model.parameters())`.

# %% [markdown]
# ### Exercise 2 — save a snapshot after an improving epoch

# %% tags=["exercise"]
def save_best_weights(params, best_weights, *, improved):
    """The weights to remember after an epoch.

    params:       tuple of the model's live parameter arrays (the optimizer changes them in place)
    best_weights: tuple of arrays saved earlier, or None if nothing is saved yet
    improved:     whether this epoch improved the monitored value
    returns:      a tuple of copies of params if improved, or if nothing is saved yet (so there is
                  always something to restore); otherwise best_weights unchanged
    """
    # YOUR CODE HERE
    raise NotImplementedError

# %% tags=["check"]
save_best_weights = check("save_best_weights", save_best_weights)

# %% [markdown]
# ### Exercise 3 — restore the snapshot when training ends

# %% tags=["exercise"]
def restore_best_weights(params, best_weights, *, stopped_early):
    """Write the saved weights back into the model's arrays, in place.

    params:        tuple of the model's live parameter arrays
    best_weights:  tuple of saved arrays (same shapes), or None if nothing was saved
    stopped_early: whether early stopping ended training (True) or the epochs ran out (False)
    returns:       params (the same arrays, now holding the saved values)
    """
    # YOUR CODE HERE
    raise NotImplementedError

# %% tags=["check"]
restore_best_weights = check("restore_best_weights", restore_best_weights)

# %% [markdown]
# Your three functions make a complete early-stopping callback for `fit`:

# %%
class MyEarlyStopping:
    def __init__(self, *, patience, min_delta=0.0):
        self.patience, self.min_delta = patience, min_delta

    def on_train_begin(self, model):
        self.params = tuple(p.value for p in model.parameters())
        self.best, self.wait, self.saved, self.stopped = math.inf, 0, None, False

    def on_epoch_end(self, epoch, logs):
        self.best, self.wait, improved, stop = early_stopping_step(
            self.best, self.wait, logs["val_loss"], min_delta=self.min_delta, patience=self.patience, mode="min")
        self.saved = save_best_weights(self.params, self.saved, improved=improved)
        self.stopped = stop and epoch > 0
        return self.stopped

    def on_train_end(self):
        restore_best_weights(self.params, self.saved, stopped_early=self.stopped)


mine = MyEarlyStopping(patience=5)
my_model, my_history = train(callbacks=[mine])
my_val_loss, _ = evaluate(my_model, loss_fn, data.X_val, data.y_val)
print(f"stopped after epoch {my_history.stopped_epoch}; validation loss of the restored model {my_val_loss:.4f}, "
      f"best recorded {min(my_history['val_loss']):.4f}")

# %% [markdown]
# ## 6. Now the finished version
#
# `coursekit.early_stopping.EarlyStopping` follows Keras 3's `EarlyStopping`:
# `monitor="val_loss"`, `min_delta=0`, `patience=0`, `mode="auto"` (min for losses, max for
# accuracy), `baseline=None`, `restore_best_weights=False`, `start_from_epoch=0`,
# `verbose=0`. After training it has `best`, `best_epoch`, `wait` and `stopped_epoch`
# (0-based), and `fit` copies its `stop_reason` into the `History`.

# %%
from coursekit.early_stopping import EarlyStopping
from coursekit.regularization import L2

PATIENCE = 5
early = EarlyStopping(monitor="val_loss", patience=PATIENCE, restore_best_weights=True)
es_model, es_history = train(callbacks=[early])
print(es_history)
print("History.stopped_epoch:", es_history.stopped_epoch)
print("History.stop_reason:  ", es_history.stop_reason)
print("best epoch:", early.best_epoch, "| best val_loss:", early.best)

# %% [markdown]
# A typo in `monitor` fails at the end of the first epoch and lists what was logged:

# %%
try:
    train(epochs=2, callbacks=[EarlyStopping(monitor="val_acc", mode="max")])
except ValueError as err:
    print("ValueError:", err)

# %% [markdown]
# **Restored means restored.** `fit` logs `val_loss` with `evaluate` on the validation
# set; evaluating the restored model the same way must give the minimum of the recorded
# curve, to the last bit.

# %%
restored_val_loss, restored_val_acc = evaluate(es_model, loss_fn, data.X_val, data.y_val)
print(f"restored model: val loss {restored_val_loss!r}")
print(f"minimum logged: val loss {min(es_history['val_loss'])!r} (epoch {int(np.argmin(es_history['val_loss']))})")
print(f"the replay said patience {PATIENCE} stops at {stops[f'patience {PATIENCE}'][0]}; "
      f"the live run stopped at {es_history.stopped_epoch}")

# %% [markdown]
# ## 7. On the test set: early stopping vs training to the end vs L2
#
# Three candidates, each chosen with the validation set only: the full 300-epoch run, the
# early-stopped run, and 300 epochs with the L2 penalty of notebook 01, its λ picked from
# a small sweep by validation loss. Now — once — the test set.

# %%
l2_runs = {}
for lambd in [0.1, 0.3, 1.0]:
    l2_model, _ = train(regularizer=L2(lambd))
    l2_runs[lambd] = (evaluate(l2_model, loss_fn, data.X_val, data.y_val)[0], l2_model)
    print(f"L2 lambda = {lambd}: val loss {l2_runs[lambd][0]:.3f}")
best_lambd = min(l2_runs, key=lambda lam: l2_runs[lam][0])

candidates = {"train to the end (300 epochs)": full_model,
              f"early stopping (patience {PATIENCE}, epoch {early.best_epoch})": es_model,
              f"L2, lambda = {best_lambd} (300 epochs)": l2_runs[best_lambd][1]}
test_scores = {name: evaluate(model, loss_fn, data.X_test, data.y_test) for name, model in candidates.items()}
print(f"\n{'':42} test loss  test accuracy")
for name, (test_loss, test_acc) in test_scores.items():
    print(f"{name:42} {test_loss:8.3f}  {test_acc:12.1%}")

# %% [markdown]
# Early stopping removes most of the damage of training too long: the test loss drops
# several-fold and accuracy goes up, at the price of one validation evaluation per epoch
# (and it *saves* training time). A well-tuned L2 does at least as well here, but needed
# a sweep of full-length runs to tune λ. The two are not exclusive: in practice one often
# uses a little weight decay *and* early stopping with restored weights.

# %% [markdown]
# ## 8. The lesson's claims, checked

# %% tags=["claims"]
(full_test_loss, full_test_acc), (es_test_loss, es_test_acc), _ = test_scores.values()
print(f"stopped at epoch {es_history.stopped_epoch} of {EPOCHS}; restored val loss {restored_val_loss:.4f}")
assert es_history.stopped_epoch is not None and es_history.epochs < EPOCHS, "early stopping should stop early"
assert restored_val_loss == min(es_history["val_loss"]), "restored weights reproduce the best val loss exactly"
assert early.best_epoch == int(np.argmin(es_history["val_loss"])) == es_history.stopped_epoch - PATIENCE
assert es_history.stopped_epoch == stops[f"patience {PATIENCE}"][0], "replaying the curve predicts the live stop"
assert my_val_loss == min(my_history["val_loss"]), "your callback restores the best epoch too"
assert stops["patience 0"][1] < stops["patience 20"][1], "no patience stops before the real minimum"
assert full_history["val_loss"][-1] > 3 * min(full_history["val_loss"]), "training too long hurts validation loss"
assert distance.distances[-1] > 3 * distance.distances[best_epoch], "the weights keep travelling after the best epoch"
assert gap_to_path < 0.1, "gradient descent follows the ridge path (early stopping ~ L2 for a linear model)"
assert es_test_loss < 0.5 * full_test_loss and es_test_acc > full_test_acc, "early stopping beats training to the end"
print("All claims hold.")

# %% [markdown]
# ## What to remember
#
# * The validation loss, not the training loss, says when to stop; the test set is not
#   consulted until the very end.
# * Early stopping limits how far the weights travel from their initialization; for a
#   linear model with squared loss, $t$ steps of gradient descent ≈ L2 with
#   $\lambda \approx 1/(\eta t)$.
# * Keras's rule: improvement means `current < best - min_delta` (min mode) or
#   `current > best + min_delta` (max mode), strictly; NaN never improves; `wait += 1`
#   every epoch, reset on improvement; stop when `wait >= patience` (never at epoch 0).
# * Keep a **copy** of the best weights and restore it at the end of training, whether it
#   stopped early or not.
#
# | here | PyTorch | Keras |
# |---|---|---|
# | `EarlyStopping(monitor="val_loss", min_delta=0.0, patience=0, mode="auto", baseline=None, restore_best_weights=False, start_from_epoch=0)` | no built-in; Lightning's `EarlyStopping(monitor, min_delta, patience, mode)` has no `restore_best_weights` (pair it with `ModelCheckpoint(save_top_k=1)`) | `keras.callbacks.EarlyStopping(...)`: same names, defaults and rules |
# | `model.state_dict()` (copies) | `copy.deepcopy(model.state_dict())` (`state_dict()` alone returns references) | `model.get_weights()` (copies) |
# | `stopped_epoch`, 0-based | — | `stopped_epoch`, 0-based; printed messages count epochs from 1 |
# | `fit` returns a `History` with `stop_reason`, `stopped_epoch` | in your own loop: `break` | `model.stop_training = True` ends `model.fit` |
#
# Where this differs from Keras, it is to fail loudly: an unknown `mode`, a negative
# `patience` or `min_delta`, or a `monitor` that is not logged raise a `ValueError` here. (Keras warns and
# falls back to `"auto"` for an unknown mode, takes `abs(min_delta)`, accepts a negative
# patience, and only warns about a missing monitor, so that run never stops.)
#
# Next: **05 · Batch normalization**.

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
# # 04 · Early stopping
#
# In notebook 00 the baseline's validation loss reached its minimum after a handful of
# epochs and then climbed for the rest of the run; dropout (notebook 02) slowed that climb
# but did not stop it. The cheapest cure is to **stop when the validation loss stops
# improving** and keep the weights of the best epoch.
#
# In this notebook you will
# 1. watch training loss fall while validation loss turns up, and see why that needs a
#    validation split (and why the test set stays untouched);
# 2. see why early stopping *is* regularization: for a linear model, the number of
#    gradient steps plays the role of the L2 strength;
# 3. implement the per-epoch **decision** (improvement, `min_delta`, `wait`, `patience`)
#    and the **best-weights bookkeeping**, with Keras's exact rules;
# 4. use the finished `EarlyStopping` callback, and see where it differs from Keras;
# 5. end notebooks 00–04 with a **head-to-head table**: no regularization, L2, dropout,
#    early stopping and their combinations, on the same five seeds, scored once on the
#    test set against the best possible.

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
from coursekit.experiments import seed_streams
from coursekit.losses import binary_cross_entropy_with_logits
from coursekit.models import MOONS_EPOCHS, MOONS_SEEDS, train_moons_mlp
from coursekit.training import evaluate

# %% [markdown]
# ## 1. Training loss falls, validation loss turns up
#
# The data, the baseline model and the recipe of notebook 00 (`train_moons_mlp`: plain SGD,
# batches of 30, 150 epochs), on the first of its five seeds. `seed_streams(SEED)` fixes
# the initial weights and the batch order, so two runs with the same seed are the same
# run, epoch for epoch.
#
# A small callback records how far the weights have moved from their initialization,
# $\lVert\theta_t - \theta_0\rVert$, after every epoch; we use it in section 2.

# %%
data = datasets.load_noisy_moons()
print("train", data.X_train.shape, "| val", data.X_val.shape, "| test", data.X_test.shape)
SEED = MOONS_SEEDS[0]
loss_fn = binary_cross_entropy_with_logits


class DistanceFromInit:
    """Callback: ||theta_t - theta_0|| over all parameters, after every epoch."""

    def on_train_begin(self, model):
        self.model, self.start, self.distances = model, model.state_dict(), []

    def on_epoch_end(self, epoch, logs):
        now = self.model.state_dict()
        self.distances.append(math.sqrt(sum(float(np.sum((now[k] - self.start[k]) ** 2)) for k in now)))
        return False


distance = DistanceFromInit()
full_model, full_history = train_moons_mlp(data, seed_streams(SEED), callbacks=[distance])
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
plots.plot_history(full_history, metric="accuracy", ax=axes[1], title="accuracy",
                   mark_best=False)  # the course chooses by validation loss
plt.show()

# %% [markdown]
# **Why a validation split.** "Stop at the best epoch" is a choice made by looking at
# data, like choosing λ for L2. If we made it on the training loss we would never stop
# (it keeps falling). If we made it on the **test** set, the test score would no longer
# be an honest estimate of performance on new data: we would have picked the epoch that
# happens to suit those 500 points. So the validation set decides when to stop, and the
# test set is used once, at the very end (section 8).

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
# "Exactly `min_delta`" needs care in floating point: `0.07 - 0.01` is
# `0.06000000000000001` in float64, so the literal test `0.06 < 0.07 - 0.01` calls the step
# 0.07 → 0.06 with `min_delta = 0.01` an improvement. With the gain
# $g = \text{best} - \text{current}$ (max mode: $\text{current} - \text{best}$), coursekit counts an
# improvement when $g - \text{min\_delta} > 8\,\varepsilon \max(|\text{best}|, |\text{current}|, \text{min\_delta})$,
# $\varepsilon$ = `np.finfo(float).eps` (a few roundings' worth); with `min_delta = 0` simply
# when $g > 0$.
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
    min_delta: >= 0, an improvement must beat best by more than this (by exactly min_delta is
               not enough, even where float rounding makes the difference look bigger)
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
# The decision only needs the validation curve. Training is reproducible (the same seed
# gives the same run), so replaying your `early_stopping_step` on the long run's recorded
# curve tells us exactly where a live run would stop — without retraining. (Like the
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
# first 45 epochs.)

# %%
ax = plots.plot_early_stopping(full_history, stops, max_epoch=45, title="early stopping with different patience")
shown = np.array(full_history["val_loss"][:46])
ax.set_ylim(shown.min() - 0.1, shown.max() + 0.05)  # zoom on the validation curve (the training loss starts higher)
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
#   epochs has also passed its best epoch, usually long ago. Keras did not always agree:
#   `tf.keras` 2 (TensorFlow up to 2.15) restored the best weights **only when it stopped
#   training itself**, so a run that used all its epochs kept its last weights
#   (keras-team/keras#12511, tensorflow/tensorflow#35634). **Keras 3 restores them at the
#   end of training either way**, as coursekit does. That is why the exercise below takes
#   a `stopped_early` argument and must not use it.
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
    stopped_early: whether early stopping ended training (True) or the epochs ran out (False).
                   UNUSED on purpose: Keras 3 restores either way (tf.keras 2 restored only when
                   stopped_early was True); the argument is here so you can see the difference
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
my_model, my_history = train_moons_mlp(data, seed_streams(SEED), callbacks=[mine])
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

PATIENCE = 10
early = EarlyStopping(monitor="val_loss", patience=PATIENCE, restore_best_weights=True)
es_model, es_history = train_moons_mlp(data, seed_streams(SEED), callbacks=[early])
print(es_history)
print("History.stopped_epoch:", es_history.stopped_epoch)
print("History.stop_reason:  ", es_history.stop_reason)
print("best epoch:", early.best_epoch, "| best val_loss:", early.best)

# %% [markdown]
# A typo in `monitor` fails at the end of the first epoch and lists what was logged:

# %%
try:
    train_moons_mlp(data, seed_streams(SEED), epochs=2, callbacks=[EarlyStopping(monitor="val_acc", mode="max")])
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
print(f"the replay says patience {PATIENCE} stops at {replay(full_history['val_loss'], patience=PATIENCE)[0]}; "
      f"the live run stopped at {es_history.stopped_epoch}")

# %% [markdown]
# ### Where coursekit differs from Keras 3, on purpose
#
# * **A NaN never becomes `best`.** Keras 3 starts `best` as "nothing yet" and accepts the
#   first monitored value whatever it is: if the first epoch's loss is NaN, `best` is NaN,
#   no later value can beat it (every comparison with NaN is false), and training stops
#   after `patience` epochs with nothing learned. Here `best` starts at $\pm\infty$, and NaN
#   is never an improvement, so the first finite value becomes `best` (a warning names
#   the NaN epoch).
# * **Float64 comparisons, and "exactly `min_delta`" is exact.** Keras compares
#   `current - min_delta` with `best` in its backend's float32; coursekit compares Python
#   floats (float64) and forgives the rounding of a step of exactly `min_delta` (section 3).
# * **Bad settings fail loudly.** An unknown `mode`, a negative `patience` or `min_delta`, or
#   a `monitor` that is not logged raise a `ValueError` here. (Keras warns and falls back to
#   `"auto"` for an unknown mode, takes `abs(min_delta)`, accepts a negative patience, and
#   only warns about a missing monitor, so that run never stops.)
#
# The first difference, on a made-up curve that starts with NaN:

# %%
import warnings

nan_first = EarlyStopping(patience=2)
nan_first.on_train_begin(model=None)  # restore_best_weights=False needs no model
with warnings.catch_warnings(record=True) as caught:
    warnings.simplefilter("always")
    decisions = [nan_first.on_epoch_end(epoch, {"val_loss": value})
                 for epoch, value in enumerate([math.nan, 0.52, 0.48, 0.50])]
print(f"stop decisions {decisions}; best {nan_first.best} at epoch {nan_first.best_epoch} "
      f"(Keras 3 would keep best = nan and stop after epoch 2); warning: {caught[0].message}")

# %% [markdown]
# ## 7. One run, two results
#
# Early stopping only decides *when* a run ends; the epochs before that are the same as
# in a run without it. So a full run can also tell us, for free, what the early-stopped
# run would have ended with: watch it with `EarlyStopping`'s rule, but never stop, and
# keep a copy of the weights it would have restored. That is
# `coursekit.experiments.EarlyStoppingSnapshot`. The head-to-head table below uses it to
# get each configuration with and without early stopping from one run per seed, and for
# several patiences at once. Is it really the same? Compare with the live run of section 6,
# bit for bit:

# %%
from coursekit.experiments import EarlyStoppingSnapshot

snapshot = EarlyStoppingSnapshot(patience=PATIENCE)
watched_model, watched_history = train_moons_mlp(data, seed_streams(SEED), callbacks=[snapshot])
print(f"the watched run trained all {watched_history.epochs} epochs; the snapshot says it would have stopped "
      f"after epoch {snapshot.stopped_epoch}, keeping epoch {snapshot.best_epoch}")
snapshot_identical = all(np.array_equal(snapshot.weights[k], v) for k, v in es_model.state_dict().items())
print("snapshot weights == the live early-stopped run's weights, bit for bit:", snapshot_identical)

# %% [markdown]
# ## 8. Head to head: no regularization, L2, dropout, early stopping, and combinations
#
# Notebooks 00–04 used one data set, one baseline model, one recipe, one selection
# criterion (the validation loss) and the same five seeds. Now every technique meets the
# others there:
#
# * **L2** with $\lambda$ = `MOONS_LAMBD`, the value notebook 01 chose on the validation loss;
# * **dropout** with `drop_prob` = `MOONS_DROP_PROB`, chosen in notebook 02 the same way;
# * **early stopping** on the validation loss with the best weights restored, its patience
#   chosen here, per configuration, from {5, 10, 20, 40} on the mean validation loss (the
#   smallest of equally good ones: more patience would only cost epochs);
# * and their combinations.
#
# Each seed trains four networks (none, L2, dropout, L2 + dropout) for the full 150
# epochs; an `EarlyStoppingSnapshot` per patience gives the early-stopped version of each.
# Everything is chosen on validation data; the test set is scored here, once.

# %%
from coursekit.experiments import compare_paired, results_table, run_seeds, summarize
from coursekit.models import MOONS_DROP_PROB, MOONS_LAMBD
from coursekit.regularization import L2

PATIENCE_GRID = (5, 10, 20, 40)
BASES = {"none": {}, "L2": {"regularizer": MOONS_LAMBD}, "dropout": {"drop_prob": MOONS_DROP_PROB},
         "L2 + dropout": {"regularizer": MOONS_LAMBD, "drop_prob": MOONS_DROP_PROB}}


def scores(model):
    val_loss, val_acc = evaluate(model, loss_fn, data.X_val, data.y_val)
    test_loss, test_acc = evaluate(model, loss_fn, data.X_test, data.y_test)
    return {"val_loss": val_loss, "val_acc": val_acc, "test_loss": test_loss, "test_acc": test_acc}


def head_to_head(settings):
    """A run_seeds function: one full run of a configuration, scored at the end and at each patience's stop."""
    def run(streams):
        snapshots = {p: EarlyStoppingSnapshot(patience=p) for p in PATIENCE_GRID}
        regularizer = L2(settings["regularizer"]) if "regularizer" in settings else None
        model, history = train_moons_mlp(data, streams, regularizer=regularizer,
                                         drop_prob=settings.get("drop_prob", 0.0), callbacks=list(snapshots.values()))
        row = {**scores(model), "epochs": history.epochs}
        for p, snap in snapshots.items():
            model.load_state_dict(snap.weights)  # the weights EarlyStopping(patience=p) would have ended with
            row.update({f"{key} ES{p}": value for key, value in scores(model).items()})
            row[f"epochs ES{p}"] = snap.epochs
        return row
    return run


raw = {name: run_seeds(head_to_head(settings), MOONS_SEEDS, desc=name) for name, settings in BASES.items()}

# %% [markdown]
# Early stopping's patience, per configuration, on the mean validation loss:

# %%
METRICS = ("val_loss", "val_acc", "test_loss", "test_acc", "epochs")
table, chosen_patience = {}, {}
for name, rows in raw.items():
    table[name] = [{"seed": r["seed"], **{k: r[k] for k in METRICS}} for r in rows]
    mean_val = {p: summarize([r[f"val_loss ES{p}"] for r in rows])[0] for p in PATIENCE_GRID}
    chosen_patience[name] = min(p for p in PATIENCE_GRID if mean_val[p] == min(mean_val.values()))
    print(f"{name:13s} mean validation loss with patience " +
          ", ".join(f"{p}: {v:.4f}" for p, v in mean_val.items()) + f"  -> patience {chosen_patience[name]}")
for name, rows in raw.items():
    p = chosen_patience[name]
    label = "early stopping" if name == "none" else f"{name} + early stopping"
    table[label] = [{"seed": r["seed"], **{k: r[f"{k} ES{p}"] for k in METRICS}} for r in rows]
order = ["none", "L2", "dropout", "early stopping", "L2 + dropout", "L2 + early stopping",
         "dropout + early stopping", "L2 + dropout + early stopping"]
table = {name: table[name] for name in order}

# %% [markdown]
# **The table.** Mean ± sd over the five seeds; then, seed by seed against "none" (same
# initial weights, same batches), on how many seeds each configuration did better on
# the test set, and how many epochs it trained (mean; "none" trains all 150). The
# Bayes-optimal rule of notebook 00 on the same test points is the best any model can do.

# %%
bayes_test_loss, bayes_test_acc = datasets.noisy_moons_bayes_scores(data.X_test, data.y_test)
print(results_table(table, ["val_loss", "val_acc", "test_loss", "test_acc"], percent=["val_acc", "test_acc"]))
print(f"Bayes rule on the test split: test loss {bayes_test_loss:.3f}, test accuracy {100 * bayes_test_acc:.1f}%\n")
comparisons = {name: {key: compare_paired(rows, table["none"], key, names=(name, "none"))
                      for key in ("test_loss", "test_acc")} for name, rows in table.items() if name != "none"}
print(f"{'vs none, per seed':31s} {'test loss lower':>16s} {'test accuracy higher':>21s}  {'mean change':>12s}  "
      f"epochs trained")
for name, c in comparisons.items():
    epochs = summarize([r["epochs"] for r in table[name]])[0]
    print(f"{name:31s} {c['test_loss'].wins:>10d} of {c['test_loss'].n} {c['test_acc'].wins:>15d} of "
          f"{c['test_acc'].n}  {100 * c['test_acc'].mean_difference:+6.1f} points  {epochs:8.0f}")

# %% [markdown]
# **Question: how close to the best possible does each configuration get?** Left, test
# accuracy; right, test loss. Black ticks are means over the seeds, dots single seeds (one
# colour per seed, so you can follow a seed down the rows), the dashed line is "none",
# the dotted line the Bayes-optimal rule on the same test points.

# %%
fig, axes = plt.subplots(1, 2, figsize=(13, 5.2), sharey=True, constrained_layout=True)
plots.plot_seed_results(table, "test_acc", ax=axes[0], baseline="none", reference=bayes_test_acc,
                        reference_label="Bayes-optimal rule", percent=True, xlabel="test accuracy (%)",
                        title="test accuracy (higher is better)")
plots.plot_seed_results(table, "test_loss", ax=axes[1], baseline="none", reference=bayes_test_loss,
                        reference_label="Bayes-optimal rule", xlabel="test loss (cross-entropy)",
                        title="test loss (lower is better)")
plt.show()

# %% [markdown]
# What the table says (we designed these experiments on 20 other seeds; what follows held
# on every group of five of them, and the claims below check it on these five):
#
# * **Every technique cuts the test loss, on every seed.** The unregularized network is
#   overconfident: when it is wrong it is very sure, and cross-entropy punishes that.
# * **Only L2 makes the network clearly more accurate**, on every seed, to within about a
#   point of the Bayes-optimal rule: shrinking the weights smooths the boundary towards the
#   true one (notebook 01).
# * **Early stopping** is nearly free (a fraction of the epochs) and cuts the test loss by
#   about a third, but its accuracy is about the baseline's: the early network is
#   cautious, not better at telling the moons apart. **Dropout** behaves alike here: lower
#   loss, about the same accuracy.
# * **Regularizers do not add up.** L2 + dropout is no more accurate than L2 alone, and
#   early stopping on top of L2 only helps with enough patience: L2's validation loss keeps
#   improving slowly for a hundred epochs, so a small patience would stop it on a plateau
#   (look at the patience table above). The configuration chosen on validation loss below
#   is a regularized one, and no combination beats the best single technique by more than
#   the seed-to-seed spread.

# %%
mean_val_loss = {name: summarize([r["val_loss"] for r in rows])[0] for name, rows in table.items()}
chosen = min(mean_val_loss, key=mean_val_loss.get)
test_acc_mean, test_acc_sd = summarize([r["test_acc"] for r in table[chosen]])
print(f"chosen on the mean validation loss: {chosen!r}; its test accuracy {test_acc_mean:.1%} ± {test_acc_sd:.1%} "
      f"(Bayes rule {bayes_test_acc:.1%}, none {summarize([r['test_acc'] for r in table['none']])[0]:.1%})")

# %% [markdown]
# ## 9. The lesson's claims, checked

# %% tags=["claims"]
none_rows = table["none"]
print(f"stopped at epoch {es_history.stopped_epoch} of {MOONS_EPOCHS}; restored val loss {restored_val_loss:.4f}")
print(f"distance travelled: best epoch {distance.distances[best_epoch]:.2f}, end {distance.distances[-1]:.2f}")
print("chosen patience:", chosen_patience, "| chosen configuration:", chosen)
for name, rows in table.items():
    print(f"{name:31s} " + " ".join(f"{r['test_acc']:.3f}/{r['test_loss']:.3f}" for r in rows))
assert es_history.stopped_epoch is not None and es_history.epochs < MOONS_EPOCHS, "early stopping should stop early"
assert restored_val_loss == min(es_history["val_loss"]), "restored weights reproduce the best val loss exactly"
assert early.best_epoch == int(np.argmin(es_history["val_loss"])) == es_history.stopped_epoch - PATIENCE
assert es_history.stopped_epoch == replay(full_history["val_loss"], patience=PATIENCE)[0], \
    "replaying the curve predicts the live stop"
assert my_val_loss == min(my_history["val_loss"]), "your callback restores the best epoch too"
assert stops["patience 0"][1] < stops["patience 20"][1], "no patience stops before the real minimum"
assert full_history["val_loss"][-1] > 1.5 * min(full_history["val_loss"]), "training too long hurts validation loss"
assert distance.distances[-1] > 2 * distance.distances[best_epoch], "the weights keep travelling after the best epoch"
assert gap_to_path < 0.1, "gradient descent follows the ridge path (early stopping ~ L2 for a linear model)"
assert nan_first.best == 0.48 and nan_first.best_epoch == 2, "a NaN first value never becomes best"
assert snapshot_identical, "one full run gives the early-stopped run's weights, bit for bit"
for name, c in comparisons.items():
    assert c["test_loss"].wins == c["test_loss"].n, f"{name} lowers the test loss on every seed"
assert comparisons["L2"]["test_acc"].wins == comparisons["L2"]["test_acc"].n, "L2 is more accurate on every seed"
for plain, stopped in zip(none_rows, table["early stopping"]):
    assert stopped["test_loss"] < 0.75 * plain["test_loss"], "early stopping cuts the test loss by a quarter or more"
    assert stopped["epochs"] < MOONS_EPOCHS / 2, "...in less than half the epochs"
assert abs(comparisons["early stopping"]["test_acc"].mean_difference) < 0.02, "...without changing the accuracy much"
assert summarize([r["test_acc"] for r in table["L2 + dropout"]])[0] <= summarize([r["test_acc"] for r in table["L2"]])[0], \
    "adding dropout to L2 does not make it more accurate"
assert "L2" in chosen, "the configuration chosen on validation loss regularizes the weights"
assert test_acc_mean > bayes_test_acc - 0.02, "and comes within two points of the best possible test accuracy"
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
#   `current > best + min_delta` (max mode), strictly (exactly `min_delta` is not enough,
#   whatever float rounding says); NaN never improves; `wait += 1` every epoch, reset on
#   improvement; stop when `wait >= patience` (never at epoch 0).
# * Keep a **copy** of the best weights and restore it at the end of training, whether it
#   stopped early or not (Keras 3; tf.keras 2 restored only when it stopped early).
# * Patience must suit the run: a slowly improving run (L2) needs more.
# * On the noisy moons, every technique lowers the test loss; only L2 brings the accuracy
#   near the Bayes ceiling; combinations do not add up. Compare techniques on the same
#   seeds, paired, and choose on validation data.
#
# | here | PyTorch | Keras |
# |---|---|---|
# | `EarlyStopping(monitor="val_loss", min_delta=0.0, patience=0, mode="auto", baseline=None, restore_best_weights=False, start_from_epoch=0)` | no built-in; Lightning's `EarlyStopping(monitor, min_delta, patience, mode)` has no `restore_best_weights` (pair it with `ModelCheckpoint(save_top_k=1)`) | `keras.callbacks.EarlyStopping(...)`: same names and defaults; Keras 3 restores at the end of training (tf.keras 2 only when it stopped) |
# | `model.state_dict()` (copies) | `copy.deepcopy(model.state_dict())` (`state_dict()` alone returns references) | `model.get_weights()` (copies) |
# | `stopped_epoch`, 0-based | — | `stopped_epoch`, 0-based; printed messages count epochs from 1 |
# | `fit` returns a `History` with `stop_reason`, `stopped_epoch` | in your own loop: `break` | `model.stop_training = True` ends `model.fit` |
# | `EarlyStoppingSnapshot(patience=p)` (one run, both results) | record the best state in your loop and keep training | — |
#
# Next: **05 · Batch normalization**.

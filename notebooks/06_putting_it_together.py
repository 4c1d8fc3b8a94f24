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
# # 06 · Putting it together
#
# Six notebooks, six tools: L2, dropout, spatial dropout, early stopping, batch norm (and
# the problem they fight). Each was shown on a task chosen to make it shine. Here they
# all meet on **one** task with **one** budget, alone and in combination, and we ask the
# question you will face on a real project: *which should I use?*
#
# In this notebook you will
# 1. train the same small CNN on 120 digit images with no regularization, with each
#    technique alone, and with sensible combinations;
# 2. read a results table (train / validation / test accuracy, generalization gap,
#    validation loss, epochs, time) and a chart, and see which differences are real and
#    which are seed noise;
# 3. pick the best configuration on the validation set, and get its PyTorch and Keras
#    code.
#
# There are no exercises here: everything comes from `coursekit`.

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
import time

import matplotlib.pyplot as plt
import numpy as np
from tqdm.auto import tqdm

from coursekit import datasets
from coursekit.batchnorm import BatchNorm2d
from coursekit.dropout import Dropout, SpatialDropout2D
from coursekit.early_stopping import EarlyStopping
from coursekit.layers import Conv2D, Dense, Flatten, MaxPool2D, ReLU
from coursekit.losses import softmax_cross_entropy
from coursekit.model import Sequential
from coursekit.optim import SGD
from coursekit.regularization import L2
from coursekit.training import evaluate, fit

# %% [markdown]
# ## 1. One task, one budget
#
# The 8×8 digits again, with only 120 training images (12 per class): few enough that a
# CNN memorizes them. 400 validation images are for **choosing**; the remaining 1,277
# test images are looked at once, at the end, to report how the chosen model does.

# %%
data = datasets.load_digits(n_train=120, n_val=400)
print(data)
print("X_train:", data.X_train.shape, data.X_train.dtype, "| y_train:", data.y_train.shape, data.y_train.dtype)
print("validation:", data.X_val.shape, "| test:", data.X_test.shape)

# %% [markdown]
# Every run gets the same budget: plain SGD with momentum (learning rate 0.05, momentum
# 0.9), batches of 32, at most 60 epochs. We use SGD rather than Adam because with SGD
# an L2 penalty is exactly weight decay (notebook 01); with Adam the L2 term and batch
# norm interact badly (in trials here, the "all" combination collapsed on some seeds).
#
# The network is the CNN of notebook 03 with a hidden dense layer; the optional layers
# are in brackets:
#
# | layer | output shape |
# |---|---|
# | input | (N, 1, 8, 8) |
# | `Conv2D(1, 16, 3, padding=1)`, [`BatchNorm2d(16)`], ReLU, [`SpatialDropout2D`], `MaxPool2D(2)` | (N, 16, 8, 8) → (N, 16, 4, 4) |
# | `Conv2D(16, 32, 3, padding=1)`, [`BatchNorm2d(32)`], ReLU, [`SpatialDropout2D`], `MaxPool2D(2)` | (N, 32, 4, 4) → (N, 32, 2, 2) |
# | `Flatten`, [`Dropout`], `Dense(128, 128)`, ReLU, [`Dropout`] | (N, 128) → (N, 128) |
# | `Dense(128, 10)` | (N, 10) logits |
#
# Batch norm goes between the convolution and its ReLU (as in notebook 05); spatial
# dropout after the ReLU, on whole feature maps (notebook 03); element-wise dropout on
# the dense layers' inputs (notebook 02).

# %%
LEARNING_RATE, MOMENTUM, BATCH_SIZE, EPOCHS = 0.05, 0.9, 32, 60
LAMBD, DROP_PROB, SPATIAL_DROP_PROB, PATIENCE = 0.3, 0.5, 0.2, 10


def make_cnn(rng, *, batch_norm=False, spatial_drop_prob=0.0, drop_prob=0.0, **_):
    """The CNN in the table above; the keyword arguments switch its optional layers on."""
    def conv_block(in_channels, out_channels):
        return [Conv2D(in_channels, out_channels, 3, padding=1, rng=rng),
                *([BatchNorm2d(out_channels)] if batch_norm else []), ReLU(),
                *([SpatialDropout2D(spatial_drop_prob, rng=rng)] if spatial_drop_prob else []), MaxPool2D(2)]

    def dropout():
        return [Dropout(drop_prob, rng=rng)] if drop_prob else []

    return Sequential(*conv_block(1, 16), *conv_block(16, 32), Flatten(),
                      *dropout(), Dense(32 * 2 * 2, 128, rng=rng), ReLU(), *dropout(), Dense(128, 10, rng=rng))


example = make_cnn(np.random.default_rng(0), batch_norm=True, spatial_drop_prob=SPATIAL_DROP_PROB,
                   drop_prob=DROP_PROB)
print(example)
print("output:", example.predict(data.X_train[:5]).shape,
      "| parameters:", sum(p.value.size for p in example.parameters()))

# %% [markdown]
# ## 2. The contenders
#
# Each configuration is a dictionary of the settings it switches on. The strengths are
# the usual starting points, tuned lightly on the validation set: L2 with
# $\lambda = 0.3$ (penalty $\frac{\lambda}{2m}\sum\|W\|^2$, $m$ = batch size), dropout
# `drop_prob = 0.5` on the dense layers, spatial dropout `drop_prob = 0.2` on the
# convolutional layers, early stopping on the validation loss with patience 10 and the
# best weights restored.

# %%
CONFIGS = {
    "none": {},
    "L2": {"lambd": LAMBD},
    "dropout": {"drop_prob": DROP_PROB},
    "spatial dropout": {"spatial_drop_prob": SPATIAL_DROP_PROB},
    "early stopping": {"patience": PATIENCE},
    "batch norm": {"batch_norm": True},
    "BN + dropout": {"batch_norm": True, "drop_prob": DROP_PROB},
    "all": {"lambd": LAMBD, "drop_prob": DROP_PROB, "spatial_drop_prob": SPATIAL_DROP_PROB, "batch_norm": True,
            "patience": PATIENCE},
}
for name, config in CONFIGS.items():
    print(f"{name:16s} {config}")

# %% [markdown]
# One run: build, train, score. Only early stopping needs the validation set during
# training (it checks the validation loss after every epoch, which here costs about as
# much as the epoch itself); the other runs are scored on it once, at the end.
#
# With 120 training images, one run's result depends noticeably on the random
# initialization and batch order. So every configuration is trained from several
# seeds and we report the mean. The same seed gives the same initial weights
# wherever the architecture is the same, and the same batch order.

# %%
SEEDS = (0, 1, 2, 3)


def confidence_on_mistakes(model):
    """Mean probability the model gives its (wrong) answer, over the validation images it gets wrong."""
    logits = model.predict(data.X_val).astype(np.float64)
    probs = np.exp(logits - logits.max(axis=1, keepdims=True))
    probs /= probs.sum(axis=1, keepdims=True)
    wrong = probs.argmax(axis=1) != data.y_val
    return float(probs.max(axis=1)[wrong].mean())


def run(config, seed):
    """Train one configuration from one seed; returns a dictionary of its scores."""
    rng = np.random.default_rng(seed)
    model = make_cnn(rng, **config)
    callbacks, validation = [], None
    if "patience" in config:
        callbacks = [EarlyStopping("val_loss", patience=config["patience"], restore_best_weights=True)]
        validation = (data.X_val, data.y_val)
    start = time.process_time()
    history = fit(model, softmax_cross_entropy, SGD(model.parameters(), lr=LEARNING_RATE, momentum=MOMENTUM),
                  data.X_train, data.y_train, epochs=EPOCHS, batch_size=BATCH_SIZE, rng=rng,
                  validation_data=validation, callbacks=callbacks, progress=False,
                  regularizer=L2(config["lambd"]) if "lambd" in config else None)
    seconds = time.process_time() - start
    train_acc = evaluate(model, softmax_cross_entropy, data.X_train, data.y_train)[1]
    val_loss, val_acc = evaluate(model, softmax_cross_entropy, data.X_val, data.y_val)
    test_acc = evaluate(model, softmax_cross_entropy, data.X_test, data.y_test)[1]
    scores = {"train_acc": train_acc, "val_acc": val_acc, "test_acc": test_acc, "gap": train_acc - val_acc,
              "val_loss": val_loss, "epochs": history.epochs, "seconds": seconds,
              "mistake_confidence": confidence_on_mistakes(model)}
    return scores


runs = {}
for name, config in tqdm(CONFIGS.items(), desc="configurations", total=len(CONFIGS)):
    for seed in SEEDS:
        runs[name, seed] = run(config, seed)

# %% [markdown]
# ## 3. The results
#
# Means over the seeds; "± sd" is the standard deviation of the validation loss across
# seeds, to show how much of a difference is noise. "gap" is train minus validation
# accuracy; "CPU s" is the processor time of one training run (with early stopping it
# includes the validation after every epoch). The test column is for the record only:
# nothing is chosen by it.

# %%
COLUMNS = ("train_acc", "val_acc", "test_acc", "gap", "val_loss", "epochs", "seconds", "mistake_confidence")
results = {name: {key: float(np.mean([runs[name, seed][key] for seed in SEEDS])) for key in COLUMNS}
           for name in CONFIGS}
val_loss_sd = {name: float(np.std([runs[name, seed]["val_loss"] for seed in SEEDS])) for name in CONFIGS}


def print_table(results):
    print(f"{'configuration':16s} {'train acc':>9s} {'val acc':>8s} {'test acc':>8s} {'gap':>6s} "
          f"{'val loss ± sd':>14s} {'epochs':>6s} {'CPU s':>6s}")
    for name, r in results.items():
        print(f"{name:16s} {r['train_acc']:9.1%} {r['val_acc']:8.1%} {r['test_acc']:8.1%} {r['gap']:6.1%} "
              f"{r['val_loss']:7.3f} ± {val_loss_sd[name]:.3f} {r['epochs']:6.1f} {r['seconds']:6.2f}")


print_table(results)

# %% [markdown]
# Read the accuracy columns first. Every configuration still fits its 120 training images
# (nearly) perfectly, and validation accuracy moves by a point or two: about as much as
# it moves between two seeds of the same configuration. Accuracy alone cannot rank these
# techniques here.
#
# The **validation loss** can. Cross-entropy punishes confident mistakes: an image
# classified wrongly with probability 0.99 costs $-\ln 0.01 \approx 4.6$, one classified
# wrongly with 0.6 on the wrong class far less. The unregularized network, having driven
# its training loss to zero, is **overconfident**: when it is wrong, it is very sure.
# **Question: which techniques make the network less overconfident on new images?**

# %%
names = list(CONFIGS)
fig, ax = plt.subplots(figsize=(7.5, 4))
ypos = np.arange(len(names))[::-1]
lowest = min(names, key=lambda n: results[n]["val_loss"])
ax.barh(ypos, [results[n]["val_loss"] for n in names], label="mean over seeds",
        color=["orange" if n == lowest else "lightsteelblue" for n in names])
for y, n in zip(ypos, names):
    ax.plot([runs[n, s]["val_loss"] for s in SEEDS], [y] * len(SEEDS), "k.", alpha=0.6,
            label="one seed" if n == names[0] else None)
ax.axvline(results["none"]["val_loss"], color="C3", ls="--", lw=1, label='"none"')
ax.set_yticks(ypos, names)
ax.set_xlabel("validation loss (cross-entropy; lower is better)")
ax.set_title("which techniques fix overconfidence? (orange: lowest mean)")
ax.legend(loc="lower right", fontsize=8)
plt.show()

# %% [markdown]
# How overconfident, concretely? `run` also measured, on the validation images each
# network gets **wrong**, the mean probability it gives its wrong answer (averaged over
# the seeds).

# %%
for name, r in results.items():
    print(f"{name:16s} sure of its mistakes: {r['mistake_confidence']:.0%}")

# %% [markdown]
# What the table and chart say, technique by technique. (We also ran every
# configuration from 20 seeds, in groups of 4; the statements below held in every group,
# and the claims cell at the end checks them on this notebook's seeds.)
#
# * **none** memorizes: 100% training accuracy, a gap of about 10 points, and a
#   validation loss that is high and varies a lot from seed to seed.
# * **L2** cuts the validation loss clearly, typically by a third: it keeps the weights,
#   and so the logits, from growing just to make every training image certain.
# * **Dropout** makes the network much less sure of its mistakes. Its gain in
#   validation loss is real on average but less reliable (on some seeds there is none),
#   and it costs a little accuracy: with 128 features, dropping half of them is harsh.
# * **Spatial dropout** on its own does little here. The feature maps are 8×8 and 4×4,
#   and there are only 16 and 32 of them: there is not much redundancy to regularize
#   (notebook 03 found the same). It is a tool for wide layers with large, smooth maps.
# * **Early stopping** ends training after about 25 epochs, at the weights with the
#   lowest validation loss: cheaper than training on, and better, but it only stops the
#   drift into overconfidence early; it does not change what the network learns.
# * **Batch norm** helps about as much as L2: its batch noise regularizes a little, and
#   training is better conditioned (notebook 05). It does little about how sure the
#   network is of its mistakes.
# * **Combinations** are usually the best, but the gains do not add up: once the network
#   is regularized, another regularizer buys little, and stacking everything at full
#   strength can cost training accuracy.

# %% [markdown]
# ## 4. Choosing the best configuration
#
# We choose on the **validation loss**, averaged over the seeds: it separates the
# configurations far more clearly than validation accuracy, and a model whose
# probabilities can be trusted is worth more than one with the same accuracy and wild
# confidence. Only then do we look at the test set, once, to report the choice.

# %%
best = min(CONFIGS, key=lambda name: results[name]["val_loss"])
print(f"best on validation loss: {best!r} {CONFIGS[best]}")
for name in ("none", best):
    r = results[name]
    print(f"  {name:16s} val loss {r['val_loss']:.3f}, val accuracy {r['val_acc']:.1%}, "
          f"test accuracy {r['test_acc']:.1%}")

# %% [markdown]
# ## 5. A short guide to choosing
#
# * **Always** keep a validation set and look at its *loss*, not only its accuracy.
#   Watch the gap between training and validation: a training accuracy of 100% with a
#   rising validation loss is the signature of memorizing.
# * **Early stopping** is nearly free; use it with `restore_best_weights=True` in almost
#   every run. It fixes *when* to stop, not *what* the model learns, so pair it with a
#   regularizer.
# * **L2 / weight decay** is the default regularizer for any model: one number to tune
#   (on a log scale, e.g. $\lambda \in \{0.01, 0.1, 0.3, 1\}$). With Adam use AdamW's
#   decoupled decay rather than an L2 term.
# * **Dropout** on dense layers, `drop_prob` 0.2–0.5: strong against memorizing in
#   wide dense layers, at the price of slower training.
# * **Spatial dropout** for convolutional layers with many channels and large maps;
#   element-wise dropout does little there. On tiny maps like ours, neither helps much.
# * **Batch norm** in deep or convolutional networks, mainly for faster, steadier
#   training (larger learning rates, less sensitivity to initialization); its
#   regularizing effect is a bonus. Keep batches of a few dozen or more, and remember
#   evaluation mode at test time.
# * **Combine** a normalizer with one or two regularizers, and tune their strengths
#   together on the validation set; do not stack everything at full strength.
# * Decide with **several seeds** when the data set is small: single runs differ by as
#   much as the techniques do.

# %% [markdown]
# ## 6. The best configuration in PyTorch and Keras
#
# The code below is generated from the winning configuration's dictionary, so it is right
# whichever configuration wins. The conventions that differ between the libraries:
#
# | setting | here | PyTorch | Keras |
# |---|---|---|---|
# | dropout | `Dropout(drop_prob)` | `nn.Dropout(p=drop_prob)` | `layers.Dropout(rate=drop_prob)` |
# | spatial dropout | `SpatialDropout2D(drop_prob)`, NCHW | `nn.Dropout2d(p=drop_prob)`, NCHW | `layers.SpatialDropout2D(rate=drop_prob)`, NHWC |
# | batch norm | `BatchNorm2d(C)`, momentum 0.1, eps 1e-5 | `nn.BatchNorm2d(C, momentum=0.1)` | `BatchNormalization(momentum=0.9, epsilon=1e-5)` (momentum = 1 − PyTorch's) |
# | L2 with batch size m | `L2(lambd)`: $\frac{\lambda}{2m}\sum\|W\|^2$ | `SGD(..., weight_decay=lambd/m)` on the weights only | `kernel_regularizer=regularizers.l2(lambd/(2*m))` ($c\sum w^2$, no ½) |
# | early stopping | `EarlyStopping("val_loss", patience, restore_best_weights=True)` | a few lines in your loop | `callbacks.EarlyStopping(monitor="val_loss", patience, restore_best_weights=True)` |
#
# (Our `fit` uses $m$ = the size of each batch, so the last, smaller batch of an epoch
# gets a slightly larger penalty; the libraries use one constant. The difference is
# negligible.)

# %%
def pytorch_code(config):
    """PyTorch code (a string) that builds and trains the CNN with the settings in ``config``."""
    bn, sdrop, drop = config.get("batch_norm"), config.get("spatial_drop_prob"), config.get("drop_prob")
    lambd, patience = config.get("lambd"), config.get("patience")

    def conv_block(c_in, c_out):
        return ([f"nn.Conv2d({c_in}, {c_out}, 3, padding=1)"] + ([f"nn.BatchNorm2d({c_out}, momentum=0.1)"] if bn else [])
                + ["nn.ReLU()"] + ([f"nn.Dropout2d(p={sdrop})"] if sdrop else []) + ["nn.MaxPool2d(2)"])

    dropout = [f"nn.Dropout(p={drop})"] if drop else []
    layers = (conv_block(1, 16) + conv_block(16, 32) + ["nn.Flatten()"] + dropout
              + ["nn.Linear(32 * 2 * 2, 128)", "nn.ReLU()"] + dropout + ["nn.Linear(128, 10)"])
    lines = [*(["import copy"] if patience else []), "import torch", "from torch import nn", "",
             "# X_train, X_val: float32 tensors (N, 1, 8, 8), NCHW as here; y_train, y_val: int64 tensors (N,)",
             "model = nn.Sequential(", *[f"    {layer}," for layer in layers], ")",
             "for module in model.modules():  # He-normal weights, zero biases, as coursekit",
             "    if isinstance(module, (nn.Conv2d, nn.Linear)):",
             '        nn.init.kaiming_normal_(module.weight, nonlinearity="relu")',
             "        nn.init.zeros_(module.bias)"]
    if lambd:
        lines += [f"# L2 with lambda = {lambd}, batch size m = {BATCH_SIZE}: weight decay lambda/m on the weight "
                  "matrices only",
                  "weights = [p for p in model.parameters() if p.ndim > 1]",
                  "others = [p for p in model.parameters() if p.ndim <= 1]  # biases, BN's gamma and beta",
                  f'optimizer = torch.optim.SGD([{{"params": weights, "weight_decay": {lambd} / {BATCH_SIZE}}},',
                  '                             {"params": others, "weight_decay": 0.0}],',
                  f"                            lr={LEARNING_RATE}, momentum={MOMENTUM})"]
    else:
        lines += [f"optimizer = torch.optim.SGD(model.parameters(), lr={LEARNING_RATE}, momentum={MOMENTUM})"]
    lines += ["loss_fn = nn.CrossEntropyLoss()",
              "loader = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(X_train, y_train),",
              f"                                     batch_size={BATCH_SIZE}, shuffle=True)"]
    if patience:
        lines += ['best_loss, wait, best_state = float("inf"), 0, copy.deepcopy(model.state_dict())']
    lines += [f"for epoch in range({EPOCHS}):",
              "    model.train()",
              "    for xb, yb in loader:",
              "        optimizer.zero_grad()",
              "        loss_fn(model(xb), yb).backward()",
              "        optimizer.step()"]
    if patience:
        lines += ["    model.eval()",
                  "    with torch.no_grad():",
                  "        val_loss = loss_fn(model(X_val), y_val).item()",
                  "    if val_loss < best_loss:  # an improvement: remember these weights (a copy)",
                  "        best_loss, wait, best_state = val_loss, 0, copy.deepcopy(model.state_dict())",
                  "    else:",
                  "        wait += 1",
                  f"        if wait >= {patience}:",
                  "            break",
                  "model.load_state_dict(best_state)  # restore the best epoch's weights"]
    lines += ["model.eval()  # dropout off, batch norm on running statistics"]
    return "\n".join(lines)


def keras_code(config):
    """Keras 3 code (a string) that builds and trains the CNN with the settings in ``config``."""
    bn, sdrop, drop = config.get("batch_norm"), config.get("spatial_drop_prob"), config.get("drop_prob")
    lambd, patience = config.get("lambd"), config.get("patience")
    weights = ', kernel_initializer="he_normal"' + (", kernel_regularizer=penalty" if lambd else "")

    def conv_block(filters):
        return ([f'layers.Conv2D({filters}, 3, padding="same"{weights})']
                + (["layers.BatchNormalization(momentum=0.9, epsilon=1e-5)"] if bn else []) + ["layers.ReLU()"]
                + ([f"layers.SpatialDropout2D(rate={sdrop})"] if sdrop else []) + ["layers.MaxPooling2D(2)"])

    dropout = [f"layers.Dropout(rate={drop})"] if drop else []
    layer_list = (["keras.Input(shape=(8, 8, 1))"] + conv_block(16) + conv_block(32) + ["layers.Flatten()"]
                  + dropout + [f"layers.Dense(128{weights})", "layers.ReLU()"] + dropout
                  + [f"layers.Dense(10{weights})"])
    lines = ["import keras", "from keras import layers, regularizers", "",
             "# Keras is channels-last: X_train, X_val as (N, 8, 8, 1), e.g. X.transpose(0, 2, 3, 1); y as (N,) ints"]
    if lambd:
        lines += [f"penalty = regularizers.l2({lambd} / (2 * {BATCH_SIZE}))  # Keras adds c * sum(w**2): "
                  "c = lambda / (2m)"]
    lines += ["model = keras.Sequential([", *[f"    {layer}," for layer in layer_list], "])",
              f"model.compile(optimizer=keras.optimizers.SGD(learning_rate={LEARNING_RATE}, momentum={MOMENTUM}),",
              "              loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True), metrics=[\"accuracy\"])"]
    callbacks = ""
    if patience:
        lines += [f'stop = keras.callbacks.EarlyStopping(monitor="val_loss", patience={patience}, '
                  "restore_best_weights=True)"]
        callbacks = ", callbacks=[stop]"
    lines += [f"model.fit(X_train, y_train, batch_size={BATCH_SIZE}, epochs={EPOCHS}, "
              f"validation_data=(X_val, y_val){callbacks})"]
    return "\n".join(lines)


print(f"# ---- PyTorch: {best!r} ----")
print(pytorch_code(CONFIGS[best]))

# %%
print(f"# ---- Keras: {best!r} ----")
print(keras_code(CONFIGS[best]))

# %% [markdown]
# ## 7. The lesson's claims, checked
#
# If a change to the course breaks the story told above, this cell fails (and so does
# the test suite). It prints only numbers that are the same on every run (the timings
# are not).

# %% tags=["claims"]
import ast

none = results["none"]
print_cols = ("train_acc", "val_acc", "gap", "val_loss", "epochs", "mistake_confidence")
for name, r in results.items():
    print(f"{name:16s} " + "  ".join(f"{key} {r[key]:.3f}" for key in print_cols))
print(f"best on validation loss: {best}")

assert none["train_acc"] >= 0.99 and none["gap"] >= 0.05, "the unregularized CNN memorizes, with a clear gap"
for name in ("L2", "batch norm", "all"):
    assert results[name]["val_loss"] < 0.9 * none["val_loss"], f"{name} should cut the validation loss clearly"
assert results["BN + dropout"]["val_loss"] < none["val_loss"]
assert results["dropout"]["mistake_confidence"] < none["mistake_confidence"] - 0.05, \
    "dropout should make the network less sure of its mistakes"
assert results["spatial dropout"]["val_loss"] > max(results["L2"]["val_loss"], results["batch norm"]["val_loss"]), \
    "on 8x8 maps spatial dropout alone should help less than L2 and less than batch norm"
stopper = results["early stopping"]
assert stopper["epochs"] < 0.7 * EPOCHS, "early stopping should end well before the budget"
assert stopper["val_loss"] < none["val_loss"], "and end with a lower validation loss than training on"
assert best not in ("none", "spatial dropout", "early stopping"), "the best configuration regularizes the weights"
assert results[best]["val_loss"] < 0.9 * none["val_loss"]
for code in (pytorch_code(CONFIGS[best]), keras_code(CONFIGS[best])):
    ast.parse(code)  # the generated code is valid Python
print("All claims hold.")

# %% [markdown]
# ## What to remember
#
# * On a small data set, **validation loss** separates regularizers that validation
#   accuracy cannot: the unregularized network is as accurate but overconfident.
# * Compare techniques under **one budget**, over **several seeds**; differences smaller
#   than the seed-to-seed spread are not differences.
# * Choose on the **validation** set; touch the **test** set once, to report.
# * A sensible default for a small CNN: batch norm + dropout (or L2) + early stopping
#   with the best weights restored, each strength tuned on the validation set.
# * Regularizers do not add up: the second one buys less than the first, and stacking
#   all of them at full strength can hurt.
#
# | here | PyTorch | Keras |
# |---|---|---|
# | `Dropout(drop_prob)` | `nn.Dropout(p=drop_prob)` | `layers.Dropout(rate=drop_prob)` |
# | `SpatialDropout2D(drop_prob)` (NCHW) | `nn.Dropout2d(p=drop_prob)` | `layers.SpatialDropout2D(rate=drop_prob)` (NHWC) |
# | `BatchNorm2d(C)` (momentum 0.1, eps 1e-5) | `nn.BatchNorm2d(C, momentum=0.1)` | `layers.BatchNormalization(momentum=0.9, epsilon=1e-5)` |
# | `fit(..., regularizer=L2(lambd))`, batch size m | `optim.SGD(..., weight_decay=lambd/m)` (weights only) | `kernel_regularizer=regularizers.l2(lambd/(2*m))` |
# | `EarlyStopping("val_loss", patience=10, restore_best_weights=True)` | your loop: keep `copy.deepcopy(model.state_dict())` of the best epoch | `callbacks.EarlyStopping(monitor="val_loss", patience=10, restore_best_weights=True)` |
# | `evaluate(model, ...)` (evaluation mode) | `model.eval()` + `torch.no_grad()` | `model.evaluate(...)` / `model(x, training=False)` |
#
# That is the course: you built every one of these from scratch, and you know what each
# library's knobs mean.

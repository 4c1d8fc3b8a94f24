"""Builders of the course's standard models, shared by notebooks, tests and benchmarks.

Each builder takes its randomness as explicit generators: ``rng`` draws the initial weights
and ``noise_rng`` (where the model has dropout) draws the masks during training. Built from
``coursekit.experiments.seed_streams(seed)`` (``rng=streams.init, noise_rng=streams.noise``),
two variants of a model that differ only in their dropout or batch-norm layers start from
identical weights.
"""
from __future__ import annotations

import numpy as np

from ._validation import check_int, check_probability, check_rng, describe
from .batchnorm import BatchNorm2d
from .conv import Conv2D, Flatten, GlobalAvgPool2D, MaxPool2D
from .dropout import Dropout, SpatialDropout2D
from .layers import Dense, ReLU
from .model import Sequential

__all__ = ["digits_cnn", "moons_mlp", "train_moons_mlp", "MOONS_LR", "MOONS_BATCH_SIZE", "MOONS_EPOCHS",
           "MOONS_SEEDS", "MOONS_LAMBD", "MOONS_DROP_PROB"]


def digits_cnn(*, rng: np.random.Generator, noise_rng: np.random.Generator | None = None,
               batch_norm: bool = False, spatial_drop_prob: float = 0.0, drop_prob: float = 0.0,
               channels: tuple[int, int] = (16, 32), hidden: int = 128) -> Sequential:
    """The capstone's CNN for 8x8 digit images (notebook 06); optional layers in brackets.

    ====================================================================  ==========================
    layer                                                                 output shape
    ====================================================================  ==========================
    input                                                                 (N, 1, 8, 8)
    Conv2D(1, c1, 3, padding=1), [BatchNorm2d], ReLU, [SpatialDropout2D],  (N, c1, 8, 8)
    MaxPool2D(2)                                                          (N, c1, 4, 4)
    Conv2D(c1, c2, 3, padding=1), [BatchNorm2d], ReLU, [SpatialDropout2D], (N, c2, 4, 4)
    MaxPool2D(2)                                                          (N, c2, 2, 2)
    Flatten, [Dropout], Dense(4 c2, hidden), ReLU, [Dropout]              (N, hidden)
    Dense(hidden, 10)                                                     (N, 10) logits
    ====================================================================  ==========================

    ``(c1, c2) = channels``. Batch norm sits between a convolution and its ReLU; spatial
    dropout (``spatial_drop_prob`` > 0) after the ReLU, on whole feature maps; dropout
    (``drop_prob`` > 0) on the inputs of both dense layers. ``rng`` draws the initial weights
    (He normal, zero biases), in the same order whatever optional layers are switched on;
    ``noise_rng`` draws the dropout masks and is required when there is dropout.
    """
    check_rng(rng)
    if not isinstance(batch_norm, (bool, np.bool_)):
        raise TypeError(f"digits_cnn: batch_norm must be True or False, got {describe(batch_norm)}")
    if not (isinstance(channels, (tuple, list)) and len(channels) == 2):
        raise TypeError(f"digits_cnn: channels must be a pair (c1, c2) of ints, got {describe(channels)}")
    c1, c2 = (check_int(c, "channels[i]", low=1) for c in channels)
    hidden = check_int(hidden, "hidden", low=1)
    needs_noise = bool(spatial_drop_prob) or bool(drop_prob)
    if needs_noise:
        check_rng(noise_rng, "noise_rng")
    elif noise_rng is not None:
        check_rng(noise_rng, "noise_rng")

    def conv_block(in_channels, out_channels):
        block = [Conv2D(in_channels, out_channels, 3, padding=1, rng=rng)]
        if batch_norm:
            block.append(BatchNorm2d(out_channels))
        block.append(ReLU())
        if spatial_drop_prob:
            block.append(SpatialDropout2D(spatial_drop_prob, rng=noise_rng))
        return block + [MaxPool2D(2)]

    def dropout():
        return [Dropout(drop_prob, rng=noise_rng)] if drop_prob else []

    return Sequential(*conv_block(1, c1), *conv_block(c1, c2), Flatten(),
                      *dropout(), Dense(c2 * 2 * 2, hidden, rng=rng), ReLU(), *dropout(),
                      Dense(hidden, 10, rng=rng))


def moons_mlp(*, rng: np.random.Generator, noise_rng: np.random.Generator | None = None,
              drop_prob: float = 0.0, hidden: int = 128) -> Sequential:
    """The course's one baseline for the noisy two-moons set (notebooks 00, 01, 02, 04).

    An MLP 2 -> hidden -> hidden -> 1 with ReLU, far bigger than 150 training points need
    (17,025 parameters at ``hidden=128``), so without regularization it memorizes them:

    ===========================================  ==============
    layer                                        output shape
    ===========================================  ==============
    input                                        (N, 2)
    Dense(2, hidden), ReLU, [Dropout]            (N, hidden)
    Dense(hidden, hidden), ReLU, [Dropout]       (N, hidden)
    Dense(hidden, 1)                             (N, 1) logits
    ===========================================  ==============

    ``drop_prob`` > 0 puts ``Dropout(drop_prob)`` after each hidden ReLU (the probability of
    zeroing a unit; 0 builds no dropout layers at all). ``rng`` draws the initial weights
    (He normal, zero biases) and ``noise_rng`` the dropout masks; it is required when there
    is dropout. The weights are drawn in the same order with or without dropout, so with
    ``seed_streams`` the runs of one seed start from identical weights.
    """
    check_rng(rng)
    hidden = check_int(hidden, "hidden", low=1)
    drop_prob = check_probability(drop_prob, "drop_prob")
    if drop_prob > 0 or noise_rng is not None:
        check_rng(noise_rng, "noise_rng")

    def block(n_in):
        layers = [Dense(n_in, hidden, rng=rng), ReLU()]
        return layers + [Dropout(drop_prob, rng=noise_rng)] if drop_prob > 0 else layers

    return Sequential(*block(2), *block(hidden), Dense(hidden, 1, rng=rng))


MOONS_LR = 0.4
"""Learning rate of plain SGD (no momentum) for ``moons_mlp``: the course's one training recipe for it."""
MOONS_BATCH_SIZE = 30
"""Mini-batch size m for ``moons_mlp``: 150 training points make 5 full batches an epoch."""
MOONS_EPOCHS = 150
"""Training budget for ``moons_mlp``: long enough for the unregularized network to memorize."""
MOONS_SEEDS = (100, 101, 102, 103, 104)
"""The seeds notebooks 00-04 run and assert their claims on. The recipe, the grids of
hyperparameters and the thresholds in the claims were designed on seeds 0-19, never on these."""
MOONS_LAMBD = 0.3
"""The L2 strength notebook 01 chooses on the validation loss (it asserts so); notebook 04 uses it."""
MOONS_DROP_PROB = 0.6
"""The dropout rate notebook 02 chooses on the validation loss (it asserts so); notebook 04 uses it."""


def train_moons_mlp(data, streams, *, drop_prob: float = 0.0, regularizer=None, epochs: int = MOONS_EPOCHS,
                    callbacks=(), validation: bool = True, optimizer=None, progress: bool = False):
    """Build ``moons_mlp`` and train it with the course's recipe; returns ``(model, history)``.

    The recipe: plain SGD with learning rate ``MOONS_LR`` (0.4), mini-batches of
    ``MOONS_BATCH_SIZE`` (30), ``epochs`` (default ``MOONS_EPOCHS``, 150) epochs, binary
    cross-entropy from logits. The randomness comes from ``streams``
    (``coursekit.experiments.seed_streams(seed)``): ``streams.init`` draws the initial weights,
    ``streams.order`` the order of the mini-batches and ``streams.noise`` the dropout masks,
    so runs of one seed that differ only in their regularization start from the same
    weights and see the same batches.

    ``data``: a ``Splits`` (``datasets.load_noisy_moons()``); the model trains on
    ``X_train`` (150, 2) / ``y_train`` (150,) and, with ``validation=True``, logs ``val_loss``
    and ``val_accuracy`` on ``X_val`` / ``y_val`` after every epoch (needed by early stopping;
    ``validation=False`` skips it, about a third faster). ``regularizer`` (e.g. ``L2(lambd)``),
    ``callbacks`` and ``progress`` are passed to ``fit``; ``optimizer`` is a function of
    ``model.parameters()`` returning another optimizer (e.g. ``lambda ps: Adam(ps, lr=1e-2)``).
    """
    from .losses import binary_cross_entropy_with_logits
    from .optim import SGD
    from .training import fit

    for name in ("init", "order", "noise"):
        if not isinstance(getattr(streams, name, None), np.random.Generator):
            raise TypeError(f"train_moons_mlp: streams must come from coursekit.experiments.seed_streams(seed), "
                            f"got {describe(streams)} of type {type(streams).__name__}")
    for name in ("X_train", "y_train", "X_val", "y_val"):
        if not hasattr(data, name):
            raise TypeError(f"train_moons_mlp: data must be the Splits of datasets.load_noisy_moons(), "
                            f"got {describe(data)} of type {type(data).__name__}")
    if not isinstance(validation, (bool, np.bool_)):
        raise TypeError(f"train_moons_mlp: validation must be True or False, got {describe(validation)}")
    model = moons_mlp(rng=streams.init, noise_rng=streams.noise, drop_prob=drop_prob)
    if optimizer is None:
        opt = SGD(model.parameters(), lr=MOONS_LR)
    elif callable(optimizer):
        opt = optimizer(model.parameters())
    else:
        raise TypeError(f"train_moons_mlp: optimizer must be a function of model.parameters() returning an "
                        f"optimizer, e.g. lambda ps: Adam(ps, lr=1e-2); got {describe(optimizer)}")
    history = fit(model, binary_cross_entropy_with_logits, opt, data.X_train, data.y_train, epochs=epochs,
                  batch_size=MOONS_BATCH_SIZE, rng=streams.order,
                  validation_data=(data.X_val, data.y_val) if validation else None,
                  callbacks=list(callbacks), regularizer=regularizer, progress=progress)
    return model, history


def small_cnn(*, rng: np.random.Generator, noise_rng: np.random.Generator | None = None, dropout: str = "none",
              drop_prob: float = 0.0, head: str = "average", channels: tuple[int, int] = (8, 64),
              image_size: int = 16, n_classes: int = 10) -> Sequential:
    """Notebook 03's CNN: two convolutions, optional dropout on the second one's maps, then a head.

    With ``s = image_size`` and ``(c1, c2) = channels``:

    ===========================================================  =========================
    layer                                                        output shape
    ===========================================================  =========================
    input                                                        (N, 1, s, s)
    Conv2D(1, c1, 3, padding=1), ReLU, MaxPool2D(2)              (N, c1, s/2, s/2)
    Conv2D(c1, c2, 3, padding=1), ReLU, [dropout]                (N, c2, s/2, s/2)
    head ``"average"``: GlobalAvgPool2D, Dense(c2, n_classes)      (N, c2) -> (N, n_classes)
    head ``"flatten"``: Flatten, Dense(c2 (s/2)^2, n_classes)      (N, c2 (s/2)^2) -> (N, n_classes)
    ===========================================================  =========================

    ``dropout`` is ``"none"``, ``"element"`` (``Dropout``: independent pixels) or ``"spatial"``
    (``SpatialDropout2D``: whole feature maps), with probability ``drop_prob`` of zeroing.
    The ``"average"`` head sees only how much of each feature there is, not where: the only
    thing left to overfit after the dropout is how the channels combine. The ``"flatten"`` head
    has a weight per (channel, position). PyTorch: ``nn.AdaptiveAvgPool2d(1)`` + ``nn.Flatten()``
    for the average head; Keras: ``GlobalAveragePooling2D``.

    ``rng`` draws the initial weights (He normal, zero biases) in the same order whatever the
    dropout, so with ``seed_streams`` all variants of one seed start from identical weights;
    ``noise_rng`` draws the dropout masks and is required when there is dropout.
    """
    where = "small_cnn"
    check_rng(rng)
    if dropout not in ("none", "element", "spatial"):
        raise ValueError(f"{where}: dropout must be 'none', 'element' or 'spatial', got {describe(dropout)}")
    drop_prob = check_probability(drop_prob, "drop_prob")
    if dropout == "none" and drop_prob != 0.0:
        raise ValueError(f"{where}: drop_prob={drop_prob} needs dropout='element' or 'spatial' (dropout is 'none')")
    if dropout != "none" or noise_rng is not None:
        check_rng(noise_rng, "noise_rng")
    if head not in ("average", "flatten"):
        raise ValueError(f"{where}: head must be 'average' (global average pooling) or 'flatten', "
                         f"got {describe(head)}")
    if not (isinstance(channels, (tuple, list)) and len(channels) == 2):
        raise TypeError(f"{where}: channels must be a pair (c1, c2) of ints, got {describe(channels)}")
    c1, c2 = (check_int(c, "channels[i]", low=1) for c in channels)
    image_size = check_int(image_size, "image_size", low=2)
    if image_size % 2:
        raise ValueError(f"{where}: image_size must be even (one 2x2 max pooling), got {image_size}")
    n_classes = check_int(n_classes, "n_classes", low=2)

    layers = [Conv2D(1, c1, 3, padding=1, rng=rng), ReLU(), MaxPool2D(2),
              Conv2D(c1, c2, 3, padding=1, rng=rng), ReLU()]
    if dropout == "element":
        layers.append(Dropout(drop_prob, rng=noise_rng))
    elif dropout == "spatial":
        layers.append(SpatialDropout2D(drop_prob, rng=noise_rng))
    if head == "average":
        layers += [GlobalAvgPool2D(), Dense(c2, n_classes, rng=rng)]
    else:
        layers += [Flatten(), Dense(c2 * (image_size // 2) ** 2, n_classes, rng=rng)]
    return Sequential(*layers)


__all__ += ["small_cnn"]

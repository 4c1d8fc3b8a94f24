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
           "MOONS_HIDDEN", "MOONS_N_TRAIN", "MOONS_SEEDS", "MOONS_LAMBD", "MOONS_DROP_PROB"]


def digits_cnn(*, rng: np.random.Generator, noise_rng: np.random.Generator | None = None,
               batch_norm: bool = False, group_norm: int = 0, spatial_drop_prob: float = 0.0,
               drop_prob: float = 0.0, channels: tuple[int, int] = (16, 32), hidden: int = 128,
               image_size: int = 8) -> Sequential:
    """The capstone's CNN for 8x8 digit images (notebook 08); optional layers in brackets.

    ====================================================================  ==========================
    layer                                                                 output shape
    ====================================================================  ==========================
    input                                                                 (N, 1, s, s)
    Conv2D(1, c1, 3, padding=1), [norm], ReLU, [SpatialDropout2D],         (N, c1, s, s)
    MaxPool2D(2)                                                          (N, c1, s/2, s/2)
    Conv2D(c1, c2, 3, padding=1), [norm], ReLU, [SpatialDropout2D],        (N, c2, s/2, s/2)
    MaxPool2D(2)                                                          (N, c2, s/4, s/4)
    Flatten, [Dropout], Dense(c2 (s/4)^2, hidden), ReLU, [Dropout]        (N, hidden)
    Dense(hidden, 10)                                                     (N, 10) logits
    ====================================================================  ==========================

    ``(c1, c2) = channels``; ``s = image_size``, a multiple of 4 (8 for the digits: the dense
    layer then sees 4 c2 values; 12 for the 12x12 textures of the capstone's open-ended task). The normalization ``[norm]`` sits between a convolution and its
    ReLU: ``BatchNorm2d(c)`` with ``batch_norm=True``, ``GroupNorm(group_norm, c)`` with
    ``group_norm`` = G > 0 groups (G must divide c1 and c2; at most one of the two). Spatial
    dropout (``spatial_drop_prob`` > 0) comes after the ReLU, on whole feature maps; dropout
    (``drop_prob`` > 0) on the inputs of both dense layers. ``rng`` draws the initial weights
    (He normal, zero biases), in the same order whatever optional layers are switched on;
    ``noise_rng`` draws the dropout masks and is required when there is dropout.
    """
    from .normalization import GroupNorm

    check_rng(rng)
    if not isinstance(batch_norm, (bool, np.bool_)):
        raise TypeError(f"digits_cnn: batch_norm must be True or False, got {describe(batch_norm)}")
    if not (isinstance(channels, (tuple, list)) and len(channels) == 2):
        raise TypeError(f"digits_cnn: channels must be a pair (c1, c2) of ints, got {describe(channels)}")
    c1, c2 = (check_int(c, "channels[i]", low=1) for c in channels)
    hidden = check_int(hidden, "hidden", low=1)
    image_size = check_int(image_size, "image_size", low=4)
    if image_size % 4:
        raise ValueError(f"digits_cnn: image_size must be a multiple of 4 (two 2x2 max poolings), got {image_size}")
    group_norm = check_int(group_norm, "group_norm", low=0)
    if group_norm and batch_norm:
        raise ValueError(f"digits_cnn: choose one normalization, got batch_norm=True and group_norm={group_norm}")
    if group_norm and (c1 % group_norm or c2 % group_norm):
        raise ValueError(f"digits_cnn: group_norm={group_norm} groups must divide both channel counts "
                         f"{(c1, c2)}, e.g. group_norm=4 for channels=(8, 16)")
    needs_noise = bool(spatial_drop_prob) or bool(drop_prob)
    if needs_noise:
        check_rng(noise_rng, "noise_rng")
    elif noise_rng is not None:
        check_rng(noise_rng, "noise_rng")

    def conv_block(in_channels, out_channels):
        block = [Conv2D(in_channels, out_channels, 3, padding=1, rng=rng)]
        if batch_norm:
            block.append(BatchNorm2d(out_channels))
        elif group_norm:
            block.append(GroupNorm(group_norm, out_channels))
        block.append(ReLU())
        if spatial_drop_prob:
            block.append(SpatialDropout2D(spatial_drop_prob, rng=noise_rng))
        return block + [MaxPool2D(2)]

    def dropout():
        return [Dropout(drop_prob, rng=noise_rng)] if drop_prob else []

    return Sequential(*conv_block(1, c1), *conv_block(c1, c2), Flatten(),
                      *dropout(), Dense(c2 * (image_size // 4) ** 2, hidden, rng=rng), ReLU(), *dropout(),
                      Dense(hidden, 10, rng=rng))


MOONS_HIDDEN = 32
"""Width of ``moons_mlp``'s two hidden layers: 1,185 parameters, about 12 per training point."""
MOONS_N_TRAIN = 100
"""Training points of a moons draw in lessons 00-04: ``datasets.load_noisy_moons(draw=..., n_train=MOONS_N_TRAIN)``."""
MOONS_LR = 1.0
"""Learning rate of plain SGD (no momentum) for ``moons_mlp``: the course's one training recipe for it."""
MOONS_BATCH_SIZE = 50
"""Mini-batch size m for ``moons_mlp``: ``MOONS_N_TRAIN`` = 100 training points make 2 full batches an epoch."""
MOONS_EPOCHS = 200
"""Training budget for ``moons_mlp`` (400 SGD steps): long enough for the unregularized network to overfit clearly."""
MOONS_SEEDS = (100, 101, 102, 103, 104)
"""Deprecated: the lessons now take their seeds and data draws from ``coursekit.heldout``."""
MOONS_LAMBD = 0.3
"""The L2 strength notebook 01 chooses on the validation loss (from 0.1, 0.3, 1); notebook 04 uses it."""
MOONS_DROP_PROB = 0.5
"""The dropout rate notebook 02 uses and notebook 04 takes over. Notebook 02 compares 0, 0.5 and 0.8
on the mean validation loss over fresh draws of the moons: 0.5 wins on about four held-out values in
five, 0.8 (which underfits and costs several points of accuracy) on the rest; a finer grid (0.1-0.8)
showed the loss flat from 0.5 to 0.8 and the accuracy falling beyond 0.5."""


def moons_mlp(*, rng: np.random.Generator, noise_rng: np.random.Generator | None = None,
              drop_prob: float = 0.0, hidden: int = MOONS_HIDDEN) -> Sequential:
    """The course's one baseline for the noisy two-moons set (notebooks 00, 01, 02, 04).

    An MLP 2 -> hidden -> hidden -> 1 with ReLU, far bigger than 100 training points need
    (1,185 parameters at the default ``hidden=32``), so without regularization it overfits them:
    it fits part of the label noise and grows overconfident (it does not memorize: its training
    accuracy stays near 89%, a few points above the Bayes-optimal rule's on the same points):

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


def train_moons_mlp(data, streams, *, drop_prob: float = 0.0, regularizer=None, epochs: int = MOONS_EPOCHS,
                    callbacks=(), validation: bool = True, optimizer=None, progress: bool = False):
    """Build ``moons_mlp`` and train it with the course's recipe; returns ``(model, history)``.

    The recipe: plain SGD with learning rate ``MOONS_LR`` (1.0), mini-batches of
    ``MOONS_BATCH_SIZE`` (50), ``epochs`` (default ``MOONS_EPOCHS``, 200) epochs, binary
    cross-entropy from logits. The randomness comes from ``streams``
    (``coursekit.experiments.seed_streams(seed)``): ``streams.init`` draws the initial weights,
    ``streams.order`` the order of the mini-batches and ``streams.noise`` the dropout masks,
    so runs of one seed that differ only in their regularization start from the same
    weights and see the same batches.

    ``data``: a ``Splits`` (``datasets.load_noisy_moons()``); the model trains on
    ``X_train`` (n, 2) / ``y_train`` (n,) and, with ``validation=True``, logs ``val_loss``
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
              drop_prob: float = 0.0, head: str = "average", channels: tuple[int, int] = (4, 64),
              image_size: int = 10, n_classes: int = 10) -> Sequential:
    """Notebook 03's CNN: two convolutions, optional dropout on the second one's maps, then a head.

    With ``s = image_size`` and ``(c1, c2) = channels`` (defaults: notebook 03's 10x10 textures,
    ``(4, 64)``: 3,058 parameters with the average head):

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


NORMALIZATIONS = ("none", "batch", "group", "layer")
"""The ``norm`` choices of ``normalized_cnn`` (notebook 07)."""


def normalized_cnn(*, rng: np.random.Generator, norm: str = "none", channels: int = 8, hidden: int = 32,
                   num_groups: int = 4, image_size: int = 8, n_classes: int = 10) -> Sequential:
    """Notebook 07's small CNN, with the same normalization after its convolution and its hidden layer.

    With ``s = image_size`` (8 for the digits), ``t = ceil(s / 2)``, ``c = channels``, ``h = hidden``:

    ==============================================================  ==========================
    layer                                                           output shape
    ==============================================================  ==========================
    input                                                           (N, 1, s, s)
    Conv2D(1, c, 3, stride=2, padding=1), [norm 2-D], ReLU          (N, c, t, t)
    Flatten, Dense(c t^2, h), [norm 1-D], ReLU                      (N, h)
    Dense(h, n_classes)                                             (N, n_classes) logits
    ==============================================================  ==========================

    ``norm`` (between each layer and its ReLU):

    * ``"none"``: nothing;
    * ``"batch"``: ``BatchNorm2d(c)`` and ``BatchNorm1d(h)`` (statistics over the batch);
    * ``"group"``: ``GroupNorm(num_groups, c)`` and ``GroupNorm(num_groups, h)`` (groups of
      channels, resp. of consecutive hidden units, of each sample);
    * ``"layer"``: ``LayerNorm((c, t, t))`` and ``LayerNorm(h)`` (each sample's whole map, resp.
      all its hidden units).

    ``rng`` draws the initial weights (He normal, zero biases) in the same order whatever
    ``norm`` is (the normalization layers draw nothing), so with ``seed_streams`` the four
    variants of one seed start from identical weights. ``num_groups`` must divide both
    ``channels`` and ``hidden``.
    """
    from .batchnorm import BatchNorm1d
    from .conv import conv_output_size
    from .normalization import GroupNorm, LayerNorm

    where = "normalized_cnn"
    check_rng(rng)
    if norm not in NORMALIZATIONS:
        raise ValueError(f"{where}: norm must be one of {NORMALIZATIONS}, got {describe(norm)}")
    channels = check_int(channels, "channels", low=1)
    hidden = check_int(hidden, "hidden", low=1)
    num_groups = check_int(num_groups, "num_groups", low=1)
    image_size = check_int(image_size, "image_size", low=1)
    n_classes = check_int(n_classes, "n_classes", low=2)
    if norm == "group" and (channels % num_groups or hidden % num_groups):
        raise ValueError(f"{where}: num_groups={num_groups} must divide channels={channels} and hidden={hidden}")
    t = conv_output_size(image_size, 3, 2, 1)

    def normalize(kind):
        if norm == "batch":
            return [BatchNorm2d(channels)] if kind == "maps" else [BatchNorm1d(hidden)]
        if norm == "group":
            return [GroupNorm(num_groups, channels if kind == "maps" else hidden)]
        if norm == "layer":
            return [LayerNorm((channels, t, t))] if kind == "maps" else [LayerNorm(hidden)]
        return []

    conv = Conv2D(1, channels, 3, stride=2, padding=1, rng=rng)
    dense = Dense(channels * t * t, hidden, rng=rng)
    head = Dense(hidden, n_classes, rng=rng)
    return Sequential(conv, *normalize("maps"), ReLU(), Flatten(), dense, *normalize("units"), ReLU(), head)


__all__ += ["normalized_cnn", "NORMALIZATIONS"]

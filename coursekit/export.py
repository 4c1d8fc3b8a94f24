"""Code export: a capstone configuration (notebook 08) as PyTorch or Keras source code.

A *configuration* is a dict of the regularizers it switches on, with the names used
throughout the course::

    {"batch_norm": True, "drop_prob": 0.5, "spatial_drop_prob": 0.2, "lambd": 0.3, "patience": 10}
    {"group_norm": 4, "augment": {"degrees": 10, "shift": 0.5, "scale": 0.1}}

Missing keys mean "off". ``group_norm`` is a number of groups (``GroupNorm`` in place of batch
norm; at most one of the two); ``augment`` a dict of per-example random transformations applied
to every training batch (``coursekit.capstone.augment_hook`` builds the ``fit`` hook): rotations up to
``degrees``, shifts up to ``shift`` pixels and zooms in ``[1 - scale, 1 + scale]`` (one
``RandomAffine``), then a horizontal flip with probability ``flip``, then Gaussian noise of
standard deviation ``noise``. ``pytorch_code`` and ``keras_code`` turn a configuration, the CNN of
``coursekit.models.digits_cnn`` and a training budget (SGD with momentum) into a script
that builds and trains the same network with the library's own layers, with the
conventions mapped:

==================  ===============================  ===============================  ==========================================
setting             coursekit                        PyTorch                          Keras 3
==================  ===============================  ===============================  ==========================================
dropout             ``Dropout(drop_prob)``           ``nn.Dropout(p=drop_prob)``      ``layers.Dropout(rate=drop_prob)``
spatial dropout     ``SpatialDropout2D(drop_prob)``  ``nn.Dropout2d(p=drop_prob)``    ``layers.SpatialDropout2D(rate=drop_prob)``
batch norm          momentum 0.1, eps 1e-5           ``momentum=0.1, eps=1e-5``       ``momentum=0.9, epsilon=1e-5`` (1 - PyTorch's)
group norm          ``GroupNorm(G, C)``, eps 1e-5    ``nn.GroupNorm(G, C, eps=1e-5)`` ``layers.GroupNormalization(groups=G, epsilon=1e-5)``
augmentation        ``RandomAffine`` (+ flip, noise) ``affine_grid`` + ``grid_sample``  ``RandomRotation``, ``RandomTranslation``, ``RandomZoom``
                    per example, zero fill           per example, zero fill           (``fill_mode="constant"``), ``RandomFlip``, ``GaussianNoise``
L2, batch size m    ``L2(lambd)``: lambd/(2m) sum W²  ``weight_decay=lambd/m``,        ``regularizers.l2(lambd/(2m))`` (c sum w², no ½)
                                                     weights only
early stopping      ``EarlyStopping("val_loss",      a loop: improvement iff           ``callbacks.EarlyStopping(monitor="val_loss",
                    patience, restore_best_          ``val_loss < best``; stop when    patience, restore_best_weights=True)``
                    weights=True)``                  ``wait >= patience``
==================  ===============================  ===============================  ==========================================

The PyTorch script is executed by the test suite (``tests/test_export.py``) when PyTorch is
installed: it must build the network ``digits_cnn`` builds (same logits from the same
weights), take the same SGD step with the same L2 term, stop where ``EarlyStopping``
stops, and transform images as ``coursekit.augment.affine`` does. Keras is not a test
dependency, so the Keras script is only parsed there.
"""
from __future__ import annotations

from ._validation import check_int, check_real, describe

__all__ = ["CONFIG_KEYS", "AUGMENT_KEYS", "check_config", "check_augment", "pytorch_code", "keras_code"]

CONFIG_KEYS = ("batch_norm", "group_norm", "drop_prob", "spatial_drop_prob", "lambd", "patience", "augment")
AUGMENT_KEYS = ("degrees", "shift", "scale", "flip", "noise")
_AUGMENT_RANGES = {"degrees": (0.0, 180.0, "a rotation of at most this many degrees either way"),
                   "shift": (0.0, 4.0, "a shift of at most this many pixels along each axis"),
                   "scale": (0.0, 0.5, "a zoom factor in [1 - scale, 1 + scale]"),
                   "flip": (0.0, 1.0, "the probability of a horizontal flip"),
                   "noise": (0.0, 4.0, "the standard deviation of Gaussian noise added to every pixel")}


def check_augment(spec) -> dict | None:
    """Validate an ``augment`` specification; return it with every key of ``AUGMENT_KEYS`` (or None: no augmentation).

    ``spec``: None, or a dict with some of ``degrees`` in [0, 180], ``shift`` in [0, 4] (pixels),
    ``scale`` in [0, 0.5], ``flip`` in [0, 1] (a probability) and ``noise`` in [0, 4] (a standard
    deviation); missing keys are 0. A dict whose values are all 0 is None.
    """
    if spec is None:
        return None
    if not isinstance(spec, dict):
        raise TypeError(f"config['augment'] must be a dict such as {{'degrees': 10, 'shift': 0.5}} or None, "
                        f"got {describe(spec)}")
    unknown = sorted(map(str, set(spec) - set(AUGMENT_KEYS)))
    if unknown:
        raise ValueError(f"config['augment'] has unknown key(s) {unknown}; the known keys are {list(AUGMENT_KEYS)}")
    checked = {}
    for key, (low, high, meaning) in _AUGMENT_RANGES.items():
        try:
            checked[key] = check_real(spec.get(key, 0.0), f"config['augment'][{key!r}]", low=low, high=high)
        except ValueError as exc:
            raise ValueError(f"{exc} ({meaning})") from None
    return checked if any(checked.values()) else None


def check_config(config) -> dict:
    """Validate a configuration dict (keys in ``CONFIG_KEYS``); return a copy with defaults filled in.

    The copy has every key: ``batch_norm`` (bool, default False), ``group_norm`` (int >= 0 groups,
    default 0 = none; not with batch norm), ``drop_prob`` and ``spatial_drop_prob`` (in [0, 1),
    default 0 = no layer), ``lambd`` (>= 0, default 0 = no penalty), ``patience`` (int >= 1, or
    None = no early stopping) and ``augment`` (see ``check_augment``; default None).
    """
    if not isinstance(config, dict):
        raise TypeError(f"config must be a dict such as {{'drop_prob': 0.5, 'lambd': 0.3}}, got {describe(config)}")
    unknown = sorted(map(str, set(config) - set(CONFIG_KEYS)))
    if unknown:
        raise ValueError(f"config has unknown key(s) {unknown}; the known keys are {list(CONFIG_KEYS)}")
    batch_norm = config.get("batch_norm", False)
    if not isinstance(batch_norm, bool):
        raise TypeError(f"config['batch_norm'] must be True or False, got {describe(batch_norm)}")
    checked = {"batch_norm": batch_norm,
               "group_norm": check_int(config.get("group_norm", 0), "config['group_norm']", low=0)}
    if checked["group_norm"] and batch_norm:
        raise ValueError(f"config: choose one normalization, got batch_norm=True and "
                         f"group_norm={checked['group_norm']}")
    for key in ("drop_prob", "spatial_drop_prob"):
        value = check_real(config.get(key, 0.0), f"config[{key!r}]", low=0.0, high=1.0, high_open=True)
        checked[key] = value
    checked["lambd"] = check_real(config.get("lambd", 0.0), "config['lambd']", low=0.0)
    patience = config.get("patience")
    checked["patience"] = None if patience is None else check_int(patience, "config['patience']", low=1)
    checked["augment"] = check_augment(config.get("augment"))
    return checked


def _check_budget(lr, momentum, batch_size, epochs, channels, hidden, group_norm=0):
    lr = check_real(lr, "lr", low=0.0, low_open=True)
    momentum = check_real(momentum, "momentum", low=0.0, high=1.0, high_open=True)
    batch_size = check_int(batch_size, "batch_size", low=1)
    epochs = check_int(epochs, "epochs", low=1)
    if not (isinstance(channels, (tuple, list)) and len(channels) == 2):
        raise TypeError(f"channels must be a pair (c1, c2) of ints, got {describe(channels)}")
    channels = tuple(check_int(c, "channels[i]", low=1) for c in channels)
    hidden = check_int(hidden, "hidden", low=1)
    if group_norm and any(c % group_norm for c in channels):
        raise ValueError(f"config['group_norm']={group_norm} groups must divide both channel counts {channels}")
    return lr, momentum, batch_size, epochs, channels, hidden


def _list_item(entry: str) -> str:
    """One entry of a list of layers as a line of source: the comma goes before a trailing comment."""
    code, _, comment = entry.partition("  # ")
    return f"    {code}," + (f"  # {comment}" if comment else "")


def _pytorch_augment(spec: dict) -> list[str]:
    """PyTorch source of ``affine`` (coursekit.augment.affine's conventions) and ``augment`` (the random draws)."""
    lines = ["", "",
             "def affine(x, degrees, dy, dx, scale):",
             '    """Rotate example n by degrees[n] counter-clockwise, zoom it scale[n] times, then move it dy[n] rows',
             '    down and dx[n] columns right (bilinear, zeros outside): coursekit.augment.affine, square images."""',
             "    k = 2.0 / x.shape[-1]  # pixels -> grid_sample's [-1, 1] coordinates (align_corners=False)",
             "    cos, sin = torch.cos(torch.deg2rad(degrees)) / scale, torch.sin(torch.deg2rad(degrees)) / scale",
             "    theta = torch.stack([torch.stack([cos, -sin, k * (sin * dy - cos * dx)], dim=1),",
             "                         torch.stack([sin, cos, -k * (sin * dx + cos * dy)], dim=1)], dim=1)  # (N, 2, 3)",
             "    grid = nn.functional.affine_grid(theta.to(x.dtype), list(x.shape), align_corners=False)",
             '    return nn.functional.grid_sample(x, grid, mode="bilinear", padding_mode="zeros", align_corners=False)',
             "",
             "",
             "def augment(x):",
             '    """A fresh random transformation of every example of a training batch (N, 1, 8, 8), as coursekit\'s hook."""',
             "    n = x.shape[0]"]
    degrees, shift, scale, flip, noise = (spec[key] for key in AUGMENT_KEYS)
    if degrees or shift or scale:
        lines += ["    u = torch.rand(4, n)  # one draw per example: angle, dy, dx, zoom",
                  f"    x = affine(x, {_literal(degrees)} * (2 * u[0] - 1), {_literal(shift)} * (2 * u[1] - 1), "
                  f"{_literal(shift)} * (2 * u[2] - 1),",
                  f"               {_literal(1 - scale)} + {_literal(2 * scale)} * u[3])"]
    if flip:
        lines += [f"    x = torch.where(torch.rand(n, 1, 1, 1) < {_literal(flip)}, x.flip(-1), x)  # mirror left-right"]
    if noise:
        lines += [f"    x = x + {_literal(noise)} * torch.randn_like(x)"]
    return lines + ["    return x"]


def _literal(value: float) -> str:
    """A (checked, finite) float as the shortest literal that reads back as the same value: 0.3, not 0.30000001."""
    return repr(float(value))


def pytorch_code(config: dict, *, lr: float, momentum: float, batch_size: int, epochs: int,
                 channels: tuple[int, int] = (16, 32), hidden: int = 128) -> str:
    """PyTorch source (a string) that builds ``digits_cnn(**config)`` and trains it with SGD.

    The script expects ``X_train`` (float32, (N, 1, 8, 8), NCHW) and ``y_train`` (int64, (N,))
    as tensors, and, with early stopping, ``X_val`` and ``y_val``. It leaves ``model`` (in
    evaluation mode), ``optimizer`` and, with early stopping, ``val_losses`` (one per epoch)
    and ``best_epoch`` (0-based) behind; with augmentation also the functions ``affine`` and
    ``augment``. Conventions: He-normal weights and zero biases as coursekit; L2 as
    ``weight_decay = lambd / batch_size`` on the convolution and linear weights only (not
    biases, not the normalization's gamma and beta); batch norm with momentum 0.1 and eps 1e-5;
    group norm with eps 1e-5; dropout ``p = drop_prob``; augmentation per example with
    ``affine_grid``/``grid_sample`` (bilinear, zero fill: ``coursekit.augment.affine``'s
    geometry); early stopping on the validation loss, an epoch improving when its loss is
    strictly below the best so far, stopping when ``patience`` epochs in a row did not, and
    restoring the best epoch's weights.
    """
    cfg = check_config(config)
    lr, momentum, batch_size, epochs, (c1, c2), hidden = _check_budget(lr, momentum, batch_size, epochs,
                                                                        channels, hidden, cfg["group_norm"])
    bn, gn, sdrop, drop = cfg["batch_norm"], cfg["group_norm"], cfg["spatial_drop_prob"], cfg["drop_prob"]
    lambd, patience, spec = cfg["lambd"], cfg["patience"], cfg["augment"]

    def conv_block(c_in, c_out):
        norm = ([f"nn.BatchNorm2d({c_out}, momentum=0.1, eps=1e-5)"] if bn else
                [f"nn.GroupNorm({gn}, {c_out}, eps=1e-5)"] if gn else [])
        return ([f"nn.Conv2d({c_in}, {c_out}, 3, padding=1)"] + norm
                + ["nn.ReLU()"] + ([f"nn.Dropout2d(p={_literal(sdrop)})"] if sdrop else []) + ["nn.MaxPool2d(2)"])

    dropout = [f"nn.Dropout(p={_literal(drop)})"] if drop else []
    layers = (conv_block(1, c1) + conv_block(c1, c2) + ["nn.Flatten()"] + dropout
              + [f"nn.Linear({c2} * 2 * 2, {hidden})", "nn.ReLU()"] + dropout + [f"nn.Linear({hidden}, 10)"])
    lines = [*(["import copy", ""] if patience else []), "import torch", "from torch import nn", "",
             "# X_train: float32 tensor (N, 1, 8, 8), NCHW as in coursekit; y_train: int64 tensor (N,)"
             + ("; the same for X_val, y_val" if patience else ""),
             "model = nn.Sequential(", *[f"    {layer}," for layer in layers], ")",
             "for module in model.modules():  # He-normal weights, zero biases, as coursekit",
             "    if isinstance(module, (nn.Conv2d, nn.Linear)):",
             '        nn.init.kaiming_normal_(module.weight, nonlinearity="relu")',
             "        nn.init.zeros_(module.bias)"]
    if spec:
        lines += _pytorch_augment(spec) + ["", ""]
    if lambd:
        lines += [f"# L2 with lambda = {_literal(lambd)}, batch size m = {batch_size}: weight decay lambda / m "
                  "on the weights only",
                  "weights = [p for p in model.parameters() if p.ndim > 1]  # convolution kernels, linear weights",
                  "others = [p for p in model.parameters() if p.ndim <= 1]  # biases, the normalization's gamma and beta",
                  f'optimizer = torch.optim.SGD([{{"params": weights, "weight_decay": {_literal(lambd)} / {batch_size}}},',
                  '                             {"params": others, "weight_decay": 0.0}],',
                  f"                            lr={_literal(lr)}, momentum={_literal(momentum)})"]
    else:
        lines += [f"optimizer = torch.optim.SGD(model.parameters(), lr={_literal(lr)}, momentum={_literal(momentum)})"]
    lines += ["loss_fn = nn.CrossEntropyLoss()  # softmax cross-entropy from logits, batch mean",
              "loader = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(X_train, y_train),",
              f"                                     batch_size={batch_size}, shuffle=True)"]
    if patience:
        lines += ['best_loss, best_epoch, wait = float("inf"), 0, 0',
                  "best_state = copy.deepcopy(model.state_dict())",
                  "val_losses = []"]
    lines += [f"for epoch in range({epochs}):",
              "    model.train()  # dropout on, batch norm on batch statistics",
              "    for xb, yb in loader:",
              *(["        xb = augment(xb)  # a new random version of every training image, every epoch"] if spec else []),
              "        optimizer.zero_grad()",
              "        loss_fn(model(xb), yb).backward()",
              "        optimizer.step()"]
    if patience:
        lines += ["    model.eval()",
                  "    with torch.no_grad():",
                  "        val_loss = loss_fn(model(X_val), y_val).item()",
                  "    val_losses.append(val_loss)",
                  "    if val_loss < best_loss:  # an improvement (equal is not): remember a copy of these weights",
                  "        best_loss, best_epoch, wait = val_loss, epoch, 0",
                  "        best_state = copy.deepcopy(model.state_dict())",
                  "    else:",
                  "        wait += 1",
                  f"        if wait >= {patience}:  # patience = {patience} epochs in a row without improvement",
                  "            break",
                  "model.load_state_dict(best_state)  # restore the best epoch's weights"]
    lines += ["model.eval()  # for predictions: dropout off, batch norm on its running statistics"]
    return "\n".join(lines) + "\n"


def keras_code(config: dict, *, lr: float, momentum: float, batch_size: int, epochs: int,
               channels: tuple[int, int] = (16, 32), hidden: int = 128) -> str:
    """Keras 3 source (a string) that builds ``digits_cnn(**config)`` channels-last and trains it with SGD.

    The script expects ``X_train`` (N, 8, 8, 1) (e.g. ``X.transpose(0, 2, 3, 1)``), ``y_train``
    (N,) integer labels, and ``X_val``, ``y_val``. Conventions: L2 as
    ``regularizers.l2(lambd / (2 * batch_size))`` on every kernel (Keras adds ``c * sum(w**2)``,
    whose gradient ``2c w`` is coursekit's ``(lambd / m) W``); ``BatchNormalization(momentum=0.9,
    epsilon=1e-5)`` (Keras's momentum is the weight of the *old* value); ``GroupNormalization(groups,
    epsilon=1e-5)``; ``rate = drop_prob``; ``he_normal`` kernels (Keras draws them from a truncated
    normal); augmentation as Keras's random preprocessing layers at the model's input (active in
    training only, per example, ``fill_mode="constant"``; ``RandomFlip`` always flips with
    probability 0.5, a comment says so when ``flip`` differs).
    """
    cfg = check_config(config)
    lr, momentum, batch_size, epochs, (c1, c2), hidden = _check_budget(lr, momentum, batch_size, epochs,
                                                                        channels, hidden, cfg["group_norm"])
    bn, gn, sdrop, drop = cfg["batch_norm"], cfg["group_norm"], cfg["spatial_drop_prob"], cfg["drop_prob"]
    lambd, patience, spec = cfg["lambd"], cfg["patience"], cfg["augment"]
    weights = ', kernel_initializer="he_normal"' + (", kernel_regularizer=penalty" if lambd else "")

    def conv_block(filters):
        norm = (["layers.BatchNormalization(momentum=0.9, epsilon=1e-5)"] if bn else
                [f"layers.GroupNormalization(groups={gn}, epsilon=1e-5)"] if gn else [])
        return ([f'layers.Conv2D({filters}, 3, padding="same"{weights})'] + norm + ["layers.ReLU()"]
                + ([f"layers.SpatialDropout2D(rate={_literal(sdrop)})"] if sdrop else []) + ["layers.MaxPooling2D(2)"])

    augmentation = []
    if spec:
        degrees, shift, scale, flip, noise = (spec[key] for key in AUGMENT_KEYS)
        constant = 'fill_mode="constant"'
        augmentation += ([f"layers.RandomRotation({_literal(degrees)} / 360, {constant})"] if degrees else []) + \
            ([f"layers.RandomTranslation({_literal(shift)} / 8, {_literal(shift)} / 8, {constant})"] if shift else []) + \
            ([f"layers.RandomZoom(({_literal(-scale)}, {_literal(scale)}), {constant})"] if scale else []) + \
            ([f'layers.RandomFlip("horizontal")  # flips with probability 0.5 (coursekit: {_literal(flip)})']
             if flip else []) + \
            ([f"layers.GaussianNoise({_literal(noise)})"] if noise else [])
    dropout = [f"layers.Dropout(rate={_literal(drop)})"] if drop else []
    layer_list = (["keras.Input(shape=(8, 8, 1))"] + augmentation + conv_block(c1) + conv_block(c2)
                  + ["layers.Flatten()"] + dropout + [f"layers.Dense({hidden}{weights})", "layers.ReLU()"] + dropout
                  + [f"layers.Dense(10{weights})"])
    lines = ["import keras", "from keras import layers, regularizers", "",
             "# Keras is channels-last: X_train, X_val as (N, 8, 8, 1), e.g. X.transpose(0, 2, 3, 1); y as (N,) ints"]
    if lambd:
        lines += [f"penalty = regularizers.l2({_literal(lambd)} / (2 * {batch_size}))  # Keras adds c * sum(w**2): "
                  "c = lambda / (2m)"]
    lines += ["model = keras.Sequential([", *[_list_item(layer) for layer in layer_list], "])",
              f"model.compile(optimizer=keras.optimizers.SGD(learning_rate={_literal(lr)}, "
              f"momentum={_literal(momentum)}),",
              '              loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True), metrics=["accuracy"])']
    callbacks = ""
    if patience:
        lines += [f'stop = keras.callbacks.EarlyStopping(monitor="val_loss", patience={patience}, '
                  "restore_best_weights=True)"]
        callbacks = ", callbacks=[stop]"
    lines += [f"model.fit(X_train, y_train, batch_size={batch_size}, epochs={epochs}, "
              f"validation_data=(X_val, y_val){callbacks})"]
    return "\n".join(lines) + "\n"

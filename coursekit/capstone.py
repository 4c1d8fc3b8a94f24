"""The capstone (notebook 08): one way to train any configuration of the course's techniques, and the
open-ended task "your best model under a budget", scored by the grader on a test set nobody has.

**Configurations** are plain data (``coursekit.export.check_config`` has the schema): which
normalization, which dropout, which L2 strength, whether to stop early, which augmentation::

    {"group_norm": 4, "lambd": 0.5, "augment": {"degrees": 10, "shift": 0.5, "scale": 0.1}}

plus, in the open-ended task, ``"epochs"`` (at most the recipe's) and ``"lr"``. A ``Recipe`` fixes
everything else (the CNN's size, SGD with momentum, the batch size), and ``train_config`` trains a
configuration under it: the network is ``coursekit.models.digits_cnn`` with the configuration's
layers; L2 and augmentation go to ``fit``; ``"patience"`` stops early on a *stopping* split, never
on the validation split that scores the configuration (no double-dipping).

**The open-ended task** (section "Your turn" of notebook 08): 10 classes of oriented textures
(``datasets.make_textures``, 12x12 pixels, ``TEXTURE_NOISE``), drawn from the documented seed
``TASK_SEED``: ``load_task()`` gives 200 training, 200 stopping and 500 validation images, and no
test images. ``try_config(config)`` trains a configuration (training seed ``TRY_SEED``) and returns
its validation accuracy, charging the epochs it trained to a budget of ``TASK_BUDGET`` epochs; a
configuration already tried is free. ``submit(config)`` records the final choice in the notebook's
output (a ``SUBMISSION_MIME`` display: plain data), and ``report()`` says whether the protocol was
respected (within budget; ``load_test`` never called).

**Grading** (``python -m coursekit.grade --test-seed N``, README "Grading"): the grader reads the
submitted configuration from the executed notebook, validates it (``check_submission``), trains it
*itself*, in its own process, on the official training images with the training seeds
``GRADING_SEEDS`` (no learner code runs), and scores it on ``TEST_SIZE`` fresh images drawn from the
instructor's seed (``load_test``): ``score_submission`` returns the mean test accuracy. The same seed
always gives the same score; another seed, another test set. What cannot be enforced against a
hostile learner: the exploration budget (a learner could explore outside the notebook) and the
``load_test`` flag (learner code can reset it). What can: the configuration is data, trained the
same way for everyone, on data the learner had, and scored on data the learner never had.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field

import numpy as np

from ._validation import check_int, check_real, describe
from .export import check_config as check_techniques

__all__ = ["Recipe", "DIGITS_RECIPE", "TASK_RECIPE", "RUN_KEYS", "check_config", "augment_hook", "augment_stream",
           "train_config", "DIGITS_SIZES", "LABEL_NOISE", "NoisyDigits", "load_noisy_digits", "run_digits", "AUGMENT",
           "TOUR", "TOUR_CLEAN", "tour_cells", "run_tour", "load_tour", "TaskData", "TASK_SEED", "TASK_SIZES", "TEXTURE_SIZE", "TEXTURE_NOISE", "TASK_BUDGET",
           "TRY_SEED", "GRADING_SEEDS", "TEST_SIZE", "LR_RANGE", "SUBMISSION_MIME", "load_task", "load_test",
           "Session", "try_config", "submit", "report", "budget_left", "check_submission", "score_submission"]


@dataclass(frozen=True)
class Recipe:
    """What stays fixed while configurations change: the network's size and how it is trained.

    ``digits_cnn(channels=channels, hidden=hidden, image_size=image_size)``, SGD with learning
    rate ``lr`` and ``momentum``, mini-batches of ``batch_size``, ``epochs`` epochs (in the task,
    the most one run may use).
    """

    channels: tuple[int, int] = (8, 16)
    hidden: int = 64
    image_size: int = 8
    lr: float = 0.05
    momentum: float = 0.9
    batch_size: int = 50
    epochs: int = 30


DIGITS_RECIPE = Recipe()
"""Notebook 08's digits experiment: 8x8 images, channels (8, 16), 64 hidden units, SGD 0.05 with
momentum 0.9, batches of 50, 30 epochs."""
TASK_RECIPE = Recipe(image_size=12, epochs=40)
"""The open-ended task: 12x12 textures, at most 40 epochs per run."""

RUN_KEYS = ("epochs", "lr")
"""Keys a configuration may add to the techniques (``export.CONFIG_KEYS``) to change its run."""
LR_RANGE = (0.001, 0.5)
"""The learning rates a configuration may ask for (SGD with momentum 0.9)."""


def check_config(config, *, recipe: Recipe = DIGITS_RECIPE) -> dict:
    """A configuration checked and completed: ``export.check_config``'s keys plus ``epochs`` and ``lr``.

    ``epochs`` (default: the recipe's) must be in [1, recipe.epochs] and ``lr`` (default: the
    recipe's) in ``LR_RANGE``; ``group_norm`` must divide the recipe's channel counts; patience
    at most the epochs. Anything else is a ``TypeError``/``ValueError`` naming the key and the value.
    Returns a new dict with every key.
    """
    if not isinstance(config, dict):
        raise TypeError(f"config must be a dict such as {{'drop_prob': 0.3, 'lambd': 0.5}}, got {describe(config)}")
    techniques = check_techniques({k: v for k, v in config.items() if k not in RUN_KEYS})
    epochs = check_int(config.get("epochs", recipe.epochs), "config['epochs']", low=1)
    if epochs > recipe.epochs:
        raise ValueError(f"config['epochs'] must be at most {recipe.epochs} (the recipe's budget per run), got {epochs}")
    lr = check_real(config.get("lr", recipe.lr), "config['lr']", low=LR_RANGE[0], high=LR_RANGE[1])
    groups = techniques["group_norm"]
    if groups and any(c % groups for c in recipe.channels):
        raise ValueError(f"config['group_norm'] must divide the channel counts {recipe.channels}, got {groups}; "
                         f"try {', '.join(str(g) for g in (1, 2, 4, 8) if not any(c % g for c in recipe.channels))}")
    if techniques["patience"] is not None and techniques["patience"] > epochs:
        raise ValueError(f"config['patience'] must be at most the epochs ({epochs}), got {techniques['patience']}")
    return {**techniques, "epochs": epochs, "lr": lr}


def augment_hook(spec):
    """The ``fit`` hook of an ``augment`` specification (``export.check_augment``), or None.

    In this order, each only when switched on: ``RandomAffine(degrees, shift, scale=(1 - scale, 1 +
    scale))``, ``RandomHorizontalFlip(flip)``, ``GaussianNoise(noise)``, as one ``Compose``.
    """
    from . import augment
    from .export import check_augment

    spec = check_augment(spec)
    if spec is None:
        return None
    steps = []
    if spec["degrees"] or spec["shift"] or spec["scale"]:
        steps.append(augment.RandomAffine(degrees=spec["degrees"], shift=spec["shift"],
                                          scale=(1.0 - spec["scale"], 1.0 + spec["scale"])))
    if spec["flip"]:
        steps.append(augment.RandomHorizontalFlip(spec["flip"]))
    if spec["noise"]:
        steps.append(augment.GaussianNoise(spec["noise"]))
    return augment.Compose(steps)


def augment_stream(streams) -> np.random.Generator:
    """The generator of a run's augmentations: a fourth stream of its seed, independent of
    ``init``, ``order`` and ``noise`` (``SeedSequence(seed).spawn(4)[3]``), so that switching
    augmentation on changes neither the initial weights nor the batches nor the dropout masks."""
    return np.random.default_rng(np.random.SeedSequence(streams.seed).spawn(4)[3])


def train_config(config, X: np.ndarray, y: np.ndarray, streams, *, recipe: Recipe = DIGITS_RECIPE,
                 stopping_data=None, callbacks=(), progress: bool = False):
    """Train one configuration from one seed's ``streams``; returns ``(model, history)``.

    Shapes: X (N, 1, s, s) float32 images (s = ``recipe.image_size``), y (N,) class labels in 0..9.
    ``streams``: ``coursekit.experiments.seed_streams(seed)`` (initial weights, batch order,
    dropout masks; augmentations from ``augment_stream(streams)``), so two configurations run with
    one seed start from the same weights and see the same batches.

    The model is ``digits_cnn`` with the configuration's normalization and dropout; ``fit`` runs
    SGD (``config["lr"]``, ``recipe.momentum``) for ``config["epochs"]`` epochs with
    ``L2(lambd)`` and the augmentation hook when they are on. ``stopping_data`` ``(X_stop,
    y_stop)`` is validated on after every epoch, needed by ``"patience"`` (``EarlyStopping`` with the
    best weights restored) and by ``callbacks`` that watch the validation loss (e.g.
    ``EarlyStoppingSnapshot``); pass a split that chooses nothing else.
    """
    from .early_stopping import EarlyStopping
    from .losses import softmax_cross_entropy
    from .models import digits_cnn
    from .optim import SGD
    from .regularization import L2
    from .training import fit

    cfg = check_config(config, recipe=recipe)
    for name in ("init", "order", "noise"):
        if not isinstance(getattr(streams, name, None), np.random.Generator):
            raise TypeError(f"train_config: streams must come from coursekit.experiments.seed_streams(seed), "
                            f"got {describe(streams)} of type {type(streams).__name__}")
    callbacks = list(callbacks)
    if cfg["patience"] is not None:
        callbacks.append(EarlyStopping("val_loss", patience=cfg["patience"], restore_best_weights=True))
    if callbacks and stopping_data is None:
        raise ValueError("train_config: early stopping needs stopping_data=(X_stop, y_stop), a split of its own")
    model = digits_cnn(rng=streams.init, noise_rng=streams.noise, batch_norm=cfg["batch_norm"],
                       group_norm=cfg["group_norm"], drop_prob=cfg["drop_prob"],
                       spatial_drop_prob=cfg["spatial_drop_prob"], channels=recipe.channels, hidden=recipe.hidden,
                       image_size=recipe.image_size)
    hook = augment_hook(cfg["augment"])
    history = fit(model, softmax_cross_entropy, SGD(model.parameters(), lr=cfg["lr"], momentum=recipe.momentum),
                  X, y, epochs=cfg["epochs"], batch_size=recipe.batch_size, rng=streams.order,
                  validation_data=tuple(stopping_data) if callbacks else None, callbacks=callbacks,
                  regularizer=L2(cfg["lambd"]) if cfg["lambd"] else None, progress=progress,
                  augment=hook, augment_rng=augment_stream(streams) if hook is not None else None)
    return model, history


# ----------------------------------------------------------------------------- notebook 08's digits experiment

DIGITS_SIZES = {"train": 300, "stop": 150, "val": 300}
"""Digits per split of a draw: train on 300, stop early on 150, choose on 300; the rest (1,047) is the test set."""
LABEL_NOISE = 0.2
"""The share of training labels changed to a wrong class."""


@dataclass(frozen=True)
class NoisyDigits:
    """One data draw of notebook 08: scikit-learn's 8x8 digits split by the draw's seed, 20% of the training
    labels wrong. Shapes: X_* (n, 1, 8, 8) float32; y_* (n,) ``np.intp``. ``y_train`` holds the labels as given
    (wrong ones included), ``y_train_true`` the true ones, ``flipped`` the indices of the wrong ones. Early
    stopping watches ``stop``; ``val`` chooses configurations and fits temperatures; ``test`` reports."""

    X_train: np.ndarray
    y_train: np.ndarray
    y_train_true: np.ndarray
    flipped: np.ndarray
    X_stop: np.ndarray
    y_stop: np.ndarray
    X_val: np.ndarray
    y_val: np.ndarray
    X_test: np.ndarray
    y_test: np.ndarray

    def __repr__(self) -> str:
        return (f"NoisyDigits(train{self.X_train.shape} with {len(self.flipped)} wrong labels, stop{self.X_stop.shape}, "
                f"val{self.X_val.shape}, test{self.X_test.shape})")


def load_noisy_digits(draw: int) -> NoisyDigits:
    """Draw ``draw`` of notebook 08's task: ``datasets.load_digits(seed=draw, label_noise=LABEL_NOISE)``, its
    validation part cut into a stopping split (the first 150) and a validation split (the other 300).

    The digits are read once: the clean split, then the wrong labels drawn exactly as ``load_digits``
    draws them (``flip_labels`` with the split seed's own stream; a test checks the two agree).
    """
    from .datasets import flip_labels, load_digits

    n_stop = DIGITS_SIZES["stop"]
    clean = load_digits(n_train=DIGITS_SIZES["train"], n_val=n_stop + DIGITS_SIZES["val"], seed=draw)
    y_train, flipped = flip_labels(clean.y_train, LABEL_NOISE, rng=np.random.default_rng(np.random.SeedSequence([draw, 1])))
    return NoisyDigits(clean.X_train, y_train, clean.y_train, flipped, clean.X_val[:n_stop], clean.y_val[:n_stop],
                       clean.X_val[n_stop:], clean.y_val[n_stop:], clean.X_test, clean.y_test)


def run_digits(config, data: NoisyDigits, streams, *, clean_labels: bool = False,
               recipe: Recipe = DIGITS_RECIPE) -> tuple[dict, dict]:
    """One run of notebook 08: train ``config`` on a draw, score it at the end of its epochs and early-stopped.

    Returns ``(metrics, logits)``. Early stopping is an ``EarlyStoppingSnapshot`` on the stopping
    split (the best epoch of the run, patience = all epochs), so one run gives both versions. For
    each, prefixed ``end_`` and ``es_``: ``train_acc`` (on the labels as given), ``memorized`` (the
    share of wrong training labels it reproduces), ``val_loss``/``val_acc``/``test_loss``/``test_acc``
    (true labels), and, temperature-scaled with T fitted on the validation split: ``T``,
    ``val_loss_cal``, ``test_loss_cal``, ``test_ece`` and ``test_ece_cal``; plus ``best_epoch``.
    ``logits`` holds the early-stopped model's ``val`` and ``test`` logits (n, 10).
    ``clean_labels`` trains on the true labels instead (the same images).
    """
    from .calibration import expected_calibration_error, fit_temperature, temperature_nll, temperature_softmax
    from .experiments import EarlyStoppingSnapshot
    from .training import accuracy

    snapshot = EarlyStoppingSnapshot(patience=recipe.epochs)
    y_train = data.y_train_true if clean_labels else data.y_train
    model, _ = train_config(config, data.X_train, y_train, streams, recipe=recipe,
                            stopping_data=(data.X_stop, data.y_stop), callbacks=[snapshot])
    metrics = {"best_epoch": snapshot.best_epoch}
    for version in ("end", "es"):
        if version == "es":
            model.load_state_dict(snapshot.weights)
        predicted = model.predict(data.X_train).argmax(axis=1)
        val, test = model.predict(data.X_val).astype(np.float64), model.predict(data.X_test).astype(np.float64)
        temperature = fit_temperature(val, data.y_val)
        metrics.update({
            f"{version}_train_acc": float(np.mean(predicted == y_train)),
            f"{version}_memorized": float(np.mean(predicted[data.flipped] == data.y_train[data.flipped])),
            f"{version}_val_loss": temperature_nll(val, data.y_val, 1.0)[0], f"{version}_val_acc": accuracy(val, data.y_val),
            f"{version}_test_loss": temperature_nll(test, data.y_test, 1.0)[0],
            f"{version}_test_acc": accuracy(test, data.y_test), f"{version}_T": temperature,
            f"{version}_val_loss_cal": temperature_nll(val, data.y_val, temperature)[0],
            f"{version}_test_loss_cal": temperature_nll(test, data.y_test, temperature)[0],
            f"{version}_test_ece": expected_calibration_error(temperature_softmax(test), data.y_test),
            f"{version}_test_ece_cal": expected_calibration_error(temperature_softmax(test, temperature), data.y_test)})
    return metrics, {"val": val, "test": test}


# ----------------------------------------------------------------------------- the tour: a precomputed grid

AUGMENT = {"degrees": 10, "shift": 0.5, "scale": 0.1}
"""Notebook 06's augmentation of the digits: rotations up to 10 degrees, shifts up to half a pixel, zooms of 10%."""
TOUR = {
    "none": {},
    "L2": {"lambd": 0.5},
    "dropout": {"drop_prob": 0.3},
    "spatial dropout": {"spatial_drop_prob": 0.2},
    "batch norm": {"batch_norm": True},
    "group norm": {"group_norm": 4},
    "augment": {"augment": AUGMENT},
    "augment + L2": {"augment": AUGMENT, "lambd": 0.5},
    "augment + group norm": {"augment": AUGMENT, "group_norm": 4},
    "augment + dropout": {"augment": AUGMENT, "drop_prob": 0.3},
    "augment + spatial dropout": {"augment": AUGMENT, "spatial_drop_prob": 0.2},
    "all": {"augment": AUGMENT, "lambd": 0.5, "drop_prob": 0.3, "spatial_drop_prob": 0.2, "group_norm": 4},
}
"""The configurations of notebook 08's tour (each run also early-stopped), with the strengths of the earlier lessons."""
TOUR_CLEAN = ("none", "augment + L2")
"""Configurations the tour also trains on the true labels (names suffixed ", true labels")."""
TOUR_DRAWS, TOUR_SEEDS = 10, 2
TOUR_FILE = "capstone_tour.json"


def tour_cells() -> list[tuple[int, int]]:
    """The tour's (draw, seed) cells: 10 draws x 2 seeds from the committed held-out value, stream "tour ".

    Other streams than the notebook's live runs (``held.grid``): the tour's draws are not the live ones."""
    from .heldout import DEFAULT_HELDOUT_SEED, for_lesson

    return for_lesson("08", value=DEFAULT_HELDOUT_SEED).grid(draws=TOUR_DRAWS, seeds=TOUR_SEEDS, name="tour ")


def _tour_job(job) -> tuple[str, dict]:
    from .experiments import seed_streams

    name, draw, seed = job
    base, clean = (name.removesuffix(", true labels"), True) if name.endswith(", true labels") else (name, False)
    metrics, _ = run_digits(TOUR[base], load_noisy_digits(draw), seed_streams(seed), clean_labels=clean)
    return name, {"draw": draw, "seed": seed, **{k: round(float(v), 6) for k, v in metrics.items()}}


def run_tour(*, jobs: int = 1, progress: bool = True) -> dict:
    """Recompute the tour: every configuration of ``TOUR`` (and ``TOUR_CLEAN`` on true labels) on ``tour_cells()``.

    Returns the JSON-ready dict that ``load_tour`` reads (``python -m coursekit.capstone --tour
    OUT.json`` writes it): ``configs``, ``runs`` ({name: one dict of ``run_digits`` metrics per
    cell, with ``draw`` and ``seed``}) and what it was made with. About 300 runs: a few minutes.
    """
    import platform
    from concurrent.futures import ProcessPoolExecutor

    from ._progress import ProgressBar

    jobs = check_int(jobs, "jobs", low=1)
    names = list(TOUR) + [f"{name}, true labels" for name in TOUR_CLEAN]
    work = [(name, draw, seed) for name in names for draw, seed in tour_cells()]
    runs: dict[str, list] = {name: [] for name in names}
    with ProgressBar(len(work), desc="tour", unit="run", enabled=progress, where="run_tour") as bar:
        if jobs == 1:
            results = map(_tour_job, work)
        else:
            pool = ProcessPoolExecutor(jobs)
            results = pool.map(_tour_job, work)
        for name, row in results:
            runs[name].append(row)
            bar.advance()
        if jobs > 1:
            pool.shutdown()
    return {"about": "notebook 08's tour: python -m coursekit.capstone --tour coursekit/capstone_tour.json",
            "recipe": {**vars(DIGITS_RECIPE), "channels": list(DIGITS_RECIPE.channels)}, "sizes": DIGITS_SIZES,
            "label_noise": LABEL_NOISE, "configs": {name: TOUR[name.removesuffix(", true labels")] for name in names},
            "runs": runs, "made_with": {"numpy": np.__version__, "python": platform.python_version()}}


def load_tour() -> dict:
    """The committed tour (``run_tour``'s dict), shipped with the package: {name: rows} under ``"runs"``."""
    from importlib import resources

    return json.loads(resources.files("coursekit").joinpath(TOUR_FILE).read_text(encoding="utf-8"))


# ----------------------------------------------------------------------------- the open-ended task

TASK_SEED = 20260801
"""The documented seed of the task's training, stopping and validation images (``load_task``)."""
TASK_SIZES = {"train": 200, "stop": 200, "val": 500}
"""Images per split of the task: train on 200 (20 per class), stop early on 200, score on 500."""
TEXTURE_SIZE, TEXTURE_NOISE = 12, 0.5
"""The task's images: ``make_textures(n, size=12, noise_std=0.5)``."""
TASK_BUDGET = 200
"""Epochs the exploration may train in total, over every ``try_config``: e.g. 5 runs of 40 epochs."""
TRY_SEED = 0
"""The training seed of ``try_config``: the same configuration always gets the same score."""
GRADING_SEEDS = (1, 2, 3)
"""The training seeds the grader retrains a submission with (other than ``TRY_SEED``: no luck to tune on)."""
TEST_SIZE = 2000
"""Fresh test images the grader draws from the instructor's seed."""
SUBMISSION_MIME = "application/vnd.coursekit.capstone-submission+json"
"""The output type ``submit`` displays and the grader reads: the submission as JSON data."""
_SUBMISSION_VERSION = 1


@dataclass(frozen=True)
class TaskData:
    """The task's images: train (200), stop (200) and val (500). Shapes: X_* (n, 1, 12, 12) float32,
    y_* (n,) ``np.intp`` in 0..9. There is no test split: the grader draws one."""

    X_train: np.ndarray
    y_train: np.ndarray
    X_stop: np.ndarray
    y_stop: np.ndarray
    X_val: np.ndarray
    y_val: np.ndarray

    def __repr__(self) -> str:
        return (f"TaskData(train{self.X_train.shape}, stop{self.X_stop.shape}, val{self.X_val.shape}; "
                "no test split: the grader draws one)")


def load_task() -> TaskData:
    """The task's 200 training, 200 stopping and 500 validation textures, from ``TASK_SEED``.

    Each split comes from its own child of ``np.random.SeedSequence(TASK_SEED)`` (train, stop,
    val in that order), all from ``datasets.make_textures(n, size=12, noise_std=0.5)``.
    """
    from .datasets import make_textures

    parts = []
    for n, child in zip(TASK_SIZES.values(), np.random.SeedSequence(TASK_SEED).spawn(len(TASK_SIZES))):
        parts += make_textures(n, rng=np.random.default_rng(child), size=TEXTURE_SIZE, noise_std=TEXTURE_NOISE)
    return TaskData(*parts)


_PROTOCOL = {"test_loaded": False}  # set by load_test: a learner's notebook should never call it


def load_test(test_seed: int) -> tuple[np.ndarray, np.ndarray]:
    """``TEST_SIZE`` fresh test textures ``(X (n, 1, 12, 12) float32, y (n,))`` from the instructor's seed.

    For the grader (``--test-seed``): drawn from ``SeedSequence([test_seed, TASK_SEED])``, a stream
    no other split uses, so a test seed equal to ``TASK_SEED`` still gives new images. Calling it
    in a learner's notebook breaks the protocol, and ``report()`` says so.
    """
    _PROTOCOL["test_loaded"] = True
    return _draw_test(test_seed)


def _draw_test(test_seed: int) -> tuple[np.ndarray, np.ndarray]:
    from .datasets import make_textures

    test_seed = check_int(test_seed, "test_seed", low=0)
    rng = np.random.default_rng(np.random.SeedSequence([test_seed, TASK_SEED]))
    return make_textures(TEST_SIZE, rng=rng, size=TEXTURE_SIZE, noise_std=TEXTURE_NOISE)


def _canonical(config: dict) -> str:
    return json.dumps(config, sort_keys=True)


def _validation_score(config: dict, data: TaskData, seed: int) -> dict:
    """Train ``config`` with ``seed`` on the task's training images; its validation accuracy and loss."""
    from .experiments import seed_streams
    from .losses import softmax_cross_entropy
    from .training import evaluate

    model, history = train_config(config, data.X_train, data.y_train, seed_streams(seed), recipe=TASK_RECIPE,
                                  stopping_data=(data.X_stop, data.y_stop))
    loss, accuracy = evaluate(model, softmax_cross_entropy, data.X_val, data.y_val)
    return {"val_accuracy": accuracy, "val_loss": loss, "epochs": history.epochs}


@dataclass
class Session:
    """One exploration of the task: the tries, the epochs they cost, and the submission.

    ``try_config``, ``submit``, ``report`` and ``budget_left`` (the module's functions) use one
    shared session; tests and instructors can make their own (``Session(budget=...)``).
    """

    budget: int = TASK_BUDGET
    tries: list = field(default_factory=list)
    submission: dict | None = None
    _data: TaskData | None = field(default=None, repr=False)

    @property
    def epochs_used(self) -> int:
        return sum(t["epochs"] for t in self.tries)

    @property
    def budget_left(self) -> int:
        return self.budget - self.epochs_used

    def data(self) -> TaskData:
        if self._data is None:
            self._data = load_task()
        return self._data

    def _tried(self, config: dict) -> dict | None:
        key = _canonical(config)
        return next((t for t in self.tries if _canonical(t["config"]) == key), None)

    def try_config(self, config, *, verbose: bool = True) -> float:
        """Train ``config`` (``TRY_SEED``) and return its validation accuracy; charges the epochs it trained.

        A configuration already tried returns its score again for free. One that could need
        more epochs than the budget has left is refused (``ValueError``) before training.
        """
        cfg = check_config(config, recipe=TASK_RECIPE)
        done = self._tried(cfg)
        if done is not None:
            if verbose:
                print(f"already tried: validation accuracy {done['val_accuracy']:.1%} (no epochs charged)")
            return done["val_accuracy"]
        if cfg["epochs"] > self.budget_left:
            raise ValueError(f"try_config: this configuration may train {cfg['epochs']} epochs but only "
                             f"{self.budget_left} of the budget's {self.budget} are left; ask for fewer epochs "
                             f"(config['epochs']) or submit one of the {len(self.tries)} configurations tried")
        result = {"config": cfg, **_validation_score(cfg, self.data(), TRY_SEED)}
        self.tries.append(result)
        if verbose:
            print(f"try {len(self.tries)}: validation accuracy {result['val_accuracy']:.1%} "
                  f"(loss {result['val_loss']:.3f}), {result['epochs']} epochs; "
                  f"budget left {self.budget_left} of {self.budget} epochs")
        return result["val_accuracy"]

    def submit(self, config) -> dict:
        """Record ``config`` as the final choice (trying it first if needed) and display it for the grader.

        Returns the submission, a dict of plain data: ``config`` (complete), its ``val_accuracy``,
        ``epochs_used``, ``budget``, ``tries`` and ``test_loaded``.
        """
        cfg = check_config(config, recipe=TASK_RECIPE)
        if self._tried(cfg) is None:
            self.try_config(cfg)
        self.submission = {"version": _SUBMISSION_VERSION, "config": cfg,
                           "val_accuracy": self._tried(cfg)["val_accuracy"], "epochs_used": self.epochs_used,
                           "budget": self.budget, "tries": len(self.tries), "test_loaded": _PROTOCOL["test_loaded"]}
        text = (f"submitted: {_describe_config(cfg)}\n  validation accuracy {self.submission['val_accuracy']:.1%}; "
                f"{self.epochs_used} of {self.budget} epochs used over {len(self.tries)} tries")
        try:
            from IPython.display import display
            display({SUBMISSION_MIME: self.submission, "text/plain": text}, raw=True)
        except ImportError:  # pragma: no cover - outside IPython
            print(text)
        return dict(self.submission)

    def report(self) -> str:
        """What the check cell prints: the submission's validation score and whether the protocol held."""
        lines = []
        if self.submission is None:
            lines.append("no submission yet: call capstone.submit(config) with your best configuration")
        else:
            lines.append(f"submission: {_describe_config(self.submission['config'])}")
            lines.append(f"validation accuracy {self.submission['val_accuracy']:.1%} (training seed {TRY_SEED}; "
                         f"the grader retrains it with seeds {GRADING_SEEDS} and tests it on {TEST_SIZE} new images)")
        within = self.epochs_used <= self.budget
        lines.append(f"budget: {self.epochs_used} of {self.budget} epochs over {len(self.tries)} tries "
                     f"({'respected' if within else 'EXCEEDED'})")
        lines.append("test set: never loaded in this session (respected)" if not _PROTOCOL["test_loaded"] else
                     "test set: LOADED in this session (load_test was called): the protocol is broken")
        return "\n".join(lines)


def _describe_config(cfg: dict) -> str:
    """A configuration's switched-on settings, shortest first, for messages."""
    defaults = check_config({}, recipe=TASK_RECIPE)
    shown = {k: v for k, v in cfg.items() if v != defaults.get(k)}
    if shown.get("augment"):
        shown["augment"] = {k: v for k, v in shown["augment"].items() if v}
    return json.dumps(shown) if shown else "{} (no technique switched on)"


_SESSION = Session()


def try_config(config) -> float:
    """Train ``config`` on the task and return its validation accuracy (see ``Session.try_config``)."""
    return _SESSION.try_config(config)


def submit(config) -> dict:
    """Submit ``config`` as your final choice (see ``Session.submit``)."""
    return _SESSION.submit(config)


def report() -> str:
    """The protocol check of your exploration (see ``Session.report``)."""
    return _SESSION.report()


def budget_left() -> int:
    """Epochs of the exploration budget not yet used."""
    return _SESSION.budget_left


# ----------------------------------------------------------------------------- grading

def check_submission(submission) -> dict:
    """The configuration of a submission (``submit``'s dict, as read back from a notebook), checked.

    ``ValueError``/``TypeError`` with the reason when the submission is not a dict of the expected
    form, its configuration is malformed or asks for more epochs per run than the recipe allows,
    its exploration used more than its budget, or it loaded the test set.
    """
    if not isinstance(submission, dict):
        raise TypeError(f"the submission must be a dict written by capstone.submit, got {describe(submission)}")
    if submission.get("version") != _SUBMISSION_VERSION:
        raise ValueError(f"the submission has version {submission.get('version')!r}, expected {_SUBMISSION_VERSION}: "
                         "was it written by capstone.submit?")
    config = check_config(submission.get("config"), recipe=TASK_RECIPE)
    used, budget = submission.get("epochs_used"), submission.get("budget")
    if not all(isinstance(v, int) and not isinstance(v, bool) for v in (used, budget)):
        raise TypeError(f"the submission's epochs_used and budget must be integers, got {describe(used)} and "
                        f"{describe(budget)}")
    if budget > TASK_BUDGET:
        raise ValueError(f"over budget: the submission's budget is {budget} epochs, more than the task's {TASK_BUDGET}")
    if used > budget:
        raise ValueError(f"over budget: the exploration used {used} epochs, the budget is {budget}")
    if submission.get("test_loaded") is not False:
        raise ValueError("protocol broken: the notebook loaded the test set (capstone.load_test)")
    return config


def score_submission(submission, *, test_seed: int) -> float:
    """The grade of a submission: its configuration's mean test accuracy over ``GRADING_SEEDS``.

    Validated by ``check_submission``, the configuration is trained here (not in the learner's
    process) on the task's training images, once per seed of ``GRADING_SEEDS``, and scored on the
    ``TEST_SIZE`` images of ``load_test(test_seed)``. Deterministic: the same submission and seed
    always give the same score. Takes a few seconds.
    """
    from .experiments import seed_streams
    from .training import accuracy

    config = check_submission(submission)
    X_test, y_test = _draw_test(test_seed)
    data = load_task()
    scores = []
    for seed in GRADING_SEEDS:
        model, _ = train_config(config, data.X_train, data.y_train, seed_streams(seed), recipe=TASK_RECIPE,
                                stopping_data=(data.X_stop, data.y_stop))
        scores.append(accuracy(model.predict(X_test), y_test))
    return float(np.mean(scores))



def _tour_json(tour: dict) -> str:
    """The tour as JSON with one run per line (readable diffs when it is recomputed)."""
    head = {k: v for k, v in tour.items() if k != "runs"}
    lines = [json.dumps(head, indent=1)[:-2] + ',\n "runs": {']
    for i, (name, rows) in enumerate(tour["runs"].items()):
        lines.append(f"  {json.dumps(name)}: [")
        lines += [f"   {json.dumps(row)}" + ("," if j < len(rows) - 1 else "") for j, row in enumerate(rows)]
        lines.append("  ]" + ("," if i < len(tour["runs"]) - 1 else ""))
    return "\n".join(lines + [" }", "}"]) + "\n"


def main(argv=None) -> int:
    """``python -m coursekit.capstone --tour OUT.json [--jobs N]``: recompute notebook 08's tour."""
    import argparse

    parser = argparse.ArgumentParser(prog="python -m coursekit.capstone",
                                     description="Recompute the precomputed tour of notebook 08 (about 300 runs).")
    parser.add_argument("--tour", required=True, metavar="OUT", help="where to write the JSON (the committed copy is "
                        f"coursekit/{TOUR_FILE})")
    parser.add_argument("--jobs", type=int, default=1, metavar="N", help="runs at the same time (default 1)")
    args = parser.parse_args(argv)
    tour = run_tour(jobs=args.jobs)
    with open(args.tour, "w", encoding="utf-8") as handle:
        handle.write(_tour_json(tour))
    print(f"wrote {args.tour}: {sum(len(rows) for rows in tour['runs'].values())} runs")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""Speed benchmark of coursekit on the course's workloads and a grid of CNN shapes, against PyTorch (CPU).

Run from the repository root::

    python benchmarks/benchmark.py                      # workloads + notebooks (a few minutes)
    python benchmarks/benchmark.py --no-notebooks       # training workloads only
    python benchmarks/benchmark.py --grid --workloads none --no-notebooks   # the CNN shape grid only
    python benchmarks/benchmark.py --workloads mlp2d --epochs 20 --rounds 3 --json results.json

Workloads (``--workloads``): for each, the time per training epoch (as the notebooks train: one
``fit`` call, mini-batches in a fresh random order, validation after every epoch when the
workload has validation data), the achieved GFLOP/s, that rate as a fraction of this machine's
float32 matrix-multiply rate measured in the same run, and the peak memory an epoch allocates.

CNN shape grid (``--grid``, or ``--grid-shapes`` for your own): for each shape, a small CNN
built around it, ``Conv2D(C_in, C, k, stride, padding)`` -> ReLU -> ``SpatialDropout2D`` ->
``Conv2D(C, C, 3, padding=1)`` -> ``BatchNorm2d`` -> ReLU -> ``MaxPool2D(2)`` ->
``GlobalAvgPool2D`` -> ``Dense(C, 10)``, trained for one epoch on random images of that shape;
the table lists the worst case first, with the peak memory per shape and the size a whole batch's
im2col matrix would have (coursekit builds it a cache-sized chunk of samples at a time, so its peak
memory can be well below that).

With PyTorch installed, the same architecture (same layer shapes, batch size, optimizer, loss
and accuracy bookkeeping, validation) runs in PyTorch on the CPU, twice: with PyTorch's default
number of threads and with one thread. coursekit always trains with one BLAS thread (``fit``
limits it: see coursekit/_threads.py). The three alternate epoch by epoch, in a rotating order,
so that all see the same machine load; the ratios are coursekit's median epoch time over
PyTorch's. Finally it executes every notebook in ``notebooks/`` in a fresh kernel and reports
the wall times.

FLOP counting rule (analytic, stated in the output): only matrix products count. A dense layer's
forward pass is 2*in*out FLOPs per sample, a convolution's 2*H_out*W_out*C_out*C_in*kh*kw
(its im2col matrix product); a training step costs 3x the forward pass (backward = 2x forward:
the weight gradient and the input gradient, for every layer); a validation pass costs 1x.
Activations, batch norm, dropout, pooling, the loss and the optimizer are not counted, so the
GFLOP/s figure is a lower bound on the arithmetic actually done.

This is a measurement script, not a test: nothing here asserts a speed.
"""
from __future__ import annotations

import argparse
import datetime as _dt
import importlib.util
import json
import math
import os
import platform
import resource
import statistics
import sys
import time
import tracemalloc
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:  # run from a checkout without installing
    sys.path.insert(0, str(REPO))

from coursekit import datasets  # noqa: E402
from coursekit.losses import binary_cross_entropy_with_logits, softmax_cross_entropy  # noqa: E402
from coursekit.model import Sequential  # noqa: E402
from coursekit.optim import Adam  # noqa: E402
from coursekit.training import fit  # noqa: E402

FLOP_RULE = ("FLOPs counted analytically, matrix products only: dense 2*in*out and conv "
             "2*Ho*Wo*Cout*Cin*kh*kw per sample forward; training step = 3x forward "
             "(backward = 2x); validation = 1x; activations/BN/dropout/pooling/loss/optimizer not counted.")
TARGET = 1.0  # coursekit epoch / PyTorch epoch, at most (issue 15)


# --------------------------------------------------------------------------------------------
# Architectures as plain specs, built identically in coursekit and in PyTorch.
# --------------------------------------------------------------------------------------------

@dataclass
class Workload:
    name: str
    description: str
    spec: list[tuple]            # ("dense", in, out) | ("relu",) | ("conv", cin, cout, k, stride, pad) | ("bn2d", c)
    #                              | ("sdrop", p) | ("pool", k) | ("gap",) | ("flatten",)
    loss: str                    # "bce" (one logit) or "ce" (softmax cross-entropy)
    lr: float
    batch_size: int
    default_epochs: int          # timed epochs per round
    load: callable = field(repr=False)  # () -> (X_train, y_train, X_val, y_val); X_val None: no validation


def _moons():
    d = datasets.load_noisy_moons()
    return d.X_train, d.y_train, d.X_val, d.y_val


def _digits_flat():
    d = datasets.load_digits()
    flat = lambda X: np.ascontiguousarray(X.reshape(len(X), -1))  # noqa: E731
    return flat(d.X_train), d.y_train, flat(d.X_val), d.y_val


def _all_digits_images():
    """All 1,797 digits as (N, 1, 8, 8) float32 images, as the issue's measurement trained on."""
    from sklearn.datasets import load_digits

    digits = load_digits()
    return (digits.images / 16.0).astype(np.float32)[:, None], digits.target.astype(np.int64), None, None


WORKLOADS = {
    "mlp2d": Workload(
        "mlp2d", "MLP 2-128-128-1 ReLU on noisy moons (150 train / 500 val), batch 32, Adam(1e-2): the baseline of "
        "notebooks 00-04 (which train it with SGD, batch 30; Adam is the costlier update)",
        [("dense", 2, 128), ("relu",), ("dense", 128, 128), ("relu",), ("dense", 128, 1)],
        "bce", 1e-2, 32, 20, _moons),
    "digits_mlp": Workload(
        "digits_mlp", "MLP 64-256-256-10 ReLU on 8x8 digits (500 train / 400 val), batch 32, Adam(1e-3)",
        [("dense", 64, 256), ("relu",), ("dense", 256, 256), ("relu",), ("dense", 256, 10)],
        "ce", 1e-3, 32, 6, _digits_flat),
    "cnn": Workload(
        "cnn", "CNN conv3x3(16)-ReLU-SpatialDropout(0.2)-conv3x3(32)-BN-ReLU-pool2-dense 512-10 on all 1,797 "
               "8x8 digits (no validation pass), batch 64, Adam(1e-3)",
        [("conv", 1, 16, 3, 1, 1), ("relu",), ("sdrop", 0.2), ("conv", 16, 32, 3, 1, 1), ("bn2d", 32), ("relu",),
         ("pool", 2), ("flatten",), ("dense", 32 * 4 * 4, 10)],
        "ce", 1e-3, 64, 3, _all_digits_images),
}


def forward_flops_per_sample(spec, input_shape) -> int:
    """Matrix-product FLOPs of one forward pass for one sample (see FLOP_RULE); input_shape excludes N."""
    shape, flops = tuple(input_shape), 0
    for layer in spec:
        kind = layer[0]
        if kind == "dense":
            _, fan_in, fan_out = layer
            flops += 2 * fan_in * fan_out
            shape = (fan_out,)
        elif kind == "conv":
            _, cin, cout, k, stride, pad = layer
            h_out = (shape[1] + 2 * pad - k) // stride + 1
            w_out = (shape[2] + 2 * pad - k) // stride + 1
            flops += 2 * h_out * w_out * cout * cin * k * k
            shape = (cout, h_out, w_out)
        elif kind == "pool":
            shape = (shape[0], shape[1] // layer[1], shape[2] // layer[1])
        elif kind == "gap":
            shape = (shape[0],)
        elif kind == "flatten":
            shape = (int(np.prod(shape)),)
    return flops


def largest_im2col_bytes(spec, input_shape, batch_size: int, itemsize: int = 4) -> int:
    """Bytes of the largest im2col matrix (C_in*kh*kw x N*H_out*W_out) of one batch among the conv layers."""
    shape, largest = tuple(input_shape), 0
    for layer in spec:
        kind = layer[0]
        if kind == "conv":
            _, cin, cout, k, stride, pad = layer
            h_out = (shape[1] + 2 * pad - k) // stride + 1
            w_out = (shape[2] + 2 * pad - k) // stride + 1
            largest = max(largest, cin * k * k * batch_size * h_out * w_out * itemsize)
            shape = (cout, h_out, w_out)
        elif kind == "pool":
            shape = (shape[0], shape[1] // layer[1], shape[2] // layer[1])
    return largest


def epoch_flops(workload: Workload, n_train: int, n_val: int, input_shape) -> int:
    per_sample = forward_flops_per_sample(workload.spec, input_shape)
    return 3 * per_sample * n_train + per_sample * n_val


def build_coursekit(spec, rng):
    from coursekit.batchnorm import BatchNorm2d
    from coursekit.dropout import SpatialDropout2D
    from coursekit.layers import Conv2D, Dense, Flatten, GlobalAvgPool2D, MaxPool2D, ReLU

    layers = []
    for layer in spec:
        kind = layer[0]
        if kind == "dense":
            layers.append(Dense(layer[1], layer[2], rng=rng))
        elif kind == "relu":
            layers.append(ReLU())
        elif kind == "conv":
            _, cin, cout, k, stride, pad = layer
            layers.append(Conv2D(cin, cout, k, stride=stride, padding=pad, rng=rng))
        elif kind == "bn2d":
            layers.append(BatchNorm2d(layer[1]))
        elif kind == "sdrop":
            layers.append(SpatialDropout2D(layer[1], rng=rng))
        elif kind == "pool":
            layers.append(MaxPool2D(layer[1]))
        elif kind == "gap":
            layers.append(GlobalAvgPool2D())
        elif kind == "flatten":
            layers.append(Flatten())
        else:
            raise ValueError(f"unknown layer kind {kind!r}")
    return Sequential(*layers)


def build_torch(spec, torch):
    nn = torch.nn
    layers = []
    for layer in spec:
        kind = layer[0]
        if kind == "dense":
            layers.append(nn.Linear(layer[1], layer[2]))
        elif kind == "relu":
            layers.append(nn.ReLU())
        elif kind == "conv":
            _, cin, cout, k, stride, pad = layer
            layers.append(nn.Conv2d(cin, cout, k, stride=stride, padding=pad))
        elif kind == "bn2d":
            layers.append(nn.BatchNorm2d(layer[1]))
        elif kind == "sdrop":
            layers.append(nn.Dropout2d(layer[1]))
        elif kind == "pool":
            layers.append(nn.MaxPool2d(layer[1]))
        elif kind == "gap":
            layers += [nn.AdaptiveAvgPool2d(1), nn.Flatten()]
        elif kind == "flatten":
            layers.append(nn.Flatten())
        else:
            raise ValueError(f"unknown layer kind {kind!r}")
    return nn.Sequential(*layers)


# --------------------------------------------------------------------------------------------
# The CNN shape grid
# --------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class GridShape:
    """One point of the grid: batch N, input channels, channels C, square maps H x H, the first conv's k/stride/padding."""

    batch: int
    in_channels: int
    channels: int
    size: int
    kernel: int
    stride: int
    padding: int

    @property
    def label(self) -> str:
        return (f"N={self.batch} {self.in_channels}->{self.channels}ch {self.size}x{self.size} "
                f"k{self.kernel} s{self.stride} p{self.padding}")

    def spec(self) -> list[tuple]:
        c = self.channels
        return [("conv", self.in_channels, c, self.kernel, self.stride, self.padding), ("relu",), ("sdrop", 0.1),
                ("conv", c, c, 3, 1, 1), ("bn2d", c), ("relu",), ("pool", 2), ("gap",), ("dense", c, 10)]

    def first_conv_size(self) -> int:
        return (self.size + 2 * self.padding - self.kernel) // self.stride + 1


# Chosen to cover every range of issue 15 (batch 32-256, 1-64 channels, 8x8 to 32x32 maps, kernel 3 and 5,
# stride 1-2, padding 0-1) at its ends and in its corners, around the course's own CNNs (8x8 digits).
DEFAULT_GRID = [GridShape(*values) for values in [
    # 8x8 maps, as the course's digits
    (32, 1, 8, 8, 3, 1, 0), (64, 1, 16, 8, 3, 1, 1), (256, 1, 16, 8, 3, 1, 1), (64, 1, 32, 8, 5, 1, 1),
    (64, 1, 16, 8, 3, 2, 1), (128, 1, 64, 8, 3, 1, 1), (256, 64, 64, 8, 3, 1, 1), (32, 8, 1, 8, 5, 2, 0),
    # 16x16 maps
    (64, 3, 32, 16, 3, 1, 1), (32, 8, 16, 16, 5, 1, 0), (128, 16, 32, 16, 3, 2, 1), (256, 16, 64, 16, 3, 1, 1),
    (64, 32, 64, 16, 5, 2, 1), (64, 8, 16, 16, 5, 2, 0),
    # 32x32 maps
    (32, 3, 16, 32, 3, 1, 1), (64, 3, 32, 32, 5, 1, 0), (128, 16, 32, 32, 3, 2, 1), (32, 64, 64, 32, 3, 1, 1),
    (256, 3, 64, 32, 3, 1, 1), (256, 64, 64, 32, 5, 1, 1),
]]
GRID_SAMPLES = 512        # images per grid epoch (at least 2 batches): the ratio, not the epoch, is what counts
GRID_MAX_STEP_GFLOP = 20  # above this (counted) GFLOP per training step, an epoch is only 2 batches


def parse_grid_shapes(text: str) -> list[GridShape]:
    """``"N:Cin:C:H:k:s:p,..."`` -> [GridShape, ...]."""
    shapes = []
    for item in text.split(","):
        parts = item.strip().split(":")
        if len(parts) != 7 or not all(p.isdigit() for p in parts):
            raise ValueError(f"grid shape {item!r} must be N:Cin:C:H:k:s:p (seven integers), e.g. 64:1:16:8:3:1:1")
        shape = GridShape(*map(int, parts))
        if min(shape.batch, shape.in_channels, shape.channels, shape.size, shape.kernel, shape.stride) < 1:
            raise ValueError(f"grid shape {item!r}: every value but the padding must be at least 1")
        if shape.first_conv_size() < 2:
            raise ValueError(f"grid shape {item!r}: the first convolution's output ({shape.first_conv_size()}) must be "
                             "at least 2x2 for the 2x2 max pooling that follows")
        shapes.append(shape)
    return shapes


def grid_workload(shape: GridShape, seed: int, samples: int = GRID_SAMPLES) -> Workload:
    """The grid's CNN around ``shape``, trained on random images: an epoch of about ``samples`` images, at
    least 2 batches (2 only when a training step exceeds GRID_MAX_STEP_GFLOP)."""
    step_gflop = 3 * forward_flops_per_sample(shape.spec(), (shape.in_channels, shape.size, shape.size)) \
        * shape.batch / 1e9
    batches = 2 if step_gflop > GRID_MAX_STEP_GFLOP else max(2, math.ceil(samples / shape.batch))
    n = batches * shape.batch

    def load():
        rng = np.random.default_rng(seed)
        X = rng.random((n, shape.in_channels, shape.size, shape.size), dtype=np.float32)
        return X, rng.integers(0, 10, n), None, None

    return Workload(shape.label, f"{shape.label}, {batches} batches", shape.spec(), "ce", 1e-3, shape.batch, 1, load)


# --------------------------------------------------------------------------------------------
# Timing
# --------------------------------------------------------------------------------------------

class EpochTimer:
    """fit callback recording the wall time of every epoch (training steps + validation)."""

    def __init__(self):
        self.times: list[float] = []
        self._last = None
        self.blas_threads = None  # BLAS threads NumPy uses inside fit (fit limits them)

    def on_train_begin(self, model):
        self._last = time.perf_counter()

    def on_epoch_end(self, epoch, logs):
        now = time.perf_counter()
        self.times.append(now - self._last)
        if self.blas_threads is None:  # asked once, inside the training loop (not timed)
            self.blas_threads = _current_blas_threads()
        self._last = time.perf_counter()
        return False


class CoursekitRunner:
    label = "coursekit"

    def __init__(self, workload: Workload, data, seed: int):
        self.w = workload
        self.X, self.y, self.Xv, self.yv = data
        self.rng = np.random.default_rng(seed)
        self.model = build_coursekit(workload.spec, self.rng)
        self.optimizer = Adam(self.model.parameters(), lr=workload.lr)
        self.loss = binary_cross_entropy_with_logits if workload.loss == "bce" else softmax_cross_entropy
        self.blas_threads_in_fit = None

    def run(self, epochs: int) -> list[float]:
        timer = EpochTimer()
        validation = None if self.Xv is None else (self.Xv, self.yv)
        fit(self.model, self.loss, self.optimizer, self.X, self.y, epochs=epochs, batch_size=self.w.batch_size,
            rng=self.rng, validation_data=validation, callbacks=[timer], progress=False)
        self.blas_threads_in_fit = timer.blas_threads
        return timer.times


class TorchRunner:
    """The same training loop in PyTorch with ``threads`` threads: shuffle, mini-batch steps with the loss
    and accuracy accumulated per batch (as coursekit's fit logs them), then a no-grad validation pass."""

    def __init__(self, workload: Workload, data, seed: int, torch, threads: int):
        self.torch, self.w, self.threads = torch, workload, threads
        self.label = f"pytorch/{threads}"
        X, y, Xv, yv = data
        self.X = torch.from_numpy(X)
        self.Xv = None if Xv is None else torch.from_numpy(Xv)
        if workload.loss == "bce":
            self.y = torch.from_numpy(y.astype(np.float32).reshape(-1, 1))
            self.yv = None if yv is None else torch.from_numpy(yv.astype(np.float32).reshape(-1, 1))
            self.loss = torch.nn.BCEWithLogitsLoss()
        else:
            self.y = torch.from_numpy(y)
            self.yv = None if yv is None else torch.from_numpy(yv)
            self.loss = torch.nn.CrossEntropyLoss()
        self.generator = torch.Generator().manual_seed(seed)
        torch.manual_seed(seed)  # the initial weights (as coursekit's seeded rng)
        self.model = build_torch(workload.spec, torch)
        self.optimizer = torch.optim.Adam(self.model.parameters(), lr=workload.lr)

    def _correct(self, out, y):
        if out.shape[1] == 1:
            return ((out > 0).float() == y).sum().item()
        return (out.argmax(1) == y).sum().item()

    def run(self, epochs: int) -> list[float]:
        torch, model, n, bs = self.torch, self.model, len(self.X), self.w.batch_size
        torch.set_num_threads(self.threads)
        times = []
        for _ in range(epochs):
            start = time.perf_counter()
            model.train()
            order = torch.randperm(n, generator=self.generator)
            total_loss = total_correct = 0.0
            for i in range(0, n, bs):
                idx = order[i:i + bs]
                xb, yb = self.X[idx], self.y[idx]
                out = model(xb)
                loss = self.loss(out, yb)
                self.optimizer.zero_grad()
                loss.backward()
                self.optimizer.step()
                total_loss += loss.item() * len(idx)
                total_correct += self._correct(out.detach(), yb)
            if self.Xv is not None:
                model.eval()
                with torch.no_grad():
                    out = model(self.Xv)
                    _ = self.loss(out, self.yv).item(), self._correct(out, self.yv)
            times.append(time.perf_counter() - start)
        return times


def coursekit_epoch_peak_bytes(workload: Workload, data, seed: int) -> int:
    """Peak bytes allocated (tracemalloc, which sees NumPy's buffers) during one epoch of a fresh model.

    Fresh, and with coursekit's shared scratch buffers released first, so that the work arrays
    reused from batch to batch are counted too (tracemalloc sees only what is allocated after it starts).
    """
    try:
        from coursekit.conv import _release_scratch
    except ImportError:  # an older coursekit
        _release_scratch = lambda: None  # noqa: E731
    runner = CoursekitRunner(workload, data, seed)
    _release_scratch()
    tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        runner.run(1)
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def matmul_gflops(size: int, repeats: int, rng) -> float:
    """Best-of-``repeats`` float32 ``size x size`` matrix product through NumPy, in GFLOP/s (2*n^3 FLOPs)."""
    a = rng.standard_normal((size, size), dtype=np.float32)
    b = rng.standard_normal((size, size), dtype=np.float32)
    a @ b  # warm-up: thread pool start, page faults
    best = min(_timed(lambda: a @ b) for _ in range(repeats))
    return 2 * size ** 3 / best / 1e9


def torch_matmul_gflops(torch, size: int, repeats: int) -> float:
    a, b = torch.randn(size, size), torch.randn(size, size)
    a @ b
    best = min(_timed(lambda: a @ b) for _ in range(repeats))
    return 2 * size ** 3 / best / 1e9


def _timed(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def torch_thread_counts(torch, default_threads: int) -> list[int]:
    """PyTorch's default thread count, then one thread (once only if the default is one)."""
    return [default_threads] if default_threads == 1 else [default_threads, 1]


def measure(workload: Workload, epochs: int, rounds: int, seed: int, torch, torch_threads, log):
    """Interleaved epochs of coursekit and PyTorch (each thread count in ``torch_threads``): a result dict, or None."""
    try:
        data = workload.load()
        ck = CoursekitRunner(workload, data, seed)
    except ImportError as exc:  # e.g. a layer module not written yet
        log(f"  {workload.name}: skipped, coursekit cannot build it ({exc})")
        return None
    runners = [ck] + ([TorchRunner(workload, data, seed, torch, t) for t in torch_threads] if torch else [])
    for runner in runners:  # warm-up epoch (not timed): first-call costs, caches, optimizer state
        runner.run(1)
    wall = {r.label: [] for r in runners}
    cpu = {r.label: [] for r in runners}  # CPU seconds per epoch (all threads), one value per round
    for r in range(rounds):  # interleaved, in a rotating order, so all see the same machine load
        shift = r % len(runners)
        for runner in runners[shift:] + runners[:shift]:
            cpu_start = time.process_time()
            wall[runner.label].extend(runner.run(epochs))
            cpu[runner.label].append((time.process_time() - cpu_start) / epochs)
    X, _, Xv, _ = data
    n_val = 0 if Xv is None else len(Xv)
    result = {
        "workload": workload.name, "description": workload.description,
        "n_train": len(X), "n_val": n_val, "batch_size": workload.batch_size,
        "epoch_gflop": epoch_flops(workload, len(X), n_val, X.shape[1:]) / 1e9,
        "largest_im2col_bytes": largest_im2col_bytes(workload.spec, X.shape[1:], workload.batch_size),
        "coursekit_epoch_peak_bytes": coursekit_epoch_peak_bytes(workload, data, seed),
        "coursekit_blas_threads_in_fit": ck.blas_threads_in_fit,
        "torch_threads": list(torch_threads) if torch else [],
        "runs": {},
    }
    for runner in runners:
        w, c = wall[runner.label], cpu[runner.label]
        result["runs"][runner.label] = {"epoch_times_s": w, "epoch_median_s": statistics.median(w),
                                        "epoch_min_s": min(w), "epoch_cpu_median_s": statistics.median(c)}
    base = result["runs"]["coursekit"]
    for label, run in result["runs"].items():
        if label != "coursekit":
            run["coursekit_over_this"] = base["epoch_median_s"] / run["epoch_median_s"]
            run["coursekit_over_this_cpu"] = base["epoch_cpu_median_s"] / run["epoch_cpu_median_s"]
    return result


# --------------------------------------------------------------------------------------------
# Notebooks
# --------------------------------------------------------------------------------------------

def time_notebooks(log, directory: Path = REPO / "notebooks", timeout: int = 600) -> list[dict]:
    """Execute every ``NN_*.ipynb`` in ``directory`` in a fresh kernel (as the learner simulation does).

    Returns one dict per notebook: wall ``seconds``, the kernel's ``kernel_cpu_seconds`` and ``status``.
    """
    import nbformat

    spec = importlib.util.spec_from_file_location("notebook_runner", REPO / "tests" / "notebook_runner.py")
    runner = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(runner)
    results = []
    for path in sorted(Path(directory).glob("[0-9]*.ipynb")):
        nb = nbformat.read(path, as_version=4)
        start = time.perf_counter()
        children_before = _children_cpu_seconds()
        try:
            runner.execute(nb, cwd=path.parent, name=path.name, timeout=timeout)
            status = "ok"
        except Exception as exc:  # report and carry on: a benchmark, not a test
            status = f"FAILED: {str(exc).splitlines()[0]}"
        seconds = time.perf_counter() - start
        cpu_seconds = _children_cpu_seconds() - children_before  # the kernel, once it has exited
        log(f"  {path.name}: {seconds:.1f} s {'' if status == 'ok' else status}")
        results.append({"notebook": path.name, "seconds": seconds, "kernel_cpu_seconds": cpu_seconds,
                        "status": status})
    return results


def _children_cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


# --------------------------------------------------------------------------------------------
# Machine description
# --------------------------------------------------------------------------------------------

def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _numpy_blas_pool() -> dict | None:
    """threadpoolctl's description of NumPy's own BLAS (once PyTorch is imported, its libraries are listed too)."""
    try:
        from threadpoolctl import threadpool_info
    except ImportError:
        return None
    numpy_dir = os.path.dirname(os.path.dirname(np.__file__))
    pools = [p for p in threadpool_info() if p.get("user_api") == "blas"]
    own = [p for p in pools if os.path.basename(os.path.dirname(p.get("filepath", ""))) in
           ("numpy.libs", "scipy_openblas64_", "scipy_openblas32_", "numpy")
           or p.get("filepath", "").startswith(os.path.join(numpy_dir, "numpy"))]
    chosen = own or pools
    return chosen[0] if chosen else None


def _current_blas_threads() -> int | None:
    pool = _numpy_blas_pool()
    return None if pool is None else pool["num_threads"]


def blas_info() -> tuple[str, int | None, str | None]:
    """(BLAS name and version from numpy.show_config, threads it uses or None, its kernels' CPU type or None)."""
    name = "unknown"
    try:
        blas = np.show_config(mode="dicts")["Build Dependencies"]["blas"]
        name = f"{blas.get('name', '?')} {blas.get('version', '')}".strip()
    except Exception:
        pass
    pool = _numpy_blas_pool()
    if pool is None:
        return name, None, None
    return name, pool["num_threads"], pool.get("architecture")


def machine_info() -> dict:
    blas, threads, kernels = blas_info()
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return {
        "date_utc": _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "cpu": cpu_model(), "cores_available": cores, "python": platform.python_version(),
        "numpy": np.__version__, "blas": blas, "blas_threads": threads if threads is not None else cores,
        "blas_kernels": kernels, "openblas_coretype_env": os.environ.get("OPENBLAS_CORETYPE"),
        "load_average_start": os.getloadavg() if hasattr(os, "getloadavg") else None,
    }


# --------------------------------------------------------------------------------------------
# Report
# --------------------------------------------------------------------------------------------

def _fmt_ratio(ratio) -> str:
    return "" if ratio is None else f"{ratio:.2f}x" if ratio >= 0.1 else f"{ratio:.3f}x"


def _torch_labels(res) -> list[str]:
    return [label for label in res["runs"] if label != "coursekit"]


def format_header(report: dict) -> list[str]:
    m = report["machine"]
    peak = report["matmul_gflops"]
    start_end = report["matmul_gflops_start_end"]
    kernels = f", {m['blas_kernels']} kernels" if m.get("blas_kernels") else ""
    forced = (f" (forced by OPENBLAS_CORETYPE={m['openblas_coretype_env']})"
              if m.get("openblas_coretype_env") else "")
    lines = [
        "coursekit speed benchmark",
        f"  machine: {m['cpu']}, {m['cores_available']} cores available; Python {m['python']}, NumPy {m['numpy']}, "
        f"BLAS {m['blas']} ({m['blas_threads']} thread{'s' if m['blas_threads'] != 1 else ''}{kernels}{forced})",
        f"  run: {m['date_utc']}; load average at start {_fmt_load(m['load_average_start'])}, "
        f"at end {_fmt_load(report.get('load_average_end'))}",
        f"  float32 matmul {report['matmul_size']}x{report['matmul_size']} through NumPy, best of "
        f"{report['matmul_repeats']}: {start_end[0]:.1f} GFLOP/s at the start, {start_end[1]:.1f} at the end; "
        f"reference = {peak:.1f} GFLOP/s",
    ]
    if report.get("torch"):
        t = report["torch"]
        lines.append(f"  PyTorch {t['version']} on CPU, CPU capability {t['capability']}; its float32 matmul "
                     f"({t['default_threads']} threads): {t['matmul_gflops']:.1f} GFLOP/s. Compared with its default "
                     f"{t['default_threads']} thread(s) (pytorch/{t['default_threads']}) and with one (pytorch/1); "
                     "coursekit's fit uses one BLAS thread")
    else:
        lines.append(f"  {report.get('torch_skipped', 'PyTorch not installed')}: skipped")
    lines += [f"  {FLOP_RULE}"]
    return lines


def format_workloads(report: dict) -> list[str]:
    peak = report["matmul_gflops"]
    lines = [f"  epoch = training mini-batches (+ a validation pass where the workload has one); {report['rounds']} "
             f"interleaved round(s) of {report['epochs_note']} timed epochs per framework, after 1 warm-up epoch", ""]
    header = (f"{'workload':<11} {'framework':<11} {'epoch ms':>9} {'(min)':>8} {'CPU ms':>8} {'GFLOP/s':>8} "
              f"{'% matmul':>9} {'ck/this':>8} {'peak MiB':>9}")
    lines += [header, "-" * len(header)]
    for res in report["workloads"]:
        name, flops = res["workload"], res["epoch_gflop"]
        for label, r in res["runs"].items():
            med = r["epoch_median_s"]
            mem = f"{res['coursekit_epoch_peak_bytes'] / 2**20:9.2f}" if label == "coursekit" else f"{'n/a':>9}"
            lines.append(f"{name if label == 'coursekit' else '':<11} {label:<11} {med * 1e3:9.2f} "
                         f"{r['epoch_min_s'] * 1e3:8.2f} {r['epoch_cpu_median_s'] * 1e3:8.2f} {flops / med:8.2f} "
                         f"{100 * flops / med / peak:8.1f}% {_fmt_ratio(r.get('coursekit_over_this')):>8} {mem}")
    lines += ["", "  epoch ms = median wall time per epoch, (min) = fastest epoch, CPU ms = process CPU time per epoch"
                  " (all threads, median over rounds).",
              "  GFLOP/s = counted FLOPs per epoch / median epoch time; % matmul = that / the reference matmul rate.",
              "  ck/this = coursekit median epoch / this framework's median epoch (same run, interleaved).",
              "  peak MiB = tracemalloc peak during one extra coursekit epoch of a fresh model (NumPy buffers; the data"
              " set, allocated before, is not included)."]
    verdicts = []
    for res in report["workloads"]:
        for label in _torch_labels(res):
            r = res["runs"][label]
            ratio = r["coursekit_over_this"]
            verdicts.append(f"{res['workload']} vs {label}: {ratio:.2f}x <= {TARGET:g}x: "
                            f"{'met' if ratio <= TARGET else 'MISSED'} (by CPU time {r['coursekit_over_this_cpu']:.2f}x)")
    if verdicts:
        lines += ["", "targets (coursekit epoch / PyTorch epoch):"] + [f"  {v}" for v in verdicts]
    lines += [""] + [f"  {res['workload']}: {res['description']}; {res['epoch_gflop'] * 1e3:.1f} MFLOP per epoch"
                     for res in report["workloads"]]
    lines += [f"  {skipped}" for skipped in report.get("skipped_workloads", [])]
    return lines


def grid_sort_key(res) -> float:
    """Worst first: by the ratio to PyTorch with its default threads (the first PyTorch run), else by epoch time."""
    labels = _torch_labels(res)
    if labels:
        return -res["runs"][labels[0]]["coursekit_over_this"]
    return -res["runs"]["coursekit"]["epoch_median_s"]


def format_grid(report: dict) -> list[str]:
    results = sorted(report["grid"], key=grid_sort_key)
    labels = _torch_labels(results[0]) if results else []
    lines = ["", "CNN shape grid: Conv2D(Cin, C, k, stride s, padding p) - ReLU - SpatialDropout2D(0.1) - "
                 "Conv2D(C, C, 3, padding 1) - BatchNorm2d - ReLU - MaxPool2D(2) - GlobalAvgPool2D - Dense(C, 10),",
             f"  one epoch of random images per round, {report['rounds']} interleaved round(s); worst case first "
             f"(by coursekit / {labels[0] if labels else 'PyTorch'})", ""]
    cols = "".join(f" {label + ' ms':>12}" for label in labels) + "".join(f" {'ck/' + label:>11}" for label in labels)
    header = f"{'shape':<38} {'coursekit ms':>12}{cols} {'CPU ratio':>10} {'peak MiB':>9} {'im2col MiB':>10}"
    lines += [header, "-" * len(header)]
    for res in results:
        runs = res["runs"]
        row = f"{res['workload']:<38} {runs['coursekit']['epoch_median_s'] * 1e3:12.1f}"
        row += "".join(f" {runs[label]['epoch_median_s'] * 1e3:12.1f}" for label in labels)
        row += "".join(f" {_fmt_ratio(runs[label]['coursekit_over_this']):>11}" for label in labels)
        cpu_ratio = runs[labels[-1]]["coursekit_over_this_cpu"] if labels else None
        row += (f" {_fmt_ratio(cpu_ratio):>10} {res['coursekit_epoch_peak_bytes'] / 2**20:9.2f} "
                f"{res['largest_im2col_bytes'] / 2**20:10.2f}")
        lines.append(row)
    lines += ["", "  ms = median wall time of one training epoch; ck/X = coursekit's / X's (same run, interleaved);",
              "  CPU ratio = coursekit's process CPU time / the last PyTorch run's (one thread: the work done, whatever"
              " the load);",
              "  peak MiB = tracemalloc peak of one coursekit epoch of a fresh model; im2col MiB = the largest im2col"
              " matrix of a whole batch (coursekit builds it a chunk of samples at a time)."]
    if labels:
        for label in labels:
            worst = max(r["runs"][label]["coursekit_over_this"] for r in results)
            met = sum(r["runs"][label]["coursekit_over_this"] <= TARGET for r in results)
            lines.append(f"  vs {label}: {met} of {len(results)} shapes at <= {TARGET:g}x; worst {worst:.2f}x")
    return lines


def format_notebooks(report: dict) -> list[str]:
    m = report["machine"]
    if report.get("notebooks") is None:
        return ["", "notebooks: skipped (--no-notebooks)"]
    nbs = report["notebooks"]
    total = sum(r["seconds"] for r in nbs)
    ok = all(r["status"] == "ok" for r in nbs)
    cpu_total = sum(r["kernel_cpu_seconds"] for r in nbs)
    lines = ["", f"notebooks (each in a fresh kernel, one after another, {m['cores_available']} cores; "
                 "wall time, and the kernel's CPU time over all its threads):"]
    lines += [f"  {r['notebook']:<40} {r['seconds']:7.1f} s wall {r['kernel_cpu_seconds']:7.1f} s CPU  "
              f"{'' if r['status'] == 'ok' else r['status']}" for r in nbs]
    lines.append(f"  {'total (' + str(len(nbs)) + ' notebooks)':<40} {total:7.1f} s wall {cpu_total:7.1f} s CPU  "
                 f"target < 120 s wall: {'met' if total < 120 and ok else 'MISSED'}"
                 f"{'' if ok else ' (a notebook failed)'}")
    return lines


def format_report(report: dict) -> str:
    lines = format_header(report)
    if report["workloads"] or report.get("skipped_workloads"):
        lines += format_workloads(report)
    if report.get("grid"):
        lines += format_grid(report)
    lines += format_notebooks(report)
    lines.append(f"  peak resident memory of this benchmark process: {report['max_rss_mib']:.0f} MiB (Python, NumPy, "
                 "PyTorch, data; not the notebook kernels)")
    return "\n".join(lines)


def _fmt_load(load) -> str:
    return "n/a" if not load else "/".join(f"{x:.1f}" for x in load) + " (1/5/15 min)"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workloads", default=",".join(WORKLOADS),
                        help=f"comma-separated subset of {','.join(WORKLOADS)}, or 'none' (default: all)")
    parser.add_argument("--grid", action="store_true", help="also run the CNN shape grid (a few minutes)")
    parser.add_argument("--grid-shapes", default=None, metavar="N:Cin:C:H:k:s:p,...",
                        help="run the grid on these shapes instead of the default grid (implies --grid)")
    parser.add_argument("--grid-samples", type=int, default=GRID_SAMPLES,
                        help=f"images per grid epoch, at least 2 batches (default {GRID_SAMPLES})")
    parser.add_argument("--epochs", type=int, default=None,
                        help="timed epochs per round per framework (default: per workload, "
                             + ", ".join(f"{w.name} {w.default_epochs}" for w in WORKLOADS.values()) + "; grid 1)")
    parser.add_argument("--rounds", type=int, default=5, help="interleaved coursekit/PyTorch rounds (default 5)")
    parser.add_argument("--no-notebooks", action="store_true", help="skip executing the notebooks")
    parser.add_argument("--no-torch", action="store_true", help="skip PyTorch even if it is installed")
    parser.add_argument("--threads", type=int, default=None,
                        help="threads for NumPy's BLAS outside fit (needs threadpoolctl), the notebook kernels and "
                             "PyTorch's 'default' run (default: as they are; PyTorch is also always run with 1)")
    parser.add_argument("--matmul-size", type=int, default=1024)
    parser.add_argument("--matmul-repeats", type=int, default=10)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", metavar="PATH", default=None, help="also write all figures as JSON to PATH")
    args = parser.parse_args(argv)
    names = [] if args.workloads.strip() == "none" else [n.strip() for n in args.workloads.split(",") if n.strip()]
    unknown = [n for n in names if n not in WORKLOADS]
    if unknown:
        parser.error(f"unknown workload(s) {unknown}; choose from {list(WORKLOADS)} or 'none'")
    if args.epochs is not None and args.epochs < 1 or args.rounds < 1:
        parser.error("--epochs and --rounds must be at least 1")
    grid = None
    if args.grid_shapes is not None:
        try:
            grid = parse_grid_shapes(args.grid_shapes)
        except ValueError as exc:
            parser.error(str(exc))
    elif args.grid:
        grid = DEFAULT_GRID

    def log(msg):
        print(msg, file=sys.stderr, flush=True)

    if args.threads is not None:
        if args.threads < 1:
            parser.error("--threads must be at least 1")
        try:
            from threadpoolctl import threadpool_limits
        except ImportError:
            parser.error("--threads needs threadpoolctl (pip install threadpoolctl)")
        threadpool_limits(args.threads, user_api="blas")
        for var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):  # for the notebook kernels
            os.environ[var] = str(args.threads)

    report = {"machine": machine_info(), "rounds": args.rounds, "matmul_size": args.matmul_size,
              "matmul_repeats": args.matmul_repeats, "flop_rule": FLOP_RULE,
              "epochs_note": str(args.epochs) if args.epochs else
              "/".join(f"{WORKLOADS[n].default_epochs}" for n in names) + f" ({'/'.join(names)})"}
    rng = np.random.default_rng(args.seed)
    log("measuring the float32 matmul rate ...")
    matmul_start = matmul_gflops(args.matmul_size, args.matmul_repeats, rng)

    torch, torch_threads = None, []
    if args.no_torch:
        report["torch_skipped"] = "disabled by --no-torch"
    else:
        try:
            import torch
        except ImportError:
            report["torch_skipped"] = "PyTorch not installed"
            log("PyTorch not installed: skipped")
    if torch is not None:
        default_threads = args.threads or torch.get_num_threads()
        torch_threads = torch_thread_counts(torch, default_threads)
        torch.set_num_threads(default_threads)
        report["torch"] = {"version": torch.__version__, "default_threads": default_threads,
                           "capability": torch.backends.cpu.get_cpu_capability(),
                           "matmul_gflops": torch_matmul_gflops(torch, args.matmul_size, args.matmul_repeats)}

    report["workloads"], report["skipped_workloads"] = [], []
    for name in names:
        w = WORKLOADS[name]
        log(f"benchmarking {name} ...")
        res = measure(w, args.epochs or w.default_epochs, args.rounds, args.seed, torch, torch_threads, log)
        if res is None:
            report["skipped_workloads"].append(f"{name}: skipped (coursekit cannot build it yet)")
        else:
            report["workloads"].append(res)
    if grid is not None:
        report["grid"] = []
        for i, shape in enumerate(grid):
            log(f"grid {i + 1}/{len(grid)}: {shape.label} ...")
            res = measure(grid_workload(shape, args.seed, args.grid_samples), args.epochs or 1, args.rounds, args.seed, torch,
                          torch_threads, log)
            if res is not None:
                res["shape"] = shape.__dict__
                report["grid"].append(res)

    matmul_end = matmul_gflops(args.matmul_size, args.matmul_repeats, rng)
    report["matmul_gflops_start_end"] = (matmul_start, matmul_end)
    report["matmul_gflops"] = max(matmul_start, matmul_end)
    report["notebooks"] = None
    if not args.no_notebooks:
        log("executing the notebooks ...")
        report["notebooks"] = time_notebooks(log)
    report["load_average_end"] = os.getloadavg() if hasattr(os, "getloadavg") else None
    report["max_rss_mib"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux

    print(format_report(report))
    if args.json:
        Path(args.json).write_text(json.dumps(report, indent=2, default=float))
        log(f"wrote {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Speed benchmark of coursekit on the course's workloads, against PyTorch (CPU) when it is installed.

Run from the repository root::

    python benchmarks/benchmark.py                      # everything (a few minutes)
    python benchmarks/benchmark.py --no-notebooks       # training workloads only
    python benchmarks/benchmark.py --workloads mlp2d --epochs 20 --rounds 3 --json results.json

For each workload it reports the time per training epoch (as the notebooks train: one ``fit``
call, mini-batches in a fresh random order, validation after every epoch), the achieved
GFLOP/s, that rate as a fraction of this machine's float32 matrix-multiply rate measured in
the same run, and the peak memory an epoch allocates. With PyTorch installed, the same
architecture (same layer shapes, batch size, optimizer, validation) runs in PyTorch on the
CPU with as many threads as NumPy's BLAS uses, interleaved with coursekit round by round so
that both see the same machine load, and the ratio is printed. Finally it executes every
notebook in ``notebooks/`` in a fresh kernel and reports the wall times.

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


# --------------------------------------------------------------------------------------------
# Architectures as plain specs, built identically in coursekit and in PyTorch.
# --------------------------------------------------------------------------------------------

@dataclass
class Workload:
    name: str
    description: str
    spec: list[tuple]            # ("dense", in, out) | ("relu",) | ("conv", cin, cout, k, pad) | ("bn2d", c)
    #                              | ("sdrop", p) | ("pool", k) | ("flatten",)
    loss: str                    # "bce" (one logit) or "ce" (softmax cross-entropy)
    lr: float
    batch_size: int
    default_epochs: int          # timed epochs per round
    load: callable = field(repr=False)  # () -> (X_train, y_train, X_val, y_val)


def _moons():
    d = datasets.load_noisy_moons()
    return d.X_train, d.y_train, d.X_val, d.y_val


def _digits_flat():
    d = datasets.load_digits()
    flat = lambda X: np.ascontiguousarray(X.reshape(len(X), -1))  # noqa: E731
    return flat(d.X_train), d.y_train, flat(d.X_val), d.y_val


def _digits_images():
    d = datasets.load_digits()
    return d.X_train, d.y_train, d.X_val, d.y_val


WORKLOADS = {
    "mlp2d": Workload(
        "mlp2d", "MLP 2-128-128-1 ReLU on noisy moons (150 train / 500 val), batch 32, Adam(1e-2), as notebook 00",
        [("dense", 2, 128), ("relu",), ("dense", 128, 128), ("relu",), ("dense", 128, 1)],
        "bce", 1e-2, 32, 20, _moons),
    "digits_mlp": Workload(
        "digits_mlp", "MLP 64-256-256-10 ReLU on 8x8 digits (500 train / 400 val), batch 32, Adam(1e-3)",
        [("dense", 64, 256), ("relu",), ("dense", 256, 256), ("relu",), ("dense", 256, 10)],
        "ce", 1e-3, 32, 6, _digits_flat),
    "cnn": Workload(
        "cnn", "CNN conv3x3(16)-BN-ReLU-SpatialDropout(0.2)-pool2 -> conv3x3(32)-BN-ReLU-SpatialDropout(0.2)-pool2 "
               "-> dense 128-10 on digits (500 / 400), batch 32, Adam(1e-3)",
        [("conv", 1, 16, 3, 1), ("bn2d", 16), ("relu",), ("sdrop", 0.2), ("pool", 2),
         ("conv", 16, 32, 3, 1), ("bn2d", 32), ("relu",), ("sdrop", 0.2), ("pool", 2),
         ("flatten",), ("dense", 32 * 2 * 2, 10)],
        "ce", 1e-3, 32, 3, _digits_images),
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
            _, cin, cout, k, pad = layer
            h_out, w_out = shape[1] + 2 * pad - k + 1, shape[2] + 2 * pad - k + 1
            flops += 2 * h_out * w_out * cout * cin * k * k
            shape = (cout, h_out, w_out)
        elif kind == "pool":
            shape = (shape[0], shape[1] // layer[1], shape[2] // layer[1])
        elif kind == "flatten":
            shape = (int(np.prod(shape)),)
    return flops


def epoch_flops(workload: Workload, n_train: int, n_val: int, input_shape) -> int:
    per_sample = forward_flops_per_sample(workload.spec, input_shape)
    return 3 * per_sample * n_train + per_sample * n_val


def build_coursekit(spec, rng):
    from coursekit.layers import Dense, ReLU
    layers = []
    for layer in spec:
        kind = layer[0]
        if kind == "dense":
            layers.append(Dense(layer[1], layer[2], rng=rng))
        elif kind == "relu":
            layers.append(ReLU())
        elif kind == "conv":
            from coursekit.layers import Conv2D
            layers.append(Conv2D(layer[1], layer[2], layer[3], padding=layer[4], rng=rng))
        elif kind == "bn2d":
            from coursekit.batchnorm import BatchNorm2d
            layers.append(BatchNorm2d(layer[1]))
        elif kind == "sdrop":
            from coursekit.dropout import SpatialDropout2D
            layers.append(SpatialDropout2D(layer[1], rng=rng))
        elif kind == "pool":
            from coursekit.layers import MaxPool2D
            layers.append(MaxPool2D(layer[1]))
        elif kind == "flatten":
            from coursekit.layers import Flatten
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
            layers.append(nn.Conv2d(layer[1], layer[2], layer[3], padding=layer[4]))
        elif kind == "bn2d":
            layers.append(nn.BatchNorm2d(layer[1]))
        elif kind == "sdrop":
            layers.append(nn.Dropout2d(layer[1]))
        elif kind == "pool":
            layers.append(nn.MaxPool2d(layer[1]))
        elif kind == "flatten":
            layers.append(nn.Flatten())
    return nn.Sequential(*layers)


# --------------------------------------------------------------------------------------------
# Timing
# --------------------------------------------------------------------------------------------

class EpochTimer:
    """fit callback recording the wall time of every epoch (training steps + validation)."""

    def __init__(self):
        self.times: list[float] = []
        self._last = None
        self.blas_threads = None  # BLAS threads NumPy uses inside fit (fit may limit them)

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
    def __init__(self, workload: Workload, data, seed: int):
        self.w = workload
        self.X, self.y, self.Xv, self.yv = data
        self.rng = np.random.default_rng(seed)
        self.model = build_coursekit(workload.spec, self.rng)
        self.optimizer = Adam(self.model.parameters(), lr=workload.lr)
        self.loss = binary_cross_entropy_with_logits if workload.loss == "bce" else softmax_cross_entropy

    def run(self, epochs: int) -> list[float]:
        timer = EpochTimer()
        self.blas_threads_in_fit = None
        fit(self.model, self.loss, self.optimizer, self.X, self.y, epochs=epochs, batch_size=self.w.batch_size,
            rng=self.rng, validation_data=(self.Xv, self.yv), callbacks=[timer], progress=False)
        self.blas_threads_in_fit = timer.blas_threads
        return timer.times


class TorchRunner:
    """The same training loop in PyTorch: shuffle, mini-batch steps with the loss and accuracy
    accumulated per batch (as coursekit's fit logs them), then a no-grad validation pass."""

    def __init__(self, workload: Workload, data, seed: int, torch):
        self.torch, self.w = torch, workload
        X, y, Xv, yv = data
        self.X, self.Xv = torch.from_numpy(X), torch.from_numpy(Xv)
        if workload.loss == "bce":
            self.y = torch.from_numpy(y.astype(np.float32).reshape(-1, 1))
            self.yv = torch.from_numpy(yv.astype(np.float32).reshape(-1, 1))
            self.loss = torch.nn.BCEWithLogitsLoss()
        else:
            self.y, self.yv = torch.from_numpy(y), torch.from_numpy(yv)
            self.loss = torch.nn.CrossEntropyLoss()
        self.generator = torch.Generator().manual_seed(seed)
        self.model = build_torch(workload.spec, torch)
        self.optimizer = torch.optim.Adam(self.model.parameters(), lr=workload.lr)

    def _correct(self, out, y):
        if out.shape[1] == 1:
            return ((out > 0).float() == y).sum().item()
        return (out.argmax(1) == y).sum().item()

    def run(self, epochs: int) -> list[float]:
        torch, model, n, bs = self.torch, self.model, len(self.X), self.w.batch_size
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
            model.eval()
            with torch.no_grad():
                out = model(self.Xv)
                _ = self.loss(out, self.yv).item(), self._correct(out, self.yv)
            times.append(time.perf_counter() - start)
        return times


def coursekit_epoch_peak_bytes(runner: CoursekitRunner) -> int:
    """Peak bytes allocated (tracemalloc, which sees NumPy's buffers) during one extra, untimed epoch."""
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


def benchmark_workload(workload, epochs, rounds, seed, torch, log, threads=None):
    try:
        data = workload.load()
        ck = CoursekitRunner(workload, data, seed)
    except ImportError as exc:  # e.g. a layer module not written yet
        log(f"  {workload.name}: skipped, coursekit cannot build it ({exc})")
        return None
    tr = TorchRunner(workload, data, seed, torch) if torch is not None else None
    X, _, Xv, _ = data
    flops = epoch_flops(workload, len(X), len(Xv), X.shape[1:])
    ck.run(1)  # warm-up epoch (not timed): first-call costs, caches, optimizer state allocation
    if tr is not None:
        if threads is None:  # as many threads as coursekit's BLAS uses inside fit
            threads = ck.blas_threads_in_fit or _current_blas_threads() or 1
        torch.set_num_threads(threads)
        tr.run(1)
    wall = {"coursekit": [], "pytorch": []}
    cpu = {"coursekit": [], "pytorch": []}  # CPU seconds per epoch (all threads), one value per round
    for r in range(rounds):  # interleaved so both frameworks see the same machine load
        order = [("coursekit", ck), ("pytorch", tr)] if r % 2 == 0 else [("pytorch", tr), ("coursekit", ck)]
        for tag, runner in order:
            if runner is None:
                continue
            cpu_start = time.process_time()
            wall[tag].extend(runner.run(epochs))
            cpu[tag].append((time.process_time() - cpu_start) / epochs)
    result = {
        "workload": workload.name, "description": workload.description,
        "n_train": len(X), "n_val": len(Xv), "batch_size": workload.batch_size, "epoch_gflop": flops / 1e9,
        "coursekit_epoch_peak_bytes": coursekit_epoch_peak_bytes(ck),
        "coursekit_blas_threads_in_fit": ck.blas_threads_in_fit,
        "torch_threads": None if tr is None else torch.get_num_threads(),
    }
    for tag in ("coursekit", "pytorch"):
        if wall[tag]:
            result[tag] = {"epoch_times_s": wall[tag], "epoch_median_s": statistics.median(wall[tag]),
                           "epoch_min_s": min(wall[tag]), "epoch_cpu_median_s": statistics.median(cpu[tag])}
    if tr is not None:
        ck_res, tr_res = result["coursekit"], result["pytorch"]
        result["ratio_coursekit_over_torch"] = ck_res["epoch_median_s"] / tr_res["epoch_median_s"]
        result["ratio_min_coursekit_over_torch"] = ck_res["epoch_min_s"] / tr_res["epoch_min_s"]
        result["ratio_cpu_coursekit_over_torch"] = ck_res["epoch_cpu_median_s"] / tr_res["epoch_cpu_median_s"]
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


def _current_blas_threads() -> int | None:
    try:
        from threadpoolctl import threadpool_info
    except ImportError:
        return None
    # NumPy's own BLAS only: once PyTorch is imported, its libraries are listed too.
    numpy_dir = os.path.dirname(os.path.dirname(np.__file__))
    pools = [p for p in threadpool_info() if p.get("user_api") == "blas"]
    own = [p for p in pools if os.path.basename(os.path.dirname(p.get("filepath", ""))) in ("numpy.libs", "scipy_openblas64_", "scipy_openblas32_", "numpy")
           or p.get("filepath", "").startswith(os.path.join(numpy_dir, "numpy"))]
    chosen = own or pools
    return chosen[0]["num_threads"] if chosen else None


def blas_info() -> tuple[str, int | None]:
    """(BLAS name and version from numpy.show_config, threads it uses or None if unknown)."""
    name = "unknown"
    try:
        blas = np.show_config(mode="dicts")["Build Dependencies"]["blas"]
        name = f"{blas.get('name', '?')} {blas.get('version', '')}".strip()
    except Exception:
        pass
    threads = None
    try:
        from threadpoolctl import threadpool_info
        pools = [p for p in threadpool_info() if p.get("user_api") == "blas"]
        if pools:
            threads = pools[0]["num_threads"]
    except ImportError:
        pass
    return name, threads


def machine_info() -> dict:
    blas, threads = blas_info()
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return {
        "date_utc": _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "cpu": cpu_model(), "cores_available": cores, "python": platform.python_version(),
        "numpy": np.__version__, "blas": blas, "blas_threads": threads if threads is not None else cores,
        "load_average_start": os.getloadavg() if hasattr(os, "getloadavg") else None,
    }


# --------------------------------------------------------------------------------------------
# Report
# --------------------------------------------------------------------------------------------

TARGETS = {"mlp2d": 1.0, "digits_mlp": 1.0, "cnn": 1.5}  # coursekit epoch / PyTorch epoch, at most


def format_report(report: dict) -> str:
    m = report["machine"]
    peak = report["matmul_gflops"]
    start_end = report["matmul_gflops_start_end"]
    lines = [
        "coursekit speed benchmark",
        f"  machine: {m['cpu']}, {m['cores_available']} cores available; Python {m['python']}, NumPy {m['numpy']}, "
        f"BLAS {m['blas']} ({m['blas_threads']} thread{'s' if m['blas_threads'] != 1 else ''})",
        f"  run: {m['date_utc']}; load average at start {_fmt_load(m['load_average_start'])}, "
        f"at end {_fmt_load(report.get('load_average_end'))}",
        f"  float32 matmul {report['matmul_size']}x{report['matmul_size']} through NumPy, best of "
        f"{report['matmul_repeats']}: {start_end[0]:.1f} GFLOP/s at the start, {start_end[1]:.1f} at the end; "
        f"reference = {peak:.1f} GFLOP/s",
    ]
    if report.get("torch"):
        t = report["torch"]
        fit_threads = sorted({str(r["coursekit_blas_threads_in_fit"]) for r in report["workloads"]})
        torch_threads = sorted({str(r["torch_threads"]) for r in report["workloads"]})
        lines.append(f"  PyTorch {t['version']} on CPU; its float32 matmul ({m['blas_threads']} threads): "
                     f"{t['matmul_gflops']:.1f} GFLOP/s. Threads while training: coursekit's BLAS inside fit "
                     f"{'/'.join(fit_threads)}, PyTorch {'/'.join(torch_threads)} (matched)")
    else:
        lines.append(f"  {report.get('torch_skipped', 'PyTorch not installed')}: skipped")
    lines += [f"  {FLOP_RULE}",
              f"  epoch = training mini-batches + a validation pass; {report['rounds']} interleaved round(s) of "
              f"{report['epochs_note']} timed epochs per framework, after 1 warm-up epoch", ""]
    header = (f"{'workload':<11} {'framework':<10} {'epoch ms':>9} {'(min)':>8} {'CPU ms':>8} {'GFLOP/s':>8} "
              f"{'% matmul':>9} {'vs torch':>9} {'target':>7} {'peak MiB':>9}")
    lines += [header, "-" * len(header)]
    for res in report["workloads"]:
        name, flops = res["workload"], res["epoch_gflop"]
        ratio = res.get("ratio_coursekit_over_torch")
        for tag in ("coursekit", "pytorch"):
            if tag not in res:
                continue
            r = res[tag]
            med = r["epoch_median_s"]
            if tag == "coursekit":
                vs = "" if ratio is None else f"{ratio:.2f}x" if ratio >= 0.1 else f"{ratio:.3f}x"
                target = "" if ratio is None else f"<={TARGETS[name]:g}x"
                mem = f"{res['coursekit_epoch_peak_bytes'] / 2**20:9.2f}"
            else:
                vs, target, mem = "1.00x", "", f"{'n/a':>9}"
            lines.append(f"{name if tag == 'coursekit' else '':<11} {tag:<10} {med * 1e3:9.2f} "
                         f"{r['epoch_min_s'] * 1e3:8.2f} {r['epoch_cpu_median_s'] * 1e3:8.2f} {flops / med:8.2f} "
                         f"{100 * flops / med / peak:8.1f}% {vs:>9} {target:>7} {mem}")
    lines += ["", "  epoch ms = median wall time per epoch, (min) = fastest epoch, CPU ms = process CPU time per epoch"
                  " (all threads, median over rounds).",
              "  GFLOP/s = counted FLOPs per epoch / median epoch time; % matmul = that / the reference matmul rate.",
              "  vs torch = coursekit median epoch / PyTorch median epoch (same run, interleaved).",
              "  peak MiB = tracemalloc peak during one extra coursekit epoch (NumPy buffers; the data set, allocated"
              " before, is not included).",
              f"  peak resident memory of this benchmark process: {report['max_rss_mib']:.0f} MiB (Python, NumPy, "
              "PyTorch, data; not the notebook kernels)"]
    verdicts = []
    for res in report["workloads"]:
        if "ratio_coursekit_over_torch" in res:
            ratio, target = res["ratio_coursekit_over_torch"], TARGETS[res["workload"]]
            verdicts.append(f"{res['workload']} {ratio:.2f}x <= {target:g}x: {'met' if ratio <= target else 'MISSED'}"
                            f" (by fastest epoch {res['ratio_min_coursekit_over_torch']:.2f}x, by CPU time "
                            f"{res['ratio_cpu_coursekit_over_torch']:.2f}x)")
    if verdicts:
        lines += ["", "targets (coursekit epoch / PyTorch epoch):"] + [f"  {v}" for v in verdicts]
    lines += [""] + [f"  {res['workload']}: {res['description']}; {res['epoch_gflop'] * 1e3:.1f} MFLOP per epoch"
                     for res in report["workloads"]]
    lines += [f"  {skipped}" for skipped in report.get("skipped_workloads", [])]
    if report.get("notebooks") is not None:
        nbs = report["notebooks"]
        total = sum(r["seconds"] for r in nbs)
        ok = all(r["status"] == "ok" for r in nbs)
        cpu_total = sum(r["kernel_cpu_seconds"] for r in nbs)
        lines += ["", f"notebooks (each in a fresh kernel, one after another, {m['cores_available']} cores; "
                      "wall time, and the kernel's CPU time over all its threads):"]
        lines += [f"  {r['notebook']:<40} {r['seconds']:7.1f} s wall {r['kernel_cpu_seconds']:7.1f} s CPU  "
                  f"{'' if r['status'] == 'ok' else r['status']}" for r in nbs]
        lines.append(f"  {'total (' + str(len(nbs)) + ' notebooks)':<40} {total:7.1f} s wall {cpu_total:7.1f} s CPU  "
                     f"target < 120 s wall: {'met' if total < 120 and ok else 'MISSED'}"
                     f"{'' if ok else ' (a notebook failed)'}")
    else:
        lines += ["", "notebooks: skipped (--no-notebooks)"]
    return "\n".join(lines)


def _fmt_load(load) -> str:
    return "n/a" if not load else "/".join(f"{x:.1f}" for x in load) + " (1/5/15 min)"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workloads", default=",".join(WORKLOADS),
                        help=f"comma-separated subset of {','.join(WORKLOADS)} (default: all)")
    parser.add_argument("--epochs", type=int, default=None,
                        help="timed epochs per round per framework (default: per workload, "
                             + ", ".join(f"{w.name} {w.default_epochs}" for w in WORKLOADS.values()) + ")")
    parser.add_argument("--rounds", type=int, default=5, help="interleaved coursekit/PyTorch rounds (default 5)")
    parser.add_argument("--no-notebooks", action="store_true", help="skip executing the notebooks")
    parser.add_argument("--no-torch", action="store_true", help="skip PyTorch even if it is installed")
    parser.add_argument("--threads", type=int, default=None,
                        help="threads for NumPy's BLAS (needs threadpoolctl) and PyTorch (default: NumPy's as is, "
                             "PyTorch matched to it)")
    parser.add_argument("--matmul-size", type=int, default=1024)
    parser.add_argument("--matmul-repeats", type=int, default=10)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", metavar="PATH", default=None, help="also write all figures as JSON to PATH")
    args = parser.parse_args(argv)
    names = [n.strip() for n in args.workloads.split(",") if n.strip()]
    unknown = [n for n in names if n not in WORKLOADS]
    if unknown:
        parser.error(f"unknown workload(s) {unknown}; choose from {list(WORKLOADS)}")
    if args.epochs is not None and args.epochs < 1 or args.rounds < 1:
        parser.error("--epochs and --rounds must be at least 1")

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

    torch = None
    if args.no_torch:
        report["torch_skipped"] = "disabled by --no-torch"
    else:
        try:
            import torch
        except ImportError:
            report["torch_skipped"] = "PyTorch not installed"
            log("PyTorch not installed: skipped")
    if torch is not None:
        torch.set_num_threads(report["machine"]["blas_threads"])  # for its matmul, like NumPy's above
        report["torch"] = {"version": torch.__version__,
                           "matmul_gflops": torch_matmul_gflops(torch, args.matmul_size, args.matmul_repeats)}

    report["workloads"], report["skipped_workloads"] = [], []
    for name in names:
        w = WORKLOADS[name]
        log(f"benchmarking {name} ...")
        res = benchmark_workload(w, args.epochs or w.default_epochs, args.rounds, args.seed, torch, log,
                                 threads=args.threads)
        if res is None:
            report["skipped_workloads"].append(f"{name}: skipped (coursekit cannot build it yet)")
        else:
            report["workloads"].append(res)

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

"""The CNN layers and a CNN training step of coursekit against PyTorch on ONE thread, over a grid of shapes.

Run from the repository root::

    python benchmarks/cnn_layers.py                              # the 24-shape grid of issue 22 (about 10 minutes)
    python benchmarks/cnn_layers.py --shapes 64:16:32:16,256:16:32:8 --ops conv,step --rounds 7
    python benchmarks/cnn_layers.py --baseline 3fc3eb8           # also time coursekit as of that commit
    python benchmarks/cnn_layers.py --json grid.json

Shape ``N:Cin:C:H`` is a batch of N float32 images of Cin channels, H x H pixels. For each shape:

* ``conv``: ``Conv2D(Cin, C, 3, padding=1)``, a training forward pass and its backward pass *with*
  the input gradient (PyTorch: ``nn.Conv2d`` on an input that requires grad).
* ``bn``: ``BatchNorm2d(C)`` on (N, C, H, W), training forward + backward.
* ``step``: one SGD training step of conv3x3(Cin->C) - ReLU - conv3x3(C->C) - BatchNorm2d - ReLU -
  MaxPool2D(2) - Flatten - Dense(C*(H/2)^2 -> 10) with softmax cross-entropy: forward, loss, backward,
  update. Neither framework computes the gradient of the input images (PyTorch never does for an
  input that does not require grad; coursekit is asked with ``model.backward(dout, input_grad=False)``).

Method. PyTorch runs with ``torch.set_num_threads(1)``; coursekit's BLAS is limited to one thread
(threadpoolctl), as ``fit`` does. The implementations alternate in a rotating order, ``--rounds`` times;
each round times a few calls of each (enough for about ``--min-time`` seconds) and keeps their median
wall time and thread CPU time. The ratio coursekit / PyTorch is taken per round, and the figure
reported is the **median of the per-round ratios**; the grid's summary is their **geometric mean**
over the shapes. ``--baseline REV`` extracts ``coursekit/`` as of git revision REV (``git archive``,
nothing in the working tree changes) and times it in the same rounds, so "before / now" is measured
under the same load too (the baseline's step computes the input gradient when it has no
``input_grad`` switch).

The header names the BLAS kernels OpenBLAS actually runs (threadpoolctl's ``architecture``), and the
``OPENBLAS_CORETYPE`` / ``OPENBLAS_L2_SIZE`` settings in force: run the script once as it is and once
as ``env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python benchmarks/cnn_layers.py`` for OpenBLAS's
own choice of kernels on the machine.

This is a measurement script, not a test: nothing here asserts a speed.
"""
from __future__ import annotations

import argparse
import datetime as _dt
import importlib
import importlib.util
import json
import math
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
for _path in (str(REPO), str(HERE)):
    if _path not in sys.path:  # run from a checkout without installing; benchmark.py beside this file
        sys.path.insert(0, _path)

from benchmark import cpu_model  # noqa: E402

# N in {64, 256} x (Cin -> C) in {1->16, 16->32, 32->64, 64->64} x H in {8, 16, 28}: the grid of issue 22
DEFAULT_SHAPES = [(n, cin, c, h) for n in (64, 256) for cin, c in ((1, 16), (16, 32), (32, 64), (64, 64))
                  for h in (8, 16, 28)]
OPS = ("conv", "bn", "step")


def parse_shapes(text: str) -> list[tuple[int, int, int, int]]:
    """``"N:Cin:C:H,..."`` -> [(N, Cin, C, H), ...]; H even and at least 2 (the step pools 2x2)."""
    shapes = []
    for item in text.split(","):
        parts = item.strip().split(":")
        if len(parts) != 4 or not all(p.isdigit() for p in parts):
            raise ValueError(f"shape {item!r} must be N:Cin:C:H (four integers), e.g. 64:16:32:16")
        shape = tuple(int(p) for p in parts)
        if min(shape) < 1 or shape[3] < 2:
            raise ValueError(f"shape {item!r}: every value must be at least 1, and H at least 2")
        shapes.append(shape)
    return shapes


def shapes_and_ops(parser: argparse.ArgumentParser, args, allowed) -> tuple[list, list]:
    """The shapes (``args.shapes``, default the 24-shape grid) and ops (``args.ops``, a subset of ``allowed``) asked
    for on the command line, and ``args.rounds`` >= 1; ``parser.error`` otherwise."""
    try:
        shapes = DEFAULT_SHAPES if args.shapes is None else parse_shapes(args.shapes)
    except ValueError as exc:
        parser.error(str(exc))
    ops = [op.strip() for op in args.ops.split(",") if op.strip()]
    if not ops or any(op not in allowed for op in ops):
        parser.error(f"--ops must be a comma-separated subset of {','.join(allowed)}, got {args.ops!r}")
    if args.rounds < 1:
        parser.error("--rounds must be at least 1")
    return shapes, ops


def load_coursekit(root: Path | None, alias: str):
    """The ``coursekit`` package under ``root`` imported as the top-level package ``alias`` (None: this checkout's)."""
    if root is None:
        return importlib.import_module("coursekit")
    package = root / "coursekit"
    spec = importlib.util.spec_from_file_location(alias, package / "__init__.py",
                                                  submodule_search_locations=[str(package)])
    module = importlib.util.module_from_spec(spec)
    sys.modules[alias] = module
    spec.loader.exec_module(module)
    return module


def extract_revision(rev: str, into: Path) -> Path:
    """``coursekit/`` as of git revision ``rev``, written under ``into`` with ``git archive`` (read-only for the repo)."""
    archive = subprocess.run(["git", "archive", rev, "coursekit"], cwd=REPO, capture_output=True, check=True).stdout
    subprocess.run(["tar", "-x", "-C", str(into)], input=archive, check=True)
    return into


# --------------------------------------------------------------------------------------------
# The timed operations: each builder returns a zero-argument callable doing one forward + backward
# --------------------------------------------------------------------------------------------

def coursekit_op(ck, op: str, shape, seed: int):
    conv_mod = importlib.import_module(ck.__name__ + ".conv")
    bn_mod = importlib.import_module(ck.__name__ + ".batchnorm")
    layers = importlib.import_module(ck.__name__ + ".layers")
    model_mod = importlib.import_module(ck.__name__ + ".model")
    losses = importlib.import_module(ck.__name__ + ".losses")
    optim = importlib.import_module(ck.__name__ + ".optim")
    n, cin, c, h = shape
    rng = np.random.default_rng(seed)
    if op == "conv":
        layer = conv_mod.Conv2D(cin, c, 3, padding=1, rng=rng)
        x = rng.standard_normal((n, cin, h, h), dtype=np.float32)
        dout = rng.standard_normal((n, c, h, h), dtype=np.float32)
        return lambda: (layer.forward(x, training=True), layer.backward(dout))
    if op == "bn":
        layer = bn_mod.BatchNorm2d(c)
        x = rng.standard_normal((n, c, h, h), dtype=np.float32)
        dout = rng.standard_normal((n, c, h, h), dtype=np.float32)
        return lambda: (layer.forward(x, training=True), layer.backward(dout))
    model = model_mod.Sequential(
        conv_mod.Conv2D(cin, c, 3, padding=1, rng=rng), layers.ReLU(), conv_mod.Conv2D(c, c, 3, padding=1, rng=rng),
        bn_mod.BatchNorm2d(c), layers.ReLU(), conv_mod.MaxPool2D(2), conv_mod.Flatten(),
        layers.Dense(c * (h // 2) ** 2, 10, rng=rng))
    optimizer = optim.SGD(model.parameters(), lr=1e-3)
    x = rng.random((n, cin, h, h), dtype=np.float32)
    y = rng.integers(0, 10, n)
    skips = "input_grad" in model.backward.__code__.co_varnames

    def step():
        logits = model.forward(x, training=True)
        _, dlogits = losses.softmax_cross_entropy(logits, y)
        if skips:
            model.backward(dlogits, input_grad=False)
        else:
            model.backward(dlogits)
        optimizer.step()
    return step


def torch_op(torch, op: str, shape, seed: int):
    nn = torch.nn
    n, cin, c, h = shape
    torch.manual_seed(seed)
    if op in ("conv", "bn"):
        layer = nn.Conv2d(cin, c, 3, padding=1) if op == "conv" else nn.BatchNorm2d(c)
        x = torch.randn(n, cin if op == "conv" else c, h, h).requires_grad_(True)
        dout = torch.randn(n, c, h, h)

        def layer_op():
            x.grad = layer.weight.grad = layer.bias.grad = None
            layer(x).backward(dout)
        return layer_op
    model = nn.Sequential(nn.Conv2d(cin, c, 3, padding=1), nn.ReLU(), nn.Conv2d(c, c, 3, padding=1),
                          nn.BatchNorm2d(c), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(), nn.Linear(c * (h // 2) ** 2, 10))
    optimizer = torch.optim.SGD(model.parameters(), lr=1e-3)
    loss_fn = nn.CrossEntropyLoss()
    x = torch.rand(n, cin, h, h)
    y = torch.randint(0, 10, (n,))

    def step():
        optimizer.zero_grad()
        loss_fn(model(x), y).backward()
        optimizer.step()
    return step


def time_calls(fn, calls: int) -> tuple[float, float]:
    """(median wall seconds, median thread CPU seconds) of ``calls`` calls of ``fn``."""
    wall, cpu = [], []
    for _ in range(calls):
        c0, w0 = time.thread_time(), time.perf_counter()
        fn()
        cpu.append(time.thread_time() - c0)
        wall.append(time.perf_counter() - w0)
    return statistics.median(wall), statistics.median(cpu)


def measure(fns: dict, rounds: int, min_time: float) -> dict:
    """Interleave the callables of ``fns`` (label -> fn) for ``rounds`` rounds in a rotating order.

    Returns {label: {"wall": [per-round medians], "cpu": [...]}}.
    """
    calls = 3
    for fn in fns.values():  # warm-up (work arrays, caches, first-call costs); the same number of calls for all
        fn()
        start = time.perf_counter()
        fn()
        calls = max(calls, min(50, math.ceil(min_time / max(time.perf_counter() - start, 1e-6))))
    results = {label: {"wall": [], "cpu": []} for label in fns}
    labels = list(fns)
    for r in range(rounds):
        shift = r % len(labels)
        for label in labels[shift:] + labels[:shift]:
            wall, cpu = time_calls(fns[label], calls)
            results[label]["wall"].append(wall)
            results[label]["cpu"].append(cpu)
    return results


def ratio_of(results: dict, num: str, den: str, key: str) -> float:
    """Median over rounds of results[num][key][r] / results[den][key][r]."""
    return statistics.median(a / b for a, b in zip(results[num][key], results[den][key]))


def geometric_mean(values) -> float:
    values = list(values)
    return math.exp(sum(math.log(v) for v in values) / len(values)) if values else float("nan")


# --------------------------------------------------------------------------------------------

def blas_description() -> dict:
    from threadpoolctl import threadpool_info

    numpy_dir = os.path.dirname(np.__file__)
    pools = [p for p in threadpool_info() if p.get("user_api") == "blas"]
    own = [p for p in pools if "numpy" in p.get("filepath", "") or "scipy_openblas" in p.get("filepath", "")
           or p.get("filepath", "").startswith(numpy_dir)]
    pool = (own or pools or [{}])[0]
    return {"library": pool.get("internal_api"), "version": pool.get("version"),
            "kernels": pool.get("architecture"), "threads": pool.get("num_threads"),
            "OPENBLAS_CORETYPE": os.environ.get("OPENBLAS_CORETYPE"),
            "OPENBLAS_L2_SIZE": os.environ.get("OPENBLAS_L2_SIZE")}


def format_report(report: dict) -> str:
    m, labels = report["machine"], report["labels"]
    blas = m["blas"]
    env = ", ".join(f"{k}={blas[k]}" for k in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE") if blas[k]) or "no OPENBLAS_* override"
    lines = [
        "coursekit CNN layers vs PyTorch, one thread each",
        f"  machine: {m['cpu']}; Python {m['python']}, NumPy {m['numpy']}, {blas['library']} {blas['version']} running "
        f"its {blas['kernels']} kernels ({env}); "
        + (f"PyTorch {m['torch']} (CPU capability {m['torch_capability']})" if m["torch"] else "PyTorch not run"),
        f"  run: {m['date_utc']}; load average {m['load_start']} at the start, {report['load_end']} at the end; "
        f"{report['rounds']} interleaved rounds; figures are medians over rounds of the per-round ratio "
        "(wall time; thread CPU time in brackets)",
        "",
    ]
    others = [label for label in labels if label not in ("coursekit", "pytorch")]
    torch_ran = "pytorch" in labels
    header = f"{'shape N:Cin:C:H':<18}" + "".join(
        f" {op + ' ck ms':>11}" + (f" {op + ' ck/pt':>15}" if torch_ran else "")
        + "".join(f" {op + ' ' + o + '/ck':>15}" for o in others) for op in report["ops"])
    lines += [header, "-" * len(header)]
    for row in report["shapes"]:
        text = f"{row['shape']:<18}"
        for op in report["ops"]:
            r = row[op]
            text += f" {r['coursekit_ms']:11.3f}"
            if torch_ran:
                text += f" {r['ck/pytorch']:6.2f}x ({r['ck/pytorch_cpu']:5.2f}x)"
            text += "".join(f" {r[o + '/ck']:6.2f}x ({r[o + '/ck_cpu']:5.2f}x)" for o in others)
        lines.append(text)
    lines.append("")
    for op in report["ops"]:
        s = report["summary"][op]
        parts = []
        if torch_ran:
            worst = max(report["shapes"], key=lambda row: row[op]["ck/pytorch"])
            parts.append(f"geometric mean coursekit / PyTorch = {s['geomean']:.2f}x (CPU time {s['geomean_cpu']:.2f}x); "
                         f"range {s['min']:.2f}-{s['max']:.2f}x, worst {worst['shape']}")
        parts += [f"{o} / coursekit geometric mean {s[o + '/ck']:.2f}x"
                  + (f", {o} / PyTorch {s[o + '/pytorch']:.2f}x" if o + "/pytorch" in s else "") for o in others]
        lines.append(f"  {op}: " + "; ".join(parts))
    lines.append("  ck/pt = coursekit time / PyTorch time (below 1: coursekit faster); X/ck = X's time / coursekit's "
                 "(above 1: coursekit faster than X)")
    return "\n".join(lines)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shapes", default=None, metavar="N:Cin:C:H,...",
                        help="shapes to run (default: the 24-shape grid, N 64/256, 1->16 ... 64->64, 8/16/28 px)")
    parser.add_argument("--ops", default=",".join(OPS), help=f"comma-separated subset of {','.join(OPS)}")
    parser.add_argument("--rounds", type=int, default=5, help="interleaved rounds (default 5)")
    parser.add_argument("--min-time", type=float, default=0.05,
                        help="seconds of calls per implementation per round, at least 3 calls (default 0.05)")
    parser.add_argument("--baseline", metavar="REV", default=None,
                        help="also time coursekit as of this git revision (e.g. a commit hash)")
    parser.add_argument("--no-torch", action="store_true", help="skip PyTorch (only with --baseline)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", metavar="PATH", default=None, help="also write the figures as JSON to PATH")
    args = parser.parse_args(argv)
    shapes, ops = shapes_and_ops(parser, args, OPS)
    if args.no_torch and not args.baseline:
        parser.error("--no-torch needs --baseline (something to compare with)")

    from threadpoolctl import threadpool_limits

    threadpool_limits(1, user_api="blas")
    torch = None
    if not args.no_torch:
        import torch
        torch.set_num_threads(1)
    ck = load_coursekit(None, "coursekit")
    implementations = {"coursekit": lambda op, shape: coursekit_op(ck, op, shape, args.seed)}
    if torch is not None:
        implementations["pytorch"] = lambda op, shape: torch_op(torch, op, shape, args.seed)
    tmp = None
    if args.baseline:
        tmp = tempfile.TemporaryDirectory(prefix="coursekit-baseline-")
        base = load_coursekit(extract_revision(args.baseline, Path(tmp.name)), "coursekit_baseline")
        implementations[f"ck@{args.baseline}"] = lambda op, shape: coursekit_op(base, op, shape, args.seed)
    reference = "pytorch" if torch is not None else f"ck@{args.baseline}"

    report = {"machine": {"cpu": cpu_model(), "python": platform.python_version(), "numpy": np.__version__,
                          "blas": blas_description(),
                          "torch": getattr(torch, "__version__", None),
                          "torch_capability": torch.backends.cpu.get_cpu_capability() if torch else None,
                          "date_utc": _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
                          "load_start": "/".join(f"{v:.1f}" for v in os.getloadavg())},
              "rounds": args.rounds, "ops": ops, "labels": list(implementations), "reference": reference,
              "shapes": []}
    for shape in shapes:
        label = ":".join(map(str, shape))
        print(f"{label} ...", file=sys.stderr, flush=True)
        row = {"shape": label}
        for op in ops:
            fns = {name: build(op, shape) for name, build in implementations.items()}
            res = measure(fns, args.rounds, args.min_time)
            entry = {"coursekit_ms": statistics.median(res["coursekit"]["wall"]) * 1e3,
                     "raw_s": res}
            if reference == "pytorch":
                entry["ck/pytorch"] = ratio_of(res, "coursekit", "pytorch", "wall")
                entry["ck/pytorch_cpu"] = ratio_of(res, "coursekit", "pytorch", "cpu")
                entry["pytorch_ms"] = statistics.median(res["pytorch"]["wall"]) * 1e3
            for other in implementations:
                if other not in ("coursekit", "pytorch"):
                    entry[other + "/ck"] = ratio_of(res, other, "coursekit", "wall")
                    entry[other + "/ck_cpu"] = ratio_of(res, other, "coursekit", "cpu")
                    if reference == "pytorch":
                        entry[other + "/pytorch"] = ratio_of(res, other, "pytorch", "wall")
            row[op] = entry
            del fns
        report["shapes"].append(row)
        if args.json:  # after every shape, so that an interrupted run keeps what it measured
            Path(args.json).write_text(json.dumps(report, indent=2))
    report["load_end"] = "/".join(f"{v:.1f}" for v in os.getloadavg())
    report["summary"] = {}
    for op in ops:
        summary = {}
        if reference == "pytorch":
            ratios = [row[op]["ck/pytorch"] for row in report["shapes"]]
            summary = {"geomean": geometric_mean(ratios),
                       "geomean_cpu": geometric_mean(row[op]["ck/pytorch_cpu"] for row in report["shapes"]),
                       "min": min(ratios), "max": max(ratios)}
        for other in implementations:
            if other not in ("coursekit", "pytorch"):
                summary[other + "/ck"] = geometric_mean(row[op][other + "/ck"] for row in report["shapes"])
                if reference == "pytorch":
                    summary[other + "/pytorch"] = geometric_mean(row[op][other + "/pytorch"] for row in report["shapes"])
        report["summary"][op] = summary
    print(format_report(report))
    if args.json:
        Path(args.json).write_text(json.dumps(report, indent=2))
        print(f"wrote {args.json}", file=sys.stderr)
    if tmp is not None:
        tmp.cleanup()
    return 0


if __name__ == "__main__":
    sys.exit(main())

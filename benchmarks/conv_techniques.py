"""Measure the techniques behind coursekit's CNN layers one against another, on a few shapes (issues 15 and 22).

Run from the repository root::

    python benchmarks/conv_techniques.py                 # all techniques, default shapes (a few minutes)
    python benchmarks/conv_techniques.py --repeats 30 --shapes 64:16:8:32:3:1:1

Each technique is timed as the median over ``--repeats`` calls of the thread's CPU time (robust on a
busy machine: waiting for a core is not counted) and of the wall time, the alternatives interleaved
over three rounds, with BLAS on one thread (as ``fit`` runs it). Every alternative is first checked
against what coursekit computes (bit for bit, or to float32 rounding where the sums are grouped
differently, as the report says). Per shape ``N:C_in:H:C_out:k:stride:padding``:

* the forward matrix product over a whole batch's im2col matrix: ``cols.T @ W.T`` (coursekit before
  issue 22; its (N*H_out*W_out, C_out) output then needs a transposing copy to NCHW) against
  ``W @ cols`` (now: output (C_out, N, H_out*W_out), whose outer axes swap with whole rows);
* im2col of one chunk of samples: one strided copy per kernel offset into a zeroed matrix, rows of
  W_out values (before, and now for strides > 1), against the shifted runs of the flattened maps
  (now, stride 1 and same size);
* col2im of one chunk: strided adds per kernel offset into a (C, N, H, W) accumulator, rows of W_out
  values, against the shifted runs;
* a whole Conv2D forward + backward: the batch in one chunk (no chunking) against chunks of about
  ``coursekit.conv._CHUNK_ELEMENTS`` im2col values (now), and backward with and without the input
  gradient (``input_grad=False``, what a network's first layer needs); for stride 1 and same size,
  dx by col2im against dx as dout convolved with the flipped kernel (now used when C_out <= C_in);
* batch norm's per-channel sums over (N, H, W): ``np.sum`` over axes (0, 2, 3) in float64 (before)
  against einsum row sums in float32 added up in float64 (now), and for the fused ``sum(a*b)``;
* ReLU forward: ``np.maximum(x, 0)`` (before) against selecting bit patterns with the mask (now);
* BLAS threads: the convolution's three products on one thread and on two, and whether the results
  are bit-identical (they are not, in general: see the README).

This is a measurement script, not a test: nothing here asserts a speed.
"""
from __future__ import annotations

import argparse
import contextlib
import os
import statistics
import sys
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
for _path in (str(REPO), str(HERE)):
    if _path not in sys.path:  # run from a checkout without installing; cnn_layers.py beside this file
        sys.path.insert(0, _path)

from cnn_layers import time_calls  # noqa: E402

from coursekit import conv as conv_module  # noqa: E402
from coursekit.batchnorm import _channel_sums  # noqa: E402
from coursekit.conv import Conv2D  # noqa: E402
from coursekit.layers import ReLU  # noqa: E402

DEFAULT_SHAPES = "64:16:8:32:3:1:1,256:16:8:32:3:1:1,64:32:16:64:3:1:1,128:16:16:32:3:2:1,32:64:32:64:3:1:1"


def timed(fn, repeats: int) -> tuple[float, float]:
    """(median thread CPU seconds, median wall seconds) of ``fn()`` over ``repeats`` calls, after one warm-up."""
    fn()
    wall, cpu = time_calls(fn, repeats)
    return cpu, wall


def compare(alternatives: dict, repeats: int, rounds: int = 3) -> dict:
    """{name: (cpu, wall)}: each alternative timed ``rounds`` times, interleaved; medians of the rounds."""
    runs = {name: [] for name in alternatives}
    for r in range(rounds):
        names = list(alternatives)[r % len(alternatives):] + list(alternatives)[:r % len(alternatives)]
        for name in names:
            runs[name].append(timed(alternatives[name], repeats))
    return {name: (statistics.median(c for c, _ in v), statistics.median(w for _, w in v)) for name, v in runs.items()}


def blas_threads(n):
    from threadpoolctl import threadpool_limits

    return threadpool_limits(n, user_api="blas")


@contextlib.contextmanager
def tuned(name: str, value):
    """One of coursekit.conv's tuning constants (``_CHUNK_ELEMENTS``, ``_FLIPPED_MAX_RATIO``) set to ``value`` inside."""
    saved = getattr(conv_module, name)
    setattr(conv_module, name, value)
    try:
        yield
    finally:
        setattr(conv_module, name, saved)


def strided_im2col(layer, x, geometry):
    """One strided copy per kernel offset into a zeroed (C, kh, kw, N, H_out, W_out) matrix (the general path)."""
    n, c = x.shape[:2]
    (kh, kw), (ph, pw) = layer.kernel_size, layer.padding
    cols = np.empty((c, kh, kw, n, geometry.h_out, geometry.w_out), dtype=x.dtype)
    if ph or pw:
        cols.fill(0)
    for u, v, out_rows, out_columns, rows, columns in geometry.copies:
        cols[:, u, v, :, out_rows, out_columns] = x[:, :, rows, columns].transpose(1, 0, 2, 3)
    return cols.reshape(c * kh * kw, -1)


def strided_col2im(layer, dcols, x_shape, geometry):
    """One strided add per kernel offset into a (C, N, H, W) accumulator, then NCHW (the general path)."""
    n, c, h, w = x_shape
    kh, kw = layer.kernel_size
    d6 = dcols.reshape(c, kh, kw, n, geometry.h_out, geometry.w_out)
    acc = np.zeros((c, n, h, w), dtype=dcols.dtype)
    for u, v, out_rows, out_columns, rows, columns in geometry.copies:
        acc[:, :, rows, columns] += d6[:, u, v, :, out_rows, out_columns]
    return np.ascontiguousarray(acc.transpose(1, 0, 2, 3))


def study(shape, repeats, log):
    n, c_in, h, c_out, k, s, p = shape
    rng = np.random.default_rng(0)
    x = rng.standard_normal((n, c_in, h, h), dtype=np.float32)
    layer = Conv2D(c_in, c_out, k, stride=s, padding=p, rng=rng)
    out = layer.forward(x, training=True)
    dout = rng.standard_normal(out.shape, dtype=np.float32)
    geometry = layer._geometry(h, h)
    W = layer.params["W"].reshape(c_out, -1)
    rows = []

    with blas_threads(1):
        # the forward product over the whole batch's im2col matrix, in either orientation
        cols = strided_im2col(layer, x, geometry)
        pixels = geometry.h_out * geometry.w_out
        before = lambda: np.ascontiguousarray((cols.T @ W.T).reshape(n, pixels, c_out).transpose(0, 2, 1))  # noqa: E731
        now = lambda: np.ascontiguousarray((W @ cols).reshape(c_out, n, pixels).transpose(1, 0, 2))  # noqa: E731
        np.testing.assert_allclose(before(), now(), rtol=1e-4, atol=1e-4)  # other roundings: close, not equal
        res = compare({"cols.T @ W.T, then to NCHW (before)": before, "W @ cols, outer axes swapped (now)": now},
                      repeats)
        rows += [("forward product, whole batch", name, *t) for name, t in res.items()]

        # im2col and col2im of one chunk of samples
        chunk = conv_module._chunks(n, W.shape[1] * pixels)[0]
        xc = x[chunk[0]:chunk[1]]
        label = f"{chunk[1] - chunk[0]} samples"
        if geometry.shifts:
            assert np.array_equal(layer._im2col(xc, geometry, reuse=True), strided_im2col(layer, xc, geometry))
            res = compare({"strided copy per kernel offset (before)": lambda: strided_im2col(layer, xc, geometry),
                           "shifted runs of the flattened maps (now)":
                           lambda: layer._im2col(xc, geometry, reuse=True)}, repeats)
            rows += [(f"im2col, a chunk of {label}", name, *t) for name, t in res.items()]
            dcols = rng.standard_normal((W.shape[1], (chunk[1] - chunk[0]) * pixels), dtype=np.float32)
            dx = np.empty(xc.shape, dtype=np.float32)
            layer._col2im(dcols.copy(), dx, geometry, reuse=True)
            np.testing.assert_allclose(dx, strided_col2im(layer, dcols, xc.shape, geometry), rtol=1e-5, atol=1e-5)
            res = compare({"strided add per kernel offset (before)":
                           lambda: strided_col2im(layer, dcols, xc.shape, geometry),
                           "shifted runs of the flattened maps (now)":
                           lambda: layer._col2im(dcols, dx, geometry, reuse=True)}, repeats)
            rows += [(f"col2im, a chunk of {label}", name, *t) for name, t in res.items()]

        # a whole forward + backward: chunks or not, input gradient or not
        def step(input_grad=True):
            layer.forward(x, training=True)
            return layer.backward(dout, input_grad=input_grad)

        with tuned("_CHUNK_ELEMENTS", 1 << 62):
            whole = step()
        np.testing.assert_allclose(step(), whole, rtol=1e-4, atol=1e-4)
        res = {}
        for label_, size in (("the batch in one chunk", 1 << 62),
                             (f"chunks of ~{conv_module._CHUNK_ELEMENTS >> 10}K im2col values (now)",
                              conv_module._CHUNK_ELEMENTS)):
            with tuned("_CHUNK_ELEMENTS", size):
                res.update(compare({label_: step}, repeats, rounds=1))
        res.update(compare({"chunks, backward without the input gradient": lambda: step(False)}, repeats, rounds=1))
        rows += [("Conv2D forward + backward", name, *t) for name, t in res.items()]
        if geometry.shifts:  # dx by col2im, or by the flipped-kernel convolution, whatever C_out / C_in
            res = {}
            for label_, ratio in (("col2im of the column gradients", 0.0),
                                  ("dout convolved with the flipped kernel", float("inf"))):
                with tuned("_FLIPPED_MAX_RATIO", ratio):
                    np.testing.assert_allclose(step(), whole, rtol=1e-4, atol=1e-4)
                    res.update(compare({label_: step}, repeats, rounds=1))
            rows += [(f"Conv2D, dx (C_out/C_in = {c_out / c_in:g})", name, *t) for name, t in res.items()]

        # batch norm's reductions over (N, H, W), on the convolution's output
        y = out
        np.testing.assert_allclose(_channel_sums(y), y.sum(axis=(0, 2, 3), dtype=np.float64), rtol=1e-5, atol=1e-3)
        res = compare({"np.sum over (0, 2, 3) in float64 (before)": lambda: y.sum(axis=(0, 2, 3), dtype=np.float64),
                       "einsum rows, float64 over N (now)": lambda: _channel_sums(y),
                       "sum(a*b): multiply, then np.sum (before)":
                       lambda: np.multiply(y, dout).sum(axis=(0, 2, 3), dtype=np.float64),
                       "sum(a*b): einsum rows (now)": lambda: _channel_sums(y, dout)}, repeats)
        rows += [("batch norm per-channel sums", name, *t) for name, t in res.items()]

        # ReLU forward
        relu = ReLU()
        assert np.array_equal(relu.forward(y, training=True), np.maximum(y, 0))
        res = compare({"np.maximum(x, 0) and the mask (before)": lambda: (~(y <= 0), np.maximum(y, 0)),
                       "mask, then bit patterns times the mask (now)": lambda: relu.forward(y, training=True)},
                      repeats)
        rows += [("ReLU forward", name, *t) for name, t in res.items()]

    # BLAS threads, on the whole batch's products
    g = np.ascontiguousarray(dout.reshape(n, c_out, -1).transpose(1, 0, 2)).reshape(c_out, -1)
    products = lambda: (W @ cols, g @ cols.T, W.T @ g)  # noqa: E731
    with blas_threads(1):
        one = products()
        t_one = timed(products, repeats)
    with blas_threads(2):
        two = products()
        t_two = timed(products, repeats)
    same = all(np.array_equal(a.view(np.uint32), b.view(np.uint32)) for a, b in zip(one, two))
    rows += [("3 matrix products, whole batch", "1 BLAS thread", *t_one),
             ("3 matrix products, whole batch", f"2 BLAS threads (bit-identical to 1 thread: {'yes' if same else 'no'})",
              *t_two)]
    log(f"  done {shape}")
    return rows


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shapes", default=DEFAULT_SHAPES, help=f"N:C_in:H:C_out:k:stride:padding,... "
                                                                 f"(default {DEFAULT_SHAPES})")
    parser.add_argument("--repeats", type=int, default=20, help="calls per timing (default 20)")
    args = parser.parse_args(argv)
    try:
        shapes = [tuple(int(v) for v in item.split(":")) for item in args.shapes.split(",")]
        assert all(len(s) == 7 for s in shapes)
    except (ValueError, AssertionError):
        parser.error("--shapes must be N:C_in:H:C_out:k:stride:padding,... (seven integers each)")
    log = lambda msg: print(msg, file=sys.stderr, flush=True)  # noqa: E731
    print(f"conv techniques; load average {'/'.join(f'{v:.1f}' for v in os.getloadavg())}; medians of "
          f"{args.repeats} calls, thread CPU time (wall time)")
    for shape in shapes:
        n, c_in, h, c_out, k, s, p = shape
        print(f"\nN={n} {c_in}->{c_out} channels, {h}x{h}, kernel {k}, stride {s}, padding {p}")
        last = None
        for what, name, cpu, wall in study(shape, args.repeats, log):
            print(f"  {what if what != last else '':<42} {name:<70} {cpu * 1e3:9.3f} ms ({wall * 1e3:9.3f})")
            last = what
    return 0


if __name__ == "__main__":
    sys.exit(main())

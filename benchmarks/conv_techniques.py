"""Measure the techniques issue 15 suggests for the CNN layers, one against another, on a few shapes.

Run from the repository root::

    python benchmarks/conv_techniques.py                 # all techniques, default shapes (about a minute)
    python benchmarks/conv_techniques.py --repeats 50 --shapes 64:16:8:32:3:1:1

Each technique is timed as the median over ``--repeats`` calls of the thread's CPU time (robust on a
busy machine: waiting for a core is not counted) and of the wall time, the alternatives interleaved.
Every alternative is first checked to give the same values as coursekit's layer (bit for bit where
the report says so). What it compares, per shape ``N:C_in:H:C_out:k:stride:padding``:

* im2col: a zero-padded copy of x, then one strided copy per kernel offset (coursekit before issue
  15); coursekit's layer now (no padded copy: padding zeros kept in a reused buffer); one copy of a
  ``sliding_window_view``; and the whole convolution as one ``tensordot`` over that view.
* col2im: one strided add per kernel offset into an (H, W, C, N) accumulator (before); coursekit now
  (blocks of samples that fit in cache, a channels-last accumulator when its rows are long enough).
* max pooling 2x2: a loop over strided views of x (before) vs the windows gathered into contiguous
  memory first (now).
* buffers: a fresh im2col-sized array every batch vs one reused array (page faults for large ones).
* BLAS threads: the convolution's three matrix products with 1 thread and with 2, and whether the
  results are bit-identical (they are not, in general: see the README).

This is a measurement script, not a test: nothing here asserts a speed.
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from coursekit.conv import Conv2D, MaxPool2D  # noqa: E402

DEFAULT_SHAPES = "64:16:8:32:3:1:1,128:16:16:32:3:2:1,64:3:32:32:5:1:0,32:64:32:64:3:1:1"


def timed(fn, repeats: int) -> tuple[float, float]:
    """(median thread CPU seconds, median wall seconds) of ``fn()`` over ``repeats`` calls, after one warm-up."""
    fn()
    cpu, wall = [], []
    for _ in range(repeats):
        c0, w0 = time.thread_time(), time.perf_counter()
        fn()
        cpu.append(time.thread_time() - c0)
        wall.append(time.perf_counter() - w0)
    return statistics.median(cpu), statistics.median(wall)


def compare(alternatives: dict, repeats: int, rounds: int = 3) -> dict:
    """{name: (cpu, wall)}: each alternative timed ``rounds`` times, interleaved; medians of the rounds."""
    runs = {name: [] for name in alternatives}
    for r in range(rounds):
        names = list(alternatives)[r % len(alternatives):] + list(alternatives)[:r % len(alternatives)]
        for name in names:
            runs[name].append(timed(alternatives[name], repeats))
    return {name: (statistics.median(c for c, _ in v), statistics.median(w for _, w in v)) for name, v in runs.items()}


def padded_copy_im2col(x, k, s, p, h_out, w_out):
    n, c, h, w = x.shape
    xp = np.zeros((n, c, h + 2 * p, w + 2 * p), dtype=x.dtype)
    xp[:, :, p:p + h, p:p + w] = x
    cols = np.empty((c, k, k, n, h_out, w_out), dtype=x.dtype)
    for u in range(k):
        for v in range(k):
            cols[:, u, v] = xp[:, :, u:u + s * (h_out - 1) + 1:s, v:v + s * (w_out - 1) + 1:s].transpose(1, 0, 2, 3)
    return cols.reshape(c * k * k, -1)


def window_view(x, k, s, p):
    xp = np.pad(x, ((0, 0), (0, 0), (p, p), (p, p))) if p else x
    return np.lib.stride_tricks.sliding_window_view(xp, (k, k), axis=(2, 3))[:, :, ::s, ::s]  # (N, C, Ho, Wo, k, k)


def sliding_window_im2col(x, k, s, p):
    view = window_view(x, k, s, p)
    return np.ascontiguousarray(view.transpose(1, 4, 5, 0, 2, 3)).reshape(x.shape[1] * k * k, -1)


def hwcn_col2im(dcols, x_shape, k, s, p, h_out, w_out):
    n, c, h, w = x_shape
    d = dcols.reshape(n, h_out, w_out, c, k, k).transpose(1, 2, 3, 0, 4, 5)
    acc = np.zeros((h + 2 * p, w + 2 * p, c, n), dtype=dcols.dtype)
    for u in range(k):
        for v in range(k):
            acc[u:u + s * (h_out - 1) + 1:s, v:v + s * (w_out - 1) + 1:s] += d[..., u, v]
    dxp = np.zeros((n, c, h + 2 * p, w + 2 * p), dtype=dcols.dtype)
    dx = dxp[:, :, p:p + h, p:p + w]
    dx[...] = acc[p:p + h, p:p + w].transpose(3, 2, 0, 1)
    return dx


def strided_views_maxpool(x):
    views = [x[:, :, u::2, v::2] for u in range(2) for v in range(2)]
    out = views[0].copy()
    argmax = np.zeros(out.shape, dtype=np.uint8)
    bits = np.dtype(f"u{x.dtype.itemsize}")
    better, diff, step = np.empty(out.shape, bool), np.empty(out.shape, bits), np.empty(out.shape, np.uint8)
    for k in range(1, 4):
        np.greater(views[k], out, out=better)
        np.bitwise_xor(out.view(bits), views[k].view(bits), out=diff)
        np.multiply(diff, better, out=diff)
        np.bitwise_xor(out.view(bits), diff, out=out.view(bits))
        np.multiply(better, np.uint8(k), out=step)
        np.maximum(argmax, step, out=argmax)
    return argmax, out


def blas_threads(n):
    from threadpoolctl import threadpool_limits

    return threadpool_limits(n, user_api="blas")


def study(shape, repeats, log):
    n, c_in, h, c_out, k, s, p = shape
    rng = np.random.default_rng(0)
    x = rng.standard_normal((n, c_in, h, h), dtype=np.float32)
    layer = Conv2D(c_in, c_out, k, stride=s, padding=p, rng=rng)
    out = layer.forward(x, training=True)
    h_out, w_out = out.shape[2:]
    dout = rng.standard_normal(out.shape, dtype=np.float32)
    rows = []

    # im2col, and the forward product
    _, _, copies = layer._plan(h, h)
    new_cols = layer._im2col(x, h_out, w_out, copies, reuse=True)
    assert np.array_equal(new_cols, padded_copy_im2col(x, k, s, p, h_out, w_out))
    assert np.array_equal(new_cols, sliding_window_im2col(x, k, s, p))
    W = layer.params["W"].reshape(c_out, -1)
    tensordot = lambda: np.tensordot(window_view(x, k, s, p), layer.params["W"], axes=([1, 4, 5], [1, 2, 3]))  # noqa: E731
    np.testing.assert_allclose(tensordot().transpose(0, 3, 1, 2) + layer.params["b"].reshape(-1, 1, 1), out,
                               rtol=1e-4, atol=1e-4)  # the same sums in another order: close, not equal
    res = compare({"padded copy + per-offset copies (before)": lambda: padded_copy_im2col(x, k, s, p, h_out, w_out),
                   "per-offset copies, reused zero padding (now)": lambda: layer._im2col(x, h_out, w_out, copies,
                                                                                          reuse=True),
                   "sliding_window_view + one copy": lambda: sliding_window_im2col(x, k, s, p)}, repeats)
    rows += [("im2col", name, *t) for name, t in res.items()]
    with blas_threads(1):
        res = compare({"im2col + one matmul (now)": lambda: new_cols.T @ W.T,
                       "tensordot over sliding_window_view": tensordot}, repeats)
    rows += [("conv product", name, *t) for name, t in res.items()]

    # col2im
    layer.forward(x, training=True)
    g = dout.transpose(0, 2, 3, 1).reshape(-1, c_out)
    dcols = g @ W
    dx_now = layer.backward(dout)
    assert np.array_equal(dx_now, hwcn_col2im(dcols, x.shape, k, s, p, h_out, w_out))
    res = compare({"per-offset adds into (H, W, C, N) (before)":
                   lambda: hwcn_col2im(dcols, x.shape, k, s, p, h_out, w_out),
                   "blocks of samples that fit in cache, channels-last (now)":
                   lambda: layer._col2im(dcols, x.shape, h_out, w_out, np.float32, reuse=True)}, repeats)
    rows += [("col2im", name, *t) for name, t in res.items()]

    # max pooling 2x2 on the convolution's output
    pool = MaxPool2D(2)
    ho2 = h_out // 2
    relu = np.maximum(out[:, :, :2 * ho2, :2 * ho2], 0)
    assert np.array_equal(pool._offset_loop(relu, ho2, ho2, reuse=True)[1], strided_views_maxpool(relu)[1])
    res = compare({"strided views of x (before)": lambda: strided_views_maxpool(relu),
                   "windows gathered contiguous first (now)": lambda: pool._offset_loop(relu, ho2, ho2, reuse=True)},
                  repeats)
    rows += [("max pool 2x2 forward", name, *t) for name, t in res.items()]

    # buffers
    reused = np.empty_like(new_cols)
    res = compare({"fresh array per batch": lambda: np.copyto(np.empty_like(new_cols), new_cols),
                   "one reused array": lambda: np.copyto(reused, new_cols)}, repeats)
    rows += [(f"fill an im2col-sized array ({new_cols.nbytes / 2**20:.1f} MiB)", name, *t) for name, t in res.items()]

    # BLAS threads
    products = lambda: (new_cols.T @ W.T, g.T @ new_cols.T, g @ W)  # noqa: E731
    with blas_threads(1):
        one = products()
        t_one = timed(products, repeats)
    with blas_threads(2):
        two = products()
        t_two = timed(products, repeats)
    with blas_threads(1):
        t_one = min(t_one, timed(products, repeats), key=lambda t: t[1])
    same = all(np.array_equal(a.view(np.uint32), b.view(np.uint32)) for a, b in zip(one, two))
    rows += [("3 matrix products", "1 BLAS thread", *t_one),
             ("3 matrix products", f"2 BLAS threads (bit-identical to 1 thread: {'yes' if same else 'no'})", *t_two)]
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

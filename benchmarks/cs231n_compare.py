"""coursekit's Conv2D and MaxPool2D against Stanford CS231n's ``fast_layers`` (NumPy + Cython), over a grid of shapes.

CS231n's code is not part of this repository (nor fetched by it). To get it and build it::

    # assignment 2 of CS231n (https://cs231n.github.io, "Assignments"; the course's GitHub repository
    # cs231n/cs231n.github.io holds past assignments under assignments/): unpack it anywhere, e.g.
    cd ~/assignment2/cs231n             # the folder with fast_layers.py, im2col_cython.pyx, setup.py
    pip install cython                  # and a C compiler
    python setup.py build_ext --inplace # builds im2col_cython

then, from this repository's root::

    python benchmarks/cs231n_compare.py --cs231n-root ~/assignment2     # the folder that holds cs231n/
    python benchmarks/cs231n_compare.py --cs231n-root ~/assignment2 --shapes 64:16:32:16 --rounds 7

For each shape ``N:Cin:C:H`` (default: the 24 shapes of ``cnn_layers.py``):

* ``conv``: a forward and a backward pass (with the input gradient) of a 3x3 convolution, padding 1:
  coursekit's ``Conv2D(Cin, C, 3, padding=1)`` against ``conv_forward_fast`` + ``conv_backward_fast``
  (``conv_param = {"stride": 1, "pad": 1}``; in CS231n's fast_layers these are the strided-view
  forward and the Cython col2im backward);
* ``pool``: 2x2 max pooling, stride 2, forward + backward, on (N, C, H, H): ``MaxPool2D(2)`` against
  ``max_pool_forward_fast`` + ``max_pool_backward_fast``.

Both get the same float32 arrays (``--dtype float64`` if your build of im2col_cython only takes
doubles), and their results are first checked to agree (to float32 rounding). Timing as in
``cnn_layers.py``: the two alternate for ``--rounds`` rounds, coursekit's BLAS on one thread (and
NumPy's, which CS231n's matrix products use, is the same library: also one thread), and the figure is
the median over rounds of coursekit's time / CS231n's; the summary is their geometric mean.

This is a measurement script, not a test: nothing here asserts a speed.
"""
from __future__ import annotations

import argparse
import importlib
import statistics
import sys
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
for path in (str(REPO), str(HERE)):
    if path not in sys.path:  # run from a checkout without installing; cnn_layers beside this file
        sys.path.insert(0, path)

from cnn_layers import geometric_mean, measure, ratio_of, shapes_and_ops  # noqa: E402

from coursekit.conv import Conv2D, MaxPool2D  # noqa: E402

OPS = ("conv", "pool")


def load_fast_layers(root: Path):
    """``cs231n.fast_layers`` from the folder ``root`` that holds the ``cs231n`` package."""
    if not (root / "cs231n" / "fast_layers.py").is_file():
        raise FileNotFoundError(f"{root / 'cs231n' / 'fast_layers.py'} not found: --cs231n-root must be the folder "
                                "that holds CS231n's cs231n/ package (assignment 2), see this script's docstring")
    sys.path.insert(0, str(root))
    return importlib.import_module("cs231n.fast_layers")


def pair(op: str, shape, fast_layers, dtype, seed: int):
    """(coursekit callable, CS231n callable) doing the same forward + backward, after checking their results agree."""
    n, cin, c, h = shape
    rng = np.random.default_rng(seed)
    if op == "conv":
        layer = Conv2D(cin, c, 3, padding=1, rng=rng, dtype=dtype)
        layer.params["b"][...] = rng.standard_normal(c)
        x = rng.standard_normal((n, cin, h, h)).astype(dtype)
        dout = rng.standard_normal((n, c, h, h)).astype(dtype)
        w, b, param = layer.params["W"].copy(), layer.params["b"].copy(), {"stride": 1, "pad": 1}

        def ours():
            out = layer.forward(x, training=True)
            return out, layer.backward(dout), layer.grads["W"], layer.grads["b"]

        def theirs():
            out, cache = fast_layers.conv_forward_fast(x, w, b, param)
            return (out, *fast_layers.conv_backward_fast(dout, cache))
    else:
        layer = MaxPool2D(2)
        x = rng.standard_normal((n, c, h, h)).astype(dtype)
        dout = rng.standard_normal((n, c, h // 2, h // 2)).astype(dtype)
        param = {"pool_height": 2, "pool_width": 2, "stride": 2}

        def ours():
            return layer.forward(x, training=True), layer.backward(dout)

        def theirs():
            out, cache = fast_layers.max_pool_forward_fast(x, param)
            return out, fast_layers.max_pool_backward_fast(dout, cache)
    tolerance = 1e-3 if np.dtype(dtype) == np.float32 else 1e-9
    for a, b_ in zip(ours(), theirs()):
        scale = max(1.0, float(np.max(np.abs(b_))))
        if a.shape != b_.shape or not np.allclose(a, b_, rtol=tolerance, atol=tolerance * scale):
            raise AssertionError(f"{op} {shape}: coursekit and CS231n disagree (shapes {a.shape}, {b_.shape})")
    return ours, theirs


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cs231n-root", required=True, type=Path,
                        help="the folder holding CS231n's cs231n/ package with im2col_cython built")
    parser.add_argument("--shapes", default=None, metavar="N:Cin:C:H,...", help="default: cnn_layers.py's 24 shapes")
    parser.add_argument("--ops", default=",".join(OPS), help=f"comma-separated subset of {','.join(OPS)}")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--min-time", type=float, default=0.05, help="seconds of calls per side per round")
    parser.add_argument("--dtype", choices=("float32", "float64"), default="float32")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    shapes, ops = shapes_and_ops(parser, args, OPS)
    try:
        fast_layers = load_fast_layers(args.cs231n_root.expanduser())
    except (FileNotFoundError, ImportError) as exc:
        parser.error(str(exc))
    from threadpoolctl import threadpool_limits

    threadpool_limits(1, user_api="blas")
    print(f"coursekit vs CS231n fast_layers ({fast_layers.__file__}), {args.dtype}, one BLAS thread; "
          f"{args.rounds} interleaved rounds, medians of per-round ratios coursekit / CS231n (wall time)")
    header = f"{'shape N:Cin:C:H':<18}" + "".join(f" {op + ' ck ms':>12} {op + ' cs231n ms':>14} {op + ' ck/cs':>9}"
                                                 for op in ops)
    print(header + "\n" + "-" * len(header))
    ratios = {op: [] for op in ops}
    for shape in shapes:
        row = f"{':'.join(map(str, shape)):<18}"
        for op in ops:
            ours, theirs = pair(op, shape, fast_layers, np.dtype(args.dtype), args.seed)
            res = measure({"coursekit": ours, "cs231n": theirs}, args.rounds, args.min_time)
            ratio = ratio_of(res, "coursekit", "cs231n", "wall")
            ratios[op].append(ratio)
            row += (f" {statistics.median(res['coursekit']['wall']) * 1e3:12.3f} "
                    f"{statistics.median(res['cs231n']['wall']) * 1e3:14.3f} {ratio:8.2f}x")
        print(row, flush=True)
    print()
    for op in ops:
        print(f"  {op}: geometric mean coursekit / CS231n = {geometric_mean(ratios[op]):.2f}x "
              f"(range {min(ratios[op]):.2f}-{max(ratios[op]):.2f}x)")
    return 0


if __name__ == "__main__":
    sys.exit(main())

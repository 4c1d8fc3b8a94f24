"""Convolution, max and global average pooling, and flattening for small CNNs on (N, C, H, W) images.

Layout is NCHW (PyTorch's); Keras defaults to channels-last (N, H, W, C).
Everything is vectorized: the convolution is a matrix product over an "im2col" matrix of
the input (one copy per kernel offset, kh*kw of them, e.g. 9), its backward two more
products and a "col2im" that adds the column gradients back (one add per kernel offset),
and max pooling works on one view per window offset: never a loop over pixels.

Speed (issue 22; every choice measured in benchmarks/conv_techniques.py):

* Chunks of samples. The batch is processed a few samples at a time, so that a chunk's
  im2col matrix (about _CHUNK_ELEMENTS values, 2 MiB in float32) is still in the CPU's cache
  when the matrix product reads it; a whole batch's is often tens of MB, and a product
  streaming it from memory runs at half speed. Backward rebuilds each chunk's im2col matrix
  from x instead of keeping the batch's (as cheap, in cache, and no memory for it).
* The products in the orientation OpenBLAS runs fastest for these narrow shapes:
  ``W_flat @ cols`` with cols (C*kh*kw, N*H_out*W_out), whose output (C_out, N, H_out*W_out)
  becomes NCHW by swapping its outer axes (whole rows), the bias added on the way.
* Stride 1 with padding that keeps the size (3x3 with padding 1, the course's CNNs): in the
  flattened (N*H*W) order of the channel-major maps, an offset's values are x shifted by a
  constant, so im2col and col2im copy and add whole contiguous runs instead of rows of W
  values, and zero the few border positions the shift wraps around.
* For those, when C_out <= C_in, dx is computed as dout convolved with the flipped kernel (an
  im2col of dout and one product) instead of the column gradients and their col2im.
* The input gradient is skipped when nothing needs it (``backward(dout, input_grad=False)``).

Results are not bit-identical to the implementation before issue 22 (other groupings of the
same sums: the products' orientation, dW summed chunk by chunk): they agree to float32 rounding,
and every path is checked against the plain im2col and by float64 gradient checks
(tests/test_conv.py). The same inputs give the same bits on every run with one BLAS thread.

These layers are re-exported from ``coursekit.layers``.
"""
from __future__ import annotations

import math
import numbers
import threading
from typing import NamedTuple

import numpy as np

from ._validation import check_array, check_bool, check_float_dtype, check_int, check_rng, check_training, describe
from .layers import Layer

__all__ = ["Conv2D", "MaxPool2D", "GlobalAvgPool2D", "Flatten", "conv_output_size"]


def _pair(value, name: str, *, low: int) -> tuple[int, int]:
    """An int or a pair of ints -> (height value, width value), each >= low."""
    if isinstance(value, (tuple, list)):
        if len(value) != 2:
            raise ValueError(f"{name} must be an integer or a pair (height, width), got {describe(value)}")
        return (check_int(value[0], f"{name}[0]", low=low), check_int(value[1], f"{name}[1]", low=low))
    if isinstance(value, bool) or not isinstance(value, (numbers.Integral, np.integer)):
        raise TypeError(f"{name} must be an integer or a pair of integers, got {describe(value)} "
                        f"of type {type(value).__name__}")
    value = check_int(value, name, low=low)
    return value, value


def conv_output_size(size: int, kernel: int, stride: int = 1, padding: int = 0) -> int:
    """Output length of a convolution along one axis: ``floor((size + 2*padding - kernel) / stride) + 1``.

    size >= 1, kernel >= 1, stride >= 1, padding >= 0 (integers); the kernel must fit in the
    padded input (``kernel <= size + 2*padding``), so the result is at least 1. Anything else
    is a ``ValueError``/``TypeError`` naming the argument (PyTorch also refuses an output of size 0).
    """
    size = check_int(size, "size", low=1)
    kernel = check_int(kernel, "kernel", low=1)
    stride = check_int(stride, "stride", low=1)
    padding = check_int(padding, "padding", low=0)
    if kernel > size + 2 * padding:
        raise ValueError(f"conv_output_size: kernel={kernel} is larger than the padded input, size + 2*padding = "
                         f"{size} + 2*{padding} = {size + 2 * padding}; the output would be empty")
    return (size + 2 * padding - kernel) // stride + 1


def _check_nchw(x, where: str, channels: int) -> None:
    check_array(x, "x", where=where)
    if x.ndim != 4:
        raise ValueError(f"{where}: x must be 4-D images (N, C, H, W), got a {x.ndim}-D array of shape {x.shape}"
                         + ("; add a channel axis with x[:, None]" if x.ndim == 3 else ""))
    if x.shape[1] != channels:
        raise ValueError(f"{where}: x has {x.shape[1]} channels (shape {x.shape}) but the layer expects "
                         f"{channels} (shape (N, {channels}, H, W)); channels come second (NCHW), not last")


# Tuning constant of the convolution's data movement (it changes speed, and the grouping of dW's sum).
_CHUNK_ELEMENTS = 1 << 19  # samples are processed in chunks whose im2col matrix holds about this many values
_FLIPPED_MAX_RATIO = 1.0  # dx by the flipped-kernel convolution when C_out <= this * C_in (stride 1, same size)


_scratch_space = threading.local()


def _scratch(name: str, shape, dtype, *, reuse: bool) -> np.ndarray:
    """A temporary array that lives only during one forward or backward call, shared by all layers.

    Backed by one buffer per ``name`` and thread that grows to the largest size asked for, so a
    network's temporaries cost the memory of the largest one, not of their sum, and are not
    allocated again for every batch. Temporaries alive at the same time need different names.
    Contents are undefined. ``reuse`` false: a fresh array, nothing kept.
    """
    dtype = np.dtype(dtype)
    if not reuse:
        return np.empty(shape, dtype=dtype)
    size = math.prod(shape) * dtype.itemsize
    buffers = _scratch_space.__dict__
    buffer = buffers.get(name)
    if buffer is None or buffer.nbytes < size:
        buffers.pop(name, None)  # free the smaller buffer first: never both at once
        del buffer
        # float64 storage: aligned for every float dtype, as BLAS (and NumPy's use of it) requires
        buffer = buffers[name] = np.empty(-(-size // 8), dtype=np.float64)
    return buffer.view(np.uint8)[:size].view(dtype).reshape(shape)


def _release_scratch() -> None:
    """Free this thread's shared scratch buffers (allocated again when next needed); for benchmarks and tests."""
    _scratch_space.__dict__.clear()


def _inside(offset: int, pad: int, size: int, out_size: int, stride: int) -> tuple[int, int]:
    """Output positions ``[lo, hi)`` along one axis whose input ``i*stride + offset - pad`` is not padding."""
    lo = max(0, -((offset - pad) // stride))
    hi = min(out_size, (size - 1 + pad - offset) // stride + 1)
    return lo, max(lo, hi)


def _chunks(n: int, values_per_sample: int):
    """``(start, stop)`` of consecutive chunks of the n samples, each about _CHUNK_ELEMENTS values, balanced."""
    count = -(-n // max(1, _CHUNK_ELEMENTS // max(1, values_per_sample)))
    size = -(-n // count)
    return [(start, min(n, start + size)) for start in range(0, n, size)]


class _Geometry(NamedTuple):
    """How a Conv2D meets inputs of one spatial size (worked out once per size; see ``Conv2D._geometry``)."""

    h_out: int
    w_out: int
    copies: list     # (u, v, out_rows, out_columns, rows, columns): per kernel offset seeing any of x
    shifts: list     # stride 1, same size: (u, v, shift) per kernel offset, the centre first; else empty
    bad_rows: list   # stride 1, same size: (u, first, stop) output rows whose input is padding
    bad_columns: list  # ... and (v, first, stop) output columns


class Conv2D(Layer):
    """2-D convolution (cross-correlation, as in every deep-learning library).

    ``out[n, f, i, j] = b[f] + sum_{c, u, v} W[f, c, u, v] * xp[n, c, i*s + u, j*s + v]``
    where ``xp`` is x zero-padded by ``padding`` on each side of H and W and ``s`` the stride.

    Shapes: x (N, C_in, H, W); W (C_out, C_in, kh, kw); b (C_out,);
    out (N, C_out, H_out, W_out) with ``H_out = floor((H + 2*padding - kh) / stride) + 1``.
    Same parameter layout as PyTorch ``nn.Conv2d`` (key ``"W"`` is the kernel, so L2 acts on it,
    not on ``"b"``).

    Initialization: He normal, std ``sqrt(2 / fan_in)`` with ``fan_in = C_in * kh * kw``; b = 0.

    Computed as matrix products over the "im2col" matrix ``cols`` (C_in*kh*kw, N*H_out*W_out),
    ``cols[(c, u, v), (n, i, j)] = xp[n, c, i*s + u, j*s + v]``, and ``g``, dout as (C_out,
    N*H_out*W_out): ``out = W_flat @ cols + b``; backward ``dW = g @ cols.T``, ``db = sum of dout
    over N, H_out, W_out``, ``dx = col2im(W_flat.T @ g)`` (overlapping windows add up), or, the
    same sums, dout convolved with the kernel flipped (stride 1, output the size of the input).

    backward(dout) keeps a reference to the forward input x (as Dense does): change x in place
    between forward and backward and dW is computed from the changed values.
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size, *, stride=1, padding=0,
                 rng: np.random.Generator, dtype=np.float32) -> None:
        super().__init__()
        self.in_channels = check_int(in_channels, "in_channels", low=1)
        self.out_channels = check_int(out_channels, "out_channels", low=1)
        self.kernel_size = _pair(kernel_size, "kernel_size", low=1)
        self.stride = _pair(stride, "stride", low=1)
        self.padding = _pair(padding, "padding", low=0)
        check_rng(rng)
        dtype = check_float_dtype(dtype, "dtype", where="Conv2D")
        kh, kw = self.kernel_size
        fan_in = in_channels * kh * kw
        shape = (out_channels, in_channels, kh, kw)
        self.params["W"] = (rng.standard_normal(shape) * np.sqrt(2.0 / fan_in)).astype(dtype)
        self.params["b"] = np.zeros(out_channels, dtype=dtype)

    def output_shape(self, height: int, width: int) -> tuple[int, int]:
        """(H_out, W_out) for an input of spatial size (height, width)."""
        (kh, kw), (sh, sw), (ph, pw) = self.kernel_size, self.stride, self.padding
        return conv_output_size(height, kh, sh, ph), conv_output_size(width, kw, sw, pw)

    def forward(self, x, *, training):
        check_training(training, "Conv2D.forward")
        _check_nchw(x, "Conv2D.forward", self.in_channels)
        n, c, h, w = x.shape
        (kh, kw), (ph, pw) = self.kernel_size, self.padding
        if kh > h + 2 * ph or kw > w + 2 * pw:
            raise ValueError(
                f"Conv2D.forward: kernel ({kh}, {kw}) is larger than the padded input "
                f"({h + 2 * ph}, {w + 2 * pw}) (x of shape {x.shape}, padding ({ph}, {pw})); "
                "use a smaller kernel, more padding, or a larger image")
        geometry = self._geometry(h, w)
        pixels = geometry.h_out * geometry.w_out
        f = self.out_channels
        W = self.params["W"].astype(x.dtype, copy=False).reshape(f, -1)
        b = self.params["b"].astype(x.dtype, copy=False).reshape(1, f, 1)
        result = np.empty((n, f, geometry.h_out, geometry.w_out), dtype=np.result_type(x, W))
        # A chunk of samples at a time, so that its im2col matrix stays in the CPU's cache between
        # being written and being multiplied (a whole batch's is often tens of MB): ONE matrix
        # product per chunk, whose output (C_out, samples, H_out*W_out) becomes NCHW by swapping
        # its outer axes (whole rows of H_out*W_out values), adding the bias on the way.
        for start, stop in _chunks(n, W.shape[1] * pixels):
            cols = self._im2col(x[start:stop], geometry, reuse=training)
            product = np.matmul(W, cols, out=_scratch("product", (f, cols.shape[1]), result.dtype, reuse=training))
            np.add(product.reshape(f, stop - start, pixels).transpose(1, 0, 2), b,
                   out=result[start:stop].reshape(stop - start, f, pixels))
        self._cache = (x, training)
        return result

    def backward(self, dout, *, input_grad=True):
        """Parameter gradients into ``grads``; returns dL/dx, shape (N, C_in, H, W).

        ``input_grad=False`` computes only ``grads["W"]`` and ``grads["b"]`` and returns None.
        The input gradient is a third of the arithmetic, and below a network's first layer nothing
        needs it: PyTorch skips it there too, and ``Sequential.backward(dout, input_grad=False)``
        asks its first layer for this.
        """
        x, training = self._require_cache()
        input_grad = check_bool(input_grad, "input_grad", where="Conv2D.backward")
        n, c, h, w = x.shape
        geometry = self._geometry(h, w)
        pixels = geometry.h_out * geometry.w_out
        f = self.out_channels
        self._check_dout(dout, (n, f, geometry.h_out, geometry.w_out))
        W = self.params["W"]
        W_flat = W.astype(dout.dtype, copy=False).reshape(f, -1)
        dtype = np.result_type(dout.dtype, x.dtype)
        dx = np.empty(x.shape, dtype=dtype) if input_grad else None
        dW = db = None
        # Stride 1, same size: dx is dout convolved with the kernel flipped in space and transposed in
        # channels, dx[n, c] = sum_f conv(dout[n, f], W[f, c, ::-1, ::-1]) with the same padding. When dout
        # has no more channels than x (C_out <= _FLIPPED_MAX_RATIO * C_in), building its im2col matrix and
        # one product in the forward orientation is cheaper than the (C_in*kh*kw, ...) column gradients
        # and their col2im.
        flipped = None
        if input_grad and geometry.shifts and f <= _FLIPPED_MAX_RATIO * c:
            flipped = np.ascontiguousarray(W.astype(dtype, copy=False)[:, :, ::-1, ::-1].transpose(1, 0, 2, 3))
            flipped = flipped.reshape(c, -1)
        # The same chunks as forward; each rebuilds its im2col matrix (cheaper, in cache, than
        # keeping the whole batch's from forward and reading it back from memory).
        for start, stop in _chunks(n, W_flat.shape[1] * pixels):
            cols = self._im2col(x[start:stop], geometry, reuse=training)
            g = _scratch("dout_t", (f, stop - start, pixels), dout.dtype, reuse=training)
            np.copyto(g, dout[start:stop].reshape(stop - start, f, pixels).transpose(1, 0, 2))
            g = g.reshape(f, -1)
            if dW is None:
                dW, db = g @ cols.T, g.sum(axis=1)
            else:
                dW += g @ cols.T
                db += g.sum(axis=1)
            if input_grad and flipped is not None:
                # dx as the convolution of dout with the flipped kernel (see below): im2col of dout, one product
                dout_cols = self._im2col(dout[start:stop], geometry, reuse=training)
                product = np.matmul(flipped, dout_cols, out=_scratch("product", (c, dout_cols.shape[1]), dtype,
                                                                       reuse=training))
                np.copyto(dx[start:stop].reshape(stop - start, c, h * w),
                          product.reshape(c, stop - start, h * w).transpose(1, 0, 2))
            elif input_grad:
                dcols = np.matmul(W_flat.T, g, out=_scratch("product", (W_flat.shape[1], g.shape[1]), dtype,
                                                             reuse=training))
                self._col2im(dcols, dx[start:stop], geometry, reuse=training)
        self.grads["W"] = dW.reshape(W.shape).astype(W.dtype, copy=False)
        self.grads["b"] = db.astype(W.dtype, copy=False)
        return dx

    def _geometry(self, h: int, w: int) -> _Geometry:
        """The ``_Geometry`` of (h, w) inputs, worked out once per input size.

        ``copies`` lists, per kernel offset (u, v) that sees any of x, the block of output
        positions it covers and the strided slice of x it reads there (see ``_im2col``). For a
        stride-1 convolution whose output keeps the input's size (``padding = (k - 1) / 2``),
        ``shifts`` gives each offset's constant shift between the flattened (N*H*W) positions of
        the output and of the input it reads, ``bad_rows`` / ``bad_columns`` the output pixels
        whose input is padding.
        """
        plans = self.__dict__.setdefault("_plans", {})
        key = (h, w, self.kernel_size, self.stride, self.padding)
        plan = plans.get(key)
        if plan is not None:
            return plan
        (kh, kw), (sh, sw), (ph, pw) = self.kernel_size, self.stride, self.padding
        h_out, w_out = self.output_shape(h, w)
        copies = []
        for u in range(kh):
            i0, i1 = _inside(u, ph, h, h_out, sh)
            for v in range(kw):
                j0, j1 = _inside(v, pw, w, w_out, sw)
                if i0 < i1 and j0 < j1:  # else this offset sees only padding
                    copies.append((u, v, slice(i0, i1), slice(j0, j1),
                                   slice(i0 * sh + u - ph, (i1 - 1) * sh + u - ph + 1, sh),
                                   slice(j0 * sw + v - pw, (j1 - 1) * sw + v - pw + 1, sw)))
        shifts, bad_rows, bad_columns = [], [], []
        if (sh, sw) == (1, 1) and (h_out, w_out) == (h, w) and ph < h and pw < w:
            centre_first = sorted(((u, v) for u in range(kh) for v in range(kw)), key=lambda uv: uv != (ph, pw))
            shifts = [(u, v, (u - ph) * w + (v - pw)) for u, v in centre_first]
            for u in range(kh):  # output row i reads input row i + u - ph
                bad_rows += [(u, 0, ph - u)] if u < ph else [(u, h + ph - u, h)] if u > ph else []
            for v in range(kw):
                bad_columns += [(v, 0, pw - v)] if v < pw else [(v, w + pw - v, w)] if v > pw else []
        if len(plans) >= 8:  # a few input sizes at most in practice; never grow without bound
            plans.clear()
        plan = plans[key] = _Geometry(h_out, w_out, copies, shifts, bad_rows, bad_columns)
        return plan

    def _im2col(self, x, geometry: _Geometry, *, reuse):
        """The im2col matrix of the samples x: ``cols[(c, u, v), (n, i, j)] = xp[n, c, i*sh + u, j*sw + v]``.

        Returned as a C-ordered (C*kh*kw, N*H_out*W_out) array (a shared scratch buffer); ``xp`` is
        x zero-padded, but the padded input is never built.

        Stride 1, output the size of the input: in the flattened (N*H*W) order of x (channels
        first), the values an offset (u, v) reads are x's shifted by a constant, so each offset is
        one contiguous copy per channel; the output pixels whose input is padding (border rows and
        columns, onto which the shift wraps the neighbouring row's or sample's values) are then
        zeroed. Otherwise: one strided copy per kernel offset into a zeroed matrix, rows of W_out
        values at a time.
        """
        n, c, h, w = x.shape
        (kh, kw), (ph, pw) = self.kernel_size, self.padding
        h_out, w_out = geometry.h_out, geometry.w_out
        cols = _scratch("cols", (c, kh, kw, n, h_out, w_out), x.dtype, reuse=reuse)
        if geometry.shifts:
            length = n * h * w
            if c == 1:
                source = x.reshape(1, length)
            else:
                source = _scratch("x_t", (c, n, h, w), x.dtype, reuse=reuse)
                np.copyto(source, x.transpose(1, 0, 2, 3))
                source = source.reshape(c, length)
            flat = cols.reshape(c, kh, kw, length)
            for u, v, shift in geometry.shifts:
                lo, hi = max(0, -shift), min(length, length - shift)
                flat[:, u, v, lo:hi] = source[:, lo + shift:hi + shift]
            for u, first, stop in geometry.bad_rows:  # includes the ends [0, lo) and [hi, length)
                cols[:, u, :, :, first:stop, :] = 0
            for v, first, stop in geometry.bad_columns:
                cols[:, :, v, :, :, first:stop] = 0
        else:
            if ph or pw:
                cols.fill(0)
            for u, v, out_rows, out_columns, rows, columns in geometry.copies:
                cols[:, u, v, :, out_rows, out_columns] = x[:, :, rows, columns].transpose(1, 0, 2, 3)
        return cols.reshape(c * kh * kw, n * h_out * w_out)

    def _col2im(self, dcols, dx, geometry: _Geometry, *, reuse):
        """Write into ``dx`` (samples, C, H, W) the input gradient from the (C*kh*kw, samples*H_out*W_out)
        column gradients: each value added back to the input pixel it was copied from (overlapping
        windows add up). The mirror image of ``_im2col``, into a (C, samples, H, W) accumulator
        whose outer axes one copy swaps into dx; each pixel sums its terms in kernel-offset order
        (with the stride-1 shifts, the centre offset first). ``dcols`` is overwritten.

        Stride 1, same size: the column gradients of output pixels whose input is padding are
        zeroed, then each offset is one add of two long contiguous runs per channel (the shift of
        ``_im2col`` backwards). Otherwise: one strided add per kernel offset, rows of W_out values.
        """
        n, c, h, w = dx.shape
        kh, kw = self.kernel_size
        h_out, w_out = geometry.h_out, geometry.w_out
        d6 = dcols.reshape(c, kh, kw, n, h_out, w_out)
        acc = dx.reshape(1, n, h, w) if c == 1 else _scratch("col2im", (c, n, h, w), dx.dtype, reuse=reuse)
        if geometry.shifts:
            length = n * h * w
            for u, first, stop in geometry.bad_rows:
                d6[:, u, :, :, first:stop, :] = 0
            for v, first, stop in geometry.bad_columns:
                d6[:, :, v, :, :, first:stop] = 0
            flat, total = dcols.reshape(c, kh, kw, length), acc.reshape(c, length)
            for u, v, shift in geometry.shifts:
                if shift == 0:  # the centre offset comes first and covers every pixel
                    np.copyto(total, flat[:, u, v])
                else:
                    lo, hi = max(0, -shift), min(length, length - shift)
                    total[:, lo + shift:hi + shift] += flat[:, u, v, lo:hi]
        else:
            acc.fill(0)
            for u, v, out_rows, out_columns, rows, columns in geometry.copies:
                acc[:, :, rows, columns] += d6[:, u, v, :, out_rows, out_columns]
        if c > 1:
            np.copyto(dx, acc.transpose(1, 0, 2, 3))

    def __repr__(self) -> str:
        return (f"Conv2D({self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, "
                f"stride={self.stride}, padding={self.padding})")


class MaxPool2D(Layer):
    """Max pooling over non-overlapping ``kernel_size`` windows (stride = kernel_size).

    ``out[n, c, i, j] = max_{u < kh, v < kw} x[n, c, i*kh + u, j*kw + v]``.
    Shapes: x (N, C, H, W) -> out (N, C, floor(H/kh), floor(W/kw)). As in PyTorch
    ``nn.MaxPool2d(k)``, rows/columns left over when k does not divide H or W are ignored
    (floor) and get zero gradient.

    Backward routes each window's gradient to its maximum; on ties, to the first maximum in
    row-major order within the window (as PyTorch does), so the gradient is never duplicated.
    NaN propagates: a window holding NaN outputs NaN (as in PyTorch) and routes its gradient
    to its first NaN (PyTorch: to its last).
    """

    def __init__(self, kernel_size) -> None:
        super().__init__()
        self.kernel_size = _pair(kernel_size, "kernel_size", low=1)

    def forward(self, x, *, training):
        check_training(training, "MaxPool2D.forward")
        check_array(x, "x", where="MaxPool2D.forward")
        if x.ndim != 4:
            raise ValueError(f"MaxPool2D.forward: x must be 4-D feature maps (N, C, H, W), got a {x.ndim}-D array "
                             f"of shape {x.shape}")
        n, c, h, w = x.shape
        kh, kw = self.kernel_size
        if kh > h or kw > w:
            raise ValueError(f"MaxPool2D.forward: kernel ({kh}, {kw}) is larger than the feature maps ({h}, {w}) "
                             f"(x of shape {x.shape})")
        h_out, w_out = h // kh, w // kw
        if kh * kw > 1 and (x.dtype.itemsize not in (2, 4, 8) or np.isnan(x).any()):
            argmax, out = self._argmax_reduce(x, h_out, w_out)
        else:
            argmax, out = self._offset_loop(x, h_out, w_out, reuse=training)
        self._cache = (argmax, x.shape)
        return out

    def _offset_loop(self, x, h_out, w_out, *, reuse=False):
        """(argmax, out) with one view per window offset, in row-major order within the window.

        A strict '>' keeps the first maximum on ties, as np.argmax (and PyTorch) do. The running
        maximum is updated by selecting bit patterns (xor, multiply by the 0/1 mask, xor): the
        same values as ``np.copyto(out, view, where=better)``, signed zeros included, without its
        data-dependent branches, which make it several times slower on random masks.
        Needs x without NaN ('>' never picks one); ``forward`` routes NaN to ``_argmax_reduce``.

        The windows are first gathered, offset by offset, into one contiguous (kh*kw, N, C, H_out,
        W_out) array with a single copy, so that every step of the loop reads contiguous memory
        (about 1.3x faster than looping over the strided views of x; same values).
        """
        kh, kw = self.kernel_size
        n, c = x.shape[:2]
        windows = x[:, :, :h_out * kh, :w_out * kw].reshape(n, c, h_out, kh, w_out, kw)
        if kh * kw == 1:
            views = [windows[:, :, :, 0, :, 0]]
        else:
            stacked = _scratch("product", (kh, kw, n, c, h_out, w_out), x.dtype, reuse=reuse)
            np.copyto(stacked, windows.transpose(3, 5, 0, 1, 2, 4))
            views = list(stacked.reshape(kh * kw, n, c, h_out, w_out))
        out = views[0].copy()
        argmax = np.zeros(out.shape, dtype=np.uint8 if len(views) <= 255 else np.intp)  # offset u*kw + v
        if len(views) == 1:
            return argmax, out
        bits = np.dtype(f"u{x.dtype.itemsize}")
        out_bits = out.view(bits)
        better = np.empty(out.shape, dtype=bool)
        diff = np.empty(out.shape, dtype=bits)
        step = np.empty(out.shape, dtype=argmax.dtype)
        for k in range(1, len(views)):
            np.greater(views[k], out, out=better)
            np.bitwise_xor(out_bits, views[k].view(bits), out=diff)
            np.multiply(diff, better, out=diff)
            np.bitwise_xor(out_bits, diff, out=out_bits)  # out = view where better, else unchanged
            # argmax = k where better: k exceeds every earlier offset, so a maximum does it
            np.multiply(better, argmax.dtype.type(k), out=step)
            np.maximum(argmax, step, out=argmax)
        return argmax, out

    def _argmax_reduce(self, x, h_out, w_out):
        """(argmax, out) by np.argmax over each window flattened: a window holding NaN outputs NaN and
        routes its gradient to its first NaN. Slower; used for inputs with NaN and for dtypes
        without an unsigned integer of the same size (long double)."""
        kh, kw = self.kernel_size
        n, c = x.shape[:2]
        # (N, C, Ho, kh, Wo, kw) -> (N, C, Ho, Wo, kh*kw)
        windows = x[:, :, :h_out * kh, :w_out * kw].reshape(n, c, h_out, kh, w_out, kw)
        windows = windows.transpose(0, 1, 2, 4, 3, 5).reshape(n, c, h_out, w_out, kh * kw)
        argmax = windows.argmax(axis=-1)
        return argmax, np.take_along_axis(windows, argmax[..., None], axis=-1)[..., 0]

    def backward(self, dout):
        argmax, x_shape = self._require_cache()
        kh, kw = self.kernel_size
        h_out, w_out = argmax.shape[2:]
        self._check_dout(dout, argmax.shape)
        # rows/columns left over by the floor get zero gradient; the rest is written below
        covered = (h_out * kh, w_out * kw) == tuple(x_shape[2:])
        dx = (np.empty if covered else np.zeros)(x_shape, dtype=dout.dtype)
        for u in range(kh):
            for v in range(kw):
                # dout where this offset held the window's maximum, else 0 (0 * dout, as before:
                # -0.0 for negative dout, NaN for non-finite dout)
                np.multiply(argmax == u * kw + v, dout, out=dx[:, :, u:h_out * kh:kh, v:w_out * kw:kw])
        return dx

    def __repr__(self) -> str:
        return f"MaxPool2D(kernel_size={self.kernel_size})"


class GlobalAvgPool2D(Layer):
    """Global average pooling: each feature map becomes its mean, ``(N, C, H, W) -> (N, C)``.

    ``out[n, c] = (1 / (H*W)) * sum_{i, j} x[n, c, i, j]``; backward spreads each gradient
    evenly over its map, ``dx[n, c, i, j] = dout[n, c] / (H*W)``.

    Same as PyTorch ``nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten())`` (or
    ``x.mean(dim=(2, 3))``) and Keras ``GlobalAveragePooling2D`` (channels-last there).
    Everything after it sees only *how much* of each feature is present, not *where*: the
    head cannot learn position-specific weights.
    """

    def forward(self, x, *, training):
        check_training(training, "GlobalAvgPool2D.forward")
        check_array(x, "x", where="GlobalAvgPool2D.forward")
        if x.ndim != 4:
            raise ValueError(f"GlobalAvgPool2D.forward: x must be 4-D feature maps (N, C, H, W), got a {x.ndim}-D "
                             f"array of shape {x.shape}")
        self._cache = x.shape
        return x.mean(axis=(2, 3))

    def backward(self, dout):
        shape = self._require_cache()
        n, c, h, w = shape
        self._check_dout(dout, (n, c))
        spread = dout * dout.dtype.type(1.0 / (h * w))
        return np.broadcast_to(spread[:, :, None, None], shape).copy()


class Flatten(Layer):
    """``(N, d1, d2, ...) -> (N, d1*d2*...)`` in C order (as PyTorch ``nn.Flatten()``); backward reshapes back."""

    def forward(self, x, *, training):
        check_training(training, "Flatten.forward")
        check_array(x, "x", where="Flatten.forward")
        if x.ndim < 2:
            raise ValueError(f"Flatten.forward: x must have a batch axis and at least one more, got a {x.ndim}-D "
                             f"array of shape {x.shape}")
        self._cache = x.shape
        return x.reshape(x.shape[0], -1)

    def backward(self, dout):
        shape = self._require_cache()
        self._check_dout(dout, (shape[0], int(np.prod(shape[1:]))))
        return dout.reshape(shape)

"""Convolution, max and global average pooling, and flattening for small CNNs on (N, C, H, W) images.

Layout is NCHW (PyTorch's); Keras defaults to channels-last (N, H, W, C).
Everything is vectorized: the convolution is one matrix product over an
"im2col" matrix of the input built with one strided slice copy per kernel offset
(kh*kw of them, e.g. 9); its backward scatters the column gradients back with one
strided add per kernel offset, and max pooling likewise works on one view per
window offset: never a loop over samples or pixels.

Speed without changing a bit: the matrix products are always the same calls on the
same operands (OpenBLAS rounds differently if an operand's role, the matrix sizes or
the thread count change, so none of them does), and every sum adds its terms in the
same order. What is faster is the data movement around them: the im2col matrix is
written straight from x into a buffer whose padding zeros are kept from one training
batch to the next, work arrays are reused instead of allocated per batch, the column
gradients are scattered in cache-sized blocks of samples, and max pooling gathers its
windows into contiguous memory first.

These layers are re-exported from ``coursekit.layers``.
"""
from __future__ import annotations

import math
import numbers
import threading

import numpy as np

from ._validation import check_array, check_float_dtype, check_int, check_rng, check_training, describe
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


# Tuning constant of the convolution's data movement (it changes speed, never values).
_COL2IM_BLOCK_ELEMENTS = 1 << 18  # col2im works on blocks of samples of about this many dcols values


def _workspace(layer, name: str, shape, dtype, *, reuse: bool, zeroed: bool = False, key=None) -> np.ndarray:
    """A work array of ``layer`` kept from one training batch to the next (e.g. its im2col matrix).

    Every training batch needs the same arrays; reusing them saves allocating them and, for
    arrays of tens of MB, the page faults of touching fresh memory (several times the cost of
    filling them). A ``zeroed`` array starts as zeros, and callers only ever write the entries
    that are not always zero (never the padding), so those zeros stay valid for the next batch
    of the same ``shape`` and ``key``. With ``reuse`` false (evaluation batches, often large and
    of another size) a fresh array is returned and nothing is kept.
    """
    if not reuse:
        return (np.zeros if zeroed else np.empty)(shape, dtype=dtype)
    spaces = layer.__dict__.setdefault("_workspaces", {})
    tag = (tuple(shape), np.dtype(dtype), zeroed, key)
    entry = spaces.get(name)
    if entry is None or entry[0] != tag:
        entry = spaces[name] = (tag, (np.zeros if zeroed else np.empty)(shape, dtype=dtype))
    return entry[1]


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


class Conv2D(Layer):
    """2-D convolution (cross-correlation, as in every deep-learning library).

    ``out[n, f, i, j] = b[f] + sum_{c, u, v} W[f, c, u, v] * xp[n, c, i*s + u, j*s + v]``
    where ``xp`` is x zero-padded by ``padding`` on each side of H and W and ``s`` the stride.

    Shapes: x (N, C_in, H, W); W (C_out, C_in, kh, kw); b (C_out,);
    out (N, C_out, H_out, W_out) with ``H_out = floor((H + 2*padding - kh) / stride) + 1``.
    Same parameter layout as PyTorch ``nn.Conv2d`` (key ``"W"`` is the kernel, so L2 acts on it,
    not on ``"b"``).

    Initialization: He normal, std ``sqrt(2 / fan_in)`` with ``fan_in = C_in * kh * kw``; b = 0.

    Backward, with ``cols`` the (N*H_out*W_out, C_in*kh*kw) im2col matrix and ``g`` dout as
    (N*H_out*W_out, C_out): ``dW = g.T @ cols``, ``db = sum of dout over N, H_out, W_out``,
    ``dx = col2im(g @ W_flat)`` (overlapping windows add up).
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
        h_out, w_out, copies = self._plan(h, w)
        # im2col: the (N*H_out*W_out, C*kh*kw) matrix, stored transposed as (C, kh, kw, N, H_out, W_out)
        # so that every copy into it runs along whole rows (see _im2col); then ONE matrix product.
        cols = self._cols_operand(self._im2col(x, h_out, w_out, copies, reuse=training))
        W = self.params["W"].astype(x.dtype, copy=False).reshape(self.out_channels, -1)
        b = self.params["b"].astype(x.dtype, copy=False)
        out_shape = (cols.shape[0], self.out_channels)
        out = np.matmul(cols, W.T, out=_scratch("product", out_shape, np.result_type(cols, W), reuse=training))
        self._cache = (cols, x.shape, x.dtype, training)
        # bias added while copying to NCHW: one pass instead of two, the same sums
        result = np.empty((n, self.out_channels, h_out, w_out), dtype=out.dtype)
        np.add(out.reshape(n, h_out, w_out, self.out_channels).transpose(0, 3, 1, 2),
               b.reshape(-1, 1, 1), out=result)
        return result

    def _plan(self, h: int, w: int):
        """``(H_out, W_out, copies)`` for (h, w) inputs, worked out once per input size.

        ``copies`` lists, per kernel offset (u, v) that sees any of x, the block of output
        positions it covers and the strided slice of x it reads there (see ``_im2col``).
        """
        plans = self.__dict__.setdefault("_plans", {})
        geometry = (h, w, self.kernel_size, self.stride, self.padding)
        plan = plans.get(geometry)
        if plan is None:
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
            if len(plans) >= 8:  # a few input sizes at most in practice; never grow without bound
                plans.clear()
            plan = plans[geometry] = (h_out, w_out, copies)
        return plan

    def _im2col(self, x, h_out, w_out, copies, *, reuse):
        """The im2col matrix, transposed: ``cols[(c, u, v), (n, i, j)] = xp[n, c, i*sh + u, j*sw + v]``.

        Returned as a C-ordered (C*kh*kw, N*H_out*W_out) array; ``xp`` is x zero-padded, but the
        padded input is never built: the zeros are written once into a buffer reused from one
        training batch to the next (``reuse``), and each batch copies only the entries that come
        from x, with one strided copy per kernel offset (kh*kw of them) whose rows are contiguous.
        """
        n, c, h, w = x.shape
        (kh, kw), (sh, sw), (ph, pw) = self.kernel_size, self.stride, self.padding
        cols = _workspace(self, "cols", (c, kh, kw, n, h_out, w_out), x.dtype, reuse=reuse,
                          zeroed=bool(ph or pw), key=(h, w, ph, pw, sh, sw))
        for u, v, out_rows, out_columns, rows, columns in copies:
            cols[:, u, v, :, out_rows, out_columns] = x[:, :, rows, columns].transpose(1, 0, 2, 3)
        return cols.reshape(c * kh * kw, n * h_out * w_out)

    def _cols_operand(self, cols_t: np.ndarray) -> np.ndarray:
        """The (N*H_out*W_out, C*kh*kw) im2col matrix from its C-ordered transpose ``cols_t``.

        Normally the transposed view: BLAS gemm reads either memory order and, the operands being
        the same, returns bit-identical products. With one output channel (or a single row or
        column) NumPy may call gemv instead, whose rounding does depend on the memory order, so
        those cases get a row-major copy, the layout the products were always computed from.
        """
        if self.out_channels > 1 and min(cols_t.shape) > 1:
            return cols_t.T
        return cols_t.T.copy()

    def backward(self, dout):
        cols, x_shape, dtype, training = self._require_cache()
        n, _, h, w = x_shape
        h_out, w_out, _ = self._plan(h, w)
        self._check_dout(dout, (n, self.out_channels, h_out, w_out))
        g = dout.transpose(0, 2, 3, 1).reshape(-1, self.out_channels)
        W = self.params["W"]
        self.grads["W"] = (g.T @ cols).reshape(W.shape).astype(W.dtype, copy=False)
        self.grads["b"] = dout.sum(axis=(0, 2, 3)).astype(W.dtype, copy=False)
        W_flat = W.astype(dout.dtype, copy=False).reshape(self.out_channels, -1)
        dcols = np.matmul(g, W_flat, out=_scratch("product", (g.shape[0], W_flat.shape[1]),
                                                   np.result_type(g, W_flat), reuse=training))
        return self._col2im(dcols, x_shape, h_out, w_out, np.result_type(dout.dtype, dtype), reuse=training)

    def _col2im(self, dcols, x_shape, h_out, w_out, dtype, *, reuse):
        """dx from the (N*H_out*W_out, C*kh*kw) column gradients: each column value added back to the
        input pixel it was copied from (overlapping windows add up), as (N, C, H, W) in ``dtype``."""
        n, c, h, w = x_shape
        (kh, kw), (sh, sw), (ph, pw) = self.kernel_size, self.stride, self.padding
        dcols = dcols.reshape(n, h_out, w_out, c, kh, kw)
        # Returned, as always, as the centre of a zero-padded (N, C, H_pad, W_pad) array: the same
        # memory layout as before (a following reduction, e.g. batch norm's, sums in memory order).
        hp, wp = h + 2 * ph, w + 2 * pw
        dxp = np.zeros((n, c, hp, wp), dtype=dtype)
        dx = dxp[:, :, ph:ph + h, pw:pw + w]
        # One strided add per kernel offset (kh*kw adds), each pixel summing its terms in the same
        # order from 0 as always. Done on blocks of samples whose column gradients fit in cache
        # (each add reads only every (kh*kw)-th value of dcols), into an accumulator stored
        # channels-last, (N, H_pad, W_pad, C), where an add runs over W_out*C values at a time (C
        # with stride > 1); with fewer than 16 of those (e.g. one input channel), stored (H_pad,
        # W_pad, C, N) instead, where it runs over C*N. Same values either way.
        block = max(1, _COL2IM_BLOCK_ELEMENTS // (h_out * w_out * c * kh * kw))
        if (w_out * c if sw == 1 else c) >= 16:
            acc = _scratch("col2im", (min(block, n), hp, wp, c), dtype, reuse=reuse).transpose(1, 2, 3, 0)
        else:
            acc = _scratch("col2im", (hp, wp, c, min(block, n)), dtype, reuse=reuse)
        for start in range(0, n, block):  # acc is (H_pad, W_pad, C, samples), whatever its memory order
            stop = min(n, start + block)
            part = acc[..., :stop - start]
            d = dcols[start:stop].transpose(1, 2, 3, 0, 4, 5)  # (H_out, W_out, C, samples, kh, kw)
            part.fill(0)
            for u in range(kh):
                for v in range(kw):
                    part[u:u + sh * (h_out - 1) + 1:sh, v:v + sw * (w_out - 1) + 1:sw] += d[..., u, v]
            dx[start:stop] = part[ph:ph + h, pw:pw + w].transpose(3, 2, 0, 1)
        return dx

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

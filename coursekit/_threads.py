"""One BLAS thread for the course's matrix products.

Small matrices are faster on one thread, and a busy machine cannot then slow them down
~10x with spinning threads. Using the same thread count everywhere (``fit``, ``predict``)
also makes results bit-for-bit reproducible: multi-threaded BLAS may sum in another order.

Choosing the thread count per matrix size was measured for issue 15 (benchmarks/README.md,
``benchmarks/conv_techniques.py``) and rejected: two threads make a CNN's larger products
1.6-1.8x faster on a quiet 2-core machine, but several times slower on a busy one, and
OpenBLAS's float32 products then differ in the last bits from one thread's for most of the
course's convolution shapes, so a run's numbers would depend on the machine's core count.
"""
from __future__ import annotations

import contextlib
import functools

from threadpoolctl import ThreadpoolController


@functools.lru_cache(maxsize=1)
def _controller() -> ThreadpoolController:
    return ThreadpoolController()  # scanning the loaded libraries is slow: do it once


@contextlib.contextmanager
def single_blas_thread():
    """Context manager: limit BLAS to one thread inside, restore the previous limits after."""
    with _controller().limit(limits=1, user_api="blas"):
        yield

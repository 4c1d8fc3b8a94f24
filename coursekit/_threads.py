"""One BLAS thread for the course's small matrix products.

Small matrices are faster on one thread, and a busy machine cannot then slow them down
~10x with spinning threads. Using the same thread count everywhere (``fit``, ``predict``)
also makes results bit-for-bit reproducible: multi-threaded BLAS may sum in another order.
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

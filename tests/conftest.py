"""Shared test setup.

* A non-interactive matplotlib backend (no windows, works headless).
* One BLAS thread, here and in every notebook kernel the tests start (they inherit the
  environment): the course's matrices are tiny, and several test processes run at once on
  two cores; multi-threaded BLAS then spins and runs ~10x slower.
"""
import os

for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import matplotlib  # noqa: E402
from threadpoolctl import threadpool_limits  # noqa: E402

matplotlib.use("Agg")
threadpool_limits(limits=1, user_api="blas")

"""BLAS on one thread where results must not depend on the machine's thread count."""

from __future__ import annotations

import functools


def one_blas_thread(func):
    """Run ``func`` with every loaded BLAS limited to one thread.

    Multi-threaded BLAS splits reductions by thread count, so a solver's iterates (and
    the model fitted, hence its id) would depend on the environment (``OMP_NUM_THREADS``,
    the number of cores). Libraries are looked up at each call: scipy's BLAS may load late.
    """

    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        from threadpoolctl import threadpool_limits

        with threadpool_limits(limits=1, user_api="blas"):
            return func(*args, **kwargs)

    return wrapper

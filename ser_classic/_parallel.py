"""Where parallel work runs: joblib's active backend, optionally a Dask cluster.

Every function that parallelises (:func:`ser_classic.features.extract_batch` and
:func:`~ser_classic.features.run_batch`, :func:`ser_classic.smile.extract_smile_batch`,
:func:`ser_classic.evaluation.cross_validate`'s outer folds) calls ``joblib.Parallel``
without naming a backend, so an enclosing ``joblib.parallel_config`` decides where the
jobs run. In Python::

    from distributed import Client
    from joblib import parallel_config

    with Client("tcp://HOST:8786"), parallel_config(backend="dask"):
        X, errors, n = extract_batch(paths, config=config, cache_dir=cache)

:func:`dask_scheduler` does the same for the CLI's ``--scheduler ADDRESS``. The library
itself never creates a client nor reads the environment.
"""

from __future__ import annotations

import contextlib
import warnings
from collections.abc import Iterable, Iterator

import joblib

from .errors import ParameterError

__all__ = ["dask_scheduler"]


@contextlib.contextmanager
def dask_scheduler(address: str | None, *, timeout: float | None = None) -> Iterator[None]:
    """Run the enclosed joblib work on the Dask cluster whose scheduler is at ``address``.

    Connects a ``distributed.Client`` (closed on exit) and enters
    ``joblib.parallel_config(backend="dask")`` with it. ``address=None`` changes nothing
    (the default backend: loky worker processes).

    Parameters
    ----------
    address : str or None
        The scheduler, e.g. ``"tcp://10.0.0.5:8786"``. Its workers must import this
        package and reach the audio files and the feature cache by the same paths.
    timeout : float, optional
        Seconds to wait for the connection (default: Dask's configuration, 30 s).

    Raises
    ------
    ParameterError
        ``address`` is not a scheduler address, or ``dask[distributed]`` is not installed
        (``pip install 'ser_classic[dask]'``).
    OSError
        The scheduler cannot be reached in time.
    """
    if address is None:
        yield
        return
    try:
        from distributed import Client
        from distributed.comm import get_address_host_port
    except ImportError:
        raise ParameterError("a Dask scheduler needs dask[distributed]: "
                             "pip install 'ser_classic[dask]'") from None
    try:
        get_address_host_port(address)
    except ValueError as exc:
        raise ParameterError(f"Dask scheduler {address!r}: {exc} "
                             f"(expected e.g. tcp://HOST:8786)") from None
    try:
        wait = {} if timeout is None else {"timeout": timeout}
        client = Client(address, set_as_default=False, **wait)
    except OSError as exc:  # TimeoutError included
        raise OSError(f"cannot reach the Dask scheduler at {address}: {exc}") from None
    with client, joblib.parallel_config(backend="dask", client=client):
        yield


def run_jobs(jobs: Iterable, *, n_jobs: int | None, unordered: bool = False,
             **options) -> Iterator:
    """Yield the results of joblib ``jobs`` (``joblib.delayed`` calls), in their order or,
    with ``unordered``, as they finish.

    Runs ``joblib.Parallel(n_jobs=n_jobs, **options)`` in the active backend and drops
    loky's warning that it restarted a worker still holding a finished job's memory
    (benign: the job's result is kept).
    """
    return_as = "generator_unordered" if unordered else "list"
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="A worker stopped while some jobs")
        yield from joblib.Parallel(n_jobs=n_jobs, return_as=return_as, **options)(jobs)

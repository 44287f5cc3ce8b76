"""Parallel work through joblib's configurable backend: the same results on a Dask cluster.

A two-worker ``distributed.LocalCluster`` on 127.0.0.1 (worker processes, one thread
each) runs feature extraction through the CLI (``--scheduler``) and through the library
(inside ``joblib.parallel_config(backend="dask")``), and a small speaker-grouped
cross-validation; each must equal the local run bit for bit, and the workers must survive
(a Dask worker's parent is its nanny, not the caller: the guard that ends loky workers
with their parent must leave it alone).
"""

from __future__ import annotations

import os

import numpy as np
import pytest
from distributed import Client, LocalCluster, get_task_stream
from joblib import parallel_config

from ser_classic import data
from ser_classic._parallel import dask_scheduler
from ser_classic.cli import main
from ser_classic.evaluation import cross_validate
from ser_classic.features import FeatureConfig, extract_batch

CONFIG = FeatureConfig()


@pytest.fixture(scope="module")
def cluster():
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1",
                      dashboard_address=None) as cluster:
        yield cluster


@pytest.fixture
def client(cluster):
    with Client(cluster) as client:
        yield client


def _worker_pids(client) -> dict[str, int]:
    return client.run(os.getpid)


@pytest.fixture(scope="module")
def clips(small_manifest):
    """Ten clips of two actors, every emotion."""
    return small_manifest.iloc[::24].head(10).reset_index(drop=True)


@pytest.fixture(scope="module")
def local_features(clips):
    X, errors, n = extract_batch(clips["path"], sha256=clips["sha256"], config=CONFIG,
                                 n_jobs=1)
    assert not errors and n == len(clips)
    return X


def test_library_features_on_dask_equal_local(client, clips, local_features, tmp_path):
    pids = _worker_pids(client)
    with get_task_stream(client) as stream, parallel_config(backend="dask"):
        X, errors, n = extract_batch(clips["path"], sha256=clips["sha256"], config=CONFIG,
                                     cache_dir=tmp_path / "cache")
    assert not errors and n == len(clips)
    np.testing.assert_array_equal(X, local_features)
    assert stream.data, "no task ran on the cluster"
    assert _worker_pids(client) == pids  # no worker was ended (or restarted)


def test_only_cache_misses_go_to_the_workers(client, clips, local_features, tmp_path):
    cache = tmp_path / "cache"
    every_other = clips.iloc[::2]
    extract_batch(every_other["path"], sha256=every_other["sha256"], config=CONFIG,
                  cache_dir=cache, n_jobs=1)
    for misses in (len(clips) - len(every_other), 0):
        with get_task_stream(client) as stream, parallel_config(backend="dask"):
            X, errors, n = extract_batch(clips["path"], sha256=clips["sha256"],
                                         config=CONFIG, cache_dir=cache)
        assert not errors and n == misses
        np.testing.assert_array_equal(X, local_features)  # hits and misses in row order
        assert bool(stream.data) == bool(misses)  # a batch found in the cache sends no task


def test_cli_features_with_scheduler_equal_local(cluster, client, clips, local_features,
                                                 tmp_path):
    manifest, cache = tmp_path / "manifest.csv", tmp_path / "cache"
    data.save_manifest(clips, manifest)
    pids = _worker_pids(client)
    with get_task_stream(client) as stream:
        assert main(["features", "--manifest", str(manifest), "--cache", str(cache),
                     "--scheduler", cluster.scheduler_address]) == 0
    assert stream.data, "no task ran on the cluster"
    assert _worker_pids(client) == pids
    # what the cluster's workers wrote into the cache is what the local run computes
    X, errors, n = extract_batch(clips["path"], sha256=clips["sha256"], config=CONFIG,
                                 cache_dir=cache, n_jobs=1)
    assert not errors and n == 0
    np.testing.assert_array_equal(X, local_features)


def test_cross_validate_on_dask_equal_local(client, small_manifest, feature_cache):
    X, errors, _ = extract_batch(small_manifest["path"], sha256=small_manifest["sha256"],
                                 config=CONFIG, cache_dir=feature_cache, n_jobs=1)
    assert not errors
    classes = sorted(small_manifest["emotion"].unique())
    y = small_manifest["emotion"].map({c: i for i, c in enumerate(classes)}).to_numpy()
    speakers = small_manifest["speaker"].to_numpy()

    def run():
        return cross_validate(X, y, speakers, models=["logreg"], classes=classes,
                              split="group6", n_folds=2, n_inner=2)

    local = run()
    with get_task_stream(client) as stream, parallel_config(backend="dask"):
        dask = run()
    assert stream.data, "no fold ran on the cluster"
    np.testing.assert_array_equal(dask.models["logreg"].proba, local.models["logreg"].proba)
    assert dask.models["logreg"].params == local.models["logreg"].params
    ours, theirs = dask.metrics("logreg"), local.metrics("logreg")
    assert ours.keys() == theirs.keys()
    for key, value in ours.items():
        np.testing.assert_array_equal(value, theirs[key], err_msg=key)
    assert dask.inner_record == local.inner_record


def test_scheduler_address_checked_before_connecting(tmp_path, capsys):
    argv = ["features", "--manifest", str(tmp_path / "none.csv"), "--scheduler"]
    assert main([*argv, "not-an-address"]) == 2
    err = capsys.readouterr().err
    assert "Dask scheduler 'not-an-address'" in err and "tcp://HOST:8786" in err
    with pytest.raises(OSError, match=r"cannot reach the Dask scheduler at tcp://127\.0\.0\.1:1"):
        with dask_scheduler("tcp://127.0.0.1:1", timeout=0.5):
            pass


def _warn_and_square(x: int, message: str) -> int:
    import warnings

    warnings.warn(message, UserWarning, stacklevel=1)
    return x * x


def test_run_jobs_keeps_order_and_drops_only_lokys_worker_restart_warning():
    """In order (or all of them, unordered); loky's benign restart warning is dropped, any
    other warning of a job still reaches the caller."""
    import warnings

    import joblib

    from ser_classic._parallel import run_jobs

    restart = "A worker stopped while some jobs were given to the executor."
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        ordered = list(run_jobs((joblib.delayed(_warn_and_square)(x, restart)
                                 for x in range(5)), n_jobs=1))
        other = list(run_jobs((joblib.delayed(_warn_and_square)(x, "something else")
                               for x in range(3)), n_jobs=1, unordered=True))
    assert ordered == [0, 1, 4, 9, 16] and sorted(other) == [0, 1, 4]
    assert [str(w.message) for w in caught] == ["something else"] * 3

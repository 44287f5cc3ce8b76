"""The CLI's allocator settings (``tune_allocator``): a freed large array is reused, not
mapped and faulted in afresh, and settings the user made are kept.

Each probe runs in a fresh interpreter (glibc reads its settings at start-up) without
the ``MALLOC_*`` variables a CLI call in this test session may have set.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

PROBE = """
import json, os, resource, sys
import numpy as np
if sys.argv[1] == "tuned":
    from ser_classic.cli import tune_allocator
    tune_allocator()
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
for _ in range(10):
    a = np.ones(20_000_000)  # 160 MB, written through: every page touched
    del a
print(json.dumps({
    "faults": resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before,
    "env": {k: v for k, v in os.environ.items() if k.startswith("MALLOC_")}}))
"""


def _probe(mode: str, **env) -> dict:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("MALLOC_")}
    out = subprocess.run([sys.executable, "-c", PROBE, mode], env={**clean, **env},
                         capture_output=True, text=True, check=True)
    return json.loads(out.stdout)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's mallopt")
def test_tuned_process_reuses_freed_large_arrays():
    default, tuned = _probe("default"), _probe("tuned")
    assert default["env"] == {}
    assert tuned["env"]["MALLOC_MMAP_MAX_"] == "0"
    # default: each 160 MB array is a fresh mapping, faulted in again; tuned: the first
    assert default["faults"] > 100
    assert tuned["faults"] < default["faults"] / 4


def test_settings_the_user_made_are_kept():
    tuned = _probe("tuned", MALLOC_TRIM_THRESHOLD_="12345")
    assert tuned["env"]["MALLOC_TRIM_THRESHOLD_"] == "12345"
    assert tuned["env"]["MALLOC_ARENA_MAX"] == "2"

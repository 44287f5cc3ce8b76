"""The package as a user installs it: a wheel built from this tree carries every shipped
model, and ``ser_classic.load`` finds and runs them from the installed copy."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

import ser_classic
from ser_classic.store import SHIPPED, read_index

from .conftest import RAVDESS, ROOT

_SCORE = """
import json, sys
import numpy as np
import ser_classic
from ser_classic.store import read_index
clip = sys.argv[1]
out = {"package": ser_classic.__file__, "proba": {}}
for alias in sorted(read_index().aliases):
    r = ser_classic.load(alias)
    if r.normalization == "strict":
        out["proba"][alias] = np.asarray(r.predict_proba([clip])).tolist()
print(json.dumps(out))
"""


@pytest.fixture(scope="module")
def installed(tmp_path_factory) -> Path:
    """The wheel built from a copy of the tree, installed (without dependencies) into a
    folder of its own."""
    work = tmp_path_factory.mktemp("wheel")
    source = work / "source"
    source.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, source / name)
    shutil.copytree(ROOT / "ser_classic", source / "ser_classic",
                    ignore=shutil.ignore_patterns("__pycache__"))
    pip = [sys.executable, "-m", "pip", "--disable-pip-version-check", "-q"]
    subprocess.run([*pip, "wheel", "--no-deps", "--no-build-isolation", "-w",
                    str(work / "dist"), str(source)], check=True, capture_output=True)
    (wheel,) = (work / "dist").glob("ser_classic-*.whl")
    subprocess.run([*pip, "install", "--no-deps", "--target", str(work / "site"), str(wheel)],
                   check=True, capture_output=True)
    return wheel


def test_the_wheel_carries_every_shipped_file(installed):
    shipped = {p.relative_to(SHIPPED.parent.parent).as_posix()
               for p in SHIPPED.rglob("*") if p.is_file() and "__pycache__" not in p.parts}
    with zipfile.ZipFile(installed) as wheel:
        in_wheel = {n for n in wheel.namelist() if n.startswith("ser_classic/shipped/")}
    assert in_wheel == shipped
    for model_id in read_index().models:
        assert {f"ser_classic/shipped/{model_id}/model.{ext}"
                for ext in ("json", "joblib", "onnx")} <= in_wheel


def test_the_installed_package_loads_and_scores_with_its_own_models(installed, tmp_path):
    clip = sorted(RAVDESS.rglob("*.flac"))[0]
    site = installed.parent.parent / "site"
    result = subprocess.run([sys.executable, "-c", _SCORE, str(clip)], cwd=tmp_path,
                            env={**os.environ, "PYTHONPATH": str(site)},
                            check=True, capture_output=True, text=True)
    out = json.loads(result.stdout)
    assert Path(out["package"]).is_relative_to(site)
    assert set(out["proba"]) == {"deployed", "student", "teacher"}
    y, sr = sf.read(clip)
    for alias, proba in out["proba"].items():
        expected = ser_classic.load(alias).predict_proba([y], sr=sr)
        np.testing.assert_allclose(proba, expected, atol=1e-6, err_msg=alias)

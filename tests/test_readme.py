"""The README's recipes run as they stand.

Every fenced ``python`` or ``sh`` block preceded by a ``<!-- test -->`` line runs, in the
README's order, in one temporary folder holding generated audio: ``clips/`` (three clips of
one voice), ``not_audio.wav`` (text), ``my_corpus/`` (a labelled folder: ``labels.csv`` and
``labels.json``, labels outside RAVDESS's set) and, in the Python namespace shared by the
python blocks, ``waveforms`` and ``reference_clips`` (24 kHz float arrays). Shell blocks run
under ``bash -euo pipefail`` with this interpreter's ``bin/`` first on ``PATH`` and ``PORT``
a free port. Then the API and CLI recipes must have given the same model ids.
"""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from .conftest import speechlike

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
MARKER = "<!-- test -->"
BLOCK = re.compile(r"^<!-- test -->\n```(python|sh)\n(.*?)^```$", re.M | re.S)

LABELS = ("bored", "excited", "neutral")
SPEAKERS = ("spk_a", "spk_b", "spk_c")
#: each label a voice of its own (pitch), shifted per speaker
VOICE = {"bored": 110.0, "excited": 260.0, "neutral": 170.0}


def recipes(text: str) -> list[tuple[str, str, int]]:
    """``(language, code, line of the opening fence)`` of every marked block, in order."""
    return [(m.group(1), m.group(2), text.count("\n", 0, m.start()) + 2)
            for m in BLOCK.finditer(text)]


def test_every_marker_precedes_a_runnable_block():
    text = README.read_text(encoding="utf-8")
    found = recipes(text)
    assert len(found) == text.count(MARKER), (
        f"{MARKER} must be followed directly by a ```python or ```sh block")
    n_blocks = len(re.findall(r"^```(?:python|sh)$", text, re.M))
    assert len(found) == n_blocks, f"every ```python and ```sh block needs {MARKER} before it"
    assert {lang for lang, _, _ in found} == {"python", "sh"}


def _run_shell(code: str, *, cwd: Path, env: dict, timeout: float = 300) -> tuple[int, str]:
    """Exit status and output of a shell block under ``bash -euo pipefail``, in its own
    process group, which is killed afterwards: a server a failing block left running
    neither holds the test's pipes nor outlives it."""
    import signal
    import tempfile

    with tempfile.TemporaryFile("w+") as out:
        proc = subprocess.Popen(["bash", "-euo", "pipefail", "-c", code], cwd=cwd, env=env,
                                stdout=out, stderr=subprocess.STDOUT, text=True,
                                start_new_session=True)
        try:
            returncode = proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            returncode = -1
        finally:
            try:
                os.killpg(proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            proc.wait()
        out.seek(0)
        return returncode, out.read()


@pytest.fixture(scope="module")
def workspace(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("readme")
    (root / "clips").mkdir()
    for name, sr, f0, seed in (("a", 16000, 180.0, 0), ("b", 22050, 240.0, 1),
                               ("c", 48000, 130.0, 2)):
        sf.write(root / "clips" / f"{name}.wav", speechlike(sr, 1.2, f0=f0, seed=seed), sr)
    (root / "not_audio.wav").write_text("not audio")
    corpus = root / "my_corpus"
    lines = ["path,label,speaker"]
    for s, spk in enumerate(SPEAKERS):
        (corpus / spk).mkdir(parents=True)
        for label in LABELS:
            for k in range(4):
                y = speechlike(16000, 0.8 + 0.1 * k, f0=VOICE[label] * (1 + 0.06 * s),
                               seed=100 * s + k)
                sf.write(corpus / spk / f"{label}_{k}.wav", y, 16000)
                lines.append(f"{spk}/{label}_{k}.wav,{label},{spk}")
    (corpus / "labels.csv").write_text("\n".join(lines) + "\n")
    (corpus / "labels.json").write_text(json.dumps({"labels": list(LABELS)}))
    return root


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _model_id(model_dir: Path) -> str:
    return json.loads((model_dir / "model.json").read_text())["model_id"]


def test_readme_recipes_run(workspace, monkeypatch):
    found = recipes(README.read_text(encoding="utf-8"))
    namespace = {
        "__name__": "readme",
        "waveforms": [speechlike(24000, 1.0, f0=f0, seed=i)
                      for i, f0 in enumerate((150.0, 200.0, 250.0, 300.0))],
        "reference_clips": [speechlike(24000, 1.0, f0=f0, seed=10 + i)
                            for i, f0 in enumerate((160.0, 220.0, 180.0))],
    }
    env = {**os.environ, "PORT": str(_free_port()),
           "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"}
    monkeypatch.chdir(workspace)
    for lang, code, line in found:
        where = f"README.md:{line}"
        if lang == "python":
            exec(compile(code, where, "exec"), namespace)  # the README's own code
            continue
        returncode, out = _run_shell(code, cwd=workspace, env=env)
        assert returncode == 0, f"{where} exited {returncode}\n{out}"

    # the recipes' results: what the README says they give
    models = workspace / "models"
    assert _model_id(models / "mine") == _model_id(models / "mine_cli")
    assert _model_id(models / "mine-student") == _model_id(models / "mine-student-cli")
    assert _model_id(workspace / "deploy" / "mine-student") == _model_id(models / "mine-student")
    assert not (workspace / "deploy" / "mine-student" / "model.joblib").exists()
    assert namespace["trained"].classes == LABELS
    assert namespace["scores"].proba.shape == (4, len(namespace["model"].classes_))
    assert namespace["X"].shape[0] == len(namespace["manifest"]) == 36
    assert np.isfinite(namespace["X"]).all()

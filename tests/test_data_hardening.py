"""Corpus updating and the feature cache degrade gracefully (issue 17, fourth part).

Bad names and CSV rows are reported with their file and line while the good ones merge;
a damaged manifest is refused; a damaged cache entry is a miss; workers die with their
parent. Fixtures are generated in tmp_path; real clips come from the shared corpora.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import soundfile as sf

from ser_classic import data
from ser_classic.cli import main
from ser_classic.errors import AudioError, ParameterError
from ser_classic.features import FeatureConfig, _cache_path, extract_batch

from .conftest import DATA, RAVDESS, speechlike

ROOT = Path(__file__).resolve().parents[1]
CONFIG = FeatureConfig()


def _write(path: Path, *, seconds: float = 0.8, f0: float = 180.0, seed: int = 0) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(path, speechlike(16000, seconds, f0=f0, seed=seed), 16000)
    return path


def _base_manifest(tmp_path: Path) -> Path:
    """A manifest of two generated RAVDESS-named clips, saved in tmp_path."""
    actor = tmp_path / "base" / "Actor_01"
    _write(actor / "03-01-05-01-01-01-01.wav", seed=1)
    _write(actor / "03-01-04-01-01-01-01.wav", f0=140, seed=2)
    path = tmp_path / "manifest.csv"
    data.save_manifest(data.build_manifest(data.scan_ravdess(tmp_path / "base")), path)
    return path


# --------------------------------------------------------------------------- names
def test_scans_collect_bad_names_and_keep_the_good(tmp_path):
    root = tmp_path / "ravdess"
    good = _write(root / "Actor_02" / "03-01-03-02-01-01-02.wav")
    bad_emotion = _write(root / "Actor_02" / "03-01-09-01-01-01-02.wav")
    not_a_name = _write(root / "Actor_02" / "take_7.wav")
    errors: list = []
    records = data.scan_ravdess(root, errors=errors)
    assert [r["path"] for r in records] == [str(good)]
    assert dict(errors) == {
        str(bad_emotion): "RAVDESS name has invalid field(s): emotion=09",
        str(not_a_name): "not a RAVDESS name: expected 7 two-digit fields MM-VV-EE-II-SS-RR-AA",
    }
    with pytest.raises(AudioError, match="emotion=09"):  # without a list: the first raises
        data.scan_ravdess(root)
    tess = tmp_path / "tess"
    _write(tess / "OAF_angry" / "OAF_back_angry.wav")
    bored = _write(tess / "OAF_bored" / "OAF_back_bored.wav")
    errors = []
    assert len(data.scan_corpus(tess, errors=errors)) == 1
    assert errors[0][0] == str(bored) and "unknown emotion label 'bored'" in errors[0][1]


# --------------------------------------------------------------------------- CSV input
CSV_CASES = {
    # name: (bytes of labels.csv, line, regex of the problem, good rows kept)
    "empty_path": (b"path,label\na.wav,angry\n,sad\n", 3, r"empty path", 1),
    "ragged_row": (b"path,label,speaker\na.wav,angry,s1\nb.wav,sad,s1,extra\n", 3,
                   r"4 cells, the header has 3 \(path,label,speaker\)", 1),
    "short_row": (b"path,label,speaker\na.wav,angry,s1\nb.wav\n", 3, r"1 cells", 1),
    "latin1": ("path,label\na.wav,angry\ncaf\u00e9.wav,sad\n".encode("latin-1"), 3,
               r"not UTF-8 \(byte 0xe9\)", 0),
    "empty_file": (b"", 1, r"empty CSV", 0),
    "blank_lines_only": (b"\n\n  \n", 1, r"empty CSV", 0),
    "no_label_column": (b"path,emotion\na.wav,angry\n", 1,
                        r"missing column\(s\) \['label'\].*got path,emotion", 0),
    "unknown_label": (b"path,label\na.wav,angry\nb.wav,bored\n", 3,
                      r"b\.wav: unknown emotion label 'bored'", 1),
    "empty_label": (b"path,label\na.wav,angry\nb.wav,  \n", 3, r"b\.wav: empty label", 1),
    "listed_twice": (b"path,label\na.wav,angry\na.wav,sad\n", 3,
                     r"a\.wav: listed twice \(first on line 2\)", 1),
    "bad_quoting": (b'path,label\na.wav,angry\n"b.wav\n', 3, r"", 1),
}


@pytest.mark.parametrize("case", sorted(CSV_CASES))
def test_csv_errors_name_the_csv_and_the_line(tmp_path, case):
    payload, line, problem, n_good = CSV_CASES[case]
    csv = tmp_path / "labels.csv"
    csv.write_bytes(payload)
    errors: list = []
    records = data.read_labelled_csv(csv, corpus="mine", errors=errors)
    assert len(records) == n_good and len(errors) == 1, errors
    source, message = errors[0]
    assert source == f"{csv}:{line}"
    assert re.search(problem, message), message
    with pytest.raises((AudioError, ParameterError)) as info:  # without a list: raises
        data.read_labelled_csv(csv)
    assert str(info.value).startswith(f"{csv}:{line}: ")


def test_csv_good_rows_keep_their_fields(tmp_path):
    csv = tmp_path / "sub" / "labels.csv"
    csv.parent.mkdir()
    csv.write_text('\ufeffpath,label,speaker,gender\n"x, y.wav",Happiness,s1,female\n'
                   "/abs/z.wav,ps,,\n", encoding="utf-8")  # BOM, quoted comma, blanks
    records = data.read_labelled_csv(csv, corpus="mine", errors=[])
    assert [(r["path"], r["emotion"], r["speaker"], r["gender"]) for r in records] == [
        (str(csv.parent / "x, y.wav"), "happy", "mine_s1", "female"),
        ("/abs/z.wav", "surprised", None, None)]


def test_cli_data_add_merges_the_good_and_reports_every_bad(tmp_path, capsys):
    manifest = _base_manifest(tmp_path)
    before = manifest.read_bytes()
    folder = tmp_path / "new"
    _write(folder / "good1.wav", f0=200, seed=3)
    _write(folder / "good2.wav", f0=240, seed=4)
    (folder / "broken.wav").write_bytes(b"RIFF not really")
    (folder / "labels.csv").write_text(
        "path,label,speaker\n"
        "good1.wav,angry,s1\n"
        "bored.wav,bored,s1\n"       # line 3: unknown label
        ",sad,s1\n"                  # line 4: empty path
        "good2.wav,sad,s2,extra\n"   # line 5: ragged
        "broken.wav,sad,s2\n"        # unreadable audio
        "good2.wav,fear,s2\n")       # line 7: good
    argv = ["data", "add", str(folder), "--manifest", str(manifest)]

    assert main([*argv, "--strict"]) == 1  # all or nothing: nothing merged
    out = capsys.readouterr()
    assert "--strict: nothing merged, 4 error(s)" in out.out
    assert manifest.read_bytes() == before

    assert main(argv) == 1  # the good rows merge, the exit status says something was skipped
    out = capsys.readouterr()
    assert "added 2, duplicates 0, errors 4" in out.out
    csv = folder / "labels.csv"
    for expected in (f"{csv}:3: {folder / 'bored.wav'}: unknown emotion label 'bored'",
                     f"{csv}:4: empty path", f"{csv}:5: 4 cells, the header has 3",
                     f"{folder / 'broken.wav'}: not a readable audio file"):
        assert expected in out.err
    merged = data.load_manifest(manifest)
    assert len(merged) == 4
    assert list(merged["emotion"][2:]) == ["angry", "fearful"]
    assert list(merged["speaker"][2:]) == ["new_s1", "new_s2"]

    assert main(argv) == 1  # again: the merged ones are duplicates, the bad ones still bad
    assert "added 0, duplicates 2, errors 4" in capsys.readouterr().out


def test_cli_data_add_ravdess_folder_with_a_malformed_name(tmp_path, capsys):
    manifest = _base_manifest(tmp_path)
    folder = tmp_path / "more"
    _write(folder / "Actor_03" / "03-01-06-01-02-01-03.wav", seed=5)
    bad = _write(folder / "Actor_03" / "03-01-06-01-02-01.wav", seed=6)
    assert main(["data", "add", str(folder), "--manifest", str(manifest)]) == 1
    out = capsys.readouterr()
    assert "added 1, duplicates 0, errors 1" in out.out
    assert f"{bad}: not a RAVDESS name" in out.err
    assert len(data.load_manifest(manifest)) == 3
    # a folder of good files only, and duplicates only: success
    good = tmp_path / "good_only" / "Actor_04"
    _write(good / "03-01-02-01-01-01-04.wav", seed=7)
    assert main(["data", "add", str(good.parent), "--manifest", str(manifest)]) == 0
    assert main(["data", "add", str(good.parent), "--manifest", str(manifest)]) == 0
    assert "added 0, duplicates 1, errors 0" in capsys.readouterr().out


def test_add_recordings_refuses_a_known_path_with_new_content(tmp_path):
    manifest = data.load_manifest(_base_manifest(tmp_path))
    path = Path(manifest.loc[0, "path"])
    _write(path, f0=300, seed=9)  # the file changed under the manifest
    merged, report = data.add_recordings(manifest, data.scan_ravdess(path.parent.parent))
    assert len(merged) == 2 and not report.added
    assert report.errors == [(str(path), "already in the manifest with other content "
                                         "(the file changed); rebuild the manifest")]


# --------------------------------------------------------------------------- manifest
DAMAGE = {
    # name: (column, value, regex)
    "short_sha256": ("sha256", "0123456789ab", "field 'sha256': not 64 lowercase hex"),
    "upper_sha256": ("sha256", "A" * 64, "field 'sha256': not 64 lowercase hex"),
    "empty_path": ("path", None, "field 'path': empty"),
    "unknown_emotion": ("emotion", "bored", "field 'emotion': not one of neutral"),
    "negative_duration": ("duration_s", "-1.0", "field 'duration_s': not a positive"),
    "text_rate": ("sample_rate", "abc", "field 'sample_rate': not a positive integer"),
    "fractional_rate": ("sample_rate", "16000.5", "field 'sample_rate': not a positive integer"),
    "zero_channels": ("channels", "0", "field 'channels': not a positive integer"),
    "text_repetition": ("repetition", "x", "field 'repetition': not an integer"),
    "empty_corpus": ("corpus", None, "field 'corpus': empty"),
}


@pytest.mark.parametrize("case", sorted(DAMAGE))
def test_damaged_manifest_is_refused_with_line_and_field(tmp_path, case, capsys):
    path = _base_manifest(tmp_path)
    column, value, problem = DAMAGE[case]
    frame = pd.read_csv(path, dtype=str)
    frame.loc[1, column] = value
    frame.to_csv(path, index=False)
    damaged = path.read_bytes()
    with pytest.raises(ParameterError, match=rf"^{path}: damaged manifest, 1 bad row\(s\); "
                                             rf"line 3: {problem}"):
        data.load_manifest(path)
    # the CLI refuses it (exit 2, one line naming it) and does not rewrite it
    code = main(["features", "--manifest", str(path), "--cache", str(tmp_path / "c"),
                 "--jobs", "1"])
    assert code == 2 and f"ser-classic: error: {path}: damaged manifest" in \
        capsys.readouterr().err
    assert main(["data", "add", str(tmp_path / "base"), "--manifest", str(path)]) == 2
    assert path.read_bytes() == damaged


def test_manifest_structure_errors(tmp_path):
    path = _base_manifest(tmp_path)
    frame = pd.read_csv(path, dtype=str)
    frame.loc[1, "path"] = frame.loc[0, "path"]
    frame.to_csv(path, index=False)
    with pytest.raises(ParameterError, match="line 3: field 'path': duplicate"):
        data.load_manifest(path)
    frame.drop(columns="sha256").iloc[:1].to_csv(path, index=False)
    with pytest.raises(ParameterError, match=r"missing column\(s\) \['sha256'\]"):
        data.load_manifest(path)
    path.write_text("path,corpus\n" + "a,b,c\n")
    with pytest.raises(ParameterError, match=rf"^{path}: not a manifest CSV"):
        data.load_manifest(path)
    with pytest.raises(ParameterError, match="line 2: field 'emotion'"):  # checked on save too
        data.save_manifest(pd.DataFrame([{c: "x" for c in data.MANIFEST_COLUMNS}]
                                        ).assign(corpus="ravdess", sha256="0" * 64,
                                                 duration_s=1.0,
                                                 sample_rate=1, channels=1,
                                                 repetition=None), tmp_path / "m.csv")
    assert not (tmp_path / "m.csv").exists()


def test_real_manifests_pass_validation(tmp_path, ravdess_manifest, tess_manifest):
    for name, manifest in (("ravdess", ravdess_manifest), ("tess", tess_manifest)):
        path = tmp_path / f"{name}.csv"
        data.save_manifest(manifest, path)
        pd.testing.assert_frame_equal(data.load_manifest(path), manifest, check_dtype=False)


# --------------------------------------------------------------------------- cache
def _damage(entry: Path, kind: str, n_features: int) -> None:
    import io

    if kind == "empty":
        entry.write_bytes(b"")
    elif kind == "garbage":
        entry.write_bytes(os.urandom(300))
    elif kind == "truncated":
        entry.write_bytes(entry.read_bytes()[:-40])
    elif kind == "wrong_shape":
        np.save(entry, np.zeros(7))
    elif kind == "wrong_dtype":
        np.save(entry, np.zeros(n_features, dtype=np.float32))
    elif kind == "pickled_object":
        buf = io.BytesIO()
        np.save(buf, np.array([{"x": 1}] * n_features, dtype=object), allow_pickle=True)
        entry.write_bytes(buf.getvalue())
    elif kind == "nan":
        np.save(entry, np.full(n_features, np.nan))


DAMAGE_KINDS = ["empty", "garbage", "truncated", "wrong_shape", "wrong_dtype",
                "pickled_object", "nan"]


def test_damaged_cache_entries_are_misses_repaired_once(tmp_path):
    import hashlib

    paths = [_write(tmp_path / f"clip{i}.wav", f0=120 + 15 * i, seed=i)
             for i in range(len(DAMAGE_KINDS) + 1)]
    shas = [data.file_sha256(p) for p in paths]
    cache = tmp_path / "cache"
    X, errors, n = extract_batch(paths, sha256=shas, config=CONFIG, cache_dir=cache)
    assert not errors and n == len(paths)
    entries = [_cache_path(cache, hashlib.sha256(f"{s}|{CONFIG.hash}".encode()).hexdigest())
               for s in shas]
    for entry, kind in zip(entries, DAMAGE_KINDS, strict=False):
        _damage(entry, kind, X.shape[1])
    repaired: list = []
    X2, errors, n = extract_batch(paths, sha256=shas, config=CONFIG, cache_dir=cache,
                                  cache_errors=repaired)
    assert not errors and n == len(DAMAGE_KINDS)
    np.testing.assert_array_equal(X2, X)  # recomputed values are bit-identical
    assert [e for e, _ in repaired] == [str(e) for e in entries[:len(DAMAGE_KINDS)]]
    problems = dict(repaired)
    assert "unreadable" in problems[str(entries[0])]
    assert "expected float64" in problems[str(entries[3])]
    assert "non-finite" in problems[str(entries[6])]
    # replaced atomically: no temporary left, every entry reads; nothing is reported again
    assert sorted(p.name for p in cache.rglob("*") if p.is_file()) == \
        sorted(e.name for e in entries)
    repaired = []
    X3, _, n = extract_batch(paths, sha256=shas, config=CONFIG, cache_dir=cache,
                             cache_errors=repaired)
    assert n == 0 and not repaired
    np.testing.assert_array_equal(X3, X)
    # without a list, a warning names the entry
    entries[1].write_bytes(b"\x93NUMPY garbage")
    with pytest.warns(RuntimeWarning, match=rf"{entries[1]}: unreadable feature-cache"):
        extract_batch(paths[1:2], sha256=shas[1:2], config=CONFIG, cache_dir=cache)


def test_cli_features_repairs_the_cache_and_names_the_entry(tmp_path, capsys):
    manifest = _base_manifest(tmp_path)
    cache = tmp_path / "cache"
    argv = ["features", "--manifest", str(manifest), "--cache", str(cache), "--jobs", "2"]
    assert main(argv) == 0
    entries = sorted(cache.rglob("*.npy"))
    entries[0].write_bytes(b"")
    entries[1].write_bytes(entries[1].read_bytes()[:100])
    capsys.readouterr()
    assert main(argv) == 0
    out = capsys.readouterr()
    assert "extracted 2, from cache 0, errors 0" in out.out
    for entry in entries:
        assert f"cache entry replaced: {entry}: " in out.err
    assert main(argv) == 0
    out = capsys.readouterr()
    assert "extracted 0, from cache 2" in out.out and "cache entry" not in out.err


# --------------------------------------------------------------------------- workers
def _session_processes(sid: int) -> list[int]:
    """Pids of the live processes of session ``sid`` (from /proc)."""
    pids = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        fields = stat[stat.rindex(")") + 2:].split()  # state, ppid, pgrp, session, ...
        if fields[0] != "Z" and int(fields[3]) == sid:
            pids.append(int(entry.name))
    return pids


def _snapshot(cache: Path) -> dict[str, int]:
    return {str(p): p.stat().st_mtime_ns for p in cache.rglob("*") if p.is_file()}


@pytest.mark.skipif(not Path("/proc/self/stat").is_file(), reason="needs Linux /proc")
def test_features_workers_end_with_their_killed_parent(tmp_path):
    rows = data.build_manifest(data.scan_ravdess(RAVDESS / "Actor_05"))[:48]
    manifest, cache = tmp_path / "manifest.csv", tmp_path / "cache"
    data.save_manifest(rows, manifest)
    proc = subprocess.Popen(
        [sys.executable, "-m", "ser_classic.cli", "features", "--manifest", str(manifest),
         "--cache", str(cache), "--jobs", "2"], cwd=tmp_path, start_new_session=True,
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        env={**os.environ, "PYTHONPATH": str(ROOT), "SER_CLASSIC_DATA": str(DATA)})
    try:
        deadline = time.monotonic() + 120
        while not any(cache.rglob("*.npy")):  # extraction has started in the workers
            assert proc.poll() is None and time.monotonic() < deadline
            time.sleep(0.01)
        assert len(_session_processes(proc.pid)) >= 3  # the parent and its workers
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        deadline = time.monotonic() + 30
        while (left := _session_processes(proc.pid)) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not left, f"processes of the killed run still alive: {left}"
        written = _snapshot(cache)
        time.sleep(1.0)
        assert _snapshot(cache) == written  # no more writes
        assert 0 < sum(p.endswith(".npy") for p in written) < len(rows)
    finally:
        for pid in _session_processes(proc.pid):
            os.kill(pid, signal.SIGKILL)

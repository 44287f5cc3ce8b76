"""Gammatone and power-normalised cepstra on LOCO (experiments/cepstra_loco.py)."""

import numpy as np
import pytest

from .conftest import experiment

cepstra_loco = experiment("cepstra_loco")


def test_cepstra_of_real_clips_are_cached_and_reread(ravdess_manifest, tmp_path):
    rows = ravdess_manifest.head(3)
    first = cepstra_loco.cepstra(rows, cache=str(tmp_path), jobs=1)
    width = 2 * (2 + len(cepstra_loco.PERCENTILES)) * cepstra_loco.N_CEPS
    assert {k: F.shape for k, F in first.items()} == {"gfcc": (3, width),
                                                      "pncc": (3, width)}
    assert all(np.isfinite(F).all() and F.std(axis=0).max() > 0 for F in first.values())
    assert not np.allclose(first["gfcc"], first["pncc"])
    assert sorted(p.name.split("-")[0] for p in tmp_path.iterdir()) == ["gfcc", "pncc"]
    for f in tmp_path.iterdir():  # a cached file is read instead of extracting again
        np.save(f, np.load(f) + 1.0)
    again = cepstra_loco.cepstra(rows, cache=str(tmp_path), jobs=1)
    assert np.allclose(again["gfcc"], first["gfcc"] + 1.0)
    other = cepstra_loco.cepstra(rows.head(2), cache=str(tmp_path), jobs=1)
    assert np.allclose(other["pncc"], first["pncc"][:2])  # other rows, another key


def test_a_level_change_leaves_the_cepstra_of_the_kept_speech_nearly_unchanged(
        ravdess_manifest, tmp_path):
    import soundfile as sf

    path = ravdess_manifest["path"].iloc[0]
    y, sr = sf.read(path)
    quiet = tmp_path / "quiet.wav"
    sf.write(quiet, y * 0.1, sr, subtype="FLOAT")
    config = cepstra_loco.FeatureConfig()
    a = cepstra_loco.clip_cepstra(path, config=config)
    b = cepstra_loco.clip_cepstra(str(quiet), config=config)
    for kind in cepstra_loco.KINDS:  # preprocess levels the clip first
        assert np.allclose(a[kind], b[kind], rtol=1e-3, atol=1e-3), kind


def test_functionals_of_a_known_contour():
    frames = np.tile(np.arange(5.0)[:, None], (1, cepstra_loco.N_CEPS))
    x = cepstra_loco.functionals(frames).reshape(2, -1, cepstra_loco.N_CEPS)
    assert np.allclose(x[0, :, 0], [2.0, np.std(np.arange(5.0)), 0.4, 2.0, 3.6])
    assert np.allclose(x[1, :, 0], [1.0, 0.0, 1.0, 1.0, 1.0])  # the differences


@pytest.mark.parametrize(("strict", "speaker_norm", "lead"),
                         [(0.010, 0.010, True), (0.020, 0.009, False),
                          (0.009, 0.050, False)])
def test_the_rule_needs_both_normalisations(strict, speaker_norm, lead):
    def rows(gain):
        sets = {"librosa": {"alpha": 1.0, "inner": 0.4, "held_out": 0.4},
                "librosa + gfcc": {"alpha": 1.0, "inner": 0.5, "held_out": 0.4 + gain}}
        return [{"held_out": c, "trained_on": ["x", "y"], "sets": sets,
                 "chosen": "librosa + gfcc"} for c in ("emovo", "ravdess", "tess")]

    summary = {"results": {"strict": rows(strict), "speaker_norm": rows(speaker_norm)}}
    v = cepstra_loco.verdict(summary)
    assert v["lead"] is lead
    assert v["gain"] == {"strict": pytest.approx(strict), "speaker_norm":
                         pytest.approx(speaker_norm)}


def test_the_committed_report_renders_from_its_summary():
    import json

    from .conftest import ROOT

    out = ROOT / "reports" / "cepstra_loco"
    summary = json.loads((out / "summary.json").read_text())
    assert summary["verdict"] == cepstra_loco.verdict(summary)
    assert cepstra_loco.render(summary) == (out / "report.md").read_text()

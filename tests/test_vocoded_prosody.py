"""experiments/vocoded_prosody.py: the WORLD renderings on a real clip, the voices and the
committed report."""

import json

import numpy as np
import pytest

from ser_classic.data import load_audio

from .conftest import DATA, RAVDESS, ROOT, experiment

vp = experiment("vocoded_prosody")
pyworld = pytest.importorskip("pyworld")


@pytest.fixture(scope="module")
def world():
    path = sorted(p for p in RAVDESS.rglob("*.flac") if p.name.split("-")[2] == "01")[0]
    return vp.analyse(load_audio(path, sr=vp.SR))


def _median_f0(y):
    f0, _ = pyworld.harvest(y.astype(np.float64), vp.SR, frame_period=vp.FRAME_MS)
    return float(np.median(f0[f0 > 0]))


def test_the_neutral_setting_is_the_plain_resynthesis(world):
    assert vp.prosody("neutral") == {"rate": 1.0, "semitones": 0.0, "range": 1.0}
    f0, sp, ap = world
    plain = pyworld.synthesize(f0, sp, ap, vp.SR, frame_period=vp.FRAME_MS)
    np.testing.assert_allclose(vp.render(*world, rate=1.0, semitones=0.0, spread=1.0),
                               plain, atol=1e-6)


def test_rate_pitch_and_warp_move_the_rendering_as_asked(world):
    neutral = vp.render(*world, rate=1.0, semitones=0.0, spread=1.0)
    faster = vp.render(*world, rate=2.0, semitones=0.0, spread=1.0)
    assert faster.size == pytest.approx(neutral.size / 2, rel=0.01)
    octave = vp.render(*world, rate=1.0, semitones=12.0, spread=1.0)
    assert _median_f0(octave) / _median_f0(neutral) == pytest.approx(2.0, rel=0.05)
    warped = vp.render(*world, rate=1.0, semitones=0.0, spread=1.0, warp=vp.WARP)
    assert _median_f0(warped) / _median_f0(neutral) == pytest.approx(vp.WARP, rel=0.03)
    assert not np.allclose(warped[:neutral.size], neutral)
    assert vp.prosody("disgust") == {"rate": 0.4, "semitones": -5.0, "range": 1.15}


def test_ten_voices_of_four_neutral_clips(tmp_path):
    voices = vp.voices(str(tmp_path / "manifest.csv"), str(DATA))  # scans the corpora
    assert [v for v, _, _ in voices][:4] == list(vp.RAVDESS_VOICES)
    assert len(voices) == 10 and all(len(p) == vp.CLIPS_PER_VOICE for _, _, p in voices)
    assert {lang for _, lang, _ in voices} == {"en", "it"}


def test_the_committed_report_renders_from_its_summary():
    summary = json.loads((ROOT / "reports/vocoded_prosody/summary.json").read_text())
    assert vp.render_report(summary) == (ROOT / "reports/vocoded_prosody/report.md"
                                         ).read_text()
    assert set(summary["results"]) == set(vp.MODELS)


def test_a_voice_change_keeps_the_prosody_and_moves_f0_with_the_envelope(world):
    path = sorted(p for p in RAVDESS.rglob("*.flac") if p.name.split("-")[2] == "01")[0]
    plain, up, down = vp._voice_clips(str(path))
    assert vp.VOICE_WARPS[0] == 1.0
    np.testing.assert_array_equal(plain, vp.render(*world, rate=1.0, semitones=0.0,
                                                    spread=1.0))
    assert up.size == down.size == plain.size  # the timing is kept
    for moved, warp in ((up, vp.VOICE_WARPS[1]), (down, vp.VOICE_WARPS[2])):
        assert _median_f0(moved) / _median_f0(plain) == pytest.approx(warp, rel=0.03)


def test_second_takes_pair_each_line_with_its_repetition():
    from loco import load_rows

    rows = load_rows(ROOT / "data/manifest.csv", DATA, ["ravdess"])
    rows = rows[rows["speaker"].isin(vp.RAVDESS_VOICES)].sort_values("path")
    pairs = vp.second_takes(rows)
    assert pairs.shape == (120, 2) and len(np.unique(pairs)) == 240
    a, b = rows.iloc[pairs[:, 0]], rows.iloc[pairs[:, 1]]
    for column in ("speaker", "emotion", "intensity", "statement"):
        assert (a[column].to_numpy() == b[column].to_numpy()).all()
    assert (a["repetition"].astype(int).to_numpy() == 1).all()
    assert (b["repetition"].astype(int).to_numpy() == 2).all()

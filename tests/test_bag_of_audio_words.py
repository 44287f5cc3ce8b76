"""experiments/bag_of_audio_words.py: frames, codebook, histograms and the committed report."""

import json

import numpy as np

from .conftest import RAVDESS, ROOT, experiment

bw = experiment("bag_of_audio_words")


def test_frames_of_a_real_clip_follow_the_shared_preprocessing():
    path = str(next(iter(sorted(RAVDESS.glob("Actor_01/*")))))
    F = bw.clip_frames(path)
    assert F.shape[1] == 40 and F.dtype == np.float32 and np.isfinite(F).all()
    from ser_classic.data import load_audio
    from ser_classic.features import FeatureConfig, preprocess
    kept = preprocess(load_audio(path, sr=16000), config=FeatureConfig()).size
    assert F.shape[0] == 1 + kept // 160  # trimmed: fewer frames than the whole clip
    assert kept < load_audio(path, sr=16000).size


def test_histograms_count_each_frame_for_its_nearest_words():
    centres = np.array([[0.0, 0.0], [10.0, 0.0], [0.0, 10.0], [10.0, 10.0]])
    frames = [np.array([[0.1, 0.2], [9.8, 0.1], [0.3, 0.1]]), np.array([[9.9, 9.7]])]
    H = bw.word_histograms(frames, centres, assigned=1)
    np.testing.assert_allclose(H ** 2, [[2 / 3, 1 / 3, 0, 0], [0, 0, 0, 1]])
    H2 = bw.word_histograms(frames[1:], centres, assigned=2)  # nearest two: 3 and 1 or 2
    assert np.isclose(H2[0, 3] ** 2, 0.5) and np.isclose((H2 ** 2).sum(), 1.0)


def test_codebook_finds_the_clusters():
    rng = np.random.default_rng(0)
    points = np.concatenate([rng.normal(c, 0.1, (500, 2)) for c in (-5.0, 0.0, 5.0)])
    centres = np.sort(bw.codebook(points, words=3)[:, 0])
    np.testing.assert_allclose(centres, [-5, 0, 5], atol=0.05)


def test_the_committed_report_renders_from_its_summary():
    summary = json.loads((ROOT / "reports/bag_of_audio_words/summary.json").read_text())
    assert bw.render(summary) == (ROOT / "reports/bag_of_audio_words/report.md").read_text()
    own = summary["results"].pop(bw.IN_DOMAIN)
    assert set(own) == {"strict", "speaker_norm"}
    assert all(set(v) == {bw.VARIANTS[0], bw.VARIANTS[2]} for v in own.values())
    for per in summary["results"].values():
        assert set(per) == set(bw.CORPORA)
        for held in per.values():
            assert set(held["seeds"]) == {str(seed) for seed in bw.SEEDS}
            for drawn in held["seeds"].values():
                assert drawn["words C"] in bw.WORD_CS
                assert drawn["chosen"] in ("functionals", "functionals + audio words")
                assert set(bw.VARIANTS[1:]) <= set(drawn)

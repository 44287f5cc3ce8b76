"""openSMILE's feature sets on leave-one-corpus-out (experiments/smile_loco.py)."""

import numpy as np
import pandas as pd
import pytest

from .conftest import experiment

smile_loco = experiment("smile_loco")


def test_smile_features_of_real_clips_and_a_failing_file(ravdess_manifest, audio_fixtures):
    rows = ravdess_manifest.head(2)
    sets = smile_loco.smile_features(rows, cache=None, jobs=1)
    assert {n: F.shape for n, F in sets.items()} == {
        "eGeMAPSv02": (2, 88), "ComParE_2016": (2, 6373), "eGeMAPSv02 trimmed": (2, 88)}
    assert all(np.isfinite(F).all() for F in sets.values())
    assert not np.allclose(sets["eGeMAPSv02"], sets["eGeMAPSv02 trimmed"])
    broken = pd.DataFrame({"path": [rows["path"].iloc[0], str(audio_fixtures["notes.wav"])],
                           "sha256": [rows["sha256"].iloc[0], None]})
    with pytest.raises(RuntimeError, match=r"notes\.wav"):
        smile_loco.smile_features(broken, cache=None, jobs=1)


def test_the_inner_criterion_chooses_the_set_whose_meaning_holds_across_corpora():
    rng = np.random.default_rng(0)
    classes, per_speaker = 4, 40
    corpus = np.repeat(["emovo", "ravdess", "tess"], 4 * per_speaker)
    speaker = np.array([f"{c}_{i // per_speaker % 4}" for i, c in enumerate(corpus)])
    y = np.tile(np.arange(classes), corpus.size // classes)
    shift = np.searchsorted(["emovo", "ravdess", "tess"], corpus)  # 0, 1, 2 per corpus
    stable = np.eye(classes)[y] + rng.normal(scale=1.0, size=(y.size, classes))
    flipped = np.eye(classes)[(y + shift) % classes] + rng.normal(scale=0.3,
                                                                 size=(y.size, classes))
    sets = {"eGeMAPSv02": stable, "ComParE_2016": rng.normal(size=(y.size, 6)),
            "eGeMAPSv02 trimmed": rng.normal(size=(y.size, 6))}
    result = smile_loco.run(flipped, y.astype(str), speaker, corpus, sets)
    for norm in ("strict", "speaker_norm"):
        for row in result[norm]:
            assert row["chosen"] == "eGeMAPSv02"
            scores = row["sets"]
            assert scores["eGeMAPSv02"]["held_out"] > scores["librosa"]["held_out"] + 0.3
            assert set(scores["eGeMAPSv02"]["inner_per_alpha"]) == set(smile_loco.ALPHAS)
            assert scores["eGeMAPSv02"]["alpha"] in smile_loco.ALPHAS


def test_report_marks_the_choice_and_the_means():
    def row(held, chosen):
        sets = {n: {"alpha": 1000.0, "inner": 0.5, "held_out": 0.4}
                for n in smile_loco.FEATURE_SETS}
        sets["eGeMAPSv02"] = {"alpha": 10.0, "inner": 0.6, "held_out": 0.5}
        return {"held_out": held, "trained_on": ["x", "y"], "sets": sets, "chosen": chosen}

    rows = [row("emovo", "eGeMAPSv02"), row("tess", "librosa")]
    summary = {"command": "c", "seconds": 1.0, "columns": {"librosa": 3, "eGeMAPSv02": 2},
               "results": {"strict": rows, "speaker_norm": rows}}
    text = smile_loco.render(summary)
    assert "| emovo | x + y | 0.400 (a 1000; 0.500) | **0.500 (a 10; 0.600)** |" in text
    assert "| tess | x + y | **0.400 (a 1000; 0.500)** | 0.500 (a 10; 0.600) |" in text
    assert "mean LOCO UAR **0.450**, against 0.400 for the library's features (+0.050)" in text
    assert "strict eGeMAPSv02 (0.500), speaker_norm eGeMAPSv02 (0.500)" in text

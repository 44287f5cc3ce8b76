"""Held-out-speaker ECE on every inner-fold clip (experiments/speaker_ece.py)."""

import numpy as np

import ser_classic
from ser_classic.features import FeatureConfig, extract_batch
from ser_classic.recognizer import SpeakerStats

from .conftest import experiment

se = experiment("speaker_ece")


def test_the_students_recipe_is_the_stored_students():
    for norm, alias in (("strict", "student"), ("speaker_norm", "student-speaker_norm")):
        card = ser_classic.load(alias).card
        recipe = se.student_recipe(norm)
        assert recipe["calibration"] == card["distillation"]["calibration"]["method"]
        assert recipe["width"] == card["distillation"].get("width")  # None: no width
        assert f"distilled_{recipe['kind']}" == card["name"]


def test_each_speaker_is_normalised_by_its_own_clips(small_manifest, feature_cache):
    rows = small_manifest[small_manifest["speaker"].isin(["ravdess_01", "ravdess_02"])
                          & (small_manifest["emotion"] != "calm")].reset_index(drop=True)
    X, errors, _ = extract_batch(rows["path"], sha256=rows["sha256"], config=FeatureConfig(),
                                 cache_dir=feature_cache)
    assert not errors
    speakers = rows["speaker"].to_numpy()
    rec = ser_classic.load("deployed-speaker_norm")
    P = se.fold_probabilities(rec, X, speakers)
    for spk in ("ravdess_01", "ravdess_02"):  # the library's own path, one voice at a time
        mine = np.flatnonzero(speakers == spk)
        paths = list(rows["path"].iloc[mine])
        voice = rec.enroll(paths)
        np.testing.assert_allclose(P[mine], rec.predict_proba(paths, speaker=voice),
                                   atol=1e-6)
    # normalised by the pooled two voices instead, the probabilities move
    Xm = se.bench.FeatureRows.for_model(rec, X)
    pooled = rec.proba_from_features(Xm, speaker=SpeakerStats.from_features(Xm))
    assert np.abs(pooled - P).max() > 0.05
    strict = ser_classic.load("deployed")
    np.testing.assert_allclose(se.fold_probabilities(strict, X, speakers),
                               strict.predict_proba(list(rows["path"])), atol=1e-6)


def test_report_gives_the_verdict_and_the_calibrated_floor():
    def model(ece):
        return {"accuracy": 0.6, "uar": 0.6, "ece": ece, "confidence": 0.5,
                "fold_ece": [ece + 0.03] * 5, "fold_ece_mean": ece + 0.03}

    result = {"recipe": {"kind": "compact_int8", "width": 1200,
                         "calibration": "corpus_temperature"},
              "calibrations": {"student": "corpus_temperature", "student none": "none"},
              "folds": [["a"], ["b"]], "models": [{"teacher": "t0", "student": "s0"}],
              "reused_folds": 1, "n_clips": 1040,
              "calibrated": {"mean": 0.036, "q95": 0.049},
              "calibrated_per_fold": {"mean": 0.086, "q95": 0.118},
              "teacher": model(0.041), "student": model(0.150), "student none": model(0.2)}
    text = se.render({"command": "c", "seconds": 1.0, "machine": "2 CPUs",
                      "results": {"strict": result}})
    assert ("| strict | teacher | none | 1040 | 0.600 | 0.500 | 0.041 | 0.036 / 0.049 | yes "
            "| 0.071 |") in text
    assert ("| strict | compact_int8 (width 1200, deployed) | corpus_temperature | 1040 |"
            in text)
    assert "| strict | compact_int8 (width 1200) | none | 1040 |" in text
    assert "| 0.150 | 0.036 / 0.049 | **no** | 0.180 |" in text
    assert "1 of 2 folds read every model from the work folder, 1 trained at least one" in text

"""The nested descriptor-group selection (experiments/descriptor_groups.py)."""

import numpy as np

from ser_classic.features import FeatureConfig, feature_names

from .conftest import experiment

groups = experiment("descriptor_groups")


def test_every_default_feature_has_a_group_and_every_group_columns():
    group = groups.descriptor_groups(feature_names(config=FeatureConfig()))
    counts = {g: int((group == g).sum()) for g in groups.GROUPS}
    assert sum(counts.values()) == group.size == 3083
    assert min(counts.values()) > 0
    assert groups.descriptor_groups(["mfcc12_voiced_p50", "f0_mean", "contrast3_min"]).tolist() \
        == ["mfcc", "prosody", "contrast"]


def test_elimination_drops_a_group_whose_meaning_flips_between_corpora():
    rng = np.random.default_rng(0)
    n, classes = 480, 4
    y = np.tile(np.arange(classes), n // classes)
    corpus = np.repeat(["a", "b"], n // 2)
    speaker = np.array([f"{c}_{i // classes % 4}" for i, c in enumerate(corpus)])
    stable = np.eye(classes)[y] + rng.normal(scale=1.5, size=(n, classes))
    meaning = np.where(corpus == "a", y, (y + 1) % classes)  # another class in corpus b
    flipped = np.eye(classes)[meaning] + rng.normal(scale=0.3, size=(n, classes))
    X = np.hstack([stable, flipped])
    group = np.array(["mfcc"] * classes + ["chroma"] * classes)
    kept, steps = groups.backward_elimination(X, y.astype(str), speaker, corpus, group,
                                              min_gain=0.005)
    assert kept == ["mfcc"]
    assert steps[1]["dropped"] == "chroma" and steps[1]["inner"] > steps[0]["inner"]
    assert set(steps[0]["candidates"]) == {"mfcc", "chroma"}


def test_report_shows_the_refused_removal_and_the_verdict():
    def row(held, steps, chosen):
        return {"held_out": held, "trained_on": ["x", "y"], "kept": ["mfcc"], "steps": steps,
                "all": {"ridge": 0.4, "logreg": 0.4}, "chosen": {"ridge": chosen, "logreg": chosen}}

    refused = [{"dropped": None, "inner": 0.5, "candidates": {"mfcc": 0.49, "chroma": 0.503}}]
    to_one = [{"dropped": None, "inner": 0.5, "candidates": {"mfcc": 0.4, "chroma": 0.6}},
              {"dropped": "chroma", "inner": 0.6}]
    diagnostic = {g: {c: 0.4 for c in ("emovo", "ravdess", "tess")} for g in ("none", "mfcc")}
    summary = {"command": "c", "seconds": 1.0, "columns": {"mfcc": 2, "chroma": 2},
               "results": {norm: {"rows": [row("emovo", refused, 0.4),
                                           row("tess", to_one, 0.46)],
                                  "diagnostic": diagnostic}
                           for norm in ("strict", "speaker_norm")}}
    text = groups.render(summary)
    assert "| emovo | x + y | none (0.500 -> 0.500) | chroma (+0.003) |" in text
    assert "| tess | x + y | chroma (0.500 -> 0.600) | - | 0.400 -> 0.460 |" in text
    assert "strict +0.030, speaker_norm +0.030" in text
    assert "raises the mean LOCO UAR by a point or more for both" in text

"""Arousal from the emotion probabilities (experiments/arousal.py)."""

import numpy as np

from .conftest import experiment

arousal = experiment("arousal")

CLASSES = np.array(["angry", "disgust", "fearful", "happy", "neutral", "sad", "surprised"])


def _group_proba(proba, high):
    return proba[:, np.isin(CLASSES, list(high))].sum(axis=1)


def test_groupings_put_disgust_low_or_high():
    low, high = arousal.GROUPINGS["disgust low"], arousal.GROUPINGS["disgust high"]
    assert high - low == {"disgust"} and not {"neutral", "sad"} & high
    assert low == set(arousal.HIGH) and set(arousal.HIGH) <= set(CLASSES)


def test_arousal_first_is_a_distribution_that_follows_the_group_probability():
    high = arousal.GROUPINGS["disgust low"]
    high_classes = np.array(sorted(high))
    low_classes = np.array(sorted(set(CLASSES) - high))
    within = {True: (high_classes, np.tile([0.7, 0.1, 0.1, 0.1], (2, 1))),
              False: (low_classes, np.tile([0.2, 0.2, 0.6], (2, 1)))}
    out = arousal.arousal_first(np.array([0.9, 0.2]), within, CLASSES)
    np.testing.assert_allclose(out.sum(axis=1), 1.0)
    np.testing.assert_allclose(_group_proba(out, high), [0.9, 0.2])
    assert list(CLASSES[out.argmax(axis=1)]) == ["angry", "sad"]


def test_scores_on_separable_arousal_and_the_report():
    rng = np.random.default_rng(0)
    y = np.repeat(CLASSES, 12)
    X = rng.normal(size=(y.size, 3))
    X[:, 0] += np.where(np.isin(y, list(arousal.HIGH)), 4.0, -4.0)  # arousal only
    train, test = np.arange(0, y.size, 2), np.arange(1, y.size, 2)
    s = arousal.scores(X, y, train, test)["disgust low"]
    assert s["arousal model"] == 1.0 and s["arousal of the emotion model"] == 1.0
    assert s["emotion"] < 0.5  # the emotion within a group is noise here
    per = {c: s for c in (*arousal.CORPORA, "loco mean", "group6")}
    results = {"strict": {"disgust low": per}, "speaker_norm": {"disgust low": per},
               "folds": {".cache/models/ab-x": {}}}
    report = arousal.render({"command": "c", "seconds": 1.0, "results": results})
    assert "| disgust low | arousal model | 1.000 | 1.000 | 1.000 | 1.000 | 1.000 |" in report
    assert "## The A/B models of `.cache/models/ab-x`\n\nNot made" in report


def test_fold_scores_read_each_folds_models_on_its_held_out_corpus(fold_corpora, tmp_path):
    """The shipped teacher and student as the models of three folds whose held-out
    corpora are actors of RAVDESS (they were trained on them: the figures are high)."""
    import ser_classic
    from ser_classic.artifact import copy_artifact
    from ser_classic.store import resolve

    rows, X = fold_corpora
    for corpus in arousal.CORPORA:
        copy_artifact(resolve("teacher"), tmp_path / corpus / "teacher")
        copy_artifact(resolve("deployed"), tmp_path / corpus / "logit_int8")
    out = arousal.fold_scores(X, rows, tmp_path)
    assert set(out) == {"teacher", "logit_int8"}
    student = ser_classic.load("deployed")
    top = np.asarray(student.classes_)[student.proba_from_features(X).argmax(axis=1)]
    y = rows["emotion"].to_numpy()
    tess = (rows["corpus"] == "tess").to_numpy()
    entry = out["logit_int8"]
    assert entry["tess"]["emotion"] == arousal.uar(y[tess], top[tess]) > 0.8
    high = list(arousal.GROUPINGS["disgust low"])
    assert entry["tess"]["arousal (disgust low)"] == arousal.uar(np.isin(y[tess], high),
                                                                np.isin(top[tess], high))
    from ser_classic.evaluation import expected_calibration_error

    p_high = student.proba_from_features(X, groups="arousal")[:, 0]  # the library's
    truth = np.isin(y[tess], high)
    assert entry["tess"]["p(group) arousal (disgust low)"] == arousal.uar(truth,
                                                                         p_high[tess] > 0.5)
    assert np.isclose(entry["tess"]["p(group) ECE (disgust low)"], expected_calibration_error(
        truth.astype(int), np.c_[1 - p_high[tess], p_high[tess]]), atol=1e-5)
    assert entry["mean"]["emotion"] == np.mean([entry[c]["emotion"] for c in arousal.CORPORA])
    assert set(entry["models"].values()) == {student.model_id}
    assert arousal.fold_scores(X, rows, tmp_path / "absent") == {}


def test_conditions_read_the_librarys_groups_under_each_transform(small_manifest,
                                                                   feature_cache,
                                                                   ravdess_manifest):
    """``bench_conditions.run_conditions(groups=)`` on a tiny model and six clips of an
    actor it was not trained on: the group probabilities are the library's, scored
    against each clip's group; the emotion columns stay as they were."""
    import ser_classic

    from .deploy_models import tiny_model

    bench = experiment("bench_conditions")
    model = tiny_model(small_manifest, feature_cache)
    records = ravdess_manifest[ravdess_manifest["speaker"] == "ravdess_10"].iloc[::10][
        ["path", "emotion", "speaker"]].to_dict("records")
    transforms = {"clean": lambda y, rng: (y, 16000), "-20 dB": lambda y, rng: (0.1 * y, 16000)}
    out = bench.run_conditions({"strict": {"teacher": model}}, records,
                               talker_rows=records[:2], seed=0, transforms=transforms,
                               groups=ser_classic.Grouping.AROUSAL)
    rec = ser_classic.load(model)
    paths = [str(r["path"]) for r in records]
    grouped = out["proba"]["clean"]["strict teacher (arousal)"]
    np.testing.assert_allclose(grouped, rec.predict_proba(paths, groups="arousal"), atol=1e-5)
    np.testing.assert_allclose(out["proba"]["clean"]["strict teacher"],
                               rec.predict_proba(paths), atol=1e-5)
    truth = np.where(np.isin([r["emotion"] for r in records], arousal.HIGH), "high", "low")
    hits = np.array(["high", "low"])[grouped.argmax(axis=1)] == truth
    assert out["conditions"]["clean"]["strict teacher (arousal)"]["accuracy"] == hits.mean()
    assert set(out["conditions"]["-20 dB"]) == {"strict teacher", "strict teacher (arousal)"}


def test_the_conditions_section_and_its_plot(tmp_path):
    cell = {"accuracy": 0.5, "uar": 0.8, "ece": 0.1}
    columns = [c for pair in arousal.CONDITION_COLUMNS.values() for c in pair]
    cond = {"n_clips": 208, "models": {c: "m" for c in columns},
            "conditions": {name: {f"{c} {view}": cell for c in columns
                                  for view in ("emotion", "arousal")}
                           for name in ("clean", "white 20 dB")}}
    lines = "\n".join(arousal.conditions_md(cond))
    assert "| **mean of the degraded** | 0.500 / 0.100 | 0.800 / 0.100 |" in lines
    assert arousal.conditions_md(None) == []
    path = arousal.plot_conditions(cond, tmp_path / "conditions.png")
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"

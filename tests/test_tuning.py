"""Parameters chosen on a model's own training corpora (``tune``): the inner folds, the
mean of the speaker- and corpus-grouped scores, and the trained model through the API and
the CLI. Real clips: four RAVDESS actors and a TESS subset."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from threadpoolctl import threadpool_limits

import ser_classic
from ser_classic import cli, data
from ser_classic.errors import ParameterError
from ser_classic.evaluation import TUNINGS, classification_metrics, tune_params
from ser_classic.features import FeatureConfig, extract_batch
from ser_classic.models import MODELS, build_model


@pytest.fixture(scope="module")
def two_corpora(small_manifest, tess_manifest) -> pd.DataFrame:
    """RAVDESS actors 01-04 without calm and 6 clips per TESS speaker and emotion."""
    tess = tess_manifest.sort_values("path").groupby(["speaker", "emotion"]).head(6)
    ravdess = small_manifest[small_manifest["emotion"] != "calm"]
    return pd.concat([ravdess, tess], ignore_index=True)


@pytest.fixture(scope="module")
def features(two_corpora, feature_cache):
    X, errors, _ = extract_batch(two_corpora["path"], sha256=two_corpora["sha256"],
                                 config=FeatureConfig(), cache_dir=feature_cache)
    assert not errors
    classes = sorted(set(two_corpora["emotion"]))
    return (X[:, ::4], np.searchsorted(classes, two_corpora["emotion"]),
            two_corpora["speaker"].to_numpy(), two_corpora["corpus"].to_numpy())


def test_corpus_tuning_holds_out_each_training_corpus(features):
    """tune="corpus": every grid point scored by fitting on one corpus and scoring UAR on
    the other, averaged; "speaker+corpus" takes the argmax of the mean of both CVs."""
    X, y, speakers, corpora = features
    kw = dict(speakers=speakers, corpora=corpora, n_classes=7)
    params, scores = tune_params("ridge", X, y, tune="corpus", **kw)
    grid = MODELS["ridge"].param_grid()
    expected, spread = [], []
    for point in grid:
        uars = []
        for held in ("ravdess", "tess"):
            est = build_model("ridge", params={**point, **MODELS["ridge"].fast_params})
            est.fit(X[corpora != held].astype(np.float32), y[corpora != held])
            pred = est.predict(X[corpora == held].astype(np.float32))
            uars.append(classification_metrics(y[corpora == held], pred, n_classes=7)["uar"])
        expected.append(np.mean(uars))
        spread.append(abs(uars[0] - uars[1]) / 2)  # the standard error of a mean of two
    assert scores["ridge"]["corpus"] == pytest.approx(expected, abs=1e-9)
    assert scores["ridge"]["se"] == pytest.approx(spread, abs=1e-9)
    assert params == grid[int(np.argmax(expected))]

    both, both_scores = tune_params("linear", X, y, tune="speaker+corpus", **kw)
    assert set(both) == {"ridge", "logreg"}
    for member in ("ridge", "logreg"):
        s = both_scores[member]
        assert len(s["speaker"]) == len(s["corpus"]) == len(s["grid"]) == 3
        mean = (np.asarray(s["speaker"]) + np.asarray(s["corpus"])) / 2
        assert both[member] == s["grid"][int(np.argmax(mean))]
    assert both_scores["ridge"]["corpus"] == scores["ridge"]["corpus"]

    one = corpora == "ravdess"
    with pytest.raises(ParameterError, match="at least two training corpora"):
        tune_params("ridge", X[one], y[one], speakers=speakers[one], corpora=corpora[one],
                    tune="corpus")
    with pytest.raises(ParameterError, match="tune must be one of"):
        tune_params("ridge", X, y, tune="fold", **kw)
    assert TUNINGS == ("speaker", "corpus", "speaker+corpus")


def test_one_se_rule_takes_the_most_regularised_point_within_one_standard_error(features):
    """rule="one_se": the standard error is over the inner folds (each grouping's, combined
    as their mean is), and the most regularised point within one of the best is chosen:
    logreg's smallest C, ridge's largest alpha, when all are within reach."""
    from ser_classic.evaluation import TUNING_RULES, _rule_choice

    assert _rule_choice(np.array([0.50, 0.52, 0.51]), np.array([0.0, 0.03, 0.0]),
                        rule="one_se", simplest_first=True) == 0
    assert _rule_choice(np.array([0.50, 0.52, 0.51]), np.array([0.0, 0.015, 0.0]),
                        rule="one_se", simplest_first=False) == 2
    assert _rule_choice(np.array([0.50, 0.52, 0.51]), np.array([0.0, 0.005, 0.0]),
                        rule="one_se", simplest_first=True) == 1
    assert _rule_choice(np.array([0.50, 0.52, 0.51]), np.array([0.0, 0.03, 0.0]),
                        rule="best", simplest_first=True) == 1
    assert TUNING_RULES == ("best", "one_se")
    assert not MODELS["ridge"].simplest_first and MODELS["logreg"].simplest_first

    X, y, speakers, corpora = features
    kw = dict(speakers=speakers, corpora=corpora, n_classes=7, tune="speaker+corpus")
    best, scores = tune_params("linear", X, y, **kw)
    one_se, same_scores = tune_params("linear", X, y, rule="one_se", **kw)
    assert same_scores == scores
    for member in ("ridge", "logreg"):
        s = scores[member]
        mean = (np.asarray(s["speaker"]) + np.asarray(s["corpus"])) / 2
        top = int(np.argmax(mean))
        assert 0 < s["se"][top] < 0.5
        within = [i for i in range(3) if mean[i] >= mean[top] - s["se"][top]]
        pick = min(within) if member == "logreg" else max(within)
        assert one_se[member] == s["grid"][pick] and best[member] == s["grid"][top]
    with pytest.raises(ParameterError, match="rule must be one of"):
        tune_params("ridge", X, y, rule="simplest", **kw)


def test_logreg_scores_follow_the_warm_path_and_parallel_jobs_agree(features):
    """Logistic regression's grid points are scored along the C path (each fit started at
    the previous C's solution, tolerance ``fast_params``), on one BLAS thread; inner folds
    as parallel jobs score the same."""
    X, y, speakers, corpora = features
    kw = dict(speakers=speakers, corpora=corpora, n_classes=7)
    _, scores = tune_params("logreg", X, y, tune="corpus", **kw)
    assert MODELS["logreg"].fast_params["clf__warm_start"]
    grid = MODELS["logreg"].param_grid()
    uars = np.zeros(len(grid))
    with threadpool_limits(limits=1, user_api="blas"):
        for held in ("ravdess", "tess"):
            tr, va = corpora != held, corpora == held
            est = build_model("logreg", params={**grid[0], **MODELS["logreg"].fast_params})
            for i, point in enumerate(grid):
                est.set_params(**point).fit(X[tr].astype(np.float32), y[tr])
                pred = est.predict(X[va].astype(np.float32))
                uars[i] += classification_metrics(y[va], pred, n_classes=7)["uar"] / 2
    assert scores["logreg"]["corpus"] == pytest.approx(uars.tolist(), abs=1e-9)

    both = [tune_params("linear", X, y, tune="speaker+corpus", n_jobs=n, **kw)
            for n in (1, 2)]
    assert both[0] == both[1]


def test_train_with_tune_records_the_choice_and_the_cli_agrees(two_corpora, feature_cache,
                                                               tmp_path):
    common = dict(model="logreg", augment="none", corpora=["ravdess", "tess"],
                  cache_dir=feature_cache, n_jobs=1, typicality=False)
    trained = ser_classic.train(two_corpora, tune="speaker+corpus", **common)
    source = trained.training["params_source"]
    assert source["tuned"] == "speaker+corpus" and source["corpora"] == ["ravdess", "tess"]
    s = source["inner_scores"]["logreg"]
    mean = (np.asarray(s["speaker"]) + np.asarray(s["corpus"])) / 2
    assert trained.training["params"] == s["grid"][int(np.argmax(mean))]
    with pytest.raises(ParameterError, match="params or tune"):
        ser_classic.train(two_corpora, tune="corpus", params={"clf__C": 0.01}, **common)
    with pytest.raises(ParameterError, match="tune must be one of"):
        ser_classic.train(two_corpora, tune="loso", **common)

    manifest_csv = tmp_path / "manifest.csv"
    data.save_manifest(two_corpora, manifest_csv)
    assert cli.main(["train", "--model", "logreg", "--tune", "speaker+corpus",
                     "--manifest", str(manifest_csv), "--corpora", "ravdess,tess",
                     "--augment", "none", "--cache", str(feature_cache), "--jobs", "1",
                     "--out", str(tmp_path / "cli")]) == 0
    card = json.loads((tmp_path / "cli" / "model.json").read_text())
    assert card["training"]["params"] == trained.training["params"]
    assert card["training"]["params_source"]["inner_scores"] == json.loads(
        json.dumps(source["inner_scores"]))
    assert "rule" not in source  # the default rule leaves the card as it was

    # the one-standard-error rule: the smallest C within one SE of the best, API and CLI
    simple = ser_classic.train(two_corpora, tune="speaker+corpus", tune_rule="one_se",
                               **common)
    s_source = simple.training["params_source"]
    assert s_source["rule"] == "one_se" and s_source["inner_scores"] == source["inner_scores"]
    top = int(np.argmax(mean))
    pick = min(i for i in range(len(mean)) if mean[i] >= mean[top] - s["se"][top])
    assert simple.training["params"] == s["grid"][pick]
    with pytest.raises(ParameterError, match="tune_rule is for tune"):
        ser_classic.train(two_corpora, tune_rule="one_se", **common)
    with pytest.raises(ParameterError, match="tune_rule must be one of"):
        ser_classic.train(two_corpora, tune="corpus", tune_rule="simplest", **common)
    assert cli.main(["train", "--model", "logreg", "--tune", "speaker+corpus",
                     "--tune-rule", "one_se", "--manifest", str(manifest_csv),
                     "--corpora", "ravdess,tess", "--augment", "none", "--cache",
                     str(feature_cache), "--jobs", "1", "--out", str(tmp_path / "cli1")]) == 0
    card = json.loads((tmp_path / "cli1" / "model.json").read_text())
    assert card["training"]["params"] == simple.training["params"]
    assert card["training"]["params_source"]["rule"] == "one_se"


def test_tuning_rule_report_renders_from_its_summary():
    """reports/tuning_rule: the committed report is its summary rendered, and each
    normalisation's verdict follows the rule fixed before the run."""
    from pathlib import Path

    from .conftest import experiment

    script = experiment("tuning_rule")
    folder = Path(__file__).resolve().parents[1] / "reports" / "tuning_rule"
    summary = json.loads((folder / "summary.json").read_text())
    text = script.render(summary)
    assert text == (folder / "report.md").read_text()
    for norm, res in summary["results"].items():
        d_loco = res["one_se"]["loco_mean_uar"] - res["best"]["loco_mean_uar"]
        d_cv = res["one_se"]["cv_uar"] - res["best"]["cv_uar"]
        lead = d_loco >= 0.010 and d_cv >= -0.010
        section = text.split(f"## {norm}")[1].split("## ")[0]
        assert ("**a lead**" in section) == lead
        for f in res["loco"].values():
            assert set(f["scores"]) == {"ridge", "logreg"} and f["n"] > 0

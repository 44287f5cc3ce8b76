"""Training with ``balance_corpora``: a few labelled clips of a new corpus repeated so that
they weigh as much as the large corpus (real RAVDESS and EMOVO clips)."""

import numpy as np
import pandas as pd
import pytest

from ser_classic import cli, data, pipeline
from ser_classic.artifact import load_artifact
from ser_classic.features import FeatureConfig, extract_batch

from .conftest import DATA


@pytest.fixture(scope="module")
def with_shots(small_manifest) -> pd.DataFrame:
    """RAVDESS actors 1-4 without calm (208 clips) and 2 clips of every emotion of EMOVO's
    speaker f1 (14 clips)."""
    emovo = data.build_manifest(data.scan_emovo(DATA / "emovo"))
    shots = emovo[emovo["speaker"] == "emovo_f1"].sort_values("path").groupby("emotion").head(2)
    ravdess = small_manifest[small_manifest["emotion"] != "calm"]
    return pd.concat([ravdess, shots], ignore_index=True)


def test_repeats_give_every_corpus_about_the_largest_count():
    assert pipeline.corpus_repeats(["a"] * 224 + ["b"] * 14) == {"a": 1, "b": 16}
    assert pipeline.corpus_repeats(["a"] * 10 + ["b"] * 9) == {"a": 1, "b": 1}
    assert pipeline.corpus_repeats(["a"] * 5) == {"a": 1}


def test_balanced_training_is_the_plain_recipe_on_repeated_clips(with_shots, feature_cache,
                                                                 tmp_path):
    kw = dict(model="logreg", corpora=["emovo", "ravdess"], augment="none",
              typicality=False, cache_dir=feature_cache)
    balanced = pipeline.train(with_shots, balance_corpora=True, **kw)
    plain = pipeline.train(with_shots, **kw)
    assert balanced.training["corpus_repeats"] == {"emovo": 15, "ravdess": 1}
    assert "corpus_repeats" not in plain.training
    assert balanced.training["n_clips"] == plain.training["n_clips"] == 222
    assert balanced.training["clips_per_corpus"] == {"emovo": 14, "ravdess": 208}

    # the same fit as the plain recipe given every EMOVO clip 15 times
    is_shot = (with_shots["corpus"] == "emovo").to_numpy()
    repeated = pd.concat([with_shots[~is_shot]] + [with_shots[is_shot]] * 15,
                         ignore_index=True)
    by_hand = pipeline.train(repeated, **kw)
    X, _, _ = extract_batch(with_shots["path"], sha256=with_shots["sha256"],
                            config=FeatureConfig(), cache_dir=feature_cache)
    np.testing.assert_allclose(balanced.estimator.predict_proba(X),
                               by_hand.estimator.predict_proba(X), rtol=1e-9, atol=1e-12)
    # and the shots count: their own labels are likelier than in the plain model
    codes = np.searchsorted(balanced.classes, with_shots["emotion"][is_shot])
    p_balanced = balanced.estimator.predict_proba(X[is_shot])[np.arange(14), codes]
    p_plain = plain.estimator.predict_proba(X[is_shot])[np.arange(14), codes]
    assert p_balanced.mean() > p_plain.mean() + 0.1

    # a student distils from the rows its teacher fitted: each shot 15 times
    balanced.save(tmp_path / "teacher")
    rows = pipeline.teacher_training_data(load_artifact(tmp_path / "teacher"), with_shots,
                                          copies=0, cache_dir=feature_cache).rows
    assert rows["corpus"].value_counts().to_dict() == {"emovo": 210, "ravdess": 208}


def test_cli_train_balance_corpora(with_shots, feature_cache, tmp_path):
    manifest = tmp_path / "manifest.csv"
    data.save_manifest(with_shots, manifest)
    args = ["train", "--manifest", str(manifest), "--cache", str(feature_cache), "--model",
            "ridge", "--corpora", "ravdess,emovo", "--augment", "none"]
    assert cli.main([*args, "--balance-corpora", "--out", str(tmp_path / "m")]) == 0
    card = load_artifact(tmp_path / "m").card
    assert card["training"]["corpus_repeats"] == {"emovo": 15, "ravdess": 1}
    assert card["training"]["clips_per_corpus"] == {"emovo": 14, "ravdess": 208}

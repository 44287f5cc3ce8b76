from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("opensmile")

from ser_classic.data import load_audio
from ser_classic.errors import ParameterError
from ser_classic.smile import (
    SmileFeatureSet,
    extract_smile_batch,
    smile_cache_tag,
    smile_feature_names,
    smile_features,
)

from .conftest import RAVDESS

CLIPS = [RAVDESS / "Actor_01" / "03-01-05-02-01-01-01.flac",
         RAVDESS / "Actor_02" / "03-01-04-01-02-02-02.flac"]


def test_feature_names():
    egemaps = smile_feature_names(SmileFeatureSet.eGeMAPSv02)
    assert len(egemaps) == 88 and egemaps[0].startswith("F0semitone")
    assert smile_feature_names("ComParE_2016")[:1] == ["audspec_lengthL1norm_sma_range"]
    assert len(smile_feature_names(SmileFeatureSet.ComParE_2016)) == 6373
    with pytest.raises(ParameterError, match="eGeMAPSv02"):
        smile_feature_names("GeMAPSv99")


def test_batch_cache_and_errors(tmp_path, audio_fixtures):
    broken = [audio_fixtures["notes.wav"], audio_fixtures["empty.wav"]]
    paths = [*CLIPS, audio_fixtures["03-01-05-02-01-01-07.wav"], *broken]  # + 48 kHz WAV
    cache = tmp_path / "smile"
    X, errors, n = extract_smile_batch(paths, feature_set="eGeMAPSv02", cache_dir=cache)
    assert X.shape == (5, 88) and n == 3
    assert np.all(np.isfinite(X[:3])) and np.all(np.isnan(X[3:]))
    assert [e[0] for e in errors] == [str(p) for p in broken]
    assert all(problem for _, problem in errors)
    # second run: everything from the cache, same values
    X2, errors2, n2 = extract_smile_batch(paths, feature_set=SmileFeatureSet.eGeMAPSv02,
                                          cache_dir=cache)
    assert n2 == 0 and len(errors2) == 2
    np.testing.assert_array_equal(X2[:3], X[:3])
    # another feature set misses the cache
    Xc, _, nc = extract_smile_batch(CLIPS[:1], feature_set="ComParE_2016", cache_dir=cache)
    assert Xc.shape == (1, 6373) and nc == 1 and np.all(np.isfinite(Xc))
    assert len(list(cache.rglob("*.npy"))) == 4


def test_waveform_path_matches_batch():
    X, errors, _ = extract_smile_batch(CLIPS[:1], feature_set="eGeMAPSv02")
    assert not errors
    x = smile_features(load_audio(CLIPS[0]), feature_set="eGeMAPSv02")
    assert x.dtype == np.float64
    np.testing.assert_array_equal(x, X[0])


def test_cache_tag_names_everything():
    tag = smile_cache_tag("eGeMAPSv02")
    assert "eGeMAPSv02" in tag and "opensmile-" in tag and "sr16000" in tag
    assert tag != smile_cache_tag("eGeMAPSv02", trim_top_db=40.0)
    assert tag != smile_cache_tag("ComParE_2016")

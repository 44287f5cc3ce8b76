"""The `crops` augmentation: each copy a random span of the clip's speech
(AugmentConfig.crop_s, features.speech_crop)."""

import numpy as np
import pytest

from ser_classic.augment import AugmentConfig
from ser_classic.data import load_audio
from ser_classic.errors import ParameterError
from ser_classic.features import (
    FeatureConfig,
    _kept_spans,
    augmented_features,
    extract_features,
    speech_crop,
)
from ser_classic.pipeline import AUGMENT_VARIANTS

from .conftest import RAVDESS

CONFIG = FeatureConfig()


@pytest.fixture(scope="module")
def clip() -> np.ndarray:
    return load_audio(sorted(RAVDESS.rglob("*.flac"))[3], sr=CONFIG.sample_rate)


def _speech(y: np.ndarray) -> tuple[int, int]:  # preprocess's trim decision
    s0, _, start, stop, _ = _kept_spans(np.asarray(y, dtype=np.float64), CONFIG)
    return s0 + start, s0 + stop


def test_a_crop_is_a_span_of_the_speech_of_a_drawn_length(clip):
    begin, end = _speech(clip)
    assert begin > 0 and end < clip.size  # RAVDESS clips open and close with silence
    rng = np.random.default_rng(0)
    for _ in range(20):
        crop = speech_crop(clip, rng=rng, seconds=(0.5, 1.0), config=CONFIG)
        assert 0.5 * CONFIG.sample_rate <= crop.size <= 1.0 * CONFIG.sample_rate
        first = (crop.__array_interface__["data"][0]
                 - clip.__array_interface__["data"][0]) // clip.itemsize
        assert begin <= first and first + crop.size <= end
    again = speech_crop(clip, rng=np.random.default_rng(0), seconds=(0.5, 1.0), config=CONFIG)
    first = speech_crop(clip, rng=np.random.default_rng(0), seconds=(0.5, 1.0), config=CONFIG)
    np.testing.assert_array_equal(again, first)


def test_speech_shorter_than_the_crop_is_kept_whole(clip):
    begin, end = _speech(clip)
    crop = speech_crop(clip, rng=np.random.default_rng(1), seconds=(30.0, 40.0), config=CONFIG)
    np.testing.assert_array_equal(crop, clip[begin:end])


def test_crop_s_is_validated_and_hashed_only_when_set():
    with pytest.raises(ParameterError, match="crop_s"):
        AugmentConfig(crop_s=(0.0, 1.0))
    with pytest.raises(ParameterError, match="crop_s"):
        AugmentConfig(crop_s=(2.0, 1.0))
    assert AugmentConfig(crop_s=(0.5, 2.0)).hash != AugmentConfig().hash
    assert AugmentConfig(crop_s=(0.5, 2.0)).hash != AugmentConfig(crop_s=(0.5, 1.5)).hash


def test_a_crop_copy_has_the_features_of_the_crop_as_an_input(clip):
    augment = AugmentConfig(n_copies=1, **AUGMENT_VARIANTS["crops"])
    copy = augmented_features(clip, config=CONFIG, augment=augment,
                              rng=np.random.default_rng(5))
    crop = speech_crop(clip, rng=np.random.default_rng(5), seconds=augment.crop_s,
                       config=CONFIG)
    # the same features but for float32 rounding in the augmentation's spectrogram path
    np.testing.assert_allclose(copy, extract_features(crop, config=CONFIG), rtol=1e-4,
                               atol=1e-5)
    assert not np.allclose(copy, extract_features(clip, config=CONFIG))


def test_the_crops_union_adds_a_copy_to_the_deployed_preset():
    deployed = AUGMENT_VARIANTS["vtlp_eq+conditions_eq+pitch_eq"]["union"]
    union = AUGMENT_VARIANTS["vtlp_eq+conditions_eq+pitch_eq+crops"]["union"]
    assert union == (*deployed, "crops")  # the deployed copies keep their cache keys


def test_a_model_trained_with_crops_records_them_and_its_copies_are_crops(small_manifest,
                                                                          feature_cache):
    from ser_classic import pipeline
    from ser_classic.features import feature_names

    rows = small_manifest[small_manifest["speaker"] == "ravdess_01"].reset_index(drop=True)
    kw = dict(corpora="ravdess", augment="crops", copies=1, cache_dir=feature_cache)
    feats = pipeline.training_features(rows, **kw)
    (copies,) = feats.X_aug
    assert copies.shape == feats.X.shape and np.isfinite(copies).all()
    duration = feature_names(config=CONFIG).index("duration")  # of the preprocessed input
    whole, cropped = feats.X[:, duration], copies[:, duration]
    assert np.all(cropped <= np.minimum(whole, 2.0) + 0.02)
    assert np.mean(cropped < whole - 0.1) > 0.5  # most RAVDESS sentences last over 2 s
    trained = pipeline.train(rows, model="ridge", params={"clf__alpha": 3000.0},
                             typicality=False, **kw)
    assert trained.training["augment"]["variant"] == "crops"
    assert list(trained.training["augment"]["crop_s"]) == [0.5, 2.0]
    assert trained.training["augment"]["copies"] == 1

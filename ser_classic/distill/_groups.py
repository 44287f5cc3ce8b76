"""Descriptor groups of the feature columns: which group each column belongs to, which
groups a set of columns needs computed, and what each group costs to extract."""

from __future__ import annotations

import time
from collections.abc import Sequence

import numpy as np

from ..errors import ParameterError
from ..features import FeatureConfig, feature_names

__all__ = ["CHEAP_GROUPS", "feature_groups", "groups_needed", "measure_group_costs"]

#: Groups a student reads by default: the STFT is always computed, but the
#: autocorrelation pitch track, the spectral-shape group or the extended descriptors cost
#: several times more.
CHEAP_GROUPS = ("mel", "mfcc", "energy", "chroma", "contrast")


def feature_groups(*, config: FeatureConfig) -> np.ndarray:
    """Descriptor group of every feature column.

    Returns
    -------
    groups : np.ndarray [shape=(n_features,), dtype=str]
        One of mfcc, mel, chroma, contrast, spectral, energy, voicing, pitch, utterance.
    """
    from ..features import _name_table  # the extractor's own name -> (group, ...) table

    where = _name_table(config)[1]
    return np.array([where[n][0] for n in feature_names(config=config)])


def groups_needed(columns: Sequence[int], *, config: FeatureConfig) -> list[str]:
    """Sorted descriptor groups that the feature ``columns`` need computed."""
    groups = feature_groups(config=config)
    return sorted({str(groups[i]) for i in np.asarray(columns, dtype=int)})


def measure_group_costs(waveforms: Sequence[np.ndarray], *, config: FeatureConfig,
                        repeats: int = 3) -> dict:
    """Time of the feature extraction per clip: the floor and each group's increment.

    Parameters
    ----------
    waveforms : sequence of np.ndarray [shape=(n,)] at ``config.sample_rate``
    repeats : int
        The best of ``repeats`` passes is kept (least disturbed by other processes).

    Returns
    -------
    costs : dict
        ``floor_ms`` (preprocessing + STFT), ``full_ms`` (all features) and ``groups``:
        group -> extra milliseconds per clip of computing that group alone.
    """
    from ..augment import spectrogram
    from ..features import extract_features, preprocess

    if not waveforms:
        raise ParameterError("measure_group_costs needs at least one waveform")
    names = feature_names(config=config)
    groups = feature_groups(config=config)

    def best(fn) -> float:
        times = []
        for _ in range(repeats):
            start = time.perf_counter()
            for y in waveforms:
                fn(y)
            times.append((time.perf_counter() - start) / len(waveforms))
        return 1e3 * min(times)

    floor = best(lambda y: spectrogram(preprocess(y, config=config), n_fft=config.n_fft,
                                       win_length=config.win_length,
                                       hop_length=config.hop_length))
    full = best(lambda y: extract_features(y, config=config))
    out = {}
    for g in dict.fromkeys(groups.tolist()):
        sel = [names[i] for i in np.flatnonzero(groups == g)]
        out[g] = max(0.0, best(lambda y, s=sel: extract_features(y, config=config,
                                                                  select=s)) - floor)
    return {"floor_ms": floor, "full_ms": full, "groups": out}

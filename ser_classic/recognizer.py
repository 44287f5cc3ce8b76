"""Inference: ``load(path) -> EmotionRecognizer``; predictions and discriminator penalties.

Inputs are file paths or waveforms at any sample rate: a path or a 1-D array is one clip
(results without the batch axis); a list of them, or a 2-D array of shape
``(n_clips, n_samples)``, is a batch. Features are computed exactly as in training
(:func:`ser_classic.features.extract_features`), then, for a speaker-normalised model,
z-scored with the speaker's statistics, then fed to scikit-learn or ONNX Runtime; for a
model that stores the typicality of its training rows, the probabilities of atypical
clips (noise, music, anything unlike its training speech) are then shrunk towards
uniform, and each clip's ``atypicality`` / ``atypical`` flag is reported
(:mod:`ser_classic.typicality`).
"""

from __future__ import annotations

import json
import math
import numbers
import os
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from itertools import pairwise

import numpy as np

from ._vocabulary import Groups, Normalization, group_targets, resolve_groups
from .artifact import Artifact, load_artifact
from .data import (
    MAX_DURATION_S,
    MIN_SAMPLE_RATE,
    _low_rate_problem,
    check_waveform,
    load_audio,
    resample,
)
from .errors import AudioError, ParameterError
from .features import extract_features, feature_names
from .typicality import Typicality

__all__ = [
    "BACKENDS",
    "ClipError",
    "DiscriminatorScores",
    "EmotionRecognizer",
    "Predictions",
    "SpeakerStats",
    "load",
]

BACKENDS = ("sklearn", "onnx")
_EPS = 1e-12


@dataclass(frozen=True)
class SpeakerStats:
    """Per-feature statistics of one speaker's (unlabelled) clips.

    The normaliser of ``normalization="speaker_norm"``
    (:class:`ser_classic.evaluation.SpeakerNormalizer`): ``(x - mean) / scale`` with
    ``scale = std`` (population) or 1 where ``std <= 1e-8``; of ``"neutral_ref"``
    (statistics of the voice's neutral clips): ``x - mean``
    (:meth:`location_scale`).

    Attributes
    ----------
    mean, std : np.ndarray [shape=(n_features,)]
    n_clips : int
    """

    mean: np.ndarray
    std: np.ndarray
    n_clips: int

    @classmethod
    def from_features(cls, X: np.ndarray, *, weights: np.ndarray | None = None
                      ) -> SpeakerStats:
        """Statistics of feature rows ``X`` [shape=(n_clips, n_features)], n_clips >= 2.

        ``weights`` [shape=(n_clips,)]: each clip's share of the mean and the variance
        (:func:`label_balanced_weights` gives every emotion of a batch the same share;
        :meth:`update` then counts the clips as equal).
        """
        X = np.asarray(X, dtype=np.float64)
        if X.ndim != 2 or X.shape[0] < 2:
            raise ParameterError("speaker statistics need at least 2 clips of the speaker")
        if weights is None:
            return cls(mean=X.mean(axis=0), std=X.std(axis=0), n_clips=X.shape[0])
        w = np.asarray(weights, dtype=np.float64)
        if w.shape != (X.shape[0],) or not np.isfinite(w).all() or (w < 0).any() \
                or w.sum() <= 0:
            raise ParameterError("weights must be one finite, non-negative number per clip, "
                                 "not all 0")
        w = w / w.sum()
        mean = w @ X
        return cls(mean=mean, std=np.sqrt(w @ (X - mean) ** 2), n_clips=X.shape[0])

    @property
    def scale(self) -> np.ndarray:
        from .evaluation import _nonzero_scale

        return _nonzero_scale(self.std)

    def location_scale(self, normalization: str = Normalization.SPEAKER_NORM
                       ) -> tuple[np.ndarray, np.ndarray]:
        """``(mean, scale)`` of ``(x - mean) / scale`` under ``normalization``: the
        speaker's scale for ``"speaker_norm"``, 1 for ``"neutral_ref"`` (centring only)."""
        if normalization == Normalization.NEUTRAL_REF:
            return self.mean, np.ones_like(self.mean)
        if normalization != Normalization.SPEAKER_NORM:
            raise ParameterError(f"speaker statistics normalise 'speaker_norm' and "
                                 f"'neutral_ref' models, not {normalization!r}")
        return self.mean, self.scale

    def apply(self, X: np.ndarray, *, normalization: str = Normalization.SPEAKER_NORM
              ) -> np.ndarray:
        """Normalised rows [shape=(n, n_features)] (see :meth:`location_scale`)."""
        mean, scale = self.location_scale(normalization)
        return (X - mean) / scale

    def update(self, X: np.ndarray) -> SpeakerStats:
        """Running estimate: these statistics merged with further clips ``X`` of the speaker.

        Exact (pooled mean and variance), so updating clip batch by clip batch equals
        :meth:`from_features` on all the clips.
        """
        X = np.asarray(X, dtype=np.float64)
        if X.ndim != 2 or X.shape[1] != self.mean.size:
            raise ParameterError(f"expected rows of {self.mean.size} features, got {X.shape}")
        if X.shape[0] == 0:
            return self
        n_a, n_b = self.n_clips, X.shape[0]
        n = n_a + n_b
        mean_b = X.mean(axis=0)
        delta = mean_b - self.mean
        m2 = self.std**2 * n_a + X.var(axis=0) * n_b + delta**2 * n_a * n_b / n
        return SpeakerStats(mean=self.mean + delta * n_b / n, std=np.sqrt(m2 / n), n_clips=n)


def label_balanced_weights(labels: Sequence) -> np.ndarray:
    """Clip weights [shape=(n,)] that give every label the same total (``1 / count``): the
    statistics of a batch of several target emotions in unequal numbers, weighted so that
    its commonest emotion does not pass for the voice's average (``speaker="batch"`` in
    :meth:`EmotionRecognizer.score`; ``reports/skewed_batch/``)."""
    _, inverse, counts = np.unique(np.asarray(labels), return_inverse=True,
                                   return_counts=True)
    return 1.0 / counts[inverse.ravel()]


def balances_batch(speaker, normalization: str, targets: Sequence) -> bool:
    """Whether a score's ``speaker`` is a ``"speaker_norm"`` model's ``"batch"``, whose
    statistics then weigh every target alike (:func:`label_balanced_weights`; the numpy
    and the torch paths); warns when all clips have one target."""
    if not (isinstance(speaker, str) and speaker == "batch"
            and normalization == Normalization.SPEAKER_NORM):
        return False
    if len(targets) > 1 and len(set(targets)) == 1:
        warnings.warn(
            "speaker='batch' with one target for every clip: the batch's own statistics "
            "hold a single emotion, which normalisation removes (chance level; "
            "reports/speaker_reference/); enrol the voice on other speech "
            "(speaker=recognizer.enroll(...)) or use a strict model", stacklevel=3)
    return True


def checked_speaker(speaker, *, normalization: str, model_id: str, n_features: int):
    """A model's ``speaker=`` argument, validated: None for a strict model, ``"batch"``
    (``"speaker_norm"`` only) or :class:`SpeakerStats` of ``n_features`` features for a
    speaker-normalised one (shared by the numpy and the torch paths)."""
    if normalization == Normalization.STRICT:
        if speaker is not None:
            raise ParameterError(f"{model_id} was trained without speaker "
                                 f"normalisation; do not pass speaker statistics")
        return None
    neutral_ref = normalization == Normalization.NEUTRAL_REF
    if speaker is None:
        if neutral_ref:
            raise ParameterError(
                f"{model_id} is normalised by a neutral reference: pass "
                f"speaker=recognizer.enroll(clips), clips of the voice's neutral speech "
                f"(at least 2)")
        raise ParameterError(
            f"{model_id} is speaker-normalised: pass speaker=SpeakerStats "
            f"(recognizer.enroll(clips)) or speaker='batch' (all clips of the batch "
            f"share one speaker)")
    if isinstance(speaker, str):
        if neutral_ref:
            raise ParameterError(
                f"{model_id} is normalised by a neutral reference, so it takes no "
                f"speaker={speaker!r}: pass speaker=recognizer.enroll(clips), clips of the "
                f"voice's neutral speech, never the clips being scored")
        if speaker != "batch":
            raise ParameterError(f"speaker must be SpeakerStats or 'batch', got "
                                 f"{speaker!r}")
        return speaker
    if not isinstance(speaker, SpeakerStats):
        raise ParameterError(f"speaker must be SpeakerStats or 'batch', got "
                             f"{type(speaker).__name__}")
    if speaker.mean.shape != (n_features,):
        raise ParameterError(f"speaker statistics have {speaker.mean.shape} features, "
                             f"the model needs {n_features}")
    return speaker


@dataclass(frozen=True)
class ClipError:
    """A clip of a batch that could not be used (``on_error="skip"``).

    Attributes
    ----------
    index : int
        Position of the clip in the input batch.
    source : str
        The file, or ``waveform[index]``.
    problem : str
    """

    index: int
    source: str
    problem: str


@dataclass(frozen=True)
class Predictions:
    """Predictions for the usable clips of a batch (``on_error="skip"``).

    Attributes
    ----------
    labels : np.ndarray of str [shape=(n_ok,)]
    proba : np.ndarray [shape=(n_ok, n_classes)]
        Columns in ``classes`` order.
    index : np.ndarray of int [shape=(n_ok,)]
        Position in the input batch of each row, increasing.
    errors : tuple of ClipError
        The clips that could not be used, in input order.
    classes : tuple of str
        The model's classes, or the ``classes=`` subset asked for.
    atypicality : np.ndarray [shape=(n_ok,)]
        How unlike the model's training speech each clip is
        (:attr:`EmotionRecognizer.typicality`; NaN for a model saved without it).
    atypical : np.ndarray of bool [shape=(n_ok,)]
        ``atypicality`` above the model's threshold: probabilities shrunk towards uniform.
    """

    labels: np.ndarray
    proba: np.ndarray
    index: np.ndarray
    errors: tuple[ClipError, ...]
    classes: tuple[str, ...]
    atypicality: np.ndarray | None = None
    atypical: np.ndarray | None = None

    def __post_init__(self) -> None:
        _fill_atypicality(self, len(self.labels))


@dataclass(frozen=True)
class DiscriminatorScores:
    """Per-clip emotion penalties of a batch.

    Attributes
    ----------
    penalty : np.ndarray [shape=(n,)]
        ``1 - p(target)``, in [0, 1].
    nll : np.ndarray [shape=(n,)]
        ``-log p(target)`` (p floored at 1e-12).
    p_target : np.ndarray [shape=(n,)]
    proba : np.ndarray [shape=(n, n_classes)]
    classes : tuple of str
        The columns of ``proba``: the model's classes, or the ``classes=`` subset (over
        which ``proba`` and ``p_target`` are renormalised).
    index : np.ndarray of int [shape=(n,)]
        Position in the input batch of each row: all of them, except the clips in
        ``errors`` with ``on_error="skip"``.
    errors : tuple of ClipError
    atypicality, atypical : np.ndarray [shape=(n,)]
        As :class:`Predictions`: an atypical clip's ``proba`` is shrunk towards uniform,
        so its penalty is high whatever the target.
    """

    penalty: np.ndarray
    nll: np.ndarray
    p_target: np.ndarray
    proba: np.ndarray
    classes: tuple[str, ...]
    index: np.ndarray | None = None
    errors: tuple[ClipError, ...] = ()
    atypicality: np.ndarray | None = None
    atypical: np.ndarray | None = None

    def __post_init__(self) -> None:
        if self.index is None:
            object.__setattr__(self, "index", np.arange(len(self.penalty)))
        _fill_atypicality(self, len(self.penalty))


def _fill_atypicality(result, n: int) -> None:
    """Defaults of a result's ``atypicality`` (NaN) and ``atypical`` (False)."""
    if result.atypicality is None:
        object.__setattr__(result, "atypicality", np.full(n, np.nan))
    if result.atypical is None:
        object.__setattr__(result, "atypical", np.zeros(n, dtype=bool))


def _is_path(item) -> bool:
    return isinstance(item, str | os.PathLike)


def _check_sr(sr) -> int | None:
    """``sr=`` as a positive int (integral floats such as 16000.0 accepted); None stays."""
    if sr is None:
        return None
    if (isinstance(sr, numbers.Real) and not isinstance(sr, bool) and math.isfinite(sr)
            and sr > 0 and float(sr).is_integer()):
        if sr < MIN_SAMPLE_RATE:
            raise ParameterError(_low_rate_problem(int(sr)))
        return int(sr)
    raise ParameterError(f"sr must be a positive integer sample rate in Hz, got {sr!r}")


def _check_on_error(on_error) -> bool:
    """True for ``"skip"``, False for ``"raise"``."""
    if on_error not in ("raise", "skip"):
        raise ParameterError(f"on_error must be 'raise' or 'skip', got {on_error!r}")
    return on_error == "skip"


def _source(item, i: int) -> str:
    return str(item) if _is_path(item) else f"waveform[{i}]"


def _restrict(proba: np.ndarray, columns: np.ndarray | None) -> np.ndarray:
    """Probabilities over a subset of the classes (``columns``), renormalised per row.

    A row with no probability on the subset (possible with tree models) becomes uniform
    over it: the model prefers none of them.
    """
    if columns is None:
        return proba
    out = proba[:, columns]
    total = out.sum(axis=1, keepdims=True)
    return np.divide(out, total, out=np.full_like(out, 1.0 / columns.size),
                     where=total > 0)


def _grouped(proba: np.ndarray, groups: tuple[tuple[int, ...], ...]) -> np.ndarray:
    """Probabilities of groups of classes (the columns of each group summed) over the
    classes of any group, renormalised per row [shape=(n, n_groups)]."""
    union = np.array([c for g in groups for c in g], dtype=np.intp)
    sub = _restrict(proba, union)
    bounds = np.cumsum([0, *(len(g) for g in groups)])
    return np.stack([sub[:, a:b].sum(axis=1) for a, b in pairwise(bounds)], axis=1)


class EmotionRecognizer:
    """A loaded emotion model.

    Parameters
    ----------
    artifact : Artifact
        From :func:`ser_classic.artifact.load_artifact`.
    backend : {"sklearn", "onnx"}
    max_duration_s : float
        Longer clips are refused (:class:`AudioError`).

    Attributes
    ----------
    typicality : Typicality or None
        The training rows' statistics that shrink atypical clips' probabilities (None:
        a model saved without them; its probabilities are the classifier's).
    """

    def __init__(self, artifact: Artifact, *, backend: str = "sklearn",
                 max_duration_s: float = MAX_DURATION_S) -> None:
        if backend not in BACKENDS:
            raise ParameterError(f"backend must be one of {BACKENDS}, got {backend!r}")
        if backend == "sklearn" and artifact.estimator is None:
            raise ParameterError(f"{artifact.path}: the sklearn backend needs model.joblib "
                                 f"loaded (load_artifact(..., load_joblib=True))")
        self.artifact = artifact
        self.backend = backend
        self.max_duration_s = max_duration_s
        self.card = artifact.card
        self.classes_ = np.array(artifact.card["classes"])
        self.model_id = artifact.card["model_id"]
        self.normalization = Normalization(artifact.card["normalization"])
        self.feature_config = artifact.feature_config
        self.typicality = Typicality.from_card(artifact.card)
        names = feature_names(config=self.feature_config)
        used = artifact.card.get("used_features")
        self._used = None if used is None else np.asarray(used, dtype=int)
        self._select = None if used is None else [names[i] for i in used]
        self._session = None
        if backend == "onnx":
            from .export import onnx_session

            self._session = artifact.session or onnx_session(
                artifact.onnx, source=artifact.path / "model.onnx")

    def __repr__(self) -> str:
        return (f"EmotionRecognizer({self.model_id!r}, backend={self.backend!r}, "
                f"normalization={self.normalization.value!r})")

    # ------------------------------------------------------------------ inputs
    def _items(self, inputs) -> tuple[Sequence, bool]:
        if _is_path(inputs):
            return [inputs], True
        if isinstance(inputs, np.ndarray):
            if inputs.ndim == 1:
                return [inputs], True
            if inputs.ndim == 2 and inputs.shape[0] > 0 and inputs.shape[1] <= 8:
                raise ParameterError(
                    f"a 2-D waveform array is a batch of shape (n_clips, n_samples); shape "
                    f"{inputs.shape} looks like one clip of shape (n_samples, channels): "
                    f"pass it in a list, [y]")
            if inputs.ndim == 2:
                return inputs, False  # rows are clips; no list of views
            raise ParameterError(f"waveform arrays must be 1-D or 2-D (n_clips, n_samples), "
                                 f"got shape {inputs.shape}")
        if isinstance(inputs, Sequence) and not isinstance(inputs, bytes):
            if len(inputs) and all(isinstance(v, numbers.Number) for v in inputs):
                raise ParameterError(
                    f"a list is a batch of clips, and this one holds {len(inputs)} numbers: "
                    f"pass one waveform as an array, np.asarray(y)")
            return list(inputs), False
        raise ParameterError(f"expected a path, a waveform or a list of them, got "
                             f"{type(inputs).__name__}")

    def waveform(self, item, *, sr: int | None = None, source: object = None) -> np.ndarray:
        """One clip as a validated mono waveform at the model's sample rate.

        Integer PCM arrays are scaled by their full scale (see
        :func:`ser_classic.data.check_waveform`); a too-long array is refused before any
        copy.
        """
        target = self.feature_config.sample_rate
        if _is_path(item):
            return load_audio(item, sr=target, max_duration=self.max_duration_s)
        sr = _check_sr(sr)
        if sr is None:
            raise ParameterError("waveform input needs its sample rate: sr=")
        source = source or "waveform"
        y = check_waveform(item, sr, source=source, max_duration=self.max_duration_s)
        try:
            return resample(y, orig_sr=sr, target_sr=target)
        except (ValueError, RuntimeError) as exc:  # a rate ratio the resampler refuses
            raise AudioError(source, f"cannot resample {sr} Hz to {target} Hz ({exc})"
                             ) from None

    def clip_features(self, y: np.ndarray) -> np.ndarray:
        """Features of one waveform from :meth:`waveform` -> [shape=(n_features,)].

        Only the features the model reads are computed (exactly as in training); the
        columns its feature selection drops are 0.
        """
        if self._used is None:
            return extract_features(y, config=self.feature_config)
        x = np.zeros(self.card["n_features"])
        x[self._used] = extract_features(y, config=self.feature_config, select=self._select)
        return x

    def features(self, inputs, *, sr: int | None = None, on_error: str = "raise"
                 ) -> tuple[np.ndarray, list[tuple[str, str]]]:
        """Feature rows of clips, before any speaker normalisation.

        Parameters
        ----------
        inputs : path, waveform, or a batch of them
        sr : int, optional
            Sample rate of waveform inputs.
        on_error : {"raise", "nan"}
            ``"nan"``: a clip that cannot be used gets a NaN row and an entry in ``errors``.

        Returns
        -------
        X : np.ndarray [shape=(n_clips, n_features)]
            Columns the model never reads (dropped by its feature selection) are 0.
        errors : list of (source, problem)
        """
        if on_error not in ("raise", "nan"):
            raise ParameterError(f"on_error must be 'raise' or 'nan', got {on_error!r}")
        items, _ = self._items(inputs)
        rows, index, errors = self._clip_rows(items, sr=sr, skip=on_error == "nan")
        X = np.full((len(items), self.card["n_features"]), np.nan)
        X[index] = rows
        return X, [(e.source, e.problem) for e in errors]

    def _clip_rows(self, items: Sequence, *, sr, skip: bool
                   ) -> tuple[np.ndarray, np.ndarray, list[ClipError]]:
        """Feature rows of the usable clips, their positions in ``items``, the others."""
        sr = _check_sr(sr)  # a bad sr= is the caller's error, never a clip's
        rows, index, errors = [], [], []
        for i, item in enumerate(items):
            try:
                rows.append(self.clip_features(self.waveform(item, sr=sr,
                                                             source=_source(item, i))))
            except AudioError as exc:
                if not skip:
                    raise
                errors.append(ClipError(index=i, source=exc.source, problem=exc.problem))
                continue
            index.append(i)
        X = np.array(rows, dtype=np.float64).reshape(len(rows), self.card["n_features"])
        return X, np.array(index, dtype=np.intp), errors

    # ------------------------------------------------------------------ speakers
    def enroll(self, inputs, *, sr: int | None = None,
               previous: SpeakerStats | None = None, on_error: str = "raise",
               labels: Sequence[str] | None = None) -> SpeakerStats:
        """Speaker statistics from clips of one speaker (at least 2 in all).

        For a ``"neutral_ref"`` model, clips of the voice's neutral speech; for a
        ``"speaker_norm"`` one, clips in any mix of emotions. ``previous``: statistics to
        update with these clips (a running estimate). ``on_error="skip"``: a clip that
        cannot be used is left out, named in a warning (the statistics' ``n_clips`` counts
        the clips used). ``labels``: the emotion of each clip, when a ``"speaker_norm"``
        model's reference holds known emotions in unequal numbers; each emotion's usable
        clips then carry the same share of the statistics (:func:`label_balanced_weights`,
        as :meth:`score` weighs a batch by its targets). Not with ``previous``.
        """
        skip = _check_on_error(on_error)
        if labels is not None:
            if previous is not None:
                raise ParameterError("labels weigh one set of clips; a running estimate "
                                     "(previous=) counts clips alike")
            if self.normalization != Normalization.SPEAKER_NORM:
                raise ParameterError(f"labels balance the mixed reference of a "
                                     f"'speaker_norm' model; {self.model_id} is a "
                                     f"{str(self.normalization)!r} model")
            if isinstance(labels, str | bytes) or not isinstance(labels,
                                                                 Sequence | np.ndarray):
                raise ParameterError("labels must be a sequence of one label per clip")
        X, errors = self.features(inputs, sr=sr, on_error="nan" if skip else "raise")
        for source, problem in errors:
            warnings.warn(f"enroll: left out {source}: {problem}", stacklevel=2)
        usable = ~np.isnan(X).any(axis=1)
        weights = None
        if labels is not None:
            if len(labels) != len(usable):
                raise ParameterError(f"{len(labels)} labels for {len(usable)} clips")
            weights = label_balanced_weights(np.asarray(labels, dtype=object)[usable])
        X = X[usable]
        if previous is not None:
            return previous.update(X)
        return SpeakerStats.from_features(X, weights=weights)

    def _normalise(self, X: np.ndarray, speaker, weights: np.ndarray | None = None
                   ) -> tuple[np.ndarray, np.ndarray | None]:
        """Rows normalised with the speaker's statistics (``"batch"``: of the rows, each
        weighing ``weights``), and the scale they were divided by (None: not
        normalised)."""
        speaker = checked_speaker(speaker, normalization=self.normalization,
                                  model_id=self.model_id, n_features=X.shape[1])
        if speaker is None:
            return X, None
        if isinstance(speaker, str):  # "batch"
            if X.shape[0] == 0:
                return X, None
            speaker = SpeakerStats.from_features(X, weights=weights)
        mean, scale = speaker.location_scale(self.normalization)
        return (X - mean) / scale, scale

    # ------------------------------------------------------------------ predictions
    def proba_from_features(self, X: np.ndarray, *, speaker=None,
                            return_atypicality: bool = False, groups: Groups | None = None):
        """Class probabilities of feature rows [shape=(n, n_features)] -> (n, n_classes)
        (shrunk towards uniform for atypical rows, :attr:`typicality`); with
        ``return_atypicality``, ``(proba, atypicality)``, normalised and scored once
        (:meth:`atypicality_from_features`); with ``groups``, the groups' probabilities
        (n, n_groups), as :meth:`predict_proba`."""
        columns = None if groups is None else resolve_groups(groups, self.classes_)[1]
        proba, atypicality = self._scored(*self._model_rows(X, speaker), groups=columns)
        return (proba, atypicality) if return_atypicality else proba

    def atypicality_from_features(self, X: np.ndarray, *, speaker=None) -> np.ndarray:
        """Atypicality of feature rows [shape=(n, n_features)] -> [shape=(n,)]: the RMS of
        the smallest of their z-scores (share ``typicality.keep``) against the training rows
        (:class:`~ser_classic.typicality.Typicality`; NaN for a model saved without
        them; a speaker-normalised model's also reads the rows before normalisation);
        above ``typicality.threshold`` a clip is atypical and its probabilities shrunk."""
        X, raw, scale = self._model_rows(X, speaker)
        if self.typicality is None:
            return np.full(X.shape[0], np.nan)
        return self.typicality.statistic(X, raw=raw, speaker_scale=scale)

    def _model_rows(self, X: np.ndarray, speaker, weights: np.ndarray | None = None
                    ) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
        """Feature rows as the classifier reads them (normalised) and as extracted, both
        as float32 values, and the speaker scale of the normalisation (or None)."""
        X = np.asarray(X, dtype=np.float64)
        if X.ndim != 2 or X.shape[1] != self.card["n_features"]:
            raise ParameterError(f"features must have shape (n, {self.card['n_features']}), "
                                 f"got {X.shape}")
        normalised, scale = self._normalise(X, speaker, weights)
        # The classifier reads float32 values with either backend (ONNX graphs are float32;
        # tree thresholds are exported so that float32 inputs split identically).
        return (normalised.astype(np.float32).astype(np.float64),
                X.astype(np.float32).astype(np.float64), scale)

    def _scored(self, X: np.ndarray, raw: np.ndarray, scale: np.ndarray | None, *,
                groups: tuple[tuple[int, ...], ...] | None = None
                ) -> tuple[np.ndarray, np.ndarray]:
        """(probabilities, atypicality) of rows from :meth:`_model_rows` (normalised, raw,
        speaker scale): the one place where the classifier's output is shrunk. With
        ``groups`` (columns of each group), the groups' probabilities, shrunk towards
        uniform over the groups."""
        if X.shape[0] == 0:
            return np.empty((0, len(self.classes_ if groups is None else groups))), \
                np.empty(0)
        if self._session is not None:
            from .export import onnx_predict_proba

            proba = onnx_predict_proba(self._session, X)
        else:
            proba = np.asarray(self.artifact.estimator.predict_proba(X), dtype=np.float64)
        if groups is not None:
            proba = _grouped(proba, groups)
        if self.typicality is None:
            return proba, np.full(X.shape[0], np.nan)
        atypicality = self.typicality.statistic(X, raw=raw, speaker_scale=scale)
        return self.typicality.shrink(proba, atypicality), atypicality

    def atypical(self, atypicality: np.ndarray) -> np.ndarray:
        """The ``atypical`` flag [shape=(n,)] of atypicalities (False without
        :attr:`typicality`)."""
        atypicality = np.asarray(atypicality, dtype=np.float64)
        if self.typicality is None:
            return np.zeros(atypicality.shape, dtype=bool)
        return self.typicality.atypical(atypicality)

    def _batch_proba(self, items: Sequence, *, sr, speaker, skip: bool, groups=None,
                     balance: Sequence | None = None
                     ) -> tuple[np.ndarray, np.ndarray, np.ndarray, list[ClipError]]:
        """Probabilities and atypicality of the usable clips of ``items``, their
        positions, the others.

        With ``speaker="batch"`` the statistics come from the usable clips only; when a
        single one is left it becomes an error too (statistics need 2 clips). ``balance``:
        a label per item; the usable clips of each label then carry the same share of
        the batch's statistics (:func:`label_balanced_weights`).
        """
        X, index, errors = self._clip_rows(items, sr=sr, skip=skip)
        if (skip and index.size == 1 and self.normalization == Normalization.SPEAKER_NORM
                and isinstance(speaker, str) and speaker == "batch"):
            i = int(index[0])
            lone = ClipError(index=i, source=_source(items[i], i),
                             problem="the only usable clip of the batch: speaker='batch' "
                                     "needs at least 2")
            errors = sorted([*errors, lone], key=lambda e: e.index)
            X, index = X[:0], index[:0]
        weights = (None if balance is None or index.size == 0 else
                   label_balanced_weights(np.asarray(balance)[index]))
        proba, atypicality = self._scored(*self._model_rows(X, speaker, weights),
                                          groups=groups)
        return proba, atypicality, index, errors

    def _class_subset(self, classes) -> tuple[np.ndarray | None, tuple[str, ...]]:
        """Columns and names of ``classes=`` (None: all of ``classes_``)."""
        names = tuple(str(c) for c in self.classes_)
        if classes is None:
            return None, names
        if isinstance(classes, str | bytes) or not isinstance(classes, Sequence | np.ndarray):
            raise ParameterError(f"classes must be a sequence of class names, got "
                                 f"{type(classes).__name__}")
        subset = list(classes)
        column = {c: i for i, c in enumerate(names)}
        unknown = [c if isinstance(c, str) else repr(c) for c in subset
                   if not isinstance(c, str) or c not in column]
        if unknown:
            raise ParameterError(f"classes {unknown} are not classes of {self.model_id}; "
                                 f"the model knows {list(names)}")
        if not subset or len(set(subset)) != len(subset):
            raise ParameterError(f"classes must be a non-empty list of distinct class "
                                 f"names, got {subset}")
        return np.array([column[c] for c in subset], dtype=np.intp), tuple(subset)

    def _outputs(self, classes, groups: Groups | None):
        """``(class columns, group columns, names)`` of the outputs asked for: a subset
        of the classes (``classes=``), groups of them (``groups=``), or all classes."""
        if groups is None:
            columns, names = self._class_subset(classes)
            return columns, None, names
        if classes is not None:
            raise ParameterError("give classes= or groups=, not both (a mapping of groups "
                                 "may leave classes out)")
        names, columns = resolve_groups(groups, self.classes_)
        return None, columns, names

    def predict_proba(self, inputs, *, sr: int | None = None, speaker=None,
                      on_error: str = "raise", classes: Sequence[str] | None = None,
                      groups: Groups | None = None):
        """Class probabilities (columns in ``classes_`` order, or ``classes`` order).

        Parameters
        ----------
        inputs : path, waveform [shape=(n,)], list of them, or array (n_clips, n_samples)
            Waveforms are float (full scale 1) or int8/int16/int32/uint8 PCM (scaled by
            their full scale). An empty batch gives empty results.
        sr : int, optional
            Sample rate of waveform inputs in Hz (any rate; resampled). A positive integer;
            integral floats such as ``16000.0`` are accepted.
        speaker : SpeakerStats or "batch", optional
            Required by speaker-normalised models, refused by strict ones. ``"batch"``
            (``"speaker_norm"`` models only) estimates the statistics from the (usable)
            clips of this call (one speaker, >= 2 clips, a mix of emotions); a
            ``"neutral_ref"`` model takes ``enroll`` of the voice's neutral clips.
        on_error : {"raise", "skip"}
            ``"raise"``: the first clip that cannot be used raises its :class:`AudioError`.
            ``"skip"``: such clips are left out and reported; the result is then a
            :class:`Predictions` (also for a single clip).
        classes : sequence of str, optional
            A subset of ``classes_`` (any order, distinct), e.g. the emotions a generator
            knows: the probabilities of these classes only, renormalised to sum to 1 per
            clip (ratios between them kept), in this order. A row with no probability on
            the subset becomes uniform over it. A name the model does not know raises
            :class:`ParameterError` naming its classes.
        groups : Grouping, str or mapping, optional
            Groups of classes scored as one class each: :attr:`Grouping.AROUSAL`
            (``"arousal"``: ``"high"`` against ``"low"``), :attr:`Grouping.VALENCE`
            (``"valence"``: ``"positive"``, ``"neutral"``, ``"negative"``), or a mapping
            of group name to class names (a class in one group at most; classes in none
            are left out and the probabilities renormalised over the others). The
            columns are the groups, in order, each the sum of its classes' probabilities;
            an atypical clip's are shrunk towards uniform over the groups. Not with
            ``classes``.

        Returns
        -------
        proba : np.ndarray [shape=(n_classes,) for one clip, (n_clips, n_classes) for a batch]
            With ``on_error="raise"``; ``n_classes = len(classes)`` (or ``len(groups)``)
            when given.
        predictions : Predictions
            With ``on_error="skip"``: rows of the usable clips, ``index``, ``errors``;
            labels are the most probable of ``classes``.
        """
        skip = _check_on_error(on_error)
        columns, group_columns, names = self._outputs(classes, groups)
        items, single = self._items(inputs)
        proba, atypicality, index, errors = self._batch_proba(
            items, sr=sr, speaker=speaker, skip=skip, groups=group_columns)
        proba = _restrict(proba, columns)
        if skip:
            labels = np.array(names)[np.argmax(proba, axis=1)]
            return Predictions(labels=labels, proba=proba, index=index,
                               errors=tuple(errors), classes=names,
                               atypicality=atypicality, atypical=self.atypical(atypicality))
        return proba[0] if single else proba

    def predict(self, inputs, *, sr: int | None = None, speaker=None,
                on_error: str = "raise", classes: Sequence[str] | None = None,
                groups: Groups | None = None):
        """Emotion labels: a str for one clip, an array of str for a batch.

        Parameters as :meth:`predict_proba`; with ``classes`` the most probable of those
        classes, with ``groups`` the most probable group. With ``on_error="skip"`` the
        result is a :class:`Predictions` (labels, probabilities, ``index`` and ``errors``).
        """
        proba = self.predict_proba(inputs, sr=sr, speaker=speaker, on_error=on_error,
                                   classes=classes, groups=groups)
        if isinstance(proba, Predictions):
            return proba
        labels = np.array(self._outputs(classes, groups)[2])[
            np.argmax(np.atleast_2d(proba), axis=1)]
        return str(labels[0]) if proba.ndim == 1 else labels

    def score(self, waveforms, *, sr: int, targets, speaker=None,
              on_error: str = "raise", classes: Sequence[str] | None = None,
              groups: Groups | None = None) -> DiscriminatorScores:
        """Discriminator penalties of a batch of waveforms against target emotions.

        No file I/O. Parameters as :meth:`predict_proba`; ``targets`` is one emotion for
        all clips or a sequence of one per clip (names from ``classes_``, or from
        ``classes`` when given). With ``on_error="skip"`` the rows are those of the usable
        clips, at ``index`` in the batch, and ``errors`` holds the others.

        ``classes``: score against a subset of the model's classes (a generator that
        knows fewer emotions): ``p_target`` is the target's probability renormalised over
        the subset (:meth:`predict_proba`), ``proba`` and ``classes`` are the subset's.

        ``groups``: score against groups of classes, e.g. ``groups="arousal"`` with
        ``targets="high"``: ``p_target`` is the probability of the target's group, the
        sum over its classes (:meth:`predict_proba`); ``proba`` and ``classes`` are the
        groups'. A target may also be one of a group's classes, standing for its group
        (``"happy"`` scores ``"high"``; with a named grouping also an emotion the model
        lacks: ``"calm"``): a generator's emotion targets need no mapping.
        On corpora the model has never heard, the group is more often right and its
        probability better calibrated than the emotion (``reports/arousal/``).

        ``speaker="batch"`` (one voice, a ``"speaker_norm"`` model): the batch's
        statistics give every target the same share (:func:`label_balanced_weights`), so
        that a batch generated mostly for one emotion is not normalised towards it; a
        batch of a single target warns (its statistics hold one emotion).
        """
        skip = _check_on_error(on_error)
        subset, group_columns, names = self._outputs(classes, groups)
        if _is_path(waveforms) or (isinstance(waveforms, Sequence) and any(
                _is_path(w) for w in waveforms)):
            raise ParameterError("score takes waveforms, not file paths")
        items, _ = self._items(waveforms)
        if isinstance(targets, str):
            targets = [targets] * len(items)
        if isinstance(targets, bytes) or not isinstance(targets, Sequence | np.ndarray):
            raise ParameterError(f"targets must be an emotion name or a sequence of one per "
                                 f"clip, got {type(targets).__name__}")
        targets = list(targets)
        if len(targets) != len(items):
            raise ParameterError(f"{len(targets)} targets for {len(items)} clips")
        column = ({c: i for i, c in enumerate(names)} if group_columns is None
                  else group_targets(names, group_columns, self.classes_, groups=groups))
        unknown = sorted({str(t) if isinstance(t, str) else repr(t) for t in targets
                          if not isinstance(t, str) or t not in column})
        if unknown:
            if group_columns is not None:
                raise ParameterError(f"target(s) {unknown} are neither among the groups "
                                     f"{list(names)} nor their classes")
            if subset is None:
                raise ParameterError(f"unknown target emotion(s) {unknown}; the model "
                                     f"knows {list(names)}")
            raise ParameterError(f"target emotion(s) {unknown} not in classes "
                                 f"{list(names)} (the model knows "
                                 f"{[str(c) for c in self.classes_]})")
        if sr is None:
            raise ParameterError("score needs the waveforms' sample rate: sr=")
        target_columns = np.array([column[t] for t in targets], dtype=np.intp)
        balance = balances_batch(speaker, self.normalization, target_columns.tolist())
        proba, atypicality, index, errors = self._batch_proba(
            items, sr=sr, speaker=speaker, skip=skip, groups=group_columns,
            balance=target_columns if balance else None)
        proba = _restrict(proba, subset)
        cols = target_columns[index]
        p = proba[np.arange(index.size), cols]
        return DiscriminatorScores(penalty=1.0 - p, nll=-np.log(np.maximum(p, _EPS)),
                                   p_target=p, proba=proba, classes=names,
                                   index=index, errors=tuple(errors),
                                   atypicality=atypicality,
                                   atypical=self.atypical(atypicality))


def load(model: str | os.PathLike, *, backend: str | None = None,
         max_duration_s: float = MAX_DURATION_S) -> EmotionRecognizer:
    """Load a model (validated and verified) from any working directory.

    Parameters
    ----------
    model : path or str
        A model directory written by ``ser-classic train`` / ``distil``, or the alias of
        a shipped model (``"deployed"``, ``"teacher"``, ... also as ``"models/deployed"``;
        ``ser-classic models`` lists them), resolved by
        :func:`ser_classic.store.resolve`.
    backend : {"sklearn", "onnx"} or None
        None: the backend the model was evaluated with
        (:func:`ser_classic.store.evaluated_backend`): the ONNX graph of a quantized
        student, scikit-learn otherwise. ``"onnx"`` never unpickles anything:
        ``model.onnx`` + ``model.json`` suffice (deploy a model received from elsewhere
        this way; ``model.joblib`` is a pickle, and loading one runs whatever code it
        holds).
    max_duration_s : float

    Raises
    ------
    ArtifactError
        Not a model directory nor a shipped alias, or an invalid directory (see
        :func:`ser_classic.artifact.load_artifact`).
    """
    from .store import evaluated_backend, resolve

    path = resolve(model)
    if backend is None:
        try:
            card = json.loads((path / "model.json").read_text())
        except (OSError, UnicodeDecodeError, json.JSONDecodeError):
            card = {}  # load_artifact names the problem
        backend = evaluated_backend(card if isinstance(card, dict) else {})
    if backend not in BACKENDS:
        raise ParameterError(f"backend must be one of {BACKENDS} or None, got {backend!r}")
    artifact = load_artifact(path, load_joblib=backend == "sklearn")
    return EmotionRecognizer(artifact, backend=backend, max_duration_s=max_duration_s)

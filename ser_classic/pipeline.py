"""The pipeline's jobs, one function each, each returning a small typed result.

=====================  ==========================================================
:func:`cross_validate`  speaker-grouped nested CV of registry models -> :class:`CrossValidation`
                        (metrics, CIs, out-of-fold predictions, the :class:`Selection`,
                        ``write_report``)
:func:`train`           a registry model on a corpus of a manifest -> :class:`TrainedModel`
                        (features through the cache, augmentation preset, the tuned
                        parameters of a :class:`Selection`, ONNX export and parity)
:func:`distil`          a teacher model into a small student -> :class:`DistilledModel`
                        (the teacher's exact training clips, transfer set, quantization)
:func:`ab_test`         two models on a held-out corpus -> :class:`ABTest`; :func:`deploy`
                        copies the winner
:func:`export_onnx`     an estimator's ONNX graph and its parity -> :class:`OnnxExport`
=====================  ==========================================================

The hand-off between evaluation and training is a :class:`Selection` (``selection.json``,
written by :meth:`CrossValidation.write_report`, read by :func:`train` for ``@selected`` /
``@runner_up`` and the tuned parameters); reports are outputs only.

:func:`ser_classic.artifact.train_model` is the low-level fitter: features and labels in,
a fitted estimator out, nothing added. :func:`train` is the job: it reads the clips of a
manifest, adds the augmentation preset's copies (:data:`DEFAULT_AUGMENT`) and the tuned
parameters of the selection, fits through ``train_model``, exports and checks the graph and
writes the model card. ``ser-classic train`` calls :func:`train` with the same arguments,
so the two give the same model id. The clips are fitted in content order (sha256), so a
manifest of the same clips in another row order gives the same model id too.
"""

from __future__ import annotations

import contextlib
import json
import os
import time
import warnings
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from ._vocabulary import Normalization, SplitScheme, normalization_of, split_of
from .errors import ParameterError

__all__ = [
    "AUGMENT_VARIANTS",
    "DEFAULT_AUGMENT",
    "DEFAULT_NORMALIZATIONS",
    "DISTILL_AUGMENT",
    "NORMALIZATIONS",
    "SELECTION_FILE",
    "SPLITS",
    "STUDENT_CHOICES",
    "ABTest",
    "CrossValidation",
    "DistilledModel",
    "OnnxExport",
    "Selection",
    "SelectionRun",
    "TeacherData",
    "TrainedModel",
    "TrainingFeatures",
    "ab_test",
    "add_typicality",
    "augmented_features",
    "cross_validate",
    "deploy",
    "distil",
    "export_onnx",
    "selection_from_cv_summary",
    "teacher_training_data",
    "train",
    "training_features",
]

#: The values of :class:`ser_classic.Normalization`: how features are normalised before the
#: estimator (as extracted, z-scored per speaker, or centred on its neutral clips).
NORMALIZATIONS = tuple(m.value for m in Normalization)
#: The normalisations :func:`cross_validate` runs by default (``make run``'s two; the
#: neutral reference is measured on its own, ``experiments/speaker_reference.py``).
DEFAULT_NORMALIZATIONS = (Normalization.STRICT.value, Normalization.SPEAKER_NORM.value)
#: The values of :class:`ser_classic.SplitScheme`: the outer folds of the cross-validation
#: (leave one speaker out, or ``n_folds`` groups of speakers).
SPLITS = tuple(m.value for m in SplitScheme)
#: The hand-off file's name, written next to the CV report.
SELECTION_FILE = "selection.json"

# the waveform-level presets' fields: no shift and no masks
_NO_MASKS = dict(max_shift_s=0.0, n_freq_masks=0, max_freq_width_hz=0.0, n_time_masks=0,
                 max_time_width_s=0.0)
_VTLP = dict(_NO_MASKS, warp_factors=(0.9, 1.1, 0.95, 1.05))
_PITCH = dict(_NO_MASKS, pitch_steps=(-2.0, -1.0, 1.0, 2.0))
_COLOURED = dict(colour_db=(-8.0, 8.0))  # the conditions chain's eq_db range
_VOICE = dict(_NO_MASKS, voice_factors=(1 / 1.12, 1 / 1.06, 1.06, 1.12))
#: Training-row augmentation presets (:class:`ser_classic.AugmentConfig` fields).
AUGMENT_VARIANTS = {
    # the seed's processing after silence trim: random shift + 1 frequency + 1 time mask
    "seed": dict(max_shift_s=0.25, n_freq_masks=1, max_freq_width_hz=500.0,
                 n_time_masks=1, max_time_width_s=0.2),
    # masks only (no shift: a shift pads the trimmed clip with silence)
    "masks": dict(max_shift_s=0.0, n_freq_masks=1, max_freq_width_hz=500.0,
                  n_time_masks=1, max_time_width_s=0.2),
    # frequency masks only (time masks change duration-like statistics)
    "freqmask": dict(max_shift_s=0.0, n_freq_masks=2, max_freq_width_hz=300.0,
                     n_time_masks=0, max_time_width_s=0.0),
    # vocal-tract-length perturbation: copy k warps the frequency axis by 0.9, 1.1, 0.95,
    # 1.05 (the first `copies` of them)
    "vtlp": _VTLP,
    # multi-condition training: each copy's waveform through a random recording-condition
    # chain (ser_classic.conditions.ConditionChain: Griffin-Lim/WORLD, room, white/pink/
    # babble noise at 5-30 dB SNR, band limit/telephone, MP3/Opus, gain), nothing else;
    # babble talkers are other speakers' training clips (conditions.babble_talkers)
    "conditions": dict(_NO_MASKS, conditions=True),
    # both sets of copies: `copies` VTLP copies and `copies` conditions copies per clip
    "vtlp+conditions": dict(union=("vtlp", "conditions")),
    # the conditions chain with vocoder resynthesis in half of the copies instead of a
    # fifth (Griffin-Lim or WORLD, a quarter each); the other steps' odds unchanged
    "conditions_vocoder": dict(_NO_MASKS, conditions=True, chain=(("p_vocoder", 0.5),)),
    "vtlp+conditions_vocoder": dict(union=("vtlp", "conditions_vocoder")),
    # pitch shifts of the voice (pedalboard's Rubber Band), the tempo kept: each copy by
    # one of -2, -1, +1, +2 semitones at random, nothing else
    "pitch": _PITCH,
    "vtlp+conditions+pitch": dict(union=("vtlp", "conditions", "pitch")),
    # the conditions chain with gains up to +20 dB instead of +12: after 16-bit rounding a
    # loud copy is clipped at full scale, as a generator's too-loud output is; the other
    # steps and every draw unchanged
    "conditions_loud": dict(_NO_MASKS, conditions=True, chain=(("gain_db", (-35.0, 20.0)),)),
    "vtlp+conditions_loud+pitch": dict(union=("vtlp", "conditions_loud", "pitch")),
    # the conditions chain with a quarter of the copies driven 0-12 dB above full scale
    # (clipped by the 16-bit rounding) instead of their drawn gain
    "conditions_clip": dict(_NO_MASKS, conditions=True, chain=(("p_clip", 0.25),)),
    "vtlp+conditions_clip+pitch": dict(union=("vtlp", "conditions_clip", "pitch")),
    # ... with a quarter of the copies' near-silence (|y| < 3e-4) set to exact zeros last
    "conditions_zeros": dict(_NO_MASKS, conditions=True, chain=(("p_zeros", 0.25),)),
    "vtlp+conditions_zeros+pitch": dict(union=("vtlp", "conditions_zeros", "pitch")),
    # ... with every copy coloured as by another microphone (a random low shelf, high
    # shelf and peak, each +-8 dB) after the room: the corpora's long-term spectra differ
    # by as much as emotions do
    "conditions_eq": dict(_NO_MASKS, conditions=True, chain=(("p_eq", 1.0),)),
    "vtlp+conditions_eq+pitch": dict(union=("vtlp", "conditions_eq", "pitch")),
    # ... and the VTLP and pitch copies coloured too (the same ranges, their own draws)
    "vtlp_eq": dict(_VTLP, **_COLOURED),
    "pitch_eq": dict(_PITCH, **_COLOURED),
    "vtlp_eq+conditions_eq+pitch_eq": dict(union=("vtlp_eq", "conditions_eq", "pitch_eq")),
    # ... with the conditions chain's plan drawn once per voice and copy number instead of
    # per clip (every other draw the clip's): a voice recorded through one chain
    "conditions_voice": dict(_NO_MASKS, conditions=True, chain=(("p_eq", 1.0),),
                             chain_per="voice"),
    "vtlp_eq+conditions_voice+pitch_eq": dict(union=("vtlp_eq", "conditions_voice",
                                                     "pitch_eq")),
    # ... with half of the conditions copies given a white noise floor of -75 to -45 dBFS
    # after the gain (every other draw the same): a quiet chain's floor in every pause
    "conditions_floor": dict(_NO_MASKS, conditions=True, chain=(("p_eq", 1.0),
                                                                ("p_floor", 0.5))),
    "vtlp_eq+conditions_floor+pitch_eq": dict(union=("vtlp_eq", "conditions_floor",
                                                     "pitch_eq")),
    # another voice from the same utterance (WORLD: envelope and F0 scaled together by
    # one of 1/1.12, 1/1.06, 1.06, 1.12 at random), then coloured; nothing else
    "voice_eq": dict(_VOICE, **_COLOURED),
    "vtlp_eq+conditions_eq+pitch_eq+voice_eq": dict(union=("vtlp_eq", "conditions_eq",
                                                           "pitch_eq", "voice_eq")),
    # a span of 0.5-2 s of the clip's speech at a random position, nothing else: a model
    # for short inputs (reports/short_clips)
    "crops": dict(_NO_MASKS, crop_s=(0.5, 2.0)),
    "vtlp_eq+conditions_eq+pitch_eq+crops": dict(union=("vtlp_eq", "conditions_eq",
                                                        "pitch_eq", "crops")),
}
#: The preset of the evaluation and of training (the models registered as augmented).
DEFAULT_AUGMENT = "vtlp"
#: Distillation transfer-set copies: masks only; copy k of n_copies=4 (a fixed config, so
#: the cached copies serve any ``copies <= 4``).
DISTILL_AUGMENT = dict(n_copies=4, max_shift_s=0.0, n_freq_masks=1, max_freq_width_hz=500.0,
                       n_time_masks=1, max_time_width_s=0.2)
#: Students :func:`distil` can deploy (``_int8``: the quantized graph; ``tree_uint8``: the
#: depth-limited tree on uint8 features).
STUDENT_CHOICES = ("tree", "tree_uint8", "mlp", "mlp_int8", "lgbm", "linear", "linear_int8",
                   "compact", "compact_int8", "compact_fast", "compact_fast_int8", "logit",
                   "logit_int8")
_CV_METRICS = ("accuracy", "uar", "macro_f1", "accuracy_ci95", "uar_ci95", "macro_f1_ci95")
_PARITY_ATOL = 1e-4


def _check_choice(name: str, value, choices) -> None:
    if value not in choices:
        raise ParameterError(f"{name} must be one of {tuple(choices)}, got {value!r}")


def _compact_students(students: Sequence[str], width: int | None) -> set[str]:
    """The students (deployable names) that have a width, ``width`` checked against them."""
    from . import distill as D

    compact = {s for s in students if D.parse_student(s)[0].width is not None}
    if width is not None:
        if not compact:
            raise ParameterError(f"width is for the compact students, not "
                                 f"{', '.join(students) or 'none'}")
        if width < 1:
            raise ParameterError(f"width must be >= 1, got {width}")
    return compact


@contextlib.contextmanager
def _silenced():
    """The warnings a fit is known to raise (not ours to act on)."""
    with warnings.catch_warnings():
        # SVC(probability=True) is deprecated in sklearn 1.9 (FutureWarning); constant
        # features in the ANOVA selection (UserWarning + divide RuntimeWarning)
        warnings.simplefilter("ignore", FutureWarning)
        warnings.simplefilter("ignore", UserWarning)
        warnings.filterwarnings("ignore", message="invalid value encountered in divide")
        warnings.filterwarnings("ignore", message=".*lbfgs failed to converge.*")
        yield


# --------------------------------------------------------------------------- selection
@dataclass(frozen=True)
class SelectionRun:
    """What the CV of one normalisation decided.

    Attributes
    ----------
    selected, runner_up : str or None
        Registry names, best first (accuracy, UAR breaks ties).
    params : dict
        Registry name -> the hyper-parameters to train it with (the most frequent per-fold
        choice of the inner CV; ``{member: params}`` for an ensemble; None: untuned).
    metrics : dict
        Registry name -> its CV metrics (accuracy, UAR, macro F1 and their 95 % CIs).
    """

    selected: str | None
    runner_up: str | None
    params: dict = field(default_factory=dict)
    metrics: dict = field(default_factory=dict)


@dataclass(frozen=True)
class Selection:
    """The hand-off from :func:`cross_validate` to :func:`train` (``selection.json``).

    Attributes
    ----------
    runs : dict
        :class:`ser_classic.Normalization` value -> :class:`SelectionRun`.
    split : str
        Outer folds (a :class:`ser_classic.SplitScheme` value).
    corpus : str
        The corpus evaluated.
    classes : tuple of str
    n_speakers : int
    feature_config : dict
        The front end the CV read (:meth:`ser_classic.FeatureConfig.to_dict`).
    feature_config_hash : str
    command : str or None
        The command that ran the CV.
    """

    runs: dict
    split: str
    corpus: str
    classes: tuple
    n_speakers: int
    feature_config: dict
    feature_config_hash: str
    command: str | None = None

    FORMAT = "ser_classic.selection"
    FORMAT_VERSION = 1

    def run(self, normalization: str) -> SelectionRun | None:
        return self.runs.get(normalization_of(normalization).value)

    def resolve(self, alias: str, *, normalization: str) -> str:
        """``@selected`` / ``@runner_up`` -> the registry name chosen for ``normalization``."""
        key = alias.removeprefix("@")
        run = self.run(normalization)
        name = getattr(run, key, None) if key in ("selected", "runner_up") else None
        if not name:
            raise ParameterError(f"{alias}: no {key!r} in the {normalization} run of the "
                                 f"selection (run `ser-classic evaluate` first)")
        return name

    def to_dict(self) -> dict:
        return {"format": self.FORMAT, "format_version": self.FORMAT_VERSION,
                "split": self.split, "corpus": self.corpus, "classes": list(self.classes),
                "n_speakers": self.n_speakers, "feature_config": self.feature_config,
                "feature_config_hash": self.feature_config_hash, "command": self.command,
                "runs": {k: {"selected": r.selected, "runner_up": r.runner_up,
                             "params": r.params, "metrics": r.metrics}
                         for k, r in self.runs.items()}}

    @classmethod
    def from_dict(cls, obj: Mapping, *, source: object = "selection") -> Selection:
        if not isinstance(obj, Mapping) or obj.get("format") != cls.FORMAT:
            raise ParameterError(f"{source}: not a ser_classic selection file")
        if obj.get("format_version") != cls.FORMAT_VERSION:
            raise ParameterError(f"{source}: format version {obj.get('format_version')!r} "
                                 f"is not supported ({cls.FORMAT_VERSION})")
        try:
            runs = {k: SelectionRun(selected=r["selected"], runner_up=r["runner_up"],
                                    params=dict(r["params"]), metrics=dict(r["metrics"]))
                    for k, r in obj["runs"].items()}
            for k in runs:
                normalization_of(k)
            return cls(runs=runs, split=split_of(obj["split"]).value, corpus=obj["corpus"],
                       classes=tuple(obj["classes"]), n_speakers=int(obj["n_speakers"]),
                       feature_config=dict(obj["feature_config"]),
                       feature_config_hash=str(obj["feature_config_hash"]),
                       command=obj.get("command"))
        except (KeyError, TypeError, AttributeError) as exc:
            raise ParameterError(f"{source}: malformed selection ({exc!r})") from None

    def save(self, path: str | os.PathLike) -> Path:
        from .data import atomic_write_bytes

        atomic_write_bytes(path, (json.dumps(self.to_dict(), indent=1) + "\n").encode())
        return Path(path)

    @classmethod
    def load(cls, path: str | os.PathLike) -> Selection:
        try:
            obj = json.loads(Path(path).read_text())
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise ParameterError(f"{path}: cannot read the selection ({exc})") from None
        return cls.from_dict(obj, source=path)


def _most_frequent(params):
    """Tuned per outer fold: the most frequent choice (first seen breaks ties)."""
    if not isinstance(params, list):
        return params
    counts = Counter(json.dumps(p, sort_keys=True) for p in params)
    return json.loads(counts.most_common(1)[0][0]) if counts else None


def _selection_run(summary: Mapping) -> SelectionRun:
    models = summary.get("models", {})
    return SelectionRun(
        selected=summary.get("selected"), runner_up=summary.get("runner_up"),
        params={n: _most_frequent(m.get("params")) for n, m in models.items()},
        metrics={n: {k: m[k] for k in _CV_METRICS if k in m} for n, m in models.items()})


def _run_normalization(run: Mapping) -> str:
    """A CV summary run's normalisation (summaries written before the vocabulary of issue
    18 recorded ``speaker_normalized: bool``)."""
    if "normalization" in run:
        return normalization_of(run["normalization"]).value
    return (Normalization.SPEAKER_NORM if run.get("speaker_normalized")
            else Normalization.STRICT).value


def _summary_runs(summary: Mapping) -> list[Mapping]:
    """The runs of a CV summary, the main one first (older summaries nested the second
    under ``speaker_normalized_run``)."""
    nested = [summary.get(f"{n.value}_run") for n in Normalization]
    return [summary, *[r for r in (*nested, summary.get("speaker_normalized_run")) if r]]


def selection_from_cv_summary(summary: Mapping, *, corpus: str = "ravdess") -> Selection:
    """The :class:`Selection` of a CV ``summary.json`` (the migration of reports written
    before the selection file existed; ``corpus``: the one that CV evaluated)."""
    runs = {}
    for run in _summary_runs(summary):
        if run.get("models"):
            runs[_run_normalization(run)] = _selection_run(run)
    from .features import FeatureConfig

    config = summary.get("feature_config") or FeatureConfig().to_dict()
    split = summary.get("split", summary.get("protocol", SplitScheme.LOSO))
    return Selection(runs=runs, split=split_of(split).value, corpus=corpus,
                     classes=tuple(summary.get("classes") or ()),
                     n_speakers=int(summary.get("n_speakers") or 0), feature_config=config,
                     feature_config_hash=str(summary.get("feature_config_hash", "")),
                     command=summary.get("command"))


# --------------------------------------------------------------------------- features
def _feature_config(config):
    from .features import FeatureConfig

    return FeatureConfig() if config is None else config


def augmented_features(variant: str, manifest: pd.DataFrame, *, config, copies: int,
                       cache_dir=None, random_state: int = 0, n_jobs: int = 1,
                       groups: Sequence | None = None) -> list[np.ndarray]:
    """Feature rows of ``copies`` augmented copies of every clip of ``manifest``.

    Parameters
    ----------
    variant : str
        ``"none"`` (no copies) or a preset of :data:`AUGMENT_VARIANTS`.
    manifest : pd.DataFrame
        Rows with ``path`` and ``sha256``.
    config : FeatureConfig
    copies : int
        The first ``copies`` copies of a ``max(4, copies)``-copy configuration (one cache
        entry per copy whatever ``copies`` is); a union preset has ``copies`` of each.
    groups : sequence, optional
        Per clip, the clips that leave training together (an outer CV split's test
        groups); babble talkers of a conditions copy are clips of the same group and
        another speaker (:func:`ser_classic.conditions.babble_talkers`). Default: one
        group (every clip is a training clip).

    Returns
    -------
    list of np.ndarray [shape=(n_clips, n_features)], one per copy (NaN rows: failures)
    """
    from .augment import AugmentConfig
    from .conditions import babble_talkers
    from .features import extract_batch

    if variant == "none":
        return []
    _check_choice("augment", variant, ("none", *AUGMENT_VARIANTS))
    if "union" in AUGMENT_VARIANTS[variant]:
        return [Xa for v in AUGMENT_VARIANTS[variant]["union"]
                for Xa in augmented_features(v, manifest, config=config, copies=copies,
                                             cache_dir=cache_dir, random_state=random_state,
                                             n_jobs=n_jobs, groups=groups)]
    aug = AugmentConfig(n_copies=max(4, copies), **AUGMENT_VARIANTS[variant])
    paths, shas = list(manifest["path"]), list(manifest["sha256"])

    def talkers(k):
        if not aug.conditions:
            return None
        return [[(paths[j], shas[j]) for j in t] for t in babble_talkers(
            shas, manifest["speaker"].to_numpy(), groups=groups, seed=random_state, copy=k)]

    voices = manifest["speaker"].tolist() if aug.chain_per == "voice" else None
    return [extract_batch(paths, sha256=shas, config=config, cache_dir=cache_dir,
                          augment=aug, copy=k, seed=random_state, n_jobs=n_jobs,
                          talkers=talkers(k), voices=voices)[0]
            for k in range(copies)]


# --------------------------------------------------------------------------- export
@dataclass(frozen=True)
class OnnxExport:
    """An estimator's ONNX graph and how closely it reproduces the estimator.

    Attributes
    ----------
    onnx : bytes
    max_abs_diff : float
        Largest |p_onnx - p_sklearn| over the parity rows.
    ok : bool
        ``max_abs_diff <= atol``.
    atol : float
    n_rows : int
    """

    onnx: bytes
    max_abs_diff: float
    ok: bool
    atol: float
    n_rows: int

    def parity(self) -> dict:
        return {"max_abs_diff": self.max_abs_diff, "atol": self.atol, "ok": self.ok,
                "n_rows": self.n_rows}


def export_onnx(estimator, *, X_parity: np.ndarray, atol: float = _PARITY_ATOL
                ) -> OnnxExport:
    """Convert a fitted estimator and compare its ONNX probabilities with its own.

    Parameters
    ----------
    estimator : fitted classifier with ``predict_proba``
    X_parity : np.ndarray [shape=(m, n_features)]
        Rows, as the estimator reads them, on which the two are compared.
    """
    from .export import check_parity, onnx_predict_proba, onnx_session, to_onnx_bytes

    X_parity = np.asarray(X_parity)
    with _silenced():
        onnx = to_onnx_bytes(estimator, n_features=X_parity.shape[1])
    try:
        diff, ok = check_parity(estimator, onnx, X_parity, atol=atol), True
    except ValueError:
        diff = float(np.abs(estimator.predict_proba(X_parity) - onnx_predict_proba(
            onnx_session(onnx), X_parity)).max())
        ok = False
    return OnnxExport(onnx=onnx, max_abs_diff=float(diff), ok=ok, atol=atol,
                      n_rows=len(X_parity))


def _model_id(name: str, onnx: bytes) -> str:
    import hashlib

    return f"{name}-{hashlib.sha256(onnx).hexdigest()[:10]}"


# --------------------------------------------------------------------------- train
@dataclass(frozen=True)
class TrainedModel:
    """A fitted registry model, ready to be written as a model directory.

    Attributes
    ----------
    name : str
        Registry name.
    normalization : Normalization
    classes : tuple of str
    estimator : fitted pipeline (integer class codes)
    export : OnnxExport
    feature_config : FeatureConfig
    training : dict
        The card's ``training`` facts (clips, speakers, parameters, augmentation, command).
    cv_metrics : dict or None
        The selection's CV metrics of this model, kept only when they describe it (same
        corpus and speakers, label set and front end); None otherwise.
    skipped : tuple of (path, problem)
        Clips whose features failed.
    typicality : Typicality or None
        Statistics of the training rows that shrink atypical clips' probabilities at
        inference (:mod:`ser_classic.typicality`).
    """

    name: str
    normalization: str
    classes: tuple
    estimator: object
    export: OnnxExport
    feature_config: object
    training: dict
    cv_metrics: dict | None
    skipped: tuple = ()
    typicality: object = None

    @property
    def model_id(self) -> str:
        """``name-<sha256 of the ONNX graph>``, as the card will record it."""
        return _model_id(self.name, self.export.onnx)

    def save(self, model_dir: str | os.PathLike) -> dict:
        """Write the model directory; returns its card."""
        from .artifact import save_artifact

        return save_artifact(model_dir, estimator=self.estimator, classes=self.classes,
                             config=self.feature_config, name=self.name,
                             normalization=self.normalization, onnx=self.export.onnx,
                             training=self.training, cv_metrics=self.cv_metrics,
                             extra={"onnx_parity": self.export.parity()},
                             typicality=self.typicality)


def _registry_model(model: str | os.PathLike, selection: Selection | None,
                    normalization: str | None) -> tuple[str, str]:
    """(registry name, normalisation) of a name, ``@selected``/``@runner_up``, or a model
    directory (its card read and verified: its name and normalisation)."""
    if (Path(model) / "model.json").is_file():
        from .artifact import load_artifact

        card = load_artifact(model, load_joblib=False).card
        if (normalization is not None
                and normalization_of(normalization) != card["normalization"]):
            raise ParameterError(f"{model} is a {card['normalization']} model; normalization "
                                 f"{str(normalization)!r} contradicts it (leave it out to "
                                 f"train as the model, or name the registry model "
                                 f"{card['name']!r})")
        return str(card["name"]), normalization_of(card["normalization"])
    normalization = normalization_of(normalization or Normalization.STRICT)
    model = str(model)
    if model.startswith("@"):
        if selection is None:
            raise ParameterError(f"{model} needs a selection (run `ser-classic evaluate` "
                                 f"first)")
        return selection.resolve(model, normalization=normalization), normalization
    return model, normalization


def _corpus_list(corpora: str | Sequence[str]) -> list[str]:
    """Sorted distinct corpus names (a single name is one corpus)."""
    names = [corpora] if isinstance(corpora, str) else [str(c) for c in corpora]
    if not names or not all(names):
        raise ParameterError(f"corpora: need at least one corpus name, got {corpora!r}")
    return sorted(set(names))


def _extracted(X: np.ndarray, copies: Sequence[np.ndarray] = ()) -> np.ndarray:
    """Mask of the rows whose features and every augmented copy were extracted (a failed
    extraction is a NaN row): the clips :func:`train` fits."""
    ok = ~np.isnan(X).any(axis=1)
    for c in copies:
        ok &= ~np.isnan(c).any(axis=1)
    return ok


def _canonical_rows(rows: pd.DataFrame) -> pd.DataFrame:
    """``rows`` in content order (sha256, then path): a fit then depends on the set of
    clips, as the card's manifest hash does, not on the manifest's row order."""
    return rows.sort_values(["sha256", "path"], kind="mergesort").reset_index(drop=True)


def corpus_repeats(corpus: Sequence[str]) -> dict[str, int]:
    """How often :func:`train` with ``balance_corpora`` repeats each corpus's clips:
    ``round(largest corpus's count / its count)``, at least once, so that every corpus
    weighs about as much as the largest (a few labelled clips of a new domain are not
    drowned by the large corpora)."""
    names, counts = np.unique(np.asarray(corpus, dtype=str), return_counts=True)
    return {str(n): max(1, int(np.rint(counts.max() / c)))
            for n, c in zip(names, counts, strict=True)}


def _repeated(rows: pd.DataFrame, repeats: Mapping[str, int]) -> np.ndarray:
    """Row indices of ``rows`` with each row repeated as its corpus's ``repeats``."""
    return np.repeat(np.arange(len(rows)), rows["corpus"].map(repeats).to_numpy(dtype=int))


def _each_clip_once(rows: pd.DataFrame) -> np.ndarray:
    """Mask of the first row of every clip (``corpus_repeats`` repeat some)."""
    return ~rows.duplicated(subset=["path"]).to_numpy()


def training_corpora(card: Mapping) -> list[str]:
    """The corpora a model was trained on, from its card (``training.corpora``; cards
    written before multi-corpus training name one ``training.corpus``)."""
    training = card.get("training", {})
    return list(training.get("corpora") or [training.get("corpus", "ravdess")])


@dataclass(frozen=True)
class TrainingFeatures:
    """The clips :func:`train` fits and their feature rows (from the cache when there).

    Attributes
    ----------
    rows : pd.DataFrame
        The training clips in content order (sha256, then path).
    X : np.ndarray [shape=(n_clips, n_features)]
        NaN rows: clips that failed (``errors``).
    X_aug : list of np.ndarray [shape=(n_clips, n_features)]
        One per augmented copy (NaN rows: failed copies).
    errors : tuple of (source, problem)
    excluded_speakers, excluded_emotions : tuple of str
    """

    rows: pd.DataFrame
    X: np.ndarray
    X_aug: list
    errors: tuple
    excluded_speakers: tuple
    excluded_emotions: tuple


def training_features(manifest: pd.DataFrame, *, corpora: str | Sequence[str] = "ravdess",
                      exclude_speakers: Sequence[str] = (),
                      exclude_emotions: Sequence[str] = (), augment: str = DEFAULT_AUGMENT,
                      copies: int = 4, feature_config=None, random_state: int = 0,
                      cache_dir: str | os.PathLike | None = None,
                      n_jobs: int = 1) -> TrainingFeatures:
    """Feature rows of :func:`train`'s training clips and of their augmented copies.

    What :func:`train` reads with the same arguments: called first with a ``cache_dir``,
    it fills the cache once for several trainings that run side by side (which would
    otherwise each extract the same copies at the same time).

    Parameters
    ----------
    manifest : pd.DataFrame
    corpora, exclude_speakers, exclude_emotions, augment, copies, feature_config,
    random_state, cache_dir, n_jobs
        As :func:`train`.

    Returns
    -------
    TrainingFeatures
    """
    from .features import extract_batch

    config = _feature_config(feature_config)
    _check_choice("augment", augment, ("none", *AUGMENT_VARIANTS))
    corpora = _corpus_list(corpora)
    where = "+".join(corpora)
    missing = sorted(set(corpora) - set(manifest["corpus"]))
    if missing:
        raise ParameterError(f"corpora: no clips of {missing} in the manifest; it holds "
                             f"{', '.join(sorted(set(manifest['corpus'])))}")
    rows = manifest[manifest["corpus"].isin(corpora)]
    excluded = [str(s) for s in exclude_speakers]
    unknown = sorted(set(excluded) - set(rows["speaker"]))
    if unknown:
        raise ParameterError(f"exclude_speakers: no such speaker(s) in {where}: {unknown}")
    rows = rows[~rows["speaker"].isin(excluded)].reset_index(drop=True)
    no_emotions = [str(e) for e in exclude_emotions]
    unknown = sorted(set(no_emotions) - set(rows["emotion"]))
    if unknown:
        raise ParameterError(f"exclude_emotions: no such emotion(s) in {where}: {unknown}")
    rows = _canonical_rows(rows[~rows["emotion"].isin(no_emotions)])
    if rows.empty:
        raise ParameterError(f"no {where} clips in the manifest")
    X, errors, _ = extract_batch(rows["path"], sha256=rows["sha256"], config=config,
                                 cache_dir=cache_dir, n_jobs=n_jobs)
    X_aug = augmented_features(augment, rows, config=config, copies=copies,
                               cache_dir=cache_dir, random_state=random_state, n_jobs=n_jobs)
    return TrainingFeatures(rows=rows, X=X, X_aug=X_aug, errors=tuple(errors),
                            excluded_speakers=tuple(excluded),
                            excluded_emotions=tuple(no_emotions))


def train(manifest: pd.DataFrame, *, model: str | os.PathLike,
          normalization: str | None = None, corpora: str | Sequence[str] = "ravdess",
          exclude_speakers: Sequence[str] = (), exclude_emotions: Sequence[str] = (),
          params: dict | None = None, selection: Selection | None = None,
          augment: str = DEFAULT_AUGMENT, copies: int = 4, feature_config=None,
          calibration: str = "none", typicality: bool = True, tune: str | None = None,
          tune_rule: str = "best", balance_corpora: bool = False, random_state: int = 0,
          cache_dir: str | os.PathLike | None = None, n_jobs: int = 1,
          command: str | None = None) -> TrainedModel:
    """Train a registry model on the clips of one or more corpora of a manifest.

    Parameters
    ----------
    manifest : pd.DataFrame
        Rows with ``path``, ``sha256``, ``corpus``, ``speaker``, ``emotion``.
    model : str or path
        A registry name (:data:`ser_classic.models.MODELS`), ``"@selected"`` /
        ``"@runner_up"`` of ``selection``, or a model directory: the registry model it was
        trained as, with its normalisation.
    normalization : Normalization or {"strict", "speaker_norm", "neutral_ref"}, optional
        Default: the model directory's, else ``"strict"``. Contradicting a model
        directory's is an error.
    corpora : str or sequence of str
        Clips of these corpora are the training set (their labels as the manifest maps
        them, :data:`ser_classic.data.LABEL_MAPS`; the classes are the labels present).
    exclude_speakers, exclude_emotions : sequence of str
        Left out of training (each must occur in ``corpora``).
    params : dict, optional
        Hyper-parameters (default: chosen by ``tune``, else the selection's tuned ones for
        the model).
    selection : Selection, optional
        The CV's hand-off: resolves ``@selected``/``@runner_up``, gives tuned parameters
        and, when they describe this model, CV metrics for the card.
    augment : str
        ``"none"`` or a preset of :data:`AUGMENT_VARIANTS`: ``copies`` augmented copies of
        every clip, used by the models registered as augmented.
    feature_config : FeatureConfig, optional
    calibration : {"none", "temperature", "corpus_temperature"}
        ``"temperature"``: probabilities temperature-scaled on speaker-grouped out-of-fold
        predictions; ``"corpus_temperature"``: on those pooled with leave-one-corpus-out
        predictions of the training corpora (speaker-grouped only with one corpus)
        (:func:`ser_classic.calibration.calibrate_trained`; the card's
        ``training.calibration`` holds the method, ``T`` and the out-of-fold ECE
        before/after).
    typicality : bool
        Store the typicality of the training clips (not their augmented copies), as the
        classifier reads them (and before speaker normalisation), over the columns it
        reads: at inference the probabilities of clips unlike them (noise, music) are
        shrunk towards uniform, with a threshold from speaker-grouped held-out training
        speakers and ``keep`` chosen against non-speech made from the training clips
        (:func:`ser_classic.typicality.training_typicality`).
    tune : {"speaker", "corpus", "speaker+corpus"}, optional
        Choose the parameters by grouped inner CV on the training rows
        (:func:`ser_classic.evaluation.tune_params`; the card's ``training.params_source``
        holds every grid point's inner score). Not with ``params``.
    tune_rule : {"best", "one_se"}
        With ``tune``: the best mean inner score, or the most regularised grid point
        within one standard error of it (:data:`ser_classic.evaluation.TUNING_RULES`;
        reports/tuning_rule measured both).
    balance_corpora : bool
        Repeat each corpus's clips (and their copies) :func:`corpus_repeats` times in
        every fit (tuning, calibration, the model), so that each corpus weighs about as
        much as the largest; classes are balanced over the repeated rows. For a few
        labelled clips of a new domain added as their own corpus
        (``reports/domain_shots``). Recorded in the card (``training.corpus_repeats``);
        the typicality reference reads each clip once. The repeated clips make the model
        over-confident on new voices: pair with ``calibration="temperature"``
        (``reports/balance_corpora``).
    random_state : int
        The estimator's ``random_state`` and the augmentation seed.
    cache_dir : path, optional
        Feature cache.
    n_jobs : int
        Parallel jobs of feature extraction and of the inner tuning folds (the model does
        not depend on it).
    command : str, optional
        Recorded in the card.

    Returns
    -------
    TrainedModel
    """
    from .artifact import manifest_hash, train_model, used_feature_columns
    from .calibration import CALIBRATIONS, calibrate_trained
    from .evaluation import TUNING_RULES, TUNINGS, normalized_inputs
    from .typicality import training_typicality

    config = _feature_config(feature_config)
    name, normalization = _registry_model(model, selection, normalization)
    _check_choice("calibration", calibration, CALIBRATIONS)
    _check_choice("tune_rule", tune_rule, TUNING_RULES)
    if tune is not None:
        _check_choice("tune", tune, TUNINGS)
        if params is not None:
            raise ParameterError("give params or tune, not both")
    elif tune_rule != "best":
        raise ParameterError("tune_rule is for tune")
    corpora = _corpus_list(corpora)
    data = training_features(manifest, corpora=corpora, exclude_speakers=exclude_speakers,
                             exclude_emotions=exclude_emotions, augment=augment,
                             copies=copies, feature_config=config,
                             random_state=random_state, cache_dir=cache_dir, n_jobs=n_jobs)
    rows, X, X_aug, errors = data.rows, data.X, data.X_aug, data.errors
    excluded, no_emotions = list(data.excluded_speakers), list(data.excluded_emotions)
    ok = _extracted(X, X_aug)
    rows, X, X_aug = rows[ok].reset_index(drop=True), X[ok], [Xa[ok] for Xa in X_aug]
    # the fits read fit_rows (each corpus repeated with balance_corpora); the typicality
    # reference, the parity sample and the card read each clip once
    fit_rows, X_fit, X_aug_fit = rows, X, X_aug
    repeats = corpus_repeats(rows["corpus"]) if balance_corpora else None
    if repeats is not None:
        index = _repeated(rows, repeats)
        fit_rows, X_fit = rows.iloc[index].reset_index(drop=True), X[index]
        X_aug_fit = [Xa[index] for Xa in X_aug]
    run = selection.run(normalization) if selection is not None else None
    cv_params = run.params.get(name) if run is not None else None
    cv_metrics = run.metrics.get(name) if run is not None else None
    tuned_config = selection.feature_config if run is not None else None
    other_front_end = tuned_config is not None and tuned_config != config.to_dict()
    other_data = run is not None and ([selection.corpus] != corpora or bool(excluded) or
                                      selection.n_speakers != rows["speaker"].nunique())
    if cv_metrics is not None:
        cv_metrics = {**cv_metrics, "split": selection.split,
                      "normalization": normalization.value,
                      "n_speakers": selection.n_speakers, "classes": list(selection.classes),
                      "feature_config_hash": selection.feature_config_hash,
                      "params_rule": "most frequent per-fold choice",
                      "selection_command": selection.command}
    if other_front_end or no_emotions or other_data or tune is not None:
        cv_metrics = None  # the CV's parameters are still used; its metrics describe
        # another front end, label set or training set, not this model
    used_params = params if params is not None else cv_params
    tuning = None
    if tune is not None:
        used_params, tuning = _tuned_params(name, fit_rows, X_fit, X_aug_fit, tune=tune,
                                            rule=tune_rule, normalization=normalization,
                                            random_state=random_state, n_jobs=n_jobs)
    start = time.perf_counter()
    with _silenced():
        estimator, classes = train_model(X_fit, fit_rows["emotion"], name=name,
                                         speakers=fit_rows["speaker"],
                                         normalization=normalization,
                                         params=used_params, random_state=random_state,
                                         X_aug=X_aug_fit)
        if calibration != "none":
            estimator = calibrate_trained(estimator, X_fit, fit_rows["emotion"], name=name,
                                          speakers=fit_rows["speaker"],
                                          normalization=normalization, params=used_params,
                                          random_state=random_state, X_aug=X_aug_fit,
                                          method=calibration, corpora=fit_rows["corpus"])
    fit_s = time.perf_counter() - start
    Xp = normalized_inputs(X, (), rows["speaker"], normalization=normalization,
                           labels=rows["emotion"])[0]
    sample = Xp[np.random.default_rng(random_state).permutation(len(Xp))[:300]]
    export = export_onnx(estimator, X_parity=sample)
    typical = (training_typicality(rows, X, Xp, normalization=normalization, config=config,
                                   columns=used_feature_columns(estimator, X.shape[1]),
                                   random_state=random_state)
               if typicality else None)
    training = {
        "corpora": corpora, "n_clips": len(rows),
        "clips_per_corpus": rows["corpus"].value_counts().sort_index().to_dict(),
        **({} if repeats is None else {"corpus_repeats": repeats}),
        "speakers": sorted(rows["speaker"].unique()), "excluded_speakers": excluded,
        "excluded_emotions": no_emotions,
        "emotion_counts": rows["emotion"].value_counts().sort_index().to_dict(),
        "manifest_sha256": manifest_hash(list(rows["sha256"]), list(rows["emotion"])),
        "params": used_params, "random_state": random_state, "fit_seconds": round(fit_s, 2),
        "augment": {"variant": augment, "copies": copies if X_aug else 0,
                    **AUGMENT_VARIANTS.get(augment, {})},
        "command": command,
    }
    if calibration != "none":
        training["calibration"] = estimator.calibration_
    if tuning is not None:
        training["params_source"] = tuning
    elif params is None and run is not None and name in run.params:
        training["params_source"] = {"selection_command": selection.command,
                                     "corpus": selection.corpus,
                                     "n_speakers": selection.n_speakers}
        if other_front_end:
            training["params_tuned_on_feature_config"] = tuned_config
        if no_emotions and selection.classes:
            training["params_tuned_with_emotions"] = list(selection.classes)
    return TrainedModel(name=name, normalization=normalization, classes=tuple(classes),
                        estimator=estimator, export=export, feature_config=config,
                        training=training, cv_metrics=cv_metrics, skipped=tuple(errors),
                        typicality=typical)


def _tuned_params(name, rows, X, X_aug, *, tune, normalization, random_state, rule="best",
                  n_jobs=1):
    """``tune``'s parameters of ``name`` on the training rows, and the card's record (its
    ``rule`` only when not the default, so that default cards stay as they were)."""
    from .evaluation import normalized_inputs, tune_params

    Xn, Xn_aug = normalized_inputs(X, X_aug, rows["speaker"], normalization=normalization,
                                   labels=rows["emotion"])
    classes = sorted(set(rows["emotion"]))
    y = np.searchsorted(classes, rows["emotion"].to_numpy(dtype=str))
    with _silenced():
        chosen, scores = tune_params(name, Xn, y, speakers=rows["speaker"],
                                     corpora=rows["corpus"], tune=tune, X_aug=Xn_aug,
                                     rule=rule,
                                     n_classes=len(classes), random_state=random_state,
                                     normalization=normalization, n_jobs=n_jobs)
    record = {"tuned": tune, "scoring": "uar", "corpora": sorted(set(rows["corpus"])),
              "n_speakers": int(rows["speaker"].nunique()), "inner_scores": scores}
    return chosen, record if rule == "best" else {**record, "rule": rule}


# --------------------------------------------------------------------------- cross-validate
@dataclass(frozen=True)
class CrossValidation:
    """Everything one :func:`cross_validate` produced.

    Attributes
    ----------
    evaluations : dict
        Normalisation -> :class:`ser_classic.evaluation.Evaluation` (out-of-fold
        probabilities and predictions of every model).
    summary : dict
        The content of ``summary.json``: per normalisation, per model, metrics with
        speaker-bootstrap CIs, fold scores, tuned parameters; selection, comparisons,
        other feature sets and the augmentation ablation when asked.
    selection : Selection
    paths : tuple of str
        The clip of every out-of-fold row.
    """

    evaluations: dict
    summary: dict
    selection: Selection
    paths: tuple

    def oof(self, model: str, *, normalization: str = Normalization.STRICT) -> pd.DataFrame:
        """Out-of-fold predictions: path, speaker, fold, true, predicted, p_<class>..."""
        from .evaluation import oof_frame

        return oof_frame(self.evaluations[normalization_of(normalization).value], model,
                         paths=self.paths)

    def write_report(self, out_dir: str | os.PathLike, *, command: str | None = None
                     ) -> list[Path]:
        """Write ``summary.json``, ``selection.json``, the out-of-fold CSVs, ``report.md``
        and the plots into ``out_dir``; returns the report files."""
        from . import reporting
        from .data import atomic_write_bytes

        out = Path(out_dir)
        summary = {**self.summary, "command": command or self.summary.get("command")}
        for norm, ev in self.evaluations.items():
            for name in ev.models:
                frame = self.oof(name, normalization=norm)
                atomic_write_bytes(out / f"oof_{norm}_{name}.csv",
                                   frame.to_csv(index=False).encode())
        atomic_write_bytes(out / "summary.json", json.dumps(summary, indent=1).encode())
        self.selection.save(out / SELECTION_FILE)
        return reporting.cv_report(summary, out_dir=out, command=summary["command"])


def _eval_rows(ev, summary, *, feature_set, n_features):
    rows = []
    best = max(summary["models"], key=lambda n: summary["models"][n]["accuracy"])
    for name, m in summary["models"].items():
        rows.append({"feature_set": feature_set, "n_features": n_features,
                     "normalization": ev.normalization.value,
                     "model": name, "accuracy": m["accuracy"], "uar": m["uar"],
                     "macro_f1": m["macro_f1"], "uar_ci95": m["uar_ci95"],
                     "accuracy_ci95": m["accuracy_ci95"], "fold_uar": m["fold_uar"],
                     "best": name == best})
    return rows


def cross_validate(manifest: pd.DataFrame, *, models: Sequence[str],
                   split: str = SplitScheme.LOSO, n_folds: int = 6,
                   normalizations: Sequence[str] = DEFAULT_NORMALIZATIONS,
                   augment: str = DEFAULT_AUGMENT, copies: int = 4, n_inner: int = 2,
                   corpus: str = "ravdess", max_speakers: int = 0, classes=None,
                   feature_config=None, feature_sets: Sequence[str] = (),
                   smile_cache: str | os.PathLike | None = None,
                   ablation: Sequence[str] = (), ablation_model: str = "logreg",
                   random_state: int = 0, cache_dir: str | os.PathLike | None = None,
                   n_jobs: int = 1, progress: Callable[[str], None] | None = None,
                   command: str | None = None) -> CrossValidation:
    """Speaker-grouped nested cross-validation of registry models, and the selection.

    Parameters
    ----------
    manifest : pd.DataFrame
    models : sequence of str
        Registry names (an ensemble's members are evaluated too).
    split : SplitScheme or {"loso", "group6"}
        Outer folds: leave one speaker out, or ``n_folds`` groups of speakers.
    normalizations : sequence of Normalization or {"strict", "speaker_norm", "neutral_ref"}
        One run each, on the same folds; the first is the summary's main run, the others
        nested in it as ``"<normalization>_run"`` (e.g. ``speaker_norm_run``).
    augment : str
        ``"none"`` or a preset of :data:`AUGMENT_VARIANTS` (training rows of each fold
        only, for the models registered as augmented); ``copies`` per clip.
    n_inner : int
        Speaker-grouped inner folds for tuning (inside each outer training set).
    corpus : str
    max_speakers : int
        Only the first N speakers (quick runs; 0 = all).
    classes : sequence of str, optional
        Class order (default: :func:`ser_classic.data.label_order` of the labels: the
        canonical emotions in their order, then any others sorted).
    feature_sets : sequence of str
        openSMILE sets compared on the same folds, ``"SET:MODEL+MODEL"`` (needs the bench
        extra; skipped with a progress note when opensmile is missing), and their late
        fusion with the selected model.
    ablation : sequence of str
        Augmentation presets compared with none on the same folds (``ablation_model``).
    random_state : int
    progress : callable(str), optional
        Called with a line of text as the runs go.

    Returns
    -------
    CrossValidation
    """
    from . import evaluation
    from .data import label_order
    from .features import extract_batch

    def log(line: str) -> None:
        if progress is not None:
            progress(line)

    start = time.perf_counter()
    split = split_of(split)
    if not normalizations:
        raise ParameterError("normalizations must name at least one of "
                             f"{NORMALIZATIONS}")
    normalizations = list(dict.fromkeys(normalization_of(n).value for n in normalizations))
    _check_choice("augment", augment, ("none", *AUGMENT_VARIANTS))
    config = _feature_config(feature_config)
    present = sorted(set(manifest["corpus"]))
    manifest = _canonical_rows(manifest[manifest["corpus"] == corpus])
    if manifest.empty:
        raise ParameterError(f"no clips of corpus {corpus!r} in the manifest; it holds "
                             f"{', '.join(present)}")
    if max_speakers:
        keep = sorted(manifest["speaker"].unique())[:max_speakers]
        manifest = manifest[manifest["speaker"].isin(keep)].reset_index(drop=True)
    models = list(models)
    X, errors, _ = extract_batch(manifest["path"], sha256=manifest["sha256"], config=config,
                                 cache_dir=cache_dir, n_jobs=n_jobs)
    ok = ~np.isnan(X).any(axis=1)
    for source, problem in errors:
        log(f"skipped {source}: {problem}")
    manifest, X = manifest[ok].reset_index(drop=True), X[ok]
    classes = list(classes if classes is not None else label_order(manifest["emotion"]))
    code = {e: i for i, e in enumerate(classes)}
    unknown = sorted(set(manifest["emotion"]) - set(code))
    if unknown:
        raise ParameterError(f"labels {unknown} are not among classes {classes}")
    y = manifest["emotion"].map(code).to_numpy()
    speakers = manifest["speaker"].to_numpy()

    # the clips that leave training together: babble talkers of a copy come from them
    groups = np.empty(len(manifest), dtype=int)
    for k, (_, test_idx) in enumerate(evaluation.outer_splits(speakers, split=split,
                                                              n_folds=n_folds)):
        groups[test_idx] = k

    def augmented(variant):
        return augmented_features(variant, manifest, config=config, copies=copies,
                                  cache_dir=cache_dir, random_state=random_state,
                                  n_jobs=n_jobs, groups=groups)

    def run_cv(X_, models_, norm, X_aug=()):
        return evaluation.cross_validate(
            X_, y, speakers, models=models_, classes=classes, split=split,
            n_folds=n_folds, normalization=norm, X_aug=X_aug,
            n_inner=n_inner, random_state=random_state, n_jobs=n_jobs, progress=progress)

    label_of = {"strict": "strict", "speaker_norm": "speaker-normalised",
                "neutral_ref": "centred on neutral clips"}
    summaries = {}
    X_aug = augmented(augment)
    for norm in normalizations:
        log(f"== librosa features, {label_of[norm]}, {split}, models {models}")
        ev = run_cv(X, models, norm, X_aug)
        summaries[norm] = (ev, evaluation.summary_dict(
            ev, feature_config_hash=config.hash, random_state=random_state,
            extra={"n_features": X.shape[1], "n_inner": n_inner,
                   "augment": augment, "feature_config": config.to_dict(),
                   "augmented_models": [m for m in ev.models
                                        if evaluation.MODELS[m].fits_copies(norm)]}))
    main_norm = normalizations[0]
    summary = summaries[main_norm][1]
    for norm in normalizations[1:]:
        summary[f"{norm}_run"] = summaries[norm][1]
    feature_rows = []
    summary["feature_sets"] = feature_rows
    summary["command"] = command
    for norm in normalizations:
        ev, s = summaries[norm]
        feature_rows += _eval_rows(ev, s, feature_set="librosa", n_features=X.shape[1])
    fused = {}
    for item in [f for f in feature_sets if f]:
        fs, _, spec = item.partition(":")
        fs_models = [m for m in spec.split("+") if m] or ["logreg"]
        try:
            import opensmile  # noqa: F401

            from .smile import extract_smile_batch
        except ImportError:
            log(f"openSMILE not installed: {fs} comparison skipped (pip install "
                "'ser_classic[bench]')")
            continue
        log(f"== openSMILE {fs}")
        Xs, errs, _ = extract_smile_batch(manifest["path"], feature_set=fs,
                                          sha256=manifest["sha256"], cache_dir=smile_cache,
                                          n_jobs=n_jobs)
        if errs or np.isnan(Xs).any():
            raise ParameterError(f"openSMILE {fs} failed on {len(errs)} clips")
        for norm in normalizations:
            log(f"== {fs}, {label_of[norm]}, models {fs_models}")
            ev = run_cv(Xs, fs_models, norm)
            s = evaluation.summary_dict(ev, feature_config_hash=fs, random_state=random_state)
            feature_rows += _eval_rows(ev, s, feature_set=fs, n_features=Xs.shape[1])
            fused.setdefault(norm, []).append((fs, ev.models[s["selected"]]))
    # late fusion: mean probabilities of the selected librosa model and each set's best
    for norm, members in fused.items():
        ev_l, s_l = summaries[norm]
        for fs, res in members:
            ev_f = evaluation.fuse(ev_l, {f"librosa:{s_l['selected']}":
                                          ev_l.models[s_l["selected"]],
                                          f"{fs}:{res.name}": res}, name="fusion")
            s_f = evaluation.summary_dict(ev_f, feature_config_hash="fusion",
                                          random_state=random_state)
            feature_rows += _eval_rows(ev_f, s_f, feature_set=f"librosa+{fs} (late fusion)",
                                       n_features=0)
    ablation = [v for v in ablation if v]
    if ablation:
        rows = []
        for variant in dict.fromkeys(["none", *ablation]):
            main_run = variant == augment and ablation_model in models
            X_v = [] if main_run else augmented(variant)
            for norm in normalizations:
                if main_run:  # the main run on the same folds already has it
                    m = summaries[norm][1]["models"][ablation_model]
                else:
                    log(f"== augmentation {variant}, {label_of[norm]}, {ablation_model}")
                    ev = run_cv(X, [ablation_model], norm, X_v)
                    s = evaluation.summary_dict(ev, feature_config_hash=config.hash,
                                                random_state=random_state)
                    m = s["models"][ablation_model]
                rows.append({"variant": variant, "normalization": norm,
                             "model": ablation_model, "copies": 0 if variant == "none"
                             else copies, "accuracy": m["accuracy"], "uar": m["uar"],
                             "uar_ci95": m["uar_ci95"], "fold_uar": m["fold_uar"]})
        summary["augmentation"] = {
            "rows": rows, "variants": {v: AUGMENT_VARIANTS[v] for v in ablation},
            "note": f"{ablation_model} with and without {copies} augmented copies "
                    "per training clip, same outer folds and inner tuning."}
    summary["complete"] = True
    summary["seconds_total"] = time.perf_counter() - start
    selection = Selection(
        runs={norm: _selection_run(summaries[norm][1]) for norm in normalizations},
        split=split.value, corpus=corpus, classes=tuple(classes),
        n_speakers=int(np.unique(speakers).size), feature_config=config.to_dict(),
        feature_config_hash=config.hash, command=command)
    return CrossValidation(evaluations={n: summaries[n][0] for n in normalizations},
                           summary=summary, selection=selection,
                           paths=tuple(manifest["path"]))


# --------------------------------------------------------------------------- distil
@dataclass(frozen=True)
class TeacherData:
    """A teacher's exact training clips, featurised as its model reads them.

    Attributes
    ----------
    rows : pd.DataFrame
        The usable clips (the teacher's corpus and speakers, without its excluded
        emotions), each repeated as the teacher's ``training.corpus_repeats`` when it has
        them.
    X_raw : np.ndarray [shape=(n, n_features)]
        Features as extracted (what a recogniser computes).
    X : np.ndarray [shape=(n, n_features)]
        Features as the teacher reads them (z-scored per speaker for a speaker-normalised
        teacher).
    X_copies : list of np.ndarray [shape=(n, n_features)]
        The transfer set's augmented copies (:data:`DISTILL_AUGMENT`, or the teacher's
        own), normalised as ``X``; a copy that failed is a NaN row.
    y : np.ndarray [shape=(n,)]
        Class codes of the teacher's classes.
    classes : tuple of str
    skipped : tuple of (path, problem)
    X_copies_raw : list of np.ndarray [shape=(n, n_features)]
        With ``transfer="teacher"``: those copies as extracted (the teacher's training
        copies, what its recipe fits); empty otherwise.
    """

    rows: pd.DataFrame
    X_raw: np.ndarray
    X: np.ndarray
    X_copies: list
    y: np.ndarray
    classes: tuple
    skipped: tuple = ()
    X_copies_raw: list = field(default_factory=list)


#: Where the transfer set's augmented copies come from: ``masks``, the
#: :data:`DISTILL_AUGMENT` copies; ``teacher``, the teacher's own training copies (its
#: card's augmentation preset, copies and seed: e.g. degraded recordings, so that the
#: student copies the teacher off the clean path too; cached by the teacher's training).
TRANSFER_COPIES = ("masks", "teacher")


def teacher_training_data(teacher, manifest: pd.DataFrame, *, copies: int = 2,
                          transfer: str = "masks", random_state: int = 0,
                          cache_dir: str | os.PathLike | None = None,
                          n_jobs: int = 1) -> TeacherData:
    """The clips a teacher was trained on (its card's corpora, speakers and excluded
    emotions), their features and augmented copies, normalised as it reads them.

    Parameters
    ----------
    teacher : Artifact
        From :func:`ser_classic.artifact.load_artifact`.
    manifest : pd.DataFrame
    copies : int
        Masked copies (:data:`DISTILL_AUGMENT`, at most 4) with ``transfer="masks"``.
    transfer : {"masks", "teacher"}
        :data:`TRANSFER_COPIES`; ``"teacher"`` ignores ``copies`` and ``random_state``.

    Raises
    ------
    ParameterError
        When the clips found (with their labels) are not those the teacher was trained
        on, by its card's ``training.manifest_sha256``: a manifest with clips of its
        speakers added, removed or relabelled since.
    """
    from .augment import AugmentConfig
    from .evaluation import normalized_inputs
    from .features import extract_batch

    _check_choice("transfer", transfer, TRANSFER_COPIES)
    if not 0 <= copies <= DISTILL_AUGMENT["n_copies"]:
        raise ParameterError(f"copies must be in 0..{DISTILL_AUGMENT['n_copies']}, "
                             f"got {copies}")
    card = teacher.card
    training = card.get("training", {})
    rows = manifest[manifest["corpus"].isin(training_corpora(card))]
    if training.get("speakers"):  # exactly the teacher's training clips
        rows = rows[rows["speaker"].isin(training["speakers"])]
    rows = _canonical_rows(rows[~rows["emotion"].isin(training.get("excluded_emotions", []))])
    if rows.empty:
        raise ParameterError("no training clips of the teacher in the manifest")
    config = teacher.feature_config
    X_raw, errors, _ = extract_batch(rows["path"], sha256=rows["sha256"], config=config,
                                     cache_dir=cache_dir, n_jobs=n_jobs)
    own_copies = (_teacher_copies(teacher, rows, cache_dir=cache_dir, n_jobs=n_jobs)
                  if transfer == "teacher" else None)
    _check_training_clips(teacher, rows, X_raw, own_copies, cache_dir=cache_dir,
                          n_jobs=n_jobs)  # before any masked copy
    copies_raw = own_copies or []
    if own_copies is not None:
        X_copies = own_copies
    else:
        aug = AugmentConfig(**DISTILL_AUGMENT)
        X_copies = [extract_batch(rows["path"], sha256=rows["sha256"], config=config,
                                  cache_dir=cache_dir, augment=aug, copy=k,
                                  seed=random_state, n_jobs=n_jobs)[0]
                    for k in range(copies)]
    # a failed copy stays NaN: the student never learns on it (distill.transfer_set), as
    # the teacher never trained on it
    X, X_copies = normalized_inputs(X_raw, X_copies, rows["speaker"],
                                    normalization=card["normalization"],
                                    labels=rows["emotion"])
    ok = np.flatnonzero(~np.isnan(X).any(axis=1))
    if training.get("corpus_repeats"):  # the teacher's fits repeated its small corpora
        ok = ok[_repeated(rows.iloc[ok], training["corpus_repeats"])]
    classes = tuple(card["classes"])
    y = np.searchsorted(classes, rows["emotion"].to_numpy(dtype=str))
    return TeacherData(rows=rows.iloc[ok].reset_index(drop=True), X_raw=X_raw[ok], X=X[ok],
                       X_copies=[c[ok] for c in X_copies], y=y[ok], classes=classes,
                       skipped=tuple(errors), X_copies_raw=[c[ok] for c in copies_raw])


def _check_training_clips(artifact, rows: pd.DataFrame, X_raw: np.ndarray,
                          own_copies: list | None, *, cache_dir, n_jobs: int) -> None:
    """Raise unless the clips of ``rows`` that :func:`train` would fit (features
    ``X_raw`` and every training copy extracted) are the clips ``artifact`` was trained
    on, with their labels, by its card's ``training.manifest_sha256`` (not checked
    without one).

    ``own_copies``: its training copies as extracted, or None: then read only when more
    clips are found than it was trained on (a copy rarely fails; those of its training
    clips are cached by its training)."""
    from .artifact import manifest_hash

    training = artifact.card.get("training", {})
    expected = training.get("manifest_sha256")

    def matches(found: pd.DataFrame) -> bool:
        return manifest_hash(list(found["sha256"]), list(found["emotion"])) == expected

    found = rows[_extracted(X_raw, own_copies or [])]
    if expected is None or matches(found):
        return
    if own_copies is None and len(found) > training.get("n_clips", len(found)):
        found = rows[_extracted(X_raw, _teacher_copies(artifact, rows, cache_dir=cache_dir,
                                                       n_jobs=n_jobs))]
        if matches(found):
            return
    raise ParameterError(
        f"{artifact.path}: the manifest's clips of its corpora and speakers are not the "
        f"clips it was trained on ({len(found)} clips found, {training.get('n_clips')} "
        f"trained on; their sha256 and labels differ from its card's manifest_sha256): "
        f"give the manifest it was trained with (its card's training.command)")


def _teacher_copies(teacher, rows: pd.DataFrame, *, cache_dir, n_jobs: int) -> list:
    """The teacher's own training copies of ``rows`` (its card's augmentation preset,
    copies and seed; cached by its training), as extracted."""
    training = teacher.card.get("training", {})
    used = training.get("augment") or {}
    return augmented_features(used.get("variant", "none"), rows,
                              config=teacher.feature_config,
                              copies=int(used.get("copies", 0)), cache_dir=cache_dir,
                              random_state=int(training.get("random_state", 0)),
                              n_jobs=n_jobs)


class _Recoded:
    """A fitted classifier whose class codes are given (a fold's teacher may lack a
    class; ``classes_`` are codes of the full teacher's classes)."""

    def __init__(self, estimator, classes_):
        self.estimator, self.classes_ = estimator, np.asarray(classes_, dtype=int)

    def predict_proba(self, X):
        return self.estimator.predict_proba(X)


def _fold_teacher(teacher, data: TeacherData, X_copies_raw: list):
    """``train_idx -> fitted teacher``: the teacher's recipe (its card's model, tuned
    parameters, normalisation and seed; its training copies ``X_copies_raw``, rows whose
    copy failed left out as :func:`train` does) refitted on those rows of ``data``, with
    the teacher's temperature when it has one.

    The copies are the teacher's: a babble copy may mix in the voices of a fold's
    held-out speakers (never their labels)."""
    from .artifact import train_model
    from .calibration import TemperatureScaled, with_temperature

    card = teacher.card
    training = card.get("training", {})
    emotions = np.asarray(data.classes)[data.y]
    speakers = data.rows["speaker"].to_numpy()
    usable = _extracted(data.X_raw, X_copies_raw)
    scaled = teacher.estimator if isinstance(teacher.estimator, TemperatureScaled) else None

    def fit(train_idx):
        tr = train_idx[usable[train_idx]]
        est, fold_classes = train_model(
            data.X_raw[tr], emotions[tr], name=card["name"], speakers=speakers[tr],
            normalization=card["normalization"], params=training.get("params"),
            random_state=int(training.get("random_state", 0)),
            X_aug=[c[tr] for c in X_copies_raw])
        if scaled is not None:
            est = with_temperature(est, scaled.temperature_, method=scaled.method)
        return _Recoded(est, np.searchsorted(data.classes, fold_classes))

    return fit


@dataclass(frozen=True)
class DistilledModel:
    """A fitted student and the graph it ships, ready to be written as a model directory.

    Attributes
    ----------
    name : str
        ``distilled_<student>``.
    student : fitted Pipeline (starts with a column selector)
    onnx : bytes
        The graph deployed (quantized for ``*_int8``).
    teacher_card : dict
    classes : tuple of str
    normalization : Normalization
        The teacher's.
    feature_config : FeatureConfig
    parity_rows : np.ndarray [shape=(m, n_features)]
    info : dict
        The card's ``distillation`` notes (transfer rows, groups, quantization, command).
    typicality : Typicality or None
        As :attr:`TrainedModel.typicality`, over the columns the student reads.
    """

    name: str
    student: object
    onnx: bytes
    teacher_card: dict
    classes: tuple
    normalization: str
    feature_config: object
    parity_rows: np.ndarray
    info: dict
    typicality: object = None

    @property
    def model_id(self) -> str:
        return _model_id(self.name, self.onnx)

    def save(self, model_dir: str | os.PathLike) -> dict:
        """Write the model directory; returns its card."""
        from .distill import save_student

        return save_student(model_dir, student=self.student, name=self.name,
                            classes=list(self.classes), config=self.feature_config,
                            teacher_card=self.teacher_card, onnx=self.onnx,
                            parity_rows=self.parity_rows, info=self.info,
                            normalization=self.normalization, typicality=self.typicality)


def distil(teacher, manifest: pd.DataFrame, *, student: str = "linear_int8",
           normalization: str | None = None, groups: Sequence[str] | None = None,
           compact_groups: Sequence[str] | None = None, width: int | None = None,
           max_depth: int = 8, candidates: int = 300, copies: int = 2, munge: int = 2,
           transfer: str = "masks", calibration: str = "none", typicality: bool = True,
           random_state: int = 0, cache_dir: str | os.PathLike | None = None,
           n_jobs: int = 1, command: str | None = None) -> DistilledModel:
    """Distil a teacher into a student reading few, cheap features.

    Parameters
    ----------
    teacher : Artifact or path
        A model directory (or its :func:`~ser_classic.artifact.load_artifact`); a
        speaker-normalised teacher gives a speaker-normalised student.
    manifest : pd.DataFrame
        Must hold the teacher's training clips as it was trained on them, no more of its
        speakers and the same labels (checked: :func:`teacher_training_data`).
    student : str
        One of :data:`STUDENT_CHOICES`.
    normalization : Normalization or {"strict", "speaker_norm", "neutral_ref"}, optional
        Checked against the teacher's (a student always has its teacher's normalisation);
        None: the teacher's.
    groups : sequence of str, optional
        Descriptor groups the tree/MLP/linear students may read (default: the cheap ones,
        :data:`ser_classic.distill.CHEAP_GROUPS`).
    compact_groups : sequence of str, optional
        Groups the compact student may read (compact students only).
    width : int >= 1, optional
        Columns a compact student keeps (compact students only; default
        :data:`ser_classic.distill.COMPACT_FEATURES`, 340).
    copies, munge : int
        Masked copies per clip and MUNGE samples per clip in the transfer set.
    transfer : {"masks", "teacher"}
        The transfer set's augmented copies (:data:`TRANSFER_COPIES`): masked copies, or
        the teacher's own training copies (``copies`` then unused).
    calibration : {"none", "temperature", "corpus_temperature"}
        The student's own temperature on speaker-grouped out-of-fold predictions
        (``"corpus_temperature"``: pooled with leave-one-corpus-out ones of the teacher's
        training corpora), folded into its softmax head (linear and compact students;
        :func:`ser_classic.calibration.calibrate_student`).
    typicality : bool
        Store the typicality of the teacher's training clips over the columns the student
        reads (as :func:`train`).

    Returns
    -------
    DistilledModel
    """
    from . import distill as D
    from .artifact import Artifact, load_artifact, used_feature_columns
    from .calibration import CALIBRATIONS, calibrate_student
    from .typicality import training_typicality

    _check_choice("student", student, STUDENT_CHOICES)
    _check_choice("calibration", calibration, CALIBRATIONS)
    if compact_groups and student not in ("compact", "compact_int8"):
        raise ParameterError(f"compact_groups is for the compact student, not {student}")
    spec, _ = D.parse_student(student)
    kind = spec.name
    _compact_students([student], width)
    if not isinstance(teacher, Artifact):
        teacher = load_artifact(teacher)
    theirs = teacher.card["normalization"]
    if normalization is not None and normalization_of(normalization) != theirs:
        raise ParameterError(f"{teacher.path} is a {theirs} teacher; normalization "
                             f"{str(normalization)!r} contradicts it (a student has its "
                             f"teacher's normalisation)")
    groups = list(D.CHEAP_GROUPS if groups is None else groups)
    compact_groups = list(compact_groups) if compact_groups else None
    data = teacher_training_data(teacher, manifest, copies=copies, transfer=transfer,
                                 random_state=random_state, cache_dir=cache_dir,
                                 n_jobs=n_jobs)
    card, config = teacher.card, teacher.feature_config
    X = data.X
    kwargs = dict(teacher=teacher.estimator, n_classes=len(data.classes), config=config,
                  X_copies=data.X_copies, groups=groups, n_candidates=candidates,
                  max_depth=max_depth, transfer=D.TransferConfig(munge_rounds=munge),
                  compact_groups=compact_groups, compact_features=width,
                  random_state=random_state)
    fitted = D.distill(X, data.y, students=[kind],
                       speakers=data.rows["speaker"].to_numpy(), **kwargs)
    del fitted["transfer_X"]  # unused here: freed before the calibration folds start
    model = fitted["students"][kind if student != "tree_uint8" else "tree_uint8"]
    if calibration != "none":  # per-fold refits keep the C tuned on every clip
        refit = {**kwargs, "linear_C": fitted.get("linear_C", {}).get("C")}
        own = (data.X_copies_raw if transfer == "teacher" else
               _teacher_copies(teacher, data.rows, cache_dir=cache_dir, n_jobs=n_jobs))
        model, calibrated = calibrate_student(model, X, data.y, kind=kind,
                                              speakers=data.rows["speaker"].to_numpy(),
                                              distill_kwargs=refit,
                                              random_state=random_state,
                                              method=calibration,
                                              corpora=data.rows["corpus"].to_numpy(),
                                              fold_teacher=_fold_teacher(teacher, data, own),
                                              n_jobs=n_jobs)
    quant = fitted["quantization"].get(student)
    if student.endswith("_int8"):  # not tree_uint8: its graph is the tree's own
        onnx, quant = D.quantized_onnx(kind, model, n_features=X.shape[1])
    else:
        onnx = D.to_onnx(model, n_features=X.shape[1])
    sample = X[np.random.default_rng(random_state).permutation(len(X))[:300]]
    allowed: list[str] | str = groups
    if kind == "compact":
        allowed = compact_groups or f"all but {', '.join(D.COMPACT_SKIPS)}"
    elif kind == "compact_fast":
        allowed = f"all but {', '.join(D.COMPACT_FAST_SKIPS)}"
    info = {"transfer_rows": fitted["n_transfer"], "groups_allowed": allowed,
            "max_depth": max_depth, "candidates": candidates,
            "augment": ({**DISTILL_AUGMENT, "copies_used": copies} if transfer == "masks"
                        else {"transfer": "teacher",
                              **card.get("training", {}).get("augment", {})}),
            "munge": munge,
            "quantization": quant, "command": command}
    if "linear_C" in fitted:
        info["linear_C"] = fitted["linear_C"]
    if spec.width is not None:
        info["width"] = width or spec.width
    if calibration != "none":
        info["calibration"] = calibrated
    once = _each_clip_once(data.rows)
    typical = (training_typicality(data.rows[once], data.X_raw[once], X[once],
                                   normalization=card["normalization"], config=config,
                                   columns=used_feature_columns(model, X.shape[1]),
                                   random_state=random_state)
               if typicality else None)
    return DistilledModel(name=f"distilled_{student}", student=model, onnx=onnx,
                          teacher_card=card, classes=data.classes,
                          normalization=normalization_of(card["normalization"]),
                          feature_config=config,
                          parity_rows=sample, info=info, typicality=typical)


def add_typicality(model: str | os.PathLike, manifest: pd.DataFrame, *,
                   out: str | os.PathLike, cache_dir: str | os.PathLike | None = None,
                   random_state: int | None = None, n_jobs: int = 1) -> dict:
    """Copy a model to ``out`` with the typicality statistics :func:`train` /
    :func:`distil` store today (replacing any it has).

    Computed on the model's training clips (its card's corpora, speakers and excluded
    emotions, as :func:`teacher_training_data` finds and checks them in ``manifest``),
    normalised as it reads them and, for a speaker-normalised model, also before
    normalisation, over the columns it reads, ``keep`` chosen in their folds
    (:func:`ser_classic.typicality.training_typicality`; ``random_state``: default the
    card's training seed, else 0). The model files are copied unchanged (same model id);
    the card gains ``typicality`` and a renewed integrity hash.

    Returns
    -------
    card : dict
    """
    from .artifact import copy_artifact, load_artifact, set_typicality
    from .typicality import training_typicality

    artifact = load_artifact(model, load_joblib=False)
    card = artifact.card
    if random_state is None:
        random_state = int(card.get("training", {}).get("random_state", 0))
    data = teacher_training_data(artifact, manifest, copies=0, cache_dir=cache_dir,
                                 n_jobs=n_jobs)
    used = card.get("used_features")
    once = _each_clip_once(data.rows)
    typical = training_typicality(data.rows[once], data.X_raw[once], data.X[once],
                                  normalization=card["normalization"],
                                  config=artifact.feature_config, columns=used,
                                  random_state=random_state)
    return set_typicality(copy_artifact(artifact.path, out), typical)


# --------------------------------------------------------------------------- A/B test
@dataclass(frozen=True)
class ABTest:
    """Two models on the same held-out clips (:func:`ser_classic.abtest.run_ab`).

    Attributes
    ----------
    summary : dict
        Metrics with CIs, paired statistics, per-clip predictions, the decision.
    skipped : tuple of (path, problem)
        Clips that could not be decoded.
    """

    summary: dict
    skipped: tuple = ()

    @property
    def winner(self) -> str:
        """``"a"`` or ``"b"``."""
        return self.summary["decision"]["winner"]

    @property
    def winner_model(self) -> str:
        return self.summary["decision"]["winner_model"]

    @property
    def winner_path(self) -> Path:
        return Path(self.summary["decision"]["winner_path"])

    @property
    def quality_threshold(self) -> dict:
        """The bar a quality win had to clear and which one applied, the statistical
        margin or ``min_difference`` (:func:`ser_classic.abtest.quality_threshold`)."""
        return self.summary["decision"]["quality_threshold"]

    def write_report(self, out_dir: str | os.PathLike, *, command: str) -> list[Path]:
        """Write ``summary.json``, ``report.md`` and the plots into ``out_dir``."""
        from .abtest import ab_report

        return ab_report(self.summary, out_dir=out_dir, command=command)


def ab_test(rec_a, rec_b, records: Sequence[Mapping], *, speakers: Sequence[str] = (),
            exclude_emotions: Sequence[str] = (), calm_as: str = "neutral",
            n_boot: int = 2000, limit: int | None = None, random_state: int = 0,
            data_label: str | None = None, min_difference: float = 0.0,
            progress: Callable[[str], None] | None = None) -> ABTest:
    """A/B test of two recognisers on labelled clips neither was trained on.

    Parameters
    ----------
    rec_a, rec_b : EmotionRecognizer
        A is the incumbent (kept on a tie).
    records : sequence of dict
        Clips with ``path``, ``emotion``, ``speaker`` (:func:`ser_classic.scan_corpus`).
    speakers : sequence of str
        Only these speakers (default all).
    exclude_emotions : sequence of str
        Leave out clips of these emotions (each must occur in the records).
    calm_as : {"neutral", "wrong"}
        How a calm prediction counts when the clips have no calm.
    limit : int, optional
        At most this many clips (a subset seeded by ``random_state``).
    data_label : str, optional
        Recorded in the summary as ``data``.
    min_difference : float >= 0
        The seed spread of the compared figure (e.g. the max - min range of the accuracy
        over training seeds, :func:`ser_classic.abtest.spread_margin`): B replaces A on
        quality only when it is significantly better AND better by more than this; a
        smaller difference is a tie, decided on speed.

    Returns
    -------
    ABTest

    Raises
    ------
    ParameterError
        No clips left, an unknown excluded emotion, or a model trained on a test speaker.
    """
    from . import abtest, data

    records = list(records)
    wanted = [str(s) for s in speakers]
    if wanted:
        records = [r for r in records if r["speaker"] in wanted]
    left_out = [str(e) for e in exclude_emotions]
    unknown = sorted(set(left_out) - {r["emotion"] for r in records})
    if unknown:
        where = data_label or "the clips"
        raise ParameterError(f"exclude_emotions: no such emotion(s) in {where}: {unknown}")
    records = [r for r in records if r["emotion"] not in left_out]
    if limit and len(records) > limit:
        keep = np.random.default_rng(random_state).choice(len(records), limit, replace=False)
        records = [records[i] for i in sorted(keep)]
    if not records:
        raise ParameterError(f"{data_label or 'records'}: no clips (speakers "
                             f"{wanted or 'all'})")
    test_speakers = {r["speaker"] for r in records}
    for key, rec in (("A", rec_a), ("B", rec_b)):
        seen = set(rec.card.get("training", {}).get("speakers") or ())
        if seen & test_speakers:
            raise ParameterError(f"model {key} ({rec.model_id}) was trained on test "
                                 f"speaker(s) {sorted(seen & test_speakers)}")
    waves, labels, spk, paths, skipped = [], [], [], [], []
    for r in records:
        try:
            waves.append(data.load_audio(r["path"], sr=rec_a.feature_config.sample_rate,
                                         channel=data.corpus_channel(r["path"])))
        except data.AudioError as exc:
            skipped.append((exc.source, exc.problem))
            continue
        labels.append(r["emotion"])
        spk.append(r["speaker"])
        paths.append(r["path"])
    summary = abtest.run_ab(rec_a, rec_b, waveforms=waves, labels=labels, speakers=spk,
                            calm_as=calm_as, n_boot=n_boot, random_state=random_state,
                            paths=paths, min_difference=min_difference,
                            progress=progress)
    if data_label is not None:
        summary["data"] = data_label
    return ABTest(summary=summary, skipped=tuple(skipped))


def deploy(result: ABTest, to: str | os.PathLike) -> Path:
    """Copy the A/B winner's model directory to ``to`` (verified; nothing unpickled)."""
    from .artifact import copy_artifact

    return copy_artifact(result.winner_path, to)

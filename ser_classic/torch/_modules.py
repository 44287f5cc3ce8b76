"""Thin ``nn.Module`` wrappers: the emotion discriminator and its loss."""

from __future__ import annotations

import math
import os
from collections.abc import Sequence

import numpy as np
import torch

from .._vocabulary import Groups, Normalization, group_targets, resolve_groups
from ..data import MIN_SAMPLE_RATE, _low_rate_problem
from ..errors import ParameterError
from . import functional as F

__all__ = ["DiscriminatorLoss", "EmotionDiscriminator", "emotion_loss", "group_log_proba",
           "shrink_log_proba"]

_KINDS = ("nll", "penalty")
_REDUCTIONS = ("none", "mean", "sum")
_CPU_CHUNK = 8  # clips per feature pass on CPU (their spectra stay in cache)


def emotion_loss(log_proba: torch.Tensor, target: torch.Tensor, *, kind: str = "nll",
                 columns: torch.Tensor | None = None, reduction: str = "mean"
                 ) -> torch.Tensor:
    """Discriminator loss of log-probabilities against target classes.

    Parameters
    ----------
    log_proba : torch.Tensor [shape=(B, n_classes)]
    target : torch.Tensor [shape=(B,), int64]
        Column of each clip's target, within ``columns`` when given.
    kind : {"nll", "penalty"}
        ``-log p(target)`` or ``1 - p(target)``.
    columns : torch.Tensor [shape=(k,), int64], optional
        A subset of the classes: probabilities renormalised over it (as
        ``EmotionRecognizer.predict_proba(..., classes=)``).
    reduction : {"none", "mean", "sum"}
    """
    if kind not in _KINDS:
        raise ParameterError(f"kind must be one of {_KINDS}, got {kind!r}")
    if reduction not in _REDUCTIONS:
        raise ParameterError(f"reduction must be one of {_REDUCTIONS}, got {reduction!r}")
    if columns is not None:
        sub = log_proba[:, columns]
        log_proba = sub - torch.logsumexp(sub, dim=1, keepdim=True)
    log_p = torch.gather(log_proba, 1, target.to(log_proba.device)[:, None])[:, 0]
    loss = -log_p if kind == "nll" else 1.0 - torch.exp(log_p)
    if reduction == "mean":
        return loss.mean()
    return loss.sum() if reduction == "sum" else loss


def group_log_proba(log_proba: torch.Tensor, groups: Sequence[Sequence[int]]
                    ) -> torch.Tensor:
    """Log-probabilities of groups of classes [shape=(B, n_groups)]: each group's
    ``logsumexp`` over its columns of ``log_proba`` [shape=(B, n_classes)], renormalised
    over the classes of any group (``ser_classic.recognizer._grouped`` in log space)."""
    union = torch.as_tensor([c for g in groups for c in g], device=log_proba.device)
    summed = torch.stack([torch.logsumexp(log_proba[:, list(g)], dim=1) for g in groups],
                         dim=1)
    return summed - torch.logsumexp(log_proba[:, union], dim=1, keepdim=True)


def shrink_log_proba(log_proba: torch.Tensor, atypicality: torch.Tensor, *,
                     threshold: float, width: float) -> torch.Tensor:
    """``log((1 - r) p + r / K)`` of log-probabilities [shape=(B, K)], the shrink of
    :class:`ser_classic.typicality.Typicality` (``r = u**2 / (1 + u**2)``,
    ``u = max(0, atypicality - threshold) / width``) in log space: rows with ``r = 0``
    unchanged, finite gradients everywhere (``log(1 - r) = -log1p(u**2)``,
    ``log r = 2 log u - log1p(u**2)``)."""
    u = torch.relu(atypicality - threshold) / width
    pos = u > 0
    u_safe = torch.where(pos, u, torch.ones_like(u))
    log_keep = -torch.log1p(u_safe * u_safe)
    log_r = 2.0 * torch.log(u_safe) + log_keep
    shrunk = torch.logaddexp(log_proba + log_keep[:, None],
                             (log_r - math.log(log_proba.shape[1]))[:, None])
    return torch.where(pos[:, None], shrunk, log_proba)


def _trimmed_rms_z(X: torch.Tensor, center: torch.Tensor, scale: torch.Tensor, *,
                   keep: float) -> torch.Tensor:
    """RMS of the smallest ``keep`` share of each row's squared z-scores [shape=(B,)]."""
    from ..typicality import n_kept

    z = (X - center.to(X.dtype)) / scale.to(X.dtype)
    z2 = torch.sort(z * z, dim=1).values[:, :n_kept(z.shape[1], keep)]
    return torch.sqrt(torch.mean(z2, dim=1))


class EmotionDiscriminator(torch.nn.Module):
    """A stored emotion model as a differentiable torch module.

    Waveforms [shape=(B, n)] at any sample rate -> log-probabilities over the model's
    classes, through the model's preprocessing, descriptors, functionals, speaker
    normalisation and the classifier of its ONNX graph (the graph it deploys, int8 weights
    dequantised), all as torch operations: gradients reach the waveform. A model that
    stores the typicality of its training rows shrinks the probabilities of atypical
    clips towards uniform as ``EmotionRecognizer`` does (:mod:`ser_classic.typicality`).

    Parameters
    ----------
    model : path or str
        A model directory or a store alias (``"deployed"``,
        :func:`ser_classic.store.resolve`).
    dtype : torch.dtype
        ``torch.float32`` (default) or ``torch.float64``.
    store : path, optional
        The model store that aliases resolve in (default: the shipped one).

    Attributes
    ----------
    classes : tuple of str
    normalization : Normalization
    feature_config : FeatureConfig
    model_id : str
    """

    def __init__(self, model: str | os.PathLike, *, dtype: torch.dtype = torch.float32,
                 store: str | os.PathLike | None = None) -> None:
        super().__init__()
        from ..artifact import load_artifact
        from ..export import PROBA_NAME
        from ..features import feature_names
        from ..store import resolve
        from ..typicality import Typicality
        from ._head import OnnxHead

        if dtype not in (torch.float32, torch.float64):
            raise ParameterError(f"dtype must be torch.float32 or torch.float64, got {dtype}")
        path = resolve(model, store=store)
        artifact = load_artifact(path, load_joblib=False)
        card = artifact.card
        self.model_id = card["model_id"]
        self.classes = tuple(str(c) for c in card["classes"])
        self.normalization = Normalization(card["normalization"])
        self.feature_config = artifact.feature_config
        self.n_features = int(card["n_features"])
        names = feature_names(config=self.feature_config)
        used = card.get("used_features")
        used = np.arange(len(names)) if used is None else np.asarray(used, dtype=np.int64)
        self.select = tuple(names[i] for i in used)
        F._feature_plan(self.feature_config, self.select)  # unported groups fail here
        self.register_buffer("used", torch.as_tensor(used))
        self.head = OnnxHead(artifact.onnx, output=PROBA_NAME, dtype=dtype,
                             source=str(path / "model.onnx"))
        self.typicality = Typicality.from_card(card)
        if self.typicality is not None:
            self.register_buffer("typ_columns", torch.as_tensor(self.typicality.columns))
            self.register_buffer("typ_center",
                                 torch.as_tensor(self.typicality.center, dtype=dtype))
            self.register_buffer("typ_scale",
                                 torch.as_tensor(self.typicality.scale, dtype=dtype))
            if self.typicality.raw is not None:  # statistics before speaker normalisation
                self.register_buffer("typ_raw_center", torch.as_tensor(
                    self.typicality.raw.center, dtype=dtype))
                self.register_buffer("typ_raw_scale", torch.as_tensor(
                    self.typicality.raw.scale, dtype=dtype))
            if self.typicality.reference is not None:  # the speaker statistics' check
                self.register_buffer("typ_ref_scale", torch.as_tensor(
                    self.typicality.reference.pooled_scale, dtype=dtype))
        self.requires_grad_(False)

    @property
    def dtype(self) -> torch.dtype:
        """The working dtype: that of the weights (follows ``.to(dtype)``, ``.double()``)."""
        return self.head.dtype

    def extra_repr(self) -> str:
        return (f"{self.model_id!r}, normalization={self.normalization.value!r}, "
                f"classes={list(self.classes)}, dtype={self.dtype}")

    def features(self, waveforms: torch.Tensor, *, sr: int,
                 lengths: torch.Tensor | None = None) -> torch.Tensor:
        """Feature rows [shape=(B, n_features)] before any speaker normalisation; the
        columns the model never reads are 0 (as ``EmotionRecognizer.features``).

        ``lengths`` [shape=(B,)]: valid samples of each row (clips of different lengths,
        zero-padded); default: every row is all clip.
        """
        y = F.check_waveforms(waveforms).to(dtype=self.dtype, device=self.used.device)
        if isinstance(sr, bool) or not isinstance(sr, int | np.integer) or sr <= 0:
            raise ParameterError(f"sr must be a positive integer sample rate, got {sr!r}")
        if sr < MIN_SAMPLE_RATE:
            raise ParameterError(_low_rate_problem(int(sr)))
        if y.shape[0] == 0:  # an empty batch: no rows, as EmotionRecognizer gives
            return y.new_zeros((0, self.n_features))
        target = self.feature_config.sample_rate
        if lengths is not None:
            lengths = torch.as_tensor(lengths, dtype=torch.int64, device=y.device)
            if lengths.shape != (y.shape[0],) or bool((lengths < 1).any()) or \
                    bool((lengths > y.shape[1]).any()):
                raise ParameterError(f"lengths must hold one length in [1, {y.shape[1]}] "
                                     f"per clip, got {lengths.tolist()}")
            lengths = -(-lengths * target // int(sr))  # ceil: resample's output length
        y = F.resample(y, orig_sr=int(sr), target_sr=target)
        if lengths is not None:
            lengths = lengths.clamp_max(y.shape[1])
        # on CPU, a few clips of similar length per pass keep their spectra in cache
        x = F.extract_features(y, config=self.feature_config, select=self.select,
                               lengths=lengths,
                               chunk=_CPU_CHUNK if F._on_host(y) else None)
        full = x.new_zeros((x.shape[0], self.n_features))
        return full.index_copy(1, self.used.to(x.device), x)

    def _normalise(self, X: torch.Tensor, speaker, weights=None
                   ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Rows normalised with the speaker's statistics (``"batch"``: of the rows, each
        weighing ``weights``), and the scale they were divided by (None: not
        normalised)."""
        from ..evaluation import SCALE_EPS
        from ..recognizer import checked_speaker

        speaker = checked_speaker(speaker, normalization=self.normalization,
                                  model_id=self.model_id, n_features=X.shape[1])
        if speaker is None:
            return X, None
        if isinstance(speaker, str):  # "batch": statistics of the batch, in torch
            if X.shape[0] == 0:
                return X, None
            if X.shape[0] < 2:
                raise ParameterError("speaker='batch' needs at least 2 clips")
            if weights is None:
                mean = X.mean(dim=0)
                std = X.std(dim=0, unbiased=False)
            else:
                w = torch.as_tensor(weights, dtype=X.dtype, device=X.device)
                w = w / w.sum()
                mean = w @ X
                var = w @ (X - mean) ** 2
                # sqrt only where var > 0: a constant column's gradient stays 0, not NaN
                positive = var > 0
                std = torch.where(positive, torch.sqrt(torch.where(positive, var, 1.0)), 0.0)
            scale = torch.where(std > SCALE_EPS, std, torch.ones_like(std))
            return (X - mean) / scale, scale
        mean, scale = speaker.location_scale(self.normalization)
        mean = torch.as_tensor(mean, dtype=X.dtype, device=X.device)
        scale = torch.as_tensor(scale, dtype=X.dtype, device=X.device)
        return (X - mean) / scale, scale

    def forward(self, waveforms: torch.Tensor, *, sr: int, speaker=None,
                lengths: torch.Tensor | None = None, groups: Groups | None = None,
                weights=None) -> torch.Tensor:
        """Log-probabilities [shape=(B, n_classes)] of waveforms [shape=(B, n)] at ``sr``.

        ``speaker``: :class:`ser_classic.recognizer.SpeakerStats` or ``"batch"`` for a
        ``"speaker_norm"`` model, ``SpeakerStats`` of neutral clips for a ``"neutral_ref"``
        one (refused by strict ones). ``lengths``: valid samples per row, for zero-padded
        clips of different lengths (:meth:`features`). Atypical clips' probabilities are
        shrunk towards uniform (:meth:`atypicality`). ``groups``: log-probabilities of
        groups of classes [shape=(B, n_groups)] (:meth:`group_names`; as
        ``EmotionRecognizer.predict_proba(..., groups=)``). ``weights`` [shape=(B,)]: with
        ``speaker="batch"``, each clip's share of the batch's statistics
        (:func:`ser_classic.recognizer.label_balanced_weights`).
        """
        raw = self.features(waveforms, sr=sr, lengths=lengths)
        X, scale = self._normalise(raw, speaker, weights)
        return self.classify(X, raw=raw, scale=scale, groups=groups)

    def group_names(self, groups: Groups) -> tuple[str, ...]:
        """The names of ``groups`` (a :class:`ser_classic.Grouping` or a mapping of group
        name to class names): the columns of ``forward(..., groups=groups)``."""
        return resolve_groups(groups, self.classes)[0]

    def classify(self, X: torch.Tensor, *, raw: torch.Tensor | None = None,
                 scale: torch.Tensor | None = None, groups: Groups | None = None
                 ) -> torch.Tensor:
        """Log-probabilities [shape=(B, n_classes)] of feature rows as the classifier reads
        them (after any speaker normalisation): the head, then the atypicality shrink.

        ``raw``: the same rows before speaker normalisation (:meth:`features`), and
        ``scale`` [shape=(n_features,) or (B, n_features)] the speaker scale they were
        divided by, needed by a speaker-normalised model whose typicality reads them
        (:attr:`ser_classic.typicality.Typicality.raw` and ``.reference``). ``groups``:
        as :meth:`forward`, shrunk towards uniform over the groups.
        """
        log_proba = self.head(X)
        if groups is not None:
            log_proba = group_log_proba(log_proba, resolve_groups(groups, self.classes)[1])
        if self.typicality is None:
            return log_proba
        return shrink_log_proba(log_proba, self._atypicality(X, raw, scale),
                                threshold=self.typicality.threshold,
                                width=self.typicality.width)

    def _atypicality(self, X: torch.Tensor, raw: torch.Tensor | None = None,
                     scale: torch.Tensor | None = None) -> torch.Tensor:
        """:meth:`ser_classic.typicality.Typicality.statistic`: the trimmed RMS z-score
        (the gradient reaches the kept, smallest, z-scores), with the statistic before
        normalisation and the speaker statistics' check the largest on the first's
        scale."""
        typ = self.typicality
        a = _trimmed_rms_z(X[:, self.typ_columns], self.typ_center, self.typ_scale,
                           keep=typ.keep)
        if typ.reference is not None:
            if scale is None:
                raise ParameterError("this model's typicality checks the speaker's "
                                     "statistics: pass their scale as scale=")
            from ..typicality import n_kept

            ref = typ.reference
            factor = torch.clamp(scale.expand_as(X)[:, self.typ_columns]
                                 / self.typ_ref_scale.to(X.dtype), max=1.0)
            z2 = (X[:, self.typ_columns] * factor) ** 2
            a_ref = torch.sqrt(torch.mean(torch.topk(z2, n_kept(z2.shape[1], ref.share),
                                                     dim=1).values, dim=1))
            a = torch.maximum(a, typ._mapped(ref, a_ref))
        if typ.raw is None:
            return a
        if raw is None or raw.shape != X.shape:
            raise ParameterError("this model's typicality also reads the feature rows "
                                 "before speaker normalisation: pass them as raw= (shape "
                                 f"{tuple(X.shape)})")
        a_raw = _trimmed_rms_z(raw[:, self.typ_columns], self.typ_raw_center,
                               self.typ_raw_scale, keep=typ.keep)
        return torch.maximum(a, typ._mapped(typ.raw, a_raw))

    def atypicality(self, waveforms: torch.Tensor, *, sr: int, speaker=None,
                    lengths: torch.Tensor | None = None) -> torch.Tensor:
        """Atypicality [shape=(B,)] of each clip (``EmotionRecognizer``'s; NaN for a
        model saved without training statistics); above ``typicality.threshold`` its
        probabilities are shrunk towards uniform."""
        raw = self.features(waveforms, sr=sr, lengths=lengths)
        X, scale = self._normalise(raw, speaker)
        if self.typicality is None:
            return X.new_full((X.shape[0],), float("nan"))
        return self._atypicality(X, raw, scale)

    def columns(self, classes: Sequence[str]) -> torch.Tensor:
        """Column of each class name [shape=(k,), int64]; unknown names raise."""
        if isinstance(classes, str):
            classes = [classes]
        where = {c: i for i, c in enumerate(self.classes)}
        unknown = [c for c in classes if c not in where]
        if unknown:
            raise ParameterError(f"unknown emotion(s) {unknown}; {self.model_id} knows "
                                 f"{list(self.classes)}")
        return torch.as_tensor([where[c] for c in classes], dtype=torch.int64)

    def loss(self, waveforms: torch.Tensor, targets, *, sr: int, kind: str = "nll",
             classes: Sequence[str] | None = None, speaker=None,
             lengths: torch.Tensor | None = None, reduction: str = "mean",
             groups: Groups | None = None) -> torch.Tensor:
        """``-log p(target)`` (``kind="nll"``) or ``1 - p(target)`` (``"penalty"``).

        ``targets``: one emotion name for all clips or one per clip; ``classes``: a subset
        of the classes to renormalise over (targets must be among them); ``groups``: the
        targets are groups (``groups="arousal"``: ``"high"`` or ``"low"``), ``p(target)``
        the sum over the target group's classes.
        """
        return DiscriminatorLoss(self, kind=kind, classes=classes, reduction=reduction,
                                 groups=groups)(
            waveforms, targets, sr=sr, speaker=speaker, lengths=lengths)


class DiscriminatorLoss(torch.nn.Module):
    """The emotion discriminator's loss as a module (auraloss style).

    Parameters
    ----------
    discriminator : EmotionDiscriminator
    kind : {"nll", "penalty"}
    classes : sequence of str, optional
        Renormalise over these classes (a generator that knows fewer emotions).
    reduction : {"none", "mean", "sum"}
    groups : Grouping, str or mapping, optional
        Targets are groups of classes (:meth:`EmotionDiscriminator.forward`), e.g.
        ``"arousal"``: ``"high"`` or ``"low"``, or a group's class standing for its group
        (``"happy"`` for ``"high"``). Not with ``classes``.

    Called as ``loss(waveforms, targets, sr=..., speaker=...)``; with ``speaker="batch"``
    the batch's statistics give every target the same share, as
    :meth:`ser_classic.recognizer.EmotionRecognizer.score` does.
    """

    def __init__(self, discriminator: EmotionDiscriminator, *, kind: str = "nll",
                 classes: Sequence[str] | None = None, reduction: str = "mean",
                 groups: Groups | None = None) -> None:
        super().__init__()
        if kind not in _KINDS:
            raise ParameterError(f"kind must be one of {_KINDS}, got {kind!r}")
        if reduction not in _REDUCTIONS:
            raise ParameterError(f"reduction must be one of {_REDUCTIONS}, got {reduction!r}")
        if groups is not None and classes is not None:
            raise ParameterError("give classes= or groups=, not both")
        self.discriminator = discriminator
        self.kind, self.reduction, self.groups = kind, reduction, groups
        if groups is not None:
            self.names, columns = resolve_groups(groups, discriminator.classes)
            self.targets = group_targets(self.names, columns, discriminator.classes,
                                         groups=groups)
        else:
            self.names = discriminator.classes if classes is None else tuple(classes)
            self.targets = {c: i for i, c in enumerate(self.names)}
        if not self.names or len(set(self.names)) != len(self.names):
            raise ParameterError(f"classes must be distinct class names, got {classes}")
        self.subset = None if classes is None else discriminator.columns(self.names)

    def forward(self, waveforms: torch.Tensor, targets, *, sr: int, speaker=None,
                lengths: torch.Tensor | None = None) -> torch.Tensor:
        n = F.check_waveforms(waveforms).shape[0]
        targets = [targets] * n if isinstance(targets, str) else list(targets)
        if len(targets) != n:
            raise ParameterError(f"{len(targets)} targets for {n} clips")
        where = self.targets
        unknown = sorted({str(t) for t in targets if t not in where})
        if unknown:
            raise ParameterError(f"target emotion(s) {unknown} not in {list(where)}")
        from ..recognizer import balances_batch, label_balanced_weights

        columns = [where[t] for t in targets]
        weights = (label_balanced_weights(columns) if balances_batch(
            speaker, self.discriminator.normalization, columns) else None)
        log_proba = self.discriminator(waveforms, sr=sr, speaker=speaker, lengths=lengths,
                                       groups=self.groups, weights=weights)
        target = torch.as_tensor(columns, device=log_proba.device)
        subset = None if self.subset is None else self.subset.to(log_proba.device)
        return emotion_loss(log_proba, target, kind=self.kind, columns=subset,
                            reduction=self.reduction)

"""Which model to deploy, decided on the training corpora: the held-out-corpus A/B.

The deployed models are trained on every corpus available, so no corpus is left to test
them on. The choice between a teacher and its students is made the way they would meet new
speech: for every training corpus in turn, the teacher recipe is trained on the *other*
corpora, each student is distilled from that teacher on the same clips, and all are scored on
the held-out corpus (closed set over its labels). A student is deployed when its mean
held-out-corpus UAR is at most ``max_loss`` below the teacher's (the first such student in
the order given, cheapest first); otherwise the teacher is. No corpus outside the training
data chooses anything.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import numpy as np
import pandas as pd

from ._vocabulary import Normalization, normalization_of, resolve_groups
from .errors import ParameterError

__all__ = ["CorpusAB", "corpus_ab", "corpus_ab_folds"]

#: A student is deployed when it loses at most this much mean held-out-corpus UAR to its
#: teacher (issue 19: "the deployed student within 3 points of its teacher ... on LOCO").
MAX_LOSS = 0.03


@dataclass(frozen=True)
class CorpusAB:
    """A teacher recipe and its students under leave-one-corpus-out.

    Attributes
    ----------
    summary : dict
        ``folds``: held-out corpus -> candidate -> metrics (UAR, accuracy, ECE, Brier,
        speaker-bootstrap CIs, McNemar against the teacher, per-class recall, confusion
        counts with rows the true class in the fold's ``classes`` order, the 15
        reliability bins of the ECE); ``mean``: candidate -> mean UAR
        and accuracy over the held-out corpora; ``decision``: the candidate to deploy and the
        rule that chose it.
    """

    summary: dict

    @property
    def deploy(self) -> str:
        """``"teacher"`` or the student kind to deploy (e.g. ``"compact_int8"``)."""
        return self.summary["decision"]["deploy"]

    def write_report(self, out_dir: str | os.PathLike, *, command: str) -> list[Path]:
        """Write ``summary.json`` and ``report.md`` into ``out_dir``."""
        from .reporting import write_text

        out = Path(out_dir)
        out.mkdir(parents=True, exist_ok=True)
        blob = json.dumps({"command": command, **self.summary}, indent=2) + "\n"
        return [write_text(out / "summary.json", blob),
                write_text(out / "report.md", _markdown(self.summary, command)),
                *_figures(self.summary, out)]


def _figures(summary: Mapping, out: Path) -> list[Path]:
    """Per held-out corpus: the candidates' reliability diagram and each candidate's
    confusion matrix (none for a summary made before they were recorded)."""
    from .evaluation import ReliabilityCurve
    from .reporting import plot_confusion, plot_reliability

    written = []
    for corpus, fold in summary["folds"].items():
        if "reliability" not in fold["teacher"]:
            continue
        curves = {}
        for n in summary["candidates"]:
            bins = fold[n]["reliability"]
            curves[n] = ReliabilityCurve(
                edges=np.linspace(0.0, 1.0, len(bins["counts"]) + 1),
                confidence=np.array(bins["confidence"], dtype=float),
                accuracy=np.array(bins["accuracy"], dtype=float),
                counts=np.array(bins["counts"]), ece=fold[n]["ece"])
            written.append(plot_confusion(
                fold[n]["confusion"], classes=fold["classes"],
                title=f"{n} on {corpus} (trained on {' + '.join(fold['trained_on'])})",
                path=out / f"confusion_{corpus}_{n}.png"))
        written.append(plot_reliability(
            curves, title=f"held out: {corpus} ({summary['normalization']})",
            path=out / f"reliability_{corpus}.png"))
    return written


def _recall_table(summary: Mapping) -> list[str]:
    """Per-class recall of every candidate on every held-out corpus, and the figures'
    names (nothing for a summary made before they were recorded)."""
    from .data import label_order

    folds = summary["folds"]
    if not all("recall" in fold["teacher"] for fold in folds.values()):
        return []
    classes = label_order(c for fold in folds.values() for c in fold["classes"])
    lines = ["## Per-class recall", "",
             "| held-out corpus | candidate | " + " | ".join(classes) + " |",
             "|---|---|" + "---|" * len(classes)]
    for corpus, fold in folds.items():
        for n in summary["candidates"]:
            recall = fold[n]["recall"]
            lines.append(f"| {corpus} | {n} | " + " | ".join(
                "-" if recall.get(c) is None else f"{recall[c]:.2f}" for c in classes) + " |")
    return [*lines, "", "Figures: `reliability_<corpus>.png` (the candidates' reliability "
            "diagrams on each held-out corpus, 15 bins as the ECE) and "
            "`confusion_<corpus>_<candidate>.png` (row-normalised).", ""]


def _fmt_ci(ci) -> str:
    return f"[{ci[0]:.3f}, {ci[1]:.3f}]"


def _markdown(summary: Mapping, command: str) -> str:
    names = summary["candidates"]
    lines = [f"# Held-out-corpus A/B: teacher vs students ({summary['normalization']})", "",
             f"Command: `{command}`", "",
             f"Training corpora: {', '.join(summary['corpora'])}. For each, the teacher recipe "
             f"({summary['model']}, augment {summary['augment']}, calibration "
             f"{summary['calibration']}) is trained on the other "
             f"corpora, the students are distilled from that teacher on the same clips "
             f"(calibration {summary.get('student_calibration', summary['calibration'])}"
             + (f"; compact students' width {summary['width']}" if summary.get("width") else "")
             + "), and "
             f"all are scored on the held-out corpus as a closed set over its labels "
             f"({', '.join(summary['excluded_emotions']) or 'no'} emotion(s) left out). "
             f"Only the training corpora decide; nothing else is scored.", "",
             _SCORED_WITH[summary["normalization"]], "",
             _params_line(summary), "",
             "| held-out corpus | clips | " + " | ".join(
                 f"{n} UAR [95% CI] / ECE" for n in names) + " |",
             "|---|---|" + "---|" * len(names)]
    for corpus, fold in summary["folds"].items():
        cells = [f"{fold[n]['uar']:.3f} {_fmt_ci(fold[n]['uar_ci95'])} / {fold[n]['ece']:.3f}"
                 for n in names]
        lines.append(f"| {corpus} | {fold['teacher']['n']} | " + " | ".join(cells) + " |")
    lines.append("| **mean** | | " + " | ".join(
        f"**{summary['mean'][n]['uar']:.3f}** / {summary['mean'][n]['ece']:.3f}"
        for n in names) + " |")
    lines += ["", "McNemar (student vs teacher, per held-out corpus): " + "; ".join(
        f"{corpus} {n} p={fold[n]['mcnemar_vs_teacher']['p_value']:.2g}"
        for corpus, fold in summary["folds"].items() for n in names if n != "teacher"), "",
        *_recall_table(summary), "## Decision", "", summary["decision"]["rule"], "",
        f"Deployed: **{summary['decision']['deploy']}**.", ""]
    return "\n".join(lines)


_SCORED_WITH = {
    "strict": "Held-out clips are scored as they are (no speaker statistics).",
    "speaker_norm": "Each held-out speaker is normalised by the statistics of all its clips "
                    "(no labels).",
    "neutral_ref": "Each held-out speaker is centred on the mean of its neutral clips, a "
                   "neutral clip on the speaker's other neutral clips (the clip scored is "
                   "never in its own reference)."}


def _params_line(summary: Mapping) -> str:
    """Where the teacher's parameters came from, and each fold's."""
    tune = summary.get("tune")
    source = (f"chosen in every fold by grouped inner CV (UAR, `--tune {tune}`) on that "
              f"fold's training corpora only" if tune else "the selection file's, fixed")
    per_fold = "; ".join(f"{corpus}: {json.dumps(fold['teacher_params'], sort_keys=True)}"
                         for corpus, fold in summary["folds"].items()
                         if "teacher_params" in fold)
    return f"Teacher parameters: {source}" + (f" ({per_fold})." if per_fold else ".")


def _scores(y, proba, speakers, classes, n_boot, random_state) -> dict:
    """A candidate's figures on a held-out corpus: UAR, accuracy and their speaker-bootstrap
    CIs, ECE, Brier, per-class recall, the confusion counts (rows: true class, in the order
    ``classes``) and the reliability diagram's bins (15, as the ECE)."""
    from .evaluation import bootstrap_ci, brier_score, classification_metrics, reliability_curve

    pred = proba.argmax(axis=1)
    m = classification_metrics(y, pred, n_classes=len(classes))
    ci = bootstrap_ci(y, pred, speakers, n_classes=len(classes), n_boot=n_boot,
                      random_state=random_state)
    curve = reliability_curve(y, proba)
    return {"n": int(y.size), "uar": float(m["uar"]), "accuracy": float(m["accuracy"]),
            "uar_ci95": ci["uar"], "accuracy_ci95": ci["accuracy"],
            "ece": curve.ece,
            "brier": brier_score(y, proba) if proba.shape[1] > 1 else 0.0,
            "recall": {c: None if np.isnan(r) else float(r)
                       for c, r in zip(classes, m["recall"], strict=True)},
            "confusion": m["confusion"].tolist(),
            "reliability": {"confidence": _nan_to_none(curve.confidence),
                            "accuracy": _nan_to_none(curve.accuracy),
                            "counts": curve.counts.tolist()},
            "correct": (pred == y).tolist()}


def _nan_to_none(values: np.ndarray) -> list:
    return [None if np.isnan(v) else float(v) for v in values]


def _n_outputs(recognizer, groups) -> int:
    return len(recognizer.classes_ if groups is None
               else resolve_groups(groups, recognizer.classes_)[0])


def _held_out_proba(recognizer, X: np.ndarray, speakers: np.ndarray,
                    emotions: np.ndarray, *, groups=None) -> np.ndarray:
    """Probabilities of held-out rows (of ``groups`` of classes when given, as
    ``proba_from_features``). A speaker-normalised model gets each speaker's own
    statistics (from all of that speaker's clips, no labels); a neutral-reference model
    each speaker's neutral clips (:func:`_neutral_ref_proba`)."""
    from .recognizer import SpeakerStats

    if recognizer.normalization == Normalization.STRICT:
        return recognizer.proba_from_features(X, groups=groups)
    if recognizer.normalization == Normalization.NEUTRAL_REF:
        return _neutral_ref_proba(recognizer, X, speakers, emotions, groups=groups)
    proba = np.empty((X.shape[0], _n_outputs(recognizer, groups)))
    for spk in np.unique(speakers):
        rows = speakers == spk
        proba[rows] = recognizer.proba_from_features(
            X[rows], speaker=SpeakerStats.from_features(X[rows]), groups=groups)
    return proba


def _neutral_ref_proba(recognizer, X: np.ndarray, speakers: np.ndarray,
                       emotions: np.ndarray, *, reference: np.ndarray | None = None,
                       k: int | None = None, rng: np.random.Generator | None = None,
                       groups=None) -> np.ndarray | None:
    """A ``neutral_ref`` model's probabilities of the rows ``X``, each speaker centred on
    its neutral rows of ``reference`` (default ``X``; or the same clips recorded another
    way), a neutral clip on the speaker's others, never on itself: all of them, or ``k``
    drawn by ``rng``. None when a speaker has fewer than ``k`` others; a speaker with fewer
    than 3 neutral clips (2 others) raises. ``groups``: as :func:`_held_out_proba`."""
    from .recognizer import SpeakerStats

    reference = X if reference is None else reference
    proba = np.empty((X.shape[0], _n_outputs(recognizer, groups)))
    for spk in np.unique(speakers):
        rows = np.flatnonzero(speakers == spk)
        neutral = rows[emotions[rows] == "neutral"]
        if k is not None and neutral.size - 1 < k:
            return None
        if neutral.size < 3:
            raise ParameterError(f"speaker {spk}: a neutral_ref model is scored with the "
                                 f"speaker's other neutral clips; it has {neutral.size} "
                                 f"neutral clips (at least 3 needed)")
        others = np.setdiff1d(rows, neutral)
        for scored in ([others] if others.size else []) + list(neutral[:, None]):
            pool = np.setdiff1d(neutral, scored)
            if k is not None:
                pool = rng.choice(pool, size=k, replace=False)
            proba[scored] = recognizer.proba_from_features(
                X[scored], speaker=SpeakerStats.from_features(reference[pool]), groups=groups)
    return proba


_RECIPE = "recipe.json"  # what a corpus_ab fold model in a work_dir was made by


def _rows_digest(rows: pd.DataFrame) -> str:
    """sha256 of the rows' files, labels, speakers and corpora (the training data)."""
    cols = [rows[c].astype(str).tolist() for c in ("sha256", "emotion", "speaker", "corpus")]
    return hashlib.sha256(json.dumps(cols).encode()).hexdigest()


def _trained_by(model_dir: Path, recipe: str) -> bool:
    """Whether ``model_dir`` holds a model made by ``recipe`` (the JSON of its
    ``recipe.json``, written after the model)."""
    try:
        return (model_dir / _RECIPE).read_text() == recipe
    except (OSError, UnicodeDecodeError):
        return False


def _reuse_or_make(model_dir: Path, recipe: str, make: Callable[[], object]) -> None:
    """Keep the model in ``model_dir`` when ``recipe`` made it; else save ``make()`` there,
    then the recipe (a model interrupted before its recipe is made again)."""
    from .data import atomic_write_bytes

    if _trained_by(model_dir, recipe):
        return
    (model_dir / _RECIPE).unlink(missing_ok=True)
    make().save(model_dir)
    atomic_write_bytes(model_dir / _RECIPE, recipe.encode())


@dataclass(frozen=True)
class _FoldRecipe:
    """The checked arguments of a held-out-corpus A/B that make its fold models."""

    model: str
    corpora: list
    students: tuple
    compact: set
    normalization: Normalization
    selection: object
    left_out: list
    augment: str
    copies: int
    transfer: str
    calibration: str
    student_calibration: str
    width: int | None
    tune: str | None
    random_state: int

    @classmethod
    def of(cls, *, model, corpora, students, normalization, selection, exclude_emotions,
           augment, copies, transfer, calibration, student_calibration, width, tune,
           random_state) -> _FoldRecipe:
        from . import pipeline

        corpora = pipeline._corpus_list(corpora)
        if len(corpora) < 2:
            raise ParameterError(f"corpus_ab needs at least 2 corpora, got {corpora}")
        for s in students:
            pipeline._check_choice("student", s, pipeline.STUDENT_CHOICES)
        normalization = normalization_of(normalization)
        return cls(model=model, corpora=corpora, students=tuple(students),
                   compact=pipeline._compact_students(students, width),
                   normalization=normalization, selection=selection,
                   left_out=[str(e) for e in exclude_emotions],
                   augment=pipeline.DEFAULT_AUGMENT if augment is None else augment,
                   copies=copies, transfer=transfer, calibration=calibration,
                   student_calibration=(calibration if student_calibration is None
                                        else student_calibration),
                   width=width, tune=tune, random_state=random_state)

    def fold_models(self, manifest: pd.DataFrame, corpus: str, *, models_dir: Path,
                    cache_dir, n_jobs: int):
        """The teacher trained on every corpus but ``corpus`` and its students, made in
        ``models_dir/<corpus>/`` or kept from there when made by the same recipe.

        Returns
        -------
        teacher : Artifact
        recognizers : dict
            ``"teacher"`` and each student kind -> EmotionRecognizer.
        others : list of str
            The fold's training corpora.
        """
        from . import __version__, pipeline
        from .artifact import load_artifact
        from .features import FeatureConfig
        from .recognizer import EmotionRecognizer

        others = [c for c in self.corpora if c != corpus]
        training_rows = manifest[manifest["corpus"].isin(others)]
        excluded = [e for e in self.left_out if e in set(training_rows["emotion"])]
        recipe = json.dumps({
            "model": str(self.model), "normalization": self.normalization.value,
            "corpora": others, "excluded_emotions": excluded,
            "selection": None if self.selection is None else self.selection.to_dict(),
            "augment": self.augment, "copies": self.copies, "calibration": self.calibration,
            "tune": self.tune, "random_state": self.random_state,
            "rows": _rows_digest(training_rows),
            # the extraction code's version (a cached teacher of older features is
            # trained again) and the library's
            "features": FeatureConfig().hash, "version": __version__}, sort_keys=True)
        teacher_dir = Path(models_dir) / corpus / "teacher"
        _reuse_or_make(teacher_dir, recipe, partial(
            pipeline.train, manifest, model=self.model, normalization=self.normalization,
            corpora=others, selection=self.selection, exclude_emotions=excluded,
            augment=self.augment, copies=self.copies, calibration=self.calibration,
            tune=self.tune, random_state=self.random_state, cache_dir=cache_dir,
            n_jobs=n_jobs))
        teacher = load_artifact(teacher_dir)
        recognizers = {"teacher": EmotionRecognizer(teacher, backend="sklearn")}
        for s in self.students:
            width = self.width if s in self.compact else None
            student_dir = Path(models_dir) / corpus / s
            student_recipe = json.dumps({
                "teacher": json.loads(recipe), "teacher_model": teacher.card["model_id"],
                "student": s, "transfer": self.transfer,
                "calibration": self.student_calibration, "width": width}, sort_keys=True)
            _reuse_or_make(student_dir, student_recipe, partial(
                pipeline.distil, teacher, manifest, student=s, transfer=self.transfer,
                calibration=self.student_calibration, width=width,
                random_state=self.random_state, cache_dir=cache_dir, n_jobs=n_jobs))
            recognizers[s] = EmotionRecognizer(load_artifact(student_dir))
        return teacher, recognizers, others


def corpus_ab_folds(manifest: pd.DataFrame, *, held_out: Sequence[str], model: str,
                    corpora: Sequence[str], work_dir: str | os.PathLike,
                    students: Sequence[str] = ("compact_int8",),
                    normalization: str = Normalization.STRICT, selection=None,
                    exclude_emotions: Sequence[str] = (), augment: str | None = None,
                    copies: int = 2, transfer: str = "masks", calibration: str = "none",
                    student_calibration: str | None = None, width: int | None = None,
                    tune: str | None = None, random_state: int = 0,
                    cache_dir: str | os.PathLike | None = None,
                    n_jobs: int = 1) -> dict[str, Path]:
    """Make the models of some folds of :func:`corpus_ab` in ``work_dir``, and no report.

    For folds made in separate processes side by side: :func:`corpus_ab` with the same
    arguments and ``work_dir`` then keeps them and only scores.

    Parameters
    ----------
    manifest : pd.DataFrame
    held_out : sequence of str
        The folds to make, by their held-out corpus (each one of ``corpora``).
    model, corpora, work_dir, students, normalization, selection, exclude_emotions,
    augment, copies, transfer, calibration, student_calibration, width, tune,
    random_state, cache_dir, n_jobs
        As :func:`corpus_ab`.

    Returns
    -------
    dict
        Held-out corpus -> the folder of its fold's models.
    """
    recipe = _FoldRecipe.of(model=model, corpora=corpora, students=students,
                            normalization=normalization, selection=selection,
                            exclude_emotions=exclude_emotions, augment=augment,
                            copies=copies, transfer=transfer, calibration=calibration,
                            student_calibration=student_calibration, width=width,
                            tune=tune, random_state=random_state)
    held_out = [str(c) for c in held_out]
    unknown = sorted(set(held_out) - set(recipe.corpora))
    if not held_out or unknown:
        raise ParameterError(f"held_out: {unknown or 'none'} must be among the corpora "
                             f"{recipe.corpora}")
    for corpus in held_out:
        recipe.fold_models(manifest, corpus, models_dir=Path(work_dir), cache_dir=cache_dir,
                           n_jobs=n_jobs)
    return {corpus: Path(work_dir) / corpus for corpus in held_out}


def _deployed(mean: dict, students: Sequence[str], *, max_loss: float) -> str:
    """The held-out-corpus A/B's rule: the first of ``students`` whose mean UAR
    (``mean[name]["uar"]``) is at most ``max_loss`` below the teacher's; else the teacher."""
    return next((s for s in students
                 if mean["teacher"]["uar"] - mean[s]["uar"] <= max_loss), "teacher")


def corpus_ab(manifest: pd.DataFrame, *, model: str, corpora: Sequence[str],
              students: Sequence[str] = ("compact_int8",),
              normalization: str = Normalization.STRICT, selection=None,
              exclude_emotions: Sequence[str] = (), augment: str | None = None,
              copies: int = 2, transfer: str = "masks", calibration: str = "none",
              student_calibration: str | None = None, width: int | None = None,
              max_loss: float = MAX_LOSS,
              candidates: Mapping[str, str | os.PathLike] | None = None,
              tune: str | None = None, n_boot: int = 2000, random_state: int = 0,
              cache_dir: str | os.PathLike | None = None,
              work_dir: str | os.PathLike | None = None, n_jobs: int = 1,
              progress: Callable[[str], None] | None = None) -> CorpusAB:
    """Leave-one-corpus-out A/B of a teacher recipe and its students, and the decision.

    Parameters
    ----------
    manifest : pd.DataFrame
    model : str
        The teacher's registry model (or ``@selected`` of ``selection``).
    corpora : sequence of str, at least 2
        The training corpora; each is held out once.
    students : sequence of str
        Student kinds (:data:`ser_classic.pipeline.STUDENT_CHOICES`), cheapest first: the
        first within ``max_loss`` of the teacher is deployed.
    normalization : Normalization or {"strict", "speaker_norm", "neutral_ref"}
        How the held-out corpus is scored: ``"speaker_norm"`` with each speaker's
        statistics of all its clips; ``"neutral_ref"`` with its neutral clips' (a neutral
        clip with the speaker's other neutral clips; at least 3 per speaker).
    selection : Selection, optional
        Tuned parameters of the teacher (as :func:`ser_classic.train`).
    exclude_emotions : sequence of str
        Left out of training and scoring (e.g. ``calm``, which only RAVDESS has).
    augment : str, optional
        The teacher's augmentation preset (default: :func:`ser_classic.train`'s).
    copies : int
        Augmented copies per clip for the teacher.
    transfer : {"masks", "teacher"}
        The students' transfer copies (:func:`ser_classic.distil`).
    calibration : {"none", "temperature", "corpus_temperature"}
        Of the teacher, as :func:`ser_classic.train` (the decision reads UAR, which
        calibration does not change; the held-out ECE does).
    student_calibration : {"none", "temperature", "corpus_temperature"}, optional
        Of the students, as :func:`ser_classic.distil` (default: ``calibration``); the
        deployed recipe's own, so that the held-out ECE is the deployed model's.
    width : int >= 1, optional
        Columns of the compact students (as :func:`ser_classic.distil`; the other kinds
        have no width); each fold records the columns every student reads.
    max_loss : float >= 0
        Mean held-out-corpus UAR a student may lose to the teacher and still be deployed.
    candidates : mapping, optional
        ``"teacher"`` and each student kind -> the model directory trained on all
        ``corpora`` by the same recipe; the decision then names the directory to deploy
        (``decision.winner_path``, read by ``ser-classic models add --report``).
    tune : {"speaker", "corpus", "speaker+corpus"}, optional
        The teacher's parameters are chosen in every fold on that fold's training corpora
        (as :func:`ser_classic.train`), never on the held-out one.
    work_dir : path, optional
        Keeps each fold's teacher in ``work_dir/<held-out corpus>/teacher`` and each
        student in ``work_dir/<held-out corpus>/<kind>``, and reuses those made by the
        same recipe (arguments, training rows, feature and library version; a student's
        also its teacher's id), so that A/Bs of other students of one teacher (kinds,
        widths, calibrations) train it once, and a call that repeats one with
        ``candidates`` added only scores (the Makefile's A/B runs beside the training of
        the candidates).

    Returns
    -------
    CorpusAB
    """
    from .artifact import load_artifact
    from .evaluation import closed_set_proba, mcnemar_test
    from .features import extract_batch

    if not max_loss >= 0:
        raise ParameterError(f"max_loss must be >= 0, got {max_loss}")
    recipe = _FoldRecipe.of(model=model, corpora=corpora, students=students,
                            normalization=normalization, selection=selection,
                            exclude_emotions=exclude_emotions, augment=augment,
                            copies=copies, transfer=transfer, calibration=calibration,
                            student_calibration=student_calibration, width=width,
                            tune=tune, random_state=random_state)
    corpora, normalization, augment = recipe.corpora, recipe.normalization, recipe.augment
    student_calibration, left_out = recipe.student_calibration, recipe.left_out
    if candidates is not None:
        missing = sorted({"teacher", *students} - set(candidates))
        if missing:
            raise ParameterError(f"candidates: no model directory for {missing}")
    names = ["teacher", *students]
    folds: dict[str, dict] = {}
    with tempfile.TemporaryDirectory(prefix="corpus_ab_") as tmp:
        for corpus in corpora:
            teacher, recognizers, others = recipe.fold_models(
                manifest, corpus, models_dir=Path(tmp if work_dir is None else work_dir),
                cache_dir=cache_dir, n_jobs=n_jobs)
            rows = manifest[(manifest["corpus"] == corpus)
                            & ~manifest["emotion"].isin(left_out)].reset_index(drop=True)
            X, _, _ = extract_batch(rows["path"], sha256=rows["sha256"],
                                    config=teacher.feature_config, cache_dir=cache_dir,
                                    n_jobs=n_jobs)
            ok = ~np.isnan(X).any(axis=1)
            rows, X = rows[ok].reset_index(drop=True), X[ok]
            classes = [c for c in teacher.card["classes"] if c in set(rows["emotion"])]
            keep = rows["emotion"].isin(classes).to_numpy()
            rows, X = rows[keep].reset_index(drop=True), X[keep]
            y = np.searchsorted(classes, rows["emotion"].to_numpy(dtype=str))
            speakers = rows["speaker"].to_numpy(dtype=str)
            emotions = rows["emotion"].to_numpy(dtype=str)
            fold = {}
            for n, rec in recognizers.items():
                proba = closed_set_proba(_held_out_proba(rec, X, speakers, emotions),
                                         rec.classes_, classes)
                fold[n] = _scores(y, proba, speakers, classes, n_boot, random_state)
            for n in students:
                fold[n]["mcnemar_vs_teacher"] = mcnemar_test(fold["teacher"]["correct"],
                                                             fold[n]["correct"])
                card = recognizers[n].card
                fold[n]["n_columns"] = len(card["used_features"] or range(card["n_features"]))
            fold["classes"] = classes
            fold["trained_on"] = others
            fold["teacher_params"] = teacher.card["training"]["params"]
            folds[corpus] = fold
            if progress is not None:
                progress(f"{corpus}: " + ", ".join(f"{n} {fold[n]['uar']:.3f}"
                                                    for n in names))
    mean = {n: {k: float(np.mean([folds[c][n][k] for c in corpora]))
                for k in ("uar", "accuracy", "ece")} for n in names}
    deploy = _deployed(mean, students, max_loss=max_loss)
    rule = (f"Deploy the first student (in the order {', '.join(students)}) whose mean "
            f"held-out-corpus UAR is at most {max_loss:.2f} below the teacher's "
            f"({mean['teacher']['uar']:.3f}); otherwise the teacher. " + "; ".join(
                f"{s}: {mean[s]['uar']:.3f} ({mean[s]['uar'] - mean['teacher']['uar']:+.3f})"
                for s in students) + ".")
    for fold in folds.values():
        for n in names:
            fold[n].pop("correct")
    summary = {"kind": "corpus_ab", "model": model, "normalization": normalization.value,
               "corpora": corpora, "candidates": names, "augment": augment, "copies": copies,
               "transfer": transfer, "calibration": calibration,
               "student_calibration": student_calibration, "width": width,
               "excluded_emotions": left_out,
               "tune": tune,
               "random_state": random_state,
               "folds": folds, "mean": mean,
               "decision": {"deploy": deploy, "max_loss": max_loss, "rule": rule}}
    if candidates is not None:
        ids = {n: load_artifact(candidates[n], load_joblib=False).card["model_id"]
               for n in names}
        summary["candidate_paths"] = {n: str(candidates[n]) for n in names}
        summary["candidate_models"] = ids
        summary["decision"]["winner_path"] = str(candidates[deploy])
        summary["decision"]["winner_model"] = ids[deploy]
    return CorpusAB(summary=summary)

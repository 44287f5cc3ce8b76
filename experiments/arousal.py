"""How far the answer's arousal carries across corpora, with fixed linear models ->
reports/arousal/.

Measurement only: nothing is chosen or shipped. A discriminator's penalty for a target
emotion is ``1 - p(target)``; a coarser one is ``1 - p(the target's arousal group)``, the
sum of the probabilities of the emotions of the target's group. Cross-corpus studies
find arousal carries across corpora much better than the emotion itself (Schuller et al.
2010). Measured here with ``floor_ablation``'s fixed logistic regression on the cached
default features (calm excluded), strict and speaker_norm:
- ``emotion``: the 7-class UAR (the closed set of the held-out corpus);
- ``arousal of the emotion model``: the group of the 7-class model's top answer, the
  binary UAR of high against low (what a user reads from ``score``'s or
  ``predict_proba``'s output; the probabilities summed over a group would favour the
  larger group, 4 or 5 of the 7 emotions, wherever the answer is unsure);
- ``arousal model``: a logistic regression trained on high against low directly;
- ``arousal first``: that model's p(high) times a 7-class model trained within each group
  (``p(e) = p(group of e) p(e | group)``), scored as the 7-class UAR.

With ``--folds``, the same readings of the deployed recipe's own models: the teacher and
student of each fold of a held-out-corpus A/B (``corpus-ab --work``: `make run` makes
``.cache/models/ab``, `make deploy-selected` ``ab-speaker_norm`` and ``ab-neutral_ref``),
each scored on its held-out corpus as that A/B scores it, with the calibration of the
emotion and of the group's probability as the library gives it (``groups=``: the
probabilities summed over the group, an atypical clip's shrunk towards 1/2). With
``--conditions``, the held-out teachers and students of ``bench_conditions`` (trained
without RAVDESS actors 21-24) under each of its recording conditions, emotion against
arousal.

Two groupings, both conventions of the circumplex (Russell 1980), neither chosen here:
high = angry, happy, fearful, surprised, with disgust low or high; low = neutral, sad
and the rest. Cells: leave-one-corpus-out (train on two corpora, test on the third) and
RAVDESS group6 folds (6 folds of 4 consecutive actors).

    .venv/bin/python experiments/arousal.py [--out reports/arousal]
"""

from __future__ import annotations

import json
import sys
from functools import partial
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from floor_ablation import (
    CORPORA,
    _models,
    ablation_parser,
    group6,
    report_head,
    report_on_known_emotions,
    uar,
)

from ser_classic._vocabulary import GROUPINGS, Grouping
from ser_classic.evaluation import speaker_normalize

HIGH = GROUPINGS[Grouping.AROUSAL]["high"]  # the library's groups="arousal"
GROUPINGS = {"disgust low": frozenset(HIGH), "disgust high": frozenset((*HIGH, "disgust"))}
SCORES = ("emotion", "arousal of the emotion model", "arousal model", "arousal first")


def arousal_first(p_high: np.ndarray, within: dict, classes) -> np.ndarray:
    """``p(e) = p(group of e) p(e | group)`` over ``classes``, shape ``(n_rows, n_classes)``;
    ``within`` maps True (high) and False (low) to ``(group classes, p(e | group))``."""
    out = np.zeros((p_high.size, len(classes)))
    for is_high, (group, proba) in within.items():
        weight = p_high if is_high else 1.0 - p_high
        out[:, np.searchsorted(classes, group)] += weight[:, None] * proba
    return out


def scores(X, y, train, test) -> dict:
    """Each grouping's four scores of the module docstring on the ``test`` rows, the models
    fitted on the ``train`` rows (index arrays); the 7-class model is fitted once for all."""
    logreg = _models()["logreg"]
    flat = logreg().fit(X[train], y[train])
    classes = flat.classes_
    top = classes[flat.predict_proba(X[test]).argmax(axis=1)]
    out = {}
    for grouping, high in GROUPINGS.items():
        is_high = np.isin(y, list(high))
        binary = logreg().fit(X[train], is_high[train])
        p_high = binary.predict_proba(X[test])[:, list(binary.classes_).index(True)]
        within = {}
        for side in (True, False):
            rows = train[is_high[train] == side]
            model = logreg().fit(X[rows], y[rows])
            within[side] = (model.classes_, model.predict_proba(X[test]))
        out[grouping] = {
            "emotion": uar(y[test], top),
            "arousal of the emotion model": uar(is_high[test], np.isin(top, list(high))),
            "arousal model": uar(is_high[test], p_high > 0.5),
            "arousal first": uar(y[test], classes[arousal_first(p_high, within, classes)
                                                  .argmax(axis=1)])}
    return out


def measure(X, y, corpus, speaker) -> dict:
    """Each grouping's scores under leave-one-corpus-out (per corpus and mean) and on
    RAVDESS group6 folds (the mean over folds)."""
    per = {held: scores(X, y, np.flatnonzero(corpus != held), corpus == held)
           for held in CORPORA}
    r = np.flatnonzero(corpus == "ravdess")
    fold = group6(speaker[r])
    folds = [scores(X, y, r[fold != f], r[fold == f]) for f in np.unique(fold)]
    out = {}
    for grouping in GROUPINGS:
        out[grouping] = {held: per[held][grouping] for held in CORPORA}
        out[grouping]["loco mean"] = {k: float(np.mean([per[c][grouping][k] for c in CORPORA]))
                                      for k in SCORES}
        out[grouping]["group6"] = {k: float(np.mean([f[grouping][k] for f in folds]))
                                   for k in SCORES}
    return out


def fold_models(X, rows, folds: Path):
    """Every model of an A/B's work folder ``folds`` (``<held-out corpus>/<candidate>/``)
    with its held-out corpus's clips among ``rows``, as
    :func:`ser_classic.deployment.corpus_ab` reads them: ``(held-out corpus, candidate,
    model id, recognizer, classes, (features, speakers, emotions))``, ``classes`` being the
    model's that the corpus has and the clips those of ``classes``; nothing when absent."""
    from ser_classic.artifact import load_artifact
    from ser_classic.features import FeatureConfig
    from ser_classic.recognizer import EmotionRecognizer

    y, corpus = rows["emotion"].to_numpy(), rows["corpus"].to_numpy()
    for held in CORPORA:
        for model_dir in sorted((folds / held).glob("*/model.json")):
            artifact = load_artifact(model_dir.parent)
            name = model_dir.parent.name
            if artifact.card["feature_config_hash"] != FeatureConfig().hash:
                raise SystemExit(f"{model_dir.parent} reads other features than the "
                                 "default set scored here")
            rec = EmotionRecognizer(artifact, **({"backend": "sklearn"}
                                                 if name == "teacher" else {}))
            te = corpus == held
            classes = [c for c in rec.classes_ if c in set(y[te])]
            te &= np.isin(y, classes)
            yield (held, name, artifact.card["model_id"], rec, classes,
                   (X[te], rows["speaker"].to_numpy()[te], y[te]))


def fold_scores(X, rows, folds: Path) -> dict:
    """Emotion and arousal UAR of every model of an A/B's work folder ``folds``
    (:func:`fold_models`) on its held-out corpus; ``{}`` when absent."""
    from ser_classic.deployment import _held_out_proba
    from ser_classic.evaluation import closed_set_proba, expected_calibration_error

    out: dict = {}
    for held, name, model_id, rec, classes, held_out_rows in fold_models(X, rows, folds):
        y = held_out_rows[2]
        proba = closed_set_proba(_held_out_proba(rec, *held_out_rows), rec.classes_, classes)
        top = np.asarray(classes)[proba.argmax(axis=1)]
        entry = out.setdefault(name, {"models": {}})
        entry["models"][held] = model_id
        entry[held] = {"emotion": uar(y, top), "emotion ECE": float(
            expected_calibration_error(np.searchsorted(classes, y), proba))}
        for g, high in GROUPINGS.items():
            truth = np.isin(y, list(high))
            # the library's groups= over the closed set: shrunk over the two groups
            groups = {"high": [c for c in classes if c in high],
                      "low": [c for c in classes if c not in high]}
            p_high = _held_out_proba(rec, *held_out_rows, groups=groups)[:, 0]
            entry[held] |= {
                f"arousal ({g})": uar(truth, np.isin(top, list(high))),
                f"p(group) arousal ({g})": uar(truth, p_high > 0.5),
                f"p(group) ECE ({g})": float(expected_calibration_error(
                    truth.astype(int), np.c_[1.0 - p_high, p_high]))}
    for entry in out.values():
        entry["mean"] = {k: float(np.mean([entry[c][k] for c in CORPORA]))
                         for k in entry[CORPORA[0]]}
    return out


def render(summary: dict) -> str:
    lines = [*report_head("How far the answer's arousal carries across corpora", summary,
                          __doc__),
             "UAR of each score (binary for the arousal rows: chance 0.5; 7 classes for "
             "`emotion` and `arousal first`: chance 0.14).", ""]
    for norm in ("strict", "speaker_norm"):
        per = summary["results"][norm]
        lines += [f"## {norm}", "", "| grouping | score | EMOVO | RAVDESS | TESS | LOCO mean | "
                  "RAVDESS group6 |", "|---|---|---|---|---|---|---|"]
        for grouping, res in per.items():
            for k in SCORES:
                lines.append(f"| {grouping} | {k} | " + " | ".join(
                    f"{res[c][k]:.3f}" for c in (*CORPORA, "loco mean", "group6")) + " |")
        lines.append("")
    lines += folds_md(summary["results"].get("folds", {}), fold_table)
    return "\n".join(lines + conditions_md(summary["results"].get("conditions")))


def fold_table(models: dict) -> list[str]:
    """The section of :func:`fold_scores`' models of one A/B work folder."""
    lines = ["Each fold's model scored on its held-out corpus (closed set): the 7-class "
             "UAR of the top answer and its ECE; the binary UAR of the top answer's "
             "arousal group; and p(group), the high group's probability from the "
             "library's `groups=` (the model's probabilities summed over the group, an "
             "atypical clip's shrunk towards 1/2; the penalty is `1 - p(group)`), read "
             "at 0.5, "
             "with its binary ECE (15 bins of max(p, 1 - p)). These are "
             "the models the folder held when this ran. Models of the same recipe "
             "trained on another machine differ by the spread the README's main-job "
             "section describes, so their emotion UAR can differ from the committed "
             "`reports/ab/` by a point.", "",
             "| model | score | EMOVO | RAVDESS | TESS | mean |", "|---|---|---|---|---|---|"]
    for name, entry in models.items():
        for k in entry["mean"]:
            lines.append(f"| {name} | {k} | " + " | ".join(
                f"{entry[c][k]:.3f}" for c in CORPORA) + f" | {entry['mean'][k]:.3f} |")
    return lines


def folds_md(folds: dict, table) -> list[str]:
    """A section per A/B work folder of ``folds`` (folder -> candidate -> entry with the
    ``models`` of each held-out corpus): ``table(models)``, then the model ids; a folder
    with no models says how to make them."""
    lines = []
    for folder, models in folds.items():
        lines += [f"## The A/B models of `{folder}`", ""]
        if not models:
            lines += ["Not made (`make run` makes the strict A/B's models, `make "
                      "deploy-selected` the others').", ""]
            continue
        lines += [*table(models), "", "Models: " + "; ".join(
            f"{name} " + ", ".join(f"{c} `{i}`" for c, i in entry["models"].items())
            for name, entry in models.items()) + ".", ""]
    return lines


CONDITIONS_PLOT = "conditions.png"


def plot_conditions(cond: dict, path: Path) -> Path:
    """The deployed students' emotion accuracy and arousal UAR per condition, one panel
    per normalisation, with each measure's chance level."""
    import matplotlib.pyplot as plt

    from ser_classic.reporting import save_figure

    names = list(cond["conditions"])
    fig, axes = plt.subplots(1, len(CONDITION_COLUMNS), figsize=(15, 4.5), sharey=True)
    for ax, (norm, (_, student)) in zip(axes, CONDITION_COLUMNS.items(), strict=True):
        x = np.arange(len(names))
        for offset, view, metric, chance in ((-0.2, "emotion", "accuracy", 1 / 7),
                                             (0.2, "arousal", "uar", 1 / 2)):
            values = [cond["conditions"][c][f"{student} {view}"][metric] for c in names]
            bars = ax.bar(x + offset, values, width=0.4, label=f"{view} ({metric})")
            ax.axhline(chance, color=bars.patches[0].get_facecolor(), lw=1, ls="--")
        ax.set_xticks(x, names, rotation=60, ha="right", fontsize=8)
        ax.set_title(f"{norm} student")
        ax.set_ylim(0, 1)
    axes[0].set_ylabel("held-out actors 21-24 (dashed: chance)")
    fig.legend(*axes[0].get_legend_handles_labels(), loc="upper center", ncol=2,
               bbox_to_anchor=(0.5, 1.06))
    return save_figure(fig, path)


def conditions_md(cond: dict | None) -> list[str]:
    """The report's section on :func:`condition_scores` (none without it)."""
    if not cond:
        return []
    lines = ["## Under recording conditions", "",
             f"`bench_conditions`' held-out teachers and students (trained without RAVDESS "
             f"actors 21-24, `--conditions`) on the {cond['n_clips']} clips of actors 21-24 "
             "under each of its conditions (its transforms, babble talkers and seeds: "
             "`reports/conditions`). Emotion: accuracy over the 7 classes and its ECE; "
             "arousal: the binary UAR of the answer of `groups=\"arousal\"` and its "
             "two-way ECE (15 bins). Speaker-normalised models read each speaker's "
             "statistics from its clips of the same condition. Four speakers: the ECEs "
             "are coarse here (`reports/targets`). These are the models the folder held "
             "when this ran (ids below); `reports/conditions` names the ones it scored. "
             f"The students' figures as a plot: [{CONDITIONS_PLOT}]({CONDITIONS_PLOT}).", ""]
    degraded = [c for c in cond["conditions"] if c != "clean"]
    for norm, (teacher, student) in CONDITION_COLUMNS.items():
        lines += [f"### {norm}", "", "| condition | teacher emotion: accuracy / ECE | "
                  "teacher arousal: UAR / ECE | student emotion: accuracy / ECE | "
                  "student arousal: UAR / ECE |", "|---|---|---|---|---|"]

        def cell(cols, column, view, metric):
            r = cols[f"{column} {view}"]
            return f"{r[metric]:.3f} / {r['ece']:.3f}"

        means = {c: {m: float(np.mean([cond["conditions"][d][c][m] for d in degraded]))
                     for m in ("accuracy", "uar", "ece")}
                 for c in cond["conditions"]["clean"]}
        for name, cols in [*cond["conditions"].items(), ("**mean of the degraded**", means)]:
            lines.append(f"| {name} | " + " | ".join(
                cell(cols, column, view, "accuracy" if view == "emotion" else "uar")
                for column in (teacher, student) for view in ("emotion", "arousal")) + " |")
        lines.append("")
    models = "; ".join(f"{n} `{i}`" for n, i in cond["models"].items())
    return [*lines, f"Models: {models}.", ""]


CONDITION_COLUMNS = {"strict": ("strict teacher", "strict student"),
                     "speaker_norm": ("speaker_norm teacher [same condition]",
                                      "speaker_norm student [same condition]"),
                     "neutral_ref": ("neutral_ref teacher [same condition]",
                                     "neutral_ref student [same condition]")}


def condition_scores(work: Path, data: Path, *, seed: int = 0) -> dict:
    """Emotion and arousal (``groups="arousal"``) accuracy, UAR and ECE of
    ``bench_conditions``' held-out teachers and students (``work``) on RAVDESS actors
    21-24 under each of its conditions (its clips, seeds and transforms)."""
    import bench_conditions as bench

    from ser_classic.data import scan_corpus

    holdout = bench.ensure_holdout_models(work, tuple(CONDITION_COLUMNS), retrain=False)
    records = sorted(scan_corpus(data / "ravdess"), key=lambda r: r["path"])
    rows, talkers = bench.holdout_rows(records, holdout, n=0, seed=seed)
    cond = bench.run_conditions(holdout, rows, talker_rows=talkers, seed=seed, world=True,
                                groups=Grouping.AROUSAL)
    keep = [c for pair in CONDITION_COLUMNS.values() for c in pair]
    return {"n_clips": len(rows),
            "models": {n: m["model_id"] for n, m in cond["models"].items()},
            "conditions": {c: {f"{col} {view}": {k: round(float(r[k]), 4) for k in
                                                 ("accuracy", "uar", "ece")}
                               for col in keep for view, r in (
                                   ("emotion", cols[col]), ("arousal", cols[
                                       f"{col} ({Grouping.AROUSAL})"]))}
                           for c, cols in cond["conditions"].items()}}


def run(X, y, speaker, corpus, *, rows, folds=(), conditions=None, data=None) -> dict:
    """Every grouping's scores, strict and speaker_norm, the A/B models of ``folds`` and
    ``bench_conditions``' held-out models of ``conditions`` (its work folder)."""
    results = {}
    for norm, F in (("strict", X), ("speaker_norm", speaker_normalize(X, speaker))):
        results[norm] = measure(F, y, corpus, speaker)
        for grouping in GROUPINGS:
            print(f"{norm} {grouping}: " + ", ".join(
                f"{k} {results[norm][grouping]['loco mean'][k]:.3f}" for k in SCORES),
                flush=True)
    results["folds"] = {str(f): fold_scores(X, rows, Path(f)) for f in folds}
    if conditions is not None:
        results["conditions"] = condition_scores(Path(conditions), Path(data))
    return results


def main(argv=None) -> int:
    p = ablation_parser(__doc__, out="reports/arousal", seed=False)
    p.add_argument("--folds", nargs="*", default=(),
                   help="held-out-corpus A/B work folders (corpus-ab --work) to score too")
    p.add_argument("--conditions", default=None,
                   help="bench_conditions' work folder (its held-out models): score them "
                        "under its recording conditions too")
    args = p.parse_args(argv)
    status = report_on_known_emotions(args, "arousal", argv,
                                      partial(run, folds=args.folds,
                                              conditions=args.conditions, data=args.data),
                                      render, with_rows=True)
    summary = json.loads((Path(args.out) / "summary.json").read_text())
    if "conditions" in summary["results"]:
        plot_conditions(summary["results"]["conditions"], Path(args.out) / CONDITIONS_PLOT)
    return status


if __name__ == "__main__":
    raise SystemExit(main())

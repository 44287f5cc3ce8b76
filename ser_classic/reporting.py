"""Tables and plots written to ``reports/``; every report names the command that made it."""

from __future__ import annotations

import io
import os
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import pandas as pd

from .data import EMOTIONS, atomic_write_bytes, label_order

__all__ = ["HUMAN_RECALL", "cv_report", "data_stats_report", "duration_table",
           "plot_confusion", "plot_fold_boxes", "plot_model_comparison",
           "plot_recall_vs_human", "plot_reliability", "save_figure", "write_text"]


def write_text(path: str | os.PathLike, text: str) -> Path:
    """Write a text file atomically; return its path."""
    atomic_write_bytes(path, text.encode())
    return Path(path)


def save_figure(fig: plt.Figure, path: str | os.PathLike) -> Path:
    """Save a figure as PNG atomically and close it."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110, bbox_inches="tight")
    plt.close(fig)
    atomic_write_bytes(path, buf.getvalue())
    return Path(path)


def duration_table(manifest: pd.DataFrame, *, by: str) -> pd.DataFrame:
    """count, mean, std, min, 25/50/75 % and max of ``duration_s`` per value of ``by``."""
    table = manifest.groupby(by)["duration_s"].describe()
    table = table.rename(columns={"25%": "p25", "50%": "p50", "75%": "p75"})
    table["count"] = table["count"].astype(int)
    return table


def _markdown(table: pd.DataFrame, *, floatfmt: str = ".3f") -> str:
    cols = [table.index.name or "", *map(str, table.columns)]
    lines = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    for idx, row in zip(table.index, table.itertuples(index=False), strict=True):
        cells = [str(idx)] + [format(v, floatfmt) if isinstance(v, float) else str(v)
                              for v in row]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def data_stats_report(manifest: pd.DataFrame, *, out_dir: str | os.PathLike,
                      command: str) -> list[Path]:
    """The seed's two figures per corpus (clips by duration, clips by emotion) and duration
    tables per corpus and per emotion, as ``stats.md`` plus PNGs in ``out_dir``."""
    out = Path(out_dir)
    written = []
    corpora = sorted(manifest["corpus"].unique())
    fig, axes = plt.subplots(len(corpora), 2, figsize=(11, 3.6 * len(corpora)), squeeze=False)
    for row, corpus in enumerate(corpora):
        part = manifest[manifest["corpus"] == corpus]
        ax = axes[row, 0]
        ax.hist(part["duration_s"], bins=40, color="tab:blue", edgecolor="white")
        ax.set(title=f"{corpus}: clips by duration", xlabel="duration, s", ylabel="clips")
        ax = axes[row, 1]
        labels = (*EMOTIONS, *(e for e in label_order(part["emotion"]) if e not in EMOTIONS))
        counts = part["emotion"].value_counts().reindex(labels, fill_value=0)
        ax.bar(range(len(labels)), counts.values, color="tab:orange")
        ax.set_xticks(range(len(labels)), [f"{i + 1}\n{e}" for i, e in enumerate(labels)],
                      fontsize=8)
        ax.set(title=f"{corpus}: clips by emotion", ylabel="clips")
    fig.tight_layout()
    written.append(save_figure(fig, out / "dataset_stats.png"))

    by_corpus = duration_table(manifest, by="corpus")
    tables = [f"# Dataset statistics\n\nProduced by `{command}`.\n",
              f"Clips: {len(manifest)}; speakers: {manifest['speaker'].nunique()}.\n",
              "## Duration (s) per corpus\n", _markdown(by_corpus), ""]
    for corpus in corpora:
        part = manifest[manifest["corpus"] == corpus]
        per_emotion = duration_table(part, by="emotion").reindex(label_order(part["emotion"]))
        per_emotion.index.name = "emotion"
        tables += [f"## Duration (s) per emotion: {corpus}\n", _markdown(per_emotion), ""]
        fig, ax = plt.subplots(figsize=(8, 3.2))
        ax.axis("off")
        shown = per_emotion.round(3)
        ax.table(cellText=shown.values, rowLabels=shown.index, colLabels=shown.columns,
                 loc="center")
        ax.set_title(f"{corpus}: duration (s) per emotion")
        written.append(save_figure(fig, out / f"duration_table_{corpus}.png"))
    tables += ["Figures: `dataset_stats.png` (the seed's two figures for each corpus), "
               + ", ".join(f"`duration_table_{c}.png`" for c in corpora) + ".\n"]
    written.append(write_text(out / "stats.md", "\n".join(tables)))
    return written


# --------------------------------------------------------------------------- cross-validation
# Human listeners' per-emotion recognition rates (%), audio-only speech, 7 response options
# (neutral and calm merged): Livingstone & Russo 2018, PLoS ONE 13(5) e0196391, table S1
# (see ../shared/reference/published-results.md). Other label sets' classes have none ("-").
HUMAN_RECALL = {"neutral": 81.7, "calm": 81.7, "happy": 36.6, "sad": 47.9, "angry": 74.6,
                "fearful": 66.2, "disgust": 51.9, "surprised": 67.9}
HUMAN_MEAN = 62.4


def plot_confusion(confusion, *, classes, title: str, path) -> Path:
    """Row-normalised confusion matrix (rows: true class) as a PNG."""
    import numpy as np

    cm = np.asarray(confusion, dtype=float)
    cm = cm / np.maximum(cm.sum(axis=1, keepdims=True), 1)
    fig, ax = plt.subplots(figsize=(6.4, 5.4))
    im = ax.imshow(cm, cmap="Blues", vmin=0, vmax=1)
    for i in range(cm.shape[0]):
        for j in range(cm.shape[1]):
            ax.text(j, i, f"{cm[i, j]:.2f}", ha="center", va="center", fontsize=7,
                    color="white" if cm[i, j] > 0.5 else "black")
    ax.set_xticks(range(len(classes)), classes, rotation=45, ha="right")
    ax.set_yticks(range(len(classes)), classes)
    ax.set(xlabel="predicted", ylabel="true", title=title)
    fig.colorbar(im, ax=ax, fraction=0.046)
    return save_figure(fig, path)


def plot_reliability(curves: dict, *, title: str, path) -> Path:
    """Reliability diagram: accuracy against mean confidence per bin, one line per curve.

    Parameters
    ----------
    curves : dict of label -> :class:`ser_classic.evaluation.ReliabilityCurve`
        Drawn in order; the label is shown with the curve's ECE.
    title : str
    path : path of the PNG
    """
    import numpy as np

    fig, (ax, hist) = plt.subplots(2, 1, figsize=(5.4, 6.4), sharex=True,
                                   gridspec_kw={"height_ratios": (3, 1)})
    ax.plot([0, 1], [0, 1], ls=":", color="grey", lw=1, label="perfect calibration")
    for k, (label, curve) in enumerate(curves.items()):
        seen = curve.counts > 0
        ax.plot(curve.confidence[seen], curve.accuracy[seen], marker="o", ms=4,
                label=f"{label} (ECE {curve.ece:.3f})")
        centres = (curve.edges[:-1] + curve.edges[1:]) / 2
        width = np.diff(curve.edges) / (len(curves) + 1)
        hist.bar(centres + (k - (len(curves) - 1) / 2) * width, curve.counts / curve.counts.sum(),
                 width=width)
    ax.set(xlim=(0, 1), ylim=(0, 1), ylabel="accuracy", title=title)
    ax.legend(fontsize=7, loc="upper left")
    hist.set(xlabel="confidence (top-1 probability)", ylabel="share of clips")
    return save_figure(fig, path)


def plot_recall_vs_human(recalls: dict, *, classes, title: str, path) -> Path:
    """Per-class recall of one or more models next to the human listeners' rates.

    ``recalls`` maps a label to ``{class: recall in 0..1}``.
    """
    import numpy as np

    series = {**{k: [100 * v[c] for c in classes] for k, v in recalls.items()},
              "human listeners": [HUMAN_RECALL.get(c, np.nan) for c in classes]}
    x = np.arange(len(classes))
    width = 0.8 / len(series)
    fig, ax = plt.subplots(figsize=(9, 3.8))
    for j, (label, vals) in enumerate(series.items()):
        ax.bar(x + (j - (len(series) - 1) / 2) * width, vals, width, label=label,
               color="0.6" if label == "human listeners" else None)
    ax.set_xticks(x, classes)
    ax.set(ylabel="recall, %", ylim=(0, 100), title=title)
    ax.legend(fontsize=8, ncol=len(series))
    return save_figure(fig, path)


def plot_fold_boxes(fold_scores: dict, *, metric: str, title: str, path) -> Path:
    """Box plot of per-fold scores; ``fold_scores`` maps a label to a list of scores."""
    fig, ax = plt.subplots(figsize=(max(6, 0.9 * len(fold_scores)), 4))
    labels = list(fold_scores)
    ax.boxplot([fold_scores[k] for k in labels], showmeans=True)
    ax.set_xticks(range(1, len(labels) + 1), labels, rotation=30, ha="right", fontsize=8)
    ax.set(ylabel=metric, title=title, ylim=(0, 1))
    ax.grid(axis="y", alpha=0.3)
    return save_figure(fig, path)


def plot_model_comparison(rows: list[dict], *, title: str, path,
                          reference: dict | None = None) -> Path:
    """UAR with 95 % CI per model; ``rows`` hold ``label``, ``uar``, ``uar_ci95``, ``group``.

    ``reference`` maps a label to a horizontal line (e.g. published figures).
    """
    import numpy as np

    groups = list(dict.fromkeys(r["group"] for r in rows))
    fig, ax = plt.subplots(figsize=(max(6, 0.55 * len(rows) + 2), 4.2))
    x = np.arange(len(rows))
    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for g_idx, group in enumerate(groups):
        idx = [i for i, r in enumerate(rows) if r["group"] == group]
        uar = np.array([rows[i]["uar"] for i in idx])
        lo = uar - np.array([rows[i]["uar_ci95"][0] for i in idx])
        hi = np.array([rows[i]["uar_ci95"][1] for i in idx]) - uar
        ax.errorbar(x[idx], uar, yerr=[lo, hi], fmt="o", capsize=3, label=group,
                    color=colors[g_idx % len(colors)])
    for label, value in (reference or {}).items():
        ax.axhline(value, ls="--", lw=0.8, color="0.4")
        ax.text(len(rows) - 0.5, value, label, fontsize=7, va="bottom", ha="right")
    ax.set_xticks(x, [r["label"] for r in rows], rotation=40, ha="right", fontsize=8)
    ax.set(ylabel="UAR (95 % CI over speakers)", title=title)
    ax.legend(fontsize=8)
    ax.grid(axis="y", alpha=0.3)
    return save_figure(fig, path)


def _fmt_ci(ci) -> str:
    return f"{ci[0]:.3f}-{ci[1]:.3f}"


#: How a report describes each normalisation beside its name.
_NORMALIZATION_LABEL = {"strict": "features as extracted",
                        "speaker_norm": "z-scored per speaker",
                        "neutral_ref": "centred on each speaker's neutral clips"}


def _in_current_words(summary: dict) -> dict:
    """A CV summary written before issue 18 (``protocol``, ``speaker_normalized``,
    ``speaker_normalized_run``, ``protocol_label``) in today's keys (``split``,
    ``normalization``, ``speaker_norm_run``); a current summary unchanged."""
    if "split" in summary:
        return summary

    def norm(flag) -> str:
        return "speaker_norm" if flag else "strict"

    out = {k: v for k, v in summary.items()
           if k not in ("protocol", "speaker_normalized", "speaker_normalized_run")}
    out["split"] = summary.get("protocol", "loso")
    out["normalization"] = norm(summary.get("speaker_normalized"))
    nested = summary.get("speaker_normalized_run")
    if nested:
        run = {k: v for k, v in nested.items() if k not in ("protocol", "speaker_normalized")}
        run["split"] = nested.get("protocol", out["split"])
        run["normalization"] = norm(nested.get("speaker_normalized", True))
        out[f"{run['normalization']}_run"] = run

    def rows(items):
        return [{**{k: v for k, v in r.items()
                    if k not in ("protocol_label", "speaker_normalized")},
                 "normalization": r.get("normalization",
                                        norm(r.get("protocol_label", "strict") != "strict"))}
                for r in items]

    if out.get("feature_sets"):
        out["feature_sets"] = rows(out["feature_sets"])
    if out.get("augmentation"):
        out["augmentation"] = {**out["augmentation"],
                               "rows": rows(out["augmentation"].get("rows", []))}
    return out


def cv_report(summary: dict, *, out_dir, command: str) -> list[Path]:
    """``report.md`` and the plots of ``ser-classic evaluate`` from its ``summary.json``.

    ``summary`` is the main run (schema of issue 3, its ``normalization`` usually
    ``strict``) with the run of each other normalisation under ``"<normalization>_run"``
    (``speaker_norm_run``) and optional ``"feature_sets"`` / ``"augmentation"``.
    """
    import numpy as np

    summary = _in_current_words(summary)
    out = Path(out_dir)
    written = []
    runs = [(summary["normalization"], summary)]
    runs += [(norm, summary[f"{norm}_run"]) for norm in _NORMALIZATION_LABEL
             if summary.get(f"{norm}_run")]
    classes = summary["classes"]
    lines = [f"# Speaker-independent evaluation ({summary['split']})", "",
             f"Produced by `{command}`.", "",
             f"{summary['n_clips']} clips, {summary['n_speakers']} speakers, "
             f"{summary['n_folds']} outer folds (split `{summary['split']}`: "
             + ("leave one speaker out" if summary["split"] == "loso" else
                "folds of consecutive actors")
             + f"); features `{summary['feature_config_hash']}`"
             + f" ({summary.get('n_features', '?')} dims)"
             + f"; hyper-parameters chosen by {summary.get('n_inner', '?')}-fold grouped "
               "inner CV on the training speakers of each fold; 95 % CIs by bootstrap over "
               "speakers. Normalisation `strict` is the headline; `speaker_norm` "
               "standardises each speaker's features with that speaker's own clips "
               "(unlabelled); `neutral_ref` centres them on the mean of the speaker's "
               "neutral clips.", ""]
    if summary.get("augment", "none") != "none":
        fitting = [f"{summary.get('normalization', 'strict')}: "
                   + ", ".join(summary.get("augmented_models", []))]
        fitting += [f"{key[:-4]}: {', '.join(run.get('augmented_models', []))}"
                    for key, run in summary.items()
                    if key.endswith("_run") and isinstance(run, dict)]
        lines += [f"Training rows of every outer fold: the clips plus "
                  f"{summary.get('n_augmented_rows_per_fold', 0)} augmented copies "
                  f"(`{summary['augment']}`, each copy keeps its speaker) for the models "
                  f"registered as augmented under each normalisation ({'; '.join(fitting)}"
                  "); the other models see the original clips only.", ""]
    described = {n: m["description"] for n, m in summary["models"].items()
                 if m.get("description")}
    if described:
        lines += ["Models (each tuned by the inner CV; a soft vote's members are tuned and "
                  "fitted on their own, then their probabilities averaged):", ""]
        lines += [f"- `{name}`: {text}" for name, text in described.items()] + [""]
    if "seconds_total" in summary:
        model_s = sum(run.get("seconds", 0.0) for _, run in runs)
        lines += [f"Wall-clock time of the whole command: {summary['seconds_total'] / 60:.1f}"
                  f" min, of which our features' models (every outer fold, "
                  f"{'both normalisations' if len(runs) == 2 else 'one normalisation'}): "
                  f"{model_s / 60:.1f} min (cached features).", ""]
    for norm, run in runs:
        label = _NORMALIZATION_LABEL.get(norm, norm)
        lines += [f"## Normalisation: {norm} ({label})", "",
                  "| model | accuracy | 95 % CI | UAR | 95 % CI | macro-F1 | "
                  "fold UAR mean (sd) | time, s |", "|---|---|---|---|---|---|---|---|"]
        ranked = sorted(run["models"].items(), key=lambda kv: -kv[1]["accuracy"])
        for name, m in ranked:
            fu = np.asarray(m["fold_uar"])
            mark = " **(selected)**" if name == run["selected"] else ""
            lines.append(f"| {name}{mark} | {m['accuracy']:.3f} | "
                         f"{_fmt_ci(m['accuracy_ci95'])} | {m['uar']:.3f} | "
                         f"{_fmt_ci(m['uar_ci95'])} | {m['macro_f1']:.3f} | "
                         f"{fu.mean():.3f} ({fu.std():.3f}) | {m['seconds']:.0f} |")
        lines.append("")
        if run.get("comparison"):
            lines += [f"Selection (highest accuracy): **{run['selected']}**. "
                      + run["comparison"]["sentence"], ""]
        sel = run["models"][run["selected"]]
        lines += [f"Per-class recall of {run['selected']} vs human listeners "
                  f"(audio-only, mean {HUMAN_MEAN} %, calm merged with neutral):", "",
                  "| | " + " | ".join(classes) + " |", "|---|" + "---|" * len(classes),
                  f"| {run['selected']} | " + " | ".join(
                      f"{100 * sel['per_class_recall'][c]:.1f}" for c in classes) + " |",
                  "| human | " + " | ".join(f"{HUMAN_RECALL[c]:.1f}" if c in HUMAN_RECALL
                                            else "-" for c in classes)
                  + " |", ""]
        written.append(plot_confusion(sel["confusion"], classes=classes,
                                      title=f"{run['selected']}, {norm}, "
                                            f"{run['split']}",
                                      path=out / f"confusion_{norm}.png"))
        lines += [f"![confusion](confusion_{norm}.png)", ""]
    recalls = {f"{run['selected']} ({norm})": run["models"][run["selected"]]
               ["per_class_recall"] for norm, run in runs}
    written.append(plot_recall_vs_human(recalls, classes=classes,
                                        title="per-class recall vs human listeners",
                                        path=out / "recall_vs_human.png"))
    folds = {f"{n} ({norm})": m["fold_uar"]
             for norm, run in runs for n, m in run["models"].items()}
    written.append(plot_fold_boxes(folds, metric="fold UAR", title="per-fold UAR",
                                   path=out / "fold_uar_box.png"))
    rows = [{"label": n, "uar": m["uar"], "uar_ci95": m["uar_ci95"], "group": norm}
            for norm, run in runs for n, m in run["models"].items()]
    for fs in summary.get("feature_sets", []):
        if fs["feature_set"] == "librosa":  # already shown as the models above
            continue
        rows.append({"label": f"{fs['feature_set']}+{fs['model']}", "uar": fs["uar"],
                     "uar_ci95": fs["uar_ci95"],
                     "group": f"feature sets ({fs['normalization']})"})
    written.append(plot_model_comparison(
        rows, title="models and feature sets, UAR with 95 % CI", path=out /
        "model_comparison.png",
        reference={"ComParE+LR published 0.636": 0.636, "human 0.624": HUMAN_MEAN / 100}))
    lines += ["## Figures", "", "![recall vs human](recall_vs_human.png)", "",
              "![per-fold UAR](fold_uar_box.png)", "", "![comparison](model_comparison.png)",
              ""]
    if summary.get("feature_sets"):
        lines += ["## Feature sets on the same folds", "",
                  "Each feature set with each of its evaluated classifiers; the best per "
                  "set and normalisation is marked.", "",
                  "| feature set | dims | normalization | model | accuracy | UAR | 95 % CI | "
                  "macro-F1 |", "|---|---|---|---|---|---|---|---|"]
        for fs in summary["feature_sets"]:
            mark = " **(best)**" if fs.get("best") else ""
            lines.append(f"| {fs['feature_set']} | {fs['n_features']} | "
                         f"{fs['normalization']} | {fs['model']}{mark} | "
                         f"{fs['accuracy']:.3f} | {fs['uar']:.3f} | "
                         f"{_fmt_ci(fs['uar_ci95'])} | {fs['macro_f1']:.3f} |")
        lines.append("")
    if summary.get("augmentation"):
        aug = summary["augmentation"]
        lines += ["## Augmentation ablation (same folds)", "", aug.get("note", ""), "",
                  "| variant | normalization | model | accuracy | UAR | 95 % CI |",
                  "|---|---|---|---|---|---|"]
        for r in aug["rows"]:
            lines.append(f"| {r['variant']} | {r['normalization']} | {r['model']} | "
                         f"{r['accuracy']:.3f} | {r['uar']:.3f} | {_fmt_ci(r['uar_ci95'])} |")
        lines.append("")
    elif (out.parent / "cv_augment" / "report.md").is_file():
        lines += ["## Augmentation ablation", "",
                  "Its own run (`make evaluate` runs it after this one; the same outer "
                  "folds for every variant): see "
                  "[../cv_augment/report.md](../cv_augment/report.md).", ""]
    if not summary.get("complete", True):
        lines += ["**Partial results**: the run was still in progress when this report was "
                  "written.", ""]
    lines += ["Out-of-fold predictions with probabilities: `oof_<normalization>_<model>.csv` "
              "(path, speaker, fold, true, predicted, p_*).", ""]
    written.append(write_text(out / "report.md", "\n".join(lines)))
    return written

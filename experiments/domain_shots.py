"""Labelled clips of a new corpus against the cross-corpus gap -> reports/domain_shots/.

Measurement only: nothing is chosen or shipped. A user who meets a new corpus (a
generator's voices, another language or recording chain) can often label a few of its
clips. For every corpus held out in turn, its speakers are split into test groups
(RAVDESS: 6 groups of 4 consecutive actors; TESS and EMOVO: one speaker each), and for
each group the fixed ridge of `floor_ablation` (standardised features, alpha 3000,
balanced classes) is trained on:

- `no clip of the corpus`: the other two corpora only (leave-one-corpus-out);
- `n per class`: the same plus n labelled clips of every class (1, 2, 5, 10, 20) of the
  held-out corpus's *other* speakers, drawn at seeds 0 and 1 (nested: the 5 contain the 2);
- `every other speaker`: the same plus every clip of those other speakers (speaker-grouped
  CV over the three corpora pooled);
- `the corpus alone`: those other speakers only (speaker-grouped CV within the corpus).

Added clips enter as plain rows (`plain`) or with every corpus carrying the same total
weight, classes balanced within (`corpus-balanced`); both fixed before the run. Scored on
the group's clips: UAR per held-out corpus over its pooled test groups (calm excluded,
closed set), strict and speaker-normalised (each speaker's statistics from its own clips,
unlabelled). The draws' UARs are averaged; their range is in `summary.json`.

    .venv/bin/python experiments/domain_shots.py [--jobs 2] [--out reports/domain_shots]
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from floor_ablation import (
    CORPORA,
    _models,
    ablation_parser,
    class_balanced,
    group6,
    report_head,
    report_on_known_emotions,
    uar,
)
from loco_variants import group_balanced

from ser_classic._parallel import run_jobs
from ser_classic.evaluation import speaker_normalize
from ser_classic.reporting import save_figure

SHOTS = (1, 2, 5, 10, 20)
DRAWS = (0, 1)
WEIGHTINGS = ("plain", "corpus-balanced")
TITLE = "Labelled clips of a new corpus: how many close the cross-corpus gap"


def test_groups(speaker: np.ndarray, corpus: np.ndarray, held: str) -> list[np.ndarray]:
    """The speakers of each test group of ``held``: RAVDESS in groups of 4 consecutive
    actors, the other corpora one speaker each."""
    names = np.unique(speaker[corpus == held])
    if held != "ravdess":
        return [names[i:i + 1] for i in range(names.size)]
    group = group6(names)
    return [names[group == g] for g in np.unique(group)]


def group_rows(speaker, corpus, held: str, group: np.ndarray) -> tuple:
    """``(test, pool, others)``: the rows of ``held`` spoken by ``group``, the other rows
    of ``held`` (where labelled clips come from) and the rows of the other corpora."""
    in_held, in_group = corpus == held, np.isin(speaker, group)
    return (np.flatnonzero(in_held & in_group), np.flatnonzero(in_held & ~in_group),
            np.flatnonzero(~in_held))


def class_orders(pool: np.ndarray, y: np.ndarray, *, seed: int, draw: int) -> list:
    """One random order of ``pool``'s rows per class (draw ``draw`` of ``seed``); their
    first ``n`` rows are the ``n``-shot draw, so a larger draw contains the smaller."""
    rng = np.random.default_rng([seed, draw])
    return [rng.permutation(pool[y[pool] == label]) for label in np.unique(y[pool])]


def fit_predict(X, y, corpus, train: np.ndarray, test: np.ndarray, weighting: str):
    """The fixed ridge trained on ``train`` rows with ``weighting``, predicting ``test``."""
    model = _models(balanced=weighting == "plain")["ridge"]()
    extra = ({} if weighting == "plain" else
             {f"{model.steps[-1][0]}__sample_weight":
              class_balanced(group_balanced(corpus[train]), y[train])})
    return model.fit(X[train], y[train], **extra).predict(X[test])


def group_predictions(X, y, speaker, corpus, held: str, group: np.ndarray,
                      seed: int) -> dict:
    """Predictions of every training set for one test group: ``{variant: labels}``."""
    test, pool, others = group_rows(speaker, corpus, held, group)
    out = {"no clip of the corpus": fit_predict(X, y, corpus, others, test, "plain"),
           "the corpus alone": fit_predict(X, y, corpus, pool, test, "plain")}
    for weighting in WEIGHTINGS:
        out[f"every other speaker|{weighting}"] = fit_predict(
            X, y, corpus, np.concatenate([others, pool]), test, weighting)
        for draw in DRAWS:
            orders = class_orders(pool, y, seed=seed, draw=draw)
            for n in SHOTS:
                shots = np.concatenate([o[:n] for o in orders])
                out[f"{n} per class|{weighting}|{draw}"] = fit_predict(
                    X, y, corpus, np.concatenate([others, shots]), test, weighting)
    return {"test": test, "predictions": out}


def variant_names() -> list[str]:
    """The table's rows, in order (a row per weighting where the weighting matters)."""
    names = ["no clip of the corpus"]
    for weighting in WEIGHTINGS:
        names += [f"{n} per class|{weighting}" for n in SHOTS]
        names.append(f"every other speaker|{weighting}")
    return [*names, "the corpus alone"]


def run(X, y, speaker, corpus, *, jobs: int, seed: int = 0) -> dict:
    """UAR per normalisation, held-out corpus and variant (draws averaged, with their
    range)."""
    import joblib

    normalised = {"strict": X, "speaker_norm": speaker_normalize(X, speaker)}
    tasks = [(norm, held, group) for norm in normalised for held in CORPORA
             for group in test_groups(speaker, corpus, held)]
    results = list(run_jobs((joblib.delayed(group_predictions)(
        normalised[norm], y, speaker, corpus, held, group, seed) for norm, held, group in tasks),
        n_jobs=jobs))
    out = {}
    for norm in normalised:
        per_corpus = {}
        for held in CORPORA:
            parts = [r for (n, h, _), r in zip(tasks, results, strict=True)
                     if (n, h) == (norm, held)]
            test = np.concatenate([p["test"] for p in parts])
            scores = {}
            for key in parts[0]["predictions"]:
                scores[key] = uar(y[test], np.concatenate([p["predictions"][key]
                                                           for p in parts]))
            per_corpus[held] = {}
            for name in variant_names():
                draws = ([scores[name]] if name in scores else
                         [scores[f"{name}|{draw}"] for draw in DRAWS])
                per_corpus[held][name] = {"uar": round(float(np.mean(draws)), 4),
                                          "range": [round(min(draws), 4),
                                                    round(max(draws), 4)]}
        out[norm] = {
            "corpora": per_corpus,
            "mean": {name: round(float(np.mean([per_corpus[c][name]["uar"] for c in CORPORA])),
                                 4) for name in variant_names()}}
    return out


def plot(results: dict, path: Path) -> None:
    """UAR against labelled clips per class, per normalisation: corpus-balanced (solid)
    and plain (dotted); dashed, every other speaker (corpus-balanced)."""
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(12, 4), sharey=True)
    x = [0, *SHOTS]
    for ax, (norm, r) in zip(axes, results.items(), strict=True):
        curves = {**{c: r["corpora"][c] for c in CORPORA},
                  "mean": {k: {"uar": v} for k, v in r["mean"].items()}}
        for i, (name, cells) in enumerate(curves.items()):
            for weighting, style in (("corpus-balanced", "-"), ("plain", ":")):
                ys = [cells["no clip of the corpus"]["uar"],
                      *(cells[f"{n} per class|{weighting}"]["uar"] for n in SHOTS)]
                ax.plot(x, ys, style, marker="o" if style == "-" else None, color=f"C{i}",
                        lw=2.5 if name == "mean" else 1.2,
                        label=name if style == "-" else None)
            ax.axhline(cells["every other speaker|corpus-balanced"]["uar"], ls="--", lw=0.8,
                       color=f"C{i}")
        ax.set_xscale("symlog", linthresh=1)
        ax.set_xticks(x, [str(v) for v in x])
        ax.set_xlabel("labelled clips per class of the held-out corpus")
        ax.set_title(norm)
        ax.grid(alpha=0.3)
    axes[0].set_ylabel("UAR on the corpus's held-out speakers")
    axes[1].legend(title="held-out corpus\n(solid: corpus-balanced, dotted: plain,\n"
                   "dashed: every other speaker)", fontsize=8, loc="upper left",
                   bbox_to_anchor=(1.02, 1))
    fig.tight_layout()
    save_figure(fig, path)
    plt.close(fig)


def render(summary: dict) -> str:
    lines = report_head(TITLE, summary, __doc__)
    for norm, r in summary["results"].items():
        lines += [f"## {norm}", "", "| training set | weighting | "
                  + " | ".join(c.upper() if c != "ravdess" else "RAVDESS" for c in CORPORA)
                  + " | mean |", "|---|---|" + "---|" * (len(CORPORA) + 1)]
        for name in variant_names():
            label, _, weighting = name.partition("|")
            cells = [f"{r['corpora'][c][name]['uar']:.3f}" for c in CORPORA]
            lines.append(f"| {label} | {weighting or '-'} | " + " | ".join(cells)
                         + f" | {r['mean'][name]:.3f} |")
        lines.append("")
    strict, norm = summary["results"]["strict"]["mean"], summary["results"]["speaker_norm"][
        "mean"]
    lines += ["![UAR against labelled clips](shots.png)", "",
              "Issue 19's leave-one-corpus-out targets (mean UAR 0.50 strict, 0.62 "
              "speaker-normalised) against the rows above: no clip of the corpus "
              f"{strict['no clip of the corpus']:.3f} / "
              f"{norm['no clip of the corpus']:.3f}; 20 labelled clips per class "
              f"{strict['20 per class|plain']:.3f} / {norm['20 per class|plain']:.3f} "
              f"(plain), {strict['20 per class|corpus-balanced']:.3f} / "
              f"{norm['20 per class|corpus-balanced']:.3f} (corpus-balanced); every other "
              f"speaker {strict['every other speaker|plain']:.3f} / "
              f"{norm['every other speaker|plain']:.3f}. TESS has two speakers, so its "
              "`the corpus alone` rows train on one voice.", ""]
    return "\n".join(lines)


def main(argv=None) -> int:
    args = ablation_parser(__doc__, out="reports/domain_shots").parse_args(argv)

    def measure(X, y, speaker, corpus):
        results = run(X, y, speaker, corpus, jobs=args.jobs, seed=args.seed)
        plot(results, Path(args.out) / "shots.png")
        return results

    return report_on_known_emotions(args, "domain_shots", argv, measure, render,
                                    model="floor_ablation ridge (alpha 3000)",
                                    shots=list(SHOTS), draws=list(DRAWS))


if __name__ == "__main__":
    sys.exit(main())

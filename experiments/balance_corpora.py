"""The shipped teacher recipe given labelled clips of a new corpus, with and without
``balance_corpora`` -> reports/balance_corpora/.

Measurement only: nothing is chosen or shipped. `domain_shots` measured, with a fixed
ridge, how labelled clips of a held-out corpus's other speakers close the cross-corpus
gap when every corpus weighs the same; this runs the same protocol through the library:
`ser_classic.train` with each shipped teacher's recipe (its card's model and
normalisation; calm left out; uncalibrated, as the teachers ship) for every corpus held
out in turn, with its VTLP copies (`vtlp`, or `vtlp_eq` since 12-06) but not its
`conditions` copies (their babble is made of the training set's other voices, so every
training set would extract its own), and the
parameters the held-out-corpus A/B of that normalisation (`reports/ab/corpus`,
`reports/ab/corpus_speaker_norm`) chose in that corpus's fold by inner CV on the other two
corpora only (the shipped teachers' own were tuned with every corpus), trained on

- `no clip of the corpus`: the other two corpora;
- `20 per class`: the same plus 20 labelled clips of every class of the held-out corpus's
  other speakers (`domain_shots`' draw 0), plain;
- `20 per class, balance_corpora`: the same with `balance_corpora=True`;
- `20 per class, balance_corpora, temperature`: the same with
  `calibration="temperature"` (one temperature fitted on the speaker-grouped out-of-fold
  predictions of the balanced training set, the shots' speakers included),

and scored on the test group's clips (RAVDESS: 6 groups of 4 consecutive actors; TESS
and EMOVO: each speaker; a speaker-normalised model reads each test speaker's statistics
from that speaker's clips, unlabelled). UAR and ECE (15 bins) per held-out corpus over its
pooled test groups, closed set.

    .venv/bin/python experiments/balance_corpora.py [--jobs 2] [--reports reports]
        [--out reports/balance_corpora]
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from domain_shots import class_orders, group_rows, test_groups
from floor_ablation import (
    CORPORA,
    ablation_parser,
    report_head,
    report_on_known_emotions,
    uar_ece,
)

import ser_classic
from ser_classic._parallel import run_jobs
from ser_classic.evaluation import speaker_normalize

SHOTS = 20
TEACHERS = {"strict": "teacher", "speaker_norm": "teacher-speaker_norm"}
AB_REPORTS = {"strict": "ab/corpus", "speaker_norm": "ab/corpus_speaker_norm"}
#: training set -> its (balance_corpora, calibration); the first has no clip of the corpus
SETTINGS = {"no clip of the corpus": (False, "none"), "20 per class": (False, "none"),
            "20 per class, balance_corpora": (True, "none"),
            "20 per class, balance_corpora, temperature": (True, "temperature")}
VARIANTS = tuple(SETTINGS)
TITLE = "Labelled clips of a new corpus through `ser_classic.train`: `balance_corpora`"


def recipe(alias: str) -> dict:
    """``ser_classic.train`` keywords of the shipped teacher ``alias``'s recipe, less its
    parameters (:func:`fold_params`)."""
    card = ser_classic.load(alias).card
    augment = card["training"]["augment"]
    return {"model": card["name"], "normalization": card["normalization"],
            "augment": vtlp_member(augment.get("union") or [augment["variant"]]),
            "copies": augment["copies"], "typicality": False}


def vtlp_member(members) -> str:
    """The VTLP member of the teachers' augmentation (``vtlp`` or ``vtlp_eq``): its
    copies without the conditions copies, whose babble is the training set's own."""
    vtlp = [m for m in members if m.startswith("vtlp")]
    if len(vtlp) != 1:
        raise SystemExit(f"the teachers' augmentation {members} has no single VTLP member")
    return vtlp[0]


def fold_params(reports: Path, normalization: str) -> dict:
    """``{held-out corpus: teacher parameters}`` that the held-out-corpus A/B of
    ``normalization`` chose in each fold on that fold's training corpora only."""
    summary = json.loads((reports / AB_REPORTS[normalization] / "summary.json").read_text())
    return {held: fold["teacher_params"] for held, fold in summary["folds"].items()}


def proba(rows, X, y, speaker, train_rows: np.ndarray, test: np.ndarray, *, kwargs: dict,
          balance: bool, calibration: str, cache: str) -> np.ndarray:
    """Probabilities (columns: sorted classes of ``y``) of a model trained by
    ``ser_classic.train`` on ``train_rows`` for the ``test`` rows."""
    trained = ser_classic.train(rows.iloc[train_rows], corpora=sorted(set(rows["corpus"].iloc[
        train_rows])), balance_corpora=balance, calibration=calibration, cache_dir=cache,
        **kwargs)
    Xt = (X[test] if kwargs["normalization"] == "strict"
          else speaker_normalize(X[test], speaker[test]))
    p = trained.estimator.predict_proba(Xt)
    out = np.zeros((test.size, np.unique(y).size))
    out[:, np.searchsorted(np.unique(y), trained.classes)] = p
    return out


def run(X, y, speaker, corpus, *, rows, normalizations, reports: Path, cache: str,
        jobs: int, seed: int = 0) -> dict:
    """UAR and ECE per normalisation, held-out corpus and variant."""
    import joblib

    tasks = []  # (normalisation, held, variant, test rows, training rows)
    for norm in normalizations:
        for held in CORPORA:
            others = np.flatnonzero(corpus != held)
            tasks.append((norm, held, VARIANTS[0], np.flatnonzero(corpus == held), others))
            for group in test_groups(speaker, corpus, held):
                test, pool, _ = group_rows(speaker, corpus, held, group)
                orders = class_orders(pool, y, seed=seed, draw=0)
                shots = np.concatenate([others, *(o[:SHOTS] for o in orders)])
                tasks += [(norm, held, variant, test, shots) for variant in VARIANTS[1:]]
    kwargs = {norm: recipe(TEACHERS[norm]) for norm in normalizations}
    params = {norm: fold_params(reports, norm) for norm in normalizations}
    results = list(run_jobs((joblib.delayed(proba)(
        rows, X, y, speaker, train, test, kwargs={**kwargs[norm], "params": params[norm][held]},
        balance=SETTINGS[variant][0], calibration=SETTINGS[variant][1], cache=cache)
        for norm, held, variant, test, train in tasks), n_jobs=jobs))
    classes, out = np.unique(y), {}
    for norm in normalizations:
        out[norm] = {"recipe": {k: v for k, v in kwargs[norm].items() if k != "typicality"},
                     "params": params[norm]}
        for held in CORPORA:
            out[norm][held] = {}
            for variant in VARIANTS:
                parts = [(t[3], p) for t, p in zip(tasks, results, strict=True)
                         if t[:3] == (norm, held, variant)]
                test = np.concatenate([t for t, _ in parts])
                out[norm][held][variant] = uar_ece(y[test], classes,
                                                   np.vstack([p for _, p in parts]))
        out[norm]["mean"] = {v: {m: round(float(np.mean([out[norm][c][v][m] for c in CORPORA])),
                                          4) for m in ("uar", "ece")} for v in VARIANTS}
    return out


def render(summary: dict) -> str:
    lines = report_head(TITLE, summary, __doc__)
    for norm, r in summary["results"].items():
        lines += [f"## {norm}", "", f"Recipe: `{r['recipe']}`; parameters per held-out "
                  f"corpus: `{r['params']}`.", "",
                  "| training set | " + " | ".join(
                      "RAVDESS" if c == "ravdess" else c.upper() for c in CORPORA)
                  + " | mean |", "|---|" + "---|" * (len(CORPORA) + 1)]
        for variant in VARIANTS:
            cells = [f"{r[c][variant]['uar']:.3f} / {r[c][variant]['ece']:.3f}"
                     for c in (*CORPORA, "mean")]
            lines.append(f"| {variant} | " + " | ".join(cells) + " |")
        lines += ["", "Cells: UAR / ECE.", ""]
    for variant, against, what in (
            (VARIANTS[2], VARIANTS[1], "`balance_corpora` against the same 20 clips per "
             "class unbalanced"),
            (VARIANTS[3], VARIANTS[2], "The temperature against `balance_corpora` "
             "uncalibrated")):
        change = {norm: {m: r["mean"][variant][m] - r["mean"][against][m]
                         for m in ("uar", "ece")} for norm, r in summary["results"].items()}
        lines += [f"{what}, mean over the held-out corpora: " + "; ".join(
            f"{norm} UAR {c['uar']:+.3f}, ECE {c['ece']:+.3f}"
            for norm, c in change.items()) + ".", ""]
    return "\n".join(lines)


def main(argv=None) -> int:
    p = ablation_parser(__doc__, out="reports/balance_corpora")
    p.add_argument("--normalizations", default="strict,speaker_norm")
    p.add_argument("--reports", default="reports",
                   help="where the held-out-corpus A/B reports are (their fold parameters)")
    args = p.parse_args(argv)

    def measure(X, y, speaker, corpus, *, rows):
        return run(X, y, speaker, corpus, rows=rows,
                   normalizations=args.normalizations.split(","),
                   reports=Path(args.reports), cache=args.cache, jobs=args.jobs,
                   seed=args.seed)

    return report_on_known_emotions(args, "balance_corpora", argv, measure, render,
                                    with_rows=True, shots_per_class=SHOTS)


if __name__ == "__main__":
    sys.exit(main())

"""What an unseen corpus gains from more training corpora or speakers -> reports/training_corpora/.

Measurement only: nothing is chosen or shipped. The shipped models are trained on three
corpora and will score voices, languages and recording chains none of them has. With
RAVDESS, TESS and EMOVO, each corpus held out in turn is scored by the fixed logistic
regression of `floor_ablation` (C 0.003, standardised, balanced; calm left out first, as
`--exclude-emotions calm`) trained on:
- `<corpus> alone`: each other corpus by itself, every speaker;
- `both corpora`: the other two, every speaker (leave-one-corpus-out);
- `<A> with <B> in place of some speakers`: as many speakers as the corpus with more of
  them (A) has alone, but that many of A's drawn at random replaced by every speaker of
  B: one corpus against two at the same speaker count;
- `both corpora, half the speakers of each`: half of each corpus's speakers drawn at
  random (at least one): the speaker count halved, the corpora kept.
Drawn rows: the mean over seeds 0, 1 and 2 (`np.random.default_rng([seed, i])`), their
range in `summary.json`. Each row gives the training corpora's speaker and clip counts;
closed-set UAR and ECE of 15 bins on the held-out corpus. A corpus's clips are many more
per speaker in TESS (about 400) than in RAVDESS (52) or EMOVO (84), so a speaker count
is not a clip count.

    .venv/bin/python experiments/training_corpora.py [--out reports/training_corpora]
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
    report_head,
    report_on_known_emotions,
    uar_ece,
)

from ser_classic.evaluation import speaker_normalize

SEEDS = (0, 1, 2)
BOTH = "both corpora"
HALF = "both corpora, half the speakers of each"


def training_sets(speaker: np.ndarray, corpus: np.ndarray, held: str, *, seed: int
                  ) -> dict[str, np.ndarray]:
    """The training speakers of every row for held-out ``held`` (drawn rows at ``seed``).

    Parameters
    ----------
    speaker, corpus : np.ndarray [shape=(n,)]
        Every clip's speaker and corpus.
    held : str
    seed : int

    Returns
    -------
    sets : dict of str -> np.ndarray
        Row name -> the sorted training speakers; no speaker of ``held``.
    """
    rng = np.random.default_rng([seed, CORPORA.index(held)])
    others = [c for c in CORPORA if c != held]
    pools = {c: np.unique(speaker[corpus == c]) for c in others}
    sets = {f"{c} alone": pools[c] for c in others}
    sets[BOTH] = np.sort(np.concatenate([pools[c] for c in others]))
    big, small = sorted(others, key=lambda c: (-pools[c].size, c))
    keep = rng.choice(pools[big], pools[big].size - pools[small].size, replace=False)
    sets[f"{big} with {small} in place of some speakers"] = np.sort(
        np.concatenate([keep, pools[small]]))
    sets[HALF] = np.sort(np.concatenate([
        rng.choice(pools[c], max(1, pools[c].size // 2), replace=False) for c in others]))
    return sets


def run(X, y, speaker, corpus) -> dict:
    """Per normalisation, held-out corpus and row: UAR, ECE and the training counts (drawn
    rows: per seed)."""
    make = _models()["logreg"]
    out = {}
    for norm in ("strict", "speaker_norm"):
        Xn = X if norm == "strict" else speaker_normalize(X, speaker)
        out[norm] = {}
        for held in CORPORA:
            test = corpus == held
            rows: dict[str, list] = {}
            for seed in SEEDS:
                for name, speakers in training_sets(speaker, corpus, held, seed=seed).items():
                    if seed and not _drawn(name):  # the same speakers at every seed
                        continue
                    train = np.isin(speaker, speakers)
                    model = make().fit(Xn[train], y[train])
                    rows.setdefault(name, []).append({
                        **uar_ece(y[test], model.classes_, model.predict_proba(Xn[test])),
                        "speakers": {c: int(np.unique(speaker[train & (corpus == c)]).size)
                                     for c in CORPORA if c != held},
                        "clips": int(train.sum())})
            out[norm][held] = rows
            print(f"{norm} {held}: " + ", ".join(
                f"{n}: {np.mean([r['uar'] for r in v]):.3f}" for n, v in rows.items()),
                flush=True)
    return out


def _drawn(name: str) -> bool:
    return name == HALF or "in place of" in name


def _mean(draws: list, key: str) -> float:
    return float(np.mean([d[key] for d in draws]))


def render(summary: dict) -> str:
    lines = report_head("What an unseen corpus gains from more training corpora or "
                        "speakers (not shipped)", summary, __doc__)
    gains = {}
    for norm, per in summary["results"].items():
        lines += [f"## {norm}", "", "| held-out corpus | trained on | speakers | clips | "
                  "UAR | ECE |", "|---|---|---|---|---|---|"]
        for held, rows in per.items():
            for name, draws in rows.items():
                counts = ", ".join(f"{c} {n}" for c, n in draws[0]["speakers"].items() if n)
                spread = (f" ({min(d['uar'] for d in draws):.3f}-"
                          f"{max(d['uar'] for d in draws):.3f})" if len(draws) > 1 else "")
                lines.append(f"| {held} | {name} | {counts} | {draws[0]['clips']} | "
                             f"{_mean(draws, 'uar'):.3f}{spread} | {_mean(draws, 'ece'):.3f} |")
        swap = {h: next(n for n in rows if "in place of" in n) for h, rows in per.items()}
        single = {h: next(n for n in rows if n == swap[h].split(" with ")[0] + " alone")
                  for h, rows in per.items()}
        gains[norm] = {
            "both over the better single corpus": np.mean([
                _mean(rows[BOTH], "uar") - max(_mean(rows[n], "uar") for n in rows
                                               if n.endswith(" alone"))
                for rows in per.values()]),
            "two corpora over one, same speaker count": np.mean([
                _mean(rows[swap[h]], "uar") - _mean(rows[single[h]], "uar")
                for h, rows in per.items()]),
            "every speaker over half of them": np.mean([
                _mean(rows[BOTH], "uar") - _mean(rows[HALF], "uar") for rows in per.values()]),
        }
        lines += ["", "Mean over the held-out corpora: " + "; ".join(
            f"{k} {v:+.3f}" for k, v in gains[norm].items()) + ".", ""]
    corpora_gain = {n: g["two corpora over one, same speaker count"] for n, g in gains.items()}
    speaker_gain = {n: g["every speaker over half of them"] for n, g in gains.items()}
    lines += ["Read with the seed ranges: three corpora give three held-out scores per row, "
              "and the draws move a row by the range shown. A second corpus at the same "
              "speaker count adds " + " and ".join(
                  f"{v:+.3f} ({n})" for n, v in corpora_gain.items())
              + "; twice the speakers (and clips) of the same corpora add " + " and ".join(
                  f"{v:+.3f} ({n})" for n, v in speaker_gain.items()) + ". "
              + ("Here more speakers helped more than another corpus did. "
                 if all(speaker_gain[n] > corpora_gain[n] for n in gains) else "")
              + "No figure here is a target's; the shipped models are trained on the three "
              "corpora, and `data/README.md` lists four more public ones the library reads by "
              "their names (`crema_d` with 91 speakers, `emodb` 10, `savee` 4, `esd` 20), "
              "which `train --corpora` takes like these three.", ""]
    return "\n".join(lines)


def main(argv=None) -> int:
    args = ablation_parser(__doc__, out="reports/training_corpora", seed=False
                           ).parse_args(argv)
    return report_on_known_emotions(args, "training_corpora", argv, run, render)


if __name__ == "__main__":
    raise SystemExit(main())

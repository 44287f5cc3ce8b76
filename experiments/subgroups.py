"""Who the discriminator serves less well: the deployed recipe on held-out corpora by the
speaker's gender and by RAVDESS's intensity -> reports/subgroups/.

Measurement only: nothing is trained, chosen or shipped. A discriminator that scores one
kind of voice worse pushes a generator's other voices harder. The fold models of `make
run`'s held-out-corpus A/B (`--work`: the teacher and the deployed student of each
normalisation, each trained on the other two corpora; a `speaker_norm` model reads each
speaker's statistics from all its clips, the A/B's protocol) score every clip of the
corpus they did not see (calm left out, closed set of 7, chance 0.14). The clips are
split by the manifest's `gender` (RAVDESS 12 female and 12 male actors, EMOVO 3 and 3,
TESS 2 female speakers) and, in RAVDESS, by `intensity` (`normal` and `strong`; neutral
clips are all normal and are left out of that split, whose UAR averages the recall of
the 6 other emotions, still answered as a closed set of 7). Cells: UAR with a 95 % bootstrap
interval over speakers (2000 draws, seed 0), and the mean p(true emotion), whose
complement is the discriminator's penalty for a clip rendering its target; for each
split, the difference (female less male; strong less normal) with a 95 % interval from
resampling the speakers of each side (the same speakers on both sides of the intensity
split).

    .venv/bin/python experiments/subgroups.py [--work .cache/models] [--out reports/subgroups]
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from floor_ablation import CORPORA, ablation_parser, report_head, report_on_known_emotions
from skewed_batch import DEPLOYED

from ser_classic.features import FeatureConfig

N_BOOT = 2000
SIDES = {"gender": ("female", "male"), "intensity": ("strong", "normal")}


def uar_of(truth: np.ndarray, pred: np.ndarray) -> float:
    """Macro recall over the classes among ``truth`` (integer labels)."""
    return float(np.mean([np.mean(pred[truth == c] == c) for c in np.unique(truth)]))


def split_ci(truth, pred, speaker, first: np.ndarray, *, names: tuple[str, str],
             paired: bool, seed: int = 0) -> dict:
    """UAR of the ``first`` rows and of the others (``names``) with 95 % speaker-bootstrap
    intervals, and of their difference (first less other). ``paired``: the two sides
    share their speakers, resampled once for both."""
    rng = np.random.default_rng(seed)
    sides = dict(zip(names, (first, ~first), strict=True))
    speakers = {k: np.unique(speaker[m]) for k, m in sides.items()}
    rows = {k: {s: np.flatnonzero(m & (speaker == s)) for s in speakers[k]}
            for k, m in sides.items()}
    draws = {k: [] for k in names}
    for _ in range(N_BOOT):
        picked = rng.choice(speakers[names[0]], len(speakers[names[0]]))
        for k in names:
            if k == names[1] and not paired:
                picked = rng.choice(speakers[k], len(speakers[k]))
            idx = np.concatenate([rows[k][s] for s in picked])
            draws[k].append(uar_of(truth[idx], pred[idx]))
    point = {k: uar_of(truth[m], pred[m]) for k, m in sides.items()}
    diff = np.array(draws[names[0]]) - np.array(draws[names[1]])
    return {"uar": {k: round(point[k], 4) for k in names},
            "ci": {k: [round(float(q), 4) for q in np.percentile(draws[k], [2.5, 97.5])]
                   for k in names},
            "difference": round(point[names[0]] - point[names[1]], 4),
            "difference ci": [round(float(q), 4) for q in np.percentile(diff, [2.5, 97.5])]}


def measure(rows, X: np.ndarray, *, work: Path) -> dict:
    from ser_classic.artifact import load_artifact
    from ser_classic.deployment import _held_out_proba
    from ser_classic.evaluation import closed_set_proba
    from ser_classic.recognizer import EmotionRecognizer

    y = rows["emotion"].to_numpy(dtype=str)
    speaker, corpus = rows["speaker"].to_numpy(dtype=str), rows["corpus"].to_numpy(dtype=str)
    gender = rows["gender"].astype(str).to_numpy()
    intensity = rows["intensity"].astype(str).to_numpy()
    results, ids = [], {}
    for held in CORPORA:
        mine = corpus == held
        classes = np.unique(y[mine])
        truth = np.searchsorted(classes, y[mine])
        for name, (folder, kind) in DEPLOYED.items():
            recognizer = EmotionRecognizer(load_artifact(work / folder / held / kind))
            if recognizer.feature_config != FeatureConfig():
                raise SystemExit(f"{recognizer.model_id}: not the default features")
            ids[f"{held} {name}"] = recognizer.model_id
            P = closed_set_proba(_held_out_proba(recognizer, X[mine], speaker[mine], y[mine]),
                                 recognizer.classes_, classes)
            pred = P.argmax(axis=1)
            p_true = P[np.arange(len(P)), truth]
            splits = {"gender": (gender[mine] == "female", gender[mine] == "male", False)}
            if held == "ravdess":
                graded = y[mine] != "neutral"
                splits["intensity"] = (graded & (intensity[mine] == "strong"),
                                       graded & (intensity[mine] == "normal"), True)
            for split, (first, second, paired) in splits.items():
                if not first.any() or not second.any():
                    continue  # TESS: female speakers only
                keep = first | second
                names = SIDES[split]
                out = split_ci(truth[keep], pred[keep], speaker[mine][keep], first[keep],
                               names=names, paired=paired)
                out["p_true"] = {k: round(float(p_true[m].mean()), 4)
                                 for k, m in zip(names, (first, second), strict=True)}
                out["clips"] = {k: int(m.sum())
                                for k, m in zip(names, (first, second), strict=True)}
                results.append({"corpus": held, "model": name, "split": split, **out})
            print(f"{held}: {name} scored", flush=True)
    return {"results": results, "models": ids}



def render(summary: dict) -> str:
    res = summary["results"]
    lines = [*report_head("Subgroups: gender and intensity (held-out corpora)", summary,
                          __doc__),
             "Models: " + "; ".join(f"{name}: " + ", ".join(
                 f"{c} `{res['models'][f'{c} {name}']}`" for c in CORPORA)
                 for name in DEPLOYED) + ".", ""]
    for split, (a, b) in SIDES.items():
        lines += [f"## {split.capitalize()}", "",
                  f"| held-out corpus | model | clips {a} / {b} | UAR {a} [95% CI] | "
                  f"UAR {b} [95% CI] | {a} less {b} [95% CI] | mean p(true) {a} / {b} |",
                  "|---|---|---|---|---|---|---|"]
        for r in (r for r in res["results"] if r["split"] == split):
            lines.append(
                f"| {r['corpus']} | {r['model']} | {r['clips'][a]} / {r['clips'][b]} | "
                + " | ".join(f"{r['uar'][k]:.3f} [{r['ci'][k][0]:.3f}, {r['ci'][k][1]:.3f}]"
                             for k in (a, b))
                + f" | {r['difference']:+.3f} [{r['difference ci'][0]:+.3f}, "
                f"{r['difference ci'][1]:+.3f}] | {r['p_true'][a]:.3f} / "
                f"{r['p_true'][b]:.3f} |")
        lines.append("")
    return "\n".join(lines)


def main(argv=None) -> int:
    p = ablation_parser(__doc__, out="reports/subgroups", seed=False)
    p.add_argument("--work", default=".cache/models")
    args = p.parse_args(argv)
    return report_on_known_emotions(
        args, "subgroups", argv, lambda X, *_, rows: measure(rows, X, work=Path(args.work)), render,
        with_rows=True)


if __name__ == "__main__":
    raise SystemExit(main())

"""How much speech a clip needs: the deployed recipe on the first seconds of each held-out
clip -> reports/clip_duration/.

Measurement only: nothing is trained, chosen or shipped. A generator's utterances are
often shorter than the corpora's sentences (their speech, trimmed as the library trims
it, lasts about 1.3 to 4.3 s: the table below). Each clip of the
held-out corpora (calm left out) is cut to the first `L` seconds from where its speech
starts (the library's own trim decision, `preprocess`'s) for `L` in 0.5, 0.75, 1 and
1.5 s, and scored, beside the whole clip, by the fold models of `make run`'s
held-out-corpus A/B (`--work`: the teacher and the deployed student of each
normalisation, each trained on the other two corpora); a `speaker_norm` model reads
each speaker's statistics from all its clips cut alike (the A/B's protocol). A clip
whose speech is shorter than `L` is scored whole (the share is shown). Cells, mean over
the held-out corpora: UAR (closed set of 7, chance 0.14), ECE (15 bins), the mean top
probability, the top-1 agreement with the whole clip's answer, and the share of clips
the model flags `atypical` (its probabilities shrunk towards uniform).

    .venv/bin/python experiments/clip_duration.py [--work .cache/models]
        [--out reports/clip_duration]
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from floor_ablation import CORPORA, ablation_parser, report_head, report_on_known_emotions
from skewed_batch import DEPLOYED, present_uar

from ser_classic.data import load_audio
from ser_classic.features import FeatureConfig, _speech_span, extract_features

LENGTHS = (0.5, 0.75, 1.0, 1.5)
WHOLE = "whole"
WORK = ".cache/models"  # make run's work folder: its A/B's fold models


def first_seconds(y: np.ndarray, begin: int, *, lengths=LENGTHS, config: FeatureConfig
                  ) -> np.ndarray:
    """Features of ``y`` from sample ``begin`` on, cut to each of ``lengths`` seconds
    [shape=(len(lengths), n_features)]."""
    return np.array([extract_features(y[begin:begin + round(L * config.sample_rate)],
                                      config=config) for L in lengths])


def speech_cuts(path: str, *, lengths=LENGTHS, config: FeatureConfig
                ) -> tuple[np.ndarray, float]:
    """Features of the first ``lengths`` seconds of the clip's speech [shape=(len(lengths),
    n_features)] and how long its speech lasts (seconds, as trimmed)."""
    y = load_audio(path, sr=config.sample_rate)
    begin, end = _speech_span(y, config)
    return (first_seconds(y, begin, lengths=lengths, config=config),
            (end - begin) / config.sample_rate)


def cut_features(paths, *, config: FeatureConfig, jobs: int
                 ) -> tuple[dict[float, np.ndarray], np.ndarray]:
    """``({L: feature rows of every clip cut to L}, speech seconds per clip)``."""
    from joblib import Parallel, delayed

    out = Parallel(n_jobs=jobs)(delayed(speech_cuts)(p, config=config) for p in paths)
    return ({L: np.array([rows[i] for rows, _ in out]) for i, L in enumerate(LENGTHS)},
            np.array([speech for _, speech in out]))


def score(recognizer, X: np.ndarray, speaker: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Probabilities of rows ``X`` and their ``atypical`` flags, a speaker-normalised
    model's with each speaker's statistics from its rows (the A/B's protocol,
    ``deployment._held_out_proba``, which gives no flags)."""
    from ser_classic.recognizer import SpeakerStats

    if recognizer.normalization == "strict":
        proba, atypicality = recognizer.proba_from_features(X, return_atypicality=True)
        return proba, recognizer.atypical(atypicality)
    proba = np.empty((len(X), len(recognizer.classes_)))
    atypicality = np.empty(len(X))
    for s in np.unique(speaker):
        rows = speaker == s
        proba[rows], atypicality[rows] = recognizer.proba_from_features(
            X[rows], speaker=SpeakerStats.from_features(X[rows]), return_atypicality=True)
    return proba, recognizer.atypical(atypicality)


def measure(rows, X_whole: np.ndarray, *, work: Path, jobs: int,
            models: tuple[str, ...] = tuple(DEPLOYED)) -> dict:
    from ser_classic.artifact import load_artifact
    from ser_classic.evaluation import closed_set_proba, expected_calibration_error
    from ser_classic.recognizer import EmotionRecognizer

    config = FeatureConfig()
    cuts, speech = cut_features(rows["path"].tolist(), config=config, jobs=jobs)
    cuts[WHOLE] = X_whole
    y = rows["emotion"].to_numpy(dtype=str)
    speaker, corpus = rows["speaker"].to_numpy(dtype=str), rows["corpus"].to_numpy(dtype=str)
    results, ids = [], {}
    for held in CORPORA:
        mine = corpus == held
        classes = np.unique(y[mine])
        for name in models:
            folder, kind = DEPLOYED[name]
            recognizer = EmotionRecognizer(load_artifact(work / folder / held / kind))
            if recognizer.feature_config != config:
                raise SystemExit(f"{recognizer.model_id}: not the default features")
            ids[f"{held} {name}"] = recognizer.model_id
            whole = None
            for L in (WHOLE, *LENGTHS):
                P, atypical = score(recognizer, cuts[L][mine], speaker[mine])
                P = closed_set_proba(P, recognizer.classes_, classes)
                answer = P.argmax(axis=1)
                whole = answer if whole is None else whole
                results.append({
                    "corpus": held, "model": name, "length": L,
                    "uar": round(present_uar(y[mine], classes[answer]), 4),
                    "ece": round(float(expected_calibration_error(
                        np.searchsorted(classes, y[mine]), P)), 4),
                    "top probability": round(float(P.max(axis=1).mean()), 4),
                    "agreement": round(float(np.mean(answer == whole)), 4),
                    "atypical": round(float(np.mean(atypical)), 4),
                    "scored whole": (1.0 if L == WHOLE else
                                     round(float(np.mean(speech[mine] <= L)), 4))})
            print(f"{held}: {name} scored", flush=True)
    return {"results": results, "models": ids,
            "speech seconds": {c: [round(float(q), 2) for q in
                                   np.percentile(speech[corpus == c], [10, 50, 90])]
                               for c in CORPORA}}


def render(summary: dict) -> str:
    res = summary["results"]
    scored = [n for n in DEPLOYED if any(r["model"] == n for r in res["results"])]
    lengths = [WHOLE, *LENGTHS]
    lines = [*report_head("How much speech a clip needs (held-out corpora)", summary,
                          __doc__),
             "Speech per clip as trimmed, seconds (10th / 50th / 90th percentile): "
             + "; ".join(f"{c} {' / '.join(f'{q:.2f}' for q in res['speech seconds'][c])}"
                         for c in CORPORA) + ".", "",
             *([f"Fold models read from `{summary['work']}`.", ""]
               if summary.get("work", WORK) != WORK else []),
             "Models: " + "; ".join(f"{name}: " + ", ".join(
                 f"{c} `{res['models'][f'{c} {name}']}`" for c in CORPORA)
                 for name in scored) + ".", "",
             "Mean over the held-out corpora: UAR / ECE / mean top probability / agreement "
             "with the whole clip / share flagged atypical:", "",
             "| model | " + " | ".join(f"{L} s" if L != WHOLE else L for L in lengths) + " |",
             "|---|" + "---|" * len(lengths)]
    means = {}
    for r in res["results"]:
        means.setdefault((r["model"], r["length"]), []).append(r)
    for name in scored:
        cells = []
        for L in lengths:
            m = {k: np.mean([r[k] for r in means[name, L]])
                 for k in ("uar", "ece", "top probability", "agreement", "atypical")}
            cells.append(f"{m['uar']:.3f} / {m['ece']:.3f} / {m['top probability']:.2f} / "
                         f"{m['agreement']:.2f} / {m['atypical']:.2f}")
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    whole_share = {(r["corpus"], r["length"]): r["scored whole"] for r in res["results"]}
    lines += ["", "Share of clips scored whole (speech no longer than the cut):", "",
              "| corpus | " + " | ".join(f"{L} s" for L in LENGTHS) + " |",
              "|---|" + "---|" * len(LENGTHS)]
    for c in CORPORA:
        lines.append(f"| {c} | " + " | ".join(f"{whole_share[c, L]:.2f}" for L in LENGTHS)
                     + " |")
    lines += ["", "Per held-out corpus, UAR / ECE:", "",
              "| model | corpus | " + " | ".join(f"{L} s" if L != WHOLE else L
                                                 for L in lengths) + " |",
              "|---|---|" + "---|" * len(lengths)]
    cells = {(r["model"], r["corpus"], r["length"]): r for r in res["results"]}
    for name in scored:
        for c in CORPORA:
            lines.append(f"| {name} | {c} | " + " | ".join(
                f"{cells[name, c, L]['uar']:.3f} / {cells[name, c, L]['ece']:.3f}"
                for L in lengths) + " |")
    return "\n".join(lines) + "\n"


def main(argv=None) -> int:
    p = ablation_parser(__doc__, out="reports/clip_duration", seed=False)
    p.add_argument("--work", default=WORK)
    p.add_argument("--models", default=",".join(DEPLOYED),
                   help="comma-separated, of: " + ", ".join(DEPLOYED))
    args = p.parse_args(argv)
    models = tuple(m for m in args.models.split(",") if m)
    if unknown := set(models) - set(DEPLOYED):
        p.error(f"unknown --models {sorted(unknown)}")
    return report_on_known_emotions(
        args, "clip_duration", argv,
        lambda X, *_, rows: measure(rows, X, work=Path(args.work), jobs=args.jobs,
                                    models=models), render, with_rows=True, work=args.work)


if __name__ == "__main__":
    raise SystemExit(main())

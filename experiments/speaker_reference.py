"""Speaker references a discriminator can supply, per normalisation -> reports/speaker_reference/.

Issue 19, item 6. A speaker-normalised model is only as good as the statistics it is given
at inference. This script trains the linear family (soft vote of the tuned ridge and
logistic regression, no augmentation) under each training normalisation

- ``strict``: features as extracted;
- ``speaker_norm``: each training speaker z-scored by all of its clips;
- ``neutral_ref``: each training speaker centred on the mean of its neutral clips;
- ``neutral z-score`` (an ablation, not a :class:`ser_classic.Normalization` member):
  z-scored by the mean and standard deviation of its neutral clips,

and scores every held-out clip with the statistics of each *reference* a user may have:

- ``mixed``: all the speaker's other clips (every emotion);
- ``neutral``: the speaker's neutral clips (a neutral clip: the other neutral clips);
- ``one-emotion batch``: the clips of the speaker with the scored clip's emotion,
  the clip included (``speaker="batch"`` on a batch generated for one target);
- ``5 random``: 5 random other clips of the speaker (any emotion; fresh per clip).

No reference holds the clip it normalises, except the one-emotion batch, which is the
scored batch by definition. A ``neutral_ref`` model refuses ``speaker="batch"`` in the
library; its row here shows what it would give. Two protocols: RAVDESS speaker-grouped CV
(``group6``: 6 folds of 4 actors, as ``make evaluate-selected``; 2-fold grouped inner CV
on the training actors) and leave-one-corpus-out over RAVDESS, TESS and EMOVO (3-fold
speaker-grouped inner CV on the training corpora; closed-set over the held-out corpus's
classes; calm unscored when RAVDESS is held out).

    .venv/bin/python experiments/speaker_reference.py [--manifest data/manifest.csv]
        [--cache .cache/features] [--jobs 1] [--seed 0] [--out reports/speaker_reference]
"""

from __future__ import annotations

import argparse
import json
import shlex
import sys
import time
from pathlib import Path

import numpy as np
from loco import corpus_features  # the sibling script: its folder is sys.path[0]
from threadpoolctl import threadpool_limits

from ser_classic import evaluation
from ser_classic._vocabulary import REFERENCE_LABEL, Normalization
from ser_classic.data import EMOTIONS
from ser_classic.features import FeatureConfig
from ser_classic.recognizer import SpeakerStats
from ser_classic.reporting import write_text

MEMBERS = ("ridge", "logreg")  # the linear family
#: training normalisation -> how its statistics are applied at test time
TRAININGS = {"strict": None, "speaker_norm": Normalization.SPEAKER_NORM,
             "neutral_ref": Normalization.NEUTRAL_REF,
             "neutral z-score": Normalization.SPEAKER_NORM}
NAMES = {m.value for m in Normalization}
REFERENCES = ("mixed", "neutral", "one-emotion batch", "5 random")
N_RANDOM = 5


# --------------------------------------------------------------------------- references
def _pooled(Xc: np.ndarray, ref: np.ndarray, targets: np.ndarray, *, exclude_self: bool
            ) -> tuple[np.ndarray, np.ndarray]:
    """Mean and population std of the rows ``ref`` of ``Xc`` for each row in ``targets``
    (positions in ``Xc``), without the target row itself when ``exclude_self``."""
    s1, s2, n = Xc[ref].sum(axis=0), (Xc[ref] ** 2).sum(axis=0), int(ref.sum())
    own = (ref[targets] if exclude_self else np.zeros(targets.size, bool))[:, None]
    count = n - own
    if (count < 2).any():
        raise SystemExit("a reference of fewer than 2 clips")
    mean = (s1 - own * Xc[targets]) / count
    var = (s2 - own * Xc[targets] ** 2) / count - mean**2
    return mean, np.sqrt(np.maximum(var, 0.0))


def reference_stats(X: np.ndarray, speakers: np.ndarray, emotions: np.ndarray,
                    rows: np.ndarray, *, kind: str, rng: np.random.Generator
                    ) -> SpeakerStats:
    """Row-wise statistics [shape=(len(rows), d)] of each row's reference (``kind``).

    Returned as one :class:`SpeakerStats` whose ``mean`` and ``std`` hold a row per scored
    clip, so that the library's own ``apply`` normalises them (broadcast).
    """
    mean = np.empty((rows.size, X.shape[1]))
    std = np.empty_like(mean)
    for spk in np.unique(speakers[rows]):
        own = np.flatnonzero(speakers == spk)
        mu = X[own].mean(axis=0)
        Xc = X[own] - mu  # centred on the speaker: no cancellation in the variance
        where = np.flatnonzero(speakers[rows] == spk)  # positions in rows
        targets = np.searchsorted(own, rows[where])  # positions in own
        if kind == "mixed":
            m, sd = _pooled(Xc, np.ones(own.size, bool), targets, exclude_self=True)
        elif kind == "neutral":
            m, sd = _pooled(Xc, emotions[own] == REFERENCE_LABEL, targets,
                            exclude_self=True)
        elif kind == "one-emotion batch":
            m, sd = np.empty((where.size, X.shape[1])), np.empty((where.size, X.shape[1]))
            for emotion in np.unique(emotions[own][targets]):
                sel = emotions[own][targets] == emotion
                m[sel], sd[sel] = _pooled(Xc, emotions[own] == emotion, targets[sel],
                                          exclude_self=False)
        elif kind == "5 random":
            m, sd = np.empty((where.size, X.shape[1])), np.empty((where.size, X.shape[1]))
            for j, t in enumerate(targets):
                ref = rng.choice(np.delete(np.arange(own.size), t), size=N_RANDOM,
                                 replace=False)
                m[j], sd[j] = Xc[ref].mean(axis=0), Xc[ref].std(axis=0)
        else:
            raise ValueError(kind)
        mean[where], std[where] = m + mu, sd
    return SpeakerStats(mean=mean, std=std, n_clips=N_RANDOM)


def training_inputs(training: str, X, speakers, emotions) -> np.ndarray:
    """Rows as a model of ``training`` is fitted on them (the library's code where it has
    it: :func:`ser_classic.evaluation.normalized_inputs`)."""
    if training in ("strict", "speaker_norm", "neutral_ref"):
        return evaluation.normalized_inputs(X, (), speakers, normalization=training,
                                            labels=emotions)[0]
    stats = reference_stats(X, speakers, emotions, np.arange(len(X)), kind="neutral",
                            rng=np.random.default_rng(0))
    return stats.apply(X, normalization=Normalization.SPEAKER_NORM)


def test_inputs(training: str, X, speakers, emotions, rows, *, kind, seed) -> np.ndarray:
    if TRAININGS[training] is None:
        return X[rows]
    stats = reference_stats(X, speakers, emotions, rows, kind=kind,
                            rng=np.random.default_rng(seed))
    return stats.apply(X[rows], normalization=TRAININGS[training])


# --------------------------------------------------------------------------- models
def fit_linear(X, y, speakers, *, n_classes, n_inner, seed):
    """The tuned members of the linear family (inner CV on the training speakers)."""
    with threadpool_limits(limits=1):
        return [evaluation.tune_and_fit(m, X.astype(np.float32), y, speakers,
                                        n_inner=n_inner, n_classes=n_classes,
                                        random_state=seed)[0] for m in MEMBERS]


def proba_linear(members, X, *, n_classes) -> np.ndarray:
    """Soft vote: mean probabilities over all ``n_classes`` codes."""
    out = np.zeros((X.shape[0], n_classes))
    with threadpool_limits(limits=1):
        for est in members:
            p = np.zeros_like(out)
            p[:, est.classes_] = est.predict_proba(X.astype(np.float32))
            out += p / len(members)
    return out


def scores(y, proba, speakers, *, classes, seed) -> dict:
    m = evaluation.classification_metrics(y, proba.argmax(1), n_classes=len(classes))
    ci = evaluation.bootstrap_ci(y, proba.argmax(1), speakers, n_classes=len(classes),
                                 n_boot=1000, random_state=seed)
    return {"uar": m["uar"], "accuracy": m["accuracy"], "uar_ci95": ci["uar"],
            "recall": {c: float(r) for c, r in zip(classes, m["recall"], strict=True)
                       if not np.isnan(r)}, "n": int(y.size)}


# --------------------------------------------------------------------------- protocols
def run_cv(X, y, speakers, emotions, *, n_inner, seed, log) -> dict:
    """RAVDESS group6: out-of-fold probabilities per (training, reference)."""
    classes = tuple(EMOTIONS)
    splits = evaluation.outer_splits(speakers, split="group6", n_folds=6)
    out = {}
    for training in TRAININGS:
        start = time.perf_counter()
        Xt = training_inputs(training, X, speakers, emotions)
        proba = {k: np.zeros((y.size, len(classes))) for k in REFERENCES}
        for k, (tr, te) in enumerate(splits):
            members = fit_linear(Xt[tr], y[tr], speakers[tr], n_classes=len(classes),
                                 n_inner=n_inner, seed=seed)
            for kind in REFERENCES:
                Xte = test_inputs(training, X, speakers, emotions, te, kind=kind,
                                  seed=seed + k)
                proba[kind][te] = proba_linear(members, Xte, n_classes=len(classes))
            log(f"cv {training}: fold {k + 1}/6 ({time.perf_counter() - start:.0f} s)")
        out[training] = {kind: scores(y, proba[kind], speakers, classes=classes, seed=seed)
                         for kind in REFERENCES}
        out[training]["seconds"] = time.perf_counter() - start
    return out


def run_loco(X, y, speakers, emotions, corpora, *, n_inner, seed, log) -> dict:
    """Each corpus held out; closed-set over its classes the training corpora know."""
    out = {}
    for training in TRAININGS:
        start = time.perf_counter()
        Xt = training_inputs(training, X, speakers, emotions)
        out[training] = {}
        for corpus in sorted(set(corpora.tolist())):
            tr, te = np.flatnonzero(corpora != corpus), np.flatnonzero(corpora == corpus)
            evaluation.check_disjoint(speakers[tr], speakers[te])
            members = fit_linear(Xt[tr], y[tr], speakers[tr], n_classes=len(EMOTIONS),
                                 n_inner=n_inner, seed=seed)
            known = np.unique(y[tr])
            keep = np.intersect1d(np.unique(y[te]), known)
            scored = te[np.isin(y[te], keep)]
            names = tuple(EMOTIONS[c] for c in keep)
            res = {}
            for kind in REFERENCES:
                Xte = test_inputs(training, X, speakers, emotions, scored, kind=kind,
                                  seed=seed)
                P = proba_linear(members, Xte, n_classes=len(EMOTIONS))[:, keep]
                empty = P.sum(axis=1) == 0  # all mass on a class the corpus lacks (calm)
                P[empty] = 1.0  # uniform over the closed set, as recognizer classes= does
                P /= P.sum(axis=1, keepdims=True)
                res[kind] = scores(np.searchsorted(keep, y[scored]), P, speakers[scored],
                                   classes=names, seed=seed)
                res[kind]["no_closed_set_mass"] = int(empty.sum())
            res["unscored"] = int(te.size - scored.size)
            out[training][corpus] = res
            log(f"loco {training}: held out {corpus} "
                f"({time.perf_counter() - start:.0f} s)")
        out[training]["seconds"] = time.perf_counter() - start
    return out


# --------------------------------------------------------------------------- report
def _cell(s: dict) -> str:
    lo, hi = s["uar_ci95"]
    return f"{s['uar']:.3f} [{lo:.2f}, {hi:.2f}]"


def render(payload: dict) -> str:
    cv, loco = payload["cv"], payload["loco"]
    trainings = list(TRAININGS)
    head = "| reference at test time | " + " | ".join(f"`{t}`" if t in NAMES else t
                                                      for t in trainings) + " |"
    rule = "|---|" + "---|" * len(trainings)
    lines = ["# Speaker references for speaker-normalised models (issue 19, item 6)", "",
             f"Produced by `{payload['command']}`.", "",
             "The linear family (soft vote of the tuned ridge and logistic regression, no "
             "augmentation), trained under each normalisation (columns), scored with the "
             "statistics of each reference a user may have for a voice (rows). Training: "
             "`strict` features as extracted; `speaker_norm` each training speaker z-scored "
             "by all its clips; `neutral_ref` each training speaker centred on the mean of "
             "its neutral clips (a neutral clip on the other neutral clips), no division "
             "(the members' own standardisation follows); `neutral z-score` an ablation "
             "(not a normalisation of the library): z-scored by the neutral clips' mean and "
             "standard deviation. References: `mixed` all the speaker's other clips; "
             "`neutral` its neutral clips (a neutral clip: the other ones; RAVDESS has 4 "
             "neutral clips per actor, TESS 200, EMOVO 14); `one-emotion batch` the "
             "speaker's clips of the scored clip's emotion, itself included (what "
             "`speaker=\"batch\"` sees in a discriminator call for one target; the library "
             "refuses it for `neutral_ref`); `5 random` 5 random other clips of the "
             "speaker, drawn per clip. No reference holds the clip it normalises except "
             "the one-emotion batch. `strict` ignores the reference (one figure per "
             "column). UAR with a 95 % bootstrap CI over speakers.", "",
             f"Features: the default set ({payload['n_features']} functionals, cached, "
             f"`{payload['feature_config_hash']}`); random_state {payload['seed']}.", "",
             f"## RAVDESS speaker-grouped CV (group6: 6 folds of 4 actors, 8 classes, "
             f"{payload['n_inner_cv']}-fold inner CV)", "", head, rule]
    for kind in REFERENCES:
        lines.append(f"| {kind} | " + " | ".join(_cell(cv[t][kind]) for t in trainings)
                     + " |")
    lines += ["", "Neutral recall (the reference class) per reference:", "", head, rule]
    for kind in REFERENCES:
        lines.append(f"| {kind} | " + " | ".join(
            f"{cv[t][kind]['recall'].get('neutral', float('nan')):.2f}" for t in trainings)
            + " |")
    corpora = [c for c in loco["strict"] if c != "seconds"]
    lines += ["", f"## Leave one corpus out (trained on the other two, "
                  f"{payload['n_inner_loco']}-fold speaker-grouped inner CV; closed-set)",
              "", "Mean UAR over the held-out corpora:", "", head, rule]
    for kind in REFERENCES:
        lines.append(f"| {kind} | " + " | ".join(
            f"{np.mean([loco[t][c][kind]['uar'] for c in corpora]):.3f}"
            for t in trainings) + " |")
    for c in corpora:
        n = loco["strict"][c]["mixed"]["n"]
        lines += ["", f"Held out {c} ({n} clips scored, "
                      f"{loco['strict'][c]['unscored']} unscored):", "", head, rule]
        for kind in REFERENCES:
            lines.append(f"| {kind} | " + " | ".join(_cell(loco[t][c][kind])
                                                      for t in trainings) + " |")
        empty = [f"{t} / {kind}: {loco[t][c][kind]['no_closed_set_mass']}"
                 for t in trainings for kind in REFERENCES
                 if loco[t][c][kind].get("no_closed_set_mass")]
        if empty:
            lines += ["", "Clips whose probability sat entirely on classes the corpus lacks "
                          "(scored as uniform over its classes): " + "; ".join(empty) + "."]
    lines += ["", "Wall-clock seconds per training normalisation (CV / LOCO): " + ", ".join(
        f"{t} {cv[t]['seconds']:.0f} / {loco[t]['seconds']:.0f}" for t in trainings) + ".",
        ""]
    return "\n".join(lines)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--manifest", default="data/manifest.csv")
    parser.add_argument("--data", default="../shared/data")
    parser.add_argument("--cache", default=".cache/features")
    parser.add_argument("--jobs", type=int, default=1)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default="reports/speaker_reference")
    args = parser.parse_args(argv)
    command = shlex.join(["python", "experiments/speaker_reference.py",
                          *(sys.argv[1:] if argv is None else argv)])
    rows, X = corpus_features(args.manifest, args.data, ["ravdess", "tess", "emovo"],
                              cache=args.cache, jobs=args.jobs)
    y = rows["emotion"].map({e: i for i, e in enumerate(EMOTIONS)}).to_numpy()
    speakers = rows["speaker"].to_numpy(dtype=str)
    emotions = rows["emotion"].to_numpy(dtype=str)
    corpora = rows["corpus"].to_numpy(dtype=str)

    def log(line):
        print(line, file=sys.stderr, flush=True)

    rav = corpora == "ravdess"
    cv = run_cv(X[rav], y[rav], speakers[rav], emotions[rav], n_inner=2, seed=args.seed,
                log=log)
    out = Path(args.out)
    write_text(out / "cv.partial.json", json.dumps(cv, indent=2) + "\n")  # a crash keeps it
    loco = run_loco(X, y, speakers, emotions, corpora, n_inner=3, seed=args.seed, log=log)
    payload = {"command": command, "feature_config_hash": FeatureConfig().hash,
               "n_features": int(X.shape[1]), "seed": args.seed, "n_inner_cv": 2,
               "n_inner_loco": 3, "n_random": N_RANDOM, "members": list(MEMBERS),
               "cv": cv, "loco": loco}
    write_text(out / "summary.json", json.dumps(payload, indent=2) + "\n")
    write_text(out / "report.md", render(payload))
    (out / "cv.partial.json").unlink()
    print(f"wrote {out}/report.md", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""Conditions copies with one recording chain per voice -> reports/voice_chain/.

Measurement only: nothing is chosen or shipped. A speaker-normalised model reads a clip
against statistics of its voice: at inference (the condition benchmark's `[same
condition]`, a generator's own output) those come from clips through the same chain as
the clip. The deployed copies (`conditions_eq`) draw a chain per clip, so in training a
copy is normalised by statistics of its voice's copies through every other chain. Here
the copies are drawn as the library draws them (the same clip stream, colouring, babble
talkers and feature extraction) except the chain's plan, drawn once per speaker
(`ConditionChain.draw` seeded by the speaker's name and `--seeds`), as if each voice
had been recorded through one chain.

The fixed logistic regression of `floor_ablation` (C = 0.003, balanced), trained under
`speaker_norm` (each speaker's rows and each set of copies z-scored by their own
statistics) and `neutral_ref` (centred on the speaker's neutral rows; a copy on the
copies of those), on the originals alone, with one per-clip-chain copy per clip (the
cached `conditions_eq` copies of the deployed recipe) or with one per-voice-chain copy:
(1) leave-one-corpus-out UAR (closed set; the test speakers normalised by their own clips,
or their neutral clips, a neutral clip by the others); (2) accuracy on RAVDESS actors
21-24 (trained without them) under the degradations of `bench_conditions` at its seeds,
each speaker normalised by its clips of the same condition. The babble talkers of the
training copies are drawn from every clip (as the cached copies'), so actors 21-24 can
be heard in the babble of other speakers' copies.

    .venv/bin/python experiments/voice_chain.py [--seeds 0,1] [--out reports/voice_chain]
"""

from __future__ import annotations

import hashlib
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import bench_conditions as bench
from floor_ablation import _models, ablation_parser, report_head, uar, write_summary
from loco import corpus_features

CORPORA = ("emovo", "ravdess", "tess")
NORMALIZATIONS = ("speaker_norm", "neutral_ref")
PRESET = "conditions_eq"


def voice_plan(chain, speaker: str, *, seed: int):
    """The chain's plan of every copy of ``speaker``'s clips."""
    key = int(hashlib.sha256(speaker.encode()).hexdigest()[:15], 16)
    return chain.draw(rng=np.random.default_rng([seed, key]))


def voice_copies(rows, *, seed: int, n_jobs: int) -> np.ndarray:
    """One ``conditions_eq`` copy of every clip [shape=(n_clips, n_features)], as the
    library draws it but for the chain's plan: one per speaker, seeded by ``seed`` and
    the speaker's name."""
    from joblib import Parallel, delayed

    from ser_classic.augment import AugmentConfig
    from ser_classic.conditions import babble_talkers
    from ser_classic.data import corpus_channel, load_audio
    from ser_classic.features import FeatureConfig, _augment_rng, augmented_features
    from ser_classic.pipeline import AUGMENT_VARIANTS

    config = FeatureConfig()
    aug = AugmentConfig(n_copies=4, **AUGMENT_VARIANTS[PRESET])
    chain = aug.condition_chain
    shas, paths = rows["sha256"].tolist(), rows["path"].tolist()
    speakers = rows["speaker"].to_numpy(dtype=str)
    talkers = babble_talkers(shas, speakers, seed=0, copy=0)

    def load(i):
        return load_audio(paths[i], sr=config.sample_rate, channel=corpus_channel(paths[i]))

    def one(i):
        rng = _augment_rng(shas[i], 0, 0)
        chain.draw(rng=rng)  # the clip's own plan, drawn first by the library: not used
        plan = voice_plan(chain, speakers[i], seed=seed)
        waves = [load(j) for j in talkers[i]] if plan.uses_talkers else []
        return augmented_features(load(i), config=config, augment=aug, rng=rng,
                                  warp=aug.warp_of(0), plan=plan, talkers=waves)

    return np.vstack(Parallel(n_jobs=n_jobs, batch_size=8)(
        delayed(one)(i) for i in range(len(rows))))


def condition_features(data: Path, emotions) -> dict:
    """Full feature rows of RAVDESS actors 21-24 (their clips of ``emotions``) under each
    condition of ``bench_conditions``, at its seeds; with their speakers and labels."""
    import ser_classic
    from ser_classic.data import scan_corpus

    records = sorted(scan_corpus(Path(data) / "ravdess"), key=lambda r: r["path"])
    rows, talkers = bench.condition_rows(records, speakers=bench.HOLDOUT, n=0, seed=0,
                                         emotions=set(emotions))
    clean = bench._clips(rows)
    rows_of = bench.FeatureRows(ser_classic.load("teacher"))
    transforms = bench.condition_transforms(babble_talkers=bench._clips(talkers),
                                            rir=bench.room_impulse_response(), world=True)
    X = {name: rows_of([transform(y, np.random.default_rng([0, 100 + i])) for y in clean])
         for i, (name, transform) in enumerate(transforms.items())}
    return {"X": X, "speaker": np.array([r["speaker"] for r in rows]),
            "emotion": np.array([r["emotion"] for r in rows])}


def score(X, rows, copies: list, cond: dict, how: str) -> dict:
    """LOCO UAR per corpus and held-out actors' accuracy per condition of the fixed
    logistic regression trained on the originals and ``copies``."""
    from ser_classic.evaluation import normalized_inputs

    y, spk, corpus = (rows[c].to_numpy(dtype=str) for c in ("emotion", "speaker", "corpus"))

    def normalised(X_, speakers, emotions):
        return normalized_inputs(X_, [], speakers, normalization=how, labels=emotions)[0]

    def fit(train):
        Xn, Xc = normalized_inputs(X[train], [Xc[train] for Xc in copies], spk[train],
                                   normalization=how, labels=y[train])
        Xa, ya = np.vstack([Xn, *Xc]), np.tile(y[train], 1 + len(Xc))
        ok = ~np.isnan(Xa).any(axis=1)
        return _models()["logreg"]().fit(Xa[ok], ya[ok])

    loco = {}
    for held in CORPORA:
        test = corpus == held
        model = fit(~test)
        loco[held] = uar(y[test], model.predict(normalised(X[test], spk[test], y[test])))
    model = fit(~np.isin(spk, bench.HOLDOUT))
    held = {name: float(np.mean(model.predict(normalised(Xk, cond["speaker"],
                                                         cond["emotion"]))
                                == cond["emotion"]))
            for name, Xk in cond["X"].items()}
    return {"loco": loco, "loco_mean": float(np.mean(list(loco.values()))),
            "conditions": held}


def render(summary: dict) -> str:
    lines = report_head("One recording chain per voice in the conditions copies",
                        summary, __doc__)
    variants = list(next(iter(summary["results"].values())))
    conditions = list(next(iter(next(iter(summary["results"].values())).values()))
                      ["conditions"])
    for how, res in summary["results"].items():
        lines += [f"## {how}", "", "| copies | LOCO mean | " + " | ".join(CORPORA)
                  + " | held-out actors: clean | mean share of clean, degraded |",
                  "|---|---|" + "---|" * len(CORPORA) + "---|---|"]
        for v in variants:
            r = res[v]
            clean = r["conditions"]["clean"]
            shares = [a / clean for c, a in r["conditions"].items() if c != "clean"]
            lines.append(f"| {v} | {r['loco_mean']:.3f} | " + " | ".join(
                f"{r['loco'][c]:.3f}" for c in CORPORA) + f" | {clean:.3f} | "
                f"{np.mean(shares):.0%} |")
        lines += ["", "Held-out actors 21-24, accuracy per condition (share of clean):", "",
                  "| condition | " + " | ".join(variants) + " |",
                  "|---|" + "---|" * len(variants)]
        for c in conditions:
            cells = []
            for v in variants:
                acc = res[v]["conditions"][c]
                cells.append(f"{acc:.2f} ({acc / res[v]['conditions']['clean']:.0%})")
            lines.append(f"| {c} | " + " | ".join(cells) + " |")
        lines.append("")
    return "\n".join(lines)


def main(argv=None) -> int:
    p = ablation_parser(__doc__, out="reports/voice_chain", seed=False)
    p.add_argument("--seeds", default="0,1", help="the per-voice plans' seeds")
    args = p.parse_args(argv)
    from ser_classic.features import FeatureConfig
    from ser_classic.pipeline import augmented_features

    start = time.time()
    rows, X = corpus_features(args.manifest, args.data, list(CORPORA), cache=args.cache,
                              jobs=args.jobs)
    known = (rows["emotion"] != "calm").to_numpy()
    rows, X = rows[known].reset_index(drop=True), X[known]
    copies = {"none": [], "per clip (deployed)": augmented_features(
        PRESET, rows, config=FeatureConfig(), copies=1, cache_dir=args.cache,
        n_jobs=args.jobs)}
    for seed in (int(s) for s in args.seeds.split(",")):
        copies[f"per voice, seed {seed}"] = [voice_copies(rows, seed=seed, n_jobs=args.jobs)]
        print(f"voice copies, seed {seed}: {time.time() - start:.0f} s", flush=True)
    cond = condition_features(args.data, set(rows["emotion"]))
    print(f"condition features: {time.time() - start:.0f} s", flush=True)
    results = {how: {} for how in NORMALIZATIONS}
    for how in NORMALIZATIONS:
        for name, Xc in copies.items():
            results[how][name] = score(X, rows, Xc, cond, how)
            print(f"{how} {name}: LOCO {results[how][name]['loco_mean']:.3f}", flush=True)
    summary = {"command": "python experiments/voice_chain.py" + "".join(
                   f" {a}" for a in (argv if argv is not None else sys.argv[1:])),
               "seconds": round(time.time() - start, 1), "results": results}
    write_summary(Path(args.out), summary, render(summary))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

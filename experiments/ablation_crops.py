"""Crops of the clips' speech in the deployed teacher recipe, for short inputs ->
reports/ablation_crops/.

`reports/short_clips` measured crops in training with a fixed logistic regression. This
measures the library's `crops` augmentation (`AugmentConfig.crop_s`: each copy a span of
0.5-2 s of the clip's speech at a random position, `features.speech_crop`) in the
deployed teacher recipe: the `linear` family with the stored teacher's parameters of each
normalisation, trained with the deployed preset's copies (`vtlp_eq+conditions_eq+
pitch_eq`, one copy per clip and preset) or with one crop copy per clip added
(`vtlp_eq+conditions_eq+pitch_eq+crops`). Scored as a closed set on held-out clips whole
and cut to the first 0.5 / 0.75 / 1 / 1.5 s from where their speech starts
(`clip_duration`'s cuts): each corpus held out in turn (RAVDESS actors 1-20, TESS,
EMOVO; trained on the other two, as the ablations' LOCO stage), and RAVDESS actors 17-20
held out (trained on every other clip). A speaker-normalised model reads each held-out
speaker's statistics from its rows of the same length. RAVDESS actors 21-24, the held-out
speakers of `reports/conditions`, are read by none.

Rule, fixed before the first run: for a normalisation, the crops recipe is a lead when
its mean LOCO UAR over the four cut lengths is at least 0.020 above the deployed recipe's
and its whole-clip UAR is no more than 0.010 below, on the LOCO mean and on actors 17-20.
A lead makes the preset a candidate for a model meant for short inputs; the deployed
recipe is not changed by this measurement.

    .venv/bin/python experiments/ablation_crops.py [--normalizations strict,speaker_norm]
        [--out reports/ablation_crops]
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import bench_conditions as bench
from clip_duration import LENGTHS, WHOLE, cut_features
from floor_ablation import CORPORA, PROBE, ablation_parser, report_head, write_summary
from loco import fixed_params_loco
from short_clips import CUT_GAIN, WHOLE_LOSS  # the rule's margins are short_clips'

from ser_classic import pipeline
from ser_classic.data import load_manifest
from ser_classic.features import FeatureConfig, extract_batch

SPEAKERS = "ravdess 17-20"


def variants() -> tuple[str, str]:
    """The deployed preset and the same with one crop copy per clip."""
    return bench.RECIPE_AUGMENT, f"{bench.RECIPE_AUGMENT}+crops"


def measure(manifest, *, normalizations, cache: str, jobs: int, seed: int) -> dict:
    """Per normalisation and preset: ``fixed_params_loco``'s results on the held-out
    corpora and on actors 17-20, whole clips and cuts (each ``tests`` entry: UAR and ECE);
    the features, cuts and copies read once for all."""
    config = FeatureConfig()
    X, errors, _ = extract_batch(manifest["path"], sha256=manifest["sha256"], config=config,
                                 cache_dir=cache, n_jobs=jobs)
    if errors:
        raise SystemExit(f"{len(errors)} clips failed: {errors[:3]}")
    cuts, _ = cut_features(manifest["path"].tolist(), config=config, jobs=jobs)
    tests = {WHOLE: X, **cuts}
    corpus = manifest["corpus"].to_numpy()
    speakers = np.where(manifest["speaker"].isin(PROBE), SPEAKERS, "rest")
    copies = {v: pipeline.augmented_features(v, manifest, config=config, copies=1,
                                             cache_dir=cache, random_state=seed, n_jobs=jobs,
                                             groups=corpus)
              for v in variants()}
    out = {}
    for norm in normalizations:
        common = dict(name="linear", normalization=norm, params=bench.teacher_params(norm),
                      random_state=seed, tests=tests)
        out[norm] = {v: {"loco": fixed_params_loco(X, X_aug, manifest, label=v, **common),
                         "speakers": fixed_params_loco(X, X_aug, manifest, label=v,
                                                       groups=speakers,
                                                       held_out=[SPEAKERS], **common)}
                     for v, X_aug in copies.items()}
    return out


def loco_mean(result: dict, length: str, metric: str = "uar") -> float:
    return float(np.mean([result["loco"]["corpora"][c]["tests"][length][metric]
                          for c in CORPORA]))


def verdict(results: dict) -> dict:
    """Per normalisation: the crops preset less the deployed one on the rule's three
    figures, and whether the rule holds."""
    base_name, crops_name = variants()
    out = {}
    for norm, per in results.items():
        base, crops = per[base_name], per[crops_name]
        cut_gain = float(np.mean([loco_mean(crops, str(L)) - loco_mean(base, str(L))
                                  for L in LENGTHS]))
        whole_loco = loco_mean(crops, WHOLE) - loco_mean(base, WHOLE)
        whole_speakers = (crops["speakers"]["corpora"][SPEAKERS]["tests"][WHOLE]["uar"]
                          - base["speakers"]["corpora"][SPEAKERS]["tests"][WHOLE]["uar"])
        out[norm] = {"cut gain": round(cut_gain, 4), "whole loco": round(whole_loco, 4),
                     "whole speakers": round(whole_speakers, 4),
                     "lead": bool(cut_gain >= CUT_GAIN - 1e-9
                                  and whole_loco >= -WHOLE_LOSS - 1e-9
                                  and whole_speakers >= -WHOLE_LOSS - 1e-9)}
    return out


def render(summary: dict) -> str:
    lengths = [WHOLE, *map(str, LENGTHS)]
    names = [L if L == WHOLE else f"{L} s" for L in lengths]
    lines = [*report_head("Crops in the deployed teacher recipe, for short inputs",
                          summary, __doc__),
             f"Seed {summary['seed']}. Cells: UAR / ECE (15 bins); chance 0.14.", ""]
    for part, title in (("loco", "Held-out corpus, mean over EMOVO, RAVDESS (actors 1-20) "
                                 "and TESS"),
                        ("speakers", "Held-out RAVDESS actors 17-20")):
        lines += [f"## {title}", "", "| normalisation | preset | " + " | ".join(names)
                  + " |", "|---|---|" + "---|" * len(names)]
        for norm, per in summary["results"].items():
            for v, r in per.items():
                if part == "loco":
                    cells = [f"{loco_mean(r, L):.3f} / {loco_mean(r, L, 'ece'):.3f}"
                             for L in lengths]
                else:
                    t = r["speakers"]["corpora"][SPEAKERS]["tests"]
                    cells = [f"{t[L]['uar']:.3f} / {t[L]['ece']:.3f}" for L in lengths]
                lines.append(f"| {norm} | `{v}` | " + " | ".join(cells) + " |")
        lines.append("")
    lines += ["## Per held-out corpus (UAR)", "",
              "| normalisation | preset | corpus | " + " | ".join(names) + " |",
              "|---|---|---|" + "---|" * len(names)]
    for norm, per in summary["results"].items():
        for v, r in per.items():
            for c in CORPORA:
                t = r["loco"]["corpora"][c]["tests"]
                lines.append(f"| {norm} | `{v}` | {c} | "
                             + " | ".join(f"{t[L]['uar']:.3f}" for L in lengths) + " |")
    lines += ["", "## Verdict", "",
              "| normalisation | mean LOCO UAR change over the cuts (>= +0.020) | whole "
              "clips, LOCO mean (>= -0.010) | whole clips, actors 17-20 (>= -0.010) | "
              "lead |", "|---|---|---|---|---|"]
    for norm, r in summary["verdict"].items():
        lines.append(f"| {norm} | {r['cut gain']:+.3f} | {r['whole loco']:+.3f} | "
                     f"{r['whole speakers']:+.3f} | {'yes' if r['lead'] else 'no'} |")
    return "\n".join(lines) + "\n"


def main(argv=None) -> int:
    p = ablation_parser(__doc__, out="reports/ablation_crops")
    p.add_argument("--normalizations", default="strict,speaker_norm")
    args = p.parse_args(argv)
    start = time.time()
    manifest = load_manifest(args.manifest)
    manifest = manifest[~manifest["speaker"].isin(bench.HOLDOUT)].reset_index(drop=True)
    results = measure(manifest, normalizations=args.normalizations.split(","),
                      cache=args.cache, jobs=args.jobs, seed=args.seed)
    summary = {"command": "python experiments/ablation_crops.py" + "".join(
                   f" {a}" for a in (argv or sys.argv[1:])),
               "seconds": round(time.time() - start, 1), "seed": args.seed,
               "results": results, "verdict": verdict(results)}
    write_summary(Path(args.out), summary, render(summary))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

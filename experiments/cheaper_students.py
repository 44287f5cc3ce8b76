"""Cheaper students against the deployed models on TESS: what speed costs there.

The deployed strict model (``models/deployed``, a compact student reading every descriptor
group but the extended ones) misses the discriminator's 200 clips/s on one core. Each
candidate below is a student (same distillation settings as ``make optimize``'s) made
cheaper in one way, chosen by extraction cost. Not all were chosen blind to TESS:
``no_spectral`` is ``make optimize``'s ``compact_fast`` student, ``no_contrast_acf`` was
A/B-tested on TESS before the group sets were fixed, and the two ``linear_spectral``
candidates were added after the others had run (the dense linear student on the cheap
groups, ``models/optimized``, had transferred better than a compact one), and so were the
two ``hop320`` candidates, after their teacher and student had held their accuracy on
held-out RAVDESS actors (their first TESS run is the one reported):

- a group set: the student skips groups besides the extended descriptors
  (``ser-classic distill --student compact_int8 --compact-groups ...``, from
  ``models/teacher``);
- a front end: the teacher (the registry model of ``models/teacher``, same
  hyper-parameters and augmentation) is trained on a cheaper STFT
  (``ser-classic train --feature-config ...``) and distilled as the deployed student was;
- the dense linear student (``models/optimized``'s kind, every column of its groups)
  allowed the spectral-shape group besides its cheap ones, and no pitch/voicing.

Each candidate is A/B-tested against the deployed model of its normalization (``ser-classic
ab``, unchanged decision rule), so accuracy and per-clip latency are measured against it
in the same run; nothing is deployed from here. Writes ``reports/ab/cheaper/NAME/`` (each
A/B) and ``reports/ab/cheaper/summary.md`` / ``summary.json``.

Usage::

    .venv/bin/python experiments/cheaper_students.py [--only NAME,...]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

import ser_classic
from ser_classic import pipeline
from ser_classic.data import load_manifest, scan_corpus
from ser_classic.distill import COMPACT_SKIPS, feature_groups
from ser_classic.features import FeatureConfig

# the deployed compact student's groups: every descriptor group but COMPACT_SKIPS
COMPACT_GROUPS = tuple(dict.fromkeys(
    str(g) for g in feature_groups(config=FeatureConfig()) if g not in COMPACT_SKIPS))
# 32-ms frames without zero-padding: the shortest FFT the pitch search allows (>= 2 periods
# of 65 Hz); the hop (10 ms) and everything else unchanged
FRONT_END_512 = {"n_fft": 512, "win_length": 512, "fmin_f0": 65.0}
# 20-ms hop: half the frames (every frame-level descriptor costs half), same 40-ms window
# and FFT; added after the others had run, once it had held its accuracy on held-out
# RAVDESS actors (train on 20, test on 4)
FRONT_END_HOP320 = {"hop_length": 320}
ACF = ("voicing", "pitch", "utterance")  # the groups read off the autocorrelation
# name -> (normalization, student, groups it skips besides the extended ones, front end)
CANDIDATES = {
    "no_spectral": ("strict", "compact_int8", ("spectral",), None),
    "no_contrast": ("strict", "compact_int8", ("contrast",), None),
    "no_acf": ("strict", "compact_int8", ACF, None),
    "no_contrast_acf": ("strict", "compact_int8", ("contrast", *ACF), None),
    "no_spectral_contrast_acf": ("strict", "compact_int8", ("spectral", "contrast", *ACF),
                                 None),
    "fft512": ("strict", "compact_int8", (), FRONT_END_512),
    "fft512_speaker_norm": ("speaker_norm", "compact_int8", (), FRONT_END_512),
    "hop320": ("strict", "compact_int8", (), FRONT_END_HOP320),
    "hop320_speaker_norm": ("speaker_norm", "compact_int8", (), FRONT_END_HOP320),
    "linear_spectral": ("strict", "linear_int8", ACF, None),
    "linear_spectral_speaker_norm": ("speaker_norm", "linear_int8", ACF, None),
}
DEPLOYED = {"strict": "models/deployed", "speaker_norm": "models/deployed-speaker_norm"}
TEACHER = {"strict": "models/teacher", "speaker_norm": "models/teacher-speaker_norm"}


CACHE = os.environ.get("SER_CLASSIC_CACHE", ".cache/features")
SELECTION = Path("reports/cv") / pipeline.SELECTION_FILE
N_JOBS = os.cpu_count() or 1


def _student(name: str, work: Path, manifest) -> Path:
    """Distil the candidate ``name`` (training its teacher first for another front end)."""
    from ser_classic.store import resolve

    normalization, kind, skips, front_end = CANDIDATES[name]
    teacher = resolve(TEACHER[normalization])
    command = f"python experiments/cheaper_students.py --only {name}"
    if front_end is not None:  # the teacher's registry model, parameters and augmentation
        registry_name = json.loads((teacher / "model.json").read_text())["name"]
        trained = pipeline.train(manifest, model=registry_name, normalization=normalization,
                                 feature_config=FeatureConfig(**front_end),
                                 selection=pipeline.Selection.load(SELECTION),
                                 cache_dir=CACHE, n_jobs=N_JOBS, command=command)
        teacher = work / name / "teacher"
        trained.save(teacher)
    groups = [g for g in COMPACT_GROUPS if g not in skips]
    out = work / name / "student"
    compact = kind.startswith("compact")
    pipeline.distil(teacher, manifest, student=kind, compact_groups=groups if compact else None,
                    groups=None if compact else groups, cache_dir=CACHE, n_jobs=N_JOBS,
                    command=command).save(out)
    return out


def _front_end(fields: dict | None) -> str:
    return ", ".join(f"{k} {v:g}" for k, v in fields.items()) if fields else "default"


def _row(name: str, summary: dict) -> dict:
    normalization, kind, skips, front_end = CANDIDATES[name]
    a, b = summary["models"]["a"], summary["models"]["b"]
    return {"name": name, "normalization": normalization, "student": kind, "skips": list(skips),
            "front_end": front_end, "model_id": b["model_id"], "deployed_id": a["model_id"],
            "accuracy": b["accuracy"], "accuracy_ci": b["accuracy_ci"],
            "deployed_accuracy": a["accuracy"],
            "p_mcnemar": summary["comparison"]["mcnemar"]["p_value"],
            "p50_ms": b["latency"]["p50_ms"], "deployed_p50_ms": a["latency"]["p50_ms"],
            "winner": summary["decision"]["winner"]}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default=os.environ.get("SER_CLASSIC_DATA", "../shared/data"))
    parser.add_argument("--work", default=".cache/cheaper", help="candidate models")
    parser.add_argument("--out", default="reports/ab/cheaper")
    parser.add_argument("--only", help="comma-separated candidates to (re-)run; the "
                                       "summary collects every candidate with a report")
    parser.add_argument("--collect", action="store_true",
                        help="run nothing, rebuild the summary from the existing reports")
    args = parser.parse_args()
    out, work = Path(args.out), Path(args.work)
    names = [] if args.collect else args.only.split(",") if args.only else list(CANDIDATES)
    unknown = sorted(set(names) - set(CANDIDATES))
    if unknown:
        parser.error(f"unknown candidate(s) {unknown}; known: {list(CANDIDATES)}")
    manifest = load_manifest("data/manifest.csv") if names else None
    for name in names:
        student = _student(name, work, manifest)
        tess = Path(args.data) / "tess"
        result = pipeline.ab_test(ser_classic.load(DEPLOYED[CANDIDATES[name][0]]),
                                  ser_classic.load(student), scan_corpus(tess),
                                  data_label=str(tess))
        result.write_report(out / name, command="python experiments/cheaper_students.py "
                                                f"--only {name}")
    rows = [_row(name, json.loads((out / name / "summary.json").read_text()))
            for name in CANDIDATES if (out / name / "summary.json").is_file()]
    lines = ["# Cheaper students vs the deployed models on TESS", "",
             "Produced by: `python experiments/cheaper_students.py` (each row's A/B, with "
             "its own command: `reports/ab/cheaper/NAME/`)", "",
             "Every candidate is a student made cheaper than the deployed one in one way, "
             "chosen by extraction cost (not all blind to TESS: `no_spectral` is `make "
             "optimize`'s `compact_fast` student, `no_contrast_acf` was A/B-tested on TESS "
             "before the group sets were fixed, the `linear_spectral` candidates were added "
             "after the others had run): a compact student (340 "
             "inputs, int8) that skips descriptor groups besides the extended ones, or whose "
             "teacher and it read another front end (`fft512`: "
             f"{json.dumps(FRONT_END_512)}; `hop320`: {json.dumps(FRONT_END_HOP320)}, added "
             "after the others had run, once it had held its accuracy on held-out RAVDESS "
             "actors; every other FeatureConfig field the default); "
             "or the dense linear int8 student (`linear_*`: every column of its groups; "
             "the kind of `models/optimized`, which reads the cheap groups only) given the "
             "spectral-shape group too. Each is A/B-tested against the deployed "
             "model of its normalization on the 2800 TESS clips (calm counted as neutral, "
             "unchanged decision rule: quality first, speed breaks ties). Latency: end to "
             "end per clip, one clip at a time, A and B alternating in the same run; "
             "speed-up = deployed p50 / candidate p50.", "",
             "| candidate | normalization | student | skips (besides extended) | front end | "
             "TESS accuracy [95 % CI] | deployed | McNemar p | p50 ms (deployed) | speed-up | "
             "A/B winner |",
             "|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        lo, hi = r["accuracy_ci"]
        lines.append(
            f"| {r['name']} | {r['normalization']} | {r['student']} | "
            f"{', '.join(r['skips']) or '-'} | "
            f"{_front_end(r['front_end'])} | {r['accuracy']:.3f} "
            f"[{lo:.3f}, {hi:.3f}] | {r['deployed_accuracy']:.3f} | {r['p_mcnemar']:.1e} | "
            f"{r['p50_ms']:.2f} ({r['deployed_p50_ms']:.2f}) | "
            f"{r['deployed_p50_ms'] / r['p50_ms']:.2f}x | "
            f"{'deployed' if r['winner'] == 'a' else 'candidate'} |")
    kept = sum(r["winner"] == "a" for r in rows)
    lines += ["", f"- The deployed model is kept in {kept} of {len(rows)} A/Bs."]
    out.mkdir(parents=True, exist_ok=True)
    (out / "summary.md").write_text("\n".join(lines) + "\n")
    (out / "summary.json").write_text(json.dumps({"command": "python experiments/"
                                                  "cheaper_students.py", "rows": rows},
                                                 indent=2))
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())

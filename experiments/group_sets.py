"""What each descriptor group of the strict compact student is worth on a new corpus.

The deployed strict model (``models/deployed``, the compact student) reads every group but
the extended descriptors, and misses the discriminator's 200 clips/s on one core; the
cheaper students skip groups. This script distils one compact student per group set below
(``ser-classic distill --student compact_int8 --compact-groups ...``, same teacher, seed
and size as the deployed one) and A/Bs each against ``models/deployed`` on TESS
(``ser-classic ab``, the unchanged decision rule), so accuracy and per-clip latency of
every set are measured against the deployed model in the same run. The sets are fixed
in advance by extraction cost (the groups that cost the most after the extended
descriptors), not by any TESS result; none is deployed from here.

Writes ``reports/ab/group_sets/NAME/`` (each A/B) and ``reports/ab/group_sets/summary.md``
/ ``summary.json``.

Usage::

    .venv/bin/python experiments/group_sets.py [--teacher models/teacher] [--only NAME,...]
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import subprocess
import sys
from pathlib import Path

# name -> groups the student skips besides the extended descriptors
SKIPS = {
    "no_spectral": ("spectral",),
    "no_contrast": ("contrast",),
    "no_acf": ("voicing", "pitch", "utterance"),
    "no_contrast_acf": ("contrast", "voicing", "pitch", "utterance"),
    "no_spectral_contrast_acf": ("spectral", "contrast", "voicing", "pitch", "utterance"),
}
COMPACT_GROUPS = ("mfcc", "mel", "chroma", "contrast", "spectral", "energy", "voicing",
                  "pitch", "utterance")  # every group but the extended descriptors


def _cli(*args: str) -> None:
    cli = Path(sys.executable).with_name("ser-classic")
    subprocess.run([str(cli), *args], check=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--teacher", default="models/teacher")
    parser.add_argument("--deployed", default="models/deployed")
    parser.add_argument("--data", default=os.environ.get("SER_CLASSIC_DATA", "../shared/data"))
    parser.add_argument("--work", default=".cache/group_sets", help="student models")
    parser.add_argument("--out", default="reports/ab/group_sets")
    parser.add_argument("--only", help="comma-separated subset of the sets (re-runs them)")
    args = parser.parse_args()
    command = "python " + " ".join(shlex.quote(a) for a in sys.argv)
    out, work = Path(args.out), Path(args.work)
    names = args.only.split(",") if args.only else list(SKIPS)
    unknown = sorted(set(names) - set(SKIPS))
    if unknown:
        parser.error(f"unknown set(s) {unknown}; known: {list(SKIPS)}")
    for name in names:
        groups = [g for g in COMPACT_GROUPS if g not in SKIPS[name]]
        _cli("distill", "--teacher", args.teacher, "--student", "compact_int8",
             "--compact-groups", ",".join(groups), "--out", str(work / name))
        _cli("ab", "--a", args.deployed, "--b", str(work / name),
             "--data", str(Path(args.data) / "tess"), "--out", str(out / name))
    rows = []
    for name in SKIPS:
        path = out / name / "summary.json"
        if not path.exists():
            continue
        s = json.loads(path.read_text())
        a, b, cmp = s["models"]["a"], s["models"]["b"], s["comparison"]
        rows.append({"set": name, "skips": ["extended", *SKIPS[name]],
                     "model_id": b["model_id"], "accuracy": b["accuracy"],
                     "accuracy_ci": b["accuracy_ci"], "deployed_accuracy": a["accuracy"],
                     "p_mcnemar": cmp["mcnemar"]["p_value"],
                     "features_p50_ms": b["latency_features"]["p50_ms"],
                     "deployed_features_p50_ms": a["latency_features"]["p50_ms"],
                     "p50_ms": b["latency"]["p50_ms"], "deployed_p50_ms": a["latency"]["p50_ms"],
                     "winner": s["decision"]["winner"], "reason": s["decision"]["reason"]})
    lines = ["# Descriptor groups of the strict compact student: TESS accuracy vs speed", "",
             f"Produced by: `{command}` (each row's A/B: `reports/ab/group_sets/SET/`)", "",
             f"Each set is a compact student (340 inputs, int8) distilled from "
             f"`{args.teacher}` that skips the extended descriptors and the groups named; "
             f"each is A/B-tested against `{args.deployed}` (which skips only the extended "
             f"descriptors) on the 2800 TESS clips, calm counted as neutral. Latency: "
             f"per clip, one clip at a time, A and B alternating in the same run; "
             f"speed-up = deployed p50 / set p50 (end to end, features included). The sets "
             f"were fixed by extraction cost before any of them ran on TESS.", "",
             "| set | skips (besides extended) | TESS accuracy [95 % CI] | deployed | "
             "McNemar p | p50 ms (deployed) | speed-up | A/B winner |",
             "|---|---|---|---|---|---|---|---|"]
    for r in rows:
        lo, hi = r["accuracy_ci"]
        lines.append(
            f"| {r['set']} | {', '.join(r['skips'][1:])} | {r['accuracy']:.3f} "
            f"[{lo:.3f}, {hi:.3f}] | {r['deployed_accuracy']:.3f} | {r['p_mcnemar']:.1e} | "
            f"{r['p50_ms']:.2f} ({r['deployed_p50_ms']:.2f}) | "
            f"{r['deployed_p50_ms'] / r['p50_ms']:.2f}x | "
            f"{'deployed' if r['winner'] == 'a' else 'set'} |")
    best = max(rows, key=lambda r: r["accuracy"]) if rows else None
    if best:
        lines += ["", f"- Most accurate set: `{best['set']}`, {best['accuracy']:.3f} vs the "
                  f"deployed model's {best['deployed_accuracy']:.3f}; "
                  f"{sum(r['winner'] == 'a' for r in rows)} of {len(rows)} sets lose to the "
                  f"deployed model on the decision rule (quality first)."]
    out.mkdir(parents=True, exist_ok=True)
    (out / "summary.md").write_text("\n".join(lines) + "\n")
    (out / "summary.json").write_text(json.dumps({"command": command, "rows": rows},
                                                 indent=2))
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())

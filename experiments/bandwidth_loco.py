"""The features' bandwidth on leave-one-corpus-out and the telephone band
-> reports/bandwidth_loco/.

Measurement only: nothing is shipped, and `FeatureConfig.fmax_hz` stays 7000. Every
spectral descriptor reads the spectrum up to `fmax_hz`; this asks whether reading less of
it, 5500 or 4500 Hz (4000 is the least the library accepts), (A) carries emotion across
corpora better, the corpora differing most in their microphones' and rooms' high bands,
or (B) keeps accuracy under a telephone channel (300-3400 Hz) nearer clean. The features
are extracted anew at each bandwidth (through the shared cache); nothing else changes.
Protocol A is `smile_loco`'s: for every corpus held out in turn (calm left out), each
bandwidth's features scored by the ridge classifier with alpha chosen on the two
training corpora by the teachers' inner criterion, and the bandwidth chosen per fold by
the same criterion (nested); strict and speaker_norm. Protocol B: `floor_ablation`'s
fixed logistic regression (C 0.003) trained on the three corpora without RAVDESS actors
17-24, on every clip of actors 17-20 (calm left out) clean and through
`conditions.telephone`, accuracy under the telephone band as a share of clean; a
speaker_norm model reads each speaker's statistics from that speaker's clips of the same
condition. Actors 21-24 are not read. `floor_ablation`'s fixed-model RAVDESS group6
accuracies are beside.

Rule, fixed before the run (`reports/bandwidth_loco/rule.md`): a lead (A) when the nested
choice's mean LOCO UAR is at least the default's + 0.010 under both normalisations; a
lead (B) for a bandwidth when, under both, its telephone share of clean is at least the
default's + 0.05, its mean LOCO UAR at least the default's - 0.005 and its group6
accuracies each at least the default's - 0.010.

    .venv/bin/python experiments/bandwidth_loco.py [--fmax 7000,5500,4500]
        [--out reports/bandwidth_loco]
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from floor_ablation import (
    PROBE,
    ablation_parser,
    accuracy_row,
    blind_models,
    cv_and_loco,
    report_head,
    report_on_known_emotions,
)
from smile_loco import nested_gain, nested_loco, nested_tables, nested_verdict_line

from ser_classic.conditions import telephone
from ser_classic.data import load_audio
from ser_classic.evaluation import speaker_normalize
from ser_classic.features import FeatureConfig, extract_batch, extract_features

DEFAULT = FeatureConfig().fmax_hz
SR = FeatureConfig().sample_rate  # every set reads 16 kHz; telephone() keeps the rate
LOCO_LEAD = 0.010  # (A): the nested choice's least rise of the mean LOCO UAR
TELEPHONE_LEAD = 0.05  # (B): the least rise of the telephone share of clean
LOCO_SLACK = 0.005  # (B): the most the mean LOCO UAR may fall
GROUP6_SLACK = 0.010  # (B): the most either group6 accuracy may fall
NORMALIZATIONS = ("strict", "speaker_norm")


def set_name(fmax_hz: float) -> str:
    """The report's name of the features read up to ``fmax_hz`` (``librosa``: the
    default, the name `smile_loco`'s tables compare against)."""
    return "librosa" if fmax_hz == DEFAULT else f"fmax {fmax_hz:g}"


def telephone_scores(sets: dict[str, tuple[FeatureConfig, np.ndarray]], rows) -> dict:
    """Protocol B for every set (name -> ``(config, strict rows of rows)``): accuracy of
    the logistic regressions blind to actors 17-24 on actors 17-20's clips, clean and
    through the telephone band, and its share of clean, per normalisation."""
    y, speaker = rows["emotion"].to_numpy(), rows["speaker"].to_numpy()
    probe = np.flatnonzero(np.isin(speaker, PROBE))
    clean = [load_audio(rows["path"][i], sr=SR).astype(np.float64) for i in probe]
    waves = {"clean": clean, "telephone": [telephone(c) for c in clean]}
    out = {}
    for name, (config, X) in sets.items():
        fitted = blind_models(X, speaker_normalize(X, speaker), rows)
        out[name] = {}
        for condition, ws in waves.items():
            F = np.array([extract_features(w, config=config) for w in ws])
            # each speaker's statistics from its clips of the same condition
            F_speaker = speaker_normalize(F, speaker[probe])
            for norm, G in zip(NORMALIZATIONS, (F, F_speaker), strict=True):
                hit = fitted[norm].predict(G) == y[probe]
                out[name].setdefault(norm, {})[condition] = round(float(hit.mean()), 4)
        for norm in NORMALIZATIONS:
            r = out[name][norm]
            r["share"] = round(r["telephone"] / r["clean"], 4) if r["clean"] else float("nan")
        print(f"telephone {name}: " + ", ".join(
            f"{n} {out[name][n]['share']:.3f}" for n in NORMALIZATIONS), flush=True)
    return {"clips": int(probe.size), "sets": out}


def extracted(X, rows, configs: dict[str, FeatureConfig], *, cache: str | None,
              jobs: int) -> dict[str, tuple[FeatureConfig, np.ndarray]]:
    """Every set of ``configs`` (name -> its config) of the manifest ``rows`` -> name ->
    ``(config, strict rows)``; ``X`` holds the rows of the default config."""
    sets = {}
    for name, config in configs.items():
        if config == FeatureConfig():
            F = X
        else:
            F, errors, _ = extract_batch(rows["path"], sha256=rows["sha256"], config=config,
                                         cache_dir=cache, n_jobs=jobs)
            if errors:
                raise SystemExit(f"{len(errors)} clips failed for {name}: {errors[:3]}")
        sets[name] = (config, F)
    return sets


def loco_and_fixed(sets: dict[str, tuple[FeatureConfig, np.ndarray]], y, speaker,
                   corpus) -> dict:
    """Protocol A (nested LOCO) and the fixed-model group6 accuracies of every set of
    :func:`extracted`."""
    fixed = {name: {"feature_config": config.hash,
                    "strict": cv_and_loco(F, y, corpus, speaker),
                    "speaker_norm": cv_and_loco(speaker_normalize(F, speaker), y, corpus,
                                                speaker)}
             for name, (config, F) in sets.items()}
    return {"columns": {n: F.shape[1] for n, (_, F) in sets.items()},
            "loco": nested_loco({n: F for n, (_, F) in sets.items()}, y, speaker, corpus),
            "fixed": fixed}


def measure(X, y, speaker, corpus, *, rows, fmax: list[float], cache: str | None,
            jobs: int) -> dict:
    """Protocols A and B and the fixed-model group6 accuracies for every bandwidth."""
    sets = extracted(X, rows, {set_name(f): FeatureConfig(fmax_hz=f) for f in fmax},
                     cache=cache, jobs=jobs)
    return {**loco_and_fixed(sets, y, speaker, corpus),
            "telephone": telephone_scores(sets, rows)}


def protocol_a_verdict(results: dict) -> dict:
    """Protocol A's verdict on :func:`loco_and_fixed`'s ``results``."""
    return nested_gain(results["loco"], lead=LOCO_LEAD)


def verdict(summary: dict) -> dict:
    """The rule's two verdicts from the summary's results."""
    res = summary["results"]
    loco = {norm: {name: float(np.mean([r["sets"][name]["held_out"] for r in rows]))
                   for name in rows[0]["sets"]}
            for norm, rows in res["loco"].items()}
    tel = res["telephone"]["sets"]
    per_set = {}
    for name in tel:
        if name == "librosa":
            continue
        checks = {}
        for norm in NORMALIZATIONS:
            base, cand = res["fixed"]["librosa"][norm], res["fixed"][name][norm]
            checks[norm] = {
                "telephone": round(tel[name][norm]["share"] - tel["librosa"][norm]["share"], 4),
                "loco": round(loco[norm][name] - loco[norm]["librosa"], 4),
                "group6": round(min(cand[g] - base[g]
                                    for g in ("group6 ridge", "group6 logreg")), 4)}
        lead = all(c["telephone"] >= TELEPHONE_LEAD - 1e-9 and c["loco"] >= -LOCO_SLACK - 1e-9
                   and c["group6"] >= -GROUP6_SLACK - 1e-9 for c in checks.values())
        per_set[name] = {"checks": checks, "lead": lead}
    return {"a": protocol_a_verdict(res), "b": per_set}


def loco_and_fixed_md(results: dict) -> list[str]:
    """The report's part of :func:`loco_and_fixed`'s results."""
    lines = ["## A: leave-one-corpus-out, nested", ""]
    lines += nested_tables({"columns": results["columns"], "results": results["loco"]})[0]
    lines += ["## Fixed models (`floor_ablation`'s ridge alpha 3000 and logistic regression "
              "C 0.003; calm left out)", "",
              "| features | normalisation | RAVDESS group6 ridge | RAVDESS group6 logreg | "
              "LOCO mean, logreg (EMOVO / RAVDESS / TESS) |", "|---|---|---|---|---|"]
    for name, r in results["fixed"].items():
        lines += [accuracy_row(name, norm, r[norm]) for norm in NORMALIZATIONS]
    return lines


def nested_verdict_md(a: dict) -> str:
    """Protocol A's verdict line (:func:`protocol_a_verdict`)."""
    return nested_verdict_line(a, lead=LOCO_LEAD)


def render(summary: dict) -> str:
    res = summary["results"]
    lines = report_head("The features' bandwidth on leave-one-corpus-out and the telephone "
                        "band (issue 19; not shipped)", summary, __doc__)
    lines += ["`librosa` is the library's features as they are (fmax_hz "
              f"{DEFAULT:g}).", "", *loco_and_fixed_md(res)]
    tel = res["telephone"]
    lines += ["", f"## B: the telephone band ({tel['clips']} clips of RAVDESS actors 17-20)",
              "", "Accuracy clean / telephone (share of clean) of the logistic regression "
              "blind to actors 17-24.", "",
              "| features | strict | speaker_norm [same condition] |", "|---|---|---|"]
    for name, r in tel["sets"].items():
        lines.append(f"| {name} | " + " | ".join(
            f"{r[n]['clean']:.3f} / {r[n]['telephone']:.3f} ({r[n]['share']:.0%})"
            for n in NORMALIZATIONS) + " |")
    v = summary["verdict"]
    lines += ["", "## Verdict", "",
              "(A) " + nested_verdict_md(v["a"]), ""]
    for name, b in v["b"].items():
        lines.append(f"(B) {name} less `librosa`: " + "; ".join(
            f"{n}: telephone share {c['telephone']:+.3f}, LOCO {c['loco']:+.3f}, "
            f"group6 (lower of two) {c['group6']:+.3f}" for n, c in b["checks"].items())
            + f" (a lead needs >= +{TELEPHONE_LEAD:.2f}, >= -{LOCO_SLACK:.3f} and >= "
            f"-{GROUP6_SLACK:.3f} under both): **"
            + ("a lead" if b["lead"] else "not a lead") + "**.")
        lines.append("")
    return "\n".join(lines)


def main(argv=None) -> int:
    parser = ablation_parser(__doc__, out="reports/bandwidth_loco", seed=False)
    parser.add_argument("--fmax", default=f"{DEFAULT:g},5500,4500")
    args = parser.parse_args(argv)
    fmax = [float(f) for f in args.fmax.split(",")]
    if fmax[0] != DEFAULT:
        parser.error(f"--fmax starts with the default, {DEFAULT:g}")

    def run(X, y, speaker, corpus, *, rows):
        return measure(X, y, speaker, corpus, rows=rows, fmax=fmax, cache=args.cache,
                       jobs=args.jobs)

    return report_on_known_emotions(args, "bandwidth_loco", argv, run, render,
                                    with_rows=True, verdict=verdict)


if __name__ == "__main__":
    raise SystemExit(main())

"""The silence trim's rule for a steady noise at the edges: accuracy against invariance ->
reports/trim_ablation/.

Measurement only: nothing is chosen or shipped. The preprocessing cuts leading and
trailing frames quieter than the clip's threshold and, when the first (last) ten frames
hold a steady noise (within 6 dB of each other), also frames up to a margin above that
noise, at most up to a headroom below the loudest frame (`ser_classic.augment`'s edge
threshold). `reports/conditions` finds `deployed` missing the invariance target for 1 s of
-60 dBFS noise at both ends; on quiet clips that noise lies within the 20 dB headroom of
the loudest frame and is kept, and the 10 dB margin above the noise's median cuts more of
the clip's quiet tail than the clean clip loses. Each variant changes only that edge
threshold: its level (the edge frames' median or loudest), margin and headroom. The
features of every clip are extracted again with it, in this process and with no cache
(so the script takes no `--cache` or `--jobs`), and scored by the fixed models and
measurements of `floor_ablation`:

1. RAVDESS 6-fold speaker-grouped CV accuracy (ridge and logistic regression) and
   leave-one-corpus-out UAR (logistic regression), strict and speaker-normalised;
2. invariance: logistic regressions trained without RAVDESS actors 17-24, on 40 clips of
   actors 17-20 through the invariance transformations of `bench_conditions` that keep
   16 kHz float input; top-1 agreement with the clean clip and mean |dp| (targets >= 0.95
   and <= 0.05). Actors 21-24, the condition benchmark's held-out speakers, are not read;
3. the span each variant keeps of those 40 clips with 1 s of -60 dBFS noise at both ends,
   against the span it keeps of the clean clip;
4. noise, where the headroom matters (a steady noise within 20 dB of the loudest frame):
   accuracy of the same logistic regressions on every clip of actors 17-20 clean and with
   white noise at 20 and 10 dB SNR (`bench_conditions`' mixing; a speaker-normalised
   model reads each speaker's statistics from its clips of the same condition).

The variants are fixed before the run, from the diagnosis above, not chosen by a measured
shift.

    .venv/bin/python experiments/trim_ablation.py [--out reports/trim_ablation]
"""

from __future__ import annotations

import functools
import sys
import time
from contextlib import contextmanager
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import bench_conditions
import extremes_ablation
from floor_ablation import (
    PROBE,
    ablation_parser,
    blind_models,
    corpus_rows,
    cv_and_loco,
    invariance_scores,
    probe_rows,
    transformed_features,
    write_summary,
)

from ser_classic import augment, features
from ser_classic.conditions import mix_at_snr, pad, white_noise
from ser_classic.data import load_audio
from ser_classic.evaluation import speaker_normalize
from ser_classic.features import FeatureConfig, extract_batch, extract_features

ROOT = Path(__file__).resolve().parents[1]
SR = 16000
NOISE_SNR_DB = (20.0, 10.0)
#: variant -> (edge level, margin above it in dB, headroom below the loudest frame in dB)
VARIANTS = {"median + 10 dB, headroom 20 dB (shipped)": ("median", 10.0, 20.0),
            "loudest + 3 dB, headroom 20 dB": ("loudest", 3.0, 20.0),
            "median + 10 dB, headroom 6 dB": ("median", 10.0, 6.0),
            "loudest + 3 dB, headroom 6 dB": ("loudest", 3.0, 6.0)}
TITLE = "The silence trim's edge-noise rule: accuracy against invariance"
CLOSING = ("Nothing is chosen here: a rule that keeps the accuracy and the LOCO UAR and "
           "meets more invariance targets is a lead for the deployed recipe. It changes "
           "the features of every clip with a steady noise at its edges (training clips "
           "and their degraded copies too): a new feature version, every shipped model "
           "retrained, and every report read from the features rerun.")


def edge_threshold(level: str, margin: float, headroom: float):
    """The library's edge threshold (``augment._edge_threshold``) with this ``level`` of a
    steady edge noise (``"median"`` or ``"loudest"`` frame), ``margin`` dB above it (in
    place of the one the features pass) and ``headroom`` dB below the loudest frame."""
    shipped = augment._edge_threshold

    def threshold(edge_db: np.ndarray, base: float, peak: float, _margin: float) -> float:
        return shipped(edge_db, base, peak, margin, level=level, headroom=headroom)
    return threshold


@contextmanager
def trim_rule(level: str, margin: float, headroom: float):
    """The preprocessing of this process with another edge threshold, restored on exit
    (joblib workers do not see it: extract with ``n_jobs=1``)."""
    shipped = augment._edge_threshold
    augment._edge_threshold = edge_threshold(level, margin, headroom)
    try:
        yield
    finally:
        augment._edge_threshold = shipped


def padded_spans(rows, probe: np.ndarray, config: FeatureConfig, *, seed: int) -> dict:
    """How the kept span of each probe clip with 1 s of -60 dBFS white noise at both ends
    differs from that of the clean clip: clips kept identically, and the median and
    largest shift of the start and the stop (ms)."""
    shifts = []
    for k, i in enumerate(probe):
        y = load_audio(rows["path"][i], sr=SR).astype(np.float64)
        noisy = pad(y, lead_s=1.0, trail_s=1.0, floor_dbfs=-60.0,
                    rng=np.random.default_rng([seed, k]))
        begin, end = features._speech_span(y, config)
        n_begin, n_end = features._speech_span(noisy, config)
        shifts.append((n_begin - SR - begin, n_end - SR - end))
    ms = np.abs(np.array(shifts)) * 1000.0 / SR
    return {"identical": int(np.sum(ms.max(axis=1) == 0)), "clips": len(shifts),
            "start_ms_median": float(np.median(ms[:, 0])), "start_ms_max": float(ms[:, 0].max()),
            "stop_ms_median": float(np.median(ms[:, 1])), "stop_ms_max": float(ms[:, 1].max())}


def noisy_rows(rows, *, seed: int) -> tuple[np.ndarray, dict[str, list[np.ndarray]]]:
    """Every clip of actors 17-20 (calm left out) and its waves: clean and with white noise
    at each of :data:`NOISE_SNR_DB` (seeded per clip) -> ``(rows, {condition: waves})``."""
    y, speaker = rows["emotion"].to_numpy(), rows["speaker"].to_numpy()
    chosen = np.flatnonzero(np.isin(speaker, PROBE) & (y != "calm"))
    clean = [load_audio(rows["path"][i], sr=SR).astype(np.float64) for i in chosen]
    waves = {"clean": clean}
    for k, snr in enumerate(NOISE_SNR_DB):
        waves[f"white {snr:g} dB"] = [
            mix_at_snr(c, white_noise(c.size, rng=np.random.default_rng([seed, k, j])), snr)
            for j, c in enumerate(clean)]
    return chosen, waves


def noisy_accuracy(fitted: dict, rows, chosen: np.ndarray,
                   condition_features: dict[str, np.ndarray]) -> dict:
    """Accuracy per condition of ``floor_ablation.blind_models`` (``fitted``) on the
    ``chosen`` clips; speaker-normalised: each speaker's statistics from its clips of the
    same condition."""
    y, speaker = rows["emotion"].to_numpy(), rows["speaker"].to_numpy()
    return {condition: {
        "strict": float(np.mean(fitted["strict"].predict(F) == y[chosen])),
        "speaker_norm": float(np.mean(fitted["speaker_norm"].predict(
            speaker_normalize(F, speaker[chosen])) == y[chosen]))}
        for condition, F in condition_features.items()}


def measure_in_process(args, argv, script: str, variants: dict, *, spans: bool = False,
                       colouring: bool = False) -> dict:
    """Every variant's features (extracted anew, in this process), accuracy, invariance,
    accuracy under white noise and, with ``spans``, padded spans; with ``colouring``,
    invariance under ``bench_conditions``' microphone colourings too. ``variants``: name ->
    ``(fields, rule)``, where ``fields`` describe the variant in the summary and
    ``rule()`` is the context in which the process extracts its features."""
    rows, y, corpus, speaker = corpus_rows(args)
    config = FeatureConfig()
    probe = probe_rows(rows, seed=args.seed)
    chosen, waves = noisy_rows(rows, seed=args.seed)
    summary = {"command": f"python experiments/{script}.py"
               + "".join(f" {a}" for a in (argv or sys.argv[1:])),
               "feature_config": config.hash, "variants": {}}
    start = time.perf_counter()
    for name, (fields, rule) in variants.items():
        with rule():
            X, errors, _ = extract_batch(rows["path"], sha256=rows["sha256"], config=config,
                                         cache_dir=None, n_jobs=1)
            if errors:
                raise SystemExit(f"{len(errors)} clips failed: {errors[:3]}")
            clean, transformed = transformed_features(config, rows, probe, seed=args.seed)
            coloured = (transformed_features(
                config, rows, probe, seed=args.seed,
                transforms=bench_conditions.colouring_transforms())[1] if colouring else None)
            kept = padded_spans(rows, probe, config, seed=args.seed) if spans else None
            condition_features = {c: np.array([extract_features(w, config=config)
                                               for w in ws]) for c, ws in waves.items()}
        X_speaker = speaker_normalize(X, speaker)
        fitted = blind_models(X, X_speaker, rows)
        summary["variants"][name] = {
            "rule": fields,
            "columns": int(X.shape[1]),
            "accuracy": {"strict": cv_and_loco(X, y, corpus, speaker),
                         "speaker_norm": cv_and_loco(X_speaker, y, corpus, speaker)},
            "invariance": invariance_scores(X, X_speaker, rows, probe, clean, transformed,
                                            fitted=fitted),
            **({"padded_spans": kept} if spans else {}),
            **({"colouring": invariance_scores(X, X_speaker, rows, probe, clean, coloured,
                                               fitted=fitted)} if colouring else {}),
            "noise_accuracy": noisy_accuracy(fitted, rows, chosen, condition_features)}
        print(f"{name} done ({time.perf_counter() - start:.0f} s)", flush=True)
    summary["seconds"] = time.perf_counter() - start
    return summary


def measure(args, argv) -> dict:
    """Every edge rule of :data:`VARIANTS`, with the padded spans."""
    variants = {name: (dict(zip(("level", "margin_db", "headroom_db"), rule, strict=True)),
                       functools.partial(trim_rule, *rule))
                for name, rule in VARIANTS.items()}
    return measure_in_process(args, argv, "trim_ablation", variants, spans=True)


def noise_table(summary: dict) -> list[str]:
    """The report's table of accuracy under white noise, one row per variant."""
    conditions = list(next(iter(summary["variants"].values()))["noise_accuracy"])
    lines = ["## Accuracy under white noise (strict \\| speaker_norm)", "",
             "Every clip of actors 17-20 (calm left out), the same logistic regressions.", "",
             "| variant | " + " | ".join(conditions) + " |", "|---|" + "---|" * len(conditions)]
    for name, v in summary["variants"].items():
        acc = v["noise_accuracy"]
        lines.append(f"| {name} | " + " | ".join(
            f"{acc[c]['strict']:.3f} \\| {acc[c]['speaker_norm']:.3f}" for c in conditions)
            + " |")
    return lines


def render(summary: dict) -> str:
    spans = ["## The span kept of a clip with 1 s of -60 dBFS noise at both ends", "",
             "Against the clean clip's span, 40 clips of actors 17-20: clips kept "
             "identically; shift of the start and of the stop, median / largest (ms).", "",
             "| variant | identical | start shift, ms | stop shift, ms |", "|---|---|---|---|"]
    for name, v in summary["variants"].items():
        s = v["padded_spans"]
        spans.append(f"| {name} | {s['identical']} / {s['clips']} | "
                     f"{s['start_ms_median']:.0f} / {s['start_ms_max']:.0f} | "
                     f"{s['stop_ms_median']:.0f} / {s['stop_ms_max']:.0f} |")
    closing = "\n".join([*spans, "", *noise_table(summary), "", CLOSING])
    return extremes_ablation.render(summary, title=TITLE, doc=__doc__, closing=closing)


def main(argv=None) -> int:
    args = ablation_parser(__doc__, out="reports/trim_ablation", cached=False).parse_args(argv)
    summary = measure(args, argv)
    write_summary(ROOT / args.out, summary, render(summary))
    return 0


if __name__ == "__main__":
    sys.exit(main())

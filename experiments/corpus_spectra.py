"""Long-term spectra of the corpora by emotion: how far apart the corpora's spectral tilts
are, beside how far apart the emotions' are within a corpus (issue 19; measurement only).

Every clip of the manifest but those of ``--exclude-speakers`` (16 kHz mono, as the
library reads it): 1024-point Hann frames every 256 samples, the frames within 30 dB of
the clip's loudest kept (its speech), their mean power spectrum in octave bands, in dB
below the clip's loudest band (the level left out, the shape kept). Means over the clips
of each corpus and emotion; per band, the span of the corpora's neutral means beside the
span of each corpus's emotions; and each corpus's neutral spectrum's nearest emotions in
the other corpora.

Usage::

    python experiments/corpus_spectra.py --manifest data/manifest.csv \
        --exclude-speakers ravdess_21,ravdess_22,ravdess_23,ravdess_24 \
        --out reports/corpus_spectra
"""

from __future__ import annotations

import argparse
import itertools
import json
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

from ser_classic.data import load_audio, load_manifest
from ser_classic.reporting import write_text

EDGES_HZ = (100, 200, 400, 800, 1600, 3200, 6400, 8000)
BANDS = [f"{lo}-{hi}" for lo, hi in itertools.pairwise(EDGES_HZ)]
SR, N_FFT, HOP, ACTIVE_DB = 16000, 1024, 256, 30.0


def band_levels(y: np.ndarray) -> np.ndarray:
    """Octave-band levels [shape=(len(BANDS),)] of a clip's active frames, in dB below its
    loudest band."""
    if y.size < N_FFT:
        y = np.pad(y, (0, N_FFT - y.size))
    frames = np.lib.stride_tricks.sliding_window_view(y, N_FFT)[::HOP] * np.hanning(N_FFT)
    power = np.abs(np.fft.rfft(frames, axis=1)) ** 2
    energy = 10 * np.log10(power.sum(axis=1) + 1e-20)
    spectrum = power[energy > energy.max() - ACTIVE_DB].mean(axis=0)
    freqs = np.fft.rfftfreq(N_FFT, 1 / SR)
    levels = np.array([10 * np.log10(spectrum[(freqs >= lo) & (freqs < hi)].mean() + 1e-30)
                       for lo, hi in itertools.pairwise(EDGES_HZ)])
    return levels - levels.max()


def measure(rows: pd.DataFrame) -> pd.DataFrame:
    levels = np.array([band_levels(load_audio(p, sr=SR).astype(np.float64))
                       for p in rows["path"]])
    out = rows[["corpus", "speaker", "emotion"]].reset_index(drop=True).copy()
    out[BANDS] = levels
    return out


def render(per_clip: pd.DataFrame, *, command: str, seconds: float,
           excluded: list[str] = ()) -> tuple[str, dict]:
    means = per_clip.groupby(["corpus", "emotion"])[BANDS].mean()
    counts = per_clip.groupby(["corpus", "emotion"]).size()
    neutral = means.xs("neutral", level="emotion")
    emotion_span = means.groupby(level="corpus").agg(lambda b: b.max() - b.min())
    speaker_sd = (per_clip[per_clip["emotion"] == "neutral"]
                  .groupby(["corpus", "speaker"])[BANDS].mean().groupby(level=0).std())
    nearest = {}
    for corpus, shape in neutral.iterrows():  # the other corpora's nearest emotion
        others = means[means.index.get_level_values("corpus") != corpus]
        rms = np.sqrt(((others - shape) ** 2).mean(axis=1)).sort_values()
        nearest[corpus] = [(f"{c}/{e}", round(float(d), 2)) for (c, e), d in rms[:3].items()]

    def row(cells):
        return " | ".join(f"{v:.1f}" for v in cells)

    head = " | ".join(f"{b} Hz" for b in BANDS)
    lines = [
        "# Long-term spectra of the corpora by emotion (issue 19; measurement only)", "",
        f"Command: `{command}` ({seconds:.0f} s).", "",
        "Every clip of the manifest (but the speakers left out below), as the library reads "
        "it (16 kHz mono): the mean power "
        f"spectrum of its frames within {ACTIVE_DB:g} dB of its loudest (1024-point Hann "
        "frames, hop 256) in octave bands, in dB below the clip's loudest band (its level "
        "left out, its shape kept). Nothing is trained; no choice is made here. "
        + (f"Speakers left out: {', '.join(excluded)}." if excluded else ""), "",
        "## Mean band levels per corpus and emotion (dB)", "",
        f"| corpus | emotion | clips | {head} |", "|---" * (len(BANDS) + 3) + "|"]
    lines += [f"| {c} | {e} | {counts[(c, e)]} | {row(r)} |" for (c, e), r in means.iterrows()]
    lines += ["", "## Corpus against emotion", "",
              "Per band: how far apart the corpora's neutral clips are (the span of their "
              "means), how far apart the emotions are within each corpus (the span of its "
              "emotions' means), and the sd of the neutral level over each corpus's "
              "speakers (dB).", "", f"| | {head} |", "|---" * (len(BANDS) + 1) + "|",
              f"| neutral, span over corpora | {row(neutral.max() - neutral.min())} |"]
    lines += [f"| {c}: span over emotions | {row(r)} |" for c, r in emotion_span.iterrows()]
    lines += [f"| {c}: neutral sd over speakers | {row(r)} |"
              for c, r in speaker_sd.iterrows() if r.notna().all()]
    lines += ["", "Each corpus's neutral spectrum against the other corpora's emotions: the "
              "nearest three (RMS difference over the bands, dB):", ""]
    lines += [f"- {c} neutral: " + ", ".join(f"{n} {d:.2f}" for n, d in near)
              for c, near in nearest.items()]
    summary = {"command": command, "seconds": round(seconds, 1), "bands_hz": BANDS,
               "active_db": ACTIVE_DB, "excluded_speakers": list(excluded),
               "means": {f"{c}/{e}": r.round(2).to_dict() for (c, e), r in means.iterrows()},
               "neutral_span_over_corpora": (neutral.max() - neutral.min()).round(2).to_dict(),
               "emotion_span": {c: r.round(2).to_dict() for c, r in emotion_span.iterrows()},
               "neutral_nearest_other_corpus": nearest}
    return "\n".join(lines) + "\n", summary


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--manifest", type=Path, default=Path("data/manifest.csv"))
    parser.add_argument("--out", type=Path, default=Path("reports/corpus_spectra"))
    parser.add_argument("--exclude-speakers", default="",
                        help="comma-separated speakers left out (the held-out actors)")
    args = parser.parse_args(argv)
    command = "python experiments/corpus_spectra.py " + " ".join(
        argv if argv is not None else sys.argv[1:])
    start = time.perf_counter()
    manifest = load_manifest(args.manifest)
    excluded = [x for x in args.exclude_speakers.split(",") if x]
    per_clip = measure(manifest[~manifest["speaker"].isin(excluded)])
    text, summary = render(per_clip, command=command.strip(),
                           seconds=time.perf_counter() - start, excluded=excluded)
    args.out.mkdir(parents=True, exist_ok=True)
    write_text(args.out / "report.md", text)
    write_text(args.out / "summary.json", json.dumps(summary, indent=1) + "\n")
    print(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

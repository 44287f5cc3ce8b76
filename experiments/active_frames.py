"""Functionals over active frames only: accuracy against invariance ->
reports/active_frames/.

Measurement only: nothing is chosen or shipped. The shipped features summarise every frame
of the span the silence trim keeps, pauses and a clip's quiet edges included; what lies
there changes with the recording (a noise floor in the pauses, noise padding the trim
keeps) and not with the emotion. `reports/trim_ablation` found that no edge threshold of
the trim removes the "1 s -60 dBFS noise both ends" miss, because the clean clip keeps a
quiet tail of its own, and named this as the lead: statistics over the active frames
only. Each variant keeps, after the STFT, the frames whose power (the spectrum with its
noise floor, summed over bins) is within a given number of dB of the clip's 95th
percentile frame; every descriptor (functionals, deltas, voicing, pitch, the extended
block) then reads those frames only, the zero-crossing rate is taken on the full frame
grid and then restricted to them, and the `duration` descriptor becomes the active
frames' duration. A clip with fewer than 3 active frames keeps every frame. The floor is
30 dB below the reference level (`FeatureConfig.floor_db`), so digital silence and a
faint noise are out at either threshold. The features of every clip are extracted again
in this process with no cache and scored as in `trim_ablation` (`floor_ablation`'s fixed
models; invariance on 40 clips of actors 17-20; accuracy under white noise on actors
17-20; actors 21-24 are not read).

The thresholds (20 and 25 dB below the 95th percentile: 10 and 5 dB above the floor) and
the rule were fixed before the first run. The last variant was added after it, to find
where the accuracy is lost: only the functionals of the frame-level descriptors (and their
deltas) read the active frames; the extended block (voiced and unvoiced statistics,
contours, rhythm) and the utterance descriptors (duration, voiced ratio, jitter,
shimmer) read every frame as shipped. A variant is a lead for the deployed recipe when it
meets more invariance targets than the shipped features (strict and speaker_norm
together) while neither its mean LOCO UAR nor its RAVDESS group6 logistic-regression
accuracy drops by more than 0.005 in either normalisation.

    .venv/bin/python experiments/active_frames.py [--out reports/active_frames]
"""

from __future__ import annotations

import contextlib
import functools
import sys
from contextlib import contextmanager
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import extremes_ablation
from floor_ablation import ablation_parser, write_summary
from trim_ablation import measure_in_process, noise_table

from ser_classic import features
from ser_classic.features import FeatureConfig

ROOT = Path(__file__).resolve().parents[1]
MIN_FRAMES = 3
#: variant -> (frames kept within this many dB of the 95th percentile frame, or None:
#: all; the descriptor groups that still read every frame)
VARIANTS = {"every kept frame (shipped)": (None, ()),
            "active frames, within 25 dB": (25.0, ()),
            "active frames, within 20 dB": (20.0, ()),
            "functionals over active frames (20 dB), the rest over every frame":
                (20.0, ("extended", "utterance"))}
TOLERANCE = 0.005  # the rule's largest drop of LOCO mean and group6 accuracy
TITLE = "Functionals over active frames only: accuracy against invariance"
CLOSING = ("Nothing is shipped here: a variant that the rule above calls a lead changes "
           "every clip's features (training clips and their degraded copies too): a new "
           "feature version, the torch port, every shipped model retrained, and every "
           "report read from the features rerun.")


def active_frames(power: np.ndarray, within_db: float) -> np.ndarray:
    """Indices of the frames of ``power`` [shape=(bins, T)] whose summed power is within
    ``within_db`` of the 95th percentile frame; every frame when fewer than
    :data:`MIN_FRAMES` are."""
    energy = power.sum(axis=0, dtype=np.float64)
    reference = np.percentile(energy, 95.0)
    kept = np.flatnonzero(energy >= reference * 10.0 ** (-within_db / 10.0))
    return kept if kept.size >= MIN_FRAMES else np.arange(energy.size)


def active_analysis(within_db: float, every_frame: tuple[str, ...] = ()) -> type:
    """The features' analysis of one clip, restricted to its active frames but for the
    descriptor groups in ``every_frame``, which read every frame as shipped."""
    shipped = features._Analysis

    class ActiveAnalysis(shipped):
        def __init__(self, S: np.ndarray, y: np.ndarray, config: FeatureConfig) -> None:
            self.every = shipped(S, y, config) if every_frame else None
            super().__init__(S, y, config)
            self.n_frames = self.P.shape[1]
            self.frames = active_frames(self.P, within_db)
            self.P = np.ascontiguousarray(self.P[:, self.frames])
            self.S = np.sqrt(self.P)

        def get(self, key: str):
            return self.every.get(key) if key in every_frame else super().get(key)

        def _energy(self):
            rms_db = 10 * np.log10(self.P.sum(axis=0) / self.config.win_length + 1e-10)
            zcr = features._zero_crossing_rate(self.y, self.n_frames, self.config,
                                               self.f["zcr_dead_zone"])[self.frames]
            return np.vstack([rms_db, zcr]).astype(np.float32)

        def _utterance(self):
            out = super()._utterance()
            out[0] = self.frames.size * self.config.hop_length / self.config.sample_rate
            return out

    return ActiveAnalysis


@contextmanager
def analysis_as(analysis: type):
    """The features of this process read off the spectrogram by ``analysis`` (a subclass
    of the shipped one), restored on exit (joblib workers do not see it: extract with
    ``n_jobs=1``)."""
    shipped = features._Analysis
    features._Analysis = analysis
    try:
        yield
    finally:
        features._Analysis = shipped


def reshaped_analysis(reshape) -> type:
    """The features' analysis of one clip whose power spectrogram is
    ``reshape(power, with_floor)`` before the noise floor is added back: ``power``
    [shape=(bins, T)] without the floor, ``with_floor`` as the shipped analysis has it."""
    shipped = features._Analysis

    class ReshapedAnalysis(shipped):
        def __init__(self, S: np.ndarray, y: np.ndarray, config: FeatureConfig) -> None:
            super().__init__(S, y, config)
            floor = self.f["floor"]
            self.P = reshape(self.P - floor, self.P) + floor
            self.S = np.sqrt(self.P)

    return ReshapedAnalysis


def active_only(within_db: float, every_frame: tuple[str, ...] = ()):
    """The features of this process over active frames only (but ``every_frame``'s
    groups), as :func:`analysis_as`."""
    return analysis_as(active_analysis(within_db, every_frame))


def invariance_met(variant: dict) -> int:
    """Invariance targets a variant meets, strict and speaker_norm together."""
    return sum(extremes_ablation.meets(r[k]) for r in variant["invariance"].values()
               for k in ("strict", "speaker_norm"))


def kept_accuracy(variant: dict, base: dict) -> bool:
    """Neither mean LOCO UAR nor RAVDESS group6 logreg accuracy more than
    :data:`TOLERANCE` below ``base``'s, in either normalisation."""
    return all(variant["accuracy"][k][m] >= base["accuracy"][k][m] - TOLERANCE
               for k in ("strict", "speaker_norm") for m in ("loco mean", "group6 logreg"))


def leads(summary: dict) -> list[str]:
    """The variants that :data:`TOLERANCE`'s rule (module docstring) calls a lead."""
    names = list(summary["variants"])
    base = summary["variants"][names[0]]
    return [n for n in names[1:] if invariance_met(summary["variants"][n]) > invariance_met(base)
            and kept_accuracy(summary["variants"][n], base)]


def render_leads(summary: dict, *, rule: str, title: str, doc: str, closing: str,
                 found: list[str] | None = None, tables: list[str] = ()) -> str:
    """The report of a variant ablation: ``extremes_ablation``'s tables, the white-noise
    table (and ``tables``' lines), then the leads (``found``, default :func:`leads`'s;
    ``rule`` opens that sentence)."""
    found = leads(summary) if found is None else found
    verdict = f"{rule}, a lead: {', '.join(found)}." if found else f"{rule}, no variant is a lead."
    closing = "\n".join([*noise_table(summary), "", *([*tables, ""] if tables else []),
                         verdict, "", closing])
    return extremes_ablation.render(summary, title=title, doc=doc, closing=closing)


def render(summary: dict) -> str:
    return render_leads(summary, title=TITLE, doc=__doc__, closing=CLOSING, rule=(
        "By the rule fixed before the first run (applied to the added variant too)"))


def main(argv=None) -> int:
    args = ablation_parser(__doc__, out="reports/active_frames", cached=False).parse_args(argv)
    variants = {name: ({"within_db": db, "every_frame": list(every)},
                       contextlib.nullcontext if db is None else
                       functools.partial(active_only, db, every))
                for name, (db, every) in VARIANTS.items()}
    summary = measure_in_process(args, argv, "active_frames", variants)
    write_summary(ROOT / args.out, summary, render(summary))
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Gammatone and power-normalised cepstra on leave-one-corpus-out -> reports/cepstra_loco/.

Measurement only: nothing is shipped, and the deployed feature set is unchanged. GFCC
(cepstra of a gammatone filterbank on the ERB scale) and PNCC (power-normalised cepstra,
Kim & Stern 2016: medium-time power bias subtraction and a power-law nonlinearity) are
the classic noise- and channel-robust alternatives to MFCCs, which the library's
features are built on. This asks whether either, appended to the library's features,
carries emotion across corpora better. Both come from `spafe` (13 cepstra, its defaults:
25 ms Hamming frames every 10 ms), computed on the speech the library keeps
(`features.preprocess`: trim and level; plus a white noise at -100 dB of the levelled
speech, `DITHER`, without which PNCC is NaN over digital silence inside a clip: a step
the rule did not name, added after the first run stopped on such an EMOVO clip), each
summarised by the mean, standard deviation and 10th / 50th / 90th percentiles of every
cepstrum and of its first difference (130 columns per set). The protocol is
`smile_loco`'s: for every corpus held out in turn (calm left out), each set scored by
the ridge classifier with alpha chosen on the two training corpora by the teachers'
inner criterion, and the set chosen per fold by the same criterion (nested); strict and
speaker_norm.

Rule, fixed before the run (`reports/cepstra_loco/rule.md`): a lead when the nested
choice's mean LOCO UAR is at least the `librosa` set's + 0.010 under both
normalisations.

    .venv/bin/python experiments/cepstra_loco.py [--cepstra-cache .cache/cepstra]
        [--out reports/cepstra_loco]
"""

from __future__ import annotations

import hashlib
import io
import sys
import warnings
from pathlib import Path

import numpy as np
from joblib import Parallel, delayed

sys.path.insert(0, str(Path(__file__).resolve().parent))
from floor_ablation import ablation_parser, report_head, report_on_known_emotions
from smile_loco import nested_gain, nested_loco, nested_tables, nested_verdict_line

from ser_classic.data import atomic_write_bytes, load_audio
from ser_classic.features import FeatureConfig, preprocess

N_CEPS = 13
PERCENTILES = (10, 50, 90)
LEAD = 0.010  # the rule's least rise of the nested choice's mean LOCO UAR
KINDS = ("gfcc", "pncc")
#: White noise added to the levelled speech (reference level 1) before both kinds: PNCC's
#: weights divide by the medium-time power, 0 in a stretch of digital silence inside a
#: clip (EMOVO has such gaps), which would make its cepstra NaN.
DITHER = 1e-5


def functionals(frames: np.ndarray) -> np.ndarray:
    """Mean, standard deviation and ``PERCENTILES`` of every column of ``frames``
    [shape=(n_frames, N_CEPS)] and of its first difference -> [shape=(10 * N_CEPS,)]."""
    out = []
    for F in (frames, np.diff(frames, axis=0)):
        out += [F.mean(axis=0), F.std(axis=0),
                *np.percentile(F, PERCENTILES, axis=0)]
    return np.concatenate(out)


def clip_cepstra(path: str, *, config: FeatureConfig) -> dict[str, np.ndarray]:
    """Both kinds' functionals of one file's kept speech."""
    from spafe.features.gfcc import gfcc
    from spafe.features.pncc import pncc

    y = preprocess(load_audio(path, sr=config.sample_rate), config=config)
    y = y + DITHER * np.random.default_rng(0).standard_normal(y.size)
    with warnings.catch_warnings():  # PNCC divides by its own estimates on silence
        warnings.simplefilter("ignore", RuntimeWarning)
        out = {"gfcc": functionals(gfcc(y, fs=config.sample_rate, num_ceps=N_CEPS)),
               "pncc": functionals(pncc(y, fs=config.sample_rate, num_ceps=N_CEPS))}
    for kind, x in out.items():
        if not np.isfinite(x).all():
            raise RuntimeError(f"{path}: {kind} is not finite")
    return out


def cepstra(rows, *, cache: str | None, jobs: int) -> dict[str, np.ndarray]:
    """``KINDS`` of every row of the manifest ``rows`` -> name -> [shape=(n_rows, 130)],
    cached as one file per kind, keyed by the rows' sha256."""
    config = FeatureConfig()
    key = hashlib.sha256("".join(rows["sha256"]).encode()).hexdigest()[:16]
    files = {k: Path(cache) / f"{k}-{key}.npy" for k in KINDS} if cache else {}
    if files and all(f.is_file() for f in files.values()):
        return {k: np.load(f) for k, f in files.items()}
    per_clip = Parallel(n_jobs=jobs)(delayed(clip_cepstra)(p, config=config)
                                     for p in rows["path"])
    out = {k: np.stack([c[k] for c in per_clip]) for k in KINDS}
    for k, f in files.items():
        buf = io.BytesIO()
        np.save(buf, out[k])
        atomic_write_bytes(f, buf.getvalue())
    return out


def verdict(summary: dict) -> dict:
    """Per normalisation: the nested choice's mean LOCO UAR less ``librosa``'s, and
    whether the rule holds (both normalisations)."""
    return nested_gain(summary["results"], lead=LEAD)


def render(summary: dict) -> str:
    lines = report_head("Gammatone and power-normalised cepstra on leave-one-corpus-out "
                        "(issue 19; not shipped)", summary, __doc__)
    tables, _ = nested_tables(summary)
    lines += [*tables, "## Verdict", "",
              nested_verdict_line(summary["verdict"], lead=LEAD), ""]
    return "\n".join(lines)


def main(argv=None) -> int:
    parser = ablation_parser(__doc__, out="reports/cepstra_loco", seed=False)
    parser.add_argument("--cepstra-cache", default=".cache/cepstra")
    args = parser.parse_args(argv)
    columns = {}

    def measure(X, y, speaker, corpus, *, rows):
        sets = cepstra(rows, cache=args.cepstra_cache, jobs=args.jobs)
        columns.update({"librosa": X.shape[1], **{k: F.shape[1] for k, F in sets.items()}})
        return nested_loco({"librosa": X, **{f"librosa + {k}": np.hstack([X, F])
                                              for k, F in sets.items()}},
                           y, speaker, corpus)

    return report_on_known_emotions(args, "cepstra_loco", argv, measure, render,
                                    columns=columns, with_rows=True, verdict=verdict)


if __name__ == "__main__":
    raise SystemExit(main())

"""Clip-level functionals against functionals of short segments pooled over the clip, under
leave-one-corpus-out -> reports/segment_pooling/.

Measurement only: nothing is chosen or shipped. The library summarises each clip's
contours by functionals over the whole clip (after the shared preprocessing: trim, level).
TESS's clips are one carrier phrase with a word, RAVDESS's one of two short sentences,
EMOVO's fourteen sentences and nonsense phrases: functionals over the whole clip also
describe its length and structure, which differ from corpus to corpus. A segment model
sees only windows of the same length in every corpus. Each clip's preprocessed waveform
is cut into windows of `L` seconds every `H` seconds (the last window ends at the clip's
end; a clip shorter than `L` is one window), the library's features are computed on each
window, and:

- `clip`: the fixed logistic regression of `floor_ablation` (C 0.003, standardised,
  balanced classes) on the clip-level features (the cached default features);
- `segments`: the same model on the windows, each labelled with its clip's emotion and
  weighted so that every clip weighs 1 and every class the same total; a clip's
  probabilities are the normalised geometric mean of its windows';
- `clip+segments`: the normalised product of the two (a late fusion).

Each corpus held out in turn (trained on the other two; calm left out first, as
`--exclude-emotions calm`), strict and speaker-normalised (each speaker's clips, or
windows, standardised by that speaker's own statistics); closed-set UAR and ECE of 15
bins on the held-out corpus.

    .venv/bin/python experiments/segment_pooling.py [--segments 1:0.5,2:1] [--out DIR]
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
from joblib import Parallel, delayed

sys.path.insert(0, str(Path(__file__).resolve().parent))
from floor_ablation import (
    CORPORA,
    _models,
    ablation_parser,
    class_balanced,
    report_head,
    report_on_known_emotions,
    uar_ece,
)

from ser_classic.data import load_audio
from ser_classic.evaluation import speaker_normalize
from ser_classic.features import (
    FeatureConfig,
    _Analysis,
    _one_blas_thread,
    _stft,
    _summarise,
    preprocess,
)

POOLINGS = ("clip", "segments", "clip+segments")
LEAD = 0.010  # a lead: the mean LOCO UAR rises by this much under both normalisations


def window_starts(n: int, *, length: int, hop: int) -> list[int]:
    """Start samples of the windows of a clip of ``n`` samples: every ``hop`` samples, the
    last ending at the clip's end; ``[0]`` (the whole clip) when ``n <= length``."""
    if n <= length:
        return [0]
    starts = list(range(0, n - length + 1, hop))
    if starts[-1] + length < n:
        starts.append(n - length)
    return starts


def segment_features(path: str, *, length_s: float, hop_s: float,
                     config: FeatureConfig | None = None) -> np.ndarray:
    """The library's features of each window of the clip at ``path`` after the shared
    preprocessing [shape=(n_windows, n_features)] (``config``: default features)."""
    config = config or FeatureConfig()
    y = preprocess(load_audio(path, sr=config.sample_rate), config=config)
    length, hop = round(length_s * config.sample_rate), round(hop_s * config.sample_rate)
    with _one_blas_thread():
        return np.array([_summarise(_Analysis(_stft(w, config), w, config), config, None)
                         for w in (y[s:s + length] for s in
                                   window_starts(y.size, length=length, hop=hop))])


def pooled_log_proba(log_proba: np.ndarray, clip: np.ndarray, n_clips: int) -> np.ndarray:
    """Each clip's mean of its windows' log-probabilities, normalised
    [shape=(n_clips, n_classes)] (``clip``: each window's clip, 0 .. n_clips - 1)."""
    total = np.zeros((n_clips, log_proba.shape[1]))
    np.add.at(total, clip, log_proba)
    mean = total / np.bincount(clip, minlength=n_clips)[:, None]
    return mean - np.logaddexp.reduce(mean, axis=1, keepdims=True)


def _log(p: np.ndarray) -> np.ndarray:
    return np.log(np.clip(p, 1e-12, 1.0))


def _normalised(X: np.ndarray, speaker: np.ndarray, norm: str) -> np.ndarray:
    return X if norm == "strict" else speaker_normalize(X, speaker)


def clip_log_proba(X, y, speaker, corpus) -> dict:
    """The clip-level model's classes and log-probabilities of each held-out corpus, per
    normalisation (fitted once, shared by every window length)."""
    out = {}
    for norm in ("strict", "speaker_norm"):
        Xn = _normalised(X, speaker, norm)
        out[norm] = {}
        for held in CORPORA:
            train, test = corpus != held, corpus == held
            model = _models()["logreg"]().fit(Xn[train], y[train])
            out[norm][held] = (model.classes_, _log(model.predict_proba(Xn[test])))
    return out


def loco(clip_logs: dict, XS, clip, y, speaker, corpus) -> dict:
    """Per normalisation, held-out corpus and pooling: UAR and ECE (``clip_logs``:
    :func:`clip_log_proba`)."""
    n_windows = np.bincount(clip, minlength=len(y))
    out = {}
    for norm in ("strict", "speaker_norm"):
        XSn = _normalised(XS, speaker[clip], norm)
        out[norm] = {}
        for held in CORPORA:
            train, test = np.flatnonzero(corpus != held), np.flatnonzero(corpus == held)
            classes, clip_log = clip_logs[norm][held]
            windows = np.isin(clip, train)
            labels = y[clip[windows]]
            seg_model = _models(balanced=False)["logreg"]().fit(
                XSn[windows], labels, logisticregression__sample_weight=class_balanced(
                    1.0 / n_windows[clip[windows]], labels))
            if not np.array_equal(seg_model.classes_, classes):
                raise RuntimeError(f"{held}: the two models know other classes")
            held_windows = np.isin(clip, test)
            by_clip = np.searchsorted(test, clip[held_windows])
            logs = {"clip": clip_log,
                    "segments": pooled_log_proba(
                        _log(seg_model.predict_proba(XSn[held_windows])), by_clip, test.size)}
            fused = logs["clip"] + logs["segments"]
            logs["clip+segments"] = fused - np.logaddexp.reduce(fused, axis=1, keepdims=True)
            out[norm][held] = {name: uar_ece(y[test], classes, np.exp(logs[name]))
                               for name in POOLINGS}
            print(f"{norm} {held}: " + ", ".join(
                f"{k} {v['uar']:.3f}" for k, v in out[norm][held].items()), flush=True)
    return out


def run(X, y, speaker, corpus, *, rows, segments: list[tuple[float, float]],
        jobs: int) -> dict:
    """:func:`loco` for every window length and hop in ``segments``."""
    clip_logs, out = clip_log_proba(X, y, speaker, corpus), {}
    for length_s, hop_s in segments:
        parts = Parallel(n_jobs=jobs, batch_size=16)(
            delayed(segment_features)(p, length_s=length_s, hop_s=hop_s)
            for p in rows["path"])
        clip = np.concatenate([np.full(len(p), i) for i, p in enumerate(parts)])
        XS = np.concatenate(parts)
        if not np.isfinite(XS).all():
            raise RuntimeError(f"non-finite window features at L {length_s} s")
        key = f"L {length_s:g} s, H {hop_s:g} s"
        out[key] = {"windows per clip": {c: round(float(np.mean(
                        np.bincount(clip)[corpus == c])), 2) for c in CORPORA},
                    "loco": loco(clip_logs, XS, clip, y, speaker, corpus)}
    return out


def render(summary: dict) -> str:
    lines = report_head("Segment functionals pooled over the clip, under leave-one-corpus-"
                        "out (not shipped)", summary, __doc__)
    best = {}
    for key, variant in summary["results"].items():
        windows = ", ".join(f"{c} {n}" for c, n in variant["windows per clip"].items())
        lines += [f"## {key}", "", f"Windows per clip: {windows}.", "",
                  "| normalisation | pooling | " + " | ".join(CORPORA) + " | mean UAR | "
                  "mean ECE |", "|---|---|" + "---|" * (len(CORPORA) + 2)]
        for norm, per in variant["loco"].items():
            for name in POOLINGS:
                uars = [per[c][name]["uar"] for c in CORPORA]
                eces = [per[c][name]["ece"] for c in CORPORA]
                lines.append(f"| {norm} | {name} | " + " | ".join(f"{u:.3f}" for u in uars)
                             + f" | **{np.mean(uars):.3f}** | {np.mean(eces):.3f} |")
                if name != "clip":
                    gain = np.mean(uars) - np.mean([per[c]["clip"]["uar"] for c in CORPORA])
                    best[(norm, f"{name}, {key}")] = gain
        lines.append("")
    for norm in ("strict", "speaker_norm"):
        (_, name), gain = max(((k, g) for k, g in best.items() if k[0] == norm),
                              key=lambda kv: kv[1])
        lines.append(f"- {norm}: the largest change of the mean LOCO UAR over `clip` is "
                     f"{gain:+.3f} ({name}).")
    leads = sorted({name for (norm, name), gain in best.items() if norm == "strict"
                    and gain >= LEAD and best[("speaker_norm", name)] >= LEAD})
    lines += ["", "Each column is one held-out corpus, so a change of about a point in the "
              "mean is within what a choice among variants on three scores finds by chance. "
              f"Rule of the augmentation ablations: a lead when the mean rises by at least "
              f"{LEAD} under both normalisations. "
              + (f"Leads: {', '.join(leads)}." if leads else
                 "No variant is a lead: the library keeps clip-level functionals."), ""]
    return "\n".join(lines)


def main(argv=None) -> int:
    p = ablation_parser(__doc__, out="reports/segment_pooling", seed=False)
    p.add_argument("--segments", default="1:0.5,2:1",
                   help="window length and hop in seconds, L:H, comma-separated")
    args = p.parse_args(argv)
    segments = [tuple(float(v) for v in s.split(":")) for s in args.segments.split(",")]
    return report_on_known_emotions(
        args, "segment_pooling", argv,
        lambda *a, rows: run(*a, rows=rows, segments=segments, jobs=args.jobs), render,
        with_rows=True)


if __name__ == "__main__":
    raise SystemExit(main())

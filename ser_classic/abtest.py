"""A/B test of two deployed models on the same clips of a corpus neither was trained on.

Labels of the test corpus and predictions of the models meet in one label space, declared
up front (:func:`label_mapping`): the canonical emotions, with a model's ``calm``
prediction counted as ``neutral`` (``calm_as="neutral"``) or as an error
(``calm_as="wrong"``) when the test corpus has no calm clips (TESS; its ``ps`` is already
``surprised``). Each clip goes through both models (order alternating clip by clip), end
to end from the decoded waveform: features, speaker normalisation, classifier. The winner
follows :data:`DECISION_RULE`, fixed before the run.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from .errors import ParameterError
from .evaluation import mcnemar_test

__all__ = [
    "ALPHA",
    "DECISION_RULE",
    "SPEED_MARGIN",
    "ab_report",
    "bootstrap_ci",
    "decide",
    "label_mapping",
    "quality_threshold",
    "run_ab",
    "spread_margin",
    "uar",
]

ALPHA = 0.05
DECISION_RULE = (
    "Quality first: if McNemar's exact test on paired correctness gives p < 0.05 AND the "
    "95 % paired-bootstrap CI of the accuracy difference excludes 0 AND the difference is "
    "larger than min_difference (the seed spread of the compared figure, given before the "
    "run; 0 when none is given), the more accurate model wins. Otherwise the two are tied "
    "on quality and speed breaks the tie: the model with the lower median (p50) "
    "end-to-end latency per clip wins, unless the two medians are within 5 % of each "
    "other, in which case A (the incumbent, e.g. the CV winner) is kept.")
SPEED_MARGIN = 0.05


# --------------------------------------------------------------------------- metrics
def uar(y_true: np.ndarray, y_pred: np.ndarray, *, labels: Sequence[str]) -> float:
    """Unweighted average recall over the ``labels`` present in ``y_true``."""
    recalls = [np.mean(y_pred[y_true == c] == c) for c in labels if np.any(y_true == c)]
    return float(np.mean(recalls)) if recalls else float("nan")


def bootstrap_ci(stat, n: int, *, n_boot: int = 2000, rng: np.random.Generator,
                 level: float = 0.95) -> tuple[float, float]:
    """Percentile CI of ``stat(indices)`` over ``n_boot`` resamples of ``range(n)``."""
    values = np.array([stat(rng.integers(0, n, n)) for _ in range(n_boot)])
    lo, hi = np.nanquantile(values, [(1 - level) / 2, (1 + level) / 2])
    return float(lo), float(hi)


def label_mapping(model_classes: Sequence[str], test_labels: Sequence[str], *,
                  calm_as: str = "neutral") -> dict[str, str | None]:
    """Where each model class lands in the test label space (None: always wrong).

    ``calm`` maps to itself when the test corpus has calm clips, else to ``calm_as``
    (``"neutral"`` or ``"wrong"``). A class the test corpus lacks is always wrong.
    """
    if calm_as not in ("neutral", "wrong"):
        raise ParameterError(f"calm_as must be 'neutral' or 'wrong', got {calm_as!r}")
    present = set(test_labels)
    mapping: dict[str, str | None] = {}
    for c in model_classes:
        if c in present:
            mapping[c] = c
        elif c == "calm" and calm_as == "neutral" and "neutral" in present:
            mapping[c] = "neutral"
        else:
            mapping[c] = None
    return mapping


# --------------------------------------------------------------------------- run
def _model_pass(recognizer, x_cache: dict, waves, i: int) -> float:
    """Features of clip ``i`` (stored in ``x_cache``); returns the seconds taken."""
    start = time.perf_counter()
    x_cache[i] = recognizer.clip_features(waves[i])
    return time.perf_counter() - start


def _predict_timed(recognizer, X: np.ndarray, speakers: np.ndarray
                   ) -> tuple[np.ndarray, np.ndarray]:
    """Per-clip probabilities and classifier seconds (speaker stats from each speaker)."""
    from .recognizer import SpeakerStats

    stats = {}
    if recognizer.normalization == "speaker_norm":
        stats = {s: SpeakerStats.from_features(X[speakers == s]) for s in np.unique(speakers)}
    proba = np.empty((X.shape[0], len(recognizer.classes_)))
    seconds = np.empty(X.shape[0])
    for i in range(X.shape[0]):
        start = time.perf_counter()
        proba[i] = recognizer.proba_from_features(X[i:i + 1], speaker=stats.get(speakers[i]))
        seconds[i] = time.perf_counter() - start
    return proba, seconds


def _warm_stats(recognizer):
    from .recognizer import SpeakerStats

    if recognizer.normalization not in ("strict", "speaker_norm"):
        raise ParameterError(f"the A/B scores strict and speaker_norm models, not "
                             f"{recognizer.normalization} ({recognizer.model_id})")
    if recognizer.normalization != "speaker_norm":
        return None
    d = recognizer.card["n_features"]
    return SpeakerStats(mean=np.zeros(d), std=np.ones(d), n_clips=2)


def _scores(y_true, y_pred, labels, rng, n_boot) -> dict:
    correct = y_pred == y_true
    n = len(y_true)
    return {
        "accuracy": float(correct.mean()),
        "accuracy_ci": bootstrap_ci(lambda idx: correct[idx].mean(), n, n_boot=n_boot,
                                    rng=rng),
        "uar": uar(y_true, y_pred, labels=labels),
        "uar_ci": bootstrap_ci(lambda idx: uar(y_true[idx], y_pred[idx], labels=labels), n,
                               n_boot=n_boot, rng=rng),
        "recall": {c: float(np.mean(y_pred[y_true == c] == c)) for c in labels},
    }


def _latency(seconds: np.ndarray) -> dict:
    ms = seconds * 1000
    return {"p50_ms": float(np.percentile(ms, 50)), "p95_ms": float(np.percentile(ms, 95)),
            "p99_ms": float(np.percentile(ms, 99)), "mean_ms": float(ms.mean())}


def quality_threshold(comparison: dict, *, min_difference: float = 0.0) -> dict:
    """Which bar a quality win must clear: the statistical one or ``min_difference``.

    The statistical bar is the paired test (McNemar p < :data:`ALPHA`) and the 95 % CI of
    the accuracy difference excluding 0; its margin is the half-width of that CI (about
    the difference it takes to exclude 0). ``min_difference`` is the seed spread of the
    compared figure (e.g. the max - min range of the accuracy over training seeds,
    :func:`spread_margin`). A win needs both; the larger margin is the one that applies.

    Returns
    -------
    threshold : dict
        ``statistical`` (the CI half-width), ``min_difference``, ``applied``
        (``"statistical"`` or ``"min_difference"``, the larger), ``significant`` (the
        statistical bar cleared), ``beyond_spread`` (abs(difference) > min_difference)
        and ``passed`` (both).
    """
    if not np.isfinite(min_difference) or min_difference < 0:
        raise ParameterError(f"min_difference must be a finite number >= 0, got "
                             f"{min_difference}")
    lo, hi = comparison["accuracy_diff_ci"]
    stat = float((hi - lo) / 2)
    significant = bool(comparison["mcnemar"]["p_value"] < ALPHA and (lo > 0 or hi < 0))
    beyond = bool(abs(comparison["accuracy_diff"]) > min_difference)
    return {"statistical": stat, "min_difference": float(min_difference),
            "applied": "min_difference" if min_difference > stat else "statistical",
            "significant": significant, "beyond_spread": beyond,
            "passed": significant and beyond}


def spread_margin(spread: dict | str | os.PathLike, figures: Sequence[str], *,
                  normalization: str = "strict") -> float:
    """The largest seed range (max - min) of ``figures`` in a seed-spread summary.

    Parameters
    ----------
    spread : dict or path
        ``summary.json`` of ``experiments/seed_spread.py`` (or its content).
    figures : sequence of str
        Figure names as that report gives them, e.g. ``"teacher tess accuracy"`` and
        ``"compact_int8 tess accuracy"`` for an A/B of the two on TESS.
    normalization : str
        Which run of the summary.

    Raises
    ------
    ParameterError
        No such run or figure.
    """
    if not isinstance(spread, dict):
        spread = json.loads(Path(spread).read_text())
    rows = {r["figure"]: r for r in spread.get("spread", {}).get(str(normalization), [])}
    if not rows:
        raise ParameterError(f"no {normalization!r} run in the seed-spread summary")
    missing = [f for f in figures if f not in rows]
    if missing or not figures:
        raise ParameterError(f"seed-spread summary has no figure(s) {missing or figures}; "
                             f"it has {sorted(rows)}")
    return max(float(rows[f]["range"]) for f in figures)


def decide(summary: dict) -> dict:
    """Apply :data:`DECISION_RULE` to a summary's models and comparison (its
    ``min_difference``, 0 when absent)."""
    a, b = summary["models"]["a"], summary["models"]["b"]
    comp = summary["comparison"]
    lo, hi = comp["accuracy_diff_ci"]
    bar = quality_threshold(comp, min_difference=summary.get("min_difference", 0.0))
    spread = (f", min_difference {bar['min_difference']:.3f} vs CI half-width "
              f"{bar['statistical']:.3f}: the {bar['applied'].replace('_', ' ')} bar applies"
              if bar["min_difference"] > 0 else "")
    stats = (f"McNemar p = {comp['mcnemar']['p_value']:.2g}, diff CI [{lo:+.3f}, "
             f"{hi:+.3f}]{spread}")
    if bar["passed"]:
        winner = "a" if comp["accuracy_diff"] > 0 else "b"
        reason = f"quality: accuracy {a['accuracy']:.3f} vs {b['accuracy']:.3f}, {stats}"
    else:
        ta, tb = a["latency"]["p50_ms"], b["latency"]["p50_ms"]
        faster_b = tb < ta * (1 - SPEED_MARGIN)
        winner = "b" if faster_b else "a"
        speed = ("B is faster" if faster_b else "A is faster" if ta <= tb
                 else "B is not >5 % faster, A kept")
        within = (f"difference {comp['accuracy_diff']:+.3f} within the seed spread; "
                  if bar["significant"] and not bar["beyond_spread"] else "")
        reason = (f"tie on quality ({within}{stats}); speed: p50 {ta:.1f} ms (A) vs "
                  f"{tb:.1f} ms (B), {speed}")
    return {"winner": winner, "winner_model": summary["models"][winner]["model_id"],
            "winner_path": summary["models"][winner]["path"], "reason": reason,
            "quality_threshold": bar}


def run_ab(rec_a, rec_b, *, waveforms: Sequence[np.ndarray], labels: Sequence[str],
           speakers: Sequence[str], calm_as: str = "neutral", n_boot: int = 2000,
           random_state: int = 0, paths: Sequence[str] | None = None,
           min_difference: float = 0.0, progress=None) -> dict:
    """Both models on the same decoded clips; metrics, paired statistics, decision.

    Parameters
    ----------
    rec_a, rec_b : EmotionRecognizer
    waveforms : sequence of np.ndarray [shape=(n,)]
        Decoded clips at the models' sample rate.
    labels : sequence of str
        True emotions, canonical names.
    speakers : sequence of str
        Speaker of each clip (statistics of speaker-normalised models, per speaker).
    calm_as : {"neutral", "wrong"}
        How a ``calm`` prediction counts when the test corpus has no calm.
    min_difference : float >= 0
        Smallest accuracy difference that can decide on quality: the seed spread of the
        compared figure (:func:`quality_threshold`, :func:`spread_margin`).
    progress : callable(str), optional
        Called with a status line every 500 clips.

    Returns
    -------
    summary : dict (JSON-serialisable; ``per_clip`` holds the paired predictions)
    """
    if rec_a.feature_config.sample_rate != rec_b.feature_config.sample_rate:
        raise ParameterError("the two models expect different sample rates")
    if not np.isfinite(min_difference) or min_difference < 0:
        raise ParameterError(f"min_difference must be a finite number >= 0, got "
                             f"{min_difference}")
    y_true = np.asarray(labels, dtype=str)
    speakers = np.asarray(speakers, dtype=str)
    test_labels = sorted({str(c) for c in y_true})
    rng = np.random.default_rng(random_state)
    recs = {"a": rec_a, "b": rec_b}
    X = {k: {} for k in recs}
    feat_s = {k: np.empty(len(waveforms)) for k in recs}
    for k in recs:  # warm-up (first-call allocations), not timed
        _model_pass(recs[k], {}, waveforms, 0)
        recs[k].proba_from_features(np.zeros((1, recs[k].card["n_features"])),
                                    speaker=_warm_stats(recs[k]))
    for i in range(len(waveforms)):
        for k in (("a", "b") if i % 2 == 0 else ("b", "a")):
            feat_s[k][i] = _model_pass(recs[k], X[k], waveforms, i)
        if progress is not None and (i + 1) % 500 == 0:
            progress(f"a/b: {i + 1}/{len(waveforms)} clips")
    summary: dict = {"decision_rule": DECISION_RULE, "alpha": ALPHA,
                     "min_difference": float(min_difference), "calm_as": calm_as,
                     "n_clips": len(y_true), "labels": test_labels,
                     "label_counts": {c: int(np.sum(y_true == c)) for c in test_labels},
                     "speakers": sorted(set(speakers)), "models": {}}
    preds, probas = {}, {}
    for k, rec in recs.items():
        Xk = np.stack([X[k][i] for i in range(len(waveforms))])
        proba, clf_s = _predict_timed(rec, Xk, speakers)
        mapping = label_mapping(list(rec.classes_), test_labels, calm_as=calm_as)
        raw = rec.classes_[np.argmax(proba, axis=1)]
        pred = np.array([mapping[c] or f"{c} (no such class)" for c in raw])
        preds[k], probas[k] = pred, proba
        other = "wrong" if calm_as == "neutral" else "neutral"
        alt_map = label_mapping(list(rec.classes_), test_labels, calm_as=other)
        alt = np.array([alt_map[c] or "-" for c in raw])
        summary["models"][k] = {
            "path": str(rec.artifact.path), "model_id": rec.model_id,
            "normalization": str(rec.normalization), "backend": rec.backend,
            "training_speakers": rec.card.get("training", {}).get("speakers"),
            "label_mapping": mapping,
            **_scores(y_true, pred, test_labels, rng, n_boot),
            f"accuracy_if_calm_{other}": float(np.mean(alt == y_true)),
            "predicted_counts": {c: int(np.sum(raw == c)) for c in rec.classes_},
            "confusion": _confusion(y_true, pred, test_labels),
            "latency": _latency(feat_s[k] + clf_s),
            "latency_features": _latency(feat_s[k]),
        }
    ca, cb = preds["a"] == y_true, preds["b"] == y_true
    n = len(y_true)
    summary["comparison"] = {
        "accuracy_diff": float(ca.mean() - cb.mean()),
        "accuracy_diff_ci": bootstrap_ci(lambda idx: ca[idx].mean() - cb[idx].mean(), n,
                                         n_boot=n_boot, rng=rng),
        "uar_diff": summary["models"]["a"]["uar"] - summary["models"]["b"]["uar"],
        "mcnemar": mcnemar_test(ca, cb),
        "agreement": float(np.mean(preds["a"] == preds["b"])),
        "n_boot": n_boot, "random_state": random_state,
    }
    summary["decision"] = decide(summary)
    summary["per_clip"] = {
        "path": list(paths) if paths is not None else None, "label": y_true.tolist(),
        "speaker": speakers.tolist(), "pred_a": preds["a"].tolist(),
        "pred_b": preds["b"].tolist()}
    return summary


def _confusion(y_true, y_pred, labels) -> list[list[int]]:
    cols = [*labels, "other"]
    out = np.zeros((len(labels), len(cols)), dtype=int)
    for t, p in zip(y_true, y_pred, strict=True):
        out[labels.index(t), cols.index(p) if p in cols else len(labels)] += 1
    return out.tolist()


# --------------------------------------------------------------------------- report
def _plots(summary: dict, out: Path) -> list[Path]:
    from .reporting import plt, save_figure

    labels = summary["labels"]
    written = []
    fig, axes = plt.subplots(1, 2, figsize=(12, 5))
    for ax, k in zip(axes, ("a", "b"), strict=True):
        m = np.array(summary["models"][k]["confusion"], dtype=float)
        m = m / np.maximum(m.sum(axis=1, keepdims=True), 1)
        ax.imshow(m, vmin=0, vmax=1, cmap="Blues")
        ax.set_xticks(range(m.shape[1]), [*labels, "other"], rotation=45, ha="right")
        ax.set_yticks(range(len(labels)), labels)
        for r in range(m.shape[0]):
            for c in range(m.shape[1]):
                ax.text(c, r, f"{m[r, c]:.2f}", ha="center", va="center", fontsize=7,
                        color="white" if m[r, c] > 0.5 else "black")
        ax.set_title(f"{k.upper()}: {summary['models'][k]['model_id']} "
                     f"(acc {summary['models'][k]['accuracy']:.3f})")
        ax.set_xlabel("predicted")
        ax.set_ylabel("true")
    written.append(save_figure(fig, out / "confusion.png"))
    fig, ax = plt.subplots(figsize=(8, 4))
    width = 0.4
    x = np.arange(len(labels))
    for j, k in enumerate(("a", "b")):
        ax.bar(x + (j - 0.5) * width, [summary["models"][k]["recall"][c] for c in labels],
               width, label=f"{k.upper()}: {summary['models'][k]['model_id']}")
    ax.set_xticks(x, labels)
    ax.set_ylabel("recall")
    ax.set_ylim(0, 1)
    ax.legend()
    written.append(save_figure(fig, out / "recall.png"))
    return written


def _fmt_ci(ci) -> str:
    return f"[{ci[0]:.3f}, {ci[1]:.3f}]"


def _threshold_line(summary: dict) -> str:
    bar = summary["decision"].get("quality_threshold") or quality_threshold(
        summary["comparison"], min_difference=summary.get("min_difference", 0.0))
    verdict = ("cleared" if bar["passed"] else "not cleared: "
               + ("not significant" if not bar["significant"] else "within the seed spread"))
    return (f"Quality bar: the larger of the statistical margin (95 % CI half-width "
            f"{bar['statistical']:.3f}, with McNemar p < {ALPHA}) and min_difference "
            f"{bar['min_difference']:.3f} (seed spread) — the "
            f"{bar['applied'].replace('_', ' ')} one applies; {verdict}.")


def ab_report(summary: dict, *, out_dir: str | os.PathLike, command: str) -> list[Path]:
    """Write ``summary.json``, ``report.md`` and the plots into ``out_dir``."""
    from .reporting import write_text

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    summary = {"command": command, **summary}
    written = [write_text(out / "summary.json", json.dumps(summary, indent=2) + "\n")]
    written += _plots(summary, out)
    a, b = summary["models"]["a"], summary["models"]["b"]
    comp, dec = summary["comparison"], summary["decision"]
    other = "wrong" if summary["calm_as"] == "neutral" else "neutral"
    rows = [
        ("model", a["model_id"], b["model_id"]),
        ("path", a["path"], b["path"]),
        ("normalization", a["normalization"], b["normalization"]),
        ("accuracy [95 % CI]", f"{a['accuracy']:.3f} {_fmt_ci(a['accuracy_ci'])}",
         f"{b['accuracy']:.3f} {_fmt_ci(b['accuracy_ci'])}"),
        ("UAR [95 % CI]", f"{a['uar']:.3f} {_fmt_ci(a['uar_ci'])}",
         f"{b['uar']:.3f} {_fmt_ci(b['uar_ci'])}"),
        *([] if "calm" in summary["labels"] else [
            (f"accuracy if calm counted {other}", f"{a[f'accuracy_if_calm_{other}']:.3f}",
             f"{b[f'accuracy_if_calm_{other}']:.3f}")]),
        *[(f"recall {c}", f"{a['recall'][c]:.3f}", f"{b['recall'][c]:.3f}")
          for c in summary["labels"]],
        *[(f"latency {q} (ms)", f"{a['latency'][f'{q}_ms']:.2f}",
           f"{b['latency'][f'{q}_ms']:.2f}") for q in ("p50", "p95", "p99")],
        ("features only p50 (ms)", f"{a['latency_features']['p50_ms']:.2f}",
         f"{b['latency_features']['p50_ms']:.2f}"),
    ]
    table = "| | A | B |\n|---|---|---|\n" + "\n".join(f"| {r[0]} | {r[1]} | {r[2]} |"
                                                       for r in rows)
    mapping = ", ".join(f"{k} -> {v or 'always wrong'}"
                        for k, v in a["label_mapping"].items() if k != v)
    text = f"""# A/B test: {a['model_id']} (A) vs {b['model_id']} (B)

Produced by: `{command}`

## Declared before the run

- Decision rule: {summary['decision_rule']}
- Label mapping (model class -> test label; unlisted classes map to themselves):
  {mapping or 'identity'}. `calm_as = {summary['calm_as']}`.
- Test clips: {summary['n_clips']} from speakers {', '.join(summary['speakers'])};
  labels {summary['label_counts']}.
- Latency: per clip, from the decoded waveform at the model rate: features + speaker
  normalisation + classifier, one clip at a time, A and B alternating; speaker statistics
  of speaker-normalised models come from all (unlabelled) test clips of the speaker and
  are not in the latency.
- Confidence intervals: percentile bootstrap over clips (paired for the difference); with
  few test speakers they do not cover speaker-to-speaker variation.

## Results

{table}

Between them: accuracy difference A - B = {comp['accuracy_diff']:+.3f}
{_fmt_ci(comp['accuracy_diff_ci'])} (paired bootstrap, {comp['n_boot']} resamples);
UAR difference {comp['uar_diff']:+.3f}; McNemar exact p = {comp['mcnemar']['p_value']:.3g}
(A right / B wrong: {comp['mcnemar']['only_a_correct']}, B right / A wrong:
{comp['mcnemar']['only_b_correct']}); agreement rate {comp['agreement']:.3f}.

## Decision

**{dec['winner'].upper()} ({dec['winner_model']}) wins** — {dec['reason']}.

{_threshold_line(summary)}

Plots: `confusion.png`, `recall.png`.
"""
    written.append(write_text(out / "report.md", text))
    return written

"""Adversarial margin of the emotion discriminator: how far real neutral clips must be
pushed along the gradient of p(target) before the predicted emotion flips.

For each model (``--model``: the deployed student; its teacher where the torch port
covers its features) and each target emotion other than neutral, a seeded sample of real
neutral clips (``--clips`` per corpus: RAVDESS, TESS, EMOVO; each at its own length) is
perturbed by normalised gradient ascent on log p(target) (float32)::

    delta <- delta + eta * ||y|| * g / ||g||,   g = d log p(target | y + delta) / d y

``--steps`` steps, so that the perturbation's size grows at most linearly; after each step
the SNR of the change, ``20 log10(||y|| / ||delta||)``, p(target) and the predicted
emotion are recorded. Reported per target (medians over clips): p(target) before and
after, the SNR at which the prediction first leaves the clip's original label ("flip"),
the SNR at which the target first becomes the prediction ("to target"), and the share of
clips that reach the target within the budget. A high SNR at the flip means a small,
inaudible change suffices: the discriminator's gradient is easy to exploit.

Usage::

    python experiments/adversarial_margin.py --out reports/torch
"""

from __future__ import annotations

import argparse
import json
import shlex
import sys
import time
from pathlib import Path

import numpy as np

CORPORA = ("ravdess", "tess", "emovo")


def _neutral_clips(data_dir: Path, per_corpus: int, seed: int) -> list[tuple[str, np.ndarray]]:
    from ser_classic.data import corpus_channel, load_audio, scan_corpus

    rng = np.random.default_rng(seed)
    out = []
    for corpus in CORPORA:
        records = [r for r in scan_corpus(data_dir / corpus) if r["emotion"] == "neutral"]
        for i in sorted(rng.choice(len(records), size=per_corpus, replace=False)):
            path = records[i]["path"]
            out.append((corpus, load_audio(path, sr=16000, channel=corpus_channel(path))))
    return out


def attack(disc, clips: list[np.ndarray], target: str, *, steps: int, eta: float) -> dict:
    """Normalised gradient ascent on log p(target) for a batch of clips."""
    import torch

    n = max(c.size for c in clips)
    y = torch.zeros(len(clips), n)
    for i, c in enumerate(clips):
        y[i, :c.size] = torch.from_numpy(c)
    lengths = torch.tensor([c.size for c in clips])
    valid = torch.arange(n)[None, :] < lengths[:, None]
    norm_y = y.norm(dim=1, keepdim=True)
    k = disc.classes.index(target)
    delta = torch.zeros_like(y)
    p_hist, snr_hist, label_hist = [], [np.full(len(clips), np.inf)], []
    for step in range(steps + 1):
        x = (y + delta).requires_grad_(True)
        log_proba = disc(x, sr=16000, lengths=lengths)
        p_hist.append(log_proba[:, k].exp().detach().numpy())
        label_hist.append(log_proba.argmax(dim=1).detach().numpy())
        if step == steps:
            break
        log_proba[:, k].sum().backward()
        g = torch.where(valid, x.grad, 0.0)
        g = g / g.norm(dim=1, keepdim=True).clamp_min(1e-30)
        delta = delta + eta * norm_y * g
        snr_hist.append((20 * torch.log10(norm_y[:, 0] / delta.norm(dim=1))).numpy())
    p = np.stack(p_hist)  # (steps + 1, clips)
    labels = np.stack(label_hist)
    snr = np.stack(snr_hist)
    flip = labels != labels[0]
    hit = labels == k

    def first_snr(mask):
        out = np.full(mask.shape[1], np.nan)
        for j in range(mask.shape[1]):
            idx = np.flatnonzero(mask[:, j])
            if idx.size:
                out[j] = snr[idx[0], j]
        return out

    return {"p_before": p[0], "p_after": p[-1], "snr_flip": first_snr(flip),
            "snr_target": first_snr(hit), "p_curve": np.median(p, axis=1),
            "snr_curve": np.median(snr, axis=1), "start_labels": labels[0]}


def _median(x: np.ndarray) -> float:
    x = x[np.isfinite(x)]
    return float(np.median(x)) if x.size else float("nan")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", nargs="+", default=["deployed", "teacher"])
    parser.add_argument("--data", default="../shared/data")
    parser.add_argument("--out", default="reports/torch")
    parser.add_argument("--clips", type=int, default=4, help="neutral clips per corpus")
    parser.add_argument("--steps", type=int, default=40)
    parser.add_argument("--eta", type=float, default=0.0025,
                        help="step size relative to the clip's norm")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    import torch

    from ser_classic import features
    from ser_classic.data import atomic_write_bytes
    from ser_classic.errors import ParameterError
    from ser_classic.torch import EmotionDiscriminator

    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    command = "python experiments/adversarial_margin.py " + shlex.join(
        sys.argv[1:] if argv is None else argv)
    clips = _neutral_clips(Path(args.data), args.clips, args.seed)
    waves = [c for _, c in clips]
    lines = ["# Adversarial margin of the torch discriminator", "",
             f"Produced by: `{command}`", "",
             f"{len(waves)} real neutral clips ({args.clips} each of "
             f"{', '.join(CORPORA)}; seeded), normalised gradient ascent on log p(target), "
             f"{args.steps} steps of {args.eta} x ||y|| (float32, CPU). SNR of the change: "
             f"20 log10(||y|| / ||delta||). Medians over clips; 'flip': the prediction "
             f"leaves the clip's starting label; 'to target': the target becomes the "
             f"prediction (clips that never get there are left out of its median). "
             f"Feature extraction version {features._FEATURE_VERSION}.", ""]
    result = {"command": command, "args": vars(args), "models": {}}
    t0 = time.perf_counter()
    for model in args.model:
        try:
            disc = EmotionDiscriminator(model)
        except ParameterError as exc:
            lines += [f"## `{model}`", "", f"Not measured: {exc}", ""]
            result["models"][model] = {"error": str(exc)}
            continue
        start = None
        rows = {}
        for target in disc.classes:
            if target == "neutral":
                continue
            r = attack(disc, waves, target, steps=args.steps, eta=args.eta)
            start = r["start_labels"]
            rows[target] = r
            print(f"{model} {target}: {time.perf_counter() - t0:.0f} s", flush=True)
        start_names = [disc.classes[i] for i in start]
        lines += [f"## `{model}` ({disc.model_id})", "",
                  f"Starting predictions of the neutral clips: "
                  f"{', '.join(f'{c} {start_names.count(c)}' for c in sorted(set(start_names)))}"
                  f".", "",
                  "| target | p(target) before | p(target) after | SNR at flip (dB) | "
                  "SNR at target (dB) | clips reaching target |",
                  "|---|---|---|---|---|---|"]
        for target, r in rows.items():
            reached = np.isfinite(r["snr_target"]).mean()
            lines.append(f"| {target} | {np.median(r['p_before']):.3f} | "
                         f"{np.median(r['p_after']):.3f} | {_median(r['snr_flip']):.1f} | "
                         f"{_median(r['snr_target']):.1f} | {reached:.2f} |")
        curve_steps = list(range(0, args.steps + 1, max(1, args.steps // 8)))
        lines += ["", "Median p(target) along the path (rows: targets; columns: step, with "
                  "the median SNR of the change reached by then):", "",
                  "| target | " + " | ".join(
                      f"step {s} ({np.median(rows[next(iter(rows))]['snr_curve'][s]):.0f} dB)"
                      for s in curve_steps) + " |",
                  "|---|" + "---|" * len(curve_steps)]
        for target, r in rows.items():
            lines.append(f"| {target} | " + " | ".join(f"{r['p_curve'][s]:.3f}"
                                                         for s in curve_steps) + " |")
        lines.append("")
        result["models"][model] = {
            "model_id": disc.model_id,
            "targets": {t: {k: np.asarray(v).tolist() for k, v in r.items()}
                        for t, r in rows.items()}}
    out = Path(args.out)
    atomic_write_bytes(out / "margin.json", json.dumps(result, indent=1).encode())
    atomic_write_bytes(out / "margin.md", "\n".join(lines).encode())
    print("\n".join(lines))


if __name__ == "__main__":
    main()

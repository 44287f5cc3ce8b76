"""Adversarial margin of emotion discriminators, side by side: how far real neutral clips
must be pushed along the gradient of p(target) before the predicted emotion flips.

Each model (``--model LABEL=MODEL``, an alias or a model directory; e.g. the deployed
student and its twin trained without the robustness training, ``make margin-ablation``)
is attacked on the same seeded sample of real neutral clips (``--clips`` per corpus:
RAVDESS, TESS, EMOVO; each at its own length), for each target emotion other than
neutral, by normalised gradient ascent on log p(target) (float32)::

    delta <- delta + rate * ||y|| * g / ||g||,   g = d log p(target | y + delta) / d y

``--steps`` steps of ``rate <= eta`` (``--eta``), so ``||delta|| <= steps * eta * ||y||``
(the budget). ``--search backtrack`` (default) keeps a step only if log p(target) rises,
else drops it and halves the clip's rate (doubled again, up to ``eta``, after a kept
step): on a rough landscape a fixed step can overshoot and lower p(target), which is the
attack failing, not the model resisting; ``--search none`` keeps every step at ``eta``.
After each step the SNR of the change, ``20 log10(||y|| / ||delta||)``, p(target) and the
predicted emotion are recorded. Reported per model and target: the SNR at which the
prediction first leaves the clip's starting label ("flip"; a clip that never flips counts
as below every SNR, so the median is that of all clips), p(target) at the end, the share
of clips whose prediction becomes the target, the SNR the attack ended at and the share
of steps kept (a 'no flip' with little of the budget spent is an attack that stalled, not
a proven margin); also by corpus and, between models of the same kind, paired (same
clips, same targets). A high SNR at the flip means that a small, inaudible change
suffices: the discriminator's gradient is easy to exploit.

So that a larger margin is not mistaken for a weaker model, each model's clean accuracy
is reported too: on the attacked clips' starting predictions (all neutral), and on a
seeded sample of clips of every emotion (``--check-clips`` per emotion and corpus, other
clips than the attacked ones). Every model here was trained on all three corpora, so
both are training clips: they show how well a model fits, not how it generalises.

A speaker-normalised model reads each clip with its speaker's statistics, enrolled on
``--enroll`` other clips of that speaker (seeded, every emotion the model knows), fixed
during the attack (a generator's enrolled voice). A model that does not load as a torch
discriminator (e.g. a feature group without a torch port) is listed as not measured.

Usage (``make margin-ablation`` trains the twins and runs both searches)::

    python experiments/adversarial_margin.py \\
        --model robust=student no_robustness=.cache/models/no_robustness/student \\
        --out reports/torch
    python experiments/adversarial_margin.py --render reports/torch/adversarial_margin.json
"""

from __future__ import annotations

import argparse
import json
import shlex
import sys
import time
import zlib
from pathlib import Path

import numpy as np

CORPORA = ("ravdess", "tess", "emovo")


def _model_specs(specs: list[str]) -> list[tuple[str, str]]:
    """``LABEL=MODEL`` or ``MODEL`` (labelled by itself) -> [(label, model)]."""
    from ser_classic.errors import ParameterError

    out = []
    for spec in specs:
        label, sep, model = spec.partition("=")
        if not sep:
            label, model = spec, spec
        if not label or not model:
            raise ParameterError(f"--model wants LABEL=MODEL or MODEL, got {spec!r}")
        out.append((label, model))
    labels = [label for label, _ in out]
    if len(set(labels)) != len(labels):
        raise ParameterError(f"--model labels must differ, got {labels}")
    return out


def _draw(data_dir: Path, *, per_corpus: int, check_per_emotion: int, seed: int
          ) -> tuple[list[dict], list[dict], dict[str, list[dict]]]:
    """The attacked neutral clips (as drawn before the comparison existed: same seed, same
    clips), a check sample of every emotion (other clips) and each speaker's records."""
    from ser_classic.data import scan_corpus

    rng = np.random.default_rng(seed)
    check_rng = np.random.default_rng([seed, 1])
    attacked, check, by_speaker = [], [], {}
    for corpus in CORPORA:
        records = scan_corpus(data_dir / corpus)
        for r in records:
            by_speaker.setdefault(r["speaker"], []).append(r)
        neutral = [r for r in records if r["emotion"] == "neutral"]
        picked = sorted(rng.choice(len(neutral), size=per_corpus, replace=False))
        attacked += [neutral[i] for i in picked]
        taken = {neutral[i]["path"] for i in picked}
        for emotion in sorted({r["emotion"] for r in records}):
            pool = [r for r in records if r["emotion"] == emotion and r["path"] not in taken]
            idx = check_rng.choice(len(pool), size=min(check_per_emotion, len(pool)),
                                   replace=False)
            check += [pool[i] for i in sorted(idx)]
    return attacked, check, by_speaker


def _load(record: dict) -> np.ndarray:
    from ser_classic.data import corpus_channel, load_audio

    return load_audio(record["path"], sr=16000, channel=corpus_channel(record["path"]))


def _padded(clips: list[np.ndarray]):
    import torch

    y = torch.zeros(len(clips), max(c.size for c in clips))
    for i, c in enumerate(clips):
        y[i, :c.size] = torch.from_numpy(c)
    return y, torch.tensor([c.size for c in clips])


class _Reader:
    """A discriminator that reads each clip with its speaker's statistics when it is
    speaker-normalised: ``reader(x, lengths, speakers) -> log-probabilities``."""

    def __init__(self, disc, by_speaker: dict[str, list[dict]], *, exclude: set[str],
                 enroll: int, seed: int) -> None:
        self.disc, self.by_speaker, self.exclude = disc, by_speaker, exclude
        self.enroll, self.seed, self.stats = enroll, seed, {}

    @property
    def strict(self) -> bool:
        return self.disc.normalization.value == "strict"

    def enrolled(self, speaker: str):
        """:class:`SpeakerStats` of ``--enroll`` seeded clips of the speaker that are not
        attacked, from the discriminator's own features."""
        import torch

        from ser_classic.recognizer import SpeakerStats

        if speaker not in self.stats:
            pool = [r for r in self.by_speaker[speaker] if r["path"] not in self.exclude
                    and r["emotion"] in self.disc.classes]
            rng = np.random.default_rng([self.seed, 2, zlib.crc32(speaker.encode())])
            idx = rng.choice(len(pool), size=min(self.enroll, len(pool)), replace=False)
            with torch.no_grad():
                X = torch.cat([self.disc.features(_padded([_load(pool[i])])[0], sr=16000)
                               for i in sorted(idx)])
            self.stats[speaker] = SpeakerStats.from_features(X.double().numpy())
        return self.stats[speaker]

    def __call__(self, x, lengths, speakers: list[str]):
        import torch

        if self.strict:
            return self.disc(x, sr=16000, lengths=lengths)
        X = self.disc.features(x, sr=16000, lengths=lengths)
        stats = [self.enrolled(s) for s in speakers]  # one row each: (X - mean) / scale
        mean = torch.as_tensor(np.stack([s.mean for s in stats]), dtype=X.dtype)
        scale = torch.as_tensor(np.stack([s.scale for s in stats]), dtype=X.dtype)
        return self.disc.classify((X - mean) / scale, raw=X, scale=scale)


def attack(reader, clips: list[np.ndarray], speakers: list[str], target: int, *,
           steps: int, eta: float, search: str = "backtrack") -> dict:
    """Normalised gradient ascent on log p(target) for a batch of clips.

    Each step proposes ``delta + rate * ||y|| * g / ||g||`` (``rate <= eta`` per clip).
    ``search="backtrack"``: the step is kept only if log p(target) rises, else it is
    dropped and the clip's rate halved (doubled again, up to ``eta``, after a kept step),
    so that an overshooting step on a rough landscape is not read as robustness;
    ``"none"``: every step is kept at ``rate = eta``. One forward and backward pass per
    step either way. Per clip: p(target) before and after, the SNR (dB) of the change at
    the first flip of the label and at the first target prediction (NaN: never; inf:
    from the start), the final SNR, the share of steps kept, the starting label.
    """
    import torch

    y, lengths = _padded(clips)
    valid = torch.arange(y.shape[1])[None, :] < lengths[:, None]
    norm_y = y.norm(dim=1, keepdim=True)

    def evaluate(delta):
        x = (y + delta).requires_grad_(True)
        log_proba = reader(x, lengths, speakers)
        log_proba[:, target].sum().backward()
        g = torch.where(valid, x.grad, 0.0)
        return log_proba.detach(), g / g.norm(dim=1, keepdim=True).clamp_min(1e-30)

    delta = torch.zeros_like(y)
    log_proba, g = evaluate(delta)
    rate = torch.full((len(clips), 1), eta)
    kept = np.zeros(len(clips))
    p_hist = [log_proba[:, target].exp().numpy()]
    label_hist = [log_proba.argmax(dim=1).numpy()]
    snr_hist = [np.full(len(clips), np.inf)]
    for _ in range(steps):
        candidate = delta + rate * norm_y * g
        lp, g_new = evaluate(candidate)
        ok = (lp[:, target] > log_proba[:, target]) if search == "backtrack" else \
            torch.ones(len(clips), dtype=torch.bool)
        delta = torch.where(ok[:, None], candidate, delta)
        log_proba = torch.where(ok[:, None], lp, log_proba)
        g = torch.where(ok[:, None], g_new, g)
        rate = torch.where(ok[:, None], (rate * 2).clamp_max(eta), rate / 2)
        kept += ok.numpy()
        p_hist.append(log_proba[:, target].exp().numpy())
        label_hist.append(log_proba.argmax(dim=1).numpy())
        snr_hist.append((20 * torch.log10(norm_y[:, 0] / delta.norm(dim=1))).numpy())
    p = np.stack(p_hist)  # (steps + 1, clips)
    labels = np.stack(label_hist)
    snr = np.stack(snr_hist)

    def first_snr(mask):
        out = np.full(mask.shape[1], np.nan)
        for j in range(mask.shape[1]):
            idx = np.flatnonzero(mask[:, j])
            if idx.size:
                out[j] = snr[idx[0], j]
        return out

    return {"p_before": p[0], "p_after": p[-1], "snr_flip": first_snr(labels != labels[0]),
            "snr_target": first_snr(labels == target), "snr_final": snr[-1],
            "kept": kept / steps, "p_curve": np.median(p, axis=1),
            "snr_curve": np.median(snr, axis=1), "start_labels": labels[0]}


def _predict(reader, clips: list[np.ndarray], speakers: list[str], batch: int = 8
             ) -> np.ndarray:
    import torch

    out = []
    with torch.no_grad():
        for i in range(0, len(clips), batch):
            x, lengths = _padded(clips[i:i + batch])
            out.append(reader(x, lengths, speakers[i:i + batch]).argmax(dim=1).numpy())
    return np.concatenate(out)


def _censored_median(snr: np.ndarray) -> float:
    """Median SNR at the flip over all clips, a clip that the attack never flips counting
    as below every SNR reached (-inf: more than half never flip)."""
    return float(np.median(np.where(np.isnan(snr), -np.inf, snr))) if snr.size \
        else float("nan")


def _reached(snr_target: np.ndarray) -> float:
    """Share of clips predicted as the target by the end (inf: from the start)."""
    return float(np.mean(~np.isnan(snr_target)))


def _median(x: np.ndarray) -> float:
    x = x[~np.isnan(x)]
    return float(np.median(x)) if x.size else float("nan")


def _snr_cell(value: float) -> str:
    return "no flip" if value == -np.inf else f"{value:.1f}"


def _pool(rows: dict, key: str) -> np.ndarray:
    return np.concatenate([np.asarray(r[key], dtype=float) for r in rows.values()])


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", nargs="+", default=["deployed"],
                        help="LABEL=MODEL or MODEL (an alias or a model directory), each "
                             "attacked on the same clips; the first is the paired "
                             "comparison's reference")
    parser.add_argument("--store", default=None,
                        help="model store the aliases resolve in (default: the shipped one)")
    parser.add_argument("--data", default="../shared/data")
    parser.add_argument("--out", default="reports/torch")
    parser.add_argument("--name", default="adversarial_margin",
                        help="report file stem: NAME.md and NAME.json under --out")
    parser.add_argument("--clips", type=int, default=4, help="neutral clips per corpus")
    parser.add_argument("--check-clips", type=int, default=2,
                        help="clean-accuracy check: clips per emotion and corpus")
    parser.add_argument("--enroll", type=int, default=28,
                        help="enrolment clips per speaker (speaker-normalised models)")
    parser.add_argument("--steps", type=int, default=40)
    parser.add_argument("--eta", type=float, default=0.001,
                        help="step size relative to the clip's norm")
    parser.add_argument("--search", choices=("backtrack", "none"), default="backtrack",
                        help="backtrack: a step that lowers p(target) is dropped and the "
                             "clip's step halved; none: fixed steps")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--render", metavar="JSON", default=None,
                        help="only rewrite the report of a finished run from its JSON")
    args = parser.parse_args(argv)
    if args.render:
        _write_report(Path(args.render))
        return
    import torch

    from ser_classic import features
    from ser_classic.data import atomic_write_bytes
    from ser_classic.errors import ParameterError
    from ser_classic.torch import EmotionDiscriminator

    specs = _model_specs(args.model)
    if args.steps < 1 or not args.eta > 0:
        raise ParameterError(f"--steps must be >= 1 and --eta > 0, got {args.steps}, "
                             f"{args.eta}")
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    command = "python experiments/adversarial_margin.py " + shlex.join(
        sys.argv[1:] if argv is None else argv)
    attacked, check, by_speaker = _draw(Path(args.data), per_corpus=args.clips,
                                        check_per_emotion=args.check_clips, seed=args.seed)
    waves = [_load(r) for r in attacked]
    speakers = [r["speaker"] for r in attacked]
    check_waves = [_load(r) for r in check]
    budget = -20 * np.log10(args.steps * args.eta)
    t0 = time.perf_counter()
    result = {"command": command, "args": vars(args), "budget_snr_db": budget,
              "feature_version": features._FEATURE_VERSION,
              "clips": [r["path"] for r in attacked],
              "corpora": [r["corpus"] for r in attacked], "models": {}}
    for label, model in specs:
        try:
            disc = EmotionDiscriminator(model, store=args.store)
        except ParameterError as exc:
            result["models"][label] = {"model": model, "error": str(exc)}
            print(f"{label}: not measured: {exc}", flush=True)
            continue
        reader = _Reader(disc, by_speaker, exclude={r["path"] for r in attacked},
                         enroll=args.enroll, seed=args.seed)
        known = [i for i, r in enumerate(check) if r["emotion"] in disc.classes]
        pred = _predict(reader, [check_waves[i] for i in known],
                        [check[i]["speaker"] for i in known])
        truth = np.array([disc.classes.index(check[i]["emotion"]) for i in known])
        recalls = [float(np.mean(pred[truth == k] == k)) for k in np.unique(truth)]
        rows = {}
        for target in disc.classes:
            if target == "neutral":
                continue
            rows[target] = attack(reader, waves, speakers, disc.classes.index(target),
                                  steps=args.steps, eta=args.eta, search=args.search)
            print(f"{label} {target}: {time.perf_counter() - t0:.0f} s", flush=True)
        start = [disc.classes[i] for i in next(iter(rows.values()))["start_labels"]]
        result["models"][label] = {
            "model": model, "model_id": disc.model_id,
            "normalization": disc.normalization.value,
            "start_labels": start,
            "start_accuracy": float(np.mean([s == "neutral" for s in start])),
            "check": {"clips": len(known), "accuracy": float(np.mean(pred == truth)),
                      "uar": float(np.mean(recalls))},
            "enrolled": {s: st.n_clips for s, st in reader.stats.items()},
            "targets": {t: {k: np.asarray(v).tolist() for k, v in r.items()}
                        for t, r in rows.items()}}
    result["seconds"] = time.perf_counter() - t0
    out = Path(args.out)
    atomic_write_bytes(out / f"{args.name}.json", json.dumps(result, indent=1).encode())
    _write_report(out / f"{args.name}.json")


def _write_report(path: Path) -> None:
    """NAME.md from NAME.json (``--render`` rewrites the tables of a finished run)."""
    from ser_classic.data import atomic_write_bytes

    lines = _report(json.loads(Path(path).read_text()))
    atomic_write_bytes(Path(path).with_suffix(".md"), "\n".join(lines).encode())
    print("\n".join(lines))


def _report(result: dict) -> list[str]:
    """The markdown report of a run's results (its JSON)."""
    args = argparse.Namespace(**result["args"])
    command, budget = result["command"], result["budget_snr_db"]
    took = f"{result['seconds']:.0f} s, " if "seconds" in result else ""
    feature_version = result.get("feature_version", 3)  # runs before it was stored: 3
    corpora = np.array(result.get("corpora") or [  # runs before it was stored: the paths
        next(c for c in CORPORA if c in Path(p).parts) for p in result["clips"]])
    models = result["models"]
    measured = {lb: {t: {k: np.asarray(v) for k, v in r.items()}
                     for t, r in m["targets"].items()}
                for lb, m in models.items() if "targets" in m}
    n = len(result["clips"])
    search = ("kept only when it raises log p(target), else dropped and the clip's step "
              "halved (doubled again after a kept step, up to the step size)"
              if args.search == "backtrack" else "all kept")
    lines = ["# Adversarial margin of the torch discriminators, side by side", "",
             f"Produced by: `{command}` ({took}{args.threads} thread(s), CPU)",
             "",
             f"{n} real neutral clips ({args.clips} each of {', '.join(CORPORA)}; seeded, "
             f"the same for every model), normalised gradient ascent on log p(target) "
             f"(float32, CPU): {args.steps} steps of at most {args.eta} x ||y||, {search}; "
             f"so ||delta|| <= {args.steps * args.eta:g} ||y||, an SNR of the change "
             f"20 log10(||y|| / ||delta||) >= {budget:.1f} dB. Flip SNR: the SNR at which "
             f"the prediction first leaves the clip's starting label, median over clips "
             f"(and targets) where a clip the attack never flips counts as below every "
             f"SNR ('no flip': more than half never flip); higher = a smaller change "
             f"suffices = an easier gradient to exploit. 'No flip' is what this attack "
             f"found, not a proven margin: compare the SNR the attack ended at. Reached: "
             f"share of clips predicted as the target at the end; p after: median "
             f"p(target) at the end. Feature extraction version {feature_version}.", ""]
    lines += ["## Models and their clean accuracy", "",
              "| label | model | id | normalisation | starting predictions of the "
              "attacked (neutral) clips | their accuracy | check sample: accuracy / UAR "
              "(clips) |", "|---|---|---|---|---|---|---|"]
    for label, m in models.items():
        if "error" in m:
            lines.append(f"| {label} | `{m['model']}` | not measured: {m['error']} | | | "
                         f"| |")
            continue
        counts = ", ".join(f"{c} {m['start_labels'].count(c)}"
                           for c in sorted(set(m["start_labels"])))
        c = m["check"]
        lines.append(f"| {label} | `{m['model']}` | {m['model_id']} | {m['normalization']} "
                     f"| {counts} | {m['start_accuracy']:.2f} | {c['accuracy']:.2f} / "
                     f"{c['uar']:.2f} ({c['clips']}) |")
    lines += ["", f"Check sample: {args.check_clips} seeded clips per emotion and corpus "
              f"(not the attacked ones), the model's emotions only. Both the attacked and "
              f"the check clips are training clips of models trained on all three "
              f"corpora: a fit check, not held-out accuracy.", ""]
    if any(m.get("normalization") == "speaker_norm" for m in models.values()):
        lines += [f"Speaker-normalised models read each clip with its speaker's statistics, "
                  f"enrolled on {args.enroll} seeded other clips of the speaker (every "
                  f"emotion the model knows), fixed during the attack.", ""]
    if not measured:
        return lines
    labels = list(measured)
    lines += ["## Side by side: all targets", "",
              f"{n} clips x {len(next(iter(measured.values())))} targets per model.", "",
              "| model | flip SNR (dB) | flipped | reached | p(target) before -> after | "
              "SNR at the end (dB, median) | steps kept |", "|---|---|---|---|---|---|---|"]
    for lb in labels:
        rows = measured[lb]
        flip = _pool(rows, "snr_flip")
        lines.append(f"| {lb} | {_snr_cell(_censored_median(flip))} | "
                     f"{np.mean(~np.isnan(flip)):.2f} | "
                     f"{_reached(_pool(rows, 'snr_target')):.2f} | "
                     f"{np.median(_pool(rows, 'p_before')):.3f} -> "
                     f"{np.median(_pool(rows, 'p_after')):.3f} | "
                     f"{np.median(_pool(rows, 'snr_final')):.1f} | "
                     f"{np.mean(_pool(rows, 'kept')):.2f} |")
    lines += ["", "By corpus of the attacked clip (clips x targets): share flipped / median "
              "SNR of the change at the end (dB).", "",
              "| model | " + " | ".join(CORPORA) + " |", "|---|" + "---|" * len(CORPORA)]
    for lb in labels:
        flip = np.stack([r["snr_flip"] for r in measured[lb].values()])
        end = np.stack([r["snr_final"] for r in measured[lb].values()])
        lines.append(f"| {lb} | " + " | ".join(
            f"{np.mean(~np.isnan(flip[:, corpora == c])):.2f} / "
            f"{np.median(end[:, corpora == c]):.1f}" for c in CORPORA) + " |")
    targets = list(dict.fromkeys(t for rows in measured.values() for t in rows))
    lines += ["", "## Side by side per target", "",
              "Cells: flip SNR (dB) / reached / p(target) after.", "",
              "| target | " + " | ".join(labels) + " |", "|---|" + "---|" * len(labels)]
    for target in targets:
        cells = []
        for lb in labels:
            r = measured[lb].get(target)
            cells.append("-" if r is None else
                         f"{_snr_cell(_censored_median(r['snr_flip']))} / "
                         f"{_reached(r['snr_target']):.2f} / {np.median(r['p_after']):.3f}")
        lines.append(f"| {target} | " + " | ".join(cells) + " |")

    def kind(lb):  # (registry name, normalisation): the first of a kind is the reference
        return models[lb]["model_id"].rsplit("-", 1)[0], models[lb]["normalization"]

    refs = {}
    for lb in labels:
        refs.setdefault(kind(lb), lb)
    pairs = [(lb, refs[kind(lb)]) for lb in labels if lb != refs[kind(lb)]]
    if pairs:
        lines += ["", "## Paired", "",
                  "Against the first model of the same kind (model name and normalisation), "
                  "on the same clip and target: the pairs where both flip, the median "
                  "difference of their flip SNR (positive: the model flips at a smaller "
                  "change than the reference), and the pairs where it flips at a higher / "
                  "lower SNR, where only it flips, where only the reference does.", "",
                  "| model | reference | pairs | both flip | median flip SNR difference (dB) "
                  "| higher | lower | only the model | only the reference |",
                  "|---|---|---|---|---|---|---|---|---|"]
        for lb, ref in pairs:
            shared = [t for t in measured[lb] if t in measured[ref]]
            a = np.concatenate([measured[lb][t]["snr_flip"] for t in shared])
            b = np.concatenate([measured[ref][t]["snr_flip"] for t in shared])
            fa, fb = ~np.isnan(a), ~np.isnan(b)
            d = a[fa & fb] - b[fa & fb]
            med = f"{np.median(d):+.1f}" if d.size else "-"
            lines.append(f"| {lb} | {ref} | {a.size} | {(fa & fb).sum()} | {med} | "
                         f"{(d > 0).sum()} | {(d < 0).sum()} | {(fa & ~fb).sum()} | "
                         f"{(~fa & fb).sum()} |")
    for lb in labels:
        rows = measured[lb]
        lines += ["", f"## `{lb}` in detail ({models[lb]['model_id']})", "",
                  "| target | p(target) before | p(target) after | flip SNR (dB) | flipped | "
                  "SNR at target (dB, clips reaching it) | reached | SNR at the end (dB) | "
                  "steps kept |", "|---|---|---|---|---|---|---|---|---|"]
        for target, r in rows.items():
            lines.append(f"| {target} | {np.median(r['p_before']):.3f} | "
                         f"{np.median(r['p_after']):.3f} | "
                         f"{_snr_cell(_censored_median(r['snr_flip']))} | "
                         f"{np.mean(~np.isnan(r['snr_flip'])):.2f} | "
                         f"{_median(r['snr_target']):.1f} | {_reached(r['snr_target']):.2f} "
                         f"| {np.median(r['snr_final']):.1f} | {np.mean(r['kept']):.2f} |")
        curve = list(range(0, args.steps + 1, max(1, args.steps // 8)))
        lines += ["", "Median p(target) along the path (columns: step, with the median SNR "
                  "of the change reached by then):", "",
                  "| target | " + " | ".join(
                      f"step {s} ({np.median(_pool_curve(rows, s)):.0f} dB)"
                      for s in curve) + " |",
                  "|---|" + "---|" * len(curve)]
        for target, r in rows.items():
            lines.append(f"| {target} | " + " | ".join(f"{r['p_curve'][s]:.3f}"
                                                         for s in curve) + " |")
    lines.append("")
    return lines


def _pool_curve(rows: dict, step: int) -> np.ndarray:
    """The median SNR of the change after ``step`` steps, one value per target."""
    return np.array([r["snr_curve"][step] for r in rows.values()])


if __name__ == "__main__":
    main()

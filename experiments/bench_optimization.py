"""Optimised models (distilled students, quantized graphs) against their teacher.

One run measures, for the teacher (scikit-learn and ONNX fp32) and every optimised
variant:

- accuracy / UAR / fidelity (agreement with the teacher) on held-out speakers: the whole
  distillation (teacher fit, transfer set, students, quantization) runs inside
  speaker-grouped folds (:func:`ser_classic.distill.distill_cv`);
- file size of the model file the backend loads, load time (``ser_classic.load``);
- model-only latency p50/p99 at batch 1 and batch 256 (``proba_from_features``);
- end-to-end latency per clip (waveform in memory -> features -> model, through
  ``EmotionRecognizer.predict_proba`` as the discriminator calls it; a student computes
  only the features it reads) and throughput;
- ratios to the teacher on the same backend, and the issue's targets.

The deployed variants are fitted on all of the teacher's training clips (as
``ser-classic distil`` does) and written under ``--work``. Timings are the best of
``--repeats`` passes per clip (the machine is shared). Writes ``summary.json``,
``report.md`` and plots into ``--out``.

``--width N`` gives the compact students (``compact``, ``compact_fast``) N columns instead
of the library's :data:`ser_classic.distill.COMPACT_FEATURES` (the deployed recipe's
``make optimize`` passes the Makefile's ``WIDTH``).

A speaker-normalised teacher gives speaker-normalised students: every clip's features are
z-scored with its own speaker's (unlabelled) clips, as in training and in the evaluation's
second protocol; the timed predictions take precomputed speaker statistics.

Usage::

    .venv/bin/python experiments/bench_optimization.py --teacher models/svm
"""

from __future__ import annotations

import argparse
import json
import shlex
import sys
import time
import warnings
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
VARIANTS = (  # (variant, model, backend): model "teacher" or a student name
    ("teacher sklearn", "teacher", "sklearn"),
    ("teacher onnx fp32", "teacher", "onnx"),
    ("tree sklearn", "tree", "sklearn"),
    ("tree onnx fp32", "tree", "onnx"),
    ("tree onnx uint8", "tree_uint8", "onnx"),
    ("mlp sklearn", "mlp", "sklearn"),
    ("mlp onnx fp32", "mlp", "onnx"),
    ("mlp onnx int8", "mlp_int8", "onnx"),
    ("linear sklearn", "linear", "sklearn"),
    ("linear onnx fp32", "linear", "onnx"),
    ("linear onnx int8", "linear_int8", "onnx"),
    ("compact sklearn", "compact", "sklearn"),
    ("compact onnx fp32", "compact", "onnx"),
    ("compact onnx int8", "compact_int8", "onnx"),
    ("compact-fast sklearn", "compact_fast", "sklearn"),
    ("compact-fast onnx int8", "compact_fast_int8", "onnx"),
    ("logit sklearn", "logit", "sklearn"),
    ("logit onnx fp32", "logit", "onnx"),
    ("logit onnx int8", "logit_int8", "onnx"),
    ("label tree onnx fp32", "tree_labels", "onnx"),
)
STUDENTS = ("tree", "mlp", "linear", "compact", "compact_fast", "logit")
TARGETS = {"e2e_speedup": 10.0, "size_ratio": 50.0, "max_uar_drop": 0.03}


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--teacher", help="teacher model directory (default: models/<selected "
                                     "of reports/cv/selection.json>)")
    p.add_argument("--manifest", default="data/manifest.csv")
    p.add_argument("--cache", default=".cache/features")
    p.add_argument("--work", default=".cache/optimization",
                   help="where the fitted variants are written as model directories")
    p.add_argument("--out", default="reports/optimization")
    p.add_argument("--folds", type=int, default=6, help="speaker-grouped folds (group6)")
    p.add_argument("--tune-teacher", action="store_true",
                   help="tune the teacher by inner CV in each fold (default: the "
                        "teacher's own hyper-parameters)")
    p.add_argument("--copies", type=int, default=2, help="augmented copies per clip")
    p.add_argument("--munge", type=int, default=2, help="MUNGE samples per clip")
    p.add_argument("--clips", type=int, default=80, help="clips timed end to end")
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--width", type=int, default=None,
                   help="columns the compact students keep (default: the library's)")
    return p.parse_args(argv)


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def percentiles(ms: list[float]) -> dict:
    a = np.asarray(ms)
    return {"p50_ms": float(np.percentile(a, 50)), "p99_ms": float(np.percentile(a, 99)),
            "mean_ms": float(a.mean())}


def best_of(fn, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return 1e3 * min(times)


def measure(model_dir: Path, backend: str, *, waves, X_feat, repeats: int,
            speaker=None) -> dict:
    from ser_classic import load

    loads = []
    for _ in range(3):
        start = time.perf_counter()
        rec = load(model_dir, backend=backend)
        loads.append(time.perf_counter() - start)
    fname = "model.joblib" if backend == "sklearn" else "model.onnx"
    rec.proba_from_features(X_feat[:4], speaker=speaker)  # warm-up
    rec.predict_proba(waves[0], sr=16000, speaker=speaker)
    b1 = [best_of(lambda i=i: rec.proba_from_features(X_feat[i:i + 1], speaker=speaker),
                  repeats) for i in range(len(X_feat))]
    big = np.resize(X_feat, (256, X_feat.shape[1]))
    b256 = [best_of(lambda: rec.proba_from_features(big, speaker=speaker), 1)
            for _ in range(5 * repeats)]
    e2e = [best_of(lambda w=w: rec.predict_proba(w, sr=16000, speaker=speaker), repeats)
           for w in waves]
    return {
        "file": fname, "bytes": (model_dir / fname).stat().st_size,
        "load_ms": 1e3 * float(np.median(loads)),
        "model_batch1": percentiles(b1),
        "model_batch256": {**percentiles(b256),
                           "per_clip_us": 1e3 * float(np.median(b256)) / 256,
                           "clips_per_s": 256e3 / float(np.median(b256))},
        "e2e_per_clip": percentiles(e2e),
        "e2e_clips_per_s": 1e3 / float(np.mean(e2e)),
        "n_features_computed": len(rec.card.get("used_features") or range(
            rec.card["n_features"])),
    }


def main(argv=None) -> int:
    args = parse_args(argv)
    from ser_classic import distill as D
    from ser_classic.artifact import load_artifact
    from ser_classic.data import atomic_write_bytes, load_audio, load_manifest
    from ser_classic.pipeline import DISTILL_AUGMENT, Selection, teacher_training_data

    command = "python experiments/bench_optimization.py " + " ".join(
        shlex.quote(a) for a in (sys.argv[1:] if argv is None else argv))
    start_all = time.perf_counter()
    teacher_dir = Path(args.teacher) if args.teacher else None
    if teacher_dir is None:
        selection = Selection.load(ROOT / "reports/cv/selection.json")
        teacher_dir = ROOT / "models" / selection.run("strict").selected
    from ser_classic.store import resolve

    teacher = load_artifact(resolve(teacher_dir))  # a directory or a shipped alias
    card = teacher.card
    config = teacher.feature_config
    training = card.get("training", {})
    # exactly the teacher's training clips (its corpus, speakers, and without the emotions
    # it left out), as `distil` reads them
    data = teacher_training_data(teacher, load_manifest(args.manifest), copies=args.copies,
                                 random_state=args.seed, cache_dir=args.cache)
    rows, X, X_aug, y = data.rows, data.X, data.X_copies, data.y
    X_raw = data.X_raw  # what the recognizer computes; the models read X
    classes = list(data.classes)
    speakers = rows["speaker"].to_numpy()
    normalization = card["normalization"]
    transfer = D.TransferConfig(munge_rounds=args.munge)

    # ------------------------------------------------------------ held-out speakers
    log(f"== distillation CV: teacher {card['name']}, {args.folds} speaker folds")
    t0 = time.perf_counter()
    teacher_params = None if args.tune_teacher else (training.get("params") or {})
    ev = D.distill_cv(X, y, speakers, teacher=card["name"], teacher_params=teacher_params,
                      config=config, X_aug=X_aug, split="group6",
                      n_folds=args.folds, students=STUDENTS,
                      transfer=transfer, n_classes=len(classes), random_state=args.seed,
                      compact_features=args.width, progress=log)
    cv_seconds = time.perf_counter() - t0
    cv = {name: ev.metrics(name) for name in ev.proba}
    for name, cols in ev.used_columns.items():
        cv[name]["n_features_mean"] = float(np.mean([len(c) for c in cols]))
        cv[name]["groups_needed"] = sorted({g for c in cols for g in D.groups_needed(
            c, config=config)})

    # ------------------------------------------------------------ deployed variants
    log("== fitting the variants on all training clips")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fitted = D.distill(X, y, teacher=teacher.estimator, n_classes=len(classes),
                           config=config, X_copies=X_aug, students=STUDENTS,
                           transfer=transfer, speakers=speakers, compact_features=args.width,
                           random_state=args.seed)
    work = Path(args.work)
    dirs = {"teacher": teacher.path}
    quant = dict(fitted["quantization"])
    sample = X[np.random.default_rng(args.seed).permutation(len(X))[:300]]
    parity = {}
    for name, student in fitted["students"].items():
        onnx = None  # save_student converts the others itself
        if name in D.INT8_STUDENTS:  # int8 through ONNX
            onnx = D.to_onnx(student, n_features=X.shape[1])
            q_onnx, quant[f"{name}_int8"] = D.quantized_onnx(
                name, student, n_features=X.shape[1], fp32=onnx)
            c = D.save_student(work / f"{name}_int8", student=student,
                               name=f"distilled_{name}_int8", classes=classes, config=config,
                               teacher_card=card, onnx=q_onnx, parity_rows=sample,
                               info={"quantization": quant[f"{name}_int8"]},
                               normalization=normalization)
            dirs[f"{name}_int8"] = work / f"{name}_int8"
            parity[f"{name}_int8"] = c["onnx_parity"]
        c = D.save_student(work / name, student=student, name=f"distilled_{name}",
                           classes=classes, config=config, teacher_card=card, onnx=onnx,
                           parity_rows=sample, info={"quantization": quant.get(name)},
                           normalization=normalization)
        dirs[name] = work / name
        parity[name] = c["onnx_parity"]
    _, quant["teacher_dynamic"] = D.quantize_dynamic_onnx(teacher.onnx)
    quant["teacher_dynamic"].pop("int8_tensors", None)

    # ------------------------------------------------------------ timing
    log("== timing")
    pick = np.random.default_rng(args.seed).permutation(len(rows))[: args.clips]
    waves = [load_audio(p, sr=config.sample_rate) for p in rows["path"].iloc[pick]]
    X_feat = X_raw[pick]
    speaker = None  # statistics of the timed clips, precomputed (not in the latency)
    if normalization == "speaker_norm":
        from ser_classic.recognizer import SpeakerStats

        speaker = SpeakerStats.from_features(X_feat)
    wave_idx = np.argsort([w.size for w in waves])
    costs = D.measure_group_costs([waves[i] for i in wave_idx[:: max(1, len(waves) // 20)]],
                                  config=config, repeats=args.repeats)
    results = {}
    for variant, model, backend in VARIANTS:
        log(f"   {variant}")
        r = measure(dirs[model], backend, waves=waves, X_feat=X_feat, repeats=args.repeats,
                    speaker=speaker)
        r.update({"model": model, "backend": backend, "cv": cv.get(model)})
        results[variant] = r
    for r in results.values():
        ref = results[f"teacher {'sklearn' if r['backend'] == 'sklearn' else 'onnx fp32'}"]
        r["ratios"] = {
            "size_ratio": ref["bytes"] / r["bytes"],
            "e2e_speedup": ref["e2e_per_clip"]["mean_ms"] / r["e2e_per_clip"]["mean_ms"],
            "model_batch1_speedup": ref["model_batch1"]["p50_ms"] / r["model_batch1"][
                "p50_ms"],
            "uar_drop": cv["teacher"]["uar"] - r["cv"]["uar"],
        }
        r["targets_met"] = {
            "e2e_speedup": r["ratios"]["e2e_speedup"] >= TARGETS["e2e_speedup"],
            "size_ratio": r["ratios"]["size_ratio"] >= TARGETS["size_ratio"],
            "uar_drop": r["ratios"]["uar_drop"] <= TARGETS["max_uar_drop"],
        }
    summary = {
        "command": command,
        "teacher": {"path": str(teacher_dir), "model_id": card["model_id"],
                    "name": card["name"], "params": teacher_params,
                    "normalization": normalization},
        "setup": {"folds": args.folds, "kind": "group6 (speaker-grouped)",
                     "n_clips": len(rows), "n_speakers": int(np.unique(speakers).size),
                     "teacher_tuning": "nested inner CV" if args.tune_teacher
                     else "teacher's own hyper-parameters",
                     "transfer": {"augmented_copies": args.copies, "munge": args.munge,
                                  "augment": DISTILL_AUGMENT, "rows_per_fold": ev.n_transfer},
                     "student_groups": list(D.CHEAP_GROUPS), "seconds": cv_seconds,
                     "linear_C_per_fold": ev.linear_C,
                     "linear_C_deployed": fitted.get("linear_C"),
                     "compact_features": args.width or D.COMPACT_FEATURES,
                     "compact_skips": list(D.COMPACT_SKIPS),
                     "compact_fast_skips": list(D.COMPACT_FAST_SKIPS)},
        "cv": cv,
        "variants": results,
        "quantization": quant,
        "onnx_parity": parity,
        "feature_costs": costs,
        "targets": TARGETS,
        "timing": {"clips": len(waves), "repeats": args.repeats,
                   "mean_duration_s": float(np.mean([w.size for w in waves]) /
                                            config.sample_rate)},
        "seconds_total": time.perf_counter() - start_all,
    }
    out = Path(args.out)
    atomic_write_bytes(out / "summary.json", (json.dumps(summary, indent=1, default=float)
                                              + "\n").encode())
    write_report(summary, out)
    log(f"wrote {out}/summary.json, report.md, plots ({summary['seconds_total']:.0f} s)")
    return 0


def write_report(s: dict, out: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from ser_classic.data import atomic_write_bytes

    v = s["variants"]
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.2))
    for ax, key, label in ((axes[0], "bytes", "model file size (bytes, log)"),
                           (axes[1], "e2e", "end-to-end latency per clip (ms, log)")):
        for name, r in v.items():
            x = r["bytes"] if key == "bytes" else r["e2e_per_clip"]["mean_ms"]
            ax.scatter(x, r["cv"]["uar"], s=40)
            ax.annotate(name, (x, r["cv"]["uar"]), fontsize=7, xytext=(3, 3),
                        textcoords="offset points")
        ax.set_xscale("log")
        ax.set_xlabel(label)
        ax.set_ylabel("UAR, held-out speakers")
        ax.axhline(s["cv"]["teacher"]["uar"] - s["targets"]["max_uar_drop"], ls="--",
                   lw=0.8, c="grey")
        ax.grid(alpha=0.3)
    fig.suptitle("Size / latency / accuracy trade-off (dashed: teacher UAR - 3 points)")
    fig.tight_layout()
    fig.savefig(out / "tradeoff.png", dpi=120)
    plt.close(fig)
    fig, ax = plt.subplots(figsize=(8, 4))
    names = list(v)
    ax.barh(names, [v[n]["e2e_per_clip"]["mean_ms"] for n in names], label="end to end")
    ax.barh(names, [v[n]["model_batch1"]["p50_ms"] for n in names], label="model only")
    ax.set_xlabel("ms per clip (batch 1)")
    ax.legend()
    ax.invert_yaxis()
    fig.tight_layout()
    fig.savefig(out / "latency.png", dpi=120)
    plt.close(fig)

    t = s["cv"]["teacher"]
    setup = s.get("setup") or s["protocol"]  # "protocol" in summaries before issue 18
    norm = s["teacher"].get("normalization", s["teacher"].get("protocol", "strict"))
    lines = [
        "# Optimisation: distillation, quantization, end-to-end benchmark", "",
        f"Produced by `{s['command']}` (from the repository root).", "",
        f"Teacher: `{s['teacher']['path']}` ({s['teacher']['model_id']}, "
        f"{s['teacher']['name']}, normalization {norm}"
        + ("; features z-scored per speaker with that speaker's own unlabelled clips, in "
           "training, held-out scoring and timing (statistics precomputed)"
           if norm == "speaker_norm" else "")
        + f"). Held-out figures: {setup['folds']} "
        f"speaker-grouped folds over {setup['n_speakers']} speakers "
        f"({setup['n_clips']} clips); in each fold the teacher "
        f"({setup['teacher_tuning']}) and every student are fitted on the training "
        f"speakers only, and scored on the held-out speakers. Transfer set per clip: the "
        f"clip, {setup['transfer']['augmented_copies']} masked copies, "
        f"{setup['transfer']['munge']} MUNGE samples. Students may read only the "
        f"groups {', '.join(setup['student_groups'])}; the compact student, "
        f"optimised for size, may read every group but "
        f"{', '.join(setup['compact_skips'])} (the costliest to extract); the "
        f"fast compact student (`compact_fast`) every group but "
        f"{', '.join(setup.get('compact_fast_skips', []))}.", "",
        "## Held-out speakers", "",
        "| model | accuracy | UAR | macro-F1 | fidelity | features read | groups |",
        "|---|---|---|---|---|---|---|",
    ]
    for name, m in s["cv"].items():
        n_read = f"{m['n_features_mean']:.0f}" if "n_features_mean" in m else "all"
        lines.append(f"| {name} | {m['accuracy']:.3f} | {m['uar']:.3f} | "
                     f"{m['macro_f1']:.3f} | {m['fidelity']:.3f} | {n_read} | "
                     f"{', '.join(m.get('groups_needed', ['all']))} |")
    lines += ["", "Fidelity: agreement of the predicted class with the teacher's on the "
              "held-out clips. `tree_labels`: the same depth-8 tree fitted on the labels "
              "(no teacher), the baseline that shows what distillation adds. `linear`: "
              "multinomial logistic regression on the teacher's soft targets; its C is "
              "chosen in each fold by speaker-grouped inner CV on the training speakers "
              "(UAR against their labels): "
              + ", ".join(f"{c['C']:g}" for c in setup.get("linear_C_per_fold", []))
              + f". `compact`: the same regression (same C) on the "
              f"{setup['compact_features']} "
              "columns of largest weight, chosen by recursive elimination on the transfer "
              "set of the fold (halving by weight norm, refitting each time). "
              "`compact_fast`: the same on fewer groups (faster to extract). `logit` (the "
              "deployed kind): a ridge regression of the teacher's centred log-probabilities "
              "on every column of the compact student's groups (logit matching, Ba & "
              "Caruana 2014).", "",
              "## Deployed variants (fitted on all training clips)", "",
              "| variant | file | size KB | size ratio | load ms | model b1 p50/p99 ms | "
              "model b256 p50 ms | e2e p50/p99 ms | e2e speedup | clips/s e2e | UAR | "
              "UAR drop | targets (10x e2e, 50x size, <=3 pts) |",
              "|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for name, r in v.items():
        met = r["targets_met"]
        lines.append(
            f"| {name} | {r['file']} | {r['bytes'] / 1e3:.1f} | {r['ratios']['size_ratio']:.1f}x"
            f" | {r['load_ms']:.0f} | {r['model_batch1']['p50_ms']:.3f} / "
            f"{r['model_batch1']['p99_ms']:.3f} | {r['model_batch256']['p50_ms']:.2f} | "
            f"{r['e2e_per_clip']['p50_ms']:.2f} / {r['e2e_per_clip']['p99_ms']:.2f} | "
            f"{r['ratios']['e2e_speedup']:.1f}x | {r['e2e_clips_per_s']:.0f} | "
            f"{r['cv']['uar']:.3f} | {r['ratios']['uar_drop']:+.3f} | "
            + " ".join("yes" if met[k] else "no" for k in ("e2e_speedup", "size_ratio",
                                                          "uar_drop")) + " |")
    c = s["feature_costs"]
    lines += ["", f"Ratios are to the teacher on the same backend. End to end = "
              f"`EmotionRecognizer.predict_proba(waveform, sr=16000)` per clip (waveform in "
              f"memory, {s['timing']['clips']} clips of the teacher's corpora, mean "
              f"{s['timing']['mean_duration_s']:.2f} s, best of {s['timing']['repeats']} "
              f"passes); a student computes only the features it reads.", "",
              "## Where the end-to-end time goes (feature extraction, ms per clip)", "",
              f"Full extraction {c['full_ms']:.2f} ms; preprocessing + STFT (always "
              f"computed) {c['floor_ms']:.2f} ms; extra cost of each descriptor group "
              f"computed alone:", "", "| group | ms |", "|---|---|"]
    for g, ms in sorted(c["groups"].items(), key=lambda kv: kv[1]):
        lines.append(f"| {g} | {ms:.2f} |")
    q = s["quantization"]
    lines += ["", "## Quantization", ""]
    if "tree_uint8" in q:
        r = q["tree_uint8"]
        lines.append(f"- tree uint8: {r['method']}; {r['inputs']['n_features']} inputs "
                     f"{r['inputs']['from']} -> {r['inputs']['to']}; "
                     f"{r['thresholds']['n_split_nodes']} split thresholds -> "
                     f"{r['thresholds']['to']}; leaves: {r['leaves']}.")
    for name in ("mlp_int8", "linear_int8"):
        if name not in q:
            continue
        r = q[name]
        tensors = ", ".join(f"{n} {d['dtype']} {d['shape']}" for n, d in
                            r["int8_tensors"].items())
        lines.append(f"- {name}: {r['method']}; ops {r['ops_before']} -> "
                     f"{r['ops_after']}; int8 tensors: {tensors}; ONNX "
                     f"{r['bytes_before'] / 1e3:.1f} -> {r['bytes_after'] / 1e3:.1f} KB.")
    for name in ("compact_int8", "compact_fast_int8", "logit_int8"):
        if name not in q:
            continue
        r = q[name]
        lines.append(f"- {name}: {r['method']}; "
                     + "; ".join(f"{n}: {d}" for n, d in r["tensors"].items())
                     + f"; ops {r['ops_after']}; ONNX {r['bytes_after'] / 1e3:.1f} KB.")
    if "teacher_dynamic" in q:
        r = q["teacher_dynamic"]
        lines.append(f"- teacher through the same quantize_dynamic: changed = "
                     f"{r['changed']}{' (' + r['error'] + ')' if r.get('error') else ''} "
                     f"(ops {r['ops_before']}); "
                     f"{r['bytes_before'] / 1e3:.0f} -> {r['bytes_after'] / 1e3:.0f} KB.")
    lines += ["", "ONNX vs scikit-learn on 300 training rows (max |dp|, argmax agreement): "
              + "; ".join(f"{n} {p['max_abs_diff']:.1e} / {p['argmax_agreement']:.3f}"
                          for n, p in s["onnx_parity"].items() if p), "",
              f"Teacher held-out UAR {t['uar']:.3f}; target: >= 10x e2e, >= 50x smaller, "
              f"<= 3 points UAR lost.", "",
              "![trade-off](tradeoff.png)", "", "![latency](latency.png)", ""]
    atomic_write_bytes(out / "report.md", "\n".join(lines).encode())


if __name__ == "__main__":
    sys.exit(main())

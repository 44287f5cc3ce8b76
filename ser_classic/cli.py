"""The ``ser-classic`` command: the only place that touches paths and the environment.

Each subcommand is a pair ``_add_<name>(parser)`` / ``_run_<name>(args)`` registered in
``COMMANDS``; the library functions it calls take plain arguments.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable
from pathlib import Path

from . import __version__

__all__ = ["main", "resolve_data_dir", "tune_allocator"]

DEFAULT_MANIFEST = Path("data/manifest.csv")
DEFAULT_CACHE = Path(".cache/features")
CORPORA = ("ravdess", "tess", "emovo")


_MALLOC_BYTES = 256 * 1024 * 1024


def tune_allocator() -> None:
    """Keep large numpy temporaries in the heap instead of mmap/munmap per call.

    Feature extraction allocates many short-lived arrays of ~1 MB; glibc returns each to
    the OS, and the page faults that follow cost ~25% of the extraction time. Sets the
    environment for worker processes and, on glibc, this process through mallopt.
    """
    for name in ("MALLOC_MMAP_THRESHOLD_", "MALLOC_TRIM_THRESHOLD_", "MALLOC_TOP_PAD_"):
        os.environ.setdefault(name, str(_MALLOC_BYTES))
    try:
        import ctypes

        libc = ctypes.CDLL("libc.so.6")
    except OSError:
        return
    m_trim_threshold, m_top_pad, m_mmap_threshold = -1, -2, -3
    for option in (m_mmap_threshold, m_trim_threshold, m_top_pad):
        libc.mallopt(option, _MALLOC_BYTES)


class CliError(Exception):
    """An error to print as one line and exit with status 2."""


# --------------------------------------------------------------------------- shared helpers
def resolve_data_dir(explicit: str | None) -> Path:
    """``--data``, else ``$SER_CLASSIC_DATA``, else ``./data`` with a corpus, else
    ``../shared/data``; a clear error lists where it looked."""
    looked = []
    candidates = []
    if explicit:
        candidates.append(("--data", Path(explicit)))
    elif os.environ.get("SER_CLASSIC_DATA"):
        candidates.append(("$SER_CLASSIC_DATA", Path(os.environ["SER_CLASSIC_DATA"])))
    else:
        candidates += [("./data", Path("data")), ("../shared/data", Path("../shared/data"))]
    for origin, path in candidates:
        looked.append(f"{origin} = {path.resolve()}")
        if path.is_dir() and any((path / c).is_dir() for c in CORPORA):
            return path
        if path.is_dir() and explicit and _looks_like_corpus(path):
            return path
    raise CliError("no corpus found; looked in: " + "; ".join(looked)
                   + ". Pass --data DIR or set SER_CLASSIC_DATA (see data/README.md).")


def _looks_like_corpus(path: Path) -> bool:
    from .data import corpus_of_folder

    return corpus_of_folder(path) is not None or (path / "labels.csv").is_file()


def _corpus_dirs(data_dir: Path, corpora: list[str]) -> dict[str, Path]:
    if _looks_like_corpus(data_dir):
        return {data_dir.name: data_dir}
    found = {c: data_dir / c for c in corpora if (data_dir / c).is_dir()}
    if not found:
        raise CliError(f"{data_dir}: none of the corpora {corpora} found inside")
    return found


def _load_or_build_manifest(args) -> "pd.DataFrame":  # noqa: F821, UP037
    from . import data

    path = Path(args.manifest)
    if path.is_file():
        return data.load_manifest(path)
    manifest = _scan_manifest(getattr(args, "data", None))
    data.save_manifest(manifest, path)
    print(f"wrote {path} ({len(manifest)} clips)", file=sys.stderr)
    return manifest


def _scan_manifest(data_arg: str | None) -> "pd.DataFrame":  # noqa: F821, UP037
    """Manifest of every corpus under the data folder; unreadable files are reported."""
    from . import data

    data_dir = resolve_data_dir(data_arg)
    records, errors = [], []
    for corpus_dir in _corpus_dirs(data_dir, list(CORPORA)).values():
        records += data.scan_corpus(corpus_dir, errors=errors)
    manifest = data.build_manifest(records, errors=errors)
    for source, problem in errors:
        print(f"skipped {source}: {problem}", file=sys.stderr)
    return manifest


def _add_data_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--data", help="corpus root (default: $SER_CLASSIC_DATA, ./data, "
                                  "../shared/data)")
    p.add_argument("--manifest", default=str(DEFAULT_MANIFEST),
                   help=f"manifest CSV, built from --data when missing "
                        f"(default {DEFAULT_MANIFEST})")


def _add_cache_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--cache", default=os.environ.get("SER_CLASSIC_CACHE", str(DEFAULT_CACHE)),
                   help="feature cache folder (default $SER_CLASSIC_CACHE or .cache/features)")
    p.add_argument("--jobs", type=int, default=os.cpu_count() or 1,
                   help="parallel worker processes")


# --------------------------------------------------------------------------- data
def _add_data(p: argparse.ArgumentParser) -> None:
    sub = p.add_subparsers(dest="data_command", required=True, metavar="{scan,add,stats}")
    scan = sub.add_parser("scan", help="build the manifest of the corpora under --data")
    _add_data_options(scan)
    add = sub.add_parser("add", help="merge new labelled recordings into the manifest")
    add.add_argument("src", help="a RAVDESS/TESS/EMOVO folder, a folder with labels.csv, or a CSV "
                                 "(path,label[,speaker])")
    add.add_argument("--corpus", help="corpus name for CSV recordings (default: folder name)")
    add.add_argument("--strict", action="store_true",
                     help="all or nothing: merge nothing when any recording is skipped")
    _add_data_options(add)
    stats = sub.add_parser("stats", help="duration and emotion statistics to reports/data/")
    _add_data_options(stats)
    stats.add_argument("--out", default="reports/data", help="output folder")


def _run_data(args) -> int:
    from . import data

    if args.data_command == "scan":
        manifest = _scan_manifest(args.data)
        data.save_manifest(manifest, args.manifest)
        summary = manifest.groupby("corpus").agg(clips=("path", "size"),
                                                 speakers=("speaker", "nunique"))
        print(summary.to_string())
        dups = manifest[manifest["sha256"].duplicated(keep=False)]
        for _, group in dups.groupby("sha256"):
            print("content duplicate (kept, same speaker): " + ", ".join(group["path"]),
                  file=sys.stderr)
        print(f"wrote {args.manifest}")
        return 0
    if args.data_command == "add":
        return _data_add(args)
    if args.data_command == "stats":
        from . import reporting

        manifest = _load_or_build_manifest(args)
        written = reporting.data_stats_report(manifest, out_dir=args.out,
                                              command=args.command_line)
        for path in written:
            print(f"wrote {path}")
        return 0
    raise CliError(f"unknown data command {args.data_command}")


def _data_add(args) -> int:
    """``data add``: merge the good recordings, report every skipped one in one summary;
    exit 1 when one was skipped (``--strict``: merge nothing then)."""
    from . import data

    manifest = _load_or_build_manifest(args)
    src = Path(args.src)
    errors: list = []  # (source, problem): unparsable names and CSV rows, then bad audio
    if src.is_file():
        records = data.read_labelled_csv(src, corpus=args.corpus or src.parent.name,
                                         errors=errors)
    else:
        records = data.scan_corpus(src, errors=errors)
    merged, report = data.add_recordings(manifest, records)
    errors += report.errors
    for new, old in report.duplicates:
        print(f"duplicate skipped: {new} (same content as {old})", file=sys.stderr)
    for source, problem in errors:
        print(f"error skipped: {source}: {problem}", file=sys.stderr)
    if errors and args.strict:
        print(f"--strict: nothing merged, {len(errors)} error(s); manifest "
              f"{args.manifest} unchanged: {len(manifest)} clips")
        return 1
    data.save_manifest(merged, args.manifest)
    print(f"added {len(report.added)}, duplicates {len(report.duplicates)}, "
          f"errors {len(errors)}; manifest {args.manifest}: {len(merged)} clips")
    if errors:
        print(f"{len(errors)} recording(s) skipped, listed above; fix them and run "
              f"`data add` again (the merged ones are kept, duplicates are skipped)",
              file=sys.stderr)
    return 1 if errors else 0


# --------------------------------------------------------------------------- features
def _add_features(p: argparse.ArgumentParser) -> None:
    _add_data_options(p)
    _add_cache_options(p)
    p.add_argument("--corpus", action="append", choices=CORPORA,
                   help="only this corpus (repeatable; default all in the manifest)")
    _add_feature_config_option(p)


def _add_feature_config_option(p: argparse.ArgumentParser) -> None:
    p.add_argument("--feature-config", metavar="JSON",
                   help="FeatureConfig fields that differ from the defaults, e.g. "
                        "'{\"n_fft\": 512, \"win_length\": 512, \"fmin_f0\": 65}' "
                        "(another front end; cached under its own hash)")


def _feature_config(text: str | None):
    import json

    from .features import FeatureConfig

    if not text:
        return FeatureConfig()
    try:
        fields = json.loads(text)
    except json.JSONDecodeError as exc:
        raise CliError(f"--feature-config is not JSON: {exc}") from None
    if not isinstance(fields, dict):
        raise CliError("--feature-config must be a JSON object of FeatureConfig fields")
    unknown = sorted(set(fields) - set(FeatureConfig().to_dict()))
    if unknown:
        raise CliError(f"--feature-config: unknown field(s) {unknown}")
    return FeatureConfig(**fields)  # ParameterError (a ValueError) on bad values


def _run_features(args) -> int:
    import time

    from .features import extract_batch, feature_names

    manifest = _load_or_build_manifest(args)
    if args.corpus:
        manifest = manifest[manifest["corpus"].isin(args.corpus)]
    config = _feature_config(args.feature_config)
    start = time.perf_counter()
    repaired: list = []
    _, errors, n_extracted = extract_batch(
        manifest["path"], sha256=manifest["sha256"], config=config, cache_dir=args.cache,
        n_jobs=args.jobs, progress=sys.stderr.isatty(), cache_errors=repaired)
    elapsed = time.perf_counter() - start
    for entry, problem in repaired:
        print(f"cache entry replaced: {entry}: {problem}; recomputed", file=sys.stderr)
    for source, problem in errors:
        print(f"error: {source}: {problem}", file=sys.stderr)
    print(f"{len(manifest)} clips x {len(feature_names(config=config))} features "
          f"(config {config.hash}): extracted {n_extracted}, from cache "
          f"{len(manifest) - n_extracted - len(errors)}, errors {len(errors)}, "
          f"{elapsed:.1f} s")
    return 1 if errors else 0


# --------------------------------------------------------------------------- deployment
DEFAULT_CV_SUMMARY = Path("reports/cv/summary.json")


def _split_list(text: str | None) -> list[str]:
    return [s.strip() for s in (text or "").split(",") if s.strip()]


def _cv_run(path: Path, protocol: str) -> dict | None:
    """The CV summary of ``protocol`` (strict, or the speaker-normalised run)."""
    import json

    if not path.is_file():
        return None
    summary = json.loads(path.read_text())
    if bool(summary.get("speaker_normalized")) == (protocol == "speaker_norm"):
        return summary
    return summary.get("speaker_normalized_run")


def _resolve_name(text: str, cv_summary: str, protocol: str) -> str:
    """``@selected`` / ``@runner_up`` -> the registry name the CV summary names; a model
    directory -> the registry model it was trained as (its card read and verified)."""
    if (Path(text) / "model.json").is_file():
        from .artifact import load_artifact

        return str(load_artifact(text, load_joblib=False).card["name"])
    if not text.startswith("@"):
        return text
    key = text[1:]
    run = _cv_run(Path(cv_summary), protocol)
    if run is None or not run.get(key):
        raise CliError(f"{text}: no {key!r} in the {protocol} run of {cv_summary} "
                       f"(run `ser-classic cv` first)")
    return str(run[key])


def _default_model_dir(name: str, protocol: str) -> Path:
    return Path("models") / (name if protocol == "strict" else f"{name}-speaker_norm")


def _model_dir(text: str, cv_summary: str = str(DEFAULT_CV_SUMMARY),
               protocol: str = "strict") -> Path:
    """A model directory, a name with a directory under ``models/``, or ``@selected``."""
    path = Path(text)
    if text.startswith("@"):
        return _default_model_dir(_resolve_name(text, cv_summary, protocol), protocol)
    if not path.is_dir() and (Path("models") / text).is_dir():
        return Path("models") / text
    return path


def _load_recognizer(text: str, backend: str = "sklearn", *,
                     max_duration_s: float | None = None, **kwargs):
    from .recognizer import load

    limits = {} if max_duration_s is None else {"max_duration_s": max_duration_s}
    return load(_model_dir(text, **kwargs), backend=backend, **limits)


def _add_train(p: argparse.ArgumentParser) -> None:
    _add_data_options(p)
    _add_cache_options(p)
    p.add_argument("--model", required=True,
                   help="registry name (ser_classic.models), @selected / @runner_up of "
                        "the CV summary (for --protocol), or a model directory (its "
                        "registry model)")
    p.add_argument("--out", help="model directory (default models/NAME, or "
                                 "models/NAME-speaker_norm)")
    p.add_argument("--protocol", choices=("strict", "speaker_norm"), default="strict",
                   help="speaker_norm: features z-scored per speaker (train and inference)")
    p.add_argument("--corpus", default="ravdess", help="training corpus in the manifest")
    p.add_argument("--exclude-speakers", default="",
                   help="comma-separated speakers left out of training (held-out A/B)")
    p.add_argument("--exclude-emotions", default="",
                   help="comma-separated emotions left out (e.g. calm: the 7 emotions "
                        "shared with TESS)")
    p.add_argument("--params", help="hyper-parameters as JSON (default: the tuned ones of "
                                    "--cv-summary when it has the model)")
    p.add_argument("--cv-summary", default=str(DEFAULT_CV_SUMMARY),
                   help="cross-validation summary.json: tuned params and CV metrics")
    p.add_argument("--seed", type=int, default=0, help="random_state of the model")
    p.add_argument("--augment", choices=("none", *AUGMENT_VARIANTS), default=DEFAULT_AUGMENT,
                   help="augmented copies for the models registered as augmented "
                        f"(default {DEFAULT_AUGMENT}, as the evaluation)")
    p.add_argument("--copies", type=int, default=4, help="augmented copies per clip")
    _add_feature_config_option(p)


def _cv_entry(path: Path, name: str, protocol: str) -> tuple[dict | None, dict | None]:
    """(params, metrics) of model ``name`` in a CV summary.json, or (None, None)."""
    summary = _cv_run(path, protocol)
    if summary is None:
        return None, None
    entry = summary.get("models", {}).get(name)
    if entry is None:
        return None, None
    keep = ("accuracy", "uar", "macro_f1", "accuracy_ci95", "uar_ci95", "macro_f1_ci95")
    metrics = {k: entry[k] for k in keep if k in entry}
    metrics.update({"summary": str(path), "protocol": summary.get("protocol"),
                    "speaker_normalized": summary.get("speaker_normalized"),
                    "n_speakers": summary.get("n_speakers"),
                    "feature_config": summary.get("feature_config"),
                    "classes": summary.get("classes")})
    params = entry.get("params")
    if isinstance(params, list):  # tuned per outer fold: the most frequent choice
        import json
        from collections import Counter

        counts = Counter(json.dumps(p, sort_keys=True) for p in params)
        params = json.loads(counts.most_common(1)[0][0]) if counts else None
        metrics["params_rule"] = "most frequent per-fold choice"
    return params, metrics


def _run_train(args) -> int:
    import json
    import time
    import warnings

    import numpy as np

    from .artifact import manifest_hash, save_artifact, train_model
    from .export import check_parity, to_onnx_bytes
    from .features import extract_batch

    config = _feature_config(args.feature_config)
    args.model = _resolve_name(args.model, args.cv_summary, args.protocol)
    manifest = _load_or_build_manifest(args)
    rows = manifest[manifest["corpus"] == args.corpus]
    excluded = _split_list(args.exclude_speakers)
    unknown = sorted(set(excluded) - set(rows["speaker"]))
    if unknown:
        raise CliError(f"--exclude-speakers: no such speaker(s) in {args.corpus}: {unknown}")
    rows = rows[~rows["speaker"].isin(excluded)].reset_index(drop=True)
    no_emotions = _split_list(args.exclude_emotions)
    unknown = sorted(set(no_emotions) - set(rows["emotion"]))
    if unknown:
        raise CliError(f"--exclude-emotions: no such emotion(s) in {args.corpus}: {unknown}")
    rows = rows[~rows["emotion"].isin(no_emotions)].reset_index(drop=True)
    if rows.empty:
        raise CliError(f"no {args.corpus} clips in the manifest")
    X, errors, _ = extract_batch(rows["path"], sha256=rows["sha256"], config=config,
                                 cache_dir=args.cache, n_jobs=args.jobs)
    for source, problem in errors:
        print(f"skipped {source}: {problem}", file=sys.stderr)
    X_aug = _augmented_rows(args.augment, rows, config=config, copies=args.copies,
                            cache=args.cache, seed=args.seed, n_jobs=args.jobs)
    ok = ~np.isnan(X).any(axis=1)
    for Xa in X_aug:
        ok &= ~np.isnan(Xa).any(axis=1)
    rows, X, X_aug = rows[ok].reset_index(drop=True), X[ok], [Xa[ok] for Xa in X_aug]
    cv_params, cv_metrics = _cv_entry(Path(args.cv_summary), args.model, args.protocol)
    cv_config = (cv_metrics or {}).get("feature_config")
    cv_classes = (cv_metrics or {}).get("classes")
    other_front_end = cv_config is not None and cv_config != config.to_dict()
    if other_front_end or no_emotions:  # the CV's tuned parameters are still used; its
        cv_metrics = None               # metrics (another front end / label set) are not ours
    params = json.loads(args.params) if args.params else cv_params
    start = time.perf_counter()
    with warnings.catch_warnings():
        # SVC(probability=True) is deprecated in sklearn 1.9 (FutureWarning); constant
        # features in the ANOVA selection (UserWarning + divide RuntimeWarning)
        warnings.simplefilter("ignore", FutureWarning)
        warnings.simplefilter("ignore", UserWarning)
        warnings.filterwarnings("ignore", message="invalid value encountered in divide")
        warnings.filterwarnings("ignore", message=".*lbfgs failed to converge.*")
        estimator, classes = train_model(X, rows["emotion"], name=args.model,
                                         speakers=rows["speaker"], protocol=args.protocol,
                                         params=params, random_state=args.seed,
                                         X_aug=X_aug)
        fit_s = time.perf_counter() - start
        onnx = to_onnx_bytes(estimator, n_features=X.shape[1])
    from .evaluation import protocol_inputs

    Xp = protocol_inputs(X, (), rows["speaker"], protocol=args.protocol)[0]
    sample = Xp[np.random.default_rng(args.seed).permutation(len(Xp))[:300]]
    try:
        parity = check_parity(estimator, onnx, sample, atol=1e-4)
        parity_ok = True
    except ValueError as exc:
        print(f"warning: {exc}; use backend='sklearn' for this model", file=sys.stderr)
        from .export import onnx_predict_proba, onnx_session

        parity = float(np.abs(estimator.predict_proba(sample) - onnx_predict_proba(
            onnx_session(onnx), sample)).max())
        parity_ok = False
    training = {
        "corpus": args.corpus, "n_clips": len(rows),
        "speakers": sorted(rows["speaker"].unique()), "excluded_speakers": excluded,
        "excluded_emotions": no_emotions,
        "emotion_counts": rows["emotion"].value_counts().sort_index().to_dict(),
        "manifest_sha256": manifest_hash(list(rows["sha256"]), list(rows["emotion"])),
        "params": params, "random_state": args.seed, "fit_seconds": round(fit_s, 2),
        "augment": {"variant": args.augment, "copies": args.copies if X_aug else 0,
                    **AUGMENT_VARIANTS.get(args.augment, {})},
        "command": args.command_line,
    }
    if other_front_end and not args.params:
        training["params_tuned_on_feature_config"] = cv_config
    if no_emotions and cv_classes and not args.params:
        training["params_tuned_with_emotions"] = cv_classes
    out = Path(args.out) if args.out else _default_model_dir(args.model, args.protocol)
    card = save_artifact(out, estimator=estimator, classes=classes, config=config,
                         name=args.model, protocol=args.protocol, onnx=onnx,
                         training=training, cv_metrics=cv_metrics,
                         extra={"onnx_parity": {"max_abs_diff": parity, "atol": 1e-4,
                                                "ok": parity_ok, "n_rows": len(sample)}})
    sizes = ", ".join(f"{f} {(out / f).stat().st_size / 1e6:.2f} MB" for f in card["files"])
    print(f"wrote {out} ({card['model_id']}, {args.protocol}, {len(rows)} clips, fit "
          f"{fit_s:.1f} s, ONNX parity {parity:.1e}; {sizes})")
    return 0


def _add_predict(p: argparse.ArgumentParser) -> None:
    p.add_argument("inputs", nargs="+", metavar="FILE_OR_DIR",
                   help="audio files or folders (searched recursively)")
    p.add_argument("--model", required=True, help="model directory (or name under models/)")
    p.add_argument("--format", choices=("table", "json", "csv"), default="table")
    p.add_argument("--backend", choices=("sklearn", "onnx"), default="sklearn")
    p.add_argument("--speaker-norm", action="store_true",
                   help="normalise with per-speaker statistics of the given clips")
    p.add_argument("--speaker-regex",
                   help="with --speaker-norm: regex whose first group (else whole match), "
                        "searched in each file name, names its speaker (default: the "
                        "parent folder is the speaker)")


def _expand_inputs(inputs: list[str]) -> list[Path]:
    from .data import AUDIO_SUFFIXES

    paths: list[Path] = []
    for text in inputs:
        path = Path(text)
        if path.is_dir():
            paths += sorted(p for p in path.rglob("*")
                            if p.is_file() and p.suffix.lower() in AUDIO_SUFFIXES)
        else:
            paths.append(path)  # missing files are reported by the loader
    if not paths:
        raise CliError("no audio files found in " + ", ".join(inputs))
    return paths


def _speaker_of(path: Path, regex: str | None) -> str:
    import re

    if regex is None:
        return str(path.parent)
    match = re.search(regex, path.name)
    if match is None:
        raise CliError(f"--speaker-regex {regex!r} does not match {path.name}")
    return match.group(1) if match.groups() else match.group(0)


def _run_predict(args) -> int:
    import json

    import numpy as np
    import pandas as pd

    from .recognizer import SpeakerStats

    rec = _load_recognizer(args.model, args.backend)
    if args.speaker_norm and rec.protocol == "strict":
        raise CliError(f"{rec.model_id} is not speaker-normalised; drop --speaker-norm")
    if rec.protocol == "speaker_norm" and not args.speaker_norm:
        raise CliError(f"{rec.model_id} is speaker-normalised: add --speaker-norm (clips "
                       f"grouped by speaker, see --speaker-regex)")
    paths = _expand_inputs(args.inputs)
    X, errors = rec.features([str(p) for p in paths], on_error="nan")
    ok = ~np.isnan(X).any(axis=1)
    proba = np.full((len(paths), len(rec.classes_)), np.nan)
    speakers = [_speaker_of(p, args.speaker_regex) if args.speaker_norm else None
                for p in paths]
    if args.speaker_norm:
        for spk in sorted(set(speakers)):
            rows = np.array([s == spk for s in speakers]) & ok
            if rows.sum() < 2:
                errors += [(str(paths[i]), f"speaker {spk!r} has fewer than 2 usable clips "
                                           f"for speaker statistics")
                           for i in np.flatnonzero(rows)]
                ok &= ~rows
                continue
            proba[rows] = rec.proba_from_features(
                X[rows], speaker=SpeakerStats.from_features(X[rows]))
    elif ok.any():
        proba[ok] = rec.proba_from_features(X[ok])
    problems = dict(errors)
    records = []
    for i, path in enumerate(paths):
        rec_row = {"path": str(path)}
        if args.speaker_norm:
            rec_row["speaker"] = speakers[i]
        if ok[i]:
            rec_row["emotion"] = str(rec.classes_[int(np.argmax(proba[i]))])
            rec_row.update({f"p_{c}": round(float(v), 4)
                            for c, v in zip(rec.classes_, proba[i], strict=True)})
        else:
            rec_row["error"] = problems.get(str(path), "unusable audio")
        records.append(rec_row)
    if args.format == "json":
        print(json.dumps({"model_id": rec.model_id, "predictions": records}, indent=2))
    else:
        frame = pd.DataFrame(records)
        if args.format == "csv":
            print(frame.to_csv(index=False), end="")
        else:
            cols = [c for c in ("path", "speaker", "emotion") if c in frame.columns]
            if ok.any():
                frame["p"] = [round(float(np.nanmax(p)), 3) if k else None
                              for p, k in zip(proba, ok, strict=True)]
                cols.append("p")
            if "error" in frame.columns:
                cols.append("error")
            print(frame[cols].fillna("").to_string(index=False))
    for source, problem in errors:
        print(f"error: {source}: {problem}", file=sys.stderr)
    print(f"{int(ok.sum())} predicted, {len(paths) - int(ok.sum())} failed "
          f"({rec.model_id})", file=sys.stderr)
    return 1 if errors else 0


def _add_serve(p: argparse.ArgumentParser) -> None:
    p.add_argument("--model", required=True, help="model directory (or name under models/)")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8000)
    p.add_argument("--backend", choices=("sklearn", "onnx"), default="sklearn")
    p.add_argument("--max-upload-mb", type=float, default=10.0,
                   help="per file (a batch body may hold --max-batch files)")
    p.add_argument("--max-duration", type=float, default=30.0,
                   help="seconds; longer audio is refused (413) before it is decoded")
    p.add_argument("--max-batch", type=int, default=32, help="files per /predict/batch")
    p.add_argument("--max-concurrent-decodes", type=int, default=2,
                   help="requests decoding and extracting at a time (bounds peak memory)")
    p.add_argument("--header-timeout", type=float, default=10.0,
                   help="seconds to receive a request's headers")
    p.add_argument("--body-timeout", type=float, default=15.0,
                   help="seconds to wait for the next bytes of a request body")
    p.add_argument("--keep-alive", type=float, default=5.0,
                   help="seconds an idle keep-alive connection stays open")


def _run_serve(args) -> int:
    import uvicorn

    from .service import create_app, server_config

    # every limit is the app's and the recogniser's: the one given is the one named
    rec = _load_recognizer(args.model, args.backend, max_duration_s=args.max_duration)
    app = create_app(rec, max_upload_bytes=int(args.max_upload_mb * 1e6),
                     max_duration_s=args.max_duration, max_batch=args.max_batch,
                     max_concurrent_decodes=args.max_concurrent_decodes)
    config = server_config(app, host=args.host, port=args.port,
                           header_timeout_s=args.header_timeout,
                           body_timeout_s=args.body_timeout, keep_alive_s=args.keep_alive,
                           log_level="info")
    uvicorn.Server(config).run()
    return 0


def _add_ab(p: argparse.ArgumentParser) -> None:
    p.add_argument("--a", required=True, help="model A: directory, name under models/, or "
                                              "@selected / @runner_up of --cv-summary")
    p.add_argument("--b", required=True, help="model B (as --a)")
    p.add_argument("--cv-summary", default=str(DEFAULT_CV_SUMMARY),
                   help="resolves @selected / @runner_up")
    p.add_argument("--protocol", choices=("strict", "speaker_norm"), default="strict",
                   help="which CV run @selected / @runner_up refer to")
    p.add_argument("--data", required=True, help="test corpus folder (TESS, RAVDESS, or a "
                                                 "folder with labels.csv)")
    p.add_argument("--out", required=True, help="report folder, e.g. reports/ab/NAME")
    p.add_argument("--speakers", default="", help="only these speakers (comma-separated)")
    p.add_argument("--exclude-emotions", default="",
                   help="leave out clips of these emotions (comma-separated; e.g. calm, to "
                        "compare 7-emotion models on RAVDESS)")
    p.add_argument("--calm-as", choices=("neutral", "wrong"), default="neutral",
                   help="how a calm prediction counts when the corpus has no calm")
    p.add_argument("--backend", choices=("sklearn", "onnx"), default="sklearn")
    p.add_argument("--boot", type=int, default=2000, help="bootstrap resamples")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--limit", type=int, help="at most this many clips (seeded subset)")
    p.add_argument("--deploy-to", help="copy the winner's model directory here (verified)")


def _run_ab(args) -> int:
    import numpy as np

    from . import abtest, data

    kw = {"cv_summary": args.cv_summary, "protocol": args.protocol}
    rec_a = _load_recognizer(args.a, args.backend, **kw)
    rec_b = _load_recognizer(args.b, args.backend, **kw)
    records = data.scan_corpus(Path(args.data))
    wanted = _split_list(args.speakers)
    if wanted:
        records = [r for r in records if r["speaker"] in wanted]
    left_out = _split_list(args.exclude_emotions)
    unknown = sorted(set(left_out) - {r["emotion"] for r in records})
    if unknown:
        raise CliError(f"--exclude-emotions: no such emotion(s) in {args.data}: {unknown}")
    records = [r for r in records if r["emotion"] not in left_out]
    if args.limit and len(records) > args.limit:
        keep = np.random.default_rng(args.seed).choice(len(records), args.limit, replace=False)
        records = [records[i] for i in sorted(keep)]
    if not records:
        raise CliError(f"{args.data}: no clips (speakers {wanted or 'all'})")
    test_speakers = {r["speaker"] for r in records}
    for key, rec in (("A", rec_a), ("B", rec_b)):
        seen = set(rec.card.get("training", {}).get("speakers") or ())
        if seen & test_speakers:
            raise CliError(f"model {key} ({rec.model_id}) was trained on test speaker(s) "
                           f"{sorted(seen & test_speakers)}")
    print("decision rule (declared before the run): " + abtest.DECISION_RULE, file=sys.stderr)
    waves, labels, speakers, paths = [], [], [], []
    for r in records:
        try:
            waves.append(data.load_audio(r["path"], sr=rec_a.feature_config.sample_rate,
                                         channel=data.corpus_channel(r["path"])))
        except data.AudioError as exc:
            print(f"skipped {exc.source}: {exc.problem}", file=sys.stderr)
            continue
        labels.append(r["emotion"])
        speakers.append(r["speaker"])
        paths.append(r["path"])
    summary = abtest.run_ab(rec_a, rec_b, waveforms=waves, labels=labels,
                            speakers=speakers, calm_as=args.calm_as, n_boot=args.boot,
                            random_state=args.seed, paths=paths,
                            progress=lambda line: print(line, file=sys.stderr, flush=True))
    summary["data"] = str(args.data)
    for path in abtest.ab_report(summary, out_dir=args.out, command=args.command_line):
        print(f"wrote {path}")
    a, b = summary["models"]["a"], summary["models"]["b"]
    print(f"A {a['model_id']}: accuracy {a['accuracy']:.3f}, UAR {a['uar']:.3f}, p50 "
          f"{a['latency']['p50_ms']:.1f} ms | B {b['model_id']}: accuracy "
          f"{b['accuracy']:.3f}, UAR {b['uar']:.3f}, p50 {b['latency']['p50_ms']:.1f} ms")
    print(f"winner: {summary['decision']['winner_model']} ({summary['decision']['reason']})")
    if args.deploy_to:
        from .artifact import copy_artifact

        copy_artifact(summary["decision"]["winner_path"], args.deploy_to)
        print(f"deployed {summary['decision']['winner_model']} to {args.deploy_to}")
    return 0


# --------------------------------------------------------------------------- evaluate
AUGMENT_VARIANTS = {
    # the seed's processing after silence trim: random shift + 1 frequency + 1 time mask
    "seed": dict(max_shift_s=0.25, n_freq_masks=1, max_freq_width_hz=500.0,
                 n_time_masks=1, max_time_width_s=0.2),
    # masks only (no shift: a shift pads the trimmed clip with silence)
    "masks": dict(max_shift_s=0.0, n_freq_masks=1, max_freq_width_hz=500.0,
                  n_time_masks=1, max_time_width_s=0.2),
    # frequency masks only (time masks change duration-like statistics)
    "freqmask": dict(max_shift_s=0.0, n_freq_masks=2, max_freq_width_hz=300.0,
                     n_time_masks=0, max_time_width_s=0.0),
    # vocal-tract-length perturbation: copy k warps the frequency axis by 0.9, 1.1, 0.95,
    # 1.05 (the first --copies of them)
    "vtlp": dict(max_shift_s=0.0, n_freq_masks=0, max_freq_width_hz=0.0, n_time_masks=0,
                 max_time_width_s=0.0, warp_factors=(0.9, 1.1, 0.95, 1.05)),
}
DEFAULT_AUGMENT = "vtlp"


def _augmented_rows(variant: str, manifest, *, config, copies: int, cache, seed: int,
                    n_jobs: int) -> list:
    """Feature rows of ``copies`` augmented copies of every clip of ``manifest``."""
    from .augment import AugmentConfig
    from .features import extract_batch

    if variant == "none":
        return []
    # the first `copies` copies of a 4-copy configuration (one cache for all k)
    aug = AugmentConfig(n_copies=max(4, copies), **AUGMENT_VARIANTS[variant])
    return [extract_batch(manifest["path"], sha256=manifest["sha256"], config=config,
                          cache_dir=cache, augment=aug, copy=k, seed=seed,
                          n_jobs=n_jobs)[0]
            for k in range(copies)]
FEATURE_SETS = ("librosa", "eGeMAPSv02", "ComParE_2016")


def _add_evaluate(p: argparse.ArgumentParser) -> None:
    from .models import model_names

    _add_data_options(p)
    _add_cache_options(p)
    p.add_argument("--protocol", choices=("loso", "group6"), default="loso",
                   help="outer folds: leave one speaker out (default) or 6 x 4 actors")
    p.add_argument("--models", default=",".join(model_names(default_only=True)),
                   help="comma-separated registry models (default: %(default)s)")
    p.add_argument("--normalization", choices=("both", "strict", "speaker"), default="both",
                   help="protocols to run: strict and/or speaker-normalised (default both)")
    p.add_argument("--augment", choices=("none", *AUGMENT_VARIANTS), default=DEFAULT_AUGMENT,
                   help="training-row augmentation of the main runs, used by the models "
                        f"registered as augmented (default {DEFAULT_AUGMENT})")
    p.add_argument("--copies", type=int, default=4, help="augmented copies per clip")
    p.add_argument("--ablation", default="",
                   help="comma-separated augmentation variants to compare with none on the "
                        "same folds (model: --ablation-model)")
    p.add_argument("--ablation-model", default="logreg")
    p.add_argument("--feature-sets", default="eGeMAPSv02:logreg+svm,ComParE_2016:logreg",
                   help="openSMILE sets and their classifiers compared on the same folds, "
                        "SET:MODEL+MODEL,...; '' skips (needs the bench extra; skipped "
                        "with a note when opensmile is missing)")
    p.add_argument("--smile-cache", default=".cache/smile",
                   help="openSMILE feature cache (untrimmed clips, as published)")
    p.add_argument("--folds", type=int, default=6, help="number of folds of --protocol group6")
    p.add_argument("--inner", type=int, default=2, help="grouped inner CV folds for tuning")
    p.add_argument("--speakers", type=int, default=0,
                   help="only the first N speakers (quick runs; 0 = all)")
    p.add_argument("--corpus", default="ravdess", help="corpus of the manifest to evaluate")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", default="reports/cv", help="output folder")
    p.add_argument("--report-only", action="store_true",
                   help="only rewrite report.md and the plots from --out/summary.json")


def _eval_rows(ev, summary, *, feature_set, n_features, label):
    rows = []
    best = max(summary["models"], key=lambda n: summary["models"][n]["accuracy"])
    for name, m in summary["models"].items():
        rows.append({"feature_set": feature_set, "n_features": n_features,
                     "protocol_label": label, "speaker_normalized": ev.speaker_normalized,
                     "model": name, "accuracy": m["accuracy"], "uar": m["uar"],
                     "macro_f1": m["macro_f1"], "uar_ci95": m["uar_ci95"],
                     "accuracy_ci95": m["accuracy_ci95"], "fold_uar": m["fold_uar"],
                     "best": name == best})
    return rows


def _evaluate_command(args) -> str:
    """The ``ser-classic evaluate`` command line equivalent to ``args`` (non-defaults)."""
    import shlex

    defaults = argparse.ArgumentParser()
    _add_evaluate(defaults)
    parts = ["ser-classic", "evaluate"]
    for action in defaults._actions:
        if action.dest == "help" or not action.option_strings:
            continue
        value = getattr(args, action.dest, action.default)
        if value != action.default:
            parts += [action.option_strings[0], shlex.quote(str(value))]
    return " ".join(parts)


def _run_evaluate(args) -> int:
    import json
    import time

    import numpy as np

    from . import evaluation, reporting
    from .data import EMOTIONS, atomic_write_bytes
    from .features import FeatureConfig, extract_batch

    start = time.perf_counter()
    if args.report_only:
        summary_path = Path(args.out) / "summary.json"
        if not summary_path.is_file():
            raise CliError(f"{summary_path} not found: run ser-classic evaluate first")
        summary = json.loads(summary_path.read_text())
        written = reporting.cv_report(summary, out_dir=args.out, command=summary["command"])
        print(f"rewrote {len(written)} report files in {args.out}")
        return 0
    command = _evaluate_command(args)
    manifest = _load_or_build_manifest(args)
    manifest = manifest[manifest["corpus"] == args.corpus].reset_index(drop=True)
    if manifest.empty:
        raise CliError(f"no clips of corpus {args.corpus!r} in {args.manifest}")
    if args.speakers:
        keep = sorted(manifest["speaker"].unique())[: args.speakers]
        manifest = manifest[manifest["speaker"].isin(keep)].reset_index(drop=True)
    models = [m for m in args.models.split(",") if m]
    config = FeatureConfig()
    X, errors, _ = extract_batch(manifest["path"], sha256=manifest["sha256"], config=config,
                                 cache_dir=args.cache, n_jobs=args.jobs)
    ok = ~np.isnan(X).any(axis=1)
    for source, problem in errors:
        print(f"skipped {source}: {problem}", file=sys.stderr)
    manifest, X = manifest[ok].reset_index(drop=True), X[ok]
    code = {e: i for i, e in enumerate(EMOTIONS)}
    y = manifest["emotion"].map(code).to_numpy()
    groups = manifest["speaker"].to_numpy()

    def augmented(variant):
        return _augmented_rows(variant, manifest, config=config, copies=args.copies,
                               cache=args.cache, seed=args.seed, n_jobs=args.jobs)

    def log(line):
        print(line, file=sys.stderr, flush=True)

    protocols = {"both": (False, True), "strict": (False,), "speaker": (True,)}[
        args.normalization]
    out = Path(args.out)
    summaries = {}
    X_aug = augmented(args.augment)
    for norm in protocols:
        label = "speaker-normalised" if norm else "strict"
        log(f"== librosa features, {label}, {args.protocol}, models {models}")
        ev = evaluation.cross_validate(
            X, y, groups, models=models, classes=EMOTIONS, protocol=args.protocol,
            n_group_folds=args.folds, speaker_normalized=norm, X_aug=X_aug, n_inner=args.inner,
            random_state=args.seed, n_jobs=args.jobs, progress=log)
        summaries[norm] = (ev, evaluation.summary_dict(
            ev, feature_config_hash=config.hash, random_state=args.seed,
            extra={"n_features": X.shape[1], "n_inner": args.inner,
                   "augment": args.augment, "feature_config": config.to_dict(),
                   "augmented_models": [m for m in ev.models
                                        if evaluation.MODELS[m].augmented]}))
        tag = "speaker_normalized" if norm else "strict"
        for name in ev.models:
            frame = evaluation.oof_frame(ev, name, paths=manifest["path"])
            atomic_write_bytes(out / f"oof_{tag}_{name}.csv", frame.to_csv(index=False).encode())
    main_norm = protocols[0]
    summary = summaries[main_norm][1]
    if len(protocols) > 1:
        summary["speaker_normalized_run"] = summaries[True][1]
    feature_rows = []
    summary["feature_sets"] = feature_rows
    summary["command"] = command

    def write(complete):
        summary["complete"] = complete
        summary["seconds_total"] = time.perf_counter() - start
        atomic_write_bytes(out / "summary.json", json.dumps(summary, indent=1).encode())
        return reporting.cv_report(summary, out_dir=out, command=command)

    for norm in protocols:
        ev, s = summaries[norm]
        feature_rows += _eval_rows(ev, s, feature_set="librosa", n_features=X.shape[1],
                                   label="speaker-normalised" if norm else "strict")
    write(False)
    fused = {}
    for item in [f for f in args.feature_sets.split(",") if f]:
        fs, _, spec = item.partition(":")
        fs_models = [m for m in spec.split("+") if m] or ["logreg"]
        try:
            import opensmile  # noqa: F401

            from .smile import extract_smile_batch
        except ImportError:
            log(f"openSMILE not installed: {fs} comparison skipped (pip install "
                "'ser_classic[bench]')")
            continue
        log(f"== openSMILE {fs}")
        Xs, errs, _ = extract_smile_batch(manifest["path"], feature_set=fs,
                                          sha256=manifest["sha256"],
                                          cache_dir=args.smile_cache, n_jobs=args.jobs)
        if errs or np.isnan(Xs).any():
            raise CliError(f"openSMILE {fs} failed on {len(errs)} clips")
        for norm in protocols:
            label = "speaker-normalised" if norm else "strict"
            log(f"== {fs}, {label}, models {fs_models}")
            ev = evaluation.cross_validate(
                Xs, y, groups, models=fs_models, classes=EMOTIONS, protocol=args.protocol,
                n_group_folds=args.folds, speaker_normalized=norm, n_inner=args.inner,
                random_state=args.seed, n_jobs=args.jobs, progress=log)
            s = evaluation.summary_dict(ev, feature_config_hash=fs, random_state=args.seed)
            feature_rows += _eval_rows(ev, s, feature_set=fs, n_features=Xs.shape[1],
                                       label=label)
            fused.setdefault(norm, []).append((fs, ev.models[s["selected"]]))
            write(False)
    # late fusion: mean probabilities of the selected librosa model and each set's best
    for norm, members in fused.items():
        ev_l, s_l = summaries[norm]
        for fs, res in members:
            ev_f = evaluation.fuse(ev_l, {f"librosa:{s_l['selected']}":
                                          ev_l.models[s_l["selected"]],
                                          f"{fs}:{res.name}": res}, name="fusion")
            s_f = evaluation.summary_dict(ev_f, feature_config_hash="fusion",
                                          random_state=args.seed)
            feature_rows += _eval_rows(ev_f, s_f, feature_set=f"librosa+{fs} (late fusion)",
                                       n_features=0, label="speaker-normalised" if norm
                                       else "strict")
    write(False)
    ablation = [v for v in args.ablation.split(",") if v]
    if ablation:
        rows = []
        for variant in dict.fromkeys(["none", *ablation]):
            main_run = variant == args.augment and args.ablation_model in models
            X_v = [] if main_run else augmented(variant)
            for norm in protocols:
                label = "speaker-normalised" if norm else "strict"
                if main_run:  # the main run on the same folds already has it
                    m = summaries[norm][1]["models"][args.ablation_model]
                else:
                    log(f"== augmentation {variant}, {label}, {args.ablation_model}")
                    ev = evaluation.cross_validate(
                        X, y, groups, models=[args.ablation_model], classes=EMOTIONS,
                        protocol=args.protocol, n_group_folds=args.folds,
                        speaker_normalized=norm, X_aug=X_v, n_inner=args.inner,
                        random_state=args.seed, n_jobs=args.jobs, progress=log)
                    s = evaluation.summary_dict(ev, feature_config_hash=config.hash,
                                                random_state=args.seed)
                    m = s["models"][args.ablation_model]
                rows.append({"variant": variant, "protocol_label": label,
                             "model": args.ablation_model, "copies": 0 if variant == "none"
                             else args.copies, "accuracy": m["accuracy"], "uar": m["uar"],
                             "uar_ci95": m["uar_ci95"], "fold_uar": m["fold_uar"]})
        summary["augmentation"] = {
            "rows": rows, "variants": {v: AUGMENT_VARIANTS[v] for v in ablation},
            "note": f"{args.ablation_model} with and without {args.copies} augmented copies "
                    "per training clip, same outer folds and inner tuning."}
    written = write(True)
    for norm in protocols:
        s = summaries[norm][1]
        sel = s["models"][s["selected"]]
        print(f"{'speaker-normalised' if norm else 'strict'}: selected {s['selected']} "
              f"accuracy {sel['accuracy']:.3f} UAR {sel['uar']:.3f} "
              f"CI {sel['uar_ci95'][0]:.3f}-{sel['uar_ci95'][1]:.3f}")
    print(f"wrote {out / 'summary.json'} and {len(written)} report files "
          f"({summary['seconds_total']:.0f} s)")
    return 0


# --------------------------------------------------------------------------- distill
# transfer-set copies: masks only; copy k of n_copies=4 (a fixed config, so the cached
# copies serve any --copies <= 4)
DISTILL_AUGMENT = dict(n_copies=4, max_shift_s=0.0, n_freq_masks=1, max_freq_width_hz=500.0,
                       n_time_masks=1, max_time_width_s=0.2)


def _add_distill(p: argparse.ArgumentParser) -> None:
    _add_data_options(p)
    _add_cache_options(p)
    p.add_argument("--teacher", required=True, help="teacher model directory (or name "
                                                    "under models/); a speaker-normalised "
                                                    "teacher gives a speaker-normalised student")
    p.add_argument("--out", default="models/optimized", help="student model directory")
    p.add_argument("--student", choices=("tree", "tree_uint8", "mlp", "mlp_int8", "lgbm",
                                          "linear", "linear_int8", "compact",
                                          "compact_int8", "compact_fast",
                                          "compact_fast_int8"),
                   default="linear_int8", help="which student to deploy (default %(default)s: "
                        "the one that holds the accuracy; tree_uint8 is the depth-8 tree)")
    p.add_argument("--groups", default="mel,mfcc,energy,chroma,contrast",
                   help="descriptor groups the student may read (cheap ones by default)")
    p.add_argument("--compact-groups", default=None,
                   help="groups the compact student may read (default: every group but "
                        "the extended descriptors, the costliest; compact_fast also skips "
                        "the spectral-shape group)")
    p.add_argument("--max-depth", type=int, default=8)
    p.add_argument("--candidates", type=int, default=300,
                   help="candidate columns (ANOVA on the teacher's labels)")
    p.add_argument("--copies", type=int, default=2, choices=range(5),
                   help="augmented copies per clip in the transfer set (masks, cached)")
    p.add_argument("--munge", type=int, default=2, help="MUNGE samples per clip")
    p.add_argument("--seed", type=int, default=0)


def _run_distill(args) -> int:
    import numpy as np

    from .artifact import load_artifact
    from .augment import AugmentConfig
    from .distill import (
        COMPACT_FAST_SKIPS,
        COMPACT_SKIPS,
        TransferConfig,
        distill,
        quantized_onnx,
        save_student,
        to_onnx,
    )
    from .evaluation import protocol_inputs
    from .features import extract_batch

    if args.compact_groups and args.student not in ("compact", "compact_int8"):
        raise CliError(f"--compact-groups is for the compact student, not {args.student}")
    teacher = load_artifact(_model_dir(args.teacher))
    card = teacher.card
    training = card.get("training", {})
    manifest = _load_or_build_manifest(args)
    rows = manifest[manifest["corpus"] == training.get("corpus", "ravdess")]
    if training.get("speakers"):  # exactly the teacher's training clips
        rows = rows[rows["speaker"].isin(training["speakers"])]
    rows = rows[~rows["emotion"].isin(training.get("excluded_emotions", []))]
    rows = rows.reset_index(drop=True)
    if rows.empty:
        raise CliError("no training clips of the teacher in the manifest")
    config = teacher.feature_config
    X, errors, _ = extract_batch(rows["path"], sha256=rows["sha256"], config=config,
                                 cache_dir=args.cache, n_jobs=args.jobs)
    aug = AugmentConfig(**DISTILL_AUGMENT)
    copies = [extract_batch(rows["path"], sha256=rows["sha256"], config=config,
                            cache_dir=args.cache, augment=aug, copy=k, seed=args.seed,
                            n_jobs=args.jobs)[0] for k in range(args.copies)]
    X, copies = protocol_inputs(X, copies, rows["speaker"], protocol=card["protocol"])
    ok = ~np.isnan(X).any(axis=1)
    for source, problem in errors:
        print(f"skipped {source}: {problem}", file=sys.stderr)
    classes = list(card["classes"])
    y = np.searchsorted(classes, rows["emotion"].to_numpy(dtype=str))
    kind = args.student.removesuffix("_uint8").removesuffix("_int8")
    fitted = distill(X[ok], y[ok], teacher=teacher.estimator, n_classes=len(classes),
                     config=config, X_copies=[c[ok] for c in copies], students=[kind],
                     groups=_split_list(args.groups), n_candidates=args.candidates,
                     max_depth=args.max_depth, transfer=TransferConfig(
                         munge_rounds=args.munge), speakers=rows["speaker"].to_numpy()[ok],
                     compact_groups=args.compact_groups and _split_list(args.compact_groups),
                     random_state=args.seed)
    student = fitted["students"][kind if args.student != "tree_uint8" else "tree_uint8"]
    quant = fitted["quantization"].get(args.student)
    if args.student.endswith("_int8"):  # not tree_uint8: its graph is the tree's own
        onnx, quant = quantized_onnx(kind, student, n_features=X.shape[1])
    else:
        onnx = to_onnx(student, n_features=X.shape[1])
    sample = X[ok][np.random.default_rng(args.seed).permutation(int(ok.sum()))[:300]]
    allowed = _split_list(args.groups)
    if kind == "compact":
        allowed = _split_list(args.compact_groups) if args.compact_groups else \
            f"all but {', '.join(COMPACT_SKIPS)}"
    elif kind == "compact_fast":
        allowed = f"all but {', '.join(COMPACT_FAST_SKIPS)}"
    info = {"transfer_rows": fitted["n_transfer"], "groups_allowed": allowed,
            "max_depth": args.max_depth, "candidates": args.candidates,
            "augment": {**DISTILL_AUGMENT, "copies_used": args.copies}, "munge": args.munge,
            "quantization": quant, "command": args.command_line}
    if "linear_C" in fitted:
        info["linear_C"] = fitted["linear_C"]
    out = Path(args.out)
    new = save_student(out, student=student, name=f"distilled_{args.student}",
                       classes=classes, config=config, teacher_card=card, onnx=onnx,
                       parity_rows=sample, info=info, protocol=card["protocol"])
    d = new["distillation"]
    print(f"wrote {out} ({new['model_id']}): {len(d['select'])} features from "
          f"{', '.join(d['groups_needed'])}; model.onnx "
          f"{(out / 'model.onnx').stat().st_size / 1e3:.1f} KB vs teacher "
          f"{(teacher.path / 'model.onnx').stat().st_size / 1e3:.1f} KB; ONNX/sklearn "
          f"argmax agreement {new['onnx_parity']['argmax_agreement']:.3f}")
    return 0


# --------------------------------------------------------------------------- registry
Command = tuple[str, str, Callable[[argparse.ArgumentParser], None], Callable[..., int]]
COMMANDS: list[Command] = [
    ("data", "corpus manifest: scan, add recordings, statistics", _add_data, _run_data),
    ("features", "extract (and cache) features of the manifest", _add_features, _run_features),
    ("train", "fit a registry model on a corpus and write models/NAME", _add_train, _run_train),
    ("predict", "emotions of audio files with a trained model", _add_predict, _run_predict),
    ("serve", "HTTP prediction service (FastAPI + uvicorn)", _add_serve, _run_serve),
    ("ab", "A/B test of two trained models on a held-out corpus", _add_ab, _run_ab),
    ("evaluate", "speaker-grouped CV of the registry models, selection, reports/cv",
     _add_evaluate, _run_evaluate),
    ("distill", "distil a teacher model into a small student reading cheap features",
     _add_distill, _run_distill),
]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="ser-classic", description=__doc__.splitlines()[0])
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)
    for name, help_text, add, run in COMMANDS:
        p = sub.add_parser(name, help=help_text, description=help_text)
        add(p)
        p.set_defaults(run=run)
    return parser


def main(argv: list[str] | None = None) -> int:
    tune_allocator()
    argv = sys.argv[1:] if argv is None else list(argv)
    args = build_parser().parse_args(argv)
    args.command_line = "ser-classic " + " ".join(argv)  # named at the top of reports
    try:
        return int(args.run(args) or 0)
    except CliError as exc:
        print(f"ser-classic: error: {exc}", file=sys.stderr)
        return 2
    except (OSError, ValueError) as exc:  # AudioError / ParameterError are ValueErrors
        print(f"ser-classic: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())

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
from ._vocabulary import Grouping, grouping_help, resolve_groups

__all__ = ["main", "resolve_data_dir", "tune_allocator"]

DEFAULT_MANIFEST = Path("data/manifest.csv")
DEFAULT_CACHE = Path(".cache/features")


_MALLOC_BYTES = 256 * 1024 * 1024
# Heaps kept per process: each thread's arena keeps its peak under the thresholds above, so
# a service's thread pool would multiply one request's memory by its thread count.
_MALLOC_ARENAS = 2


def tune_allocator() -> None:
    """Keep large numpy temporaries in the heap instead of mmap/munmap per call.

    Feature extraction allocates many short-lived arrays of ~1 MB; glibc returns each to
    the OS, and the page faults that follow cost ~25% of the extraction time. Kept memory
    is shared by at most two arenas, so a thread pool (the HTTP service) does not keep one
    request's peak per thread. Sets the environment for worker processes and, on glibc,
    this process through mallopt.
    """
    for name in ("MALLOC_MMAP_THRESHOLD_", "MALLOC_TRIM_THRESHOLD_", "MALLOC_TOP_PAD_"):
        os.environ.setdefault(name, str(_MALLOC_BYTES))
    os.environ.setdefault("MALLOC_ARENA_MAX", str(_MALLOC_ARENAS))
    try:
        import ctypes

        libc = ctypes.CDLL("libc.so.6")
    except OSError:
        return
    m_trim_threshold, m_top_pad, m_mmap_threshold, m_arena_max = -1, -2, -3, -8
    for option in (m_mmap_threshold, m_trim_threshold, m_top_pad):
        libc.mallopt(option, _MALLOC_BYTES)
    libc.mallopt(m_arena_max, _MALLOC_ARENAS)


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
        if _corpus_subfolders(path):
            return path
        if path.is_dir() and explicit and _looks_like_corpus(path):
            return path
    raise CliError("no corpus found; looked in: " + "; ".join(looked)
                   + ". Pass --data DIR or set SER_CLASSIC_DATA (see data/README.md).")


def _looks_like_corpus(path: Path) -> bool:
    from .data import corpus_of_folder

    return corpus_of_folder(path) is not None or (path / "labels.csv").is_file()


def _corpus_subfolders(data_dir: Path) -> dict[str, Path]:
    """The subfolders of a data root that hold a known corpus, by folder name: named after
    it (``data.KNOWN_CORPORA``) or recognised by layout or names (``corpus_of_folder``)."""
    from .data import KNOWN_CORPORA, corpus_of_folder

    if not data_dir.is_dir():
        return {}
    return {sub.name: sub for sub in sorted(data_dir.iterdir())
            if sub.is_dir() and (sub.name in KNOWN_CORPORA or corpus_of_folder(sub))}


def _corpus_dirs(data_dir: Path) -> dict[str, Path]:
    if _looks_like_corpus(data_dir):
        return {data_dir.name: data_dir}
    found = _corpus_subfolders(data_dir)
    if not found:
        raise CliError(f"{data_dir}: no known corpus found inside (see data/README.md)")
    return found


def _load_or_build_manifest(args) -> "pd.DataFrame":  # noqa: F821, UP037
    from . import data

    path = Path(args.manifest)
    if path.is_file():
        return data.load_manifest(path)
    # built in memory: only `data scan` and `data add` write the manifest
    manifest = _scan_manifest(getattr(args, "data", None))
    print(f"{path} not found: manifest of {len(manifest)} clips built in memory "
          f"(`ser-classic data scan` writes it)", file=sys.stderr)
    return manifest


def _scan_manifest(data_arg: str | None) -> "pd.DataFrame":  # noqa: F821, UP037
    """Manifest of every corpus under the data folder; unreadable files are reported."""
    from . import data

    data_dir = resolve_data_dir(data_arg)
    records, errors = [], []
    for corpus_dir in _corpus_dirs(data_dir).values():
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
                   help="parallel worker processes (with --scheduler: the cluster's workers)")
    p.add_argument("--scheduler", metavar="ADDRESS",
                   help="run the parallel work on this Dask cluster, e.g. tcp://HOST:8786 "
                        "(needs dask[distributed]; its workers must reach the same paths)")


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
            speakers = sorted(set(group["speaker"].dropna()))
            where = ("same speaker" if len(speakers) == 1 else
                     f"speakers {', '.join(speakers)}: a speaker-grouped split can put "
                     f"copies on both sides")
            print(f"content duplicate (kept, {where}): " + ", ".join(group["path"]),
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
    from .data import KNOWN_CORPORA
    from .pipeline import AUGMENT_VARIANTS

    _add_data_options(p)
    _add_cache_options(p)
    p.add_argument("--corpus", action="append", choices=KNOWN_CORPORA,
                   help="only this corpus (repeatable; default all in the manifest)")
    p.add_argument("--augment", choices=("none", *AUGMENT_VARIANTS), default="none",
                   help="also the augmented copies `train` reads with the same --augment, "
                        "--copies, --seed and training clips (the --corpus clips less "
                        "--exclude-speakers and --exclude-emotions): filled once before "
                        "trainings that run side by side (default %(default)s)")
    p.add_argument("--copies", type=int, default=4, help="augmented copies per clip")
    p.add_argument("--exclude-speakers", default="",
                   help="comma-separated speakers left out of the training clips")
    p.add_argument("--exclude-emotions", default="",
                   help="comma-separated emotions left out of the training clips")
    p.add_argument("--seed", type=int, default=0, help="random_state of the training")
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

    import numpy as np

    from . import pipeline
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
    if errors or args.augment == "none":
        return 1 if errors else 0
    start = time.perf_counter()
    data = pipeline.training_features(
        manifest, corpora=sorted(set(manifest["corpus"])),
        exclude_speakers=_split_list(args.exclude_speakers),
        exclude_emotions=_split_list(args.exclude_emotions), augment=args.augment,
        copies=args.copies, feature_config=config, random_state=args.seed,
        cache_dir=args.cache, n_jobs=args.jobs)
    failed = sum(int(np.isnan(Xa).any(axis=1).sum()) for Xa in data.X_aug)
    print(f"{len(data.rows)} training clips x {len(data.X_aug)} {args.augment} copies: "
          f"failed {failed}, {time.perf_counter() - start:.1f} s")
    return 0


# --------------------------------------------------------------------------- deployment
DEFAULT_SELECTION = Path("reports/cv/selection.json")  # written by `evaluate`
DEFAULT_CV_SUMMARY = DEFAULT_SELECTION  # the name _model_dir's default still uses


def _split_list(text: str | None) -> list[str]:
    return [s.strip() for s in (text or "").split(",") if s.strip()]


def _resolve_name(text: str, cv_summary: str, normalization: str) -> str:
    """``@selected`` / ``@runner_up`` -> the registry name the selection file (``cv_summary``:
    the evaluation's ``selection.json``) names; a model directory -> the registry model it
    was trained as (its card read and verified)."""
    stored = _stored_model_dir(text)
    if stored is not None:
        from .artifact import load_artifact

        return str(load_artifact(stored, load_joblib=False).card["name"])
    if not text.startswith("@"):
        return text
    return _read_selection(cv_summary, text).resolve(text, normalization=normalization)


def _read_selection(path: str | os.PathLike | None, alias: str | None = None):
    """The evaluation's hand-off file (``pipeline.Selection``); None when ``path`` does not
    exist, unless ``alias`` (``@selected``) needs it."""
    from .pipeline import Selection

    if path is not None and Path(path).is_file():
        return Selection.load(path)
    if alias is not None:
        raise CliError(f"{alias}: no selection file {path} (run `ser-classic evaluate` "
                       f"first)")
    return None


def _default_model_dir(name: str, normalization: str) -> Path:
    """Where ``train`` writes a model without ``--out``: ``models/NAME[-NORMALIZATION]``
    (e.g. ``-speaker_norm``) of the working directory (the shipped models live in the
    package's store)."""
    return Path("models") / (name if normalization == "strict" else f"{name}-{normalization}")


def _stored_model_dir(text: str) -> Path | None:
    """The model directory ``text`` names (a directory with a model card, ``NAME`` with
    one under ``./models``, or an alias of a shipped model), else None."""
    from .store import SHIPPED, read_index, resolve

    path = Path(text)
    for candidate in (path, Path("models") / text):
        if (candidate / "model.json").is_file():
            return candidate
    key = path.name if path.parent.name == "models" or len(path.parts) == 1 else None
    if key and key in read_index(SHIPPED).aliases:
        return resolve(key)
    return None


def _model_dir(text: str, cv_summary: str = str(DEFAULT_CV_SUMMARY),
               normalization: str = "strict") -> Path:
    """A model directory, a name with a directory under ``./models``, an alias of a shipped
    model (``deployed``, also ``models/deployed``), or ``@selected`` / ``@runner_up``."""
    if text.startswith("@"):
        return _default_model_dir(_resolve_name(text, cv_summary, normalization),
                                  normalization)
    found = _stored_model_dir(text)
    return Path(text) if found is None else found


def _load_recognizer(text: str, backend: str | None = None, *,
                     max_duration_s: float | None = None, **kwargs):
    """``backend=None``: the backend the model was evaluated with (``ser_classic.load``)."""
    from .recognizer import load

    limits = {} if max_duration_s is None else {"max_duration_s": max_duration_s}
    return load(_model_dir(text, **kwargs), backend=backend, **limits)


def _add_train(p: argparse.ArgumentParser) -> None:
    from .calibration import CALIBRATIONS
    from .evaluation import TUNING_RULES, TUNINGS
    from .pipeline import AUGMENT_VARIANTS, DEFAULT_AUGMENT, NORMALIZATIONS

    _add_data_options(p)
    _add_cache_options(p)
    p.add_argument("--model", required=True,
                   help="registry name (ser_classic.models), @selected / @runner_up of "
                        "--selection (for the normalisation), or a model directory (its "
                        "registry model and normalisation)")
    p.add_argument("--out", help="model directory (default models/NAME, or "
                                 "models/NAME-speaker_norm)")
    p.add_argument("--normalization", choices=NORMALIZATIONS, default=None,
                   help="speaker_norm: features z-scored per speaker (train and inference); "
                        "neutral_ref: centred on each speaker's neutral clips (inference: "
                        "enrolled neutral clips); default: the --model directory's, else "
                        "strict")
    p.add_argument("--corpora", default="ravdess",
                   help="comma-separated training corpora of the manifest (default "
                        "%(default)s; e.g. ravdess,tess,emovo)")
    p.add_argument("--balance-corpora", action="store_true",
                   help="repeat each corpus's clips so that every corpus weighs about as "
                        "much as the largest (a few labelled clips of a new domain, added "
                        "as their own corpus, are not drowned; reports/domain_shots); "
                        "pair with --calibration temperature (reports/balance_corpora)")
    p.add_argument("--exclude-speakers", default="",
                   help="comma-separated speakers left out of training (held-out A/B)")
    p.add_argument("--exclude-emotions", default="",
                   help="comma-separated emotions left out (e.g. calm: the 7 emotions "
                        "shared with TESS)")
    p.add_argument("--params", help="hyper-parameters as JSON (default: --tune's, else the "
                                    "tuned ones of --selection when it has the model)")
    p.add_argument("--tune", choices=TUNINGS, default=None,
                   help="choose the parameters on the training corpora themselves by grouped "
                        "inner CV: speaker-grouped folds, every corpus held out once, or the "
                        "mean of both (speaker+corpus)")
    p.add_argument("--tune-rule", choices=TUNING_RULES, default="best",
                   help="with --tune: the best mean inner score, or the most regularised "
                        "grid point within one standard error of it (one_se; "
                        "reports/tuning_rule)")
    p.add_argument("--selection", default=str(DEFAULT_SELECTION),
                   help="the evaluation's selection.json: @selected / @runner_up, tuned "
                        "params and CV metrics (default %(default)s)")
    p.add_argument("--seed", type=int, default=0, help="random_state of the model")
    p.add_argument("--augment", choices=("none", *AUGMENT_VARIANTS), default=DEFAULT_AUGMENT,
                   help="augmented copies for the models registered as augmented "
                        f"(default {DEFAULT_AUGMENT}, as the evaluation)")
    p.add_argument("--copies", type=int, default=4, help="augmented copies per clip")
    p.add_argument("--calibration", choices=CALIBRATIONS, default="none",
                   help="temperature: probabilities scaled by one temperature fitted on "
                        "speaker-grouped out-of-fold predictions (a calibrated penalty "
                        "1 - p(target)); corpus_temperature: on those pooled with "
                        "leave-one-training-corpus-out predictions; default %(default)s")
    _add_feature_config_option(p)


def _json_arg(text: str | None, option: str):
    import json

    if text is None:
        return None
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise CliError(f"{option} is not JSON: {exc}") from None


def _run_train(args) -> int:
    from . import pipeline

    model = args.model
    stored = None if model.startswith("@") else _stored_model_dir(model)
    selection = _read_selection(args.selection, model if model.startswith("@") else None)
    trained = pipeline.train(
        _load_or_build_manifest(args), model=stored or model,
        normalization=args.normalization, corpora=_split_list(args.corpora),
        exclude_speakers=_split_list(args.exclude_speakers),
        exclude_emotions=_split_list(args.exclude_emotions),
        params=_json_arg(args.params, "--params"), selection=selection,
        augment=args.augment, copies=args.copies, calibration=args.calibration,
        tune=args.tune, tune_rule=args.tune_rule,
        feature_config=_feature_config(args.feature_config),
        balance_corpora=args.balance_corpora, random_state=args.seed, cache_dir=args.cache,
        n_jobs=args.jobs, command=args.command_line)
    for source, problem in trained.skipped:
        print(f"skipped {source}: {problem}", file=sys.stderr)
    export = trained.export
    if not export.ok:
        print(f"warning: ONNX and scikit-learn probabilities differ by up to "
              f"{export.max_abs_diff:.2e} (atol {export.atol}); use backend='sklearn' for "
              f"this model", file=sys.stderr)
    out = Path(args.out) if args.out else _default_model_dir(trained.name,
                                                             trained.normalization)
    card = trained.save(out)
    sizes = ", ".join(f"{f} {(out / f).stat().st_size / 1e6:.2f} MB" for f in card["files"])
    training = trained.training
    print(f"wrote {out} ({card['model_id']}, {trained.normalization}, "
          f"{training['n_clips']} clips, fit {training['fit_seconds']:.1f} s, ONNX parity "
          f"{export.max_abs_diff:.1e}; {sizes})")
    return 0


def _add_predict(p: argparse.ArgumentParser) -> None:
    from .pipeline import NORMALIZATIONS

    p.add_argument("inputs", nargs="+", metavar="FILE_OR_DIR",
                   help="audio files or folders (searched recursively)")
    p.add_argument("--model", required=True,
                   help="a stored model's alias (e.g. deployed; `ser-classic models` lists "
                        "them), a model directory or a name under models/")
    p.add_argument("--format", choices=("table", "json", "csv"), default="table")
    p.add_argument("--backend", choices=("sklearn", "onnx"), default=None,
                   help="default: the backend the model was evaluated with (the ONNX graph "
                        "of a quantized student, scikit-learn otherwise)")
    p.add_argument("--normalization", choices=NORMALIZATIONS, default=None,
                   help="speaker_norm: normalise with per-speaker statistics of the given "
                        "clips (required by, and only allowed for, a speaker_norm model); "
                        "neutral_ref: centre on --reference (required by a neutral_ref "
                        "model); default strict")
    p.add_argument("--reference", nargs="+", metavar="FILE_OR_DIR",
                   help="with --normalization neutral_ref: clips of the voice's neutral "
                        "speech (at least 2); every input is that voice")
    p.add_argument("--speaker-regex",
                   help="with --normalization speaker_norm: regex whose first group (else "
                        "whole match), "
                        "searched in each file name, names its speaker (default: the "
                        "parent folder is the speaker)")
    p.add_argument("--groups", choices=[g.value for g in Grouping], default=None,
                   help=f"score groups of emotions as one class each: {grouping_help()}; "
                        "the emotion column then holds the most probable group")


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
    speaker_norm = rec.normalization == "speaker_norm"
    neutral_ref = rec.normalization == "neutral_ref"
    if (args.normalization or "strict") != rec.normalization:
        if speaker_norm:
            raise CliError(f"{rec.model_id} is speaker-normalised: add --normalization "
                           f"speaker_norm (clips grouped by speaker, see --speaker-regex)")
        if neutral_ref:
            raise CliError(f"{rec.model_id} is normalised by a neutral reference: add "
                           f"--normalization neutral_ref --reference NEUTRAL_CLIPS")
        raise CliError(f"{rec.model_id} is not speaker-normalised (strict); drop "
                       f"--normalization {args.normalization}")
    if bool(args.reference) != neutral_ref:
        raise CliError("--reference (the voice's neutral clips) is required by, and only "
                       "allowed for, a neutral_ref model")
    reference = (rec.enroll([str(p) for p in _expand_inputs(args.reference)])
                 if neutral_ref else None)
    paths = _expand_inputs(args.inputs)
    X, errors = rec.features([str(p) for p in paths], on_error="nan")
    ok = ~np.isnan(X).any(axis=1)
    names = (tuple(str(c) for c in rec.classes_) if args.groups is None
             else resolve_groups(args.groups, rec.classes_)[0])
    proba = np.full((len(paths), len(names)), np.nan)
    atypicality = np.full(len(paths), np.nan)
    speakers = [_speaker_of(p, args.speaker_regex) if speaker_norm else None
                for p in paths]
    if speaker_norm:
        for spk in sorted(set(speakers)):
            rows = np.array([s == spk for s in speakers]) & ok
            if rows.sum() < 2:
                errors += [(str(paths[i]), f"speaker {spk!r} has fewer than 2 usable clips "
                                           f"for speaker statistics")
                           for i in np.flatnonzero(rows)]
                ok &= ~rows
                continue
            stats = SpeakerStats.from_features(X[rows])
            proba[rows], atypicality[rows] = rec.proba_from_features(
                X[rows], speaker=stats, return_atypicality=True, groups=args.groups)
    elif ok.any():
        proba[ok], atypicality[ok] = rec.proba_from_features(
            X[ok], speaker=reference, return_atypicality=True, groups=args.groups)
    atypical = rec.atypical(atypicality)
    problems = dict(errors)
    records = []
    for i, path in enumerate(paths):
        rec_row = {"path": str(path)}
        if speaker_norm:
            rec_row["speaker"] = speakers[i]
        if ok[i]:
            rec_row["emotion"] = names[int(np.argmax(proba[i]))]
            rec_row.update({f"p_{c}": round(float(v), 4)
                            for c, v in zip(names, proba[i], strict=True)})
            if rec.typicality is not None:  # how unlike the training speech the clip is
                rec_row["atypicality"] = round(float(atypicality[i]), 4)
                rec_row["atypical"] = bool(atypical[i])
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
            if "atypical" in frame.columns:
                cols.append("atypical")
            if "error" in frame.columns:
                cols.append("error")
            print(frame[cols].fillna("").to_string(index=False))
    for source, problem in errors:
        print(f"error: {source}: {problem}", file=sys.stderr)
    print(f"{int(ok.sum())} predicted, {len(paths) - int(ok.sum())} failed "
          f"({rec.model_id})", file=sys.stderr)
    return 1 if errors else 0


def _add_serve(p: argparse.ArgumentParser) -> None:
    p.add_argument("--model", required=True,
                   help="a stored model's alias (e.g. deployed; `ser-classic models` lists "
                        "them), a model directory or a name under models/")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8000)
    p.add_argument("--backend", choices=("sklearn", "onnx"), default=None,
                   help="default: the backend the model was evaluated with (the ONNX graph "
                        "of a quantized student, scikit-learn otherwise)")
    p.add_argument("--max-upload-mb", type=float, default=10.0,
                   help="per file (a batch body may hold --max-batch files)")
    p.add_argument("--max-duration", type=float, default=30.0,
                   help="seconds; longer audio is refused (413) before it is decoded")
    p.add_argument("--max-batch", type=int, default=32,
                   help="files per request, reference files included")
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
    from .pipeline import NORMALIZATIONS

    p.add_argument("--a", required=True, help="model A: a stored model's alias, a directory, "
                                              "a name under models/, or @selected / "
                                              "@runner_up of --selection")
    p.add_argument("--b", required=True, help="model B (as --a)")
    p.add_argument("--selection", default=str(DEFAULT_SELECTION),
                   help="the evaluation's selection.json: resolves @selected / @runner_up")
    p.add_argument("--normalization", choices=NORMALIZATIONS, default="strict",
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
    p.add_argument("--backend", choices=("sklearn", "onnx"), default=None,
                   help="default: the backend the model was evaluated with (the ONNX graph "
                        "of a quantized student, scikit-learn otherwise)")
    p.add_argument("--boot", type=int, default=2000, help="bootstrap resamples")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--limit", type=int, help="at most this many clips (seeded subset)")
    p.add_argument("--min-difference", type=float, default=0.0,
                   help="accuracy difference B must also exceed to win on quality (e.g. the "
                        "seed spread of the compared figure; default %(default)s)")
    p.add_argument("--deploy-to", help="copy the winner's model directory here (verified)")


def _run_ab(args) -> int:
    from . import abtest, data, pipeline

    kw = {"cv_summary": args.selection, "normalization": args.normalization}
    rec_a = _load_recognizer(args.a, args.backend, **kw)
    rec_b = _load_recognizer(args.b, args.backend, **kw)
    print("decision rule (declared before the run): " + abtest.DECISION_RULE, file=sys.stderr)
    result = pipeline.ab_test(
        rec_a, rec_b, data.scan_corpus(Path(args.data)), speakers=_split_list(args.speakers),
        exclude_emotions=_split_list(args.exclude_emotions), calm_as=args.calm_as,
        n_boot=args.boot, limit=args.limit, random_state=args.seed,
        data_label=str(args.data), min_difference=args.min_difference,
        progress=lambda line: print(line, file=sys.stderr, flush=True))
    for source, problem in result.skipped:
        print(f"skipped {source}: {problem}", file=sys.stderr)
    for path in result.write_report(args.out, command=args.command_line):
        print(f"wrote {path}")
    a, b = result.summary["models"]["a"], result.summary["models"]["b"]
    print(f"A {a['model_id']}: accuracy {a['accuracy']:.3f}, UAR {a['uar']:.3f}, p50 "
          f"{a['latency']['p50_ms']:.1f} ms | B {b['model_id']}: accuracy "
          f"{b['accuracy']:.3f}, UAR {b['uar']:.3f}, p50 {b['latency']['p50_ms']:.1f} ms")
    decision = result.summary["decision"]
    print(f"winner: {decision['winner_model']} ({decision['reason']})")
    if args.deploy_to:
        pipeline.deploy(result, args.deploy_to)
        print(f"deployed {result.winner_model} to {args.deploy_to}")
    return 0


def _add_corpus_ab(p: argparse.ArgumentParser) -> None:
    from .calibration import CALIBRATIONS
    from .deployment import MAX_LOSS
    from .evaluation import TUNINGS
    from .pipeline import AUGMENT_VARIANTS, DEFAULT_AUGMENT, NORMALIZATIONS

    _add_data_options(p)
    _add_cache_options(p)
    p.add_argument("--model", required=True,
                   help="the teacher's registry model, or @selected of --selection")
    p.add_argument("--selection", default=str(DEFAULT_SELECTION),
                   help="the evaluation's selection.json: tuned parameters")
    p.add_argument("--normalization", choices=NORMALIZATIONS, default="strict")
    p.add_argument("--corpora", default="emovo,ravdess,tess",
                   help="training corpora, each held out once (comma-separated)")
    p.add_argument("--students", default="compact_int8",
                   help="student kinds, cheapest first (comma-separated)")
    p.add_argument("--exclude-emotions", default="",
                   help="left out of training and scoring (comma-separated; e.g. calm)")
    p.add_argument("--augment", choices=("none", *AUGMENT_VARIANTS), default=DEFAULT_AUGMENT)
    p.add_argument("--copies", type=int, default=2, help="augmented copies per clip")
    p.add_argument("--calibration", choices=CALIBRATIONS, default="none",
                   help="of the teacher (as train)")
    p.add_argument("--student-calibration", choices=CALIBRATIONS, default=None,
                   help="of the students (as distil; default: --calibration)")
    p.add_argument("--transfer", choices=("masks", "teacher"), default="masks",
                   help="the students' transfer copies (as distil)")
    p.add_argument("--width", type=int, default=None,
                   help="columns of the compact students (as distil)")
    p.add_argument("--tune", choices=TUNINGS, default=None,
                   help="choose the teacher's parameters in every fold by grouped inner CV "
                        "on its training corpora (as train; default: --selection's)")
    p.add_argument("--max-loss", type=float, default=MAX_LOSS,
                   help="mean held-out-corpus UAR a student may lose (default %(default)s)")
    p.add_argument("--boot", type=int, default=2000, help="bootstrap resamples")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--candidates", default="",
                   help="teacher=DIR,KIND=DIR,...: the models trained on all --corpora by the "
                        "same recipes; the report then names the one to deploy (read by "
                        "`models add --report`)")
    p.add_argument("--work", default=None,
                   help="keep each fold's teacher and students here and reuse those made "
                        "by the same recipe (A/Bs of other students of the same teacher; "
                        "the same A/B again with --candidates only scores)")
    p.add_argument("--held-out", default="",
                   help="only make the models of these folds (comma-separated held-out "
                        "corpora) in --work, and no report: folds made side by side, which "
                        "the same A/B without --held-out then keeps and scores")
    p.add_argument("--out", help="report folder, e.g. reports/ab/corpus (required without "
                                 "--held-out)")


def _run_corpus_ab(args) -> int:
    from .deployment import corpus_ab, corpus_ab_folds

    model = args.model
    selection = _read_selection(args.selection, model if model.startswith("@") else None)
    recipe = dict(
        model=model, corpora=_split_list(args.corpora), students=_split_list(args.students),
        normalization=args.normalization, selection=selection,
        exclude_emotions=_split_list(args.exclude_emotions), augment=args.augment,
        copies=args.copies, transfer=args.transfer, calibration=args.calibration,
        student_calibration=args.student_calibration, width=args.width, tune=args.tune,
        random_state=args.seed, cache_dir=args.cache, n_jobs=args.jobs)
    if args.held_out:
        if not args.work or args.out or args.candidates:
            raise CliError("--held-out makes fold models in --work (required), without "
                           "--out and --candidates")
        made = corpus_ab_folds(_load_or_build_manifest(args),
                               held_out=_split_list(args.held_out), work_dir=args.work,
                               **recipe)
        for corpus, folder in made.items():
            print(f"made {folder} (held out: {corpus})")
        return 0
    if not args.out:
        raise CliError("--out is required (the report folder), unless --held-out")
    candidates = {}
    for item in _split_list(args.candidates):
        name, sep, path = item.partition("=")
        if not sep or not name or not path:
            raise CliError(f"--candidates: expected NAME=DIR, got {item!r}")
        candidates[name] = path
    result = corpus_ab(
        _load_or_build_manifest(args), candidates=candidates or None,
        max_loss=args.max_loss, n_boot=args.boot, work_dir=args.work,
        progress=lambda line: print(line, file=sys.stderr, flush=True), **recipe)
    for path in result.write_report(args.out, command=args.command_line):
        print(f"wrote {path}")
    print(f"deploy: {result.deploy} ({result.summary['decision']['rule']})")
    return 0


# --------------------------------------------------------------------------- evaluate
def _normalization_list(text: str) -> tuple[str, ...]:
    """``--normalization strict,speaker_norm`` -> the normalisations, in order."""
    from .pipeline import NORMALIZATIONS

    norms = tuple(dict.fromkeys(_split_list(text)))
    bad = [n for n in norms if n not in NORMALIZATIONS]
    if bad or not norms:
        raise argparse.ArgumentTypeError(f"expected a comma-separated list of "
                                         f"{', '.join(NORMALIZATIONS)}, got {text!r}")
    return norms


def _add_evaluate(p: argparse.ArgumentParser) -> None:
    from .models import model_names
    from .pipeline import AUGMENT_VARIANTS, DEFAULT_AUGMENT, DEFAULT_NORMALIZATIONS, SPLITS

    _add_data_options(p)
    _add_cache_options(p)
    p.add_argument("--split", choices=SPLITS, default="loso",
                   help="outer folds: leave one speaker out (default) or --folds groups of "
                        "consecutive speakers (6 x 4 actors)")
    p.add_argument("--models", default=",".join(model_names(default_only=True)),
                   help="comma-separated registry models (default: %(default)s)")
    p.add_argument("--normalization", type=_normalization_list,
                   default=",".join(DEFAULT_NORMALIZATIONS),
                   help="comma-separated normalisations, one run each on the same folds, "
                        "the first the main one (default %(default)s)")
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
    p.add_argument("--folds", type=int, default=6, help="number of folds of --split group6")
    p.add_argument("--inner", type=int, default=2, help="grouped inner CV folds for tuning")
    p.add_argument("--speakers", type=int, default=0,
                   help="only the first N speakers (quick runs; 0 = all)")
    p.add_argument("--corpus", default="ravdess", help="corpus of the manifest to evaluate")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", default="reports/cv",
                   help="output folder: the report and selection.json (read by train)")
    p.add_argument("--report-only", action="store_true",
                   help="only rewrite report.md, the plots and selection.json from "
                        "--out/summary.json")


def _evaluate_command(args) -> str:
    """The ``ser-classic evaluate`` command line equivalent to ``args`` (non-defaults)."""
    import shlex

    defaults = argparse.ArgumentParser()
    _add_evaluate(defaults)
    parts = ["ser-classic", "evaluate"]
    for action in defaults._actions:
        if action.dest in ("help", "scheduler") or not action.option_strings:
            continue
        default = action.default
        if callable(action.type) and isinstance(default, str):
            default = action.type(default)  # as argparse converts it
        value = getattr(args, action.dest, default)
        if value != default:
            text = ",".join(value) if isinstance(value, tuple) else str(value)
            parts += [action.option_strings[0], shlex.quote(text)]
    return " ".join(parts)


def _run_evaluate(args) -> int:
    import json

    from . import pipeline, reporting

    if args.report_only:
        summary_path = Path(args.out) / "summary.json"
        if not summary_path.is_file():
            raise CliError(f"{summary_path} not found: run ser-classic evaluate first")
        summary = json.loads(summary_path.read_text())
        written = reporting.cv_report(summary, out_dir=args.out, command=summary["command"])
        selection = pipeline.selection_from_cv_summary(summary, corpus=args.corpus)
        written.append(selection.save(Path(args.out) / pipeline.SELECTION_FILE))
        print(f"rewrote {len(written)} report files in {args.out}")
        return 0
    command = _evaluate_command(args)
    result = pipeline.cross_validate(
        _load_or_build_manifest(args), models=_split_list(args.models), split=args.split,
        n_folds=args.folds, normalizations=args.normalization,
        augment=args.augment, copies=args.copies, n_inner=args.inner, corpus=args.corpus,
        max_speakers=args.speakers, feature_sets=_split_list(args.feature_sets),
        smile_cache=args.smile_cache, ablation=_split_list(args.ablation),
        ablation_model=args.ablation_model, random_state=args.seed, cache_dir=args.cache,
        n_jobs=args.jobs, progress=lambda line: print(line, file=sys.stderr, flush=True),
        command=command)
    written = result.write_report(args.out, command=command)
    for norm, run in result.selection.runs.items():
        sel = result.summary if norm == args.normalization[0] else \
            result.summary[f"{norm}_run"]
        m = sel["models"][run.selected]
        print(f"{norm}: selected "
              f"{run.selected} accuracy {m['accuracy']:.3f} UAR {m['uar']:.3f} "
              f"CI {m['uar_ci95'][0]:.3f}-{m['uar_ci95'][1]:.3f}")
    out = Path(args.out)
    print(f"wrote {out / 'summary.json'}, {out / pipeline.SELECTION_FILE} and "
          f"{len(written)} report files ({result.summary['seconds_total']:.0f} s)")
    return 0


# --------------------------------------------------------------------------- distil
def _add_distil(p: argparse.ArgumentParser) -> None:
    from .calibration import CALIBRATIONS
    from .distill import COMPACT_FEATURES
    from .pipeline import NORMALIZATIONS, STUDENT_CHOICES

    _add_data_options(p)
    _add_cache_options(p)
    p.add_argument("--teacher", required=True, help="teacher: a stored model's alias, a "
                                                    "model directory or a name under "
                                                    "models/; a speaker-normalised "
                                                    "teacher gives a speaker-normalised student")
    p.add_argument("--normalization", choices=NORMALIZATIONS, default=None,
                   help="the teacher's normalisation, checked (default: the teacher's; a "
                        "student always has its teacher's)")
    p.add_argument("--out", required=True,
                   help="student model directory (required: never a committed model by "
                        "default)")
    p.add_argument("--student", choices=STUDENT_CHOICES,
                   default="linear_int8", help="which student to deploy (default %(default)s: "
                        "the one that holds the accuracy; tree_uint8 is the depth-8 tree)")
    p.add_argument("--groups", default="mel,mfcc,energy,chroma,contrast",
                   help="descriptor groups the student may read (cheap ones by default)")
    p.add_argument("--compact-groups", default=None,
                   help="groups the compact student may read (default: every group but "
                        "the extended descriptors, the costliest; compact_fast also skips "
                        "the spectral-shape group)")
    p.add_argument("--width", type=int, default=None,
                   help=f"columns a compact student keeps (default: {COMPACT_FEATURES})")
    p.add_argument("--max-depth", type=int, default=8)
    p.add_argument("--candidates", type=int, default=300,
                   help="candidate columns (ANOVA on the teacher's labels)")
    p.add_argument("--copies", type=int, default=2, choices=range(5),
                   help="augmented copies per clip in the transfer set (masks, cached)")
    p.add_argument("--transfer", choices=("masks", "teacher"), default="masks",
                   help="the transfer set's copies: masked copies (--copies), or the "
                        "teacher's own training copies (its augmentation preset)")
    p.add_argument("--munge", type=int, default=2, help="MUNGE samples per clip")
    p.add_argument("--calibration", choices=CALIBRATIONS, default="none",
                   help="temperature: the student's own temperature on speaker-grouped "
                        "out-of-fold predictions (corpus_temperature: pooled with "
                        "leave-one-training-corpus-out ones), folded into its softmax head "
                        "(linear and compact students); default %(default)s")
    p.add_argument("--seed", type=int, default=0)


def _run_distil(args) -> int:
    from . import pipeline

    if args.compact_groups and args.student not in ("compact", "compact_int8"):
        raise CliError(f"--compact-groups is for the compact student, not {args.student}")
    teacher_dir = _model_dir(args.teacher)
    result = pipeline.distil(
        teacher_dir, _load_or_build_manifest(args), student=args.student,
        normalization=args.normalization, groups=_split_list(args.groups),
        compact_groups=_split_list(args.compact_groups) or None, width=args.width,
        max_depth=args.max_depth,
        candidates=args.candidates, copies=args.copies, munge=args.munge,
        transfer=args.transfer, calibration=args.calibration, random_state=args.seed,
        cache_dir=args.cache,
        n_jobs=args.jobs,
        command=args.command_line)
    out = Path(args.out)
    new = result.save(out)
    d = new["distillation"]
    print(f"wrote {out} ({new['model_id']}): {len(d['select'])} features from "
          f"{', '.join(d['groups_needed'])}; model.onnx "
          f"{(out / 'model.onnx').stat().st_size / 1e3:.1f} KB vs teacher "
          f"{(teacher_dir / 'model.onnx').stat().st_size / 1e3:.1f} KB; ONNX/sklearn "
          f"argmax agreement {new['onnx_parity']['argmax_agreement']:.3f}")
    return 0


# --------------------------------------------------------------------------- models
def _add_models(p: argparse.ArgumentParser) -> None:
    p.add_argument("action", nargs="?", choices=("list", "add"), default="list",
                   help="list (default): every stored model, one line each; add: store a "
                        "model directory (once) under an alias")
    p.add_argument("model", nargs="?",
                   help="add: the model directory (or an alias of the store); omitted with "
                        "--report, the winner of that A/B")
    p.add_argument("--store", help="model store folder (default: the shipped models, "
                                   "ser_classic/shipped)")
    p.add_argument("--format", choices=("table", "markdown", "json"), default="table",
                   help="list: output format")
    p.add_argument("--alias", help="add: the name to give it (e.g. deployed)")
    p.add_argument("--role", choices=("teacher", "student", "deployed", "model"),
                   default="model", help="add: the alias's role")
    p.add_argument("--report", help="add: the report that decided it (an A/B folder); its "
                                    "figures for the model are recorded")
    p.add_argument("--figures-from", default="",
                   help="add: further reports whose held-out figures are recorded "
                        "(comma-separated, e.g. reports/optimization)")
    p.add_argument("--parent", help="add: model id it derives from, when its card does not "
                                    "say (a model trained as another: train --model DIR)")


def _run_models(args) -> int:
    from .store import SHIPPED, add_model, format_models, read_index

    store = Path(args.store) if args.store else SHIPPED
    if args.action == "list":
        if args.model or args.alias or args.report:
            raise CliError("models list takes no model, --alias or --report")
        print(format_models(read_index(store), fmt=args.format))
        return 0
    if not args.alias:
        raise CliError("models add needs --alias NAME")
    if not args.model and not args.report:
        raise CliError("models add needs a model directory, or --report of an A/B")
    entry = add_model(args.model, store=store, alias=args.alias, role=args.role,
                      report=args.report, figures_from=tuple(_split_list(args.figures_from)),
                      parent=args.parent)
    print(f"stored {store / entry.path} as {args.alias} ({args.role})")
    return 0


# --------------------------------------------------------------------------- registry
Command = tuple[str, str, Callable[[argparse.ArgumentParser], None], Callable[..., int]]
# Former names, still accepted: the committed student cards and reports record
# ``ser-classic distill`` (the API function is ``ser_classic.distil``).
ALIASES = {"distil": ["distill"]}
COMMANDS: list[Command] = [
    ("data", "corpus manifest: scan, add recordings, statistics", _add_data, _run_data),
    ("features", "extract (and cache) features of the manifest", _add_features, _run_features),
    ("train", "fit a registry model on a corpus and write models/NAME", _add_train, _run_train),
    ("predict", "emotions of audio files with a trained model", _add_predict, _run_predict),
    ("serve", "HTTP prediction service (FastAPI + uvicorn)", _add_serve, _run_serve),
    ("ab", "A/B test of two trained models on a held-out corpus", _add_ab, _run_ab),
    ("corpus-ab", "teacher vs students under leave-one-corpus-out: which to deploy",
     _add_corpus_ab, _run_corpus_ab),
    ("evaluate", "speaker-grouped CV of the registry models, selection, reports/cv",
     _add_evaluate, _run_evaluate),
    ("distil", "distil a teacher model into a small student reading cheap features",
     _add_distil, _run_distil),
    ("models", "the stored models (aliases, role, labels, figures); add a model",
     _add_models, _run_models),
]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="ser-classic", description=__doc__.splitlines()[0])
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    # The usage line lists each command once (an alias stays out of it).
    sub = parser.add_subparsers(dest="command", required=True,
                                metavar="{" + ",".join(c[0] for c in COMMANDS) + "}")
    for name, help_text, add, run in COMMANDS:
        p = sub.add_parser(name, help=help_text, description=help_text,
                           aliases=ALIASES.get(name, []))
        add(p)
        p.set_defaults(run=run)
    return parser


def __getattr__(name: str):
    """The augmentation presets moved to :mod:`ser_classic.pipeline` (library policy)."""
    if name in ("AUGMENT_VARIANTS", "DEFAULT_AUGMENT", "DISTILL_AUGMENT"):
        from . import pipeline

        return getattr(pipeline, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def main(argv: list[str] | None = None) -> int:
    tune_allocator()
    argv = sys.argv[1:] if argv is None else list(argv)
    args = build_parser().parse_args(argv)
    args.command_line = "ser-classic " + " ".join(argv)  # named at the top of reports
    try:
        from ._parallel import dask_scheduler

        with dask_scheduler(getattr(args, "scheduler", None)):
            return int(args.run(args) or 0)
    except CliError as exc:
        print(f"ser-classic: error: {exc}", file=sys.stderr)
        return 2
    except (OSError, ValueError) as exc:  # AudioError / ParameterError are ValueErrors
        print(f"ser-classic: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())

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

__all__ = ["main", "resolve_data_dir"]

DEFAULT_MANIFEST = Path("data/manifest.csv")
DEFAULT_CACHE = Path(".cache/features")
CORPORA = ("ravdess", "tess")


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
    return any(path.glob("Actor_*")) or any(path.glob("*AF_*")) or (path / "labels.csv").is_file()


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
    data_dir = resolve_data_dir(getattr(args, "data", None))
    records = []
    for corpus_dir in _corpus_dirs(data_dir, list(CORPORA)).values():
        records += data.scan_corpus(corpus_dir)
    errors: list = []
    manifest = data.build_manifest(records, errors=errors)
    for source, problem in errors:
        print(f"skipped {source}: {problem}", file=sys.stderr)
    data.save_manifest(manifest, path)
    print(f"wrote {path} ({len(manifest)} clips)", file=sys.stderr)
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
    add.add_argument("src", help="a RAVDESS/TESS folder, a folder with labels.csv, or a CSV "
                                 "(path,label[,speaker])")
    add.add_argument("--corpus", help="corpus name for CSV recordings (default: folder name)")
    _add_data_options(add)
    stats = sub.add_parser("stats", help="duration and emotion statistics to reports/data/")
    _add_data_options(stats)
    stats.add_argument("--out", default="reports/data", help="output folder")


def _run_data(args) -> int:
    from . import data

    if args.data_command == "scan":
        data_dir = resolve_data_dir(args.data)
        records = []
        for corpus_dir in _corpus_dirs(data_dir, list(CORPORA)).values():
            records += data.scan_corpus(corpus_dir)
        errors: list = []
        manifest = data.build_manifest(records, errors=errors)
        for source, problem in errors:
            print(f"skipped {source}: {problem}", file=sys.stderr)
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
        manifest = _load_or_build_manifest(args)
        src = Path(args.src)
        try:
            if src.is_file():
                records = data.read_labelled_csv(src, corpus=args.corpus or src.parent.name)
            else:
                records = data.scan_corpus(src)
        except data.AudioError as exc:
            raise CliError(str(exc)) from None
        merged, report = data.add_recordings(manifest, records)
        for new, old in report.duplicates:
            print(f"duplicate skipped: {new} (same content as {old})", file=sys.stderr)
        for source, problem in report.errors:
            print(f"error skipped: {source}: {problem}", file=sys.stderr)
        data.save_manifest(merged, args.manifest)
        print(f"added {len(report.added)}, duplicates {len(report.duplicates)}, "
              f"errors {len(report.errors)}; manifest {args.manifest}: {len(merged)} clips")
        return 0
    if args.data_command == "stats":
        from . import reporting

        manifest = _load_or_build_manifest(args)
        written = reporting.data_stats_report(manifest, out_dir=args.out,
                                              command=args.command_line)
        for path in written:
            print(f"wrote {path}")
        return 0
    raise CliError(f"unknown data command {args.data_command}")


# --------------------------------------------------------------------------- features
def _add_features(p: argparse.ArgumentParser) -> None:
    _add_data_options(p)
    _add_cache_options(p)
    p.add_argument("--corpus", action="append", choices=CORPORA,
                   help="only this corpus (repeatable; default all in the manifest)")


def _run_features(args) -> int:
    import time

    from .features import FeatureConfig, extract_batch, feature_names

    manifest = _load_or_build_manifest(args)
    if args.corpus:
        manifest = manifest[manifest["corpus"].isin(args.corpus)]
    config = FeatureConfig()
    start = time.perf_counter()
    _, errors, n_extracted = extract_batch(
        manifest["path"], sha256=manifest["sha256"], config=config, cache_dir=args.cache,
        n_jobs=args.jobs, progress=sys.stderr.isatty())
    elapsed = time.perf_counter() - start
    for source, problem in errors:
        print(f"error: {source}: {problem}", file=sys.stderr)
    print(f"{len(manifest)} clips x {len(feature_names(config=config))} features "
          f"(config {config.hash}): extracted {n_extracted}, from cache "
          f"{len(manifest) - n_extracted - len(errors)}, errors {len(errors)}, "
          f"{elapsed:.1f} s")
    return 1 if errors else 0


# --------------------------------------------------------------------------- registry
Command = tuple[str, str, Callable[[argparse.ArgumentParser], None], Callable[..., int]]
COMMANDS: list[Command] = [
    ("data", "corpus manifest: scan, add recordings, statistics", _add_data, _run_data),
    ("features", "extract (and cache) features of the manifest", _add_features, _run_features),
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

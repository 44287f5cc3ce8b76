"""Does `make run` rewrite its reports and models identically on the same inputs?

Runs the main job twice, each time into a scratch tree laid out like the checkout
(``ROOT/reports``, ``ROOT/ser_classic/shipped``, ``ROOT/.cache/models``,
``ROOT/data/manifest.csv``: copies of the committed reports and model store, so the steps
that read them find them), through the Makefile's output roots (``make run REPORTS=...
STORE=... WORK=... MANIFEST=...``), then compares the two trees file by file: the model
ids of every alias, the ONNX and joblib bytes, every JSON field of the reports, the model
cards and the store's index, the CSVs, the markdown reports and the plots. Not part of
``make test`` (it runs the main job twice: about twice `make run`'s time).

Ignored, because they measure time, not results (:data:`TIMING_KEYS`):

- JSON keys ``seconds``, ``seconds_total`` (CV and LOCO run times), ``fit_seconds`` and
  ``created`` (model cards), ``latency`` and ``latency_features`` (A/B latency
  percentiles), and every key ending in ``_ms``; the numbers of a JSON string that quotes a
  time in ms (the A/B decision's ``reason`` when speed broke a tie; the winner is compared);
- in the markdown reports, the numbers of table columns and rows whose header names a time
  (``ms``, ``latency``, ``time, s``...) and of prose lines that give one
  (:data:`TIMING_TEXT`).

Paths are compared relative to each tree (``ROOT/`` is stripped from every string, so a
scratch tree compares with the checkout itself), and the worker count a recorded command
names (``--jobs N``, ``JOBS=N``) is left out: it is what ``--jobs-b`` varies (and a
command line omits it when it is the default). The A/B
decision is *not* ignored: when two models tie on quality it falls to latency, and a
winner that flips between runs is a difference worth seeing.

    .venv/bin/python experiments/check_reproducible.py run [--root /tmp/repro] [--jobs 2]
    .venv/bin/python experiments/check_reproducible.py run --targets "data features \\
        evaluate-selected" --jobs 1 --jobs-b 2 --fresh-cache    # --jobs 1 vs --jobs 2
    .venv/bin/python experiments/check_reproducible.py compare TREE_A TREE_B
    .venv/bin/python experiments/check_reproducible.py quick [--speakers 8] \\
        [--jobs 1 --jobs-b 2]     # a small pipeline with 1 vs 2 workers (a few minutes)

``quick`` runs a small pipeline through the CLI twice, each into its own scratch tree with
its own (empty) feature cache, so that every feature is extracted by that run's workers:
features, the speaker-grouped CV of the selected family (``--family``, strict, 6 folds,
inner tuning) and its selection, a teacher trained from that selection without the last
actor, and its compact int8 student; on the first ``--speakers`` RAVDESS actors of the
manifest. The second run differs only in its number of worker processes (``--jobs-b``).

``compare`` takes any two trees of that layout: a checkout (after `make run`) and a copy
of its outputs from an earlier run, or a checkout and a scratch tree. Exit status 0 when
nothing but timing differs, 1 otherwise.
"""

from __future__ import annotations

import argparse
import json
import math
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
#: What a tree holds: the outputs of `make run` and the committed state it starts from.
TREE = ("reports", "ser_classic/shipped", ".cache/models", "data/manifest.csv")
#: JSON keys whose values are times (ignored wherever they occur), and the suffix ``_ms``.
TIMING_KEYS = frozenset({"seconds", "seconds_total", "fit_seconds", "created", "latency",
                         "latency_features"})
TIMING_SUFFIX = "_ms"
#: A markdown header cell or prose line that gives a time.
TIMING_TEXT = re.compile(r"\bms\b|latency|wall-clock|time, s|\bseconds?\b|\d\s?s\b|"
                         r"\bmin\b|clips/s", re.IGNORECASE)
_NUMBER = re.compile(r"-?\d+(?:\.\d+)?(?:e-?\d+)?")
_SEPARATOR = re.compile(r"\|[-:| ]+\|?")
_MS_TEXT = re.compile(r"\d\s?ms\b")
#: The worker count a recorded command names (an input of the comparison, not a result).
_JOBS = re.compile(r" (--jobs[ =]|JOBS=)\d+\b")


# --------------------------------------------------------------------------- comparison
def _strip_roots(obj, roots: tuple[str, ...]):
    if isinstance(obj, str):
        for root in roots:
            obj = obj.replace(root + "/", "")
        return _JOBS.sub("", obj)
    if isinstance(obj, dict):
        return {k: _strip_roots(v, roots) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_strip_roots(v, roots) for v in obj]
    return obj


def _drop_timing(obj):
    if isinstance(obj, str) and _MS_TEXT.search(obj):
        return _NUMBER.sub("#", obj)
    if isinstance(obj, dict):
        return {k: _drop_timing(v) for k, v in obj.items()
                if k not in TIMING_KEYS and not k.endswith(TIMING_SUFFIX)}
    if isinstance(obj, list):
        return [_drop_timing(v) for v in obj]
    return obj


def _json_diffs(a, b, where: str = "") -> list[str]:
    if isinstance(a, dict) and isinstance(b, dict):
        out = []
        for k in list(dict.fromkeys([*a, *b])):
            if k not in a or k not in b:
                out.append(f"{where}/{k}: only in {'B' if k not in a else 'A'}")
            else:
                out += _json_diffs(a[k], b[k], f"{where}/{k}")
        return out
    if isinstance(a, list) and isinstance(b, list) and len(a) == len(b):
        return [d for i, (x, y) in enumerate(zip(a, b, strict=True)) for d in
                _json_diffs(x, y, f"{where}[{i}]")]
    # NaN (a figure with no value, e.g. a clip that never flips) equals NaN
    both_nan = isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b)
    return [] if a == b or both_nan else [f"{where or '/'}: {_short(a)} != {_short(b)}"]


def _short(value) -> str:
    text = json.dumps(value)
    return text if len(text) <= 80 else text[:77] + "..."


def mask_markdown(text: str) -> list[str]:
    """The lines of a markdown report with the numbers of its timing cells masked."""
    lines = text.splitlines()
    out, timing_cols = [], set()
    for i, line in enumerate(lines):
        if line.startswith("|"):
            cells = line.strip().strip("|").split("|")
            if i + 1 < len(lines) and _SEPARATOR.fullmatch(lines[i + 1].strip()):
                timing_cols = {j for j, c in enumerate(cells) if TIMING_TEXT.search(c)}
            elif timing_cols and not _SEPARATOR.fullmatch(line.strip()):
                cells = [_NUMBER.sub("#", c) if j in timing_cols else c
                         for j, c in enumerate(cells)]
            line = "|" + "|".join(cells) + "|"
            if cells and TIMING_TEXT.search(cells[0]):  # a row of times
                line = _NUMBER.sub("#", line)
        else:
            timing_cols = set()
            if TIMING_TEXT.search(line):
                line = _NUMBER.sub("#", line)
        out.append(line)
    return out


def _files(tree: Path) -> dict[str, Path]:
    out = {}
    for part in TREE:
        path = tree / part
        if path.is_file():
            out[part] = path
        elif path.is_dir():
            out.update({str(p.relative_to(tree)): p for p in sorted(path.rglob("*"))
                        if p.is_file() and "__pycache__" not in p.parts})
    return out


def compare_file(rel: str, a: Path, b: Path, roots: tuple[str, ...]) -> list[str]:
    """The differences between two versions of one output file (timing ignored)."""
    if a.suffix == ".json":
        ja, jb = (_drop_timing(_strip_roots(json.loads(p.read_text()), roots))
                  for p in (a, b))
        return [f"{rel}{d}" for d in _json_diffs(ja, jb)]
    if a.suffix in (".md", ".csv", ".txt"):
        ta, tb = (_strip_roots(p.read_text(), roots) for p in (a, b))
        la, lb = (mask_markdown(t) if a.suffix == ".md" else t.splitlines()
                  for t in (ta, tb))
        if la == lb:
            return []
        if len(la) != len(lb):
            return [f"{rel}: {len(la)} lines != {len(lb)} lines"]
        bad = [i for i, (x, y) in enumerate(zip(la, lb, strict=True)) if x != y]
        return [f"{rel}:{bad[0] + 1}: {la[bad[0]][:70]!r} != {lb[bad[0]][:70]!r}"
                + (f" (+{len(bad) - 1} more lines)" if len(bad) > 1 else "")]
    if a.read_bytes() != b.read_bytes():  # .onnx (the model id), .joblib, .png, ...
        return [f"{rel}: bytes differ"]
    return []


def aliases(tree: Path) -> dict[str, str]:
    """Alias -> model id of the tree's model store."""
    path = tree / "ser_classic/shipped/index.json"
    if not path.is_file():
        return {}
    return {k: v["model"] for k, v in json.loads(path.read_text())["aliases"].items()}


def compare(tree_a: Path, tree_b: Path, *, out=sys.stdout) -> list[str]:
    """Every non-timing difference between two trees (one line each)."""
    roots = tuple(sorted({str(tree_a.resolve()), str(tree_b.resolve()), str(tree_a),
                          str(tree_b)}, key=len, reverse=True))
    ids_a, ids_b = (aliases(t) or model_ids(t) for t in (tree_a, tree_b))
    print(f"{'alias or model':40s} {'A':42s} B", file=out)
    for alias in dict.fromkeys([*ids_a, *ids_b]):
        a, b = ids_a.get(alias, "-"), ids_b.get(alias, "-")
        print(f"{alias:40s} {a:42s} {b}{'' if a == b else '   <- differs'}", file=out)
    files_a, files_b = _files(tree_a), _files(tree_b)
    diffs = [f"{rel}: only in {'A' if rel in files_a else 'B'}"
             for rel in sorted(set(files_a) ^ set(files_b))]
    shown, same = list(diffs), 0
    for rel in sorted(set(files_a) & set(files_b)):
        found = compare_file(rel, files_a[rel], files_b[rel], roots)
        diffs += found
        shown += found[:3] + ([f"{rel}: ... {len(found) - 3} more"] if len(found) > 3 else [])
        same += not found
    n_files = len(set(files_a) | set(files_b))
    print(f"\n{same} of {n_files} files equal apart from timing; {len(diffs)} differences",
          file=out)
    for line in shown:
        print(f"  {line}", file=out)
    return diffs


# --------------------------------------------------------------------------- runs
def scratch_tree(root: Path, *, fresh_cache: bool) -> dict[str, str]:
    """A scratch tree holding copies of the committed reports and store; the Makefile
    variables that point `make run` at it."""
    if root.exists():
        shutil.rmtree(root)
    shutil.copytree(ROOT / "reports", root / "reports")
    shutil.copytree(ROOT / "ser_classic/shipped", root / "ser_classic/shipped",
                    ignore=shutil.ignore_patterns("__pycache__"))
    (root / ".cache/models").mkdir(parents=True)
    (root / "data").mkdir()
    variables = {"REPORTS": root / "reports", "STORE": root / "ser_classic/shipped",
                 "WORK": root / ".cache/models", "MANIFEST": root / "data/manifest.csv"}
    if fresh_cache:
        variables["CACHE"] = root / ".cache/features"
    return {k: str(v) for k, v in variables.items()}


def run_make(root: Path, *, targets: list[str], jobs: int, fresh_cache: bool) -> float:
    variables = scratch_tree(root, fresh_cache=fresh_cache)
    cmd = ["make", "-C", str(ROOT), *targets, f"JOBS={jobs}",
           *(f"{k}={v}" for k, v in variables.items())]
    print("$ " + " ".join(cmd), flush=True)
    start = time.perf_counter()
    with open(root / "make.log", "w") as log:
        done = subprocess.run(cmd, stdout=log, stderr=subprocess.STDOUT)
    seconds = time.perf_counter() - start
    if done.returncode:
        raise SystemExit(f"make failed ({done.returncode}); see {root / 'make.log'}")
    print(f"  {seconds / 60:.1f} min, log {root / 'make.log'}", flush=True)
    return seconds


QUICK_STEPS = (
    ("features", ["features", "--corpus", "ravdess"]),
    ("evaluate", ["evaluate", "--split", "group6", "--models", "{family}", "--normalization",
                  "strict", "--feature-sets", "", "--out", "{tree}/reports/cv_quick"]),
    ("train", ["train", "--model", "{family}", "--selection",
               "{tree}/reports/cv_quick/selection.json", "--exclude-speakers", "{held_out}",
               "--out", "{tree}/.cache/models/teacher"]),
    ("distil", ["distil", "--teacher", "{tree}/.cache/models/teacher", "--student",
                 "compact_int8", "--out", "{tree}/.cache/models/compact"]),
)


def model_ids(tree: Path) -> dict[str, str]:
    """Model directory (relative to the tree) -> model id of its card."""
    out = {}
    for card in sorted((tree / ".cache/models").glob("**/model.json")):
        out[str(card.parent.relative_to(tree))] = json.loads(card.read_text())["model_id"]
    return out


def run_quick(tree: Path, *, manifest: Path, n_speakers: int, jobs: int, family: str
              ) -> float:
    """The small pipeline of ``quick`` into ``tree`` (replaced), ``jobs`` workers."""
    import pandas as pd

    if tree.exists():
        shutil.rmtree(tree)
    (tree / "data").mkdir(parents=True)
    rows = pd.read_csv(manifest, index_col=False)
    rows = rows[rows["corpus"] == "ravdess"]
    keep = sorted(rows["speaker"].unique())[:n_speakers]
    if len(keep) < 7:
        raise SystemExit(f"quick needs >= 7 RAVDESS speakers in {manifest}, got {len(keep)}")
    rows[rows["speaker"].isin(keep)].to_csv(tree / "data/manifest.csv", index=False)
    io = ["--manifest", str(tree / "data/manifest.csv"), "--cache",
          str(tree / ".cache/features"), "--jobs", str(jobs)]
    fill = {"family": family, "tree": str(tree), "held_out": keep[-1]}
    start = time.perf_counter()
    with open(tree / "quick.log", "w") as log:
        for name, args in QUICK_STEPS:
            cmd = [str(Path(sys.executable).parent / "ser-classic"), args[0], *io,
                   *(a.format(**fill) for a in args[1:])]
            log.write("$ " + " ".join(cmd) + "\n")
            log.flush()
            done = subprocess.run(cmd, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT)
            if done.returncode:
                raise SystemExit(f"{name} failed ({done.returncode}); see {tree / 'quick.log'}")
    seconds = time.perf_counter() - start
    print(f"  {tree}: {seconds / 60:.1f} min with {jobs} worker(s), log {tree / 'quick.log'}",
          flush=True)
    return seconds


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("run", help="run the main job twice into scratch trees, compare")
    p.add_argument("--root", default="/tmp/ser_classic_repro",
                   help="scratch folder: ROOT/a and ROOT/b (replaced)")
    p.add_argument("--targets", default="run",
                   help="Makefile targets to run, space-separated (default: run)")
    p.add_argument("--jobs", type=int, default=2, help="JOBS of both runs")
    p.add_argument("--jobs-b", type=int, help="JOBS of the second run (default --jobs)")
    p.add_argument("--fresh-cache", action="store_true",
                   help="extract features into each tree's own cache (.cache/features)")
    p = sub.add_parser("quick", help="a small pipeline with 1 vs 2 workers, compared")
    p.add_argument("--root", default="/tmp/ser_classic_repro_quick",
                   help="scratch folder: ROOT/a and ROOT/b (replaced)")
    p.add_argument("--manifest", default=str(ROOT / "data/manifest.csv"),
                   help="manifest whose first --speakers RAVDESS actors are used")
    p.add_argument("--speakers", type=int, default=8)
    p.add_argument("--family", default="linear", help="registry model of the CV and teacher")
    p.add_argument("--jobs", type=int, default=1, help="worker processes of the first run")
    p.add_argument("--jobs-b", type=int, default=2, help="... and of the second")
    p = sub.add_parser("compare", help="compare two trees (checkout or scratch)")
    p.add_argument("tree_a")
    p.add_argument("tree_b")
    args = parser.parse_args(argv)
    if args.command == "compare":
        return 1 if compare(Path(args.tree_a), Path(args.tree_b)) else 0
    if args.command == "quick":
        root = Path(args.root)
        for tag, jobs in (("a", args.jobs), ("b", args.jobs_b)):
            run_quick(root / tag, manifest=Path(args.manifest), n_speakers=args.speakers,
                      jobs=jobs, family=args.family)
        print(f"\nA: {root / 'a'} (--jobs {args.jobs}), B: {root / 'b'} "
              f"(--jobs {args.jobs_b})")
        return 1 if compare(root / "a", root / "b") else 0
    root, targets = Path(args.root), args.targets.split()
    jobs_b = args.jobs if args.jobs_b is None else args.jobs_b
    for tag, jobs in (("a", args.jobs), ("b", jobs_b)):
        run_make(root / tag, targets=targets, jobs=jobs, fresh_cache=args.fresh_cache)
    print(f"\nA: {root / 'a'} (JOBS={args.jobs}), B: {root / 'b'} (JOBS={jobs_b})")
    return 1 if compare(root / "a", root / "b") else 0


if __name__ == "__main__":
    sys.exit(main())

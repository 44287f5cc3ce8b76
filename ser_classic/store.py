"""The model store: each distinct model stored once, an index, and aliases that resolve.

A store is a directory holding ``index.json`` (the :class:`ModelIndex`) and one model
directory per distinct model, named by its model id (``model.json`` + ``model.onnx`` [+
``model.joblib``], as :func:`ser_classic.artifact.save_artifact` writes them)::

    shipped/
      index.json
      distilled_compact_int8-<hash>/        <- aliases "deployed", "student"
      linear-<hash>/                        <- alias "teacher"
      ...

The index records for each model its normalisation, classes, parent model (a student's
teacher, or a model trained as another), the command that made it, its held-out
figures (with the report and the backend that measured them), its size and the backend
that :func:`ser_classic.load` runs by default (:func:`evaluated_backend`); each alias
records its role (``teacher``, ``student``, ``deployed``, ``model``) and the report that
decided it. The models shipped with the package live in :data:`SHIPPED` (package data), so
``ser_classic.load("deployed")`` works from any working directory after ``pip install``.

:func:`resolve` turns what a user passes (a model directory, an alias such as
``"deployed"``, the older ``"models/deployed"`` form, or a model id) into a directory;
:func:`add_model` stores a newly trained model under an alias (``ser-classic models add``).
"""

from __future__ import annotations

import json
import os
import re
import shutil
from pathlib import Path
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, ValidationError

from .artifact import NORMALIZATIONS, _schema_error, load_artifact
from .data import atomic_write_bytes
from .errors import ArtifactError, ParameterError

__all__ = [
    "BACKENDS",
    "INDEX_FILE",
    "ROLES",
    "SHIPPED",
    "Alias",
    "Figure",
    "ModelEntry",
    "ModelIndex",
    "ab_winner",
    "add_model",
    "evaluated_backend",
    "format_models",
    "read_index",
    "report_figures",
    "resolve",
    "write_index",
]

#: The store of the models shipped with the package (package data).
SHIPPED = Path(__file__).resolve().parent / "shipped"
INDEX_FILE = "index.json"
INDEX_FORMAT_VERSION = 1
ROLES = ("teacher", "student", "deployed", "model")
BACKENDS = ("sklearn", "onnx")
#: Aliases are also accepted in the form of the directories they replace: ``models/NAME``.
_OLD_PARENT = "models"

_Name = Annotated[str, StringConstraints(min_length=1)]
_DirName = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_.-]+$")]
_Sha256 = Annotated[str, StringConstraints(pattern=r"^[0-9a-f]{64}$")]


class Figure(BaseModel):
    """A held-out figure a report gives for a model.

    Attributes
    ----------
    metric : {"accuracy", "uar"}
    value : float in [0, 1]
    data : str
        What it was measured on (e.g. ``tess (2800 clips)``).
    report : str
        The report (relative to the repository root) that gives it.
    backend : {"sklearn", "onnx"}
        The backend that was run.
    exact : bool
        True: this model was scored; False: the procedure that made it, refitted in each
        fold of a speaker- or corpus-grouped cross-validation (``reports/optimization``,
        ``reports/ab/corpus``).
    """

    model_config = ConfigDict(strict=True, extra="forbid")

    metric: Literal["accuracy", "uar"]
    value: Annotated[float, Field(ge=0.0, le=1.0)]
    data: _Name
    report: _Name
    backend: Literal[BACKENDS]
    exact: bool = True


class ModelEntry(BaseModel):
    """One stored model (the key of :attr:`ModelIndex.models` is its model id)."""

    model_config = ConfigDict(strict=True, extra="forbid")

    path: _DirName
    name: _Name
    onnx_sha256: _Sha256
    normalization: Literal[NORMALIZATIONS]
    classes: Annotated[list[_Name], Field(min_length=2)]
    parent: _Name | None = None
    command: _Name | None = None
    backend: Literal[BACKENDS]
    size_bytes: Annotated[int, Field(gt=0)]
    figures: list[Figure] = []


class Alias(BaseModel):
    """A name of a stored model, its role and the report that decided it."""

    model_config = ConfigDict(strict=True, extra="forbid")

    model: _Name
    role: Literal[ROLES]
    report: _Name | None = None


class ModelIndex(BaseModel):
    """The schema of a store's ``index.json``."""

    model_config = ConfigDict(strict=True, extra="forbid")

    format: Literal["ser_classic.model_index"] = "ser_classic.model_index"
    format_version: Literal[INDEX_FORMAT_VERSION] = INDEX_FORMAT_VERSION
    models: dict[_Name, ModelEntry] = {}
    aliases: dict[_DirName, Alias] = {}

    def aliases_of(self, model_id: str) -> list[str]:
        """The aliases of a model, in index order."""
        return [a for a, entry in self.aliases.items() if entry.model == model_id]


def evaluated_backend(card: dict) -> str:
    """The backend a model's figures were measured with: what ``load`` runs by default.

    A model whose ONNX graph differs from its scikit-learn pipeline (``onnx_parity.ok``
    false: a quantized student) is its ONNX graph (its model id is the hash of those bytes,
    and the held-out benchmarks ran it); the others were evaluated with scikit-learn
    (identical within 1e-4).
    """
    parity = card.get("onnx_parity")
    if isinstance(parity, dict) and parity.get("ok") is False:
        return "onnx"
    return "sklearn"


# --------------------------------------------------------------------------- index I/O
def read_index(store: str | os.PathLike = SHIPPED) -> ModelIndex:
    """The validated index of a store.

    Raises
    ------
    ArtifactError
        Naming ``index.json`` and the field at fault: unreadable file, schema mismatch, an
        alias of a model the index does not hold, two models in one directory.
    """
    path = Path(store) / INDEX_FILE
    if not path.is_file():
        raise ArtifactError(path, "no model index (not a model store?)")
    try:
        raw = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ArtifactError(path, f"corrupt model index ({exc})") from None
    try:
        index = ModelIndex.model_validate(raw)
    except ValidationError as exc:
        raise _schema_error(exc, path) from None
    _check_index(index, path)
    return index


def _check_index(index: ModelIndex, path: Path) -> None:
    for alias, entry in index.aliases.items():
        if entry.model not in index.models:
            raise ArtifactError(path, f"names model {entry.model!r}, which the index does "
                                      f"not hold", field=f"aliases.{alias}.model")
        if alias in index.models and alias != entry.model:
            raise ArtifactError(path, "is also the id of another model",
                                field=f"aliases.{alias}")
    seen: dict[str, str] = {}
    for model_id, entry in index.models.items():
        for key in (entry.path, entry.onnx_sha256):
            if key in seen:
                raise ArtifactError(path, f"same {'directory' if key == entry.path else 'ONNX'}"
                                          f" as model {seen[key]!r}",
                                    field=f"models.{model_id}")
            seen[key] = model_id


def write_index(index: ModelIndex, store: str | os.PathLike) -> Path:
    """Validate ``index`` and write it as the store's ``index.json`` (atomically)."""
    path = Path(store) / INDEX_FILE
    index = ModelIndex.model_validate(index.model_dump())
    _check_index(index, path)
    text = json.dumps(index.model_dump(exclude_defaults=False), indent=2) + "\n"
    atomic_write_bytes(path, text.encode())
    return path


# --------------------------------------------------------------------------- resolution
def _alias_key(model: str | os.PathLike) -> str | None:
    """The alias a string names: itself, or NAME of ``models/NAME`` (any parent path)."""
    text = os.fspath(model)
    path = Path(text)
    if len(path.parts) == 1:
        return text
    if path.parent.name == _OLD_PARENT:
        return path.name
    return None


def resolve(model: str | os.PathLike, *, store: str | os.PathLike | None = None) -> Path:
    """The model directory that ``model`` names.

    Parameters
    ----------
    model : path or str
        A model directory (used as it is), else an alias or a model id of the store
        (``"deployed"``), also in the form ``models/deployed`` of the directories the
        aliases replace.
    store : path, optional
        The store to look in (default: the shipped models, :data:`SHIPPED`).

    Returns
    -------
    model_dir : Path

    Raises
    ------
    ArtifactError
        Neither a directory nor a name of the store; the message lists the aliases.
    """
    path = Path(model)
    if path.is_dir():
        return path
    store = Path(SHIPPED if store is None else store)
    key = _alias_key(model)
    if key is not None and (store / INDEX_FILE).is_file():
        index = read_index(store)
        model_id = index.aliases[key].model if key in index.aliases else key
        if model_id in index.models:
            return store / index.models[model_id].path
        known = ", ".join(index.aliases)
        raise ArtifactError(path, f"model directory not found, nor an alias of the models in "
                                  f"{store} ({known}; `ser-classic models` lists them)")
    raise ArtifactError(path, "model directory not found")


# --------------------------------------------------------------------------- adding
def _entry_from_card(card: dict, model_dir: Path, *, path: str) -> ModelEntry:
    distillation = card.get("distillation") or {}
    teacher = distillation.get("teacher") or {}
    training = card.get("training") or {}
    command = distillation.get("command") or training.get("command")
    parent = teacher.get("model_id") or training.get("parent_model_id")
    return ModelEntry(path=path, name=card["name"], onnx_sha256=card["files"]["model.onnx"],
                      normalization=card["normalization"], classes=list(card["classes"]),
                      parent=parent, command=command, backend=evaluated_backend(card),
                      size_bytes=(model_dir / "model.onnx").stat().st_size)


def _summary_path(report: str | os.PathLike, root: Path | None) -> Path:
    path = Path(report)
    if root is not None and not path.is_absolute():
        path = root / path
    return path / "summary.json" if path.is_dir() else path


def report_figures(report: str | os.PathLike, card: dict, *,
                   root: str | os.PathLike | None = None) -> list[Figure]:
    """The held-out figures a report gives for the model of ``card``.

    Reads an A/B summary (``ser-classic ab``: accuracy and UAR of the exact model on the
    test corpus) or an optimisation summary (``experiments/bench_optimization.py``: UAR on
    held-out speakers of the teacher and of the student kind, refitted in each fold);
    other reports give none.

    Parameters
    ----------
    report : path
        The report folder or its ``summary.json``, as recorded (relative to ``root``).
    card : dict
        The model card.
    root : path, optional
        The directory relative report paths start from (default: the working directory).
    """
    path = _summary_path(report, None if root is None else Path(root))
    try:
        summary = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ParameterError(f"{path}: cannot read the report ({exc})") from None
    name = os.fspath(report)
    model_id = card["model_id"]
    out = []
    models = summary.get("models")
    if isinstance(models, dict) and {"a", "b"} <= set(models):  # an A/B summary
        data = Path(str(summary.get("data", "test corpus"))).name
        speakers = summary.get("speakers") or []
        where = f"{data} ({summary.get('n_clips')} clips"
        if data == "ravdess" and speakers:
            where += f", speakers {speakers[0]}-{speakers[-1].rsplit('_', 1)[-1]}"
        where += ")"
        for m in models.values():
            if m.get("model_id") == model_id:
                out += [Figure(metric=metric, value=float(m[metric]), data=where, report=name,
                               backend=m.get("backend", "sklearn"))
                        for metric in ("accuracy", "uar") if metric in m]
                break
    elif summary.get("kind") == "corpus_ab":  # held-out-corpus A/B of the model's recipe
        distillation = card.get("distillation")
        key = str(card["name"]).removeprefix("distilled_") if distillation else "teacher"
        paths = summary.get("candidate_paths") or {}
        if key in summary.get("mean", {}) and key in paths:
            where = ("held-out corpus, mean of " + ", ".join(summary.get("corpora", []))
                     + " (each trained on the others)")
            backend = "onnx" if key.endswith("int8") else "sklearn"
            out += [Figure(metric=metric, value=float(summary["mean"][key][metric]),
                           data=where, report=name, backend=backend, exact=False)
                    for metric in ("uar",)]
    elif isinstance(summary.get("cv"), dict) and isinstance(summary.get("teacher"), dict):
        teacher = summary["teacher"]
        distillation = card.get("distillation") or {}
        if teacher.get("model_id") == model_id:
            key, backend = "teacher", "sklearn"
        elif (distillation.get("teacher") or {}).get("model_id") == teacher.get("model_id"):
            key = str(card["name"]).removeprefix("distilled_")
            backend = "onnx" if key.endswith("int8") else "sklearn"
        else:
            key = None
        cv = summary["cv"].get(key) if key else None
        if cv and "uar" in cv:
            # the evaluation's set-up ("protocol" in reports written before issue 18)
            setup = summary.get("setup") or summary.get("protocol") or {}
            where = (f"{setup.get('n_speakers', '?')} RAVDESS speakers, "
                     f"{setup.get('folds', '?')} speaker-grouped folds")
            out.append(Figure(metric="uar", value=float(cv["uar"]), data=where, report=name,
                              backend=backend, exact=False))
    return out


def ab_winner(report: str | os.PathLike, *, root: str | os.PathLike | None = None) -> str:
    """The model directory of an A/B report's winner (``decision.winner_path``)."""
    path = _summary_path(report, None if root is None else Path(root))
    try:
        winner = json.loads(path.read_text())["decision"]["winner_path"]
    except (OSError, UnicodeDecodeError, json.JSONDecodeError, KeyError, TypeError) as exc:
        raise ParameterError(f"{path}: not an A/B summary with a winner ({exc})") from None
    if root is not None and not Path(winner).is_absolute() and (Path(root) / winner).is_dir():
        return str(Path(root) / winner)
    return str(winner)


def add_model(model_dir: str | os.PathLike | None, *, store: str | os.PathLike, alias: str,
              role: str, report: str | os.PathLike | None = None,
              figures_from: tuple[str | os.PathLike, ...] = (), parent: str | None = None,
              root: str | os.PathLike | None = None) -> ModelEntry:
    """Store the model of ``model_dir`` (once) and point ``alias`` at it.

    The model directory is verified (:func:`ser_classic.artifact.load_artifact`, nothing
    unpickled) and copied into ``store/<model id>/`` unless the store already holds a model
    with the same ONNX graph (whose files it then refreshes when the card differs, e.g.
    typicality statistics added). An alias that named another model is moved; a model left
    without aliases is removed from the store, unless another stored model names it as its
    parent (and so is that model's parent when this leaves it with neither). The index is
    rewritten atomically.

    Parameters
    ----------
    model_dir : path or None
        A model directory, or an alias of ``store`` (to give a stored model another alias);
        None: the winner of the A/B ``report`` (:func:`ab_winner`).
    store : path
        The store (created when missing).
    alias : str
        Letters, digits, ``_ . -``.
    role : {"teacher", "student", "deployed", "model"}
    report : path, optional
        The report that decided this alias (an A/B folder, ``reports/ab/NAME``); its
        figures for the model are recorded.
    figures_from : tuple of path
        Further reports whose figures for the model are recorded (e.g.
        ``reports/optimization``).
    parent : str, optional
        Alias or model id of the model it derives from, when the card does not say (a
        student's card names its teacher; a model trained as another one, ``train --model
        DIR``, does not).
    root : path, optional
        Where relative report paths start (default: the working directory).

    Returns
    -------
    entry : ModelEntry
    """
    store = Path(store)
    if model_dir is None:
        if report is None:
            raise ParameterError("add_model needs a model directory or an A/B report")
        model_dir = ab_winner(report, root=root)
    if role not in ROLES:
        raise ParameterError(f"role must be one of {ROLES}, got {role!r}")
    if not isinstance(alias, str) or not re.fullmatch(r"[A-Za-z0-9_.-]+", alias):
        raise ParameterError(f"alias must be letters, digits, '_', '.' or '-', got "
                             f"{alias!r}")
    index = read_index(store) if (store / INDEX_FILE).is_file() else ModelIndex()
    src = resolve(model_dir, store=store)
    card = load_artifact(src, load_joblib=False).card
    model_id = card["model_id"]
    if model_id in index.aliases and index.aliases[model_id].model != model_id:
        raise ParameterError(f"model id {model_id!r} is an alias of another model")
    if alias in index.models and alias != model_id:
        raise ParameterError(f"alias {alias!r} is the id of a stored model")
    same = [m for m, e in index.models.items() if e.onnx_sha256 == card["files"]["model.onnx"]]
    if same:
        model_id = same[0]
        entry = index.models[model_id]
        stored = store / entry.path
        if (stored / "model.json").read_bytes() != (Path(src) / "model.json").read_bytes():
            # the same graph with another card (e.g. typicality statistics added): the
            # stored copy takes the new card and files
            _copy_model(src, stored)
            entry = _entry_from_card(card, stored, path=entry.path).model_copy(
                update={"figures": entry.figures})
    else:
        if (store / model_id).exists():
            shutil.rmtree(store / model_id)  # left by an interrupted add: not indexed
        _copy_model(src, store / model_id)
        entry = _entry_from_card(card, store / model_id, path=model_id)
    sources = ([report] if report is not None else []) + list(figures_from)
    names = {os.fspath(r) for r in sources}
    figures = [f for f in entry.figures if f.report not in names]  # a re-run replaces
    for source in sources:
        for fig in report_figures(source, card, root=root):
            if all((f.metric, f.data, f.exact) != (fig.metric, fig.data, fig.exact)
                   for f in figures):
                figures.append(fig)
    entry = entry.model_copy(update={"figures": figures})
    if parent is not None:
        if parent in index.aliases:
            parent = index.aliases[parent].model
        entry = entry.model_copy(update={"parent": parent})
    models = dict(index.models)
    models[model_id] = entry
    aliases = dict(index.aliases)
    previous = aliases.get(alias)
    aliases[alias] = Alias(model=model_id, role=role,
                           report=None if report is None else os.fspath(report))
    # a model left without aliases is kept while another model derives from it; removing
    # it may leave its own parent without aliases or children: that goes too
    orphans = []
    candidate = previous.model if previous is not None else None
    while candidate in models and \
            not any(a.model == candidate for a in aliases.values()) and \
            not any(m.parent == candidate for m in models.values()):
        orphans.append(models.pop(candidate))
        candidate = orphans[-1].parent
    write_index(ModelIndex(models=models, aliases=aliases), store)
    for orphan in orphans:
        shutil.rmtree(store / orphan.path, ignore_errors=True)
    return entry


def _copy_model(src: Path, dst: Path) -> None:
    from .artifact import copy_artifact

    copy_artifact(src, dst)


# --------------------------------------------------------------------------- listing
def _figure_text(fig: Figure, backend: str) -> str:
    """``tess accuracy 0.559``; ``[sklearn]`` when measured with another backend than
    ``load`` runs."""
    corpus = fig.data.split(" ", 1)[0]
    where = "held-out corpora" if fig.data.startswith("held-out corpus") else \
        "held-out speakers"
    label = f"{corpus} {fig.metric}" if fig.exact else f"{where} {fig.metric}"
    return f"{label} {fig.value:.3f}" + ("" if fig.backend == backend else f" [{fig.backend}]")


def _labels_text(classes: list[str]) -> str:
    """``8 emotions``, ``7 emotions (no calm)``, or the labels themselves."""
    from .data import EMOTIONS

    known, missing = set(classes) <= set(EMOTIONS), sorted(set(EMOTIONS) - set(classes))
    if known and len(missing) <= 2:
        return f"{len(classes)} emotions" + (f" (no {', '.join(missing)})" if missing else "")
    return ", ".join(classes)


def _rows(index: ModelIndex) -> list[dict]:
    rows = []
    for model_id, entry in index.models.items():
        aliases = index.aliases_of(model_id)
        roles = list(dict.fromkeys(index.aliases[a].role for a in aliases)) or ["model"]
        exact = [f for f in entry.figures if f.exact and f.metric == "accuracy"]
        cv = [f for f in entry.figures if not f.exact]
        figures = "; ".join(_figure_text(f, entry.backend) for f in exact[:1] + cv[:1]) or "-"
        rows.append({"model": model_id, "aliases": ", ".join(aliases) or "-",
                     "role": ", ".join(roles), "labels": _labels_text(entry.classes),
                     "normalization": entry.normalization, "held-out": figures,
                     "size": f"{entry.size_bytes / 1e3:.1f} KB", "backend": entry.backend})
    return rows


def format_models(index: ModelIndex, *, fmt: str = "table") -> str:
    """The stored models, one line each: aliases, role, labels, normalisation, held-out
    figure, size of the ONNX graph, the backend ``load`` runs, model id.

    Parameters
    ----------
    fmt : {"table", "markdown", "json"}
    """
    rows = _rows(index)
    if fmt == "json":
        return json.dumps(index.model_dump(), indent=2)
    cols = ["aliases", "role", "labels", "normalization", "held-out", "size", "backend",
            "model"]
    if fmt == "markdown":
        lines = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
        for r in rows:
            cells = [f"`{r[c]}`" if c == "model" else r[c] for c in cols]
            lines.append("| " + " | ".join(cells) + " |")
        return "\n".join(lines)
    if fmt != "table":
        raise ParameterError(f"fmt must be 'table', 'markdown' or 'json', got {fmt!r}")
    widths = {c: max(len(c), *(len(r[c]) for r in rows)) if rows else len(c) for c in cols}
    lines = ["  ".join(c.ljust(widths[c]) for c in cols).rstrip()]
    lines += ["  ".join(r[c].ljust(widths[c]) for c in cols).rstrip() for r in rows]
    return "\n".join(lines)

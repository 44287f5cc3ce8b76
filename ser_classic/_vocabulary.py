"""The names the pipeline uses for its choices, one per thing across code, CLI and cards.

- :class:`Normalization`: how features are normalised before a model's estimator, the
  model card field ``normalization`` and the CLI flag ``--normalization``.
- :class:`SplitScheme`: the outer folds of the speaker-grouped evaluation, the keyword
  ``split`` and the CLI flag ``--split``.
- :class:`Grouping`: named groups of emotions scored as one class, the keyword ``groups``.

All are :class:`enum.StrEnum`: a member equals its value (``Normalization.STRICT ==
"strict"``), so plain strings are accepted wherever a member is, and cards and reports
store the value.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from enum import StrEnum

from .errors import ParameterError

__all__ = ["REFERENCE_LABEL", "Grouping", "Normalization", "SplitScheme"]


class Normalization(StrEnum):
    """The feature normalisation a model is trained for (and reads at prediction time).

    ``STRICT``: features as extracted. ``SPEAKER_NORM``: every speaker's features z-scored
    with the statistics of that speaker's own (unlabelled) clips before the estimator.
    ``NEUTRAL_REF``: every speaker's features centred on the mean of that speaker's
    :data:`REFERENCE_LABEL` clips (its reference; no division: the estimator's own global
    scaling follows), in training and at inference (``enroll`` on the voice's neutral
    speech); a reference clip is centred on the mean of the *other* reference clips.
    """

    STRICT = "strict"
    SPEAKER_NORM = "speaker_norm"
    NEUTRAL_REF = "neutral_ref"


#: The label whose clips are a speaker's reference under ``Normalization.NEUTRAL_REF``.
REFERENCE_LABEL = "neutral"


class SplitScheme(StrEnum):
    """The outer folds of the speaker-grouped evaluation.

    ``LOSO``: leave one speaker out (one fold per speaker). ``GROUP6``: ``n_folds`` folds
    of consecutive (sorted) speakers (RAVDESS: 6 x 4 actors, as in EmoBox).
    """

    LOSO = "loso"
    GROUP6 = "group6"


class Grouping(StrEnum):
    """Named groups of emotions, for ``groups=`` of ``predict_proba``, ``predict``,
    ``score`` and the torch discriminator (``--groups`` of ``ser-classic predict``,
    ``?groups=`` of the HTTP service): each group scored as one class.

    ``AROUSAL``: ``"high"`` (angry, happy, fearful, surprised) against ``"low"`` (neutral,
    calm, sad, disgust), a common convention of the circumplex (Russell 1980; disgust is
    sometimes put with the high group: pass a mapping for that). On corpora the model has
    never heard the answer's arousal carries much better than its emotion
    (``reports/arousal/``).

    ``VALENCE``: ``"positive"`` (happy, surprised, calm), ``"neutral"`` and
    ``"negative"`` (angry, fearful, sad, disgust), the other axis of the circumplex.
    Valence carries across corpora worse than arousal (``reports/valence/``).
    """

    AROUSAL = "arousal"
    VALENCE = "valence"


#: What ``groups=`` takes: a named grouping (or its value) or a mapping of group name to
#: class names.
Groups = Grouping | str | Mapping[str, Sequence[str]]

#: The emotions of each named grouping's groups; a model's classes outside them are an
#: error, and a group's emotions the model lacks are left out.
GROUPINGS: dict[Grouping, dict[str, tuple[str, ...]]] = {
    Grouping.AROUSAL: {"high": ("angry", "happy", "fearful", "surprised"),
                       "low": ("neutral", "calm", "sad", "disgust")},
    Grouping.VALENCE: {"positive": ("happy", "surprised", "calm"), "neutral": ("neutral",),
                       "negative": ("angry", "fearful", "sad", "disgust")},
}


def grouping_help() -> str:
    """The named groupings and their groups, for help texts:
    ``"arousal (high, low), valence (positive, neutral, negative)"``."""
    return ", ".join(f"{g.value} ({', '.join(groups)})" for g, groups in GROUPINGS.items())


def resolve_groups(groups: Groups, classes: Sequence
                   ) -> tuple[tuple[str, ...], tuple[tuple[int, ...], ...]]:
    """Names of ``groups`` and the columns of ``classes`` each group sums.

    ``groups``: a :class:`Grouping` (or its value), or a mapping of group name to a
    non-empty sequence of class names, no class in two groups. Classes in no group of a
    mapping are left out (the probabilities renormalised over the others); a named
    grouping must place every class of the model.
    """
    names = [str(c) for c in classes]
    column = {c: i for i, c in enumerate(names)}
    if isinstance(groups, str):
        grouping = _member(Grouping, groups, name="groups")
        table = GROUPINGS[grouping]
        placed = {c for members in table.values() for c in members}
        lost = [c for c in names if c not in placed]
        if lost:
            raise ParameterError(f"groups={grouping.value!r} has no group for the model's "
                                 f"class(es) {lost}: pass a mapping of group name to classes")
        table = {g: [c for c in members if c in column] for g, members in table.items()}
        table = {g: members for g, members in table.items() if members}
    elif isinstance(groups, Mapping):
        table = dict(groups)
    else:
        raise ParameterError(f"groups must be a Grouping or a mapping of group name to "
                             f"class names, got {type(groups).__name__}")
    if len(table) < 2 or not all(isinstance(g, str) for g in table):
        raise ParameterError(f"groups must name at least 2 groups, got {list(table)}")
    seen: set[str] = set()
    columns = []
    for g, members in table.items():
        if isinstance(members, str | bytes) or not isinstance(members, Sequence) \
                or not members:
            raise ParameterError(f"group {g!r} must be a non-empty sequence of class "
                                 f"names, got {members!r}")
        unknown = [m if isinstance(m, str) else repr(m) for m in members
                   if not isinstance(m, str) or m not in column]
        if unknown:
            raise ParameterError(f"group {g!r}: {unknown} are not classes of the model, "
                                 f"which knows {names}")
        twice = sorted(seen.intersection(members)) + sorted(
            m for m in set(members) if list(members).count(m) > 1)
        if twice:
            raise ParameterError(f"group {g!r}: class(es) {twice} in more than one place")
        seen.update(members)
        columns.append(tuple(column[m] for m in members))
    return tuple(table), tuple(columns)


def group_targets(names: Sequence[str], columns: Sequence[Sequence[int]], classes: Sequence,
                  *, groups: Groups | None = None) -> dict[str, int]:
    """The group each target name stands for (:func:`resolve_groups`' ``names`` and
    ``columns`` of ``groups``): a group's name, or the name of one of its classes
    (``"happy"`` for ``"high"``). With a named grouping, an emotion it places that the
    model lacks stands for its group too (``"calm"`` for ``"low"`` with a model trained
    without calm). A group named after a class of another group is refused as
    ambiguous."""
    out = {str(classes[c]): i for i, cols in enumerate(columns) for c in cols}
    if isinstance(groups, str):
        index = {n: i for i, n in enumerate(names)}
        out = {c: index[g] for g, members in GROUPINGS[Grouping(groups)].items()
               if g in index for c in members} | out
    clash = sorted(n for i, n in enumerate(names) if out.get(n, i) != i)
    if clash:
        raise ParameterError(f"group name(s) {clash} are also classes of another group: "
                             "targets would be ambiguous")
    return out | {n: i for i, n in enumerate(names)}


def _member(enum: type[StrEnum], value, *, name: str):
    """``value`` (a member or its string) as a member of ``enum``, else ParameterError."""
    try:
        return enum(value)
    except ValueError:
        choices = ", ".join(repr(m.value) for m in enum)
        raise ParameterError(f"{name} must be one of {choices}, got {value!r}") from None


def normalization_of(value) -> Normalization:
    """``value`` as a :class:`Normalization` (ParameterError naming the choices)."""
    return _member(Normalization, value, name="normalization")


def split_of(value) -> SplitScheme:
    """``value`` as a :class:`SplitScheme` (ParameterError naming the choices)."""
    return _member(SplitScheme, value, name="split")

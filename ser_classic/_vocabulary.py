"""The names the pipeline uses for its choices, one per thing across code, CLI and cards.

- :class:`Normalization`: how features are normalised before a model's estimator, the
  model card field ``normalization`` and the CLI flag ``--normalization``.
- :class:`SplitScheme`: the outer folds of the speaker-grouped evaluation, the keyword
  ``split`` and the CLI flag ``--split``.

Both are :class:`enum.StrEnum`: a member equals its value (``Normalization.STRICT ==
"strict"``), so plain strings are accepted wherever a member is, and cards and reports
store the value.
"""

from __future__ import annotations

from enum import StrEnum

from .errors import ParameterError

__all__ = ["REFERENCE_LABEL", "Normalization", "SplitScheme"]


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

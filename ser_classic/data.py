"""Corpora, audio loading and the manifest.

Parsers turn the corpora's own file names into labelled records; ``build_manifest`` adds
audio facts (duration, rate, channels, sha256); ``add_recordings`` merges new recordings
into an existing manifest. Every bad input raises :class:`AudioError` naming the file.
"""

from __future__ import annotations

import hashlib
import io
import os
import re
import tempfile
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import IO

import numpy as np
import pandas as pd
import soundfile as sf

from .errors import AudioError, ParameterError

__all__ = [
    "AUDIO_SUFFIXES",
    "CORPUS_CHANNELS",
    "CORPUS_LABELS",
    "EMOTIONS",
    "KNOWN_CORPORA",
    "LABELS_DECLARATION",
    "LABEL_MAPS",
    "MANIFEST_COLUMNS",
    "AddReport",
    "add_recordings",
    "atomic_write_bytes",
    "build_manifest",
    "canonical_emotion",
    "channel_cache_tag",
    "check_waveform",
    "corpus_channel",
    "corpus_of_folder",
    "decode_audio",
    "file_sha256",
    "label_order",
    "label_table",
    "load_audio",
    "load_manifest",
    "normalize_label",
    "parse_crema_d_name",
    "parse_emodb_name",
    "parse_emovo_name",
    "parse_esd_name",
    "parse_ravdess_name",
    "parse_savee_name",
    "parse_tess_name",
    "read_label_declaration",
    "read_labelled_csv",
    "save_manifest",
    "scan_corpus",
    "scan_emovo",
    "scan_ravdess",
    "scan_tess",
    "validate_manifest",
]

EMOTIONS: tuple[str, ...] = (
    "neutral", "calm", "happy", "sad", "angry", "fearful", "disgust", "surprised",
)
AUDIO_SUFFIXES = (".wav", ".flac", ".ogg", ".mp3", ".aiff", ".aif")
MANIFEST_COLUMNS = (
    "path", "corpus", "speaker", "gender", "emotion", "intensity", "statement",
    "repetition", "duration_s", "sample_rate", "channels", "sha256",
)

# Each corpus's own emotion labels -> the canonical names (EMOTIONS), declared here once and
# used by the parsers and by canonical_emotion. "calm" exists only in RAVDESS: TESS and
# EMOVO have no calm clips, so a model trained on them alone never learns calm, and a model
# that knows calm can predict it on their clips (the A/Bs count that as neutral or wrong,
# `ab --calm-as`). "labels" is what user CSVs and `canonical_emotion` without a corpus
# accept: the canonical names and English aliases (TESS's words included).
LABEL_MAPS: Mapping[str, Mapping[str, str]] = MappingProxyType({
    "ravdess": MappingProxyType({  # the EE field of MM-VV-EE-II-SS-RR-AA
        "01": "neutral", "02": "calm", "03": "happy", "04": "sad", "05": "angry",
        "06": "fearful", "07": "disgust", "08": "surprised"}),
    "tess": MappingProxyType({  # the last word of <SPK>_<word>_<emotion>
        "neutral": "neutral", "happy": "happy", "sad": "sad", "angry": "angry",
        "fear": "fearful", "disgust": "disgust", "ps": "surprised"}),
    "emovo": MappingProxyType({  # the first field of <emo>-<spk>-<sentence> (Italian)
        "neu": "neutral", "gio": "happy", "tri": "sad", "rab": "angry", "pau": "fearful",
        "dis": "disgust", "sor": "surprised"}),
    "crema_d": MappingProxyType({  # the third field of <actor>_<sentence>_<emotion>_<level>
        "ang": "angry", "dis": "disgust", "fea": "fearful", "hap": "happy",
        "neu": "neutral", "sad": "sad"}),
    "emodb": MappingProxyType({  # the sixth character of e.g. 03a01Wa (German initials)
        "w": "angry", "l": "bored", "e": "disgust", "a": "fearful", "f": "happy",
        "t": "sad", "n": "neutral"}),
    "savee": MappingProxyType({  # the letters before the number of e.g. DC_sa01
        "a": "angry", "d": "disgust", "f": "fearful", "h": "happy", "n": "neutral",
        "sa": "sad", "su": "surprised"}),
    "esd": MappingProxyType({  # the emotion folder of <speaker>/<Emotion>/[split/]<name>
        "neutral": "neutral", "angry": "angry", "happy": "happy", "sad": "sad",
        "surprise": "surprised"}),
    "labels": MappingProxyType({
        "neutral": "neutral", "calm": "calm", "happy": "happy", "happiness": "happy",
        "joy": "happy", "sad": "sad", "sadness": "sad", "angry": "angry", "anger": "angry",
        "fear": "fearful", "fearful": "fearful", "disgust": "disgust",
        "disgusted": "disgust", "surprise": "surprised", "surprised": "surprised",
        "ps": "surprised"}),
})

# Channel policy: which channel of a multi-channel original each corpus is read from
# (None: the mean of the channels, as for any other input). EMOVO's 48 kHz originals are
# two microphones about 0.4 ms apart: their mean is a comb filter (notches at 1.25 kHz and
# every 2.5 kHz above), so channel 0 alone is read, as the shared 16 kHz copy was made.
# RAVDESS and TESS are mono. Applied through corpus_channel where corpus files are loaded.
CORPUS_CHANNELS: Mapping[str, int | None] = MappingProxyType({
    "ravdess": None, "tess": None, "emovo": 0, "crema_d": None, "emodb": None,
    "savee": None, "esd": None})

_RAVDESS_FIELDS = ("modality", "vocal_channel", "emotion", "intensity", "statement",
                   "repetition", "actor")

MIN_DURATION_S = 0.1
MAX_DURATION_S = 60.0
SILENCE_PEAK = 1e-4
#: Hz: the lowest input rate (telephone speech); a lower ``sr`` is most often kHz given as
#: Hz (``sr=16``), and holds no speech band the features read.
MIN_SAMPLE_RATE = 8000


#: The corpora whose labels are fixed by their own names (strict: an unknown label, e.g. a
#: typo in a TESS file name, is an error); every other corpus is a user's labelled folder.
KNOWN_CORPORA: tuple[str, ...] = ("ravdess", "tess", "emovo", "crema_d", "emodb", "savee",
                                   "esd")


def label_order(labels: Iterable[str]) -> tuple[str, ...]:
    """The distinct labels of ``labels`` in a fixed order: canonical names in EMOTIONS order
    (RAVDESS's labels give exactly ``EMOTIONS``), then any others sorted."""
    present = {str(x) for x in labels}
    return (*(e for e in EMOTIONS if e in present), *sorted(present - set(EMOTIONS)))


#: The labels each known corpus has (:func:`label_order`): what its manifest rows allow.
#: All are canonical but EmoDB's ``bored``, which no other has.
CORPUS_LABELS: Mapping[str, tuple[str, ...]] = MappingProxyType({
    corpus: label_order(LABEL_MAPS[corpus].values()) for corpus in KNOWN_CORPORA})
#: The file beside ``labels.csv`` that declares a user corpus's own labels.
LABELS_DECLARATION = "labels.json"


def normalize_label(label: object, *, source: object = "label") -> str:
    """A label as manifests and models hold it: stripped, lower-case, non-empty.

    Raises :class:`AudioError` for an empty label.
    """
    key = str(label).strip().lower()
    if not key:
        raise AudioError(source, "empty label")
    return key


def label_table(labels: Iterable[str] | None = None, *,
                aliases: Mapping[str, str] | None = None) -> Mapping[str, str]:
    """The label map of a user corpus: the spellings it may use -> the label stored.

    ``labels=None``: the canonical emotions and their aliases (``LABEL_MAPS["labels"]``).
    Declared ``labels``: exactly those, each normalised (:func:`normalize_label`); one that
    is a known alias (``anger``, ``joy``, ...) stands for its canonical name (and accepts
    that name's other spellings), any other (``bored``, ``excited``) is kept as the
    corpus's own label. ``aliases`` maps further spellings of the corpus (e.g.
    ``{"exc": "excited"}``) to a declared label.

    Returns
    -------
    table : mapping of str -> str
        Normalised spelling -> the label stored in the manifest.

    Raises
    ------
    ParameterError
        No or an empty label, or an alias whose target is not a declared label.
    """
    canonical = LABEL_MAPS["labels"]
    if labels is None:
        table = dict(canonical)
    else:
        if isinstance(labels, str):
            raise ParameterError(f"labels must be a sequence of names, got the string "
                                 f"{labels!r}")
        declared = set()
        for label in labels:
            try:
                key = normalize_label(label)
            except AudioError:
                raise ParameterError(f"declared labels must be non-empty, got "
                                     f"{label!r}") from None
            declared.add(canonical.get(key, key))
        if not declared:
            raise ParameterError("a label declaration needs at least one label")
        table = {k: v for k, v in canonical.items() if v in declared}
        table.update((v, v) for v in declared)
    for alias, target in (aliases or {}).items():
        try:
            key, value = normalize_label(alias), normalize_label(target)
        except AudioError:
            raise ParameterError(f"label aliases must be non-empty names, got "
                                 f"{alias!r}: {target!r}") from None
        if value not in table:
            raise ParameterError(f"alias {alias!r} -> {target!r}: {target!r} is not a "
                                 f"declared label")
        table[key] = table[value]
    return MappingProxyType(table)


def read_label_declaration(path: str | os.PathLike) -> Mapping[str, str]:
    """The label map (:func:`label_table`) declared by a ``labels.json`` file.

    The file holds ``{"labels": [names], "aliases": {spelling: label}}`` (``aliases``
    optional), e.g. ``{"labels": ["excited", "bored", "neutral"]}``. A file that is not
    such JSON raises :class:`ParameterError` naming it.
    """
    import json

    path = Path(path)
    try:
        spec = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ParameterError(f"{path}: not a label declaration ({exc})") from None
    if (not isinstance(spec, dict) or set(spec) - {"labels", "aliases"}
            or not isinstance(spec.get("labels"), list)
            or not all(isinstance(x, str) for x in spec["labels"])
            or not isinstance(spec.get("aliases", {}), dict)
            or not all(isinstance(x, str) for x in spec.get("aliases", {}).values())):
        raise ParameterError(f"{path}: expected {{\"labels\": [names], \"aliases\": "
                             f"{{spelling: label}}}} (aliases optional)")
    try:
        return label_table(spec["labels"], aliases=spec.get("aliases"))
    except ParameterError as exc:
        raise ParameterError(f"{path}: {exc}") from None


def canonical_emotion(label: str, *, corpus: str = "labels", source: object = "label") -> str:
    """Map a corpus's own label to the canonical emotion set through ``LABEL_MAPS[corpus]``.

    The default, ``"labels"``, accepts the canonical names and aliases such as ``anger``,
    ``joy`` or TESS's ``ps``; ``corpus="emovo"`` maps ``gio`` to ``happy``, and so on.
    Raises :class:`AudioError` for a label the table does not have.
    """
    if corpus not in LABEL_MAPS:
        raise ParameterError(f"no label map for corpus {corpus!r}; known: "
                             f"{', '.join(LABEL_MAPS)}")
    table = LABEL_MAPS[corpus]
    key = str(label).strip().lower()
    if key not in table:
        expected = EMOTIONS if corpus == "labels" else tuple(table)
        raise AudioError(source, f"unknown emotion label {label!r}; expected one of "
                                 f"{', '.join(expected)}")
    return table[key]


# --------------------------------------------------------------------------- names
def parse_ravdess_name(path: str | os.PathLike) -> dict:
    """Parse ``MM-VV-EE-II-SS-RR-AA.ext`` (any rate, .wav or .flac, speech or song).

    Returns a dict with corpus, speaker, gender, emotion, intensity, statement, repetition
    and vocal_channel. Raises :class:`AudioError` on any malformed field.
    """
    path = Path(path)
    parts = path.stem.split("-")
    if len(parts) != 7 or not all(len(p) == 2 and p.isdigit() for p in parts):
        raise AudioError(path, "not a RAVDESS name: expected 7 two-digit fields "
                               "MM-VV-EE-II-SS-RR-AA")
    f = dict(zip(_RAVDESS_FIELDS, (int(p) for p in parts), strict=True))
    checks = {
        "modality": f["modality"] in (1, 2, 3), "vocal_channel": f["vocal_channel"] in (1, 2),
        "emotion": 1 <= f["emotion"] <= 8, "intensity": f["intensity"] in (1, 2),
        "statement": f["statement"] in (1, 2), "repetition": f["repetition"] in (1, 2),
        "actor": 1 <= f["actor"] <= 24,
    }
    bad = [k for k, ok in checks.items() if not ok]
    if bad:
        raise AudioError(path, "RAVDESS name has invalid field(s): "
                         + ", ".join(f"{k}={f[k]:02d}" for k in bad))
    if f["emotion"] == 1 and f["intensity"] == 2:
        raise AudioError(path, "RAVDESS name has strong intensity for neutral")
    return {
        "corpus": "ravdess",
        "speaker": f"ravdess_{f['actor']:02d}",
        "gender": "male" if f["actor"] % 2 else "female",
        "emotion": LABEL_MAPS["ravdess"][parts[2]],
        "intensity": "normal" if f["intensity"] == 1 else "strong",
        "statement": f["statement"],
        "repetition": f["repetition"],
        "vocal_channel": "speech" if f["vocal_channel"] == 1 else "song",
    }


def parse_tess_name(path: str | os.PathLike) -> dict:
    """Parse ``<SPK>_<word>_<emotion>.ext`` of TESS (``ps`` -> surprised)."""
    path = Path(path)
    parts = path.stem.split("_")
    if len(parts) != 3 or not all(parts):
        raise AudioError(path, "not a TESS name: expected <speaker>_<word>_<emotion>")
    spk, word, emo = parts
    spk = spk.upper()
    if spk == "OA":  # one file of the original release is named OA_bite_neutral
        spk = "OAF"
    if spk not in ("OAF", "YAF"):
        raise AudioError(path, f"TESS speaker {spk!r} is not OAF or YAF")
    return {
        "corpus": "tess", "speaker": f"tess_{spk}", "gender": "female",
        "emotion": canonical_emotion(emo, corpus="tess", source=path), "intensity": None,
        "statement": word.lower(), "repetition": None,
    }


_EMOVO_SPEAKERS = ("f1", "f2", "f3", "m1", "m2", "m3")
_EMOVO_SENTENCES = ("b1", "b2", "b3", "d1", "d2", "l1", "l2", "l3", "l4",
                    "n1", "n2", "n3", "n4", "n5")


def _bad_fields(path: Path, corpus: str, bad: list[str]) -> None:
    if bad:
        raise AudioError(path, f"{corpus} name has invalid field(s): " + "; ".join(bad))


def _not_in(field: str, value: str, allowed: Iterable[str]) -> list[str]:
    allowed = tuple(allowed)
    return [] if value in allowed else [f"{field} {value!r} not in {', '.join(allowed)}"]


def parse_emovo_name(path: str | os.PathLike) -> dict:
    """Parse ``<emo>-<spk>-<sentence>.ext`` of EMOVO (e.g. ``dis-f1-b1.flac``).

    ``emo`` is one of EMOVO's Italian codes (``LABEL_MAPS["emovo"]``), ``spk`` f1-f3
    (female) or m1-m3 (male), ``sentence`` one of b1-b3, d1-d2, l1-l4, n1-n5 (kept as the
    statement). Raises :class:`AudioError` on any malformed field.
    """
    path = Path(path)
    parts = path.stem.lower().split("-")
    if len(parts) != 3 or not all(parts):
        raise AudioError(path, "not an EMOVO name: expected <emotion>-<speaker>-<sentence>")
    emo, spk, sentence = parts
    _bad_fields(path, "EMOVO", _not_in("emotion", emo, LABEL_MAPS["emovo"])
                + _not_in("speaker", spk, _EMOVO_SPEAKERS)
                + _not_in("sentence", sentence, _EMOVO_SENTENCES))
    return {
        "corpus": "emovo", "speaker": f"emovo_{spk}",
        "gender": "female" if spk[0] == "f" else "male",
        "emotion": canonical_emotion(emo, corpus="emovo", source=path), "intensity": None,
        "statement": sentence, "repetition": None,
    }


# CREMA-D (Cao et al. 2014): 91 actors 1001-1091, 12 sentences, 6 emotions, 4 levels.
_CREMA_D_SENTENCES = ("dfa", "ieo", "iom", "ith", "its", "iwl", "iww", "mti", "tai", "tie",
                      "tsi", "wsi")
_CREMA_D_LEVELS: Mapping[str, str | None] = MappingProxyType({
    "lo": "low", "md": "medium", "hi": "high", "xx": None})


def parse_crema_d_name(path: str | os.PathLike) -> dict:
    """Parse ``<actor>_<sentence>_<emotion>_<level>.ext`` of CREMA-D (``1001_DFA_ANG_XX``).

    ``actor`` 1001-1091, ``sentence`` one of its 12 codes (kept as the statement),
    ``emotion`` ANG, DIS, FEA, HAP, NEU or SAD, ``level`` LO, MD, HI or XX (unspecified)
    -> intensity low, medium, high or None. The names carry no gender (:func:`scan_corpus`
    reads it from the corpus's ``VideoDemographics.csv``). Raises :class:`AudioError` on
    any malformed field.
    """
    path = Path(path)
    parts = path.stem.lower().split("_")
    if len(parts) != 4 or not all(parts):
        raise AudioError(path, "not a CREMA-D name: expected "
                               "<actor>_<sentence>_<emotion>_<level>, e.g. 1001_DFA_ANG_XX")
    actor, sentence, emo, level = parts
    bad = [] if actor.isdigit() and 1001 <= int(actor) <= 1091 else [
        f"actor {actor!r} not in 1001-1091"]
    bad += _not_in("sentence", sentence, _CREMA_D_SENTENCES)
    bad += _not_in("emotion", emo, LABEL_MAPS["crema_d"])
    bad += _not_in("level", level, _CREMA_D_LEVELS)
    _bad_fields(path, "CREMA-D", bad)
    return {
        "corpus": "crema_d", "speaker": f"crema_d_{actor}", "gender": None,
        "emotion": LABEL_MAPS["crema_d"][emo], "intensity": _CREMA_D_LEVELS[level],
        "statement": sentence, "repetition": None,
    }


# EmoDB (Burkhardt et al. 2005): 10 actors, 10 texts, 7 emotions (boredom among them).
_EMODB_GENDERS: Mapping[str, str] = MappingProxyType({
    "03": "male", "08": "female", "09": "female", "10": "male", "11": "male",
    "12": "male", "13": "female", "14": "female", "15": "male", "16": "female"})
_EMODB_TEXTS = ("a01", "a02", "a04", "a05", "a07", "b01", "b02", "b03", "b09", "b10")


def parse_emodb_name(path: str | os.PathLike) -> dict:
    """Parse ``<speaker><text><emotion><version>.ext`` of EmoDB (``03a01Wa``: speaker 03,
    text a01, Wut = angry, version a).

    ``emotion`` is the German initial: W angry, L bored (Langeweile: a label no other
    corpus has), E disgust, A fearful, F happy, T sad, N neutral; ``version`` a, b, c, ...
    is kept as the repetition 1, 2, 3, ...; the text as the statement; the gender from the
    corpus's speaker list. Raises :class:`AudioError` on any malformed field.
    """
    path = Path(path)
    stem = path.stem
    if len(stem) != 7 or not (stem[:2].isdigit() and stem[3:5].isdigit()):
        raise AudioError(path, "not an EmoDB name: expected <speaker><text><emotion>"
                               "<version>, e.g. 03a01Wa")
    speaker, text, emo, version = stem[:2], stem[2:5].lower(), stem[5].lower(), stem[6]
    bad = _not_in("speaker", speaker, _EMODB_GENDERS) + _not_in("text", text, _EMODB_TEXTS)
    if emo not in LABEL_MAPS["emodb"]:
        bad.append(f"emotion {stem[5]!r} not in "
                   f"{', '.join(k.upper() for k in LABEL_MAPS['emodb'])}")
    if not ("a" <= version <= "z"):
        bad.append(f"version {version!r} not a lower-case letter")
    _bad_fields(path, "EmoDB", bad)
    return {
        "corpus": "emodb", "speaker": f"emodb_{speaker}", "gender": _EMODB_GENDERS[speaker],
        "emotion": LABEL_MAPS["emodb"][emo], "intensity": None, "statement": text,
        "repetition": ord(version) - ord("a") + 1,
    }


# SAVEE (Haq & Jackson 2009): 4 male speakers, 30 neutral and 15 other sentences each.
_SAVEE_SPEAKERS = ("dc", "je", "jk", "kl")
_SAVEE_CODE = re.compile(r"(sa|su|a|d|f|h|n)(\d\d)")


def parse_savee_name(path: str | os.PathLike) -> dict:
    """Parse a SAVEE name: ``<speaker>_<code>.ext`` (``DC_sa01``, as in the common flat
    copies) or ``<speaker>/<code>.ext`` (``AudioData/DC/sa01.wav``, the release's layout).

    ``speaker`` DC, JE, JK or KL (all male); ``code`` an emotion (a angry, d disgust,
    f fearful, h happy, n neutral, sa sad, su surprised) and its sentence number (01-30 for
    neutral, else 01-15), kept as the statement. Raises :class:`AudioError` on any
    malformed field.
    """
    path = Path(path)
    speaker, _, code = path.stem.lower().rpartition("_")
    speaker = speaker or path.parent.name.lower()
    match = _SAVEE_CODE.fullmatch(code)
    bad = _not_in("speaker", speaker, _SAVEE_SPEAKERS)
    if match is None:
        bad.append(f"code {code!r} is not an emotion (a, d, f, h, n, sa, su) and a "
                   f"two-digit sentence number")
    elif not 1 <= int(match[2]) <= (30 if match[1] == "n" else 15):
        bad.append(f"sentence {match[2]} out of range for {match[1]!r} "
                   f"(01-{30 if match[1] == 'n' else 15})")
    _bad_fields(path, "SAVEE", bad)
    return {
        "corpus": "savee", "speaker": f"savee_{speaker}", "gender": "male",
        "emotion": LABEL_MAPS["savee"][match[1]], "intensity": None, "statement": code,
        "repetition": None,
    }


# ESD (Zhou et al. 2021): speakers 0001-0010 Mandarin, 0011-0020 English, 5 emotions of
# the same 350 sentences each, numbered in one block of 350 per emotion (angry 351-700).
_ESD_GENDERS: Mapping[str, str] = MappingProxyType({
    f"{i:04d}": "female" if g == "f" else "male"
    for i, g in enumerate("fffmmmfmfmmmmmfffffm", start=1)})
_ESD_SPLITS = ("train", "evaluation", "test")


def parse_esd_name(path: str | os.PathLike) -> dict:
    """Parse ``<speaker>/<Emotion>/[<split>/]<speaker>_<number>.ext`` of ESD
    (``0011/Angry/train/0011_000351.wav``).

    The emotion is the folder's (Angry, Happy, Neutral, Sad, Surprise), the speaker
    0001-0020 the name's (and the speaker folder's, when there is one), the sentence
    ``(number - 1) % 350 + 1`` the statement (the same text in every emotion), the
    gender from the corpus's speaker list. Raises :class:`AudioError` on any malformed
    field, or a name that disagrees with its folders.
    """
    path = Path(path)
    speaker, _, number = path.stem.partition("_")
    if not (len(speaker) == 4 and speaker.isdigit() and len(number) == 6
            and number.isdigit()):
        raise AudioError(path, "not an ESD name: expected <speaker>_<number>, "
                               "e.g. 0011_000351")
    folders = [p.name.lower() for p in path.parents][:3]
    if folders and folders[0] in _ESD_SPLITS:
        folders = folders[1:]
    emotion_folder = folders[0] if folders else ""
    bad = _not_in("speaker", speaker, _ESD_GENDERS)
    if not 1 <= int(number) <= 1750:
        bad.append(f"number {number} not in 000001-001750")
    if emotion_folder not in LABEL_MAPS["esd"]:
        bad.append(f"folder {emotion_folder!r} is not an emotion (Angry, Happy, Neutral, "
                   f"Sad, Surprise)")
    if len(folders) > 1 and folders[1].isdigit() and folders[1] != speaker:
        bad.append(f"speaker {speaker} in the folder of speaker {folders[1]}")
    _bad_fields(path, "ESD", bad)
    return {
        "corpus": "esd", "speaker": f"esd_{speaker}", "gender": _ESD_GENDERS[speaker],
        "emotion": LABEL_MAPS["esd"][emotion_folder], "intensity": None,
        "statement": f"{(int(number) - 1) % 350 + 1:03d}", "repetition": None,
    }


def _audio_files(root: Path) -> list[Path]:
    if not root.is_dir():
        raise ParameterError(f"corpus folder not found: {root}")
    return sorted(p for p in root.rglob("*") if p.suffix.lower() in AUDIO_SUFFIXES)


def _report(errors: list | None, source: object, problem: str, *,
            error: type[ValueError] = AudioError) -> None:
    """Append ``(source, problem)`` to ``errors``, or raise when ``errors`` is None."""
    if errors is None:
        if error is AudioError:
            raise AudioError(source, problem)
        raise error(f"{source}: {problem}")
    errors.append((str(source), problem))


def scan_ravdess(root: str | os.PathLike, *, speech_only: bool = True,
                 errors: list | None = None) -> list[dict]:
    """Records of every RAVDESS file under ``root`` (speech only by default).

    A malformed name raises :class:`AudioError`, or is appended to ``errors`` as
    ``(path, problem)`` and skipped when ``errors`` is a list.
    """
    records = []
    for p in _audio_files(Path(root)):
        try:
            rec = parse_ravdess_name(p)
        except AudioError as exc:
            _report(errors, exc.source, exc.problem)
            continue
        if speech_only and rec["vocal_channel"] != "speech":
            continue
        del rec["vocal_channel"]
        records.append({"path": str(p), **rec})
    return records


def _scan_names(root: str | os.PathLike, parse, errors: list | None) -> list[dict]:
    """Records of every audio file under ``root`` whose name ``parse`` reads."""
    records = []
    for p in _audio_files(Path(root)):
        try:
            records.append({"path": str(p), **parse(p)})
        except AudioError as exc:
            _report(errors, exc.source, exc.problem)
    return records


def scan_tess(root: str | os.PathLike, *, errors: list | None = None) -> list[dict]:
    """Records of every TESS file under ``root``; ``errors`` as in :func:`scan_ravdess`."""
    return _scan_names(root, parse_tess_name, errors)


def scan_emovo(root: str | os.PathLike, *, errors: list | None = None) -> list[dict]:
    """Records of every EMOVO file under ``root``; ``errors`` as in :func:`scan_ravdess`."""
    return _scan_names(root, parse_emovo_name, errors)


_CSV_COLUMNS = ("path", "label", "speaker", "gender")


def _csv_rows(csv_path: Path, errors: list | None) -> tuple[list[str], list] | None:
    """Header and ``(line, cells)`` rows of a UTF-8 CSV; None after a file-level problem."""
    import csv

    payload = csv_path.read_bytes()
    try:
        text = payload.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = payload[:exc.start].count(b"\n") + 1
        _report(errors, f"{csv_path}:{line}",
                f"not UTF-8 (byte 0x{payload[exc.start]:02x}); save the CSV as UTF-8",
                error=ParameterError)
        return None
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        rows = [(reader.line_num, cells) for cells in reader if any(c.strip() for c in cells)]
    except csv.Error as exc:
        _report(errors, f"{csv_path}:{reader.line_num}", f"not a CSV ({exc})",
                error=ParameterError)
        return None
    if not rows:
        _report(errors, f"{csv_path}:1", "empty CSV: expected a header row "
                "path,label[,speaker[,gender]]", error=ParameterError)
        return None
    line, header = rows.pop(0)
    header = [h.strip().lower() for h in header]
    missing = [c for c in ("path", "label") if c not in header]
    if missing:
        _report(errors, f"{csv_path}:{line}", f"missing column(s) {missing}; expected a "
                f"header row path,label[,speaker[,gender]], got {','.join(header)}",
                error=ParameterError)
        return None
    return header, rows


def read_labelled_csv(csv_path: str | os.PathLike, *, corpus: str = "custom",
                      labels: Mapping[str, str] | Sequence[str] | None = None,
                      errors: list | None = None) -> list[dict]:
    """Records from a UTF-8 CSV with columns ``path, label[, speaker[, gender]]``.

    Paths are relative to the CSV's folder. Labels are normalised (stripped, lower-case)
    and mapped through the corpus's label map: the canonical emotions and their aliases
    (``LABEL_MAPS["labels"]``), plus the corpus's own labels when it declares them.

    Parameters
    ----------
    csv_path : path
    corpus : str
        The corpus name of the records (a user corpus: not ravdess, tess or emovo).
    labels : sequence of str or mapping, optional
        The corpus's declared labels (:func:`label_table`; a mapping is used as the table
        itself). Default: the ``labels.json`` beside the CSV when there is one
        (:func:`read_label_declaration`), else the canonical emotions and aliases only.
    errors : list, optional
        A bad row (empty path or label, a label outside the declared ones, a cell count
        other than the header's) or a bad file (not UTF-8, empty, no ``path`` or ``label``
        column) is named ``<csv>:<line>``: it raises (:class:`AudioError` for a row,
        :class:`ParameterError` for the file), or is appended to ``errors`` as
        ``(source, problem)`` and skipped when ``errors`` is a list.
    """
    csv_path = Path(csv_path)
    if corpus in KNOWN_CORPORA:
        raise ParameterError(f"{csv_path}: corpus {corpus!r} is read from its own file "
                             f"names; name a labelled folder's corpus otherwise")
    if labels is None:
        declaration = csv_path.parent / LABELS_DECLARATION
        labels = (read_label_declaration(declaration) if declaration.is_file()
                  else LABEL_MAPS["labels"])
    elif not isinstance(labels, Mapping):
        labels = label_table(labels)
    declared = dict(labels) != dict(LABEL_MAPS["labels"])
    parsed = _csv_rows(csv_path, errors)
    if parsed is None:
        return []
    header, rows = parsed
    col = {name: header.index(name) for name in _CSV_COLUMNS if name in header}
    records, first_line = [], {}
    for line, cells in rows:
        where = f"{csv_path}:{line}"
        if len(cells) != len(header):
            _report(errors, where, f"{len(cells)} cells, the header has {len(header)} "
                                   f"({','.join(header)})")
            continue
        value = {name: cells[i].strip() for name, i in col.items()}
        if not value["path"]:
            _report(errors, where, "empty path")
            continue
        path = Path(cells[col["path"]])
        if not path.is_absolute():
            path = csv_path.parent / path
        if not value["label"]:
            _report(errors, where, f"{path}: empty label")
            continue
        if str(path) in first_line:
            _report(errors, where, f"{path}: listed twice (first on line "
                                   f"{first_line[str(path)]})")
            continue
        key = value["label"].lower()
        if key not in labels:
            expected = sorted(set(labels.values())) if declared else EMOTIONS
            hint = "" if declared else f" (or declare it in {LABELS_DECLARATION})"
            _report(errors, where, f"{path}: unknown emotion label {value['label']!r}; "
                                   f"expected one of {', '.join(expected)}{hint}")
            continue
        emotion = labels[key]
        speaker = value.get("speaker")
        first_line[str(path)] = line
        records.append({
            "path": str(path), "corpus": corpus,
            "speaker": f"{corpus}_{speaker}" if speaker else None,
            "gender": value.get("gender") or None,
            "emotion": emotion, "intensity": None, "statement": None, "repetition": None,
        })
    return records


#: Each known corpus's file-name parser.
_NAME_PARSERS = MappingProxyType({
    "ravdess": parse_ravdess_name, "tess": parse_tess_name, "emovo": parse_emovo_name,
    "crema_d": parse_crema_d_name, "emodb": parse_emodb_name, "savee": parse_savee_name,
    "esd": parse_esd_name})
#: How the known corpora are named in messages.
_CORPUS_TITLES = MappingProxyType({
    "ravdess": "RAVDESS", "tess": "TESS", "emovo": "EMOVO", "crema_d": "CREMA-D",
    "emodb": "EmoDB", "savee": "SAVEE", "esd": "ESD"})


def scan_corpus(root: str | os.PathLike, *, corpus: str | None = None,
                errors: list | None = None) -> list[dict]:
    """Records of a corpus folder.

    ``corpus=None``: ``labels.csv`` inside (a user's labelled folder, named after the
    folder), else the known corpus the folder's layout or names show
    (:func:`corpus_of_folder`). ``corpus``: one of ``KNOWN_CORPORA``, read by its names
    whatever the layout (RAVDESS: speech only). ``errors``: as in :func:`scan_ravdess`
    (bad names, bad CSV rows).
    """
    root = Path(root)
    if not root.is_dir():
        raise ParameterError(f"corpus folder not found: {root}")
    if corpus is None:
        if (root / "labels.csv").is_file():
            return read_labelled_csv(root / "labels.csv", corpus=root.name, errors=errors)
        corpus = corpus_of_folder(root)
        if corpus is None:
            raise ParameterError(
                f"{root}: not a folder of a known corpus "
                f"({', '.join(_CORPUS_TITLES.values())}: data/README.md shows their "
                f"layouts) and no labels.csv inside")
    elif corpus not in KNOWN_CORPORA:
        raise ParameterError(f"unknown corpus {corpus!r}; known: {', '.join(KNOWN_CORPORA)}"
                             f" (any other: a folder with labels.csv)")
    if corpus == "ravdess":
        return scan_ravdess(root, errors=errors)
    records = _scan_names(root, _NAME_PARSERS[corpus], errors)
    if corpus == "crema_d":
        genders = _crema_d_genders(root, errors)
        for record in records:
            record["gender"] = genders.get(record["speaker"])
    return records


_CREMA_D_DEMOGRAPHICS = "VideoDemographics.csv"


def _crema_d_genders(root: Path, errors: list | None) -> dict[str, str]:
    """Speaker -> ``male`` / ``female`` from CREMA-D's ``VideoDemographics.csv`` (columns
    ``ActorID`` and ``Sex``) in ``root`` or its parent (``root`` its ``AudioWAV``); empty
    without the file. A file that cannot be read as such is reported as in
    :func:`scan_ravdess` (a :class:`ParameterError` without ``errors``)."""
    import csv

    path = next((d / _CREMA_D_DEMOGRAPHICS for d in (root, root.parent)
                 if (d / _CREMA_D_DEMOGRAPHICS).is_file()), None)
    if path is None:
        return {}
    try:
        rows = list(csv.DictReader(io.StringIO(path.read_text(encoding="utf-8-sig"))))
        genders = {f"crema_d_{int(row['ActorID'])}": row["Sex"].strip().lower()
                   for row in rows}
    except (UnicodeDecodeError, KeyError, ValueError, TypeError, AttributeError) as exc:
        _report(errors, path, f"not CREMA-D's demographics (columns ActorID, Sex): {exc!r}",
                error=ParameterError)
        return {}
    bad = sorted(set(genders.values()) - {"male", "female"})
    if bad:
        _report(errors, path, f"Sex must be Male or Female, got {', '.join(bad)}",
                error=ParameterError)
        return {}
    return genders


def _first_audio_files(root: Path, *, limit: int, depth: int = 3) -> list[Path]:
    """Up to ``limit`` audio files within ``depth`` folder levels of ``root``, in name order."""
    found: list[Path] = []
    for folder, subfolders, files in os.walk(root):
        level = len(Path(folder).relative_to(root).parts)
        subfolders[:] = sorted(subfolders) if level < depth else []
        found += (Path(folder) / f for f in sorted(files)
                  if Path(f).suffix.lower() in AUDIO_SUFFIXES)
        if len(found) >= limit:
            break
    return found[:limit]


def _sample_audio_files(root: Path) -> list[Path]:
    """A few audio files of ``root`` itself and a few of each of its first 64 subfolders,
    so that a root holding several corpora shows all of them."""
    entries = sorted(root.iterdir())
    files = [p for p in entries if p.is_file() and p.suffix.lower() in AUDIO_SUFFIXES][:8]
    for folder in [p for p in entries if p.is_dir()][:64]:
        files += _first_audio_files(folder, limit=2)
    return files


def corpus_of_folder(root: str | os.PathLike) -> str | None:
    """The known corpus (``KNOWN_CORPORA``) whose layout or names ``root`` holds, else None.

    Layouts: RAVDESS ``Actor_XX/``; TESS ``OAF_*``/``YAF_*``; EMOVO speaker folders
    ``f1``-``m3``; ESD speaker folders ``0001``-``0020`` with emotion folders inside. Else
    a few audio files of ``root`` and of each of its subfolders (within four levels: e.g.
    CREMA-D's ``AudioWAV/``, EmoDB's ``wav/``, SAVEE's ``AudioData/DC/``, or any corpus's
    files copied flat) name the corpus whose parser reads all of them; a root of several
    corpora is none.
    """
    root = Path(root)
    if any(root.glob("Actor_*")):
        return "ravdess"
    if any(root.glob("*AF_*")):
        return "tess"
    if any((root / spk).is_dir() for spk in _EMOVO_SPEAKERS):
        return "emovo"
    if any((root / spk / emotion.title()).is_dir() or (root / spk / emotion).is_dir()
           for spk in _ESD_GENDERS for emotion in LABEL_MAPS["esd"]):
        return "esd"
    if not root.is_dir():
        return None
    sample = _sample_audio_files(root)
    for corpus, parse in _NAME_PARSERS.items():
        try:
            for path in sample:
                parse(path)
        except AudioError:
            continue
        if sample:
            return corpus
    return None


def corpus_channel(path: str | os.PathLike) -> int | None:
    """The channel ``CORPUS_CHANNELS`` declares for a corpus file, recognised by its name
    (an EMOVO name -> 0); None (the mean of the channels) for any other file."""
    for corpus, channel in CORPUS_CHANNELS.items():
        if channel is None:
            continue
        try:
            _NAME_PARSERS[corpus](path)
        except AudioError:
            continue
        return channel
    return None


def channel_cache_tag(path: str | os.PathLike, channel: int | None) -> str | None:
    """What a feature-cache key adds for reading ``channel`` of ``path``.

    None when the choice changes nothing: no channel asked, or a one-channel file (its
    channel 0 and its mean are the same samples), so keys of mono files never change.
    Else ``"channel=<c>"``; reads the file's header (:class:`AudioError` if unreadable).
    """
    if channel is None or _audio_info(Path(path)).channels <= 1:
        return None
    return f"channel={channel}"


# --------------------------------------------------------------------------- audio
def file_sha256(path: str | os.PathLike) -> str:
    """Hex sha256 of a file's bytes."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _check_file(path: Path) -> None:
    if not path.is_file():
        raise AudioError(path, "file not found")
    if path.stat().st_size == 0:
        raise AudioError(path, "empty file (0 bytes)")


def _audio_info(path: Path) -> sf._SoundFileInfo:
    _check_file(path)
    try:
        return sf.info(str(path))
    except Exception as exc:  # libsndfile's messages differ by format and version
        raise AudioError(path, f"not a readable audio file ({exc})") from None


# (offset, full scale) of integer PCM by (dtype kind, bytes); 8-bit WAV is unsigned
_PCM_SCALE = {("i", 1): (0.0, 2.0**7), ("i", 2): (0.0, 2.0**15), ("i", 4): (0.0, 2.0**31),
              ("u", 1): (128.0, 128.0)}


def _pcm_scale(dtype: np.dtype, *, source: object) -> tuple[float, float] | None:
    """``(offset, full_scale)`` of integer PCM samples, None for floats; refuse the rest."""
    if dtype.kind == "f":
        return None
    if (dtype.kind, dtype.itemsize) in _PCM_SCALE:
        return _PCM_SCALE[dtype.kind, dtype.itemsize]
    if dtype.kind in "iu":
        problem = (f"{dtype.name} samples have no PCM full scale; pass float samples in "
                   f"[-1, 1] or int8/int16/int32/uint8 PCM")
    elif dtype.kind == "b":
        problem = "boolean samples are not audio"
    elif dtype.kind == "c":
        problem = "complex samples are not audio; pass the real signal"
    else:
        problem = f"samples of dtype {dtype} are not numbers"
    raise AudioError(source, problem)


def _low_rate_problem(sr: int) -> str:
    """Why a sample rate below :data:`MIN_SAMPLE_RATE` is refused."""
    return (f"sample rate {sr} Hz is below {MIN_SAMPLE_RATE} Hz"
            + (f" (a rate in kHz? pass sr={sr * 1000})" if sr * 1000 <= MAX_SAMPLE_RATE else ""))


def check_waveform(y: np.ndarray, sr: int, *, source: object = "waveform",
                   min_duration: float = MIN_DURATION_S,
                   max_duration: float = MAX_DURATION_S) -> np.ndarray:
    """Validate a mono or (n, channels) waveform; return it as mono float32.

    Float samples are read as they are (full scale 1). Integer PCM is scaled by its full
    scale: int8, int16 and int32 by ``2**7``, ``2**15``, ``2**31``; uint8 (8-bit WAV) as
    ``(y - 128) / 128``. Other dtypes (wider or unsigned integers, bool, complex, object,
    str) are refused. The length is checked before any copy or mix-down, so a too-long
    array costs no memory.

    Raises :class:`AudioError` for empty, non-finite, silent, too short or too long audio
    and for samples that are not real numbers.
    """
    try:
        y = np.asarray(y)
    except (TypeError, ValueError):  # ragged nested sequences
        raise AudioError(source, "not an array of samples") from None
    pcm = _pcm_scale(y.dtype, source=source)
    if isinstance(sr, bool) or not isinstance(sr, int | np.integer) or sr <= 0:
        raise AudioError(source, f"invalid sample rate {sr!r}")
    if sr < MIN_SAMPLE_RATE:
        raise AudioError(source, _low_rate_problem(sr))
    if y.ndim not in (1, 2):
        raise AudioError(source, f"waveform must be 1-D or 2-D, got shape {y.shape}")
    if y.size == 0:
        raise AudioError(source, "no audio samples")
    n_samples = y.shape[0] if y.ndim == 1 or y.shape[1] <= 8 else y.shape[1]
    duration = n_samples / sr
    if duration < min_duration:
        raise AudioError(source, f"too short: {duration * 1000:.0f} ms < "
                                 f"{min_duration * 1000:.0f} ms")
    if duration > max_duration:
        raise AudioError(source, f"too long: {duration:.1f} s > {max_duration:.1f} s")
    if y.ndim == 2 and y.shape[1] == 1:
        y = y[:, 0]
    elif y.ndim == 2:  # (n, channels <= 8), else (channels, n)
        y = y.mean(axis=1) if y.shape[1] <= 8 else y.mean(axis=0)
    if pcm is None:
        y = y.astype(np.float32, copy=False)
    else:
        offset, full_scale = pcm
        y = ((y.astype(np.float64) - offset) / full_scale).astype(np.float32)
    top, bottom = float(y.max()), float(y.min())  # NaN and inf reach the extremes
    if not (np.isfinite(top) and np.isfinite(bottom)):
        raise AudioError(source, "waveform contains NaN or infinite samples")
    if max(top, -bottom) < SILENCE_PEAK:
        raise AudioError(source, "silent: peak amplitude below 1e-4")
    return y


# libsndfile's SF_COUNT_MAX: the header does not give the length (e.g. FLAC with 0 total
# samples); such a file is decoded block by block up to the limit
_UNKNOWN_FRAMES = 2**63 - 1
_BLOCK_SAMPLES = 1 << 19  # samples (frames x channels) decoded at a time: 2 MB of float32
MAX_SAMPLE_RATE = 384_000  # Hz: bounds a decode's memory at max_duration x this rate


def _read_frames(audio: sf.SoundFile, out: np.ndarray) -> int:
    """Decode the next ``len(out)`` frames (or fewer, at the end) into ``out``; how many.

    libsndfile's read itself: ``SoundFile.read`` seeks to its new position after each
    read, and that seek fails at the end of a file whose header gives no length.
    """
    assert out.dtype == np.float32 and out.flags.c_contiguous
    n = sf._snd.sf_readf_float(audio._file, sf._ffi.cast("float *", out.ctypes.data),
                               len(out))
    sf._error_check(audio._errorcode)
    return int(n)


def decode_audio(source: str | os.PathLike | IO[bytes], *, max_duration: float = MAX_DURATION_S,
                 name: object = None, channel: int | None = None) -> tuple[np.ndarray, int]:
    """Decode an audio file to mono at its own rate, never past ``max_duration``.

    The length in the header is checked first: a file that says it is too long is refused
    before anything is decoded. Otherwise the audio is decoded in blocks of at most
    ``2**19`` samples, each mixed down to mono at once, and decoding stops as soon as the
    limit is passed (headers may give no length or the wrong one). Memory is bounded by
    ``max_duration`` at the file's rate, whatever the file's size, length or channels.

    Parameters
    ----------
    source : path or binary file object (seekable, e.g. ``io.BytesIO`` of an upload)
    max_duration : float
        Seconds.
    name : object, optional
        The file's name in errors (default: ``source`` when a path, else ``"<stream>"``).
    channel : int or None
        None (default): the mean of the channels. An int: that channel alone (0 = the
        first), e.g. the one a corpus declares (:func:`corpus_channel`); a one-channel file
        gives the same samples either way. Beyond the file's channels: ``AudioError``.

    Returns
    -------
    y : np.ndarray [shape=(n,), dtype=float32]
        Mono (the mean of the channels, or ``channel``), not validated otherwise (see
        :func:`check_waveform`).
    sr : int
        The file's sample rate.

    Raises
    ------
    AudioError
        ``not a readable audio file``, ``cannot decode audio`` or ``too long: ... > limit``.
    """
    if channel is not None and (isinstance(channel, bool)
                                or not isinstance(channel, int | np.integer) or channel < 0):
        raise ParameterError(f"channel must be None or an int >= 0, got {channel!r}")
    is_path = isinstance(source, str | os.PathLike)
    if name is None:
        name = source if is_path else "<stream>"
    try:
        audio = sf.SoundFile(os.fspath(source) if is_path else source)
    except Exception as exc:  # libsndfile's messages differ by format and version
        reason = re.sub(r"Error opening <[^>]*>: ", "", str(exc))[:200]
        raise AudioError(name, f"not a readable audio file ({reason})") from None
    with audio:
        sr, channels, frames = int(audio.samplerate), int(audio.channels), int(audio.frames)
        if not 0 < sr <= MAX_SAMPLE_RATE:
            raise AudioError(name, f"sample rate {sr} Hz outside 1-{MAX_SAMPLE_RATE} Hz")
        if channel is not None and channel >= channels:
            raise AudioError(name, f"has {channels} channel(s), channel {channel} was asked "
                                   f"for (channels count from 0)")
        limit = max_duration * sr  # frames
        if frames != _UNKNOWN_FRAMES and frames > limit:
            raise AudioError(name, f"too long: {frames / sr:.1f} s > limit "
                                   f"{max_duration:.1f} s")
        block = np.empty((max(1, _BLOCK_SAMPLES // max(channels, 1)), channels),
                         dtype=np.float32)
        # mono samples go straight into y when the header gives the length; any beyond it
        # (or all, when it does not) are collected block by block
        y = np.empty(0 if frames == _UNKNOWN_FRAMES else frames, dtype=np.float32)
        extra, n = [], 0
        while True:
            try:
                got = block[:_read_frames(audio, block)]
            except Exception as exc:
                raise AudioError(name, f"cannot decode audio ({exc})") from None
            if len(got) == 0:
                break
            if n + len(got) > limit:
                raise AudioError(name, f"too long: more than {max_duration:.1f} s decoded "
                                       f"> limit {max_duration:.1f} s")
            if channel is not None:
                if n + len(got) <= y.size:
                    y[n:n + len(got)] = got[:, channel]
                else:
                    extra.append(got[:, channel].copy())
            elif n + len(got) <= y.size:
                np.mean(got, axis=1, out=y[n:n + len(got)])
            else:
                extra.append(got.mean(axis=1))
            n += len(got)
            if len(got) < len(block):
                break
    if extra:
        return np.concatenate([y[:n - sum(map(len, extra))], *extra]), sr
    return y[:n], sr


def load_audio(path: str | os.PathLike, *, sr: int = 16000,
               min_duration: float = MIN_DURATION_S,
               max_duration: float = MAX_DURATION_S, channel: int | None = None) -> np.ndarray:
    """Read any-rate WAV/FLAC/OGG, mix to mono (or keep ``channel``), resample to ``sr``.

    ``channel``: None (default) averages the channels; an int reads that channel alone
    (:func:`decode_audio`; for corpus files, the declared one is :func:`corpus_channel`).

    Returns
    -------
    y : np.ndarray [shape=(n,), dtype=float32]
    """
    path = Path(path)
    _check_file(path)
    data, native_sr = decode_audio(path, max_duration=max_duration, channel=channel)
    y = check_waveform(data, native_sr, source=path, min_duration=min_duration,
                       max_duration=max_duration)
    return resample(y, orig_sr=native_sr, target_sr=sr)


def resample(y: np.ndarray, *, orig_sr: int, target_sr: int) -> np.ndarray:
    """Resample a mono waveform (soxr high quality); no-op when the rates match."""
    if orig_sr == target_sr:
        return y
    import soxr

    return soxr.resample(y, orig_sr, target_sr, quality="HQ").astype(np.float32, copy=False)


# --------------------------------------------------------------------------- manifest
def _describe(record: dict) -> dict:
    path = Path(record["path"])
    info = _audio_info(path)
    if info.frames == 0:
        raise AudioError(path, "no audio frames")
    return {**record, "duration_s": info.frames / info.samplerate,
            "sample_rate": int(info.samplerate), "channels": int(info.channels),
            "sha256": file_sha256(path)}


def build_manifest(records: Iterable[dict], *, errors: list | None = None) -> pd.DataFrame:
    """A manifest DataFrame (columns ``MANIFEST_COLUMNS``) from parsed records.

    A file that cannot be read is appended to ``errors`` as ``(path, message)`` and
    skipped when ``errors`` is a list; otherwise its :class:`AudioError` is raised.
    """
    rows = []
    for rec in records:
        try:
            rows.append(_describe(rec))
        except AudioError as exc:
            if errors is None:
                raise
            errors.append((exc.source, exc.problem))
    return _manifest_frame(rows)


def atomic_write_bytes(path: str | os.PathLike, payload: bytes) -> None:
    """Write ``payload`` to ``path`` through a temporary file and ``os.replace``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(payload)
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # mkstemp creates 0600; give the usual file mode
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def save_manifest(manifest: pd.DataFrame, path: str | os.PathLike) -> None:
    """Validate a manifest (:func:`validate_manifest`) and write it as CSV, atomically."""
    validate_manifest(manifest, source=path)
    atomic_write_bytes(path, manifest.to_csv(index=False).encode())


_SHA256_HEX = r"[0-9a-f]{64}"
_SHOWN_PROBLEMS = 5


def _manifest_problems(frame: pd.DataFrame) -> pd.DataFrame:
    """One boolean column per (field, problem): True where a row breaks the rule."""

    def text(column: str) -> pd.Series:
        return frame[column].astype("string").str.strip()

    def number(column: str) -> np.ndarray:
        values = pd.to_numeric(frame[column], errors="coerce")
        return pd.Series(values).to_numpy(dtype="float64", na_value=np.nan)

    path, sha = text("path"), frame["sha256"].astype("string")
    rules = {
        ("path", "empty"): path.fillna("").eq("").to_numpy(),
        ("path", "duplicate of an earlier row"):
            (path.duplicated() & path.fillna("").ne("")).to_numpy(),
        ("corpus", "empty"): text("corpus").fillna("").eq("").to_numpy(),
        **_emotion_rules(frame),
        ("sha256", "not 64 lowercase hex digits"):
            (~sha.str.fullmatch(_SHA256_HEX).fillna(False)).to_numpy(dtype=bool),
    }
    with np.errstate(invalid="ignore"):
        duration = number("duration_s")
        rules["duration_s", "not a positive finite number"] = ~(np.isfinite(duration)
                                                                & (duration > 0))
        for column in ("sample_rate", "channels"):
            x = number(column)
            rules[column, "not a positive integer"] = ~((x > 0) & (x % 1 == 0)
                                                        & np.isfinite(x))
        repetition = number("repetition")
        rules["repetition", "not an integer"] = (
            frame["repetition"].notna().to_numpy()
            & ~(np.isfinite(repetition) & (repetition % 1 == 0)))
    return pd.DataFrame(rules, index=frame.index)


def _emotion_rules(frame: pd.DataFrame) -> dict:
    """Rules of the emotion column: known corpora hold their own canonical labels
    (``CORPUS_LABELS``), other corpora any non-empty normalised label."""
    emotion = frame["emotion"].astype("string")
    corpus = frame["corpus"].astype("string").str.strip().fillna("")
    known = corpus.isin(KNOWN_CORPORA).to_numpy(dtype=bool)
    rules = {("emotion", "empty"): (~known & emotion.str.strip().fillna("").eq("")
                                    .to_numpy(dtype=bool))}
    rules["emotion", "not a normalised label (stripped, lower-case)"] = (
        ~known & ~rules["emotion", "empty"]
        & emotion.ne(emotion.str.strip().str.lower()).fillna(True).to_numpy(dtype=bool))
    for name, allowed in CORPUS_LABELS.items():
        rules["emotion", f"not one of {', '.join(allowed)} (corpus {name})"] = (
            corpus.eq(name).to_numpy(dtype=bool)
            & ~emotion.isin(allowed).fillna(False).to_numpy(dtype=bool))
    return rules


def validate_manifest(manifest: pd.DataFrame, *, source: object = "manifest") -> None:
    """Check a manifest's columns and values; raise one :class:`ParameterError` if bad.

    Rules: every column of ``MANIFEST_COLUMNS``; a non-empty, unique ``path``; a non-empty
    ``corpus``; ``emotion`` one of the corpus's labels (``CORPUS_LABELS``) for ravdess,
    tess and emovo, else any non-empty normalised label (stripped, lower-case);
    ``sha256`` of 64 lowercase hex digits;
    ``duration_s`` positive and finite; ``sample_rate`` and ``channels`` positive
    integers; ``repetition`` empty or an integer. The message names ``source``, the CSV
    line (row ``i`` is line ``i + 2``) and the field of the first bad rows.
    """
    missing = [c for c in MANIFEST_COLUMNS if c not in manifest.columns]
    if missing:
        raise ParameterError(f"{source}: not a manifest, missing column(s) {missing}")
    problems = _manifest_problems(manifest.reset_index(drop=True))
    bad_rows = np.flatnonzero(problems.to_numpy().any(axis=1))
    if not bad_rows.size:
        return
    shown = []
    for i in bad_rows[:_SHOWN_PROBLEMS]:
        (column, problem) = problems.columns[problems.iloc[i].to_numpy()][0]
        value = manifest[column].iloc[i]
        shown.append(f"line {i + 2}: field {column!r}: {problem} "
                     f"(got {None if pd.isna(value) else value!r})")
    more = bad_rows.size - len(shown)
    raise ParameterError(f"{source}: damaged manifest, {bad_rows.size} bad row(s); "
                         + "; ".join(shown) + (f"; and {more} more" if more else "")
                         + ". Rebuild it with `ser-classic data scan` or fix these rows")


def load_manifest(path: str | os.PathLike) -> pd.DataFrame:
    """Read and validate (:func:`validate_manifest`) a manifest written by
    :func:`save_manifest`; a damaged one raises :class:`ParameterError`."""
    import warnings

    try:
        with warnings.catch_warnings():  # a row longer than the header: refuse, not index
            warnings.simplefilter("error", pd.errors.ParserWarning)
            frame = pd.read_csv(path, index_col=False,
                                dtype={"statement": "string", "speaker": "string",
                                       "gender": "string", "intensity": "string"})
    except (pd.errors.ParserError, pd.errors.ParserWarning, pd.errors.EmptyDataError,
            UnicodeDecodeError) as exc:
        raise ParameterError(f"{path}: not a manifest CSV ({exc})") from None
    validate_manifest(frame, source=path)
    return frame.astype({"repetition": "Int64"})


@dataclass
class AddReport:
    """What :func:`add_recordings` did."""

    added: list[str] = field(default_factory=list)
    duplicates: list[tuple[str, str]] = field(default_factory=list)  # (new, existing)
    errors: list[tuple[str, str]] = field(default_factory=list)  # (path, problem)


def add_recordings(manifest: pd.DataFrame, records: Sequence[dict], *,
                   check_audio: bool = True) -> tuple[pd.DataFrame, AddReport]:
    """Merge new labelled recordings into ``manifest``.

    Content duplicates (same sha256 as a manifest row or an earlier new file) are skipped
    and reported in ``duplicates``; unreadable files, and paths already in the manifest
    with other content, are skipped and reported in ``errors``; speakers are kept. Rows
    that parse are merged whatever happens to the others: a caller that wants
    all-or-nothing keeps ``manifest`` when ``report.errors`` is not empty.
    """
    report = AddReport()
    seen = dict(zip(manifest["sha256"], manifest["path"], strict=True))
    known = dict(zip(manifest["path"], manifest["sha256"], strict=True))
    new_rows = []
    for rec in records:
        try:
            row = _describe(rec)
            if check_audio:
                load_audio(row["path"], channel=corpus_channel(row["path"]))
        except AudioError as exc:
            report.errors.append((exc.source, exc.problem))
            continue
        if known.get(row["path"], row["sha256"]) != row["sha256"]:
            report.errors.append((row["path"], "already in the manifest with other content "
                                               "(the file changed); rebuild the manifest"))
            continue
        if row["sha256"] in seen:
            report.duplicates.append((row["path"], seen[row["sha256"]]))
            continue
        if not row.get("speaker"):
            row["speaker"] = f"{row['corpus']}_unknown"
        seen[row["sha256"]] = row["path"]
        new_rows.append(row)
        report.added.append(row["path"])
    if not new_rows:
        return manifest.copy(), report
    merged = pd.concat([manifest, _manifest_frame(new_rows)], ignore_index=True)
    return merged, report


def _manifest_frame(rows: list[dict]) -> pd.DataFrame:
    frame = pd.DataFrame(rows, columns=list(MANIFEST_COLUMNS))
    return frame.astype({"statement": "string", "repetition": "Int64",
                         "intensity": "string", "gender": "string"})

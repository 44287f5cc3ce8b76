"""CREMA-D, EmoDB, SAVEE and ESD read by their own names and layouts.

The corpora are not in ``../shared``: their folders are generated here from real RAVDESS
clips, written under each corpus's names, layout and sample rate.
"""

from __future__ import annotations

import json

import pytest
import soundfile as sf

import ser_classic
from ser_classic import data
from ser_classic.cli import main
from ser_classic.errors import AudioError, ParameterError

from .conftest import RAVDESS

# canonical emotion -> each corpus's code (EmoDB's boredom is written from calm clips)
CODES = {
    "crema_d": {"angry": "ANG", "disgust": "DIS", "fearful": "FEA", "happy": "HAP",
                "neutral": "NEU", "sad": "SAD"},
    "emodb": {"angry": "W", "calm": "L", "disgust": "E", "fearful": "A", "happy": "F",
              "neutral": "N", "sad": "T"},
    "savee": {"angry": "a", "disgust": "d", "fearful": "f", "happy": "h", "neutral": "n",
              "sad": "sa", "surprised": "su"},
    "esd": {"neutral": "Neutral", "angry": "Angry", "happy": "Happy", "sad": "Sad",
            "surprised": "Surprise"},
}
SPEAKERS = {"crema_d": ("1001", "1002"), "emodb": ("03", "08"), "savee": ("DC", "JE"),
            "esd": ("0011", "0015")}
RATES = {"crema_d": 16000, "emodb": 16000, "savee": 44100, "esd": 16000}


def _name(corpus: str, speaker: str, emotion: str, k: int) -> str:
    """The file's path inside its corpus folder, as the corpus's release lays it out."""
    code = CODES[corpus][emotion]
    if corpus == "crema_d":
        sentence = ("DFA", "IEO", "IOM", "ITH", "ITS", "IWL")[k]
        return f"AudioWAV/{speaker}_{sentence}_{code}_{('LO', 'MD', 'HI', 'XX')[k % 4]}.wav"
    if corpus == "emodb":
        return f"wav/{speaker}{('a01', 'a02', 'b10')[k]}{code}a.wav"
    if corpus == "savee":
        return f"AudioData/{speaker}/{code}{k + 1:02d}.wav"
    block = list(CODES["esd"]).index(emotion)
    return f"{speaker}/{code}/{('train', 'test')[k % 2]}/{speaker}_{block * 350 + k + 1:06d}.wav"


@pytest.fixture(scope="module")
def corpora(tmp_path_factory):
    """A root with the four corpora (two speakers, up to two clips per emotion each: RAVDESS
    actors 1 and 2), one misnamed file in each; returns (root, {corpus: [(path, emotion)]})."""
    root = tmp_path_factory.mktemp("public")
    clips = data.scan_ravdess(RAVDESS / "Actor_01") + data.scan_ravdess(RAVDESS / "Actor_02")
    written: dict[str, list] = {c: [] for c in CODES}
    for corpus, codes in CODES.items():
        seen: dict = {}
        for rec in clips:
            actor = int(rec["speaker"][-2:]) - 1
            k = seen[actor, rec["emotion"]] = seen.get((actor, rec["emotion"]), -1) + 1
            if rec["emotion"] not in codes or k > 1:
                continue
            y = data.load_audio(rec["path"], sr=RATES[corpus])
            path = root / corpus / _name(corpus, SPEAKERS[corpus][actor], rec["emotion"], k)
            path.parent.mkdir(parents=True, exist_ok=True)
            sf.write(path, y, RATES[corpus], subtype="PCM_16")
            written[corpus].append((path, "bored" if rec["emotion"] == "calm"
                                    else rec["emotion"]))
    bad = {"crema_d": "AudioWAV/1092_DFA_ANG_XX.wav", "emodb": "wav/04a01Wa.wav",
           "savee": "AudioData/DC/n31.wav", "esd": "0011/Angry/train/0015_000351.wav"}
    for corpus, name in bad.items():
        sf.write(root / corpus / name, sf.read(written[corpus][0][0])[0], RATES[corpus])
    return root, written


# --------------------------------------------------------------------------- names
@pytest.mark.parametrize("parse, path, expected", [
    (data.parse_crema_d_name, "AudioWAV/1001_DFA_ANG_XX.wav",
     {"corpus": "crema_d", "speaker": "crema_d_1001", "gender": None, "emotion": "angry",
      "intensity": None, "statement": "dfa", "repetition": None}),
    (data.parse_crema_d_name, "1091_WSI_FEA_HI.mp3",
     {"corpus": "crema_d", "speaker": "crema_d_1091", "gender": None, "emotion": "fearful",
      "intensity": "high", "statement": "wsi", "repetition": None}),
    (data.parse_emodb_name, "wav/03a01Wa.wav",
     {"corpus": "emodb", "speaker": "emodb_03", "gender": "male", "emotion": "angry",
      "intensity": None, "statement": "a01", "repetition": 1}),
    (data.parse_emodb_name, "16b10Lc.wav",
     {"corpus": "emodb", "speaker": "emodb_16", "gender": "female", "emotion": "bored",
      "intensity": None, "statement": "b10", "repetition": 3}),
    (data.parse_savee_name, "AudioData/KL/sa15.wav",
     {"corpus": "savee", "speaker": "savee_kl", "gender": "male", "emotion": "sad",
      "intensity": None, "statement": "sa15", "repetition": None}),
    (data.parse_savee_name, "ALL/JK_n30.wav",
     {"corpus": "savee", "speaker": "savee_jk", "gender": "male", "emotion": "neutral",
      "intensity": None, "statement": "n30", "repetition": None}),
    (data.parse_esd_name, "ESD/0011/Angry/train/0011_000351.wav",
     {"corpus": "esd", "speaker": "esd_0011", "gender": "male", "emotion": "angry",
      "intensity": None, "statement": "001", "repetition": None}),
    (data.parse_esd_name, "0009/Surprise/0009_001750.wav",
     {"corpus": "esd", "speaker": "esd_0009", "gender": "female", "emotion": "surprised",
      "intensity": None, "statement": "350", "repetition": None}),
])
def test_names_parse(parse, path, expected):
    assert parse(path) == expected


@pytest.mark.parametrize("parse, name, problem", [
    (data.parse_crema_d_name, "1001_DFA_ANG.wav", "not a CREMA-D name"),
    (data.parse_crema_d_name, "1000_DFA_CAL_ZZ.wav",
     "actor '1000' not in 1001-1091; emotion 'cal' not in ang, .*; level 'zz' not in lo"),
    (data.parse_crema_d_name, "1001_XYZ_ANG_XX.wav", "sentence 'xyz' not in dfa"),
    (data.parse_emodb_name, "03a01Wa1.wav", "not an EmoDB name"),
    (data.parse_emodb_name, "04a03Xa.wav",
     "speaker '04' not in 03, .*; text 'a03' not in .*; emotion 'X' not in W, L, E"),
    (data.parse_savee_name, "DC_x01.wav", "code 'x01' is not an emotion"),
    (data.parse_savee_name, "ZZ_a01.wav", "speaker 'zz' not in dc, je, jk, kl"),
    (data.parse_savee_name, "DC_a16.wav", "sentence 16 out of range for 'a' \\(01-15\\)"),
    (data.parse_esd_name, "0011/Angry/0011-000351.wav", "not an ESD name"),
    (data.parse_esd_name, "0021/Bored/0021_001751.wav",
     "speaker '0021' not in 0001, .*; number 001751 not in .*; folder 'bored' is not an "
     "emotion"),
    (data.parse_esd_name, "0011/Angry/0012_000351.wav",
     "speaker 0012 in the folder of speaker 0011"),
])
def test_malformed_names_are_named(parse, name, problem):
    with pytest.raises(AudioError, match=problem) as info:
        parse(f"/x/{name}")
    assert name.rsplit("/", 1)[-1] in str(info.value)


def test_label_tables():
    assert data.CORPUS_LABELS["crema_d"] == ("neutral", "happy", "sad", "angry", "fearful",
                                             "disgust")
    assert data.CORPUS_LABELS["emodb"][-1] == "bored"  # its own label, after the canonical
    assert data.CORPUS_LABELS["esd"] == ("neutral", "happy", "sad", "angry", "surprised")
    assert set(data.CORPUS_LABELS["savee"]) == set(data.EMOTIONS) - {"calm"}


# --------------------------------------------------------------------------- folders
def test_folders_are_recognised_by_layout_or_names(corpora, tmp_path):
    root, written = corpora
    for corpus in CODES:
        assert data.corpus_of_folder(root / corpus) == corpus
    assert data.corpus_of_folder(root / "crema_d" / "AudioWAV") == "crema_d"
    assert data.corpus_of_folder(root / "savee" / "AudioData" / "JE") == "savee"
    assert data.corpus_of_folder(root) is None  # several corpora: none of them
    flat = tmp_path / "savee_flat"  # the common flat copy: DC_a01.wav
    flat.mkdir()
    for path, _ in written["savee"][:3]:
        (flat / f"{path.parent.name}_{path.name}").write_bytes(path.read_bytes())
    assert data.corpus_of_folder(flat) == "savee"
    assert {r["speaker"] for r in data.scan_corpus(flat)} == {"savee_dc"}
    with pytest.raises(ParameterError, match="unknown corpus 'iemocap'"):
        data.scan_corpus(flat, corpus="iemocap")
    with pytest.raises(ParameterError, match=r"corpus folder not found: .*nothing_here"):
        data.scan_corpus(tmp_path / "nothing_here", errors=[])
    (tmp_path / "empty").mkdir()
    with pytest.raises(ParameterError, match=r"empty: not a folder of a known corpus "
                       r"\(RAVDESS, TESS, EMOVO, CREMA-D, EmoDB, SAVEE, ESD: "):
        data.scan_corpus(tmp_path / "empty")


@pytest.mark.parametrize("corpus", list(CODES))
def test_scan_reads_labels_and_reports_bad_names(corpora, corpus):
    root, written = corpora
    errors: list = []
    records = data.scan_corpus(root / corpus, errors=errors)
    assert sorted((r["path"], r["emotion"]) for r in records) == sorted(
        (str(p), e) for p, e in written[corpus])
    assert {r["corpus"] for r in records} == {corpus}
    assert {r["speaker"] for r in records} == {f"{corpus}_{s.lower()}"
                                               for s in SPEAKERS[corpus]}
    assert len(errors) == 1 and "invalid field" in errors[0][1]
    with pytest.raises(AudioError, match="invalid field"):
        data.scan_corpus(root / corpus)  # without a list: raised
    forced = data.scan_corpus(root / corpus, corpus=corpus, errors=[])
    assert forced == records


def test_crema_d_genders_come_from_its_demographics_file(corpora, tmp_path):
    _, written = corpora
    root = tmp_path / "CREMA-D"
    (root / "AudioWAV").mkdir(parents=True)
    for path, _ in written["crema_d"]:
        (root / "AudioWAV" / path.name).write_bytes(path.read_bytes())
    assert {r["gender"] for r in data.scan_corpus(root)} == {None}  # no file: unknown
    demographics = root / "VideoDemographics.csv"
    demographics.write_text("ActorID,Age,Sex,Race,Ethnicity\n1001,51,Male,Caucasian,"
                            "Not Hispanic\n1002,21,Female,Asian,Not Hispanic\n")
    for folder in (root, root / "AudioWAV"):  # the release's root, or its AudioWAV
        genders = {r["speaker"]: r["gender"] for r in data.scan_corpus(folder)}
        assert genders == {"crema_d_1001": "male", "crema_d_1002": "female"}
    demographics.write_text("ActorID,Age,Gender\n1001,51,M\n")
    errors: list = []
    records = data.scan_corpus(root, errors=errors)  # the clips are kept, genders unknown
    assert len(records) == len(written["crema_d"]) and {r["gender"] for r in records} == {None}
    assert errors == [(str(demographics), "not CREMA-D's demographics (columns ActorID, "
                                          "Sex): KeyError('Sex')")]
    demographics.write_text("ActorID,Sex\n1001,M\n")
    with pytest.raises(ParameterError, match=r"VideoDemographics\.csv: Sex must be Male or "
                                             r"Female, got m"):
        data.scan_corpus(root)


def test_cli_scan_of_a_root_with_four_corpora(corpora, tmp_path, capsys):
    root, written = corpora
    manifest = tmp_path / "manifest.csv"
    assert main(["data", "scan", "--data", str(root), "--manifest", str(manifest)]) == 0
    m = data.load_manifest(manifest)
    counts = m.groupby("corpus")["path"].size().to_dict()
    assert counts == {c: len(w) for c, w in written.items()}
    rates = m.groupby("corpus")["sample_rate"].unique().map(list).to_dict()
    assert rates == {c: [r] for c, r in RATES.items()}
    assert "bored" in set(m.loc[m["corpus"] == "emodb", "emotion"])
    assert set(m.loc[m["corpus"] == "emodb", "gender"]) == {"male", "female"}
    err = capsys.readouterr().err
    # the same RAVDESS samples under CREMA-D, EmoDB and ESD names at 16 kHz: copies across
    # speakers that a speaker-grouped split would put on both sides
    assert "content duplicate (kept, speakers crema_d_1001, emodb_03, esd_0011: a " \
           "speaker-grouped split can put copies on both sides)" in err
    assert "skipped" in err and "1092_DFA_ANG_XX.wav" in err
    # a corpus named otherwise than the manifest does: the error says what it holds
    holds = r"in the manifest; it holds crema_d, emodb, esd, savee"
    with pytest.raises(ParameterError, match=r"no clips of \['crema-d'\] " + holds):
        ser_classic.train(m, corpora="crema-d", model="logreg", augment="none")
    with pytest.raises(ParameterError, match="no clips of corpus 'CREMA-D' " + holds):
        ser_classic.cross_validate(m, corpus="CREMA-D", models=["logreg"])


def test_ab_scores_shipped_models_on_an_emodb_folder(corpora, tmp_path, capsys):
    """A user's first step with a new corpus: both shipped strict models on it. Boredom,
    which no model knows, counts as wrong; the report names it."""
    _, written = corpora
    emodb = tmp_path / "emodb"  # the good files only: `ab` refuses a misnamed one
    (emodb / "wav").mkdir(parents=True)
    for path, _ in written["emodb"]:
        (emodb / "wav" / path.name).write_bytes(path.read_bytes())
    out = tmp_path / "ab"
    assert main(["ab", "--a", "deployed", "--b", "teacher", "--data", str(emodb),
                 "--out", str(out), "--boot", "200"]) == 0
    summary = json.loads((out / "summary.json").read_text())
    text = json.dumps(summary)
    assert "bored" in text
    report = (out / "report.md").read_text()
    assert "recall bored | 0.000 | 0.000" in report
    assert f"Test clips: {len(written['emodb'])} from speakers emodb_03, emodb_08" in report

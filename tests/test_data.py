from __future__ import annotations

import shutil

import numpy as np
import pandas as pd
import pytest

from ser_classic import data
from ser_classic.cli import CliError, main, resolve_data_dir
from ser_classic.errors import AudioError, ParameterError

from .conftest import RAVDESS, TESS


def test_ravdess_manifest_counts(ravdess_manifest):
    m = ravdess_manifest
    assert len(m) == 1440
    assert m["speaker"].nunique() == 24
    assert (m.groupby("speaker").size() == 60).all()
    counts = m["emotion"].value_counts()
    assert counts["neutral"] == 96
    assert all(counts[e] == 192 for e in data.EMOTIONS if e != "neutral")
    assert set(m["gender"]) == {"male", "female"}
    assert (m.loc[m["emotion"] == "neutral", "intensity"] == "normal").all()
    assert m["sha256"].str.len().eq(64).all()
    # The release holds one content duplicate (actor 7, happy, statement 2, reps 1 and 2).
    dup = m[m["sha256"].duplicated(keep=False)]
    assert [p.rsplit("/", 1)[1] for p in dup["path"]] == [
        "03-01-03-01-02-01-07.flac", "03-01-03-01-02-02-07.flac"]


def test_ravdess_durations_reproduce_the_seed(ravdess_manifest):
    d = ravdess_manifest["duration_s"]
    assert d.mean() == pytest.approx(3.700, abs=0.001)
    assert d.std() == pytest.approx(0.336, abs=0.001)
    assert d.min() == pytest.approx(2.94, abs=0.005)
    assert d.max() == pytest.approx(5.27, abs=0.005)
    assert d.quantile([0.25, 0.5, 0.75]).to_numpy() == pytest.approx([3.47, 3.67, 3.87],
                                                                       abs=0.005)


def test_tess_manifest_counts(tess_manifest):
    m = tess_manifest
    assert len(m) == 2800
    assert m["emotion"].nunique() == 7 and "calm" not in set(m["emotion"])
    assert (m["emotion"].value_counts() == 400).all()
    assert sorted(m["speaker"].unique()) == ["tess_OAF", "tess_YAF"]


@pytest.mark.parametrize("name, problem", [
    ("03-01-09-01-01-01-01.wav", "emotion=09"),
    ("03-01-01-02-01-01-01.wav", "strong intensity for neutral"),
    ("03-01-05-01-01-01-25.wav", "actor=25"),
    ("03-01-05-01-01.wav", "7 two-digit fields"),
    ("03-01-05-01-01-01-xx.flac", "7 two-digit fields"),
    ("04-01-05-01-01-01-01.wav", "modality=04"),
])
def test_malformed_ravdess_names(name, problem):
    with pytest.raises(AudioError, match=problem) as info:
        data.parse_ravdess_name(f"/x/{name}")
    assert name in str(info.value)


def test_parsers_fields():
    rec = data.parse_ravdess_name("Actor_08/03-02-03-02-02-01-08.wav")
    assert rec["vocal_channel"] == "song" and rec["emotion"] == "happy"
    assert rec["speaker"] == "ravdess_08" and rec["gender"] == "female"
    rec = data.parse_tess_name("YAF_fear/YAF_back_ps.flac")
    assert rec["emotion"] == "surprised" and rec["speaker"] == "tess_YAF"
    assert data.parse_tess_name("OA_bite_neutral.wav")["speaker"] == "tess_OAF"
    with pytest.raises(AudioError, match="unknown emotion label 'bored'"):
        data.parse_tess_name("OAF_back_bored.wav")
    with pytest.raises(AudioError, match="not a TESS name"):
        data.parse_tess_name("OAF_back.wav")


def test_load_audio_rates_formats_and_channels(audio_fixtures):
    y = data.load_audio(audio_fixtures["03-01-05-02-01-01-07.wav"], sr=16000)
    assert y.dtype == np.float32 and y.ndim == 1 and abs(y.size - 24000) <= 1
    y = data.load_audio(audio_fixtures["03-01-03-01-02-02-08.wav"], sr=16000)
    assert abs(y.size - int(1.2 * 16000)) <= 1
    y = data.load_audio(audio_fixtures["stereo.wav"])
    assert y.ndim == 1 and abs(y.size - 16000) <= 1
    y = data.load_audio(audio_fixtures["eight_bit.wav"])
    assert 0.2 < np.abs(y).max() <= 1.0


@pytest.mark.parametrize("name, problem", [
    ("empty.wav", "empty file"),
    ("notes.wav", "not a readable audio file"),
    ("corrupt.wav", "(not a readable audio file|cannot decode|silent|too short)"),
    ("truncated_header.flac", "not a readable audio file"),
    ("silent.wav", "silent"),
    ("ten_ms.wav", "too short: 10 ms"),
])
def test_bad_audio_gives_clear_error(audio_fixtures, name, problem):
    with pytest.raises(AudioError, match=problem) as info:
        data.load_audio(audio_fixtures[name])
    assert name in str(info.value)


def test_waveform_checks():
    with pytest.raises(AudioError, match="too long"):
        data.check_waveform(np.ones(16000 * 61, np.float32), 16000, source="clip")
    with pytest.raises(AudioError, match="NaN"):
        data.check_waveform(np.full(16000, np.nan), 16000)
    with pytest.raises(AudioError, match="no audio samples"):
        data.check_waveform(np.zeros(0), 16000)
    with pytest.raises(AudioError, match="sample rate"):
        data.check_waveform(np.ones(16000), 0)


def test_real_corpus_as_48k_wav(tmp_path, ravdess_manifest):
    """The original downloads are 48 kHz WAV: the same names and loading work."""
    import soundfile as sf

    row = ravdess_manifest.iloc[0]
    y16 = data.load_audio(row.path)
    actor = tmp_path / "Actor_01"
    actor.mkdir()
    wav = actor / (data.Path(row.path).stem + ".wav")
    sf.write(wav, data.resample(y16, orig_sr=16000, target_sr=48000), 48000)
    m = data.build_manifest(data.scan_ravdess(tmp_path))
    assert m.loc[0, "sample_rate"] == 48000 and m.loc[0, "emotion"] == row.emotion
    y = data.load_audio(wav)
    assert abs(y.size - y16.size) <= 2
    assert np.corrcoef(y[: y16.size - 2], y16[: y16.size - 2])[0, 1] > 0.99


def test_add_recordings_duplicates_errors_and_speakers(tmp_path, small_manifest,
                                                       audio_fixtures):
    base = small_manifest.iloc[:10].reset_index(drop=True)
    dup = tmp_path / "copy_of_first.flac"
    shutil.copy(base.loc[0, "path"], dup)
    csv = tmp_path / "labels.csv"
    pd.DataFrame({
        "path": [str(audio_fixtures["03-01-05-02-01-01-07.wav"]), dup.name,
                 str(audio_fixtures["notes.wav"]), str(audio_fixtures["stereo.wav"])],
        "label": ["angry", "neutral", "sad", "Happiness"],
        "speaker": ["spk1", "spk2", "spk1", None],
    }).to_csv(csv, index=False)
    records = data.read_labelled_csv(csv, corpus="mine")
    merged, report = data.add_recordings(base, records)
    assert len(merged) == 12 and len(report.added) == 2
    assert report.duplicates == [(str(dup), base.loc[0, "path"])]
    assert [p for p, _ in report.errors] == [str(audio_fixtures["notes.wav"])]
    new = merged.iloc[10:]
    assert list(new["speaker"]) == ["mine_spk1", "mine_unknown"]
    assert list(new["emotion"]) == ["angry", "happy"]
    # a second add of the same files adds nothing
    again, report2 = data.add_recordings(merged, records)
    assert len(again) == 12 and len(report2.duplicates) == 3 and not report2.added


def test_unknown_label_in_csv_names_the_file(tmp_path):
    csv = tmp_path / "labels.csv"
    pd.DataFrame({"path": ["a.wav"], "label": ["bored"]}).to_csv(csv, index=False)
    with pytest.raises(AudioError, match=r"a\.wav: unknown emotion label 'bored'"):
        data.read_labelled_csv(csv)


def test_manifest_round_trip_is_atomic(tmp_path, small_manifest):
    path = tmp_path / "sub" / "manifest.csv"
    data.save_manifest(small_manifest, path)
    assert [p.name for p in path.parent.iterdir()] == ["manifest.csv"]
    back = data.load_manifest(path)
    pd.testing.assert_frame_equal(back, small_manifest, check_dtype=False)


def test_cli_data_add_and_stats(tmp_path, small_manifest, audio_fixtures, capsys):
    manifest = tmp_path / "manifest.csv"
    data.save_manifest(small_manifest, manifest)
    folder = tmp_path / "new"
    folder.mkdir()
    for name in ("03-01-05-02-01-01-07.wav", "notes.wav"):
        shutil.copy(audio_fixtures[name], folder / name)
    shutil.copy(small_manifest.loc[0, "path"], folder / "dup.flac")
    pd.DataFrame({"path": ["03-01-05-02-01-01-07.wav", "notes.wav", "dup.flac"],
                  "label": ["angry", "sad", "neutral"], "speaker": ["a", "a", "b"]}
                 ).to_csv(folder / "labels.csv", index=False)
    # the good one is merged; exit 1 says that one was skipped (issue 17)
    assert main(["data", "add", str(folder), "--manifest", str(manifest)]) == 1
    out = capsys.readouterr()
    assert "added 1, duplicates 1, errors 1" in out.out
    assert "notes.wav" in out.err and "duplicate skipped" in out.err
    assert len(data.load_manifest(manifest)) == 241
    assert main(["data", "stats", "--manifest", str(manifest), "--out",
                 str(tmp_path / "stats")]) == 0
    text = (tmp_path / "stats" / "stats.md").read_text()
    assert "| ravdess | 240 |" in text and "data stats" in text.splitlines()[2]
    assert (tmp_path / "stats" / "dataset_stats.png").stat().st_size > 10_000


def test_data_dir_resolution(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("SER_CLASSIC_DATA", raising=False)
    with pytest.raises(CliError, match=r"looked in: \./data = .*; \.\./shared/data = "):
        resolve_data_dir(None)
    monkeypatch.setenv("SER_CLASSIC_DATA", str(RAVDESS.parent))
    assert resolve_data_dir(None) == RAVDESS.parent
    assert resolve_data_dir(str(TESS)) == TESS
    with pytest.raises(CliError, match="--data"):
        resolve_data_dir(str(tmp_path))


def test_scan_corpus_errors(tmp_path):
    with pytest.raises(ParameterError, match="not a folder of a known corpus"):
        data.scan_corpus(tmp_path)


@pytest.mark.parametrize("command", ["data", "features"])
def test_cli_help(command, capsys):
    with pytest.raises(SystemExit) as info:
        main([command, "--help"])
    assert info.value.code == 0
    assert "usage: ser-classic" in capsys.readouterr().out


def test_cli_usage_names_each_command_once(capsys):
    with pytest.raises(SystemExit) as info:
        main(["--help"])
    assert info.value.code == 0
    usage = capsys.readouterr().out.split("\n\n")[0]
    assert "distil," in usage and "distill" not in usage  # the alias stays out of it

"""The adversarial-margin experiment (experiments/adversarial_margin.py) on real clips and
the shipped students: per-clip speaker statistics, the censored median, a short attack."""

from __future__ import annotations

import json

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from ser_classic.errors import ParameterError  # noqa: E402
from ser_classic.torch import EmotionDiscriminator  # noqa: E402

from .conftest import DATA, experiment  # noqa: E402


@pytest.fixture(scope="module")
def margin():
    return experiment("adversarial_margin")


def test_model_specs(margin):
    assert margin._model_specs(["a=student", "deployed"]) == [("a", "student"),
                                                                ("deployed", "deployed")]
    with pytest.raises(ParameterError, match="differ"):
        margin._model_specs(["a=student", "a=deployed"])
    with pytest.raises(ParameterError, match="LABEL=MODEL"):
        margin._model_specs(["=student"])


def test_censored_median_counts_clips_that_never_flip_as_beyond_the_budget(margin):
    assert margin._censored_median(np.array([30.0, np.nan, np.nan])) == -np.inf
    assert margin._censored_median(np.array([30.0, 40.0, np.nan])) == 30.0
    assert margin._snr_cell(-np.inf) == "no flip"
    assert margin._reached(np.array([np.inf, 30.0, np.nan, np.nan])) == 0.5


def test_per_clip_speaker_statistics_match_the_discriminator(margin):
    """Two speakers in one batch, each row normalised by its own speaker's statistics,
    give what the discriminator gives each speaker's clip with that speaker's stats."""
    disc = EmotionDiscriminator("student-speaker_norm")
    attacked, _, by_speaker = margin._draw(DATA, per_corpus=1, check_per_emotion=0, seed=0)
    reader = margin._Reader(disc, by_speaker, exclude={r["path"] for r in attacked},
                            enroll=3, seed=0)
    clips = [margin._load(r) for r in attacked[:2]]
    speakers = [r["speaker"] for r in attacked[:2]]
    assert speakers[0] != speakers[1]
    x, lengths = margin._padded(clips)
    with torch.no_grad():
        got = reader(x, lengths, speakers)
        for i, clip in enumerate(clips):
            expected = disc(torch.from_numpy(clip)[None], sr=16000,
                            speaker=reader.enrolled(speakers[i]))
            np.testing.assert_allclose(got[i].exp().numpy(), expected[0].exp().numpy(),
                                       atol=1e-5)
    assert reader.enrolled(speakers[0]).n_clips == 3


def test_short_attack_writes_the_side_by_side_report(margin, tmp_path):
    margin.main(["--model", "robust=student", "again=deployed", "--data", str(DATA),
                 "--clips", "1", "--steps", "3", "--check-clips", "1", "--out",
                 str(tmp_path), "--name", "m"])
    result = json.loads((tmp_path / "m.json").read_text())
    attacked, _, _ = margin._draw(DATA, per_corpus=1, check_per_emotion=0, seed=0)
    assert result["clips"] == [r["path"] for r in attacked]
    assert [r["emotion"] for r in attacked] == ["neutral"] * 3
    assert [r["corpus"] for r in attacked] == ["ravdess", "tess", "emovo"]
    robust = result["models"]["robust"]
    assert robust["check"]["clips"] == 21  # 7 emotions x 3 corpora, calm left out
    for t in robust["targets"].values():  # backtracking: p(target) never falls
        assert np.all(np.array(t["p_after"]) >= np.array(t["p_before"]))
        assert np.all(np.diff(t["p_curve"]) >= 0)
        assert 0 <= min(t["kept"]) and max(t["kept"]) <= 1
    assert np.mean([np.mean(t["kept"]) for t in robust["targets"].values()]) > 0.5
    report = (tmp_path / "m.md").read_text()
    (tmp_path / "m.md").unlink()
    margin.main(["--render", str(tmp_path / "m.json")])  # the same report from the JSON
    assert (tmp_path / "m.md").read_text() == report
    assert "## Side by side: all targets" in report and "| robust | " in report
    if robust["model_id"] == result["models"]["again"]["model_id"]:  # deployed = student
        assert robust["targets"] == result["models"]["again"]["targets"]


def test_fixed_steps_keep_every_step_and_spend_the_budget(margin):
    """search="none": every step kept at the full rate; a change never larger than the
    budget, and at a rate this small the target's probability rises on most clips."""
    disc = EmotionDiscriminator("student")
    reader = margin._Reader(disc, {}, exclude=set(), enroll=0, seed=0)
    attacked, _, _ = margin._draw(DATA, per_corpus=1, check_per_emotion=0, seed=0)
    clips = [margin._load(r) for r in attacked]
    r = margin.attack(reader, clips, [a["speaker"] for a in attacked],
                      disc.classes.index("sad"), steps=3, eta=1e-3, search="none")
    assert np.all(r["kept"] == 1)
    assert np.all(r["snr_final"] >= -20 * np.log10(3e-3) - 1e-3)
    assert np.mean(r["p_after"] > r["p_before"]) >= 2 / 3

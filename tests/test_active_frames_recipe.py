"""The strict active-frame lead under the training recipe (experiments/active_frames_recipe.py)."""

from .conftest import experiment

afr = experiment("active_frames_recipe")


def _stage(clean: float, noisy: float) -> dict:
    return {c: {afr.SETTING: {"accuracy": a, "uar": a, "ece": 0.1},
                "other teacher": {"accuracy": 0.0, "uar": 0.0, "ece": 0.0}}
            for c, a in (("clean", clean), ("white 20 dB", noisy))}


def test_the_variant_is_set_against_the_shipped_teachers_of_the_same_preset():
    rows = afr.compare(_stage(0.60, 0.45), _stage(0.64, 0.40))
    assert [r["condition"] for r in rows] == ["clean", "white 20 dB"]
    assert rows[1] == {"condition": "white 20 dB", "shipped": {"accuracy": 0.40, "ece": 0.1},
                       "variant": {"accuracy": 0.45, "ece": 0.1}}
    text = afr.render({"command": "c", "seconds": 1.0, "conditions": rows})
    assert "| white 20 dB | 0.400 / 0.100 (62%) | 0.450 / 0.100 (75%) | +0.050 |" in text
    assert "over the 1 degradations: +0.050; clean: -0.040." in text


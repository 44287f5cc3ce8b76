"""The recipe and report of experiments/balance_corpora.py."""

import json

import ser_classic

from .conftest import ROOT, experiment

balance = experiment("balance_corpora")


def test_recipe_is_the_shipped_teachers_without_training_set_babble():
    for norm, alias in balance.TEACHERS.items():
        card = ser_classic.load(alias).card
        recipe = balance.recipe(alias)
        assert recipe["normalization"] == card["normalization"] == norm
        assert recipe["model"] == card["name"] and "params" not in recipe
        union = card["training"]["augment"]["union"]
        assert recipe["augment"] in union and recipe["augment"].startswith("vtlp")
    assert balance.vtlp_member(["vtlp", "conditions", "pitch"]) == "vtlp"
    assert balance.vtlp_member(["vtlp_eq", "conditions_eq", "pitch_eq"]) == "vtlp_eq"


def test_parameters_of_each_fold_were_chosen_without_its_held_out_corpus():
    for norm in balance.TEACHERS:
        params = balance.fold_params(ROOT / "reports", norm)
        assert sorted(params) == sorted(balance.CORPORA)
        summary = json.loads((ROOT / "reports" / balance.AB_REPORTS[norm] /
                              "summary.json").read_text())
        assert summary["tune"] == "speaker+corpus"
        for held, fold in summary["folds"].items():
            assert held not in fold["trained_on"] and params[held] == fold["teacher_params"]


def test_report_has_every_training_set_per_normalisation():
    cell = {"uar": 0.4, "ece": 0.1}
    part = {"recipe": {"model": "linear"}, "params": {},
            **{c: {v: cell for v in balance.VARIANTS} for c in (*balance.CORPORA, "mean")}}
    text = balance.render({"command": "c", "seconds": 1.0,
                           "results": {"strict": part, "speaker_norm": part}})
    assert text.count("| 20 per class, balance_corpora | 0.400 / 0.100 |") == 2
    assert text.count("| 20 per class, balance_corpora, temperature | 0.400 / 0.100 |") == 2
    assert "The temperature against `balance_corpora` uncalibrated" in text
    assert "## speaker_norm" in text and "Cells: UAR / ECE." in text

"""The features' time and frequency resolution on LOCO (experiments/resolution_loco.py)."""

import dataclasses

import numpy as np

from .conftest import experiment

resolution_loco = experiment("resolution_loco")


def test_each_set_changes_one_field_of_the_default():
    default = dataclasses.asdict(resolution_loco.CONFIGS["librosa"])
    assert resolution_loco.CONFIGS["librosa"] == resolution_loco.FeatureConfig()
    for name, config in resolution_loco.CONFIGS.items():
        changed = {k for k, v in dataclasses.asdict(config).items() if default[k] != v}
        assert len(changed) == (0 if name == "librosa" else 1), (name, changed)


def test_the_sets_of_real_clips(ravdess_manifest, feature_cache):
    rows = ravdess_manifest.head(4)
    from ser_classic.features import extract_batch, feature_names

    X, errors, _ = extract_batch(rows["path"], sha256=rows["sha256"],
                                 config=resolution_loco.FeatureConfig(), cache_dir=feature_cache)
    assert not errors
    sets = resolution_loco.extracted(X, rows, resolution_loco.CONFIGS,
                                     cache=str(feature_cache), jobs=1)
    assert sets["librosa"][1] is X  # the default's rows are not extracted again
    assert sets["win 25 ms"][1].shape == X.shape
    assert not np.allclose(sets["win 25 ms"][1], X)
    mel64 = sets["mel 64"][1]
    assert mel64.shape[1] == len(feature_names(config=resolution_loco.CONFIGS["mel 64"]))
    assert mel64.shape[1] > X.shape[1]  # more mel bands, more mel functionals


def test_the_committed_report_renders_from_its_summary():
    import json

    from .conftest import ROOT

    out = ROOT / "reports" / "resolution_loco"
    committed = json.loads((out / "summary.json").read_text())
    assert committed["verdict"] == resolution_loco.protocol_a_verdict(committed["results"])
    assert resolution_loco.render(committed) == (out / "report.md").read_text()

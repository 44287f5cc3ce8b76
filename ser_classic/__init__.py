"""Speaker-independent speech emotion recognition with classical features."""

from ._vocabulary import Grouping, Normalization, SplitScheme
from .augment import AugmentConfig
from .data import EMOTIONS, build_manifest, load_audio, load_manifest, scan_corpus
from .errors import ArtifactError, AudioError, ParameterError
from .features import FeatureConfig, extract_batch, extract_features, feature_names
from .pipeline import (
    ABTest,
    CrossValidation,
    DistilledModel,
    Selection,
    TrainedModel,
    ab_test,
    cross_validate,
    deploy,
    distil,
    export_onnx,
    train,
)

__version__ = "0.1.0"
__all__ = [
    "EMOTIONS",
    "ABTest",
    "ArtifactError",
    "AudioError",
    "AugmentConfig",
    "CorpusAB",
    "CrossValidation",
    "DistilledModel",
    "FeatureConfig",
    "Grouping",
    "Normalization",
    "ParameterError",
    "Selection",
    "SplitScheme",
    "TemperatureScaled",
    "TrainedModel",
    "__version__",
    "ab_test",
    "apply_temperature",
    "build_manifest",
    "corpus_ab",
    "cross_validate",
    "deploy",
    "distil",
    "export_onnx",
    "extract_batch",
    "extract_features",
    "feature_names",
    "fit_temperature",
    "load",
    "load_audio",
    "load_manifest",
    "scan_corpus",
    "train",
]


# ser_classic.calibration imports scikit-learn: its names load on first use
_LAZY = {"TemperatureScaled": "calibration", "apply_temperature": "calibration",
         "fit_temperature": "calibration", "CorpusAB": "deployment",
         "corpus_ab": "deployment"}


def __getattr__(name: str):
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(f".{_LAZY[name]}", __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def load(model, *, backend: str | None = None, **kwargs):
    """A model directory, or a shipped model's alias (``"deployed"``), as an
    ``EmotionRecognizer`` running the backend it was evaluated with unless ``backend`` is
    given (see ``recognizer.load``; ``ser-classic models`` lists the aliases)."""
    from .recognizer import load as _load

    return _load(model, backend=backend, **kwargs)

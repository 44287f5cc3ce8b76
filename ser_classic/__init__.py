"""Speaker-independent speech emotion recognition with classical features."""

from ._vocabulary import Normalization, SplitScheme
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
    "CrossValidation",
    "DistilledModel",
    "FeatureConfig",
    "Normalization",
    "ParameterError",
    "Selection",
    "SplitScheme",
    "TrainedModel",
    "__version__",
    "ab_test",
    "build_manifest",
    "cross_validate",
    "deploy",
    "distil",
    "export_onnx",
    "extract_batch",
    "extract_features",
    "feature_names",
    "load",
    "load_audio",
    "load_manifest",
    "scan_corpus",
    "train",
]


def load(model, *, backend: str | None = None, **kwargs):
    """A model directory, or a shipped model's alias (``"deployed"``), as an
    ``EmotionRecognizer`` running the backend it was evaluated with unless ``backend`` is
    given (see ``recognizer.load``; ``ser-classic models`` lists the aliases)."""
    from .recognizer import load as _load

    return _load(model, backend=backend, **kwargs)

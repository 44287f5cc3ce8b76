"""Speaker-independent speech emotion recognition with classical features."""

from .augment import AugmentConfig
from .data import EMOTIONS, build_manifest, load_audio, load_manifest, scan_corpus
from .errors import ArtifactError, AudioError, ParameterError
from .features import FeatureConfig, extract_batch, extract_features, feature_names

__version__ = "0.1.0"
__all__ = [
    "EMOTIONS",
    "ArtifactError",
    "AudioError",
    "AugmentConfig",
    "FeatureConfig",
    "ParameterError",
    "__version__",
    "build_manifest",
    "extract_batch",
    "extract_features",
    "feature_names",
    "load",
    "load_audio",
    "load_manifest",
    "scan_corpus",
]


def load(path, *, backend: str = "sklearn", **kwargs):
    """A trained model directory as an ``EmotionRecognizer`` (see ``recognizer.load``)."""
    from .recognizer import load as _load

    return _load(path, backend=backend, **kwargs)

"""A differentiable emotion discriminator in PyTorch (``pip install ser_classic[torch]``).

:class:`EmotionDiscriminator` maps waveforms to log-probabilities over a stored model's
classes through the same preprocessing, descriptors, functionals, speaker normalisation
and classifier as the numpy/ONNX path, written as torch operations so that gradients
reach the waveform; :class:`DiscriminatorLoss` / :func:`emotion_loss` turn them into
``-log p(target)`` or ``1 - p(target)``. Pure functions live in
:mod:`ser_classic.torch.functional` (torchaudio style).
"""

from . import functional
from ._modules import DiscriminatorLoss, EmotionDiscriminator, emotion_loss

__all__ = ["DiscriminatorLoss", "EmotionDiscriminator", "emotion_loss", "functional"]

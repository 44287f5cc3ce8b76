"""The exceptions of ser_classic."""

import functools

__all__ = ["ArtifactError", "AudioError", "ParameterError"]


class ParameterError(ValueError):
    """A function or estimator got an invalid parameter value."""


class AudioError(ValueError):
    """An audio file or waveform cannot be used; the message names the file and the problem."""

    def __init__(self, source: object, problem: str) -> None:
        self.source = str(source)
        self.problem = problem
        super().__init__(f"{self.source}: {problem}")


class ArtifactError(ParameterError):
    """A model directory cannot be used; the message names the file, the card field (when
    one is at fault) and the problem."""

    def __init__(self, path: object, problem: str, *, field: str | None = None) -> None:
        self.path = str(path)
        self.field = field
        self.problem = problem
        where = self.path if field is None else f"{self.path}: field {field!r}"
        super().__init__(f"{where}: {problem}")

    def __reduce__(self):
        return functools.partial(type(self), field=self.field), (self.path, self.problem)
